// FrameBuilder: Read and Subscribe response messages, built by hand from
// stored wire records: field 1 (events) as length-delimited bytes, then the
// scalar fields, the same encoding protobuf would produce for the typed
// message. No event is parsed or serialized again to be sent.
//
// An event of kReferenceFrom bytes or more is referenced, not copied: the
// message is a gRPC byte buffer whose slice points into the record (or a
// Subscribe view's shared redacted bytes) and keeps it alive until gRPC has
// written it. Live subscribers read the same records from the tail, so a
// record is held once in memory however many subscribers' messages carry
// it. Smaller events are copied: a slice costs two allocations (gRPC's
// reference count, the holder of the owner) and the owner's count, which
// below ~1 KiB is as much as the copy or more (bench/frame_bench.cc,
// bench/README.md). The few bytes of each field's tag and length, and the
// scalar fields, are copied.
//
// Not thread-safe; Take() ends a message and starts the next.
#ifndef GRID_SERVER_LOG_FRAME_BUILDER_H_
#define GRID_SERVER_LOG_FRAME_BUILDER_H_

#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/slice.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace grid::server {

class FrameBuilder {
 public:
  // Events of this many bytes or more are referenced (see above).
  static constexpr size_t kReferenceFrom = 1024;

  FrameBuilder() = default;
  // Another threshold: 0 references every event, SIZE_MAX none (benches).
  explicit FrameBuilder(size_t reference_from) : reference_from_(reference_from) {}

  // Adds an event, copied.
  void AddEvent(const std::string& wire) {
    PutHeader(wire);
    pending_.append(wire);
    ++events_;
  }
  // Adds an event whose bytes `wire` stay valid while `owner` is held:
  // referenced if large enough, else copied (and `owner` not touched: no
  // count of its shared by every subscriber moves for a copy).
  template <typename T>
  void AddEvent(const std::string& wire, const std::shared_ptr<T>& owner) {
    if (wire.size() < reference_from_ || owner == nullptr) {
      AddEvent(wire);
      return;
    }
    PutHeader(wire);
    FlushPending();
    auto* held = new std::shared_ptr<const void>(owner);
    slices_.emplace_back(
        const_cast<char*>(wire.data()), wire.size(),  // gRPC only reads what it sends
        [](void* p) { delete static_cast<std::shared_ptr<const void>*>(p); }, held);
    bytes_ += wire.size();
    ++referenced_;
    ++events_;
  }
  void AddUint64(int field, uint64_t v) {
    if (v == 0) return;
    PutTag(field, 0);
    PutVarint(v);
  }
  void AddTrue(int field) { AddUint64(field, 1); }

  // The message's size and events so far.
  size_t bytes() const { return bytes_ + pending_.size(); }
  size_t events() const { return events_; }
  // Events referenced rather than copied so far (for tests).
  size_t referenced() const { return referenced_; }

  // The message; the builder starts over empty.
  grpc::ByteBuffer Take() {
    FlushPending();
    grpc::ByteBuffer out(slices_.data(), slices_.size());
    slices_.clear();
    bytes_ = 0;
    events_ = 0;
    referenced_ = 0;
    return out;
  }

 private:
  void PutHeader(const std::string& wire) {  // field 1, length-delimited
    PutTag(1, 2);
    PutVarint(wire.size());
  }
  void PutTag(int field, int wire_type) { PutVarint(static_cast<uint64_t>(field) << 3 | wire_type); }
  void PutVarint(uint64_t v) {
    while (v >= 0x80) {
      pending_.push_back(static_cast<char>(v | 0x80));
      v >>= 7;
    }
    pending_.push_back(static_cast<char>(v));
  }
  // The copied bytes since the last referenced event become a slice: a
  // tag and length are small enough to live inside the slice itself.
  void FlushPending() {
    if (pending_.empty()) return;
    if (pending_.size() <= GRPC_SLICE_INLINED_SIZE) {
      slices_.emplace_back(pending_.data(), pending_.size());
      bytes_ += pending_.size();
      pending_.clear();
      return;
    }
    auto* s = new std::string(std::move(pending_));
    pending_.clear();
    bytes_ += s->size();
    slices_.emplace_back(
        s->data(), s->size(), [](void* p) { delete static_cast<std::string*>(p); }, s);
  }

  size_t reference_from_ = kReferenceFrom;
  std::string pending_;  // copied bytes not yet in a slice
  std::vector<grpc::Slice> slices_;
  size_t bytes_ = 0;  // in slices_
  size_t events_ = 0;
  size_t referenced_ = 0;
};

}  // namespace grid::server

#endif  // GRID_SERVER_LOG_FRAME_BUILDER_H_
