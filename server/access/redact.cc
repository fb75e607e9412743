#include "server/access/redact.h"

#include <google/protobuf/descriptor.h>

#include <map>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "domain/field_index.h"
#include "grid/v1/common.pb.h"
#include "storage/checkpoint.h"

namespace grid::server {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;
using grid::v1::DataClass;

DataClass ClassOf(const FieldDescriptor* f, DataClass inherited) {
  const DataClass c = f->options().GetExtension(grid::v1::data_class);
  return c == grid::v1::DATA_CLASS_UNSPECIFIED ? inherited : c;
}

// The class of field `f` of message `m`: a (class_from) sibling's value when
// it is set and valid, else ClassOf().
DataClass ClassIn(const Message& m, const FieldDescriptor* f, DataClass inherited) {
  const std::string& from = f->options().GetExtension(grid::v1::class_from);
  if (!from.empty()) {
    const FieldDescriptor* s = m.GetDescriptor()->FindFieldByName(from);
    if (s != nullptr && s->type() == FieldDescriptor::TYPE_ENUM && !s->is_repeated()) {
      const int v = m.GetReflection()->GetEnumValue(m, s);
      if (v != grid::v1::DATA_CLASS_UNSPECIFIED && grid::v1::DataClass_IsValid(v)) {
        return static_cast<DataClass>(v);
      }
    }
  }
  return ClassOf(f, inherited);
}

std::string Masked(grid::v1::Mask mask, std::string_view v) {
  return mask == grid::v1::MASK_NAME ? MaskName(v) : MaskPhone(v);
}

bool HasMaskedField(const Descriptor* d) {
  for (int i = 0; i < d->field_count(); ++i) {
    if (d->field(i)->options().GetExtension(grid::v1::mask) != grid::v1::MASK_NONE) return true;
  }
  return false;
}

bool RedactIn(Message* m, DataClass clearance, DataClass inherited, const std::string& prefix,
              std::vector<std::string>* changed, uint32_t audiences) {
  // A message above the clearance that holds masked fields (a PersonRef) is
  // kept for a caller of at least C1, with only its masks left: its fields'
  // own classes are all above the clearance too.
  const Reflection* r = m->GetReflection();
  std::vector<const FieldDescriptor*> fields;
  r->ListFields(*m, &fields);
  bool any = false;
  for (const FieldDescriptor* f : fields) {
    const DataClass cls = ClassIn(*m, f, inherited);
    const std::string path = prefix.empty() ? f->name() : absl::StrCat(prefix, ".", f->name());
    if (const grid::v1::Audience a = f->options().GetExtension(grid::v1::audience);
        a != grid::v1::AUDIENCE_ANY && (audiences & (1u << a)) == 0) {
      r->ClearField(m, f);
      if (changed != nullptr) changed->push_back(path);
      any = true;
      continue;
    }
    if (cls > clearance && f->message_type() != nullptr && clearance >= grid::v1::C1_INTERNAL &&
        HasMaskedField(f->message_type())) {
      if (f->is_repeated()) {
        for (int i = 0; i < r->FieldSize(*m, f); ++i) {
          any |= RedactIn(r->MutableRepeatedMessage(m, f, i), clearance, cls, path, changed, audiences);
        }
      } else {
        any |= RedactIn(r->MutableMessage(m, f), clearance, cls, path, changed, audiences);
      }
      continue;
    }
    if (cls > clearance) {
      const grid::v1::Mask mask = f->options().GetExtension(grid::v1::mask);
      if (mask != grid::v1::MASK_NONE && clearance >= grid::v1::C1_INTERNAL &&
          f->cpp_type() == FieldDescriptor::CPPTYPE_STRING) {
        if (f->is_repeated()) {
          for (int i = 0; i < r->FieldSize(*m, f); ++i) {
            r->SetRepeatedString(m, f, i, Masked(mask, r->GetRepeatedString(*m, f, i)));
          }
        } else {
          r->SetString(m, f, Masked(mask, r->GetString(*m, f)));
        }
      } else {
        r->ClearField(m, f);
      }
      if (changed != nullptr) changed->push_back(path);
      any = true;
      continue;
    }
    // A map's entries take the map's class as a whole (their key and value
    // fields carry none), so there is nothing inside to redact; and map
    // reflection's mutable access crashes in TSan builds with Debian's
    // libprotobuf.
    if (f->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE || f->is_map()) continue;
    if (f->is_repeated()) {
      for (int i = 0; i < r->FieldSize(*m, f); ++i) {
        any |= RedactIn(r->MutableRepeatedMessage(m, f, i), clearance, cls, path, changed, audiences);
      }
    } else {
      any |= RedactIn(r->MutableMessage(m, f), clearance, cls, path, changed, audiences);
    }
  }
  return any;
}

void WithheldUnsetIn(const Message& m, DataClass clearance, DataClass inherited, const std::string& prefix,
                     std::vector<std::string>* out, uint32_t audiences) {
  const Reflection* r = m.GetReflection();
  const Descriptor* d = m.GetDescriptor();
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    const bool set = f->is_repeated() ? r->FieldSize(m, f) > 0 : r->HasField(m, f);
    const std::string path = prefix.empty() ? f->name() : absl::StrCat(prefix, ".", f->name());
    const grid::v1::Audience a = f->options().GetExtension(grid::v1::audience);
    const bool withheld =
        (a != grid::v1::AUDIENCE_ANY && (audiences & (1u << a)) == 0) || ClassIn(m, f, inherited) > clearance;
    if (!set) {
      // An unset oneof member is no field of this message at all.
      if (withheld && f->containing_oneof() == nullptr) out->push_back(path);
      continue;
    }
    if (withheld || f->is_repeated() || f->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) continue;
    WithheldUnsetIn(r->GetMessage(m, f), clearance, ClassIn(m, f, inherited), path, out, audiences);
  }
}

