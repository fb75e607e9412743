// gridd: the gridlog server. Serves grid.v1.Log (plus health checking and
// reflection) on 127.0.0.1 with its event log in --data_dir. Stops gracefully
// on SIGTERM or SIGINT.
#include <signal.h>
#include <spdlog/spdlog.h>

#include <boost/program_options.hpp>
#include <iostream>

#include "server/grid_server.h"

namespace po = boost::program_options;

int main(int argc, char** argv) {
  // Block the stop signals in every thread; this one waits for them below.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  grid::server::ServerOptions options;
  options.projector.nice = 10;
  size_t max_append_bytes = options.limits.max_request_bytes;
  size_t tail_events = options.tail.max_records;
  size_t tail_bytes = options.tail.max_bytes;
  uint64_t checkpoint_events = options.checkpoints.every_events;
  double checkpoint_seconds = absl::ToDoubleSeconds(options.checkpoints.every);
  po::options_description desc("gridd options");
  desc.add_options()("help", "show this help")(
      "listen", po::value(&options.listen)->default_value(options.listen),
      "host:port to serve on (loopback only until authentication exists)")(
      "data_dir", po::value(&options.data_dir)->default_value(options.data_dir),
      "directory of the RocksDB event log (created if missing)")(
      "max_append_bytes", po::value(&max_append_bytes)->default_value(max_append_bytes),
      "largest Append request, serialized bytes")(
      "reader_threads", po::value(&options.reader_threads)->default_value(options.reader_threads),
      "application threads for reads and subscription catch-up")(
      "tail_events", po::value(&tail_events)->default_value(tail_events),
      "most events kept in the in-memory live tail")(
      "tail_bytes", po::value(&tail_bytes)->default_value(tail_bytes),
      "most bytes kept in the in-memory live tail")(
      "signing_key", po::value(&options.signing_key_path),
      "Ed25519 private key (PEM) for signed checkpoints; created if missing "
      "(default <data_dir>/signing_key.pem)")(
      "checkpoint_every_events", po::value(&checkpoint_events)->default_value(checkpoint_events),
      "sign a checkpoint after this many events")(
      "checkpoint_every_seconds", po::value(&checkpoint_seconds)->default_value(checkpoint_seconds),
      "or after this many seconds while events arrive")(
      "projector_nice", po::value(&options.projector.nice)->default_value(options.projector.nice),
      "niceness of the projector thread: above 0 appends come first when the CPUs are busy "
      "and projections catch up after");
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, desc), vm);
    po::notify(vm);
  } catch (const std::exception& e) {
    std::cerr << "gridd: " << e.what() << "\n" << desc << "\n";
    return 2;
  }
  if (vm.count("help")) {
    std::cout << desc << "\n";
    return 0;
  }
  options.limits.max_request_bytes = max_append_bytes;
  options.tail.max_records = tail_events;
  options.tail.max_bytes = tail_bytes;
  options.checkpoints.every_events = checkpoint_events;
  options.checkpoints.every = absl::Seconds(checkpoint_seconds);

  auto server = grid::server::GridServer::Start(options);
  if (!server.ok()) {
    spdlog::error("gridd: {}", server.status().ToString());
    return 1;
  }
  std::cout << "gridd listening on port " << (*server)->port() << std::endl;
  int sig = 0;
  sigwait(&stop_signals, &sig);
  spdlog::info("gridd: signal {} received, shutting down", sig);
  (*server)->Shutdown();
  return 0;
}
