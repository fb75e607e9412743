// gridd's log: spdlog on stderr, as text or as JSON lines.
//
// What may be logged: positions, counts, stream names, method names, status
// codes, durations, peers' addresses, the server's own errors. What may not:
// event contents and error messages derived from them (a validation message
// can quote a field). Personal data lives only in event bodies, so code that
// logs never has it at hand; tests/e2e/logging_test.sh appends a known name
// and ID number with every log level on and checks neither reaches the log.
#ifndef GRID_SERVER_OPS_LOGGING_H_
#define GRID_SERVER_OPS_LOGGING_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace grid::server {

// format: "text" or "json"; level: trace|debug|info|warn|error|off.
absl::Status ConfigureLogging(const std::string& format, const std::string& level);

// Escapes `s` for the inside of a JSON string.
std::string JsonEscape(absl::string_view s);

}  // namespace grid::server

#endif  // GRID_SERVER_OPS_LOGGING_H_
