// Application messages (PROTOCOL.md 4): names, timestamps, request parsing with every
// rejection path, and event serialization against the exact bytes the vectors carry.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <variant>
#include <vector>

#include "parley/event.hpp"
#include "parley/names.hpp"
#include "parley/request.hpp"

namespace parley {
namespace {

using namespace std::string_literals;

// ---------------------------------------------------------------------------------------------
// Names and timestamps

TEST(Names, LengthBounds) {
  EXPECT_FALSE(is_valid_name(""));
  EXPECT_TRUE(is_valid_name("a"));
  EXPECT_TRUE(is_valid_name(std::string(32, 'x')));
  EXPECT_FALSE(is_valid_name(std::string(33, 'x')));
}

TEST(Names, EveryAllowedCharacter) {
  EXPECT_TRUE(is_valid_name("abcdefghijklmnopqrstuvwxyz"));
  EXPECT_TRUE(is_valid_name("ABCDEFGHIJKLMNOPQRSTUVWXYZ"));
  EXPECT_TRUE(is_valid_name("0123456789_.-"));
  EXPECT_TRUE(is_valid_name("guest-4f2a"));
  EXPECT_TRUE(is_valid_name("..."));  // the charset is the whole rule; no shape beyond it
}

TEST(Names, EveryOtherByteIsRefused) {
  for (int c = 0; c < 256; ++c) {
    const char ch = static_cast<char>(c);
    const bool allowed = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                         (ch >= '0' && ch <= '9') || ch == '_' || ch == '.' || ch == '-';
    EXPECT_EQ(is_valid_name("ab"s + ch + "cd"), allowed) << "byte " << c;
  }
}

TEST(Names, BadCharacterClasses) {
  EXPECT_FALSE(is_valid_name("a b"));        // space
  EXPECT_FALSE(is_valid_name("a\tb"));       // control
  EXPECT_FALSE(is_valid_name("a\0b"s));      // NUL inside the view
  EXPECT_FALSE(is_valid_name("al@ce"));      // punctuation
  EXPECT_FALSE(is_valid_name("room/x"));     // path separator
  EXPECT_FALSE(is_valid_name("#lobby"));     // IRC habit
  EXPECT_FALSE(is_valid_name("h\xC3\xA9"));  // non-ASCII letter (UTF-8 e-acute)
  EXPECT_FALSE(is_valid_name("\xFF"));       // not even UTF-8
}

TEST(Names, FoldingIsAsciiLowercase) {
  EXPECT_EQ(fold_name("Alice"), fold_name("alice"));
  EXPECT_EQ(fold_name("ALICE_.-09"), "alice_.-09");
  EXPECT_NE(fold_name("alice"), fold_name("alicf"));
  EXPECT_EQ(fold_name("\xC3\x89"), "\xC3\x89");  // non-ASCII bytes untouched
  EXPECT_EQ(fold_name(""), "");
}

TEST(Timestamp, ExactExample) {
  using namespace std::chrono;
  const sys_time<milliseconds> t = sys_days{year{2024} / May / 1} + 12h + 123ms;
  EXPECT_EQ(format_timestamp(t), "2024-05-01T12:00:00.123Z");
}

TEST(Timestamp, SubMillisecondsAreTruncated) {
  using namespace std::chrono;
  const auto t = sys_days{year{2024} / February / 29} + 23h + 59min + 59s + 999999us;
  EXPECT_EQ(format_timestamp(time_point_cast<system_clock::duration>(t)),
            "2024-02-29T23:59:59.999Z");
}

TEST(Timestamp, EpochAndBeforeIt) {
  using namespace std::chrono;
  EXPECT_EQ(format_timestamp(system_clock::time_point{}), "1970-01-01T00:00:00.000Z");
  // Rounding toward zero here would print 1970-01-01T00:00:00.000Z or a negative millisecond.
  EXPECT_EQ(format_timestamp(system_clock::time_point{} - 1ms), "1969-12-31T23:59:59.999Z");
  EXPECT_EQ(format_timestamp(system_clock::time_point{} - 1ns), "1969-12-31T23:59:59.999Z");
}

TEST(Timestamp, PaddingOfSmallFields) {
  using namespace std::chrono;
  const sys_time<milliseconds> t = sys_days{year{2001} / January / 2} + 3h + 4min + 5s + 6ms;
  EXPECT_EQ(format_timestamp(t), "2001-01-02T03:04:05.006Z");
}

// ---------------------------------------------------------------------------------------------
// Error codes

TEST(ErrorCodes, EveryCodeRoundTrips) {
  const std::vector<std::pair<ErrorCode, std::string>> all = {
      {ErrorCode::bad_request, "bad_request"},     {ErrorCode::unknown_type, "unknown_type"},
      {ErrorCode::bad_name, "bad_name"},           {ErrorCode::nick_taken, "nick_taken"},
      {ErrorCode::nick_reserved, "nick_reserved"}, {ErrorCode::not_member, "not_member"},
      {ErrorCode::no_such_nick, "no_such_nick"},   {ErrorCode::too_long, "too_long"},
      {ErrorCode::rate_limited, "rate_limited"},
  };
  for (const auto& [code, name] : all) {
    EXPECT_EQ(to_string(code), name);
    EXPECT_EQ(error_code_from_string(name), code) << name;
  }
  EXPECT_EQ(error_code_from_string("BAD_REQUEST"), std::nullopt);
  EXPECT_EQ(error_code_from_string(""), std::nullopt);
  EXPECT_EQ(error_code_from_string("internal"), std::nullopt);
}

// ---------------------------------------------------------------------------------------------
// Requests

const req::Limits kDefaultLimits{};

req::Request parse_ok(std::string_view json, const req::Limits& limits = kDefaultLimits) {
  auto parsed = req::parse(json, limits);
  if (auto* rejection = std::get_if<req::Rejection>(&parsed)) {
    ADD_FAILURE() << "rejected (" << to_string(rejection->code) << ": " << rejection->message
                  << "): " << json;
    return {};
  }
  return std::get<req::Request>(parsed);
}

req::Rejection parse_bad(std::string_view json, const req::Limits& limits = kDefaultLimits) {
  auto parsed = req::parse(json, limits);
  if (!std::holds_alternative<req::Rejection>(parsed)) {
    ADD_FAILURE() << "accepted: " << json;
    return {};
  }
  return std::get<req::Rejection>(parsed);
}

std::string say_json(std::string_view text) {
  return R"({"type":"say","room":"lobby","text":")" + std::string(text) + R"("})";
}

TEST(Request, VectorStringsParse) {
  // The exact app plaintexts of shared/vectors/records.json.
  EXPECT_EQ(parse_ok(R"({"type":"nick","nick":"alice","id":1})"),
            (req::Request{std::int64_t{1}, req::Nick{"alice"}}));
  EXPECT_EQ(parse_ok(R"({"type":"join","room":"lobby","id":"j-1"})"),
            (req::Request{"j-1"s, req::Join{"lobby"}}));
  EXPECT_EQ(parse_ok("{\"type\":\"say\",\"room\":\"lobby\",\"text\":\"h\xC3\xA9llo, w\xC3\xB6rld "
                     "\xE2\x98\x83\"}"),
            (req::Request{{}, req::Say{"lobby", "h\xC3\xA9llo, w\xC3\xB6rld \xE2\x98\x83"}}));
}

TEST(Request, SerializeMatchesVectorsByteForByte) {
  EXPECT_EQ(req::serialize({std::int64_t{1}, req::Nick{"alice"}}),
            R"({"type":"nick","nick":"alice","id":1})");
  EXPECT_EQ(req::serialize({"j-1"s, req::Join{"lobby"}}),
            R"({"type":"join","room":"lobby","id":"j-1"})");
  // Raw UTF-8 out, not \u escapes.
  EXPECT_EQ(req::serialize({{}, req::Say{"lobby", "h\xC3\xA9llo, w\xC3\xB6rld \xE2\x98\x83"}}),
            "{\"type\":\"say\",\"room\":\"lobby\",\"text\":\"h\xC3\xA9llo, w\xC3\xB6rld "
            "\xE2\x98\x83\"}");
}

TEST(Request, SerializeEveryTypeExactly) {
  EXPECT_EQ(req::serialize({{}, req::Part{"lobby"}}), R"({"type":"part","room":"lobby"})");
  EXPECT_EQ(req::serialize({{}, req::Msg{"bob", "hi"}}),
            R"({"type":"msg","to":"bob","text":"hi"})");
  EXPECT_EQ(req::serialize({std::int64_t{-5}, req::Who{"lobby"}}),
            R"({"type":"who","room":"lobby","id":-5})");
  EXPECT_EQ(req::serialize({{}, req::Rooms{}}), R"({"type":"rooms"})");
  EXPECT_EQ(req::serialize({"p"s, req::Ping{}}), R"({"type":"ping","id":"p"})");
  EXPECT_EQ(req::serialize({{}, req::Pong{}}), R"({"type":"pong"})");
  EXPECT_EQ(req::serialize({{}, req::Quit{}}), R"({"type":"quit"})");
  EXPECT_EQ(req::serialize({{}, req::Quit{"bye"}}), R"({"type":"quit","reason":"bye"})");
  // Characters JSON must escape come out escaped.
  EXPECT_EQ(req::serialize({{}, req::Say{"r", "a\"b\\c\nd\x01"}}),
            R"({"type":"say","room":"r","text":"a\"b\\c\nd\u0001"})");
}

TEST(Request, EveryTypeRoundTrips) {
  const std::vector<RequestId> ids = {RequestId{},
                                      std::int64_t{0},
                                      std::int64_t{42},
                                      std::numeric_limits<std::int64_t>::min(),
                                      std::numeric_limits<std::int64_t>::max(),
                                      ""s,
                                      "req-7"s};
  const std::vector<req::Body> bodies = {
      req::Nick{"Alice"},
      req::Join{"lobby"},
      req::Part{"lobby"},
      req::Say{"lobby", "h\xC3\xA9llo \xE2\x98\x83 \xF0\x9F\x98\x80 \"quoted\" \\ \n"},
      req::Msg{"bob", "psst"},
      req::Who{"lobby"},
      req::Rooms{},
      req::Say{"lobby", "waves", true},
      req::Msg{"bob", "nods", true},
      req::History{"lobby"},
      req::History{"lobby", 0, 1},
      req::History{"lobby", std::uint64_t{1} << 53, 100},
      req::Ping{},
      req::Pong{},
      req::Quit{},
      req::Quit{""},
      req::Quit{"gone fishing"},
  };
  for (const auto& body : bodies) {
    for (const auto& id : ids) {
      const req::Request request{id, body};
      const std::string json = req::serialize(request);
      EXPECT_EQ(parse_ok(json), request) << json;
    }
  }
}

// PROTOCOL.md 6.4 and 6.8: a malformed after or limit is bad_request; action must be a boolean.
TEST(Request, HistoryAndActionFields) {
  EXPECT_EQ(parse_ok(R"({"type":"history","room":"lobby","after":0,"limit":100,"id":2})"),
            (req::Request{std::int64_t{2}, req::History{"lobby", 0, 100}}));
  EXPECT_EQ(parse_ok(R"({"type":"history","room":"lobby"})"),
            (req::Request{{}, req::History{"lobby"}}));
  EXPECT_EQ(parse_ok(R"({"type":"say","room":"lobby","text":"waves","action":true})"),
            (req::Request{{}, req::Say{"lobby", "waves", true}}));
  for (const char* bad :
       {R"({"type":"history","room":"lobby","after":-1,"id":1})",
        R"({"type":"history","room":"lobby","after":"5","id":1})",
        R"({"type":"history","room":"lobby","after":1.5,"id":1})",
        R"({"type":"history","room":"lobby","limit":0,"id":1})",
        R"({"type":"history","room":"lobby","limit":-3,"id":1})",
        R"({"type":"history","room":"lobby","limit":null,"id":1})", R"({"type":"history","id":1})",
        R"({"type":"say","room":"lobby","text":"x","action":"yes","id":1})",
        R"({"type":"msg","to":"bob","text":"x","action":1,"id":1})"}) {
    const auto rejection = parse_bad(bad);
    EXPECT_EQ(rejection.code, ErrorCode::bad_request) << bad;
    EXPECT_EQ(rejection.id, RequestId{std::int64_t{1}}) << bad;
  }
  EXPECT_EQ(parse_bad(R"({"type":"history","room":"no room"})").code, ErrorCode::bad_name);
}

TEST(Request, UnknownFieldsAreIgnored) {
  EXPECT_EQ(parse_ok(R"({"extra":{"deep":[1,2,{"x":null}]},"type":"join","room":"lobby",)"
                     R"("id":3,"v":2.5,"flag":true})"),
            (req::Request{std::int64_t{3}, req::Join{"lobby"}}));
  // Fields that belong to other types are just unknown fields here.
  EXPECT_EQ(parse_ok(R"({"type":"ping","room":5,"text":null})"), (req::Request{{}, req::Ping{}}));
  EXPECT_EQ(parse_ok(R"({"type":"rooms","rooms":"x"})"), (req::Request{{}, req::Rooms{}}));
}

TEST(Request, NulByteIsBadRequest) {
  // nlohmann's lexer takes a NUL byte for the end of input and would ignore whatever follows
  // it; no JSON text contains a raw NUL, so anything smuggled behind one must not pass.
  for (const std::string& input :
       {"{\"type\":\"ping\"}\0"s, "{\"type\":\"ping\",\"id\":1}\0{\"type\":\"quit\"}"s,
        "\0{\"type\":\"ping\"}"s, "{\"type\":\"ping\"\0}"s}) {
    const auto rejection = parse_bad(input);
    EXPECT_EQ(rejection.code, ErrorCode::bad_request) << testing::PrintToString(input);
    EXPECT_EQ(rejection.id, RequestId{});
  }
}

TEST(Request, WhitespaceAndFieldOrderDoNotMatter) {
  EXPECT_EQ(parse_ok(" {\n \"id\" : 9 ,\t\"room\":\"lobby\", \"type\" : \"part\" }\r\n"),
            (req::Request{std::int64_t{9}, req::Part{"lobby"}}));
}

TEST(Request, IdKinds) {
  auto id_of = [](std::string_view id_json) {
    return parse_ok(R"({"type":"ping","id":)" + std::string(id_json) + "}").id;
  };
  EXPECT_EQ(id_of("7"), RequestId{std::int64_t{7}});
  EXPECT_EQ(id_of("-7"), RequestId{std::int64_t{-7}});
  EXPECT_EQ(id_of("0"), RequestId{std::int64_t{0}});
  EXPECT_EQ(id_of("-0"), RequestId{std::int64_t{0}});
  EXPECT_EQ(id_of("9223372036854775807"), RequestId{std::numeric_limits<std::int64_t>::max()});
  EXPECT_EQ(id_of("-9223372036854775808"), RequestId{std::numeric_limits<std::int64_t>::min()});
  EXPECT_EQ(id_of(R"("abc")"), RequestId{"abc"s});
  EXPECT_EQ(id_of(R"("")"), RequestId{""s});
  EXPECT_EQ(id_of(R"("\u00e9")"), RequestId{"\xC3\xA9"s});
  // Any other JSON type, or an integer with no int64 form, is treated as absent.
  for (const char* other :
       {"1.5", "1.0", "1e2", "9223372036854775808", "18446744073709551615", "18446744073709551616",
        "-9223372036854775809", "true", "false", "null", "[]", "[1]", "{}", R"({"id":1})"}) {
    EXPECT_EQ(id_of(other), RequestId{}) << other;
  }
}

TEST(Request, NotJsonIsBadRequest) {
  for (const std::string& input :
       {""s, " "s, "{"s, "}"s, "nul"s, "{\"type\":\"ping\""s, "{\"type\":\"ping\",}"s,
        "{'type':'ping'}"s, "{\"type\":\"ping\"} {}"s, "{\"type\":\"ping\"} x"s,
        "{\"type\":\"ping\" /* c */}"s, "{\"type\":\"ping\",\"n\":1e400}"s,
        "{\"type\":\"ping\",\"n\":NaN}"s, "{\"type\":\"ping\",\"n\":01}"s,
        "{\"type\":\"say\",\"room\":\"r\",\"text\":\"a\nb\"}"s /* raw control char */}) {
    const auto rejection = parse_bad(input);
    EXPECT_EQ(rejection.code, ErrorCode::bad_request) << input;
    EXPECT_EQ(rejection.id, RequestId{}) << input;
  }
}

TEST(Request, JsonThatIsNotAnObjectIsBadRequest) {
  for (const char* input :
       {"[]", R"([{"type":"ping","id":1}])", R"("ping")", "1", "-1.5", "true", "null"}) {
    const auto rejection = parse_bad(input);
    EXPECT_EQ(rejection.code, ErrorCode::bad_request) << input;
    EXPECT_EQ(rejection.id, RequestId{}) << input;
  }
}

TEST(Request, TypeMissingNonStringOrUnknownIsUnknownType) {
  for (const char* input :
       {R"({"id":1})", R"({"id":1,"type":5})", R"({"id":1,"type":null})",
        R"({"id":1,"type":["say"]})", R"({"id":1,"type":{"name":"say"}})",
        R"({"id":1,"type":"shout"})", R"({"id":1,"type":""})",
        R"({"id":1,"type":"JOIN","room":"lobby"})", R"({"id":1,"type":"join ","room":"lobby"})",
        R"({"id":1,"type":"welcome"})"}) {
    const auto rejection = parse_bad(input);
    EXPECT_EQ(rejection.code, ErrorCode::unknown_type) << input;
    EXPECT_EQ(rejection.id, RequestId{std::int64_t{1}}) << input;
  }
}

TEST(Request, RejectionsEchoTheId) {
  const std::string tail = R"(,"type":"join","room":"bad room"})";
  EXPECT_EQ(parse_bad(R"({"id":5)" + tail).id, RequestId{std::int64_t{5}});
  EXPECT_EQ(parse_bad(R"({"id":"x-1")" + tail).id, RequestId{"x-1"s});
  EXPECT_EQ(parse_bad(R"({"id":5.0)" + tail).id, RequestId{});
  EXPECT_EQ(parse_bad(R"({"id":{"n":5})" + tail).id, RequestId{});
  EXPECT_EQ(parse_bad(R"({"id":[5])" + tail).id, RequestId{});
  EXPECT_EQ(parse_bad(R"({"id":true)" + tail).id, RequestId{});
  EXPECT_EQ(parse_bad(R"({"id":null)" + tail).id, RequestId{});
  for (const auto& r : {parse_bad(R"({"id":5)" + tail), parse_bad(R"({"id":5.0)" + tail)}) {
    EXPECT_EQ(r.code, ErrorCode::bad_name);
  }
  // The same on each kind of rejection.
  EXPECT_EQ(parse_bad(R"({"id":"u","type":"nope"})").id, RequestId{"u"s});
  EXPECT_EQ(parse_bad(R"({"id":"m","type":"join"})").id, RequestId{"m"s});
  EXPECT_EQ(parse_bad(R"({"id":"e","type":"say","room":"r","text":""})").id, RequestId{"e"s});
  EXPECT_EQ(parse_bad(R"({"type":"say","room":"r","text":"abc","id":-3})", req::Limits{2}).id,
            RequestId{std::int64_t{-3}});
  EXPECT_EQ(parse_bad(R"({"type":"say","room":"r","text":"abc","id":2.5})", req::Limits{2}).id,
            RequestId{});
}

struct FieldCase {
  const char* type;
  const char* field;
  std::string valid_rest;  // the other fields, valid, each followed by a comma
};

const std::vector<FieldCase> kFieldCases = {
    {"nick", "nick", ""},
    {"join", "room", ""},
    {"part", "room", ""},
    {"say", "room", R"("text":"hi",)"},
    {"say", "text", R"("room":"lobby",)"},
    {"msg", "to", R"("text":"hi",)"},
    {"msg", "text", R"("to":"bob",)"},
    {"who", "room", ""},
};

TEST(Request, MissingFieldIsBadRequestNamingIt) {
  for (const auto& c : kFieldCases) {
    const std::string input = R"({"id":"i",)" + c.valid_rest + R"("type":")" + c.type + R"("})";
    const auto rejection = parse_bad(input);
    EXPECT_EQ(rejection.code, ErrorCode::bad_request) << input;
    EXPECT_NE(rejection.message.find(c.field), std::string::npos) << rejection.message;
    EXPECT_EQ(rejection.id, RequestId{"i"s});
  }
}

TEST(Request, WrongFieldTypeIsBadRequestNamingIt) {
  for (const auto& c : kFieldCases) {
    for (const char* value : {"5", "null", "true", "[\"lobby\"]", R"({"name":"lobby"})", "1.5"}) {
      const std::string input = R"({"id":"i",)" + c.valid_rest + R"("type":")" + c.type + R"(",")" +
                                c.field + R"(":)" + value + "}";
      const auto rejection = parse_bad(input);
      EXPECT_EQ(rejection.code, ErrorCode::bad_request) << input;
      EXPECT_NE(rejection.message.find(c.field), std::string::npos) << rejection.message;
      EXPECT_EQ(rejection.id, RequestId{"i"s});
    }
  }
}

