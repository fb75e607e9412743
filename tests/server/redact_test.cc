// Personal data by the .proto's options: redaction of every personal field
// of every event and projection row at every clearance (generated from the
// descriptors, so a new field is covered, and a field without a class fails),
// masks, small-count suppression, person tokens, and the policy's checks.
#include "server/access/redact.h"

#include <gtest/gtest.h>

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>
#include <google/protobuf/util/message_differencer.h>

#include <map>
#include <random>
#include <set>

#include "absl/strings/str_join.h"
#include "domain/events.h"
#include "domain/simulator.h"
#include "grid/v1/projection.pb.h"
#include "server/access/access_policy.h"
#include "server/log/validation.h"
#include "tests/testing/status_matchers.h"

namespace grid::server {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::util::MessageDifferencer;
using grid::v1::DataClass;

// The catalog's message types: event bodies and projection row values, and
// every grid.v1 type they hold.
std::vector<const Descriptor*> CatalogTypes() {
  std::vector<const Descriptor*> out;
  std::set<const Descriptor*> seen;
  std::function<void(const Descriptor*)> walk = [&](const Descriptor* d) {
    if (d->file()->package() != "grid.v1" || d->options().map_entry() || !seen.insert(d).second) {
      return;
    }
    out.push_back(d);
    for (int i = 0; i < d->field_count(); ++i) {
      if (d->field(i)->message_type() != nullptr) walk(d->field(i)->message_type());
    }
  };
  walk(grid::v1::Event::descriptor());
  walk(grid::v1::ProjectionRow::descriptor());
  return out;
}

// Sets `f` of `m` to a value no mask leaves whole.
void SetSample(Message* m, const FieldDescriptor* f) {
  const auto* r = m->GetReflection();
  const std::string text = "张三丰13812341234";
  if (f->is_map()) {
    // One entry, merged in its wire form (a map is a repeated entry message
    // on the wire): map reflection's AddMessage crashes under TSan with
    // Debian's libprotobuf.
    std::unique_ptr<Message> entry(
        google::protobuf::MessageFactory::generated_factory()->GetPrototype(f->message_type())->New());
    entry->GetReflection()->SetString(entry.get(), f->message_type()->map_key(), "k-" + text);
    SetSample(entry.get(), f->message_type()->map_value());
    const std::string bytes = entry->SerializeAsString();
    std::string wire;
    auto varint = [&wire](uint64_t v) {
      for (; v >= 0x80; v >>= 7) wire.push_back(static_cast<char>(v | 0x80));
      wire.push_back(static_cast<char>(v));
    };
    varint(static_cast<uint64_t>(f->number()) << 3 | 2);
    varint(bytes.size());
    wire += bytes;
    ASSERT_TRUE(m->MergeFromString(wire));
    return;
  }
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_STRING:
      f->is_repeated() ? r->AddString(m, f, text) : r->SetString(m, f, text);
      break;
    case FieldDescriptor::CPPTYPE_INT64:
      f->is_repeated() ? r->AddInt64(m, f, 7) : r->SetInt64(m, f, 7);
      break;
    case FieldDescriptor::CPPTYPE_UINT64:
      f->is_repeated() ? r->AddUInt64(m, f, 7) : r->SetUInt64(m, f, 7);
      break;
    case FieldDescriptor::CPPTYPE_INT32:
      f->is_repeated() ? r->AddInt32(m, f, 7) : r->SetInt32(m, f, 7);
      break;
    case FieldDescriptor::CPPTYPE_UINT32:
      f->is_repeated() ? r->AddUInt32(m, f, 7) : r->SetUInt32(m, f, 7);
      break;
    case FieldDescriptor::CPPTYPE_BOOL:
      f->is_repeated() ? r->AddBool(m, f, true) : r->SetBool(m, f, true);
      break;
    case FieldDescriptor::CPPTYPE_DOUBLE:
      f->is_repeated() ? r->AddDouble(m, f, 7.5) : r->SetDouble(m, f, 7.5);
      break;
    case FieldDescriptor::CPPTYPE_FLOAT:
      f->is_repeated() ? r->AddFloat(m, f, 7.5) : r->SetFloat(m, f, 7.5);
      break;
    case FieldDescriptor::CPPTYPE_ENUM:
      f->is_repeated() ? r->AddEnumValue(m, f, 1) : r->SetEnumValue(m, f, 1);
      break;
    case FieldDescriptor::CPPTYPE_MESSAGE: {
      Message* sub = f->is_repeated() ? r->AddMessage(m, f) : r->MutableMessage(m, f);
      // Something inside, so the nested message is not empty.
      const auto* d = sub->GetDescriptor();
      for (int i = 0; i < d->field_count(); ++i) {
        if (d->field(i)->message_type() == nullptr && d->field(i)->containing_oneof() == nullptr) {
          SetSample(sub, d->field(i));
          break;
        }
      }
      break;
    }
  }
}

TEST(RedactTest, EveryRowFieldHasADataClass) {
  std::vector<std::string> missing;
  for (const Descriptor* d : CatalogTypes()) {
    for (int i = 0; i < d->field_count(); ++i) {
      const FieldDescriptor* f = d->field(i);
      const bool catalog_oneof =
          f->containing_oneof() != nullptr &&
          (f->containing_oneof()->name() == "body" || f->containing_oneof()->name() == "row");
      if (!catalog_oneof &&
          f->options().GetExtension(grid::v1::data_class) == grid::v1::DATA_CLASS_UNSPECIFIED) {
        missing.push_back(f->full_name());
      }
    }
  }
  EXPECT_TRUE(missing.empty()) << "without (grid.v1.data_class): " << missing[0];
}

