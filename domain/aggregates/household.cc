// A household (household/<id>): its members, head and address, splits and merges.
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
    case Event::kHouseholdCreated: {
      const auto& h = e.household_created();
      if (h.kind() == grid::v1::HOUSEHOLD_KIND_UNSPECIFIED)
        return Invalid("household_created.kind", "is required");
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
      if (m.reason() == grid::v1::MemberAdded::REASON_UNSPECIFIED)
        return Invalid("member_added.reason", "is required");
      if (m.residence() == grid::v1::RESIDENCE_TYPE_UNSPECIFIED)
        return Invalid("member_added.residence", "is required");
      if (m.relation_to_head() == grid::v1::RELATION_UNSPECIFIED || m.relation_to_head() == grid::v1::HEAD) {
        return Invalid("member_added.relation_to_head", "is required and cannot be HEAD (use HeadChanged)");
      }
      return absl::OkStatus();
    }
    case Event::kMemberRemoved: {
      const auto& m = e.member_removed();
      if (auto s = RequireId("member_removed.person_token", m.person_token()); !s.ok()) return s;
      if (m.reason() == grid::v1::MemberRemoved::REASON_UNSPECIFIED)
        return Invalid("member_removed.reason", "is required");
      if (m.reason() == grid::v1::MemberRemoved::DEATH_CONFIRMED && m.source() != grid::v1::POLICE_SYNC &&
          m.source() != grid::v1::CIVIL_AFFAIRS_SYNC) {
        return Invalid("member_removed.source",
                       "a death is confirmed only by POLICE_SYNC or CIVIL_AFFAIRS_SYNC; a grid visit reports "
                       "it (DEATH_REPORTED)");
      }
      return absl::OkStatus();
    }
    case Event::kHeadChanged:
      return RequireId("head_changed.new_head_token", e.head_changed().new_head_token());
    case Event::kAddressChanged:
      if (auto s = RequireOrgPath("address_changed.old_org_path", e.address_changed().old_org_path());
          !s.ok())
        return s;
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
      if (m.merged_household_ids().empty())
        return Invalid("household_merged.merged_household_ids", "is empty");
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
      if (auto s = RequireId("household_data_corrected.supersedes_event_id", c.supersedes_event_id());
          !s.ok())
        return s;
      if (c.reason().empty())
        return Invalid("household_data_corrected.reason", "is required: corrections say why");
      if (c.has_person()) return CheckPerson("household_data_corrected.person", c.person());
      return absl::OkStatus();
    }
    default:
      return Invalid("type", "is not a catalog event");
  }
}

// The id field an event names its aggregate by, and its value.
std::pair<absl::string_view, std::string> Id(const Event& e) {
  switch (e.body_case()) {
    case Event::kHouseholdCreated:
      return {"household_created.household_id", e.household_created().household_id()};
    case Event::kMemberAdded:
      return {"member_added.household_id", e.member_added().household_id()};
    case Event::kMemberRemoved:
      return {"member_removed.household_id", e.member_removed().household_id()};
    case Event::kHeadChanged:
      return {"head_changed.household_id", e.head_changed().household_id()};
    case Event::kAddressChanged:
      return {"address_changed.household_id", e.address_changed().household_id()};
    case Event::kHouseholdSplit:
      return {"household_split.household_id", e.household_split().household_id()};
    case Event::kHouseholdMerged:
      return {"household_merged.household_id", e.household_merged().household_id()};
    case Event::kHouseholdDissolved:
      return {"household_dissolved.household_id", e.household_dissolved().household_id()};
    case Event::kHouseholdDataCorrected:
      return {"household_data_corrected.household_id", e.household_data_corrected().household_id()};
    default:
      return {"", ""};
  }
}

// The org path the envelope must carry, when the body says it.
std::optional<std::string> BodyOrgPath(const Event& e) {
  switch (e.body_case()) {
    case Event::kHouseholdCreated:
      return e.household_created().org_path();
    case Event::kAddressChanged:
      return e.address_changed().new_org_path();
    default:
      return std::nullopt;
  }
}