TEST(Request, FieldTypesAreCheckedBeforeNamesAndText) {
  // The rules are ordered: a field of the wrong type wins over a bad name or a long text.
  EXPECT_EQ(parse_bad(R"({"type":"say","room":"bad room","text":5})").code, ErrorCode::bad_request);
  EXPECT_EQ(parse_bad(R"({"type":"say","room":5,"text":"")").code, ErrorCode::bad_request);
  EXPECT_EQ(parse_bad(R"({"type":"say","room":"bad room","text":"abc"})", req::Limits{1}).code,
            ErrorCode::bad_name);
  EXPECT_EQ(parse_bad(R"({"type":"msg","to":"bad/nick","text":""})").code, ErrorCode::bad_name);
}

TEST(Request, BadNames) {
  const std::vector<std::string> bad = {
      "",          std::string(33, 'a'), "a b",        "al@ce",     "#lobby",
      "h\xC3\xA9", "tab\\there",         "nul\\u0000", "caf\\u00e9"};
  for (const auto& name : bad) {
    for (const auto& [type, field, rest] : kFieldCases) {
      if (std::string_view(field) == "text") continue;
      const std::string input =
          "{" + rest + R"("type":")" + type + R"(",")" + field + R"(":")" + name + R"(","id":1})";
      const auto rejection = parse_bad(input);
      EXPECT_EQ(rejection.code, ErrorCode::bad_name) << input;
      EXPECT_EQ(rejection.id, RequestId{std::int64_t{1}});
    }
  }
  // The limits themselves are fine.
  EXPECT_EQ(parse_ok(R"({"type":"nick","nick":"a"})").body, req::Body{req::Nick{"a"}});
  const std::string n32(32, 'Z');
  EXPECT_EQ(parse_ok(R"({"type":"join","room":")" + n32 + R"("})").body, req::Body{req::Join{n32}});
}

