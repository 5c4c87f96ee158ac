#include "interactive.hpp"

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <csignal>
#include <ctime>
#include <map>
#include <random>
#include <set>
#include <vector>

#include "commands.hpp"
#include "guarded.hpp"
#include "line_editor.hpp"
#include "parley/names.hpp"
#include "reconnect.hpp"
#include "render.hpp"
#include "scripted.hpp"
#include "send_queue.hpp"
#include "session_end.hpp"
#include "utf8.hpp"

namespace parley::client {

namespace asio = boost::asio;
using asio::awaitable;
using namespace asio::experimental::awaitable_operators;
using Clock = std::chrono::steady_clock;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
// Requests not yet answered: a person types slowly, but a server that never answers (or a
// paste of a whole file) must not make this grow without end.
constexpr std::size_t kMaxUnanswered = 1024;
// A listing in pages (PROTOCOL.md 6.5) is asked for page by page; a server that never ends one
// is cut off after this many.
constexpr std::size_t kMaxPagesFollowed = 100;
// Lines waiting for the server shown above the input line; beyond that, a count.
constexpr std::size_t kStatusRows = 5;
// A second Ctrl-C on an empty line within this time leaves.
constexpr std::chrono::seconds kSecondInterrupt{2};
// Nicks remembered per room for completion (a room's members, as far as we have seen them).
constexpr std::size_t kMaxMembersKept = 5000;

std::string clock_now() {
  return clock_of(std::time(nullptr));
}

std::string hash_room(std::string_view room) {
  return "#" + sanitize(room);
}

class InteractiveRun {
 public:
  InteractiveRun(std::shared_ptr<Connection> connection, const InteractiveOptions& options)
      : connection_(std::move(connection)),
        options_(options),
        editor_(connection_->get_executor(), options_.colour),
        queue_(Pacer::for_welcome(connection_->welcome(), Clock::now()), kMaxUnanswered),
        wake_sender_(connection_->get_executor()),
        nick_(connection_->welcome().nick) {
    update_prompt();
    editor_.set_completer(
        [this](std::string_view before, std::string_view word) { return complete(before, word); });
  }

  awaitable<Exit> run() {
    if (options_.nick) {
      wanted_nick_ = *options_.nick;
      enqueue(req::Nick{*options_.nick});
    }
    std::vector<std::string> rooms;
    for (const auto& room : options_.rooms)
      rooms.emplace_back(room_name(room));
    join(rooms);
    for (;;) {
      // Every branch is guarded: `||` waits for the first branch to *succeed*, so one that
      // threw would leave the others running forever (guarded.hpp).
      auto outcome = co_await (guarded(read_input()) || guarded(receive_events()) ||
                               guarded(watch_signals()) || guarded(send_paced()));
      rethrow_branch_error(outcome);
      if (!ending_) {
        co_await leave(*connection_, std::move(quit_reason_));
        co_return Exit::ok;
      }
      if (!ending_->may_come_back || !options_.reconnect ||
          options_.reconnect_for <= std::chrono::milliseconds::zero())
        co_return ending_->exit;
      // Away: what is typed meanwhile waits in the queue; the user may still leave.
      std::shared_ptr<Connection> next;
      auto away =
          co_await (guarded(read_input()) || guarded(watch_signals()) || guarded(come_back(next)));
      rethrow_branch_error(away);
      if (!next) co_return away.index() == 2 ? Exit::connect : Exit::ok;
      resume(std::move(next));
    }
  }

 private:
  // ---- showing things

  RenderContext context(bool colour) const {
    RenderContext ctx;
    ctx.colour = colour;
    ctx.current_room = current_room_;
    ctx.clock = clock_now();
    ctx.max_message_bytes = connection_->welcome().max_message_bytes;
    ctx.tag_every_room = rooms_.size() > 1;
    ctx.own_nick = nick_;
    ctx.nick_colours = &colours_;
    for (const auto& room : rooms_)
      ctx.joined.push_back(fold_name(room));
    return ctx;
  }
  RenderContext context() const { return context(options_.colour); }

  void show(const std::string& line) { editor_.print_above(line); }
  void notice(const std::string& text) { show(clock_now() + " -!- " + text); }

