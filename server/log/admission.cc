#include "server/log/admission.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "domain/state_codec.h"

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

// A stream's members in the log's state store: "<stream>\0<member key>"
// (stream names are printable: no other stream's key or snapshot is there).
class DomainAdmission::Members : public domain::MemberStore {
 public:
  Members(DomainAdmission* a, std::string stream) : a_(a), stream_(std::move(stream)) {}
  std::optional<std::string> Read(absl::string_view key) const override {
    a_->member_reads_.fetch_add(1, std::memory_order_relaxed);
    auto v = a_->log_->ReadState(MemberKey(stream_, key));
    if (!v.ok()) {
      if (a_->member_error_.ok()) a_->member_error_ = v.status();
      return std::nullopt;
    }
    return *std::move(v);
  }
  void Corrupt(absl::string_view key) const override {
    if (a_->member_error_.ok()) {
      // (Names no stream: the one asked about may not be the caller's.)
      a_->member_error_ = absl::DataLossError(
          absl::StrCat("a stored member of a state does not decode (", key.size(), " bytes)"));
    }
  }
  static std::string MemberKey(absl::string_view stream, absl::string_view key) {
    std::string k(stream);
    k.push_back('\0');
    k.append(key.data(), key.size());
    return k;
  }

 private:
  DomainAdmission* const a_;
  const std::string stream_;
};

std::shared_ptr<const domain::MemberStore> DomainAdmission::MembersOf(const std::string& stream) {
  return std::make_shared<const Members>(this, stream);
}

absl::Status DomainAdmission::TakeMemberError() { return std::exchange(member_error_, absl::OkStatus()); }

DomainAdmission::DomainAdmission(const storage::EventLog* log, size_t max_cached_streams, bool snapshots)
    : log_(log), max_cached_(std::max<size_t>(max_cached_streams, 1)), snapshots_(snapshots) {}

void DomainAdmission::BeginGroup() {
  touched_.clear();
  loaded_.clear();
  snapshotted_.clear();
  members_written_.clear();
  member_error_ = absl::OkStatus();
}

DomainAdmission::Stats DomainAdmission::GetStats() const {
  Stats s;
  s.loads = loads_.load(std::memory_order_relaxed);
  s.loaded_snapshots = loaded_snapshots_.load(std::memory_order_relaxed);
  s.folded_events = folded_events_.load(std::memory_order_relaxed);
  s.stored_snapshots = stored_snapshots_.load(std::memory_order_relaxed);
  s.stored_snapshot_bytes = stored_snapshot_bytes_.load(std::memory_order_relaxed);
  s.stored_members = stored_members_.load(std::memory_order_relaxed);
  s.member_reads = member_reads_.load(std::memory_order_relaxed);
  return s;
}

void DomainAdmission::Snapshots(std::vector<std::pair<std::string, std::string>>* out) {
  if (!snapshots_) return;
  auto consider = [&](const std::string& stream) {
    auto it = cache_.find(stream);
    if (it == cache_.end() || poisoned_.contains(stream)) return;
    Entry& e = it->second;
    // Its members not stored yet go with this write (a state that came
    // into being in this group gets its store now).
    PutMembers(stream, &e, out);
    const uint64_t every = std::max(kSnapshotEveryEvents, e.snapshot_bytes / kSnapshotBytesPerEvent);
    const bool due = e.state.events >= e.snapshot_events + every;
    if (!due && e.folded == 0) return;
    std::string bytes = domain::EncodeSnapshot(e.last_event_id, e.state);
    // A load that folded events stores what it built, so that the next
    // miss does not read them again, unless that writes more than
    // kSnapshotBytesPerFoldedEvent for each event it saves reading.
    if (!due && bytes.size() > e.folded * kSnapshotBytesPerFoldedEvent) {
      e.folded = 0;  // not encoded again at every write until it is due
      return;
    }
    PutSnapshot(stream, e, std::move(bytes), out);
  };
  for (const std::string& stream : touched_) consider(stream);
  for (const std::string& stream : loaded_) {
    if (!touched_.contains(stream)) consider(stream);
  }
  // The states this group's end evicts keep what they hold, with this write.
  size_t evicted = cache_.size() > max_cached_ ? cache_.size() - max_cached_ : 0;
  for (auto it = lru_.rbegin(); evicted > 0 && it != lru_.rend(); ++it, --evicted) {
    if (!touched_.contains(*it) && !loaded_.contains(*it)) Keep(*it, out);
  }
}

