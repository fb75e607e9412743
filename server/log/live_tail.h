// The LiveTail is the shared in-memory tail of recently committed records.
// The sequencer publishes each committed group once; every live subscriber
// reads the same immutable records (serialized once, shared by pointer) from
// its own cursor. The tail is bounded in records and bytes; a subscriber
// whose cursor drops off its front is told so and goes back to reading the
// log from disk. The writer never waits for a subscriber.
//
// Concurrency: a LiveTail is safe for concurrent use. Waiter::Wake() is
// called with the tail's lock held: it must only schedule work, never block
// or call back into the tail.
#ifndef GRID_SERVER_LOG_LIVE_TAIL_H_
#define GRID_SERVER_LOG_LIVE_TAIL_H_

#include <atomic>
#include <deque>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "storage/event_log.h"
#include "storage/notifier.h"
#include "storage/sync.h"

namespace grid::server {

class LiveTail final : public storage::Notifier {
 public:
  struct Options {
    size_t max_records = 100000;
    size_t max_bytes = 64 << 20;
  };

  // `head` is the log's head position when the tail starts: the first
  // published record must be head+1.
  LiveTail(storage::Position head, Options options);
  explicit LiveTail(storage::Position head) : LiveTail(head, Options()) {}

  // Appends committed records (positions continue the tail) and wakes every
  // waiter.
  void Publish(const std::vector<storage::RecordPtr>& records);

  enum class ReadResult {
    kOk,          // `out` has at least one record
    kNothingYet,  // nothing after `after` has been published
    kFellBehind,  // `after`+1 is no longer in the tail: read the log instead
  };
  // Copies up to `max_count` records (and about `max_bytes`) with positions
  // after `after` into `out`.
  ReadResult Read(storage::Position after, size_t max_count, size_t max_bytes,
                  std::vector<storage::RecordPtr>* out) const;

  // Wakes at the next Publish(), WakeAll() or Close().
  uint64_t wakes() const override;
  bool WaitForMore(storage::Position after, uint64_t wakes_seen, Waiter* w) override;
  bool Cancel(Waiter* w) override;
  void WakeAll() override;

  // Wakes every waiter; later WaitForMore() calls return true at once.
  void Close();
  bool closed() const;

  // Last published position.
  storage::Position head() const;

 private:
  const Options options_;
  mutable grid::Mutex mu_;
  std::deque<storage::RecordPtr> records_ ABSL_GUARDED_BY(mu_);
  size_t bytes_ ABSL_GUARDED_BY(mu_) = 0;
  storage::Position head_ ABSL_GUARDED_BY(mu_);
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  std::atomic<uint64_t> wakes_{0};  // WakeAll() calls; read without mu_ (hot path)
  absl::flat_hash_set<Waiter*> waiters_ ABSL_GUARDED_BY(mu_);
};

}  // namespace grid::server

#endif  // GRID_SERVER_LOG_LIVE_TAIL_H_
