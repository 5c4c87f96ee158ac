#include "parley/request.hpp"

#include <array>
#include <limits>
#include <utility>

#include <nlohmann/json.hpp>

#include "parley/names.hpp"

namespace parley {
namespace {

constexpr std::array kErrorCodes = {
    ErrorCode::bad_request,  ErrorCode::unknown_type,  ErrorCode::bad_name,
    ErrorCode::nick_taken,   ErrorCode::nick_reserved, ErrorCode::not_member,
    ErrorCode::no_such_nick, ErrorCode::too_long,      ErrorCode::rate_limited,
    ErrorCode::unavailable,
};

}  // namespace

std::string_view to_string(ErrorCode code) {
  switch (code) {
    case ErrorCode::bad_request:
      return "bad_request";
    case ErrorCode::unknown_type:
      return "unknown_type";
    case ErrorCode::bad_name:
      return "bad_name";
    case ErrorCode::nick_taken:
      return "nick_taken";
    case ErrorCode::nick_reserved:
      return "nick_reserved";
    case ErrorCode::not_member:
      return "not_member";
    case ErrorCode::no_such_nick:
      return "no_such_nick";
    case ErrorCode::too_long:
      return "too_long";
    case ErrorCode::rate_limited:
      return "rate_limited";
    case ErrorCode::unavailable:
      return "unavailable";
  }
  // Only reachable through a cast of an out-of-range value; map it to something harmless.
  return "bad_request";
}

std::optional<ErrorCode> error_code_from_string(std::string_view name) {
  for (ErrorCode code : kErrorCodes) {
    if (to_string(code) == name) return code;
  }
  return std::nullopt;
}

}  // namespace parley

namespace parley::req {
namespace {

using Json = nlohmann::json;
using OrderedJson = nlohmann::ordered_json;

// Why a request failed, before the id is attached to make it a Rejection.
struct Failure {
  ErrorCode code;
  std::string message;
};

using BodyOrFailure = std::variant<Body, Failure>;

RequestId read_id(const Json& object) {
  const auto it = object.find("id");
  if (it == object.end()) return {};
  if (it->is_string()) return it->get<std::string>();
  // nlohmann stores non-negative integers as unsigned: one above INT64_MAX has no int64 form,
  // and echoing a different number than the client sent would be worse than echoing none.
  if (it->is_number_unsigned()) {
    const auto value = it->get<std::uint64_t>();
    if (value > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) return {};
    return static_cast<std::int64_t>(value);
  }
  if (it->is_number_integer()) return it->get<std::int64_t>();
  return {};  // float, bool, null, array, object
}

// Reads string fields from one request object and keeps the first failure, so a body parser
// reads all its fields and then checks once.
class FieldReader {
 public:
  explicit FieldReader(const Json& object) : object_(object) {}

  std::string required(const char* name) {
    const auto it = object_.find(name);
    if (it == object_.end()) {
      fail(std::string("missing field \"") + name + '"');
      return {};
    }
    return string_value(*it, name);
  }

  std::optional<std::string> optional(const char* name) {
    const auto it = object_.find(name);
    if (it == object_.end()) return std::nullopt;
    return string_value(*it, name);
  }

  // A positive integer, if present.
  std::optional<std::uint64_t> optional_count(const char* name) {
    const auto it = object_.find(name);
    if (it == object_.end()) return std::nullopt;
    if (!it->is_number_unsigned() || it->get<std::uint64_t>() == 0) {
      fail(std::string("field \"") + name + "\" must be a positive integer");
      return std::nullopt;
    }
    return it->get<std::uint64_t>();
  }

  // A non-negative integer, if present.
  std::optional<std::uint64_t> optional_integer(const char* name) {
    const auto it = object_.find(name);
    if (it == object_.end()) return std::nullopt;
    if (!it->is_number_unsigned()) {
      fail(std::string("field \"") + name + "\" must be a non-negative integer");
      return std::nullopt;
    }
    return it->get<std::uint64_t>();
  }

  // true or false, if present (absent: false).
  bool optional_flag(const char* name) {
    const auto it = object_.find(name);
    if (it == object_.end()) return false;
    if (!it->is_boolean()) {
      fail(std::string("field \"") + name + "\" must be true or false");
      return false;
    }
    return it->get<bool>();
  }

  const std::optional<Failure>& failure() const { return failure_; }

 private:
  std::string string_value(const Json& value, const char* name) {
    if (!value.is_string()) {
      fail(std::string("field \"") + name + "\" must be a string");
      return {};
    }
    return value.get<std::string>();
  }

