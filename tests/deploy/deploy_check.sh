#!/usr/bin/env bash
# Checks the deploy files as far as this machine can without systemd as init,
# a Docker engine or a cluster: the unit verifies and scores as hardened; the
# container's staging script works on the built tree and its outputs are what
# the Dockerfile copies; the Kubernetes objects are well formed and agree
# with gridd's configuration (probes on the metrics port, data on the volume).
# usage: deploy_check.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
BUILD=$1
SRC=$2
GRIDD="$BUILD/gridd"
source "$SRC/tests/e2e/gridd_lib.sh"

# ---- systemd
sed "s|/usr/local/bin/gridd|$(readlink -f "$GRIDD")|" "$SRC/deploy/gridd.service" >"$tmp/gridd.service"
check "unit verifies" systemd-analyze verify "$tmp/gridd.service"
exposure=$(systemd-analyze security --offline=true "$tmp/gridd.service" 2>/dev/null |
  sed -n 's/.*Overall exposure level for gridd.service: \([0-9.]*\).*/\1/p')
check "unit is hardened (exposure $exposure, at most 2.0)" \
  awk -v e="$exposure" 'BEGIN { exit !(e != "" && e <= 2.0) }'
exec_flags=$(sed -n 's|^ExecStart=/usr/local/bin/gridd ||p' "$SRC/deploy/gridd.service")
# shellcheck disable=SC2086
check "unit's flags and sample config load" bash -c \
  "\"$GRIDD\" ${exec_flags//\/etc\/gridlog\//$SRC/deploy/} --print-config >/dev/null"
check "sysusers names the unit's user" grep -q '^u gridlog ' "$SRC/deploy/gridlog.sysusers"

# ---- container: the staging step on this build, and what the Dockerfile copies
"$SRC/deploy/stage.sh" "$BUILD" "$tmp/out" >/dev/null
check "staged gridd runs" "$tmp/out/bin/gridd" --help >/dev/null
check "staged gridctl runs" "$tmp/out/bin/gridctl" status --help >/dev/null
check "staged config loads" "$tmp/out/bin/gridd" --config="$tmp/out/etc/gridlog/gridd.json" --print-config >/dev/null
check "staged policy is valid" "$tmp/out/bin/gridd" --config="$tmp/out/etc/gridlog/gridd.json" \
  --policy_file="$tmp/out/etc/gridlog/policy.json" --check-policy
check "staged config listens on all interfaces" grep -q '"listen": "0.0.0.0:7443"' "$tmp/out/etc/gridlog/gridd.json"
check "staged config serves the dashboard" grep -q '"dashboard_listen": "0.0.0.0:7480"' "$tmp/out/etc/gridlog/gridd.json"
check "the container exposes the dashboard's port" grep -q '^EXPOSE .*\b7480\b' "$SRC/deploy/Dockerfile"
check "staged config requires client certificates" \
  grep -q '"tls_client_ca": "/etc/gridlog/tls/ca.crt"' "$tmp/out/etc/gridlog/gridd.json"
# RocksDB is linked into the binaries (CMakeLists.txt); the compression
# libraries it loads are not.
check "runtime packages include gRPC and RocksDB's compression libraries" \
  bash -c "grep -q '^libgrpc++' '$tmp/out/runtime-packages.txt' && grep -q '^libsnappy' '$tmp/out/runtime-packages.txt' && grep -q '^libzstd' '$tmp/out/runtime-packages.txt'"
check "RocksDB is linked in, not loaded" \
  bash -c "! grep -q '^librocksdb' '$tmp/out/runtime-packages.txt'"
check "every runtime package exists in Debian" bash -c \
  "xargs -a '$tmp/out/runtime-packages.txt' dpkg-query -W >/dev/null"
check "Dockerfile builds with build-release.sh" grep -q '^ && ./deploy/build-release.sh /out$' "$SRC/deploy/Dockerfile"
for from in $(sed -n 's|^COPY --from=build /out/\([^ ]*\) .*|\1|p' "$SRC/deploy/Dockerfile"); do
  check "Dockerfile copies staged $from" test -e "$tmp/out/$from"
done
check "Dockerfile runtime is Debian 12" grep -q '^FROM debian:12-slim$' "$SRC/deploy/Dockerfile"

# ---- Kubernetes
check "Kubernetes objects agree with each other and with gridd" \
  /usr/bin/python3 - "$SRC/deploy/k8s/gridd.yaml" "$tmp/k8s.json" <<'PY'
