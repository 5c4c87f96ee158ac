// Record protection for one direction and one key epoch (PROTOCOL.md 3.1, 3.2).
// A cipher object is keyed once when made; per record only the nonce changes.
#pragma once

#include <cstdint>
#include <memory>

#include "parley/bytes.hpp"
#include "parley/key_schedule.hpp"
#include "parley/suite.hpp"

namespace parley {

class RecordCipher {
 public:
  virtual ~RecordCipher() = default;

  // buf[frame_offset..] holds the frame header (its final length already
  // written) followed by the plaintext; on return the plaintext is replaced
  // by the protected body (ciphertext || tag).
  virtual void seal(std::uint64_t seq, Bytes& buf, std::size_t frame_offset) = 0;

  // Checks and decrypts the body of a frame whose 4-byte header is `header`.
  // On success `plaintext` holds the plaintext; on failure it returns false
  // and what `plaintext` holds is meaningless.
  virtual bool open(std::uint64_t seq, ByteView header, ByteView body, Bytes& plaintext) = 0;
};

// Botan's AEAD objects only go one way, so a cipher is made for sealing or opening.
enum class CipherRole { seal, open };

std::unique_ptr<RecordCipher> make_record_cipher(const SuiteInfo& suite, const TrafficKeys& keys,
                                                 CipherRole role);

}  // namespace parley
