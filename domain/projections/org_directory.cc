// The org_directory projection (projections.h lists them all).
#include "domain/projections/projection.h"

namespace grid::domain {
namespace {

grid::v1::OrgUnitKind KindOfLevel(size_t level) {
  switch (level) {
    case 1:
      return grid::v1::COUNTY;
    case 2:
      return grid::v1::TOWN;
    case 3:
      return grid::v1::VILLAGE;
    default:
      return grid::v1::GRID;
  }
}

// The unit's row (a new one if it has none).
absl::StatusOr<RowValue> Unit(RowAccess& rows, const std::string& path) {
  GRID_ASSIGN_OR_RETURN_ROW(cur, rows, path);
  if (cur) return *std::move(cur);
  RowValue v;
  auto* d = v.mutable_org_directory();
  d->set_org_path(path);
  const size_t level = Depth(path);
  d->set_level(static_cast<uint32_t>(level));
  d->set_kind(KindOfLevel(level));
  return v;
}

// Adds `n` to the active grids of the grid and every unit above it.
absl::Status CountGrid(RowAccess& rows, const std::string& grid, int n, const std::string& name = "") {
  for (const std::string& path : Ancestry(grid)) {
    auto v = Unit(rows, path);
    if (!v.ok()) return v.status();
    auto* d = v->mutable_org_directory();
    d->set_grids(static_cast<uint32_t>(static_cast<int64_t>(d->grids()) + n));
    if (path == grid) {
      d->set_retired(n < 0);
      if (!name.empty()) d->set_name(name);
    }
    rows.Put(path, *std::move(v));
  }
  return absl::OkStatus();
}

absl::Status FoldOrgDirectory(const Event& e, RowAccess& rows) {
  switch (e.body_case()) {
    case Event::kGridDefined:
      return CountGrid(rows, e.grid_defined().org_path(), 1, e.grid_defined().name());
    case Event::kGridRetired:
      return CountGrid(rows, e.grid_retired().org_path(), -1);
    case Event::kOrgUnitNamed: {
      const auto& n = e.org_unit_named();
      auto v = Unit(rows, n.org_path());
      if (!v.ok()) return v.status();
      v->mutable_org_directory()->set_name(n.name());
      if (n.kind() != grid::v1::ORG_UNIT_KIND_UNSPECIFIED) v->mutable_org_directory()->set_kind(n.kind());
      rows.Put(n.org_path(), *std::move(v));
      return absl::OkStatus();
    }
    case Event::kOrgUnitRecoded: {
      const auto& r = e.org_unit_recoded();
      auto old = Unit(rows, r.old_org_path());
      if (!old.ok()) return old.status();
      auto now = Unit(rows, r.new_org_path());
      if (!now.ok()) return now.status();
      auto* d = now->mutable_org_directory();
      d->set_name(old->org_directory().name());
      d->set_kind(old->org_directory().kind());
      *d->mutable_former_codes() = old->org_directory().former_codes();
      d->add_former_codes(r.old_org_path());
      old->mutable_org_directory()->set_recoded_to(r.new_org_path());
      rows.Put(r.old_org_path(), *std::move(old));
      rows.Put(r.new_org_path(), *std::move(now));
      return absl::OkStatus();
    }
    default:
      return absl::OkStatus();
  }
}

}  // namespace

ProjectionDef OrgDirectoryProjection() {
  return {"org_directory",
          "per org path: name, level, kind, active grids under it, codes recoded (old and new)",
          FoldOrgDirectory, nullptr};
}

}  // namespace grid::domain
