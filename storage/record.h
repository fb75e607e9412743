// Record format and the hash chain, shared by the server and by verifiers.
//
// A stored record is a grid.v1.Event serialized WITHOUT its `chain` field
// ("stored bytes"). What the log keeps under its position, and what readers
// receive, is the wire form: stored bytes followed by the chain field
// (tag 0x7A, length 0x20, 32 bytes), which protobuf parses as one Event.
//
//   chain(p) = SHA-256(chain(p-1) || be64(p) || SHA-256(stored bytes of p))
//   chain(0) = 32 zero bytes
//
// All functions here are thread-safe (SHA-256 keeps one OpenSSL context per
// thread) and depend on their arguments only.
#ifndef GRID_STORAGE_RECORD_H_
#define GRID_STORAGE_RECORD_H_

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include <google/protobuf/message_lite.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace grid::storage {

using Position = uint64_t;
using Digest = std::array<uint8_t, 32>;

// The chain value before the first event.
inline constexpr Digest kGenesisChain{};

// Size of the chain field appended to stored bytes in the wire form.
inline constexpr size_t kChainFieldSize = 34;

Digest Sha256(std::string_view data);

// SHA-256 over data given in pieces (files of a backup).
class Sha256Stream {
 public:
  Sha256Stream();
  ~Sha256Stream();
  Sha256Stream(const Sha256Stream&) = delete;
  Sha256Stream& operator=(const Sha256Stream&) = delete;
  void Update(std::string_view data);
  // The digest of everything given; the stream starts over after.
  Digest Finish();

 private:
  void* ctx_;  // EVP_MD_CTX
};

// The chain value of the record at `position` with these stored bytes.
Digest ChainLink(const Digest& prev, Position position, std::string_view stored_bytes);

// Returns stored bytes + chain field.
std::string MakeWire(std::string_view stored_bytes, const Digest& chain);
// Appends the chain field to stored bytes, making them a wire record.
void AppendChainField(const Digest& chain, std::string* stored_bytes);

// An appended event's server fields, for AppendStored(): `recorded_at` and
// `actor` each a whole encoded field (tag, length, message), as
// EncodeMessageField() makes them; they are the same for a whole batch.
struct ServerFields {
  std::string_view recorded_at;
  Position position = 0;
  uint64_t stream_version = 0;
  std::string_view actor;
};
// Field `number` holding `message`, encoded (tag, length, deterministic
// serialization).
std::string EncodeMessageField(int number, const google::protobuf::MessageLite& message);
// Appends to `out` an event's stored bytes without serializing it again:
// `client`, its deterministic serialization with the client's fields only
// (what its content fingerprint hashes), with the server's fields inserted
// where a deterministic serialization of the whole event puts them
// (numbers 8-11 in order, a zero left out: before the first field numbered
// above 11). Equal to that serialization, since known fields go in number
// order, unknown ones after them, and a nested message's bytes do not
// depend on where it stands. INVALID_ARGUMENT (`out` unchanged) for bytes
// with a server field or an unknown field numbered below 8 (it would go
// after the server's fields); DATA_LOSS if `client` is not a message.
absl::Status AppendStored(std::string_view client, const ServerFields& server, std::string* out);

// The two halves of a wire record.
struct WireParts {
  std::string_view stored;
  Digest chain;
};

// Splits a wire record. DATA_LOSS if it does not end in a chain field.
absl::StatusOr<WireParts> SplitWire(std::string_view wire);

// The `position` field of stored bytes, read without a schema (damaged
// strings do not matter here). DATA_LOSS if the bytes are not a message.
absl::StatusOr<Position> StoredPosition(std::string_view stored);

// The content fingerprint of an event from its stored bytes, without
// parsing its body: SHA-256 of the stored bytes less the server's fields
// (recorded_at, position, stream_version, actor). Stored bytes are a
// deterministic serialization (fields in number order), so this equals
// SHA-256 of the deterministic serialization of the event as its client
// sent it. Sets `event_id` from the bytes. DATA_LOSS if they are not a
// message; UNAVAILABLE if OpenSSL cannot hash now (out of memory).
absl::StatusOr<Digest> ClientFingerprint(std::string_view stored, std::string* event_id);

// Lower-case hex, for messages and JSON.
std::string ToHex(std::string_view bytes);
inline std::string ToHex(const Digest& d) {
  return ToHex(std::string_view(reinterpret_cast<const char*>(d.data()), d.size()));
}

}  // namespace grid::storage

#endif  // GRID_STORAGE_RECORD_H_
