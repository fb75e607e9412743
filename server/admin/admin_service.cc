#include "server/admin/admin_service.h"

#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include <spdlog/spdlog.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "storage/proto_time.h"

namespace grid::server {
namespace {

namespace fs = std::filesystem;

constexpr char kStagingPrefix[] = ".backup-";
constexpr size_t kChunkBytes = 1 << 20;

// RocksDB's lock and info-log files are not data.
bool IsDataFile(const fs::path& p) {
  const std::string name = p.filename().string();
  return name != "LOCK" && !absl::StartsWith(name, "LOG");
}

class BackupWriter final : public ServiceWriter<grid::v1::BackupChunk> {
 public:
  BackupWriter(ServiceContext* env, const storage::ProjectionStore* projections,
               const storage::EventLogOptions& log_options, const std::string& data_dir)
      : ServiceWriter<grid::v1::BackupChunk>(env, env->tail),
        projections_(projections),
        log_options_(log_options),
        data_dir_(data_dir) {}

  ~BackupWriter() override {
    if (!staging_.empty()) {
      std::error_code ec;
      fs::remove_all(staging_, ec);
    }
  }

 private:
  Step Next() override {
    Step step;
    if (staging_.empty()) {
      if (absl::Status s = Stage(); !s.ok()) {
        spdlog::error("backup failed: {}", s.ToString());
        step.status = ToGrpc(s);
        return step;
      }
    }
    if (next_file_ < files_.size()) {
      if (absl::Status s = ReadChunk(&step.message); !s.ok()) {
        step.status = ToGrpc(s);
        return step;
      }
      step.kind = Step::kWrite;
      return step;
    }
    if (!manifest_sent_) {
      manifest_sent_ = true;
      *step.message.mutable_manifest() = manifest_;
      step.kind = Step::kWrite;
      spdlog::info("backup of the log through position {} sent ({} files)", manifest_.head_position(),
                   manifest_.files_size());
      return step;
    }
    step.status = grpc::Status::OK;
    return step;
  }

  // Checkpoints the projections, then the log, into a staging folder, and
  // opens the log's copy to learn its head (which also proves it opens).
  absl::Status Stage() {
    std::string tmpl = absl::StrCat(data_dir_, "/", kStagingPrefix, "XXXXXX");
    if (mkdtemp(tmpl.data()) == nullptr) {
      return absl::UnavailableError(absl::StrCat("cannot create a staging folder in ", data_dir_));
    }
    staging_ = tmpl;
    if (absl::Status s = projections_->Backup(staging_ + "/projections"); !s.ok()) return s;
    if (absl::Status s = env_->log->Backup(staging_ + "/log"); !s.ok()) return s;
    {
      storage::EventLogOptions options = log_options_;
      options.create_if_missing = false;
      auto copy = storage::EventLog::Open(options, staging_ + "/log");
      if (!copy.ok()) {
        return absl::InternalError(
            absl::StrCat("the log's checkpoint does not open: ", copy.status().message()));
      }
      const storage::Head head = (*copy)->GetHead();
      manifest_.set_format_version(1);
      manifest_.set_head_position(head.position);
      manifest_.set_chain_head(head.chain.data(), head.chain.size());
    }
    *manifest_.mutable_taken_at() = ToProtoTime(ToMicros(absl::Now()));
    std::error_code ec;
    for (const auto& entry : fs::recursive_directory_iterator(staging_, ec)) {
      if (entry.is_regular_file() && IsDataFile(entry.path())) {
        files_.push_back(fs::relative(entry.path(), staging_).string());
        total_bytes_ += entry.file_size();
      }
    }
    if (ec) return absl::UnavailableError(absl::StrCat("listing the backup: ", ec.message()));
    std::sort(files_.begin(), files_.end());
    return absl::OkStatus();
  }

  absl::Status ReadChunk(grid::v1::BackupChunk* chunk) {
    const std::string& rel = files_[next_file_];
    if (!in_.is_open()) {
      in_.open(staging_ + "/" + rel, std::ios::binary);
      if (!in_) return absl::UnavailableError(absl::StrCat("cannot read ", rel));
      offset_ = 0;
    }
    std::string data(kChunkBytes, '\0');
    in_.read(data.data(), static_cast<std::streamsize>(data.size()));
    data.resize(static_cast<size_t>(in_.gcount()));
    if (in_.bad()) return absl::UnavailableError(absl::StrCat("cannot read ", rel));
    hash_.Update(data);
    if (next_file_ == 0 && offset_ == 0) chunk->set_total_bytes(total_bytes_);
    chunk->set_path(rel);
    chunk->set_offset(offset_);
    offset_ += data.size();
    *chunk->mutable_data() = std::move(data);
    if (in_.eof()) {
      in_.close();
      auto* f = manifest_.add_files();
      f->set_path(rel);
      f->set_size(offset_);
      f->set_sha256_hex(storage::ToHex(hash_.Finish()));
      ++next_file_;
    }
    return absl::OkStatus();
  }

