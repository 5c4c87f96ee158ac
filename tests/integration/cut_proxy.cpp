#include "cut_proxy.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace parley::it {

namespace {

sockaddr_in loopback(std::uint16_t port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return address;
}

// Writes all of `data` to a blocking socket; false if the peer is gone.
bool write_all(int fd, const char* data, std::size_t size) {
  while (size > 0) {
    const ssize_t n = ::send(fd, data, size, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

}  // namespace

CutProxy::CutProxy(std::uint16_t server_port) : server_port_(server_port) {
  listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address = loopback(0);
  socklen_t length = sizeof address;
  if (listener_ < 0 || ::bind(listener_, reinterpret_cast<sockaddr*>(&address), length) != 0 ||
      ::listen(listener_, 16) != 0 ||
      ::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length) != 0)
    throw std::runtime_error(std::string("CutProxy: cannot listen: ") + std::strerror(errno));
  port_ = ntohs(address.sin_port);
  thread_ = std::thread([this] { run(); });
}

CutProxy::~CutProxy() {
  stop_ = true;
  thread_.join();
  for (const auto& pair : pairs_) {
    ::close(pair.client);
    ::close(pair.server);
  }
  for (const int fd : ghosts_)
    ::close(fd);
  ::close(listener_);
}

void CutProxy::cut_clients() {
  std::unique_lock lock(mutex_);
  cut_asked_ = true;
  // The relay thread polls at least every 20 ms; a generous bound, in case it is starved.
  cut_done_.wait_for(lock, std::chrono::seconds(10), [this] { return !cut_asked_; });
  EXPECT_FALSE(cut_asked_) << "the proxy did not cut its clients";
}

void CutProxy::run() {
  // Every loop is bounded by stop_, which the destructor sets.
  while (!stop_) {
    {
      std::lock_guard lock(mutex_);
      if (cut_asked_) {
        for (const auto& pair : pairs_) {
          ::close(pair.client);
          ghosts_.push_back(pair.server);
        }
        pairs_.clear();
        cut_asked_ = false;
        cut_done_.notify_all();
      }
    }
    std::vector<pollfd> fds;
    fds.push_back({listener_, POLLIN, 0});
    for (const auto& pair : pairs_) {
      fds.push_back({pair.client, POLLIN, 0});
      fds.push_back({pair.server, POLLIN, 0});
    }
    if (::poll(fds.data(), fds.size(), 20) <= 0) continue;
    const std::size_t polled = pairs_.size();  // a pair accepted now has no entry in fds yet
    if (fds[0].revents & POLLIN) accept_one();
    std::vector<Pair> alive;
    for (std::size_t i = 0; i < pairs_.size(); ++i) {
      const Pair pair = pairs_[i];
      if (i >= polled) {
        alive.push_back(pair);
        continue;
      }
      const auto& client = fds[1 + 2 * i];
      const auto& server = fds[2 + 2 * i];
      bool ok = true;
      if (client.revents) ok = relay(pair.client, pair.server);
      if (ok && server.revents) ok = relay(pair.server, pair.client);
      if (ok) {
        alive.push_back(pair);
      } else {
        ::close(pair.client);
        ::close(pair.server);
      }
    }
    pairs_ = std::move(alive);
  }
}

void CutProxy::accept_one() {
  const int client = ::accept(listener_, nullptr, nullptr);
  if (client < 0) return;
  const int server = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address = loopback(server_port_);
  if (server < 0 || ::connect(server, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    if (server >= 0) ::close(server);
    ::close(client);
    return;
  }
  pairs_.push_back({client, server});
  ++accepted_;
}

bool CutProxy::relay(int from, int to) {
  char buffer[16384];
  const ssize_t n = ::recv(from, buffer, sizeof buffer, MSG_DONTWAIT);
  if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
  if (n == 0) return false;
  return write_all(to, buffer, static_cast<std::size_t>(n));
}

}  // namespace parley::it
