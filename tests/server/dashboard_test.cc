// The dashboard against a real GridServer over HTTPS (PolicyServerTest's
// TLS, tokens and policy): sign-in and refusal, the same rows as gRPC for
// every principal, live changes, resuming, a policy reload ending the feed,
// CSV, and the HTTP hardening (CSP, Host, Origin). The page itself is tested
// in a real browser by tests/e2e/dashboard_e2e.py.
#include <algorithm>
#include <random>
#include <utility>  // before Boost.Asio (GCC 12 + C++20)

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "server/dashboard/render.h"
#include "server/dashboard/sessions.h"
#include "tests/testing/policy_server.h"

namespace grid::server {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

struct Reply {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  std::string Header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
};

struct Event {
  std::string id;
  std::string event;
  std::string data;
};

// One HTTPS connection to the dashboard, trusting the test's certificate.
// Every wait is bounded: a test fails instead of hanging.
class Client {
 public:
  // With `cert` and `key` (PEM files) it presents a client certificate.
  Client(int port, const std::string& ca_pem, const std::string& cert = "", const std::string& key = "")
      : ctx_(Context(ca_pem, cert, key)), stream_(io_, ctx_), port_(port) {
    beast::get_lowest_layer(stream_).connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    stream_.handshake(ssl::stream_base::client);
  }

  // (The stream takes its certificate from the context when it is made.)
  static ssl::context Context(const std::string& ca_pem, const std::string& cert, const std::string& key) {
    ssl::context ctx(ssl::context::tls_client);
    ctx.add_certificate_authority(asio::buffer(ca_pem));
    ctx.set_verify_mode(ssl::verify_peer);
    if (!cert.empty()) {
      ctx.use_certificate_chain_file(cert);
      ctx.use_private_key_file(key, ssl::context::pem);
    }
    return ctx;
  }

  std::string Origin() const { return absl::StrCat("https://127.0.0.1:", port_); }

  void Send(http::verb method, const std::string& target, const std::map<std::string, std::string>& headers) {
    http::request<http::string_body> req{method, target, 11};
    req.set(http::field::host, absl::StrCat("127.0.0.1:", port_));
    for (const auto& [k, v] : headers) req.set(k, v);
    req.prepare_payload();
    http::write(stream_, req);
  }

  Reply Call(http::verb method, const std::string& target,
             const std::map<std::string, std::string>& headers = {}) {
    Send(method, target, headers);
    http::response<http::string_body> res;
    beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(20));
    bool done = false;
    beast::error_code ec;
    http::async_read(stream_, buffer_, res, [&](beast::error_code e, size_t) {
      ec = e;
      done = true;
    });
    io_.restart();
    io_.run_for(std::chrono::seconds(20));
    Reply r;
    if (!done || ec) return r;
    r.status = static_cast<int>(res.result_int());
    for (const auto& f : res)
      r.headers[absl::AsciiStrToLower(std::string(f.name_string()))] = std::string(f.value());
    r.body = res.body();
    return r;
  }

  // The response head of an event stream; events then come from Next().
  Reply OpenStream(const std::string& target, const std::map<std::string, std::string>& headers) {
    Send(http::verb::get, target, headers);
    http::response_parser<http::empty_body> p;
    bool done = false;
    beast::error_code ec;
    http::async_read_header(stream_, buffer_, p, [&](beast::error_code e, size_t) {
      ec = e;
      done = true;
    });
    io_.restart();
    io_.run_for(std::chrono::seconds(20));
    Reply r;
    if (!done || ec) return r;
    r.status = static_cast<int>(p.get().result_int());
    for (const auto& f : p.get())
      r.headers[absl::AsciiStrToLower(std::string(f.name_string()))] = std::string(f.value());
    // What was read past the head is the stream's start.
    pending_ = beast::buffers_to_string(buffer_.data());
    buffer_.consume(buffer_.size());
    return r;
  }

