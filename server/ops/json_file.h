// JSON files an operator writes (the configuration, the access policy):
// protobuf's JSON mapping with comment lines.
#ifndef GRID_SERVER_OPS_JSON_FILE_H_
#define GRID_SERVER_OPS_JSON_FILE_H_

#include <google/protobuf/message.h>

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace grid::server {

// Parses JSON in protobuf's mapping into `out`, where lines whose first
// non-blank characters are `//` are comments and unknown fields are an error
// (INVALID_ARGUMENT naming `origin`: "<origin>: not <what>: ..."). The
// configuration and the access policy are both read with it.
absl::Status ParseCommentedJson(absl::string_view text, absl::string_view origin, absl::string_view what,
                                google::protobuf::Message* out);
absl::Status ReadCommentedJsonFile(const std::string& path, absl::string_view what,
                                   google::protobuf::Message* out);

// The whole file named by setting `setting` (a PEM file, a token):
// INVALID_ARGUMENT "<setting>: cannot read <path>" if it cannot be read.
absl::StatusOr<std::string> ReadSettingFile(const std::string& path, absl::string_view setting);

}  // namespace grid::server

#endif  // GRID_SERVER_OPS_JSON_FILE_H_
