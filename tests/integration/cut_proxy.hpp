// A TCP relay between clients and parleyd that can cut its clients off while keeping their
// connections to the server open and silent: to the server each such session is a ghost (a
// connection that died unnoticed, as behind a NAT that forgot it), until its idle timeout or a
// takeover (PROTOCOL.md 6.9) ends it. Runs on its own thread until destroyed.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#include "harness.hpp"

namespace parley::it {

class CutProxy {
 public:
  // Listens on 127.0.0.1 (an ephemeral port) and relays each connection to 127.0.0.1:server_port.
  explicit CutProxy(std::uint16_t server_port);
  ~CutProxy();
  CutProxy(const CutProxy&) = delete;
  CutProxy& operator=(const CutProxy&) = delete;

  std::uint16_t port() const { return port_; }
  // Closes the client side of every connection relayed so far (each client sees its connection
  // end) and stops relaying them; their server sides stay open and are never read or written
  // again. Returns once done; later connections are relayed as usual.
  void cut_clients();
  std::size_t accepted() const { return accepted_; }

 private:
  struct Pair {
    int client;
    int server;
  };
  void run();
  void accept_one();
  // Moves what `from` has to `to`; false once either side has ended.
  static bool relay(int from, int to);

  std::uint16_t server_port_;
  std::uint16_t port_ = 0;
  int listener_ = -1;
  std::vector<Pair> pairs_;  // relayed (thread only)
  std::vector<int> ghosts_;  // server sides of the pairs cut (thread only)
  std::atomic<std::size_t> accepted_{0};
  std::mutex mutex_;
  std::condition_variable cut_done_;
  bool cut_asked_ = false;  // under mutex_
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace parley::it
