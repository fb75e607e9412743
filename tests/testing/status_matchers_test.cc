// The test harness's own status macros.
#include "tests/testing/status_matchers.h"

#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

namespace grid::testing {
namespace {

// Regression: EXPECT_OK/ASSERT_OK evaluated their argument twice on failure
// (53 call sites pass an RPC: the message re-sent the append and could
// print OK).
TEST(StatusMatchersTest, TheArgumentIsEvaluatedOnce) {
  int calls = 0;
  auto failing = [&calls] {
    ++calls;
    return calls == 1 ? absl::InternalError("first call fails") : absl::OkStatus();
  };
  EXPECT_NONFATAL_FAILURE(EXPECT_OK(failing()), "first call fails");
  EXPECT_EQ(calls, 1);
  auto failing_or = [&calls]() -> absl::StatusOr<int> {
    ++calls;
    return absl::NotFoundError("no such thing");
  };
  EXPECT_NONFATAL_FAILURE(EXPECT_OK(failing_or()), "no such thing");
  EXPECT_EQ(calls, 2);
  EXPECT_OK(absl::OkStatus());
}

}  // namespace
}  // namespace grid::testing
