#!/usr/bin/env bash
# Generates the Python modules for gridlog's API from proto/ with Debian's
# protoc and grpc_python_plugin (packages protobuf-compiler and
# protobuf-compiler-grpc; python3-grpcio and python3-protobuf to run them).
# usage: make_stubs.sh [OUT_DIR]   (default: ./gen beside this script)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
proto=${GRIDLOG_PROTO:-$here/../../../proto}
out=${1:-$here/gen}
mkdir -p "$out"
protoc --proto_path="$proto" --python_out="$out" --grpc_out="$out" \
  --plugin=protoc-gen-grpc="$(command -v grpc_python_plugin)" \
  "$proto"/grid/v1/*.proto
echo "$out"
