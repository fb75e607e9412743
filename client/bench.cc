#include "client/bench.h"

#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/program_options.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <latch>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "client/client.h"
#include "client/http.h"
#include "client/output.h"
#include "domain/simulator.h"
#include "grid/v1/log.grpc.pb.h"

namespace grid::client {
namespace {

namespace po = boost::program_options;
using grid::v1::AppendRequest;
using Clock = std::chrono::steady_clock;

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}
double SecondsSince(int64_t t0) { return static_cast<double>(NowNs() - t0) / 1e9; }

// Percentile of `v` (sorted in place on first use), in the unit stored.
double Percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  if (!std::is_sorted(v.begin(), v.end())) std::sort(v.begin(), v.end());
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())));
  return v[i];
}

// ---------------------------------------------------------------- output

// One result row: the workload, then its figures.
class Row : public Fields {
 public:
  explicit Row(const std::string& workload) { Text("workload", workload); }
  Row& Num(const std::string& key, double v) {
    Fields::Num(key, v);
    return *this;
  }
  Row& Text(const std::string& key, const std::string& v) {
    Fields::Text(key, v);
    return *this;
  }
  Row& Flag(const std::string& key, bool v) {
    Fields::Flag(key, v);
    return *this;
  }
  // p50/p99/p999 of latencies in microseconds.
  Row& Latency(const std::string& prefix, std::vector<double>& us) {
    return Num(prefix + "p50_us", std::round(Percentile(us, 0.5)))
        .Num(prefix + "p99_us", std::round(Percentile(us, 0.99)))
        .Num(prefix + "p999_us", std::round(Percentile(us, 0.999)));
  }
  void Print(bool json) const {
    Fields::Print(json);
    if (!json) std::cout << std::endl;
  }
};

// Prints "label: done/total" on stderr twice a second while alive, when
// stderr is a terminal and the label is not empty (an inner loop whose caller
// shows its own progress passes "").
class Ticker {
 public:
  Ticker(std::string label, const std::atomic<uint64_t>& done, uint64_t total)
      : label_(std::move(label)), done_(done), total_(total) {
    if (label_.empty() || isatty(STDERR_FILENO) == 0) return;
    thread_ = std::thread([this] {
      while (!stop_.load()) {
        std::cerr << "\r" << label_ << ": " << done_.load();
        if (total_ > 0) std::cerr << "/" << total_;
        std::cerr << "   " << std::flush;
        for (int i = 0; i < 5 && !stop_.load(); ++i)
          std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
      std::cerr << "\r" << std::string(label_.size() + 30, ' ') << "\r" << std::flush;
    });
  }
  ~Ticker() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }

 private:
  std::string label_;
  const std::atomic<uint64_t>& done_;
  uint64_t total_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// ---------------------------------------------------------------- server RSS

// The pid of the process listening on TCP `port` on this machine, or 0.
int FindListener(int port) {
  std::set<std::string> inodes;
  for (const char* table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    std::ifstream in(table);
    std::string line;
    std::getline(in, line);  // header
    while (std::getline(in, line)) {
      std::vector<std::string> f = absl::StrSplit(line, ' ', absl::SkipEmpty());
      if (f.size() < 10 || f[3] != "0A") continue;  // 0A = LISTEN
      const size_t colon = f[1].rfind(':');
      int p = 0;
      if (colon == std::string::npos || !absl::SimpleHexAtoi(f[1].substr(colon + 1), &p) || p != port)
        continue;
      inodes.insert(absl::StrCat("socket:[", f[9], "]"));
    }
  }
  if (inodes.empty()) return 0;
  std::error_code ec;
  for (const auto& proc : std::filesystem::directory_iterator("/proc", ec)) {
    int pid = 0;
    if (!absl::SimpleAtoi(proc.path().filename().string(), &pid)) continue;
    std::filesystem::directory_iterator fds(proc.path() / "fd", ec);
    if (ec) continue;
    for (const auto& fd : fds) {
      std::string target = std::filesystem::read_symlink(fd.path(), ec).string();
      if (!ec && inodes.contains(target)) return pid;
    }
  }
  return 0;
}

// Resident set size of `pid` in MiB, or -1.
double RssMiB(int pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("VmRSS:", 0) == 0) {
      int64_t kb = 0;
      std::vector<std::string> f = absl::StrSplit(line, ' ', absl::SkipEmpty());
      if (f.size() >= 2 && absl::SimpleAtoi(f[1], &kb)) return static_cast<double>(kb) / 1024.0;
    }
  }
  return -1;
}

