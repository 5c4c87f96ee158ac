#include "daemon.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <botan/system_rng.h>
#include <CLI/CLI.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "cluster_member.hpp"
#include "directory_over_nats.hpp"
#include "parley/config.hpp"
#include "parley/key_file.hpp"
#include "parley/rsa_key.hpp"
#include "rooms_over_nats.hpp"
#include "sd_notify.hpp"
#include "server.hpp"
#include "tls_context.hpp"

namespace parley::server {
namespace {

constexpr int kExitConfig = 78;  // EX_CONFIG
constexpr int kExitFailure = 1;

std::optional<std::string> getenv_nonempty(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return std::nullopt;
  return std::string(v);
}

std::optional<std::string> host_name() {
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) != 0 || name[0] == '\0') return std::nullopt;
  return std::string(name);
}

config::Environment environment() {
  config::Environment env;
  env.state_directory = getenv_nonempty("STATE_DIRECTORY");
  env.xdg_state_home = getenv_nonempty("XDG_STATE_HOME");
  env.home = getenv_nonempty("HOME");
  env.runtime_directory = getenv_nonempty("RUNTIME_DIRECTORY");
  // cluster.node's default (docs/cluster.md): a template unit parleyd@.service sets
  // Environment=PARLEYD_INSTANCE=%i so each instance on a host has its own stable name.
  env.host_name = host_name();
  env.instance = getenv_nonempty("PARLEYD_INSTANCE");
  return env;
}

NotifyEnvironment notify_environment() {
  return {getenv_nonempty("NOTIFY_SOCKET"), getenv_nonempty("WATCHDOG_USEC"),
          getenv_nonempty("WATCHDOG_PID")};
}

// The config file's, or the embedded default; prints errors and returns nullopt.
std::optional<config::Config> load(const std::string& path, const config::Environment& env) {
  if (path.empty()) return config::default_config(env);
  auto result = config::load_config_file(path, env);
  if (auto* errors = std::get_if<std::vector<config::ConfigError>>(&result)) {
    for (const auto& e : *errors)
      std::fprintf(stderr, "parleyd: %s: %s\n", path.c_str(), e.to_string().c_str());
    return std::nullopt;
  }
  return std::get<config::Config>(std::move(result));
}

// Each TLS listener's certificate and key, read and checked as the server will read them: a
// missing or mismatched file is a configuration error (78), found by --check-config too.
bool tls_files_ok(const config::Config& cfg, const std::string& path) {
  bool ok = true;
  for (std::size_t i = 0; i < cfg.listen.size(); ++i) {
    if (!cfg.listen[i].tls) continue;
    try {
      (void)make_tls_context(*cfg.listen[i].tls);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "parleyd: %s: listen[%zu].tls: %s\n",
                   path.empty() ? "default config" : path.c_str(), i, e.what());
      ok = false;
    }
  }
  return ok;
}

// Runs the loop for `work` before the server is on it, and returns its result (or throws its
// exception) once it is done.
template <typename T>
T run_alone(boost::asio::io_context& io, boost::asio::awaitable<T> work) {
  T result{};
  std::exception_ptr error;
  boost::asio::co_spawn(io, std::move(work), [&](std::exception_ptr e, T done) {
    error = e;
    result = std::move(done);
  });
  io.run();  // returns once `work` and all it started are done: nothing else is on the loop yet
  io.restart();
  if (error) std::rethrow_exception(error);
  return result;
}

// Joins the cluster before anything listens, running the loop only for that: a node the cluster
// refuses never accepts a client. Null when the node runs alone (cluster_unavailable logged).
std::unique_ptr<ClusterMember> join_cluster(boost::asio::io_context& io,
                                            const config::Cluster& cluster,
                                            const std::string& fingerprint,
                                            Botan::RandomNumberGenerator& rng, EventLog& log) {
  std::uint8_t id[8];
  rng.randomize(id, sizeof id);
  std::string process;
  for (std::uint8_t b : id) {
    constexpr char kHex[] = "0123456789abcdef";
    process += kHex[b >> 4];
    process += kHex[b & 0xf];
  }
  // The caller starts the entry's refresh once the rest of the set-up has run alone too.
  return run_alone(io, ClusterMember::join(io.get_executor(), cluster, fingerprint, process, log));
}

// The rooms of a joined node go through the cluster (docs/cluster.md); set up before listening.
std::unique_ptr<RoomsOverNats> start_cluster_rooms(boost::asio::io_context& io,
                                                   ClusterMember& member, Hub& hub, EventLog& log,
                                                   const config::History& history) {
  try {
    return run_alone(io, RoomsOverNats::start(member, hub, log, history));
  } catch (const ClusterError& e) {
    throw ClusterStartError(std::string("the rooms stream: ") + e.what());
  }
}

// Nicks, presence and direct messages of a joined node span the cluster too (docs/cluster.md).
std::unique_ptr<DirectoryOverNats> start_cluster_directory(boost::asio::io_context& io,
                                                           ClusterMember& member, Hub& hub) {
  try {
    return run_alone(io, DirectoryOverNats::start(member, hub));
  } catch (const ClusterError& e) {
    throw ClusterStartError(std::string("the nicks bucket: ") + e.what());
  }
}

