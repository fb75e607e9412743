#include "server/access/worker_grids.h"

#include "absl/strings/str_cat.h"
#include "domain/rules.h"

namespace grid::server {

absl::Status WorkerGrids::CatchUp(const std::string& county, County* c) {
  const std::string stream = domain::StreamFor("org", county);
  for (;;) {
    auto head = log_->StreamHead(stream);
    if (!head.ok()) return head.status();
    if (!head->has_value() || **head < c->next_version) return absl::OkStatus();
    auto records = log_->ReadStream(stream, c->next_version, storage::Direction::kForwards, 1000, 8 << 20);
    if (!records.ok()) return records.status();
    if (records->empty()) return absl::OkStatus();
    for (const auto& r : *records) {
      grid::v1::Event e;
      if (!e.ParseFromString(r->wire)) {
        return absl::DataLossError(absl::StrCat("the event at position ", r->position, " does not parse"));
      }
      if (e.has_worker_assigned()) {
        c->grids[e.worker_assigned().worker_id()].insert(e.worker_assigned().org_path());
      } else if (e.has_worker_unassigned()) {
        c->grids[e.worker_unassigned().worker_id()].erase(e.worker_unassigned().org_path());
      }
      c->next_version = r->stream_version + 1;
    }
  }
}

absl::StatusOr<Reader> WorkerGrids::ReaderFor(const Principal& p) {
  if (p.dev() || p.role() != grid::v1::GRID_WORKER) return Reader(p);
  auto grids = std::make_shared<std::vector<std::string>>();
  grid::MutexLock l(&mu_);
  std::set<std::string> seen;
  for (const auto& j : p.jurisdiction()) {
    const std::string county(domain::CountyOf(j));
    if (!seen.insert(county).second) continue;
    County& c = counties_[county];
    if (absl::Status s = CatchUp(county, &c); !s.ok()) return s;
    auto it = c.grids.find(p.worker_id());
    if (it == c.grids.end()) continue;
    for (const auto& g : it->second) {
      if (p.Sees(g)) grids->push_back(g);
    }
  }
  return Reader(p, std::move(grids));
}

}  // namespace grid::server
