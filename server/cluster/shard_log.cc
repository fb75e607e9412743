#include "server/cluster/shard_log.h"

#include <zstd.h>

#include <memory>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "google/protobuf/unknown_field_set.h"

namespace grid::server {

using grid::cluster::v1::Batch;
using grid::cluster::v1::Head;

namespace {

// zstd's fastest level: a writer compresses every group on the sequencer
// thread; level 1 already takes a group of grid reports to about a third.
constexpr int kZstdLevel = 1;
// Far more than any group holds (gridd cuts them at 2 MiB of requests, a
// few MiB with the server's fields): a frame claiming more is damage, and
// is refused before anything that size is allocated.
constexpr unsigned long long kMaxUnpacked = 64ULL << 20;

// One compression and one decompression context per thread, reused: a
// fresh context per call would allocate its tables for every group. Null
// if zstd could not allocate one.
struct FreeCCtx {
  void operator()(ZSTD_CCtx* c) const { ZSTD_freeCCtx(c); }
};
struct FreeDCtx {
  void operator()(ZSTD_DCtx* d) const { ZSTD_freeDCtx(d); }
};
ZSTD_CCtx* ThreadCCtx() {
  thread_local std::unique_ptr<ZSTD_CCtx, FreeCCtx> cctx(ZSTD_createCCtx());
  return cctx.get();
}
ZSTD_DCtx* ThreadDCtx() {
  thread_local std::unique_ptr<ZSTD_DCtx, FreeDCtx> dctx(ZSTD_createDCtx());
  return dctx.get();
}

// A field this version does not know is a newer writer's: skipping it
// could skip records (a version before packed_records reads a packed batch
// as one without records), so the reader refuses it.
bool HasUnknownFields(const google::protobuf::Message& m) {
  return !m.GetReflection()->GetUnknownFields(m).empty();
}

}  // namespace

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
  const std::string stored = EncodeBatch(batch);
  if (!fenced_) {  // UnfencedForTest()
    absl::Status s = etcd_->Put(key, stored);
    if (s.ok()) s = etcd_->Put(head_key_, next.SerializeAsString());
    if (!s.ok()) return s;
    auto now = ReadHead();
    if (!now.ok()) return now.status();
    *after = *now;
    return Outcome::kCommitted;
  }
  auto txn = etcd_->PutIfUnchanged(head_key_, at.mod_revision, key,
                                   {{head_key_, next.SerializeAsString()}, {key, stored}});
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
  auto b = ParseBatch(BatchKey(batch.first_position()), stored->value);
  if (!b.ok()) return b.status();
  if (b->batch_id() != batch.batch_id()) return Outcome::kLostPlace;
  // The head this batch made, at the revision its transaction made: a
  // writer that commits after it fails the compare if anyone came since.
  *after = HeadAt{HeadAfter(*b), stored->mod_revision};
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

std::string ShardLog::EncodeBatch(const Batch& batch) {
  ZSTD_CCtx* cctx = ThreadCCtx();
  if (cctx == nullptr) return batch.SerializeAsString();
  grid::cluster::v1::Records records;
  *records.mutable_records() = batch.records();
  const std::string plain = records.SerializeAsString();
  std::string packed(ZSTD_compressBound(plain.size()), '\0');
  const size_t n =
      ZSTD_compressCCtx(cctx, packed.data(), packed.size(), plain.data(), plain.size(), kZstdLevel);
  // Plain when compressing does not pay for the field it adds (a batch of
  // one short record, or records that are noise).
  if (ZSTD_isError(n) || n + 8 >= plain.size()) return batch.SerializeAsString();
  packed.resize(n);
  Batch stored = batch;
  stored.clear_records();
  stored.set_packed_records(std::move(packed));
  return stored.SerializeAsString();
}

absl::StatusOr<Batch> ShardLog::ParseBatch(const std::string& key, const std::string& value) {
  Batch b;
  if (!b.ParseFromString(value))
    return absl::DataLossError(absl::StrCat("cluster: ", key, " does not parse"));
  auto newer = [&key] {
    return absl::FailedPreconditionError(absl::StrCat(
        "cluster: ", key, " was written by a newer gridd than this node's; upgrade this node to read it"));
  };
  auto damaged = [&key](const std::string& why) {
    return absl::DataLossError(absl::StrCat("cluster: the records of ", key, " ", why));
  };
  if (HasUnknownFields(b)) return newer();
  if (b.packed_records().empty()) {
    if (b.records().empty()) return damaged("are missing");
    return b;
  }
  if (!b.records().empty()) return damaged("are both packed and plain");
  const std::string& packed = b.packed_records();
  const unsigned long long size = ZSTD_getFrameContentSize(packed.data(), packed.size());
  if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN || size > kMaxUnpacked) {
    return damaged("are not a zstd frame of a known size");
  }
  std::string plain(size, '\0');
  ZSTD_DCtx* dctx = ThreadDCtx();
  const size_t n = dctx != nullptr
                       ? ZSTD_decompressDCtx(dctx, plain.data(), plain.size(), packed.data(), packed.size())
                       : ZSTD_decompress(plain.data(), plain.size(), packed.data(), packed.size());
  if (ZSTD_isError(n) || n != size) {
    return damaged(
        absl::StrCat("do not decompress (", ZSTD_isError(n) ? ZSTD_getErrorName(n) : "short", ")"));
  }
  grid::cluster::v1::Records records;
  if (!records.ParseFromString(plain)) return damaged("do not parse");
  if (HasUnknownFields(records)) return newer();
  if (records.records().empty()) return damaged("are missing");
  b.mutable_records()->Swap(records.mutable_records());
  b.clear_packed_records();
  return b;
}

