// A gRPC server interceptor that observes every call: its duration and
// status code go to the metrics, and at debug level one log line per call
// (method, status code, duration, peer address). The status message is never
// logged: a validation message may quote an event's field.
#ifndef GRID_SERVER_RPC_OBSERVER_H_
#define GRID_SERVER_RPC_OBSERVER_H_

#include <grpcpp/support/server_interceptor.h>

#include "server/metrics.h"

namespace grid::server {

class RpcObserverFactory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  // `metrics` must outlive the server.
  explicit RpcObserverFactory(ServerMetrics* metrics) : metrics_(metrics) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override;

 private:
  ServerMetrics* const metrics_;
};

}  // namespace grid::server

#endif  // GRID_SERVER_RPC_OBSERVER_H_
