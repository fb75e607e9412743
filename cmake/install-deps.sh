#!/usr/bin/env bash
# Installs the Debian packages gridlog builds and tests with, if any is missing.
# Idempotent: when everything is present it only runs dpkg-query (well under a second).
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config ccache
  libgrpc++-dev libgrpc-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler grpc-proto
  librocksdb-dev libboost-dev libboost-program-options-dev libssl-dev
  libgtest-dev libgmock-dev libbenchmark-dev libspdlog-dev prometheus-cpp-dev libjemalloc-dev
  python3-grpcio curl
  clang libclang-rt-14-dev
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js and npm for the Node client example (client/examples/node): the
# machine's own if it has them, else Debian's.
command -v node >/dev/null && command -v npm >/dev/null || missing+=(nodejs npm)
[ ${#missing[@]} -eq 0 ] && exit 0

echo "Installing missing packages: ${missing[*]}"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
