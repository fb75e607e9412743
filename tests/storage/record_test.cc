#include "storage/record.h"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/unknown_field_set.h>

#include "domain/simulator.h"
#include "grid/v1/event.pb.h"
#include "storage/big_endian.h"
#include "tests/testing/test_events.h"

#include "tests/testing/status_matchers.h"

namespace grid::storage {
namespace {

TEST(RecordTest, Sha256KnownAnswer) {
  EXPECT_EQ(ToHex(Sha256("abc")), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

// The chain is stored and verified across versions and nodes: its formula,
// SHA-256(previous || big-endian position || SHA-256(stored bytes)), must
// never change. The expected values come from Python's hashlib.
TEST(RecordTest, ChainLinkKnownAnswer) {
  const Digest first = ChainLink(kGenesisChain, 1, "stored");
  EXPECT_EQ(ToHex(first), "aaa0581963c77eb30b43f9711de0bde52d1ec79ee1d59c791217f605a25e9ae8");
  EXPECT_EQ(ToHex(ChainLink(first, 0x0102030405060708, std::string(1000, 'x'))),
            "4d242169b295f2324c0543e1cc60621298a8d31a78754b80219d2632c2303e6f");
}

// Each thread hashes with its own context, on the sequencer, the applier
// and the pool's threads at once.
TEST(RecordTest, Sha256FromManyThreads) {
  const std::string million(1000000, 'a');
  std::vector<std::thread> threads;
  threads.reserve(4);
  std::atomic<int> wrong{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i) {
        if (ToHex(Sha256("abc")) != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
          ++wrong;
      }
      if (ToHex(Sha256(million)) != "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
        ++wrong;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(wrong.load(), 0);
}

TEST(RecordTest, Sha256StreamStartsOverAfterFinish) {
  Sha256Stream s;
  s.Update("a");
  s.Update("bc");
  EXPECT_EQ(ToHex(s.Finish()), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  s.Update("abc");
  EXPECT_EQ(ToHex(s.Finish()), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

std::string Deterministic(const grid::v1::Event& e) {
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream zs(&bytes);
    google::protobuf::io::CodedOutputStream out(&zs);
    out.SetSerializationDeterministic(true);
    e.SerializeToCodedStream(&out);
  }
  return bytes;
}

// A replica takes an applied event's fingerprint from its stored bytes; it
// must be the one the writer took from the event as sent, for every kind of
// event (a retry to the replica after a failover is a duplicate only then).
// Every event kind the simulator makes, a few hundred events.
domain::SimulatorOptions SmallCounty() {
  domain::SimulatorOptions o;
  o.towns = 1;
  o.villages_per_town = 2;
  o.grids_per_village = 3;
  o.households_per_grid = 4;
  o.days = 3;
  o.photos_per_report = 2;
  return o;
}

TEST(RecordTest, ClientFingerprintOfStoredBytesIsTheSentEventsFingerprint) {
  const domain::SimulatorOptions o = SmallCounty();
  size_t events = 0;
  Position position = 0;
  domain::Simulate(o, [&](domain::SimBatch&& b) {
    for (grid::v1::Event& sent : b.events) {
      const Digest expected = Sha256(Deterministic(sent));
      grid::v1::Event stored = sent;
      stored.mutable_recorded_at()->set_seconds(1'800'000'000 + static_cast<int64_t>(position));
      stored.set_position(++position);
      stored.set_stream_version(position % 7);
      stored.mutable_actor()->set_principal("worker-1");
      std::string event_id;
      auto fp = ClientFingerprint(Deterministic(stored), &event_id);
      EXPECT_OK(fp.status());
      if (!fp.ok()) return false;
      EXPECT_EQ(ToHex(*fp), ToHex(expected)) << sent.type();
      EXPECT_EQ(event_id, sent.event_id());
      ++events;
    }
    return !::testing::Test::HasFailure();
  });
  EXPECT_GT(events, 100u);
}

// A server field's number with another wire type is an unknown field to
// the parser: kept in the event and in the writer's fingerprint, so kept in
// the replica's too. Unknown fields come last in both serializations.
TEST(RecordTest, ClientFingerprintKeepsUnknownFieldsWithServerFieldNumbers) {
  grid::v1::Event sent = testing::GridEvent("e1");
  google::protobuf::UnknownFieldSet* unknown = sent.GetReflection()->MutableUnknownFields(&sent);
  unknown->AddVarint(11, 7);                 // actor's number, not a message
  unknown->AddLengthDelimited(9, "nine");    // position's number, not a varint
  unknown->AddFixed32(10, 10);               // stream_version's number, not a varint
  unknown->AddVarint(8, 8);                  // recorded_at's number, not a message
  unknown->AddLengthDelimited(4242, "new");  // a field from a newer version
  grid::v1::Event stored = sent;
  stored.mutable_recorded_at()->set_seconds(1'800'000'000);
  stored.set_position(12);
  stored.set_stream_version(3);
  stored.mutable_actor()->set_principal("worker-1");
  std::string id;
  auto fp = ClientFingerprint(Deterministic(stored), &id);
  ASSERT_OK(fp.status());
  EXPECT_EQ(ToHex(*fp), ToHex(Sha256(Deterministic(sent))));
  EXPECT_EQ(id, "e1");
}

TEST(RecordTest, ClientFingerprintRefusesBytesThatAreNotAMessage) {
  grid::v1::Event e = testing::GridEvent("e1");
  e.set_position(3);
  const std::string stored = Deterministic(e);
  std::string id;
  EXPECT_EQ(ClientFingerprint(stored.substr(0, stored.size() - 1), &id).status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(ClientFingerprint(stored + "\x0c", &id).status().code(),
            absl::StatusCode::kDataLoss);  // end group
  EXPECT_EQ(ClientFingerprint("\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", &id).status().code(),
            absl::StatusCode::kDataLoss);
  ASSERT_OK(ClientFingerprint(stored, &id).status());
  EXPECT_EQ(id, "e1");
}

// An appended event is serialized once: its client bytes (hashed for its
// fingerprint) with the server's fields spliced in are exactly the whole
// event serialized, for every event kind, a version of 0 (left out), an
// empty actor (kept, empty) and a field from a newer version (last).
TEST(RecordTest, StoredBytesFromClientBytesAreTheWholeEventSerialized) {
  const domain::SimulatorOptions o = SmallCounty();
  size_t events = 0;
  Position position = 0;
  auto check = [&](const grid::v1::Event& sent, uint64_t version, const std::string& principal) {
    grid::v1::Event whole = sent;
    whole.mutable_recorded_at()->set_seconds(1'800'000'000 + static_cast<int64_t>(position));
    whole.mutable_recorded_at()->set_nanos(static_cast<int32_t>(position % 1000) * 1000);
    whole.set_position(position);
    whole.set_stream_version(version);
    if (!principal.empty()) whole.mutable_actor()->set_principal(principal);
    whole.mutable_actor()->set_role(principal.empty() ? "" : "GRID_WORKER");
    const std::string recorded_at =
        EncodeMessageField(grid::v1::Event::kRecordedAtFieldNumber, whole.recorded_at());
    const std::string actor = EncodeMessageField(grid::v1::Event::kActorFieldNumber, whole.actor());
    std::string got = "before";
    ASSERT_OK(AppendStored(
        Deterministic(sent),
        {.recorded_at = recorded_at, .position = position, .stream_version = version, .actor = actor}, &got));
    EXPECT_EQ(got, "before" + Deterministic(whole)) << sent.type() << " version " << version;
  };
  domain::Simulate(o, [&](domain::SimBatch&& b) {
    for (const grid::v1::Event& sent : b.events) {
      ++position;
      check(sent, 0, "");
      check(sent, position % 7 + 1, "worker-1");
      ++events;
    }
    return !::testing::Test::HasFailure();
  });
  EXPECT_GT(events, 100u);
  grid::v1::Event newer = testing::GridEvent("e1");
  newer.GetReflection()->MutableUnknownFields(&newer)->AddLengthDelimited(4242, "new");
  check(newer, 3, "worker-1");
  grid::v1::Event bodiless = testing::GridEvent("e2");
  bodiless.clear_body();
  check(bodiless, 0, "worker-1");
}

TEST(RecordTest, StoredBytesRefuseClientBytesWithServerFieldsOrNotAMessage) {
  const std::string recorded_at =
      EncodeMessageField(grid::v1::Event::kRecordedAtFieldNumber, grid::v1::Event());
  const ServerFields server{.recorded_at = recorded_at, .position = 1};
  grid::v1::Event e = testing::GridEvent("e1");
  const std::string client = Deterministic(e);
  std::string out;
  EXPECT_EQ(AppendStored(client.substr(0, client.size() - 1), server, &out).code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(AppendStored("\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", server, &out).code(),
            absl::StatusCode::kDataLoss);
  // An unknown field numbered below the server's: serialized last, after
  // the server's fields, so not where the splice would put it.
  grid::v1::Event unknown = testing::GridEvent("e2");
  unknown.clear_body();
  unknown.GetReflection()->MutableUnknownFields(&unknown)->AddVarint(3, 7);  // type's number, not a string
  EXPECT_EQ(AppendStored(Deterministic(unknown), server, &out).code(), absl::StatusCode::kInvalidArgument);
  e.set_position(9);
  EXPECT_EQ(AppendStored(Deterministic(e), server, &out).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(out.empty());
}

TEST(RecordTest, WireSplitsBackIntoStoredBytesAndChain) {
  Digest chain = ChainLink(kGenesisChain, 1, "stored");
  std::string wire = MakeWire("stored", chain);
  EXPECT_EQ(wire.size(), 6 + kChainFieldSize);
  auto parts = SplitWire(wire);
  ASSERT_OK(parts);
  EXPECT_EQ(parts->stored, "stored");
  EXPECT_EQ(parts->chain, chain);
  EXPECT_EQ(SplitWire("short").status().code(), absl::StatusCode::kDataLoss);
}

TEST(RecordTest, ChainDependsOnPositionPreviousAndBytes) {
  Digest a = ChainLink(kGenesisChain, 1, "x");
  EXPECT_NE(a, ChainLink(kGenesisChain, 2, "x"));
  EXPECT_NE(a, ChainLink(kGenesisChain, 1, "y"));
  EXPECT_NE(a, ChainLink(a, 1, "x"));
}

TEST(RecordTest, BigEndianSortsNumerically) {
  std::string a, b;
  PutBigEndian64(&a, 255);
  PutBigEndian64(&b, 256);
  EXPECT_LT(a, b);
  EXPECT_EQ(GetBigEndian64(b), 256u);
}

}  // namespace
}  // namespace grid::storage
