// parleyctl(8): one request to parleyd's admin socket, one reply, printed as a table (or as the
// server's JSON with --json), and an exit status that says how it went (ctl_output.hpp).
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <CLI/CLI.hpp>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <variant>

#include "ctl_output.hpp"
#include "parley/file_io.hpp"

namespace {

using parley::server::ControlRequest;
using parley::server::ControlVerb;
namespace ctl = parley::ctl;

// Where parleyd's unit puts it (RuntimeDirectory=parleyd): the daemon's default under systemd.
constexpr const char* kDefaultSocket = "/run/parleyd/control.sock";
// A reply lists every session: allow a large one, not an unbounded one.
constexpr std::size_t kMaxReplyBytes = 64 * 1024 * 1024;
constexpr int kTimeoutSeconds = 10;

struct Failure {
  int status;
  std::string message;
};

// Connects, sends the line, reads the reply line; or the failure with its exit status.
std::variant<std::string, Failure> ask_server(const std::string& path, const std::string& line) {
  sockaddr_un addr{};
  if (path.size() >= sizeof addr.sun_path)
    return Failure{ctl::kExitUsage, "socket path too long: " + path};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.data(), path.size());
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Failure{ctl::kExitNoServer, std::string("socket: ") + std::strerror(errno)};
  timeval timeout{kTimeoutSeconds, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  auto fail = [fd](int status, std::string message) {
    ::close(fd);
    return Failure{status, std::move(message)};
  };
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    const int e = errno;
    const int status = (e == EACCES || e == EPERM) ? ctl::kExitForbidden : ctl::kExitNoServer;
    return fail(status, "cannot connect to " + path + ": " + std::strerror(e) +
                            (status == ctl::kExitNoServer ? " (is parleyd running, with a "
                                                            "control socket configured?)"
                                                          : " (root or the server's user only)"));
  }
  // A server that refuses the caller answers without reading the request, and may have closed
  // before it was all written: its reply is still there to read.
  const int write_error = parley::write_all(fd, line);
  std::string reply;
  char buf[65536];
  while (reply.find('\n') == std::string::npos) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && write_error != 0) break;
    if (n < 0)
      return fail(ctl::kExitNoServer, std::string("reading the reply: ") + std::strerror(errno));
    if (n == 0) break;
    reply.append(buf, static_cast<std::size_t>(n));
    if (reply.size() > kMaxReplyBytes) return fail(ctl::kExitNoServer, "reply too long");
  }
  ::close(fd);
  if (reply.find('\n') == std::string::npos)
    return Failure{ctl::kExitNoServer,
                   write_error != 0
                       ? std::string("sending the request: ") + std::strerror(write_error)
                       : std::string("the server closed without a reply")};
  reply.resize(reply.find('\n'));
  return reply;
}

}  // namespace

int main(int argc, char** argv) {
  // A server that closes first is an error to report, not a reason to die.
  std::signal(SIGPIPE, SIG_IGN);
  CLI::App app{"parleyctl: look inside and steer a running parleyd"};
  std::string socket_path = kDefaultSocket;
  bool json = false;
  app.add_option("-s,--socket", socket_path, "the admin socket")->capture_default_str();
  app.add_flag("--json", json, "print the server's JSON reply (one line) instead of a table");
  app.set_version_flag("--version", "parleyctl 0.1.0");
  app.require_subcommand(1, 1);
  app.footer(
      "Exit status: 0 ok, 1 the server refused or failed, 2 usage, 3 no server (or no reply), "
      "4 permission denied. See parleyctl(8).");

  ControlRequest request;
  std::string reason, duration, room;
  auto* status = app.add_subcommand("status", "the server's state and counters");
  auto* sessions = app.add_subcommand("sessions", "the established sessions");
  auto* kick = app.add_subcommand("kick", "close a session (code 12, kicked)");
  kick->add_option("nick", request.nick, "the session's nick")->required();
  kick->add_option("reason", reason, "told to the client in the close record");
  auto* ban = app.add_subcommand("ban", "refuse an address or an identity key");
  ban->add_option("target", request.target, "an IP address or a SHA256: fingerprint")->required();
  ban->add_option("duration", duration, "90s, 15m, 12h, 7d, 2w (default: until unbanned)");
  auto* unban = app.add_subcommand("unban", "lift a ban");
  unban->add_option("target", request.target, "as it was banned")->required();
  auto* bans = app.add_subcommand("bans", "the bans in force");
  auto* notice = app.add_subcommand("notice", "words from the operator to every client");
  notice->add_option("--room", room, "only the members of this room");
  notice->add_option("text", request.text, "the notice")->required();
  auto* drain = app.add_subcommand("drain", "stop accepting, goaway to everyone, then exit");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? ctl::kExitOk : ctl::kExitUsage;
  }

  const std::pair<CLI::App*, ControlVerb> verbs[] = {
      {status, ControlVerb::status}, {sessions, ControlVerb::sessions}, {kick, ControlVerb::kick},
      {ban, ControlVerb::ban},       {unban, ControlVerb::unban},       {bans, ControlVerb::bans},
      {notice, ControlVerb::notice}, {drain, ControlVerb::drain}};
  for (const auto& [sub, verb] : verbs)
    if (sub->parsed()) request.verb = verb;
  if (kick->count("reason") != 0) request.reason = reason;
  if (ban->count("duration") != 0) request.duration = duration;
  if (notice->count("--room") != 0) request.room = room;

  auto result = ask_server(socket_path, parley::server::serialize_control_request(request));
  if (auto* failure = std::get_if<Failure>(&result)) {
    std::fprintf(stderr, "parleyctl: %s\n", ctl::printable(failure->message).c_str());
    return failure->status;
  }
  const std::string& line = std::get<std::string>(result);
  const auto reply = nlohmann::json::parse(line, nullptr, false);
  if (reply.is_discarded() || !reply.is_object()) {
    std::fprintf(stderr, "parleyctl: the server's reply is not a JSON object\n");
    return ctl::kExitNoServer;
  }
  const int exit_status = ctl::exit_status(reply);
  if (json) {
    std::printf("%s\n",
                reply.dump(-1, ' ', true, nlohmann::json::error_handler_t::replace).c_str());
  } else {
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    const std::string text = ctl::render(request.verb, reply, now);
    std::fputs(text.c_str(), exit_status == ctl::kExitOk ? stdout : stderr);
  }
  return exit_status;
}
