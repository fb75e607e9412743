// DomainAdmission applies the domain rules (domain/rules.h) inside the log's commit:
// the sequencer hands it to EventLog::Commit(), which asks it about every
// batch that passed the log's own checks. It keeps each touched stream's
// folded state in an LRU cache. Admitted batches update the cached states in
// place, so later batches of the same group see them; if the group is not
// written, the states it touched are dropped from the cache (the log is the
// truth).
//
// A miss never folds the stream's whole history: a snapshot of the state
// (domain/state_codec.h) is stored with the commit, in the same write, once
// the stream has grown by max(kSnapshotEveryEvents, size of its last
// snapshot / kSnapshotBytesPerEvent) events since its last one, and a miss
// reads the snapshot and folds only the events after it. So a snapshot costs
// each event a bounded share of its encoding (at most kSnapshotBytesPerEvent
// bytes), and a miss costs the state's size, whatever the stream's length.
// A miss that did fold events also stores its state with the group's write
// when that is small beside the reads it saves (kSnapshotBytesPerFoldedEvent):
// the short streams that never reach kSnapshotEveryEvents events (a
// household's few) are folded from the log once, not at every miss. So a
// stream that misses the cache at every append writes a snapshot at every
// append too, at most 4 KiB per event folded: for a household a few hundred
// bytes, one key, in place of a point read of the log per event at its next
// miss.
//
// The sets and maps that grow with a stream's history (a grid's findings, a
// ledger's entries: domain/keyed.h) are not in the snapshot: each member is stored under its own key beside
// the stream (EventLog::ReadState("<stream>\0<member key>")), written with the commit that added or changed
// it, and read one key at a time when a rule asks. A cached state holds only the members not stored yet and
// those read since. So a miss costs the small rest of the state and at most kSnapshotEveryEvents events, and
// a batch's undo copies no history. A member store that fails to read refuses the batch that asked with its
// error (nothing is written for it).
//
// Concurrency: not thread-safe; used by the sequencer thread only (but
// cached_streams(), for any thread).
#ifndef GRID_SERVER_LOG_ADMISSION_H_
#define GRID_SERVER_LOG_ADMISSION_H_

#include <atomic>
#include <list>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/container/node_hash_map.h"
#include "domain/rules.h"
#include "storage/event_log.h"

namespace grid::server {

class DomainAdmission : public storage::BatchAdmission {
 public:
  // `log` must outlive this object.
  // `snapshots` false: none stored or read, every miss folds the whole
  // stream (what admission did before them; for bench/admission_bench).
  explicit DomainAdmission(const storage::EventLog* log, size_t max_cached_streams = 100000,
                           bool snapshots = true);

  static constexpr uint64_t kSnapshotEveryEvents = 64;
  static constexpr uint64_t kSnapshotBytesPerEvent = 256;
  // A miss that folded events from the log stores a snapshot with the
  // group's write if it is at most this large per event folded: reading a
  // folded event again costs a point read of the log (a 64 KiB block),
  // writing the snapshot is paid once.
  static constexpr uint64_t kSnapshotBytesPerFoldedEvent = 4096;

  void BeginGroup() override;
  // CheckScope() of the batch's first event against the stream's state.
  absl::Status Authorize(const storage::AppendBatch& batch) override;
  // REQUIRES: every event passed CheckShape (the RPC layer checks it).
  absl::Status Admit(const storage::AppendBatch& batch) override;
  // The states this group touched or loaded that are due a snapshot.
  void Snapshots(std::vector<std::pair<std::string, std::string>>* out) override;
  void EndGroup(bool written) override;
  // Another node's records: their streams' states load again when needed.
  void Applied(absl::Span<const storage::RecordPtr> records) override;
  // At a clean shutdown, once no commit runs (the sequencer stopped): the
  // snapshots (and members not stored yet) of the cached states that hold
  // events no stored snapshot holds, by the same measure as a miss's
  // (kSnapshotBytesPerFoldedEvent), for EventLog::PutStates. The states
  // a group's end evicts keep theirs the same way, in the group's write
  // (but for a group that writes nothing, every batch refused).
  // So the first miss after a restart, or after an eviction, reads a
  // snapshot instead of folding what the state had held. How many.
  size_t TakeCached(std::vector<std::pair<std::string, std::string>>* out);

