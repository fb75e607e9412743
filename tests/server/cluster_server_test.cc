// Cluster mode through the real gRPC servers: three GridServers of shard
// 350583 in one process on a real etcd, each serving TLS with bearer tokens
// and the access policy of the access tests, reaching each other as the
// CLUSTER_NODE principal "node". What a client of any node sees:
//  - an append made at a replica is forwarded to the writer and committed
//    there as the original caller's (its actor), with the answer a writer
//    gives: positions, a retry to any node a duplicate, conflicts and
//    refusals as on one node;
//  - the receiving node's policy decides who may append; the commit's
//    jurisdiction check runs at the writer;
//  - read your own write on a replica with min_position;
//  - only a CLUSTER_NODE may call the node service, and a node whose
//    credentials the writer refuses answers UNAVAILABLE, appending nothing.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "grid/cluster/v1/node.grpc.pb.h"
#include "tests/testing/etcd_server.h"
#include "tests/testing/policy_server.h"

namespace grid::server {
namespace {

constexpr absl::Duration kWait = absl::Seconds(30);

class ClusterServerTest : public PolicyServerTest {
 protected:
  void SetUp() override {
    PolicyServerTest::SetUp();
    auto etcd = testing::EtcdServer::Start(dir_.path());
    ASSERT_OK(etcd.status());
    etcd_ = *std::move(etcd);
    node_token_ = dir_.path() + "/node.token";
    std::ofstream(node_token_) << Token("node") << "\n";
  }
  void TearDown() override {
    for (auto& n : nodes_) n.reset();
  }

  // Starts node `id` (n1, n2, ...) in its own data directory, or restarts
  // it there: its peers are reached with `token_file`.
  void StartNode(const std::string& id, const std::string& token_file,
                 std::function<void(ServerOptions*)> tweak = nullptr) {
    ServerOptions o;
    o.listen = "127.0.0.1:0";
    o.data_dir = dir_.path() + "/" + id;
    o.auth.tls_cert_path = cert_;
    o.auth.tls_key_path = key_;
    AddTokens(&o);
    o.access.policy_file = policy_;
    o.cluster.etcd_endpoints = {etcd_->endpoint()};
    o.cluster.shard = "350583";
    o.cluster.node_id = id;
    o.cluster.advertise = "127.0.0.1:0";
    o.cluster.peer_ca_path = cert_;  // self-signed: its own CA
    o.cluster.peer_token_path = token_file;
    o.person_key_path = dir_.path() + "/person_key";  // one for the shard
    if (tweak) tweak(&o);
    auto s = GridServer::Start(o);
    ASSERT_OK(s);
    const size_t i = static_cast<size_t>(id[1] - '1');
    if (nodes_.size() <= i) nodes_.resize(i + 1);
    nodes_[i] = *std::move(s);
  }

  // Waits until node `i` has applied `position`.
  void WaitApplied(size_t i, uint64_t position) {
    const absl::Time deadline = absl::Now() + kWait;
    while (Status(i).cluster().applied() < position && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(20));  // polling a status, not synchronizing a result
    }
    ASSERT_GE(Status(i).cluster().applied(), position) << "node " << i;
  }

  std::vector<std::string> Raw(size_t i) {
    auto all = nodes_[i]->TEST_log()->ReadAll(1, storage::Direction::kForwards, 1 << 20, SIZE_MAX);
    EXPECT_OK(all.status());
    std::vector<std::string> out;
    for (const auto& r : *all) out.push_back(r->wire);
    return out;
  }

  // A channel to node `i` as `principal`.
  std::shared_ptr<grpc::Channel> At(size_t i, const std::string& principal) {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = Slurp(cert_);
    auto creds = grpc::CompositeChannelCredentials(grpc::SslCredentials(ssl),
                                                   grpc::AccessTokenCredentials(Token(principal)));
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    return grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", nodes_[i]->port()), creds, args);
  }

