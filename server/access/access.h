// AccessControl: the gate every RPC passes first. It names the caller (from
// the call's auth context only), looks the principal up in the policy,
// checks the role against the RPC table (access_policy.h), applies the
// per-principal rate limit and stream limit, and writes the access audit:
// denials at once, an intent record stored before a mutating RPC runs
// (AccessCall::Intend; the RPC fails if it cannot be stored), and a record
// of the outcome and items delivered when the call ends. Nothing here waits
// on the audit's disk: records are queued for its writer thread.
//
// Concurrency: thread-safe. The policy is swapped whole on Reload(); calls
// in progress see the new one at their next Recheck().
#ifndef GRID_SERVER_ACCESS_ACCESS_H_
#define GRID_SERVER_ACCESS_ACCESS_H_

#include <atomic>
#include <functional>
#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/access/access_policy.h"
#include "storage/audit_log.h"
#include "storage/sync.h"

namespace grpc {
class ServerContextBase;
class Status;
}  // namespace grpc

namespace grid::server {

struct AccessOptions {
  // grid.v1.Policy as JSON. Empty: dev mode (every caller may do anything).
  std::string policy_file;
  // Token bucket per principal; 0: no limit. Quotas apply only with a
  // policy: in dev mode every local caller is one anonymous principal.
  double rate_per_second = 0;
  uint32_t burst = 0;
  // Open streaming calls per principal; 0: no limit.
  uint32_t max_streams = 0;
  // Refused calls are audited at most this often, the rest only counted
  // (unaudited_refusals()), so that a flood of refused calls cannot fill the
  // audit's disk or crowd out other records: those refused at
  // authentication through one bucket for all (gRPC's authentication hook
  // does not see the peer's address), and each principal's own refusals
  // (not in the policy, a method its role may not call, past its rate)
  // through a bucket of its own.
  double refusal_audit_per_second = 20;
  uint32_t refusal_audit_burst = 200;
};

class AccessControl;

// Who is calling, whatever the transport: the principal's name as
// authenticated (CallerName() for gRPC; the dashboard's session or client
// certificate) and the peer's address, for the audit.
struct Caller {
  std::string name;
  std::string peer;
};

// One admitted call. Owned by the call's reactor; not thread-safe, which the
// reactors' one-step-at-a-time discipline satisfies.
class AccessCall {
 public:
  ~AccessCall();
  AccessCall(const AccessCall&) = delete;
  AccessCall& operator=(const AccessCall&) = delete;

  // The caller's rights as of the last Recheck().
  const Principal& principal() const { return *principal_; }
  std::shared_ptr<const Principal> principal_ptr() const { return principal_; }

  // After a policy reload: takes the principal's new rights, or
  // PERMISSION_DENIED when it may no longer make this call. Cheap while the
  // policy is unchanged.
  absl::Status Recheck();

  void AddItems(uint64_t n) { items_ += n; }
  void set_scope(std::string scope) { scope_ = std::move(scope); }
  // Where the call reached, when narrower than the caller's jurisdiction
  // (an append's event org paths): the outcome record's org_paths.
  void set_org_paths(std::vector<std::string> org_paths) { org_paths_ = std::move(org_paths); }

  // Writes the outcome record (once; later calls do nothing).
  void Done(const grpc::Status& status);

  // For an RPC whose rule says audit_first: queues the intent record
  // (synced when the rule says so) and runs `then` once it is stored, with
  // OK, on the audit's writer thread; or with UNAVAILABLE (on that thread or
  // at once on this one) when it cannot be, and the RPC must then fail with
  // it. `then` must not block; it may take ownership of this call. For other
  // RPCs, runs `then` with OK at once.
  void Intend(std::function<void(absl::Status)> then);

 private:
  friend class AccessControl;
  AccessCall(AccessControl* access, const RpcRule& rule, std::shared_ptr<const Principal> p, std::string peer,
             std::string scope, uint64_t generation, bool holds_stream);

  AccessControl* const access_;
  const RpcRule& rule_;
  std::shared_ptr<const Principal> principal_;
  const std::string peer_;
  std::string scope_;
  uint64_t generation_;
  const bool holds_stream_;
  uint64_t items_ = 0;
  std::vector<std::string> org_paths_;
  bool done_ = false;
};

class AccessControl {
 public:
  // Loads the policy file (when set). `audit` must outlive this object.
  static absl::StatusOr<std::unique_ptr<AccessControl>> Create(AccessOptions options,
                                                               storage::AuditLog* audit);

