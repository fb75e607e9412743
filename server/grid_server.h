// GridServer owns a running gridd: the event log, the sequencer, the live
// tail, the application thread pool and the gRPC server. main.cc and the
// test fixture both start one.
//
// Lifecycle: Start() opens the log and listens; Shutdown() stops taking new
// work, ends subscriptions with UNAVAILABLE, lets in-flight appends commit,
// then closes the log. The destructor calls Shutdown().
// Concurrency: Shutdown() may be called from any thread, once or more.
#ifndef GRID_SERVER_GRID_SERVER_H_
#define GRID_SERVER_GRID_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/access/access.h"
#include "server/access/auth.h"
#include "server/dashboard/dashboard.h"
#include "server/log/checkpointer.h"
#include "server/log/live_tail.h"
#include "server/log/validation.h"
#include "server/ops/metrics.h"
#include "server/projections/projector.h"
#include "storage/event_log.h"

namespace grid::server {

// Cluster mode (README, "Cluster mode"); no etcd endpoints: a single node.
struct ClusterOptions {
  // host:port of etcd members.
  std::vector<std::string> etcd_endpoints;
  std::string shard;
  std::string node_id;
  // host:port where clients and other nodes reach this node's gRPC API.
  std::string advertise;
  absl::Duration lease_ttl = absl::Seconds(2);
  // Retention: etcd keeps at most about this many events of the shard
  // beyond what every node has applied (ClusterNode::Options).
  uint64_t tail_events = 100000;
  absl::Duration retention_every = absl::Seconds(5);  // tests make it shorter
  // TLS to etcd (PEM files): with `etcd_ca`, gridd verifies the members'
  // certificates, and presents `etcd_cert` if set.
  std::string etcd_ca_path;
  std::string etcd_cert_path;
  std::string etcd_key_path;
  // How this node reaches its peers when gridd serves TLS (PEM files, or a
  // token file): the peers' CA, this node's certificate and key, or a
  // CLUSTER_NODE principal's bearer token.
  std::string peer_ca_path;
  std::string peer_cert_path;
  std::string peer_key_path;
  std::string peer_token_path;
  bool enabled() const { return !etcd_endpoints.empty(); }
};

struct ServerOptions {
  // host:port. A non-loopback address needs `auth` to authenticate every
  // caller: anything else would serve the log to the network unauthenticated.
  std::string listen = "127.0.0.1:7443";
  AuthOptions auth;
  std::string data_dir = "data";
  storage::EventLogOptions log;
  AppendLimits limits;
  // Check appends against the domain rules (domain/rules.h: the catalog's
  // shape, and each aggregate's rules at commit). Off only for tests of the
  // log's own mechanics.
  bool domain_rules = true;
  LiveTail::Options tail;
  // Application threads for storage reads (Read, Subscribe catch-up).
  int reader_threads = 2;
  // Ed25519 private key (PEM) that signs checkpoints; created if missing.
  // Empty: <data_dir>/signing_key.pem.
  std::string signing_key_path;
  Checkpointer::Options checkpoints;
  Projector::Options projector;
  // Who may do what (access.h); no policy file: dev mode, loopback only.
  AccessOptions access;
  // Secret key of person tokens, created if missing. Empty:
  // <data_dir>/person_key.
  std::string person_key_path;
  // How long a unary call may wait server-side (GetProjection's
  // min_position), whatever the client's deadline.
  absl::Duration unary_deadline = absl::Seconds(10);
  // How long the access audit keeps its records (trimmed hourly, on the
  // pool); zero: forever.
  absl::Duration audit_retention = absl::ZeroDuration();
  // The access audit's storage environment (tests inject failures); null:
  // the default.
  rocksdb::Env* audit_env = nullptr;
  // Audit records that may wait for its writer thread; tests make it small.
  size_t audit_queue = 1 << 16;
  // RocksDB's memory for the event log, the projections and the audit
  // together (storage/memory.h): a block cache holding data, index and
  // filter blocks, of which memtables may take up to storage_memtable_bytes.
  // 0: each database its own cache and RocksDB's memtable defaults.
  size_t storage_cache_bytes = size_t{256} << 20;
  size_t storage_memtable_bytes = size_t{128} << 20;
  // Aggregates' folded states the domain rules keep (server/log/admission.h).
  size_t admission_cache_streams = 100000;
  // Sequencer::Options::pipeline.
  bool pipelined_commits = false;
  ClusterOptions cluster;
  // The department dashboard; no listen address: none.
  DashboardOptions dashboard;
};

class GridServer {
 public:
  static absl::StatusOr<std::unique_ptr<GridServer>> Start(const ServerOptions& options);
  ~GridServer();

  // The bound port (useful with "127.0.0.1:0").
  int port() const;

  // Graceful stop; in-flight calls get up to `grace` before cancellation.
  void Shutdown(absl::Duration grace = absl::Seconds(5));

  // Ready to serve: the log is open and takes writes, and the server is not
  // stopping. Otherwise false with the reason in `why`. /readyz and the gRPC
  // health service both follow it.
  bool Ready(std::string* why) const;

  // Rereads the access policy (SIGHUP). Open streams re-check at once and
  // end with PERMISSION_DENIED if the caller lost the right. On an error the
  // old policy stays.
  absl::Status ReloadPolicy();

  // Every metric: the counters and histograms plus gauges sampled now.
  std::vector<prometheus::MetricFamily> CollectMetrics() const;

  // The dashboard's port; 0 when it is off.
  int dashboard_port() const;

  // For tests.
  storage::EventLog* TEST_log();

 private:
  struct Impl;
  explicit GridServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace grid::server

#endif  // GRID_SERVER_GRID_SERVER_H_
