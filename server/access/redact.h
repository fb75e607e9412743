// Personal data by the .proto's field options, generically by reflection:
// redaction of any message to a caller's clearance ((data_class), (mask)),
// small-count suppression for count-only callers ((small_count)), and person
// tokens (the keyed HMAC of an ID number that replaces it before storage).
//
// Pure functions; thread-safe.
#ifndef GRID_SERVER_ACCESS_REDACT_H_
#define GRID_SERVER_ACCESS_REDACT_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <google/protobuf/message.h>

#include "absl/status/status.h"
#include "grid/v1/event.pb.h"
#include "grid/v1/options.pb.h"

namespace grid::server {

// Fields whose class is above `clearance` are masked when they carry a
// (mask) and the caller is at least C1_INTERNAL, removed otherwise. A field
// without a class (map entries, oneof bodies) has the class of the field
// that holds it; a (class_from) field the class its sibling names. The dotted paths of what was masked or
// removed go to `changed` (may be null). Returns whether anything changed.
//
// A field with an (audience) is removed, whatever its class, unless that
// audience's bit (1 << Audience) is in `audiences`.
inline constexpr uint32_t kEveryAudience = ~0u;
bool Redact(google::protobuf::Message* m, grid::v1::DataClass clearance,
            std::vector<std::string>* changed = nullptr, uint32_t audiences = kEveryAudience);

// The fields Redact() would withhold from this caller that are unset in `m`
// (a zero count, an empty name): their dotted paths, as Redact() spells
// them. Served beside what Redact() cleared, so that a withheld zero reads as
// withheld, not as zero (which would tell a count-only caller that a C3 count
// is 0). Descends into set singular messages the caller may see.
void ListWithheldUnset(const google::protobuf::Message& m, grid::v1::DataClass clearance,
                       std::vector<std::string>* out, uint32_t audiences = kEveryAudience);

// Whether the message type can hold a field with an (audience), nested
// types included (cached per type).
bool RestrictsAudience(const google::protobuf::Descriptor* d);

// Where `m` holds a field its schema does not define (an unknown field):
// "household_created.head has field number 99, which grid.v1.PersonRef does
// not define", with `path` in front; nullopt when it holds none. Unknown
// fields have no data class, so they are refused at append and dropped from
// whatever is served.
std::optional<std::string> FindUnknownField(const google::protobuf::Message& m, const std::string& path = "");

// Where a string field that C0/C1 callers read and whose text the appender
// chooses (a note, a reason; an id or an org path, which become projection
// keys; not declared-class values, person tokens or hashes) holds what looks
// like an ID number (18 characters with a valid check digit) or a mainland
// mobile number: "findings[0].description looks like it holds an ID number".
// Appends refuse it: a person belongs in a PersonRef, whose fields are
// classed, never in free text or a key.
std::optional<std::string> FindPersonalInText(const google::protobuf::Message& m);

// The highest class of any field the message type can hold, nested types
// included (cached per type); C4_RESTRICTED for a type with a (class_from)
// field.
grid::v1::DataClass MaxClass(const google::protobuf::Descriptor* d);

// "张三丰" -> "张*"; "" stays "".
std::string MaskName(std::string_view name);
// "13812341234" -> "138****1234"; shorter than 8 characters: all "*".
std::string MaskPhone(std::string_view phone);

// Count-only view: (small_count) fields with a value from 1 to 4 are cleared
// and their names added to `suppressed`; where that leaves a single part of
// a (part_of) group withheld, the group's smallest shown part is withheld
// too (complementary suppression), so that subtraction recovers nothing.
// Returns whether anything was withheld.
bool SuppressSmallCounts(google::protobuf::Message* m, std::vector<std::string>* suppressed);
inline constexpr int64_t kMinShownCount = 5;

// Every PersonRef in the event's body with an `id_number`: checks it (18
// characters, GB 11643 check digit), sets `person_token` to PersonToken() of
// it (or checks that the one sent matches), and clears the number, so it is
// never stored. INVALID_ARGUMENT naming the field otherwise.
absl::Status TokenizePersons(grid::v1::Event* e, std::string_view key);

// "pt-" and the first 32 hex digits of HMAC-SHA256(key, normalized ID).
std::string PersonToken(std::string_view key, std::string_view normalized_id);

}  // namespace grid::server

#endif  // GRID_SERVER_ACCESS_REDACT_H_
