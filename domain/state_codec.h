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
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/strings/string_view.h"
#include "domain/rules.h"

namespace grid::domain {

// 3: a grid's findings and a ledger's entries are kept as members in the
// admission's store, not in the snapshot (2 had a household's event ids
// there too).
inline constexpr uint32_t kStateSnapshotFormat = 3;
// (Its byte leads every member's key.)
static_assert(kStateSnapshotFormat < 128);

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

// ---- members kept in a store (domain/keyed.h) -----------------------------
// A state's keyed containers (a grid's findings, a ledger's entries) read
// the members they do not hold from the store that
// `store` makes (called once, only if a container has none yet), and a
// snapshot of the state holds none of them. Every member in memory then
// counts as not stored yet. Attach before folding more events into the
// state. A member's key is kStateSnapshotFormat's byte, the container's tag
// ('f', 'l'), then the member: another format's members are not read.
void AttachMemberStore(AggregateState* state, absl::FunctionRef<std::shared_ptr<const MemberStore>()> store);
// The members changed since they were last persisted: (key, value bytes),
// to store beside the stream (MemberStore::Read reads them back).
void DirtyMembers(const AggregateState& state, std::vector<std::pair<std::string, std::string>>* out);
// DirtyMembers' members are stored now: memory holds none of them.
void MembersPersisted(AggregateState* state);

}  // namespace grid::domain

#endif  // GRID_DOMAIN_STATE_CODEC_H_
