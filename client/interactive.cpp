#include "interactive.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <csignal>
#include <ctime>
#include <map>

#include "commands.hpp"
#include "guarded.hpp"
#include "line_editor.hpp"
#include "parley/names.hpp"
#include "render.hpp"
#include "scripted.hpp"
#include "session_end.hpp"

namespace parley::client {

namespace asio = boost::asio;
using asio::awaitable;
using namespace asio::experimental::awaitable_operators;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
// Requests awaiting their ack: a person types slowly, but a server that never answers must
// not make this grow without end.
constexpr std::size_t kMaxPending = 1024;
// A listing in pages (PROTOCOL.md 6.5) is asked for page by page; a server that never ends one
// is cut off after this many.
constexpr std::size_t kMaxPagesFollowed = 100;

std::string clock_now() {
  return clock_of(std::time(nullptr));
}

struct Quit {
  std::optional<std::string> reason;
};

class InteractiveRun {
 public:
  InteractiveRun(std::shared_ptr<Connection> connection, const InteractiveOptions& options)
      : connection_(std::move(connection)),
        options_(options),
        editor_(connection_->get_executor()),
        nick_(connection_->welcome().nick) {
    update_prompt();
  }

  awaitable<Exit> run() {
    if (options_.nick) request(req::Nick{*options_.nick});
    request(req::Join{options_.room});
    auto outcome = co_await (read_input() || receive_events() || watch_signals());
    std::optional<std::string> reason;
    switch (outcome.index()) {
      case 0:
        reason = std::get<0>(outcome).reason;
        break;
      case 1:
        co_return std::get<1>(outcome);  // the server ended the session
      default:
        break;  // SIGINT or SIGTERM: leave like /quit
    }
    co_await leave(*connection_, std::move(reason));
    co_return Exit::ok;
  }

 private:
  RenderContext context() const {
    return RenderContext{options_.colour, current_room_, clock_now(),
                         connection_->welcome().max_message_bytes};
  }

  void show(const std::string& line) { editor_.print_above(line); }
  void notice(const std::string& text) { show(clock_now() + " -!- " + text); }

  void update_prompt() {
    editor_.set_prompt(current_room_.empty() ? "[no room] "
                                             : "[#" + sanitize(current_room_) + "] ");
  }

  void request(req::Body body) {
    if (pending_.size() >= kMaxPending) {
      notice("the server is not answering; request not sent");
      return;
    }
    const std::int64_t id = next_id_++;
    pending_.emplace(id, body);
    try {
      connection_->send(req::Request{RequestId{id}, std::move(body)});
    } catch (const ClientError& e) {
      // The server has stopped reading; say so and keep the terminal usable (Ctrl-D leaves).
      pending_.erase(id);
      notice(std::string("not sent: ") + e.what());
    }
  }

  awaitable<Quit> read_input() {
    for (;;) {
      std::optional<std::string> line = co_await editor_.next_line();
      if (!line) co_return Quit{};  // Ctrl-D
      Command command = parse_input(*line, current_room_);
      if (std::holds_alternative<ShowHelp>(command)) {
        show(std::string(help_text()));
      } else if (auto* error = std::get_if<InputError>(&command)) {
        notice(error->message);
      } else if (auto* send = std::get_if<SendRequest>(&command)) {
        if (auto* quit = std::get_if<req::Quit>(&send->body)) co_return Quit{quit->reason};
        if (auto* say = std::get_if<req::Say>(&send->body))
          editor_.replace_entered(render_own_say(say->room, nick_, say->text, context()));
        if (auto* msg = std::get_if<req::Msg>(&send->body))
          editor_.replace_entered(render_own_msg(msg->to, msg->text, context()));
        request(std::move(send->body));
      }
    }
  }

