// The Checkpointer signs the log's head (position, chain, time) with the
// server's Ed25519 key every `every_events` events or `every` of time while
// events arrive, and stores the signed checkpoint in the log.
//
// Concurrency: MaybeCheckpoint() is called only from the sequencer thread
// (after each commit group and when idle); not thread-safe otherwise.
#ifndef GRID_SERVER_LOG_CHECKPOINTER_H_
#define GRID_SERVER_LOG_CHECKPOINTER_H_

#include <atomic>
#include <functional>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "storage/checkpoint.h"
#include "storage/event_log.h"

namespace grid::server {

class Checkpointer {
 public:
  struct Options {
    uint64_t every_events = 1000;
    absl::Duration every = absl::Seconds(10);
    // Told of every checkpoint that could not be stored (the next try
    // comes `every` later); may be null.
    std::function<void(const absl::Status&)> on_failure;
  };
  // `log` and `signer` must outlive the Checkpointer.
  Checkpointer(storage::EventLog* log, const storage::Signer* signer, Options options, absl::Time now);

  // Signs and stores a checkpoint of the current head if it moved and
  // enough events or time passed since the last one (or the last failed
  // try). Returns whether it stored one.
  bool MaybeCheckpoint(absl::Time now);
  // Checkpoints that could not be stored, since start.
  uint64_t failures() const { return failures_.load(); }

 private:
  storage::EventLog* const log_;
  const storage::Signer* const signer_;
  const Options options_;
  storage::Position last_position_ = 0;
  absl::Time last_time_;
  absl::Time retry_after_ = absl::InfinitePast();
  std::atomic<uint64_t> failures_{0};
};

}  // namespace grid::server

#endif  // GRID_SERVER_LOG_CHECKPOINTER_H_
