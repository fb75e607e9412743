#include "storage/record.h"

#include <gtest/gtest.h>
#include "storage/big_endian.h"

#include "tests/testing/status_matchers.h"

namespace grid::storage {
namespace {

TEST(RecordTest, Sha256KnownAnswer) {
  EXPECT_EQ(ToHex(Sha256("abc")), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(RecordTest, WireSplitsBackIntoStoredBytesAndChain) {
  Digest chain = ChainLink(kGenesisChain, 1, "stored");
  std::string wire = MakeWire("stored", chain);
  EXPECT_EQ(wire.size(), 6 + kChainFieldSize);
  auto parts = SplitWire(wire);
  ASSERT_OK(parts);
  EXPECT_EQ(parts->stored, "stored");
  EXPECT_EQ(parts->chain, chain);
  EXPECT_EQ(SplitWire("short").status().code(), absl::StatusCode::kDataLoss);
}

TEST(RecordTest, ChainDependsOnPositionPreviousAndBytes) {
  Digest a = ChainLink(kGenesisChain, 1, "x");
  EXPECT_NE(a, ChainLink(kGenesisChain, 2, "x"));
  EXPECT_NE(a, ChainLink(kGenesisChain, 1, "y"));
  EXPECT_NE(a, ChainLink(a, 1, "x"));
}

TEST(RecordTest, BigEndianSortsNumerically) {
  std::string a, b;
  PutBigEndian64(&a, 255);
  PutBigEndian64(&b, 256);
  EXPECT_LT(a, b);
  EXPECT_EQ(GetBigEndian64(b), 256u);
}

}  // namespace
}  // namespace grid::storage
