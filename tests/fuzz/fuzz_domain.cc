// Fuzzes the domain rules and the projection folds from realistic histories:
// the input picks a simulated county and then mutates its event sequence
// (drops, swaps, duplicates under new ids, events moved to another grid or
// back in time, people swapped, incident steps taken by another unit, form
// submissions confirming or superseding another's, cadre scores changed,
// a close's ranks swapped). Every event that passes
// the shape check and the rules is folded into every projection.
// Invariants: no crash, no fold error, no population count ever below zero,
// no incident statistic below zero or closing more than was reported, no
// reporting-burden count wrapped below zero, no admitted assessment close
// other than the ranking its scores give — the rules must keep every
// history they admit consistent.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdlib>

#include "domain/projections.h"
#include "domain/rules.h"
#include "domain/simulator.h"
#include "tests/testing/memory_rows.h"

namespace {

using grid::domain::AggregateState;

class World : public grid::domain::StateLookup {
 public:
  absl::StatusOr<const AggregateState*> Get(const std::string& stream) override { return &states[stream]; }
  std::map<std::string, AggregateState> states;
};

std::vector<grid::v1::Event> History(uint8_t seed) {
  grid::domain::SimulatorOptions o;
  o.seed = seed;
  // The last runs over a year's end: cadres' year-end scores and the close.
  if (seed == 4) {
    o.start = absl::FromCivil(absl::CivilSecond(2026, 12, 30, 8, 0, 0), absl::FixedTimeZone(8 * 3600));
  }
  o.towns = 1;
  o.villages_per_town = 2;
  o.grids_per_village = 2;
  o.households_per_grid = 3;
  o.days = 3;
  std::vector<grid::v1::Event> events;
  grid::domain::Simulate(o, [&](grid::domain::SimBatch&& b) {
    for (auto& e : b.events) events.push_back(std::move(e));
    return true;
  });
  return events;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  // Five base histories, simulated once.
  static const auto* histories = [] {
    auto* h = new std::vector<std::vector<grid::v1::Event>>;
    for (uint8_t seed = 0; seed < 5; ++seed) h->push_back(History(seed));
    return h;
  }();
  std::vector<grid::v1::Event> events = (*histories)[in.ConsumeIntegral<uint8_t>() % 5];
  for (int op = 0; op < 64 && in.remaining_bytes() > 0 && !events.empty(); ++op) {
    const size_t i = in.ConsumeIntegralInRange<size_t>(0, events.size() - 1);
    const size_t j = in.ConsumeIntegralInRange<size_t>(0, events.size() - 1);
    switch (in.ConsumeIntegralInRange<int>(0, 8)) {
      case 0:
        events.erase(events.begin() + i);
        break;
      case 1:
        std::swap(events[i], events[j]);
        break;
      case 2: {
        grid::v1::Event copy = events[i];
        copy.set_event_id(copy.event_id() + "-again");
        events.insert(events.begin() + j, copy);
        break;
      }
      case 3:
        events[i].set_org_path(events[j].org_path());
        break;
      case 4:
        events[i].mutable_occurred_at()->set_seconds(events[i].occurred_at().seconds() -
                                                     in.ConsumeIntegral<uint16_t>() * 60);
        break;
      case 5:
        if (events[i].has_member_removed() && events[j].has_member_added()) {
          events[i].mutable_member_removed()->set_person_token(
              events[j].member_added().person().person_token());
        }
        break;
      case 6: {
        // An incident step taken by another unit (by_org, handler_org).
        auto* r = events[i].GetReflection();
        const auto* body_field =
            r->GetOneofFieldDescriptor(events[i], events[i].GetDescriptor()->FindOneofByName("body"));
        if (body_field == nullptr) break;
        auto* body = r->MutableMessage(&events[i], body_field);
        for (const char* name : {"by_org", "handler_org"}) {
          if (const auto* f = body->GetDescriptor()->FindFieldByName(name); f != nullptr) {
            body->GetReflection()->SetString(body, f, events[j].org_path());
          }
        }
        break;
      }
      case 7:
        // A form submission that supersedes another unit's, or confirms.
        if (events[i].has_form_submitted() && events[j].has_form_submitted()) {
          auto* f = events[i].mutable_form_submitted();
          f->set_supersedes_submission_id(events[j].form_submitted().submission_id());
          f->set_prefilled_at(1);
          for (auto& v : *f->mutable_values()) v.set_provenance(grid::v1::FormValue::PREFILL_CONFIRMED);
        }
        break;
      case 8:
        // A score changed (its total with it), or a close's ranks swapped.
        if (events[i].has_cadre_score_recorded()) {
          auto* c = events[i].mutable_cadre_score_recorded();
          const int delta = in.ConsumeIntegralInRange<int>(-300, 300);
          c->mutable_components(0)->set_points_x10(c->components(0).points_x10() + delta);
          c->set_total_x10(c->total_x10() + delta);
        } else if (events[i].has_assessment_period_closed()) {
          auto* ranks = events[i].mutable_assessment_period_closed()->mutable_ranks();
          if (ranks->size() > 1) ranks->SwapElements(0, static_cast<int>(j % ranks->size()));
        }
        break;
    }
  }
  World world;
  std::vector<grid::testing::MemoryRows> rows(grid::domain::AllProjections().size());
  for (const auto& e : events) {
    if (!grid::domain::CheckShape(e.stream(), e).ok()) continue;
    AggregateState& st = world.states[e.stream()];
    if (!grid::domain::Check(st, e, world).ok()) continue;
    grid::domain::Apply(&st, e);
    for (size_t p = 0; p < rows.size(); ++p) {
      if (!grid::domain::AllProjections()[p].fold(e, rows[p]).ok()) std::abort();
    }
  }
  for (size_t p = 0; p < rows.size(); ++p) {
    for (const auto& [key, v] : rows[p].rows()) {
      if (v.has_population() && (v.population().residents() < 0 || v.population().households() < 0 ||
                                 v.population().deaths_awaiting_confirmation() < 0)) {
        std::abort();
      }
      if (v.has_reporting_burden()) {
        // Counts taken back on a superseding submission never wrap.
        const auto& b = v.reporting_burden();
        constexpr uint64_t kHuge = uint64_t{1} << 40;
        if (b.items_confirmed() > kHuge || b.items_edited() > kHuge || b.items_typed() > kHuge) std::abort();
      }
      if (v.has_cadre_score() && v.cadre_score().closed()) {
        // An admitted close is the ranking the scores give.
        grid::v1::RowValue d = v;
        grid::domain::AllProjections()[p].derive(absl::Now(), &d);
        const auto& c = d.cadre_score();
        if (c.closed_total_x10() != c.total_x10() || c.rank() < 1 || c.rank() > c.cohort() ||
            c.top() != (c.closed_total_x10() >= c.cutoff_x10())) {
          std::abort();
        }
      }
      if (v.has_incident_stats()) {
        const auto& st = v.incident_stats();
        if (st.reported() < 0 || st.closed() < 0 || st.resolved() < 0 || st.resolved_on_time() < 0 ||
            st.rated() < 0 || st.closed() > st.reported() || st.resolved() > st.closed() ||
            st.resolved_on_time() > st.resolved() || st.verifications_passed() > st.verifications()) {
          std::abort();
        }
      }
    }
  }
  return 0;
}
