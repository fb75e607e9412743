// Cluster mode under faults, with the real binaries: three etcd members and
// three gridd nodes of one shard on loopback, every node reaching every etcd
// member through a fault-injecting proxy of its own (tests/testing/
// tcp_proxy.h). Appenders write through every node, a retry of an unknown
// outcome going to the next node with the same event ids; subscribers
// follow the nodes and resume from their checkpoints on another node. Each
// test runs one kind of fault under that load, heals everything, and then
// checks with the independent history checker that every acknowledged
// event is in the log once, at its acknowledged position, dense and with a
// chain that verifies, that no subscriber saw a gap, a repeat or anything
// the log does not hold, and that every node holds the same records and
// the same projections.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "client/client.h"
#include "grpcpp/client_context.h"
#include "storage/sync.h"
#include "tests/testing/etcd_server.h"
#include "tests/testing/history_checker.h"
#include "tests/testing/process.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/tcp_proxy.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_events.h"

namespace grid {
namespace {

constexpr int kNodes = 3;
constexpr int kAppenders = 4;
constexpr int kSubscribers = 2;
constexpr absl::Duration kWait = absl::Seconds(60);
// Kill cycles of the writer test; GRID_CLUSTER_CYCLES=N runs more (soak).
const int kCycles = grid::testing::IntFromEnv("GRID_CLUSTER_CYCLES", 3);

class ClusterFaultTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // A test that hangs says where, well before ctest's timeout ends it.
    watchdog_ = std::thread([this] {
      grid::MutexLock l(&watch_mu_);
      const absl::Time deadline = absl::Now() + absl::Minutes(5);
      while (!finished_) {
        if (!watch_cv_.WaitFor(&watch_mu_, deadline - absl::Now()) && absl::Now() >= deadline) {
          std::cout << "hung for 5 minutes, in: " << phase_ << std::endl;
          std::abort();
        }
      }
    });
    ASSERT_OK_AND_ASSIGN(etcd_, testing::EtcdCluster::Start(dir_.path(), 3));
    person_key_ = dir_.path() + "/person_key";
    std::ofstream(person_key_) << std::string(32, 'k');
    ::chmod(person_key_.c_str(), 0600);
    proxies_.resize(kNodes);
    for (int i = 0; i < kNodes; ++i) {
      for (int m = 0; m < etcd_->size(); ++m) {
        proxies_[i].push_back(testing::TcpProxy::Start(etcd_->client_port(m)));
        ASSERT_NE(proxies_[i].back(), nullptr);
      }
    }
    nodes_.resize(kNodes);
    {
      grid::MutexLock l(&mu_);
      targets_.resize(kNodes);
    }
    for (int i = 0; i < kNodes; ++i) StartNode(i);
  }

  void TearDown() override {
    Phase("tearing down");
    StopLoad();
    for (auto& n : nodes_) {
      if (n != nullptr) n->Signal(SIGCONT);
    }
    nodes_.clear();
    proxies_.clear();
    etcd_.reset();
    {
      grid::MutexLock l(&watch_mu_);
      finished_ = true;
      watch_cv_.SignalAll();
    }
    watchdog_.join();
  }

  // What the test does now, for the watchdog and the log.
  void Phase(const std::string& what) {
    std::cout << absl::FormatTime("%H:%M:%S ", absl::Now(), absl::UTCTimeZone()) << what << std::endl;
    grid::MutexLock l(&watch_mu_);
    phase_ = what;
  }

  // ---- the cluster ----------------------------------------------------------

