// The replicated head of a shard on a real etcd (Debian's etcd-server,
// started by the test on loopback): commits continue the log, a writer that
// lost its place never commits, of many writers racing for one head exactly
// one wins, and an unknown outcome (etcd stopped mid-commit) is settled by
// reading back, never by guessing. Batches are stored with their records
// compressed, and read back whole; damaged ones are DATA_LOSS.
#include "server/cluster/shard_log.h"

#include <gtest/gtest.h>
#include <zstd.h>

#include <atomic>
#include <latch>
#include <random>
#include <set>
#include <thread>

#include "tests/testing/etcd_server.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace grid::server {
namespace {

using grid::cluster::v1::Batch;

Batch MakeBatch(uint64_t first, int records, std::string id) {
  Batch b;
  b.set_first_position(first);
  b.set_batch_id(std::move(id));
  b.set_writer_epoch(1);
  for (int i = 0; i < records; ++i) b.add_records(absl::StrCat("record ", first + i));
  b.set_chain(std::string(32, static_cast<char>('a' + first % 26)));
  b.set_recorded_at_micros(1700000000000000);
  return b;
}

// A group as a writer makes them: records alike in shape, unlike in ids
// and values (grid reports).
Batch ReportsBatch(uint64_t first, int records, std::string id) {
  Batch b = MakeBatch(first, 0, std::move(id));
  std::mt19937_64 random(first);
  for (int i = 0; i < records; ++i) {
    b.add_records(absl::StrCat(R"({"event_id":")", random(), random(),
                               R"(","type":"SanitationReportSubmitted","stream":"grid/350583/101/203/g)",
                               random() % 40, R"(","score":)", random() % 100,
                               R"(,"findings":["litter","drain"],"reported_by":"w-)", random() % 500, "\"}"));
  }
  return b;
}

std::vector<std::string> RecordsOf(const Batch& b) { return {b.records().begin(), b.records().end()}; }

TEST(ShardLogCodecTest, SmallOrNoisyBatchesStayPlainAndDamageIsDataLoss) {
  // Compressing one short record would not pay for the field.
  const Batch one = MakeBatch(1, 1, "one");
  auto back = ShardLog::ParseBatch("k", ShardLog::EncodeBatch(one));
  ASSERT_OK(back.status());
  EXPECT_EQ(back->SerializeAsString(), one.SerializeAsString());
  Batch stored;
  ASSERT_TRUE(stored.ParseFromString(ShardLog::EncodeBatch(one)));
  EXPECT_TRUE(stored.packed_records().empty());
  // Noise does not compress either.
  Batch noise = MakeBatch(1, 0, "noise");
  std::mt19937_64 random(7);
  for (int i = 0; i < 50; ++i) {
    std::string r(500, '\0');
    for (char& c : r) c = static_cast<char>(random());
    noise.add_records(r);
  }
  ASSERT_TRUE(stored.ParseFromString(ShardLog::EncodeBatch(noise)));
  EXPECT_TRUE(stored.packed_records().empty());
  EXPECT_EQ(RecordsOf(*ShardLog::ParseBatch("k", ShardLog::EncodeBatch(noise))), RecordsOf(noise));

  // Damage: not a frame, a frame cut short, packed and plain at once.
  ASSERT_TRUE(stored.ParseFromString(ShardLog::EncodeBatch(ReportsBatch(1, 100, "r"))));
  ASSERT_FALSE(stored.packed_records().empty());
  Batch bad = stored;
  bad.set_packed_records("not zstd");
  EXPECT_TRUE(absl::IsDataLoss(ShardLog::ParseBatch("k", bad.SerializeAsString()).status()));
  bad = stored;
  bad.mutable_packed_records()->resize(stored.packed_records().size() / 2);
  auto cut = ShardLog::ParseBatch("gl/350583/log/1", bad.SerializeAsString());
  EXPECT_TRUE(absl::IsDataLoss(cut.status())) << cut.status();
  EXPECT_NE(cut.status().message().find("gl/350583/log/1"), std::string::npos) << cut.status();
  bad = stored;
  bad.add_records("plain too");
  EXPECT_TRUE(absl::IsDataLoss(ShardLog::ParseBatch("k", bad.SerializeAsString()).status()));
  EXPECT_TRUE(absl::IsDataLoss(ShardLog::ParseBatch("k", "\xff\xff\xff").status()));
  EXPECT_TRUE(
      absl::IsDataLoss(ShardLog::ParseBatch("k", MakeBatch(1, 0, "none").SerializeAsString()).status()));

  // A field from a newer writer (here field 99) stops the reader instead
  // of being skipped with what it may hold.
  std::string newer = one.SerializeAsString();
  newer += std::string(
      "\x9a\x06\x03"
      "abc",
      6);  // field 99, length-delimited, "abc"
  auto refused = ShardLog::ParseBatch("gl/350583/log/1", newer);
  EXPECT_TRUE(absl::IsFailedPrecondition(refused.status())) << refused.status();
  EXPECT_NE(refused.status().message().find("newer gridd"), std::string::npos) << refused.status();

  // Inside the frame as well: a Records with a newer field, or with none.
  auto packed = [](const std::string& plain) {
    std::string frame(ZSTD_compressBound(plain.size()), '\0');
    frame.resize(ZSTD_compress(frame.data(), frame.size(), plain.data(), plain.size(), 1));
    Batch b = MakeBatch(1, 0, "packed");
    b.set_packed_records(frame);
    return b.SerializeAsString();
  };
  grid::cluster::v1::Records records;
  records.add_records("a record");
  EXPECT_OK(ShardLog::ParseBatch("k", packed(records.SerializeAsString())).status());
  EXPECT_TRUE(absl::IsFailedPrecondition(
      ShardLog::ParseBatch("k", packed(records.SerializeAsString() + std::string("\x9a\x06\x03"
                                                                                 "abc",
                                                                                 6)))
          .status()));
  EXPECT_TRUE(absl::IsDataLoss(ShardLog::ParseBatch("k", packed("")).status()));
}

class ShardLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto etcd = testing::EtcdServer::Start(dir_.path());
    ASSERT_OK(etcd.status());
    etcd_ = *std::move(etcd);
    auto client = EtcdClient::Create({.endpoints = {etcd_->endpoint()}});
    ASSERT_OK(client.status());
    client_ = *std::move(client);
    auto log = ShardLog::Open(client_.get(), "350583");
    ASSERT_OK(log.status());
    log_.emplace(*std::move(log));
  }

  testing::TempDir dir_;
  std::unique_ptr<testing::EtcdServer> etcd_;
  std::unique_ptr<EtcdClient> client_;
  std::optional<ShardLog> log_;
};

TEST_F(ShardLogTest, CommitsContinueTheLogAndReadBack) {
  auto empty = log_->ReadHead();
  ASSERT_OK(empty.status());
  EXPECT_EQ(empty->mod_revision, 0);
  EXPECT_EQ(empty->head.position(), 0u);

  ShardLog::HeadAt after;
  auto out = log_->Commit(*empty, MakeBatch(1, 3, "b1"), &after);
  ASSERT_OK(out.status());
  EXPECT_EQ(*out, ShardLog::Outcome::kCommitted);
  EXPECT_EQ(after.head.position(), 3u);
  EXPECT_EQ(after.head.batch_id(), "b1");
  ShardLog::HeadAt after2;
  ASSERT_OK(log_->Commit(after, MakeBatch(4, 1, "b2"), &after2).status());

  auto head = log_->ReadHead();
  ASSERT_OK(head.status());
  EXPECT_EQ(head->head.position(), 4u);
  EXPECT_EQ(head->mod_revision, after2.mod_revision);
  auto all = log_->ReadBatches(0);
  ASSERT_OK(all.status());
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].batch_id(), "b1");
  EXPECT_EQ((*all)[0].records(2), "record 3");
  EXPECT_EQ((*all)[1].first_position(), 4u);
  auto rest = log_->ReadBatches(3);
  ASSERT_OK(rest.status());
  ASSERT_EQ(rest->size(), 1u);
  EXPECT_EQ((*rest)[0].batch_id(), "b2");
  // What an operator sees with etcdctl.
  EXPECT_EQ(log_->BatchKey(4), "gl/350583/log/00000000000000000004");
}