DataClass MaxClassIn(const Descriptor* d, DataClass inherited,
                     absl::flat_hash_map<const Descriptor*, int>* depth) {
  DataClass max = inherited;
  if ((*depth)[d]++ > 0) return max;  // recursive type: already counted
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    // A field whose class is set at run time may carry any class.
    const DataClass c = f->options().GetExtension(grid::v1::class_from).empty() ? ClassOf(f, inherited)
                                                                                : grid::v1::C4_RESTRICTED;
    max = std::max(max, c);
    if (f->message_type() != nullptr) max = std::max(max, MaxClassIn(f->message_type(), c, depth));
  }
  --(*depth)[d];
  return max;
}

bool RestrictsAudienceIn(const Descriptor* d, absl::flat_hash_map<const Descriptor*, int>* seen) {
  if ((*seen)[d]++ > 0) return false;  // recursive type: already looked at
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    if (f->options().GetExtension(grid::v1::audience) != grid::v1::AUDIENCE_ANY) return true;
    if (f->message_type() != nullptr && RestrictsAudienceIn(f->message_type(), seen)) return true;
  }
  return false;
}

// GB 11643-1999: 17 digits and a check character.
bool ValidIdNumber(std::string_view id) {
  static constexpr int kWeights[17] = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};
  static constexpr char kCheck[] = "10X98765432";
  if (id.size() != 18) return false;
  int sum = 0;
  for (int i = 0; i < 17; ++i) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(id[i]))) return false;
    sum += (id[i] - '0') * kWeights[i];
  }
  return id[17] == kCheck[sum % 11];
}

