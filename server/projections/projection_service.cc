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

namespace grid::server {
namespace {

using storage::Position;
using storage::ProjectionStore;

constexpr uint32_t kDefaultMaxRows = 1000;
constexpr uint32_t kMaxRows = 10000;
constexpr size_t kStreamChunk = 256;
// A subscriber whose prefix saw no change hears the position this often.
constexpr absl::Duration kProgressEvery = absl::Seconds(1);

absl::Status CheckKey(absl::string_view what, const std::string& key) {
  if (key.size() > 512 || key.find('\0') != std::string::npos || key.find('\1') != std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat(what, " must be up to 512 bytes without NUL or \\x01"));
  }
  return absl::OkStatus();
}

absl::StatusOr<const domain::ProjectionDef*> Def(const std::string& name) {
  const domain::ProjectionDef* def = domain::FindProjection(name);
  if (def == nullptr) {
    std::string names;
    for (const auto& d : domain::AllProjections()) absl::StrAppend(&names, names.empty() ? "" : ", ", d.name);
    return absl::NotFoundError(
        absl::StrCat("no projection named '", name.substr(0, 64), "'; there are: ", names));
  }
  return def;
}

// A stored row version as served: parsed, derived as of `as_of`.
absl::Status ToRow(const domain::ProjectionDef& def, const ProjectionStore::RowVersion& r, absl::Time as_of,
                   grid::v1::ProjectionRow* out) {
  out->set_key(r.key);
  out->set_position(r.position);
  if (!r.value) {
    out->set_deleted(true);
    return absl::OkStatus();
  }
  if (!out->mutable_value()->ParseFromString(*r.value)) {
    return absl::DataLossError(absl::StrCat("projection ", def.name, " row '", r.key, "' does not parse"));
  }
  if (def.derive) def.derive(as_of, out->mutable_value());
  return absl::OkStatus();
}

// Adds the row version to `rows` as the caller may see it: nothing when it
// is outside the caller's jurisdiction, redacted to its clearance.
absl::Status AddRow(const domain::ProjectionDef& def, const ProjectionStore::RowVersion& r, absl::Time as_of,
                    const Reader& caller, google::protobuf::RepeatedPtrField<grid::v1::ProjectionRow>* rows) {
  grid::v1::ProjectionRow* row = rows->Add();
  if (absl::Status s = ToRow(def, r, as_of, row); !s.ok()) return s;
  if (!ViewRow(caller, row)) rows->RemoveLast();
  return absl::OkStatus();
}

absl::Status Get(ServiceContext* env, Projector* projector, const grid::v1::GetProjectionRequest& req,
                 const Principal& principal, grid::v1::GetProjectionResponse* resp) {
  auto reader = ReaderOf(env->worker_grids, principal);
  if (!reader.ok()) return reader.status();
  const Reader& caller = *reader;
  auto def = Def(req.name());
  if (!def.ok()) return def.status();
  if (auto s = CheckKey("key", req.key()); !s.ok()) return s;
  if (auto s = CheckKey("prefix", req.prefix()); !s.ok()) return s;
  // One snapshot of the store for the position and the rows: a rebuild's
  // deletion running meanwhile cannot leave rows out of a view labelled
  // with a position they were complete at.
  const std::unique_ptr<storage::ProjectionReader> view = projector->store()->Snapshot();
  auto folded = view->Checkpoint(req.name());
  if (!folded.ok()) return folded.status();
  Position at = *folded;
  absl::Time as_of = absl::Now();
  switch (req.as_of_case()) {
    case grid::v1::GetProjectionRequest::kAtPosition: {
      if (req.at_position() == 0) return absl::InvalidArgumentError("at_position starts at 1");
      if (req.at_position() > at) {
        return absl::OutOfRangeError(absl::StrCat("projection ", req.name(), " has folded through position ",
                                                  at, "; at_position ", req.at_position(),
                                                  " is ahead (set min_position to wait for it)"));
      }
      at = req.at_position();
      auto rec = env->log->ReadAll(at, storage::Direction::kForwards, 1, SIZE_MAX);
      if (!rec.ok()) return rec.status();
      if (!rec->empty()) as_of = rec->front()->recorded_at;
      break;
    }
    case grid::v1::GetProjectionRequest::kAtTime: {
      as_of = FromProtoTime(req.at_time());
      auto p = env->log->PositionAtTime(as_of, storage::Direction::kBackwards);
      if (!p.ok()) return p.status();
      if (*p > at) {
        return absl::UnavailableError(absl::StrCat("projection ", req.name(), " has folded through position ",
                                                   at, " but that time is at position ", *p, "; retry"));
      }
      at = *p;
      break;
    }
    default:
      break;
  }
  resp->set_position(at);
  if (at == 0) return absl::OkStatus();  // the view before any event: empty
  if (req.select_case() == grid::v1::GetProjectionRequest::kKey) {
    auto r = view->Get(req.name(), req.key(), at);
    if (!r.ok()) return r.status();
    const bool bookkeeping = !req.key().empty() && req.key()[0] == '~';
    if (*r && !bookkeeping) return AddRow(**def, **r, as_of, caller, resp->mutable_rows());
    return absl::OkStatus();
  }
  const uint32_t max_rows = req.max_rows() == 0 ? kDefaultMaxRows : std::min(req.max_rows(), kMaxRows);
  absl::Status row_status;
  absl::Status s = view->Scan(req.name(), req.prefix(), at, [&](const ProjectionStore::RowVersion& r) {
    if (!domain::KeyMatches(r.key, req.prefix())) return true;
    if (static_cast<uint32_t>(resp->rows_size()) >= max_rows) {
      resp->set_truncated(true);
      return false;
    }
    row_status = AddRow(**def, r, as_of, caller, resp->mutable_rows());
    return row_status.ok();
  });
  return s.ok() ? row_status : s;
}

// ---------------------------------------------------------- SubscribeProjection

class ProjectionWriter final : public ServiceWriter<grid::v1::SubscribeProjectionResponse> {
 public:
  ProjectionWriter(ServiceContext* env, Projector* projector, grid::v1::SubscribeProjectionRequest req)
      : ServiceWriter(env, projector), projector_(projector), req_(std::move(req)) {}

