#include "domain/simulator.h"

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "domain/events.h"
#include "domain/rules.h"
#include "domain/work_calendar.h"

namespace grid::domain {
namespace {

namespace ev = events;
using grid::v1::Event;

constexpr const char* kSurnames[] = {"陈", "林", "黄", "张", "李", "王", "吴", "刘", "蔡", "杨"};
constexpr const char* kTowns[] = {"溪美街道", "柳城街道", "水头镇", "石井镇", "官桥镇", "英都镇"};
constexpr const char* kVillages[] = {"溪西", "美林", "洪濑", "梅山", "康美", "丰州", "霞美", "仑苍"};
constexpr const char* kGiven[] = {"建国", "秀英", "志强", "丽华", "伟", "芳", "明", "静", "海峰", "美玲"};

struct Household {
  std::string id;
  std::string grid;
  std::string head;
  std::vector<std::string> members;  // head first
  std::vector<std::string> death_reported;
};

struct Finding {
  std::string id;
  std::string grid;
  absl::Time deadline;
  int failures = 0;
};

struct Project {
  std::string id;
  std::string village;
  uint32_t revision = 1;
  enum Step { kAtTown, kReturned, kAtDepartments, kApproved, kStarted, kDone } step = kAtTown;
  bool drc_done = false, nrb_done = false;
};

struct Incident {
  std::string id;
  std::string grid;
  std::string category;
  std::string handling;       // the level that dispatches
  std::string handler, dept;  // dispatched to
  enum Step {
    kReported,
    kAccepted,
    kDispatched,
    kAcknowledged,
    kSuspended,
    kResolved,
    kVerified,
    kClosed
  } step;
  bool self_resolved = false;
  bool returned_once = false;
  int suspended_days = 0;
  int closed_days = 0;
};

// Who handles a category: a level above the grid (3 = the village, 2 = the
// town, 1 = the county) and its department ("" = the unit itself).
struct Route {
  const char* category;
  int level;
  const char* dept;
  const char* wrong_dept;  // where it is sometimes sent first, and returned from
};
constexpr Route kRoutes[] = {
    {"ENV.GARBAGE.EXPOSED", 3, "", "town-roads"},
    {"ENV.SEWAGE.OVERFLOW", 1, "county-water", "county-sanitation"},
    {"SAFETY.FIRE.HAZARD", 1, "county-fire", "county-water"},
    {"ORDER.DISPUTE.NEIGHBOUR", 3, "", "county-justice"},
    {"ROAD.DAMAGE", 2, "town-roads", "county-water"},
};

class Sim {
 public:
  Sim(const SimulatorOptions& o, const std::function<bool(SimBatch&&)>& emit)
      : o_(o), emit_(emit), rng_(o.seed) {}

  void Run() {
    now_ = o_.start;
    Setup();
    for (int d = 0; d < o_.days && !stopped_; ++d) Day(d);
  }

