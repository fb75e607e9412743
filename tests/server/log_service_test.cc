// Every RPC against an in-process gridd on 127.0.0.1:0 over the real RocksDB.
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "server/log/frame_builder.h"
#include "storage/proto_time.h"
#include "tests/testing/fault_env.h"
#include "tests/testing/server_fixture.h"
#include "tests/testing/test_events.h"

namespace grid {
namespace {

using grid::testing::AppendReq;
using grid::testing::GridEvent;
using grid::testing::WorkerEvent;

// The log's mechanics, with the domain rules off (domain_test.cc has them on).
class LogServiceTest : public grid::testing::ServerFixture {
 protected:
  LogServiceTest() { log_mechanics_only_ = true; }
  // Appends `n` events, one per call, ids "<prefix>-<i>", to rotating streams.
  void AppendMany(int n, const std::string& prefix, int streams = 7) {
    for (int i = 0; i < n; ++i) {
      auto r = client_->Append(
          AppendReq("org/s" + std::to_string(i % streams),
                    {GridEvent(prefix + "-" + std::to_string(i), "350583/10" + std::to_string(i % 3))}));
      ASSERT_OK(r);
    }
  }

  std::vector<grid::v1::Event> ReadAll(grid::v1::ReadRequest req) {
    std::vector<grid::v1::Event> out;
    absl::Status s = client_->Read(req, [&](const grid::v1::ReadResponse& r) {
      for (const auto& e : r.events()) out.push_back(e);
      return true;
    });
    EXPECT_OK(s);
    return out;
  }
};

TEST_F(LogServiceTest, AppendReturnsPositionsAndReadSeesThem) {
  auto req = AppendReq("org/350583", {GridEvent("g1"), WorkerEvent("w1", "w-4", "350583/101/203/g05")});
  req.mutable_no_stream();
  ASSERT_OK_AND_ASSIGN(auto resp, client_->Append(req));
  ASSERT_EQ(resp.results_size(), 2);
  EXPECT_EQ(resp.results(0).position(), 1u);
  EXPECT_EQ(resp.results(1).position(), 2u);
  EXPECT_EQ(resp.results(1).stream_version(), 1u);
  EXPECT_FALSE(resp.results(0).duplicate());
  EXPECT_EQ(resp.stream_version(), 1u);
  EXPECT_EQ(resp.head_position(), 2u);

  // A retry of the same request is a duplicate, not a version conflict.
  ASSERT_OK_AND_ASSIGN(auto again, client_->Append(req));
  EXPECT_TRUE(again.results(0).duplicate());
  EXPECT_EQ(again.results(1).position(), 2u);

  grid::v1::ReadRequest rs;
  rs.set_stream("org/350583");
  auto events = ReadAll(rs);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].type(), "WorkerAssigned");
  EXPECT_EQ(events[1].worker_assigned().worker_id(), "w-4");
  EXPECT_EQ(events[1].stream(), "org/350583");
  EXPECT_TRUE(events[1].has_recorded_at());
  EXPECT_EQ(events[1].chain().size(), 32u);
  EXPECT_NE(events[1].actor().principal().find("anonymous@"), std::string::npos);

  ASSERT_OK_AND_ASSIGN(auto status, client_->GetStatus());
  EXPECT_EQ(status.head_position(), 2u);
  EXPECT_EQ(status.chain_head(), events[1].chain());
  EXPECT_TRUE(status.writable());
}

TEST_F(LogServiceTest, BadAppendsGetClearStatusAndWriteNothing) {
  struct Case {
    grid::v1::AppendRequest req;
    absl::StatusCode code;
    const char* message;
  };
  ASSERT_OK(client_->Append(AppendReq("org/1", {GridEvent("taken", "350583/101")})));
  std::vector<Case> cases;
  cases.push_back({AppendReq("", {GridEvent("a")}), absl::StatusCode::kInvalidArgument, "stream must be"});
  {
    auto r = AppendReq("org/1", {GridEvent("a")});
    r.mutable_events(0)->set_type("Bogus");
    cases.push_back({r, absl::StatusCode::kInvalidArgument, "unknown event type 'Bogus'"});
  }
  {
    auto big = GridEvent("big");
    big.mutable_grid_defined()->set_name(std::string(1100000, 'x'));
    cases.push_back({AppendReq("org/1", {big}), absl::StatusCode::kInvalidArgument, "the limit is 1048576"});
  }
  {
    auto r = AppendReq("org/1", {GridEvent("a")});
    r.set_exact_version(5);
    cases.push_back({r, absl::StatusCode::kFailedPrecondition, "is at version 0; expected version 5"});
  }
  cases.push_back({AppendReq("org/1", {GridEvent("taken", "350583/999")}),
                   absl::StatusCode::kFailedPrecondition, "different content"});
  for (const auto& c : cases) {
    auto r = client_->Append(c.req);
    EXPECT_EQ(r.status().code(), c.code) << r.status();
    EXPECT_NE(r.status().message().find(c.message), std::string::npos) << r.status();
  }
  ASSERT_OK_AND_ASSIGN(auto status, client_->GetStatus());
  EXPECT_EQ(status.head_position(), 1u);
}

