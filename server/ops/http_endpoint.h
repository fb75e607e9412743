// A small HTTP/1.1 server for operators: GET /metrics, /healthz, /readyz.
// Boost.Beast on one thread of its own, so a scrape never waits behind
// gRPC work and a probe is answered while the log is still opening.
//
// Each connection gets 10 s to send its request; the answer closes it.
// Only GET and HEAD are served; anything else is 405, unknown paths 404.
//
// Concurrency: the handler runs on the endpoint's thread, one request at a
// time. Stop() (and the destructor) may be called from any other thread.
#ifndef GRID_SERVER_OPS_HTTP_ENDPOINT_H_
#define GRID_SERVER_OPS_HTTP_ENDPOINT_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace grid::server {

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

class HttpEndpoint {
 public:
  // Called with the request's path (without the query string).
  using Handler = std::function<HttpResponse(const std::string& path)>;

  // Listens on host:port (port 0 picks one) and serves until Stop().
  static absl::StatusOr<std::unique_ptr<HttpEndpoint>> Start(const std::string& listen, Handler handler);
  ~HttpEndpoint();

  int port() const;
  void Stop();

 private:
  struct Impl;
  explicit HttpEndpoint(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace grid::server

#endif  // GRID_SERVER_OPS_HTTP_ENDPOINT_H_
