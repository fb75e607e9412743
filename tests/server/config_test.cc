// gridd's configuration: defaults, file, flags; the sample file in deploy/.
#include "server/config.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "grid/v1/options.pb.h"
#include "tests/testing/status_matchers.h"

namespace grid::server {
namespace {

using grid::v1::ServerConfig;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(ConfigTest, DefaultsMakeValidOptions) {
  ASSERT_OK_AND_ASSIGN(ServerOptions o, ToServerOptions(DefaultConfig()));
  EXPECT_EQ(o.listen, "127.0.0.1:7443");
  EXPECT_EQ(o.projector.nice, 10);
}

TEST(ConfigTest, FileSetsOnlyWhatItNamesAndFlagsOverrideIt) {
  ASSERT_OK_AND_ASSIGN(ServerConfig file, ParseConfig(R"(
      // a comment line
      {
        // another, indented
        "data_dir": "/srv/grid",
        "tail_events": 5000,
        "log_level": "debug"
      })",
                                                      "test.json"));
  ServerConfig config = DefaultConfig();
  config.MergeFrom(file);
  ServerConfig flags;
  ASSERT_OK(SetConfigField(&flags, "log_level", "warn"));
  ASSERT_OK(SetConfigField(&flags, "checkpoint_every_seconds", "2.5"));
  config.MergeFrom(flags);
  ASSERT_OK_AND_ASSIGN(ServerOptions o, ToServerOptions(config));
  EXPECT_EQ(o.data_dir, "/srv/grid");                        // file
  EXPECT_EQ(o.tail.max_records, 5000u);                      // file
  EXPECT_EQ(config.log_level(), "warn");                     // flag over file
  EXPECT_EQ(o.checkpoints.every, absl::Milliseconds(2500));  // flag
  EXPECT_EQ(o.listen, "127.0.0.1:7443");                     // default
  EXPECT_EQ(o.limits.max_request_bytes, 1u << 20);           // default
}

TEST(ConfigTest, MistakesAreRefusedWithTheirName) {
  auto typo = ParseConfig(R"({"data_dri": "x"})", "gridd.json");
  EXPECT_EQ(typo.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(typo.status().message().find("gridd.json"), std::string::npos) << typo.status();
  EXPECT_NE(typo.status().message().find("data_dri"), std::string::npos) << typo.status();
  EXPECT_FALSE(ParseConfig("{", "f").ok());

  ServerConfig c = DefaultConfig();
  auto bad_number = SetConfigField(&c, "tail_events", "many");
  EXPECT_EQ(bad_number.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad_number.message().find("--tail_events"), std::string::npos);
  EXPECT_FALSE(SetConfigField(&c, "no_such_setting", "1").ok());

  struct Case {
    std::string field, value;
  } cases[] = {{"log_format", "xml"},
               {"log_level", "loud"},
               {"reader_threads", "0"},
               {"max_append_bytes", "10"},
               {"listen", ""},
               {"data_dir", ""},
               {"checkpoint_every_seconds", "0"},
               {"checkpoint_every_events", "0"},
               {"tail_events", "0"},
               // Off loopback without TLS, authentication and a policy.
               {"dashboard_listen", "0.0.0.0:7480"}};
  for (const Case& k : cases) {
    ServerConfig bad = DefaultConfig();
    ASSERT_OK(SetConfigField(&bad, k.field, k.value));
    auto o = ToServerOptions(bad);
    EXPECT_EQ(o.status().code(), absl::StatusCode::kInvalidArgument) << k.field;
    EXPECT_NE(o.status().message().find(k.field), std::string::npos) << o.status();
  }
}

TEST(ConfigTest, TheDashboardIsOffUnlessListenedForAndLoopbackWithoutAuth) {
  ASSERT_OK_AND_ASSIGN(ServerOptions off, ToServerOptions(DefaultConfig()));
  EXPECT_FALSE(off.dashboard.enabled());
  ServerConfig c = DefaultConfig();
  ASSERT_OK(SetConfigField(&c, "dashboard_listen", "127.0.0.1:7480"));
  ASSERT_OK(SetConfigField(&c, "dashboard_session_hours", "2"));
  ASSERT_OK_AND_ASSIGN(ServerOptions on, ToServerOptions(c));
  EXPECT_EQ(on.dashboard.listen, "127.0.0.1:7480");
  EXPECT_EQ(on.dashboard.session_lifetime, absl::Hours(2));
  EXPECT_EQ(on.dashboard.session_idle, absl::Minutes(30));
}

TEST(ConfigTest, ClusterModeNeedsItsNamesAndLoopbackEtcd) {
  auto with = [](std::vector<std::pair<std::string, std::string>> fields) {
    ServerConfig c = DefaultConfig();
    for (const auto& [k, v] : fields) EXPECT_OK(SetConfigField(&c, k, v)) << k;
    return ToServerOptions(c);
  };
  auto refused = [&](std::vector<std::pair<std::string, std::string>> fields, const std::string& says) {
    auto o = with(std::move(fields));
    EXPECT_EQ(o.status().code(), absl::StatusCode::kInvalidArgument) << says;
    EXPECT_NE(o.status().message().find(says), std::string::npos) << o.status();
  };
  refused({{"shard", "350583"}}, "cluster: shard and node_id are for cluster mode");
  refused({{"cluster", "127.0.0.1:2379"}, {"node_id", "g1"}}, "shard: cluster mode needs the shard's name");
  refused({{"cluster", "127.0.0.1:2379"}, {"shard", "350583"}}, "node_id: cluster mode needs");
  refused({{"cluster", "127.0.0.1:2379"}, {"shard", "350/583"}, {"node_id", "g1"}}, "shard:");
  refused({{"cluster", "10.0.0.5:2379"}, {"shard", "350583"}, {"node_id", "g1"}},
          "etcd endpoint '10.0.0.5:2379' is not on loopback: set etcd_ca");
  refused({{"cluster", "127.0.0.1:2379"}, {"shard", "350583"}, {"node_id", "g1"}, {"etcd_cert", "c.pem"}},
          "etcd_key: etcd_cert and etcd_key go together");
  refused({{"cluster", "127.0.0.1:2379"},
           {"shard", "350583"},
           {"node_id", "g1"},
           {"etcd_cert", "c.pem"},
           {"etcd_key", "k.pem"}},
          "etcd_ca: a client certificate for etcd needs TLS to etcd");
  refused(
      {{"cluster", "127.0.0.1:2379"}, {"shard", "350583"}, {"node_id", "g1"}, {"cluster_peer_key", "k.pem"}},
      "cluster_peer_cert: cluster_peer_cert and cluster_peer_key go together");
  auto tls_etcd =
      with({{"cluster", "10.0.0.5:2379"}, {"shard", "350583"}, {"node_id", "g1"}, {"etcd_ca", "ca.pem"}});
  ASSERT_OK(tls_etcd.status());
  EXPECT_EQ(tls_etcd->cluster.etcd_ca_path, "ca.pem");
  refused({{"cluster", "127.0.0.1"}, {"shard", "350583"}, {"node_id", "g1"}}, "'127.0.0.1' is not host:port");
  refused({{"cluster", "127.0.0.1:2379"},
           {"shard", "350583"},
           {"node_id", "g1"},
           {"max_append_bytes", "4194304"}},
          "max_append_bytes: must be at most 2097152 in cluster mode");
  refused(
      {{"cluster", "127.0.0.1:2379"}, {"shard", "350583"}, {"node_id", "g1"}, {"cluster_lease_seconds", "1"}},
      "cluster_lease_seconds");

  auto o = with({{"cluster", "127.0.0.1:2379, localhost:22379"},
                 {"shard", "350583"},
                 {"node_id", "g1.county"},
                 {"cluster_lease_seconds", "3"}});
  ASSERT_OK(o.status());
  EXPECT_TRUE(o->cluster.enabled());
  EXPECT_EQ(o->cluster.etcd_endpoints, (std::vector<std::string>{"127.0.0.1:2379", "localhost:22379"}));
  EXPECT_EQ(o->cluster.advertise, o->listen);
  EXPECT_EQ(o->cluster.lease_ttl, absl::Seconds(3));
  auto single = with({});
  ASSERT_OK(single.status());
  EXPECT_FALSE(single->cluster.enabled());
}

TEST(ConfigTest, TokensComeFromTheFileAsHashes) {
  const std::string hash(64, 'b');
  ASSERT_OK_AND_ASSIGN(ServerConfig file, ParseConfig(R"({
      "tls_cert": "/etc/gridlog/tls/tls.crt", "tls_key": "/etc/gridlog/tls/tls.key",
      "tokens": [{"principal": "county-backend", "sha256_hex": ")" +
                                                          hash + R"("}]})",
                                                      "auth.json"));
  ServerConfig c = DefaultConfig();
  c.MergeFrom(file);
  ASSERT_OK_AND_ASSIGN(ServerOptions o, ToServerOptions(c));
  ASSERT_EQ(o.auth.tokens.size(), 1u);
  EXPECT_EQ(o.auth.tokens[0].principal, "county-backend");
  EXPECT_EQ(o.auth.tokens[0].sha256_hex, hash);
  EXPECT_TRUE(o.auth.authenticates());
  // A token in the clear instead of its hash is refused.
  c.mutable_tokens(0)->set_sha256_hex("s3cret");
  auto bad = ToServerOptions(c);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("SHA-256"), std::string::npos) << bad.status();
  // Lists are not flags.
  EXPECT_FALSE(SetConfigField(&c, "tokens", "x").ok());
}