  void fail(std::string message) {
    if (!failure_) failure_ = Failure{ErrorCode::bad_request, std::move(message)};
  }

  const Json& object_;
  std::optional<Failure> failure_;
};

std::optional<Failure> check_name(const std::string& value, const char* field) {
  if (is_valid_name(value)) return std::nullopt;
  // Names the field, not the value: the value is the client's bytes, and replies get logged.
  return Failure{ErrorCode::bad_name, std::string("field \"") + field +
                                          "\" is not a name: 1 to 32 of A-Z a-z 0-9 _ . -"};
}

std::optional<Failure> check_text(const std::string& text, const Limits& limits) {
  if (text.empty()) return Failure{ErrorCode::bad_request, "text must not be empty"};
  if (text.size() > limits.max_message_bytes) {
    return Failure{ErrorCode::too_long,
                   "text is longer than " + std::to_string(limits.max_message_bytes) + " bytes"};
  }
  return std::nullopt;
}

// The bodies whose only field is one name: join, part.
template <typename T>
BodyOrFailure parse_named(const Json& object, const char* field) {
  FieldReader fields(object);
  std::string value = fields.required(field);
  if (fields.failure()) return *fields.failure();
  if (auto bad = check_name(value, field)) return *std::move(bad);
  return Body{T{std::move(value)}};
}

// 6.5: `after` is a name (bad_request otherwise, as 6.8 says), `limit` a positive integer.
template <typename T>
BodyOrFailure parse_page(FieldReader& fields, T listing) {
  listing.after = fields.optional("after");
  listing.limit = fields.optional_count("limit");
  if (fields.failure()) return *fields.failure();
  if (listing.after && !is_valid_name(*listing.after))
    return Failure{ErrorCode::bad_request, "field \"after\" is not a name"};
  return Body{std::move(listing)};
}

BodyOrFailure parse_nick(const Json& object) {
  FieldReader fields(object);
  Nick nick{fields.required("nick"), fields.optional_flag("takeover")};
  if (fields.failure()) return *fields.failure();
  if (auto bad = check_name(nick.nick, "nick")) return *std::move(bad);
  return Body{std::move(nick)};
}

BodyOrFailure parse_who(const Json& object) {
  FieldReader fields(object);
  Who who{fields.required("room")};
  if (fields.failure()) return *fields.failure();
  if (auto bad = check_name(who.room, "room")) return *std::move(bad);
  return parse_page(fields, std::move(who));
}

BodyOrFailure parse_rooms(const Json& object) {
  FieldReader fields(object);
  return parse_page(fields, Rooms{});
}

BodyOrFailure parse_say(const Json& object, const Limits& limits) {
  FieldReader fields(object);
  Say say{fields.required("room"), fields.required("text"), fields.optional_flag("action")};
  if (fields.failure()) return *fields.failure();
  if (auto bad = check_name(say.room, "room")) return *std::move(bad);
  if (auto bad = check_text(say.text, limits)) return *std::move(bad);
  return Body{std::move(say)};
}

BodyOrFailure parse_msg(const Json& object, const Limits& limits) {
  FieldReader fields(object);
  Msg msg{fields.required("to"), fields.required("text"), fields.optional_flag("action")};
  if (fields.failure()) return *fields.failure();
  if (auto bad = check_name(msg.to, "to")) return *std::move(bad);
  if (auto bad = check_text(msg.text, limits)) return *std::move(bad);
  return Body{std::move(msg)};
}

// 6.4 and 6.8: a malformed `after` (not a non-negative integer) or `limit` (not a positive
// integer) is bad_request.
BodyOrFailure parse_history(const Json& object) {
  FieldReader fields(object);
  History history{fields.required("room"), fields.optional_integer("after"),
                  fields.optional_count("limit")};
  if (fields.failure()) return *fields.failure();
  if (auto bad = check_name(history.room, "room")) return *std::move(bad);
  return Body{std::move(history)};
}

BodyOrFailure parse_quit(const Json& object) {
  FieldReader fields(object);
  Quit quit{fields.optional("reason")};
  if (fields.failure()) return *fields.failure();
  if (quit.reason && quit.reason->size() > kMaxQuitReasonBytes) {
    return Failure{ErrorCode::too_long, "reason is longer than 256 bytes"};
  }
  return Body{std::move(quit)};
}

std::optional<BodyOrFailure> parse_body(std::string_view type, const Json& object,
                                        const Limits& limits) {
  if (type == "nick") return parse_nick(object);
  if (type == "join") return parse_named<Join>(object, "room");
  if (type == "part") return parse_named<Part>(object, "room");
  if (type == "say") return parse_say(object, limits);
  if (type == "msg") return parse_msg(object, limits);
  if (type == "who") return parse_who(object);
  if (type == "rooms") return parse_rooms(object);
  if (type == "history") return parse_history(object);
  if (type == "ping") return Body{Ping{}};
  if (type == "pong") return Body{Pong{}};
  if (type == "quit") return parse_quit(object);
  return std::nullopt;
}

// Fills in "type" and the fields, in wire order; the caller appends "id".
struct BodyWriter {
  OrderedJson& out;

