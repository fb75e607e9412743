// Reading projections as a caller may see them: the point-in-time read of
// GetProjection, shared by the gRPC service and the dashboard, so that both
// serve exactly the same rows, cut to the caller's jurisdiction and redacted
// to its clearance (ViewRow).
#ifndef GRID_SERVER_PROJECTIONS_PROJECTION_READ_H_
#define GRID_SERVER_PROJECTIONS_PROJECTION_READ_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "domain/projections.h"
#include "grid/v1/projection.pb.h"
#include "server/access/redact.h"
#include "server/projections/projector.h"
#include "server/service/service_context.h"
#include "storage/projection_store.h"

namespace grid::server {

// The projection named `name`, or NOT_FOUND listing the names there are.
absl::StatusOr<const domain::ProjectionDef*> ProjectionDefNamed(const std::string& name);

// A key or prefix a caller sent: up to 512 bytes without NUL or \x01
// (INVALID_ARGUMENT naming `what` otherwise).
absl::Status CheckProjectionKey(absl::string_view what, const std::string& key);

// Adds the row version to `rows` as the caller may see it: nothing when it
// is outside the caller's jurisdiction, redacted to its clearance; derived
// fields as of `as_of`.
absl::Status AddViewRow(const domain::ProjectionDef& def, const storage::ProjectionStore::RowVersion& r,
                        absl::Time as_of, const Reader& caller,
                        google::protobuf::RepeatedPtrField<grid::v1::ProjectionRow>* rows);

// GetProjection's read for `principal` (min_position already waited for).
absl::Status ReadProjection(ServiceContext* env, Projector* projector,
                            const grid::v1::GetProjectionRequest& req, const Principal& principal,
                            grid::v1::GetProjectionResponse* resp);

// ListProjections' answer.
void ListProjectionViews(ServiceContext* env, Projector* projector, grid::v1::ListProjectionsResponse* resp);

}  // namespace grid::server

#endif  // GRID_SERVER_PROJECTIONS_PROJECTION_READ_H_
