#include <utility>  // before Boost.Asio (GCC 12 + C++20)

#include "server/projections/projection_service.h"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>

#include <atomic>
#include <chrono>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "domain/rules.h"
#include "server/projections/prefill.h"
#include "server/projections/projection_feed.h"
#include "server/projections/projection_read.h"

namespace grid::server {
namespace {

using storage::Position;
using storage::ProjectionStore;

// A GetProjection call. With `min_position` not yet folded it waits as a
// projector waiter (no thread is held), woken by each fold and by a timer at
// its deadline; then it reads on the pool.
class GetCall final : public storage::Notifier::Waiter, public std::enable_shared_from_this<GetCall> {
 public:
  // The read: fills the response for the principal, returning the rows it
  // served.
  using Read = std::function<absl::StatusOr<int>(const Principal&)>;

  GetCall(ServiceContext* env, Projector* projector, std::string name, Position min_position, Read read,
          grpc::ServerUnaryReactor* reactor, absl::Time deadline, std::shared_ptr<AccessCall> access)
      : env_(env),
        projector_(projector),
        name_(std::move(name)),
        min_position_(min_position),
        read_(std::move(read)),
        reactor_(reactor),
        deadline_(deadline),
        // The timer runs on the steady clock: the same moment there, rounded
        // up so that it never fires before the deadline.
        steady_deadline_(std::chrono::steady_clock::now() +
                         std::chrono::ceil<std::chrono::milliseconds>(absl::ToChronoNanoseconds(
                             std::max(deadline - absl::Now(), absl::ZeroDuration())))),
        access_(std::move(access)) {}

  void Post() {
    boost::asio::post(*env_->pool, [self = shared_from_this()] { self->Attempt(); });
  }

  // Called by the projector with its lock held: only schedule.
  void Wake() override { Unregistered()->Post(); }

 private:
  void Finish(const grpc::Status& s, int items = 0) {
    // A pending deadline timer would hold the pool (and shutdown) until it fires.
    if (timer_) timer_->cancel();
    access_->AddItems(items);
    FinishUnary(reactor_, access_.get(), s);
  }

  void Attempt() {
    if (env_->stopping.load()) {
      Finish(ToGrpc(ShuttingDown()));
      return;
    }
    const uint64_t progress = projector_->progress();
    const uint64_t wakes = projector_->wakes();
    if (min_position_ == 0 || projector_->HasFolded(name_, min_position_)) {
      if (absl::Status s = access_->Recheck(); !s.ok()) {
        Finish(ToGrpc(s));
        return;
      }
      absl::StatusOr<int> served = read_(access_->principal());
      Finish(ToGrpc(served.status()), served.value_or(0));
      return;
    }
    // The timer's word decides, not a second reading of another clock: it
    // may fire a hair before absl::Now() passes deadline_, and a waiter that
    // registered again then would sleep until the next fold.
    if (timed_out_.load() || std::chrono::steady_clock::now() >= steady_deadline_) {
      auto at = projector_->PositionOf(name_);
      Finish(ToGrpc(at.ok() ? absl::DeadlineExceededError(
                                  absl::StrCat("projection ", name_, " has folded through position ", *at,
                                               ", not yet min_position ", min_position_, "; retry"))
                            : at.status()));
      return;
    }
    // Arm the deadline timer before registering: once registered, a Wake()
    // may run the next Attempt() on another thread at once.
    if (!timer_) {
      timer_ = std::make_unique<boost::asio::steady_timer>(env_->pool->get_executor(), steady_deadline_);
      // A weak reference: the call owns the timer, so a strong one would be a
      // cycle. While the call waits, `registered_` keeps it alive.
      timer_->async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
        auto self = weak.lock();
        if (self == nullptr || ec == boost::asio::error::operation_aborted) return;
        self->timed_out_.store(true);
        if (self->projector_->Cancel(self.get())) self->Unregistered()->Post();
      });
    }
    registered_ = shared_from_this();
    if (projector_->WaitForMore(progress, wakes, this)) Unregistered()->Post();
  }

  // Takes the reference the projector registration held (moving it out, so
  // that the call does not keep itself alive).
  std::shared_ptr<GetCall> Unregistered() {
    std::shared_ptr<GetCall> self;
    self.swap(registered_);
    return self;
  }

  ServiceContext* const env_;
  Projector* const projector_;
  const std::string name_;
  const Position min_position_;
  const Read read_;
  grpc::ServerUnaryReactor* const reactor_;
  const absl::Time deadline_;
  const std::chrono::steady_clock::time_point steady_deadline_;
  std::atomic<bool> timed_out_{false};
  const std::shared_ptr<AccessCall> access_;
  std::shared_ptr<GetCall> registered_;  // keeps the call alive while it waits in the projector
  std::unique_ptr<boost::asio::steady_timer> timer_;
};

}  // namespace