  grid::v1::LogStatus Status(size_t i) {
    grpc::ClientContext ctx;
    grid::v1::LogStatus s;
    EXPECT_TRUE(grid::v1::Log::NewStub(At(i, "admin"))->GetStatus(&ctx, {}, &s).ok());
    return s;
  }

  // Waits until node `i` knows the shard's writer; its index.
  size_t WriterSeenBy(size_t i) {
    const absl::Time deadline = absl::Now() + kWait;
    while (absl::Now() < deadline) {
      const grid::v1::LogStatus s = Status(i);
      for (size_t w = 0; w < nodes_.size(); ++w) {
        if (nodes_[w] != nullptr && s.cluster().writer_node() == absl::StrCat("n", w + 1) &&
            Status(w).cluster().role() == "writer") {
          return w;
        }
      }
      absl::SleepFor(absl::Milliseconds(50));  // polling a status, not synchronizing a result
    }
    ADD_FAILURE() << "node " << i << " saw no writer within " << kWait;
    return 0;
  }

  grpc::Status AppendAt(size_t i, const std::string& principal, const grid::v1::Event& e,
                        grid::v1::AppendResponse* out, bool no_stream = false) {
    grid::v1::AppendRequest req;
    req.set_stream(e.stream());
    if (no_stream) req.mutable_no_stream();
    *req.add_events() = e;
    grpc::ClientContext ctx;
    Bound(&ctx);
    return grid::v1::Log::NewStub(At(i, principal))->Append(&ctx, req, out);
  }

  std::vector<grid::v1::Event> ReadAt(size_t i, uint64_t min_position) {
    grid::v1::ReadRequest req;
    req.mutable_all();
    req.set_min_position(min_position);
    grpc::ClientContext ctx;
    Bound(&ctx);
    std::vector<grid::v1::ReadResponse> msgs;
    EXPECT_EQ(Drain(&ctx, grid::v1::Log::NewStub(At(i, "auditor"))->Read(&ctx, req), &msgs), StatusCode::OK);
    std::vector<grid::v1::Event> out;
    for (const auto& m : msgs) out.insert(out.end(), m.events().begin(), m.events().end());
    return out;
  }

