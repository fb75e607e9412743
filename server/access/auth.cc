#include "server/access/auth.h"

#include <grpcpp/security/auth_metadata_processor.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_context.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "server/ops/json_file.h"
#include "storage/record.h"

namespace grid::server {
namespace {

constexpr char kPrincipalProperty[] = "grid.principal";
constexpr char kCommonNameProperty[] = "x509_common_name";

// Runs for every call on a TLS connection, before the handler.
class TokenProcessor final : public grpc::AuthMetadataProcessor {
 public:
  TokenProcessor(const std::vector<AuthOptions::Token>& tokens, bool client_certs,
                 std::function<void(std::string, std::string)> on_refused)
      : client_certs_(client_certs), on_refused_(std::move(on_refused)), tokens_(tokens) {}

  // A hash lookup: cheap enough to run on gRPC's own thread.
  bool IsBlocking() const override { return false; }

  grpc::Status Process(const InputMetadata& metadata, grpc::AuthContext* context, OutputMetadata* consumed,
                       OutputMetadata* response) override {
    grpc::Status s = Check(metadata, context, consumed);
    if (!s.ok() && on_refused_) {
      auto path = metadata.find(":path");
      on_refused_(path == metadata.end() ? "" : std::string(path->second.data(), path->second.size()),
                  s.error_message());
    }
    return s;
  }

 private:
  grpc::Status Check(const InputMetadata& metadata, grpc::AuthContext* context, OutputMetadata* consumed) {
    auto it = metadata.find("authorization");
    if (it != metadata.end()) {
      const std::string value(it->second.data(), it->second.size());
      if (!absl::StartsWith(value, "Bearer ")) {
        return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "authorization must be `Bearer <token>`");
      }
      const std::string principal = tokens_.PrincipalOf(std::string_view(value).substr(7));
      if (principal.empty()) {
        return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "unknown bearer token");
      }
      consumed->insert(std::make_pair(std::string(it->first.data(), it->first.size()), value));
      Identify(context, principal);
      return grpc::Status::OK;
    }
    if (client_certs_) {
      // The TLS handshake has verified the certificate against the CAs.
      auto cn = context->FindPropertyValues(kCommonNameProperty);
      if (!cn.empty() && !cn.front().empty()) {
        Identify(context, std::string(cn.front().data(), cn.front().size()));
        return grpc::Status::OK;
      }
    }
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                        client_certs_ ? "no identity: the client certificate has no common name and no "
                                        "bearer token was sent"
                                      : "no credentials: send `authorization: Bearer <token>`");
  }

  static void Identify(grpc::AuthContext* context, const std::string& principal) {
    context->AddProperty(kPrincipalProperty, principal);
    context->SetPeerIdentityPropertyName(kPrincipalProperty);
  }

  const bool client_certs_;
  const std::function<void(std::string, std::string)> on_refused_;
  const TokenTable tokens_;
};

}  // namespace

TokenTable::TokenTable(const std::vector<AuthOptions::Token>& tokens) {
  for (const auto& t : tokens) principals_[t.sha256_hex] = t.principal;
}

std::string TokenTable::PrincipalOf(std::string_view token) const {
  // A lookup by the token's hash: what is compared is not the secret, and
  // the hash of a guess says nothing of how close it was.
  return PrincipalOfHash(storage::ToHex(storage::Sha256(token)));
}

std::string TokenTable::PrincipalOfHash(std::string_view sha256_hex) const {
  auto p = principals_.find(std::string(sha256_hex));
  return p == principals_.end() ? "" : p->second;
}

