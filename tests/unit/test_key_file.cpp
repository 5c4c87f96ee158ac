// The identity key file: created once, 0600, and shared. Two processes creating it at once (two
// instances of parleyd@.service at their very first start) end up serving one key, never two.
#include <gtest/gtest.h>

#include <botan/system_rng.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <thread>

#include "parley/key_file.hpp"

namespace parley {
namespace {

namespace fs = std::filesystem;

class KeyFile : public testing::Test {
 protected:
  void SetUp() override {
    char templ[] = "/tmp/parley-key-XXXXXX";
    ASSERT_NE(::mkdtemp(templ), nullptr);
    dir_ = templ;
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string dir_;
};

TEST_F(KeyFile, CreatedOncePrivateThenLoaded) {
  Botan::System_RNG rng;
  const std::string path = dir_ + "/sub/identity.pem";
  const auto first = load_or_create_identity(path, rng, 2048);
  EXPECT_TRUE(first.created);
  EXPECT_FALSE(first.too_open);
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  const auto again = load_or_create_identity(path, rng, 2048);
  EXPECT_FALSE(again.created);
  EXPECT_EQ(again.key->public_key_bits(), first.key->public_key_bits());
  EXPECT_THROW(write_new_identity(path, *first.key), std::runtime_error);
}

TEST_F(KeyFile, TwoCreatingAtOnceServeOneKey) {
  const std::string path = dir_ + "/identity.pem";
  StoredIdentity a, b;
  std::thread other([&] {
    Botan::System_RNG rng;
    a = load_or_create_identity(path, rng, 2048);
  });
  {
    Botan::System_RNG rng;
    b = load_or_create_identity(path, rng, 2048);
  }
  other.join();
  EXPECT_EQ(a.key->public_key_bits(), b.key->public_key_bits());
  EXPECT_NE(a.created, b.created) << "exactly one of them made it";
  // Nothing left beside it.
  std::size_t files = 0;
  for (const auto& entry : fs::directory_iterator(dir_)) {
    ++files;
    EXPECT_EQ(entry.path().filename(), "identity.pem");
  }
  EXPECT_EQ(files, 1u);
}

}  // namespace
}  // namespace parley
