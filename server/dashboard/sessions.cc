#include "server/dashboard/sessions.h"

#include <fcntl.h>
#include <openssl/rand.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "storage/record.h"

namespace grid::server {
namespace {

constexpr char kVersion[] = "gridlog-sessions-v1";

std::string HashOf(std::string_view secret) { return storage::ToHex(storage::Sha256(secret)); }

}  // namespace

absl::StatusOr<std::unique_ptr<SessionStore>> SessionStore::Open(Options options, absl::Time now) {
  std::unique_ptr<SessionStore> store(new SessionStore(std::move(options)));
  if (store->options_.path.empty()) return store;
  std::ifstream in(store->options_.path);
  if (!in) return store;  // none yet
  std::string line;
  if (!std::getline(in, line) || line != kVersion) {
    return absl::DataLossError(absl::StrCat(store->options_.path,
                                            " is not a gridlog sessions file; remove it (everyone signed in "
                                            "to the dashboard then signs in again)"));
  }
  grid::MutexLock l(&store->mu_);
  while (std::getline(in, line)) {
    // hash, credential, created, expires (Unix seconds), principal
    std::vector<std::string> f = absl::StrSplit(line, absl::MaxSplits('\t', 4));
    int64_t created = 0;
    int64_t expires = 0;
    if (f.size() != 5 || f[0].size() != 64 || !absl::SimpleAtoi(f[2], &created) ||
        !absl::SimpleAtoi(f[3], &expires) || f[4].empty()) {
      return absl::DataLossError(
          absl::StrCat(store->options_.path, ": a line does not parse; remove the file"));
    }
    Session s{f[4], f[1], absl::FromUnixSeconds(created), absl::FromUnixSeconds(expires), now};
    if (s.expires > now) store->by_hash_[f[0]] = std::move(s);
  }
  return store;
}

bool SessionStore::Live(const Session& s, absl::Time now) const {
  return now < s.expires && now - s.last_used < options_.idle;
}

absl::StatusOr<std::string> SessionStore::Create(std::string principal, std::string credential,
                                                 absl::Time now) {
  if (principal.empty() || principal.find_first_of("\t\n") != std::string::npos) {
    return absl::InvalidArgumentError("a principal's name cannot hold a tab or a line break");
  }
  std::string raw(32, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(raw.size())) != 1) {
    return absl::UnavailableError("no random bytes for a session");
  }
  std::string secret = storage::ToHex(raw);
  grid::MutexLock l(&mu_);
  // Sessions that ended stay in the file until the next write: drop them.
  absl::erase_if(by_hash_, [&](const auto& kv) { return !Live(kv.second, now); });
  size_t mine = 0;
  for (const auto& [h, x] : by_hash_) mine += x.principal == principal ? 1 : 0;
  for (; mine >= options_.max_sessions_per_principal; --mine) EvictOldestLocked(principal);
  while (by_hash_.size() >= options_.max_sessions) EvictOldestLocked("");
  by_hash_[HashOf(secret)] =
      Session{std::move(principal), std::move(credential), now, now + options_.lifetime, now};
  if (absl::Status s = SaveLocked(); !s.ok()) {
    by_hash_.erase(HashOf(secret));
    return s;
  }
  return secret;
}

void SessionStore::EvictOldestLocked(const std::string& principal) {
  auto oldest = by_hash_.end();
  for (auto it = by_hash_.begin(); it != by_hash_.end(); ++it) {
    if (!principal.empty() && it->second.principal != principal) continue;
    if (oldest == by_hash_.end() || it->second.created < oldest->second.created) oldest = it;
  }
  if (oldest != by_hash_.end()) by_hash_.erase(oldest);
}

std::optional<SessionStore::Session> SessionStore::Find(std::string_view secret, absl::Time now) {
  if (secret.size() != 64) return std::nullopt;
  return FindByHash(HashOf(secret), now);
}

std::optional<SessionStore::Session> SessionStore::FindByHash(const std::string& hash, absl::Time now) {
  grid::MutexLock l(&mu_);
  auto it = by_hash_.find(hash);
  if (it == by_hash_.end()) return std::nullopt;
  if (!Live(it->second, now)) {
    // Ended in memory now; the file forgets it at the next write (and a
    // restart drops what has expired; an idle one comes back only until
    // its idle time runs out again).
    by_hash_.erase(it);
    return std::nullopt;
  }
  it->second.last_used = now;
  return it->second;
}

absl::StatusOr<bool> SessionStore::Remove(std::string_view secret) {
  grid::MutexLock l(&mu_);
  auto it = by_hash_.find(HashOf(secret));
  if (it == by_hash_.end()) return false;
  by_hash_.erase(it);
  if (absl::Status s = SaveLocked(); !s.ok()) return s;
  return true;
}

absl::Status SessionStore::RemoveUnless(const std::function<bool(const Session&)>& keep) {
  grid::MutexLock l(&mu_);
  const size_t before = by_hash_.size();
  absl::erase_if(by_hash_, [&](const auto& kv) { return !keep(kv.second); });
  return by_hash_.size() == before ? absl::OkStatus() : SaveLocked();
}

size_t SessionStore::size(absl::Time now) const {
  grid::MutexLock l(&mu_);
  size_t n = 0;
  for (const auto& [hash, s] : by_hash_) n += Live(s, now) ? 1 : 0;
  return n;
}

absl::Status SessionStore::SaveLocked() {
  if (options_.path.empty()) return absl::OkStatus();
  std::string text = absl::StrCat(kVersion, "\n");
  for (const auto& [hash, s] : by_hash_) {
    absl::StrAppend(&text, hash, "\t", s.credential, "\t", absl::ToUnixSeconds(s.created), "\t",
                    absl::ToUnixSeconds(s.expires), "\t", s.principal, "\n");
  }
  // Written whole beside the file, synced, then renamed over it: a crash
  // leaves the old sessions or the new, never half of them.
  const std::string tmp = options_.path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return absl::UnavailableError(absl::StrCat("cannot write ", tmp, ": ", std::strerror(errno)));
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  const bool ok = done == text.size() && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), options_.path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    return absl::UnavailableError(absl::StrCat("cannot write ", options_.path));
  }
  return absl::OkStatus();
}

}  // namespace grid::server
