// LogService implements grid.v1.Log on gRPC's callback API. It is thin: it
// validates, hands appends to the Sequencer and finishes them from the commit
// callback, and runs reads and subscriptions as reactors whose storage reads
// happen on the application pool. No reaction blocks.
//
// Read and Subscribe are registered as raw methods: their responses are
// assembled from the stored wire records (record.h) without parsing or
// re-encoding an event. Clients see the ordinary typed messages.
//
// Concurrency: safe for concurrent use by gRPC's threads. BeginShutdown()
// may be called from any thread.
#ifndef GRID_SERVER_LOG_LOG_SERVICE_H_
#define GRID_SERVER_LOG_LOG_SERVICE_H_

#include "grid/v1/log.grpc.pb.h"
#include "server/service/service_context.h"

namespace grid::server {

class LogService final : public grid::v1::Log::WithRawCallbackMethod_Read<
                             grid::v1::Log::WithRawCallbackMethod_Subscribe<grid::v1::Log::CallbackService>> {
 public:
  explicit LogService(ServiceContext* env) : env_(env) {}

  // From now on new RPCs fail UNAVAILABLE and open subscriptions end with
  // UNAVAILABLE at their next step, so clients reconnect from their last
  // checkpoint. Appends already queued still commit.
  void BeginShutdown();

  grpc::ServerUnaryReactor* Append(grpc::CallbackServerContext* ctx, const grid::v1::AppendRequest* request,
                                   grid::v1::AppendResponse* response) override;
  grpc::ServerUnaryReactor* GetStatus(grpc::CallbackServerContext* ctx,
                                      const grid::v1::GetStatusRequest* request,
                                      grid::v1::LogStatus* response) override;
  grpc::ServerUnaryReactor* ListCheckpoints(grpc::CallbackServerContext* ctx,
                                            const grid::v1::ListCheckpointsRequest* request,
                                            grid::v1::ListCheckpointsResponse* response) override;
  grpc::ServerWriteReactor<grpc::ByteBuffer>* Read(grpc::CallbackServerContext* ctx,
                                                   const grpc::ByteBuffer* request) override;
  grpc::ServerWriteReactor<grpc::ByteBuffer>* Subscribe(grpc::CallbackServerContext* ctx,
                                                        const grpc::ByteBuffer* request) override;

 private:
  ServiceContext* const env_;
};

}  // namespace grid::server

#endif  // GRID_SERVER_LOG_LOG_SERVICE_H_
