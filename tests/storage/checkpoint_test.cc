#include "storage/checkpoint.h"

#include <gtest/gtest.h>
#include <rocksdb/env.h>

#include "grid/v1/log.pb.h"
#include "server/log/checkpointer.h"
#include "storage/proto_time.h"
#include "tests/testing/forwarding_log.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_events.h"

namespace grid::storage {
namespace {

TEST(CheckpointTest, SignaturesVerifyOnlyForTheSignedMessageAndKey) {
  grid::testing::TempDir dir;
  ASSERT_OK_AND_ASSIGN(auto signer, Signer::LoadOrCreate(dir.path() + "/k.pem"));
  const Digest chain = Sha256("x");
  const absl::Time t = absl::FromUnixMicros(1'800'000'000'000'000);
  const std::string msg = CheckpointMessage(7, chain, t);
  const std::string sig = signer->Sign(msg);
  EXPECT_EQ(sig.size(), 64u);
  EXPECT_OK(VerifySignature(signer->public_key(), msg, sig));
  EXPECT_EQ(VerifySignature(signer->public_key(), CheckpointMessage(8, chain, t), sig).code(),
            absl::StatusCode::kDataLoss);
  EXPECT_FALSE(
      VerifySignature(signer->public_key(), CheckpointMessage(7, chain, t + absl::Microseconds(1)), sig)
          .ok());

  // Reloading the file gives the same key; another file another key.
  ASSERT_OK_AND_ASSIGN(auto again, Signer::LoadOrCreate(dir.path() + "/k.pem"));
  EXPECT_EQ(again->public_key(), signer->public_key());
  ASSERT_OK_AND_ASSIGN(auto other, Signer::LoadOrCreate(dir.path() + "/other.pem"));
  EXPECT_FALSE(VerifySignature(other->public_key(), msg, sig).ok());

  // The public key parses from PEM and from hex.
  ASSERT_OK_AND_ASSIGN(auto from_pem, ParsePublicKey(signer->public_key_pem()));
  EXPECT_EQ(from_pem, signer->public_key());
  ASSERT_OK_AND_ASSIGN(auto from_hex, ParsePublicKey(ToHex(signer->public_key())));
  EXPECT_EQ(from_hex, signer->public_key());
  EXPECT_FALSE(ParsePublicKey("not a key").ok());
}

TEST(CheckpointerTest, SignsEveryNEventsAndWhenTimePasses) {
  std::unique_ptr<rocksdb::Env> mem(rocksdb::NewMemEnv(rocksdb::Env::Default()));
  grid::testing::TempDir dir;
  EventLogOptions o;
  o.env = mem.get();
  ASSERT_OK_AND_ASSIGN(auto log, EventLog::Open(o, "/db"));
  ASSERT_OK_AND_ASSIGN(auto signer, Signer::LoadOrCreate(dir.path() + "/k.pem"));
  const absl::Time t0 = absl::Now();
  server::Checkpointer cp(log.get(), signer.get(), {.every_events = 10, .every = absl::Seconds(60)}, t0);
  int made = 0;
  for (int i = 0; i < 25; ++i) {
    auto b = grid::testing::Batch("s/1", {grid::testing::GridEvent("e" + std::to_string(i))});
    AppendBatch* p = &b;
    ASSERT_OK(log->Commit(absl::MakeSpan(&p, 1), t0).outcomes[0].status);
    made += cp.MaybeCheckpoint(t0);
  }
  EXPECT_EQ(made, 2);  // at 10 and 20
  EXPECT_FALSE(cp.MaybeCheckpoint(t0 + absl::Seconds(1)));
  EXPECT_TRUE(cp.MaybeCheckpoint(t0 + absl::Seconds(61)));    // time: signs 25
  EXPECT_FALSE(cp.MaybeCheckpoint(t0 + absl::Seconds(200)));  // head did not move

  ASSERT_OK_AND_ASSIGN(auto stored, log->ReadCheckpoints(0, 100));
  ASSERT_EQ(stored.size(), 3u);
  EXPECT_EQ(stored[0].first, 10u);
  EXPECT_EQ(stored[2].first, 25u);
  grid::v1::SignedCheckpoint last;
  ASSERT_TRUE(last.ParseFromString(stored[2].second));
  Digest chain;
  std::memcpy(chain.data(), last.chain().data(), 32);
  EXPECT_EQ(chain, log->GetHead().chain);
  const absl::Time t = FromProtoTime(last.time());
  EXPECT_OK(VerifySignature(signer->public_key(), CheckpointMessage(25, chain, t), last.signature()));
}

}  // namespace
// A full disk for checkpoints only, while `fail` is set.
class FailingCheckpoints final : public grid::testing::ForwardingLog {
 public:
  using ForwardingLog::ForwardingLog;
  bool fail = true;
  absl::Status PutCheckpoint(Position p, const std::string& v) override {
    return fail ? absl::UnavailableError("no space left on device") : ForwardingLog::PutCheckpoint(p, v);
  }
};

// Regression: a checkpoint that could not be stored was dropped without a
// log line or a metric (and tried again after every commit).
TEST(CheckpointerTest, AFailedCheckpointIsToldCountedAndRetriedLater) {
  std::unique_ptr<rocksdb::Env> mem(rocksdb::NewMemEnv(rocksdb::Env::Default()));
  grid::testing::TempDir dir;
  EventLogOptions o;
  o.env = mem.get();
  ASSERT_OK_AND_ASSIGN(auto real, EventLog::Open(o, "/db"));
  FailingCheckpoints log(real.get());
  ASSERT_OK_AND_ASSIGN(auto signer, Signer::LoadOrCreate(dir.path() + "/k.pem"));
  const absl::Time t0 = absl::Now();
  std::vector<std::string> told;
  server::Checkpointer cp(&log, signer.get(),
                          {.every_events = 1,
                           .every = absl::Seconds(60),
                           .on_failure = [&](const absl::Status& s) { told.emplace_back(s.message()); }},
                          t0);
  auto append = [&](int i) {
    auto b = grid::testing::Batch("s/1", {grid::testing::GridEvent("e" + std::to_string(i))});
    AppendBatch* p = &b;
    ASSERT_OK(log.Commit(absl::MakeSpan(&p, 1), t0).outcomes[0].status);
  };
  append(0);
  EXPECT_FALSE(cp.MaybeCheckpoint(t0));
  EXPECT_EQ(cp.failures(), 1u);
  ASSERT_EQ(told.size(), 1u);
  EXPECT_EQ(told[0], "no space left on device");
  append(1);
  EXPECT_FALSE(cp.MaybeCheckpoint(t0 + absl::Seconds(1)));  // not at every commit
  EXPECT_EQ(cp.failures(), 1u);
  log.fail = false;
  EXPECT_TRUE(cp.MaybeCheckpoint(t0 + absl::Seconds(61)));
  ASSERT_OK_AND_ASSIGN(auto stored, log.ReadCheckpoints(0, 10));
  ASSERT_EQ(stored.size(), 1u);
  EXPECT_EQ(stored[0].first, 2u);
}

}  // namespace grid::storage
