// ProjectionService implements grid.v1.Projections on gRPC's callback API:
// point-in-time reads of versioned rows, snapshot-then-changes streams,
// listing and rebuilding. Storage reads run on the application pool.
//
// Concurrency: safe for concurrent use by gRPC's threads.
#ifndef GRID_SERVER_PROJECTIONS_PROJECTION_SERVICE_H_
#define GRID_SERVER_PROJECTIONS_PROJECTION_SERVICE_H_

#include "grid/v1/projection.grpc.pb.h"
#include "server/projections/projector.h"
#include "server/service/service_context.h"

namespace grid::server {

class ProjectionService final : public grid::v1::Projections::CallbackService {
 public:
  // `env` and `projector` must outlive the service and its calls.
  ProjectionService(ServiceContext* env, Projector* projector) : env_(env), projector_(projector) {}

  grpc::ServerUnaryReactor* GetProjection(grpc::CallbackServerContext* ctx,
                                          const grid::v1::GetProjectionRequest* request,
                                          grid::v1::GetProjectionResponse* response) override;
  grpc::ServerWriteReactor<grid::v1::SubscribeProjectionResponse>* SubscribeProjection(
      grpc::CallbackServerContext* ctx, const grid::v1::SubscribeProjectionRequest* request) override;
  grpc::ServerUnaryReactor* ListProjections(grpc::CallbackServerContext* ctx,
                                            const grid::v1::ListProjectionsRequest* request,
                                            grid::v1::ListProjectionsResponse* response) override;
  grpc::ServerUnaryReactor* RebuildProjection(grpc::CallbackServerContext* ctx,
                                              const grid::v1::RebuildProjectionRequest* request,
                                              grid::v1::RebuildProjectionResponse* response) override;
  grpc::ServerUnaryReactor* PrefillForm(grpc::CallbackServerContext* ctx,
                                        const grid::v1::PrefillFormRequest* request,
                                        grid::v1::PrefillFormResponse* response) override;

 private:
  ServiceContext* const env_;
  Projector* const projector_;
};

}  // namespace grid::server

#endif  // GRID_SERVER_PROJECTIONS_PROJECTION_SERVICE_H_