bool Digit(char c) { return c >= '0' && c <= '9'; }
bool Alnum(char c) { return Digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// "an ID number" or "a mobile phone number" when `text` holds one as a
// token of its own (not inside a longer run of letters and digits).
const char* PersonalPattern(std::string_view text) {
  for (size_t i = 0; i < text.size(); ++i) {
    if (!Digit(text[i]) || (i > 0 && Alnum(text[i - 1]))) continue;
    size_t n = i;
    while (n < text.size() && Digit(text[n])) ++n;
    const size_t digits = n - i;
    if (digits == 17 && n < text.size() && (text[n] == 'X' || text[n] == 'x') &&
        (n + 1 == text.size() || !Alnum(text[n + 1])) &&
        ValidIdNumber(absl::AsciiStrToUpper(std::string(text.substr(i, 18))))) {
      return "an ID number";
    }
    if (n < text.size() && Alnum(text[n])) continue;
    if (digits == 18 && ValidIdNumber(text.substr(i, 18))) return "an ID number";
    // A mainland mobile number, also after +86.
    std::string_view run = text.substr(i, digits);
    if (digits == 13 && run.substr(0, 2) == "86") run = run.substr(2);
    if (run.size() == 11 && run[0] == '1' && run[1] >= '3' && run[1] <= '9') return "a mobile phone number";
  }
  return nullptr;
}

// A string field that C0/C1 callers read and whose text the appender
// chooses: free text, and ids and org paths too, which become projection
// keys that every reader of a jurisdiction sees (a household id that is an
// ID number would be one). Not what the server makes or checks itself
// (person tokens, hashes, the stream and type), nor a value whose class its
// schema declares.
bool ScannedForPersonalData(const domain::FieldInfo& fi) {
  const std::string& n = fi.field->name();
  return !fi.class_from && !absl::EndsWith(n, "_token") && !absl::EndsWith(n, "_tokens") &&
         !absl::EndsWith(n, "_hash") && n != "sha256" && n != "stream" && n != "type";
}

std::optional<std::string> FindPersonalIn(const Message& m, DataClass inherited, domain::WalkPath* path) {
  const domain::FieldIndex& idx = domain::IndexOf(m.GetDescriptor());
  const Reflection* r = m.GetReflection();
  for (const domain::FieldInfo& fi : idx.strings) {
    const DataClass cls = fi.data_class == grid::v1::DATA_CLASS_UNSPECIFIED ? inherited : fi.data_class;
    if (cls > grid::v1::C1_INTERNAL || !ScannedForPersonalData(fi)) continue;
    const FieldDescriptor* f = fi.field;
    const int count = f->is_repeated() ? r->FieldSize(m, f) : (r->HasField(m, f) ? 1 : 0);
    for (int i = 0; i < count; ++i) {
      const std::string& v = f->is_repeated() ? r->GetRepeatedStringReference(m, f, i, nullptr)
                                              : r->GetStringReference(m, f, nullptr);
      if (const char* what = PersonalPattern(v)) {
        path->Push(f, f->is_repeated() ? i : -1);
        return absl::StrCat(path->Str(), " looks like it holds ", what);
      }
    }
  }
  for (const domain::FieldInfo& fi : idx.messages) {
    const DataClass cls = fi.data_class == grid::v1::DATA_CLASS_UNSPECIFIED ? inherited : fi.data_class;
    if (cls > grid::v1::C1_INTERNAL) continue;
    const FieldDescriptor* f = fi.field;
    if (f->is_repeated()) {
      for (int i = 0; i < r->FieldSize(m, f); ++i) {
        path->Push(f, i);
        if (auto p = FindPersonalIn(r->GetRepeatedMessage(m, f, i), cls, path)) return p;
        path->Pop();
      }
    } else if (r->HasField(m, f)) {
      path->Push(f);
      if (auto p = FindPersonalIn(r->GetMessage(m, f), cls, path)) return p;
      path->Pop();
    }
  }
  return std::nullopt;
}

absl::Status TokenizeIn(Message* m, std::string_view key, domain::WalkPath* path) {
  if (m->GetDescriptor() == grid::v1::PersonRef::descriptor()) {
    auto* p = static_cast<grid::v1::PersonRef*>(m);
    if (p->id_number().empty()) return absl::OkStatus();
    const std::string prefix = path->Str();
    std::string id = absl::AsciiStrToUpper(absl::StripAsciiWhitespace(p->id_number()));
    if (!ValidIdNumber(id)) {
      return absl::InvalidArgumentError(
          absl::StrCat(prefix,
                       ".id_number is not a valid ID number (18 characters, the last a check "
                       "digit or X)"));
    }
    const std::string token = PersonToken(key, id);
    if (!p->person_token().empty() && p->person_token() != token) {
      return absl::InvalidArgumentError(
          absl::StrCat(prefix, ".person_token is not the token of ", prefix,
                       ".id_number; send one or the other, or both for the same person"));
    }
    p->set_person_token(token);
    p->clear_id_number();
    return absl::OkStatus();
  }
  const Reflection* r = m->GetReflection();
  for (const domain::FieldInfo& fi : domain::IndexOf(m->GetDescriptor()).messages) {
    const FieldDescriptor* f = fi.field;
    if (f->is_repeated()) {
      for (int i = 0; i < r->FieldSize(*m, f); ++i) {
        path->Push(f, i);
        if (auto s = TokenizeIn(r->MutableRepeatedMessage(m, f, i), key, path); !s.ok()) return s;
        path->Pop();
      }
    } else if (r->HasField(*m, f)) {
      path->Push(f);
      if (auto s = TokenizeIn(r->MutableMessage(m, f), key, path); !s.ok()) return s;
      path->Pop();
    }
  }
  return absl::OkStatus();
}

}  // namespace