// Every personal field (C2 and above) of every catalog type, at every
// clearance: in the clear at or above its class; below it masked (a name or
// phone, for callers of at least C1) or gone.
TEST(RedactTest, EveryPersonalFieldIsRedactedBelowItsClass) {
  int personal = 0;
  for (const Descriptor* d : CatalogTypes()) {
    const Message* proto = google::protobuf::MessageFactory::generated_factory()->GetPrototype(d);
    for (int i = 0; i < d->field_count(); ++i) {
      const FieldDescriptor* f = d->field(i);
      const DataClass cls = f->options().GetExtension(grid::v1::data_class);
      if (cls < grid::v1::C2_PERSONAL) continue;
      ++personal;
      SCOPED_TRACE(f->full_name());
      std::unique_ptr<Message> original(proto->New());
      SetSample(original.get(), f);
      const std::string before = original->SerializeAsString();
      for (int c = grid::v1::C0_AGGREGATE; c <= grid::v1::C4_RESTRICTED; ++c) {
        SCOPED_TRACE(grid::v1::DataClass_Name(static_cast<DataClass>(c)));
        std::unique_ptr<Message> m(original->New());
        m->CopyFrom(*original);
        std::vector<std::string> changed;
        const bool any = Redact(m.get(), static_cast<DataClass>(c), &changed);
        const auto* r = m->GetReflection();
        const bool present = f->is_repeated() ? r->FieldSize(*m, f) > 0 : r->HasField(*m, f);
        if (c >= cls) {
          EXPECT_FALSE(any);
          EXPECT_EQ(m->SerializeAsString(), before);
          continue;
        }
        EXPECT_TRUE(any);
        ASSERT_FALSE(changed.empty());
        for (const auto& path : changed) EXPECT_EQ(path.substr(0, f->name().size()), f->name());
        // Masked: a name or phone, or a person (a message holding them).
        bool has_mask = f->options().GetExtension(grid::v1::mask) != grid::v1::MASK_NONE;
        for (int j = 0; f->message_type() != nullptr && j < f->message_type()->field_count(); ++j) {
          has_mask |=
              f->message_type()->field(j)->options().GetExtension(grid::v1::mask) != grid::v1::MASK_NONE;
        }
        const bool masked = has_mask && c >= grid::v1::C1_INTERNAL;
        EXPECT_EQ(present, masked);
        EXPECT_EQ(m->SerializeAsString().find("三丰"), std::string::npos);
        EXPECT_EQ(m->SerializeAsString().find("12341234"), std::string::npos);
      }
    }
  }
  // Names, phones, ID numbers, house numbers, tokens, residence, members, ...
  EXPECT_GE(personal, 20);
}

TEST(RedactTest, NestedPersonalFieldsFollowTheirOwnClass) {
  // A C1 caller sees a household's head masked, a C0 caller not at all,
  // and nobody below C3 an ID number.
  grid::v1::Event e =
      domain::events::HouseholdCreated("e1", "h-1", "350583/101/201/g01", "pt-1", "张三丰", absl::Now());
  e.mutable_household_created()->mutable_head()->set_phone("13812341234");
  grid::v1::Event c1 = e;
  std::vector<std::string> changed;
  Redact(&c1, grid::v1::C1_INTERNAL, &changed);
  EXPECT_EQ(c1.household_created().head().name(), "张*");
  EXPECT_EQ(c1.household_created().head().phone(), "138****1234");
  EXPECT_EQ(c1.household_created().head().person_token(), "");
  EXPECT_EQ(c1.org_path(), e.org_path());
  EXPECT_EQ(c1.household_created().household_id(), "h-1");  // C1
  grid::v1::Event c0 = e;
  Redact(&c0, grid::v1::C0_AGGREGATE);
  EXPECT_FALSE(c0.household_created().has_head());
  EXPECT_EQ(c0.household_created().household_id(), "");
  EXPECT_FALSE(c0.has_actor());
  EXPECT_EQ(c0.type(), "HouseholdCreated");
}

// Regression: MemberRemoved.source was C1, and a removal synced from the
// police or civil affairs (a death) said so to every C1 reader although its
// reason is C3.
TEST(RedactTest, WhereARemovalCameFromIsAsSensitiveAsWhy) {
  grid::v1::Event e = domain::events::MemberRemoved("e1", "h-1", "350583/101/201/g01", "pt-1",
                                                    grid::v1::MemberRemoved::DEATH_REPORTED, absl::Now(),
                                                    grid::v1::POLICE_SYNC);
  for (grid::v1::DataClass c : {grid::v1::C1_INTERNAL, grid::v1::C2_PERSONAL}) {
    grid::v1::Event copy = e;
    std::vector<std::string> changed;
    Redact(&copy, c, &changed);
    EXPECT_EQ(copy.member_removed().source(), grid::v1::DATA_SOURCE_UNSPECIFIED) << c;
    EXPECT_EQ(copy.member_removed().reason(), grid::v1::MemberRemoved::REASON_UNSPECIFIED) << c;
  }
  grid::v1::Event copy = e;
  std::vector<std::string> changed;
  Redact(&copy, grid::v1::C3_SENSITIVE, &changed);
  EXPECT_EQ(copy.member_removed().source(), grid::v1::POLICE_SYNC);
}

