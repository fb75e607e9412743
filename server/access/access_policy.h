// Authorization without gRPC: which role may call which RPC (a fixed table),
// and, from the policy file (grid.v1.Policy), each principal's jurisdiction,
// the event types it may append, the stages it decides and its clearance.
//
// Everything here is immutable once built and safe to share between threads;
// a policy reload builds a new PolicySet and swaps it in (access.h).
#ifndef GRID_SERVER_ACCESS_ACCESS_POLICY_H_
#define GRID_SERVER_ACCESS_ACCESS_POLICY_H_

#include <algorithm>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "grid/v1/event.pb.h"
#include "grid/v1/policy.pb.h"
#include "grid/v1/projection.pb.h"
#include "storage/event_log.h"

namespace grid::server {

// Every RPC of the grid.v1 services. A method without a row in RpcRules()
// fails tests/server/access_matrix_test.cc.
enum class Rpc {
  kAppend,
  kRead,
  kSubscribe,
  kGetStatus,
  kListCheckpoints,
  kGetProjection,
  kSubscribeProjection,
  kListProjections,
  kRebuildProjection,
  kPrefillForm,
  kBackup,
  kReadAudit,
  // grid.cluster.v1.Node: between the gridd nodes of a cluster.
  kForwardAppend,
  kReadLog,
};

struct RpcRule {
  Rpc rpc;
  const char* method;  // full name, "/grid.v1.Log/Append"
  // Bit (1 << grid::v1::Role) for each role that may call it.
  uint32_t roles;
  // Its audit record is written before it runs, and it fails if that write
  // fails: it changes data or hands all of it out.
  bool audit_first;
  // ... and synced (fsync) first. Not for Append: each committed event
  // records its appender (`actor`) in the hash-chained log itself, durably,
  // so an fsync of the audit per append would buy nothing but latency.
  bool audit_sync;
  bool streaming;
  // It hands out the whole database (every town, every class): only for a
  // principal whose jurisdiction is everything and clearance C4.
  bool whole_database = false;
};

// The dashboard's sessions, in the access audit beside the RPCs (a page's
// reads and feeds are audited as the RPCs they are).
inline constexpr std::string_view kDashboardSignIn = "/dashboard/SignIn";
inline constexpr std::string_view kDashboardSignOut = "/dashboard/SignOut";

const std::vector<RpcRule>& RpcRules();
const RpcRule& RuleOf(Rpc rpc);
// nullptr for a method not in the table.
const RpcRule* FindRpcRule(std::string_view method);
// `method` when the server serves it (the grid.v1 table, gRPC health and
// reflection), else "unknown": what may become a metric label, a log field
// or an audit record's method, since a caller may send any name.
std::string_view MethodLabel(std::string_view method);

// One principal's rights, checked.
class Principal {
 public:
  // Dev mode (no policy file): every RPC, everywhere, full clearance.
  static std::shared_ptr<const Principal> Dev(std::string name);
  explicit Principal(grid::v1::PrincipalPolicy p);

  const std::string& name() const { return p_.principal(); }
  grid::v1::Role role() const { return p_.role(); }
  std::string RoleName() const;
  // Unset in the policy: C0_AGGREGATE (count-only).
  grid::v1::DataClass clearance() const { return std::max(p_.clearance(), grid::v1::C0_AGGREGATE); }
  bool dev() const { return dev_; }
  // Sees every field of every event in its jurisdiction.
  bool full_clearance() const { return p_.clearance() >= grid::v1::C4_RESTRICTED; }
  // The whole network is its jurisdiction.
  bool everywhere() const { return everywhere_; }
  // The audiences (bit 1 << grid::v1::Audience) whose fields it may see:
  // DISPATCHERS for a principal that may append IncidentDispatched,
  // ASSESSORS and ASSESSED for one that may append AssessmentPeriodClosed,
  // all of them for auditors and in dev mode. (ASSESSED is added per row
  // for the row's own subject: ViewRow.)
  uint32_t audiences() const { return audiences_; }
  bool every_audience() const { return audiences_ == ~0u; }
  const std::string& worker_id() const { return p_.worker_id(); }
  // The departments it acts for (DEPARTMENT principals).
  const google::protobuf::RepeatedPtrField<std::string>& departments() const { return p_.departments(); }
  const google::protobuf::RepeatedPtrField<std::string>& jurisdiction() const { return p_.jurisdiction(); }

  // What the commit-time checks need of this principal (its jurisdiction,
  // worker, clearance); null in dev mode.
  const std::shared_ptr<const storage::AppendScope>& append_scope() const { return scope_; }

