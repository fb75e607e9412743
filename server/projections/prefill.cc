#include "server/projections/prefill.h"

#include <algorithm>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "domain/projections.h"
#include "domain/rules.h"

namespace grid::server {
namespace {

const std::string& Name() {
  static const auto* name = new std::string(kSharedFacts);
  return *name;
}

// A row version of projection `name` as of `at`, parsed; nullopt if none.
struct Version {
  grid::v1::RowValue value;
  storage::Position position = 0;
};
absl::StatusOr<std::optional<Version>> Row(const storage::ProjectionReader& view, const std::string& name,
                                           const std::string& key, storage::Position at) {
  auto r = view.Get(name, key, at);
  if (!r.ok()) return r.status();
  if (!*r || !(*r)->value) return std::nullopt;
  Version v;
  v.position = (*r)->position;
  if (!v.value.ParseFromString(*(*r)->value)) {
    return absl::DataLossError(absl::StrCat("projection ", name, " row '", key, "' does not parse"));
  }
  return v;
}

// The views a counted fact may be read from.
constexpr const char* kCountingViews[] = {"population", "grid_sanitation", "incident_stats",
                                          "village_income"};

// The view a fact is read from: the one counting it, else shared_facts
// (what the unit typed).
std::string ViewOf(const std::optional<domain::CountedFact>& counted) {
  return counted ? counted->projection : Name();
}

// A unit's fact as of `at` as `caller` is served it: a shared_facts row
// (redacted to the caller; its position is the event the fact came from),
// or nullopt when there is none or the caller may not see the unit.
absl::StatusOr<std::optional<grid::v1::ProjectionRow>> ServedFact(const storage::ProjectionReader& view,
                                                                  const Reader& caller,
                                                                  const std::string& org,
                                                                  const std::string& path,
                                                                  storage::Position at) {
  const auto counted = domain::CountedFactOf(org, path);
  auto r = Row(view, ViewOf(counted), counted ? counted->key : domain::SharedFactKey(org, path), at);
  if (!r.ok()) return r.status();
  if (!*r) return std::nullopt;
  grid::v1::ProjectionRow row;
  row.set_key(domain::SharedFactKey(org, path));
  row.set_position((*r)->position);
  if (!counted) {
    *row.mutable_value() = std::move((*r)->value);
  } else {
    auto fact = domain::FactFromRow(org, path, std::move((*r)->value));
    if (!fact) return std::nullopt;
    fact->set_source(absl::StrCat("projection:", counted->projection));
    *row.mutable_value()->mutable_shared_fact() = *std::move(fact);
  }
  // Served as GetProjection serves a shared_facts row.
  if (!ViewRow(caller, &row)) return std::nullopt;
  return row;
}

}  // namespace

absl::Status Prefill(const Projector& projector, const Reader& caller,
                     const grid::v1::PrefillFormRequest& req, grid::v1::PrefillFormResponse* resp) {
  if (req.task_id().empty() || req.task_id().size() > 128) {
    return absl::InvalidArgumentError("task_id is required, up to 128 bytes");
  }
  if (!domain::IsOrgPath(req.org_path())) {
    return absl::InvalidArgumentError("org_path must be an org path like \"350583/101/203\"");
  }
  if (!caller.Sees(req.org_path())) {
    return absl::PermissionDeniedError(absl::StrCat("org ", req.org_path(), " is outside your jurisdiction"));
  }
  const std::unique_ptr<storage::ProjectionReader> view = projector.store()->Snapshot();
  // One cut: as far as shared_facts and every view a fact is read from
  // have folded.
  auto folded = view->Checkpoint(Name());
  if (!folded.ok()) return folded.status();
  storage::Position at = *folded;
  for (const char* name : kCountingViews) {
    auto p = view->Checkpoint(name);
    if (!p.ok()) return p.status();
    at = std::min(at, *p);
  }
  if (req.at_position() != 0) {
    if (req.at_position() > at) {
      return absl::OutOfRangeError(absl::StrCat("projection shared_facts has folded through position ", at,
                                                "; at_position ", req.at_position(),
                                                " is ahead (set min_position to wait for it)"));
    }
    at = req.at_position();
  }
  resp->set_position(at);
  auto task = Row(*view, Name(), domain::SharedFactsTaskKey(req.task_id()), at);
  if (!task.ok()) return task.status();
  if (!*task) {
    return absl::NotFoundError(
        absl::StrCat("form task ", req.task_id(), " is not issued as of position ", at));
  }
  const grid::v1::FormTaskIssued& t = (*task)->value.form_task();
  if (!domain::IsUnder(req.org_path(), t.target_org_prefix()) ||
      (t.target_level() != 0 && domain::Depth(req.org_path()) != t.target_level())) {
    return absl::FailedPreconditionError(
        absl::StrCat("org ", req.org_path(), " is not a unit form task ", req.task_id(),
                     " asks (targets: level ", t.target_level(), " under ", t.target_org_prefix(), ")"));
  }
  for (const auto& field : t.fields()) {
    auto* out = resp->add_fields();
    out->set_canonical_path(field.canonical_path());
    out->set_unit(field.unit());
    out->set_value_class(field.value_class());
    if (!field.prefill()) continue;
    auto served = ServedFact(*view, caller, req.org_path(), field.canonical_path(), at);
    if (!served.ok()) return served.status();
    if (!*served) continue;
    const grid::v1::ProjectionRow& row = **served;
    const grid::v1::SharedFactRow& fact = row.value().shared_fact();
    if (fact.value_class() != field.value_class()) continue;  // not the same fact
    out->set_source(fact.source());
    out->set_source_position(row.position());
    if (row.redacted_size() > 0) {
      out->set_withheld(true);
      continue;
    }
    out->set_prefilled(true);
    out->set_value(fact.value());
  }
  return absl::OkStatus();
}

bool HasConfirmedValues(const storage::AppendBatch& batch) {
  for (const auto& e : batch.events) {
    if (!e.has_form_submitted()) continue;
    for (const auto& v : e.form_submitted().values()) {
      if (v.provenance() == grid::v1::FormValue::PREFILL_CONFIRMED) return true;
    }
  }
  return false;
}

absl::Status CheckConfirmedValues(const Projector& projector, const Reader& caller, storage::Position head,
                                  const storage::AppendBatch& batch) {
  std::unique_ptr<storage::ProjectionReader> view;
  for (size_t i = 0; i < batch.events.size(); ++i) {
    if (!batch.events[i].has_form_submitted()) continue;
    const grid::v1::FormSubmitted& f = batch.events[i].form_submitted();
    for (int j = 0; j < f.values_size(); ++j) {
      const grid::v1::FormValue& v = f.values(j);
      if (v.provenance() != grid::v1::FormValue::PREFILL_CONFIRMED) continue;
      const storage::Position at = f.prefilled_at();
      const std::string name = ViewOf(domain::CountedFactOf(f.org_path(), v.canonical_path()));
      if (at > head || !projector.HasFolded(name, at)) {
        return absl::UnavailableError(absl::StrCat("events[", i, "].form_submitted.prefilled_at ", at,
                                                   " is not folded into projection ", name,
                                                   " on this node yet; retry"));
      }
      if (view == nullptr) view = projector.store()->Snapshot();
      auto served = ServedFact(*view, caller, f.org_path(), v.canonical_path(), at);
      if (!served.ok()) return served.status();
      const bool same = *served && (*served)->redacted_size() == 0 &&
                        (*served)->value().shared_fact().value() == v.value() &&
                        (*served)->value().shared_fact().value_class() == v.value_class();
      if (!same) {
        return absl::FailedPreconditionError(
            absl::StrCat("events[", i, "].form_submitted.values[", j, "] ('", v.canonical_path(),
                         "') is PREFILL_CONFIRMED but is not org ", f.org_path(), "'s fact at position ", at,
                         " as you were served it: a value that changed is EDITED, one typed anew NEW"));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace grid::server
