// The village_income projection (projections.h lists them all).
#include "absl/strings/str_format.h"
#include "domain/projections/projection.h"

namespace grid::domain {
namespace {

using grid::v1::VillageIncomeRow;

std::string YearKey(absl::string_view village, uint32_t year) {
  return absl::StrFormat("%s#%04d", village, year);
}
std::string MonthKey(absl::string_view village, uint32_t year, uint32_t month) {
  return absl::StrFormat("%s#%04d-%02d", village, year, month);
}
std::string ThresholdKey(absl::string_view county, uint32_t year) {
  return absl::StrFormat("~thr/%s/%04d", county, year);
}

bool IsOperating(grid::v1::LedgerCategory c) {
  return c == grid::v1::OPERATING_INCOME || c == grid::v1::CONTRACT_REMITTANCE_INCOME ||
         c == grid::v1::INVESTMENT_INCOME;
}

// Adds `fen` to the row's figure for `c`.
void AddTo(VillageIncomeRow* r, grid::v1::LedgerCategory c, int64_t fen) {
  switch (c) {
    case grid::v1::OPERATING_INCOME:
      r->set_operating_income_fen(r->operating_income_fen() + fen);
      break;
    case grid::v1::CONTRACT_REMITTANCE_INCOME:
      r->set_contract_income_fen(r->contract_income_fen() + fen);
      break;
    case grid::v1::INVESTMENT_INCOME:
      r->set_investment_income_fen(r->investment_income_fen() + fen);
      break;
    case grid::v1::SUBSIDY_INCOME:
      r->set_subsidy_income_fen(r->subsidy_income_fen() + fen);
      break;
    case grid::v1::OTHER_INCOME:
      r->set_other_income_fen(r->other_income_fen() + fen);
      break;
    case grid::v1::OPERATING_EXPENSE:
      r->set_operating_expense_fen(r->operating_expense_fen() + fen);
      break;
    case grid::v1::ADMIN_EXPENSE:
      r->set_admin_expense_fen(r->admin_expense_fen() + fen);
      break;
    case grid::v1::OTHER_EXPENSE:
      r->set_other_expense_fen(r->other_expense_fen() + fen);
      break;
    default:
      break;
  }
}

void TwelveMonths(google::protobuf::RepeatedField<int64_t>* months) {
  while (months->size() < 12) months->Add(0);
}

absl::Status FoldEntry(const grid::v1::LedgerEntryPosted& l, RowAccess& rows) {
  const bool reversal = !l.reverses_entry_id().empty();
  const int64_t fen = reversal ? -l.amount_fen() : l.amount_fen();
  const int64_t operating = IsOperating(l.category()) ? fen : 0;
  // The month.
  const std::string month_key = MonthKey(l.village(), l.fiscal_year(), l.month());
  GRID_ASSIGN_OR_RETURN_ROW(month, rows, month_key);
  RowValue m = month.value_or(RowValue());
  auto* mr = m.mutable_village_income();
  mr->set_org_path(l.village());
  mr->set_year(l.fiscal_year());
  mr->set_month(l.month());
  AddTo(mr, l.category(), fen);
  (reversal ? mr->set_reversals(mr->reversals() + 1) : mr->set_entries(mr->entries() + 1));
  rows.Put(month_key, std::move(m));
  // The year: a new one starts from last year's months and the county's line.
  const std::string year_key = YearKey(l.village(), l.fiscal_year());
  GRID_ASSIGN_OR_RETURN_ROW(year, rows, year_key);
  RowValue y = year.value_or(RowValue());
  auto* yr = y.mutable_village_income();
  if (!year) {
    yr->set_org_path(l.village());
    yr->set_year(l.fiscal_year());
    TwelveMonths(yr->mutable_operating_by_month_fen());
    TwelveMonths(yr->mutable_last_year_operating_by_month_fen());
    GRID_ASSIGN_OR_RETURN_ROW(last, rows, YearKey(l.village(), l.fiscal_year() - 1));
    if (last)
      *yr->mutable_last_year_operating_by_month_fen() = last->village_income().operating_by_month_fen();
    GRID_ASSIGN_OR_RETURN_ROW(line, rows, ThresholdKey(CountyOf(l.village()), l.fiscal_year()));
    if (line) yr->set_threshold_fen(line->village_income().threshold_fen());
  }
  AddTo(yr, l.category(), fen);
  (reversal ? yr->set_reversals(yr->reversals() + 1) : yr->set_entries(yr->entries() + 1));
  yr->set_operating_by_month_fen(static_cast<int>(l.month()) - 1,
                                 yr->operating_by_month_fen(static_cast<int>(l.month()) - 1) + operating);
  yr->set_through_month(std::max(yr->through_month(), l.month()));
  rows.Put(year_key, std::move(y));
  // Next year's comparison, if it has begun (a late entry for last year).
  const std::string next_key = YearKey(l.village(), l.fiscal_year() + 1);
  GRID_ASSIGN_OR_RETURN_ROW(next, rows, next_key);
  if (next && operating != 0) {
    auto* nr = next->mutable_village_income();
    TwelveMonths(nr->mutable_last_year_operating_by_month_fen());
    nr->set_last_year_operating_by_month_fen(
        static_cast<int>(l.month()) - 1,
        nr->last_year_operating_by_month_fen(static_cast<int>(l.month()) - 1) + operating);
    rows.Put(next_key, *std::move(next));
  }
  return absl::OkStatus();
}

absl::Status FoldThreshold(const grid::v1::WeakVillageThresholdSet& t, RowAccess& rows) {
  RowValue line;
  line.mutable_village_income()->set_threshold_fen(t.threshold_fen());
  rows.Put(ThresholdKey(t.county(), t.fiscal_year()), std::move(line));
  // The county's year rows already begun take the new line.
  std::vector<std::pair<std::string, RowValue>> changed;
  absl::Status s = rows.Scan(absl::StrCat(t.county(), "/"), [&](const std::string& key, const RowValue& v) {
    const auto& r = v.village_income();
    if (!v.has_village_income() || r.month() != 0 || r.year() != t.fiscal_year()) return;
    RowValue copy = v;
    copy.mutable_village_income()->set_threshold_fen(t.threshold_fen());
    changed.emplace_back(key, std::move(copy));
  });
  if (!s.ok()) return s;
  for (auto& [key, v] : changed) rows.Put(key, std::move(v));
  return absl::OkStatus();
}

absl::Status FoldVillageIncome(const Event& e, RowAccess& rows) {
  if (e.has_ledger_entry_posted()) return FoldEntry(e.ledger_entry_posted(), rows);
  if (e.has_weak_village_threshold_set()) return FoldThreshold(e.weak_village_threshold_set(), rows);
  return absl::OkStatus();
}

void DeriveVillageIncome(absl::Time, RowValue* v) {
  auto* r = v->mutable_village_income();
  if (r->month() != 0) {
    r->set_operating_total_fen(r->operating_income_fen() + r->contract_income_fen() +
                               r->investment_income_fen());
    return;
  }
  int64_t ytd = 0, last = 0;
  for (int m = 0; m < static_cast<int>(r->through_month()) && m < 12; ++m) {
    if (m < r->operating_by_month_fen_size()) ytd += r->operating_by_month_fen(m);
    if (m < r->last_year_operating_by_month_fen_size()) last += r->last_year_operating_by_month_fen(m);
  }
  r->set_operating_total_fen(ytd);
  r->set_last_year_same_period_fen(last);
  if (last > 0) r->set_growth(static_cast<double>(ytd - last) / static_cast<double>(last));
  r->set_below_threshold(r->threshold_fen() > 0 && ytd < r->threshold_fen());
}

}  // namespace

ProjectionDef VillageIncomeProjection() {
  return {"village_income",
          "per village#year and village#year-month: income by category, expenses, *operating income year to "
          "date*, *growth on the same period of last year*, *below the weak-village line*",
          FoldVillageIncome, DeriveVillageIncome};
}

}  // namespace grid::domain
