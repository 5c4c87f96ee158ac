// The room seq lease (PROTOCOL.md 6.2 across restarts): every run starts above everything any
// earlier run could have issued, and the file is never left half written.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "seq_lease.hpp"

namespace parley::server {
namespace {

class SeqLeaseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char templ[] = "/tmp/parley-seq-XXXXXX";
    ASSERT_NE(::mkdtemp(templ), nullptr);
    dir_ = templ;
    path_ = dir_ + "/room-seq";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string contents() const {
    std::ifstream in(path_);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
  std::string dir_;
  std::string path_;
};

TEST_F(SeqLeaseTest, EachRunLeasesTheNextBlockBeforeUsingIt) {
  const SeqLease first(path_);
  EXPECT_EQ(first.base(), 0u);
  EXPECT_EQ(first.limit(), SeqLease::kBlock);
  EXPECT_EQ(contents(), std::to_string(SeqLease::kBlock) + "\n");
  struct stat st {};
  ASSERT_EQ(::stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  // The next run, even if the first one crashed without a word, starts past all of its block.
  SeqLease second(path_);
  EXPECT_EQ(second.base(), SeqLease::kBlock);
  EXPECT_EQ(second.extend(), 3 * SeqLease::kBlock);
  EXPECT_EQ(contents(), std::to_string(3 * SeqLease::kBlock) + "\n");
  EXPECT_EQ(SeqLease(path_).base(), 3 * SeqLease::kBlock);
  EXPECT_FALSE(std::filesystem::exists(path_ + ".tmp"));
}

TEST_F(SeqLeaseTest, ABadOrExhaustedFileIsAClearError) {
  for (const std::string bad : {"", "12x\n", "-5\n", "99999999999999999999999\n"}) {
    std::ofstream(path_) << bad;
    try {
      SeqLease lease(path_);
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find(path_), std::string::npos) << e.what();
    }
  }
  std::ofstream(path_) << SeqLease::kMax << "\n";
  EXPECT_THROW(SeqLease lease(path_), std::runtime_error);
  // A directory it cannot write to.
  EXPECT_THROW(SeqLease lease(dir_ + "/missing/room-seq"), std::runtime_error);
}

TEST(SeqLease, LivesBesideTheIdentityKey) {
  EXPECT_EQ(SeqLease::path_beside("/var/lib/parleyd/identity.pem"), "/var/lib/parleyd/room-seq");
  EXPECT_EQ(SeqLease::path_beside("identity.pem"), "./room-seq");
}

}  // namespace
}  // namespace parley::server
