// The client's verifier and export format against a real server.
#include "client/json.h"

#include "tests/testing/server_fixture.h"
#include "tests/testing/test_events.h"

namespace grid {
namespace {

using grid::testing::AppendReq;
using grid::testing::GridEvent;

class VerifyTest : public grid::testing::ServerFixture {
 protected:
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
    ASSERT_OK(client_->Append(AppendReq("org/" + std::to_string(i % 4),
                                        {GridEvent("e" + std::to_string(i))})));
  }
  const auto wires = RawAll();
  ASSERT_EQ(wires.size(), 20u);
  client::ChainVerifier ok;
  for (const auto& w : wires) ASSERT_OK(ok.Add(w));
  ASSERT_OK_AND_ASSIGN(auto status, client_->GetStatus());
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(ok.chain().data()), 32),
            status.chain_head());

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
    for (const auto& x : wires) ASSERT_OK(w.Add(x));
    ASSERT_OK(w.Close());
  }
  ASSERT_OK_AND_ASSIGN(auto reader, client::ExportReader::Open(path));
  client::ChainVerifier v(reader->first(), reader->prev_chain());
  std::string wire;
  int n = 0;
  for (;;) {
    ASSERT_OK_AND_ASSIGN(bool more, reader->Next(&wire));
    if (!more) break;
    ASSERT_OK(v.Add(wire));
    ++n;
  }
  EXPECT_EQ(n, 5);
  std::filesystem::resize_file(path, std::filesystem::file_size(path) - 3);
  ASSERT_OK_AND_ASSIGN(auto cut, client::ExportReader::Open(path));
  absl::StatusOr<bool> more = true;
  while (more.ok() && *more) more = cut->Next(&wire);
  EXPECT_EQ(more.status().code(), absl::StatusCode::kDataLoss);
}

TEST(JsonTest, EventsParseFromEitherNameStyleAndRejectUnknownFields) {
  auto e = client::EventFromJson(
      R"({"eventId":"e-1","type":"GridDefined","org_path":"350583/101",)"
      R"("gridDefined":{"orgPath":"350583/101/203/g05","name":"g05"}})");
  ASSERT_OK(e);
  EXPECT_EQ(e->grid_defined().org_path(), "350583/101/203/g05");
  EXPECT_EQ(client::EventFromJson(R"({"eventId": )").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(client::EventFromJson(R"({"nope": 1})").status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace grid
