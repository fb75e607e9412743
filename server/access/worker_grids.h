// WorkerGrids: which grids each grid worker is assigned to now, for the read
// paths (a grid worker reads only its grids, not its whole jurisdiction).
// Folded from the org streams ("org/<county>") of the log and kept; each
// lookup reads only the org events committed since the last one (one
// stream-head read when nothing changed).
//
// Concurrency: thread-safe.
#ifndef GRID_SERVER_ACCESS_WORKER_GRIDS_H_
#define GRID_SERVER_ACCESS_WORKER_GRIDS_H_

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "server/access/access_policy.h"
#include "storage/event_log.h"
#include "storage/sync.h"

namespace grid::server {

class WorkerGrids {
 public:
  // `log` must outlive this object.
  explicit WorkerGrids(const storage::EventLog* log) : log_(log) {}

  // The reader `p` is on the read paths now: for a GRID_WORKER, its
  // principal narrowed to the grids its worker is assigned to in the
  // counties of its jurisdiction (and inside that jurisdiction); anyone
  // else as it is. The log's error if an org stream cannot be read.
  absl::StatusOr<Reader> ReaderFor(const Principal& p);

 private:
  struct County {
    uint64_t next_version = 0;                           // of org/<county>: the first event not folded
    std::map<std::string, std::set<std::string>> grids;  // worker → grid org paths
  };
  // Folds org/<county>'s new events; REQUIRES mu_.
  absl::Status CatchUp(const std::string& county, County* c) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const storage::EventLog* const log_;
  grid::Mutex mu_;
  std::map<std::string, County> counties_ ABSL_GUARDED_BY(mu_);
};

// `p` as a Reader now: through `grids` when there is one (null: as itself).
inline absl::StatusOr<Reader> ReaderOf(WorkerGrids* grids, const Principal& p) {
  if (grids == nullptr) return Reader(p);
  return grids->ReaderFor(p);
}

}  // namespace grid::server

#endif  // GRID_SERVER_ACCESS_WORKER_GRIDS_H_
