#include "known_hosts.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "parley/file_io.hpp"
#include "text.hpp"

namespace parley::client {
namespace {

constexpr std::string_view kPrefix = "SHA256:";
constexpr std::size_t kBase64Chars = 43;  // 32 bytes, unpadded

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw std::runtime_error("known_hosts " + path + ": " + what);
}

}  // namespace

bool is_fingerprint(std::string_view text) {
  if (!text.starts_with(kPrefix) || text.size() != kPrefix.size() + kBase64Chars) return false;
  return std::all_of(text.begin() + kPrefix.size(), text.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
  });
}

KnownHosts KnownHosts::parse(std::string_view text) {
  KnownHosts out;
  std::size_t number = 0;
  while (!text.empty()) {
    const auto newline = text.find('\n');
    const std::string_view raw = text.substr(0, newline);
    text = newline == std::string_view::npos ? std::string_view{} : text.substr(newline + 1);
    ++number;
    const std::string_view line = trim_blanks(raw);
    if (line.empty() || line.starts_with('#')) continue;
    const auto space =
        std::find_if(line.begin(), line.end(), [](char c) { return c == ' ' || c == '\t'; });
    const std::string_view name(line.begin(), space);
    const std::string_view fingerprint = trim_blanks(std::string_view(space, line.end()));
    if (name.empty() || !is_fingerprint(fingerprint)) {
      ++out.malformed_;
      continue;
    }
    out.entries_.push_back(KnownHost{std::string(name), std::string(fingerprint), number});
  }
  out.lines_ = number;
  return out;
}

HostKeyLookup KnownHosts::lookup(std::string_view name, std::string_view fingerprint) const {
  HostKeyLookup out;
  for (const auto& entry : entries_) {
    if (entry.name != name) continue;
    if (entry.fingerprint == fingerprint) return HostKeyLookup{HostKeyStatus::matches, entry};
    if (!out.recorded) out = HostKeyLookup{HostKeyStatus::changed, entry};
  }
  return out;
}

std::string parley_config_dir() {
  const char* xdg = std::getenv("XDG_CONFIG_HOME");
  if (xdg && *xdg == '/') return std::string(xdg) + "/parley";
  const char* home = std::getenv("HOME");
  if (home && *home) return std::string(home) + "/.config/parley";
  return {};
}

std::string default_known_hosts_path() {
  const std::string dir = parley_config_dir();
  return dir.empty() ? dir : dir + "/known_hosts";
}

namespace {

// The file's text; empty when it does not exist.
std::string read_known_hosts_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (errno == ENOENT) return {};
    fail(path, std::strerror(errno));
  }
  std::stringstream text;
  text << in.rdbuf();
  if (in.bad()) fail(path, "read error");
  return text.str();
}

}  // namespace

KnownHosts load_known_hosts(const std::string& path) {
  return KnownHosts::parse(read_known_hosts_text(path));
}

std::size_t append_known_host(const std::string& path, std::string_view name,
                              std::string_view fingerprint) {
  namespace fs = std::filesystem;
  const fs::path parent = fs::path(path).parent_path();
  std::error_code ec;
  if (!parent.empty() && fs::create_directories(parent, ec))
    fs::permissions(parent, fs::perms::owner_all, ec);
  if (ec) fail(path, "cannot create " + parent.string() + ": " + ec.message());

  // Count lines first, so the message can point at the new one; a file that does not end in a
  // newline gets one, so our line never joins someone else's.
  const KnownHosts before = load_known_hosts(path);
  std::string existing_tail;
  {
    std::ifstream in(path, std::ios::binary | std::ios::ate);
    if (in && in.tellg() > 0) {
      in.seekg(-1, std::ios::end);
      existing_tail.push_back(static_cast<char>(in.get()));
    }
  }
  std::string line;
  if (!existing_tail.empty() && existing_tail != "\n") line += '\n';
  line += std::string(name) + " " + std::string(fingerprint) + "\n";

  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) fail(path, std::strerror(errno));
  if (const int err = write_all(fd, line); err != 0) {
    ::close(fd);
    fail(path, std::strerror(err));
  }
  if (::close(fd) != 0) fail(path, std::strerror(errno));
  return before.line_count() + 1;
}

std::vector<KnownHost> remove_known_host(const std::string& path, std::string_view name) {
  const std::string text = read_known_hosts_text(path);
  std::vector<KnownHost> removed;
  const KnownHosts known = KnownHosts::parse(text);
  for (const auto& entry : known.entries())
    if (entry.name == name) removed.push_back(entry);
  if (removed.empty()) return removed;

  // Every line but the removed ones, byte for byte (line numbers as KnownHosts::parse counts).
  std::string kept;
  std::size_t number = 0;
  auto next_removed = removed.begin();
  for (std::size_t start = 0; start < text.size();) {
    const auto newline = text.find('\n', start);
    const std::size_t end = newline == std::string::npos ? text.size() : newline + 1;
    ++number;
    if (next_removed != removed.end() && next_removed->line == number)
      ++next_removed;
    else
      kept.append(text, start, end - start);
    start = end;
  }

  const std::string temporary = path + ".tmp";
  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) fail(path, "cannot write " + temporary + ": " + std::strerror(errno));
  const int err = write_all(fd, kept);
  const bool synced = err == 0 && ::fsync(fd) == 0;
  const int sync_errno = errno;
  ::close(fd);
  if (err != 0 || !synced || ::rename(temporary.c_str(), path.c_str()) != 0) {
    const int error = err != 0 ? err : (!synced ? sync_errno : errno);
    ::unlink(temporary.c_str());
    fail(path, std::strerror(error));
  }
  return removed;
}

}  // namespace parley::client
