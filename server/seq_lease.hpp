// Room seqs never go back (PROTOCOL.md 6.2), across restarts too: each run leases a block of
// seq values from a small file in the state directory, written before the first of them is
// used. A run starts at the end of the last lease, so no value is ever issued twice, whatever
// happened to the previous run (a crash included). Within a run the hub starts every new room
// after every seq already issued (Hub::set_seq_lease), so a room that empties and comes back
// also goes on upwards.
//
// Blocks of 2^32: one write per start and one per 4 billion messages; 2^21 runs fit below 2^53
// (JSON's exact integers).
#pragma once

#include <cstdint>
#include <string>

namespace parley::server {

class SeqLease {
 public:
  static constexpr std::uint64_t kBlock = std::uint64_t{1} << 32;
  static constexpr std::uint64_t kMax = std::uint64_t{1} << 53;

  // Reads the file (absent: nothing leased yet) and leases the next block. Throws
  // std::runtime_error naming the file when it cannot be read, parsed or written.
  explicit SeqLease(std::string path);

  // The first block of this run: seqs above base(), up to limit().
  std::uint64_t base() const { return base_; }
  std::uint64_t limit() const { return limit_; }
  // Leases one more block (a blocking write of a few bytes: once per 2^32 messages); returns the
  // new limit. Throws like the constructor.
  std::uint64_t extend();

  // The file next to the identity key: the state directory.
  static std::string path_beside(const std::string& identity_key);

 private:
  void write(std::uint64_t limit);

  std::string path_;
  std::uint64_t base_ = 0;
  std::uint64_t limit_ = 0;
};

}  // namespace parley::server