TEST(RedactTest, Masks) {
  EXPECT_EQ(MaskName("张三丰"), "张*");
  EXPECT_EQ(MaskName("欧阳修"), "欧*");
  EXPECT_EQ(MaskName("Li"), "L*");
  EXPECT_EQ(MaskName(""), "");
  EXPECT_EQ(MaskPhone("13812341234"), "138****1234");
  EXPECT_EQ(MaskPhone("12345"), "*****");
}

TEST(RedactTest, SmallCountsAreSuppressedForCountOnlyCallers) {
  grid::v1::PopulationRow row;
  row.set_residents(3);                     // not a sensitive attribute
  row.set_deaths_awaiting_confirmation(3);  // sensitive, small
  row.set_registered_away(5);               // sensitive, not small
  row.set_non_registered_residents(0);
  std::vector<std::string> suppressed;
  EXPECT_TRUE(SuppressSmallCounts(&row, &suppressed));
  EXPECT_EQ(suppressed, std::vector<std::string>{"deaths_awaiting_confirmation"});
  EXPECT_EQ(row.deaths_awaiting_confirmation(), 0);
  EXPECT_EQ(row.residents(), 3);
  EXPECT_EQ(row.registered_away(), 5);
}

// Regression: a withheld count came back by subtraction (households −
// family households = collective households).
TEST(RedactTest, AWithheldPartCannotBeRecoveredFromItsTotal) {
  grid::v1::PopulationRow row;
  row.set_households(10);
  row.set_family_households(8);
  row.set_collective_households(2);
  row.set_residents(20);
  row.set_registered_residents(16);
  row.set_registered_away(4);
  row.set_non_registered_residents(0);
  std::vector<std::string> suppressed;
  ASSERT_TRUE(SuppressSmallCounts(&row, &suppressed));
  std::sort(suppressed.begin(), suppressed.end());
  EXPECT_EQ(suppressed,
            (std::vector<std::string>{"collective_households", "family_households", "households",
                                      "non_registered_residents", "registered_away", "residents"}));
  EXPECT_EQ(row.registered_residents(), 16);

  // Regression: with two small parts withheld and the total shown, their sum
  // gave both away at the ends of the range (1+1, 4+4).
  grid::v1::PopulationRow two;
  two.set_residents(18);
  two.set_registered_residents(10);
  two.set_registered_away(4);
  two.set_non_registered_residents(4);
  suppressed.clear();
  ASSERT_TRUE(SuppressSmallCounts(&two, &suppressed));
  EXPECT_TRUE(std::count(suppressed.begin(), suppressed.end(), "residents"))
      << absl::StrJoin(suppressed, ",");

  // Generated over every row type with (part_of) groups and random counts:
  // a group never has exactly one part withheld, nor a withheld part beside
  // its total shown.
  std::mt19937 rng(7);
  const auto* oneof = grid::v1::RowValue::descriptor()->FindOneofByName("row");
  int groups_seen = 0;
  for (int t = 0; t < oneof->field_count(); ++t) {
    const auto* d = oneof->field(t)->message_type();
    std::map<std::string, std::vector<const google::protobuf::FieldDescriptor*>> groups;
    for (int i = 0; i < d->field_count(); ++i) {
      const std::string& total = d->field(i)->options().GetExtension(grid::v1::part_of);
      if (!total.empty()) groups[total].push_back(d->field(i));
    }
    groups_seen += static_cast<int>(groups.size());
    for (int round = 0; round < 500 && !groups.empty(); ++round) {
      grid::v1::RowValue v;
      auto* m = v.GetReflection()->MutableMessage(&v, oneof->field(t));
      for (int i = 0; i < d->field_count(); ++i) {
        if (d->field(i)->cpp_type() == google::protobuf::FieldDescriptor::CPPTYPE_INT64) {
          m->GetReflection()->SetInt64(m, d->field(i), std::uniform_int_distribution<int>(0, 8)(rng));
        }
      }
      std::vector<std::string> out;
      SuppressSmallCounts(m, &out);
      for (const auto& [total, parts] : groups) {
        int hidden = 0;
        for (const auto* f : parts) hidden += std::count(out.begin(), out.end(), f->name()) > 0;
        EXPECT_NE(hidden, 1) << d->name() << "." << total << " round " << round;
        if (hidden > 0) {
          EXPECT_TRUE(std::count(out.begin(), out.end(), total)) << d->name() << "." << total << " shown";
        }
      }
    }
  }
  EXPECT_GE(groups_seen, 2);
}

