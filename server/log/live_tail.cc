#include "server/log/live_tail.h"

#include <cassert>

namespace grid::server {

LiveTail::LiveTail(storage::Position head, Options options) : options_(options), head_(head) {}

void LiveTail::Publish(const std::vector<storage::RecordPtr>& records) {
  if (records.empty()) return;
  grid::MutexLock l(&mu_);
  for (const auto& r : records) {
    assert(r->position == head_ + 1);
    head_ = r->position;
    bytes_ += r->wire.size();
    records_.push_back(r);
  }
  while (!records_.empty() && (records_.size() > options_.max_records || bytes_ > options_.max_bytes)) {
    bytes_ -= records_.front()->wire.size();
    records_.pop_front();
  }
  for (Waiter* w : waiters_) w->Wake();
  waiters_.clear();
}

LiveTail::ReadResult LiveTail::Read(storage::Position after, size_t max_count, size_t max_bytes,
                                    std::vector<storage::RecordPtr>* out) const {
  grid::MutexLock l(&mu_);
  if (after >= head_) return ReadResult::kNothingYet;
  const storage::Position first = records_.empty() ? head_ + 1 : records_.front()->position;
  if (after + 1 < first) return ReadResult::kFellBehind;
  size_t bytes = 0;
  for (size_t i = after + 1 - first; i < records_.size() && max_count > 0 && bytes < max_bytes;
       ++i, --max_count) {
    bytes += records_[i]->wire.size();
    out->push_back(records_[i]);
  }
  return ReadResult::kOk;
}

uint64_t LiveTail::wakes() const { return wakes_.load(); }

bool LiveTail::WaitForMore(storage::Position after, uint64_t wakes_seen, Waiter* w) {
  grid::MutexLock l(&mu_);
  if (closed_ || after < head_ || wakes_seen != wakes_.load()) return true;
  waiters_.insert(w);
  return false;
}

bool LiveTail::Cancel(Waiter* w) {
  grid::MutexLock l(&mu_);
  return waiters_.erase(w) > 0;
}

void LiveTail::WakeAll() {
  grid::MutexLock l(&mu_);
  wakes_.fetch_add(1);  // under mu_: a WaitForMore sees it or is woken
  for (Waiter* w : waiters_) w->Wake();
  waiters_.clear();
}

void LiveTail::Close() {
  grid::MutexLock l(&mu_);
  closed_ = true;
  for (Waiter* w : waiters_) w->Wake();
  waiters_.clear();
}

bool LiveTail::closed() const {
  grid::MutexLock l(&mu_);
  return closed_;
}

storage::Position LiveTail::head() const {
  grid::MutexLock l(&mu_);
  return head_;
}

}  // namespace grid::server
