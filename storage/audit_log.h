// The access audit (grid.v1.AuditRecord): its own RocksDB under
// <data_dir>/audit, keyed by a dense sequence number, apart from the event
// log so that reading it never touches the log and a full audit disk never
// corrupts the log.
//
// Concurrency: thread-safe. Records get their seq in the order Write() is
// called; concurrent synced writes share fsyncs (RocksDB's write groups).
#ifndef GRID_STORAGE_AUDIT_LOG_H_
#define GRID_STORAGE_AUDIT_LOG_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "grid/v1/policy.pb.h"

namespace rocksdb {
class Env;
}

namespace grid::storage {

class AuditLog {
 public:
  static absl::StatusOr<std::unique_ptr<AuditLog>> Open(const std::string& path,
                                                        rocksdb::Env* env = nullptr);
  virtual ~AuditLog() = default;

  // Assigns the record's seq and stores it; with `sync`, durable (fsync)
  // before returning. UNAVAILABLE when the write fails.
  virtual absl::Status Write(grid::v1::AuditRecord record, bool sync) = 0;

  // Records with seq >= from, in order, until `fn` returns false.
  virtual absl::Status Scan(uint64_t from,
                            const std::function<bool(const grid::v1::AuditRecord&)>& fn) const = 0;

  // The last seq written (0: none).
  virtual uint64_t last_seq() const = 0;
};

}  // namespace grid::storage

#endif  // GRID_STORAGE_AUDIT_LOG_H_
