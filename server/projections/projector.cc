#include "server/projections/projector.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <limits>
#include <map>
#include <memory>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace grid::server {
namespace {

constexpr storage::Position kLatest = std::numeric_limits<storage::Position>::max();

std::string Serialize(const grid::v1::RowValue& v) {
  std::string out;
  google::protobuf::io::StringOutputStream stream(&out);
  google::protobuf::io::CodedOutputStream coded(&stream);
  coded.SetSerializationDeterministic(true);  // map fields: same bytes on rebuild
  v.SerializeToCodedStream(&coded);
  coded.Trim();
  return out;
}

// A fold's view of its rows during one run of events: the store's latest
// rows under the writes of the events folded so far.
class BatchRows final : public domain::RowAccess {
 public:
  using Cache = absl::flat_hash_map<std::string, std::optional<grid::v1::RowValue>>;

  BatchRows(const storage::ProjectionStore* store, const std::string& name, Cache* cache, size_t cache_limit)
      : store_(store), name_(name), cache_(cache), cache_limit_(cache_limit) {}

  absl::StatusOr<std::optional<grid::v1::RowValue>> Get(const std::string& key) override {
    if (auto it = overlay_.find(key); it != overlay_.end()) return it->second;
    if (auto it = cache_->find(key); it != cache_->end()) return it->second;
    auto r = store_->Get(name_, key, kLatest);
    if (!r.ok()) return r.status();
    std::optional<grid::v1::RowValue> v;
    if (*r) {
      v.emplace();
      if (!v->ParseFromString(*(*r)->value)) {
        return absl::DataLossError(absl::StrCat("projection ", name_, " row '", key, "' does not parse"));
      }
    }
    Remember(key, v);
    return v;
  }

  // After the run's rows are stored: they are the latest values now.
  void Commit() {
    for (auto& [k, v] : overlay_) Remember(k, std::move(v));
    overlay_.clear();
  }

  absl::Status Scan(const std::string& prefix,
                    const std::function<void(const std::string&, const grid::v1::RowValue&)>& fn) override {
    std::map<std::string, std::optional<grid::v1::RowValue>> rows;
    absl::Status parse = absl::OkStatus();
    absl::Status s = store_->Scan(name_, prefix, kLatest, [&](const storage::ProjectionStore::RowVersion& r) {
      grid::v1::RowValue v;
      if (!v.ParseFromString(*r.value)) {
        parse = absl::DataLossError(absl::StrCat("projection ", name_, " row '", r.key, "' does not parse"));
        return false;
      }
      rows[r.key] = std::move(v);
      return true;
    });
    if (!s.ok()) return s;
    if (!parse.ok()) return parse;
    for (auto it = overlay_.lower_bound(prefix); it != overlay_.end() && it->first.starts_with(prefix);
         ++it) {
      rows[it->first] = it->second;
    }
    for (const auto& [k, v] : rows) {
      if (v) fn(k, *v);
    }
    return absl::OkStatus();
  }

  void Put(const std::string& key, grid::v1::RowValue value) override {
    overlay_[key] = std::move(value);
    touched_.insert(key);
  }
  void Delete(const std::string& key) override {
    overlay_[key] = std::nullopt;
    touched_.insert(key);
  }

  // The current event's writes become row versions at `position`.
  void EndEvent(storage::Position position, std::vector<storage::ProjectionStore::RowVersion>* out) {
    for (const std::string& k : touched_) {
      const std::optional<grid::v1::RowValue>& v = overlay_.at(k);
      storage::ProjectionStore::RowVersion r;
      r.key = k;
      r.position = position;
      if (v) r.value = Serialize(*v);
      out->push_back(std::move(r));
    }
    touched_.clear();
  }

 private:
  void Remember(const std::string& key, std::optional<grid::v1::RowValue> v) {
    if (cache_->size() >= cache_limit_ && !cache_->contains(key)) cache_->clear();
    (*cache_)[key] = std::move(v);
  }

  const storage::ProjectionStore* const store_;
  const std::string name_;
  Cache* const cache_;
  const size_t cache_limit_;
  std::map<std::string, std::optional<grid::v1::RowValue>> overlay_;
  std::set<std::string> touched_;  // keys written by the current event
};

}  // namespace

Projector::Projector(const storage::EventLog* log, storage::ProjectionStore* store, Options options)
    : log_(log), store_(store), options_(std::move(options)) {}

Projector::~Projector() { Stop(); }

absl::Status Projector::Start() {
  const storage::Position head = log_->GetHead().position;
  grid::MutexLock l(&mu_);
  for (const auto& def : domain::AllProjections()) {
    auto p = store_->Checkpoint(def.name);
    if (!p.ok()) return p.status();
    State st;
    st.def = &def;
    st.position = *p;
    states_[def.name] = std::move(st);
    if (*p > head) {
      // Rows from a log that went further than this one (e.g. a restored
      // log beside newer projections) would describe events that are not
      // here: fold again from the log.
      rebuilds_.push_back(def.name);
      states_[def.name].rebuilding = true;
    }
  }
  thread_ = std::thread([this] { Run(); });
  return absl::OkStatus();
}

