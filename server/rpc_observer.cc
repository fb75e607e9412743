#include "server/rpc_observer.h"

#include <google/protobuf/descriptor.h>
#include <grpcpp/server_context.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "server/access/access_policy.h"

namespace grid::server {
namespace {

using grpc::experimental::InterceptionHookPoints;

// The method of a grid.v1 service with this full name ("/grid.v1.Log/Append").
const google::protobuf::MethodDescriptor* ServedMethod(const std::string& name) {
  if (FindRpcRule(name) == nullptr || name.size() < 2) return nullptr;
  std::string dotted = name.substr(1);
  std::replace(dotted.begin(), dotted.end(), '/', '.');
  return google::protobuf::DescriptorPool::generated_pool()->FindMethodByName(dotted);
}

class RpcObserver final : public grpc::experimental::Interceptor {
 public:
  RpcObserver(grpc::experimental::ServerRpcInfo* info, ServerMetrics* metrics, CallsInFlight* calls)
      : info_(info), metrics_(metrics), calls_(calls), start_(absl::Now()) {
    calls_->Enter();
  }
  ~RpcObserver() override { calls_->Leave(); }

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      grpc::Status status = methods->GetSendStatus();
      // gRPC's generated handlers answer a request that does not parse with
      // a bare UNIMPLEMENTED before any of ours runs (our own refusals always
      // say why): name the message, as Read and Subscribe do.
      if (status.error_code() == grpc::StatusCode::UNIMPLEMENTED && status.error_message().empty()) {
        if (const auto* m = ServedMethod(info_->method()); m != nullptr) {
          status =
              grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, m->input_type()->name() + " does not parse");
          methods->ModifySendStatus(status);
        }
      }
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
  CallsInFlight* const calls_;
  const absl::Time start_;
};

}  // namespace

grpc::experimental::Interceptor* RpcObserverFactory::CreateServerInterceptor(
    grpc::experimental::ServerRpcInfo* info) {
  return new RpcObserver(info, metrics_, calls_);
}

}  // namespace grid::server
