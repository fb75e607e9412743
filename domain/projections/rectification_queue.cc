// The rectification_queue projection (projections.h lists them all).
#include "domain/projections/projection.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace grid::domain {
namespace {

absl::Status FoldRectificationQueue(const Event& e, RowAccess& rows) {
  std::string finding;
  switch (e.body_case()) {
    case Event::kRectificationOrdered: {
      const auto& o = e.rectification_ordered();
      RowValue v;
      auto* row = v.mutable_rectification();
      row->set_finding_id(o.finding_id());
      *row->mutable_responsible() = o.responsible();
      *row->mutable_deadline() = o.deadline();
      *row->mutable_ordered_at() = ToProtoTime(EventTime(e));
      rows.Put(Key(e.org_path(), o.finding_id()), std::move(v));
      return absl::OkStatus();
    }
    case Event::kRectificationReinspected:
      finding = e.rectification_reinspected().finding_id();
      break;
    case Event::kRectificationExtended:
      finding = e.rectification_extended().finding_id();
      break;
    case Event::kRectificationEscalated:
      finding = e.rectification_escalated().finding_id();
      break;
    default:
      return absl::OkStatus();
  }
  const std::string key = Key(e.org_path(), finding);
  GRID_ASSIGN_OR_RETURN_ROW(cur, rows, key);
  if (!cur) return absl::OkStatus();
  auto* row = cur->mutable_rectification();
  if (e.has_rectification_reinspected()) {
    if (e.rectification_reinspected().passed()) {
      rows.Delete(key);
      return absl::OkStatus();
    }
    row->set_failed_reinspections(row->failed_reinspections() + 1);
    *row->mutable_deadline() = e.rectification_reinspected().new_deadline();
  } else if (e.has_rectification_extended()) {
    row->set_extensions(row->extensions() + 1);
    *row->mutable_deadline() = e.rectification_extended().new_deadline();
  } else {
    row->set_escalated_to(e.rectification_escalated().to_org());
  }
  rows.Put(key, *std::move(cur));
  return absl::OkStatus();
}

void DeriveRectification(absl::Time t, RowValue* v) {
  auto* row = v->mutable_rectification();
  const absl::Duration late = t - FromProtoTime(row->deadline());
  row->set_days_overdue(late > absl::ZeroDuration()
                            ? static_cast<uint32_t>(std::ceil(absl::FDivDuration(late, absl::Hours(24))))
                            : 0);
}

}  // namespace

ProjectionDef RectificationQueueProjection() {
  return {"rectification_queue", "per grid#finding: responsible party, deadline, days overdue",
          FoldRectificationQueue, DeriveRectification};
}

}  // namespace grid::domain
