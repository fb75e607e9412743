// RocksEventLog: the EventLog on RocksDB, and the only file that sees
// RocksDB types. Key layout (README.md, "On-disk layout"):
//
//   cf events        be64(position)                  -> wire record
//   cf streams       stream 0x00 be64(version)       -> be64(position)
//   cf stream_heads  stream                          -> be64(last version)
//   cf event_ids     event_id                        -> be64(position) be64(version) sha256(content)
//   cf time_index    be64(recorded_at µs) be64(pos)  -> ""   (first position of each commit group)
//   cf checkpoints   be64(position)                  -> grid.v1.SignedCheckpoint
//   cf meta          "format"                        -> decimal format version
//                    "head"                          -> be64(position) chain(32) be64(recorded_at µs)
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/wire_format_lite.h>
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/table.h>
#include <rocksdb/version.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <thread>
#include <tuple>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "storage/big_endian.h"
#include "storage/event_log.h"
#include "storage/memory.h"
#include "storage/proto_time.h"
#include "storage/rocks_status.h"
#include "storage/sync.h"

namespace grid::storage {
namespace {

constexpr uint32_t kFormatVersion = 1;
constexpr char kMetaFormat[] = "format";
constexpr char kMetaHead[] = "head";

enum Cf { kEvents, kStreams, kStreamHeads, kEventIds, kTimeIndex, kMeta, kCheckpoints, kNumCfs };
const char* const kCfNames[kNumCfs] = {"events",     "streams", "stream_heads", "event_ids",
                                       "time_index", "meta",    "checkpoints"};
// The admission's snapshots of streams' states, in `meta` under this prefix
// and the stream: a cache of folds, added without changing format 1 (a
// column family of their own would keep an older gridd from opening the
// log, and a rollback must stay possible).
constexpr char kMetaStatePrefix[] = "state:";

std::string PositionKey(Position p) {
  std::string k;
  PutBigEndian64(&k, p);
  return k;
}

std::string StreamKey(std::string_view stream, uint64_t version) {
  std::string k;
  k.reserve(stream.size() + 9);
  k.append(stream);
  k.push_back('\0');
  PutBigEndian64(&k, version);
  return k;
}

int64_t Micros(absl::Time t) { return absl::ToUnixMicros(t); }

// The head file ("GRIDHEAD", beside RocksDB's files) is a watermark of the
// committed head outside RocksDB: magic, be64(position), chain(32), and a
// SHA-256 of those. It is rewritten (temp file, fsync, rename, directory
// fsync) at most every kHeadFileEvery during commits and on close. On open
// it catches what RocksDB itself recovers silently: a truncated WAL or
// MANIFEST that makes the log end before a position that was committed, or
// a log whose history was rewritten.
constexpr char kHeadFileMagic[] = "GRIDHEAD1";
// RocksDB 7.10 fixed SyncWAL() with track_and_verify_wals_in_manifest
// (facebook/rocksdb#10892).
constexpr bool kSyncWalKeepsWalTracking = ROCKSDB_MAJOR > 7 || (ROCKSDB_MAJOR == 7 && ROCKSDB_MINOR >= 10);

constexpr absl::Duration kHeadFileEvery = absl::Milliseconds(100);

std::string HeadFilePath(const std::string& dir) { return dir + "/GRIDHEAD"; }

rocksdb::Status WriteHeadFile(rocksdb::Env* env, const std::string& dir, const Head& h) {
  std::string body(kHeadFileMagic);
  PutBigEndian64(&body, h.position);
  body.append(reinterpret_cast<const char*>(h.chain.data()), 32);
  const Digest sum = Sha256(body);
  body.append(reinterpret_cast<const char*>(sum.data()), 32);
  const std::string tmp = HeadFilePath(dir) + ".tmp";
  std::unique_ptr<rocksdb::WritableFile> f;
  rocksdb::Status s = env->NewWritableFile(tmp, &f, rocksdb::EnvOptions());
  if (s.ok()) s = f->Append(body);
  if (s.ok()) s = f->Sync();
  if (s.ok()) s = f->Close();
  if (s.ok()) s = env->RenameFile(tmp, HeadFilePath(dir));
  std::unique_ptr<rocksdb::Directory> d;
  if (s.ok()) s = env->NewDirectory(dir, &d);
  if (s.ok()) s = d->Fsync();
  return s;
}

// nullopt when there is no head file (a log from before it existed).
absl::StatusOr<std::optional<std::pair<Position, Digest>>> ReadHeadFile(rocksdb::Env* env,
                                                                        const std::string& dir) {
  if (!env->FileExists(HeadFilePath(dir)).ok()) return std::nullopt;
  std::string body;
  rocksdb::Status s = rocksdb::ReadFileToString(env, HeadFilePath(dir), &body);
  if (!s.ok()) return FromRocks(s, "read head file");
  const size_t magic = sizeof(kHeadFileMagic) - 1;
  if (body.size() != magic + 8 + 32 + 32 || body.compare(0, magic, kHeadFileMagic) != 0 ||
      Sha256(std::string_view(body).substr(0, magic + 40)) !=
          *reinterpret_cast<const Digest*>(body.data() + magic + 40)) {
    return absl::DataLossError(absl::StrCat(HeadFilePath(dir), " is corrupt"));
  }
  Digest chain;
  std::memcpy(chain.data(), body.data() + magic + 8, 32);
  return std::make_pair(GetBigEndian64(std::string_view(body).substr(magic)), chain);
}

// An event's client fields, serialized deterministically: hashed for its
// content fingerprint, and the stored bytes with the server's fields
// spliced in (AppendStored); nothing ever re-serializes them.
std::string SerializeDeterministic(const grid::v1::Event& e) {
  std::string bytes;
  e.ByteSizeLong();  // caches sizes for SerializeWithCachedSizes
  {
    google::protobuf::io::StringOutputStream zs(&bytes);
    google::protobuf::io::CodedOutputStream out(&zs);
    out.SetSerializationDeterministic(true);
    e.SerializeWithCachedSizes(&out);
  }
  return bytes;
}

std::string DescribeVersion(std::optional<uint64_t> v) {
  return v ? absl::StrCat("is at version ", *v) : "does not exist";
}

// An event id's index entry: where the event is, and its fingerprint.
struct IdEntry {
  Position position;
  uint64_t version;
  Digest fingerprint;
};

absl::StatusOr<std::optional<IdEntry>> DecodeIdEntry(std::string_view id, const rocksdb::Status& s,
                                                     std::string_view v) {
  if (s.IsNotFound()) return std::nullopt;
  if (!s.ok()) return FromRocks(s, "event id lookup");
  if (v.size() != 48) {
    return absl::DataLossError(absl::StrCat(
        "event id index entry for '", absl::string_view(id.data(), id.size()), "' has ", v.size(), " bytes"));
  }
  IdEntry e;
  e.position = GetBigEndian64(v);
  e.version = GetBigEndian64(v.substr(8));
  std::memcpy(e.fingerprint.data(), v.data() + 16, 32);
  return e;
}

class RocksEventLog final : public EventLog {
 public:
  RocksEventLog(const EventLogOptions& options, std::string path, std::unique_ptr<rocksdb::DB> db,
                std::vector<rocksdb::ColumnFamilyHandle*> cfs, Head head)
      : options_(options),
        path_(std::move(path)),
        env_(options.env != nullptr ? options.env : rocksdb::Env::Default()),
        db_(std::move(db)),
        cfs_(std::move(cfs)),
        head_(head),
        written_(head) {}

