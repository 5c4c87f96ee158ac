#include "harness.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <botan/pubkey.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <sstream>

#include "parley/client_handshake.hpp"
#include "parley/file_io.hpp"
#include "parley/key_schedule.hpp"
#include "parley/rsa_key.hpp"
#include "test_support.hpp"

namespace parley::it {
namespace {

std::string errno_text(int err) {
  return std::strerror(err);
}

int to_poll_ms(milliseconds ms) {
  return static_cast<int>(std::clamp<milliseconds::rep>(ms.count(), 0, 60'000));
}

milliseconds remaining_time(Clock::time_point deadline) {
  return std::max(milliseconds(0), std::chrono::ceil<milliseconds>(deadline - Clock::now()));
}

// Waits for `events` on fd until the deadline; false on timeout. EINTR restarts the wait.
bool poll_until(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    const auto left = std::chrono::ceil<milliseconds>(deadline - Clock::now());
    pollfd p{fd, events, 0};
    const int r = ::poll(&p, 1, to_poll_ms(left));
    if (r > 0) return true;
    if (r == 0) return false;
    if (errno != EINTR) return true;  // let the caller's read or write report the error
  }
}

std::string describe(const RequestId& id) {
  if (std::holds_alternative<std::monostate>(id)) return "(no id)";
  if (auto* i = std::get_if<std::int64_t>(&id)) return std::to_string(*i);
  return "\"" + std::get<std::string>(id) + "\"";
}

ExitStatus decode_status(int status) {
  ExitStatus out;
  if (WIFEXITED(status)) {
    out.exited = true;
    out.code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    out.signal = WTERMSIG(status);
  }
  return out;
}

// Polls waitpid until the child exits or the deadline passes (short interval: there is no
// portable way to wait for a child with a timeout).
std::optional<int> wait_child(pid_t pid, Clock::time_point deadline) {
  for (;;) {
    int status = 0;
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return status;
    if (r < 0 && errno != EINTR) return std::nullopt;
    if (Clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(milliseconds(5));
  }
}

}  // namespace

// Between fork and exec the child only makes system calls: the test process has other threads, and
// anything that might take a lock (malloc, iostreams) could deadlock there. Returns -1 and
// sets `error` when the exec itself fails, reported through a close-on-exec pipe that stays
// silent when the exec succeeds.
// The child's environment: ours, less the service manager's variables (a test run under systemd
// must not hand its own NOTIFY_SOCKET to the servers), plus `extra` ("NAME=value"), which wins.
static std::vector<std::string> child_environment(const std::vector<std::string>& extra) {
  auto name_of_entry = [](std::string_view entry) { return entry.substr(0, entry.find('=')); };
  std::vector<std::string> out;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string_view entry(*e);
    const auto name = name_of_entry(entry);
    if (name == "NOTIFY_SOCKET" || name == "WATCHDOG_USEC" || name == "WATCHDOG_PID") continue;
    const bool overridden = std::any_of(
        extra.begin(), extra.end(), [&](const std::string& x) { return name_of_entry(x) == name; });
    if (!overridden) out.emplace_back(entry);
  }
  out.insert(out.end(), extra.begin(), extra.end());
  return out;
}

pid_t spawn(const std::vector<std::string>& args, SpawnIo io, std::string& error,
            rlim_t nofile_limit, const std::vector<std::string>& extra_env) {
  std::vector<char*> argv;
  for (const auto& a : args)
    argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  // Built before fork: the child of a multithreaded parent may only call async-signal-safe
  // functions, so no allocation there.
  const std::vector<std::string> env = child_environment(extra_env);
  std::vector<char*> envp;
  for (const auto& e : env)
    envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);

  const int devnull = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  if (devnull < 0) {
    error = "open /dev/null: " + errno_text(errno);
    return -1;
  }
  int status[2];
  if (::pipe2(status, O_CLOEXEC) != 0) {
    error = "pipe2: " + errno_text(errno);
    ::close(devnull);
    return -1;
  }
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid == 0) {
    // A test binary that dies (crash, timeout kill) must not leave servers behind.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    ::dup2(io.stdin_fd >= 0 ? io.stdin_fd : devnull, STDIN_FILENO);
    ::dup2(io.stdout_fd >= 0 ? io.stdout_fd : devnull, STDOUT_FILENO);
    ::dup2(io.stderr_fd >= 0 ? io.stderr_fd : devnull, STDERR_FILENO);
    if (nofile_limit != 0) {
      // Both limits: parleyd raises its soft limit to the hard one at start.
      const rlimit lim{nofile_limit, nofile_limit};
      ::setrlimit(RLIMIT_NOFILE, &lim);
    }
    ::execve(argv[0], argv.data(), envp.data());
    const int err = errno;
    [[maybe_unused]] auto n = ::write(status[1], &err, sizeof err);
    ::_exit(127);
  }
  const int fork_errno = errno;
  ::close(status[1]);
  ::close(devnull);
  if (pid < 0) {
    ::close(status[0]);
    error = "fork: " + errno_text(fork_errno);
    return -1;
  }
  // Returns at once: EOF when the exec closes the pipe, or the child's errno.
  int child_errno = 0;
  ssize_t n;
  do {
    n = ::read(status[0], &child_errno, sizeof child_errno);
  } while (n < 0 && errno == EINTR);
  ::close(status[0]);
  if (n == static_cast<ssize_t>(sizeof child_errno)) {
    int ignored;
    ::waitpid(pid, &ignored, 0);
    error = "execv " + args[0] + ": " + errno_text(child_errno);
    return -1;
  }
  return pid;
}

