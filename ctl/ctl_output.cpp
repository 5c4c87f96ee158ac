#include "ctl_output.hpp"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <vector>

namespace parley::ctl {
namespace {

using json = nlohmann::json;
using server::ControlVerb;

std::string text_of(const json& v) {
  if (v.is_string()) return printable(v.get_ref<const std::string&>());
  if (v.is_null()) return "-";
  return printable(v.dump());
}

std::string field(const json& object, const char* name) {
  const auto it = object.find(name);
  return it == object.end() ? "-" : text_of(*it);
}

std::uint64_t number(const json& object, const char* name) {
  const auto it = object.find(name);
  return it != object.end() && it->is_number_unsigned() ? it->get<std::uint64_t>() : 0;
}

// Columns padded to their widest cell, two spaces apart; the last column is not padded.
std::string table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> widths;
  for (const auto& row : rows)
    for (std::size_t i = 0; i < row.size(); ++i) {
      if (widths.size() <= i) widths.push_back(0);
      widths[i] = std::max(widths[i], row[i].size());
    }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (std::size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(widths[i] - row[i].size() + 2, ' ');
    }
    out += line + "\n";
  }
  return out;
}

std::string expiry(const json& expires, std::int64_t now) {
  if (!expires.is_number_integer()) return "never";
  const auto at = expires.get<std::int64_t>();
  const std::time_t t = static_cast<std::time_t>(at);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return std::string(buf) + " (in " +
         format_duration(at > now ? static_cast<std::uint64_t>(at - now) : 0) + ")";
}

std::string render_status(const json& r) {
  std::string listening;
  for (const auto& l : r.value("listening", json::array()))
    listening +=
        (listening.empty() ? "" : ", ") + field(l, "address") + " port " + field(l, "port");
  return table({{"state", field(r, "state")},
                {"pid", field(r, "pid")},
                {"uptime", format_duration(number(r, "uptime_s"))},
                {"fingerprint", field(r, "fingerprint")},
                {"listening", listening.empty() ? "-" : listening},
                {"sessions", field(r, "sessions")},
                {"handshakes", field(r, "handshakes")},
                {"rooms", field(r, "rooms")},
                {"messages relayed", field(r, "messages_relayed")},
                {"bytes in", field(r, "bytes_in")},
                {"bytes out", field(r, "bytes_out")},
                {"bans", field(r, "bans")},
                {"last reload failed", field(r, "last_reload_failed")}});
}

std::string render_sessions(const json& r) {
  std::vector<std::vector<std::string>> rows{
      {"ID", "NICK", "PEER", "SUITE", "IN", "OUT", "AGE", "IDLE", "ROOMS"}};
  for (const auto& s : r.value("sessions", json::array())) {
    std::string rooms;
    for (const auto& room : s.value("rooms", json::array()))
      rooms += (rooms.empty() ? "" : ",") + text_of(room);
    rows.push_back({field(s, "id"), field(s, "nick"), field(s, "peer"), field(s, "suite"),
                    field(s, "bytes_in"), field(s, "bytes_out"),
                    format_duration(number(s, "age_s")), format_duration(number(s, "idle_s")),
                    rooms.empty() ? "-" : rooms});
  }
  return table(rows);
}

std::string render_bans(const json& r, std::int64_t now) {
  std::vector<std::vector<std::string>> rows{{"KIND", "TARGET", "EXPIRES"}};
  for (const auto& b : r.value("bans", json::array()))
    rows.push_back({field(b, "kind"), field(b, "target"), expiry(b.value("expires", json()), now)});
  return table(rows);
}

}  // namespace

int exit_status(const nlohmann::json& reply) {
  if (!reply.is_object()) return kExitNoServer;
  if (reply.value("ok", false) == true) return kExitOk;
  const auto code = reply.find("code");
  if (code != reply.end() && code->is_string() && *code == server::control_code::kForbidden)
    return kExitForbidden;
  return kExitRefused;
}

std::string format_duration(std::uint64_t s) {
  char buf[32];
  if (s < 60) {
    std::snprintf(buf, sizeof buf, "%llus", static_cast<unsigned long long>(s));
  } else if (s < 3600) {
    std::snprintf(buf, sizeof buf, "%llum%02llus", static_cast<unsigned long long>(s / 60),
                  static_cast<unsigned long long>(s % 60));
  } else if (s < 86400) {
    std::snprintf(buf, sizeof buf, "%lluh%02llum", static_cast<unsigned long long>(s / 3600),
                  static_cast<unsigned long long>(s % 3600 / 60));
  } else {
    std::snprintf(buf, sizeof buf, "%llud%02lluh", static_cast<unsigned long long>(s / 86400),
                  static_cast<unsigned long long>(s % 86400 / 3600));
  }
  return buf;
}

std::string printable(std::string_view text) {
  std::string out(text);
  for (char& c : out)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  return out;
}

std::string render(ControlVerb verb, const nlohmann::json& reply, std::int64_t now) {
  if (exit_status(reply) != kExitOk) return "error: " + field(reply, "error") + "\n";
  switch (verb) {
    case ControlVerb::status:
      return render_status(reply);
    case ControlVerb::sessions:
      return render_sessions(reply);
    case ControlVerb::bans:
      return render_bans(reply, now);
    case ControlVerb::kick:
      return "kicked " + field(reply, "nick") + " (session " + field(reply, "session") + ")\n";
    case ControlVerb::ban:
      return "banned " + field(reply, "kind") + " " + field(reply, "target") + ", expires " +
             expiry(reply.value("expires", json()), now) +
             "; sessions ended: " + field(reply, "sessions_ended") + "\n";
    case ControlVerb::unban:
      return "unbanned " + field(reply, "kind") + " " + field(reply, "target") + "\n";
    case ControlVerb::notice:
      return "notice sent to " + field(reply, "recipients") + " sessions\n";
    case ControlVerb::drain:
      return "draining: goaway and close sent to " + field(reply, "sessions") +
             " sessions; parleyd exits when they are gone\n";
  }
  return "\n";
}

}  // namespace parley::ctl