TEST(Request, NamesKeepTheirCase) {
  // Case-insensitive comparison is the caller's business (fold_name); the parser keeps what
  // was sent so it can be displayed.
  EXPECT_EQ(parse_ok(R"({"type":"nick","nick":"Alice"})").body, req::Body{req::Nick{"Alice"}});
}

TEST(Request, EmptyTextIsBadRequest) {
  for (const char* input :
       {R"({"type":"say","room":"lobby","text":""})", R"({"type":"msg","to":"bob","text":""})"}) {
    const auto rejection = parse_bad(input);
    EXPECT_EQ(rejection.code, ErrorCode::bad_request) << input;
    EXPECT_NE(rejection.message.find("empty"), std::string::npos);
  }
  // Only whitespace is still text.
  EXPECT_EQ(parse_ok(say_json(" ")).body, (req::Body{req::Say{"lobby", " "}}));
}

std::string repeat(std::string_view s, std::size_t n) {
  std::string out;
  for (std::size_t i = 0; i < n; ++i)
    out += s;
  return out;
}

TEST(Request, TextLimitCountsUtf8BytesOfTheDecodedString) {
  const std::string snowman = "\xE2\x98\x83";  // 3 bytes, 1 character
  // Default limit 4096: 1365 snowmen + 1 byte = 4096 bytes.
  const std::string at_max = repeat(snowman, 1365) + "a";
  ASSERT_EQ(at_max.size(), 4096u);
  EXPECT_EQ(parse_ok(say_json(at_max)).body, (req::Body{req::Say{"lobby", at_max}}));
  const std::string over = repeat(snowman, 1365) + "ab";
  const auto rejection =
      parse_bad(R"({"id":8,"type":"say","room":"lobby","text":")" + over + "\"}");
  EXPECT_EQ(rejection.code, ErrorCode::too_long);
  EXPECT_EQ(rejection.id, RequestId{std::int64_t{8}});
  // 1366 snowmen are only 1366 characters but 4098 bytes.
  EXPECT_EQ(parse_bad(say_json(repeat(snowman, 1366))).code, ErrorCode::too_long);

  // A custom limit, and escapes: "\u00e9" is 6 bytes of JSON but 2 of text.
  const req::Limits ten{10};
  EXPECT_EQ(parse_ok(say_json(repeat("\\u00e9", 5)), ten).body,
            (req::Body{req::Say{"lobby", repeat("\xC3\xA9", 5)}}));
  EXPECT_EQ(parse_bad(say_json(repeat("\\u00e9", 5) + "x"), ten).code, ErrorCode::too_long);
  // A multibyte character straddling the limit counts whole.
  EXPECT_EQ(parse_bad(say_json("123456789" + snowman), ten).code, ErrorCode::too_long);
  EXPECT_EQ(parse_ok(R"({"type":"msg","to":"bob","text":"1234567890"})", ten).body,
            (req::Body{req::Msg{"bob", "1234567890"}}));
  EXPECT_EQ(parse_bad(R"({"type":"msg","to":"bob","text":"12345678901"})", ten).code,
            ErrorCode::too_long);
}