  // The next event (comments and `retry:` skipped); nullopt when the
  // stream ended or nothing came for `wait`.
  std::optional<Event> Next(std::chrono::seconds wait = std::chrono::seconds(20)) {
    const auto until = std::chrono::steady_clock::now() + wait;
    for (;;) {
      size_t end = pending_.find("\n\n");
      while (end != std::string::npos) {
        std::string block = pending_.substr(0, end);
        pending_.erase(0, end + 2);
        Event e;
        for (absl::string_view line : absl::StrSplit(block, '\n')) {
          if (absl::ConsumePrefix(&line, "id: ")) e.id = std::string(line);
          if (absl::ConsumePrefix(&line, "event: ")) e.event = std::string(line);
          if (absl::ConsumePrefix(&line, "data: ")) e.data = std::string(line);
        }
        if (!e.event.empty()) return e;
        end = pending_.find("\n\n");
      }
      if (std::chrono::steady_clock::now() >= until || ended_) return std::nullopt;
      std::array<char, 4096> buf;
      bool done = false;
      size_t n = 0;
      beast::error_code ec;
      stream_.async_read_some(asio::buffer(buf), [&](beast::error_code e, size_t got) {
        ec = e;
        n = got;
        done = true;
      });
      io_.restart();
      io_.run_until(until);
      if (!done) {
        beast::get_lowest_layer(stream_).cancel();
        io_.restart();
        io_.run();
        return std::nullopt;
      }
      if (ec) ended_ = true;
      pending_.append(buf.data(), n);
    }
  }

 private:
  asio::io_context io_;
  ssl::context ctx_;
  beast::ssl_stream<beast::tcp_stream> stream_;
  const int port_;
  beast::flat_buffer buffer_;
  std::string pending_;
  bool ended_ = false;
};

// The rows a feed's messages leave a page with, by key (JSON of each row
// as the page got it), and the position they are complete through.
struct FeedView {
  std::map<std::string, std::string> rows;
  uint64_t position = 0;
  bool complete = false;
};

// Reads the page's messages until the snapshot of every feed in `views`
// (feed i into views[i]) is complete; the feeds' messages arrive in any
// order, interleaved. A null view: that feed's messages are skipped.
void ReadSnapshots(Client* c, const std::vector<FeedView*>& views) {
  auto complete = [&] {
    return std::all_of(views.begin(), views.end(),
                       [](const FeedView* v) { return v == nullptr || v->complete; });
  };
  while (!complete()) {
    auto e = c->Next();
    ASSERT_TRUE(e.has_value()) << "the snapshot did not complete";
    ASSERT_EQ(e->event, "rows") << e->data;
    const size_t f = e->data.find("{\"feed\":");
    ASSERT_NE(f, std::string::npos) << e->data;
    size_t feed = 0;
    ASSERT_TRUE(absl::SimpleAtoi(e->data.substr(f + 8, e->data.find(',', f) - f - 8), &feed)) << e->data;
    if (feed >= views.size() || views[feed] == nullptr) continue;
    FeedView* v = views[feed];
    grid::v1::SubscribeProjectionResponse m;
    // The frame's body is the message's fields, renamed: parse the rows.
    const size_t rows = e->data.find("\"rows\":");
    ASSERT_NE(rows, std::string::npos);
    grid::v1::GetProjectionResponse parsed;
    ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(
                    absl::StrCat("{", e->data.substr(rows, e->data.size() - rows - 1), "}"), &parsed)
                    .ok())
        << e->data;
    for (const auto& r : parsed.rows()) v->rows[r.key()] = ToJson(r);
    const size_t p = e->data.find("\"position\":\"") + 12;
    ASSERT_TRUE(absl::SimpleAtoi(e->data.substr(p, e->data.find('"', p) - p), &v->position));
    v->complete = absl::StrContains(e->data, "\"complete\":true");
  }
}

// Reads until the snapshot of feed 0 is complete.
void ReadSnapshot(Client* c, FeedView* v) { ReadSnapshots(c, {v}); }

class DashboardTest : public PolicyServerTest {
 protected:
  void StartDashboard(std::function<void(ServerOptions*)> tweak = nullptr) {
    Start([&](ServerOptions* o) {
      o->dashboard.listen = "127.0.0.1:0";
      if (tweak) tweak(o);
    });
    ASSERT_GT(server_->dashboard_port(), 0);
  }

  std::unique_ptr<Client> Connect() {
    return std::make_unique<Client>(server_->dashboard_port(), Slurp(cert_));
  }

  // Signs `principal` in; returns the Cookie header to send.
  std::string SignIn(const std::string& principal) {
    auto c = Connect();
    Reply r = c->Call(http::verb::post, "/api/session",
                      {{"Authorization", "Bearer " + Token(principal)}, {"Origin", c->Origin()}});
    EXPECT_EQ(r.status, 200) << r.body;
    const std::string cookie = r.Header("set-cookie");
    return cookie.substr(0, cookie.find(';'));
  }

