#include "parley/event.hpp"

#include <cmath>
#include <limits>
#include <utility>

#include <nlohmann/json.hpp>

namespace parley::evt {
namespace {

using Json = nlohmann::json;
using OrderedJson = nlohmann::ordered_json;

void put_id(OrderedJson& out, const RequestId& id) {
  if (const auto* n = std::get_if<std::int64_t>(&id)) out["id"] = *n;
  if (const auto* s = std::get_if<std::string>(&id)) out["id"] = *s;
}

void put_rate(OrderedJson& out, double rate) {
  // 2^63 is exactly representable; every whole double below it fits an int64.
  constexpr double kInt64Bound = 9223372036854775808.0;
  if (std::isfinite(rate) && rate == std::trunc(rate) && std::fabs(rate) < kInt64Bound) {
    out["rate"] = static_cast<std::int64_t>(rate);
  } else {
    out["rate"] = rate;
  }
}

struct EventWriter {
  OrderedJson& out;

  void operator()(const Welcome& e) const {
    out["type"] = "welcome";
    out["session"] = e.session;
    out["nick"] = e.nick;
    out["server"] = e.server;
    out["max_frame"] = e.max_frame;
    out["max_message_bytes"] = e.max_message_bytes;
    out["suite"] = e.suite;
    if (e.rate) put_rate(out, *e.rate);
    if (e.burst) out["burst"] = *e.burst;
    if (!e.features.empty()) out["features"] = e.features;
  }
  void operator()(const Ack& e) const {
    out["type"] = "ack";
    put_id(out, e.id);
    if (e.seq) out["seq"] = *e.seq;
  }
  void operator()(const Error& e) const {
    out["type"] = "error";
    if (e.unknown_code) {
      out["code"] = *e.unknown_code;
    } else {
      out["code"] = to_string(e.code);
    }
    out["message"] = e.message;
    put_id(out, e.id);
  }
  void operator()(const Message& e) const {
    out["type"] = "message";
    out["room"] = e.room;
    out["from"] = e.from;
    out["text"] = e.text;
    out["ts"] = e.ts;
    out["seq"] = e.seq;
    if (e.action) out["action"] = true;
    if (e.replay) out["replay"] = true;
  }
  void operator()(const Direct& e) const {
    out["type"] = "direct";
    out["from"] = e.from;
    out["text"] = e.text;
    out["ts"] = e.ts;
    if (e.action) out["action"] = true;
  }
  void operator()(const Joined& e) const {
    out["type"] = "joined";
    out["room"] = e.room;
    out["nick"] = e.nick;
  }
  void operator()(const Parted& e) const {
    out["type"] = "parted";
    out["room"] = e.room;
    out["nick"] = e.nick;
  }
  void operator()(const Quit& e) const {
    out["type"] = "quit";
    out["nick"] = e.nick;
    if (e.reason) out["reason"] = *e.reason;
  }
  void operator()(const NickChanged& e) const {
    out["type"] = "nick";
    out["old"] = e.old_nick;
    out["new"] = e.new_nick;
  }
  void operator()(const Who& e) const {
    out["type"] = "who";
    out["room"] = e.room;
    out["nicks"] = e.nicks;
    put_id(out, e.id);
    if (e.next) out["next"] = *e.next;
  }
  void operator()(const Rooms& e) const {
    out["type"] = "rooms";
    OrderedJson rooms = OrderedJson::array();
    for (const RoomInfo& room : e.rooms) {
      OrderedJson entry = OrderedJson::object();
      entry["name"] = room.name;
      entry["members"] = room.members;
      rooms.push_back(std::move(entry));
    }
    out["rooms"] = std::move(rooms);
    put_id(out, e.id);
    if (e.next) out["next"] = *e.next;
  }
  void operator()(const Pong& e) const {
    out["type"] = "pong";
    put_id(out, e.id);
  }
  void operator()(const Ping&) const { out["type"] = "ping"; }
  void operator()(const HistoryEnd& e) const {
    out["type"] = "history_end";
    out["room"] = e.room;
    out["more"] = e.more;
    out["complete"] = e.complete;
    put_id(out, e.id);
  }
  void operator()(const GoAway& e) const {
    out["type"] = "goaway";
    out["reason"] = e.reason;
    out["reconnect_after_ms"] = e.reconnect_after_ms;
  }
  void operator()(const Notice& e) const {
    out["type"] = "notice";
    out["text"] = e.text;
    if (e.room) out["room"] = *e.room;
  }
};

// Reads typed fields from one JSON object and keeps the first failure, so an event parser
// reads every field and then checks once. Failures name the event type and the field.
class FieldReader {
 public:
  FieldReader(const Json& object, std::string_view context) : object_(object), context_(context) {}