// Regression (found by outside clients): a start at an event's recorded_at
// plus 1 ns returned that event (and its whole commit group): times were cut
// to the microsecond they are stored in. "At or after T" holds for any T.
TEST_F(LogServiceTest, AStartTimeInsideAMicrosecondIsAtOrAfterIt) {
  AppendMany(3, "a");
  grid::v1::ReadRequest all;
  all.mutable_all();
  const auto events = ReadAll(all);
  ASSERT_EQ(events.size(), 3u);
  const absl::Time first = FromProtoTime(events[0].recorded_at());
  grid::v1::ReadRequest from;
  from.mutable_all();
  *from.mutable_from_time() = ToProtoTime(first + absl::Nanoseconds(1));
  for (const auto& e : ReadAll(from)) {
    EXPECT_GE(FromProtoTime(e.recorded_at()), first + absl::Nanoseconds(1)) << e.event_id();
    EXPECT_NE(e.event_id(), "a-0");
  }
  // At the exact time: from that event on.
  *from.mutable_from_time() = events[0].recorded_at();
  const auto exact = ReadAll(from);
  ASSERT_FALSE(exact.empty());
  EXPECT_EQ(exact[0].event_id(), "a-0");
}

// Regression (found by outside clients): a subscription from a time not yet
// reached delivered events recorded before that time (a Read from it
// correctly returned nothing).
TEST_F(LogServiceTest, ASubscriptionFromAFutureTimeDeliversNothingRecordedBefore) {
  grid::v1::SubscribeRequest req;
  *req.mutable_from_time() = ToProtoTime(absl::Now() + absl::Hours(1));
  absl::Notification live;
  int delivered = 0;
  uint64_t through = 0;
  std::thread sub([&] {
    absl::Status s = client_->Subscribe(req, [&](const grid::v1::SubscribeResponse& r) {
      delivered += r.events_size();
      through = r.checkpoint();
      if (r.caught_up() && !live.HasBeenNotified()) live.Notify();
      return through < 5;
    });
    EXPECT_OK(s);
  });
  EXPECT_TRUE(live.WaitForNotificationWithTimeout(absl::Seconds(60))) << "never caught up";
  AppendMany(5, "now");
  sub.join();
  EXPECT_EQ(through, 5u);   // it saw them go by...
  EXPECT_EQ(delivered, 0);  // ...recorded before its start: not delivered
}

// Read your own writes (min_position, for a cluster's replicas): a read or
// a subscription that asks for a position the log does not hold yet starts
// once it does, and gives up at the server's deadline saying how far the
// log is; a start up to that position is valid meanwhile.
TEST_F(LogServiceTest, MinPositionStartsOnceTheLogHoldsIt) {
  AppendMany(2, "a");
  grid::v1::ReadRequest read;
  read.mutable_all();
  read.set_min_position(3);
  grid::v1::SubscribeRequest sub;
  sub.set_after_position(3);  // past the head until the append below
  sub.set_min_position(4);
  auto writer = client::Client::Connect(target());
  std::thread later([&] {  // positions 3 and 4, now or during the waits
    for (int i = 0; i < 2; ++i) {
      EXPECT_OK(writer->Append(AppendReq("org/s9", {GridEvent("b-" + std::to_string(i), "350583/101")})));
    }
  });
  const auto events = ReadAll(read);
  std::vector<uint64_t> delivered;
  uint64_t through = 0;
  EXPECT_OK(client_->Subscribe(sub, [&](const grid::v1::SubscribeResponse& r) {
    for (const auto& e : r.events()) delivered.push_back(e.position());
    through = r.checkpoint();
    return through < 4;
  }));
  later.join();
  ASSERT_GE(events.size(), 3u);
  EXPECT_EQ(events[2].position(), 3u);
  EXPECT_EQ(delivered, std::vector<uint64_t>({4}));

  server::ServerOptions quick;
  quick.unary_deadline = absl::Milliseconds(150);
  StartServer(quick);
  read.set_min_position(1000000);
  absl::Status s = client_->Read(read, [](const grid::v1::ReadResponse&) { return true; });
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded) << s;
  EXPECT_THAT(std::string(s.message()), ::testing::HasSubstr("through 4, not yet min_position 1000000"));
  sub.set_min_position(1000000);
  sub.set_after_position(999999);
  int messages = 0;
  s = client_->Subscribe(sub, [&](const grid::v1::SubscribeResponse&) { return ++messages < 100; });
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded) << s;
  EXPECT_EQ(messages, 0);
}

