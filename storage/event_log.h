// An EventLog is the durable, append-only, hash-chained sequence of grid
// events from which everything else is derived. Positions start at 1 and are
// dense in commit order; each stream's versions start at 0 and are dense.
//
// The interface is deliberately narrow (commit a group of batches with
// expectations, read by position, read by stream, head) so that a replicated
// log can later sit behind it. The on-disk layout is documented in README.md.
//
// Concurrency: Commit() must be called by one thread at a time (the
// sequencer); every other method is safe to call from any thread, also while
// a Commit() runs. Readers only ever see fully committed groups.
#ifndef GRID_STORAGE_EVENT_LOG_H_
#define GRID_STORAGE_EVENT_LOG_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "grid/v1/event.pb.h"
#include "storage/record.h"
#include "storage/storage_stats.h"

namespace rocksdb {
class Env;
}

namespace grid::storage {

struct StorageMemory;

struct EventLogOptions {
  // Create the log if the directory holds none.
  bool create_if_missing = true;
  // Write every commit with fsync before it is acknowledged. Only tests that
  // prove the crash tests can fail turn this off.
  bool sync = true;
  // RocksDB environment; nullptr = the real file system. Tests pass an
  // in-memory Env or a fault-injecting one. Not owned; must outlive the log.
  rocksdb::Env* env = nullptr;
  // The server's shared RocksDB memory budget (storage/memory.h); not
  // owned, must outlive the log. nullptr: a block cache of its own, of
  // block_cache_bytes.
  const StorageMemory* memory = nullptr;
  // RocksDB block cache for all column families, in bytes (without `memory`).
  size_t block_cache_bytes = 64 << 20;
  // Commits may be pipelined (CommitUnsynced() and Sync(): the sequencer's
  // pipelined_commits). Sync() then syncs with DB::SyncWAL(), which lets the
  // next group be written meanwhile. RocksDB before 7.10 has a bug there
  // (facebook/rocksdb#10892: a SyncWAL() racing a flush can leave a WAL in
  // the MANIFEST that is gone, and the next open fails), so such a log does
  // not track its WALs in the MANIFEST on those versions; the GRIDHEAD
  // watermark still refuses a log that lost acknowledged events. false:
  // Sync() is a synced empty write, which waits for writes in flight.
  bool pipelined = false;
  // Memtable size per column family before it is flushed to an SST file.
  // Fault tests make it small so that flushes, SST and MANIFEST writes
  // happen under load.
  size_t write_buffer_bytes = 64 << 20;
};

// What the writer believes about a stream before appending to it.
struct Expected {
  enum Kind { kAny, kNoStream, kStreamExists, kExact };
  Kind kind = kAny;
  uint64_t version = 0;  // for kExact
};

// Who appends a batch, as far as the checks made at commit time against the
// current state need it (server/log/admission.h). Built once per principal and
// shared by its batches; immutable.
struct AppendScope {
  // Org-path prefixes (whole segments); every org path the batch touches
  // must lie under one of them. "" is the whole network.
  std::vector<std::string> jurisdiction;
  // Set for a grid worker: every org path touched must also be a grid this
  // worker is assigned to at commit time.
  std::string worker;
  // The appender's clearance: a refusal that would quote data of a higher
  // class names less.
  grid::v1::DataClass clearance = grid::v1::C4_RESTRICTED;
  // The audiences (bit 1 << grid::v1::Audience) whose fields it sees.
  uint32_t audiences = ~0u;
  // Set when the appender is not served every field of every event: whether
  // a committed event (server fields cleared) and one it sends again under
  // the same event_id are the same as it is served them. A reused id whose
  // content differs only in fields it may not see is then answered as a
  // duplicate, like a retry: a refusal would confirm a guessed value.
  std::function<bool(const grid::v1::Event& stored, const grid::v1::Event& sent)> same_as_served;
};

// One atomic append: events for one stream.
struct AppendBatch {
  std::string stream;
  Expected expected;
  // Validated events with client fields only; `stream` equals the batch's.
  std::vector<grid::v1::Event> events;
  // Filled into every event's `actor`.
  grid::v1::Actor actor;
  // The appender's rights; null: unrestricted (dev mode, the log's own
  // tests).
  std::shared_ptr<const AppendScope> scope;
};

// Where one appended event ended up.
struct AppendedEvent {
  Position position = 0;
  uint64_t stream_version = 0;
  bool duplicate = false;
};

// The outcome of one AppendBatch.
struct AppendOutcome {
  // OK, FAILED_PRECONDITION (version or id conflict), UNAVAILABLE (write
  // failed or log not writable), DATA_LOSS (corrupt index).
  absl::Status status;
  std::vector<AppendedEvent> events;  // one per batch event when status is OK
  uint64_t stream_version = 0;        // stream's last version after the batch
  Position head_position = 0;
};

// A committed record as readers see it. Immutable once built; shared between
// subscribers through shared_ptr.
struct LogRecord {
  Position position = 0;
  uint64_t stream_version = 0;
  absl::Time recorded_at;
  std::string stream;
  std::string type;
  std::string org_path;
  // Wire form: stored bytes + chain field (record.h). Parses as a whole Event.
  std::string wire;
};
using RecordPtr = std::shared_ptr<const LogRecord>;

// The result of a Commit() call.
struct CommitResult {
  // One per input batch, same order.
  std::vector<AppendOutcome> outcomes;
  // Records the group added to the log, in position order (empty if the
  // write failed or every batch was refused or a duplicate).
  std::vector<RecordPtr> committed;
};

// Decides, inside Commit(), whether a batch that passed the log's own checks
// (idempotency, expected version) may be written. Commit() asks in group
// order, so an admission sees the effect of the batches admitted before it in
// the same group; the domain rules (server/domain) are one. Duplicates of
// committed events are answered without asking.
class BatchAdmission {
 public:
  virtual ~BatchAdmission() = default;
  // A new group starts; forget what the previous one admitted but did not
  // confirm.
  virtual void BeginGroup() = 0;
  // Asked before the batch's expected version is checked, so that a caller
  // who may not see the stream learns nothing from a version conflict: OK,
  // or the refusal to give instead.
  virtual absl::Status Authorize(const AppendBatch& batch) = 0;
  // OK admits `batch`; any other status refuses it with that status.
  virtual absl::Status Admit(const AppendBatch& batch) = 0;
  // Asked once the group's batches are placed, before its write: opaque
  // state entries (key → bytes) to store with the group, in the same
  // atomic write, each replacing the key's previous value
  // (EventLog::ReadState): snapshots of streams' states keyed by the
  // stream, and (the admission's) members of a state keyed by
  // "<stream>\0..." (stream names are printable). Not asked of a group that
  // writes nothing.
  virtual void Snapshots(std::vector<std::pair<std::string, std::string>>* out) { (void)out; }
  // The group's write ended: `written` says whether the admitted batches are
  // now in the log. Must not call back into the log.
  virtual void EndGroup(bool written) = 0;
  // Records another node committed were written by Apply(): what was known
  // about their streams is stale.
  virtual void Applied(absl::Span<const RecordPtr> records) { (void)records; }
};

// The head of the log.
struct Head {
  Position position = 0;
  Digest chain = kGenesisChain;
  absl::Time recorded_at = absl::UnixEpoch();
};

// Makes a commit group durable elsewhere before the log writes it: in
// cluster mode, the shard's replicated head in etcd (server/cluster/).
class GroupReplicator {
 public:
  virtual ~GroupReplicator() = default;
  // Asked inside Commit() once the group is placed after `before`, with its
  // records in position order and the head `after` they make. OK: the group
  // is committed there, and the log writes it next (a local write failure
  // after that is fail-stop, as always). Any other status: it is not
  // committed there, or not known to be; every batch of the group that
  // needed the write fails with that status, nothing is written, and the log
  // stays writable (a group whose outcome was unknown is learnt later by
  // Apply(), and a retry of it is then answered as a duplicate).
  virtual absl::Status Replicate(const Head& before, const Head& after,
                                 absl::Span<const RecordPtr> records) = 0;
};

enum class Direction { kForwards, kBackwards };

// Reads the whole log in one direction, call after call (a Read's messages,
// a subscription's catch-up), keeping its storage iterator between calls:
// a call that starts where the last one ended continues the same iterator
// instead of making a new one and seeking. A call reads no further than the
// head as of its iterator's making, so it may return fewer records than are
// committed, but never none when `from` is committed: call again. It starts
// a new iterator when `from` is past that head and now and then (bytes read,
// age), so as not to hold old files and memtables. Not thread-safe; the log
// must outlive it.
class LogReader {
 public:
  virtual ~LogReader() = default;
  // As EventLog::ReadAll(from, <the reader's direction>, ...).
  virtual absl::StatusOr<std::vector<RecordPtr>> Read(Position from, size_t max_count, size_t max_bytes) = 0;