// Regression: an ID number typed into a free-text note was stored and served
// to every C1 reader. Appends refuse ID and mobile numbers in C0/C1 text.
TEST(RedactTest, IdAndPhoneNumbersInFreeTextAreFound) {
  auto with_note = [](const std::string& note) {
    grid::v1::Event e = domain::events::SanitationReport("e1", "350583/101/201/g01", "w-1", grid::v1::PATROL,
                                                         900, {"f-1"}, absl::Now());
    e.mutable_sanitation_report_submitted()->mutable_findings(0)->set_description(note);
    return FindPersonalInText(e);
  };
  EXPECT_EQ(with_note("owner 11010519491231002X refused").value_or(""),
            "sanitation_report_submitted.findings[0].description looks like it holds an ID number");
  EXPECT_EQ(with_note("owner 11010519491231002x").value_or(""),
            "sanitation_report_submitted.findings[0].description looks like it holds an ID number");
  EXPECT_EQ(with_note("call 13812341234 about it").value_or(""),
            "sanitation_report_submitted.findings[0].description looks like it holds a mobile phone number");
  EXPECT_TRUE(with_note("call +8613812341234").has_value());
  EXPECT_TRUE(with_note("张三13812341234").has_value());  // after Chinese text, still a token of its own
  for (const char* fine :
       {"score 13 of 20", "lane 3, house 1381", "IMEI 356938035643809", "since 20260301", "ref A13812341234",
        "13812341234abc", "110105194912310021 (bad check digit)", "cost 1380000000000 fen"}) {
    EXPECT_FALSE(with_note(fine).has_value()) << fine;
  }
  // Regression: ids were not looked at, and become C0 projection keys (the
  // household roster's, the device list's) that every reader sees.
  grid::v1::Event in_id = domain::events::HouseholdCreated("e4", "h-11010519491231002X", "350583/101/201/g01",
                                                           "pt-1", "张三", absl::Now());
  EXPECT_EQ(FindPersonalInText(in_id).value_or(""),
            "household_created.household_id looks like it holds an ID number");
  grid::v1::Event device = domain::events::SanitationReport("e5", "350583/101/201/g01", "w-1",
                                                            grid::v1::PATROL, 900, {}, absl::Now());
  device.set_device_id("13812341234");
  EXPECT_EQ(FindPersonalInText(device).value_or(""), "device_id looks like it holds a mobile phone number");
  grid::v1::Event grid_path =
      domain::events::GridDefined("e6", "350583/101/201/11010519491231002X", absl::Now());
  EXPECT_TRUE(FindPersonalInText(grid_path).has_value());
  // Personal fields are classed and redacted: not free text.
  grid::v1::Event h =
      domain::events::HouseholdCreated("e2", "h-1", "350583/101/201/g01", "pt-1", "张三", absl::Now());
  h.mutable_household_created()->mutable_head()->set_phone("13812341234");
  EXPECT_FALSE(FindPersonalInText(h).has_value());
  // Appends are refused, naming the field.
  grid::v1::AppendRequest req;
  req.set_stream("sanitation/350583/101/201/g01");
  grid::v1::Event note = domain::events::SanitationReport("e3", "350583/101/201/g01", "w-1", grid::v1::PATROL,
                                                          900, {"f-1"}, absl::Now());
  note.mutable_sanitation_report_submitted()->mutable_findings(0)->set_description(
      "owner 11010519491231002X");
  *req.add_events() = note;
  auto checked = AppendValidator().Validate(req, grid::v1::Actor());
  EXPECT_EQ(checked.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(checked.status().message().find("findings[0].description looks like it holds an ID number"),
            std::string::npos)
      << checked.status();
}

// Regression: the simulator put its seed's digits into ids as a token of
// their own ("h-<seed>-3"), so a seed that reads as a mobile or ID number
// (the bench's seeds are hashes) made events the server refuses.
TEST(RedactTest, TheSimulatorNeverWritesAPersonalLookingId) {
  for (uint64_t seed : {uint64_t{13812341234}, uint64_t{110105194912310003}, uint64_t{8613812341234}}) {
    domain::SimulatorOptions o;
    o.seed = seed;
    o.towns = 1;
    o.villages_per_town = 1;
    o.grids_per_village = 2;
    o.households_per_grid = 2;
    o.days = 3;
    int batches = 0;
    domain::Simulate(o, [&](domain::SimBatch&& b) {
      ++batches;
      for (const grid::v1::Event& e : b.events) {
        EXPECT_EQ(FindPersonalInText(e), std::nullopt) << "seed " << seed << ": " << e.ShortDebugString();
      }
      return true;
    });
    EXPECT_GT(batches, 10) << seed;
  }
}

TEST(RedactTest, PersonTokensReplaceIdNumbers) {
  const std::string key(32, 'k');
  grid::v1::Event e =
      domain::events::HouseholdCreated("e1", "h-1", "350583/101/201/g01", "", "张三丰", absl::Now());
  e.mutable_household_created()->mutable_head()->set_id_number("11010519491231002x");
  ASSERT_OK(TokenizePersons(&e, key));
  EXPECT_EQ(e.household_created().head().id_number(), "");
  EXPECT_EQ(e.household_created().head().person_token(), PersonToken(key, "11010519491231002X"));
  EXPECT_EQ(e.household_created().head().person_token().size(), 3u + 32u);
  // Another key, another token: the token is keyed, not a plain hash.
  EXPECT_NE(PersonToken(std::string(32, 'j'), "11010519491231002X"),
            e.household_created().head().person_token());

  grid::v1::Event bad = e;
  bad.mutable_household_created()->mutable_head()->set_id_number("110105194912310021");
  auto s = TokenizePersons(&bad, key);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("household_created.head.id_number"), std::string::npos) << s;

  grid::v1::Event mismatch = e;  // keeps the first person's token
  mismatch.mutable_household_created()->mutable_head()->set_id_number("110105194912310013");
  EXPECT_EQ(TokenizePersons(&mismatch, key).code(), absl::StatusCode::kInvalidArgument);
}

