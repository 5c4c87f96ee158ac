#include "off_loop_write.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "parley/file_io.hpp"

namespace parley::server {
namespace {

namespace asio = boost::asio;

// Runs on the write's own thread. Parameters by value: the coroutine outlives the caller's frame.
asio::awaitable<int> write_whole(std::string path, std::string contents) {
  co_return parley::replace_file(path, contents);
}

}  // namespace

asio::awaitable<int> replace_file_off_loop(std::string path, std::string contents) {
  asio::thread_pool thread(1);
  // co_spawn's completion is dispatched to this coroutine's executor: it resumes on the loop.
  auto write = asio::co_spawn(thread, write_whole(std::move(path), std::move(contents)),
                              asio::use_awaitable);
  const int error = co_await std::move(write);
  thread.join();  // idle by now: the write is done
  co_return error;
}

}  // namespace parley::server
