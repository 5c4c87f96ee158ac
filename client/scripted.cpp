#include "scripted.hpp"

#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <csignal>
#include <deque>
#include <iostream>
#include <vector>

#include "guarded.hpp"
#include "line_reader.hpp"
#include "listen_line.hpp"
#include "pacer.hpp"
#include "render.hpp"
#include "session_end.hpp"

namespace parley::client {

namespace asio = boost::asio;
using asio::awaitable;
using namespace asio::experimental::awaitable_operators;
using Clock = std::chrono::steady_clock;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
constexpr std::chrono::seconds kLeaveTimeout{5};

// How a request is named in an error message. The id is the server's echo, so it is text from
// the peer like any other.
std::string what_was_refused(const RequestId& id) {
  if (const auto* n = std::get_if<std::int64_t>(&id)) return "line " + std::to_string(*n);
  if (const auto* s = std::get_if<std::string>(&id)) return "--" + sanitize(*s);
  return "a request";
}

[[noreturn]] void session_ended(const Received& received) {
  const SessionEnd end = session_end_of(received);
  throw ClientError(end.exit, end.message);
}

// The requests both modes start with: --nick, then the rooms (not when only sending DMs).
// Their ids name the option in error messages (what_was_refused).
std::vector<req::Request> setup_requests(const ScriptOptions& options) {
  std::vector<req::Request> out;
  if (options.nick) out.push_back({RequestId{"nick"}, req::Nick{*options.nick}});
  if (!options.to)
    for (const auto& room : options.rooms)
      out.push_back({RequestId{"room " + room}, req::Join{room}});
  return out;
}

// An error that leaves the connection up (a refusal, our own input): the session still ends
// with a quit, so that others see us leave rather than lose the connection.
bool connection_still_up(Exit code) {
  return code == Exit::refused || code == Exit::usage || code == Exit::failure;
}

awaitable<int> wait_for_signal() {
  asio::signal_set signals(co_await asio::this_coro::executor, SIGINT, SIGTERM);
  auto [ec, signo] = co_await signals.async_wait(use_tuple);
  co_return ec ? 0 : signo;
}

class PipeRun {
 public:
  PipeRun(std::shared_ptr<Connection> connection, const ScriptOptions& options, int input_fd)
      : connection_(std::move(connection)),
        options_(options),
        input_(connection_->get_executor(), input_fd, connection_->welcome().max_message_bytes),
        pacer_(Pacer::for_welcome(connection_->welcome(), Clock::now())),
        timer_(connection_->get_executor()),
        all_acked_(connection_->get_executor()) {}

  awaitable<void> run() {
    auto outcome = co_await (guarded(send_all()) || guarded(receive_acks()));
    rethrow_branch_error(outcome);
  }

  std::size_t sent() const { return sent_; }
  std::size_t acked() const { return acked_; }

 private:
  awaitable<void> paced_send(req::Request request) {
    for (;;) {
      const auto delay = pacer_.delay(Clock::now());
      if (delay == Clock::duration::zero()) break;
      timer_.expires_after(delay);
      auto [ec] = co_await timer_.async_wait(use_tuple);
      if (ec) throw boost::system::system_error(ec);  // cancelled by `||`
    }
    pacer_.spend(Clock::now());
    outstanding_.push_back(request.id);
    connection_->send(request);
  }

  awaitable<void> send_all() {
    // Built before co_await: g++ 12 mishandles temporaries inside co_await.
    std::vector<req::Request> setup = setup_requests(options_);
    for (auto& request : setup)
      co_await paced_send(std::move(request));
    if (options_.whole_input)
      co_await send_whole_input();
    else
      co_await send_lines();
    while (!outstanding_.empty()) {
      all_acked_.expires_at(Clock::time_point::max());
      co_await all_acked_.async_wait(use_tuple);
      // Woken by the last ack (then the loop ends) or cancelled by `||`.
      if (!outstanding_.empty()) co_return;
    }
  }

  req::Body body_for(std::string text) const {
    return options_.to ? req::Body{req::Msg{*options_.to, std::move(text)}}
                       : req::Body{req::Say{options_.rooms.front(), std::move(text)}};
  }

  std::string limit_words() const {
    return "the server's " + std::to_string(connection_->welcome().max_message_bytes) +
           "-byte message limit";
  }

  // --stdin-message: everything up to EOF is one message, less one final newline.
  awaitable<void> send_whole_input() {
    std::string text;
    try {
      text = co_await input_.read_all(connection_->welcome().max_message_bytes + 1);
    } catch (const InputTooLong&) {
      throw ClientError(Exit::refused,
                        "standard input is longer than " + limit_words() + "; nothing was sent");
    }
    if (text.ends_with('\n')) text.pop_back();
    if (text.ends_with('\r')) text.pop_back();
    if (text.size() > connection_->welcome().max_message_bytes)
      throw ClientError(Exit::refused,
                        "standard input is longer than " + limit_words() + "; nothing was sent");
    if (text.empty()) {
      std::cerr << "parley: standard input is empty: nothing to send\n";
      co_return;
    }
    req::Request request{RequestId{"stdin-message"}, body_for(std::move(text))};
    co_await paced_send(std::move(request));
    ++sent_;
  }

