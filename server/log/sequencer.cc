#include "server/log/sequencer.h"

#include <utility>

#include "absl/time/clock.h"
#include "storage/shutdown.h"

namespace grid::server {

Sequencer::Sequencer(storage::EventLog* log, OnCommit on_commit, Options options)
    : log_(log), on_commit_(std::move(on_commit)), options_(options) {}

Sequencer::~Sequencer() { Stop(); }

void Sequencer::Start() {
  grid::MutexLock l(&mu_);
  if (started_ || stopping_) return;
  started_ = true;
  thread_ = std::thread([this] { Run(); });
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
  if (join) thread_.join();
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
  return stats;
}

void Sequencer::Run() {
  std::vector<Pending> group;
  std::vector<storage::AppendBatch*> batches;
  for (;;) {
    group.clear();
    batches.clear();
    std::deque<PendingApply> applies;
    {
      grid::MutexLock l(&mu_);
      const absl::Time deadline = absl::Now() + options_.idle_tick;
      while (!stopping_ && queue_.empty() && applies_.empty()) {
        const absl::Duration left = deadline - absl::Now();
        if (left <= absl::ZeroDuration()) break;
        work_.WaitFor(&mu_, left);
      }
      if (!applies_.empty()) {
        applies.swap(applies_);
      } else if (!stopping_ && queue_.empty()) {  // idle for idle_tick
        if (options_.after_commit_or_idle) {
          mu_.Unlock();
          options_.after_commit_or_idle();
          mu_.Lock();
        }
        continue;
      } else if (queue_.empty()) {
        return;  // stopping, and everything is committed and applied
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
    const absl::Time start = absl::Now();
    storage::CommitResult result = log_->Commit(batches, start, options_.admission, options_.replicator);
    if (options_.observe_commit) {
      size_t events = 0;
      for (const auto* b : batches) events += b->events.size();
      options_.observe_commit(absl::Now() - start, batches.size(), events);
    }
    if (!result.committed.empty() && on_commit_) on_commit_(result.committed);
    for (size_t i = 0; i < group.size(); ++i) {
      std::move(group[i].done)(std::move(result.outcomes[i]));
    }
    if (options_.after_commit_or_idle) options_.after_commit_or_idle();
  }
}

}  // namespace grid::server
