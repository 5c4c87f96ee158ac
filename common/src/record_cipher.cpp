#include "parley/record_cipher.hpp"

#include "parley/frame.hpp"

#include <botan/aead.h>
#include <botan/exceptn.h>
#include <botan/mac.h>
#include <botan/mem_ops.h>
#include <botan/stream_cipher.h>

#include <array>
#include <stdexcept>

namespace parley {
namespace {

// AES-256-GCM and ChaCha20-Poly1305: nonce = iv XOR (0^4 || u64 seq), aad = frame header.
class AeadCipher final : public RecordCipher {
 public:
  AeadCipher(const char* botan_name, Botan::Cipher_Dir dir, const TrafficKeys& keys)
      : mode_(Botan::AEAD_Mode::create_or_throw(botan_name, dir)) {
    mode_->set_key(keys.key);
    std::copy(keys.iv.begin(), keys.iv.end(), iv_.begin());
  }

  void seal(std::uint64_t seq, Bytes& buf, std::size_t frame_offset) override {
    start(seq, {buf.data() + frame_offset, kFrameHeaderSize});
    const std::size_t pt = frame_offset + kFrameHeaderSize;
    // Encrypt the bulk in place; only the sub-granularity tail goes through
    // Botan's secure_vector finish(), which also appends the tag.
    const std::size_t n = buf.size() - pt;
    const std::size_t bulk = n - n % mode_->update_granularity();
    if (bulk > 0) mode_->process(buf.data() + pt, bulk);
    tail_.assign(buf.begin() + static_cast<std::ptrdiff_t>(pt + bulk), buf.end());
    mode_->finish(tail_);
    buf.resize(pt + bulk);
    buf.insert(buf.end(), tail_.begin(), tail_.end());
  }

  bool open(std::uint64_t seq, ByteView header, ByteView body, Bytes& plaintext) override {
    const std::size_t tag = mode_->tag_size();
    if (body.size() < tag) return false;
    start(seq, header);
    plaintext.assign(body.begin(), body.end());
    const std::size_t n = body.size() - tag;
    const std::size_t bulk = n - n % mode_->update_granularity();
    if (bulk > 0) mode_->process(plaintext.data(), bulk);
    tail_.assign(plaintext.begin() + static_cast<std::ptrdiff_t>(bulk), plaintext.end());
    try {
      mode_->finish(tail_);
    } catch (const Botan::Invalid_Authentication_Tag&) {
      return false;
    }
    plaintext.resize(bulk);
    plaintext.insert(plaintext.end(), tail_.begin(), tail_.end());
    return true;
  }

 private:
  void start(std::uint64_t seq, ByteView header) {
    std::array<std::uint8_t, 12> nonce = iv_;
    std::array<std::uint8_t, 8> s;
    store_be64(s.data(), seq);
    for (std::size_t i = 0; i < 8; ++i)
      nonce[4 + i] ^= s[i];
    mode_->set_associated_data(header.data(), header.size());
    mode_->start(nonce.data(), nonce.size());
  }

  std::unique_ptr<Botan::AEAD_Mode> mode_;
  std::array<std::uint8_t, 12> iv_{};
  Botan::secure_vector<std::uint8_t> tail_;
};

// IDEA-CTR then HMAC-SHA256 over u32 length || u64 seq || ciphertext.
class IdeaHmacCipher final : public RecordCipher {
 public:
  explicit IdeaHmacCipher(const TrafficKeys& keys)
      : ctr_(Botan::StreamCipher::create_or_throw("CTR-BE(IDEA)")),
        hmac_(Botan::MessageAuthenticationCode::create_or_throw("HMAC(SHA-256)")) {
    ctr_->set_key(keys.key);
    hmac_->set_key(keys.mac);
    iv_ = load_be32(keys.iv.data());
  }

  void seal(std::uint64_t seq, Bytes& buf, std::size_t frame_offset) override {
    const std::size_t pt = frame_offset + kFrameHeaderSize;
    set_counter(seq);
    ctr_->cipher1(buf.data() + pt, buf.size() - pt);
    std::array<std::uint8_t, kTag> tag;
    mac(seq, {buf.data() + frame_offset, kFrameHeaderSize}, {buf.data() + pt, buf.size() - pt},
        tag);
    buf.insert(buf.end(), tag.begin(), tag.end());
  }

  bool open(std::uint64_t seq, ByteView header, ByteView body, Bytes& plaintext) override {
    if (body.size() < kTag) return false;
    const ByteView ct = body.first(body.size() - kTag);
    std::array<std::uint8_t, kTag> expected;
    mac(seq, header, ct, expected);
    if (!Botan::constant_time_compare(expected.data(), body.data() + ct.size(), kTag)) return false;
    plaintext.assign(ct.begin(), ct.end());
    set_counter(seq);
    ctr_->cipher1(plaintext.data(), plaintext.size());
    return true;
  }

 private:
  static constexpr std::size_t kTag = 32;

  void set_counter(std::uint64_t seq) {
    // counter block 0 = (iv XOR u32(seq)) || 0^4; the caller keeps seq < 2^32.
    std::array<std::uint8_t, 8> block{};
    store_be32(block.data(), iv_ ^ static_cast<std::uint32_t>(seq));
    ctr_->set_iv(block.data(), block.size());
  }

  void mac(std::uint64_t seq, ByteView header, ByteView ct, std::array<std::uint8_t, kTag>& out) {
    std::array<std::uint8_t, 8> s;
    store_be64(s.data(), seq);
    hmac_->update(header.data(), header.size());
    hmac_->update(s.data(), s.size());
    hmac_->update(ct.data(), ct.size());
    hmac_->final(out.data());
  }

  std::unique_ptr<Botan::StreamCipher> ctr_;
  std::unique_ptr<Botan::MessageAuthenticationCode> hmac_;
  std::uint32_t iv_ = 0;
};

}  // namespace

std::unique_ptr<RecordCipher> make_record_cipher(const SuiteInfo& suite, const TrafficKeys& keys,
                                                 CipherRole role) {
  const auto dir = role == CipherRole::seal ? Botan::ENCRYPTION : Botan::DECRYPTION;
  switch (suite.id) {
    case SuiteId::aes_256_gcm:
      return std::make_unique<AeadCipher>("AES-256/GCM", dir, keys);
    case SuiteId::chacha20_poly1305:
      return std::make_unique<AeadCipher>("ChaCha20Poly1305", dir, keys);
    case SuiteId::idea_ctr_hmac_sha256:
      return std::make_unique<IdeaHmacCipher>(keys);
  }
  throw std::invalid_argument("unknown suite");
}

}  // namespace parley