  // gRPC's GetProjection for `principal` at `position`, by key.
  std::map<std::string, std::string> GrpcRows(const std::string& principal, const std::string& name,
                                              const std::string& prefix, uint64_t position) {
    grid::v1::GetProjectionRequest req;
    req.set_name(name);
    req.set_prefix(prefix);
    req.set_at_position(position);
    grpc::ClientContext ctx;
    Bound(&ctx);
    grid::v1::GetProjectionResponse resp;
    grpc::Status s = grid::v1::Projections::NewStub(As(principal))->GetProjection(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << principal << ": " << s.error_message();
    std::map<std::string, std::string> out;
    for (const auto& r : resp.rows()) out[r.key()] = ToJson(r);
    return out;
  }

  uint64_t Head() {
    grpc::ClientContext ctx;
    grid::v1::LogStatus st;
    EXPECT_TRUE(grid::v1::Log::NewStub(As("auditor"))->GetStatus(&ctx, {}, &st).ok());
    return st.head_position();
  }

  // Waits until `name` has folded the head.
  void Folded(const std::string& name) { (void)Rows("auditor", name, ""); }
};

TEST_F(DashboardTest, ABadTokenIsRefusedAndAuditedAGoodOneOpensASession) {
  StartDashboard();
  auto c = Connect();
  Reply bad = c->Call(http::verb::post, "/api/session",
                      {{"Authorization", "Bearer not-a-token"}, {"Origin", c->Origin()}});
  EXPECT_EQ(bad.status, 401);
  EXPECT_EQ(bad.Header("set-cookie"), "");
  // Without a session nothing is served.
  auto c2 = Connect();
  EXPECT_EQ(c2->Call(http::verb::get, "/api/projection?name=population&prefix=").status, 401);

  auto c3 = Connect();
  Reply good = c3->Call(http::verb::post, "/api/session",
                        {{"Authorization", "Bearer " + Token("leader")}, {"Origin", c3->Origin()}});
  ASSERT_EQ(good.status, 200) << good.body;
  const std::string cookie = good.Header("set-cookie");
  EXPECT_TRUE(absl::StartsWith(cookie, "__Host-gridlog_session=")) << cookie;
  for (const char* flag : {"; Secure", "; HttpOnly", "; SameSite=Strict", "; Path=/", "; Max-Age="}) {
    EXPECT_TRUE(absl::StrContains(cookie, flag)) << cookie;
  }
  EXPECT_TRUE(absl::StrContains(good.body, "\"principal\":\"leader\"")) << good.body;
  EXPECT_TRUE(absl::StrContains(good.body, "\"clearance\":\"C0_AGGREGATE\"")) << good.body;
  const std::string session = cookie.substr(0, cookie.find(';'));
  Reply me = c3->Call(http::verb::get, "/api/session", {{"Cookie", session}});
  EXPECT_EQ(me.status, 200);
  EXPECT_TRUE(absl::StrContains(me.body, "\"role\":\"LEADER\"")) << me.body;

  // Signed out, the cookie opens nothing.
  Reply out = c3->Call(http::verb::post, "/api/logout", {{"Cookie", session}, {"Origin", c3->Origin()}});
  EXPECT_EQ(out.status, 204);
  EXPECT_TRUE(absl::StrContains(out.Header("set-cookie"), "Max-Age=0"));
  Reply after = c3->Call(http::verb::get, "/api/session", {{"Cookie", session}});
  EXPECT_EQ(after.status, 200);
  EXPECT_EQ(after.body, "{\"signed_in\":false,\"dev\":false}");
  EXPECT_EQ(c3->Call(http::verb::get, "/api/projections", {{"Cookie", session}}).status, 401);

  bool refused = false;
  bool signed_in = false;
  bool signed_out = false;
  for (const auto& r : Audit()) {
    if (r.method() != "/dashboard/SignIn" && r.method() != "/dashboard/SignOut") continue;
    refused |= r.method() == "/dashboard/SignIn" && r.result() == "UNAUTHENTICATED" &&
               absl::StartsWith(r.peer(), "https:127.0.0.1:");
    signed_in |= r.method() == "/dashboard/SignIn" && r.result() == "OK" && r.principal() == "leader";
    signed_out |= r.method() == "/dashboard/SignOut" && r.result() == "OK" && r.principal() == "leader";
  }
  EXPECT_TRUE(refused);
  EXPECT_TRUE(signed_in);
  EXPECT_TRUE(signed_out);
}

TEST_F(DashboardTest, AClientCertificateNamesThePrincipalWithoutASignIn) {
  // A CA, and a certificate it signed for "auditor".
  const std::string d = dir_.path();
  const std::string cmd = absl::StrCat(
      "cd ", d,
      " && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=test-ca "
      "-keyout ca.key -out ca.crt 2>/dev/null"
      " && openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=auditor "
      "-keyout client.key -out client.csr 2>/dev/null"
      " && openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 1 "
      "-out client.crt 2>/dev/null");
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  StartDashboard([&](ServerOptions* o) { o->auth.tls_client_ca_path = d + "/ca.crt"; });
  Client with(server_->dashboard_port(), Slurp(cert_), d + "/client.crt", d + "/client.key");
  Reply me = with.Call(http::verb::get, "/api/session");
  EXPECT_TRUE(absl::StrContains(me.body, "\"principal\":\"auditor\"")) << me.body;
  EXPECT_TRUE(absl::StrContains(me.body, "\"auth\":\"certificate\"")) << me.body;
  EXPECT_EQ(with.Call(http::verb::get, "/api/projections").status, 200);
  // Without one (and without a session): nobody.
  auto without = Connect();
  EXPECT_EQ(without->Call(http::verb::get, "/api/projections").status, 401);
}

TEST_F(DashboardTest, ASessionOutlivesARestart) {
  StartDashboard();
  const std::string session = SignIn("auditor");
  StartDashboard();  // a new server on the same data directory
  auto c = Connect();
  Reply me = c->Call(http::verb::get, "/api/session", {{"Cookie", session}});
  EXPECT_TRUE(absl::StrContains(me.body, "\"principal\":\"auditor\"")) << me.body;
}

TEST_F(DashboardTest, EveryPrincipalsFeedAndReadCarryWhatGrpcGivesIt) {
  StartDashboard();
  Seed();
  const uint64_t head = Head();
  for (const char* name : {"population", "household_roster", "grid_sanitation", "device_gaps"}) Folded(name);
  for (const char* principal : {"worker", "cadre", "clerk", "dept", "leader", "auditor", "auditor-town",
                                "admin", "admin-town", "admin-c2", "orgdept"}) {
    const std::string session = SignIn(principal);
    for (const char* name : {"population", "household_roster", "grid_sanitation"}) {
      SCOPED_TRACE(absl::StrCat(principal, " ", name));
      auto c = Connect();
      Reply head_reply = c->OpenStream(absl::StrCat("/api/feed?f=", name, ":350583"), {{"Cookie", session}});
      if (head_reply.status == 403) {
        // A role that may not subscribe over gRPC may not here either.
        grpc::ClientContext ctx;
        Bound(&ctx);
        grid::v1::SubscribeProjectionRequest req;
        req.set_name(name);
        EXPECT_EQ(Drain(&ctx, grid::v1::Projections::NewStub(As(principal))->SubscribeProjection(&ctx, req)),
                  StatusCode::PERMISSION_DENIED);
        continue;
      }
      ASSERT_EQ(head_reply.status, 200);
      EXPECT_EQ(head_reply.Header("content-type"), "text/event-stream; charset=utf-8");
      FeedView v;
      ReadSnapshot(c.get(), &v);
      ASSERT_GE(v.position, head);
      EXPECT_EQ(v.rows, GrpcRows(principal, name, "350583", v.position));
      // The point-in-time read at that position: the same again.
      auto g = Connect();
      Reply read = g->Call(http::verb::get,
                           absl::StrCat("/api/projection?name=", name, "&prefix=350583&at=", v.position),
                           {{"Cookie", session}});
      ASSERT_EQ(read.status, 200) << read.body;
      grid::v1::GetProjectionResponse parsed;
      ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(read.body, &parsed).ok()) << read.body;
      std::map<std::string, std::string> rows;
      for (const auto& r : parsed.rows()) rows[r.key()] = ToJson(r);
      EXPECT_EQ(rows, v.rows);
    }
  }
  // A count-only leader: no name, no ID number anywhere in what it got.
  const std::string leader = SignIn("leader");
  auto c = Connect();
  Reply roster =
      c->Call(http::verb::get, "/api/projection?name=household_roster&prefix=350583", {{"Cookie", leader}});
  ASSERT_EQ(roster.status, 200);
  EXPECT_FALSE(absl::StrContains(roster.body, "张")) << roster.body;
  EXPECT_FALSE(absl::StrContains(roster.body, kIdNumber));
}

