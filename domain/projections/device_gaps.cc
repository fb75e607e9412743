// The device_gaps projection (projections.h lists them all).
#include "domain/projections/projection.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace grid::domain {
namespace {

constexpr size_t kMaxMissingListed = 1000;
// device_gaps: a sequence further past the highest than this is not a gap.
constexpr uint64_t kMaxSeqJump = 10000;

absl::Status FoldDeviceGaps(const Event& e, RowAccess& rows) {
  if (e.device_id().empty() || e.device_seq() == 0) return absl::OkStatus();
  const std::string dkey = absl::StrCat("~d/", e.device_id());
  GRID_ASSIGN_OR_RETURN_ROW(where, rows, dkey);
  const std::string old_key = where ? Key(where->internal().org_path(), e.device_id()) : "";
  std::optional<RowValue> cur;
  if (where) {
    auto got = rows.Get(old_key);
    if (!got.ok()) return got.status();
    cur = *std::move(got);
  }
  RowValue v = cur.value_or(RowValue());
  auto* row = v.mutable_device_gaps();
  row->set_device_id(e.device_id());
  const uint64_t seq = e.device_seq();
  // A device is its first appender's: another principal naming it (a cloned
  // or hijacked id) or an implausible jump would move the row, or bury its
  // gaps; neither is folded in, both are counted where the owner sees them.
  const std::string& appender = e.actor().principal();
  if (where && (where->internal().owner() != appender ||
                (seq > row->highest_seq() && seq - row->highest_seq() > kMaxSeqJump))) {
    row->set_rejected(row->rejected() + 1);
    rows.Put(old_key, std::move(v));
    return absl::OkStatus();
  }
  // A device's count starts at 1, so that its first reports lost show as
  // gaps; but a first seq past the jump limit is where its count starts (an
  // app that reported elsewhere before): refused as a jump from 0, it kept
  // the row at 0 and every later event was refused as a jump too.
  if (!where && seq > kMaxSeqJump) {
    row->set_highest_seq(seq);
  } else if (seq > row->highest_seq()) {
    const uint64_t gap = seq - row->highest_seq() - 1;
    for (uint64_t s = row->highest_seq() + 1;
         s < seq && static_cast<size_t>(row->missing_size()) < kMaxMissingListed; ++s) {
      row->add_missing(s);
    }
    row->set_missing_count(row->missing_count() + gap);
    row->set_highest_seq(seq);
  } else {
    auto* missing = row->mutable_missing();
    auto it = std::find(missing->begin(), missing->end(), seq);
    if (it != missing->end()) {
      missing->erase(it);
      row->set_missing_count(row->missing_count() - 1);
    } else if (row->missing_count() > static_cast<uint64_t>(row->missing_size())) {
      row->set_missing_count(row->missing_count() - 1);  // a gap beyond the listed ones
    }
  }
  row->set_received(row->received() + 1);
  *row->mutable_last_seen() = ToProtoTime(EventTime(e));
  const std::string new_key = Key(e.org_path(), e.device_id());
  if (!old_key.empty() && old_key != new_key) rows.Delete(old_key);
  rows.Put(new_key, std::move(v));
  if (!where || where->internal().org_path() != e.org_path()) {
    RowValue w;
    w.mutable_internal()->set_org_path(e.org_path());
    w.mutable_internal()->set_owner(appender);
    rows.Put(dkey, std::move(w));
  }
  return absl::OkStatus();
}

}  // namespace

ProjectionDef DeviceGapsProjection() {
  return {"device_gaps", "per org#device: highest sequence seen and sequences never received", FoldDeviceGaps,
          nullptr};
}

}  // namespace grid::domain
