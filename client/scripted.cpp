#include "scripted.hpp"

#include <unistd.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <csignal>
#include <deque>
#include <iostream>
#include <random>
#include <vector>

#include "guarded.hpp"
#include "line_reader.hpp"
#include "listen_line.hpp"
#include "pacer.hpp"
#include "reconnect.hpp"
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

// What listen mode carries from one session to the next: the last seq printed per room, so
// that a reconnect asks each room's history for what came after it and prints nothing twice.
struct ListenState {
  RoomCursor cursor;
  bool resumed = false;  // a session after the first: refusals of its set-up are not fatal
};

// "room X" / "history X": the room a set-up request's id names.
std::optional<std::string> room_of_id(const RequestId& id, std::string_view kind) {
  const auto* text = std::get_if<std::string>(&id);
  if (!text || !text->starts_with(kind) || text->size() <= kind.size()) return std::nullopt;
  return text->substr(kind.size());
}

// Prints events until the session ends; `end` says how (unset when stdout was closed).
awaitable<void> print_until_closed(std::shared_ptr<Connection> connection,
                                   const ScriptOptions& options, std::optional<SessionEnd>& end,
                                   ListenState& state) {
  std::cout << listen_line(connection->welcome()) << std::flush;
  for (;;) {
    Received received = co_await connection->receive();
    auto* event = std::get_if<ReceivedEvent>(&received);
    if (!event) {
      end = session_end_of(received);
      co_return;
    }
    if (const auto* message = std::get_if<evt::Message>(&event->event);
        message && message->seq != 0 && !state.cursor.advance(message->room, message->seq))
      continue;  // printed already: a replay overlapping what came live
    if (const auto* ack = std::get_if<evt::Ack>(&event->event); ack && ack->seq) {
      // Where this room's history starts for us, should we have to come back.
      if (auto room = room_of_id(ack->id, "room "); room && !state.cursor.last(*room))
        state.cursor.advance(*room, *ack->seq);
    }
    if (listen_shows(event->event, options.raw))
      std::cout << listen_line(event->event) << std::flush;
    if (!std::cout) co_return;  // stdout closed (| head): leave quietly
    if (const auto* history_end = std::get_if<evt::HistoryEnd>(&event->event);
        history_end && history_end->more) {
      req::History more;
      more.room = history_end->room;
      more.after = state.cursor.last(history_end->room);
      connection->send({RequestId{"history " + history_end->room}, std::move(more)});
    }
    if (auto* error = std::get_if<evt::Error>(&event->event);
        error && !std::holds_alternative<std::monostate>(error->id)) {
      // After a reconnect, a refused nick (the old session still holds it) or history is shown
      // and lived with; the first session's set-up must succeed.
      if (state.resumed && (room_of_id(error->id, "resume ") || room_of_id(error->id, "history ")))
        continue;
      end = SessionEnd{Exit::refused, "refused",
                       what_was_refused(error->id) + " refused: " +
                           describe_error(*error, connection->welcome().max_message_bytes),
                       std::nullopt};
      co_return;
    }
  }
}

// The requests that put a new listen session where the old one was.
std::vector<req::Request> resume_listen_requests(const ScriptOptions& options,
                                                 const Connection& connection,
                                                 const ListenState& state) {
  ResumeState resume;
  resume.has_identity = options.has_identity;
  resume.rooms = options.rooms;
  const auto& features = connection.welcome().features;
  const bool history = std::find(features.begin(), features.end(), "history") != features.end();
  std::vector<req::Request> out;
  for (auto& body : resume_requests(resume, state.cursor, history)) {
    if (std::holds_alternative<req::Nick>(body)) {
      if (!options.nick) continue;  // a guest: the new guest nick will do
      std::get<req::Nick>(body).nick = *options.nick;
      out.push_back({RequestId{"resume nick"}, std::move(body)});
    } else if (const auto* join = std::get_if<req::Join>(&body)) {
      out.push_back({RequestId{"room " + join->room}, std::move(body)});
    } else if (const auto* history_request = std::get_if<req::History>(&body)) {
      out.push_back({RequestId{"history " + history_request->room}, std::move(body)});
    }
  }
  return out;
}

const char* signal_name(int signo) {
  return signo == SIGINT ? "SIGINT" : signo == SIGTERM ? "SIGTERM" : "a signal";
}

// Backoff and attempts after a lost listen session, one "reconnecting" line each; `next` stays
// empty when the time to give up has come.
awaitable<void> come_back_listening(const ScriptOptions& options, const SessionEnd& end,
                                    std::mt19937_64& random, std::shared_ptr<Connection>& next) {
  Backoff backoff(Clock::now(), options.reconnect_for);
  asio::steady_timer timer(co_await asio::this_coro::executor);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  SessionEnd why = end;
  for (;;) {
    const auto wait = backoff.next(Clock::now(), unit(random));
    if (!wait) co_return;
    std::cout << listen_reconnecting_line(why, wait->count()) << std::flush;
    timer.expires_after(*wait);
    co_await timer.async_wait(use_tuple);
    try {
      next = co_await options.reconnect(Progress{});
      co_return;
    } catch (const ClientError& e) {
      if (e.code() == Exit::host_key || e.code() == Exit::usage) throw;  // not a hiccup
      why = SessionEnd{e.code(), "reconnect_failed", sanitize(e.what()), std::nullopt};
    }
  }
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
  ListenState state;
  for (const auto& request : setup_requests(options))
    connection->send(request);
  std::mt19937_64 random{std::random_device{}()};
  for (;;) {
    std::optional<SessionEnd> end;
    auto outcome = co_await (guarded(print_until_closed(connection, options, end, state)) ||
                             wait_for_signal());
    rethrow_branch_error(outcome);
    if (outcome.index() == 1) {
      const char* name = signal_name(std::get<1>(outcome));
      end = SessionEnd{Exit::ok, "signal", std::string("interrupted by ") + name, std::nullopt};
    }
    const bool may_come_back = end && (end->exit == Exit::connect || end->exit == Exit::closed) &&
                               (!end->close || may_reconnect_after(end->close->code)) &&
                               options.reconnect &&
                               options.reconnect_for > std::chrono::milliseconds::zero();
    if (may_come_back) {
      std::shared_ptr<Connection> next;
      auto away =
          co_await (guarded(come_back_listening(options, *end, random, next)) || wait_for_signal());
      rethrow_branch_error(away);
      if (next) {
        connection = std::move(next);
        state.resumed = true;
        for (const auto& request : resume_listen_requests(options, *connection, state))
          connection->send(request);
        continue;
      }
      if (away.index() == 1)
        end = SessionEnd{Exit::ok, "signal",
                         std::string("interrupted by ") + signal_name(std::get<1>(away)),
                         std::nullopt};
      else
        end = SessionEnd{
            Exit::connect, "gave_up",
            "no server for " + std::to_string(options.reconnect_for.count() / 1000) + " s",
            std::nullopt};
      std::cout << listen_end_line(*end) << std::flush;
      if (end->exit != Exit::ok) throw ClientError(end->exit, end->message);
      co_return Exit::ok;
    }
    if (end) std::cout << listen_end_line(*end) << std::flush;
    if (!end || connection_still_up(end->exit) || end->exit == Exit::ok) {
      std::optional<std::string> no_reason;
      co_await leave(*connection, std::move(no_reason));
    }
    if (end && end->exit != Exit::ok) throw ClientError(end->exit, end->message);
    co_return Exit::ok;
  }
}

}  // namespace parley::client
