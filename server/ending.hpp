// How an established session ends: one value, decided once by whatever ends it first (the
// client, the session's own loop, the writer, the hub's fan-out, the server's shutdown).
#pragma once

#include <optional>
#include <string>

#include "parley/record.hpp"
#include "parley/status.hpp"

namespace parley::server {

struct Ending {
  enum class Side { server, peer };

  Side side = Side::server;
  // The close record's code, sent by `side`; none when no close record passes (the peer
  // vanished, broke the protocol or stopped reading).
  std::optional<StatusCode> code;
  std::string reason;  // the close record's reason (ours, or the peer's as it sent it)
  std::string quit;    // what the session's rooms are told

  // The server says why in a close record, then closes.
  static Ending by_server(StatusCode code, std::string reason, std::string quit) {
    return {Side::server, code, std::move(reason), std::move(quit)};
  }
  static Ending by_peer(const std::optional<CloseRecord>& close) {
    if (!close) return {Side::peer, StatusCode::normal, "", "connection closed"};
    return {Side::peer, close->code, close->reason, "connection closed"};
  }
  // Nothing can be said to the peer any more.
  static Ending lost(std::string reason, std::string quit = "connection lost") {
    return {Side::server, std::nullopt, std::move(reason), std::move(quit)};
  }

  bool server_sends_close() const { return side == Side::server && code.has_value(); }
};

}  // namespace parley::server