  void StartNode(int i) {
    std::vector<std::string> endpoints;
    for (const auto& p : proxies_[i]) endpoints.push_back(absl::StrCat("127.0.0.1:", p->port()));
    auto p = testing::GriddProcess::Start(
        GRIDD_PATH, absl::StrCat(dir_.path(), "/n", i + 1),
        {"--cluster=" + absl::StrJoin(endpoints, ","), "--shard=350583", absl::StrCat("--node_id=n", i + 1),
         "--person_key=" + person_key_, "--cluster_lease_seconds=2", "--log_level=warn"});
    ASSERT_OK(p.status());
    grid::MutexLock l(&mu_);
    targets_[i] = (*p)->target();
    nodes_[i] = *std::move(p);
  }
  void StopNode(int i, int sig) {
    {
      grid::MutexLock l(&mu_);
      targets_[i].clear();
    }
    nodes_[i]->Kill(sig);
    nodes_[i].reset();
  }
  std::string Target(int i) ABSL_LOCKS_EXCLUDED(mu_) {
    grid::MutexLock l(&mu_);
    return targets_[i];
  }
  absl::StatusOr<grid::v1::LogStatus> Status(int i) {
    const std::string t = Target(i);
    if (t.empty()) return absl::UnavailableError("down");
    auto c = client::Client::Connect(t);
    c->set_timeout(absl::Seconds(2));
    return c->GetStatus();
  }
  // The one node (of those up, other than `not_this`) that is the writer,
  // once there is one and every other node up knows it: -1 after kWait.
  int WaitWriter(int not_this = -1) {
    const absl::Time deadline = absl::Now() + kWait;
    while (absl::Now() < deadline) {
      int writer = -1, writers = 0;
      std::vector<std::string> seen;
      for (int i = 0; i < kNodes; ++i) {
        if (i == not_this) continue;
        auto s = Status(i);
        if (!s.ok()) continue;
        seen.push_back(s->cluster().writer_node());
        if (s->cluster().role() == "writer") {
          writer = i;
          ++writers;
        }
      }
      const std::string name = absl::StrCat("n", writer + 1);
      if (writers == 1 && std::all_of(seen.begin(), seen.end(), [&](const auto& w) { return w == name; })) {
        return writer;
      }
      absl::SleepFor(absl::Milliseconds(50));  // polling a status, not synchronizing a result
    }
    for (int i = 0; i < kNodes; ++i) {  // what each said, for the failure
      auto s = Status(i);
      std::cout << "n" << i + 1 << ": " << (s.ok() ? s->cluster().ShortDebugString() : s.status().ToString())
                << std::endl;
    }
    return -1;
  }
  std::string Role(int i) {
    auto s = Status(i);
    return s.ok() ? s->cluster().role() : "down";
  }

  // ---- the load -------------------------------------------------------------

  void StartLoad() {
    stop_.store(false);
    for (int t = 0; t < kAppenders; ++t) threads_.emplace_back([this, t] { Appender(t); });
    for (int s = 0; s < kSubscribers; ++s) threads_.emplace_back([this, s] { Subscriber(s); });
  }
  void StopLoad() {
    Phase("stopping the load");
    stop_.store(true);
    {
      grid::MutexLock l(&mu_);
      for (auto* ctx : streams_) ctx->TryCancel();
    }
    for (auto& t : threads_) t.join();
    threads_.clear();
  }
  // Lets the load run a while (what a fault then interrupts).
  void Load(absl::Duration d) { absl::SleepFor(d); }

  void Appender(int t) {
    std::map<std::string, std::unique_ptr<client::Client>> clients;
    std::optional<grid::v1::AppendRequest> req;
    int attempt = 0;
    for (int i = 0; !stop_.load();) {
      if (!req.has_value()) {
        // Domain-valid events (each defines a new grid), 1-3 per append.
        const std::string county = absl::StrCat("c", t, "x", i % 5);
        std::vector<grid::v1::Event> events;
        events.reserve(3);
        for (int k = 0; k < 1 + i % 3; ++k) {
          events.push_back(testing::GridEvent(absl::StrCat("t", t, "-", i, "-", k),
                                              absl::StrCat(county, "/g", t, "-", i, "-", k)));
        }
        req = testing::AppendReq("org/" + county, events);
        attempt = 0;
        ++i;
      }
      const std::string target = Target((t + attempt) % kNodes);
      if (target.empty()) {
        ++attempt;
        continue;
      }
      auto& c = clients[target];
      if (c == nullptr) {
        c = client::Client::Connect(target);
        c->set_timeout(absl::Seconds(20));
      }
      auto resp = c->Append(*req);
      {
        grid::MutexLock l(&mu_);
        if (resp.ok()) {
          for (int k = 0; k < req->events_size(); ++k) {
            acked_[req->events(k).event_id()] = resp->results(k).position();
          }
          req.reset();
          continue;
        }
        ++errors_[absl::StatusCodeToString(resp.status().code())];
        if (!absl::IsUnavailable(resp.status()) && !absl::IsDeadlineExceeded(resp.status()) &&
            !absl::IsCancelled(resp.status())) {
          unexpected_.push_back(std::string(resp.status().ToString()));
        }
      }
      ++attempt;                               // the same request, at the next node
      absl::SleepFor(absl::Milliseconds(20));  // a client's backoff
    }
    // Stopped with an outcome unknown: retried once the cluster is healed.
    grid::MutexLock l(&mu_);
    if (req.has_value() && attempt > 0) unknown_.push_back(*req);
  }

