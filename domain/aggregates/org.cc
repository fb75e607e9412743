// The county's org data (org/<county>): grids, and which worker is assigned to which.
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
      if (auto s = RequireId("worker_unassigned.worker_id", e.worker_unassigned().worker_id()); !s.ok())
        return s;
      return RequireOrgPath("worker_unassigned.org_path", e.worker_unassigned().org_path());
    case Event::kOrgUnitNamed: {
      const auto& n = e.org_unit_named();
      if (auto s = RequireOrgPath("org_unit_named.org_path", n.org_path()); !s.ok()) return s;
      if (n.name().empty()) return Invalid("org_unit_named.name", "is required");
      if (n.name().size() > 64) return Invalid("org_unit_named.name", "is longer than 64 bytes");
      return absl::OkStatus();
    }
    case Event::kOrgUnitRecoded: {
      const auto& r = e.org_unit_recoded();
      if (auto s = RequireOrgPath("org_unit_recoded.old_org_path", r.old_org_path()); !s.ok()) return s;
      if (auto s = RequireOrgPath("org_unit_recoded.new_org_path", r.new_org_path()); !s.ok()) return s;
      if (Depth(r.old_org_path()) < 2 || Depth(r.old_org_path()) > 3) {
        return Invalid("org_unit_recoded.old_org_path",
                       "a town or a village is recoded (a grid is retired and defined again)");
      }
      if (Depth(r.new_org_path()) != Depth(r.old_org_path())) {
        return Invalid("org_unit_recoded.new_org_path", "must be at the same level as the old code");
      }
      if (CountyOf(r.new_org_path()) != CountyOf(r.old_org_path())) {
        return Invalid("org_unit_recoded.new_org_path", "must be in the same county");
      }
      if (r.new_org_path() == r.old_org_path())
        return Invalid("org_unit_recoded.new_org_path", "is the old code");
      return absl::OkStatus();
    }
    default:
      return Invalid("type", "is not a catalog event");
  }
}

// The id field an event names its aggregate by, and its value.
std::pair<absl::string_view, std::string> Id(const Event& e) {
  switch (e.body_case()) {
    case Event::kGridDefined:
      return {"grid_defined.org_path", std::string(CountyOf(e.grid_defined().org_path()))};
    case Event::kGridRetired:
      return {"grid_retired.org_path", std::string(CountyOf(e.grid_retired().org_path()))};
    case Event::kWorkerAssigned:
      return {"worker_assigned.org_path", std::string(CountyOf(e.worker_assigned().org_path()))};
    case Event::kWorkerUnassigned:
      return {"worker_unassigned.org_path", std::string(CountyOf(e.worker_unassigned().org_path()))};
    case Event::kOrgUnitNamed:
      return {"org_unit_named.org_path", std::string(CountyOf(e.org_unit_named().org_path()))};
    case Event::kOrgUnitRecoded:
      return {"org_unit_recoded.old_org_path", std::string(CountyOf(e.org_unit_recoded().old_org_path()))};
    default:
      return {"", ""};
  }
}

// The org path the envelope must carry, when the body says it.
std::optional<std::string> BodyOrgPath(const Event& e) {
  switch (e.body_case()) {
    case Event::kGridDefined:
      return e.grid_defined().org_path();
    case Event::kGridRetired:
      return e.grid_retired().org_path();
    case Event::kWorkerAssigned:
      return e.worker_assigned().org_path();
    case Event::kWorkerUnassigned:
      return e.worker_unassigned().org_path();
    case Event::kOrgUnitNamed:
      return e.org_unit_named().org_path();
    case Event::kOrgUnitRecoded:
      return e.org_unit_recoded().old_org_path();
    default:
      return std::nullopt;
  }
}