bool Redact(Message* m, DataClass clearance, std::vector<std::string>* changed, uint32_t audiences) {
  return RedactIn(m, clearance, grid::v1::C0_AGGREGATE, "", changed, audiences);
}

std::optional<std::string> FindPersonalInText(const Message& m) {
  domain::WalkPath path;
  return FindPersonalIn(m, grid::v1::C0_AGGREGATE, &path);
}

namespace {

std::optional<std::string> FindUnknownIn(const Message& m, const std::string& prefix,
                                         domain::WalkPath* path) {
  const Reflection* r = m.GetReflection();
  const auto& unknown = r->GetUnknownFields(m);
  if (!unknown.empty()) {
    const std::string at = path->Str(prefix);
    return absl::StrCat(at.empty() ? "" : absl::StrCat(at, " "), "has field number ",
                        unknown.field(0).number(), ", which ", m.GetDescriptor()->full_name(),
                        " does not define");
  }
  for (const domain::FieldInfo& fi : domain::IndexOf(m.GetDescriptor()).messages) {
    const FieldDescriptor* f = fi.field;
    if (f->is_repeated()) {
      for (int i = 0; i < r->FieldSize(m, f); ++i) {
        path->Push(f, i);
        if (auto u = FindUnknownIn(r->GetRepeatedMessage(m, f, i), prefix, path)) return u;
        path->Pop();
      }
    } else if (r->HasField(m, f)) {
      path->Push(f);
      if (auto u = FindUnknownIn(r->GetMessage(m, f), prefix, path)) return u;
      path->Pop();
    }
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::string> FindUnknownField(const Message& m, const std::string& path) {
  domain::WalkPath walk;
  return FindUnknownIn(m, path, &walk);
}

DataClass MaxClass(const Descriptor* d) {
  static absl::Mutex mu;
  static auto* cache = new absl::flat_hash_map<const Descriptor*, DataClass>();
  absl::MutexLock l(&mu);
  auto it = cache->find(d);
  if (it != cache->end()) return it->second;
  absl::flat_hash_map<const Descriptor*, int> depth;
  const DataClass c = MaxClassIn(d, grid::v1::C0_AGGREGATE, &depth);
  (*cache)[d] = c;
  return c;
}

void ListWithheldUnset(const Message& m, DataClass clearance, std::vector<std::string>* out,
                       uint32_t audiences) {
  WithheldUnsetIn(m, clearance, grid::v1::C0_AGGREGATE, "", out, audiences);
}

bool RestrictsAudience(const Descriptor* d) {
  static absl::Mutex mu;
  static auto* cache = new absl::flat_hash_map<const Descriptor*, bool>();
  absl::MutexLock l(&mu);
  auto it = cache->find(d);
  if (it != cache->end()) return it->second;
  absl::flat_hash_map<const Descriptor*, int> seen;
  const bool r = RestrictsAudienceIn(d, &seen);
  (*cache)[d] = r;
  return r;
}

std::string MaskName(std::string_view name) {
  if (name.empty()) return "";
  const unsigned char lead = static_cast<unsigned char>(name[0]);
  size_t len = lead < 0x80 ? 1 : lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
  len = std::min(len, name.size());
  return std::string(name.substr(0, len)) + "*";
}

std::string MaskPhone(std::string_view phone) {
  if (phone.size() < 8) return std::string(phone.size(), '*');
  return std::string(phone.substr(0, 3)) + std::string(phone.size() - 7, '*') +
         std::string(phone.substr(phone.size() - 4));
}

namespace {

std::optional<int64_t> CountOf(const Message& m, const FieldDescriptor* f) {
  const Reflection* r = m.GetReflection();
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT64:
      return r->GetInt64(m, f);
    case FieldDescriptor::CPPTYPE_UINT64:
      return static_cast<int64_t>(r->GetUInt64(m, f));
    case FieldDescriptor::CPPTYPE_INT32:
      return r->GetInt32(m, f);
    case FieldDescriptor::CPPTYPE_UINT32:
      return r->GetUInt32(m, f);
    default:
      return std::nullopt;
  }
}

}  // namespace

bool SuppressSmallCounts(Message* m, std::vector<std::string>* suppressed) {
  const Reflection* r = m->GetReflection();
  const Descriptor* d = m->GetDescriptor();
  bool any = false;
  std::vector<const FieldDescriptor*> set;
  r->ListFields(*m, &set);
  for (const FieldDescriptor* f : set) {
    if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE && !f->is_repeated()) {
      any |= SuppressSmallCounts(r->MutableMessage(m, f), suppressed);
    }
  }
  // Primary: small counts of sensitive attributes. Read from every field,
  // set or not (a 0 is a shown count too).
  std::vector<bool> withheld(d->field_count(), false);
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    if (f->is_repeated() || !f->options().GetExtension(grid::v1::small_count)) continue;
    const auto v = CountOf(*m, f);
    if (v && *v > 0 && *v < kMinShownCount) withheld[i] = true;
  }
  // Complementary: in every group of parts adding up to a total, the
  // withheld parts' sum is the total minus the parts shown, which gives one
  // withheld part exactly, and several ones at the ends of their ranges (two
  // parts of 1..4 summing to 8 are both 4). So the total is withheld with
  // any of its parts; and a lone withheld part takes the smallest part still
  // shown with it, so that the total, if found from other rows, does not
  // give it back either.
  std::map<std::string, std::vector<int>> groups;
  for (int i = 0; i < d->field_count(); ++i) {
    const std::string& total = d->field(i)->options().GetExtension(grid::v1::part_of);
    if (!total.empty() && !d->field(i)->is_repeated()) groups[total].push_back(i);
  }
  for (const auto& [total, parts] : groups) {
    int hidden = 0;
    for (int i : parts) hidden += withheld[i] ? 1 : 0;
    if (hidden == 0) continue;
    if (const FieldDescriptor* t = d->FindFieldByName(total); t != nullptr) withheld[t->index()] = true;
    if (hidden != 1) continue;
    int pick = -1;
    for (int i : parts) {
      if (withheld[i]) continue;
      if (pick < 0 || CountOf(*m, d->field(i)).value_or(0) < CountOf(*m, d->field(pick)).value_or(0)) {
        pick = i;
      }
    }
    if (pick >= 0) withheld[pick] = true;
  }
  for (int i = 0; i < d->field_count(); ++i) {
    if (!withheld[i]) continue;
    r->ClearField(m, d->field(i));
    suppressed->push_back(d->field(i)->name());
    any = true;
  }
  return any;
}

absl::Status TokenizePersons(grid::v1::Event* e, std::string_view key) {
  domain::WalkPath path;
  return TokenizeIn(e, key, &path);
}

std::string PersonToken(std::string_view key, std::string_view normalized_id) {
  return absl::StrCat("pt-", storage::ToHex(storage::HmacSha256(key, normalized_id)).substr(0, 32));
}

}  // namespace grid::server
