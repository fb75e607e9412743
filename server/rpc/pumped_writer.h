// PumpedWriter: the server-streaming reactor shape shared by the log's, the
// projections' and the admin streams. Messages are produced on the
// application pool, one write in flight; when there is nothing to send it
// waits on a Notifier. It knows nothing of the services: they hand it the
// pool, the shutdown flag, and the call's guard (`Call`: Recheck() before
// every step, Done(status) once at the end; access.h's AccessCall).
#ifndef GRID_SERVER_RPC_PUMPED_WRITER_H_
#define GRID_SERVER_RPC_PUMPED_WRITER_H_

#include <utility>  // before Boost.Asio (GCC 12 + C++20)

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <memory>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "server/rpc/status.h"
#include "storage/notifier.h"

namespace grid::server {

// A server-streaming reactor whose messages are produced on the application
// pool, one write in flight at a time.
//
// Lifecycle: exactly one "baton" moves between a pool task (Pump), an
// outstanding write, and a registration in the Notifier; only its holder
// touches the stream, so Finish() is called once. References are counted:
// one for gRPC (dropped in OnDone), one per posted task, timer or wait
// registration; the last Unref() deletes the reactor.
//
// `Stream` is gRPC's reactor; a test may put its own in its place to drive
// the reactions from threads of its own (tests/server/pumped_writer_test.cc
// does, under TSan: Debian's gRPC is not TSan-built). It must provide
// StartWrite(const Message*) and Finish(grpc::Status), and call
// OnWriteDone, OnCancel and OnDone as gRPC does.
template <class Message, class Call, class Stream = grpc::ServerWriteReactor<Message>>
class PumpedWriter : public Stream, public storage::Notifier::Waiter {
 public:
  // All must outlive the call. `stopping` true: the next step ends the call
  // UNAVAILABLE (ShuttingDown()).
  PumpedWriter(boost::asio::thread_pool* pool, const std::atomic<bool>* stopping, storage::Notifier* notifier)
      : pool_(pool), stopping_(stopping), notifier_(notifier) {}

  // The call's access grant: rechecked before every step (a policy reload
  // can end the stream with PERMISSION_DENIED), audited when it ends.
  void Start(std::unique_ptr<Call> access) {
    access_ = std::move(access);
    Schedule();
  }
  // Ends the call before its first step (its intent could not be stored).
  void Abort(std::unique_ptr<Call> access, const grpc::Status& status) {
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
    grpc::Status status;  // kFinish
  };
  virtual ~PumpedWriter() = default;
  // Produces the next step. Runs on the application pool; may read storage.
  virtual Step Next() = 0;

  std::unique_ptr<Call> access_;

 private:
  boost::asio::thread_pool* const pool_;
  const std::atomic<bool>* const stopping_;
  storage::Notifier* const notifier_;  // what kWait waits on

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
    boost::asio::post(*pool_, [this] {
      Pump();
      Unref();
    });
  }
  // Takes the baton back from the tail after `d` if it is still there.
  void ArmWakeTimer(absl::Duration d) {
    Ref();  // held by the timer
    auto timer =
        std::make_shared<boost::asio::steady_timer>(pool_->get_executor(), absl::ToChronoMilliseconds(d));
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
    if (stopping_->load()) {
      End(ToGrpc(ShuttingDown()));
      return;
    }
    // Read before the re-check: a policy reload (WakeAll) after it makes the
    // wait below return at once, so the new policy is checked, not slept on.
    const uint64_t wakes = notifier_->wakes();
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
        if (notifier_->WaitForMore(step.wait_after, wakes, this)) {
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

#endif  // GRID_SERVER_RPC_PUMPED_WRITER_H_
