// The form_completion projection (projections.h lists them all).
#include "domain/projections/projection.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace grid::domain {
namespace {

absl::Status FoldFormCompletion(const Event& e, RowAccess& rows) {
  switch (e.body_case()) {
    case Event::kGridDefined:
    case Event::kGridRetired: {
      RowValue v;
      v.mutable_internal()->set_active(e.has_grid_defined());
      rows.Put(absl::StrCat("~g/", e.org_path()), std::move(v));
      return absl::OkStatus();
    }
    case Event::kFormTaskIssued: {
      const auto& t = e.form_task_issued();
      std::set<std::string> targets;
      if (t.target_level() == 0) {
        targets.insert(t.target_org_prefix());
      } else {
        absl::Status s = rows.Scan(absl::StrCat("~g/", t.target_org_prefix()),
                                   [&](const std::string& key, const RowValue& v) {
                                     const std::string grid = key.substr(3);
                                     if (!v.internal().active() || !IsUnder(grid, t.target_org_prefix()))
                                       return;
                                     targets.insert(Truncate(grid, t.target_level()));
                                   });
        if (!s.ok()) return s;
      }
      for (const auto& org : targets) {
        RowValue v;
        auto* row = v.mutable_form_completion();
        row->set_task_id(t.task_id());
        row->set_org_path(org);
        *row->mutable_due() = t.due();
        row->set_status("PENDING");
        rows.Put(Key(t.task_id(), org), std::move(v));
      }
      RowValue task;
      task.mutable_internal()->set_org_path(t.target_org_prefix());
      task.mutable_internal()->set_level(t.target_level());
      *task.mutable_internal()->mutable_due() = t.due();
      rows.Put(absl::StrCat("~t/", t.task_id()), std::move(task));
      return absl::OkStatus();
    }
    case Event::kFormSubmitted: {
      const auto& f = e.form_submitted();
      GRID_ASSIGN_OR_RETURN_ROW(task, rows, absl::StrCat("~t/", f.task_id()));
      if (!task) return absl::OkStatus();
      const uint32_t level = task->internal().level();
      const std::string org = level == 0 ? task->internal().org_path() : Truncate(f.org_path(), level);
      const std::string key = Key(f.task_id(), org);
      GRID_ASSIGN_OR_RETURN_ROW(cur, rows, key);
      RowValue v = cur.value_or(RowValue());
      auto* row = v.mutable_form_completion();
      row->set_task_id(f.task_id());
      row->set_org_path(org);
      *row->mutable_due() = task->internal().due();
      row->set_submissions(row->submissions() + 1);
      if (row->submission_id().empty() || f.supersedes_submission_id() == row->submission_id() ||
          row->status() == "PENDING") {
        const absl::Time when = EventTime(e);
        // The first submission decides on-time or late; a superseding one
        // replaces the values, not the timeliness.
        if (row->status() == "PENDING" || row->status().empty()) {
          row->set_status(when > FromProtoTime(task->internal().due()) ? "LATE" : "SUBMITTED");
          *row->mutable_submitted_at() = ToProtoTime(when);
        }
        row->set_submission_id(f.submission_id());
      }
      rows.Put(key, std::move(v));
      return absl::OkStatus();
    }
    default:
      return absl::OkStatus();
  }
}

void DeriveFormCompletion(absl::Time t, RowValue* v) {
  auto* row = v->mutable_form_completion();
  if (row->status() == "PENDING" && t > FromProtoTime(row->due())) row->set_status("MISSING");
}

}  // namespace

ProjectionDef FormCompletionProjection() {
  return {"form_completion", "per task#org: submitted, late or missing", FoldFormCompletion,
          DeriveFormCompletion};
}

}  // namespace grid::domain
