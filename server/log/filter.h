// A compiled subscription filter (grid.v1.Filter): event types, stream
// prefixes and org-path prefixes. Kinds combine with AND, values of one kind
// with OR, an empty kind matches all. Immutable and thread-safe.
#ifndef GRID_SERVER_LOG_FILTER_H_
#define GRID_SERVER_LOG_FILTER_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "grid/v1/log.pb.h"
#include "storage/event_log.h"

namespace grid::server {

class EventFilter {
 public:
  // INVALID_ARGUMENT for an empty value, an unknown event type, a malformed
  // org path, or more than 256 values of one kind.
  static absl::StatusOr<EventFilter> Compile(const grid::v1::Filter& filter);

  bool Matches(const storage::LogRecord& r) const;
  bool MatchesAll() const { return types_.empty() && streams_.empty() && orgs_.empty(); }

 private:
  std::vector<std::string> types_;
  std::vector<std::string> streams_;
  std::vector<std::string> orgs_;
};

}  // namespace grid::server

#endif  // GRID_SERVER_LOG_FILTER_H_
