#include "server/cluster/cluster_node.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <optional>
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
  defragmented_at_ = absl::Now();
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

void ClusterNode::AfterCatchUpReadForTest(std::function<void()> hook) {
  grid::MutexLock l(&mu_);
  catch_up_read_hook_ = std::move(hook);
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

absl::Status ClusterNode::RouteAppend(bool* forward) const {
  grid::MutexLock l(&mu_);
  *forward = false;
  if (!key_checked_ && state_.role != Role::kStopped) {
    return absl::UnavailableError(absl::StrCat("node ", options_.node_id, " of shard ", options_.shard,
                                               " is joining its shard; retry in a moment"));
  }
  if (state_.role == Role::kWriter) return absl::OkStatus();
  if (state_.role == Role::kReplica && options_.peers != nullptr && !state_.writer_node.empty() &&
      state_.writer_node != options_.node_id) {
    *forward = true;
    return absl::OkStatus();
  }
  return NotWriterLocked();
}

void ClusterNode::Forward(storage::AppendBatch batch,
                          absl::AnyInvocable<void(storage::AppendOutcome) &&> done) {
  std::string writer, address;
  absl::Status refused;
  bool local = false;
  {
    grid::MutexLock l(&mu_);
    local = state_.role == Role::kWriter;  // it took the role meanwhile
    writer = state_.writer_node;
    address = state_.writer_address;
    if (options_.peers == nullptr || writer.empty() || writer == options_.node_id)
      refused = NotWriterLocked();
  }
  if (local) {
    sequencer_->Submit(std::move(batch), std::move(done));
    return;
  }
  if (!refused.ok()) {
    std::move(done)(storage::AppendOutcome{.status = std::move(refused)});
    return;
  }
  options_.peers->Forward(writer, address, std::move(batch), std::move(done));
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
  out->set_etcd_first(s.etcd_first);
  out->set_from_peers(s.from_peers);
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

absl::Status ClusterNode::ApplyWires(uint64_t first, std::vector<std::string> wires) {
  {
    grid::MutexLock l(&mu_);
    while (frozen_ && !stopping_) changed_.Wait(&mu_);
    if (stopping_) return absl::CancelledError("the node is stopping");
  }
  grid::Mutex done_mu;
  CondVar done_cv;
  bool done = false;
  absl::Status status;
  sequencer_->SubmitApply(first, std::move(wires), [&](absl::Status s) {
    grid::MutexLock l(&done_mu);
    status = std::move(s);
    done = true;
    done_cv.Signal();
  });
  grid::MutexLock l(&done_mu);
  while (!done) done_cv.Wait(&done_mu);
  return status;
}

bool ClusterNode::ApplyBatch(const Batch& b) {
  absl::Status status =
      ApplyWires(b.first_position(), std::vector<std::string>(b.records().begin(), b.records().end()));
  const storage::Head head = log_->GetHead();
  if (status.ok() && head.position == b.first_position() + b.records_size() - 1 &&
      ChainBytes(head.chain) != b.chain()) {
    status = absl::DataLossError(
        absl::StrCat("the chain after position ", head.position, " differs from the batch's in etcd"));
  }
  if (!status.ok()) {
    if (absl::IsCancelled(status)) return false;
    if (!absl::IsUnavailable(status) || !log_->WriteHealth().ok()) Fail(status);
    return false;
  }
  grid::MutexLock l(&mu_);
  state_.shard_head = std::max<uint64_t>(state_.shard_head, b.first_position() + b.records_size() - 1);
  changed_.SignalAll();
  return true;
}

absl::Status ClusterNode::CatchUpFromPeers(uint64_t applied, uint64_t target) {
  if (options_.peers == nullptr) {
    return absl::DataLossError(absl::StrCat("the shard's log in etcd no longer holds positions ", applied + 1,
                                            "..", target,
                                            " that this node lacks, and it has no peers to read "
                                            "them from"));
  }
  auto nodes = shard_.ReadNodes();
  if (!nodes.ok()) return nodes.status();
  std::string writer;
  {
    grid::MutexLock l(&mu_);
    writer = state_.writer_node;
  }
  // The peers that hold the positions, the writer first.
  std::vector<grid::cluster::v1::NodeInfo> holders;
  for (auto& n : *nodes) {
    if (n.node_id() != options_.node_id && n.applied() >= target && !n.address().empty()) {
      holders.push_back(std::move(n));
    }
  }
  std::stable_sort(holders.begin(), holders.end(), [&writer](const auto& a, const auto& b) {
    return (a.node_id() == writer) > (b.node_id() == writer);
  });
  absl::Status last = absl::UnavailableError(
      absl::StrCat("no node of shard ", options_.shard, " says it holds positions through ", target));
  for (const auto& h : holders) {
    const uint64_t from = log_->GetHead().position + 1;
    if (from > target) break;
    spdlog::warn(
        "cluster: node {} is behind what etcd keeps of shard {}; reading positions {}..{} from node {}",
        options_.node_id, options_.shard, from, target, h.node_id());
    last = options_.peers->ReadLog(
        h.address(), from, target, [this](uint64_t first, std::vector<std::string> wires) -> absl::Status {
          const uint64_t next = log_->GetHead().position + 1;
          if (first != next) {
            return absl::UnavailableError(absl::StrCat("a peer sent positions from ", first, ", not ", next));
          }
          // One Apply() per run of records recorded at one time (a commit
          // group, or part of one: a message may end inside a group).
          if (wires.empty()) return absl::OkStatus();
          size_t begin = 0;
          absl::Time at;
          for (size_t i = 0; i <= wires.size(); ++i) {
            if (i < wires.size()) {
              auto rec = storage::DecodeRecord(first + i, wires[i]);
              if (!rec.ok()) return rec.status();
              if (i == begin) at = (*rec)->recorded_at;
              if ((*rec)->recorded_at == at) continue;
            }
            std::vector<std::string> run(std::make_move_iterator(wires.begin() + begin),
                                         std::make_move_iterator(wires.begin() + i));
            const size_t n = run.size();
            absl::Status s = ApplyWires(first + begin, std::move(run));
            if (!s.ok()) return s;
            grid::MutexLock l(&mu_);
            state_.from_peers += n;
            changed_.SignalAll();
            if (i < wires.size()) {
              begin = i;
              --i;  // read record i again as the next run's first
            }
          }
          return absl::OkStatus();
        });
    if (log_->GetHead().position >= target) return absl::OkStatus();
    // A log that no longer takes writes (a chain that did not link) is
    // this node's end; a peer that failed is only that peer's.
    if (!log_->WriteHealth().ok()) return log_->WriteHealth();
    if (absl::IsCancelled(last)) return last;
  }
  return last;
}

void ClusterNode::ApplierLoop() {
  const absl::Duration backoff = options_.tick;
  for (;;) {
    {
      grid::MutexLock l(&mu_);
      // The writer has nothing to apply: no other node can commit while it
      // holds its place (the head's compare-and-set; a node that took over
      // makes its commits fail, and a lost lease steps it down). It reads
      // and watches again from its log's head once it steps down.
      while (!stopping_ && state_.role == Role::kWriter) changed_.Wait(&mu_);
      if (stopping_ || state_.role == Role::kStopped) return;
    }
    // This node's head, then the shard's, then the batches after this
    // node's: so the shard's head is never behind it (a writer's own
    // commits are in etcd before its log), and a shard head past the log
    // with no batch to continue it is a gap that only peers fill
    // (retention deleted what every other node had applied).
    const uint64_t applied = log_->GetHead().position;
    auto head = shard_.ReadHead();
    int64_t revision = 0;
    auto batches = head.ok() ? shard_.ReadBatches(applied, options_.read_batches, &revision)
                             : absl::StatusOr<std::vector<Batch>>(head.status());
    if (!batches.ok()) {
      if (!Unknown(batches.status())) return Fail(batches.status());
      if (!Pause(backoff)) return;
      continue;
    }
    if (applied > head->head.position()) {
      return Fail(absl::DataLossError(absl::StrCat(
          "this node's log holds positions through ", applied, " but the shard's head in etcd is at ",
          head->head.position(), ": the etcd cluster is not the one this log was made with")));
    }
    {
      grid::MutexLock l(&mu_);
      state_.etcd_first = batches->empty() ? 0 : batches->front().first_position();
      state_.shard_head = std::max<uint64_t>(state_.shard_head, head->head.position());
    }
    const uint64_t gap_to = !batches->empty()                 ? batches->front().first_position() - 1
                            : head->head.position() > applied ? head->head.position()
                                                              : applied;
    if (gap_to > applied) {
      absl::Status s = CatchUpFromPeers(applied, gap_to);
      const storage::Head local = log_->GetHead();
      if (s.ok() && batches->empty() && ChainBytes(local.chain) != head->head.chain()) {
        s = absl::DataLossError(absl::StrCat("the chain at position ", local.position,
                                             " read from peers differs from the shard's head in etcd"));
      }
      if (absl::IsDataLoss(s) || !log_->WriteHealth().ok()) return Fail(s.ok() ? log_->WriteHealth() : s);
      if (!s.ok()) {
        spdlog::warn("cluster: node {} cannot catch up yet: {}", options_.node_id, std::string(s.message()));
        if (!Pause(backoff * 10)) return;
      }
      continue;
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
      if (state_.role == Role::kWriter) continue;  // took the role meanwhile
      watch_ = watch->get();
      state_.caught_up = true;
      state_.watching = true;
      changed_.SignalAll();
    }
    for (bool in_order = true; in_order;) {
      auto changes = (*watch)->Next();
      if (!changes.ok()) break;  // read the range again, then watch anew
      for (const auto& c : *changes) {
        if (c.deleted) {  // retention: etcd holds only what comes after
          const std::optional<uint64_t> p = shard_.PositionOfKey(c.key);
          grid::MutexLock l(&mu_);
          if (p.has_value()) state_.etcd_first = std::max(state_.etcd_first, *p + 1);
          continue;
        }
        auto b = ShardLog::ParseBatch(c.key, c.value.value);
        if (!b.ok()) {
          Fail(b.status());
          in_order = false;
          break;
        }
        {
          grid::MutexLock l(&mu_);
          if (state_.etcd_first == 0) state_.etcd_first = b->first_position();
        }
        const uint64_t local = log_->GetHead().position;
        if (b->first_position() + b->records_size() - 1 <= local) {
          continue;  // this node's own commit, or applied already
        }
        if (b->first_position() != local + 1 || !ApplyBatch(*b)) {
          in_order = false;
          break;
        }
      }
    }
    {
      grid::MutexLock l(&mu_);
      watch_ = nullptr;
      state_.caught_up = false;
      state_.watching = false;
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
  if (lease == 0) {
    // Writing or taking over without a lease: back to a replica, which
    // tries for the role again.
    grid::MutexLock l(&mu_);
    if (state_.role == Role::kWriter || state_.role == Role::kCatchingUp)
      StepDown(Role::kReplica, "it has no lease");
    return false;
  }
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
    if (!granted.ok()) {
      return;
    }
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
  // Our own key on the lease we hold: an earlier attempt whose answer was
  // lost (a timeout while etcd elected a leader) put it. We won then.
  grid::cluster::v1::Writer w;
  if (!*won && holder.has_value() && holder->lease == lease && w.ParseFromString(holder->value) &&
      w.node_id() == options_.node_id) {
    *won = true;
  }
  if (!*won) {
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
  std::function<void()> hook;
  {
    grid::MutexLock l(&mu_);
    hook = std::exchange(catch_up_read_hook_, nullptr);
  }
  if (hook) hook();
  {
    grid::MutexLock l(&mu_);
    state_.shard_head = std::max<uint64_t>(state_.shard_head, head->head.position());
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
  if (local.position > head->head.position()) {
    // The log went past the head read above: the writer before this node
    // can still commit until this node's first commit moves the head (its
    // commit was in flight, or it was paused past its lease), and the
    // applier applies what it committed. Read the head again, after the
    // log's: the shard's head is never behind a log of this shard.
    head = shard_.ReadHead();
    if (!head.ok()) {
      if (!Unknown(head.status())) Fail(head.status());
      return;
    }
    grid::MutexLock l(&mu_);
    state_.shard_head = std::max<uint64_t>(state_.shard_head, head->head.position());
    if (local.position < head->head.position()) return;  // still applying: the next tick
  }
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
  // The first retention waits retention_every: a node that joined just now
  // has not said yet how far it applied, and would find the batches it
  // lacks deleted (without peers to read them from, it stops).
  retained_at_ = absl::Now();
  state_.epoch = head->head.writer_epoch() + 1;
  batches_ = 0;
  state_.role = Role::kWriter;
  ++state_.writer_changes;
  // Its own batches would only come back to it: only replicas watch.
  if (watch_ != nullptr) watch_->Cancel();
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
    if (!CheckKey()) continue;
    Report();
    if (role == Role::kReplica) {
      TryToWin();
      continue;
    }
    if (!Renew()) continue;
    if (role == Role::kCatchingUp) CatchUp();
    if (role == Role::kWriter) Retain();
  }
}

bool ClusterNode::CheckKey() {
  {
    grid::MutexLock l(&mu_);
    if (key_checked_) return true;
  }
  absl::Status s =
      options_.person_key_id.empty() ? absl::OkStatus() : shard_.ClaimPersonKeyId(options_.person_key_id);
  if (absl::IsFailedPrecondition(s)) Fail(s);
  if (!s.ok()) return false;
  grid::MutexLock l(&mu_);
  key_checked_ = true;
  return true;
}

void ClusterNode::Report() {
  const uint64_t applied = log_->GetHead().position;
  const absl::Time now = absl::Now();
  if (applied == reported_ || now - reported_at_ < options_.report_every) return;
  grid::cluster::v1::NodeInfo me;
  me.set_node_id(options_.node_id);
  me.set_address(options_.address);
  me.set_applied(applied);
  me.set_updated_at_micros(absl::ToUnixMicros(now));
  if (shard_.PutNode(me).ok()) {
    reported_ = applied;
    reported_at_ = now;
  }
}

void ClusterNode::Retain() {
  const absl::Time now = absl::Now();
  if (now - retained_at_ < options_.retention_every) return;
  retained_at_ = now;
  uint64_t head = 0, done = 0;
  {
    grid::MutexLock l(&mu_);
    if (state_.role != Role::kWriter) return;
    head = at_.head.position();
    done = state_.retained_after;
  }
  auto nodes = shard_.ReadNodes();
  if (!nodes.ok()) return;
  // What every node has applied (this one's own log included), unless that
  // is more than the tail bound behind the head.
  uint64_t cut = log_->GetHead().position;
  std::string slowest;
  for (const auto& n : *nodes) {
    if (n.node_id() != options_.node_id && n.applied() < cut) {
      cut = n.applied();
      slowest = n.node_id();
    }
  }
  if (head > options_.tail_events && cut < head - options_.tail_events) {
    if (cut > done) {
      spdlog::warn(
          "cluster: node {} of shard {} is more than {} events behind; etcd keeps no more for it: it "
          "will read them from a peer",
          slowest, options_.shard, options_.tail_events);
    }
    cut = head - options_.tail_events;
  }
  // Whole batches only: keep the one that holds cut + 1.
  uint64_t keep_from = cut + 1;
  if (cut < head) {
    auto holding = shard_.BatchHolding(cut + 1);
    if (!holding.ok()) return;
    if (holding->has_value()) keep_from = **holding;
  }
  if (keep_from > done + 1) {
    auto revision = shard_.DeleteBatchesBefore(keep_from);
    if (!revision.ok()) return;
    if (absl::Status s = etcd_->Compact(*revision); !s.ok()) {
      spdlog::warn("cluster: compacting etcd at revision {}: {}", *revision, std::string(s.message()));
    }
    grid::MutexLock l(&mu_);
    state_.retained_after = keep_from - 1;
    state_.etcd_first = keep_from <= head ? keep_from : 0;
  }
  if (auto size = etcd_->DatabaseSize(); size.ok()) {
    grid::MutexLock l(&mu_);
    state_.etcd_db_bytes = *size;
  }
  if (options_.defrag_every > absl::ZeroDuration() && now - defragmented_at_ >= options_.defrag_every) {
    defragmented_at_ = now;
    std::vector<std::pair<int64_t, int64_t>> sizes;
    absl::Status s = etcd_->DefragmentMembers(&sizes);
    std::string report;
    for (const auto& [before, after] : sizes)
      absl::StrAppend(&report, report.empty() ? "" : ", ", before, " -> ", after);
    if (s.ok()) {
      spdlog::info("cluster: defragmented etcd's members (bytes: {})", report);
    } else {
      spdlog::warn("cluster: defragmenting etcd: {} (bytes: {})", std::string(s.message()), report);
    }
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
  const absl::Time started = absl::Now();
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
  if (options_.observe_commit) options_.observe_commit(absl::Now() - started);
  grid::MutexLock l(&mu_);
  if (outcome.ok() && *outcome == ShardLog::Outcome::kCommitted) {
    at_ = next;
    state_.shard_head = next.head.position();
    if (state_.etcd_first == 0) state_.etcd_first = batch.first_position();
    return absl::OkStatus();
  }
  // Back to catching up, if it still writes: a lease that ended while the
  // commit waited made it a replica already, which it stays.
  if (outcome.ok()) {  // kLostPlace
    if (state_.role == Role::kWriter) StepDown(Role::kCatchingUp, "another writer committed at its place");
    return absl::UnavailableError(absl::StrCat("node ", options_.node_id,
                                               " lost the writer's place in shard ", options_.shard,
                                               " to another writer; retry"));
  }
  if (!Unknown(outcome.status())) return outcome.status();
  if (state_.role == Role::kWriter) {
    StepDown(Role::kCatchingUp, absl::StrCat("a commit's outcome is unknown: ", outcome.status().message()));
  }
  return absl::UnavailableError(absl::StrCat(
      "the shard's log in etcd did not answer (", outcome.status().message(),
      "); whether the append was committed is settled before the next one: retry it unchanged (its event ids "
      "make a retry safe)"));
}

}  // namespace grid::server
