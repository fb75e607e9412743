#include "server/cluster/etcd_client.h"

#include <grpcpp/grpcpp.h>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/rpc/status.h"

namespace grid::server {
namespace {

bool IsIpv4Endpoint(const std::string& e) {
  const size_t colon = e.rfind(':');
  if (colon == std::string::npos || colon == 0) return false;
  for (size_t i = 0; i < colon; ++i) {
    if (!absl::ascii_isdigit(e[i]) && e[i] != '.') return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<std::unique_ptr<EtcdClient>> EtcdClient::Create(EtcdOptions options) {
  if (options.endpoints.empty()) return absl::InvalidArgumentError("cluster: no etcd endpoints");
  std::string target;
  if (options.endpoints.size() == 1) {
    target = options.endpoints[0];  // a name may resolve to several members
  } else {
    for (const auto& e : options.endpoints) {
      if (!IsIpv4Endpoint(e)) {
        return absl::InvalidArgumentError(
            absl::StrCat("cluster: several etcd endpoints must each be an IPv4 address:port (got '", e,
                         "'); or name one DNS name that resolves to every member"));
      }
    }
    target = absl::StrCat("ipv4:", absl::StrJoin(options.endpoints, ","));
  }
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  // Range answers may be large (a replica catching up reads many batches).
  args.SetMaxReceiveMessageSize(256 << 20);
  auto channel = grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
  return std::unique_ptr<EtcdClient>(new EtcdClient(std::move(options), std::move(channel)));
}

EtcdClient::EtcdClient(EtcdOptions options, std::shared_ptr<grpc::Channel> channel)
    : options_(std::move(options)), channel_(std::move(channel)), kv_(etcdserverpb::KV::NewStub(channel_)) {}

std::unique_ptr<grpc::ClientContext> EtcdClient::Context() const {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(absl::ToChronoTime(absl::Now() + options_.timeout));
  // A member that is down or restarting is waited for (up to the deadline),
  // not failed at once: etcd elections take seconds.
  ctx->set_wait_for_ready(true);
  return ctx;
}

absl::StatusOr<std::optional<EtcdValue>> EtcdClient::Get(const std::string& key) {
  etcdserverpb::RangeRequest req;
  req.set_key(key);
  etcdserverpb::RangeResponse resp;
  auto ctx = Context();
  if (auto s = FromGrpc(kv_->Range(ctx.get(), req, &resp), "etcd range"); !s.ok()) return s;
  if (resp.kvs_size() == 0) return std::nullopt;
  const auto& kv = resp.kvs(0);
  return EtcdValue{kv.value(), kv.mod_revision(), kv.create_revision()};
}

absl::StatusOr<std::vector<std::pair<std::string, EtcdValue>>> EtcdClient::Range(const std::string& from,
                                                                                 const std::string& to,
                                                                                 int64_t limit) {
  etcdserverpb::RangeRequest req;
  req.set_key(from);
  req.set_range_end(to);
  req.set_limit(limit);
  req.set_sort_order(etcdserverpb::RangeRequest::ASCEND);
  req.set_sort_target(etcdserverpb::RangeRequest::KEY);
  etcdserverpb::RangeResponse resp;
  auto ctx = Context();
  if (auto s = FromGrpc(kv_->Range(ctx.get(), req, &resp), "etcd range"); !s.ok()) return s;
  std::vector<std::pair<std::string, EtcdValue>> out;
  out.reserve(resp.kvs_size());
  for (const auto& kv : resp.kvs()) {
    out.emplace_back(kv.key(), EtcdValue{kv.value(), kv.mod_revision(), kv.create_revision()});
  }
  return out;
}

absl::Status EtcdClient::Put(const std::string& key, const std::string& value) {
  etcdserverpb::PutRequest req;
  req.set_key(key);
  req.set_value(value);
  etcdserverpb::PutResponse resp;
  auto ctx = Context();
  return FromGrpc(kv_->Put(ctx.get(), req, &resp), "etcd put");
}

absl::StatusOr<EtcdClient::TxnResult> EtcdClient::PutIfUnchanged(
    const std::string& key, int64_t mod_revision, const std::string& fresh,
    const std::vector<std::pair<std::string, std::string>>& puts) {
  etcdserverpb::TxnRequest req;
  auto* cmp = req.add_compare();
  cmp->set_key(key);
  cmp->set_target(etcdserverpb::Compare::MOD);
  cmp->set_result(etcdserverpb::Compare::EQUAL);
  cmp->set_mod_revision(mod_revision);  // 0 for a key that does not exist
  auto* absent = req.add_compare();
  absent->set_key(fresh);
  absent->set_target(etcdserverpb::Compare::CREATE);
  absent->set_result(etcdserverpb::Compare::EQUAL);
  absent->set_create_revision(0);
  for (const auto& [k, v] : puts) {
    auto* put = req.add_success()->mutable_request_put();
    put->set_key(k);
    put->set_value(v);
  }
  req.add_failure()->mutable_request_range()->set_key(fresh);
  etcdserverpb::TxnResponse resp;
  auto ctx = Context();
  if (auto s = FromGrpc(kv_->Txn(ctx.get(), req, &resp), "etcd txn"); !s.ok()) return s;
  TxnResult r{resp.succeeded(), resp.header().revision(), std::nullopt};
  if (!r.succeeded && resp.responses_size() == 1 && resp.responses(0).response_range().kvs_size() > 0) {
    const auto& kv = resp.responses(0).response_range().kvs(0);
    r.fresh_value = EtcdValue{kv.value(), kv.mod_revision(), kv.create_revision()};
  }
  return r;
}

}  // namespace grid::server
