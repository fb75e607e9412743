// google.protobuf.Timestamp <-> absl::Time: the one conversion. Exact to
// the nanosecond, also before 1970 (a Timestamp's nanos are never negative).
#ifndef GRID_STORAGE_PROTO_TIME_H_
#define GRID_STORAGE_PROTO_TIME_H_

#include <google/protobuf/timestamp.pb.h>

#include <cstdint>

#include "absl/time/time.h"

namespace grid {

inline google::protobuf::Timestamp ToProtoTime(absl::Time t) {
  google::protobuf::Timestamp ts;
  const int64_t s = absl::ToUnixSeconds(t);  // rounds toward the past
  ts.set_seconds(s);
  ts.set_nanos(static_cast<int32_t>(absl::ToInt64Nanoseconds(t - absl::FromUnixSeconds(s))));
  return ts;
}

// A Timestamp's two fields as decoded from the wire (the log's record
// reader reads them without building a message).
inline absl::Time FromProtoTime(int64_t seconds, int64_t nanos) {
  return absl::FromUnixSeconds(seconds) + absl::Nanoseconds(nanos);
}

inline absl::Time FromProtoTime(const google::protobuf::Timestamp& t) {
  return FromProtoTime(t.seconds(), t.nanos());
}

// Cut to the microsecond (toward the past): the precision of the times
// gridd records (recorded_at, checkpoint and audit times).
inline absl::Time ToMicros(absl::Time t) { return absl::FromUnixMicros(absl::ToUnixMicros(t)); }

}  // namespace grid

#endif  // GRID_STORAGE_PROTO_TIME_H_