  const storage::ProjectionStore* const projections_;
  const storage::EventLogOptions log_options_;
  const std::string data_dir_;
  std::string staging_;
  std::vector<std::string> files_;
  size_t next_file_ = 0;
  std::ifstream in_;
  uint64_t offset_ = 0;
  uint64_t total_bytes_ = 0;
  storage::Sha256Stream hash_;
  grid::v1::BackupManifest manifest_;
  bool manifest_sent_ = false;
};

}  // namespace

AdminService::AdminService(ServiceContext* env, const storage::ProjectionStore* projections,
                           storage::EventLogOptions log_options, std::string data_dir)
    : env_(env),
      projections_(projections),
      log_options_(std::move(log_options)),
      data_dir_(std::move(data_dir)) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(data_dir_, ec)) {
    if (entry.is_directory() && absl::StartsWith(entry.path().filename().string(), kStagingPrefix)) {
      fs::remove_all(entry.path(), ec);
    }
  }
}

namespace {

// Streams the access audit from `from_seq` to its end, in order.
class AuditWriter final : public ServiceWriter<grid::v1::ReadAuditResponse> {
 public:
  AuditWriter(ServiceContext* env, grid::v1::ReadAuditRequest req)
      : ServiceWriter<grid::v1::ReadAuditResponse>(env, env->tail),
        req_(std::move(req)),
        next_(req_.from_seq()),
        remaining_(req_.max_count() == 0 ? UINT64_MAX : req_.max_count()) {}

 private:
  static constexpr int kPerMessage = 256;
  static constexpr int kScanPerStep = 4096;

  // Records of calls that reached outside the auditor's jurisdiction (their
  // scopes name other towns' streams and keys) are not shown.
  bool Visible(const grid::v1::AuditRecord& r) const {
    const Principal& p = access_->principal();
    if (p.everywhere()) return true;
    if (r.org_paths().empty()) return false;
    for (const auto& o : r.org_paths()) {
      if (!p.Sees(o)) return false;
    }
    return true;
  }

  Step Next() override {
    Step step;
    int scanned = 0;
    bool end = true;
    absl::Status s = env_->access->audit()->Scan(next_, [&](const grid::v1::AuditRecord& r) {
      if (remaining_ == 0) return false;
      if (step.message.records_size() >= kPerMessage || scanned >= kScanPerStep) {
        end = false;
        return false;
      }
      ++scanned;
      next_ = r.seq() + 1;
      if ((req_.principal().empty() || r.principal() == req_.principal()) && Visible(r)) {
        *step.message.add_records() = r;
        --remaining_;
      }
      return true;
    });
    if (!s.ok()) {
      step.status = ToGrpc(s);
      return step;
    }
    if (step.message.records_size() == 0 && (end || remaining_ == 0)) {
      step.status = grpc::Status::OK;
      return step;
    }
    access_->AddItems(step.message.records_size());
    step.kind = Step::kWrite;
    return step;
  }

  const grid::v1::ReadAuditRequest req_;
  uint64_t next_;
  uint64_t remaining_;
};

}  // namespace

grpc::ServerWriteReactor<grid::v1::BackupChunk>* AdminService::Backup(grpc::CallbackServerContext* ctx,
                                                                      const grid::v1::BackupRequest*) {
  auto call = BeginCall(env_, ctx, Rpc::kBackup, "");
  if (!call.ok()) return new FailedStream<grid::v1::BackupChunk>(call.status());
  auto* w = new BackupWriter(env_, projections_, log_options_, data_dir_);
  StartAfterIntent(w, *std::move(call));  // once the intent is stored (synced)
  return w;
}

grpc::ServerWriteReactor<grid::v1::ReadAuditResponse>* AdminService::ReadAudit(
    grpc::CallbackServerContext* ctx, const grid::v1::ReadAuditRequest* request) {
  auto call = BeginCall(
      env_, ctx, Rpc::kReadAudit,
      absl::StrCat("from_seq=", request->from_seq(),
                   request->principal().empty() ? "" : " principal=", request->principal().substr(0, 128)));
  if (!call.ok()) return new FailedStream<grid::v1::ReadAuditResponse>(call.status());
  auto* w = new AuditWriter(env_, *request);
  w->Start(*std::move(call));
  return w;
}

}  // namespace grid::server
