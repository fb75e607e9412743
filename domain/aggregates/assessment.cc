// Cadre assessment (assessment/<period>): a period opened by its unit, daily
// and year-end scores with components and evidence, and the close that
// records the ranking. Every rule of this aggregate's event types is here:
// their fields, the stream they belong in, the stateful checks and the fold
// (aggregate.h); the ranking itself is RankAssessment (rules.h).
#include <algorithm>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "domain/aggregates/aggregate.h"
#include "domain/work_calendar.h"

namespace grid::domain {
namespace {

using grid::v1::AssessmentPeriodClosed;
using grid::v1::CadreRank;

constexpr int kMaxPoints = 1000;  // tenths: 100 points
constexpr int kMaxComponents = 32;

absl::Status RequireDay(absl::string_view field, const std::string& v) {
  if (!ParseCivilDate(v)) return Invalid(field, "must be a date \"YYYY-MM-DD\"");
  return absl::OkStatus();
}

// Projection names are lower-case words joined by "_".
absl::Status RequireProjectionName(absl::string_view field, const std::string& v) {
  if (v.empty()) return Invalid(field, "is required: the projection the points came from");
  if (v.size() > 64) return Invalid(field, "is longer than 64 bytes");
  for (char c : v) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) {
      return Invalid(field, "is a projection name, like \"form_completion\"");
    }
  }
  return absl::OkStatus();
}

absl::Status CheckOpened(const grid::v1::AssessmentPeriodOpened& o) {
  if (auto s = RequireId("assessment_period_opened.period_id", o.period_id()); !s.ok()) return s;
  if (auto s = RequireOrgPath("assessment_period_opened.unit", o.unit()); !s.ok()) return s;
  if (Depth(o.unit()) > 2) return Invalid("assessment_period_opened.unit", "is a county or a town");
  if (o.title().empty() || o.title().size() > 200) {
    return Invalid("assessment_period_opened.title", "is required, at most 200 bytes");
  }
  if (auto s = RequireDay("assessment_period_opened.starts_on", o.starts_on()); !s.ok()) return s;
  if (auto s = RequireDay("assessment_period_opened.ends_on", o.ends_on()); !s.ok()) return s;
  const absl::CivilDay from = *ParseCivilDate(o.starts_on()), to = *ParseCivilDate(o.ends_on());
  if (to < from || to - from >= 366) {
    return Invalid("assessment_period_opened.ends_on",
                   "must be on or after starts_on, at most 366 days in all");
  }
  if (o.top_permille() < 1 || o.top_permille() > 1000) {
    return Invalid("assessment_period_opened.top_permille", "must be 1..1000 (300: the top 30 %)");
  }
  if (o.daily_weight_permille() + o.year_end_weight_permille() != 1000 || o.daily_weight_permille() > 1000) {
    return Invalid("assessment_period_opened.daily_weight_permille",
                   "and year_end_weight_permille must add up to 1000");
  }
  return absl::OkStatus();
}

absl::Status CheckScore(const grid::v1::CadreScoreRecorded& c) {
  if (auto s = RequireId("cadre_score_recorded.period_id", c.period_id()); !s.ok()) return s;
  if (auto s = RequireId("cadre_score_recorded.cadre_id", c.cadre_id()); !s.ok()) return s;
  if (auto s = RequireOrgPath("cadre_score_recorded.org_path", c.org_path()); !s.ok()) return s;
  if (Depth(c.org_path()) < 2 || Depth(c.org_path()) > 3) {
    return Invalid("cadre_score_recorded.org_path", "is the cadre's town or village");
  }
  switch (c.kind()) {
    case grid::v1::DAILY:
      if (auto s = RequireDay("cadre_score_recorded.day", c.day()); !s.ok()) return s;
      break;
    case grid::v1::YEAR_END:
      if (!c.day().empty()) return Invalid("cadre_score_recorded.day", "is for DAILY scores only");
      break;
    default:
      return Invalid("cadre_score_recorded.kind", "is required: DAILY or YEAR_END");
  }
  if (c.components().empty() || c.components_size() > kMaxComponents) {
    return Invalid("cadre_score_recorded.components", absl::StrCat("must hold 1..", kMaxComponents));
  }
  absl::flat_hash_set<absl::string_view> codes;
  int64_t sum = 0;
  for (int i = 0; i < c.components_size(); ++i) {
    const auto& k = c.components(i);
    const std::string f = absl::StrCat("cadre_score_recorded.components[", i, "]");
    if (auto s = RequireCode(absl::StrCat(f, ".code"), k.code(), 64, true); !s.ok()) return s;
    if (!codes.insert(k.code()).second) return Invalid(absl::StrCat(f, ".code"), "appears twice");
    if (k.points_x10() < -kMaxPoints || k.points_x10() > kMaxPoints) {
      return Invalid(absl::StrCat(f, ".points_x10"), "must be -1000..1000 (tenths of a point)");
    }
    if (!k.has_evidence())
      return Invalid(absl::StrCat(f, ".evidence"), "is required: no points without a source");
    if (auto s = RequireProjectionName(absl::StrCat(f, ".evidence.projection"), k.evidence().projection());
        !s.ok()) {
      return s;
    }
    if (k.evidence().key().empty() || k.evidence().key().size() > 256) {
      return Invalid(absl::StrCat(f, ".evidence.key"), "is required, at most 256 bytes");
    }
    if (k.evidence().position() == 0) {
      return Invalid(absl::StrCat(f, ".evidence.position"), "is required: the log position read");
    }
    if (k.note().size() > 500) return Invalid(absl::StrCat(f, ".note"), "is longer than 500 bytes");
    sum += k.points_x10();
  }
  if (sum != c.total_x10()) {
    return Invalid("cadre_score_recorded.total_x10",
                   absl::StrCat("must be the sum of the components: ", sum));
  }
  return absl::OkStatus();
}

