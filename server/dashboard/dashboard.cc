#include <utility>  // before Boost.Asio (GCC 12 + C++20)

#include "server/dashboard/dashboard.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <spdlog/spdlog.h>

#include <array>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <deque>
#include <list>
#include <optional>
#include <sstream>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "server/dashboard/assets.h"
#include "server/dashboard/render.h"
#include "server/dashboard/sessions.h"
#include "server/ops/json_file.h"
#include "server/ops/logging.h"
#include "server/projections/projection_feed.h"
#include "server/projections/projection_read.h"
#include "storage/proto_time.h"
#include "storage/record.h"

namespace grid::server {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

constexpr char kCookie[] = "__Host-gridlog_session";
constexpr char kCsp[] =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";
constexpr auto kHandshakeTimeout = std::chrono::seconds(10);
constexpr auto kRequestTimeout = std::chrono::seconds(30);
constexpr auto kIdleTimeout = std::chrono::seconds(60);
// A live stream writes at least this often (a comment when nothing else
// goes), so that a dead peer is found and a session's end is noticed.
constexpr auto kHeartbeat = std::chrono::seconds(15);
// A write to a browser that takes longer ends its stream: a slow or stalled
// page never makes the server hold more than one message per feed.
constexpr auto kWriteTimeout = std::chrono::seconds(60);

// ---------------------------------------------------------------- helpers

// Beast's string views are Boost's.
absl::string_view Sv(beast::string_view s) { return absl::string_view(s.data(), s.size()); }

// A JSON string literal of `s` (logging.h's escaping).
std::string JsonString(absl::string_view s) { return absl::StrCat("\"", JsonEscape(s), "\""); }

std::string CodeName(absl::StatusCode code) {
  return absl::AsciiStrToUpper(absl::StatusCodeToString(code));  // "PERMISSION_DENIED"
}

http::status HttpStatusOf(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk:
      return http::status::ok;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
    case absl::StatusCode::kFailedPrecondition:
      return http::status::bad_request;
    case absl::StatusCode::kNotFound:
      return http::status::not_found;
    case absl::StatusCode::kUnauthenticated:
      return http::status::unauthorized;
    case absl::StatusCode::kPermissionDenied:
      return http::status::forbidden;
    case absl::StatusCode::kResourceExhausted:
      return http::status::too_many_requests;
    case absl::StatusCode::kDeadlineExceeded:
      return http::status::gateway_timeout;
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kAborted:
      return http::status::service_unavailable;
    default:
      return http::status::internal_server_error;
  }
}

absl::Status AbslOf(const grpc::Status& s) {
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
}

std::string ErrorJson(const absl::Status& s) {
  return absl::StrCat("{\"error\":", JsonString(s.message()), ",\"code\":", JsonString(CodeName(s.code())),
                      "}");
}

int FromHex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// application/x-www-form-urlencoded decoding; nullopt when malformed.
std::optional<std::string> UrlDecode(absl::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out.push_back(' ');
    } else if (s[i] == '%') {
      if (i + 2 >= s.size()) return std::nullopt;
      const int hi = FromHex(s[i + 1]);
      const int lo = FromHex(s[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

// Whether an Accept-Encoding header takes gzip ("gzip;q=0" refuses it).
bool AcceptsGzip(absl::string_view header) {
  for (absl::string_view part : absl::StrSplit(header, ',')) {
    std::vector<absl::string_view> f = absl::StrSplit(part, ';');
    if (absl::StripAsciiWhitespace(f[0]) != "gzip") continue;
    for (size_t i = 1; i < f.size(); ++i) {
      absl::string_view q = absl::StripAsciiWhitespace(f[i]);
      double v = 1;
      if (absl::ConsumePrefix(&q, "q=") && absl::SimpleAtod(q, &v) && v <= 0) return false;
    }
    return true;
  }
  return false;
}

struct Query {
  std::vector<std::pair<std::string, std::string>> params;
  const std::string* Get(absl::string_view name) const {
    for (const auto& [k, v] : params) {
      if (k == name) return &v;
    }
    return nullptr;
  }
  std::vector<std::string> All(absl::string_view name) const {
    std::vector<std::string> out;
    for (const auto& [k, v] : params) {
      if (k == name) out.push_back(v);
    }
    return out;
  }
};

absl::StatusOr<Query> ParseQuery(absl::string_view q) {
  Query out;
  for (absl::string_view part : absl::StrSplit(q, '&', absl::SkipEmpty())) {
    const size_t eq = part.find('=');
    auto k = UrlDecode(part.substr(0, eq));
    auto v = UrlDecode(eq == absl::string_view::npos ? "" : part.substr(eq + 1));
    if (!k || !v) return absl::InvalidArgumentError("the query string is not URL-encoded");
    out.params.emplace_back(*std::move(k), *std::move(v));
    if (out.params.size() > 64) return absl::InvalidArgumentError("too many query parameters");
  }
  return out;
}

std::string CookieValue(absl::string_view header, absl::string_view name) {
  for (absl::string_view c : absl::StrSplit(header, ';')) {
    c = absl::StripAsciiWhitespace(c);
    if (absl::ConsumePrefix(&c, name) && absl::ConsumePrefix(&c, "=")) return std::string(c);
  }
  return "";
}

// A position from the query ("at"); 0 when absent.
absl::StatusOr<uint64_t> PositionParam(const Query& q, absl::string_view name) {
  const std::string* v = q.Get(name);
  if (v == nullptr || v->empty()) return 0;
  uint64_t p = 0;
  if (!absl::SimpleAtoi(*v, &p) || p == 0) {
    return absl::InvalidArgumentError(absl::StrCat(name, " must be a log position (1 or more)"));
  }
  return p;
}

// The GetProjection request a query names: name, prefix or key, at or
// at_time, max_rows.
absl::StatusOr<grid::v1::GetProjectionRequest> GetRequestOf(const Query& q) {
  grid::v1::GetProjectionRequest req;
  const std::string* name = q.Get("name");
  if (name == nullptr || name->empty()) return absl::InvalidArgumentError("name the projection: ?name=");
  req.set_name(*name);
  if (const std::string* key = q.Get("key"); key != nullptr) {
    req.set_key(*key);
  } else {
    const std::string* prefix = q.Get("prefix");
    req.set_prefix(prefix == nullptr ? "" : *prefix);
  }
  auto at = PositionParam(q, "at");
  if (!at.ok()) return at.status();
  if (*at > 0) req.set_at_position(*at);
  if (const std::string* t = q.Get("at_time"); t != nullptr && !t->empty()) {
    absl::Time when;
    std::string err;
    if (!absl::ParseTime(absl::RFC3339_full, *t, &when, &err)) {
      return absl::InvalidArgumentError("at_time must be an RFC 3339 time (2025-12-31T16:00:00Z)");
    }
    if (*at > 0) return absl::InvalidArgumentError("give at or at_time, not both");
    *req.mutable_at_time() = ToProtoTime(ToMicros(when));
  }
  if (const std::string* m = q.Get("max_rows"); m != nullptr && !m->empty()) {
    uint32_t n = 0;
    if (!absl::SimpleAtoi(*m, &n)) return absl::InvalidArgumentError("max_rows must be a whole number");
    req.set_max_rows(n);
  }
  return req;
}

std::string ScopeOf(const grid::v1::GetProjectionRequest& r) {
  return absl::StrCat("projection=", r.name().substr(0, 64), " ",
                      r.has_key() ? "key=" : "prefix=", (r.has_key() ? r.key() : r.prefix()).substr(0, 256));
}

bool IsLoopbackHost(absl::string_view host) {
  return host == "127.0.0.1" || host == "localhost" || host == "[::1]" || host == "::1";
}

// The common name of a verified client certificate, read as gRPC reads it
// (the first CN, converted to UTF-8 whatever its ASN.1 string type), so
// that one certificate is one principal on both transports; "" when there
// is none or it holds a NUL.
std::string VerifiedCommonName(SSL* ssl) {
  X509* cert = SSL_get1_peer_certificate(ssl);
  if (cert == nullptr) return "";
  std::string cn;
  if (SSL_get_verify_result(ssl) == X509_V_OK) {
    X509_NAME* subject = X509_get_subject_name(cert);
    const int i = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
    if (i >= 0) {
      unsigned char* utf8 = nullptr;
      const int n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, i)));
      if (n > 0) cn.assign(reinterpret_cast<char*>(utf8), static_cast<size_t>(n));
      OPENSSL_free(utf8);
    }
  }
  X509_free(cert);
  return cn.find('\0') == std::string::npos ? cn : "";
}

