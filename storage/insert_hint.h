// A memtable insert hint for the projection store's `changes` keys
// ("<name>\0" be64(position) key): each projection's keys arrive in
// position order, so with RocksDB's `memtable_insert_with_hint_prefix_extractor`
// set to this transform the memtable's skiplist starts each insert from where
// that projection's last insert ended instead of searching from the top.
//
// Only inserts are hinted: reads, iterators and the files are as before.
// RocksDB keeps one hint (~250 bytes of memtable) per distinct prefix, so a
// hint pays only for a few prefixes with many inserts each: eight
// projections here. Hinting rows by row key and the log's stream index by
// stream was tried and not kept (bench/README.md): one hint per household
// touched costs more memtable than the entries it speeds up.
//
// RocksDB 7.8 keeps that map for its point entries and its range tombstones
// alike, so a range deletion whose start key had the changes' prefix would
// be inserted with their hint into the other skiplist (its assertions fire;
// later releases only hint point entries). The transform therefore leaves
// out keys shaped like the start of the range deletion a projection's Reset
// writes ("<name>\0"): a key is hinted only if it has a '\0' and 8 bytes
// after it.
#ifndef GRID_STORAGE_INSERT_HINT_H_
#define GRID_STORAGE_INSERT_HINT_H_

#include <rocksdb/slice.h>
#include <rocksdb/slice_transform.h>

#include <cstring>

namespace grid::storage {

class NameTransform final : public rocksdb::SliceTransform {
 public:
  const char* Name() const override { return "grid.Name"; }
  rocksdb::Slice Transform(const rocksdb::Slice& key) const override {
    const void* zero = memchr(key.data(), '\0', key.size());
    return rocksdb::Slice(key.data(), static_cast<const char*>(zero) - key.data() + 1);
  }
  bool InDomain(const rocksdb::Slice& key) const override {
    const void* zero = memchr(key.data(), '\0', key.size());
    return zero != nullptr &&
           static_cast<size_t>(static_cast<const char*>(zero) - key.data()) + 1 + 8 <= key.size();
  }
};

}  // namespace grid::storage

#endif  // GRID_STORAGE_INSERT_HINT_H_
