// PeerClient: how a gridd node calls the other nodes of its shard
// (grid.cluster.v1.Node): it hands the appends it admitted to the writer,
// so that clients need only one address, and reads a peer's log when it is
// behind what etcd keeps. One channel to the writer as last known (a new
// one when the writer changes); a channel per call for log reads.
//
// Concurrency: thread-safe. Forward() never blocks: the answer comes on one
// of gRPC's threads. ReadLog() blocks (the applier's thread calls it).
#ifndef GRID_SERVER_CLUSTER_PEER_CLIENT_H_
#define GRID_SERVER_CLUSTER_PEER_CLIENT_H_

#include <grpcpp/grpcpp.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grid/cluster/v1/node.grpc.pb.h"
#include "storage/event_log.h"
#include "storage/sync.h"

namespace grid::server {

class PeerClient {
 public:
  struct Options {
    std::string shard;
    std::string node_id;  // this node, named to the writer
    // How the writer is reached: TLS with this node's certificate (or a
    // token, below) when gridd serves TLS; insecure on a loopback cluster.
    std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
    // A CLUSTER_NODE principal's bearer token, or null.
    std::shared_ptr<grpc::CallCredentials> call_credentials;
    // How long the writer has to answer: a commit is an etcd transaction,
    // and an unknown outcome is read back for a few seconds.
    absl::Duration timeout = absl::Seconds(15);
  };

  // The credentials of Options from PEM files (any may be empty: then
  // insecure, or no client certificate) and a token file. Reads the files.
  static absl::StatusOr<Options> Credentials(Options options, const std::string& ca_path,
                                             const std::string& cert_path, const std::string& key_path,
                                             const std::string& token_path);

  explicit PeerClient(Options options) : options_(std::move(options)) {}

  // Sends `batch` to `writer_node` at `address`. `done` gets the writer's
  // verdict (what a local commit would have given), or UNAVAILABLE when it
  // is unknown (not reached, no answer in time, or the writer refused this
  // node's credentials): the message says so, and that a retry with the
  // same event ids is safe.
  void Forward(const std::string& writer_node, const std::string& address, storage::AppendBatch batch,
               absl::AnyInvocable<void(storage::AppendOutcome) &&> done);

  // Reads the log of the node at `address`, positions `from`..`to`: `apply`
  // gets each message's records in order (first position, wire records)
  // and may stop the read by returning an error, which is returned. A peer
  // that stops answering is given up when its connection's keepalive fails
  // (UNAVAILABLE). OUT_OF_RANGE if that node does not hold `from`.
  absl::Status ReadLog(const std::string& address, uint64_t from, uint64_t to,
                       const std::function<absl::Status(uint64_t, std::vector<std::string>)>& apply);

 private:
  std::shared_ptr<grid::cluster::v1::Node::Stub> StubFor(const std::string& address);
  std::shared_ptr<grpc::Channel> NewChannel(const std::string& address) const;

  const Options options_;
  grid::Mutex mu_;
  std::string address_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<grid::cluster::v1::Node::Stub> stub_ ABSL_GUARDED_BY(mu_);
};

}  // namespace grid::server

#endif  // GRID_SERVER_CLUSTER_PEER_CLIENT_H_
