// The modes for scripts and bots: pipe mode (each input line is one `say`, or one `msg` with
// --to, paced from the welcome; exit once every line is acknowledged) and listen mode (every
// application message from the server on stdout, one JSON object per line: listen_line.hpp).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <memory>
#include <optional>
#include <string>

#include "connection.hpp"
#include "exit_codes.hpp"

namespace parley::client {

struct ScriptOptions {
  std::optional<std::string> nick;  // --nick
  std::string room = "lobby";       // --room: joined first (not with --to)
  std::optional<std::string> to;    // --to NICK: direct messages instead of the room
};

// Reads lines from input_fd until EOF. Throws ClientError (refused, closed) on failure.
boost::asio::awaitable<Exit> run_pipe(std::shared_ptr<Connection> connection,
                                      const ScriptOptions& options, int input_fd);

// Prints until the server ends the session (Exit::closed) or a signal (Exit::ok).
boost::asio::awaitable<Exit> run_listen(std::shared_ptr<Connection> connection,
                                        const ScriptOptions& options);

// Sends quit and waits (bounded) for the server to close: how every mode leaves politely.
boost::asio::awaitable<void> leave(Connection& connection, std::optional<std::string> reason);

}  // namespace parley::client
