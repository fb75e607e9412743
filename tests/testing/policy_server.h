// A real GridServer in process over TLS, with bearer tokens and a policy
// file covering every role, each principal on its own channel; the test
// county's data (Seed) and helpers to read, subscribe and audit as any of
// them. Shared by the access and security tests.
#ifndef GRID_TESTS_TESTING_POLICY_SERVER_H_
#define GRID_TESTS_TESTING_POLICY_SERVER_H_

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "domain/events.h"
#include "grid/v1/admin.grpc.pb.h"
#include "grid/v1/log.grpc.pb.h"
#include "grid/v1/projection.grpc.pb.h"
#include "server/grid_server.h"
#include "storage/checkpoint.h"
#include "storage/record.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace grid::server {

namespace ev = grid::domain::events;
using grpc::StatusCode;

constexpr char kG1[] = "350583/101/201/g01";  // w-1's grid
constexpr char kG2[] = "350583/101/201/g02";  // town 101, nobody assigned
constexpr char kG3[] = "350583/102/301/g01";  // town 102, w-2's grid
constexpr char kIdNumber[] = "11010519491231002X";

// One principal of each role, two towns (101, 102) of county 350583. "seed"
// writes the test data; "stranger" has a token but is not in the policy.
inline const char* const kPolicy = R"({
  // comments are allowed, as in the config
  "principals": [
    {"principal": "worker", "role": "GRID_WORKER", "worker_id": "w-1",
     "jurisdiction": ["350583/101"], "clearance": "C2_PERSONAL",
     "append_types": ["SanitationReportSubmitted", "HouseholdCreated", "MemberAdded",
                      "AddressChanged", "HouseholdMerged"]},
    {"principal": "cadre", "role": "VILLAGE_CADRE", "worker_id": "c-1", "jurisdiction": ["350583/101/201"],
     "append_types": ["HouseholdCreated", "CadreScoreRecorded"], "clearance": "C2_PERSONAL"},
    {"principal": "clerk", "role": "VILLAGE_CADRE", "jurisdiction": ["350583/101/201"],
     "append_types": ["MemberAdded", "MemberRemoved", "HeadChanged", "FormSubmitted"],
     "clearance": "C1_INTERNAL"},
    {"principal": "dept", "role": "DEPARTMENT", "jurisdiction": ["350583"],
     "append_types": ["ProjectStageDecided"], "departments": ["county-drc"],
     "decides_stages": ["ESTABLISHMENT"], "clearance": "C1_INTERNAL"},
    {"principal": "leader", "role": "LEADER", "jurisdiction": ["350583/101"]},
    {"principal": "auditor", "role": "AUDITOR", "jurisdiction": [""], "clearance": "C4_RESTRICTED"},
    {"principal": "auditor-town", "role": "AUDITOR", "jurisdiction": ["350583/101"],
     "clearance": "C4_RESTRICTED"},
    {"principal": "admin", "role": "ADMIN", "jurisdiction": [""], "clearance": "C4_RESTRICTED"},
    {"principal": "admin-town", "role": "ADMIN", "jurisdiction": ["350583/101"],
     "clearance": "C4_RESTRICTED"},
    {"principal": "admin-c2", "role": "ADMIN", "jurisdiction": [""], "clearance": "C2_PERSONAL"},
    {"principal": "node", "role": "CLUSTER_NODE"},
    {"principal": "orgdept", "role": "DEPARTMENT", "jurisdiction": ["350583"], "clearance": "C1_INTERNAL",
     "append_types": ["AssessmentPeriodOpened", "CadreScoreRecorded", "AssessmentPeriodClosed"]},
    {"principal": "seed", "role": "DEPARTMENT", "jurisdiction": [""], "clearance": "C4_RESTRICTED",
     "append_types": ["GridDefined", "WorkerAssigned", "HouseholdCreated",
                      "SanitationReportSubmitted", "AddressChanged", "OrgUnitNamed",
                      "IncidentCatalogPublished", "IncidentReported", "IncidentAccepted",
                      "IncidentDispatched", "LedgerEntryPosted", "WeakVillageThresholdSet",
                      "FormTaskIssued", "FormSubmitted"]}
  ]
})";

