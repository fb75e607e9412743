// A RocksDB Env that fails appends and syncs of write-ahead-log files on
// demand, to test that a failed commit is never acknowledged and that the
// log turns read-only. (The full fault-injection Env, with simulated power
// cuts, belongs to the reliability work.)
#ifndef GRID_TESTS_TESTING_FAILING_ENV_H_
#define GRID_TESTS_TESTING_FAILING_ENV_H_

#include <rocksdb/env.h>

#include <atomic>
#include <memory>
#include <string>

#include "absl/strings/match.h"

namespace grid::testing {

class FailingEnv : public rocksdb::EnvWrapper {
 public:
  explicit FailingEnv(rocksdb::Env* base) : rocksdb::EnvWrapper(base) {}
  static const char* kClassName() { return "GridFailingEnv"; }
  const char* Name() const override { return kClassName(); }

  // While set, appends and syncs to WAL files fail with an I/O error.
  std::atomic<bool> fail_wal{false};

  rocksdb::Status NewWritableFile(const std::string& f,
                                  std::unique_ptr<rocksdb::WritableFile>* r,
                                  const rocksdb::EnvOptions& o) override {
    rocksdb::Status s = target()->NewWritableFile(f, r, o);
    if (s.ok() && absl::EndsWith(f, ".log")) {
      r->reset(new File(std::move(*r), &fail_wal));
    }
    return s;
  }

 private:
  class File : public rocksdb::WritableFile {
   public:
    File(std::unique_ptr<rocksdb::WritableFile> base, std::atomic<bool>* fail)
        : base_(std::move(base)), fail_(fail) {}
    using rocksdb::WritableFile::Append;
    rocksdb::Status Append(const rocksdb::Slice& data) override {
      if (fail_->load()) return rocksdb::Status::IOError("injected WAL append failure");
      return base_->Append(data);
    }
    rocksdb::Status Close() override { return base_->Close(); }
    rocksdb::Status Flush() override {
      if (fail_->load()) return rocksdb::Status::IOError("injected WAL flush failure");
      return base_->Flush();
    }
    rocksdb::Status Sync() override {
      if (fail_->load()) return rocksdb::Status::IOError("injected WAL sync failure");
      return base_->Sync();
    }
    rocksdb::Status Fsync() override { return Sync(); }
    uint64_t GetFileSize() override { return base_->GetFileSize(); }
    rocksdb::Status Truncate(uint64_t size) override { return base_->Truncate(size); }
    bool IsSyncThreadSafe() const override { return base_->IsSyncThreadSafe(); }
    void SetPreallocationBlockSize(size_t size) override {
      base_->SetPreallocationBlockSize(size);
    }
    void PrepareWrite(size_t offset, size_t len) override {
      base_->PrepareWrite(offset, len);
    }
    rocksdb::Status Allocate(uint64_t offset, uint64_t len) override {
      return base_->Allocate(offset, len);
    }
    rocksdb::Status RangeSync(uint64_t offset, uint64_t nbytes) override {
      return base_->RangeSync(offset, nbytes);
    }

   private:
    std::unique_ptr<rocksdb::WritableFile> base_;
    std::atomic<bool>* fail_;
  };
};

}  // namespace grid::testing

#endif  // GRID_TESTS_TESTING_FAILING_ENV_H_
