// FieldIndex: per message type, the fields that the generic walks over
// catalog messages look at (nested messages, strings, enums), with their
// field options read once. A walk then visits only those fields, with
// HasField/FieldSize, instead of listing every set field by reflection and
// reading options again for each (the append path walks every event several
// times: enum values, person tokens, org paths, unknown fields, free text).
//
// WalkPath names a field in a walk ("findings[0].description") only when a
// walk has something to report, so that a clean walk builds no strings.
//
// Concurrency: IndexOf() is thread-safe; an index lives as long as the
// process. WalkPath is a value type.
#ifndef GRID_DOMAIN_FIELD_INDEX_H_
#define GRID_DOMAIN_FIELD_INDEX_H_

#include <string>
#include <utility>
#include <vector>

#include <google/protobuf/descriptor.h>

#include "grid/v1/options.pb.h"

namespace grid::domain {

struct FieldInfo {
  const google::protobuf::FieldDescriptor* field;
  // The field's own (data_class); DATA_CLASS_UNSPECIFIED: it has its
  // container's.
  grid::v1::DataClass data_class;
  grid::v1::OrgRole org;
  // It carries a (class_from): its class is set at run time.
  bool class_from;
};

struct FieldIndex {
  std::vector<FieldInfo> messages;  // message-typed fields, maps excluded
  std::vector<FieldInfo> strings;   // string fields (not bytes)
  std::vector<FieldInfo> enums;
};

// The index of `d`. Types reachable from grid.v1.Event, AppendRequest and
// RowValue are indexed once up front and read without a lock; others on
// first use.
const FieldIndex& IndexOf(const google::protobuf::Descriptor* d);

// The dotted path of the field being visited, kept as descriptors and
// indexes; Str() builds the text.
class WalkPath {
 public:
  void Push(const google::protobuf::FieldDescriptor* f, int index = -1) { parts_.emplace_back(f, index); }
  void Pop() { parts_.pop_back(); }
  // "a.b[2].c", with `prefix` (and a dot) in front when it is not empty.
  std::string Str(const std::string& prefix = "") const;

 private:
  std::vector<std::pair<const google::protobuf::FieldDescriptor*, int>> parts_;
};

}  // namespace grid::domain

#endif  // GRID_DOMAIN_FIELD_INDEX_H_
