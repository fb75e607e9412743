// PumpedWriter: the server-streaming reactor shape shared by the log's and
// the projections' streams. Messages are produced on the application pool,
// one write in flight; when there is nothing to send it waits on a Notifier.
#ifndef GRID_SERVER_PUMPED_WRITER_H_
#define GRID_SERVER_PUMPED_WRITER_H_

#include <utility>  // before Boost.Asio (GCC 12 + C++20)

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <memory>

#include "absl/time/time.h"
#include "server/live_tail.h"
#include "server/log_service.h"

namespace grid::server {

// absl and gRPC share their status codes.
inline grpc::Status ToGrpc(const absl::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), std::string(s.message()));
}

// Admits a unary call (access.h), or finishes `reactor` with the refusal
// and returns null.
inline std::shared_ptr<AccessCall> BeginUnary(ServiceEnv* env, grpc::CallbackServerContext* ctx,
                                              grpc::ServerUnaryReactor* reactor, Rpc rpc,
                                              std::string scope) {
  auto call = env->access->Begin(ctx, rpc, std::move(scope));
  if (!call.ok()) {
    reactor->Finish(ToGrpc(call.status()));
    return nullptr;
  }
  return std::shared_ptr<AccessCall>(std::move(*call));
}

// Finishes an admitted unary call, auditing its outcome.
inline void FinishUnary(grpc::ServerUnaryReactor* reactor, AccessCall* call,
                        const grpc::Status& status) {
  call->Done(status);
  reactor->Finish(status);
}

// A server-streaming reactor whose messages are produced on the application
// pool, one write in flight at a time.
//
// Lifecycle: exactly one "baton" moves between a pool task (Pump), an
// outstanding write, and a registration in the LiveTail; only its holder
// touches the stream, so Finish() is called once. References are counted:
// one for gRPC (dropped in OnDone), one per posted task or tail
// registration; the last Unref() deletes the reactor.
template <class Message>
class PumpedWriter : public grpc::ServerWriteReactor<Message>, public Notifier::Waiter {
 public:
  PumpedWriter(ServiceEnv* env, Notifier* notifier) : env_(env), notifier_(notifier) {}

  // The call's access grant: rechecked before every step (a policy reload
  // can end the stream with PERMISSION_DENIED), audited when it ends.
  void Start(std::unique_ptr<AccessCall> access) {
    access_ = std::move(access);
    Schedule();
  }
  // Ends the call before its first step (its intent could not be stored).
  void Abort(std::unique_ptr<AccessCall> access, const grpc::Status& status) {
    access_ = std::move(access);
    End(status);
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      End(grpc::Status(grpc::StatusCode::CANCELLED, "stream broken"));
      return;
    }
    Schedule();
  }
  void OnCancel() override {
    cancelled_.store(true);
    // Holding the baton in the tail: take it back and end the call.
    if (notifier_->Cancel(this)) Post();
  }
  void OnDone() override { Unref(); }
  // Called by the tail (with its lock held) with the registration's ref.
  void Wake() override { Post(); }

 protected:
  struct Step {
    enum Kind { kWrite, kWait, kFinish } kind = kFinish;
    Message message;
    storage::Position wait_after = 0;  // kWait: wake when more is published
    // kWait: also wake after this long, even if nothing is published.
    absl::Duration wake_after = absl::InfiniteDuration();
    grpc::Status status;               // kFinish
  };
  virtual ~PumpedWriter() = default;
  // Produces the next step. Runs on the application pool; may read storage.
  virtual Step Next() = 0;

  ServiceEnv* const env_;
  Notifier* const notifier_;  // what kWait waits on
  std::unique_ptr<AccessCall> access_;

 private:
  void End(const grpc::Status& status) {
    if (access_ != nullptr) access_->Done(status);
    this->Finish(status);
  }

  void Ref() { refs_.fetch_add(1, std::memory_order_relaxed); }
  void Unref() {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }
  void Schedule() {
    Ref();
    Post();
  }
  // Runs Pump() on the pool, consuming one reference.
  void Post() {
    boost::asio::post(*env_->pool, [this] {
      Pump();
      Unref();
    });
  }
  // Takes the baton back from the tail after `d` if it is still there.
  void ArmWakeTimer(absl::Duration d) {
    Ref();  // held by the timer
    auto timer = std::make_shared<boost::asio::steady_timer>(
        env_->pool->get_executor(), absl::ToChronoMilliseconds(d));
    timer->async_wait([this, timer](const boost::system::error_code&) {
      if (notifier_->Cancel(this)) Post();
      Unref();
    });
  }

  void Pump() {
    if (cancelled_.load()) {
      End(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled"));
      return;
    }
    if (env_->stopping.load()) {
      End(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                          "the server is shutting down; resume from your last "
                          "position"));
      return;
    }
    if (access_ != nullptr) {
      if (absl::Status s = access_->Recheck(); !s.ok()) {
        End(ToGrpc(s));
        return;
      }
    }
    Step step = Next();
    switch (step.kind) {
      case Step::kWrite:
        message_ = std::move(step.message);
        this->StartWrite(&message_);
        return;
      case Step::kFinish:
        End(step.status);
        return;
      case Step::kWait:
        Ref();  // held by the tail registration
        if (notifier_->WaitForMore(step.wait_after, this)) {
          Unref();
          Schedule();
          return;
        }
        // OnCancel may have run before we registered; then take it back here.
        if (cancelled_.load() && notifier_->Cancel(this)) {
          Post();
          return;
        }
        if (step.wake_after < absl::InfiniteDuration()) ArmWakeTimer(step.wake_after);
        return;
    }
  }

  std::atomic<int> refs_{1};
  std::atomic<bool> cancelled_{false};
  Message message_;  // the write in flight
};

}  // namespace grid::server

#endif  // GRID_SERVER_PUMPED_WRITER_H_
