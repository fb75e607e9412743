#include "domain/field_index.h"

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "grid/v1/log.pb.h"
#include "grid/v1/projection.pb.h"

namespace grid::domain {
namespace {

namespace pb = google::protobuf;
using Map = absl::flat_hash_map<const pb::Descriptor*, FieldIndex>;

FieldIndex Build(const pb::Descriptor* d) {
  FieldIndex idx;
  for (int i = 0; i < d->field_count(); ++i) {
    const pb::FieldDescriptor* f = d->field(i);
    const FieldInfo info{f, f->options().GetExtension(grid::v1::data_class),
                         f->options().GetExtension(grid::v1::org),
                         !f->options().GetExtension(grid::v1::class_from).empty()};
    if (f->cpp_type() == pb::FieldDescriptor::CPPTYPE_MESSAGE) {
      if (!f->is_map()) idx.messages.push_back(info);
    } else if (f->type() == pb::FieldDescriptor::TYPE_STRING) {
      idx.strings.push_back(info);
    } else if (f->type() == pb::FieldDescriptor::TYPE_ENUM) {
      idx.enums.push_back(info);
    }
  }
  return idx;
}

void AddReachable(const pb::Descriptor* d, Map* m) {
  if (m->contains(d)) return;
  auto [it, _] = m->emplace(d, Build(d));
  // Copy: the recursion may rehash the map.
  const std::vector<FieldInfo> nested = it->second.messages;
  for (const FieldInfo& f : nested) AddReachable(f.field->message_type(), m);
}

const Map& Catalog() {
  static const Map* kIndex = [] {
    auto* m = new Map();
    for (const pb::Descriptor* root : {grid::v1::AppendRequest::descriptor(), grid::v1::Event::descriptor(),
                                       grid::v1::RowValue::descriptor()}) {
      AddReachable(root, m);
    }
    return m;
  }();
  return *kIndex;
}

}  // namespace

const FieldIndex& IndexOf(const pb::Descriptor* d) {
  const Map& catalog = Catalog();
  if (auto it = catalog.find(d); it != catalog.end()) return it->second;
  static absl::Mutex mu;
  static auto* others = new absl::flat_hash_map<const pb::Descriptor*, std::unique_ptr<FieldIndex>>();
  absl::MutexLock l(&mu);
  auto& slot = (*others)[d];
  if (slot == nullptr) slot = std::make_unique<FieldIndex>(Build(d));
  return *slot;
}

std::string WalkPath::Str(const std::string& prefix) const {
  std::string out = prefix;
  for (const auto& [f, index] : parts_) {
    if (!out.empty()) out += '.';
    out += f->name();
    if (index >= 0) absl::StrAppend(&out, "[", index, "]");
  }
  return out;
}

}  // namespace grid::domain
