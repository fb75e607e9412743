// The projection store on the real RocksDB (in-memory Env): versions by
// position, and snapshots that a rebuild's deletion cannot reach into.
#include "storage/projection_store.h"

#include <gtest/gtest.h>
#include <rocksdb/env.h>

#include "storage/big_endian.h"
#include "storage/insert_hint.h"
#include "tests/testing/status_matchers.h"

namespace grid::storage {
namespace {

std::vector<std::string> Keys(const ProjectionReader& r, Position at) {
  std::vector<std::string> out;
  EXPECT_OK(r.Scan("p", "", at, [&](const RowVersion& v) {
    out.push_back(v.key);
    return true;
  }));
  return out;
}

// The memtable insert hint (storage/insert_hint.h): a projection's changes
// share a prefix, and the start of a Reset's range deletion ("<name>\0") has
// none, so that RocksDB 7.8 never inserts a range tombstone with a point
// entry's hint (its assertions aborted this file's Reset tests and the
// projector's when the start key had one).
TEST(InsertHintTest, ChangesShareAPrefixRangeDeletionStartsHaveNone) {
  const NameTransform changes;
  std::string c1 = std::string("population\0", 11), c2 = c1;
  PutBigEndian64(&c1, 7);
  c1 += "350583/101";
  PutBigEndian64(&c2, 9);
  c2 += "350583/102";
  ASSERT_TRUE(changes.InDomain(c1));
  EXPECT_EQ(changes.Transform(c1).ToString(), changes.Transform(c2).ToString());
  EXPECT_EQ(changes.Transform(c1).ToString(), std::string("population\0", 11));
  EXPECT_FALSE(changes.InDomain(std::string("population\0", 11)));
  EXPECT_FALSE(changes.InDomain("population"));
}

// Regression: GetProjection read the projection's position and then scanned
// without a snapshot while a rebuild's range deletion ran, so it could serve
// missing rows labelled with a valid position (and SubscribeProjection's
// multi-chunk snapshots likewise). Reads through Snapshot() see the rows and
// the checkpoint of one moment.
TEST(ProjectionStoreTest, ASnapshotKeepsItsRowsAndCheckpointThroughAReset) {
  std::unique_ptr<rocksdb::Env> env(rocksdb::NewMemEnv(rocksdb::Env::Default()));
  ASSERT_OK_AND_ASSIGN(auto store, ProjectionStore::Open("/p", env.get()));
  ProjectionStore::Write w;
  w.name = "p";
  w.checkpoint = 3;
  for (int i = 1; i <= 3; ++i) w.rows.push_back({"k" + std::to_string(i), static_cast<Position>(i), "v"});
  ASSERT_OK(store->Apply({w}));
  auto view = store->Snapshot();
  ASSERT_OK(store->Reset("p"));
  EXPECT_EQ(*store->Checkpoint("p"), 0u);
  EXPECT_TRUE(Keys(*store, 3).empty());
  EXPECT_EQ(*view->Checkpoint("p"), 3u);
  EXPECT_EQ(Keys(*view, 3), (std::vector<std::string>{"k1", "k2", "k3"}));
  ASSERT_OK_AND_ASSIGN(auto one, view->Get("p", "k2", 3));
  ASSERT_TRUE(one.has_value());
  EXPECT_EQ(one->position, 2u);
  int changes = 0;
  ASSERT_OK(view->Changes("p", 0, 3, [&](const RowVersion&) { return ++changes > 0; }));
  EXPECT_EQ(changes, 3);
}

}  // namespace
}  // namespace grid::storage