TEST_F(DashboardTest, AnAppendShowsUpLiveAndAReconnectResumesWithoutDuplicates) {
  StartDashboard();
  Seed();
  const std::string session = SignIn("auditor");
  auto c = Connect();
  ASSERT_EQ(
      c->OpenStream("/api/feed?f=grid_sanitation:350583&f=population:350583", {{"Cookie", session}}).status,
      200);
  FeedView sanitation;
  FeedView population;
  // Both at once: their messages interleave in any order (reading one feed's
  // snapshot first dropped the other's messages read meanwhile).
  ReadSnapshots(c.get(), {&sanitation, &population});
  const absl::Time t = absl::FromUnixSeconds(1790000000) + absl::Hours(1);
  grid::v1::AppendResponse appended;
  ASSERT_OK(ToAbsl(
      Append("worker", ev::SanitationReport("s-live", kG1, "w-1", grid::v1::PATROL, 700, {}, t), &appended)));
  const uint64_t at = appended.results(0).position();
  std::string last_id;
  bool seen = false;
  while (!seen) {
    auto e = c->Next();
    ASSERT_TRUE(e.has_value()) << "the append did not show up";
    ASSERT_EQ(e->event, "rows");
    last_id = e->id;
    if (absl::StrContains(e->data, "{\"feed\":0,") && absl::StrContains(e->data, kG1)) {
      EXPECT_TRUE(absl::StrContains(e->data, absl::StrCat("\"position\":\"", at, "\""))) << e->data;
      EXPECT_TRUE(absl::StrContains(e->data, "\"last_score_x10\":700")) << e->data;
      EXPECT_FALSE(absl::StrContains(e->data, "\"snapshot\"")) << e->data;
      seen = true;
    }
  }
  // The id names both feeds' positions (after the tag of the rights).
  std::vector<std::string> ids = absl::StrSplit(last_id.substr(last_id.find(':') + 1), '.');
  ASSERT_EQ(ids.size(), 2u) << last_id;
  EXPECT_EQ(ids[0], absl::StrCat(at));

  // A reconnect with that id: no snapshot again, only what came after.
  c.reset();
  ASSERT_OK(
      ToAbsl(Append("worker", ev::SanitationReport("s-after", kG1, "w-1", grid::v1::PATROL, 650, {}, t))));
  auto r = Connect();
  ASSERT_EQ(r->OpenStream("/api/feed?f=grid_sanitation:350583&f=population:350583",
                          {{"Cookie", session}, {"Last-Event-ID", last_id}})
                .status,
            200);
  bool after = false;
  while (!after) {
    auto e = r->Next();
    ASSERT_TRUE(e.has_value());
    EXPECT_FALSE(absl::StrContains(e->data, "\"snapshot\"")) << e->data;
    EXPECT_FALSE(absl::StrContains(e->data, "\"last_score_x10\":700")) << "a duplicate: " << e->data;
    after = absl::StrContains(e->data, "\"last_score_x10\":650");
  }
}