  ~RocksEventLog() override {
    bool healthy = false;
    {
      grid::MutexLock f(&head_file_mu_);
      grid::MutexLock l(&mu_);
      healthy = failed_.ok();
      if (healthy && head_.position != head_file_position_) {
        WriteHeadFile(env_, path_, head_).PermitUncheckedError();
      }
    }
    // A clean close flushes the memtables, so the next open has no WAL to
    // replay (up to write_buffer_bytes per column family, seconds of work).
    // After a storage failure the log closes as it is (fail-stop).
    if (healthy) db_->Flush(rocksdb::FlushOptions(), cfs_).PermitUncheckedError();
    for (auto* cf : cfs_) db_->DestroyColumnFamilyHandle(cf);
    db_->Close().PermitUncheckedError();
  }

  CommitResult Commit(absl::Span<AppendBatch* const> batches, absl::Time now, BatchAdmission* admission,
                      GroupReplicator* replicator) override {
    return CommitGroup(batches, now, admission, replicator, /*sync=*/true);
  }
  CommitResult CommitUnsynced(absl::Span<AppendBatch* const> batches, absl::Time now,
                              BatchAdmission* admission, GroupReplicator* replicator) override {
    return CommitGroup(batches, now, admission, replicator, /*sync=*/false);
  }
  absl::Status Sync() override;
  absl::StatusOr<std::vector<RecordPtr>> Apply(Position first_position,
                                               absl::Span<const std::string> wires) override;
  absl::StatusOr<std::vector<RecordPtr>> ReadAll(Position from, Direction dir, size_t max_count,
                                                 size_t max_bytes) const override;
  std::unique_ptr<LogReader> NewReader(Direction dir) const override;
  absl::StatusOr<std::vector<RecordPtr>> ReadStream(const std::string& stream, uint64_t from_version,
                                                    Direction dir, size_t max_count,
                                                    size_t max_bytes) const override;
  absl::StatusOr<std::optional<uint64_t>> StreamHead(const std::string& stream) const override;
  // Two index lookups (the id's entry, the stream's version), no record.
  absl::StatusOr<bool> HasEventAt(const std::string& stream, uint64_t version,
                                  const std::string& event_id) const override;
  absl::StatusOr<std::optional<std::string>> ReadState(const std::string& stream) const override {
    std::string v;
    rocksdb::Status s =
        db_->Get(rocksdb::ReadOptions(), cfs_[kMeta], absl::StrCat(kMetaStatePrefix, stream), &v);
    if (s.IsNotFound()) return std::nullopt;
    if (!s.ok()) return FromRocks(s, "admission state lookup");
    return v;
  }
  absl::Status PutStates(absl::Span<const std::pair<std::string, std::string>> entries) override {
    if (absl::Status health = WriteHealth(); !health.ok()) return health;
    rocksdb::WriteBatch batch;
    for (const auto& [key, value] : entries) {
      rocksdb::Status s = batch.Put(cfs_[kMeta], absl::StrCat(kMetaStatePrefix, key), value);
      if (!s.ok()) return FromRocks(s, "admission state store");
    }
    // Unsynced: a cache; the clean close that follows flushes it.
    return FromRocks(db_->Write(rocksdb::WriteOptions(), &batch), "admission state store");
  }
  absl::StatusOr<Position> PositionAtTime(absl::Time t, Direction dir) const override;
  Head GetHead() const override {
    grid::MutexLock l(&mu_);
    return head_;
  }
  absl::Status WriteHealth() const override {
    grid::MutexLock l(&mu_);
    return failed_;
  }
  StorageStats GetStorageStats() const override { return ReadStorageStats(db_.get()); }
  absl::Status Backup(const std::string& dir) const override { return CheckpointTo(db_.get(), dir); }
  absl::Status PutCheckpoint(Position position, const std::string& value) override {
    return FromRocks(db_->Put(rocksdb::WriteOptions(), cfs_[kCheckpoints], PositionKey(position), value),
                     "write checkpoint");
  }
  absl::StatusOr<std::vector<std::pair<Position, std::string>>> ReadCheckpoints(
      Position from, size_t max_count) const override {
    std::vector<std::pair<Position, std::string>> out;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cfs_[kCheckpoints]));
    for (it->Seek(PositionKey(from)); it->Valid() && out.size() < max_count; it->Next()) {
      if (it->key().size() != 8) return absl::DataLossError("a checkpoint key is not 8 bytes");
      out.emplace_back(GetBigEndian64(it->key().ToStringView()), it->value().ToString());
    }
    if (!it->status().ok()) return FromRocks(it->status(), "read checkpoints");
    return out;
  }

 private:
  class Group;
  CommitResult CommitGroup(absl::Span<AppendBatch* const> batches, absl::Time now, BatchAdmission* admission,
                           GroupReplicator* replicator, bool sync);
  // The committing thread's head: the last group written, synced or not.
  // Marks the calling thread as the one that commits.
  Head WriterHead() {
    writer_.store(std::this_thread::get_id(), std::memory_order_relaxed);
    grid::MutexLock l(&mu_);
    return written_;
  }
  // How far reads on this thread may go: the last group written on the
  // thread that commits (while the log is healthy: a thread that gets the
  // id of one that ended must not read a group whose sync failed), the
  // synced head on any other. `*all_synced`: no group is written, or being
  // written, beyond the synced head.
  Position ReadBound(bool* all_synced = nullptr) const {
    const bool writer = writer_.load(std::memory_order_relaxed) == std::this_thread::get_id();
    const bool writing = writing_.load() > 0;
    grid::MutexLock l(&mu_);
    if (all_synced != nullptr) *all_synced = !writing && written_.position == head_.position;
    return writer && failed_.ok() ? written_.position : head_.position;
  }
  absl::StatusOr<std::optional<IdEntry>> LookupId(const std::string& id) const;
  // Every id's entry (or the failed lookup), one MultiGet for all of them.
  void LookupIds(absl::Span<const std::string* const> ids,
                 absl::flat_hash_map<std::string, absl::StatusOr<std::optional<IdEntry>>>* out) const;
  absl::StatusOr<RecordPtr> GetRecord(Position p) const;
  class Reader;
  // ReadAll()'s reading from an events iterator, which is sought (and
  // `*seeks` counted) unless it is at `from` already. `from` is within
  // 1..head; `*read` grows by the bytes read.
  absl::StatusOr<std::vector<RecordPtr>> ReadFrom(rocksdb::Iterator* it, Position from, Position head,
                                                  Direction dir, size_t max_count, size_t max_bytes,
                                                  size_t* read, uint64_t* seeks) const;
  // Every kHeadFileEvery, the committed head outside RocksDB (WriteHeadFile).
  void MaybeWriteHeadFile(absl::Time now);
  // Writes a finished group, with its fsync if `sync` (then it is the head
  // at once); on failure the log stops taking writes and the status says so.
  absl::Status WriteGroup(Group& group, bool sync);

  // Constant after construction.
  const EventLogOptions options_;
  const std::string path_;
  rocksdb::Env* const env_;
  const std::unique_ptr<rocksdb::DB> db_;
  const std::vector<rocksdb::ColumnFamilyHandle*> cfs_;

  mutable grid::Mutex mu_;
  // The synced head: what readers see.
  Head head_ ABSL_GUARDED_BY(mu_);
  // The last group written, synced or not (head_ when none waits for Sync()).
  Head written_ ABSL_GUARDED_BY(mu_);
  absl::Status failed_ ABSL_GUARDED_BY(mu_);
  // The thread that commits (WriterHead()): its reads see written_.
  std::atomic<std::thread::id> writer_{};
  // Group writes in progress (0 or 1): their entries may be in RocksDB
  // before written_ says so.
  std::atomic<int> writing_{0};
  // Sync() with DB::SyncWAL(), which syncs while writes go on; false once
  // the Env's files said they cannot (an in-memory Env): then a synced
  // empty write, which waits for the writes in progress.
  std::atomic<bool> sync_wal_{true};
  grid::Mutex head_file_mu_;  // MaybeWriteHeadFile() runs on the syncing thread and on the committing one
  Position head_file_position_ ABSL_GUARDED_BY(head_file_mu_) = 0;
  absl::Time head_file_written_ ABSL_GUARDED_BY(head_file_mu_) = absl::InfinitePast();
};

