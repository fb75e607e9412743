// The department dashboard: a web page served by gridd itself on a listener
// of its own (`dashboard_listen`), showing the projections of the signed-in
// person's jurisdiction, live (README: "Dashboard"; docs/dashboard.md).
//
// Same principal, same policy, same audit as gRPC: a person is named by a
// client certificate (its common name) or signs in once with a bearer token
// for a session cookie (sessions.h); every data request passes
// AccessControl::Begin as the gRPC call it mirrors (GetProjection,
// ListProjections, SubscribeProjection), is served by the same code
// (projection_read.h, projection_feed.h: jurisdiction cut, redaction by
// clearance, small-count suppression), held to the same rate and stream
// limits, and audited with an `http:` or `https:` peer. Live feeds are
// SubscribeProjection streams multiplexed on one Server-Sent Events stream
// per page, each with one write in flight, resumed after a reconnect from
// the positions the browser last saw (Last-Event-ID).
//
// The page's assets are compiled into the binary (gzip and ETag). No CORS,
// a strict Content-Security-Policy, the Host checked against the names the
// dashboard answers to (DNS rebinding), and the Origin checked on every
// request that changes state.
//
// Concurrency: one I/O thread of its own; storage reads run on the
// application pool. Stop() may be called from any thread.
#ifndef GRID_SERVER_DASHBOARD_DASHBOARD_H_
#define GRID_SERVER_DASHBOARD_DASHBOARD_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/access/auth.h"
#include "server/projections/projector.h"
#include "server/service/service_context.h"

namespace grid::server {

struct DashboardOptions {
  // host:port; empty: no dashboard. A non-loopback address needs what gRPC
  // needs there: TLS, authentication and an access policy.
  std::string listen;
  // Names (host or host:port) the dashboard answers to besides its listen
  // address and the loopback names: the name people type, behind which it
  // is reached. Any other Host is refused (DNS rebinding).
  std::vector<std::string> hosts;
  absl::Duration session_lifetime = absl::Hours(8);
  absl::Duration session_idle = absl::Minutes(30);
  // Open connections at most; past it new ones are closed at once.
  size_t max_connections = 512;
  // Feeds on one page's stream at most.
  size_t max_feeds_per_page = 16;
  bool enabled() const { return !listen.empty(); }
};

class Dashboard {
 public:
  struct Stats {
    size_t connections = 0;  // open HTTP connections
    size_t pages = 0;        // open live streams (one per page)
    size_t feeds = 0;        // projection feeds on them
    size_t sessions = 0;     // signed-in sessions not yet ended
  };

  // Listens and serves. `auth` is gridd's (TLS, client CAs, tokens); the
  // sessions file goes in `data_dir`. `env`, `projector` and their pool must
  // outlive Stop().
  static absl::StatusOr<std::unique_ptr<Dashboard>> Start(const DashboardOptions& options,
                                                          const AuthOptions& auth,
                                                          const std::string& data_dir, ServiceContext* env,
                                                          Projector* projector);
  ~Dashboard();

  int port() const;
  Stats GetStats() const;
  // Closes the listener and every connection; the live feeds end (their
  // outcome audited) before it returns. The pool must still run.
  void Stop();

  // The server's state, shared with its connections (dashboard.cc).
  struct Impl;

 private:
  explicit Dashboard(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

}  // namespace grid::server

#endif  // GRID_SERVER_DASHBOARD_DASHBOARD_H_