  bool MayCall(Rpc rpc) const;
  // `org_path` is in the jurisdiction (an empty path only when everywhere()).
  bool Sees(std::string_view org_path) const;
  // The event's type, every org path it names as touched and (for stage
  // decisions) department and stage are this principal's to append;
  // PERMISSION_DENIED saying why. What depends on the current state (where
  // the aggregate lives now, a grid worker's assignment) is checked at
  // commit (domain::CheckScope).
  absl::Status MayAppend(const grid::v1::Event& e) const;

 private:
  Principal(grid::v1::PrincipalPolicy p, bool dev);
  // Every body field marked (acting_department) names one of this
  // principal's departments (and it is a DEPARTMENT).
  absl::Status MayActAsDepartment(const grid::v1::Event& e) const;

  grid::v1::PrincipalPolicy p_;
  bool dev_ = false;
  bool everywhere_ = false;
  uint32_t audiences_ = 0;
  std::shared_ptr<const storage::AppendScope> scope_;
};

// A reader as the read paths check it: the principal's rights, for a grid
// worker narrowed to the grids assigned to it now (WorkerGrids). Cheap to
// copy; the principal must outlive it.
class Reader {
 public:
  Reader(const Principal& p)
      : p_(&p) {}  // NOLINT(google-explicit-constructor): any principal reads as itself
  // Sees only org paths at or under one of `grids` (and in the jurisdiction).
  Reader(const Principal& p, std::shared_ptr<const std::vector<std::string>> grids)
      : p_(&p), grids_(std::move(grids)) {}

  const Principal& principal() const { return *p_; }
  bool Sees(std::string_view org_path) const;
  // The whole network, with nothing narrowed.
  bool everywhere() const { return grids_ == nullptr && p_->everywhere(); }

 private:
  const Principal* p_;
  std::shared_ptr<const std::vector<std::string>> grids_;
};

class PolicySet {
 public:
  // INVALID_ARGUMENT naming the principal and field: duplicate or empty
  // principals, no role, a malformed jurisdiction, an unknown event type,
  // append types for a role that appends nothing, worker_id outside
  // GRID_WORKER and VILLAGE_CADRE (and missing in GRID_WORKER), departments
  // outside DEPARTMENT.
  static absl::StatusOr<std::shared_ptr<const PolicySet>> Build(const grid::v1::Policy& policy);

  // nullptr when the principal is not in the policy.
  std::shared_ptr<const Principal> Find(std::string_view principal) const;
  size_t size() const { return by_name_.size(); }

 private:
  absl::flat_hash_map<std::string, std::shared_ptr<const Principal>> by_name_;
};

// For AppendScope::same_as_served: whether two events are the same as a
// caller of this clearance and these audiences is served them (ViewEvent's
// redaction); null when such a caller is served every field.
std::function<bool(const grid::v1::Event&, const grid::v1::Event&)> SameAsServed(
    grid::v1::DataClass clearance, uint32_t audiences);

// What a principal receives of a stored event: nothing outside its
// jurisdiction; the stored bytes when no field is above its clearance (the
// chain then verifies); otherwise the redacted event, re-serialized into
// `*redacted` (its chain no longer verifies). Below full clearance, fields
// the schema does not define are dropped (records at positions from
// `checked_from` on were appended with them refused, so they hold none), and
// a count-only (C0) caller gets the envelope without the body. DATA_LOSS if
// the record does not parse.
enum class EventView { kHidden, kAsStored, kRedacted };
absl::StatusOr<EventView> ViewEvent(const Reader& reader, const storage::LogRecord& r,
                                    storage::Position checked_from, std::string* redacted);

// ViewEvent's two steps after the jurisdiction, which depend on the
// principal's clearance and audiences only: whether the stored bytes are
// served as they are, known without parsing them (true) or not (false: the
// record must be parsed); and that parse, with the redaction, as above
// (kAsStored when it removed nothing).
bool ServedAsStored(const Principal& p, const storage::LogRecord& r, storage::Position checked_from);
absl::StatusOr<EventView> RedactStored(const Principal& p, const storage::LogRecord& r,
                                       std::string* redacted);

// The same for a projection row of `projection`: false when the row is
// outside the jurisdiction, or is about one person (a (subject) field) and
// the caller is neither that person nor one of its assessors; otherwise the row redacted in place (and, for a
// count-only caller, small counts suppressed), with what was changed listed
// in its `redacted` and `suppressed` fields.
bool ViewRow(const Reader& reader, grid::v1::ProjectionRow* row);

// The org path a projection row belongs to: its value's `org_path` or
// `applicant_org`, else the key up to the first '#'.
std::string RowOrgPath(const grid::v1::ProjectionRow& row);

// Role name as in the policy file ("GRID_WORKER").
std::string RoleName(grid::v1::Role role);

}  // namespace grid::server

#endif  // GRID_SERVER_ACCESS_ACCESS_POLICY_H_