absl::StatusOr<std::optional<IdEntry>> RocksEventLog::LookupId(const std::string& id) const {
  std::string v;
  const rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), cfs_[kEventIds], id, &v);
  return DecodeIdEntry(id, s, v);
}

void RocksEventLog::LookupIds(
    absl::Span<const std::string* const> ids,
    absl::flat_hash_map<std::string, absl::StatusOr<std::optional<IdEntry>>>* out) const {
  std::vector<rocksdb::Slice> keys;
  keys.reserve(ids.size());
  for (const std::string* id : ids) keys.emplace_back(*id);
  std::vector<rocksdb::PinnableSlice> values(keys.size());
  std::vector<rocksdb::Status> statuses(keys.size());
  db_->MultiGet(rocksdb::ReadOptions(), cfs_[kEventIds], keys.size(), keys.data(), values.data(),
                statuses.data());
  for (size_t i = 0; i < keys.size(); ++i) {
    out->insert_or_assign(*ids[i], DecodeIdEntry(*ids[i], statuses[i], values[i].ToStringView()));
  }
}

absl::StatusOr<std::optional<uint64_t>> RocksEventLog::StreamHead(const std::string& stream) const {
  std::string v;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), cfs_[kStreamHeads], stream, &v);
  if (s.IsNotFound()) return std::nullopt;
  if (!s.ok()) return FromRocks(s, "stream head lookup");
  if (v.size() != 8) return absl::DataLossError("bad stream head entry");
  uint64_t last = GetBigEndian64(v);
  // Read after the entry: if nothing was beyond the synced head then, the
  // entry is synced. Else (the committing thread excepted) step back to
  // the last version at or below the bound: the stream's events in the
  // groups that wait for a fsync, a few at most.
  bool all_synced = false;
  const Position bound = ReadBound(&all_synced);
  if (all_synced) return last;
  for (;;) {
    std::string pos;
    s = db_->Get(rocksdb::ReadOptions(), cfs_[kStreams], StreamKey(stream, last), &pos);
    if (!s.ok() && !s.IsNotFound()) return FromRocks(s, "read stream index");
    if (s.IsNotFound() || pos.size() != 8) {
      return absl::DataLossError(absl::StrCat("stream '", stream.substr(0, 256), "' version ", last,
                                              " has no valid stream index entry"));
    }
    if (GetBigEndian64(pos) <= bound) return last;
    if (last == 0) return std::nullopt;
    --last;
  }
}

absl::StatusOr<bool> RocksEventLog::HasEventAt(const std::string& stream, uint64_t version,
                                               const std::string& event_id) const {
  auto id = LookupId(event_id);
  if (!id.ok()) return id.status();
  if (!id->has_value() || (*id)->version != version) return false;
  std::string pos;
  const rocksdb::Status s =
      db_->Get(rocksdb::ReadOptions(), cfs_[kStreams], StreamKey(stream, version), &pos);
  if (s.IsNotFound()) return false;
  if (!s.ok()) return FromRocks(s, "read stream index");
  if (pos.size() != 8) {
    return absl::DataLossError(absl::StrCat("stream index entry of '", stream.substr(0, 256), "' version ",
                                            version, " has ", pos.size(), " bytes, not 8"));
  }
  const Position p = GetBigEndian64(pos);
  return p == (*id)->position && p <= ReadBound();
}

// One commit group being assembled: the WriteBatch that will store it, and
// what the group has added so far, so that later batches of the group see
// earlier ones (their event ids, stream heads, positions and chain).
class RocksEventLog::Group {
 public:
  Group(const RocksEventLog* log, const Head& head, absl::Time recorded_at)
      : log_(log),
        first_(head.position + 1),
        next_(head.position + 1),
        chain_(head.chain),
        recorded_at_(recorded_at),
        recorded_ts_(ToProtoTime(recorded_at)),
        recorded_field_(EncodeMessageField(grid::v1::Event::kRecordedAtFieldNumber, recorded_ts_)) {}

  enum class Ids {
    kNew,               // no event id of the batch is in the log
    kDuplicate,         // all of them are, with the same content: a retry (or it is empty)
    kDuplicateInGroup,  // a retry of a batch earlier in this group
    kRefused,           // `out->status` says why
  };
  // 0. The index entries of every event id in `batches`, read at once (one
  // MultiGet) for CheckIds.
  void PrefetchIds(absl::Span<AppendBatch* const> batches) {
    std::vector<const std::string*> ids;
    for (const AppendBatch* b : batches) {
      for (const auto& e : b->events) ids.push_back(&e.event_id());
    }
    log_->LookupIds(ids, &looked_);
  }

  // 1. Idempotency: every event id either new or the same content as before.
  // Fills `client` with the events' deterministic serializations (client
  // fields only), `fps` with their SHA-256 (the content fingerprint: what
  // makes a retry under the same event_id the same event), and `out` for a
  // retry.
  Ids CheckIds(const AppendBatch& batch, std::vector<std::string>* client, std::vector<Digest>* fps,
               AppendOutcome* out) const;
  // A committed event and `sent`, under the same id with different content,
  // are the same as the appender is served them (AppendScope::same_as_served).
  bool SameAsServed(const AppendBatch& batch, const IdEntry& found, const grid::v1::Event& sent) const;

  // 3. The stream's version now, or the refusal of the batch's expected
  // version (FAILED_PRECONDITION naming both).
  absl::StatusOr<std::optional<uint64_t>> CheckExpected(const AppendBatch& batch) const;

  // 5. Positions, versions, recorded_at, actor and chain for each event of
  // an admitted batch, which `cur` is the stream's version before.
  void Place(const AppendBatch& batch, const std::vector<std::string>& client, const std::vector<Digest>& fps,
             std::optional<uint64_t> cur, AppendOutcome* out, std::vector<RecordPtr>* committed);

  // 5'. An applied record (Apply), already placed by the node that
  // committed it. DATA_LOSS unless it continues the group with the chain
  // link its stored bytes make.
  absl::Status PlaceApplied(const RecordPtr& rec);

  // Snapshots to store with the group (BatchAdmission::Snapshots).
  void AddStates(std::vector<std::pair<std::string, std::string>> states) {
    for (auto& state : states) {
      index_.emplace_back(kMeta, absl::StrCat(kMetaStatePrefix, state.first), std::move(state.second));
    }
  }

  bool empty() const { return next_ == first_; }
  // The head after the last placed event.
  Head head() const { return Head{next_ - 1, chain_, recorded_at_}; }
  // Completes the WriteBatch: the index entries in key order, the time
  // index entry and the head. REQUIRES: !empty().
  rocksdb::WriteBatch* Finish();

 private:
  // The index entries of the event at `next_` with this stored content.
  void Index(const std::string& stream, const std::string& event_id, uint64_t version, const Digest& fp);

  absl::StatusOr<std::optional<uint64_t>> CurrentVersion(const std::string& stream) const {
    if (auto it = heads_.find(stream); it != heads_.end()) return it->second;
    return log_->StreamHead(stream);
  }