  struct Stats {
    uint64_t iterators = 0;  // storage iterators made
    uint64_t seeks = 0;      // times one was positioned anew
  };
  virtual Stats GetStats() const { return Stats(); }
};

class EventLog {
 public:
  // Opens (or creates) the log in directory `path`. Opening reads the head
  // from the meta column family; it never scans the log. DATA_LOSS if the
  // files are corrupt, FAILED_PRECONDITION for an unknown format version.
  static absl::StatusOr<std::unique_ptr<EventLog>> Open(const EventLogOptions& options,
                                                        const std::string& path);

  virtual ~EventLog() = default;

  // Commits a group of batches in one synced write: each batch is checked
  // (idempotency, expected version) against the log plus the batches before
  // it in the group, refused batches are left out, and the rest get dense
  // positions and chain links. All events of a group share one recorded_at,
  // max(now, previous recorded_at).
  //
  // If the write or the sync fails, every batch that would have written
  // fails UNAVAILABLE and the log refuses all later commits (it is never
  // retried: after a failed fsync the page cache cannot be trusted); reads go
  // on serving what was committed before.
  //
  // `admission`, if not null, is asked about each batch that passed the
  // log's checks, just before it gets positions.
  //
  // `replicator`, if not null, is asked to commit the placed group
  // elsewhere before it is written (GroupReplicator).
  //
  // REQUIRES: one caller at a time; batches validated by the caller.
  virtual CommitResult Commit(absl::Span<AppendBatch* const> batches, absl::Time now,
                              BatchAdmission* admission, GroupReplicator* replicator) = 0;
  CommitResult Commit(absl::Span<AppendBatch* const> batches, absl::Time now, BatchAdmission* admission) {
    return Commit(batches, now, admission, nullptr);
  }
  CommitResult Commit(absl::Span<AppendBatch* const> batches, absl::Time now) {
    return Commit(batches, now, nullptr, nullptr);
  }

