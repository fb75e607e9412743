#include "server/log/checkpointer.h"

#include "grid/v1/log.pb.h"
#include "storage/proto_time.h"

namespace grid::server {

Checkpointer::Checkpointer(storage::EventLog* log, const storage::Signer* signer, Options options,
                           absl::Time now)
    : log_(log), signer_(signer), options_(options), last_time_(now) {}

bool Checkpointer::MaybeCheckpoint(absl::Time now) {
  const storage::Head head = log_->GetHead();
  if (head.position == last_position_ || head.position == 0 || now < retry_after_) return false;
  if (head.position - last_position_ < options_.every_events && now - last_time_ < options_.every) {
    return false;
  }
  const absl::Time t = ToMicros(now);
  grid::v1::SignedCheckpoint cp;
  cp.set_position(head.position);
  cp.set_chain(head.chain.data(), head.chain.size());
  *cp.mutable_time() = ToProtoTime(t);
  cp.set_signature(signer_->Sign(storage::CheckpointMessage(head.position, head.chain, t)));
  if (absl::Status s = log_->PutCheckpoint(head.position, cp.SerializeAsString()); !s.ok()) {
    // Not every commit again: after `every`.
    failures_.fetch_add(1);
    retry_after_ = now + options_.every;
    if (options_.on_failure) options_.on_failure(s);
    return false;
  }
  last_position_ = head.position;
  last_time_ = now;
  return true;
}

}  // namespace grid::server
