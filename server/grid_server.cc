#include <utility>  // before Boost.Asio (GCC 12 + C++20)

#include "server/grid_server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <spdlog/spdlog.h>

#include <boost/asio/thread_pool.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "domain/admission.h"
#include "storage/sync.h"
#include "server/log_service.h"
#include "server/projection_service.h"
#include "server/projector.h"

namespace grid::server {

bool IsLoopbackListenAddress(const std::string& hp) {
  std::string host = hp;
  if (auto colon = hp.rfind(':'); colon != std::string::npos) host = hp.substr(0, colon);
  return absl::StartsWith(host, "127.") || host == "localhost" ||
         host == "[::1]" || host == "ipv4:127.0.0.1" || host == "ipv6:[::1]";
}

struct GridServer::Impl {
  std::unique_ptr<storage::EventLog> log;
  std::unique_ptr<storage::Signer> signer;
  std::unique_ptr<Checkpointer> checkpointer;
  std::unique_ptr<domain::DomainAdmission> admission;  // null: rules off
  std::unique_ptr<LiveTail> tail;
  std::unique_ptr<Sequencer> sequencer;
  std::unique_ptr<boost::asio::thread_pool> pool;
  ServiceEnv env;
  std::unique_ptr<LogService> service;
  std::unique_ptr<storage::ProjectionStore> projection_store;
  std::unique_ptr<Projector> projector;
  std::unique_ptr<ProjectionService> projection_service;
  std::unique_ptr<grpc::Server> server;
  int port = 0;
  grid::Mutex mu;
  bool shut_down ABSL_GUARDED_BY(mu) = false;
};

GridServer::GridServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

GridServer::~GridServer() { Shutdown(); }

int GridServer::port() const { return impl_->port; }

storage::EventLog* GridServer::TEST_log() { return impl_->log.get(); }

absl::StatusOr<std::unique_ptr<GridServer>> GridServer::Start(
    const ServerOptions& options) {
  if (!IsLoopbackListenAddress(options.listen)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "refusing to listen on ", options.listen,
        ": only loopback addresses are allowed until authentication is "
        "configured (this build has no authentication yet)"));
  }
  auto impl = std::make_unique<Impl>();
  auto log = storage::EventLog::Open(options.log, options.data_dir);
  if (!log.ok()) return log.status();
  impl->log = *std::move(log);
  const storage::Head head = impl->log->GetHead();
  auto signer = storage::Signer::LoadOrCreate(
      options.signing_key_path.empty() ? options.data_dir + "/signing_key.pem"
                                       : options.signing_key_path);
  if (!signer.ok()) return signer.status();
  impl->signer = *std::move(signer);
  impl->checkpointer = std::make_unique<Checkpointer>(
      impl->log.get(), impl->signer.get(), options.checkpoints, absl::Now());
  impl->tail = std::make_unique<LiveTail>(head.position, options.tail);
  LiveTail* tail = impl->tail.get();
  Checkpointer* checkpointer = impl->checkpointer.get();
  Sequencer::Options seq_options;
  seq_options.after_commit_or_idle = [checkpointer] { checkpointer->MaybeCheckpoint(absl::Now()); };
  if (options.limits.domain_rules) {
    impl->admission = std::make_unique<domain::DomainAdmission>(impl->log.get());
    seq_options.admission = impl->admission.get();
  }
  auto store = storage::ProjectionStore::Open(options.data_dir + "/projections", options.log.env);
  if (!store.ok()) return store.status();
  impl->projection_store = *std::move(store);
  impl->projector = std::make_unique<Projector>(impl->log.get(), impl->projection_store.get(),
                                                options.projector);
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
  impl->pool = std::make_unique<boost::asio::thread_pool>(
      static_cast<size_t>(std::max(1, options.reader_threads)));
  impl->env.log = impl->log.get();
  impl->env.sequencer = impl->sequencer.get();
  impl->env.tail = tail;
  impl->env.pool = impl->pool.get();
  impl->env.limits = options.limits;
  impl->env.signer = impl->signer.get();
  impl->service = std::make_unique<LogService>(&impl->env);
  impl->projection_service = std::make_unique<ProjectionService>(&impl->env, projector);

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.AddListeningPort(options.listen, grpc::InsecureServerCredentials(),
                           &impl->port);
  // Above the append limit so that an oversized append gets our own clear
  // INVALID_ARGUMENT; gRPC's RESOURCE_EXHAUSTED only past this.
  builder.SetMaxReceiveMessageSize(
      static_cast<int>(std::max<size_t>(options.limits.max_request_bytes * 4, 4 << 20)));
  builder.RegisterService(impl->service.get());
  builder.RegisterService(impl->projection_service.get());
  impl->server = builder.BuildAndStart();
  if (!impl->server || impl->port == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", options.listen));
  }
  spdlog::warn(
      "DEV MODE: no authentication; every caller on this machine may read and "
      "append. Serving on {} (port {}), log head {}",
      options.listen, impl->port, head.position);
  spdlog::info("checkpoints are signed with Ed25519 public key {}",
               storage::ToHex(impl->signer->public_key()));
  return std::unique_ptr<GridServer>(new GridServer(std::move(impl)));
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
  // 2. Wait for in-flight calls (queued appends still commit).
  impl_->server->Shutdown(std::chrono::system_clock::now() +
                          absl::ToChronoMilliseconds(grace));
  impl_->server->Wait();
  // 3. Stop the writer, then the readers, then close the log.
  impl_->sequencer->Stop();
  impl_->pool->join();
  impl_->server.reset();
  impl_->service.reset();
  impl_->projection_service.reset();
  impl_->projector.reset();
  impl_->projection_store.reset();
  impl_->log.reset();
  spdlog::info("gridd stopped");
}

}  // namespace grid::server