  // Pipelined commits (the sequencer's): as Commit(), but the group is
  // written without waiting for its fsync, so that the next group can be
  // checked and written while this one's fsync runs. Until a later Sync()
  // returns OK the group is not in GetHead(), readers on other threads do
  // not see it, and its outcomes must not be reported (a refusal may name a
  // version or an id that is not durable yet). The thread that commits sees
  // it: the next commit's checks and that thread's ReadStream, StreamHead
  // and ReadState (the admission's loads) include it. (ReadState is the
  // committing thread's alone; a Backup() may hold a group not synced yet,
  // as a copy made just after its fsync would.) A failed write is
  // fail-stop, as in Commit(). This default commits synced.
  //
  // REQUIRES: the thread that calls Commit() (one caller at a time).
  virtual CommitResult CommitUnsynced(absl::Span<AppendBatch* const> batches, absl::Time now,
                                      BatchAdmission* admission, GroupReplicator* replicator) {
    return Commit(batches, now, admission, replicator);
  }
  // Makes every group CommitUnsynced() wrote before the call durable (one
  // fsync for all of them) and visible: GetHead() moves past them. OK, or
  // the log's write failure: those groups may or may not be durable, every
  // outcome of them must be reported as that failure, and the log takes no
  // more writes (fail-stop). May run on another thread than commits, also
  // while one runs; one caller at a time. This default returns
  // WriteHealth().
  virtual absl::Status Sync() { return WriteHealth(); }

  // Writes a commit group that another node's log made (cluster mode: a
  // batch of the shard's log in etcd) exactly as it is, with the indexes a
  // Commit() of it would have written, in one synced write. `wires` are
  // its wire records, the first at `first_position`, all with one
  // recorded_at. Checked first: the group continues the head (dense
  // positions from head + 1, recorded_at not before the head's), every
  // record decodes at its position, and every chain link equals the one
  // recomputed from the record's stored bytes after the log's own chain. A
  // mismatch is DATA_LOSS and stops the log's writes for good (fail-stop:
  // a node whose history differs from its shard's never takes more); a
  // failed write is UNAVAILABLE and fail-stop, as in Commit(); a record
  // that cannot be hashed now (OpenSSL out of memory) is UNAVAILABLE with
  // nothing written and the log still writable. A group the
  // log already holds, the same records at the same positions (its own
  // commit, seen again), is skipped. Returns the records written.
  //
  // REQUIRES: the thread that calls Commit() (one caller at a time), and
  // every group CommitUnsynced() wrote synced (Sync()) and reported first.
  virtual absl::StatusOr<std::vector<RecordPtr>> Apply(Position first_position,
                                                       absl::Span<const std::string> wires) = 0;