std::string parleyd_path() {
  const char* path = std::getenv("PARLEY_TEST_PARLEYD");
  return path != nullptr && *path != '\0' ? path : PARLEY_PARLEYD_PATH;
}

std::string vector_server_fingerprint() {
  return test::vectors("handshake.json")["keys"]["server_identity"]["fingerprint"]
      .get<std::string>();
}

std::shared_ptr<const Botan::RSA_PrivateKey> client_identity_key() {
  return std::shared_ptr<const Botan::RSA_PrivateKey>(test::vector_key("client_identity"));
}

std::string client_identity_fingerprint() {
  return fingerprint_of(spki_of(*test::vector_key("client_identity")));
}

// ---------------------------------------------------------------- TempDir

TempDir::TempDir() {
  std::string templ = "/tmp/parley-it-XXXXXX";
  if (::mkdtemp(templ.data()) == nullptr) throw std::runtime_error("mkdtemp: " + errno_text(errno));
  path_ = templ;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string TempDir::write(std::string_view name, std::string_view content, unsigned mode) const {
  const std::string target = file(name);
  const std::string tmp = target + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) throw std::runtime_error("open " + tmp + ": " + errno_text(errno));
  ::fchmod(fd, mode);  // the umask must not widen or narrow what the test asked for
  if (const int err = write_all(fd, content); err != 0) {
    ::close(fd);
    throw std::runtime_error("write " + tmp + ": " + errno_text(err));
  }
  ::close(fd);
  if (::rename(tmp.c_str(), target.c_str()) != 0)
    throw std::runtime_error("rename " + target + ": " + errno_text(errno));
  return target;
}

// ---------------------------------------------------------------- NotifyListener

namespace {

std::string unique_abstract_name() {
  static std::atomic<unsigned> counter{0};
  return "@parley-it-notify-" + std::to_string(::getpid()) + "-" + std::to_string(++counter);
}

}  // namespace

NotifyListener::NotifyListener() : NotifyListener(unique_abstract_name()) {}

NotifyListener::NotifyListener(std::string address) : address_(std::move(address)) {
  sockaddr_un addr{};
  if (address_.empty() || address_.size() >= sizeof addr.sun_path)
    throw std::runtime_error("NotifyListener: bad address " + address_);
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, address_.data(), address_.size());
  const bool abstract = address_[0] == '@';
  if (abstract) addr.sun_path[0] = '\0';
  const auto length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + address_.size() +
                                             (abstract ? 0 : 1));
  fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd_ < 0) throw std::runtime_error("NotifyListener: socket: " + errno_text(errno));
  if (::bind(fd_, reinterpret_cast<const sockaddr*>(&addr), length) != 0) {
    const int err = errno;
    ::close(fd_);
    throw std::runtime_error("NotifyListener: bind " + address_ + ": " + errno_text(err));
  }
}

NotifyListener::~NotifyListener() {
  ::close(fd_);
  if (address_[0] == '/') ::unlink(address_.c_str());
}

std::optional<std::string> NotifyListener::receive(Clock::time_point deadline) {
  for (;;) {
    char buf[4096];
    const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n >= 0) return std::string(buf, static_cast<std::size_t>(n));
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      ADD_FAILURE() << "NotifyListener: recv: " << errno_text(errno);
      return std::nullopt;
    }
    if (Clock::now() >= deadline || !poll_until(fd_, POLLIN, deadline)) return std::nullopt;
  }
}

std::optional<std::string> NotifyListener::next(milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (auto message = receive(deadline)) {
    if (*message == "WATCHDOG=1") {
      watchdog_times_.push_back(Clock::now());
      continue;
    }
    received_.push_back(*message);
    return message;
  }
  return std::nullopt;
}

std::optional<std::string> NotifyListener::wait_for(std::string_view line, milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (auto message = next(remaining_time(deadline)))
    if (has_line(*message, line)) return message;
  return std::nullopt;
}

void NotifyListener::drain_for(milliseconds duration) {
  const auto deadline = Clock::now() + duration;
  while (Clock::now() < deadline)
    next(remaining_time(deadline));
}

bool has_line(std::string_view message, std::string_view line) {
  std::size_t start = 0;
  while (start <= message.size()) {
    const std::size_t end = std::min(message.find('\n', start), message.size());
    if (message.substr(start, end - start) == line) return true;
    start = end + 1;
  }
  return false;
}

std::optional<std::string> notify_field(std::string_view message, std::string_view key) {
  std::size_t start = 0;
  while (start <= message.size()) {
    const std::size_t end = std::min(message.find('\n', start), message.size());
    const std::string_view entry = message.substr(start, end - start);
    if (entry.size() > key.size() && entry.substr(0, key.size()) == key && entry[key.size()] == '=')
      return std::string(entry.substr(key.size() + 1));
    start = end + 1;
  }
  return std::nullopt;
}

// ---------------------------------------------------------------- ServerProcess

