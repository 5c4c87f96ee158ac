// The service manager's notification protocol (sd_notify(3)), spoken directly: one datagram of
// "KEY=value" lines to the unix socket named by $NOTIFY_SOCKET. No libsystemd, so the package
// needs nothing beyond what parleyd already links. Without $NOTIFY_SOCKET every call is a no-op.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace parley::server {

// What the service manager put in the environment; main fills it from getenv. An empty
// string counts as unset.
struct NotifyEnvironment {
  std::optional<std::string> notify_socket;  // $NOTIFY_SOCKET: "/path" or "@abstract"
  std::optional<std::string> watchdog_usec;  // $WATCHDOG_USEC
  std::optional<std::string> watchdog_pid;   // $WATCHDOG_PID
};

// The watchdog interval systemd asked for, if it asked this process: WATCHDOG_USEC a positive
// integer, and WATCHDOG_PID, when set, equal to `self` (a child started with our environment
// must not ping on our behalf).
std::optional<std::chrono::microseconds> watchdog_interval(const NotifyEnvironment& env,
                                                           pid_t self);

// CLOCK_MONOTONIC in microseconds, as MONOTONIC_USEC= wants it next to RELOADING=1.
std::uint64_t monotonic_usec();

class Notifier {
 public:
  // Opens a non-blocking datagram socket when env names a usable NOTIFY_SOCKET ("/..." or
  // "@..."); anything else leaves the notifier disabled (and says why in error()).
  Notifier(const NotifyEnvironment& env, pid_t self);
  ~Notifier();
  Notifier(const Notifier&) = delete;
  Notifier& operator=(const Notifier&) = delete;

  bool enabled() const { return fd_ >= 0; }
  // Why the notifier is disabled although NOTIFY_SOCKET was set; empty otherwise.
  const std::string& error() const { return error_; }
  std::optional<std::chrono::microseconds> watchdog() const { return watchdog_; }

  // Sends `state` ("READY=1\nSTATUS=...") as one datagram. Never blocks (MSG_DONTWAIT): a
  // manager that does not keep up loses a notification rather than stalling the event loop.
  // False if it could not be sent (or the notifier is disabled).
  bool notify(std::string_view state);

  // The messages parleyd sends, in one place.
  bool ready(std::string_view status);
  bool reloading();
  bool stopping(std::string_view status);
  bool status(std::string_view status);
  bool watchdog_ping();

 private:
  int fd_ = -1;
  std::string address_;  // the raw sockaddr_un bytes, sized for sendto
  std::string error_;
  std::optional<std::chrono::microseconds> watchdog_;
};

}  // namespace parley::server
