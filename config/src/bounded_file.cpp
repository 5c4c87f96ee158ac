#include "parley/bounded_file.hpp"

#include <array>
#include <cerrno>
#include <cstdio>
#include <memory>
#include <system_error>

namespace parley::config {
namespace {

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};

}  // namespace

std::variant<std::string, FileError> read_bounded_file(const std::string& path) {
  auto failure = [&](const std::string& why) {
    return FileError{"cannot read " + path + ": " + why};
  };
  std::unique_ptr<std::FILE, FileCloser> file(std::fopen(path.c_str(), "rb"));
  if (!file) return failure(std::generic_category().message(errno));
  std::string text;
  std::array<char, 65536> buffer;
  for (;;) {
    const std::size_t n = std::fread(buffer.data(), 1, buffer.size(), file.get());
    text.append(buffer.data(), n);
    if (text.size() > kMaxFileBytes) return failure("larger than 1 MiB");
    if (n < buffer.size()) {
      if (std::ferror(file.get())) return failure(std::generic_category().message(errno));
      break;
    }
  }
  return text;
}

}  // namespace parley::config
