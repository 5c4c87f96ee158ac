#include "render.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <ctime>
#include <functional>

#include "parley/concat.hpp"
#include "parley/names.hpp"

namespace parley::client {
namespace {

std::string colour(std::string_view text, int code, bool on) {
  if (!on) return std::string(text);
  return "\x1b[" + std::to_string(code) + "m" + std::string(text) + "\x1b[0m";
}

std::string dim(std::string_view text, bool on) {
  return colour(text, 2, on);
}

std::string room_tag(std::string_view room, const RenderContext& ctx) {
  if (!ctx.tag_every_room && fold_name(room) == fold_name(ctx.current_room)) return {};
  return dim(concat("[", sanitize(room), "] "), ctx.colour);
}

std::string line(std::string_view clock, std::string_view body, bool colour_on) {
  return dim(clock, colour_on) + " " + std::string(body);
}

std::string notice(const RenderContext& ctx, std::string_view text) {
  return line(ctx.clock, dim("-!- ", ctx.colour) + std::string(text), ctx.colour);
}

std::string join_names(const std::vector<std::string>& names, bool colour_on,
                       NickColours* colours) {
  std::string out;
  for (const auto& n : names) {
    if (!out.empty()) out += ", ";
    out += paint_nick(n, colour_on, colours);
  }
  return out.empty() ? "(nobody)" : out;
}

std::string id_suffix(std::string_view room) {
  return concat("#", sanitize(room));
}

}  // namespace

std::string local_clock(std::string_view rfc3339) {
  std::tm utc{};
  // "YYYY-MM-DDTHH:MM:SS" then fraction and "Z": the server's format_timestamp().
  const std::string text(rfc3339.substr(0, 19));
  if (text.size() == 19 && ::strptime(text.c_str(), "%Y-%m-%dT%H:%M:%S", &utc) != nullptr &&
      rfc3339.ends_with('Z')) {
    return clock_of(::timegm(&utc));
  }
  return sanitize(rfc3339);
}

std::string clock_of(std::time_t when) {
  std::tm local{};
  char buf[16] = "--:--:--";
  if (::localtime_r(&when, &local)) std::strftime(buf, sizeof buf, "%H:%M:%S", &local);
  return buf;
}

bool mentions(std::string_view text, std::string_view nick) {
  if (nick.empty() || text.size() < nick.size()) return false;
  const std::string folded_text = fold_name(text);
  const std::string folded_nick = fold_name(nick);
  const auto is_name_char = [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
  };
  for (auto at = folded_text.find(folded_nick); at != std::string::npos;
       at = folded_text.find(folded_nick, at + 1)) {
    const std::size_t end = at + folded_nick.size();
    // A '.' right after the nick ends a sentence ("thanks bob.").
    const bool starts_word = at == 0 || !is_name_char(folded_text[at - 1]);
    const bool ends_word = end == folded_text.size() || !is_name_char(folded_text[end]) ||
                           (folded_text[end] == '.' &&
                            (end + 1 == folded_text.size() || !is_name_char(folded_text[end + 1])));
    if (starts_word && ends_word) return true;
  }
  return false;
}

namespace {
// Readable on dark and light backgrounds alike.
constexpr int kPalette[] = {31,  32,  33,  35,  36,  37,  38,  39,  40,  69,  75,  99,
                            105, 130, 135, 141, 160, 166, 170, 172, 178, 197, 202, 208};
constexpr std::size_t kColours = std::size(kPalette);

std::size_t preferred_colour(std::string_view folded) {
  return std::hash<std::string_view>{}(folded) % kColours;
}
}  // namespace

std::size_t NickColours::of(std::string_view nick) {
  const std::string folded = fold_name(nick);
  if (auto it = assigned_.find(folded); it != assigned_.end()) return it->second;
  if (assigned_.size() >= kMaxRemembered) assigned_.clear();
  std::array<bool, kColours> taken{};
  for (const auto& [other, colour] : assigned_)
    taken[colour] = true;
  std::size_t colour = preferred_colour(folded);
  for (std::size_t step = 0; step < kColours && taken[colour]; ++step)
    colour = (colour + 1) % kColours;
  if (taken[colour]) colour = preferred_colour(folded);  // all taken: share
  assigned_.emplace(folded, colour);
  return colour;
}

void NickColours::forget(std::string_view nick) {
  assigned_.erase(fold_name(nick));
}

void NickColours::rename(std::string_view old_nick, std::string_view new_nick) {
  auto it = assigned_.find(fold_name(old_nick));
  if (it == assigned_.end()) return;
  const std::size_t colour = it->second;
  assigned_.erase(it);
  assigned_.emplace(fold_name(new_nick), colour);
}

std::string paint_nick(std::string_view nick, bool colour_on, NickColours* colours) {
  // Chosen by the folded nick, so that "Alice" and "alice" (one nick to the server) look the
  // same.
  if (!colour_on) return sanitize(nick);
  const std::size_t index = colours ? colours->of(nick) : preferred_colour(fold_name(nick));
  return "\x1b[38;5;" + std::to_string(kPalette[index]) + "m" + sanitize(nick) + "\x1b[0m";
}

std::optional<std::string> render_event(const evt::Event& event, const RenderContext& ctx) {
  const bool c = ctx.colour;
  return std::visit(
      [&](const auto& e) -> std::optional<std::string> {
        using T = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<T, evt::Message>) {
          // A line that names the user stands out (reverse video) as in irssi; 6.3: an action
          // reads "* nick waves", as IRC clients show /me.
          const bool named = !ctx.own_nick.empty() && mentions(e.text, ctx.own_nick);
          const std::string who = paint_nick(e.from, c, ctx.nick_colours);
          const std::string said = e.action ? "* " + who + " " : "<" + who + "> ";
          return line(local_clock(e.ts),
                      room_tag(e.room, ctx) + said +
                          (named ? colour(sanitize(e.text), 7, c) : sanitize(e.text)),
                      c);
        } else if constexpr (std::is_same_v<T, evt::Direct>) {
          const std::string who = paint_nick(e.from, c, ctx.nick_colours);
          if (e.action)
            return line(local_clock(e.ts), concat("* ", who, " ", sanitize(e.text), " (to you)"),
                        c);
          return line(local_clock(e.ts), concat("*", who, "* ", sanitize(e.text)), c);
        } else if constexpr (std::is_same_v<T, evt::Joined>) {
          return notice(ctx,
                        paint_nick(e.nick, c, ctx.nick_colours) + " joined " + id_suffix(e.room));
        } else if constexpr (std::is_same_v<T, evt::Parted>) {
          return notice(ctx,
                        paint_nick(e.nick, c, ctx.nick_colours) + " left " + id_suffix(e.room));
        } else if constexpr (std::is_same_v<T, evt::Quit>) {
          std::string text = paint_nick(e.nick, c, ctx.nick_colours) + " quit";
          if (e.reason && !e.reason->empty()) text += " (" + sanitize(*e.reason) + ")";
          return notice(ctx, text);
        } else if constexpr (std::is_same_v<T, evt::NickChanged>) {
          return notice(ctx, paint_nick(e.old_nick, c, ctx.nick_colours) + " is now known as " +
                                 paint_nick(e.new_nick, c, ctx.nick_colours));
        } else if constexpr (std::is_same_v<T, evt::Who>) {
          return notice(
              ctx, "in " + id_suffix(e.room) + ": " + join_names(e.nicks, c, ctx.nick_colours));
        } else if constexpr (std::is_same_v<T, evt::Rooms>) {
          if (e.rooms.empty()) return notice(ctx, "no rooms");
          std::string text = "rooms:";
          // Ours are marked, as irssi marks the channels one is on.
          for (const auto& r : e.rooms) {
            const bool ours = std::find(ctx.joined.begin(), ctx.joined.end(), fold_name(r.name)) !=
                              ctx.joined.end();
            text += concat(" ", ours ? "*" : "", id_suffix(r.name), " (", std::to_string(r.members),
                           ")");
          }
          return notice(ctx, text);
        } else if constexpr (std::is_same_v<T, evt::Error>) {
          return notice(ctx, colour("error: ", 31, c) + describe_error(e, ctx.max_message_bytes));
        } else if constexpr (std::is_same_v<T, evt::Notice>) {
          // The operator's words (6.6), set apart from chat.
          std::string text = colour("notice", 33, c);
          if (e.room) text += " to " + id_suffix(*e.room);
          return notice(ctx, text + ": " + sanitize(e.text));
        } else if constexpr (std::is_same_v<T, evt::Welcome>) {
          return notice(ctx, "you are " + paint_nick(e.nick, c, ctx.nick_colours) + " on " +
                                 sanitize(e.server) + " (" + sanitize(e.suite) + ")");
        } else {
          return std::nullopt;  // ack, pong, ping: bookkeeping, not conversation
        }
      },
      event);
}

