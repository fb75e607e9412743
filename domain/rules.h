// The grid-governance domain rules on the write side: one state per aggregate
// (one stream each), folded from its events, and pure checks
// `(state, event) → ok | error`. No I/O: state of other streams that a rule
// needs (the county's org data for "is this grid defined", another household
// for a merge) comes through a StateLookup the caller provides.
//
// Streams are "<aggregate>/<id>": org/<county>, sanitation/<grid org path>,
// rectification/<finding id>, household/<id>, project/<id>, form/<task id>,
// catalog/<county>, incident/<id>, ledger/<village>.
#ifndef GRID_DOMAIN_RULES_H_
#define GRID_DOMAIN_RULES_H_

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "domain/keyed.h"
#include "grid/v1/event.pb.h"
#include "storage/event_log.h"
#include "storage/proto_time.h"

namespace grid::domain {

// "org", "sanitation", "rectification", "household", "project", "form",
// "catalog", "incident" or "ledger" for a catalog event type; "" for
// anything else.
absl::string_view AggregateOf(absl::string_view type);

// The stream an event of `type` about aggregate `id` belongs in.
std::string StreamFor(absl::string_view aggregate, absl::string_view id);

// The event's body (the message set in its `body` oneof); null when none is.
const google::protobuf::Message* EventBody(const grid::v1::Event& e);

// Every event type of the catalog: the message names in Event's `body` oneof.
const std::vector<std::string>& KnownEventTypes();

// The first segment of an org path (the county code).
absl::string_view CountyOf(absl::string_view org_path);
// The org path without its last segment ("" for a county).
absl::string_view ParentOf(absl::string_view org_path);
// True for "/"-separated segments of [A-Za-z0-9_-], 1..256 bytes.
bool IsOrgPath(absl::string_view s);
// True if `path` is `prefix` or lies under it ("a/b" is under "a", not "a/bc").
bool IsUnder(absl::string_view path, absl::string_view prefix);
// Its number of segments: 1 county, 2 town, 3 village, 4 grid.
size_t Depth(absl::string_view org_path);

std::string TimeText(absl::Time t);

// ---- aggregate states ------------------------------------------------------

struct OrgState {  // org/<county>
  struct Grid {
    bool retired = false;
    std::set<std::string> workers;  // assigned now
    bool operator==(const Grid&) const = default;
  };
  std::map<std::string, Grid> grids;  // org path → grid
  // Org paths of the grids not retired, for the overlap check's two range
  // lookups (a county holds tens of thousands of grids: no rule scans them).
  std::set<std::string> active;
  // worker → org paths of the grids the worker is assigned to
  std::map<std::string, std::set<std::string>> assignments;
  // Units above the grids that were named or recoded (or are the new code
  // of a recoded one).
  struct Unit {
    std::string recoded_to;  // this code is no longer used: the unit's code now
    bool operator==(const Unit&) const = default;
  };
  std::map<std::string, Unit> units;

