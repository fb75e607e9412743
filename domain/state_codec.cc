#include "domain/state_codec.h"

#include <limits>
#include <type_traits>
#include <utility>

namespace grid::domain {
namespace {

// Each state's fields are listed once, in Fields(), for both directions: an
// archive is a Writer (appends the fields' bytes) or a Reader (fills them
// in), and `Ref<A, T>` is const T for a Writer.
template <class A, class T>
using Ref = std::conditional_t<A::kWriting, const T, T>;

template <class T>
struct IsOptional : std::false_type {};
template <class T>
struct IsOptional<std::optional<T>> : std::true_type {};
template <class T>
struct IsSet : std::false_type {};
template <class T>
struct IsSet<std::set<T>> : std::true_type {};
template <class T>
struct IsMap : std::false_type {};
template <class K, class V>
struct IsMap<std::map<K, V>> : std::true_type {};
template <class T>
struct IsKeyed : std::false_type {};
template <class V>
struct IsKeyed<KeyedMap<V>> : std::true_type {};
template <class T>
struct IsVector : std::false_type {};
template <class T>
struct IsVector<std::vector<T>> : std::true_type {};

constexpr absl::CivilDay kEpochDay(1970, 1, 1);

class Writer {
 public:
  static constexpr bool kWriting = true;

  template <class T>
  void operator()(const T& x);

  std::string Take() { return std::move(out_); }

 private:
  void Varint(uint64_t v) {
    while (v >= 0x80) {
      out_.push_back(static_cast<char>(v | 0x80));
      v >>= 7;
    }
    out_.push_back(static_cast<char>(v));
  }
  void Signed(int64_t v) {  // zigzag
    Varint((static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63));
  }

  std::string out_;
};

class Reader {
 public:
  static constexpr bool kWriting = false;

  explicit Reader(absl::string_view in) : in_(in) {}

  template <class T>
  void operator()(T& x);

  bool ok() const { return ok_; }
  bool done() const { return in_.empty(); }
  uint64_t Varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (in_.empty()) return Fail();
      const auto b = static_cast<uint8_t>(in_.front());
      in_.remove_prefix(1);
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) return v;
    }
    return Fail();
  }

 private:
  int64_t Signed() {
    const uint64_t v = Varint();
    return static_cast<int64_t>((v >> 1) ^ (~(v & 1) + 1));
  }
  // A count of elements that the bytes left can hold (each takes one at
  // least): corrupt bytes never make a huge allocation.
  uint64_t Count() {
    const uint64_t n = Varint();
    if (n > in_.size()) return Fail();
    return n;
  }
  uint64_t Fail() {
    ok_ = false;
    in_ = {};
    return 0;
  }

  absl::string_view in_;
  bool ok_ = true;
};

// ---- the states' fields ----------------------------------------------------

template <class A>
void Fields(A& /*a*/, Ref<A, NoValue>& /*v*/) {}
template <class A>
void Fields(A& a, Ref<A, KeyedSet>& s) {
  a(s.map());
}
template <class A>
void Fields(A& a, Ref<A, OrgState::Grid>& g) {
  a(g.retired);
  a(g.workers);
}
template <class A>
void Fields(A& a, Ref<A, OrgState::Unit>& u) {
  a(u.recoded_to);
}
template <class A>
void Fields(A& a, Ref<A, OrgState>& s) {
  a(s.grids);
  a(s.active);
  a(s.assignments);
  a(s.units);
}
template <class A>
void Fields(A& a, Ref<A, SanitationState>& s) {
  a(s.findings);
}
template <class A>
void Fields(A& a, Ref<A, RectificationState>& s) {
  a(s.ordered);
  a(s.closed);
  a(s.org_path);
  a(s.deadline);
}
template <class A>
void Fields(A& a, Ref<A, HouseholdState::Member>& m) {
  a(m.relation);
  a(m.death_reported);
}
template <class A>
void Fields(A& a, Ref<A, HouseholdState>& s) {
  a(s.created);
  a(s.dissolved);
  a(s.org_path);
  a(s.head);
  a(s.members);
  a(s.event_ids);
}
template <class A>
void Fields(A& a, Ref<A, ProjectState::Ask>& k) {
  a(k.stage);
  a(k.department);
}
template <class A>
void Fields(A& a, Ref<A, ProjectState>& s) {
  a(s.status);
  a(s.revision);
  a(s.org_path);
  a(s.pending);
  a(s.returned_by);
  a(s.started);
}
template <class A>
void Fields(A& a, Ref<A, FormTaskState>& s) {
  a(s.issued);
  a(s.fields);
  a(s.target_org_prefix);
  a(s.due);
  a(s.submissions);
}
template <class A>
void Fields(A& a, Ref<A, CatalogState::Category>& c) {
  a(c.default_tier);
  a(c.retired);
}
template <class A>
void Fields(A& a, Ref<A, CatalogState>& s) {
  a(s.version);
  a(s.tiers);
  a(s.categories);
  a(s.reopen_window_hours);
  a(s.calendar_years);
}
template <class A>
void Fields(A& a, Ref<A, IncidentState>& s) {
  a(s.status);
  a(s.before_suspension);
  a(s.org_path);
  a(s.handling_org);
  a(s.handler_org);
  a(s.department);
  a(s.source);
  a(s.self_resolved);
  a(s.extension_pending);
  a(s.extension_asked);
  a(s.outcome);
  a(s.closed_at);
  a(s.rated);
}
template <class A>
void Fields(A& a, Ref<A, LedgerState::Entry>& e) {
  a(e.category);
  a(e.amount_fen);
  a(e.reversal);
  a(e.reversed);
  a(e.year);
  a(e.month);
}
template <class A>
void Fields(A& a, Ref<A, LedgerState>& s) {
  a(s.entries);
}
template <class A>
void Fields(A& a, Ref<A, AssessmentState::Cadre>& c) {
  a(c.org_path);
  a(c.days);
  a(c.year_end);
}
template <class A>
void Fields(A& a, Ref<A, AssessmentState>& s) {
  a(s.opened);
  a(s.closed);
  a(s.unit);
  a(s.starts_on);
  a(s.ends_on);
  a(s.top_permille);
  a(s.daily_weight_permille);
  a(s.year_end_weight_permille);
  a(s.cadres);
}

