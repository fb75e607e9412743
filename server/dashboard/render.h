// What the dashboard sends, rendered from what the gRPC calls answer: JSON
// in protobuf's mapping (as `gridctl --output json` prints it) and CSV.
#ifndef GRID_SERVER_DASHBOARD_RENDER_H_
#define GRID_SERVER_DASHBOARD_RENDER_H_

#include <google/protobuf/message.h>

#include <string>

#include "grid/v1/projection.pb.h"

namespace grid::server {

// protobuf's JSON with the .proto field names; fields left unset (or
// redacted, or suppressed) are absent.
std::string ToJson(const google::protobuf::Message& m);

// The rows as CSV (RFC 4180, UTF-8 with a byte-order mark so that
// spreadsheet programs read Chinese right): key, position, then one column
// per field path set in any row ("households", "pending.0.stage"),
// `redacted` and `suppressed`. A cell that a spreadsheet would take for a
// formula (= + - @ at its start) is prefixed with ' (CSV injection).
std::string RowsToCsv(const google::protobuf::RepeatedPtrField<grid::v1::ProjectionRow>& rows);

}  // namespace grid::server

#endif  // GRID_SERVER_DASHBOARD_RENDER_H_