grpc::ServerUnaryReactor* ProjectionService::GetProjection(grpc::CallbackServerContext* ctx,
                                                           const grid::v1::GetProjectionRequest* request,
                                                           grid::v1::GetProjectionResponse* response) {
  auto* reactor = ctx->DefaultReactor();
  if (env_->stopping.load()) {
    reactor->Finish(ToGrpc(ShuttingDown()));
    return reactor;
  }
  auto call =
      BeginUnary(env_, ctx, reactor, Rpc::kGetProjection,
                 absl::StrCat("projection=", request->name().substr(0, 64), " ",
                              request->has_prefix() ? "prefix=" : "key=",
                              (request->has_prefix() ? request->prefix() : request->key()).substr(0, 256)));
  if (call == nullptr) return reactor;
  // The server's default deadline bounds a wait for min_position.
  const absl::Time deadline = std::min(absl::FromChrono(ctx->deadline()), absl::Now() + env_->unary_deadline);
  auto read = [env = env_, projector = projector_, request,
               response](const Principal& p) -> absl::StatusOr<int> {
    if (absl::Status s = ReadProjection(env, projector, *request, p, response); !s.ok()) return s;
    return response->rows_size();
  };
  std::make_shared<GetCall>(env_, projector_, request->name(), request->min_position(), std::move(read),
                            reactor, deadline, std::move(call))
      ->Post();
  return reactor;
}

grpc::ServerUnaryReactor* ProjectionService::PrefillForm(grpc::CallbackServerContext* ctx,
                                                         const grid::v1::PrefillFormRequest* request,
                                                         grid::v1::PrefillFormResponse* response) {
  auto* reactor = ctx->DefaultReactor();
  if (env_->stopping.load()) {
    reactor->Finish(ToGrpc(ShuttingDown()));
    return reactor;
  }
  auto call = BeginUnary(
      env_, ctx, reactor, Rpc::kPrefillForm,
      absl::StrCat("task=", request->task_id().substr(0, 128), " org=", request->org_path().substr(0, 256)));
  if (call == nullptr) return reactor;
  const absl::Time deadline = std::min(absl::FromChrono(ctx->deadline()), absl::Now() + env_->unary_deadline);
  auto read = [env = env_, projector = projector_, request,
               response](const Principal& p) -> absl::StatusOr<int> {
    auto reader = ReaderOf(env->worker_grids, p);
    if (!reader.ok()) return reader.status();
    if (absl::Status s = Prefill(*projector, *reader, *request, response); !s.ok()) return s;
    return response->fields_size();
  };
  std::make_shared<GetCall>(env_, projector_, std::string(kSharedFacts), request->min_position(),
                            std::move(read), reactor, deadline, std::move(call))
      ->Post();
  return reactor;
}

grpc::ServerWriteReactor<grid::v1::SubscribeProjectionResponse>* ProjectionService::SubscribeProjection(
    grpc::CallbackServerContext* ctx, const grid::v1::SubscribeProjectionRequest* request) {
  if (env_->stopping.load()) return new FailedStream<grid::v1::SubscribeProjectionResponse>(ShuttingDown());
  auto call = BeginCall(env_, ctx, Rpc::kSubscribeProjection,
                        absl::StrCat("projection=", request->name().substr(0, 64),
                                     " prefix=", request->prefix().substr(0, 256)));
  if (!call.ok()) return new FailedStream<grid::v1::SubscribeProjectionResponse>(call.status());
  auto* w = new ProjectionFeed<>(env_, projector_, *request);
  w->Start(*std::move(call));
  return w;
}

grpc::ServerUnaryReactor* ProjectionService::ListProjections(grpc::CallbackServerContext* ctx,
                                                             const grid::v1::ListProjectionsRequest*,
                                                             grid::v1::ListProjectionsResponse* response) {
  auto* reactor = ctx->DefaultReactor();
  auto call = BeginUnary(env_, ctx, reactor, Rpc::kListProjections, "");
  if (call == nullptr) return reactor;
  ListProjectionViews(env_, projector_, response);
  FinishUnary(reactor, call.get(), grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* ProjectionService::RebuildProjection(
    grpc::CallbackServerContext* ctx, const grid::v1::RebuildProjectionRequest* request,
    grid::v1::RebuildProjectionResponse*) {
  auto* reactor = ctx->DefaultReactor();
  auto call = BeginUnary(env_, ctx, reactor, Rpc::kRebuildProjection,
                         absl::StrCat("projection=", request->name().substr(0, 64)));
  if (call == nullptr) return reactor;
  if (absl::Status s = ProjectionDefNamed(request->name()).status(); !s.ok()) {
    FinishUnary(reactor, call.get(), ToGrpc(s));
    return reactor;
  }
  // The rebuild starts once its intent is stored (synced), on the pool.
  call->Intend([this, reactor, call, name = request->name()](const absl::Status& s) {
    if (!s.ok()) {
      FinishUnary(reactor, call.get(), ToGrpc(s));
      return;
    }
    boost::asio::post(*env_->pool, [this, reactor, call, name] {
      FinishUnary(reactor, call.get(), ToGrpc(projector_->Rebuild(name)));
    });
  });
  return reactor;
}

}  // namespace grid::server