std::string render_own_say(std::string_view room, std::string_view nick, std::string_view text,
                           const RenderContext& ctx, bool action) {
  const std::string who = paint_nick(nick, ctx.colour, ctx.nick_colours);
  return line(ctx.clock,
              room_tag(room, ctx) + (action ? "* " + who + " " : "<" + who + "> ") + sanitize(text),
              ctx.colour);
}

std::string render_own_msg(std::string_view to, std::string_view text, const RenderContext& ctx) {
  return line(ctx.clock,
              "-> *" + paint_nick(to, ctx.colour, ctx.nick_colours) + "* " + sanitize(text),
              ctx.colour);
}

std::string describe_error(const evt::Error& error, std::uint64_t max_message_bytes) {
  if (error.unknown_code) {
    // A code from a later server (PROTOCOL.md 6.0): all we know is that the request failed, so
    // the server's own words are the best explanation there is.
    std::string words = "the server refused the request";
    if (!error.message.empty()) words += ": " + sanitize(error.message);
    return words + " [" + sanitize(*error.unknown_code) + "]";
  }
  std::string words;
  switch (error.code) {
    case ErrorCode::bad_request:
      words = "the server could not understand the request";
      break;
    case ErrorCode::unknown_type:
      words = "the server does not know that request";
      break;
    case ErrorCode::bad_name:
      words = "not a valid name (1 to 32 characters from A-Z a-z 0-9 _ . -)";
      break;
    case ErrorCode::nick_taken:
      words = "someone else has that nick; choose another";
      break;
    case ErrorCode::nick_reserved:
      words = "that nick is reserved for the owner of a registered key";
      break;
    case ErrorCode::not_member:
      words = "you are not in that room (/join it first)";
      break;
    case ErrorCode::no_such_nick:
      words = "nobody has that nick on the server now (check the spelling, or /who)";
      break;
    case ErrorCode::too_long:
      words = "the message is too long";
      if (max_message_bytes) words += " (at most " + std::to_string(max_message_bytes) + " bytes)";
      break;
    case ErrorCode::rate_limited:
      words = "slow down: the server is rate limiting you";
      break;
    case ErrorCode::unavailable:
      // The server's words say what is unavailable (a room limit, a cluster cut off).
      words = "the server cannot do that now";
      if (!error.message.empty()) words += ": " + sanitize(error.message);
      break;
  }
  return words + " [" + std::string(to_string(error.code)) + "]";
}

