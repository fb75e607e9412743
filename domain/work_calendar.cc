#include "domain/work_calendar.h"

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"

namespace grid::domain {

absl::TimeZone ChinaTime() { return absl::FixedTimeZone(8 * 3600); }

std::optional<absl::CivilDay> ParseCivilDate(const std::string& s) {
  int y = 0, m = 0, d = 0;
  // Digits only: SimpleAtoi takes "+5" and " 5", and one day must have one
  // spelling (the assessment keeps days by their text).
  for (size_t i = 0; i < s.size(); ++i) {
    if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9')) return std::nullopt;
  }
  if (s.size() != 10 || s[4] != '-' || s[7] != '-' || !absl::SimpleAtoi(s.substr(0, 4), &y) ||
      !absl::SimpleAtoi(s.substr(5, 2), &m) || !absl::SimpleAtoi(s.substr(8, 2), &d)) {
    return std::nullopt;
  }
  const absl::CivilDay day(y, m, d);
  // CivilDay normalizes "2026-02-30" to March 2nd: refuse what moved.
  if (day.year() != y || day.month() != m || day.day() != d) return std::nullopt;
  return day;
}

std::string CivilDateText(absl::CivilDay d) {
  return absl::StrFormat("%04d-%02d-%02d", d.year(), d.month(), d.day());
}

void WorkCalendar::Add(const grid::v1::WorkCalendarPublished& year) {
  const auto in_year = [&](const absl::CivilDay& d) { return d.year() == static_cast<int>(year.year()); };
  std::erase_if(holidays_, in_year);
  std::erase_if(workdays_, in_year);
  for (const auto& h : year.holidays()) {
    if (auto d = ParseCivilDate(h)) holidays_.insert(*d);
  }
  for (const auto& w : year.workdays()) {
    if (auto d = ParseCivilDate(w)) workdays_.insert(*d);
  }
}

bool WorkCalendar::IsWorkingDay(absl::CivilDay d) const {
  if (holidays_.contains(d)) return false;
  if (workdays_.contains(d)) return true;
  const absl::Weekday w = absl::GetWeekday(d);
  return w != absl::Weekday::saturday && w != absl::Weekday::sunday;
}

absl::Time WorkCalendar::Add(absl::Time from, absl::Duration d, bool working_time) const {
  if (!working_time || d <= absl::ZeroDuration()) return from + d;
  const absl::TimeZone tz = ChinaTime();
  absl::CivilDay day = absl::ToCivilDay(from, tz);
  absl::Time at = from;
  absl::Duration left = d;
  // At most a few hundred days (limits are bounded): walk them.
  for (;;) {
    const absl::Time next_midnight = absl::FromCivil(day + 1, tz);
    if (IsWorkingDay(day)) {
      const absl::Duration today = next_midnight - at;
      if (left <= today) return at + left;
      left -= today;
    }
    ++day;
    at = next_midnight;
  }
}

absl::Duration WorkCalendar::Between(absl::Time from, absl::Time to, bool working_time) const {
  if (to <= from) return absl::ZeroDuration();
  if (!working_time) return to - from;
  const absl::TimeZone tz = ChinaTime();
  absl::Duration total;
  absl::Time at = from;
  for (absl::CivilDay day = absl::ToCivilDay(from, tz); at < to; ++day) {
    const absl::Time next_midnight = absl::FromCivil(day + 1, tz);
    const absl::Time end = std::min(next_midnight, to);
    if (IsWorkingDay(day)) total += end - at;
    at = end;
  }
  return total;
}

}  // namespace grid::domain
