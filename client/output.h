// gridctl's output of one result: named fields in order, printed as one
// JSON object per line (--output json, for scripts) or as aligned
// "key  value" lines (--output table, for people).
#ifndef GRID_CLIENT_OUTPUT_H_
#define GRID_CLIENT_OUTPUT_H_

#include <cstdint>
#include <iostream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace grid::client {

class Fields {
 public:
  Fields& Num(const std::string& key, double v) {
    fields_.emplace_back(key, v == static_cast<double>(static_cast<int64_t>(v))
                                  ? absl::StrCat(static_cast<int64_t>(v))
                                  : absl::StrFormat("%.1f", v));
    return *this;
  }
  Fields& Text(const std::string& key, const std::string& v) {
    std::string quoted = "\"";
    for (char c : v) {
      if (c == '"' || c == '\\') quoted.push_back('\\');
      if (static_cast<unsigned char>(c) < 0x20) {
        absl::StrAppendFormat(&quoted, "\\u%04x", c);
        continue;
      }
      quoted.push_back(c);
    }
    fields_.emplace_back(key, quoted + "\"");
    texts_.emplace_back(fields_.size() - 1, v);
    return *this;
  }
  Fields& Flag(const std::string& key, bool v) {
    fields_.emplace_back(key, v ? "true" : "false");
    return *this;
  }

  void Print(bool json, std::ostream& out = std::cout) const {
    if (json) {
      std::string line = "{";
      for (size_t i = 0; i < fields_.size(); ++i) {
        absl::StrAppend(&line, i ? "," : "", "\"", fields_[i].first, "\":", fields_[i].second);
      }
      out << line << "}" << std::endl;
      return;
    }
    size_t width = 0;
    for (const auto& f : fields_) width = std::max(width, f.first.size());
    for (size_t i = 0; i < fields_.size(); ++i) {
      std::string shown = fields_[i].second;
      for (const auto& [at, raw] : texts_) {
        if (at == i) shown = raw;
      }
      out << fields_[i].first << std::string(width + 2 - fields_[i].first.size(), ' ') << shown << "\n";
    }
    out << std::flush;
  }

 private:
  std::vector<std::pair<std::string, std::string>> fields_;  // key, JSON value
  std::vector<std::pair<size_t, std::string>> texts_;        // text fields unquoted
};

}  // namespace grid::client

#endif  // GRID_CLIENT_OUTPUT_H_
