// ShuttingDown(): the one refusal every layer gives once gridd's shutdown
// has begun, from the sequencer's queued appends to new calls at the RPC
// edge. gRPC-free, so the lowest layers can use it.
#ifndef GRID_STORAGE_SHUTDOWN_H_
#define GRID_STORAGE_SHUTDOWN_H_

#include "absl/status/status.h"

namespace grid {

// UNAVAILABLE: clients retry elsewhere or reconnect, resuming a stream from
// its last position.
inline absl::Status ShuttingDown() {
  return absl::UnavailableError(
      "the server is shutting down; retry, or resume a stream from its last position");
}

}  // namespace grid

#endif  // GRID_STORAGE_SHUTDOWN_H_
