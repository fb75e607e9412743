#include "server/ops/json_file.h"

#include <google/protobuf/util/json_util.h>

#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace grid::server {

absl::Status ParseCommentedJson(absl::string_view text, absl::string_view origin, absl::string_view what,
                                google::protobuf::Message* out) {
  // Comment lines become empty lines, so the parser's line numbers still
  // match the file.
  std::string json;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (!absl::StartsWith(absl::StripLeadingAsciiWhitespace(line), "//")) {
      json.append(line.data(), line.size());
    }
    json.push_back('\n');
  }
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  auto status = google::protobuf::util::JsonStringToMessage(json, out, options);
  if (!status.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(origin, ": not ", what, ": ", status.message().as_string()));
  }
  return absl::OkStatus();
}

absl::Status ReadCommentedJsonFile(const std::string& path, absl::string_view what,
                                   google::protobuf::Message* out) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", what, " file ", path));
  std::stringstream text;
  text << in.rdbuf();
  return ParseCommentedJson(text.str(), path, what, out);
}

absl::StatusOr<std::string> ReadSettingFile(const std::string& path, absl::string_view setting) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::InvalidArgumentError(absl::StrCat(setting, ": cannot read ", path));
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace grid::server
