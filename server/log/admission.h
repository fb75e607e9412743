// DomainAdmission applies the domain rules (domain/rules.h) inside the log's commit:
// the sequencer hands it to EventLog::Commit(), which asks it about every
// batch that passed the log's own checks. It keeps each touched stream's
// folded state in an LRU cache, loading a state on a miss by folding the
// stream from the log. Admitted batches update the cached states in place,
// so later batches of the same group see them; if the group is not written,
// the states it touched are dropped from the cache (the log is the truth).
//
// Concurrency: not thread-safe; used by the sequencer thread only (but
// cached_streams(), for any thread).
#ifndef GRID_SERVER_LOG_ADMISSION_H_
#define GRID_SERVER_LOG_ADMISSION_H_

#include <atomic>
#include <list>
#include <string>

#include "absl/container/flat_hash_set.h"
#include "absl/container/node_hash_map.h"
#include "domain/rules.h"
#include "storage/event_log.h"

namespace grid::server {

class DomainAdmission : public storage::BatchAdmission {
 public:
  // `log` must outlive this object.
  explicit DomainAdmission(const storage::EventLog* log, size_t max_cached_streams = 100000);

  void BeginGroup() override;
  // CheckScope() of the batch's first event against the stream's state.
  absl::Status Authorize(const storage::AppendBatch& batch) override;
  // REQUIRES: every event passed CheckShape (the RPC layer checks it).
  absl::Status Admit(const storage::AppendBatch& batch) override;
  void EndGroup(bool written) override;
  // Another node's records: their streams' states load again when needed.
  void Applied(absl::Span<const storage::RecordPtr> records) override;

  // Any thread may ask (the metrics do).
  size_t cached_streams() const { return cached_.load(std::memory_order_relaxed); }

 private:
  class Lookup;
  // `stream`'s state in the cache, loaded from the log on a miss.
  absl::StatusOr<domain::AggregateState*> Get(const std::string& stream);
  absl::StatusOr<domain::AggregateState> Load(const std::string& stream) const;
  void Drop(const std::string& stream);

  const storage::EventLog* const log_;
  const size_t max_cached_;
  struct Entry {
    domain::AggregateState state;
    std::list<std::string>::iterator lru;
  };
  absl::node_hash_map<std::string, Entry> cache_;  // pointers stay valid
  std::list<std::string> lru_;                     // most recently used first
  std::atomic<size_t> cached_{0};                  // cache_.size(), for other threads
  // Streams whose cached state this group changed in place.
  absl::flat_hash_set<std::string> touched_;
};

}  // namespace grid::server

#endif  // GRID_SERVER_LOG_ADMISSION_H_
