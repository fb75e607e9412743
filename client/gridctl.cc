// gridctl: the gridlog command-line client.
//
//   gridctl append --stream S [--expect any|no_stream|exists|N] [EVENT_JSON...]
//   gridctl read   (--stream S | --all) [--from N] [--from_time T] [--backwards] [--max N]
//   gridctl subscribe [--from N | --from_time T | --now] [--type T]... [--stream_prefix P]...
//                     [--org O]... [--max_events N] [--checkpoints]
//   gridctl replay --out FILE [--from N]
//   gridctl verify [--file FILE] [--from N] [--pubkey KEY]
//   gridctl status
//   gridctl projection list | get NAME [--row KEY | --prefix P] [--at N | --at_time T]
//                      | watch NAME [--prefix P] | rebuild NAME   [--output table|json]
//   gridctl simulate [--seed N] [--days N] [--towns N] ...
//   gridctl bench [append|fanout|replay|projection|idle|slow|fill]... [--quick]
//   gridctl admin backup DIR | restore BACKUP_DIR --data_dir DIR
//
// Every command takes --server host:port (default 127.0.0.1:7443) and
// --output table|json (json by default, table for projections and bench).
// Events are JSON (protobuf's mapping), one per argument or one per stdin
// line; json output is one object per line. Errors whose cause is likely
// outside gridctl (no server, a timeout) come with a hint. Exit status: 0 ok, 1 the server or the data said
// no, 2 bad usage.
#include <grpc/support/log.h>
#include <unistd.h>

#include <sys/stat.h>
#include <boost/program_options.hpp>
#include <cstdlib>
#include <fstream>

#include <iostream>
#include <map>
#include <optional>
#include <random>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/audit.h"
#include "client/backup.h"
#include "client/bench.h"
#include "client/client.h"
#include "client/json.h"
#include "client/output.h"
#include "client/progress.h"
#include "domain/events.h"
#include "domain/rules.h"
#include "domain/simulator.h"
#include "storage/checkpoint.h"
#include "storage/proto_time.h"

namespace po = boost::program_options;
using grid::client::Client;