  // What an ack confirms: the client's picture of its nick and rooms follows the server's.
  void confirmed(const req::Body& body) {
    if (auto* nick = std::get_if<req::Nick>(&body)) {
      nick_ = nick->nick;
      notice("you are now " + paint_nick(nick_, options_.colour));
    } else if (auto* join = std::get_if<req::Join>(&body)) {
      rooms_[fold_name(join->room)] = join->room;
      current_room_ = join->room;
      update_prompt();
      notice("you joined #" + sanitize(join->room) + " (talking there now)");
    } else if (auto* part = std::get_if<req::Part>(&body)) {
      rooms_.erase(fold_name(part->room));
      if (fold_name(current_room_) == fold_name(part->room))
        current_room_ = rooms_.empty() ? std::string() : rooms_.begin()->second;
      update_prompt();
      notice("you left #" + sanitize(part->room));
    }
  }

  static std::string refused_what(const req::Body& body) { return refused_request(body); }

  void on_event(const evt::Event& event) {
    const RequestId* id = nullptr;
    if (auto* ack = std::get_if<evt::Ack>(&event)) id = &ack->id;
    if (auto* error = std::get_if<evt::Error>(&event)) id = &error->id;
    if (id) {
      const auto* number = std::get_if<std::int64_t>(id);
      auto it = number ? pending_.find(*number) : pending_.end();
      if (it != pending_.end()) {
        const req::Body body = std::move(it->second);
        pending_.erase(it);
        if (auto* error = std::get_if<evt::Error>(&event)) {
          notice("cannot " + refused_what(body) + ": " +
                 describe_error(*error, connection_->welcome().max_message_bytes));
        } else {
          confirmed(body);
        }
        return;
      }
    } else if (auto* reply = std::get_if<evt::Who>(&event); reply) {
      if (auto* n = std::get_if<std::int64_t>(&reply->id)) pending_.erase(*n);
    } else if (auto* rooms = std::get_if<evt::Rooms>(&event); rooms) {
      if (auto* n = std::get_if<std::int64_t>(&rooms->id)) pending_.erase(*n);
    }
    if (auto text = render_event(event, context())) show(*text);
    if (auto* reply = std::get_if<evt::Who>(&event); reply)
      follow_page(reply->next, [&](std::string after) {
        req::Who more{reply->room};
        more.after = std::move(after);
        return req::Body{std::move(more)};
      });
    if (auto* rooms = std::get_if<evt::Rooms>(&event); rooms)
      follow_page(rooms->next, [](std::string after) {
        req::Rooms more;
        more.after = std::move(after);
        return req::Body{std::move(more)};
      });
  }

  // The rest of a listing that stopped early: asked for once its page is shown.
  template <typename MakeRequest>
  void follow_page(const std::optional<std::string>& next, MakeRequest make_request) {
    if (!next) {
      pages_followed_ = 0;
      return;
    }
    if (++pages_followed_ > kMaxPagesFollowed) {
      notice("listing cut short after " + std::to_string(kMaxPagesFollowed) + " pages");
      pages_followed_ = 0;
      return;
    }
    request(make_request(*next));
  }

  awaitable<Exit> receive_events() {
    for (;;) {
      Received received = co_await connection_->receive();
      if (auto* event = std::get_if<ReceivedEvent>(&received)) {
        on_event(event->event);
        continue;
      }
      // Exit 6 only for the server's close record; a lost or broken connection is 3.
      const SessionEnd end = session_end_of(received);
      notice(end.message);
      co_return end.exit;
    }
  }

  awaitable<void> watch_signals() {
    asio::signal_set signals(connection_->get_executor(), SIGINT, SIGTERM, SIGWINCH);
    for (;;) {
      auto [ec, signo] = co_await signals.async_wait(use_tuple);
      if (ec || signo != SIGWINCH) co_return;
      editor_.resize();
    }
  }

  std::shared_ptr<Connection> connection_;
  const InteractiveOptions& options_;
  LineEditor editor_;
  std::string nick_;
  std::string current_room_;
  std::map<std::string, std::string> rooms_;  // folded name -> as joined
  std::map<std::int64_t, req::Body> pending_;
  std::int64_t next_id_ = 1;
  std::size_t pages_followed_ = 0;
};

}  // namespace

awaitable<Exit> run_interactive(std::shared_ptr<Connection> connection,
                                const InteractiveOptions& options) {
  InteractiveRun run(std::move(connection), options);
  co_return co_await run.run();
}

}  // namespace parley::client
