// ClusterNode: this gridd node's part in its shard's cluster (README,
// "Cluster mode"). It keeps the node's own log equal to the shard's log in
// etcd, and takes the writer's role when no one holds it:
//
//  - The applier thread reads the shard's batches after the local head,
//    then watches etcd for the next ones, and hands each to the sequencer
//    (EventLog::Apply on the sequencer thread, in order with commits):
//    positions must continue and the chain is recomputed; a mismatch stops
//    the node's log for good (DATA_LOSS, fail-stop), never serves on. On
//    the writer it waits: the only batches are its own.
//  - The election thread keeps an etcd lease and tries to hold the shard's
//    writer key with it. Having won, the node first applies everything up
//    to the head it read and checks that its chain equals etcd's; only then
//    does it take appends, so its id and version checks are never stale.
//    A lease that expires, a lost place or an unknown outcome puts it back
//    to catching up or replica.
//  - As the writer's GroupReplicator it commits each placed commit group as
//    one fenced etcd transaction (ShardLog::Commit) before the local write;
//    an unknown outcome is settled by reading back (ShardLog::Settle),
//    never by guessing. The lease only elects: fencing is the head's
//    compare-and-set, so a writer that lost its place never commits.
//
// Concurrency: thread-safe. Replicate() runs on the sequencer thread.
#ifndef GRID_SERVER_CLUSTER_CLUSTER_NODE_H_
#define GRID_SERVER_CLUSTER_CLUSTER_NODE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "server/cluster/etcd_client.h"
#include "server/cluster/peer_client.h"
#include "server/cluster/shard_log.h"
#include "server/log/cluster_role.h"
#include "server/log/sequencer.h"
#include "storage/event_log.h"
#include "storage/sync.h"

namespace grid::server {

class ClusterNode : public storage::GroupReplicator, public ClusterRole {
 public:
  struct Options {
    std::string shard;
    std::string node_id;
    // This node's gRPC address, host:port, as others reach it (named to
    // clients that append to a replica).
    std::string address;
    // The writer's lease: a writer that dies is replaced this long after
    // its last renewal at most.
    absl::Duration lease_ttl = absl::Seconds(2);
    // How often the lease is renewed and a replica tries for the role.
    absl::Duration tick = absl::Milliseconds(200);
    // How long an unknown commit outcome is read back before the group
    // fails UNAVAILABLE (settled again before the next append).
    absl::Duration settle_for = absl::Seconds(5);
    // Most batches read from etcd at once while catching up.
    int64_t read_batches = 64;
    // How appends made at this node reach the writer, and how it reads a
    // peer's log when it is behind what etcd keeps; null: appends are
    // refused naming the writer, and such a node stops. Must outlive the
    // node.
    PeerClient* peers = nullptr;
    // Retention, by the writer: etcd keeps the batches after the lowest
    // position any node of the shard has applied, but never more than
    // about this many events (a node further behind catches up from a
    // peer), deleting and compacting at most every `retention_every`.
    uint64_t tail_events = 100000;
    absl::Duration retention_every = absl::Seconds(5);
    // Every member's database is defragmented this often by the writer
    // (compaction frees space for reuse, defragmenting returns it);
    // zero: never.
    absl::Duration defrag_every = absl::Hours(24);
    // How often a node tells the shard how far it has applied, at most.
    absl::Duration report_every = absl::Seconds(1);
    // Hears how long each commit's etcd transaction took (metrics).
    std::function<void(absl::Duration)> observe_commit;
    // The id of this node's person-token key (never the key): checked
    // against the shard's before the node writes or forwards anything.
    std::string person_key_id;
  };
  enum class Role { kReplica, kCatchingUp, kWriter, kStopped };
  struct State {
    Role role = Role::kReplica;
    std::string writer_node;  // the writer as last seen ("" if none)
    std::string writer_address;
    uint64_t epoch = 0;           // this node's writer epoch while it writes
    uint64_t shard_head = 0;      // the shard's head position as last seen
    uint64_t applied = 0;         // this node's log head
    uint64_t writer_changes = 0;  // times this node took or left the role
    // The applier has applied every batch etcd held when it last looked and
    // is watching for the next: a replica is ready to serve.
    bool caught_up = false;
    // The first position etcd holds a batch of, as last seen (0: none).
    uint64_t etcd_first = 0;
    // Positions this node read from peers' logs, being behind etcd's tail.
    uint64_t from_peers = 0;
    // The writer's retention: the last position it deleted through, and
    // etcd's database size as last read (bytes).
    uint64_t retained_after = 0;
    int64_t etcd_db_bytes = 0;
    // The applier watches etcd for the shard's batches (never on the
    // writer, whose own batches they are).
    bool watching = false;
    absl::Status failure;  // why it stopped (kStopped)
  };
  static const char* RoleName(Role r);