TEST(Request, QuitReason) {
  EXPECT_EQ(parse_ok(R"({"type":"quit"})").body, req::Body{req::Quit{}});
  EXPECT_EQ(parse_ok(R"({"type":"quit","reason":""})").body, req::Body{req::Quit{""}});
  const std::string r256 = repeat("\xC3\xA9", 128);
  EXPECT_EQ(parse_ok(R"({"type":"quit","reason":")" + r256 + "\"}").body,
            req::Body{req::Quit{r256}});
  const auto long_reason = parse_bad(R"({"type":"quit","id":"q","reason":")" + r256 + "x\"}");
  EXPECT_EQ(long_reason.code, ErrorCode::too_long);
  EXPECT_EQ(long_reason.id, RequestId{"q"s});
  // The quit reason is not message text: its limit is 256 whatever max_message_bytes says.
  EXPECT_EQ(parse_ok(R"({"type":"quit","reason":")" + r256 + "\"}", req::Limits{10}).body,
            req::Body{req::Quit{r256}});
  for (const char* value : {"5", "null", "false", "[]", "{}"}) {
    const auto rejection =
        parse_bad(R"({"type":"quit","id":1,"reason":)" + std::string(value) + "}");
    EXPECT_EQ(rejection.code, ErrorCode::bad_request) << value;
    EXPECT_NE(rejection.message.find("reason"), std::string::npos);
    EXPECT_EQ(rejection.id, RequestId{std::int64_t{1}});
  }
}

TEST(Request, RejectionMessagesNeverQuoteTheInput) {
  const std::string secret = "SECRET-PAYLOAD";
  const std::vector<std::pair<std::string, req::Limits>> cases = {
      {say_json(secret + repeat("x", 20)), req::Limits{10}},
      {R"({"type":"nick","nick":")" + secret + R"( !"})", kDefaultLimits},
      {R"({"type":")" + secret + R"("})", kDefaultLimits},
      {R"({"type":"quit","reason":")" + secret + repeat("x", 300) + "\"}", kDefaultLimits},
      {"{\"type\":\"say\",\"room\":\"r\",\"text\":\"" + secret + "\xFF\"}", kDefaultLimits},
      {"[\"" + secret + "\"]", kDefaultLimits},
  };
  for (const auto& [input, limits] : cases) {
    const auto rejection = parse_bad(input, limits);
    EXPECT_FALSE(rejection.message.empty());
    EXPECT_EQ(rejection.message.find(secret), std::string::npos) << rejection.message;
  }
}

