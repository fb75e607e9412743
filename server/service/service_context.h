// ServiceContext: what the gRPC services of one gridd share, and the two
// shapes every call of theirs takes: a unary call admitted by access control
// (BeginUnary/FinishUnary) and a server stream pumped on the application
// pool (ServiceWriter).
#ifndef GRID_SERVER_SERVICE_SERVICE_CONTEXT_H_
#define GRID_SERVER_SERVICE_SERVICE_CONTEXT_H_

#include <utility>  // before Boost.Asio (GCC 12 + C++20)

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "server/access/access.h"
#include "server/access/shared_views.h"
#include "server/access/worker_grids.h"
#include "server/log/cluster_role.h"
#include "server/log/live_tail.h"
#include "server/log/sequencer.h"
#include "server/log/validation.h"
#include "server/ops/metrics.h"
#include "server/rpc/pumped_writer.h"
#include "server/rpc/status.h"
#include "storage/checkpoint.h"
#include "storage/event_log.h"
#include "storage/sync.h"

namespace boost::asio {
class thread_pool;
}

namespace grid::server {

// The open Subscribe calls' positions, for the lag metrics.
class SubscriberSet {
 public:
  void Add(const std::atomic<uint64_t>* scanned) {
    grid::MutexLock l(&mu_);
    set_.insert(scanned);
  }
  void Remove(const std::atomic<uint64_t>* scanned) {
    grid::MutexLock l(&mu_);
    set_.erase(scanned);
  }
  // The last position each subscriber has scanned through.
  std::vector<uint64_t> Positions() const {
    grid::MutexLock l(&mu_);
    std::vector<uint64_t> out;
    out.reserve(set_.size());
    for (const auto* p : set_) out.push_back(p->load(std::memory_order_relaxed));
    return out;
  }

 private:
  mutable grid::Mutex mu_;
  absl::flat_hash_set<const std::atomic<uint64_t>*> set_ ABSL_GUARDED_BY(mu_);
};

// What the gRPC services of one gridd (log, projections, admin) share: the
// log and its writer, the live tail, the application pool, access control,
// and whether shutdown has begun. All pointers must outlive the services and
// every RPC they started.
struct ServiceContext {
  storage::EventLog* log = nullptr;
  Sequencer* sequencer = nullptr;
  LiveTail* tail = nullptr;
  boost::asio::thread_pool* pool = nullptr;
  AppendValidator append_validator;
  // Events at positions from here on were appended with unknown fields
  // refused (ViewEvent); before it they are parsed and cleaned for callers
  // below full clearance. GridServer keeps it in the data directory.
  storage::Position checked_from = UINT64_MAX;
  const storage::Signer* signer = nullptr;
  ServerMetrics* metrics = nullptr;  // may be null
  AccessControl* access = nullptr;
  // Grid workers' assigned grids for the read paths; null: none narrowed.
  WorkerGrids* worker_grids = nullptr;
  // A check of an append against this node's projections, after the
  // caller's rights (a form's PREFILL_CONFIRMED values against the facts
  // they were prefilled from): `applies` says cheaply, on the gRPC thread,
  // whether a batch needs it; `check` runs on the pool (it reads the
  // projection store). Unset: none.
  struct AppendCheck {
    std::function<bool(const storage::AppendBatch&)> applies;
    std::function<absl::Status(const Principal&, const storage::AppendBatch&)> check;
  } append_check;
  // Cluster mode: this node's part in its shard; null on a single node.
  ClusterRole* cluster = nullptr;
  // Unary calls that wait (GetProjection's min_position) wait at most this,
  // whatever deadline the client set.
  absl::Duration unary_deadline = absl::Seconds(10);
  SubscriberSet subscribers;
  // Events redacted for a view, shared by the subscribers of that view.
  SharedViews views;
  std::atomic<bool> stopping{false};
};

// A server stream of one of the services: pumped on the context's pool,
// ended by its shutdown, guarded by the call's access grant.
// `Stream` is gRPC's reactor, or the dashboard's feed (server/dashboard)
// that carries the same messages to a browser.
template <class Message, class Stream = grpc::ServerWriteReactor<Message>>
class ServiceWriter : public PumpedWriter<Message, AccessCall, Stream> {
 protected:
  using Step = typename PumpedWriter<Message, AccessCall, Stream>::Step;
  ServiceWriter(ServiceContext* env, storage::Notifier* notifier)
      : PumpedWriter<Message, AccessCall, Stream>(env->pool, &env->stopping, notifier), env_(env) {}

