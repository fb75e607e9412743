// A gRPC server interceptor that observes every call: its duration and
// status code go to the metrics, and at debug level one log line per call
// (method, status code, duration, peer address). The status message is never
// logged: a validation message may quote an event's field.
#ifndef GRID_SERVER_RPC_OBSERVER_H_
#define GRID_SERVER_RPC_OBSERVER_H_

#include <grpcpp/support/server_interceptor.h>

#include <cstdint>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "server/ops/metrics.h"
#include "storage/sync.h"

namespace grid::server {

// The calls the server has begun and not yet destroyed, so that shutdown can
// wait for exactly those and not for idle connections (gRPC's own Shutdown
// waits for every connection to close until its deadline).
class CallsInFlight {
 public:
  void Enter() {
    grid::MutexLock l(&mu_);
    ++count_;
  }
  void Leave() {
    grid::MutexLock l(&mu_);
    if (--count_ == 0) none_.SignalAll();
  }
  // True when none is left, false if `deadline` came first.
  bool WaitForNone(absl::Time deadline) {
    grid::MutexLock l(&mu_);
    while (count_ > 0) {
      const absl::Duration left = deadline - absl::Now();
      if (left <= absl::ZeroDuration()) return false;
      none_.WaitFor(&mu_, left);
    }
    return true;
  }
  int64_t count() const {
    grid::MutexLock l(&mu_);
    return count_;
  }

 private:
  mutable grid::Mutex mu_;
  grid::CondVar none_;
  int64_t count_ ABSL_GUARDED_BY(mu_) = 0;
};

class RpcObserverFactory final : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  // `metrics` and `calls` must outlive the server.
  RpcObserverFactory(ServerMetrics* metrics, CallsInFlight* calls) : metrics_(metrics), calls_(calls) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(grpc::experimental::ServerRpcInfo* info) override;

 private:
  ServerMetrics* const metrics_;
  CallsInFlight* const calls_;
};

}  // namespace grid::server

#endif  // GRID_SERVER_RPC_OBSERVER_H_
