// What building live subscribers' messages costs per event and subscriber,
// when each message copies its events' bytes and when it references them
// (server/log/frame_builder.h): --subscribers subscribers each served the
// same records, --per_message events to a message, as live subscribers read
// the tail; every subscriber's message is built, then all of them are
// released together, as gRPC releases them once written. One JSON object
// per event size and mode: nanoseconds per event per subscriber. The
// crossover sets FrameBuilder::kReferenceFrom. One thread: the contention
// of subscribers' threads on a record's count is not in it.
//
// usage: grid_frame_bench [--subscribers 64] [--per_message 8] [--rounds 5]
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/strings/numbers.h"
#include "bench/bench_util.h"
#include "server/log/frame_builder.h"
#include "storage/event_log.h"

namespace {

using grid::bench::Flag;
using grid::server::FrameBuilder;
using grid::storage::RecordPtr;

// Nanoseconds per event per subscriber to serve `records` to `subscribers`
// in messages of `per_message`, referencing events of `reference_from`
// bytes or more.
double Serve(const std::vector<RecordPtr>& records, int subscribers, size_t per_message,
             size_t reference_from) {
  std::vector<FrameBuilder> builders;
  builders.reserve(subscribers);
  for (int s = 0; s < subscribers; ++s) builders.emplace_back(reference_from);
  std::vector<grpc::ByteBuffer> sent;
  sent.reserve(subscribers);
  const auto start = std::chrono::steady_clock::now();
  for (size_t first = 0; first < records.size(); first += per_message) {
    const size_t end = std::min(records.size(), first + per_message);
    for (auto& b : builders) {
      for (size_t i = first; i < end; ++i) b.AddEvent(records[i]->wire, records[i]);
      b.AddUint64(2, records[end - 1]->position);
      sent.push_back(b.Take());
    }
    sent.clear();  // written: gRPC lets go of them
  }
  const auto ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start).count();
  return ns / static_cast<double>(records.size()) / subscribers;
}

}  // namespace

int main(int argc, char** argv) {
  int subscribers = 64, rounds = 5;
  size_t per_message = 8;
  if (!absl::SimpleAtoi(Flag(argc, argv, "subscribers", "64"), &subscribers) ||
      !absl::SimpleAtoi(Flag(argc, argv, "per_message", "8"), &per_message) ||
      !absl::SimpleAtoi(Flag(argc, argv, "rounds", "5"), &rounds) || subscribers <= 0 || per_message == 0 ||
      rounds <= 0) {
    std::cerr << "usage: grid_frame_bench [--subscribers 64] [--per_message 8] [--rounds 5]\n";
    return 2;
  }
  // Slices and byte buffers go through gRPC's codegen interface.
  grpc::internal::GrpcLibraryInitializer init;
  init.summon();
  for (size_t size : {128, 324, 512, 1024, 2048, 8192, 32768}) {
    // About 16 MiB of records, at least 512: more than the caches hold.
    const size_t n = std::max<size_t>(512, (16u << 20) / size);
    std::vector<RecordPtr> records;
    records.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      auto r = std::make_shared<grid::storage::LogRecord>();
      r->position = i + 1;
      r->wire.assign(size, static_cast<char>('a' + i % 26));
      records.push_back(std::move(r));
    }
    for (const bool reference : {false, true}) {
      std::vector<double> ns;
      ns.reserve(rounds);
      for (int r = 0; r < rounds; ++r) {
        ns.push_back(
            Serve(records, subscribers, per_message, reference ? 0 : std::numeric_limits<size_t>::max()));
      }
      std::printf(
          "{\"workload\":\"frames\",\"event_bytes\":%zu,\"mode\":\"%s\",\"subscribers\":%d,"
          "\"per_message\":%zu,\"ns_per_event_per_subscriber_p50\":%.1f,\"min\":%.1f}\n",
          size, reference ? "reference" : "copy", subscribers, per_message, grid::bench::Percentile(ns, 0.5),
          grid::bench::Percentile(ns, 0));
      std::fflush(stdout);
    }
  }
  return 0;
}
