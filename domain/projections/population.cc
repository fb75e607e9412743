// The population projection (projections.h lists them all).
#include "domain/projections/projection.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace grid::domain {
namespace {

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
    p->set_non_registered_residents(p->non_registered_residents() +
                                    d.by_type[grid::v1::NON_REGISTERED_RESIDENT]);
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

}  // namespace

ProjectionDef PopulationProjection() {
  return {"population", "per org path at every level: households and residents (counts only)", FoldPopulation,
          nullptr};
}

}  // namespace grid::domain
