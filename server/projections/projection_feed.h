// ProjectionFeed: SubscribeProjection's stream — a snapshot of a
// projection's rows under a prefix as the caller may see them, then every
// change, with the position the view is complete at — over gRPC or, with the
// dashboard's Stream in place of gRPC's reactor, to a browser: one producer,
// so both carry exactly the same rows.
#ifndef GRID_SERVER_PROJECTIONS_PROJECTION_FEED_H_
#define GRID_SERVER_PROJECTIONS_PROJECTION_FEED_H_

#include <memory>
#include <string>

#include "absl/time/clock.h"
#include "domain/rules.h"
#include "server/projections/projection_read.h"

namespace grid::server {

// Rows per message, in the snapshot and (between positions) in the changes.
inline constexpr size_t kProjectionStreamChunk = 256;
// A subscriber whose prefix saw no change hears the position this often.
inline constexpr absl::Duration kProjectionProgressEvery = absl::Seconds(1);

template <class Stream = grpc::ServerWriteReactor<grid::v1::SubscribeProjectionResponse>>
class ProjectionFeed : public ServiceWriter<grid::v1::SubscribeProjectionResponse, Stream> {
  using Base = ServiceWriter<grid::v1::SubscribeProjectionResponse, Stream>;
  using Step = typename Base::Step;

 public:
  // `resume_after`: 0 starts with a snapshot; a position the feed was
  // complete at (a reconnecting browser's) starts with the changes after it.
  ProjectionFeed(ServiceContext* env, Projector* projector, grid::v1::SubscribeProjectionRequest req,
                 storage::Position resume_after = 0)
      : Base(env, projector),
        projector_(projector),
        req_(std::move(req)),
        resume_after_position_(resume_after) {}

 protected:
  ~ProjectionFeed() override = default;

 private:
  Step Next() override {
    Step step;
    if (!started_) {
      started_ = true;
      auto def = ProjectionDefNamed(req_.name());
      absl::Status s = def.ok() ? CheckProjectionKey("prefix", req_.prefix()) : def.status();
      if (!s.ok()) {
        step.status = ToGrpc(s);
        return step;
      }
      def_ = *def;
      // Resumed only from a position this node's view has reached: one
      // beyond it (a browser that saw a node further on, a restored
      // backup) would wait for positions that may hold other events.
      if (resume_after_position_ > 0) {
        auto at = projector_->store()->Snapshot()->Checkpoint(req_.name());
        if (at.ok() && resume_after_position_ <= *at) {
          cursor_ = sent_ = resume_after_position_;
          snapshot_done_ = true;
          last_sent_ = absl::Now();
          return Changes();
        }
      }
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
    auto reader = ReaderOf(this->env_->worker_grids, this->access_->principal());
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
    absl::Status s = cursor_ == 0
                         ? absl::OkStatus()
                         : snapshot_view_->Scan(
                               req_.name(), req_.prefix(), cursor_,
                               [&](const storage::ProjectionStore::RowVersion& r) {
                                 if (!domain::KeyMatches(r.key, req_.prefix())) return true;
                                 if (static_cast<size_t>(msg.rows_size()) >= kProjectionStreamChunk) {
                                   more = true;
                                   return false;
                                 }
                                 resume_after_ = r.key;
                                 row_status = AddViewRow(*def_, r, now, *reader, msg.mutable_rows());
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
    this->access_->AddItems(msg.rows_size());
    step.kind = Step::kWrite;
    return step;
  }

  Step Changes() {
    Step step;
    auto reader = ReaderOf(this->env_->worker_grids, this->access_->principal());
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
      storage::Position last = cursor_;
      size_t seen = 0;
      bool stopped = false;
      absl::Status row_status;
      absl::Status s =
          view->Changes(req_.name(), cursor_, *folded, [&](const storage::ProjectionStore::RowVersion& r) {
            // Stop only between positions, so a message never splits one.
            if (r.position != last && seen >= kProjectionStreamChunk) {
              stopped = true;
              return false;
            }
            last = r.position;
            ++seen;
            if (!domain::KeyMatches(r.key, req_.prefix())) return true;
            row_status = AddViewRow(*def_, r, now, *reader, msg.mutable_rows());
            return row_status.ok();
          });
      if (s.ok()) s = row_status;
      if (!s.ok()) {
        step.status = ToGrpc(s);
        return step;
      }
      cursor_ = stopped ? last : std::max(cursor_, *folded);
      const absl::Duration since_sent = now - last_sent_;
      if (msg.rows_size() > 0 || (!stopped && cursor_ > sent_ && since_sent >= kProjectionProgressEvery)) {
        // Rows, or (at most every kProjectionProgressEvery) a position-only message, so
        // a subscriber to a quiet prefix still learns how far its view goes.
        msg.set_position(cursor_);
        sent_ = cursor_;
        last_sent_ = now;
        this->access_->AddItems(msg.rows_size());
        step.kind = Step::kWrite;
        return step;
      }
      if (!stopped) {
        step.kind = Step::kWait;
        step.wait_after = progress;
        if (cursor_ > sent_) step.wake_after = kProjectionProgressEvery - since_sent;
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
  const storage::Position resume_after_position_;
  storage::Position cursor_ = 0;  // the subscriber's view is complete through here
  storage::Position sent_ = 0;    // the position of the last message sent
  absl::Time last_sent_ = absl::InfinitePast();
};

}  // namespace grid::server

#endif  // GRID_SERVER_PROJECTIONS_PROJECTION_FEED_H_
