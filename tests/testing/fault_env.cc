#include "tests/testing/fault_env.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace grid::testing {
namespace {

std::string DirOf(const std::string& f) {
  const size_t slash = f.rfind('/');
  return slash == std::string::npos ? "" : f.substr(0, slash);
}

// Appends and syncs reach the wrapped file one at a time, so that a sync
// concurrent with appends (DB::SyncWAL while the next group is written)
// records exactly the bytes the file held when it synced, whatever the
// wrapped file allows.
class FaultFile : public rocksdb::WritableFile {
 public:
  FaultFile(std::unique_ptr<rocksdb::WritableFile> base, FaultInjectionEnv* env, std::string name)
      : base_(std::move(base)), env_(env), name_(std::move(name)) {}
  using rocksdb::WritableFile::Append;
  rocksdb::Status Append(const rocksdb::Slice& data) override {
    rocksdb::Status s = env_->Check(FaultInjectionEnv::kWrite, name_);
    if (!s.ok()) return s;
    grid::MutexLock l(&io_);
    s = base_->Append(data);
    if (s.ok()) env_->OnAppend(name_, data.size());
    return s;
  }
  rocksdb::Status Close() override {
    grid::MutexLock l(&io_);
    return base_->Close();
  }
  rocksdb::Status Flush() override {
    grid::MutexLock l(&io_);
    return base_->Flush();
  }
  rocksdb::Status Sync() override {
    rocksdb::Status s = env_->Check(FaultInjectionEnv::kSync, name_);
    if (!s.ok()) return s;
    grid::MutexLock l(&io_);
    s = base_->Sync();
    if (s.ok()) env_->OnSync(name_);
    return s;
  }
  rocksdb::Status Fsync() override { return Sync(); }
  // Not a durability point: RocksDB uses it only to smooth write-back.
  rocksdb::Status RangeSync(uint64_t offset, uint64_t nbytes) override {
    grid::MutexLock l(&io_);
    return base_->RangeSync(offset, nbytes);
  }
  uint64_t GetFileSize() override {
    grid::MutexLock l(&io_);
    return base_->GetFileSize();
  }
  rocksdb::Status Truncate(uint64_t size) override {
    grid::MutexLock l(&io_);
    return base_->Truncate(size);
  }
  bool IsSyncThreadSafe() const override { return env_->sync_thread_safe(); }
  void SetPreallocationBlockSize(size_t size) override { base_->SetPreallocationBlockSize(size); }
  void PrepareWrite(size_t offset, size_t len) override {
    grid::MutexLock l(&io_);
    base_->PrepareWrite(offset, len);
  }
  rocksdb::Status Allocate(uint64_t offset, uint64_t len) override {
    grid::MutexLock l(&io_);
    return base_->Allocate(offset, len);
  }

 private:
  grid::Mutex io_;
  std::unique_ptr<rocksdb::WritableFile> base_;
  FaultInjectionEnv* env_;
  const std::string name_;
};

class FaultDirectory : public rocksdb::Directory {
 public:
  FaultDirectory(std::unique_ptr<rocksdb::Directory> base, FaultInjectionEnv* env, std::string name)
      : base_(std::move(base)), env_(env), name_(std::move(name)) {}
  rocksdb::Status Fsync() override {
    rocksdb::Status s = env_->Check(FaultInjectionEnv::kDirSync, name_);
    if (!s.ok()) return s;
    s = base_->Fsync();
    if (s.ok()) env_->OnDirSync(name_);
    return s;
  }
  rocksdb::Status Close() override { return base_->Close(); }

 private:
  std::unique_ptr<rocksdb::Directory> base_;
  FaultInjectionEnv* env_;
  const std::string name_;
};

}  // namespace

FaultInjectionEnv::FaultInjectionEnv(rocksdb::Env* base, uint64_t seed)
    : rocksdb::EnvWrapper(base), rng_(seed) {}

void FaultInjectionEnv::AddRule(Rule rule) {
  grid::MutexLock l(&mu_);
  rules_.push_back(std::move(rule));
  rule_hits_.push_back(0);
}

void FaultInjectionEnv::ClearRules() {
  grid::MutexLock l(&mu_);
  rules_.clear();
  rule_hits_.clear();
}

void FaultInjectionEnv::CutPowerAfter(Op op, uint64_t n) {
  grid::MutexLock l(&mu_);
  cut_op_ = op;
  cut_at_ = n == 0 ? 0 : counts_[op] + n;
}

