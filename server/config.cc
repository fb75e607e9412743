#include "server/config.h"

#include <google/protobuf/util/json_util.h>

#include <cmath>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "grid/v1/options.pb.h"
#include "server/ops/json_file.h"

namespace grid::server {
namespace {

using google::protobuf::FieldDescriptor;
using grid::v1::ServerConfig;

constexpr absl::string_view kLogFormats[] = {"text", "json"};
constexpr absl::string_view kLogLevels[] = {"trace", "debug", "info", "warn", "error", "off"};

template <size_t N>
bool OneOf(const std::string& value, const absl::string_view (&choices)[N]) {
  for (absl::string_view c : choices) {
    if (value == c) return true;
  }
  return false;
}

const FieldDescriptor* FieldNamed(const std::string& name) {
  return ServerConfig::descriptor()->FindFieldByName(name);
}

}  // namespace

ServerConfig DefaultConfig() {
  const ServerOptions defaults;
  ServerConfig c;
  c.set_listen(defaults.listen);
  c.set_data_dir(defaults.data_dir);
  c.set_metrics_listen("127.0.0.1:9464");
  c.set_log_format("text");
  c.set_log_level("info");
  c.set_max_append_bytes(defaults.limits.max_request_bytes);
  c.set_reader_threads(static_cast<uint32_t>(defaults.reader_threads));
  c.set_tail_events(defaults.tail.max_records);
  c.set_tail_bytes(defaults.tail.max_bytes);
  // gridd runs the projector below the appenders (ServerOptions' 0 is for
  // tests, where nothing competes).
  c.set_projector_nice(10);
  c.set_storage_cache_bytes(defaults.storage_cache_bytes);
  c.set_storage_memtable_bytes(defaults.storage_memtable_bytes);
  c.set_admission_cache_streams(defaults.admission_cache_streams);
  c.set_pipelined_commits(defaults.pipelined_commits);
  c.set_signing_key("");
  c.set_checkpoint_every_events(defaults.checkpoints.every_events);
  c.set_checkpoint_every_seconds(absl::ToDoubleSeconds(defaults.checkpoints.every));
  c.set_tls_cert("");
  c.set_tls_key("");
  c.set_tls_client_ca("");
  c.set_policy_file(defaults.access.policy_file);
  c.set_person_key(defaults.person_key_path);
  c.set_rate_limit_per_second(1000);
  c.set_rate_limit_burst(2000);
  c.set_max_streams_per_principal(256);
  c.set_unary_deadline_seconds(absl::ToDoubleSeconds(defaults.unary_deadline));
  c.set_audit_retention_days(0);
  c.set_cluster("");
  c.set_shard("");
  c.set_node_id("");
  c.set_advertise("");
  c.set_cluster_lease_seconds(absl::ToDoubleSeconds(defaults.cluster.lease_ttl));
  c.set_cluster_peer_ca("");
  c.set_cluster_peer_cert("");
  c.set_cluster_peer_key("");
  c.set_cluster_peer_token_file("");
  c.set_etcd_ca("");
  c.set_etcd_cert("");
  c.set_etcd_key("");
  c.set_cluster_tail_events(defaults.cluster.tail_events);
  c.set_dashboard_listen("");
  c.set_dashboard_session_hours(absl::ToDoubleHours(defaults.dashboard.session_lifetime));
  c.set_dashboard_idle_minutes(absl::ToDoubleMinutes(defaults.dashboard.session_idle));
  return c;
}

absl::StatusOr<ServerConfig> ParseConfig(absl::string_view text, absl::string_view origin) {
  ServerConfig config;
  if (auto s = ParseCommentedJson(text, origin, "a gridd configuration", &config); !s.ok()) return s;
  return config;
}

absl::StatusOr<ServerConfig> ReadConfigFile(const std::string& path) {
  ServerConfig config;
  if (auto s = ReadCommentedJsonFile(path, "config", &config); !s.ok()) return s;
  return config;
}

absl::Status SetConfigField(ServerConfig* config, const std::string& name, const std::string& text) {
  const FieldDescriptor* f = FieldNamed(name);
  if (f == nullptr) return absl::InvalidArgumentError(absl::StrCat("no setting named ", name));
  if (f->is_repeated()) {
    return absl::InvalidArgumentError(absl::StrCat(name, " is set in the config file only"));
  }
  const auto* r = config->GetReflection();
  auto bad = [&](absl::string_view what) {
    return absl::InvalidArgumentError(absl::StrCat("--", name, ": '", text, "' is not ", what));
  };
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_STRING:
      r->SetString(config, f, text);
      break;
    case FieldDescriptor::CPPTYPE_UINT64: {
      uint64_t v;
      if (!absl::SimpleAtoi(text, &v)) return bad("a whole number >= 0");
      r->SetUInt64(config, f, v);
      break;
    }
    case FieldDescriptor::CPPTYPE_UINT32: {
      uint32_t v;
      if (!absl::SimpleAtoi(text, &v)) return bad("a whole number >= 0");
      r->SetUInt32(config, f, v);
      break;
    }
    case FieldDescriptor::CPPTYPE_INT32: {
      int32_t v;
      if (!absl::SimpleAtoi(text, &v)) return bad("a whole number");
      r->SetInt32(config, f, v);
      break;
    }
    case FieldDescriptor::CPPTYPE_DOUBLE: {
      double v;
      if (!absl::SimpleAtod(text, &v)) return bad("a number");
      r->SetDouble(config, f, v);
      break;
    }
    case FieldDescriptor::CPPTYPE_BOOL: {
      bool v;
      if (!absl::SimpleAtob(text, &v)) return bad("true or false");
      r->SetBool(config, f, v);
      break;
    }
    default:
      return absl::InternalError(absl::StrCat("setting ", name, " has an unsupported type"));
  }
  return absl::OkStatus();
}