 private:
  bool Chance(double p) { return std::uniform_real_distribution<double>(0, 1)(rng_) < p; }
  int Uniform(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  void Tick(int max_minutes = 3) { now_ += absl::Seconds(Uniform(20, max_minutes * 60)); }
  // "h1-3": the seed's digits follow the prefix with no separator, so that
  // no seed (the bench's are hashes) makes an id whose digits read as a
  // token of their own — a mobile or ID number, which appends refuse.
  std::string Seeded(std::string_view prefix, uint64_t n) const {
    return absl::StrFormat("%s%llu-%llu", prefix, static_cast<unsigned long long>(o_.seed),
                           static_cast<unsigned long long>(n));
  }
  std::string Id() { return Seeded("sim", ++ids_); }
  std::string Name() { return absl::StrCat(kSurnames[Uniform(0, 9)], kGiven[Uniform(0, 9)]); }
  // Most people live where they are registered; some work away, some have
  // moved in without registering.
  grid::v1::ResidenceType Residence() {
    const double r = std::uniform_real_distribution<double>(0, 1)(rng_);
    return r < 0.8    ? grid::v1::REGISTERED_RESIDENT
           : r < 0.92 ? grid::v1::REGISTERED_AWAY
                      : grid::v1::NON_REGISTERED_RESIDENT;
  }
  std::string Person() { return Seeded("pt", ++people_); }

  // Stamps the grid worker's phone on `e`; now and then a report is lost on
  // the phone (its sequence number never arrives).
  Event FromPhone(Event e, const std::string& grid) {
    const std::string device = "dev-" + workers_[grid];
    uint64_t& seq = device_seq_[device];
    if (Chance(0.01)) ++seq;
    e.set_device_id(device);
    e.set_device_seq(++seq);
    google::protobuf::RepeatedPtrField<grid::v1::MediaRef>* media =
        e.has_sanitation_report_submitted() ? e.mutable_sanitation_report_submitted()->mutable_media()
        : e.has_rectification_progress_reported()
            ? e.mutable_rectification_progress_reported()->mutable_media()
            : nullptr;
    for (int i = 0; media != nullptr && i < o_.photos_per_report; ++i) {
      grid::v1::MediaRef* m = media->Add();
      for (int j = 0; j < 4; ++j) {
        absl::StrAppend(m->mutable_sha256(), absl::Hex(rng_(), absl::kZeroPad16));
      }
      m->set_mime_type("image/jpeg");
      m->set_size_bytes(Uniform(150'000, 2'500'000));
      *m->mutable_taken_at() = e.occurred_at();
      m->set_label(i == 0 ? "site" : "detail");
    }
    return e;
  }

  void Emit(std::vector<Event> events) {
    if (stopped_) return;
    emitted_ += events.size();
    SimBatch b;
    b.stream = events.front().stream();
    b.events = std::move(events);
    if (!emit_(std::move(b))) stopped_ = true;
  }

  void Setup() {
    std::vector<Event> org;
    for (int t = 1; t <= o_.towns; ++t) {
      const std::string town = absl::StrFormat("%s/%03d", o_.county, 100 + t);
      towns_.push_back(town);
      org.push_back(ev::OrgUnitNamed(Seeded("org", t), town, kTowns[(t - 1) % 6], grid::v1::TOWN, now_));
      for (int v = 1; v <= o_.villages_per_town; ++v) {
        const std::string village = absl::StrFormat("%s/%03d", town, 200 + v);
        villages_.push_back(village);
        org.push_back(ev::OrgUnitNamed(Seeded("org", t * 1000 + v), village,
                                       absl::StrCat(kVillages[(t * 7 + v) % 8], "村"), grid::v1::VILLAGE,
                                       now_));
        for (int g = 1; g <= o_.grids_per_village; ++g) {
          const std::string grid = absl::StrFormat("%s/g%02d", village, g);
          grids_.push_back(grid);
          workers_[grid] = absl::StrFormat("w-%d%02d%02d", t, v, g);
          org.push_back(ev::GridDefined(Id(), grid, now_, absl::StrFormat("第%d网格", g)));
          org.push_back(ev::WorkerAssigned(Id(), workers_[grid], grid, now_));
        }
      }
    }
    for (size_t i = 0; i < org.size(); i += 200) {
      Emit(std::vector<Event>(org.begin() + i, org.begin() + std::min(org.size(), i + 200)));
    }
    for (const auto& grid : grids_) {
      for (int h = 0; h < o_.households_per_grid; ++h) NewHousehold(grid, Uniform(1, 5));
    }
    if (o_.incidents_and_ledgers) {
      // The county's incident catalogue and its work calendar (New Year's
      // Day, Labour Day and the first three days of National Day off).
      Emit({ev::IncidentCatalog(ExtraId(), ev::StandardIncidentCatalog(o_.county, 1), now_)});
      // The weak-village line: 100,000 yuan of operating income a year.
      const int year = absl::ToCivilDay(now_, ChinaTime()).year();
      for (int y = year - 1; y <= year; ++y) {
        Emit({ev::WeakVillageThreshold(ExtraId(), o_.county, y, 10'000'000, now_)});
      }
      const absl::CivilDay today = absl::ToCivilDay(now_, ChinaTime());
      for (int y = static_cast<int>(today.year()); y <= today.year() + 1; ++y) {
        std::vector<std::string> days;
        for (absl::CivilDay h : Holidays(y)) days.push_back(CivilDateText(h));
        Emit({ev::WorkCalendar(ExtraId(), o_.county, y, days, {}, now_)});
      }
    }
  }

  // Incidents and ledgers have ids and a random stream of their own, so
  // that the rest of a seed's history is what it was before they were
  // simulated.
  std::string ExtraId() { return Seeded("inc", ++extra_ids_); }
  bool ExtraChance(double p) { return std::uniform_real_distribution<double>(0, 1)(extra_rng_) < p; }
  int ExtraUniform(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(extra_rng_); }

  // Each village's bookkeeper books the month before: a burst of entries
  // in the first days of a month (the first burst also books the same month
  // of last year, so that growth has something to compare with). Now and
  // then an entry is wrong, reversed, and booked again.
  void Ledgers(bool with_last_year) {
    const absl::CivilMonth now = absl::ToCivilMonth(now_, ChinaTime());
    const absl::CivilMonth booked = now - 1;
    for (const auto& village : villages_) {
      std::vector<absl::CivilMonth> months = {booked};
      if (with_last_year) months.insert(months.begin(), booked - 12);
      for (const absl::CivilMonth m : months) {
        std::vector<Event> batch;
        const int n = ExtraUniform(3, 7);
        for (int k = 0; k < n; ++k) {
          static constexpr grid::v1::LedgerCategory kCats[] = {
              grid::v1::OPERATING_INCOME, grid::v1::CONTRACT_REMITTANCE_INCOME, grid::v1::INVESTMENT_INCOME,
              grid::v1::SUBSIDY_INCOME,   grid::v1::OPERATING_EXPENSE,          grid::v1::ADMIN_EXPENSE};
          const auto cat = kCats[ExtraUniform(0, 5)];
          const std::string entry = Seeded("le", ++ledger_entries_);
          const int64_t fen = static_cast<int64_t>(ExtraUniform(5, 400)) * 10'000;  // 500 to 40,000 yuan
          Tick(1);
          batch.push_back(ev::LedgerEntry(ExtraId(), village, entry, m.year(), m.month(), cat, fen, now_));
          if (ExtraChance(0.05)) {
            Tick(1);
            batch.push_back(ev::LedgerEntry(ExtraId(), village, Seeded("le", ++ledger_entries_), m.year(),
                                            m.month(), cat, fen, now_, entry));
          }
        }
        Emit(std::move(batch));
      }
    }
  }

  static const Route& RouteOf(const std::string& category) {
    for (const Route& r : kRoutes) {
      if (category == r.category) return r;
    }
    return kRoutes[0];
  }

  // New reports (patrols find most; citizens, the 12345 hotline and smoke
  // sensors the rest), then every open incident moves on a step or waits.
  void Incidents() {
    for (const auto& grid : grids_) {
      grid::v1::IncidentSource source;
      if (ExtraChance(0.12)) {
        source = grid::v1::GRID_PATROL;
      } else if (ExtraChance(0.04)) {
        source = grid::v1::CITIZEN;
      } else if (ExtraChance(0.03)) {
        source = grid::v1::HOTLINE_12345;
      } else if (ExtraChance(0.005)) {
        source = grid::v1::SENSOR;
      } else {
        continue;
      }
      Incident i;
      i.id = Seeded("i", incidents_.size() + 1);
      i.grid = grid;
      i.category = source == grid::v1::SENSOR
                       ? "SAFETY.FIRE.HAZARD"
                       : kRoutes[ExtraUniform(0, static_cast<int>(std::size(kRoutes)) - 1)].category;
      i.handling = std::string(ParentOf(grid));  // the village
      i.step = Incident::kReported;
      Tick(1);
      Event e = ev::IncidentReported(ExtraId(), i.id, grid, i.category, source, now_);
      if (source == grid::v1::GRID_PATROL)
        e.mutable_incident_reported()->set_reporting_worker_id(workers_[grid]);
      if (source == grid::v1::CITIZEN || source == grid::v1::HOTLINE_12345) {
        auto* person = e.mutable_incident_reported()->mutable_reporter()->mutable_person();
        person->set_person_token(Seeded("pt-r", incidents_.size() + 1));
        person->set_name(Name());
      }
      const bool patrol = source == grid::v1::GRID_PATROL;
      std::vector<Event> batch = {patrol ? FromPhone(std::move(e), grid) : std::move(e)};
      // A patrol puts a third of what it finds right on the spot.
      if (patrol && ExtraChance(0.33)) {
        batch.push_back(FromPhone(ev::IncidentSelfResolved(ExtraId(), i.id, grid, now_), grid));
        i.step = Incident::kResolved;
        i.self_resolved = true;
      }
      Emit(std::move(batch));
      incidents_.push_back(std::move(i));
    }
    for (size_t n = 0; n < incidents_.size(); ++n) StepIncident(&incidents_[n], n);
  }

  void Dispatch(Incident* i, bool wrong) {
    const Route& r = RouteOf(i->category);
    i->handler = r.level == 3 ? i->handling : r.level == 2 ? std::string(ParentOf(i->handling)) : o_.county;
    i->dept = wrong ? r.wrong_dept : r.dept;
    if (wrong && r.level == 3) i->handler = std::string(ParentOf(i->handling));
    Tick(1);
    Emit({ev::IncidentDispatched(ExtraId(), i->id, i->grid, i->handling, i->handler, i->dept, now_)});
    i->step = Incident::kDispatched;
  }

  void StepIncident(Incident* i, size_t n) {
    const std::string& id = i->id;
    switch (i->step) {
      case Incident::kReported: {
        Tick(1);
        if (ExtraChance(0.04)) {
          Emit({ev::IncidentRejected(ExtraId(), id, i->grid, i->handling, grid::v1::IncidentRejected::INVALID,
                                     now_)});
          i->step = Incident::kClosed;
          return;
        }
        if (n > 0 && ExtraChance(0.03)) {
          Emit(
              {ev::IncidentMarkedDuplicate(ExtraId(), id, i->grid, i->handling, incidents_[n - 1].id, now_)});
          i->step = Incident::kClosed;
          return;
        }
        std::vector<Event> batch = {ev::IncidentAccepted(ExtraId(), id, i->grid, i->handling, now_)};
        // What the village cannot solve goes to the town.
        if (RouteOf(i->category).level < 3 && ExtraChance(0.3)) {
          const std::string town(ParentOf(i->handling));
          Tick(1);
          batch.push_back(ev::IncidentEscalated(ExtraId(), id, i->grid, i->handling, town, now_));
          i->handling = town;
        }
        Emit(std::move(batch));
        i->step = Incident::kAccepted;
        // A few go to the wrong department first.
        Dispatch(i, !i->returned_once && ExtraChance(0.06));
        return;
      }
      case Incident::kAccepted:
        Dispatch(i, false);
        return;
      case Incident::kDispatched:
        if (ExtraChance(0.2)) return;  // not yet seen
        Tick(1);
        if (i->dept != RouteOf(i->category).dept) {
          Emit({ev::IncidentReturned(ExtraId(), id, i->grid, i->handler, i->dept,
                                     grid::v1::IncidentReturned::WRONG_DEPARTMENT, now_)});
          i->returned_once = true;
          Dispatch(i, false);
          return;
        }
        Emit({ev::IncidentAcknowledged(ExtraId(), id, i->grid, i->handler, i->dept, now_)});
        i->step = Incident::kAcknowledged;
        return;
      case Incident::kAcknowledged: {
        if (ExtraChance(0.04)) {
          Tick(1);
          Emit({ev::IncidentSuspended(ExtraId(), id, i->grid, i->handling, now_)});
          i->step = Incident::kSuspended;
          i->suspended_days = 0;
          return;
        }
        if (ExtraChance(0.05)) {
          Tick(1);
          Emit({ev::IncidentExtensionRequested(ExtraId(), id, i->grid, i->handler, i->dept, 24 * 60, now_)});
          Tick(1);
          Emit(
              {ev::IncidentExtensionDecided(ExtraId(), id, i->grid, i->handling, ExtraChance(0.7), 0, now_)});
        }
        // Most are put right within a day or two; a few drag on and get urged.
        if (ExtraChance(0.55)) {
          Tick(2);
          Emit({ev::IncidentResolutionSubmitted(ExtraId(), id, i->grid, i->handler, i->dept, now_)});
          i->step = Incident::kResolved;
        } else if (ExtraChance(0.15)) {
          Tick(1);
          Emit({ev::IncidentUrged(ExtraId(), id, i->grid, std::string(ParentOf(i->handling)), now_)});
        }
        return;
      }
      case Incident::kSuspended:
        if (++i->suspended_days < 2) return;
        Tick(1);
        Emit({ev::IncidentResumed(ExtraId(), id, i->grid, i->handling, now_)});
        i->step = Incident::kAcknowledged;
        return;
      case Incident::kResolved: {
        Tick(1);
        const bool passed = ExtraChance(0.88);
        const std::string& by = i->self_resolved ? i->handling : i->grid;
        Emit({ev::IncidentVerified(ExtraId(), id, i->grid, by, passed, now_)});
        if (passed) {
          i->step = Incident::kVerified;
        } else {
          i->step = i->self_resolved ? Incident::kAccepted : Incident::kDispatched;
          i->self_resolved = false;
        }
        return;
      }
      case Incident::kVerified: {
        Tick(1);
        std::vector<Event> batch = {
            ev::IncidentClosed(ExtraId(), id, i->grid, i->handling, grid::v1::RESOLVED, now_)};
        if (ExtraChance(0.7)) {
          const int score = ExtraChance(0.8) ? ExtraUniform(4, 5) : ExtraUniform(1, 3);
          batch.push_back(ev::IncidentRated(ExtraId(), id, i->grid, i->handling, score, now_));
        }
        Emit(std::move(batch));
        i->step = Incident::kClosed;
        i->closed_days = 0;
        return;
      }
      case Incident::kClosed:
        // Now and then the problem comes back within the week.
        if (++i->closed_days <= 5 && !i->self_resolved && !i->handler.empty() && ExtraChance(0.01)) {
          Tick(1);
          Emit({ev::IncidentReopened(ExtraId(), id, i->grid, i->handling, now_)});
          i->step = Incident::kAccepted;
          i->closed_days = 99;
        }
        return;
    }
  }

  void NewHousehold(const std::string& grid, int size) {
    Household h;
    h.id = Seeded("h", households_.size() + 1);
    h.grid = grid;
    h.head = Person();
    h.members.push_back(h.head);
    std::vector<Event> events = {
        FromPhone(ev::HouseholdCreated(Id(), h.id, grid, h.head, Name(), now_, Residence()), grid)};
    for (int i = 1; i < size; ++i) {
      const std::string p = Person();
      h.members.push_back(p);
      events.push_back(
          FromPhone(ev::MemberAdded(Id(), h.id, grid, p, Name(), grid::v1::MemberAdded::MOVE_IN, now_,
                                    i == 1 ? grid::v1::SPOUSE : grid::v1::CHILD, Residence()),
                    grid));
    }
    Emit(std::move(events));
    households_.push_back(std::move(h));
  }

  void Day(int d) {
    const absl::TimeZone china = ChinaTime();
    const absl::CivilDay day = absl::ToCivilDay(o_.start, china) + d;
    now_ = std::max(now_,
                    absl::FromCivil(absl::CivilSecond(day.year(), day.month(), day.day(), 8, 0, 0), china));
    LateForms();
    // The county's daily form to every village, due at 18:00.
    const std::string task = Seeded("t", d + 1);
    const absl::Time due =
        absl::FromCivil(absl::CivilSecond(day.year(), day.month(), day.day(), 18, 0, 0), china);
    Emit({DailyForm(task, due)});
    Sanitation();
    Rectifications();
    HouseholdChanges();
    Projects(d);
    if (o_.incidents_and_ledgers) {
      Incidents();
      if (d % 10 == 0) Ledgers(d == 0);
    }
    // Villages report: most on time, some late (tomorrow morning), some never.
    std::set<std::string> on_time;
    for (const auto& village : villages_) {
      const double r = std::uniform_real_distribution<double>(0, 1)(rng_);
      if (r < 0.8) {
        Tick(1);
        Emit({DailyReport(task, village)});
        on_time.insert(village);
      } else if (r < 0.9) {
        late_forms_.push_back({task, village});
      }
    }
    if (o_.incidents_and_ledgers) Assess(day, task, on_time);
  }

  // ---- cadre assessment: its own ids and random stream, like incidents.

  // The county's holidays in the work calendar it publishes: New Year's
  // Day, Labour Day and the first three days of National Day.
  static std::vector<absl::CivilDay> Holidays(int year) {
    return {absl::CivilDay(year, 1, 1), absl::CivilDay(year, 5, 1), absl::CivilDay(year, 10, 1),
            absl::CivilDay(year, 10, 2), absl::CivilDay(year, 10, 3)};
  }

  std::string AssessId() { return Seeded("as", ++assess_ids_); }
  uint64_t LastPosition() const { return o_.last_position ? o_.last_position() : emitted_; }

  // Opens the year's period for the county's village cadres.
  void OpenAssessment(int year) {
    period_ = absl::StrFormat("%s-%d-cadres", o_.county, year);
    assessment_ = AssessmentState{};
    assessment_.daily_weight_permille = 400;
    assessment_.year_end_weight_permille = 600;
    assessment_.top_permille = 300;
    assessment_.ends_on = absl::CivilDay(year, 12, 31);
    year_end_done_ = false;
    Tick(1);
    Emit({ev::AssessmentOpened(AssessId(), period_, o_.county, absl::StrFormat("%d-01-01", year),
                               CivilDateText(assessment_.ends_on), now_)});
  }

  // After the day's work: each village's two cadres (the secretary and the
  // director) get a working day's score from what the views show; from 20
  // December their year-end score; after the year, the close.
  void Assess(absl::CivilDay day, const std::string& task, const std::set<std::string>& on_time) {
    if (period_.empty()) OpenAssessment(static_cast<int>(day.year()));
    if (day > assessment_.ends_on) {
      Tick(1);
      Emit({ev::AssessmentClosed(AssessId(), period_, o_.county, RankAssessment(assessment_), now_)});
      OpenAssessment(static_cast<int>(day.year()));
    }
    const absl::Weekday wd = absl::GetWeekday(day);
    // The holidays Setup publishes in the work calendar are not scored.
    const std::vector<absl::CivilDay> holidays = Holidays(static_cast<int>(day.year()));
    const bool holiday = std::find(holidays.begin(), holidays.end(), day) != holidays.end();
    const bool working = wd != absl::Weekday::saturday && wd != absl::Weekday::sunday && !holiday;
    const bool year_end = !year_end_done_ && day.month() == 12 && day.day() >= 20;
    if (!working && !year_end) return;
    Tick(1);
    const uint64_t at = LastPosition();
    const std::string month = absl::StrFormat("%04d-%02d", day.year(), day.month());
    std::vector<Event> batch;
    for (const auto& village : villages_) {
      for (int k = 1; k <= 2; ++k) {
        const std::string cadre = absl::StrCat("c-", village.substr(village.size() - 7, 3),
                                               village.substr(village.size() - 3), "-", k);
        std::vector<grid::v1::ScoreComponent> items;
        if (working) {
          items.push_back(ev::ScoreItem("FORM.ON_TIME", on_time.contains(village) ? 40 : 0, "form_completion",
                                        absl::StrCat(task, "#", village), at));
          items.push_back(k == 1 ? ev::ScoreItem("SANITATION.PATROL", AssessUniform(20, 40),
                                                 "grid_sanitation", absl::StrCat(village, "/g01"), at)
                                 : ev::ScoreItem("INCIDENT.HANDLING", AssessUniform(15, 40), "incident_stats",
                                                 absl::StrCat(village, "#", month), at));
          batch.push_back(
              ev::CadreScore(AssessId(), period_, cadre, village, CivilDateText(day), items, now_));
          int64_t points = 0;
          for (const auto& i : items) points += i.points_x10();
          auto& c = assessment_.cadres[cadre];
          c.org_path = village;
          c.days[day] = static_cast<int32_t>(points);
        }
        if (year_end) {
          const int32_t review = AssessUniform(600, 950);
          batch.push_back(ev::CadreScore(AssessId(), period_, cadre, village, "",
                                         {ev::ScoreItem("YEAR.INCOME_GROWTH", review / 2, "village_income",
                                                        absl::StrFormat("%s#%04d", village, day.year()), at),
                                          ev::ScoreItem("YEAR.REVIEW", review - review / 2, "incident_stats",
                                                        absl::StrCat(village, "#", month), at)},
                                         now_));
          auto& c = assessment_.cadres[cadre];
          c.org_path = village;
          c.year_end = review;
        }
      }
    }
    year_end_done_ |= year_end;
    for (size_t i = 0; i < batch.size(); i += 200) {
      Emit(std::vector<Event>(batch.begin() + static_cast<std::ptrdiff_t>(i),
                              batch.begin() + static_cast<std::ptrdiff_t>(std::min(batch.size(), i + 200))));
    }
  }
  int32_t AssessUniform(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(assess_rng_); }

  void LateForms() {
    for (const auto& [task, village] : late_forms_) {
      Tick(1);
      Emit({DailyReport(task, village)});
    }
    late_forms_.clear();
  }

  // The county's daily form: three facts the network already holds or was
  // told once (prefilled), and one typed every day.
  Event DailyForm(const std::string& task, absl::Time due) {
    Event e = ev::FormTaskIssued(Id(), task, "county-health", o_.county, 3, due, now_);
    auto* t = e.mutable_form_task_issued();
    t->set_title("daily village report");
    t->clear_fields();
    const auto field = [&](const char* path, const char* unit, bool prefill) {
      auto* f = t->add_fields();
      f->set_canonical_path(path);
      f->set_unit(unit);
      f->set_value_class(grid::v1::C0_AGGREGATE);
      f->set_prefill(prefill);
    };
    field("population.households", "household", true);
    field("population.residents", "person", true);
    field("village.duty_officers", "person", true);
    field("village.daily.issues_found", "issue", false);
    return e;
  }

  // A village's daily report. With PrefillForm (options.prefill) it
  // confirms what the form offers, typing only the day's count (and now and
  // then a changed duty roster); without, it types every field.
  Event DailyReport(const std::string& task, const std::string& village) {
    // The values depend on the day and village only (no draw from rng_, so
    // the rest of the history is the same either way).
    uint64_t h = 1469598103934665603ULL;
    for (char c : task + village) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ULL;
    std::map<std::string, std::string> typed = {{"village.daily.issues_found", absl::StrCat(h % 4)}};
    if (o_.prefill) {
      if (auto prefill = o_.prefill(task, village)) {
        bool has_roster = false;
        for (const auto& f : prefill->fields())
          has_roster |= f.prefilled() && f.canonical_path() == "village.duty_officers";
        if (!has_roster || h % 10 == 0) typed["village.duty_officers"] = absl::StrCat(3 + h % 3);
        return ev::FormSubmittedFromPrefill(Id(), task, village, "sub-" + Id(), now_, *prefill, typed);
      }
    }
    Event e = ev::FormSubmitted(Id(), task, village, "sub-" + Id(), now_);
    auto* f = e.mutable_form_submitted();
    f->clear_values();
    const auto value = [&](const char* path, const std::string& v) {
      auto* fv = f->add_values();
      fv->set_canonical_path(path);
      fv->set_value(v);
      fv->set_provenance(grid::v1::FormValue::NEW);
      fv->set_value_class(grid::v1::C0_AGGREGATE);
    };
    value("population.households", absl::StrCat(o_.grids_per_village * o_.households_per_grid));
    value("population.residents", absl::StrCat(o_.grids_per_village * o_.households_per_grid * 3));
    value("village.duty_officers", absl::StrCat(3 + h % 3));
    value("village.daily.issues_found", typed["village.daily.issues_found"]);
    return e;
  }

  void Sanitation() {
    for (const auto& grid : grids_) {
      Tick(2);
      const std::string& w = workers_[grid];
      Emit({FromPhone(ev::SanitationReport(Id(), grid, w, grid::v1::DAILY_CHECK_IN, 1000, {}, now_), grid)});
      if (Chance(0.3)) {
        std::vector<std::string> findings;
        if (Chance(0.4)) findings.push_back("f-" + Id());
        const uint32_t score = findings.empty() ? Uniform(950, 1000) : Uniform(700, 940);
        Tick(2);
        Emit({FromPhone(ev::SanitationReport(Id(), grid, w, grid::v1::PATROL, score, findings, now_), grid)});
        for (const auto& f : findings) {
          Tick(1);
          const absl::Time deadline = now_ + absl::Hours(Uniform(24, 96));
          Emit({ev::RectificationOrdered(Id(), f, grid, deadline, now_)});
          open_findings_.push_back({f, grid, deadline});
        }
      }
    }
  }

  void Rectifications() {
    std::vector<Finding> still_open;
    for (auto& f : open_findings_) {
      if (!Chance(0.5)) {
        still_open.push_back(f);
        continue;
      }
      Tick(1);
      if (Chance(0.3)) {
        Emit({FromPhone(ev::RectificationProgress(Id(), f.id, f.grid, now_), f.grid)});
        still_open.push_back(f);
      } else if (Chance(0.75) || f.failures >= 2) {
        Emit({ev::RectificationReinspected(Id(), f.id, f.grid, true, now_, now_)});
      } else {
        f.deadline = std::max(f.deadline, now_) + absl::Hours(48);
        ++f.failures;
        Emit({ev::RectificationReinspected(Id(), f.id, f.grid, false, f.deadline, now_)});
        if (f.failures == 2) {
          Tick(1);
          Emit({ev::RectificationEscalated(Id(), f.id, f.grid, std::string(ParentOf(ParentOf(f.grid))),
                                           now_)});
        }
        still_open.push_back(f);
      }
    }
    open_findings_ = std::move(still_open);
  }

  void HouseholdChanges() {
    const size_t n = households_.size();
    for (size_t i = 0; i < n; ++i) {
      Household& h = households_[i];
      if (h.members.empty()) continue;
      // A death reported earlier is confirmed by the police sync.
      if (!h.death_reported.empty() && Chance(0.5)) {
        const std::string p = h.death_reported.back();
        h.death_reported.pop_back();
        Tick(1);
        Emit({ev::MemberRemoved(Id(), h.id, h.grid, p, grid::v1::MemberRemoved::DEATH_CONFIRMED, now_,
                                grid::v1::POLICE_SYNC)});
        std::erase(h.members, p);
        if (h.head == p) {
          if (h.members.empty()) {
            Tick(1);
            Emit({FromPhone(ev::HouseholdDissolved(Id(), h.id, h.grid, now_), h.grid)});
            continue;
          }
          Tick(1);
          Emit({FromPhone(ev::HeadChanged(Id(), h.id, h.grid, "", h.members.front(), now_), h.grid)});
          h.head = h.members.front();
        }
        continue;
      }
      if (Chance(0.004)) {
        const std::string p = Person();
        Tick(1);
        Emit({FromPhone(ev::MemberAdded(Id(), h.id, h.grid, p, Name(), grid::v1::MemberAdded::BIRTH, now_),
                        h.grid)});
        h.members.push_back(p);
      } else if (Chance(0.002)) {
        const std::string& p = h.members[Uniform(0, static_cast<int>(h.members.size()) - 1)];
        if (std::find(h.death_reported.begin(), h.death_reported.end(), p) == h.death_reported.end()) {
          Tick(1);
          Emit({FromPhone(
              ev::MemberRemoved(Id(), h.id, h.grid, p, grid::v1::MemberRemoved::DEATH_REPORTED, now_),
              h.grid)});
          h.death_reported.push_back(p);
        }
      } else if (Chance(0.003) && h.members.size() > 1) {
        const std::string p = h.members.back();
        if (std::find(h.death_reported.begin(), h.death_reported.end(), p) == h.death_reported.end()) {
          Tick(1);
          Emit({FromPhone(ev::MemberRemoved(Id(), h.id, h.grid, p, grid::v1::MemberRemoved::MOVE_OUT, now_),
                          h.grid)});
          h.members.pop_back();
        }
      } else if (Chance(0.001)) {
        const std::string to = grids_[Uniform(0, static_cast<int>(grids_.size()) - 1)];
        if (to != h.grid) {
          Tick(1);
          Emit({FromPhone(ev::AddressChanged(Id(), h.id, h.grid, to, now_), h.grid)});
          h.grid = to;
        }
      }
    }
    // New households: about one a day per village.
    for (size_t v = 0; v < villages_.size(); ++v) {
      if (Chance(0.8)) {
        Tick(1);
        NewHousehold(grids_[v * o_.grids_per_village + Uniform(0, o_.grids_per_village - 1)], Uniform(1, 4));
      }
    }
  }

  void Projects(int d) {
    if (d % 2 == 0) {  // a village applies every other day
      Project p;
      p.id = Seeded("pr", projects_.size() + 1);
      p.village = villages_[Uniform(0, static_cast<int>(villages_.size()) - 1)];
      Tick(1);
      Emit({ev::ProjectDeclared(Id(), p.id, p.village, 1, Uniform(50, 500) * 1000000LL, now_)});
      projects_.push_back(p);
      return;  // decided from the next day on
    }
    for (auto& p : projects_) {
      const std::string town(ParentOf(p.village));
      Tick(1);
      switch (p.step) {
        case Project::kAtTown: {
          const double r = std::uniform_real_distribution<double>(0, 1)(rng_);
          if (r < 0.3) {
            Emit({ev::StageDecided(Id(), p.id, p.village, p.revision, grid::v1::TOWN_PRELIMINARY, town,
                                   grid::v1::RETURNED_FOR_SUPPLEMENT, now_, {},
                                   {"site plan", "budget detail"})});
            p.step = Project::kReturned;
          } else if (r < 0.4) {
            Emit({ev::StageDecided(Id(), p.id, p.village, p.revision, grid::v1::TOWN_PRELIMINARY, town,
                                   grid::v1::REJECTED, now_)});
            p.step = Project::kDone;
          } else {
            Emit({ev::StageDecided(
                Id(), p.id, p.village, p.revision, grid::v1::TOWN_PRELIMINARY, town, grid::v1::APPROVED, now_,
                {{grid::v1::ESTABLISHMENT, "county-drc"}, {grid::v1::LAND_PLANNING, "county-nrb"}})});
            p.step = Project::kAtDepartments;
          }
          break;
        }
        case Project::kReturned:
          ++p.revision;
          Emit({ev::ProjectDeclared(Id(), p.id, p.village, p.revision, Uniform(50, 500) * 1000000LL, now_)});
          p.step = Project::kAtTown;
          break;
        case Project::kAtDepartments:
          if (!p.drc_done && Chance(0.6)) {
            Emit({ev::StageDecided(Id(), p.id, p.village, p.revision, grid::v1::ESTABLISHMENT, "county-drc",
                                   grid::v1::APPROVED, now_)});
            p.drc_done = true;
          } else if (!p.nrb_done && Chance(0.6)) {
            Emit({ev::StageDecided(Id(), p.id, p.village, p.revision, grid::v1::LAND_PLANNING, "county-nrb",
                                   grid::v1::OPINION, now_)});
            p.nrb_done = true;
          }
          if (p.drc_done && p.nrb_done) p.step = Project::kApproved;
          break;
        case Project::kApproved:
          Emit({ev::ProjectStarted(Id(), p.id, p.village, now_)});
          p.step = Project::kStarted;
          break;
        default:
          break;
      }
    }
  }

  const SimulatorOptions o_;
  const std::function<bool(SimBatch&&)>& emit_;
  std::mt19937_64 rng_;
  absl::Time now_;
  bool stopped_ = false;
  uint64_t ids_ = 0, people_ = 0;
  std::vector<std::string> towns_, villages_, grids_;
  std::map<std::string, std::string> workers_;  // grid → worker
  std::map<std::string, uint64_t> device_seq_;
  std::vector<Household> households_;
  std::vector<Finding> open_findings_;
  std::vector<Project> projects_;
  std::vector<std::pair<std::string, std::string>> late_forms_;
  std::mt19937_64 extra_rng_{o_.seed ^ 0x1c1de47ULL};
  uint64_t extra_ids_ = 0;
  uint64_t ledger_entries_ = 0;
  std::vector<Incident> incidents_;
  uint64_t emitted_ = 0;
  std::mt19937_64 assess_rng_{o_.seed ^ 0xa55e55ULL};
  uint64_t assess_ids_ = 0;
  std::string period_;
  AssessmentState assessment_;
  bool year_end_done_ = false;
};

}  // namespace

void Simulate(const SimulatorOptions& options, const std::function<bool(SimBatch&&)>& emit) {
  Sim(options, emit).Run();
}

}  // namespace grid::domain
