#include "server/log/sequencer.h"

#include <utility>

#include "absl/time/clock.h"
#include "storage/shutdown.h"

namespace grid::server {

Sequencer::Sequencer(storage::EventLog* log, OnCommit on_commit, Options options)
    : log_(log), on_commit_(std::move(on_commit)), options_(std::move(options)) {}

Sequencer::~Sequencer() { Stop(); }

void Sequencer::Start() {
  grid::MutexLock l(&mu_);
  if (started_ || stopping_) return;
  started_ = true;
  thread_ = std::thread([this] { Run(); });
  if (options_.pipeline) syncer_ = std::thread([this] { RunSyncer(); });
}

void Sequencer::Submit(storage::AppendBatch batch, Done done) {
  size_t bytes = 0;
  for (const auto& e : batch.events) bytes += e.ByteSizeLong();
  {
    grid::MutexLock l(&mu_);
    if (!stopping_) {
      queue_.push_back(Pending{std::move(batch), std::move(done), bytes});
      work_.Signal();
      return;
    }
  }
  storage::AppendOutcome out;
  out.status = ShuttingDown();
  std::move(done)(std::move(out));
}

void Sequencer::SubmitApply(storage::Position first_position, std::vector<std::string> wires,
                            ApplyDone done) {
  {
    grid::MutexLock l(&mu_);
    if (!stopping_) {
      applies_.push_back(PendingApply{first_position, std::move(wires), std::move(done)});
      work_.Signal();
      return;
    }
  }
  std::move(done)(ShuttingDown());
}

void Sequencer::RunApplies(std::deque<PendingApply> applies) {
  for (PendingApply& a : applies) {
    auto records = log_->Apply(a.first_position, a.wires);
    if (records.ok() && !records->empty()) {
      if (options_.admission != nullptr) options_.admission->Applied(*records);
      if (on_commit_) on_commit_(*records);
    }
    std::move(a.done)(records.status());
  }
}

void Sequencer::Stop() {
  bool join = false;
  {
    grid::MutexLock l(&mu_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
    work_.SignalAll();
    join = thread_.joinable();
  }
  if (join) {
    thread_.join();
    {
      grid::MutexLock l(&mu_);
      writer_done_ = true;
      wrote_.SignalAll();
    }
    if (syncer_.joinable()) syncer_.join();  // after it synced and reported every written group
  }
  // Never started: fail what is queued.
  std::deque<Pending> left;
  std::deque<PendingApply> left_applies;
  {
    grid::MutexLock l(&mu_);
    left.swap(queue_);
    left_applies.swap(applies_);
  }
  for (auto& a : left_applies) std::move(a.done)(ShuttingDown());
  for (auto& p : left) {
    storage::AppendOutcome out;
    out.status = ShuttingDown();
    std::move(p.done)(std::move(out));
  }
}

Sequencer::Stats Sequencer::GetStats() const {
  grid::MutexLock l(&mu_);
  Stats stats = stats_;
  stats.queued = queue_.size();
  stats.unsynced = written_.size() + syncing_groups_;
  return stats;
}

void Sequencer::Run() {
  std::vector<storage::AppendBatch*> batches;
  for (;;) {
    std::vector<Pending> group;
    batches.clear();
    std::deque<PendingApply> applies;
    {
      grid::MutexLock l(&mu_);
      const absl::Time deadline = absl::Now() + options_.idle_tick;
      // A group also waits while the last one written waits for the
      // syncer (it grows meanwhile, and is written while that one syncs),
      // and while a fsync runs that takes longer than writing a group: the
      // appends that come meanwhile then go in one group and one fsync,
      // instead of half of them in a group that waits for the fsync
      // running now and then for its own (callers that wait for their
      // last append would split into two cohorts of half-size groups).
      auto wait_for_syncer = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return !written_.empty() || (syncing_groups_ > 0 && last_sync_ > last_write_);
      };
      while (!stopping_ && applies_.empty() && (queue_.empty() || wait_for_syncer())) {
        const absl::Duration left = deadline - absl::Now();
        if (left <= absl::ZeroDuration()) break;
        work_.WaitFor(&mu_, left);
      }
      if (!applies_.empty()) {
        // Another node's group continues the synced head, and on_commit
        // sees it after every group written here.
        while (!written_.empty() || syncing_groups_ > 0) work_.Wait(&mu_);
        applies.swap(applies_);
      } else if (!stopping_ && queue_.empty()) {  // idle for idle_tick
        if (options_.after_commit_or_idle) {
          mu_.Unlock();
          options_.after_commit_or_idle();
          mu_.Lock();
        }
        continue;
      } else if (queue_.empty()) {
        return;  // stopping, and everything is written and applied
      } else if (!stopping_ && wait_for_syncer()) {
        continue;  // idle_tick passed while it waited for the syncer
      } else {
        size_t bytes = 0;
        while (!queue_.empty() && group.size() < options_.max_group_batches &&
               (group.empty() || bytes + queue_.front().bytes <= options_.max_group_bytes)) {
          bytes += queue_.front().bytes;
          group.push_back(std::move(queue_.front()));
          queue_.pop_front();
        }
        ++stats_.groups;
        stats_.batches += group.size();
      }
    }
    if (!applies.empty()) {
      // Before any later append: an append is checked against everything
      // the node has applied.
      RunApplies(std::move(applies));
      continue;
    }
    for (auto& p : group) batches.push_back(&p.batch);
    Written w;
    w.start = absl::Now();
    for (const auto* b : batches) w.events += b->events.size();
    w.group = std::move(group);
    if (!options_.pipeline) {
      w.result = log_->Commit(batches, w.start, options_.admission, options_.replicator);
      Report(w, absl::OkStatus());
      if (options_.after_commit_or_idle) options_.after_commit_or_idle();
      continue;
    }
    w.result = log_->CommitUnsynced(batches, w.start, options_.admission, options_.replicator);
    const absl::Duration wrote = absl::Now() - w.start;
    {
      grid::MutexLock l(&mu_);
      last_write_ = wrote;
      written_.push_back(std::move(w));
      wrote_.Signal();
    }
    if (options_.after_commit_or_idle) options_.after_commit_or_idle();
  }
}

void Sequencer::Report(Written& w, const absl::Status& synced) {
  if (!synced.ok()) {
    for (auto& o : w.result.outcomes) {
      o.status = synced;
      o.events.clear();
    }
    w.result.committed.clear();
  }
  if (options_.observe_commit) options_.observe_commit(absl::Now() - w.start, w.group.size(), w.events);
  if (!w.result.committed.empty() && on_commit_) on_commit_(w.result.committed);
  for (size_t i = 0; i < w.group.size(); ++i) std::move(w.group[i].done)(std::move(w.result.outcomes[i]));
}

void Sequencer::RunSyncer() {
  for (;;) {
    std::deque<Written> groups;
    {
      grid::MutexLock l(&mu_);
      while (written_.empty() && !writer_done_) wrote_.Wait(&mu_);
      if (written_.empty()) return;  // the sequencer stopped and every group is reported
      groups.swap(written_);
      syncing_groups_ = groups.size();
      work_.Signal();  // the sequencer may write its next group
    }
    // One fsync for every group written since the last one. If it fails,
    // none of them is known to be durable and the log takes no more
    // writes: each of their outcomes, refusals too (they may quote what the
    // lost groups wrote), is that failure.
    const absl::Time started = absl::Now();
    const absl::Status synced = log_->Sync();
    const absl::Duration took = absl::Now() - started;
    for (Written& w : groups) Report(w, synced);
    grid::MutexLock l(&mu_);
    last_sync_ = took;
    syncing_groups_ = 0;
    work_.Signal();
  }
}

}  // namespace grid::server
