// Small POSIX helpers shared by the programs and tests (blocking; never used on the event loop).
#pragma once

#include <string>
#include <string_view>

namespace parley {

// Writes all of `data` to `fd`, retrying short writes and EINTR. Returns 0, or the errno of
// the write that failed (0-byte writes count as EIO).
int write_all(int fd, std::string_view data);

// Replaces the file at `path` with `data` (mode 0600) so that a crash leaves the old content or
// the new, never part of it: written whole to `path`.tmp, synced, then renamed over `path`.
// Returns 0, or the errno of the step that failed (the temporary file is then removed).
int replace_file(const std::string& path, std::string_view data);

// `name` in the directory of `path` ("./name" when `path` has no directory): the state files
// parleyd keeps beside its identity key.
std::string sibling_path(const std::string& path, std::string_view name);

}  // namespace parley