void Projector::Stop() {
  {
    grid::MutexLock l(&mu_);
    stopping_ = true;
    changed_.SignalAll();
    for (Waiter* w : waiters_) w->Wake();
    waiters_.clear();
  }
  if (thread_.joinable()) thread_.join();
}

void Projector::WakeAll() {
  grid::MutexLock l(&mu_);
  wakes_.fetch_add(1);  // under mu_: a WaitForMore sees it or is woken
  for (Waiter* w : waiters_) w->Wake();
  waiters_.clear();
}

void Projector::Notify() {
  grid::MutexLock l(&mu_);
  notified_ = true;
  changed_.SignalAll();
}

std::vector<Projector::Info> Projector::List() const {
  const storage::Position head = log_->GetHead().position;
  grid::MutexLock l(&mu_);
  std::vector<Info> out;
  for (const auto& def : domain::AllProjections()) {
    const State& s = states_.at(def.name);
    Info i{def.name, def.description, s.position, ""};
    if (!s.failure.empty()) {
      i.state = "failed: " + s.failure;
    } else if (!s.retrying.empty()) {
      i.state = "retrying after: " + s.retrying;
    } else if (s.rebuilding) {
      i.state = "rebuilding";
    } else {
      i.state = s.position >= head ? "live" : "catching up";
    }
    out.push_back(std::move(i));
  }
  return out;
}

absl::StatusOr<storage::Position> Projector::PositionOf(const std::string& name) const {
  grid::MutexLock l(&mu_);
  auto it = states_.find(name);
  if (it == states_.end()) return absl::NotFoundError(absl::StrCat("no projection named '", name, "'"));
  return it->second.position;
}

absl::Status Projector::Rebuild(const std::string& name) {
  grid::MutexLock l(&mu_);
  if (!states_.contains(name)) return absl::NotFoundError(absl::StrCat("no projection named '", name, "'"));
  rebuilds_.push_back(name);
  states_.at(name).rebuilding = true;
  changed_.SignalAll();
  return absl::OkStatus();
}

bool Projector::HasFolded(const std::string& name, storage::Position position) const {
  grid::MutexLock l(&mu_);
  auto it = states_.find(name);
  return it != states_.end() && it->second.position >= position && !it->second.rebuilding;
}

bool Projector::AwaitPosition(const std::string& name, storage::Position position, absl::Time deadline) {
  grid::MutexLock l(&mu_);
  for (;;) {
    auto it = states_.find(name);
    if (it == states_.end()) return false;
    if (it->second.position >= position && !it->second.rebuilding) return true;
    if (stopping_) return false;
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return false;
    changed_.WaitFor(&mu_, left);
  }
}

uint64_t Projector::progress() const {
  grid::MutexLock l(&mu_);
  return progress_;
}

uint64_t Projector::wakes() const { return wakes_.load(); }

bool Projector::WaitForMore(storage::Position after, uint64_t wakes_seen, Waiter* w) {
  grid::MutexLock l(&mu_);
  if (stopping_ || progress_ > after || wakes_seen != wakes_.load()) return true;
  waiters_.insert(w);
  return false;
}

bool Projector::Cancel(Waiter* w) {
  grid::MutexLock l(&mu_);
  return waiters_.erase(w) > 0;
}

void Projector::Run() {
  if (options_.nice != 0) {
    // Linux: a thread's niceness is set by its thread id.
    const int self = static_cast<int>(syscall(SYS_gettid));
    setpriority(PRIO_PROCESS, static_cast<id_t>(self), getpriority(PRIO_PROCESS, 0) + options_.nice);
  }
  for (;;) {
    std::vector<std::string> rebuilds;
    {
      grid::MutexLock l(&mu_);
      if (stopping_) return;
      rebuilds.swap(rebuilds_);
    }
    for (const auto& name : rebuilds) {
      cache_[name].clear();
      absl::Status s = store_->Reset(name);
      grid::MutexLock l(&mu_);
      State& st = states_.at(name);
      st.failure = s.ok() ? "" : std::string(s.message());
      st.position = 0;
      st.rebuilding = s.ok();
      ++progress_;
      for (Waiter* w : waiters_) w->Wake();
      waiters_.clear();
    }
    const bool more = FoldOnce();
    if (options_.after_run) options_.after_run();
    if (more) continue;  // more may be waiting
    grid::MutexLock l(&mu_);
    if (!notified_ && rebuilds_.empty() && !stopping_) changed_.WaitFor(&mu_, absl::Seconds(1));
    notified_ = false;
  }
}