  void update_prompt() {
    if (current_room_.empty()) {
      editor_.set_prompt("[no room] ");
      return;
    }
    std::string prompt = "[" + hash_room(current_room_);
    std::string others;
    for (const auto& room : rooms_) {
      if (fold_name(room) == fold_name(current_room_)) continue;
      others += " " + hash_room(room);
      if (auto it = unread_.find(fold_name(room)); it != unread_.end() && it->second > 0)
        others += ":" + std::to_string(it->second);
    }
    if (!others.empty()) prompt += " |" + others;
    editor_.set_prompt(prompt + "] ");
  }

  // The lines typed but not yet confirmed, between the conversation and the input line.
  void update_status() {
    const RenderContext plain = context(false);
    std::vector<std::string> rows;
    std::size_t chat = 0;
    for (const auto& item : queue_.items()) {
      std::optional<std::string> row;
      if (const auto* say = std::get_if<req::Say>(&item.body))
        row = render_own_say(say->room, nick_, say->text, plain, say->action);
      else if (const auto* msg = std::get_if<req::Msg>(&item.body))
        row = render_own_msg(msg->to, msg->text, plain);
      if (!row) continue;
      if (++chat < kStatusRows) rows.push_back(*row + (item.sent ? "  (sending)" : "  (waiting)"));
    }
    if (chat >= kStatusRows) {
      const std::size_t waiting = queue_.waiting();
      rows.push_back("... " + std::to_string(chat - rows.size()) + " more lines; " +
                     std::to_string(waiting) + " waiting to be sent at the server's pace");
    }
    editor_.set_status(std::move(rows));
  }

  // ---- sending

  // Queued and sent at the pace the server allows; false (and a notice) when too many wait.
  bool enqueue(req::Body body) {
    if (!queue_.push(std::move(body), clock_now())) {
      notice(std::to_string(kMaxUnanswered) +
             " requests are waiting for the server already; try again when they are through");
      return false;
    }
    wake_sender_.cancel();
    update_status();
    return true;
  }

  awaitable<void> send_paced() {
    for (;;) {
      const auto now = Clock::now();
      if (auto request = queue_.take(now)) {
        try {
          connection_->send(*request);
        } catch (const ClientError& e) {
          // The server has stopped reading: keep the line and try again later.
          if (auto item = queue_.settle(std::get<std::int64_t>(request->id)))
            queue_.retry(std::move(*item), now);
          notice(std::string("not sent yet: ") + e.what());
        }
        update_status();
        continue;
      }
      const auto wait = queue_.next_in(now);
      wake_sender_.expires_after(wait ? *wait : std::chrono::hours(1));
      co_await wake_sender_.async_wait(use_tuple);  // or woken early by enqueue()
    }
  }

  // ---- what the user does

  awaitable<void> read_input() {
    for (;;) {
      const Input input = co_await editor_.next_input();
      if (std::holds_alternative<InputEnd>(input)) co_return;  // Ctrl-D
      if (std::holds_alternative<InputInterrupt>(input)) {
        if (interrupted()) co_return;
      } else if (const auto* key = std::get_if<InputRoomKey>(&input)) {
        switch_by_key(*key);
      } else if (!take_line(std::get<InputLine>(input).text)) {
        co_return;  // /quit
      }
    }
  }

  // False when the line asks to leave.
  bool take_line(const std::string& line) {
    Command command = parse_input(line, current_room_);
    if (std::holds_alternative<ShowHelp>(command)) {
      show(std::string(help_text()));
    } else if (const auto* error = std::get_if<InputError>(&command)) {
      notice(error->message);
    } else if (const auto* rooms = std::get_if<JoinRooms>(&command)) {
      join(rooms->rooms);
    } else if (const auto* to = std::get_if<SwitchRoom>(&command)) {
      if (const auto* room = joined(to->room))
        switch_to(*room);
      else
        notice("you are not in " + hash_room(to->room) + " (/join " + sanitize(to->room) +
               " first)");
    } else if (const auto* ignore = std::get_if<Ignore>(&command)) {
      toggle_ignore(ignore->nick);
    } else if (auto* send = std::get_if<SendRequest>(&command)) {
      if (auto* quit = std::get_if<req::Quit>(&send->body)) {
        quit_reason_ = quit->reason;
        return false;
      }
      if (auto* say = std::get_if<req::Say>(&send->body)) {
        say_in_pieces(*say, line);
      } else if (!enqueue(std::move(send->body))) {
        editor_.restore(line);
      }
    }
    return true;
  }

