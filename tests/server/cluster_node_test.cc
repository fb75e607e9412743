// Nodes of one shard on a real etcd (started by the test on loopback), each
// with its own RocksDB log and sequencer, in one process: exactly one
// writer; every node applies its commits and ends with the same log; a
// replica refuses appends naming the writer; a writer that goes is replaced
// and a retry of its events on the new writer is a duplicate; a writer
// paused past its lease (a zombie) commits nothing once another took over.
#include "server/cluster/cluster_node.h"

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <thread>
#include <tuple>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "tests/testing/etcd_server.h"
#include "tests/testing/history_checker.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/tcp_proxy.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_events.h"

namespace grid::server {
namespace {

using Role = ClusterNode::Role;
using grid::testing::Batch;
using grid::testing::GridEvent;

constexpr absl::Duration kWait = absl::Seconds(30);

// One gridd node without gRPC: its log, sequencer and cluster part.
struct Node {
  // `unfenced`: commits without the head's compare (the negative control).
  Node(EtcdClient* etcd, const std::string& dir, const std::string& id, bool unfenced = false) {
    storage::EventLogOptions o;
    o.sync = false;  // etcd holds every commit; these tests kill no process
    auto opened = storage::EventLog::Open(o, dir + "/" + id);
    EXPECT_OK(opened.status());
    log = *std::move(opened);
    ClusterNode::Options co;
    co.shard = "350583";
    co.node_id = id;
    co.address = absl::StrCat(id, ".test:7443");
    co.tick = absl::Milliseconds(50);
    co.lease_ttl = absl::Seconds(2);
    auto shard = ShardLog::Open(etcd, co.shard);
    EXPECT_OK(shard.status());
    cluster = std::make_unique<ClusterNode>(
        etcd, unfenced ? ShardLog::UnfencedForTest(*std::move(shard)) : *std::move(shard), log.get(), co);
    Sequencer::Options so;
    so.replicator = cluster.get();
    sequencer = std::make_unique<Sequencer>(log.get(), nullptr, so);
    sequencer->Start();
    cluster->Start(sequencer.get());
  }
  ~Node() {
    cluster->Stop();
    sequencer->Stop();
  }
  storage::AppendOutcome Append(storage::AppendBatch b) {
    absl::Notification done;
    storage::AppendOutcome out;
    sequencer->Submit(std::move(b), [&](storage::AppendOutcome o) {
      out = std::move(o);
      done.Notify();
    });
    done.WaitForNotification();
    return out;
  }
  std::vector<std::string> Wires() const {
    auto all = log->ReadAll(1, storage::Direction::kForwards, 1 << 20, SIZE_MAX);
    EXPECT_OK(all.status());
    std::vector<std::string> out;
    for (const auto& r : *all) out.push_back(r->wire);
    return out;
  }