// A token bucket (sign-ins per principal).
struct Bucket {
  double tokens = -1;
  absl::Time last;
  bool Take(double rate, double burst, absl::Time now) {
    tokens = tokens < 0 ? burst : std::min(burst, tokens + absl::ToDoubleSeconds(now - last) * rate);
    last = now;
    if (tokens < 1) return false;
    tokens -= 1;
    return true;
  }
};

}  // namespace

// ---------------------------------------------------------------- feeds

// What a page's live feeds write to: the connection, on its I/O thread.
class FeedSink {
 public:
  virtual ~FeedSink() = default;
  // From the pool: a message of feed `index`, rendered there.
  virtual void Write(int index, uint64_t position, bool snapshot, bool complete, std::string json) = 0;
  // From the pool: the feed ended with `status`.
  virtual void End(int index, const grpc::Status& status) = 0;
};

// Stands where gRPC's reactor stands under ProjectionFeed (PumpedWriter's
// Stream): StartWrite and Finish hand the message on to the page's stream;
// the page calls OnWriteDone, OnCancel and OnDone as gRPC would.
class FeedStream {
 public:
  virtual ~FeedStream() = default;
  virtual void OnWriteDone(bool ok) = 0;
  virtual void OnCancel() = 0;
  virtual void OnDone() = 0;

  void Attach(std::shared_ptr<FeedSink> sink, int index) {
    sink_ = std::move(sink);
    index_ = index;
  }
  void StartWrite(const grid::v1::SubscribeProjectionResponse* m) {
    // Rendered here, on the pool, not on the dashboard's one I/O thread.
    std::string rows = "[";
    for (int i = 0; i < m->rows_size(); ++i) {
      if (i > 0) rows += ',';
      rows += ToJson(m->rows(i));
    }
    rows += ']';
    // `begin`: the first snapshot message of this feed on this connection
    // (a reconnect restarts a snapshot it had not finished).
    const bool begin = first_ && m->snapshot();
    first_ = false;
    std::string json =
        absl::StrCat("{\"feed\":", index_, ",\"position\":\"", m->position(), "\"",
                     m->snapshot() ? ",\"snapshot\":true" : "", begin ? ",\"begin\":true" : "",
                     m->snapshot_complete() ? ",\"complete\":true" : "", ",\"rows\":", rows, "}");
    sink_->Write(index_, m->position(), m->snapshot(), m->snapshot_complete(), std::move(json));
  }
  void Finish(const grpc::Status& status) { sink_->End(index_, status); }

 private:
  std::shared_ptr<FeedSink> sink_;
  int index_ = 0;
  bool first_ = true;
};

using DashboardFeed = ProjectionFeed<FeedStream>;

// ---------------------------------------------------------------- the server

class ConnectionBase {
 public:
  virtual ~ConnectionBase() = default;
  virtual void Close() = 0;
  // At shutdown: closes a connection that carries no live page; a page's
  // feeds end by themselves (UNAVAILABLE) and then it closes.
  virtual void Drain() = 0;
  // Ends the page's stream if it was opened by the session with this hash.
  virtual void EndSession(const std::string& session_hash) = 0;
};

struct Dashboard::Impl {
  DashboardOptions options;
  ServiceContext* env = nullptr;
  Projector* projector = nullptr;
  std::unique_ptr<TokenTable> tokens;
  std::unique_ptr<SessionStore> sessions;
  bool authenticates = false;  // else dev: every caller is anonymous
  std::vector<std::string> hosts;
  int port = 0;
  std::atomic<size_t> connections{0};
  std::atomic<size_t> pages{0};
  std::atomic<size_t> feeds{0};
  grid::Mutex mu;
  grid::CondVar feeds_ended;
  std::atomic<bool> stopping{false};
  // On the I/O thread only.
  std::list<std::weak_ptr<ConnectionBase>> open;
  grid::Mutex signin_mu;
  absl::flat_hash_map<std::string, Bucket> signins ABSL_GUARDED_BY(signin_mu);

  // Declared last: destroyed first, with the handlers it still holds
  // (which may touch the members above).
  asio::io_context io{1};
  // Keeps io.run() going while the pool may still post to it (a feed's
  // last message, a read's answer), until Stop() is done with them.
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  tcp::acceptor acceptor{io};
  asio::steady_timer accept_pause{io};
  std::optional<ssl::context> tls;
  std::thread thread;

  // A sign-in of `principal` allowed now: a few at once, then one in 5 s
  // (each rewrites the sessions file).
  bool TakeSignIn(const std::string& principal) {
    grid::MutexLock l(&signin_mu);
    if (signins.size() > 10000) signins.clear();
    return signins[principal].Take(0.2, 10, absl::Now());
  }