// What gridd's shared RocksDB cache holds now (data, index and filter
// blocks, and the memtables charged to it: gridlog_storage_cache_usage_bytes),
// in MiB, read from its metrics endpoint on this machine's loopback, or -1.
// The cache fills up to storage_cache_bytes as the log grows and then stays
// there: RSS that follows it is not a subscriber's.
double StorageCacheMiB(int metrics_port) {
  const std::string body = LoopbackHttp(metrics_port, "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
  if (!absl::StartsWith(body, "HTTP/1.0 200 ") && !absl::StartsWith(body, "HTTP/1.1 200 ")) return -1;
  for (absl::string_view line : absl::StrSplit(body, '\n')) {
    double bytes = 0;
    if (absl::ConsumePrefix(&line, "gridlog_storage_cache_usage_bytes ") && absl::SimpleAtod(line, &bytes)) {
      return bytes / (1 << 20);
    }
  }
  return -1;
}

// ---------------------------------------------------------------- events

struct Config {
  std::string server;
  std::string run;  // prefix of every county and event id of this run
  int photos = 3;
  bool json = false;
  bool quick = false;
  int pid = 0;
  int metrics_port = 0;  // gridd's metrics endpoint on this machine (0: not read)
};

// One generated county: its org events (appended before timing) and the
// calls to time, in an order the domain rules accept.
struct Lane {
  std::vector<AppendRequest> setup;
  std::vector<AppendRequest> body;
  uint64_t events = 0;  // in body
  uint64_t bytes = 0;   // serialized body events
};

// Event ids are "<run>.<lane>.<call>.<k>" (setup: "<run>.<lane>.s.<k>"), so
// a subscriber can find when the call that carried an event was sent.
bool ParseBenchId(std::string_view id, std::string_view run, int* lane, size_t* call) {
  if (id.size() <= run.size() || id.substr(0, run.size()) != run || id[run.size()] != '.') return false;
  std::vector<absl::string_view> parts =
      absl::StrSplit(absl::string_view(id.data() + run.size() + 1, id.size() - run.size() - 1), '.');
  return parts.size() == 3 && absl::SimpleAtoi(parts[0], lane) && absl::SimpleAtoi(parts[1], call);
}

// What a lane's timed calls carry.
enum class Mix {
  // Every event its own call: the simulator's whole mix.
  kWhole,
  // Calls of `per_call` sanitation reports of one grid, an offline phone's
  // backlog; the API's batches are per stream, and no other stream of a
  // county gets 100 events at once. Other event types are left out.
  kBacklog,
  // kBacklog, and every household's appends as the simulator makes them
  // (a household registered with its members in one call, each change in
  // its own): what `fill` appends, so that a grown log holds the hundreds
  // of thousands of household streams a county network has.
  kFill,
  // kFill's household calls alone: with `after`, changes to households
  // that have a history in the log, each read cold by the admission.
  kHouseholds,
};

struct Shape {
  Mix mix = Mix::kWhole;
  int per_call = 1;  // sanitation reports per call, except in kWhole
  // The lane continues one that `fill` gave this many events: those are
  // generated again (the same county, byte for byte) and skipped.
  uint64_t after = 0;
  // The count the county's size is chosen by (0: the lane's events); a
  // lane generated again to continue a fill has the fill's.
  uint64_t shape_events = 0;
};

bool IsHousehold(const std::string& stream) { return stream.rfind("household/", 0) == 0; }

// One county: its org events, then `events` events in calls of `shape`'s
// mix, in an order the domain rules accept. The calls are generated as a
// fill makes them (or, in kWhole, one per event) and numbered in that
// order, so a lane generated again is the same lane with the same event
// ids: the first `shape.after` events (ending inside a call, its first
// events) are skipped, then the calls of the mix are kept until exactly
// `events` (the last one cut short).
Lane MakeLane(const Config& c, int lane, uint64_t events, const Shape& shape) {
  grid::domain::SimulatorOptions o;
  o.seed = std::hash<std::string>()(c.run) + static_cast<uint64_t>(lane);
  o.county = absl::StrCat(c.run, "-", lane);
  o.households_per_grid = (shape.shape_events != 0 ? shape.shape_events : events) < 2000 ? 2 : 12;
  o.photos_per_report = c.photos;
  // The mix the recorded figures (bench/README.md) were measured with:
  // incidents and ledgers (domain, part two) would change it between runs.
  o.incidents_and_ledgers = false;
  o.days = 20000;
  // A fixed start (the 20,000 days end in December 2024), not one taken from the
  // clock: a lane generated again later is the same lane, so `--after` can
  // continue a county that `fill` appended in another run of gridctl.
  o.start = absl::FromCivil(absl::CivilDay(1970, 3, 1), absl::UTCTimeZone());
  // A fill's calls carry households; so must a lane continuing one, to be
  // the same calls.
  const bool households = shape.mix == Mix::kFill || shape.mix == Mix::kHouseholds || shape.after > 0;
  Lane out;
  uint64_t generated = 0;  // events of every call generated so far
  size_t call = 0;         // calls generated so far: the event ids' number
  auto kept = [&](const AppendRequest& req) {
    switch (shape.mix) {
      case Mix::kBacklog:
        return !IsHousehold(req.stream());
      case Mix::kHouseholds:
        return IsHousehold(req.stream());
      default:
        return true;
    }
  };
  auto finish = [&](AppendRequest req) {
    const auto n = static_cast<uint64_t>(req.events_size());
    const uint64_t from = generated;
    generated += n;
    const size_t id = call++;
    for (int k = 0; k < req.events_size(); ++k) {
      req.mutable_events(k)->set_event_id(absl::StrCat(c.run, ".", lane, ".", id, ".", k));
    }
    if (generated <= shape.after || !kept(req) || out.events >= events) return;
    if (from < shape.after) req.mutable_events()->DeleteSubrange(0, static_cast<int>(shape.after - from));
    if (out.events + req.events_size() > events) {
      const int keep = static_cast<int>(events - out.events);
      req.mutable_events()->DeleteSubrange(keep, req.events_size() - keep);
    }
    for (const auto& e : req.events()) out.bytes += e.ByteSizeLong();
    out.events += req.events_size();
    out.body.push_back(std::move(req));
  };
  std::map<std::string, AppendRequest> pending;  // per stream, sanitation backlogs
  grid::domain::Simulate(o, [&](grid::domain::SimBatch&& b) {
    if (b.stream.rfind("org/", 0) == 0) {
      AppendRequest req;
      req.set_stream(b.stream);
      for (auto& e : b.events) {
        e.clear_stream();
        e.set_event_id(absl::StrCat(c.run, ".", lane, ".s.", out.setup.size(), "-", req.events_size()));
        *req.add_events() = std::move(e);
      }
      if (shape.after == 0) out.setup.push_back(std::move(req));  // a continued lane has them
      return true;
    }
    if (shape.mix != Mix::kWhole && households && IsHousehold(b.stream)) {
      AppendRequest req;
      req.set_stream(b.stream);
      for (auto& e : b.events) {
        e.clear_stream();
        *req.add_events() = std::move(e);
      }
      finish(std::move(req));
      return out.events < events;
    }
    for (auto& e : b.events) {
      e.clear_stream();
      if (shape.mix == Mix::kWhole) {
        AppendRequest req;
        req.set_stream(b.stream);
        *req.add_events() = std::move(e);
        finish(std::move(req));
      } else if (e.has_sanitation_report_submitted()) {
        // Findings open rectification streams this mode leaves out; left
        // in, they would stay open forever and grow every grid's row.
        e.mutable_sanitation_report_submitted()->clear_findings();
        AppendRequest& req = pending[b.stream];
        req.set_stream(b.stream);
        *req.add_events() = std::move(e);
        if (req.events_size() == shape.per_call) {
          finish(std::move(req));
          pending.erase(b.stream);
        }
      }
    }
    return out.events < events;
  });
  return out;
}

// `lanes` lanes of `each` events, generated on all cores.
std::vector<Lane> MakeLanes(const Config& c, int first, int lanes, uint64_t each, const Shape& shape) {
  std::vector<Lane> out(lanes);
  std::atomic<int> next{0};
  std::vector<std::thread> threads;
  for (unsigned t = 0; t < std::max(1u, std::thread::hardware_concurrency()); ++t) {
    threads.emplace_back([&] {
      for (int i = next++; i < lanes; i = next++) out[i] = MakeLane(c, first + i, each, shape);
    });
  }
  for (auto& t : threads) t.join();
  return out;
}

// ---------------------------------------------------------------- appends

struct AppendStats {
  uint64_t events = 0;
  uint64_t calls = 0;
  uint64_t errors = 0;
  uint64_t duplicates = 0;
  uint64_t head = 0;  // highest position acknowledged
  std::vector<double> latency_us;
  std::string first_error;
  double seconds = 0;

  void Record(const grpc::Status& s, const grid::v1::AppendResponse& r, int n, double us) {
    ++calls;
    if (!s.ok()) {
      if (errors++ == 0) first_error = absl::StrCat(s.error_code(), ": ", s.error_message());
      return;
    }
    latency_us.push_back(us);
    events += n;
    for (const auto& res : r.results()) duplicates += res.duplicate() ? 1 : 0;
    head = std::max<uint64_t>(head, r.head_position());
  }
  void Merge(AppendStats& o) {
    events += o.events;
    calls += o.calls;
    duplicates += o.duplicates;
    head = std::max(head, o.head);
    if (errors == 0 && o.errors > 0) first_error = o.first_error;
    errors += o.errors;
    latency_us.insert(latency_us.end(), o.latency_us.begin(), o.latency_us.end());
  }
};

grpc::Status AppendSync(grid::v1::Log::Stub& stub, const AppendRequest& req, grid::v1::AppendResponse* resp) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  return stub.Append(&ctx, req, resp);
}

