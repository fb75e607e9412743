// EtcdClient: the few calls of etcd's v3 API that cluster mode needs, over
// etcd's own gRPC protocol (the stubs built from Debian's etcd .proto files;
// no etcd client library). Every call has a deadline and returns
// absl::Status; what etcd refused (a failed compare) is a result, not an
// error. A call whose outcome is unknown (deadline, connection lost after
// sending) is UNAVAILABLE or DEADLINE_EXCEEDED: the caller settles it by
// reading back, never by guessing.
//
// Any member of the etcd cluster may be named: etcd forwards writes to its
// leader. The channel moves to another endpoint when one fails.
//
// Concurrency: thread-safe (gRPC stubs are).
#ifndef GRID_SERVER_CLUSTER_ETCD_CLIENT_H_
#define GRID_SERVER_CLUSTER_ETCD_CLIENT_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <grpcpp/security/credentials.h>
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

#include "etcd/etcdserver/etcdserverpb/rpc.grpc.pb.h"

namespace grid::server {

struct EtcdOptions {
  // host:port of etcd members, e.g. {"127.0.0.1:2379", "127.0.0.1:22379"}.
  std::vector<std::string> endpoints;
  // Each call's deadline.
  absl::Duration timeout = absl::Seconds(5);
  // TLS (PEM contents): with `ca`, the members' certificates are verified
  // against it; with `cert` and `key`, gridd presents them (etcd
  // --client-cert-auth). With several endpoints, every member's certificate
  // must be valid for the first endpoint's host (name the members by one
  // DNS name to avoid that).
  std::string ca;
  std::string cert;
  std::string key;
};

// A key as etcd stores it.
struct EtcdValue {
  std::string value;
  int64_t mod_revision = 0;     // revision of its last change
  int64_t create_revision = 0;  // revision it was created at
  int64_t lease = 0;            // the lease it is attached to (0: none)
};

class EtcdClient {
 public:
  // INVALID_ARGUMENT without endpoints. Connects lazily.
  static absl::StatusOr<std::unique_ptr<EtcdClient>> Create(EtcdOptions options);

  // The key's value, or nullopt if it does not exist.
  absl::StatusOr<std::optional<EtcdValue>> Get(const std::string& key);
  // Keys in [from, to), in key order, at most `limit` (0: all); with
  // `revision`, the store's revision they were read at.
  absl::StatusOr<std::vector<std::pair<std::string, EtcdValue>>> Range(const std::string& from,
                                                                       const std::string& to,
                                                                       int64_t limit = 0,
                                                                       int64_t* revision = nullptr);
  absl::Status Put(const std::string& key, const std::string& value);
  // The keys in [from, to), without values, in key order (or the reverse),
  // at most `limit`.
  absl::StatusOr<std::vector<std::string>> RangeKeys(const std::string& from, const std::string& to,
                                                     int64_t limit = 0, bool descending = false);
  // Deletes the keys in [from, to): the store's revision after it.
  absl::StatusOr<int64_t> DeleteRange(const std::string& from, const std::string& to);
  // Forgets the store's history before `revision` (watches from before it
  // then fail OUT_OF_RANGE); the space is reusable after a defragment.
  absl::Status Compact(int64_t revision);
  // Defragments every member named in the options, one after another (each
  // is busy meanwhile), returning the first error. Each member's database
  // size before and after, in bytes, if `sizes` is set.
  absl::Status DefragmentMembers(std::vector<std::pair<int64_t, int64_t>>* sizes = nullptr);
  // The database size of the member the client talks to, in bytes.
  absl::StatusOr<int64_t> DatabaseSize();
  // Whether the member the client talks to is its cluster's Raft leader.
  absl::StatusOr<bool> IsLeader();

  // If `key`'s mod revision is `mod_revision` (0: the key does not exist)
  // and `fresh` does not exist, puts every (key, value) of `puts` in one
  // transaction and returns true with the revision it made; otherwise puts
  // nothing, returns false, and `fresh` as it is (in the same transaction).
  struct TxnResult {
    bool succeeded = false;
    int64_t revision = 0;                  // the store's revision after the transaction
    std::optional<EtcdValue> fresh_value;  // when !succeeded
  };
  absl::StatusOr<TxnResult> PutIfUnchanged(const std::string& key, int64_t mod_revision,
                                           const std::string& fresh,
                                           const std::vector<std::pair<std::string, std::string>>& puts);

  // If `key` does not exist, puts `value` attached to `lease` (the key goes
  // when the lease does) and returns true; otherwise false, and `*holder`
  // is the key as it is (read in the same transaction).
  absl::StatusOr<bool> PutIfAbsent(const std::string& key, const std::string& value, int64_t lease,
                                   std::optional<EtcdValue>* holder);

  // A lease of `ttl` (whole seconds, at least 1): its id.
  absl::StatusOr<int64_t> GrantLease(absl::Duration ttl);
  // Renews `lease`: the time it has left, or NOT_FOUND once it expired.
  absl::StatusOr<absl::Duration> KeepAlive(int64_t lease);
  // Ends `lease` now, deleting the keys attached to it.
  absl::Status RevokeLease(int64_t lease);

  // A watch of the keys in [from, to) from `start_revision` on; one reader
  // at a time. Next() waits for the next changes; Cancel() (any thread)
  // ends a Next() that waits, which then fails CANCELLED.
  class Watch {
   public:
    struct Change {
      std::string key;
      EtcdValue value;  // empty value for a delete
      bool deleted = false;
    };
    ~Watch();
    // The next changes in revision order. OUT_OF_RANGE when the watch's
    // start revision was compacted away; UNAVAILABLE when the connection
    // broke (start a new watch).
    absl::StatusOr<std::vector<Change>> Next();
    void Cancel();

   private:
    friend class EtcdClient;
    struct State;
    explicit Watch(std::unique_ptr<State> state);
    std::unique_ptr<State> state_;
  };
  absl::StatusOr<std::unique_ptr<Watch>> WatchRange(const std::string& from, const std::string& to,
                                                    int64_t start_revision);

 private:
  EtcdClient(EtcdOptions options, std::shared_ptr<grpc::Channel> channel,
             std::shared_ptr<grpc::ChannelCredentials> credentials);
  std::unique_ptr<grpc::ClientContext> Context() const;

  const EtcdOptions options_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<etcdserverpb::KV::Stub> kv_;
  std::unique_ptr<etcdserverpb::Lease::Stub> lease_;
  std::unique_ptr<etcdserverpb::Watch::Stub> watch_;
  std::unique_ptr<etcdserverpb::Maintenance::Stub> maintenance_;
  std::shared_ptr<grpc::ChannelCredentials> credentials_;  // for one member's channel
};

}  // namespace grid::server

#endif  // GRID_SERVER_CLUSTER_ETCD_CLIENT_H_