 private:
  Step Next() override {
    Step step;
    if (!started_) {
      started_ = true;
      auto def = Def(req_.name());
      absl::Status s = def.ok() ? CheckKey("prefix", req_.prefix()) : def.status();
      if (!s.ok()) {
        step.status = ToGrpc(s);
        return step;
      }
      def_ = *def;
      // The snapshot's chunks all come from one view of the store, taken
      // here with the position it is complete at.
      snapshot_view_ = projector_->store()->Snapshot();
      auto at = snapshot_view_->Checkpoint(req_.name());
      if (!at.ok()) {
        step.status = ToGrpc(at.status());
        return step;
      }
      cursor_ = *at;
    }
    if (!snapshot_done_) {
      Step chunk = SnapshotChunk();
      sent_ = cursor_;
      last_sent_ = absl::Now();
      return chunk;
    }
    return Changes();
  }

  Step SnapshotChunk() {
    Step step;
    auto reader = ReaderOf(env_->worker_grids, access_->principal());
    if (!reader.ok()) {
      step.status = ToGrpc(reader.status());
      return step;
    }
    auto& msg = step.message;
    msg.set_snapshot(true);
    msg.set_position(cursor_);
    const absl::Time now = absl::Now();
    absl::Status row_status;
    bool more = false;
    absl::Status s = cursor_ == 0 ? absl::OkStatus()
                                  : snapshot_view_->Scan(
                                        req_.name(), req_.prefix(), cursor_,
                                        [&](const ProjectionStore::RowVersion& r) {
                                          if (!domain::KeyMatches(r.key, req_.prefix())) return true;
                                          if (static_cast<size_t>(msg.rows_size()) >= kStreamChunk) {
                                            more = true;
                                            return false;
                                          }
                                          resume_after_ = r.key;
                                          row_status = AddRow(*def_, r, now, *reader, msg.mutable_rows());
                                          return row_status.ok();
                                        },
                                        resume_after_);
    if (s.ok()) s = row_status;
    if (!s.ok()) {
      step.status = ToGrpc(s);
      return step;
    }
    if (!more) {
      msg.set_snapshot_complete(true);
      snapshot_done_ = true;
      snapshot_view_.reset();
    }
    access_->AddItems(msg.rows_size());
    step.kind = Step::kWrite;
    return step;
  }

