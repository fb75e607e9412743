// An independent checker for histories recorded against a server that was
// crashed and restarted (after Jepsen's queue checker): given what appenders
// were acknowledged, what subscribers saw, and the final log, it reports
//   lost        an acknowledged event missing, or not at its acknowledged position
//   duplicated  one event id at two positions
//   gapped      a subscriber skipped a position
//   reordered   a subscriber saw positions go backwards or repeat
//   disagreeing a subscriber saw at a position something other than the log has
//   corrupt     the log's positions are not dense or its chain does not verify
#ifndef GRID_TESTS_TESTING_HISTORY_CHECKER_H_
#define GRID_TESTS_TESTING_HISTORY_CHECKER_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace grid::testing {

struct Observation {
  uint64_t position;
  std::string event_id;
};

struct History {
  std::map<std::string, uint64_t> acked;  // event id -> acknowledged position
  // Per subscriber, every event it was delivered (unfiltered subscriptions
  // resumed from their last checkpoint), across all its reconnections.
  std::vector<std::vector<Observation>> subscribers;
};

struct Anomalies {
  uint64_t lost = 0, duplicated = 0, gapped = 0, reordered = 0, disagreeing = 0, corrupt = 0;
  std::vector<std::string> examples;  // the first few, for the failure message
  bool ok() const { return lost + duplicated + gapped + reordered + disagreeing + corrupt == 0; }
  std::string Summary() const;
};

// `log_wires`: the whole final log as wire records, in position order.
Anomalies CheckHistory(const History& history, const std::vector<std::string>& log_wires);

}  // namespace grid::testing

#endif  // GRID_TESTS_TESTING_HISTORY_CHECKER_H_
