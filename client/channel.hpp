// An established session seen from the client, as pure code: frame bodies in, events out;
// requests in, sealed frames out. The socket layer (connection.hpp) moves the bytes.
#pragma once

#include <optional>
#include <string>
#include <variant>

#include "parley/bytes.hpp"
#include "parley/event.hpp"
#include "parley/handshake.hpp"
#include "parley/record.hpp"
#include "parley/request.hpp"

namespace parley::client {

struct ReceivedEvent {
  evt::Event event;
};
struct SessionClosed {
  CloseRecord close;
};
// The server broke the protocol (a bad record, an unparseable event, no welcome first).
struct ProtocolViolation {
  std::string what;
};
// The transport ended without a close record (EOF, reset), or timed out.
struct ConnectionLost {
  std::string what;
};
using Received = std::variant<ReceivedEvent, SessionClosed, ProtocolViolation, ConnectionLost>;

class ClientChannel {
 public:
  explicit ClientChannel(Established established);

  // One frame body from the server. nullopt for records with nothing for the caller: a
  // key_update (already applied), or an event of a type we do not know (ignored, PROTOCOL.md
  // 6.0). After a violation nothing more is accepted.
  std::optional<Received> on_frame(ByteView body);

  // The welcome, once it has arrived (it must be the first event).
  const std::optional<evt::Welcome>& welcome() const { return welcome_; }
  const std::string& server_fingerprint() const { return server_fingerprint_; }

  void seal(const req::Request& request, Bytes& out);
  void seal_close(StatusCode code, std::string_view reason, Bytes& out);

 private:
  RecordSealer sealer_;
  RecordOpener opener_;
  std::string server_fingerprint_;
  std::optional<evt::Welcome> welcome_;
  bool failed_ = false;
};

}  // namespace parley::client
