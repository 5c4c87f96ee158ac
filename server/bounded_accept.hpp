// The accept loop of the server's small side listeners (the metrics endpoint, the admin socket):
// each connection is served by its own coroutine, at most limits.max_connections at once (more
// are closed at accept, which costs nothing to hold), and an accept that fails for want of
// descriptors or memory pauses instead of spinning. Header-only: the two listeners use different
// socket types.
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <chrono>
#include <memory>

namespace parley::server {

// One connection's place among those being served: taken at accept (before the coroutine that
// serves it first runs, so the next accept already counts it) and given back however that
// coroutine ends, including when the io_context is destroyed with it suspended (the place owns
// the state through its shared_ptr, so it never outlives what it counts in). State has a
// std::size_t `active`.
template <class State>
class Occupied {
 public:
  explicit Occupied(std::shared_ptr<State> state) : state_(std::move(state)) { ++state_->active; }
  Occupied(Occupied&& other) noexcept = default;
  ~Occupied() {
    if (state_) --state_->active;
  }
  Occupied(const Occupied&) = delete;
  Occupied& operator=(const Occupied&) = delete;
  Occupied& operator=(Occupied&&) = delete;

  State& state() const { return *state_; }

 private:
  std::shared_ptr<State> state_;
};

// Accepts until the acceptor is closed. State has `active` and `limits.max_connections`;
// `serve` is a coroutine function (not a capturing lambda: the g++ 12 pitfall).
template <class Acceptor, class State>
boost::asio::awaitable<void> accept_bounded(
    Acceptor& acceptor, std::shared_ptr<State> state,
    boost::asio::awaitable<void> (*serve)(typename Acceptor::protocol_type::socket,
                                          Occupied<State>)) {
  namespace asio = boost::asio;
  constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
  constexpr std::chrono::milliseconds kAcceptBackoff{100};
  asio::steady_timer pause(acceptor.get_executor());
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(use_tuple);
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
    if (ec) {
      pause.expires_after(kAcceptBackoff);
      co_await pause.async_wait(use_tuple);
      continue;
    }
    if (state->active >= state->limits.max_connections) {
      boost::system::error_code ignored;
      socket.close(ignored);
      continue;
    }
    asio::co_spawn(acceptor.get_executor(), serve(std::move(socket), Occupied<State>(state)),
                   asio::detached);
  }
}

}  // namespace parley::server
