// Notifier: something that advances through log positions and wakes those
// waiting for it to. The live tail (log positions) and the projector (folded
// positions) are Notifiers; the RPC layer's streaming reactors wait on one.
// A pure interface, with no threads or locks of its own.
#ifndef GRID_STORAGE_NOTIFIER_H_
#define GRID_STORAGE_NOTIFIER_H_

#include "storage/event_log.h"

namespace grid::storage {

class Notifier {
 public:
  // Something waiting for progress after its cursor.
  class Waiter {
   public:
    virtual void Wake() = 0;

   protected:
    ~Waiter() = default;
  };
  // How many times WakeAll() has run. A waiter reads it before it checks
  // what it may see, and hands it to WaitForMore: a WakeAll() in between
  // then counts as progress, so no re-check is missed.
  virtual uint64_t wakes() const = 0;
  // If nothing after `after` is available, no WakeAll() ran since `wakes()`
  // returned `wakes_seen`, and the notifier is open, registers `w` to be
  // woken once at the next progress, wake-all or close and returns false.
  // Otherwise returns true without registering.
  virtual bool WaitForMore(Position after, uint64_t wakes_seen, Waiter* w) = 0;
  // Unregisters `w`. Returns true if it was registered (so it will not be
  // woken), false if it was not (it has been woken, or never waited).
  virtual bool Cancel(Waiter* w) = 0;
  // Wakes every waiter now, without progress (they look again and wait
  // again): after a policy reload, so open streams re-check their rights.
  virtual void WakeAll() = 0;

 protected:
  ~Notifier() = default;
};

}  // namespace grid::storage

#endif  // GRID_STORAGE_NOTIFIER_H_
