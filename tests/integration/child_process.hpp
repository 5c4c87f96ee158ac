// A child process with its stdin, stdout and stderr on pipes: how the client tests run the real
// `parley` binary (and tmux). Every wait has a deadline; the destructor kills what still runs.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "harness.hpp"

namespace parley::it {

class ChildProcess {
 public:
  // Runs argv[0] (a path) with the test's environment plus `env` (NAME -> value; an empty
  // value sets the variable empty).
  ChildProcess(std::vector<std::string> argv, const std::map<std::string, std::string>& env = {});
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  bool started() const { return pid_ > 0; }
  const std::string& start_error() const { return start_error_; }

  // Blocking write of everything (the child reads as it goes); false if the child stopped
  // reading. close_stdin() sends EOF.
  bool write_stdin(std::string_view data);
  void close_stdin();

  // Waits until stdout has a complete line matching pred; returns it.
  std::optional<std::string> wait_for_line(const std::function<bool(const std::string&)>& pred,
                                           milliseconds timeout = kDefaultTimeout);
  // Waits until stderr holds `needle` (servers that log there); false at the deadline or once
  // the child's output has closed without it.
  bool wait_for_stderr(std::string_view needle, milliseconds timeout = kDefaultTimeout);
  std::vector<std::string> stdout_lines() const;
  std::string stdout_text() const;
  std::string stderr_text() const;

  void signal(int signo);
  // Waits for exit (killing the child at the deadline) and for its output to be drained.
  ExitStatus wait_exit(milliseconds timeout = kDefaultTimeout);

 private:
  void reader_loop();

  pid_t pid_ = -1;
  std::string start_error_;
  int stdin_fd_ = -1;
  int stdout_fd_ = -1;
  int stderr_fd_ = -1;
  std::optional<ExitStatus> status_;

  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::string out_;
  std::string err_;
  bool outputs_closed_ = false;
  bool stop_ = false;
  std::thread reader_;
};

struct ChildResult {
  ExitStatus status;
  std::string out;
  std::string err;
};

// Runs to completion with `input` on stdin.
ChildResult run_child(std::vector<std::string> argv, std::string_view input,
                      const std::map<std::string, std::string>& env = {},
                      milliseconds timeout = kDefaultTimeout);

}  // namespace parley::it
