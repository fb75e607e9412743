// What serving one event costs a subscriber below full clearance, per event
// and subscriber, when each subscriber redacts for itself (ViewEvent, as
// Subscribe did) and when the subscribers of one view share the redaction
// (SharedViews, as Subscribe does): --subscribers subscribers of one view,
// each served every event of a simulated county (the grid events of
// gridctl bench, photo references included), one after another in event
// order, as live subscribers read the tail. One JSON object per clearance
// and mode: microseconds per event per subscriber, and the share of events
// the view had to parse.
//
// usage: grid_view_bench [--subscribers 64] [--days 20]
#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "bench/bench_util.h"
#include "domain/simulator.h"
#include "server/access/access_policy.h"
#include "server/access/shared_views.h"

namespace {

using grid::bench::Flag;
using grid::server::EventView;

std::vector<grid::storage::LogRecord> County(int days) {
  std::vector<grid::storage::LogRecord> out;
  grid::domain::SimulatorOptions o;
  o.days = days;
  o.photos_per_report = 2;
  grid::domain::Simulate(o, [&](grid::domain::SimBatch&& b) {
    for (const grid::v1::Event& e : b.events) {
      grid::storage::LogRecord r;
      r.position = out.size() + 1;
      r.stream = b.stream;
      r.type = e.type();
      r.org_path = e.org_path();
      r.wire = e.SerializeAsString();
      out.push_back(std::move(r));
    }
    return true;
  });
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  int subscribers = 0, days = 0;
  if (!absl::SimpleAtoi(Flag(argc, argv, "subscribers", "64"), &subscribers) || subscribers < 1 ||
      !absl::SimpleAtoi(Flag(argc, argv, "days", "20"), &days) || days < 1) {
    std::cerr << "usage: grid_view_bench [--subscribers N] [--days N]\n";
    return 2;
  }
  const std::vector<grid::storage::LogRecord> log = County(days);
  size_t bytes = 0;
  for (const auto& r : log) bytes += r.wire.size();
  for (grid::v1::DataClass clearance :
       {grid::v1::C0_AGGREGATE, grid::v1::C1_INTERNAL, grid::v1::C2_PERSONAL}) {
    grid::v1::PrincipalPolicy q;
    q.set_principal("dept");
    q.set_role(grid::v1::DEPARTMENT);
    q.add_jurisdiction("350583");
    q.set_clearance(clearance);
    const grid::server::Principal p(q);
    const grid::server::Reader reader(p);
    size_t parsed = 0;
    for (const auto& r : log) parsed += grid::server::ServedAsStored(p, r, 0) ? 0 : 1;
    for (const bool shared : {false, true}) {
      grid::server::SharedViews views;
      std::string redacted;
      std::shared_ptr<const std::string> shared_bytes;
      size_t served = 0;  // bytes, so that nothing is optimized away
      const auto start = std::chrono::steady_clock::now();
      for (const auto& r : log) {
        for (int s = 0; s < subscribers; ++s) {
          if (shared) {
            auto v = views.View(reader, r, 0, /*keep=*/true, &shared_bytes);
            if (!v.ok()) return 1;
            served += *v == EventView::kRedacted ? shared_bytes->size() : r.wire.size();
          } else {
            auto v = grid::server::ViewEvent(reader, r, 0, &redacted);
            if (!v.ok()) return 1;
            served += *v == EventView::kRedacted ? redacted.size() : r.wire.size();
          }
        }
      }
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      const double deliveries = static_cast<double>(log.size()) * subscribers;
      std::printf(
          "{\"clearance\":\"%s\",\"mode\":\"%s\",\"subscribers\":%d,\"events\":%zu,\"event_bytes\":%zu,"
          "\"parsed_share\":%.3f,\"us_per_delivery\":%.3f,\"served_bytes\":%zu}\n",
          grid::v1::DataClass_Name(clearance).c_str(), shared ? "shared" : "each", subscribers, log.size(),
          bytes / log.size(), static_cast<double>(parsed) / static_cast<double>(log.size()),
          seconds * 1e6 / deliveries, served);
    }
  }
  return 0;
}