std::string ConfigFieldText(const ServerConfig& config, const std::string& name) {
  const FieldDescriptor* f = FieldNamed(name);
  const auto* r = config.GetReflection();
  if (f == nullptr || f->is_repeated() || !r->HasField(config, f)) return "";
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_STRING:
      return r->GetString(config, f);
    case FieldDescriptor::CPPTYPE_UINT64:
      return absl::StrCat(r->GetUInt64(config, f));
    case FieldDescriptor::CPPTYPE_UINT32:
      return absl::StrCat(r->GetUInt32(config, f));
    case FieldDescriptor::CPPTYPE_INT32:
      return absl::StrCat(r->GetInt32(config, f));
    case FieldDescriptor::CPPTYPE_DOUBLE:
      return absl::StrCat(r->GetDouble(config, f));
    case FieldDescriptor::CPPTYPE_BOOL:
      return r->GetBool(config, f) ? "true" : "false";
    default:
      return "";
  }
}

std::string ConfigToCommentedJson(const ServerConfig& config) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.preserve_proto_field_names = true;
  std::string json;
  (void)google::protobuf::util::MessageToJsonString(config, &json, options);
  // The printer puts one field per line as `  "name": value`; the help goes
  // above it.
  std::string out =
      "// gridd configuration (grid.v1.ServerConfig in protobuf's JSON mapping).\n"
      "// Lines starting with // are comments; a flag of the same name overrides a field.\n";
  for (absl::string_view line : absl::StrSplit(json, '\n')) {
    if (line.empty()) continue;
    absl::string_view rest = absl::StripLeadingAsciiWhitespace(line);
    if (absl::ConsumePrefix(&rest, "\"")) {
      const std::string name(rest.substr(0, rest.find('"')));
      if (const FieldDescriptor* f = FieldNamed(name); f != nullptr) {
        absl::StrAppend(&out, "\n  // ", f->options().GetExtension(grid::v1::help));
        if (auto range = SettingRange(f)) {
          absl::StrAppend(&out, " (", RangeNumber(range->first), " to ", RangeNumber(range->second), ")");
        }
        absl::StrAppend(&out, "\n");
      }
      absl::StrAppend(&out, "  \"", rest, "\n");
    } else {
      absl::StrAppend(&out, line, "\n");
    }
  }
  return out;
}

std::string RangeNumber(double v) {
  if (v == std::floor(v) && std::abs(v) < 1e18) return absl::StrCat(static_cast<int64_t>(v));
  return absl::StrCat(v);
}

std::optional<std::pair<double, double>> SettingRange(const FieldDescriptor* f) {
  const auto& o = f->options();
  if (!o.HasExtension(grid::v1::setting_min) || !o.HasExtension(grid::v1::setting_max)) return std::nullopt;
  return std::make_pair(o.GetExtension(grid::v1::setting_min), o.GetExtension(grid::v1::setting_max));
}

