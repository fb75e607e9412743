// Client side of backup and restore (gridctl admin backup / restore).
//
// A backup folder holds the server's files as it sent them — log/… (the
// event log's RocksDB files) and projections/… — and MANIFEST.json, the
// grid.v1.BackupManifest in protobuf's JSON mapping: the head position and
// chain head the log ends at, and every file's size and SHA-256.
//
// Both operations build their result under "<target>.partial" and rename
// it into place at the end, so a target that exists is always complete.
#ifndef GRID_CLIENT_BACKUP_H_
#define GRID_CLIENT_BACKUP_H_

#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "client/client.h"
#include "grid/v1/admin.pb.h"

namespace grid::client {

// Progress: bytes done of the total (0 while unknown).
using BackupProgress = std::function<void(uint64_t done, uint64_t total)>;

// Takes a backup from the server into the new folder `dir` and checks every
// file against the manifest. FAILED_PRECONDITION if `dir` exists.
absl::StatusOr<grid::v1::BackupManifest> WriteBackup(Client& client, const std::string& dir,
                                                     const BackupProgress& progress = {});

// Checks the backup in `backup_dir` against its manifest (sizes and SHA-256
// of every file, no file missing or extra) and lays it out as gridd's data
// folder `data_dir`, which must not exist or be empty. The restored server
// opens at the manifest's head; its projections catch up by themselves.
absl::StatusOr<grid::v1::BackupManifest> RestoreBackup(const std::string& backup_dir,
                                                       const std::string& data_dir,
                                                       const BackupProgress& progress = {});

}  // namespace grid::client

#endif  // GRID_CLIENT_BACKUP_H_
