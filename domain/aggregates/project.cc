// A village project (project/<id>): declared, decided stage by stage, started, completed.
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
    case Event::kProjectDeclared: {
      const auto& p = e.project_declared();
      if (p.revision() == 0) return Invalid("project_declared.revision", "starts at 1");
      if (auto s = RequireOrgPath("project_declared.applicant_org", p.applicant_org()); !s.ok()) return s;
      if (Depth(p.applicant_org()) < 2) {
        return Invalid("project_declared.applicant_org", "must be below the county (a town or a village)");
      }
      if (p.type() == grid::v1::PROJECT_TYPE_UNSPECIFIED)
        return Invalid("project_declared.type", "is required");
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
      if (d.stage() == grid::v1::STAGE_UNSPECIFIED)
        return Invalid("project_stage_decided.stage", "is required");
      if (d.decision() == grid::v1::DECISION_UNSPECIFIED)
        return Invalid("project_stage_decided.decision", "is required");
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
      if (e.project_completed().final_cost_fen() < 0)
        return Invalid("project_completed.final_cost_fen", "is negative");
      return RequireTime("project_completed.completed", e.project_completed().has_completed());
    default:
      return Invalid("type", "is not a catalog event");
  }
}

// The id field an event names its aggregate by, and its value.
std::pair<absl::string_view, std::string> Id(const Event& e) {
  switch (e.body_case()) {
    case Event::kProjectDeclared:
      return {"project_declared.project_id", e.project_declared().project_id()};
    case Event::kProjectStageDecided:
      return {"project_stage_decided.project_id", e.project_stage_decided().project_id()};
    case Event::kProjectStarted:
      return {"project_started.project_id", e.project_started().project_id()};
    case Event::kProjectCompleted:
      return {"project_completed.project_id", e.project_completed().project_id()};
    default:
      return {"", ""};
  }
}

// The org path the envelope must carry, when the body says it.
std::optional<std::string> BodyOrgPath(const Event& e) {
  switch (e.body_case()) {
    case Event::kProjectDeclared:
      return e.project_declared().applicant_org();
    default:
      return std::nullopt;
  }
}

std::string DescribeAsks(const std::vector<ProjectState::Ask>& asks) {
  if (asks.empty()) return "none";
  std::vector<std::string> parts;
  parts.reserve(asks.size());
  for (const auto& a : asks)
    parts.push_back(absl::StrCat(grid::v1::Stage_Name(a.stage), " by ", a.department));
  return absl::StrJoin(parts, ", ");
}

absl::Status CheckProject(const ProjectState& st, const Event& e) {
  using S = ProjectState::Status;
  const std::string id = std::string(Id(e).second);
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
        if (rev != 1)
          return Refused(absl::StrCat("project ", id, " is new; its first revision is 1, not ", rev));
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
                           : absl::StrCat("project ", id,
                                          " is not approved (waiting for: ", DescribeAsks(st.pending), ")"));
      }
      return absl::OkStatus();
    case Event::kProjectCompleted:
      if (st.status != S::kStarted) return Refused(absl::StrCat("project ", id, " has not started"));
      if (FromProtoTime(e.project_completed().completed()) < st.started) {
        return Refused(
            absl::StrCat("project_completed.completed is before the start ", TimeText(st.started)));
      }
      return absl::OkStatus();
    default:
      return absl::OkStatus();
  }
}

absl::Status CheckState(const AggregateState& state, const Event& e, StateLookup&) {
  return CheckProject(StateOf<ProjectState>(state), e);
}

void Fold(AggregateState* state, const Event& e) {
  switch (e.body_case()) {
    case Event::kProjectDeclared: {
      auto& p = MutableState<ProjectState>(state);
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
      auto& p = MutableState<ProjectState>(state);
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
      auto& p = MutableState<ProjectState>(state);
      p.status = ProjectState::Status::kStarted;
      p.started = FromProtoTime(e.project_started().started());
      break;
    }
    case Event::kProjectCompleted:
      MutableState<ProjectState>(state).status = ProjectState::Status::kCompleted;
      break;
    default:
      break;
  }
}

absl::string_view WhereNow(const AggregateState& state) {
  const auto* p = std::get_if<ProjectState>(&state.agg);
  return p != nullptr && p->status != ProjectState::Status::kNone ? absl::string_view(p->org_path)
                                                                  : absl::string_view();
}

}  // namespace

const AggregateRules& ProjectRules() {
  static const AggregateRules kRules{
      .name = "project",
      .types = {"ProjectDeclared", "ProjectStageDecided", "ProjectStarted", "ProjectCompleted"},
      .check_body = CheckBody,
      .id = Id,
      .body_org_path = BodyOrgPath,
      .check = CheckState,
      .apply = Fold,
      .current_org_path = WhereNow,
  };
  return kRules;
}

}  // namespace grid::domain