std::string describe_close(StatusCode code, std::string_view reason) {
  std::string words;
  switch (code) {
    case StatusCode::normal:
      words = "the server ended the session";
      break;
    case StatusCode::timeout:
      words = "the server timed the session out";
      break;
    case StatusCode::auth_failed:
      words = "the server refused our identity";
      break;
    case StatusCode::server_full:
      words = "the server is busy";
      break;
    case StatusCode::policy:
      words = "the server closed the session for breaking its limits";
      break;
    case StatusCode::internal:
      words = "the server failed internally";
      break;
    case StatusCode::replaced:
      words = "another session with your key took this one's place";
      break;
    case StatusCode::kicked:
      words = "the operator ended the session";
      break;
    case StatusCode::bad_message:
    case StatusCode::bad_version:
    case StatusCode::key_digest_mismatch:
    case StatusCode::bad_key:
    case StatusCode::no_common_suite:
      words = "the server reported a protocol error";
      break;
  }
  if (words.empty()) {
    // A close code from a later server (PROTOCOL.md 6.0): a normal end, named by its number.
    words =
        "the server ended the session [code " + std::to_string(static_cast<unsigned>(code)) + "]";
  } else {
    words += " [" + std::string(name_of(code)) + "]";
  }
  if (!reason.empty()) words += ": " + sanitize(reason);
  return words;
}

std::string refused_request(const req::Body& body) {
  if (auto* nick = std::get_if<req::Nick>(&body)) return "take the nick " + sanitize(nick->nick);
  if (auto* join = std::get_if<req::Join>(&body)) return "join #" + sanitize(join->room);
  if (auto* part = std::get_if<req::Part>(&body)) return "leave #" + sanitize(part->room);
  if (auto* say = std::get_if<req::Say>(&body))
    return "send your message to #" + sanitize(say->room);
  if (auto* msg = std::get_if<req::Msg>(&body)) return "send your message to " + sanitize(msg->to);
  if (std::holds_alternative<req::Who>(body)) return "list who is in the room";
  if (std::holds_alternative<req::Rooms>(body)) return "list the rooms";
  return "do that";
}

std::string auth_failed_advice(std::string_view identity_fingerprint) {
  if (identity_fingerprint.empty())
    return "This server admits only authorized keys, and we connected without one. Make a key "
           "with 'parley keygen' (saved as ~/.config/parley/identity.pem, which parley then "
           "uses by itself) and send the fingerprint it prints to the server's operator";
  return concat("This server does not accept our key ", identity_fingerprint,
                ". Send that fingerprint to the server's operator to be added to its "
                "authorized_keys");
}

}  // namespace parley::client
