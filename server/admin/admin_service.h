// The admin service (grid.v1.Admin): Backup streams a consistent copy of
// the server's data while it keeps serving.
//
// A backup is staged in <data_dir>/.backup-XXXXXX (RocksDB checkpoints:
// hard links to the table files, so staging costs little space), streamed,
// and removed when the call ends however it ends; stale staging folders from
// a crash are removed when the service starts.
#ifndef GRID_SERVER_ADMIN_ADMIN_SERVICE_H_
#define GRID_SERVER_ADMIN_ADMIN_SERVICE_H_

#include <string>

#include "grid/v1/admin.grpc.pb.h"
#include "server/service/service_context.h"
#include "storage/event_log.h"
#include "storage/projection_store.h"

namespace grid::server {

class AdminService final : public grid::v1::Admin::CallbackService {
 public:
  // Everything must outlive the service and its calls.
  AdminService(ServiceContext* env, const storage::ProjectionStore* projections,
               storage::EventLogOptions log_options, std::string data_dir);

  grpc::ServerWriteReactor<grid::v1::BackupChunk>* Backup(grpc::CallbackServerContext* ctx,
                                                          const grid::v1::BackupRequest* request) override;
  grpc::ServerWriteReactor<grid::v1::ReadAuditResponse>* ReadAudit(
      grpc::CallbackServerContext* ctx, const grid::v1::ReadAuditRequest* request) override;

 private:
  ServiceContext* const env_;
  const storage::ProjectionStore* const projections_;
  const storage::EventLogOptions log_options_;
  const std::string data_dir_;
};

}  // namespace grid::server

#endif  // GRID_SERVER_ADMIN_ADMIN_SERVICE_H_
