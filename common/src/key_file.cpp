#include "parley/key_file.hpp"

#include "parley/file_io.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

#include "parley/rsa_key.hpp"

namespace parley {
namespace {

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw std::runtime_error("identity key " + path + ": " + what);
}

void make_private_parent(const std::string& path) {
  namespace fs = std::filesystem;
  const fs::path parent = fs::path(path).parent_path();
  if (parent.empty()) return;
  // A directory we make for a secret is ours alone.
  std::error_code ec;
  if (fs::create_directories(parent, ec)) fs::permissions(parent, fs::perms::owner_all, ec);
  if (ec) fail(path, "cannot create " + parent.string() + ": " + ec.message());
}

// Write beside the target and link it into place, so a crash never leaves half a key, and
// create it 0600 from the start rather than chmod afterwards. The temporary name is this
// call's own and the final step is link(), which never replaces a file: of two processes
// creating one key at once (two instances' first start), one key wins and the other process
// gets false and reads it.
bool link_new_key_file(const std::string& path, const std::string& contents) {
  std::string tmp = path + ".tmp.XXXXXX";
  const int fd = ::mkostemp(tmp.data(), O_CLOEXEC);  // 0600, a name no other writer has
  if (fd < 0) fail(tmp, std::strerror(errno));
  if (const int err = write_all(fd, contents); err != 0) {
    ::close(fd);
    ::unlink(tmp.c_str());
    fail(tmp, std::strerror(err));
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    fail(tmp, std::strerror(err));
  }
  const int linked = ::link(tmp.c_str(), path.c_str());
  const int err = errno;
  ::unlink(tmp.c_str());
  if (linked == 0) return true;
  if (err == EEXIST) return false;
  fail(path, std::strerror(err));
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
    out.too_open = too_open(path);
    return out;
  }
  make_private_parent(path);
  out.key = std::make_unique<Botan::RSA_PrivateKey>(rng, bits);
  if (!link_new_key_file(path, to_pkcs8_pem(*out.key))) {
    // Another process made it meanwhile: serve that one, as every instance must.
    out.key = load_identity(path);
    out.too_open = too_open(path);
    return out;
  }
  out.created = true;
  return out;
}

void write_new_identity(const std::string& path, const Botan::RSA_PrivateKey& key) {
  std::error_code ec;
  if (std::filesystem::exists(path, ec)) fail(path, "already exists (not overwritten)");
  make_private_parent(path);
  if (!link_new_key_file(path, to_pkcs8_pem(key))) fail(path, "already exists (not overwritten)");
}

bool too_open(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && (st.st_mode & 077) != 0;
}

}  // namespace parley
