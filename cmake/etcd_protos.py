#!/usr/bin/env python3
"""etcd's v3 API protos, as Debian's golang-etcd-server-dev ships them, made
fit for protoc's C++ generator: the gogoproto and grpc-gateway options (Go
code generation and the HTTP gateway, neither of which C++ needs, and whose
.proto files Debian does not ship) are removed; messages, fields and services
are left exactly as etcd defines them, so the wire format is etcd's own.

usage: etcd_protos.py ETCD_SOURCE_DIR OUT_DIR
  ETCD_SOURCE_DIR  e.g. /usr/share/gocode/src/go.etcd.io/etcd
  OUT_DIR          receives etcd/{etcdserver/etcdserverpb/rpc,mvcc/mvccpb/kv,auth/authpb/auth}.proto
"""
import os
import re
import sys

FILES = ["etcdserver/etcdserverpb/rpc.proto", "mvcc/mvccpb/kv.proto", "auth/authpb/auth.proto"]


def clean(text):
    text = re.sub(r'^import "(gogoproto/gogo|google/api/annotations)\.proto";\n', "", text, flags=re.M)
    text = re.sub(r"^option \(gogoproto\.[^;]*;\n", "", text, flags=re.M)
    # option (google.api.http) = { ... };  (braces may nest)
    while True:
        m = re.search(r"\s*option \(google\.api\.http\) = \{", text)
        if not m:
            break
        depth, i = 1, m.end()
        while depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        if text[i] == ";":
            i += 1
        text = text[: m.start()] + text[i:]
    # field options: [(gogoproto.nullable) = false, ...]
    text = re.sub(r"\s*\[\(gogoproto\.[^\]]*\]", "", text)
    return text


def main():
    src, out = sys.argv[1], sys.argv[2]
    for rel in FILES:
        with open(os.path.join(src, rel), encoding="utf-8") as f:
            text = clean(f.read())
        if "gogoproto" in text or "google.api" in text:
            print(f"{rel}: an option this script does not know is left", file=sys.stderr)
            return 1
        dst = os.path.join(out, "etcd", rel)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        # Only rewrite when changed, so that protoc does not rerun.
        old = None
        if os.path.exists(dst):
            with open(dst, encoding="utf-8") as f:
                old = f.read()
        if old != text:
            with open(dst, "w", encoding="utf-8") as f:
                f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
