// An independent check of an event log against what its clients were told:
// every acknowledged event present exactly once at its acknowledged
// position, positions dense, the chain valid up to the head, and the
// indexes (streams, stream heads, event ids, time) agreeing with the events.
#ifndef GRID_TESTS_TESTING_LOG_CHECKER_H_
#define GRID_TESTS_TESTING_LOG_CHECKER_H_

#include <map>
#include <string>
#include <vector>

#include "storage/event_log.h"

namespace grid::testing {

struct LogCheck {
  std::vector<std::string> problems;  // empty: the log is good
  uint64_t events = 0;
  uint64_t lost = 0;    // acknowledged events missing or moved
  uint64_t errors = 0;  // problems that are error statuses (e.g. DATA_LOSS), not wrong answers
  bool ok() const { return problems.empty(); }
  std::string Summary() const;
};

// `acked`: event id -> acknowledged position. Index checks cover positions
// from `index_from` on (the whole log is always read and chain-checked).
// REQUIRES: nothing else writes to `log` meanwhile.
LogCheck CheckLog(storage::EventLog* log, const std::map<std::string, uint64_t>& acked,
                  uint64_t index_from = 1);

}  // namespace grid::testing

#endif  // GRID_TESTS_TESTING_LOG_CHECKER_H_
