#include "storage/memory.h"

namespace grid::storage {

StorageMemory StorageMemory::Make(size_t cache_bytes, size_t memtable_bytes) {
  StorageMemory m;
  m.cache = rocksdb::NewLRUCache(cache_bytes);
  m.memtables = std::make_shared<rocksdb::WriteBufferManager>(memtable_bytes, m.cache);
  return m;
}

void StorageMemory::Apply(rocksdb::DBOptions* db, rocksdb::BlockBasedTableOptions* table) const {
  if (!cache) return;
  db->write_buffer_manager = memtables;
  table->block_cache = cache;
  // Index and filter blocks in the cache too (they grow with the number of
  // table files), kept ahead of data blocks, and pinned for level 0, which
  // every read consults.
  table->cache_index_and_filter_blocks = true;
  table->cache_index_and_filter_blocks_with_high_priority = true;
  table->pin_l0_filter_and_index_blocks_in_cache = true;
}

}  // namespace grid::storage