namespace {

constexpr char kUsage[] =
    "usage: gridctl <command> [options]      gridctl <command> --help for its options and examples\n"
    "\n"
    "  append      append events to a stream\n"
    "  read        read committed events\n"
    "  subscribe   catch up, then follow the log live\n"
    "  replay      export the log for an auditor\n"
    "  verify      recompute the hash chain (and check signed checkpoints)\n"
    "  status      the log's head and health\n"
    "  projection  list, get, watch or rebuild the department views\n"
    "  form        a form task prefilled for a unit, and its submission (\"one table\")\n"
    "  simulate    append a generated county's events\n"
    "  bench       measure throughput and latency\n"
    "  admin       backup, restore\n"
    "  audit       the access audit: who called what, and what they got (auditors)\n"
    "\n"
    "Every command takes --server host:port (default 127.0.0.1:7443) and --output table|json.\n";

// Set by ParseArgs: the server address, how to authenticate, and the output
// format asked for.
std::string g_server = "127.0.0.1:7443";
grid::client::Credentials g_credentials;
bool g_table = false;

std::unique_ptr<Client> Connect() { return Client::Connect(g_server, g_credentials); }

bool ReadFile(const std::string& path, std::string* out) {
  std::ifstream in(path);
  if (!in) return false;
  std::stringstream s;
  s << in.rdbuf();
  *out = s.str();
  return true;
}

// Prints the error, with a hint where the cause is likely outside gridctl.
int Fail(const absl::Status& s) {
  std::cerr << "gridctl: " << absl::StatusCodeToString(s.code()) << ": " << s.message() << "\n";
  const std::string msg(s.message());
  if (s.code() == absl::StatusCode::kUnavailable &&
      (absl::StrContains(msg, "andshake") || absl::StrContains(msg, "SSL") || absl::StrContains(msg, "ssl") ||
       absl::StrContains(msg, "ertificate"))) {
    std::cerr << "hint: TLS with " << g_server
              << " failed: --ca must be the CA that signed gridd's certificate, for the address "
                 "you connect to; if gridd asks for client certificates, give --cert and --key\n";
  } else if (s.code() == absl::StatusCode::kUnavailable &&
             (msg.find("onnect") != std::string::npos || msg.find("resolve") != std::string::npos)) {
    if (absl::StrContains(msg, "Socket closed")) {
      std::cerr << "hint: gridd at " << g_server
                << " closed the connection: if it serves TLS, give --ca (and --cert and --key "
                   "if it asks for client certificates)\n";
    } else {
      std::cerr << "hint: is gridd running on " << g_server
                << "? Start it with `make run`, or point gridctl at it with --server host:port\n";
    }
  } else if (s.code() == absl::StatusCode::kDeadlineExceeded) {
    std::cerr << "hint: gridd at " << g_server
              << " did not answer in time; `gridctl status` and gridd's /readyz tell whether it "
                 "is up and writable\n";
  } else if (s.code() == absl::StatusCode::kUnauthenticated) {
    std::cerr << "hint: gridd at " << g_server
              << " wants credentials: --token (or $GRIDCTL_TOKEN) with --ca, or --cert and --key\n";
  } else if (s.code() == absl::StatusCode::kPermissionDenied) {
    std::cerr << "hint: gridd's access policy does not let your principal do this (the message "
                 "says why); its operator decides, in the policy file\n";
  } else if (s.code() == absl::StatusCode::kResourceExhausted) {
    std::cerr << "hint: your principal is over its rate or stream limit at " << g_server
              << "; retry after the time the message gives, or close streams you no longer read\n";
  } else if (s.code() == absl::StatusCode::kUnimplemented) {
    std::cerr << "hint: the server at " << g_server
              << " does not offer this call; is it a gridd of the same version?\n";
  }
  return 1;
}

std::string RandomId() {
  std::random_device rd;
  std::mt19937_64 gen((uint64_t{rd()} << 32) ^ rd());
  return absl::StrCat("ctl-", absl::Hex(gen(), absl::kZeroPad16), absl::Hex(gen(), absl::kZeroPad16));
}

bool ParseTime(const std::string& s, google::protobuf::Timestamp* out) {
  absl::Time t;
  std::string err;
  if (!absl::ParseTime(absl::RFC3339_full, s, &t, &err)) return false;
  *out = grid::ToProtoTime(t);
  return true;
}

// Parses the options after the subcommand. Returns false (and prints) on
// --help or an error; `code` is the exit status then.
bool ParseArgs(int argc, char** argv, po::options_description& desc, po::positional_options_description* pos,
               po::variables_map& vm, int* code, const char* default_output = "json") {
  desc.add_options()("help", "show this help")(
      "server", po::value<std::string>()->default_value("127.0.0.1:7443"), "gridd address host:port")(
      "output", po::value<std::string>()->default_value(default_output),
      "table (for people) or json (one object per line, for scripts)")(
      "token", po::value<std::string>(), "bearer token (default: $GRIDCTL_TOKEN); needs --ca")(
      "ca", po::value<std::string>(), "CA certificate (PEM file) that signed gridd's: use TLS")(
      "cert", po::value<std::string>(), "client certificate (PEM file), for mutual TLS")(
      "key", po::value<std::string>(), "the client certificate's private key (PEM file)");
  try {
    po::command_line_parser parser(argc, argv);
    parser.options(desc);
    if (pos != nullptr) parser.positional(*pos);
    po::store(parser.run(), vm);
    // --help wins over missing required options.
    if (!vm.count("help")) po::notify(vm);
  } catch (const std::exception& e) {
    std::cerr << "gridctl: " << e.what() << "\n(--help shows the options and examples)\n";
    *code = 2;
    return false;
  }
  if (vm.count("help")) {
    std::cout << desc << "\n";
    *code = 0;
    return false;
  }
  g_server = vm["server"].as<std::string>();
  const std::string output = vm["output"].as<std::string>();
  if (output != "table" && output != "json") {
    std::cerr << "gridctl: --output must be table or json\n";
    *code = 2;
    return false;
  }
  g_table = output == "table";
  auto file = [&](const char* name, std::string* out) {
    if (!vm.count(name)) return true;
    if (ReadFile(vm[name].as<std::string>(), out)) return true;
    std::cerr << "gridctl: --" << name << ": cannot read " << vm[name].as<std::string>() << "\n";
    *code = 2;
    return false;
  };
  if (!file("ca", &g_credentials.ca_pem) || !file("cert", &g_credentials.cert_pem) ||
      !file("key", &g_credentials.key_pem)) {
    return false;
  }
  if (g_credentials.cert_pem.empty() != g_credentials.key_pem.empty()) {
    std::cerr << "gridctl: --cert and --key go together\n";
    *code = 2;
    return false;
  }
  if (vm.count("token")) {
    g_credentials.token = vm["token"].as<std::string>();
  } else if (const char* env = std::getenv("GRIDCTL_TOKEN"); env != nullptr) {
    g_credentials.token = env;
  }
  if (!g_credentials.token.empty() && !g_credentials.tls()) {
    std::cerr << "gridctl: a token is only sent over TLS: give --ca (the CA that signed gridd's "
                 "certificate)\n";
    *code = 2;
    return false;
  }
  return true;
}

// One event as a table line: position, stream@version, type, org, id.
void PrintEventLine(const grid::v1::Event& e) {
  std::cout << absl::StrFormat("%-8d %-34s %-28s %-22s %s\n", e.position(),
                               absl::StrCat(e.stream(), "@", e.stream_version()), e.type(), e.org_path(),
                               e.event_id());
}

int Append(int argc, char** argv) {
  po::options_description desc(
      "gridctl append --stream S [options] [EVENT_JSON...]: append events atomically to one "
      "stream\n(events as arguments, or one JSON object per stdin line)\n\n"
      "  gridctl append --stream org/350599 --expect no_stream \\\n"
      "    '{\"event_id\":\"g-1\",\"type\":\"GridDefined\",\"org_path\":\"350599/101/203/g05\",\n"
      "      \"grid_defined\":{\"org_path\":\"350599/101/203/g05\",\"name\":\"g5\"}}'\n"
      "  gridctl append --stream org/350599 --expect 0 < events.jsonl\n\noptions");
  desc.add_options()("stream", po::value<std::string>()->required(), "stream to append to")(
      "expect", po::value<std::string>()->default_value("any"),
      "expected version: any, no_stream, exists, or a version number")(
      "event", po::value<std::vector<std::string>>(), "event JSON (positional)");
  po::positional_options_description pos;
  pos.add("event", -1);
  po::variables_map vm;
  int code = 0;
  if (!ParseArgs(argc, argv, desc, &pos, vm, &code)) return code;

  grid::v1::AppendRequest req;
  req.set_stream(vm["stream"].as<std::string>());
  const std::string expect = vm["expect"].as<std::string>();
  uint64_t exact = 0;
  if (expect == "any") {
    req.mutable_any();
  } else if (expect == "no_stream") {
    req.mutable_no_stream();
  } else if (expect == "exists") {
    req.mutable_stream_exists();
  } else if (absl::SimpleAtoi(expect, &exact)) {
    req.set_exact_version(exact);
  } else {
    std::cerr << "gridctl: --expect must be any, no_stream, exists or a number\n";
    return 2;
  }
  std::vector<std::string> jsons;
  if (vm.count("event")) {
    jsons = vm["event"].as<std::vector<std::string>>();
  } else {
    for (std::string line; std::getline(std::cin, line);) {
      if (line.find_first_not_of(" \t\r") != std::string::npos) jsons.push_back(line);
    }
  }
  if (jsons.empty()) {
    std::cerr << "gridctl: no events given (arguments or JSON lines on stdin)\n";
    return 2;
  }
  for (size_t i = 0; i < jsons.size(); ++i) {
    auto e = grid::client::EventFromJson(jsons[i]);
    if (!e.ok()) {
      std::cerr << "gridctl: event " << i + 1 << ": " << e.status().message() << "\n";
      return 2;
    }
    if (e->event_id().empty()) e->set_event_id(RandomId());
    *req.add_events() = *std::move(e);
  }
  auto client = Connect();
  auto resp = client->Append(req);
  if (!resp.ok()) return Fail(resp.status());
  if (!g_table) {
    std::cout << grid::client::MessageToJson(*resp) << std::endl;
    return 0;
  }
  for (int i = 0; i < resp->results_size(); ++i) {
    const auto& r = resp->results(i);
    std::cout << absl::StrFormat("%-8d %s@%d%s  %s\n", r.position(), req.stream(), r.stream_version(),
                                 r.duplicate() ? " (duplicate)" : "", req.events(i).event_id());
  }
  return 0;
}

int Read(int argc, char** argv) {
  po::options_description desc(
      "gridctl read (--stream S | --all) [options]: committed events, in order\n\n"
      "  gridctl read --stream household/h1-3\n"
      "  gridctl read --all --from 1200 --max 50 --output table\n"
      "  gridctl read --all --from_time 2026-11-28T08:00:00+08:00\n"
      "  gridctl read --all --backwards --max 10      # the newest ten\n\noptions");
  desc.add_options()("stream", po::value<std::string>(), "read one stream")("all", "read the whole log")(
      "from", po::value<uint64_t>(), "first version (stream) or position (all)")(
      "from_time", po::value<std::string>(), "whole log from an RFC 3339 time")(
      "backwards", "read backwards")("max", po::value<uint64_t>()->default_value(0), "most events (0 = all)")(
      "min_position", po::value<uint64_t>()->default_value(0),
      "start once the node's log holds this position (read your own write on a cluster's replica)");
  po::variables_map vm;
  int code = 0;
  if (!ParseArgs(argc, argv, desc, nullptr, vm, &code)) return code;
  grid::v1::ReadRequest req;
  if (vm.count("stream") == vm.count("all")) {
    std::cerr << "gridctl: give exactly one of --stream S or --all\n";
    return 2;
  }
  if (vm.count("stream")) {
    req.set_stream(vm["stream"].as<std::string>());
    if (vm.count("from")) req.set_from_version(vm["from"].as<uint64_t>());
  } else {
    req.mutable_all();
    if (vm.count("from")) req.set_from_position(vm["from"].as<uint64_t>());
  }
  if (vm.count("from_time") && !ParseTime(vm["from_time"].as<std::string>(), req.mutable_from_time())) {
    std::cerr << "gridctl: --from_time must be RFC 3339, e.g. 2026-11-28T08:00:00Z\n";
    return 2;
  }
  if (vm.count("backwards")) req.set_direction(grid::v1::BACKWARDS);
  req.set_max_count(vm["max"].as<uint64_t>());
  req.set_min_position(vm["min_position"].as<uint64_t>());
  auto client = Connect();
  absl::Status s = client->Read(req, [](const grid::v1::ReadResponse& r) {
    for (const auto& e : r.events()) {
      if (g_table) {
        PrintEventLine(e);
      } else {
        std::cout << grid::client::EventToJson(e) << "\n";
      }
    }
    return true;
  });
  std::cout.flush();
  return s.ok() ? 0 : Fail(s);
}

int Subscribe(int argc, char** argv) {
  po::options_description desc(
      "gridctl subscribe [options]: catch up from a point, then follow the log live "
      "(Ctrl-C to stop)\n\n"
      "  gridctl subscribe --now --output table               # only what happens from now\n"
      "  gridctl subscribe --org 350583/101 --type SanitationReportSubmitted\n"
      "  gridctl subscribe --from 1200 --checkpoints          # resume after position 1200\n\noptions");
  desc.add_options()("from", po::value<uint64_t>(), "deliver events after this position (resume point)")(
      "from_time", po::value<std::string>(), "start at an RFC 3339 time")(
      "now", "only events committed from now on")("type", po::value<std::vector<std::string>>(),
                                                  "event type filter (repeatable)")(
      "stream_prefix", po::value<std::vector<std::string>>(), "stream prefix filter (repeatable)")(
      "org", po::value<std::vector<std::string>>(), "org path prefix filter (repeatable)")(
      "max_events", po::value<uint64_t>()->default_value(0), "exit after this many events")(
      "checkpoints", "also print checkpoint / caught_up / fell_behind lines")(
      "min_position", po::value<uint64_t>()->default_value(0),
      "start once the node's log holds this position (read your own write on a cluster's replica)");
  po::variables_map vm;
  int code = 0;
  if (!ParseArgs(argc, argv, desc, nullptr, vm, &code)) return code;
  grid::v1::SubscribeRequest req;
  if (vm.count("from")) req.set_after_position(vm["from"].as<uint64_t>());
  if (vm.count("now")) req.mutable_from_now();
  req.set_min_position(vm["min_position"].as<uint64_t>());
  if (vm.count("from_time") && !ParseTime(vm["from_time"].as<std::string>(), req.mutable_from_time())) {
    std::cerr << "gridctl: --from_time must be RFC 3339\n";
    return 2;
  }
  auto add = [&](const char* name, google::protobuf::RepeatedPtrField<std::string>* to) {
    if (vm.count(name)) {
      for (const auto& v : vm[name].as<std::vector<std::string>>()) *to->Add() = v;
    }
  };
  add("type", req.mutable_filter()->mutable_event_types());
  add("stream_prefix", req.mutable_filter()->mutable_stream_prefixes());
  add("org", req.mutable_filter()->mutable_org_prefixes());
  const uint64_t max_events = vm["max_events"].as<uint64_t>();
  const bool checkpoints = vm.count("checkpoints") > 0;
  uint64_t seen = 0;
  auto client = Connect();
  absl::Status s = client->Subscribe(req, [&](const grid::v1::SubscribeResponse& r) {
    for (const auto& e : r.events()) {
      if (g_table) {
        PrintEventLine(e);
      } else {
        std::cout << grid::client::EventToJson(e) << "\n";
      }
      if (max_events > 0 && ++seen >= max_events) {
        std::cout.flush();
        return false;
      }
    }
    if (checkpoints && g_table) {
      std::cout << "-- through position " << r.checkpoint()
                << (r.caught_up() ? ", caught up: live from here" : "")
                << (r.fell_behind() ? ", fell behind: reading from disk" : "") << "\n";
    } else if (checkpoints) {
      std::cout << "{\"checkpoint\":" << r.checkpoint() << (r.caught_up() ? ",\"caught_up\":true" : "")
                << (r.fell_behind() ? ",\"fell_behind\":true" : "") << "}\n";
    }
    std::cout.flush();
    return true;
  });
  return s.ok() ? 0 : Fail(s);
}

// Reads the chain value at `position` (genesis for 0).
absl::StatusOr<grid::storage::Digest> ChainAt(Client& client, uint64_t position) {
  if (position == 0) return grid::storage::kGenesisChain;
  grid::v1::ReadRequest req;
  req.mutable_all();
  req.set_from_position(position);
  req.set_max_count(1);
  std::string wire;
  absl::Status s = client.ReadRaw(req, [&](const grid::v1::RawReadResponse& r) {
    if (r.events_size() > 0) wire = r.events(0);
    return false;
  });
  if (!s.ok()) return s;
  auto parts = grid::storage::SplitWire(wire);
  if (!parts.ok()) return parts.status();
  return parts->chain;
}

int Replay(int argc, char** argv) {
  po::options_description desc(
      "gridctl replay --out FILE [options]: export the log with its signed checkpoints, for "
      "an auditor\n\n"
      "  gridctl replay --out log.export && gridctl verify --file log.export\n\noptions");
  desc.add_options()("out", po::value<std::string>()->required(), "export file to write")(
      "from", po::value<uint64_t>()->default_value(1), "first position");
  po::variables_map vm;
  int code = 0;
  if (!ParseArgs(argc, argv, desc, nullptr, vm, &code)) return code;
  auto client = Connect();
  const uint64_t from = std::max<uint64_t>(1, vm["from"].as<uint64_t>());
  auto status = client->GetStatus();
  if (!status.ok()) return Fail(status.status());
  auto prev = ChainAt(*client, from - 1);
  if (!prev.ok()) return Fail(prev.status());
  // Signed checkpoints go into the export right after their event.
  auto cps = client->ListCheckpoints(from);
  if (!cps.ok()) return Fail(cps.status());
  std::map<uint64_t, grid::v1::SignedCheckpoint> by_position;
  for (auto& cp : *cps) by_position[cp.position()] = std::move(cp);

  const std::string path = vm["out"].as<std::string>();
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return Fail(absl::NotFoundError(absl::StrCat("cannot create ", path)));
  grid::client::ExportWriter out(f, from, *prev);
  const uint64_t head = status->head_position();
  grid::client::Progress progress("replay", head >= from ? head - from + 1 : 0);
  uint64_t n = 0, checkpoints = 0;
  absl::Status write_status;
  if (head >= from) {
    grid::v1::ReadRequest req;
    req.mutable_all();
    req.set_from_position(from);
    req.set_max_count(head - from + 1);
    req.set_batch_size(1000);
    absl::Status s = client->ReadRaw(req, [&](const grid::v1::RawReadResponse& r) {
      for (const auto& w : r.events()) {
        write_status = out.AddEvent(w);
        if (!write_status.ok()) return false;
        progress.Update(++n);
        if (auto it = by_position.find(from + n - 1); it != by_position.end()) {
          write_status = out.AddCheckpoint(it->second);
          if (!write_status.ok()) return false;
          ++checkpoints;
        }
      }
      return true;
    });
    if (!s.ok()) return Fail(s);
    if (!write_status.ok()) return Fail(write_status);
  }
  if (absl::Status s = out.Close(); !s.ok()) return Fail(s);
  std::cout << "{\"exported\":" << n << ",\"first_position\":" << from
            << ",\"signed_checkpoints\":" << checkpoints << ",\"file\":\"" << path << "\"}" << std::endl;
  return 0;
}

void PrintReport(const grid::client::AuditReport& r, bool keyed) {
  grid::client::Fields f;
  const uint64_t last = r.first + r.events - 1;
  f.Num("verified", static_cast<double>(r.events))
      .Num("first_position", static_cast<double>(r.first))
      .Num("last_position", static_cast<double>(last))
      .Text("chain_head", grid::storage::ToHex(r.chain_head))
      .Num("checkpoints", static_cast<double>(r.checkpoints));
  if (keyed) {
    f.Num("signed_through", static_cast<double>(r.signed_through))
        .Num("unsigned_tail",
             static_cast<double>(r.signed_through >= r.first ? last - r.signed_through : r.events));
  }
  f.Print(!g_table);
}

int Verify(int argc, char** argv) {
  po::options_description desc(
      "gridctl verify [options]\n"
      "Recomputes the hash chain and names the first bad position. With --pubkey, also\n"
      "checks the server's signed checkpoints: events up to `signed_through` are proven\n"
      "to be what the server committed.\n"
      "\n  gridctl verify                                     # the server's log\n"
      "  gridctl replay --out log.export && gridctl verify --file log.export --pubkey key.pem\n"
      "\noptions");
  desc.add_options()("file", po::value<std::string>(), "verify an export instead of the server")(
      "from", po::value<uint64_t>()->default_value(1), "first position (server only)")(
      "pubkey", po::value<std::string>(),
      "the server's Ed25519 public key: a PEM file, or 64 hex characters");
  po::variables_map vm;
  int code = 0;
  if (!ParseArgs(argc, argv, desc, nullptr, vm, &code)) return code;
  std::optional<std::string> key;
  if (vm.count("pubkey")) {
    std::string text = vm["pubkey"].as<std::string>();
    if (std::ifstream in(text); in) {
      std::stringstream ss;
      ss << in.rdbuf();
      text = ss.str();
    }
    auto parsed = grid::storage::ParsePublicKey(text);
    if (!parsed.ok()) {
      std::cerr << "gridctl: --pubkey: " << parsed.status().message() << "\n";
      return 2;
    }
    key = *parsed;
  }
  if (vm.count("file")) {
    auto report = grid::client::VerifyExport(vm["file"].as<std::string>(), key);
    if (!report.ok()) return Fail(report.status());
    PrintReport(*report, key.has_value());
    return 0;
  }
  auto client = Connect();
  auto status = client->GetStatus();
  if (!status.ok()) return Fail(status.status());
  const uint64_t from = std::max<uint64_t>(1, vm["from"].as<uint64_t>());
  auto prev = ChainAt(*client, from - 1);
  if (!prev.ok()) return Fail(prev.status());
  grid::client::AuditVerifier v(from, *prev, key);
  auto cps = client->ListCheckpoints(from);
  if (!cps.ok()) return Fail(cps.status());
  for (const auto& cp : *cps) {
    if (absl::Status s = v.AddCheckpoint(cp); !s.ok()) return Fail(s);
  }
  const uint64_t head = status->head_position();
  grid::client::Progress progress("verify", head >= from ? head - from + 1 : 0);
  absl::Status bad;
  if (head >= from) {
    grid::v1::ReadRequest req;
    req.mutable_all();
    req.set_from_position(from);
    req.set_max_count(head - from + 1);
    absl::Status s = client->ReadRaw(req, [&](const grid::v1::RawReadResponse& r) {
      for (const auto& w : r.events()) {
        bad = v.AddEvent(w);
        if (!bad.ok()) return false;
        progress.Update(v.next() - from);
      }
      return true;
    });
    if (!bad.ok()) return Fail(bad);
    if (!s.ok()) return Fail(s);
  }
  const auto& r = v.report();
  if (v.next() - 1 == head && head > 0 &&
      std::string(reinterpret_cast<const char*>(r.chain_head.data()), 32) != status->chain_head()) {
    return Fail(absl::DataLossError(
        absl::StrCat("position ", head, ": recomputed chain head differs from the server's")));
  }
  PrintReport(r, key.has_value());
  return 0;
}

int Status(int argc, char** argv) {
  po::options_description desc(
      "gridctl status: the log's head, chain head, whether it takes writes, the "
      "checkpoint signing key, and in cluster mode the node's role and its shard's writer\n\n"
      "  gridctl status --output table\n"
      "  gridctl status --server 10.0.0.5:7443\n\noptions");
  po::variables_map vm;
  int code = 0;
  if (!ParseArgs(argc, argv, desc, nullptr, vm, &code)) return code;
  auto client = Connect();
  auto status = client->GetStatus();
  if (!status.ok()) return Fail(status.status());
  grid::client::Fields f;
  f.Num("head_position", static_cast<double>(status->head_position()))
      .Text("chain_head", grid::storage::ToHex(status->chain_head()))
      .Flag("writable", status->writable())
      .Text("last_recorded_at",
            absl::FormatTime(absl::RFC3339_full, grid::FromProtoTime(status->last_recorded_at()),
                             absl::UTCTimeZone()))
      .Text("signing_public_key", grid::storage::ToHex(status->signing_public_key()));
  if (!status->failure().empty()) f.Text("failure", "see the server's log");
  if (status->has_cluster()) {
    const auto& c = status->cluster();
    f.Text("shard", c.shard())
        .Text("node_id", c.node_id())
        .Text("role", c.role())
        .Text("writer_node", c.writer_node())
        .Text("writer_address", c.writer_address())
        .Num("shard_head", static_cast<double>(c.shard_head()))
        .Num("applied", static_cast<double>(c.applied()))
        .Num("etcd_first", static_cast<double>(c.etcd_first()))
        .Num("from_peers", static_cast<double>(c.from_peers()));
    if (c.writer_epoch() > 0) f.Num("writer_epoch", static_cast<double>(c.writer_epoch()));
    if (!c.failure().empty()) f.Text("cluster_failure", c.failure());
  }
  f.Print(!g_table);
  return 0;
}

// ---------------------------------------------------------------- projection

// One cell of the table view: scalars as text, times in RFC 3339, lists and
// maps as their size.
std::string Cell(const google::protobuf::Message& m, const google::protobuf::FieldDescriptor* f) {
  using FD = google::protobuf::FieldDescriptor;
  const auto* r = m.GetReflection();
  if (f->is_map() || (f->is_repeated() && f->cpp_type() == FD::CPPTYPE_MESSAGE)) {
    return absl::StrCat("[", r->FieldSize(m, f), "]");
  }
  if (f->is_repeated()) {
    std::string out;
    for (int i = 0; i < r->FieldSize(m, f); ++i) {
      if (i > 0) out += ",";
      out += f->cpp_type() == FD::CPPTYPE_STRING ? r->GetRepeatedString(m, f, i)
             : f->cpp_type() == FD::CPPTYPE_ENUM ? r->GetRepeatedEnum(m, f, i)->name()
                                                 : absl::StrCat(r->GetRepeatedUInt64(m, f, i));
    }
    return out;
  }
  switch (f->cpp_type()) {
    case FD::CPPTYPE_STRING:
      return r->GetString(m, f);
    case FD::CPPTYPE_BOOL:
      return r->GetBool(m, f) ? "yes" : "no";
    case FD::CPPTYPE_ENUM:
      return r->GetEnum(m, f)->name();
    case FD::CPPTYPE_INT32:
      return absl::StrCat(r->GetInt32(m, f));
    case FD::CPPTYPE_INT64:
      return absl::StrCat(r->GetInt64(m, f));
    case FD::CPPTYPE_UINT32:
      return absl::StrCat(r->GetUInt32(m, f));
    case FD::CPPTYPE_UINT64:
      return absl::StrCat(r->GetUInt64(m, f));
    case FD::CPPTYPE_MESSAGE: {
      if (!r->HasField(m, f)) return "";
      const auto& sub = r->GetMessage(m, f);
      if (sub.GetDescriptor()->full_name() == "google.protobuf.Timestamp") {
        const auto& ts = static_cast<const google::protobuf::Timestamp&>(sub);
        return absl::FormatTime("%Y-%m-%d %H:%M", grid::FromProtoTime(ts), absl::FixedTimeZone(8 * 3600));
      }
      return grid::client::MessageToJson(sub, /*every_field=*/false);
    }
    default:
      return "?";
  }
}

// Display width: one column per code point, two for CJK.
size_t Width(const std::string& s) {
  size_t w = 0;
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = s[i];
    const size_t len = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    w += len >= 3 ? 2 : 1;
    i += len;
  }
  return w;
}