// Appends every lane's setup; false (with the error on stderr) if one fails.
bool AppendSetup(grid::v1::Log::Stub& stub, const std::vector<Lane>& lanes) {
  for (const Lane& lane : lanes) {
    for (const AppendRequest& req : lane.setup) {
      grid::v1::AppendResponse resp;
      grpc::Status s = AppendSync(stub, req, &resp);
      if (!s.ok()) {
        std::cerr << "gridctl bench: setup append refused: " << s.error_message() << "\n";
        return false;
      }
    }
  }
  return true;
}

// One thread per lane, one call at a time each (blocking calls).
AppendStats DriveThreads(grid::v1::Log::Stub& stub, std::vector<Lane>& lanes, const std::string& label) {
  AppendStats total;
  std::vector<AppendStats> per(lanes.size());
  std::atomic<uint64_t> done{0};
  uint64_t want = 0;
  for (const Lane& l : lanes) want += l.events;
  std::latch start(static_cast<ptrdiff_t>(lanes.size()) + 1);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < lanes.size(); ++i) {
    threads.emplace_back([&, i] {
      start.arrive_and_wait();
      for (const AppendRequest& req : lanes[i].body) {
        grid::v1::AppendResponse resp;
        const int64_t t0 = NowNs();
        grpc::Status s = AppendSync(stub, req, &resp);
        per[i].Record(s, resp, req.events_size(), static_cast<double>(NowNs() - t0) / 1e3);
        done += req.events_size();
        if (!s.ok()) break;
      }
    });
  }
  Ticker ticker(label, done, want);
  const int64_t t0 = NowNs();
  start.arrive_and_wait();
  for (auto& t : threads) t.join();
  total.seconds = SecondsSince(t0);
  for (auto& p : per) total.Merge(p);
  return total;
}

// One thread keeping a call in flight for every lane (a lane's next call
// starts when its previous one is answered, so each county stays in order).
// With `rate` > 0, calls start at that many per second; `send_ns`, when
// given, gets the start time of every call (per lane, per call); `max_seconds`
// stops starting calls after that long.
AppendStats DriveAsync(grid::v1::Log::Stub& stub, std::vector<Lane>& lanes, double rate, double max_seconds,
                       std::vector<std::unique_ptr<std::atomic<int64_t>[]>>* send_ns,
                       const std::string& label) {
  struct Call {
    grpc::ClientContext ctx;
    grid::v1::AppendResponse resp;
    grpc::Status status;
    std::unique_ptr<grpc::ClientAsyncResponseReader<grid::v1::AppendResponse>> reader;
    size_t lane = 0;
    size_t index = 0;
    int64_t t0 = 0;
  };
  AppendStats stats;
  grpc::CompletionQueue cq;
  std::vector<size_t> next(lanes.size(), 0);
  std::deque<size_t> ready;
  uint64_t want = 0;
  for (size_t i = 0; i < lanes.size(); ++i) {
    want += lanes[i].events;
    if (!lanes[i].body.empty()) ready.push_back(i);
  }
  std::atomic<uint64_t> done{0};
  Ticker ticker(label, done, rate > 0 ? 0 : want);
  const int64_t t0 = NowNs();
  const int64_t interval = rate > 0 ? static_cast<int64_t>(1e9 / rate) : 0;
  const int64_t stop_at = max_seconds > 0 ? t0 + static_cast<int64_t>(max_seconds * 1e9) : INT64_MAX;
  int64_t due = t0;
  size_t in_flight = 0;
  while (in_flight > 0 || !ready.empty()) {
    int64_t now = NowNs();
    if (now >= stop_at) ready.clear();
    while (!ready.empty() && (interval == 0 || now >= due)) {
      const size_t lane = ready.front();
      ready.pop_front();
      auto* call = new Call;
      call->lane = lane;
      call->index = next[lane]++;
      call->ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
      call->t0 = NowNs();
      if (send_ns != nullptr) (*send_ns)[lane][call->index].store(call->t0, std::memory_order_release);
      call->reader = stub.AsyncAppend(&call->ctx, lanes[lane].body[call->index], &cq);
      call->reader->Finish(&call->resp, &call->status, call);
      ++in_flight;
      due += interval;
      now = NowNs();
    }
    void* tag = nullptr;
    bool ok = false;
    const auto deadline =
        (interval > 0 && !ready.empty())
            ? std::chrono::system_clock::now() + std::chrono::nanoseconds(std::max<int64_t>(0, due - now))
            : std::chrono::system_clock::now() + std::chrono::seconds(1);
    if (cq.AsyncNext(&tag, &ok, deadline) != grpc::CompletionQueue::GOT_EVENT) continue;
    std::unique_ptr<Call> call(static_cast<Call*>(tag));
    --in_flight;
    const AppendRequest& req = lanes[call->lane].body[call->index];
    stats.Record(call->status, call->resp, req.events_size(), static_cast<double>(NowNs() - call->t0) / 1e3);
    done = stats.events;
    if (call->status.ok() && next[call->lane] < lanes[call->lane].body.size() && NowNs() < stop_at) {
      ready.push_back(call->lane);
    }
  }
  stats.seconds = SecondsSince(t0);
  cq.Shutdown();
  void* tag;
  bool ok;
  while (cq.Next(&tag, &ok)) {
  }
  return stats;
}