  void Subscriber(int s) {
    for (int attempt = 0; !stop_.load(); ++attempt) {
      const std::string target = Target((s + 1 + attempt) % kNodes);
      if (target.empty()) continue;
      auto c = client::Client::Connect(target);
      grpc::ClientContext ctx;
      grid::v1::SubscribeRequest req;
      {
        grid::MutexLock l(&mu_);
        if (stop_.load()) return;
        req.set_after_position(checkpoints_[s]);
        req.set_min_position(checkpoints_[s]);  // the next node may still be applying it
        streams_.push_back(&ctx);
      }
      (void)c->Subscribe(
          req,
          [&](const grid::v1::SubscribeResponse& r) {
            grid::MutexLock l(&mu_);
            for (const auto& e : r.events()) seen_[s].push_back({e.position(), e.event_id()});
            checkpoints_[s] = r.checkpoint();
            return !stop_.load();
          },
          &ctx);
      grid::MutexLock l(&mu_);
      streams_.erase(std::find(streams_.begin(), streams_.end(), &ctx));
    }
  }

  // ---- the check ------------------------------------------------------------

  // Heals everything, retries what was unknown, waits until every node has
  // applied the writer's head, and checks the history on every node.
  void HealAndCheck(size_t min_acked = 300) {
    StopLoad();
    Phase("healing");
    for (auto& node : proxies_) {
      for (auto& p : node) p->Heal();
    }
    for (int m = 0; m < etcd_->size(); ++m) ASSERT_OK(etcd_->Restart(m));
    for (int i = 0; i < kNodes; ++i) {
      if (nodes_[i] == nullptr) StartNode(i);
      nodes_[i]->Signal(SIGCONT);
    }
    Phase("waiting for a writer");
    const int writer = WaitWriter();
    ASSERT_GE(writer, 0) << "no writer after healing";
    Phase("retrying what was unknown");
    std::vector<grid::v1::AppendRequest> unknown;
    {
      grid::MutexLock l(&mu_);
      unknown.swap(unknown_);
    }
    auto c = client::Client::Connect(Target((writer + 1) % kNodes));  // retries through a replica
    for (const auto& req : unknown) {
      ASSERT_OK_AND_ASSIGN(auto resp, c->Append(req));
      grid::MutexLock l(&mu_);
      for (int k = 0; k < req.events_size(); ++k)
        acked_[req.events(k).event_id()] = resp.results(k).position();
    }
    ASSERT_OK_AND_ASSIGN(auto ws, Status(writer));
    const uint64_t head = ws.head_position();
    Phase("reading every node's log");
    std::vector<std::vector<std::string>> logs(kNodes);
    for (int i = 0; i < kNodes; ++i) {
      const absl::Time deadline = absl::Now() + kWait;
      for (;;) {
        auto s = Status(i);
        if (s.ok() && s->cluster().applied() >= head) break;
        if (absl::Now() > deadline) {
          FAIL() << "n" << i + 1 << " did not apply " << head << ": "
                 << (s.ok() ? s->cluster().ShortDebugString() : s.status().ToString());
        }
        absl::SleepFor(absl::Milliseconds(50));  // polling a status, not synchronizing a result
      }
      auto node = client::Client::Connect(Target(i));
      grid::v1::ReadRequest all;
      all.mutable_all();
      all.set_min_position(head);
      ASSERT_OK(node->ReadRaw(all, [&](const grid::v1::RawReadResponse& r) {
        for (const auto& w : r.events()) logs[i].push_back(w);
        return true;
      }));
      EXPECT_EQ(logs[i].size(), head) << "node " << i;
      if (i > 0) {
        EXPECT_TRUE(logs[i] == logs[0]) << "node " << i << " holds other records than node 0";
      }
    }
    testing::History history;
    std::vector<std::string> unexpected;
    std::map<std::string, int> retried;
    {
      grid::MutexLock l(&mu_);
      history.acked = acked_;
      history.subscribers = seen_;
      unexpected = unexpected_;
      retried = errors_;
    }
    const auto anomalies = testing::CheckHistory(history, logs[0]);
    EXPECT_TRUE(anomalies.ok()) << anomalies.Summary();
    EXPECT_TRUE(unexpected.empty()) << absl::StrJoin(unexpected, "; ");
    EXPECT_GE(history.acked.size(), min_acked) << "the load did not run";
    Phase("comparing projections");
    ExpectSameProjections(head);
    std::string errors;
    for (const auto& [code, n] : retried) absl::StrAppend(&errors, " ", code, "=", n);
    std::cout << ::testing::UnitTest::GetInstance()->current_test_info()->name() << ": "
              << history.acked.size() << " acknowledged events, head " << head << ", subscribers saw "
              << history.subscribers[0].size() << " and " << history.subscribers[1].size()
              << ", retried errors:" << (errors.empty() ? " none" : errors)
              << ", anomalies: " << (anomalies.ok() ? "none" : anomalies.Summary()) << std::endl;
  }

