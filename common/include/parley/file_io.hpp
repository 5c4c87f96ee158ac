// Small POSIX helpers shared by the programs and tests (blocking; never used on the event loop).
#pragma once

#include <string_view>

namespace parley {

// Writes all of `data` to `fd`, retrying short writes and EINTR. Returns 0, or the errno of
// the write that failed (0-byte writes count as EIO).
int write_all(int fd, std::string_view data);

}  // namespace parley
