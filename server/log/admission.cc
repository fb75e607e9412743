#include "server/log/admission.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace grid::server {

class DomainAdmission::Lookup : public domain::StateLookup {
 public:
  explicit Lookup(DomainAdmission* a) : a_(a) {}
  absl::StatusOr<const domain::AggregateState*> Get(const std::string& stream) override {
    return a_->Get(stream);
  }

 private:
  DomainAdmission* a_;
};

DomainAdmission::DomainAdmission(const storage::EventLog* log, size_t max_cached_streams)
    : log_(log), max_cached_(std::max<size_t>(max_cached_streams, 1)) {}

void DomainAdmission::BeginGroup() { touched_.clear(); }

void DomainAdmission::Drop(const std::string& stream) {
  auto it = cache_.find(stream);
  if (it == cache_.end()) return;
  lru_.erase(it->second.lru);
  cache_.erase(it);
}

void DomainAdmission::EndGroup(bool written) {
  // Not written: the states this group changed in place are no longer the
  // log's; they are dropped and load again from the log when next needed.
  if (!written) {
    for (const std::string& stream : touched_) Drop(stream);
  }
  touched_.clear();
  // Evicting only here: a caller may point at any state until the group ends.
  while (cache_.size() > max_cached_) {
    cache_.erase(lru_.back());
    lru_.pop_back();
  }
  cached_.store(cache_.size(), std::memory_order_relaxed);
}

void DomainAdmission::Applied(absl::Span<const storage::RecordPtr> records) {
  for (const storage::RecordPtr& r : records) Drop(r->stream);
  cached_.store(cache_.size(), std::memory_order_relaxed);
}

absl::StatusOr<domain::AggregateState> DomainAdmission::Load(const std::string& stream) const {
  domain::AggregateState state;
  uint64_t from = 0;
  for (;;) {
    auto records = log_->ReadStream(stream, from, storage::Direction::kForwards, 1000, 8 << 20);
    if (!records.ok()) return records.status();
    if (records->empty()) return state;
    for (const auto& r : *records) {
      grid::v1::Event e;
      if (!e.ParseFromString(r->wire)) {
        return absl::DataLossError(absl::StrCat("event at position ", r->position, " does not parse"));
      }
      domain::Apply(&state, e);
      from = r->stream_version + 1;
    }
  }
}

absl::StatusOr<domain::AggregateState*> DomainAdmission::Get(const std::string& stream) {
  if (auto it = cache_.find(stream); it != cache_.end()) {
    lru_.splice(lru_.begin(), lru_, it->second.lru);
    return &it->second.state;
  }
  auto loaded = Load(stream);
  if (!loaded.ok()) return loaded.status();
  lru_.push_front(stream);
  auto [it, _] = cache_.emplace(stream, Entry{std::move(*loaded), lru_.begin()});
  return &it->second.state;
}

absl::Status DomainAdmission::Authorize(const storage::AppendBatch& batch) {
  if (batch.scope == nullptr || batch.events.empty()) return absl::OkStatus();
  auto current = Get(batch.stream);
  if (!current.ok()) return current.status();
  Lookup lookup(this);
  absl::Status s = domain::CheckScope(*batch.scope, **current, batch.events[0], lookup);
  if (!s.ok()) {
    return absl::Status(s.code(), absl::StrCat("events[0] (", batch.events[0].type(), "): ", s.message()));
  }
  return absl::OkStatus();
}

absl::Status DomainAdmission::Admit(const storage::AppendBatch& batch) {
  auto current = Get(batch.stream);
  if (!current.ok()) return current.status();
  domain::AggregateState* state = *current;
  Lookup lookup(this);
  // Each event is checked against the state after the batch's earlier ones,
  // which are applied in place (a county's org state holds every grid: no
  // copy per batch); a refusal part way takes them out again.
  domain::ApplyUndo undo;
  for (size_t i = 0; i < batch.events.size(); ++i) {
    const grid::v1::Event& e = batch.events[i];
    // The scope first: the rules' refusals may describe the state.
    absl::Status s =
        batch.scope == nullptr ? absl::OkStatus() : domain::CheckScope(*batch.scope, *state, e, lookup);
    if (s.ok()) {
      s = domain::Check(*state, e, lookup);
      // A refusal says no more than the appender may read.
      if (!s.ok() && batch.scope != nullptr) s = domain::ForClearance(std::move(s), batch.scope->clearance);
    }
    if (!s.ok()) {
      undo.Restore(state);
      return absl::Status(s.code(), absl::StrCat("events[", i, "] (", e.type(), "): ", s.message()));
    }
    if (batch.events.size() > 1) undo.Record(*state, e);
    domain::Apply(state, e);
  }
  touched_.insert(batch.stream);
  return absl::OkStatus();
}

}  // namespace grid::server
