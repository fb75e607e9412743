// kill -9 under load: appenders run against the real gridd, which is killed
// with SIGKILL at a random moment, restarted, and killed again. Every
// acknowledged event must be present exactly once at its acknowledged
// position; requests whose outcome was unknown are retried with the same
// event ids after the restart and must then be present exactly once too;
// positions are dense and the chain verifies.
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "client/client.h"
#include "tests/testing/process.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_events.h"

namespace grid {
namespace {

constexpr int kCycles = 20;
constexpr int kAppenders = 4;

struct History {
  absl::Mutex mu;
  std::map<std::string, uint64_t> acked;              // event id -> position
  std::vector<grid::v1::AppendRequest> unknown;       // outcome not known
};

void Appender(client::Client* c, int cycle, int t, History* h) {
  std::mt19937 rng(cycle * 100 + t);
  for (int i = 0;; ++i) {
    const int n = 1 + static_cast<int>(rng() % 3);
    std::vector<grid::v1::Event> events;
    for (int k = 0; k < n; ++k) {
      events.push_back(grid::testing::GridEvent(
          absl::StrCat("c", cycle, "-t", t, "-", i, "-", k),
          absl::StrCat("350583/10", t)));
    }
    auto req = grid::testing::AppendReq(absl::StrCat("crash/t", t, "-", i % 5), events);
    auto resp = c->Append(req);
    absl::MutexLock l(&h->mu);
    if (!resp.ok()) {
      h->unknown.push_back(req);
      return;  // the server is gone
    }
    for (int k = 0; k < n; ++k) {
      h->acked[req.events(k).event_id()] = resp->results(k).position();
    }
  }
}

TEST(CrashTest, KillNineUnderLoadLosesAndDuplicatesNothing) {
  grid::testing::TempDir dir;
  const std::string data = dir.path() + "/data";
  History h;
  std::mt19937 rng(42);
  uint64_t last_head = 0;
  for (int cycle = 0; cycle < kCycles; ++cycle) {
    ASSERT_OK_AND_ASSIGN(auto proc, grid::testing::GriddProcess::Start(GRIDD_PATH, data));
    auto client = client::Client::Connect(proc->target());
    // After a restart: nothing acknowledged was lost, and retrying the
    // unknown requests is safe (duplicates or first writes, never errors).
    ASSERT_OK_AND_ASSIGN(auto status, client->GetStatus());
    EXPECT_GE(status.head_position(), last_head) << "cycle " << cycle;
    std::vector<grid::v1::AppendRequest> retry;
    {
      absl::MutexLock l(&h.mu);
      retry.swap(h.unknown);
    }
    for (const auto& req : retry) {
      ASSERT_OK_AND_ASSIGN(auto resp, client->Append(req));
      absl::MutexLock l(&h.mu);
      for (int k = 0; k < req.events_size(); ++k) {
        h.acked[req.events(k).event_id()] = resp.results(k).position();
      }
    }
    std::vector<std::thread> threads;
    for (int t = 0; t < kAppenders; ++t) {
      threads.emplace_back(Appender, client.get(), cycle, t, &h);
    }
    absl::SleepFor(absl::Milliseconds(50 + rng() % 250));
    proc->Kill(SIGKILL);
    for (auto& th : threads) th.join();
    absl::MutexLock l(&h.mu);
    for (const auto& [id, pos] : h.acked) last_head = std::max(last_head, pos);
  }

  // Final check against a clean restart.
  ASSERT_OK_AND_ASSIGN(auto proc, grid::testing::GriddProcess::Start(GRIDD_PATH, data));
  auto client = client::Client::Connect(proc->target());
  for (const auto& req : h.unknown) ASSERT_OK(client->Append(req));
  ASSERT_OK_AND_ASSIGN(auto status, client->GetStatus());
  std::map<std::string, uint64_t> seen;
  client::ChainVerifier verifier;
  grid::v1::ReadRequest req;
  req.mutable_all();
  absl::Status bad;
  ASSERT_OK(client->ReadRaw(req, [&](const grid::v1::RawReadResponse& r) {
    for (const auto& w : r.events()) {
      bad = verifier.Add(w);  // dense positions and a valid chain
      if (!bad.ok()) return false;
      grid::v1::Event e;
      e.ParseFromString(w);
      EXPECT_TRUE(seen.emplace(e.event_id(), e.position()).second)
          << "duplicate " << e.event_id();
    }
    return true;
  }));
  ASSERT_OK(bad);
  EXPECT_EQ(verifier.next() - 1, status.head_position());
  EXPECT_GT(h.acked.size(), 100u) << "the load did not run";
  size_t lost = 0;
  for (const auto& [id, pos] : h.acked) {
    auto it = seen.find(id);
    if (it == seen.end() || it->second != pos) ++lost;
  }
  EXPECT_EQ(lost, 0u) << "acknowledged events lost or moved";
  std::cout << "crash test: " << kCycles << " kill -9 cycles, " << h.acked.size()
            << " acknowledged events, log head " << status.head_position() << std::endl;
  proc->Kill(SIGTERM);
}

}  // namespace
}  // namespace grid
