// Interactive mode: a line editor on the terminal and the session on one io_context, so the
// conversation keeps moving while a line is half typed.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <memory>
#include <optional>
#include <string>

#include "connection.hpp"
#include "exit_codes.hpp"

namespace parley::client {

struct InteractiveOptions {
  std::optional<std::string> nick;
  std::string room = "lobby";
  bool colour = false;
};

boost::asio::awaitable<Exit> run_interactive(std::shared_ptr<Connection> connection,
                                             const InteractiveOptions& options);

}  // namespace parley::client
