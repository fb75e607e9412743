// Sets and maps in an aggregate's state that grow with the stream's history
// (a grid's findings, a village ledger's entries) and that the rules only
// ever ask about one key at a time. In a test or a fold they are plain
// in-memory containers. The admission attaches a
// MemberStore (state_codec.h: AttachMemberStore): from then on, members
// written since the last time they were persisted stay in memory (dirty),
// the rest are read from the store one key at a time when a rule asks, and
// a snapshot holds none of them. So loading such a state costs its small
// part, not its history, and copying it (ApplyUndo) copies only what is in
// memory.
//
// Not thread-safe: a state is used by one thread (the admission's). A
// lookup that misses memory reads the store, and keeps what it read, from a
// const method: the container's contents as the rules see them do not
// change, only what memory holds of them.
#ifndef GRID_DOMAIN_KEYED_H_
#define GRID_DOMAIN_KEYED_H_

#include <initializer_list>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>

#include "absl/strings/string_view.h"

namespace grid::domain {

// Where a state's members live once they are not all in memory: the
// admission's store, per stream. `key` is a member's key (its container's
// prefix, then the member).
class MemberStore {
 public:
  virtual ~MemberStore() = default;
  // The member's stored bytes, or nullopt when it has none. A failed read
  // answers nullopt; the store keeps the error and its owner fails the
  // check that asked (server/log/admission.cc).
  virtual std::optional<std::string> Read(absl::string_view key) const = 0;
  // The member's stored bytes do not decode: kept as an error, like a
  // failed read; the lookup answers "absent" to a check that fails anyway.
  virtual void Corrupt(absl::string_view key) const = 0;
};

template <class V>
class KeyedMap {
 public:
  using Map = std::map<std::string, V>;
  using const_iterator = typename Map::const_iterator;
  // Bytes of a stored value → the value, nullopt if they do not decode.
  using Decode = std::optional<V> (*)(absl::string_view);

  KeyedMap() = default;
  KeyedMap(std::initializer_list<typename Map::value_type> init) : known_(init) {}

  // The member `key`, or end(); read from the store when not in memory.
  const_iterator find(const std::string& key) const {
    auto it = known_.find(key);
    if (it != known_.end() || store_ == nullptr) return it;
    std::optional<std::string> bytes = store_->Read(Key(key));
    if (!bytes) return known_.end();
    std::optional<V> v = decode_(*bytes);
    if (!v) {
      store_->Corrupt(Key(key));
      return known_.end();
    }
    return known_.emplace(key, std::move(*v)).first;
  }
  // (No begin(): with a store attached memory holds only some members, so
  // a rule may ask about one key, never walk them.)
  const_iterator end() const { return known_.end(); }
  bool contains(const std::string& key) const { return find(key) != end(); }
  // The member `key` to change (a default one if it has none): dirty.
  V& operator[](const std::string& key) {
    find(key);
    dirty_.insert(key);
    return known_[key];
  }

  // Sets member `key` to `v` whatever it was (no lookup): dirty.
  void Put(const std::string& key, V v) {
    known_.insert_or_assign(key, std::move(v));
    dirty_.insert(key);
  }

  // ---- for the codec and the admission (state_codec.h) ----
  // Whether members may be in the store rather than in memory.
  bool external() const { return external_; }
  bool attached() const { return store_ != nullptr; }
  // The members in memory: all of them unless external() (for the codec
  // and tests, never for a rule).
  const Map& known() const { return known_; }
  Map* mutable_known() { return &known_; }
  // Decoded from a snapshot that holds no members: they are in the store.
  void set_external() { external_ = true; }
  // Lookups that miss memory go to `store` (members under `prefix`); every
  // member in memory now is dirty (it may not be stored yet).
  void Attach(std::shared_ptr<const MemberStore> store, std::string prefix, Decode decode) {
    store_ = std::move(store);
    prefix_ = std::move(prefix);
    decode_ = decode;
    external_ = true;
    for (const auto& [k, v] : known_) dirty_.insert(k);
  }
  // Members changed since they were last persisted, with their values.
  template <class F>
  void ForEachDirty(F&& f) const {
    for (const std::string& k : dirty_) {
      auto it = known_.find(k);
      if (it != known_.end()) f(Key(k), it->second);
    }
  }
  // Every dirty member is in the store now: memory lets go of all members.
  void Persisted() {
    if (store_ == nullptr) return;
    dirty_.clear();
    known_.clear();
  }

  // Equal in the members memory holds (all of them, for containers without
  // a store: the rules' tests and the codec's).
  bool operator==(const KeyedMap& o) const { return known_ == o.known_; }

 private:
  std::string Key(const std::string& member) const { return prefix_ + member; }

  mutable Map known_;
  std::set<std::string> dirty_;
  std::shared_ptr<const MemberStore> store_;
  std::string prefix_;
  Decode decode_ = nullptr;
  bool external_ = false;
};

// A KeyedMap whose members carry no value.
struct NoValue {
  bool operator==(const NoValue&) const = default;
};
class KeyedSet {
 public:
  KeyedSet() = default;
  KeyedSet(std::initializer_list<std::string> init) {
    for (const std::string& k : init) map_.mutable_known()->emplace(k, NoValue{});
  }
  bool contains(const std::string& key) const { return map_.contains(key); }
  void insert(const std::string& key) { map_.Put(key, NoValue{}); }
  KeyedMap<NoValue>& map() { return map_; }
  const KeyedMap<NoValue>& map() const { return map_; }
  bool operator==(const KeyedSet& o) const = default;

 private:
  KeyedMap<NoValue> map_;
};

}  // namespace grid::domain

#endif  // GRID_DOMAIN_KEYED_H_