absl::Status CheckBody(const Event& e) {
  switch (e.body_case()) {
    case Event::kAssessmentPeriodOpened:
      return CheckOpened(e.assessment_period_opened());
    case Event::kCadreScoreRecorded:
      if (auto s = CheckScore(e.cadre_score_recorded()); !s.ok()) return s;
      // A day is scored once it has begun (CheckState).
      return RequireTime("occurred_at", e.has_occurred_at());
    case Event::kAssessmentPeriodClosed: {
      const auto& c = e.assessment_period_closed();
      if (auto s = RequireId("assessment_period_closed.period_id", c.period_id()); !s.ok()) return s;
      if (auto s = RequireOrgPath("assessment_period_closed.unit", c.unit()); !s.ok()) return s;
      // A close comes after the period's last day.
      return RequireTime("occurred_at", e.has_occurred_at());
    }
    default:
      return Invalid("type", "is not a catalog event");
  }
}

std::pair<absl::string_view, std::string> Id(const Event& e) {
  switch (e.body_case()) {
    case Event::kAssessmentPeriodOpened:
      return {"assessment_period_opened.period_id", e.assessment_period_opened().period_id()};
    case Event::kCadreScoreRecorded:
      return {"cadre_score_recorded.period_id", e.cadre_score_recorded().period_id()};
    case Event::kAssessmentPeriodClosed:
      return {"assessment_period_closed.period_id", e.assessment_period_closed().period_id()};
    default:
      return {"", ""};
  }
}

std::optional<std::string> BodyOrgPath(const Event& e) {
  switch (e.body_case()) {
    case Event::kAssessmentPeriodOpened:
      return e.assessment_period_opened().unit();
    case Event::kCadreScoreRecorded:
      return e.cadre_score_recorded().org_path();
    case Event::kAssessmentPeriodClosed:
      return e.assessment_period_closed().unit();
    default:
      return std::nullopt;
  }
}

// FAILED_PRECONDITION unless `path` is a unit the org data knows, not recoded.
absl::Status KnownUnit(const std::string& path, StateLookup& others) {
  auto org = OrgOf(path, others);
  if (!org.ok()) return org.status();
  if (!(*org)->Holds(path))
    return Refused(absl::StrCat("org unit ", path, " has no grids and no name in the org data"));
  if (auto recoded = (*org)->RecodedAt(path)) {
    return Refused(absl::StrCat("org unit ", recoded->first, " was recoded to ", recoded->second,
                                "; assess under the new code"));
  }
  return absl::OkStatus();
}

// True if `path` lies under the code `unit` was recoded to.
bool UnderRecoded(const std::string& path, const std::string& unit, StateLookup& others) {
  auto org = OrgOf(unit, others);
  if (!org.ok()) return false;
  auto recoded = (*org)->RecodedAt(unit);
  if (!recoded) return false;
  const std::string now = absl::StrCat(recoded->second, unit.substr(recoded->first.size()));
  return IsUnder(path, now);
}

absl::CivilDay ChinaDay(const Event& e) {
  return absl::ToCivilDay(FromProtoTime(e.occurred_at()), ChinaTime());
}