const google::protobuf::Message* RowBody(const grid::v1::RowValue& v) {
  const auto* oneof = v.GetDescriptor()->FindOneofByName("row");
  const auto* f = v.GetReflection()->GetOneofFieldDescriptor(v, oneof);
  return f == nullptr ? nullptr : &v.GetReflection()->GetMessage(v, f);
}

// The org path a row's key begins with (up to the first '#').
std::string KeyOrgPath(const std::string& key) { return key.substr(0, key.find('#')); }

// Names beside codes: the org directory's names of the rows' org paths, as
// of `position` (one read, under the paths' common prefix). Empty when
// there is nothing to name or the caller may not read the directory.
std::map<std::string, std::string> OrgNames(Client& client, const std::vector<grid::v1::ProjectionRow>& rows,
                                            uint64_t position) {
  std::map<std::string, std::string> names;
  std::optional<std::string> common;
  for (const auto& r : rows) {
    const std::string path = KeyOrgPath(r.key());
    if (!grid::domain::IsOrgPath(path)) continue;
    if (!common) {
      common = path;
      continue;
    }
    while (!common->empty() && !grid::domain::IsUnder(path, *common))
      *common = std::string(grid::domain::ParentOf(*common));
  }
  if (!common || common->empty()) return names;
  grid::v1::GetProjectionRequest req;
  req.set_name("org_directory");
  req.set_prefix(*common);
  if (position > 0) {
    req.set_at_position(position);
    req.set_min_position(position);  // the directory may fold a moment behind the view
  }
  req.set_max_rows(20000);
  auto resp = client.GetProjection(req);
  if (!resp.ok()) return names;
  for (const auto& r : resp->rows()) {
    if (!r.value().org_directory().name().empty()) names[r.key()] = r.value().org_directory().name();
  }
  return names;
}

