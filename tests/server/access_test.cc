// Access control end to end, in process: a real GridServer over TLS with
// bearer tokens and a policy file, each principal on its own channel.
//
//  - The matrix of roles × RPCs, as a table: every RPC of the grid.v1
//    services must have a row here and in the server's table, so adding an
//    RPC without a policy fails this test.
//  - Jurisdictions × data classes: what each role reads, subscribes to and
//    gets from projections is inside its jurisdiction and redacted to its
//    clearance; appends outside it, of other types, for unassigned grids or
//    as another department are refused.
//  - A policy reload cuts a live subscription; rate and stream limits;
//    the access audit, and an append that fails when the audit cannot be
//    written.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "domain/events.h"
#include "domain/rules.h"
#include "grid/cluster/v1/node.grpc.pb.h"
#include "grid/v1/admin.grpc.pb.h"
#include "grid/v1/log.grpc.pb.h"
#include "grid/v1/projection.grpc.pb.h"
#include "server/access/access_policy.h"
#include "server/access/redact.h"
#include "server/grid_server.h"
#include "storage/audit_log.h"
#include "storage/checkpoint.h"
#include "storage/record.h"
#include "storage/sync.h"
#include "tests/testing/fault_env.h"
#include "tests/testing/metric_sample.h"
#include "tests/testing/policy_server.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace grid::server {
namespace {

using AccessTest = PolicyServerTest;

// The principals, in the matrix's column order.
const char* const kColumns[] = {"worker", "cadre", "dept", "leader", "auditor", "admin", "node", "stranger"};

// What each role may call: Y or '.', in kColumns' order. The server's
// table (access_policy.cc) must agree with this one, cell by cell.
const std::map<std::string, std::string> kMatrix = {
    {"/grid.v1.Log/Append", "YYY....."},
    {"/grid.v1.Log/Read", "YYYYY..."},
    {"/grid.v1.Log/Subscribe", "YYYYY..."},
    {"/grid.v1.Log/GetStatus", "YYYYYY.."},
    {"/grid.v1.Log/ListCheckpoints", "YYYYYY.."},
    {"/grid.v1.Projections/GetProjection", "YYYYY..."},
    {"/grid.v1.Projections/SubscribeProjection", "YYYYY..."},
    {"/grid.v1.Projections/ListProjections", "YYYYYY.."},
    {"/grid.v1.Projections/RebuildProjection", ".....Y.."},
    {"/grid.v1.Projections/PrefillForm", "YYY....."},
    {"/grid.v1.Admin/Backup", ".....Y.."},
    {"/grid.v1.Admin/ReadAudit", "....Y..."},
    {"/grid.cluster.v1.Node/Append", "......Y."},
    {"/grid.cluster.v1.Node/ReadLog", "......Y."},
};

// One call of each RPC with a request that is harmless when allowed.
std::map<std::string, std::function<StatusCode(const std::shared_ptr<grpc::Channel>&)>> Invokers() {
  using namespace grid::v1;
  std::map<std::string, std::function<StatusCode(const std::shared_ptr<grpc::Channel>&)>> m;
  m["/grid.v1.Log/Append"] = [](auto ch) {
    grpc::ClientContext ctx;
    AppendRequest req;  // no events: INVALID_ARGUMENT once admitted
    req.set_stream("sanitation/x");
    AppendResponse resp;
    return Log::NewStub(ch)->Append(&ctx, req, &resp).error_code();
  };
  m["/grid.v1.Log/Read"] = [](auto ch) {
    grpc::ClientContext ctx;
    ReadRequest req;
    req.mutable_all();
    req.set_max_count(1);
    return Drain(&ctx, Log::NewStub(ch)->Read(&ctx, req));
  };
  m["/grid.v1.Log/Subscribe"] = [](auto ch) {
    grpc::ClientContext ctx;
    Bound(&ctx);
    SubscribeRequest req;
    req.mutable_from_now();
    return Drain(&ctx, Log::NewStub(ch)->Subscribe(&ctx, req),
                 static_cast<std::vector<SubscribeResponse>*>(nullptr), true);
  };
  m["/grid.v1.Log/GetStatus"] = [](auto ch) {
    grpc::ClientContext ctx;
    LogStatus resp;
    return Log::NewStub(ch)->GetStatus(&ctx, {}, &resp).error_code();
  };
  m["/grid.v1.Log/ListCheckpoints"] = [](auto ch) {
    grpc::ClientContext ctx;
    ListCheckpointsResponse resp;
    return Log::NewStub(ch)->ListCheckpoints(&ctx, {}, &resp).error_code();
  };
  m["/grid.v1.Projections/GetProjection"] = [](auto ch) {
    grpc::ClientContext ctx;
    GetProjectionRequest req;
    req.set_name("population");
    req.set_key("350583/101");
    GetProjectionResponse resp;
    return Projections::NewStub(ch)->GetProjection(&ctx, req, &resp).error_code();
  };
  m["/grid.v1.Projections/SubscribeProjection"] = [](auto ch) {
    grpc::ClientContext ctx;
    Bound(&ctx);
    SubscribeProjectionRequest req;
    req.set_name("population");
    req.set_prefix("350583/101");
    return Drain(&ctx, Projections::NewStub(ch)->SubscribeProjection(&ctx, req),
                 static_cast<std::vector<SubscribeProjectionResponse>*>(nullptr), true);
  };
  m["/grid.v1.Projections/ListProjections"] = [](auto ch) {
    grpc::ClientContext ctx;
    ListProjectionsResponse resp;
    return Projections::NewStub(ch)->ListProjections(&ctx, {}, &resp).error_code();
  };
  m["/grid.v1.Projections/RebuildProjection"] = [](auto ch) {
    grpc::ClientContext ctx;
    RebuildProjectionRequest req;
    req.set_name("no-such-projection");  // NOT_FOUND once admitted
    RebuildProjectionResponse resp;
    return Projections::NewStub(ch)->RebuildProjection(&ctx, req, &resp).error_code();
  };
  m["/grid.v1.Projections/PrefillForm"] = [](auto ch) {
    grpc::ClientContext ctx;
    PrefillFormRequest req;  // no task: INVALID_ARGUMENT once admitted
    PrefillFormResponse resp;
    return Projections::NewStub(ch)->PrefillForm(&ctx, req, &resp).error_code();
  };
  m["/grid.v1.Admin/Backup"] = [](auto ch) {
    grpc::ClientContext ctx;
    Bound(&ctx);
    return Drain(&ctx, Admin::NewStub(ch)->Backup(&ctx, {}), static_cast<std::vector<BackupChunk>*>(nullptr),
                 true);
  };
  m["/grid.cluster.v1.Node/Append"] = [](auto ch) {
    grpc::ClientContext ctx;
    grid::cluster::v1::ForwardedAppend req;  // FAILED_PRECONDITION on a single node
    grid::cluster::v1::ForwardedAppendResult resp;
    return grid::cluster::v1::Node::NewStub(ch)->Append(&ctx, req, &resp).error_code();
  };
  m["/grid.cluster.v1.Node/ReadLog"] = [](auto ch) {
    grpc::ClientContext ctx;
    grid::cluster::v1::ReadLogRequest req;  // FAILED_PRECONDITION on a single node
    req.set_from_position(1);
    return Drain(&ctx, grid::cluster::v1::Node::NewStub(ch)->ReadLog(&ctx, req));
  };
  m["/grid.v1.Admin/ReadAudit"] = [](auto ch) {
    grpc::ClientContext ctx;
    ReadAuditRequest req;
    req.set_max_count(1);
    return Drain(&ctx, Admin::NewStub(ch)->ReadAudit(&ctx, req));
  };
  return m;
}

TEST_F(AccessTest, EveryRpcHasAPolicyAndTheMatrixHolds) {
  Start();
  // Every method of every grid.v1 service is in the server's table, in the
  // matrix above, and has an invoker here.
  const auto invokers = Invokers();
  std::set<std::string> methods;
  for (const char* file :
       {"grid/v1/log.proto", "grid/v1/projection.proto", "grid/v1/admin.proto", "grid/v1/event.proto",
        "grid/v1/policy.proto", "grid/v1/config.proto", "grid/cluster/v1/node.proto"}) {
    const auto* f = google::protobuf::DescriptorPool::generated_pool()->FindFileByName(file);
    ASSERT_NE(f, nullptr) << file;
    for (int s = 0; s < f->service_count(); ++s) {
      for (int m = 0; m < f->service(s)->method_count(); ++m) {
        methods.insert(absl::StrCat("/", f->service(s)->full_name(), "/", f->service(s)->method(m)->name()));
      }
    }
  }
  EXPECT_EQ(methods.size(), RpcRules().size());
  for (const auto& method : methods) {
    EXPECT_NE(FindRpcRule(method), nullptr) << method << " has no row in the server's RPC table";
    EXPECT_TRUE(kMatrix.contains(method)) << method << " has no row in this test's matrix";
    EXPECT_TRUE(invokers.contains(method)) << method << " has no invoker in this test";
  }
  int cells = 0;
  for (const auto& [method, row] : kMatrix) {
    ASSERT_EQ(row.size(), std::size(kColumns));
    ASSERT_TRUE(invokers.contains(method)) << method;
    for (size_t i = 0; i < std::size(kColumns); ++i) {
      SCOPED_TRACE(absl::StrCat(method, " as ", kColumns[i]));
      const StatusCode code = invokers.at(method)(As(kColumns[i]));
      const bool allowed = row[i] == 'Y';
      if (allowed) {
        EXPECT_NE(code, StatusCode::PERMISSION_DENIED);
        EXPECT_NE(code, StatusCode::UNAUTHENTICATED);
      } else {
        EXPECT_EQ(code, StatusCode::PERMISSION_DENIED);
      }
      ++cells;
    }
    // Without credentials: UNAUTHENTICATED, whatever the method.
    EXPECT_EQ(invokers.at(method)(As("")), StatusCode::UNAUTHENTICATED) << method;
  }
  EXPECT_EQ(cells, 112);
}

// Jurisdictions × data classes: every reader gets exactly the events of its
// jurisdiction, each a fixed point of redaction at its clearance, through
// Read, Subscribe (whole log) and projections alike.
TEST_F(AccessTest, ReadsSubscriptionsAndProjectionsAreCutToJurisdictionAndClearance) {
  Start();
  Seed();
  const std::vector<grid::v1::Event> all = ReadAll("auditor");
  ASSERT_EQ(all.size(), 9u);
  struct Who {
    const char* name;
    std::string jurisdiction;
    grid::v1::DataClass clearance;
  };
  // The worker reads only the grid its worker is assigned to (kG1), not its
  // whole jurisdiction (town 101).
  for (const Who& r :
       {Who{"worker", kG1, grid::v1::C2_PERSONAL}, Who{"cadre", "350583/101/201", grid::v1::C2_PERSONAL},
        Who{"dept", "350583", grid::v1::C1_INTERNAL}, Who{"leader", "350583/101", grid::v1::C0_AGGREGATE},
        Who{"auditor", "", grid::v1::C4_RESTRICTED}}) {
    SCOPED_TRACE(r.name);
    size_t expected = 0;
    for (const auto& e : all) expected += Under(e.org_path(), r.jurisdiction) ? 1 : 0;
    auto check = [&](const std::vector<grid::v1::Event>& got) {
      EXPECT_EQ(got.size(), expected);
      for (const auto& e : got) {
        EXPECT_TRUE(Under(e.org_path(), r.jurisdiction)) << e.org_path();
        grid::v1::Event again = e;
        Redact(&again, r.clearance);
        EXPECT_EQ(again.SerializeAsString(), e.SerializeAsString()) << e.type() << " above clearance";
        EXPECT_EQ(e.SerializeAsString().find(kIdNumber), std::string::npos);
      }
    };
    check(ReadAll(r.name));

    // A whole-log subscription: the catch-up up to the head.
    check(SubscribeToHead(r.name));

    for (const char* projection : {"household_roster", "grid_sanitation", "population"}) {
      for (const auto& row : Rows(r.name, projection, "")) {
        EXPECT_TRUE(Under(RowOrgPath(row), r.jurisdiction)) << projection << " " << row.key();
        grid::v1::RowValue again = row.value();
        Redact(&again, r.clearance);
        EXPECT_EQ(again.SerializeAsString(), row.value().SerializeAsString()) << projection;
      }
    }
  }
}

// Subscribers of one view (clearance and audiences) are served each
// redacted event as the live one of them redacted it, whatever their
// jurisdictions; another view redacts for itself, and a catch-up keeps
// nothing for others.
TEST_F(AccessTest, SubscribersOfOneViewShareEachRedactedEvent) {
  Start();
  const auto bytes = [](const std::vector<grid::v1::Event>& events) {
    std::vector<std::string> out;
    out.reserve(events.size());
    for (const auto& e : events) out.push_back(e.SerializeAsString());
    return out;
  };
  const auto counter = [&](const char* name) {
    return testing::Sample(server_->CollectMetrics(), name).value_or(-1);
  };
  const auto redacted = [&] { return counter("gridlog_subscriber_events_redacted_total"); };
  const auto shared = [&] { return counter("gridlog_subscriber_events_shared_total"); };

  // "dept" (C1, the county), live at the head before the events come: the
  // households' names are above it.
  grpc::ClientContext ctx;
  Bound(&ctx);
  auto live = grid::v1::Log::NewStub(As("dept"))->Subscribe(&ctx, grid::v1::SubscribeRequest());
  grid::v1::SubscribeResponse m;
  ASSERT_TRUE(live->Read(&m));
  ASSERT_TRUE(m.caught_up());
  Seed();
  std::vector<grid::v1::Event> dept;
  while (dept.size() < 9 && live->Read(&m)) dept.insert(dept.end(), m.events().begin(), m.events().end());
  ASSERT_EQ(dept.size(), 9u);
  ctx.TryCancel();
  while (live->Read(&m)) {
  }
  live->Finish();
  const double first = redacted();
  EXPECT_GT(first, 0);
  EXPECT_EQ(shared(), 0);
  // Another subscriber of the same principal, catching up from the start:
  // the same bytes, nothing redacted again.
  EXPECT_EQ(bytes(SubscribeToHead("dept")), bytes(dept));
  EXPECT_EQ(redacted(), first);
  EXPECT_EQ(shared(), first);
  // "clerk", C1 in one village: dept's bytes for the events there.
  std::vector<grid::v1::Event> village;
  for (const auto& e : dept) {
    if (Under(e.org_path(), "350583/101/201")) village.push_back(e);
  }
  ASSERT_FALSE(village.empty());
  EXPECT_EQ(bytes(SubscribeToHead("clerk")), bytes(village));
  EXPECT_EQ(redacted(), first);
  // "cadre", C2 in that village: a view of its own, with the head's name
  // that C1 does not see. Its catch-up redacts for itself and keeps
  // nothing: a second one redacts as much again.
  const std::vector<grid::v1::Event> cadre = SubscribeToHead("cadre");
  const double own = redacted() - first;
  EXPECT_GT(own, 0);
  EXPECT_EQ(bytes(SubscribeToHead("cadre")), bytes(cadre));
  EXPECT_EQ(redacted(), first + 2 * own);
  bool named = false;
  for (const auto& e : cadre) {
    grid::v1::Event again = e;
    Redact(&again, grid::v1::C2_PERSONAL);
    EXPECT_EQ(again.SerializeAsString(), e.SerializeAsString()) << e.type() << " above clearance";
    named = named || e.household_created().head().name() == "张三丰";
  }
  EXPECT_TRUE(named);
  for (const auto& e : village) EXPECT_NE(e.household_created().head().name(), "张三丰");
}

// The views of incidents, ledgers and names are cut to the reader's
// jurisdiction and clearance like the others, and a citizen who reported an
// incident is seen by dispatchers and auditors only, through Read too.
TEST_F(AccessTest, IncidentLedgerAndDirectoryViewsAreCutLikeTheOthers) {
  Start();
  Seed();
  const absl::Time t = absl::FromUnixSeconds(1790000000);  // 2026-09
  for (const auto& e : std::vector<grid::v1::Event>{
           ev::OrgUnitNamed("n1", "350583/101/201", "溪西村", grid::v1::VILLAGE, t),
           ev::OrgUnitNamed("n2", "350583/102/301", "美林村", grid::v1::VILLAGE, t),
           ev::IncidentCatalog("c1", ev::StandardIncidentCatalog("350583", 1), t),
           ev::WeakVillageThreshold("w1", "350583", 2026, 10000000, t),
           ev::IncidentReported("i1", "i-1", kG1, "ROAD.DAMAGE", grid::v1::CITIZEN, t),
           ev::IncidentAccepted("i2", "i-1", kG1, "350583/101/201", t),
           ev::IncidentReported("i3", "i-2", kG3, "ROAD.DAMAGE", grid::v1::CITIZEN, t),
           ev::LedgerEntry("l1", "350583/101/201", "e-1", 2026, 8, grid::v1::OPERATING_INCOME, 500000, t),
           ev::LedgerEntry("l2", "350583/102/301", "e-1", 2026, 8, grid::v1::OPERATING_INCOME, 700000, t)}) {
    ASSERT_OK(ToAbsl(Append("seed", e))) << e.type();
  }
  struct Who {
    const char* name;
    std::string jurisdiction;
    grid::v1::DataClass clearance;
  };
  for (const Who& r :
       {Who{"cadre", "350583/101/201", grid::v1::C2_PERSONAL}, Who{"dept", "350583", grid::v1::C1_INTERNAL},
        Who{"leader", "350583/101", grid::v1::C0_AGGREGATE}, Who{"auditor", "", grid::v1::C4_RESTRICTED}}) {
    SCOPED_TRACE(r.name);
    for (const char* projection : {"incident_board", "incident_stats", "village_income", "org_directory"}) {
      const auto rows = Rows(r.name, projection, "");
      EXPECT_FALSE(rows.empty()) << projection;
      const auto all = Rows("auditor", projection, "");
      size_t expected = 0;
      for (const auto& row : all) expected += Under(RowOrgPath(row), r.jurisdiction) ? 1 : 0;
      EXPECT_EQ(rows.size(), expected) << projection;
      for (const auto& row : rows) {
        EXPECT_TRUE(Under(RowOrgPath(row), r.jurisdiction)) << projection << " " << row.key();
        grid::v1::RowValue again = row.value();
        Redact(&again, r.clearance);
        EXPECT_EQ(again.SerializeAsString(), row.value().SerializeAsString()) << projection;
      }
    }
  }
  // Town 101's leader sees its village's books and board, not town 102's.
  EXPECT_EQ(Rows("leader", "village_income", "350583/102").size(), 0u);
  EXPECT_GT(Rows("auditor", "village_income", "350583/102").size(), 0u);
  // The reporter: the auditor sees the citizen, the department (cleared for
  // C1 only, and no dispatcher) and the cadre (C2, but no dispatcher in this
  // policy) do not, not even masked.
  const auto report_seen_by = [&](const std::string& who) {
    for (const auto& e : ReadAll(who)) {
      if (e.event_id() == "i1") return e;
    }
    return grid::v1::Event();
  };
  EXPECT_EQ(report_seen_by("auditor").incident_reported().reporter().person().name(), "林晓");
  for (const char* who : {"cadre", "dept"}) {
    const grid::v1::Event e = report_seen_by(who);
    EXPECT_EQ(e.incident_reported().category(), "ROAD.DAMAGE") << who;
    EXPECT_FALSE(e.incident_reported().reporter().has_person()) << who;
  }
}

// Cadre assessment: each cadre sees their own row of cadre_scoreboard
// (score and rank band, never the exact rank, the cutoff or another cadre's
// row), the organization department and the auditors every row; the
// points in the log are the assessors' too; and nobody scores themselves.
TEST_F(AccessTest, ACadreSeesOwnScoreAndRankBandOnlyTheAssessorsAll) {
  Start();
  Seed();
  const absl::Time t = absl::FromUnixSeconds(1790000000);  // 2026-09
  const auto score = [&](const std::string& id, const std::string& cadre, const std::string& org, int points,
                         const std::string& day) {
    return ev::CadreScore(id, "p-jan", cadre, org, day,
                          {ev::ScoreItem("FORM.ON_TIME", points, "form_completion", "t1#" + org, 3)}, t);
  };
  const std::string v1 = "350583/101/201", v3 = "350583/102/301";
  ASSERT_OK(ToAbsl(
      Append("orgdept", ev::AssessmentOpened("aa1", "p-jan", "350583", "2026-01-01", "2026-01-31", t))));
  for (const auto& e : {score("as1", "c-1", v1, 40, "2026-01-05"), score("as2", "c-2", v1, 30, "2026-01-05"),
                        score("as3", "c-3", v3, 20, "2026-01-05"), score("ay1", "c-1", v1, 700, ""),
                        score("ay2", "c-2", v1, 800, ""), score("ay3", "c-3", v3, 900, "")}) {
    ASSERT_OK(ToAbsl(Append("orgdept", e))) << e.event_id();
  }
  // Regression: resending a score's event id with guessed points told an
  // appender who may not see points whether the guess was right (duplicate)
  // or wrong ("different content"). Now both are a duplicate; what the
  // appender does see still has to match, and an assessor is refused.
  for (int guess : {30, 31}) {
    grid::v1::AppendResponse resp;
    ASSERT_OK(ToAbsl(Append("cadre", score("as2", "c-2", v1, guess, "2026-01-05"), &resp))) << guess;
    EXPECT_TRUE(resp.results(0).duplicate()) << guess;
  }
  EXPECT_EQ(Append("cadre", score("as2", "c-2", v1, 30, "2026-01-06")).error_code(),
            StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(Append("orgdept", score("as2", "c-2", v1, 31, "2026-01-05")).error_code(),
            StatusCode::FAILED_PRECONDITION);
  // Nobody scores themselves, whatever the policy's types allow.
  const grpc::Status self = Append("cadre", score("x", "c-1", v1, 1000, "2026-01-06"));
  EXPECT_EQ(self.error_code(), StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(self.error_message(), "events[0]: cadre acts for cadre c-1, who is not scored by themselves");
  // Before the close: the cadre's own row, with the provisional total.
  auto mine = Rows("cadre", "cadre_scoreboard", "");
  ASSERT_EQ(mine.size(), 1u);
  EXPECT_EQ(mine[0].value().cadre_score().cadre_id(), "c-1");
  EXPECT_EQ(mine[0].value().cadre_score().total_x10(), 436);  // 40 x 0.4 + 700 x 0.6
  // The close: c-3 (548), c-2 (492), c-1 (436); the top 30 % is c-3.
  domain::AssessmentState st;
  st.top_permille = 300;
  st.daily_weight_permille = 400;
  st.year_end_weight_permille = 600;
  st.cadres["c-1"] = {v1, {{absl::CivilDay(2026, 1, 5), 40}}, 700};
  st.cadres["c-2"] = {v1, {{absl::CivilDay(2026, 1, 5), 30}}, 800};
  st.cadres["c-3"] = {v3, {{absl::CivilDay(2026, 1, 5), 20}}, 900};
  ASSERT_OK(ToAbsl(
      Append("orgdept", ev::AssessmentClosed("ac1", "p-jan", "350583", domain::RankAssessment(st), t))));
  mine = Rows("cadre", "cadre_scoreboard", "");
  ASSERT_EQ(mine.size(), 1u);
  const auto& own = mine[0].value().cadre_score();
  EXPECT_TRUE(own.closed());
  EXPECT_EQ(own.closed_total_x10(), 436);
  EXPECT_FALSE(own.top());
  EXPECT_EQ(own.rank_band_percent(), 0u);  // withheld in a cohort of 3: it would be the rank
  EXPECT_EQ(own.rank(), 0u);
  EXPECT_EQ(own.cutoff_x10(), 0);
  EXPECT_EQ(own.cohort(), 0u);
  std::set<std::string> redacted(mine[0].redacted().begin(), mine[0].redacted().end());
  for (const char* f : {"cadre_score.rank", "cadre_score.percentile_permille", "cadre_score.cohort",
                        "cadre_score.cutoff_x10"}) {
    EXPECT_TRUE(redacted.contains(f)) << f;
  }
  // The assessors and the auditor: every row, ranks included.
  for (const char* who : {"orgdept", "auditor"}) {
    const auto all = Rows(who, "cadre_scoreboard", "");
    ASSERT_EQ(all.size(), 3u) << who;
    for (const auto& row : all) {
      EXPECT_GT(row.value().cadre_score().rank(), 0u) << who;
      EXPECT_EQ(row.value().cadre_score().cutoff_x10(), 548) << who;
    }
  }
  // Others of the same village, its town's leader, a department that does
  // not assess: no row at all.
  for (const char* who : {"clerk", "leader", "dept", "worker", "seed" /* C4, not an assessor */}) {
    EXPECT_TRUE(Rows(who, "cadre_scoreboard", "").empty()) << who;
  }
  // In the log, the cadre sees that scores were recorded, not their points.
  int scores = 0;
  for (const auto& e : ReadAll("cadre")) {
    if (!e.has_cadre_score_recorded()) continue;
    ++scores;
    EXPECT_EQ(e.cadre_score_recorded().components_size(), 0) << e.event_id();
    EXPECT_EQ(e.cadre_score_recorded().total_x10(), 0) << e.event_id();
  }
  EXPECT_EQ(scores, 4);  // the village's, not c-3's
  for (const auto& e : ReadAll("orgdept")) {
    if (e.has_cadre_score_recorded()) {
      EXPECT_GT(e.cadre_score_recorded().components_size(), 0);
    }
    if (e.has_assessment_period_closed()) {
      EXPECT_EQ(e.assessment_period_closed().ranks_size(), 3);
    }
  }
}

// "One table" is cut like every view: a unit outside the caller's
// jurisdiction is refused, a fact above its clearance is withheld (not
// prefilled), and confirming it is refused exactly like confirming a wrong
// value, so that a caller cannot probe for a value it may not see.
TEST_F(AccessTest, OneTableIsCutToJurisdictionAndClearanceAndCannotBeProbed) {
  Start();
  Seed();
  const absl::Time t = absl::FromUnixSeconds(1790000000);
  constexpr char kVillage[] = "350583/101/201";
  grid::v1::Event task = ev::FormTaskIssued("f1", "t-1", "county-civil", "350583", 3, t + absl::Hours(30), t);
  task.mutable_form_task_issued()->clear_fields();
  for (const auto& [path, cls] : std::vector<std::pair<std::string, grid::v1::DataClass>>{
           {"population.households", grid::v1::C0_AGGREGATE},
           {"village.special_care", grid::v1::C2_PERSONAL}}) {
    auto* f = task.mutable_form_task_issued()->add_fields();
    f->set_canonical_path(path);
    f->set_unit("household");
    f->set_value_class(cls);
    f->set_prefill(true);
  }
  ASSERT_OK(ToAbsl(Append("seed", task)));
  grid::v1::Event typed = ev::FormSubmitted("f2", "t-1", kVillage, "s-1", t);
  auto* v = typed.mutable_form_submitted()->mutable_values(0);
  v->set_canonical_path("village.special_care");
  v->set_value("3");
  v->set_value_class(grid::v1::C2_PERSONAL);
  grid::v1::AppendResponse appended;
  ASSERT_OK(ToAbsl(Append("seed", typed, &appended)));

  const auto prefill = [&](const std::string& who, const std::string& org,
                           grid::v1::PrefillFormResponse* out) {
    grid::v1::PrefillFormRequest req;
    req.set_task_id("t-1");
    req.set_org_path(org);
    req.set_min_position(appended.head_position());
    grpc::ClientContext ctx;
    return grid::v1::Projections::NewStub(As(who))->PrefillForm(&ctx, req, out);
  };
  grid::v1::PrefillFormResponse seen;
  ASSERT_TRUE(prefill("clerk", kVillage, &seen).ok());  // C1, the village
  ASSERT_EQ(seen.fields_size(), 2);
  EXPECT_TRUE(seen.fields(0).prefilled());
  EXPECT_EQ(seen.fields(0).value(), "1");  // h-1, in the village's grid g01
  EXPECT_FALSE(seen.fields(1).prefilled());
  EXPECT_TRUE(seen.fields(1).withheld());
  EXPECT_EQ(seen.fields(1).value(), "");
  grid::v1::PrefillFormResponse other;
  EXPECT_EQ(prefill("clerk", "350583/102/301", &other).error_code(), StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(other.fields_size(), 0);

  // Confirming the withheld value, right or wrong: the same refusal.
  const auto confirm = [&](const std::string& value, const std::string& id) {
    grid::v1::PrefillFormResponse offered = seen;
    offered.mutable_fields(1)->set_prefilled(true);
    offered.mutable_fields(1)->set_value(value);
    return Append("clerk", ev::FormSubmittedFromPrefill(id, "t-1", kVillage, "s-" + id, t, offered, {}));
  };
  const grpc::Status right = confirm("3", "c1");
  const grpc::Status wrong = confirm("4", "c2");
  EXPECT_EQ(right.error_code(), StatusCode::FAILED_PRECONDITION) << right.error_message();
  EXPECT_EQ(wrong.error_code(), right.error_code());
  EXPECT_EQ(wrong.error_message(), right.error_message());
  // What it was served, it confirms.
  ASSERT_OK(
      ToAbsl(Append("clerk", ev::FormSubmittedFromPrefill("c3", "t-1", kVillage, "s-c3", t, seen, {}))));

  // The rows themselves: the clerk's village only, the typed fact's value
  // above its clearance withheld; the county's roll-up for the auditor.
  for (const auto& row : Rows("clerk", "shared_facts", "")) {
    EXPECT_TRUE(Under(RowOrgPath(row), kVillage)) << row.key();
    EXPECT_EQ(row.value().shared_fact().value(), "") << row.key();
  }
  EXPECT_EQ(Rows("clerk", "shared_facts", "").size(), 1u);
  const auto burden = Rows("clerk", "reporting_burden", "");
  ASSERT_EQ(burden.size(), 1u);
  EXPECT_EQ(burden[0].key(), "350583/101/201#t-1");
  EXPECT_EQ(Rows("auditor", "reporting_burden", "350583#").size(), 1u);
  EXPECT_EQ(Rows("leader", "reporting_burden", "350583#").size(), 0u);
}

TEST_F(AccessTest, PersonalFieldsAreMaskedOrRemovedAndIdNumbersBecomeTokens) {
  Start();
  Seed();
  auto household = [&](const std::string& who) {
    for (const auto& e : ReadAll(who)) {
      if (e.type() == "HouseholdCreated" && e.org_path() == kG1) return e.household_created();
    }
    ADD_FAILURE() << who << " does not see h1";
    return grid::v1::HouseholdCreated();
  };
  const std::string token = PersonToken(Slurp(dir_.path() + "/data/person_key"), kIdNumber);
  // C2: in the clear; the ID number is stored only as its keyed token.
  EXPECT_EQ(household("worker").head().name(), "张三丰");
  EXPECT_EQ(household("worker").head().phone(), "13812341234");
  EXPECT_EQ(household("worker").head().person_token(), token);
  EXPECT_EQ(household("auditor").head().id_number(), "");
  // C1: masked; the token (personal) removed.
  EXPECT_EQ(household("dept").head().name(), "张*");
  EXPECT_EQ(household("dept").head().phone(), "138****1234");
  EXPECT_EQ(household("dept").head().person_token(), "");
  EXPECT_EQ(household("dept").household_id(), "h-1");
  // C0: counts only; nothing about the person.
  EXPECT_FALSE(household("leader").has_head());

  // The roster row, masked for the department and listed as such.
  auto roster = Rows("dept", "household_roster", "350583/101");
  ASSERT_EQ(roster.size(), 1u);
  ASSERT_EQ(roster[0].value().household_roster().members_size(), 1);
  EXPECT_EQ(roster[0].value().household_roster().members(0).name(), "张*");
  EXPECT_FALSE(roster[0].redacted().empty());
  EXPECT_EQ(Rows("worker", "household_roster", "350583/101")[0].value().household_roster().members(0).name(),
            "张三丰");

  // One non-registered resident in the grid: residence types are personal
  // (C2), so counted by type they are shown from C2 on; the count of
  // residents to everyone.
  auto leader_pop = Rows("leader", "population", kG1);
  ASSERT_EQ(leader_pop.size(), 1u);
  EXPECT_EQ(leader_pop[0].value().population().non_registered_residents(), 0);
  EXPECT_EQ(leader_pop[0].value().population().residents(), 1);
  EXPECT_TRUE(
      std::any_of(leader_pop[0].redacted().begin(), leader_pop[0].redacted().end(),
                  [](const std::string& f) { return absl::StrContains(f, "non_registered_residents"); }))
      << absl::StrJoin(leader_pop[0].redacted(), ",");
  EXPECT_EQ(Rows("dept", "population", kG1)[0].value().population().non_registered_residents(), 0);    // C1
  EXPECT_EQ(Rows("worker", "population", kG1)[0].value().population().non_registered_residents(), 1);  // C2
}

TEST_F(AccessTest, AppendsOnlyWithinJurisdictionTypesAssignmentsAndDepartment) {
  Start();
  Seed();
  const absl::Time t = absl::FromUnixSeconds(1790000100);
  struct Case {
    const char* name;
    const char* principal;
    grid::v1::Event event;
    const char* message;
  };
  const Case cases[] = {
      {"a grid outside the jurisdiction", "worker",
       ev::SanitationReport("x1", kG3, "w-1", grid::v1::PATROL, 900, {}, t), "outside the jurisdiction"},
      {"a grid in the town the worker is not assigned to", "worker",
       ev::SanitationReport("x2", kG2, "w-1", grid::v1::PATROL, 900, {}, t), "not assigned to grid"},
      {"a report in another worker's name", "worker",
       ev::SanitationReport("x3", kG1, "w-2", grid::v1::PATROL, 900, {}, t), "another worker"},
      {"a type the worker may not append", "worker", ev::GridDefined("x4", "350583/101/201/g09", t),
       "may not append GridDefined"},
      {"a cadre outside its village", "cadre", ev::HouseholdCreated("x5", "h-9", kG3, "pt-9", "王五", t),
       "outside the jurisdiction"},
      {"a department deciding as another", "dept",
       ev::StageDecided("x6", "p-1", "350583/101/201", 1, grid::v1::ESTABLISHMENT, "county-nrb",
                        grid::v1::APPROVED, t),
       "does not decide as department 'county-nrb'"},
      {"a stage the department does not decide", "dept",
       ev::StageDecided("x7", "p-1", "350583/101/201", 1, grid::v1::LAND_PLANNING, "county-drc",
                        grid::v1::APPROVED, t),
       "does not decide stage LAND_PLANNING"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    grpc::Status s = Append(c.principal, c.event);
    EXPECT_EQ(s.error_code(), StatusCode::PERMISSION_DENIED) << s.error_message();
    EXPECT_NE(s.error_message().find(c.message), std::string::npos) << s.error_message();
  }
  EXPECT_EQ(ReadAll("auditor").size(), 9u);  // nothing was written
  // The same rights used rightly: the event's actor is the principal.
  grid::v1::AppendResponse resp;
  ASSERT_TRUE(Append("cadre", ev::HouseholdCreated("x8", "h-8", kG2, "pt-8", "王五", t), &resp).ok());
  const auto last = ReadAll("auditor").back();
  EXPECT_EQ(last.actor().principal(), "cadre");
  EXPECT_EQ(last.actor().role(), "VILLAGE_CADRE");
  EXPECT_EQ(last.actor().org_path(), "350583/101/201");
}

TEST_F(AccessTest, APolicyReloadCutsOffALiveSubscription) {
  Start();
  Seed();
  grpc::ClientContext ctx;
  // Without the cut, the stream would run until this deadline.
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  grid::v1::SubscribeRequest sub;
  sub.mutable_from_now();
  auto reader = grid::v1::Log::NewStub(As("worker"))->Subscribe(&ctx, sub);
  grid::v1::SubscribeResponse m;
  ASSERT_TRUE(reader->Read(&m));  // caught up, live
  ASSERT_TRUE(m.caught_up());

  // A broken policy is refused and the old one stays.
  WritePolicy("{\"principals\": [{\"principal\": \"x\"}]}");
  EXPECT_FALSE(server_->ReloadPolicy().ok());
  // The worker removed from the policy: its idle stream ends at once.
  std::string without_worker = kPolicy;
  without_worker.replace(without_worker.find("\"worker\", \"role\": \"GRID_WORKER\""),
                         std::strlen("\"worker\", \"role\": \"GRID_WORKER\""),
                         "\"gone\", \"role\": \"GRID_WORKER\"");
  WritePolicy(without_worker);
  ASSERT_OK(server_->ReloadPolicy());
  while (reader->Read(&m)) EXPECT_EQ(m.events_size(), 0);
  grpc::Status s = reader->Finish();
  EXPECT_EQ(s.error_code(), StatusCode::PERMISSION_DENIED);
  EXPECT_NE(s.error_message().find("access revoked"), std::string::npos) << s.error_message();
  // And it may start nothing new.
  StatusCode code;
  ReadAll("worker", &code);
  EXPECT_EQ(code, StatusCode::PERMISSION_DENIED);
}

TEST_F(AccessTest, RateLimitAnswersWithARetryHint) {
  Start([](ServerOptions* o) {
    o->access.rate_per_second = 0.5;
    o->access.burst = 2;
  });
  auto stub = grid::v1::Log::NewStub(As("leader"));
  for (int i = 0; i < 2; ++i) {
    grpc::ClientContext ctx;
    grid::v1::LogStatus st;
    EXPECT_TRUE(stub->GetStatus(&ctx, {}, &st).ok()) << i;
  }
  grpc::ClientContext ctx;
  grid::v1::LogStatus st;
  grpc::Status s = stub->GetStatus(&ctx, {}, &st);
  EXPECT_EQ(s.error_code(), StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(s.error_message().find("retry in"), std::string::npos) << s.error_message();
  auto hint = ctx.GetServerTrailingMetadata().find("grpc-retry-pushback-ms");
  ASSERT_NE(hint, ctx.GetServerTrailingMetadata().end());
  EXPECT_GT(std::stoi(std::string(hint->second.data(), hint->second.size())), 0);
  // Another principal has its own bucket.
  grpc::ClientContext other;
  EXPECT_TRUE(grid::v1::Log::NewStub(As("dept"))->GetStatus(&other, {}, &st).ok());
}

TEST_F(AccessTest, StreamLimitPerPrincipal) {
  Start([](ServerOptions* o) { o->access.max_streams = 1; });
  grpc::ClientContext first;
  Bound(&first);
  grid::v1::SubscribeRequest sub;
  sub.mutable_from_now();
  auto open = grid::v1::Log::NewStub(As("dept"))->Subscribe(&first, sub);
  grid::v1::SubscribeResponse m;
  ASSERT_TRUE(open->Read(&m));
  {
    grpc::ClientContext second;
    Bound(&second);
    auto r = grid::v1::Log::NewStub(As("dept"))->Subscribe(&second, sub);
    EXPECT_EQ(Drain(&second, std::move(r)), StatusCode::RESOURCE_EXHAUSTED);
  }
  // Another principal is not affected.
  EXPECT_EQ(Invokers().at("/grid.v1.Log/Subscribe")(As("leader")), StatusCode::CANCELLED);
  // Closing the first frees the slot.
  first.TryCancel();
  while (open->Read(&m)) {
  }
  open->Finish();
  absl::Time deadline = absl::Now() + absl::Seconds(10);
  StatusCode again;
  do {
    again = Invokers().at("/grid.v1.Log/Subscribe")(As("dept"));
  } while (again == StatusCode::RESOURCE_EXHAUSTED && absl::Now() < deadline);
  EXPECT_EQ(again, StatusCode::CANCELLED);
}

TEST_F(AccessTest, EveryCallIsAudited) {
  Start();
  Seed();
  (void)Invokers().at("/grid.v1.Admin/Backup")(As("stranger"));
  (void)Invokers().at("/grid.v1.Log/GetStatus")(As(""));
  (void)ReadAll("dept");
  const auto records = Audit();
  auto find = [&](auto pred) { return std::find_if(records.begin(), records.end(), pred) != records.end(); };
  // A denial, with its reason.
  EXPECT_TRUE(find([](const auto& r) {
    return r.principal() == "stranger" && r.method() == "/grid.v1.Admin/Backup" &&
           r.result() == "PERMISSION_DENIED" &&
           r.message().find("not in the access policy") != std::string::npos;
  }));
  // An unauthenticated call.
  EXPECT_TRUE(find([](const auto& r) { return r.result() == "UNAUTHENTICATED" && r.principal().empty(); }));
  // The worker's append: the intent, synced before, then the outcome.
  EXPECT_TRUE(find([](const auto& r) {
    return r.principal() == "worker" && r.method() == "/grid.v1.Log/Append" && r.intent() &&
           r.scope().find("stream=sanitation/") == 0;
  }));
  EXPECT_TRUE(find([](const auto& r) {
    return r.principal() == "worker" && r.method() == "/grid.v1.Log/Append" && !r.intent() &&
           r.result() == "OK" && r.items() == 1 && r.role() == "GRID_WORKER";
  }));
  // The department's read and how many events it got.
  const size_t dept_events = ReadAll("dept").size();
  EXPECT_TRUE(find([&](const auto& r) {
    return r.principal() == "dept" && r.method() == "/grid.v1.Log/Read" && r.result() == "OK" &&
           r.items() == dept_events && r.scope() == "all";
  }));
  // Sequence numbers are dense and in order; no event contents.
  for (size_t i = 0; i < records.size(); ++i) {
    EXPECT_EQ(records[i].seq(), i + 1);
    EXPECT_EQ(records[i].SerializeAsString().find("张三丰"), std::string::npos);
  }
}

// With a retention, records older than it are deleted soon after start
// (then hourly); newer ones stay and seqs go on.
TEST_F(AccessTest, TheAuditKeepsRecordsForItsRetention) {
  {
    std::filesystem::create_directories(dir_.path() + "/data");
    ASSERT_OK_AND_ASSIGN(auto audit, storage::AuditLog::Open(dir_.path() + "/data/audit"));
    for (absl::Duration age : {absl::Hours(24 * 400), absl::Hours(24 * 200), absl::Hours(24 * 10)}) {
      const int64_t s = absl::ToUnixSeconds(absl::Now() - age);
      grid::v1::AuditRecord r;
      r.mutable_time()->set_seconds(s);
      r.set_principal("old-" + std::to_string(age / absl::Hours(24)));
      r.set_method("/grid.v1.Log/GetStatus");
      r.set_result("OK");
      ASSERT_OK(audit->Write(r, true));
    }
  }
  Start([](ServerOptions* o) { o->audit_retention = absl::Hours(24 * 180); });
  std::vector<grid::v1::AuditRecord> records = Audit();
  for (const absl::Time deadline = absl::Now() + absl::Seconds(20);
       !records.empty() && records.front().seq() < 3 && absl::Now() < deadline; records = Audit()) {
    absl::SleepFor(absl::Milliseconds(100));
  }
  ASSERT_FALSE(records.empty());
  // The 400- and 200-day-old records are gone; the 10-day-old one and the
  // auditor's own reads (seq 4 on) are there.
  EXPECT_EQ(records.front().seq(), 3u);
  EXPECT_EQ(records.front().principal(), "old-10");
  EXPECT_EQ(records.back().principal(), "auditor");
  EXPECT_GE(records.back().seq(), 4u);
}

// Regression: an Append's intent record was written on the RPC thread, and
// outcome records waited for room in the audit's queue (from the sequencer
// thread). With the audit's disk stalled, reads go on, appends whose intent
// finds the queue full fail at once, and the queued ones finish once the
// disk is back.
TEST_F(AccessTest, AStalledAuditDiskStallsNothingElse) {
  testing::FaultInjectionEnv env(rocksdb::Env::Default());
  Start([&env](ServerOptions* o) {
    o->audit_env = &env;
    o->audit_queue = 8;
  });
  Seed();
  const size_t before = ReadAll("auditor").size();
  env.HoldWrites();
  std::vector<std::thread> appends;
  std::atomic<int> ok{0}, behind{0};
  absl::Notification first_behind;
  grid::Mutex mu;
  std::vector<std::string> other;  // any other answer, to show
  constexpr int kAppends = 30;
  appends.reserve(kAppends);
  for (int i = 0; i < kAppends; ++i) {
    appends.emplace_back([&, i] {
      const auto report = ev::SanitationReport(absl::StrCat("st-", i), kG1, "w-1", grid::v1::PATROL, 900, {},
                                               absl::FromUnixSeconds(1790000300));
      grpc::Status s = Append("worker", report);
      // Thirty TLS connections at once on two cores: one may fail to
      // connect (seen once in ~20 runs); the same event again is safe.
      for (int retry = 0; retry < 5 && s.error_code() == StatusCode::UNAVAILABLE &&
                          s.error_message().find("failed to connect") != std::string::npos;
           ++retry) {
        s = Append("worker", report);
      }
      if (s.ok()) {
        ++ok;
      } else if (s.error_code() == StatusCode::UNAVAILABLE &&
                 s.error_message().find("behind") != std::string::npos) {
        if (behind.fetch_add(1) == 0) first_behind.Notify();
      } else {
        grid::MutexLock l(&mu);
        other.push_back(absl::StrCat(s.error_code(), ": ", s.error_message()));
      }
    });
  }
  // Reads answer meanwhile (their outcome records are dropped, not waited for).
  for (int i = 0; i < 5; ++i) {
    grpc::ClientContext ctx;
    Bound(&ctx);
    grid::v1::LogStatus st;
    EXPECT_TRUE(grid::v1::Log::NewStub(As("leader"))->GetStatus(&ctx, {}, &st).ok());
  }
  // At most 8 records wait (plus the batch the writer holds): the rest of
  // the appends fail while the disk is still stalled.
  EXPECT_TRUE(first_behind.WaitForNotificationWithTimeout(absl::Seconds(60)));
  EXPECT_GT(behind.load(), 0);
  EXPECT_EQ(ok.load(), 0);  // nothing commits before its intent is stored
  env.Release();
  for (auto& t : appends) t.join();
  EXPECT_EQ(ok.load() + behind.load(), kAppends) << absl::StrJoin(other, "\n");
  EXPECT_GT(ok.load(), 0);
  EXPECT_EQ(ReadAll("auditor").size(), before + static_cast<size_t>(ok.load()));
  server_.reset();  // before the env goes
}

TEST_F(AccessTest, AnAppendFailsWhenItsAuditRecordCannotBeWritten) {
  testing::FaultInjectionEnv env(rocksdb::Env::Default());
  Start([&env](ServerOptions* o) { o->audit_env = &env; });
  Seed();
  const size_t before = ReadAll("auditor").size();
  env.AddRule({testing::FaultInjectionEnv::kWrite, "", 0, 1, 0});
  grpc::Status s = Append("worker", ev::SanitationReport("a1", kG1, "w-1", grid::v1::PATROL, 900, {},
                                                         absl::FromUnixSeconds(1790000200)));
  EXPECT_EQ(s.error_code(), StatusCode::UNAVAILABLE);
  EXPECT_NE(s.error_message().find("audit"), std::string::npos) << s.error_message();
  env.ClearRules();
  EXPECT_EQ(ReadAll("auditor").size(), before);
  server_.reset();  // before the env goes
}

}  // namespace
}  // namespace grid::server
