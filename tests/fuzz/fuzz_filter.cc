// Fuzzes subscription filters: arbitrary bytes as a SubscribeRequest, its
// filter compiled and matched against a few records.
#include <cstdint>

#include "domain/rules.h"
#include "server/log/filter.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  grid::v1::SubscribeRequest req;
  if (!req.ParseFromArray(data, static_cast<int>(size))) return 0;
  auto filter = grid::server::EventFilter::Compile(req.filter());
  if (!filter.ok()) return 0;
  grid::storage::LogRecord r;
  for (const char* org : {"", "350583", "350583/101/203/g05", "350583/1010"}) {
    r.org_path = org;
    r.type = "GridDefined";
    r.stream = "org/350583";
    (void)filter->Matches(r);
    for (const auto& p : req.filter().org_prefixes()) {
      (void)grid::domain::IsUnder(org, p);
    }
  }
  return 0;
}
