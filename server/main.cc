// gridd: the gridlog server. Serves grid.v1.Log, grid.v1.Projections and
// grid.v1.Admin (plus health checking and reflection) on 127.0.0.1 with its
// data in --data_dir, and /metrics, /healthz and /readyz over HTTP on
// --metrics_listen. Stops gracefully on SIGTERM or SIGINT.
//
// Configuration: built-in defaults, then the JSON file given with --config,
// then flags (one per field of grid.v1.ServerConfig, same names). See
// server/config.h and deploy/gridd.json.
#include <utility>  // before Boost (GCC 12 + C++20)

#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <boost/program_options.hpp>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "grid/v1/options.pb.h"
#include "server/access/access.h"
#include "server/config.h"
#include "server/grid_server.h"
#include "server/ops/http_endpoint.h"
#include "server/ops/logging.h"
#include "server/ops/metrics.h"

namespace po = boost::program_options;

namespace {

// What the HTTP endpoint reports: the server once it is open.
class Probes {
 public:
  void Set(grid::server::GridServer* server) {
    absl::MutexLock l(&mu_);
    server_ = server;
  }
  void Stopping() {
    absl::MutexLock l(&mu_);
    server_ = nullptr;
    stopping_ = true;
  }
  grid::server::HttpResponse Handle(const std::string& path) {
    absl::MutexLock l(&mu_);
    if (path == "/healthz") return {200, "text/plain; charset=utf-8", "ok\n"};
    if (path == "/readyz") {
      if (server_ == nullptr) {
        return {503, "text/plain; charset=utf-8", stopping_ ? "shutting down\n" : "opening the log\n"};
      }
      std::string why;
      if (!server_->Ready(&why)) return {503, "text/plain; charset=utf-8", why + "\n"};
      return {200, "text/plain; charset=utf-8", "ready\n"};
    }
    if (path == "/metrics") {
      auto families = server_ != nullptr ? server_->CollectMetrics() : grid::server::ProcessMetrics();
      return {200, "text/plain; version=0.0.4; charset=utf-8", grid::server::ToPrometheusText(families)};
    }
    return {404, "text/plain; charset=utf-8", "not found: try /metrics, /healthz or /readyz\n"};
  }

