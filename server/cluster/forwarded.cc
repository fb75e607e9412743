#include "server/cluster/forwarded.h"

#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/access/access_policy.h"
#include "server/access/redact.h"
#include "server/log/validation.h"

namespace grid::server {

using grid::cluster::v1::ForwardedAppend;
using grid::cluster::v1::ForwardedAppendResult;

ForwardedAppend ToForwarded(storage::AppendBatch batch, const std::string& shard,
                            const std::string& from_node) {
  ForwardedAppend f;
  f.set_shard(shard);
  f.set_from_node(from_node);
  grid::v1::AppendRequest* req = f.mutable_request();
  req->set_stream(std::move(batch.stream));
  switch (batch.expected.kind) {
    case storage::Expected::kAny:
      req->mutable_any();
      break;
    case storage::Expected::kNoStream:
      req->mutable_no_stream();
      break;
    case storage::Expected::kStreamExists:
      req->mutable_stream_exists();
      break;
    case storage::Expected::kExact:
      req->set_exact_version(batch.expected.version);
      break;
  }
  req->mutable_events()->Reserve(static_cast<int>(batch.events.size()));
  for (grid::v1::Event& e : batch.events) *req->add_events() = std::move(e);
  *f.mutable_actor() = std::move(batch.actor);
  if (batch.scope != nullptr) {
    auto* scope = f.mutable_scope();
    for (const std::string& j : batch.scope->jurisdiction) scope->add_jurisdiction(j);
    scope->set_worker(batch.scope->worker);
    scope->set_clearance(batch.scope->clearance);
    scope->set_audiences(batch.scope->audiences);
  }
  return f;
}

absl::StatusOr<storage::AppendBatch> FromForwarded(ForwardedAppend forwarded) {
  grid::v1::AppendRequest* req = forwarded.mutable_request();
  if (req->stream().empty() || req->events().empty()) {
    return absl::InvalidArgumentError("a forwarded append needs a stream and at least one event");
  }
  storage::AppendBatch batch;
  batch.expected = ExpectedOf(*req);
  batch.events.reserve(static_cast<size_t>(req->events_size()));
  for (int i = 0; i < req->events_size(); ++i) {
    grid::v1::Event* e = req->mutable_events(i);
    if (e->stream() != req->stream()) {
      return absl::InvalidArgumentError(
          absl::StrCat("forwarded events[", i, "] is not of stream '", req->stream(), "'"));
    }
    if (e->has_recorded_at() || e->position() != 0 || e->stream_version() != 0 || e->has_actor() ||
        !e->chain().empty()) {
      return absl::InvalidArgumentError(absl::StrCat("forwarded events[", i, "] has server fields set"));
    }
    // What has no class is refused here as at any node's Append (a peer
    // of a newer version, or one that did not check).
    if (auto unknown = FindUnknownField(*e)) {
      return absl::InvalidArgumentError(
          absl::StrCat("forwarded events[", i, "] has a field this node does not know: ", *unknown));
    }
    batch.events.push_back(std::move(*e));
  }
  batch.stream = std::move(*req->mutable_stream());
  batch.actor = std::move(*forwarded.mutable_actor());
  if (forwarded.has_scope()) {
    auto scope = std::make_shared<storage::AppendScope>();
    scope->jurisdiction.assign(forwarded.scope().jurisdiction().begin(),
                               forwarded.scope().jurisdiction().end());
    scope->worker = forwarded.scope().worker();
    scope->clearance = forwarded.scope().clearance();
    scope->audiences = forwarded.scope().audiences() | (1u << grid::v1::AUDIENCE_ANY);
    scope->same_as_served = grid::server::SameAsServed(scope->clearance, scope->audiences);
    batch.scope = std::move(scope);
  }
  return batch;
}

ForwardedAppendResult ToResult(const storage::AppendOutcome& out) {
  ForwardedAppendResult r;
  r.set_status_code(static_cast<int>(out.status.code()));
  r.set_status_message(std::string(out.status.message()));
  if (!out.status.ok()) return r;
  grid::v1::AppendResponse* resp = r.mutable_response();
  for (const storage::AppendedEvent& e : out.events) {
    auto* res = resp->add_results();
    res->set_position(e.position);
    res->set_stream_version(e.stream_version);
    res->set_duplicate(e.duplicate);
  }
  resp->set_stream_version(out.stream_version);
  resp->set_head_position(out.head_position);
  return r;
}

storage::AppendOutcome FromResult(const ForwardedAppendResult& result) {
  storage::AppendOutcome out;
  if (result.status_code() != 0) {
    // absl's codes are gRPC's: the caller gets the writer's verdict as is.
    out.status = absl::Status(static_cast<absl::StatusCode>(result.status_code()), result.status_message());
    return out;
  }
  out.events.reserve(static_cast<size_t>(result.response().results_size()));
  for (const auto& res : result.response().results()) {
    out.events.push_back(
        {.position = res.position(), .stream_version = res.stream_version(), .duplicate = res.duplicate()});
  }
  out.stream_version = result.response().stream_version();
  out.head_position = result.response().head_position();
  return out;
}

}  // namespace grid::server
