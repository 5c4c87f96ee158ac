#include "scripted_server.hpp"

#include <arpa/inet.h>
#include <botan/auto_rng.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "parley/frame.hpp"
#include "parley/request.hpp"
#include "parley/server_handshake.hpp"
#include "test_support.hpp"

namespace parley::it {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

// Long enough for a sanitizer build to make its transport key; tests end far sooner.
constexpr auto kServeTimeout = std::chrono::seconds(60);
// What we read from the client after the handshake (its records are small).
constexpr std::size_t kClientMaxFrame = 65536;

std::string errno_text() {
  return std::strerror(errno);
}

}  // namespace

ScriptedServer::ScriptedServer(ServerScript script) : script_(std::move(script)) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  if (listen_fd_ < 0 ||
      ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      ::listen(listen_fd_, 4) != 0 ||
      ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    fail("cannot listen on 127.0.0.1: " + errno_text());
    done_ = true;
    return;
  }
  port_ = ntohs(address.sin_port);
  deadline_ = Clock::now() + kServeTimeout;
  thread_ = std::thread([this] { serve(); });
}

ScriptedServer::~ScriptedServer() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  if (listen_fd_ >= 0) ::close(listen_fd_);
}

bool ScriptedServer::wait_done(milliseconds timeout) {
  std::unique_lock lock(mutex_);
  return cv_.wait_for(lock, timeout, [this] { return done_; });
}

std::string ScriptedServer::error() const {
  std::lock_guard lock(mutex_);
  return error_;
}

std::vector<std::string> ScriptedServer::received() const {
  std::lock_guard lock(mutex_);
  return received_;
}

void ScriptedServer::fail(std::string what) {
  std::lock_guard lock(mutex_);
  if (error_.empty()) error_ = std::move(what);
}

bool ScriptedServer::wait_ready(int fd, short events) {
  // Short slices, so that the destructor's stop_ is seen soon.
  while (!stop_ && Clock::now() < deadline_) {
    pollfd p{fd, events, 0};
    const int r = ::poll(&p, 1, 100);
    if (r > 0) return true;
    if (r < 0 && errno != EINTR) return false;
  }
  return false;
}

void ScriptedServer::serve() {
  if (wait_ready(listen_fd_, POLLIN)) {
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd >= 0) {
      serve_connection(fd);
      ::close(fd);
    } else {
      fail("accept: " + errno_text());
    }
  } else {
    fail("no client connected");
  }
  std::lock_guard lock(mutex_);
  done_ = true;
  cv_.notify_all();
}

void ScriptedServer::serve_connection(int fd) {
  FrameDecoder decoder(kHandshakeMaxFrame);
  bool eof = false;
  // The next frame body; nullopt at EOF, at the deadline or on a bad frame.
  const auto read_frame = [&]() -> std::optional<Bytes> {
    for (;;) {
      if (auto body = decoder.next()) return Bytes(body->begin(), body->end());
      if (decoder.error() != FrameError::none || eof || !wait_ready(fd, POLLIN))
        return std::nullopt;
      auto room = decoder.prepare(16384);
      const ssize_t n = ::recv(fd, room.data(), room.size(), 0);
      decoder.commit(n > 0 ? static_cast<std::size_t>(n) : 0);
      if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) eof = true;
    }
  };
  const auto write_all = [&](const Bytes& bytes) {
    for (std::size_t done = 0; done < bytes.size();) {
      const ssize_t n = ::send(fd, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR) continue;
        return false;
      }
      done += static_cast<std::size_t>(n);
    }
    return true;
  };

  Botan::AutoSeeded_RNG rng;
  ServerIdentity identity(test::vector_key("server_identity"), rng);
  ServerPolicy policy;
  policy.suites = {SuiteId::aes_256_gcm, SuiteId::chacha20_poly1305, SuiteId::idea_ctr_hmac_sha256};
  ServerHandshake handshake(identity, policy, rng);
  std::optional<Established> session;
  while (!session) {
    std::optional<Bytes> body = read_frame();
    if (!body) return fail("the client left during the handshake");
    HandshakeStep step = handshake.on_frame(*body);
    if (!write_all(step.send)) return fail("send: " + errno_text());
    if (step.failure) return fail("handshake failed: " + step.failure->reason);
    if (step.established) session = std::move(step.established);
  }

  Bytes out;
  for (const std::string& json : script_.app_records)
    session->sealer.seal(ContentType::app, as_bytes(json), out);
  // The last byte written so far is the last record's tag.
  if (script_.tamper_last_record && !out.empty()) out.back() ^= 0x01;
  const bool hang_up =
      script_.hang_up || script_.tamper_last_record || script_.oversized_frame.has_value();
  if (script_.oversized_frame) {
    const std::uint32_t length = *script_.oversized_frame;
    for (int shift = 24; shift >= 0; shift -= 8)
      out.push_back(static_cast<std::uint8_t>(length >> shift));
    out.insert(out.end(), 64, 0x41);  // a start of the body, never finished
  }
  if (script_.close && !hang_up)
    session->sealer.seal(ContentType::close,
                         encode_close(script_.close->code, script_.close->reason), out);
  if (!write_all(out)) return fail("send: " + errno_text());
  bool closed = script_.close.has_value() || hang_up;
  if (closed) ::shutdown(fd, SHUT_WR);

  // Whatever the client says until it hangs up; a quit is answered as parleyd would.
  decoder.set_max_frame(kClientMaxFrame);
  while (std::optional<Bytes> body = read_frame()) {
    auto opened = session->opener.open(*body);
    const auto* record = std::get_if<OpenedRecord>(&opened);
    if (!record) return fail("a bad record from the client");
    if (record->type == ContentType::close) break;
    if (record->type != ContentType::app) continue;
    const std::string json(as_chars(record->data));
    {
      std::lock_guard lock(mutex_);
      received_.push_back(json);
    }
    auto request = req::parse(json, req::Limits{});
    if (auto* parsed = std::get_if<req::Request>(&request);
        !closed && parsed && std::holds_alternative<req::Quit>(parsed->body)) {
      Bytes close;
      session->sealer.seal(ContentType::close, encode_close(StatusCode::normal, "bye"), close);
      if (!write_all(close)) return fail("send: " + errno_text());
      ::shutdown(fd, SHUT_WR);
      closed = true;
    }
  }
}

}  // namespace parley::it