  awaitable<void> send_lines() {
    for (;;) {
      std::optional<std::string> line;
      try {
        line = co_await input_.next_line();
      } catch (const LineTooLong& e) {
        throw ClientError(Exit::refused, "input line " + std::to_string(e.line()) +
                                             " is longer than " + limit_words() +
                                             "; it and the lines after it were not sent");
      }
      if (!line) co_return;
      if (line->empty()) continue;  // nothing to say (the server refuses empty text)
      const RequestId id{static_cast<std::int64_t>(input_.lines_read())};
      req::Request request{id, body_for(std::move(*line))};
      co_await paced_send(std::move(request));
      ++sent_;
    }
  }

  awaitable<void> receive_acks() {
    for (;;) {
      Received received = co_await connection_->receive();
      auto* event = std::get_if<ReceivedEvent>(&received);
      if (!event) session_ended(received);
      if (auto* error = std::get_if<evt::Error>(&event->event)) {
        throw ClientError(Exit::refused,
                          what_was_refused(error->id) + " refused: " +
                              describe_error(*error, connection_->welcome().max_message_bytes));
      }
      const auto* ack = std::get_if<evt::Ack>(&event->event);
      if (!ack || outstanding_.empty() || !(ack->id == outstanding_.front())) continue;
      outstanding_.pop_front();
      if (std::holds_alternative<std::int64_t>(ack->id)) ++acked_;
      if (outstanding_.empty()) all_acked_.cancel();
    }
  }

  std::shared_ptr<Connection> connection_;
  const ScriptOptions& options_;
  LineReader input_;
  Pacer pacer_;
  asio::steady_timer timer_;
  // A condition variable: cancel() wakes send_all() when the last outstanding request is acked.
  // A wake-up with requests still outstanding is `||` cancelling send_all() itself.
  asio::steady_timer all_acked_;
  std::deque<RequestId> outstanding_;
  std::size_t sent_ = 0;
  std::size_t acked_ = 0;
};

// Prints events until the session ends; `end` says how (unset when stdout was closed).
awaitable<void> print_until_closed(std::shared_ptr<Connection> connection,
                                   const ScriptOptions& options, std::optional<SessionEnd>& end) {
  std::cout << listen_line(connection->welcome()) << std::flush;
  for (;;) {
    Received received = co_await connection->receive();
    auto* event = std::get_if<ReceivedEvent>(&received);
    if (!event) {
      end = session_end_of(received);
      co_return;
    }
    if (listen_shows(event->event, options.raw))
      std::cout << listen_line(event->event) << std::flush;
    if (!std::cout) co_return;  // stdout closed (| head): leave quietly
    if (auto* error = std::get_if<evt::Error>(&event->event);
        error && !std::holds_alternative<std::monostate>(error->id)) {
      end = SessionEnd{Exit::refused, "refused",
                       what_was_refused(error->id) + " refused: " +
                           describe_error(*error, connection->welcome().max_message_bytes),
                       std::nullopt};
      co_return;
    }
  }
}

const char* signal_name(int signo) {
  return signo == SIGINT ? "SIGINT" : signo == SIGTERM ? "SIGTERM" : "a signal";
}

}  // namespace

awaitable<void> leave(Connection& connection, std::optional<std::string> reason) {
  connection.send({RequestId{}, req::Quit{std::move(reason)}});
  asio::steady_timer timer(connection.get_executor());
  timer.expires_after(kLeaveTimeout);
  for (;;) {
    // `||` flattens Received's alternatives and the timer's result into one variant.
    auto result = co_await (connection.receive() || timer.async_wait(use_tuple));
    if (!std::holds_alternative<ReceivedEvent>(result)) break;  // closed, or we go anyway
  }
  connection.shutdown();
}

awaitable<Exit> run_pipe(std::shared_ptr<Connection> connection, const ScriptOptions& options,
                         int input_fd) {
  PipeRun pipe(connection, options, input_fd);
  auto outcome = co_await (guarded(pipe.run()) || wait_for_signal());
  if (outcome.index() == 0) {
    if (const auto& error = std::get<0>(outcome)) {
      if (connection_still_up(error->code())) {
        std::optional<std::string> no_reason;
        co_await leave(*connection, std::move(no_reason));
      }
      throw *error;
    }
  } else {
    std::cerr << "parley: interrupted: " << pipe.sent() << " line(s) sent, " << pipe.acked()
              << " acknowledged\n";
    std::optional<std::string> reason = "interrupted";
    co_await leave(*connection, std::move(reason));
    co_return Exit::interrupted;
  }
  std::optional<std::string> no_reason;
  co_await leave(*connection, std::move(no_reason));
  co_return Exit::ok;
}

awaitable<Exit> run_listen(std::shared_ptr<Connection> connection, const ScriptOptions& options) {
  for (const auto& request : setup_requests(options))
    connection->send(request);
  std::optional<SessionEnd> end;
  auto outcome =
      co_await (guarded(print_until_closed(connection, options, end)) || wait_for_signal());
  rethrow_branch_error(outcome);
  if (outcome.index() == 1) {
    const char* name = signal_name(std::get<1>(outcome));
    end = SessionEnd{Exit::ok, "signal", std::string("interrupted by ") + name, std::nullopt};
  }
  if (end) std::cout << listen_end_line(*end) << std::flush;
  if (!end || connection_still_up(end->exit) || end->exit == Exit::ok) {
    std::optional<std::string> no_reason;
    co_await leave(*connection, std::move(no_reason));
  }
  if (end && end->exit != Exit::ok) throw ClientError(end->exit, end->message);
  co_return Exit::ok;
}

}  // namespace parley::client