  // A line longer than the server takes goes as several messages, cut between characters.
  void say_in_pieces(const req::Say& say, const std::string& line) {
    const std::size_t max = connection_->welcome().max_message_bytes;
    std::vector<std::string> pieces;
    for (std::string_view rest = say.text; !rest.empty();) {
      const std::string_view piece = max ? split_point(rest, max) : rest;
      pieces.emplace_back(piece);
      rest.remove_prefix(piece.size());
    }
    if (queue_.items().size() + pieces.size() > kMaxUnanswered) {
      notice("too many lines are waiting for the server; your line is kept: send it later");
      editor_.restore(line);
      return;
    }
    if (pieces.size() > 1)
      notice("that line is longer than the server's " + std::to_string(max) +
             " bytes: sending it as " + std::to_string(pieces.size()) + " messages");
    for (auto& piece : pieces)
      enqueue(req::Say{say.room, std::move(piece), say.action});
  }

  void join(const std::vector<std::string>& rooms) {
    for (const auto& room : rooms) {
      if (const auto* already = joined(room)) {
        switch_to(*already);
        notice("you are already in " + hash_room(*already) + " (talking there now)");
      } else {
        enqueue(req::Join{room});
      }
    }
  }

  const std::string* joined(std::string_view room) const {
    for (const auto& r : rooms_)
      if (fold_name(r) == fold_name(room)) return &r;
    return nullptr;
  }

  void switch_to(const std::string& room) {
    if (fold_name(room) == fold_name(current_room_)) return;
    current_room_ = room;
    unread_[fold_name(room)] = 0;
    update_prompt();
  }

  void switch_by_key(const InputRoomKey& key) {
    if (rooms_.empty()) return;
    if (key.index > 0) {
      if (static_cast<std::size_t>(key.index) <= rooms_.size())
        switch_to(rooms_[static_cast<std::size_t>(key.index) - 1]);
      return;
    }
    std::size_t at = 0;
    while (at < rooms_.size() && fold_name(rooms_[at]) != fold_name(current_room_))
      ++at;
    const std::size_t n = rooms_.size();
    if (at == n) at = 0;
    switch_to(rooms_[key.step > 0 ? (at + 1) % n : (at + n - 1) % n]);
  }

  void toggle_ignore(const std::optional<std::string>& nick) {
    if (!nick) {
      if (ignored_.empty()) {
        notice("you ignore nobody (/ignore NICK hides NICK's lines)");
        return;
      }
      std::string list;
      for (const auto& [folded, shown] : ignored_)
        list += (list.empty() ? "" : ", ") + shown;
      notice("you ignore " + sanitize(list) + " (/ignore NICK again to stop)");
      return;
    }
    if (ignored_.erase(fold_name(*nick)) > 0) {
      notice("you see " + sanitize(*nick) + "'s lines again");
    } else {
      ignored_.emplace(fold_name(*nick), *nick);
      notice("you ignore " + sanitize(*nick) + " for this session (/ignore " + sanitize(*nick) +
             " again to stop)");
    }
  }

  bool is_ignored(std::string_view nick) const { return ignored_.contains(fold_name(nick)); }

  // Ctrl-C: clears a search or the line; on an empty line, a hint, and a second one leaves.
  bool interrupted() {
    if (editor_.interrupt() != LineEditor::Interrupted::nothing) return false;
    const auto now = Clock::now();
    if (last_interrupt_ && now - *last_interrupt_ < kSecondInterrupt) return true;
    last_interrupt_ = now;
    notice("Ctrl-C again or /quit to leave");
    return false;
  }

