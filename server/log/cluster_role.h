// ClusterRole: what the services ask about this node's part in a shard's
// cluster (server/cluster/cluster_node.h implements it); no ClusterRole on
// a single node.
//
// Concurrency: thread-safe.
#ifndef GRID_SERVER_LOG_CLUSTER_ROLE_H_
#define GRID_SERVER_LOG_CLUSTER_ROLE_H_

#include "absl/status/status.h"
#include "grid/v1/log.pb.h"

namespace grid::server {

class ClusterRole {
 public:
  virtual ~ClusterRole() = default;
  // OK when this node takes appends now; otherwise UNAVAILABLE saying who
  // does, or that no writer is known.
  virtual absl::Status CheckWriter() const = 0;
  // OK while this node serves; after its log was found to differ from the
  // shard's (DATA_LOSS) or stopped, the reason: it then answers nothing but
  // GetStatus.
  virtual absl::Status CheckServing() const = 0;
  virtual void Describe(grid::v1::ClusterStatus* out) const = 0;
};

}  // namespace grid::server

#endif  // GRID_SERVER_LOG_CLUSTER_ROLE_H_
