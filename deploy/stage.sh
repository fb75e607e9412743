#!/usr/bin/env bash
# Stages a built gridd for installation: OUT/bin/{gridd,gridctl},
# OUT/etc/gridlog/gridd.json (configured for a container: gRPC with mutual
# TLS and metrics on all interfaces, data in /var/lib/gridlog, JSON logs), and
# OUT/runtime-packages.txt, the Debian packages that hold the shared
# libraries the binaries load (found with ldd and dpkg -S), which the
# Dockerfile's runtime stage installs.
#
# The Dockerfile runs it after building; CI runs it on the tree `make test`
# built (tests/deploy/deploy_check.sh), so the two cannot drift apart.
# usage: deploy/stage.sh BUILD_DIR OUT_DIR
set -euo pipefail
build=$1
out=$2
src=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$out/bin" "$out/etc/gridlog"
install -m 0755 "$build/gridd" "$build/gridctl" "$out/bin/"
strip --strip-debug "$out/bin/gridd" "$out/bin/gridctl" 2>/dev/null || true
# Serving beyond loopback needs authentication: mutual TLS with the
# certificate files a Kubernetes TLS Secret (or a mounted folder) provides in
# /etc/gridlog/tls; bearer tokens can be added in a config file of one's own.
# And an access policy: without one, every authenticated caller could do
# everything, which gridd refuses beyond loopback.
"$out/bin/gridd" --config="$src/deploy/gridd.json" \
  --listen=0.0.0.0:7443 --metrics_listen=0.0.0.0:9464 --dashboard_listen=0.0.0.0:7480 \
  --tls_cert=/etc/gridlog/tls/tls.crt --tls_key=/etc/gridlog/tls/tls.key \
  --tls_client_ca=/etc/gridlog/tls/ca.crt --policy_file=/etc/gridlog/policy.json --print-config \
  >"$out/etc/gridlog/gridd.json"
# The sample access policy; mount your own over it.
install -m 0644 "$src/deploy/policy.json" "$out/etc/gridlog/policy.json"
# The packages of every shared library outside glibc's own.
for bin in "$out/bin/gridd" "$out/bin/gridctl"; do
  ldd "$bin" | awk '/=> \// { print $3 }'
done | sort -u | while read -r lib; do
  dpkg -S "$(readlink -f "$lib")" 2>/dev/null || dpkg -S "$lib"
done | cut -d: -f1 | sort -u | grep -v -x -e libc6 -e libgcc-s1 -e libstdc++6 \
  >"$out/runtime-packages.txt"
echo "staged in $out: $(wc -l <"$out/runtime-packages.txt") runtime packages"
