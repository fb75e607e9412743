#include <utility>  // before Boost.Asio (GCC 12 + C++20)

#include "server/log/log_service.h"

#include <grpcpp/support/byte_buffer.h>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>

#include <cstddef>
#include <memory>
#include <optional>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "domain/rules.h"
#include "server/log/filter.h"
#include "server/log/frame_builder.h"
#include "storage/proto_time.h"

namespace grid::server {
namespace {

constexpr size_t kDefaultBatch = 256;
constexpr size_t kMaxMessageBytes = 1 << 20;
constexpr size_t kScanBatch = 1024;
constexpr uint32_t kDefaultCheckpointInterval = 1000;
constexpr absl::Duration kIdleCheckpointEvery = absl::Seconds(1);

// The event's actor: the caller's principal, and with a policy its role and
// (first) jurisdiction.
grid::v1::Actor ActorFor(const Principal& p) {
  grid::v1::Actor a;
  a.set_principal(p.name());
  if (!p.dev()) {
    a.set_role(p.RoleName());
    if (!p.jurisdiction().empty()) a.set_org_path(p.jurisdiction()[0]);
  }
  return a;
}

// ---------------------------------------------------------------- Read

class ReadWriter final : public ServiceWriter<grpc::ByteBuffer> {
 public:
  ReadWriter(ServiceContext* env, grid::v1::ReadRequest req)
      : ServiceWriter<grpc::ByteBuffer>(env, env->tail),
        req_(std::move(req)),
        all_(req_.has_all()),
        dir_(req_.direction() == grid::v1::BACKWARDS ? storage::Direction::kBackwards
                                                     : storage::Direction::kForwards),
        remaining_(req_.max_count() == 0 ? UINT64_MAX : req_.max_count()),
        batch_(req_.batch_size() == 0 ? kDefaultBatch : req_.batch_size()),
        wait_until_(absl::Now() + env->unary_deadline) {}

 private:
  // Finds the first version or position to read. Storage lookups, so it
  // runs on the pool at the first step, not in the RPC handler.
  absl::Status ResolveStart() {
    const bool backwards = dir_ == storage::Direction::kBackwards;
    if (!all_) {
      auto last = env_->log->StreamHead(req_.stream());
      if (!last.ok()) return last.status();
      const auto absent = [this] {
        return absl::NotFoundError(absl::StrCat("stream '", req_.stream(), "' does not exist"));
      };
      if (!last->has_value()) return absent();
      // A stream whose latest event lies outside the caller's jurisdiction
      // answers as a missing one: its existence and length are not the
      // caller's to learn.
      auto reader = ReaderOf(env_->worker_grids, access_->principal());
      if (!reader.ok()) return reader.status();
      if (!reader->everywhere()) {
        auto newest =
            env_->log->ReadStream(req_.stream(), **last, storage::Direction::kForwards, 1, kMaxMessageBytes);
        if (!newest.ok()) return newest.status();
        if (newest->empty() || !reader->Sees(newest->front()->org_path)) return absent();
      }
      if (!req_.has_from_version()) {
        next_ = backwards ? **last : 0;
      } else if (!backwards && req_.from_version() > **last + 1) {
        return absl::OutOfRangeError(absl::StrCat("from_version ", req_.from_version(),
                                                  " is past the end of stream '", req_.stream(),
                                                  "' (last version ", **last, ")"));
      } else {
        next_ = req_.from_version();
      }
      return absl::OkStatus();
    }
    const storage::Position head = env_->log->GetHead().position;
    if (req_.has_from_position()) {
      if (req_.from_position() == 0) {
        return absl::InvalidArgumentError("positions start at 1");
      }
      if (req_.from_position() > head + 1) {
        return absl::OutOfRangeError(absl::StrCat("from_position ", req_.from_position(),
                                                  " is past the head of the log (", head, ")"));
      }
      next_ = req_.from_position();
    } else if (req_.has_from_time()) {
      auto p = env_->log->PositionAtTime(FromProtoTime(req_.from_time()), dir_);
      if (!p.ok()) return p.status();
      next_ = *p;
      if (backwards && next_ == 0) done_ = true;
    } else {
      next_ = backwards ? head : 1;
    }
    return absl::OkStatus();
  }

