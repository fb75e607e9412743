#include "server/log/frame_builder.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "grid/v1/log.pb.h"
#include "storage/event_log.h"

namespace grid::server {
namespace {

class FrameBuilderTest : public testing::Test {
 protected:
  // Slices and byte buffers need gRPC's codegen interface, not a running
  // gRPC (no threads of its own in this binary: TSan runs it).
  static void SetUpTestSuite() {
    static grpc::internal::GrpcLibraryInitializer init;
    init.summon();
  }

  // A stored record whose event's wire form is about `bytes` long.
  static storage::RecordPtr Record(storage::Position position, size_t bytes) {
    grid::v1::Event e;
    e.set_stream("grid/g1");
    e.set_type("SanitationInspected");
    e.set_event_id(std::string(bytes > 40 ? bytes - 40 : 1, static_cast<char>('a' + position % 26)));
    auto r = std::make_shared<storage::LogRecord>();
    r->position = position;
    r->wire = e.SerializeAsString();
    return r;
  }

  static std::vector<grpc::Slice> Slices(const grpc::ByteBuffer& b) {
    std::vector<grpc::Slice> out;
    EXPECT_TRUE(b.Dump(&out).ok());
    return out;
  }
  static std::string Bytes(const grpc::ByteBuffer& b) {
    std::string out;
    for (const auto& s : Slices(b)) out.append(reinterpret_cast<const char*>(s.begin()), s.size());
    return out;
  }
  // Whether one of the message's slices is `wire` itself, not a copy.
  static bool References(const grpc::ByteBuffer& b, const std::string& wire) {
    for (const auto& s : Slices(b)) {
      if (reinterpret_cast<const char*>(s.begin()) == wire.data() && s.size() == wire.size()) return true;
    }
    return false;
  }
};

// The hand-built message is byte for byte what protobuf writes for the
// typed message, whichever events are copied and which referenced.
TEST_F(FrameBuilderTest, EncodesTheTypedMessage) {
  std::vector<storage::RecordPtr> records = {Record(1, 200), Record(2, 5000), Record(3, 300),
                                             Record(4, 70000), Record(5, 2000)};
  FrameBuilder frame;
  grid::v1::SubscribeResponse want;
  for (const auto& r : records) {
    frame.AddEvent(r->wire, r);
    ASSERT_TRUE(want.add_events()->ParseFromString(r->wire));
  }
  frame.AddUint64(2, 5);
  frame.AddTrue(3);
  want.set_checkpoint(5);
  want.set_caught_up(true);
  EXPECT_EQ(frame.events(), 5u);
  EXPECT_EQ(frame.referenced(), 3u);
  const std::string typed = want.SerializeAsString();
  EXPECT_EQ(frame.bytes(), typed.size());
  grpc::ByteBuffer b = frame.Take();
  EXPECT_EQ(b.Length(), typed.size());
  EXPECT_EQ(Bytes(b), typed);
  // The builder starts over.
  EXPECT_EQ(frame.events(), 0u);
  EXPECT_EQ(frame.bytes(), 0u);
  EXPECT_EQ(frame.Take().Length(), 0u);
}

// Events from kReferenceFrom bytes up are not copied: the message points
// into the record, and holds it until the message is released.
TEST_F(FrameBuilderTest, ReferencesLargeEventsAndHoldsTheirRecords) {
  auto small = std::make_shared<storage::LogRecord>();
  small->wire.assign(FrameBuilder::kReferenceFrom - 1, 'x');
  auto large = std::make_shared<storage::LogRecord>();
  large->wire.assign(FrameBuilder::kReferenceFrom, 'y');
  std::weak_ptr<const storage::LogRecord> watch_large = large, watch_small = small;

  FrameBuilder frame;
  frame.AddEvent(small->wire, small);
  frame.AddEvent(large->wire, large);
  EXPECT_EQ(frame.referenced(), 1u);
  std::optional<grpc::ByteBuffer> b = frame.Take();
  EXPECT_TRUE(References(*b, large->wire));
  EXPECT_FALSE(References(*b, small->wire));

  const std::string large_wire = large->wire;
  small.reset();
  large.reset();
  EXPECT_TRUE(watch_small.expired());   // copied: not held
  EXPECT_FALSE(watch_large.expired());  // referenced: held by the message
  // Still readable after its last other owner let go.
  EXPECT_NE(Bytes(*b).find(large_wire), std::string::npos);
  // A copy of the message (as gRPC makes to write it) shares the slices.
  std::optional<grpc::ByteBuffer> copy = *b;
  b.reset();
  EXPECT_FALSE(watch_large.expired());
  copy.reset();
  EXPECT_TRUE(watch_large.expired());
}

// Every subscriber's message refers to the same bytes: one record in
// memory however many messages carry it.
TEST_F(FrameBuilderTest, SubscribersShareOneRecord) {
  auto r = Record(7, 4096);
  std::vector<grpc::ByteBuffer> sent;
  for (int s = 0; s < 64; ++s) {
    FrameBuilder frame;
    frame.AddEvent(r->wire, r);
    frame.AddUint64(2, 7);
    sent.push_back(frame.Take());
  }
  for (const auto& b : sent) EXPECT_TRUE(References(b, r->wire));
  EXPECT_EQ(r.use_count(), 65);
  sent.clear();
  EXPECT_EQ(r.use_count(), 1);
}

// A Subscribe view's redacted bytes, shared by its subscribers, are
// referenced the same way and outlive the writer's own pointer to them.
TEST_F(FrameBuilderTest, ReferencesAViewsSharedRedactedBytes) {
  auto redacted = std::make_shared<const std::string>(Record(3, 2048)->wire);
  std::weak_ptr<const std::string> watch = redacted;
  FrameBuilder frame;
  frame.AddEvent(*redacted, redacted);
  EXPECT_EQ(frame.referenced(), 1u);
  std::optional<grpc::ByteBuffer> b = frame.Take();
  EXPECT_TRUE(References(*b, *redacted));
  redacted = std::make_shared<const std::string>("the next event's");  // as View() reassigns it
  EXPECT_FALSE(watch.expired());
  grid::v1::SubscribeResponse got;
  ASSERT_TRUE(got.ParseFromString(Bytes(*b)));
  EXPECT_EQ(got.events(0).SerializeAsString(), *watch.lock());
  b.reset();
  EXPECT_TRUE(watch.expired());
}

// Without an owner, or below the threshold, the bytes are copied: the
// caller may change them once added.
TEST_F(FrameBuilderTest, CopiesWithoutAnOwner) {
  std::string bytes = Record(1, 3000)->wire;
  const std::string original = bytes;
  FrameBuilder frame;
  frame.AddEvent(bytes);
  EXPECT_EQ(frame.referenced(), 0u);
  grpc::ByteBuffer b = frame.Take();
  bytes.assign(bytes.size(), 'z');
  grid::v1::SubscribeResponse got;
  ASSERT_TRUE(got.ParseFromString(Bytes(b)));
  ASSERT_EQ(got.events_size(), 1);
  EXPECT_EQ(got.events(0).SerializeAsString(), original);
}

}  // namespace
}  // namespace grid::server