  std::vector<std::string> complete(std::string_view before, std::string_view word) const {
    std::vector<std::string> out;
    const auto starts = [&](std::string_view candidate, std::string_view prefix) {
      return fold_name(candidate.substr(0, prefix.size())) == fold_name(prefix);
    };
    if (before.empty() && word.starts_with('/')) {
      for (const auto& c : command_names())
        if (c.starts_with(word)) out.push_back(c);
      return out;
    }
    const bool room_wanted = word.starts_with('#') || before.starts_with("/join ") ||
                             before.starts_with("/part ") || before.starts_with("/switch ") ||
                             before.starts_with("/who ");
    if (room_wanted) {
      const std::string_view bare = room_name(word);
      for (const auto& room : rooms_)
        if (starts(room, bare)) out.push_back((word.starts_with('#') ? "#" : "") + room);
      return out;
    }
    auto it = members_.find(fold_name(current_room_));
    if (it == members_.end()) return out;
    for (const auto& [folded, nick] : it->second)
      if (folded != fold_name(nick_) && starts(nick, word))
        out.push_back(before.empty() ? nick + ":" : nick);
    return out;
  }

  // ---- what the server says

  void confirmed(const SendQueue::Item& item, const evt::Ack& ack) {
    if (const auto* say = std::get_if<req::Say>(&item.body)) {
      if (ack.seq) cursor_.advance(say->room, *ack.seq);
      RenderContext ctx = context();
      ctx.clock = item.clock;
      show(render_own_say(say->room, nick_, say->text, ctx, say->action));
    } else if (const auto* msg = std::get_if<req::Msg>(&item.body)) {
      RenderContext ctx = context();
      ctx.clock = item.clock;
      show(render_own_msg(msg->to, msg->text, ctx));
    } else if (const auto* nick = std::get_if<req::Nick>(&item.body)) {
      rename_member(nick_, nick->nick);
      nick_ = nick->nick;
      if (!wanted_nick_ || fold_name(*wanted_nick_) == fold_name(nick->nick))
        wanted_nick_ = nick->nick;
      notice("you are now " + paint_nick(nick_, options_.colour, &colours_));
    } else if (const auto* join = std::get_if<req::Join>(&item.body)) {
      rooms_.push_back(join->room);
      if (rejoining_.erase(fold_name(join->room)) > 0) {
        // Back in a room after a reconnect: the current room stays what it was.
        if (current_room_.empty()) current_room_ = join->room;
        update_prompt();
        notice("back in " + hash_room(join->room));
        return;
      }
      // The room's last seq: history after a reconnect starts there.
      if (ack.seq && !cursor_.last(join->room)) cursor_.advance(join->room, *ack.seq);
      current_room_ = join->room;
      update_prompt();
      notice("you joined " + hash_room(join->room) + " (talking there now)");
      enqueue(req::Who{join->room});  // who is there
    } else if (const auto* part = std::get_if<req::Part>(&item.body)) {
      std::erase_if(rooms_,
                    [&](const std::string& r) { return fold_name(r) == fold_name(part->room); });
      members_.erase(fold_name(part->room));
      if (fold_name(current_room_) == fold_name(part->room))
        current_room_ = rooms_.empty() ? std::string() : rooms_.back();
      update_prompt();
      notice("you left " + hash_room(part->room) +
             (current_room_.empty() ? std::string(" (/join ROOM to talk again)")
                                    : " (talking in " + hash_room(current_room_) + " now)"));
    }
  }

  void refused(const SendQueue::Item& item, const evt::Error& error) {
    const std::string why = describe_error(error, connection_->welcome().max_message_bytes);
    if (const auto* nick = std::get_if<req::Nick>(&item.body);
        nick && error.code == ErrorCode::nick_taken && !error.unknown_code && wanted_nick_ &&
        fold_name(nick->nick) == fold_name(*wanted_nick_)) {
      // After a reconnect, most likely our own old session, not yet timed out: use a variant
      // and take the nick back when that session goes (follow() sees it quit).
      notice(sanitize(nick->nick) + " is still taken (by your old session, if it has not timed " +
             "out yet); you will get it back when it goes");
      std::string variant = nick->nick.substr(0, 31) + "_";
      if (fold_name(variant) != fold_name(nick_)) enqueue(req::Nick{std::move(variant)});
      return;
    }
    if (const auto* say = std::get_if<req::Say>(&item.body)) {
      RenderContext ctx = context();
      ctx.clock = item.clock;
      show(render_own_say(say->room, nick_, say->text, ctx, say->action) + "  [not sent]");
      notice("your line to " + hash_room(say->room) + " was not sent: " + why);
    } else if (const auto* msg = std::get_if<req::Msg>(&item.body)) {
      RenderContext ctx = context();
      ctx.clock = item.clock;
      show(render_own_msg(msg->to, msg->text, ctx) + "  [not sent]");
      notice("your message to " + sanitize(msg->to) + " was not sent: " + why);
    } else {
      notice("cannot " + refused_request(item.body) + ": " + why);
    }
  }

