// A message as JSON, the same text for the same message: protobuf prints a
// map in its hash table's order, which it seeds per map and per run, so the
// same row would print differently from call to call. This prints from a
// deterministic serialization (a map's entries in key order). For the
// generated messages (the generated descriptor pool); "" if the message
// does not serialize.
#ifndef GRID_STORAGE_PROTO_JSON_H_
#define GRID_STORAGE_PROTO_JSON_H_

#include <google/protobuf/message.h>
#include <google/protobuf/util/json_util.h>

#include <string>

namespace grid {

std::string ToJsonInKeyOrder(const google::protobuf::Message& m,
                             const google::protobuf::util::JsonPrintOptions& options);

}  // namespace grid

#endif  // GRID_STORAGE_PROTO_JSON_H_
