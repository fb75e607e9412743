#include "client/backup.h"

#include <google/protobuf/util/json_util.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace grid::client {
namespace {

namespace fs = std::filesystem;

constexpr char kManifest[] = "MANIFEST.json";

// A relative path the server may name: under log/ or projections/, no "..".
bool SafePath(const std::string& p) {
  if (!absl::StartsWith(p, "log/") && !absl::StartsWith(p, "projections/")) return false;
  for (const auto& part : fs::path(p)) {
    if (part == ".." || part == ".") return false;
  }
  return true;
}

absl::Status IoError(const std::string& what, const std::error_code& ec) {
  return absl::UnavailableError(absl::StrCat(what, ": ", ec.message()));
}

// Hashes a file; its size in `size`.
absl::StatusOr<std::string> HashFile(const fs::path& p, uint64_t* size,
                                     const std::function<void(uint64_t)>& on_bytes) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("missing file ", p.string()));
  storage::Sha256Stream hash;
  std::string buf(1 << 20, '\0');
  *size = 0;
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    const auto n = static_cast<size_t>(in.gcount());
    hash.Update(std::string_view(buf.data(), n));
    *size += n;
    if (on_bytes) on_bytes(n);
  }
  if (in.bad()) return absl::UnavailableError(absl::StrCat("cannot read ", p.string()));
  return storage::ToHex(hash.Finish());
}

// Every file of `m` is in `root` with its size and hash, and nothing else is.
absl::Status CheckFiles(const fs::path& root, const grid::v1::BackupManifest& m,
                        const BackupProgress& progress) {
  uint64_t total = 0, done = 0;
  for (const auto& f : m.files()) total += f.size();
  std::map<std::string, const grid::v1::BackupFile*> want;
  for (const auto& f : m.files()) {
    if (!SafePath(f.path())) {
      return absl::DataLossError(absl::StrCat("manifest names a bad path: ", f.path()));
    }
    want[f.path()] = &f;
  }
  std::error_code ec;
  for (const auto& entry : fs::recursive_directory_iterator(root, ec)) {
    if (!entry.is_regular_file()) continue;
    const std::string rel = fs::relative(entry.path(), root).string();
    if (rel == kManifest) continue;
    if (!want.contains(rel)) {
      return absl::DataLossError(absl::StrCat("file not in the manifest: ", rel));
    }
  }
  if (ec) return IoError("listing " + root.string(), ec);
  for (const auto& [rel, f] : want) {
    uint64_t size = 0;
    auto hash = HashFile(root / rel, &size, [&](uint64_t n) {
      done += n;
      if (progress) progress(done, total);
    });
    if (!hash.ok()) return absl::DataLossError(hash.status().message());
    if (size != f->size() || *hash != f->sha256_hex()) {
      return absl::DataLossError(
          absl::StrCat(rel, " does not match the manifest (size ", size, ", expected ", f->size(), ")"));
    }
  }
  return absl::OkStatus();
}

