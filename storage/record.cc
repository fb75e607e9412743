#include "storage/record.h"

#include <openssl/evp.h>

#include <google/protobuf/descriptor.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/message_lite.h>
#include <google/protobuf/unknown_field_set.h>
#include <google/protobuf/wire_format_lite.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "grid/v1/event.pb.h"
#include "storage/big_endian.h"

namespace grid::storage {
namespace {
constexpr char kChainTag = 0x7A;  // field 15, wire type 2 (event.proto)
constexpr char kChainLen = 0x20;

// OpenSSL 3 looks EVP_sha256() up in its provider store at every digest
// init (a lock and a hash lookup, ~40% of the cost of hashing a record):
// the method is fetched once, and each thread keeps one context.
const EVP_MD* Sha256Method() {
  static EVP_MD* const md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  return md != nullptr ? md : EVP_sha256();
}

// Null only while OpenSSL cannot allocate one; the next call tries again.
EVP_MD_CTX* ThreadContext() {
  thread_local std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx(nullptr, &EVP_MD_CTX_free);
  if (ctx == nullptr) ctx.reset(EVP_MD_CTX_new());
  return ctx.get();
}

// Whether `field` with `wire_type` is one of Event's client fields (1-7).
bool KnownClientField(int field, google::protobuf::internal::WireFormatLite::WireType wire_type) {
  static const auto* const kTypes = [] {
    auto* types = new std::array<int, 8>;
    types->fill(-1);
    for (int n = 1; n < static_cast<int>(types->size()); ++n) {
      const google::protobuf::FieldDescriptor* f = grid::v1::Event::descriptor()->FindFieldByNumber(n);
      if (f != nullptr && !f->is_repeated()) {
        (*types)[n] = google::protobuf::internal::WireFormatLite::WireTypeForFieldType(
            static_cast<google::protobuf::internal::WireFormatLite::FieldType>(f->type()));
      }
    }
    return types;
  }();
  return field >= 1 && field < static_cast<int>(kTypes->size()) && (*kTypes)[field] == wire_type;
}

}  // namespace

Digest Sha256(std::string_view data) {
  Digest out{};
  unsigned int len = 0;
  EVP_MD_CTX* ctx = ThreadContext();
  if (ctx == nullptr || EVP_DigestInit_ex2(ctx, Sha256Method(), nullptr) != 1 ||
      EVP_DigestUpdate(ctx, data.data(), data.size()) != 1 ||
      EVP_DigestFinal_ex(ctx, out.data(), &len) != 1) {
    if (EVP_Digest(data.data(), data.size(), out.data(), &len, EVP_sha256(), nullptr) != 1) {
      // A wrong digest would be stored in the chain for good: stop instead.
      std::fputs("gridd: SHA-256 failed (OpenSSL out of memory?); stopping\n", stderr);
      std::abort();
    }
  }
  return out;
}

Sha256Stream::Sha256Stream() : ctx_(EVP_MD_CTX_new()) {
  EVP_DigestInit_ex2(static_cast<EVP_MD_CTX*>(ctx_), Sha256Method(), nullptr);
}

Sha256Stream::~Sha256Stream() { EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(ctx_)); }

void Sha256Stream::Update(std::string_view data) {
  EVP_DigestUpdate(static_cast<EVP_MD_CTX*>(ctx_), data.data(), data.size());
}

Digest Sha256Stream::Finish() {
  Digest out;
  unsigned int len = 0;
  EVP_DigestFinal_ex(static_cast<EVP_MD_CTX*>(ctx_), out.data(), &len);
  EVP_DigestInit_ex2(static_cast<EVP_MD_CTX*>(ctx_), Sha256Method(), nullptr);
  return out;
}

Digest ChainLink(const Digest& prev, Position position, std::string_view stored_bytes) {
  const Digest body = Sha256(stored_bytes);
  unsigned char buf[32 + 8 + 32];
  std::memcpy(buf, prev.data(), prev.size());
  PutBigEndian64(buf + 32, position);
  std::memcpy(buf + 40, body.data(), body.size());
  return Sha256(std::string_view(reinterpret_cast<const char*>(buf), sizeof(buf)));
}

std::string MakeWire(std::string_view stored_bytes, const Digest& chain) {
  std::string wire;
  wire.reserve(stored_bytes.size() + kChainFieldSize);
  wire.append(stored_bytes);
  AppendChainField(chain, &wire);
  return wire;
}

void AppendChainField(const Digest& chain, std::string* stored_bytes) {
  stored_bytes->push_back(kChainTag);
  stored_bytes->push_back(kChainLen);
  stored_bytes->append(reinterpret_cast<const char*>(chain.data()), chain.size());
}

std::string EncodeMessageField(int number, const google::protobuf::MessageLite& message) {
  using WFL = google::protobuf::internal::WireFormatLite;
  std::string out;
  {
    google::protobuf::io::StringOutputStream stream(&out);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    coded.WriteTag(WFL::MakeTag(number, WFL::WIRETYPE_LENGTH_DELIMITED));
    coded.WriteVarint32(static_cast<uint32_t>(message.ByteSizeLong()));
    message.SerializeWithCachedSizes(&coded);
  }
  return out;
}

