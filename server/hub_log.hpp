// Writes the hub's membership changes to the event log (never message text).
#pragma once

#include "event_log.hpp"
#include "hub.hpp"

namespace parley::server {

class HubLog final : public HubObserver {
 public:
  explicit HubLog(EventLog& log) : log_(log) {}
  void on_nick(SessionId id, std::string_view old_nick, std::string_view new_nick) override {
    log_.nick(id, old_nick, new_nick);
  }
  void on_join(SessionId id, std::string_view nick, std::string_view room) override {
    log_.join(id, nick, room);
  }
  void on_part(SessionId id, std::string_view nick, std::string_view room) override {
    log_.part(id, nick, room);
  }

 private:
  EventLog& log_;
};

}  // namespace parley::server
