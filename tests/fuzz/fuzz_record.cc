// Fuzzes the on-disk record decoder and the chain verifier: arbitrary bytes
// as a stored wire record.
#include <cstdint>
#include <string>

#include "client/audit.h"
#include "client/client.h"
#include "storage/event_log.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string wire(reinterpret_cast<const char*>(data), size);
  (void)grid::storage::DecodeRecord(1, wire);
  grid::client::ChainVerifier v;
  (void)v.Add(wire);
  grid::v1::SignedCheckpoint cp;
  if (cp.ParseFromString(wire)) {
    grid::client::AuditVerifier a(1, grid::storage::kGenesisChain, std::string(32, '\x02'));
    (void)a.AddCheckpoint(cp);
  }
  return 0;
}