absl::StatusOr<int64_t> ShardLog::DeleteBatchesBefore(uint64_t first_position) const {
  return etcd_->DeleteRange(absl::StrCat(prefix_, "log/"), BatchKey(first_position));
}

std::optional<uint64_t> ShardLog::PositionOfKey(const std::string& key) const {
  const std::string start = absl::StrCat(prefix_, "log/");
  uint64_t first = 0;
  if (!absl::StartsWith(key, start) || !absl::SimpleAtoi(key.substr(start.size()), &first))
    return std::nullopt;
  return first;
}

absl::StatusOr<std::optional<uint64_t>> ShardLog::FirstPositionOf(
    const absl::StatusOr<std::vector<std::string>>& keys) const {
  if (!keys.ok()) return keys.status();
  if (keys->empty()) return std::optional<uint64_t>();
  std::optional<uint64_t> first = PositionOfKey(keys->front());
  if (!first.has_value()) {
    return absl::DataLossError(absl::StrCat("cluster: ", keys->front(), " in etcd is not a batch key"));
  }
  return first;
}

absl::StatusOr<std::optional<uint64_t>> ShardLog::FirstBatchFrom(uint64_t position) const {
  return FirstPositionOf(etcd_->RangeKeys(BatchKey(position), absl::StrCat(prefix_, "log0"), 1));
}

absl::StatusOr<std::optional<uint64_t>> ShardLog::BatchHolding(uint64_t position) const {
  return FirstPositionOf(
      etcd_->RangeKeys(absl::StrCat(prefix_, "log/"), BatchKey(position + 1), 1, /*descending=*/true));
}

absl::StatusOr<std::vector<grid::cluster::v1::NodeInfo>> ShardLog::ReadNodes() const {
  // "nodes0" is the first key after every "nodes/<id>".
  auto kvs = etcd_->Range(absl::StrCat(prefix_, "nodes/"), absl::StrCat(prefix_, "nodes0"));
  if (!kvs.ok()) return kvs.status();
  std::vector<grid::cluster::v1::NodeInfo> out;
  for (const auto& [key, v] : *kvs) {
    grid::cluster::v1::NodeInfo n;
    if (!n.ParseFromString(v.value)) {
      return absl::DataLossError(absl::StrCat("cluster: ", key, " in etcd does not parse"));
    }
    out.push_back(std::move(n));
  }
  return out;
}

absl::Status ShardLog::ClaimPersonKeyId(const std::string& id) const {
  std::optional<EtcdValue> holder;
  auto won = etcd_->PutIfAbsent(absl::StrCat(prefix_, "person_key_id"), id, /*lease=*/0, &holder);
  if (!won.ok()) return won.status();
  if (*won || (holder.has_value() && holder->value == id)) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      "person_key: this node's person-token key (id ", id, ") is not the one the nodes of the shard use (id ",
      holder.has_value() ? holder->value : "?",
      "): every node must turn ID numbers into the same tokens; copy the person_key file of a node of the "
      "shard to this one"));
}

absl::Status ShardLog::PutNode(const grid::cluster::v1::NodeInfo& node) const {
  return etcd_->Put(absl::StrCat(prefix_, "nodes/", node.node_id()), node.SerializeAsString());
}

}  // namespace grid::server