bool DomainAdmission::Keep(const std::string& stream, std::vector<std::pair<std::string, std::string>>* out) {
  auto it = cache_.find(stream);
  if (it == cache_.end() || poisoned_.contains(stream)) return false;
  Entry& e = it->second;
  const uint64_t unstored = e.state.events - e.snapshot_events;
  if (unstored == 0) return false;
  // Members a write that was not made left unstored go with it: the
  // snapshot names them as in the store.
  domain::AttachMemberStore(&e.state, [&] { return MembersOf(stream); });
  std::string bytes = domain::EncodeSnapshot(e.last_event_id, e.state);
  if (bytes.size() > unstored * kSnapshotBytesPerFoldedEvent) return false;
  PutMembers(stream, &e, out);
  PutSnapshot(stream, e, std::move(bytes), out);
  return true;
}

void DomainAdmission::PutMembers(const std::string& stream, Entry* e,
                                 std::vector<std::pair<std::string, std::string>>* out) {
  domain::AttachMemberStore(&e->state, [&] { return MembersOf(stream); });
  std::vector<std::pair<std::string, std::string>> members;
  domain::DirtyMembers(e->state, &members);
  for (auto& [key, value] : members) out->emplace_back(Members::MemberKey(stream, key), std::move(value));
  if (!members.empty()) members_written_.emplace_back(stream, members.size());
}

void DomainAdmission::PutSnapshot(const std::string& stream, const Entry& e, std::string bytes,
                                  std::vector<std::pair<std::string, std::string>>* out) {
  snapshotted_.emplace_back(stream, std::make_pair(e.state.events, bytes.size()));
  out->emplace_back(stream, std::move(bytes));
}

size_t DomainAdmission::TakeCached(std::vector<std::pair<std::string, std::string>>* out) {
  if (!snapshots_) return 0;
  size_t kept = 0;
  for (const std::string& stream : lru_) kept += Keep(stream, out) ? 1 : 0;
  snapshotted_.clear();
  members_written_.clear();
  return kept;
}

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
  } else {
    for (const auto& [stream, count] : members_written_) {
      stored_members_.fetch_add(count, std::memory_order_relaxed);
      auto it = cache_.find(stream);
      if (it == cache_.end()) continue;
      domain::MembersPersisted(&it->second.state);
    }
    for (const auto& [stream, stored] : snapshotted_) {
      auto it = cache_.find(stream);
      if (it == cache_.end()) continue;
      it->second.snapshot_events = stored.first;
      it->second.snapshot_bytes = stored.second;
      it->second.folded = 0;
      stored_snapshots_.fetch_add(1, std::memory_order_relaxed);
      stored_snapshot_bytes_.fetch_add(stored.second, std::memory_order_relaxed);
    }
  }
  for (const std::string& stream : poisoned_) Drop(stream);
  poisoned_.clear();
  touched_.clear();
  loaded_.clear();
  snapshotted_.clear();
  members_written_.clear();
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

absl::StatusOr<DomainAdmission::Loaded> DomainAdmission::Load(const std::string& stream) {
  absl::StatusOr<Loaded> loaded = LoadFolded(stream);
  // A member read that failed while folding fails the load, whichever way
  // the fold ended (and is not left for the next batch to trip over).
  absl::Status read = TakeMemberError();
  if (!loaded.ok()) return loaded.status();
  if (!read.ok()) return read;
  return loaded;
}

