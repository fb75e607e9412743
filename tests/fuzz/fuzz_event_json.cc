// Fuzzes JSON import (gridctl append): arbitrary text as an event.
#include <cstdint>
#include <string_view>

#include "client/json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto e = grid::client::EventFromJson(std::string_view(reinterpret_cast<const char*>(data), size));
  if (e.ok()) (void)grid::client::EventToJson(*e);
  return 0;
}
