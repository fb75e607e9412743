#include "client/json.h"

#include <google/protobuf/util/json_util.h>

#include <cstring>

#include "absl/strings/str_cat.h"

namespace grid::client {
namespace {
constexpr char kMagic[] = "GRIDLOG-EXPORT-1\n";
constexpr size_t kMagicLen = sizeof(kMagic) - 1;
constexpr uint32_t kMaxRecord = 64 << 20;
}  // namespace

absl::StatusOr<grid::v1::Event> EventFromJson(std::string_view json) {
  grid::v1::Event e;
  google::protobuf::util::JsonParseOptions opts;
  opts.ignore_unknown_fields = false;
  auto s = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(json.data(), json.size()), &e, opts);
  if (!s.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("malformed event JSON: ", s.message().as_string()));
  }
  return e;
}

std::string MessageToJson(const google::protobuf::Message& m) {
  std::string out;
  google::protobuf::util::JsonPrintOptions opts;
  opts.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(m, &out, opts);
  return out;
}

std::string EventToJson(const grid::v1::Event& event) {
  grid::v1::Event copy = event;
  const std::string chain = copy.chain();
  copy.clear_chain();
  std::string out = MessageToJson(copy);
  if (!chain.empty() && !out.empty() && out.back() == '}') {
    out.pop_back();
    absl::StrAppend(&out, out.size() > 1 ? "," : "", "\"chain\":\"",
                    storage::ToHex(chain), "\"}");
  }
  return out;
}

ExportWriter::ExportWriter(std::FILE* f, storage::Position first,
                           const storage::Digest& prev)
    : f_(f) {
  std::string header(kMagic);
  storage::PutBigEndian64(&header, first);
  header.append(reinterpret_cast<const char*>(prev.data()), prev.size());
  std::fwrite(header.data(), 1, header.size(), f_);
}

ExportWriter::~ExportWriter() {
  if (f_ != nullptr) std::fclose(f_);
}

absl::Status ExportWriter::Add(std::string_view wire) {
  const uint32_t n = static_cast<uint32_t>(wire.size());
  const unsigned char len[4] = {static_cast<unsigned char>(n >> 24),
                                static_cast<unsigned char>(n >> 16),
                                static_cast<unsigned char>(n >> 8),
                                static_cast<unsigned char>(n)};
  if (std::fwrite(len, 1, 4, f_) != 4 ||
      std::fwrite(wire.data(), 1, wire.size(), f_) != wire.size()) {
    return absl::UnavailableError(absl::StrCat("write export: ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

absl::Status ExportWriter::Close() {
  std::FILE* f = f_;
  f_ = nullptr;
  if (std::fflush(f) != 0 || std::fclose(f) != 0) {
    return absl::UnavailableError(absl::StrCat("close export: ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<ExportReader>> ExportReader::Open(
    const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    return absl::NotFoundError(absl::StrCat("open ", path, ": ", std::strerror(errno)));
  }
  std::unique_ptr<ExportReader> r(new ExportReader(f));
  char header[kMagicLen + 8 + 32];
  if (std::fread(header, 1, sizeof(header), f) != sizeof(header) ||
      std::memcmp(header, kMagic, kMagicLen) != 0) {
    return absl::DataLossError(absl::StrCat(path, " is not a gridlog export"));
  }
  r->first_ = storage::GetBigEndian64(std::string_view(header + kMagicLen, 8));
  std::memcpy(r->prev_.data(), header + kMagicLen + 8, 32);
  return r;
}

ExportReader::~ExportReader() { std::fclose(f_); }

absl::StatusOr<bool> ExportReader::Next(std::string* wire) {
  unsigned char len[4];
  const size_t got = std::fread(len, 1, 4, f_);
  if (got == 0 && std::feof(f_)) return false;
  if (got != 4) return absl::DataLossError("export is truncated inside a length");
  const uint32_t n = (uint32_t{len[0]} << 24) | (uint32_t{len[1]} << 16) |
                     (uint32_t{len[2]} << 8) | uint32_t{len[3]};
  if (n > kMaxRecord) {
    return absl::DataLossError(absl::StrCat("export record length ", n, " is implausible"));
  }
  wire->resize(n);
  if (std::fread(wire->data(), 1, n, f_) != n) {
    return absl::DataLossError("export is truncated inside a record");
  }
  return true;
}

}  // namespace grid::client