  Step Next() override {
    Step step;
    if (!resolved_) {
      // Read-your-writes: the start is resolved once the log holds it.
      if (auto wait = AwaitApplied(req_.min_position(), wait_until_)) return *std::move(wait);
      resolved_ = true;
      if (absl::Status s = ResolveStart(); !s.ok()) {
        step.status = ToGrpc(s);
        return step;
      }
    }
    if (done_ || remaining_ == 0) {
      step.status = grpc::Status::OK;
      return step;
    }
    // Events outside the caller's jurisdiction are skipped; a message goes
    // out after at most kMaxScanBatches reads even if it stays empty, so one
    // sparse read does not hold a pool thread for the whole log.
    constexpr int kMaxScanBatches = 64;
    auto reader = ReaderOf(env_->worker_grids, access_->principal());
    if (!reader.ok()) {
      step.status = ToGrpc(reader.status());
      return step;
    }
    FrameBuilder frame;
    std::string redacted;
    for (int scans = 0; frame.events() == 0 && !done_ && remaining_ > 0 && scans < kMaxScanBatches; ++scans) {
      const size_t want = static_cast<size_t>(std::min<uint64_t>(batch_, remaining_));
      if (all_ && reader_ == nullptr) reader_ = env_->log->NewReader(dir_);
      auto records = all_ ? reader_->Read(next_, want, kMaxMessageBytes)
                          : env_->log->ReadStream(req_.stream(), next_, dir_, want, kMaxMessageBytes);
      if (!records.ok()) {
        step.status = ToGrpc(records.status());
        return step;
      }
      if (records->empty()) {
        done_ = true;
        break;
      }
      for (const auto& r : *records) {
        auto view = ViewEvent(*reader, *r, env_->checked_from, &redacted);
        if (!view.ok()) {
          step.status = ToGrpc(view.status());
          return step;
        }
        switch (*view) {
          case EventView::kHidden:
            break;
          case EventView::kAsStored:
            frame.AddEvent(r->wire, r);
            --remaining_;
            break;
          case EventView::kRedacted:
            frame.AddEvent(redacted);  // this call's own bytes: copied
            --remaining_;
            break;
        }
        const uint64_t at = all_ ? r->position : r->stream_version;
        if (dir_ == storage::Direction::kForwards) {
          next_ = at + 1;
        } else if (at == (all_ ? 1u : 0u)) {
          done_ = true;
        } else {
          next_ = at - 1;
        }
        if (remaining_ == 0 || done_) break;
      }
    }
    if (done_ || remaining_ == 0) reader_.reset();  // lets go of its iterator now
    if (frame.events() == 0 && (done_ || remaining_ == 0)) {
      step.status = grpc::Status::OK;
      return step;
    }
    access_->AddItems(frame.events());
    step.kind = Step::kWrite;
    step.message = frame.Take();
    return step;
  }

  const grid::v1::ReadRequest req_;
  const bool all_;
  const storage::Direction dir_;
  uint64_t next_ = 0;  // next position (all) or version (stream) to read
  uint64_t remaining_;
  const size_t batch_;
  const absl::Time wait_until_;  // for min_position
  bool resolved_ = false;
  bool done_ = false;
  std::unique_ptr<storage::LogReader> reader_;  // the whole log's, kept from message to message
};

// ---------------------------------------------------------------- Subscribe

// Catch-up reads from the log until the cursor reaches the head, then live
// reads from the shared tail; back to catch-up when the tail has moved past
// the cursor. The cursor is the last position scanned, so the switch in
// either direction can neither skip nor repeat an event.
class SubscribeWriter final : public ServiceWriter<grpc::ByteBuffer> {
 public:
  // Starts after position `after`, at `from_time` when that is set, or
  // after the head with `from_now`; once the log holds `min_position`.
  SubscribeWriter(ServiceContext* env, EventFilter filter, storage::Position after,
                  std::optional<absl::Time> from_time, bool from_now, storage::Position min_position,
                  size_t max_batch, uint32_t checkpoint_interval)
      : ServiceWriter<grpc::ByteBuffer>(env, env->tail),
        filter_(std::move(filter)),
        from_time_(from_time),
        from_now_(from_now),
        min_position_(min_position),
        wait_until_(absl::Now() + env->unary_deadline),
        cursor_(after),
        max_batch_(max_batch),
        checkpoint_interval_(checkpoint_interval) {
    scanned_.store(after, std::memory_order_relaxed);
    env_->subscribers.Add(&scanned_);
  }
  ~SubscribeWriter() override { env_->subscribers.Remove(&scanned_); }