TEST(Request, InvalidUtf8IsBadRequest) {
  const std::vector<std::string> bad_bytes = {
      "\xFF",              // never valid
      "\x80",              // lone continuation byte
      "\xC3",              // truncated two-byte sequence
      "\xE2\x98",          // truncated three-byte sequence
      "\xC0\x80",          // overlong NUL
      "\xE0\x80\xAF",      // overlong '/'
      "\xED\xA0\x80",      // UTF-8-encoded surrogate U+D800
      "\xF4\x90\x80\x80",  // above U+10FFFF
      "\xF8\x88\x80\x80\x80",
  };
  for (const auto& bytes : bad_bytes) {
    // In the text, in a field nobody reads, and in a key: the document itself is invalid.
    for (const std::string& input :
         {say_json("ok" + bytes + "ok"), R"({"type":"ping","x":")" + bytes + "\",\"id\":1}",
          R"({"type":"ping",")" + bytes + "\":1}"}) {
      const auto rejection = parse_bad(input);
      EXPECT_EQ(rejection.code, ErrorCode::bad_request) << testing::PrintToString(input);
    }
  }
}

TEST(Request, InvalidUnicodeEscapesAreBadRequest) {
  for (const char* escape :
       {"\\ud800", "\\udbff", "\\udc00", "\\udfff", "\\ud800x", "\\ud800\\u0041", "\\ud800\\ud800",
        "\\ude00\\ud83d", "\\u12", "\\u12G4", "\\x41", "\\U0041", "\\'"}) {
    const auto rejection = parse_bad(say_json(std::string("a") + escape + "b"));
    EXPECT_EQ(rejection.code, ErrorCode::bad_request) << escape;
  }
}

TEST(Request, ValidEscapesDecode) {
  // A surrogate pair is one supplementary character: U+1F600 as 4 UTF-8 bytes.
  EXPECT_EQ(parse_ok(say_json("\\ud83d\\ude00")).body,
            (req::Body{req::Say{"lobby", "\xF0\x9F\x98\x80"}}));
  EXPECT_EQ(parse_ok(say_json("\\uD83D\\uDE00")).body,
            (req::Body{req::Say{"lobby", "\xF0\x9F\x98\x80"}}));
  EXPECT_EQ(parse_ok(say_json("\\u2603\\n\\t\\\"\\\\\\/")).body,
            (req::Body{req::Say{"lobby", "\xE2\x98\x83\n\t\"\\/"}}));
  // Raw valid 4-byte UTF-8 too.
  EXPECT_EQ(parse_ok(say_json("\xF0\x9F\x98\x80")).body,
            (req::Body{req::Say{"lobby", "\xF0\x9F\x98\x80"}}));
  // An escaped NUL is a valid character of text (it is never a name character).
  EXPECT_EQ(parse_ok(say_json("a\\u0000b")).body, (req::Body{req::Say{"lobby", "a\0b"s}}));
}

TEST(Request, DeepNestingDoesNotCrash) {
  constexpr std::size_t kDepth = 100000;
  // Unbalanced, or balanced but not an object: bad_request.
  for (const std::string& input :
       {std::string(kDepth, '['), std::string(kDepth, '[') + std::string(kDepth, ']'),
        repeat(R"({"a":)", kDepth)}) {
    EXPECT_EQ(parse_bad(input).code, ErrorCode::bad_request);
  }
  // A balanced tower of objects is an object with no type.
  EXPECT_EQ(parse_bad(repeat(R"({"a":)", kDepth) + "1" + std::string(kDepth, '}')).code,
            ErrorCode::unknown_type);
  // Deep nesting in an ignored field is still an ignored field. Copying or dumping the parsed
  // tree would recurse once per level and overflow the stack here; this guards against that.
  const std::string deep_extra = std::string(kDepth, '[') + std::string(kDepth, ']');
  EXPECT_EQ(parse_ok(R"({"type":"join","room":"lobby","x":)" + deep_extra + R"(,"id":2})"),
            (req::Request{std::int64_t{2}, req::Join{"lobby"}}));
  EXPECT_EQ(parse_bad(R"({"type":"join","room":)" + deep_extra + "}").code, ErrorCode::bad_request);
  EXPECT_EQ(parse_bad(R"({"type":"join","id":)" + deep_extra + "}").id, RequestId{});
}

TEST(Request, DuplicateKeysTakeTheLastValue) {
  // RFC 8259 leaves this open; pin down what we do so a change is noticed.
  EXPECT_EQ(parse_ok(R"({"type":"join","room":"a","room":"b"})").body, req::Body{req::Join{"b"}});
}

TEST(Request, ByteOrderMarkIsTolerated) {
  // nlohmann skips a leading UTF-8 BOM; harmless, and pinned so a change is noticed.
  EXPECT_EQ(parse_ok("\xEF\xBB\xBF{\"type\":\"ping\"}").body, req::Body{req::Ping{}});
}

TEST(Request, MutatedInputNeverThrows) {
  // Deterministic mutation of valid requests: every outcome is a Request or a Rejection.
  const std::vector<std::string> seeds = {
      R"({"type":"nick","nick":"alice","id":1})",
      R"({"type":"say","room":"lobby","text":"h\u00e9llo \ud83d\ude00","id":"s"})",
      R"({"type":"quit","reason":"bye","x":[{"y":[1,2.5e3,-0,true,null]}]})",
  };
  std::mt19937 rng(20240501);
  const std::string alphabet = "{}[]\":,\\u0123456789abcdefnulltrue -+.eE\xC3\xA9\xFF\x80 ";
  std::size_t rejected = 0;
  for (int round = 0; round < 20000; ++round) {
    std::string s = seeds[rng() % seeds.size()];
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits && !s.empty(); ++e) {
      const std::size_t pos = rng() % s.size();
      switch (rng() % 3) {
        case 0:
          s[pos] = alphabet[rng() % alphabet.size()];
          break;
        case 1:
          s.erase(pos, 1 + rng() % 3);
          break;
        default:
          s.insert(pos, 1, alphabet[rng() % alphabet.size()]);
      }
    }
    std::variant<req::Request, req::Rejection> parsed;
    ASSERT_NO_THROW(parsed = req::parse(s, req::Limits{}));
    rejected += std::holds_alternative<req::Rejection>(parsed) ? 1 : 0;
  }
  EXPECT_GT(rejected, 0u);
}

TEST(Request, EveryTruncationIsRejected) {
  const std::string full = R"({"type":"msg","to":"bob","text":"h\u00e9llo","id":"t"})";
  for (std::size_t n = 0; n < full.size(); ++n) {
    EXPECT_EQ(parse_bad(full.substr(0, n)).code, ErrorCode::bad_request) << n;
  }
}

TEST(Request, SerializeReplacesInvalidUtf8InsteadOfThrowing) {
  std::string json;
  ASSERT_NO_THROW(json = req::serialize({{},
                                         req::Say{"lobby",
                                                  "a\xFF"
                                                  "b"}}));
  EXPECT_EQ(json,
            "{\"type\":\"say\",\"room\":\"lobby\",\"text\":\"a\xEF\xBF\xBD"
            "b\"}");
}

// ---------------------------------------------------------------------------------------------
// Events

evt::Welcome sample_welcome() {
  return {"0123456789abcdef", "guest-4f2a", "parleyd-vectors", 65536, 4096, "AES-256-GCM", 10, 20};
}

evt::Event parse_event_ok(std::string_view json) {
  auto parsed = evt::parse(json);
  if (auto* failure = std::get_if<evt::ParseFailure>(&parsed)) {
    ADD_FAILURE() << "failed (" << failure->what << "): " << json;
    return evt::Ping{};
  }
  return std::get<evt::Event>(parsed);
}

