// The household_roster projection (projections.h lists them all).
#include "domain/projections/projection.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace grid::domain {
namespace {

absl::Status FoldHouseholdRoster(const Event& e, RowAccess& rows) {
  if (AggregateOf(e.type()) != "household") return absl::OkStatus();
  const std::string id = e.stream().substr(e.stream().find('/') + 1);
  if (e.has_household_created()) {
    const auto& c = e.household_created();
    RowValue v;
    auto* row = v.mutable_household_roster();
    row->set_household_id(c.household_id());
    row->set_kind(c.kind());
    row->set_house_number(c.house_number());
    row->set_head_token(c.head().person_token());
    auto* m = row->add_members();
    m->set_person_token(c.head().person_token());
    m->set_name(c.head().name());
    m->set_relation_to_head(grid::v1::HEAD);
    m->set_birth_year(c.head().birth_year());
    m->set_residence(c.head_residence());
    row->set_last_event_id(e.event_id());
    rows.Put(Key(c.org_path(), id), std::move(v));
    return absl::OkStatus();
  }
  const std::string key =
      Key(e.has_address_changed() ? e.address_changed().old_org_path() : e.org_path(), id);
  GRID_ASSIGN_OR_RETURN_ROW(cur, rows, key);
  if (!cur) return absl::OkStatus();
  auto* row = cur->mutable_household_roster();
  auto* members = row->mutable_members();
  auto find = [&](const std::string& token) {
    return std::find_if(members->begin(), members->end(),
                        [&](const grid::v1::RosterMember& m) { return m.person_token() == token; });
  };
  std::string new_key = key;
  switch (e.body_case()) {
    case Event::kMemberAdded: {
      const auto& a = e.member_added();
      auto* m = row->add_members();
      m->set_person_token(a.person().person_token());
      m->set_name(a.person().name());
      m->set_relation_to_head(a.relation_to_head());
      m->set_birth_year(a.person().birth_year());
      m->set_residence(a.residence());
      break;
    }
    case Event::kMemberRemoved: {
      const auto& r = e.member_removed();
      auto it = find(r.person_token());
      if (it == members->end()) break;
      if (r.reason() == grid::v1::MemberRemoved::DEATH_REPORTED) {
        it->set_death_reported(true);
      } else {
        members->erase(it);
        if (row->head_token() == r.person_token()) row->clear_head_token();
      }
      break;
    }
    case Event::kHeadChanged: {
      if (auto old = find(row->head_token()); old != members->end()) {
        old->set_relation_to_head(grid::v1::RELATION_UNSPECIFIED);
      }
      row->set_head_token(e.head_changed().new_head_token());
      if (auto it = find(row->head_token()); it != members->end()) it->set_relation_to_head(grid::v1::HEAD);
      break;
    }
    case Event::kAddressChanged:
      new_key = Key(e.address_changed().new_org_path(), id);
      if (!e.address_changed().new_house_number().empty()) {
        row->set_house_number(e.address_changed().new_house_number());
      }
      break;
    case Event::kHouseholdSplit:
      for (const auto& t : e.household_split().moved_person_tokens()) {
        if (auto it = find(t); it != members->end()) members->erase(it);
      }
      break;
    case Event::kHouseholdDissolved:
      rows.Delete(key);
      return absl::OkStatus();
    case Event::kHouseholdDataCorrected: {
      const auto& c = e.household_data_corrected();
      if (!c.has_person()) break;
      auto it = find(c.person().person_token());
      if (it == members->end()) break;
      if (!c.person().name().empty()) it->set_name(c.person().name());
      if (c.person().birth_year() != 0) it->set_birth_year(c.person().birth_year());
      if (c.relation_to_head() != grid::v1::RELATION_UNSPECIFIED)
        it->set_relation_to_head(c.relation_to_head());
      if (c.residence() != grid::v1::RESIDENCE_TYPE_UNSPECIFIED) it->set_residence(c.residence());
      break;
    }
    default:
      break;
  }
  row->set_last_event_id(e.event_id());
  if (new_key != key) rows.Delete(key);
  rows.Put(new_key, *std::move(cur));
  return absl::OkStatus();
}

}  // namespace

ProjectionDef HouseholdRosterProjection() {
  return {"household_roster", "per grid#household: members with names (restricted)", FoldHouseholdRoster,
          nullptr};
}

}  // namespace grid::domain