 private:
  Step Next() override {
    Step step;
    if (min_position_ > 0) {
      if (auto wait = AwaitApplied(min_position_, wait_until_)) return *std::move(wait);
      min_position_ = 0;
    }
    if (from_now_) {
      cursor_ = env_->log->GetHead().position;
      scanned_.store(cursor_, std::memory_order_relaxed);
      from_now_ = false;
    }
    if (from_time_) {
      auto p = env_->log->PositionAtTime(*from_time_, storage::Direction::kForwards);
      if (!p.ok()) {
        step.status = ToGrpc(p.status());
        return step;
      }
      cursor_ = *p - 1;
      // A time not reached yet: the events committed until then are
      // before it and are skipped below, not delivered.
      if (*p > env_->log->GetHead().position) not_before_ = from_time_;
      from_time_.reset();
    }
    // A grid worker's grids as of this step: an assignment made or ended
    // takes effect at the next.
    auto reader = ReaderOf(env_->worker_grids, access_->principal());
    if (!reader.ok()) {
      step.status = ToGrpc(reader.status());
      return step;
    }
    for (;;) {
      std::vector<storage::RecordPtr> records;
      if (!live_) {
        if (cursor_ >= env_->log->GetHead().position) {
          live_ = true;
          caught_up_pending_ = true;
          catch_up_.reset();  // lets go of its iterator
          continue;
        }
        if (!unread_.empty()) {
          records.swap(unread_);  // what the last message left, from cursor_ + 1
        } else {
          if (catch_up_ == nullptr) catch_up_ = env_->log->NewReader(storage::Direction::kForwards);
          auto read = catch_up_->Read(cursor_ + 1, kScanBatch, kMaxMessageBytes);
          if (!read.ok()) {
            step.status = ToGrpc(read.status());
            return step;
          }
          records = *std::move(read);
        }
      } else {
        switch (env_->tail->Read(cursor_, kScanBatch, kMaxMessageBytes, &records)) {
          case LiveTail::ReadResult::kFellBehind:
            live_ = false;
            fell_behind_pending_ = true;
            if (env_->metrics != nullptr) env_->metrics->SubscriberFellBehind();
            continue;
          case LiveTail::ReadResult::kNothingYet:
            if (caught_up_pending_ ||
                (scanned_unsent_ > 0 && absl::Now() - last_sent_ >= kIdleCheckpointEvery)) {
              return Emit(std::move(step));
            }
            step.kind = Step::kWait;
            step.wait_after = cursor_;
            scanned_.store(cursor_, std::memory_order_relaxed);
            // Scanned but unreported positions: report them when idle.
            if (scanned_unsent_ > 0) {
              step.wake_after = kIdleCheckpointEvery - (absl::Now() - last_sent_);
            }
            return step;
          case LiveTail::ReadResult::kOk:
            break;
        }
      }
      for (size_t i = 0; i < records.size(); ++i) {
        const storage::RecordPtr& r = records[i];
        cursor_ = r->position;
        // recorded_at only grows with the position: once one event is at
        // or after the start time, every later one is too.
        if (not_before_ && r->recorded_at >= *not_before_) not_before_.reset();
        if (not_before_ || !filter_.Matches(*r)) {
          ++scanned_unsent_;
        } else {
          // Redacted once per view for every live subscriber (SharedViews).
          auto view = env_->views.View(*reader, *r, env_->checked_from, /*keep=*/live_, &redacted_);
          if (!view.ok()) {
            step.status = ToGrpc(view.status());
            return step;
          }
          switch (*view) {
            case EventView::kHidden:
              ++scanned_unsent_;
              break;
            case EventView::kAsStored:
              frame_.AddEvent(r->wire, r);
              break;
            case EventView::kRedacted:
              frame_.AddEvent(*redacted_, redacted_);
              break;
          }
        }
        if (frame_.events() >= max_batch_ || frame_.bytes() >= kMaxMessageBytes ||
            scanned_unsent_ >= checkpoint_interval_) {
          // The rest of a catch-up read goes into the next message, not
          // read again (from the tail, reading is copying pointers).
          if (!live_) unread_.assign(records.begin() + static_cast<std::ptrdiff_t>(i) + 1, records.end());
          break;
        }
      }
      if (frame_.events() > 0 || scanned_unsent_ >= checkpoint_interval_ || fell_behind_pending_) {
        return Emit(std::move(step));
      }
    }
  }

