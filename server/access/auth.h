// Who is calling: TLS for the server, and callers identified by a client
// certificate (mutual TLS) or a bearer token. The caller's identity comes
// only from the call's auth context (never from anything in a request).
//
// Tokens are configured only as the SHA-256 of their bytes; a caller sends
// `authorization: Bearer <token>`. A token, when sent, decides the principal
// (a wrong one is refused even with a good certificate); otherwise the client
// certificate's common name is the principal. A call with neither gets
// UNAUTHENTICATED.
#ifndef GRID_SERVER_ACCESS_AUTH_H_
#define GRID_SERVER_ACCESS_AUTH_H_

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"

namespace grpc {
class ServerCredentials;
class ServerContextBase;
}  // namespace grpc

namespace grid::server {

struct AuthOptions {
  std::string tls_cert_path;       // PEM certificate chain
  std::string tls_key_path;        // PEM private key
  std::string tls_client_ca_path;  // PEM CAs; set: client certificates required
  struct Token {
    std::string principal;
    std::string sha256_hex;  // lower-case
  };
  std::vector<Token> tokens;

  bool tls() const { return !tls_cert_path.empty(); }
  // Every caller proves an identity.
  bool authenticates() const { return tls() && (!tls_client_ca_path.empty() || !tokens.empty()); }
};

// Bearer tokens by their SHA-256. Thread-safe (read-only once built).
class TokenTable {
 public:
  explicit TokenTable(const std::vector<AuthOptions::Token>& tokens);
  // The principal `token` names, or "" for an unknown token.
  std::string PrincipalOf(std::string_view token) const;
  // The principal of the token whose SHA-256 (hex) is `sha256_hex`, or "".
  std::string PrincipalOfHash(std::string_view sha256_hex) const;
  bool empty() const { return principals_.empty(); }

 private:
  absl::flat_hash_map<std::string, std::string> principals_;  // sha256 hex -> principal
};

// The combination makes sense: TLS needs a certificate and a key; client CAs
// and tokens need TLS; token hashes are 64 hex characters. INVALID_ARGUMENT
// naming the setting otherwise.
absl::Status ValidateAuth(const AuthOptions& auth);

// Loopback addresses are always allowed; any other only when every caller
// authenticates and an access policy decides what each may do
// (FAILED_PRECONDITION saying what is missing).
absl::Status CheckListen(const std::string& listen, const AuthOptions& auth, bool has_policy);

// TLS credentials with the token check, or insecure ones without TLS. Reads
// the PEM files.
// `on_refused(method, why)`, when set, hears of every call refused for
// want of credentials (for the access audit); it runs on gRPC's threads.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const AuthOptions& auth, std::function<void(std::string method, std::string why)> on_refused = nullptr);

// The authenticated principal of the call, or "" when the server runs
// without authentication.
std::string PrincipalOf(const grpc::ServerContextBase& ctx);

// True when every address `host:port` resolves to is loopback (127.0.0.0/8,
// ::1): decided on the resolved addresses, so "127.x.example" counts only if
// it resolves to loopback. False for a name that does not resolve and for
// an empty host (every interface).
bool IsLoopbackListenAddress(const std::string& host_port);

}  // namespace grid::server

#endif  // GRID_SERVER_ACCESS_AUTH_H_
