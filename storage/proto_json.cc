#include "storage/proto_json.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/util/type_resolver.h>
#include <google/protobuf/util/type_resolver_util.h>

namespace grid {

std::string ToJsonInKeyOrder(const google::protobuf::Message& m,
                             const google::protobuf::util::JsonPrintOptions& options) {
  constexpr char kTypeUrlPrefix[] = "type.googleapis.com";
  std::string wire;
  {
    google::protobuf::io::StringOutputStream stream(&wire);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    if (!m.SerializeToCodedStream(&coded)) return "";
  }
  static google::protobuf::util::TypeResolver* const kResolver =
      google::protobuf::util::NewTypeResolverForDescriptorPool(
          kTypeUrlPrefix, google::protobuf::DescriptorPool::generated_pool());
  std::string out;
  (void)google::protobuf::util::BinaryToJsonString(
      kResolver, std::string(kTypeUrlPrefix) + "/" + m.GetDescriptor()->full_name(), wire, &out, options);
  return out;
}

}  // namespace grid