TEST_F(DashboardTest, APolicyReloadThatRemovesTheRightEndsTheFeed) {
  StartDashboard();
  Seed();
  const std::string session = SignIn("leader");
  auto c = Connect();
  ASSERT_EQ(c->OpenStream("/api/feed?f=population:350583", {{"Cookie", session}}).status, 200);
  FeedView v;
  ReadSnapshot(c.get(), &v);
  std::string policy = kPolicy;
  const std::string leader = R"({"principal": "leader", "role": "LEADER", "jurisdiction": ["350583/101"]},)";
  ASSERT_NE(policy.find(leader), std::string::npos);
  policy.erase(policy.find(leader), leader.size());
  WritePolicy(policy);
  ASSERT_OK(server_->ReloadPolicy());
  for (;;) {
    auto e = c->Next();
    ASSERT_TRUE(e.has_value()) << "the feed did not end";
    if (e->event != "end") continue;
    EXPECT_TRUE(absl::StrContains(e->data, "\"code\":\"PERMISSION_DENIED\"")) << e->data;
    break;
  }
  EXPECT_FALSE(c->Next(std::chrono::seconds(5)).has_value()) << "the stream stays open";
}

TEST_F(DashboardTest, HeadersHostAndOriginKeepOtherSitesOut) {
  StartDashboard();
  const std::string session = SignIn("auditor");
  auto c = Connect();
  Reply page = c->Call(http::verb::get, "/", {{"Accept-Encoding", "gzip"}});
  ASSERT_EQ(page.status, 200);
  EXPECT_TRUE(absl::StrContains(page.Header("content-security-policy"), "script-src 'self'"));
  EXPECT_FALSE(absl::StrContains(page.Header("content-security-policy"), "unsafe-inline"));
  EXPECT_EQ(page.Header("x-content-type-options"), "nosniff");
  EXPECT_EQ(page.Header("x-frame-options"), "DENY");
  EXPECT_EQ(page.Header("content-encoding"), "gzip");
  EXPECT_EQ(page.Header("access-control-allow-origin"), "");
  const std::string etag = page.Header("etag");
  ASSERT_FALSE(etag.empty());
  EXPECT_EQ(c->Call(http::verb::get, "/", {{"Accept-Encoding", "gzip"}, {"If-None-Match", etag}}).status,
            304);
  // The uncompressed page is another representation, with another ETag.
  Reply plain = c->Call(http::verb::get, "/", {{"Accept-Encoding", "gzip;q=0"}, {"If-None-Match", etag}});
  EXPECT_EQ(plain.status, 200);
  EXPECT_EQ(plain.Header("content-encoding"), "");
  EXPECT_NE(plain.Header("etag"), etag);

  // Another site's page may not read (no CORS) nor sign in or out.
  Reply cross =
      c->Call(http::verb::get, "/api/session", {{"Cookie", session}, {"Origin", "https://evil.example"}});
  EXPECT_EQ(cross.status, 403);
  auto c2 = Connect();
  EXPECT_EQ(c2->Call(http::verb::post, "/api/session",
                     {{"Authorization", "Bearer " + Token("auditor")}, {"Origin", "https://evil.example"}})
                .status,
            403);
  EXPECT_EQ(c2->Call(http::verb::post, "/api/logout", {{"Cookie", session}}).status, 403);
  // A name that is not the dashboard's (DNS rebinding) gets nothing.
  auto c3 = Connect();
  Reply rebound =
      c3->Call(http::verb::get, "/api/session", {{"Cookie", session}, {"Host", "evil.example:8080"}});
  EXPECT_EQ(rebound.status, 403);
}

