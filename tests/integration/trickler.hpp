// Slowloris, as the hardening tests and the TLS tests play it: each source address opens
// sockets (at most `open_per_s` a second, holding at most `hold` at once), and every socket sends
// one byte a second of a hello it never finishes. A socket the server closes is noticed and
// replaced. Runs on its own thread until destroyed.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "harness.hpp"

namespace parley::it {

class Trickler {
 public:
  // The first bytes of a Parley ClientHello frame: a header announcing 256 bytes.
  static std::vector<std::uint8_t> parley_hello_prefix() { return {0, 0, 1, 0}; }
  // The first bytes of a TLS ClientHello: a handshake record of 256 bytes, type client_hello.
  static std::vector<std::uint8_t> tls_hello_prefix() {
    return {0x16, 0x03, 0x01, 0x01, 0x00, 0x01};
  }

  struct Options {
    std::vector<std::string> sources;
    double open_per_s = 25;
    std::size_t hold = 1000;
    std::vector<std::uint8_t> prefix = parley_hello_prefix();  // then zeros
  };

  Trickler(std::uint16_t port, Options options);
  ~Trickler();
  Trickler(const Trickler&) = delete;
  Trickler& operator=(const Trickler&) = delete;

  std::size_t held() const { return held_total_; }
  std::size_t closed_by_server() const { return closed_; }

 private:
  struct Socket {
    int fd;
    std::size_t source;
    Clock::time_point next_byte;
    std::size_t sent = 0;
  };

  void run();
  bool open(std::size_t source, Clock::time_point now);
  // False once the server has closed (or refused) the socket.
  bool alive(Socket& s, Clock::time_point now);

  std::uint16_t port_;
  Options options_;
  std::vector<std::size_t> held_;
  std::vector<Socket> sockets_;
  std::atomic<std::size_t> held_total_{0};
  std::atomic<std::size_t> closed_{0};
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace parley::it