  Step Changes() {
    Step step;
    auto reader = ReaderOf(env_->worker_grids, access_->principal());
    if (!reader.ok()) {
      step.status = ToGrpc(reader.status());
      return step;
    }
    auto& msg = step.message;
    for (;;) {
      const uint64_t progress = projector_->progress();
      // The position and the changes through it from one view, as above.
      const std::unique_ptr<storage::ProjectionReader> view = projector_->store()->Snapshot();
      auto folded = view->Checkpoint(req_.name());
      if (!folded.ok()) {
        step.status = ToGrpc(folded.status());
        return step;
      }
      const absl::Time now = absl::Now();
      Position last = cursor_;
      size_t seen = 0;
      bool stopped = false;
      absl::Status row_status;
      absl::Status s =
          view->Changes(req_.name(), cursor_, *folded, [&](const ProjectionStore::RowVersion& r) {
            // Stop only between positions, so a message never splits one.
            if (r.position != last && seen >= kStreamChunk) {
              stopped = true;
              return false;
            }
            last = r.position;
            ++seen;
            if (!domain::KeyMatches(r.key, req_.prefix())) return true;
            row_status = AddRow(*def_, r, now, *reader, msg.mutable_rows());
            return row_status.ok();
          });
      if (s.ok()) s = row_status;
      if (!s.ok()) {
        step.status = ToGrpc(s);
        return step;
      }
      cursor_ = stopped ? last : std::max(cursor_, *folded);
      const absl::Duration since_sent = now - last_sent_;
      if (msg.rows_size() > 0 || (!stopped && cursor_ > sent_ && since_sent >= kProgressEvery)) {
        // Rows, or (at most every kProgressEvery) a position-only message, so
        // a subscriber to a quiet prefix still learns how far its view goes.
        msg.set_position(cursor_);
        sent_ = cursor_;
        last_sent_ = now;
        access_->AddItems(msg.rows_size());
        step.kind = Step::kWrite;
        return step;
      }
      if (!stopped) {
        step.kind = Step::kWait;
        step.wait_after = progress;
        if (cursor_ > sent_) step.wake_after = kProgressEvery - since_sent;
        return step;
      }
    }
  }

  Projector* const projector_;
  const grid::v1::SubscribeProjectionRequest req_;
  const domain::ProjectionDef* def_ = nullptr;
  bool started_ = false;
  bool snapshot_done_ = false;
  std::unique_ptr<storage::ProjectionReader> snapshot_view_;  // until the snapshot is sent
  std::string resume_after_;
  Position cursor_ = 0;  // the subscriber's view is complete through here
  Position sent_ = 0;    // the position of the last message sent
  absl::Time last_sent_ = absl::InfinitePast();
};

}  // namespace

namespace {

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
    if (absl::Status s = Get(env, projector, *request, p, response); !s.ok()) return s;
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
  auto* w = new ProjectionWriter(env_, projector_, *request);
  w->Start(*std::move(call));
  return w;
}

grpc::ServerUnaryReactor* ProjectionService::ListProjections(grpc::CallbackServerContext* ctx,
                                                             const grid::v1::ListProjectionsRequest*,
                                                             grid::v1::ListProjectionsResponse* response) {
  auto* reactor = ctx->DefaultReactor();
  auto call = BeginUnary(env_, ctx, reactor, Rpc::kListProjections, "");
  if (call == nullptr) return reactor;
  const Position head = env_->log->GetHead().position;
  response->set_head_position(head);
  for (const auto& i : projector_->List()) {
    auto* p = response->add_projections();
    p->set_name(i.name);
    p->set_description(i.description);
    p->set_position(i.position);
    p->set_lag(head > i.position ? head - i.position : 0);
    p->set_state(i.state);
  }
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
  if (absl::Status s = Def(request->name()).status(); !s.ok()) {
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
