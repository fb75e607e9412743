#include "client/client.h"

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "grid/v1/log.grpc.pb.h"
#include "grid/v1/projection.grpc.pb.h"

namespace grid::client {
namespace {

absl::Status FromGrpc(const grpc::Status& s) {
  if (s.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
}

// Runs one server-streaming call by method name, parsing each response as
// `Resp`. Used with the typed responses and with their raw twins.
template <typename Resp>
absl::Status StreamCall(const std::shared_ptr<grpc::Channel>& channel, const std::string& method,
                        const google::protobuf::Message& request, grpc::ClientContext* caller_ctx,
                        const std::function<bool(const Resp&)>& on_message) {
  grpc::GenericStub stub(channel);
  grpc::ClientContext own_ctx;
  grpc::ClientContext* ctx = caller_ctx != nullptr ? caller_ctx : &own_ctx;
  grpc::CompletionQueue cq;
  auto call = stub.PrepareCall(ctx, method, &cq);
  void* tag = nullptr;
  bool ok = false;
  auto wait = [&]() { return cq.Next(&tag, &ok) && ok; };

  call->StartCall(reinterpret_cast<void*>(1));
  bool alive = wait();
  if (alive) {
    grpc::Slice slice(request.SerializeAsString());
    grpc::ByteBuffer req(&slice, 1);
    call->Write(req, reinterpret_cast<void*>(2));
    alive = wait();
  }
  if (alive) {
    call->WritesDone(reinterpret_cast<void*>(3));
    alive = wait();
  }
  absl::Status local;
  bool cancelled_by_us = false;
  while (alive) {
    grpc::ByteBuffer bb;
    call->Read(&bb, reinterpret_cast<void*>(4));
    if (!wait()) break;
    std::vector<grpc::Slice> slices;
    std::string data;
    if (bb.Dump(&slices).ok()) {
      for (const auto& s : slices) {
        data.append(reinterpret_cast<const char*>(s.begin()), s.size());
      }
    }
    Resp msg;
    if (!msg.ParseFromString(data)) {
      local = absl::DataLossError("a response message does not parse");
      ctx->TryCancel();
      cancelled_by_us = true;
      break;
    }
    if (!on_message(msg)) {
      ctx->TryCancel();
      cancelled_by_us = true;
      break;
    }
  }
  grpc::Status status;
  call->Finish(&status, reinterpret_cast<void*>(5));
  cq.Next(&tag, &ok);
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
  if (!local.ok()) return local;
  if (cancelled_by_us) return absl::OkStatus();
  return FromGrpc(status);
}

}  // namespace

std::unique_ptr<Client> Client::Connect(const std::string& target, const Credentials& credentials) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  std::shared_ptr<grpc::ChannelCredentials> channel = grpc::InsecureChannelCredentials();
  if (credentials.tls()) {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = credentials.ca_pem;
    ssl.pem_cert_chain = credentials.cert_pem;
    ssl.pem_private_key = credentials.key_pem;
    channel = grpc::SslCredentials(ssl);
    if (!credentials.token.empty()) {
      channel = grpc::CompositeChannelCredentials(channel, grpc::AccessTokenCredentials(credentials.token));
    }
  }
  return std::make_unique<Client>(grpc::CreateCustomChannel(target, channel, args));
}

Client::Client(std::shared_ptr<grpc::Channel> channel) : channel_(std::move(channel)) {}
Client::~Client() = default;

absl::StatusOr<grid::v1::AppendResponse> Client::Append(const grid::v1::AppendRequest& request) {
  auto stub = grid::v1::Log::NewStub(channel_);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(timeout_));
  grid::v1::AppendResponse resp;
  grpc::Status s = stub->Append(&ctx, request, &resp);
  if (!s.ok()) return FromGrpc(s);
  return resp;
}

absl::StatusOr<grid::v1::LogStatus> Client::GetStatus() {
  auto stub = grid::v1::Log::NewStub(channel_);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(timeout_));
  grid::v1::LogStatus resp;
  grpc::Status s = stub->GetStatus(&ctx, grid::v1::GetStatusRequest(), &resp);
  if (!s.ok()) return FromGrpc(s);
  return resp;
}

absl::StatusOr<std::vector<grid::v1::SignedCheckpoint>> Client::ListCheckpoints(storage::Position from) {
  auto stub = grid::v1::Log::NewStub(channel_);
  std::vector<grid::v1::SignedCheckpoint> out;
  for (;;) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(timeout_));
    grid::v1::ListCheckpointsRequest req;
    req.set_from_position(from);
    req.set_max_count(1000);
    grid::v1::ListCheckpointsResponse resp;
    grpc::Status s = stub->ListCheckpoints(&ctx, req, &resp);
    if (!s.ok()) return FromGrpc(s);
    for (auto& cp : *resp.mutable_checkpoints()) out.push_back(std::move(cp));
    if (resp.checkpoints_size() < 1000) return out;
    from = out.back().position() + 1;
  }
}

