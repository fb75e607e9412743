// Signed checkpoints: the server's Ed25519 signature over (position, chain
// head, time), so an auditor holding only the server's public key can prove
// offline that a replay is exactly what the server committed up to each
// checkpoint.
//
// The signed message is a fixed layout, not a protobuf serialization:
//   "gridlog-checkpoint-v1" 0x00 || be64(position) || chain(32) || be64(time µs)
//
// Signer is immutable after creation and thread-safe; the free functions are
// pure.
#ifndef GRID_STORAGE_CHECKPOINT_H_
#define GRID_STORAGE_CHECKPOINT_H_

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "storage/record.h"

namespace grid::storage {

// The bytes a checkpoint signature covers.
std::string CheckpointMessage(Position position, const Digest& chain, absl::Time time);

class Signer {
 public:
  // Loads the Ed25519 private key (PEM) at `path`, or creates one there
  // (mode 0600) if the file does not exist.
  static absl::StatusOr<std::unique_ptr<Signer>> LoadOrCreate(const std::string& path);
  ~Signer();

  // 64-byte Ed25519 signature of `message`.
  std::string Sign(std::string_view message) const;
  // The raw 32-byte public key, and the same as PEM ("PUBLIC KEY").
  const std::string& public_key() const { return public_key_; }
  std::string public_key_pem() const;

 private:
  Signer(void* pkey, std::string public_key) : pkey_(pkey), public_key_(std::move(public_key)) {}
  void* pkey_;  // EVP_PKEY*
  std::string public_key_;
};

// Reads an Ed25519 public key from PEM text or 64 hex characters; returns
// the raw 32 bytes. INVALID_ARGUMENT if it is neither.
absl::StatusOr<std::string> ParsePublicKey(std::string_view text);

// OK if `signature` is `public_key`'s signature of `message`, else
// DATA_LOSS.
absl::Status VerifySignature(std::string_view public_key, std::string_view message,
                             std::string_view signature);

// HMAC-SHA256 of `data` under `key`.
Digest HmacSha256(std::string_view key, std::string_view data);

// A secret key file of random bytes (the person-token key): read it, or
// create it with 32 random bytes, mode 0600, when it does not exist.
// INVALID_ARGUMENT when it holds fewer than 32 bytes.
absl::StatusOr<std::string> LoadOrCreateSecretKey(const std::string& path);

}  // namespace grid::storage

#endif  // GRID_STORAGE_CHECKPOINT_H_