  // `etcd`, `log` and `sequencer` must outlive the node; the sequencer's
  // replicator must be this node. Starts nothing.
  ClusterNode(EtcdClient* etcd, ShardLog shard, storage::EventLog* log, Options options);
  ~ClusterNode() override;

  // Starts the applier and election threads; appends go through
  // `sequencer` (its Options::replicator is this node). `address`, if not
  // empty, replaces Options::address (a port bound only now).
  void Start(Sequencer* sequencer, std::string address = "");
  // Stops both threads and gives the role up (revokes the lease), so that
  // another node takes over at once. Idempotent.
  void Stop();

  State GetState() const;
  // Waits until the node's log has applied `position`, or until `deadline`
  // or the node stops: whether it has (for reads that must see a write).
  bool WaitApplied(uint64_t position, absl::Time deadline) const;
  // Waits until the node's role is `role` (or `deadline`).
  bool WaitRole(Role role, absl::Time deadline) const;

  // For the zombie-writer test: the election and applier threads stop (no
  // lease renewals, no applies), as if the process were paused past its
  // lease (the fault suite does it with SIGSTOP); commits still run.
  // Thaw() resumes them.
  void FreezeForTest();
  void ThawForTest();
  // Runs `hook` once, on the election thread, right after the next read
  // of the shard's head while catching up to take the writer's role (to
  // land another node's commit between that read and the check).
  void AfterCatchUpReadForTest(std::function<void()> hook);
  // ClusterRole.
  absl::Status CheckWriter() const override;
  absl::Status RouteAppend(bool* forward) const override;
  void Forward(storage::AppendBatch batch, absl::AnyInvocable<void(storage::AppendOutcome) &&> done) override;
  absl::Status CheckServing() const override;
  void Describe(grid::v1::ClusterStatus* out) const override;

  // GroupReplicator: commits the group to the shard's log in etcd.
  absl::Status Replicate(const storage::Head& before, const storage::Head& after,
                         absl::Span<const storage::RecordPtr> records) override;

 private:
  void ApplierLoop();
  // Applies `b` through the sequencer; false once the node stopped.
  bool ApplyBatch(const grid::cluster::v1::Batch& b);
  // Applies records another node committed, from `first`, through the
  // sequencer: Apply()'s status.
  absl::Status ApplyWires(uint64_t first, std::vector<std::string> wires);
  // Brings the log from `applied` to `target` from the logs of peers that
  // hold it (etcd no longer does). OK once it has; otherwise why not.
  absl::Status CatchUpFromPeers(uint64_t applied, uint64_t target);
  void ElectionLoop();
  // Until it succeeds once: the shard agrees with this node's person-token
  // key (a node with another one stops).
  bool CheckKey();
  // Says in etcd how far this node has applied (at most every
  // report_every, and only when it moved).
  void Report();
  // As writer: deletes the batches every node has applied (or that are
  // past the tail bound), compacts, and defragments on schedule.
  void Retain();
  // As writer or catching up: renews the lease; false if it was lost.
  bool Renew();
  // Brings the role from catching up to writer once the log has applied
  // the shard's head.
  void CatchUp();
  void TryToWin();
  void StepDown(Role to, const std::string& why) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Fail(absl::Status why);
  absl::Status NotWriterLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Waits up to `d` or until Stop(); false once stopping.
  bool Pause(absl::Duration d);

  EtcdClient* const etcd_;
  const ShardLog shard_;
  storage::EventLog* const log_;
  Options options_;                 // address set by Start(), then constant
  Sequencer* sequencer_ = nullptr;  // set by Start()

  mutable grid::Mutex mu_;
  mutable CondVar changed_;  // stopping_, an apply, a role change
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool frozen_ ABSL_GUARDED_BY(mu_) = false;
  std::function<void()> catch_up_read_hook_ ABSL_GUARDED_BY(mu_);
  State state_ ABSL_GUARDED_BY(mu_);
  ShardLog::HeadAt at_ ABSL_GUARDED_BY(mu_);   // the writer's place
  uint64_t batches_ ABSL_GUARDED_BY(mu_) = 0;  // batch ids of this epoch
  int64_t lease_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Time renewed_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  EtcdClient::Watch* watch_ ABSL_GUARDED_BY(mu_) = nullptr;
  // The shard agrees with this node's person-token key (or there is none).
  bool key_checked_ ABSL_GUARDED_BY(mu_) = false;
  // Election thread only.
  uint64_t reported_ = UINT64_MAX;
  absl::Time reported_at_ = absl::InfinitePast();
  absl::Time retained_at_ = absl::InfinitePast();
  absl::Time defragmented_at_;
  std::thread applier_;
  std::thread election_;
};

}  // namespace grid::server

#endif  // GRID_SERVER_CLUSTER_CLUSTER_NODE_H_
