// The access audit (grid.v1.AuditRecord): its own RocksDB under
// <data_dir>/audit, keyed by a dense sequence number, apart from the event
// log so that reading it never touches the log and a full audit disk never
// corrupts the log.
//
// Retention: Trim() deletes the oldest records (gridd calls it hourly when
// `audit_retention_days` is set). The newest record is never deleted, so
// seqs keep counting up across restarts.
//
// Concurrency: thread-safe. Post() and PostIntent() never block: they queue
// for the log's writer thread, which stores queued records in one batch per
// wake-up, so a record costs its caller a queue push instead of a RocksDB
// write, and a slow audit disk never stalls a reactor or the sequencer.
// Write() stores on the calling thread (tools and tests).
#ifndef GRID_STORAGE_AUDIT_LOG_H_
#define GRID_STORAGE_AUDIT_LOG_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grid/v1/policy.pb.h"

namespace rocksdb {
class Env;
}

namespace grid::storage {

struct StorageMemory;

class AuditLog {
 public:
  // `max_queued`: records that may wait for the writer thread. `memory`:
  // the server's shared RocksDB budget (storage/memory.h), not owned; null:
  // RocksDB's defaults.
  static absl::StatusOr<std::unique_ptr<AuditLog>> Open(const std::string& path, rocksdb::Env* env = nullptr,
                                                        size_t max_queued = 1 << 16,
                                                        const StorageMemory* memory = nullptr);
  virtual ~AuditLog() = default;

  // Assigns the record's seq and stores it; with `sync`, durable (fsync)
  // before returning. UNAVAILABLE when the write fails.
  virtual absl::Status Write(grid::v1::AuditRecord record, bool sync) = 0;

  // Best effort (outcome and denial records): assigns the seq and queues
  // the record for the writer thread. With `max_queued` records waiting
  // (the disk is behind) it is dropped instead; dropped records and those
  // of a failed batch are counted in lost().
  virtual void Post(grid::v1::AuditRecord record) = 0;

  // A record that must be stored before the caller goes on (the intent of
  // a mutating RPC): queued like Post(), synced when `sync`, and then
  // `stored` runs on the writer thread with OK, or UNAVAILABLE when the
  // batch failed. With the queue full, `stored` runs at once, on the
  // caller's thread, with UNAVAILABLE. `stored` must not block.
  virtual void PostIntent(grid::v1::AuditRecord record, bool sync,
                          std::function<void(absl::Status)> stored) = 0;

  // Posted records not stored: dropped at a full queue or in a failed batch.
  virtual uint64_t lost() const = 0;

  // Records with seq >= from, in order, until `fn` returns false. Every
  // record posted before the call is stored first.
  virtual absl::Status Scan(uint64_t from,
                            const std::function<bool(const grid::v1::AuditRecord&)>& fn) const = 0;

  // The last seq written (0: none).
  virtual uint64_t last_seq() const = 0;

  // Deletes the records stamped before `cutoff`, except the newest record;
  // returns how many seqs were deleted. Records are stamped just before
  // they get their seq, so the boundary is found by binary search over seqs
  // (a few reads, however many records) and is exact to the microseconds
  // that concurrent callers' stamps can differ by.
  virtual absl::StatusOr<uint64_t> Trim(absl::Time cutoff) = 0;
};

}  // namespace grid::storage

#endif  // GRID_STORAGE_AUDIT_LOG_H_
