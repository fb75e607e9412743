// What an auditor needs offline: the replay export file, and a verifier that
// recomputes the hash chain over exact stored bytes and checks the server's
// signed checkpoints against it.
//
// Export file: header "GRIDLOG-EXPORT-1\n", be64(first position), the
// 32-byte chain before it, SHA-256 of those; then records: be32(length) + wire event, or
// be32(length | 0x80000000) + grid.v1.SignedCheckpoint, each checkpoint
// right after the event at its position.
//
// Not thread-safe; one object per file or verification.
#ifndef GRID_CLIENT_AUDIT_H_
#define GRID_CLIENT_AUDIT_H_

#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "grid/v1/log.pb.h"
#include "storage/record.h"

namespace grid::client {

class ExportWriter {
 public:
  // Takes ownership of `f`.
  ExportWriter(std::FILE* f, storage::Position first, const storage::Digest& prev);
  ~ExportWriter();
  absl::Status AddEvent(std::string_view wire);
  absl::Status AddCheckpoint(const grid::v1::SignedCheckpoint& cp);
  absl::Status Close();

 private:
  absl::Status Put(uint32_t tag, std::string_view data);
  std::FILE* f_;
};

class ExportReader {
 public:
  static absl::StatusOr<std::unique_ptr<ExportReader>> Open(const std::string& path);
  ~ExportReader();
  storage::Position first() const { return first_; }
  const storage::Digest& prev_chain() const { return prev_; }

  enum class Kind { kEnd, kEvent, kCheckpoint };
  // The next record into `data`. DATA_LOSS on a truncated or malformed file.
  absl::StatusOr<Kind> Next(std::string* data);

 private:
  explicit ExportReader(std::FILE* f) : f_(f) {}
  std::FILE* f_;
  storage::Position first_ = 1;
  storage::Digest prev_{};
};

struct AuditReport {
  storage::Position first = 1;
  uint64_t events = 0;
  storage::Digest chain_head{};
  uint64_t checkpoints = 0;              // checkpoints verified
  storage::Position signed_through = 0;  // last position under a verified signature
};

// Recomputes the chain over events given in position order and checks each
// signed checkpoint (its chain against the recomputed one, and its signature
// when a public key is given). Every error is DATA_LOSS naming the first bad
// position.
class AuditVerifier {
 public:
  // `public_key`: raw 32-byte Ed25519 key, or nullopt to check checkpoints'
  // chains only.
  AuditVerifier(storage::Position first, const storage::Digest& prev, std::optional<std::string> public_key);

  absl::Status AddEvent(std::string_view wire);
  // A checkpoint for the last event added, or for one still to come.
  absl::Status AddCheckpoint(const grid::v1::SignedCheckpoint& cp);
  const AuditReport& report() const { return report_; }
  storage::Position next() const { return next_; }

 private:
  absl::Status Check(const grid::v1::SignedCheckpoint& cp);
  storage::Position next_;
  storage::Digest chain_;
  std::optional<std::string> public_key_;
  std::map<storage::Position, grid::v1::SignedCheckpoint> pending_;
  AuditReport report_;
};

// Verifies a whole export file.
absl::StatusOr<AuditReport> VerifyExport(const std::string& path,
                                         const std::optional<std::string>& public_key);

}  // namespace grid::client

#endif  // GRID_CLIENT_AUDIT_H_
