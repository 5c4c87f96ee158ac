// Integration-test harness: runs a real parleyd as a child process and talks to it over
// loopback TCP with the real protocol code. Every wait here is bounded by a deadline, so a
// broken or missing server turns into a test failure, never a hung test run.
#pragma once

#include <botan/auto_rng.h>
#include <botan/rsa.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/types.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <thread>
#include <variant>
#include <vector>

#include "parley/bytes.hpp"
#include "parley/client_handshake.hpp"
#include "parley/event.hpp"
#include "parley/frame.hpp"
#include "parley/handshake.hpp"
#include "parley/hello.hpp"
#include "parley/record.hpp"
#include "parley/request.hpp"
#include "parley/status.hpp"
#include "parley/suite.hpp"

namespace parley::it {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Generous for loopback, yet short enough that a failing test ends quickly.
inline constexpr milliseconds kDefaultTimeout{5000};
// Tests that measure time (deadlines, stalls) scale their bounds by this: the sanitizer build
// runs several times slower, and a loaded 2-core machine adds its own delays.
#ifdef PARLEY_SANITIZED
inline constexpr int kSlowdown = 4;
#else
inline constexpr int kSlowdown = 1;
#endif
// How long a server may take from exec to its `listening` line (it loads an RSA key).
inline constexpr milliseconds kStartTimeout{10000};

// The parleyd the tests run: $PARLEY_TEST_PARLEYD when set (the suite run again over a test
// transport, see CMakeLists.txt), else the build's.
std::string parleyd_path();

// The fingerprint of the vector server identity key that every test server runs with.
std::string vector_server_fingerprint();
// The vector client identity key (PROTOCOL.md 3.3) and its fingerprint.
std::shared_ptr<const Botan::RSA_PrivateKey> client_identity_key();
std::string client_identity_fingerprint();

// A child's standard descriptors; -1 means /dev/null.
struct SpawnIo {
  int stdin_fd = -1;
  int stdout_fd = -1;
  int stderr_fd = -1;
};

// fork + execve of `args` (args[0] a path) with `io`, killed if the test process dies. The
// environment is ours without the service manager's variables, plus `extra_env`
// ("NAME=value", winning over ours). Returns -1 and sets `error` when fork or exec fails.
pid_t spawn(const std::vector<std::string>& args, SpawnIo io, std::string& error,
            rlim_t nofile_limit = 0, const std::vector<std::string>& extra_env = {});

// A private directory under /tmp, removed with everything in it on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string file(std::string_view name) const { return path_ + "/" + std::string(name); }
  // Writes (replacing atomically, so a server re-reading it never sees half a file) and
  // returns the full path.
  std::string write(std::string_view name, std::string_view content, unsigned mode = 0600) const;

 private:
  std::string path_;
};

struct LogLine {
  std::string text;
  std::optional<nlohmann::json> json;  // set when the line is a JSON object
};

struct ExitStatus {
  bool timed_out = false;  // had to be killed
  bool exited = false;     // normal exit (then `code`), else killed by `signal`
  int code = -1;
  int signal = 0;
  bool clean() const { return !timed_out && exited && code == 0; }
};
std::ostream& operator<<(std::ostream& out, const ExitStatus& status);

struct CheckConfigResult {
  int exit_code = -1;  // -1: did not run or did not exit normally
  std::string stderr_text;
};

// One parleyd child process with its own temp dir, config file and captured stderr.
class ServerProcess {
 public:
  ServerProcess() = default;
  // Kills the child if it still runs, reaps it, and prints its log when the test failed.
  ~ServerProcess();
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  TempDir& dir() { return dir_; }
  std::string config_path() const { return dir_.file("parleyd.json"); }

  // A valid config for this dir: one ephemeral listener on 127.0.0.1, the vector identity key
  // (written here as identity.pem, mode 0600), every suite, open auth, debug JSON logs, and
  // per-source handshake admission raised so that tests' bursts of connections are admitted.
  nlohmann::json default_config();
  // Writes `config` to config_path() (for start and for SIGHUP reloads).
  void write_config(const nlohmann::json& config);
  void write_config_text(std::string_view text);

  // Writes the config, runs `parleyd --config FILE extra_args...`, and waits for the first
  // `listening` line to learn the port.
  ::testing::AssertionResult start(const nlohmann::json& config,
                                   const std::vector<std::string>& extra_args = {});

  // Like start(), without waiting for `listening` (port() stays 0): for tests that watch the
  // server come up some other way.
  ::testing::AssertionResult launch(const nlohmann::json& config,
                                    const std::vector<std::string>& extra_args = {});

