// Shared by the RocksDB-backed stores (storage/ only).
#ifndef GRID_STORAGE_ROCKS_STATUS_H_
#define GRID_STORAGE_ROCKS_STATUS_H_

#include <rocksdb/status.h>

#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace grid::storage {

// The storage edge translator: rocksdb::Status -> absl::Status.
// Corruption -> DATA_LOSS; I/O errors, a full disk and a DB in background
// error -> UNAVAILABLE; the rest -> INTERNAL.
inline absl::Status FromRocks(const rocksdb::Status& s, std::string_view what) {
  if (s.ok()) return absl::OkStatus();
  std::string msg = absl::StrCat(absl::string_view(what.data(), what.size()), ": ", s.ToString());
  if (s.IsCorruption()) return absl::DataLossError(msg);
  if (s.IsIOError() || s.IsNoSpace() || s.IsBusy() || s.IsTimedOut() ||
      s.IsAborted() || s.IsShutdownInProgress()) {
    return absl::UnavailableError(msg);
  }
  if (s.IsNotFound()) return absl::NotFoundError(msg);
  return absl::InternalError(msg);
}

}  // namespace grid::storage

#endif  // GRID_STORAGE_ROCKS_STATUS_H_
