#include "scripted.hpp"

#include <unistd.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <csignal>
#include <functional>
#include <iostream>
#include <random>
#include <vector>

#include "guarded.hpp"
#include "line_reader.hpp"
#include "listen_line.hpp"
#include "pacer.hpp"
#include "reconnect.hpp"
#include "render.hpp"
#include "resend_queue.hpp"
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

// The nick a new session takes back after a reconnect: --nick or, signed in with a key and
// without --nick, the nick the first session was given (the key's own, which the old session
// may still hold as a ghost). A guest name ("guest-...", PROTOCOL.md) is the server's to give.
std::optional<std::string> nick_to_take_back(const ScriptOptions& options,
                                             std::string_view first_nick) {
  if (options.nick) return options.nick;
  if (!options.has_identity || first_nick.empty() || first_nick.starts_with("guest-"))
    return std::nullopt;
  return std::string(first_nick);
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

// Whether a session that ended so may be followed by another (PROTOCOL.md 6.8): the connection
// was lost or the server closed it for a reason that allows coming back, and the user did not
// turn reconnecting off.
bool may_come_back(const SessionEnd& end, const ScriptOptions& options) {
  return (end.exit == Exit::connect || end.exit == Exit::closed) &&
         (!end.close || may_reconnect_after(end.close->code)) && options.reconnect &&
         options.reconnect_for > std::chrono::milliseconds::zero();
}

// Told before each wait for a new session: why the last one (or attempt) ended, and how long
// the wait is.
using Announce = std::function<void(const SessionEnd& why, std::chrono::milliseconds wait)>;

// Waits (the moment the server's goaway named, else backoff with jitter) and opens a new session,
// as often as needed; `next` stays empty once `options.reconnect_for` has passed.
awaitable<void> come_back(const ScriptOptions& options, SessionEnd why,
                          std::optional<std::chrono::milliseconds> goaway, std::mt19937_64& random,
                          const Announce& announce, std::shared_ptr<Connection>& next) {
  Backoff backoff(Clock::now(), options.reconnect_for);
  if (goaway) backoff.server_asked(*goaway);
  asio::steady_timer timer(co_await asio::this_coro::executor);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  for (;;) {
    const auto wait = backoff.next(Clock::now(), unit(random));
    if (!wait) co_return;
    announce(why, *wait);
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

std::string seconds_text(std::chrono::milliseconds ms) {
  const auto tenths = (ms.count() + 50) / 100;
  return std::to_string(tenths / 10) + "." + std::to_string(tenths % 10) + " s";
}

// Pipe mode: lines from input to the server, paced, until each is acknowledged. A lost session
// (or a close that allows it) is followed by a new one: the set-up again, then every line not
// acknowledged, then the rest of the input (resend_queue.hpp).
class PipeRun {
 public:
  // Requests sent and not yet acknowledged before no more input is read: far more than a
  // round trip's worth at any rate a server allows, and bounded whatever the server does.
  static constexpr std::size_t kMaxUnacked = 1024;
  static constexpr std::size_t kMaxUnackedBytes = 4 << 20;

  PipeRun(std::shared_ptr<Connection> connection, const ScriptOptions& options, int input_fd)
      : connection_(std::move(connection)),
        options_(options),
        input_(connection_->get_executor(), input_fd, connection_->welcome().max_message_bytes),
        pacer_(Pacer::for_welcome(connection_->welcome(), Clock::now())),
        timer_(connection_->get_executor()),
        answered_(connection_->get_executor()),
        queue_(kMaxUnacked, kMaxUnackedBytes),
        first_nick_(connection_->welcome().nick) {}

  awaitable<void> run() {
    queue_.restart(setup_requests(options_));
    std::mt19937_64 random{std::random_device{}()};
    for (;;) {
      end_.reset();
      auto outcome = co_await (guarded(send_all()) || guarded(receive_acks()));
      rethrow_branch_error(outcome);
      if (!end_) co_return;  // the input is over and every line acknowledged
      if (!may_come_back(*end_, options_)) throw ClientError(end_->exit, end_->message);
      away_ = true;
      std::shared_ptr<Connection> next;
      const Announce announce = [this](const SessionEnd& why, std::chrono::milliseconds wait) {
        std::cerr << "parley: " << why.message << "; reconnecting in " << seconds_text(wait) << " ("
                  << queue_.lines_in_hand() << " line(s) not acknowledged yet)\n";
      };
      co_await come_back(options_, *end_, goaway_, random, announce, next);
      if (!next)
        throw ClientError(Exit::connect,
                          "no server for " + std::to_string(options_.reconnect_for.count() / 1000) +
                              " s: giving up with " + std::to_string(queue_.lines_in_hand()) +
                              " line(s) not acknowledged");
      resume(std::move(next));
    }
  }

  std::size_t sent() const { return sent_; }
  std::size_t acked() const { return acked_; }
  // The session to leave, or nullptr while between sessions.
  Connection* connection() const { return away_ ? nullptr : connection_.get(); }

 private:
  // A new session where the old one was: the set-up again (the nick taken back with takeover
  // when signed in with a key: the old session may be a ghost still holding it), then the lines
  // not acknowledged, at the new server's pace.
  void resume(std::shared_ptr<Connection> next) {
    connection_ = std::move(next);
    away_ = false;
    resumed_ = true;
    goaway_.reset();
    pacer_ = Pacer::for_welcome(connection_->welcome(), Clock::now());
    std::vector<req::Request> setup = setup_requests(options_);
    if (auto nick = nick_to_take_back(options_, first_nick_); nick && !options_.nick)
      setup.insert(setup.begin(), req::Request{RequestId{"nick"}, req::Nick{*nick}});
    for (auto& request : setup)
      if (auto* nick = std::get_if<req::Nick>(&request.body))
        nick->takeover = options_.has_identity;
    const std::size_t again = queue_.restart(std::move(setup));
    std::cerr << "parley: reconnected; " << again
              << " line(s) not acknowledged are sent again (they may arrive twice)\n";
  }

  awaitable<void> send_all() {
    // No co_await in a condition: g++ 12 miscompiles some (an illegal instruction at run time).
    bool more_input = true;
    while (more_input) {
      if (queue_.next()) {
        co_await pace();
        connection_->send(*queue_.next());
        if (queue_.sent()) ++sent_;
      } else if (queue_.wants_input()) {
        more_input = co_await read_input();
      } else {
        co_await next_answer();  // the window is full
      }
    }
    while (!queue_.idle())
      co_await next_answer();
  }

  awaitable<void> pace() {
    for (;;) {
      const auto delay = pacer_.delay(Clock::now());
      if (delay == Clock::duration::zero()) break;
      timer_.expires_after(delay);
      auto [ec] = co_await timer_.async_wait(use_tuple);
      if (ec) throw boost::system::system_error(ec);  // cancelled by `||`
    }
    pacer_.spend(Clock::now());
  }

  // Waits for the server's next answer to one of ours. The timer is a condition variable:
  // receive_acks() cancels it on each answer; a wake-up without one is `||` cancelling us.
  awaitable<void> next_answer() {
    const std::size_t before = answers_;
    answered_.expires_at(Clock::time_point::max());
    co_await answered_.async_wait(use_tuple);
    if (answers_ == before) throw boost::system::system_error(asio::error::operation_aborted);
  }

  req::Body body_for(std::string text) const {
    return options_.to ? req::Body{req::Msg{*options_.to, std::move(text)}}
                       : req::Body{req::Say{options_.rooms.front(), std::move(text)}};
  }

  std::string limit_words() const {
    return "the server's " + std::to_string(connection_->welcome().max_message_bytes) +
           "-byte message limit";
  }

  // One more line (or, with --stdin-message, all of it) into the queue; false at the end of
  // input. A line is in the queue before anything else is awaited, so none is lost to a lost
  // session.
  awaitable<bool> read_input() {
    if (input_done_) co_return false;
    if (options_.whole_input) {
      input_done_ = true;
      co_await read_whole_input();
      co_return true;
    }
    std::optional<std::string> line;
    try {
      line = co_await input_.next_line();
    } catch (const LineTooLong& e) {
      throw ClientError(Exit::refused, "input line " + std::to_string(e.line()) +
                                           " is longer than " + limit_words() +
                                           "; it and the lines after it were not sent");
    }
    if (!line) {
      input_done_ = true;
      co_return false;
    }
    if (line->empty()) co_return true;  // nothing to say (the server refuses empty text)
    const RequestId id{static_cast<std::int64_t>(input_.lines_read())};
    queue_.push_line(req::Request{id, body_for(std::move(*line))});
    co_return true;
  }

  // --stdin-message: everything up to EOF is one message, less one final newline.
  awaitable<void> read_whole_input() {
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
    queue_.push_line(req::Request{RequestId{"stdin-message"}, body_for(std::move(text))});
  }

  // Answers until the session ends (end_ says how); a refusal throws.
  awaitable<void> receive_acks() {
    for (;;) {
      Received received = co_await connection_->receive();
      auto* event = std::get_if<ReceivedEvent>(&received);
      if (!event) {
        end_ = session_end_of(received);
        co_return;
      }
      if (const auto* goaway = std::get_if<evt::GoAway>(&event->event)) {
        goaway_ = std::chrono::milliseconds(goaway->reconnect_after_ms);
        continue;
      }
      RequestId id;
      if (auto* error = std::get_if<evt::Error>(&event->event)) {
        // After a reconnect the nick may still be held by the old session (a ghost, until it
        // times out): said and lived with; the lines go on under the new session's nick.
        if (!(resumed_ && error->id == RequestId{"nick"}))
          throw ClientError(Exit::refused,
                            what_was_refused(error->id) + " refused: " +
                                describe_error(*error, connection_->welcome().max_message_bytes));
        std::cerr << "parley: after reconnecting, the nick was refused ("
                  << describe_error(*error, connection_->welcome().max_message_bytes)
                  << "); going on as " << sanitize(connection_->welcome().nick) << "\n";
        id = error->id;
      } else if (const auto* ack = std::get_if<evt::Ack>(&event->event)) {
        id = ack->id;
      } else {
        continue;
      }
      const auto entry = queue_.settle(id);
      if (!entry) continue;
      if (entry->line) ++acked_;
      ++answers_;
      answered_.cancel();
    }
  }

  std::shared_ptr<Connection> connection_;
  const ScriptOptions& options_;
  LineReader input_;
  Pacer pacer_;
  asio::steady_timer timer_;
  asio::steady_timer answered_;  // see next_answer()
  std::size_t answers_ = 0;
  ResendQueue queue_;
  bool input_done_ = false;
  std::optional<SessionEnd> end_;                    // set when a session has ended
  std::optional<std::chrono::milliseconds> goaway_;  // the server said when to come back
  bool away_ = false;
  bool resumed_ = false;    // a session after the first
  std::string first_nick_;  // as the first session's welcome gave it
  std::size_t sent_ = 0;
  std::size_t acked_ = 0;
};

// What listen mode carries from one session to the next: the last seq printed per room, so
// that a reconnect asks each room's history for what came after it and prints nothing twice.
struct ListenState {
  RoomCursor cursor;
  bool resumed = false;  // a session after the first: refusals of its set-up are not fatal
  std::optional<std::chrono::milliseconds> goaway;  // the server said when to come back
  std::string first_nick;                           // as the first session's welcome gave it
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
    if (const auto* goaway = std::get_if<evt::GoAway>(&event->event))
      state.goaway = std::chrono::milliseconds(goaway->reconnect_after_ms);
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
      const auto nick = nick_to_take_back(options, state.first_nick);
      if (!nick) continue;  // a guest: the new guest nick will do
      std::get<req::Nick>(body).nick = *nick;
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
  PipeRun pipe(std::move(connection), options, input_fd);
  auto outcome = co_await (guarded(pipe.run()) || wait_for_signal());
  // The session to leave: the last one, unless the run ended between sessions.
  Connection* const current = pipe.connection();
  if (outcome.index() == 0) {
    if (const auto& error = std::get<0>(outcome)) {
      if (current && connection_still_up(error->code())) {
        std::optional<std::string> no_reason;
        co_await leave(*current, std::move(no_reason));
      }
      throw *error;
    }
  } else {
    std::cerr << "parley: interrupted: " << pipe.sent() << " line(s) sent, " << pipe.acked()
              << " acknowledged\n";
    if (current) {
      std::optional<std::string> reason = "interrupted";
      co_await leave(*current, std::move(reason));
    }
    co_return Exit::interrupted;
  }
  std::optional<std::string> no_reason;
  co_await leave(*current, std::move(no_reason));
  co_return Exit::ok;
}

awaitable<Exit> run_listen(std::shared_ptr<Connection> connection, const ScriptOptions& options) {
  ListenState state;
  state.first_nick = connection->welcome().nick;
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
    if (end && may_come_back(*end, options)) {
      std::shared_ptr<Connection> next;
      // One "reconnecting" line per attempt.
      const Announce announce = [](const SessionEnd& why, std::chrono::milliseconds wait) {
        std::cout << listen_reconnecting_line(why, wait.count()) << std::flush;
      };
      auto away =
          co_await (guarded(come_back(options, *end, state.goaway, random, announce, next)) ||
                    wait_for_signal());
      rethrow_branch_error(away);
      if (next) {
        connection = std::move(next);
        state.resumed = true;
        state.goaway.reset();
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