TEST(ConfigTest, PrintedConfigLoadsBackUnchanged) {
  ServerConfig c = DefaultConfig();
  ASSERT_OK(SetConfigField(&c, "data_dir", "/var/lib/gridlog"));
  ASSERT_OK(SetConfigField(&c, "projector_nice", "-3"));
  const std::string text = ConfigToCommentedJson(c);
  EXPECT_NE(
      text.find(
          "// " +
          ServerConfig::descriptor()->FindFieldByName("tail_bytes")->options().GetExtension(grid::v1::help)),
      std::string::npos)
      << text;
  ASSERT_OK_AND_ASSIGN(ServerConfig back, ParseConfig(text, "printed"));
  EXPECT_EQ(back.SerializeAsString(), c.SerializeAsString());
}

// Every setting has help, a default, a flag, and a place in the sample file:
// adding a field to config.proto without them fails here.
// Regression: max_append_bytes had no upper bound and was multiplied into an
// int for gRPC's receive limit (1 GiB gave 0, more gave a negative). Every
// numeric setting has a range, and a value outside it is refused, named.
TEST(ConfigTest, EveryNumericSettingIsBounded) {
  const auto* d = ServerConfig::descriptor();
  int numeric = 0;
  for (int i = 0; i < d->field_count(); ++i) {
    const auto* f = d->field(i);
    const auto t = f->cpp_type();
    if (t == google::protobuf::FieldDescriptor::CPPTYPE_STRING ||
        t == google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE ||
        t == google::protobuf::FieldDescriptor::CPPTYPE_BOOL) {
      continue;
    }
    ++numeric;
    auto range = SettingRange(f);
    ASSERT_TRUE(range.has_value()) << f->name() << " has no (setting_min)/(setting_max)";
    EXPECT_LE(range->first, range->second) << f->name();
    // Just past each end: refused, naming the setting; the ends themselves and the default pass.
    const bool is_double = t == google::protobuf::FieldDescriptor::CPPTYPE_DOUBLE;
    const bool is_unsigned = t == google::protobuf::FieldDescriptor::CPPTYPE_UINT32 ||
                             t == google::protobuf::FieldDescriptor::CPPTYPE_UINT64;
    auto set = [&](double v) {
      ServerConfig c = DefaultConfig();
      const std::string text = is_double ? absl::StrCat(v) : absl::StrCat(static_cast<int64_t>(v));
      EXPECT_OK(SetConfigField(&c, f->name(), text)) << f->name() << "=" << text;
      return ToServerOptions(c).status();
    };
    auto refused = [&](double v) {
      absl::Status s = set(v);
      EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << f->name() << "=" << v;
      EXPECT_EQ(s.message().find(f->name() + ":"), 0u) << s;
    };
    refused(is_double ? range->second * 2 + 1 : range->second + 1);
    if (range->first > 0 || !is_unsigned) refused(is_double ? range->first / 2 - 1 : range->first - 1);
  }
  EXPECT_GE(numeric, 12);
  // The case found: a GiB of max_append_bytes.
  ServerConfig c = DefaultConfig();
  ASSERT_OK(SetConfigField(&c, "max_append_bytes", "1073741824"));
  auto s = ToServerOptions(c).status();
  EXPECT_EQ(std::string(s.message()),
            "max_append_bytes: 1073741824 is out of range; it must be from 1024 to 67108864");
}

TEST(ConfigTest, EverySettingIsDocumentedDefaultedAndInTheSample) {
  ASSERT_OK_AND_ASSIGN(
      ServerConfig sample,
      ParseConfig(ReadFile(std::string(GRID_SOURCE_DIR) + "/deploy/gridd.json"), "gridd.json"));
  ASSERT_OK(ToServerOptions(sample).status());
  const ServerConfig defaults = DefaultConfig();
  const auto* d = ServerConfig::descriptor();
  for (int i = 0; i < d->field_count(); ++i) {
    const auto* f = d->field(i);
    EXPECT_FALSE(f->options().GetExtension(grid::v1::help).empty()) << f->name();
    if (f->is_repeated()) continue;  // lists: file only, empty by default
    EXPECT_TRUE(f->has_presence()) << f->name() << " must be optional";
    EXPECT_TRUE(defaults.GetReflection()->HasField(defaults, f)) << f->name() << " has no default";
    EXPECT_TRUE(sample.GetReflection()->HasField(sample, f)) << f->name() << " not in deploy/gridd.json";
    ServerConfig c;
    EXPECT_OK(SetConfigField(&c, f->name(), ConfigFieldText(defaults, f->name()))) << f->name();
  }
}

}  // namespace
}  // namespace grid::server
