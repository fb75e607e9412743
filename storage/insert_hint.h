// Memtable insert hints for keys that end in a big-endian 64-bit number
// after a prefix that names what the number counts: a projection row's
// versions (name, key, ~position) and a stream's index entries (stream,
// version). New keys of one prefix land next to the last one inserted
// with it, so with RocksDB's `memtable_insert_with_hint_prefix_extractor`
// set to this transform the memtable's skiplist starts each insert from
// where that prefix's last insert ended instead of searching from the top
// (the skiplist's key compares were the largest single cost of a commit
// and of a projection write in the profiles: bench/README.md).
//
// Only inserts are hinted: reads, iterators and the files are as before.
//
// RocksDB 7.8 keeps one map of hints per memtable for its point entries and
// its range tombstones alike, so a range deletion whose start key has the
// prefix of point keys would be inserted with their hint into the other
// skiplist (its assertions fire; later releases only hint point entries).
// Both transforms therefore leave out keys shaped like the start of a
// range deletion the projection store writes ("<name>\0"): a key is hinted
// only if a '\0' comes before its last 8 bytes.
#ifndef GRID_STORAGE_INSERT_HINT_H_
#define GRID_STORAGE_INSERT_HINT_H_

#include <rocksdb/slice.h>
#include <rocksdb/slice_transform.h>

#include <cstring>

namespace grid::storage {

class DropNumberTransform final : public rocksdb::SliceTransform {
 public:
  const char* Name() const override { return "grid.DropNumber"; }
  rocksdb::Slice Transform(const rocksdb::Slice& key) const override {
    return rocksdb::Slice(key.data(), key.size() - 8);
  }
  bool InDomain(const rocksdb::Slice& key) const override {
    return key.size() > 8 && memchr(key.data(), '\0', key.size() - 8) != nullptr;
  }
};

// Keys "<name>\0<anything>" whose later inserts of one name come in order
// (a projection's change keys: name, position, row key).
class NameTransform final : public rocksdb::SliceTransform {
 public:
  const char* Name() const override { return "grid.Name"; }
  rocksdb::Slice Transform(const rocksdb::Slice& key) const override {
    const void* zero = memchr(key.data(), '\0', key.size());
    return rocksdb::Slice(key.data(), static_cast<const char*>(zero) - key.data() + 1);
  }
  bool InDomain(const rocksdb::Slice& key) const override {
    return key.size() > 8 && memchr(key.data(), '\0', key.size() - 8) != nullptr;
  }
};

}  // namespace grid::storage

#endif  // GRID_STORAGE_INSERT_HINT_H_
