// The client's verifier and export format against a real server.
#include <gmock/gmock.h>
#include <algorithm>
#include <fstream>
#include <random>

#include "absl/strings/str_cat.h"
#include "client/audit.h"
#include "client/json.h"
#include "grid/v1/projection.pb.h"
#include "tests/testing/server_fixture.h"
#include "tests/testing/test_events.h"

namespace grid {
namespace {

using grid::testing::AppendReq;
using grid::testing::GridEvent;

class VerifyTest : public grid::testing::ServerFixture {
 protected:
  VerifyTest() { log_mechanics_only_ = true; }
  std::vector<std::string> RawAll() {
    std::vector<std::string> out;
    grid::v1::ReadRequest req;
    req.mutable_all();
    EXPECT_OK(client_->ReadRaw(req, [&](const grid::v1::RawReadResponse& r) {
      for (const auto& w : r.events()) out.push_back(w);
      return true;
    }));
    return out;
  }
};

TEST_F(VerifyTest, ChainVerifiesAndAnyChangedByteNamesItsPosition) {
  for (int i = 0; i < 20; ++i) {
    ASSERT_OK(
        client_->Append(AppendReq("org/" + std::to_string(i % 4), {GridEvent("e" + std::to_string(i))})));
  }
  const auto wires = RawAll();
  ASSERT_EQ(wires.size(), 20u);
  client::ChainVerifier ok;
  for (const auto& w : wires) ASSERT_OK(ok.Add(w));
  ASSERT_OK_AND_ASSIGN(auto status, client_->GetStatus());
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(ok.chain().data()), 32), status.chain_head());

  // Flip every byte of record 7 in turn: each change is detected at 7.
  for (size_t b = 0; b < wires[6].size(); ++b) {
    client::ChainVerifier v;
    absl::Status s;
    for (size_t i = 0; i < wires.size() && s.ok(); ++i) {
      std::string w = wires[i];
      if (i == 6) w[b] ^= 0x01;
      s = v.Add(w);
    }
    ASSERT_EQ(s.code(), absl::StatusCode::kDataLoss) << "byte " << b;
    EXPECT_NE(s.message().find("position 7"), std::string::npos) << s;
  }
}

TEST_F(VerifyTest, ExportRoundTripsAndTruncationIsDetected) {
  for (int i = 0; i < 5; ++i) {
    ASSERT_OK(client_->Append(AppendReq("org/x", {GridEvent("e" + std::to_string(i))})));
  }
  const auto wires = RawAll();
  const std::string path = dir_.path() + "/export.bin";
  {
    client::ExportWriter w(std::fopen(path.c_str(), "wb"), 1, storage::kGenesisChain);
    for (const auto& x : wires) ASSERT_OK(w.AddEvent(x));
    ASSERT_OK(w.Close());
  }
  ASSERT_OK_AND_ASSIGN(auto reader, client::ExportReader::Open(path));
  client::ChainVerifier v(reader->first(), reader->prev_chain());
  std::string wire;
  int n = 0;
  for (;;) {
    ASSERT_OK_AND_ASSIGN(auto kind, reader->Next(&wire));
    if (kind == client::ExportReader::Kind::kEnd) break;
    ASSERT_OK(v.Add(wire));
    ++n;
  }
  EXPECT_EQ(n, 5);
  std::filesystem::resize_file(path, std::filesystem::file_size(path) - 3);
  ASSERT_OK_AND_ASSIGN(auto cut, client::ExportReader::Open(path));
  absl::StatusOr<client::ExportReader::Kind> kind = client::ExportReader::Kind::kEvent;
  while (kind.ok() && *kind != client::ExportReader::Kind::kEnd) kind = cut->Next(&wire);
  EXPECT_EQ(kind.status().code(), absl::StatusCode::kDataLoss);
}

