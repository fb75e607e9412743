#include "storage/audit_log.h"

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <atomic>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "storage/big_endian.h"
#include "storage/memory.h"
#include "storage/proto_time.h"
#include "storage/rocks_status.h"
#include "storage/sync.h"

namespace grid::storage {
namespace {

std::string Key(uint64_t seq) {
  std::string k;
  PutBigEndian64(&k, seq);
  return k;
}

// A record that should be there is not: the iterator's error, or (never
// expected: the newest record is never deleted) an internal error.
absl::Status TrimError(const rocksdb::Status& s) {
  if (!s.ok()) return FromRocks(s, "audit trim");
  return absl::InternalError("audit trim: a record vanished while trimming");
}

// (Every key is 8 bytes: this column family holds nothing else.)
uint64_t SeqOf(const rocksdb::Slice& k) { return k.size() < 8 ? 0 : GetBigEndian64(k.ToStringView()); }

// The record under a valid iterator; DATA_LOSS when it does not parse.
absl::Status ParseAt(const rocksdb::Iterator& it, grid::v1::AuditRecord* r) {
  if (r->ParseFromArray(it.value().data(), static_cast<int>(it.value().size()))) {
    return absl::OkStatus();
  }
  return absl::DataLossError(absl::StrCat("audit record ", SeqOf(it.key()), " does not parse"));
}

class RocksAuditLog final : public AuditLog {
 public:
  RocksAuditLog(std::unique_ptr<rocksdb::DB> db, uint64_t last, size_t max_queued)
      : db_(std::move(db)),
        max_queued_(std::max<size_t>(1, max_queued)),
        next_(last + 1),
        writer_([this] { RunWriter(); }) {}

  ~RocksAuditLog() override {
    {
      grid::MutexLock l(&mu_);
      stop_ = true;
    }
    queued_cv_.SignalAll();
    writer_.join();  // stores what is queued first
  }

  void Post(grid::v1::AuditRecord record) override {
    grid::MutexLock l(&mu_);
    if (queue_.size() >= max_queued_) {
      lost_.fetch_add(1);
      return;
    }
    Queue(std::move(record), false, nullptr);
  }

  void PostIntent(grid::v1::AuditRecord record, bool sync,
                  std::function<void(absl::Status)> stored) override {
    {
      grid::MutexLock l(&mu_);
      if (queue_.size() < max_queued_) {
        Queue(std::move(record), sync, std::move(stored));
        return;
      }
    }
    stored(absl::UnavailableError(
        "the access audit is behind (its disk is slow or full); the call was not run, retry"));
  }

  uint64_t lost() const override { return lost_.load(); }

  absl::Status Write(grid::v1::AuditRecord record, bool sync) override {
    const uint64_t seq = next_.fetch_add(1);
    record.set_seq(seq);
    rocksdb::WriteOptions wo;
    wo.sync = sync;
    rocksdb::Status s = db_->Put(wo, Key(seq), record.SerializeAsString());
    if (!s.ok()) {
      absl::Status st = FromRocks(s, "audit write");
      return absl::UnavailableError(absl::StrCat("the access audit cannot be written: ", st.message()));
    }
    return absl::OkStatus();
  }

  absl::Status Scan(uint64_t from,
                    const std::function<bool(const grid::v1::AuditRecord&)>& fn) const override {
    {
      grid::MutexLock l(&mu_);
      const uint64_t target = posted_;
      while (stored_ < target) stored_cv_.Wait(&mu_);
    }
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
    for (it->Seek(Key(from)); it->Valid(); it->Next()) {
      grid::v1::AuditRecord r;
      if (absl::Status st = ParseAt(*it, &r); !st.ok()) return st;
      if (!fn(r)) return absl::OkStatus();
    }
    return FromRocks(it->status(), "audit scan");
  }

  uint64_t last_seq() const override { return next_.load() - 1; }

