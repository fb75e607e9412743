#include "server/access/shared_views.h"

#include <algorithm>
#include <utility>

#include "absl/hash/hash.h"

namespace grid::server {

SharedViews::SharedViews(Options options)
    : max_entries_per_shard_(std::max<size_t>(1, options.max_entries / kShards)),
      max_bytes_per_shard_(std::max<size_t>(1, options.max_bytes / kShards)) {}

SharedViews::Shard& SharedViews::ShardOf(const Key& k) { return shards_[absl::HashOf(k) % kShards]; }

absl::StatusOr<EventView> SharedViews::View(const Reader& reader, const storage::LogRecord& r,
                                            storage::Position checked_from,
                                            std::shared_ptr<const std::string>* redacted) {
  if (!reader.Sees(r.org_path)) return EventView::kHidden;
  const Principal& p = reader.principal();
  if (ServedAsStored(p, r, checked_from)) return EventView::kAsStored;
  const Key key{r.position, p.clearance(), p.audiences()};
  Shard& shard = ShardOf(key);
  {
    grid::MutexLock l(&shard.mu);
    if (auto it = shard.entries.find(key); it != shard.entries.end()) {
      shared_.fetch_add(1, std::memory_order_relaxed);
      *redacted = it->second;
      return it->second != nullptr ? EventView::kRedacted : EventView::kAsStored;
    }
  }
  std::string bytes;
  absl::StatusOr<EventView> view = RedactStored(p, r, &bytes);
  if (!view.ok()) return view.status();
  redacted_.fetch_add(1, std::memory_order_relaxed);
  Entry entry =
      *view == EventView::kRedacted ? std::make_shared<const std::string>(std::move(bytes)) : nullptr;
  *redacted = entry;
  grid::MutexLock l(&shard.mu);
  const size_t size = entry != nullptr ? entry->size() : 0;
  if (!shard.entries.try_emplace(key, std::move(entry)).second) return view;  // another got here first
  shard.order.push_back(key);
  shard.bytes += size;
  while (shard.order.size() > max_entries_per_shard_ || shard.bytes > max_bytes_per_shard_) {
    auto it = shard.entries.find(shard.order.front());
    if (it->second != nullptr) shard.bytes -= it->second->size();
    shard.entries.erase(it);
    shard.order.pop_front();
  }
  return view;
}

SharedViews::Stats SharedViews::GetStats() const {
  return Stats{.redacted = redacted_.load(std::memory_order_relaxed),
               .shared = shared_.load(std::memory_order_relaxed)};
}

}  // namespace grid::server
