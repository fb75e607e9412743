#include <utility>  // before Boost.Asio (GCC 12 + C++20)

#include "server/grid_server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>

#include <sys/stat.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <limits>
#include <tuple>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "server/admin/admin_service.h"
#include "server/cluster/cluster_node.h"
#include "server/cluster/etcd_client.h"
#include "server/cluster/node_service.h"
#include "server/cluster/peer_client.h"
#include "server/log/admission.h"
#include "server/log/log_service.h"
#include "server/ops/json_file.h"
#include "server/projections/prefill.h"
#include "server/projections/projection_service.h"
#include "server/projections/projector.h"
#include "server/rpc_observer.h"
#include "storage/audit_log.h"
#include "storage/checkpoint.h"
#include "storage/memory.h"
#include "storage/sync.h"

namespace grid::server {

namespace {

// The first position appended with unknown fields refused, kept in
// `<data_dir>/checked_from`: written as head + 1 by the first server that
// refuses them, so a log written before (or restored from a backup, which
// does not carry the file) is treated as unchecked up to its head, never
// the other way round.
// The data directory is its owner's only (0700), whoever created it; a
// secret file that other users may read is refused.
absl::Status ProtectFiles(const ServerOptions& o) {
  std::error_code ec;
  std::filesystem::create_directories(o.data_dir, ec);
  if (ec) return absl::UnavailableError(absl::StrCat("cannot create ", o.data_dir, ": ", ec.message()));
  struct stat st;
  if (::stat(o.data_dir.c_str(), &st) == 0 && (st.st_mode & 077) != 0) {
    if (::chmod(o.data_dir.c_str(), 0700) != 0) {
      return absl::UnavailableError(absl::StrCat("cannot make ", o.data_dir, " private (chmod 700)"));
    }
    spdlog::warn("{} was open to other users (mode {:o}); made it 0700", o.data_dir, st.st_mode & 0777);
  }
  // gridd's own keys are its user's only. The TLS key may be readable by
  // its group (Debian's ssl-cert convention: 0640 root:ssl-cert), no more.
  const std::pair<std::string, mode_t> keys[] = {
      {o.person_key_path.empty() ? o.data_dir + "/person_key" : o.person_key_path, 077},
      {o.signing_key_path.empty() ? o.data_dir + "/signing_key.pem" : o.signing_key_path, 077},
      {o.auth.tls_key_path, S_IWGRP | S_IXGRP | 07}};
  for (const auto& [key, forbidden] : keys) {
    if (key.empty() || ::stat(key.c_str(), &st) != 0) continue;
    if ((st.st_mode & forbidden) != 0) {
      return absl::FailedPreconditionError(absl::StrCat(
          key, " is a secret key that other users may read or change (mode ",
          absl::StrFormat("%o", st.st_mode & 0777), "); chmod it ", forbidden == 077 ? "600" : "600 or 640"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<storage::Position> CheckedFrom(const std::string& data_dir, storage::Position head) {
  const std::string path = data_dir + "/checked_from";
  if (std::ifstream in(path); in) {
    storage::Position p = 0;
    if (!(in >> p) || p == 0) {
      return absl::DataLossError(absl::StrCat(path,
                                              " does not hold a position; remove it (the server "
                                              "then treats the log up to its head as unchecked)"));
    }
    return p;
  }
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << head + 1 << "\n";
    if (!out.flush()) return absl::UnavailableError(absl::StrCat("cannot write ", tmp));
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) return absl::UnavailableError(absl::StrCat("cannot write ", path, ": ", ec.message()));
  return head + 1;
}

}  // namespace

struct GridServer::Impl {
  // First, so that it outlives every database that charges it.
  storage::StorageMemory memory;
  ServerMetrics metrics;
  CallsInFlight calls;
  std::unique_ptr<storage::AuditLog> audit;
  std::unique_ptr<AccessControl> access;
  std::unique_ptr<storage::EventLog> log;
  std::unique_ptr<storage::Signer> signer;
  std::unique_ptr<Checkpointer> checkpointer;
  std::unique_ptr<DomainAdmission> admission;  // null: rules off
  std::unique_ptr<LiveTail> tail;
  std::unique_ptr<Sequencer> sequencer;
  // Cluster mode (null on a single node); stopped before the sequencer.
  std::unique_ptr<EtcdClient> etcd;
  std::unique_ptr<PeerClient> peers;
  std::unique_ptr<ClusterNode> cluster;
  std::unique_ptr<boost::asio::thread_pool> pool;
  std::unique_ptr<WorkerGrids> worker_grids;
  ServiceContext env;
  std::unique_ptr<LogService> service;
  std::unique_ptr<storage::ProjectionStore> projection_store;
  std::unique_ptr<Projector> projector;
  std::unique_ptr<ProjectionService> projection_service;
  std::unique_ptr<AdminService> admin_service;
  std::unique_ptr<NodeService> node_service;
  std::unique_ptr<grpc::Server> server;
  std::unique_ptr<Dashboard> dashboard;  // null: off
  int port = 0;
  mutable grid::Mutex mu;
  bool shut_down ABSL_GUARDED_BY(mu) = false;
  // The gRPC health service once serving, and what it was last told.
  grpc::HealthCheckServiceInterface* health ABSL_GUARDED_BY(mu) = nullptr;
  bool health_serving ABSL_GUARDED_BY(mu) = false;

  // Deletes audit records older than `audit_retention`, at most hourly.
  // Asked from the sequencer thread, run on the pool (a binary search and
  // one range deletion): the writer never waits on the audit's disk.
  absl::Duration audit_retention;
  absl::Time next_audit_trim = absl::InfinitePast();
  std::atomic<boost::asio::thread_pool*> trim_pool{nullptr};  // set once serving
  void MaybeTrimAudit(absl::Time now) {
    if (audit_retention <= absl::ZeroDuration() || now < next_audit_trim) return;
    boost::asio::thread_pool* p = trim_pool.load();
    if (p == nullptr) return;
    next_audit_trim = now + absl::Hours(1);
    boost::asio::post(*p, [this, cutoff = now - audit_retention] {
      auto trimmed = audit->Trim(cutoff);
      if (!trimmed.ok()) {
        spdlog::warn("access audit: cannot delete old records: {}", trimmed.status().ToString());
      } else if (*trimmed > 0) {
        spdlog::info("access audit: deleted {} records older than {}", *trimmed,
                     absl::FormatDuration(audit_retention));
      }
    });
  }

  // Tells the health service when the log stops taking writes (called after
  // every commit group and every idle second, on the sequencer thread).
  void UpdateHealth() {
    const bool writable = log->WriteHealth().ok();
    grid::MutexLock l(&mu);
    if (health == nullptr || shut_down || writable == health_serving) return;
    health_serving = writable;
    health->SetServingStatus(writable);
  }
};

GridServer::GridServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

GridServer::~GridServer() { Shutdown(); }

int GridServer::port() const { return impl_->port; }

int GridServer::dashboard_port() const { return impl_->dashboard ? impl_->dashboard->port() : 0; }

storage::EventLog* GridServer::TEST_log() { return impl_->log.get(); }

absl::StatusOr<std::unique_ptr<GridServer>> GridServer::Start(const ServerOptions& options) {
  if (absl::Status s = CheckListen(options.listen, options.auth, !options.access.policy_file.empty());
      !s.ok()) {
    return s;
  }
  if (absl::Status s = ProtectFiles(options); !s.ok()) return s;
  auto impl = std::make_unique<Impl>();
  const storage::StorageMemory* memory = nullptr;
  if (options.storage_cache_bytes > 0) {
    impl->memory = storage::StorageMemory::Make(options.storage_cache_bytes, options.storage_memtable_bytes);
    memory = &impl->memory;
  }
  storage::EventLogOptions log_options = options.log;
  log_options.memory = memory;
  log_options.pipelined = options.pipelined_commits;
  // In cluster mode a commit is durable once etcd committed it (fsynced on
  // a majority of its members): the node's own log is a copy that it
  // re-applies from etcd, or from a peer, whatever a crash took from it. So
  // its writes need no fsync of their own (one fewer per commit group on
  // every node).
  if (options.cluster.enabled()) log_options.sync = false;
  auto log = storage::EventLog::Open(log_options, options.data_dir);
  if (!log.ok()) return log.status();
  impl->log = *std::move(log);
  auto audit =
      storage::AuditLog::Open(options.data_dir + "/audit", options.audit_env, options.audit_queue, memory);
  if (!audit.ok()) return audit.status();
  impl->audit = *std::move(audit);
  auto access = AccessControl::Create(options.access, impl->audit.get());
  if (!access.ok()) return access.status();
  impl->access = *std::move(access);
  AccessControl* access_control = impl->access.get();
  auto credentials =
      MakeServerCredentials(options.auth, [access_control](std::string method, std::string why) {
        access_control->RecordUnauthenticated(std::move(method), "", std::move(why));
      });
  if (!credentials.ok()) return credentials.status();
  auto person_key = storage::LoadOrCreateSecretKey(
      options.person_key_path.empty() ? options.data_dir + "/person_key" : options.person_key_path);
  if (!person_key.ok()) return person_key.status();
  const storage::Head head = impl->log->GetHead();
  auto signer = storage::Signer::LoadOrCreate(
      options.signing_key_path.empty() ? options.data_dir + "/signing_key.pem" : options.signing_key_path);
  if (!signer.ok()) return signer.status();
  impl->signer = *std::move(signer);
  Checkpointer::Options checkpoints = options.checkpoints;
  checkpoints.on_failure = [](const absl::Status& s) {
    spdlog::error("a signed checkpoint could not be stored (retrying in a while; no event is lost): {}",
                  s.ToString());
  };
  impl->checkpointer = std::make_unique<Checkpointer>(impl->log.get(), impl->signer.get(),
                                                      std::move(checkpoints), absl::Now());
  impl->tail = std::make_unique<LiveTail>(head.position, options.tail);
  LiveTail* tail = impl->tail.get();
  Checkpointer* checkpointer = impl->checkpointer.get();
  Sequencer::Options seq_options;
  seq_options.pipeline = options.pipelined_commits;
  Impl* raw = impl.get();
  impl->audit_retention = options.audit_retention;
  seq_options.after_commit_or_idle = [checkpointer, raw] {
    const absl::Time now = absl::Now();
    checkpointer->MaybeCheckpoint(now);
    raw->MaybeTrimAudit(now);
    raw->UpdateHealth();
  };
  seq_options.observe_commit = [raw](absl::Duration commit, size_t batches, size_t events) {
    raw->metrics.CommitGroup(commit, batches, events);
  };
  if (options.domain_rules) {
    impl->admission = std::make_unique<DomainAdmission>(impl->log.get(), options.admission_cache_streams);
    seq_options.admission = impl->admission.get();
  }
  if (options.cluster.enabled()) {
    EtcdOptions eo{.endpoints = options.cluster.etcd_endpoints};
    for (auto [path, pem, setting] : {std::tuple{&options.cluster.etcd_ca_path, &eo.ca, "etcd_ca"},
                                      std::tuple{&options.cluster.etcd_cert_path, &eo.cert, "etcd_cert"},
                                      std::tuple{&options.cluster.etcd_key_path, &eo.key, "etcd_key"}}) {
      if (path->empty()) continue;
      auto text = ReadSettingFile(*path, setting);
      if (!text.ok()) return text.status();
      *pem = *std::move(text);
    }
    auto etcd = EtcdClient::Create(std::move(eo));
    if (!etcd.ok()) return etcd.status();
    // Appends made at this node go to the writer as its peers serve: over
    // TLS with the node's certificate (or token) when gridd serves TLS.
    auto fo = PeerClient::Credentials({.shard = options.cluster.shard, .node_id = options.cluster.node_id},
                                      options.auth.tls() ? options.cluster.peer_ca_path : "",
                                      options.cluster.peer_cert_path, options.cluster.peer_key_path,
                                      options.cluster.peer_token_path);
    if (!fo.ok()) return fo.status();
    impl->peers = std::make_unique<PeerClient>(*std::move(fo));
    impl->etcd = *std::move(etcd);
    auto shard = ShardLog::Open(impl->etcd.get(), options.cluster.shard);
    if (!shard.ok()) return shard.status();
    ClusterNode::Options co;
    co.shard = options.cluster.shard;
    co.node_id = options.cluster.node_id;
    co.address = options.cluster.advertise;
    co.lease_ttl = options.cluster.lease_ttl;
    co.peers = impl->peers.get();
    co.tail_events = options.cluster.tail_events;
    co.retention_every = options.cluster.retention_every;
    co.observe_commit = [metrics = &impl->metrics](absl::Duration took) { metrics->EtcdCommit(took); };
    co.person_key_id = storage::ToHex(storage::Sha256(absl::StrCat("gridlog person key id",
                                                                   std::string(1, '\0'), *person_key)))
                           .substr(0, 16);
    impl->cluster = std::make_unique<ClusterNode>(impl->etcd.get(), *std::move(shard), impl->log.get(), co);
    seq_options.replicator = impl->cluster.get();
    // A commit group is one etcd transaction: a few MiB at most with its
    // events' server fields (etcd runs with --max-request-bytes of 8 MiB).
    seq_options.max_group_bytes = 2 << 20;
    seq_options.max_group_batches = 2048;
  }
  auto store = storage::ProjectionStore::Open(options.data_dir + "/projections", options.log.env, memory);
  if (!store.ok()) return store.status();
  impl->projection_store = *std::move(store);
  impl->projector =
      std::make_unique<Projector>(impl->log.get(), impl->projection_store.get(), options.projector);
  if (absl::Status s = impl->projector->Start(); !s.ok()) return s;
  Projector* projector = impl->projector.get();
  impl->sequencer = std::make_unique<Sequencer>(
      impl->log.get(),
      [tail, projector](const std::vector<storage::RecordPtr>& records) {
        tail->Publish(records);
        projector->Notify();
      },
      seq_options);
  impl->sequencer->Start();
  // Refusing appends from the start; taking part once serving (below).
  impl->env.cluster = impl->cluster.get();
  impl->pool =
      std::make_unique<boost::asio::thread_pool>(static_cast<size_t>(std::max(1, options.reader_threads)));
  impl->trim_pool.store(impl->pool.get());
  impl->env.log = impl->log.get();
  impl->env.sequencer = impl->sequencer.get();
  impl->env.tail = tail;
  impl->env.pool = impl->pool.get();
  auto checked_from = CheckedFrom(options.data_dir, head.position);
  if (!checked_from.ok()) return checked_from.status();
  impl->env.checked_from = *checked_from;
  impl->env.append_validator = AppendValidator(options.limits, options.domain_rules, *person_key);
  impl->env.access = impl->access.get();
  impl->worker_grids = std::make_unique<WorkerGrids>(impl->log.get());
  impl->env.worker_grids = impl->worker_grids.get();
  impl->env.unary_deadline = options.unary_deadline;
  impl->env.signer = impl->signer.get();
  impl->env.metrics = &impl->metrics;
  impl->service = std::make_unique<LogService>(&impl->env);
  impl->env.append_check.applies = HasConfirmedValues;
  impl->env.append_check.check = [projector, log = impl->log.get(), grids = impl->worker_grids.get()](
                                     const Principal& p, const storage::AppendBatch& batch) -> absl::Status {
    auto reader = ReaderOf(grids, p);
    if (!reader.ok()) return reader.status();
    return CheckConfirmedValues(*projector, *reader, log->GetHead().position, batch);
  };
  impl->projection_service = std::make_unique<ProjectionService>(&impl->env, projector);
  impl->admin_service =
      std::make_unique<AdminService>(&impl->env, impl->projection_store.get(), options.log, options.data_dir);
  impl->node_service = std::make_unique<NodeService>(&impl->env, options.cluster.shard);

  // The dashboard listens before gRPC does: a failure here (its port in
  // use) returns before anything serves.
  if (options.dashboard.enabled()) {
    auto dashboard = Dashboard::Start(options.dashboard, options.auth, options.data_dir, &impl->env,
                                      impl->projector.get());
    if (!dashboard.ok()) return dashboard.status();
    impl->dashboard = *std::move(dashboard);
    spdlog::info("dashboard on {}://{} (port {}){}", options.auth.tls() ? "https" : "http",
                 options.dashboard.listen, impl->dashboard->port(),
                 options.auth.authenticates() ? "; people sign in with a token or a client certificate"
                                              : " in DEV MODE: every local user sees everything");
  }
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.AddListeningPort(options.listen, *credentials, &impl->port);
  // Above the append limit so that an oversized append gets our own clear
  // INVALID_ARGUMENT; gRPC's RESOURCE_EXHAUSTED only past this.
  // (In int, which 4 x max_append_bytes overflowed for a GiB.)
  builder.SetMaxReceiveMessageSize(static_cast<int>(std::clamp<uint64_t>(
      uint64_t{options.limits.max_request_bytes} * 4, 4 << 20, std::numeric_limits<int>::max())));
  // Responses are cut at about 1 MiB (events, rows, backup chunks).
  builder.SetMaxSendMessageSize(16 << 20);
  // Keepalive enforcement: a client may ping at most every 10 s without
  // calls in flight, else the connection is closed after two strikes; the
  // server pings idle connections every 2 min and drops them after 20 s
  // without an answer, so dead mobile-backend links free their streams.
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 10000);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 2);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 120000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 20000);
  builder.RegisterService(impl->service.get());
  builder.RegisterService(impl->projection_service.get());
  builder.RegisterService(impl->admin_service.get());
  builder.RegisterService(impl->node_service.get());
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> observers;
  observers.push_back(std::make_unique<RpcObserverFactory>(&impl->metrics, &impl->calls));
  builder.experimental().SetInterceptorCreators(std::move(observers));
  impl->server = builder.BuildAndStart();
  if (!impl->server || impl->port == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", options.listen));
  }
  if (impl->cluster != nullptr) {
    // With port 0 (tests), the port bound is the one others reach.
    std::string advertise = options.cluster.advertise;
    if (absl::EndsWith(advertise, ":0")) {
      advertise = absl::StrCat(advertise.substr(0, advertise.size() - 1), impl->port);
    }
    impl->cluster->Start(impl->sequencer.get(), advertise);
    spdlog::info("cluster mode: node {} of shard {} (etcd {}), reached at {}", options.cluster.node_id,
                 options.cluster.shard, absl::StrJoin(options.cluster.etcd_endpoints, ","), advertise);
  }
  {
    grid::MutexLock l(&impl->mu);
    impl->health = impl->server->GetHealthCheckService();
    impl->health_serving = impl->log->WriteHealth().ok();
    if (impl->health != nullptr) impl->health->SetServingStatus(impl->health_serving);
  }
  if (options.auth.authenticates()) {
    spdlog::info("serving on {} (port {}) over TLS; callers authenticate with {}{}{}, log head {}",
                 options.listen, impl->port,
                 options.auth.tls_client_ca_path.empty() ? "" : "client certificates",
                 !options.auth.tls_client_ca_path.empty() && !options.auth.tokens.empty() ? " or " : "",
                 options.auth.tokens.empty() ? "" : "bearer tokens", head.position);
  } else {
    spdlog::warn(
        "DEV MODE: no authentication; every caller on this machine may read and "
        "append. Serving on {} (port {}){}, log head {}",
        options.listen, impl->port, options.auth.tls() ? " over TLS" : "", head.position);
  }
  if (impl->access->dev_mode()) {
    spdlog::warn(
        "DEV MODE: no access policy (policy_file); every caller may call every RPC and "
        "sees every field");
  } else {
    spdlog::info("access policy {}: {} principals", options.access.policy_file, impl->access->principals());
  }
  spdlog::info("checkpoints are signed with Ed25519 public key {}",
               storage::ToHex(impl->signer->public_key()));
  return std::unique_ptr<GridServer>(new GridServer(std::move(impl)));
}

absl::Status GridServer::ReloadPolicy() {
  absl::Status s = impl_->access->Reload();
  if (!s.ok()) {
    spdlog::error("policy reload failed, the old policy stays: {}", std::string(s.message()));
    return s;
  }
  spdlog::info("access policy reloaded: {} principals", impl_->access->principals());
  // Waiting streams look again now, and re-check their caller's rights.
  impl_->tail->WakeAll();
  impl_->projector->WakeAll();
  return s;
}

bool GridServer::Ready(std::string* why) const {
  {
    grid::MutexLock l(&impl_->mu);
    if (impl_->shut_down) {
      *why = "shutting down";
      return false;
    }
  }
  if (impl_->cluster != nullptr) {
    const ClusterNode::State c = impl_->cluster->GetState();
    if (c.role == ClusterNode::Role::kStopped) {
      *why = absl::StrCat("cluster node stopped: ", c.failure.message());
      return false;
    }
    if (c.role != ClusterNode::Role::kWriter && !c.caught_up) {
      *why = absl::StrCat("catching up with the shard: applied ", c.applied, " of ", c.shard_head);
      return false;
    }
  }
  if (absl::Status s = impl_->log->WriteHealth(); !s.ok()) {
    *why = absl::StrCat("read-only: the log refuses writes after a storage failure (", s.message(),
                        "); restart gridd");
    return false;
  }
  return true;
}

std::vector<prometheus::MetricFamily> GridServer::CollectMetrics() const {
  std::vector<prometheus::MetricFamily> out = impl_->metrics.Collect();
  const storage::Head head = impl_->log->GetHead();
  auto add = [&out](std::string name, std::string help, double value, bool counter = false) {
    auto f = counter ? CounterFamily(std::move(name), std::move(help))
                     : GaugeFamily(std::move(name), std::move(help));
    AddSample(&f, value);
    out.push_back(std::move(f));
  };
  add("gridlog_log_head_position", "Position of the last committed event",
      static_cast<double>(head.position));
  add("gridlog_log_writable", "1 while the log takes writes, 0 after a storage failure",
      impl_->log->WriteHealth().ok() ? 1 : 0);
  add("gridlog_sequencer_queue_depth", "Append requests waiting for the next commit group",
      static_cast<double>(impl_->sequencer->GetStats().queued));
  add("gridlog_checkpoint_failures", "Signed checkpoints that could not be stored since start",
      static_cast<double>(impl_->checkpointer->failures()));
  add("gridlog_audit_refusals_unaudited",
      "Refused calls since start that were not audited (past the audit's rate for refusals)",
      static_cast<double>(impl_->access->unaudited_refusals()));
  add("gridlog_storage_cache_capacity_bytes",
      "RocksDB block cache shared by the log, projections and audit (storage_cache_bytes)",
      static_cast<double>(impl_->memory.cache_capacity()));
  add("gridlog_storage_cache_usage_bytes",
      "Bytes in that cache: data, index and filter blocks, and the memtables' charge",
      static_cast<double>(impl_->memory.cache_usage()));
  add("gridlog_storage_memtable_usage_bytes",
      "Memtable bytes of all databases, against storage_memtable_bytes",
      static_cast<double>(impl_->memory.memtable_usage()));
  add("gridlog_admission_cached_streams", "Aggregate states the domain rules keep (admission_cache_streams)",
      static_cast<double>(impl_->admission ? impl_->admission->cached_streams() : 0));
  if (impl_->admission != nullptr) {
    const DomainAdmission::Stats a = impl_->admission->GetStats();
    add("gridlog_admission_loads_total", "Aggregate states the domain rules read from the log (cache misses)",
        static_cast<double>(a.loads), /*counter=*/true);
    add("gridlog_admission_loaded_snapshots_total",
        "Of those, the states that started from a stored snapshot", static_cast<double>(a.loaded_snapshots),
        /*counter=*/true);
    add("gridlog_admission_folded_events_total", "Events folded by those reads (the ones after the snapshot)",
        static_cast<double>(a.folded_events), /*counter=*/true);
    add("gridlog_admission_snapshots_total", "Aggregate state snapshots stored with commits",
        static_cast<double>(a.stored_snapshots), /*counter=*/true);
    add("gridlog_admission_snapshot_bytes_total", "Bytes of those snapshots",
        static_cast<double>(a.stored_snapshot_bytes), /*counter=*/true);
    add("gridlog_admission_members_total",
        "Members of growing sets and maps (findings, ledger entries) stored with commits",
        static_cast<double>(a.stored_members), /*counter=*/true);
    add("gridlog_admission_member_reads_total",
        "Lookups of a member the cached state did not hold, read from the store",
        static_cast<double>(a.member_reads), /*counter=*/true);
  }
  add("gridlog_rpcs_in_flight", "Calls begun and not yet finished (streams included)",
      static_cast<double>(impl_->calls.count()));
  add("gridlog_audit_records_lost",
      "Outcome and denial records of the access audit not stored since start (a failed write)",
      static_cast<double>(impl_->audit->lost()));
  if (impl_->cluster != nullptr) {
    const ClusterNode::State c = impl_->cluster->GetState();
    add("gridlog_cluster_writer", "1 while this node is its shard's writer",
        c.role == ClusterNode::Role::kWriter);
    add("gridlog_cluster_serving", "0 once this node stopped (its log differs from the shard's, or failed)",
        c.role != ClusterNode::Role::kStopped);
    add("gridlog_cluster_shard_head_position", "The shard's head position as this node last saw it in etcd",
        static_cast<double>(std::max(c.shard_head, c.applied)));
    add("gridlog_cluster_replication_lag_events", "Events of the shard this node has not applied yet",
        static_cast<double>(c.shard_head > c.applied ? c.shard_head - c.applied : 0));
    add("gridlog_cluster_writer_changes", "Times this node took or gave up the writer's role since start",
        static_cast<double>(c.writer_changes));
    add("gridlog_cluster_etcd_first_position",
        "The first position etcd holds a batch of, as this node last read (0: none); older ones were deleted "
        "once every node had them",
        static_cast<double>(c.etcd_first));
    add("gridlog_cluster_from_peers_events",
        "Events this node read from peers' logs since start, having been behind what etcd keeps",
        static_cast<double>(c.from_peers));
    add("gridlog_cluster_etcd_db_bytes", "The writer: etcd's database size as last read (0 on a replica)",
        static_cast<double>(c.role == ClusterNode::Role::kWriter ? c.etcd_db_bytes : 0));
  }

  if (impl_->dashboard != nullptr) {
    const Dashboard::Stats d = impl_->dashboard->GetStats();
    add("gridlog_dashboard_connections", "Open HTTP connections to the dashboard",
        static_cast<double>(d.connections));
    add("gridlog_dashboard_pages", "Open live dashboard pages (one event stream each)",
        static_cast<double>(d.pages));
    add("gridlog_dashboard_feeds", "Projection feeds on the open dashboard pages",
        static_cast<double>(d.feeds));
    add("gridlog_dashboard_sessions", "Dashboard sign-in sessions not yet ended",
        static_cast<double>(d.sessions));
  }

  // Subscribers: how many, and how far each is behind the head, as the
  // number of subscribers at or under each lag (cumulative, like buckets).
  const std::vector<uint64_t> positions = impl_->env.subscribers.Positions();
  add("gridlog_subscribers", "Open Subscribe calls", static_cast<double>(positions.size()));
  // (Not `le`: that label is for histograms, and this is a gauge.)
  auto lag = GaugeFamily("gridlog_subscribers_by_lag",
                         "Open Subscribe calls at most max_lag_events events behind the head");
  uint64_t max_lag = 0;
  const uint64_t bounds[] = {0, 10, 100, 1000, 10000, 100000, 1000000};
  std::vector<double> counts(std::size(bounds) + 1, 0);
  for (uint64_t p : positions) {
    const uint64_t behind = head.position > p ? head.position - p : 0;
    max_lag = std::max(max_lag, behind);
    for (size_t i = 0; i < std::size(bounds); ++i) {
      if (behind <= bounds[i]) ++counts[i];
    }
    ++counts.back();
  }
  for (size_t i = 0; i < std::size(bounds); ++i) {
    AddSample(&lag, counts[i], {{"max_lag_events", absl::StrCat(bounds[i])}});
  }
  out.push_back(std::move(lag));
  add("gridlog_subscriber_max_lag_events", "Largest lag of an open Subscribe call",
      static_cast<double>(max_lag));
  const SharedViews::Stats views = impl_->env.views.GetStats();
  add("gridlog_subscriber_events_redacted_total",
      "Events parsed (and redacted) for a view (clearance, audiences) of Subscribe calls below full "
      "clearance",
      static_cast<double>(views.redacted), /*counter=*/true);
  add("gridlog_subscriber_events_shared_total",
      "Events served to a Subscribe call as another live subscriber of its view had them parsed (and "
      "redacted)",
      static_cast<double>(views.shared), /*counter=*/true);

  auto position = GaugeFamily("gridlog_projection_position", "Last position folded");
  auto behind = GaugeFamily("gridlog_projection_lag_events", "Events not yet folded");
  for (const Projector::Info& p : impl_->projector->List()) {
    AddSample(&position, static_cast<double>(p.position), {{"projection", p.name}});
    AddSample(&behind, static_cast<double>(head.position > p.position ? head.position - p.position : 0),
              {{"projection", p.name}});
  }
  out.push_back(std::move(position));
  out.push_back(std::move(behind));

  auto live = GaugeFamily("gridlog_rocksdb_live_data_bytes", "RocksDB's estimate of live data");
  auto sst = GaugeFamily("gridlog_rocksdb_sst_bytes", "Size of all table files");
  auto mem = GaugeFamily("gridlog_rocksdb_memtable_bytes", "Size of all memtables");
  auto pending = GaugeFamily("gridlog_rocksdb_pending_compaction_bytes",
                             "RocksDB's estimate of bytes compaction still has to rewrite");
  auto sample = [&](const storage::StorageStats& s, const std::string& db) {
    AddSample(&live, static_cast<double>(s.live_data_bytes), {{"db", db}});
    AddSample(&sst, static_cast<double>(s.sst_bytes), {{"db", db}});
    AddSample(&mem, static_cast<double>(s.memtable_bytes), {{"db", db}});
    AddSample(&pending, static_cast<double>(s.pending_compaction_bytes), {{"db", db}});
  };
  sample(impl_->log->GetStorageStats(), "log");
  sample(impl_->projection_store->GetStorageStats(), "projections");
  for (auto* f : {&live, &sst, &mem, &pending}) out.push_back(std::move(*f));
  for (auto& f : ProcessMetrics()) out.push_back(std::move(f));
  return out;
}

void GridServer::Shutdown(absl::Duration grace) {
  {
    grid::MutexLock l(&impl_->mu);
    if (impl_->shut_down) return;
    impl_->shut_down = true;
  }
  // 1. No new work; subscriptions end UNAVAILABLE at their next step.
  impl_->service->BeginShutdown();
  impl_->projector->Stop();  // wakes projection streams, which then end
  // The dashboard's pages end (their feeds on the pool, which still runs).
  if (impl_->dashboard != nullptr) impl_->dashboard->Stop();
  // 2. Wait for in-flight calls (queued appends still commit), then close
  // every connection at once: gRPC's Shutdown alone also waits, until its
  // deadline, for idle connections that a client keeps open.
  const absl::Time deadline = absl::Now() + grace;
  const bool drained = impl_->calls.WaitForNone(deadline);
  impl_->server->Shutdown(drained ? std::chrono::system_clock::now() : absl::ToChronoTime(deadline));
  impl_->server->Wait();
  // 3. Give the shard's writer role up (another node takes over at once),
  // stop the writer, then the readers, then close the log.
  if (impl_->cluster != nullptr) impl_->cluster->Stop();
  impl_->sequencer->Stop();
  // The admission's cached states keep what they hold (a cache of folds:
  // if this fails, the first misses after the restart fold instead).
  if (impl_->admission != nullptr && impl_->log->WriteHealth().ok()) {
    std::vector<std::pair<std::string, std::string>> states;
    const size_t kept = impl_->admission->TakeCached(&states);
    if (kept > 0) {
      const absl::Status stored = impl_->log->PutStates(states);
      if (stored.ok()) {
        spdlog::info("admission: stored the snapshots of {} cached states", kept);
      } else {
        spdlog::warn("admission: cached states not stored: {}", std::string(stored.message()));
      }
    }
  }
  impl_->pool->join();
  impl_->dashboard.reset();
  impl_->server.reset();
  impl_->service.reset();
  impl_->projection_service.reset();
  impl_->admin_service.reset();
  impl_->node_service.reset();
  impl_->projector.reset();
  impl_->projection_store.reset();
  impl_->log.reset();
  spdlog::info("gridd stopped");
}

}  // namespace grid::server