  // NOT_FOUND/FAILED_PRECONDITION text if `org_path` is not an active grid.
  std::optional<std::string> GridProblem(const std::string& org_path) const;
  // Whether anything is at or under `path`: a grid (active or retired), a
  // named or a recoded unit.
  bool Holds(const std::string& path) const;
  // The unit at or above `path` whose code was recoded, and its new code.
  std::optional<std::pair<std::string, std::string>> RecodedAt(const std::string& path) const;
  bool operator==(const OrgState&) const = default;
};

// sanitation/<grid>: independent reports; a retried report is caught by its
// event_id (idempotency). The findings reported in the grid are kept: a
// rectification may only be ordered for one of them, in that grid.
struct SanitationState {
  KeyedSet findings;  // grows with the grid's history (domain/keyed.h)
  bool operator==(const SanitationState&) const = default;
};

struct RectificationState {  // rectification/<finding>
  bool ordered = false;
  bool closed = false;  // passed re-inspection
  std::string org_path;
  absl::Time deadline;
  bool operator==(const RectificationState&) const = default;
};

struct HouseholdState {  // household/<id>
  bool created = false;
  bool dissolved = false;
  std::string org_path;
  std::string head;  // person token
  struct Member {
    grid::v1::Relation relation = grid::v1::RELATION_UNSPECIFIED;
    bool death_reported = false;
    bool operator==(const Member&) const = default;
  };
  std::map<std::string, Member> members;  // person token → member
  // For corrections that supersede. In memory, unlike a grid's findings: a
  // household's own events are few (births, deaths, moves), and a member
  // key per household event cost unary appends 13% (bench/results/members).
  std::set<std::string> event_ids;
  bool operator==(const HouseholdState&) const = default;
};

struct ProjectState {  // project/<id>
  enum class Status { kNone, kInReview, kReturned, kApproved, kRejected, kStarted, kCompleted };
  Status status = Status::kNone;
  uint32_t revision = 0;
  std::string org_path;  // the applicant
  struct Ask {
    grid::v1::Stage stage;
    std::string department;
    bool operator==(const Ask&) const = default;
  };
  std::vector<Ask> pending;  // departments asked and not yet decided
  Ask returned_by{grid::v1::STAGE_UNSPECIFIED, ""};
  absl::Time started;
  bool operator==(const ProjectState&) const = default;
};

struct FormTaskState {  // form/<task>
  bool issued = false;
  // canonical path → the class its values carry
  std::map<std::string, grid::v1::DataClass> fields;
  std::string target_org_prefix;
  absl::Time due;
  std::map<std::string, std::string> submissions;  // submission id → the org that submitted it
  bool operator==(const FormTaskState&) const = default;
};

// catalog/<county>: what the rules need of the incident catalogue in force
// (the limits are the incident folds' business), and the calendar years
// published.
struct CatalogState {
  uint32_t version = 0;  // 0: none published yet
  std::set<std::string> tiers;
  struct Category {
    std::string default_tier;
    bool retired = false;
    bool operator==(const Category&) const = default;
  };
  std::map<std::string, Category> categories;
  uint32_t reopen_window_hours = 0;
  std::set<uint32_t> calendar_years;
  bool operator==(const CatalogState&) const = default;
};

struct IncidentState {  // incident/<id>
  enum class Status {
    kNone,
    kReported,
    kAccepted,
    kDispatched,
    kAcknowledged,
    kReturned,
    kSuspended,
    kResolutionSubmitted,
    kVerified,
    kClosed
  };
  Status status = Status::kNone;
  Status before_suspension = Status::kNone;
  std::string org_path;      // the incident's grid
  std::string handling_org;  // the level that accepts, dispatches, closes
  std::string handler_org;   // dispatched to (with `department`)
  std::string department;
  grid::v1::IncidentSource source = grid::v1::INCIDENT_SOURCE_UNSPECIFIED;
  bool self_resolved = false;  // the resolution awaiting verification was on the spot
  bool extension_pending = false;
  uint32_t extension_asked = 0;
  grid::v1::IncidentOutcome outcome = grid::v1::INCIDENT_OUTCOME_UNSPECIFIED;
  absl::Time closed_at;
  bool rated = false;
  bool operator==(const IncidentState&) const = default;
};

// ledger/<village>: the entries posted, for reversals.
struct LedgerState {
  struct Entry {
    grid::v1::LedgerCategory category = grid::v1::LEDGER_CATEGORY_UNSPECIFIED;
    int64_t amount_fen = 0;
    bool reversal = false;
    bool reversed = false;
    uint32_t year = 0, month = 0;  // the period booked
    bool operator==(const Entry&) const = default;
  };
  KeyedMap<Entry> entries;  // grows with the books (domain/keyed.h)
  bool operator==(const LedgerState&) const = default;
};

struct AssessmentState {  // assessment/<period>
  bool opened = false;
  bool closed = false;
  std::string unit;
  absl::CivilDay starts_on, ends_on;
  uint32_t top_permille = 0, daily_weight_permille = 0, year_end_weight_permille = 0;
  struct Cadre {
    std::string org_path;
    std::map<absl::CivilDay, int32_t> days;  // the latest score of each day
    std::optional<int32_t> year_end;
    bool operator==(const Cadre&) const = default;
  };
  std::map<std::string, Cadre> cadres;  // cadre id → scores
  bool operator==(const AssessmentState&) const = default;
};

// A cadre's period total in tenths: the average of the daily scores and
// the year-end score (0 when missing), weighted in permille, rounded half
// up, all in integers so that every node and every later fold agrees.
int64_t AssessmentTotalX10(int64_t daily_sum_x10, uint64_t days, int64_t year_end_x10,
                           uint32_t daily_weight_permille, uint32_t year_end_weight_permille);
// The average of `days` daily scores in tenths, rounded half up (0 for none).
int64_t DailyAverageX10(int64_t daily_sum_x10, uint64_t days);
// The close the scores recorded give (AssessmentPeriodClosed without its
// period and unit): ranks best first, equal totals sharing a rank, the
// quota of the top share, its cutoff and the cohort.
grid::v1::AssessmentPeriodClosed RankAssessment(const AssessmentState& period);
// The tenth of the cohort a percentile (permille) falls in: 10..100; 0 in
// a cohort under kMinCohortForBand, where a tenth would give the rank away.
inline constexpr uint32_t kMinCohortForBand = 20;
uint32_t RankBandPercent(uint32_t percentile_permille, uint32_t cohort);

struct AggregateState {
  uint64_t events = 0;  // events folded into this state
  std::optional<absl::Time> last_occurred_at;
  std::variant<std::monostate, OrgState, SanitationState, RectificationState, HouseholdState, ProjectState,
               FormTaskState, CatalogState, IncidentState, LedgerState, AssessmentState>
      agg;
  bool operator==(const AggregateState&) const = default;
};

// What Apply() of one batch's events changed, so that a batch refused part
// way can be taken back out of a state that is updated in place: the org
// state's touched entries one by one (it is large), any other state whole
// (they are small). Record() before each Apply(); Restore() in the reverse.
class ApplyUndo {
 public:
  // Remember what Apply(*state, e) is about to change.
  void Record(const AggregateState& state, const grid::v1::Event& e);
  // Puts `state` back as it was before the first Record().
  void Restore(AggregateState* state);

