// Parley: the real handshake (ClientHandshake from common/, with a transport key from the
// bench's key pool), then records both ways. Joins carry ids so that "ready" means the server
// has acked every join; says carry none, so the server sends no ack per message.
//
// Reading every delivery would cost the generator an AEAD open per record, as much as the
// server's seal: with sampling on (CodecOptions::read_one_in), a record the size of the room
// messages already read is counted unread (RecordOpener::skip) except one in N. Any other size
// (acks, errors, presence, key updates, the close) is always read.

#include <algorithm>
#include <optional>

#include "adapter.hpp"
#include "key_pool.hpp"
#include "parley/client_handshake.hpp"
#include "parley/event.hpp"
#include "parley/frame.hpp"
#include "parley/record.hpp"

namespace parley::bench {
namespace {

constexpr std::string_view kMessagePrefix = R"({"type":"message",)";
constexpr std::string_view kTextKey = R"(,"text":")";

class ParleyCodec final : public Codec {
 public:
  ParleyCodec(const ParleyOptions& options, const CodecOptions& codec)
      : options_(options), rooms_(codec.rooms), read_one_in_(codec.read_one_in) {}

  void start(Bytes& out) override {
    ClientOptions client;
    client.suites = {options_.suite};
    if (!options_.fingerprint.empty()) client.pinned_fingerprint = options_.fingerprint;
    auto lease = options_.keys->next();
    client.transport_decryptor = std::move(lease.decryptor);
    hs_.emplace(std::move(lease.key), std::move(client), *options_.rng);
    append(out, hs_->start());
  }

  void publish(std::size_t room, std::string_view text, Bytes& out) override {
    if (!sealer_) return;
    json_.assign(R"({"type":"say","room":")");
    json_.append(rooms_[room]);
    json_.append(R"(","text":")");
    json_.append(text);
    json_.append(R"("})");
    sealer_->seal(ContentType::app, as_bytes(json_), out);
  }

  void close(Bytes& out) override {
    if (!sealer_) return;
    sealer_->seal(ContentType::close, encode_close(StatusCode::normal, "bye"), out);
  }

 protected:
  std::size_t consume(ByteView data, Bytes& out, CodecEvents& events) override {
    if (data.size() < kFrameHeaderSize) return 0;
    const std::uint32_t length = load_be32(data.data());
    if (length == 0 || length > max_frame_) {
      fail(events, "a frame with a bad length from the server");
      return 0;
    }
    if (data.size() < kFrameHeaderSize + length) return 0;
    const ByteView body = data.subspan(kFrameHeaderSize, length);
    if (opener_) {
      on_record(body, out, events);
    } else {
      on_handshake(body, out, events);
    }
    return failed() ? 0 : kFrameHeaderSize + length;
  }

 private:
  void on_handshake(ByteView body, Bytes& out, CodecEvents& events) {
    HandshakeStep step = hs_->on_frame(body);
    if (!step.failure && hs_->awaiting_trust()) step = hs_->trust_server();
    append(out, step.send);
    if (step.failure) {
      fail(events,
           "handshake: " + std::string(name_of(step.failure->code)) + ": " + step.failure->reason);
      return;
    }
    if (step.established) {
      sealer_.emplace(std::move(step.established->sealer));
      opener_.emplace(std::move(step.established->opener));
      hs_.reset();  // the transport key and the transcript are no longer needed
    }
  }

  // A record the size of the room messages read so far (their seq field may gain a digit), not
  // the one in N to read.
  bool count_unread(std::size_t size) {
    const std::uint32_t one_in = read_one_in_ != nullptr ? *read_one_in_ : 1;
    if (one_in <= 1 || message_max_ == 0) return false;
    if (size < message_min_ || size > message_max_ + 2) return false;
    return ++since_read_ % one_in != 0;
  }