  void Accept();
  bool HostAllowed(absl::string_view host) const {
    for (const auto& h : hosts) {
      if (absl::EqualsIgnoreCase(host, h)) return true;
    }
    for (const auto& h : options.hosts) {
      // "name" matches the name on any port (behind a proxy the port the
      // browser used is not ours); "name:port" only that.
      if (absl::EqualsIgnoreCase(host, h)) return true;
      if (h.find(':') == std::string::npos && host.size() > h.size() && host[h.size()] == ':' &&
          absl::EqualsIgnoreCase(host.substr(0, h.size()), h)) {
        return true;
      }
    }
    return false;
  }
  void FeedEnded() {
    grid::MutexLock l(&mu);
    feeds.fetch_sub(1);
    feeds_ended.SignalAll();
  }
  // Admits a call as BeginCall does for gRPC (access, then a cluster node
  // that stopped serving answers nothing).
  absl::StatusOr<std::unique_ptr<AccessCall>> Admit(const Caller& caller, Rpc rpc, std::string scope,
                                                    absl::Duration* retry_after) {
    auto call = env->access->Begin(caller, rpc, std::move(scope), retry_after);
    if (!call.ok() || env->cluster == nullptr) return call;
    if (absl::Status serving = env->cluster->CheckServing(); !serving.ok()) {
      (*call)->Done(ToGrpc(serving));
      return serving;
    }
    return call;
  }
};

