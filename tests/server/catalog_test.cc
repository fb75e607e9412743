// The event catalog: every field says its personal-data class, money is
// integer fen, and every body type is accepted by validation.
#include <gtest/gtest.h>

#include <set>

#include "domain/rules.h"
#include "grid/v1/event.pb.h"
#include "grid/v1/options.pb.h"
#include "server/log/validation.h"
#include "tests/testing/status_matchers.h"

namespace grid::server {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;

// Visits every field reachable from `d` (not into google.protobuf types).
void Walk(const Descriptor* d, std::set<const Descriptor*>* seen,
          const std::function<void(const FieldDescriptor*)>& visit) {
  if (!seen->insert(d).second) return;
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    visit(f);
    if (f->message_type() != nullptr && f->message_type()->file()->package() == "grid.v1") {
      Walk(f->message_type(), seen, visit);
    }
  }
}

TEST(CatalogTest, EveryFieldHasADataClass) {
  std::set<const Descriptor*> seen;
  std::vector<std::string> missing;
  Walk(grid::v1::Event::descriptor(), &seen, [&](const FieldDescriptor* f) {
    // The body oneof's members are the catalog types; their fields carry the classes.
    const bool body = f->containing_oneof() != nullptr && f->containing_oneof()->name() == "body";
    if (!body && f->options().GetExtension(grid::v1::data_class) == grid::v1::DATA_CLASS_UNSPECIFIED) {
      missing.push_back(f->full_name());
    }
  });
  EXPECT_TRUE(missing.empty()) << "fields without (grid.v1.data_class): " << missing.size() << ", first "
                               << (missing.empty() ? "" : missing[0]);
  EXPECT_GT(seen.size(), 30u);
}

TEST(CatalogTest, PersonalFieldsAreClassedAsPersonal) {
  const auto cls = [](const Descriptor* d, const char* field) {
    return d->FindFieldByName(field)->options().GetExtension(grid::v1::data_class);
  };
  EXPECT_EQ(cls(grid::v1::PersonRef::descriptor(), "name"), grid::v1::C2_PERSONAL);
  EXPECT_EQ(cls(grid::v1::PersonRef::descriptor(), "phone"), grid::v1::C2_PERSONAL);
  EXPECT_EQ(cls(grid::v1::PersonRef::descriptor(), "id_number"), grid::v1::C3_SENSITIVE);
  EXPECT_EQ(cls(grid::v1::HouseholdCreated::descriptor(), "house_number"), grid::v1::C2_PERSONAL);
  EXPECT_EQ(cls(grid::v1::MemberRemoved::descriptor(), "reason"), grid::v1::C3_SENSITIVE);
}

TEST(CatalogTest, MoneyIsIntegerFen) {
  std::set<const Descriptor*> seen;
  int money_fields = 0;
  Walk(grid::v1::Event::descriptor(), &seen, [&](const FieldDescriptor* f) {
    const std::string& n = f->name();
    const bool money = n.find("amount") != std::string::npos || n.find("cost") != std::string::npos ||
                       n.find("investment") != std::string::npos;
    if (money || n.ends_with("_fen")) {
      ++money_fields;
      EXPECT_TRUE(n.ends_with("_fen")) << f->full_name();
      EXPECT_EQ(f->type(), FieldDescriptor::TYPE_INT64) << f->full_name();
    }
  });
  // Regression: with no field matching, the test passed checking nothing.
  // (Funding.amount_fen, investment_fen, final_cost_fen today.)
  EXPECT_GE(money_fields, 3);
}

TEST(CatalogTest, EveryBodyTypeIsKnownAndAccepted) {
  const auto* oneof = grid::v1::Event::descriptor()->FindOneofByName("body");
  ASSERT_EQ(domain::KnownEventTypes().size(), static_cast<size_t>(oneof->field_count()));
  // org 6, sanitation 6, household 9, project 4, form 2, catalog 3, incident 19, ledger 1,
  // assessment 3
  EXPECT_EQ(oneof->field_count(), 53);
  for (int i = 0; i < oneof->field_count(); ++i) {
    const FieldDescriptor* f = oneof->field(i);
    grid::v1::AppendRequest req;
    req.set_stream("test/catalog");
    grid::v1::Event* e = req.add_events();
    e->set_event_id("e-" + f->name());
    e->set_type(f->message_type()->name());
    e->set_org_path("350583/101/203/g05");
    e->GetReflection()->MutableMessage(e, f);  // sets the (empty) body
    // The envelope alone is accepted by a log without the domain rules...
    const AppendValidator raw(AppendLimits(), /*domain_rules=*/false);
    EXPECT_OK(raw.Validate(req, grid::v1::Actor())) << f->name();
    // ...and the domain refuses an empty body of every type, naming a field.
    auto checked = AppendValidator().Validate(req, grid::v1::Actor());
    EXPECT_EQ(checked.status().code(), absl::StatusCode::kInvalidArgument) << f->name();
    EXPECT_NE(checked.status().message().find(f->name() + "."), std::string::npos)
        << f->name() << ": " << checked.status();
  }
}

}  // namespace
}  // namespace grid::server