  const RocksEventLog* const log_;
  const Position first_;
  Position next_;
  Digest chain_;
  const absl::Time recorded_at_;
  const google::protobuf::Timestamp recorded_ts_;
  const std::string recorded_field_;  // recorded_ts_ as the event's field (AppendStored)
  rocksdb::WriteBatch wb_;
  // Index entries (column family, key, value), added to `wb_` in key order
  // at the end: the memtable's skiplist reuses its insert position for
  // ascending keys, and event ids and stream names arrive in random order.
  std::vector<std::tuple<int, std::string, std::string>> index_;
  // Event ids placed by this group; ids in the log before it (PrefetchIds).
  absl::flat_hash_map<std::string, IdEntry> ids_;
  absl::flat_hash_map<std::string, absl::StatusOr<std::optional<IdEntry>>> looked_;
  absl::flat_hash_map<std::string, std::optional<uint64_t>> heads_;
};

bool RocksEventLog::Group::SameAsServed(const AppendBatch& batch, const IdEntry& found,
                                        const grid::v1::Event& sent) const {
  if (batch.scope == nullptr || !batch.scope->same_as_served) return false;
  auto rec = log_->GetRecord(found.position);
  grid::v1::Event stored;
  if (!rec.ok() || !stored.ParseFromString((*rec)->wire)) return false;  // refused as differing
  stored.clear_recorded_at();
  stored.clear_position();
  stored.clear_stream_version();
  stored.clear_actor();
  stored.clear_chain();
  return batch.scope->same_as_served(stored, sent);
}

RocksEventLog::Group::Ids RocksEventLog::Group::CheckIds(const AppendBatch& batch,
                                                         std::vector<std::string>* client,
                                                         std::vector<Digest>* fps, AppendOutcome* out) const {
  fps->reserve(batch.events.size());
  client->reserve(batch.events.size());
  size_t dups = 0;
  bool dup_in_group = false;
  std::vector<AppendedEvent> dup_results;
  for (const auto& e : batch.events) {
    client->push_back(SerializeDeterministic(e));
    fps->push_back(Sha256(client->back()));
    std::optional<IdEntry> found;
    if (auto it = ids_.find(e.event_id()); it != ids_.end()) {
      found = it->second;
      dup_in_group = true;
    } else {
      auto prefetched = looked_.find(e.event_id());
      auto looked = prefetched != looked_.end() ? prefetched->second : log_->LookupId(e.event_id());
      if (!looked.ok()) {
        out->status = looked.status();
        return Ids::kRefused;
      }
      found = *looked;
    }
    if (!found) continue;
    if (found->fingerprint != fps->back() && !dup_in_group && SameAsServed(batch, *found, e)) {
      // What differs is hidden from the appender: answered as a retry.
      ++dups;
      dup_results.push_back({found->position, found->version, true});
      continue;
    }
    if (found->fingerprint != fps->back()) {
      // Not where: the other event may be outside the caller's view.
      out->status = absl::FailedPreconditionError(
          absl::StrCat("event_id '", e.event_id(),
                       "' was already appended with different content; an event_id "
                       "names one event forever"));
      return Ids::kRefused;
    }
    ++dups;
    dup_results.push_back({found->position, found->version, true});
  }
  // (An empty batch is answered like a retry: it adds nothing.)
  if (dups == 0 && !batch.events.empty()) return Ids::kNew;
  if (dups < batch.events.size()) {
    out->status = absl::FailedPreconditionError(absl::StrCat(
        "request mixes ", dups, " event_id(s) already in the log (e.g. '", batch.events[0].event_id(),
        "') with new ones; retry the original request unchanged or send "
        "only new events"));
    return Ids::kRefused;
  }
  auto cur = CurrentVersion(batch.stream);
  if (!cur.ok()) {
    out->status = cur.status();
    return Ids::kRefused;
  }
  out->events = std::move(dup_results);
  out->stream_version = cur->value_or(0);
  return dup_in_group ? Ids::kDuplicateInGroup : Ids::kDuplicate;
}

absl::StatusOr<std::optional<uint64_t>> RocksEventLog::Group::CheckExpected(const AppendBatch& batch) const {
  auto cur = CurrentVersion(batch.stream);
  if (!cur.ok()) return cur.status();
  const Expected& ex = batch.expected;
  if (ex.kind == Expected::kNoStream && *cur) {
    return absl::FailedPreconditionError(absl::StrCat("wrong expected version: stream '", batch.stream, "' ",
                                                      DescribeVersion(*cur), "; expected no stream"));
  }
  if (ex.kind == Expected::kStreamExists && !*cur) {
    return absl::FailedPreconditionError(absl::StrCat("wrong expected version: stream '", batch.stream,
                                                      "' does not exist; expected it to exist"));
  }
  if (ex.kind == Expected::kExact && *cur != ex.version) {
    return absl::FailedPreconditionError(absl::StrCat("wrong expected version: stream '", batch.stream, "' ",
                                                      DescribeVersion(*cur), "; expected version ",
                                                      ex.version));
  }
  return cur;
}

void RocksEventLog::Group::Place(const AppendBatch& batch, const std::vector<std::string>& client,
                                 const std::vector<Digest>& fps, std::optional<uint64_t> cur,
                                 AppendOutcome* out, std::vector<RecordPtr>* committed) {
  uint64_t version = cur ? *cur + 1 : 0;
  const std::string actor = EncodeMessageField(grid::v1::Event::kActorFieldNumber, batch.actor);
  for (size_t j = 0; j < batch.events.size(); ++j) {
    const grid::v1::Event& e = batch.events[j];
    auto rec = std::make_shared<LogRecord>();
    // Serialized once: the client's bytes CheckIds hashed, with the
    // server's fields inserted (record.h), then the chain field.
    const ServerFields server{
        .recorded_at = recorded_field_, .position = next_, .stream_version = version, .actor = actor};
    rec->wire.reserve(client[j].size() + recorded_field_.size() + actor.size() + 22 + kChainFieldSize);
    if (!AppendStored(client[j], server, &rec->wire).ok()) {
      // An event with unknown fields numbered below 8 (Append refuses
      // unknown fields; a caller of Commit() may not): serialized whole.
      grid::v1::Event whole = e;
      whole.set_position(next_);
      whole.set_stream_version(version);
      *whole.mutable_recorded_at() = recorded_ts_;
      *whole.mutable_actor() = batch.actor;
      rec->wire = SerializeDeterministic(whole);
    }
    chain_ = ChainLink(chain_, next_, rec->wire);
    AppendChainField(chain_, &rec->wire);
    rec->position = next_;
    rec->stream_version = version;
    rec->recorded_at = recorded_at_;
    rec->stream = batch.stream;
    rec->type = e.type();
    rec->org_path = e.org_path();

    wb_.Put(log_->cfs_[kEvents], PositionKey(next_), rec->wire);
    Index(batch.stream, e.event_id(), version, fps[j]);

    out->events.push_back({next_, version, false});
    committed->push_back(std::move(rec));
    ++next_;
    ++version;
  }
  heads_[batch.stream] = version - 1;
  out->stream_version = version - 1;
}

void RocksEventLog::Group::Index(const std::string& stream, const std::string& event_id, uint64_t version,
                                 const Digest& fp) {
  std::string id_value;
  PutBigEndian64(&id_value, next_);
  PutBigEndian64(&id_value, version);
  id_value.append(reinterpret_cast<const char*>(fp.data()), 32);
  index_.emplace_back(kStreams, StreamKey(stream, version), PositionKey(next_));
  index_.emplace_back(kEventIds, event_id, std::move(id_value));
  ids_[event_id] = IdEntry{next_, version, fp};
}

