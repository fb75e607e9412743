// kill -9 under load: appenders and subscribers run against the real gridd,
// which is killed with SIGKILL at a random moment, restarted, and killed
// again. Requests whose outcome was unknown are retried with the same event
// ids after the restart; subscribers resume from their last checkpoint. The
// independent history checker (tests/testing/history_checker.h) then looks
// for lost, duplicated, gapped, reordered and disagreeing events and checks
// that positions are dense and the chain verifies.
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>
#include <thread>

#include "absl/time/clock.h"
#include "client/client.h"
#include "grpcpp/client_context.h"
#include "storage/sync.h"
#include "tests/testing/history_checker.h"
#include "tests/testing/process.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_events.h"

namespace grid {
namespace {

// At least 100 in CI; GRID_CRASH_CYCLES=N runs more (make soak).
const int kCycles = grid::testing::IntFromEnv("GRID_CRASH_CYCLES", 100);
constexpr int kAppenders = 4;
constexpr int kSubscribers = 2;

struct History {
  grid::Mutex mu;
  std::map<std::string, uint64_t> acked;         // event id -> position
  std::vector<grid::v1::AppendRequest> unknown;  // outcome not known
  std::vector<std::vector<grid::testing::Observation>> seen{kSubscribers};
  std::vector<uint64_t> checkpoint = std::vector<uint64_t>(kSubscribers, 0);
};

// Follows the log from subscriber `s`'s checkpoint until the server dies.
void Subscriber(client::Client* c, int s, History* h, grpc::ClientContext* ctx) {
  grid::v1::SubscribeRequest req;
  {
    grid::MutexLock l(&h->mu);
    req.set_after_position(h->checkpoint[s]);
  }
  (void)c->Subscribe(
      req,
      [&](const grid::v1::SubscribeResponse& r) {
        grid::MutexLock l(&h->mu);
        for (const auto& e : r.events()) h->seen[s].push_back({e.position(), e.event_id()});
        h->checkpoint[s] = r.checkpoint();
        return true;
      },
      ctx);
}

void Appender(client::Client* c, int cycle, int t, History* h) {
  std::mt19937 rng(cycle * 100 + t);
  for (int i = 0;; ++i) {
    const int n = 1 + static_cast<int>(rng() % 3);
    // Domain-valid events (each defines a new grid) over 5 counties per
    // appender, so that the domain rules are under the kill -9 too.
    const std::string county = absl::StrCat("c", t, "x", i % 5);
    std::vector<grid::v1::Event> events;
    events.reserve(n);
    for (int k = 0; k < n; ++k) {
      events.push_back(grid::testing::GridEvent(absl::StrCat("c", cycle, "-t", t, "-", i, "-", k),
                                                absl::StrCat(county, "/g", cycle, "-", i, "-", k)));
    }
    auto req = grid::testing::AppendReq("org/" + county, events);
    auto resp = c->Append(req);
    grid::MutexLock l(&h->mu);
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
    // Every other cycle with the pipelined writer (pipelined_commits), on
    // the log the other kind of cycle wrote.
    ASSERT_OK_AND_ASSIGN(
        auto proc,
        grid::testing::GriddProcess::Start(
            GRIDD_PATH, data, {absl::StrCat("--pipelined_commits=", cycle % 2 == 1 ? "true" : "false")}));
    auto client = client::Client::Connect(proc->target());
    // After a restart: nothing acknowledged was lost, and retrying the
    // unknown requests is safe (duplicates or first writes, never errors).
    ASSERT_OK_AND_ASSIGN(auto status, client->GetStatus());
    EXPECT_GE(status.head_position(), last_head) << "cycle " << cycle;
    std::vector<grid::v1::AppendRequest> retry;
    {
      grid::MutexLock l(&h.mu);
      retry.swap(h.unknown);
    }
    for (const auto& req : retry) {
      ASSERT_OK_AND_ASSIGN(auto resp, client->Append(req));
      grid::MutexLock l(&h.mu);
      for (int k = 0; k < req.events_size(); ++k) {
        h.acked[req.events(k).event_id()] = resp.results(k).position();
      }
    }
    std::vector<std::thread> threads;
    std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
    for (int s = 0; s < kSubscribers; ++s) {
      contexts.push_back(std::make_unique<grpc::ClientContext>());
      threads.emplace_back(Subscriber, client.get(), s, &h, contexts.back().get());
    }
    for (int t = 0; t < kAppenders; ++t) {
      threads.emplace_back(Appender, client.get(), cycle, t, &h);
    }
    absl::SleepFor(absl::Milliseconds(50 + rng() % 250));
    proc->Kill(SIGKILL);
    for (auto& th : threads) th.join();
    grid::MutexLock l(&h.mu);
    for (const auto& [id, pos] : h.acked) last_head = std::max(last_head, pos);
  }

  // Final check against a clean restart.
  ASSERT_OK_AND_ASSIGN(auto proc, grid::testing::GriddProcess::Start(GRIDD_PATH, data));
  auto client = client::Client::Connect(proc->target());
  for (const auto& req : h.unknown) ASSERT_OK(client->Append(req));
  ASSERT_OK_AND_ASSIGN(auto status, client->GetStatus());
  std::vector<std::string> log;
  grid::v1::ReadRequest req;
  req.mutable_all();
  ASSERT_OK(client->ReadRaw(req, [&](const grid::v1::RawReadResponse& r) {
    for (const auto& w : r.events()) log.push_back(w);
    return true;
  }));
  EXPECT_EQ(log.size(), status.head_position());
  grid::testing::History history;
  history.acked = h.acked;
  for (int s = 0; s < kSubscribers; ++s) history.subscribers.push_back(h.seen[s]);
  const auto anomalies = grid::testing::CheckHistory(history, log);
  EXPECT_TRUE(anomalies.ok()) << anomalies.Summary();
  EXPECT_GT(h.acked.size(), 1000u) << "the load did not run";
  for (int s = 0; s < kSubscribers; ++s) {
    EXPECT_GT(h.seen[s].size(), 1000u) << "subscriber " << s << " saw too little";
  }
  std::cout << "crash test: " << kCycles << " kill -9 cycles, " << h.acked.size()
            << " acknowledged events, subscribers saw " << h.seen[0].size() << " and " << h.seen[1].size()
            << ", log head " << status.head_position() << ", anomalies: none" << std::endl;
  proc->Kill(SIGTERM);
}

}  // namespace
}  // namespace grid