  void ExpectSameProjections(uint64_t head) {
    auto first = client::Client::Connect(Target(0));
    ASSERT_OK_AND_ASSIGN(auto list, first->ListProjections());
    ASSERT_GT(list.projections_size(), 0);
    for (const auto& p : list.projections()) {
      std::string expected;
      for (int i = 0; i < kNodes; ++i) {
        grid::v1::GetProjectionRequest req;
        req.set_name(p.name());
        req.set_at_position(head);
        req.set_min_position(head);
        auto node = client::Client::Connect(Target(i));
        ASSERT_OK_AND_ASSIGN(auto rows, node->GetProjection(req));
        std::string got;
        for (const auto& r : rows.rows()) absl::StrAppend(&got, r.SerializeAsString(), "\n");
        if (i == 0) {
          expected = got;
        } else {
          EXPECT_EQ(got, expected) << "projection " << p.name() << " differs on node " << i;
        }
      }
    }
  }

  testing::TempDir dir_;
  std::unique_ptr<testing::EtcdCluster> etcd_;
  std::string person_key_;
  std::vector<std::vector<std::unique_ptr<testing::TcpProxy>>> proxies_;  // [node][etcd member]
  std::vector<std::unique_ptr<testing::GriddProcess>> nodes_;

  grid::Mutex mu_;
  std::vector<std::string> targets_ ABSL_GUARDED_BY(mu_);  // "" while down
  std::atomic<bool> stop_{false};
  std::vector<std::thread> threads_;
  std::vector<grpc::ClientContext*> streams_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, uint64_t> acked_ ABSL_GUARDED_BY(mu_);
  std::vector<grid::v1::AppendRequest> unknown_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, int> errors_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> unexpected_ ABSL_GUARDED_BY(mu_);
  std::vector<std::vector<testing::Observation>> seen_ ABSL_GUARDED_BY(mu_){kSubscribers};
  std::vector<uint64_t> checkpoints_ ABSL_GUARDED_BY(mu_) = std::vector<uint64_t>(kSubscribers, 0);

  grid::Mutex watch_mu_;
  grid::CondVar watch_cv_;
  std::string phase_ ABSL_GUARDED_BY(watch_mu_) = "setting up";
  bool finished_ ABSL_GUARDED_BY(watch_mu_) = false;
  std::thread watchdog_;
};

