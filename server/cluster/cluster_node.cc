#include "server/cluster/cluster_node.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace grid::server {

using grid::cluster::v1::Batch;

namespace {

bool Unknown(const absl::Status& s) {
  return absl::IsUnavailable(s) || absl::IsDeadlineExceeded(s) || absl::IsCancelled(s);
}

std::string ChainBytes(const storage::Digest& d) {
  return std::string(reinterpret_cast<const char*>(d.data()), d.size());
}

}  // namespace

const char* ClusterNode::RoleName(Role r) {
  switch (r) {
    case Role::kReplica:
      return "replica";
    case Role::kCatchingUp:
      return "catching up";
    case Role::kWriter:
      return "writer";
    case Role::kStopped:
      return "stopped";
  }
  return "?";
}

ClusterNode::ClusterNode(EtcdClient* etcd, ShardLog shard, storage::EventLog* log, Options options)
    : etcd_(etcd), shard_(std::move(shard)), log_(log), options_(std::move(options)) {}

ClusterNode::~ClusterNode() { Stop(); }

void ClusterNode::Start(Sequencer* sequencer, std::string address) {
  sequencer_ = sequencer;
  if (!address.empty()) options_.address = std::move(address);
  applier_ = std::thread([this] { ApplierLoop(); });
  election_ = std::thread([this] { ElectionLoop(); });
}

void ClusterNode::Stop() {
  int64_t lease = 0;
  {
    grid::MutexLock l(&mu_);
    if (stopping_) return;
    stopping_ = true;
    if (watch_ != nullptr) watch_->Cancel();
    if (state_.role == Role::kWriter || state_.role == Role::kCatchingUp)
      StepDown(Role::kReplica, "stopping");
    lease = lease_;
    lease_ = 0;
    changed_.SignalAll();
  }
  if (applier_.joinable()) applier_.join();
  if (election_.joinable()) election_.join();
  // The writer key goes with the lease: another node takes over now, not
  // a lease's time later.
  if (lease != 0) etcd_->RevokeLease(lease).IgnoreError();
}

ClusterNode::State ClusterNode::GetState() const {
  grid::MutexLock l(&mu_);
  State s = state_;
  s.applied = log_->GetHead().position;
  return s;
}

bool ClusterNode::WaitApplied(uint64_t position, absl::Time deadline) const {
  grid::MutexLock l(&mu_);
  for (;;) {
    if (log_->GetHead().position >= position) return true;
    const absl::Duration left = deadline - absl::Now();
    if (stopping_ || state_.role == Role::kStopped || left <= absl::ZeroDuration()) return false;
    // A replica's applies signal; a writer's own commits do not, so look
    // again at least every tick.
    changed_.WaitFor(&mu_, std::min(left, options_.tick));
  }
}

bool ClusterNode::WaitRole(Role role, absl::Time deadline) const {
  grid::MutexLock l(&mu_);
  for (;;) {
    if (state_.role == role) return true;
    const absl::Duration left = deadline - absl::Now();
    if (stopping_ || left <= absl::ZeroDuration()) return false;
    changed_.WaitFor(&mu_, left);
  }
}

void ClusterNode::FreezeForTest() {
  grid::MutexLock l(&mu_);
  frozen_ = true;
}

void ClusterNode::ThawForTest() {
  grid::MutexLock l(&mu_);
  frozen_ = false;
  changed_.SignalAll();
}

absl::Status ClusterNode::NotWriterLocked() const {
  if (state_.role == Role::kStopped) {
    return absl::UnavailableError(absl::StrCat("node ", options_.node_id, " of shard ", options_.shard,
                                               " stopped: ", state_.failure.message()));
  }
  if (state_.role == Role::kCatchingUp) {
    return absl::UnavailableError(absl::StrCat("node ", options_.node_id,
                                               " is taking over as the writer of shard ", options_.shard,
                                               "; retry in a moment"));
  }
  if (state_.writer_node.empty() || state_.writer_node == options_.node_id) {
    return absl::UnavailableError(
        absl::StrCat("shard ", options_.shard, " has no writer at the moment; retry in a moment"));
  }
  return absl::UnavailableError(absl::StrCat("node ", options_.node_id, " is a replica of shard ",
                                             options_.shard, "; its writer is node ", state_.writer_node,
                                             " at ", state_.writer_address, ": append there"));
}

absl::Status ClusterNode::CheckWriter() const {
  grid::MutexLock l(&mu_);
  if (state_.role == Role::kWriter) return absl::OkStatus();
  return NotWriterLocked();
}

