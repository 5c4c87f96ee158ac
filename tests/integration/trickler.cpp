#include "trickler.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

namespace parley::it {

using namespace std::chrono_literals;

Trickler::Trickler(std::uint16_t port, Options options)
    : port_(port), options_(std::move(options)), held_(options_.sources.size(), 0) {
  thread_ = std::thread([this] { run(); });
}

Trickler::~Trickler() {
  stop_ = true;
  thread_.join();
  for (const auto& s : sockets_)
    ::close(s.fd);
}

void Trickler::run() {
  const auto start = Clock::now();
  std::vector<std::size_t> opened(options_.sources.size(), 0);
  // Every loop is bounded by stop_, which the destructor sets.
  while (!stop_) {
    const auto now = Clock::now();
    const double elapsed = std::chrono::duration<double>(now - start).count();
    for (std::size_t i = 0; i < options_.sources.size(); ++i) {
      while (static_cast<double>(opened[i]) < elapsed * options_.open_per_s + 1 &&
             held_[i] < options_.hold) {
        ++opened[i];
        if (!open(i, now)) break;
      }
    }
    for (std::size_t k = 0; k < sockets_.size();) {
      if (alive(sockets_[k], now)) {
        ++k;
        continue;
      }
      ::close(sockets_[k].fd);
      --held_[sockets_[k].source];
      --held_total_;
      ++closed_;
      sockets_[k] = sockets_.back();
      sockets_.pop_back();
    }
    std::this_thread::sleep_for(20ms);  // the attacker's own pace, not a wait for the server
  }
}

bool Trickler::open(std::size_t source, Clock::time_point now) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  if (fd < 0) return false;
  sockaddr_in local{};
  local.sin_family = AF_INET;
  ::inet_pton(AF_INET, options_.sources[source].c_str(), &local.sin_addr);
  sockaddr_in remote{};
  remote.sin_family = AF_INET;
  remote.sin_port = htons(port_);
  remote.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0 ||
      (::connect(fd, reinterpret_cast<sockaddr*>(&remote), sizeof remote) != 0 &&
       errno != EINPROGRESS)) {
    ::close(fd);
    return false;
  }
  sockets_.push_back({fd, source, now + 1s});
  ++held_[source];
  ++held_total_;
  return true;
}

bool Trickler::alive(Socket& s, Clock::time_point now) {
  char buf[256];
  const ssize_t n = ::recv(s.fd, buf, sizeof buf, MSG_DONTWAIT);
  if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOTCONN))
    return false;
  if (n > 0) return false;  // an Error frame (or a TLS alert): the server refused or evicted it
  if (now < s.next_byte) return true;
  // The prefix, then zeros: one byte at a time.
  const std::uint8_t byte = s.sent < options_.prefix.size() ? options_.prefix[s.sent] : 0;
  const ssize_t w = ::send(s.fd, &byte, 1, MSG_DONTWAIT | MSG_NOSIGNAL);
  if (w == 1) ++s.sent;
  if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK) return false;
  s.next_byte += 1s;
  return true;
}

}  // namespace parley::it
