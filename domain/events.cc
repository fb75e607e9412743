#include "domain/events.h"

#include "domain/rules.h"

namespace grid::domain::events {
namespace {

Event Envelope(const std::string& id, const std::string& type, const std::string& stream,
               const std::string& org_path, absl::Time at) {
  Event e;
  e.set_event_id(id);
  e.set_type(type);
  e.set_stream(stream);
  e.set_org_path(org_path);
  *e.mutable_occurred_at() = ToProtoTime(at);
  return e;
}

void Person(grid::v1::PersonRef* p, const std::string& token, const std::string& name) {
  p->set_person_token(token);
  p->set_name(name);
}

}  // namespace

Event GridDefined(const std::string& id, const std::string& grid, absl::Time at, const std::string& name) {
  Event e = Envelope(id, "GridDefined", StreamFor("org", CountyOf(grid)), grid, at);
  e.mutable_grid_defined()->set_org_path(grid);
  e.mutable_grid_defined()->set_name(name);
  return e;
}

Event GridRetired(const std::string& id, const std::string& grid, absl::Time at) {
  Event e = Envelope(id, "GridRetired", StreamFor("org", CountyOf(grid)), grid, at);
  e.mutable_grid_retired()->set_org_path(grid);
  return e;
}

Event WorkerAssigned(const std::string& id, const std::string& worker, const std::string& grid,
                     absl::Time at) {
  Event e = Envelope(id, "WorkerAssigned", StreamFor("org", CountyOf(grid)), grid, at);
  e.mutable_worker_assigned()->set_worker_id(worker);
  e.mutable_worker_assigned()->set_org_path(grid);
  *e.mutable_worker_assigned()->mutable_from() = ToProtoTime(at);
  return e;
}

Event WorkerUnassigned(const std::string& id, const std::string& worker, const std::string& grid,
                       absl::Time at) {
  Event e = Envelope(id, "WorkerUnassigned", StreamFor("org", CountyOf(grid)), grid, at);
  e.mutable_worker_unassigned()->set_worker_id(worker);
  e.mutable_worker_unassigned()->set_org_path(grid);
  return e;
}

Event OrgUnitNamed(const std::string& id, const std::string& unit, const std::string& name,
                   grid::v1::OrgUnitKind kind, absl::Time at) {
  Event e = Envelope(id, "OrgUnitNamed", StreamFor("org", CountyOf(unit)), unit, at);
  e.mutable_org_unit_named()->set_org_path(unit);
  e.mutable_org_unit_named()->set_name(name);
  e.mutable_org_unit_named()->set_kind(kind);
  return e;
}

Event OrgUnitRecoded(const std::string& id, const std::string& old_unit, const std::string& new_unit,
                     absl::Time at) {
  Event e = Envelope(id, "OrgUnitRecoded", StreamFor("org", CountyOf(old_unit)), old_unit, at);
  e.mutable_org_unit_recoded()->set_old_org_path(old_unit);
  e.mutable_org_unit_recoded()->set_new_org_path(new_unit);
  return e;
}

Event SanitationReport(const std::string& id, const std::string& grid, const std::string& worker,
                       grid::v1::SanitationKind kind, uint32_t score_x10,
                       const std::vector<std::string>& findings, absl::Time at, absl::Duration rectify_in) {
  Event e = Envelope(id, "SanitationReportSubmitted", StreamFor("sanitation", grid), grid, at);
  auto* r = e.mutable_sanitation_report_submitted();
  r->set_report_id(id);
  r->set_kind(kind);
  r->set_reporter_worker_id(worker);
  r->set_score_sheet("rural-sanitation-2024");
  r->set_total_score_x10(score_x10);
  if (score_x10 < 1000) {
    auto* d = r->add_deductions();
    d->set_item_code("litter");
    d->set_max_points_x10(1000);
    d->set_deducted_points_x10(1000 - score_x10);
  }
  r->mutable_location()->set_latitude(24.96);
  r->mutable_location()->set_longitude(118.38);
  r->mutable_location()->set_system(grid::v1::GCJ02);
  for (const auto& f : findings) {
    auto* fd = r->add_findings();
    fd->set_finding_id(f);
    fd->set_item_code("litter");
    fd->set_description("refuse piled by the lane");
    fd->mutable_responsible()->set_org_path(grid);
    *fd->mutable_rectify_by() = ToProtoTime(at + rectify_in);
  }
  return e;
}

Event RectificationOrdered(const std::string& id, const std::string& finding, const std::string& grid,
                           absl::Time deadline, absl::Time at) {
  Event e = Envelope(id, "RectificationOrdered", StreamFor("rectification", finding), grid, at);
  auto* r = e.mutable_rectification_ordered();
  r->set_finding_id(finding);
  r->mutable_responsible()->set_org_path(grid);
  r->set_requirement("clear and keep clear");
  *r->mutable_deadline() = ToProtoTime(deadline);
  return e;
}

Event RectificationProgress(const std::string& id, const std::string& finding, const std::string& grid,
                            absl::Time at) {
  Event e = Envelope(id, "RectificationProgressReported", StreamFor("rectification", finding), grid, at);
  e.mutable_rectification_progress_reported()->set_finding_id(finding);
  e.mutable_rectification_progress_reported()->set_note("half cleared");
  return e;
}

Event RectificationReinspected(const std::string& id, const std::string& finding, const std::string& grid,
                               bool passed, absl::Time new_deadline, absl::Time at) {
  Event e = Envelope(id, "RectificationReinspected", StreamFor("rectification", finding), grid, at);
  auto* r = e.mutable_rectification_reinspected();
  r->set_finding_id(finding);
  r->set_passed(passed);
  if (!passed) *r->mutable_new_deadline() = ToProtoTime(new_deadline);
  return e;
}

Event RectificationExtended(const std::string& id, const std::string& finding, const std::string& grid,
                            absl::Time new_deadline, absl::Time at) {
  Event e = Envelope(id, "RectificationExtended", StreamFor("rectification", finding), grid, at);
  auto* r = e.mutable_rectification_extended();
  r->set_finding_id(finding);
  *r->mutable_new_deadline() = ToProtoTime(new_deadline);
  r->set_approved_by_org(std::string(ParentOf(grid)));
  return e;
}

Event RectificationEscalated(const std::string& id, const std::string& finding, const std::string& grid,
                             const std::string& to_org, absl::Time at) {
  Event e = Envelope(id, "RectificationEscalated", StreamFor("rectification", finding), grid, at);
  e.mutable_rectification_escalated()->set_finding_id(finding);
  e.mutable_rectification_escalated()->set_to_org(to_org);
  return e;
}

Event HouseholdCreated(const std::string& id, const std::string& household, const std::string& grid,
                       const std::string& head_token, const std::string& head_name, absl::Time at,
                       grid::v1::ResidenceType residence) {
  Event e = Envelope(id, "HouseholdCreated", StreamFor("household", household), grid, at);
  auto* h = e.mutable_household_created();
  h->set_household_id(household);
  h->set_kind(grid::v1::FAMILY);
  h->set_org_path(grid);
  h->set_house_number("12");
  Person(h->mutable_head(), head_token, head_name);
  h->set_source(grid::v1::GRID_VISIT);
  h->set_head_residence(residence);
  return e;
}

Event MemberAdded(const std::string& id, const std::string& household, const std::string& grid,
                  const std::string& token, const std::string& name, grid::v1::MemberAdded::Reason reason,
                  absl::Time at, grid::v1::Relation relation, grid::v1::ResidenceType residence) {
  Event e = Envelope(id, "MemberAdded", StreamFor("household", household), grid, at);
  auto* m = e.mutable_member_added();
  m->set_household_id(household);
  Person(m->mutable_person(), token, name);
  m->set_relation_to_head(relation);
  m->set_reason(reason);
  *m->mutable_effective() = ToProtoTime(at);
  m->set_source(grid::v1::GRID_VISIT);
  m->set_residence(residence);
  return e;
}

Event MemberRemoved(const std::string& id, const std::string& household, const std::string& grid,
                    const std::string& token, grid::v1::MemberRemoved::Reason reason, absl::Time at,
                    grid::v1::DataSource source) {
  Event e = Envelope(id, "MemberRemoved", StreamFor("household", household), grid, at);
  auto* m = e.mutable_member_removed();
  m->set_household_id(household);
  m->set_person_token(token);
  m->set_reason(reason);
  *m->mutable_effective() = ToProtoTime(at);
  m->set_source(source);
  return e;
}

Event HeadChanged(const std::string& id, const std::string& household, const std::string& grid,
                  const std::string& old_head, const std::string& new_head, absl::Time at) {
  Event e = Envelope(id, "HeadChanged", StreamFor("household", household), grid, at);
  auto* h = e.mutable_head_changed();
  h->set_household_id(household);
  h->set_old_head_token(old_head);
  h->set_new_head_token(new_head);
  return e;
}

Event AddressChanged(const std::string& id, const std::string& household, const std::string& old_grid,
                     const std::string& new_grid, absl::Time at) {
  Event e = Envelope(id, "AddressChanged", StreamFor("household", household), new_grid, at);
  auto* a = e.mutable_address_changed();
  a->set_household_id(household);
  a->set_old_org_path(old_grid);
  a->set_new_org_path(new_grid);
  return e;
}

Event HouseholdSplit(const std::string& id, const std::string& household, const std::string& grid,
                     const std::string& new_household, const std::vector<std::string>& moved, absl::Time at) {
  Event e = Envelope(id, "HouseholdSplit", StreamFor("household", household), grid, at);
  auto* s = e.mutable_household_split();
  s->set_household_id(household);
  s->set_new_household_id(new_household);
  for (const auto& m : moved) s->add_moved_person_tokens(m);
  return e;
}

Event HouseholdMerged(const std::string& id, const std::string& household, const std::string& grid,
                      const std::vector<std::string>& merged, absl::Time at) {
  Event e = Envelope(id, "HouseholdMerged", StreamFor("household", household), grid, at);
  e.mutable_household_merged()->set_household_id(household);
  for (const auto& m : merged) e.mutable_household_merged()->add_merged_household_ids(m);
  return e;
}

Event HouseholdDissolved(const std::string& id, const std::string& household, const std::string& grid,
                         absl::Time at) {
  Event e = Envelope(id, "HouseholdDissolved", StreamFor("household", household), grid, at);
  e.mutable_household_dissolved()->set_household_id(household);
  e.mutable_household_dissolved()->set_reason("all members left");
  return e;
}

Event HouseholdDataCorrected(const std::string& id, const std::string& household, const std::string& grid,
                             const std::string& supersedes, const std::string& token, const std::string& name,
                             absl::Time at) {
  Event e = Envelope(id, "HouseholdDataCorrected", StreamFor("household", household), grid, at);
  auto* c = e.mutable_household_data_corrected();
  c->set_household_id(household);
  c->set_supersedes_event_id(supersedes);
  c->set_reason("name misspelt at the visit");
  Person(c->mutable_person(), token, name);
  c->set_source(grid::v1::GRID_VISIT);
  return e;
}

Event ProjectDeclared(const std::string& id, const std::string& project, const std::string& applicant,
                      uint32_t revision, int64_t investment_fen, absl::Time at) {
  Event e = Envelope(id, "ProjectDeclared", StreamFor("project", project), applicant, at);
  auto* p = e.mutable_project_declared();
  p->set_project_id(project);
  p->set_revision(revision);
  p->set_applicant_org(applicant);
  p->set_type(grid::v1::VILLAGE_PUBLIC_WELFARE);
  p->set_title("village road hardening");
  p->set_investment_fen(investment_fen);
  auto* f = p->add_funding();
  f->set_source("county subsidy");
  f->set_amount_fen(investment_fen);
  return e;
}

Event StageDecided(const std::string& id, const std::string& project, const std::string& applicant,
                   uint32_t revision, grid::v1::Stage stage, const std::string& department,
                   grid::v1::Decision decision, absl::Time at,
                   const std::vector<std::pair<grid::v1::Stage, std::string>>& next,
                   const std::vector<std::string>& missing) {
  Event e = Envelope(id, "ProjectStageDecided", StreamFor("project", project), applicant, at);
  auto* d = e.mutable_project_stage_decided();
  d->set_project_id(project);
  d->set_revision(revision);
  d->set_stage(stage);
  d->set_department(department);
  d->set_decision(decision);
  for (const auto& m : missing) d->add_missing_items(m);
  for (const auto& [s, dept] : next) {
    d->add_next_stages(s);
    d->add_next_departments(dept);
  }
  return e;
}

Event ProjectStarted(const std::string& id, const std::string& project, const std::string& applicant,
                     absl::Time at) {
  Event e = Envelope(id, "ProjectStarted", StreamFor("project", project), applicant, at);
  e.mutable_project_started()->set_project_id(project);
  *e.mutable_project_started()->mutable_started() = ToProtoTime(at);
  return e;
}

Event ProjectCompleted(const std::string& id, const std::string& project, const std::string& applicant,
                       int64_t cost_fen, absl::Time at) {
  Event e = Envelope(id, "ProjectCompleted", StreamFor("project", project), applicant, at);
  e.mutable_project_completed()->set_project_id(project);
  *e.mutable_project_completed()->mutable_completed() = ToProtoTime(at);
  e.mutable_project_completed()->set_final_cost_fen(cost_fen);
  return e;
}

Event FormTaskIssued(const std::string& id, const std::string& task, const std::string& issuer,
                     const std::string& target_prefix, uint32_t target_level, absl::Time due, absl::Time at) {
  Event e = Envelope(id, "FormTaskIssued", StreamFor("form", task), target_prefix, at);
  auto* t = e.mutable_form_task_issued();
  t->set_task_id(task);
  t->set_issuer(issuer);
  t->set_title("daily epidemic-prevention check");
  auto* f = t->add_fields();
  f->set_canonical_path("population.residents");
  f->set_unit("person");
  f->set_value_class(grid::v1::C0_AGGREGATE);
  f->set_prefill(true);
  t->set_target_org_prefix(target_prefix);
  t->set_target_level(target_level);
  *t->mutable_due() = ToProtoTime(due);
  return e;
}

Event FormSubmitted(const std::string& id, const std::string& task, const std::string& org,
                    const std::string& submission, absl::Time at, const std::string& supersedes) {
  Event e = Envelope(id, "FormSubmitted", StreamFor("form", task), org, at);
  auto* s = e.mutable_form_submitted();
  s->set_task_id(task);
  s->set_submission_id(submission);
  s->set_org_path(org);
  s->set_supersedes_submission_id(supersedes);
  auto* v = s->add_values();
  v->set_canonical_path("population.residents");
  v->set_value("512");
  v->set_provenance(grid::v1::FormValue::NEW);
  v->set_value_class(grid::v1::C0_AGGREGATE);
  return e;
}

Event FormSubmittedFromPrefill(const std::string& id, const std::string& task, const std::string& org,
                               const std::string& submission, absl::Time at,
                               const grid::v1::PrefillFormResponse& prefill,
                               const std::map<std::string, std::string>& typed) {
  Event e = Envelope(id, "FormSubmitted", StreamFor("form", task), org, at);
  auto* s = e.mutable_form_submitted();
  s->set_task_id(task);
  s->set_submission_id(submission);
  s->set_org_path(org);
  for (const auto& field : prefill.fields()) {
    grid::v1::FormValue v;
    v.set_canonical_path(field.canonical_path());
    v.set_value_class(field.value_class());
    auto it = typed.find(field.canonical_path());
    if (it != typed.end()) {
      v.set_value(it->second);
      v.set_provenance(field.prefilled() ? grid::v1::FormValue::EDITED : grid::v1::FormValue::NEW);
    } else if (field.prefilled()) {
      v.set_value(field.value());
      v.set_provenance(grid::v1::FormValue::PREFILL_CONFIRMED);
      s->set_prefilled_at(prefill.position());
    } else {
      continue;
    }
    *s->add_values() = std::move(v);
  }
  return e;
}

grid::v1::IncidentCatalogPublished StandardIncidentCatalog(const std::string& county, uint32_t version) {
  grid::v1::IncidentCatalogPublished c;
  c.set_county(county);
  c.set_version(version);
  c.set_reopen_window_hours(7 * 24);
  const auto tier = [&](const char* code, const char* name, uint32_t minutes, bool working) {
    auto* t = c.add_tiers();
    t->set_code(code);
    t->set_name(name);
    t->set_limit_minutes(minutes);
    t->set_working_time(working);
  };
  tier("RED", "红色 紧急", 120, false);
  tier("YELLOW", "黄色 较急", 24 * 60, false);
  tier("BLUE", "蓝色 一般", 72 * 60, true);
  const auto category = [&](const char* code, const char* name, const char* tier_code) {
    auto* k = c.add_categories();
    k->set_code(code);
    k->set_name(name);
    k->set_default_tier(tier_code);
    return k;
  };
  category("ENV.GARBAGE.EXPOSED", "暴露垃圾", "BLUE");
  category("ENV.SEWAGE.OVERFLOW", "污水外溢", "YELLOW");
  auto* fire = category("SAFETY.FIRE.HAZARD", "消防隐患", "RED")->add_limits();
  fire->set_tier("RED");
  fire->set_limit_minutes(60);
  category("ORDER.DISPUTE.NEIGHBOUR", "邻里纠纷", "YELLOW");
  category("ROAD.DAMAGE", "道路破损", "BLUE");
  return c;
}

Event IncidentCatalog(const std::string& id, const grid::v1::IncidentCatalogPublished& catalog,
                      absl::Time at) {
  Event e =
      Envelope(id, "IncidentCatalogPublished", StreamFor("catalog", catalog.county()), catalog.county(), at);
  *e.mutable_incident_catalog_published() = catalog;
  return e;
}

Event WorkCalendar(const std::string& id, const std::string& county, uint32_t year,
                   const std::vector<std::string>& holidays, const std::vector<std::string>& workdays,
                   absl::Time at) {
  Event e = Envelope(id, "WorkCalendarPublished", StreamFor("catalog", county), county, at);
  auto* c = e.mutable_work_calendar_published();
  c->set_county(county);
  c->set_year(year);
  for (const auto& h : holidays) c->add_holidays(h);
  for (const auto& w : workdays) c->add_workdays(w);
  return e;
}

Event WeakVillageThreshold(const std::string& id, const std::string& county, uint32_t year, int64_t fen,
                           absl::Time at) {
  Event e = Envelope(id, "WeakVillageThresholdSet", StreamFor("catalog", county), county, at);
  auto* t = e.mutable_weak_village_threshold_set();
  t->set_county(county);
  t->set_fiscal_year(year);
  t->set_threshold_fen(fen);
  return e;
}

Event LedgerEntry(const std::string& id, const std::string& village, const std::string& entry, uint32_t year,
                  uint32_t month, grid::v1::LedgerCategory category, int64_t fen, absl::Time at,
                  const std::string& reverses) {
  Event e = Envelope(id, "LedgerEntryPosted", StreamFor("ledger", village), village, at);
  auto* l = e.mutable_ledger_entry_posted();
  l->set_entry_id(entry);
  l->set_village(village);
  l->set_fiscal_year(year);
  l->set_month(month);
  l->set_category(category);
  l->set_amount_fen(fen);
  l->set_voucher_no("v-" + entry);
  l->set_reverses_entry_id(reverses);
  return e;
}

Event AssessmentOpened(const std::string& id, const std::string& period, const std::string& unit,
                       const std::string& from, const std::string& to, absl::Time at) {
  Event e = Envelope(id, "AssessmentPeriodOpened", StreamFor("assessment", period), unit, at);
  auto* o = e.mutable_assessment_period_opened();
  o->set_period_id(period);
  o->set_unit(unit);
  o->set_title(absl::StrCat("Village cadres ", from.substr(0, 4)));
  o->set_starts_on(from);
  o->set_ends_on(to);
  o->set_top_permille(300);
  o->set_daily_weight_permille(400);
  o->set_year_end_weight_permille(600);
  return e;
}

grid::v1::ScoreComponent ScoreItem(const std::string& code, int32_t points_x10, const std::string& projection,
                                   const std::string& key, uint64_t position) {
  grid::v1::ScoreComponent c;
  c.set_code(code);
  c.set_points_x10(points_x10);
  c.mutable_evidence()->set_projection(projection);
  c.mutable_evidence()->set_key(key);
  c.mutable_evidence()->set_position(position);
  return c;
}

Event CadreScore(const std::string& id, const std::string& period, const std::string& cadre,
                 const std::string& org, const std::string& day,
                 const std::vector<grid::v1::ScoreComponent>& items, absl::Time at) {
  Event e = Envelope(id, "CadreScoreRecorded", StreamFor("assessment", period), org, at);
  auto* c = e.mutable_cadre_score_recorded();
  c->set_period_id(period);
  c->set_cadre_id(cadre);
  c->set_org_path(org);
  c->set_kind(day.empty() ? grid::v1::YEAR_END : grid::v1::DAILY);
  c->set_day(day);
  int32_t total = 0;
  for (const auto& item : items) {
    *c->add_components() = item;
    total += item.points_x10();
  }
  c->set_total_x10(total);
  return e;
}

Event AssessmentClosed(const std::string& id, const std::string& period, const std::string& unit,
                       grid::v1::AssessmentPeriodClosed ranking, absl::Time at) {
  Event e = Envelope(id, "AssessmentPeriodClosed", StreamFor("assessment", period), unit, at);
  auto* c = e.mutable_assessment_period_closed();
  *c = std::move(ranking);
  c->set_period_id(period);
  c->set_unit(unit);
  return e;
}

namespace {

Event IncidentEnvelope(const std::string& id, const std::string& type, const std::string& incident,
                       const std::string& grid, absl::Time at) {
  return Envelope(id, type, StreamFor("incident", incident), grid, at);
}

void AfterPhoto(grid::v1::MediaRef* m, const std::string& seed) {
  // A stand-in content hash: 64 hex digits derived from the event id.
  std::string hex;
  for (size_t i = 0; hex.size() < 64; ++i) {
    const unsigned char c = static_cast<unsigned char>(seed[i % seed.size()]) + static_cast<unsigned char>(i);
    static constexpr char kHex[] = "0123456789abcdef";
    hex.push_back(kHex[c & 15]);
  }
  m->set_sha256(hex);
  m->set_mime_type("image/jpeg");
  m->set_label("AFTER");
}

}  // namespace

Event IncidentReported(const std::string& id, const std::string& incident, const std::string& grid,
                       const std::string& category, grid::v1::IncidentSource source, absl::Time at,
                       const std::string& urgency) {
  Event e = IncidentEnvelope(id, "IncidentReported", incident, grid, at);
  auto* r = e.mutable_incident_reported();
  r->set_incident_id(incident);
  r->set_category(category);
  r->set_urgency(urgency);
  r->set_source(source);
  r->set_org_path(grid);
  r->set_title(category);
  switch (source) {
    case grid::v1::GRID_PATROL:
      r->set_reporting_worker_id("w-1");
      break;
    case grid::v1::CITIZEN:
      Person(r->mutable_reporter()->mutable_person(), "pt-" + incident, "林晓");
      r->mutable_reporter()->mutable_person()->set_phone("13812341234");
      break;
    case grid::v1::HOTLINE_12345:
      Person(r->mutable_reporter()->mutable_person(), "pt-" + incident, "陈明");
      r->mutable_reporter()->set_external_ref("12345-" + incident);
      break;
    default:
      r->mutable_reporter()->set_external_ref("dev-" + incident);
      break;
  }
  return e;
}

Event IncidentAccepted(const std::string& id, const std::string& incident, const std::string& grid,
                       const std::string& by, absl::Time at) {
  Event e = IncidentEnvelope(id, "IncidentAccepted", incident, grid, at);
  e.mutable_incident_accepted()->set_incident_id(incident);
  e.mutable_incident_accepted()->set_by_org(by);
  return e;
}

Event IncidentRejected(const std::string& id, const std::string& incident, const std::string& grid,
                       const std::string& by, grid::v1::IncidentRejected::Reason reason, absl::Time at) {
  Event e = IncidentEnvelope(id, "IncidentRejected", incident, grid, at);
  e.mutable_incident_rejected()->set_incident_id(incident);
  e.mutable_incident_rejected()->set_by_org(by);
  e.mutable_incident_rejected()->set_reason(reason);
  return e;
}

Event IncidentMarkedDuplicate(const std::string& id, const std::string& incident, const std::string& grid,
                              const std::string& by, const std::string& of, absl::Time at) {
  Event e = IncidentEnvelope(id, "IncidentMarkedDuplicate", incident, grid, at);
  e.mutable_incident_marked_duplicate()->set_incident_id(incident);
  e.mutable_incident_marked_duplicate()->set_by_org(by);
  e.mutable_incident_marked_duplicate()->set_of_incident_id(of);
  return e;
}

Event IncidentSelfResolved(const std::string& id, const std::string& incident, const std::string& grid,
                           absl::Time at) {
  Event e = IncidentEnvelope(id, "IncidentSelfResolved", incident, grid, at);
  auto* r = e.mutable_incident_self_resolved();
  r->set_incident_id(incident);
  r->set_by_org(grid);
  r->set_summary("cleared on the spot");
  AfterPhoto(r->add_media(), id);
  return e;
}

Event IncidentDispatched(const std::string& id, const std::string& incident, const std::string& grid,
                         const std::string& by, const std::string& to_org, const std::string& to_dept,
                         absl::Time at) {
  Event e = IncidentEnvelope(id, "IncidentDispatched", incident, grid, at);
  auto* d = e.mutable_incident_dispatched();
  d->set_incident_id(incident);
  d->set_by_org(by);
  d->set_to_org(to_org);
  d->set_to_department(to_dept);
  return e;
}

Event IncidentAcknowledged(const std::string& id, const std::string& incident, const std::string& grid,
                           const std::string& handler, const std::string& dept, absl::Time at) {
  Event e = IncidentEnvelope(id, "IncidentAcknowledged", incident, grid, at);
  auto* a = e.mutable_incident_acknowledged();
  a->set_incident_id(incident);
  a->set_handler_org(handler);
  a->set_department(dept);
  return e;
}

Event IncidentReturned(const std::string& id, const std::string& incident, const std::string& grid,
                       const std::string& handler, const std::string& dept,
                       grid::v1::IncidentReturned::Reason reason, absl::Time at) {
  Event e = IncidentEnvelope(id, "IncidentReturned", incident, grid, at);
  auto* r = e.mutable_incident_returned();
  r->set_incident_id(incident);
  r->set_handler_org(handler);
  r->set_department(dept);
  r->set_reason(reason);
  return e;
}

Event IncidentExtensionRequested(const std::string& id, const std::string& incident, const std::string& grid,
                                 const std::string& handler, const std::string& dept, uint32_t minutes,
                                 absl::Time at) {
  Event e = IncidentEnvelope(id, "IncidentExtensionRequested", incident, grid, at);
  auto* r = e.mutable_incident_extension_requested();
  r->set_incident_id(incident);
  r->set_handler_org(handler);
  r->set_department(dept);
  r->set_extra_minutes(minutes);
  return e;
}

Event IncidentExtensionDecided(const std::string& id, const std::string& incident, const std::string& grid,
                               const std::string& by, bool granted, uint32_t minutes, absl::Time at) {
  Event e = IncidentEnvelope(id, "IncidentExtensionDecided", incident, grid, at);
  auto* d = e.mutable_incident_extension_decided();
  d->set_incident_id(incident);
  d->set_by_org(by);
  d->set_granted(granted);
  d->set_extra_minutes(minutes);
  return e;
}

Event IncidentSuspended(const std::string& id, const std::string& incident, const std::string& grid,
                        const std::string& by, absl::Time at) {
  Event e = IncidentEnvelope(id, "IncidentSuspended", incident, grid, at);
  e.mutable_incident_suspended()->set_incident_id(incident);
  e.mutable_incident_suspended()->set_by_org(by);
  return e;
}

Event IncidentResumed(const std::string& id, const std::string& incident, const std::string& grid,
                      const std::string& by, absl::Time at) {
  Event e = IncidentEnvelope(id, "IncidentResumed", incident, grid, at);
  e.mutable_incident_resumed()->set_incident_id(incident);
  e.mutable_incident_resumed()->set_by_org(by);
  return e;
}

Event IncidentEscalated(const std::string& id, const std::string& incident, const std::string& grid,
                        const std::string& by, const std::string& to_org, absl::Time at) {
  Event e = IncidentEnvelope(id, "IncidentEscalated", incident, grid, at);
  e.mutable_incident_escalated()->set_incident_id(incident);
  e.mutable_incident_escalated()->set_by_org(by);
  e.mutable_incident_escalated()->set_to_org(to_org);
  return e;
}

Event IncidentUrged(const std::string& id, const std::string& incident, const std::string& grid,
                    const std::string& by, absl::Time at) {
  Event e = IncidentEnvelope(id, "IncidentUrged", incident, grid, at);
  e.mutable_incident_urged()->set_incident_id(incident);
  e.mutable_incident_urged()->set_by_org(by);
  return e;
}

Event IncidentResolutionSubmitted(const std::string& id, const std::string& incident, const std::string& grid,
                                  const std::string& handler, const std::string& dept, absl::Time at) {
  Event e = IncidentEnvelope(id, "IncidentResolutionSubmitted", incident, grid, at);
  auto* r = e.mutable_incident_resolution_submitted();
  r->set_incident_id(incident);
  r->set_handler_org(handler);
  r->set_department(dept);
  r->set_summary("put right");
  AfterPhoto(r->add_media(), id);
  return e;
}

Event IncidentVerified(const std::string& id, const std::string& incident, const std::string& grid,
                       const std::string& by, bool passed, absl::Time at) {
  Event e = IncidentEnvelope(id, "IncidentVerified", incident, grid, at);
  e.mutable_incident_verified()->set_incident_id(incident);
  e.mutable_incident_verified()->set_by_org(by);
  e.mutable_incident_verified()->set_passed(passed);
  return e;
}

Event IncidentClosed(const std::string& id, const std::string& incident, const std::string& grid,
                     const std::string& by, grid::v1::IncidentOutcome outcome, absl::Time at) {
  Event e = IncidentEnvelope(id, "IncidentClosed", incident, grid, at);
  e.mutable_incident_closed()->set_incident_id(incident);
  e.mutable_incident_closed()->set_by_org(by);
  e.mutable_incident_closed()->set_outcome(outcome);
  return e;
}

Event IncidentRated(const std::string& id, const std::string& incident, const std::string& grid,
                    const std::string& by, uint32_t satisfaction, absl::Time at) {
  Event e = IncidentEnvelope(id, "IncidentRated", incident, grid, at);
  e.mutable_incident_rated()->set_incident_id(incident);
  e.mutable_incident_rated()->set_by_org(by);
  e.mutable_incident_rated()->set_satisfaction(satisfaction);
  return e;
}

Event IncidentReopened(const std::string& id, const std::string& incident, const std::string& grid,
                       const std::string& by, absl::Time at) {
  Event e = IncidentEnvelope(id, "IncidentReopened", incident, grid, at);
  e.mutable_incident_reopened()->set_incident_id(incident);
  e.mutable_incident_reopened()->set_by_org(by);
  return e;
}

}  // namespace grid::domain::events