// Sessions need a descriptor each; raise the soft limit as far as we may.
void raise_nofile_limit(EventLog& log, std::uint64_t max_clients) {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) return;
  if (lim.rlim_cur < lim.rlim_max) {
    rlimit raised = lim;
    raised.rlim_cur = lim.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) lim = raised;
  }
  // Listeners, the log, and some slack for sessions still in their handshake.
  const std::uint64_t needed = max_clients + 64;
  log.nofile_limit(lim.rlim_cur, lim.rlim_max, needed, lim.rlim_cur >= needed);
}

int run(const config::Config& cfg, const std::string& config_path, const config::Environment& env,
        const TransportFactory& make_transport) {
  Notifier notifier(notify_environment(), ::getpid());
  if (!notifier.error().empty()) std::fprintf(stderr, "parleyd: %s\n", notifier.error().c_str());
  std::unique_ptr<EventLog> log;
  try {
    log = std::make_unique<EventLog>(LogOptions{cfg.log.format, cfg.log.level, cfg.log.file});
  } catch (const std::exception& e) {
    std::fprintf(stderr, "parleyd: log: %s\n", e.what());
    notifier.status(std::string("failed to start: log: ") + e.what());
    return kExitConfig;
  }
  try {
    auto keys = load_authorized_keys(cfg);
    Botan::System_RNG rng;
    StoredIdentity stored = load_or_create_identity(cfg.identity_key, rng);
    log->identity_key(cfg.identity_key, stored.created, stored.too_open);
    ServerIdentity identity(std::move(stored.key), rng);
    raise_nofile_limit(*log, cfg.limits.max_clients);

    boost::asio::io_context io(1);
    // Declared after the loop, so destroyed (and its NATS link closed) before it.
    std::unique_ptr<ClusterMember> cluster;
    if (cfg.cluster) cluster = join_cluster(io, *cfg.cluster, identity.fingerprint(), rng, *log);
    ServerContext ctx(io.get_executor(), cfg, std::move(keys), *log, identity, rng);
    // After the context (it uses the hub), so destroyed before it; the link outlives it.
    std::unique_ptr<RoomsOverNats> cluster_rooms;
    std::unique_ptr<DirectoryOverNats> cluster_directory;
    if (cluster) {
      cluster_rooms = start_cluster_rooms(io, *cluster, ctx.hub, *log, cfg.history);
      cluster_directory = start_cluster_directory(io, *cluster, ctx.hub);
      cluster->start_refresh();
      cluster_directory->start_timers(io.get_executor());
    }
    Server srv(io, ctx, config_path, env, notifier, make_transport);
    srv.listen();
    srv.start();
    io.run();
    log->flush();
    return 0;
  } catch (const ClusterStartError& e) {
    // A start error like an unreadable key (exit 1), with its own event.
    log->cluster_refused(e.what());
    log->flush();
    std::fprintf(stderr, "parleyd: cluster: %s\n", e.what());
    notifier.status(std::string("failed to start: cluster: ") + e.what());
    return kExitFailure;
  } catch (const std::exception& e) {
    log->internal_error(std::nullopt, e.what());
    log->flush();
    std::fprintf(stderr, "parleyd: %s\n", e.what());
    notifier.status(std::string("failed: ") + e.what());
    return kExitFailure;
  }
}

}  // namespace

int daemon_main(int argc, char** argv, const TransportFactory& make_transport) {
  CLI::App app{"parleyd: the Parley encrypted chat daemon"};
  std::string config_path, check_path;
  bool print_config = false, print_fingerprint = false;
  app.add_option("-c,--config", config_path, "JSON configuration file (default: embedded)")
      ->check(CLI::ExistingFile);
  app.add_option("--check-config", check_path, "validate FILE, exit 0 or 78 (EX_CONFIG)");
  app.add_flag("--print-config", print_config, "print the effective configuration and exit");
  app.add_flag("--print-fingerprint", print_fingerprint,
               "print the identity key's SHA256: fingerprint and exit");
  app.set_version_flag("--version", "parleyd 0.1.0");
  app.footer(
      "Exit codes: 0 ok, 1 runtime failure, 2 usage, 78 bad configuration.\n"
      "Signals: SIGTERM/SIGINT stop gracefully, SIGHUP reloads the configuration.");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }

  const config::Environment env = environment();
  if (!check_path.empty()) {
    auto cfg = load(check_path, env);
    if (!cfg || !tls_files_ok(*cfg, check_path)) return kExitConfig;
    std::printf("%s: ok\n", check_path.c_str());
    return 0;
  }
  auto cfg = load(config_path, env);
  if (!cfg) return kExitConfig;
  if (print_config) {
    std::printf("%s\n", config::to_json(*cfg).c_str());
    return 0;
  }
  if (print_fingerprint) {
    try {
      auto key = load_identity(cfg->identity_key);
      std::printf("%s\n", fingerprint_of(spki_of(*key)).c_str());
      return 0;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "parleyd: %s (parleyd creates it on first start)\n", e.what());
      return kExitFailure;
    }
  }
  if (!tls_files_ok(*cfg, config_path)) return kExitConfig;
  return run(*cfg, config_path, env, make_transport);
}

}  // namespace parley::server
