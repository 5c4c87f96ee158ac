// parley: the console client. Interactive on a terminal, scriptable in a pipe.
#include <sys/stat.h>
#include <unistd.h>

#include <botan/auto_rng.h>
#include <CLI/CLI.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <clocale>
#include <csignal>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "address.hpp"
#include "commands.hpp"
#include "exit_codes.hpp"
#include "host_trust.hpp"
#include "interactive.hpp"
#include "known_hosts.hpp"
#include "open_session.hpp"
#include "parley/key_file.hpp"
#include "parley/names.hpp"
#include "parley/rsa_key.hpp"
#include "parley/suite.hpp"
#include "sanitize.hpp"
#include "scripted.hpp"

namespace {

namespace asio = boost::asio;
using namespace parley;
using namespace parley::client;

constexpr const char* kVersion = "0.1.0";
constexpr std::size_t kDefaultIdentityBits = 3072;
// One line: the subcommands have their own --help.
constexpr const char* kUsage =
    "Usage: parley [OPTIONS] [parleys://]HOST[:PORT]  |  parley keygen|known-hosts ...\n";

// CLI11 prints the description, then its own usage line: ours comes first, and only once.
class UsageFirst : public CLI::Formatter {
 public:
  std::string make_description(const CLI::App*) const override { return {}; }
  std::string make_usage(const CLI::App* app, std::string name) const override {
    const std::string usage =
        app->get_parent() ? CLI::Formatter::make_usage(app, std::move(name)) : kUsage;
    return usage + "\n" + CLI::Formatter::make_description(app);
  }
};

struct Args {
  std::string target;
  std::optional<std::string> nick;
  std::vector<std::string> rooms;  // empty: lobby
  std::optional<std::string> to;
  bool batch = false;
  bool listen = false;
  bool raw = false;
  bool stdin_message = false;
  bool verbose = false;
  std::optional<std::string> identity;
  std::optional<std::string> known_hosts;
  bool trust_new = false;
  std::optional<std::string> fingerprint;
  std::vector<std::string> suites;
  int connect_timeout_s = 10;
  int reconnect_for_s = 300;
  std::string colour = "auto";
  bool tls = false;
  std::optional<std::string> ca;
  bool tls_insecure = false;
  // keygen
  std::string keygen_file;
  std::size_t keygen_bits = kDefaultIdentityBits;
  // known-hosts remove
  std::string remove_host;
};

constexpr const char* kNoIdentity = "none";

// The rooms of --room, without the '#' people type out of IRC habit.
std::vector<std::string> rooms_of(const Args& args) {
  if (args.rooms.empty()) return {"lobby"};
  std::vector<std::string> rooms;
  for (const auto& room : args.rooms)
    rooms.emplace_back(room_name(room));
  return rooms;
}

std::string default_identity_path() {
  const std::string dir = parley_config_dir();
  return dir.empty() ? dir : dir + "/identity.pem";
}

bool colour_wanted(const std::string& setting) {
  if (setting == "always") return true;
  if (setting == "never") return false;
  const char* no_color = std::getenv("NO_COLOR");
  const char* term = std::getenv("TERM");
  if (no_color && *no_color) return false;
  if (term && std::string_view(term) == "dumb") return false;
  return ::isatty(STDOUT_FILENO) == 1;
}

int run_keygen(const Args& args) {
  std::string path = args.keygen_file.empty() ? default_identity_path() : args.keygen_file;
  if (path.empty()) {
    std::cerr << "parley keygen: no FILE given and HOME is not set\n";
    return to_int(Exit::usage);
  }
  if (args.keygen_bits < 2048 || args.keygen_bits > kMaxRsaBits) {
    std::cerr << "parley keygen: --bits must be 2048.." << kMaxRsaBits << "\n";
    return to_int(Exit::usage);
  }
  try {
    std::cerr << "parley keygen: making a " << args.keygen_bits << "-bit RSA key...\n";
    Botan::AutoSeeded_RNG rng;
    Botan::RSA_PrivateKey key(rng, args.keygen_bits);
    write_new_identity(path, key);
    std::cout << fingerprint_of(spki_of(key)) << "  " << path << "\n";
    std::cerr << "parley keygen: saved (mode 0600). Give the fingerprint above to the server's\n"
                 "operator for its authorized_keys. ";
    if (path == default_identity_path())
      std::cerr << "parley uses this key by itself from now on (--identity none: anonymous).\n";
    else
      std::cerr << "Connect with --identity " << path << "\n";
  } catch (const std::exception& e) {
    std::cerr << "parley keygen: " << e.what() << "\n";
    return to_int(Exit::usage);
  }
  return to_int(Exit::ok);
}

// The key to sign the handshake with, like ssh's ~/.ssh/id_*: --identity FILE, else the default
// file when it exists; --identity none stays anonymous.
std::optional<std::string> identity_path(const Args& args) {
  if (args.identity) {
    if (*args.identity == kNoIdentity) return std::nullopt;
    return args.identity;
  }
  const std::string path = default_identity_path();
  std::error_code ec;
  if (!path.empty() && std::filesystem::exists(path, ec)) return path;
  return std::nullopt;
}

// `parley known-hosts list` and `parley known-hosts remove HOST[:PORT]` (ssh-keygen -R).
int run_known_hosts(const Args& args, bool remove) {
  const std::string path = args.known_hosts ? *args.known_hosts : default_known_hosts_path();
  if (path.empty()) {
    std::cerr << "parley known-hosts: no known_hosts file (HOME is not set; see --known-hosts)\n";
    return to_int(Exit::usage);
  }
  try {
    if (!remove) {
      const KnownHosts known = load_known_hosts(path);
      if (known.malformed_lines() > 0)
        std::cerr << "parley: warning: " << path << ": " << known.malformed_lines()
                  << " malformed line(s) ignored\n";
      for (const auto& entry : known.entries())
        std::cout << sanitize(entry.name) << " " << entry.fingerprint << "\n";
      return to_int(Exit::ok);
    }
    auto parsed = parse_server_address(args.remove_host);
    if (auto* error = std::get_if<std::string>(&parsed)) {
      std::cerr << "parley known-hosts: bad server address '" << sanitize(args.remove_host)
                << "': " << *error << "\n";
      return to_int(Exit::usage);
    }
    const std::string name = known_hosts_name(std::get<ServerAddress>(parsed));
    const std::vector<KnownHost> removed = remove_known_host(path, name);
    if (removed.empty())
      std::cerr << "parley known-hosts: " << sanitize(name) << " is not in " << path << "\n";
    for (const auto& entry : removed)
      std::cerr << "parley known-hosts: removed " << sanitize(name) << " " << entry.fingerprint
                << " (line " << entry.line << " of " << path << ")\n";
  } catch (const std::exception& e) {
    std::cerr << "parley known-hosts: " << e.what() << "\n";
    return to_int(Exit::usage);
  }
  return to_int(Exit::ok);
}

// Everything that can be checked before touching the network; throws ClientError(usage).
SessionOptions session_options(const Args& args) {
  auto parsed = parse_server_address(args.target);
  if (auto* error = std::get_if<std::string>(&parsed))
    throw ClientError(Exit::usage, "bad server address '" + args.target + "': " + *error);
  SessionOptions options;
  options.address = std::get<ServerAddress>(parsed);
  options.connect_timeout = std::chrono::seconds(args.connect_timeout_s);
  options.tls.enabled = args.tls || options.address.tls;
  options.tls.ca_file = args.ca;
  options.tls.insecure = args.tls_insecure;
  if (!options.tls.enabled && (args.ca || args.tls_insecure))
    throw ClientError(Exit::usage, std::string(args.ca ? "--ca" : "--tls-insecure") +
                                       " needs TLS (--tls or parleys://HOST)");
  if (args.ca && args.tls_insecure)
    throw ClientError(Exit::usage, "--ca and --tls-insecure contradict each other");
  if (!args.suites.empty()) {
    options.handshake.suites.clear();
    for (const auto& name : args.suites) {
      const SuiteInfo* suite = find_suite(name);
      if (!suite) throw ClientError(Exit::usage, "unknown suite '" + name + "'");
      options.handshake.suites.push_back(suite->id);
    }
  }
  if (const auto identity = identity_path(args)) {
    if (too_open(*identity))
      throw ClientError(Exit::usage, "identity key " + *identity +
                                         " is readable by others; chmod 600 it first" +
                                         (args.identity ? "" : " (or --identity none)"));
    try {
      options.handshake.identity = load_identity(*identity);
    } catch (const std::exception& e) {
      throw ClientError(Exit::usage, e.what());
    }
  }
  return options;
}

void check_names(const Args& args) {
  const auto check = [](const std::optional<std::string>& name, const char* option) {
    if (name && !is_valid_name(*name))
      throw ClientError(Exit::usage, std::string(option) + " '" + *name +
                                         "' is not a valid name (1 to 32 of A-Z a-z 0-9 _ . -)");
  };
  check(args.nick, "--nick");
  for (const auto& room : rooms_of(args))
    check(room, "--room");
  check(args.to, "--to");
  if (args.fingerprint && !is_fingerprint(*args.fingerprint))
    throw ClientError(Exit::usage, "--fingerprint '" + *args.fingerprint +
                                       "' is not a fingerprint (SHA256: and 43 base64 characters)");
  if (args.listen && (args.batch || args.to || args.stdin_message))
    throw ClientError(Exit::usage,
                      "--listen does not combine with --batch, --to or --stdin-message");
  if (args.raw && !args.listen) throw ClientError(Exit::usage, "--raw is for --listen");
}

enum class Mode { interactive, pipe, listen };

asio::awaitable<Exit> run_client(Args args, Mode mode, asio::thread_pool& key_pool) {
  const SessionOptions options = session_options(args);
  TrustPolicy policy;
  policy.pinned = args.fingerprint;
  policy.trust_new = args.trust_new;
  policy.can_ask = mode != Mode::pipe && ::isatty(STDIN_FILENO) && ::isatty(STDERR_FILENO);
  KnownHostsTrust trust(args.known_hosts ? *args.known_hosts : default_known_hosts_path(),
                        options.address, policy);

  const bool chatty = mode == Mode::interactive || args.verbose;
  Progress progress;
  if (chatty) progress = [](const std::string& text) { std::cerr << "parley: " << text << "\n"; };
  if (chatty && options.handshake.identity)
    progress("signing in with the key " + fingerprint_of(spki_of(*options.handshake.identity)) +
             " (" + *identity_path(args) + ")");
  std::shared_ptr<Connection> connection =
      co_await open_session(options, trust, key_pool, progress);
  if (chatty) {
    // The welcome's fields are whatever the server chose to write.
    const evt::Welcome& w = connection->welcome();
    std::cerr << "parley: connected to " << known_hosts_name(options.address) << " ("
              << sanitize(w.server) << ", " << sanitize(w.suite) << "), server key "
              << sanitize(connection->server_fingerprint())
              << "; "
              // The nick asked for is only ours once the server acknowledges it.
              << (args.nick ? "asking for the nick " + *args.nick : "you are " + sanitize(w.nick))
              << "\n";
  }
  switch (mode) {
    case Mode::interactive: {
      InteractiveOptions interactive;
      interactive.nick = args.nick;
      interactive.rooms = rooms_of(args);
      interactive.colour = colour_wanted(args.colour);
      interactive.has_identity = options.handshake.identity != nullptr;
      interactive.reconnect_for = std::chrono::seconds(args.reconnect_for_s);
      interactive.reconnect = [&](const Progress& report) {
        return open_session(options, trust, key_pool, report);
      };
      if (chatty) std::cerr << "parley: type /help for commands, Ctrl-D or /quit to leave\n";
      co_return co_await run_interactive(connection, interactive);
    }
    case Mode::pipe: {
      ScriptOptions script;
      script.nick = args.nick;
      script.rooms = rooms_of(args);
      script.to = args.to;
      script.whole_input = args.stdin_message;
      script.has_identity = options.handshake.identity != nullptr;
      script.reconnect_for = std::chrono::seconds(args.reconnect_for_s);
      script.reconnect = [&](const Progress& report) {
        return open_session(options, trust, key_pool, report);
      };
      co_return co_await run_pipe(connection, script, STDIN_FILENO);
    }
    case Mode::listen: {
      ScriptOptions script;
      script.nick = args.nick;
      script.rooms = rooms_of(args);
      script.raw = args.raw;
      script.has_identity = options.handshake.identity != nullptr;
      script.reconnect_for = std::chrono::seconds(args.reconnect_for_s);
      script.reconnect = [&](const Progress& report) {
        return open_session(options, trust, key_pool, report);
      };
      co_return co_await run_listen(connection, script);
    }
  }
  co_return Exit::failure;
}

int run(const Args& args) {
  check_names(args);
  const bool terminal = ::isatty(STDIN_FILENO) && ::isatty(STDOUT_FILENO);
  const Mode mode = args.listen                                       ? Mode::listen
                    : (args.batch || args.stdin_message || !terminal) ? Mode::pipe
                                                                      : Mode::interactive;
  if (mode == Mode::pipe && args.rooms.size() > 1)
    throw ClientError(Exit::usage, "several --room are for --listen and interactive use");
  if (mode == Mode::interactive && args.to)
    throw ClientError(Exit::usage, "--to is for pipe mode (use /msg NICK TEXT interactively)");

  asio::io_context io(1);
  asio::thread_pool key_pool(1);  // the only other thread: RSA key generation
  std::optional<Exit> result;
  std::exception_ptr failure;
  asio::co_spawn(io, run_client(args, mode, key_pool), [&](std::exception_ptr e, Exit code) {
    failure = e;
    result = code;
  });
  io.run();
  key_pool.join();
  if (failure) std::rethrow_exception(failure);
  return to_int(result.value_or(Exit::failure));
}

}  // namespace

