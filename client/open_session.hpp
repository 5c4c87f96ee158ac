// From HOST:PORT to a welcomed session: the TCP connect and the making of a fresh transport
// key run side by side (the key takes 0.1 s to 1 s), then the handshake, asking the TrustHook
// about the server's key.
#pragma once

#include <botan/rsa.h>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "address.hpp"
#include "connection.hpp"
#include "host_trust.hpp"

namespace parley::client {

inline constexpr std::size_t kTransportKeyBits = 2048;

struct SessionOptions {
  ServerAddress address;
  ClientOptions handshake;  // suites and identity; no pinning here (the TrustHook decides)
  TlsOptions tls;
  // From the start of the connect to the server's welcome: resolve, TCP, TLS and the Parley
  // handshake (not the time a human takes to answer the question about an unknown key).
  std::chrono::milliseconds connect_timeout{10000};
};

// Progress for a human ("connecting...", "connected ..."); may be a no-op.
using Progress = std::function<void(const std::string&)>;

// Opens a new session to the same server (known_hosts checked again), reporting progress: how
// the interactive and listen modes come back after a lost session.
using Reconnector =
    std::function<boost::asio::awaitable<std::shared_ptr<Connection>>(const Progress& progress)>;

// Makes a fresh RSA transport key on `key_pool` for every attempt. If the handshake fails after
// a human was asked about the key (the server may have timed the handshake out meanwhile), it
// reconnects once; the key is known by then. Throws ClientError.
boost::asio::awaitable<std::shared_ptr<Connection>> open_session(const SessionOptions& options,
                                                                 KnownHostsTrust& trust,
                                                                 boost::asio::thread_pool& key_pool,
                                                                 const Progress& progress);

}  // namespace parley::client
