#include "server/access/shared_views.h"

#include <algorithm>
#include <utility>

#include "absl/hash/hash.h"

namespace grid::server {

SharedViews::SharedViews(Options options)
    : max_entries_per_shard_(std::max<size_t>(1, options.max_entries / kShards)),
      max_bytes_per_shard_(std::max<size_t>(1, options.max_bytes / kShards)) {}

// The hash's high bits: its low ones pick the slot inside the shard's map.
SharedViews::Shard& SharedViews::ShardOf(const Key& k) { return shards_[(absl::HashOf(k) >> 32) % kShards]; }

SharedViews::Identity SharedViews::IdentityOf(const storage::LogRecord& r) {
  Identity id{.wire_size = r.wire.size()};
  const size_t n = std::min(id.tail.size(), r.wire.size());
  std::copy(r.wire.end() - static_cast<std::ptrdiff_t>(n), r.wire.end(), id.tail.begin());
  return id;
}

absl::StatusOr<EventView> SharedViews::View(const Reader& reader, const storage::LogRecord& r,
                                            storage::Position checked_from, bool keep,
                                            std::shared_ptr<const std::string>* redacted) {
  if (!reader.Sees(r.org_path)) return EventView::kHidden;
  const Principal& p = reader.principal();
  if (ServedAsStored(p, r, checked_from)) return EventView::kAsStored;
  const Key key{r.position, p.clearance(), p.audiences()};
  const Identity id = IdentityOf(r);
  Shard& shard = ShardOf(key);
  {
    grid::MutexLock l(&shard.mu);
    if (auto it = shard.entries.find(key); it != shard.entries.end() && it->second.id == id) {
      shared_.fetch_add(1, std::memory_order_relaxed);
      *redacted = it->second.redacted;
      return it->second.redacted != nullptr ? EventView::kRedacted : EventView::kAsStored;
    }
  }
  std::string bytes;
  absl::StatusOr<EventView> view = RedactStored(p, r, &bytes);
  if (!view.ok()) return view.status();
  redacted_.fetch_add(1, std::memory_order_relaxed);
  Entry entry{.redacted = *view == EventView::kRedacted
                              ? std::make_shared<const std::string>(std::move(bytes))
                              : nullptr,
              .id = id};
  *redacted = entry.redacted;
  if (!keep) return view;
  const size_t size = entry.bytes();
  grid::MutexLock l(&shard.mu);
  auto [it, inserted] = shard.entries.try_emplace(key, std::move(entry));
  if (!inserted) {
    // Another subscriber of the view got here first (the same bytes), or
    // the entry is not this record's: then this record's replaces it.
    if (it->second.id == id) return view;
    shard.bytes -= it->second.bytes();
    it->second = std::move(entry);
  } else {
    shard.order.push_back(key);
  }
  shard.bytes += size;
  while (shard.order.size() > max_entries_per_shard_ || shard.bytes > max_bytes_per_shard_) {
    auto old = shard.entries.find(shard.order.front());
    shard.bytes -= old->second.bytes();
    shard.entries.erase(old);
    shard.order.pop_front();
  }
  return view;
}

SharedViews::Stats SharedViews::GetStats() const {
  return Stats{.redacted = redacted_.load(std::memory_order_relaxed),
               .shared = shared_.load(std::memory_order_relaxed)};
}

}  // namespace grid::server