// etcd holds the records compressed (a batch of grid reports to well under
// two thirds), and every way a node reads them gives them back whole; a
// batch stored plain, as before compression, reads the same.
TEST_F(ShardLogTest, BatchesAreStoredCompressedAndReadBackWhole) {
  auto empty = log_->ReadHead();
  ASSERT_OK(empty.status());
  const Batch reports = ReportsBatch(1, 200, "reports");
  ShardLog::HeadAt after;
  ASSERT_OK(log_->Commit(*empty, reports, &after).status());

  auto raw = client_->Get(log_->BatchKey(1));
  ASSERT_OK(raw.status());
  ASSERT_TRUE(raw->has_value());
  Batch stored;
  ASSERT_TRUE(stored.ParseFromString((*raw)->value));
  EXPECT_EQ(stored.records_size(), 0);
  size_t plain = 0;
  for (const auto& r : reports.records()) plain += r.size();
  EXPECT_LT((*raw)->value.size() * 3, plain * 2) << (*raw)->value.size() << " bytes stored for " << plain;

  auto read = log_->ReadBatches(0);
  ASSERT_OK(read.status());
  ASSERT_EQ(read->size(), 1u);
  EXPECT_EQ(RecordsOf((*read)[0]), RecordsOf(reports));
  EXPECT_EQ((*read)[0].chain(), reports.chain());
  EXPECT_TRUE((*read)[0].packed_records().empty());
  auto watch = log_->WatchBatches(0);
  ASSERT_OK(watch.status());
  auto changes = (*watch)->Next();
  ASSERT_OK(changes.status());
  ASSERT_EQ(changes->size(), 1u);
  auto watched = ShardLog::ParseBatch((*changes)[0].key, (*changes)[0].value.value);
  ASSERT_OK(watched.status());
  EXPECT_EQ(RecordsOf(*watched), RecordsOf(reports));
  // A retry of the committed batch is told so (it reads the stored batch).
  auto retry = log_->Commit(*empty, reports, &after);
  ASSERT_OK(retry.status());
  EXPECT_EQ(*retry, ShardLog::Outcome::kCommitted);
  EXPECT_EQ(after.head.position(), 200u);

  // Written plain, as a writer before compression did.
  const Batch old = MakeBatch(201, 3, "plain");
  ASSERT_OK(client_->Put(log_->BatchKey(201), old.SerializeAsString()));
  read = log_->ReadBatches(200);
  ASSERT_OK(read.status());
  ASSERT_EQ(read->size(), 1u);
  EXPECT_EQ(RecordsOf((*read)[0]), RecordsOf(old));
}

