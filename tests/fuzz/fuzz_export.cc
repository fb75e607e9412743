// Fuzzes export-file parsing and the verifier: arbitrary bytes as an export
// file, verified with and without a public key.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <string>

#include "client/audit.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = "/tmp/gridlog-fuzz-export-" + std::to_string(getpid());
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return 0;
  std::fwrite(data, 1, size, f);
  std::fclose(f);
  (void)grid::client::VerifyExport(path, std::nullopt);
  (void)grid::client::VerifyExport(path, std::string(32, '\x01'));
  return 0;
}
