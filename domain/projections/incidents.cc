// The incident_board and the incident_stats projections (projections.h lists
// them all). Both follow each incident in a track of their own ("~i/<id>"),
// with the incident clock: the limit comes from the county's catalogue as
// it was when the incident was reported, the due time from the dispatch (a
// new one on every re-dispatch), in working time on the county's calendar
// where the tier says so; a suspension moves it on by the time suspended,
// a granted extension by what was granted. Overdue and on time are derived
// from it, never stored as events.
#include "absl/strings/str_cat.h"
#include "domain/projections/projection.h"
#include "domain/work_calendar.h"

namespace grid::domain {
namespace {

using grid::v1::IncidentTrack;

// What one event adds to an incident's stats rows.
struct StatsDelta {
  int64_t reported = 0, closed = 0, resolved = 0, on_time = 0, minutes = 0;
  int64_t verifications = 0, passed = 0, rated = 0, satisfaction = 0;
  bool empty() const {
    return reported == 0 && closed == 0 && resolved == 0 && on_time == 0 && minutes == 0 &&
           verifications == 0 && passed == 0 && rated == 0 && satisfaction == 0;
  }
};

std::string CatalogKey(absl::string_view county) { return absl::StrCat("~cat/", county); }
std::string CalendarKey(absl::string_view county) { return absl::StrCat("~cal/", county); }

// Keeps the county's catalogue and calendar in the projection's own rows;
// true if `e` was one of them.
absl::StatusOr<bool> FoldCatalog(const Event& e, RowAccess& rows) {
  if (e.has_incident_catalog_published()) {
    RowValue v;
    *v.mutable_incident_catalog() = e.incident_catalog_published();
    rows.Put(CatalogKey(e.incident_catalog_published().county()), std::move(v));
    return true;
  }
  if (!e.has_work_calendar_published()) return false;
  const auto& year = e.work_calendar_published();
  GRID_ASSIGN_OR_RETURN_ROW(cur, rows, CalendarKey(year.county()));
  RowValue v = cur.value_or(RowValue());
  auto* years = v.mutable_work_calendar()->mutable_years();
  bool replaced = false;
  for (auto& y : *years) {
    if (y.year() == year.year()) {
      y = year;
      replaced = true;
    }
  }
  if (!replaced) *years->Add() = year;
  rows.Put(CalendarKey(year.county()), std::move(v));
  return true;
}

absl::StatusOr<WorkCalendar> CalendarOf(absl::string_view county, RowAccess& rows) {
  GRID_ASSIGN_OR_RETURN_ROW(cur, rows, CalendarKey(county));
  WorkCalendar cal;
  if (cur) {
    for (const auto& y : cur->work_calendar().years()) cal.Add(y);
  }
  return cal;
}

// The limit of `category` at `tier` ("" = its default) in the catalogue
// `cat`: minutes and whether they are working time; the tier chosen.
void LimitOf(const grid::v1::IncidentCatalogPublished& cat, const std::string& category, std::string tier,
             IncidentTrack* t) {
  for (const auto& c : cat.categories()) {
    if (c.code() != category) continue;
    if (tier.empty()) tier = c.default_tier();
    for (const auto& k : cat.tiers()) {
      if (k.code() != tier) continue;
      t->set_limit_minutes(k.limit_minutes());
      for (const auto& l : c.limits()) {
        if (l.tier() == tier) t->set_limit_minutes(l.limit_minutes());
      }
      t->set_working_time(k.working_time());
    }
  }
  t->mutable_board()->set_urgency(tier);
}

bool Set(const google::protobuf::Timestamp& t) { return t.seconds() != 0 || t.nanos() != 0; }

// The track after `e` and what `e` adds to the stats; nullopt if `e` is
// not an incident event that applies to `prev`.
absl::StatusOr<std::optional<IncidentTrack>> NextTrack(const IncidentTrack* prev, const Event& e,
                                                       RowAccess& rows, StatsDelta* delta) {
  if (AggregateOf(e.type()) != "incident") return std::nullopt;
  const absl::Time when = EventTime(e);
  if (e.has_incident_reported()) {
    if (prev != nullptr) return std::nullopt;
    const auto& r = e.incident_reported();
    IncidentTrack t;
    auto* b = t.mutable_board();
    b->set_incident_id(r.incident_id());
    b->set_org_path(r.org_path());
    b->set_category(r.category());
    b->set_source(r.source());
    b->set_state("REPORTED");
    b->set_handling_org(IncidentHandlingLevel(r.org_path()));
    *b->mutable_reported_at() = ToProtoTime(when);
    GRID_ASSIGN_OR_RETURN_ROW(cat, rows, CatalogKey(CountyOf(r.org_path())));
    if (cat) LimitOf(cat->incident_catalog(), r.category(), r.urgency(), &t);
    t.set_month(absl::FormatTime("%Y-%m", when, ChinaTime()));
    delta->reported = 1;
    return t;
  }
  if (prev == nullptr) return std::nullopt;
  IncidentTrack t = *prev;
  auto* b = t.mutable_board();
  // The county's calendar, read only for the steps that move the clock.
  WorkCalendar cal;
  switch (e.body_case()) {
    case Event::kIncidentDispatched:
    case Event::kIncidentExtensionDecided:
    case Event::kIncidentResumed:
    case Event::kIncidentVerified: {
      auto read = CalendarOf(CountyOf(b->org_path()), rows);
      if (!read.ok()) return read.status();
      cal = *std::move(read);
      break;
    }
    default:
      break;
  }
  const auto dispatch = [&] {
    *b->mutable_dispatched_at() = ToProtoTime(when);
    *b->mutable_due() = ToProtoTime(cal.Add(when, absl::Minutes(t.limit_minutes()), t.working_time()));
    b->set_state("DISPATCHED");
    b->set_extension_pending(false);
    t.set_self_resolved(false);
  };
  const auto close = [&](grid::v1::IncidentOutcome outcome) {
    b->set_state("CLOSED");
    b->clear_due();
    b->set_extension_pending(false);
    t.set_outcome(outcome);
    *t.mutable_closed_at() = ToProtoTime(when);
    t.set_satisfaction(0);
    delta->closed = 1;
    if (outcome == grid::v1::RESOLVED) {
      delta->resolved = 1;
      delta->on_time = t.resolution_on_time() ? 1 : 0;
      delta->minutes = absl::ToInt64Minutes(when - FromProtoTime(b->reported_at()));
    }
  };
  switch (e.body_case()) {
    case Event::kIncidentAccepted:
      b->set_state("ACCEPTED");
      break;
    case Event::kIncidentRejected:
    case Event::kIncidentMarkedDuplicate:
    case Event::kIncidentClosed:
      close(ClosingOutcome(e));
      break;
    case Event::kIncidentSelfResolved:
      b->set_state("RESOLUTION_SUBMITTED");
      b->set_handler_org(b->org_path());
      b->clear_department();
      t.set_self_resolved(true);
      t.set_resolution_on_time(true);
      break;
    case Event::kIncidentDispatched:
      if (Set(b->dispatched_at())) b->set_redispatches(b->redispatches() + 1);
      b->set_handler_org(e.incident_dispatched().to_org());
      b->set_department(e.incident_dispatched().to_department());
      dispatch();
      break;
    case Event::kIncidentAcknowledged:
      b->set_state("ACKNOWLEDGED");
      break;
    case Event::kIncidentReturned:
      // The clock stops: the handler it was sent to is not responsible.
      b->set_state("RETURNED");
      b->set_returns(b->returns() + 1);
      b->clear_due();
      b->set_extension_pending(false);
      break;
    case Event::kIncidentExtensionRequested:
      b->set_extension_pending(true);
      t.set_extension_asked(e.incident_extension_requested().extra_minutes());
      break;
    case Event::kIncidentExtensionDecided: {
      b->set_extension_pending(false);
      const auto& d = e.incident_extension_decided();
      if (d.granted() && Set(b->due())) {
        const uint32_t m = d.extra_minutes() == 0 ? t.extension_asked() : d.extra_minutes();
        *b->mutable_due() = ToProtoTime(cal.Add(FromProtoTime(b->due()), absl::Minutes(m), t.working_time()));
      }
      break;
    }
    case Event::kIncidentSuspended:
      t.set_state_before(b->state());
      b->set_state("SUSPENDED");
      b->set_suspended(true);
      *t.mutable_suspended_since() = ToProtoTime(when);
      break;
    case Event::kIncidentResumed:
      if (Set(b->due())) {
        const absl::Duration paused = cal.Between(FromProtoTime(t.suspended_since()), when, t.working_time());
        *b->mutable_due() = ToProtoTime(cal.Add(FromProtoTime(b->due()), paused, t.working_time()));
      }
      b->set_state(t.state_before());
      b->set_suspended(false);
      t.clear_suspended_since();
      break;
    case Event::kIncidentEscalated:
      b->set_escalations(b->escalations() + 1);
      b->set_handling_org(e.incident_escalated().to_org());
      b->set_state("ACCEPTED");
      break;
    case Event::kIncidentUrged:
      b->set_urged(b->urged() + 1);
      break;
    case Event::kIncidentResolutionSubmitted:
      b->set_state("RESOLUTION_SUBMITTED");
      b->set_extension_pending(false);
      t.set_resolution_on_time(!Set(b->due()) || when <= FromProtoTime(b->due()));
      break;
    case Event::kIncidentVerified:
      delta->verifications = 1;
      if (e.incident_verified().passed()) {
        delta->passed = 1;
        b->set_state("VERIFIED");
      } else if (t.self_resolved()) {
        t.set_self_resolved(false);
        b->set_state("ACCEPTED");
      } else {
        b->set_redispatches(b->redispatches() + 1);
        dispatch();
      }
      break;
    case Event::kIncidentRated:
      t.set_satisfaction(e.incident_rated().satisfaction());
      delta->rated = 1;
      delta->satisfaction = e.incident_rated().satisfaction();
      break;
    case Event::kIncidentReopened:
      // The close no longer counts, nor its rating.
      delta->closed = -1;
      if (t.outcome() == grid::v1::RESOLVED) {
        delta->resolved = -1;
        delta->on_time = t.resolution_on_time() ? -1 : 0;
        delta->minutes =
            -absl::ToInt64Minutes(FromProtoTime(t.closed_at()) - FromProtoTime(b->reported_at()));
      }
      if (t.satisfaction() > 0) {
        delta->rated = -1;
        delta->satisfaction = -static_cast<int64_t>(t.satisfaction());
      }
      t.set_satisfaction(0);
      t.set_outcome(grid::v1::INCIDENT_OUTCOME_UNSPECIFIED);
      t.clear_closed_at();
      b->set_state("ACCEPTED");
      break;
    default:
      return std::nullopt;
  }
  return t;
}

// Whose queue the incident is in: the unit it is dispatched to while that
// unit has it (dispatched, acknowledged, suspended there), else the handling
// level; "" once closed.
std::string BoardKey(const IncidentTrack& t) {
  const auto& b = t.board();
  const std::string& state = b.state() == "SUSPENDED" ? t.state_before() : b.state();
  if (b.state() == "CLOSED") return "";
  if (state == "DISPATCHED" || state == "ACKNOWLEDGED") {
    return absl::StrCat(b.handler_org(), "#", b.department().empty() ? "-" : b.department(), "#",
                        b.incident_id());
  }
  return absl::StrCat(b.handling_org(), "#-#", b.incident_id());
}

std::string TrackKey(const Event& e) {
  return absl::StrCat("~i/", e.stream().substr(e.stream().find('/') + 1));
}

absl::Status FoldIncidentBoard(const Event& e, RowAccess& rows) {
  auto catalog = FoldCatalog(e, rows);
  if (!catalog.ok() || *catalog) return catalog.status();
  if (AggregateOf(e.type()) != "incident") return absl::OkStatus();
  const std::string key = TrackKey(e);
  GRID_ASSIGN_OR_RETURN_ROW(cur, rows, key);
  StatsDelta unused;
  auto next = NextTrack(cur ? &cur->incident_track() : nullptr, e, rows, &unused);
  if (!next.ok()) return next.status();
  if (!*next) return absl::OkStatus();
  IncidentTrack& t = **next;
  const std::string board = BoardKey(t);
  if (!t.board_key().empty() && t.board_key() != board) rows.Delete(t.board_key());
  if (!board.empty()) {
    RowValue v;
    *v.mutable_incident_board() = t.board();
    rows.Put(board, std::move(v));
  }
  t.set_board_key(board);
  RowValue v;
  *v.mutable_incident_track() = std::move(t);
  rows.Put(key, std::move(v));
  return absl::OkStatus();
}

void DeriveIncidentBoard(absl::Time t, RowValue* v) {
  auto* b = v->mutable_incident_board();
  const bool running = b->state() == "DISPATCHED" || b->state() == "ACKNOWLEDGED";
  if (running && Set(b->due()) && t > FromProtoTime(b->due())) {
    b->set_overdue(true);
    b->set_minutes_overdue(static_cast<uint32_t>(absl::ToInt64Minutes(t - FromProtoTime(b->due()))));
  }
}

absl::Status AddStats(RowAccess& rows, const IncidentTrack& t, const StatsDelta& d) {
  const auto& b = t.board();
  for (const std::string& org : Ancestry(b.org_path())) {
    for (const std::string& category : {std::string(), b.category()}) {
      const std::string key = category.empty() ? absl::StrCat(org, "#", t.month())
                                               : absl::StrCat(org, "#", t.month(), "#", category);
      GRID_ASSIGN_OR_RETURN_ROW(cur, rows, key);
      RowValue v = cur.value_or(RowValue());
      auto* s = v.mutable_incident_stats();
      s->set_org_path(org);
      s->set_month(t.month());
      s->set_category(category);
      s->set_reported(s->reported() + d.reported);
      s->set_closed(s->closed() + d.closed);
      s->set_resolved(s->resolved() + d.resolved);
      s->set_resolved_on_time(s->resolved_on_time() + d.on_time);
      s->set_handling_minutes(s->handling_minutes() + d.minutes);
      s->set_verifications(s->verifications() + d.verifications);
      s->set_verifications_passed(s->verifications_passed() + d.passed);
      s->set_rated(s->rated() + d.rated);
      s->set_satisfaction_sum(s->satisfaction_sum() + d.satisfaction);
      rows.Put(key, std::move(v));
    }
  }
  return absl::OkStatus();
}

absl::Status FoldIncidentStats(const Event& e, RowAccess& rows) {
  auto catalog = FoldCatalog(e, rows);
  if (!catalog.ok() || *catalog) return catalog.status();
  if (AggregateOf(e.type()) != "incident") return absl::OkStatus();
  const std::string key = TrackKey(e);
  GRID_ASSIGN_OR_RETURN_ROW(cur, rows, key);
  StatsDelta d;
  auto next = NextTrack(cur ? &cur->incident_track() : nullptr, e, rows, &d);
  if (!next.ok()) return next.status();
  if (!*next) return absl::OkStatus();
  if (!d.empty()) {
    if (auto s = AddStats(rows, **next, d); !s.ok()) return s;
  }
  RowValue v;
  *v.mutable_incident_track() = **std::move(next);
  rows.Put(key, std::move(v));
  return absl::OkStatus();
}

void DeriveIncidentStats(absl::Time, RowValue* v) {
  auto* s = v->mutable_incident_stats();
  const auto ratio = [](int64_t a, int64_t b) {
    return b <= 0 ? 0.0 : static_cast<double>(a) / static_cast<double>(b);
  };
  s->set_on_time_rate(ratio(s->resolved_on_time(), s->resolved()));
  s->set_average_handling_hours(ratio(s->handling_minutes(), s->resolved()) / 60.0);
  s->set_verification_pass_rate(ratio(s->verifications_passed(), s->verifications()));
  s->set_average_satisfaction(ratio(s->satisfaction_sum(), s->rated()));
}

}  // namespace

ProjectionDef IncidentBoardProjection() {
  return {
      "incident_board",
      "per unit#department#incident: open incidents whose turn it is, due time, returns, urging, *overdue*",
      FoldIncidentBoard, DeriveIncidentBoard};
}

ProjectionDef IncidentStatsProjection() {
  return {"incident_stats",
          "per org path (every level)#month[#category]: reported, closed, on time, handling time, "
          "verification passes, satisfaction",
          FoldIncidentStats, DeriveIncidentStats};
}

}  // namespace grid::domain