TEST_F(LogServiceTest, ReadsForwardsBackwardsByPositionVersionAndTime) {
  AppendMany(10, "a");
  const absl::Time middle = absl::Now();
  absl::SleepFor(absl::Milliseconds(5));
  AppendMany(5, "b");

  grid::v1::ReadRequest all;
  all.mutable_all();
  all.set_batch_size(3);
  auto events = ReadAll(all);
  ASSERT_EQ(events.size(), 15u);
  for (size_t i = 0; i < events.size(); ++i) EXPECT_EQ(events[i].position(), i + 1);

  grid::v1::ReadRequest back;
  back.mutable_all();
  back.set_direction(grid::v1::BACKWARDS);
  back.set_from_position(12);
  back.set_max_count(4);
  events = ReadAll(back);
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[0].position(), 12u);
  EXPECT_EQ(events[3].position(), 9u);

  grid::v1::ReadRequest by_time;
  by_time.mutable_all();
  *by_time.mutable_from_time() = ToProtoTime(middle);
  events = ReadAll(by_time);
  ASSERT_EQ(events.size(), 5u);
  EXPECT_EQ(events[0].event_id(), "b-0");

  grid::v1::ReadRequest stream;
  stream.set_stream("org/s0");  // a-0, a-7, b-0
  stream.set_direction(grid::v1::BACKWARDS);
  events = ReadAll(stream);
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].event_id(), "b-0");
  EXPECT_EQ(events[0].stream_version(), 2u);
  EXPECT_EQ(events[2].event_id(), "a-0");
}

TEST_F(LogServiceTest, ImpossibleReadsAreRefused) {
  AppendMany(3, "a");
  struct Case {
    std::function<void(grid::v1::ReadRequest*)> set;
    absl::StatusCode code;
  };
  const std::vector<Case> cases = {
      {[](auto* r) {
         r->mutable_all();
         r->set_from_position(99);
       },
       absl::StatusCode::kOutOfRange},
      {[](auto* r) {
         r->mutable_all();
         r->set_from_position(0);
       },
       absl::StatusCode::kInvalidArgument},
      {[](auto* r) {
         r->mutable_all();
         r->set_from_version(1);
       },
       absl::StatusCode::kInvalidArgument},
      {[](auto* r) { r->set_stream("org/none"); }, absl::StatusCode::kNotFound},
      {[](auto* r) {
         r->set_stream("org/s0");
         r->set_from_version(7);
       },
       absl::StatusCode::kOutOfRange},
      {[](auto*) {}, absl::StatusCode::kInvalidArgument},
      {[](auto* r) {
         r->mutable_all();
         r->set_batch_size(5000);
       },
       absl::StatusCode::kInvalidArgument},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    grid::v1::ReadRequest req;
    cases[i].set(&req);
    absl::Status s = client_->Read(req, [](const auto&) { return true; });
    EXPECT_EQ(s.code(), cases[i].code) << "case " << i << ": " << s;
  }
  grid::v1::SubscribeRequest sub;
  sub.set_after_position(50);
  absl::Status s = client_->Subscribe(sub, [](const auto&) { return true; });
  EXPECT_EQ(s.code(), absl::StatusCode::kOutOfRange) << s;
}

// A subscription that starts in catch-up while appends continue sees every
// event exactly once, in order, across the switch to live.
TEST_F(LogServiceTest, SubscriptionCatchesUpThenGoesLiveWithoutGapOrDuplicate) {
  AppendMany(1500, "early");
  constexpr uint64_t kTotal = 3000;
  std::thread appender([&] { AppendMany(1500, "late"); });
  std::vector<uint64_t> positions;
  bool caught_up = false;
  grid::v1::SubscribeRequest req;
  req.set_max_batch(100);
  absl::Status s = client_->Subscribe(req, [&](const grid::v1::SubscribeResponse& r) {
    for (const auto& e : r.events()) positions.push_back(e.position());
    caught_up |= r.caught_up();
    if (!r.events().empty()) {
      EXPECT_EQ(r.checkpoint(), r.events().rbegin()->position());
    }
    return positions.size() < kTotal;
  });
  appender.join();
  ASSERT_OK(s);
  EXPECT_TRUE(caught_up);
  ASSERT_EQ(positions.size(), kTotal);
  for (size_t i = 0; i < positions.size(); ++i) ASSERT_EQ(positions[i], i + 1);
}