// The first difference between the close appended and the one the scores
// give, in words; "" when there is none.
std::string Difference(const AssessmentPeriodClosed& got, const AssessmentPeriodClosed& want) {
  if (got.cohort() != want.cohort()) {
    return absl::StrCat("the cohort is ", want.cohort(), " cadres, not ", got.cohort());
  }
  if (got.ranks_size() != want.ranks_size()) {
    return absl::StrCat("ranks must list all ", want.ranks_size(), " cadres with a score");
  }
  for (int i = 0; i < want.ranks_size(); ++i) {
    const CadreRank& g = got.ranks(i);
    const CadreRank& w = want.ranks(i);
    const std::string at = absl::StrCat("ranks[", i, "]");
    if (g.cadre_id() != w.cadre_id()) {
      return absl::StrCat(at, " is cadre ", w.cadre_id(), " (best first, then by cadre id), not ",
                          g.cadre_id());
    }
    if (g.org_path() != w.org_path()) {
      return absl::StrCat(at, ": cadre ", w.cadre_id(), " is assessed in ", w.org_path());
    }
    if (g.total_x10() != w.total_x10()) {
      return absl::StrCat(at, ": cadre ", w.cadre_id(), "'s total is ", w.total_x10(), " tenths");
    }
    if (g.rank() != w.rank() || g.percentile_permille() != w.percentile_permille() || g.top() != w.top()) {
      return absl::StrCat(at, ": cadre ", w.cadre_id(), " ranks ", w.rank(), ", percentile ",
                          w.percentile_permille(), "‰, ", w.top() ? "in" : "not in", " the top share");
    }
  }
  if (got.top_quota() != want.top_quota()) return absl::StrCat("top_quota is ", want.top_quota());
  if (got.cutoff_x10() != want.cutoff_x10()) return absl::StrCat("cutoff_x10 is ", want.cutoff_x10());
  return "";
}

absl::Status CheckState(const AggregateState& state, const Event& e, StateLookup& others) {
  const auto& st = StateOf<AssessmentState>(state);
  if (e.has_assessment_period_opened()) {
    const auto& o = e.assessment_period_opened();
    if (st.opened) return Refused(absl::StrCat("assessment period ", o.period_id(), " is already open"));
    return KnownUnit(o.unit(), others);
  }
  const std::string& period = Id(e).second;
  if (!st.opened) return Refused(absl::StrCat("assessment period ", period, " has not been opened"));
  if (st.closed) return Refused(absl::StrCat("assessment period ", period, " is closed; its result stands"));
  if (e.has_cadre_score_recorded()) {
    const auto& c = e.cadre_score_recorded();
    if (auto it = st.cadres.find(c.cadre_id()); it != st.cadres.end()) {
      // A cadre's scores stay under the unit of the first, for the whole
      // period, even if that unit is recoded meanwhile: one row, one rank.
      if (it->second.org_path != c.org_path()) {
        return Refused(absl::StrCat("cadre ", c.cadre_id(), " is assessed in ", it->second.org_path,
                                    " in period ", period, "; all of a cadre's scores are under one unit"));
      }
    } else {
      if (!IsUnder(c.org_path(), st.unit) && !UnderRecoded(c.org_path(), st.unit, others)) {
        return Refused(absl::StrCat("org unit ", c.org_path(), " is not under ", st.unit,
                                    ", the unit of assessment period ", period));
      }
      if (auto s = KnownUnit(c.org_path(), others); !s.ok()) return s;
    }
    if (c.kind() == grid::v1::DAILY) {
      const absl::CivilDay day = *ParseCivilDate(c.day());
      if (day < st.starts_on || day > st.ends_on) {
        return Refused(absl::StrCat("day ", c.day(), " is outside assessment period ", period, " (",
                                    CivilDateText(st.starts_on), " to ", CivilDateText(st.ends_on), ")"));
      }
      if (day > ChinaDay(e)) {
        return Refused(absl::StrCat("day ", c.day(), " has not begun (the score is recorded on ",
                                    CivilDateText(ChinaDay(e)), ")"));
      }
    }
    return absl::OkStatus();
  }
  const auto& c = e.assessment_period_closed();
  if (c.unit() != st.unit) return Refused(absl::StrCat("assessment period ", period, " is ", st.unit, "'s"));
  if (ChinaDay(e) <= st.ends_on) {
    return Refused(absl::StrCat("assessment period ", period, " runs to ", CivilDateText(st.ends_on),
                                "; it is closed after that day"));
  }
  if (st.cadres.empty()) return Refused(absl::StrCat("assessment period ", period, " has no scores to rank"));
  for (const auto& [id, cadre] : st.cadres) {
    if (!cadre.year_end) {
      return Refused(absl::StrCat("cadre ", id, " has no year-end score; record one before the close"));
    }
  }
  if (const std::string diff = Difference(c, RankAssessment(st)); !diff.empty()) {
    return Refused(absl::StrCat("the close of ", period, " is not what the scores recorded give: ", diff));
  }
  return absl::OkStatus();
}

