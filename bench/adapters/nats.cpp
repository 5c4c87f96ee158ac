// Core NATS, one subject per room: CONNECT with echo off (no copies of our own messages),
// one SUB per room, then PING; the PONG means the server has processed the SUBs (NATS
// handles a connection's operations in order), so that is "ready".
#include "adapter.hpp"
#include "wire.hpp"

namespace parley::bench {
namespace {

class NatsCodec final : public Codec {
 public:
  explicit NatsCodec(const CodecOptions& options) : options_(options) {}

  void start(Bytes& out) override {
    nats::connect(out, options_.name);
    for (std::size_t i = 0; i < options_.rooms.size(); ++i)
      nats::sub(out, options_.rooms[i], static_cast<std::uint32_t>(i + 1));
    nats::ping(out);
  }

  void publish(std::size_t room, std::string_view text, Bytes& out) override {
    nats::pub(out, options_.rooms[room], text);
  }

  void close(Bytes&) override {}  // NATS has no goodbye: the connection just closes

 protected:
  std::size_t consume(ByteView data, Bytes& out, CodecEvents& events) override {
    nats::Op op;
    std::size_t used = 0;
    switch (nats::next_op(data, op, used)) {
      case ParseStatus::incomplete:
        return 0;
      case ParseStatus::malformed:
        fail(events, "a malformed NATS operation");
        return 0;
      case ParseStatus::ok:
        break;
    }
    switch (op.kind) {
      case nats::Kind::msg:
        events.on_message(op.payload);
        break;
      case nats::Kind::ping:
        nats::pong(out);
        break;
      case nats::Kind::pong:
        if (!ready_) {
          ready_ = true;
          events.on_ready();
        }
        break;
      case nats::Kind::err:
        fail(events, std::string(op.line));
        return 0;
      case nats::Kind::info:
      case nats::Kind::ok:
      case nats::Kind::other:
        break;
    }
    return used;
  }

 private:
  CodecOptions options_;
  bool ready_ = false;
};

class NatsSystem final : public System {
 public:
  std::string name() const override { return "nats-server"; }
  std::unique_ptr<Codec> make(const CodecOptions& options) override {
    return std::make_unique<NatsCodec>(options);
  }
};

}  // namespace

std::unique_ptr<System> make_nats_system() {
  return std::make_unique<NatsSystem>();
}

}  // namespace parley::bench
