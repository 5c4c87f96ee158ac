#include "seq_lease.hpp"

#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <stdexcept>
#include <variant>

#include "parley/bounded_file.hpp"
#include "parley/file_io.hpp"

namespace parley::server {

SeqLease::SeqLease(std::string path) : path_(std::move(path)) {
  if (::access(path_.c_str(), F_OK) == 0) {
    auto text = config::read_bounded_file(path_);
    if (auto* error = std::get_if<config::FileError>(&text))
      throw std::runtime_error("room seq lease: " + error->message);
    const std::string& s = std::get<std::string>(text);
    const char* end = s.data() + s.size();
    while (end != s.data() && (end[-1] == '\n' || end[-1] == ' '))
      --end;
    auto [ptr, ec] = std::from_chars(s.data(), end, base_);
    if (ec != std::errc() || ptr != end || s.empty())
      throw std::runtime_error("room seq lease " + path_ +
                               ": not a number (remove the file only if no client keeps seqs)");
  }
  if (base_ > kMax - kBlock) throw std::runtime_error("room seq lease " + path_ + ": exhausted");
  write(base_ + kBlock);
}

std::uint64_t SeqLease::extend() {
  if (limit_ > kMax - kBlock) throw std::runtime_error("room seq lease " + path_ + ": exhausted");
  write(limit_ + kBlock);
  return limit_;
}

// Replaced whole (replace_file): a crash leaves the old lease or the new one, never half a number.
void SeqLease::write(std::uint64_t limit) {
  if (const int error = parley::replace_file(path_, std::to_string(limit) + "\n"))
    throw std::runtime_error("room seq lease " + path_ + ": " + std::strerror(error));
  limit_ = limit;
}

std::string SeqLease::path_beside(const std::string& identity_key) {
  return parley::sibling_path(identity_key, "room-seq");
}

}  // namespace parley::server