TEST_F(LogServiceTest, FiltersSelectEventsAndCheckpointsStillAdvance) {
  AppendMany(30, "a");  // GridDefined, orgs 350583/100..102
  ASSERT_OK(client_->Append(AppendReq("org/w", {WorkerEvent("w", "w-1", "350583/101/203")})));
  grid::v1::SubscribeRequest req;
  req.mutable_filter()->add_org_prefixes("350583/101");
  req.mutable_filter()->add_event_types("WorkerAssigned");
  std::vector<std::string> ids;
  absl::Status s = client_->Subscribe(req, [&](const grid::v1::SubscribeResponse& r) {
    for (const auto& e : r.events()) ids.push_back(e.event_id());
    return !r.caught_up();
  });
  ASSERT_OK(s);
  EXPECT_EQ(ids, std::vector<std::string>{"w"});

  // A filter that matches nothing still moves the checkpoint to the head.
  grid::v1::SubscribeRequest sparse;
  sparse.mutable_filter()->add_event_types("GridRetired");
  sparse.set_checkpoint_interval(10);
  uint64_t last_checkpoint = 0;
  int messages = 0;
  s = client_->Subscribe(sparse, [&](const grid::v1::SubscribeResponse& r) {
    EXPECT_TRUE(r.events().empty());
    EXPECT_GE(r.checkpoint(), last_checkpoint);
    last_checkpoint = r.checkpoint();
    ++messages;
    return !r.caught_up();
  });
  ASSERT_OK(s);
  EXPECT_EQ(last_checkpoint, 31u);
  EXPECT_GE(messages, 3);  // 31 scanned with an interval of 10

  // Resuming from a checkpoint delivers exactly the suffix.
  grid::v1::SubscribeRequest resume;
  resume.set_after_position(29);
  std::vector<uint64_t> got;
  s = client_->Subscribe(resume, [&](const grid::v1::SubscribeResponse& r) {
    for (const auto& e : r.events()) got.push_back(e.position());
    return !r.caught_up();
  });
  ASSERT_OK(s);
  EXPECT_EQ(got, (std::vector<uint64_t>{30, 31}));
}

// A live subscriber whose filter matches nothing still sees its checkpoint
// reach the head while the log is idle, without any further append.
TEST_F(LogServiceTest, IdleSparseSubscriberGetsAPeriodicCheckpoint) {
  grid::v1::SubscribeRequest req;
  req.mutable_from_now();
  req.mutable_filter()->add_event_types("GridRetired");
  absl::Notification live;
  uint64_t checkpoint = 0;
  std::thread sub([&] {
    absl::Status s = client_->Subscribe(req, [&](const grid::v1::SubscribeResponse& r) {
      EXPECT_TRUE(r.events().empty());
      checkpoint = r.checkpoint();
      if (r.caught_up() && !live.HasBeenNotified()) live.Notify();
      return checkpoint < 5;
    });
    EXPECT_OK(s);
  });
  EXPECT_TRUE(live.WaitForNotificationWithTimeout(absl::Seconds(60))) << "never caught up";
  AppendMany(5, "x");  // none matches; no append after these
  sub.join();
  EXPECT_EQ(checkpoint, 5u);
}

TEST_F(LogServiceTest, SubscribeFromNowSeesOnlyNewEvents) {
  AppendMany(5, "old");
  grid::v1::SubscribeRequest req;
  req.mutable_from_now();
  std::vector<std::string> ids;
  absl::Notification live;
  std::thread sub([&] {
    absl::Status s = client_->Subscribe(req, [&](const grid::v1::SubscribeResponse& r) {
      for (const auto& e : r.events()) ids.push_back(e.event_id());
      if (r.caught_up() && !live.HasBeenNotified()) live.Notify();
      return ids.size() < 2;
    });
    EXPECT_OK(s);
  });
  EXPECT_TRUE(live.WaitForNotificationWithTimeout(absl::Seconds(60))) << "never caught up";
  AppendMany(2, "new");
  sub.join();
  EXPECT_EQ(ids, (std::vector<std::string>{"new-0", "new-1"}));
}

