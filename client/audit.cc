#include "client/audit.h"

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "client/client.h"
#include "storage/big_endian.h"
#include "storage/checkpoint.h"
#include "storage/proto_time.h"

namespace grid::client {
namespace {
constexpr char kMagic[] = "GRIDLOG-EXPORT-1\n";
constexpr size_t kMagicLen = sizeof(kMagic) - 1;
constexpr uint32_t kCheckpointFlag = 0x80000000u;
constexpr uint32_t kMaxRecord = 64 << 20;

}  // namespace

ExportWriter::ExportWriter(std::FILE* f, storage::Position first, const storage::Digest& prev) : f_(f) {
  std::string header(kMagic);
  storage::PutBigEndian64(&header, first);
  header.append(reinterpret_cast<const char*>(prev.data()), prev.size());
  const storage::Digest sum = storage::Sha256(header);
  header.append(reinterpret_cast<const char*>(sum.data()), sum.size());
  std::fwrite(header.data(), 1, header.size(), f_);
}

ExportWriter::~ExportWriter() {
  if (f_ != nullptr) std::fclose(f_);
}

absl::Status ExportWriter::Put(uint32_t tag, std::string_view data) {
  const uint32_t n = static_cast<uint32_t>(data.size()) | tag;
  unsigned char len[4];
  storage::PutBigEndian32(len, n);
  if (std::fwrite(len, 1, 4, f_) != 4 || std::fwrite(data.data(), 1, data.size(), f_) != data.size()) {
    return absl::UnavailableError(absl::StrCat("write export: ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

absl::Status ExportWriter::AddEvent(std::string_view wire) { return Put(0, wire); }

absl::Status ExportWriter::AddCheckpoint(const grid::v1::SignedCheckpoint& cp) {
  return Put(kCheckpointFlag, cp.SerializeAsString());
}

absl::Status ExportWriter::Close() {
  std::FILE* f = f_;
  f_ = nullptr;
  if (std::fflush(f) != 0 || std::fclose(f) != 0) {
    return absl::UnavailableError(absl::StrCat("close export: ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<ExportReader>> ExportReader::Open(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    return absl::NotFoundError(absl::StrCat("open ", path, ": ", std::strerror(errno)));
  }
  std::unique_ptr<ExportReader> r(new ExportReader(f));
  char header[kMagicLen + 8 + 32 + 32];
  const size_t body = kMagicLen + 8 + 32;
  if (std::fread(header, 1, sizeof(header), f) != sizeof(header) ||
      std::memcmp(header, kMagic, kMagicLen) != 0) {
    return absl::DataLossError(absl::StrCat(path, ": not a gridlog export, or its export header is damaged"));
  }
  if (storage::Sha256(std::string_view(header, body)) !=
      *reinterpret_cast<const storage::Digest*>(header + body)) {
    return absl::DataLossError(absl::StrCat(path, ": the export header is damaged"));
  }
  r->first_ = storage::GetBigEndian64(std::string_view(header + kMagicLen, 8));
  std::memcpy(r->prev_.data(), header + kMagicLen + 8, 32);
  return r;
}

ExportReader::~ExportReader() { std::fclose(f_); }

absl::StatusOr<ExportReader::Kind> ExportReader::Next(std::string* data) {
  unsigned char len[4];
  const size_t got = std::fread(len, 1, 4, f_);
  if (got == 0 && std::feof(f_)) return Kind::kEnd;
  if (got != 4) return absl::DataLossError("export is truncated inside a length");
  uint32_t n = storage::GetBigEndian32(len);
  const Kind kind = (n & kCheckpointFlag) ? Kind::kCheckpoint : Kind::kEvent;
  n &= ~kCheckpointFlag;
  if (n > kMaxRecord) {
    return absl::DataLossError(absl::StrCat("export record length ", n, " is implausible"));
  }
  data->resize(n);
  if (std::fread(data->data(), 1, n, f_) != n) {
    return absl::DataLossError("export is truncated inside a record");
  }
  return kind;
}

AuditVerifier::AuditVerifier(storage::Position first, const storage::Digest& prev,
                             std::optional<std::string> public_key)
    : next_(first), chain_(prev), public_key_(std::move(public_key)) {
  report_.first = first;
  report_.chain_head = prev;
}

absl::Status AuditVerifier::AddEvent(std::string_view wire) {
  ChainVerifier chain(next_, chain_);
  if (absl::Status s = chain.Add(wire); !s.ok()) return s;
  chain_ = chain.chain();
  ++next_;
  ++report_.events;
  report_.chain_head = chain_;
  if (auto it = pending_.find(next_ - 1); it != pending_.end()) {
    absl::Status s = Check(it->second);
    pending_.erase(it);
    return s;
  }
  return absl::OkStatus();
}

absl::Status AuditVerifier::AddCheckpoint(const grid::v1::SignedCheckpoint& cp) {
  if (cp.position() >= next_) {
    pending_[cp.position()] = cp;
    return absl::OkStatus();
  }
  if (cp.position() + 1 != next_) {
    return absl::DataLossError(
        absl::StrCat("position ", cp.position(), ": checkpoint out of order (at ", next_ - 1, ")"));
  }
  return Check(cp);
}

absl::Status AuditVerifier::Check(const grid::v1::SignedCheckpoint& cp) {
  // The signature covers time in whole microseconds: anything finer would
  // be unsigned and is refused.
  if (cp.time().nanos() % 1000 != 0 || cp.time().nanos() < 0) {
    return absl::DataLossError(
        absl::StrCat("position ", cp.position(), ": checkpoint time is not in whole µs"));
  }
  const std::string chain(reinterpret_cast<const char*>(chain_.data()), chain_.size());
  if (cp.chain() != chain) {
    return absl::DataLossError(
        absl::StrCat("position ", cp.position(), ": the signed checkpoint's chain differs from the replay"));
  }
  if (cp.chain().size() != 32) {
    return absl::DataLossError(absl::StrCat("position ", cp.position(), ": malformed checkpoint"));
  }
  if (public_key_) {
    storage::Digest d;
    std::memcpy(d.data(), cp.chain().data(), 32);
    absl::Status s = storage::VerifySignature(
        *public_key_, storage::CheckpointMessage(cp.position(), d, FromProtoTime(cp.time())), cp.signature());
    if (!s.ok()) {
      return absl::DataLossError(
          absl::StrCat("position ", cp.position(), ": checkpoint signature does not verify"));
    }
    report_.signed_through = cp.position();
  }
  ++report_.checkpoints;
  return absl::OkStatus();
}

absl::StatusOr<AuditReport> VerifyExport(const std::string& path,
                                         const std::optional<std::string>& public_key) {
  auto reader = ExportReader::Open(path);
  if (!reader.ok()) return reader.status();
  AuditVerifier v((*reader)->first(), (*reader)->prev_chain(), public_key);
  std::string data;
  for (;;) {
    auto kind = (*reader)->Next(&data);
    if (!kind.ok()) {
      return absl::DataLossError(absl::StrCat("position ", v.next(), ": ", kind.status().message()));
    }
    if (*kind == ExportReader::Kind::kEnd) break;
    if (*kind == ExportReader::Kind::kEvent) {
      absl::Status s = v.AddEvent(data);
      if (!s.ok()) return s;
    } else {
      grid::v1::SignedCheckpoint cp;
      // Exactly the server's encoding, so that no byte of it goes unchecked.
      if (!cp.ParseFromString(data) || cp.SerializeAsString() != data) {
        // Or the next event, whose record header lost its "event" flag: its
        // bytes still extend the chain. Name the record that was changed.
        AuditVerifier probe = v;
        if (probe.AddEvent(data).ok()) {
          return absl::DataLossError(
              absl::StrCat("position ", v.next(), ": record header is damaged (marked as a checkpoint)"));
        }
        return absl::DataLossError(absl::StrCat("position ", v.next() - 1, ": checkpoint record is damaged"));
      }
      // In an export a checkpoint follows the event it signs.
      if (cp.position() + 1 != v.next()) {
        return absl::DataLossError(
            absl::StrCat("position ", v.next() - 1, ": checkpoint record names position ", cp.position()));
      }
      if (absl::Status s = v.AddCheckpoint(cp); !s.ok()) return s;
    }
  }
  return v.report();
}

}  // namespace grid::client