  std::string string(const char* name) {
    const Json* value = find(name, /*required=*/true);
    if (value == nullptr) return {};
    if (!value->is_string()) {
      wrong_type(name, "a string");
      return std::string();
    }
    return value->get<std::string>();
  }

  std::optional<std::string> optional_string(const char* name) {
    const Json* value = find(name, /*required=*/false);
    if (value == nullptr) return std::nullopt;
    if (!value->is_string()) {
      wrong_type(name, "a string");
      return std::nullopt;
    }
    return value->get<std::string>();
  }

  // nlohmann keeps non-negative integer literals as unsigned; a negative or fractional value
  // is some other kind of number, so this one check refuses both.
  std::optional<std::uint64_t> unsigned_integer(const char* name, bool required = true) {
    const Json* value = find(name, required);
    if (value == nullptr) return required ? std::optional<std::uint64_t>(0) : std::nullopt;
    if (!value->is_number_unsigned()) {
      wrong_type(name, "an unsigned integer");
      return 0;
    }
    return value->get<std::uint64_t>();
  }

  bool boolean(const char* name, bool required = true) {
    const Json* value = find(name, required);
    if (value == nullptr) return false;
    if (!value->is_boolean()) {
      wrong_type(name, "true or false");
      return false;
    }
    return value->get<bool>();
  }

  std::optional<double> number(const char* name, bool required = true) {
    const Json* value = find(name, required);
    if (value == nullptr) return required ? std::optional<double>(0) : std::nullopt;
    if (!value->is_number()) {
      wrong_type(name, "a number");
      return 0;
    }
    return value->get<double>();
  }

  // The caller walks the elements; nullptr when missing or not an array.
  const Json* array(const char* name, bool required = true) {
    const Json* value = find(name, required);
    if (value == nullptr) return nullptr;
    if (!value->is_array()) {
      wrong_type(name, "an array");
      return nullptr;
    }
    return value;
  }

  RequestId id(bool required) {
    const Json* value = find("id", required);
    if (value == nullptr) return {};
    if (value->is_string()) return value->get<std::string>();
    if (value->is_number_integer()) {
      if (!value->is_number_unsigned()) return value->get<std::int64_t>();
      const auto n = value->get<std::uint64_t>();
      if (n <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
        return static_cast<std::int64_t>(n);
      }
    }
    // The server only ever echoes an id that fit a RequestId, so anything else is a fault.
    wrong_type("id", "an integer in int64 range or a string");
    return {};
  }

  void fail(std::string what) {
    if (!failure_) failure_ = std::string(context_) + ": " + std::move(what);
  }

  const std::optional<std::string>& failure() const { return failure_; }

 private:
  const Json* find(const char* name, bool required) {
    const auto it = object_.find(name);
    if (it == object_.end()) {
      if (required) fail(std::string("missing field \"") + name + '"');
      return nullptr;
    }
    return &*it;
  }

  void wrong_type(const char* name, const char* expected) {
    fail(std::string("field \"") + name + "\" must be " + expected);
  }