inline bool Under(const std::string& path, const std::string& prefix) {
  return prefix.empty() || path == prefix || path.rfind(prefix + "/", 0) == 0;
}

inline std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// No call of this test may hang: a stream that should have been refused or
// cut fails the test at this deadline instead.
inline void Bound(grpc::ClientContext* ctx) {
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
}

// Reads a server stream to its end, or cancels it after the first message
// when `first_only`. Returns the status code.
template <class Response>
StatusCode Drain(grpc::ClientContext* ctx, std::unique_ptr<grpc::ClientReader<Response>> r,
                 std::vector<Response>* out = nullptr, bool first_only = false) {
  Response m;
  while (r->Read(&m)) {
    if (out != nullptr) out->push_back(m);
    if (first_only) {
      ctx->TryCancel();
      while (r->Read(&m)) {
      }
      break;
    }
  }
  return r->Finish().error_code();
}

class PolicyServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cert_ = dir_.path() + "/tls.crt";
    key_ = dir_.path() + "/tls.key";
    // A server certificate made now, for 127.0.0.1.
    const std::string cmd = absl::StrCat(
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj "
        "/CN=localhost -addext subjectAltName=IP:127.0.0.1,DNS:localhost -keyout ",
        key_, " -out ", cert_, " 2>/dev/null");
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    policy_ = dir_.path() + "/policy.json";
    WritePolicy(kPolicy);
  }

  void WritePolicy(const std::string& text) { std::ofstream(policy_) << text; }

  void Start(std::function<void(ServerOptions*)> tweak = nullptr) {
    server_.reset();
    ServerOptions o;
    o.listen = "127.0.0.1:0";
    o.data_dir = dir_.path() + "/data";
    o.auth.tls_cert_path = cert_;
    o.auth.tls_key_path = key_;
    AddTokens(&o);
    o.access.policy_file = policy_;
    if (tweak) tweak(&o);
    auto s = GridServer::Start(o);
    ASSERT_OK(s);
    server_ = *std::move(s);
  }

  static std::string Token(const std::string& principal) { return "token-of-" + principal; }
  // A token for every principal of kPolicy, and for "stranger" (in none).
  static void AddTokens(ServerOptions* o) {
    for (const char* p : {"worker", "cadre", "clerk", "dept", "leader", "auditor", "auditor-town", "admin",
                          "admin-town", "admin-c2", "node", "seed", "orgdept", "stranger"}) {
      o->auth.tokens.push_back({p, storage::ToHex(storage::Sha256(Token(p)))});
    }
  }

  // A channel as `principal` ("" = no credentials at all).
  std::shared_ptr<grpc::Channel> As(const std::string& principal) {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = Slurp(cert_);
    std::shared_ptr<grpc::ChannelCredentials> creds = grpc::SslCredentials(ssl);
    if (!principal.empty()) {
      creds = grpc::CompositeChannelCredentials(creds, grpc::AccessTokenCredentials(Token(principal)));
    }
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    return grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", server_->port()), creds, args);
  }

  grpc::Status Append(const std::string& principal, const grid::v1::Event& e,
                      grid::v1::AppendResponse* out = nullptr) {
    grid::v1::AppendRequest req;
    req.set_stream(e.stream());
    *req.add_events() = e;
    grid::v1::AppendResponse resp;
    grpc::ClientContext ctx;
    return grid::v1::Log::NewStub(As(principal))->Append(&ctx, req, out ? out : &resp);
  }

  // The test county: three grids in two towns, two workers, two households
  // (one given with its ID number), a sanitation report in each town.
  void Seed() {
    const absl::Time t = absl::FromUnixSeconds(1790000000);
    for (const auto& e :
         {ev::GridDefined("o1", kG1, t), ev::GridDefined("o2", kG2, t), ev::GridDefined("o3", kG3, t),
          ev::WorkerAssigned("o4", "w-1", kG1, t), ev::WorkerAssigned("o5", "w-2", kG3, t)}) {
      ASSERT_OK(ToAbsl(Append("seed", e)));
    }
    grid::v1::Event h1 =
        ev::HouseholdCreated("h1", "h-1", kG1, "", "张三丰", t, grid::v1::NON_REGISTERED_RESIDENT);
    h1.mutable_household_created()->mutable_head()->set_id_number(kIdNumber);
    h1.mutable_household_created()->mutable_head()->set_phone("13812341234");
    ASSERT_OK(ToAbsl(Append("seed", h1)));
    ASSERT_OK(ToAbsl(Append("seed", ev::HouseholdCreated("h2", "h-2", kG3, "pt-li", "李四", t))));
    ASSERT_OK(ToAbsl(Append("worker", ev::SanitationReport("s1", kG1, "w-1", grid::v1::PATROL, 900, {}, t))));
    ASSERT_OK(ToAbsl(Append("seed", ev::SanitationReport("s2", kG3, "w-2", grid::v1::PATROL, 800, {}, t))));
  }

  static absl::Status ToAbsl(const grpc::Status& s) {
    return s.ok() ? absl::OkStatus()
                  : absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
  }

  std::vector<grid::v1::Event> ReadAll(const std::string& principal, StatusCode* code = nullptr) {
    grid::v1::ReadRequest req;
    req.mutable_all();
    grpc::ClientContext ctx;
    std::vector<grid::v1::ReadResponse> msgs;
    const StatusCode c = Drain(&ctx, grid::v1::Log::NewStub(As(principal))->Read(&ctx, req), &msgs);
    if (code != nullptr) *code = c;
    std::vector<grid::v1::Event> out;
    for (const auto& m : msgs) out.insert(out.end(), m.events().begin(), m.events().end());
    return out;
  }

  // A whole-log subscription's events up to the head (its catch-up, until
  // caught_up), as sent; then it is cancelled.
  std::vector<grid::v1::Event> SubscribeToHead(const std::string& principal) {
    grpc::ClientContext ctx;
    Bound(&ctx);
    auto reader = grid::v1::Log::NewStub(As(principal))->Subscribe(&ctx, grid::v1::SubscribeRequest());
    std::vector<grid::v1::Event> got;
    grid::v1::SubscribeResponse m;
    while (reader->Read(&m)) {
      got.insert(got.end(), m.events().begin(), m.events().end());
      if (m.caught_up()) break;
    }
    ctx.TryCancel();
    while (reader->Read(&m)) {
    }
    reader->Finish();
    return got;
  }

  std::vector<grid::v1::ProjectionRow> Rows(const std::string& principal, const std::string& name,
                                            const std::string& prefix) {
    grid::v1::GetProjectionRequest req;
    req.set_name(name);
    req.set_prefix(prefix);
    grpc::ClientContext status_ctx;
    grid::v1::LogStatus st;
    EXPECT_TRUE(grid::v1::Log::NewStub(As("auditor"))->GetStatus(&status_ctx, {}, &st).ok());
    req.set_min_position(st.head_position());
    grpc::ClientContext ctx;
    grid::v1::GetProjectionResponse resp;
    grpc::Status s = grid::v1::Projections::NewStub(As(principal))->GetProjection(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << principal << ": " << s.error_message();
    return {resp.rows().begin(), resp.rows().end()};
  }

  std::vector<grid::v1::AuditRecord> Audit(const std::string& auditor = "auditor") {
    grpc::ClientContext ctx;
    std::vector<grid::v1::ReadAuditResponse> msgs;
    EXPECT_EQ(Drain(&ctx, grid::v1::Admin::NewStub(As(auditor))->ReadAudit(&ctx, {}), &msgs), StatusCode::OK);
    std::vector<grid::v1::AuditRecord> out;
    for (const auto& m : msgs) out.insert(out.end(), m.records().begin(), m.records().end());
    return out;
  }

  testing::TempDir dir_;
  std::string cert_, key_, policy_;
  std::unique_ptr<GridServer> server_;
};

}  // namespace grid::server

#endif  // GRID_TESTS_TESTING_POLICY_SERVER_H_
