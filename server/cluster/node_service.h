// NodeService: grid.cluster.v1.Node, what the gridd nodes of one shard ask
// each other: Append, the appends other nodes admitted and forward to this
// node while it is the shard's writer; ReadLog, this node's log for a peer
// that is behind what etcd keeps. Only CLUSTER_NODE principals may call it
// (access_policy.h); on a single node it answers FAILED_PRECONDITION.
//
// Concurrency: thread-safe, like every gRPC service here.
#ifndef GRID_SERVER_CLUSTER_NODE_SERVICE_H_
#define GRID_SERVER_CLUSTER_NODE_SERVICE_H_

#include <string>

#include "grid/cluster/v1/node.grpc.pb.h"
#include "server/service/service_context.h"

namespace grid::server {

class NodeService final : public grid::cluster::v1::Node::CallbackService {
 public:
  // `env` must outlive the service; `shard` is "" on a single node.
  NodeService(ServiceContext* env, std::string shard) : env_(env), shard_(std::move(shard)) {}

  // The writer's verdict on the forwarded append is in the answer, as the
  // original caller gets it; an RPC error means there is none (not a
  // CLUSTER_NODE, another shard, shutting down).
  grpc::ServerUnaryReactor* Append(grpc::CallbackServerContext* ctx,
                                   const grid::cluster::v1::ForwardedAppend* request,
                                   grid::cluster::v1::ForwardedAppendResult* result) override;
  grpc::ServerWriteReactor<grid::cluster::v1::ReadLogResponse>* ReadLog(
      grpc::CallbackServerContext* ctx, const grid::cluster::v1::ReadLogRequest* request) override;

 private:
  ServiceContext* const env_;
  const std::string shard_;
};

}  // namespace grid::server

#endif  // GRID_SERVER_CLUSTER_NODE_SERVICE_H_