absl::Status ClusterNode::CheckServing() const {
  grid::MutexLock l(&mu_);
  if (state_.role != Role::kStopped) return absl::OkStatus();
  if (absl::IsDataLoss(state_.failure)) {
    return absl::DataLossError(
        absl::StrCat("node ", options_.node_id, " stopped serving: ", state_.failure.message()));
  }
  return NotWriterLocked();
}

void ClusterNode::Describe(grid::v1::ClusterStatus* out) const {
  const State s = GetState();
  out->set_shard(options_.shard);
  out->set_node_id(options_.node_id);
  out->set_role(RoleName(s.role));
  out->set_writer_node(s.writer_node);
  out->set_writer_address(s.writer_address);
  out->set_shard_head(std::max(s.shard_head, s.applied));
  out->set_applied(s.applied);
  if (s.role == Role::kWriter) out->set_writer_epoch(s.epoch);
  out->set_failure(std::string(s.failure.message()));
}

void ClusterNode::StepDown(Role to, const std::string& why) {
  if (state_.role == Role::kWriter) ++state_.writer_changes;
  if (state_.role != to) {
    spdlog::warn("cluster: node {} of shard {} is {} now: {}", options_.node_id, options_.shard, RoleName(to),
                 why);
  }
  if (state_.role != Role::kStopped) state_.role = to;
  if (to == Role::kReplica && state_.writer_node == options_.node_id) state_.writer_node.clear();
  changed_.SignalAll();
}

void ClusterNode::Fail(absl::Status why) {
  int64_t lease = 0;
  {
    grid::MutexLock l(&mu_);
    if (state_.role == Role::kStopped) return;
    spdlog::error("cluster: node {} of shard {} stops taking part: {}", options_.node_id, options_.shard,
                  std::string(why.message()));
    if (state_.role == Role::kWriter) ++state_.writer_changes;
    state_.role = Role::kStopped;
    state_.failure = std::move(why);
    lease = lease_;
    lease_ = 0;
    changed_.SignalAll();
  }
  if (lease != 0) etcd_->RevokeLease(lease).IgnoreError();
}

bool ClusterNode::Pause(absl::Duration d) {
  grid::MutexLock l(&mu_);
  const absl::Time until = absl::Now() + d;
  while (!stopping_) {
    const absl::Duration left = until - absl::Now();
    if (left <= absl::ZeroDuration()) break;
    changed_.WaitFor(&mu_, left);
  }
  return !stopping_;
}

// ---- applying the shard's log ------------------------------------------

bool ClusterNode::ApplyBatch(const Batch& b) {
  {
    grid::MutexLock l(&mu_);
    while (frozen_ && !stopping_) changed_.Wait(&mu_);
  }
  std::vector<std::string> wires(b.records().begin(), b.records().end());
  grid::Mutex done_mu;
  CondVar done_cv;
  bool done = false;
  absl::Status status;
  sequencer_->SubmitApply(b.first_position(), std::move(wires), [&](absl::Status s) {
    grid::MutexLock l(&done_mu);
    status = std::move(s);
    done = true;
    done_cv.Signal();
  });
  {
    grid::MutexLock l(&done_mu);
    while (!done) done_cv.Wait(&done_mu);
  }
  const storage::Head head = log_->GetHead();
  if (status.ok() && head.position == b.first_position() + b.records_size() - 1 &&
      ChainBytes(head.chain) != b.chain()) {
    status = absl::DataLossError(
        absl::StrCat("the chain after position ", head.position, " differs from the batch's in etcd"));
  }
  if (!status.ok()) {
    if (!absl::IsUnavailable(status) || !log_->WriteHealth().ok()) Fail(status);
    return false;
  }
  grid::MutexLock l(&mu_);
  state_.shard_head = std::max<uint64_t>(state_.shard_head, b.first_position() + b.records_size() - 1);
  changed_.SignalAll();
  return true;
}