  void on_record(ByteView body, Bytes& out, CodecEvents& events) {
    if (count_unread(body.size())) {
      if (const auto error = opener_->skip()) {
        fail(events, "record: " + std::string(describe(*error)));
        return;
      }
      events.on_unread_message();
      return;
    }
    auto opened = opener_->open(body);
    if (auto* error = std::get_if<RecordError>(&opened)) {
      fail(events, "record: " + std::string(describe(*error)));
      return;
    }
    const auto& record = std::get<OpenedRecord>(opened);
    if (record.type == ContentType::close) {
      const auto close = parse_close(record.data);
      fail(events, "closed by the server: " +
                       (close ? std::string(name_of(close->code)) + " " + close->reason
                              : std::string("?")));
      return;
    }
    if (record.type != ContentType::app) return;  // key_update: already applied
    const std::string_view json = as_chars(record.data);
    // The hot path: a room message, whose text is our own ASCII stamp (no escapes).
    if (json.starts_with(kMessagePrefix)) {
      const auto key = json.find(kTextKey);
      if (key != std::string_view::npos) {
        const auto start = key + kTextKey.size();
        const auto end = json.find('"', start);
        if (end != std::string_view::npos) {
          message_min_ = message_max_ == 0 ? body.size() : std::min(message_min_, body.size());
          message_max_ = std::max(message_max_, body.size());
          events.on_message(json.substr(start, end - start));
          return;
        }
      }
    }
    on_event(json, out, events);
  }

  void on_event(std::string_view json, Bytes& out, CodecEvents& events) {
    auto parsed = evt::parse(json);
    if (auto* failure = std::get_if<evt::ParseFailure>(&parsed)) {
      fail(events, "unparseable event: " + failure->what);
      return;
    }
    const auto& event = std::get<evt::Event>(parsed);
    if (const auto* welcome = std::get_if<evt::Welcome>(&event)) {
      max_frame_ = welcome->max_frame;
      if (rooms_.empty()) {
        events.on_ready();
        return;
      }
      for (std::size_t i = 0; i < rooms_.size(); ++i) {
        const std::string join =
            R"({"type":"join","room":")" + rooms_[i] + R"(","id":)" + std::to_string(i + 1) + "}";
        sealer_->seal(ContentType::app, as_bytes(join), out);
      }
    } else if (std::holds_alternative<evt::Ack>(event)) {
      if (++acks_ == rooms_.size()) events.on_ready();
    } else if (std::holds_alternative<evt::Ping>(event)) {
      sealer_->seal(ContentType::app, as_bytes(std::string_view(R"({"type":"pong"})")), out);
    } else if (const auto* error = std::get_if<evt::Error>(&event)) {
      fail(events, "error from the server: " + std::string(to_string(error->code)));
    } else if (const auto* message = std::get_if<evt::Message>(&event)) {
      events.on_message(message->text);
    }
    // joined, parted, quit, nick: membership noise, not counted.
  }

  const ParleyOptions& options_;
  std::vector<std::string> rooms_;
  std::optional<ClientHandshake> hs_;
  std::optional<RecordSealer> sealer_;
  std::optional<RecordOpener> opener_;
  std::size_t max_frame_ = kHandshakeMaxFrame;
  std::size_t acks_ = 0;
  std::string json_;
  const std::uint32_t* read_one_in_;
  std::size_t message_min_ = 0;  // record sizes of the room messages read so far
  std::size_t message_max_ = 0;
  std::uint64_t since_read_ = 0;
};

class ParleySystem final : public System {
 public:
  explicit ParleySystem(const ParleyOptions& options) : options_(options) {}
  std::string name() const override {
    return "parley-" + std::string(suite_info(options_.suite).name);
  }
  std::unique_ptr<Codec> make(const CodecOptions& options) override {
    return std::make_unique<ParleyCodec>(options_, options);
  }

 private:
  ParleyOptions options_;
};

}  // namespace

std::unique_ptr<System> make_parley_system(const ParleyOptions& options) {
  return std::make_unique<ParleySystem>(options);
}

}  // namespace parley::bench
