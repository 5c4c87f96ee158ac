// parley-demo: a whole Parley handshake in memory for every cipher suite,
// then one record each way. It stands in for parleyd until the server lands,
// and shows the protocol core working with real, freshly generated keys.
#include <botan/system_rng.h>

#include <chrono>
#include <cstdio>
#include <exception>

#include "parley/client_handshake.hpp"
#include "parley/frame.hpp"
#include "parley/server_handshake.hpp"

namespace {

using namespace parley;

// Delivers every whole frame in `stream` to `on_body`.
template <typename F>
void deliver(const Bytes& stream, F&& on_body) {
  FrameDecoder decoder(kHandshakeMaxFrame);
  decoder.feed(stream);
  while (auto body = decoder.next())
    on_body(*body);
  if (decoder.error() != FrameError::none) throw std::runtime_error("bad frame in demo");
}

std::string open_text(RecordOpener& opener, const Bytes& stream) {
  std::string text;
  deliver(stream, [&](ByteView body) {
    auto opened = opener.open(body);
    if (auto* e = std::get_if<RecordError>(&opened))
      throw std::runtime_error(std::string(describe(*e)));
    text += as_chars(std::get<OpenedRecord>(opened).data);
  });
  return text;
}

void run_suite(ServerIdentity& identity, const SuiteInfo& suite,
               Botan::RandomNumberGenerator& rng) {
  ServerPolicy policy;
  policy.suites = {suite.id};
  ServerHandshake server(identity, policy, rng);
  ClientOptions options;
  options.suites = {suite.id};
  options.pinned_fingerprint = identity.fingerprint();  // as `parley --fingerprint` would
  ClientHandshake client(std::make_unique<Botan::RSA_PrivateKey>(rng, 2048), options, rng);

  const auto start = std::chrono::steady_clock::now();
  std::optional<Established> client_side, server_side;
  Bytes to_server = client.start();
  for (int round = 0; round < 3 && !to_server.empty(); ++round) {
    Bytes to_client;
    deliver(to_server, [&](ByteView body) {
      auto step = server.on_frame(body);
      if (step.failure) throw std::runtime_error("server: " + step.failure->reason);
      append(to_client, step.send);
      if (step.established) server_side = std::move(step.established);
    });
    to_server.clear();
    deliver(to_client, [&](ByteView body) {
      auto step = client.on_frame(body);
      if (step.failure) throw std::runtime_error("client: " + step.failure->reason);
      append(to_server, step.send);
      if (step.established) client_side = std::move(step.established);
    });
  }
  if (!client_side || !server_side) throw std::runtime_error("handshake did not finish");
  const auto ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start);

  Bytes up, down;
  client_side->sealer.seal(ContentType::app, as_bytes(R"({"type":"ping","id":1})"), up);
  server_side->sealer.seal(ContentType::app, as_bytes(R"({"type":"pong","id":1})"), down);
  const std::string got_up = open_text(server_side->opener, up);
  const std::string got_down = open_text(client_side->opener, down);
  std::printf("  %-22s handshake %6.1f ms   c2s %s   s2c %s\n", std::string(suite.name).c_str(),
              ms.count(), got_up.c_str(), got_down.c_str());
}

}  // namespace

int main() {
  try {
    Botan::System_RNG rng;
    std::printf("parley-demo: generating a 3072-bit server identity key...\n");
    ServerIdentity identity(std::make_unique<Botan::RSA_PrivateKey>(rng, 3072), rng);
    std::printf("server fingerprint: %s\n", identity.fingerprint().c_str());
    std::printf(
        "in-memory handshake and one record each way, per suite (client key: fresh RSA-2048):\n");
    for (const auto& suite : all_suites())
      run_suite(identity, suite, rng);
    std::printf("ok\n");
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "parley-demo: %s\n", e.what());
    return 1;
  }
}
