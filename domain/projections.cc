#include "domain/projections.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "domain/events.h"
#include "domain/rules.h"

namespace grid::domain {
namespace {

using grid::v1::Event;
using grid::v1::RowValue;
namespace pb = google::protobuf;

constexpr size_t kMaxMissingListed = 1000;
// device_gaps: a sequence further past the highest than this is not a gap.
constexpr uint64_t kMaxSeqJump = 10000;

std::string Key(absl::string_view org, absl::string_view id) { return absl::StrCat(org, "#", id); }

// Every org path from the county down to `path` itself.
std::vector<std::string> Ancestry(absl::string_view path) {
  std::vector<std::string> out;
  size_t pos = 0;
  for (;;) {
    const size_t slash = path.find('/', pos);
    if (slash == absl::string_view::npos) break;
    out.emplace_back(path.substr(0, slash));
    pos = slash + 1;
  }
  if (!path.empty()) out.emplace_back(path);
  return out;
}

// The first `level` segments of `path` (the whole path if shorter).
std::string Truncate(absl::string_view path, uint32_t level) {
  size_t pos = 0;
  for (uint32_t i = 0; i < level; ++i) {
    const size_t slash = path.find('/', pos);
    if (slash == absl::string_view::npos) return std::string(path);
    pos = slash + 1;
  }
  return std::string(path.substr(0, pos == 0 ? 0 : pos - 1));
}

#define GRID_ASSIGN_OR_RETURN_ROW(var, rows, key)  \
  auto var##_or = (rows).Get(key);                 \
  if (!var##_or.ok()) return var##_or.status();    \
  std::optional<RowValue> var = *std::move(var##_or)

// ---- grid_sanitation -----------------------------------------------------------

absl::Status FoldGridSanitation(const Event& e, RowAccess& rows) {
  if (e.body_case() == Event::kSanitationReportSubmitted) {
    GRID_ASSIGN_OR_RETURN_ROW(cur, rows, e.org_path());
    RowValue v = cur.value_or(RowValue());
    auto* row = v.mutable_grid_sanitation();
    const auto& r = e.sanitation_report_submitted();
    row->set_last_report_id(r.report_id());
    row->set_last_kind(r.kind());
    row->set_last_score_x10(r.total_score_x10());
    *row->mutable_last_report_at() = ToProtoTime(EventTime(e));
    row->set_reports(row->reports() + 1);
    for (const auto& f : r.findings()) (*row->mutable_open_findings())[f.finding_id()] = f.rectify_by();
    row->set_open_finding_count(row->open_findings_size());
    rows.Put(e.org_path(), std::move(v));
    return absl::OkStatus();
  }
  std::string finding;
  std::optional<pb::Timestamp> deadline;
  bool close = false;
  switch (e.body_case()) {
    case Event::kRectificationOrdered:
      finding = e.rectification_ordered().finding_id();
      deadline = e.rectification_ordered().deadline();
      break;
    case Event::kRectificationReinspected:
      finding = e.rectification_reinspected().finding_id();
      close = e.rectification_reinspected().passed();
      if (!close) deadline = e.rectification_reinspected().new_deadline();
      break;
    case Event::kRectificationExtended:
      finding = e.rectification_extended().finding_id();
      deadline = e.rectification_extended().new_deadline();
      break;
    default:
      return absl::OkStatus();
  }
  GRID_ASSIGN_OR_RETURN_ROW(cur, rows, e.org_path());
  if (!cur && close) return absl::OkStatus();
  RowValue v = cur.value_or(RowValue());
  auto* row = v.mutable_grid_sanitation();
  if (close) {
    row->mutable_open_findings()->erase(finding);
  } else {
    (*row->mutable_open_findings())[finding] = *deadline;
  }
  row->set_open_finding_count(row->open_findings_size());
  rows.Put(e.org_path(), std::move(v));
  return absl::OkStatus();
}

void DeriveGridSanitation(absl::Time t, RowValue* v) {
  auto* row = v->mutable_grid_sanitation();
  uint32_t overdue = 0;
  for (const auto& [id, deadline] : row->open_findings()) overdue += FromProtoTime(deadline) < t ? 1 : 0;
  row->set_overdue_finding_count(overdue);
}

// ---- rectification_queue ------------------------------------------------------

absl::Status FoldRectificationQueue(const Event& e, RowAccess& rows) {
  std::string finding;
  switch (e.body_case()) {
    case Event::kRectificationOrdered: {
      const auto& o = e.rectification_ordered();
      RowValue v;
      auto* row = v.mutable_rectification();
      row->set_finding_id(o.finding_id());
      *row->mutable_responsible() = o.responsible();
      *row->mutable_deadline() = o.deadline();
      *row->mutable_ordered_at() = ToProtoTime(EventTime(e));
      rows.Put(Key(e.org_path(), o.finding_id()), std::move(v));
      return absl::OkStatus();
    }
    case Event::kRectificationReinspected: finding = e.rectification_reinspected().finding_id(); break;
    case Event::kRectificationExtended: finding = e.rectification_extended().finding_id(); break;
    case Event::kRectificationEscalated: finding = e.rectification_escalated().finding_id(); break;
    default: return absl::OkStatus();
  }
  const std::string key = Key(e.org_path(), finding);
  GRID_ASSIGN_OR_RETURN_ROW(cur, rows, key);
  if (!cur) return absl::OkStatus();
  auto* row = cur->mutable_rectification();
  if (e.has_rectification_reinspected()) {
    if (e.rectification_reinspected().passed()) {
      rows.Delete(key);
      return absl::OkStatus();
    }
    row->set_failed_reinspections(row->failed_reinspections() + 1);
    *row->mutable_deadline() = e.rectification_reinspected().new_deadline();
  } else if (e.has_rectification_extended()) {
    row->set_extensions(row->extensions() + 1);
    *row->mutable_deadline() = e.rectification_extended().new_deadline();
  } else {
    row->set_escalated_to(e.rectification_escalated().to_org());
  }
  rows.Put(key, *std::move(cur));
  return absl::OkStatus();
}

void DeriveRectification(absl::Time t, RowValue* v) {
  auto* row = v->mutable_rectification();
  const absl::Duration late = t - FromProtoTime(row->deadline());
  row->set_days_overdue(late > absl::ZeroDuration()
                            ? static_cast<uint32_t>(std::ceil(absl::FDivDuration(late, absl::Hours(24))))
                            : 0);
}

// ---- population ------------------------------------------------------------------

struct PopulationDelta {
  int64_t households = 0, residents = 0, family = 0, collective = 0, deaths = 0;
  int64_t by_type[4] = {0, 0, 0, 0};  // indexed by ResidenceType

  void Person(grid::v1::ResidenceType t, int64_t n) {
    residents += n;
    by_type[t >= 0 && t < 4 ? t : 0] += n;
  }
};

absl::Status AddPopulation(RowAccess& rows, absl::string_view org, const PopulationDelta& d) {
  for (const auto& level : Ancestry(org)) {
    GRID_ASSIGN_OR_RETURN_ROW(cur, rows, level);
    RowValue v = cur.value_or(RowValue());
    auto* p = v.mutable_population();
    p->set_households(p->households() + d.households);
    p->set_residents(p->residents() + d.residents);
    p->set_family_households(p->family_households() + d.family);
    p->set_collective_households(p->collective_households() + d.collective);
    p->set_deaths_awaiting_confirmation(p->deaths_awaiting_confirmation() + d.deaths);
    p->set_registered_residents(p->registered_residents() + d.by_type[grid::v1::REGISTERED_RESIDENT]);
    p->set_registered_away(p->registered_away() + d.by_type[grid::v1::REGISTERED_AWAY]);
    p->set_non_registered_residents(p->non_registered_residents() + d.by_type[grid::v1::NON_REGISTERED_RESIDENT]);
    rows.Put(level, std::move(v));
  }
  return absl::OkStatus();
}

// The whole household as a delta (sign = +1 to count it in, -1 out).
PopulationDelta WholeHousehold(const grid::v1::InternalRow& h, int64_t sign) {
  PopulationDelta d;
  d.households = sign;
  (h.collective() ? d.collective : d.family) = sign;
  d.deaths = sign * h.keys_size();
  for (const auto& [token, type] : h.residence()) d.Person(type, sign);
  return d;
}

// population keeps, per household, "~hh/household/<id>": its grid, kind,
// each member's residence type and the deaths reported but not confirmed.
absl::Status FoldPopulation(const Event& e, RowAccess& rows) {
  if (AggregateOf(e.type()) != "household") return absl::OkStatus();
  const std::string hkey = absl::StrCat("~hh/", e.stream());
  GRID_ASSIGN_OR_RETURN_ROW(cur, rows, hkey);
  if (!cur && !e.has_household_created()) return absl::OkStatus();
  RowValue v = cur.value_or(RowValue());
  auto* h = v.mutable_internal();
  auto* residence = h->mutable_residence();
  PopulationDelta d;
  switch (e.body_case()) {
    case Event::kHouseholdCreated: {
      if (cur) return absl::OkStatus();
      const auto& c = e.household_created();
      h->set_org_path(c.org_path());
      h->set_collective(c.kind() == grid::v1::COLLECTIVE);
      (*residence)[c.head().person_token()] = c.head_residence();
      d = WholeHousehold(*h, 1);
      break;
    }
    case Event::kMemberAdded: {
      const auto& m = e.member_added();
      if (residence->contains(m.person().person_token())) return absl::OkStatus();
      (*residence)[m.person().person_token()] = m.residence();
      d.Person(m.residence(), 1);
      break;
    }
    case Event::kMemberRemoved: {
      const auto& m = e.member_removed();
      auto it = residence->find(m.person_token());
      if (it == residence->end()) return absl::OkStatus();
      auto* reported = h->mutable_keys();
      auto r = std::find(reported->begin(), reported->end(), m.person_token());
      if (m.reason() == grid::v1::MemberRemoved::DEATH_REPORTED) {
        if (r != reported->end()) return absl::OkStatus();
        reported->Add(std::string(m.person_token()));
        d.deaths = 1;
      } else {
        if (r != reported->end()) {
          reported->erase(r);
          d.deaths = -1;
        }
        d.Person(it->second, -1);
        residence->erase(it);
      }
      break;
    }
    case Event::kHouseholdSplit:
      for (const auto& t : e.household_split().moved_person_tokens()) {
        auto it = residence->find(t);
        if (it == residence->end()) continue;
        d.Person(it->second, -1);
        residence->erase(it);
      }
      break;
    case Event::kHouseholdDataCorrected: {
      const auto& c = e.household_data_corrected();
      auto it = residence->find(c.person().person_token());
      if (c.residence() == grid::v1::RESIDENCE_TYPE_UNSPECIFIED || it == residence->end() ||
          it->second == c.residence()) {
        return absl::OkStatus();
      }
      d.Person(it->second, -1);
      d.Person(c.residence(), 1);
      it->second = c.residence();
      break;
    }
    case Event::kAddressChanged:
      if (auto s = AddPopulation(rows, h->org_path(), WholeHousehold(*h, -1)); !s.ok()) return s;
      h->set_org_path(e.address_changed().new_org_path());
      d = WholeHousehold(*h, 1);
      break;
    case Event::kHouseholdDissolved:
      if (auto s = AddPopulation(rows, h->org_path(), WholeHousehold(*h, -1)); !s.ok()) return s;
      rows.Delete(hkey);
      return absl::OkStatus();
    default:
      return absl::OkStatus();
  }
  if (auto s = AddPopulation(rows, h->org_path(), d); !s.ok()) return s;
  rows.Put(hkey, std::move(v));
  return absl::OkStatus();
}

// ---- household_roster ------------------------------------------------------------

absl::Status FoldHouseholdRoster(const Event& e, RowAccess& rows) {
  if (AggregateOf(e.type()) != "household") return absl::OkStatus();
  const std::string id = e.stream().substr(e.stream().find('/') + 1);
  if (e.has_household_created()) {
    const auto& c = e.household_created();
    RowValue v;
    auto* row = v.mutable_household_roster();
    row->set_household_id(c.household_id());
    row->set_kind(c.kind());
    row->set_house_number(c.house_number());
    row->set_head_token(c.head().person_token());
    auto* m = row->add_members();
    m->set_person_token(c.head().person_token());
    m->set_name(c.head().name());
    m->set_relation_to_head(grid::v1::HEAD);
    m->set_birth_year(c.head().birth_year());
    m->set_residence(c.head_residence());
    row->set_last_event_id(e.event_id());
    rows.Put(Key(c.org_path(), id), std::move(v));
    return absl::OkStatus();
  }
  const std::string key = Key(e.has_address_changed() ? e.address_changed().old_org_path() : e.org_path(), id);
  GRID_ASSIGN_OR_RETURN_ROW(cur, rows, key);
  if (!cur) return absl::OkStatus();
  auto* row = cur->mutable_household_roster();
  auto* members = row->mutable_members();
  auto find = [&](const std::string& token) {
    return std::find_if(members->begin(), members->end(),
                        [&](const grid::v1::RosterMember& m) { return m.person_token() == token; });
  };
  std::string new_key = key;
  switch (e.body_case()) {
    case Event::kMemberAdded: {
      const auto& a = e.member_added();
      auto* m = row->add_members();
      m->set_person_token(a.person().person_token());
      m->set_name(a.person().name());
      m->set_relation_to_head(a.relation_to_head());
      m->set_birth_year(a.person().birth_year());
      m->set_residence(a.residence());
      break;
    }
    case Event::kMemberRemoved: {
      const auto& r = e.member_removed();
      auto it = find(r.person_token());
      if (it == members->end()) break;
      if (r.reason() == grid::v1::MemberRemoved::DEATH_REPORTED) {
        it->set_death_reported(true);
      } else {
        members->erase(it);
        if (row->head_token() == r.person_token()) row->clear_head_token();
      }
      break;
    }
    case Event::kHeadChanged: {
      if (auto old = find(row->head_token()); old != members->end()) {
        old->set_relation_to_head(grid::v1::RELATION_UNSPECIFIED);
      }
      row->set_head_token(e.head_changed().new_head_token());
      if (auto it = find(row->head_token()); it != members->end()) it->set_relation_to_head(grid::v1::HEAD);
      break;
    }
    case Event::kAddressChanged:
      new_key = Key(e.address_changed().new_org_path(), id);
      if (!e.address_changed().new_house_number().empty()) {
        row->set_house_number(e.address_changed().new_house_number());
      }
      break;
    case Event::kHouseholdSplit:
      for (const auto& t : e.household_split().moved_person_tokens()) {
        if (auto it = find(t); it != members->end()) members->erase(it);
      }
      break;
    case Event::kHouseholdDissolved:
      rows.Delete(key);
      return absl::OkStatus();
    case Event::kHouseholdDataCorrected: {
      const auto& c = e.household_data_corrected();
      if (!c.has_person()) break;
      auto it = find(c.person().person_token());
      if (it == members->end()) break;
      if (!c.person().name().empty()) it->set_name(c.person().name());
      if (c.person().birth_year() != 0) it->set_birth_year(c.person().birth_year());
      if (c.relation_to_head() != grid::v1::RELATION_UNSPECIFIED) it->set_relation_to_head(c.relation_to_head());
      if (c.residence() != grid::v1::RESIDENCE_TYPE_UNSPECIFIED) it->set_residence(c.residence());
      break;
    }
    default:
      break;
  }
  row->set_last_event_id(e.event_id());
  if (new_key != key) rows.Delete(key);
  rows.Put(new_key, *std::move(cur));
  return absl::OkStatus();
}

// ---- project_pipeline and pending_approvals --------------------------------------

// The pipeline row after `e`; nullopt if `e` does not apply to `prev`.
std::optional<grid::v1::ProjectPipelineRow> NextPipeline(const grid::v1::ProjectPipelineRow* prev,
                                                         const Event& e) {
  const absl::Time when = EventTime(e);
  auto stop_clock = [&](grid::v1::ProjectPipelineRow* row) {
    if (row->has_clock_running_since()) {
      row->set_working_days_banked(row->working_days_banked() +
                                   WorkingDaysBetween(FromProtoTime(row->clock_running_since()), when));
      row->clear_clock_running_since();
    }
  };
  auto ask = [&](grid::v1::Stage s, const std::string& dept) {
    grid::v1::PendingAsk a;
    a.set_stage(s);
    a.set_department(dept);
    *a.mutable_since() = ToProtoTime(when);
    return a;
  };
  if (e.has_project_declared()) {
    const auto& d = e.project_declared();
    grid::v1::ProjectPipelineRow row;
    if (prev != nullptr) {
      if (prev->status() != "RETURNED") return std::nullopt;
      row = *prev;
      row.clear_pending();
      *row.add_pending() = ask(prev->returned_by().stage(), prev->returned_by().department());
      row.clear_returned_by();
    } else {
      row.set_project_id(d.project_id());
      row.set_applicant_org(d.applicant_org());
      *row.mutable_declared_at() = ToProtoTime(when);
      *row.add_pending() = ask(grid::v1::TOWN_PRELIMINARY, std::string(ParentOf(d.applicant_org())));
    }
    row.set_title(d.title());
    row.set_revision(d.revision());
    row.set_investment_fen(d.investment_fen());
    row.set_status("IN_REVIEW");
    *row.mutable_clock_running_since() = ToProtoTime(when);
    return row;
  }
  if (prev == nullptr) return std::nullopt;
  grid::v1::ProjectPipelineRow row = *prev;
  switch (e.body_case()) {
    case Event::kProjectStageDecided: {
      const auto& d = e.project_stage_decided();
      auto* pending = row.mutable_pending();
      auto it = std::find_if(pending->begin(), pending->end(), [&](const grid::v1::PendingAsk& a) {
        return a.stage() == d.stage() && a.department() == d.department();
      });
      if (it == pending->end()) return std::nullopt;
      switch (d.decision()) {
        case grid::v1::ACCEPTED:
          break;
        case grid::v1::APPROVED:
        case grid::v1::OPINION:
          pending->erase(it);
          for (int i = 0; i < d.next_stages_size() && i < d.next_departments_size(); ++i) {
            *row.add_pending() = ask(d.next_stages(i), d.next_departments(i));
          }
          if (row.pending().empty()) {
            row.set_status("APPROVED");
            stop_clock(&row);
          }
          break;
        case grid::v1::RETURNED_FOR_SUPPLEMENT:
          *row.mutable_returned_by() = *it;
          row.clear_pending();
          row.mutable_missing_items()->CopyFrom(d.missing_items());
          row.set_status("RETURNED");
          stop_clock(&row);
          break;
        case grid::v1::REJECTED:
          row.clear_pending();
          row.set_status("REJECTED");
          stop_clock(&row);
          break;
        default:
          return std::nullopt;
      }
      return row;
    }
    case Event::kProjectStarted:
      row.set_status("STARTED");
      return row;
    case Event::kProjectCompleted:
      row.set_status("COMPLETED");
      return row;
    default:
      return std::nullopt;
  }
}

absl::Status FoldProjectPipeline(const Event& e, RowAccess& rows) {
  if (AggregateOf(e.type()) != "project") return absl::OkStatus();
  const std::string id = e.stream().substr(e.stream().find('/') + 1);
  const std::string key = Key(e.org_path(), id);
  GRID_ASSIGN_OR_RETURN_ROW(cur, rows, key);
  auto next = NextPipeline(cur ? &cur->project_pipeline() : nullptr, e);
  if (!next) return absl::OkStatus();
  RowValue v;
  *v.mutable_project_pipeline() = *std::move(next);
  rows.Put(key, std::move(v));
  return absl::OkStatus();
}

void DeriveProjectPipeline(absl::Time t, RowValue* v) {
  auto* row = v->mutable_project_pipeline();
  uint32_t days = row->working_days_banked();
  if (row->has_clock_running_since()) days += WorkingDaysBetween(FromProtoTime(row->clock_running_since()), t);
  row->set_working_days_used(days);
}

absl::Status FoldPendingApprovals(const Event& e, RowAccess& rows) {
  if (AggregateOf(e.type()) != "project") return absl::OkStatus();
  const std::string id = e.stream().substr(e.stream().find('/') + 1);
  const std::string state_key = absl::StrCat("~p/", id);
  GRID_ASSIGN_OR_RETURN_ROW(cur, rows, state_key);
  const grid::v1::ProjectPipelineRow* prev = cur ? &cur->project_pipeline() : nullptr;
  auto next = NextPipeline(prev, e);
  if (!next) return absl::OkStatus();
  auto same = [](const grid::v1::PendingAsk& a, const grid::v1::PendingAsk& b) {
    return a.stage() == b.stage() && a.department() == b.department();
  };
  if (prev != nullptr) {
    for (const auto& a : prev->pending()) {
      if (std::none_of(next->pending().begin(), next->pending().end(),
                       [&](const auto& b) { return same(a, b); })) {
        rows.Delete(Key(a.department(), id));
      }
    }
  }
  for (const auto& a : next->pending()) {
    if (prev != nullptr && std::any_of(prev->pending().begin(), prev->pending().end(),
                                       [&](const auto& b) { return same(a, b); })) {
      continue;
    }
    RowValue v;
    auto* row = v.mutable_pending_approval();
    row->set_project_id(id);
    row->set_applicant_org(next->applicant_org());
    row->set_stage(a.stage());
    row->set_revision(next->revision());
    *row->mutable_since() = a.since();
    row->set_title(next->title());
    rows.Put(Key(a.department(), id), std::move(v));
  }
  RowValue state;
  *state.mutable_project_pipeline() = *std::move(next);
  rows.Put(state_key, std::move(state));
  return absl::OkStatus();
}

// ---- form_completion -----------------------------------------------------------

absl::Status FoldFormCompletion(const Event& e, RowAccess& rows) {
  switch (e.body_case()) {
    case Event::kGridDefined:
    case Event::kGridRetired: {
      RowValue v;
      v.mutable_internal()->set_active(e.has_grid_defined());
      rows.Put(absl::StrCat("~g/", e.org_path()), std::move(v));
      return absl::OkStatus();
    }
    case Event::kFormTaskIssued: {
      const auto& t = e.form_task_issued();
      std::set<std::string> targets;
      if (t.target_level() == 0) {
        targets.insert(t.target_org_prefix());
      } else {
        absl::Status s = rows.Scan(absl::StrCat("~g/", t.target_org_prefix()),
                                   [&](const std::string& key, const RowValue& v) {
                                     const std::string grid = key.substr(3);
                                     if (!v.internal().active() || !IsUnder(grid, t.target_org_prefix())) return;
                                     targets.insert(Truncate(grid, t.target_level()));
                                   });
        if (!s.ok()) return s;
      }
      for (const auto& org : targets) {
        RowValue v;
        auto* row = v.mutable_form_completion();
        row->set_task_id(t.task_id());
        row->set_org_path(org);
        *row->mutable_due() = t.due();
        row->set_status("PENDING");
        rows.Put(Key(t.task_id(), org), std::move(v));
      }
      RowValue task;
      task.mutable_internal()->set_org_path(t.target_org_prefix());
      task.mutable_internal()->set_level(t.target_level());
      *task.mutable_internal()->mutable_due() = t.due();
      rows.Put(absl::StrCat("~t/", t.task_id()), std::move(task));
      return absl::OkStatus();
    }
    case Event::kFormSubmitted: {
      const auto& f = e.form_submitted();
      GRID_ASSIGN_OR_RETURN_ROW(task, rows, absl::StrCat("~t/", f.task_id()));
      if (!task) return absl::OkStatus();
      const uint32_t level = task->internal().level();
      const std::string org = level == 0 ? task->internal().org_path() : Truncate(f.org_path(), level);
      const std::string key = Key(f.task_id(), org);
      GRID_ASSIGN_OR_RETURN_ROW(cur, rows, key);
      RowValue v = cur.value_or(RowValue());
      auto* row = v.mutable_form_completion();
      row->set_task_id(f.task_id());
      row->set_org_path(org);
      *row->mutable_due() = task->internal().due();
      row->set_submissions(row->submissions() + 1);
      if (row->submission_id().empty() || f.supersedes_submission_id() == row->submission_id() ||
          row->status() == "PENDING") {
        const absl::Time when = EventTime(e);
        // The first submission decides on-time or late; a superseding one
        // replaces the values, not the timeliness.
        if (row->status() == "PENDING" || row->status().empty()) {
          row->set_status(when > FromProtoTime(task->internal().due()) ? "LATE" : "SUBMITTED");
          *row->mutable_submitted_at() = ToProtoTime(when);
        }
        row->set_submission_id(f.submission_id());
      }
      rows.Put(key, std::move(v));
      return absl::OkStatus();
    }
    default:
      return absl::OkStatus();
  }
}

void DeriveFormCompletion(absl::Time t, RowValue* v) {
  auto* row = v->mutable_form_completion();
  if (row->status() == "PENDING" && t > FromProtoTime(row->due())) row->set_status("MISSING");
}

// ---- device_gaps ------------------------------------------------------------------

absl::Status FoldDeviceGaps(const Event& e, RowAccess& rows) {
  if (e.device_id().empty() || e.device_seq() == 0) return absl::OkStatus();
  const std::string dkey = absl::StrCat("~d/", e.device_id());
  GRID_ASSIGN_OR_RETURN_ROW(where, rows, dkey);
  const std::string old_key = where ? Key(where->internal().org_path(), e.device_id()) : "";
  std::optional<RowValue> cur;
  if (where) {
    auto got = rows.Get(old_key);
    if (!got.ok()) return got.status();
    cur = *std::move(got);
  }
  RowValue v = cur.value_or(RowValue());
  auto* row = v.mutable_device_gaps();
  row->set_device_id(e.device_id());
  const uint64_t seq = e.device_seq();
  // A device is its first appender's: another principal naming it (a cloned
  // or hijacked id) or an implausible jump would move the row, or bury its
  // gaps; neither is folded in, both are counted where the owner sees them.
  const std::string& appender = e.actor().principal();
  if (where && (where->internal().owner() != appender ||
                (seq > row->highest_seq() && seq - row->highest_seq() > kMaxSeqJump))) {
    row->set_rejected(row->rejected() + 1);
    rows.Put(old_key, std::move(v));
    return absl::OkStatus();
  }
  // A device's count starts at 1, so that its first reports lost show as
  // gaps; but a first seq past the jump limit is where its count starts (an
  // app that reported elsewhere before): refused as a jump from 0, it kept
  // the row at 0 and every later event was refused as a jump too.
  if (!where && seq > kMaxSeqJump) {
    row->set_highest_seq(seq);
  } else if (seq > row->highest_seq()) {
    const uint64_t gap = seq - row->highest_seq() - 1;
    for (uint64_t s = row->highest_seq() + 1; s < seq && static_cast<size_t>(row->missing_size()) < kMaxMissingListed;
         ++s) {
      row->add_missing(s);
    }
    row->set_missing_count(row->missing_count() + gap);
    row->set_highest_seq(seq);
  } else {
    auto* missing = row->mutable_missing();
    auto it = std::find(missing->begin(), missing->end(), seq);
    if (it != missing->end()) {
      missing->erase(it);
      row->set_missing_count(row->missing_count() - 1);
    } else if (row->missing_count() > static_cast<uint64_t>(row->missing_size())) {
      row->set_missing_count(row->missing_count() - 1);  // a gap beyond the listed ones
    }
  }
  row->set_received(row->received() + 1);
  *row->mutable_last_seen() = ToProtoTime(EventTime(e));
  const std::string new_key = Key(e.org_path(), e.device_id());
  if (!old_key.empty() && old_key != new_key) rows.Delete(old_key);
  rows.Put(new_key, std::move(v));
  if (!where || where->internal().org_path() != e.org_path()) {
    RowValue w;
    w.mutable_internal()->set_org_path(e.org_path());
    w.mutable_internal()->set_owner(appender);
    rows.Put(dkey, std::move(w));
  }
  return absl::OkStatus();
}

}  // namespace

const std::vector<ProjectionDef>& AllProjections() {
  static const auto* defs = new std::vector<ProjectionDef>{
      {"grid_sanitation", "per grid: last report and score, open and overdue findings",
       FoldGridSanitation, DeriveGridSanitation},
      {"rectification_queue", "per grid#finding: responsible party, deadline, days overdue",
       FoldRectificationQueue, DeriveRectification},
      {"population", "per org path at every level: households and residents (counts only)",
       FoldPopulation, nullptr},
      {"household_roster", "per grid#household: members with names (restricted)",
       FoldHouseholdRoster, nullptr},
      {"project_pipeline", "per applicant#project: stage, revision, pending departments, working days",
       FoldProjectPipeline, DeriveProjectPipeline},
      {"pending_approvals", "per department#project: what waits on the department, since when",
       FoldPendingApprovals, nullptr},
      {"form_completion", "per task#org: submitted, late or missing",
       FoldFormCompletion, DeriveFormCompletion},
      {"device_gaps", "per org#device: highest sequence seen and sequences never received",
       FoldDeviceGaps, nullptr},
  };
  return *defs;
}

const ProjectionDef* FindProjection(absl::string_view name) {
  for (const auto& d : AllProjections()) {
    if (d.name == name) return &d;
  }
  return nullptr;
}

bool KeyMatches(absl::string_view key, absl::string_view prefix) {
  if (!key.empty() && key[0] == '~') return false;
  if (prefix.empty()) return true;
  if (key.substr(0, prefix.size()) != prefix) return false;
  if (key.size() == prefix.size()) return true;
  const char last = prefix.back();
  const char next = key[prefix.size()];
  return last == '/' || last == '#' || next == '/' || next == '#';
}

uint32_t WorkingDaysBetween(absl::Time from, absl::Time to) {
  if (to <= from) return 0;
  const absl::TimeZone china = absl::FixedTimeZone(8 * 3600);
  const absl::CivilDay a = absl::ToCivilDay(from, china);
  const absl::CivilDay b = absl::ToCivilDay(to, china);
  uint32_t days = 0;
  for (absl::CivilDay d = a + 1; d <= b; ++d) {
    const absl::Weekday w = absl::GetWeekday(d);
    if (w != absl::Weekday::saturday && w != absl::Weekday::sunday) ++days;
  }
  return days;
}

absl::Time EventTime(const Event& e) {
  if (e.has_occurred_at()) return FromProtoTime(e.occurred_at());
  return FromProtoTime(e.recorded_at());
}

}  // namespace grid::domain
