#include "parley/handshake.hpp"

#include <botan/pubkey.h>

#include <algorithm>

namespace parley {

std::optional<ClientFinished> parse_client_finished(ByteView data) {
  Reader r(data);
  auto th = r.raw(32);
  auto identity = r.vec16();
  auto signature = r.vec16();
  if (!r.done()) return std::nullopt;
  ClientFinished out;
  std::copy(th->begin(), th->end(), out.th.begin());
  out.identity = *identity;
  out.signature = *signature;
  return out;
}

Bytes sign_transcript(const Botan::Private_Key& key, Botan::RandomNumberGenerator& rng,
                      std::string_view label, const Digest& digest) {
  Botan::PK_Signer signer(key, rng, kPssPadding);
  const ByteView l = as_bytes(label);
  signer.update(l.data(), l.size());
  signer.update(digest.data(), digest.size());
  return signer.signature(rng);
}

bool verify_transcript(const Botan::Public_Key& key, std::string_view label, const Digest& digest,
                       ByteView signature) {
  Botan::PK_Verifier verifier(key, kPssPadding);
  const ByteView l = as_bytes(label);
  verifier.update(l.data(), l.size());
  verifier.update(digest.data(), digest.size());
  return verifier.check_signature(signature.data(), signature.size());
}

Bytes encode_client_finished(const Digest& th, ByteView identity, ByteView signature) {
  Bytes out(th.begin(), th.end());
  Writer w(out);
  w.vec16(identity);
  w.vec16(signature);
  return out;
}

}  // namespace parley
