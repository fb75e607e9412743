#include "server/cluster/etcd_client.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>

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
  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
  if (!options.ca.empty()) {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = options.ca;
    ssl.pem_cert_chain = options.cert;
    ssl.pem_private_key = options.key;
    credentials = grpc::SslCredentials(ssl);
    if (options.endpoints.size() > 1) {
      const std::string& first = options.endpoints[0];
      args.SetSslTargetNameOverride(first.substr(0, first.rfind(':')));
    }
  }
  auto channel = grpc::CreateCustomChannel(target, credentials, args);
  return std::unique_ptr<EtcdClient>(new EtcdClient(std::move(options), std::move(channel), credentials));
}

EtcdClient::EtcdClient(EtcdOptions options, std::shared_ptr<grpc::Channel> channel,
                       std::shared_ptr<grpc::ChannelCredentials> credentials)
    : options_(std::move(options)),
      channel_(std::move(channel)),
      kv_(etcdserverpb::KV::NewStub(channel_)),
      lease_(etcdserverpb::Lease::NewStub(channel_)),
      watch_(etcdserverpb::Watch::NewStub(channel_)),
      maintenance_(etcdserverpb::Maintenance::NewStub(channel_)),
      credentials_(std::move(credentials)) {}

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
  return EtcdValue{kv.value(), kv.mod_revision(), kv.create_revision(), kv.lease()};
}

absl::StatusOr<std::vector<std::pair<std::string, EtcdValue>>> EtcdClient::Range(const std::string& from,
                                                                                 const std::string& to,
                                                                                 int64_t limit,
                                                                                 int64_t* revision) {
  etcdserverpb::RangeRequest req;
  req.set_key(from);
  req.set_range_end(to);
  req.set_limit(limit);
  req.set_sort_order(etcdserverpb::RangeRequest::ASCEND);
  req.set_sort_target(etcdserverpb::RangeRequest::KEY);
  etcdserverpb::RangeResponse resp;
  auto ctx = Context();
  if (auto s = FromGrpc(kv_->Range(ctx.get(), req, &resp), "etcd range"); !s.ok()) return s;
  if (revision != nullptr) *revision = resp.header().revision();
  std::vector<std::pair<std::string, EtcdValue>> out;
  out.reserve(resp.kvs_size());
  for (const auto& kv : resp.kvs()) {
    out.emplace_back(kv.key(), EtcdValue{kv.value(), kv.mod_revision(), kv.create_revision(), kv.lease()});
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

absl::StatusOr<std::vector<std::string>> EtcdClient::RangeKeys(const std::string& from, const std::string& to,
                                                               int64_t limit, bool descending) {
  etcdserverpb::RangeRequest req;
  req.set_key(from);
  req.set_range_end(to);
  req.set_limit(limit);
  req.set_keys_only(true);
  req.set_sort_order(descending ? etcdserverpb::RangeRequest::DESCEND : etcdserverpb::RangeRequest::ASCEND);
  req.set_sort_target(etcdserverpb::RangeRequest::KEY);
  etcdserverpb::RangeResponse resp;
  auto ctx = Context();
  if (auto s = FromGrpc(kv_->Range(ctx.get(), req, &resp), "etcd range"); !s.ok()) return s;
  std::vector<std::string> out;
  out.reserve(resp.kvs_size());
  for (const auto& kv : resp.kvs()) out.push_back(kv.key());
  return out;
}

absl::StatusOr<int64_t> EtcdClient::DeleteRange(const std::string& from, const std::string& to) {
  etcdserverpb::DeleteRangeRequest req;
  req.set_key(from);
  req.set_range_end(to);
  etcdserverpb::DeleteRangeResponse resp;
  auto ctx = Context();
  if (auto s = FromGrpc(kv_->DeleteRange(ctx.get(), req, &resp), "etcd delete"); !s.ok()) return s;
  return resp.header().revision();
}

absl::Status EtcdClient::Compact(int64_t revision) {
  etcdserverpb::CompactionRequest req;
  req.set_revision(revision);
  etcdserverpb::CompactionResponse resp;
  auto ctx = Context();
  grpc::Status s = kv_->Compact(ctx.get(), req, &resp);
  // Compacted already (by another writer, or etcd's own auto-compaction).
  if (s.error_code() == grpc::StatusCode::OUT_OF_RANGE) return absl::OkStatus();
  return FromGrpc(s, "etcd compact");
}

absl::Status EtcdClient::DefragmentMembers(std::vector<std::pair<int64_t, int64_t>>* sizes) {
  absl::Status first;
  for (const std::string& e : options_.endpoints) {
    grpc::ChannelArguments args;
    if (!options_.ca.empty() && !options_.endpoints.empty()) {
      const std::string& name = options_.endpoints[0];
      if (options_.endpoints.size() > 1) args.SetSslTargetNameOverride(name.substr(0, name.rfind(':')));
    }
    auto stub = etcdserverpb::Maintenance::NewStub(grpc::CreateCustomChannel(e, credentials_, args));
    auto size = [&]() -> int64_t {
      etcdserverpb::StatusResponse st;
      auto ctx = Context();
      return stub->Status(ctx.get(), {}, &st).ok() ? st.dbsize() : -1;
    };
    const int64_t before = size();
    etcdserverpb::DefragmentResponse resp;
    grpc::ClientContext ctx;
    // A defragment rewrites the member's database: give it time.
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Minutes(2)));
    absl::Status s = FromGrpc(stub->Defragment(&ctx, {}, &resp), absl::StrCat("etcd defragment of ", e));
    if (first.ok()) first = s;
    if (sizes != nullptr) sizes->emplace_back(before, size());
  }
  return first;
}