void Fold(AggregateState* state, const Event& e) {
  auto& st = MutableState<AssessmentState>(state);
  switch (e.body_case()) {
    case Event::kAssessmentPeriodOpened: {
      const auto& o = e.assessment_period_opened();
      st.opened = true;
      st.unit = o.unit();
      st.starts_on = ParseCivilDate(o.starts_on()).value_or(absl::CivilDay());
      st.ends_on = ParseCivilDate(o.ends_on()).value_or(absl::CivilDay());
      st.top_permille = o.top_permille();
      st.daily_weight_permille = o.daily_weight_permille();
      st.year_end_weight_permille = o.year_end_weight_permille();
      break;
    }
    case Event::kCadreScoreRecorded: {
      const auto& c = e.cadre_score_recorded();
      auto& cadre = st.cadres[c.cadre_id()];
      cadre.org_path = c.org_path();
      if (c.kind() == grid::v1::DAILY) {
        cadre.days[ParseCivilDate(c.day()).value_or(absl::CivilDay())] = c.total_x10();
      } else {
        cadre.year_end = c.total_x10();
      }
      break;
    }
    case Event::kAssessmentPeriodClosed:
      st.closed = true;
      break;
    default:
      break;
  }
}

// a / b rounded half up (towards +infinity), b > 0.
int64_t RoundedDiv(int64_t a, int64_t b) {
  const int64_t n = 2 * a + b, d = 2 * b;
  return n >= 0 ? n / d : -((-n + d - 1) / d);
}

uint32_t CeilDiv(uint64_t a, uint64_t b) { return static_cast<uint32_t>((a + b - 1) / b); }

}  // namespace

int64_t DailyAverageX10(int64_t daily_sum_x10, uint64_t days) {
  return days == 0 ? 0 : RoundedDiv(daily_sum_x10, static_cast<int64_t>(days));
}

int64_t AssessmentTotalX10(int64_t daily_sum_x10, uint64_t days, int64_t year_end_x10,
                           uint32_t daily_weight_permille, uint32_t year_end_weight_permille) {
  const auto n = static_cast<int64_t>(std::max<uint64_t>(days, 1));
  return RoundedDiv(daily_sum_x10 * daily_weight_permille + year_end_x10 * year_end_weight_permille * n,
                    1000 * n);
}

uint32_t RankBandPercent(uint32_t percentile_permille, uint32_t cohort) {
  if (cohort < kMinCohortForBand) return 0;
  return std::clamp<uint32_t>(CeilDiv(percentile_permille, 100) * 10, 10, 100);
}

AssessmentPeriodClosed RankAssessment(const AssessmentState& period) {
  AssessmentPeriodClosed out;
  for (const auto& [id, cadre] : period.cadres) {
    int64_t sum = 0;
    for (const auto& [day, points] : cadre.days) sum += points;
    CadreRank* r = out.add_ranks();
    r->set_cadre_id(id);
    r->set_org_path(cadre.org_path);
    r->set_total_x10(AssessmentTotalX10(sum, cadre.days.size(), cadre.year_end.value_or(0),
                                        period.daily_weight_permille, period.year_end_weight_permille));
  }
  auto* ranks = out.mutable_ranks();
  std::stable_sort(ranks->begin(), ranks->end(),
                   [](const CadreRank& a, const CadreRank& b) { return a.total_x10() > b.total_x10(); });
  const auto cohort = static_cast<uint32_t>(ranks->size());
  out.set_cohort(cohort);
  if (cohort == 0) return out;
  const uint32_t quota = CeilDiv(static_cast<uint64_t>(cohort) * period.top_permille, 1000);
  out.set_top_quota(quota);
  out.set_cutoff_x10(ranks->at(static_cast<int>(quota) - 1).total_x10());
  for (int i = 0; i < ranks->size(); ++i) {
    CadreRank& r = ranks->at(i);
    const bool tie = i > 0 && ranks->at(i - 1).total_x10() == r.total_x10();
    r.set_rank(tie ? ranks->at(i - 1).rank() : static_cast<uint32_t>(i + 1));
    r.set_percentile_permille(CeilDiv(static_cast<uint64_t>(r.rank()) * 1000, cohort));
    r.set_top(r.rank() <= quota);
  }
  return out;
}

const AggregateRules& AssessmentRules() {
  static const AggregateRules kRules{
      .name = "assessment",
      .types = {"AssessmentPeriodOpened", "CadreScoreRecorded", "AssessmentPeriodClosed"},
      .id_is_org_path = false,
      .check_body = CheckBody,
      .id = Id,
      .body_org_path = BodyOrgPath,
      .check = CheckState,
      .apply = Fold,
      .current_org_path = nullptr,
  };
  return kRules;
}

}  // namespace grid::domain
