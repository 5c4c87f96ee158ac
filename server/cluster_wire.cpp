#include "cluster_wire.hpp"

#include <nlohmann/json.hpp>

#include "parley/names.hpp"

namespace parley::server {
namespace {

constexpr std::string_view kRoomToken = ".room.";
constexpr int kVersion = 1;
// A stored message is a say: its text is bounded by max_message_bytes well below this; the
// bound keeps a stray publish from costing a parse of megabytes.
constexpr std::size_t kMaxPayload = 256 * 1024;

std::optional<int> hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return std::nullopt;
}

// nlohmann converts a negative or fractional number to an unsigned one without complaint.
std::uint64_t unsigned_at(const nlohmann::json& j, const char* key) {
  const auto& value = j.at(key);
  if (!value.is_number_unsigned())
    throw nlohmann::json::type_error::create(302, std::string(key) + " is not unsigned", &value);
  return value.get<std::uint64_t>();
}

// Every payload between nodes is one JSON object of this version. `read` takes the object apart
// and returns nullopt for what it refuses; a missing key or a value of the wrong type is refused
// too, never applied half.
template <class T, class Read>
std::optional<T> decode_versioned(std::string_view payload, Read read) {
  if (payload.size() > kMaxPayload) return std::nullopt;
  const auto j = nlohmann::json::parse(payload, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return std::nullopt;
  try {
    if (j.at("v").get<int>() != kVersion) return std::nullopt;
    return read(j);
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;
  }
}

std::string dump(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::strict);
}

std::string hex_of(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out += kHex[c >> 4];
    out += kHex[c & 0xF];
  }
  return out;
}

}  // namespace

std::string room_subject(std::string_view prefix, std::string_view folded_room) {
  return std::string(prefix) + std::string(kRoomToken) + hex_of(folded_room);
}

std::string room_subject_wildcard(std::string_view prefix) {
  return std::string(prefix) + std::string(kRoomToken) + "*";
}

std::optional<std::string> room_of_subject(std::string_view prefix, std::string_view subject) {
  if (!subject.starts_with(prefix)) return std::nullopt;
  subject.remove_prefix(prefix.size());
  if (!subject.starts_with(kRoomToken)) return std::nullopt;
  subject.remove_prefix(kRoomToken.size());
  if (subject.empty() || subject.size() % 2 != 0) return std::nullopt;
  std::string room;
  for (std::size_t i = 0; i < subject.size(); i += 2) {
    const auto high = hex_digit(subject[i]);
    const auto low = hex_digit(subject[i + 1]);
    if (!high || !low) return std::nullopt;
    room += static_cast<char>(*high * 16 + *low);
  }
  // Only what room_subject() makes: a valid, folded name.
  if (!is_valid_name(room) || fold_name(room) != room) return std::nullopt;
  return room;
}

std::string encode(const ClusterMessage& message) {
  nlohmann::json j;
  j["v"] = kVersion;
  j["seq"] = message.seq;
  j["from"] = message.from;
  j["text"] = message.text;
  if (message.action) j["action"] = true;
  j["at_ms"] =
      std::chrono::duration_cast<std::chrono::milliseconds>(message.at.time_since_epoch()).count();
  j["node"] = message.node;
  j["session"] = message.session;
  return dump(j);
}

std::optional<ClusterMessage> decode_cluster_message(std::string_view payload) {
  const auto read = [](const nlohmann::json& j) -> std::optional<ClusterMessage> {
    ClusterMessage message;
    message.seq = unsigned_at(j, "seq");
    message.from = j.at("from").get<std::string>();
    message.text = j.at("text").get<std::string>();
    message.action = j.value("action", false);
    if (!j.at("at_ms").is_number_integer()) return std::nullopt;
    message.at = std::chrono::system_clock::time_point(
        std::chrono::milliseconds(j.at("at_ms").get<std::int64_t>()));
    message.node = j.at("node").get<std::string>();
    message.session = unsigned_at(j, "session");
    if (!is_valid_name(message.from)) return std::nullopt;
    return message;
  };
  return decode_versioned<ClusterMessage>(payload, read);
}

std::string nick_key(std::string_view folded_nick) {
  return hex_of(folded_nick);
}

std::string encode(const DirectoryEntry& entry) {
  nlohmann::json j;
  j["v"] = kVersion;
  j["node"] = entry.node;
  j["process"] = entry.process;
  j["session"] = entry.session;
  j["nick"] = entry.nick;
  if (!entry.fingerprint.empty()) j["fingerprint"] = entry.fingerprint;
  j["rooms"] = entry.rooms;
  if (!entry.gone.empty()) j["gone"] = entry.gone;
  return dump(j);
}

std::optional<DirectoryEntry> decode_directory_entry(std::string_view payload) {
  const auto read = [](const nlohmann::json& j) -> std::optional<DirectoryEntry> {
    DirectoryEntry entry;
    entry.node = j.at("node").get<std::string>();
    entry.process = j.at("process").get<std::string>();
    entry.session = unsigned_at(j, "session");
    entry.nick = j.at("nick").get<std::string>();
    entry.fingerprint = j.value("fingerprint", std::string());
    entry.rooms = j.at("rooms").get<std::vector<std::string>>();
    entry.gone = j.value("gone", std::string());
    if (!is_valid_name(entry.nick) || entry.node.empty() || entry.rooms.size() > kMaxEntryRooms)
      return std::nullopt;
    for (const auto& room : entry.rooms)
      if (!is_valid_name(room)) return std::nullopt;
    return entry;
  };
  return decode_versioned<DirectoryEntry>(payload, read);
}

std::string direct_subject(std::string_view prefix, std::string_view node) {
  return std::string(prefix) + ".direct." + hex_of(node);
}

std::string encode(const RemoteDirect& direct) {
  nlohmann::json j;
  j["v"] = kVersion;
  j["process"] = direct.process;
  j["session"] = direct.session;
  j["to"] = direct.to;
  j["event"] = direct.event;
  return dump(j);
}

std::optional<RemoteDirect> decode_remote_direct(std::string_view payload) {
  const auto read = [](const nlohmann::json& j) -> std::optional<RemoteDirect> {
    RemoteDirect direct;
    direct.process = j.at("process").get<std::string>();
    direct.session = unsigned_at(j, "session");
    direct.to = j.at("to").get<std::string>();
    direct.event = j.at("event").get<std::string>();
    if (!is_valid_name(direct.to)) return std::nullopt;
    return direct;
  };
  return decode_versioned<RemoteDirect>(payload, read);
}

}  // namespace parley::server