  // Adds (or replaces) a variable in the next start()'s environment. The test's own
  // NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID are never passed on; these are.
  void set_env(std::string_view name, std::string_view value);

  // Runs this binary instead of parleyd_path() (the test-transports daemon, for fault injection).
  void set_binary(std::string path) { binary_ = std::move(path); }

  // Runs the next start()'s server with this RLIMIT_NOFILE (soft and hard), 0 = inherit.
  void set_nofile_limit(std::uint64_t limit) { nofile_limit_ = limit; }

  std::uint16_t port() const { return port_; }
  pid_t pid() const { return pid_; }
  bool running();

  void signal(int signo);
  // SIGHUP, then waits for the `reload` line it causes; returns it (an empty object, and a test
  // failure, if none came).
  nlohmann::json reload();
  // Waits for the child to exit; on timeout kills it (SIGKILL), fails the test, and reports
  // timed_out.
  ExitStatus wait_exit(milliseconds timeout = kDefaultTimeout);

  // Log access. `since` is a line index (see log_mark()), so a test can wait for an event that
  // happens after some action rather than match an older one. The waits return early, empty,
  // once the child's stderr has closed and nothing matched.
  std::size_t log_mark() const;
  std::optional<nlohmann::json> wait_for_log(const std::function<bool(const nlohmann::json&)>& pred,
                                             milliseconds timeout = kDefaultTimeout,
                                             std::size_t since = 0);
  std::optional<nlohmann::json> wait_for_event(std::string_view event,
                                               milliseconds timeout = kDefaultTimeout,
                                               std::size_t since = 0);
  // Every JSON log object with this event name seen so far.
  std::vector<nlohmann::json> events(std::string_view event, std::size_t since = 0) const;
  std::vector<LogLine> log_lines() const;
  std::string log_text() const;

  // Runs `parleyd --check-config path` to completion (bounded; killed after `timeout`).
  static CheckConfigResult run_check_config(const std::string& path,
                                            milliseconds timeout = kDefaultTimeout);

 private:
  void reader_loop(int fd);
  void reap(bool kill_first);

  TempDir dir_;
  std::string binary_ = parleyd_path();
  std::uint64_t nofile_limit_ = 0;
  std::vector<std::string> env_;  // "NAME=value"
  pid_t pid_ = -1;
  std::uint16_t port_ = 0;
  std::optional<ExitStatus> exit_status_;

  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<LogLine> lines_;
  bool stderr_closed_ = false;
  bool stop_reader_ = false;
  std::thread reader_;
};

// Plays the service manager's end of sd_notify(3): a unix datagram socket whose address goes
// into the server's NOTIFY_SOCKET. Abstract ("@...") by default, so nothing is left on disk.
class NotifyListener {
 public:
  // An abstract socket with a name unique to this process and object.
  NotifyListener();
  // A socket at this file system path (or "@name" for an abstract one).
  explicit NotifyListener(std::string address);
  ~NotifyListener();
  NotifyListener(const NotifyListener&) = delete;
  NotifyListener& operator=(const NotifyListener&) = delete;

  // What to put in NOTIFY_SOCKET.
  const std::string& address() const { return address_; }

  // The next datagram that is not a bare "WATCHDOG=1" (those are counted instead), or nullopt
  // when none arrives in time.
  std::optional<std::string> next(milliseconds timeout = kDefaultTimeout);
  // Reads (and keeps, see received()) datagrams until one has `line` as one of its lines.
  std::optional<std::string> wait_for(std::string_view line,
                                      milliseconds timeout = kDefaultTimeout);
  // Reads whatever arrives for `duration`: to count pings, or to see that nothing comes.
  void drain_for(milliseconds duration);

  std::size_t watchdog_pings() const { return watchdog_times_.size(); }
  const std::vector<Clock::time_point>& watchdog_times() const { return watchdog_times_; }
  // Every datagram other than watchdog pings, in order of arrival.
  const std::vector<std::string>& received() const { return received_; }

 private:
  // One datagram (watchdog pings included), or nullopt at the deadline.
  std::optional<std::string> receive(Clock::time_point deadline);

  std::string address_;
  int fd_ = -1;
  std::vector<std::string> received_;
  std::vector<Clock::time_point> watchdog_times_;
};

// True when `message` ("A=1\nB=2") has `line` as one of its lines.
bool has_line(std::string_view message, std::string_view line);
// The value of KEY= in `message`, if present.
std::optional<std::string> notify_field(std::string_view message, std::string_view key);

