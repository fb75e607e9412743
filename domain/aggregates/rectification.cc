// A finding's rectification (rectification/<finding id>): ordered, progress, re-inspection, extension,
// escalation. Every rule of this aggregate's event types is here: their fields, the stream they belong in,
// the stateful checks and the fold (aggregate.h).
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
    default:
      return Invalid("type", "is not a catalog event");
  }
}

// The id field an event names its aggregate by, and its value.
std::pair<absl::string_view, std::string> Id(const Event& e) {
  switch (e.body_case()) {
    case Event::kRectificationOrdered:
      return {"rectification_ordered.finding_id", e.rectification_ordered().finding_id()};
    case Event::kRectificationProgressReported:
      return {"rectification_progress_reported.finding_id", e.rectification_progress_reported().finding_id()};
    case Event::kRectificationReinspected:
      return {"rectification_reinspected.finding_id", e.rectification_reinspected().finding_id()};
    case Event::kRectificationExtended:
      return {"rectification_extended.finding_id", e.rectification_extended().finding_id()};
    case Event::kRectificationEscalated:
      return {"rectification_escalated.finding_id", e.rectification_escalated().finding_id()};
    default:
      return {"", ""};
  }
}

absl::Status CheckRectification(const RectificationState& st, const Event& e, StateLookup& others) {
  const std::string finding = std::string(Id(e).second);
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

absl::Status CheckState(const AggregateState& state, const Event& e, StateLookup& others) {
  return CheckRectification(StateOf<RectificationState>(state), e, others);
}

void Fold(AggregateState* state, const Event& e) {
  switch (e.body_case()) {
    case Event::kRectificationOrdered: {
      auto& r = MutableState<RectificationState>(state);
      r.ordered = true;
      r.closed = false;
      r.org_path = e.org_path();
      r.deadline = FromProtoTime(e.rectification_ordered().deadline());
      break;
    }
    case Event::kRectificationReinspected: {
      auto& r = MutableState<RectificationState>(state);
      if (e.rectification_reinspected().passed()) {
        r.closed = true;
      } else {
        r.deadline = FromProtoTime(e.rectification_reinspected().new_deadline());
      }
      break;
    }
    case Event::kRectificationExtended:
      MutableState<RectificationState>(state).deadline =
          FromProtoTime(e.rectification_extended().new_deadline());
      break;
    case Event::kRectificationProgressReported:
    case Event::kRectificationEscalated:
      MutableState<RectificationState>(state);
      break;
    default:
      break;
  }
}

absl::string_view WhereNow(const AggregateState& state) {
  const auto* r = std::get_if<RectificationState>(&state.agg);
  return r != nullptr && r->ordered ? absl::string_view(r->org_path) : absl::string_view();
}

}  // namespace

const AggregateRules& RectificationRules() {
  static const AggregateRules kRules{
      .name = "rectification",
      .types = {"RectificationOrdered", "RectificationProgressReported", "RectificationReinspected",
                "RectificationExtended", "RectificationEscalated"},
      .check_body = CheckBody,
      .id = Id,
      .body_org_path = nullptr,
      .check = CheckState,
      .apply = Fold,
      .current_org_path = WhereNow,
  };
  return kRules;
}

}  // namespace grid::domain