absl::StatusOr<grid::v1::GetProjectionResponse> Client::GetProjection(
    const grid::v1::GetProjectionRequest& request) {
  auto stub = grid::v1::Projections::NewStub(channel_);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(timeout_));
  grid::v1::GetProjectionResponse resp;
  grpc::Status s = stub->GetProjection(&ctx, request, &resp);
  if (!s.ok()) return FromGrpc(s);
  return resp;
}

absl::StatusOr<grid::v1::ListProjectionsResponse> Client::ListProjections() {
  auto stub = grid::v1::Projections::NewStub(channel_);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(timeout_));
  grid::v1::ListProjectionsResponse resp;
  grpc::Status s = stub->ListProjections(&ctx, grid::v1::ListProjectionsRequest(), &resp);
  if (!s.ok()) return FromGrpc(s);
  return resp;
}

absl::StatusOr<grid::v1::PrefillFormResponse> Client::PrefillForm(
    const grid::v1::PrefillFormRequest& request) {
  auto stub = grid::v1::Projections::NewStub(channel_);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(timeout_));
  grid::v1::PrefillFormResponse resp;
  grpc::Status s = stub->PrefillForm(&ctx, request, &resp);
  if (!s.ok()) return FromGrpc(s);
  return resp;
}

absl::Status Client::RebuildProjection(const std::string& name) {
  auto stub = grid::v1::Projections::NewStub(channel_);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(timeout_));
  grid::v1::RebuildProjectionRequest req;
  req.set_name(name);
  grid::v1::RebuildProjectionResponse resp;
  grpc::Status s = stub->RebuildProjection(&ctx, req, &resp);
  return s.ok() ? absl::OkStatus() : FromGrpc(s);
}

absl::Status Client::SubscribeProjection(
    const grid::v1::SubscribeProjectionRequest& request,
    const std::function<bool(const grid::v1::SubscribeProjectionResponse&)>& on_message,
    grpc::ClientContext* context) {
  return StreamCall<grid::v1::SubscribeProjectionResponse>(
      channel_, "/grid.v1.Projections/SubscribeProjection", request, context, on_message);
}

absl::Status Client::Backup(const std::function<bool(const grid::v1::BackupChunk&)>& on_message) {
  return StreamCall<grid::v1::BackupChunk>(channel_, "/grid.v1.Admin/Backup", grid::v1::BackupRequest(),
                                           nullptr, on_message);
}

absl::Status Client::ReadAudit(const grid::v1::ReadAuditRequest& request,
                               const std::function<bool(const grid::v1::ReadAuditResponse&)>& on_message) {
  return StreamCall<grid::v1::ReadAuditResponse>(channel_, "/grid.v1.Admin/ReadAudit", request, nullptr,
                                                 on_message);
}

absl::Status Client::Read(const grid::v1::ReadRequest& request,
                          const std::function<bool(const grid::v1::ReadResponse&)>& on_message) {
  return StreamCall<grid::v1::ReadResponse>(channel_, "/grid.v1.Log/Read", request, nullptr, on_message);
}

absl::Status Client::ReadRaw(const grid::v1::ReadRequest& request,
                             const std::function<bool(const grid::v1::RawReadResponse&)>& on_message) {
  return StreamCall<grid::v1::RawReadResponse>(channel_, "/grid.v1.Log/Read", request, nullptr, on_message);
}

absl::Status Client::Subscribe(const grid::v1::SubscribeRequest& request,
                               const std::function<bool(const grid::v1::SubscribeResponse&)>& on_message,
                               grpc::ClientContext* context) {
  return StreamCall<grid::v1::SubscribeResponse>(channel_, "/grid.v1.Log/Subscribe", request, context,
                                                 on_message);
}

absl::Status Client::SubscribeRaw(
    const grid::v1::SubscribeRequest& request,
    const std::function<bool(const grid::v1::RawSubscribeResponse&)>& on_message,
    grpc::ClientContext* context) {
  return StreamCall<grid::v1::RawSubscribeResponse>(channel_, "/grid.v1.Log/Subscribe", request, context,
                                                    on_message);
}

absl::Status ChainVerifier::Add(std::string_view wire) {
  auto parts = storage::SplitWire(wire);
  if (!parts.ok()) {
    return absl::DataLossError(absl::StrCat("position ", next_, ": ", parts.status().message()));
  }
  auto position = storage::StoredPosition(parts->stored);
  if (!position.ok()) {
    return absl::DataLossError(absl::StrCat("position ", next_, ": record does not parse"));
  }
  if (*position != next_) {
    return absl::DataLossError(absl::StrCat("position ", next_, ": record says position ", *position));
  }
  const storage::Digest expect = storage::ChainLink(chain_, next_, parts->stored);
  if (expect != parts->chain) {
    return absl::DataLossError(absl::StrCat("position ", next_, ": chain does not recompute (record has ",
                                            storage::ToHex(parts->chain), ", recomputed ",
                                            storage::ToHex(expect), ")"));
  }
  chain_ = expect;
  ++next_;
  return absl::OkStatus();
}

}  // namespace grid::client
