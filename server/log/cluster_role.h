// ClusterRole: what the services ask about this node's part in a shard's
// cluster (server/cluster/cluster_node.h implements it); no ClusterRole on
// a single node.
//
// Concurrency: thread-safe.
#ifndef GRID_SERVER_LOG_CLUSTER_ROLE_H_
#define GRID_SERVER_LOG_CLUSTER_ROLE_H_

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "grid/v1/log.pb.h"
#include "storage/event_log.h"

namespace grid::server {

class ClusterRole {
 public:
  virtual ~ClusterRole() = default;
  // OK when this node takes appends now; otherwise UNAVAILABLE saying who
  // does, or that no writer is known.
  virtual absl::Status CheckWriter() const = 0;
  // Where an append this node admitted goes: OK with `*forward` false to
  // this node's own sequencer (it is the writer), with `*forward` true to
  // the writer through Forward(); otherwise UNAVAILABLE saying why nothing
  // can take it now (no writer known, taking over, this node stopped).
  virtual absl::Status RouteAppend(bool* forward) const = 0;
  // Sends `batch` (admitted here: validated, its caller's rights checked) to
  // the shard's writer, which commits it as one of its own; `done` gets the
  // writer's outcome, or UNAVAILABLE when that is unknown (the writer could
  // not be reached or did not answer: a retry with the same event ids is
  // safe). `done` runs once, on any thread, never inside this call's lock.
  virtual void Forward(storage::AppendBatch batch,
                       absl::AnyInvocable<void(storage::AppendOutcome) &&> done) = 0;
  // OK while this node serves; after its log was found to differ from the
  // shard's (DATA_LOSS) or stopped, the reason: it then answers nothing but
  // GetStatus.
  virtual absl::Status CheckServing() const = 0;
  virtual void Describe(grid::v1::ClusterStatus* out) const = 0;
};

}  // namespace grid::server

#endif  // GRID_SERVER_LOG_CLUSTER_ROLE_H_