  std::unique_ptr<storage::EventLog> log;
  std::unique_ptr<ClusterNode> cluster;
  std::unique_ptr<Sequencer> sequencer;
};

class ClusterNodeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto etcd = testing::EtcdServer::Start(dir_.path());
    ASSERT_OK(etcd.status());
    etcd_ = *std::move(etcd);
    auto client = EtcdClient::Create({.endpoints = {etcd_->endpoint()}});
    ASSERT_OK(client.status());
    client_ = *std::move(client);
  }
  void StartNodes(int n) {
    for (int i = 0; i < n; ++i) {
      nodes_.push_back(std::make_unique<Node>(client_.get(), dir_.path(), absl::StrCat("n", i + 1)));
    }
  }
  // The one writer among the live nodes, once there is one.
  Node* Writer() {
    const absl::Time deadline = absl::Now() + kWait;
    while (absl::Now() < deadline) {
      for (auto& n : nodes_) {
        if (n != nullptr && n->cluster->WaitRole(Role::kWriter, absl::Now() + absl::Milliseconds(100))) {
          return n.get();
        }
      }
    }
    ADD_FAILURE() << "no writer within " << kWait;
    return nullptr;
  }
  // Two nodes, and one event the writer committed and both applied: the
  // writer and the other node.
  std::pair<Node*, Node*> TwoNodesOneEvent() {
    StartNodes(2);
    Node* writer = Writer();
    if (writer == nullptr) return {nullptr, nullptr};
    Node* other = nodes_[0].get() == writer ? nodes_[1].get() : nodes_[0].get();
    EXPECT_OK(writer->Append(Batch("grid/1", {GridEvent("before")})).status);
    ExpectSameLogs(1);
    return {writer, other};
  }
  int Writers() {
    int writers = 0;
    for (auto& n : nodes_) writers += n != nullptr && n->cluster->GetState().role == Role::kWriter;
    return writers;
  }
  void ExpectSameLogs(uint64_t head) {
    const Node* first = nullptr;
    for (auto& n : nodes_) {
      if (n == nullptr) continue;
      ASSERT_TRUE(n->cluster->WaitApplied(head, absl::Now() + kWait))
          << n->cluster->GetState().applied << " of " << head;
      if (first == nullptr) {
        first = n.get();
        continue;
      }
      EXPECT_EQ(n->log->GetHead().position, first->log->GetHead().position);
      EXPECT_EQ(n->log->GetHead().chain, first->log->GetHead().chain);
      EXPECT_EQ(n->Wires(), first->Wires());
    }
  }

  testing::TempDir dir_;
  std::unique_ptr<testing::EtcdServer> etcd_;
  std::unique_ptr<EtcdClient> client_;
  std::vector<std::unique_ptr<Node>> nodes_;
};

TEST_F(ClusterNodeTest, OneWriterCommitsAndEveryNodeApplies) {
  StartNodes(3);
  Node* writer = Writer();
  ASSERT_NE(writer, nullptr);
  EXPECT_EQ(Writers(), 1);
  // Concurrent appenders: groups of several batches, one etcd transaction each.
  std::vector<std::thread> appenders;
  appenders.reserve(4);
  for (int t = 0; t < 4; ++t) {
    appenders.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        const std::string id = absl::StrCat("t", t, "-", i);
        EXPECT_OK(writer->Append(Batch(absl::StrCat("grid/", t), {GridEvent(id + "a"), GridEvent(id + "b")}))
                      .status);
      }
    });
  }
  for (auto& a : appenders) a.join();
  EXPECT_EQ(writer->log->GetHead().position, 200u);
  ExpectSameLogs(200);
  for (auto& n : nodes_) {
    auto v = n->log->StreamHead("grid/3");
    ASSERT_OK(v.status());
    EXPECT_EQ(*v, std::optional<uint64_t>(49));
  }

  // A replica refuses appends and names the writer; nothing is written.
  Node* replica = nodes_[0].get() == writer ? nodes_[1].get() : nodes_[0].get();
  const absl::Status refused = replica->cluster->CheckWriter();
  EXPECT_EQ(refused.code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(
      refused.message().find(absl::StrCat("its writer is node ", writer->cluster->GetState().writer_node,
                                          " at ", writer->cluster->GetState().writer_address)),
      std::string::npos)
      << refused;
  storage::AppendOutcome on_replica = replica->Append(Batch("grid/9", {GridEvent("x")}));
  EXPECT_EQ(on_replica.status.code(), absl::StatusCode::kUnavailable) << on_replica.status;
  EXPECT_EQ(replica->log->GetHead().position, 200u);
}