  // Up to `max_count` records from `from` in `direction`, never past the
  // committed head. Empty if `from` is beyond the head (forwards) or 0.
  // DATA_LOSS if a record is missing or unreadable.
  virtual absl::StatusOr<std::vector<RecordPtr>> ReadAll(Position from, Direction direction, size_t max_count,
                                                         size_t max_bytes) const = 0;

  // A reader for many ReadAll() calls in `direction` (LogReader). This
  // default calls ReadAll() each time.
  virtual std::unique_ptr<LogReader> NewReader(Direction direction) const;

  // Up to `max_count` records of `stream` from version `from_version`.
  // Empty for an unknown stream or a version past its end.
  virtual absl::StatusOr<std::vector<RecordPtr>> ReadStream(const std::string& stream, uint64_t from_version,
                                                            Direction direction, size_t max_count,
                                                            size_t max_bytes) const = 0;

  // The last version of `stream` up to the head (on the committing thread:
  // up to the last group it wrote), or nullopt if it has none.
  virtual absl::StatusOr<std::optional<uint64_t>> StreamHead(const std::string& stream) const = 0;
  // Whether the event at `version` of `stream` (up to the head, as
  // StreamHead) is the one with `event_id`: false if it is another or the
  // stream has no such version. This default reads the event.
  virtual absl::StatusOr<bool> HasEventAt(const std::string& stream, uint64_t version,
                                          const std::string& event_id) const;
  // The state entry `key` a BatchAdmission last stored with a commit
  // (BatchAdmission::Snapshots: a stream's snapshot, or a member of its
  // state), or nullopt. A node's own cache: not written by Apply(), not
  // replicated; kept beside the log's metadata.
  virtual absl::StatusOr<std::optional<std::string>> ReadState(const std::string& stream) const = 0;
  // Stores state entries outside a commit, for a BatchAdmission that keeps
  // what it holds in memory before it goes (a clean shutdown): entries
  // about the log as it is, of the kind Snapshots() stores. REQUIRES: no
  // commit runs. This default stores nothing (UNIMPLEMENTED).
  virtual absl::Status PutStates(absl::Span<const std::pair<std::string, std::string>> entries);

  // Forwards: the first position recorded at or after `t`, or head+1 when
  // there is none. Backwards: the last position recorded at or before `t`,
  // or 0 when there is none. Exact for any `t`, also inside a microsecond
  // (the precision recorded_at is kept in).
  virtual absl::StatusOr<Position> PositionAtTime(absl::Time t, Direction direction) const = 0;

  // The committed head.
  virtual Head GetHead() const = 0;

  // OK while the log takes writes; the first write failure after that.
  virtual absl::Status WriteHealth() const = 0;

  // Sizes, for metrics.
  virtual StorageStats GetStorageStats() const = 0;

  // Writes a consistent copy of the log as of now into the new directory
  // `dir` (a RocksDB checkpoint; commits go on meanwhile). Open the copy to
  // learn which head it holds.
  virtual absl::Status Backup(const std::string& dir) const = 0;

  // Stores an opaque signed checkpoint for `position` (not synced by itself:
  // the next commit's fsync carries it; losing it loses no event).
  virtual absl::Status PutCheckpoint(Position position, const std::string& value) = 0;

  // Up to `max_count` stored checkpoints with position >= `from`, in order.
  virtual absl::StatusOr<std::vector<std::pair<Position, std::string>>> ReadCheckpoints(
      Position from, size_t max_count) const = 0;
};

// Parses a wire record read from the log. DATA_LOSS if it does not parse.
absl::StatusOr<RecordPtr> DecodeRecord(Position position, std::string wire);

}  // namespace grid::storage

#endif  // GRID_STORAGE_EVENT_LOG_H_