// ---------------------------------------------------------------- policy

grid::v1::Policy OnePrincipal() {
  grid::v1::Policy p;
  auto* q = p.add_principals();
  q->set_principal("p");
  q->set_role(grid::v1::VILLAGE_CADRE);
  q->add_jurisdiction("350583/101");
  return p;
}

TEST(PolicyTest, RefusesPoliciesThatMakeNoSense) {
  struct Case {
    const char* name;
    std::function<void(grid::v1::PrincipalPolicy*)> change;
    const char* message;
  };
  const Case cases[] = {
      {"no principal", [](auto* p) { p->clear_principal(); }, "principal is empty"},
      {"no role", [](auto* p) { p->clear_role(); }, "role is required"},
      {"no jurisdiction", [](auto* p) { p->clear_jurisdiction(); }, "jurisdiction is required"},
      {"bad jurisdiction", [](auto* p) { p->add_jurisdiction("a b"); }, "not an org path"},
      {"unknown type", [](auto* p) { p->add_append_types("Nope"); }, "unknown event type"},
      {"leader appends",
       [](auto* p) {
         p->set_role(grid::v1::LEADER);
         p->add_append_types("GridDefined");
       },
       "append nothing"},
      {"worker without id", [](auto* p) { p->set_role(grid::v1::GRID_WORKER); }, "needs worker_id"},
      {"worker id elsewhere",
       [](auto* p) {
         p->set_role(grid::v1::LEADER);
         p->set_worker_id("w-1");
       },
       "worker_id is for GRID_WORKER and VILLAGE_CADRE principals only"},
      {"departments elsewhere", [](auto* p) { p->add_departments("county-drc"); },
       "DEPARTMENT principals only"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    grid::v1::Policy p = OnePrincipal();
    c.change(p.mutable_principals(0));
    auto set = PolicySet::Build(p);
    ASSERT_FALSE(set.ok());
    EXPECT_NE(set.status().message().find(c.message), std::string::npos) << set.status();
  }
  grid::v1::Policy twice = OnePrincipal();
  *twice.add_principals() = twice.principals(0);
  EXPECT_FALSE(PolicySet::Build(twice).ok());
  ASSERT_OK(PolicySet::Build(OnePrincipal()));
}

// Regression: a count above the reader's clearance that happened to be 0 was
// served as an absent field not named in `redacted`, which reads as 0: a
// count-only leader learned that no death awaited confirmation (C3), while a
// non-zero count read as withheld.
TEST(PolicyTest, AWithheldZeroReadsAsWithheldNotAsZero) {
  grid::v1::PrincipalPolicy leader;
  leader.set_principal("leader");
  leader.set_role(grid::v1::LEADER);
  leader.add_jurisdiction("350583");
  const Principal p(leader);
  for (int deaths : {0, 7}) {
    SCOPED_TRACE(deaths);
    grid::v1::ProjectionRow row;
    row.set_key("350583/101");
    auto* pop = row.mutable_value()->mutable_population();
    pop->set_households(40);
    pop->set_family_households(40);
    pop->set_residents(120);
    pop->set_registered_residents(120);
    pop->set_deaths_awaiting_confirmation(deaths);
    ASSERT_TRUE(ViewRow(Reader(p), &row));
    const std::set<std::string> redacted(row.redacted().begin(), row.redacted().end());
    // Named withheld either way, so the two rows read the same.
    EXPECT_TRUE(redacted.count("population.deaths_awaiting_confirmation")) << absl::StrJoin(redacted, ",");
    EXPECT_TRUE(redacted.count("population.registered_away")) << absl::StrJoin(redacted, ",");
    EXPECT_EQ(row.value().population().deaths_awaiting_confirmation(), 0);
    // What the leader may see is neither named nor withheld.
    EXPECT_FALSE(redacted.count("population.households"));
    EXPECT_EQ(row.value().population().households(), 40);
  }
}

TEST(PolicyTest, JurisdictionIsOnWholeSegments) {
  Principal p(OnePrincipal().principals(0));
  EXPECT_TRUE(p.Sees("350583/101"));
  EXPECT_TRUE(p.Sees("350583/101/201/g01"));
  EXPECT_FALSE(p.Sees("350583/1010"));
  EXPECT_FALSE(p.Sees("350583"));
  EXPECT_FALSE(p.Sees(""));
  EXPECT_EQ(p.clearance(), grid::v1::C0_AGGREGATE);  // unset: count-only
}

TEST(PolicyTest, ViewEventHidesRedactsOrPassesTheStoredBytes) {
  grid::v1::Event e =
      domain::events::HouseholdCreated("e1", "h-1", "350583/101/201/g01", "pt-1", "张三丰", absl::Now());
  storage::LogRecord r;
  r.type = e.type();
  r.org_path = e.org_path();
  r.wire = e.SerializeAsString();
  grid::v1::PrincipalPolicy q = OnePrincipal().principals(0);
  std::string out;
  q.set_clearance(grid::v1::C2_PERSONAL);
  EXPECT_EQ(*ViewEvent(Principal(q), r, 0, &out), EventView::kAsStored);
  q.set_clearance(grid::v1::C1_INTERNAL);
  ASSERT_EQ(*ViewEvent(Principal(q), r, 0, &out), EventView::kRedacted);
  grid::v1::Event seen;
  ASSERT_TRUE(seen.ParseFromString(out));
  EXPECT_EQ(seen.household_created().head().name(), "张*");
  // Count-only: the envelope, no body at all.
  q.set_clearance(grid::v1::C0_AGGREGATE);
  ASSERT_EQ(*ViewEvent(Principal(q), r, 0, &out), EventView::kRedacted);
  ASSERT_TRUE(seen.ParseFromString(out));
  EXPECT_EQ(seen.body_case(), grid::v1::Event::BODY_NOT_SET);
  EXPECT_EQ(seen.type(), "HouseholdCreated");
  EXPECT_EQ(seen.org_path(), "350583/101/201/g01");
  q.set_jurisdiction(0, "350583/102");
  EXPECT_EQ(*ViewEvent(Principal(q), r, 0, &out), EventView::kHidden);
}

// Regression: a stored record that did not parse was skipped as if hidden.
TEST(PolicyTest, ARecordThatDoesNotParseIsDataLoss) {
  storage::LogRecord r;
  r.position = 7;
  r.type = "HouseholdCreated";
  r.org_path = "350583/101/201/g01";
  r.wire = std::string("\x0a\xff\xff\xff", 4);
  grid::v1::PrincipalPolicy q = OnePrincipal().principals(0);
  q.set_clearance(grid::v1::C1_INTERNAL);
  std::string out;
  auto view = ViewEvent(Principal(q), r, 0, &out);
  EXPECT_EQ(view.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(view.status().message().find("position 7"), std::string::npos) << view.status();
}

// Regression: fields unknown to the schema (an ID number nested in a
// PersonRef, a phone at the top) were served to C2 and C0 callers.
TEST(PolicyTest, UnknownFieldsAreNeverServedBelowFullClearance) {
  grid::v1::Event e = domain::events::SanitationReport("e1", "350583/101/201/g01", "w-1", grid::v1::PATROL,
                                                       900, {}, absl::Now());
  std::string wire = e.SerializeAsString();
  // Field 999 (length-delimited) holding a phone number.
  wire += std::string("\xba\x3e\x0b", 3) + "13812341234";
  storage::LogRecord r;
  r.position = 5;
  r.type = e.type();
  r.org_path = e.org_path();
  r.wire = wire;
  grid::v1::PrincipalPolicy q = OnePrincipal().principals(0);
  q.set_clearance(grid::v1::C2_PERSONAL);
  std::string out;
  // Appended before unknown fields were refused: cleaned.
  ASSERT_EQ(*ViewEvent(Principal(q), r, 6, &out), EventView::kRedacted);
  EXPECT_EQ(out.find("13812341234"), std::string::npos);
  grid::v1::Event seen;
  ASSERT_TRUE(seen.ParseFromString(out));
  EXPECT_EQ(seen.sanitation_report_submitted().total_score_x10(), 900u);
  // Full clearance gets the stored bytes, which the chain covers.
  q.set_clearance(grid::v1::C4_RESTRICTED);
  EXPECT_EQ(*ViewEvent(Principal(q), r, 6, &out), EventView::kAsStored);
  // Appends refuse them, naming where the field is.
  grid::v1::AppendRequest req;
  req.set_stream("sanitation/350583/101/201/g01");
  ASSERT_TRUE(req.add_events()->ParseFromString(wire));
  auto checked = AppendValidator().Validate(req, grid::v1::Actor());
  EXPECT_EQ(checked.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(checked.status().message().find("events[0] has field number 999"), std::string::npos)
      << checked.status();
  // Nested: inside the head of a household.
  grid::v1::Event h =
      domain::events::HouseholdCreated("e2", "h-1", "350583/101/201/g01", "pt-1", "张三", absl::Now());
  std::string head = h.household_created().head().SerializeAsString() + std::string("\x92\x06\x12", 3) +
                     "11010519491231002X";
  ASSERT_TRUE(h.mutable_household_created()->mutable_head()->ParseFromString(head));
  grid::v1::AppendRequest nested;
  nested.set_stream("household/h-1");
  *nested.add_events() = h;
  checked = AppendValidator().Validate(nested, grid::v1::Actor());
  EXPECT_NE(checked.status().message().find(
                "events[0].household_created.head has field number 98, which grid.v1.PersonRef"),
            std::string::npos)
      << checked.status();
}

// Regression: a form field declared C4 had its submitted values shown to C2
// callers; the class the task declares is the class of the value.
TEST(PolicyTest, AFormValueHasTheClassItsFieldDeclares) {
  grid::v1::Event e = domain::events::FormSubmitted("e1", "t-1", "350583/101/201", "s-1", absl::Now());
  auto* v = e.mutable_form_submitted()->mutable_values(0);
  v->set_value_class(grid::v1::C4_RESTRICTED);
  v->set_value("special population: 2");
  grid::v1::Event c3 = e;
  Redact(&c3, grid::v1::C3_SENSITIVE);
  EXPECT_EQ(c3.form_submitted().values(0).value(), "");
  EXPECT_EQ(c3.form_submitted().values(0).canonical_path(), v->canonical_path());
  grid::v1::Event c4 = e;
  EXPECT_FALSE(Redact(&c4, grid::v1::C4_RESTRICTED));
  // A field declared C0 is anyone's.
  v->set_value_class(grid::v1::C0_AGGREGATE);
  grid::v1::Event c0 = e;
  Redact(&c0, grid::v1::C0_AGGREGATE);
  EXPECT_EQ(c0.form_submitted().values(0).value(), "special population: 2");
  // Unset (older submissions): the value's own class, C2.
  v->clear_value_class();
  grid::v1::Event c1 = e;
  Redact(&c1, grid::v1::C1_INTERNAL);
  EXPECT_EQ(c1.form_submitted().values(0).value(), "");
  // The type can carry any class, so no caller below C4 gets it unparsed.
  EXPECT_EQ(MaxClass(grid::v1::FormSubmitted::descriptor()), grid::v1::C4_RESTRICTED);
}

// A fact typed into a form keeps the class the form declared for it:
// shared_facts (and PrefillForm, which serves its rows) shows it only to
// callers cleared for that class.
TEST(PolicyTest, ASharedFactHasTheClassOfWhereItCameFrom) {
  grid::v1::RowValue v;
  auto* fact = v.mutable_shared_fact();
  fact->set_org_path("350583/101/201");
  fact->set_canonical_path("village.special_population");
  fact->set_value("2");
  fact->set_value_class(grid::v1::C3_SENSITIVE);
  grid::v1::RowValue c2 = v;
  std::vector<std::string> changed;
  EXPECT_TRUE(Redact(&c2, grid::v1::C2_PERSONAL, &changed));
  EXPECT_EQ(c2.shared_fact().value(), "");
  EXPECT_EQ(c2.shared_fact().canonical_path(), fact->canonical_path());
  grid::v1::RowValue c3 = v;
  EXPECT_FALSE(Redact(&c3, grid::v1::C3_SENSITIVE));
  EXPECT_EQ(c3.shared_fact().value(), "2");
  fact->set_value_class(grid::v1::C0_AGGREGATE);
  grid::v1::RowValue c0 = v;
  EXPECT_FALSE(Redact(&c0, grid::v1::C0_AGGREGATE));
}

}  // namespace
}  // namespace grid::server

namespace grid::server {
namespace {

// Every field with an (audience), generated from the descriptors: removed
// for a caller outside the audience at every clearance (never masked), kept
// as it is for one inside it and cleared for its class.
TEST(RedactTest, AFieldWithAnAudienceIsRemovedForEveryoneOutsideIt) {
  int restricted = 0;
  for (const Descriptor* d : CatalogTypes()) {
    const Message* proto = google::protobuf::MessageFactory::generated_factory()->GetPrototype(d);
    for (int i = 0; i < d->field_count(); ++i) {
      const FieldDescriptor* f = d->field(i);
      const grid::v1::Audience a = f->options().GetExtension(grid::v1::audience);
      if (a == grid::v1::AUDIENCE_ANY) continue;
      ++restricted;
      SCOPED_TRACE(f->full_name());
      EXPECT_TRUE(RestrictsAudience(d));
      std::unique_ptr<Message> original(proto->New());
      SetSample(original.get(), f);
      for (int c = grid::v1::C0_AGGREGATE; c <= grid::v1::C4_RESTRICTED; ++c) {
        std::unique_ptr<Message> outside(original->New());
        outside->CopyFrom(*original);
        std::vector<std::string> changed;
        EXPECT_TRUE(Redact(outside.get(), static_cast<DataClass>(c), &changed, 1u << grid::v1::AUDIENCE_ANY));
        EXPECT_EQ(changed, std::vector<std::string>{f->name()});
        EXPECT_EQ(outside->SerializeAsString().find("张"), std::string::npos);
        EXPECT_EQ(outside->SerializeAsString().find("1234"), std::string::npos);
      }
      std::unique_ptr<Message> inside(original->New());
      inside->CopyFrom(*original);
      EXPECT_FALSE(
          Redact(inside.get(), grid::v1::C4_RESTRICTED, nullptr, (1u << grid::v1::AUDIENCE_ANY) | (1u << a)));
      EXPECT_EQ(inside->SerializeAsString(), original->SerializeAsString());
    }
  }
  EXPECT_GE(restricted, 1);
  EXPECT_FALSE(RestrictsAudience(grid::v1::HouseholdCreated::descriptor()));
}

grid::v1::PrincipalPolicy Dispatcher() {
  grid::v1::PrincipalPolicy q;
  q.set_principal("town-dispatch");
  q.set_role(grid::v1::DEPARTMENT);
  q.add_jurisdiction("350583/101");
  q.add_append_types("IncidentAccepted");
  q.add_append_types("IncidentDispatched");
  q.set_clearance(grid::v1::C2_PERSONAL);
  return q;
}

// A citizen who reported a neighbour is known to the dispatcher and the
// audit, never to the department that handles the case, whatever its
// clearance.
TEST(PolicyTest, AReporterIsSeenByTheDispatcherAndTheAuditNotTheHandler) {
  grid::v1::Event e = domain::events::IncidentReported("e1", "i-7", "350583/101/201/g01",
                                                       "ENV.GARBAGE.EXPOSED", grid::v1::CITIZEN, absl::Now());
  storage::LogRecord r;
  r.type = e.type();
  r.org_path = e.org_path();
  r.wire = e.SerializeAsString();
  const auto view = [&](const grid::v1::PrincipalPolicy& q) {
    std::string out;
    auto v = ViewEvent(Principal(q), r, 0, &out);
    EXPECT_OK(v);
    grid::v1::Event seen;
    EXPECT_TRUE(seen.ParseFromString(*v == EventView::kAsStored ? r.wire : out));
    return seen;
  };
  // The dispatcher, at C2: the reporter in the clear.
  EXPECT_EQ(view(Dispatcher()).incident_reported().reporter().person().name(), "林晓");
  // The auditor.
  grid::v1::PrincipalPolicy auditor;
  auditor.set_principal("audit");
  auditor.set_role(grid::v1::AUDITOR);
  auditor.add_jurisdiction("");
  auditor.set_clearance(grid::v1::C2_PERSONAL);
  EXPECT_EQ(view(auditor).incident_reported().reporter().person().phone(), "13812341234");
  // The handling department, even with every clearance: no reporter, not
  // even masked; the rest of the report is there.
  grid::v1::PrincipalPolicy handler;
  handler.set_principal("county-sanitation");
  handler.set_role(grid::v1::DEPARTMENT);
  handler.add_jurisdiction("350583");
  handler.add_append_types("IncidentAcknowledged");
  handler.add_departments("county-sanitation");
  for (DataClass c : {grid::v1::C1_INTERNAL, grid::v1::C2_PERSONAL, grid::v1::C4_RESTRICTED}) {
    handler.set_clearance(c);
    const grid::v1::Event seen = view(handler);
    EXPECT_FALSE(seen.incident_reported().reporter().has_person()) << DataClass_Name(c);
    EXPECT_EQ(seen.incident_reported().category(), "ENV.GARBAGE.EXPOSED");
    EXPECT_EQ(seen.SerializeAsString().find("林"), std::string::npos);
  }
}

// Who acts as a department: the rules say whether it is that department's
// turn; the policy says whether the appender is that department.
TEST(PolicyTest, OnlyADepartmentsOwnPrincipalsActAsIt) {
  const std::string grid = "350583/101/201/g01";
  const auto ack =
      domain::events::IncidentAcknowledged("e", "i-7", grid, "350583", "county-sanitation", absl::Now());
  grid::v1::PrincipalPolicy q;
  q.set_principal("county-sanitation");
  q.set_role(grid::v1::DEPARTMENT);
  q.add_jurisdiction("350583");
  q.add_append_types("IncidentAcknowledged");
  q.add_departments("county-sanitation");
  EXPECT_OK(Principal(q).MayAppend(ack));
  q.set_departments(0, "county-water");
  const auto denied = [](const absl::Status& s, const std::string& part) {
    EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied) << s;
    EXPECT_NE(s.message().find(part), absl::string_view::npos) << s;
  };
  denied(Principal(q).MayAppend(ack),
         "county-sanitation does not act as department 'county-sanitation' (department)");
  grid::v1::PrincipalPolicy cadre;
  cadre.set_principal("cadre");
  cadre.set_role(grid::v1::VILLAGE_CADRE);
  cadre.add_jurisdiction("350583");
  cadre.add_append_types("IncidentAcknowledged");
  denied(Principal(cadre).MayAppend(ack), "acts as no department");
  // A principal that is departments acts only as one of them, never as the
  // bare unit (here: the village committee a case was dispatched to).
  q.set_departments(0, "county-sanitation");
  denied(Principal(q).MayAppend(
             domain::events::IncidentAcknowledged("e", "i-7", grid, "350583", "", absl::Now())),
         "acts as its departments (county-sanitation); department must name one");
  // A unit itself (no department) is acted for by whoever holds it.
  const auto village_ack =
      domain::events::IncidentAcknowledged("e", "i-7", grid, "350583/101/201", "", absl::Now());
  EXPECT_OK(Principal(cadre).MayAppend(village_ack));
  // ... and only within the jurisdiction: the town is above this cadre.
  cadre.set_jurisdiction(0, "350583/101/201");
  const auto town_ack = domain::events::IncidentAcknowledged("e", "i-7", grid, "350583/101", "", absl::Now());
  denied(Principal(cadre).MayAppend(town_ack), "org path '350583/101'");
  // A grid worker files a citizen's report without naming a worker.
  grid::v1::PrincipalPolicy worker;
  worker.set_principal("worker");
  worker.set_role(grid::v1::GRID_WORKER);
  worker.set_worker_id("w-1");
  worker.add_jurisdiction("350583/101");
  worker.add_append_types("IncidentReported");
  EXPECT_OK(Principal(worker).MayAppend(
      domain::events::IncidentReported("e", "i-8", grid, "ROAD.DAMAGE", grid::v1::CITIZEN, absl::Now())));
  auto patrol =
      domain::events::IncidentReported("e", "i-8", grid, "ROAD.DAMAGE", grid::v1::GRID_PATROL, absl::Now());
  patrol.mutable_incident_reported()->set_reporting_worker_id("w-9");
  denied(Principal(worker).MayAppend(patrol), "acts for worker w-1");
}

}  // namespace
}  // namespace grid::server