// etcd sends the shard's batches to the replicas only: the writer stops
// watching when it takes the role (its own batches would only come back to
// it), and watches again once it is a replica.
TEST_F(ClusterNodeTest, OnlyReplicasWatchTheShardsBatches) {
  // Whether a node's applier watches, once it settles (a node stops or
  // starts watching on its applier thread, after the role changed).
  auto watching = [](Node* n, bool want) {
    const absl::Time deadline = absl::Now() + kWait;
    while (n->cluster->GetState().watching != want && absl::Now() < deadline) {
      n->cluster->WaitApplied(UINT64_MAX, absl::Now() + absl::Milliseconds(50));  // looks every 50 ms
    }
    return n->cluster->GetState().watching;
  };
  StartNodes(2);
  Node* writer = Writer();
  ASSERT_NE(writer, nullptr);
  Node* replica = nodes_[0].get() == writer ? nodes_[1].get() : nodes_[0].get();
  for (int i = 0; i < 10; ++i) {
    ASSERT_OK(writer->Append(Batch("grid/own", {GridEvent(absl::StrCat("own-", i))})).status);
  }
  ExpectSameLogs(10);
  EXPECT_FALSE(watching(writer, false));
  EXPECT_TRUE(watching(replica, true));

  // The writer goes; the replica takes over, stops watching, and commits
  // after everything the first one did.
  const size_t gone = nodes_[0].get() == writer ? 0 : 1;
  nodes_[gone].reset();
  ASSERT_TRUE(replica->cluster->WaitRole(Role::kWriter, absl::Now() + kWait));
  ASSERT_OK(replica->Append(Batch("grid/own", {GridEvent("after")})).status);
  EXPECT_FALSE(watching(replica, false));
  EXPECT_EQ(replica->log->GetHead().position, 11u);

  // A node that comes back is a replica: it watches, and applies the new
  // writer's batch.
  nodes_[gone] = std::make_unique<Node>(client_.get(), dir_.path(), absl::StrCat("n", gone + 1));
  ExpectSameLogs(11);
  EXPECT_TRUE(watching(nodes_[gone].get(), true));
  EXPECT_EQ(nodes_[gone]->cluster->GetState().role, Role::kReplica);
}

TEST_F(ClusterNodeTest, ANewWriterTakesOverAndRetriesAreDuplicates) {
  StartNodes(3);
  Node* first = Writer();
  ASSERT_NE(first, nullptr);
  for (int i = 0; i < 10; ++i) {
    ASSERT_OK(first->Append(Batch("grid/1", {GridEvent(absl::StrCat("e", i))})).status);
  }
  ExpectSameLogs(10);
  for (auto& n : nodes_) {
    if (n.get() == first) n.reset();  // resigns: its lease is revoked
  }
  Node* second = Writer();
  ASSERT_NE(second, nullptr);
  // The retry of an event the old writer committed, sent to the new one.
  storage::AppendOutcome retry = second->Append(Batch("grid/1", {GridEvent("e7")}));
  ASSERT_OK(retry.status);
  ASSERT_EQ(retry.events.size(), 1u);
  EXPECT_TRUE(retry.events[0].duplicate);
  EXPECT_EQ(retry.events[0].position, 8u);
  // The stream's version is checked against what the old writer committed.
  storage::AppendOutcome stale =
      second->Append(Batch("grid/1", {GridEvent("late")}, storage::Expected{storage::Expected::kExact, 3}));
  EXPECT_EQ(stale.status.code(), absl::StatusCode::kFailedPrecondition) << stale.status;
  storage::AppendOutcome next =
      second->Append(Batch("grid/1", {GridEvent("e10")}, storage::Expected{storage::Expected::kExact, 9}));
  ASSERT_OK(next.status);
  EXPECT_EQ(next.events[0].position, 11u);
  ExpectSameLogs(11);
  EXPECT_GT(second->cluster->GetState().epoch, 1u);
}

