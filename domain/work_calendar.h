// Working time on the county's work calendar: Monday to Friday in China
// time (UTC+8), minus the holidays, plus the weekend days worked in their
// place (调休), as published in the log (WorkCalendarPublished). Used by
// the incident clock, whose tiers may count working time only.
//
// Working time here is whole days: a day off contributes none of its 24
// hours, a working day all of them. A 72-hour working-time limit from a
// Friday 10:00 is due on Wednesday 10:00. Pure functions, no clock of their
// own.
#ifndef GRID_DOMAIN_WORK_CALENDAR_H_
#define GRID_DOMAIN_WORK_CALENDAR_H_

#include <optional>
#include <set>
#include <string>

#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "grid/v1/incident.pb.h"

namespace grid::domain {

class WorkCalendar {
 public:
  WorkCalendar() = default;
  // Adds a year's calendar, replacing what an earlier one said of that
  // year. Assumes the dates were checked (ParseCivilDate).
  void Add(const grid::v1::WorkCalendarPublished& year);

  bool IsWorkingDay(absl::CivilDay d) const;

  // The moment `d` of the chosen kind of time after `from`.
  absl::Time Add(absl::Time from, absl::Duration d, bool working_time) const;
  // The time of the chosen kind between `from` and `to` (zero if `to` is
  // not after `from`).
  absl::Duration Between(absl::Time from, absl::Time to, bool working_time) const;

 private:
  std::set<absl::CivilDay> holidays_;
  std::set<absl::CivilDay> workdays_;
};

// The China-time zone the calendar's days are in.
absl::TimeZone ChinaTime();

// "2026-10-01" → the day; nullopt for anything else.
std::optional<absl::CivilDay> ParseCivilDate(const std::string& s);
// The day as ParseCivilDate reads it: "2026-10-01".
std::string CivilDateText(absl::CivilDay d);

}  // namespace grid::domain

#endif  // GRID_DOMAIN_WORK_CALENDAR_H_