std::ostream& operator<<(std::ostream& out, const ExitStatus& s) {
  if (s.timed_out) return out << "did not exit in time (killed)";
  if (s.exited) return out << "exited with code " << s.code;
  return out << "killed by signal " << s.signal;
}

ServerProcess::~ServerProcess() {
  reap(true);
  {
    std::lock_guard lock(mutex_);
    stop_reader_ = true;
  }
  if (reader_.joinable()) reader_.join();
  if (::testing::Test::HasFailure() && pid_ > 0) {
    // The server's own account of what happened is usually the fastest way to the cause.
    const auto lines = log_lines();
    const std::size_t first = lines.size() > 80 ? lines.size() - 80 : 0;
    std::cerr << "---- parleyd stderr (last " << lines.size() - first << " of " << lines.size()
              << " lines) ----\n";
    for (std::size_t i = first; i < lines.size(); ++i)
      std::cerr << lines[i].text << '\n';
    std::cerr << "---- end of parleyd stderr ----\n";
  }
}

nlohmann::json ServerProcess::default_config() {
  const auto& keys = test::vectors("handshake.json")["keys"];
  const std::string identity = dir_.write(
      "identity.pem", keys["server_identity"]["private_key_pkcs8_pem"].get<std::string>(), 0600);
  return {
      {"listen", nlohmann::json::array({{{"address", "127.0.0.1"}, {"port", 0}}})},
      {"identity_key", identity},
      {"suites", {"AES-256-GCM", "CHACHA20-POLY1305", "IDEA-CTR-HMAC-SHA256"}},
      // Loopback is not exempt from per-source admission, and every test connects from it.
      {"limits", {{"handshakes_per_source_per_s", 1000}, {"handshake_burst_per_source", 1000}}},
      {"auth", {{"mode", "open"}}},
      {"log", {{"format", "json"}, {"level", "debug"}}},
  };
}

void ServerProcess::write_config(const nlohmann::json& config) {
  write_config_text(config.dump(2));
}

void ServerProcess::write_config_text(std::string_view text) {
  dir_.write("parleyd.json", text, 0600);
}

::testing::AssertionResult ServerProcess::start(const nlohmann::json& config,
                                                const std::vector<std::string>& extra_args) {
  if (auto launched = launch(config, extra_args); !launched) return launched;
  auto listening = wait_for_event("listening", kStartTimeout);
  if (!listening) {
    std::string why = running() ? "no `listening` log line within " +
                                      std::to_string(kStartTimeout.count()) + " ms"
                                : "it exited before listening";
    return ::testing::AssertionFailure() << "cannot start parleyd: " << why << "; stderr:\n"
                                         << log_text();
  }
  const auto port = listening->value("port", nlohmann::json());
  if (!port.is_number_unsigned() || port.get<unsigned>() == 0 || port.get<unsigned>() > 65535)
    return ::testing::AssertionFailure()
           << "cannot start parleyd: bad port in " << listening->dump();
  port_ = static_cast<std::uint16_t>(port.get<unsigned>());
  return ::testing::AssertionSuccess();
}

void ServerProcess::set_env(std::string_view name, std::string_view value) {
  std::string entry = std::string(name) + "=" + std::string(value);
  for (auto& e : env_) {
    if (e.compare(0, name.size() + 1, std::string(name) + "=") == 0) {
      e = std::move(entry);
      return;
    }
  }
  env_.push_back(std::move(entry));
}

::testing::AssertionResult ServerProcess::launch(const nlohmann::json& config,
                                                 const std::vector<std::string>& extra_args) {
  if (pid_ > 0) return ::testing::AssertionFailure() << "ServerProcess::start called twice";
  write_config(config);

  int err_pipe[2];
  if (::pipe2(err_pipe, O_CLOEXEC) != 0)
    return ::testing::AssertionFailure() << "cannot start parleyd: pipe2: " << errno_text(errno);
  std::vector<std::string> args = {binary_, "--config", config_path()};
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  std::string error;
  pid_ = spawn(args, SpawnIo{.stderr_fd = err_pipe[1]}, error, nofile_limit_, env_);
  ::close(err_pipe[1]);
  if (pid_ < 0) {
    ::close(err_pipe[0]);
    return ::testing::AssertionFailure() << "cannot start parleyd: " << error;
  }
  reader_ = std::thread([this, fd = err_pipe[0]] { reader_loop(fd); });
  return ::testing::AssertionSuccess();
}

void ServerProcess::reader_loop(int fd) {
  std::string partial;
  auto store = [this](std::string line) {
    LogLine entry;
    auto parsed = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (parsed.is_object()) entry.json = std::move(parsed);
    entry.text = std::move(line);
    std::lock_guard lock(mutex_);
    lines_.push_back(std::move(entry));
  };
  char buf[4096];
  for (;;) {
    {
      std::lock_guard lock(mutex_);
      if (stop_reader_) break;
    }
    // A bounded poll, so the destructor's stop request is seen even if some grandchild kept
    // the pipe's write end open.
    pollfd p{fd, POLLIN, 0};
    const int r = ::poll(&p, 1, 100);
    if (r < 0 && errno != EINTR) break;
    if (r <= 0) continue;
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) break;
    partial.append(buf, static_cast<std::size_t>(n));
    std::size_t start = 0;
    for (std::size_t nl; (nl = partial.find('\n', start)) != std::string::npos; start = nl + 1)
      store(partial.substr(start, nl - start));
    partial.erase(0, start);
    cv_.notify_all();
  }
  if (!partial.empty()) store(std::move(partial));
  ::close(fd);
  {
    std::lock_guard lock(mutex_);
    stderr_closed_ = true;
  }
  cv_.notify_all();
}