TEST_F(ClusterNodeTest, AWriterPausedPastItsLeaseCommitsNothingAfterANewOneTookOver) {
  Node* zombie = nullptr;
  Node* other = nullptr;
  std::tie(zombie, other) = TwoNodesOneEvent();
  ASSERT_NE(zombie, nullptr);

  zombie->cluster->FreezeForTest();  // no renewals: its lease expires
  ASSERT_TRUE(other->cluster->WaitRole(Role::kWriter, absl::Now() + kWait));
  ASSERT_OK(other->Append(Batch("grid/1", {GridEvent("by-the-new-writer")})).status);
  // The zombie still believes it writes; etcd's compare refuses it.
  EXPECT_EQ(zombie->cluster->GetState().role, Role::kWriter);
  storage::AppendOutcome late = zombie->Append(Batch("grid/2", {GridEvent("by-the-zombie")}));
  EXPECT_EQ(late.status.code(), absl::StatusCode::kUnavailable) << late.status;
  EXPECT_NE(late.status.message().find("lost the writer's place"), std::string::npos) << late.status;
  EXPECT_NE(zombie->cluster->GetState().role, Role::kWriter);

  zombie->cluster->ThawForTest();
  ExpectSameLogs(2);
  auto second = zombie->log->ReadAll(2, storage::Direction::kForwards, 10, SIZE_MAX);
  ASSERT_OK(second.status());
  ASSERT_EQ(second->size(), 1u);  // only the new writer's event; the zombie's is nowhere
  EXPECT_EQ((*second)[0]->stream, "grid/1");
  EXPECT_EQ(Writers(), 1);
  EXPECT_EQ(other->cluster->GetState().role, Role::kWriter);
}

// Regression (found by the fault suite killing etcd's leader under load):
// the writer before a node that just won the role can still commit (its
// commit was in flight, or it is paused past its lease) until the new
// writer's first commit moves the head. A node catching up read the head,
// its applier then applied that late commit, and the node compared its
// log with the head it had read: "this node's log ends at position 2 but
// the shard's head in etcd is at 1", a false DATA_LOSS that stopped it.
TEST_F(ClusterNodeTest, ACommitByTheOldWriterWhileTheNewOneCatchesUpIsApplied) {
  Node* zombie = nullptr;
  Node* other = nullptr;
  std::tie(zombie, other) = TwoNodesOneEvent();
  ASSERT_NE(zombie, nullptr);

  struct Late {
    storage::AppendOutcome outcome;
    bool applied = false;
  };
  auto late = std::make_shared<Late>();  // the hook may outlive a failed assertion
  other->cluster->AfterCatchUpReadForTest([late, zombie, other] {
    // `other` holds the writer's key and has read the head at 1.
    late->outcome = zombie->Append(Batch("grid/2", {GridEvent("by-the-old-writer")}));
    late->applied = other->cluster->WaitApplied(2, absl::Now() + kWait);
  });
  // (Not run if the node never caught up: nothing to call on at teardown.)
  auto unhook = absl::MakeCleanup([other] { other->cluster->AfterCatchUpReadForTest(nullptr); });
  zombie->cluster->FreezeForTest();  // no renewals: its lease expires
  ASSERT_TRUE(other->cluster->WaitRole(Role::kWriter, absl::Now() + kWait))
      << ClusterNode::RoleName(other->cluster->GetState().role) << ": " << other->cluster->GetState().failure;
  ASSERT_OK(late->outcome.status) << "nothing had moved the head yet";
  ASSERT_EQ(late->outcome.events.size(), 1u);
  EXPECT_EQ(late->outcome.events[0].position, 2u);
  EXPECT_TRUE(late->applied);
  storage::AppendOutcome next = other->Append(Batch("grid/1", {GridEvent("by-the-new-writer")}));
  ASSERT_OK(next.status);
  EXPECT_EQ(next.events[0].position, 3u);
  EXPECT_EQ(zombie->Append(Batch("grid/2", {GridEvent("too-late")})).status.code(),
            absl::StatusCode::kUnavailable);
  zombie->cluster->ThawForTest();
  ExpectSameLogs(3);
  EXPECT_EQ(Writers(), 1);
}

