#include "tests/testing/history_checker.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/client.h"
#include "grid/v1/event.pb.h"

namespace grid::testing {

std::string Anomalies::Summary() const {
  return absl::StrCat("lost ", lost, ", duplicated ", duplicated, ", gapped ", gapped, ", reordered ",
                      reordered, ", disagreeing ", disagreeing, ", corrupt ", corrupt, ": ",
                      absl::StrJoin(examples, "; "));
}

Anomalies CheckHistory(const History& history, const std::vector<std::string>& log_wires) {
  Anomalies a;
  auto note = [&](uint64_t* counter, std::string what) {
    ++*counter;
    if (a.examples.size() < 10) a.examples.push_back(std::move(what));
  };
  // The log itself: dense positions and a chain that verifies.
  client::ChainVerifier verifier;
  std::vector<std::string> id_at(log_wires.size() + 1);
  std::map<std::string, uint64_t> position_of;
  for (const auto& w : log_wires) {
    const uint64_t p = verifier.next();
    if (auto s = verifier.Add(w); !s.ok()) {
      note(&a.corrupt, std::string(s.message()));
      return a;
    }
    grid::v1::Event e;
    e.ParseFromString(w);
    id_at[p] = e.event_id();
    if (!position_of.emplace(e.event_id(), p).second) {
      note(&a.duplicated, absl::StrCat(e.event_id(), " at ", position_of[e.event_id()], " and ", p));
    }
  }
  for (const auto& [id, pos] : history.acked) {
    auto it = position_of.find(id);
    if (it == position_of.end()) {
      note(&a.lost, absl::StrCat("acknowledged ", id, "@", pos, " is missing"));
    } else if (it->second != pos) {
      note(&a.lost, absl::StrCat("acknowledged ", id, "@", pos, " is at ", it->second));
    }
  }
  for (size_t s = 0; s < history.subscribers.size(); ++s) {
    uint64_t last = 0;
    for (const auto& o : history.subscribers[s]) {
      if (o.position <= last) {
        note(&a.reordered, absl::StrCat("subscriber ", s, " saw ", o.position, " after ", last));
      } else if (o.position != last + 1) {
        note(&a.gapped, absl::StrCat("subscriber ", s, " jumped from ", last, " to ", o.position));
      }
      if (o.position >= id_at.size() || id_at[o.position] != o.event_id) {
        note(&a.disagreeing,
             absl::StrCat("subscriber ", s, " saw ", o.event_id, "@", o.position, " but the log has ",
                          o.position < id_at.size() ? id_at[o.position] : "nothing"));
      }
      last = std::max(last, o.position);
    }
  }
  return a;
}

}  // namespace grid::testing
