#include "storage/checkpoint.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <sys/stat.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "storage/big_endian.h"

namespace grid::storage {
namespace {
constexpr char kMagic[] = "gridlog-checkpoint-v1";

std::string RawPublicKey(EVP_PKEY* pkey) {
  std::string raw(32, '\0');
  size_t len = raw.size();
  EVP_PKEY_get_raw_public_key(pkey, reinterpret_cast<unsigned char*>(raw.data()), &len);
  raw.resize(len);
  return raw;
}
}  // namespace

std::string CheckpointMessage(Position position, const Digest& chain, absl::Time time) {
  std::string m(kMagic, sizeof(kMagic));  // includes the terminating 0x00
  PutBigEndian64(&m, position);
  m.append(reinterpret_cast<const char*>(chain.data()), chain.size());
  PutBigEndian64(&m, static_cast<uint64_t>(absl::ToUnixMicros(time)));
  return m;
}

absl::StatusOr<std::unique_ptr<Signer>> Signer::LoadOrCreate(const std::string& path) {
  EVP_PKEY* pkey = nullptr;
  if (std::FILE* f = std::fopen(path.c_str(), "r")) {
    pkey = PEM_read_PrivateKey(f, nullptr, nullptr, nullptr);
    std::fclose(f);
    if (pkey == nullptr || EVP_PKEY_id(pkey) != EVP_PKEY_ED25519) {
      EVP_PKEY_free(pkey);
      return absl::InvalidArgumentError(absl::StrCat(path, " is not an Ed25519 private key in PEM"));
    }
  } else {
    EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, nullptr);
    if (ctx == nullptr || EVP_PKEY_keygen_init(ctx) <= 0 || EVP_PKEY_keygen(ctx, &pkey) <= 0) {
      EVP_PKEY_CTX_free(ctx);
      return absl::InternalError("Ed25519 key generation failed");
    }
    EVP_PKEY_CTX_free(ctx);
    const mode_t old = umask(077);
    std::FILE* out = std::fopen(path.c_str(), "w");
    umask(old);
    const bool ok =
        out != nullptr && PEM_write_PrivateKey(out, pkey, nullptr, nullptr, 0, nullptr, nullptr) == 1;
    if (out != nullptr) std::fclose(out);
    if (!ok) {
      EVP_PKEY_free(pkey);
      return absl::UnavailableError(absl::StrCat("cannot write signing key ", path));
    }
  }
  return std::unique_ptr<Signer>(new Signer(pkey, RawPublicKey(pkey)));
}

Signer::~Signer() { EVP_PKEY_free(static_cast<EVP_PKEY*>(pkey_)); }

std::string Signer::Sign(std::string_view message) const {
  std::string sig(64, '\0');
  size_t len = sig.size();
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestSignInit(ctx, nullptr, nullptr, nullptr, static_cast<EVP_PKEY*>(pkey_));
  EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                 reinterpret_cast<const unsigned char*>(message.data()), message.size());
  EVP_MD_CTX_free(ctx);
  sig.resize(len);
  return sig;
}

std::string Signer::public_key_pem() const {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PUBKEY(bio, static_cast<EVP_PKEY*>(pkey_));
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<size_t>(n));
  BIO_free(bio);
  return pem;
}

absl::StatusOr<std::string> ParsePublicKey(std::string_view text) {
  std::string trimmed(text);
  while (!trimmed.empty() && (trimmed.back() == '\n' || trimmed.back() == ' ')) trimmed.pop_back();
  if (trimmed.size() == 64) {
    const std::string raw = absl::HexStringToBytes(trimmed);
    if (raw.size() == 32 && ToHex(raw) == absl::AsciiStrToLower(trimmed)) return raw;
  }
  BIO* bio = BIO_new_mem_buf(text.data(), static_cast<int>(text.size()));
  EVP_PKEY* pkey = PEM_read_bio_PUBKEY(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (pkey == nullptr || EVP_PKEY_id(pkey) != EVP_PKEY_ED25519) {
    EVP_PKEY_free(pkey);
    return absl::InvalidArgumentError("not an Ed25519 public key (PEM \"PUBLIC KEY\" or 64 hex characters)");
  }
  std::string raw = RawPublicKey(pkey);
  EVP_PKEY_free(pkey);
  return raw;
}

absl::Status VerifySignature(std::string_view public_key, std::string_view message,
                             std::string_view signature) {
  EVP_PKEY* pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr,
                                               reinterpret_cast<const unsigned char*>(public_key.data()),
                                               public_key.size());
  if (pkey == nullptr) return absl::InvalidArgumentError("malformed Ed25519 public key");
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  const bool ok =
      EVP_DigestVerifyInit(ctx, nullptr, nullptr, nullptr, pkey) == 1 &&
      EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
                       reinterpret_cast<const unsigned char*>(message.data()), message.size()) == 1;
  EVP_MD_CTX_free(ctx);
  EVP_PKEY_free(pkey);
  return ok ? absl::OkStatus() : absl::DataLossError("checkpoint signature does not verify");
}

Digest HmacSha256(std::string_view key, std::string_view data) {
  Digest out;
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out.data(), &len);
  return out;
}

absl::StatusOr<std::string> LoadOrCreateSecretKey(const std::string& path) {
  if (std::ifstream in(path, std::ios::binary); in) {
    std::stringstream s;
    s << in.rdbuf();
    if (s.str().size() < 32) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, " holds ", s.str().size(), " bytes; a key needs at least 32"));
    }
    return s.str();
  }
  std::string key(32, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(key.data()), static_cast<int>(key.size())) != 1) {
    return absl::InternalError("no random bytes for a new key");
  }
  const mode_t old = umask(077);
  std::FILE* out = std::fopen(path.c_str(), "wb");
  umask(old);
  const bool ok = out != nullptr && std::fwrite(key.data(), 1, key.size(), out) == key.size();
  if (out != nullptr && std::fclose(out) != 0)
    return absl::UnavailableError(absl::StrCat("cannot write key ", path));
  if (!ok) return absl::UnavailableError(absl::StrCat("cannot write key ", path));
  return key;
}

}  // namespace grid::storage