void FaultInjectionEnv::SetActive(bool active) {
  grid::MutexLock l(&mu_);
  active_ = active;
}

bool FaultInjectionEnv::active() const {
  grid::MutexLock l(&mu_);
  return active_;
}

uint64_t FaultInjectionEnv::injected_failures() const {
  grid::MutexLock l(&mu_);
  return injected_;
}

uint64_t FaultInjectionEnv::count(Op op) const {
  grid::MutexLock l(&mu_);
  return counts_[op];
}

void FaultInjectionEnv::Hold(Op op, std::string pattern) {
  grid::MutexLock l(&mu_);
  hold_ = true;
  hold_op_ = op;
  hold_pattern_ = std::move(pattern);
}

void FaultInjectionEnv::Release() {
  grid::MutexLock l(&mu_);
  hold_ = false;
  released_.SignalAll();
}

int FaultInjectionEnv::held_writes() const {
  grid::MutexLock l(&mu_);
  return held_;
}

bool FaultInjectionEnv::AwaitHeld(int n, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  grid::MutexLock l(&mu_);
  while (held_ < n) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return false;
    changed_.WaitFor(&mu_, left);
  }
  return true;
}

uint64_t FaultInjectionEnv::OpsLocked(Op op, const std::string& pattern) const {
  uint64_t n = 0;
  for (const auto& [name, counts] : ops_) {
    if (name.find(pattern) != std::string::npos) n += counts[op];
  }
  return n;
}

uint64_t FaultInjectionEnv::ops(Op op, const std::string& pattern) const {
  grid::MutexLock l(&mu_);
  return OpsLocked(op, pattern);
}

bool FaultInjectionEnv::AwaitOps(Op op, const std::string& pattern, uint64_t n, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  grid::MutexLock l(&mu_);
  while (OpsLocked(op, pattern) < n) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return false;
    changed_.WaitFor(&mu_, left);
  }
  return true;
}

rocksdb::Status FaultInjectionEnv::Check(Op op, const std::string& name) {
  grid::MutexLock l(&mu_);
  if (hold_ && op == hold_op_ && name.find(hold_pattern_) != std::string::npos) {
    ++held_;
    changed_.SignalAll();
    while (hold_) released_.Wait(&mu_);
    --held_;
  }
  if (!active_) return rocksdb::Status::IOError("power is off", name);
  ++counts_[op];
  auto [it, added] = ops_.try_emplace(name);
  if (added) it->second.fill(0);
  ++it->second[op];
  changed_.SignalAll();
  if (cut_at_ != 0 && op == cut_op_ && counts_[op] >= cut_at_) {
    active_ = false;
    cut_at_ = 0;
    return rocksdb::Status::IOError("power cut", name);
  }
  for (size_t i = 0; i < rules_.size(); ++i) {
    const Rule& r = rules_[i];
    if (r.op != op || name.find(r.pattern) == std::string::npos) continue;
    const uint64_t hit = ++rule_hits_[i];
    const bool fail =
        (r.nth != 0 && hit == r.nth) || (r.every != 0 && hit % r.every == 0) ||
        (r.probability > 0 && std::uniform_real_distribution<double>(0, 1)(rng_) < r.probability);
    if (fail) {
      ++injected_;
      return rocksdb::Status::IOError(absl::StrCat("injected fault, op ", op), name);
    }
  }
  return rocksdb::Status::OK();
}

void FaultInjectionEnv::OnAppend(const std::string& name, uint64_t n) {
  grid::MutexLock l(&mu_);
  files_[name].size += n;
}

void FaultInjectionEnv::OnSync(const std::string& name) {
  grid::MutexLock l(&mu_);
  FileState& f = files_[name];
  f.synced = f.size;
}

void FaultInjectionEnv::OnDirSync(const std::string& dir) {
  grid::MutexLock l(&mu_);
  for (auto& [name, f] : files_) {
    if (DirOf(name) == dir) f.dir_synced = true;
  }
}

rocksdb::Status FaultInjectionEnv::WrapNew(const std::string& f, std::unique_ptr<rocksdb::WritableFile>* r,
                                           bool existed) {
  r->reset(new FaultFile(std::move(*r), this, f));
  grid::MutexLock l(&mu_);
  FileState& st = files_[f];
  st = FileState();
  st.dir_synced = existed;
  return rocksdb::Status::OK();
}

