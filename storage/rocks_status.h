// Shared by the RocksDB-backed stores (storage/ only).
#ifndef GRID_STORAGE_ROCKS_STATUS_H_
#define GRID_STORAGE_ROCKS_STATUS_H_

#include <rocksdb/db.h>
#include <rocksdb/status.h>
#include <rocksdb/utilities/checkpoint.h>

#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "storage/storage_stats.h"

namespace grid::storage {

// The storage edge translator: rocksdb::Status -> absl::Status.
// Corruption -> DATA_LOSS; I/O errors, a full disk and a DB in background
// error -> UNAVAILABLE; the rest -> INTERNAL.
inline absl::Status FromRocks(const rocksdb::Status& s, std::string_view what) {
  if (s.ok()) return absl::OkStatus();
  std::string msg = absl::StrCat(absl::string_view(what.data(), what.size()), ": ", s.ToString());
  if (s.IsCorruption()) return absl::DataLossError(msg);
  if (s.IsIOError() || s.IsNoSpace() || s.IsBusy() || s.IsTimedOut() || s.IsAborted() ||
      s.IsShutdownInProgress()) {
    return absl::UnavailableError(msg);
  }
  if (s.IsNotFound()) return absl::NotFoundError(msg);
  return absl::InternalError(msg);
}

inline StorageStats ReadStorageStats(rocksdb::DB* db) {
  StorageStats s;
  auto get = [db](const char* property, uint64_t* out) {
    if (!db->GetAggregatedIntProperty(property, out)) *out = 0;
  };
  get("rocksdb.estimate-live-data-size", &s.live_data_bytes);
  get("rocksdb.total-sst-files-size", &s.sst_bytes);
  get("rocksdb.cur-size-all-mem-tables", &s.memtable_bytes);
  get("rocksdb.estimate-pending-compaction-bytes", &s.pending_compaction_bytes);
  return s;
}

// A consistent copy of the whole database in `dir` (which must not exist):
// RocksDB's checkpoint, hard links to the immutable table files where `dir`
// is on the same file system, after a memtable flush.
inline absl::Status CheckpointTo(rocksdb::DB* db, const std::string& dir) {
  rocksdb::Checkpoint* raw = nullptr;
  if (auto s = rocksdb::Checkpoint::Create(db, &raw); !s.ok()) {
    return FromRocks(s, "checkpoint");
  }
  std::unique_ptr<rocksdb::Checkpoint> checkpoint(raw);
  return FromRocks(checkpoint->CreateCheckpoint(dir), absl::StrCat("checkpoint into ", dir));
}

}  // namespace grid::storage

#endif  // GRID_STORAGE_ROCKS_STATUS_H_
