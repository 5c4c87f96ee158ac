// IRC (as ngIRCd speaks it), one channel per room: NICK/USER, JOIN after the welcome (001),
// ready at the end of the last NAMES list (366). An IRC server never echoes a PRIVMSG to
// its sender, so every delivery is to another member.
#include "adapter.hpp"
#include "wire.hpp"

namespace parley::bench {
namespace {

class IrcCodec final : public Codec {
 public:
  explicit IrcCodec(const CodecOptions& options) : options_(options) {}

  void start(Bytes& out) override { irc::nick_user(out, options_.name); }

  void publish(std::size_t room, std::string_view text, Bytes& out) override {
    irc::privmsg(out, options_.rooms[room], text);
  }

  void close(Bytes& out) override { irc::quit(out); }

 protected:
  std::size_t consume(ByteView data, Bytes& out, CodecEvents& events) override {
    std::string_view line;
    std::size_t used = 0;
    switch (irc::next_line(data, line, used)) {
      case ParseStatus::incomplete:
        return 0;
      case ParseStatus::malformed:
        fail(events, "an IRC line too long");
        return 0;
      case ParseStatus::ok:
        break;
    }
    // The hot path first: ":nick!user@host PRIVMSG #room :text".
    const auto space = line.find(' ');
    if (!line.empty() && line.front() == ':' && space != std::string_view::npos &&
        line.compare(space, 9, " PRIVMSG ") == 0) {
      const auto colon = line.find(" :", space + 9);
      if (colon != std::string_view::npos) {
        events.on_message(line.substr(colon + 2));
        return used;
      }
    }
    const irc::Message m = irc::parse(line);
    if (m.command == "PING") {
      irc::pong(out, m.params.empty() ? std::string_view{} : m.params.back());
    } else if (m.command == "001") {
      if (options_.rooms.empty()) {
        events.on_ready();
      } else {
        for (const auto& room : options_.rooms)
          irc::join(out, room);
      }
    } else if (m.command == "366") {
      if (++joined_ == options_.rooms.size()) events.on_ready();
    } else if (m.command == "ERROR" || m.command == "433" || m.command == "405" ||
               m.command == "471" || m.command == "473" || m.command == "474" ||
               m.command == "475") {
      fail(events, std::string(line));
      return 0;
    }
    return used;
  }

 private:
  CodecOptions options_;
  std::size_t joined_ = 0;
};

class IrcSystem final : public System {
 public:
  std::string name() const override { return "ngircd"; }
  std::unique_ptr<Codec> make(const CodecOptions& options) override {
    return std::make_unique<IrcCodec>(options);
  }
  std::string room_name(std::size_t index) const override { return "#r" + std::to_string(index); }
};

}  // namespace

std::unique_ptr<System> make_irc_system() {
  return std::make_unique<IrcSystem>();
}

}  // namespace parley::bench