// Regression: flipping the "checkpoint" flag in an event record's header was
// reported as a damaged checkpoint at the previous position.
TEST_F(VerifyTest, EventRecordMarkedAsCheckpointNamesTheEvent) {
  for (int i = 0; i < 3; ++i) {
    ASSERT_OK(client_->Append(AppendReq("org/x", {GridEvent("e" + std::to_string(i))})));
  }
  const auto wires = RawAll();
  const std::string path = dir_.path() + "/export.bin";
  {
    client::ExportWriter w(std::fopen(path.c_str(), "wb"), 1, storage::kGenesisChain);
    for (const auto& x : wires) ASSERT_OK(w.AddEvent(x));
    ASSERT_OK(w.Close());
  }
  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  // Header, record 1, then record 2's big-endian length: its top bit is the flag.
  const size_t second = 17 + 8 + 32 + 32 + 4 + wires[0].size();
  bytes[second] = static_cast<char>(bytes[second] | 0x80);
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << bytes;
  }
  auto r = client::VerifyExport(path, std::nullopt);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(r.status().message()),
              ::testing::HasSubstr("position 2: record header is damaged"));
}

TEST(JsonTest, EventsParseFromEitherNameStyleAndRejectUnknownFields) {
  auto e = client::EventFromJson(R"({"eventId":"e-1","type":"GridDefined","org_path":"350583/101",)"
                                 R"("gridDefined":{"orgPath":"350583/101/203/g05","name":"g05"}})");
  ASSERT_OK(e);
  EXPECT_EQ(e->grid_defined().org_path(), "350583/101/203/g05");
  EXPECT_EQ(client::EventFromJson(R"({"eventId": )").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(client::EventFromJson(R"({"nope": 1})").status().code(), absl::StatusCode::kInvalidArgument);
}

// Regression: a map (a grid's open findings) printed in the order of its
// hash table, which protobuf seeds per map and per run: two gridctl calls
// printed the same row two ways, and a restored backup's projection
// compared unequal to the original's (ops_e2e, under clang's ASan).
TEST(JsonTest, AMapPrintsInKeyOrderEveryTime) {
  grid::v1::GridSanitationRow row;
  std::vector<std::string> keys;
  keys.reserve(40);
  for (int i = 0; i < 40; ++i) keys.push_back(absl::StrCat("f-", 1000 + i * 37 % 101));
  std::shuffle(keys.begin(), keys.end(), std::mt19937(7));
  for (const auto& k : keys) (*row.mutable_open_findings())[k].set_seconds(1790000000);
  std::sort(keys.begin(), keys.end());
  std::string sorted;
  for (const auto& k : keys)
    absl::StrAppend(&sorted, sorted.empty() ? "" : ",", "\"", k, "\":\"2026-09-21T14:13:20Z\"");
  for (int i = 0; i < 20; ++i) {
    // A fresh map each time, as each gridctl call parses its own.
    grid::v1::GridSanitationRow copy;
    ASSERT_TRUE(copy.ParseFromString(row.SerializeAsString()));
    EXPECT_EQ(client::MessageToJson(copy, /*every_field=*/false),
              absl::StrCat("{\"open_findings\":{", sorted, "}}"));
  }
}

}  // namespace
}  // namespace grid

