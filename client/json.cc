#include "client/json.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/type_resolver.h>
#include <google/protobuf/util/type_resolver_util.h>

#include "absl/strings/str_cat.h"
#include "storage/record.h"

namespace grid::client {
namespace {
constexpr char kTypeUrlPrefix[] = "type.googleapis.com";
}  // namespace

absl::StatusOr<grid::v1::Event> EventFromJson(std::string_view json) {
  grid::v1::Event e;
  google::protobuf::util::JsonParseOptions opts;
  opts.ignore_unknown_fields = false;
  auto s = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(json.data(), json.size()), &e, opts);
  if (!s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("malformed event JSON: ", s.message().as_string()));
  }
  return e;
}

std::string MessageToJson(const google::protobuf::Message& m, bool every_field) {
  // Protobuf prints a map in its hash table's order, which it seeds per map
  // and per run: the same row would print differently from call to call.
  // Serialized deterministically (map entries in key order), then printed.
  // (Every message gridctl prints is a generated one.)
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream stream(&bytes);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    if (!m.SerializeToCodedStream(&coded)) return "";
  }
  static google::protobuf::util::TypeResolver* const kResolver =
      google::protobuf::util::NewTypeResolverForDescriptorPool(
          kTypeUrlPrefix, google::protobuf::DescriptorPool::generated_pool());
  std::string out;
  google::protobuf::util::JsonPrintOptions opts;
  opts.preserve_proto_field_names = true;
  opts.always_print_primitive_fields = every_field;
  (void)google::protobuf::util::BinaryToJsonString(
      kResolver, absl::StrCat(kTypeUrlPrefix, "/", m.GetDescriptor()->full_name()), bytes, &out, opts);
  return out;
}

std::string EventToJson(const grid::v1::Event& event) {
  grid::v1::Event copy = event;
  const std::string chain = copy.chain();
  copy.clear_chain();
  std::string out = MessageToJson(copy, /*every_field=*/false);
  if (!chain.empty() && !out.empty() && out.back() == '}') {
    out.pop_back();
    absl::StrAppend(&out, out.size() > 1 ? "," : "", "\"chain\":\"", storage::ToHex(chain), "\"}");
  }
  return out;
}

}  // namespace grid::client