absl::StatusOr<int64_t> EtcdClient::DatabaseSize() {
  etcdserverpb::StatusResponse resp;
  auto ctx = Context();
  if (auto s = FromGrpc(maintenance_->Status(ctx.get(), {}, &resp), "etcd status"); !s.ok()) return s;
  return resp.dbsize();
}

absl::StatusOr<bool> EtcdClient::IsLeader() {
  etcdserverpb::StatusResponse resp;
  auto ctx = Context();
  if (auto s = FromGrpc(maintenance_->Status(ctx.get(), {}, &resp), "etcd status"); !s.ok()) return s;
  return resp.leader() != 0 && resp.leader() == resp.header().member_id();
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
    r.fresh_value = EtcdValue{kv.value(), kv.mod_revision(), kv.create_revision(), kv.lease()};
  }
  return r;
}

absl::StatusOr<bool> EtcdClient::PutIfAbsent(const std::string& key, const std::string& value, int64_t lease,
                                             std::optional<EtcdValue>* holder) {
  etcdserverpb::TxnRequest req;
  auto* absent = req.add_compare();
  absent->set_key(key);
  absent->set_target(etcdserverpb::Compare::CREATE);
  absent->set_result(etcdserverpb::Compare::EQUAL);
  absent->set_create_revision(0);
  auto* put = req.add_success()->mutable_request_put();
  put->set_key(key);
  put->set_value(value);
  put->set_lease(lease);
  req.add_failure()->mutable_request_range()->set_key(key);
  etcdserverpb::TxnResponse resp;
  auto ctx = Context();
  if (auto s = FromGrpc(kv_->Txn(ctx.get(), req, &resp), "etcd txn"); !s.ok()) return s;
  holder->reset();
  if (!resp.succeeded() && resp.responses_size() == 1 && resp.responses(0).response_range().kvs_size() > 0) {
    const auto& kv = resp.responses(0).response_range().kvs(0);
    *holder = EtcdValue{kv.value(), kv.mod_revision(), kv.create_revision(), kv.lease()};
  }
  return resp.succeeded();
}

absl::StatusOr<int64_t> EtcdClient::GrantLease(absl::Duration ttl) {
  etcdserverpb::LeaseGrantRequest req;
  req.set_ttl(std::max<int64_t>(1, absl::ToInt64Seconds(ttl)));
  etcdserverpb::LeaseGrantResponse resp;
  auto ctx = Context();
  if (auto s = FromGrpc(lease_->LeaseGrant(ctx.get(), req, &resp), "etcd lease grant"); !s.ok()) return s;
  if (!resp.error().empty()) return absl::UnavailableError(absl::StrCat("etcd lease grant: ", resp.error()));
  return resp.id();
}

