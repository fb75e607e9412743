// The dashboard's sign-in sessions: a person exchanges a bearer token once
// for a session, held by the browser as an HttpOnly cookie.
//
// A session's secret is 32 random bytes; only its SHA-256 is kept, in
// memory and in a file of the data directory (0600, rewritten whole on every
// sign-in and sign-out), so that a restart of gridd does not sign everyone
// out and a copy of the file signs nobody in. A session ends at sign-out,
// `lifetime` after sign-in, after `idle` without a request, or when the
// token it was opened with is no longer configured (a revoked token ends
// its sessions at the next restart with the new configuration).
//
// Concurrency: thread-safe.
#ifndef GRID_SERVER_DASHBOARD_SESSIONS_H_
#define GRID_SERVER_DASHBOARD_SESSIONS_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "storage/sync.h"

namespace grid::server {

class SessionStore {
 public:
  struct Options {
    std::string path;  // the sessions file; empty: in memory only (tests)
    absl::Duration lifetime = absl::Hours(8);
    absl::Duration idle = absl::Minutes(30);
    // Sessions open at once, and of one principal; past either the oldest
    // (of that principal, first) is ended: a script that signs in in a loop
    // neither grows the file without bound nor signs others out.
    size_t max_sessions = 10000;
    size_t max_sessions_per_principal = 20;
  };
  struct Session {
    std::string principal;
    // The SHA-256 (hex) of the token it was opened with.
    std::string credential;
    absl::Time created;
    absl::Time expires;
    absl::Time last_used;
  };

  // Loads the file (sessions already expired are dropped).
  static absl::StatusOr<std::unique_ptr<SessionStore>> Open(Options options, absl::Time now);

  // A new session; returns its secret (64 hex characters) for the cookie.
  absl::StatusOr<std::string> Create(std::string principal, std::string credential, absl::Time now);
  // The live session of `secret`, its idle clock restarted; nullopt when
  // there is none (unknown, expired, idle too long: then it is ended).
  std::optional<Session> Find(std::string_view secret, absl::Time now);
  // The same by the secret's SHA-256 (hex), for a live page that holds no
  // secret: its open page counts as use (a wall display is not idle).
  std::optional<Session> FindByHash(const std::string& hash, absl::Time now);
  // Ends the session (sign-out); false when there was none.
  absl::StatusOr<bool> Remove(std::string_view secret);
  // Ends every session opened with a credential `keep` says is gone.
  absl::Status RemoveUnless(const std::function<bool(const Session&)>& keep);
  // Live sessions, for the metrics.
  size_t size(absl::Time now) const;
  const Options& options() const { return options_; }

 private:
  explicit SessionStore(Options options) : options_(std::move(options)) {}
  absl::Status SaveLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool Live(const Session& s, absl::Time now) const;
  // Ends the oldest session of `principal` ("": of anyone).
  void EvictOldestLocked(const std::string& principal) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Options options_;
  mutable grid::Mutex mu_;
  absl::flat_hash_map<std::string, Session> by_hash_ ABSL_GUARDED_BY(mu_);  // sha256(secret) hex
};

}  // namespace grid::server

#endif  // GRID_SERVER_DASHBOARD_SESSIONS_H_