bool IsLoopbackListenAddress(const std::string& hp) {
  std::string host = hp;
  for (const char* scheme : {"ipv4:", "ipv6:", "dns:"}) {
    if (absl::StartsWith(host, scheme)) host = host.substr(std::strlen(scheme));
  }
  if (auto colon = host.rfind(':'); colon != std::string::npos) host.resize(colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host.empty()) return false;  // every interface
  // Only a literal address or "localhost" (which gRPC binds to the loopback
  // addresses itself): any other name is resolved again when gRPC binds, so
  // an answer checked here (a zero-TTL record, another resolver order) is
  // not the address that would listen. A name that merely starts with "127."
  // is not an address at all.
  if (host == "localhost") return true;
  in_addr v4{};
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  if (inet_pton(AF_INET6, host.c_str(), &v6) == 1) {
    return IN6_IS_ADDR_LOOPBACK(&v6) || (IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127);
  }
  return false;
}

absl::Status ValidateAuth(const AuthOptions& a) {
  if (a.tls_cert_path.empty() != a.tls_key_path.empty()) {
    return absl::InvalidArgumentError("tls_cert and tls_key: give both or neither");
  }
  if (!a.tls() && !a.tls_client_ca_path.empty()) {
    return absl::InvalidArgumentError(
        "tls_client_ca: client certificates need TLS "
        "(tls_cert and tls_key)");
  }
  if (!a.tls() && !a.tokens.empty()) {
    return absl::InvalidArgumentError(
        "tokens: bearer tokens need TLS (tls_cert and tls_key); they must never cross a "
        "network in the clear");
  }
  for (const auto& t : a.tokens) {
    if (t.principal.empty()) return absl::InvalidArgumentError("tokens: a token has no principal");
    bool hex = t.sha256_hex.size() == 64;
    for (char c : t.sha256_hex) hex = hex && ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'));
    if (!hex) {
      return absl::InvalidArgumentError(
          absl::StrCat("tokens: the token of ", t.principal,
                       " must be given as its SHA-256, 64 lower-case hex characters"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckListen(const std::string& listen, const AuthOptions& auth, bool has_policy) {
  if (IsLoopbackListenAddress(listen)) return absl::OkStatus();
  if (!auth.authenticates()) {
    return absl::FailedPreconditionError(
        absl::StrCat("refusing to listen on ", listen,
                     ": a non-loopback address needs authentication configured: tls_cert and tls_key, "
                     "and tls_client_ca or tokens (README: Authentication)"));
  }
  if (!has_policy) {
    return absl::FailedPreconditionError(
        absl::StrCat("refusing to listen on ", listen,
                     ": a non-loopback address needs an access policy (policy_file), or every "
                     "authenticated caller could do everything (README: Access control)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const AuthOptions& auth, std::function<void(std::string, std::string)> on_refused) {
  if (absl::Status s = ValidateAuth(auth); !s.ok()) return s;
  if (!auth.tls()) return grpc::InsecureServerCredentials();
  auto cert = ReadSettingFile(auth.tls_cert_path, "tls_cert");
  if (!cert.ok()) return cert.status();
  auto key = ReadSettingFile(auth.tls_key_path, "tls_key");
  if (!key.ok()) return key.status();
  grpc::SslServerCredentialsOptions options(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  options.pem_key_cert_pairs.push_back({*key, *cert});
  const bool client_certs = !auth.tls_client_ca_path.empty();
  if (client_certs) {
    auto ca = ReadSettingFile(auth.tls_client_ca_path, "tls_client_ca");
    if (!ca.ok()) return ca.status();
    options.pem_root_certs = *ca;
    // With tokens too, a certificate is asked for and verified when given,
    // not required: a token holder has none (and was refused at the
    // handshake, although the server said it took either). The metadata
    // processor still refuses a call with neither.
    options.client_certificate_request = auth.tokens.empty()
                                             ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
                                             : GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  auto creds = grpc::SslServerCredentials(options);
  creds->SetAuthMetadataProcessor(
      std::make_shared<TokenProcessor>(auth.tokens, client_certs, std::move(on_refused)));
  return creds;
}

std::string PrincipalOf(const grpc::ServerContextBase& ctx) {
  auto context = ctx.auth_context();
  if (context == nullptr) return "";
  auto values = context->FindPropertyValues(kPrincipalProperty);
  if (values.empty()) return "";
  return std::string(values.front().data(), values.front().size());
}

}  // namespace grid::server
