// LogService implements grid.v1.Log on gRPC's callback API. It is thin: it
// validates, hands appends to the Sequencer and finishes them from the commit
// callback, and runs reads and subscriptions as reactors whose storage reads
// happen on the application pool. No reaction blocks.
//
// Read and Subscribe are registered as raw methods: their responses are
// assembled from the stored wire records (record.h) without parsing or
// re-encoding an event. Clients see the ordinary typed messages.
//
// Concurrency: safe for concurrent use by gRPC's threads. BeginShutdown()
// may be called from any thread.
#ifndef GRID_SERVER_LOG_SERVICE_H_
#define GRID_SERVER_LOG_SERVICE_H_

#include <atomic>

#include "grid/v1/log.grpc.pb.h"
#include "absl/container/flat_hash_set.h"
#include "server/access.h"
#include "server/live_tail.h"
#include "server/metrics.h"
#include "server/sequencer.h"
#include "server/validation.h"
#include "server/worker_grids.h"
#include "storage/checkpoint.h"
#include "storage/event_log.h"

namespace boost::asio {
class thread_pool;
}

namespace grid::server {

// The open Subscribe calls' positions, for the lag metrics.
class SubscriberSet {
 public:
  void Add(const std::atomic<uint64_t>* scanned) {
    grid::MutexLock l(&mu_);
    set_.insert(scanned);
  }
  void Remove(const std::atomic<uint64_t>* scanned) {
    grid::MutexLock l(&mu_);
    set_.erase(scanned);
  }
  // The last position each subscriber has scanned through.
  std::vector<uint64_t> Positions() const {
    grid::MutexLock l(&mu_);
    std::vector<uint64_t> out;
    out.reserve(set_.size());
    for (const auto* p : set_) out.push_back(p->load(std::memory_order_relaxed));
    return out;
  }

 private:
  mutable grid::Mutex mu_;
  absl::flat_hash_set<const std::atomic<uint64_t>*> set_ ABSL_GUARDED_BY(mu_);
};

// What the service's reactors share. All pointers must outlive the service
// and every RPC it started.
struct ServiceEnv {
  storage::EventLog* log = nullptr;
  Sequencer* sequencer = nullptr;
  LiveTail* tail = nullptr;
  boost::asio::thread_pool* pool = nullptr;
  AppendLimits limits;
  // Events at positions from here on were appended with unknown fields
  // refused (ViewEvent); before it they are parsed and cleaned for callers
  // below full clearance. GridServer keeps it in the data directory.
  storage::Position checked_from = UINT64_MAX;
  const storage::Signer* signer = nullptr;
  ServerMetrics* metrics = nullptr;  // may be null
  AccessControl* access = nullptr;
  // Grid workers' assigned grids for the read paths; null: none narrowed.
  WorkerGrids* worker_grids = nullptr;
  // Unary calls that wait (GetProjection's min_position) wait at most this,
  // whatever deadline the client set.
  absl::Duration unary_deadline = absl::Seconds(10);
  SubscriberSet subscribers;
  std::atomic<bool> stopping{false};
};

class LogService final
    : public grid::v1::Log::WithRawCallbackMethod_Read<
          grid::v1::Log::WithRawCallbackMethod_Subscribe<
              grid::v1::Log::CallbackService>> {
 public:
  explicit LogService(ServiceEnv* env) : env_(env) {}

  // From now on new RPCs fail UNAVAILABLE and open subscriptions end with
  // UNAVAILABLE at their next step, so clients reconnect from their last
  // checkpoint. Appends already queued still commit.
  void BeginShutdown();

  grpc::ServerUnaryReactor* Append(grpc::CallbackServerContext* ctx,
                                   const grid::v1::AppendRequest* request,
                                   grid::v1::AppendResponse* response) override;
  grpc::ServerUnaryReactor* GetStatus(grpc::CallbackServerContext* ctx,
                                      const grid::v1::GetStatusRequest* request,
                                      grid::v1::LogStatus* response) override;
  grpc::ServerUnaryReactor* ListCheckpoints(
      grpc::CallbackServerContext* ctx, const grid::v1::ListCheckpointsRequest* request,
      grid::v1::ListCheckpointsResponse* response) override;
  grpc::ServerWriteReactor<grpc::ByteBuffer>* Read(
      grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* request) override;
  grpc::ServerWriteReactor<grpc::ByteBuffer>* Subscribe(
      grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* request) override;

 private:
  ServiceEnv* const env_;
};

}  // namespace grid::server

#endif  // GRID_SERVER_LOG_SERVICE_H_
