// Status helpers for tests (absl 20220623 has no status matchers).
#ifndef GRID_TESTS_TESTING_STATUS_MATCHERS_H_
#define GRID_TESTS_TESTING_STATUS_MATCHERS_H_

#include <gtest/gtest.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace grid::testing {
inline const absl::Status& StatusOf(const absl::Status& s) { return s; }
template <typename T>
const absl::Status& StatusOf(const absl::StatusOr<T>& s) {
  return s.status();
}

// The status, evaluated once, as a gtest result that prints it on failure.
template <typename T>
::testing::AssertionResult IsOk(const T& s) {
  const absl::Status& status = StatusOf(s);
  if (status.ok()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << status;
}

}  // namespace grid::testing

// Each evaluates `expr` once (it may be an RPC: a second evaluation for the
// failure message would send it again and could print OK).
#define EXPECT_OK(expr) EXPECT_TRUE(::grid::testing::IsOk(expr))
#define ASSERT_OK(expr) ASSERT_TRUE(::grid::testing::IsOk(expr))

#define GRID_CONCAT_INNER(a, b) a##b
#define GRID_CONCAT(a, b) GRID_CONCAT_INNER(a, b)
#define ASSERT_OK_AND_ASSIGN(lhs, expr) \
  ASSERT_OK_AND_ASSIGN_IMPL(GRID_CONCAT(_status_or_, __LINE__), lhs, expr)
#define ASSERT_OK_AND_ASSIGN_IMPL(var, lhs, expr) \
  auto var = (expr);                              \
  ASSERT_TRUE(var.ok()) << var.status();          \
  lhs = *std::move(var)

#endif  // GRID_TESTS_TESTING_STATUS_MATCHERS_H_