import json, sys, yaml
docs = {d["kind"] + "/" + d["metadata"]["name"]: d for d in yaml.safe_load_all(open(sys.argv[1]))}
sts = docs["StatefulSet/gridd"]
spec = sts["spec"]["template"]["spec"]
c = spec["containers"][0]
ports = {p["name"]: p["containerPort"] for p in c["ports"]}
assert sts["spec"]["replicas"] == 1, "gridd is a single writer"
assert sts["spec"]["serviceName"] in {k.split("/")[1] for k in docs if k.startswith("Service/")}
assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
assert "requests" in c["resources"] and "memory" in c["resources"]["requests"]
mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
assert sts["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "data"
assert spec["securityContext"]["runAsNonRoot"] is True
for svc in ("Service/gridd", "Service/gridd-headless"):
    for p in docs[svc]["spec"]["ports"]:
        assert p["targetPort"] in ports, (svc, p)
cfg = docs["ConfigMap/gridd-config"]["data"]["gridd.json"]
open(sys.argv[2], "w").write(cfg)
open(sys.argv[2] + ".policy", "w").write(docs["ConfigMap/gridd-config"]["data"]["policy.json"])
conf = json.loads(cfg)
assert conf["data_dir"] == mounts["data"], "data_dir must be the volume"
assert int(conf["listen"].rsplit(":", 1)[1]) == ports["grpc"]
assert int(conf["metrics_listen"].rsplit(":", 1)[1]) == ports["metrics"]
assert int(conf["dashboard_listen"].rsplit(":", 1)[1]) == ports["dashboard"]
assert any(p["name"] == "dashboard" for p in docs["Service/gridd"]["spec"]["ports"])
assert c["args"] == ["--config=" + mounts["config"] + "/gridd.json"]
# gRPC beyond loopback: every caller must authenticate, with files from the Secret.
assert conf["tls_cert"] and conf["tls_key"] and (conf.get("tls_client_ca") or conf.get("tokens"))
for k in ("tls_cert", "tls_key", "tls_client_ca"):
    if conf.get(k):
        assert conf[k].startswith(mounts["tls"] + "/"), k
# ... and a policy from the ConfigMap.
assert conf["policy_file"] == mounts["config"] + "/policy.json", conf.get("policy_file")
secrets = [v["secret"]["secretName"] for v in spec["volumes"] if "secret" in v]
assert secrets == ["gridd-tls"], secrets
PY
check "the ConfigMap's config loads" "$GRIDD" --config="$tmp/k8s.json" --print-config >/dev/null

# ---- Kubernetes, cluster mode: 3 etcd members and 3 gridd nodes
check "the cluster's objects agree with each other and with gridd" \
  /usr/bin/python3 - "$SRC/deploy/k8s/gridd-cluster.yaml" "$tmp/k8s-cluster.json" <<'PY'
import json, sys, yaml
docs = {d["kind"] + "/" + d["metadata"]["name"]: d for d in yaml.safe_load_all(open(sys.argv[1]))}
etcd, gridd = docs["StatefulSet/etcd"], docs["StatefulSet/gridd"]
assert etcd["spec"]["replicas"] == 3 and gridd["spec"]["replicas"] == 3
assert docs["PodDisruptionBudget/etcd"]["spec"]["minAvailable"] == 2, "a majority of etcd stays up"
assert docs["PodDisruptionBudget/gridd"]["spec"]["maxUnavailable"] == 1
for sts in (etcd, gridd):  # one per machine
    anti = sts["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]
    assert anti["requiredDuringSchedulingIgnoredDuringExecution"][0]["topologyKey"] == "kubernetes.io/hostname"
e = etcd["spec"]["template"]["spec"]["containers"][0]["command"]
for flag in ("--client-cert-auth", "--peer-client-cert-auth", "--max-request-bytes=8388608"):
    assert flag in e, flag
assert all(u.startswith("https://") for f in e if f.startswith("--listen-") for u in [f.split("=", 1)[1]])
members = [m.split("=", 1)[0] for m in next(f for f in e if f.startswith("--initial-cluster=")).split("=", 1)[1].split(",")]
assert members == ["etcd-0", "etcd-1", "etcd-2"], members
cfg = json.loads(docs["ConfigMap/gridd-cluster-config"]["data"]["gridd.json"])
assert cfg["cluster"] == "etcd:2379", "gridd dials the etcd Service"
spec = gridd["spec"]["template"]["spec"]
c = spec["containers"][0]
mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
for k in ("etcd_ca", "etcd_cert", "etcd_key"):
    assert cfg[k].startswith(mounts["etcd-client"] + "/"), k
assert "--node_id=$(POD_NAME)" in c["args"] and "--advertise=$(POD_NAME).gridd-headless:7443" in c["args"]
assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
init = spec["initContainers"][0]
assert "/var/lib/gridlog/person_key" in init["command"][-1] and cfg["data_dir"] == "/var/lib/gridlog"
policy = json.loads(docs["ConfigMap/gridd-cluster-config"]["data"]["policy.json"])
assert {"principal": "gridd", "role": "CLUSTER_NODE"} in policy["principals"], "the nodes' certificate"
cfg["node_id"] = "gridd-0"
cfg["advertise"] = "gridd-0.gridd-headless:7443"
open(sys.argv[2], "w").write(json.dumps(cfg))
open(sys.argv[2] + ".policy", "w").write(json.dumps(policy))
PY
check "the cluster ConfigMap's config loads" "$GRIDD" --config="$tmp/k8s-cluster.json" --print-config >/dev/null
check "the cluster ConfigMap's policy is valid" "$GRIDD" --config="$tmp/k8s-cluster.json" \
  --policy_file="$tmp/k8s-cluster.json.policy" --check-policy
check "the ConfigMap's policy is valid" "$GRIDD" --config="$tmp/k8s.json" \
  --policy_file="$tmp/k8s.json.policy" --check-policy
finish "deploy check"
