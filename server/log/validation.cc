#include "server/log/validation.h"

#include "server/access/redact.h"

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "domain/rules.h"

namespace grid::server {
namespace {

constexpr size_t kMaxIdBytes = 128;
constexpr size_t kMaxStreamBytes = 256;
constexpr size_t kMaxOrgPathBytes = 256;
constexpr size_t kMaxDeviceIdBytes = 128;

bool IsIdChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
         c == ':' || c == '@' || c == '/' || c == '-';
}

// The name of the body message set in `e`, or "" when none is.
std::string BodyType(const grid::v1::Event& e) {
  const auto* oneof = grid::v1::Event::descriptor()->FindOneofByName("body");
  const auto* field = grid::v1::Event::GetReflection()->GetOneofFieldDescriptor(e, oneof);
  return field == nullptr ? "" : field->message_type()->name();
}

absl::Status EventError(size_t i, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat("events[", i, "]: ", what));
}

}  // namespace

bool IsValidStreamName(std::string_view s) {
  if (s.empty() || s.size() > kMaxStreamBytes) return false;
  for (char c : s) {
    if (c <= 0x20 || c >= 0x7F) return false;
  }
  return true;
}

storage::Expected ExpectedOf(const grid::v1::AppendRequest& request) {
  switch (request.expected_case()) {
    case grid::v1::AppendRequest::kNoStream:
      return {storage::Expected::kNoStream, 0};
    case grid::v1::AppendRequest::kStreamExists:
      return {storage::Expected::kStreamExists, 0};
    case grid::v1::AppendRequest::kExactVersion:
      return {storage::Expected::kExact, request.exact_version()};
    default:
      return {storage::Expected::kAny, 0};
  }
}

absl::StatusOr<storage::AppendBatch> AppendValidator::Validate(const grid::v1::AppendRequest& request,
                                                               const grid::v1::Actor& actor,
                                                               absl::Time now) const {
  const size_t bytes = request.ByteSizeLong();
  if (bytes > limits_.max_request_bytes) {
    return absl::InvalidArgumentError(absl::StrCat("append request is ", bytes, " bytes; the limit is ",
                                                   limits_.max_request_bytes,
                                                   " (server flag --max_append_bytes)"));
  }
  // Before anything reads a field: data the catalog does not define has no
  // class, so nothing could decide who may see it.
  if (auto unknown = FindUnknownField(request)) {
    return absl::InvalidArgumentError(
        absl::StrCat("append request: ", *unknown,
                     "; fields the catalog does not define have no data class and are refused"));
  }
  if (!IsValidStreamName(request.stream())) {
    return absl::InvalidArgumentError(
        absl::StrCat("stream must be 1..", kMaxStreamBytes,
                     " bytes of printable ASCII without spaces, e.g. \"household/h-3\"; got \"",
                     request.stream().substr(0, 64), "\""));
  }
  if (request.events().empty()) {
    return absl::InvalidArgumentError("append request has no events");
  }
  if (static_cast<size_t>(request.events_size()) > limits_.max_events) {
    return absl::InvalidArgumentError(absl::StrCat("append request has ", request.events_size(),
                                                   " events; the limit is ", limits_.max_events));
  }

  storage::AppendBatch batch;
  batch.stream = request.stream();
  batch.expected = ExpectedOf(request);
  batch.actor = actor;

  absl::flat_hash_set<std::string_view> ids;
  batch.events.reserve(request.events_size());
  for (size_t i = 0; i < static_cast<size_t>(request.events_size()); ++i) {
    const grid::v1::Event& e = request.events(static_cast<int>(i));
    const std::string& id = e.event_id();
    if (id.empty() || id.size() > kMaxIdBytes || !std::all_of(id.begin(), id.end(), IsIdChar)) {
      return EventError(
          i, absl::StrCat("event_id must be 1..", kMaxIdBytes, " characters of [A-Za-z0-9._:@/-]"));
    }
    if (!ids.insert(id).second) {
      return EventError(i, absl::StrCat("event_id '", id, "' appears twice in the request"));
    }
    if (!e.stream().empty() && e.stream() != request.stream()) {
      return EventError(i, absl::StrCat("stream '", e.stream().substr(0, 64),
                                        "' differs from the request's stream '", request.stream(), "'"));
    }
    if (e.type().empty()) return EventError(i, "type is required");
    const auto& known = domain::KnownEventTypes();
    if (std::find(known.begin(), known.end(), e.type()) == known.end()) {
      return EventError(i, absl::StrCat("unknown event type '", e.type().substr(0, 64),
                                        "'; known types: ", absl::StrJoin(known, ", ")));
    }
    const std::string body = BodyType(e);
    if (body != e.type()) {
      return EventError(i, body.empty() ? absl::StrCat("type is '", e.type(), "' but no body is set")
                                        : absl::StrCat("type is '", e.type(), "' but the body is a ", body));
    }
    if (!e.org_path().empty() && !domain::IsOrgPath(e.org_path())) {
      return EventError(i, absl::StrCat("org_path must be up to ", kMaxOrgPathBytes,
                                        " bytes of \"/\"-separated segments of "
                                        "[A-Za-z0-9_-], e.g. \"350583/101/203/g05\""));
    }
    if (e.has_occurred_at() && FromProtoTime(e.occurred_at()) > now + kMaxClockAhead) {
      return EventError(i, absl::StrCat("occurred_at ", domain::TimeText(FromProtoTime(e.occurred_at())),
                                        " is ahead of the server's clock (", domain::TimeText(now),
                                        ") by more than ", absl::FormatDuration(kMaxClockAhead),
                                        "; a stream's times never go back, so a clock running ahead "
                                        "would hold its later events back"));
    }
    if (e.device_id().size() > kMaxDeviceIdBytes) {
      return EventError(i, absl::StrCat("device_id is longer than ", kMaxDeviceIdBytes, " bytes"));
    }
    if (e.has_recorded_at() || e.position() != 0 || e.stream_version() != 0 || e.has_actor() ||
        !e.chain().empty()) {
      return EventError(i,
                        "recorded_at, position, stream_version, actor and "
                        "chain are set by the server; leave them unset");
    }
    grid::v1::Event copy = e;
    copy.set_stream(request.stream());
    if (!person_key_.empty()) {
      if (absl::Status s = TokenizePersons(&copy, person_key_); !s.ok()) {
        return EventError(i, absl::StrCat(e.type(), ": ", s.message()));
      }
    }
    if (auto personal = FindPersonalInText(copy)) {
      return EventError(i, absl::StrCat(e.type(), ": ", *personal,
                                        "; a person goes in a PersonRef (a person token, name "
                                        "and phone, each classed), never in a C1 text field"));
    }
    if (domain_rules_) {
      if (absl::Status s = domain::CheckShape(request.stream(), copy); !s.ok()) {
        return EventError(i, absl::StrCat(e.type(), ": ", s.message()));
      }
    }
    batch.events.push_back(std::move(copy));
  }
  return batch;
}

