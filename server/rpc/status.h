// The RPC edge: the one place an absl::Status becomes a grpc::Status, the
// one reactor that ends a streaming call at once, and the one answer of a
// server that is shutting down. Services build their errors as absl::Status
// (validation, storage, access) and translate them here, when they finish.
#ifndef GRID_SERVER_RPC_STATUS_H_
#define GRID_SERVER_RPC_STATUS_H_

#include <grpcpp/grpcpp.h>
#include <grpcpp/support/byte_buffer.h>

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "storage/shutdown.h"

namespace grid::server {

// absl and gRPC share their status codes (both are google.rpc.Code).
static_assert(static_cast<int>(absl::StatusCode::kFailedPrecondition) ==
              static_cast<int>(grpc::StatusCode::FAILED_PRECONDITION));
static_assert(static_cast<int>(absl::StatusCode::kDataLoss) == static_cast<int>(grpc::StatusCode::DATA_LOSS));
static_assert(static_cast<int>(absl::StatusCode::kUnauthenticated) ==
              static_cast<int>(grpc::StatusCode::UNAUTHENTICATED));

inline grpc::Status ToGrpc(const absl::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), std::string(s.message()));
}

// A call this server made (to etcd, to another node), in our terms; `what`
// names the call in the message.
inline absl::Status FromGrpc(const grpc::Status& s, absl::string_view what) {
  if (s.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()),
                      absl::StrCat(what, ": ", s.error_message()));
}

// What every new call gets once shutdown began (storage/shutdown.h).
using grid::ShuttingDown;

// A server-streaming call ended at once with an error, before any message.
template <class Message>
class FailedStream final : public grpc::ServerWriteReactor<Message> {
 public:
  explicit FailedStream(const absl::Status& s) { this->Finish(ToGrpc(s)); }
  void OnDone() override { delete this; }
};

// Parses a raw method's request. False if the bytes are not a `T`.
template <typename T>
bool ParseRequest(const grpc::ByteBuffer* bb, T* out) {
  std::vector<grpc::Slice> slices;
  if (!bb->Dump(&slices).ok()) return false;
  std::string data;
  for (const auto& s : slices) data.append(reinterpret_cast<const char*>(s.begin()), s.size());
  return out->ParseFromString(data);
}

}  // namespace grid::server

#endif  // GRID_SERVER_RPC_STATUS_H_
