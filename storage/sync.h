// Mutex, MutexLock and CondVar: std::mutex and std::condition_variable with
// Clang thread-safety annotations (ABSL_GUARDED_BY works with them).
//
// Why not absl::Mutex: Debian's abseil is not built with ThreadSanitizer, so
// TSan cannot see absl::Mutex's synchronization and reports every access it
// guards as a race. std::mutex is intercepted at the pthread level, so the
// TSan build really checks our threading code (sequencer, live tail, log).
//
// Thread-safe, as mutexes are.
#ifndef GRID_STORAGE_SYNC_H_
#define GRID_STORAGE_SYNC_H_

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>

#include "absl/base/thread_annotations.h"
#include "absl/time/time.h"

namespace grid {

class ABSL_LOCKABLE Mutex {
 public:
  void Lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() { mu_.lock(); }
  void Unlock() ABSL_UNLOCK_FUNCTION() { mu_.unlock(); }

 private:
  friend class CondVar;
  std::mutex mu_;
};

class ABSL_SCOPED_LOCKABLE MutexLock {
 public:
  explicit MutexLock(Mutex* mu) ABSL_EXCLUSIVE_LOCK_FUNCTION(mu) : mu_(mu) { mu_->Lock(); }
  ~MutexLock() ABSL_UNLOCK_FUNCTION() { mu_->Unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex* const mu_;
};

class CondVar {
 public:
  // Waits until signalled (or spuriously). REQUIRES: `mu` held.
  void Wait(Mutex* mu) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    std::unique_lock<std::mutex> l(mu->mu_, std::adopt_lock);
    cv_.wait(l);
    l.release();
  }
  // As Wait, for at most `d` (capped at an hour). Returns false on timeout.
  bool WaitFor(Mutex* mu, absl::Duration d) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    d = std::min(d, absl::Hours(1));
    std::unique_lock<std::mutex> l(mu->mu_, std::adopt_lock);
    const bool signalled = cv_.wait_for(l, absl::ToChronoNanoseconds(d)) == std::cv_status::no_timeout;
    l.release();
    return signalled;
  }
  void Signal() { cv_.notify_one(); }
  void SignalAll() { cv_.notify_all(); }

 private:
  std::condition_variable cv_;
};

}  // namespace grid

#endif  // GRID_STORAGE_SYNC_H_