absl::Status RocksEventLog::Group::PlaceApplied(const RecordPtr& rec) {
  auto parts = SplitWire(rec->wire);
  if (!parts.ok()) return parts.status();
  if (rec->position != next_ || rec->recorded_at != recorded_at_ || rec->stream.empty()) {
    return absl::DataLossError(absl::StrCat("applied record at position ", rec->position,
                                            " is not the next (", next_,
                                            ") of a group recorded at one time"));
  }
  chain_ = ChainLink(chain_, next_, parts->stored);
  if (chain_ != parts->chain) {
    return absl::DataLossError(absl::StrCat("applied record at position ", next_,
                                            ": its chain link differs from the one this node's log makes; "
                                            "this node's history and the shard's differ"));
  }
  // The content fingerprint a Commit() of it took (the client's fields
  // only), read off the stored bytes instead of parsing and serializing the
  // event again.
  std::string event_id;
  auto fp = ClientFingerprint(parts->stored, &event_id);
  if (!fp.ok()) {
    if (!absl::IsDataLoss(fp.status())) return fp.status();  // not the record's fault: try again
    return absl::DataLossError(absl::StrCat("position ", next_, ": ", fp.status().message()));
  }
  wb_.Put(log_->cfs_[kEvents], PositionKey(next_), rec->wire);
  Index(rec->stream, event_id, rec->stream_version, *fp);
  heads_[rec->stream] = rec->stream_version;
  ++next_;
  return absl::OkStatus();
}

rocksdb::WriteBatch* RocksEventLog::Group::Finish() {
  for (const auto& [stream, v] : heads_) {
    if (v) index_.emplace_back(kStreamHeads, stream, PositionKey(*v));
  }
  std::sort(index_.begin(), index_.end());
  for (const auto& [cf, key, value] : index_) wb_.Put(log_->cfs_[cf], key, value);
  std::string time_key;
  PutBigEndian64(&time_key, static_cast<uint64_t>(Micros(recorded_at_)));
  PutBigEndian64(&time_key, first_);
  wb_.Put(log_->cfs_[kTimeIndex], time_key, "");
  std::string head_value = PositionKey(next_ - 1);
  head_value.append(reinterpret_cast<const char*>(chain_.data()), 32);
  PutBigEndian64(&head_value, static_cast<uint64_t>(Micros(recorded_at_)));
  wb_.Put(log_->cfs_[kMeta], kMetaHead, head_value);
  return &wb_;
}

CommitResult RocksEventLog::CommitGroup(absl::Span<AppendBatch* const> batches, absl::Time now,
                                        BatchAdmission* admission, GroupReplicator* replicator, bool sync) {
  CommitResult result;
  result.outcomes.resize(batches.size());
  const Head head = WriterHead();
  if (absl::Status failed = WriteHealth(); !failed.ok()) {
    for (auto& o : result.outcomes) o.status = failed;
    return result;
  }
  Group group(this, head, std::max(ToMicros(now), head.recorded_at));
  // Outcomes that depend on this group's write succeeding.
  std::vector<bool> needs_write(batches.size(), false);
  bool admitting = false;
  group.PrefetchIds(batches);

  for (size_t bi = 0; bi < batches.size(); ++bi) {
    AppendBatch& batch = *batches[bi];
    AppendOutcome& out = result.outcomes[bi];

    std::vector<std::string> client;
    std::vector<Digest> fps;
    const Group::Ids ids = group.CheckIds(batch, &client, &fps, &out);
    if (ids != Group::Ids::kNew) {
      needs_write[bi] = ids == Group::Ids::kDuplicateInGroup;
      continue;
    }
    // 2. May the caller learn about this stream at all? Asked before the
    // version check, whose refusal names the stream's version.
    if (admission != nullptr) {
      if (!admitting) {
        admission->BeginGroup();
        admitting = true;
      }
      out.status = admission->Authorize(batch);
      if (!out.status.ok()) continue;
    }
    auto cur = group.CheckExpected(batch);
    if (!cur.ok()) {
      out.status = cur.status();
      continue;
    }
    // 4. The caller's admission rules (the domain), seeing earlier batches.
    if (admission != nullptr) {
      out.status = admission->Admit(batch);
      if (!out.status.ok()) continue;
    }
    group.Place(batch, client, fps, *cur, &out, &result.committed);
    needs_write[bi] = true;
  }

  if (!group.empty()) {
    if (admitting) {
      std::vector<std::pair<std::string, std::string>> states;
      admission->Snapshots(&states);
      group.AddStates(std::move(states));
    }
    absl::Status written;
    if (replicator != nullptr) written = replicator->Replicate(head, group.head(), result.committed);
    if (written.ok()) written = WriteGroup(group, sync);
    if (!written.ok()) {
      for (size_t bi = 0; bi < batches.size(); ++bi) {
        if (result.outcomes[bi].status.ok() && needs_write[bi]) {
          result.outcomes[bi].status = written;
          result.outcomes[bi].events.clear();
        }
      }
      result.committed.clear();
      if (admitting) admission->EndGroup(false);
      return result;
    }
  }
  if (admitting) admission->EndGroup(true);
  if (!group.empty() && sync) MaybeWriteHeadFile(now);
  const Position head_now = group.empty() ? head.position : group.head().position;
  for (auto& o : result.outcomes) o.head_position = head_now;
  return result;
}

// What every write gets once a write or an fsync of the log failed.
absl::Status StoppedBy(const rocksdb::Status& s) {
  return absl::UnavailableError(absl::StrCat("the event log stopped taking writes after a storage failure (",
                                             s.ToString(), "); restart the server"));
}

absl::Status RocksEventLog::WriteGroup(Group& group, bool sync) {
  rocksdb::WriteOptions wo;
  wo.sync = sync && options_.sync;
  writing_.fetch_add(1);
  const rocksdb::Status s = db_->Write(wo, group.Finish());
  grid::MutexLock l(&mu_);
  writing_.fetch_sub(1);
  if (!s.ok()) {
    // Never retried: the log is read-only from here until restart.
    failed_ = StoppedBy(s);
    return failed_;
  }
  written_ = group.head();
  // A synced write syncs the groups written before it too.
  if (sync) head_ = written_;
  return absl::OkStatus();
}

absl::Status RocksEventLog::Sync() {
  Head target;
  {
    grid::MutexLock l(&mu_);
    if (!failed_.ok()) return failed_;
    if (written_.position == head_.position) return absl::OkStatus();
    target = written_;
  }
  rocksdb::Status s;
  if (options_.sync) {
    if (options_.pipelined && sync_wal_.load(std::memory_order_relaxed)) {
      // Syncs every WAL byte written so far, while the committing thread
      // goes on writing the next group.
      s = db_->SyncWAL();
      if (s.IsNotSupported()) sync_wal_.store(false, std::memory_order_relaxed);
    }
    if (!options_.pipelined || !sync_wal_.load(std::memory_order_relaxed)) {
      rocksdb::WriteOptions wo;
      wo.sync = true;
      rocksdb::WriteBatch empty;
      s = db_->Write(wo, &empty);
    }
  }
  {
    grid::MutexLock l(&mu_);
    if (!s.ok()) {
      if (failed_.ok()) failed_ = StoppedBy(s);
      return failed_;
    }
    if (target.position > head_.position) head_ = target;
  }
  MaybeWriteHeadFile(absl::Now());
  return absl::OkStatus();
}