void ClusterNode::ApplierLoop() {
  const absl::Duration backoff = options_.tick;
  for (;;) {
    {
      grid::MutexLock l(&mu_);
      if (stopping_ || state_.role == Role::kStopped) return;
    }
    int64_t revision = 0;
    const uint64_t applied = log_->GetHead().position;
    auto batches = shard_.ReadBatches(applied, options_.read_batches, &revision);
    if (!batches.ok()) {
      if (!Unknown(batches.status())) return Fail(batches.status());
      if (!Pause(backoff)) return;
      continue;
    }
    if (!batches->empty() && batches->front().first_position() != applied + 1) {
      // Retention deleted what this node still needs: it must be
      // bootstrapped from a peer (not built yet).
      return Fail(absl::DataLossError(absl::StrCat("the shard's log in etcd starts at position ",
                                                   batches->front().first_position(), " but this node has ",
                                                   applied, "; it cannot catch up from etcd")));
    }
    bool applied_all = true;
    for (const Batch& b : *batches) applied_all = applied_all && ApplyBatch(b);
    if (!applied_all) {
      if (!Pause(backoff)) return;
      continue;
    }
    if (static_cast<int64_t>(batches->size()) == options_.read_batches) continue;  // more to read

    auto watch = shard_.WatchBatches(revision);
    if (!watch.ok()) {
      if (!Pause(backoff)) return;
      continue;
    }
    {
      grid::MutexLock l(&mu_);
      if (stopping_) return;
      watch_ = watch->get();
      state_.caught_up = true;
      changed_.SignalAll();
    }
    for (bool in_order = true; in_order;) {
      auto changes = (*watch)->Next();
      if (!changes.ok()) break;  // read the range again, then watch anew
      for (const auto& c : *changes) {
        if (c.deleted) continue;  // retention
        auto b = ShardLog::ParseBatch(c.key, c.value.value);
        if (!b.ok()) {
          Fail(b.status());
          in_order = false;
          break;
        }
        const uint64_t head = log_->GetHead().position;
        if (b->first_position() + b->records_size() - 1 <= head) {
          continue;  // this node's own commit, or applied already
        }
        if (b->first_position() != head + 1 || !ApplyBatch(*b)) {
          in_order = false;
          break;
        }
      }
    }
    {
      grid::MutexLock l(&mu_);
      watch_ = nullptr;
      state_.caught_up = false;
    }
  }
}

// ---- the writer's role ---------------------------------------------------

bool ClusterNode::Renew() {
  int64_t lease;
  {
    grid::MutexLock l(&mu_);
    lease = lease_;
    if (lease != 0 && absl::Now() - renewed_ < options_.lease_ttl / 3) return true;
  }
  if (lease == 0) return false;
  auto left = etcd_->KeepAlive(lease);
  grid::MutexLock l(&mu_);
  if (left.ok()) {
    renewed_ = absl::Now();
    return true;
  }
  if (absl::IsNotFound(left.status()) || absl::Now() - renewed_ >= options_.lease_ttl) {
    lease_ = 0;
    if (state_.role == Role::kWriter || state_.role == Role::kCatchingUp) {
      StepDown(Role::kReplica, absl::StrCat("its lease ended (", left.status().message(), ")"));
    }
    return false;
  }
  return true;  // not answered yet, but the lease is not over
}

void ClusterNode::TryToWin() {
  int64_t lease;
  {
    grid::MutexLock l(&mu_);
    lease = lease_;
  }
  if (lease == 0) {
    auto granted = etcd_->GrantLease(options_.lease_ttl);
    if (!granted.ok()) return;
    lease = *granted;
    grid::MutexLock l(&mu_);
    lease_ = lease;
    renewed_ = absl::Now();
  } else if (!Renew()) {
    return;
  }
  grid::cluster::v1::Writer me;
  me.set_node_id(options_.node_id);
  me.set_address(options_.address);
  std::optional<EtcdValue> holder;
  auto won = etcd_->PutIfAbsent(shard_.writer_key(), me.SerializeAsString(), lease, &holder);
  if (!won.ok()) {
    if (absl::IsNotFound(won.status()) || absl::IsFailedPrecondition(won.status())) {
      grid::MutexLock l(&mu_);
      lease_ = 0;  // "requested lease not found": it expired meanwhile
    }
    return;
  }
  grid::MutexLock l(&mu_);
  if (stopping_ || state_.role == Role::kStopped) return;
  if (!*won) {
    grid::cluster::v1::Writer w;
    if (holder.has_value() && w.ParseFromString(holder->value)) {
      state_.writer_node = w.node_id();
      state_.writer_address = w.address();
      if (w.node_id() == options_.node_id && state_.role == Role::kReplica) {
        // Our own key from before a restart, on an older lease: it goes
        // when that lease does.
        state_.writer_node.clear();
      }
    }
    return;
  }
  state_.writer_node = options_.node_id;
  state_.writer_address = options_.address;
  state_.role = Role::kCatchingUp;
  spdlog::info("cluster: node {} won the writer's lease of shard {}; catching up first", options_.node_id,
               options_.shard);
}