absl::Status CheckOrg(const OrgState& org, const Event& e) {
  switch (e.body_case()) {
    case Event::kGridDefined: {
      const auto& path = e.grid_defined().org_path();
      if (auto recoded = org.RecodedAt(path)) {
        return Refused(absl::StrCat("org unit ", recoded->first, " was recoded to ", recoded->second,
                                    "; define grids under the new code"));
      }
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
    case Event::kOrgUnitNamed: {
      const auto& path = e.org_unit_named().org_path();
      if (auto recoded = org.RecodedAt(path)) {
        return Refused(absl::StrCat("org unit ", recoded->first, " was recoded to ", recoded->second,
                                    "; name units under the new code"));
      }
      if (org.grids.contains(path)) {
        if (auto p = org.GridProblem(path)) return Refused(*p);
      }
      return absl::OkStatus();
    }
    case Event::kOrgUnitRecoded: {
      const auto& r = e.org_unit_recoded();
      if (!org.Holds(r.old_org_path())) {
        return Refused(
            absl::StrCat("org unit ", r.old_org_path(), " has no grids and no name: nothing to recode"));
      }
      if (auto recoded = org.RecodedAt(r.old_org_path())) {
        return Refused(
            absl::StrCat("org unit ", recoded->first, " was already recoded to ", recoded->second));
      }
      if (auto recoded = org.RecodedAt(r.new_org_path())) {
        return Refused(absl::StrCat("org code ", r.new_org_path(), " lies under ", recoded->first,
                                    ", which was recoded to ", recoded->second));
      }
      if (org.Holds(r.new_org_path())) {
        return Refused(
            absl::StrCat("org code ", r.new_org_path(), " is in use; a unit is recoded to an unused code"));
      }
      return absl::OkStatus();
    }
    default:
      return absl::OkStatus();
  }
}

absl::Status CheckState(const AggregateState& state, const Event& e, StateLookup&) {
  return CheckOrg(StateOf<OrgState>(state), e);
}

void Fold(AggregateState* state, const Event& e) {
  switch (e.body_case()) {
    case Event::kGridDefined: {
      auto& org = MutableState<OrgState>(state);
      org.grids[e.grid_defined().org_path()] = {};
      org.active.insert(e.grid_defined().org_path());
      break;
    }
    case Event::kGridRetired: {
      auto& org = MutableState<OrgState>(state);
      org.grids[e.grid_retired().org_path()].retired = true;
      org.active.erase(e.grid_retired().org_path());
      break;
    }
    case Event::kWorkerAssigned: {
      auto& org = MutableState<OrgState>(state);
      org.assignments[e.worker_assigned().worker_id()].insert(e.worker_assigned().org_path());
      if (auto g = org.grids.find(e.worker_assigned().org_path()); g != org.grids.end()) {
        g->second.workers.insert(e.worker_assigned().worker_id());
      }
      break;
    }
    case Event::kWorkerUnassigned: {
      auto& org = MutableState<OrgState>(state);
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
    case Event::kOrgUnitNamed:
      MutableState<OrgState>(state).units.try_emplace(e.org_unit_named().org_path());
      break;
    case Event::kOrgUnitRecoded: {
      auto& org = MutableState<OrgState>(state);
      const auto& r = e.org_unit_recoded();
      org.units[r.old_org_path()].recoded_to = r.new_org_path();
      org.units.try_emplace(r.new_org_path());
      break;
    }
    default:
      break;
  }
}

}  // namespace

std::optional<std::string> OrgState::GridProblem(const std::string& org_path) const {
  auto it = grids.find(org_path);
  if (it == grids.end()) return absl::StrCat("grid ", org_path, " is not defined");
  if (it->second.retired) return absl::StrCat("grid ", org_path, " was retired");
  return std::nullopt;
}

std::optional<std::pair<std::string, std::string>> OrgState::RecodedAt(const std::string& path) const {
  if (units.empty()) return std::nullopt;  // most counties: no copies per segment
  for (size_t end = path.find('/');; end = path.find('/', end + 1)) {
    const std::string unit = path.substr(0, end);
    if (auto it = units.find(unit); it != units.end() && !it->second.recoded_to.empty()) {
      return std::pair(unit, it->second.recoded_to);
    }
    if (end == std::string::npos) return std::nullopt;
  }
}

bool OrgState::Holds(const std::string& path) const {
  const std::string below = path + "/";
  const auto under = [&](const auto& m) {
    if (m.contains(path)) return true;
    auto it = m.lower_bound(below);
    return it != m.end() && absl::StartsWith(it->first, below);
  };
  return under(grids) || under(units);
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
  const auto unit = [&](const std::string& path) {
    auto it = org->units.find(path);
    units_.emplace_back(path, it == org->units.end() ? std::nullopt : std::optional(it->second));
  };
  const auto assignment = [&](const std::string& worker) {
    auto it = org->assignments.find(worker);
    assignments_.emplace_back(worker,
                              it == org->assignments.end() ? std::nullopt : std::optional(it->second));
  };
  switch (e.body_case()) {
    case Event::kGridDefined:
      grid(e.grid_defined().org_path());
      break;
    case Event::kGridRetired:
      grid(e.grid_retired().org_path());
      break;
    case Event::kWorkerAssigned:
      grid(e.worker_assigned().org_path());
      assignment(e.worker_assigned().worker_id());
      break;
    case Event::kWorkerUnassigned:
      grid(e.worker_unassigned().org_path());
      assignment(e.worker_unassigned().worker_id());
      break;
    case Event::kOrgUnitNamed:
      unit(e.org_unit_named().org_path());
      break;
    case Event::kOrgUnitRecoded:
      unit(e.org_unit_recoded().old_org_path());
      unit(e.org_unit_recoded().new_org_path());
      break;
    default:
      break;
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
  for (auto it = units_.rbegin(); it != units_.rend(); ++it) {
    if (it->second) {
      org.units[it->first] = std::move(*it->second);
    } else {
      org.units.erase(it->first);
    }
  }
}

const AggregateRules& OrgRules() {
  static const AggregateRules kRules{
      .name = "org",
      .types = {"GridDefined", "GridRetired", "WorkerAssigned", "WorkerUnassigned", "OrgUnitNamed",
                "OrgUnitRecoded"},
      .id_is_org_path = true,
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