absl::StatusOr<std::vector<RecordPtr>> RocksEventLog::Apply(Position first_position,
                                                            absl::Span<const std::string> wires) {
  if (absl::Status failed = WriteHealth(); !failed.ok()) return failed;
  const Head head = WriterHead();
  auto stop = [&](const absl::Status& why) {
    grid::MutexLock l(&mu_);
    failed_ = absl::DataLossError(absl::StrCat("the event log stopped taking writes: ", why.message()));
    return failed_;
  };
  if (wires.empty()) return std::vector<RecordPtr>();
  const Position last = first_position + wires.size() - 1;
  if (first_position >= 1 && last <= head.position) {
    // Held already (this node wrote it, or applied it before): the same
    // last record proves the same group, the chain covering the rest.
    auto held = GetRecord(last);
    if (held.ok() && (*held)->wire == wires.back()) return std::vector<RecordPtr>();
  }
  if (first_position != head.position + 1) {
    return stop(absl::DataLossError(absl::StrCat("an applied group starts at position ", first_position,
                                                 " but this node's log ends at ", head.position)));
  }
  std::vector<RecordPtr> records;
  records.reserve(wires.size());
  for (size_t i = 0; i < wires.size(); ++i) {
    auto rec = DecodeRecord(first_position + i, wires[i]);
    if (!rec.ok()) return stop(rec.status());
    records.push_back(*std::move(rec));
  }
  if (records[0]->recorded_at < head.recorded_at) {
    return stop(absl::DataLossError(
        absl::StrCat("the group at position ", first_position, " is recorded before this node's head")));
  }
  Group group(this, head, records[0]->recorded_at);
  for (const RecordPtr& rec : records) {
    absl::Status placed = group.PlaceApplied(rec);
    if (!placed.ok()) return absl::IsDataLoss(placed) ? stop(placed) : placed;  // nothing written yet
  }
  if (absl::Status written = WriteGroup(group, /*sync=*/true); !written.ok()) return written;
  MaybeWriteHeadFile(absl::Now());
  return records;
}

void RocksEventLog::MaybeWriteHeadFile(absl::Time now) {
  grid::MutexLock l(&head_file_mu_);
  if (now - head_file_written_ < kHeadFileEvery) return;
  const Head h = GetHead();
  // A failure here loses only the watermark, never an event; the next
  // commit tries again.
  if (WriteHeadFile(env_, path_, h).ok()) {
    head_file_position_ = h.position;
    head_file_written_ = now;
  }
}

absl::StatusOr<RecordPtr> RocksEventLog::GetRecord(Position p) const {
  std::string v;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), cfs_[kEvents], PositionKey(p), &v);
  if (s.IsNotFound()) {
    return absl::DataLossError(absl::StrCat("position ", p, " is missing from the log"));
  }
  if (!s.ok()) return FromRocks(s, absl::StrCat("read position ", p));
  return DecodeRecord(p, std::move(v));
}

absl::StatusOr<std::vector<RecordPtr>> RocksEventLog::ReadAll(Position from, Direction dir, size_t max_count,
                                                              size_t max_bytes) const {
  const Position head = GetHead().position;
  if (from == 0 && dir == Direction::kForwards) from = 1;
  if (dir == Direction::kBackwards) from = std::min(from, head);
  if (from == 0 || from > head || max_count == 0) return std::vector<RecordPtr>();
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cfs_[kEvents]));
  size_t bytes = 0;
  uint64_t seeks = 0;
  return ReadFrom(it.get(), from, head, dir, max_count, max_bytes, &bytes, &seeks);
}

absl::StatusOr<std::vector<RecordPtr>> RocksEventLog::ReadFrom(rocksdb::Iterator* it, Position from,
                                                               Position head, Direction dir, size_t max_count,
                                                               size_t max_bytes, size_t* read,
                                                               uint64_t* seeks) const {
  std::vector<RecordPtr> out;
  if (!it->Valid() || it->key() != rocksdb::Slice(PositionKey(from))) {
    ++*seeks;
    if (dir == Direction::kForwards) {
      it->Seek(PositionKey(from));
    } else {
      it->SeekForPrev(PositionKey(from));
    }
  }
  Position expect = from;
  size_t bytes = 0;
  while (out.size() < max_count && bytes < max_bytes && expect >= 1 && expect <= head) {
    if (!it->Valid()) break;
    if (it->key().size() != 8) return absl::DataLossError("an events key is not 8 bytes");
    const Position p = GetBigEndian64(it->key().ToStringView());
    if (p != expect) {
      return absl::DataLossError(absl::StrCat("position ", expect, " is missing from the log"));
    }
    auto rec = DecodeRecord(p, it->value().ToString());
    if (!rec.ok()) return rec.status();
    bytes += (*rec)->wire.size();
    out.push_back(*std::move(rec));
    if (dir == Direction::kForwards) {
      ++expect;
      it->Next();
    } else {
      --expect;
      it->Prev();
    }
  }
  *read += bytes;
  if (!it->status().ok()) {
    return FromRocks(it->status(), absl::StrCat("read log at position ", expect));
  }
  if (out.size() < max_count && bytes < max_bytes && expect >= 1 && expect <= head) {
    return absl::DataLossError(absl::StrCat("position ", expect, " is missing from the log"));
  }
  return out;
}

// An iterator sees the database as of its creation: one that ended before
// the position asked for is replaced; so is one that has read kRenewBytes or
// is older than kRenewAfter (a reader whose caller stalls), to let go of the
// files and memtables it holds. Its files are deleted in the background, not
// on the thread that drops it.
class RocksEventLog::Reader final : public LogReader {
 public:
  static constexpr size_t kRenewBytes = 64 << 20;
  static constexpr absl::Duration kRenewAfter = absl::Seconds(10);

  Reader(const RocksEventLog* log, Direction dir) : log_(log), dir_(dir) {}

  absl::StatusOr<std::vector<RecordPtr>> Read(Position from, size_t max_count, size_t max_bytes) override {
    const Position head = log_->GetHead().position;
    if (from == 0 && dir_ == Direction::kForwards) from = 1;
    if (dir_ == Direction::kBackwards) from = std::min(from, head);
    if (from == 0 || from > head || max_count == 0) return std::vector<RecordPtr>();
    const absl::Time now = absl::Now();
    if (it_ == nullptr || read_ >= kRenewBytes || now - made_ > kRenewAfter || from > seen_head_) {
      it_.reset();
      rocksdb::ReadOptions ro;
      ro.background_purge_on_iterator_cleanup = true;
      it_.reset(log_->db_->NewIterator(ro, log_->cfs_[kEvents]));
      seen_head_ = head;
      made_ = now;
      read_ = 0;
      ++stats_.iterators;
    }
    // No further than it_ is known to see (seen_head_ <= head): a later call
    // goes on with a new one.
    auto out = log_->ReadFrom(it_.get(), from, seen_head_, dir_, max_count, max_bytes, &read_, &stats_.seeks);
    if (!out.ok()) it_.reset();  // the next call starts over
    return out;
  }
  Stats GetStats() const override { return stats_; }

 private:
  const RocksEventLog* const log_;
  const Direction dir_;
  std::unique_ptr<rocksdb::Iterator> it_;
  Position seen_head_ = 0;  // the head when it_ was made: it_ sees at least this far
  absl::Time made_;         // when it_ was made
  size_t read_ = 0;         // bytes read through it_
  Stats stats_;
};

std::unique_ptr<LogReader> RocksEventLog::NewReader(Direction dir) const {
  return std::make_unique<Reader>(this, dir);
}

