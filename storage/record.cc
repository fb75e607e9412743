#include "storage/record.h"

#include <openssl/evp.h>

#include <google/protobuf/unknown_field_set.h>

#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "grid/v1/event.pb.h"
#include "storage/big_endian.h"

namespace grid::storage {
namespace {
constexpr char kChainTag = 0x7A;  // field 15, wire type 2 (event.proto)
constexpr char kChainLen = 0x20;
}  // namespace

Digest Sha256(std::string_view data) {
  Digest out;
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), out.data(), &len, EVP_sha256(), nullptr);
  return out;
}

Sha256Stream::Sha256Stream() : ctx_(EVP_MD_CTX_new()) {
  EVP_DigestInit_ex(static_cast<EVP_MD_CTX*>(ctx_), EVP_sha256(), nullptr);
}

Sha256Stream::~Sha256Stream() { EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(ctx_)); }

void Sha256Stream::Update(std::string_view data) {
  EVP_DigestUpdate(static_cast<EVP_MD_CTX*>(ctx_), data.data(), data.size());
}

Digest Sha256Stream::Finish() {
  Digest out;
  unsigned int len = 0;
  EVP_DigestFinal_ex(static_cast<EVP_MD_CTX*>(ctx_), out.data(), &len);
  EVP_DigestInit_ex(static_cast<EVP_MD_CTX*>(ctx_), EVP_sha256(), nullptr);
  return out;
}

Digest ChainLink(const Digest& prev, Position position, std::string_view stored_bytes) {
  const Digest body = Sha256(stored_bytes);
  std::string buf;
  buf.reserve(32 + 8 + 32);
  buf.append(reinterpret_cast<const char*>(prev.data()), prev.size());
  PutBigEndian64(&buf, position);
  buf.append(reinterpret_cast<const char*>(body.data()), body.size());
  return Sha256(buf);
}

std::string MakeWire(std::string_view stored_bytes, const Digest& chain) {
  std::string wire;
  wire.reserve(stored_bytes.size() + kChainFieldSize);
  wire.append(stored_bytes);
  wire.push_back(kChainTag);
  wire.push_back(kChainLen);
  wire.append(reinterpret_cast<const char*>(chain.data()), chain.size());
  return wire;
}

absl::StatusOr<WireParts> SplitWire(std::string_view wire) {
  if (wire.size() < kChainFieldSize || wire[wire.size() - kChainFieldSize] != kChainTag ||
      wire[wire.size() - kChainFieldSize + 1] != kChainLen) {
    return absl::DataLossError(
        absl::StrCat("record of ", wire.size(), " bytes does not end in a chain field"));
  }
  WireParts parts;
  parts.stored = wire.substr(0, wire.size() - kChainFieldSize);
  std::memcpy(parts.chain.data(), wire.data() + wire.size() - 32, 32);
  return parts;
}

absl::StatusOr<Position> StoredPosition(std::string_view stored) {
  google::protobuf::UnknownFieldSet fields;
  if (!fields.ParseFromArray(stored.data(), static_cast<int>(stored.size()))) {
    return absl::DataLossError("record does not parse");
  }
  Position position = 0;
  for (int i = 0; i < fields.field_count(); ++i) {
    const auto& f = fields.field(i);
    if (f.number() == grid::v1::Event::kPositionFieldNumber &&
        f.type() == google::protobuf::UnknownField::TYPE_VARINT) {
      position = f.varint();
    }
  }
  return position;
}

std::string ToHex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 0xF]);
  }
  return out;
}

}  // namespace grid::storage