TEST_F(ShardLogTest, ABatchThatDoesNotContinueTheHeadIsRefused) {
  auto head = log_->ReadHead();
  ASSERT_OK(head.status());
  ShardLog::HeadAt after;
  EXPECT_EQ(log_->Commit(*head, MakeBatch(2, 1, "gap"), &after).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(log_->Commit(*head, MakeBatch(1, 0, "empty"), &after).status().code(),
            absl::StatusCode::kInvalidArgument);
  auto all = log_->ReadBatches(0);
  ASSERT_OK(all.status());
  EXPECT_TRUE(all->empty());
  EXPECT_EQ(ShardLog::Open(client_.get(), "350583/101").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(ShardLogTest, AWriterThatLostItsPlaceNeverCommits) {
  auto seen_by_old = log_->ReadHead();  // the old writer's view
  ASSERT_OK(seen_by_old.status());
  ShardLog::HeadAt after;
  ASSERT_EQ(*log_->Commit(*seen_by_old, MakeBatch(1, 2, "new-writer"), &after),
            ShardLog::Outcome::kCommitted);
  // The old writer still believes it is the writer, with a batch for the
  // same positions, and with one that continues what it saw.
  EXPECT_EQ(*log_->Commit(*seen_by_old, MakeBatch(1, 5, "zombie"), &after), ShardLog::Outcome::kLostPlace);
  auto all = log_->ReadBatches(0);
  ASSERT_OK(all.status());
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ((*all)[0].batch_id(), "new-writer");
  EXPECT_EQ(log_->ReadHead()->head.position(), 2u);
}

TEST_F(ShardLogTest, OfWritersRacingForOneHeadExactlyOneWins) {
  constexpr int kRounds = 60;
  constexpr int kWriters = 4;
  for (int round = 0; round < kRounds; ++round) {
    std::latch read(kWriters);
    std::atomic<int> won{0}, lost{0}, errors{0};
    std::vector<std::thread> writers;
    writers.reserve(kWriters);
    for (int w = 0; w < kWriters; ++w) {
      writers.emplace_back([&, w] {
        auto head = log_->ReadHead();
        read.arrive_and_wait();  // all read the same head, then race
        if (!head.ok()) {
          ++errors;
          return;
        }
        ShardLog::HeadAt after;
        auto out = log_->Commit(
            *head, MakeBatch(head->head.position() + 1, 1 + w, absl::StrCat(round, "-", w)), &after);
        if (!out.ok()) {
          ++errors;
        } else if (*out == ShardLog::Outcome::kCommitted) {
          ++won;
        } else {
          ++lost;
        }
      });
    }
    for (auto& t : writers) t.join();
    ASSERT_EQ(errors.load(), 0);
    ASSERT_EQ(won.load(), 1) << "round " << round;
    ASSERT_EQ(lost.load(), kWriters - 1);
  }
  // One batch per round, dense, each continuing the last.
  auto all = log_->ReadBatches(0);
  ASSERT_OK(all.status());
  ASSERT_EQ(all->size(), static_cast<size_t>(kRounds));
  uint64_t next = 1;
  std::set<std::string> ids;
  for (const auto& b : *all) {
    EXPECT_EQ(b.first_position(), next);
    next += b.records_size();
    EXPECT_TRUE(ids.insert(b.batch_id()).second);
  }
  EXPECT_EQ(log_->ReadHead()->head.position(), next - 1);
}

TEST_F(ShardLogTest, SettleReadsTheOutcomeBack) {
  auto at = log_->ReadHead();
  ASSERT_OK(at.status());
  const Batch mine = MakeBatch(1, 2, "mine");
  ShardLog::HeadAt after;
  // Never sent: the head is unchanged, so it may be committed again.
  EXPECT_EQ(*log_->Settle(*at, mine, &after), ShardLog::Outcome::kNotYet);
  ASSERT_EQ(*log_->Commit(*at, mine, &after), ShardLog::Outcome::kCommitted);
  ShardLog::HeadAt settled;
  EXPECT_EQ(*log_->Settle(*at, mine, &settled), ShardLog::Outcome::kCommitted);
  EXPECT_EQ(settled.head.batch_id(), "mine");
  EXPECT_EQ(settled.mod_revision, after.mod_revision);
  // A retry of it (its first answer lost) is told it committed, not lost.
  ShardLog::HeadAt retried;
  EXPECT_EQ(*log_->Commit(*at, mine, &retried), ShardLog::Outcome::kCommitted);
  EXPECT_EQ(retried.mod_revision, after.mod_revision);
  // Another's batch took the place `at` offered: lost.
  EXPECT_EQ(*log_->Settle(*at, MakeBatch(1, 2, "other"), &settled), ShardLog::Outcome::kLostPlace);
  EXPECT_EQ(*log_->Commit(*at, MakeBatch(1, 2, "other"), &settled), ShardLog::Outcome::kLostPlace);
  EXPECT_EQ(*log_->Settle(after, MakeBatch(3, 1, "late"), &settled), ShardLog::Outcome::kNotYet);
  ShardLog::HeadAt later;
  ASSERT_EQ(*log_->Commit(after, MakeBatch(3, 1, "next-writer"), &later), ShardLog::Outcome::kCommitted);
  EXPECT_EQ(*log_->Settle(after, MakeBatch(3, 1, "late"), &settled), ShardLog::Outcome::kLostPlace);
  // Settled after later batches followed, "mine" reports the head it made,
  // at its own revision: a writer that goes on from there is fenced out.
  ShardLog::HeadAt old;
  ASSERT_EQ(*log_->Settle(*at, mine, &old), ShardLog::Outcome::kCommitted);
  EXPECT_EQ(old.head.position(), 2u);
  EXPECT_EQ(*log_->Commit(old, MakeBatch(3, 1, "stale"), &settled), ShardLog::Outcome::kLostPlace);
}

TEST_F(ShardLogTest, AnUnknownOutcomeIsSettledAndCommitsOnce) {
  // A client whose calls give up quickly, so that a commit to a stopped
  // etcd ends without an answer.
  auto impatient = EtcdClient::Create({.endpoints = {etcd_->endpoint()}, .timeout = absl::Milliseconds(300)});
  ASSERT_OK(impatient.status());
  auto log = ShardLog::Open(impatient->get(), "350583");
  ASSERT_OK(log.status());
  auto at = log->ReadHead();
  ASSERT_OK(at.status());
  const Batch mine = MakeBatch(1, 3, "ambiguous");

  etcd_->Signal(SIGSTOP);
  ShardLog::HeadAt after;
  auto out = log->Commit(*at, mine, &after);
  etcd_->Signal(SIGCONT);
  ASSERT_FALSE(out.ok()) << "a stopped etcd answered";
  EXPECT_TRUE(absl::IsDeadlineExceeded(out.status()) || absl::IsUnavailable(out.status())) << out.status();

  // Settle with the patient client; "not yet" means commit the same batch
  // again, which is told the truth even if the first attempt lands first.
  auto s = log_->Settle(*at, mine, &after);
  ASSERT_OK(s.status());
  ShardLog::Outcome settled = *s;
  if (settled == ShardLog::Outcome::kNotYet) {
    auto again = log_->Commit(*at, mine, &after);
    ASSERT_OK(again.status());
    settled = *again;
  }
  ASSERT_EQ(settled, ShardLog::Outcome::kCommitted);
  auto all = log_->ReadBatches(0);
  ASSERT_OK(all.status());
  ASSERT_EQ(all->size(), 1u) << "committed twice";
  EXPECT_EQ((*all)[0].batch_id(), "ambiguous");
  EXPECT_EQ(log_->ReadHead()->head.position(), 3u);
}

}  // namespace
}  // namespace grid::server
