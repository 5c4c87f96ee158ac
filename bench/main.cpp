// parley-bench: the load generator of bench/compare.sh (see bench/README.md).
//
//   parley-bench fanout    --system parley --port 17777 --server-pid PID [...]
//   parley-bench idle      --system mosquitto --port 18883 --clients 10000 [...]
//   parley-bench handshake --system parley --port 17777 --concurrency 8 [...]
//   parley-bench sign-rate --key identity.pem
//   parley-bench soak      --system parley --port 17777 --server-pid PID [...]
//
// One thread, one io_context. Each run prints one JSON object on stdout; progress goes to
// stderr.
#include <botan/pubkey.h>
#include <botan/system_rng.h>
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>

#include "adapter.hpp"
#include "key_pool.hpp"
#include "parley/handshake.hpp"
#include "parley/rsa_key.hpp"
#include "scenarios.hpp"

namespace {

namespace asio = boost::asio;
using namespace parley::bench;

void raise_nofile_limit() {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) return;
  if (lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &lim);
  }
}

std::uint64_t nofile_limit() {
  rlimit lim{};
  ::getrlimit(RLIMIT_NOFILE, &lim);
  return lim.rlim_cur;
}

void require_descriptors(std::size_t clients) {
  if (clients + 64 > nofile_limit())
    throw std::runtime_error("RLIMIT_NOFILE " + std::to_string(nofile_limit()) +
                             " is too low for " + std::to_string(clients) + " clients");
}

std::vector<double> parse_list(const std::string& text) {
  std::vector<double> values;
  std::stringstream list(text);
  std::string item;
  while (std::getline(list, item, ','))
    if (!item.empty()) values.push_back(std::stod(item));
  return values;
}

struct Common {
  std::string system = "parley";
  std::string host = "127.0.0.1";
  std::uint16_t port = 7777;
  pid_t server_pid = 0;
  std::string suite = "AES-256-GCM";
  std::size_t key_pool = 16;
  std::string key_cache;
  std::string fingerprint;
  std::string label;
  bool tls = false;
};

void add_common(CLI::App& app, Common& c) {
  app.add_option("--system", c.system, "parley, mosquitto, nats or ngircd")
      ->check(CLI::IsMember({"parley", "mosquitto", "nats", "ngircd"}));
  app.add_option("--host", c.host, "server address");
  app.add_option("--port", c.port, "server port");
  app.add_option("--server-pid", c.server_pid, "server process, sampled from /proc");
  app.add_option("--suite", c.suite, "Parley cipher suite the clients offer");
  app.add_option("--key-pool", c.key_pool, "Parley: pre-generated RSA-2048 transport keys");
  app.add_option("--key-cache", c.key_cache, "Parley: PEM file caching the key pool");
  app.add_option("--fingerprint", c.fingerprint, "Parley: pin the server's fingerprint");
  app.add_option("--label", c.label, "copied into the result, for the report");
  app.add_flag("--tls", c.tls, "connect over TLS (a TLS listener)");
}