  void operator()(const Nick& b) const {
    put("nick", {{"nick", b.nick}});
    if (b.takeover) out["takeover"] = true;
  }
  void operator()(const Join& b) const { put("join", {{"room", b.room}}); }
  void operator()(const Part& b) const { put("part", {{"room", b.room}}); }
  void operator()(const Say& b) const {
    put("say", {{"room", b.room}, {"text", b.text}});
    if (b.action) out["action"] = true;
  }
  void operator()(const Msg& b) const {
    put("msg", {{"to", b.to}, {"text", b.text}});
    if (b.action) out["action"] = true;
  }
  void operator()(const Who& b) const {
    put("who", {{"room", b.room}});
    put_page(b);
  }
  void operator()(const Rooms& b) const {
    put("rooms", {});
    put_page(b);
  }
  void operator()(const History& b) const {
    put("history", {{"room", b.room}});
    put_page(b);
  }
  void operator()(const Ping&) const { put("ping", {}); }
  void operator()(const Pong&) const { put("pong", {}); }
  void operator()(const Quit& b) const {
    if (b.reason) {
      put("quit", {{"reason", *b.reason}});
    } else {
      put("quit", {});
    }
  }

 private:
  template <typename T>
  void put_page(const T& listing) const {
    if (listing.after) out["after"] = *listing.after;
    if (listing.limit) out["limit"] = *listing.limit;
  }
  void put(const char* type,
           std::initializer_list<std::pair<const char*, const std::string&>> fields) const {
    out["type"] = type;
    for (const auto& [name, value] : fields)
      out[name] = value;
  }
};

}  // namespace

std::variant<Request, Rejection> parse(std::string_view json, const Limits& limits) {
  // A raw NUL never occurs in JSON text, but nlohmann's lexer reads it as end of input and
  // would accept "{...}\0<anything>"; refuse it here so nothing rides along behind one.
  if (json.find('\0') != std::string_view::npos) {
    return Rejection{ErrorCode::bad_request, "not valid JSON in UTF-8", {}};
  }
  // No exceptions for bad input: a malformed request is routine, not exceptional. The parser
  // and the destructor are iterative (nlohmann >= 3.10), so nesting depth cannot exhaust the
  // stack and no depth limit is needed; copying or dumping the tree would recurse, which is
  // why it never leaves this function (a test nests 100000 deep to keep it that way).
  const Json document = Json::parse(json.begin(), json.end(), nullptr, /*allow_exceptions=*/false);
  if (document.is_discarded()) {
    return Rejection{ErrorCode::bad_request, "not valid JSON in UTF-8", {}};
  }
  if (!document.is_object()) return Rejection{ErrorCode::bad_request, "not a JSON object", {}};

  RequestId id = read_id(document);
  const auto type = document.find("type");
  if (type == document.end() || !type->is_string()) {
    return Rejection{ErrorCode::unknown_type, "missing or non-string type", std::move(id)};
  }
  auto body = parse_body(type->get_ref<const std::string&>(), document, limits);
  if (!body) return Rejection{ErrorCode::unknown_type, "unknown type", std::move(id)};
  if (auto* failure = std::get_if<Failure>(&*body)) {
    return Rejection{failure->code, std::move(failure->message), std::move(id)};
  }
  return Request{std::move(id), std::get<Body>(std::move(*body))};
}

std::string serialize(const Request& request) {
  OrderedJson out = OrderedJson::object();
  std::visit(BodyWriter{out}, request.body);
  if (const auto* n = std::get_if<std::int64_t>(&request.id)) out["id"] = *n;
  if (const auto* s = std::get_if<std::string>(&request.id)) out["id"] = *s;
  return out.dump(-1, ' ', /*ensure_ascii=*/false, OrderedJson::error_handler_t::replace);
}

}  // namespace parley::req
