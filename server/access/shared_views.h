// SharedViews: what subscribers below full clearance are served of an
// event, redacted once per view and shared by every subscriber of that view.
//
// A redacted event (ViewEvent) is parsed, redacted and serialized again: a
// few microseconds, paid per subscriber and per event. Live subscribers read
// the same records from the tail at about the same time, and many of them
// share a view: a county's departments, dashboards and backends subscribe as
// a few principals of a few clearances. Their redacted bytes depend only on
// the record and the view, the principal's clearance and audiences (the
// jurisdiction is checked per subscriber, and is cheap): the first of them to
// need an event redacts it, the others are served the same bytes.
//
// A bounded cache of what live subscribers had redacted most recently,
// oldest first out: a view's entry has to outlive only the moment between
// its first and last live subscriber's read. What the stored bytes serve as
// they are (ServedAsStored) never enters it. Keyed by position and view,
// and checked against the record's identity (its size and its last bytes,
// the chain hash): an entry is never served for another record.
//
// Concurrency: safe for concurrent use; sharded, one lock per shard, held
// for a lookup or an insert, never while redacting (two subscribers of a
// view that miss together both redact; the first insert is kept).
#ifndef GRID_SERVER_ACCESS_SHARED_VIEWS_H_
#define GRID_SERVER_ACCESS_SHARED_VIEWS_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "server/access/access_policy.h"
#include "storage/event_log.h"
#include "storage/sync.h"

namespace grid::server {

class SharedViews {
 public:
  struct Options {
    // Entries and bytes of redacted events kept, over all views (the bytes
    // with each entry's own overhead, ~160).
    size_t max_entries = 1 << 16;
    size_t max_bytes = 32 << 20;
  };
  SharedViews() : SharedViews(Options()) {}
  explicit SharedViews(Options options);

  // ViewEvent(reader, r, checked_from): kRedacted with the redacted bytes
  // in `*redacted` (shared, immutable), or kHidden, kAsStored, DATA_LOSS as
  // ViewEvent says. `checked_from` must be the same at every call. With
  // `keep`, what a miss redacted is kept for the view's other subscribers
  // (live subscribers, who read the same recent records); without it, a
  // miss keeps nothing (a catch-up through old history would only push the
  // live subscribers' entries out).
  absl::StatusOr<EventView> View(const Reader& reader, const storage::LogRecord& r,
                                 storage::Position checked_from, bool keep,
                                 std::shared_ptr<const std::string>* redacted);

  struct Stats {
    uint64_t redacted = 0;  // events parsed and redacted for a view
    uint64_t shared = 0;    // events served as another subscriber of the view had them parsed
  };
  Stats GetStats() const;

 private:
  struct Key {
    storage::Position position;
    grid::v1::DataClass clearance;
    uint32_t audiences;
    bool operator==(const Key&) const = default;
    template <typename H>
    friend H AbslHashValue(H h, const Key& k) {
      return H::combine(std::move(h), k.position, k.clearance, k.audiences);
    }
  };
  // Which record an entry was made from: its size and its last bytes (a
  // stored record ends with its chain hash). A record at the same position
  // with another identity (which one log never has) is a miss.
  struct Identity {
    size_t wire_size = 0;
    std::array<char, 32> tail{};
    bool operator==(const Identity&) const = default;
  };
  static Identity IdentityOf(const storage::LogRecord& r);
  // A view's event: its redacted bytes, or null when redacting removed
  // nothing (served as stored).
  struct Entry {
    std::shared_ptr<const std::string> redacted;
    Identity id;
    // What it holds in memory: the bytes, and about what the map's slot,
    // the order queue's key, the string and its shared count take.
    size_t bytes() const { return (redacted != nullptr ? redacted->size() : 0) + kEntryOverhead; }
  };
  static constexpr size_t kEntryOverhead = 160;
  struct Shard {
    grid::Mutex mu;
    absl::flat_hash_map<Key, Entry> entries ABSL_GUARDED_BY(mu);
    std::deque<Key> order ABSL_GUARDED_BY(mu);  // oldest insert first
    size_t bytes ABSL_GUARDED_BY(mu) = 0;
  };
  static constexpr size_t kShards = 16;

  Shard& ShardOf(const Key& k);

  const size_t max_entries_per_shard_;
  const size_t max_bytes_per_shard_;
  std::array<Shard, kShards> shards_;
  std::atomic<uint64_t> redacted_{0};
  std::atomic<uint64_t> shared_{0};
};

}  // namespace grid::server

#endif  // GRID_SERVER_ACCESS_SHARED_VIEWS_H_