 private:
  bool started_ = false;
  uint64_t events_ = 0;
  std::optional<absl::Time> last_occurred_at_;
  std::optional<decltype(AggregateState::agg)> whole_;  // a small state, copied
  // The org state's entries, as they were (nullopt: absent), in order.
  std::vector<std::pair<std::string, std::optional<OrgState::Grid>>> grids_;
  std::vector<std::pair<std::string, std::optional<std::set<std::string>>>> assignments_;
  std::vector<std::pair<std::string, std::optional<OrgState::Unit>>> units_;
  bool was_org_ = false;
};

// State of other streams for rules that look across aggregates.
class StateLookup {
 public:
  virtual ~StateLookup() = default;
  // `stream`'s state through everything admitted so far; an empty state
  // (events == 0) for a stream without events.
  virtual absl::StatusOr<const AggregateState*> Get(const std::string& stream) = 0;
};

// Stateless checks of one event of a catalog type in `stream`: the stream
// fits the type, required fields are set, enum values are known, numbers are
// in range. INVALID_ARGUMENT naming the field.
absl::Status CheckShape(const std::string& stream, const grid::v1::Event& e);

// The domain rules: may `e` follow `state` (its own stream's state)?
// FAILED_PRECONDITION naming the rule, or the lookup's error. Assumes
// CheckShape passed.
absl::Status Check(const AggregateState& state, const grid::v1::Event& e, StateLookup& others);

// The org paths `e` names as places it changes: its envelope's and those of
// its body fields marked (org) = ORG_TOUCHED, each once.
std::vector<std::string> TouchedOrgPaths(const grid::v1::Event& e);

// Where the aggregate lives now: a household's grid, a finding's grid, a
// project's applicant; "" for aggregates without one (org, sanitation, form)
// and before the aggregate exists.
absl::string_view CurrentOrgPath(const AggregateState& state);

// Authorization against the current state: may the appender described by
// `scope` append `e` to the aggregate in state `own`? Every org path the
// event touches must be the appender's (in its jurisdiction and, for a grid
// worker, a grid assigned to it now): where the aggregate lives now, where
// the households it merges live, and every place it names (TouchedOrgPaths).
// A place the caller named is refused PERMISSION_DENIED, naming it; a place
// it did not name is refused exactly as if the aggregate did not exist, so
// that the refusal shows nothing the caller may not see.
absl::Status CheckScope(const storage::AppendScope& scope, const AggregateState& own,
                        const grid::v1::Event& e, StateLookup& others);

// The class of the data a refusal of Check() quotes: C1_INTERNAL (ids and
// places) unless it names a person token, who heads a household or a
// reported death.
grid::v1::DataClass QuotedClass(const absl::Status& refusal);
// The refusal as a caller of `clearance` may read it: unchanged when it
// quotes nothing above the clearance, else the same code with a message that
// quotes nothing personal.
absl::Status ForClearance(absl::Status refusal, grid::v1::DataClass clearance);

// The level that first accepts and dispatches an incident in `grid`: the
// grid's village ("what the village can solve stays in the village"), or
// the unit above a grid that lies higher in the tree.
std::string IncidentHandlingLevel(absl::string_view grid);

// The outcome an incident event closes the incident with (IncidentRejected,
// IncidentMarkedDuplicate, IncidentClosed); INCIDENT_OUTCOME_UNSPECIFIED for
// any other event.
grid::v1::IncidentOutcome ClosingOutcome(const grid::v1::Event& e);

// Folds `e` into `state`. Assumes Check passed.
void Apply(AggregateState* state, const grid::v1::Event& e);

}  // namespace grid::domain

#endif  // GRID_DOMAIN_RULES_H_