std::string parse_event_bad(std::string_view json) {
  auto parsed = evt::parse(json);
  if (!std::holds_alternative<evt::ParseFailure>(parsed)) {
    ADD_FAILURE() << "accepted: " << json;
    return {};
  }
  return std::get<evt::ParseFailure>(parsed).what;
}

const std::string kWelcomeJson =
    R"({"type":"welcome","session":"0123456789abcdef","nick":"guest-4f2a",)"
    R"("server":"parleyd-vectors","max_frame":65536,"max_message_bytes":4096,)"
    R"("suite":"AES-256-GCM","rate":10,"burst":20})";
const std::string kMessageJson =
    "{\"type\":\"message\",\"room\":\"lobby\",\"from\":\"bob\",\"text\":\"h\xC3\xA9llo "
    "\xE2\x98\x83\",\"ts\":\"2024-05-01T12:00:00.123Z\",\"seq\":1}";

TEST(Event, SerializeExactExamples) {
  EXPECT_EQ(evt::serialize(sample_welcome()), kWelcomeJson);
  EXPECT_EQ(evt::serialize(evt::Message{"lobby", "bob", "h\xC3\xA9llo \xE2\x98\x83",
                                        "2024-05-01T12:00:00.123Z", 1}),
            kMessageJson);
  EXPECT_EQ(evt::serialize(evt::Ack{std::int64_t{1}}), R"({"type":"ack","id":1})");
  EXPECT_EQ(evt::serialize(evt::Pong{}), R"({"type":"pong"})");
}

TEST(Event, ParseExactExamples) {
  EXPECT_EQ(parse_event_ok(kWelcomeJson), evt::Event{sample_welcome()});
  EXPECT_EQ(parse_event_ok(kMessageJson),
            (evt::Event{evt::Message{"lobby", "bob", "h\xC3\xA9llo \xE2\x98\x83",
                                     "2024-05-01T12:00:00.123Z", 1}}));
  EXPECT_EQ(parse_event_ok(R"({"type":"ack","id":1})"), evt::Event{evt::Ack{std::int64_t{1}}});
  EXPECT_EQ(parse_event_ok(R"({"type":"pong"})"), evt::Event{evt::Pong{}});
}

// PROTOCOL.md 6.0 and 6.1: the welcome's features and the ack's seq, both optional.
TEST(Event, FeaturesAndAckSeqRoundTrip) {
  const evt::Ack ack{std::int64_t{7}, 42};
  EXPECT_EQ(evt::serialize(ack), R"({"type":"ack","id":7,"seq":42})");
  EXPECT_EQ(parse_event_ok(R"({"type":"ack","id":7,"seq":42})"), evt::Event{ack});
  evt::Welcome welcome = sample_welcome();
  welcome.features = {"seq_ack", "paging"};
  const std::string json = evt::serialize(welcome);
  EXPECT_NE(json.find(R"("features":["seq_ack","paging"])"), std::string::npos) << json;
  EXPECT_EQ(parse_event_ok(json), evt::Event{welcome});
  EXPECT_EQ(std::get<evt::Welcome>(parse_event_ok(kWelcomeJson)).features.size(), 0u)
      << "a welcome without features names none";
  auto bad = evt::parse(R"({"type":"welcome","session":"s","nick":"n","server":"x",)"
                        R"("max_frame":65536,"max_message_bytes":4096,"suite":"AES-256-GCM",)"
                        R"("features":[1]})");
  EXPECT_TRUE(std::holds_alternative<evt::ParseFailure>(bad));
}

TEST(Event, SerializeEveryTypeExactly) {
  EXPECT_EQ(evt::serialize(evt::Error{ErrorCode::nick_taken, "taken", "n-1"s}),
            R"({"type":"error","code":"nick_taken","message":"taken","id":"n-1"})");
  EXPECT_EQ(evt::serialize(evt::Error{ErrorCode::rate_limited, "slow down", {}}),
            R"({"type":"error","code":"rate_limited","message":"slow down"})");
  EXPECT_EQ(evt::serialize(evt::Direct{"bob", "hi", "2024-05-01T12:00:00.123Z"}),
            R"({"type":"direct","from":"bob","text":"hi","ts":"2024-05-01T12:00:00.123Z"})");
  EXPECT_EQ(evt::serialize(evt::Joined{"lobby", "alice"}),
            R"({"type":"joined","room":"lobby","nick":"alice"})");
  EXPECT_EQ(evt::serialize(evt::Parted{"lobby", "alice"}),
            R"({"type":"parted","room":"lobby","nick":"alice"})");
  EXPECT_EQ(evt::serialize(evt::Quit{"alice", "timeout"}),
            R"({"type":"quit","nick":"alice","reason":"timeout"})");
  EXPECT_EQ(evt::serialize(evt::Quit{"alice", std::nullopt}), R"({"type":"quit","nick":"alice"})");
  EXPECT_EQ(evt::serialize(evt::NickChanged{"alice", "Alicia"}),
            R"({"type":"nick","old":"alice","new":"Alicia"})");
  EXPECT_EQ(evt::serialize(evt::Who{"lobby", {"alice", "bob"}, std::int64_t{3}}),
            R"({"type":"who","room":"lobby","nicks":["alice","bob"],"id":3})");
  EXPECT_EQ(evt::serialize(evt::Who{"empty", {}, {}}),
            R"({"type":"who","room":"empty","nicks":[]})");
  EXPECT_EQ(evt::serialize(evt::Rooms{{{"lobby", 2}, {"dev", 1}}, "r"s}),
            R"({"type":"rooms","rooms":[{"name":"lobby","members":2},{"name":"dev","members":1}],)"
            R"("id":"r"})");
  EXPECT_EQ(evt::serialize(evt::Rooms{}), R"({"type":"rooms","rooms":[]})");
  EXPECT_EQ(evt::serialize(evt::Pong{"p"s}), R"({"type":"pong","id":"p"})");
  EXPECT_EQ(evt::serialize(evt::Ping{}), R"({"type":"ping"})");
}

TEST(Event, RateIsAnIntegerWhenWhole) {
  evt::Welcome w = sample_welcome();
  w.rate = 2.5;
  const std::string json = evt::serialize(w);
  EXPECT_NE(json.find(R"("rate":2.5,)"), std::string::npos) << json;
  EXPECT_EQ(parse_event_ok(json), evt::Event{w});
  w.rate = 0.1;
  EXPECT_EQ(parse_event_ok(evt::serialize(w)), evt::Event{w});  // shortest round-trip form
  w.rate = 1e6;
  EXPECT_NE(evt::serialize(w).find(R"("rate":1000000,)"), std::string::npos);
  w.rate = 0;
  EXPECT_NE(evt::serialize(w).find(R"("rate":0,)"), std::string::npos);
  // The client accepts any JSON number for rate, including a float spelling of a whole one.
  std::string with_float = kWelcomeJson;
  with_float.replace(with_float.find("\"rate\":10"), 9, "\"rate\":10.0");
  EXPECT_EQ(parse_event_ok(with_float), evt::Event{sample_welcome()});
}

