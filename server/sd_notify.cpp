#include "sd_notify.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstddef>
#include <cstring>

namespace parley::server {
namespace {

std::optional<std::uint64_t> parse_u64(const std::optional<std::string>& text) {
  if (!text || text->empty()) return std::nullopt;
  std::uint64_t value = 0;
  const char* end = text->data() + text->size();
  auto [ptr, ec] = std::from_chars(text->data(), end, value);
  if (ec != std::errc() || ptr != end) return std::nullopt;
  return value;
}

// A STATUS= value is the rest of its line: a line break in it would start another assignment.
std::string one_line(std::string_view text) {
  std::string out(text);
  for (char& c : out)
    if (c == '\n' || c == '\r') c = ' ';
  return out;
}

}  // namespace

std::optional<std::chrono::microseconds> watchdog_interval(const NotifyEnvironment& env,
                                                           pid_t self) {
  const auto usec = parse_u64(env.watchdog_usec);
  if (!usec || *usec == 0) return std::nullopt;
  if (env.watchdog_pid && !env.watchdog_pid->empty()) {
    const auto pid = parse_u64(env.watchdog_pid);
    if (!pid || *pid != static_cast<std::uint64_t>(self)) return std::nullopt;
  }
  // chrono's microseconds is signed; a value past its range is nonsense anyway.
  if (*usec > static_cast<std::uint64_t>(std::chrono::microseconds::max().count()))
    return std::nullopt;
  return std::chrono::microseconds(static_cast<std::chrono::microseconds::rep>(*usec));
}

std::uint64_t monotonic_usec() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000u +
         static_cast<std::uint64_t>(ts.tv_nsec) / 1000u;
}

Notifier::Notifier(const NotifyEnvironment& env, pid_t self) {
  if (!env.notify_socket || env.notify_socket->empty()) return;
  const std::string& name = *env.notify_socket;
  if (name[0] != '/' && name[0] != '@') {
    // vsock: and other transports of newer managers are not spoken here.
    error_ = "NOTIFY_SOCKET " + name + ": only unix socket paths and @abstract names are supported";
    return;
  }
  sockaddr_un addr{};
  if (name.size() >= sizeof addr.sun_path) {
    error_ = "NOTIFY_SOCKET " + name + ": path too long";
    return;
  }
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, name.data(), name.size());
  // An abstract name starts with a NUL byte and is exactly as long as given: no terminator.
  if (name[0] == '@') addr.sun_path[0] = '\0';
  const std::size_t length = offsetof(sockaddr_un, sun_path) + name.size() + (name[0] == '/');

  fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd_ < 0) {
    error_ = std::string("NOTIFY_SOCKET: socket: ") + std::strerror(errno);
    return;
  }
  address_.assign(reinterpret_cast<const char*>(&addr), length);
  watchdog_ = watchdog_interval(env, self);
}

Notifier::~Notifier() {
  if (fd_ >= 0) ::close(fd_);
}

bool Notifier::notify(std::string_view state) {
  if (fd_ < 0) return false;
  for (;;) {
    const ssize_t n = ::sendto(fd_, state.data(), state.size(), MSG_DONTWAIT | MSG_NOSIGNAL,
                               reinterpret_cast<const sockaddr*>(address_.data()),
                               static_cast<socklen_t>(address_.size()));
    if (n >= 0) return static_cast<std::size_t>(n) == state.size();
    if (errno != EINTR) return false;
  }
}

bool Notifier::ready(std::string_view status) {
  return notify("READY=1\nSTATUS=" + one_line(status));
}

bool Notifier::reloading() {
  return notify("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(monotonic_usec()));
}

bool Notifier::stopping(std::string_view status) {
  return notify("STOPPING=1\nSTATUS=" + one_line(status));
}

bool Notifier::status(std::string_view status) {
  return notify("STATUS=" + one_line(status));
}

bool Notifier::watchdog_ping() {
  return notify("WATCHDOG=1");
}

}  // namespace parley::server