int main(int argc, char** argv) {
  std::setlocale(LC_CTYPE, "");   // libedit edits UTF-8 lines in a UTF-8 locale
  std::signal(SIGPIPE, SIG_IGN);  // a closed stdout is an error to report, not a death

  Args args;
  CLI::App app{
      "The console client for parleyd, an encrypted chat server. Interactive on a\n"
      "terminal; in a pipe (or with --batch) each input line is said to the room;\n"
      "--listen prints messages, directs and presence as one JSON object per line.",
      "parley"};
  app.formatter(std::make_shared<UsageFirst>());
  app.footer(std::string(kExitCodeHelp) +
             "\nFiles (in $XDG_CONFIG_HOME/parley, default ~/.config/parley): known_hosts,\n"
             "identity.pem (used when present, as ssh uses ~/.ssh/id_*)");
  app.set_version_flag("--version", kVersion);
  app.add_option("target", args.target,
                 "server: HOST, HOST:PORT, [IPV6]:PORT, parleys://HOST[:PORT] (TLS)");
  app.add_option("--nick", args.nick, "nick to take after connecting");
  app.add_option("--room", args.rooms,
                 "room joined on connect (default lobby; repeat for several, not in pipe mode)")
      ->allow_extra_args(false);
  app.add_option("--to", args.to, "pipe mode: send each line to NICK directly");
  app.add_flag("--batch", args.batch, "pipe mode even when stdin is a terminal");
  app.add_flag("--listen", args.listen,
               "print messages, directs and presence as JSON lines, then how the session ended");
  app.add_flag("--raw", args.raw, "--listen: print every event, ping, pong and ack included");
  app.add_flag("--stdin-message", args.stdin_message,
               "send all of stdin as one message (to --room, or --to NICK)");
  app.add_option("--identity", args.identity,
                 "sign in with this key (default: identity.pem when present; none: anonymous)");
  app.add_option("--known-hosts", args.known_hosts, "known_hosts file to use");
  app.add_flag("--trust-new", args.trust_new, "accept and record an unknown server key");
  app.add_option("--fingerprint", args.fingerprint,
                 "accept only this server key (SHA256:...), even over a changed one");
  // One value per --suite, so the server address may follow it.
  app.add_option("--suite", args.suites, "offer only these suites (repeatable)")
      ->allow_extra_args(false);
  app.add_option("--connect-timeout", args.connect_timeout_s,
                 "seconds to connect and complete the handshake (default 10)")
      ->check(CLI::Range(1, 600));
  app.add_option("--colour", args.colour,
                 "auto (default: on a terminal unless NO_COLOR is set), always or never")
      ->check(CLI::IsMember({"auto", "always", "never"}));
  // Settings a daily user would otherwise type every time, as ~/.ssh/config holds them for ssh:
  // one "option = value" per line, named like the long options (parley(1), FILES).
  const std::string config_dir = parley_config_dir();
  app.set_config("--config", config_dir.empty() ? std::string() : config_dir + "/config",
                 "settings file (default $XDG_CONFIG_HOME/parley/config, if it exists)");
  app.allow_config_extras(false);  // a misspelt setting is an error, not silently nothing
  app.add_option("--reconnect-for", args.reconnect_for_s,
                 "seconds to keep trying to come back after a lost session (default 300, 0: "
                 "never)")
      ->check(CLI::Range(0, 86400));
  app.add_flag("-v,--verbose", args.verbose, "progress on stderr in pipe and listen modes");
  app.add_flag("--tls", args.tls,
               "connect over TLS (as parleys://HOST); the server key is still checked");
  app.add_option("--ca", args.ca, "TLS: trust this CA (PEM) instead of the system's store");
  app.add_flag("--tls-insecure", args.tls_insecure,
               "TLS: do not check the certificate at all (warned on every connect)");

  CLI::App* keygen = app.add_subcommand("keygen", "make a long-term identity key (mode 0600)");
  keygen->add_option("file", args.keygen_file,
                     "where (default $XDG_CONFIG_HOME/parley/identity.pem)");
  keygen->add_option("--bits", args.keygen_bits, "RSA key size (default 3072)");
  keygen->footer("");

  CLI::App* known_hosts =
      app.add_subcommand("known-hosts", "list or remove recorded server keys (ssh-keygen -R)");
  known_hosts->require_subcommand(1);
  known_hosts->footer("");
  known_hosts->fallthrough();  // --known-hosts FILE may follow the subcommand
  CLI::App* list_hosts = known_hosts->add_subcommand("list", "print every recorded server key");
  list_hosts->fallthrough();
  CLI::App* remove_host =
      known_hosts->add_subcommand("remove", "forget the key of HOST[:PORT] (default port 7777)");
  remove_host->fallthrough();
  remove_host->add_option("host", args.remove_host, "the server, as given to parley")->required();

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "parley: " << e.what() << "\nTry 'parley --help'.\n";
    return to_int(Exit::usage);
  }
  if (keygen->parsed()) return run_keygen(args);
  if (known_hosts->parsed()) return run_known_hosts(args, remove_host->parsed());
  if (args.target.empty()) {
    std::cerr << "parley: no server given\n" << kUsage << "Try 'parley --help'.\n";
    return to_int(Exit::usage);
  }
  // Failures may quote the server (a close reason, a refused request's id), so the last word is
  // sanitized like every other line that reaches the terminal.
  try {
    return run(args);
  } catch (const ClientError& e) {
    std::cerr << "parley: " << sanitize(e.what()) << "\n";
    return to_int(e.code());
  } catch (const std::exception& e) {
    std::cerr << "parley: " << sanitize(e.what()) << "\n";
    return to_int(Exit::failure);
  }
}
