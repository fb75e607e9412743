// The "one table" projections (projections.h lists them all): shared_facts,
// the latest value of each canonical fact per org unit, and reporting_burden,
// what each form asked of each unit and how much of it was typed anew.
#include <algorithm>
#include <vector>

#include "absl/strings/str_format.h"
#include "domain/projections/projection.h"

namespace grid::domain {
namespace {

using grid::v1::DataClass;
using grid::v1::FormValue;
using grid::v1::SharedFactRow;

struct Fact {
  std::string org, path, value, unit;
  DataClass value_class = grid::v1::DATA_CLASS_UNSPECIFIED;
};

// The class a row type's field declares: a fact is classed like the count
// it is read from.
DataClass ClassOf(const pb::Message& row, const char* field) {
  return row.GetDescriptor()->FindFieldByName(field)->options().GetExtension(grid::v1::data_class);
}

void PopulationFacts(absl::string_view key, const RowValue& v, std::vector<Fact>* out) {
  if (!v.has_population() || key.find('#') != absl::string_view::npos) return;
  const auto& r = v.population();
  out->push_back({std::string(key), "population.households", absl::StrCat(r.households()), "household",
                  ClassOf(r, "households")});
  out->push_back({std::string(key), "population.residents", absl::StrCat(r.residents()), "person",
                  ClassOf(r, "residents")});
}

void SanitationFacts(absl::string_view key, const RowValue& v, std::vector<Fact>* out) {
  if (!v.has_grid_sanitation()) return;
  const auto& r = v.grid_sanitation();
  out->push_back({std::string(key), "sanitation.last_score",
                  absl::StrFormat("%.1f", r.last_score_x10() / 10.0), "point", ClassOf(r, "last_score_x10")});
  out->push_back({std::string(key), "sanitation.open_findings", absl::StrCat(r.open_finding_count()),
                  "finding", ClassOf(r, "open_finding_count")});
}

// Per org and month, all categories ("<org>#<YYYY-MM>").
void IncidentFacts(absl::string_view, const RowValue& v, std::vector<Fact>* out) {
  if (!v.has_incident_stats() || !v.incident_stats().category().empty()) return;
  const auto& r = v.incident_stats();
  const std::string at = absl::StrCat("incidents.", r.month(), ".");
  out->push_back(
      {r.org_path(), at + "reported", absl::StrCat(r.reported()), "incident", ClassOf(r, "reported")});
  out->push_back({r.org_path(), at + "closed", absl::StrCat(r.closed()), "incident", ClassOf(r, "closed")});
  out->push_back({r.org_path(), at + "on_time_rate", absl::StrFormat("%.3f", r.on_time_rate()), "ratio",
                  ClassOf(r, "on_time_rate")});
}

// The year's row ("<village>#<YYYY>"), derived: the year so far.
void LedgerFacts(absl::string_view, const RowValue& v, std::vector<Fact>* out) {
  if (!v.has_village_income() || v.village_income().month() != 0) return;
  const auto& r = v.village_income();
  const std::string at = absl::StrFormat("ledger.%04d.", r.year());
  out->push_back({r.org_path(), at + "operating_income_ytd_fen", absl::StrCat(r.operating_total_fen()), "fen",
                  ClassOf(r, "operating_total_fen")});
  out->push_back({r.org_path(), at + "subsidy_income_fen", absl::StrCat(r.subsidy_income_fen()), "fen",
                  ClassOf(r, "subsidy_income_fen")});
}

// A projection whose rows state facts: shared_facts folds the same events
// through its fold, into rows of its own under "~src/<name>/", and reads
// the facts off each row the event changed. One fold per view, not a second
// copy of its rules.
struct Source {
  ProjectionDef def;
  void (*facts)(absl::string_view key, const RowValue& v, std::vector<Fact>* out);
};

const std::vector<Source>& Sources() {
  static const auto* sources = new std::vector<Source>{
      {PopulationProjection(), PopulationFacts},
      {GridSanitationProjection(), SanitationFacts},
      {IncidentStatsProjection(), IncidentFacts},
      {VillageIncomeProjection(), LedgerFacts},
  };
  return *sources;
}

// A fold's rows under a prefix of another's, noting the public keys it
// wrote.
class Nested final : public RowAccess {
 public:
  Nested(RowAccess& rows, std::string prefix) : rows_(rows), prefix_(std::move(prefix)) {}

