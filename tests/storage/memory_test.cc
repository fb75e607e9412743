// The shared RocksDB budget (storage/memory.h) on the real RocksDB
// (in-memory Env): what its table options make of reads in big files.
#include "storage/memory.h"

#include <gtest/gtest.h>
#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/statistics.h>

#include <cstdio>
#include <memory>
#include <random>
#include <string>

#include "tests/testing/status_matchers.h"

namespace grid::storage {
namespace {

// Regression: the projector spent half its time reading and decompressing
// index blocks. A table file's whole index was one block (~1 MiB for a
// 64 MiB file of 4 KiB blocks), more than a shard of the block cache could
// keep beside its neighbours, so outside level 0 every seek read one again.
// With two-level indexes a lookup needs the pinned top level and one small
// partition, which stay cached. Scaled down here: an 8 MiB cache (16 shards
// of 512 KiB) and 256-byte blocks, so the file's index outgrows a shard.
TEST(StorageMemoryTest, LookupsInABigTableFileKeepItsIndexCached) {
  std::unique_ptr<rocksdb::Env> env(rocksdb::NewMemEnv(rocksdb::Env::Default()));
  const StorageMemory memory = StorageMemory::Make(size_t{8} << 20, size_t{4} << 20);
  rocksdb::Options options;
  options.env = env.get();
  options.create_if_missing = true;
  options.statistics = rocksdb::CreateDBStatistics();
  rocksdb::BlockBasedTableOptions table;
  memory.Apply(&options, &table);
  table.block_size = 256;
  options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  rocksdb::DB* raw = nullptr;
  ASSERT_TRUE(rocksdb::DB::Open(options, "/db", &raw).ok());
  std::unique_ptr<rocksdb::DB> db(raw);

  constexpr int kKeys = 120000;
  auto key = [](int i) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "350583/%03d/row/%08d", i % 997, i);
    return std::string(buf);
  };
  for (int i = 0; i < kKeys; ++i)
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), key(i), std::string(40, 'v')).ok());
  ASSERT_TRUE(db->Flush(rocksdb::FlushOptions()).ok());
  // Out of level 0, whose index blocks are pinned: where most of a big
  // store's files are.
  ASSERT_TRUE(db->CompactRange(rocksdb::CompactRangeOptions(), nullptr, nullptr).ok());
  std::string l0;
  ASSERT_TRUE(db->GetProperty("rocksdb.num-files-at-level0", &l0));
  ASSERT_EQ(l0, "0");

  std::mt19937 rng(7);
  auto lookups = [&](int n) {
    for (int j = 0; j < n; ++j) {
      std::string v;
      ASSERT_TRUE(db->Get(rocksdb::ReadOptions(), key(static_cast<int>(rng() % kKeys)), &v).ok());
    }
  };
  lookups(2000);  // warms the cache
  const uint64_t misses_before = options.statistics->getTickerCount(rocksdb::BLOCK_CACHE_INDEX_MISS);
  lookups(1000);
  const uint64_t misses = options.statistics->getTickerCount(rocksdb::BLOCK_CACHE_INDEX_MISS) - misses_before;
  // A miss per lookup before; now only partitions not read yet.
  EXPECT_LT(misses, 100u) << "index block misses in 1,000 lookups";
}

}  // namespace
}  // namespace grid::storage
