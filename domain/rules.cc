// The rules every event type shares (the envelope, enums, org fields, the
// stream's order in time, the caller's scope), and the dispatch to each
// aggregate's own rules (domain/aggregates/).
#include "domain/rules.h"

#include <algorithm>
#include <functional>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "domain/aggregates/aggregate.h"
#include "domain/field_index.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/reflection.h"

namespace grid::domain {
namespace {

namespace pb = google::protobuf;

constexpr char kQuotedClass[] = "grid.v1/quoted_class";
constexpr char kPlainMessage[] = "grid.v1/plain_message";

bool IsSegmentChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

const std::vector<const AggregateRules*>& Aggregates() {
  static const auto* all = new std::vector<const AggregateRules*>{
      &OrgRules(),  &SanitationRules(), &RectificationRules(), &HouseholdRules(), &ProjectRules(),
      &FormRules(), &CatalogRules(),    &IncidentRules(),      &LedgerRules(),    &AssessmentRules()};
  return *all;
}

// The rules of the aggregate an event type belongs to; null if none.
const AggregateRules* RulesOf(absl::string_view type) {
  static const auto* by_type = [] {
    // Keyed by the rules' own names (static): a lookup allocates nothing,
    // and it runs for every event appended and folded.
    auto* m = new absl::flat_hash_map<absl::string_view, const AggregateRules*>;
    for (const AggregateRules* a : Aggregates()) {
      for (absl::string_view t : a->types) (*m)[t] = a;
    }
    return m;
  }();
  auto it = by_type->find(type);
  return it == by_type->end() ? nullptr : it->second;
}

}  // namespace

// ---- helpers of the rules (aggregate.h) ------------------------------------

absl::Status Invalid(absl::string_view field, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", what));
}

absl::Status Refused(absl::string_view what) { return absl::FailedPreconditionError(what); }

absl::Status RefusedQuoting(grid::v1::DataClass cls, absl::string_view what, absl::string_view plain) {
  absl::Status s = Refused(what);
  s.SetPayload(kQuotedClass, absl::Cord(absl::StrCat(static_cast<int>(cls))));
  s.SetPayload(kPlainMessage, absl::Cord(plain));
  return s;
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

absl::Status RequireCounty(absl::string_view field, const std::string& v) {
  if (auto s = RequireOrgPath(field, v); !s.ok()) return s;
  return Depth(v) == 1 ? absl::OkStatus() : Invalid(field, "is a county code");
}

absl::Status RequireTime(absl::string_view field, bool has) {
  return has ? absl::OkStatus() : Invalid(field, "is required");
}

namespace {

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
void ForEachOrgFieldIn(
    const pb::Message& m, WalkPath* path,
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

void ForEachOrgField(
    const pb::Message& m,
    const std::function<void(grid::v1::OrgRole, const WalkPath&, const std::string&)>& visit) {
  WalkPath path;
  ForEachOrgFieldIn(m, &path, visit);
}

}  // namespace

absl::Status CheckPerson(absl::string_view field, const grid::v1::PersonRef& p) {
  if (auto s = RequireId(absl::StrCat(field, ".person_token"), p.person_token()); !s.ok()) return s;
  if (!p.id_number().empty()) {
    return Invalid(absl::StrCat(field, ".id_number"),
                   "must not be sent in the clear; join on person_token (a keyed HMAC of the ID)");
  }
  return absl::OkStatus();
}

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

absl::StatusOr<const CatalogState*> CatalogOf(absl::string_view org_path, StateLookup& others) {
  auto st = others.Get(StreamFor("catalog", CountyOf(org_path)));
  if (!st.ok()) return st.status();
  const auto* c = std::get_if<CatalogState>(&(*st)->agg);
  static const CatalogState kEmpty;
  return c != nullptr ? c : &kEmpty;
}

absl::Status RequireCode(absl::string_view field, const std::string& v, size_t max, bool dotted) {
  if (v.empty()) return Invalid(field, "is required");
  if (v.size() > max) return Invalid(field, absl::StrCat("is longer than ", max, " bytes"));
  char prev = '.';
  for (char c : v) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || (dotted && c == '.');
    if (!ok || (c == '.' && prev == '.')) {
      return Invalid(field, dotted
                                ? "must be upper-case segments joined by \".\", like \"ENV.GARBAGE.EXPOSED\""
                                : "may hold only [A-Z0-9_]");
    }
    prev = c;
  }
  if (prev == '.') return Invalid(field, "must not end with \".\"");
  return absl::OkStatus();
}

// ---- public --------------------------------------------------------------------

absl::string_view AggregateOf(absl::string_view type) {
  const AggregateRules* rules = RulesOf(type);
  return rules == nullptr ? absl::string_view() : rules->name;
}

std::string StreamFor(absl::string_view aggregate, absl::string_view id) {
  return absl::StrCat(aggregate, "/", id);
}

absl::string_view CountyOf(absl::string_view org_path) { return org_path.substr(0, org_path.find('/')); }

absl::string_view ParentOf(absl::string_view org_path) {
  const size_t slash = org_path.rfind('/');
  return slash == absl::string_view::npos ? absl::string_view() : org_path.substr(0, slash);
}

const pb::Message* EventBody(const Event& e) {
  static const auto* oneof = Event::descriptor()->FindOneofByName("body");
  const pb::Reflection* r = e.GetReflection();
  const pb::FieldDescriptor* f = r->GetOneofFieldDescriptor(e, oneof);
  return f == nullptr ? nullptr : &r->GetMessage(e, f);
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

std::string TimeText(absl::Time t) { return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone()); }

absl::Status CheckShape(const std::string& stream, const Event& e) {
  const AggregateRules* rules = RulesOf(e.type());
  if (rules == nullptr) return Invalid("type", absl::StrCat("'", e.type(), "' is not a catalog event"));
  if (auto s = CheckEnums(e); !s.ok()) return s;
  if (auto s = RequireOrgPath("org_path", e.org_path()); !s.ok()) return s;
  if (auto s = rules->check_body(e); !s.ok()) return s;
  const auto [id_field, id] = rules->id(e);
  if (!rules->id_is_org_path) {
    if (auto s = RequireId(id_field, id); !s.ok()) return s;
  }
  const std::string want = StreamFor(rules->name, id);
  if (stream != want) {
    return Invalid("stream", absl::StrCat("a ", e.type(), " belongs in stream \"", want, "\" (from ",
                                          id_field, "), not \"", stream.substr(0, 64), "\""));
  }
  if (auto body = rules->body_org_path ? rules->body_org_path(e) : std::nullopt;
      body && *body != e.org_path()) {
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
  const AggregateRules* rules = RulesOf(e.type());
  if (rules == nullptr) return Invalid("type", absl::StrCat("'", e.type(), "' is not a catalog event"));
  return rules->check(state, e, others);
}

void Apply(AggregateState* state, const Event& e) {
  ++state->events;
  if (e.has_occurred_at()) {
    const absl::Time t = FromProtoTime(e.occurred_at());
    if (!state->last_occurred_at || t > *state->last_occurred_at) state->last_occurred_at = t;
  }
  if (const AggregateRules* rules = RulesOf(e.type()); rules != nullptr) rules->apply(state, e);
}

std::vector<std::string> TouchedOrgPaths(const Event& e) {
  std::vector<std::string> out;
  ForEachOrgField(e, [&](grid::v1::OrgRole role, const WalkPath&, const std::string& v) {
    if (role == grid::v1::ORG_TOUCHED && !v.empty() && std::find(out.begin(), out.end(), v) == out.end()) {
      out.push_back(v);
    }
  });
  return out;
}

absl::string_view CurrentOrgPath(const AggregateState& state) {
  for (const AggregateRules* a : Aggregates()) {
    if (a->current_org_path == nullptr) continue;
    if (absl::string_view here = a->current_org_path(state); !here.empty()) return here;
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

absl::Status CheckScope(const storage::AppendScope& scope, const AggregateState& own, const Event& e,
                        StateLookup& others) {
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
      return absl::PermissionDeniedError(absl::StrCat("org path '", path,
                                                      "' is outside the appender's jurisdiction (",
                                                      absl::StrJoin(scope.jurisdiction, ", "), ")"));
    }
    auto ok = writable(path);
    if (!ok.ok()) return ok.status();
    if (!*ok) {
      return absl::PermissionDeniedError(
          absl::StrCat("worker ", scope.worker, " is not assigned to grid '", path,
                       "' (org data); a grid worker appends only for its own grids"));
    }
  }
  return absl::OkStatus();
}

}  // namespace grid::domain
