#include "server/projections/prefill.h"

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

absl::StatusOr<std::optional<grid::v1::RowValue>> Row(const storage::ProjectionReader& view,
                                                      const std::string& key, storage::Position at) {
  auto r = view.Get(Name(), key, at);
  if (!r.ok()) return r.status();
  if (!*r || !(*r)->value) return std::nullopt;
  grid::v1::RowValue v;
  if (!v.ParseFromString(*(*r)->value)) {
    return absl::DataLossError(absl::StrCat("projection shared_facts row '", key, "' does not parse"));
  }
  return v;
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
  auto folded = view->Checkpoint(Name());
  if (!folded.ok()) return folded.status();
  storage::Position at = *folded;
  if (req.at_position() != 0) {
    if (req.at_position() > at) {
      return absl::OutOfRangeError(absl::StrCat("projection shared_facts has folded through position ", at,
                                                "; at_position ", req.at_position(),
                                                " is ahead (set min_position to wait for it)"));
    }
    at = req.at_position();
  }
  resp->set_position(at);
  auto task = Row(*view, domain::SharedFactsTaskKey(req.task_id()), at);
  if (!task.ok()) return task.status();
  if (!*task) {
    return absl::NotFoundError(
        absl::StrCat("form task ", req.task_id(), " is not issued as of position ", at));
  }
  const grid::v1::FormTaskIssued& t = (*task)->form_task();
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
    const std::string key = domain::SharedFactKey(req.org_path(), field.canonical_path());
    auto r = view->Get(Name(), key, at);
    if (!r.ok()) return r.status();
    if (!*r || !(*r)->value) continue;
    // Served as GetProjection serves the row: redacted to the caller.
    grid::v1::ProjectionRow row;
    row.set_key(key);
    row.set_position((*r)->position);
    if (!row.mutable_value()->ParseFromString(*(*r)->value)) {
      return absl::DataLossError(absl::StrCat("projection shared_facts row '", key, "' does not parse"));
    }
    if (!ViewRow(caller, &row)) continue;
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

absl::Status CheckConfirmedValues(const Projector& projector, storage::Position head,
                                  const storage::AppendBatch& batch) {
  std::unique_ptr<storage::ProjectionReader> view;
  for (size_t i = 0; i < batch.events.size(); ++i) {
    if (!batch.events[i].has_form_submitted()) continue;
    const grid::v1::FormSubmitted& f = batch.events[i].form_submitted();
    for (int j = 0; j < f.values_size(); ++j) {
      const grid::v1::FormValue& v = f.values(j);
      if (v.provenance() != grid::v1::FormValue::PREFILL_CONFIRMED) continue;
      const storage::Position at = f.prefilled_at();
      const std::string where = absl::StrCat("events[", i, "].form_submitted.");
      if (at > head) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, "prefilled_at ", at, " is ahead of the log (head ", head, ")"));
      }
      if (!projector.HasFolded(Name(), at)) {
        return absl::UnavailableError(
            absl::StrCat("projection shared_facts has not folded position ", at, " yet on this node; retry"));
      }
      if (view == nullptr) view = projector.store()->Snapshot();
      auto fact = Row(*view, domain::SharedFactKey(f.org_path(), v.canonical_path()), at);
      if (!fact.ok()) return fact.status();
      if (!*fact || (*fact)->shared_fact().value() != v.value() ||
          (*fact)->shared_fact().value_class() != v.value_class()) {
        return absl::FailedPreconditionError(
            absl::StrCat(where, "values[", j, "] ('", v.canonical_path(),
                         "') is PREFILL_CONFIRMED but is not org ", f.org_path(), "'s fact at position ", at,
                         ": a value that changed is EDITED, one typed anew NEW"));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace grid::server
