#include "storage/memory.h"

namespace grid::storage {

StorageMemory StorageMemory::Make(size_t cache_bytes, size_t memtable_bytes) {
  StorageMemory m;
  m.cache = rocksdb::NewLRUCache(cache_bytes);
  m.memtables = std::make_shared<rocksdb::WriteBufferManager>(memtable_bytes, m.cache);
  return m;
}

void StorageMemory::Apply(rocksdb::DBOptions* db, rocksdb::BlockBasedTableOptions* table) const {
  // Two-level indexes and filters: a lookup reads the file's top-level
  // index (pinned in the cache) and one 4 KiB partition, not the whole
  // index of the file, which for a 64 MiB file of 4 KiB blocks is ~1 MiB
  // (and its filter as much): a 4 MiB cache shard, half of it the
  // high-priority pool these blocks share, keeps one or two, so they
  // evicted each other and every seek read and decompressed one again (the
  // projector spent half its time there once the projection store
  // outgrew the memtables). Point lookups of absent keys (most event ids)
  // probe one more block, the pinned top level; appends measured the same.
  table->index_type = rocksdb::BlockBasedTableOptions::kTwoLevelIndexSearch;
  table->partition_filters = true;
  table->metadata_block_size = 4096;
  table->pin_top_level_index_and_filter = true;
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