// A subscriber that stops reading must neither stall appends nor make the
// server buffer for it: it falls off the bounded tail and, when it reads
// again, catches up from disk without losing or repeating anything.
TEST_F(LogServiceTest, SlowSubscriberDoesNotStallAppendsAndLosesNothing) {
  server::ServerOptions o;
  o.tail.max_records = 50;
  StartServer(o);
  AppendMany(10, "before");
  absl::Notification paused;
  absl::Notification resume;
  std::vector<uint64_t> positions;
  bool fell_behind = false;
  constexpr uint64_t kTotal = 10 + 3000;
  std::thread sub([&] {
    grid::v1::SubscribeRequest req;
    req.set_max_batch(10);
    absl::Status s = client_->Subscribe(req, [&](const grid::v1::SubscribeResponse& r) {
      for (const auto& e : r.events()) positions.push_back(e.position());
      fell_behind |= r.fell_behind();
      if (r.caught_up() && !paused.HasBeenNotified()) {
        paused.Notify();
        resume.WaitForNotification();  // stop reading; flow control backs up
      }
      return positions.size() < kTotal;
    });
    EXPECT_OK(s);
  });
  EXPECT_TRUE(paused.WaitForNotificationWithTimeout(absl::Seconds(60))) << "never caught up";
  // 3000 appends of ~8 KiB (24 MiB, more than HTTP/2 flow-control windows
  // hold) with the subscriber stalled: every one completes.
  std::vector<std::thread> writers;
  for (int w = 0; w < 3; ++w) {
    writers.emplace_back([&, w] {
      for (int i = 0; i < 1000; ++i) {
        auto e = GridEvent("w" + std::to_string(w) + "-" + std::to_string(i));
        e.mutable_grid_defined()->set_name(std::string(8000, 'n'));
        auto r = client_->Append(AppendReq("org/w" + std::to_string(w), {e}));
        ASSERT_OK(r);
      }
    });
  }
  for (auto& t : writers) t.join();
  ASSERT_OK_AND_ASSIGN(auto status, client_->GetStatus());
  EXPECT_EQ(status.head_position(), kTotal);
  resume.Notify();
  sub.join();
  EXPECT_TRUE(fell_behind);
  ASSERT_EQ(positions.size(), kTotal);
  for (size_t i = 0; i < positions.size(); ++i) ASSERT_EQ(positions[i], i + 1);
}

// Events big enough to be sent as references to the stored records
// (server/log/frame_builder.h) and small ones that are copied arrive
// whole and in order, live, in a catch-up and in a Read, the referenced
// ones also after the server has let go of them (a tail of 4 records).
TEST_F(LogServiceTest, EventsOfEverySizeArriveWholeLiveAndFromDisk) {
  server::ServerOptions o;
  o.tail.max_records = 4;
  StartServer(o);
  // Names of these lengths make stored events from ~150 bytes to ~100 KB,
  // every few bytes across FrameBuilder::kReferenceFrom (checked below).
  std::vector<size_t> sizes = {10, 300, 5000, 20000, 100000, 64, 4096};
  for (size_t n = 800; n <= 960; n += 8) sizes.push_back(n);
  auto name = [](size_t i, size_t size) { return std::string(size, static_cast<char>('a' + i % 26)); };
  auto check = [&](const std::vector<grid::v1::Event>& got, const char* what) {
    ASSERT_EQ(got.size(), sizes.size()) << what;
    for (size_t i = 0; i < got.size(); ++i) {
      EXPECT_EQ(got[i].position(), i + 1) << what;
      EXPECT_EQ(got[i].grid_defined().name(), name(i, sizes[i])) << what << " event " << i;
    }
  };
  absl::Notification live;
  std::vector<grid::v1::Event> delivered_live;
  std::thread sub([&] {
    grid::v1::SubscribeRequest req;
    req.set_max_batch(3);
    absl::Status s = client_->Subscribe(req, [&](const grid::v1::SubscribeResponse& r) {
      for (const auto& e : r.events()) delivered_live.push_back(e);
      if (r.caught_up()) live.Notify();
      return delivered_live.size() < sizes.size();
    });
    EXPECT_OK(s);
  });
  ASSERT_TRUE(live.WaitForNotificationWithTimeout(absl::Seconds(60)));
  for (size_t i = 0; i < sizes.size(); ++i) {
    auto e = GridEvent("sized-" + std::to_string(i));
    e.mutable_grid_defined()->set_name(name(i, sizes[i]));
    ASSERT_OK(client_->Append(AppendReq("org/sized", {e})));
  }
  sub.join();
  check(delivered_live, "live");
  size_t copied = 0, referenced = 0;
  for (const auto& e : delivered_live) {
    (e.ByteSizeLong() < server::FrameBuilder::kReferenceFrom ? copied : referenced) += 1;
  }
  EXPECT_GE(copied, 3u);
  EXPECT_GE(referenced, 3u);

  std::vector<grid::v1::Event> caught_up;
  grid::v1::SubscribeRequest req;
  req.set_max_batch(4);
  ASSERT_OK(client_->Subscribe(req, [&](const grid::v1::SubscribeResponse& r) {
    for (const auto& e : r.events()) caught_up.push_back(e);
    return caught_up.size() < sizes.size();
  }));
  check(caught_up, "catch-up");

  grid::v1::ReadRequest read;
  read.mutable_all();
  read.set_batch_size(5);
  check(ReadAll(read), "read");
}

