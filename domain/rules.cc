#include "domain/rules.h"

#include <algorithm>

#include <functional>

#include "absl/strings/cord.h"
#include "domain/field_index.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/reflection.h"

namespace grid::domain {
namespace {

using grid::v1::Event;
namespace pb = google::protobuf;

// ---- helpers -----------------------------------------------------------------

absl::Status Invalid(absl::string_view field, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", what));
}

absl::Status Refused(absl::string_view what) {
  return absl::FailedPreconditionError(what);
}

constexpr char kQuotedClass[] = "grid.v1/quoted_class";
constexpr char kPlainMessage[] = "grid.v1/plain_message";

// A refusal whose message quotes data of class `cls` (a person token, who is
// the head, a reported death); `plain` says the same without quoting it.
absl::Status RefusedQuoting(grid::v1::DataClass cls, absl::string_view what, absl::string_view plain) {
  absl::Status s = Refused(what);
  s.SetPayload(kQuotedClass, absl::Cord(absl::StrCat(static_cast<int>(cls))));
  s.SetPayload(kPlainMessage, absl::Cord(plain));
  return s;
}

bool IsSegmentChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '_' || c == '-';
}

size_t Depth(absl::string_view org_path) {
  return org_path.empty() ? 0 : std::count(org_path.begin(), org_path.end(), '/') + 1;
}

absl::Status RequireId(absl::string_view field, const std::string& v) {
  if (v.empty()) return Invalid(field, "is required");
  if (v.size() > 128) return Invalid(field, "is longer than 128 bytes");
  for (char c : v) {
    if (!IsSegmentChar(c) && c != '.' && c != ':') {
      return Invalid(field, "may hold only [A-Za-z0-9._:-]");
    }
  }
  return absl::OkStatus();
}

absl::Status RequireOrgPath(absl::string_view field, const std::string& v) {
  if (v.empty()) return Invalid(field, "is required");
  if (!IsOrgPath(v)) {
    return Invalid(field, absl::StrCat("must be an org path like \"350583/101/203/g05\"; got \"",
                                       v.substr(0, 64), "\""));
  }
  return absl::OkStatus();
}

absl::Status RequireTime(absl::string_view field, bool has) {
  return has ? absl::OkStatus() : Invalid(field, "is required");
}

// Every enum field anywhere in `m` must hold a value its enum declares
// (proto3 keeps unknown numbers; the domain does not accept them).
absl::Status CheckEnumsIn(const pb::Message& m, WalkPath* path) {
  const FieldIndex& idx = IndexOf(m.GetDescriptor());
  const pb::Reflection* r = m.GetReflection();
  for (const FieldInfo& fi : idx.enums) {
    const pb::FieldDescriptor* f = fi.field;
    const int n = f->is_repeated() ? r->FieldSize(m, f) : 1;
    for (int i = 0; i < n; ++i) {
      const int v = f->is_repeated() ? r->GetRepeatedEnumValue(m, f, i) : r->GetEnumValue(m, f);
      if (v != 0 && f->enum_type()->FindValueByNumber(v) == nullptr) {
        path->Push(f);
        return Invalid(path->Str(), absl::StrCat("unknown ", f->enum_type()->name(), " value ", v));
      }
    }
  }
  for (const FieldInfo& fi : idx.messages) {
    const pb::FieldDescriptor* f = fi.field;
    if (f->is_repeated()) {
      for (int i = 0; i < r->FieldSize(m, f); ++i) {
        path->Push(f, i);
        if (auto s = CheckEnumsIn(r->GetRepeatedMessage(m, f, i), path); !s.ok()) return s;
        path->Pop();
      }
    } else if (r->HasField(m, f)) {
      path->Push(f);
      if (auto s = CheckEnumsIn(r->GetMessage(m, f), path); !s.ok()) return s;
      path->Pop();
    }
  }
  return absl::OkStatus();
}

absl::Status CheckEnums(const pb::Message& m) {
  WalkPath path;
  return CheckEnumsIn(m, &path);
}

// Calls `visit` with the role, the path (ending at the field) and the value
// of every set string field marked (org) in `m`, nested messages included.
void ForEachOrgFieldIn(const pb::Message& m, WalkPath* path,
                       const std::function<void(grid::v1::OrgRole, const WalkPath&, const std::string&)>& visit) {
  const FieldIndex& idx = IndexOf(m.GetDescriptor());
  const pb::Reflection* r = m.GetReflection();
  for (const FieldInfo& fi : idx.strings) {
    if (fi.org == grid::v1::ORG_ROLE_UNSPECIFIED) continue;
    const pb::FieldDescriptor* f = fi.field;
    if (f->is_repeated()) {
      for (int i = 0; i < r->FieldSize(m, f); ++i) {
        path->Push(f, i);
        visit(fi.org, *path, r->GetRepeatedString(m, f, i));
        path->Pop();
      }
    } else if (r->HasField(m, f)) {
      path->Push(f);
      visit(fi.org, *path, r->GetString(m, f));
      path->Pop();
    }
  }
  for (const FieldInfo& fi : idx.messages) {
    const pb::FieldDescriptor* f = fi.field;
    if (f->is_repeated()) {
      for (int i = 0; i < r->FieldSize(m, f); ++i) {
        path->Push(f, i);
        ForEachOrgFieldIn(r->GetRepeatedMessage(m, f, i), path, visit);
        path->Pop();
      }
    } else if (r->HasField(m, f)) {
      path->Push(f);
      ForEachOrgFieldIn(r->GetMessage(m, f), path, visit);
      path->Pop();
    }
  }
}

void ForEachOrgField(const pb::Message& m,
                     const std::function<void(grid::v1::OrgRole, const WalkPath&, const std::string&)>& visit) {
  WalkPath path;
  ForEachOrgFieldIn(m, &path, visit);
}

// The id field an event names its aggregate by, and its value.
std::pair<absl::string_view, std::string> AggregateId(const Event& e) {
  switch (e.body_case()) {
    case Event::kGridDefined: return {"grid_defined.org_path", std::string(CountyOf(e.grid_defined().org_path()))};
    case Event::kGridRetired: return {"grid_retired.org_path", std::string(CountyOf(e.grid_retired().org_path()))};
    case Event::kWorkerAssigned: return {"worker_assigned.org_path", std::string(CountyOf(e.worker_assigned().org_path()))};
    case Event::kWorkerUnassigned: return {"worker_unassigned.org_path", std::string(CountyOf(e.worker_unassigned().org_path()))};
    case Event::kSanitationReportSubmitted: return {"org_path", e.org_path()};
    case Event::kRectificationOrdered: return {"rectification_ordered.finding_id", e.rectification_ordered().finding_id()};
    case Event::kRectificationProgressReported: return {"rectification_progress_reported.finding_id", e.rectification_progress_reported().finding_id()};
    case Event::kRectificationReinspected: return {"rectification_reinspected.finding_id", e.rectification_reinspected().finding_id()};
    case Event::kRectificationExtended: return {"rectification_extended.finding_id", e.rectification_extended().finding_id()};
    case Event::kRectificationEscalated: return {"rectification_escalated.finding_id", e.rectification_escalated().finding_id()};
    case Event::kHouseholdCreated: return {"household_created.household_id", e.household_created().household_id()};
    case Event::kMemberAdded: return {"member_added.household_id", e.member_added().household_id()};
    case Event::kMemberRemoved: return {"member_removed.household_id", e.member_removed().household_id()};
    case Event::kHeadChanged: return {"head_changed.household_id", e.head_changed().household_id()};
    case Event::kAddressChanged: return {"address_changed.household_id", e.address_changed().household_id()};
    case Event::kHouseholdSplit: return {"household_split.household_id", e.household_split().household_id()};
    case Event::kHouseholdMerged: return {"household_merged.household_id", e.household_merged().household_id()};
    case Event::kHouseholdDissolved: return {"household_dissolved.household_id", e.household_dissolved().household_id()};
    case Event::kHouseholdDataCorrected: return {"household_data_corrected.household_id", e.household_data_corrected().household_id()};
    case Event::kProjectDeclared: return {"project_declared.project_id", e.project_declared().project_id()};
    case Event::kProjectStageDecided: return {"project_stage_decided.project_id", e.project_stage_decided().project_id()};
    case Event::kProjectStarted: return {"project_started.project_id", e.project_started().project_id()};
    case Event::kProjectCompleted: return {"project_completed.project_id", e.project_completed().project_id()};
    case Event::kFormTaskIssued: return {"form_task_issued.task_id", e.form_task_issued().task_id()};
    case Event::kFormSubmitted: return {"form_submitted.task_id", e.form_submitted().task_id()};
    default: return {"", ""};
  }
}

absl::Status CheckPerson(absl::string_view field, const grid::v1::PersonRef& p) {
  if (auto s = RequireId(absl::StrCat(field, ".person_token"), p.person_token()); !s.ok()) return s;
  if (!p.id_number().empty()) {
    return Invalid(absl::StrCat(field, ".id_number"),
                   "must not be sent in the clear; join on person_token (a keyed HMAC of the ID)");
  }
  return absl::OkStatus();
}

// Per-type field rules.
absl::Status CheckBody(const Event& e) {
  switch (e.body_case()) {
    case Event::kGridDefined:
      if (auto s = RequireOrgPath("grid_defined.org_path", e.grid_defined().org_path()); !s.ok()) return s;
      if (Depth(e.grid_defined().org_path()) < 2) {
        return Invalid("grid_defined.org_path", "a grid lies under a county: at least two segments");
      }
      return absl::OkStatus();
    case Event::kGridRetired:
      return RequireOrgPath("grid_retired.org_path", e.grid_retired().org_path());
    case Event::kWorkerAssigned:
      if (auto s = RequireId("worker_assigned.worker_id", e.worker_assigned().worker_id()); !s.ok()) return s;
      return RequireOrgPath("worker_assigned.org_path", e.worker_assigned().org_path());
    case Event::kWorkerUnassigned:
      if (auto s = RequireId("worker_unassigned.worker_id", e.worker_unassigned().worker_id()); !s.ok()) return s;
      return RequireOrgPath("worker_unassigned.org_path", e.worker_unassigned().org_path());
    case Event::kSanitationReportSubmitted: {
      const auto& r = e.sanitation_report_submitted();
      if (auto s = RequireId("sanitation_report_submitted.report_id", r.report_id()); !s.ok()) return s;
      if (r.kind() == grid::v1::SANITATION_KIND_UNSPECIFIED) {
        return Invalid("sanitation_report_submitted.kind", "is required");
      }
      if (auto s = RequireId("sanitation_report_submitted.reporter_worker_id", r.reporter_worker_id()); !s.ok()) return s;
      if (r.has_location() && r.location().system() == grid::v1::COORDINATE_SYSTEM_UNSPECIFIED) {
        return Invalid("sanitation_report_submitted.location.system",
                       "is required with a location (WGS84, GCJ02 or BD09)");
      }
      if (r.total_score_x10() > 1000) {
        return Invalid("sanitation_report_submitted.total_score_x10", "is above 1000 (100.0 points)");
      }
      for (int i = 0; i < r.deductions_size(); ++i) {
        if (r.deductions(i).deducted_points_x10() > r.deductions(i).max_points_x10()) {
          return Invalid(absl::StrCat("sanitation_report_submitted.deductions[", i, "]"),
                         "deducts more than the item's maximum");
        }
      }
      std::set<std::string> ids;
      for (int i = 0; i < r.findings_size(); ++i) {
        const auto& f = r.findings(i);
        const std::string name = absl::StrCat("sanitation_report_submitted.findings[", i, "]");
        if (auto s = RequireId(absl::StrCat(name, ".finding_id"), f.finding_id()); !s.ok()) return s;
        if (!ids.insert(f.finding_id()).second) return Invalid(name, "repeats a finding_id");
        if (!f.has_rectify_by()) return Invalid(absl::StrCat(name, ".rectify_by"), "is required");
        if (f.responsible().party_case() == grid::v1::ResponsibleParty::PARTY_NOT_SET) {
          return Invalid(absl::StrCat(name, ".responsible"), "is required");
        }
      }
      return absl::OkStatus();
    }
    case Event::kRectificationOrdered: {
      const auto& r = e.rectification_ordered();
      if (!r.has_deadline()) return Invalid("rectification_ordered.deadline", "is required");
      if (r.responsible().party_case() == grid::v1::ResponsibleParty::PARTY_NOT_SET) {
        return Invalid("rectification_ordered.responsible", "is required");
      }
      return absl::OkStatus();
    }
    case Event::kRectificationExtended:
      if (!e.rectification_extended().has_new_deadline()) {
        return Invalid("rectification_extended.new_deadline", "is required");
      }
      return absl::OkStatus();
    case Event::kRectificationEscalated:
      return RequireOrgPath("rectification_escalated.to_org", e.rectification_escalated().to_org());
    case Event::kRectificationReinspected:
      if (!e.rectification_reinspected().passed() && !e.rectification_reinspected().has_new_deadline()) {
        return Invalid("rectification_reinspected.new_deadline",
                       "is required when the re-inspection failed (it re-orders the rectification)");
      }
      return absl::OkStatus();
    case Event::kRectificationProgressReported:
      return absl::OkStatus();
    case Event::kHouseholdCreated: {
      const auto& h = e.household_created();
      if (h.kind() == grid::v1::HOUSEHOLD_KIND_UNSPECIFIED) return Invalid("household_created.kind", "is required");
      if (auto s = RequireOrgPath("household_created.org_path", h.org_path()); !s.ok()) return s;
      if (!h.has_head()) return Invalid("household_created.head", "is required");
      if (h.head_residence() == grid::v1::RESIDENCE_TYPE_UNSPECIFIED) {
        return Invalid("household_created.head_residence", "is required");
      }
      return CheckPerson("household_created.head", h.head());
    }
    case Event::kMemberAdded: {
      const auto& m = e.member_added();
      if (!m.has_person()) return Invalid("member_added.person", "is required");
      if (auto s = CheckPerson("member_added.person", m.person()); !s.ok()) return s;
      if (m.reason() == grid::v1::MemberAdded::REASON_UNSPECIFIED) return Invalid("member_added.reason", "is required");
      if (m.residence() == grid::v1::RESIDENCE_TYPE_UNSPECIFIED) return Invalid("member_added.residence", "is required");
      if (m.relation_to_head() == grid::v1::RELATION_UNSPECIFIED || m.relation_to_head() == grid::v1::HEAD) {
        return Invalid("member_added.relation_to_head",
                       "is required and cannot be HEAD (use HeadChanged)");
      }
      return absl::OkStatus();
    }
    case Event::kMemberRemoved: {
      const auto& m = e.member_removed();
      if (auto s = RequireId("member_removed.person_token", m.person_token()); !s.ok()) return s;
      if (m.reason() == grid::v1::MemberRemoved::REASON_UNSPECIFIED) return Invalid("member_removed.reason", "is required");
      if (m.reason() == grid::v1::MemberRemoved::DEATH_CONFIRMED &&
          m.source() != grid::v1::POLICE_SYNC && m.source() != grid::v1::CIVIL_AFFAIRS_SYNC) {
        return Invalid("member_removed.source",
                       "a death is confirmed only by POLICE_SYNC or CIVIL_AFFAIRS_SYNC; a grid visit reports it (DEATH_REPORTED)");
      }
      return absl::OkStatus();
    }
    case Event::kHeadChanged:
      return RequireId("head_changed.new_head_token", e.head_changed().new_head_token());
    case Event::kAddressChanged:
      if (auto s = RequireOrgPath("address_changed.old_org_path", e.address_changed().old_org_path()); !s.ok()) return s;
      return RequireOrgPath("address_changed.new_org_path", e.address_changed().new_org_path());
    case Event::kHouseholdSplit: {
      const auto& s = e.household_split();
      if (auto st = RequireId("household_split.new_household_id", s.new_household_id()); !st.ok()) return st;
      if (s.new_household_id() == s.household_id()) {
        return Invalid("household_split.new_household_id", "must differ from household_id");
      }
      if (s.moved_person_tokens().empty()) return Invalid("household_split.moved_person_tokens", "is empty");
      return absl::OkStatus();
    }
    case Event::kHouseholdMerged: {
      const auto& m = e.household_merged();
      if (m.merged_household_ids().empty()) return Invalid("household_merged.merged_household_ids", "is empty");
      for (const auto& id : m.merged_household_ids()) {
        if (auto s = RequireId("household_merged.merged_household_ids", id); !s.ok()) return s;
        if (id == m.household_id()) {
          return Invalid("household_merged.merged_household_ids", "a household cannot merge into itself");
        }
      }
      return absl::OkStatus();
    }
    case Event::kHouseholdDissolved:
      return absl::OkStatus();
    case Event::kHouseholdDataCorrected: {
      const auto& c = e.household_data_corrected();
      if (auto s = RequireId("household_data_corrected.supersedes_event_id", c.supersedes_event_id()); !s.ok()) return s;
      if (c.reason().empty()) return Invalid("household_data_corrected.reason", "is required: corrections say why");
      if (c.has_person()) return CheckPerson("household_data_corrected.person", c.person());
      return absl::OkStatus();
    }
    case Event::kProjectDeclared: {
      const auto& p = e.project_declared();
      if (p.revision() == 0) return Invalid("project_declared.revision", "starts at 1");
      if (auto s = RequireOrgPath("project_declared.applicant_org", p.applicant_org()); !s.ok()) return s;
      if (Depth(p.applicant_org()) < 2) {
        return Invalid("project_declared.applicant_org", "must be below the county (a town or a village)");
      }
      if (p.type() == grid::v1::PROJECT_TYPE_UNSPECIFIED) return Invalid("project_declared.type", "is required");
      if (p.title().empty()) return Invalid("project_declared.title", "is required");
      if (p.investment_fen() < 0) return Invalid("project_declared.investment_fen", "is negative");
      for (int i = 0; i < p.funding_size(); ++i) {
        if (p.funding(i).amount_fen() < 0) {
          return Invalid(absl::StrCat("project_declared.funding[", i, "].amount_fen"), "is negative");
        }
      }
      return absl::OkStatus();
    }
    case Event::kProjectStageDecided: {
      const auto& d = e.project_stage_decided();
      if (d.stage() == grid::v1::STAGE_UNSPECIFIED) return Invalid("project_stage_decided.stage", "is required");
      if (d.decision() == grid::v1::DECISION_UNSPECIFIED) return Invalid("project_stage_decided.decision", "is required");
      if (d.department().empty()) return Invalid("project_stage_decided.department", "is required");
      if (d.decision() == grid::v1::RETURNED_FOR_SUPPLEMENT && d.missing_items().empty()) {
        return Invalid("project_stage_decided.missing_items",
                       "a return lists every missing item, so the village fixes all in one go");
      }
      if (d.next_stages_size() != d.next_departments_size()) {
        return Invalid("project_stage_decided.next_departments",
                       "pairs with next_stages: one department per next stage");
      }
      if (d.next_stages_size() > 0 && d.decision() != grid::v1::APPROVED) {
        return Invalid("project_stage_decided.next_stages", "only an APPROVED decision asks the next stage");
      }
      for (int i = 0; i < d.next_stages_size(); ++i) {
        if (d.next_stages(i) == grid::v1::STAGE_UNSPECIFIED || d.next_departments(i).empty()) {
          return Invalid(absl::StrCat("project_stage_decided.next_stages[", i, "]"),
                         "needs a stage and a department");
        }
      }
      return absl::OkStatus();
    }
    case Event::kProjectStarted:
      return RequireTime("project_started.started", e.project_started().has_started());
    case Event::kProjectCompleted:
      if (e.project_completed().final_cost_fen() < 0) return Invalid("project_completed.final_cost_fen", "is negative");
      return RequireTime("project_completed.completed", e.project_completed().has_completed());
    case Event::kFormTaskIssued: {
      const auto& t = e.form_task_issued();
      if (t.fields().empty()) return Invalid("form_task_issued.fields", "is empty");
      std::set<std::string> paths;
      for (int i = 0; i < t.fields_size(); ++i) {
        const auto& f = t.fields(i);
        const std::string at = absl::StrCat("form_task_issued.fields[", i, "]");
        if (f.canonical_path().empty()) return Invalid(absl::StrCat(at, ".canonical_path"), "is required");
        if (!paths.insert(f.canonical_path()).second) {
          return Invalid(absl::StrCat(at, ".canonical_path"), absl::StrCat("'", f.canonical_path(), "' appears twice"));
        }
        if (f.value_class() == grid::v1::DATA_CLASS_UNSPECIFIED) {
          return Invalid(absl::StrCat(at, ".value_class"),
                         "is required: the class of the values it will carry (C0_AGGREGATE for counts)");
        }
      }
      if (auto s = RequireOrgPath("form_task_issued.target_org_prefix", t.target_org_prefix()); !s.ok()) return s;
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
      for (int i = 0; i < f.values_size(); ++i) {
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

// The org path the envelope must carry, when the body says it.
std::optional<std::string> BodyOrgPath(const Event& e) {
  switch (e.body_case()) {
    case Event::kGridDefined: return e.grid_defined().org_path();
    case Event::kGridRetired: return e.grid_retired().org_path();
    case Event::kWorkerAssigned: return e.worker_assigned().org_path();
    case Event::kWorkerUnassigned: return e.worker_unassigned().org_path();
    case Event::kHouseholdCreated: return e.household_created().org_path();
    case Event::kAddressChanged: return e.address_changed().new_org_path();
    case Event::kProjectDeclared: return e.project_declared().applicant_org();
    case Event::kFormTaskIssued: return e.form_task_issued().target_org_prefix();
    case Event::kFormSubmitted: return e.form_submitted().org_path();
    default: return std::nullopt;
  }
}

// ---- stateful rules, one function per aggregate ------------------------------

absl::StatusOr<const OrgState*> OrgOf(absl::string_view org_path, StateLookup& others) {
  auto st = others.Get(StreamFor("org", CountyOf(org_path)));
  if (!st.ok()) return st.status();
  const auto* org = std::get_if<OrgState>(&(*st)->agg);
  static const OrgState kEmpty;
  return org != nullptr ? org : &kEmpty;
}

absl::Status ActiveGrid(const std::string& org_path, StateLookup& others) {
  auto org = OrgOf(org_path, others);
  if (!org.ok()) return org.status();
  if (auto p = (*org)->GridProblem(org_path)) return Refused(*p);
  return absl::OkStatus();
}

absl::Status CheckOrg(const OrgState& org, const Event& e) {
  switch (e.body_case()) {
    case Event::kGridDefined: {
      const auto& path = e.grid_defined().org_path();
      auto it = org.grids.find(path);
      if (it != org.grids.end()) {
        return Refused(it->second.retired
                           ? absl::StrCat("grid ", path, " was retired; grid codes are not reused")
                           : absl::StrCat("grid ", path, " is already defined"));
      }
      // An active grid above the new one (one lookup per level of its path)
      // or below it (the first active path after "<path>/").
      std::optional<std::string> overlap;
      for (size_t slash = path.find('/'); slash != std::string::npos; slash = path.find('/', slash + 1)) {
        if (org.active.contains(path.substr(0, slash))) {
          overlap = path.substr(0, slash);
          break;
        }
      }
      if (!overlap) {
        const std::string below = path + "/";
        auto first = org.active.lower_bound(below);
        if (first != org.active.end() && absl::StartsWith(*first, below)) overlap = *first;
      }
      if (overlap) {
        return Refused(absl::StrCat("grid ", path, " would overlap grid ", *overlap,
                                    "; grids are the leaves of the org tree"));
      }
      return absl::OkStatus();
    }
    case Event::kGridRetired: {
      const auto& path = e.grid_retired().org_path();
      if (auto p = org.GridProblem(path)) return Refused(*p);
      if (const auto& workers = org.grids.at(path).workers; !workers.empty()) {
        return Refused(absl::StrCat("grid ", path, " still has worker ", *workers.begin(),
                                    " assigned; unassign its workers first"));
      }
      return absl::OkStatus();
    }
    case Event::kWorkerAssigned: {
      const auto& a = e.worker_assigned();
      if (auto p = org.GridProblem(a.org_path())) return Refused(*p);
      auto it = org.assignments.find(a.worker_id());
      if (it != org.assignments.end() && it->second.contains(a.org_path())) {
        return Refused(absl::StrCat("worker ", a.worker_id(), " is already assigned to grid ", a.org_path()));
      }
      return absl::OkStatus();
    }
    case Event::kWorkerUnassigned: {
      const auto& a = e.worker_unassigned();
      auto it = org.assignments.find(a.worker_id());
      if (it == org.assignments.end() || !it->second.contains(a.org_path())) {
        return Refused(absl::StrCat("worker ", a.worker_id(), " is not assigned to grid ", a.org_path()));
      }
      return absl::OkStatus();
    }
    default:
      return absl::OkStatus();
  }
}

absl::Status CheckSanitation(const SanitationState&, const Event& e, StateLookup& others) {
  const auto& r = e.sanitation_report_submitted();
  auto org = OrgOf(e.org_path(), others);
  if (!org.ok()) return org.status();
  if (auto p = (*org)->GridProblem(e.org_path())) return Refused(*p);
  auto it = (*org)->assignments.find(r.reporter_worker_id());
  if (it == (*org)->assignments.end() || !it->second.contains(e.org_path())) {
    return Refused(absl::StrCat("worker ", r.reporter_worker_id(), " is not assigned to grid ", e.org_path()));
  }
  return absl::OkStatus();
}

absl::Status CheckRectification(const RectificationState& st, const Event& e, StateLookup& others) {
  const std::string finding = std::string(AggregateId(e).second);
  if (e.has_rectification_ordered()) {
    if (st.ordered && !st.closed) {
      return Refused(absl::StrCat("rectification of finding ", finding, " is already ordered and open"));
    }
    if (st.closed) return Refused(absl::StrCat("finding ", finding, " passed re-inspection; it is closed"));
    if (absl::Status s = ActiveGrid(e.org_path(), others); !s.ok()) return s;
    // Of a report in this grid: else anyone could take a finding id of
    // another grid (another town) and block its rectification.
    auto reports = others.Get(StreamFor("sanitation", e.org_path()));
    if (!reports.ok()) return reports.status();
    const auto* sanitation = std::get_if<SanitationState>(&(*reports)->agg);
    if (sanitation == nullptr || !sanitation->findings.contains(finding)) {
      return Refused(absl::StrCat("finding ", finding, " was not reported in grid ", e.org_path()));
    }
    return absl::OkStatus();
  }
  if (!st.ordered) return Refused(absl::StrCat("no rectification is ordered for finding ", finding));
  if (st.closed) return Refused(absl::StrCat("finding ", finding, " passed re-inspection; it is closed"));
  if (e.org_path() != st.org_path) {
    return Refused(absl::StrCat("org_path must be finding ", finding, "'s grid ", st.org_path));
  }
  if (e.has_rectification_extended()) {
    const absl::Time d = FromProtoTime(e.rectification_extended().new_deadline());
    if (d <= st.deadline) {
      return Refused(absl::StrCat("new deadline ", TimeText(d), " is not after the current deadline ",
                                  TimeText(st.deadline)));
    }
  }
  if (e.has_rectification_reinspected() && !e.rectification_reinspected().passed()) {
    const absl::Time d = FromProtoTime(e.rectification_reinspected().new_deadline());
    if (d <= st.deadline) {
      return Refused(absl::StrCat("a failed re-inspection sets a new deadline after the current one (",
                                  TimeText(st.deadline), ")"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckHousehold(const HouseholdState& st, const Event& e, StateLookup& others) {
  const std::string id = std::string(AggregateId(e).second);
  if (e.has_household_created()) {
    if (st.created) return Refused(absl::StrCat("household ", id, " already exists"));
    return ActiveGrid(e.household_created().org_path(), others);
  }
  if (!st.created) return Refused(absl::StrCat("household ", id, " does not exist"));
  if (st.dissolved) return Refused(absl::StrCat("household ", id, " was dissolved"));
  if (e.has_address_changed()) {
    const auto& a = e.address_changed();
    if (a.old_org_path() != st.org_path) {
      return Refused(absl::StrCat("household ", id, " is in ", st.org_path, ", not ", a.old_org_path()));
    }
    return ActiveGrid(a.new_org_path(), others);
  }
  if (e.org_path() != st.org_path) {
    return Refused(absl::StrCat("org_path must be household ", id, "'s grid ", st.org_path));
  }
  auto member = [&](const std::string& token) -> absl::Status {
    if (!st.members.contains(token)) {
      return RefusedQuoting(grid::v1::C2_PERSONAL, absl::StrCat("member ", token, " is not in household ", id),
                            absl::StrCat("a person the event names is not a member of household ", id));
    }
    return absl::OkStatus();
  };
  switch (e.body_case()) {
    case Event::kMemberAdded: {
      const auto& token = e.member_added().person().person_token();
      if (st.members.contains(token)) {
        return RefusedQuoting(grid::v1::C2_PERSONAL,
                              absl::StrCat("person ", token, " is already a member of household ", id),
                              absl::StrCat("the person is already a member of household ", id));
      }
      return absl::OkStatus();
    }
    case Event::kMemberRemoved: {
      const auto& m = e.member_removed();
      if (auto s = member(m.person_token()); !s.ok()) return s;
      const auto& mem = st.members.at(m.person_token());
      if (m.reason() == grid::v1::MemberRemoved::DEATH_REPORTED && mem.death_reported) {
        return RefusedQuoting(grid::v1::C3_SENSITIVE,
                              absl::StrCat("the death of ", m.person_token(), " is already reported; it awaits confirmation"),
                              absl::StrCat("the removal conflicts with what household ", id,
                                           " records about the member"));
      }
      const bool death = m.reason() == grid::v1::MemberRemoved::DEATH_REPORTED ||
                         m.reason() == grid::v1::MemberRemoved::DEATH_CONFIRMED;
      if (!death && m.person_token() == st.head && st.members.size() > 1) {
        return RefusedQuoting(grid::v1::C2_PERSONAL,
                              absl::StrCat(m.person_token(), " is the head of household ", id, "; change the head first"),
                              absl::StrCat("the member is the head of household ", id, "; change the head first"));
      }
      return absl::OkStatus();
    }
    case Event::kHeadChanged: {
      const auto& h = e.head_changed();
      if (h.old_head_token() != st.head) {
        return RefusedQuoting(
            grid::v1::C2_PERSONAL,
            st.head.empty()
                ? absl::StrCat("the head of household ", id, " is vacant; leave old_head_token empty")
                : absl::StrCat("the head of household ", id, " is ", st.head, ", not '", h.old_head_token(), "'"),
            absl::StrCat("old_head_token is not the current head of household ", id));
      }
      return member(h.new_head_token());
    }
    case Event::kHouseholdSplit: {
      const auto& s = e.household_split();
      for (const auto& t : s.moved_person_tokens()) {
        if (auto m = member(t); !m.ok()) return m;
        if (t == st.head) {
          return RefusedQuoting(grid::v1::C2_PERSONAL,
                                absl::StrCat("the head ", t, " cannot move out in a split; change the head first"),
                                "the head cannot move out in a split; change the head first");
        }
      }
      auto other = others.Get(StreamFor("household", s.new_household_id()));
      if (!other.ok()) return other.status();
      if ((*other)->events > 0) {
        return Refused(absl::StrCat("household ", s.new_household_id(), " already exists; a split creates a new one"));
      }
      return absl::OkStatus();
    }
    case Event::kHouseholdMerged:
      for (const auto& m : e.household_merged().merged_household_ids()) {
        auto other = others.Get(StreamFor("household", m));
        if (!other.ok()) return other.status();
        const auto* h = std::get_if<HouseholdState>(&(*other)->agg);
        if (h == nullptr || !h->created) return Refused(absl::StrCat("household ", m, " does not exist"));
        if (h->dissolved) return Refused(absl::StrCat("household ", m, " was dissolved"));
      }
      return absl::OkStatus();
    case Event::kHouseholdDissolved:
      if (!st.members.empty()) {
        return RefusedQuoting(grid::v1::C2_PERSONAL,
                              absl::StrCat("household ", id, " still has ", st.members.size(),
                                           " member(s); remove or move them first"),
                              absl::StrCat("household ", id, " still has members; remove or move them first"));
      }
      return absl::OkStatus();
    case Event::kHouseholdDataCorrected: {
      const auto& c = e.household_data_corrected();
      if (!st.event_ids.contains(c.supersedes_event_id())) {
        return Refused(absl::StrCat("event ", c.supersedes_event_id(), " is not in household ", id));
      }
      if (c.has_person()) return member(c.person().person_token());
      return absl::OkStatus();
    }
    default:
      return absl::OkStatus();
  }
}

std::string DescribeAsks(const std::vector<ProjectState::Ask>& asks) {
  if (asks.empty()) return "none";
  std::vector<std::string> parts;
  parts.reserve(asks.size());
  for (const auto& a : asks) parts.push_back(absl::StrCat(grid::v1::Stage_Name(a.stage), " by ", a.department));
  return absl::StrJoin(parts, ", ");
}

absl::Status CheckProject(const ProjectState& st, const Event& e) {
  using S = ProjectState::Status;
  const std::string id = std::string(AggregateId(e).second);
  if (st.status == S::kNone && !e.has_project_declared()) {
    return Refused(absl::StrCat("project ", id, " was never declared"));
  }
  if (st.status == S::kRejected) {
    return Refused(absl::StrCat("project ", id, " was rejected at revision ", st.revision,
                                "; a new application is needed"));
  }
  if (st.status != S::kNone && e.org_path() != st.org_path) {
    return Refused(absl::StrCat("org_path must be project ", id, "'s applicant ", st.org_path));
  }
  switch (e.body_case()) {
    case Event::kProjectDeclared: {
      const uint32_t rev = e.project_declared().revision();
      if (st.status == S::kNone) {
        if (rev != 1) return Refused(absl::StrCat("project ", id, " is new; its first revision is 1, not ", rev));
        return absl::OkStatus();
      }
      if (st.status != S::kReturned) {
        return Refused(absl::StrCat("project ", id, " is already declared at revision ", st.revision,
                                    "; a new revision is declared only after it is returned"));
      }
      if (e.project_declared().applicant_org() != st.org_path) {
        return Refused(absl::StrCat("a revision keeps the applicant ", st.org_path));
      }
      if (rev != st.revision + 1) {
        return Refused(absl::StrCat("project ", id, " was returned at revision ", st.revision,
                                    "; the resubmission is revision ", st.revision + 1, ", not ", rev));
      }
      return absl::OkStatus();
    }
    case Event::kProjectStageDecided: {
      const auto& d = e.project_stage_decided();
      if (st.status == S::kReturned) {
        return Refused(absl::StrCat("project ", id, " is returned for supplement; declare revision ",
                                    st.revision + 1, " first"));
      }
      if (st.status != S::kInReview) {
        return Refused(absl::StrCat("project ", id, " is not in review (all stages are decided)"));
      }
      if (d.revision() != st.revision) {
        return Refused(absl::StrCat("the decision is for revision ", d.revision(), " but project ", id,
                                    " is at revision ", st.revision));
      }
      const ProjectState::Ask ask{d.stage(), d.department()};
      if (std::find(st.pending.begin(), st.pending.end(), ask) == st.pending.end()) {
        return Refused(absl::StrCat("department ", d.department(), " is not asked at stage ",
                                    grid::v1::Stage_Name(d.stage()), " of project ", id,
                                    " (asked: ", DescribeAsks(st.pending), ")"));
      }
      return absl::OkStatus();
    }
    case Event::kProjectStarted:
      if (st.status != S::kApproved) {
        return Refused(st.status == S::kStarted || st.status == S::kCompleted
                           ? absl::StrCat("project ", id, " has already started")
                           : absl::StrCat("project ", id, " is not approved (waiting for: ",
                                          DescribeAsks(st.pending), ")"));
      }
      return absl::OkStatus();
    case Event::kProjectCompleted:
      if (st.status != S::kStarted) return Refused(absl::StrCat("project ", id, " has not started"));
      if (FromProtoTime(e.project_completed().completed()) < st.started) {
        return Refused(absl::StrCat("project_completed.completed is before the start ", TimeText(st.started)));
      }
      return absl::OkStatus();
    default:
      return absl::OkStatus();
  }
}

absl::Status CheckForm(const FormTaskState& st, const Event& e) {
  const std::string id = std::string(AggregateId(e).second);
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
      return Refused(absl::StrCat("submission ", f.supersedes_submission_id(), " to supersede is not one of org ",
                                  f.org_path(), "'s in form task ", id));
    }
  }
  for (int i = 0; i < f.values_size(); ++i) {
    const auto& v = f.values(i);
    auto declared = st.fields.find(v.canonical_path());
    if (declared == st.fields.end()) {
      return Refused(absl::StrCat("values[", i, "]: '", v.canonical_path(), "' is not a field of form task ", id));
    }
    if (v.value_class() != declared->second) {
      return Refused(absl::StrCat("values[", i, "].value_class is ", grid::v1::DataClass_Name(v.value_class()),
                                  " but form task ", id, " declares ", grid::v1::DataClass_Name(declared->second),
                                  " for '", v.canonical_path(), "'"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

// ---- public --------------------------------------------------------------------

absl::string_view AggregateOf(absl::string_view type) {
  static const auto* kinds = new std::map<absl::string_view, absl::string_view>{
      {"GridDefined", "org"}, {"GridRetired", "org"}, {"WorkerAssigned", "org"}, {"WorkerUnassigned", "org"},
      {"SanitationReportSubmitted", "sanitation"},
      {"RectificationOrdered", "rectification"}, {"RectificationProgressReported", "rectification"},
      {"RectificationReinspected", "rectification"}, {"RectificationExtended", "rectification"},
      {"RectificationEscalated", "rectification"},
      {"HouseholdCreated", "household"}, {"MemberAdded", "household"}, {"MemberRemoved", "household"},
      {"HeadChanged", "household"}, {"AddressChanged", "household"}, {"HouseholdSplit", "household"},
      {"HouseholdMerged", "household"}, {"HouseholdDissolved", "household"},
      {"HouseholdDataCorrected", "household"},
      {"ProjectDeclared", "project"}, {"ProjectStageDecided", "project"}, {"ProjectStarted", "project"},
      {"ProjectCompleted", "project"},
      {"FormTaskIssued", "form"}, {"FormSubmitted", "form"}};
  auto it = kinds->find(type);
  return it == kinds->end() ? absl::string_view() : it->second;
}

std::string StreamFor(absl::string_view aggregate, absl::string_view id) {
  return absl::StrCat(aggregate, "/", id);
}

absl::string_view CountyOf(absl::string_view org_path) {
  return org_path.substr(0, org_path.find('/'));
}

absl::string_view ParentOf(absl::string_view org_path) {
  const size_t slash = org_path.rfind('/');
  return slash == absl::string_view::npos ? absl::string_view() : org_path.substr(0, slash);
}

const std::vector<std::string>& KnownEventTypes() {
  static const auto* types = [] {
    auto* v = new std::vector<std::string>;
    const auto* oneof = grid::v1::Event::descriptor()->FindOneofByName("body");
    for (int i = 0; i < oneof->field_count(); ++i) {
      v->push_back(oneof->field(i)->message_type()->name());
    }
    return v;
  }();
  return *types;
}

bool IsOrgPath(absl::string_view s) {
  if (s.empty() || s.size() > 256) return false;
  size_t seg = 0;
  for (char c : s) {
    if (c == '/') {
      if (seg == 0) return false;
      seg = 0;
    } else if (IsSegmentChar(c)) {
      ++seg;
    } else {
      return false;
    }
  }
  return seg > 0;
}

bool IsUnder(absl::string_view path, absl::string_view prefix) {
  if (prefix.empty()) return true;
  return path.substr(0, prefix.size()) == prefix &&
         (path.size() == prefix.size() || path[prefix.size()] == '/');
}

std::string TimeText(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

std::optional<std::string> OrgState::GridProblem(const std::string& org_path) const {
  auto it = grids.find(org_path);
  if (it == grids.end()) return absl::StrCat("grid ", org_path, " is not defined");
  if (it->second.retired) return absl::StrCat("grid ", org_path, " was retired");
  return std::nullopt;
}

absl::Status CheckShape(const std::string& stream, const Event& e) {
  const absl::string_view aggregate = AggregateOf(e.type());
  if (aggregate.empty()) return Invalid("type", absl::StrCat("'", e.type(), "' is not a catalog event"));
  if (auto s = CheckEnums(e); !s.ok()) return s;
  if (auto s = RequireOrgPath("org_path", e.org_path()); !s.ok()) return s;
  if (auto s = CheckBody(e); !s.ok()) return s;
  const auto [id_field, id] = AggregateId(e);
  if (aggregate != "sanitation" && aggregate != "org") {
    if (auto s = RequireId(id_field, id); !s.ok()) return s;
  }
  const std::string want = StreamFor(aggregate, id);
  if (stream != want) {
    return Invalid("stream", absl::StrCat("a ", e.type(), " belongs in stream \"", want, "\" (from ", id_field,
                                          "), not \"", stream.substr(0, 64), "\""));
  }
  if (auto body = BodyOrgPath(e); body && *body != e.org_path()) {
    return Invalid("org_path", absl::StrCat("must equal the body's org path \"", *body, "\""));
  }
  absl::Status orgs;
  ForEachOrgField(e, [&](grid::v1::OrgRole role, const WalkPath& field, const std::string& v) {
    if (!orgs.ok() || v.empty()) return;
    if (!IsOrgPath(v)) {
      orgs = Invalid(field.Str(), absl::StrCat("must be an org path like \"350583/101/203/g05\"; got \"",
                                         v.substr(0, 64), "\""));
    } else if (role == grid::v1::ORG_ABOVE && !IsUnder(e.org_path(), v)) {
      orgs = Invalid(field.Str(), absl::StrCat("must be the event's org path \"", e.org_path(),
                                         "\" or a unit above it; got \"", v.substr(0, 64), "\""));
    }
  });
  return orgs;
}

absl::Status Check(const AggregateState& state, const Event& e, StateLookup& others) {
  if (e.has_occurred_at() && state.last_occurred_at && e.body_case() != Event::kSanitationReportSubmitted &&
      FromProtoTime(e.occurred_at()) < *state.last_occurred_at) {
    return Refused(absl::StrCat("occurred_at ", TimeText(FromProtoTime(e.occurred_at())),
                                " is before the stream's previous event (", TimeText(*state.last_occurred_at),
                                "); a stream's events do not go back in time"));
  }
  const absl::string_view aggregate = AggregateOf(e.type());
  auto as = [&](auto* tag) -> const std::remove_pointer_t<decltype(tag)>& {
    using T = std::remove_pointer_t<decltype(tag)>;
    static const T kEmpty{};
    const T* s = std::get_if<T>(&state.agg);
    return s != nullptr ? *s : kEmpty;
  };
  if (aggregate == "org") return CheckOrg(as(static_cast<OrgState*>(nullptr)), e);
  if (aggregate == "sanitation") return CheckSanitation(as(static_cast<SanitationState*>(nullptr)), e, others);
  if (aggregate == "rectification") {
    return CheckRectification(as(static_cast<RectificationState*>(nullptr)), e, others);
  }
  if (aggregate == "household") return CheckHousehold(as(static_cast<HouseholdState*>(nullptr)), e, others);
  if (aggregate == "project") return CheckProject(as(static_cast<ProjectState*>(nullptr)), e);
  if (aggregate == "form") return CheckForm(as(static_cast<FormTaskState*>(nullptr)), e);
  return Invalid("type", absl::StrCat("'", e.type(), "' is not a catalog event"));
}

void Apply(AggregateState* state, const Event& e) {
  ++state->events;
  if (e.has_occurred_at()) {
    const absl::Time t = FromProtoTime(e.occurred_at());
    if (!state->last_occurred_at || t > *state->last_occurred_at) state->last_occurred_at = t;
  }
  auto get = [state](auto* tag) -> auto& {
    using T = std::remove_pointer_t<decltype(tag)>;
    if (!std::holds_alternative<T>(state->agg)) state->agg = T{};
    return std::get<T>(state->agg);
  };
  switch (e.body_case()) {
    case Event::kGridDefined: {
      auto& org = get(static_cast<OrgState*>(nullptr));
      org.grids[e.grid_defined().org_path()] = {};
      org.active.insert(e.grid_defined().org_path());
      break;
    }
    case Event::kGridRetired: {
      auto& org = get(static_cast<OrgState*>(nullptr));
      org.grids[e.grid_retired().org_path()].retired = true;
      org.active.erase(e.grid_retired().org_path());
      break;
    }
    case Event::kWorkerAssigned: {
      auto& org = get(static_cast<OrgState*>(nullptr));
      org.assignments[e.worker_assigned().worker_id()].insert(e.worker_assigned().org_path());
      if (auto g = org.grids.find(e.worker_assigned().org_path()); g != org.grids.end()) {
        g->second.workers.insert(e.worker_assigned().worker_id());
      }
      break;
    }
    case Event::kWorkerUnassigned: {
      auto& org = get(static_cast<OrgState*>(nullptr));
      auto it = org.assignments.find(e.worker_unassigned().worker_id());
      if (it != org.assignments.end()) {
        it->second.erase(e.worker_unassigned().org_path());
        if (it->second.empty()) org.assignments.erase(it);
      }
      if (auto g = org.grids.find(e.worker_unassigned().org_path()); g != org.grids.end()) {
        g->second.workers.erase(e.worker_unassigned().worker_id());
      }
      break;
    }
    case Event::kSanitationReportSubmitted: {
      auto& st = get(static_cast<SanitationState*>(nullptr));
      for (const auto& f : e.sanitation_report_submitted().findings()) st.findings.insert(f.finding_id());
      break;
    }
    case Event::kRectificationOrdered: {
      auto& r = get(static_cast<RectificationState*>(nullptr));
      r.ordered = true;
      r.closed = false;
      r.org_path = e.org_path();
      r.deadline = FromProtoTime(e.rectification_ordered().deadline());
      break;
    }
    case Event::kRectificationReinspected: {
      auto& r = get(static_cast<RectificationState*>(nullptr));
      if (e.rectification_reinspected().passed()) {
        r.closed = true;
      } else {
        r.deadline = FromProtoTime(e.rectification_reinspected().new_deadline());
      }
      break;
    }
    case Event::kRectificationExtended:
      get(static_cast<RectificationState*>(nullptr)).deadline = FromProtoTime(e.rectification_extended().new_deadline());
      break;
    case Event::kRectificationProgressReported:
    case Event::kRectificationEscalated:
      get(static_cast<RectificationState*>(nullptr));
      break;
    case Event::kHouseholdCreated: {
      auto& h = get(static_cast<HouseholdState*>(nullptr));
      h.created = true;
      h.org_path = e.household_created().org_path();
      h.head = e.household_created().head().person_token();
      h.members[h.head] = {grid::v1::HEAD, false};
      break;
    }
    case Event::kMemberAdded:
      get(static_cast<HouseholdState*>(nullptr)).members[e.member_added().person().person_token()] = {
          e.member_added().relation_to_head(), false};
      break;
    case Event::kMemberRemoved: {
      auto& h = get(static_cast<HouseholdState*>(nullptr));
      const auto& m = e.member_removed();
      if (m.reason() == grid::v1::MemberRemoved::DEATH_REPORTED) {
        h.members[m.person_token()].death_reported = true;
      } else {
        h.members.erase(m.person_token());
        if (h.head == m.person_token()) h.head.clear();
      }
      break;
    }
    case Event::kHeadChanged: {
      auto& h = get(static_cast<HouseholdState*>(nullptr));
      h.head = e.head_changed().new_head_token();
      h.members[h.head].relation = grid::v1::HEAD;
      break;
    }
    case Event::kAddressChanged:
      get(static_cast<HouseholdState*>(nullptr)).org_path = e.address_changed().new_org_path();
      break;
    case Event::kHouseholdSplit: {
      auto& h = get(static_cast<HouseholdState*>(nullptr));
      for (const auto& t : e.household_split().moved_person_tokens()) h.members.erase(t);
      break;
    }
    case Event::kHouseholdDissolved:
      get(static_cast<HouseholdState*>(nullptr)).dissolved = true;
      break;
    case Event::kHouseholdMerged:
    case Event::kHouseholdDataCorrected:
      get(static_cast<HouseholdState*>(nullptr));
      break;
    case Event::kProjectDeclared: {
      auto& p = get(static_cast<ProjectState*>(nullptr));
      const auto& d = e.project_declared();
      if (p.status == ProjectState::Status::kReturned) {
        p.pending = {p.returned_by};
      } else {
        p.org_path = d.applicant_org();
        p.pending = {{grid::v1::TOWN_PRELIMINARY, std::string(ParentOf(d.applicant_org()))}};
      }
      p.revision = d.revision();
      p.status = ProjectState::Status::kInReview;
      break;
    }
    case Event::kProjectStageDecided: {
      auto& p = get(static_cast<ProjectState*>(nullptr));
      const auto& d = e.project_stage_decided();
      const ProjectState::Ask ask{d.stage(), d.department()};
      switch (d.decision()) {
        case grid::v1::ACCEPTED:
          break;
        case grid::v1::APPROVED:
        case grid::v1::OPINION:
          std::erase(p.pending, ask);
          for (int i = 0; i < d.next_stages_size(); ++i) {
            p.pending.push_back({d.next_stages(i), d.next_departments(i)});
          }
          if (p.pending.empty()) p.status = ProjectState::Status::kApproved;
          break;
        case grid::v1::RETURNED_FOR_SUPPLEMENT:
          p.status = ProjectState::Status::kReturned;
          p.returned_by = ask;
          p.pending.clear();
          break;
        case grid::v1::REJECTED:
          p.status = ProjectState::Status::kRejected;
          p.pending.clear();
          break;
        default:
          break;
      }
      break;
    }
    case Event::kProjectStarted: {
      auto& p = get(static_cast<ProjectState*>(nullptr));
      p.status = ProjectState::Status::kStarted;
      p.started = FromProtoTime(e.project_started().started());
      break;
    }
    case Event::kProjectCompleted:
      get(static_cast<ProjectState*>(nullptr)).status = ProjectState::Status::kCompleted;
      break;
    case Event::kFormTaskIssued: {
      auto& f = get(static_cast<FormTaskState*>(nullptr));
      f.issued = true;
      f.target_org_prefix = e.form_task_issued().target_org_prefix();
      for (const auto& field : e.form_task_issued().fields()) f.fields[field.canonical_path()] = field.value_class();
      f.due = FromProtoTime(e.form_task_issued().due());
      break;
    }
    case Event::kFormSubmitted:
      get(static_cast<FormTaskState*>(nullptr)).submissions[e.form_submitted().submission_id()] =
          e.form_submitted().org_path();
      break;
    default:
      break;
  }
  if (auto* h = std::get_if<HouseholdState>(&state->agg)) h->event_ids.insert(e.event_id());
}

std::vector<std::string> TouchedOrgPaths(const Event& e) {
  std::vector<std::string> out;
  ForEachOrgField(e, [&](grid::v1::OrgRole role, const WalkPath&, const std::string& v) {
    if (role == grid::v1::ORG_TOUCHED && !v.empty() &&
        std::find(out.begin(), out.end(), v) == out.end()) {
      out.push_back(v);
    }
  });
  return out;
}

absl::string_view CurrentOrgPath(const AggregateState& state) {
  if (const auto* h = std::get_if<HouseholdState>(&state.agg); h != nullptr && h->created) {
    return h->org_path;
  }
  if (const auto* r = std::get_if<RectificationState>(&state.agg); r != nullptr && r->ordered) {
    return r->org_path;
  }
  if (const auto* p = std::get_if<ProjectState>(&state.agg);
      p != nullptr && p->status != ProjectState::Status::kNone) {
    return p->org_path;
  }
  return {};
}

grid::v1::DataClass QuotedClass(const absl::Status& refusal) {
  auto cls = refusal.GetPayload(kQuotedClass);
  int v = 0;
  if (!cls || !absl::SimpleAtoi(std::string(*cls), &v) || !grid::v1::DataClass_IsValid(v)) {
    return grid::v1::C1_INTERNAL;
  }
  return static_cast<grid::v1::DataClass>(v);
}

absl::Status ForClearance(absl::Status refusal, grid::v1::DataClass clearance) {
  if (QuotedClass(refusal) <= clearance) return refusal;
  auto plain = refusal.GetPayload(kPlainMessage);
  return absl::Status(refusal.code(), plain ? std::string(*plain) : "refused by a domain rule");
}

absl::Status CheckScope(const storage::AppendScope& scope, const AggregateState& own,
                        const Event& e, StateLookup& others) {
  const auto in_jurisdiction = [&](absl::string_view path) {
    for (const auto& j : scope.jurisdiction) {
      if (IsUnder(path, j)) return true;
    }
    return false;
  };
  // Whether `path` is the appender's to write: in its jurisdiction and, for
  // a grid worker, a grid assigned to it now.
  const auto writable = [&](absl::string_view path) -> absl::StatusOr<bool> {
    if (!in_jurisdiction(path)) return false;
    if (scope.worker.empty()) return true;
    auto org = OrgOf(path, others);
    if (!org.ok()) return org.status();
    auto it = (*org)->assignments.find(scope.worker);
    return it != (*org)->assignments.end() && it->second.contains(std::string(path));
  };
  // 1. Where the aggregate is now, which the caller did not say: if it is
  // not the caller's, the answer is the one for an aggregate that does not
  // exist, so that nothing about it (its grid, version, members) shows.
  if (const absl::string_view here = CurrentOrgPath(own); !here.empty()) {
    auto ok = writable(here);
    if (!ok.ok()) return ok.status();
    if (!*ok) {
      if (absl::Status absent = Check(AggregateState{}, e, others); !absent.ok()) return absent;
      return Refused(absl::StrCat(e.stream(), " already exists"));
    }
  }
  // 1b. A form task is the caller's to see when its target and the
  // caller's jurisdiction overlap (a county task for a town's offices, a
  // town's task for the county); any other is answered as absent, so that
  // neither the task, its target nor its submissions show.
  if (const auto* form = std::get_if<FormTaskState>(&own.agg); form != nullptr && form->issued) {
    bool overlaps = false;
    for (const auto& j : scope.jurisdiction) {
      overlaps |= IsUnder(j, form->target_org_prefix) || IsUnder(form->target_org_prefix, j);
    }
    if (!overlaps) {
      if (absl::Status absent = Check(AggregateState{}, e, others); !absent.ok()) return absent;
      return Refused(absl::StrCat(e.stream(), " already exists"));
    }
  }
  // 2. Other aggregates the event changes: households merged into this one.
  if (e.has_household_merged()) {
    for (const auto& m : e.household_merged().merged_household_ids()) {
      auto other = others.Get(StreamFor("household", m));
      if (!other.ok()) return other.status();
      if (const absl::string_view there = CurrentOrgPath(**other); !there.empty()) {
        auto ok = writable(there);
        if (!ok.ok()) return ok.status();
        if (!*ok) return Refused(absl::StrCat("household ", m, " does not exist"));
      }
    }
  }
  // 3. Every org the caller named as touched (envelope, both ends of a move,
  // the applicant, a form's target): named back, since the caller sent it.
  for (const std::string& path : TouchedOrgPaths(e)) {
    if (!in_jurisdiction(path)) {
      return absl::PermissionDeniedError(absl::StrCat(
          "org path '", path, "' is outside the appender's jurisdiction (",
          absl::StrJoin(scope.jurisdiction, ", "), ")"));
    }
    auto ok = writable(path);
    if (!ok.ok()) return ok.status();
    if (!*ok) {
      return absl::PermissionDeniedError(absl::StrCat(
          "worker ", scope.worker, " is not assigned to grid '", path,
          "' (org data); a grid worker appends only for its own grids"));
    }
  }
  return absl::OkStatus();
}

void ApplyUndo::Record(const AggregateState& state, const Event& e) {
  if (!started_) {
    started_ = true;
    events_ = state.events;
    last_occurred_at_ = state.last_occurred_at;
    was_org_ = std::holds_alternative<OrgState>(state.agg);
    if (!was_org_) whole_ = state.agg;
  }
  const auto* org = std::get_if<OrgState>(&state.agg);
  if (!was_org_ || org == nullptr) return;  // copied whole
  const auto grid = [&](const std::string& path) {
    auto it = org->grids.find(path);
    grids_.emplace_back(path, it == org->grids.end() ? std::nullopt : std::optional(it->second));
  };
  const auto assignment = [&](const std::string& worker) {
    auto it = org->assignments.find(worker);
    assignments_.emplace_back(worker,
                              it == org->assignments.end() ? std::nullopt : std::optional(it->second));
  };
  switch (e.body_case()) {
    case Event::kGridDefined: grid(e.grid_defined().org_path()); break;
    case Event::kGridRetired: grid(e.grid_retired().org_path()); break;
    case Event::kWorkerAssigned:
      grid(e.worker_assigned().org_path());
      assignment(e.worker_assigned().worker_id());
      break;
    case Event::kWorkerUnassigned:
      grid(e.worker_unassigned().org_path());
      assignment(e.worker_unassigned().worker_id());
      break;
    default: break;
  }
}

void ApplyUndo::Restore(AggregateState* state) {
  if (!started_) return;
  state->events = events_;
  state->last_occurred_at = last_occurred_at_;
  if (!was_org_) {
    state->agg = std::move(*whole_);
    return;
  }
  auto& org = std::get<OrgState>(state->agg);
  for (auto it = grids_.rbegin(); it != grids_.rend(); ++it) {
    if (it->second) {
      org.grids[it->first] = std::move(*it->second);
      if (org.grids[it->first].retired) {
        org.active.erase(it->first);
      } else {
        org.active.insert(it->first);
      }
    } else {
      org.grids.erase(it->first);
      org.active.erase(it->first);
    }
  }
  for (auto it = assignments_.rbegin(); it != assignments_.rend(); ++it) {
    if (it->second) {
      org.assignments[it->first] = std::move(*it->second);
    } else {
      org.assignments.erase(it->first);
    }
  }
}

}  // namespace grid::domain
