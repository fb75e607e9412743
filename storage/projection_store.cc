#include "storage/projection_store.h"

#include <algorithm>

#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>

#include "storage/big_endian.h"
#include "storage/insert_hint.h"
#include "storage/memory.h"
#include "storage/rocks_status.h"

namespace grid::storage {
namespace {

enum Cf { kRows, kChanges, kMeta, kNumCfs };
const char* const kCfNames[kNumCfs] = {"rows", "changes", "meta"};

std::string NamePrefix(const std::string& name) { return name + '\0'; }

std::string RowKey(const std::string& name, const std::string& key, Position p) {
  std::string k = NamePrefix(name);
  k.append(key);
  k.push_back('\0');
  PutBigEndian64(&k, ~p);
  return k;
}

std::string ChangeKey(const std::string& name, Position p, const std::string& key) {
  std::string k = NamePrefix(name);
  PutBigEndian64(&k, p);
  k.append(key);
  return k;
}

bool StartsWith(const rocksdb::Slice& s, const std::string& prefix) {
  return s.size() >= prefix.size() && memcmp(s.data(), prefix.data(), prefix.size()) == 0;
}

// The reads of the store, through one RocksDB snapshot or none (the
// latest data).
class Reads final : public ProjectionReader {
 public:
  Reads(rocksdb::DB* db, const std::vector<rocksdb::ColumnFamilyHandle*>* cfs,
        const rocksdb::Snapshot* snapshot = nullptr)
      : db_(db), cfs_(*cfs), snapshot_(snapshot) {}

  absl::StatusOr<Position> Checkpoint(const std::string& name) const override {
    std::string v;
    rocksdb::Status s = db_->Get(Options(), cfs_[kMeta], name, &v);
    if (s.IsNotFound()) return Position{0};
    if (!s.ok()) return FromRocks(s, "projection checkpoint");
    if (v.size() != 8) return absl::DataLossError("bad projection checkpoint");
    return GetBigEndian64(v);
  }

  absl::StatusOr<std::optional<RowVersion>> Get(const std::string& name, const std::string& key,
                                                Position at) const override {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(Options(), cfs_[kRows]));
    auto r = Seek(it.get(), name, key, at);
    if (!r.ok()) return r.status();
    if (*r && !(*r)->value) return std::nullopt;
    return *r;
  }

  absl::Status Scan(const std::string& name, const std::string& prefix, Position at,
                    const std::function<bool(const RowVersion&)>& fn,
                    const std::string& start_after) const override {
    rocksdb::ReadOptions ro = Options();
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, cfs_[kRows]));
    const std::string scope = NamePrefix(name) + prefix;
    it->Seek(start_after.empty() ? scope : std::max(scope, NamePrefix(name) + start_after + '\1'));
    while (it->Valid() && StartsWith(it->key(), scope)) {
      const rocksdb::Slice k = it->key();
      if (k.size() < scope.size() + 9) return absl::DataLossError("bad projection row key");
      const std::string key(k.data() + name.size() + 1, k.size() - name.size() - 1 - 9);
      auto r = Seek(it.get(), name, key, at);
      if (!r.ok()) return r.status();
      if (*r && (*r)->value && !fn(**r)) return absl::OkStatus();
      // Past every version of `key`: keys hold no \0 or \1.
      it->Seek(NamePrefix(name) + key + '\1');
    }
    return FromRocks(it->status(), "projection scan");
  }

  absl::Status Changes(const std::string& name, Position after, Position through,
                       const std::function<bool(const RowVersion&)>& fn) const override {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(Options(), cfs_[kChanges]));
    std::unique_ptr<rocksdb::Iterator> rows(db_->NewIterator(Options(), cfs_[kRows]));
    const std::string scope = NamePrefix(name);
    std::string start = scope;
    PutBigEndian64(&start, after + 1);
    for (it->Seek(start); it->Valid() && StartsWith(it->key(), scope); it->Next()) {
      const rocksdb::Slice k = it->key();
      if (k.size() < scope.size() + 8) return absl::DataLossError("bad projection change key");
      const Position p = GetBigEndian64(std::string_view(k.data() + scope.size(), 8));
      if (p > through) break;
      const std::string key(k.data() + scope.size() + 8, k.size() - scope.size() - 8);
      auto r = Seek(rows.get(), name, key, p);
      if (!r.ok()) return r.status();
      if (!*r || (*r)->position != p) return absl::DataLossError("projection change without its row version");
      if (!fn(**r)) return absl::OkStatus();
    }
    return FromRocks(it->status(), "projection changes");
  }

  // The newest version of `key` at or before `at` (a deleted one too).
  absl::StatusOr<std::optional<RowVersion>> Seek(rocksdb::Iterator* it, const std::string& name,
                                                 const std::string& key, Position at) const {
    const std::string head = NamePrefix(name) + key + '\0';
    it->Seek(RowKey(name, key, at));
    if (!it->Valid()) {
      if (!it->status().ok()) return FromRocks(it->status(), "projection read");
      return std::nullopt;
    }
    const rocksdb::Slice k = it->key();
    if (k.size() != head.size() + 8 || !StartsWith(k, head)) return std::nullopt;
    RowVersion r;
    r.key = key;
    r.position = ~GetBigEndian64(std::string_view(k.data() + head.size(), 8));
    const rocksdb::Slice v = it->value();
    if (v.empty()) return absl::DataLossError("empty projection row");
    if (v[0] == '\1') r.value = std::string(v.data() + 1, v.size() - 1);
    return r;
  }

 private:
  rocksdb::ReadOptions Options() const {
    rocksdb::ReadOptions ro;
    ro.snapshot = snapshot_;
    return ro;
  }

  rocksdb::DB* const db_;
  const std::vector<rocksdb::ColumnFamilyHandle*>& cfs_;
  const rocksdb::Snapshot* const snapshot_;
};

