// Reading one sample of the metrics a GridServer collects, as a scrape would.
#ifndef GRID_TESTS_TESTING_METRIC_SAMPLE_H_
#define GRID_TESTS_TESTING_METRIC_SAMPLE_H_

#include <prometheus/metric_family.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace grid::testing {

// The value of the sample `name` whose labels include all of `labels`.
inline std::optional<double> Sample(const std::vector<prometheus::MetricFamily>& families,
                                    const std::string& name,
                                    const std::map<std::string, std::string>& labels = {}) {
  for (const auto& f : families) {
    if (f.name != name) continue;
    for (const auto& m : f.metric) {
      size_t matched = 0;
      for (const auto& l : m.label) {
        auto it = labels.find(l.name);
        if (it != labels.end() && it->second == l.value) ++matched;
      }
      if (matched != labels.size()) continue;
      switch (f.type) {
        case prometheus::MetricType::Counter:
          return m.counter.value;
        case prometheus::MetricType::Histogram:
          return static_cast<double>(m.histogram.sample_count);
        default:
          return m.gauge.value;
      }
    }
  }
  return std::nullopt;
}

}  // namespace grid::testing

#endif  // GRID_TESTS_TESTING_METRIC_SAMPLE_H_
