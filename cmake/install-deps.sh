#!/usr/bin/env bash
# Installs the Debian packages gridlog builds and tests with, if any is missing.
# Idempotent: when everything is present it only runs dpkg-query (well under a second).
set -euo pipefail

# --build-only: just what building gridd and gridctl needs (the container's
# build stage), without the test, sanitizer and example-client tools.
BUILD_ONLY=0
[ "${1:-}" = "--build-only" ] && BUILD_ONLY=1

BUILD_PACKAGES=(
  build-essential cmake ninja-build pkg-config ccache
  libgrpc++-dev libgrpc-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler grpc-proto
  librocksdb-dev libboost-dev libboost-program-options-dev libssl-dev
  libspdlog-dev prometheus-cpp-dev libjemalloc-dev
  golang-etcd-server-dev  # etcd's .proto files: cluster mode's etcd client
  libzstd-dev  # cluster mode: batches are stored in etcd compressed
)
# Tests, sanitizers and fuzzing, the example clients, the deploy checks.
TEST_PACKAGES=(
  libgtest-dev libgmock-dev libbenchmark-dev
  clang libclang-rt-14-dev clang-tidy clang-format
  python3-grpcio python3-protobuf python3-yaml curl systemd openssl
  prometheus  # promtool: /metrics is checked against Prometheus' own linter
  gnuplot-nox  # bench/compare.py draws the curves (checked by bench_compare_table)
  etcd-server  # cluster mode's tests start real etcd members
  chromium chromium-driver python3-selenium fonts-noto-cjk  # the dashboard's browser tests
)
PACKAGES=("${BUILD_PACKAGES[@]}")
[ "$BUILD_ONLY" -eq 1 ] || PACKAGES+=("${TEST_PACKAGES[@]}")
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js and npm for the Node client example (client/examples/node): the
# machine's own if it has them, else Debian's.
if [ "$BUILD_ONLY" -eq 0 ] && ! { command -v node && command -v npm; } >/dev/null; then
  missing+=(nodejs npm)
fi
[ ${#missing[@]} -eq 0 ] && exit 0

echo "Installing missing packages: ${missing[*]}"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
