// The project_pipeline and the pending_approvals projections (projections.h lists them all).
#include "domain/projections/projection.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace grid::domain {
namespace {

// The pipeline row after `e`; nullopt if `e` does not apply to `prev`.
std::optional<grid::v1::ProjectPipelineRow> NextPipeline(const grid::v1::ProjectPipelineRow* prev,
                                                         const Event& e) {
  const absl::Time when = EventTime(e);
  auto stop_clock = [&](grid::v1::ProjectPipelineRow* row) {
    if (row->has_clock_running_since()) {
      row->set_working_days_banked(row->working_days_banked() +
                                   WorkingDaysBetween(FromProtoTime(row->clock_running_since()), when));
      row->clear_clock_running_since();
    }
  };
  auto ask = [&](grid::v1::Stage s, const std::string& dept) {
    grid::v1::PendingAsk a;
    a.set_stage(s);
    a.set_department(dept);
    *a.mutable_since() = ToProtoTime(when);
    return a;
  };
  if (e.has_project_declared()) {
    const auto& d = e.project_declared();
    grid::v1::ProjectPipelineRow row;
    if (prev != nullptr) {
      if (prev->status() != "RETURNED") return std::nullopt;
      row = *prev;
      row.clear_pending();
      *row.add_pending() = ask(prev->returned_by().stage(), prev->returned_by().department());
      row.clear_returned_by();
    } else {
      row.set_project_id(d.project_id());
      row.set_applicant_org(d.applicant_org());
      *row.mutable_declared_at() = ToProtoTime(when);
      *row.add_pending() = ask(grid::v1::TOWN_PRELIMINARY, std::string(ParentOf(d.applicant_org())));
    }
    row.set_title(d.title());
    row.set_revision(d.revision());
    row.set_investment_fen(d.investment_fen());
    row.set_status("IN_REVIEW");
    *row.mutable_clock_running_since() = ToProtoTime(when);
    return row;
  }
  if (prev == nullptr) return std::nullopt;
  grid::v1::ProjectPipelineRow row = *prev;
  switch (e.body_case()) {
    case Event::kProjectStageDecided: {
      const auto& d = e.project_stage_decided();
      auto* pending = row.mutable_pending();
      auto it = std::find_if(pending->begin(), pending->end(), [&](const grid::v1::PendingAsk& a) {
        return a.stage() == d.stage() && a.department() == d.department();
      });
      if (it == pending->end()) return std::nullopt;
      switch (d.decision()) {
        case grid::v1::ACCEPTED:
          break;
        case grid::v1::APPROVED:
        case grid::v1::OPINION:
          pending->erase(it);
          for (int i = 0; i < d.next_stages_size() && i < d.next_departments_size(); ++i) {
            *row.add_pending() = ask(d.next_stages(i), d.next_departments(i));
          }
          if (row.pending().empty()) {
            row.set_status("APPROVED");
            stop_clock(&row);
          }
          break;
        case grid::v1::RETURNED_FOR_SUPPLEMENT:
          *row.mutable_returned_by() = *it;
          row.clear_pending();
          row.mutable_missing_items()->CopyFrom(d.missing_items());
          row.set_status("RETURNED");
          stop_clock(&row);
          break;
        case grid::v1::REJECTED:
          row.clear_pending();
          row.set_status("REJECTED");
          stop_clock(&row);
          break;
        default:
          return std::nullopt;
      }
      return row;
    }
    case Event::kProjectStarted:
      row.set_status("STARTED");
      return row;
    case Event::kProjectCompleted:
      row.set_status("COMPLETED");
      return row;
    default:
      return std::nullopt;
  }
}

absl::Status FoldProjectPipeline(const Event& e, RowAccess& rows) {
  if (AggregateOf(e.type()) != "project") return absl::OkStatus();
  const std::string id = e.stream().substr(e.stream().find('/') + 1);
  const std::string key = Key(e.org_path(), id);
  GRID_ASSIGN_OR_RETURN_ROW(cur, rows, key);
  auto next = NextPipeline(cur ? &cur->project_pipeline() : nullptr, e);
  if (!next) return absl::OkStatus();
  RowValue v;
  *v.mutable_project_pipeline() = *std::move(next);
  rows.Put(key, std::move(v));
  return absl::OkStatus();
}

void DeriveProjectPipeline(absl::Time t, RowValue* v) {
  auto* row = v->mutable_project_pipeline();
  uint32_t days = row->working_days_banked();
  if (row->has_clock_running_since())
    days += WorkingDaysBetween(FromProtoTime(row->clock_running_since()), t);
  row->set_working_days_used(days);
}

absl::Status FoldPendingApprovals(const Event& e, RowAccess& rows) {
  if (AggregateOf(e.type()) != "project") return absl::OkStatus();
  const std::string id = e.stream().substr(e.stream().find('/') + 1);
  const std::string state_key = absl::StrCat("~p/", id);
  GRID_ASSIGN_OR_RETURN_ROW(cur, rows, state_key);
  const grid::v1::ProjectPipelineRow* prev = cur ? &cur->project_pipeline() : nullptr;
  auto next = NextPipeline(prev, e);
  if (!next) return absl::OkStatus();
  auto same = [](const grid::v1::PendingAsk& a, const grid::v1::PendingAsk& b) {
    return a.stage() == b.stage() && a.department() == b.department();
  };
  if (prev != nullptr) {
    for (const auto& a : prev->pending()) {
      if (std::none_of(next->pending().begin(), next->pending().end(),
                       [&](const auto& b) { return same(a, b); })) {
        rows.Delete(Key(a.department(), id));
      }
    }
  }
  for (const auto& a : next->pending()) {
    if (prev != nullptr && std::any_of(prev->pending().begin(), prev->pending().end(),
                                       [&](const auto& b) { return same(a, b); })) {
      continue;
    }
    RowValue v;
    auto* row = v.mutable_pending_approval();
    row->set_project_id(id);
    row->set_applicant_org(next->applicant_org());
    row->set_stage(a.stage());
    row->set_revision(next->revision());
    *row->mutable_since() = a.since();
    row->set_title(next->title());
    rows.Put(Key(a.department(), id), std::move(v));
  }
  RowValue state;
  *state.mutable_project_pipeline() = *std::move(next);
  rows.Put(state_key, std::move(state));
  return absl::OkStatus();
}

}  // namespace

ProjectionDef ProjectPipelineProjection() {
  return {"project_pipeline", "per applicant#project: stage, revision, pending departments, working days",
          FoldProjectPipeline, DeriveProjectPipeline};
}

ProjectionDef PendingApprovalsProjection() {
  return {"pending_approvals", "per department#project: what waits on the department, since when",
          FoldPendingApprovals, nullptr};
}

}  // namespace grid::domain
