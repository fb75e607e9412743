// Table tests of append validation and subscription filters.
#include "server/log/validation.h"

#include <gtest/gtest.h>

#include "domain/rules.h"
#include "server/log/filter.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_events.h"

namespace grid::server {
namespace {

using grid::testing::AppendReq;
using grid::testing::GridEvent;

struct BadCase {
  const char* name;
  std::function<void(grid::v1::AppendRequest*)> mutate;
  const char* message;  // a substring of the expected message
};

TEST(ValidationTest, GoodRequestBecomesABatch) {
  auto req = AppendReq("org/350583", {GridEvent("e-1"), GridEvent("e-2", "350583/101/203/g06")});
  req.set_exact_version(4);
  grid::v1::Actor actor;
  actor.set_principal("me");
  auto batch = AppendValidator().Validate(req, actor);
  ASSERT_OK(batch);
  EXPECT_EQ(batch->expected.kind, storage::Expected::kExact);
  EXPECT_EQ(batch->expected.version, 4u);
  ASSERT_EQ(batch->events.size(), 2u);
  EXPECT_EQ(batch->events[1].stream(), "org/350583");
  EXPECT_EQ(batch->actor.principal(), "me");
}

TEST(ValidationTest, BadRequestsAreRefusedWithAClearMessage) {
  const std::vector<BadCase> cases = {
      {"empty stream", [](auto* r) { r->set_stream(""); }, "stream must be"},
      {"stream with space", [](auto* r) { r->set_stream("a b"); }, "stream must be"},
      {"no events", [](auto* r) { r->clear_events(); }, "has no events"},
      {"empty id", [](auto* r) { r->mutable_events(0)->set_event_id(""); }, "event_id must be"},
      {"bad id char", [](auto* r) { r->mutable_events(0)->set_event_id("a b"); }, "event_id must be"},
      {"id twice", [](auto* r) { r->mutable_events(1)->set_event_id("e-1"); }, "appears twice"},
      {"other stream", [](auto* r) { r->mutable_events(0)->set_stream("x/y"); }, "differs from"},
      {"no type", [](auto* r) { r->mutable_events(0)->set_type(""); }, "type is required"},
      {"unknown type", [](auto* r) { r->mutable_events(0)->set_type("Nope"); }, "unknown event type 'Nope'"},
      {"type/body mismatch", [](auto* r) { r->mutable_events(0)->set_type("GridRetired"); },
       "but the body is a GridDefined"},
      {"no body", [](auto* r) { r->mutable_events(0)->clear_grid_defined(); }, "no body is set"},
      {"bad org path", [](auto* r) { r->mutable_events(0)->set_org_path("a//b"); }, "org_path must be"},
      {"server position", [](auto* r) { r->mutable_events(0)->set_position(7); }, "set by the server"},
      {"server chain", [](auto* r) { r->mutable_events(0)->set_chain("x"); }, "set by the server"},
      {"server actor", [](auto* r) { r->mutable_events(0)->mutable_actor()->set_principal("x"); },
       "set by the server"},
      {"oversized",
       [](auto* r) { r->mutable_events(0)->mutable_grid_defined()->set_name(std::string(2 << 20, 'x')); },
       "the limit is 1048576"},
  };
  for (const auto& c : cases) {
    auto req = AppendReq("org/350583", {GridEvent("e-1"), GridEvent("e-2", "350583/101/203/g06")});
    c.mutate(&req);
    auto batch = AppendValidator().Validate(req, grid::v1::Actor());
    EXPECT_EQ(batch.status().code(), absl::StatusCode::kInvalidArgument) << c.name;
    EXPECT_NE(batch.status().message().find(c.message), std::string::npos)
        << c.name << ": " << batch.status();
  }
}

// Regression: an occurred_at far ahead (a phone's clock set to 2099) was
// accepted, and since a stream's times never go back, every later event of
// that stream (a village's whole ledger, an incident) was refused for good.
TEST(ValidationTest, AClockRunningAheadOfTheServersIsRefused) {
  const absl::Time now = absl::FromUnixSeconds(1790000000);
  auto req = AppendReq("org/350583", {GridEvent("e-1")});
  *req.mutable_events(0)->mutable_occurred_at() = ToProtoTime(now + absl::Minutes(5));
  EXPECT_OK(AppendValidator().Validate(req, grid::v1::Actor(), now));  // a little skew is fine
  *req.mutable_events(0)->mutable_occurred_at() = ToProtoTime(now + absl::Hours(1));
  auto batch = AppendValidator().Validate(req, grid::v1::Actor(), now);
  EXPECT_EQ(batch.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(batch.status().message().find(
                "events[0]: occurred_at 2026-09-21T15:13:20Z is ahead of the server's clock"),
            std::string::npos)
      << batch.status();
  // Without a clock (the log's own tests), nothing is compared.
  EXPECT_OK(AppendValidator().Validate(req, grid::v1::Actor()));
}

TEST(ValidationTest, CatalogListsTheBodyTypes) {
  const auto& types = domain::KnownEventTypes();
  EXPECT_NE(std::find(types.begin(), types.end(), "GridDefined"), types.end());
  EXPECT_NE(std::find(types.begin(), types.end(), "WorkerAssigned"), types.end());
}

// The checks' order decides what a request with several faults is told:
// the batch limits, then the filter, then the start.
TEST(ValidationTest, SubscribeChecksLimitsThenFilterThenStart) {
  grid::v1::SubscribeRequest req;
  req.set_after_position(100);
  EXPECT_EQ(ValidateSubscribe(req, 5).status().code(), absl::StatusCode::kOutOfRange);
  req.mutable_filter()->add_event_types("NoSuchEvent");
  EXPECT_EQ(ValidateSubscribe(req, 5).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(ValidateSubscribe(req, 5).status().message().find("NoSuchEvent"), std::string::npos);
  req.set_max_batch(5000);
  EXPECT_NE(ValidateSubscribe(req, 5).status().message().find("max_batch"), std::string::npos);
  grid::v1::SubscribeRequest ok;
  ok.set_after_position(5);
  EXPECT_OK(ValidateSubscribe(ok, 5).status());
}

TEST(FilterTest, OrgPrefixesMatchWholeSegments) {
  EXPECT_TRUE(domain::IsUnder("350583/101", "350583/101"));
  EXPECT_TRUE(domain::IsUnder("350583/101/203", "350583/101"));
  EXPECT_FALSE(domain::IsUnder("350583/1010", "350583/101"));
  EXPECT_FALSE(domain::IsUnder("350583", "350583/101"));
}

TEST(FilterTest, KindsCombineWithAndValuesWithOr) {
  grid::v1::Filter f;
  f.add_event_types("GridDefined");
  f.add_event_types("WorkerAssigned");
  f.add_org_prefixes("350583/101");
  auto filter = EventFilter::Compile(f);
  ASSERT_OK(filter);
  storage::LogRecord r;
  r.type = "WorkerAssigned";
  r.org_path = "350583/101/203";
  r.stream = "org/350583";
  EXPECT_TRUE(filter->Matches(r));
  r.org_path = "350583/102";
  EXPECT_FALSE(filter->Matches(r));
  r.org_path = "350583/101";
  r.type = "GridRetired";
  EXPECT_FALSE(filter->Matches(r));

  grid::v1::Filter bad;
  bad.add_event_types("Nope");
  EXPECT_EQ(EventFilter::Compile(bad).status().code(), absl::StatusCode::kInvalidArgument);
  grid::v1::Filter bad_org;
  bad_org.add_org_prefixes("350583/");
  EXPECT_EQ(EventFilter::Compile(bad_org).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace grid::server
