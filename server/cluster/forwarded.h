// An append as one gridd node forwards it to its shard's writer
// (proto/grid/cluster/v1/node.proto), and the writer's answer: conversions
// between the log's own types and their messages, both directions, so that
// what the writer commits is exactly what the receiving node admitted.
#ifndef GRID_SERVER_CLUSTER_FORWARDED_H_
#define GRID_SERVER_CLUSTER_FORWARDED_H_

#include <string>

#include "absl/status/statusor.h"
#include "grid/cluster/v1/node.pb.h"
#include "storage/event_log.h"

namespace grid::server {

// The batch as the writer gets it, from `from_node` of `shard`. Moves the
// events out of `batch`.
grid::cluster::v1::ForwardedAppend ToForwarded(storage::AppendBatch batch, const std::string& shard,
                                               const std::string& from_node);

// The batch back, as the receiving node admitted it. INVALID_ARGUMENT if it
// is not one that node could have admitted (no events, an event of another
// stream, server fields set): a node forwards only what it validated.
absl::StatusOr<storage::AppendBatch> FromForwarded(grid::cluster::v1::ForwardedAppend forwarded);

// The writer's outcome as it answers it, and back.
grid::cluster::v1::ForwardedAppendResult ToResult(const storage::AppendOutcome& out);
storage::AppendOutcome FromResult(const grid::cluster::v1::ForwardedAppendResult& result);

}  // namespace grid::server

#endif  // GRID_SERVER_CLUSTER_FORWARDED_H_
