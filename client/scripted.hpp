// The modes for scripts and bots: pipe mode (each input line is one `say`, or one `msg` with
// --to, paced from the welcome; exit once every line is acknowledged) and listen mode (every
// application message from the server on stdout, one JSON object per line: listen_line.hpp).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "connection.hpp"
#include "exit_codes.hpp"
#include "open_session.hpp"

namespace parley::client {

struct ScriptOptions {
  std::optional<std::string> nick;             // --nick
  std::vector<std::string> rooms = {"lobby"};  // --room: joined first (not with --to); pipe
                                               // mode says its lines to the first
  std::optional<std::string> to;               // --to NICK: direct messages instead of the room
  bool whole_input = false;                    // --stdin-message: all of stdin is one message
  bool raw = false;                            // --raw: listen prints ping, pong and ack too
  // Pipe and listen modes come back after a lost session (issue 18): empty, or a zero time,
  // never.
  Reconnector reconnect;
  std::chrono::milliseconds reconnect_for{0};
  bool has_identity = false;
};

// Reads lines from input_fd until EOF (or all of it as one message). Throws ClientError
// (refused, connect, closed) on failure; a refusal still ends the session with a quit. With a
// reconnector, a lost session is followed by a new one (its nick and rooms asked for again) on
// which every line not acknowledged is sent again, so a line may arrive twice but none is lost;
// after `reconnect_for` without a server, Exit::connect.
boost::asio::awaitable<Exit> run_pipe(std::shared_ptr<Connection> connection,
                                      const ScriptOptions& options, int input_fd);

// Prints until the server ends the session or a signal (Exit::ok), then one session_end line
// (listen_line.hpp) saying why. Throws ClientError with the session's exit code otherwise.
// With a reconnector, a lost session is followed by a "reconnecting" line, a new session (its
// welcome line), the rooms joined again and what was said meanwhile from the rooms' history:
// no message is printed twice and none is missed (by room and seq), as far as the server's
// history reaches.
boost::asio::awaitable<Exit> run_listen(std::shared_ptr<Connection> connection,
                                        const ScriptOptions& options);

// Sends quit and waits (bounded) for the server to close: how every mode leaves politely.
boost::asio::awaitable<void> leave(Connection& connection, std::optional<std::string> reason);

}  // namespace parley::client
