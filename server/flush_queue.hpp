// Output is written once per loop turn, not once per message.
//
// A session that gets output during a turn (one chat line to many rooms, a
// burst of replies, several publishers' lines) enrolls here once; a single
// drain posted behind everything already queued then lets each enrolled
// session write all it has with one non-blocking send. Fan-out to N members
// so costs N sends per turn however many messages the turn carried.
#pragma once

#include <boost/asio/any_io_executor.hpp>

#include <memory>
#include <vector>

namespace parley::server {

class PendingOutput {
 public:
  // Writes what the socket takes now; called once per enrollment.
  virtual void flush_output() = 0;

 protected:
  ~PendingOutput() = default;
};

class FlushQueue {
 public:
  explicit FlushQueue(boost::asio::any_io_executor executor) : executor_(std::move(executor)) {}

  // The caller enrolls at most once per turn (it keeps its own flag until flush_output()).
  void enroll(std::shared_ptr<PendingOutput> output);

 private:
  void drain();

  boost::asio::any_io_executor executor_;
  std::vector<std::shared_ptr<PendingOutput>> pending_;
  std::vector<std::shared_ptr<PendingOutput>> draining_;
};

}  // namespace parley::server