  std::unique_ptr<testing::EtcdServer> etcd_;
  std::string node_token_;
  std::vector<std::unique_ptr<GridServer>> nodes_;
};

TEST_F(ClusterServerTest, AnAppendAtAReplicaIsCommittedByTheWriterAsItsCaller) {
  for (const char* id : {"n1", "n2", "n3"}) StartNode(id, node_token_);
  const size_t writer = WriterSeenBy(0);
  const size_t replica = (writer + 1) % 3;
  const size_t other = (writer + 2) % 3;
  ASSERT_EQ(WriterSeenBy(replica), writer);
  ASSERT_EQ(WriterSeenBy(other), writer);
  const absl::Time t = absl::FromUnixSeconds(1790000000);

  grid::v1::AppendResponse first;
  ASSERT_TRUE(AppendAt(replica, "seed", ev::GridDefined("o1", kG1, t), &first, true).ok());
  ASSERT_EQ(first.results_size(), 1);
  EXPECT_EQ(first.results(0).position(), 1u);
  EXPECT_FALSE(first.results(0).duplicate());
  // Read your own write on the replica that took it.
  auto events = ReadAt(replica, first.head_position());
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].actor().principal(), "seed");  // the caller, not the forwarding node
  EXPECT_EQ(events[0].actor().role(), "DEPARTMENT");

  // A retry at another replica: the original position, a duplicate.
  grid::v1::AppendResponse retry;
  ASSERT_TRUE(AppendAt(other, "seed", ev::GridDefined("o1", kG1, t), &retry, true).ok());
  EXPECT_EQ(retry.results(0).position(), 1u);
  EXPECT_TRUE(retry.results(0).duplicate());
  // An expected version that does not hold: the writer's verdict, as is.
  grid::v1::AppendResponse conflict;
  grpc::Status s = AppendAt(replica, "seed", ev::GridDefined("o9", kG2, t), &conflict, true);
  EXPECT_EQ(s.error_code(), StatusCode::FAILED_PRECONDITION) << s.error_message();

  // The receiving node's policy: a LEADER appends nothing.
  s = AppendAt(replica, "leader", ev::GridDefined("o2", kG2, t), &conflict);
  EXPECT_EQ(s.error_code(), StatusCode::PERMISSION_DENIED) << s.error_message();
  // The commit's check of the caller's grids, at the writer: w-1 is not
  // assigned to g02.
  s = AppendAt(replica, "seed", ev::WorkerAssigned("o4", "w-1", kG1, t), &conflict);
  ASSERT_TRUE(s.ok()) << s.error_message();
  s = AppendAt(replica, "worker", ev::SanitationReport("s9", kG2, "w-1", grid::v1::PATROL, 900, {}, t),
               &conflict);
  EXPECT_EQ(s.error_code(), StatusCode::PERMISSION_DENIED) << s.error_message();
  EXPECT_NE(s.error_message().find("not assigned to grid"), std::string::npos) << s.error_message();
  grid::v1::AppendResponse report;
  s = AppendAt(replica, "worker", ev::SanitationReport("s1", kG1, "w-1", grid::v1::PATROL, 900, {}, t),
               &report);
  ASSERT_TRUE(s.ok()) << s.error_message();

  // Every node ends with the same events, each its caller's.
  const uint64_t head = report.head_position();
  for (size_t i = 0; i < 3; ++i) {
    events = ReadAt(i, head);
    ASSERT_EQ(events.size(), 3u) << "node " << i;
    EXPECT_EQ(events[1].actor().principal(), "seed");
    EXPECT_EQ(events[2].actor().principal(), "worker");
    EXPECT_EQ(Status(i).chain_head(), Status(writer).chain_head());
  }
}

TEST_F(ClusterServerTest, OnlyClusterNodesForwardAndARefusedNodeAppendsNothing) {
  // n2 presents the token of a principal that is no CLUSTER_NODE.
  const std::string wrong = dir_.path() + "/wrong.token";
  std::ofstream(wrong) << Token("seed") << "\n";
  StartNode("n1", node_token_);
  ASSERT_EQ(WriterSeenBy(0), 0u);
  StartNode("n2", wrong);
  ASSERT_EQ(WriterSeenBy(1), 0u);
  const absl::Time t = absl::FromUnixSeconds(1790000000);
  grid::v1::AppendResponse out;
  grpc::Status s = AppendAt(1, "seed", ev::GridDefined("o1", kG1, t), &out);
  EXPECT_EQ(s.error_code(), StatusCode::UNAVAILABLE);
  EXPECT_NE(s.error_message().find("refuses this node's credentials; nothing was appended"),
            std::string::npos)
      << s.error_message();
  EXPECT_EQ(Status(0).head_position(), 0u);

  // A client calling the node service itself is refused by its role, so it
  // cannot append as someone else.
  grid::cluster::v1::ForwardedAppend forged;
  forged.set_shard("350583");
  *forged.mutable_request()->add_events() = ev::GridDefined("o1", kG1, t);
  forged.mutable_request()->set_stream(forged.request().events(0).stream());
  forged.mutable_actor()->set_principal("admin");
  grid::cluster::v1::ForwardedAppendResult result;
  grpc::ClientContext ctx;
  s = grid::cluster::v1::Node::NewStub(At(0, "worker"))->Append(&ctx, forged, &result);
  EXPECT_EQ(s.error_code(), StatusCode::PERMISSION_DENIED) << s.error_message();
  EXPECT_EQ(Status(0).head_position(), 0u);
}