void PrintTable(const std::vector<grid::v1::ProjectionRow>& rows, bool with_change,
                const std::map<std::string, std::string>& names = {}) {
  std::vector<const google::protobuf::FieldDescriptor*> cols;
  for (const auto& r : rows) {
    const auto* body = RowBody(r.value());
    if (body == nullptr) continue;
    for (int i = 0; i < body->GetDescriptor()->field_count(); ++i) {
      const auto* f = body->GetDescriptor()->field(i);
      if (std::find(cols.begin(), cols.end(), f) == cols.end()) cols.push_back(f);
    }
    break;
  }
  std::vector<std::vector<std::string>> table;
  std::vector<std::string> head = {"key", "position"};
  if (!names.empty()) head.push_back("name");
  if (with_change) head.push_back("change");
  for (const auto* f : cols) head.push_back(f->name());
  table.push_back(head);
  for (const auto& r : rows) {
    std::vector<std::string> line = {r.key(), absl::StrCat(r.position())};
    if (!names.empty()) {
      auto it = names.find(KeyOrgPath(r.key()));
      line.push_back(it == names.end() ? "" : it->second);
    }
    if (with_change) line.push_back(r.deleted() ? "deleted" : "set");
    const auto* body = RowBody(r.value());
    for (const auto* f : cols) line.push_back(body == nullptr ? "" : Cell(*body, f));
    table.push_back(std::move(line));
  }
  std::vector<size_t> widths(head.size(), 0);
  for (const auto& line : table) {
    for (size_t i = 0; i < line.size(); ++i)
      widths[i] = std::max(widths[i], std::min<size_t>(Width(line[i]), 40));
  }
  for (const auto& line : table) {
    std::string out;
    for (size_t i = 0; i < line.size(); ++i) {
      std::string cell = line[i];
      if (Width(cell) > 40) cell = cell.substr(0, 37) + "...";
      out += cell + std::string(widths[i] + 2 - std::min(Width(cell), widths[i]), ' ');
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    std::cout << out << "\n";
  }
}

int Projection(int argc, char** argv) {
  if (argc < 2) {
    std::cerr
        << "usage: gridctl projection <list|get|watch|rebuild> [options]\n"
           "  gridctl projection list\n"
           "  gridctl projection get population --prefix 350583/101   (names beside codes; --no_names)\n"
           "  gridctl projection get household_roster --row '350583/101/201/g01#h1-3' --at 1200\n"
           "  gridctl projection get form_completion --prefix t1-3 --at_time 2026-03-04T10:00:00+08:00\n"
           "  gridctl projection watch population --prefix 350583/101\n"
           "  gridctl projection rebuild device_gaps\n";
    return 2;
  }
  const std::string sub = argv[1];
  po::options_description desc("gridctl projection " + sub + " [NAME] [options]");
  desc.add_options()("name", po::value<std::string>(), "projection name");
  if (sub == "get") {
    desc.add_options()("row", po::value<std::string>(), "one row, by its key")(
        "prefix", po::value<std::string>()->default_value(""), "key prefix (org path boundary)")(
        "at", po::value<uint64_t>(), "the view as of this log position")("at_time", po::value<std::string>(),
                                                                         "the view as of an RFC 3339 time")(
        "min_position", po::value<uint64_t>()->default_value(0), "wait until folded through this position")(
        "max_rows", po::value<uint32_t>()->default_value(1000), "most rows")(
        "no_names", po::bool_switch(), "table: no name column (names beside codes, from org_directory)");
  } else if (sub == "watch") {
    desc.add_options()("prefix", po::value<std::string>()->default_value(""), "key prefix")(
        "max_messages", po::value<uint64_t>()->default_value(0), "exit after this many messages");
  }
  po::positional_options_description pos;
  pos.add("name", 1);
  po::variables_map vm;
  int code = 0;
  if (!ParseArgs(argc - 1, argv + 1, desc, &pos, vm, &code, "table")) return code;
  const bool table = g_table;
  auto client = Connect();
  if (sub == "list") {
    auto list = client->ListProjections();
    if (!list.ok()) return Fail(list.status());
    if (!table) {
      std::cout << grid::client::MessageToJson(*list) << "\n";
      return 0;
    }
    std::cout << absl::StrFormat("%-20s %10s %8s  %-12s %s\n", "name", "position", "lag", "state", "what");
    for (const auto& p : list->projections()) {
      std::cout << absl::StrFormat("%-20s %10d %8d  %-12s %s\n", p.name(), p.position(), p.lag(), p.state(),
                                   p.description());
    }
    return 0;
  }
  if (!vm.count("name")) {
    std::cerr << "gridctl: projection " << sub << " needs a projection name (see gridctl projection list)\n";
    return 2;
  }
  const std::string name = vm["name"].as<std::string>();
  if (sub == "rebuild") {
    absl::Status s = client->RebuildProjection(name);
    if (!s.ok()) return Fail(s);
    std::cout << "{\"rebuilding\":\"" << name << "\"}\n";
    return 0;
  }
  if (sub == "get") {
    grid::v1::GetProjectionRequest req;
    req.set_name(name);
    if (vm.count("row")) {
      req.set_key(vm["row"].as<std::string>());
    } else {
      req.set_prefix(vm["prefix"].as<std::string>());
    }
    if (vm.count("at")) req.set_at_position(vm["at"].as<uint64_t>());
    if (vm.count("at_time") && !ParseTime(vm["at_time"].as<std::string>(), req.mutable_at_time())) {
      std::cerr << "gridctl: --at_time must be RFC 3339, e.g. 2026-03-04T10:00:00+08:00\n";
      return 2;
    }
    req.set_min_position(vm["min_position"].as<uint64_t>());
    req.set_max_rows(vm["max_rows"].as<uint32_t>());
    auto resp = client->GetProjection(req);
    if (!resp.ok()) return Fail(resp.status());
    if (!table) {
      std::cout << grid::client::MessageToJson(*resp) << "\n";
      return 0;
    }
    std::cout << name << " as of position " << resp->position() << (resp->truncated() ? " (truncated)" : "")
              << ": " << resp->rows_size() << " rows\n";
    const std::vector<grid::v1::ProjectionRow> rows(resp->rows().begin(), resp->rows().end());
    PrintTable(rows, false,
               vm["no_names"].as<bool>() || name == "org_directory"
                   ? std::map<std::string, std::string>()
                   : OrgNames(*client, rows, resp->position()));
    return 0;
  }
  if (sub == "watch") {
    grid::v1::SubscribeProjectionRequest req;
    req.set_name(name);
    req.set_prefix(vm["prefix"].as<std::string>());
    const uint64_t max_messages = vm["max_messages"].as<uint64_t>();
    uint64_t seen = 0;
    std::vector<grid::v1::ProjectionRow> snapshot;
    absl::Status s = client->SubscribeProjection(req, [&](const grid::v1::SubscribeProjectionResponse& r) {
      if (!table) {
        std::cout << grid::client::MessageToJson(r) << "\n";
      } else if (r.snapshot()) {
        snapshot.insert(snapshot.end(), r.rows().begin(), r.rows().end());
        if (r.snapshot_complete()) {
          std::cout << "-- " << name << " snapshot at position " << r.position() << ": " << snapshot.size()
                    << " rows\n";
          PrintTable(snapshot, false);
          snapshot.clear();
        }
      } else if (r.rows().empty()) {
        std::cout << "-- no change through position " << r.position() << "\n";
      } else {
        std::cout << "-- changes through position " << r.position() << "\n";
        PrintTable({r.rows().begin(), r.rows().end()}, true);
      }
      std::cout.flush();
      return max_messages == 0 || ++seen < max_messages;
    });
    return s.ok() ? 0 : Fail(s);
  }
  std::cerr << "gridctl: unknown projection command '" << sub << "'\n";
  return 2;
}

// ---------------------------------------------------------------- form

int Form(int argc, char** argv) {
  const std::string sub = argc > 1 ? argv[1] : "";
  if (sub != "prefill" && sub != "submit") {
    std::cerr << "usage: gridctl form <prefill|submit> TASK --org ORG [options]\n"
                 "  gridctl form prefill t1-3 --org 350583/101/201\n"
                 "      the task's fields, each with the unit's latest fact (shared_facts)\n"
                 "  gridctl form submit t1-3 --org 350583/101/201 --set village.daily.issues_found=2\n"
                 "      confirms every prefilled value, types the --set ones (EDITED where\n"
                 "      prefilled, NEW where not), and appends the submission\n";
    return 2;
  }
  po::options_description desc("gridctl form " + sub + " TASK --org ORG [options]");
  desc.add_options()("task", po::value<std::string>()->required(), "form task id")(
      "org", po::value<std::string>()->required(), "the submitting unit's org path")(
      "at", po::value<uint64_t>()->default_value(0),
      "the facts as of this log position (default: the latest)")(
      "min_position", po::value<uint64_t>()->default_value(0), "wait until the facts include this position");
  if (sub == "submit") {
    desc.add_options()("set", po::value<std::vector<std::string>>(), "PATH=VALUE typed by the unit (repeat)")(
        "submission", po::value<std::string>(), "submission id (default: a random one)")(
        "supersedes", po::value<std::string>()->default_value(""), "an earlier submission this one corrects");
  }
  po::positional_options_description pos;
  pos.add("task", 1);
  po::variables_map vm;
  int code = 0;
  if (!ParseArgs(argc - 1, argv + 1, desc, &pos, vm, &code)) return code;
  grid::v1::PrefillFormRequest req;
  req.set_task_id(vm["task"].as<std::string>());
  req.set_org_path(vm["org"].as<std::string>());
  req.set_at_position(vm["at"].as<uint64_t>());
  req.set_min_position(vm["min_position"].as<uint64_t>());
  auto client = Connect();
  auto prefill = client->PrefillForm(req);
  if (!prefill.ok()) return Fail(prefill.status());
  if (sub == "prefill") {
    if (!g_table) {
      std::cout << grid::client::MessageToJson(*prefill) << "\n";
      return 0;
    }
    std::cout << absl::StrFormat("as of position %d\n", prefill->position());
    for (const auto& f : prefill->fields()) {
      std::cout << absl::StrFormat("%-40s %-14s %s\n", f.canonical_path(),
                                   f.prefilled()  ? f.value() + " " + f.unit()
                                   : f.withheld() ? "(withheld)"
                                                  : "(to type)",
                                   f.prefilled() ? absl::StrCat(f.source(), " @", f.source_position()) : "");
    }
    return 0;
  }
  std::map<std::string, std::string> typed;
  if (vm.count("set")) {
    for (const std::string& kv : vm["set"].as<std::vector<std::string>>()) {
      const size_t eq = kv.find('=');
      if (eq == std::string::npos || eq == 0) {
        std::cerr << "gridctl: --set takes PATH=VALUE; got '" << kv << "'\n";
        return 2;
      }
      typed[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
  }
  const std::string submission = vm.count("submission") ? vm["submission"].as<std::string>() : RandomId();
  grid::v1::Event e = grid::domain::events::FormSubmittedFromPrefill(
      RandomId(), req.task_id(), req.org_path(), submission, absl::Now(), *prefill, typed);
  e.mutable_form_submitted()->set_supersedes_submission_id(vm["supersedes"].as<std::string>());
  grid::v1::AppendRequest append;
  append.set_stream(e.stream());
  e.clear_stream();
  *append.add_events() = std::move(e);
  auto resp = client->Append(append);
  if (!resp.ok()) return Fail(resp.status());
  std::cout << grid::client::MessageToJson(*resp) << std::endl;
  return 0;
}

// ---------------------------------------------------------------- simulate

int Simulate(int argc, char** argv) {
  grid::domain::SimulatorOptions o;
  po::options_description desc(
      "gridctl simulate [options]: appends a generated county's events through the API\n"
      "\n  gridctl simulate --days 30 --towns 3\n"
      "  gridctl simulate --seed 7 --county 350584 --start 2026-03-01T00:00:00+08:00\n\noptions");
  desc.add_options()("seed", po::value(&o.seed)->default_value(o.seed), "same seed, same events")(
      "county", po::value(&o.county)->default_value(o.county), "county code")(
      "towns", po::value(&o.towns)->default_value(o.towns), "towns")(
      "villages", po::value(&o.villages_per_town)->default_value(o.villages_per_town), "villages per town")(
      "grids", po::value(&o.grids_per_village)->default_value(o.grids_per_village), "grids per village")(
      "households", po::value(&o.households_per_grid)->default_value(o.households_per_grid),
      "households per grid at the start")("days", po::value(&o.days)->default_value(o.days),
                                          "days of activity")(
      "start", po::value<std::string>(),
      "first day, RFC 3339 (default: --days before now, so the history ends today)");
  po::variables_map vm;
  int code = 0;
  if (!ParseArgs(argc, argv, desc, nullptr, vm, &code)) return code;
  if (vm.count("start")) {
    google::protobuf::Timestamp ts;
    if (!ParseTime(vm["start"].as<std::string>(), &ts)) {
      std::cerr << "gridctl: --start must be RFC 3339\n";
      return 2;
    }
    o.start = grid::FromProtoTime(ts);
  } else {
    o.start = absl::Now() - absl::Hours(24 * o.days);
  }
  auto client = Connect();
  grid::client::Progress progress("simulate", 0, grid::client::Progress::Unit::kCount, "events appended");
  uint64_t batches = 0, events = 0, duplicates = 0, head = 0;
  // Villages confirm what the daily form prefills: as of the position of
  // the last event appended (its original position when it was a
  // duplicate), so that a second run with the same seed asks the same
  // question, sends the same reports and finds them all duplicates.
  uint64_t last_position = 0;
  absl::Status failed;
  o.prefill = [&](const std::string& task,
                  const std::string& org) -> std::optional<grid::v1::PrefillFormResponse> {
    grid::v1::PrefillFormRequest req;
    req.set_task_id(task);
    req.set_org_path(org);
    req.set_at_position(last_position);
    req.set_min_position(last_position);
    auto resp = client->PrefillForm(req);
    if (!resp.ok()) {
      // A history typed instead of confirmed would not be the seed's: stop.
      failed = resp.status();
      return std::nullopt;
    }
    return *std::move(resp);
  };
  o.last_position = [&] { return last_position; };
  grid::domain::Simulate(o, [&](grid::domain::SimBatch&& b) {
    if (!failed.ok()) return false;
    grid::v1::AppendRequest req;
    req.set_stream(b.stream);
    for (auto& e : b.events) {
      e.clear_stream();
      *req.add_events() = std::move(e);
    }
    // Retries resend the same event ids: idempotency makes them safe.
    absl::StatusOr<grid::v1::AppendResponse> resp;
    for (int attempt = 0; attempt < 5; ++attempt) {
      resp = client->Append(req);
      if (resp.ok() || resp.status().code() != absl::StatusCode::kUnavailable) break;
      absl::SleepFor(absl::Milliseconds(200 << attempt));
    }
    if (!resp.ok()) {
      failed = resp.status();
      return false;
    }
    ++batches;
    events += req.events_size();
    for (const auto& r : resp->results()) {
      duplicates += r.duplicate() ? 1 : 0;
      last_position = std::max(last_position, r.position());
    }
    head = resp->head_position();
    progress.Update(events);
    return true;
  });
  if (!failed.ok()) {
    std::cerr << "gridctl: simulate stopped after " << events << " events\n";
    return Fail(failed);
  }
  grid::client::Fields()
      .Num("batches", static_cast<double>(batches))
      .Num("events", static_cast<double>(events))
      .Num("duplicates", static_cast<double>(duplicates))
      .Num("head_position", static_cast<double>(head))
      .Print(!g_table);
  return 0;
}

int Admin(int argc, char** argv) {
  const std::string sub = argc > 1 ? argv[1] : "";
  if (sub != "backup" && sub != "restore") {
    std::cerr << "usage: gridctl admin backup DIR [--server host:port]\n"
                 "       gridctl admin restore BACKUP_DIR --data_dir DIR\n";
    return 2;
  }
  po::options_description desc(
      sub == "backup" ? "gridctl admin backup DIR: a consistent copy of the server's data, taken while it "
                        "serves\n\n  gridctl admin backup /backups/grid-2026-11-28\n\noptions"
                      : "gridctl admin restore BACKUP_DIR --data_dir DIR: check a backup and lay it out as "
                        "gridd's data folder (run it where gridd will run; gridd must not be using DIR)\n\n"
                        "  gridctl admin restore /backups/grid-2026-11-28 --data_dir /var/lib/gridlog\n"
                        "  gridd --data_dir /var/lib/gridlog\n\noptions");
  desc.add_options()("dir", po::value<std::string>()->required(), "backup folder (positional)");
  if (sub == "restore") {
    desc.add_options()("data_dir", po::value<std::string>()->required(),
                       "gridd data folder to create (must not exist, or be empty)");
  }
  po::positional_options_description pos;
  pos.add("dir", 1);
  po::variables_map vm;
  int code = 0;
  if (!ParseArgs(argc - 1, argv + 1, desc, &pos, vm, &code)) return code;
  const std::string dir = vm["dir"].as<std::string>();
  grid::client::Progress progress(sub, 0, grid::client::Progress::Unit::kBytes);
  auto on_progress = [&](uint64_t done, uint64_t total) {
    progress.set_total(total);
    progress.Update(done);
  };
  absl::StatusOr<grid::v1::BackupManifest> manifest;
  if (sub == "backup") {
    auto client = Connect();
    client->set_timeout(absl::InfiniteDuration());
    manifest = grid::client::WriteBackup(*client, dir, on_progress);
  } else {
    manifest = grid::client::RestoreBackup(dir, vm["data_dir"].as<std::string>(), on_progress);
  }
  if (!manifest.ok()) return Fail(manifest.status());
  uint64_t bytes = 0;
  for (const auto& f : manifest->files()) bytes += f.size();
  grid::client::Fields()
      .Text(sub == "backup" ? "backup" : "restored", sub == "backup" ? dir : vm["data_dir"].as<std::string>())
      .Num("head_position", static_cast<double>(manifest->head_position()))
      .Text("chain_head", grid::storage::ToHex(manifest->chain_head()))
      .Num("files", manifest->files_size())
      .Num("bytes", static_cast<double>(bytes))
      .Print(!g_table);
  return 0;
}

// ---------------------------------------------------------------- audit

int Audit(int argc, char** argv) {
  po::options_description desc(
      "gridctl audit [options]: the server's access audit, oldest first: every call with its "
      "principal, method, scope, result and items delivered, refusals included. Auditors only.\n\n"
      "  gridctl audit --output table\n"
      "  gridctl audit --principal worker-w-1 --from 1200\n"
      "  gridctl audit --server gridd:7443 --ca ca.crt --token \"$AUDITOR_TOKEN\"\n\noptions");
  desc.add_options()("from", po::value<uint64_t>()->default_value(0), "first record (seq)")(
      "max", po::value<uint64_t>()->default_value(0), "most records (0 = all)")(
      "principal", po::value<std::string>()->default_value(""), "only this principal's records");
  po::variables_map vm;
  int code = 0;
  if (!ParseArgs(argc, argv, desc, nullptr, vm, &code)) return code;
  grid::v1::ReadAuditRequest req;
  req.set_from_seq(vm["from"].as<uint64_t>());
  req.set_max_count(vm["max"].as<uint64_t>());
  req.set_principal(vm["principal"].as<std::string>());
  auto client = Connect();
  absl::Status s = client->ReadAudit(req, [](const grid::v1::ReadAuditResponse& m) {
    for (const auto& r : m.records()) {
      if (!g_table) {
        std::cout << grid::client::MessageToJson(r) << "\n";
        continue;
      }
      std::cout << absl::StrFormat(
          "%6d  %s  %-16s %-13s %-42s %-17s %5d  %s%s\n", r.seq(),
          absl::FormatTime("%Y-%m-%dT%H:%M:%S", grid::FromProtoTime(r.time()), absl::UTCTimeZone()),
          r.principal().empty() ? "-" : r.principal(), r.role().empty() ? "-" : r.role(), r.method(),
          r.intent() ? "(intent)" : r.result(), r.items(), r.scope(),
          r.message().empty() ? "" : "  " + r.message());
    }
    std::cout << std::flush;
    return true;
  });
  if (!s.ok()) return Fail(s);
  return 0;
}

int Main(int argc, char** argv) {
  // What gridctl writes (backups, restored data, exports) holds the log's
  // personal data: for the user only, whatever the umask.
  umask(077);
  // gRPC's own log lines (e.g. a failed TLS handshake) repeat what gridctl
  // says more plainly; GRPC_VERBOSITY=debug brings them back.
  if (std::getenv("GRPC_VERBOSITY") == nullptr) gpr_set_log_function([](gpr_log_func_args*) {});
  if (argc < 2) {
    std::cerr << kUsage;
    return 2;
  }
  const std::string cmd = argv[1];
  if (cmd == "--help" || cmd == "-h" || cmd == "help") {
    std::cout << kUsage;
    return 0;
  }
  // The subcommand's own options start after its name.
  int sub_argc = argc - 1;
  char** sub_argv = argv + 1;
  if (cmd == "append") return Append(sub_argc, sub_argv);
  if (cmd == "read") return Read(sub_argc, sub_argv);
  if (cmd == "subscribe") return Subscribe(sub_argc, sub_argv);
  if (cmd == "replay") return Replay(sub_argc, sub_argv);
  if (cmd == "verify") return Verify(sub_argc, sub_argv);
  if (cmd == "status") return Status(sub_argc, sub_argv);
  if (cmd == "projection") return Projection(sub_argc, sub_argv);
  if (cmd == "simulate") return Simulate(sub_argc, sub_argv);
  if (cmd == "form") return Form(sub_argc, sub_argv);
  if (cmd == "bench") return grid::client::RunBench(sub_argc, sub_argv);
  if (cmd == "admin") return Admin(sub_argc, sub_argv);
  if (cmd == "audit") return Audit(sub_argc, sub_argv);
  std::cerr << "gridctl: unknown command '" << cmd << "'\n" << kUsage;
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  // Nothing should throw out of a command; if something does (an option
  // parser, an allocation), say so instead of aborting.
  try {
    return Main(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "gridctl: " << e.what() << "\n";
    return 1;
  }
}