TEST_F(DashboardTest, CsvCarriesTheSameRedaction) {
  StartDashboard();
  Seed();
  Folded("household_roster");
  const std::string auditor = SignIn("auditor");
  const std::string leader = SignIn("leader");
  auto c = Connect();
  Reply full = c->Call(http::verb::get, "/api/projection.csv?name=household_roster&prefix=350583",
                       {{"Cookie", auditor}});
  ASSERT_EQ(full.status, 200) << full.body;
  EXPECT_EQ(full.Header("content-type"), "text/csv; charset=utf-8");
  EXPECT_TRUE(absl::StartsWith(full.body, "\xEF\xBB\xBFkey,position,"));
  EXPECT_TRUE(absl::StrContains(full.body, "张")) << full.body;
  Reply counts = c->Call(http::verb::get, "/api/projection.csv?name=household_roster&prefix=350583",
                         {{"Cookie", leader}});
  ASSERT_EQ(counts.status, 200);
  EXPECT_FALSE(absl::StrContains(counts.body, "张")) << counts.body;
}

TEST_F(DashboardTest, FeedsCountAgainstThePrincipalsStreams) {
  StartDashboard([](ServerOptions* o) { o->access.max_streams = 2; });
  const std::string session = SignIn("auditor");
  auto c = Connect();
  Reply r = c->OpenStream("/api/feed?f=population:&f=device_gaps:&f=grid_sanitation:", {{"Cookie", session}});
  EXPECT_EQ(r.status, 429);
  auto ok = Connect();
  EXPECT_EQ(ok->OpenStream("/api/feed?f=population:&f=device_gaps:", {{"Cookie", session}}).status, 200);
}

TEST_F(DashboardTest, SigningOutEndsTheSessionsLivePagesAtOnce) {
  StartDashboard();
  Seed();
  const std::string session = SignIn("auditor");
  auto page = Connect();
  ASSERT_EQ(page->OpenStream("/api/feed?f=population:&f=grid_sanitation:", {{"Cookie", session}}).status,
            200);
  FeedView v;
  ReadSnapshot(page.get(), &v);
  auto c = Connect();
  ASSERT_EQ(c->Call(http::verb::post, "/api/logout", {{"Cookie", session}, {"Origin", c->Origin()}}).status,
            204);
  int ended = 0;
  while (auto e = page->Next()) {
    if (e->event != "end") continue;
    EXPECT_TRUE(absl::StrContains(e->data, "\"code\":\"UNAUTHENTICATED\"")) << e->data;
    ++ended;
  }
  EXPECT_EQ(ended, 2);  // both feeds, and then the stream ended
}