// Median of `runs` runs of `seconds` each: RSA-PSS signatures per second with the server's
// own identity key, the way ServerHandshake signs (one PK_Signer, EMSA4(SHA-256,MGF1,32),
// over the 27-byte label and a 32-byte digest).
nlohmann::json sign_rate(const std::string& key_path, int runs, double seconds) {
  std::ifstream in(key_path);
  if (!in) throw std::runtime_error("cannot read " + key_path);
  std::stringstream pem;
  pem << in.rdbuf();
  const auto key = parley::rsa_private_key_from_pem(pem.str());
  Botan::System_RNG rng;
  Botan::PK_Signer signer(*key, rng, parley::kPssPadding);
  std::vector<std::uint8_t> message(parley::kServerSignatureLabel.begin(),
                                    parley::kServerSignatureLabel.end());
  message.resize(message.size() + 32, 0x5a);
  std::vector<double> rates;
  for (int r = 0; r < runs; ++r) {
    const auto start = Clock::now();
    const auto end =
        start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
    std::uint64_t n = 0;
    while (Clock::now() < end) {
      auto sig = signer.sign_message(message, rng);
      message[message.size() - 1] = sig[0];
      ++n;
    }
    rates.push_back(static_cast<double>(n) /
                    std::chrono::duration<double>(Clock::now() - start).count());
    std::cerr << "sign-rate run " << r + 1 << ": " << rates.back() << "/s" << std::endl;
  }
  std::vector<double> sorted = rates;
  std::sort(sorted.begin(), sorted.end());
  return {{"scenario", "sign-rate"},
          {"key_bits", key->key_length()},
          {"padding", parley::kPssPadding},
          {"runs", rates},
          {"median_per_s", sorted[sorted.size() / 2]}};
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"parley-bench: load generator for parleyd and its peers"};
  app.require_subcommand(1);
  Common common;

  FanoutParams fanout;
  std::string rates;
  std::string sweep;
  bool no_window = false;
  auto* fan = app.add_subcommand("fanout", "N clients in R rooms, P publishing");
  add_common(*fan, common);
  fan->add_option("--clients", fanout.clients);
  fan->add_option("--rooms", fanout.rooms);
  fan->add_option("--publishers", fanout.publishers);
  fan->add_option("--size", fanout.size, "bytes of text per message");
  fan->add_option("--window", fanout.window, "undelivered messages a publisher may have");
  fan->add_option("--rates", rates, "paced phases: published messages/s, comma separated");
  fan->add_option("--sweep", sweep,
                  "paced phases at these fractions of the window phase's rate, comma separated");
  fan->add_flag("--no-window-phase", no_window, "skip the closed-loop phase");
  fan->add_option("--warmup", fanout.warmup_s);
  fan->add_option("--duration", fanout.duration_s);
  fan->add_option("--drain", fanout.drain_s);
  fan->add_option("--read-one-in", fanout.read_one_in,
                  "while measuring, read one room message in N, count the rest unread (1: all)")
      ->check(CLI::Range(1u, 1000000u));
  fan->add_option("--connect-parallel", fanout.connect_parallel);

  IdleParams idle;
  auto* idl = app.add_subcommand("idle", "N established idle sessions");
  add_common(*idl, common);
  idl->add_option("--clients", idle.clients);
  idl->add_option("--rooms", idle.rooms);
  idl->add_option("--settle", idle.settle_s);
  idl->add_option("--connect-parallel", idle.connect_parallel);

  HandshakeParams hs;
  auto* hsc = app.add_subcommand("handshake", "connect, handshake, close, in a loop");
  add_common(*hsc, common);
  hsc->add_option("--concurrency", hs.concurrency);
  hsc->add_option("--warmup", hs.warmup_s);
  hsc->add_option("--duration", hs.duration_s);

  std::string sign_key;
  int sign_runs = 5;
  double sign_seconds = 1.0;
  auto* sign = app.add_subcommand("sign-rate", "RSA-PSS sign rate of a key (Botan PK_Signer)");
  sign->add_option("--key", sign_key, "PKCS#8 PEM (the server's identity key)")->required();
  sign->add_option("--runs", sign_runs);
  sign->add_option("--seconds", sign_seconds);

  SoakParams soak;
  auto* sk = app.add_subcommand("soak", "N clients chatting and turning over for a long time");
  add_common(*sk, common);
  sk->add_option("--clients", soak.clients)
      ->check(CLI::Range(std::size_t{1}, std::size_t{1000000}));
  sk->add_option("--rooms", soak.rooms, "client i is in room i mod rooms")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1000000}));
  sk->add_option("--size", soak.size, "bytes of text per message")
      ->check(CLI::Range(std::size_t{1}, std::size_t{4000}));
  sk->add_option("--message-interval", soak.message_interval_s,
                 "seconds between two messages of one client")
      ->check(CLI::Range(0.01, 3600.0));
  sk->add_option("--churn", soak.churn_per_s, "fraction of the clients replaced per second")
      ->check(CLI::Range(0.0, 1.0));
  sk->add_option("--duration", soak.duration_s, "seconds, from the moment every client is in")
      ->check(CLI::Range(1.0, 604800.0));
  sk->add_option("--interval", soak.interval_s, "seconds between two samples")
      ->check(CLI::Range(1.0, 86400.0));
  sk->add_option("--flat-limit", soak.flat_limit,
                 "largest (max - min) / max of RSS and descriptors over the last half")
      ->check(CLI::Range(0.0, 1.0));
  sk->add_option("--seed", soak.seed, "which clients quit");
  sk->add_option("--jsonl", soak.jsonl, "write one JSON object per sample to this file");
  sk->add_option("--connect-parallel", soak.connect_parallel)
      ->check(CLI::Range(std::size_t{1}, std::size_t{100000}));

  CLI11_PARSE(app, argc, argv);

  try {
    if (sign->parsed()) {
      std::cout << sign_rate(sign_key, sign_runs, sign_seconds).dump() << std::endl;
      return 0;
    }
    raise_nofile_limit();
    Botan::System_RNG rng;
    std::optional<KeyPool> keys;
    std::unique_ptr<System> system;
    if (common.system == "parley") {
      const auto* suite = parley::find_suite(common.suite);
      if (!suite) throw std::runtime_error("unknown suite " + common.suite);
      keys.emplace(common.key_pool, 2048, common.key_cache);
      system = make_parley_system(ParleyOptions{suite->id, &*keys, &rng, common.fingerprint});
    } else if (common.system == "mosquitto") {
      system = make_mqtt_system();
    } else if (common.system == "nats") {
      system = make_nats_system();
    } else {
      system = make_irc_system();
    }
    if (common.tls) system = make_tls_system(std::move(system));
    Target target{asio::ip::tcp::endpoint(asio::ip::make_address(common.host), common.port),
                  common.server_pid};

    fanout.rates = parse_list(rates);
    fanout.sweep = parse_list(sweep);
    fanout.window_phase = !no_window;

    asio::io_context io(1);
    nlohmann::json result;
    std::exception_ptr failure;
    auto done = [&](std::exception_ptr e, nlohmann::json j) {
      failure = e;
      result = std::move(j);
      io.stop();
    };
    if (fan->parsed()) {
      asio::co_spawn(io, run_fanout(*system, target, fanout), done);
    } else if (idl->parsed()) {
      require_descriptors(idle.clients);
      asio::co_spawn(io, run_idle(*system, target, idle), done);
    } else if (sk->parsed()) {
      if (soak.rooms > soak.clients) throw std::runtime_error("--rooms must be at most --clients");
      if (soak.interval_s > soak.duration_s)
        throw std::runtime_error("--interval must be at most --duration");
      if (target.server_pid <= 0)
        throw std::runtime_error(
            "soak needs --server-pid (it samples the server's RSS and descriptors)");
      // A quit's new client connects before the old socket is gone from the table.
      require_descriptors(soak.clients + soak.clients / 10);
      asio::co_spawn(io, run_soak(*system, target, soak), done);
    } else {
      asio::co_spawn(io, run_handshake(*system, target, hs), done);
    }
    io.run();
    if (failure) std::rethrow_exception(failure);
    result["nofile_limit"] = nofile_limit();
    if (!common.label.empty()) result["label"] = common.label;
    result["tls"] = common.tls;
    if (common.system == "parley") {
      result["suite"] = common.suite;
      result["key_pool"] = keys->size();
    }
    std::cout << result.dump() << std::endl;
    return result.contains("error") ? 1 : 0;
  } catch (const std::exception& e) {
    std::cerr << "parley-bench: " << e.what() << std::endl;
    return 1;
  }
}