  // The client's picture of who is where, for Tab completion.
  void remember_member(std::string_view room, std::string_view nick) {
    auto& members = members_[fold_name(room)];
    if (members.size() < kMaxMembersKept) members.emplace(fold_name(nick), std::string(nick));
  }
  void forget_member(std::string_view nick) {
    for (auto& [room, members] : members_)
      members.erase(fold_name(nick));
    colours_.forget(nick);
  }
  void forget_member(std::string_view room, std::string_view nick) {
    members_[fold_name(room)].erase(fold_name(nick));
    for (const auto& [other, members] : members_)
      if (members.contains(fold_name(nick))) return;
    colours_.forget(nick);  // out of view: its colour may go to someone else
  }
  void rename_member(std::string_view old_nick, std::string_view new_nick) {
    for (auto& [room, members] : members_)
      if (members.erase(fold_name(old_nick)) > 0) members.emplace(fold_name(new_nick), new_nick);
    colours_.rename(old_nick, new_nick);
  }

  void follow(const evt::Event& event) {
    if (const auto* joined_event = std::get_if<evt::Joined>(&event)) {
      remember_member(joined_event->room, joined_event->nick);
    } else if (const auto* parted = std::get_if<evt::Parted>(&event)) {
      forget_member(parted->room, parted->nick);
    } else if (const auto* quit = std::get_if<evt::Quit>(&event)) {
      forget_member(quit->nick);
      // The session that held our nick has gone: take it back.
      if (wanted_nick_ && fold_name(quit->nick) == fold_name(*wanted_nick_) &&
          fold_name(nick_) != fold_name(*wanted_nick_))
        enqueue(req::Nick{*wanted_nick_});
    } else if (const auto* renamed = std::get_if<evt::NickChanged>(&event)) {
      rename_member(renamed->old_nick, renamed->new_nick);
    } else if (const auto* who = std::get_if<evt::Who>(&event)) {
      for (const auto& nick : who->nicks)
        remember_member(who->room, nick);
    }
  }

  // An ack or error for one of ours: settles it. False when the event answers nothing we sent.
  bool settle(const evt::Event& event) {
    const RequestId* id = nullptr;
    if (const auto* ack = std::get_if<evt::Ack>(&event)) id = &ack->id;
    if (const auto* error = std::get_if<evt::Error>(&event)) id = &error->id;
    if (const auto* who = std::get_if<evt::Who>(&event)) id = &who->id;
    if (const auto* rooms = std::get_if<evt::Rooms>(&event)) id = &rooms->id;
    if (const auto* end = std::get_if<evt::HistoryEnd>(&event)) id = &end->id;
    const auto* number = id ? std::get_if<std::int64_t>(id) : nullptr;
    if (!number) return false;
    std::optional<SendQueue::Item> item = queue_.settle(*number);
    if (!item) return false;
    if (const auto* error = std::get_if<evt::Error>(&event)) {
      if (error->code == ErrorCode::rate_limited && !error->unknown_code) {
        queue_.retry(std::move(*item), Clock::now());  // sent again, slower; nothing is lost
        wake_sender_.cancel();
      } else {
        refused(*item, *error);
      }
    } else if (const auto* ack = std::get_if<evt::Ack>(&event)) {
      confirmed(*item, *ack);
    } else {
      return false;  // a listing: shown below like any other
    }
    update_status();
    return true;
  }