// Reads through a snapshot it holds (and releases).
class SnapshotReads final : public ProjectionReader {
 public:
  SnapshotReads(rocksdb::DB* db, const std::vector<rocksdb::ColumnFamilyHandle*>& cfs)
      : db_(db), snapshot_(db->GetSnapshot()), reads_(db, &cfs, snapshot_) {}
  ~SnapshotReads() override { db_->ReleaseSnapshot(snapshot_); }

  absl::StatusOr<Position> Checkpoint(const std::string& name) const override {
    return reads_.Checkpoint(name);
  }
  absl::StatusOr<std::optional<RowVersion>> Get(const std::string& name, const std::string& key,
                                                Position at) const override {
    return reads_.Get(name, key, at);
  }
  absl::Status Scan(const std::string& name, const std::string& prefix, Position at,
                    const std::function<bool(const RowVersion&)>& fn,
                    const std::string& start_after) const override {
    return reads_.Scan(name, prefix, at, fn, start_after);
  }
  absl::Status Changes(const std::string& name, Position after, Position through,
                       const std::function<bool(const RowVersion&)>& fn) const override {
    return reads_.Changes(name, after, through, fn);
  }

 private:
  rocksdb::DB* const db_;
  const rocksdb::Snapshot* const snapshot_;
  const Reads reads_;
};

class RocksProjectionStore final : public ProjectionStore {
 public:
  RocksProjectionStore(std::unique_ptr<rocksdb::DB> db, std::vector<rocksdb::ColumnFamilyHandle*> cfs)
      : db_(std::move(db)), cfs_(std::move(cfs)) {}
  ~RocksProjectionStore() override {
    // Flushed on close so that the next open replays no WAL.
    db_->Flush(rocksdb::FlushOptions(), cfs_).PermitUncheckedError();
    for (auto* cf : cfs_) db_->DestroyColumnFamilyHandle(cf);
    db_->Close().PermitUncheckedError();
  }

