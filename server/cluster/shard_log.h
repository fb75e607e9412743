// ShardLog: one shard's replicated head in etcd (proto/grid/cluster/v1/
// replication.proto has the keyspace). A writer reads the head, places a
// commit group after it, and commits the group as one etcd transaction that
// compare-and-sets the head's mod revision: so a commit is fsynced on a
// majority of etcd members before it succeeds, and a writer that lost its
// place can never commit, even if it still believes it is the writer
// (fencing by the compare, not by a lease). This is the piece every later
// part of cluster mode stands on: the writer's group commit, the replicas'
// apply loop, takeover.
//
// Concurrency: thread-safe; Commit() itself decides between writers.
#ifndef GRID_SERVER_CLUSTER_SHARD_LOG_H_
#define GRID_SERVER_CLUSTER_SHARD_LOG_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "grid/cluster/v1/replication.pb.h"
#include "server/cluster/etcd_client.h"

namespace grid::server {

class ShardLog {
 public:
  // The head as read, with the revision a commit must find unchanged.
  struct HeadAt {
    grid::cluster::v1::Head head;
    int64_t mod_revision = 0;  // 0: the shard has no head yet (an empty log)
  };
  enum class Outcome {
    kCommitted,  // the batch is the shard's log after `at`; `*after` is the head it made
    kLostPlace,  // another writer's batch holds its place: nothing of this batch is written
    kNotYet,     // (Settle only) the head is still `at`: commit the same batch again
  };

  // INVALID_ARGUMENT unless `shard` is 1..64 of [A-Za-z0-9_-]. `etcd` must
  // outlive this object.
  static absl::StatusOr<ShardLog> Open(EtcdClient* etcd, const std::string& shard);

  absl::StatusOr<HeadAt> ReadHead() const;

  // Commits `batch` after `at`: one transaction that puts the head and the
  // batch if the head's mod revision is still `at`'s and the batch's key
  // does not exist; if refused, it reads the batch's key in the same
  // transaction, so that a retry of a batch whose first attempt went
  // unanswered but committed is told kCommitted, not kLostPlace.
  // INVALID_ARGUMENT unless it continues `at` (first_position = head + 1,
  // at least one record, a 32-byte chain and a batch id). UNAVAILABLE or
  // DEADLINE_EXCEEDED: the outcome is unknown; Settle() it.
  absl::StatusOr<Outcome> Commit(const HeadAt& at, const grid::cluster::v1::Batch& batch,
                                 HeadAt* after) const;

  // After an unknown outcome of Commit(at, batch): reads back. The head is
  // still `at`: not yet (committing again is safe: only one of the two
  // transactions can win, and both carry the same batch). The head moved
  // and the batch's key holds its id: committed (`*after` is the head the
  // batch made, at its revision, even if later batches followed). Moved
  // without it: lost.
  absl::StatusOr<Outcome> Settle(const HeadAt& at, const grid::cluster::v1::Batch& batch,
                                 HeadAt* after) const;

  // Committed batches whose first position is after `after`, in order, at
  // most `limit` (0: all). `after` is where a batch ends (what a node has
  // applied), so the first one returned starts at after + 1.
  // With `revision`, the etcd revision they were read at (watch the log
  // from the next one: WatchBatches).
  absl::StatusOr<std::vector<grid::cluster::v1::Batch>> ReadBatches(uint64_t after, int64_t limit = 0,
                                                                    int64_t* revision = nullptr) const;
  // A watch of the shard's batches committed after etcd revision `revision`.
  absl::StatusOr<std::unique_ptr<EtcdClient::Watch>> WatchBatches(int64_t revision) const;
  // A batch as stored in etcd: its records compressed (zstd) into
  // packed_records when that is smaller, as they are for any realistic
  // group (a group of grid reports to about a third): etcd's raft log, WAL
  // and database and every watch carry that much less.
  static std::string EncodeBatch(const grid::cluster::v1::Batch& batch);
  // Parses a watched or read batch, packed records unpacked; DATA_LOSS if
  // it does not parse or unpack or holds no records, FAILED_PRECONDITION if
  // a newer gridd wrote it (a field this version does not know).
  static absl::StatusOr<grid::cluster::v1::Batch> ParseBatch(const std::string& key,
                                                             const std::string& value);

  // Retention: deletes the batches that start before `first_position`; the
  // etcd revision after it.
  absl::StatusOr<int64_t> DeleteBatchesBefore(uint64_t first_position) const;
  // The first position of the first batch starting at or after `position`,
  // or nullopt if none does.
  absl::StatusOr<std::optional<uint64_t>> FirstBatchFrom(uint64_t position) const;
  // The first position of the last batch starting at or before `position`
  // (the one holding it, if etcd holds it), or nullopt if none does.
  absl::StatusOr<std::optional<uint64_t>> BatchHolding(uint64_t position) const;

  // The nodes of the shard as each last said (gl/<shard>/nodes/), and a
  // node's own entry.
  absl::StatusOr<std::vector<grid::cluster::v1::NodeInfo>> ReadNodes() const;
  absl::Status PutNode(const grid::cluster::v1::NodeInfo& node) const;

  // Every node of a shard turns ID numbers into person tokens with the same
  // key: the first node records its key's id (never the key) in
  // gl/<shard>/person_key_id; a node with another key gets
  // FAILED_PRECONDITION.
  absl::Status ClaimPersonKeyId(const std::string& id) const;

  // For the negative control of the fault tests only: a ShardLog whose
  // Commit() puts the head and the batch without the compare, as a writer
  // without fencing would. Never used outside tests.
  static ShardLog UnfencedForTest(ShardLog fenced) {
    fenced.fenced_ = false;
    return fenced;
  }

  const std::string& head_key() const { return head_key_; }
  // gl/<shard>/writer: the Writer holding the role (a lease's key).
  std::string writer_key() const { return prefix_ + "writer"; }
  // The key of the batch starting at `first_position`, and back (nullopt
  // for a key that is not one).
  std::string BatchKey(uint64_t first_position) const;
  std::optional<uint64_t> PositionOfKey(const std::string& key) const;

 private:
  ShardLog(EtcdClient* etcd, std::string prefix)
      : etcd_(etcd), prefix_(std::move(prefix)), head_key_(prefix_ + "head") {}
  static grid::cluster::v1::Head HeadAfter(const grid::cluster::v1::Batch& batch);
  // The first position in the first of `keys` (batch keys), or nullopt.
  absl::StatusOr<std::optional<uint64_t>> FirstPositionOf(
      const absl::StatusOr<std::vector<std::string>>& keys) const;
  // kCommitted if `stored` (the batch's key) is `batch`, else kLostPlace.
  absl::StatusOr<Outcome> Committed(const grid::cluster::v1::Batch& batch,
                                    const std::optional<EtcdValue>& stored, HeadAt* after) const;

  EtcdClient* etcd_;
  bool fenced_ = true;
  std::string prefix_;  // "gl/<shard>/"
  std::string head_key_;
};

}  // namespace grid::server

#endif  // GRID_SERVER_CLUSTER_SHARD_LOG_H_