absl::StatusOr<std::vector<RecordPtr>> RocksEventLog::ReadStream(const std::string& stream,
                                                                 uint64_t from_version, Direction dir,
                                                                 size_t max_count, size_t max_bytes) const {
  std::vector<RecordPtr> out;
  auto last = StreamHead(stream);
  if (!last.ok()) return last.status();
  if (!last->has_value() || max_count == 0) return out;
  const uint64_t last_version = **last;
  if (dir == Direction::kBackwards) from_version = std::min(from_version, last_version);
  if (from_version > last_version) return out;
  const Position head = ReadBound();
  size_t bytes = 0;
  for (uint64_t v = from_version; out.size() < max_count && bytes < max_bytes;) {
    std::string pos;
    rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), cfs_[kStreams], StreamKey(stream, v), &pos);
    // Every version up to the stream's head has its entry: a missing one
    // is damage, not the end of the stream.
    if (s.IsNotFound()) {
      return absl::DataLossError(absl::StrCat("stream '", stream.substr(0, 256), "' version ", v,
                                              " is missing from the stream index (its head is ", last_version,
                                              ")"));
    }
    if (!s.ok()) return FromRocks(s, "read stream index");
    if (pos.size() != 8) {
      return absl::DataLossError(absl::StrCat("stream index entry of '", stream.substr(0, 256), "' version ",
                                              v, " has ", pos.size(), " bytes, not 8"));
    }
    const Position p = GetBigEndian64(pos);
    if (p > head) break;  // committed after our head snapshot
    auto rec = GetRecord(p);
    if (!rec.ok()) return rec.status();
    bytes += (*rec)->wire.size();
    out.push_back(*std::move(rec));
    if (dir == Direction::kForwards) {
      if (v == last_version) break;
      ++v;
    } else {
      if (v == 0) break;
      --v;
    }
  }
  return out;
}

absl::StatusOr<Position> RocksEventLog::PositionAtTime(absl::Time t, Direction dir) const {
  const Position head = GetHead().position;
  // Times are stored in microseconds. Forwards means at or after t, so a t
  // inside a microsecond starts at the next one (truncating it took in the
  // group of that microsecond, recorded before t).
  int64_t us = Micros(t);
  if (dir == Direction::kForwards && absl::FromUnixMicros(us) < t) ++us;
  us = std::max<int64_t>(0, us);
  if (dir == Direction::kBackwards) ++us;  // first group strictly after t
  std::string key;
  PutBigEndian64(&key, static_cast<uint64_t>(us));
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cfs_[kTimeIndex]));
  it->Seek(key);
  if (!it->status().ok()) return FromRocks(it->status(), "read time index");
  Position first_after = head + 1;
  if (it->Valid()) {
    if (it->key().size() != 16) {
      return absl::DataLossError(absl::StrCat("time index key has ", it->key().size(), " bytes, not 16"));
    }
    first_after = std::min<Position>(GetBigEndian64(it->key().ToStringView().substr(8)), head + 1);
  }
  return dir == Direction::kForwards ? first_after : first_after - 1;
}

}  // namespace

namespace {

// Reads the fields a LogRecord keeps from a stored Event (stream, type,
// org_path, recorded_at, position, stream_version) and skips the rest, the
// body included, without parsing it: replay and catch-up reads decode every
// record, and a whole-Event parse was a third of a replay's CPU. False if the
// bytes are not a well-formed message.
bool ScanStoredHeader(std::string_view stored, LogRecord* rec, Position* position) {
  namespace io = google::protobuf::io;
  using WFL = google::protobuf::internal::WireFormatLite;
  io::CodedInputStream in(reinterpret_cast<const uint8_t*>(stored.data()), static_cast<int>(stored.size()));
  auto read_string = [&](std::string* out) {
    uint32_t len = 0;
    return in.ReadVarint32(&len) && in.ReadString(out, static_cast<int>(len));
  };
  int64_t seconds = 0;
  int32_t nanos = 0;
  for (;;) {
    const uint32_t tag = in.ReadTag();
    if (tag == 0) break;
    const int field = static_cast<int>(WFL::GetTagFieldNumber(tag));
    const auto type = WFL::GetTagWireType(tag);
    bool ok = true;
    if ((field == 2 || field == 3 || field == 4 || field == 8) && type != WFL::WIRETYPE_LENGTH_DELIMITED)
      return false;
    if ((field == 9 || field == 10) && type != WFL::WIRETYPE_VARINT) return false;
    switch (field) {
      case 2:
        ok = read_string(&rec->stream);
        break;
      case 3:
        ok = read_string(&rec->type);
        break;
      case 4:
        ok = read_string(&rec->org_path);
        break;
      case 8: {  // google.protobuf.Timestamp
        uint32_t len = 0;
        if (!in.ReadVarint32(&len)) return false;
        const auto limit = in.PushLimit(static_cast<int>(len));
        for (uint32_t t = in.ReadTag(); t != 0; t = in.ReadTag()) {
          uint64_t v = 0;
          if (WFL::GetTagWireType(t) != WFL::WIRETYPE_VARINT) {
            if (!WFL::SkipField(&in, t)) return false;
            continue;
          }
          if (!in.ReadVarint64(&v)) return false;
          if (WFL::GetTagFieldNumber(t) == 1) seconds = static_cast<int64_t>(v);
          if (WFL::GetTagFieldNumber(t) == 2) nanos = static_cast<int32_t>(v);
        }
        if (!in.ConsumedEntireMessage()) return false;
        in.PopLimit(limit);
        break;
      }
      case 9:
        ok = in.ReadVarint64(position);
        break;
      case 10:
        ok = in.ReadVarint64(&rec->stream_version);
        break;
      default:
        ok = WFL::SkipField(&in, tag);
    }
    if (!ok) return false;
  }
  rec->recorded_at = FromProtoTime(seconds, nanos);
  return in.CurrentPosition() == static_cast<int>(stored.size());
}

}  // namespace

namespace {

class ReadAllReader final : public LogReader {
 public:
  ReadAllReader(const EventLog* log, Direction dir) : log_(log), dir_(dir) {}
  absl::StatusOr<std::vector<RecordPtr>> Read(Position from, size_t max_count, size_t max_bytes) override {
    return log_->ReadAll(from, dir_, max_count, max_bytes);
  }

 private:
  const EventLog* const log_;
  const Direction dir_;
};

}  // namespace

std::unique_ptr<LogReader> EventLog::NewReader(Direction dir) const {
  return std::make_unique<ReadAllReader>(this, dir);
}

absl::Status EventLog::PutStates(absl::Span<const std::pair<std::string, std::string>> entries) {
  (void)entries;
  return absl::UnimplementedError("this log stores no state entries outside a commit");
}

absl::StatusOr<bool> EventLog::HasEventAt(const std::string& stream, uint64_t version,
                                          const std::string& event_id) const {
  auto records = ReadStream(stream, version, Direction::kForwards, 1, 8 << 20);
  if (!records.ok()) return records.status();
  grid::v1::Event e;
  return records->size() == 1 && (*records)[0]->stream_version == version &&
         e.ParseFromString((*records)[0]->wire) && e.event_id() == event_id;
}

absl::StatusOr<RecordPtr> DecodeRecord(Position position, std::string wire) {
  auto parts = SplitWire(wire);
  if (!parts.ok()) {
    return absl::DataLossError(absl::StrCat("position ", position, ": ", parts.status().message()));
  }
  auto rec = std::make_shared<LogRecord>();
  Position stored_position = 0;
  if (!ScanStoredHeader(parts->stored, rec.get(), &stored_position) || stored_position != position) {
    return absl::DataLossError(absl::StrCat("position ", position, ": record does not decode"));
  }
  rec->position = position;
  rec->wire = std::move(wire);
  return rec;
}