// ---- the archives ----------------------------------------------------------

template <class T>
void Writer::operator()(const T& x) {
  if constexpr (std::is_same_v<T, bool>) {
    out_.push_back(x ? 1 : 0);
  } else if constexpr (std::is_enum_v<T>) {
    Signed(static_cast<int64_t>(x));
  } else if constexpr (std::is_integral_v<T> && std::is_signed_v<T>) {
    Signed(x);
  } else if constexpr (std::is_integral_v<T>) {
    Varint(x);
  } else if constexpr (std::is_same_v<T, std::string>) {
    Varint(x.size());
    out_.append(x);
  } else if constexpr (std::is_same_v<T, absl::Time>) {
    // Whole seconds (floor) and the nanoseconds past them; the infinities
    // by name.
    if (x == absl::InfiniteFuture() || x == absl::InfinitePast()) {
      Varint(x == absl::InfiniteFuture() ? 1 : 2);
      return;
    }
    Varint(0);
    const int64_t s = absl::ToUnixSeconds(x);
    Signed(s);
    Varint(static_cast<uint64_t>(absl::ToInt64Nanoseconds(x - absl::FromUnixSeconds(s))));
  } else if constexpr (std::is_same_v<T, absl::CivilDay>) {
    Signed(x - kEpochDay);
  } else if constexpr (IsOptional<T>::value) {
    (*this)(x.has_value());
    if (x) (*this)(*x);
  } else if constexpr (IsSet<T>::value || IsVector<T>::value) {
    Varint(x.size());
    for (const auto& v : x) (*this)(v);
  } else if constexpr (IsMap<T>::value) {
    Varint(x.size());
    for (const auto& [k, v] : x) {
      (*this)(k);
      (*this)(v);
    }
  } else if constexpr (IsKeyed<T>::value) {
    // External: the members are in the admission's store, not here.
    (*this)(x.external());
    if (!x.external()) (*this)(x.known());
  } else {
    Fields<Writer>(*this, x);
  }
}

template <class T>
void Reader::operator()(T& x) {
  if (!ok_) return;
  if constexpr (std::is_same_v<T, bool>) {
    const uint64_t v = Varint();
    if (v > 1) Fail();
    x = v == 1;
  } else if constexpr (std::is_enum_v<T>) {
    x = static_cast<T>(Signed());
  } else if constexpr (std::is_integral_v<T> && std::is_signed_v<T>) {
    const int64_t v = Signed();
    if (v < std::numeric_limits<T>::min() || v > std::numeric_limits<T>::max()) Fail();
    x = static_cast<T>(v);
  } else if constexpr (std::is_integral_v<T>) {
    const uint64_t v = Varint();
    if (v > std::numeric_limits<T>::max()) Fail();
    x = static_cast<T>(v);
  } else if constexpr (std::is_same_v<T, std::string>) {
    const uint64_t n = Count();
    if (!ok_) return;
    x.assign(in_.data(), n);
    in_.remove_prefix(n);
  } else if constexpr (std::is_same_v<T, absl::Time>) {
    switch (Varint()) {
      case 0: {
        const int64_t s = Signed();
        const uint64_t ns = Varint();
        if (ns >= 1000000000) Fail();
        x = absl::FromUnixSeconds(s) + absl::Nanoseconds(static_cast<int64_t>(ns));
        break;
      }
      case 1:
        x = absl::InfiniteFuture();
        break;
      case 2:
        x = absl::InfinitePast();
        break;
      default:
        Fail();
    }
  } else if constexpr (std::is_same_v<T, absl::CivilDay>) {
    x = kEpochDay + Signed();
  } else if constexpr (IsOptional<T>::value) {
    bool has = false;
    (*this)(has);
    x.reset();
    if (has) (*this)(x.emplace());
  } else if constexpr (IsSet<T>::value) {
    const uint64_t n = Count();
    x.clear();
    for (uint64_t i = 0; i < n && ok_; ++i) {
      typename T::value_type v{};
      (*this)(v);
      // Written in order, each once: anything else is not an encoding.
      if (!x.empty() && !(*x.rbegin() < v)) Fail();
      x.insert(x.end(), std::move(v));
    }
  } else if constexpr (IsVector<T>::value) {
    const uint64_t n = Count();
    x.clear();
    x.reserve(n);
    for (uint64_t i = 0; i < n && ok_; ++i) (*this)(x.emplace_back());
  } else if constexpr (IsMap<T>::value) {
    const uint64_t n = Count();
    x.clear();
    for (uint64_t i = 0; i < n && ok_; ++i) {
      typename T::key_type k{};
      (*this)(k);
      if (!x.empty() && !(x.rbegin()->first < k)) Fail();
      (*this)(x[std::move(k)]);
    }
  } else if constexpr (IsKeyed<T>::value) {
    bool external = false;
    (*this)(external);
    x = T{};
    if (external) {
      x.set_external();
    } else {
      (*this)(*x.mutable_known());
    }
  } else {
    Fields<Reader>(*this, x);
  }
}