Row AppendRow(const std::string& mode, AppendStats& s, const std::vector<Lane>& lanes, int clients,
              double per_call, uint64_t log_events) {
  uint64_t bytes = 0, events = 0;
  for (const Lane& l : lanes) bytes += l.bytes, events += l.events;
  Row row("append");
  row.Text("mode", mode)
      .Num("clients", clients)
      .Num("events_per_call", per_call)
      .Num("log_events", static_cast<double>(log_events))
      .Num("events", static_cast<double>(s.events))
      .Num("seconds", std::round(s.seconds * 100) / 100)
      .Num("events_per_s", std::round(static_cast<double>(s.events) / s.seconds))
      .Num("calls_per_s", std::round(static_cast<double>(s.calls - s.errors) / s.seconds))
      .Num("event_bytes", events ? std::round(static_cast<double>(bytes) / static_cast<double>(events)) : 0)
      .Latency("call_", s.latency_us)
      .Num("errors", static_cast<double>(s.errors))
      .Num("duplicates", static_cast<double>(s.duplicates));
  if (!s.first_error.empty()) row.Text("first_error", s.first_error);
  return row;
}

// ---------------------------------------------------------------- workloads

struct Knobs {
  std::vector<std::string> modes;
  int clients = 64;
  int batch_clients = 8;
  int batch = 100;
  int inflight = 256;
  uint64_t events = 0;  // 0 = per-workload default
  int subscribers = 64;
  double rate = 5000;
  double seconds = 0;  // 0 = per-workload default
  int subscriptions = 1000;
  int queries = 2000;
  // fanout: the subscribers' node, when not --server (a cluster's replica:
  // the delivery latency then includes replication).
  std::string subscribe_server;
  // append: every lane already has this many events, appended by `fill`
  // with the same --run, --lane and --batch: the timed calls continue
  // those counties (their grids' long streams) instead of starting new ones.
  uint64_t after = 0;
};

struct Bench {
  Config c;
  Knobs k;
  std::unique_ptr<Client> client;
  std::unique_ptr<grid::v1::Log::Stub> stub;
  int next_lane = 0;

  uint64_t Events(uint64_t full, uint64_t quick) const {
    return k.events ? k.events : c.quick ? quick : full;
  }
  double Seconds(double full, double quick) const {
    return k.seconds > 0 ? k.seconds : c.quick ? quick : full;
  }

