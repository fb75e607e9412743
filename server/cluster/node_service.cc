#include "server/cluster/node_service.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "domain/rules.h"
#include "server/cluster/forwarded.h"

namespace grid::server {
namespace {

// This node's log as stored, a bounded message at a time.
class LogShipper final : public ServiceWriter<grid::cluster::v1::ReadLogResponse> {
 public:
  LogShipper(ServiceContext* env, uint64_t from, uint64_t to)
      : ServiceWriter<grid::cluster::v1::ReadLogResponse>(env, env->tail), next_(from), to_(to) {}

 private:
  Step Next() override {
    constexpr size_t kMaxRecords = 1000;
    constexpr size_t kMaxBytes = 1 << 20;
    Step step;
    const uint64_t head = env_->log->GetHead().position;
    const uint64_t last = to_ == 0 ? head : std::min(to_, head);
    if (next_ > last) {
      step.status = grpc::Status::OK;
      return step;
    }
    auto records =
        env_->log->ReadAll(next_, storage::Direction::kForwards,
                           static_cast<size_t>(std::min<uint64_t>(kMaxRecords, last - next_ + 1)), kMaxBytes);
    if (!records.ok() || records->empty()) {
      step.status = records.ok() ? grpc::Status::OK : ToGrpc(records.status());
      return step;
    }
    step.message.set_first_position(next_);
    for (const storage::RecordPtr& r : *records) step.message.add_records(r->wire);
    next_ = records->back()->position + 1;
    access_->AddItems(records->size());
    step.kind = Step::kWrite;
    return step;
  }

  uint64_t next_;
  const uint64_t to_;
};

}  // namespace

grpc::ServerUnaryReactor* NodeService::Append(grpc::CallbackServerContext* ctx,
                                              const grid::cluster::v1::ForwardedAppend* request,
                                              grid::cluster::v1::ForwardedAppendResult* result) {
  auto* reactor = ctx->DefaultReactor();
  if (env_->stopping.load()) {
    reactor->Finish(ToGrpc(ShuttingDown()));
    return reactor;
  }
  auto call = BeginUnary(env_, ctx, reactor, Rpc::kForwardAppend,
                         absl::StrCat("from=", request->from_node().substr(0, 64),
                                      " for=", request->actor().principal().substr(0, 128),
                                      " stream=", request->request().stream().substr(0, 256),
                                      " events=", request->request().events_size()));
  if (call == nullptr) return reactor;
  if (env_->cluster == nullptr || shard_.empty()) {
    FinishUnary(reactor, call.get(),
                ToGrpc(absl::FailedPreconditionError("this gridd is a single node, not in cluster mode")));
    return reactor;
  }
  if (request->shard() != shard_) {
    FinishUnary(reactor, call.get(),
                ToGrpc(absl::InvalidArgumentError(absl::StrCat("this node serves shard ", shard_, ", not ",
                                                               request->shard().substr(0, 64)))));
    return reactor;
  }
  // The verdict goes in the answer; the audit records it as the outcome.
  auto verdict = [reactor, result, call](const storage::AppendOutcome& out) {
    *result = ToResult(out);
    if (out.status.ok()) call->AddItems(out.events.size());
    call->Done(ToGrpc(out.status));
    reactor->Finish(grpc::Status::OK);
  };
  if (absl::Status writer = env_->cluster->CheckWriter(); !writer.ok()) {
    verdict({.status = writer});
    return reactor;
  }
  auto batch = FromForwarded(*request);
  if (!batch.ok()) {
    verdict({.status = batch.status()});
    return reactor;
  }
  std::vector<std::string> orgs;
  for (const auto& e : batch->events) {
    for (std::string& o : domain::TouchedOrgPaths(e)) {
      if (std::find(orgs.begin(), orgs.end(), o) == orgs.end()) orgs.push_back(std::move(o));
    }
  }
  call->set_org_paths(std::move(orgs));
  env_->sequencer->Submit(*std::move(batch), std::move(verdict));
  return reactor;
}

grpc::ServerWriteReactor<grid::cluster::v1::ReadLogResponse>* NodeService::ReadLog(
    grpc::CallbackServerContext* ctx, const grid::cluster::v1::ReadLogRequest* request) {
  using Failed = FailedStream<grid::cluster::v1::ReadLogResponse>;
  if (env_->stopping.load()) return new Failed(ShuttingDown());
  auto call = BeginCall(env_, ctx, Rpc::kReadLog,
                        absl::StrCat("from=", request->from_position(), " to=", request->to_position()));
  if (!call.ok()) return new Failed(call.status());
  absl::Status refused;
  const uint64_t head = env_->log->GetHead().position;
  if (env_->cluster == nullptr || shard_.empty()) {
    refused = absl::FailedPreconditionError("this gridd is a single node, not in cluster mode");
  } else if (request->shard() != shard_) {
    refused = absl::InvalidArgumentError(
        absl::StrCat("this node serves shard ", shard_, ", not ", request->shard().substr(0, 64)));
  } else if (request->from_position() == 0) {
    refused = absl::InvalidArgumentError("positions start at 1");
  } else if (request->from_position() > head + 1) {
    refused = absl::OutOfRangeError(
        absl::StrCat("this node's log holds positions through ", head, ", not ", request->from_position()));
  }
  if (!refused.ok()) {
    (*call)->Done(ToGrpc(refused));
    return new Failed(refused);
  }
  auto* w = new LogShipper(env_, request->from_position(), request->to_position());
  StartAfterIntent(w, *std::move(call));  // once the intent is recorded
  return w;
}

}  // namespace grid::server
