// The grid_sanitation projection (projections.h lists them all).
#include "domain/projections/projection.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace grid::domain {
namespace {

absl::Status FoldGridSanitation(const Event& e, RowAccess& rows) {
  if (e.body_case() == Event::kSanitationReportSubmitted) {
    GRID_ASSIGN_OR_RETURN_ROW(cur, rows, e.org_path());
    RowValue v = cur.value_or(RowValue());
    auto* row = v.mutable_grid_sanitation();
    const auto& r = e.sanitation_report_submitted();
    row->set_last_report_id(r.report_id());
    row->set_last_kind(r.kind());
    row->set_last_score_x10(r.total_score_x10());
    *row->mutable_last_report_at() = ToProtoTime(EventTime(e));
    row->set_reports(row->reports() + 1);
    for (const auto& f : r.findings()) (*row->mutable_open_findings())[f.finding_id()] = f.rectify_by();
    row->set_open_finding_count(row->open_findings_size());
    rows.Put(e.org_path(), std::move(v));
    return absl::OkStatus();
  }
  std::string finding;
  std::optional<pb::Timestamp> deadline;
  bool close = false;
  switch (e.body_case()) {
    case Event::kRectificationOrdered:
      finding = e.rectification_ordered().finding_id();
      deadline = e.rectification_ordered().deadline();
      break;
    case Event::kRectificationReinspected:
      finding = e.rectification_reinspected().finding_id();
      close = e.rectification_reinspected().passed();
      if (!close) deadline = e.rectification_reinspected().new_deadline();
      break;
    case Event::kRectificationExtended:
      finding = e.rectification_extended().finding_id();
      deadline = e.rectification_extended().new_deadline();
      break;
    default:
      return absl::OkStatus();
  }
  GRID_ASSIGN_OR_RETURN_ROW(cur, rows, e.org_path());
  if (!cur && close) return absl::OkStatus();
  RowValue v = cur.value_or(RowValue());
  auto* row = v.mutable_grid_sanitation();
  if (close) {
    row->mutable_open_findings()->erase(finding);
  } else {
    (*row->mutable_open_findings())[finding] = *deadline;
  }
  row->set_open_finding_count(row->open_findings_size());
  rows.Put(e.org_path(), std::move(v));
  return absl::OkStatus();
}

void DeriveGridSanitation(absl::Time t, RowValue* v) {
  auto* row = v->mutable_grid_sanitation();
  uint32_t overdue = 0;
  for (const auto& [id, deadline] : row->open_findings()) overdue += FromProtoTime(deadline) < t ? 1 : 0;
  row->set_overdue_finding_count(overdue);
}

}  // namespace

ProjectionDef GridSanitationProjection() {
  return {"grid_sanitation", "per grid: last report and score, open and overdue findings", FoldGridSanitation,
          DeriveGridSanitation};
}

}  // namespace grid::domain