// Retention keeps etcd small: batches every node has applied, and those
// past the tail bound, are deleted. A node down past the bound, and a node
// with an empty disk, then catch up from a peer's log and go on with
// etcd's batches: every node ends with the same records and chain.
TEST_F(ClusterServerTest, ANodeBehindWhatEtcdKeepsCatchesUpFromAPeer) {
  auto small_tail = [](ServerOptions* o) {
    o->cluster.tail_events = 5;
    o->cluster.retention_every = absl::Milliseconds(100);
  };
  StartNode("n1", node_token_, small_tail);
  ASSERT_EQ(WriterSeenBy(0), 0u);
  StartNode("n2", node_token_, small_tail);
  ASSERT_EQ(WriterSeenBy(1), 0u);
  const absl::Time t = absl::FromUnixSeconds(1790000000);
  grid::v1::AppendResponse out;
  int next = 0;
  auto append = [&](int n) {
    for (int i = 0; i < n; ++i, ++next) {
      const std::string grid = absl::StrCat("350583/101/201/g", 100 + next);
      ASSERT_TRUE(AppendAt(0, "seed", ev::GridDefined(absl::StrCat("o", next), grid, t), &out).ok());
    }
  };
  append(10);
  WaitApplied(1, 10);
  nodes_[1].reset();  // n2 goes down, at position 10
  append(30);         // one batch each
  // Past the tail bound of n2's position: etcd keeps the last few only.
  const absl::Time deadline = absl::Now() + kWait;
  while (Status(0).cluster().etcd_first() <= 11 && absl::Now() < deadline)
    absl::SleepFor(absl::Milliseconds(20));
  ASSERT_GT(Status(0).cluster().etcd_first(), 11u) << "retention kept n2's positions";

  StartNode("n2", node_token_, small_tail);  // behind what etcd keeps
  StartNode("n3", node_token_, small_tail);  // an empty disk
  append(5);
  for (size_t i : {1, 2}) {
    WaitApplied(i, 45);
    EXPECT_GT(Status(i).cluster().from_peers(), 0u) << "node " << i;
    EXPECT_EQ(Status(i).chain_head(), Status(0).chain_head()) << "node " << i;
    EXPECT_EQ(Raw(i), Raw(0)) << "node " << i;
    EXPECT_EQ(Status(i).cluster().role(), "replica");
  }
  // And appends at them go on, once they know the writer.
  ASSERT_EQ(WriterSeenBy(2), 0u);
  grpc::Status s = AppendAt(2, "seed", ev::GridDefined("o-last", "350583/101/201/g999", t), &out);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(out.results(0).position(), 46u);
}

// Nodes that would turn the same ID number into different person tokens
// cannot serve one shard: a node with another key stops before it writes
// or forwards anything.
TEST_F(ClusterServerTest, ANodeWithAnotherPersonKeyStops) {
  StartNode("n1", node_token_);
  ASSERT_EQ(WriterSeenBy(0), 0u);
  StartNode("n2", node_token_, [this](ServerOptions* o) { o->person_key_path = dir_.path() + "/other_key"; });
  const absl::Time deadline = absl::Now() + kWait;
  while (Status(1).cluster().role() != "stopped" && absl::Now() < deadline)
    absl::SleepFor(absl::Milliseconds(20));
  const grid::v1::LogStatus s = Status(1);
  EXPECT_EQ(s.cluster().role(), "stopped");
  EXPECT_NE(s.cluster().failure().find("person_key: this node's person-token key"), std::string::npos)
      << s.cluster().failure();
  grid::v1::AppendResponse out;
  EXPECT_EQ(
      AppendAt(1, "seed", ev::GridDefined("o1", kG1, absl::FromUnixSeconds(1790000000)), &out).error_code(),
      StatusCode::UNAVAILABLE);
  EXPECT_EQ(Status(0).head_position(), 0u);
}

}  // namespace
}  // namespace grid::server
