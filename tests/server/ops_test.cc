// What an operator watches: Prometheus metrics, readiness, the HTTP endpoint.
#include <optional>
#include <thread>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "client/http.h"
#include "server/ops/http_endpoint.h"
#include "tests/testing/metric_sample.h"
#include "tests/testing/server_fixture.h"
#include "tests/testing/test_events.h"

namespace grid {
namespace {

using grid::testing::AppendReq;
using grid::testing::GridEvent;
using grid::testing::Sample;

class OpsTest : public grid::testing::ServerFixture {
 protected:
  OpsTest() { log_mechanics_only_ = true; }
  std::vector<prometheus::MetricFamily> Metrics() { return server_->CollectMetrics(); }
};

TEST_F(OpsTest, MetricsCountAppendsByOutcomeAndShowTheLog) {
  for (int i = 0; i < 5; ++i) {
    ASSERT_OK(client_->Append(AppendReq("org/s", {GridEvent("e" + std::to_string(i))})));
  }
  ASSERT_OK(client_->Append(AppendReq("org/s", {GridEvent("b1"), GridEvent("b2")})));
  grid::v1::AppendRequest bad = AppendReq("org/s", {GridEvent("x")});
  bad.mutable_events(0)->set_type("");
  EXPECT_FALSE(client_->Append(bad).ok());

  const auto m = Metrics();
  EXPECT_EQ(Sample(m, "gridlog_append_events_total"), 7);
  EXPECT_EQ(Sample(m, "gridlog_append_batch_events"), 6);  // committed requests
  EXPECT_EQ(Sample(m, "gridlog_rpcs_total", {{"method", "/grid.v1.Log/Append"}, {"code", "OK"}}), 6);
  EXPECT_EQ(
      Sample(m, "gridlog_rpcs_total", {{"method", "/grid.v1.Log/Append"}, {"code", "INVALID_ARGUMENT"}}), 1);
  EXPECT_EQ(Sample(m, "gridlog_rpc_duration_seconds", {{"method", "/grid.v1.Log/Append"}}), 7);
  EXPECT_GE(Sample(m, "gridlog_commit_duration_seconds").value_or(0), 1);
  EXPECT_EQ(Sample(m, "gridlog_log_head_position"), 7);
  EXPECT_EQ(Sample(m, "gridlog_log_writable"), 1);
  EXPECT_EQ(Sample(m, "gridlog_sequencer_queue_depth"), 0);
  EXPECT_EQ(Sample(m, "gridlog_audit_records_lost"), 0);
  EXPECT_GT(Sample(m, "gridlog_rocksdb_memtable_bytes", {{"db", "log"}}).value_or(0), 0);
  EXPECT_TRUE(Sample(m, "gridlog_rocksdb_pending_compaction_bytes", {{"db", "projections"}}));
  // The shared RocksDB budget: its size as configured, the memtables in it.
  EXPECT_EQ(Sample(m, "gridlog_storage_cache_capacity_bytes"), 256 << 20);
  EXPECT_GT(Sample(m, "gridlog_storage_memtable_usage_bytes").value_or(0), 0);
  EXPECT_GE(Sample(m, "gridlog_storage_cache_usage_bytes").value_or(0),
            Sample(m, "gridlog_storage_memtable_usage_bytes").value_or(1));
  // (Present; not asserted 0: a call's record goes a moment after its
  // answer reached the client, so the last call may still count.)
  EXPECT_TRUE(Sample(m, "gridlog_rpcs_in_flight"));
  EXPECT_GT(Sample(m, "process_resident_memory_bytes").value_or(0), 1 << 20);
  EXPECT_GT(Sample(m, "process_open_fds").value_or(0), 3);
  EXPECT_TRUE(Sample(m, "process_cpu_seconds_total"));
  // Every projection reports its position and lag.
  ASSERT_OK_AND_ASSIGN(auto projections, client_->ListProjections());
  ASSERT_EQ(projections.projections_size(), 15);
  for (const auto& p : projections.projections()) {
    EXPECT_TRUE(Sample(m, "gridlog_projection_position", {{"projection", p.name()}})) << p.name();
    EXPECT_TRUE(Sample(m, "gridlog_projection_lag_events", {{"projection", p.name()}})) << p.name();
  }
  const std::string text = server::ToPrometheusText(m);
  EXPECT_NE(text.find("# TYPE gridlog_append_events_total counter"), std::string::npos);
}

TEST_F(OpsTest, MetricsShowOpenSubscribersAndTheirLag) {
  ASSERT_OK(client_->Append(AppendReq("org/s", {GridEvent("a")})));
  absl::Notification caught_up, stop;
  std::thread subscriber([&] {
    (void)client_->Subscribe({}, [&](const grid::v1::SubscribeResponse& r) {
      if (r.caught_up()) caught_up.Notify();
      return !stop.HasBeenNotified();
    });
  });
  caught_up.WaitForNotification();
  // The subscriber is live at the head: one subscriber, lag 0.
  auto m = Metrics();
  EXPECT_EQ(Sample(m, "gridlog_subscribers"), 1);
  EXPECT_EQ(Sample(m, "gridlog_subscribers_by_lag", {{"max_lag_events", "0"}}), 1);
  EXPECT_EQ(Sample(m, "gridlog_subscribers_by_lag", {{"max_lag_events", "1000000"}}), 1);
  EXPECT_EQ(Sample(m, "gridlog_subscriber_max_lag_events"), 0);
  stop.Notify();
  ASSERT_OK(client_->Append(AppendReq("org/s", {GridEvent("b")})));  // wakes it to end
  subscriber.join();
  // The call ends on the server shortly after the client leaves.
  for (int i = 0; i < 500 && Sample(Metrics(), "gridlog_subscribers") != 0; ++i) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_EQ(Sample(Metrics(), "gridlog_subscribers"), 0);
}

// A raw HTTP/1.1 exchange: returns the whole response.
std::string Http(int port, const std::string& request) { return client::LoopbackHttp(port, request); }

TEST(HttpEndpointTest, ServesTheHandlersAnswerAndRefusesOtherMethods) {
  auto endpoint = server::HttpEndpoint::Start("127.0.0.1:0", [](const std::string& path) {
    if (path == "/readyz") return server::HttpResponse{503, "text/plain", "opening\n"};
    return server::HttpResponse{200, "text/plain", "path " + path + "\n"};
  });
  ASSERT_OK(endpoint);
  const int port = (*endpoint)->port();
  ASSERT_GT(port, 0);
  const std::string ok = Http(port, "GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\n\r\n");
  EXPECT_EQ(ok.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << ok;
  EXPECT_NE(ok.find("\r\n\r\npath /metrics\n"), std::string::npos) << ok;
  const std::string not_ready = Http(port, "GET /readyz HTTP/1.1\r\nHost: a\r\n\r\n");
  EXPECT_EQ(not_ready.rfind("HTTP/1.1 503", 0), 0u) << not_ready;
  const std::string post = Http(port, "POST /metrics HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(post.rfind("HTTP/1.1 405", 0), 0u) << post;
  const std::string head = Http(port, "HEAD /x HTTP/1.1\r\nHost: a\r\n\r\n");
  EXPECT_EQ(head.rfind("HTTP/1.1 200", 0), 0u) << head;
  EXPECT_EQ(head.find("path"), std::string::npos) << head;
  // A second endpoint cannot take the same port.
  auto clash = server::HttpEndpoint::Start("127.0.0.1:" + std::to_string(port),
                                           [](const std::string&) { return server::HttpResponse{}; });
  EXPECT_EQ(clash.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(server::HttpEndpoint::Start("nowhere:1", {}).status().code(), absl::StatusCode::kInvalidArgument);
  (*endpoint)->Stop();
  EXPECT_EQ(Http(port, "GET / HTTP/1.1\r\n\r\n"), "");
}

}  // namespace
}  // namespace grid
