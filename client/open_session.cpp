#include "open_session.hpp"

#include <botan/auto_rng.h>

#include <algorithm>
#include <iostream>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "exit_codes.hpp"

namespace parley::client {

namespace asio = boost::asio;
using asio::awaitable;
using asio::ip::tcp;

namespace {

// Runs on the key pool's thread, so the event loop stays responsive meanwhile.
awaitable<std::unique_ptr<Botan::RSA_PrivateKey>> make_transport_key() {
  Botan::AutoSeeded_RNG rng;
  co_return std::make_unique<Botan::RSA_PrivateKey>(rng, kTransportKeyBits);
}

awaitable<std::unique_ptr<ClientStream>> connect_owned(ServerAddress address, TlsOptions tls,
                                                       std::chrono::milliseconds timeout) {
  ClientStream stream = co_await connect_stream(address, tls, timeout);
  co_return std::make_unique<ClientStream>(std::move(stream));
}

// The key is made while the TCP connect is in flight, unless the server has already shown it
// gives up on us quickly: then the key comes first, so that its clock starts only once we are
// ready (a slow machine may take longer to make a key than the server waits for a hello).
enum class KeyTiming { with_connect, before_connect };

awaitable<std::shared_ptr<Connection>> attempt(const SessionOptions& options,
                                               KnownHostsTrust& trust, asio::thread_pool& key_pool,
                                               KeyTiming timing) {
  auto ex = co_await asio::this_coro::executor;
  if (options.tls.insecure)
    std::cerr << "parley: warning: --tls-insecure: the TLS certificate of "
              << known_hosts_name(options.address)
              << " is not checked; only the server's Parley key is\n";
  std::unique_ptr<Botan::RSA_PrivateKey> key;
  std::unique_ptr<ClientStream> stream;
  auto started = std::chrono::steady_clock::now();
  if (timing == KeyTiming::before_connect) {
    key = co_await asio::co_spawn(key_pool, make_transport_key(), asio::use_awaitable);
    started = std::chrono::steady_clock::now();  // the clock starts with the connect
    stream = co_await connect_owned(options.address, options.tls, options.connect_timeout);
  } else {
    auto [order, key_error, made_key, connect_error, connected] =
        co_await asio::experimental::make_parallel_group(
            asio::co_spawn(key_pool, make_transport_key(), asio::deferred),
            asio::co_spawn(ex, connect_owned(options.address, options.tls, options.connect_timeout),
                           asio::deferred))
            .async_wait(asio::experimental::wait_for_all(), asio::use_awaitable);
    if (connect_error) std::rethrow_exception(connect_error);
    if (key_error) std::rethrow_exception(key_error);
    key = std::move(made_key);
    stream = std::move(connected);
  }

  auto connection = std::make_shared<Connection>(std::move(*stream));
  Botan::AutoSeeded_RNG rng;
  // What is left of --connect-timeout bounds the handshake: a server that accepts and then
  // says nothing is given up on as soon as one that never accepts.
  const auto spent = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - started);
  const auto left = std::max(options.connect_timeout - spent, std::chrono::milliseconds(1));
  co_await connection->handshake(std::move(key), options.handshake, trust, rng, left);
  co_return connection;
}

}  // namespace

awaitable<std::shared_ptr<Connection>> open_session(const SessionOptions& options,
                                                    KnownHostsTrust& trust,
                                                    asio::thread_pool& key_pool,
                                                    const Progress& progress) {
  const std::string name = known_hosts_name(options.address);
  if (progress)
    progress("connecting to " + name + (options.tls.enabled ? " over TLS" : "") +
             " (making a fresh session key)...");
  try {
    co_return co_await attempt(options, trust, key_pool, KeyTiming::with_connect);
  } catch (const ClientError& e) {
    // Only a failure after the question is worth one more try: the answer is recorded now.
    if (!trust.asked() || trust.accepted().empty() || e.code() == Exit::host_key) throw;
    if (progress) progress("the server gave up while we asked; reconnecting to " + name + "...");
  }
  co_return co_await attempt(options, trust, key_pool, KeyTiming::before_connect);
}

}  // namespace parley::client