absl::Status Fresh(const fs::path& p) {
  std::error_code ec;
  if (fs::exists(p, ec) && !(fs::is_directory(p, ec) && fs::is_empty(p, ec))) {
    return absl::FailedPreconditionError(
        absl::StrCat(p.string(), " already exists and is not empty; choose a new folder"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<grid::v1::BackupManifest> WriteBackup(Client& client, const std::string& dir,
                                                     const BackupProgress& progress) {
  const fs::path target(dir);
  if (fs::exists(target)) {
    return absl::FailedPreconditionError(absl::StrCat(dir, " already exists; choose a new folder"));
  }
  const fs::path partial = target.string() + ".partial";
  std::error_code ec;
  fs::remove_all(partial, ec);
  if (!fs::create_directories(partial, ec)) return IoError("creating " + partial.string(), ec);

  grid::v1::BackupManifest manifest;
  bool have_manifest = false;
  std::ofstream out;
  std::string current;
  uint64_t expected_offset = 0, total = 0, done = 0;
  absl::Status local = absl::OkStatus();
  absl::Status call = client.Backup([&](const grid::v1::BackupChunk& c) {
    if (c.has_manifest()) {
      manifest = c.manifest();
      have_manifest = true;
      return true;
    }
    if (c.total_bytes() > 0) total = c.total_bytes();
    if (!SafePath(c.path())) {
      local = absl::DataLossError(absl::StrCat("the server sent a bad path: ", c.path()));
      return false;
    }
    if (c.path() != current) {
      out.close();
      current = c.path();
      expected_offset = 0;
      fs::create_directories((partial / current).parent_path(), ec);
      out.open(partial / current, std::ios::binary | std::ios::trunc);
      if (!out) {
        local = absl::UnavailableError(absl::StrCat("cannot write ", (partial / current).string()));
        return false;
      }
    }
    if (c.offset() != expected_offset) {
      local = absl::DataLossError(
          absl::StrCat(current, ": chunk at offset ", c.offset(), ", expected ", expected_offset));
      return false;
    }
    out.write(c.data().data(), static_cast<std::streamsize>(c.data().size()));
    expected_offset += c.data().size();
    done += c.data().size();
    if (progress) progress(done, total);
    return true;
  });
  out.close();
  if (!local.ok()) return local;
  if (!call.ok()) return call;
  if (!have_manifest) return absl::DataLossError("the backup stream ended without its manifest");
  if (absl::Status s = CheckFiles(partial, manifest, {}); !s.ok()) return s;
  google::protobuf::util::JsonPrintOptions json;
  json.add_whitespace = true;
  json.preserve_proto_field_names = true;
  std::string text;
  (void)google::protobuf::util::MessageToJsonString(manifest, &text, json);
  std::ofstream(partial / kManifest) << text;
  fs::rename(partial, target, ec);
  if (ec) return IoError("renaming " + partial.string(), ec);
  return manifest;
}

absl::StatusOr<grid::v1::BackupManifest> RestoreBackup(const std::string& backup_dir,
                                                       const std::string& data_dir,
                                                       const BackupProgress& progress) {
  const fs::path from(backup_dir), to(data_dir);
  std::ifstream in(from / kManifest);
  if (!in) {
    return absl::NotFoundError(
        absl::StrCat(backup_dir, " has no ", kManifest, ": not a gridlog backup (gridctl admin backup)"));
  }
  std::stringstream text;
  text << in.rdbuf();
  grid::v1::BackupManifest manifest;
  if (!google::protobuf::util::JsonStringToMessage(text.str(), &manifest).ok() ||
      manifest.format_version() != 1) {
    return absl::DataLossError(absl::StrCat(kManifest, " in ", backup_dir, " is not readable"));
  }
  if (absl::Status s = Fresh(to); !s.ok()) return s;
  if (absl::Status s = CheckFiles(from, manifest, progress); !s.ok()) return s;
  // log/X -> DATA/X, projections/X -> DATA/projections/X.
  const fs::path partial = to.string() + ".partial";
  std::error_code ec;
  fs::remove_all(partial, ec);
  for (const auto& f : manifest.files()) {
    const fs::path rel(f.path());
    const fs::path dest =
        absl::StartsWith(f.path(), "log/") ? partial / fs::relative(rel, "log") : partial / rel;
    fs::create_directories(dest.parent_path(), ec);
    if (ec) return IoError("creating " + dest.parent_path().string(), ec);
    fs::copy_file(from / rel, dest, ec);
    if (ec) return IoError("copying " + f.path(), ec);
  }
  ::sync();            // the restored files are on disk before the folder appears
  fs::remove(to, ec);  // an empty folder given as the target
  fs::rename(partial, to, ec);
  if (ec) return IoError("renaming " + partial.string(), ec);
  return manifest;
}

}  // namespace grid::client
