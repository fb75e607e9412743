// Request validation on the write and read paths: pure functions, no I/O.
// Every refusal is INVALID_ARGUMENT (OUT_OF_RANGE for a start past the head)
// with a message naming the field.
#ifndef GRID_SERVER_LOG_VALIDATION_H_
#define GRID_SERVER_LOG_VALIDATION_H_

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grid/v1/log.pb.h"
#include "server/log/filter.h"
#include "storage/event_log.h"

namespace grid::server {

// How far a device's clock may run ahead of the server's.
inline constexpr absl::Duration kMaxClockAhead = absl::Minutes(10);

struct AppendLimits {
  size_t max_request_bytes = 1 << 20;  // serialized AppendRequest
  size_t max_events = 10000;
};

// The request's expected version, as the log checks it.
storage::Expected ExpectedOf(const grid::v1::AppendRequest& request);

// Checks appends and turns them into batches for the sequencer. Immutable
// and thread-safe.
class AppendValidator {
 public:
  // `domain_rules`: check events against the domain catalog's shape
  // (domain/rules.h): the stream fits the type, required fields, known enum
  // values; false only for tests of the log's own mechanics. `person_key`:
  // the secret key of person tokens; with it, an ID number sent in a
  // PersonRef becomes its person token before anything is stored
  // (redact.h); empty: ID numbers are refused.
  explicit AppendValidator(AppendLimits limits = {}, bool domain_rules = true, std::string person_key = "")
      : limits_(limits), domain_rules_(domain_rules), person_key_(std::move(person_key)) {}

  // Checks `request` and turns it into a batch (events with `stream` filled
  // in). `actor` goes into every event. `now` is the server's clock: an
  // `occurred_at` more than kMaxClockAhead after it is refused (a stream's
  // times never go back, so a device clock running ahead would hold every
  // later event of the stream back for good); InfiniteFuture: not checked.
  absl::StatusOr<storage::AppendBatch> Validate(const grid::v1::AppendRequest& request,
                                                const grid::v1::Actor& actor,
                                                absl::Time now = absl::InfiniteFuture()) const;

 private:
  AppendLimits limits_;
  bool domain_rules_;
  std::string person_key_;
};

// Read and Subscribe requests, before any storage is read: the source, the
// start, the batch sizes. `head` is the log's head (a subscription may not
// start after it).
inline constexpr size_t kMaxReadBatch = 1000;
absl::Status ValidateRead(const grid::v1::ReadRequest& request);
// ValidateSubscribe also compiles the request's filter: the batch limits,
// then the filter, then the start.
absl::StatusOr<EventFilter> ValidateSubscribe(const grid::v1::SubscribeRequest& request,
                                              storage::Position head);

// Syntax checks shared by requests and filters.
bool IsValidStreamName(std::string_view s);

}  // namespace grid::server

#endif  // GRID_SERVER_LOG_VALIDATION_H_
