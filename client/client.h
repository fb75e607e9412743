// A small synchronous client for grid.v1.Log, used by gridctl and the tests.
//
//   auto client = grid::client::Client::Connect("127.0.0.1:7443");
//   grid::v1::AppendRequest req;  ...
//   absl::StatusOr<grid::v1::AppendResponse> resp = client->Append(req);
//
// Streaming calls deliver each message to a callback on the calling thread;
// returning false from it ends the call early (OK). Errors keep the server's
// gRPC code as the absl code.
//
// Concurrency: a Client is safe for concurrent use; each call is independent.
#ifndef GRID_CLIENT_CLIENT_H_
#define GRID_CLIENT_CLIENT_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grid/v1/admin.pb.h"
#include "grid/v1/log.pb.h"
#include "grid/v1/projection.pb.h"
#include "storage/record.h"

namespace grpc {
class Channel;
class ClientContext;
}  // namespace grpc

namespace grid::client {

// How to reach and prove who we are to a gridd with authentication.
struct Credentials {
  std::string token;     // bearer token, sent as `authorization: Bearer …`
  std::string ca_pem;    // CAs to verify the server's certificate (TLS)
  std::string cert_pem;  // client certificate chain (mutual TLS)
  std::string key_pem;   // its private key
  bool tls() const { return !ca_pem.empty() || !cert_pem.empty(); }
};

class Client {
 public:
  // Connects lazily to `target` ("host:port"): plaintext without
  // credentials, TLS when `credentials` has a CA or a certificate. A token
  // is only ever sent over TLS.
  static std::unique_ptr<Client> Connect(const std::string& target, const Credentials& credentials = {});
  explicit Client(std::shared_ptr<grpc::Channel> channel);
  ~Client();

  // Per-call deadline for unary calls (default 30 s).
  void set_timeout(absl::Duration d) { timeout_ = d; }
  // For callers that drive their own (e.g. asynchronous) stubs.
  const std::shared_ptr<grpc::Channel>& channel() const { return channel_; }

  absl::StatusOr<grid::v1::AppendResponse> Append(const grid::v1::AppendRequest& request);
  absl::StatusOr<grid::v1::LogStatus> GetStatus();
  // Every signed checkpoint with position >= `from` (all pages).
  absl::StatusOr<std::vector<grid::v1::SignedCheckpoint>> ListCheckpoints(storage::Position from);

  absl::Status Read(const grid::v1::ReadRequest& request,
                    const std::function<bool(const grid::v1::ReadResponse&)>& on_message);
  // The same call, keeping each event as the exact bytes the server sent.
  absl::Status ReadRaw(const grid::v1::ReadRequest& request,
                       const std::function<bool(const grid::v1::RawReadResponse&)>& on_message);

  // Runs until `on_message` returns false, the server ends the stream, or
  // `context` (optional, owned by the caller) is cancelled from another thread.
  absl::Status Subscribe(const grid::v1::SubscribeRequest& request,
                         const std::function<bool(const grid::v1::SubscribeResponse&)>& on_message,
                         grpc::ClientContext* context = nullptr);
  // The same call, keeping each event as the bytes the server sent.
  absl::Status SubscribeRaw(const grid::v1::SubscribeRequest& request,
                            const std::function<bool(const grid::v1::RawSubscribeResponse&)>& on_message,
                            grpc::ClientContext* context = nullptr);

  // Projections (grid.v1.Projections).
  absl::StatusOr<grid::v1::GetProjectionResponse> GetProjection(
      const grid::v1::GetProjectionRequest& request);
  absl::StatusOr<grid::v1::ListProjectionsResponse> ListProjections();
  absl::Status RebuildProjection(const std::string& name);
  // A form task's fields for one unit, prefilled from shared_facts.
  absl::StatusOr<grid::v1::PrefillFormResponse> PrefillForm(const grid::v1::PrefillFormRequest& request);
  // Snapshot then changes; runs like Subscribe().
  absl::Status SubscribeProjection(
      const grid::v1::SubscribeProjectionRequest& request,
      const std::function<bool(const grid::v1::SubscribeProjectionResponse&)>& on_message,
      grpc::ClientContext* context = nullptr);

  // Admin (grid.v1.Admin): a backup's chunks, then its manifest.
  absl::Status Backup(const std::function<bool(const grid::v1::BackupChunk&)>& on_message);
  // The access audit (auditors only), in order, to its end.
  absl::Status ReadAudit(const grid::v1::ReadAuditRequest& request,
                         const std::function<bool(const grid::v1::ReadAuditResponse&)>& on_message);

 private:
  std::shared_ptr<grpc::Channel> channel_;
  absl::Duration timeout_ = absl::Seconds(30);
};

// Recomputes the hash chain over wire records given in position order and
// names the first position where it breaks. Not thread-safe.
class ChainVerifier {
 public:
  // `first` is the position of the first record to come; `prev` the chain
  // value of the record before it (kGenesisChain when first == 1).
  explicit ChainVerifier(storage::Position first = 1, storage::Digest prev = storage::kGenesisChain)
      : next_(first), chain_(prev) {}

  // DATA_LOSS naming the position if the record is malformed, is not the
  // next position, or its chain does not recompute.
  absl::Status Add(std::string_view wire);

  storage::Position next() const { return next_; }
  const storage::Digest& chain() const { return chain_; }

 private:
  storage::Position next_;
  storage::Digest chain_;
};

}  // namespace grid::client

#endif  // GRID_CLIENT_CLIENT_H_