struct HandshakeOptions {
  // Pinned server fingerprint: the vector server key unless a test says otherwise.
  std::optional<std::string> pinned = vector_server_fingerprint();
  std::shared_ptr<const Botan::RSA_PrivateKey> identity;  // null: anonymous
  std::vector<SuiteId> suites = {SuiteId::aes_256_gcm, SuiteId::chacha20_poly1305,
                                 SuiteId::idea_ctr_hmac_sha256};
  // The transport key (null: the vector's, 2048 bits): a server with a higher
  // min_client_rsa_bits refuses that one in the ClientHello.
  std::shared_ptr<const Botan::RSA_PrivateKey> transport;
  // For tests of what the server refuses: given the data of the genuine client finished
  // (th || identity || signature, PROTOCOL.md 3.3), returns the data to seal as c2s record #0
  // in its place, under this connection's own keys. The views die with the call.
  std::function<Bytes(const ClientFinished& genuine)> forge_finished;
};

struct HandshakeOutcome {
  bool established = false;
  // Why not: the handshake's own failure (an Error frame or a close record from the server
  // arrives here with the server's code), or a transport problem (EOF, timeout).
  std::optional<HandshakeFailure> failure;
  std::string what;  // human description of any failure
};

struct CloseOutcome {
  bool close_record = false;
  StatusCode code = StatusCode::normal;
  std::string reason;
  bool eof = false;        // the server closed the TCP stream (FIN or RST)
  bool timed_out = false;  // neither a close record nor EOF arrived in time
  std::size_t events_skipped = 0;
};
std::ostream& operator<<(std::ostream& out, const CloseOutcome& close);

struct ConnectOptions {
  // SO_RCVBUF set before connect (so the window is small from the SYN on): a slow consumer.
  std::optional<int> receive_buffer = std::nullopt;
  // The source address to bind (127.0.0.2, 127.0.0.3, ...): several peers from one machine.
  std::optional<std::string> source_address = std::nullopt;
};

// A protocol client with blocking, deadline-bounded calls. Built on a non-blocking socket and
// poll(): every read and write takes a deadline, and the frame decoder keeps partial input
// across calls, so a short timeout never loses bytes.
class TestClient {
 public:
  TestClient();
  ~TestClient();
  TestClient(const TestClient&) = delete;
  TestClient& operator=(const TestClient&) = delete;

  ::testing::AssertionResult connect(std::uint16_t port, const ConnectOptions& options = {},
                                     milliseconds timeout = kDefaultTimeout);
  // Runs the handshake with the vector transport key (reused: tests do not pay for RSA key
  // generation) and, once established, reads and keeps the welcome.
  HandshakeOutcome handshake(const HandshakeOptions& options = {},
                             milliseconds timeout = kDefaultTimeout);
  // The handshake in two halves, for tests that hold clients between the ServerHello and their
  // finished: the first sends the ClientHello and reads the ServerHello (or the refusal); the
  // second sends the finished and reads the welcome.
  HandshakeOutcome handshake_until_finished(const HandshakeOptions& options = {},
                                            milliseconds timeout = kDefaultTimeout);
  HandshakeOutcome finish_handshake(milliseconds timeout = kDefaultTimeout);
  // Between the two halves: the finished record (a whole frame) that finish_handshake() will
  // send, for a test to keep (and replay on another connection) or to replace.
  const Bytes& held_finished() const { return held_finished_; }
  void replace_held_finished(Bytes frame) { held_finished_ = std::move(frame); }
  // connect + handshake, for the common case.
  ::testing::AssertionResult open(std::uint16_t port, const HandshakeOptions& options = {},
                                  const ConnectOptions& connect_options = {});

  bool established() const { return sealer_.has_value(); }
  const evt::Welcome& welcome() const { return welcome_; }
  const std::string& nick() const { return welcome_.nick; }

  // A ClientHello frame (header included) for partial-send tests; not sent.
  Bytes client_hello_frame();

  // Seals one app record.
  ::testing::AssertionResult send(std::string_view json, milliseconds timeout = kDefaultTimeout);
  ::testing::AssertionResult send(const req::Request& request,
                                  milliseconds timeout = kDefaultTimeout);
  ::testing::AssertionResult send(req::Body body, RequestId id = {},
                                  milliseconds timeout = kDefaultTimeout);
  // Several requests in one write, so the server sees them as one burst.
  ::testing::AssertionResult send_burst(const std::vector<req::Request>& requests,
                                        milliseconds timeout = kDefaultTimeout);
  // Bytes on the socket as they are (malformed-input tests).
  ::testing::AssertionResult send_raw(ByteView bytes, milliseconds timeout = kDefaultTimeout);
  ::testing::AssertionResult send_key_update(milliseconds timeout = kDefaultTimeout);
  // One record as a whole frame, sealed (the sealer moves on) but not sent: for tampered and
  // replayed records.
  Bytes seal(ContentType type, ByteView data);
  // A close record with this code and reason.
  ::testing::AssertionResult send_close(StatusCode code, std::string_view reason,
                                        milliseconds timeout = kDefaultTimeout);
  // Closes with a TCP reset (SO_LINGER 0), as a crashed or killed peer's kernel would.
  void reset_connection();

