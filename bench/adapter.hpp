// One interface for every system under test. An adapter is a per-connection codec: bytes
// from the server go in, bytes to send and a few events come out. It owns no socket and
// no clock, so the same connection driver and the same scenarios run Parley, MQTT, NATS
// and IRC alike, and the only per-system code is the protocol itself.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <botan/rng.h>

#include "parley/bytes.hpp"
#include "parley/concat.hpp"
#include "parley/suite.hpp"

namespace parley::bench {

class KeyPool;

// What a codec tells its connection.
class CodecEvents {
 public:
  virtual ~CodecEvents() = default;
  // Logged in and a member of every room it was given; fires once.
  virtual void on_ready() = 0;
  // The text of a room message. Self-deliveries (MQTT has no "no local" in 3.1.1) arrive here
  // too; the scenario recognises them by the publisher in the stamp.
  virtual void on_message(std::string_view text) = 0;
  // A room message counted from its frame without being read (see CodecOptions::read_one_in).
  virtual void on_unread_message() = 0;
  // Anything the benchmark cannot go on with (an error reply, a refused handshake, junk).
  virtual void on_failure(std::string_view what) = 0;
};

class Codec {
 public:
  virtual ~Codec() = default;

  // The first bytes after the TCP connection is up.
  virtual void start(Bytes& out) = 0;
  // Bytes in any chunking; replies the protocol needs (handshake steps, pongs, joins) are
  // appended to out. Whole units are parsed in place; only a partial tail is copied.
  void on_bytes(ByteView in, Bytes& out, CodecEvents& events);
  // One message to room `room` (an index into the rooms it was given).
  virtual void publish(std::size_t room, std::string_view text, Bytes& out) = 0;
  // A polite goodbye (close record, DISCONNECT, QUIT), appended to out.
  virtual void close(Bytes& out) = 0;

  bool failed() const { return failed_; }

 protected:
  // Parses one unit at the front of data: returns the bytes it used, or 0 when it needs more.
  // On a fatal problem it calls fail() and returns 0.
  virtual std::size_t consume(ByteView data, Bytes& out, CodecEvents& events) = 0;
  void fail(CodecEvents& events, std::string_view what);

 private:
  Bytes partial_;
  bool failed_ = false;
};

struct CodecOptions {
  std::string name;                // client id, nick: unique per connection, [a-z0-9]
  std::vector<std::string> rooms;  // rooms (topics, subjects, channels) to be a member of
  // The scenario's current sampling: a codec that can tell room messages apart without reading
  // them (Parley, by record size) reads one in this many and counts the rest unread. Null or 1:
  // read every one. Read through the pointer, so the scenario can change it between phases.
  const std::uint32_t* read_one_in = nullptr;
};

// One system under test: makes the codec for each connection.
class System {
 public:
  virtual ~System() = default;
  virtual std::string name() const = 0;
  virtual std::unique_ptr<Codec> make(const CodecOptions& options) = 0;
  // How a room is called on this system's wire ("r3", "#r3").
  virtual std::string room_name(std::size_t index) const {
    return concat("r", std::to_string(index));
  }
};

struct ParleyOptions {
  SuiteId suite = SuiteId::aes_256_gcm;
  KeyPool* keys = nullptr;
  Botan::RandomNumberGenerator* rng = nullptr;  // main's, for every handshake
  // Pin the server's fingerprint; empty trusts whatever it shows (bench only).
  std::string fingerprint;
};

std::unique_ptr<System> make_parley_system(const ParleyOptions& options);
std::unique_ptr<System> make_mqtt_system();
std::unique_ptr<System> make_nats_system();
std::unique_ptr<System> make_irc_system();
// The same system over TLS (OpenSSL memory BIOs under its codec; ALPN parley/1).
std::unique_ptr<System> make_tls_system(std::unique_ptr<System> inner);

}  // namespace parley::bench
