// parley-micro-bench: the cost of the protocol core next to the raw Botan
// primitive it is built on, measured in the same binary, printed as a ratio.
//
//   seal/<suite>/<bytes>        RecordSealer::seal of one app record
//   botan_seal/<suite>/<bytes>  the bare AEAD_Mode (or CTR-BE(IDEA) + HMAC) on the same bytes
//   open/..., botan_open/...    the same for the receiving side
//   handshake/server            server CPU per handshake (ClientHello + finished)
//   botan_sign/rsa3072          one PK_Signer EMSA4(SHA-256,MGF1,32) signature
#include <benchmark/benchmark.h>
#include <botan/aead.h>
#include <botan/mac.h>
#include <botan/pubkey.h>
#include <botan/stream_cipher.h>
#include <botan/system_rng.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <string>

#include "parley/client_handshake.hpp"
#include "parley/frame.hpp"
#include "parley/record.hpp"
#include "parley/server_handshake.hpp"

namespace {

using namespace parley;

constexpr std::size_t kSizes[] = {64, 1024, 16384};

Secret fixed_secret() {
  return Secret(32, 0x33);
}

void seal_parley(benchmark::State& state, const SuiteInfo* suite, std::size_t size) {
  RecordSealer sealer(*suite, fixed_secret());
  const Bytes data(size, 'x');
  Bytes out;
  out.reserve(sealer.frame_size(size) * 2);
  for (auto _ : state) {
    out.clear();
    sealer.seal(ContentType::app, data, out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * size));
}

void open_parley(benchmark::State& state, const SuiteInfo* suite, std::size_t size) {
  // Opening needs records in sequence: seal a batch untimed, open it timed.
  constexpr std::size_t kBatch = 512;
  const Bytes data(size, 'x');
  std::vector<Bytes> frames;
  auto refill = [&](std::optional<RecordOpener>& opener) {
    RecordSealer sealer(*suite, fixed_secret());
    sealer.set_volume_limits(UINT64_MAX, UINT64_MAX);
    frames.clear();
    Bytes first;
    sealer.seal(ContentType::finished, Bytes(32, 1), first);
    for (std::size_t i = 0; i < kBatch; ++i) {
      Bytes f;
      sealer.seal(ContentType::app, data, f);
      frames.push_back(std::move(f));
    }
    opener.emplace(Direction::client_to_server, *suite, fixed_secret());
    opener->open(ByteView(first).subspan(kFrameHeaderSize));
  };
  std::optional<RecordOpener> opener;
  refill(opener);
  std::size_t next = 0;
  for (auto _ : state) {
    if (next == kBatch) {
      state.PauseTiming();
      refill(opener);
      next = 0;
      state.ResumeTiming();
    }
    auto r = opener->open(ByteView(frames[next++]).subspan(kFrameHeaderSize));
    benchmark::DoNotOptimize(r);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * size));
}

// The bare primitives, keyed once, one message per iteration, same sizes.
struct RawAead {
  std::unique_ptr<Botan::AEAD_Mode> mode;
  RawAead(const SuiteInfo& suite, Botan::Cipher_Dir dir) {
    mode = Botan::AEAD_Mode::create_or_throw(
        suite.id == SuiteId::aes_256_gcm ? "AES-256/GCM" : "ChaCha20Poly1305", dir);
    mode->set_key(Secret(32, 0x44));
  }
};

struct RawIdea {
  std::unique_ptr<Botan::StreamCipher> ctr = Botan::StreamCipher::create_or_throw("CTR-BE(IDEA)");
  std::unique_ptr<Botan::MessageAuthenticationCode> mac =
      Botan::MessageAuthenticationCode::create_or_throw("HMAC(SHA-256)");
  RawIdea() {
    ctr->set_key(Secret(16, 0x44));
    mac->set_key(Secret(32, 0x55));
  }
};

void seal_botan(benchmark::State& state, const SuiteInfo* suite, std::size_t size) {
  const std::uint8_t nonce[12] = {};
  const std::uint8_t header[4] = {};
  Botan::secure_vector<std::uint8_t> buf;
  if (suite->aead) {
    RawAead aead(*suite, Botan::ENCRYPTION);
    for (auto _ : state) {
      buf.assign(size + 1, 'x');
      aead.mode->set_associated_data(header, 4);
      aead.mode->start(nonce, 12);
      aead.mode->finish(buf);
      benchmark::DoNotOptimize(buf.data());
    }
  } else {
    RawIdea idea;
    auto& ctr = idea.ctr;
    auto& mac = idea.mac;
    std::uint8_t tag[32];
    for (auto _ : state) {
      buf.assign(size + 1, 'x');
      ctr->set_iv(nonce, 8);
      ctr->cipher1(buf.data(), buf.size());
      mac->update(header, 4);
      mac->update(nonce, 8);
      mac->update(buf.data(), buf.size());
      mac->final(tag);
      benchmark::DoNotOptimize(tag);
    }
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * size));
}

