#include "flush_queue.hpp"

#include <boost/asio/post.hpp>

namespace parley::server {

void FlushQueue::enroll(std::shared_ptr<PendingOutput> output) {
  if (pending_.empty()) boost::asio::post(executor_, [this] { drain(); });
  pending_.push_back(std::move(output));
}

void FlushQueue::drain() {
  // A flush may enroll sessions again (a failed write closes a session, which
  // queues notices for others): they go to a fresh list and a fresh drain.
  draining_.swap(pending_);
  for (const auto& output : draining_)
    output->flush_output();
  draining_.clear();
}

}  // namespace parley::server
