#include "identity_store.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "parley/rsa_key.hpp"

namespace parley::server {
namespace {

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw std::runtime_error("identity key " + path + ": " + what);
}

void write_new_file(const std::string& path, const std::string& contents) {
  // Write beside the target and rename, so a crash never leaves half a key,
  // and create it 0600 from the start rather than chmod afterwards.
  const std::string tmp = path + ".tmp";
  ::unlink(tmp.c_str());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) fail(tmp, std::strerror(errno));
  std::size_t done = 0;
  while (done < contents.size()) {
    const ssize_t n = ::write(fd, contents.data() + done, contents.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      fail(tmp, std::strerror(err));
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) fail(tmp, std::strerror(errno));
  if (::rename(tmp.c_str(), path.c_str()) != 0) fail(path, std::strerror(errno));
}

}  // namespace

std::unique_ptr<Botan::RSA_PrivateKey> load_identity(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path, std::strerror(errno));
  std::stringstream pem;
  pem << in.rdbuf();
  std::unique_ptr<Botan::RSA_PrivateKey> key;
  try {
    key = rsa_private_key_from_pem(pem.str());
  } catch (const std::exception& e) {
    fail(path, e.what());
  }
  if (key->key_length() < 2048) fail(path, "RSA key shorter than 2048 bits");
  return key;
}

StoredIdentity load_or_create_identity(const std::string& path, Botan::RandomNumberGenerator& rng,
                                       std::size_t bits) {
  namespace fs = std::filesystem;
  StoredIdentity out;
  std::error_code ec;
  if (fs::exists(path, ec)) {
    out.key = load_identity(path);
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0) out.too_open = (st.st_mode & 077) != 0;
    return out;
  }
  const fs::path parent = fs::path(path).parent_path();
  if (!parent.empty()) {
    // A directory we make for a secret is ours alone.
    if (fs::create_directories(parent, ec)) fs::permissions(parent, fs::perms::owner_all, ec);
    if (ec) fail(path, "cannot create " + parent.string() + ": " + ec.message());
  }
  out.key = std::make_unique<Botan::RSA_PrivateKey>(rng, bits);
  write_new_file(path, to_pkcs8_pem(*out.key));
  out.created = true;
  return out;
}

}  // namespace parley::server