namespace {

struct Response {
  http::status status = http::status::ok;
  std::string content_type = "application/json; charset=utf-8";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  bool cache = false;  // an asset (revalidated by ETag), not API data
};

Response JsonResponse(const absl::Status& s) {
  Response r;
  r.status = HttpStatusOf(s.code());
  r.body = ErrorJson(s);
  return r;
}

// Who a request is from.
struct Identity {
  Caller caller;
  std::string session_hash;  // when named by a session cookie
  absl::Time expires = absl::InfiniteFuture();
  std::string how;  // "session", "certificate", "dev"
};

template <class Stream>
class Connection final : public ConnectionBase,
                         public FeedSink,
                         public std::enable_shared_from_this<Connection<Stream>> {
 public:
  Connection(Dashboard::Impl* d, Stream stream, const std::string& peer)
      : d_(d),
        stream_(std::move(stream)),
        peer_(absl::StrCat(kTls ? "https:" : "http:", peer)),
        heartbeat_(d->io),
        write_timer_(d->io) {
    d_->connections.fetch_add(1);
  }
  ~Connection() override { d_->connections.fetch_sub(1); }

  void Start() {
    if constexpr (kTls) {
      beast::get_lowest_layer(stream_).expires_after(kHandshakeTimeout);
      stream_.async_handshake(ssl::stream_base::server,
                              [self = this->shared_from_this()](beast::error_code ec) {
                                if (ec) return self->Close();
                                self->cert_principal_ = VerifiedCommonName(self->stream_.native_handle());
                                self->Read();
                              });
    } else {
      Read();
    }
  }

  void Close() override {
    if (closed_) return;
    closed_ = true;
    heartbeat_.cancel();
    write_timer_.cancel();
    beast::error_code ignored;
    beast::get_lowest_layer(stream_).socket().shutdown(tcp::socket::shutdown_both, ignored);
    beast::get_lowest_layer(stream_).close();
    // The feeds hear that the browser is gone, as gRPC's would.
    for (size_t i = 0; i < feeds_.size(); ++i) {
      Slot& s = feeds_[i];
      if (s.done) continue;
      if (!s.ended) s.stream->OnCancel();
      if (s.write_pending) {
        s.write_pending = false;
        s.stream->OnWriteDone(false);
      }
    }
    for (Frame& f : queue_) {
      if (f.feed >= 0 && f.end) Done(f.feed);
    }
    queue_.clear();
    MaybeEndPage();
  }

  void EndSession(const std::string& session_hash) override {
    if (page_ && !closed_ && identity_.session_hash == session_hash) EndAll("signed out");
  }

  void Drain() override {
    if (!page_) Close();
  }

  // FeedSink: from the pool.
  void Write(int index, uint64_t position, bool snapshot, bool complete, std::string json) override {
    asio::post(d_->io, [self = this->shared_from_this(), index, position, snapshot, complete,
                        json = std::move(json)]() mutable {
      self->OnFeedMessage(index, position, snapshot, complete, std::move(json));
    });
  }
  void End(int index, const grpc::Status& status) override {
    asio::post(d_->io, [self = this->shared_from_this(), index, status] { self->OnFeedEnd(index, status); });
  }

 private:
  static constexpr bool kTls = !std::is_same_v<Stream, beast::tcp_stream>;

  struct Slot {
    FeedStream* stream = nullptr;
    std::string name;
    uint64_t position = 0;  // complete through; 0 during a snapshot
    bool write_pending = false;
    bool ended = false;  // Finish called
    bool done = false;   // OnDone called
  };
  struct Frame {
    int feed = -1;  // -1: a heartbeat or the stream's header
    bool end = false;
    std::string data;
  };

  // ------------------------------------------------------------ requests

  void Read() {
    if (closed_) return;
    parser_.emplace();
    parser_->header_limit(8192);
    parser_->body_limit(4096);
    beast::get_lowest_layer(stream_).expires_after(requests_ == 0 ? kRequestTimeout : kIdleTimeout);
    http::async_read(stream_, buffer_, *parser_,
                     [self = this->shared_from_this()](beast::error_code ec, size_t) {
                       if (ec) return self->Close();
                       ++self->requests_;
                       self->Handle(self->parser_->release());
                     });
  }

  void Handle(http::request<http::string_body> req) {
    req_ = std::move(req);
    if (d_->stopping.load()) return Reply(JsonResponse(absl::UnavailableError("gridd is shutting down")));
    const std::string host(Sv(req_[http::field::host]));
    if (host.empty() || !d_->HostAllowed(host)) {
      // Another name resolving here (DNS rebinding) must not reach a page
      // that a browser would then treat as that name's.
      return Reply(JsonResponse(absl::PermissionDeniedError(
          "this dashboard does not answer to that host name (dashboard_hosts lists the names it does)")));
    }
    const std::string origin(Sv(req_[http::field::origin]));
    const std::string own = absl::StrCat(kTls ? "https://" : "http://", host);
    if (!origin.empty() && origin != own) {
      return Reply(JsonResponse(absl::PermissionDeniedError("requests from other origins are refused")));
    }
    const absl::string_view target = Sv(req_.target());
    const size_t q = target.find('?');
    const std::string path(target.substr(0, q));
    auto query = ParseQuery(q == absl::string_view::npos ? "" : target.substr(q + 1));
    if (!query.ok()) return Reply(JsonResponse(query.status()));
    const http::verb method = req_.method();
    // A client certificate goes with any request the browser makes, whoever
    // asked for it: data only for the page itself (or the address bar).
    if (const absl::string_view site = Sv(req_["Sec-Fetch-Site"]);
        absl::StartsWith(path, "/api/") && !site.empty() && site != "same-origin" && site != "none") {
      return Reply(JsonResponse(absl::PermissionDeniedError("requests from other sites are refused")));
    }
    if (!absl::StartsWith(path, "/api/")) {
      if (method != http::verb::get && method != http::verb::head) return Reply(NotAllowed("GET, HEAD"));
      return Reply(Static(path));
    }
    if (path == "/api/session" && method == http::verb::post) return SignIn(origin);
    if (path == "/api/logout" && method == http::verb::post) return SignOut(origin);
    if (method != http::verb::get) return Reply(NotAllowed(path == "/api/session" ? "GET, POST" : "GET"));
    auto who = Identify();
    if (!who.ok()) {
      // Asking whether one is signed in is not an error: the page asks it
      // first, and a browser logs every 401 as one.
      if (path == "/api/session") {
        Response r;
        r.body = "{\"signed_in\":false,\"dev\":false}";
        return Reply(std::move(r));
      }
      return Reply(JsonResponse(who.status()));
    }
    identity_ = *std::move(who);
    if (path == "/api/session") return Reply(SessionInfo());
    if (path == "/api/projections") return List();
    if (path == "/api/projection") return Get(*query, false);
    if (path == "/api/projection.csv") return Get(*query, true);
    if (path == "/api/feed") return OpenPage(*query);
    return Reply(
        JsonResponse(absl::NotFoundError("no such API: /api/session, /api/projections, "
                                         "/api/projection, /api/projection.csv, /api/feed")));
  }

  static Response NotAllowed(std::string allow) {
    Response r = JsonResponse(absl::InvalidArgumentError("method not allowed"));
    r.status = http::status::method_not_allowed;
    r.headers.emplace_back("Allow", std::move(allow));
    return r;
  }

  Response Static(std::string path) {
    if (path == "/") path = "/index.html";
    const Asset* a = FindAsset(path);
    Response r;
    if (a == nullptr) {
      r.status = http::status::not_found;
      r.content_type = "text/plain; charset=utf-8";
      r.body = "not found\n";
      return r;
    }
    r.cache = true;
    r.content_type = std::string(a->content_type.data(), a->content_type.size());
    // Each encoding is its own representation, with its own ETag.
    const bool gzip = !a->gzip.empty() && AcceptsGzip(Sv(req_[http::field::accept_encoding]));
    std::string etag(a->etag.data(), a->etag.size());
    if (gzip) etag.insert(etag.size() - 1, "-gzip");
    r.headers.emplace_back("ETag", etag);
    r.headers.emplace_back("Vary", "Accept-Encoding");
    if (Sv(req_[http::field::if_none_match]) == etag) {
      r.status = http::status::not_modified;
      return r;
    }
    if (gzip) {
      r.headers.emplace_back("Content-Encoding", "gzip");
      r.body = std::string(a->gzip.data(), a->gzip.size());
    } else {
      r.body = std::string(a->body.data(), a->body.size());
    }
    return r;
  }

  // ------------------------------------------------------------ who

  absl::StatusOr<Identity> Identify() {
    Identity id;
    if (!d_->authenticates) {
      // Dev mode, as gRPC's: every local caller is one anonymous principal.
      std::string addr = peer_;
      if (auto colon = addr.rfind(':'); colon != std::string::npos) addr.resize(colon);
      id.caller = Caller{absl::StrCat("anonymous@", addr), peer_};
      id.how = "dev";
      return id;
    }
    const std::string secret = CookieValue(Sv(req_[http::field::cookie]), kCookie);
    if (!secret.empty()) {
      if (auto s = d_->sessions->Find(secret, absl::Now()); s.has_value()) {
        // The token it was opened with must still be this principal's.
        if (d_->tokens->PrincipalOfHash(s->credential) == s->principal) {
          id.caller = Caller{s->principal, peer_};
          id.session_hash = storage::ToHex(storage::Sha256(secret));
          id.expires = s->expires;
          id.how = "session";
          return id;
        }
      }
    }
    if (!cert_principal_.empty()) {
      id.caller = Caller{cert_principal_, peer_};
      id.how = "certificate";
      return id;
    }
    return absl::UnauthenticatedError(secret.empty() ? "sign in: no session"
                                                     : "sign in again: the session ended");
  }

  Response SessionInfo() {
    auto p = d_->env->access->Rights(identity_.caller.name);
    if (p == nullptr) {
      return JsonResponse(absl::PermissionDeniedError(
          absl::StrCat("principal ", identity_.caller.name, " is not in the access policy")));
    }
    std::vector<std::string> j;
    for (const auto& o : p->jurisdiction()) j.push_back(JsonString(o));
    if (p->dev()) j = {"\"\""};
    std::vector<std::string> departments;
    for (const auto& d : p->departments()) departments.push_back(JsonString(d));
    Response r;
    r.body = absl::StrCat(
        "{\"signed_in\":true,\"principal\":", JsonString(p->name()),
        // Dev mode has no role: every right.
        p->dev() ? "" : absl::StrCat(",\"role\":", JsonString(p->RoleName())), ",\"clearance\":",
        JsonString(grid::v1::DataClass_Name(p->dev() ? grid::v1::C4_RESTRICTED : p->clearance())),
        ",\"jurisdiction\":[", absl::StrJoin(j, ","), "]",
        p->worker_id().empty() ? "" : absl::StrCat(",\"worker_id\":", JsonString(p->worker_id())),
        departments.empty() ? "" : absl::StrCat(",\"departments\":[", absl::StrJoin(departments, ","), "]"),
        ",\"dev\":", p->dev() ? "true" : "false", ",\"auth\":", JsonString(identity_.how),
        identity_.expires == absl::InfiniteFuture()
            ? ""
            : absl::StrCat(
                  ",\"expires_at\":",
                  JsonString(absl::FormatTime(absl::RFC3339_sec, identity_.expires, absl::UTCTimeZone()))),
        "}");
    return r;
  }

  // POST /api/session: a bearer token for a session cookie. The sessions
  // file is written on the pool, not on the dashboard's one I/O thread.
  void SignIn(const std::string& origin) {
    if (!d_->authenticates) {
      return Reply(
          JsonResponse(absl::FailedPreconditionError("dev mode: no sign-in (gridd has no authentication)")));
    }
    // A state change: only from the page itself.
    if (origin.empty())
      return Reply(JsonResponse(absl::PermissionDeniedError("sign-in needs the page's Origin")));
    absl::string_view auth = Sv(req_[http::field::authorization]);
    if (!absl::ConsumePrefix(&auth, "Bearer ") || auth.empty()) {
      d_->env->access->RecordUnauthenticated(std::string(kDashboardSignIn.data(), kDashboardSignIn.size()),
                                             peer_, "authorization must be `Bearer <token>`");
      return Reply(
          JsonResponse(absl::UnauthenticatedError("send the token as `Authorization: Bearer <token>`")));
    }
    const std::string hash = storage::ToHex(storage::Sha256(std::string(auth)));
    const std::string principal = d_->tokens->PrincipalOfHash(hash);
    if (principal.empty()) {
      d_->env->access->RecordUnauthenticated(std::string(kDashboardSignIn.data(), kDashboardSignIn.size()),
                                             peer_, "unknown bearer token");
      return Reply(JsonResponse(absl::UnauthenticatedError("unknown token")));
    }
    const Caller caller{principal, peer_};
    if (d_->env->access->Rights(principal) == nullptr) {
      d_->env->access->RecordSession(caller, kDashboardSignIn, "PERMISSION_DENIED");
      return Reply(JsonResponse(absl::PermissionDeniedError(
          absl::StrCat("principal ", principal, " is not in the access policy"))));
    }
    if (!d_->TakeSignIn(principal)) {
      d_->env->access->RecordSession(caller, kDashboardSignIn, "RESOURCE_EXHAUSTED");
      Response r = JsonResponse(absl::ResourceExhaustedError(
          absl::StrCat(principal, " signed in too often; retry in a few seconds")));
      r.headers.emplace_back("Retry-After", "5");
      return Reply(std::move(r));
    }
    asio::post(*d_->env->pool, [self = this->shared_from_this(), caller, hash] {
      auto secret = self->d_->sessions->Create(caller.name, hash, absl::Now());
      asio::post(self->d_->io, [self, caller, secret = std::move(secret)] {
        if (!secret.ok()) return self->Reply(JsonResponse(secret.status()));
        self->d_->env->access->RecordSession(caller, kDashboardSignIn, "OK");
        self->identity_ = Identity{caller, storage::ToHex(storage::Sha256(*secret)),
                                   absl::Now() + self->d_->sessions->options().lifetime, "session"};
        Response r = self->SessionInfo();
        r.headers.emplace_back(
            "Set-Cookie",
            absl::StrCat(kCookie, "=", *secret, "; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=",
                         absl::ToInt64Seconds(self->d_->sessions->options().lifetime)));
        self->Reply(std::move(r));
      });
    });
  }

  // POST /api/logout: the session ends, and every page it opened.
  void SignOut(const std::string& origin) {
    if (origin.empty()) {
      return Reply(JsonResponse(absl::PermissionDeniedError("sign-out needs the page's Origin")));
    }
    Response r;
    r.status = http::status::no_content;
    r.headers.emplace_back("Set-Cookie",
                           absl::StrCat(kCookie, "=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0"));
    const std::string secret = CookieValue(Sv(req_[http::field::cookie]), kCookie);
    if (secret.empty() || d_->sessions == nullptr) return Reply(std::move(r));
    asio::post(*d_->env->pool, [self = this->shared_from_this(), secret, r = std::move(r)]() mutable {
      // Who it was (an ended session is still named in the sign-out's audit
      // when it is still in the store).
      auto session = self->d_->sessions->FindByHash(storage::ToHex(storage::Sha256(secret)), absl::Now());
      auto removed = self->d_->sessions->Remove(secret);
      asio::post(self->d_->io, [self, secret, session, removed, r = std::move(r)]() mutable {
        if (!removed.ok()) return self->Reply(JsonResponse(removed.status()));
        if (session.has_value()) {
          self->d_->env->access->RecordSession(Caller{session->principal, self->peer_}, kDashboardSignOut,
                                               "OK");
          // Every page of the session stops now, not at its next heartbeat.
          const std::string hash = storage::ToHex(storage::Sha256(secret));
          for (auto& w : self->d_->open) {
            if (auto c = w.lock()) c->EndSession(hash);
          }
        }
        self->Reply(std::move(r));
      });
    });
  }

  // ------------------------------------------------------------ reads

  void List() {
    absl::Duration retry;
    auto call = d_->Admit(identity_.caller, Rpc::kListProjections, "", &retry);
    if (!call.ok()) return Reply(Refusal(call.status(), retry));
    grid::v1::ListProjectionsResponse resp;
    ListProjectionViews(d_->env, d_->projector, &resp);
    (*call)->Done(grpc::Status::OK);
    Response r;
    r.body = ToJson(resp);
    Reply(std::move(r));
  }

  static Response Refusal(const absl::Status& s, absl::Duration retry) {
    Response r = JsonResponse(s);
    if (retry > absl::ZeroDuration()) {
      r.headers.emplace_back("Retry-After",
                             absl::StrCat(std::max<int64_t>(1, absl::ToInt64Seconds(retry) + 1)));
    }
    return r;
  }

  void Get(const Query& q, bool csv) {
    auto req = GetRequestOf(q);
    if (!req.ok()) return Reply(JsonResponse(req.status()));
    absl::Duration retry;
    auto call = d_->Admit(identity_.caller, Rpc::kGetProjection, ScopeOf(*req), &retry);
    if (!call.ok()) return Reply(Refusal(call.status(), retry));
    // The read runs on the pool (it reads storage), the answer on the I/O
    // thread.
    std::shared_ptr<AccessCall> access(*std::move(call));
    asio::post(*d_->env->pool, [self = this->shared_from_this(), req = *std::move(req), access, csv] {
      grid::v1::GetProjectionResponse resp;
      absl::Status s = access->Recheck();
      if (s.ok()) s = ReadProjection(self->d_->env, self->d_->projector, req, access->principal(), &resp);
      access->AddItems(resp.rows_size());
      access->Done(ToGrpc(s));
      Response r;
      if (!s.ok()) {
        r = JsonResponse(s);
      } else if (csv) {
        r.content_type = "text/csv; charset=utf-8";
        r.body = RowsToCsv(resp.rows());
        std::string file = absl::StrCat(req.name(), "-", resp.position(), ".csv");
        r.headers.emplace_back("Content-Disposition", absl::StrCat("attachment; filename=\"", file, "\""));
        r.headers.emplace_back("X-Gridlog-Position", absl::StrCat(resp.position()));
      } else {
        r.body = ToJson(resp);
      }
      asio::post(self->d_->io, [self, r = std::move(r)]() mutable { self->Reply(std::move(r)); });
    });
  }

  void Reply(Response r) {
    if (closed_) return;
    auto res = std::make_shared<http::response<http::string_body>>(r.status, req_.version());
    res->set(http::field::server, "gridd");
    res->set(http::field::content_type, r.content_type);
    res->set(http::field::cache_control, r.cache ? "no-cache" : "no-store");
    SecurityHeaders(res.get());
    for (auto& [k, v] : r.headers) res->set(k, v);
    const bool keep = req_.keep_alive() && !d_->stopping.load();
    res->keep_alive(keep);
    if (req_.method() == http::verb::head) {
      res->content_length(r.body.size());
    } else {
      res->body() = std::move(r.body);
      res->prepare_payload();
    }
    beast::get_lowest_layer(stream_).expires_after(kRequestTimeout);
    http::async_write(stream_, *res,
                      [self = this->shared_from_this(), res, keep](beast::error_code ec, size_t) {
                        if (ec || !keep) return self->Close();
                        self->Read();
                      });
  }

  template <class Fields>
  void SecurityHeaders(Fields* h) {
    h->set("Content-Security-Policy", kCsp);
    h->set("X-Content-Type-Options", "nosniff");
    h->set("Referrer-Policy", "no-referrer");
    h->set("X-Frame-Options", "DENY");
    h->set("Cross-Origin-Opener-Policy", "same-origin");
    h->set("Cross-Origin-Resource-Policy", "same-origin");
    h->set("Permissions-Policy", "camera=(), microphone=(), geolocation=()");
    if (kTls) h->set("Strict-Transport-Security", "max-age=31536000");
  }

  // ------------------------------------------------------------ the live page

  // GET /api/feed?f=NAME:PREFIX&f=...: every feed admitted as a
  // SubscribeProjection call of its own, then one event stream for all.
  void OpenPage(const Query& q) {
    const std::vector<std::string> specs = q.All("f");
    if (specs.empty() || specs.size() > d_->options.max_feeds_per_page) {
      return Reply(JsonResponse(absl::InvalidArgumentError(
          absl::StrCat("name 1 to ", d_->options.max_feeds_per_page, " feeds: ?f=PROJECTION:PREFIX&f=..."))));
    }
    std::vector<grid::v1::SubscribeProjectionRequest> reqs;
    std::vector<std::unique_ptr<AccessCall>> calls;
    auto refuse = [&](const absl::Status& s, absl::Duration retry) {
      for (auto& c : calls)
        c->Done(grpc::Status(grpc::StatusCode::CANCELLED, "another feed of the page was refused"));
      Reply(Refusal(s, retry));
    };
    for (const std::string& spec : specs) {
      const size_t colon = spec.find(':');
      grid::v1::SubscribeProjectionRequest r;
      r.set_name(spec.substr(0, colon));
      r.set_prefix(colon == std::string::npos ? "" : spec.substr(colon + 1));
      absl::Status s = ProjectionDefNamed(r.name()).status();
      if (s.ok()) s = CheckProjectionKey("prefix", r.prefix());
      if (!s.ok()) return refuse(s, absl::ZeroDuration());
      absl::Duration retry;
      auto call = d_->Admit(
          identity_.caller, Rpc::kSubscribeProjection,
          absl::StrCat("projection=", r.name().substr(0, 64), " prefix=", r.prefix().substr(0, 256)), &retry);
      if (!call.ok()) return refuse(call.status(), retry);
      calls.push_back(*std::move(call));
      reqs.push_back(std::move(r));
    }
    // A reconnecting EventSource sends the id of the last message it got:
    // `TAG:P0.P1...`, every feed's position (0 for one that was in its
    // snapshot). The tag names the rights and feeds the positions were
    // served under: with other rights (a policy reload, another person in
    // the browser) rows now in scope would never come as changes, so every
    // feed then starts with a snapshot again.
    tag_ = PageTag(calls.front()->principal(), specs);
    std::vector<uint64_t> resume(specs.size(), 0);
    if (absl::string_view last = Sv(req_["Last-Event-ID"]); absl::ConsumePrefix(&last, tag_ + ":")) {
      std::vector<absl::string_view> parts = absl::StrSplit(last, '.');
      if (parts.size() == specs.size()) {
        for (size_t i = 0; i < parts.size(); ++i) {
          if (!absl::SimpleAtoi(parts[i], &resume[i])) resume[i] = 0;
        }
      }
    }
    page_ = true;
    d_->pages.fetch_add(1);
    beast::get_lowest_layer(stream_).expires_never();
    KeepAliveProbes();
    http::response<http::empty_body> head{http::status::ok, req_.version()};
    head.set(http::field::server, "gridd");
    head.set(http::field::content_type, "text/event-stream; charset=utf-8");
    head.set(http::field::cache_control, "no-store");
    head.set("X-Accel-Buffering", "no");
    SecurityHeaders(&head);
    head.keep_alive(false);
    std::ostringstream out;
    out << head.base();
    // The browser retries 2 s after a broken stream.
    Enqueue(Frame{-1, false, out.str() + "retry: 2000\n\n"});
    for (size_t i = 0; i < reqs.size(); ++i) {
      auto* feed = new DashboardFeed(d_->env, d_->projector, reqs[i], resume[i]);
      feed->Attach(this->shared_from_this(), static_cast<int>(i));
      feeds_.push_back(Slot{feed, reqs[i].name(), resume[i]});
      d_->feeds.fetch_add(1);
    }
    for (size_t i = 0; i < calls.size(); ++i)
      static_cast<DashboardFeed*>(feeds_[i].stream)->Start(std::move(calls[i]));
    WatchPeer();
    Heartbeat();
  }

  static std::string PageTag(const Principal& p, const std::vector<std::string>& specs) {
    std::string rights = absl::StrCat(p.name(), "\n", p.RoleName(), "\n", p.clearance(), "\n",
                                      absl::StrJoin(p.jurisdiction(), ","), "\n", p.worker_id(), "\n",
                                      absl::StrJoin(p.departments(), ","), "\n", absl::StrJoin(specs, "\n"));
    return storage::ToHex(storage::Sha256(rights)).substr(0, 12);
  }

  // A peer that vanished (a laptop closed, a cable pulled) is found in about
  // a minute by TCP itself, not after the kernel's retransmissions give up:
  // its feeds hold stream slots of the principal's.
  void KeepAliveProbes() {
    auto& socket = beast::get_lowest_layer(stream_).socket();
    beast::error_code ignored;
    socket.set_option(asio::socket_base::keep_alive(true), ignored);
    const int fd = socket.native_handle();
    const int idle = 30;
    const int interval = 10;
    const int count = 3;
    const unsigned int user_timeout_ms = 60000;
    ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
    ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof(interval));
    ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof(count));
    ::setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout_ms, sizeof(user_timeout_ms));
  }

  // The browser sends nothing on a live stream: a read that ends means it
  // has gone.
  void WatchPeer() {
    stream_.async_read_some(asio::buffer(scratch_),
                            [self = this->shared_from_this()](beast::error_code ec, size_t) {
                              if (ec) return self->Close();
                              self->WatchPeer();
                            });
  }

  void Heartbeat() {
    heartbeat_.expires_after(kHeartbeat);
    heartbeat_.async_wait([self = this->shared_from_this()](beast::error_code ec) {
      if (ec || self->closed_) return;
      // A session that ended (its lifetime over, signed out on another
      // page, pushed out by newer ones) ends its pages; an open page counts
      // as use, so a wall display is not signed out for idleness.
      if (!self->identity_.session_hash.empty() &&
          !self->d_->sessions->FindByHash(self->identity_.session_hash, absl::Now()).has_value()) {
        return self->EndAll("the session ended: sign in again");
      }
      if (self->queue_.empty() && !self->writing_) self->Enqueue(Frame{-1, false, ": heartbeat\n\n"});
      self->Heartbeat();
    });
  }

  // Ends every feed of the page at once with UNAUTHENTICATED (the page
  // shows why): nothing more of them is sent, what is queued is dropped,
  // the end events are written, then the connection closes.
  void EndAll(const std::string& why) {
    if (closing_) return;
    closing_ = true;
    // Rows not yet on their way go (the one being written finishes).
    for (auto it = queue_.begin(); it != queue_.end();) {
      if (it->feed >= 0 && !it->end && !(writing_ && it == queue_.begin())) {
        Slot& s = feeds_[it->feed];
        s.write_pending = false;
        s.stream->OnWriteDone(false);
        it = queue_.erase(it);
      } else {
        ++it;
      }
    }
    for (size_t i = 0; i < feeds_.size(); ++i) {
      if (feeds_[i].ended || feeds_[i].done) continue;
      feeds_[i].stream->OnCancel();
      Enqueue(Frame{-1, false,
                    absl::StrCat("event: end\ndata: {\"feed\":", i,
                                 ",\"code\":\"UNAUTHENTICATED\",\"message\":", JsonString(why), "}\n\n")});
    }
    MaybeCloseAfterWrites();
  }

  std::string LastEventId() const {
    std::vector<std::string> p;
    p.reserve(feeds_.size());
    for (const Slot& s : feeds_) p.push_back(absl::StrCat(s.position));
    return absl::StrCat(tag_, ":", absl::StrJoin(p, "."));
  }

  void OnFeedMessage(int index, uint64_t position, bool snapshot, bool complete, std::string json) {
    Slot& s = feeds_[index];
    if (closed_ || closing_) {
      s.stream->OnWriteDone(false);
      return;
    }
    s.position = snapshot && !complete ? 0 : position;
    s.write_pending = true;
    Enqueue(Frame{index, false, absl::StrCat("id: ", LastEventId(), "\nevent: rows\ndata: ", json, "\n\n")});
  }

  void OnFeedEnd(int index, const grpc::Status& status) {
    Slot& s = feeds_[index];
    s.ended = true;
    if (closed_ || closing_) return Done(index);  // the page was told why already
    const absl::Status st = AbslOf(status);
    if (!st.ok() && st.code() != absl::StatusCode::kCancelled) {
      spdlog::debug("dashboard feed {} of {} ended: {}", s.name, identity_.caller.name, st.ToString());
    }
    Enqueue(Frame{
        index, true,
        absl::StrCat("event: end\ndata: {\"feed\":", index, ",\"code\":", JsonString(CodeName(st.code())),
                     ",\"message\":", JsonString(st.message()), "}\n\n")});
  }

  void Done(int index) {
    Slot& s = feeds_[index];
    if (s.done) return;
    s.done = true;
    s.stream->OnDone();
    d_->FeedEnded();
    MaybeEndPage();
  }

  void MaybeEndPage() {
    for (const Slot& s : feeds_) {
      if (!s.done) return;
    }
    if (page_) {
      page_ = false;
      d_->pages.fetch_sub(1);
      // Every feed ended: the stream ends too (the browser has been told why).
      if (!closed_) {
        closing_ = true;
        MaybeCloseAfterWrites();
      }
    }
  }

  void MaybeCloseAfterWrites() {
    if (closing_ && queue_.empty() && !writing_) Close();
  }

  void Enqueue(Frame f) {
    queue_.push_back(std::move(f));
    WriteNext();
  }

  void WriteNext() {
    if (writing_ || closed_) return;
    if (queue_.empty()) return MaybeCloseAfterWrites();
    writing_ = true;
    const uint64_t write = ++writes_;
    write_timer_.expires_after(kWriteTimeout);
    write_timer_.async_wait([self = this->shared_from_this(), write](beast::error_code ec) {
      // The browser took too long (a timer that fired as its write finished
      // is not this write's).
      if (!ec && self->writing_ && self->writes_ == write) self->Close();
    });
    asio::async_write(stream_, asio::buffer(queue_.front().data),
                      [self = this->shared_from_this()](beast::error_code ec, size_t) {
                        self->writing_ = false;
                        self->write_timer_.cancel();
                        if (self->closed_) return;
                        if (ec) return self->Close();
                        Frame f = std::move(self->queue_.front());
                        self->queue_.pop_front();
                        if (f.feed >= 0) {
                          Slot& s = self->feeds_[f.feed];
                          if (f.end) {
                            self->Done(f.feed);
                          } else if (s.write_pending) {
                            s.write_pending = false;
                            s.stream->OnWriteDone(true);
                          }
                        }
                        self->WriteNext();
                      });
  }

  Dashboard::Impl* const d_;
  Stream stream_;
  const std::string peer_;  // as the audit names it: "https:127.0.0.1:50312"
  std::string cert_principal_;
  beast::flat_buffer buffer_{8192};
  std::optional<http::request_parser<http::string_body>> parser_;
  http::request<http::string_body> req_;
  Identity identity_;
  uint64_t requests_ = 0;
  bool closed_ = false;
  // The live page, once the stream is open.
  bool page_ = false;
  bool closing_ = false;
  bool writing_ = false;
  std::vector<Slot> feeds_;
  std::string tag_;  // of the page's rights and feeds, in every event id
  std::deque<Frame> queue_;
  uint64_t writes_ = 0;  // writes started, so a late timer knows its own
  asio::steady_timer heartbeat_;
  asio::steady_timer write_timer_;
  std::array<char, 512> scratch_;
};

}  // namespace