TEST_F(DashboardTest, AResumeUnderOtherRightsStartsOverWithASnapshot) {
  StartDashboard();
  Seed();
  const std::string session = SignIn("auditor");
  std::string id;
  {
    auto c = Connect();
    ASSERT_EQ(c->OpenStream("/api/feed?f=population:350583", {{"Cookie", session}}).status, 200);
    auto e = c->Next();
    ASSERT_TRUE(e.has_value());
    id = e->id;
  }
  // The same positions under another principal's rights (a tag of its own).
  const std::string other = SignIn("leader");
  auto c = Connect();
  ASSERT_EQ(c->OpenStream("/api/feed?f=population:350583", {{"Cookie", other}, {"Last-Event-ID", id}}).status,
            200);
  auto e = c->Next();
  ASSERT_TRUE(e.has_value());
  EXPECT_TRUE(absl::StrContains(e->data, "\"snapshot\":true")) << e->data;
  EXPECT_NE(e->id.substr(0, e->id.find(':')), id.substr(0, id.find(':')));
  // A position beyond what this node has folded: a snapshot too.
  const std::string ahead = absl::StrCat(id.substr(0, id.find(':')), ":", Head() + 1000);
  auto a = Connect();
  ASSERT_EQ(
      a->OpenStream("/api/feed?f=population:350583", {{"Cookie", session}, {"Last-Event-ID", ahead}}).status,
      200);
  auto first = a->Next();
  ASSERT_TRUE(first.has_value());
  EXPECT_TRUE(absl::StrContains(first->data, "\"snapshot\":true")) << first->data;
}

TEST_F(DashboardTest, AnotherSitesRequestGetsNoDataEvenWithACertificate) {
  StartDashboard();
  const std::string session = SignIn("auditor");
  auto c = Connect();
  EXPECT_EQ(
      c->Call(http::verb::get, "/api/projections", {{"Cookie", session}, {"Sec-Fetch-Site", "cross-site"}})
          .status,
      403);
  EXPECT_EQ(
      c->Call(http::verb::get, "/api/projections", {{"Cookie", session}, {"Sec-Fetch-Site", "same-origin"}})
          .status,
      200);
}

TEST(SessionStoreTest, APrincipalSigningInInALoopPushesOutOnlyItsOwnSessions) {
  const absl::Time t0 = absl::FromUnixSeconds(1790000000);
  auto store = SessionStore::Open({.max_sessions_per_principal = 3}, t0);
  ASSERT_OK(store);
  auto bob = (*store)->Create("bob", "hash-b", t0);
  ASSERT_OK(bob);
  std::vector<std::string> alice;
  for (int i = 0; i < 5; ++i) {
    auto a = (*store)->Create("alice", "hash-a", t0 + absl::Seconds(i));
    ASSERT_OK(a);
    alice.push_back(*a);
  }
  const absl::Time now = t0 + absl::Seconds(10);
  EXPECT_TRUE((*store)->Find(*bob, now).has_value());
  EXPECT_FALSE((*store)->Find(alice[0], now).has_value());
  EXPECT_FALSE((*store)->Find(alice[1], now).has_value());
  for (int i = 2; i < 5; ++i) EXPECT_TRUE((*store)->Find(alice[i], now).has_value()) << i;
}