namespace grid {
namespace {

// The auditor's guarantee: any single changed byte in an export (events,
// chain fields, lengths, signed checkpoints, header) fails verification with
// DATA_LOSS naming the first bad position; 10,000 random changes, all caught.
class TamperTest : public grid::testing::ServerFixture {
 protected:
  TamperTest() { log_mechanics_only_ = true; }
  void SetUp() override {
    server::ServerOptions o;
    o.checkpoints.every_events = 7;
    StartServer(o);
  }
};

TEST_F(TamperTest, EveryRandomSingleByteChangeIsDetectedAtItsPosition) {
  for (int i = 0; i < 40; ++i) {
    ASSERT_OK(
        client_->Append(AppendReq("org/" + std::to_string(i % 3), {GridEvent("e" + std::to_string(i))})));
  }
  ASSERT_OK_AND_ASSIGN(auto status, client_->GetStatus());
  ASSERT_OK_AND_ASSIGN(auto cps, client_->ListCheckpoints(1));
  ASSERT_GE(cps.size(), 5u);
  std::map<uint64_t, grid::v1::SignedCheckpoint> by_pos;
  for (const auto& cp : cps) by_pos[cp.position()] = cp;

  // Write the export, remembering which position each byte belongs to.
  const std::string path = dir_.path() + "/log.export";
  struct Start {
    size_t offset;
    uint64_t position;
    bool checkpoint;
  };
  std::vector<Start> record_starts;
  {
    client::ExportWriter w(std::fopen(path.c_str(), "wb"), 1, storage::kGenesisChain);
    size_t offset = 17 + 8 + 32 + 32;
    grid::v1::ReadRequest req;
    req.mutable_all();
    uint64_t pos = 0;
    ASSERT_OK(client_->ReadRaw(req, [&](const grid::v1::RawReadResponse& r) {
      for (const auto& wire : r.events()) {
        ++pos;
        record_starts.push_back({offset, pos, false});
        EXPECT_OK(w.AddEvent(wire));
        offset += 4 + wire.size();
        if (auto it = by_pos.find(pos); it != by_pos.end()) {
          record_starts.push_back({offset, pos, true});
          EXPECT_OK(w.AddCheckpoint(it->second));
          offset += 4 + it->second.ByteSizeLong();
        }
      }
      return true;
    }));
    ASSERT_OK(w.Close());
  }
  const std::string& key = status.signing_public_key();
  ASSERT_OK_AND_ASSIGN(auto report, client::VerifyExport(path, key));
  EXPECT_EQ(report.events, 40u);
  EXPECT_EQ(report.checkpoints, cps.size());
  EXPECT_EQ(report.signed_through, cps.back().position());

  std::string original;
  {
    std::ifstream in(path, std::ios::binary);
    original.assign(std::istreambuf_iterator<char>(in), {});
  }
  std::mt19937 rng(1);
  const std::string tampered = dir_.path() + "/tampered.export";
  int detected = 0, named_right = 0;
  constexpr int kTrials = 10000;
  for (int trial = 0; trial < kTrials; ++trial) {
    std::string bytes = original;
    const size_t at = rng() % bytes.size();
    bytes[at] = static_cast<char>(bytes[at] ^ (1 + rng() % 255));
    {
      std::ofstream out(tampered, std::ios::binary | std::ios::trunc);
      out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    }
    auto r = client::VerifyExport(tampered, key);
    if (r.ok()) {
      ADD_FAILURE() << "a change at byte " << at << " of " << bytes.size()
                    << " went undetected: " << int(static_cast<unsigned char>(original[at])) << " -> "
                    << int(static_cast<unsigned char>(bytes[at]));
      continue;
    }
    ++detected;
    // The record holding the byte (the header is named as such). A
    // damaged checkpoint after event P may be named P, or P+1 when its
    // framing is what broke (everything through P verified).
    Start holder{0, 1, false};
    for (const auto& st : record_starts) {
      if (st.offset <= at) holder = st;
    }
    auto names = [&](uint64_t p) {
      return r.status().message().find("position " + std::to_string(p) + ":") != std::string::npos;
    };
    const bool in_header = at < 17 + 8 + 32 + 32;
    if (r.status().code() == absl::StatusCode::kDataLoss &&
        (in_header ? r.status().message().find("export header") != std::string::npos
                   : names(holder.position) || (holder.checkpoint && names(holder.position + 1)))) {
      ++named_right;
    } else if (named_right + 10 > trial) {
      ADD_FAILURE() << "byte " << at << " in position " << holder.position << ": " << r.status();
    }
  }
  EXPECT_EQ(detected, kTrials);
  EXPECT_EQ(named_right, kTrials);
  std::cout << "tamper test: " << detected << "/" << kTrials << " single-byte changes detected, "
            << named_right << " at the position of the changed record" << std::endl;
}

}  // namespace
}  // namespace grid
