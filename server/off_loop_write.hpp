// A file written whole (parley::replace_file: temporary file, fsync, rename) without blocking
// the event loop: the write runs on a thread made for it, and the awaiting coroutine resumes on
// its own executor. For rare operator actions (a ban), where a thread per write costs nothing
// and a standing thread would be one more for every server that never bans anybody.
#pragma once

#include <boost/asio/awaitable.hpp>

#include <string>

namespace parley::server {

// Returns 0 or the errno of the failure.
boost::asio::awaitable<int> replace_file_off_loop(std::string path, std::string contents);

}  // namespace parley::server
