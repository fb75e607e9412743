#include "server/rpc_observer.h"

#include <grpcpp/server_context.h>
#include <spdlog/spdlog.h>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "server/access_policy.h"

namespace grid::server {
namespace {

using grpc::experimental::InterceptionHookPoints;

class RpcObserver final : public grpc::experimental::Interceptor {
 public:
  RpcObserver(grpc::experimental::ServerRpcInfo* info, ServerMetrics* metrics)
      : info_(info), metrics_(metrics), start_(absl::Now()) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      const grpc::Status status = methods->GetSendStatus();
      const absl::Duration elapsed = absl::Now() - start_;
      // Only methods the server serves become labels: a caller may send any
      // name (kilobytes, phone numbers) and each would be a new series.
      const std::string method(MethodLabel(info_->method()));
      const bool unary = info_->type() == grpc::experimental::ServerRpcInfo::Type::UNARY;
      metrics_->RpcDone(method, status.error_code(), unary, elapsed);
      if (spdlog::should_log(spdlog::level::debug)) {
        spdlog::debug("rpc {} code={} ms={:.3f} peer={}", method,
                      absl::StatusCodeToString(static_cast<absl::StatusCode>(status.error_code())),
                      absl::ToDoubleMilliseconds(elapsed), info_->server_context()->peer());
      }
    }
    methods->Proceed();
  }

 private:
  grpc::experimental::ServerRpcInfo* const info_;
  ServerMetrics* const metrics_;
  const absl::Time start_;
};

}  // namespace

grpc::experimental::Interceptor* RpcObserverFactory::CreateServerInterceptor(
    grpc::experimental::ServerRpcInfo* info) {
  return new RpcObserver(info, metrics_);
}

}  // namespace grid::server
