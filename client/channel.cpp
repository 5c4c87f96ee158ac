#include "channel.hpp"

#include "welcome_limits.hpp"

namespace parley::client {

ClientChannel::ClientChannel(Established established)
    : sealer_(std::move(established.sealer)),
      opener_(std::move(established.opener)),
      server_fingerprint_(std::move(established.server_fingerprint)) {}

std::optional<Received> ClientChannel::on_frame(ByteView body) {
  const auto violation = [this](std::string what) -> Received {
    failed_ = true;
    return ProtocolViolation{std::move(what)};
  };
  if (failed_) return violation("input after a protocol violation");
  auto opened = opener_.open(body);
  if (auto* error = std::get_if<RecordError>(&opened))
    return violation("bad record from the server: " + std::string(describe(*error)));
  const auto& record = std::get<OpenedRecord>(opened);
  switch (record.type) {
    case ContentType::key_update:
      return std::nullopt;  // the opener has moved to the next epoch
    case ContentType::close: {
      auto close = parse_close(record.data);
      if (!close) return violation("malformed close record from the server");
      return SessionClosed{std::move(*close)};
    }
    case ContentType::finished:
      return violation("finished record after the handshake");
    case ContentType::app:
      break;
  }
  auto parsed = evt::parse(as_chars(record.data));
  if (auto* failure = std::get_if<evt::ParseFailure>(&parsed))
    return violation("malformed event from the server: " + failure->what);
  if (std::holds_alternative<evt::UnknownEvent>(parsed)) {
    if (!welcome_) return violation("the server's first event is not a welcome");
    // A later server's addition (PROTOCOL.md 6.0): nothing for us, and no reason to hang up.
    return std::nullopt;
  }
  auto& event = std::get<evt::Event>(parsed);
  if (!welcome_) {
    auto* welcome = std::get_if<evt::Welcome>(&event);
    if (!welcome) return violation("the server's first event is not a welcome");
    if (auto problem = welcome_limits_problem(*welcome)) return violation(*std::move(problem));
    welcome_ = *welcome;
  }
  return ReceivedEvent{std::move(event)};
}

void ClientChannel::seal(const req::Request& request, Bytes& out) {
  const std::string json = req::serialize(request);
  sealer_.seal(ContentType::app, as_bytes(json), out);
}

void ClientChannel::seal_close(StatusCode code, std::string_view reason, Bytes& out) {
  sealer_.seal(ContentType::close, encode_close(code, reason), out);
}

}  // namespace parley::client