TEST(Event, EveryTypeRoundTrips) {
  const std::vector<evt::Event> events = {
      sample_welcome(),
      evt::Ack{std::int64_t{1}},
      evt::Ack{"a"s},
      evt::Ack{std::numeric_limits<std::int64_t>::min()},
      evt::Error{ErrorCode::bad_request, "missing field \"room\"", std::int64_t{4}},
      evt::Error{ErrorCode::unknown_type, "unknown type", {}},
      evt::Error{ErrorCode::bad_name, "", "x"s},
      evt::Error{ErrorCode::nick_taken, "taken", {}},
      evt::Error{ErrorCode::nick_reserved, "reserved", {}},
      evt::Error{ErrorCode::not_member, "join first", {}},
      evt::Error{ErrorCode::no_such_nick, "who?", {}},
      evt::Error{ErrorCode::too_long, "too long", {}},
      evt::Error{ErrorCode::rate_limited, "slow", {}},
      evt::Message{"lobby", "bob", "h\xC3\xA9llo \xE2\x98\x83 \xF0\x9F\x98\x80\n\"",
                   "2024-05-01T12:00:00.123Z", std::numeric_limits<std::uint64_t>::max()},
      evt::Direct{"bob", "psst", "2024-05-01T12:00:00.123Z"},
      evt::Joined{"lobby", "alice"},
      evt::Parted{"lobby", "alice"},
      evt::Quit{"alice", std::nullopt},
      evt::Quit{"alice", "connection closed"},
      evt::NickChanged{"alice", "Alicia"},
      evt::Who{"lobby", {"alice", "bob"}, std::int64_t{3}},
      evt::Who{"nowhere", {}, {}},
      evt::Rooms{{{"lobby", 2}, {"dev", 1}}, "r"s},
      evt::Rooms{{}, {}},
      evt::Pong{},
      evt::Pong{std::int64_t{-1}},
      evt::Ping{},
      evt::Message{"lobby", "bob", "waves", "2024-05-01T12:00:00.123Z", 7, true, true},
      evt::Direct{"bob", "nods", "2024-05-01T12:00:00.123Z", true},
      evt::HistoryEnd{"lobby", true, false, std::int64_t{5}},
      evt::HistoryEnd{"lobby", false, true, {}},
  };
  for (const auto& event : events) {
    const std::string json = evt::serialize(event);
    EXPECT_EQ(parse_event_ok(json), event) << json;
  }
}

TEST(Event, EveryErrorCodeParses) {
  for (const char* code : {"bad_request", "unknown_type", "bad_name", "nick_taken", "nick_reserved",
                           "not_member", "no_such_nick", "too_long", "rate_limited"}) {
    const auto event =
        parse_event_ok(R"({"type":"error","code":")" + std::string(code) + R"(","message":"m"})");
    ASSERT_TRUE(std::holds_alternative<evt::Error>(event));
    EXPECT_EQ(to_string(std::get<evt::Error>(event).code), code);
  }
}

// PROTOCOL.md 6.3 and 6.4: action and replay appear only when true; history_end always carries
// both flags.
TEST(Event, ActionReplayAndHistoryEndOnTheWire) {
  EXPECT_EQ(evt::serialize(
                evt::Message{"lobby", "bob", "waves", "2024-05-01T12:00:00.123Z", 7, true, true}),
            R"({"type":"message","room":"lobby","from":"bob","text":"waves",)"
            R"("ts":"2024-05-01T12:00:00.123Z","seq":7,"action":true,"replay":true})");
  EXPECT_EQ(evt::serialize(evt::Message{"lobby", "bob", "hi", "2024-05-01T12:00:00.123Z", 7}),
            R"({"type":"message","room":"lobby","from":"bob","text":"hi",)"
            R"("ts":"2024-05-01T12:00:00.123Z","seq":7})");
  EXPECT_EQ(evt::serialize(evt::Direct{"bob", "nods", "2024-05-01T12:00:00.123Z", true}),
            R"({"type":"direct","from":"bob","text":"nods","ts":"2024-05-01T12:00:00.123Z",)"
            R"("action":true})");
  EXPECT_EQ(evt::serialize(evt::HistoryEnd{"lobby", true, false, std::int64_t{5}}),
            R"({"type":"history_end","room":"lobby","more":true,"complete":false,"id":5})");
  EXPECT_FALSE(std::holds_alternative<evt::Event>(evt::parse(
      R"({"type":"message","room":"r","from":"b","text":"t","ts":"x","seq":1,"action":1})")));
  EXPECT_FALSE(std::holds_alternative<evt::Event>(
      evt::parse(R"({"type":"history_end","room":"r","more":true})")));
}

// PROTOCOL.md 6.7: goaway is known now, so its fields are checked.
TEST(Event, GoAwayRoundTrips) {
  const evt::GoAway goaway{"server shutting down", 1500};
  const std::string json = evt::serialize(goaway);
  EXPECT_EQ(json, R"({"type":"goaway","reason":"server shutting down","reconnect_after_ms":1500})");
  auto parsed = evt::parse(json);
  ASSERT_TRUE(std::holds_alternative<evt::Event>(parsed));
  EXPECT_EQ(std::get<evt::GoAway>(std::get<evt::Event>(parsed)), goaway);
  EXPECT_FALSE(std::holds_alternative<evt::Event>(
      evt::parse(R"({"type":"goaway","reason":5,"reconnect_after_ms":[]})")));
}

// 6.6: the operator's words, to everyone or to one room.
TEST(Event, NoticeRoundTrips) {
  for (const evt::Notice& notice :
       {evt::Notice{"maintenance at 10"}, evt::Notice{"moving to #ops", std::string("lobby")}}) {
    const auto parsed = evt::parse(evt::serialize(notice));
    ASSERT_TRUE(std::holds_alternative<evt::Event>(parsed));
    EXPECT_EQ(std::get<evt::Notice>(std::get<evt::Event>(parsed)), notice);
  }
  EXPECT_EQ(evt::serialize(evt::Notice{"hi", std::string("r")}),
            R"({"type":"notice","text":"hi","room":"r"})");
  EXPECT_FALSE(std::holds_alternative<evt::Event>(evt::parse(R"({"type":"notice"})")));
}

// PROTOCOL.md 6.0: a later server's event type is not a broken server. The parser says what the
// type was and nothing more; the client skips it and stays connected.
TEST(Event, UnknownTypeIsReportedApartFromFailures) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"type":"shout"})", "shout"},
      {R"({"type":"say","room":"lobby","text":"hi"})", "say"},  // a request, not an event
      // Its fields are not judged: we cannot know what a later version gives them.
      {R"({"type":"member_count","room":5,"more":[]})", "member_count"},
  };
  for (const auto& [json, type] : cases) {
    auto parsed = evt::parse(json);
    ASSERT_TRUE(std::holds_alternative<evt::UnknownEvent>(parsed)) << json;
    EXPECT_EQ(std::get<evt::UnknownEvent>(parsed), evt::UnknownEvent{type}) << json;
  }
  // Still failures: no type to judge the event by.
  EXPECT_NE(parse_event_bad(R"({"text":"no type"})").find("type"), std::string::npos);
  EXPECT_NE(parse_event_bad(R"({"type":["shout"]})").find("type"), std::string::npos);
}

