// Request validation on the write and read paths: pure functions, no I/O.
// Every refusal is INVALID_ARGUMENT with a message naming the field.
#ifndef GRID_SERVER_VALIDATION_H_
#define GRID_SERVER_VALIDATION_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "grid/v1/log.pb.h"
#include "storage/event_log.h"

namespace grid::server {

struct AppendLimits {
  size_t max_request_bytes = 1 << 20;  // serialized AppendRequest
  size_t max_events = 10000;
  // Check events against the domain catalog's shape (domain/rules.h): the
  // stream fits the type, required fields, known enum values. Off only for
  // tests of the log's own mechanics.
  bool domain_rules = true;
  // Secret key of person tokens: with it, an ID number sent in a PersonRef
  // becomes its person token before anything is stored (redact.h). Empty:
  // ID numbers are refused.
  std::string person_key;
};

// Every event type of the catalog: the message names in Event's `body` oneof.
const std::vector<std::string>& KnownEventTypes();

// Checks `request` and turns it into a batch for the sequencer (events with
// `stream` filled in). `actor` goes into every event.
absl::StatusOr<storage::AppendBatch> ValidateAppend(
    const grid::v1::AppendRequest& request, const AppendLimits& limits,
    const grid::v1::Actor& actor);

// Syntax checks shared by requests and filters.
bool IsValidStreamName(std::string_view s);
bool IsValidOrgPath(std::string_view s);

}  // namespace grid::server

#endif  // GRID_SERVER_VALIDATION_H_
