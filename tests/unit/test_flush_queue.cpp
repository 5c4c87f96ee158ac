#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "flush_queue.hpp"

namespace parley::server {
namespace {

// Stands for a session: records when it was flushed, relative to other handlers.
struct Output final : PendingOutput {
  Output(std::vector<std::string>& trace, std::string name) : trace(trace), name(std::move(name)) {}
  void flush_output() override {
    trace.push_back("flush " + name);
    if (on_flush) on_flush();
  }
  std::vector<std::string>& trace;
  std::string name;
  std::function<void()> on_flush;
};

class FlushQueueTest : public ::testing::Test {
 protected:
  boost::asio::io_context io{1};
  FlushQueue queue{io.get_executor()};
  std::vector<std::string> trace;
  std::shared_ptr<Output> a = std::make_shared<Output>(trace, "a");
  std::shared_ptr<Output> b = std::make_shared<Output>(trace, "b");
};

TEST_F(FlushQueueTest, OneDrainAfterEverythingAlreadyQueued) {
  // Two readers' turns are already queued when the first enrollment happens.
  boost::asio::post(io, [&] {
    trace.push_back("reader 1");
    queue.enroll(a);
    queue.enroll(b);
  });
  boost::asio::post(io, [&] { trace.push_back("reader 2"); });
  EXPECT_EQ(io.run(), 3u) << "two readers and a single drain";
  EXPECT_EQ(trace, (std::vector<std::string>{"reader 1", "reader 2", "flush a", "flush b"}));
}

TEST_F(FlushQueueTest, EnrollingDuringADrainGetsAnotherDrain) {
  // a's flush closes it, which queues a notice for b: b must still be written.
  a->on_flush = [&] { queue.enroll(b); };
  queue.enroll(a);
  io.run();
  EXPECT_EQ(trace, (std::vector<std::string>{"flush a", "flush b"}));
}

TEST_F(FlushQueueTest, KeepsOutputsAliveUntilFlushed) {
  std::weak_ptr<Output> watch = a;
  queue.enroll(std::move(a));
  EXPECT_FALSE(watch.expired()) << "the queue holds the session until its flush";
  io.run();
  EXPECT_TRUE(watch.expired());
  EXPECT_EQ(trace, (std::vector<std::string>{"flush a"}));
}

}  // namespace
}  // namespace parley::server