  absl::StatusOr<uint64_t> Trim(absl::Time cutoff) override {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
    it->SeekToFirst();
    if (!it->Valid()) {
      if (!it->status().ok()) return FromRocks(it->status(), "audit trim");
      return 0;  // empty
    }
    const uint64_t first = SeqOf(it->key());
    // The newest record stays: it is where the seqs continue after a restart.
    it->SeekToLast();
    if (!it->Valid()) return TrimError(it->status());
    const uint64_t newest = SeqOf(it->key());
    // The first seq whose record (or the next one present: a failed write
    // leaves a gap) is stamped at or after the cutoff.
    uint64_t lo = first, hi = newest;
    while (lo < hi) {
      const uint64_t mid = lo + (hi - lo) / 2;
      it->Seek(Key(mid));
      if (!it->Valid()) return TrimError(it->status());
      grid::v1::AuditRecord r;
      if (absl::Status st = ParseAt(*it, &r); !st.ok()) return st;
      const absl::Time t = FromProtoTime(r.time());
      if (t >= cutoff) {
        hi = mid;
      } else {
        lo = std::min(SeqOf(it->key()) + 1, hi);
      }
    }
    if (lo == first) return 0;
    rocksdb::WriteOptions wo;
    rocksdb::Status s = db_->DeleteRange(wo, db_->DefaultColumnFamily(), Key(first), Key(lo));
    if (!s.ok()) return FromRocks(s, "audit trim");
    return lo - first;
  }

 private:
  // The writer thread: takes everything queued, stores it as one batch.
  void RunWriter() {
    std::vector<Queued> batch;
    for (;;) {
      {
        grid::MutexLock l(&mu_);
        stored_ += batch.size();
        if (!batch.empty()) stored_cv_.SignalAll();
        batch.clear();
        while (queue_.empty() && !stop_) queued_cv_.Wait(&mu_);
        if (queue_.empty()) return;  // stopping, nothing left
        batch.swap(queue_);
      }
      rocksdb::WriteBatch wb;
      rocksdb::WriteOptions wo;
      bool ok = true;
      for (const Queued& q : batch) {
        ok = ok && wb.Put(Key(q.seq), q.bytes).ok();
        wo.sync = wo.sync || q.sync;
      }
      rocksdb::Status s = ok ? db_->Write(wo, &wb) : rocksdb::Status::Corruption("batch too large");
      absl::Status st;
      if (!s.ok()) {
        st = absl::UnavailableError(
            absl::StrCat("the access audit cannot be written: ", FromRocks(s, "audit write").message()));
      }
      for (Queued& q : batch) {
        if (q.stored) {
          q.stored(st);
        } else if (!st.ok()) {
          lost_.fetch_add(1);
        }
      }
    }
  }

  void Queue(grid::v1::AuditRecord record, bool sync, std::function<void(absl::Status)> stored)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    record.set_seq(next_.fetch_add(1));
    queue_.push_back(Queued{record.seq(), record.SerializeAsString(), sync, std::move(stored)});
    ++posted_;
    if (queue_.size() == 1) queued_cv_.Signal();
  }

  struct Queued {
    uint64_t seq;
    std::string bytes;
    bool sync;
    std::function<void(absl::Status)> stored;  // null: best effort
  };

  std::unique_ptr<rocksdb::DB> db_;
  const size_t max_queued_;
  std::atomic<uint64_t> next_;
  std::atomic<uint64_t> lost_{0};
  mutable grid::Mutex mu_;
  mutable grid::CondVar queued_cv_, stored_cv_;
  std::vector<Queued> queue_ ABSL_GUARDED_BY(mu_);
  uint64_t posted_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t stored_ ABSL_GUARDED_BY(mu_) = 0;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread writer_;  // last: starts once the rest is built
};

}  // namespace

absl::StatusOr<std::unique_ptr<AuditLog>> AuditLog::Open(const std::string& path, rocksdb::Env* env,
                                                         size_t max_queued, const StorageMemory* memory) {
  rocksdb::Options options;
  options.create_if_missing = true;
  options.paranoid_checks = true;
  if (env != nullptr) options.env = env;
  if (memory != nullptr) {
    rocksdb::BlockBasedTableOptions table;
    memory->Apply(&options, &table);
    options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  }
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(options, path, &raw);
  if (!s.ok()) return FromRocks(s, "open the access audit");
  std::unique_ptr<rocksdb::DB> db(raw);
  uint64_t last = 0;
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions()));
  it->SeekToLast();
  if (it->Valid()) last = SeqOf(it->key());
  if (!it->status().ok()) return FromRocks(it->status(), "open the access audit");
  it.reset();
  return std::unique_ptr<AuditLog>(new RocksAuditLog(std::move(db), last, max_queued));
}

}  // namespace grid::storage
