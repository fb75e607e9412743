#include "server/access/access.h"

#include <grpcpp/server_context.h>
#include <grpcpp/support/status.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/access/auth.h"
#include "server/ops/json_file.h"
#include "storage/proto_time.h"

namespace grid::server {
namespace {

google::protobuf::Timestamp Now() { return ToProtoTime(ToMicros(absl::Now())); }

std::string CodeName(grpc::StatusCode code) {
  static const char* const kNames[] = {
      "OK",        "CANCELLED",      "UNKNOWN",           "INVALID_ARGUMENT",   "DEADLINE_EXCEEDED",
      "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
      "ABORTED",   "OUT_OF_RANGE",   "UNIMPLEMENTED",     "INTERNAL",           "UNAVAILABLE",
      "DATA_LOSS", "UNAUTHENTICATED"};
  const int i = static_cast<int>(code);
  return i >= 0 && i < static_cast<int>(std::size(kNames)) ? kNames[i] : absl::StrCat(i);
}

// An audit record stamped now. `rights` gives the role; null when the caller
// is not in the policy or was refused before it was named.
grid::v1::AuditRecord NewRecord(std::string principal, const Principal* rights, std::string_view method,
                                std::string_view scope, std::string peer, std::string result) {
  grid::v1::AuditRecord r;
  *r.mutable_time() = Now();
  r.set_principal(std::move(principal));
  if (rights != nullptr) r.set_role(rights->RoleName());
  r.set_method(std::string(method));
  r.set_scope(std::string(scope));
  r.set_result(std::move(result));
  r.set_peer(std::move(peer));
  if (rights != nullptr && !rights->dev()) {
    for (const auto& j : rights->jurisdiction()) r.add_org_paths(j);
  }
  return r;
}

}  // namespace

absl::StatusOr<std::shared_ptr<const PolicySet>> LoadPolicyFile(const std::string& path) {
  grid::v1::Policy p;
  if (auto s = ReadCommentedJsonFile(path, "an access policy", &p); !s.ok()) return s;
  auto set = PolicySet::Build(p);
  if (!set.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", set.status().message()));
  }
  return set;
}

std::string CallerName(const grpc::ServerContextBase& ctx) {
  if (std::string principal = PrincipalOf(ctx); !principal.empty()) return principal;
  std::string peer = ctx.peer();
  if (auto colon = peer.rfind(':'); colon != std::string::npos && colon > peer.find(':')) {
    peer.resize(colon);
  }
  return absl::StrCat("anonymous@", peer);
}

// ---------------------------------------------------------------- AccessCall

AccessCall::AccessCall(AccessControl* access, const RpcRule& rule, std::shared_ptr<const Principal> p,
                       std::string peer, std::string scope, uint64_t generation, bool holds_stream)
    : access_(access),
      rule_(rule),
      principal_(std::move(p)),
      peer_(std::move(peer)),
      scope_(std::move(scope)),
      generation_(generation),
      holds_stream_(holds_stream) {}

AccessCall::~AccessCall() {
  Done(grpc::Status(grpc::StatusCode::CANCELLED, "ended without a status"));
  if (holds_stream_) access_->ReleaseStream(principal_->name());
}

absl::Status AccessCall::Recheck() {
  const uint64_t g = access_->generation();
  if (g == generation_) return absl::OkStatus();
  generation_ = g;
  if (principal_->dev()) return absl::OkStatus();
  auto now = access_->Lookup(principal_->name());
  if (now == nullptr || !now->MayCall(rule_.rpc)) {
    return absl::PermissionDeniedError(absl::StrCat("access revoked: the reloaded policy no longer lets ",
                                                    principal_->name(), " call ", rule_.method));
  }
  principal_ = std::move(now);
  return absl::OkStatus();
}

void AccessCall::Done(const grpc::Status& status) {
  if (done_) return;
  done_ = true;
  grid::v1::AuditRecord r = NewRecord(principal_->name(), principal_.get(), rule_.method, scope_, peer_,
                                      CodeName(status.error_code()));
  // A denial's reason is ours; other messages can quote request fields.
  if (status.error_code() == grpc::StatusCode::PERMISSION_DENIED) {
    r.set_message(status.error_message());
  }
  r.set_items(items_);
  if (!org_paths_.empty()) {
    r.clear_org_paths();
    for (auto& o : org_paths_) r.add_org_paths(std::move(o));
  }
  access_->Audit(std::move(r));
}

// ---------------------------------------------------------------- AccessControl

absl::StatusOr<std::unique_ptr<AccessControl>> AccessControl::Create(AccessOptions options,
                                                                     storage::AuditLog* audit) {
  std::unique_ptr<AccessControl> a(new AccessControl(std::move(options), audit));
  if (!a->dev_mode()) {
    auto set = LoadPolicyFile(a->options_.policy_file);
    if (!set.ok()) return set.status();
    grid::MutexLock l(&a->mu_);
    a->policy_ = *std::move(set);
  }
  return a;
}

absl::Status AccessControl::Reload() {
  if (dev_mode()) return absl::FailedPreconditionError("no policy_file is configured (dev mode)");
  auto set = LoadPolicyFile(options_.policy_file);
  if (!set.ok()) return set.status();
  {
    grid::MutexLock l(&mu_);
    policy_ = *std::move(set);
  }
  generation_.fetch_add(1);
  return absl::OkStatus();
}

size_t AccessControl::principals() const {
  auto p = policy();
  return p == nullptr ? 0 : p->size();
}

std::shared_ptr<const PolicySet> AccessControl::policy() const {
  grid::MutexLock l(&mu_);
  return policy_;
}

std::shared_ptr<const Principal> AccessControl::DevPrincipal(const std::string& name) {
  grid::MutexLock l(&mu_);
  // Names are peer addresses (loopback in dev mode): a handful. The bound
  // only keeps a port scan from growing the map.
  if (dev_principals_.size() >= 1024) dev_principals_.clear();
  auto& p = dev_principals_[name];
  if (p == nullptr) p = Principal::Dev(name);
  return p;
}

std::shared_ptr<const Principal> AccessControl::Lookup(const std::string& name) const {
  auto p = policy();
  return p == nullptr ? nullptr : p->Find(name);
}

absl::Duration AccessControl::Bucket::Take(double rate, double burst, absl::Time now) {
  tokens = last == absl::InfinitePast() ? burst
                                        : std::min(burst, tokens + absl::ToDoubleSeconds(now - last) * rate);
  last = now;
  if (tokens >= 1) {
    tokens -= 1;
    return absl::ZeroDuration();
  }
  return absl::Seconds((1 - tokens) / rate);
}

absl::Duration AccessControl::TakeToken(const std::string& principal) {
  if (options_.rate_per_second <= 0) return absl::ZeroDuration();
  const absl::Time now = absl::Now();
  grid::MutexLock l(&mu_);
  return buckets_[principal].Take(options_.rate_per_second, std::max<double>(1, options_.burst), now);
}

bool AccessControl::TakeStream(const std::string& principal) {
  grid::MutexLock l(&mu_);
  uint32_t& n = streams_[principal];
  if (options_.max_streams > 0 && n >= options_.max_streams) return false;
  ++n;
  return true;
}

void AccessControl::ReleaseStream(const std::string& principal) {
  grid::MutexLock l(&mu_);
  auto it = streams_.find(principal);
  if (it != streams_.end() && --it->second == 0) streams_.erase(it);
}

void AccessControl::Audit(grid::v1::AuditRecord r) {
  // Outcome and denial records are best effort: the call is already
  // decided, so they are queued for the audit's writer thread.
  audit_->Post(std::move(r));
}

absl::StatusOr<std::unique_ptr<AccessCall>> AccessControl::Begin(grpc::ServerContextBase* ctx, Rpc rpc,
                                                                 std::string scope) {
  absl::Duration retry_after;
  auto call = Begin(Caller{CallerName(*ctx), ctx->peer()}, rpc, std::move(scope), &retry_after);
  if (call.status().code() == absl::StatusCode::kResourceExhausted && retry_after > absl::ZeroDuration()) {
    // gRPC's own retry pushback; clients with retries enabled honour it.
    ctx->AddTrailingMetadata("grpc-retry-pushback-ms", absl::StrCat(absl::ToInt64Milliseconds(retry_after)));
  }
  return call;
}

std::shared_ptr<const Principal> AccessControl::Rights(const std::string& name) {
  return dev_mode() ? DevPrincipal(name) : Lookup(name);
}

absl::StatusOr<std::unique_ptr<AccessCall>> AccessControl::Begin(const Caller& caller, Rpc rpc,
                                                                 std::string scope,
                                                                 absl::Duration* retry_after) {
  const RpcRule& rule = RuleOf(rpc);
  const std::string& name = caller.name;
  const uint64_t generation = generation_.load();
  std::shared_ptr<const Principal> p = Rights(name);
  auto deny = [&](absl::Status s) -> absl::Status {
    if (!TakeRefusalAudit(name)) return s;
    grid::v1::AuditRecord r = NewRecord(name, p.get(), rule.method, scope, caller.peer,
                                        CodeName(static_cast<grpc::StatusCode>(s.code())));
    r.set_message(std::string(s.message()));
    Audit(std::move(r));
    return s;
  };
  if (retry_after != nullptr) *retry_after = absl::ZeroDuration();
  if (p == nullptr) {
    return deny(
        absl::PermissionDeniedError(absl::StrCat("principal ", name, " is not in the access policy")));
  }
  if (!p->MayCall(rpc)) {
    return deny(
        absl::PermissionDeniedError(absl::StrCat(p->RoleName(), " principals may not call ", rule.method)));
  }
  if (rule.whole_database && !p->dev() && !(p->everywhere() && p->full_clearance())) {
    return deny(absl::PermissionDeniedError(absl::StrCat(
        rule.method, " hands out the whole database, every town's personal data: it needs an ",
        "ADMIN with jurisdiction [\"\"] and clearance C4_RESTRICTED, which ", name, " does not have")));
  }
  // Dev mode (one machine, no principals) has no quotas: every local
  // caller would share one bucket. Nor have cluster nodes: a node forwards
  // the appends of all its callers, each already held to its own quota.
  const bool quota = !dev_mode() && p->role() != grid::v1::CLUSTER_NODE;
  if (absl::Duration wait = quota ? TakeToken(name) : absl::ZeroDuration(); wait > absl::ZeroDuration()) {
    const int64_t ms = std::max<int64_t>(1, absl::ToInt64Milliseconds(wait) + 1);
    if (retry_after != nullptr) *retry_after = absl::Milliseconds(ms);
    return deny(absl::ResourceExhaustedError(
        absl::StrCat("rate limit: ", name, " may start ", options_.rate_per_second,
                     " calls per second (burst ", options_.burst, "); retry in ", ms, " ms")));
  }
  const bool stream = rule.streaming && !dev_mode();
  if (stream && !TakeStream(name)) {
    return deny(absl::ResourceExhaustedError(
        absl::StrCat(name, " has ", options_.max_streams,
                     " streams open, the most a principal may; close one or retry later")));
  }
  return std::unique_ptr<AccessCall>(
      new AccessCall(this, rule, p, caller.peer, std::move(scope), generation, stream));
}

void AccessCall::Intend(std::function<void(absl::Status)> then) {
  if (!rule_.audit_first) {
    then(absl::OkStatus());
    return;
  }
  grid::v1::AuditRecord r =
      NewRecord(principal_->name(), principal_.get(), rule_.method, scope_, peer_, "STARTED");
  r.set_intent(true);
  // `then` may take this call over (and end it): touch nothing after.
  access_->audit()->PostIntent(std::move(r), rule_.audit_sync, std::move(then));
}

bool AccessControl::TakeRefusalAudit(const std::string& principal) {
  if (options_.refusal_audit_per_second <= 0) return true;
  const absl::Time now = absl::Now();
  grid::MutexLock l(&mu_);
  if (refusal_buckets_[principal].Take(options_.refusal_audit_per_second,
                                       std::max<double>(1, options_.refusal_audit_burst),
                                       now) > absl::ZeroDuration()) {
    unaudited_.fetch_add(1);
    return false;
  }
  return true;
}

void AccessControl::RecordSession(const Caller& caller, std::string_view method, std::string_view result) {
  // Refusals through the refusal bucket, as every other refusal.
  if (result != "OK" && !TakeRefusalAudit(caller.name)) return;
  std::shared_ptr<const Principal> p = Rights(caller.name);
  Audit(NewRecord(caller.name, p.get(), method, "", caller.peer, std::string(result)));
}

void AccessControl::RecordUnauthenticated(std::string method, std::string peer, std::string why) {
  if (!TakeRefusalAudit("")) return;
  // The method name is the caller's choice, up to kilobytes of anything
  // (names, phone numbers): kept only when it is one the server knows.
  grid::v1::AuditRecord r =
      NewRecord("", nullptr, MethodLabel(method), "", std::move(peer), "UNAUTHENTICATED");
  r.set_message(std::move(why));
  Audit(std::move(r));
}

}  // namespace grid::server
