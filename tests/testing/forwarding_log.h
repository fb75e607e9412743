// ForwardingLog: an EventLog that passes every call to another one, for
// tests that inject a fault into a single method by overriding it (a disk
// full for checkpoints only, reads that fail a few times). Each call goes to
// the other log as it is: a fault put into ReadStream does not reach the
// other log's HasEventAt, which reads no record.
#ifndef GRID_TESTS_TESTING_FORWARDING_LOG_H_
#define GRID_TESTS_TESTING_FORWARDING_LOG_H_

#include "storage/event_log.h"

namespace grid::testing {

class ForwardingLog : public storage::EventLog {
 public:
  // `base` must outlive this object.
  explicit ForwardingLog(storage::EventLog* base) : base_(base) {}

  using EventLog::Commit;
  storage::CommitResult Commit(absl::Span<storage::AppendBatch* const> b, absl::Time now,
                               storage::BatchAdmission* a, storage::GroupReplicator* r) override {
    return base_->Commit(b, now, a, r);
  }
  storage::CommitResult CommitUnsynced(absl::Span<storage::AppendBatch* const> b, absl::Time now,
                                       storage::BatchAdmission* a, storage::GroupReplicator* r) override {
    return base_->CommitUnsynced(b, now, a, r);
  }
  absl::Status Sync() override { return base_->Sync(); }
  absl::StatusOr<std::vector<storage::RecordPtr>> Apply(storage::Position first,
                                                        absl::Span<const std::string> wires) override {
    return base_->Apply(first, wires);
  }
  absl::StatusOr<std::vector<storage::RecordPtr>> ReadAll(storage::Position from, storage::Direction d,
                                                          size_t n, size_t bytes) const override {
    return base_->ReadAll(from, d, n, bytes);
  }
  absl::StatusOr<std::vector<storage::RecordPtr>> ReadStream(const std::string& s, uint64_t v,
                                                             storage::Direction d, size_t n,
                                                             size_t bytes) const override {
    return base_->ReadStream(s, v, d, n, bytes);
  }
  absl::StatusOr<std::optional<uint64_t>> StreamHead(const std::string& s) const override {
    return base_->StreamHead(s);
  }
  absl::StatusOr<bool> HasEventAt(const std::string& s, uint64_t v, const std::string& id) const override {
    return base_->HasEventAt(s, v, id);
  }
  absl::StatusOr<std::optional<std::string>> ReadState(const std::string& s) const override {
    return base_->ReadState(s);
  }
  absl::Status PutStates(absl::Span<const std::pair<std::string, std::string>> entries) override {
    return base_->PutStates(entries);
  }
  absl::StatusOr<storage::Position> PositionAtTime(absl::Time t, storage::Direction d) const override {
    return base_->PositionAtTime(t, d);
  }
  storage::Head GetHead() const override { return base_->GetHead(); }
  absl::Status WriteHealth() const override { return base_->WriteHealth(); }
  storage::StorageStats GetStorageStats() const override { return base_->GetStorageStats(); }
  absl::Status Backup(const std::string& dir) const override { return base_->Backup(dir); }
  absl::Status PutCheckpoint(storage::Position p, const std::string& v) override {
    return base_->PutCheckpoint(p, v);
  }
  absl::StatusOr<std::vector<std::pair<storage::Position, std::string>>> ReadCheckpoints(
      storage::Position from, size_t n) const override {
    return base_->ReadCheckpoints(from, n);
  }

 private:
  storage::EventLog* const base_;
};

}  // namespace grid::testing

#endif  // GRID_TESTS_TESTING_FORWARDING_LOG_H_