  Step Emit(Step step) {
    scanned_.store(cursor_, std::memory_order_relaxed);
    frame_.AddUint64(2, cursor_);
    if (caught_up_pending_ && live_) {
      frame_.AddTrue(3);
      caught_up_pending_ = false;
    }
    if (fell_behind_pending_) {
      frame_.AddTrue(4);
      fell_behind_pending_ = false;
    }
    scanned_unsent_ = 0;
    last_sent_ = absl::Now();
    access_->AddItems(frame_.events());
    step.kind = Step::kWrite;
    step.message = frame_.Take();
    return step;
  }

  const EventFilter filter_;
  std::optional<absl::Time> from_time_;
  bool from_now_;
  storage::Position min_position_;
  const absl::Time wait_until_;  // for min_position
  // A start time still ahead when the subscription began: nothing recorded
  // before it is delivered.
  std::optional<absl::Time> not_before_;
  storage::Position cursor_;
  const size_t max_batch_;
  const uint32_t checkpoint_interval_;
  bool live_ = false;
  bool caught_up_pending_ = false;
  bool fell_behind_pending_ = false;
  std::atomic<uint64_t> scanned_{0};  // cursor_ as of the last message or wait
  uint64_t scanned_unsent_ = 0;
  absl::Time last_sent_ = absl::Now();
  FrameBuilder frame_;
  std::shared_ptr<const std::string> redacted_;   // the last redacted event
  std::unique_ptr<storage::LogReader> catch_up_;  // while it reads the log, not the tail
  std::vector<storage::RecordPtr> unread_;        // read from the log, after cursor_, not yet sent
};

// A subscription's filter as the audit records it.
std::string FilterScope(const grid::v1::Filter& f) {
  std::string out = "filter";
  auto add = [&out](const char* what, const auto& values) {
    if (!values.empty()) absl::StrAppend(&out, " ", what, "=", absl::StrJoin(values, ","));
  };
  add("types", f.event_types());
  add("streams", f.stream_prefixes());
  add("orgs", f.org_prefixes());
  return out.substr(0, 512);
}

}  // namespace

void LogService::BeginShutdown() {
  env_->stopping.store(true);
  env_->tail->Close();
}

namespace {

// The rest of an admitted append: to the shard's writer (cluster mode) or
// this node's sequencer, once the intent is in the audit.
void SubmitAppend(ServiceContext* env, grpc::ServerUnaryReactor* reactor, grid::v1::AppendResponse* response,
                  const std::shared_ptr<AccessCall>& call, storage::AppendBatch batch) {
  // Cluster mode: the shard's writer commits; any other node forwards what
  // it admitted here to the writer (the same events, the same caller).
  bool forward = false;
  if (env->cluster != nullptr) {
    if (absl::Status route = env->cluster->RouteAppend(&forward); !route.ok()) {
      FinishUnary(reactor, call.get(), ToGrpc(route));
      return;
    }
  }
  batch.scope = call->principal().append_scope();
  if (!call->principal().dev()) {
    std::vector<std::string> orgs;
    // Every place an event changes (both ends of a move, say), so that each
    // town's auditor finds the append, not only the envelope's town's.
    for (const auto& e : batch.events) {
      for (std::string& o : domain::TouchedOrgPaths(e)) {
        if (std::find(orgs.begin(), orgs.end(), o) == orgs.end()) orgs.push_back(std::move(o));
      }
    }
    call->set_org_paths(std::move(orgs));
  }
  auto pending = std::make_shared<storage::AppendBatch>(std::move(batch));
  // To the sequencer once the intent is in the audit (on its writer thread;
  // Submit only queues).
  call->Intend([env, reactor, response, call, pending, forward](const absl::Status& stored) {
    if (!stored.ok()) {
      FinishUnary(reactor, call.get(), ToGrpc(stored));
      return;
    }
    auto done = [reactor, response, call, metrics = env->metrics](const storage::AppendOutcome& out) {
      if (!out.status.ok()) {
        FinishUnary(reactor, call.get(), ToGrpc(out.status));
        return;
      }
      if (metrics != nullptr) metrics->AppendCommitted(out.events.size());
      for (const auto& e : out.events) {
        auto* r = response->add_results();
        r->set_position(e.position);
        r->set_stream_version(e.stream_version);
        r->set_duplicate(e.duplicate);
      }
      response->set_stream_version(out.stream_version);
      response->set_head_position(out.head_position);
      call->AddItems(out.events.size());
      FinishUnary(reactor, call.get(), grpc::Status::OK);
    };
    if (forward) {
      env->cluster->Forward(std::move(*pending), std::move(done));
    } else {
      env->sequencer->Submit(std::move(*pending), std::move(done));
    }
  });
}

}  // namespace

grpc::ServerUnaryReactor* LogService::Append(grpc::CallbackServerContext* ctx,
                                             const grid::v1::AppendRequest* request,
                                             grid::v1::AppendResponse* response) {
  auto* reactor = ctx->DefaultReactor();
  if (env_->stopping.load()) {
    reactor->Finish(ToGrpc(ShuttingDown()));
    return reactor;
  }
  auto call = BeginUnary(
      env_, ctx, reactor, Rpc::kAppend,
      absl::StrCat("stream=", request->stream().substr(0, 256), " events=", request->events_size()));
  if (call == nullptr) return reactor;
  const Principal& p = call->principal();
  auto batch = env_->append_validator.Validate(*request, ActorFor(p), absl::Now());
  if (!batch.ok()) {
    FinishUnary(reactor, call.get(), ToGrpc(batch.status()));
    return reactor;
  }
  for (size_t i = 0; i < batch->events.size(); ++i) {
    if (absl::Status s = p.MayAppend(batch->events[i]); !s.ok()) {
      FinishUnary(reactor, call.get(),
                  ToGrpc(absl::PermissionDeniedError(absl::StrCat("events[", i, "]: ", s.message()))));
      return reactor;
    }
  }
  if (env_->append_check.applies && env_->append_check.applies(*batch)) {
    // It reads the projection store: on the pool, not this gRPC thread.
    auto pending = std::make_shared<storage::AppendBatch>(*std::move(batch));
    boost::asio::post(*env_->pool, [env = env_, reactor, response, call, pending] {
      if (absl::Status s = env->append_check.check(call->principal(), *pending); !s.ok()) {
        FinishUnary(reactor, call.get(), ToGrpc(s));
        return;
      }
      SubmitAppend(env, reactor, response, call, std::move(*pending));
    });
    return reactor;
  }
  SubmitAppend(env_, reactor, response, call, *std::move(batch));
  return reactor;
}

grpc::ServerUnaryReactor* LogService::GetStatus(grpc::CallbackServerContext* ctx,
                                                const grid::v1::GetStatusRequest*,
                                                grid::v1::LogStatus* response) {
  auto* reactor = ctx->DefaultReactor();
  auto call = BeginUnary(env_, ctx, reactor, Rpc::kGetStatus, "");
  if (call == nullptr) return reactor;
  const storage::Head head = env_->log->GetHead();
  response->set_head_position(head.position);
  response->set_chain_head(head.chain.data(), head.chain.size());
  *response->mutable_last_recorded_at() = ToProtoTime(head.recorded_at);
  const absl::Status health = env_->log->WriteHealth();
  response->set_writable(health.ok());
  response->set_failure(std::string(health.message()));
  response->set_format_version(1);
  if (env_->signer != nullptr) response->set_signing_public_key(env_->signer->public_key());
  if (env_->cluster != nullptr) env_->cluster->Describe(response->mutable_cluster());
  FinishUnary(reactor, call.get(), grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* LogService::ListCheckpoints(grpc::CallbackServerContext* ctx,
                                                      const grid::v1::ListCheckpointsRequest* request,
                                                      grid::v1::ListCheckpointsResponse* response) {
  auto* reactor = ctx->DefaultReactor();
  auto call = BeginUnary(env_, ctx, reactor, Rpc::kListCheckpoints,
                         absl::StrCat("from_position=", request->from_position()));
  if (call == nullptr) return reactor;
  if (request->max_count() > 10000) {
    FinishUnary(reactor, call.get(), ToGrpc(absl::InvalidArgumentError("max_count must be at most 10000")));
    return reactor;
  }
  // A storage read: on the pool, not in the reaction.
  boost::asio::post(*env_->pool, [this, reactor, request, response, call] {
    auto cps = env_->log->ReadCheckpoints(request->from_position(),
                                          request->max_count() == 0 ? 1000 : request->max_count());
    if (!cps.ok()) {
      FinishUnary(reactor, call.get(), ToGrpc(cps.status()));
      return;
    }
    for (const auto& [pos, value] : *cps) {
      if (!response->add_checkpoints()->ParseFromString(value)) {
        FinishUnary(reactor, call.get(),
                    ToGrpc(absl::DataLossError(absl::StrCat("checkpoint at ", pos, " does not parse"))));
        return;
      }
    }
    if (env_->signer != nullptr) response->set_public_key(env_->signer->public_key());
    call->AddItems(response->checkpoints_size());
    FinishUnary(reactor, call.get(), grpc::Status::OK);
  });
  return reactor;
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* LogService::Read(grpc::CallbackServerContext* ctx,
                                                             const grpc::ByteBuffer* raw) {
  using Failed = FailedStream<grpc::ByteBuffer>;
  if (env_->stopping.load()) return new Failed(ShuttingDown());
  grid::v1::ReadRequest req;
  const bool parsed = ParseRequest(raw, &req);
  auto call = BeginCall(env_, ctx, Rpc::kRead,
                        !parsed         ? "(request does not parse)"
                        : req.has_all() ? "all"
                                        : absl::StrCat("stream=", req.stream().substr(0, 256)));
  if (!call.ok()) return new Failed(call.status());
  absl::Status valid = parsed ? ValidateRead(req) : absl::InvalidArgumentError("ReadRequest does not parse");
  if (!valid.ok()) {
    (*call)->Done(ToGrpc(valid));
    return new Failed(valid);
  }
  auto* w = new ReadWriter(env_, std::move(req));
  w->Start(*std::move(call));
  return w;
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* LogService::Subscribe(grpc::CallbackServerContext* ctx,
                                                                  const grpc::ByteBuffer* raw) {
  using Failed = FailedStream<grpc::ByteBuffer>;
  if (env_->stopping.load()) return new Failed(ShuttingDown());
  grid::v1::SubscribeRequest req;
  const bool parsed = ParseRequest(raw, &req);
  auto call =
      BeginCall(env_, ctx, Rpc::kSubscribe, parsed ? FilterScope(req.filter()) : "(request does not parse)");
  if (!call.ok()) return new Failed(call.status());
  // A start up to min_position is valid: the subscription begins once the
  // log holds it.
  const storage::Position head = env_->log->GetHead().position;
  absl::StatusOr<EventFilter> filter = parsed ? ValidateSubscribe(req, std::max(head, req.min_position()))
                                              : absl::InvalidArgumentError("SubscribeRequest does not parse");
  if (!filter.ok()) {
    (*call)->Done(ToGrpc(filter.status()));
    return new Failed(filter.status());
  }
  storage::Position after = 0;
  std::optional<absl::Time> from_time;
  switch (req.from_case()) {
    case grid::v1::SubscribeRequest::kAfterPosition:
      after = req.after_position();
      break;
    case grid::v1::SubscribeRequest::kFromTime:
      from_time = FromProtoTime(req.from_time());
      break;
    case grid::v1::SubscribeRequest::kFromNow:
      after = head;  // or the head once min_position is there, if later
      break;
    default:
      after = 0;
  }
  auto* w = new SubscribeWriter(
      env_, *std::move(filter), after, from_time,
      req.from_case() == grid::v1::SubscribeRequest::kFromNow && req.min_position() > head,
      req.min_position(), req.max_batch() == 0 ? kDefaultBatch : req.max_batch(),
      req.checkpoint_interval() == 0 ? kDefaultCheckpointInterval : req.checkpoint_interval());
  w->Start(*std::move(call));
  return w;
}

}  // namespace grid::server
