#!/usr/bin/env bash
# The container's build stage as a script (the Dockerfile runs exactly this,
# and CI runs it too): installs the build packages, builds gridd and gridctl
# optimized and without tests, and stages them with deploy/stage.sh.
# usage: deploy/build-release.sh OUT_DIR
#   GRID_BUILD_DIR=DIR  build there (default build-release; CI points it at
#                       the tree `make test` built to save a second build)
set -euo pipefail
cd "$(dirname "$0")/.."
out=$1
build=${GRID_BUILD_DIR:-build-release}
./cmake/install-deps.sh --build-only
[ -f "$build/build.ninja" ] || cmake -S . -B "$build" -G Ninja \
  -DCMAKE_BUILD_TYPE=Release -DGRID_BUILD_TESTS=OFF
cmake --build "$build" --target gridd gridctl
./deploy/stage.sh "$build" "$out"