void Dashboard::Impl::Accept() {
  acceptor.async_accept([this](beast::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || stopping.load()) return;
    if (ec) {
      // Out of file descriptors, say: try again in a while, not in a loop.
      accept_pause.expires_after(std::chrono::milliseconds(100));
      accept_pause.async_wait([this](beast::error_code e) {
        if (!e && !stopping.load()) Accept();
      });
      return;
    }
    if (!ec) {
      beast::error_code ignored;
      const auto remote = socket.remote_endpoint(ignored);
      const std::string peer = absl::StrCat(remote.address().to_string(), ":", remote.port());
      if (connections.load() >= options.max_connections) {
        socket.close(ignored);  // past the limit: refused at once
      } else {
        std::shared_ptr<ConnectionBase> c;
        if (tls) {
          auto conn = std::make_shared<Connection<beast::ssl_stream<beast::tcp_stream>>>(
              this, beast::ssl_stream<beast::tcp_stream>(std::move(socket), *tls), peer);
          conn->Start();
          c = conn;
        } else {
          auto conn = std::make_shared<Connection<beast::tcp_stream>>(
              this, beast::tcp_stream(std::move(socket)), peer);
          conn->Start();
          c = conn;
        }
        open.remove_if([](const auto& w) { return w.expired(); });
        open.push_back(c);
      }
    }
    Accept();
  });
}