bool ServerProcess::running() {
  if (pid_ <= 0 || exit_status_) return false;
  int status = 0;
  const pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    exit_status_ = decode_status(status);
    return false;
  }
  return r == 0;
}

void ServerProcess::signal(int signo) {
  if (running()) ::kill(pid_, signo);
}

nlohmann::json ServerProcess::reload() {
  const auto mark = log_mark();
  signal(SIGHUP);
  auto line = wait_for_event("reload", kDefaultTimeout, mark);
  if (!line) {
    ADD_FAILURE() << "no reload event after SIGHUP";
    return nlohmann::json::object();
  }
  return *line;
}

ExitStatus ServerProcess::wait_exit(milliseconds timeout) {
  if (pid_ <= 0) {
    ADD_FAILURE() << "wait_exit: parleyd was never started";
    return ExitStatus{};
  }
  if (exit_status_) return *exit_status_;
  if (auto status = wait_child(pid_, Clock::now() + timeout)) {
    exit_status_ = decode_status(*status);
    // What parleyd wrote just before it exited may still be in the pipe: let the reader take it,
    // so that a test reading the log after the exit sees the last line.
    std::unique_lock lock(mutex_);
    cv_.wait_until(lock, Clock::now() + milliseconds(2000), [&] { return stderr_closed_; });
    return *exit_status_;
  }
  ADD_FAILURE() << "parleyd did not exit within " << timeout.count() << " ms; killing it";
  reap(true);
  ExitStatus out;
  out.timed_out = true;
  return out;
}

void ServerProcess::reap(bool kill_first) {
  if (pid_ <= 0 || exit_status_) return;
  if (kill_first) ::kill(pid_, SIGKILL);
  int status = 0;
  pid_t r;
  do {
    r = ::waitpid(pid_, &status, 0);
  } while (r < 0 && errno == EINTR);
  exit_status_ = r == pid_ ? decode_status(status) : ExitStatus{};
}

std::size_t ServerProcess::log_mark() const {
  std::lock_guard lock(mutex_);
  return lines_.size();
}

std::optional<nlohmann::json> ServerProcess::wait_for_log(
    const std::function<bool(const nlohmann::json&)>& pred, milliseconds timeout,
    std::size_t since) {
  const auto deadline = Clock::now() + timeout;
  std::unique_lock lock(mutex_);
  std::size_t next = since;
  for (;;) {
    for (; next < lines_.size(); ++next)
      if (lines_[next].json && pred(*lines_[next].json)) return lines_[next].json;
    if (stderr_closed_) return std::nullopt;
    if (cv_.wait_until(lock, deadline) == std::cv_status::timeout) {
      for (; next < lines_.size(); ++next)
        if (lines_[next].json && pred(*lines_[next].json)) return lines_[next].json;
      return std::nullopt;
    }
  }
}

std::optional<nlohmann::json> ServerProcess::wait_for_event(std::string_view event,
                                                            milliseconds timeout,
                                                            std::size_t since) {
  return wait_for_log(
      [event](const nlohmann::json& j) {
        auto it = j.find("event");
        return it != j.end() && it->is_string() && it->get<std::string>() == event;
      },
      timeout, since);
}

std::vector<nlohmann::json> ServerProcess::events(std::string_view event, std::size_t since) const {
  std::lock_guard lock(mutex_);
  std::vector<nlohmann::json> out;
  for (std::size_t i = since; i < lines_.size(); ++i) {
    const auto& j = lines_[i].json;
    if (!j) continue;
    auto it = j->find("event");
    if (it != j->end() && it->is_string() && it->get<std::string>() == event) out.push_back(*j);
  }
  return out;
}

std::vector<LogLine> ServerProcess::log_lines() const {
  std::lock_guard lock(mutex_);
  return lines_;
}

std::string ServerProcess::log_text() const {
  std::lock_guard lock(mutex_);
  std::string out;
  for (const auto& line : lines_)
    out += line.text + "\n";
  return out;
}

