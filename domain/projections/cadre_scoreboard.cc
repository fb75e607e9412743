// The cadre_scoreboard projection (projections.h lists them all).
#include <algorithm>

#include "domain/projections/projection.h"

namespace grid::domain {
namespace {

using grid::v1::CadreScoreRow;

std::string PeriodKey(absl::string_view period) { return absl::StrCat("~ap/", period); }
std::string CadreKey(absl::string_view org, absl::string_view period, absl::string_view cadre) {
  return absl::StrCat(org, "#", period, "#", cadre);
}

absl::Status FoldScore(const grid::v1::CadreScoreRecorded& c, RowAccess& rows) {
  const std::string key = CadreKey(c.org_path(), c.period_id(), c.cadre_id());
  GRID_ASSIGN_OR_RETURN_ROW(row, rows, key);
  RowValue v = row.value_or(RowValue());
  CadreScoreRow* r = v.mutable_cadre_score();
  if (!row) {
    GRID_ASSIGN_OR_RETURN_ROW(period, rows, PeriodKey(c.period_id()));
    r->set_org_path(c.org_path());
    r->set_period_id(c.period_id());
    r->set_cadre_id(c.cadre_id());
    if (period) {
      r->set_daily_weight_permille(period->assessment_period().daily_weight_permille());
      r->set_year_end_weight_permille(period->assessment_period().year_end_weight_permille());
    }
  }
  if (c.kind() == grid::v1::DAILY) {
    auto* days = r->mutable_days();
    // Days are "YYYY-MM-DD": text order is day order.
    auto it =
        std::lower_bound(days->begin(), days->end(), c.day(),
                         [](const grid::v1::DailyScore& d, const std::string& day) { return d.day() < day; });
    if (it != days->end() && it->day() == c.day()) {
      it->set_total_x10(c.total_x10());
      r->set_corrections(r->corrections() + 1);
    } else {
      grid::v1::DailyScore d;
      d.set_day(c.day());
      d.set_total_x10(c.total_x10());
      const auto at = it - days->begin();
      days->Add(std::move(d));
      std::rotate(days->begin() + at, days->end() - 1, days->end());
    }
  } else {
    if (r->has_year_end()) r->set_corrections(r->corrections() + 1);
    r->set_has_year_end(true);
    r->set_year_end_x10(c.total_x10());
  }
  *r->mutable_last_components() = c.components();
  rows.Put(key, std::move(v));
  return absl::OkStatus();
}

absl::Status FoldClose(const grid::v1::AssessmentPeriodClosed& c, RowAccess& rows) {
  for (const auto& rank : c.ranks()) {
    const std::string key = CadreKey(rank.org_path(), c.period_id(), rank.cadre_id());
    GRID_ASSIGN_OR_RETURN_ROW(row, rows, key);
    RowValue v = row.value_or(RowValue());
    CadreScoreRow* r = v.mutable_cadre_score();
    r->set_org_path(rank.org_path());
    r->set_period_id(c.period_id());
    r->set_cadre_id(rank.cadre_id());
    r->set_closed(true);
    r->set_closed_total_x10(rank.total_x10());
    r->set_top(rank.top());
    r->set_rank_band_percent(RankBandPercent(rank.percentile_permille(), c.cohort()));
    r->set_rank(rank.rank());
    r->set_percentile_permille(rank.percentile_permille());
    r->set_cohort(c.cohort());
    r->set_cutoff_x10(c.cutoff_x10());
    rows.Put(key, std::move(v));
  }
  return absl::OkStatus();
}

// Never deletes a row: a deleted row has no value, and so no (subject) to
// narrow who is told of it (access_policy.cc, ViewRow).
absl::Status FoldCadreScoreboard(const Event& e, RowAccess& rows) {
  switch (e.body_case()) {
    case Event::kAssessmentPeriodOpened: {
      RowValue v;
      *v.mutable_assessment_period() = e.assessment_period_opened();
      rows.Put(PeriodKey(e.assessment_period_opened().period_id()), std::move(v));
      return absl::OkStatus();
    }
    case Event::kCadreScoreRecorded:
      return FoldScore(e.cadre_score_recorded(), rows);
    case Event::kAssessmentPeriodClosed:
      return FoldClose(e.assessment_period_closed(), rows);
    default:
      return absl::OkStatus();
  }
}

void DeriveCadreScoreboard(absl::Time, RowValue* v) {
  if (!v->has_cadre_score()) return;
  CadreScoreRow* r = v->mutable_cadre_score();
  int64_t sum = 0;
  for (const auto& d : r->days()) sum += d.total_x10();
  const auto n = static_cast<uint64_t>(r->days_size());
  r->set_days_scored(static_cast<uint32_t>(n));
  r->set_daily_average_x10(DailyAverageX10(sum, n));
  r->set_total_x10(AssessmentTotalX10(sum, n, r->year_end_x10(), r->daily_weight_permille(),
                                      r->year_end_weight_permille()));
}

}  // namespace

ProjectionDef CadreScoreboardProjection() {
  return {
      "cadre_scoreboard",
      "per cadre's unit#period#cadre: daily and year-end scores, *their average and the period total*, the "
      "latest components with evidence; after the close the rank it recorded, percentile, rank band and "
      "top-share flag. Each cadre sees only their own row (score and rank band), assessors all",
      FoldCadreScoreboard, DeriveCadreScoreboard};
}

}  // namespace grid::domain