  void on_event(const evt::Event& event) {
    follow(event);
    if (settle(event)) return;
    if (const auto* goaway = std::get_if<evt::GoAway>(&event)) {
      goaway_ = std::chrono::milliseconds(goaway->reconnect_after_ms);
      notice("the server is going away (" + sanitize(goaway->reason) + "); back in about " +
             seconds_text(*goaway_));
      return;
    }
    if (const auto* end = std::get_if<evt::HistoryEnd>(&event)) {
      end_of_missed(*end);
      return;
    }
    if (const auto* message = std::get_if<evt::Message>(&event)) {
      // Seen already (a replay overlapping what arrived live): not shown twice.
      if (message->seq != 0 && !cursor_.advance(message->room, message->seq)) return;
      if (message->replay && replaying_.insert(fold_name(message->room)).second)
        notice("--- missed in " + hash_room(message->room) + " while away ---");
      if (is_ignored(message->from)) return;
      if (fold_name(message->room) != fold_name(current_room_)) {
        ++unread_[fold_name(message->room)];
        update_prompt();
      }
      if (mentions(message->text, nick_)) editor_.bell();
    } else if (const auto* direct = std::get_if<evt::Direct>(&event)) {
      if (is_ignored(direct->from)) return;
      editor_.bell();
    }
    if (auto text = render_event(event, context())) show(*text);
    if (const auto* reply = std::get_if<evt::Who>(&event))
      follow_page(reply->next, [&](std::string after) {
        req::Who more{reply->room};
        more.after = std::move(after);
        return req::Body{std::move(more)};
      });
    if (const auto* rooms = std::get_if<evt::Rooms>(&event))
      follow_page(rooms->next, [](std::string after) {
        req::Rooms more;
        more.after = std::move(after);
        return req::Body{std::move(more)};
      });
  }

  // The end of one history reply (after a reconnect): the gap is closed, or the rest is asked for.
  void end_of_missed(const evt::HistoryEnd& end) {
    const bool shown = replaying_.contains(fold_name(end.room));
    if (end.more && cursor_.last(end.room)) {
      req::History more;
      more.room = end.room;
      more.after = cursor_.last(end.room);
      enqueue(std::move(more));
      return;
    }
    replaying_.erase(fold_name(end.room));
    std::string text = shown ? "--- end of what was missed in " + hash_room(end.room) + " ---"
                             : "nothing was missed in " + hash_room(end.room);
    // Some of the gap was older than the server keeps: say so rather than pretend.
    if (!end.complete) text += " (the server no longer had all of it)";
    notice(text);
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
    enqueue(make_request(*next));
  }

  awaitable<void> receive_events() {
    for (;;) {
      Received received = co_await connection_->receive();
      if (auto* event = std::get_if<ReceivedEvent>(&received)) {
        on_event(event->event);
        continue;
      }
      const SessionEnd end = session_end_of(received);
      notice(end.message);
      Ending ending;
      ending.exit = end.exit;  // 6 for the server's close record, 3 for a lost connection
      ending.may_come_back = !end.close || may_reconnect_after(end.close->code);
      ending_ = ending;
      co_return;
    }
  }

  // ---- coming back (issue 18)

  // Waits (backoff, or the server's goaway) and reconnects; `next` stays empty when it gave up.
  awaitable<void> come_back(std::shared_ptr<Connection>& next) {
    const auto lost_at = Clock::now();
    Backoff backoff(lost_at, options_.reconnect_for);
    if (goaway_) backoff.server_asked(*goaway_);
    asio::steady_timer timer(connection_->get_executor());
    std::uniform_real_distribution<double> unit(0.0, 1.0);
    for (;;) {
      const auto wait = backoff.next(Clock::now(), unit(random_));
      if (!wait) {
        notice("giving up: no server for " + seconds_text(backoff.waited(Clock::now())));
        co_return;
      }
      notice("reconnecting in " + seconds_text(*wait) + " (giving up after " +
             seconds_text(options_.reconnect_for) + " away)");
      timer.expires_after(*wait);
      co_await timer.async_wait(use_tuple);
      try {
        next = co_await options_.reconnect([this](const std::string& text) { notice(text); });
        notice("back after " + seconds_text(backoff.waited(Clock::now())));
        co_return;
      } catch (const ClientError& e) {
        // A changed server key is not a network hiccup: stop, as the first connect would.
        if (e.code() == Exit::host_key || e.code() == Exit::usage) throw;
        notice(std::string("reconnect failed: ") + sanitize(e.what()));
      }
    }
  }

