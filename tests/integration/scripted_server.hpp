// A server that runs the real handshake (with the vector server identity key, so clients pin
// vector_server_fingerprint()) and then says exactly what a test scripts: app records of any
// content, malformed or hostile ones included, which parleyd would never send. For testing the
// `parley` client against a malicious or newer server. One connection, served on a thread;
// every wait has a deadline.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "parley/record.hpp"

namespace parley::it {

struct ServerScript {
  // Sent in order right after the handshake; the first one stands as the welcome.
  std::vector<std::string> app_records;
  // Sent after them; without one the server waits for the client to leave (a quit request is
  // answered with a normal close) or to hang up.
  std::optional<CloseRecord> close;
  // Instead of the close: the server just hangs up after the records (EOF without a close).
  bool hang_up = false;
  // What no honest server sends, after the records (and then it hangs up): the last app record
  // with one byte of its tag flipped, or a frame header announcing this many bytes (more than
  // the welcome's max_frame).
  bool tamper_last_record = false;
  std::optional<std::uint32_t> oversized_frame = std::nullopt;
};

class ScriptedServer {
 public:
  // Listens on 127.0.0.1, an ephemeral port, and serves the first connection with `script`.
  explicit ScriptedServer(ServerScript script);
  ~ScriptedServer();
  ScriptedServer(const ScriptedServer&) = delete;
  ScriptedServer& operator=(const ScriptedServer&) = delete;

  std::uint16_t port() const { return port_; }
  std::string target() const { return "127.0.0.1:" + std::to_string(port_); }

  // Waits for the connection to end; false on timeout. Then: what went wrong on our side (empty
  // when nothing did) and the app records the client sent after the handshake.
  bool wait_done(std::chrono::milliseconds timeout);
  std::string error() const;
  std::vector<std::string> received() const;

 private:
  void serve();
  void serve_connection(int fd);
  // Waits until fd is ready for `events`; false at the deadline or when the destructor stops us.
  bool wait_ready(int fd, short events);
  void fail(std::string what);

  ServerScript script_;
  int listen_fd_ = -1;
  std::uint16_t port_ = 0;
  std::chrono::steady_clock::time_point deadline_;
  std::atomic<bool> stop_{false};
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::string error_;
  std::vector<std::string> received_;
  bool done_ = false;
  std::thread thread_;
};

}  // namespace parley::it
