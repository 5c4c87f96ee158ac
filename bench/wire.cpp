#include "wire.hpp"

#include <algorithm>
#include <charconv>

namespace parley::bench {
namespace {

void put_chars(Bytes& out, std::string_view s) {
  out.insert(out.end(), s.begin(), s.end());
}

template <class T>
bool parse_number(std::string_view s, T& value) {
  if (s.empty()) return false;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  return ec == std::errc() && p == s.data() + s.size();
}

// Splits off the next space-separated word of s.
std::string_view next_word(std::string_view& s) {
  const auto start = s.find_first_not_of(' ');
  if (start == std::string_view::npos) {
    s = {};
    return {};
  }
  s.remove_prefix(start);
  const auto end = s.find(' ');
  const std::string_view word = s.substr(0, end);
  s = end == std::string_view::npos ? std::string_view{} : s.substr(end);
  return word;
}

}  // namespace

void make_text(const Stamp& stamp, std::size_t size, std::string& text) {
  text.clear();
  auto number = [&text](auto value) {
    char buf[24];
    const auto r = std::to_chars(buf, buf + sizeof buf, value);
    text.append(buf, r.ptr);
    text.push_back(' ');
  };
  number(stamp.publisher);
  number(stamp.seq);
  number(stamp.send_ns);
  if (size > text.size()) text.append(size - text.size(), 'x');
}

std::optional<Stamp> parse_text(std::string_view text) {
  Stamp s;
  std::string_view rest = text;
  const auto a = next_word(rest);
  const auto b = next_word(rest);
  const auto c = next_word(rest);
  if (!parse_number(a, s.publisher) || !parse_number(b, s.seq) || !parse_number(c, s.send_ns))
    return std::nullopt;
  return s;
}

namespace mqtt {
namespace {

void put_u16(Bytes& out, std::uint16_t v) {
  out.push_back(static_cast<std::uint8_t>(v >> 8));
  out.push_back(static_cast<std::uint8_t>(v));
}

void put_string(Bytes& out, std::string_view s) {
  put_u16(out, static_cast<std::uint16_t>(s.size()));
  put_chars(out, s);
}

void put_remaining_length(Bytes& out, std::size_t n) {
  do {
    auto byte = static_cast<std::uint8_t>(n % 128);
    n /= 128;
    if (n > 0) byte |= 0x80;
    out.push_back(byte);
  } while (n > 0);
}

}  // namespace

void connect(Bytes& out, std::string_view client_id, std::uint16_t keepalive_s) {
  out.push_back(0x10);
  put_remaining_length(out, 10 + 2 + client_id.size());
  put_string(out, "MQTT");
  out.push_back(4);     // protocol level: 3.1.1
  out.push_back(0x02);  // clean session, no will, no user name or password
  put_u16(out, keepalive_s);
  put_string(out, client_id);
}

void subscribe(Bytes& out, std::uint16_t packet_id, std::string_view topic) {
  out.push_back(0x82);  // SUBSCRIBE has reserved flags 0b0010
  put_remaining_length(out, 2 + 2 + topic.size() + 1);
  put_u16(out, packet_id);
  put_string(out, topic);
  out.push_back(0);  // requested QoS 0
}

void publish(Bytes& out, std::string_view topic, std::string_view payload) {
  out.push_back(0x30);
  put_remaining_length(out, 2 + topic.size() + payload.size());
  put_string(out, topic);
  put_chars(out, payload);
}

void pingreq(Bytes& out) {
  out.push_back(0xC0);
  out.push_back(0);
}

void disconnect(Bytes& out) {
  out.push_back(0xE0);
  out.push_back(0);
}

ParseStatus next_packet(ByteView data, Packet& packet, std::size_t& used, std::size_t max_size) {
  if (data.size() < 2) return ParseStatus::incomplete;
  std::size_t length = 0;
  std::size_t multiplier = 1;
  std::size_t i = 1;
  for (;; ++i) {
    if (i > 4) return ParseStatus::malformed;
    if (i >= data.size()) return ParseStatus::incomplete;
    length += (data[i] & 0x7F) * multiplier;
    if ((data[i] & 0x80) == 0) break;
    multiplier *= 128;
  }
  if (length > max_size) return ParseStatus::malformed;
  const std::size_t header = i + 1;
  if (data.size() < header + length) return ParseStatus::incomplete;
  packet.type = static_cast<std::uint8_t>(data[0] >> 4);
  packet.flags = static_cast<std::uint8_t>(data[0] & 0x0F);
  packet.body = data.subspan(header, length);
  used = header + length;
  return ParseStatus::ok;
}

std::optional<Publish> parse_publish(const Packet& packet) {
  if (packet.type != static_cast<std::uint8_t>(Type::publish)) return std::nullopt;
  const ByteView b = packet.body;
  if (b.size() < 2) return std::nullopt;
  const std::size_t topic_len = (std::size_t{b[0]} << 8) | b[1];
  std::size_t pos = 2 + topic_len;
  if (b.size() < pos) return std::nullopt;
  const unsigned qos = (packet.flags >> 1) & 0x3;
  if (qos > 0) pos += 2;
  if (b.size() < pos) return std::nullopt;
  return Publish{as_chars(b.subspan(2, topic_len)), as_chars(b.subspan(pos))};
}

}  // namespace mqtt

namespace nats {

void connect(Bytes& out, std::string_view name) {
  put_chars(out, R"(CONNECT {"verbose":false,"pedantic":false,"echo":false,"lang":"cpp",)");
  put_chars(out, R"("version":"0.1","protocol":1,"name":")");
  put_chars(out, name);
  put_chars(out, "\"}\r\n");
}

void sub(Bytes& out, std::string_view subject, std::uint32_t sid) {
  put_chars(out, "SUB ");
  put_chars(out, subject);
  put_chars(out, " ");
  put_chars(out, std::to_string(sid));
  put_chars(out, "\r\n");
}

void pub(Bytes& out, std::string_view subject, std::string_view payload) {
  char len[24];
  const auto n = std::to_chars(len, len + sizeof len, payload.size()).ptr;
  put_chars(out, "PUB ");
  put_chars(out, subject);
  out.push_back(' ');
  put_chars(out, std::string_view(len, static_cast<std::size_t>(n - len)));
  put_chars(out, "\r\n");
  put_chars(out, payload);
  put_chars(out, "\r\n");
}

void ping(Bytes& out) {
  put_chars(out, "PING\r\n");
}

void pong(Bytes& out) {
  put_chars(out, "PONG\r\n");
}

ParseStatus next_op(ByteView data, Op& op, std::size_t& used, std::size_t max_line) {
  const std::string_view text = as_chars(data);
  const auto eol = text.find("\r\n");
  if (eol == std::string_view::npos)
    return text.size() > max_line ? ParseStatus::malformed : ParseStatus::incomplete;
  op = Op{};
  op.line = text.substr(0, eol);
  std::string_view rest = op.line;
  const std::string_view verb = next_word(rest);
  auto is = [&](std::string_view v) {
    return verb.size() == v.size() &&
           std::equal(verb.begin(), verb.end(), v.begin(),
                      [](char a, char b) { return (a & ~0x20) == (b & ~0x20); });
  };
  used = eol + 2;
  if (is("MSG")) {
    // MSG <subject> <sid> [reply-to] <#bytes>
    std::string_view words[4];
    std::size_t n = 0;
    while (n < 4) {
      const auto w = next_word(rest);
      if (w.empty()) break;
      words[n++] = w;
    }
    if (n < 3 || !next_word(rest).empty()) return ParseStatus::malformed;
    std::size_t size = 0;
    if (!parse_number(words[n - 1], size)) return ParseStatus::malformed;
    if (text.size() < used + size + 2) return ParseStatus::incomplete;
    if (text.substr(used + size, 2) != "\r\n") return ParseStatus::malformed;
    op.kind = Kind::msg;
    op.subject = words[0];
    op.payload = text.substr(used, size);
    used += size + 2;
    return ParseStatus::ok;
  }
  if (is("PING")) {
    op.kind = Kind::ping;
  } else if (is("PONG")) {
    op.kind = Kind::pong;
  } else if (is("+OK")) {
    op.kind = Kind::ok;
  } else if (is("-ERR")) {
    op.kind = Kind::err;
  } else if (is("INFO")) {
    op.kind = Kind::info;
  }
  return ParseStatus::ok;
}

}  // namespace nats

namespace irc {

void nick_user(Bytes& out, std::string_view nick) {
  put_chars(out, "NICK ");
  put_chars(out, nick);
  put_chars(out, "\r\nUSER ");
  put_chars(out, nick);
  put_chars(out, " 0 * :parley-bench\r\n");
}

void join(Bytes& out, std::string_view channel) {
  put_chars(out, "JOIN ");
  put_chars(out, channel);
  put_chars(out, "\r\n");
}

void privmsg(Bytes& out, std::string_view target, std::string_view text) {
  put_chars(out, "PRIVMSG ");
  put_chars(out, target);
  put_chars(out, " :");
  put_chars(out, text);
  put_chars(out, "\r\n");
}

void pong(Bytes& out, std::string_view token) {
  put_chars(out, "PONG :");
  put_chars(out, token);
  put_chars(out, "\r\n");
}

void quit(Bytes& out) {
  put_chars(out, "QUIT :bye\r\n");
}

ParseStatus next_line(ByteView data, std::string_view& line, std::size_t& used,
                      std::size_t max_line) {
  const std::string_view text = as_chars(data);
  const auto eol = text.find('\n');
  if (eol == std::string_view::npos)
    return text.size() > max_line ? ParseStatus::malformed : ParseStatus::incomplete;
  used = eol + 1;
  line = text.substr(0, eol);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return ParseStatus::ok;
}

Message parse(std::string_view line) {
  Message m;
  if (!line.empty() && line.front() == ':') {
    line.remove_prefix(1);
    m.prefix = next_word(line);
  }
  m.command = next_word(line);
  for (;;) {
    const auto start = line.find_first_not_of(' ');
    if (start == std::string_view::npos) break;
    line.remove_prefix(start);
    if (line.front() == ':') {
      m.params.push_back(line.substr(1));
      break;
    }
    m.params.push_back(next_word(line));
  }
  return m;
}

}  // namespace irc

}  // namespace parley::bench