  // Any thread may ask (the metrics do).
  size_t cached_streams() const { return cached_.load(std::memory_order_relaxed); }
  struct Stats {
    uint64_t loads = 0;             // misses: states read from the log
    uint64_t loaded_snapshots = 0;  // ... of which started from a snapshot
    uint64_t folded_events = 0;     // events folded by those loads
    uint64_t stored_snapshots = 0;  // snapshots written with commits
    uint64_t stored_snapshot_bytes = 0;
    uint64_t stored_members = 0;  // keyed members written with commits
    uint64_t member_reads = 0;    // ... read back one at a time
  };
  Stats GetStats() const;

 private:
  class Lookup;
  // `stream`'s state in the cache, loaded from the log on a miss.
  struct Entry;
  absl::StatusOr<domain::AggregateState*> Get(const std::string& stream);
  absl::StatusOr<Entry*> GetEntry(const std::string& stream);
  struct Loaded {
    domain::AggregateState state;
    std::string last_event_id;     // of the last event folded into it
    uint64_t snapshot_events = 0;  // the events its snapshot holds (0: none)
    size_t snapshot_bytes = 0;
    uint64_t folded = 0;  // events folded from the log, after the snapshot
  };
  absl::StatusOr<Loaded> Load(const std::string& stream);
  absl::StatusOr<Loaded> LoadFolded(const std::string& stream);  // Load() but for read errors
  void Drop(const std::string& stream);
  // Adds the cached `stream`'s snapshot and unstored members to `out` if
  // it holds events no stored snapshot holds, at most
  // kSnapshotBytesPerFoldedEvent per such event: whether it did.
  bool Keep(const std::string& stream, std::vector<std::pair<std::string, std::string>>* out);
  // Into a group's write: the members of `stream`'s state not stored yet
  // (its member store attached first); its snapshot `bytes`. Both noted
  // for EndGroup.
  void PutMembers(const std::string& stream, Entry* e, std::vector<std::pair<std::string, std::string>>* out);
  void PutSnapshot(const std::string& stream, const Entry& e, std::string bytes,
                   std::vector<std::pair<std::string, std::string>>* out);
  class Members;
  // The stream's member store for its state's keyed containers.
  std::shared_ptr<const domain::MemberStore> MembersOf(const std::string& stream);
  // The first member read that failed since the last call, and clears it.
  absl::Status TakeMemberError();

  const storage::EventLog* const log_;
  const size_t max_cached_;
  const bool snapshots_;
  struct Entry {
    domain::AggregateState state;
    std::string last_event_id;  // of the last event folded into `state`
    std::list<std::string>::iterator lru;
    // The stream's stored snapshot: the events it holds and its size.
    uint64_t snapshot_events = 0;
    size_t snapshot_bytes = 0;
    // Events its load folded from the log that no stored snapshot holds.
    uint64_t folded = 0;
  };
  absl::node_hash_map<std::string, Entry> cache_;  // pointers stay valid
  std::list<std::string> lru_;                     // most recently used first
  std::atomic<size_t> cached_{0};                  // cache_.size(), for other threads
  // Streams whose cached state this group changed in place.
  absl::flat_hash_set<std::string> touched_;
  // Streams this group loaded (a miss): their snapshot may be due too.
  absl::flat_hash_set<std::string> loaded_;
  // Snapshots given to this group's write: stream → (events, bytes).
  std::vector<std::pair<std::string, std::pair<uint64_t, size_t>>> snapshotted_;
  // Streams whose new members this group's write stores, and how many.
  std::vector<std::pair<std::string, size_t>> members_written_;
  // A member read that failed (Members), for the check that asked.
  absl::Status member_error_;
  // Streams whose cached state a failed member read left unlike the log's
  // in this group: refused until the group ends, then dropped.
  absl::flat_hash_set<std::string> poisoned_;
  // For GetStats(), from any thread.
  std::atomic<uint64_t> loads_{0}, loaded_snapshots_{0}, folded_events_{0}, stored_snapshots_{0},
      stored_snapshot_bytes_{0}, stored_members_{0}, member_reads_{0};
};

}  // namespace grid::server

#endif  // GRID_SERVER_LOG_ADMISSION_H_