namespace {

// Every numeric setting within its (setting_min)..(setting_max).
absl::Status CheckRanges(const ServerConfig& c) {
  const auto* d = ServerConfig::descriptor();
  const auto* r = c.GetReflection();
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    double v = 0;
    switch (f->cpp_type()) {
      case FieldDescriptor::CPPTYPE_UINT64:
        v = static_cast<double>(r->GetUInt64(c, f));
        break;
      case FieldDescriptor::CPPTYPE_UINT32:
        v = r->GetUInt32(c, f);
        break;
      case FieldDescriptor::CPPTYPE_INT64:
        v = static_cast<double>(r->GetInt64(c, f));
        break;
      case FieldDescriptor::CPPTYPE_INT32:
        v = r->GetInt32(c, f);
        break;
      case FieldDescriptor::CPPTYPE_DOUBLE:
        v = r->GetDouble(c, f);
        break;
      default:
        continue;
    }
    auto range = SettingRange(f);
    if (!range) continue;                              // config_test: every numeric setting has one
    if (!(v >= range->first && v <= range->second)) {  // NaN too
      return absl::InvalidArgumentError(
          absl::StrCat(f->name(), ": ", ConfigFieldText(c, f->name()), " is out of range; it must be from ",
                       RangeNumber(range->first), " to ", RangeNumber(range->second)));
    }
  }
  return absl::OkStatus();
}

bool IsName(absl::string_view s, absl::string_view also) {
  if (s.empty() || s.size() > 64) return false;
  for (char ch : s) {
    if (!absl::ascii_isalnum(ch) && also.find(ch) == absl::string_view::npos) return false;
  }
  return true;
}

bool IsLoopbackEndpoint(absl::string_view e) {
  return absl::StartsWith(e, "127.") || absl::StartsWith(e, "localhost:") || absl::StartsWith(e, "[::1]:");
}