void ClusterNode::CatchUp() {
  auto head = shard_.ReadHead();
  if (!head.ok()) {
    if (!Unknown(head.status())) Fail(head.status());
    return;
  }
  {
    grid::MutexLock l(&mu_);
    state_.shard_head = head->head.position();
    // The applier brings the log to the head; waits a tick at most here.
    const absl::Time until = absl::Now() + options_.tick;
    while (!stopping_ && state_.role == Role::kCatchingUp &&
           log_->GetHead().position < head->head.position()) {
      const absl::Duration left = until - absl::Now();
      if (left <= absl::ZeroDuration()) return;
      changed_.WaitFor(&mu_, left);
    }
    if (stopping_ || state_.role != Role::kCatchingUp) return;
  }
  const storage::Head local = log_->GetHead();
  if (local.position != head->head.position() ||
      (local.position > 0 && ChainBytes(local.chain) != head->head.chain())) {
    return Fail(absl::DataLossError(absl::StrCat(
        "this node's log ends at position ", local.position, " but the shard's head in etcd is at ",
        head->head.position(), local.position == head->head.position() ? " with another chain" : "")));
  }
  if (!log_->WriteHealth().ok()) return Fail(log_->WriteHealth());
  grid::MutexLock l(&mu_);
  if (state_.role != Role::kCatchingUp) return;
  at_ = *head;
  state_.epoch = head->head.writer_epoch() + 1;
  batches_ = 0;
  state_.role = Role::kWriter;
  ++state_.writer_changes;
  changed_.SignalAll();
  spdlog::info("cluster: node {} is the writer of shard {} from position {} (epoch {})", options_.node_id,
               options_.shard, local.position, state_.epoch);
}

void ClusterNode::ElectionLoop() {
  while (Pause(options_.tick)) {
    Role role;
    {
      grid::MutexLock l(&mu_);
      role = state_.role;
      if (frozen_) continue;
    }
    if (role == Role::kStopped) return;
    if (!log_->WriteHealth().ok()) {
      Fail(log_->WriteHealth());
      return;
    }
    if (role == Role::kReplica) {
      TryToWin();
      continue;
    }
    if (!Renew()) continue;
    if (role == Role::kCatchingUp) CatchUp();
  }
}

absl::Status ClusterNode::Replicate(const storage::Head& before, const storage::Head& after,
                                    absl::Span<const storage::RecordPtr> records) {
  ShardLog::HeadAt at;
  Batch batch;
  {
    grid::MutexLock l(&mu_);
    if (state_.role != Role::kWriter) return NotWriterLocked();
    if (at_.head.position() != before.position) {
      StepDown(Role::kCatchingUp, "its log and its place in etcd differ");
      return NotWriterLocked();
    }
    at = at_;
    batch.set_batch_id(absl::StrCat(options_.node_id, "/", state_.epoch, "/", ++batches_));
    batch.set_writer_epoch(state_.epoch);
  }
  batch.set_first_position(before.position + 1);
  for (const storage::RecordPtr& r : records) batch.add_records(r->wire);
  batch.set_chain(ChainBytes(after.chain));
  batch.set_recorded_at_micros(absl::ToUnixMicros(after.recorded_at));

  ShardLog::HeadAt next;
  auto outcome = shard_.Commit(at, batch, &next);
  const absl::Time give_up = absl::Now() + options_.settle_for;
  while (!outcome.ok() && Unknown(outcome.status()) && absl::Now() < give_up) {
    auto settled = shard_.Settle(at, batch, &next);
    if (settled.ok() && *settled == ShardLog::Outcome::kNotYet) {
      outcome = shard_.Commit(at, batch, &next);  // only one of the two can win
    } else {
      outcome = settled;
    }
  }
  grid::MutexLock l(&mu_);
  if (outcome.ok() && *outcome == ShardLog::Outcome::kCommitted) {
    at_ = next;
    state_.shard_head = next.head.position();
    return absl::OkStatus();
  }
  if (outcome.ok()) {  // kLostPlace
    StepDown(Role::kCatchingUp, "another writer committed at its place");
    return absl::UnavailableError(absl::StrCat("node ", options_.node_id,
                                               " lost the writer's place in shard ", options_.shard,
                                               " to another writer; retry"));
  }
  if (!Unknown(outcome.status())) return outcome.status();
  StepDown(Role::kCatchingUp, absl::StrCat("a commit's outcome is unknown: ", outcome.status().message()));
  return absl::UnavailableError(absl::StrCat(
      "the shard's log in etcd did not answer (", outcome.status().message(),
      "); whether the append was committed is settled before the next one: retry it unchanged (its event ids "
      "make a retry safe)"));
}

}  // namespace grid::server