absl::StatusOr<absl::Duration> EtcdClient::KeepAlive(int64_t lease) {
  auto ctx = Context();
  auto stream = lease_->LeaseKeepAlive(ctx.get());
  etcdserverpb::LeaseKeepAliveRequest req;
  req.set_id(lease);
  etcdserverpb::LeaseKeepAliveResponse resp;
  const bool answered = stream->Write(req) && stream->Read(&resp);
  stream->WritesDone();
  if (!answered) {
    ctx->TryCancel();
    grpc::Status st = stream->Finish();
    return FromGrpc(st.ok() ? grpc::Status(grpc::StatusCode::UNAVAILABLE, "no answer") : st,
                    "etcd keepalive");
  }
  ctx->TryCancel();  // one renewal per stream: end it without waiting
  stream->Finish().ok();
  if (resp.ttl() <= 0) return absl::NotFoundError(absl::StrCat("etcd lease ", lease, " expired"));
  return absl::Seconds(resp.ttl());
}

absl::Status EtcdClient::RevokeLease(int64_t lease) {
  etcdserverpb::LeaseRevokeRequest req;
  req.set_id(lease);
  etcdserverpb::LeaseRevokeResponse resp;
  auto ctx = Context();
  return FromGrpc(lease_->LeaseRevoke(ctx.get(), req, &resp), "etcd lease revoke");
}

struct EtcdClient::Watch::State {
  grpc::ClientContext ctx;
  bool finished = false;
  std::unique_ptr<grpc::ClientReaderWriter<etcdserverpb::WatchRequest, etcdserverpb::WatchResponse>> stream;
};

EtcdClient::Watch::Watch(std::unique_ptr<State> state) : state_(std::move(state)) {}

EtcdClient::Watch::~Watch() {
  state_->ctx.TryCancel();
  if (!state_->finished) state_->stream->Finish().ok();
}

void EtcdClient::Watch::Cancel() { state_->ctx.TryCancel(); }

absl::StatusOr<std::vector<EtcdClient::Watch::Change>> EtcdClient::Watch::Next() {
  etcdserverpb::WatchResponse resp;
  for (;;) {
    if (!state_->stream->Read(&resp)) {
      grpc::Status st = state_->stream->Finish();
      state_->finished = true;
      if (st.ok()) st = grpc::Status(grpc::StatusCode::UNAVAILABLE, "the watch stream ended");
      return FromGrpc(st, "etcd watch");
    }
    if (resp.compact_revision() > 0) {
      return absl::OutOfRangeError(
          absl::StrCat("etcd watch: revisions before ", resp.compact_revision(), " were compacted"));
    }
    if (resp.canceled()) {
      return absl::UnavailableError(absl::StrCat("etcd watch cancelled: ", resp.cancel_reason()));
    }
    if (resp.events_size() > 0) break;  // else: created, or progress
  }
  std::vector<Change> out;
  out.reserve(resp.events_size());
  for (const auto& e : resp.events()) {
    Change c;
    c.key = e.kv().key();
    c.deleted = e.type() == mvccpb::Event::DELETE;
    c.value = EtcdValue{e.kv().value(), e.kv().mod_revision(), e.kv().create_revision(), e.kv().lease()};
    out.push_back(std::move(c));
  }
  return out;
}

absl::StatusOr<std::unique_ptr<EtcdClient::Watch>> EtcdClient::WatchRange(const std::string& from,
                                                                          const std::string& to,
                                                                          int64_t start_revision) {
  auto state = std::make_unique<Watch::State>();
  state->ctx.set_wait_for_ready(true);
  // A member cut off from its cluster's leader ends the watch instead of
  // leaving it silent (etcd's "require leader"): the node reads and watches
  // again through a member that has one.
  state->ctx.AddMetadata("hasleader", "true");
  state->stream = watch_->Watch(&state->ctx);
  etcdserverpb::WatchRequest req;
  auto* create = req.mutable_create_request();
  create->set_key(from);
  create->set_range_end(to);
  create->set_start_revision(start_revision);
  if (!state->stream->Write(req)) {
    grpc::Status st = state->stream->Finish();
    state->finished = true;
    return FromGrpc(st.ok() ? grpc::Status(grpc::StatusCode::UNAVAILABLE, "no answer") : st, "etcd watch");
  }
  return std::unique_ptr<Watch>(new Watch(std::move(state)));
}

}  // namespace grid::server