CheckConfigResult ServerProcess::run_check_config(const std::string& path, milliseconds timeout) {
  CheckConfigResult result;
  int err_pipe[2];
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    ADD_FAILURE() << "pipe2: " << errno_text(errno);
    return result;
  }
  std::string error;
  const pid_t pid =
      spawn({parleyd_path(), "--check-config", path}, SpawnIo{.stderr_fd = err_pipe[1]}, error);
  ::close(err_pipe[1]);
  if (pid < 0) {
    ::close(err_pipe[0]);
    ADD_FAILURE() << "cannot start parleyd: " << error;
    result.stderr_text = "cannot start parleyd: " + error;
    return result;
  }
  const auto deadline = Clock::now() + timeout;
  char buf[4096];
  for (;;) {
    if (!poll_until(err_pipe[0], POLLIN, deadline)) break;
    const ssize_t n = ::read(err_pipe[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    result.stderr_text.append(buf, static_cast<std::size_t>(n));
  }
  ::close(err_pipe[0]);
  auto status = wait_child(pid, deadline);
  if (!status) {
    ADD_FAILURE() << "parleyd --check-config " << path << " did not exit within " << timeout.count()
                  << " ms";
    ::kill(pid, SIGKILL);
    int ignored;
    ::waitpid(pid, &ignored, 0);
    return result;
  }
  const ExitStatus s = decode_status(*status);
  if (s.exited) result.exit_code = s.code;
  return result;
}

// ---------------------------------------------------------------- TestClient

std::ostream& operator<<(std::ostream& out, const CloseOutcome& c) {
  if (c.close_record)
    out << "close record code " << static_cast<int>(c.code) << " (" << name_of(c.code)
        << ") reason \"" << c.reason << "\"";
  else
    out << "no close record";
  out << (c.eof ? ", EOF" : ", no EOF");
  if (c.timed_out) out << ", timed out";
  return out << ", " << c.events_skipped << " events skipped";
}

TestClient::TestClient() : socket_(io_) {}

TestClient::~TestClient() {
  disconnect();
}

void TestClient::disconnect() {
  boost::system::error_code ec;
  if (socket_.is_open()) socket_.close(ec);
  decoder_ = FrameDecoder(kHandshakeMaxFrame);
  sealer_.reset();
  opener_.reset();
  eof_ = reset_ = timed_out_ = false;
  error_.clear();
  close_.reset();
}

milliseconds TestClient::remaining(Clock::time_point deadline) {
  return std::max(milliseconds(0), std::chrono::ceil<milliseconds>(deadline - Clock::now()));
}

::testing::AssertionResult TestClient::connect(std::uint16_t port, const ConnectOptions& options,
                                               milliseconds timeout) {
  disconnect();
  const auto deadline = Clock::now() + timeout;
  boost::system::error_code ec;
  socket_.open(boost::asio::ip::tcp::v4(), ec);
  if (ec) return ::testing::AssertionFailure() << "socket: " << ec.message();
  if (options.receive_buffer) {
    socket_.set_option(boost::asio::socket_base::receive_buffer_size(*options.receive_buffer), ec);
    if (ec) return ::testing::AssertionFailure() << "SO_RCVBUF: " << ec.message();
  }
  if (options.source_address) {
    const auto source = boost::asio::ip::make_address_v4(*options.source_address, ec);
    if (!ec) socket_.bind(boost::asio::ip::tcp::endpoint(source, 0), ec);
    if (ec)
      return ::testing::AssertionFailure()
             << "bind " << *options.source_address << ": " << ec.message();
  }
  // Small records are the norm here; Nagle would only add latency between test steps.
  socket_.set_option(boost::asio::ip::tcp::no_delay(true), ec);
  socket_.non_blocking(true, ec);
  if (ec) return ::testing::AssertionFailure() << "non_blocking: " << ec.message();

  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  // A non-blocking connect: a server with a full accept backlog would otherwise hold a blocking
  // connect for seconds of SYN retries.
  if (::connect(fd(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    if (errno != EINPROGRESS && errno != EINTR)
      return ::testing::AssertionFailure()
             << "connect 127.0.0.1:" << port << ": " << errno_text(errno);
    if (!poll_until(fd(), POLLOUT, deadline))
      return ::testing::AssertionFailure()
             << "connect 127.0.0.1:" << port << ": timed out after " << timeout.count() << " ms";
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(fd(), SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0)
      return ::testing::AssertionFailure()
             << "connect 127.0.0.1:" << port << ": " << errno_text(err);
  }
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult TestClient::write_all(ByteView bytes, Clock::time_point deadline) {
  if (!socket_.is_open()) return ::testing::AssertionFailure() << "send on a closed client";
  std::size_t done = 0;
  while (done < bytes.size()) {
    // MSG_NOSIGNAL: a server that has closed must fail the write, not kill the test binary.
    const ssize_t n = ::send(fd(), bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
    if (n > 0) {
      done += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (!poll_until(fd(), POLLOUT, deadline))
        return ::testing::AssertionFailure()
               << "send: the server did not take " << bytes.size() - done << " more bytes in time";
      continue;
    }
    return ::testing::AssertionFailure() << "send: " << errno_text(errno);
  }
  return ::testing::AssertionSuccess();
}

TestClient::ReadStatus TestClient::read_frame(Clock::time_point deadline, Bytes& body) {
  for (;;) {
    if (auto frame = decoder_.next()) {
      body.assign(frame->begin(), frame->end());
      return ReadStatus::frame;
    }
    if (decoder_.error() != FrameError::none) {
      error_ = decoder_.error() == FrameError::too_long
                   ? "the server sent a frame longer than max_frame " +
                         std::to_string(decoder_.max_frame())
                   : "the server sent a frame of length 0";
      return ReadStatus::error;
    }
    if (eof_) return ReadStatus::eof;
    if (!socket_.is_open()) {
      error_ = "read on a closed client";
      return ReadStatus::error;
    }
    if (!poll_until(fd(), POLLIN, deadline)) return ReadStatus::timeout;
    auto room = decoder_.prepare(16384);
    const ssize_t n = ::recv(fd(), room.data(), room.size(), 0);
    if (n > 0) {
      decoder_.commit(static_cast<std::size_t>(n));
    } else {
      decoder_.commit(0);
      if (n == 0) {
        eof_ = true;
      } else if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK) {
        // A reset is how a server often ends a connection it stopped reading; for the tests it
        // is an end of stream like a FIN.
        eof_ = true;
        reset_ = true;
      }
    }
  }
}

HandshakeOutcome TestClient::transport_failure(StatusCode code, std::string what) {
  HandshakeOutcome out;
  out.failure = HandshakeFailure{code, what};
  out.what = std::move(what);
  return out;
}

std::optional<HandshakeOutcome> TestClient::read_handshake_frame(Clock::time_point deadline,
                                                                 milliseconds timeout,
                                                                 Bytes& body) {
  switch (read_frame(deadline, body)) {
    case ReadStatus::frame:
      return std::nullopt;
    case ReadStatus::eof:
      return transport_failure(StatusCode::internal,
                               "the server closed the connection during the handshake");
    case ReadStatus::timeout:
      return transport_failure(StatusCode::timeout,
                               "no reply from the server during the handshake in " +
                                   std::to_string(timeout.count()) + " ms");
    case ReadStatus::error:
      return transport_failure(StatusCode::bad_message, error_);
  }
  return std::nullopt;
}

HandshakeOutcome TestClient::handshake(const HandshakeOptions& options, milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  HandshakeOutcome out = handshake_until_finished(options, timeout);
  if (out.failure) return out;
  return finish_handshake(remaining(deadline));
}

namespace {
// The outcome of a handshake that the protocol refused (either side).
HandshakeOutcome handshake_failure(HandshakeFailure failure) {
  HandshakeOutcome out;
  out.what = "handshake failed with code " + std::to_string(static_cast<int>(failure.code)) + " (" +
             std::string(name_of(failure.code)) + "): " + failure.reason;
  out.failure = std::move(failure);
  return out;
}

// The c2s record #0 with `forge` applied to the data of `genuine` (the record ClientHandshake
// made). ClientHandshake keeps its keys to itself, as it should, so they are derived again here
// (PROTOCOL.md 2.6) from the same two hellos and the transport key; only tests do this.
Bytes forged_finished(const Botan::RSA_PrivateKey& transport, Botan::RandomNumberGenerator& rng,
                      ByteView client_hello_frame, ByteView server_hello_body, ByteView genuine,
                      const std::function<Bytes(const ClientFinished&)>& forge) {
  const ByteView client_hello_body = client_hello_frame.subspan(kFrameHeaderSize);
  const auto hello = std::get<ClientHello>(parse_client_hello(client_hello_body));
  // ClientHandshake has already accepted this ServerHello and unwrapped its secret.
  const ServerHello server_hello = parse_server_hello(server_hello_body)->hello;
  Botan::PK_Decryptor_EME decryptor(transport, rng, kOaepPadding);
  const Secret secret = decryptor.decrypt(server_hello.wrapped_secret);
  const SuiteInfo& suite = *find_suite(server_hello.suite);
  TrafficSecrets ts = derive_traffic_secrets(secret, hello.random, server_hello.random,
                                             transcript_hash(client_hello_body, server_hello_body));
  RecordOpener reader(Direction::client_to_server, suite, ts.c2s);
  auto opened = reader.open(genuine.subspan(kFrameHeaderSize));
  const auto finished = parse_client_finished(std::get<OpenedRecord>(opened).data);
  const Bytes data = forge(*finished);
  RecordSealer sealer(suite, std::move(ts.c2s));
  Bytes frame;
  sealer.seal(ContentType::finished, data, frame);
  return frame;
}
}  // namespace

HandshakeOutcome TestClient::handshake_until_finished(const HandshakeOptions& options,
                                                      milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  if (!socket_.is_open())
    return transport_failure(StatusCode::internal, "handshake before connect");
  ClientOptions client_options;
  client_options.suites = options.suites;
  client_options.pinned_fingerprint = options.pinned;
  client_options.identity = options.identity;
  const std::shared_ptr<const Botan::RSA_PrivateKey> transport =
      options.transport
          ? options.transport
          : std::shared_ptr<const Botan::RSA_PrivateKey>(test::vector_key("transport"));
  hs_.emplace(std::make_unique<Botan::RSA_PrivateKey>(*transport), std::move(client_options), rng_);
  const Bytes client_hello = hs_->start();
  if (auto sent = write_all(client_hello, deadline); !sent)
    return transport_failure(StatusCode::internal, sent.message());
  // The ServerHello, or the Error frame that refuses us.
  Bytes body;
  if (auto failure = read_handshake_frame(deadline, timeout, body)) return *failure;
  HandshakeStep step = hs_->on_frame(body);
  // Unpinned: trust on first use, as `parley --trust-new` does.
  if (!step.failure && hs_->awaiting_trust()) step = hs_->trust_server();
  if (step.failure) return handshake_failure(std::move(*step.failure));
  held_finished_ = std::move(step.send);  // sent by finish_handshake()
  if (options.forge_finished)
    held_finished_ = forged_finished(*transport, rng_, client_hello, body, held_finished_,
                                     options.forge_finished);
  return {};
}

HandshakeOutcome TestClient::finish_handshake(milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  if (!hs_)
    return transport_failure(StatusCode::internal, "finish_handshake before the ServerHello");
  if (auto sent = write_all(held_finished_, deadline); !sent)
    return transport_failure(StatusCode::internal, sent.message());
  held_finished_.clear();
  // The server's finished.
  Bytes frame;
  if (auto failure = read_handshake_frame(deadline, timeout, frame)) return *failure;
  HandshakeStep step = hs_->on_frame(frame);
  if (step.failure) return handshake_failure(std::move(*step.failure));
  if (!step.established)
    return transport_failure(StatusCode::bad_message, "no session after the server's finished");
  sealer_.emplace(std::move(step.established->sealer));
  opener_.emplace(std::move(step.established->opener));
  hs_.reset();

  // s2c record #1 is always the welcome (PROTOCOL.md 3.2a).
  Bytes body;
  const ReadStatus status = read_frame(deadline, body);
  if (status != ReadStatus::frame)
    return transport_failure(StatusCode::internal,
                             status == ReadStatus::timeout ? "no welcome in time"
                             : status == ReadStatus::eof   ? "EOF instead of the welcome"
                                                           : error_);
  auto opened = opener_->open(body);
  if (auto* error = std::get_if<RecordError>(&opened))
    return transport_failure(StatusCode::bad_message,
                             "welcome record: " + std::string(describe(*error)));
  const auto& record = std::get<OpenedRecord>(opened);
  if (record.type == ContentType::close) {
    auto close = parse_close(record.data);
    close_ = close ? *close : CloseRecord{StatusCode::internal, "unparseable close"};
    return transport_failure(close_->code, "closed instead of the welcome: " + close_->reason);
  }
  if (record.type != ContentType::app)
    return transport_failure(StatusCode::bad_message, "s2c record #1 is not an app record");
  auto event = evt::parse(as_chars(record.data));
  auto* welcome = std::get_if<evt::Event>(&event);
  if (!welcome || !std::holds_alternative<evt::Welcome>(*welcome))
    return transport_failure(StatusCode::bad_message, "s2c record #1 is not a welcome: " +
                                                          std::string(as_chars(record.data)));
  welcome_ = std::get<evt::Welcome>(*welcome);
  // From here on frames may be as large as the server announced, in both directions.
  decoder_.set_max_frame(welcome_.max_frame);
  HandshakeOutcome out;
  out.established = true;
  return out;
}

::testing::AssertionResult TestClient::open(std::uint16_t port, const HandshakeOptions& options,
                                            const ConnectOptions& connect_options) {
  if (auto connected = connect(port, connect_options); !connected) return connected;
  auto outcome = handshake(options);
  if (!outcome.established) return ::testing::AssertionFailure() << outcome.what;
  return ::testing::AssertionSuccess();
}

Bytes TestClient::client_hello_frame() {
  ClientHandshake hs(test::vector_key("transport"), ClientOptions{}, rng_);
  return hs.start();
}

::testing::AssertionResult TestClient::send(std::string_view json, milliseconds timeout) {
  if (!sealer_) return ::testing::AssertionFailure() << "send before the handshake completed";
  Bytes out;
  sealer_->seal(ContentType::app, as_bytes(json), out);
  return write_all(out, Clock::now() + timeout);
}

::testing::AssertionResult TestClient::send(const req::Request& request, milliseconds timeout) {
  return send(req::serialize(request), timeout);
}

::testing::AssertionResult TestClient::send(req::Body body, RequestId id, milliseconds timeout) {
  return send(req::Request{std::move(id), std::move(body)}, timeout);
}

::testing::AssertionResult TestClient::send_burst(const std::vector<req::Request>& requests,
                                                  milliseconds timeout) {
  if (!sealer_) return ::testing::AssertionFailure() << "send before the handshake completed";
  Bytes out;
  for (const auto& r : requests)
    sealer_->seal(ContentType::app, as_bytes(req::serialize(r)), out);
  return write_all(out, Clock::now() + timeout);
}

::testing::AssertionResult TestClient::send_raw(ByteView bytes, milliseconds timeout) {
  return write_all(bytes, Clock::now() + timeout);
}

::testing::AssertionResult TestClient::send_key_update(milliseconds timeout) {
  if (!sealer_) return ::testing::AssertionFailure() << "key update before the handshake completed";
  Bytes out;
  sealer_->update_keys(out);
  return write_all(out, Clock::now() + timeout);
}

Bytes TestClient::seal(ContentType type, ByteView data) {
  Bytes out;
  if (sealer_) sealer_->seal(type, data, out);
  return out;
}

::testing::AssertionResult TestClient::send_close(StatusCode code, std::string_view reason,
                                                  milliseconds timeout) {
  if (!sealer_) return ::testing::AssertionFailure() << "close before the handshake completed";
  return write_all(seal(ContentType::close, encode_close(code, reason)), Clock::now() + timeout);
}

void TestClient::reset_connection() {
  boost::system::error_code ec;
  socket_.set_option(boost::asio::socket_base::linger(true, 0), ec);
  socket_.close(ec);
}

std::string TestClient::describe_end() const {
  if (close_)
    return "but the server sent close code " + std::to_string(static_cast<int>(close_->code)) +
           " (" + std::string(name_of(close_->code)) + "): " + close_->reason;
  if (!error_.empty()) return "but " + error_;
  if (eof_) return reset_ ? "but the connection was reset" : "but the connection ended (EOF)";
  if (timed_out_) return "but nothing arrived in time";
  return "but nothing arrived";
}

std::optional<evt::Event> TestClient::next_event(milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  timed_out_ = false;
  if (!opener_) {
    error_ = "next_event before the handshake completed";
    return std::nullopt;
  }
  for (;;) {
    if (close_ || eof_ || !error_.empty()) return std::nullopt;
    Bytes body;
    const ReadStatus status = read_frame(deadline, body);
    if (status == ReadStatus::timeout) timed_out_ = true;
    if (status != ReadStatus::frame) return std::nullopt;
    auto opened = opener_->open(body);
    if (auto* error = std::get_if<RecordError>(&opened)) {
      error_ = "a bad record from the server: " + std::string(describe(*error));
      ADD_FAILURE() << error_;
      return std::nullopt;
    }
    const auto& record = std::get<OpenedRecord>(opened);
    switch (record.type) {
      case ContentType::key_update:
        continue;  // the opener has already moved to the next epoch
      case ContentType::close: {
        auto close = parse_close(record.data);
        close_ = close ? *close : CloseRecord{StatusCode::internal, "(unparseable close record)"};
        return std::nullopt;
      }
      case ContentType::finished:
        error_ = "a finished record after the handshake";
        ADD_FAILURE() << error_;
        return std::nullopt;
      case ContentType::app:
        break;
    }
    auto parsed = evt::parse(as_chars(record.data));
    if (auto* failure = std::get_if<evt::ParseFailure>(&parsed)) {
      // A malformed event is a server bug worth failing on, but later events may still matter.
      ADD_FAILURE() << "unparseable event from the server (" << failure->what
                    << "): " << as_chars(record.data);
      continue;
    }
    if (std::holds_alternative<evt::UnknownEvent>(parsed)) {
      // Our own server speaks only the types this build knows: anything else is its bug.
      ADD_FAILURE() << "event of an unknown type from the server: " << as_chars(record.data);
      continue;
    }
    auto& event = std::get<evt::Event>(parsed);
    if (auto_pong_ && std::holds_alternative<evt::Ping>(event)) {
      if (auto sent = send(req::Body{req::Pong{}}, RequestId{}, remaining(deadline)); !sent) {
        error_ = "auto-pong failed: " + std::string(sent.message());
        return std::nullopt;
      }
      continue;
    }
    return std::move(event);
  }
}

void TestClient::expect_error(ErrorCode code, const RequestId& id, milliseconds timeout) {
  auto error = expect<evt::Error>(timeout);
  EXPECT_EQ(to_string(error.code), to_string(code)) << "message: " << error.message;
  EXPECT_TRUE(error.id == id) << "error " << to_string(code) << " carries id " << describe(error.id)
                              << ", expected " << describe(id);
}

void TestClient::expect_alive(milliseconds timeout) {
  const RequestId id{next_ping_id_++};
  ASSERT_TRUE(send(req::Body{req::Ping{}}, id));
  auto pong = wait_for<evt::Pong>([&](const evt::Pong& p) { return p.id == id; }, timeout);
  EXPECT_TRUE(pong.has_value()) << "no pong for ping " << describe(id) << " " << describe_end();
}

CloseOutcome TestClient::wait_closed(milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  CloseOutcome out;
  if (opener_) {
    while (auto event = next_event(remaining(deadline)))
      ++out.events_skipped;
  } else {
    wait_eof(remaining(deadline));
  }
  if (close_) {
    out.close_record = true;
    out.code = close_->code;
    out.reason = close_->reason;
    // The server closes right after its close record; a short extra wait is enough to see it.
    if (!eof_) wait_eof(std::min(remaining(deadline), milliseconds(1000)));
  }
  out.eof = eof_;
  out.timed_out = !close_ && !eof_ && timed_out_;
  return out;
}

std::optional<ErrorFrame> TestClient::read_error_frame(milliseconds timeout) {
  Bytes body;
  const ReadStatus status = read_frame(Clock::now() + timeout, body);
  if (status != ReadStatus::frame) {
    timed_out_ = status == ReadStatus::timeout;
    return std::nullopt;
  }
  auto frame = parse_error_frame(body);
  if (!frame) error_ = "a frame that is not an Error frame: " + to_hex(body);
  return frame;
}

bool TestClient::wait_eof(milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (!eof_ && socket_.is_open()) {
    if (!poll_until(fd(), POLLIN, deadline)) return false;
    char buf[16384];
    const ssize_t n = ::recv(fd(), buf, sizeof buf, 0);
    if (n == 0) {
      eof_ = true;
    } else if (n < 0 && errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK) {
      eof_ = true;
      reset_ = true;
    }
  }
  return eof_;
}

std::string TestClient::event_type_name(const evt::Event& event) {
  auto j = nlohmann::json::parse(evt::serialize(event), nullptr, false);
  if (j.is_object() && j.contains("type") && j["type"].is_string())
    return j["type"].get<std::string>();
  return "?";
}

}  // namespace parley::it
