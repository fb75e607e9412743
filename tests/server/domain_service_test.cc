// The domain rules through the real gRPC API: a refused append names the
// rule or the field and writes nothing.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "domain/events.h"
#include "tests/testing/server_fixture.h"
#include "tests/testing/test_events.h"

namespace grid::server {
namespace {

namespace ev = domain::events;
const absl::Time T0 = absl::FromCivil(absl::CivilDay(2026, 3, 2), absl::UTCTimeZone());
constexpr char kG5[] = "350583/101/203/g05";

using grid::testing::StreamReq;

class DomainServiceTest : public grid::testing::ServerFixture {
 protected:
  uint64_t Head() {
    auto s = client_->GetStatus();
    EXPECT_OK(s);
    return s.ok() ? s->head_position() : 0;
  }
};

TEST_F(DomainServiceTest, RefusedAppendsNameTheRuleAndWriteNothing) {
  ASSERT_OK(
      client_->Append(StreamReq({ev::GridDefined("g1", kG5, T0), ev::WorkerAssigned("w1", "w-4", kG5, T0)})));
  ASSERT_EQ(Head(), 2u);

  struct Case {
    grid::v1::AppendRequest req;
    absl::StatusCode code;
    std::string message;
  };
  grid::v1::AppendRequest wrong_stream = StreamReq({ev::GridDefined("g2", "350583/101/203/g06", T0)});
  wrong_stream.set_stream("org/350999");
  wrong_stream.mutable_events(0)->clear_stream();
  std::vector<Case> cases = {
      {StreamReq({ev::SanitationReport("s1", kG5, "w-7", grid::v1::PATROL, 900, {}, T0)}),
       absl::StatusCode::kFailedPrecondition,
       "events[0] (SanitationReportSubmitted): worker w-7 is not assigned to grid 350583/101/203/g05"},
      {StreamReq({ev::MemberAdded("m1", "h-3", kG5, "p-17", "李四", grid::v1::MemberAdded::BIRTH, T0)}),
       absl::StatusCode::kFailedPrecondition, "household h-3 does not exist"},
      // The first event is fine, the second breaks a rule: neither is written.
      {StreamReq({ev::HouseholdCreated("h1", "h-3", kG5, "p-1", "张三", T0),
                  ev::MemberRemoved("m2", "h-3", kG5, "p-17", grid::v1::MemberRemoved::MOVE_OUT, T0)}),
       absl::StatusCode::kFailedPrecondition,
       "events[1] (MemberRemoved): member p-17 is not in household h-3"},
      {wrong_stream, absl::StatusCode::kInvalidArgument, "belongs in stream \"org/350583\""},
      {StreamReq({ev::ProjectDeclared("p1", "pr-9", "350583/101/203", 0, 100, T0)}),
       absl::StatusCode::kInvalidArgument,
       "events[0]: ProjectDeclared: project_declared.revision: starts at 1"},
  };
  for (const auto& c : cases) {
    auto r = client_->Append(c.req);
    ASSERT_FALSE(r.ok()) << c.message;
    EXPECT_EQ(r.status().code(), c.code) << r.status();
    EXPECT_THAT(std::string(r.status().message()), ::testing::HasSubstr(c.message));
  }
  EXPECT_EQ(Head(), 2u);
}

}  // namespace
}  // namespace grid::server