  // Answers server pings inside next_event instead of returning them.
  void set_auto_pong(bool on) { auto_pong_ = on; }

  // The next app event; nullopt on timeout, close record or EOF (see closed()). A key_update from
  // the server is applied transparently; nothing else is skipped.
  std::optional<evt::Event> next_event(milliseconds timeout = kDefaultTimeout);

  // The next event, which must be a T: anything else, or nothing in time, fails the test (and
  // returns a default T so the test can go on reporting).
  template <class T>
  T expect(milliseconds timeout = kDefaultTimeout) {
    auto event = next_event(timeout);
    if (!event) {
      ADD_FAILURE() << "client " << welcome_.nick << ": expected a " << type_name<T>() << " event, "
                    << describe_end();
      return T{};
    }
    if (auto* t = std::get_if<T>(&*event)) return std::move(*t);
    ADD_FAILURE() << "client " << welcome_.nick << ": expected a " << type_name<T>()
                  << " event, got " << evt::serialize(*event);
    return T{};
  }

  // Reads events, dropping (and counting) those that are not a T matching `pred`, until one is.
  template <class T>
  std::optional<T> wait_for(
      const std::function<bool(const T&)>& pred = [](const T&) { return true; },
      milliseconds timeout = kDefaultTimeout) {
    const auto deadline = Clock::now() + timeout;
    for (;;) {
      auto event = next_event(remaining(deadline));
      if (!event) return std::nullopt;
      if (auto* t = std::get_if<T>(&*event); t && pred(*t)) return std::move(*t);
      ++skipped_;
    }
  }

  // An error with this code and id must come next.
  void expect_error(ErrorCode code, const RequestId& id, milliseconds timeout = kDefaultTimeout);
  // A ping with a fresh id is answered with a pong carrying it: the session is alive and in sync.
  void expect_alive(milliseconds timeout = kDefaultTimeout);

  // Reads (dropping events) until a close record or EOF. After a close record it waits a
  // little longer for the EOF that must follow.
  CloseOutcome wait_closed(milliseconds timeout = kDefaultTimeout);
  // Handshake refusals: one plaintext Error frame.
  std::optional<ErrorFrame> read_error_frame(milliseconds timeout = kDefaultTimeout);
  // True once the server has closed the stream; bytes arriving meanwhile are dropped.
  bool wait_eof(milliseconds timeout = kDefaultTimeout);

  bool eof() const { return eof_; }
  const std::optional<CloseRecord>& close_record() const { return close_; }
  std::size_t skipped() const { return skipped_; }
  void disconnect();

  template <class T>
  static std::string type_name() {
    return event_type_name(evt::Event{T{}});
  }
  static std::string event_type_name(const evt::Event& event);

 private:
  enum class ReadStatus { frame, eof, timeout, error };

  static milliseconds remaining(Clock::time_point deadline);
  ReadStatus read_frame(Clock::time_point deadline, Bytes& body);
  static HandshakeOutcome transport_failure(StatusCode code, std::string what);
  // A handshake frame into `body`, or why none came.
  std::optional<HandshakeOutcome> read_handshake_frame(Clock::time_point deadline,
                                                       milliseconds timeout, Bytes& body);
  ::testing::AssertionResult write_all(ByteView bytes, Clock::time_point deadline);
  std::string describe_end() const;
  int fd() { return socket_.native_handle(); }

  Botan::AutoSeeded_RNG rng_;
  boost::asio::io_context io_;  // owns nothing but the socket: all I/O is poll() on its fd
  boost::asio::ip::tcp::socket socket_;
  FrameDecoder decoder_{kHandshakeMaxFrame};
  std::optional<RecordSealer> sealer_;
  std::optional<RecordOpener> opener_;
  std::optional<ClientHandshake> hs_;  // between the two halves of the handshake
  Bytes held_finished_;
  evt::Welcome welcome_;
  bool auto_pong_ = false;
  bool eof_ = false;
  bool reset_ = false;
  bool timed_out_ = false;
  std::string error_;
  std::optional<CloseRecord> close_;
  std::size_t skipped_ = 0;
  std::int64_t next_ping_id_ = 1'000'000;
};

// A request with an id, for brevity in tests.
inline req::Request request(req::Body body, RequestId id = {}) {
  return req::Request{std::move(id), std::move(body)};
}

}  // namespace parley::it