  const Json& object_;
  std::string_view context_;
  std::optional<std::string> failure_;
};

std::vector<std::string> read_nicks(FieldReader& fields) {
  std::vector<std::string> nicks;
  const Json* array = fields.array("nicks");
  if (array == nullptr) return nicks;
  nicks.reserve(array->size());
  for (const Json& nick : *array) {
    if (!nick.is_string()) {
      fields.fail("every element of \"nicks\" must be a string");
      return {};
    }
    nicks.push_back(nick.get<std::string>());
  }
  return nicks;
}

// Optional (6.0): a server that implements none of section 6 may leave it out.
std::vector<std::string> read_features(FieldReader& fields) {
  std::vector<std::string> features;
  const Json* array = fields.array("features", /*required=*/false);
  if (array == nullptr) return features;
  for (const Json& feature : *array) {
    if (!feature.is_string()) {
      fields.fail("every element of \"features\" must be a string");
      return {};
    }
    features.push_back(feature.get<std::string>());
  }
  return features;
}

std::vector<RoomInfo> read_rooms(FieldReader& fields) {
  std::vector<RoomInfo> rooms;
  const Json* array = fields.array("rooms");
  if (array == nullptr) return rooms;
  rooms.reserve(array->size());
  for (const Json& entry : *array) {
    if (!entry.is_object()) {
      fields.fail("every element of \"rooms\" must be an object");
      return {};
    }
    FieldReader room(entry, "rooms entry");
    RoomInfo info{room.string("name"), *room.unsigned_integer("members")};
    if (room.failure()) {
      fields.fail(*room.failure());
      return {};
    }
    rooms.push_back(std::move(info));
  }
  return rooms;
}

// Fields are read inside braced initializers, which C++ evaluates left to right, so the first
// failure reported is the first field in wire order.
std::optional<Event> read_event(std::string_view type, FieldReader& f) {
  if (type == "welcome") {
    return Welcome{f.string("session"),
                   f.string("nick"),
                   f.string("server"),
                   *f.unsigned_integer("max_frame"),
                   *f.unsigned_integer("max_message_bytes"),
                   f.string("suite"),
                   f.number("rate", /*required=*/false),
                   f.unsigned_integer("burst", /*required=*/false),
                   read_features(f)};
  }
  if (type == "ack") return Ack{f.id(/*required=*/true), f.unsigned_integer("seq", false)};
  if (type == "error") {
    const std::string code_name = f.string("code");
    Error error{ErrorCode::bad_request, f.string("message"), f.id(/*required=*/false)};
    if (auto code = error_code_from_string(code_name)) {
      error.code = *code;
    } else {
      error.unknown_code = code_name;  // a later server's code: the request failed, no more
    }
    return error;
  }
  if (type == "message") {
    return Message{f.string("room"),
                   f.string("from"),
                   f.string("text"),
                   f.string("ts"),
                   *f.unsigned_integer("seq"),
                   f.boolean("action", /*required=*/false),
                   f.boolean("replay", /*required=*/false)};
  }
  if (type == "direct")
    return Direct{f.string("from"), f.string("text"), f.string("ts"),
                  f.boolean("action", /*required=*/false)};
  if (type == "joined") return Joined{f.string("room"), f.string("nick")};
  if (type == "parted") return Parted{f.string("room"), f.string("nick")};
  if (type == "quit") return Quit{f.string("nick"), f.optional_string("reason")};
  if (type == "nick") return NickChanged{f.string("old"), f.string("new")};
  if (type == "who")
    return Who{f.string("room"), read_nicks(f), f.id(/*required=*/false),
               f.optional_string("next")};
  if (type == "rooms")
    return Rooms{read_rooms(f), f.id(/*required=*/false), f.optional_string("next")};
  if (type == "pong") return Pong{f.id(/*required=*/false)};
  if (type == "ping") return Ping{};
  if (type == "history_end")
    return HistoryEnd{f.string("room"), f.boolean("more"), f.boolean("complete"),
                      f.id(/*required=*/false)};
  if (type == "goaway")
    return GoAway{f.string("reason"), *f.unsigned_integer("reconnect_after_ms")};
  if (type == "notice") return Notice{f.string("text"), f.optional_string("room")};
  return std::nullopt;
}

}  // namespace

std::string serialize(const Event& event, JsonText text) {
  OrderedJson out = OrderedJson::object();
  std::visit(EventWriter{out}, event);
  return out.dump(-1, ' ', /*ensure_ascii=*/text == JsonText::ascii,
                  OrderedJson::error_handler_t::replace);
}

std::variant<Event, UnknownEvent, ParseFailure> parse(std::string_view json) {
  // As in req::parse: nlohmann would stop at a raw NUL and ignore the rest; no exceptions; and
  // the tree is never copied or dumped, the recursive operations on a deeply nested document.
  if (json.find('\0') != std::string_view::npos) return ParseFailure{"not valid JSON in UTF-8"};
  const Json document = Json::parse(json.begin(), json.end(), nullptr, /*allow_exceptions=*/false);
  if (document.is_discarded()) return ParseFailure{"not valid JSON in UTF-8"};
  if (!document.is_object()) return ParseFailure{"not a JSON object"};
  const auto type = document.find("type");
  if (type == document.end() || !type->is_string()) {
    return ParseFailure{"missing or non-string type"};
  }
  const std::string& type_name = type->get_ref<const std::string&>();
  FieldReader fields(document, type_name);
  std::optional<Event> event = read_event(type_name, fields);
  if (!event) return UnknownEvent{type_name};
  if (fields.failure()) return ParseFailure{*fields.failure()};
  return *std::move(event);
}

}  // namespace parley::evt
