// The admin socket (parleyctl(8)): a Unix stream socket on the event loop's own io_context,
// one request line and one reply line per connection. Only root and the daemon's own user get
// an answer (SO_PEERCRED); anyone else is told so and logged. Bounded like the metrics endpoint:
// a few connections at once, a capped request line, a deadline to read it and one to write the
// reply. The rules of the protocol are in control_protocol; the verbs are the server's.
#pragma once

#include <sys/types.h>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "control_protocol.hpp"

namespace parley::server {

struct ControlLimits {
  std::size_t max_connections = 4;
  std::chrono::milliseconds deadline{3000};  // to read the request, and again to send the reply
};

// Who connected, from SO_PEERCRED.
struct ControlPeer {
  uid_t uid = 0;
  pid_t pid = 0;
};

// Root, and the user the daemon runs as, may use the socket.
bool control_peer_allowed(const ControlPeer& peer, uid_t daemon_uid);

class ControlSocket {
 public:
  struct Reply {
    std::string line;            // control_reply_ok / control_reply_error
    std::function<void()> then;  // runs once the reply is written (or could not be): drain
  };
  // A coroutine on the loop: a verb may wait (a ban waits for its file to be written).
  using Handler = std::function<boost::asio::awaitable<Reply>(ControlRequest)>;
  // A connection refused by its credentials.
  using OnRefused = std::function<void(const ControlPeer&)>;

  ControlSocket(boost::asio::io_context& io, Handler handler, OnRefused on_refused,
                ControlLimits limits = {});
  // Closes the socket and removes its file.
  ~ControlSocket();
  ControlSocket(const ControlSocket&) = delete;
  ControlSocket& operator=(const ControlSocket&) = delete;

  // Binds the socket file 0600 and listens. A stale file (nobody listening) is replaced; a live
  // one, or a file that is not a socket, is an error. Throws std::runtime_error naming the path.
  void listen(const std::string& path);
  void start();
  // Stops accepting and removes the socket file; connections being served finish.
  void stop();

  struct State;  // shared with the connections' coroutines (control_socket.cpp)

 private:
  boost::asio::io_context& io_;
  boost::asio::local::stream_protocol::acceptor acceptor_;
  std::shared_ptr<State> state_;
  std::string path_;  // set while our socket file exists
};

}  // namespace parley::server
