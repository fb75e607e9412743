// The memory RocksDB may use, one budget for every database of a server (the
// event log, the projection store, the access audit): a block cache that
// holds data, index and filter blocks, and a memtable budget charged to that
// cache. Without it, each database kept its own cache and up to two 64 MiB
// memtables per column family, and the index and filter blocks of every
// table file outside any cache, so RSS grew with the log.
#ifndef GRID_STORAGE_MEMORY_H_
#define GRID_STORAGE_MEMORY_H_

#include <rocksdb/cache.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>
#include <rocksdb/write_buffer_manager.h>

#include <cstddef>
#include <memory>

namespace grid::storage {

struct StorageMemory {
  // `cache_bytes` for the block cache, of which memtables may take up to
  // `memtable_bytes` across all databases (then the largest are flushed).
  static StorageMemory Make(size_t cache_bytes, size_t memtable_bytes);

  // Points a database's options at the shared budget, with two-level
  // indexes and filters. A default-made StorageMemory (no cache) sets only
  // the index and filter layout.
  void Apply(rocksdb::DBOptions* db, rocksdb::BlockBasedTableOptions* table) const;

  size_t cache_capacity() const { return cache ? cache->GetCapacity() : 0; }
  size_t cache_usage() const { return cache ? cache->GetUsage() : 0; }
  size_t memtable_usage() const { return memtables ? memtables->memory_usage() : 0; }

  std::shared_ptr<rocksdb::Cache> cache;
  std::shared_ptr<rocksdb::WriteBufferManager> memtables;
};

}  // namespace grid::storage

#endif  // GRID_STORAGE_MEMORY_H_
