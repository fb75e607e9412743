// JSON for gridctl: protobuf's canonical JSON mapping (no hand-written
// parser). Field names may be snake_case or lowerCamelCase on input.
#ifndef GRID_CLIENT_JSON_H_
#define GRID_CLIENT_JSON_H_

#include <cstdio>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "google/protobuf/message.h"
#include "grid/v1/event.pb.h"
#include "storage/record.h"

namespace grid::client {

// Parses one event object, e.g.
//   {"event_id":"e-1","type":"GridDefined","org_path":"350583/101",
//    "grid_defined":{"org_path":"350583/101/203/g05","name":"g05"}}
// INVALID_ARGUMENT with the parser's message on malformed JSON or unknown fields.
absl::StatusOr<grid::v1::Event> EventFromJson(std::string_view json);

// One-line JSON with proto field names; `chain` is shown as hex.
std::string EventToJson(const grid::v1::Event& event);
std::string MessageToJson(const google::protobuf::Message& message);

// A replay export: "GRIDLOG-EXPORT-1\n", be64(first position), the 32-byte
// chain before it, then per event be32(length) + wire record.
class ExportWriter {
 public:
  // Takes ownership of `f`.
  ExportWriter(std::FILE* f, storage::Position first, const storage::Digest& prev);
  ~ExportWriter();
  absl::Status Add(std::string_view wire);
  absl::Status Close();

 private:
  std::FILE* f_;
};

class ExportReader {
 public:
  static absl::StatusOr<std::unique_ptr<ExportReader>> Open(const std::string& path);
  ~ExportReader();
  storage::Position first() const { return first_; }
  const storage::Digest& prev_chain() const { return prev_; }
  // Next record into `wire`; false at a clean end. DATA_LOSS on a truncated
  // or malformed file.
  absl::StatusOr<bool> Next(std::string* wire);

 private:
  explicit ExportReader(std::FILE* f) : f_(f) {}
  std::FILE* f_;
  storage::Position first_ = 1;
  storage::Digest prev_{};
};

}  // namespace grid::client

#endif  // GRID_CLIENT_JSON_H_
