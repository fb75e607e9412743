// What a replica forwards is what the writer commits: the conversions of an
// admitted append and of the writer's outcome, both ways, field by field;
// and a forwarded append no node could have admitted is refused.
#include "server/cluster/forwarded.h"

#include <gtest/gtest.h>

#include <google/protobuf/unknown_field_set.h>
#include <google/protobuf/util/message_differencer.h>

#include "tests/testing/test_events.h"

namespace grid::server {
namespace {

using google::protobuf::util::MessageDifferencer;

storage::AppendBatch Admitted(storage::Expected expected, bool scoped) {
  storage::AppendBatch b;
  b.stream = "org/350583";
  b.expected = expected;
  for (const char* id : {"g1", "g2"}) {
    grid::v1::Event e = grid::testing::GridEvent(id);
    e.set_stream(b.stream);
    b.events.push_back(e);
  }
  b.actor.set_principal("worker");
  b.actor.set_role("GRID_WORKER");
  if (scoped) {
    auto scope = std::make_shared<storage::AppendScope>();
    scope->jurisdiction = {"350583/101", "350583/102"};
    scope->worker = "w-1";
    scope->clearance = grid::v1::C2_PERSONAL;
    scope->audiences = (1u << grid::v1::AUDIENCE_ANY) | (1u << grid::v1::DISPATCHERS);
    b.scope = scope;
  }
  return b;
}

TEST(ForwardedTest, TheWriterGetsTheBatchAsAdmitted) {
  const storage::Expected kinds[] = {{storage::Expected::kAny, 0},
                                     {storage::Expected::kNoStream, 0},
                                     {storage::Expected::kStreamExists, 0},
                                     {storage::Expected::kExact, 7}};
  for (const storage::Expected& expected : kinds) {
    for (bool scoped : {false, true}) {
      const storage::AppendBatch sent = Admitted(expected, scoped);
      const auto f = ToForwarded(sent, "350583", "n2");
      EXPECT_EQ(f.shard(), "350583");
      EXPECT_EQ(f.from_node(), "n2");
      auto got = FromForwarded(f);
      ASSERT_TRUE(got.ok()) << got.status();
      EXPECT_EQ(got->stream, sent.stream);
      EXPECT_EQ(got->expected.kind, expected.kind);
      EXPECT_EQ(got->expected.version, expected.version);
      ASSERT_EQ(got->events.size(), sent.events.size());
      for (size_t i = 0; i < sent.events.size(); ++i) {
        EXPECT_TRUE(MessageDifferencer::Equals(got->events[i], sent.events[i])) << i;
      }
      EXPECT_TRUE(MessageDifferencer::Equals(got->actor, sent.actor));
      ASSERT_EQ(got->scope != nullptr, scoped);
      if (scoped) {
        EXPECT_EQ(got->scope->jurisdiction, sent.scope->jurisdiction);
        EXPECT_EQ(got->scope->worker, "w-1");
        EXPECT_EQ(got->scope->clearance, grid::v1::C2_PERSONAL);
        // The writer answers a reused id as the caller is served events:
        // it knows the caller's audiences and compares as it would serve.
        EXPECT_EQ(got->scope->audiences, sent.scope->audiences);
        ASSERT_TRUE(got->scope->same_as_served != nullptr);
        grid::v1::Event a = sent.events[0], b = sent.events[0];
        a.mutable_grid_defined()->set_name("甲");
        b.mutable_grid_defined()->set_name("乙");
        EXPECT_FALSE(got->scope->same_as_served(a, b)) << "a name the caller sees differs";
      }
    }
  }
}

TEST(ForwardedTest, WhatNoNodeAdmitsIsRefused) {
  auto f = ToForwarded(Admitted({}, true), "350583", "n2");
  f.mutable_request()->mutable_events(1)->set_position(9);
  EXPECT_EQ(FromForwarded(f).status().code(), absl::StatusCode::kInvalidArgument);
  f = ToForwarded(Admitted({}, true), "350583", "n2");
  f.mutable_request()->mutable_events(0)->set_stream("org/350584");
  EXPECT_EQ(FromForwarded(f).status().code(), absl::StatusCode::kInvalidArgument);
  f = ToForwarded(Admitted({}, true), "350583", "n2");
  f.mutable_request()->mutable_events(0)->mutable_actor()->set_principal("admin");
  EXPECT_EQ(FromForwarded(f).status().code(), absl::StatusCode::kInvalidArgument);
  f.mutable_request()->clear_events();
  EXPECT_EQ(FromForwarded(f).status().code(), absl::StatusCode::kInvalidArgument);
  // A field the writer does not know (a server field's number with another
  // wire type is one too): refused, as at Append.
  f = ToForwarded(Admitted({}, true), "350583", "n2");
  grid::v1::Event* e = f.mutable_request()->mutable_events(1);
  e->GetReflection()->MutableUnknownFields(e)->AddVarint(11, 7);
  auto refused = FromForwarded(f);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("events[1] has a field this node does not know"),
            std::string::npos)
      << refused.status();
}

TEST(ForwardedTest, TheCallerGetsTheWritersOutcome) {
  storage::AppendOutcome ok;
  ok.events = {{.position = 41, .stream_version = 3, .duplicate = true},
               {.position = 42, .stream_version = 4}};
  ok.stream_version = 4;
  ok.head_position = 44;
  const storage::AppendOutcome back = FromResult(ToResult(ok));
  ASSERT_TRUE(back.status.ok());
  ASSERT_EQ(back.events.size(), 2u);
  EXPECT_EQ(back.events[0].position, 41u);
  EXPECT_TRUE(back.events[0].duplicate);
  EXPECT_EQ(back.events[1].stream_version, 4u);
  EXPECT_FALSE(back.events[1].duplicate);
  EXPECT_EQ(back.stream_version, 4u);
  EXPECT_EQ(back.head_position, 44u);

  const storage::AppendOutcome refused{
      .status = absl::FailedPreconditionError("stream org/350583 is at version 4, not 2")};
  EXPECT_EQ(FromResult(ToResult(refused)).status, refused.status);
}

}  // namespace
}  // namespace grid::server
