// The Projector tails the event log and folds every event into each
// projection (domain/projections.h), writing the rows it changed (versioned
// by the event's position) together with the projection's checkpoint in one
// batch of the ProjectionStore. It runs on its own thread, woken by commits;
// a projection that fails (a storage error) stops alone and says why in
// List() until it is rebuilt.
//
// It is also a Notifier: waiters on it are woken whenever any projection
// advances (positions given to WaitForMore are progress() values).
//
// Concurrency: safe for concurrent use.
#ifndef GRID_SERVER_PROJECTIONS_PROJECTOR_H_
#define GRID_SERVER_PROJECTIONS_PROJECTOR_H_

#include <atomic>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "domain/projections.h"
#include "storage/event_log.h"
#include "storage/notifier.h"
#include "storage/projection_store.h"
#include "storage/sync.h"

namespace grid::server {

class Projector final : public storage::Notifier {
 public:
  struct Options {
    size_t batch_events = 1000;  // events folded per store write
    // Rows per projection kept in memory between runs (see RowCache).
    size_t row_cache_rows = 20000;
    // Scheduling niceness of the projector thread, relative to the process.
    // Above 0, appends get the CPU first on a saturated machine and the
    // projections lag, then catch up; reads with min_position wait for them.
    int nice = 0;
    // Tests: called on the projector thread after each fold run, with no
    // lock held (it may call Rebuild()), so that a test can act at a known
    // point of a rebuild instead of hoping to catch it.
    std::function<void()> after_run;
  };
  // `log` and `store` must outlive the projector.
  Projector(const storage::EventLog* log, storage::ProjectionStore* store, Options options);
  ~Projector();

  // Loads the checkpoints and starts the thread.
  absl::Status Start();
  // Stops the thread (what is folded stays folded). Idempotent.
  void Stop();

  // The log has advanced: fold what is new.
  void Notify();

  struct Info {
    std::string name;
    std::string description;
    storage::Position position = 0;
    std::string state;  // "live", "catching up", "rebuilding", "failed: …"
  };
  std::vector<Info> List() const;

  // NOT_FOUND for an unknown projection.
  absl::StatusOr<storage::Position> PositionOf(const std::string& name) const;

  // Drops `name`'s rows and folds it again from position 1 (asynchronously;
  // List() says "rebuilding" until it reaches the head).
  absl::Status Rebuild(const std::string& name);

  // True if `name` has folded `position` (and is not rebuilding).
  bool HasFolded(const std::string& name, storage::Position position) const;

  // Blocks until `name` has folded `position`, the deadline passes or the
  // projector stops; true if it has. For tests and tools, never on the
  // application pool (GetProjection waits as a Notifier waiter instead).
  bool AwaitPosition(const std::string& name, storage::Position position, absl::Time deadline);

  // Counts store writes; moves on whenever any projection advances.
  uint64_t progress() const;
  uint64_t wakes() const override;
  bool WaitForMore(storage::Position after_progress, uint64_t wakes_seen, Waiter* w) override;
  bool Cancel(Waiter* w) override;
  void WakeAll() override;

  storage::ProjectionStore* store() const { return store_; }

 private:
  struct State {
    const domain::ProjectionDef* def;
    storage::Position position = 0;
    bool rebuilding = false;
    std::string failure;  // non-empty: stopped (the log or a fold is wrong)
    // A read or write that may succeed later (an I/O error, a full disk):
    // the projection waits until `retry_at`, doubling the wait each time.
    std::string retrying;
    absl::Time retry_at = absl::InfinitePast();
    absl::Duration backoff = absl::ZeroDuration();
  };
  // After a transient error: wait, then try again (under mu_).
  static void Retry(State* st, const absl::Status& s, absl::Time now);
  // Latest values of recently used rows of one projection, as stored (a
  // cached nullopt: the row does not exist). Saves a store seek per row a
  // fold reads; cleared when it reaches its limit, on a reset, and when a
  // write of the projection fails.
  using RowCache = absl::flat_hash_map<std::string, std::optional<grid::v1::RowValue>>;

  void Run();
  // Folds records into every projection behind them; returns false if the
  // log could not be read.
  bool FoldOnce();

  const storage::EventLog* const log_;
  storage::ProjectionStore* const store_;
  const Options options_;

  mutable grid::Mutex mu_;
  CondVar changed_;  // work to do, stop, or progress
  std::map<std::string, State> states_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> rebuilds_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool notified_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t progress_ ABSL_GUARDED_BY(mu_) = 0;
  absl::flat_hash_set<Waiter*> waiters_ ABSL_GUARDED_BY(mu_);
  std::atomic<uint64_t> wakes_{0};         // WakeAll() calls; read without mu_ (hot path)
  std::map<std::string, RowCache> cache_;  // projector thread only
  std::thread thread_;
};

}  // namespace grid::server

#endif  // GRID_SERVER_PROJECTIONS_PROJECTOR_H_
