#include "control_socket.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "bounded_accept.hpp"

namespace parley::server {

namespace asio = boost::asio;
using asio::awaitable;
using asio::local::stream_protocol;
using namespace asio::experimental::awaitable_operators;

struct ControlSocket::State {
  Handler handler;
  OnRefused on_refused;
  ControlLimits limits;
  uid_t daemon_uid;
  std::size_t active = 0;
};

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

std::optional<ControlPeer> peer_of(stream_protocol::socket& socket) {
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(socket.native_handle(), SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
    return std::nullopt;
  return ControlPeer{cred.uid, cred.pid};
}

// Writes the reply within the deadline; false when it could not.
awaitable<bool> send_reply(stream_protocol::socket& socket, const std::string& line,
                           std::chrono::milliseconds deadline) {
  asio::steady_timer timer(socket.get_executor());
  timer.expires_after(deadline);
  // Named, not temporaries inside the co_await (the g++ 12 double-destruction pitfall).
  auto write = asio::async_write(socket, asio::buffer(line), use_tuple);
  auto timeout = timer.async_wait(use_tuple);
  auto done = co_await (std::move(write) || std::move(timeout));
  co_return done.index() == 0 && !std::get<0>(std::get<0>(done));
}

// One connection: the credential check, one request line, one reply, close. Takes its state
// as parameters (no capturing coroutine lambdas: the g++ 12 pitfall).
awaitable<void> serve(stream_protocol::socket socket, Occupied<ControlSocket::State> place) {
  ControlSocket::State& state = place.state();
  ControlSocket::Reply reply;
  try {
    const auto peer = peer_of(socket);
    if (!peer || !control_peer_allowed(*peer, state.daemon_uid)) {
      if (peer) state.on_refused(*peer);
      const std::string uid = peer ? std::to_string(peer->uid) : "unknown";
      reply.line = control_reply_error(
          {control_code::kForbidden, "permission denied: uid " + uid +
                                         " may not use this socket (root or the server's user)"});
    } else {
      std::string line;
      asio::steady_timer timer(socket.get_executor());
      timer.expires_after(state.limits.deadline);
      auto read_line = asio::async_read_until(
          socket, asio::dynamic_buffer(line, kMaxControlRequestBytes + 1), '\n', use_tuple);
      auto timeout = timer.async_wait(use_tuple);
      auto read = co_await (std::move(read_line) || std::move(timeout));
      if (read.index() != 0) co_return;  // no request in time
      const auto [ec, n] = std::get<0>(read);
      if (ec) {
        if (ec != asio::error::not_found) co_return;  // gone before a whole line
        reply.line = control_reply_error({control_code::kBadRequest, "request too long"});
      } else {
        auto parsed = parse_control_request(std::string_view(line).substr(0, n - 1));
        if (auto* error = std::get_if<ControlError>(&parsed))
          reply.line = control_reply_error(*error);
        else {
          auto handled = state.handler(std::get<ControlRequest>(std::move(parsed)));
          reply = co_await std::move(handled);
        }
      }
    }
    co_await send_reply(socket, reply.line, state.limits.deadline);
    boost::system::error_code ignored;
    socket.shutdown(stream_protocol::socket::shutdown_both, ignored);
  } catch (const std::exception&) {
    // Out of memory building a reply, or the like: this request is lost, the server is not.
  }
  boost::system::error_code ignored;
  socket.close(ignored);
  if (reply.then) reply.then();
}

std::runtime_error listen_error(const std::string& path, const std::string& what) {
  return std::runtime_error("control socket " + path + ": " + what);
}

// An existing file at `path`: removed when it is a socket nobody listens on (a crashed run's);
// otherwise an error.
void remove_stale(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return;
  if (!S_ISSOCK(st.st_mode)) throw listen_error(path, "exists and is not a socket");
  asio::io_context probe_io;
  stream_protocol::socket probe(probe_io);
  boost::system::error_code ec;
  probe.connect(stream_protocol::endpoint(path), ec);
  if (!ec) throw listen_error(path, "another process is listening on it");
  if (::unlink(path.c_str()) != 0 && errno != ENOENT)
    throw listen_error(path,
                       std::string("cannot remove the stale socket: ") + std::strerror(errno));
}

}  // namespace

bool control_peer_allowed(const ControlPeer& peer, uid_t daemon_uid) {
  return peer.uid == 0 || peer.uid == daemon_uid;
}

ControlSocket::ControlSocket(asio::io_context& io, Handler handler, OnRefused on_refused,
                             ControlLimits limits)
    : io_(io),
      acceptor_(io),
      state_(std::make_shared<State>(
          State{std::move(handler), std::move(on_refused), limits, ::geteuid(), 0})) {}

ControlSocket::~ControlSocket() {
  stop();
}

void ControlSocket::listen(const std::string& path) {
  remove_stale(path);
  boost::system::error_code ec;
  acceptor_.open(stream_protocol(), ec);
  if (!ec) {
    // The file is created 0600 at bind: no moment when others could connect. The loop has not
    // started, and parleyd has no other thread, so the process-wide umask is ours to borrow.
    const mode_t old = ::umask(0177);
    acceptor_.bind(stream_protocol::endpoint(path), ec);
    ::umask(old);
  }
  if (!ec) path_ = path;
  if (!ec && ::chmod(path.c_str(), 0600) != 0)
    ec = boost::system::error_code(errno, boost::system::system_category());
  if (!ec) acceptor_.listen(8, ec);
  if (ec) {
    stop();
    throw listen_error(path, ec.message());
  }
}

void ControlSocket::start() {
  asio::co_spawn(io_, accept_bounded(acceptor_, state_, &serve), asio::detached);
}

void ControlSocket::stop() {
  boost::system::error_code ignored;
  acceptor_.close(ignored);
  if (!path_.empty()) ::unlink(path_.c_str());
  path_.clear();
}

}  // namespace parley::server
