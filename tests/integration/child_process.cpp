#include "child_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>

#include "parley/file_io.hpp"

namespace parley::it {
ChildProcess::ChildProcess(std::vector<std::string> argv,
                           const std::map<std::string, std::string>& env) {
  std::signal(SIGPIPE, SIG_IGN);  // a child that stops reading must not kill the test
  std::vector<std::string> extra_env;
  for (const auto& [name, value] : env)
    extra_env.push_back(name + "=" + value);
  int in[2], out[2], err[2];
  if (::pipe2(in, O_CLOEXEC) || ::pipe2(out, O_CLOEXEC) || ::pipe2(err, O_CLOEXEC)) {
    start_error_ = std::string("pipe2: ") + std::strerror(errno);
    return;
  }
  pid_ = spawn(argv, SpawnIo{in[0], out[1], err[1]}, start_error_, 0, extra_env);
  ::close(in[0]);
  ::close(out[1]);
  ::close(err[1]);
  stdin_fd_ = in[1];
  stdout_fd_ = out[0];
  stderr_fd_ = err[0];
  if (pid_ > 0) reader_ = std::thread([this] { reader_loop(); });
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0 && !status_) {
    ::kill(pid_, SIGKILL);
    int st = 0;
    ::waitpid(pid_, &st, 0);
  }
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  if (reader_.joinable()) reader_.join();
  for (int fd : {stdin_fd_, stdout_fd_, stderr_fd_})
    if (fd >= 0) ::close(fd);
}

void ChildProcess::reader_loop() {
  pollfd fds[2] = {{stdout_fd_, POLLIN, 0}, {stderr_fd_, POLLIN, 0}};
  int open = 2;
  char buf[8192];
  while (open > 0) {
    {
      std::lock_guard lock(mutex_);
      if (stop_) break;
    }
    const int r = ::poll(fds, 2, 100);
    if (r < 0 && errno != EINTR) break;
    if (r <= 0) continue;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      const ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      std::lock_guard lock(mutex_);
      if (n <= 0) {
        fds[i].fd = -1;
        --open;
      } else {
        (i == 0 ? out_ : err_).append(buf, static_cast<std::size_t>(n));
      }
      cv_.notify_all();
    }
  }
  std::lock_guard lock(mutex_);
  outputs_closed_ = true;
  cv_.notify_all();
}

bool ChildProcess::write_stdin(std::string_view data) {
  return write_all(stdin_fd_, data) == 0;
}

void ChildProcess::close_stdin() {
  if (stdin_fd_ >= 0) ::close(stdin_fd_);
  stdin_fd_ = -1;
}

std::optional<std::string> ChildProcess::wait_for_line(
    const std::function<bool(const std::string&)>& pred, milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  std::unique_lock lock(mutex_);
  std::size_t scanned = 0;  // bytes of out_ already split into lines and tested
  for (;;) {
    for (std::size_t nl; (nl = out_.find('\n', scanned)) != std::string::npos;) {
      std::string line = out_.substr(scanned, nl - scanned);
      scanned = nl + 1;
      if (pred(line)) return line;
    }
    if (outputs_closed_) return std::nullopt;
    if (cv_.wait_until(lock, deadline) == std::cv_status::timeout) {
      // One last look at what arrived with the timeout.
      for (std::size_t nl; (nl = out_.find('\n', scanned)) != std::string::npos;) {
        std::string line = out_.substr(scanned, nl - scanned);
        scanned = nl + 1;
        if (pred(line)) return line;
      }
      return std::nullopt;
    }
  }
}

bool ChildProcess::wait_for_stderr(std::string_view needle, milliseconds timeout) {
  std::unique_lock lock(mutex_);
  return cv_.wait_until(lock, Clock::now() + timeout, [&] {
    return err_.find(needle) != std::string::npos || outputs_closed_;
  }) && err_.find(needle) != std::string::npos;
}

std::vector<std::string> ChildProcess::stdout_lines() const {
  std::vector<std::string> lines;
  std::lock_guard lock(mutex_);
  std::size_t start = 0;
  for (std::size_t nl; (nl = out_.find('\n', start)) != std::string::npos; start = nl + 1)
    lines.push_back(out_.substr(start, nl - start));
  return lines;
}

std::string ChildProcess::stdout_text() const {
  std::lock_guard lock(mutex_);
  return out_;
}

std::string ChildProcess::stderr_text() const {
  std::lock_guard lock(mutex_);
  return err_;
}

void ChildProcess::signal(int signo) {
  if (pid_ > 0 && !status_) ::kill(pid_, signo);
}

ExitStatus ChildProcess::wait_exit(milliseconds timeout) {
  if (status_) return *status_;
  ExitStatus status;
  if (pid_ <= 0) return status;
  // A pidfd becomes readable when the child exits: an exit we can await with a deadline.
  const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0));
  if (pidfd >= 0) {
    pollfd p{pidfd, POLLIN, 0};
    const auto left = std::chrono::duration_cast<milliseconds>(timeout).count();
    while (::poll(&p, 1, static_cast<int>(left)) < 0 && errno == EINTR) {
    }
    ::close(pidfd);
  }
  int st = 0;
  if (::waitpid(pid_, &st, WNOHANG) != pid_) {
    status.timed_out = true;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, &st, 0);
  }
  status.exited = WIFEXITED(st);
  status.code = status.exited ? WEXITSTATUS(st) : -1;
  status.signal = WIFSIGNALED(st) ? WTERMSIG(st) : 0;
  status_ = status;
  // Output written just before exit is still in the pipes: let the reader drain them.
  std::unique_lock lock(mutex_);
  cv_.wait_until(lock, Clock::now() + milliseconds(2000), [&] { return outputs_closed_; });
  return status;
}

ChildResult run_child(std::vector<std::string> argv, std::string_view input,
                      const std::map<std::string, std::string>& env, milliseconds timeout) {
  ChildProcess child(std::move(argv), env);
  ChildResult result;
  if (!child.started()) {
    ADD_FAILURE() << "cannot start child: " << child.start_error();
    return result;
  }
  child.write_stdin(input);
  child.close_stdin();
  result.status = child.wait_exit(timeout);
  result.out = child.stdout_text();
  result.err = child.stderr_text();
  return result;
}

}  // namespace parley::it
