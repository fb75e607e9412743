#include "server/dashboard/render.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <map>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "storage/proto_json.h"
#include "storage/proto_time.h"

namespace grid::server {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

// One row's cells by field path, in the order met.
using Cells = std::vector<std::pair<std::string, std::string>>;

std::string ScalarText(const Message& m, const FieldDescriptor* f, int i) {
  const Reflection* r = m.GetReflection();
  const bool rep = f->is_repeated();
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
      return absl::StrCat(rep ? r->GetRepeatedInt32(m, f, i) : r->GetInt32(m, f));
    case FieldDescriptor::CPPTYPE_INT64:
      return absl::StrCat(rep ? r->GetRepeatedInt64(m, f, i) : r->GetInt64(m, f));
    case FieldDescriptor::CPPTYPE_UINT32:
      return absl::StrCat(rep ? r->GetRepeatedUInt32(m, f, i) : r->GetUInt32(m, f));
    case FieldDescriptor::CPPTYPE_UINT64:
      return absl::StrCat(rep ? r->GetRepeatedUInt64(m, f, i) : r->GetUInt64(m, f));
    case FieldDescriptor::CPPTYPE_DOUBLE:
      return absl::StrCat(rep ? r->GetRepeatedDouble(m, f, i) : r->GetDouble(m, f));
    case FieldDescriptor::CPPTYPE_FLOAT:
      return absl::StrCat(rep ? r->GetRepeatedFloat(m, f, i) : r->GetFloat(m, f));
    case FieldDescriptor::CPPTYPE_BOOL:
      return (rep ? r->GetRepeatedBool(m, f, i) : r->GetBool(m, f)) ? "true" : "false";
    case FieldDescriptor::CPPTYPE_ENUM:
      return std::string((rep ? r->GetRepeatedEnum(m, f, i) : r->GetEnum(m, f))->name());
    case FieldDescriptor::CPPTYPE_STRING:
      return rep ? r->GetRepeatedString(m, f, i) : r->GetString(m, f);
    default:
      return "";
  }
}

void Flatten(const Message& m, const std::string& prefix, Cells* out) {
  if (m.GetDescriptor()->full_name() == "google.protobuf.Timestamp") {
    google::protobuf::Timestamp t;
    t.CopyFrom(m);
    out->emplace_back(prefix, absl::FormatTime(absl::RFC3339_sec, FromProtoTime(t), absl::UTCTimeZone()));
    return;
  }
  std::vector<const FieldDescriptor*> fields;
  m.GetReflection()->ListFields(m, &fields);  // set fields, in field-number order
  for (const FieldDescriptor* f : fields) {
    const std::string path = prefix.empty() ? f->name() : absl::StrCat(prefix, ".", f->name());
    const Reflection* r = m.GetReflection();
    if (f->is_map()) {
      // A map's entries by key, "open_findings.f1", in key order (as text):
      // reflection gives them in the hash table's order, which protobuf
      // seeds per map.
      std::vector<std::pair<std::string, const Message*>> entries;
      entries.reserve(r->FieldSize(m, f));
      for (int i = 0; i < r->FieldSize(m, f); ++i) {
        const Message& entry = r->GetRepeatedMessage(m, f, i);
        entries.emplace_back(ScalarText(entry, entry.GetDescriptor()->map_key(), 0), &entry);
      }
      std::sort(entries.begin(), entries.end());
      for (const auto& [key, entry] : entries) {
        const FieldDescriptor* v = entry->GetDescriptor()->map_value();
        const std::string key_path = absl::StrCat(path, ".", key);
        if (v->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
          Flatten(entry->GetReflection()->GetMessage(*entry, v), key_path, out);
        } else {
          out->emplace_back(key_path, ScalarText(*entry, v, 0));
        }
      }
    } else if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
      if (f->is_repeated()) {
        for (int i = 0; i < r->FieldSize(m, f); ++i) {
          Flatten(r->GetRepeatedMessage(m, f, i), absl::StrCat(path, ".", i), out);
        }
      } else {
        Flatten(r->GetMessage(m, f), path, out);
      }
    } else if (f->is_repeated()) {
      std::vector<std::string> items;
      items.reserve(r->FieldSize(m, f));
      for (int i = 0; i < r->FieldSize(m, f); ++i) items.push_back(ScalarText(m, f, i));
      out->emplace_back(path, absl::StrJoin(items, "; "));
    } else {
      out->emplace_back(path, ScalarText(m, f, 0));
    }
  }
}

void AppendCell(std::string* out, absl::string_view cell) {
  const bool formula = !cell.empty() && (cell[0] == '=' || cell[0] == '+' || cell[0] == '-' ||
                                         cell[0] == '@' || cell[0] == '\t' || cell[0] == '\r');
  // A number is not a formula: "-3" stays a number.
  bool number = formula && cell.size() > 1;
  for (size_t i = 1; number && i < cell.size(); ++i) {
    number = (cell[i] >= '0' && cell[i] <= '9') || cell[i] == '.';
  }
  const bool quote = formula || cell.find_first_of(",\"\r\n") != absl::string_view::npos;
  if (!quote) {
    out->append(cell.data(), cell.size());
    return;
  }
  out->push_back('"');
  if (formula && !number) out->push_back('\'');
  for (char c : cell) {
    if (c == '"') out->push_back('"');
    out->push_back(c);
  }
  out->push_back('"');
}

}  // namespace

std::string ToJson(const Message& m) {
  google::protobuf::util::JsonPrintOptions o;
  o.preserve_proto_field_names = true;
  return ToJsonInKeyOrder(m, o);  // the same text for the same row
}

std::string RowsToCsv(const google::protobuf::RepeatedPtrField<grid::v1::ProjectionRow>& rows) {
  std::vector<Cells> cells(rows.size());
  std::vector<std::string> columns;
  absl::flat_hash_map<std::string, size_t> column_of;
  for (int i = 0; i < rows.size(); ++i) {
    // The row type's fields, without the oneof's name ("population.").
    const Message& value = rows[i].value();
    std::vector<const FieldDescriptor*> set;
    value.GetReflection()->ListFields(value, &set);
    if (!set.empty()) Flatten(value.GetReflection()->GetMessage(value, set.front()), "", &cells[i]);
    for (const auto& [path, text] : cells[i]) {
      if (column_of.emplace(path, columns.size()).second) columns.push_back(path);
    }
  }
  std::string out = "\xEF\xBB\xBF";
  out += "key,position";
  for (const auto& c : columns) {
    out += ',';
    AppendCell(&out, c);
  }
  out += ",redacted,suppressed\r\n";
  for (int i = 0; i < rows.size(); ++i) {
    std::vector<std::string> line(columns.size());
    for (auto& [path, text] : cells[i]) line[column_of[path]] = std::move(text);
    AppendCell(&out, rows[i].key());
    absl::StrAppend(&out, ",", rows[i].position());
    for (const auto& c : line) {
      out += ',';
      AppendCell(&out, c);
    }
    out += ',';
    AppendCell(&out, absl::StrJoin(rows[i].redacted(), "; "));
    out += ',';
    AppendCell(&out, absl::StrJoin(rows[i].suppressed(), "; "));
    out += "\r\n";
  }
  return out;
}

}  // namespace grid::server