 private:
  absl::Mutex mu_;
  grid::server::GridServer* server_ ABSL_GUARDED_BY(mu_) = nullptr;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace

int main(int argc, char** argv) {
  // Everything gridd writes (the WAL and SST files hold names and phone
  // numbers, the keys are secrets) is for its own user only, whatever the
  // umask it was started with.
  umask(077);
  // Debian's abseil is built in debug mode, so every absl::Mutex (gRPC's
  // locks are) keeps a global lock-order graph for deadlock detection: a
  // few percent of an append's CPU in the profiles (bench/README.md). It
  // finds bugs in tests, not in a running server.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  // Block the stop signals in every thread; this one waits for them below.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGHUP);  // rereads the access policy
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  // One flag per configuration field, with the field's help and default.
  const grid::v1::ServerConfig defaults = grid::server::DefaultConfig();
  po::options_description desc(
      "usage: gridd [--config FILE] [--FIELD=VALUE]... [--print-config]\n\n"
      "  gridd --data_dir=./data                       serve on 127.0.0.1:7443\n"
      "  gridd --config=/etc/gridlog/gridd.json        settings from a file\n"
      "  gridd --config=gridd.json --log_level=debug   a flag overrides the file\n"
      "  gridd --config=gridd.json --print-config      show the effective settings\n"
      "  gridd --config=gridd.json --check-policy      check the access policy file\n\n"
      "options");
  desc.add_options()("help", "show this help")("config", po::value<std::string>(),
                                               "JSON configuration file (deploy/gridd.json)")(
      "print-config", "print the effective configuration as JSON and exit")(
      "check-policy", "check the configured policy_file (as SIGHUP would load it) and exit");
  const auto* d = grid::v1::ServerConfig::descriptor();
  for (int i = 0; i < d->field_count(); ++i) {
    const auto* f = d->field(i);
    if (f->is_repeated()) continue;  // lists are set in the file
    std::string help = f->options().GetExtension(grid::v1::help);
    const std::string def = grid::server::ConfigFieldText(defaults, f->name());
    help += def.empty() ? " (default: empty" : " (default: " + def;
    if (auto range = grid::server::SettingRange(f)) {
      help += absl::StrCat("; ", grid::server::RangeNumber(range->first), " to ",
                           grid::server::RangeNumber(range->second));
    }
    help += ")";
    desc.add_options()(f->name().c_str(), po::value<std::string>(), help.c_str());
  }
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, desc), vm);
    po::notify(vm);
  } catch (const std::exception& e) {
    std::cerr << "gridd: " << e.what() << "\n(gridd --help lists the options)\n";
    return 2;
  }
  if (vm.count("help")) {
    std::cout << desc << "\n";
    return 0;
  }
  grid::v1::ServerConfig config = defaults;
  if (vm.count("config")) {
    auto file = grid::server::ReadConfigFile(vm["config"].as<std::string>());
    if (!file.ok()) {
      std::cerr << "gridd: " << file.status().message() << "\n";
      return 2;
    }
    config.MergeFrom(*file);
  }
  for (int i = 0; i < d->field_count(); ++i) {
    const std::string& name = d->field(i)->name();
    if (d->field(i)->is_repeated() || !vm.count(name)) continue;
    if (auto s = grid::server::SetConfigField(&config, name, vm[name].as<std::string>()); !s.ok()) {
      std::cerr << "gridd: " << s.message() << "\n";
      return 2;
    }
  }
  auto options = grid::server::ToServerOptions(config);
  if (!options.ok()) {
    std::cerr << "gridd: " << options.status().message() << "\n";
    return 2;
  }
  if (vm.count("print-config")) {
    std::cout << grid::server::ConfigToCommentedJson(config);
    return 0;
  }
  if (vm.count("check-policy")) {
    if (config.policy_file().empty()) {
      std::cerr << "gridd: no policy_file is configured (dev mode)\n";
      return 2;
    }
    auto policy = grid::server::LoadPolicyFile(config.policy_file());
    if (!policy.ok()) {
      std::cerr << "gridd: " << policy.status().message() << "\n";
      return 2;
    }
    std::cout << config.policy_file() << ": " << (*policy)->size() << " principals, ok\n";
    return 0;
  }
  if (auto s = grid::server::ConfigureLogging(config.log_format(), config.log_level()); !s.ok()) {
    std::cerr << "gridd: " << s.message() << "\n";
    return 2;
  }

  // The HTTP endpoint comes first, so /readyz answers (503) while the log
  // opens.
  Probes probes;
  std::unique_ptr<grid::server::HttpEndpoint> http;
  if (!config.metrics_listen().empty()) {
    auto endpoint = grid::server::HttpEndpoint::Start(
        config.metrics_listen(), [&probes](const std::string& path) { return probes.Handle(path); });
    if (!endpoint.ok()) {
      spdlog::error("gridd: {}", endpoint.status().ToString());
      return 1;
    }
    http = *std::move(endpoint);
    std::cout << "gridd metrics on port " << http->port() << std::endl;
    spdlog::info("metrics, /healthz and /readyz on {} (port {})", config.metrics_listen(), http->port());
  }

  auto server = grid::server::GridServer::Start(*options);
  if (!server.ok()) {
    spdlog::error("gridd: {}", server.status().ToString());
    return 1;
  }
  probes.Set(server->get());
  if (const int dport = (*server)->dashboard_port(); dport > 0) {
    std::cout << "gridd dashboard on port " << dport << std::endl;
  }
  std::cout << "gridd listening on port " << (*server)->port() << std::endl;
  int sig = 0;
  for (;;) {
    sigwait(&stop_signals, &sig);
    if (sig != SIGHUP) break;
    spdlog::info("gridd: SIGHUP received, rereading the access policy");
    (void)(*server)->ReloadPolicy();  // logs the outcome
  }
  spdlog::info("gridd: signal {} received, shutting down", sig);
  // Probes see the server only while it is whole.
  probes.Stopping();
  (*server)->Shutdown();
  if (http) http->Stop();
  return 0;
}