  // A read that must see a write (`min_position`, e.g. an append's position
  // on another node of a cluster): nullopt once this node's log holds
  // `position`; until then the step that waits for it on the live tail
  // (the writer's notifier must be env->tail), and past `until` the one that
  // ends the call DEADLINE_EXCEEDED saying how far this node is.
  std::optional<Step> AwaitApplied(storage::Position position, absl::Time until) {
    const storage::Position head = env_->log->GetHead().position;
    if (head >= position) return std::nullopt;
    Step step;
    const absl::Time now = absl::Now();
    if (now >= until) {
      step.status = ToGrpc(absl::DeadlineExceededError(
          absl::StrCat("this node's log holds positions through ", head, ", not yet min_position ", position,
                       "; retry (a cluster's replica may still be applying it)")));
      return step;
    }
    step.kind = Step::kWait;
    step.wait_after = head;
    step.wake_after = until - now;
    return step;
  }

  ServiceContext* const env_;
};

// Starts server stream `w` once its call's intent is in the access audit
// (AccessCall::Intend: at once for calls audited after the fact), or ends it
// with the reason the intent could not be stored.
template <class Writer>
void StartAfterIntent(Writer* w, std::unique_ptr<AccessCall> call) {
  auto holder = std::make_shared<std::unique_ptr<AccessCall>>(std::move(call));
  AccessCall* raw = holder->get();
  raw->Intend([w, holder](const absl::Status& s) {
    if (s.ok()) {
      w->Start(std::move(*holder));
    } else {
      w->Abort(std::move(*holder), ToGrpc(s));
    }
  });
}

// Admits a call (access.h). In cluster mode a node that stopped serving
// (ClusterRole::CheckServing: its log differs from the shard's) answers
// nothing but GetStatus; that refusal is audited like any other.
inline absl::StatusOr<std::unique_ptr<AccessCall>> BeginCall(ServiceContext* env,
                                                             grpc::CallbackServerContext* ctx, Rpc rpc,
                                                             std::string scope) {
  auto call = env->access->Begin(ctx, rpc, std::move(scope));
  if (!call.ok() || env->cluster == nullptr || rpc == Rpc::kGetStatus) return call;
  if (absl::Status serving = env->cluster->CheckServing(); !serving.ok()) {
    (*call)->Done(ToGrpc(serving));
    return serving;
  }
  return call;
}

// Admits a unary call (BeginCall), or finishes `reactor` with the refusal
// and returns null.
inline std::shared_ptr<AccessCall> BeginUnary(ServiceContext* env, grpc::CallbackServerContext* ctx,
                                              grpc::ServerUnaryReactor* reactor, Rpc rpc, std::string scope) {
  auto call = BeginCall(env, ctx, rpc, std::move(scope));
  if (!call.ok()) {
    reactor->Finish(ToGrpc(call.status()));
    return nullptr;
  }
  return std::shared_ptr<AccessCall>(std::move(*call));
}

// Finishes an admitted unary call, auditing its outcome.
inline void FinishUnary(grpc::ServerUnaryReactor* reactor, AccessCall* call, const grpc::Status& status) {
  call->Done(status);
  reactor->Finish(status);
}

}  // namespace grid::server

#endif  // GRID_SERVER_SERVICE_SERVICE_CONTEXT_H_