absl::Status ValidateRead(const grid::v1::ReadRequest& req) {
  if (req.batch_size() > kMaxReadBatch) {
    return absl::InvalidArgumentError(absl::StrCat("batch_size must be at most ", kMaxReadBatch));
  }
  switch (req.source_case()) {
    case grid::v1::ReadRequest::kStream:
      if (!IsValidStreamName(req.stream())) return absl::InvalidArgumentError("malformed stream name");
      if (req.has_from_position() || req.has_from_time()) {
        return absl::InvalidArgumentError(
            "a stream read starts from_version; from_position and from_time are for whole-log reads");
      }
      return absl::OkStatus();
    case grid::v1::ReadRequest::kAll:
      if (req.has_from_version()) {
        return absl::InvalidArgumentError(
            "a whole-log read starts from_position or from_time; from_version is for stream reads");
      }
      return absl::OkStatus();
    default:
      return absl::InvalidArgumentError("set `stream` (read one stream) or `all` (read the whole log)");
  }
}

absl::StatusOr<EventFilter> ValidateSubscribe(const grid::v1::SubscribeRequest& req, storage::Position head) {
  if (req.max_batch() > kMaxReadBatch || req.checkpoint_interval() > 1000000) {
    return absl::InvalidArgumentError(absl::StrCat("max_batch must be at most ", kMaxReadBatch,
                                                   " and checkpoint_interval at most 1000000"));
  }
  auto filter = EventFilter::Compile(req.filter());
  if (!filter.ok()) return filter.status();
  if (req.from_case() == grid::v1::SubscribeRequest::kAfterPosition && req.after_position() > head) {
    return absl::OutOfRangeError(
        absl::StrCat("after_position ", req.after_position(), " is past the head of the log (", head, ")"));
  }
  return filter;
}

}  // namespace grid::server