  absl::Status Apply(const std::vector<Write>& writes) override {
    // Rows go into the batch in key order: the memtable's skiplist reuses
    // its insert position for ascending keys, and a run's versions are
    // otherwise scattered across keys (the costliest part of a write).
    std::vector<std::pair<std::string, std::string>> rows;
    rocksdb::WriteBatch wb;
    for (const auto& w : writes) {
      for (const auto& r : w.rows) {
        std::string v;
        if (r.value) {
          v.reserve(r.value->size() + 1);
          v.push_back('\1');
          v.append(*r.value);
        } else {
          v.push_back('\0');
        }
        rows.emplace_back(RowKey(w.name, r.key, r.position), std::move(v));
        wb.Put(cfs_[kChanges], ChangeKey(w.name, r.position, r.key), "");
      }
      std::string ck;
      PutBigEndian64(&ck, w.checkpoint);
      wb.Put(cfs_[kMeta], w.name, ck);
    }
    std::sort(rows.begin(), rows.end());
    for (const auto& [k, v] : rows) wb.Put(cfs_[kRows], k, v);
    return FromRocks(db_->Write(rocksdb::WriteOptions(), &wb), "projection write");
  }

  StorageStats GetStorageStats() const override { return ReadStorageStats(db_.get()); }
  absl::Status Backup(const std::string& dir) const override { return CheckpointTo(db_.get(), dir); }

  absl::Status Reset(const std::string& name) override {
    std::string begin = NamePrefix(name);
    std::string end = name + '\1';
    rocksdb::WriteBatch wb;
    wb.DeleteRange(cfs_[kRows], begin, end);
    wb.DeleteRange(cfs_[kChanges], begin, end);
    wb.Delete(cfs_[kMeta], name);
    return FromRocks(db_->Write(rocksdb::WriteOptions(), &wb), "projection reset");
  }

  absl::StatusOr<Position> Checkpoint(const std::string& name) const override {
    return reads_.Checkpoint(name);
  }
  absl::StatusOr<std::optional<RowVersion>> Get(const std::string& name, const std::string& key,
                                                Position at) const override {
    return reads_.Get(name, key, at);
  }
  absl::Status Scan(const std::string& name, const std::string& prefix, Position at,
                    const std::function<bool(const RowVersion&)>& fn,
                    const std::string& start_after) const override {
    return reads_.Scan(name, prefix, at, fn, start_after);
  }
  absl::Status Changes(const std::string& name, Position after, Position through,
                       const std::function<bool(const RowVersion&)>& fn) const override {
    return reads_.Changes(name, after, through, fn);
  }

  std::unique_ptr<ProjectionReader> Snapshot() const override {
    return std::make_unique<SnapshotReads>(db_.get(), cfs_);
  }

 private:
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> cfs_;
  const Reads reads_{db_.get(), &cfs_};  // after db_ and cfs_
};

}  // namespace

absl::StatusOr<std::unique_ptr<ProjectionStore>> ProjectionStore::Open(const std::string& path,
                                                                       rocksdb::Env* env,
                                                                       const StorageMemory* memory) {
  rocksdb::DBOptions db_options;
  db_options.create_if_missing = true;
  db_options.create_missing_column_families = true;
  db_options.paranoid_checks = true;
  if (env != nullptr) db_options.env = env;
  rocksdb::BlockBasedTableOptions table;
  if (memory != nullptr) {
    memory->Apply(&db_options, &table);
  } else {
    table.block_cache = rocksdb::NewLRUCache(32 << 20);
  }
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  std::vector<rocksdb::ColumnFamilyDescriptor> descs;
  for (int i = 0; i < kNumCfs; ++i) {
    rocksdb::ColumnFamilyOptions cf;
    cf.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
    // A projection's changes are inserted after its previous ones
    // (storage/insert_hint.h).
    if (i == kChanges) cf.memtable_insert_with_hint_prefix_extractor = std::make_shared<NameTransform>();
    descs.emplace_back(kCfNames[i], cf);
  }
  descs.emplace_back(rocksdb::kDefaultColumnFamilyName, rocksdb::ColumnFamilyOptions());
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(db_options, path, descs, &handles, &raw);
  if (!s.ok()) return FromRocks(s, "open projection store");
  std::unique_ptr<rocksdb::DB> db(raw);
  db->DestroyColumnFamilyHandle(handles.back());
  handles.pop_back();
  return std::unique_ptr<ProjectionStore>(new RocksProjectionStore(std::move(db), std::move(handles)));
}

}  // namespace grid::storage
