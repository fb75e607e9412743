#include "tests/testing/log_checker.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace grid::testing {

std::string LogCheck::Summary() const {
  std::vector<std::string> first(problems.begin(), problems.begin() + std::min<size_t>(problems.size(), 10));
  return absl::StrCat(events, " events, ", problems.size(), " problems, ", lost,
                      " acknowledged lost: ", absl::StrJoin(first, "; "));
}

LogCheck CheckLog(storage::EventLog* log, const std::map<std::string, uint64_t>& acked, uint64_t index_from) {
  LogCheck c;
  auto problem = [&](std::string p) { c.problems.push_back(std::move(p)); };
  auto error = [&](std::string p) {
    ++c.errors;
    c.problems.push_back(std::move(p));
  };
  const storage::Head head = log->GetHead();
  std::map<std::string, uint64_t> ids;
  std::map<std::string, uint64_t> stream_last;
  std::vector<storage::RecordPtr> indexed;
  storage::Digest chain = storage::kGenesisChain;
  absl::Time last_time = absl::InfinitePast();
  storage::Position next = 1;
  while (next <= head.position) {
    auto batch = log->ReadAll(next, storage::Direction::kForwards, 10000, SIZE_MAX);
    if (!batch.ok()) {
      error(absl::StrCat("read at ", next, ": ", batch.status().ToString()));
      return c;
    }
    if (batch->empty()) {
      problem(absl::StrCat("read at ", next, " returned nothing below head ", head.position));
      return c;
    }
    for (const auto& r : *batch) {
      if (r->position != next) problem(absl::StrCat("expected position ", next, ", got ", r->position));
      auto parts = storage::SplitWire(r->wire);
      if (!parts.ok()) {
        problem(std::string(parts.status().message()));
        return c;
      }
      chain = storage::ChainLink(chain, r->position, parts->stored);
      if (chain != parts->chain) problem(absl::StrCat("chain breaks at ", r->position));
      grid::v1::Event e;
      e.ParseFromString(r->wire);
      if (!ids.emplace(e.event_id(), r->position).second) {
        problem(absl::StrCat("event id ", e.event_id(), " at ", ids[e.event_id()], " and ", r->position));
      }
      if (r->recorded_at < last_time) problem(absl::StrCat("recorded_at goes back at ", r->position));
      last_time = r->recorded_at;
      auto [it, fresh] = stream_last.try_emplace(r->stream, r->stream_version);
      if (!fresh) {
        if (r->stream_version != it->second + 1) {
          problem(absl::StrCat("stream ", r->stream, " version ", r->stream_version, " after ", it->second));
        }
        it->second = r->stream_version;
      } else if (r->stream_version != 0) {
        problem(absl::StrCat("stream ", r->stream, " starts at version ", r->stream_version));
      }
      if (r->position >= index_from) indexed.push_back(r);
      ++next;
      ++c.events;
    }
  }
  if (chain != head.chain) problem("head chain differs from the recomputed chain");

  for (const auto& [id, pos] : acked) {
    auto it = ids.find(id);
    if (it == ids.end() || it->second != pos) {
      ++c.lost;
      problem(absl::StrCat("acknowledged ", id, "@", pos,
                           it == ids.end() ? " is missing" : absl::StrCat(" is at ", it->second)));
    }
  }

  // Indexes.
  for (const auto& [stream, last] : stream_last) {
    auto h = log->StreamHead(stream);
    if (!h.ok()) {
      error(std::string(h.status().message()));
    } else if (!h->has_value() || **h != last) {
      problem(absl::StrCat("stream head of ", stream, " disagrees (events say ", last, ")"));
    }
  }
  std::vector<storage::AppendBatch> dups;
  dups.reserve(indexed.size());
  for (const auto& r : indexed) {
    auto s = log->ReadStream(r->stream, r->stream_version, storage::Direction::kForwards, 1, SIZE_MAX);
    if (!s.ok()) {
      error(std::string(s.status().message()));
    } else if (s->empty() || (*s)[0]->position != r->position) {
      problem(absl::StrCat("stream index misses ", r->stream, "@", r->stream_version));
    }
    auto t = log->PositionAtTime(r->recorded_at, storage::Direction::kForwards);
    if (!t.ok()) {
      error(std::string(t.status().message()));
    } else if (*t > r->position) {
      problem(absl::StrCat("time index puts ", r->position, " after its time"));
    }
    grid::v1::Event e;
    e.ParseFromString(r->wire);
    e.clear_position();
    e.clear_stream_version();
    e.clear_recorded_at();
    e.clear_actor();
    e.clear_chain();
    storage::AppendBatch b;
    b.stream = r->stream;
    b.events.push_back(std::move(e));
    dups.push_back(std::move(b));
  }
  std::vector<storage::AppendBatch*> ptrs;
  for (auto& b : dups) ptrs.push_back(&b);
  if (!ptrs.empty()) {
    auto result = log->Commit(absl::MakeSpan(ptrs), absl::Now());
    for (size_t i = 0; i < ptrs.size(); ++i) {
      const auto& o = result.outcomes[i];
      if (o.status.code() == absl::StatusCode::kDataLoss) {
        error(std::string(o.status.message()));
      } else if (!o.status.ok() || o.events.empty() || !o.events[0].duplicate ||
                 o.events[0].position != indexed[i]->position) {
        problem(
            absl::StrCat("event id index misses position ", indexed[i]->position, ": ", o.status.ToString()));
      }
    }
  }
  return c;
}

}  // namespace grid::testing