Dashboard::Dashboard(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

Dashboard::~Dashboard() { Stop(); }

int Dashboard::port() const { return impl_->port; }

Dashboard::Stats Dashboard::GetStats() const {
  Stats s;
  s.connections = impl_->connections.load();
  s.pages = impl_->pages.load();
  s.feeds = impl_->feeds.load();
  s.sessions = impl_->sessions == nullptr ? 0 : impl_->sessions->size(absl::Now());
  return s;
}

absl::StatusOr<std::unique_ptr<Dashboard>> Dashboard::Start(const DashboardOptions& options,
                                                            const AuthOptions& auth,
                                                            const std::string& data_dir, ServiceContext* env,
                                                            Projector* projector) {
  if (absl::Status s = CheckListen(options.listen, auth, !env->access->dev_mode()); !s.ok()) {
    return absl::FailedPreconditionError(absl::StrCat("dashboard_listen: ", s.message()));
  }
  auto impl = std::make_shared<Impl>();
  impl->options = options;
  impl->env = env;
  impl->projector = projector;
  impl->tokens = std::make_unique<TokenTable>(auth.tokens);
  impl->authenticates = auth.authenticates();
  if (impl->authenticates) {
    auto sessions = SessionStore::Open({.path = data_dir + "/dashboard_sessions",
                                        .lifetime = options.session_lifetime,
                                        .idle = options.session_idle},
                                       absl::Now());
    if (!sessions.ok()) return sessions.status();
    impl->sessions = *std::move(sessions);
    // Sessions of tokens no longer configured end now.
    TokenTable* tokens = impl->tokens.get();
    if (absl::Status s = impl->sessions->RemoveUnless([tokens](const SessionStore::Session& x) {
          return tokens->PrincipalOfHash(x.credential) == x.principal;
        });
        !s.ok()) {
      return s;
    }
  }
  if (auth.tls()) {
    auto cert = ReadSettingFile(auth.tls_cert_path, "tls_cert");
    if (!cert.ok()) return cert.status();
    auto key = ReadSettingFile(auth.tls_key_path, "tls_key");
    if (!key.ok()) return key.status();
    impl->tls.emplace(ssl::context::tls_server);
    ssl::context& ctx = *impl->tls;
    ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                    ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::single_dh_use);
    beast::error_code ec;
    ctx.use_certificate_chain(asio::buffer(*cert), ec);
    if (!ec) ctx.use_private_key(asio::buffer(*key), ssl::context::pem, ec);
    if (ec)
      return absl::InvalidArgumentError(absl::StrCat("dashboard TLS: tls_cert/tls_key: ", ec.message()));
    if (!auth.tls_client_ca_path.empty()) {
      auto ca = ReadSettingFile(auth.tls_client_ca_path, "tls_client_ca");
      if (!ca.ok()) return ca.status();
      ctx.add_certificate_authority(asio::buffer(*ca), ec);
      if (ec) return absl::InvalidArgumentError(absl::StrCat("dashboard TLS: tls_client_ca: ", ec.message()));
      // Ask for a certificate, and verify one that comes; a person without
      // one signs in with a token instead.
      ctx.set_verify_mode(ssl::verify_peer);
      // Without it OpenSSL refuses to resume a TLS 1.2 session of a
      // verified peer, and such a browser's reconnects fail.
      static constexpr unsigned char kSessionContext[] = "gridlog-dashboard";
      SSL_CTX_set_session_id_context(ctx.native_handle(), kSessionContext, sizeof(kSessionContext) - 1);
      if (STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(auth.tls_client_ca_path.c_str());
          names != nullptr) {
        SSL_CTX_set_client_CA_list(ctx.native_handle(), names);
      }
    }
  }
  // The listen address: host:port.
  const auto colon = options.listen.rfind(':');
  int port = 0;
  if (colon == std::string::npos || !absl::SimpleAtoi(options.listen.substr(colon + 1), &port) || port < 0 ||
      port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("dashboard_listen: '", options.listen, "' is not host:port"));
  }
  std::string host = options.listen.substr(0, colon);
  std::string bare = host;
  if (bare.size() >= 2 && bare.front() == '[' && bare.back() == ']') bare = bare.substr(1, bare.size() - 2);
  if (bare == "localhost") bare = "127.0.0.1";
  beast::error_code ec;
  const auto address = asio::ip::make_address(bare, ec);
  if (ec)
    return absl::InvalidArgumentError(absl::StrCat("dashboard_listen: '", host, "' is not an IP address"));
  const tcp::endpoint endpoint(address, static_cast<unsigned short>(port));
  impl->acceptor.open(endpoint.protocol(), ec);
  if (!ec) impl->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) impl->acceptor.bind(endpoint, ec);
  if (!ec) impl->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec)
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", options.listen, " for the dashboard: ", ec.message()));
  impl->port = impl->acceptor.local_endpoint().port();
  const std::string p = absl::StrCat(":", impl->port);
  impl->hosts = {host + p};
  if (IsLoopbackHost(host) || IsLoopbackHost(bare)) {
    impl->hosts.insert(impl->hosts.end(), {"127.0.0.1" + p, "localhost" + p, "[::1]" + p});
  }
  impl->work.emplace(impl->io.get_executor());
  impl->Accept();
  Impl* raw = impl.get();
  impl->thread = std::thread([raw] { raw->io.run(); });
  return std::unique_ptr<Dashboard>(new Dashboard(std::move(impl)));
}

