#include "client/json.h"

#include <google/protobuf/util/json_util.h>

#include "absl/strings/str_cat.h"
#include "storage/proto_json.h"
#include "storage/record.h"

namespace grid::client {
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
  google::protobuf::util::JsonPrintOptions opts;
  opts.preserve_proto_field_names = true;
  opts.always_print_primitive_fields = every_field;
  return ToJsonInKeyOrder(m, opts);
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