absl::StatusOr<std::unique_ptr<EventLog>> EventLog::Open(const EventLogOptions& options,
                                                         const std::string& path) {
  rocksdb::DBOptions db_options;
  db_options.create_if_missing = options.create_if_missing;
  db_options.create_missing_column_families = true;
  db_options.paranoid_checks = true;
  // A torn last WAL record is an unacknowledged write cut by a crash and is
  // dropped; corruption anywhere else refuses to open (DATA_LOSS) instead of
  // silently recovering a prefix, which kPointInTimeRecovery would do.
  db_options.wal_recovery_mode = rocksdb::WALRecoveryMode::kTolerateCorruptedTailRecords;
  // Not atomic_flush: in Debian's RocksDB 7.8 (built with assertions) a
  // flush that fails under atomic_flush leaks a column-family reference, and
  // closing the DB then aborts in ~ColumnFamilySet (6 of 40 runs of the
  // random-I/O-error test). Without it, column families recover to one point
  // as long as the synced WAL is intact; if a disk loses synced WAL data, the
  // GRIDHEAD watermark and the head checks below catch it at open.
  db_options.atomic_flush = false;
  // Synced WAL sizes are recorded in the MANIFEST; a missing or shortened
  // WAL then fails the open instead of silently recovering less.
  // Not with SyncWAL() on RocksDB before 7.10 (EventLogOptions::pipelined).
  db_options.track_and_verify_wals_in_manifest = !options.pipelined || kSyncWalKeepsWalTracking;
  // Fail-stop: no automatic resume after a background I/O error. (Its
  // recovery thread also holds column families, and closing the DB while it
  // runs trips RocksDB's own assertions.)
  db_options.max_bgerror_resume_count = 0;
  if (options.env != nullptr) db_options.env = options.env;
  db_options.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
  db_options.keep_log_file_num = 5;

  auto cache = options.memory != nullptr ? nullptr : rocksdb::NewLRUCache(options.block_cache_bytes);
  std::vector<rocksdb::ColumnFamilyDescriptor> descs;
  for (int i = 0; i < kNumCfs; ++i) {
    rocksdb::ColumnFamilyOptions cf;
    rocksdb::BlockBasedTableOptions table;
    table.block_cache = cache;
    if (options.memory != nullptr) options.memory->Apply(&db_options, &table);
    if (i == kEvents) {
      // Replays and catch-up read it in order: larger blocks, fewer reads,
      // and so a small index (~16 KiB per 64 MiB file) that stays whole:
      // the two-level index of StorageMemory cost replays 16-60% (A/B).
      table.block_size = 64 << 10;
      table.index_type = rocksdb::BlockBasedTableOptions::kBinarySearch;
      table.partition_filters = false;
    }
    if (i == kEventIds || i == kStreams || i == kStreamHeads || i == kMeta) {
      // Point lookups, mostly for keys that are not there (new event ids,
      // new streams' state snapshots).
      table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
    }
    cf.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
    cf.compression = rocksdb::kNoCompression;
    cf.write_buffer_size = options.write_buffer_bytes;
    descs.emplace_back(kCfNames[i], cf);
  }
  // Column families a later gridd added (RocksDB refuses to open a
  // database without naming all of them): opened and left alone, so that a
  // rollback to this version can still read the log.
  std::vector<std::string> existing;
  if (rocksdb::DB::ListColumnFamilies(db_options, path, &existing).ok()) {
    for (const std::string& name : existing) {
      if (name != rocksdb::kDefaultColumnFamilyName &&
          std::find(std::begin(kCfNames), std::end(kCfNames), name) == std::end(kCfNames)) {
        descs.emplace_back(name, rocksdb::ColumnFamilyOptions());
      }
    }
  }
  descs.emplace_back(rocksdb::kDefaultColumnFamilyName, rocksdb::ColumnFamilyOptions());

  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(db_options, path, descs, &handles, &raw);
  if (!s.ok()) {
    if (s.IsInvalidArgument() && !options.create_if_missing) {
      return absl::NotFoundError(absl::StrCat("no event log at ", path, ": ", s.ToString()));
    }
    return FromRocks(s, absl::StrCat("open event log at ", path));
  }
  std::unique_ptr<rocksdb::DB> db(raw);
  // Ours come first; the later ones' and the default's handles are not kept.
  while (handles.size() > kNumCfs) {
    db->DestroyColumnFamilyHandle(handles.back());
    handles.pop_back();
  }

  auto fail = [&](absl::Status st) {
    for (auto* h : handles) db->DestroyColumnFamilyHandle(h);
    return st;
  };

  std::string format;
  s = db->Get(rocksdb::ReadOptions(), handles[kMeta], kMetaFormat, &format);
  if (s.IsNotFound()) {
    rocksdb::WriteOptions wo;
    wo.sync = true;
    s = db->Put(wo, handles[kMeta], kMetaFormat, std::to_string(kFormatVersion));
    if (!s.ok()) return fail(FromRocks(s, "write format version"));
  } else if (!s.ok()) {
    return fail(FromRocks(s, "read format version"));
  } else if (format != std::to_string(kFormatVersion)) {
    return fail(
        absl::FailedPreconditionError(absl::StrCat("event log at ", path, " has format version ", format,
                                                   "; this server reads version ", kFormatVersion)));
  }

  Head head;
  std::string hv;
  s = db->Get(rocksdb::ReadOptions(), handles[kMeta], kMetaHead, &hv);
  if (s.ok()) {
    if (hv.size() != 48) return fail(absl::DataLossError("meta head entry is malformed"));
    head.position = GetBigEndian64(hv);
    std::memcpy(head.chain.data(), hv.data() + 8, 32);
    head.recorded_at = absl::FromUnixMicros(static_cast<int64_t>(GetBigEndian64(hv.substr(40))));
  } else if (!s.IsNotFound()) {
    return fail(FromRocks(s, "read head"));
  }

  // Cheap consistency checks instead of a scan: the head record exists and
  // carries the head's chain, and nothing lies beyond it.
  if (head.position > 0) {
    std::string v;
    s = db->Get(rocksdb::ReadOptions(), handles[kEvents], PositionKey(head.position), &v);
    if (!s.ok()) {
      return fail(
          absl::DataLossError(absl::StrCat("head position ", head.position, " is missing: ", s.ToString())));
    }
    auto parts = SplitWire(v);
    if (!parts.ok() || parts->chain != head.chain) {
      return fail(absl::DataLossError(
          absl::StrCat("head position ", head.position, " does not match the recorded chain head")));
    }
  }
  {
    std::string v;
    s = db->Get(rocksdb::ReadOptions(), handles[kEvents], PositionKey(head.position + 1), &v);
    if (s.ok()) {
      return fail(absl::DataLossError(
          absl::StrCat("position ", head.position + 1, " exists beyond the recorded head")));
    }
    // Only "not there" proves nothing is beyond the head; a read error
    // proves nothing at all.
    if (!s.IsNotFound()) return fail(FromRocks(s, "read beyond the head"));
  }
  rocksdb::Env* env = options.env != nullptr ? options.env : rocksdb::Env::Default();
  auto mark = ReadHeadFile(env, path);
  if (!mark.ok()) return fail(mark.status());
  if (mark->has_value()) {
    const auto& [mark_pos, mark_chain] = **mark;
    if (mark_pos > head.position) {
      return fail(absl::DataLossError(
          absl::StrCat("the log ends at position ", head.position, " but position ", mark_pos,
                       " was committed (", HeadFilePath(path), "); log files were truncated or lost")));
    }
    if (mark_pos > 0) {
      std::string v;
      s = db->Get(rocksdb::ReadOptions(), handles[kEvents], PositionKey(mark_pos), &v);
      auto parts = s.ok() ? SplitWire(v) : absl::StatusOr<WireParts>(FromRocks(s, "read"));
      if (!parts.ok() || parts->chain != mark_chain) {
        return fail(
            absl::DataLossError(absl::StrCat("position ", mark_pos, " does not carry the chain recorded in ",
                                             HeadFilePath(path), "; the log was altered")));
      }
    }
  }
  return std::unique_ptr<EventLog>(new RocksEventLog(options, path, std::move(db), std::move(handles), head));
}

}  // namespace grid::storage