absl::Status CheckHousehold(const HouseholdState& st, const Event& e, StateLookup& others) {
  const std::string id = std::string(Id(e).second);
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
      return RefusedQuoting(grid::v1::C2_PERSONAL,
                            absl::StrCat("member ", token, " is not in household ", id),
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
        return RefusedQuoting(
            grid::v1::C3_SENSITIVE,
            absl::StrCat("the death of ", m.person_token(), " is already reported; it awaits confirmation"),
            absl::StrCat("the removal conflicts with what household ", id, " records about the member"));
      }
      const bool death = m.reason() == grid::v1::MemberRemoved::DEATH_REPORTED ||
                         m.reason() == grid::v1::MemberRemoved::DEATH_CONFIRMED;
      if (!death && m.person_token() == st.head && st.members.size() > 1) {
        return RefusedQuoting(
            grid::v1::C2_PERSONAL,
            absl::StrCat(m.person_token(), " is the head of household ", id, "; change the head first"),
            absl::StrCat("the member is the head of household ", id, "; change the head first"));
      }
      return absl::OkStatus();
    }
    case Event::kHeadChanged: {
      const auto& h = e.head_changed();
      if (h.old_head_token() != st.head) {
        return RefusedQuoting(grid::v1::C2_PERSONAL,
                              st.head.empty() ? absl::StrCat("the head of household ", id,
                                                             " is vacant; leave old_head_token empty")
                                              : absl::StrCat("the head of household ", id, " is ", st.head,
                                                             ", not '", h.old_head_token(), "'"),
                              absl::StrCat("old_head_token is not the current head of household ", id));
      }
      return member(h.new_head_token());
    }
    case Event::kHouseholdSplit: {
      const auto& s = e.household_split();
      for (const auto& t : s.moved_person_tokens()) {
        if (auto m = member(t); !m.ok()) return m;
        if (t == st.head) {
          return RefusedQuoting(
              grid::v1::C2_PERSONAL,
              absl::StrCat("the head ", t, " cannot move out in a split; change the head first"),
              "the head cannot move out in a split; change the head first");
        }
      }
      auto other = others.Get(StreamFor("household", s.new_household_id()));
      if (!other.ok()) return other.status();
      if ((*other)->events > 0) {
        return Refused(
            absl::StrCat("household ", s.new_household_id(), " already exists; a split creates a new one"));
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
        return RefusedQuoting(
            grid::v1::C2_PERSONAL,
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

absl::Status CheckState(const AggregateState& state, const Event& e, StateLookup& others) {
  return CheckHousehold(StateOf<HouseholdState>(state), e, others);
}

void Fold(AggregateState* state, const Event& e) {
  switch (e.body_case()) {
    case Event::kHouseholdCreated: {
      auto& h = MutableState<HouseholdState>(state);
      h.created = true;
      h.org_path = e.household_created().org_path();
      h.head = e.household_created().head().person_token();
      h.members[h.head] = {grid::v1::HEAD, false};
      break;
    }
    case Event::kMemberAdded:
      MutableState<HouseholdState>(state).members[e.member_added().person().person_token()] = {
          e.member_added().relation_to_head(), false};
      break;
    case Event::kMemberRemoved: {
      auto& h = MutableState<HouseholdState>(state);
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
      auto& h = MutableState<HouseholdState>(state);
      h.head = e.head_changed().new_head_token();
      h.members[h.head].relation = grid::v1::HEAD;
      break;
    }
    case Event::kAddressChanged:
      MutableState<HouseholdState>(state).org_path = e.address_changed().new_org_path();
      break;
    case Event::kHouseholdSplit: {
      auto& h = MutableState<HouseholdState>(state);
      for (const auto& t : e.household_split().moved_person_tokens()) h.members.erase(t);
      break;
    }
    case Event::kHouseholdDissolved:
      MutableState<HouseholdState>(state).dissolved = true;
      break;
    case Event::kHouseholdMerged:
    case Event::kHouseholdDataCorrected:
      MutableState<HouseholdState>(state);
      break;
    default:
      break;
  }
  MutableState<HouseholdState>(state).event_ids.insert(e.event_id());
}

absl::string_view WhereNow(const AggregateState& state) {
  const auto* h = std::get_if<HouseholdState>(&state.agg);
  return h != nullptr && h->created ? absl::string_view(h->org_path) : absl::string_view();
}

}  // namespace

const AggregateRules& HouseholdRules() {
  static const AggregateRules kRules{
      .name = "household",
      .types = {"HouseholdCreated", "MemberAdded", "MemberRemoved", "HeadChanged", "AddressChanged",
                "HouseholdSplit", "HouseholdMerged", "HouseholdDissolved", "HouseholdDataCorrected"},
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