  absl::StatusOr<std::optional<RowValue>> Get(const std::string& key) override {
    return rows_.Get(prefix_ + key);
  }
  absl::Status Scan(const std::string& prefix,
                    const std::function<void(const std::string& key, const RowValue&)>& fn) override {
    return rows_.Scan(prefix_ + prefix,
                      [&](const std::string& key, const RowValue& v) { fn(key.substr(prefix_.size()), v); });
  }
  void Put(const std::string& key, RowValue value) override {
    Touch(key);
    rows_.Put(prefix_ + key, std::move(value));
  }
  void Delete(const std::string& key) override { rows_.Delete(prefix_ + key); }

  const std::vector<std::string>& touched() const { return touched_; }

 private:
  void Touch(const std::string& key) {
    if (key.empty() || key[0] == '~') return;
    if (std::find(touched_.begin(), touched_.end(), key) == touched_.end()) touched_.push_back(key);
  }

  RowAccess& rows_;
  const std::string prefix_;
  std::vector<std::string> touched_;
};

// Writes the fact if its value, unit or class changed.
absl::Status PutFact(RowAccess& rows, const Fact& f, absl::string_view source, absl::Time at) {
  const std::string key = SharedFactKey(f.org, f.path);
  GRID_ASSIGN_OR_RETURN_ROW(cur, rows, key);
  if (cur && cur->shared_fact().value() == f.value && cur->shared_fact().unit() == f.unit &&
      cur->shared_fact().value_class() == f.value_class) {
    return absl::OkStatus();
  }
  RowValue v;
  SharedFactRow* r = v.mutable_shared_fact();
  r->set_org_path(f.org);
  r->set_canonical_path(f.path);
  r->set_value(f.value);
  r->set_unit(f.unit);
  r->set_value_class(f.value_class);
  r->set_source(std::string(source));
  *r->mutable_as_of() = ToProtoTime(at);
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
    const Fact fact{f.org_path(), value.canonical_path(), value.value(), unit, value.value_class()};
    if (auto s = PutFact(rows, fact, absl::StrCat("form:", f.task_id()), EventTime(e)); !s.ok()) return s;
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
  for (const Source& source : Sources()) {
    Nested nested(rows, absl::StrCat("~src/", source.def.name, "/"));
    if (auto s = source.def.fold(e, nested); !s.ok()) return s;
    std::vector<Fact> facts;
    for (const std::string& key : nested.touched()) {
      GRID_ASSIGN_OR_RETURN_ROW(row, nested, key);
      if (!row) continue;
      if (source.def.derive) source.def.derive(EventTime(e), &*row);
      source.facts(key, *row, &facts);
    }
    for (const Fact& f : facts) {
      if (auto s = PutFact(rows, f, absl::StrCat("projection:", source.def.name), EventTime(e)); !s.ok()) {
        return s;
      }
    }
  }
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

std::string SharedFactKey(absl::string_view org_path, absl::string_view canonical_path) {
  return Key(org_path, canonical_path);
}
std::string SharedFactsTaskKey(absl::string_view task_id) { return absl::StrCat("~task/", task_id); }

ProjectionDef SharedFactsProjection() {
  return {"shared_facts",
          "per org#canonical path (\"one table\"): the latest value of each fact and where it came from; "
          "PrefillForm reads it",
          FoldSharedFacts, nullptr};
}

ProjectionDef ReportingBurdenProjection() {
  return {"reporting_burden",
          "per org#task: items asked, offered prefilled, confirmed, edited and typed anew, *confirmed share*",
          FoldReportingBurden, DeriveReportingBurden};
}

}  // namespace grid::domain
