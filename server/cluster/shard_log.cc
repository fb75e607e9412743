#include "server/cluster/shard_log.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace grid::server {

using grid::cluster::v1::Batch;
using grid::cluster::v1::Head;

absl::StatusOr<ShardLog> ShardLog::Open(EtcdClient* etcd, const std::string& shard) {
  bool ok = !shard.empty() && shard.size() <= 64;
  for (char c : shard) ok &= absl::ascii_isalnum(c) || c == '_' || c == '-';
  if (!ok) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cluster: shard must be 1..64 of [A-Za-z0-9_-] (a county code); got '", shard.substr(0, 64), "'"));
  }
  return ShardLog(etcd, absl::StrCat("gl/", shard, "/"));
}

std::string ShardLog::BatchKey(uint64_t first_position) const {
  return absl::StrFormat("%slog/%020u", prefix_, first_position);
}

Head ShardLog::HeadAfter(const Batch& batch) {
  Head h;
  h.set_position(batch.first_position() + batch.records_size() - 1);
  h.set_chain(batch.chain());
  h.set_batch_id(batch.batch_id());
  h.set_writer_epoch(batch.writer_epoch());
  h.set_recorded_at_micros(batch.recorded_at_micros());
  return h;
}

absl::StatusOr<ShardLog::HeadAt> ShardLog::ReadHead() const {
  auto v = etcd_->Get(head_key_);
  if (!v.ok()) return v.status();
  HeadAt at;
  if (!v->has_value()) return at;
  if (!at.head.ParseFromString((*v)->value)) {
    return absl::DataLossError(absl::StrCat("cluster: ", head_key_, " in etcd does not parse"));
  }
  at.mod_revision = (*v)->mod_revision;
  return at;
}

absl::StatusOr<ShardLog::Outcome> ShardLog::Commit(const HeadAt& at, const Batch& batch,
                                                   HeadAt* after) const {
  if (batch.first_position() != at.head.position() + 1 || batch.records().empty() ||
      batch.chain().size() != 32 || batch.batch_id().empty()) {
    return absl::InvalidArgumentError(absl::StrCat("cluster: a batch after position ", at.head.position(),
                                                   " starts at ", at.head.position() + 1,
                                                   " with records, a 32-byte chain and an id"));
  }
  const Head next = HeadAfter(batch);
  const std::string key = BatchKey(batch.first_position());
  auto txn = etcd_->PutIfUnchanged(head_key_, at.mod_revision, key,
                                   {{head_key_, next.SerializeAsString()}, {key, batch.SerializeAsString()}});
  if (!txn.ok()) return txn.status();
  if (txn->succeeded) {
    *after = HeadAt{next, txn->revision};
    return Outcome::kCommitted;
  }
  // Refused. If this very batch is what holds its place (an earlier,
  // unanswered attempt of it committed), it is committed.
  return Committed(batch, txn->fresh_value, after);
}

absl::StatusOr<ShardLog::Outcome> ShardLog::Committed(const Batch& batch,
                                                      const std::optional<EtcdValue>& stored,
                                                      HeadAt* after) const {
  if (!stored.has_value()) return Outcome::kLostPlace;
  Batch b;
  if (!b.ParseFromString(stored->value)) {
    return absl::DataLossError(
        absl::StrCat("cluster: ", BatchKey(batch.first_position()), " does not parse"));
  }
  if (b.batch_id() != batch.batch_id()) return Outcome::kLostPlace;
  // The head this batch made, at the revision its transaction made: a
  // writer that commits after it fails the compare if anyone came since.
  *after = HeadAt{HeadAfter(b), stored->mod_revision};
  return Outcome::kCommitted;
}

absl::StatusOr<ShardLog::Outcome> ShardLog::Settle(const HeadAt& at, const Batch& batch,
                                                   HeadAt* after) const {
  // The head first: once it has moved, the batch's key is final (both are
  // written by one transaction), so reading it second cannot miss a commit
  // that lands in between.
  auto head = ReadHead();
  if (!head.ok()) return head.status();
  if (head->mod_revision == at.mod_revision) return Outcome::kNotYet;
  auto stored = etcd_->Get(BatchKey(batch.first_position()));
  if (!stored.ok()) return stored.status();
  return Committed(batch, *stored, after);
}

absl::StatusOr<std::vector<Batch>> ShardLog::ReadBatches(uint64_t after, int64_t limit,
                                                         int64_t* revision) const {
  // "log0" is the first key after every "log/<digits>".
  auto kvs = etcd_->Range(BatchKey(after + 1), absl::StrCat(prefix_, "log0"), limit, revision);
  if (!kvs.ok()) return kvs.status();
  std::vector<Batch> out;
  out.reserve(kvs->size());
  for (const auto& [key, v] : *kvs) {
    auto b = ParseBatch(key, v.value);
    if (!b.ok()) return b.status();
    out.push_back(*std::move(b));
  }
  return out;
}

absl::StatusOr<std::unique_ptr<EtcdClient::Watch>> ShardLog::WatchBatches(int64_t revision) const {
  return etcd_->WatchRange(absl::StrCat(prefix_, "log/"), absl::StrCat(prefix_, "log0"), revision + 1);
}

absl::StatusOr<Batch> ShardLog::ParseBatch(const std::string& key, const std::string& value) {
  Batch b;
  if (!b.ParseFromString(value))
    return absl::DataLossError(absl::StrCat("cluster: ", key, " does not parse"));
  return b;
}

}  // namespace grid::server
