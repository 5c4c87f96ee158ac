// Interactive mode: a line editor on the terminal and the session on one io_context, so the
// conversation keeps moving while a line is half typed.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "connection.hpp"
#include "exit_codes.hpp"
#include "open_session.hpp"

namespace parley::client {

struct InteractiveOptions {
  std::optional<std::string> nick;
  std::vector<std::string> rooms = {"lobby"};
  bool colour = false;
  // Coming back after a lost session (issue 18): empty, or a zero time, never.
  Reconnector reconnect;
  std::chrono::milliseconds reconnect_for{std::chrono::minutes(5)};
  bool has_identity = false;  // the session is signed with a key: it may take its nick back
};

boost::asio::awaitable<Exit> run_interactive(std::shared_ptr<Connection> connection,
                                             const InteractiveOptions& options);

}  // namespace parley::client
