// FaultInjectionEnv: a RocksDB Env wrapper for crash and I/O-fault tests,
// after LevelDB's FaultInjectionTestEnv.
//
// It records, per file it created, how many bytes were written and how many
// were synced, and whether the directory entry was made durable (a directory
// fsync after creation). DropUnsyncedData() then does what a power cut does:
// truncates every file to its synced length and deletes files whose creation
// was never made durable. It can also fail chosen operations — the Nth or
// every Nth write, sync, file creation, rename or directory sync, optionally
// only for files whose name contains a pattern, or each with a probability —
// and "cut the power" at the Nth sync or write: that operation and every
// later mutating operation fail until SetActive(true).
//
// Reads are not intercepted. Thread-safe.
#ifndef GRID_TESTS_TESTING_FAULT_ENV_H_
#define GRID_TESTS_TESTING_FAULT_ENV_H_

#include <rocksdb/env.h>

#include <array>
#include <atomic>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "storage/sync.h"

namespace grid::testing {

class FaultInjectionEnv : public rocksdb::EnvWrapper {
 public:
  enum Op { kWrite, kSync, kCreate, kRename, kDirSync, kNumOps };

  struct Rule {
    Op op = kWrite;
    // Only files (or directories) whose name contains this; "" = all.
    std::string pattern;
    uint64_t nth = 0;        // fail the nth matching operation (1-based)
    uint64_t every = 0;      // fail every Nth matching operation
    double probability = 0;  // fail each matching operation with this chance
  };

  explicit FaultInjectionEnv(rocksdb::Env* base, uint64_t seed = 1);
  static const char* kClassName() { return "GridFaultInjectionEnv"; }
  const char* Name() const override { return kClassName(); }

  void AddRule(Rule rule);
  void ClearRules();
  // After `n` more operations of kind `op` (kSync or kWrite) the power goes:
  // the n-th fails and so does every later mutating operation. 0 = never.
  void CutPowerAfter(Op op, uint64_t n);
  void SetActive(bool active);
  bool active() const;
  // Whether its files say they can sync while being written (RocksDB's
  // SyncWAL() needs it); true by default, false as an in-memory Env's do.
  void SetSyncThreadSafe(bool safe) { sync_thread_safe_.store(safe); }
  bool sync_thread_safe() const { return sync_thread_safe_.load(); }
  // A stalled disk: while held, every write blocks (in the writing thread)
  // until Release().
  void HoldWrites() { Hold(kWrite, ""); }
  // The same for operations `op` on files whose name contains `pattern`
  // (e.g. the WAL's syncs). Rules are applied after the hold: one added
  // while an operation is held applies to it.
  void Hold(Op op, std::string pattern);
  void Release();
  // Operations blocked by the hold now.
  int held_writes() const;
  // Waits until `n` operations are held, or `timeout`; whether they are.
  bool AwaitHeld(int n, absl::Duration timeout);
  // Operations `op` on files whose name contains `pattern` so far (held
  // ones once they go on).
  uint64_t ops(Op op, const std::string& pattern) const;
  // Waits until ops(op, pattern) >= n, or `timeout`; whether it is.
  bool AwaitOps(Op op, const std::string& pattern, uint64_t n, absl::Duration timeout);

  // The power cut itself. REQUIRES: no DB is open on this env.
  rocksdb::Status DropUnsyncedData();

  uint64_t injected_failures() const;
  uint64_t count(Op op) const;

  // rocksdb::Env
  rocksdb::Status NewWritableFile(const std::string& f, std::unique_ptr<rocksdb::WritableFile>* r,
                                  const rocksdb::EnvOptions& o) override;
  rocksdb::Status ReopenWritableFile(const std::string& f, std::unique_ptr<rocksdb::WritableFile>* r,
                                     const rocksdb::EnvOptions& o) override;
  rocksdb::Status NewDirectory(const std::string& name, std::unique_ptr<rocksdb::Directory>* r) override;
  rocksdb::Status RenameFile(const std::string& src, const std::string& dst) override;
  rocksdb::Status DeleteFile(const std::string& f) override;

  // Called by the file and directory wrappers: OK, or the injected error.
  rocksdb::Status Check(Op op, const std::string& name);
  void OnAppend(const std::string& name, uint64_t n);
  void OnSync(const std::string& name);
  void OnDirSync(const std::string& dir);

 private:
  struct FileState {
    uint64_t size = 0;
    uint64_t synced = 0;
    bool dir_synced = false;
  };
  rocksdb::Status WrapNew(const std::string& f, std::unique_ptr<rocksdb::WritableFile>* r, bool existed);

  mutable grid::Mutex mu_;
  std::map<std::string, FileState> files_ ABSL_GUARDED_BY(mu_);
  std::vector<Rule> rules_ ABSL_GUARDED_BY(mu_);
  std::vector<uint64_t> rule_hits_ ABSL_GUARDED_BY(mu_);
  uint64_t counts_[kNumOps] ABSL_GUARDED_BY(mu_) = {};
  Op cut_op_ ABSL_GUARDED_BY(mu_) = kSync;
  uint64_t cut_at_ ABSL_GUARDED_BY(mu_) = 0;  // absolute count of cut_op_
  bool active_ ABSL_GUARDED_BY(mu_) = true;
  uint64_t OpsLocked(Op op, const std::string& pattern) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool hold_ ABSL_GUARDED_BY(mu_) = false;
  Op hold_op_ ABSL_GUARDED_BY(mu_) = kWrite;
  std::string hold_pattern_ ABSL_GUARDED_BY(mu_);
  int held_ ABSL_GUARDED_BY(mu_) = 0;
  grid::CondVar released_;
  grid::CondVar changed_;  // held_ or an operation count changed
  std::map<std::string, std::array<uint64_t, kNumOps>> ops_ ABSL_GUARDED_BY(mu_);  // by file name
  uint64_t injected_ ABSL_GUARDED_BY(mu_) = 0;
  std::mt19937_64 rng_ ABSL_GUARDED_BY(mu_);
  std::atomic<bool> sync_thread_safe_{true};
};

}  // namespace grid::testing

#endif  // GRID_TESTS_TESTING_FAULT_ENV_H_
