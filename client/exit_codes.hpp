// parley's exit codes (documented in `parley --help` and the README), and the exception that
// carries one from deep inside a mode to main().
#pragma once

#include <stdexcept>
#include <string>

namespace parley::client {

enum class Exit : int {
  ok = 0,
  failure = 1,        // anything unexpected (I/O error on stdout, a bug)
  usage = 2,          // bad command line, unreadable --identity or known_hosts file
  connect = 3,        // resolve, connect, or the connection was lost (EOF or reset without a
                      // close record) or broken (a bad record or event from the server)
  handshake = 4,      // handshake or authentication failed (incl. an unknown key refused, and
                      // no welcome within --connect-timeout)
  host_key = 5,       // the server's key differs from known_hosts or --fingerprint
  closed = 6,         // the server closed the session with a close record
  refused = 7,        // the server refused a request (pipe and listen modes)
  interrupted = 130,  // SIGINT/SIGTERM in pipe mode, before everything was sent
};

inline int to_int(Exit code) {
  return static_cast<int>(code);
}

class ClientError : public std::runtime_error {
 public:
  ClientError(Exit code, const std::string& what) : std::runtime_error(what), code_(code) {}
  Exit code() const { return code_; }

 private:
  Exit code_;
};

inline constexpr const char* kExitCodeHelp =
    "Exit codes:\n"
    "  0  success\n"
    "  1  unexpected failure\n"
    "  2  usage error (bad option, address or file)\n"
    "  3  connection failed or lost (resolve, connect, reset, EOF without a close)\n"
    "  4  handshake or authentication failed (incl. unknown server key not accepted,\n"
    "     no answer within --connect-timeout)\n"
    "  5  server key changed or differs from --fingerprint (not connected)\n"
    "  6  the server closed the session (its close record)\n"
    "  7  refused: by the server, or input over its message limit (pipe and listen)\n"
    "  130 interrupted (pipe mode)\n";

}  // namespace parley::client