TEST_F(LogServiceTest, ShutdownEndsSubscriptionsWithUnavailable) {
  AppendMany(3, "a");
  absl::Notification live;
  absl::Status result;
  std::thread sub([&] {
    grid::v1::SubscribeRequest req;
    result = client_->Subscribe(req, [&](const grid::v1::SubscribeResponse& r) {
      if (r.caught_up() && !live.HasBeenNotified()) live.Notify();
      return true;
    });
  });
  EXPECT_TRUE(live.WaitForNotificationWithTimeout(absl::Seconds(60))) << "never caught up";
  server_->Shutdown();
  sub.join();
  EXPECT_EQ(result.code(), absl::StatusCode::kUnavailable) << result;
}

// A client that keeps a connection open without calls must not hold a
// shutdown up: only calls are waited for. gRPC's own Shutdown sends GOAWAY
// with a PING and waits for each connection to close, until its deadline or
// the PING's 20 s timeout; a client that does not read while it has no call
// (Python's grpcio, a parked mobile backend) answers neither. The idle client
// here is a bare HTTP/2 peer that acknowledges the server's SETTINGS and
// then only listens. (The bound below is well under those 20 s and far above
// a shutdown's usual 0.1 s.)
TEST_F(LogServiceTest, ShutdownDoesNotWaitForIdleConnections) {
  AppendMany(3, "a");
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(server_->port()));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  const auto frame = [](uint8_t type, uint8_t flags, const std::string& payload) {
    std::string f;
    f.push_back(static_cast<char>(payload.size() >> 16));
    f.push_back(static_cast<char>(payload.size() >> 8));
    f.push_back(static_cast<char>(payload.size()));
    f.push_back(static_cast<char>(type));
    f.push_back(static_cast<char>(flags));
    f.append(4, '\0');  // stream 0
    return f + payload;
  };
  const std::string hello = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + frame(4, 0, "");
  ASSERT_EQ(send(fd, hello.data(), hello.size(), 0), static_cast<ssize_t>(hello.size()));
  absl::Notification up;
  std::thread peer([&] {
    for (;;) {
      unsigned char h[9];
      if (recv(fd, h, sizeof h, MSG_WAITALL) != 9) break;
      std::string payload((h[0] << 16) | (h[1] << 8) | h[2], '\0');
      if (!payload.empty() &&
          recv(fd, payload.data(), payload.size(), MSG_WAITALL) != static_cast<ssize_t>(payload.size())) {
        break;
      }
      std::string reply;
      if (h[3] == 4 && (h[4] & 1) == 0) reply = frame(4, 1, "");  // SETTINGS → ACK
      if (!reply.empty()) (void)send(fd, reply.data(), reply.size(), MSG_NOSIGNAL);
      if (h[3] == 4 && !up.HasBeenNotified()) up.Notify();
    }
  });
  ASSERT_TRUE(up.WaitForNotificationWithTimeout(absl::Seconds(60)));
  absl::Notification stopped;
  std::thread stopper([&] {
    server_->Shutdown(absl::Minutes(3));
    stopped.Notify();
  });
  EXPECT_TRUE(stopped.WaitForNotificationWithTimeout(absl::Seconds(12)))
      << "Shutdown waited for an idle connection";
  stopper.join();
  shutdown(fd, SHUT_RDWR);
  peer.join();
  close(fd);
}

