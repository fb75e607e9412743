#include "server/projections/projection_read.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "domain/rules.h"

namespace grid::server {
namespace {

using storage::Position;
using storage::ProjectionStore;

constexpr uint32_t kDefaultMaxRows = 1000;
constexpr uint32_t kMaxRows = 10000;

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

}  // namespace

absl::Status CheckProjectionKey(absl::string_view what, const std::string& key) {
  if (key.size() > 512 || key.find('\0') != std::string::npos || key.find('\1') != std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat(what, " must be up to 512 bytes without NUL or \\x01"));
  }
  return absl::OkStatus();
}

absl::StatusOr<const domain::ProjectionDef*> ProjectionDefNamed(const std::string& name) {
  const domain::ProjectionDef* def = domain::FindProjection(name);
  if (def == nullptr) {
    std::string names;
    for (const auto& d : domain::AllProjections()) absl::StrAppend(&names, names.empty() ? "" : ", ", d.name);
    return absl::NotFoundError(
        absl::StrCat("no projection named '", name.substr(0, 64), "'; there are: ", names));
  }
  return def;
}

absl::Status AddViewRow(const domain::ProjectionDef& def, const ProjectionStore::RowVersion& r,
                        absl::Time as_of, const Reader& caller,
                        google::protobuf::RepeatedPtrField<grid::v1::ProjectionRow>* rows) {
  grid::v1::ProjectionRow* row = rows->Add();
  if (absl::Status s = ToRow(def, r, as_of, row); !s.ok()) return s;
  if (!ViewRow(caller, row)) rows->RemoveLast();
  return absl::OkStatus();
}

absl::Status ReadProjection(ServiceContext* env, Projector* projector,
                            const grid::v1::GetProjectionRequest& req, const Principal& principal,
                            grid::v1::GetProjectionResponse* resp) {
  auto reader = ReaderOf(env->worker_grids, principal);
  if (!reader.ok()) return reader.status();
  const Reader& caller = *reader;
  auto def = ProjectionDefNamed(req.name());
  if (!def.ok()) return def.status();
  if (auto s = CheckProjectionKey("key", req.key()); !s.ok()) return s;
  if (auto s = CheckProjectionKey("prefix", req.prefix()); !s.ok()) return s;
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
    if (*r && !bookkeeping) return AddViewRow(**def, **r, as_of, caller, resp->mutable_rows());
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
    row_status = AddViewRow(**def, r, as_of, caller, resp->mutable_rows());
    return row_status.ok();
  });
  return s.ok() ? row_status : s;
}

void ListProjectionViews(ServiceContext* env, Projector* projector, grid::v1::ListProjectionsResponse* resp) {
  const Position head = env->log->GetHead().position;
  resp->set_head_position(head);
  for (const auto& i : projector->List()) {
    auto* p = resp->add_projections();
    p->set_name(i.name);
    p->set_description(i.description);
    p->set_position(i.position);
    p->set_lag(head > i.position ? head - i.position : 0);
    p->set_state(i.state);
  }
}

}  // namespace grid::server
