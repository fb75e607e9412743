// Fuzzes request decoding and validation: arbitrary bytes as an
// AppendRequest, then the append rules. Must never crash; a request that
// passes must be internally consistent.
#include <cstdint>
#include <cstdlib>

#include "server/log/validation.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  grid::v1::AppendRequest req;
  if (!req.ParseFromArray(data, static_cast<int>(size))) return 0;
  auto batch = grid::server::AppendValidator().Validate(req, grid::v1::Actor());
  if (batch.ok()) {
    if (batch->events.empty() || batch->stream != req.stream()) std::abort();
    for (const auto& e : batch->events) {
      if (e.stream() != req.stream() || e.position() != 0 || e.event_id().empty()) std::abort();
    }
  }
  return 0;
}