  // Rereads the policy file. On an error the old policy stays in force and
  // the error is returned. Open streams re-check at their next step.
  absl::Status Reload();
  uint64_t generation() const { return generation_.load(); }
  bool dev_mode() const { return options_.policy_file.empty(); }
  size_t principals() const;

  // Admits a call or refuses it (PERMISSION_DENIED, RESOURCE_EXHAUSTED with
  // a retry hint, UNAVAILABLE when the audit cannot be written). A refusal
  // is audited here.
  absl::StatusOr<std::unique_ptr<AccessCall>> Begin(grpc::ServerContextBase* ctx, Rpc rpc, std::string scope);
  // The same for a caller named by another transport (the dashboard's HTTP):
  // the same rules, quotas and audit. A refusal past the caller's rate sets
  // `*retry_after` (when given) to the wait its message names.
  absl::StatusOr<std::unique_ptr<AccessCall>> Begin(const Caller& caller, Rpc rpc, std::string scope,
                                                    absl::Duration* retry_after = nullptr);

  // A call refused before it reached a handler (authentication). Its method
  // is recorded only when the server knows it (MethodLabel()).
  void RecordUnauthenticated(std::string method, std::string peer, std::string why);
  // A dashboard sign-in or sign-out (`method` kDashboardSignIn or
  // kDashboardSignOut) of an authenticated caller, audited with `result`.
  void RecordSession(const Caller& caller, std::string_view method, std::string_view result);
  // The principal's rights now, as Begin() would find them (dev mode: all
  // rights under `name`); nullptr when `name` is not in the policy.
  std::shared_ptr<const Principal> Rights(const std::string& name);
  // Refusals past the audit's rate, not recorded.
  uint64_t unaudited_refusals() const { return unaudited_.load(); }

  storage::AuditLog* audit() const { return audit_; }

 private:
  friend class AccessCall;
  AccessControl(AccessOptions options, storage::AuditLog* audit)
      : options_(std::move(options)), audit_(audit) {}

  std::shared_ptr<const PolicySet> policy() const;
  // The principal's rights now; nullptr when unknown (dev mode: all rights).
  std::shared_ptr<const Principal> Lookup(const std::string& name) const;
  // Dev mode's all-rights principal for `name`, made once per name.
  std::shared_ptr<const Principal> DevPrincipal(const std::string& name);
  // Token bucket: zero when allowed, else how long until a token is due.
  absl::Duration TakeToken(const std::string& principal);
  bool TakeStream(const std::string& principal);
  void ReleaseStream(const std::string& principal);
  void Audit(grid::v1::AuditRecord r);
  // Whether a refusal of `principal` ("" unauthenticated) may be audited
  // now; counted in unaudited_ when not.
  bool TakeRefusalAudit(const std::string& principal);

  const AccessOptions options_;
  storage::AuditLog* const audit_;
  std::atomic<uint64_t> generation_{1};
  mutable grid::Mutex mu_;
  std::shared_ptr<const PolicySet> policy_ ABSL_GUARDED_BY(mu_);
  struct Bucket {
    double tokens = 0;
    absl::Time last = absl::InfinitePast();
    // Zero when a token was taken, else how long until one is due.
    absl::Duration Take(double rate, double burst, absl::Time now);
  };
  absl::flat_hash_map<std::string, Bucket> refusal_buckets_ ABSL_GUARDED_BY(mu_);
  std::atomic<uint64_t> unaudited_{0};
  absl::flat_hash_map<std::string, Bucket> buckets_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, uint32_t> streams_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, std::shared_ptr<const Principal>> dev_principals_ ABSL_GUARDED_BY(mu_);
};

// Reads and checks a policy file (INVALID_ARGUMENT naming the file and the
// principal at fault).
absl::StatusOr<std::shared_ptr<const PolicySet>> LoadPolicyFile(const std::string& path);

// The caller's name: the authenticated principal, or in dev mode
// "anonymous@<peer address>".
std::string CallerName(const grpc::ServerContextBase& ctx);

}  // namespace grid::server

#endif  // GRID_SERVER_ACCESS_ACCESS_H_
