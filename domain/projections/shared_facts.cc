// "One table" (projections.h lists the projections): where each canonical
// fact is read — a counted one from the view that counts it, a typed one
// from shared_facts, the latest value each unit typed into a form — and
// reporting_burden, what each form asked of each unit and how much of it
// was typed anew.
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "domain/projections/projection.h"

namespace grid::domain {
namespace {

using grid::v1::DataClass;
using grid::v1::FormValue;
using grid::v1::SharedFactRow;

// The class a row type's field declares: a fact is classed like the count
// it is read from.
DataClass ClassOf(const pb::Message& row, const char* field) {
  return row.GetDescriptor()->FindFieldByName(field)->options().GetExtension(grid::v1::data_class);
}

// Writes the fact if its value, unit or class changed.
absl::Status PutFact(RowAccess& rows, SharedFactRow fact, absl::string_view source, absl::Time at) {
  const std::string key = SharedFactKey(fact.org_path(), fact.canonical_path());
  GRID_ASSIGN_OR_RETURN_ROW(cur, rows, key);
  if (cur && cur->shared_fact().value() == fact.value() && cur->shared_fact().unit() == fact.unit() &&
      cur->shared_fact().value_class() == fact.value_class()) {
    return absl::OkStatus();
  }
  fact.set_source(std::string(source));
  *fact.mutable_as_of() = ToProtoTime(at);
  RowValue v;
  *v.mutable_shared_fact() = std::move(fact);
  rows.Put(key, std::move(v));
  return absl::OkStatus();
}

// What a unit typed or changed in a form becomes its fact.
absl::Status FoldSubmission(const Event& e, RowAccess& rows) {
  const auto& f = e.form_submitted();
  GRID_ASSIGN_OR_RETURN_ROW(task, rows, SharedFactsTaskKey(f.task_id()));
  if (!task) return absl::OkStatus();
  for (const auto& value : f.values()) {
    if (value.provenance() != FormValue::NEW && value.provenance() != FormValue::EDITED) continue;
    std::string unit;
    for (const auto& field : task->form_task().fields()) {
      if (field.canonical_path() == value.canonical_path()) unit = field.unit();
    }
    SharedFactRow fact;
    fact.set_org_path(f.org_path());
    fact.set_canonical_path(value.canonical_path());
    fact.set_value(value.value());
    fact.set_unit(unit);
    fact.set_value_class(value.value_class());
    if (auto s = PutFact(rows, std::move(fact), absl::StrCat("form:", f.task_id()), EventTime(e)); !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

absl::Status FoldSharedFacts(const Event& e, RowAccess& rows) {
  if (e.has_form_task_issued()) {
    RowValue v;
    *v.mutable_form_task() = e.form_task_issued();
    rows.Put(SharedFactsTaskKey(e.form_task_issued().task_id()), std::move(v));
    return absl::OkStatus();
  }
  if (e.has_form_submitted()) return FoldSubmission(e, rows);
  return absl::OkStatus();
}

// ---------------------------------------------------------- reporting_burden

std::string BurdenTaskKey(absl::string_view task) { return absl::StrCat("~t/", task); }
std::string CountsKey(absl::string_view task, absl::string_view org) {
  return absl::StrCat("~s/", task, "/", org);
}

absl::Status FoldReportingBurden(const Event& e, RowAccess& rows) {
  if (e.has_form_task_issued()) {
    RowValue v;
    *v.mutable_form_task() = e.form_task_issued();
    v.mutable_form_task()->clear_title();
    rows.Put(BurdenTaskKey(e.form_task_issued().task_id()), std::move(v));
    return absl::OkStatus();
  }
  if (!e.has_form_submitted()) return absl::OkStatus();
  const auto& f = e.form_submitted();
  GRID_ASSIGN_OR_RETURN_ROW(task, rows, BurdenTaskKey(f.task_id()));
  if (!task) return absl::OkStatus();
  // The unit's latest submission replaces its earlier one.
  RowValue now;
  auto* counts = now.mutable_submission_counts();
  counts->set_submission_id(f.submission_id());
  for (const auto& value : f.values()) {
    switch (value.provenance()) {
      case FormValue::PREFILL_CONFIRMED:
        counts->set_confirmed(counts->confirmed() + 1);
        break;
      case FormValue::EDITED:
        counts->set_edited(counts->edited() + 1);
        break;
      default:
        counts->set_typed(counts->typed() + 1);
        break;
    }
  }
  const std::string counts_key = CountsKey(f.task_id(), f.org_path());
  GRID_ASSIGN_OR_RETURN_ROW(before, rows, counts_key);
  const grid::v1::SubmissionCounts was = before ? before->submission_counts() : grid::v1::SubmissionCounts();
  uint64_t asked = 0, prefillable = 0;
  if (!before) {
    asked = task->form_task().fields_size();
    for (const auto& field : task->form_task().fields()) prefillable += field.prefill() ? 1 : 0;
  }
  for (const std::string& org : Ancestry(f.org_path())) {
    const std::string key = Key(org, f.task_id());
    GRID_ASSIGN_OR_RETURN_ROW(cur, rows, key);
    RowValue v = cur.value_or(RowValue());
    auto* r = v.mutable_reporting_burden();
    r->set_org_path(org);
    r->set_task_id(f.task_id());
    r->set_units(r->units() + (before ? 0 : 1));
    r->set_items_asked(r->items_asked() + asked);
    r->set_items_prefillable(r->items_prefillable() + prefillable);
    r->set_items_confirmed(r->items_confirmed() - was.confirmed() + counts->confirmed());
    r->set_items_edited(r->items_edited() - was.edited() + counts->edited());
    r->set_items_typed(r->items_typed() - was.typed() + counts->typed());
    rows.Put(key, std::move(v));
  }
  rows.Put(counts_key, std::move(now));
  return absl::OkStatus();
}

void DeriveReportingBurden(absl::Time, RowValue* v) {
  auto* r = v->mutable_reporting_burden();
  const uint64_t all = r->items_confirmed() + r->items_edited() + r->items_typed();
  r->set_confirmed_share(all == 0 ? 0 : static_cast<double>(r->items_confirmed()) / static_cast<double>(all));
}

}  // namespace

std::optional<CountedFact> CountedFactOf(absl::string_view org_path, absl::string_view canonical_path) {
  const std::vector<absl::string_view> part = absl::StrSplit(canonical_path, '.');
  if (part.size() == 2 && part[0] == "population" && (part[1] == "households" || part[1] == "residents")) {
    return CountedFact{"population", std::string(org_path)};
  }
  if (part.size() == 2 && part[0] == "sanitation" &&
      (part[1] == "last_score" || part[1] == "open_findings")) {
    return CountedFact{"grid_sanitation", std::string(org_path)};
  }
  if (part.size() == 3 && part[0] == "incidents" && part[1].size() == 7 &&
      (part[2] == "reported" || part[2] == "closed" || part[2] == "on_time_rate")) {
    return CountedFact{"incident_stats", Key(org_path, part[1])};
  }
  if (part.size() == 3 && part[0] == "ledger" && part[1].size() == 4 &&
      (part[2] == "operating_income_ytd_fen" || part[2] == "subsidy_income_fen")) {
    return CountedFact{"village_income", Key(org_path, part[1])};
  }
  return std::nullopt;
}

std::optional<SharedFactRow> FactFromRow(absl::string_view org_path, absl::string_view canonical_path,
                                         RowValue row) {
  auto counted = CountedFactOf(org_path, canonical_path);
  if (!counted) return std::nullopt;
  const ProjectionDef* def = FindProjection(counted->projection);
  // Every counted fact is a stored field or one derived from the row alone,
  // whatever the moment: the same at every reading.
  if (def != nullptr && def->derive) def->derive(absl::UnixEpoch(), &row);
  SharedFactRow f;
  f.set_org_path(std::string(org_path));
  f.set_canonical_path(std::string(canonical_path));
  const absl::string_view last = canonical_path.substr(canonical_path.rfind('.') + 1);
  const auto set = [&](std::string value, const char* unit, const pb::Message& r, const char* field) {
    f.set_value(std::move(value));
    f.set_unit(unit);
    f.set_value_class(ClassOf(r, field));
  };
  if (row.has_population()) {
    const auto& r = row.population();
    if (last == "households") set(absl::StrCat(r.households()), "household", r, "households");
    if (last == "residents") set(absl::StrCat(r.residents()), "person", r, "residents");
  } else if (row.has_grid_sanitation()) {
    const auto& r = row.grid_sanitation();
    if (last == "last_score") {
      set(absl::StrFormat("%.1f", r.last_score_x10() / 10.0), "point", r, "last_score_x10");
    }
    if (last == "open_findings")
      set(absl::StrCat(r.open_finding_count()), "finding", r, "open_finding_count");
  } else if (row.has_incident_stats()) {
    const auto& r = row.incident_stats();
    if (last == "reported") set(absl::StrCat(r.reported()), "incident", r, "reported");
    if (last == "closed") set(absl::StrCat(r.closed()), "incident", r, "closed");
    if (last == "on_time_rate") set(absl::StrFormat("%.3f", r.on_time_rate()), "ratio", r, "on_time_rate");
  } else if (row.has_village_income()) {
    const auto& r = row.village_income();
    if (last == "operating_income_ytd_fen") {
      set(absl::StrCat(r.operating_total_fen()), "fen", r, "operating_total_fen");
    }
    if (last == "subsidy_income_fen")
      set(absl::StrCat(r.subsidy_income_fen()), "fen", r, "subsidy_income_fen");
  }
  if (f.value_class() == grid::v1::DATA_CLASS_UNSPECIFIED) return std::nullopt;
  return f;
}

std::string SharedFactKey(absl::string_view org_path, absl::string_view canonical_path) {
  return Key(org_path, canonical_path);
}
std::string SharedFactsTaskKey(absl::string_view task_id) { return absl::StrCat("~task/", task_id); }

ProjectionDef SharedFactsProjection() {
  return {"shared_facts",
          "per org#canonical path (\"one table\"): the latest value each unit typed into a form, and "
          "from which; PrefillForm reads it beside the counted facts",
          FoldSharedFacts, nullptr};
}

ProjectionDef ReportingBurdenProjection() {
  return {"reporting_burden",
          "per org#task: items asked, offered prefilled, confirmed, edited and typed anew, *confirmed share*",
          FoldReportingBurden, DeriveReportingBurden};
}

}  // namespace grid::domain