  // After a timed run: how far the projections were behind `head`, and how
  // long they then took to fold through it (they yield to appends on a
  // busy machine; reads with min_position wait for them).
  void ProjectionLag(Row& row, uint64_t head) {
    auto list = client->ListProjections();
    if (!list.ok()) return;
    uint64_t lag = 0;
    for (const auto& p : list->projections())
      lag = std::max(lag, head > p.position() ? head - p.position() : 0);
    const int64_t t0 = NowNs();
    while (lag > 0 && SecondsSince(t0) < 600) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      auto now = client->ListProjections();
      if (!now.ok()) return;
      bool behind = false;
      for (const auto& p : now->projections()) behind = behind || p.position() < head;
      if (!behind) break;
    }
    row.Num("projection_lag_events", static_cast<double>(lag))
        .Num("projection_catch_up_s", std::round(SecondsSince(t0) * 10) / 10);
  }

  // `lanes` new lanes sharing `events`; with --after, the next `lanes`
  // lanes of an earlier fill, `events` more between them.
  std::vector<Lane> Lanes(int lanes, uint64_t events, Mix mix, int per_call = 1) {
    return LanesAfter(lanes, events, mix, per_call, k.after);
  }
  // Lanes() continuing lanes that have `after` events already.
  std::vector<Lane> LanesAfter(int lanes, uint64_t events, Mix mix, int per_call, uint64_t after) {
    const uint64_t each = std::max<uint64_t>(1, (events + lanes - 1) / lanes);
    auto out = MakeLanes(c, next_lane, lanes, each,
                         Shape{.mix = mix, .per_call = per_call, .after = after, .shape_events = after});
    next_lane += lanes;
    return out;
  }

  // The log's head now: where a workload starts, for curves by log size.
  uint64_t LogEvents() {
    auto status = client->GetStatus();
    return status.ok() ? status->head_position() : 0;
  }

  // An append row's last fields, then the row.
  void Finish(Row& row, const AppendStats& s, size_t lanes) {
    if (k.after > 0) {
      row.Num("lanes_continued", static_cast<double>(lanes))
          .Num("after_events", static_cast<double>(k.after));
    }
    ProjectionLag(row, s.head);
    row.Print(c.json);
  }

  int Append() {
    std::vector<std::string> modes =
        k.modes.empty() ? std::vector<std::string>{"unary", "batch", "households", "pipelined"} : k.modes;
    if (k.after > 0 && (modes.size() != 1 || (modes[0] != "batch" && modes[0] != "households"))) {
      std::cerr << "gridctl bench: --after continues a fill's lanes, which are batch lanes with households: "
                   "use it with --mode batch or --mode households alone\n";
      return 2;
    }
    for (const std::string& mode : modes) {
      std::vector<Lane> lanes;
      AppendStats s;
      const uint64_t log_events = LogEvents();
      if (mode == "unary") {
        lanes = Lanes(k.clients, Events(200000, 4000), Mix::kWhole);
        if (!AppendSetup(*stub, lanes)) return 1;
        s = DriveThreads(*stub, lanes, "append unary");
        Row row = AppendRow(mode, s, lanes, k.clients, 1, log_events);
        Finish(row, s, lanes.size());
      } else if (mode == "batch") {
        lanes = Lanes(k.batch_clients, Events(1000000, 40000), Mix::kBacklog, k.batch);
        if (!AppendSetup(*stub, lanes)) return 1;
        s = DriveThreads(*stub, lanes, "append batch");
        Row row = AppendRow(mode, s, lanes, k.batch_clients, k.batch, log_events);
        Finish(row, s, lanes.size());
      } else if (mode == "households") {
        // One household's append per call (mostly a change; a registration
        // with its members), --batch_clients callers, to households with a
        // history: after a fill (--after) its counties' households, read
        // cold by the admission; otherwise each new county's first
        // warm_up events (2,000 with --quick) are appended first, untimed,
        // as a fill would.
        const uint64_t warm_up = c.quick ? 2000 : 4000;
        const uint64_t after = k.after > 0 ? k.after : warm_up;
        if (k.after == 0) {
          std::vector<Lane> warm = MakeLanes(c, next_lane, k.batch_clients, warm_up,
                                             Shape{.mix = Mix::kFill, .per_call = k.batch});
          if (!AppendSetup(*stub, warm)) return 1;
          AppendStats w = DriveThreads(*stub, warm, "");
          if (w.errors > 0) {
            std::cerr << "gridctl bench: households: warming up: " << w.first_error << "\n";
            return 1;
          }
        }
        const uint64_t timed_from = LogEvents();
        lanes = LanesAfter(k.batch_clients, Events(40000, 2000), Mix::kHouseholds, k.batch, after);
        s = DriveThreads(*stub, lanes, "append households");
        const double per_call =
            s.calls > 0 ? std::round(static_cast<double>(s.events) / static_cast<double>(s.calls) * 100) / 100
                        : 0;
        Row row = AppendRow(mode, s, lanes, k.batch_clients, per_call, timed_from);
        if (k.after == 0) row.Num("warm_up_events", static_cast<double>(timed_from - log_events));
        Finish(row, s, lanes.size());
      } else if (mode == "pipelined") {
        lanes = Lanes(k.inflight, Events(300000, 8000), Mix::kWhole);
        if (!AppendSetup(*stub, lanes)) return 1;
        s = DriveAsync(*stub, lanes, 0, 0, nullptr, "append pipelined");
        Row row = AppendRow(mode, s, lanes, k.inflight, 1, log_events);
        Finish(row, s, lanes.size());
      } else {
        std::cerr << "gridctl bench: --mode is unary, batch, households or pipelined\n";
        return 2;
      }
      if (s.errors > 0) return 1;
    }
    return 0;
  }

  // Appends --events in rounds of batch calls, unmeasured: fills a log for
  // replay and restart measurements without holding it all in memory.
  // The row names the lanes of the last round and their events, for
  // `append --lane L --after N` to continue them.
  int Fill() {
    if (k.after > 0) {
      std::cerr << "gridctl bench: fill starts new lanes; --after is for append\n";
      return 2;
    }
    const uint64_t want = Events(10000000, 200000);
    constexpr uint64_t kRound = 500000;
    std::atomic<uint64_t> done{0};
    Ticker ticker("fill", done, want);
    const int64_t t0 = NowNs();
    const int first_lane = next_lane;
    int last_round_lane = next_lane;
    uint64_t last_round_each = 0;
    uint64_t households = 0, grid_streams = 0;  // streams the fill started
    while (done < want) {
      last_round_lane = next_lane;
      // The remainder first, so that the last round (the one `--after`
      // continues) is a whole one.
      const uint64_t round = (want - done) % kRound != 0 ? (want - done) % kRound : kRound;
      std::vector<Lane> lanes = Lanes(k.batch_clients, round, Mix::kFill, k.batch);
      last_round_each = lanes.empty() ? 0 : lanes.front().events;
      for (const Lane& l : lanes) {
        if (l.events != last_round_each) {
          std::cerr << "gridctl bench: fill: lanes of one round differ in length\n";
          return 1;
        }
      }
      if (!AppendSetup(*stub, lanes)) return 1;
      for (const Lane& l : lanes) {
        std::set<std::string> grids;
        for (const AppendRequest& req : l.body) {
          if (!IsHousehold(req.stream())) {
            grids.insert(req.stream());
          } else if (req.events(0).has_household_created()) {
            ++households;
          }
        }
        grid_streams += grids.size();
      }
      AppendStats s = DriveThreads(*stub, lanes, "");
      if (s.errors > 0) {
        std::cerr << "gridctl bench: fill: " << s.first_error << "\n";
        return 1;
      }
      done += s.events;
    }
    auto status = client->GetStatus();
    Row("fill")
        .Text("run", c.run)
        .Num("events", static_cast<double>(done.load()))
        .Num("seconds", std::round(SecondsSince(t0) * 100) / 100)
        .Num("head_position", status.ok() ? static_cast<double>(status->head_position()) : 0)
        .Num("households", static_cast<double>(households))
        .Num("grid_streams", static_cast<double>(grid_streams))
        .Num("lanes", next_lane - first_lane)
        .Num("last_round_lane", last_round_lane)
        .Num("last_round_events_per_lane", static_cast<double>(last_round_each))
        .Print(c.json);
    return 0;
  }

  // Rate-limited appends while subscribers watch the whole log.
  int Fanout() {
    const double seconds = Seconds(20, 3);
    const int subscribers = c.quick && k.subscribers == 64 ? 8 : k.subscribers;
    const double rate = c.quick && k.rate == 5000 ? 1000 : k.rate;
    constexpr int kLanes = 64;
    const int base = next_lane;
    std::vector<Lane> lanes =
        Lanes(kLanes, static_cast<uint64_t>(rate * seconds * 1.2) + kLanes, Mix::kWhole);
    std::vector<std::unique_ptr<std::atomic<int64_t>[]>> send_ns;
    for (const Lane& l : lanes) {
      send_ns.emplace_back(new std::atomic<int64_t>[l.body.size()]);
      for (size_t i = 0; i < l.body.size(); ++i) send_ns.back()[i] = 0;
    }
    auto status = client->GetStatus();
    if (!status.ok()) return Fail(status.status());

    struct Sub {
      grpc::ClientContext ctx;
      std::atomic<uint64_t> checkpoint{0};
      uint64_t received = 0;
      uint64_t fell_behind = 0;
      std::vector<double> latency_us;
      absl::Status status;
    };
    std::vector<std::unique_ptr<Sub>> subs;
    std::vector<std::thread> threads;
    grid::v1::SubscribeRequest req;
    req.set_after_position(status->head_position());
    Client* subscribed = client.get();
    std::unique_ptr<Client> other;
    if (!k.subscribe_server.empty()) {
      other = Client::Connect(k.subscribe_server);
      subscribed = other.get();
      req.set_min_position(status->head_position());  // that node may still be applying it
    }
    for (int i = 0; i < subscribers; ++i) {
      subs.push_back(std::make_unique<Sub>());
      threads.emplace_back([&, sub = subs.back().get()] {
        sub->status = subscribed->SubscribeRaw(
            req,
            [&](const grid::v1::RawSubscribeResponse& r) {
              const int64_t now = NowNs();
              for (const std::string& wire : r.events()) {
                int lane = 0;
                size_t call = 0;
                if (!ParseBenchId(EventIdOf(wire), c.run, &lane, &call) || lane < base ||
                    lane - base >= kLanes || call >= lanes[lane - base].body.size()) {
                  continue;
                }
                const int64_t sent = send_ns[lane - base][call].load(std::memory_order_acquire);
                ++sub->received;
                if (sent > 0) sub->latency_us.push_back(static_cast<double>(now - sent) / 1e3);
              }
              sub->fell_behind += r.fell_behind() ? 1 : 0;
              sub->checkpoint.store(r.checkpoint());
              return true;
            },
            &sub->ctx);
      });
    }
    // The setup events tell when every subscriber is live.
    if (!AppendSetup(*stub, lanes)) return 1;
    auto after_setup = client->GetStatus();
    if (!after_setup.ok()) return Fail(after_setup.status());
    WaitCheckpoints(subs, after_setup->head_position(), 10);

    AppendStats s = DriveAsync(*stub, lanes, rate, seconds, &send_ns, "fanout appends");
    const bool all_in = WaitCheckpoints(subs, s.head, 30);
    for (auto& sub : subs) sub->ctx.TryCancel();
    for (auto& t : threads) t.join();

    std::vector<double> latency;
    uint64_t delivered = 0, complete = 0, fell_behind = 0;
    for (auto& sub : subs) {
      delivered += sub->received;
      complete += sub->received == s.events ? 1 : 0;
      fell_behind += sub->fell_behind;
      latency.insert(latency.end(), sub->latency_us.begin(), sub->latency_us.end());
    }
    Row row("fanout");
    if (!k.subscribe_server.empty()) row.Text("subscribed_at", k.subscribe_server);
    row.Num("subscribers", subscribers)
        .Num("target_rate", rate)
        .Num("appended", static_cast<double>(s.events))
        .Num("append_rate", std::round(static_cast<double>(s.events) / s.seconds))
        .Num("delivered", static_cast<double>(delivered))
        .Num("delivered_per_s", std::round(static_cast<double>(delivered) / s.seconds))
        .Flag("all_delivered", all_in && complete == subs.size())
        .Num("fell_behind", static_cast<double>(fell_behind))
        .Latency("delivery_", latency)
        .Num("errors", static_cast<double>(s.errors));
    row.Print(c.json);
    return s.errors == 0 ? 0 : 1;
  }

  template <typename Subs>
  static bool WaitCheckpoints(const Subs& subs, uint64_t position, double max_seconds) {
    const int64_t t0 = NowNs();
    while (SecondsSince(t0) < max_seconds) {
      bool all = true;
      for (const auto& s : subs) all = all && s->checkpoint.load() >= position;
      if (all) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }

  // The event id (field 1) of a serialized event, which the serializer
  // writes first; "" if it is not there.
  static std::string_view EventIdOf(std::string_view wire) {
    if (wire.size() < 2 || wire[0] != 0x0a) return {};
    size_t len = 0, i = 1;
    for (int shift = 0; i < wire.size() && shift < 35; shift += 7) {
      const auto b = static_cast<uint8_t>(wire[i++]);
      len |= static_cast<size_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) return len <= wire.size() - i ? wire.substr(i, len) : std::string_view();
    }
    return {};
  }

  int Replay() {
    auto status = client->GetStatus();
    if (!status.ok()) return Fail(status.status());
    uint64_t head = status->head_position();
    if (k.events > 0) head = std::min(head, k.events);
    if (head == 0) {
      std::cerr << "gridctl bench: replay: the log is empty (run the append workload first)\n";
      return 1;
    }
    // Two passes; the second, with warm caches, is reported (as db_bench's readseq).
    double seconds = 0;
    uint64_t n = 0, bytes = 0;
    for (int pass = 0; pass < 2; ++pass) {
      std::atomic<uint64_t> done{0};
      Ticker ticker(pass == 0 ? "replay (cold)" : "replay", done, head);
      grid::v1::ReadRequest req;
      req.mutable_all();
      req.set_from_position(1);
      req.set_max_count(head);
      req.set_batch_size(1000);  // the most events per message the server allows
      n = bytes = 0;
      const int64_t t0 = NowNs();
      absl::Status s = client->ReadRaw(req, [&](const grid::v1::RawReadResponse& r) {
        for (const std::string& e : r.events()) bytes += e.size();
        n += r.events_size();
        done = n;
        return true;
      });
      seconds = SecondsSince(t0);
      if (!s.ok()) return Fail(s);
    }
    Row("replay")
        .Num("events", static_cast<double>(n))
        .Num("seconds", std::round(seconds * 100) / 100)
        .Num("events_per_s", std::round(static_cast<double>(n) / seconds))
        .Num("mb_per_s", std::round(static_cast<double>(bytes) / seconds / 1e5) / 10)
        .Num("stored_event_bytes", std::round(static_cast<double>(bytes) / static_cast<double>(n)))
        .Print(c.json);
    return 0;
  }

  int Projection() {
    const std::string name = "population";
    grid::v1::GetProjectionRequest list;
    list.set_name(name);
    list.set_prefix("");
    list.set_max_rows(5000);
    auto rows = client->GetProjection(list);
    if (!rows.ok()) return Fail(rows.status());
    if (rows->rows().empty()) {
      std::cerr << "gridctl bench: projection: no " << name << " rows (run the append workload first)\n";
      return 1;
    }
    const uint64_t head = rows->position();
    std::mt19937_64 rng(std::hash<std::string>()(c.run));
    const int queries = c.quick && k.queries == 2000 ? 100 : k.queries;
    std::vector<double> latest, at;
    uint64_t empty_at = 0;
    std::atomic<uint64_t> done{0};
    Ticker ticker("projection", done, 2 * static_cast<uint64_t>(queries));
    for (int i = 0; i < queries; ++i) {
      grid::v1::GetProjectionRequest req;
      req.set_name(name);
      req.set_key(rows->rows(static_cast<int>(rng() % rows->rows_size())).key());
      for (int pass = 0; pass < 2; ++pass) {
        if (pass == 1) req.set_at_position(1 + rng() % head);
        const int64_t t0 = NowNs();
        auto r = client->GetProjection(req);
        (pass == 0 ? latest : at).push_back(static_cast<double>(NowNs() - t0) / 1e3);
        if (!r.ok()) return Fail(r.status());
        empty_at += pass == 1 && r->rows().empty() ? 1 : 0;
        ++done;
      }
    }
    Row("projection")
        .Text("projection", name)
        .Num("rows", rows->rows_size())
        .Num("log_position", static_cast<double>(head))
        .Num("queries", queries)
        .Latency("latest_", latest)
        .Latency("at_position_", at)
        .Num("at_position_before_row_existed", static_cast<double>(empty_at))
        .Print(c.json);
    return 0;
  }

  int Idle() {
    if (c.pid <= 0) return NoPid("idle");
    const int n = c.quick && k.subscriptions == 1000 ? 100 : k.subscriptions;
    struct Sub {
      grpc::ClientContext ctx;
      grid::v1::SubscribeResponse msg;
      grpc::Status status;
      std::unique_ptr<grpc::ClientAsyncReader<grid::v1::SubscribeResponse>> reader;
      int state = 0;  // 0 starting, 1 reading, 2 finishing
    };
    const double before = RssMiB(c.pid);
    grpc::CompletionQueue cq;
    std::vector<std::unique_ptr<Sub>> subs;
    grid::v1::SubscribeRequest req;
    req.mutable_from_now();
    for (int i = 0; i < n; ++i) {
      subs.push_back(std::make_unique<Sub>());
      subs.back()->reader = stub->AsyncSubscribe(&subs.back()->ctx, req, &cq, subs.back().get());
    }
    size_t pending = subs.size(), live = 0;
    auto step = [&](Sub* s, bool ok) {
      if (s->state == 0 && ok) {
        ++live;
        s->state = 1;
        s->reader->Read(&s->msg, s);
      } else if (s->state == 1 && ok) {
        s->reader->Read(&s->msg, s);
      } else if (s->state != 2) {
        s->state = 2;
        s->reader->Finish(&s->status, s);
      } else {
        --pending;
      }
    };
    std::atomic<uint64_t> opened{0};
    {
      Ticker ticker("idle subscriptions", opened, n);
      const int64_t t0 = NowNs();
      while (live < subs.size() && SecondsSince(t0) < 30) {
        void* tag;
        bool ok;
        if (cq.AsyncNext(&tag, &ok, std::chrono::system_clock::now() + std::chrono::milliseconds(100)) ==
            grpc::CompletionQueue::GOT_EVENT) {
          step(static_cast<Sub*>(tag), ok);
          opened = live;
        }
      }
    }
    // Let the server settle, then measure with every subscription open.
    std::this_thread::sleep_for(std::chrono::seconds(2));
    const double with = RssMiB(c.pid);
    const size_t open = live;
    for (auto& s : subs) s->ctx.TryCancel();
    void* tag;
    bool ok;
    while (pending > 0 && cq.Next(&tag, &ok)) step(static_cast<Sub*>(tag), ok);
    cq.Shutdown();
    while (cq.Next(&tag, &ok)) {
    }
    Row("idle")
        .Num("subscriptions", static_cast<double>(open))
        .Num("rss_before_mib", std::round(before))
        .Num("rss_with_mib", std::round(with))
        .Num("rss_added_mib", std::round(with - before))
        .Num("kib_per_subscription",
             open ? std::round((with - before) * 1024 / static_cast<double>(open)) : 0)
        .Print(c.json);
    return open == static_cast<size_t>(n) ? 0 : 1;
  }

  // Appends at --rate for --seconds while one subscriber reads at a tenth of
  // that, between two runs of the same load without it (new counties each
  // time), the controls: what the server's RSS does anyway as the log grows
  // and its bounded caches fill. A control before and one after bracket the
  // server's warming up, which on its own makes a later run grow less. The
  // server's RSS is sampled every second.
  int Slow() {
    if (c.pid <= 0) return NoPid("slow");
    const double seconds = Seconds(60, 4);
    const double rate = c.quick && k.rate == 5000 ? 1000 : k.rate;
    constexpr int kLanes = 64;
    const uint64_t events = static_cast<uint64_t>(rate * seconds * 1.2) + kLanes;
    // RSS once a second while `drive` runs, and with --metrics_port the RSS
    // less what gridd's RocksDB cache holds at the same moment (the cache
    // grows towards its bound as the log does, subscriber or not); a sample
    // whose cache could not be read (a slow scrape) is left out of that one.
    struct Samples {
      std::vector<double> rss, beyond_cache;
      size_t cache_misses = 0;
    };
    const auto sampled = [&](const std::function<AppendStats()>& drive, Samples* out) {
      std::atomic<bool> stop{false};
      std::thread sampler([&] {
        while (!stop) {
          out->rss.push_back(RssMiB(c.pid));
          if (c.metrics_port > 0) {
            const double cache = StorageCacheMiB(c.metrics_port);
            if (cache >= 0) {
              out->beyond_cache.push_back(out->rss.back() - cache);
            } else {
              ++out->cache_misses;
            }
          }
          for (int i = 0; i < 10 && !stop; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
      });
      AppendStats st = drive();
      stop = true;
      sampler.join();
      return st;
    };

    // A run of the load without a subscriber: its RSS samples, and whether
    // it ran without errors.
    const auto control = [&](const char* label, Samples* out) {
      std::vector<Lane> control_lanes = Lanes(kLanes, events, Mix::kWhole);
      if (!AppendSetup(*stub, control_lanes)) return false;
      return sampled([&] { return DriveAsync(*stub, control_lanes, rate, seconds, nullptr, label); }, out)
                 .errors == 0;
    };
    Samples before;
    if (!control("slow, control before: no subscriber", &before)) {
      std::cerr << "gridctl bench slow: the control run before the subscriber's failed\n";
      return 1;
    }

    std::vector<Lane> lanes = Lanes(kLanes, events, Mix::kWhole);
    if (!AppendSetup(*stub, lanes)) return 1;
    grpc::ClientContext ctx;
    uint64_t read = 0, fell_behind = 0;
    grid::v1::SubscribeRequest req;
    req.mutable_from_now();
    req.set_max_batch(50);
    std::thread reader([&] {
      // Ends CANCELLED when the run is over: that is the way out, not an error.
      (void)client->SubscribeRaw(
          req,
          [&](const grid::v1::RawSubscribeResponse& r) {
            read += r.events_size();
            fell_behind += r.fell_behind() ? 1 : 0;
            std::this_thread::sleep_for(
                std::chrono::microseconds(static_cast<int64_t>(1e6 * r.events_size() / (rate / 10))));
            return true;
          },
          &ctx);
    });
    Samples with;
    const AppendStats s =
        sampled([&] { return DriveAsync(*stub, lanes, rate, seconds, nullptr, "slow subscriber"); }, &with);
    ctx.TryCancel();
    reader.join();

    Samples after;
    const bool controls_ok = control("slow, control after: no subscriber", &after);

    // The largest sample of each half (the middle one in both).
    const auto halves = [](const std::vector<double>& v) -> std::pair<double, double> {
      if (v.empty()) return {0, 0};
      const size_t half = v.size() / 2;
      return {*std::max_element(v.begin(), v.begin() + half + 1),
              *std::max_element(v.begin() + half, v.end())};
    };
    const auto [first, second] = halves(with.rss);
    const auto [before_first, before_second] = halves(before.rss);
    const auto [after_first, after_second] = halves(after.rss);
    Row row("slow");
    if (with.cache_misses > 0) {
      std::cerr << "gridctl bench slow: gridlog_storage_cache_usage_bytes unread on port " << c.metrics_port
                << " at " << with.cache_misses << " of " << with.rss.size() << " samples\n";
    }
    if (with.beyond_cache.size() * 2 >= with.rss.size() && !with.beyond_cache.empty()) {
      const auto [first_beyond, second_beyond] = halves(with.beyond_cache);
      row.Num("rss_beyond_cache_first_half_max_mib", std::round(first_beyond))
          .Num("rss_beyond_cache_second_half_max_mib", std::round(second_beyond));
    }
    row.Num("seconds", std::round(s.seconds))
        .Num("append_rate", std::round(static_cast<double>(s.events) / s.seconds))
        .Num("subscriber_read", static_cast<double>(read))
        .Num("fell_behind", static_cast<double>(fell_behind))
        .Num("rss_start_mib", with.rss.empty() ? 0 : std::round(with.rss.front()))
        .Num("rss_first_half_max_mib", std::round(first))
        .Num("rss_second_half_max_mib", std::round(second))
        .Num("rss_growth_mib", std::round(second - first))
        .Num("control_before_rss_first_half_max_mib", std::round(before_first))
        .Num("control_before_rss_second_half_max_mib", std::round(before_second))
        .Num("control_after_rss_first_half_max_mib", std::round(after_first))
        .Num("control_after_rss_second_half_max_mib", std::round(after_second))
        .Num("errors", static_cast<double>(s.errors) + (controls_ok ? 0 : 1))
        .Print(c.json);
    return s.errors == 0 && controls_ok ? 0 : 1;
  }

  static int NoPid(const char* what) {
    std::cerr << "gridctl bench: " << what
              << ": needs the server's RSS: run gridd on this machine or give --pid\n";
    return 1;
  }
  static int Fail(const absl::Status& s) {
    std::cerr << "gridctl bench: " << absl::StatusCodeToString(s.code()) << ": " << s.message() << "\n";
    return 1;
  }
};

}  // namespace

