// The Sequencer is the log's single writer. Appends from every RPC thread
// queue here; one thread drains whatever is waiting and commits it as one
// group (one WriteBatch and one fsync: group commit), then reports each
// batch's outcome. Throughput comes from the group size growing with the
// load while each append still waits for exactly one fsync; nothing is
// reported, published or visible to readers before its fsync.
//
// Pipelined (Options::pipeline), a second thread syncs what the first
// wrote (one fsync for every group written since its last) and reports
// it: group N+1 is checked and written while group N's fsync runs
// (EventLog::CommitUnsynced), as long as the last fsync took no longer than
// writing a group (else it waits for the fsync, and the appends that come
// meanwhile share the next one); while a written group waits for the
// syncer the next one keeps growing.
//
// Lifecycle: construct, Start(), Submit() from anywhere, Stop() (or the
// destructor) commits, syncs and reports what is queued and joins the
// threads.
// Concurrency: a Sequencer is safe for concurrent use. `on_commit` and every
// `done` callback run on the sequencer thread (pipelined: on the syncing
// thread, an applied group's on the sequencer thread, never at the same
// time) and must not block.
#ifndef GRID_SERVER_LOG_SEQUENCER_H_
#define GRID_SERVER_LOG_SEQUENCER_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "storage/event_log.h"
#include "storage/sync.h"

namespace grid::server {

class Sequencer {
 public:
  struct Options {
    // Most batches and bytes (serialized client events) in one group.
    size_t max_group_batches = 4096;
    size_t max_group_bytes = 32 << 20;
    // Called on the sequencer thread after every commit group (pipelined:
    // after its write, before its fsync, while the syncer may be reporting
    // others) and after each `idle_tick` without appends (e.g. to sign
    // checkpoints of the synced head).
    std::function<void()> after_commit_or_idle;
    absl::Duration idle_tick = absl::Seconds(1);
    // Admission rules passed to every Commit (the domain rules); may be
    // null. Not owned; used on the sequencer thread only.
    storage::BatchAdmission* admission = nullptr;
    // Called after each commit group, where `done` callbacks run, with the
    // time from its start to the end of its fsync (pipelined: the wait for
    // the syncer too) and the group's size, for metrics. May be empty.
    std::function<void(absl::Duration commit, size_t batches, size_t events)> observe_commit;
    // Commits each group elsewhere first (cluster mode: the shard's head in
    // etcd); may be null. Not owned; used on the sequencer thread only.
    storage::GroupReplicator* replicator = nullptr;
    // Write group N+1 while group N's fsync runs (above), on two threads.
    // false: each group is written, synced and reported on the sequencer
    // thread before the next one is taken. Off by default: on the machine
    // it was measured on (2 vCPUs, a 0.1 ms fsync) it bought nothing beyond
    // the noise, and callers that wait for their last append split into
    // two cohorts of half-size groups (bench/README.md, "pipelined writer").
    bool pipeline = false;
  };
  using Done = absl::AnyInvocable<void(storage::AppendOutcome) &&>;
  using OnCommit = std::function<void(const std::vector<storage::RecordPtr>&)>;

  // `log` must outlive the Sequencer. `on_commit` sees every committed group's
  // records in position order, once they are durable, before the batches'
  // `done` callbacks run.
  Sequencer(storage::EventLog* log, OnCommit on_commit, Options options);
  Sequencer(storage::EventLog* log, OnCommit on_commit) : Sequencer(log, std::move(on_commit), Options()) {}
  ~Sequencer();

  // Starts the writer thread. Batches submitted before Start() wait for it.
  void Start();

  // Queues `batch`; `done` runs exactly once with its outcome. After Stop()
  // it runs at once with UNAVAILABLE.
  void Submit(storage::AppendBatch batch, Done done);

  // Queues a group another node committed, for EventLog::Apply() on the
  // sequencer thread, before the next commit group; `on_commit` sees its
  // records and the admission forgets their streams' states. `done` runs
  // exactly once with Apply()'s status (UNAVAILABLE after Stop()).
  using ApplyDone = absl::AnyInvocable<void(absl::Status) &&>;
  void SubmitApply(storage::Position first_position, std::vector<std::string> wires, ApplyDone done);

  // Commits everything queued, then stops the threads. Idempotent.
  void Stop();

  struct Stats {
    uint64_t groups = 0;    // commit groups written or attempted
    uint64_t batches = 0;   // batches in them
    uint64_t queued = 0;    // batches waiting for the next group now
    uint64_t unsynced = 0;  // pipelined: groups written (or answered) and waiting for their fsync now
  };
  Stats GetStats() const;

 private:
  struct Pending {
    storage::AppendBatch batch;
    Done done;
    size_t bytes;
  };
  struct PendingApply {
    storage::Position first_position;
    std::vector<std::string> wires;
    ApplyDone done;
  };
  // A group written by CommitUnsynced(), for the syncer to sync and report.
  struct Written {
    std::vector<Pending> group;
    storage::CommitResult result;
    absl::Time start;
    size_t events = 0;
  };
  void Run();        // the sequencer thread: checks and writes groups
  void RunSyncer();  // the syncing thread: syncs and reports them
  void RunApplies(std::deque<PendingApply> applies);
  // Publishes a group and reports its outcomes, all failed with `synced`
  // unless it is OK.
  void Report(Written& w, const absl::Status& synced);

  storage::EventLog* const log_;
  const OnCommit on_commit_;
  const Options options_;

  mutable grid::Mutex mu_;
  // queue_ or applies_ gained an entry, stopping_ was set, or the syncer
  // took or reported written groups
  CondVar work_;
  CondVar wrote_;  // written_ gained a group, or writer_done_ was set
  std::deque<Pending> queue_ ABSL_GUARDED_BY(mu_);
  std::deque<PendingApply> applies_ ABSL_GUARDED_BY(mu_);
  // Written and not yet taken by the syncer: one group at most (the
  // sequencer takes no group while one waits).
  std::deque<Written> written_ ABSL_GUARDED_BY(mu_);
  // Groups the syncer syncs or reports now (0: it waits).
  size_t syncing_groups_ ABSL_GUARDED_BY(mu_) = 0;
  // How long the last group's checks and write took, and the last fsync.
  absl::Duration last_write_ ABSL_GUARDED_BY(mu_);
  absl::Duration last_sync_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool writer_done_ ABSL_GUARDED_BY(mu_) = false;  // Run() returned: no more written groups
  Stats stats_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
  std::thread syncer_;
};

}  // namespace grid::server

#endif  // GRID_SERVER_LOG_SEQUENCER_H_