// After a failed fsync the server refuses appends (UNAVAILABLE) until it is
// restarted, while reads and subscriptions go on serving what was committed.
std::string RawCall(const std::string& target, const std::string& method, const std::string& request);

TEST_F(LogServiceTest, StorageFailureMakesAppendsUnavailableWhileReadsServe) {
  grid::testing::FaultInjectionEnv env(rocksdb::Env::Default());
  server::ServerOptions o;
  o.log.env = &env;
  StartServer(o);
  AppendMany(5, "ok");
  env.AddRule({.op = grid::testing::FaultInjectionEnv::kSync, .pattern = ".log", .every = 1});
  auto failed = client_->Append(AppendReq("org/x", {GridEvent("lost")}));
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kUnavailable) << failed.status();
  env.ClearRules();
  auto later = client_->Append(AppendReq("org/x", {GridEvent("later")}));
  EXPECT_EQ(later.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(later.status().message().find("restart"), std::string::npos) << later.status();

  ASSERT_OK_AND_ASSIGN(auto status, client_->GetStatus());
  EXPECT_FALSE(status.writable());
  EXPECT_EQ(status.head_position(), 5u);
  // Not ready: /readyz and the gRPC health service say so (the health
  // service is told right after the failed commit group).
  std::string why;
  EXPECT_FALSE(server_->Ready(&why));
  EXPECT_NE(why.find("read-only"), std::string::npos) << why;
  std::string health;
  for (int i = 0; i < 500; ++i) {
    health = RawCall(target(), "/grpc.health.v1.Health/Check", "");
    if (health == std::string("\x08\x02", 2)) break;  // NOT_SERVING
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_EQ(health, std::string("\x08\x02", 2));
  grid::v1::ReadRequest all;
  all.mutable_all();
  EXPECT_EQ(ReadAll(all).size(), 5u);
  uint64_t delivered = 0;
  bool caught_up = false;
  ASSERT_OK(client_->Subscribe({}, [&](const grid::v1::SubscribeResponse& r) {
    delivered += r.events_size();
    caught_up |= r.caught_up();
    return !r.caught_up();
  }));
  EXPECT_EQ(delivered, 5u);
  EXPECT_TRUE(caught_up);

  StartServer(o);  // restart: writable again, nothing acknowledged lost
  EXPECT_TRUE(server_->Ready(&why)) << why;
  EXPECT_EQ(RawCall(target(), "/grpc.health.v1.Health/Check", ""), std::string("\x08\x01", 2));
  ASSERT_OK_AND_ASSIGN(auto resp, client_->Append(AppendReq("org/x", {GridEvent("later")})));
  EXPECT_GE(resp.results(0).position(), 6u);
  server_.reset();  // before `env`
}

TEST_F(LogServiceTest, RestartKeepsEventsAndIdempotency) {
  AppendMany(5, "a");
  StartServer();
  ASSERT_OK_AND_ASSIGN(auto status, client_->GetStatus());
  EXPECT_EQ(status.head_position(), 5u);
  ASSERT_OK_AND_ASSIGN(auto dup, client_->Append(AppendReq("org/s1", {GridEvent("a-1", "350583/101")})));
  EXPECT_TRUE(dup.results(0).duplicate());
  EXPECT_EQ(dup.results(0).position(), 2u);
}

// Raw unary/bidi call by method name, for the standard services.
std::string RawCall(const std::string& target, const std::string& method, const std::string& request) {
  auto channel = grpc::CreateChannel(target, grpc::InsecureChannelCredentials());
  grpc::GenericStub stub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  grpc::CompletionQueue cq;
  void* tag;
  bool ok;
  auto call = stub.PrepareCall(&ctx, method, &cq);
  call->StartCall(nullptr);
  cq.Next(&tag, &ok);
  grpc::Slice slice(request);
  grpc::ByteBuffer req(&slice, 1);
  call->Write(req, nullptr);
  cq.Next(&tag, &ok);
  call->WritesDone(nullptr);
  cq.Next(&tag, &ok);
  grpc::ByteBuffer resp;
  call->Read(&resp, nullptr);
  cq.Next(&tag, &ok);
  std::string out;
  if (ok) {
    std::vector<grpc::Slice> slices;
    (void)resp.Dump(&slices);
    for (auto& s : slices) out.append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  grpc::Status status;
  call->Finish(&status, nullptr);
  cq.Next(&tag, &ok);
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
  return out;
}

TEST_F(LogServiceTest, HealthCheckingAndReflectionAreServed) {
  // grpc.health.v1.HealthCheckResponse{status: SERVING} is 0x08 0x01.
  EXPECT_EQ(RawCall(target(), "/grpc.health.v1.Health/Check", ""), std::string("\x08\x01", 2));
  // ServerReflectionRequest{list_services: ""} is field 7, empty string.
  const std::string services = RawCall(
      target(), "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", std::string("\x3a\x00", 2));
  EXPECT_NE(services.find("grid.v1.Log"), std::string::npos);
}

TEST(ServerStartTest, NonLoopbackNeedsEveryCallerAuthenticated) {
  grid::testing::TempDir dir;
  server::ServerOptions o;
  o.listen = "0.0.0.0:0";
  o.data_dir = dir.path();
  auto s = server::GridServer::Start(o);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(s.status().message().find("needs authentication"), std::string::npos) << s.status();

  // Allowed only when every caller authenticates: TLS plus client
  // certificates or tokens.
  server::AuthOptions auth;
  EXPECT_OK(server::CheckListen("127.0.0.1:7443", auth, true));
  EXPECT_FALSE(server::CheckListen("10.0.0.1:7443", auth, true).ok());
  auth.tls_cert_path = "c.pem";
  auth.tls_key_path = "k.pem";
  EXPECT_FALSE(server::CheckListen("10.0.0.1:7443", auth, true).ok());  // TLS, anonymous callers
  auth.tokens.push_back({"ops", std::string(64, 'a')});
  EXPECT_OK(server::CheckListen("10.0.0.1:7443", auth, true));
  EXPECT_OK(server::ValidateAuth(auth));
  auth.tokens.push_back({"ops2", "not-a-hash"});
  EXPECT_EQ(server::ValidateAuth(auth).code(), absl::StatusCode::kInvalidArgument);
  server::AuthOptions plaintext_tokens;
  plaintext_tokens.tokens.push_back({"ops", std::string(64, 'a')});
  EXPECT_NE(server::ValidateAuth(plaintext_tokens).message().find("need TLS"), std::string::npos);
  server::AuthOptions ca_only;
  ca_only.tls_client_ca_path = "ca.pem";
  EXPECT_FALSE(server::ValidateAuth(ca_only).ok());
  server::AuthOptions cert_and_ca = ca_only;
  cert_and_ca.tls_cert_path = "c.pem";
  cert_and_ca.tls_key_path = "k.pem";
  EXPECT_OK(server::CheckListen("[::]:7443", cert_and_ca, true));
  // Authenticated but without a policy, every caller could do everything.
  auto no_policy = server::CheckListen("[::]:7443", cert_and_ca, false);
  EXPECT_EQ(no_policy.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(no_policy.message().find("policy_file"), std::string::npos) << no_policy;
  EXPECT_OK(server::CheckListen("127.0.0.1:7443", server::AuthOptions(), false));

  EXPECT_TRUE(server::IsLoopbackListenAddress("127.0.0.1:7443"));
  EXPECT_TRUE(server::IsLoopbackListenAddress("127.0.0.2:7443"));
  EXPECT_TRUE(server::IsLoopbackListenAddress("[::1]:7443"));
  EXPECT_TRUE(server::IsLoopbackListenAddress("localhost:0"));
  EXPECT_TRUE(server::IsLoopbackListenAddress("ipv4:127.0.0.1:0"));
  EXPECT_FALSE(server::IsLoopbackListenAddress("10.0.0.1:7443"));
  EXPECT_FALSE(server::IsLoopbackListenAddress("0.0.0.0:7443"));
  EXPECT_FALSE(server::IsLoopbackListenAddress(":7443"));
  // Regression: decided by a text prefix, a name like this one counted as
  // loopback (and so ran without authentication) wherever it resolved.
  EXPECT_FALSE(server::IsLoopbackListenAddress("127.anything:0"));
  EXPECT_FALSE(server::IsLoopbackListenAddress("127.0.0.1.example.invalid:0"));
  // Regression: decided by what a name resolved to at the check, while gRPC
  // resolves it again to bind. "127.1" is a name to inet_pton (getaddrinfo
  // made it 127.0.0.1); so is a hosts-file alias of 127.0.0.1.
  EXPECT_FALSE(server::IsLoopbackListenAddress("127.1:0"));
  EXPECT_FALSE(server::IsLoopbackListenAddress("ip6-localhost:0"));
  EXPECT_TRUE(server::IsLoopbackListenAddress("[::ffff:127.0.0.1]:0"));
  EXPECT_EQ(server::CheckListen("127.anything:0", server::AuthOptions(), false).code(),
            absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace grid
