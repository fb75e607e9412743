// JSON for gridctl: protobuf's canonical JSON mapping (no hand-written
// parser). Field names may be snake_case or lowerCamelCase on input.
#ifndef GRID_CLIENT_JSON_H_
#define GRID_CLIENT_JSON_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "google/protobuf/message.h"
#include "grid/v1/event.pb.h"

namespace grid::client {

// Parses one event object, e.g.
//   {"event_id":"e-1","type":"GridDefined","org_path":"350583/101",
//    "grid_defined":{"org_path":"350583/101/203/g05","name":"g05"}}
// INVALID_ARGUMENT with the parser's message on malformed JSON or unknown fields.
absl::StatusOr<grid::v1::Event> EventFromJson(std::string_view json);

// One-line JSON with proto field names; `chain` is shown as hex.
std::string EventToJson(const grid::v1::Event& event);
// A command's result with every field, zero ones too (`"duplicate":false`),
// so that a script finds each key whatever its value. Events leave zero
// fields out: an event's body has dozens, almost all unset.
std::string MessageToJson(const google::protobuf::Message& message, bool every_field = true);

}  // namespace grid::client

#endif  // GRID_CLIENT_JSON_H_
