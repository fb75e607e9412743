// Size figures of a RocksDB-backed store, for metrics (summed over its
// column families; RocksDB's estimates).
#ifndef GRID_STORAGE_STORAGE_STATS_H_
#define GRID_STORAGE_STORAGE_STATS_H_

#include <cstdint>

namespace grid::storage {

struct StorageStats {
  uint64_t live_data_bytes = 0;           // rocksdb.estimate-live-data-size
  uint64_t sst_bytes = 0;                 // rocksdb.total-sst-files-size
  uint64_t memtable_bytes = 0;            // rocksdb.cur-size-all-mem-tables
  uint64_t pending_compaction_bytes = 0;  // rocksdb.estimate-pending-compaction-bytes
};

}  // namespace grid::storage

#endif  // GRID_STORAGE_STORAGE_STATS_H_
