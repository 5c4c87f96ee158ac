// MQTT 3.1.1 at QoS 0, one topic per room: CONNECT (clean session, keepalive off), one
// SUBSCRIBE per room, ready at the last SUBACK. A subscribed publisher gets its own messages
// back (3.1.1 has no "no local"); the scenario recognises and discards them.
#include "adapter.hpp"
#include "wire.hpp"

namespace parley::bench {
namespace {

class MqttCodec final : public Codec {
 public:
  explicit MqttCodec(const CodecOptions& options) : options_(options) {}

  void start(Bytes& out) override { mqtt::connect(out, options_.name); }

  void publish(std::size_t room, std::string_view text, Bytes& out) override {
    mqtt::publish(out, options_.rooms[room], text);
  }

  void close(Bytes& out) override { mqtt::disconnect(out); }

 protected:
  std::size_t consume(ByteView data, Bytes& out, CodecEvents& events) override {
    mqtt::Packet packet;
    std::size_t used = 0;
    switch (mqtt::next_packet(data, packet, used)) {
      case ParseStatus::incomplete:
        return 0;
      case ParseStatus::malformed:
        fail(events, "a malformed MQTT packet");
        return 0;
      case ParseStatus::ok:
        break;
    }
    switch (static_cast<mqtt::Type>(packet.type)) {
      case mqtt::Type::publish: {
        const auto publish = mqtt::parse_publish(packet);
        if (!publish) {
          fail(events, "a malformed PUBLISH");
          return 0;
        }
        events.on_message(publish->payload);
        break;
      }
      case mqtt::Type::connack:
        if (packet.body.size() != 2 || packet.body[1] != 0) {
          fail(events, "CONNACK refused the connection");
          return 0;
        }
        if (options_.rooms.empty()) {
          events.on_ready();
          break;
        }
        for (std::size_t i = 0; i < options_.rooms.size(); ++i)
          mqtt::subscribe(out, static_cast<std::uint16_t>(i + 1), options_.rooms[i]);
        break;
      case mqtt::Type::suback:
        if (packet.body.size() < 3 || packet.body[2] == 0x80) {
          fail(events, "SUBACK refused a subscription");
          return 0;
        }
        if (++subacks_ == options_.rooms.size()) events.on_ready();
        break;
      case mqtt::Type::pingresp:
        break;
      default:
        fail(events, "an unexpected MQTT packet type " + std::to_string(packet.type));
        return 0;
    }
    return used;
  }

 private:
  CodecOptions options_;
  std::size_t subacks_ = 0;
};

class MqttSystem final : public System {
 public:
  std::string name() const override { return "mosquitto"; }
  std::unique_ptr<Codec> make(const CodecOptions& options) override {
    return std::make_unique<MqttCodec>(options);
  }
};

}  // namespace

std::unique_ptr<System> make_mqtt_system() {
  return std::make_unique<MqttSystem>();
}

}  // namespace parley::bench
