// The ProjectionStore keeps projection rows versioned by log position, their
// change index and each projection's checkpoint, in a RocksDB of its own
// (<data_dir>/projections). Everything in it is derived from the event log
// and can be rebuilt, so its writes are not synced one by one: a crash
// loses at most a tail of folds, which the projector redoes from the
// checkpoint written in the same batch as the rows.
//
// Layout (column families; big-endian positions):
//   rows     name \0 key \0 be64(~position) → 0x01 + RowValue bytes, or 0x00
//            (deleted). Newest version of a key first, so "the row as of P"
//            is one seek.
//   changes  name \0 be64(position) key → ""  (what each position changed)
//   meta     name → be64(checkpoint)
// Keys must not contain \0 or \1.
//
// Concurrency: safe for concurrent use; Apply() and Reset() by one writer.
#ifndef GRID_STORAGE_PROJECTION_STORE_H_
#define GRID_STORAGE_PROJECTION_STORE_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "storage/record.h"
#include "storage/storage_stats.h"

namespace rocksdb {
class Env;
}

namespace grid::storage {

struct StorageMemory;

struct RowVersion {
  std::string key;
  Position position = 0;
  std::optional<std::string> value;  // nullopt: deleted at `position`
};

// The read side of the store: the store itself (reads of the latest data),
// or a Snapshot() of it.
class ProjectionReader {
 public:
  virtual ~ProjectionReader() = default;

  virtual absl::StatusOr<Position> Checkpoint(const std::string& name) const = 0;

  // The newest version of `key` at or before `at`; nullopt if none or
  // deleted.
  virtual absl::StatusOr<std::optional<RowVersion>> Get(const std::string& name, const std::string& key,
                                                        Position at) const = 0;

  // For every key starting with `prefix` (bytes) and after `start_after`,
  // in key order, its newest live version at or before `at`. `fn` returns
  // false to stop.
  virtual absl::Status Scan(const std::string& name, const std::string& prefix, Position at,
                            const std::function<bool(const RowVersion&)>& fn,
                            const std::string& start_after = "") const = 0;

  // Row changes with positions in (after, through], in position order, each
  // with the version written at that position. `fn` returns false to stop.
  virtual absl::Status Changes(const std::string& name, Position after, Position through,
                               const std::function<bool(const RowVersion&)>& fn) const = 0;
};

class ProjectionStore : public ProjectionReader {
 public:
  // `env` may be null (the real file system); not owned. `memory`: the
  // server's shared RocksDB budget (storage/memory.h), not owned; null: a
  // cache of its own.
  static absl::StatusOr<std::unique_ptr<ProjectionStore>> Open(const std::string& path,
                                                               rocksdb::Env* env = nullptr,
                                                               const StorageMemory* memory = nullptr);
  ~ProjectionStore() override = default;

  using RowVersion = storage::RowVersion;
  // One projection's folds over a run of events: row versions in position
  // order and the checkpoint they bring the projection to.
  struct Write {
    std::string name;
    std::vector<RowVersion> rows;
    Position checkpoint = 0;
  };
  // Writes all of `writes` atomically.
  virtual absl::Status Apply(const std::vector<Write>& writes) = 0;

  // Deletes every row, change and the checkpoint of `name` (checkpoint 0).
  virtual absl::Status Reset(const std::string& name) = 0;

  // A consistent view of the store as of now (a RocksDB snapshot): its
  // checkpoints and rows belong together whatever Apply() and Reset() do
  // meanwhile, so that a read never labels rows a rebuild is deleting with
  // a position they were complete at. Must not outlive the store.
  virtual std::unique_ptr<ProjectionReader> Snapshot() const = 0;

  // Sizes, for metrics.
  virtual StorageStats GetStorageStats() const = 0;

  // A consistent copy of the store as of now in the new directory `dir`.
  virtual absl::Status Backup(const std::string& dir) const = 0;
};

}  // namespace grid::storage

#endif  // GRID_STORAGE_PROJECTION_STORE_H_
