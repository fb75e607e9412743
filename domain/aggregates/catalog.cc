// The county's reference data (catalog/<county>): the incident catalogue,
// the work calendar, the weak-village threshold of the ledgers.
// Every rule of this aggregate's event types is here: their fields, the
// stream they belong in, the stateful checks and the fold (aggregate.h).
#include <set>

#include "absl/strings/str_cat.h"
#include "domain/aggregates/aggregate.h"
#include "domain/work_calendar.h"

namespace grid::domain {
namespace {

constexpr uint32_t kMaxLimitMinutes = 525600;  // a year

absl::Status CheckCatalog(const grid::v1::IncidentCatalogPublished& c) {
  if (auto s = RequireCounty("incident_catalog_published.county", c.county()); !s.ok()) return s;
  if (c.version() == 0) return Invalid("incident_catalog_published.version", "starts at 1");
  if (c.tiers().empty()) return Invalid("incident_catalog_published.tiers", "at least one urgency tier");
  std::set<std::string> tiers;
  for (int i = 0; i < c.tiers_size(); ++i) {
    const auto& t = c.tiers(i);
    const std::string f = absl::StrCat("incident_catalog_published.tiers[", i, "]");
    if (auto s = RequireCode(absl::StrCat(f, ".code"), t.code(), 32, false); !s.ok()) return s;
    if (!tiers.insert(t.code()).second) return Invalid(absl::StrCat(f, ".code"), "appears twice");
    if (t.limit_minutes() == 0 || t.limit_minutes() > kMaxLimitMinutes) {
      return Invalid(absl::StrCat(f, ".limit_minutes"), "must be 1..525600 (a year)");
    }
  }
  std::set<std::string> codes;
  for (int i = 0; i < c.categories_size(); ++i) {
    const auto& cat = c.categories(i);
    const std::string f = absl::StrCat("incident_catalog_published.categories[", i, "]");
    if (auto s = RequireCode(absl::StrCat(f, ".code"), cat.code(), 64, true); !s.ok()) return s;
    if (!codes.insert(cat.code()).second) return Invalid(absl::StrCat(f, ".code"), "appears twice");
    if (!tiers.contains(cat.default_tier())) {
      return Invalid(absl::StrCat(f, ".default_tier"),
                     absl::StrCat("'", cat.default_tier(), "' is not a tier of this catalogue"));
    }
    std::set<std::string> limited;
    for (int j = 0; j < cat.limits_size(); ++j) {
      const auto& l = cat.limits(j);
      const std::string lf = absl::StrCat(f, ".limits[", j, "]");
      if (!tiers.contains(l.tier()))
        return Invalid(absl::StrCat(lf, ".tier"), absl::StrCat("'", l.tier(), "' is not a tier"));
      if (!limited.insert(l.tier()).second) return Invalid(absl::StrCat(lf, ".tier"), "appears twice");
      if (l.limit_minutes() == 0 || l.limit_minutes() > kMaxLimitMinutes) {
        return Invalid(absl::StrCat(lf, ".limit_minutes"), "must be 1..525600 (a year)");
      }
    }
  }
  if (c.reopen_window_hours() > 24 * 366) {
    return Invalid("incident_catalog_published.reopen_window_hours", "is at most a year (8784)");
  }
  return absl::OkStatus();
}

absl::Status CheckCalendar(const grid::v1::WorkCalendarPublished& c) {
  if (auto s = RequireCounty("work_calendar_published.county", c.county()); !s.ok()) return s;
  if (c.year() < 2000 || c.year() > 2100)
    return Invalid("work_calendar_published.year", "must be 2000..2100");
  std::set<absl::CivilDay> off;
  for (int i = 0; i < c.holidays_size(); ++i) {
    const std::string f = absl::StrCat("work_calendar_published.holidays[", i, "]");
    auto d = ParseCivilDate(c.holidays(i));
    if (!d) return Invalid(f, "must be a date like \"2026-10-01\"");
    if (d->year() != static_cast<int>(c.year())) return Invalid(f, absl::StrCat("is not in ", c.year()));
    off.insert(*d);
  }
  for (int i = 0; i < c.workdays_size(); ++i) {
    const std::string f = absl::StrCat("work_calendar_published.workdays[", i, "]");
    auto d = ParseCivilDate(c.workdays(i));
    if (!d) return Invalid(f, "must be a date like \"2026-10-11\"");
    if (d->year() != static_cast<int>(c.year())) return Invalid(f, absl::StrCat("is not in ", c.year()));
    const absl::Weekday w = absl::GetWeekday(*d);
    if (w != absl::Weekday::saturday && w != absl::Weekday::sunday) {
      return Invalid(f, "is a weekday: a day worked in place of a holiday is a Saturday or Sunday");
    }
    if (off.contains(*d)) return Invalid(f, "is also a holiday");
  }
  return absl::OkStatus();
}

absl::Status CheckBody(const Event& e) {
  switch (e.body_case()) {
    case Event::kIncidentCatalogPublished:
      return CheckCatalog(e.incident_catalog_published());
    case Event::kWorkCalendarPublished:
      return CheckCalendar(e.work_calendar_published());
    case Event::kWeakVillageThresholdSet: {
      const auto& t = e.weak_village_threshold_set();
      if (auto s = RequireCounty("weak_village_threshold_set.county", t.county()); !s.ok()) return s;
      if (t.fiscal_year() < 2000 || t.fiscal_year() > 2100) {
        return Invalid("weak_village_threshold_set.fiscal_year", "must be 2000..2100");
      }
      if (t.threshold_fen() <= 0) return Invalid("weak_village_threshold_set.threshold_fen", "must be > 0");
      return absl::OkStatus();
    }
    default:
      return Invalid("type", "is not a catalog event");
  }
}

std::pair<absl::string_view, std::string> Id(const Event& e) {
  switch (e.body_case()) {
    case Event::kIncidentCatalogPublished:
      return {"incident_catalog_published.county", e.incident_catalog_published().county()};
    case Event::kWorkCalendarPublished:
      return {"work_calendar_published.county", e.work_calendar_published().county()};
    case Event::kWeakVillageThresholdSet:
      return {"weak_village_threshold_set.county", e.weak_village_threshold_set().county()};
    default:
      return {"", ""};
  }
}

std::optional<std::string> BodyOrgPath(const Event& e) {
  const auto [field, county] = Id(e);
  return county;
}

absl::Status CheckState(const AggregateState& state, const Event& e, StateLookup&) {
  const auto& st = StateOf<CatalogState>(state);
  if (!e.has_incident_catalog_published()) return absl::OkStatus();
  const auto& c = e.incident_catalog_published();
  if (c.version() != st.version + 1) {
    return Refused(absl::StrCat("the incident catalogue of ", c.county(), " is at version ", st.version,
                                "; the next is ", st.version + 1, ", not ", c.version()));
  }
  std::set<std::string> now;
  for (const auto& cat : c.categories()) now.insert(cat.code());
  for (const auto& [code, cat] : st.categories) {
    if (!now.contains(code)) {
      return Refused(absl::StrCat("category ", code, " of version ", st.version,
                                  " is missing; a category is retired (retired: true), never dropped, "
                                  "since incidents name it"));
    }
  }
  return absl::OkStatus();
}

void Fold(AggregateState* state, const Event& e) {
  auto& st = MutableState<CatalogState>(state);
  if (e.has_work_calendar_published()) {
    st.calendar_years.insert(e.work_calendar_published().year());
    return;
  }
  if (!e.has_incident_catalog_published()) return;
  const auto& c = e.incident_catalog_published();
  st.version = c.version();
  st.reopen_window_hours = c.reopen_window_hours();
  st.tiers.clear();
  for (const auto& t : c.tiers()) st.tiers.insert(t.code());
  st.categories.clear();
  for (const auto& cat : c.categories()) {
    auto& to = st.categories[cat.code()];
    to.default_tier = cat.default_tier();
    to.retired = cat.retired();
  }
}

}  // namespace

const AggregateRules& CatalogRules() {
  static const AggregateRules kRules{
      .name = "catalog",
      .types = {"IncidentCatalogPublished", "WorkCalendarPublished", "WeakVillageThresholdSet"},
      .id_is_org_path = true,
      .check_body = CheckBody,
      .id = Id,
      .body_org_path = BodyOrgPath,
      .check = CheckState,
      .apply = Fold,
      .current_org_path = nullptr,
  };
  return kRules;
}

}  // namespace grid::domain
