// A form task (form/<task id>): issued to org units, submitted by them.
// Every rule of this aggregate's event types is here: their fields, the
// stream they belong in, the stateful checks and the fold (aggregate.h).
#include "domain/aggregates/aggregate.h"

#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace grid::domain {
namespace {

// Per-type field rules.
absl::Status CheckBody(const Event& e) {
  switch (e.body_case()) {
    case Event::kFormTaskIssued: {
      const auto& t = e.form_task_issued();
      if (t.fields().empty()) return Invalid("form_task_issued.fields", "is empty");
      std::set<std::string> paths;
      for (int i = 0; i < t.fields_size(); ++i) {
        const auto& f = t.fields(i);
        const std::string at = absl::StrCat("form_task_issued.fields[", i, "]");
        if (f.canonical_path().empty()) return Invalid(absl::StrCat(at, ".canonical_path"), "is required");
        if (!paths.insert(f.canonical_path()).second) {
          return Invalid(absl::StrCat(at, ".canonical_path"),
                         absl::StrCat("'", f.canonical_path(), "' appears twice"));
        }
        if (f.value_class() == grid::v1::DATA_CLASS_UNSPECIFIED) {
          return Invalid(absl::StrCat(at, ".value_class"),
                         "is required: the class of the values it will carry (C0_AGGREGATE for counts)");
        }
      }
      if (auto s = RequireOrgPath("form_task_issued.target_org_prefix", t.target_org_prefix()); !s.ok())
        return s;
      if (t.target_level() != 0 && t.target_level() < Depth(t.target_org_prefix())) {
        return Invalid("form_task_issued.target_level", "is above the target prefix");
      }
      if (!t.has_due()) return Invalid("form_task_issued.due", "is required");
      if (t.issuer().empty()) return Invalid("form_task_issued.issuer", "is required");
      return absl::OkStatus();
    }
    case Event::kFormSubmitted: {
      const auto& f = e.form_submitted();
      if (auto s = RequireId("form_submitted.submission_id", f.submission_id()); !s.ok()) return s;
      if (auto s = RequireOrgPath("form_submitted.org_path", f.org_path()); !s.ok()) return s;
      std::set<std::string> answered;
      for (int i = 0; i < f.values_size(); ++i) {
        if (!answered.insert(f.values(i).canonical_path()).second) {
          return Invalid(absl::StrCat("form_submitted.values[", i, "].canonical_path"),
                         absl::StrCat("'", f.values(i).canonical_path(), "' is answered twice"));
        }
        if (f.values(i).provenance() == grid::v1::FormValue::PREFILL_CONFIRMED && f.prefilled_at() == 0) {
          return Invalid("form_submitted.prefilled_at",
                         absl::StrCat("is required: values[", i,
                                      "] is PREFILL_CONFIRMED (name the position PrefillForm answered at)"));
        }
        if (f.values(i).canonical_path().empty()) {
          return Invalid(absl::StrCat("form_submitted.values[", i, "].canonical_path"), "is required");
        }
        if (f.values(i).provenance() == grid::v1::FormValue::PROVENANCE_UNSPECIFIED) {
          return Invalid(absl::StrCat("form_submitted.values[", i, "].provenance"), "is required");
        }
        if (f.values(i).value_class() == grid::v1::DATA_CLASS_UNSPECIFIED) {
          return Invalid(absl::StrCat("form_submitted.values[", i, "].value_class"),
                         "is required: the class the form task declares for the field");
        }
      }
      return absl::OkStatus();
    }
    default:
      return Invalid("type", "is not a catalog event");
  }
}

// The id field an event names its aggregate by, and its value.
std::pair<absl::string_view, std::string> Id(const Event& e) {
  switch (e.body_case()) {
    case Event::kFormTaskIssued:
      return {"form_task_issued.task_id", e.form_task_issued().task_id()};
    case Event::kFormSubmitted:
      return {"form_submitted.task_id", e.form_submitted().task_id()};
    default:
      return {"", ""};
  }
}

// The org path the envelope must carry, when the body says it.
std::optional<std::string> BodyOrgPath(const Event& e) {
  switch (e.body_case()) {
    case Event::kFormTaskIssued:
      return e.form_task_issued().target_org_prefix();
    case Event::kFormSubmitted:
      return e.form_submitted().org_path();
    default:
      return std::nullopt;
  }
}

absl::Status CheckForm(const FormTaskState& st, const Event& e) {
  const std::string id = std::string(Id(e).second);
  if (e.has_form_task_issued()) {
    if (st.issued) return Refused(absl::StrCat("form task ", id, " is already issued"));
    return absl::OkStatus();
  }
  if (!st.issued) return Refused(absl::StrCat("form task ", id, " was never issued"));
  const auto& f = e.form_submitted();
  if (!IsUnder(f.org_path(), st.target_org_prefix)) {
    return Refused(absl::StrCat("org ", f.org_path(), " is not a target of form task ", id,
                                " (targets: ", st.target_org_prefix, ")"));
  }
  if (st.submissions.contains(f.submission_id())) {
    return Refused(absl::StrCat("submission ", f.submission_id(), " is already in form task ", id));
  }
  if (!f.supersedes_submission_id().empty()) {
    // Only an org's own earlier submission: another org's is not its to
    // replace (nor to learn about), so it is answered as absent.
    auto it = st.submissions.find(f.supersedes_submission_id());
    if (it == st.submissions.end() || it->second != f.org_path()) {
      return Refused(absl::StrCat("submission ", f.supersedes_submission_id(),
                                  " to supersede is not one of org ", f.org_path(), "'s in form task ", id));
    }
  }
  for (int i = 0; i < f.values_size(); ++i) {
    const auto& v = f.values(i);
    auto declared = st.fields.find(v.canonical_path());
    if (declared == st.fields.end()) {
      return Refused(
          absl::StrCat("values[", i, "]: '", v.canonical_path(), "' is not a field of form task ", id));
    }
    if (v.value_class() != declared->second) {
      return Refused(absl::StrCat(
          "values[", i, "].value_class is ", grid::v1::DataClass_Name(v.value_class()), " but form task ", id,
          " declares ", grid::v1::DataClass_Name(declared->second), " for '", v.canonical_path(), "'"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckState(const AggregateState& state, const Event& e, StateLookup&) {
  return CheckForm(StateOf<FormTaskState>(state), e);
}

void Fold(AggregateState* state, const Event& e) {
  switch (e.body_case()) {
    case Event::kFormTaskIssued: {
      auto& f = MutableState<FormTaskState>(state);
      f.issued = true;
      f.target_org_prefix = e.form_task_issued().target_org_prefix();
      for (const auto& field : e.form_task_issued().fields())
        f.fields[field.canonical_path()] = field.value_class();
      f.due = FromProtoTime(e.form_task_issued().due());
      break;
    }
    case Event::kFormSubmitted:
      MutableState<FormTaskState>(state).submissions[e.form_submitted().submission_id()] =
          e.form_submitted().org_path();
      break;
    default:
      break;
  }
}

}  // namespace

const AggregateRules& FormRules() {
  static const AggregateRules kRules{
      .name = "form",
      .types = {"FormTaskIssued", "FormSubmitted"},
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