int RunBench(int argc, char** argv) {
  Bench b;
  std::vector<std::string> workloads;
  std::string output;
  po::options_description desc(
      "gridctl bench [WORKLOAD...] [options]: load generator (workloads: append fanout replay\n"
      "projection idle slow fill; none = all but fill). Examples:\n"
      "  gridctl bench --quick                       every workload, small, as CI runs it\n"
      "  gridctl bench append --mode batch --events 2000000 --output json\n"
      "  gridctl bench fanout --subscribers 64 --rate 5000 --seconds 30\n"
      "options");
  desc.add_options()("help", "show this help")(
      "server", po::value(&b.c.server)->default_value("127.0.0.1:7443"), "gridd address host:port")(
      "output", po::value(&output)->default_value("table"), "table or json (one JSON object per line)")(
      "quick", "small counts and short runs: a smoke test, not a measurement")(
      "mode", po::value(&b.k.modes)->composing(),
      "append: unary, batch, households or pipelined (repeatable; default all)")(
      "clients", po::value(&b.k.clients)->default_value(b.k.clients), "append unary: concurrent callers")(
      "batch_clients", po::value(&b.k.batch_clients)->default_value(b.k.batch_clients),
      "append batch and fill: concurrent callers")("batch", po::value(&b.k.batch)->default_value(b.k.batch),
                                                   "append batch: events per call")(
      "inflight", po::value(&b.k.inflight)->default_value(b.k.inflight), "append pipelined: calls in flight")(
      "events", po::value(&b.k.events), "events to append (append, fill) or most to read (replay)")(
      "subscribers", po::value(&b.k.subscribers)->default_value(b.k.subscribers), "fanout: live subscribers")(
      "rate", po::value(&b.k.rate)->default_value(b.k.rate), "fanout, slow: appends per second")(
      "seconds", po::value(&b.k.seconds), "fanout, slow: how long to append")(
      "subscriptions", po::value(&b.k.subscriptions)->default_value(b.k.subscriptions),
      "idle: subscriptions to hold open")(
      "subscribe_server", po::value(&b.k.subscribe_server),
      "fanout: subscribe at this node instead (a cluster's replica: latency includes replication)")(
      "queries", po::value(&b.k.queries)->default_value(b.k.queries), "projection: reads of each kind")(
      "photos", po::value(&b.c.photos)->default_value(b.c.photos), "photo references per phone report")(
      "pid", po::value(&b.c.pid), "gridd's pid for RSS (default: found by the --server port)")(
      "metrics_port", po::value(&b.c.metrics_port),
      "slow: gridd's metrics port on this machine, to report its RSS less its RocksDB cache too")(
      "run", po::value(&b.c.run), "prefix of this run's counties and event ids (default: random)")(
      "lane", po::value(&b.next_lane)->default_value(0),
      "number of the first county (lane) this run generates; with --run, names the counties")(
      "after", po::value(&b.k.after),
      "append batch or households: continue --lane's counties, which `fill` gave this many events each "
      "(same --run, --batch)")("workload", po::value(&workloads), "workload (positional)");
  po::positional_options_description pos;
  pos.add("workload", -1);
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(argc, argv).options(desc).positional(pos).run(), vm);
    po::notify(vm);
  } catch (const std::exception& e) {
    std::cerr << "gridctl: " << e.what() << "\n" << desc << "\n";
    return 2;
  }
  if (vm.count("help")) {
    std::cout << desc << "\n";
    return 0;
  }
  if (output != "table" && output != "json") {
    std::cerr << "gridctl: --output is table or json\n";
    return 2;
  }
  b.c.json = output == "json";
  b.c.quick = vm.count("quick") > 0;
  if (b.c.run.empty()) {
    std::random_device rd;
    b.c.run = absl::StrCat("b", absl::Hex(rd(), absl::kZeroPad8));
  }
  if (b.c.pid == 0) {
    const size_t colon = b.c.server.rfind(':');
    int port = 0;
    const std::string host = b.c.server.substr(0, colon);
    if (colon != std::string::npos && absl::SimpleAtoi(b.c.server.substr(colon + 1), &port) &&
        (host == "127.0.0.1" || host == "localhost" || host == "[::1]")) {
      b.c.pid = FindListener(port);
    }
  }
  b.client = Client::Connect(b.c.server);
  b.stub = grid::v1::Log::NewStub(b.client->channel());
  if (auto s = b.client->GetStatus(); !s.ok()) {
    std::cerr << "gridctl bench: cannot reach gridd at " << b.c.server << " (" << s.status().message()
              << "); is it running? start one with: make run\n";
    return 1;
  }
  if (workloads.empty()) workloads = {"append", "fanout", "replay", "projection", "idle", "slow"};
  const std::map<std::string, int (Bench::*)()> table = {
      {"append", &Bench::Append}, {"fanout", &Bench::Fanout},
      {"replay", &Bench::Replay}, {"projection", &Bench::Projection},
      {"idle", &Bench::Idle},     {"slow", &Bench::Slow},
      {"fill", &Bench::Fill}};
  for (const std::string& w : workloads) {
    if (!table.contains(w)) {
      std::cerr << "gridctl bench: unknown workload '" << w << "'\n";
      return 2;
    }
  }
  int worst = 0;
  for (const std::string& w : workloads) {
    if (!b.c.json) std::cout << w << "\n";
    worst = std::max(worst, (b.*table.at(w))());
  }
  return worst;
}

}  // namespace grid::client