rocksdb::Status FaultInjectionEnv::NewWritableFile(const std::string& f,
                                                   std::unique_ptr<rocksdb::WritableFile>* r,
                                                   const rocksdb::EnvOptions& o) {
  rocksdb::Status s = Check(kCreate, f);
  if (!s.ok()) return s;
  const bool existed = target()->FileExists(f).ok();
  s = target()->NewWritableFile(f, r, o);
  if (!s.ok()) return s;
  return WrapNew(f, r, existed);
}

rocksdb::Status FaultInjectionEnv::ReopenWritableFile(const std::string& f,
                                                      std::unique_ptr<rocksdb::WritableFile>* r,
                                                      const rocksdb::EnvOptions& o) {
  rocksdb::Status s = Check(kCreate, f);
  if (!s.ok()) return s;
  uint64_t size = 0;
  const bool existed = target()->GetFileSize(f, &size).ok();
  s = target()->ReopenWritableFile(f, r, o);
  if (!s.ok()) return s;
  r->reset(new FaultFile(std::move(*r), this, f));
  grid::MutexLock l(&mu_);
  auto [it, inserted] = files_.try_emplace(f);
  if (inserted) {
    it->second.size = it->second.synced = size;
    it->second.dir_synced = existed;
  }
  return rocksdb::Status::OK();
}

rocksdb::Status FaultInjectionEnv::NewDirectory(const std::string& name,
                                                std::unique_ptr<rocksdb::Directory>* r) {
  rocksdb::Status s = target()->NewDirectory(name, r);
  if (!s.ok()) return s;
  std::string dir = name;
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  r->reset(new FaultDirectory(std::move(*r), this, dir));
  return rocksdb::Status::OK();
}

rocksdb::Status FaultInjectionEnv::RenameFile(const std::string& src, const std::string& dst) {
  rocksdb::Status s = Check(kRename, dst);
  if (!s.ok()) return s;
  s = target()->RenameFile(src, dst);
  if (!s.ok()) return s;
  grid::MutexLock l(&mu_);
  // A rename is modelled as durable at once (the old name's content must
  // already be synced, which RocksDB does before renaming CURRENT).
  auto it = files_.find(src);
  if (it != files_.end()) {
    FileState st = it->second;
    st.dir_synced = true;
    files_.erase(it);
    files_[dst] = st;
  } else {
    files_.erase(dst);
  }
  return rocksdb::Status::OK();
}

rocksdb::Status FaultInjectionEnv::DeleteFile(const std::string& f) {
  {
    grid::MutexLock l(&mu_);
    if (!active_) return rocksdb::Status::IOError("power is off", f);
  }
  rocksdb::Status s = target()->DeleteFile(f);
  if (s.ok()) {
    grid::MutexLock l(&mu_);
    files_.erase(f);
  }
  return s;
}

rocksdb::Status FaultInjectionEnv::DropUnsyncedData() {
  std::map<std::string, FileState> files;
  {
    grid::MutexLock l(&mu_);
    files.swap(files_);
  }
  for (const auto& [name, st] : files) {
    if (!target()->FileExists(name).ok()) continue;
    if (!st.dir_synced) {
      rocksdb::Status s = target()->DeleteFile(name);
      if (!s.ok()) return s;
      continue;
    }
    uint64_t size = 0;
    rocksdb::Status s = target()->GetFileSize(name, &size);
    if (!s.ok()) return s;
    if (size <= st.synced) continue;
    // Keep the synced prefix: read it, rewrite the file with only that.
    std::string keep;
    {
      std::unique_ptr<rocksdb::SequentialFile> in;
      s = target()->NewSequentialFile(name, &in, rocksdb::EnvOptions());
      if (!s.ok()) return s;
      keep.resize(st.synced);
      rocksdb::Slice got;
      s = in->Read(st.synced, &got, keep.data());
      if (!s.ok()) return s;
      keep.assign(got.data(), got.size());
    }
    std::unique_ptr<rocksdb::WritableFile> out;
    s = target()->NewWritableFile(name, &out, rocksdb::EnvOptions());
    if (!s.ok()) return s;
    s = out->Append(keep);
    if (s.ok()) s = out->Sync();
    if (s.ok()) s = out->Close();
    if (!s.ok()) return s;
  }
  return rocksdb::Status::OK();
}

}  // namespace grid::testing