// One alternative of AggregateState::agg, by its index.
template <size_t I = 1>
bool ReadAgg(Reader& r, size_t index, decltype(AggregateState::agg)* agg) {
  if constexpr (I < std::variant_size_v<decltype(AggregateState::agg)>) {
    if (index == I) {
      r(agg->emplace<I>());
      return r.ok();
    }
    return ReadAgg<I + 1>(r, index, agg);
  } else {
    return false;
  }
}

}  // namespace

namespace {

void WriteState(Writer& w, const AggregateState& state) {
  w(kStateSnapshotFormat);
  w(state.events);
  w(state.last_occurred_at);
  w(static_cast<uint64_t>(state.agg.index()));
  std::visit(
      [&w](const auto& s) {
        if constexpr (!std::is_same_v<std::decay_t<decltype(s)>, std::monostate>) w(s);
      },
      state.agg);
}

// The state the rest of `r` holds, to its end.
std::optional<AggregateState> ReadWholeState(Reader& r) {
  uint32_t format = 0;
  r(format);
  if (!r.ok() || format != kStateSnapshotFormat) return std::nullopt;
  AggregateState state;
  r(state.events);
  r(state.last_occurred_at);
  uint64_t index = 0;
  r(index);
  if (!r.ok()) return std::nullopt;
  if (index != 0 && !ReadAgg(r, index, &state.agg)) return std::nullopt;
  if (!r.ok() || !r.done()) return std::nullopt;
  return state;
}

}  // namespace

std::string EncodeState(const AggregateState& state) {
  Writer w;
  WriteState(w, state);
  return w.Take();
}

std::optional<AggregateState> DecodeState(absl::string_view bytes) {
  Reader r(bytes);
  return ReadWholeState(r);
}

std::string EncodeSnapshot(const std::string& last_event_id, const AggregateState& state) {
  Writer w;
  w(last_event_id);
  WriteState(w, state);
  return w.Take();
}

std::optional<Snapshot> DecodeSnapshot(absl::string_view bytes) {
  Reader r(bytes);
  Snapshot s;
  r(s.last_event_id);
  if (!r.ok()) return std::nullopt;
  auto state = ReadWholeState(r);
  if (!state) return std::nullopt;
  s.state = *std::move(state);
  return s;
}

namespace {

template <class V>
std::optional<V> DecodeMember(absl::string_view bytes) {
  Reader r(bytes);
  V v{};
  r(v);
  if (!r.ok() || !r.done()) return std::nullopt;
  return v;
}

// Calls f(container, tag) for each keyed container of the state (the tag
// is the first byte of its members' keys after the format's).
template <class S, class F>
void ForEachKeyed(S* state, F&& f) {
  if (auto* s = std::get_if<SanitationState>(&state->agg)) f(s->findings.map(), 'f');
  if (auto* s = std::get_if<LedgerState>(&state->agg)) f(s->entries, 'l');
}

}  // namespace

void AttachMemberStore(AggregateState* state, absl::FunctionRef<std::shared_ptr<const MemberStore>()> store) {
  std::shared_ptr<const MemberStore> made;
  ForEachKeyed(state, [&](auto& keyed, char tag) {
    if (keyed.attached()) return;
    if (made == nullptr) made = store();
    using V = typename std::decay_t<decltype(keyed)>::Map::mapped_type;
    // The format first: members of another format are never read.
    keyed.Attach(made, std::string{static_cast<char>(kStateSnapshotFormat), tag}, &DecodeMember<V>);
  });
}

void DirtyMembers(const AggregateState& state, std::vector<std::pair<std::string, std::string>>* out) {
  ForEachKeyed(&state, [out](const auto& keyed, char /*tag*/) {
    keyed.ForEachDirty([out](std::string key, const auto& value) {
      Writer w;
      w(value);
      out->emplace_back(std::move(key), w.Take());
    });
  });
}

void MembersPersisted(AggregateState* state) {
  ForEachKeyed(state, [](auto& keyed, char /*tag*/) { keyed.Persisted(); });
}

}  // namespace grid::domain
