#include "storage/audit_log.h"

#include <rocksdb/db.h>
#include <rocksdb/options.h>

#include <atomic>

#include "absl/strings/str_cat.h"
#include "storage/rocks_status.h"

namespace grid::storage {
namespace {

std::string Key(uint64_t seq) {
  std::string k(8, '\0');
  for (int i = 7; i >= 0; --i, seq >>= 8) k[i] = static_cast<char>(seq & 0xff);
  return k;
}

uint64_t SeqOf(const rocksdb::Slice& k) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8 && i < k.size(); ++i) v = (v << 8) | static_cast<uint8_t>(k[i]);
  return v;
}

class RocksAuditLog final : public AuditLog {
 public:
  RocksAuditLog(std::unique_ptr<rocksdb::DB> db, uint64_t last) : db_(std::move(db)), next_(last + 1) {}

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
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
    for (it->Seek(Key(from)); it->Valid(); it->Next()) {
      grid::v1::AuditRecord r;
      if (!r.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
        return absl::DataLossError(absl::StrCat("audit record ", SeqOf(it->key()), " does not parse"));
      }
      if (!fn(r)) return absl::OkStatus();
    }
    return FromRocks(it->status(), "audit scan");
  }

  uint64_t last_seq() const override { return next_.load() - 1; }

 private:
  std::unique_ptr<rocksdb::DB> db_;
  std::atomic<uint64_t> next_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<AuditLog>> AuditLog::Open(const std::string& path, rocksdb::Env* env) {
  rocksdb::Options options;
  options.create_if_missing = true;
  options.paranoid_checks = true;
  if (env != nullptr) options.env = env;
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
  return std::unique_ptr<AuditLog>(new RocksAuditLog(std::move(db), last));
}

}  // namespace grid::storage