// The negative control: the same zombie without the head's compare (a
// writer fenced only by its lease, which Jepsen found unsafe in etcd)
// commits over the new writer's acknowledged event, and the history
// checker, given both acknowledgements and the shard's log, reports it lost.
TEST_F(ClusterNodeTest, WithoutTheCompareTheCheckerCatchesTheZombie) {
  nodes_.push_back(std::make_unique<Node>(client_.get(), dir_.path(), "zombie", /*unfenced=*/true));
  Node* zombie = Writer();
  ASSERT_EQ(zombie, nodes_[0].get());
  nodes_.push_back(std::make_unique<Node>(client_.get(), dir_.path(), "other"));
  Node* other = nodes_[1].get();
  ASSERT_OK(zombie->Append(Batch("grid/1", {GridEvent("before")})).status);
  ExpectSameLogs(1);
  zombie->cluster->FreezeForTest();
  ASSERT_TRUE(other->cluster->WaitRole(Role::kWriter, absl::Now() + kWait));
  storage::AppendOutcome by_new = other->Append(Batch("grid/1", {GridEvent("by-the-new-writer")}));
  ASSERT_OK(by_new.status);
  storage::AppendOutcome by_zombie = zombie->Append(Batch("grid/2", {GridEvent("by-the-zombie")}));
  ASSERT_OK(by_zombie.status) << "without the compare the zombie's commit lands";

  testing::History history;
  history.acked["by-the-new-writer"] = by_new.events[0].position;
  history.acked["by-the-zombie"] = by_zombie.events[0].position;
  auto shard = ShardLog::Open(client_.get(), "350583");
  ASSERT_OK(shard.status());
  auto batches = shard->ReadBatches(0);
  ASSERT_OK(batches.status());
  std::vector<std::string> log;
  for (const auto& b : *batches) log.insert(log.end(), b.records().begin(), b.records().end());
  const testing::Anomalies anomalies = testing::CheckHistory(history, log);
  // Which anomaly depends on how the two commits met in etcd (the zombie's
  // batch replacing the new writer's at the same position: an acknowledged
  // event lost; otherwise a position held twice, or out of order); under
  // load it was not always a loss. That the checker sees one is the point.
  EXPECT_FALSE(anomalies.ok()) << anomalies.Summary();
  zombie->cluster->ThawForTest();
  nodes_.clear();
}

// Regression (found by the fault suite, restarting every etcd member): a
// node whose bid for the writer's key was answered too late to hear (a
// timeout while etcd elected a leader) found "its own" key on the next try
// and waited for it to go, renewing the very lease it is attached to: the
// shard had no writer until the node restarted.
TEST_F(ClusterNodeTest, ANodeWhoseWinningBidWentUnansweredTakesTheRole) {
  auto proxy =
      testing::TcpProxy::Start(std::stoi(etcd_->endpoint().substr(etcd_->endpoint().rfind(':') + 1)));
  ASSERT_NE(proxy, nullptr);
  auto through = EtcdClient::Create(
      {.endpoints = {absl::StrCat("127.0.0.1:", proxy->port())}, .timeout = absl::Seconds(3)});
  ASSERT_OK(through.status());
  proxy->CutAfter("gl/350583/writer");  // the bid reaches etcd; its answer does not
  nodes_.push_back(std::make_unique<Node>(through->get(), dir_.path(), "n1"));
  ASSERT_TRUE(proxy->WaitCut(kWait));
  // The bid is in etcd before the link comes back.
  const absl::Time deadline = absl::Now() + kWait;
  for (;;) {
    auto key = client_->Get("gl/350583/writer");
    ASSERT_OK(key.status());
    if (key->has_value()) break;
    ASSERT_LT(absl::Now(), deadline) << "the bid never reached etcd";
    absl::SleepFor(absl::Milliseconds(10));  // polling etcd, not synchronizing a result
  }
  proxy->Heal();
  EXPECT_TRUE(nodes_[0]->cluster->WaitRole(Role::kWriter, absl::Now() + kWait))
      << "role " << ClusterNode::RoleName(nodes_[0]->cluster->GetState().role);
  nodes_.clear();
}

}  // namespace
}  // namespace grid::server