absl::Status AppendStored(std::string_view client, const ServerFields& server, std::string* out) {
  namespace io = google::protobuf::io;
  using WFL = google::protobuf::internal::WireFormatLite;
  using grid::v1::Event;
  if (client.size() > static_cast<size_t>(std::numeric_limits<int>::max())) {
    return absl::DataLossError("event does not parse");
  }
  // The first top-level field numbered above the server's last; every
  // field is walked, so that bytes which are not a message are refused.
  io::CodedInputStream in(reinterpret_cast<const uint8_t*>(client.data()), static_cast<int>(client.size()));
  size_t split = client.size();
  for (;;) {
    const int start = in.CurrentPosition();
    const uint32_t tag = in.ReadTag();
    if (tag == 0) break;
    const int field = static_cast<int>(WFL::GetTagFieldNumber(tag));
    if (field >= Event::kRecordedAtFieldNumber && field <= Event::kActorFieldNumber) {
      return absl::InvalidArgumentError("the event carries a server field");
    }
    // An unknown field is serialized after every known one, so one
    // numbered below the server's would stand after them in the whole
    // event: not spliced.
    if (field < Event::kRecordedAtFieldNumber && !KnownClientField(field, WFL::GetTagWireType(tag))) {
      return absl::InvalidArgumentError("the event carries an unknown field");
    }
    if (field > Event::kActorFieldNumber && split == client.size()) split = static_cast<size_t>(start);
    if (!WFL::SkipField(&in, tag)) return absl::DataLossError("event does not parse");
  }
  if (!in.ConsumedEntireMessage() || in.CurrentPosition() != static_cast<int>(client.size())) {
    return absl::DataLossError("event does not parse");
  }
  uint8_t varints[2 * 11];
  uint8_t* end = varints;
  if (server.position != 0) end = WFL::WriteUInt64ToArray(Event::kPositionFieldNumber, server.position, end);
  if (server.stream_version != 0) {
    end = WFL::WriteUInt64ToArray(Event::kStreamVersionFieldNumber, server.stream_version, end);
  }
  out->append(client.substr(0, split));
  out->append(server.recorded_at);
  out->append(reinterpret_cast<const char*>(varints), static_cast<size_t>(end - varints));
  out->append(server.actor);
  out->append(client.substr(split));
  return absl::OkStatus();
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

absl::StatusOr<Digest> ClientFingerprint(std::string_view stored, std::string* event_id) {
  namespace io = google::protobuf::io;
  using WFL = google::protobuf::internal::WireFormatLite;
  using grid::v1::Event;
  if (stored.size() > static_cast<size_t>(std::numeric_limits<int>::max())) {
    return absl::DataLossError("record does not parse");
  }
  io::CodedInputStream in(reinterpret_cast<const uint8_t*>(stored.data()), static_cast<int>(stored.size()));
  EVP_MD_CTX* ctx = ThreadContext();
  if (ctx == nullptr || EVP_DigestInit_ex2(ctx, Sha256Method(), nullptr) != 1) {
    return absl::UnavailableError("SHA-256 is not available now (OpenSSL out of memory?)");
  }
  auto hash = [ctx](std::string_view bytes) {
    return EVP_DigestUpdate(ctx, bytes.data(), bytes.size()) == 1;
  };
  bool hashed = true;
  int run = 0;  // where the bytes not yet hashed start
  event_id->clear();
  for (;;) {
    const int start = in.CurrentPosition();
    const uint32_t tag = in.ReadTag();
    if (tag == 0) break;
    const int field = static_cast<int>(WFL::GetTagFieldNumber(tag));
    if (field == Event::kEventIdFieldNumber && WFL::GetTagWireType(tag) == WFL::WIRETYPE_LENGTH_DELIMITED) {
      uint32_t len = 0;
      if (!in.ReadVarint32(&len) || !in.ReadString(event_id, static_cast<int>(len))) break;
      continue;
    }
    if (!WFL::SkipField(&in, tag)) break;
    // A server field only with its own wire type: the same number with
    // another is an unknown field to the parser, kept in the event (and in
    // the writer's fingerprint of it).
    const auto type = WFL::GetTagWireType(tag);
    if (((field == Event::kRecordedAtFieldNumber || field == Event::kActorFieldNumber) &&
         type == WFL::WIRETYPE_LENGTH_DELIMITED) ||
        ((field == Event::kPositionFieldNumber || field == Event::kStreamVersionFieldNumber) &&
         type == WFL::WIRETYPE_VARINT)) {
      hashed = hash(stored.substr(run, start - run)) && hashed;
      run = in.CurrentPosition();
    }
  }
  if (!in.ConsumedEntireMessage() || in.CurrentPosition() != static_cast<int>(stored.size())) {
    return absl::DataLossError("record does not parse");
  }
  Digest out;
  unsigned int len = 0;
  if (!hash(stored.substr(run)) || !hashed || EVP_DigestFinal_ex(ctx, out.data(), &len) != 1) {
    return absl::UnavailableError("SHA-256 failed (OpenSSL out of memory?)");
  }
  return out;
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
