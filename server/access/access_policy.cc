#include "server/access/access_policy.h"

#include <algorithm>
#include <optional>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "domain/rules.h"
#include "google/protobuf/util/message_differencer.h"
#include "server/access/redact.h"

namespace grid::server {
namespace {

using grid::v1::Role;

constexpr uint32_t Bit(Role r) { return 1u << static_cast<int>(r); }

constexpr uint32_t kWriters =
    Bit(grid::v1::GRID_WORKER) | Bit(grid::v1::VILLAGE_CADRE) | Bit(grid::v1::DEPARTMENT);
constexpr uint32_t kReaders = kWriters | Bit(grid::v1::LEADER) | Bit(grid::v1::AUDITOR);
constexpr uint32_t kEveryone = kReaders | Bit(grid::v1::ADMIN);

// Roles that append nothing, whatever their policy says.
bool Appends(Role r) { return (kWriters & Bit(r)) != 0; }

absl::Status Denied(absl::string_view why) { return absl::PermissionDeniedError(why); }

}  // namespace

const std::vector<RpcRule>& RpcRules() {
  static const std::vector<RpcRule> kRules = {
      {Rpc::kAppend, "/grid.v1.Log/Append", kWriters, true, false, false},
      {Rpc::kRead, "/grid.v1.Log/Read", kReaders, false, false, true},
      {Rpc::kSubscribe, "/grid.v1.Log/Subscribe", kReaders, false, false, true},
      {Rpc::kGetStatus, "/grid.v1.Log/GetStatus", kEveryone, false, false, false},
      {Rpc::kListCheckpoints, "/grid.v1.Log/ListCheckpoints", kEveryone, false, false, false},
      {Rpc::kGetProjection, "/grid.v1.Projections/GetProjection", kReaders, false, false, false},
      {Rpc::kSubscribeProjection, "/grid.v1.Projections/SubscribeProjection", kReaders, false, false, true},
      {Rpc::kListProjections, "/grid.v1.Projections/ListProjections", kEveryone, false, false, false},
      {Rpc::kRebuildProjection, "/grid.v1.Projections/RebuildProjection", Bit(grid::v1::ADMIN), true, true,
       false},
      // Those who submit forms; the rows it reads are served like GetProjection's.
      {Rpc::kPrefillForm, "/grid.v1.Projections/PrefillForm", kWriters, false, false, false},
      {Rpc::kBackup, "/grid.v1.Admin/Backup", Bit(grid::v1::ADMIN), true, true, true, true},
      {Rpc::kReadAudit, "/grid.v1.Admin/ReadAudit", Bit(grid::v1::AUDITOR), false, false, true},
      // The node that received the append audited its caller's intent; the
      // writer records the forwarded call after it.
      {Rpc::kForwardAppend, "/grid.cluster.v1.Node/Append", Bit(grid::v1::CLUSTER_NODE), false, false, false},
      // The whole log, stored bytes, to a peer that is behind: a replica of
      // the same log, trusted with all of it. Its intent is recorded first.
      {Rpc::kReadLog, "/grid.cluster.v1.Node/ReadLog", Bit(grid::v1::CLUSTER_NODE), true, false, true},
  };
  return kRules;
}

const RpcRule& RuleOf(Rpc rpc) {
  for (const auto& r : RpcRules()) {
    if (r.rpc == rpc) return r;
  }
  std::abort();  // every Rpc has a row (access_matrix_test)
}

const RpcRule* FindRpcRule(std::string_view method) {
  for (const auto& r : RpcRules()) {
    if (method == r.method) return &r;
  }
  return nullptr;
}

std::string_view MethodLabel(std::string_view method) {
  static constexpr std::string_view kOthers[] = {
      "/grpc.health.v1.Health/Check", "/grpc.health.v1.Health/Watch",
      "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", kDashboardSignIn, kDashboardSignOut};
  if (const RpcRule* r = FindRpcRule(method); r != nullptr) return r->method;
  for (std::string_view m : kOthers) {
    if (method == m) return m;
  }
  return "unknown";
}

std::string RoleName(Role role) { return grid::v1::Role_Name(role); }

std::shared_ptr<const Principal> Principal::Dev(std::string name) {
  grid::v1::PrincipalPolicy p;
  p.set_principal(std::move(name));
  p.set_clearance(grid::v1::C4_RESTRICTED);
  p.add_jurisdiction("");
  return std::shared_ptr<const Principal>(new Principal(std::move(p), true));
}

Principal::Principal(grid::v1::PrincipalPolicy p) : Principal(std::move(p), false) {}

Principal::Principal(grid::v1::PrincipalPolicy p, bool dev) : p_(std::move(p)), dev_(dev) {
  everywhere_ = std::find(p_.jurisdiction().begin(), p_.jurisdiction().end(), "") != p_.jurisdiction().end();
  // The part a principal plays in a case, for fields whose audience the
  // classes alone cannot say (options.proto, Audience).
  auto appends = [&](std::string_view type) {
    return std::find(p_.append_types().begin(), p_.append_types().end(), type) != p_.append_types().end();
  };
  audiences_ = 1u << grid::v1::AUDIENCE_ANY;
  if (appends("IncidentDispatched")) audiences_ |= 1u << grid::v1::DISPATCHERS;
  if (appends("AssessmentPeriodClosed"))
    audiences_ |= (1u << grid::v1::ASSESSORS) | (1u << grid::v1::ASSESSED);
  if (dev_ || role() == grid::v1::AUDITOR) audiences_ = kEveryAudience;
  if (!dev_) {
    auto scope = std::make_shared<storage::AppendScope>();
    scope->jurisdiction.assign(p_.jurisdiction().begin(), p_.jurisdiction().end());
    if (role() == grid::v1::GRID_WORKER) scope->worker = p_.worker_id();
    scope->clearance = clearance();
    scope->audiences = audiences_;
    scope->same_as_served = SameAsServed(clearance(), audiences_);
    scope_ = std::move(scope);
  }
}

std::string Principal::RoleName() const { return dev_ ? "dev" : grid::server::RoleName(role()); }

bool Principal::MayCall(Rpc rpc) const { return dev_ || (RuleOf(rpc).roles & Bit(role())) != 0; }

bool Principal::Sees(std::string_view org_path) const {
  if (everywhere_) return true;
  if (org_path.empty()) return false;
  for (const auto& j : p_.jurisdiction()) {
    if (domain::IsUnder(absl::string_view(org_path.data(), org_path.size()), j)) return true;
  }
  return false;
}

absl::Status Principal::MayAppend(const grid::v1::Event& e) const {
  if (dev_) return absl::OkStatus();
  if (!Appends(role())) return Denied(absl::StrCat(RoleName(), " principals append nothing"));
  if (std::find(p_.append_types().begin(), p_.append_types().end(), e.type()) == p_.append_types().end()) {
    return Denied(absl::StrCat(name(), " may not append ", e.type(), " (it may append: ",
                               p_.append_types().empty() ? "nothing" : absl::StrJoin(p_.append_types(), ", "),
                               ")"));
  }
  for (const std::string& path : domain::TouchedOrgPaths(e)) {
    if (!Sees(path)) {
      return Denied(absl::StrCat("org path '", path, "' is outside the jurisdiction of ", name(), " (",
                                 absl::StrJoin(p_.jurisdiction(), ", "), ")"));
    }
  }
  if (e.org_path().empty() && !everywhere_) {
    return Denied(absl::StrCat("an event without an org_path is outside the jurisdiction of ", name()));
  }
  if (e.has_project_stage_decided()) {
    const auto& d = e.project_stage_decided();
    if (std::find(p_.departments().begin(), p_.departments().end(), d.department()) ==
        p_.departments().end()) {
      return Denied(absl::StrCat(name(), " does not decide as department '", d.department(), "'"));
    }
    if (std::find(p_.decides_stages().begin(), p_.decides_stages().end(), d.stage()) ==
        p_.decides_stages().end()) {
      return Denied(absl::StrCat(name(), " does not decide stage ", grid::v1::Stage_Name(d.stage())));
    }
  }
  if (absl::Status s = MayActAsDepartment(e); !s.ok()) return s;
  if (e.has_cadre_score_recorded() && !worker_id().empty() &&
      e.cadre_score_recorded().cadre_id() == worker_id()) {
    return Denied(absl::StrCat(name(), " acts for cadre ", worker_id(), ", who is not scored by themselves"));
  }
  if (role() == grid::v1::GRID_WORKER) {
    // Any worker named in the body must be the principal's own worker.
    if (const google::protobuf::Message* b = domain::EventBody(e); b != nullptr) {
      const auto& body = *b;
      const auto* d = body.GetDescriptor();
      for (int i = 0; i < d->field_count(); ++i) {
        const auto* f = d->field(i);
        if (f->cpp_type() != google::protobuf::FieldDescriptor::CPPTYPE_STRING || f->is_repeated() ||
            !absl::EndsWith(f->name(), "worker_id")) {
          continue;
        }
        const std::string v = body.GetReflection()->GetString(body, f);
        if (!v.empty() && v != worker_id()) {
          return Denied(absl::StrCat(name(), " acts for worker ", worker_id(), "; ", f->name(), " '", v,
                                     "' is another worker"));
        }
      }
    }
  }
  return absl::OkStatus();
}

absl::Status Principal::MayActAsDepartment(const grid::v1::Event& e) const {
  const google::protobuf::Message* b = domain::EventBody(e);
  if (b == nullptr) return absl::OkStatus();
  const auto& body = *b;
  const auto* d = body.GetDescriptor();
  for (int i = 0; i < d->field_count(); ++i) {
    const auto* f = d->field(i);
    if (!f->options().GetExtension(grid::v1::acting_department) || f->is_repeated()) continue;
    const std::string& dept = body.GetReflection()->GetString(body, f);
    if (dept.empty()) {
      // A unit acts for itself (a village committee, a town office); a
      // principal that is departments acts only as one of them.
      if (role() == grid::v1::DEPARTMENT && !p_.departments().empty()) {
        return Denied(absl::StrCat(name(), " acts as its departments (",
                                   absl::StrJoin(p_.departments(), ", "), "); ", f->name(),
                                   " must name one"));
      }
      continue;
    }
    if (role() != grid::v1::DEPARTMENT) {
      return Denied(absl::StrCat(name(), " is a ", RoleName(), " and acts as no department; ", f->name(),
                                 " '", dept, "' is for that department's principals"));
    }
    if (std::find(p_.departments().begin(), p_.departments().end(), dept) == p_.departments().end()) {
      return Denied(absl::StrCat(name(), " does not act as department '", dept, "' (", f->name(), ")"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<const PolicySet>> PolicySet::Build(const grid::v1::Policy& policy) {
  auto set = std::make_shared<PolicySet>();
  const auto& known = domain::KnownEventTypes();
  for (int i = 0; i < policy.principals_size(); ++i) {
    const auto& p = policy.principals(i);
    auto bad = [&](const std::string& why) {
      return absl::InvalidArgumentError(
          absl::StrCat("principals[", i, "] (", p.principal().empty() ? "?" : p.principal(), "): ", why));
    };
    if (p.principal().empty()) return bad("principal is empty");
    if (set->by_name_.contains(p.principal())) return bad("principal appears twice");
    if (p.role() == grid::v1::ROLE_UNSPECIFIED) {
      return bad(
          "role is required: GRID_WORKER, VILLAGE_CADRE, DEPARTMENT, LEADER, AUDITOR, ADMIN or CLUSTER_NODE");
    }
    if (p.role() == grid::v1::CLUSTER_NODE) {
      // It acts for the callers whose appends it forwards, never as itself.
      if (!p.jurisdiction().empty() || !p.append_types().empty() || !p.worker_id().empty() ||
          !p.departments().empty() || !p.decides_stages().empty() ||
          p.clearance() != grid::v1::DATA_CLASS_UNSPECIFIED) {
        return bad(
            "a CLUSTER_NODE has no jurisdiction, append_types, worker_id, departments or clearance of "
            "its own: the appends it forwards keep their callers' rights");
      }
      set->by_name_[p.principal()] = std::make_shared<Principal>(p);
      continue;
    }
    if (p.jurisdiction().empty()) {
      return bad("jurisdiction is required: org-path prefixes, or \"\" for the whole network");
    }
    for (const auto& j : p.jurisdiction()) {
      if (!j.empty() && !domain::IsOrgPath(j))
        return bad(absl::StrCat("jurisdiction '", j, "' is not an org path"));
    }
    if (!Appends(p.role()) && !p.append_types().empty()) {
      return bad(absl::StrCat(RoleName(p.role()), " principals append nothing; remove append_types"));
    }
    for (const auto& t : p.append_types()) {
      if (std::find(known.begin(), known.end(), t) == known.end()) {
        return bad(absl::StrCat("append_types: unknown event type '", t, "'"));
      }
    }
    if (p.role() == grid::v1::GRID_WORKER &&
        std::find(p.jurisdiction().begin(), p.jurisdiction().end(), "") != p.jurisdiction().end()) {
      return bad("a GRID_WORKER's jurisdiction names its county or town, not \"\" (the whole network)");
    }
    if (p.role() == grid::v1::GRID_WORKER && p.worker_id().empty())
      return bad("a GRID_WORKER needs worker_id");
    if (p.role() != grid::v1::GRID_WORKER && p.role() != grid::v1::VILLAGE_CADRE && !p.worker_id().empty()) {
      return bad("worker_id is for GRID_WORKER and VILLAGE_CADRE principals only");
    }
    if (p.role() != grid::v1::DEPARTMENT && (!p.departments().empty() || !p.decides_stages().empty())) {
      return bad("departments and decides_stages are for DEPARTMENT principals only");
    }
    if (!grid::v1::DataClass_IsValid(p.clearance())) return bad("clearance is not a data class");
    set->by_name_[p.principal()] = std::make_shared<Principal>(p);
  }
  return std::shared_ptr<const PolicySet>(std::move(set));
}

std::shared_ptr<const Principal> PolicySet::Find(std::string_view principal) const {
  auto it = by_name_.find(absl::string_view(principal.data(), principal.size()));
  return it == by_name_.end() ? nullptr : it->second;
}

namespace {

// What ViewEvent needs of an event type's body, worked out once for the
// whole catalog (no lock on the delivery path).
struct BodyInfo {
  const google::protobuf::Descriptor* type = nullptr;
  grid::v1::DataClass max_class = grid::v1::C4_RESTRICTED;
  bool restricts_audience = false;
};

// Event type name -> its body's info; null for a type not in the catalog.
const BodyInfo* BodyOf(const std::string& type) {
  static const auto* kTypes = [] {
    auto* m = new absl::flat_hash_map<std::string, BodyInfo>();
    const auto* oneof = grid::v1::Event::descriptor()->FindOneofByName("body");
    for (int i = 0; i < oneof->field_count(); ++i) {
      const auto* d = oneof->field(i)->message_type();
      (*m)[d->name()] = {d, MaxClass(d), RestrictsAudience(d)};
    }
    return m;
  }();
  auto it = kTypes->find(type);
  return it == kTypes->end() ? nullptr : &it->second;
}

// An event as a caller of this clearance and these audiences is served it:
// fields no schema defines dropped, a count-only caller's body cleared, the
// rest redacted. True if anything changed.
bool RedactEvent(grid::v1::Event* e, grid::v1::DataClass clearance, uint32_t audiences) {
  bool changed = false;
  if (FindUnknownField(*e)) {
    e->DiscardUnknownFields();
    changed = true;
  }
  // Count-only callers learn that an event of a type happened where and
  // when, never what it says: counts come from projections, where small ones
  // are withheld.
  if (clearance <= grid::v1::C0_AGGREGATE && e->body_case() != grid::v1::Event::BODY_NOT_SET) {
    e->clear_body();
    changed = true;
  }
  return Redact(e, clearance, nullptr, audiences) || changed;
}

}  // namespace

bool Reader::Sees(std::string_view org_path) const {
  if (!p_->Sees(org_path)) return false;
  if (grids_ == nullptr) return true;
  for (const auto& g : *grids_) {
    if (domain::IsUnder(absl::string_view(org_path.data(), org_path.size()), g)) return true;
  }
  return false;
}

bool ServedAsStored(const Principal& p, const storage::LogRecord& r, storage::Position checked_from) {
  // The envelope's own fields go up to C1; the body's as its type says. The
  // stored bytes as they are only for records known to hold no unknown field.
  const BodyInfo* body = BodyOf(r.type);
  const bool audience_ok = p.every_audience() || (body != nullptr && !body->restricts_audience);
  if (p.full_clearance() && audience_ok) return true;
  return r.position >= checked_from && p.clearance() >= grid::v1::C1_INTERNAL && body != nullptr &&
         body->max_class <= p.clearance() && audience_ok;
}

absl::StatusOr<EventView> RedactStored(const Principal& p, const storage::LogRecord& r,
                                       std::string* redacted) {
  grid::v1::Event e;
  if (!e.ParseFromString(r.wire)) {
    return absl::DataLossError(absl::StrCat("the event at position ", r.position, " does not parse"));
  }
  if (!RedactEvent(&e, p.clearance(), p.audiences())) return EventView::kAsStored;
  *redacted = e.SerializeAsString();
  return EventView::kRedacted;
}

absl::StatusOr<EventView> ViewEvent(const Reader& reader, const storage::LogRecord& r,
                                    storage::Position checked_from, std::string* redacted) {
  if (!reader.Sees(r.org_path)) return EventView::kHidden;
  if (ServedAsStored(reader.principal(), r, checked_from)) return EventView::kAsStored;
  return RedactStored(reader.principal(), r, redacted);
}

std::function<bool(const grid::v1::Event&, const grid::v1::Event&)> SameAsServed(
    grid::v1::DataClass clearance, uint32_t audiences) {
  if (clearance >= grid::v1::C4_RESTRICTED && audiences == kEveryAudience) return nullptr;
  return [clearance, audiences](const grid::v1::Event& a, const grid::v1::Event& b) {
    const auto served = [&](grid::v1::Event e) {
      RedactEvent(&e, clearance, audiences);
      return e;
    };
    return google::protobuf::util::MessageDifferencer::Equals(served(a), served(b));
  };
}

std::string RowOrgPath(const grid::v1::ProjectionRow& row) {
  const auto& v = row.value();
  const auto* r = v.GetReflection();
  const auto* oneof = v.GetDescriptor()->FindOneofByName("row");
  if (const auto* f = r->GetOneofFieldDescriptor(v, oneof); f != nullptr) {
    const auto& m = r->GetMessage(v, f);
    for (const char* name : {"org_path", "applicant_org"}) {
      const auto* of = m.GetDescriptor()->FindFieldByName(name);
      if (of != nullptr && of->cpp_type() == google::protobuf::FieldDescriptor::CPPTYPE_STRING &&
          !of->is_repeated()) {
        return m.GetReflection()->GetString(m, of);
      }
    }
  }
  return row.key().substr(0, row.key().find('#'));
}

namespace {

// The row type's field marked (subject), if it has one; worked out once for
// every row type.
const google::protobuf::FieldDescriptor* SubjectField(const google::protobuf::Descriptor* row_type) {
  static const auto* kFields = [] {
    auto* m = new absl::flat_hash_map<const google::protobuf::Descriptor*,
                                      const google::protobuf::FieldDescriptor*>();
    const auto* oneof = grid::v1::RowValue::descriptor()->FindOneofByName("row");
    for (int i = 0; i < oneof->field_count(); ++i) {
      const auto* d = oneof->field(i)->message_type();
      for (int j = 0; j < d->field_count(); ++j) {
        if (d->field(j)->options().GetExtension(grid::v1::subject)) (*m)[d] = d->field(j);
      }
    }
    return m;
  }();
  auto it = kFields->find(row_type);
  return it == kFields->end() ? nullptr : it->second;
}

// The person the row is about, for a row type with a (subject) field.
std::optional<std::string> RowSubject(const grid::v1::ProjectionRow& row) {
  const auto& v = row.value();
  const auto* r = v.GetReflection();
  static const auto* kRow = grid::v1::RowValue::descriptor()->FindOneofByName("row");
  const auto* f = r->GetOneofFieldDescriptor(v, kRow);
  if (f == nullptr) return std::nullopt;
  const auto& m = r->GetMessage(v, f);
  const auto* subject = SubjectField(m.GetDescriptor());
  if (subject == nullptr) return std::nullopt;
  return m.GetReflection()->GetString(m, subject);
}

}  // namespace

bool ViewRow(const Reader& reader, grid::v1::ProjectionRow* row) {
  if (!reader.Sees(RowOrgPath(*row))) return false;
  const Principal& p = reader.principal();
  // A field no schema defines has no class: served to nobody.
  row->DiscardUnknownFields();
  uint32_t audiences = p.audiences();
  if (const std::optional<std::string> subject = RowSubject(*row)) {
    // A row about one person: to its assessors and to that person only.
    if (!p.worker_id().empty() && *subject == p.worker_id()) audiences |= 1u << grid::v1::ASSESSED;
    if ((audiences & (1u << grid::v1::ASSESSED)) == 0) return false;
  }
  if ((p.full_clearance() && audiences == kEveryAudience) || !row->has_value()) return true;
  std::vector<std::string> changed;
  // What is withheld and unset first (a zero count above the clearance must
  // read as withheld, not as 0), then what Redact() clears or masks.
  ListWithheldUnset(row->value(), p.clearance(), &changed, audiences);
  Redact(row->mutable_value(), p.clearance(), &changed, audiences);
  for (auto& c : changed) row->add_redacted(std::move(c));
  if (p.clearance() <= grid::v1::C0_AGGREGATE) {
    std::vector<std::string> suppressed;
    SuppressSmallCounts(row->mutable_value(), &suppressed);
    for (auto& c : suppressed) row->add_suppressed(std::move(c));
  }
  return true;
}

}  // namespace grid::server
