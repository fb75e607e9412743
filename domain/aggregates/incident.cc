// An incident (incident/<id>): the closed loop from report to rating.
// Every rule of this aggregate's event types is here: their fields, the
// stream they belong in, the stateful checks and the fold (aggregate.h).
//
// The loop (docs/incidents.md draws it):
//   REPORTED -accept-> ACCEPTED -dispatch-> DISPATCHED -acknowledge-> ACKNOWLEDGED
//     -submit resolution-> RESOLUTION_SUBMITTED -verify(pass)-> VERIFIED -close-> CLOSED
//   verify(fail) re-dispatches to the same handler; return sends it back to
//   the handling level (RETURNED), which dispatches again, escalates or
//   closes; suspend/resume stop and restart the clock; reject and mark
//   duplicate close it at once; a RESOLVED close may be reopened within the
//   catalogue's window.
#include <algorithm>
#include <map>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "domain/aggregates/aggregate.h"

namespace grid::domain {
namespace {

namespace pb = google::protobuf;
using S = IncidentState::Status;

const char* StatusName(S s) {
  switch (s) {
    case S::kNone:
      return "NOT_REPORTED";
    case S::kReported:
      return "REPORTED";
    case S::kAccepted:
      return "ACCEPTED";
    case S::kDispatched:
      return "DISPATCHED";
    case S::kAcknowledged:
      return "ACKNOWLEDGED";
    case S::kReturned:
      return "RETURNED";
    case S::kSuspended:
      return "SUSPENDED";
    case S::kResolutionSubmitted:
      return "RESOLUTION_SUBMITTED";
    case S::kVerified:
      return "VERIFIED";
    case S::kClosed:
      return "CLOSED";
  }
  return "?";
}

// What each step is called in a refusal, and the states it may follow.
struct Step {
  const char* verb;  // "dispatching"
  std::vector<S> from;
};

const Step* StepOf(Event::BodyCase b) {
  static const Step kAccept{"accepting", {S::kReported}};
  static const Step kReject{"rejecting", {S::kReported, S::kAccepted, S::kReturned}};
  static const Step kDuplicate{"marking it a duplicate", {S::kReported, S::kAccepted}};
  static const Step kSelfResolve{"resolving it on the spot", {S::kReported}};
  // The handling level may also take a case back from a handler who does
  // not act on it (or was named wrongly) and send it elsewhere.
  static const Step kDispatch{"dispatching", {S::kAccepted, S::kReturned, S::kDispatched, S::kAcknowledged}};
  static const Step kAcknowledge{"acknowledging", {S::kDispatched}};
  static const Step kReturn{"returning", {S::kDispatched, S::kAcknowledged}};
  static const Step kAskExtension{"asking for an extension", {S::kDispatched, S::kAcknowledged}};
  static const Step kDecideExtension{"deciding an extension",
                                     {S::kDispatched, S::kAcknowledged, S::kSuspended}};
  static const Step kSuspend{"suspending", {S::kDispatched, S::kAcknowledged}};
  static const Step kResume{"resuming", {S::kSuspended}};
  static const Step kEscalate{"escalating", {S::kReported, S::kAccepted, S::kReturned}};
  static const Step kUrge{"urging",
                          {S::kReported, S::kAccepted, S::kDispatched, S::kAcknowledged, S::kReturned,
                           S::kSuspended, S::kResolutionSubmitted, S::kVerified}};
  static const Step kResolve{"submitting a resolution", {S::kAcknowledged}};
  static const Step kVerify{"verifying", {S::kResolutionSubmitted}};
  static const Step kClose{"closing", {S::kReported, S::kAccepted, S::kReturned, S::kVerified}};
  static const Step kRate{"rating", {S::kClosed}};
  static const Step kReopen{"reopening", {S::kClosed}};
  switch (b) {
    case Event::kIncidentAccepted:
      return &kAccept;
    case Event::kIncidentRejected:
      return &kReject;
    case Event::kIncidentMarkedDuplicate:
      return &kDuplicate;
    case Event::kIncidentSelfResolved:
      return &kSelfResolve;
    case Event::kIncidentDispatched:
      return &kDispatch;
    case Event::kIncidentAcknowledged:
      return &kAcknowledge;
    case Event::kIncidentReturned:
      return &kReturn;
    case Event::kIncidentExtensionRequested:
      return &kAskExtension;
    case Event::kIncidentExtensionDecided:
      return &kDecideExtension;
    case Event::kIncidentSuspended:
      return &kSuspend;
    case Event::kIncidentResumed:
      return &kResume;
    case Event::kIncidentEscalated:
      return &kEscalate;
    case Event::kIncidentUrged:
      return &kUrge;
    case Event::kIncidentResolutionSubmitted:
      return &kResolve;
    case Event::kIncidentVerified:
      return &kVerify;
    case Event::kIncidentClosed:
      return &kClose;
    case Event::kIncidentRated:
      return &kRate;
    case Event::kIncidentReopened:
      return &kReopen;
    default:
      return nullptr;
  }
}

// The body message of an incident event (every one has incident_id, and
// all but IncidentReported name who acts).

std::string StringField(const pb::Message& m, const char* name) {
  const auto* f = m.GetDescriptor()->FindFieldByName(name);
  return f == nullptr ? std::string() : m.GetReflection()->GetString(m, f);
}

std::string FieldName(const Event& e, const char* field) {
  return absl::StrCat(Event::descriptor()->FindFieldByNumber(e.body_case())->name(), ".", field);
}

absl::Status CheckMedia(const Event& e, const pb::Message& body, bool required) {
  const auto* f = body.GetDescriptor()->FindFieldByName("media");
  if (f == nullptr) return absl::OkStatus();
  const int n = body.GetReflection()->FieldSize(body, f);
  if (required && n == 0) return Invalid(FieldName(e, "media"), "at least one after-photo");
  for (int i = 0; i < n; ++i) {
    const auto& m =
        static_cast<const grid::v1::MediaRef&>(body.GetReflection()->GetRepeatedMessage(body, f, i));
    if (m.sha256().size() != 64) {
      return Invalid(absl::StrCat(FieldName(e, "media"), "[", i, "].sha256"), "is 64 hex digits");
    }
  }
  return absl::OkStatus();
}

absl::Status CheckReported(const grid::v1::IncidentReported& r) {
  if (auto s = RequireCode("incident_reported.category", r.category(), 64, true); !s.ok()) return s;
  if (!r.urgency().empty()) {
    if (auto s = RequireCode("incident_reported.urgency", r.urgency(), 32, false); !s.ok()) return s;
  }
  if (r.source() == grid::v1::INCIDENT_SOURCE_UNSPECIFIED)
    return Invalid("incident_reported.source", "is required");
  if (auto s = RequireOrgPath("incident_reported.org_path", r.org_path()); !s.ok()) return s;
  const bool person = r.reporter().has_person();
  switch (r.source()) {
    case grid::v1::GRID_PATROL:
      if (auto s = RequireId("incident_reported.reporting_worker_id", r.reporting_worker_id()); !s.ok())
        return s;
      break;
    case grid::v1::CITIZEN:
      if (!person)
        return Invalid("incident_reported.reporter.person", "a citizen's report names the citizen");
      break;
    case grid::v1::HOTLINE_12345:
    case grid::v1::SENSOR:
    case grid::v1::CAMERA:
      if (r.reporter().external_ref().empty()) {
        return Invalid("incident_reported.reporter.external_ref",
                       "is required: the 12345 ticket number, or the sensor's or camera's id");
      }
      break;
    default:
      break;
  }
  if (person) {
    if (r.source() != grid::v1::CITIZEN && r.source() != grid::v1::HOTLINE_12345) {
      return Invalid("incident_reported.reporter.person",
                     "only a citizen's or a hotline report names a person");
    }
    if (auto s = CheckPerson("incident_reported.reporter.person", r.reporter().person()); !s.ok()) return s;
  }
  if (r.reporter().external_ref().size() > 128) {
    return Invalid("incident_reported.reporter.external_ref", "is longer than 128 bytes");
  }
  return absl::OkStatus();
}

absl::Status CheckFields(const Event& e);

// Per-type field rules.
absl::Status CheckBody(const Event& e) {
  if (StepOf(e.body_case()) == nullptr && !e.has_incident_reported())
    return Invalid("type", "is not a catalog event");
  if (absl::Status s = CheckFields(e); !s.ok()) return s;
  // The incident clock runs on the steps' times.
  return RequireTime("occurred_at", e.has_occurred_at());
}

absl::Status CheckFields(const Event& e) {
  const pb::Message& body = *EventBody(e);
  if (e.has_incident_reported()) {
    if (auto s = CheckReported(e.incident_reported()); !s.ok()) return s;
    return CheckMedia(e, body, false);
  }
  // Who acts: a dispatching unit (by_org) or the handler (handler_org), a
  // unit at or above the incident's grid.
  for (const char* field : {"by_org", "handler_org"}) {
    if (body.GetDescriptor()->FindFieldByName(field) == nullptr) continue;
    const std::string v = StringField(body, field);
    if (auto s = RequireOrgPath(FieldName(e, field), v); !s.ok()) return s;
    if (!IsUnder(e.org_path(), v)) {
      return Invalid(FieldName(e, field),
                     absl::StrCat("must be the incident's grid \"", e.org_path(),
                                  "\" or a unit above it; got \"", v.substr(0, 64), "\""));
    }
  }
  if (body.GetDescriptor()->FindFieldByName("department") != nullptr) {
    const std::string d = StringField(body, "department");
    if (!d.empty()) {
      if (auto s = RequireId(FieldName(e, "department"), d); !s.ok()) return s;
    }
  }
  switch (e.body_case()) {
    case Event::kIncidentRejected:
      if (e.incident_rejected().reason() == grid::v1::IncidentRejected::REASON_UNSPECIFIED) {
        return Invalid("incident_rejected.reason", "is required");
      }
      break;
    case Event::kIncidentMarkedDuplicate: {
      const auto& d = e.incident_marked_duplicate();
      if (auto s = RequireId("incident_marked_duplicate.of_incident_id", d.of_incident_id()); !s.ok())
        return s;
      if (d.of_incident_id() == d.incident_id()) {
        return Invalid("incident_marked_duplicate.of_incident_id", "names the incident itself");
      }
      break;
    }
    case Event::kIncidentSelfResolved:
      return CheckMedia(e, body, true);
    case Event::kIncidentDispatched: {
      const auto& d = e.incident_dispatched();
      if (auto s = RequireOrgPath("incident_dispatched.to_org", d.to_org()); !s.ok()) return s;
      if (!d.to_department().empty()) {
        if (auto s = RequireId("incident_dispatched.to_department", d.to_department()); !s.ok()) return s;
      }
      break;
    }
    case Event::kIncidentReturned:
      if (e.incident_returned().reason() == grid::v1::IncidentReturned::REASON_UNSPECIFIED) {
        return Invalid("incident_returned.reason", "is required");
      }
      break;
    case Event::kIncidentExtensionRequested: {
      const uint32_t m = e.incident_extension_requested().extra_minutes();
      if (m == 0 || m > 43200)
        return Invalid("incident_extension_requested.extra_minutes", "must be 1..43200 (30 days)");
      break;
    }
    case Event::kIncidentEscalated:
      return RequireOrgPath("incident_escalated.to_org", e.incident_escalated().to_org());
    case Event::kIncidentResolutionSubmitted:
      return CheckMedia(e, body, true);
    case Event::kIncidentVerified:
      return CheckMedia(e, body, false);
    case Event::kIncidentClosed: {
      const auto o = e.incident_closed().outcome();
      if (o != grid::v1::RESOLVED && o != grid::v1::UNRESOLVABLE && o != grid::v1::WITHDRAWN) {
        return Invalid(
            "incident_closed.outcome",
            "is RESOLVED, UNRESOLVABLE or WITHDRAWN (a rejection or a duplicate closes by its own event)");
      }
      break;
    }
    case Event::kIncidentRated: {
      const uint32_t v = e.incident_rated().satisfaction();
      if (v < 1 || v > 5) return Invalid("incident_rated.satisfaction", "must be 1..5");
      break;
    }
    default:
      break;
  }
  return absl::OkStatus();
}

std::pair<absl::string_view, std::string> Id(const Event& e) {
  if (StepOf(e.body_case()) == nullptr && !e.has_incident_reported()) return {"", ""};
  // "<body>.incident_id" per type, made once (the names are static).
  static const auto* names = [] {
    auto* m = new std::map<int, std::string>;
    const auto* oneof = Event::descriptor()->FindOneofByName("body");
    for (int i = 0; i < oneof->field_count(); ++i) {
      (*m)[oneof->field(i)->number()] = absl::StrCat(oneof->field(i)->name(), ".incident_id");
    }
    return m;
  }();
  return {names->at(e.body_case()), StringField(*EventBody(e), "incident_id")};
}

std::optional<std::string> BodyOrgPath(const Event& e) {
  if (e.has_incident_reported()) return e.incident_reported().org_path();
  return std::nullopt;
}

absl::Status CheckReportedState(const grid::v1::IncidentReported& r, StateLookup& others) {
  if (auto s = ActiveGrid(r.org_path(), others); !s.ok()) return s;
  auto cat = CatalogOf(r.org_path(), others);
  if (!cat.ok()) return cat.status();
  const CatalogState& c = **cat;
  const std::string county(CountyOf(r.org_path()));
  if (c.version == 0) return Refused(absl::StrCat("county ", county, " has no incident catalogue yet"));
  auto it = c.categories.find(r.category());
  if (it == c.categories.end()) {
    return Refused(absl::StrCat("category ", r.category(), " is not in the incident catalogue of ", county,
                                " (version ", c.version, ")"));
  }
  if (it->second.retired) {
    return Refused(absl::StrCat("category ", r.category(), " is retired in version ", c.version,
                                " of the incident catalogue"));
  }
  if (!r.urgency().empty() && !c.tiers.contains(r.urgency())) {
    return Refused(
        absl::StrCat("urgency ", r.urgency(), " is not a tier of the incident catalogue of ", county));
  }
  return absl::OkStatus();
}

absl::Status CheckIncident(const IncidentState& st, const Event& e, StateLookup& others) {
  const std::string id = StringField(*EventBody(e), "incident_id");
  if (e.has_incident_reported()) {
    if (st.status != S::kNone) return Refused(absl::StrCat("incident ", id, " is already reported"));
    return CheckReportedState(e.incident_reported(), others);
  }
  if (st.status == S::kNone) return Refused(absl::StrCat("incident ", id, " was never reported"));
  if (e.org_path() != st.org_path) {
    return Refused(absl::StrCat("org_path must be incident ", id, "'s grid ", st.org_path));
  }
  const Step* step = StepOf(e.body_case());
  if (std::find(step->from.begin(), step->from.end(), st.status) == step->from.end()) {
    std::string hint;
    const auto allowed = [&](S s) {
      return std::find(step->from.begin(), step->from.end(), s) != step->from.end();
    };
    if (st.status == S::kSuspended && allowed(st.before_suspension)) {
      hint = absl::StrCat("resume it before ", step->verb);
    } else if (st.status == S::kClosed) {
      hint = absl::StrCat("it was closed ", grid::v1::IncidentOutcome_Name(st.outcome), "; ",
                          st.outcome == grid::v1::RESOLVED ? "only a rating or a reopening follows a close"
                          : st.outcome == grid::v1::UNRESOLVABLE ? "only a rating follows"
                                                                 : "nothing follows");
    } else {
      std::vector<std::string> names;
      for (S s : step->from) names.emplace_back(StatusName(s));
      hint = absl::StrCat(step->verb, " needs it ", absl::StrJoin(names, " or "));
    }
    return Refused(absl::StrCat("incident ", id, " is ", StatusName(st.status), "; ", hint));
  }
  const pb::Message& body = *EventBody(e);
  const std::string by = StringField(body, "by_org");
  const auto only_handling_level = [&]() -> absl::Status {
    if (by == st.handling_org) return absl::OkStatus();
    return Refused(absl::StrCat("incident ", id, " is handled at ", st.handling_org, "; ", by,
                                " may not take ", step->verb, " on it"));
  };
  const auto only_handler = [&]() -> absl::Status {
    const std::string org = StringField(body, "handler_org");
    const std::string dept = StringField(body, "department");
    if (org == st.handler_org && dept == st.department) return absl::OkStatus();
    const auto unit = [](const std::string& o, const std::string& d) {
      return d.empty() ? o : absl::StrCat(o, " ", d);
    };
    return Refused(absl::StrCat("incident ", id, " is dispatched to ", unit(st.handler_org, st.department),
                                ", not ", unit(org, dept)));
  };
  switch (e.body_case()) {
    case Event::kIncidentAccepted:
    case Event::kIncidentRejected:
    case Event::kIncidentDispatched:
    case Event::kIncidentSuspended:
    case Event::kIncidentResumed:
      return only_handling_level();
    case Event::kIncidentMarkedDuplicate: {
      if (auto s = only_handling_level(); !s.ok()) return s;
      const std::string& of = e.incident_marked_duplicate().of_incident_id();
      auto other = others.Get(StreamFor("incident", of));
      if (!other.ok()) return other.status();
      if (StateOf<IncidentState>(**other).status == S::kNone) {
        return Refused(absl::StrCat("incident ", of, " (the original) was never reported"));
      }
      return absl::OkStatus();
    }
    case Event::kIncidentSelfResolved:
      if (by != st.org_path) {
        return Refused(absl::StrCat("only the incident's own grid ", st.org_path, " resolves incident ", id,
                                    " on the spot"));
      }
      return absl::OkStatus();
    case Event::kIncidentAcknowledged:
    case Event::kIncidentReturned:
    case Event::kIncidentResolutionSubmitted:
      return only_handler();
    case Event::kIncidentExtensionRequested:
      if (auto s = only_handler(); !s.ok()) return s;
      if (st.extension_pending) {
        return Refused(
            absl::StrCat("incident ", id, " already has an extension request waiting for a decision"));
      }
      return absl::OkStatus();
    case Event::kIncidentExtensionDecided:
      if (auto s = only_handling_level(); !s.ok()) return s;
      if (!st.extension_pending)
        return Refused(absl::StrCat("incident ", id, " has no extension request to decide"));
      if (e.incident_extension_decided().extra_minutes() > st.extension_asked) {
        return Refused(
            absl::StrCat("the handler asked for ", st.extension_asked, " minutes; no more can be granted"));
      }
      return absl::OkStatus();
    case Event::kIncidentEscalated: {
      if (auto s = only_handling_level(); !s.ok()) return s;
      const std::string& to = e.incident_escalated().to_org();
      if (to == st.handling_org || !IsUnder(st.handling_org, to)) {
        return Refused(
            absl::StrCat("escalation goes up: ", to, " is not above the handling level ", st.handling_org));
      }
      return absl::OkStatus();
    }
    case Event::kIncidentUrged:
      if (!IsUnder(st.handling_org, by)) {
        return Refused(absl::StrCat("incident ", id, " is handled at ", st.handling_org,
                                    "; urging comes from that level or one above it, not ", by));
      }
      return absl::OkStatus();
    case Event::kIncidentVerified:
      if (st.self_resolved) {
        if (by != st.handling_org || by == st.org_path) {
          return Refused(absl::StrCat("incident ", id,
                                      " was resolved on the spot by its grid; the handling level ",
                                      st.handling_org, " verifies it"));
        }
      } else if (by != st.org_path && by != st.handling_org) {
        return Refused(absl::StrCat("incident ", id, " is verified by its grid ", st.org_path,
                                    " or its handling level ", st.handling_org, ", not ", by));
      }
      return absl::OkStatus();
    case Event::kIncidentClosed: {
      if (auto s = only_handling_level(); !s.ok()) return s;
      const bool resolved = e.incident_closed().outcome() == grid::v1::RESOLVED;
      if (resolved && st.status != S::kVerified) {
        return Refused(absl::StrCat("incident ", id, " is ", StatusName(st.status),
                                    "; a RESOLVED close follows a passed verification"));
      }
      if (!resolved && st.status == S::kVerified) {
        return Refused(absl::StrCat("incident ", id, " passed verification; close it RESOLVED"));
      }
      return absl::OkStatus();
    }
    case Event::kIncidentRated:
      if (by != st.handling_org && by != st.org_path) {
        return Refused(absl::StrCat("incident ", id, " is rated by its handling level ", st.handling_org,
                                    " or its grid ", st.org_path));
      }
      if (st.outcome != grid::v1::RESOLVED && st.outcome != grid::v1::UNRESOLVABLE) {
        return Refused(absl::StrCat("incident ", id, " was closed ",
                                    grid::v1::IncidentOutcome_Name(st.outcome),
                                    "; only a RESOLVED or UNRESOLVABLE case is rated"));
      }
      if (st.rated) return Refused(absl::StrCat("incident ", id, " is already rated"));
      return absl::OkStatus();
    case Event::kIncidentReopened: {
      if (auto s = only_handling_level(); !s.ok()) return s;
      if (st.outcome != grid::v1::RESOLVED) {
        return Refused(absl::StrCat("incident ", id, " was closed ",
                                    grid::v1::IncidentOutcome_Name(st.outcome),
                                    "; only a RESOLVED case is reopened"));
      }
      auto cat = CatalogOf(st.org_path, others);
      if (!cat.ok()) return cat.status();
      const absl::Duration window = absl::Hours((*cat)->reopen_window_hours);
      if ((*cat)->reopen_window_hours == 0) {
        return Refused(absl::StrCat("the incident catalogue allows no reopening; report a new incident"));
      }
      if (FromProtoTime(e.occurred_at()) > st.closed_at + window) {
        return Refused(absl::StrCat("incident ", id, " was closed at ", TimeText(st.closed_at),
                                    "; it may be reopened for ", (*cat)->reopen_window_hours,
                                    " hours after closing; report a new incident"));
      }
      return absl::OkStatus();
    }
    default:
      return absl::OkStatus();
  }
}

absl::Status CheckState(const AggregateState& state, const Event& e, StateLookup& others) {
  return CheckIncident(StateOf<IncidentState>(state), e, others);
}

void Fold(AggregateState* state, const Event& e) {
  auto& st = MutableState<IncidentState>(state);
  const auto close = [&](grid::v1::IncidentOutcome outcome) {
    st.status = S::kClosed;
    st.outcome = outcome;
    st.closed_at = FromProtoTime(e.occurred_at());
    st.rated = false;
    st.extension_pending = false;
  };
  switch (e.body_case()) {
    case Event::kIncidentReported: {
      const auto& r = e.incident_reported();
      st.status = S::kReported;
      st.org_path = r.org_path();
      // What the village can solve stays in the village: it is the first
      // level that accepts and dispatches.
      st.handling_org = IncidentHandlingLevel(r.org_path());
      st.source = r.source();
      break;
    }
    case Event::kIncidentAccepted:
      st.status = S::kAccepted;
      break;
    case Event::kIncidentRejected:
    case Event::kIncidentMarkedDuplicate:
    case Event::kIncidentClosed:
      close(ClosingOutcome(e));
      break;
    case Event::kIncidentSelfResolved:
      st.status = S::kResolutionSubmitted;
      st.self_resolved = true;
      st.handler_org = st.org_path;
      st.department.clear();
      break;
    case Event::kIncidentDispatched:
      st.status = S::kDispatched;
      st.handler_org = e.incident_dispatched().to_org();
      st.department = e.incident_dispatched().to_department();
      st.self_resolved = false;
      st.extension_pending = false;
      break;
    case Event::kIncidentAcknowledged:
      st.status = S::kAcknowledged;
      break;
    case Event::kIncidentReturned:
      st.status = S::kReturned;
      st.extension_pending = false;
      break;
    case Event::kIncidentExtensionRequested:
      st.extension_pending = true;
      st.extension_asked = e.incident_extension_requested().extra_minutes();
      break;
    case Event::kIncidentExtensionDecided:
      st.extension_pending = false;
      break;
    case Event::kIncidentSuspended:
      st.before_suspension = st.status;
      st.status = S::kSuspended;
      break;
    case Event::kIncidentResumed:
      st.status = st.before_suspension;
      break;
    case Event::kIncidentEscalated:
      st.handling_org = e.incident_escalated().to_org();
      st.status = S::kAccepted;
      break;
    case Event::kIncidentResolutionSubmitted:
      st.status = S::kResolutionSubmitted;
      st.extension_pending = false;  // the resolution answers it
      break;
    case Event::kIncidentVerified:
      if (e.incident_verified().passed()) {
        st.status = S::kVerified;
      } else {
        // A failed fix goes back to whoever made it; one made on the spot
        // goes back to the handling level, which dispatches it.
        st.status = st.self_resolved ? S::kAccepted : S::kDispatched;
        st.self_resolved = false;
        st.extension_pending = false;
      }
      break;
    case Event::kIncidentRated:
      st.rated = true;
      break;
    case Event::kIncidentReopened:
      st.status = S::kAccepted;
      st.outcome = grid::v1::INCIDENT_OUTCOME_UNSPECIFIED;
      st.rated = false;
      break;
    default:
      break;
  }
}

absl::string_view WhereNow(const AggregateState& state) {
  const auto* i = std::get_if<IncidentState>(&state.agg);
  return i != nullptr && i->status != S::kNone ? absl::string_view(i->org_path) : absl::string_view();
}

}  // namespace

std::string IncidentHandlingLevel(absl::string_view grid) {
  // county/town/village/grid...: the village; a grid higher up: its parent.
  size_t pos = 0;
  for (int i = 0; i < 3; ++i) {
    pos = grid.find('/', i == 0 ? 0 : pos + 1);
    if (pos == absl::string_view::npos) return std::string(ParentOf(grid));
  }
  return std::string(grid.substr(0, pos));
}

grid::v1::IncidentOutcome ClosingOutcome(const Event& e) {
  switch (e.body_case()) {
    case Event::kIncidentRejected:
      return e.incident_rejected().reason() == grid::v1::IncidentRejected::NOT_RESPONSIBLE
                 ? grid::v1::NOT_RESPONSIBLE
                 : grid::v1::INVALID;
    case Event::kIncidentMarkedDuplicate:
      return grid::v1::DUPLICATE;
    case Event::kIncidentClosed:
      return e.incident_closed().outcome();
    default:
      return grid::v1::INCIDENT_OUTCOME_UNSPECIFIED;
  }
}

const AggregateRules& IncidentRules() {
  static const AggregateRules kRules{
      .name = "incident",
      .types = {"IncidentReported", "IncidentAccepted", "IncidentRejected", "IncidentMarkedDuplicate",
                "IncidentSelfResolved", "IncidentDispatched", "IncidentAcknowledged", "IncidentReturned",
                "IncidentExtensionRequested", "IncidentExtensionDecided", "IncidentSuspended",
                "IncidentResumed", "IncidentEscalated", "IncidentUrged", "IncidentResolutionSubmitted",
                "IncidentVerified", "IncidentClosed", "IncidentRated", "IncidentReopened"},
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
