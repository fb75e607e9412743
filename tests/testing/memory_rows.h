// A projection's rows entirely in memory: the reference fold for tests.
#ifndef GRID_TESTS_TESTING_MEMORY_ROWS_H_
#define GRID_TESTS_TESTING_MEMORY_ROWS_H_

#include <map>
#include <string>

#include "domain/projections.h"

namespace grid::testing {

class MemoryRows final : public domain::RowAccess {
 public:
  absl::StatusOr<std::optional<grid::v1::RowValue>> Get(const std::string& key) override {
    auto it = rows_.find(key);
    if (it == rows_.end()) return std::nullopt;
    return it->second;
  }
  absl::Status Scan(const std::string& prefix,
                    const std::function<void(const std::string&, const grid::v1::RowValue&)>& fn) override {
    for (auto it = rows_.lower_bound(prefix); it != rows_.end() && it->first.starts_with(prefix); ++it) {
      fn(it->first, it->second);
    }
    return absl::OkStatus();
  }
  void Put(const std::string& key, grid::v1::RowValue value) override { rows_[key] = std::move(value); }
  void Delete(const std::string& key) override { rows_.erase(key); }

  // key → the row's text form, for comparisons.
  std::map<std::string, std::string> Text() const {
    std::map<std::string, std::string> out;
    for (const auto& [k, v] : rows_) out[k] = v.DebugString();
    return out;
  }
  const std::map<std::string, grid::v1::RowValue>& rows() const { return rows_; }

 private:
  std::map<std::string, grid::v1::RowValue> rows_;
};

}  // namespace grid::testing

#endif  // GRID_TESTS_TESTING_MEMORY_ROWS_H_