void Dashboard::Stop() {
  Impl* d = impl_.get();
  if (!d->thread.joinable() || d->stopping.exchange(true)) return;
  // The feeds of live pages end by themselves (gridd is stopping: their
  // next step ends them UNAVAILABLE, which the page is told, and the
  // browser reconnects to the next gridd); other connections close now.
  asio::post(d->io, [d] {
    beast::error_code ignored;
    d->acceptor.close(ignored);
    d->accept_pause.cancel();
    for (auto& w : d->open) {
      if (auto c = w.lock()) c->Drain();
    }
  });
  auto wait_for_feeds = [d](absl::Duration most) {
    grid::MutexLock l(&d->mu);
    const absl::Time until = absl::Now() + most;
    while (d->feeds.load() > 0 && absl::Now() < until) d->feeds_ended.WaitFor(&d->mu, until - absl::Now());
    return d->feeds.load() == 0;
  };
  if (!wait_for_feeds(absl::Seconds(5))) {
    asio::post(d->io, [d] {
      for (auto& w : d->open) {
        if (auto c = w.lock()) c->Close();
      }
    });
    wait_for_feeds(absl::Seconds(10));
  }
  // What is left (a read's answer on its way) runs, then run() returns.
  d->work.reset();
  asio::post(d->io, [d] {
    for (auto& w : d->open) {
      if (auto c = w.lock()) c->Close();
    }
  });
  d->thread.join();
}

}  // namespace grid::server