TEST(SessionStoreTest, SessionsEndBySignOutLifetimeIdlenessAndSurviveAReopen) {
  testing::TempDir dir;
  const absl::Time t0 = absl::FromUnixSeconds(1790000000);
  SessionStore::Options o{
      .path = dir.path() + "/sessions", .lifetime = absl::Hours(8), .idle = absl::Minutes(30)};
  auto store = SessionStore::Open(o, t0);
  ASSERT_OK(store);
  auto a = (*store)->Create("alice", "hash-a", t0);
  ASSERT_OK(a);
  auto b = (*store)->Create("bob", "hash-b", t0);
  ASSERT_OK(b);
  ASSERT_EQ(a->size(), 64u);
  EXPECT_EQ((*store)->Find(*a, t0 + absl::Minutes(20))->principal, "alice");
  // Another id (its first hex digit changed; "0" alone would be the same id
  // one time in sixteen).
  EXPECT_FALSE((*store)->Find((a->front() == '0' ? "1" : "0") + a->substr(1), t0).has_value());
  // The file holds no secret: only hashes.
  EXPECT_FALSE(absl::StrContains(Slurp(o.path), *a));
  // Reopened (a restart): still there.
  auto reopened = SessionStore::Open(o, t0 + absl::Minutes(25));
  ASSERT_OK(reopened);
  EXPECT_EQ((*reopened)->Find(*a, t0 + absl::Minutes(26))->principal, "alice");
  // Idle for longer than 30 minutes: ended.
  EXPECT_FALSE((*reopened)->Find(*b, t0 + absl::Minutes(60)).has_value());
  // Past its lifetime, however busy: ended.
  for (int m = 30; m < 8 * 60; m += 20)
    ASSERT_TRUE((*reopened)->Find(*a, t0 + absl::Minutes(m)).has_value()) << m;
  EXPECT_FALSE((*reopened)->Find(*a, t0 + absl::Hours(8)).has_value());
  // Signed out.
  auto c = (*reopened)->Create("carol", "hash-c", t0 + absl::Hours(9));
  ASSERT_OK(c);
  EXPECT_TRUE(*(*reopened)->Remove(*c));
  EXPECT_FALSE((*reopened)->Find(*c, t0 + absl::Hours(9)).has_value());
  EXPECT_EQ((*reopened)->size(t0 + absl::Hours(9)), 0u);
}

// Regression: a map (a grid's open findings) came out in the order of its
// hash table, which protobuf seeds per map: the same rows gave CSV columns
// and JSON in another order from one download to the next.
TEST(RenderTest, MapsComeOutInKeyOrderEveryTime) {
  google::protobuf::RepeatedPtrField<grid::v1::ProjectionRow> rows;
  auto* row = rows.Add();
  row->set_key("350583/101/201/g01");
  std::vector<std::string> keys;
  keys.reserve(40);
  for (int i = 0; i < 40; ++i) keys.push_back(absl::StrCat("f-", 1000 + i * 37 % 101));
  std::shuffle(keys.begin(), keys.end(), std::mt19937(7));
  auto* findings = row->mutable_value()->mutable_grid_sanitation()->mutable_open_findings();
  for (const auto& k : keys) (*findings)[k].set_seconds(1790000000);
  std::sort(keys.begin(), keys.end());
  std::string header = "\xEF\xBB\xBFkey,position";
  std::string json;
  for (const auto& k : keys) {
    absl::StrAppend(&header, ",open_findings.", k);
    absl::StrAppend(&json, json.empty() ? "" : ",", "\"", k, "\":\"2026-09-21T14:13:20Z\"");
  }
  for (int i = 0; i < 20; ++i) {
    // A fresh map each time, as each request's rows are.
    google::protobuf::RepeatedPtrField<grid::v1::ProjectionRow> copy;
    ASSERT_TRUE(copy.Add()->ParseFromString(row->SerializeAsString()));
    const std::string csv = RowsToCsv(copy);
    EXPECT_EQ(csv.substr(0, csv.find("\r\n")), absl::StrCat(header, ",redacted,suppressed"));
    EXPECT_EQ(ToJson(copy[0]), absl::StrCat(R"({"key":"350583/101/201/g01","value":{"grid_sanitation":{)",
                                            R"("open_findings":{)", json, "}}}}"));
  }
}

TEST(RenderTest, CsvQuotesEscapesAndDefusesFormulas) {
  google::protobuf::RepeatedPtrField<grid::v1::ProjectionRow> rows;
  auto* r1 = rows.Add();
  r1->set_key("350583/101#a");
  r1->set_position(7);
  r1->mutable_value()->mutable_project_pipeline()->set_title("=HYPERLINK(\"http://x\",\"y\")");
  r1->mutable_value()->mutable_project_pipeline()->set_investment_fen(-300);
  r1->mutable_value()->mutable_project_pipeline()->add_missing_items("a,b");
  r1->add_redacted("project_id");
  auto* r2 = rows.Add();
  r2->set_key("350583/102#b");
  r2->set_position(9);
  r2->mutable_value()->mutable_project_pipeline()->set_status("RETURNED");
  const std::string csv = RowsToCsv(rows);
  EXPECT_EQ(csv,
            "\xEF\xBB\xBFkey,position,title,missing_items,investment_fen,status,redacted,suppressed\r\n"
            "350583/101#a,7,\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\",\"a,b\",\"-300\",,project_id,\r\n"
            "350583/102#b,9,,,,RETURNED,,\r\n");
}

}  // namespace
}  // namespace grid::server
