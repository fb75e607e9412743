// The history checker must find each kind of anomaly it claims to find;
// otherwise the crash test could not fail.
#include "tests/testing/history_checker.h"

#include <gtest/gtest.h>

#include "storage/record.h"
#include "tests/testing/test_events.h"

namespace grid::testing {
namespace {

// A valid log of `n` events with ids "e1".."en".
std::vector<std::string> MakeLog(int n) {
  std::vector<std::string> wires;
  storage::Digest chain = storage::kGenesisChain;
  for (int p = 1; p <= n; ++p) {
    grid::v1::Event e = GridEvent("e" + std::to_string(p));
    e.set_position(p);
    const std::string stored = e.SerializeAsString();
    chain = storage::ChainLink(chain, p, stored);
    wires.push_back(storage::MakeWire(stored, chain));
  }
  return wires;
}

History Good() {
  History h;
  h.acked = {{"e1", 1}, {"e3", 3}};
  h.subscribers = {{{1, "e1"}, {2, "e2"}, {3, "e3"}}};
  return h;
}

TEST(HistoryCheckerTest, AcceptsAGoodHistory) { EXPECT_TRUE(CheckHistory(Good(), MakeLog(4)).ok()); }

TEST(HistoryCheckerTest, FindsEachAnomaly) {
  const auto log = MakeLog(4);
  {
    History h = Good();
    h.acked["e9"] = 9;
    EXPECT_EQ(CheckHistory(h, log).lost, 1u);
    h = Good();
    h.acked["e3"] = 2;
    EXPECT_EQ(CheckHistory(h, log).lost, 1u);
  }
  {
    History h = Good();
    h.subscribers[0] = {{1, "e1"}, {3, "e3"}};
    EXPECT_EQ(CheckHistory(h, log).gapped, 1u);
    h.subscribers[0] = {{1, "e1"}, {2, "e2"}, {2, "e2"}};
    EXPECT_EQ(CheckHistory(h, log).reordered, 1u);
    h.subscribers[0] = {{1, "e1"}, {2, "x"}};
    EXPECT_EQ(CheckHistory(h, log).disagreeing, 1u);
    h.subscribers[0] = {{1, "e1"}, {2, "e2"}, {3, "e3"}, {4, "e4"}, {5, "e5"}};
    EXPECT_EQ(CheckHistory(h, log).disagreeing, 1u);  // saw what the log lost
  }
  {
    auto dup = log;
    grid::v1::Event e = GridEvent("e1");
    e.set_position(5);
    const storage::Digest chain = storage::SplitWire(dup.back()).value().chain;
    const std::string stored = e.SerializeAsString();
    dup.push_back(storage::MakeWire(stored, storage::ChainLink(chain, 5, stored)));
    EXPECT_EQ(CheckHistory(Good(), dup).duplicated, 1u);
  }
  {
    auto bad = log;
    bad[1][3] ^= 1;
    EXPECT_EQ(CheckHistory(Good(), bad).corrupt, 1u);
  }
}

}  // namespace
}  // namespace grid::testing