TEST_F(ClusterFaultTest, KillNineOfTheWriterUnderLoad) {
  ASSERT_GE(WaitWriter(), 0);
  StartLoad();
  for (int cycle = 0; cycle < kCycles; ++cycle) {
    Load(absl::Seconds(2));
    const int writer = WaitWriter();
    ASSERT_GE(writer, 0);
    Phase(absl::StrCat("cycle ", cycle, ": kill -9 of the writer n", writer + 1));
    const absl::Time killed = absl::Now();
    StopNode(writer, SIGKILL);
    const int next = WaitWriter(writer);
    ASSERT_GE(next, 0) << "no new writer after kill -9 of n" << writer + 1;
    std::cout << "cycle " << cycle << ": n" << writer + 1 << " killed, n" << next + 1 << " writes after "
              << absl::FormatDuration(absl::Now() - killed) << std::endl;
    Load(absl::Seconds(1));
    StartNode(writer);
  }
  Load(absl::Seconds(2));
  HealAndCheck();
}

TEST_F(ClusterFaultTest, EtcdMinorityLeaderAndAllMembersDie) {
  ASSERT_GE(WaitWriter(), 0);
  StartLoad();
  Load(absl::Seconds(2));
  // A minority: appends go on.
  Phase("killing an etcd follower");
  int leader = etcd_->Leader();
  ASSERT_GE(leader, 0);
  const int follower = (leader + 1) % etcd_->size();
  etcd_->Kill(follower, SIGKILL);
  Load(absl::Seconds(3));
  ASSERT_OK(etcd_->Restart(follower));
  Load(absl::Seconds(2));
  // The leader: a new election, then on.
  Phase("killing the etcd leader");
  leader = etcd_->Leader();
  ASSERT_GE(leader, 0);
  etcd_->Kill(leader, SIGKILL);
  Load(absl::Seconds(4));
  ASSERT_OK(etcd_->Restart(leader));
  Load(absl::Seconds(2));
  // Every member at once: nothing until they are back.
  Phase("killing every etcd member");
  for (int m = 0; m < etcd_->size(); ++m) etcd_->Kill(m, SIGKILL);
  Load(absl::Seconds(2));
  Phase("restarting every etcd member");
  for (int m = 0; m < etcd_->size(); ++m) ASSERT_OK(etcd_->Restart(m));
  Load(absl::Seconds(6));
  HealAndCheck();
}

TEST_F(ClusterFaultTest, APausedWriterCommitsNothingAfterATakeoverAndStepsDown) {
  const int zombie = WaitWriter();
  ASSERT_GE(zombie, 0);
  StartLoad();
  Load(absl::Seconds(2));
  Phase(absl::StrCat("SIGSTOP of the writer n", zombie + 1));
  nodes_[zombie]->Signal(SIGSTOP);  // past its lease: another node takes over
  const int next = WaitWriter(zombie);
  ASSERT_GE(next, 0) << "no new writer while n" << zombie + 1 << " was paused";
  Load(absl::Seconds(3));
  nodes_[zombie]->Signal(SIGCONT);  // it still believes it writes: its commits are fenced out
  const absl::Time deadline = absl::Now() + kWait;
  while (Role(zombie) == "writer" && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(50));
  EXPECT_NE(Role(zombie), "writer") << "the paused writer did not step down";
  EXPECT_EQ(WaitWriter(), next);
  Load(absl::Seconds(2));
  HealAndCheck();
}

TEST_F(ClusterFaultTest, NodesCutOffFromEtcdStepDownAndRejoin) {
  const int writer = WaitWriter();
  ASSERT_GE(writer, 0);
  StartLoad();
  Load(absl::Seconds(2));
  // The writer's links to every etcd member go silent (a partition).
  Phase(absl::StrCat("cutting the writer n", writer + 1, " off"));
  for (auto& p : proxies_[writer]) p->Blackhole();
  const int next = WaitWriter(writer);
  ASSERT_GE(next, 0) << "no new writer while n" << writer + 1 << " was cut off";
  Load(absl::Seconds(3));
  for (auto& p : proxies_[writer]) p->Heal();
  // A replica's links reset, then silent, then back.
  const int replica = (next + 1) % kNodes == writer ? (next + 2) % kNodes : (next + 1) % kNodes;
  for (auto& p : proxies_[replica]) p->Drop();
  Load(absl::Seconds(1));
  for (auto& p : proxies_[replica]) p->Blackhole();
  Load(absl::Seconds(3));
  for (auto& p : proxies_[replica]) p->Heal();
  Load(absl::Seconds(2));
  HealAndCheck();
}

