// The holes found by attacking a policy-protected gridd from outside, each
// closed as a class and kept closed here, through the real server over TLS
// with the principals of tests/testing/policy_server.h.
#include <gtest/gtest.h>

#include <grpcpp/generic/generic_stub.h>

#include "absl/strings/match.h"
#include "absl/strings/str_replace.h"
#include "server/access/access_policy.h"
#include "server/ops/metrics.h"
#include "storage/event_log.h"
#include "tests/testing/policy_server.h"

namespace grid::server {
namespace {

using SecurityTest = PolicyServerTest;

const absl::Time kT = absl::FromUnixSeconds(1790000100);

std::vector<grid::v1::ProjectionRow> Keys(const std::vector<grid::v1::ProjectionRow>& rows,
                                          const std::string& key) {
  std::vector<grid::v1::ProjectionRow> out;
  for (const auto& r : rows) {
    if (r.key() == key) out.push_back(r);
  }
  return out;
}

// Regression: a town-101 grid worker moved town 102's household h-2 into its
// own grid (only the new address was checked; the refusal of a first try
// named the household's real grid), then read its members through the
// roster; a merge of h-2 into a town-101 household was accepted too.
TEST_F(SecurityTest, AHouseholdCannotBePulledAcrossJurisdictions) {
  Start();
  Seed();
  const size_t before = ReadAll("auditor").size();
  // A first try with a guessed old address: answered as for a household
  // that does not exist, naming nothing of town 102.
  grpc::Status guessed = Append("worker", ev::AddressChanged("a1", "h-2", kG1, kG1, kT));
  EXPECT_EQ(guessed.error_code(), StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(guessed.error_message(), "events[0] (AddressChanged): household h-2 does not exist");
  // With the real old address: refused for the place the caller named.
  grpc::Status pulled = Append("worker", ev::AddressChanged("a2", "h-2", kG3, kG1, kT));
  EXPECT_EQ(pulled.error_code(), StatusCode::PERMISSION_DENIED) << pulled.error_message();
  EXPECT_TRUE(absl::StrContains(pulled.error_message(),
                                absl::StrCat("org path '", kG3, "' is outside the jurisdiction")))
      << pulled.error_message();
  // A merge of h-2 into the worker's own h-1.
  grpc::Status merged = Append("worker", ev::HouseholdMerged("a3", "h-1", kG1, {"h-2"}, kT));
  EXPECT_EQ(merged.error_code(), StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(merged.error_message(), "events[0] (HouseholdMerged): household h-2 does not exist");
  // A member added to h-2, from the worker's grid.
  grpc::Status added =
      Append("worker", ev::MemberAdded("a4", "h-2", kG1, "pt-x", "某", grid::v1::MemberAdded::BIRTH, kT));
  EXPECT_EQ(added.error_message(), "events[0] (MemberAdded): household h-2 does not exist");
  for (const auto* s : {&guessed, &merged, &added}) {
    EXPECT_FALSE(absl::StrContains(s->error_message(), "350583/102/")) << s->error_message();
  }
  // Nothing was written; town 102 still has its household, and the worker's
  // roster never showed it.
  EXPECT_EQ(ReadAll("auditor").size(), before);
  EXPECT_EQ(Keys(Rows("seed", "household_roster", ""), std::string(kG3) + "#h-2").size(), 1u);
  for (const auto& r : Rows("worker", "household_roster", "")) {
    EXPECT_NE(r.value().household_roster().household_id(), "h-2");
  }
}

// Out of jurisdiction looks the same as absent: a stream read, a version
// conflict and an event id taken by another town's event.
TEST_F(SecurityTest, AnotherTownsStreamLooksLikeAMissingOne) {
  Start();
  Seed();
  auto read = [&](const std::string& stream) {
    grid::v1::ReadRequest req;
    req.set_stream(stream);
    grpc::ClientContext ctx;
    Bound(&ctx);
    auto r = grid::v1::Log::NewStub(As("worker"))->Read(&ctx, req);
    grid::v1::ReadResponse m;
    int events = 0;
    while (r->Read(&m)) events += m.events_size();
    grpc::Status s = r->Finish();
    EXPECT_EQ(events, 0);
    return s;
  };
  const grpc::Status other = read("household/h-2");
  const grpc::Status missing = read("household/h-none");
  EXPECT_EQ(other.error_code(), StatusCode::NOT_FOUND);
  EXPECT_EQ(other.error_message(), "stream 'household/h-2' does not exist");
  EXPECT_EQ(missing.error_message(), "stream 'household/h-none' does not exist");

  // An append with a wrong expected version to h-2 says nothing of its version.
  grid::v1::AppendRequest req;
  req.set_stream("household/h-2");
  req.set_exact_version(7);
  *req.add_events() = ev::MemberAdded("v1", "h-2", kG1, "pt-y", "某", grid::v1::MemberAdded::BIRTH, kT);
  grpc::ClientContext ctx;
  grid::v1::AppendResponse resp;
  grpc::Status s = grid::v1::Log::NewStub(As("worker"))->Append(&ctx, req, &resp);
  EXPECT_EQ(s.error_message(), "events[0] (MemberAdded): household h-2 does not exist");

  // An event id already used in town 102, sent with other content: no position.
  grpc::Status taken =
      Append("worker", ev::SanitationReport("s2", kG1, "w-1", grid::v1::PATROL, 700, {}, kT));
  EXPECT_EQ(taken.error_code(), StatusCode::FAILED_PRECONDITION);
  EXPECT_FALSE(absl::StrContains(taken.error_message(), "position")) << taken.error_message();
}

// Regression: unknown fields (an ID number in a PersonRef's, a phone at the
// top) were accepted, stored in the WAL and served to C1 and C0 callers.
TEST_F(SecurityTest, UnknownFieldsAreRefusedAtAppendAndNeverServed) {
  // A record written with one before this server refused them.
  const std::string phone = "13900001111";  // not the seed head's
  {
    std::filesystem::create_directories(dir_.path() + "/data");
    storage::EventLogOptions lo;
    ASSERT_OK_AND_ASSIGN(auto log, storage::EventLog::Open(lo, dir_.path() + "/data"));
    grid::v1::Event old;
    ASSERT_TRUE(
        old.ParseFromString(ev::GridDefined("old-1", "350583/101/201/g07", absl::FromUnixSeconds(1780000000))
                                .SerializeAsString() +
                            std::string("\xba\x3e\x0b", 3) + phone));
    old.set_stream("org/350583");
    storage::AppendBatch b;
    b.stream = "org/350583";
    b.events.push_back(old);
    storage::AppendBatch* batches[] = {&b};
    ASSERT_OK(log->Commit(batches, absl::Now()).outcomes[0].status);
  }
  Start();
  Seed();
  // Served to no one below full clearance; the auditor gets the stored bytes.
  for (const char* who : {"cadre", "dept", "leader"}) {
    const auto events = ReadAll(who);
    ASSERT_FALSE(events.empty()) << who;
    EXPECT_EQ(events[0].event_id().empty() ? events[0].type() : events[0].event_id(),
              std::string(who) == "leader" ? "GridDefined" : "old-1");
    for (const auto& e : events) {
      EXPECT_EQ(e.SerializeAsString().find(phone), std::string::npos) << who;
      EXPECT_TRUE(e.GetReflection()->GetUnknownFields(e).empty()) << who;
    }
  }
  EXPECT_NE(ReadAll("auditor")[0].SerializeAsString().find(phone), std::string::npos);

  // New appends with one are refused, naming where it is; nothing is written.
  const size_t before = ReadAll("auditor").size();
  grid::v1::Event h = ev::HouseholdCreated("u1", "h-7", kG1, "", "张三", kT);
  std::string head =
      h.household_created().head().SerializeAsString() + std::string("\x92\x06\x12", 3) + kIdNumber;
  ASSERT_TRUE(h.mutable_household_created()->mutable_head()->ParseFromString(head));
  grpc::Status s = Append("worker", h);
  EXPECT_EQ(s.error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(absl::StrContains(s.error_message(), "events[0].household_created.head has field number 98"))
      << s.error_message();
  grid::v1::Event top;
  ASSERT_TRUE(top.ParseFromString(
      ev::SanitationReport("u2", kG1, "w-1", grid::v1::PATROL, 900, {}, kT).SerializeAsString() +
      std::string("\xba\x3e\x0b", 3) + phone));
  s = Append("worker", top);
  EXPECT_EQ(s.error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(absl::StrContains(s.error_message(), "events[0] has field number 999")) << s.error_message();
  EXPECT_EQ(ReadAll("auditor").size(), before);
}

// Regression: refusals quoted the head's person token, the token an ID
// number maps to and whether a death was reported to a C1 appender.
TEST_F(SecurityTest, RefusalsQuoteOnlyWhatTheAppenderMayRead) {
  Start();
  Seed();
  // h-1's head was registered by ID number. Added again by that number:
  grid::v1::Event again = ev::MemberAdded("q1", "h-1", kG1, "", "张三丰", grid::v1::MemberAdded::BIRTH, kT);
  again.mutable_member_added()->mutable_person()->set_id_number(kIdNumber);
  grpc::Status clerk = Append("clerk", again);
  EXPECT_EQ(clerk.error_code(), StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(clerk.error_message(),
            "events[0] (MemberAdded): the person is already a member of household h-1");
  // The C2 worker may read the roster's tokens, so its refusal names it.
  grpc::Status worker = Append("worker", again);
  EXPECT_TRUE(absl::StrContains(worker.error_message(), "person pt-")) << worker.error_message();
  // A wrong old head.
  grpc::Status head = Append("clerk", ev::HeadChanged("q2", "h-1", kG1, "pt-someone", "pt-other", kT));
  EXPECT_EQ(head.error_message(),
            "events[0] (HeadChanged): old_head_token is not the current head of household h-1");
}

// A unary call to any method name, as a client written without our stubs.
grpc::Status CallMethod(const std::shared_ptr<grpc::Channel>& channel, const std::string& method,
                        const std::string& bytes = "") {
  grpc::GenericStub stub(channel);
  grpc::CompletionQueue cq;
  grpc::ClientContext ctx;
  Bound(&ctx);
  grpc::Slice slice(bytes);
  grpc::ByteBuffer request(&slice, 1), response;
  auto call = stub.PrepareUnaryCall(&ctx, method, request, &cq);
  call->StartCall();
  grpc::Status status;
  call->Finish(&response, &status, reinterpret_cast<void*>(1));
  void* tag = nullptr;
  bool ok = false;
  EXPECT_TRUE(cq.Next(&tag, &ok));
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
  return status;
}

// A server-streaming call to any method name; its final status.
grpc::Status CallStream(const std::shared_ptr<grpc::Channel>& channel, const std::string& method,
                        const std::string& bytes) {
  grpc::GenericStub stub(channel);
  grpc::CompletionQueue cq;
  grpc::ClientContext ctx;
  Bound(&ctx);
  auto call = stub.PrepareCall(&ctx, method, &cq);
  void* tag = nullptr;
  bool ok = false;
  call->StartCall(reinterpret_cast<void*>(1));
  EXPECT_TRUE(cq.Next(&tag, &ok));
  grpc::Slice slice(bytes);
  grpc::ByteBuffer request(&slice, 1), response;
  call->Write(request, reinterpret_cast<void*>(2));
  cq.Next(&tag, &ok);
  call->WritesDone(reinterpret_cast<void*>(3));
  cq.Next(&tag, &ok);
  for (;;) {
    call->Read(&response, reinterpret_cast<void*>(4));
    if (!cq.Next(&tag, &ok) || !ok) break;
  }
  grpc::Status status;
  call->Finish(&status, reinterpret_cast<void*>(5));
  cq.Next(&tag, &ok);
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
  return status;
}

// Regression (found by outside clients): garbage request bytes on a unary
// method answered UNIMPLEMENTED with no message, where Read and Subscribe
// said INVALID_ARGUMENT "ReadRequest does not parse". Every method names the
// message that did not parse.
TEST_F(SecurityTest, GarbageRequestsAreInvalidArgumentNamingTheMessage) {
  Start();
  const std::string garbage[] = {std::string(64, '\xff'),
                                 std::string("\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", 11),
                                 std::string("\x0a\x20half", 6)};
  struct Case {
    const char* method;
    const char* caller;  // one that may call it
  };
  int checked = 0;
  for (const Case& c :
       {Case{"/grid.v1.Log/Append", "worker"}, Case{"/grid.v1.Log/GetStatus", "auditor"},
        Case{"/grid.v1.Log/ListCheckpoints", "auditor"}, Case{"/grid.v1.Log/Read", "auditor"},
        Case{"/grid.v1.Log/Subscribe", "auditor"}, Case{"/grid.v1.Projections/GetProjection", "auditor"},
        Case{"/grid.v1.Projections/ListProjections", "auditor"},
        Case{"/grid.v1.Projections/RebuildProjection", "admin"},
        Case{"/grid.v1.Projections/PrefillForm", "worker"},
        Case{"/grid.v1.Projections/SubscribeProjection", "auditor"}, Case{"/grid.v1.Admin/Backup", "admin"},
        Case{"/grid.v1.Admin/ReadAudit", "auditor"}, Case{"/grid.cluster.v1.Node/Append", "node"},
        Case{"/grid.cluster.v1.Node/ReadLog", "node"}}) {
    // Every method of the server's table is here.
    ASSERT_NE(FindRpcRule(c.method), nullptr) << c.method;
    const auto* m = google::protobuf::DescriptorPool::generated_pool()->FindMethodByName(
        absl::StrReplaceAll(std::string(c.method).substr(1), {{"/", "."}}));
    ASSERT_NE(m, nullptr) << c.method;
    for (const auto& bytes : garbage) {
      // A streaming method answers the same way: the stream ends at once.
      grpc::Status s = m->server_streaming() ? CallStream(As(c.caller), c.method, bytes)
                                             : CallMethod(As(c.caller), c.method, bytes);
      EXPECT_EQ(s.error_code(), StatusCode::INVALID_ARGUMENT) << c.method << ": " << s.error_message();
      EXPECT_EQ(s.error_message(), m->input_type()->name() + " does not parse") << c.method;
    }
    ++checked;
  }
  EXPECT_EQ(checked, static_cast<int>(RpcRules().size()));
}

// Regression: made-up method names (Chinese names, phone numbers) of an
// authenticated caller not in the policy became `method` labels on the
// unauthenticated /metrics port, one series each.
TEST_F(SecurityTest, OnlyMethodsTheServerKnowsBecomeMetricLabels) {
  Start();
  const std::string bad[] = {"/grid.v1.Log/张三丰13812341234", "/x/" + std::string(3000, 'a'),
                             "/grid.v1.Log/Append2"};
  for (const auto& m : bad) {
    EXPECT_EQ(CallMethod(As("stranger"), m).error_code(), StatusCode::UNIMPLEMENTED);
  }
  EXPECT_EQ(CallMethod(As("leader"), "/grid.v1.Log/GetStatus").error_code(), StatusCode::OK);
  const std::string text = ToPrometheusText(server_->CollectMetrics());
  EXPECT_EQ(text.find("张三"), std::string::npos);
  EXPECT_EQ(text.find("13812341234"), std::string::npos);
  EXPECT_EQ(text.find("aaaa"), std::string::npos);
  EXPECT_EQ(text.find("Append2"), std::string::npos);
  EXPECT_NE(text.find("method=\"unknown\""), std::string::npos);
  EXPECT_NE(text.find("method=\"/grid.v1.Log/GetStatus\""), std::string::npos);
}

// Regression: calls refused at authentication were audited without limit,
// each with the caller's multi-kilobyte method name (about 6 MB per 1,000).
TEST_F(SecurityTest, RefusalsAtAuthenticationCannotFloodTheAudit) {
  Start([](ServerOptions* o) {
    o->access.refusal_audit_per_second = 0.001;
    o->access.refusal_audit_burst = 5;
  });
  const std::string long_name = "/grid.v1.Log/" + std::string(4000, 'x') + "13812341234";
  for (int i = 0; i < 40; ++i) {
    EXPECT_EQ(CallMethod(As(""), i % 2 ? long_name : "/grid.v1.Log/GetStatus").error_code(),
              StatusCode::UNAUTHENTICATED);
  }
  int records = 0;
  for (const auto& r : Audit()) {
    if (r.result() != "UNAUTHENTICATED") continue;
    ++records;
    EXPECT_TRUE(r.method() == "/grid.v1.Log/GetStatus" || r.method() == "unknown") << r.method().size();
  }
  EXPECT_EQ(records, 5);
  const std::string text = ToPrometheusText(server_->CollectMetrics());
  EXPECT_NE(text.find("gridlog_audit_refusals_unaudited 35"), std::string::npos);
}

// Regression: an authenticated caller's refusals (a method its role may not
// call, here) were each audited, without limit.
TEST_F(SecurityTest, AnAuthenticatedCallersRefusalsCannotFloodTheAudit) {
  Start([](ServerOptions* o) {
    o->access.refusal_audit_per_second = 0.001;
    o->access.refusal_audit_burst = 5;
  });
  for (int i = 0; i < 30; ++i) {
    EXPECT_EQ(CallMethod(As("leader"), "/grid.v1.Admin/Backup").error_code(), StatusCode::PERMISSION_DENIED);
  }
  // Another principal's refusals have their own bucket.
  EXPECT_EQ(CallMethod(As("worker"), "/grid.v1.Admin/Backup").error_code(), StatusCode::PERMISSION_DENIED);
  int leader = 0, worker = 0;
  for (const auto& r : Audit()) {
    if (r.result() != "PERMISSION_DENIED") continue;
    leader += r.principal() == "leader";
    worker += r.principal() == "worker";
  }
  EXPECT_EQ(leader, 5);
  EXPECT_EQ(worker, 1);
  const std::string text = ToPrometheusText(server_->CollectMetrics());
  EXPECT_NE(text.find("gridlog_audit_refusals_unaudited 25"), std::string::npos);
}

// Regression: ReadAudit showed a town's auditor the records of every town
// (their scopes name other towns' streams and keys).
TEST_F(SecurityTest, AnAuditorReadsTheAuditOfItsJurisdictionOnly) {
  Start();
  Seed();
  (void)ReadAll("worker");
  (void)ReadAll("dept");
  (void)CallMethod(As(""), "/grid.v1.Log/GetStatus");
  const auto all = Audit("auditor");
  const auto town = Audit("auditor-town");
  ASSERT_FALSE(town.empty());
  EXPECT_LT(town.size(), all.size());
  bool worker_append = false;
  for (const auto& r : town) {
    ASSERT_FALSE(r.org_paths().empty()) << r.method() << " by " << r.principal();
    for (const auto& o : r.org_paths()) EXPECT_TRUE(Under(o, "350583/101")) << o;
    // The county-wide seed's appends in town 101 show, its other calls not.
    if (r.principal() == "seed") {
      EXPECT_FALSE(r.intent());
    }
    EXPECT_NE(r.principal(), "dept");  // a county-wide reader's calls may be about any town
    worker_append |= r.principal() == "worker" && r.method() == "/grid.v1.Log/Append" && !r.intent();
  }
  EXPECT_TRUE(worker_append);
  // An append's record names where its events are; the county auditor sees
  // every record, the unauthenticated one too.
  bool seed_in_102 = false, unauthenticated = false;
  for (const auto& r : all) {
    seed_in_102 |= r.principal() == "seed" && !r.intent() && r.org_paths_size() == 1 && r.org_paths(0) == kG3;
    unauthenticated |= r.result() == "UNAUTHENTICATED";
  }
  EXPECT_TRUE(seed_in_102);
  EXPECT_TRUE(unauthenticated);
}

// Regression: an append's audit record named only its events' envelope
// org paths, so a household moved out of a town (the envelope names the new
// grid) was missing from the audit of the town it left.
TEST_F(SecurityTest, AMoveIsInTheAuditOfBothTowns) {
  Start();
  Seed();
  ASSERT_OK(ToAbsl(Append("seed", ev::AddressChanged("mv1", "h-1", kG1, kG3, kT))));
  auto moved = [](const std::vector<grid::v1::AuditRecord>& records) {
    for (const auto& r : records) {
      if (r.principal() == "seed" && r.method() == "/grid.v1.Log/Append" && !r.intent() &&
          absl::StrContains(r.scope(), "household/h-1")) {
        return true;
      }
    }
    return false;
  };
  EXPECT_TRUE(moved(Audit("auditor-town"))) << "the town the household left";
  EXPECT_TRUE(moved(Audit("auditor")));
}

// Regression: a GRID_WORKER read its whole jurisdiction, not only the grids
// it is assigned to.
TEST_F(SecurityTest, AGridWorkerReadsOnlyItsAssignedGrids) {
  Start();
  Seed();
  // A household in g02 of the worker's town, where w-1 is not assigned.
  ASSERT_TRUE(Append("cadre", ev::HouseholdCreated("g2h", "h-g2", kG2, "pt-g2", "周八", kT)).ok());
  auto grids_of = [&](const std::vector<grid::v1::Event>& events) {
    std::set<std::string> out;
    for (const auto& e : events) out.insert(e.org_path());
    return out;
  };
  EXPECT_EQ(grids_of(ReadAll("worker")), (std::set<std::string>{kG1}));
  EXPECT_TRUE(grids_of(ReadAll("cadre")).contains(kG2));  // the village cadre sees its village
  for (const auto& r : Rows("worker", "household_roster", ""))
    EXPECT_TRUE(Under(RowOrgPath(r), kG1)) << r.key();
  grid::v1::ReadRequest req;
  req.set_stream("household/h-g2");
  grpc::ClientContext ctx;
  Bound(&ctx);
  EXPECT_EQ(Drain(&ctx, grid::v1::Log::NewStub(As("worker"))->Read(&ctx, req)), StatusCode::NOT_FOUND);
  // Assigned to g02 now: the worker reads it from its next call on.
  ASSERT_TRUE(Append("seed", ev::WorkerAssigned("wa2", "w-1", kG2, kT)).ok());
  EXPECT_TRUE(grids_of(ReadAll("worker")).contains(kG2));
  EXPECT_EQ(Rows("worker", "household_roster", kG2).size(), 1u);
}

// Regression: Admin.Backup handed every town's personal data to any ADMIN,
// whatever its jurisdiction and clearance.
TEST_F(SecurityTest, ABackupNeedsAnAdminEntitledToEverything) {
  Start();
  Seed();
  auto backup = [&](const std::string& who, std::string* message) {
    grpc::ClientContext ctx;
    Bound(&ctx);
    auto r = grid::v1::Admin::NewStub(As(who))->Backup(&ctx, {});
    grid::v1::BackupChunk chunk;
    size_t bytes = 0;
    while (r->Read(&chunk)) bytes += chunk.data().size();
    grpc::Status s = r->Finish();
    *message = s.error_message();
    EXPECT_TRUE(s.ok() || bytes == 0) << who << " got " << bytes << " bytes and then " << s.error_message();
    return s.error_code();
  };
  std::string message;
  EXPECT_EQ(backup("admin-town", &message), StatusCode::PERMISSION_DENIED);
  EXPECT_TRUE(absl::StrContains(message, "whole database")) << message;
  EXPECT_EQ(backup("admin-c2", &message), StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(backup("admin", &message), StatusCode::OK) << message;
  // Each refusal is in the audit, with its reason.
  int refused = 0;
  for (const auto& r : Audit()) {
    if (r.method() == "/grid.v1.Admin/Backup" && r.result() == "PERMISSION_DENIED" &&
        absl::StrContains(r.message(), "whole database")) {
      ++refused;
    }
  }
  EXPECT_EQ(refused, 2);
}

}  // namespace
}  // namespace grid::server
