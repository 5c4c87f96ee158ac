// The sd_notify datagram protocol without a server: parsing the environment, abstract and
// path sockets, one datagram per message, never a stray line break.
#include <gtest/gtest.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstddef>
#include <cstring>
#include <string>

#include "sd_notify.hpp"

namespace parley::server {
namespace {

using std::chrono::microseconds;

// The manager's end: a bound unix datagram socket.
class Receiver {
 public:
  explicit Receiver(const std::string& address) : address_(address) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, address.data(), address.size());
    const bool abstract = address[0] == '@';
    if (abstract) addr.sun_path[0] = '\0';
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    const auto len =
        static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + address.size() + !abstract);
    bound_ = fd_ >= 0 && ::bind(fd_, reinterpret_cast<const sockaddr*>(&addr), len) == 0;
  }
  ~Receiver() {
    if (fd_ >= 0) ::close(fd_);
    if (address_[0] == '/') ::unlink(address_.c_str());
  }
  bool bound() const { return bound_; }
  std::optional<std::string> receive() {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, 2000) != 1) return std::nullopt;
    char buf[1024];
    const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n < 0) return std::nullopt;
    return std::string(buf, static_cast<std::size_t>(n));
  }

 private:
  std::string address_;
  int fd_ = -1;
  bool bound_ = false;
};

TEST(SdNotify, WatchdogIntervalFromTheEnvironment) {
  const pid_t self = 4242;
  EXPECT_EQ(watchdog_interval({}, self), std::nullopt);
  EXPECT_EQ(watchdog_interval({std::nullopt, "30000000", std::nullopt}, self),
            microseconds(30'000'000));
  EXPECT_EQ(watchdog_interval({std::nullopt, "30000000", "4242"}, self), microseconds(30'000'000));
  // For another process, or nonsense: no watchdog.
  EXPECT_EQ(watchdog_interval({std::nullopt, "30000000", "1"}, self), std::nullopt);
  EXPECT_EQ(watchdog_interval({std::nullopt, "30000000", "x"}, self), std::nullopt);
  EXPECT_EQ(watchdog_interval({std::nullopt, "0", std::nullopt}, self), std::nullopt);
  EXPECT_EQ(watchdog_interval({std::nullopt, "-5", std::nullopt}, self), std::nullopt);
  EXPECT_EQ(watchdog_interval({std::nullopt, "10s", std::nullopt}, self), std::nullopt);
  EXPECT_EQ(watchdog_interval({std::nullopt, "", std::nullopt}, self), std::nullopt);
  EXPECT_EQ(watchdog_interval({std::nullopt, "99999999999999999999999", std::nullopt}, self),
            std::nullopt);
}

TEST(SdNotify, DisabledWithoutASocket) {
  Notifier n({}, ::getpid());
  EXPECT_FALSE(n.enabled());
  EXPECT_TRUE(n.error().empty());
  EXPECT_FALSE(n.ready("x"));
  // The watchdog needs somewhere to send its pings.
  Notifier w({std::nullopt, "1000000", std::nullopt}, ::getpid());
  EXPECT_FALSE(w.watchdog().has_value());
}

TEST(SdNotify, UnsupportedAddressesDisableWithAReason) {
  Notifier vsock({"vsock:2:1234", std::nullopt, std::nullopt}, ::getpid());
  EXPECT_FALSE(vsock.enabled());
  EXPECT_NE(vsock.error().find("vsock:2:1234"), std::string::npos);
  Notifier too_long({"/" + std::string(200, 'x'), std::nullopt, std::nullopt}, ::getpid());
  EXPECT_FALSE(too_long.enabled());
  EXPECT_NE(too_long.error().find("too long"), std::string::npos);
}

TEST(SdNotify, AbstractSocketGetsOneDatagramPerMessage) {
  const std::string address = "@parley-unit-notify-" + std::to_string(::getpid());
  Receiver manager(address);
  ASSERT_TRUE(manager.bound());
  Notifier n({address, "2000000", std::nullopt}, ::getpid());
  ASSERT_TRUE(n.enabled()) << n.error();
  EXPECT_EQ(n.watchdog(), microseconds(2'000'000));

  ASSERT_TRUE(n.ready("sessions: 0"));
  EXPECT_EQ(manager.receive(), "READY=1\nSTATUS=sessions: 0");
  ASSERT_TRUE(n.watchdog_ping());
  EXPECT_EQ(manager.receive(), "WATCHDOG=1");
  // A line break inside a status must not start another assignment.
  ASSERT_TRUE(n.status("bad\nREADY=1"));
  EXPECT_EQ(manager.receive(), "STATUS=bad READY=1");
  ASSERT_TRUE(n.stopping("bye"));
  EXPECT_EQ(manager.receive(), "STOPPING=1\nSTATUS=bye");

  const std::uint64_t before = monotonic_usec();
  ASSERT_TRUE(n.reloading());
  auto reloading = manager.receive();
  ASSERT_TRUE(reloading.has_value());
  ASSERT_TRUE(reloading->starts_with("RELOADING=1\nMONOTONIC_USEC=")) << *reloading;
  const auto stamp = std::stoull(reloading->substr(reloading->find('=', 12) + 1));
  EXPECT_GE(stamp, before);
  EXPECT_LE(stamp, monotonic_usec());
}

TEST(SdNotify, PathSocket) {
  char dir[] = "/tmp/parley-notify-XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  const std::string address = std::string(dir) + "/notify";
  {
    Receiver manager(address);
    ASSERT_TRUE(manager.bound());
    Notifier n({address, std::nullopt, std::nullopt}, ::getpid());
    ASSERT_TRUE(n.enabled()) << n.error();
    EXPECT_FALSE(n.watchdog().has_value());
    ASSERT_TRUE(n.status("hello"));
    EXPECT_EQ(manager.receive(), "STATUS=hello");
  }
  ::rmdir(dir);
}

TEST(SdNotify, NobodyListeningIsNotAnError) {
  // The manager went away: sending fails, quietly, and never blocks.
  Notifier n(
      {"@parley-unit-notify-nobody-" + std::to_string(::getpid()), std::nullopt, std::nullopt},
      ::getpid());
  ASSERT_TRUE(n.enabled());
  EXPECT_FALSE(n.ready("x"));
}

}  // namespace
}  // namespace parley::server
