#include "server/cluster/peer_client.h"

#include <spdlog/spdlog.h>

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "server/cluster/forwarded.h"
#include "server/ops/json_file.h"
#include "server/rpc/status.h"

namespace grid::server {
namespace {

// One forwarded append in flight: what gRPC's callback needs to outlive
// the call.
struct Call {
  grpc::ClientContext ctx;
  grid::cluster::v1::ForwardedAppend request;
  grid::cluster::v1::ForwardedAppendResult result;
  std::shared_ptr<grid::cluster::v1::Node::Stub> stub;  // keeps the channel
  std::string writer;
  std::string address;
  std::string node_id;  // this node
  absl::AnyInvocable<void(storage::AppendOutcome) &&> done;
};

}  // namespace

absl::StatusOr<PeerClient::Options> PeerClient::Credentials(Options options, const std::string& ca_path,
                                                            const std::string& cert_path,
                                                            const std::string& key_path,
                                                            const std::string& token_path) {
  if (ca_path.empty()) return options;  // a loopback cluster without TLS
  grpc::SslCredentialsOptions ssl;
  auto ca = ReadSettingFile(ca_path, "cluster_peer_ca");
  if (!ca.ok()) return ca.status();
  ssl.pem_root_certs = *std::move(ca);
  if (!token_path.empty()) {
    auto token = ReadSettingFile(token_path, "cluster_peer_token_file");
    if (!token.ok()) return token.status();
    const std::string t(absl::StripAsciiWhitespace(*token));
    if (t.empty())
      return absl::InvalidArgumentError(absl::StrCat("cluster_peer_token_file: ", token_path, " is empty"));
    options.call_credentials = grpc::AccessTokenCredentials(t);
  } else if (!cert_path.empty()) {
    auto cert = ReadSettingFile(cert_path, "cluster_peer_cert");
    if (!cert.ok()) return cert.status();
    auto key = ReadSettingFile(key_path, "cluster_peer_key");
    if (!key.ok()) return key.status();
    ssl.pem_cert_chain = *std::move(cert);
    ssl.pem_private_key = *std::move(key);
  }
  options.credentials = grpc::SslCredentials(ssl);
  return options;
}

std::shared_ptr<grpc::Channel> PeerClient::NewChannel(const std::string& address) const {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  args.SetMaxReceiveMessageSize(64 << 20);
  // A peer that stops answering (paused, cut off) fails its calls instead
  // of holding them: within the server's ping policy (one per 10 s).
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 20000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10000);
  return grpc::CreateCustomChannel(address, options_.credentials, args);
}

std::shared_ptr<grid::cluster::v1::Node::Stub> PeerClient::StubFor(const std::string& address) {
  grid::MutexLock l(&mu_);
  if (stub_ == nullptr || address_ != address) {
    stub_ = grid::cluster::v1::Node::NewStub(NewChannel(address));
    address_ = address;
  }
  return stub_;
}

absl::Status PeerClient::ReadLog(
    const std::string& address, uint64_t from, uint64_t to,
    const std::function<absl::Status(uint64_t, std::vector<std::string>)>& apply) {
  auto stub = grid::cluster::v1::Node::NewStub(NewChannel(address));
  grpc::ClientContext ctx;
  if (options_.call_credentials != nullptr) ctx.set_credentials(options_.call_credentials);
  grid::cluster::v1::ReadLogRequest req;
  req.set_shard(options_.shard);
  req.set_from_position(from);
  req.set_to_position(to);
  auto reader = stub->ReadLog(&ctx, req);
  grid::cluster::v1::ReadLogResponse msg;
  absl::Status stopped;
  while (reader->Read(&msg)) {
    std::vector<std::string> wires(std::make_move_iterator(msg.mutable_records()->begin()),
                                   std::make_move_iterator(msg.mutable_records()->end()));
    stopped = apply(msg.first_position(), std::move(wires));
    if (!stopped.ok()) {
      ctx.TryCancel();
      while (reader->Read(&msg)) {
      }
      break;
    }
  }
  const grpc::Status s = reader->Finish();
  if (!stopped.ok()) return stopped;
  return FromGrpc(s, absl::StrCat("reading the log of the node at ", address));
}

void PeerClient::Forward(const std::string& writer_node, const std::string& address,
                         storage::AppendBatch batch,
                         absl::AnyInvocable<void(storage::AppendOutcome) &&> done) {
  auto* call = new Call;
  call->request = ToForwarded(std::move(batch), options_.shard, options_.node_id);
  call->stub = StubFor(address);
  call->writer = writer_node;
  call->address = address;
  call->node_id = options_.node_id;
  call->done = std::move(done);
  call->ctx.set_deadline(absl::ToChronoTime(absl::Now() + options_.timeout));
  if (options_.call_credentials != nullptr) call->ctx.set_credentials(options_.call_credentials);
  call->stub->async()->Append(&call->ctx, &call->request, &call->result, [call](grpc::Status s) {
    storage::AppendOutcome out;
    if (s.ok()) {
      out = FromResult(call->result);
    } else if (s.error_code() == grpc::StatusCode::PERMISSION_DENIED ||
               s.error_code() == grpc::StatusCode::UNAUTHENTICATED) {
      // Nothing was committed, but nothing the caller can change helps: the
      // operator must give this node a CLUSTER_NODE principal there.
      spdlog::error(
          "cluster: the writer node {} at {} refuses appends forwarded by node {}: {} (this node's "
          "certificate or token must be a CLUSTER_NODE principal of the writer's access policy)",
          call->writer, call->address, call->node_id, s.error_message());
      out.status = absl::UnavailableError(
          absl::StrCat("node ", call->node_id, " cannot forward appends to the shard's writer, node ",
                       call->writer, ": it refuses this node's credentials; nothing was appended"));
    } else {
      out.status = absl::UnavailableError(absl::StrCat(
          "the shard's writer, node ", call->writer, " at ", call->address, ", did not answer (",
          s.error_message(),
          "); whether the append was committed is unknown: retry it unchanged (its event ids make a retry "
          "safe)"));
    }
    std::move(call->done)(std::move(out));
    delete call;
  });
}

}  // namespace grid::server
