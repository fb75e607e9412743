// gridd's configuration (proto/grid/v1/config.proto): the built-in defaults,
// a JSON file, and flags, merged in that order, then turned into the
// ServerOptions a GridServer starts with.
//
// The flags are generated from the message: every field is a flag of the
// same name, with the field's (help) option as its help text, so a new
// setting is one field in config.proto and one line in ToServerOptions().
#ifndef GRID_SERVER_CONFIG_H_
#define GRID_SERVER_CONFIG_H_

#include <optional>
#include <string>
#include <utility>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"
#include "grid/v1/config.pb.h"
#include "server/grid_server.h"

namespace grid::server {

// Every field set, to what gridd uses when neither file nor flag names it.
grid::v1::ServerConfig DefaultConfig();

// Parses a configuration file's text: protobuf's JSON mapping, where lines
// whose first non-blank characters are `//` are comments. Unknown fields are
// an error (INVALID_ARGUMENT naming `origin`). Only the fields it names are
// set.
absl::StatusOr<grid::v1::ServerConfig> ParseConfig(absl::string_view text, absl::string_view origin);
absl::StatusOr<grid::v1::ServerConfig> ReadConfigFile(const std::string& path);

// Sets the field `name` from a flag's text ("123", "true", "0.5", "x").
absl::Status SetConfigField(grid::v1::ServerConfig* config, const std::string& name, const std::string& text);

// The value of field `name` as a flag would spell it ("" for an unset field).
std::string ConfigFieldText(const grid::v1::ServerConfig& config, const std::string& name);

// A numeric setting's range, (setting_min) to (setting_max); nullopt for a
// field without one.
std::optional<std::pair<double, double>> SettingRange(const google::protobuf::FieldDescriptor* f);
// A range's end as text: "67108864", "0.01".
std::string RangeNumber(double v);

// The configuration as a loadable file: JSON with each field's help above it
// as a `//` comment. Unset fields are left out.
std::string ConfigToCommentedJson(const grid::v1::ServerConfig& config);

// Checks the values and builds the server's options. INVALID_ARGUMENT names
// the field at fault.
absl::StatusOr<ServerOptions> ToServerOptions(const grid::v1::ServerConfig& config);

}  // namespace grid::server

#endif  // GRID_SERVER_CONFIG_H_
