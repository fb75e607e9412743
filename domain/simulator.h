// A deterministic generator of a county's grid network and its event stream:
// towns, villages (~9 grids each), workers with phones, households; then,
// day by day, sanitation check-ins and patrols with findings, rectification
// orders, re-inspections that pass or fail, births, deaths (reported, then
// confirmed by the police sync), moves between grids, project applications
// that are returned, resubmitted, approved or rejected, and a daily form
// that most villages submit on time, some late, some never (confirming what
// the form prefills when `prefill` is set, typing only the day's count). About 1 in 100
// reports is "lost on the phone" (its device sequence number is skipped),
// which device_gaps shows. Incidents are reported by patrols, citizens, the
// 12345 hotline and smoke sensors and go through the closed loop; towns and
// villages have names; village bookkeepers book last month's income and
// expenses; the county's organization department scores its village cadres
// on working days (form on time, sanitation findings, incidents handled,
// each citing the view row it came from), records year-end scores from
// 20 December and closes the year's assessment on the first day after it.
//
// Every batch passes the domain rules in order. The same seed gives the same
// events, byte for byte.
#ifndef GRID_DOMAIN_SIMULATOR_H_
#define GRID_DOMAIN_SIMULATOR_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "grid/v1/event.pb.h"
#include "grid/v1/projection.pb.h"

namespace grid::domain {

struct SimulatorOptions {
  uint64_t seed = 1;
  std::string county = "350583";
  int towns = 2;
  int villages_per_town = 3;
  int grids_per_village = 9;
  int households_per_grid = 12;
  int days = 7;
  // Photo references attached to each phone report (sanitation reports,
  // rectification progress): a typical app sends 1-3. 0 keeps events small.
  int photos_per_report = 0;
  // Incidents from patrols, citizens, the hotline and sensors, through the
  // whole loop (a few rejected, duplicated, escalated, returned, suspended,
  // urged, failing verification, reopened), after the county's incident
  // catalogue and work calendar; and each village's ledger, booked every
  // ten days (a few entries reversed), against the weak-village line; and
  // the assessment of village cadres (daily, year end, close).
  bool incidents_and_ledgers = true;
  // "One table": the daily form's prefill for a village (gridctl: the
  // PrefillForm RPC, after the appends so far), which the village confirms
  // instead of typing. Unset or nullopt: the village types every field.
  std::function<std::optional<grid::v1::PrefillFormResponse>(const std::string& task, const std::string& org)>
      prefill;
  // The log position of the last event appended (gridctl: from the
  // append responses): cadre scores cite projection rows as of it. Unset:
  // the events emitted so far (their positions in a log that was empty).
  std::function<uint64_t()> last_position;
  absl::Time start = absl::FromCivil(absl::CivilSecond(2026, 3, 2, 8, 0, 0), absl::FixedTimeZone(8 * 3600));
};

// One append: events for one stream.
struct SimBatch {
  std::string stream;
  std::vector<grid::v1::Event> events;
};

// Calls `emit` for every batch in order; stops early if it returns false.
void Simulate(const SimulatorOptions& options, const std::function<bool(SimBatch&&)>& emit);

}  // namespace grid::domain

#endif  // GRID_DOMAIN_SIMULATOR_H_