TEST_F(ClusterFaultTest, AWipedReplicaRejoinsAndCatchesUp) {
  const int writer = WaitWriter();
  ASSERT_GE(writer, 0);
  StartLoad();
  Load(absl::Seconds(3));
  const int replica = (writer + 1) % kNodes;
  Phase(absl::StrCat("wiping the replica n", replica + 1));
  StopNode(replica, SIGKILL);
  std::filesystem::remove_all(absl::StrCat(dir_.path(), "/n", replica + 1));
  Load(absl::Seconds(2));
  StartNode(replica);
  Load(absl::Seconds(3));
  HealAndCheck();
}

TEST_F(ClusterFaultTest, EveryNodeKilledAtOnceLosesNothingAcknowledged) {
  ASSERT_GE(WaitWriter(), 0);
  StartLoad();
  Load(absl::Seconds(3));
  Phase("kill -9 of every node");
  for (int i = 0; i < kNodes; ++i) StopNode(i, SIGKILL);
  Load(absl::Seconds(1));
  for (int i = 0; i < kNodes; ++i) StartNode(i);
  ASSERT_GE(WaitWriter(), 0);
  Load(absl::Seconds(3));
  HealAndCheck();
}

// Optimistic concurrency across nodes: two clients at two different nodes
// append to one stream with the same expected version at the same moment;
// exactly one of them wins, every round, and the other is told the version.
TEST_F(ClusterFaultTest, TheSameExpectedVersionAtTwoNodesWinsOnce) {
  const int writer = WaitWriter();
  ASSERT_GE(writer, 0);
  auto a = client::Client::Connect(Target((writer + 1) % kNodes));
  auto b = client::Client::Connect(Target((writer + 2) % kNodes));
  auto first = testing::AppendReq("org/race", {testing::GridEvent("race-0", "race/g0")});
  first.mutable_no_stream();
  ASSERT_OK(a->Append(first).status());
  constexpr int kRounds = 100;
  int conflicts = 0;
  uint64_t ra_last = 0, rb_last = 0;  // the highest position each client was acknowledged
  for (int round = 0; round < kRounds; ++round) {
    absl::StatusOr<grid::v1::AppendResponse> ra, rb;
    auto at = [&](client::Client* c, const char* who, absl::StatusOr<grid::v1::AppendResponse>* out) {
      auto req = testing::AppendReq("org/race", {testing::GridEvent(absl::StrCat("race-", round + 1, who),
                                                                    absl::StrCat("race/g", round + 1, who))});
      req.set_exact_version(static_cast<uint64_t>(round));
      *out = c->Append(req);
    };
    std::thread ta([&] { at(a.get(), "a", &ra); });
    std::thread tb([&] { at(b.get(), "b", &rb); });
    ta.join();
    tb.join();
    ASSERT_NE(ra.ok(), rb.ok()) << "round " << round << ": " << ra.status() << " / " << rb.status();
    for (const auto& [r, at_most] : {std::pair(&ra, &ra_last), std::pair(&rb, &rb_last)}) {
      if (r->ok()) *at_most = std::max(*at_most, (*r)->results(0).position());
    }
    const absl::Status& lost = ra.ok() ? rb.status() : ra.status();
    EXPECT_EQ(lost.code(), absl::StatusCode::kFailedPrecondition) << lost;
    conflicts += absl::IsFailedPrecondition(lost);
  }
  EXPECT_EQ(conflicts, kRounds);
  // Read at a replica as of the last win (which may have gone through the
  // other node): without min_position it can lag the writer by an event.
  uint64_t last = 0;
  for (const auto* r : {&ra_last, &rb_last}) last = std::max(last, *r);
  grid::v1::ReadRequest stream;
  stream.set_stream("org/race");
  stream.set_min_position(last);
  size_t events = 0;
  ASSERT_OK(a->Read(stream, [&](const grid::v1::ReadResponse& r) {
    events += r.events_size();
    return true;
  }));
  EXPECT_EQ(events, kRounds + 1u);
}

}  // namespace
}  // namespace grid