void Projector::Retry(State* st, const absl::Status& s, absl::Time now) {
  st->retrying = std::string(s.message());
  st->backoff = std::clamp(st->backoff * 2, absl::Milliseconds(100), absl::Seconds(30));
  st->retry_at = now + st->backoff;
}

bool Projector::FoldOnce() {
  const storage::Position head = log_->GetHead().position;
  const absl::Time now = absl::Now();
  std::vector<std::pair<std::string, storage::Position>> behind;
  storage::Position from = head + 1;
  {
    grid::MutexLock l(&mu_);
    bool rebuilt = false;
    for (auto& [name, st] : states_) {
      if (!st.failure.empty() || now < st.retry_at) continue;
      if (st.position >= head) {
        // Caught up; unless a reset is still to come.
        if (st.rebuilding && std::find(rebuilds_.begin(), rebuilds_.end(), name) == rebuilds_.end()) {
          st.rebuilding = false;
          rebuilt = true;
        }
        continue;
      }
      behind.emplace_back(name, st.position);
      from = std::min(from, st.position + 1);
    }
    // A rebuild that ends here ends with nothing left to fold: tell those
    // who wait for it now, not at their deadline (an idle projector has no
    // later run that would).
    if (rebuilt) {
      ++progress_;
      changed_.SignalAll();
      for (Waiter* w : waiters_) w->Wake();
      waiters_.clear();
    }
  }
  if (behind.empty()) return false;
  auto records = log_->ReadAll(from, storage::Direction::kForwards, options_.batch_events, 16 << 20);
  std::vector<storage::ProjectionStore::Write> writes;
  std::vector<std::unique_ptr<BatchRows>> folded;  // parallel to writes
  std::map<std::string, std::string> failures;
  // Reads that may work next time: every projection behind waits and tries
  // again; DATA_LOSS (a damaged log) stops them.
  absl::Status transient;
  if (!records.ok() && records.status().code() != absl::StatusCode::kDataLoss) {
    transient = records.status();
  } else if (records.ok() && records->empty()) {
    transient = absl::UnavailableError(absl::StrCat("the log returned nothing from position ", from));
  }
  if (!records.ok() && transient.ok()) {
    for (const auto& [name, pos] : behind) failures[name] = std::string(records.status().message());
  } else if (!transient.ok()) {
    // nothing folded this round
  } else {
    std::vector<grid::v1::Event> events(records->size());
    for (size_t i = 0; i < records->size(); ++i) {
      if (!events[i].ParseFromString((*records)[i]->wire)) {
        for (const auto& [name, pos] : behind) {
          failures[name] = absl::StrCat("event at position ", (*records)[i]->position, " does not parse");
        }
        events.clear();
        break;
      }
    }
    const storage::Position last = records->back()->position;
    for (const auto& [name, pos] : behind) {
      if (events.empty()) break;
      // Ahead of this run (another projection is catching up from further
      // back): nothing to fold, and its checkpoint must not move back.
      if (pos >= last) continue;
      const domain::ProjectionDef* def = domain::FindProjection(name);
      auto rows = std::make_unique<BatchRows>(store_, name, &cache_[name], options_.row_cache_rows);
      storage::ProjectionStore::Write w;
      w.name = name;
      w.checkpoint = last;
      for (size_t i = 0; i < events.size(); ++i) {
        const storage::Position p = (*records)[i]->position;
        if (p <= pos) continue;
        if (absl::Status s = def->fold(events[i], *rows); !s.ok()) {
          failures[name] = absl::StrCat("at position ", p, ": ", s.message());
          break;
        }
        rows->EndEvent(p, &w.rows);
      }
      if (!failures.contains(name)) {
        writes.push_back(std::move(w));
        folded.push_back(std::move(rows));
      } else {
        cache_[name].clear();  // rows read for a run that is not stored
      }
    }
  }
  absl::Status s = writes.empty() ? absl::OkStatus() : store_->Apply(writes);
  for (size_t i = 0; i < writes.size(); ++i) {
    if (s.ok()) {
      folded[i]->Commit();
    } else {
      cache_[writes[i].name].clear();
    }
  }
  grid::MutexLock l(&mu_);
  for (const auto& w : writes) {
    State& st = states_.at(w.name);
    if (s.ok()) {
      st.position = w.checkpoint;
      st.retrying.clear();
      st.backoff = absl::ZeroDuration();
    } else if (s.code() == absl::StatusCode::kDataLoss) {
      st.failure = std::string(s.message());
    } else {
      Retry(&st, s, now);  // the store's disk may come back
    }
  }
  if (!transient.ok()) {
    for (const auto& [name, pos] : behind) Retry(&states_.at(name), transient, now);
  }
  for (const auto& [name, why] : failures) states_.at(name).failure = why;
  ++progress_;
  changed_.SignalAll();
  for (Waiter* w : waiters_) w->Wake();
  waiters_.clear();
  return s.ok() && failures.empty() && transient.ok();
}

}  // namespace grid::server
