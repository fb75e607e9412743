#include "server/log/filter.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "domain/rules.h"

namespace grid::server {

absl::StatusOr<EventFilter> EventFilter::Compile(const grid::v1::Filter& f) {
  constexpr int kMaxValues = 256;
  if (f.event_types_size() > kMaxValues || f.stream_prefixes_size() > kMaxValues ||
      f.org_prefixes_size() > kMaxValues) {
    return absl::InvalidArgumentError(
        absl::StrCat("a filter takes at most ", kMaxValues, " values of each kind"));
  }
  EventFilter out;
  const auto& known = domain::KnownEventTypes();
  for (const auto& t : f.event_types()) {
    if (std::find(known.begin(), known.end(), t) == known.end()) {
      return absl::InvalidArgumentError(absl::StrCat("filter: unknown event type '", t.substr(0, 64), "'"));
    }
    out.types_.push_back(t);
  }
  for (const auto& s : f.stream_prefixes()) {
    if (s.empty() || s.size() > 256) {
      return absl::InvalidArgumentError("filter: stream prefixes must be 1..256 bytes");
    }
    out.streams_.push_back(s);
  }
  for (const auto& o : f.org_prefixes()) {
    if (!domain::IsOrgPath(o)) {
      return absl::InvalidArgumentError(absl::StrCat("filter: malformed org prefix '", o.substr(0, 64),
                                                     "'; expected segments like \"350583/101\""));
    }
    out.orgs_.push_back(o);
  }
  return out;
}

bool EventFilter::Matches(const storage::LogRecord& r) const {
  if (!types_.empty() && std::find(types_.begin(), types_.end(), r.type) == types_.end()) {
    return false;
  }
  if (!streams_.empty() && std::none_of(streams_.begin(), streams_.end(), [&](const std::string& p) {
        return absl::StartsWith(r.stream, p);
      })) {
    return false;
  }
  if (!orgs_.empty() && std::none_of(orgs_.begin(), orgs_.end(),
                                     [&](const std::string& p) { return domain::IsUnder(r.org_path, p); })) {
    return false;
  }
  return true;
}

}  // namespace grid::server
