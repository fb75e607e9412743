// A binary form of an aggregate's state (domain/rules.h), so that the
// admission can store a stream's folded state with the commit that made it
// and load it on a cache miss instead of folding the stream's whole history
// (server/log/admission.h).
//
// A snapshot is a cache of a fold, never a source of truth: it is a pure
// function of the stream's first `events` events, which never change, so
// one written by any node of any age is right for as long as the fold that
// made it is the fold of today's rules. Whoever changes a state struct or
// what Apply() does to one bumps kStateSnapshotFormat: snapshots of another
// format are not decoded, and the stream is folded from its first event
// again (and a snapshot of the new format stored).
#ifndef GRID_DOMAIN_STATE_CODEC_H_
#define GRID_DOMAIN_STATE_CODEC_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "domain/rules.h"

namespace grid::domain {

inline constexpr uint32_t kStateSnapshotFormat = 1;

// The state's bytes: the format, then every field of every member, maps and
// sets in their (sorted) order, so that equal states encode to equal bytes.
std::string EncodeState(const AggregateState& state);

// The state `bytes` hold; nullopt when they are of another format or do not
// decode (the caller folds the stream instead).
std::optional<AggregateState> DecodeState(absl::string_view bytes);

// A stored snapshot (server/log/admission.h): the id of the last event the
// state holds (checked against the log before the state is used), then the
// state: the id as a length-prefixed string, then EncodeState's bytes.
struct Snapshot {
  std::string last_event_id;
  AggregateState state;
};
std::string EncodeSnapshot(const std::string& last_event_id, const AggregateState& state);
// nullopt as DecodeState, or when the id does not decode.
std::optional<Snapshot> DecodeSnapshot(absl::string_view bytes);

}  // namespace grid::domain

#endif  // GRID_DOMAIN_STATE_CODEC_H_