absl::StatusOr<DomainAdmission::Loaded> DomainAdmission::LoadFolded(const std::string& stream) {
  loads_.fetch_add(1, std::memory_order_relaxed);
  Loaded loaded;
  auto head = log_->StreamHead(stream);
  if (!head.ok()) return head.status();
  if (!head->has_value()) {  // a new stream: nothing stored, nothing to fold
    if (snapshots_) domain::AttachMemberStore(&loaded.state, [&] { return MembersOf(stream); });
    return loaded;
  }
  const uint64_t last = **head;
  absl::StatusOr<std::optional<std::string>> snapshot = std::nullopt;
  if (snapshots_) snapshot = log_->ReadState(stream);
  if (!snapshot.ok()) return snapshot.status();
  if (*snapshot) {
    // Used only if it is of this format (the rules' states or folds did not
    // change since it was stored) and the stream's event at its last
    // version is the one it says it holds (two index lookups); otherwise
    // the stream is folded from its first event. Neither happens but after
    // a change of the rules, yet a state that disagrees with the log is
    // never used.
    std::optional<domain::Snapshot> decoded = domain::DecodeSnapshot(**snapshot);
    if (decoded && decoded->state.events > 0 && decoded->state.events - 1 <= last) {
      auto same = log_->HasEventAt(stream, decoded->state.events - 1, decoded->last_event_id);
      if (!same.ok()) return same.status();
      if (*same) {
        loaded.state = std::move(decoded->state);
        // Its members are in the store: the events after it read them there.
        domain::AttachMemberStore(&loaded.state, [&] { return MembersOf(stream); });
        loaded.last_event_id = std::move(decoded->last_event_id);
        loaded.snapshot_events = loaded.state.events;
        loaded.snapshot_bytes = (*snapshot)->size();
        loaded_snapshots_.fetch_add(1, std::memory_order_relaxed);
      }
    }
  }
  // Versions are dense from 0: the state holds versions [0, events).
  uint64_t from = loaded.state.events;
  while (from <= last) {
    auto records = log_->ReadStream(stream, from, storage::Direction::kForwards,
                                    std::min<uint64_t>(1000, last - from + 1), 8 << 20);
    if (!records.ok()) return records.status();
    if (records->empty()) {
      // The head said there was more: the log's read bound went back (its
      // write failed meanwhile). A state short of the log is never cached.
      return absl::UnavailableError(
          absl::StrCat("the log ended at version ", from, " of a stream whose head is ", last, "; retry"));
    }
    for (const auto& r : *records) {
      if (r->stream_version != from) {
        return absl::DataLossError(absl::StrCat("stream '", stream, "' has version ", r->stream_version,
                                                " where ", from, " was expected"));
      }
      grid::v1::Event e;
      if (!e.ParseFromString(r->wire)) {
        return absl::DataLossError(absl::StrCat("event at position ", r->position, " does not parse"));
      }
      domain::Apply(&loaded.state, e);
      loaded.last_event_id = e.event_id();
      folded_events_.fetch_add(1, std::memory_order_relaxed);
      ++loaded.folded;
      from = r->stream_version + 1;
    }
  }
  // A fold from the first event holds every member: stored with the next
  // write that takes the stream's members (Snapshots).
  if (snapshots_) domain::AttachMemberStore(&loaded.state, [&] { return MembersOf(stream); });
  return loaded;
}

absl::StatusOr<DomainAdmission::Entry*> DomainAdmission::GetEntry(const std::string& stream) {
  if (poisoned_.contains(stream)) {
    return absl::UnavailableError("a state this append needs could not be read in this commit; retry");
  }
  if (auto it = cache_.find(stream); it != cache_.end()) {
    lru_.splice(lru_.begin(), lru_, it->second.lru);
    return &it->second;
  }
  auto loaded = Load(stream);
  if (!loaded.ok()) return loaded.status();
  lru_.push_front(stream);
  auto [it, _] =
      cache_.emplace(stream, Entry{std::move(loaded->state), std::move(loaded->last_event_id), lru_.begin(),
                                   loaded->snapshot_events, loaded->snapshot_bytes, loaded->folded});
  loaded_.insert(stream);
  return &it->second;
}

absl::StatusOr<domain::AggregateState*> DomainAdmission::Get(const std::string& stream) {
  auto entry = GetEntry(stream);
  if (!entry.ok()) return entry.status();
  return &(*entry)->state;
}

absl::Status DomainAdmission::Authorize(const storage::AppendBatch& batch) {
  if (batch.scope == nullptr || batch.events.empty()) return absl::OkStatus();
  auto current = Get(batch.stream);
  if (!current.ok()) return current.status();
  Lookup lookup(this);
  absl::Status s = domain::CheckScope(*batch.scope, **current, batch.events[0], lookup);
  if (absl::Status read = TakeMemberError(); !read.ok()) return read;
  if (!s.ok()) {
    return absl::Status(s.code(), absl::StrCat("events[0] (", batch.events[0].type(), "): ", s.message()));
  }
  return absl::OkStatus();
}

absl::Status DomainAdmission::Admit(const storage::AppendBatch& batch) {
  auto entry = GetEntry(batch.stream);
  if (!entry.ok()) return entry.status();
  domain::AggregateState* state = &(*entry)->state;
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
    // A member the rules asked for could not be read: their answer is void.
    if (absl::Status read = TakeMemberError(); !read.ok()) s = std::move(read);
    if (!s.ok()) {
      undo.Restore(state);
      return absl::Status(s.code(), absl::StrCat("events[", i, "] (", e.type(), "): ", s.message()));
    }
    if (batch.events.size() > 1) undo.Record(*state, e);
    domain::Apply(state, e);
    // (Apply reads no member its Check did not read.) If it had to and
    // could not, the cached state is not the log's any more, and a reload
    // now would miss this group's earlier batches: the stream refuses the
    // rest of the group, its state is not stored, and it loads again after.
    if (absl::Status read = TakeMemberError(); !read.ok()) {
      poisoned_.insert(batch.stream);
      return read;
    }
  }
  if (!batch.events.empty()) (*entry)->last_event_id = batch.events.back().event_id();
  touched_.insert(batch.stream);
  return absl::OkStatus();
}

}  // namespace grid::server