void open_botan(benchmark::State& state, const SuiteInfo* suite, std::size_t size) {
  const std::uint8_t nonce[12] = {};
  const std::uint8_t header[4] = {};
  Botan::secure_vector<std::uint8_t> buf;
  if (suite->aead) {
    RawAead enc(*suite, Botan::ENCRYPTION), dec(*suite, Botan::DECRYPTION);
    Botan::secure_vector<std::uint8_t> sealed(size + 1, 'x');
    enc.mode->set_associated_data(header, 4);
    enc.mode->start(nonce, 12);
    enc.mode->finish(sealed);
    for (auto _ : state) {
      buf = sealed;
      dec.mode->set_associated_data(header, 4);
      dec.mode->start(nonce, 12);
      dec.mode->finish(buf);
      benchmark::DoNotOptimize(buf.data());
    }
  } else {
    RawIdea idea;
    auto& ctr = idea.ctr;
    auto& mac = idea.mac;
    const Botan::secure_vector<std::uint8_t> sealed(size + 1 + 32, 'x');
    std::uint8_t tag[32];
    for (auto _ : state) {
      mac->update(header, 4);
      mac->update(nonce, 8);
      mac->update(sealed.data(), size + 1);
      mac->final(tag);
      benchmark::DoNotOptimize(tag);
      buf.assign(sealed.begin(), sealed.begin() + static_cast<std::ptrdiff_t>(size + 1));
      ctr->set_iv(nonce, 8);
      ctr->cipher1(buf.data(), buf.size());
      benchmark::DoNotOptimize(buf.data());
    }
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * size));
}

struct Keys {
  Botan::System_RNG rng;
  ServerIdentity identity{std::make_unique<Botan::RSA_PrivateKey>(rng, 3072), rng};
  // Bench-only shortcut: one transport key, copied per handshake. The real
  // client makes a fresh key for every connection.
  Botan::RSA_PrivateKey transport{rng, 2048};
};

Keys& keys() {
  static Keys k;
  return k;
}

std::unique_ptr<Botan::RSA_PrivateKey> transport_copy() {
  const auto& t = keys().transport;
  return std::make_unique<Botan::RSA_PrivateKey>(t.get_p(), t.get_q(), t.get_e(), t.get_d(),
                                                 t.get_n());
}

// Server CPU only: the client's work happens outside the timed sections.
void handshake_server(benchmark::State& state) {
  ServerPolicy policy;
  policy.suites = {SuiteId::aes_256_gcm};
  ClientOptions options;
  options.pinned_fingerprint = keys().identity.fingerprint();
  using clock = std::chrono::steady_clock;
  for (auto _ : state) {
    ClientHandshake client(transport_copy(), options, keys().rng);
    ServerHandshake server(keys().identity, policy, keys().rng);
    FrameDecoder to_server(kHandshakeMaxFrame), to_client(kHandshakeMaxFrame);
    to_server.feed(client.start());

    const auto t0 = clock::now();
    auto sh = server.on_frame(*to_server.next());
    const auto t1 = clock::now();
    to_client.feed(sh.send);
    auto fin = client.on_frame(*to_client.next());
    to_server.feed(fin.send);
    const auto t2 = clock::now();
    auto done = server.on_frame(*to_server.next());
    const auto t3 = clock::now();
    if (!done.established) state.SkipWithError("handshake failed");
    state.SetIterationTime(std::chrono::duration<double>((t1 - t0) + (t3 - t2)).count());
  }
}

void sign_botan(benchmark::State& state) {
  Botan::PK_Signer signer(keys().identity.key(), keys().rng, kPssPadding);
  const Bytes input(27 + 32, 0x11);
  for (auto _ : state) {
    auto sig = signer.sign_message(input.data(), input.size(), keys().rng);
    benchmark::DoNotOptimize(sig.data());
  }
}

// Prints each parley/X beside its botan_X as a ratio after the usual table.
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const auto& run : runs)
      if (run.run_type == Run::RT_Iteration && !run.error_occurred)
        ns_[run.benchmark_name()] = run.GetAdjustedRealTime();
  }
  void Finalize() override {
    ConsoleReporter::Finalize();
    std::printf("\n%-36s %12s %12s %7s\n", "operation", "parley", "botan", "ratio");
    for (const auto& [name, t] : ns_) {
      std::string base = name.substr(0, name.find("/manual_time"));
      std::string raw;
      if (base.rfind("seal/", 0) == 0 || base.rfind("open/", 0) == 0) raw = "botan_" + base;
      if (base == "handshake/server") raw = "botan_sign/rsa3072";
      if (raw.empty() || !ns_.count(raw)) continue;
      std::printf("%-36s %10.0fns %10.0fns %7.2f\n", base.c_str(), t, ns_[raw], t / ns_[raw]);
    }
  }

 private:
  std::map<std::string, double> ns_;
};

}  // namespace

int main(int argc, char** argv) {
  for (const auto& s : parley::all_suites()) {
    const std::string name(s.name);
    for (std::size_t size : kSizes) {
      const std::string tail = name + "/" + std::to_string(size);
      benchmark::RegisterBenchmark(("seal/" + tail).c_str(), seal_parley, &s, size);
      benchmark::RegisterBenchmark(("botan_seal/" + tail).c_str(), seal_botan, &s, size);
      benchmark::RegisterBenchmark(("open/" + tail).c_str(), open_parley, &s, size);
      benchmark::RegisterBenchmark(("botan_open/" + tail).c_str(), open_botan, &s, size);
    }
  }
  benchmark::RegisterBenchmark("handshake/server", handshake_server)->UseManualTime();
  benchmark::RegisterBenchmark("botan_sign/rsa3072", sign_botan);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  return 0;
}