  static std::string seconds_text(std::chrono::milliseconds ms) {
    const auto tenths = (ms.count() + 50) / 100;
    if (tenths < 600) return std::to_string(tenths / 10) + "." + std::to_string(tenths % 10) + " s";
    const auto s = (ms.count() + 500) / 1000;
    return std::to_string(s / 60) + " min " + std::to_string(s % 60) + " s";
  }

  // A new session where the old one was: its nick (taken back with takeover when signed with a
  // key: the old session may be a ghost), its rooms, then what was typed and not confirmed.
  void resume(std::shared_ptr<Connection> next) {
    connection_ = std::move(next);
    ending_.reset();
    goaway_.reset();
    ResumeState state;
    state.nick = wanted_nick_.value_or(nick_);
    state.has_identity = options_.has_identity;
    state.rooms = rooms_;
    rejoining_.clear();
    for (const auto& room : rooms_)
      rejoining_.insert(fold_name(room));
    rooms_.clear();
    nick_ = connection_->welcome().nick;
    queue_.restart(Pacer::for_welcome(connection_->welcome(), Clock::now()),
                   resume_requests(state, cursor_, has_feature("history")), clock_now());
    update_prompt();
    update_status();
  }

  bool has_feature(std::string_view name) const {
    const auto& features = connection_->welcome().features;
    return std::find(features.begin(), features.end(), name) != features.end();
  }

  awaitable<void> watch_signals() {
    // SIGQUIT (Ctrl-\) is ignored, as an interactive bash does: no key but Ctrl-D, /quit and a
    // second Ctrl-C leaves. Ctrl-Z gives the terminal back in its own mode before stopping.
    asio::signal_set signals(connection_->get_executor(), SIGINT, SIGTERM, SIGWINCH);
    signals.add(SIGQUIT);
    signals.add(SIGTSTP);
    for (;;) {
      auto [ec, signo] = co_await signals.async_wait(use_tuple);
      if (ec || signo == SIGTERM) co_return;
      if (signo == SIGWINCH) editor_.resize();
      if (signo == SIGTSTP) editor_.suspend();
      if (signo == SIGINT && interrupted()) co_return;
    }
  }

  std::shared_ptr<Connection> connection_;
  const InteractiveOptions& options_;
  LineEditor editor_;
  SendQueue queue_;
  asio::steady_timer wake_sender_;
  std::string nick_;
  std::string current_room_;
  std::vector<std::string> rooms_;  // as joined, in the order joined (Alt-1 is the first)
  std::map<std::string, std::size_t> unread_;  // folded room -> lines not seen
  std::map<std::string, std::map<std::string, std::string>> members_;  // room -> folded -> nick
  std::map<std::string, std::string> ignored_;                         // folded -> as typed
  mutable NickColours colours_;  // assigned as nicks are shown
  std::optional<Clock::time_point> last_interrupt_;
  struct Ending {
    Exit exit = Exit::connect;  // a lost connection; a close record is Exit::closed
    bool may_come_back = true;
  };
  std::optional<Ending> ending_;                     // set when the session has ended
  std::optional<std::chrono::milliseconds> goaway_;  // the server said when to come back
  std::optional<std::string> wanted_nick_;           // the nick to take back after a reconnect
  std::set<std::string> rejoining_;                  // folded rooms being joined again
  std::set<std::string> replaying_;                  // folded rooms whose missed lines are showing
  RoomCursor cursor_;
  std::mt19937_64 random_{std::random_device{}()};
  std::optional<std::string> quit_reason_;
  std::size_t pages_followed_ = 0;
};

}  // namespace

awaitable<Exit> run_interactive(std::shared_ptr<Connection> connection,
                                const InteractiveOptions& options) {
  InteractiveRun run(std::move(connection), options);
  co_return co_await run.run();
}

}  // namespace parley::client