absl::Status ToClusterOptions(const ServerConfig& c, ServerOptions* o) {
  auto invalid = [](absl::string_view field, absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": ", why));
  };
  if (c.cluster().empty()) {
    if (!c.shard().empty() || !c.node_id().empty()) {
      return invalid("cluster", "shard and node_id are for cluster mode: name its etcd endpoints too");
    }
    return absl::OkStatus();
  }
  for (absl::string_view e : absl::StrSplit(c.cluster(), ',')) {
    e = absl::StripAsciiWhitespace(e);
    const size_t colon = e.rfind(':');
    if (e.empty() || colon == absl::string_view::npos || colon + 1 == e.size()) {
      return invalid("cluster", absl::StrCat("'", e, "' is not host:port"));
    }
    // A county's log does not cross a network in the clear.
    if (!IsLoopbackEndpoint(e) && c.etcd_ca().empty()) {
      return invalid("cluster",
                     absl::StrCat("etcd endpoint '", e,
                                  "' is not on loopback: set etcd_ca (and etcd_cert, etcd_key) so that "
                                  "gridd reaches it over TLS"));
    }
    o->cluster.etcd_endpoints.emplace_back(e);
  }
  if (!IsName(c.shard(), "_-")) {
    return invalid("shard", "cluster mode needs the shard's name: 1-64 of A-Z a-z 0-9 _ - (a county code)");
  }
  if (!IsName(c.node_id(), "_-.")) {
    return invalid("node_id", "cluster mode needs this node's name: 1-64 of A-Z a-z 0-9 _ - .");
  }
  // A commit group is one etcd transaction: an append, with its events'
  // server fields, must fit etcd's request limit (deploy/cluster runs etcd
  // with --max-request-bytes of 8 MiB).
  if (c.max_append_bytes() > (2u << 20)) {
    return invalid("max_append_bytes", "must be at most 2097152 in cluster mode (one etcd transaction)");
  }
  o->cluster.shard = c.shard();
  o->cluster.node_id = c.node_id();
  o->cluster.advertise = c.advertise().empty() ? c.listen() : c.advertise();
  o->cluster.lease_ttl = absl::Seconds(c.cluster_lease_seconds());
  o->cluster.tail_events = c.cluster_tail_events();
  if (c.etcd_cert().empty() != c.etcd_key().empty()) {
    return invalid(c.etcd_cert().empty() ? "etcd_cert" : "etcd_key", "etcd_cert and etcd_key go together");
  }
  if (c.etcd_ca().empty() && !c.etcd_cert().empty()) {
    return invalid("etcd_ca", "a client certificate for etcd needs TLS to etcd: set etcd_ca too");
  }
  o->cluster.etcd_ca_path = c.etcd_ca();
  o->cluster.etcd_cert_path = c.etcd_cert();
  o->cluster.etcd_key_path = c.etcd_key();
  if (c.cluster_peer_cert().empty() != c.cluster_peer_key().empty()) {
    return invalid(c.cluster_peer_cert().empty() ? "cluster_peer_cert" : "cluster_peer_key",
                   "cluster_peer_cert and cluster_peer_key go together");
  }
  // A node's peers serve as it does: TLS with its own CA, certificate and
  // key unless others are named for its calls to them.
  o->cluster.peer_ca_path = c.cluster_peer_ca().empty() ? c.tls_client_ca() : c.cluster_peer_ca();
  o->cluster.peer_cert_path = c.cluster_peer_cert().empty() ? c.tls_cert() : c.cluster_peer_cert();
  o->cluster.peer_key_path = c.cluster_peer_key().empty() ? c.tls_key() : c.cluster_peer_key();
  o->cluster.peer_token_path = c.cluster_peer_token_file();
  if (!c.tls_cert().empty() && o->cluster.peer_ca_path.empty()) {
    return invalid(
        "cluster_peer_ca",
        "a node serving TLS verifies its peers' certificates: set cluster_peer_ca (or tls_client_ca)");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ServerOptions> ToServerOptions(const ServerConfig& c) {
  auto invalid = [](absl::string_view field, absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": ", why));
  };
  if (absl::Status s = CheckRanges(c); !s.ok()) return s;
  if (!OneOf(c.log_format(), kLogFormats)) return invalid("log_format", "must be text or json");
  if (!OneOf(c.log_level(), kLogLevels)) {
    return invalid("log_level", "must be trace, debug, info, warn, error or off");
  }
  if (c.listen().empty()) return invalid("listen", "must be host:port");
  if (c.data_dir().empty()) return invalid("data_dir", "must name a directory");
  if (c.reader_threads() == 0) return invalid("reader_threads", "must be at least 1");
  if (c.max_append_bytes() < 1024) return invalid("max_append_bytes", "must be at least 1024");
  if (c.tail_events() == 0) return invalid("tail_events", "must be at least 1");
  if (!(c.checkpoint_every_seconds() > 0)) {
    return invalid("checkpoint_every_seconds", "must be above 0");
  }
  if (c.checkpoint_every_events() == 0) {
    return invalid("checkpoint_every_events", "must be at least 1");
  }
  ServerOptions o;
  o.listen = c.listen();
  o.data_dir = c.data_dir();
  o.limits.max_request_bytes = c.max_append_bytes();
  o.reader_threads = static_cast<int>(c.reader_threads());
  o.tail.max_records = c.tail_events();
  o.tail.max_bytes = c.tail_bytes();
  o.projector.nice = c.projector_nice();
  if (c.storage_memtable_bytes() > c.storage_cache_bytes()) {
    return invalid("storage_memtable_bytes", "must be at most storage_cache_bytes, which it is charged to");
  }
  o.storage_cache_bytes = c.storage_cache_bytes();
  o.storage_memtable_bytes = c.storage_memtable_bytes();
  o.admission_cache_streams = c.admission_cache_streams();
  o.pipelined_commits = c.pipelined_commits();
  o.signing_key_path = c.signing_key();
  o.checkpoints.every_events = c.checkpoint_every_events();
  o.checkpoints.every = absl::Seconds(c.checkpoint_every_seconds());
  o.auth.tls_cert_path = c.tls_cert();
  o.auth.tls_key_path = c.tls_key();
  o.auth.tls_client_ca_path = c.tls_client_ca();
  for (const auto& t : c.tokens()) o.auth.tokens.push_back({t.principal(), t.sha256_hex()});
  if (absl::Status s = ValidateAuth(o.auth); !s.ok()) return s;
  if (c.rate_limit_per_second() < 0) return invalid("rate_limit_per_second", "must be 0 or more");
  if (c.rate_limit_per_second() > 0 && c.rate_limit_burst() == 0) {
    return invalid("rate_limit_burst", "must be at least 1 with a rate limit");
  }
  if (!(c.unary_deadline_seconds() > 0)) return invalid("unary_deadline_seconds", "must be above 0");
  o.access.policy_file = c.policy_file();
  o.access.rate_per_second = c.rate_limit_per_second();
  o.access.burst = c.rate_limit_burst();
  o.access.max_streams = c.max_streams_per_principal();
  o.person_key_path = c.person_key();
  o.unary_deadline = absl::Seconds(c.unary_deadline_seconds());
  o.audit_retention = absl::Hours(24) * c.audit_retention_days();
  if (absl::Status s = ToClusterOptions(c, &o); !s.ok()) return s;
  o.dashboard.listen = c.dashboard_listen();
  o.dashboard.hosts.assign(c.dashboard_hosts().begin(), c.dashboard_hosts().end());
  o.dashboard.session_lifetime = absl::Hours(c.dashboard_session_hours());
  o.dashboard.session_idle = absl::Minutes(c.dashboard_idle_minutes());
  if (o.dashboard.enabled()) {
    if (absl::Status s = CheckListen(o.dashboard.listen, o.auth, !o.access.policy_file.empty()); !s.ok()) {
      return invalid("dashboard_listen", s.message());
    }
  }
  return o;
}

}  // namespace grid::server