// An error code we do not know is a failure of that request, with its id, not of the session.
TEST(Event, UnknownErrorCodeIsKeptAndRoundTrips) {
  const std::string json =
      R"({"type":"error","code":"a_code_from_later","message":"later","id":7})";
  const auto event = parse_event_ok(json);
  ASSERT_TRUE(std::holds_alternative<evt::Error>(event)) << json;
  const auto& error = std::get<evt::Error>(event);
  EXPECT_EQ(error.unknown_code, "a_code_from_later");
  EXPECT_EQ(error.message, "later");
  EXPECT_EQ(error.id, RequestId{std::int64_t{7}});
  EXPECT_EQ(evt::serialize(event), json);
  // Known codes leave it unset; an empty code is unknown too, not bad_request.
  EXPECT_FALSE(std::get<evt::Error>(parse_event_ok(R"({"type":"error","code":"too_long",)"
                                                   R"("message":"m"})"))
                   .unknown_code);
  EXPECT_EQ(std::get<evt::Error>(parse_event_ok(R"({"type":"error","code":"","message":"m"})"))
                .unknown_code,
            "");
}

TEST(Event, UnknownFieldsAreIgnored) {
  EXPECT_EQ(parse_event_ok(R"({"type":"joined","extra":[1,{"a":null}],"room":"lobby",)"
                           R"("nick":"alice","v":2})"),
            (evt::Event{evt::Joined{"lobby", "alice"}}));
  EXPECT_EQ(parse_event_ok(R"({"type":"rooms","rooms":[{"name":"a","members":1,"x":true}]})"),
            (evt::Event{evt::Rooms{{{"a", 1}}, {}}}));
  EXPECT_EQ(parse_event_ok(R"({"type":"ping","id":{"ignored":"for ping"}})"),
            evt::Event{evt::Ping{}});
}

TEST(Event, StrictFailures) {
  // Each names what went wrong (the type and the field), for the client's log.
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "JSON"},
      {"[]", "object"},
      {R"({"type":"message"} x)", "JSON"},
      {R"({"room":"lobby"})", "type"},
      {R"({"type":7})", "type"},
      {R"({"type":"ack"})", "id"},
      {R"({"type":"ack","id":1.5})", "id"},
      {R"({"type":"ack","id":null})", "id"},
      {R"({"type":"ack","id":9223372036854775808})", "id"},
      {R"({"type":"pong","id":true})", "id"},
      {R"({"type":"who","room":"r","nicks":[],"id":{}})", "id"},
      {R"({"type":"error","code":5,"message":"m"})", "code"},
      {R"({"type":"error","code":"bad_name"})", "message"},
      {R"({"type":"message","room":"lobby","from":"bob","text":"hi","ts":"t"})", "seq"},
      {R"({"type":"message","room":"lobby","from":"bob","text":"hi","ts":"t","seq":-1})", "seq"},
      {R"({"type":"message","room":"lobby","from":"bob","text":"hi","ts":"t","seq":1.0})", "seq"},
      {R"({"type":"message","room":"lobby","from":"bob","text":"hi","ts":"t","seq":"1"})", "seq"},
      {R"({"type":"message","room":"lobby","from":"bob","text":5,"ts":"t","seq":1})", "text"},
      {R"({"type":"direct","from":"bob","text":"hi"})", "ts"},
      {R"({"type":"joined","room":"lobby"})", "nick"},
      {R"({"type":"parted","nick":"a"})", "room"},
      {R"({"type":"quit","reason":"x"})", "nick"},
      {R"({"type":"quit","nick":"a","reason":null})", "reason"},
      {R"({"type":"nick","old":"a"})", "new"},
      {R"({"type":"nick","old":"a","new":["b"]})", "new"},
      {R"({"type":"who","room":"r"})", "nicks"},
      {R"({"type":"who","room":"r","nicks":"alice"})", "nicks"},
      {R"({"type":"who","room":"r","nicks":["a",1]})", "nicks"},
      {R"({"type":"rooms"})", "rooms"},
      {R"({"type":"rooms","rooms":{}})", "rooms"},
      {R"({"type":"rooms","rooms":["lobby"]})", "rooms"},
      {R"({"type":"rooms","rooms":[{"name":"a"}]})", "members"},
      {R"({"type":"rooms","rooms":[{"name":"a","members":-1}]})", "members"},
      {R"({"type":"rooms","rooms":[{"members":1}]})", "name"},
      {R"({"type":"welcome","session":"s","nick":"n","server":"v","max_frame":65536,)"
       R"("max_message_bytes":4096,"suite":"AES-256-GCM","rate":"10","burst":20})",
       "rate"},
      {R"({"type":"welcome","session":"s","nick":"n","server":"v","max_frame":65536,)"
       R"("max_message_bytes":4096,"suite":"AES-256-GCM","rate":10,"burst":2.5})",
       "burst"},
      {R"({"type":"welcome","session":"s","nick":"n","server":"v","max_frame":-1,)"
       R"("max_message_bytes":4096,"suite":"AES-256-GCM","rate":10,"burst":20})",
       "max_frame"},
      {"{\"type\":\"direct\",\"from\":\"bob\",\"text\":\"\\ud800\",\"ts\":\"t\"}", "JSON"},
      {"{\"type\":\"direct\",\"from\":\"bob\",\"text\":\"\xFF\",\"ts\":\"t\"}", "JSON"},
  };
  for (const auto& [input, mention] : cases) {
    const std::string what = parse_event_bad(input);
    EXPECT_NE(what.find(mention), std::string::npos) << input << " -> " << what;
  }
}

TEST(Event, NulByteIsAFailure) {
  EXPECT_NE(parse_event_bad("{\"type\":\"ping\"}\0junk"s).find("JSON"), std::string::npos);
}

TEST(Event, WelcomeWithoutRateAndBurstIsTheVectorsForm) {
  // The vectors' welcome predates rate and burst: it must parse, and serialize back exactly.
  const std::string vector_welcome =
      R"({"type":"welcome","session":"0123456789abcdef","nick":"guest-4f2a",)"
      R"("server":"parleyd-vectors","max_frame":65536,"max_message_bytes":4096,)"
      R"("suite":"AES-256-GCM"})";
  const evt::Event event = parse_event_ok(vector_welcome);
  const auto& welcome = std::get<evt::Welcome>(event);
  EXPECT_FALSE(welcome.rate);
  EXPECT_FALSE(welcome.burst);
  EXPECT_EQ(evt::serialize(event), vector_welcome);
  EXPECT_NE(parse_event_bad(R"({"type":"welcome","session":"s","nick":"n","server":"x",)"
                            R"("max_frame":1,"max_message_bytes":1,"suite":"s","rate":"fast"})")
                .find("rate"),
            std::string::npos);
}

TEST(Event, DeepNestingDoesNotCrash) {
  constexpr std::size_t kDepth = 100000;
  parse_event_bad(std::string(kDepth, '['));
  parse_event_bad(std::string(kDepth, '{'));
  const std::string deep = std::string(kDepth, '[') + std::string(kDepth, ']');
  EXPECT_EQ(parse_event_ok(R"({"type":"ping","x":)" + deep + "}"), evt::Event{evt::Ping{}});
  parse_event_bad(R"({"type":"who","room":"r","nicks":[)" + deep + "]}");
}

TEST(Event, SerializeReplacesInvalidUtf8InsteadOfThrowing) {
  std::string json;
  ASSERT_NO_THROW(json = evt::serialize(evt::Quit{"a", "bye\xC3"}));
  EXPECT_EQ(json, "{\"type\":\"quit\",\"nick\":\"a\",\"reason\":\"bye\xEF\xBF\xBD\"}");
}

}  // namespace
}  // namespace parley
