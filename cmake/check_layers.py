#!/usr/bin/env python3
"""The layering of gridd's code, checked on every build.

Each file belongs to one layer (the libraries of CMakeLists.txt); a file may
include headers of its own layer and of the layers it depends on, directly or
through others, and nothing else: an #include that reaches up or sideways is
an error naming the file, the line and the layer it reached. The gRPC-free
layers (what the unit tests and a TSan build link) may not include gRPC.

usage: check_layers.py SOURCE_DIR
"""
import fnmatch
import os
import re
import sys

# layer: (files, the layers it may include). Lower layers first.
LAYERS = [
    ("storage", ["storage/*"], []),
    ("domain", ["domain/*", "domain/aggregates/*", "domain/projections/*"], ["storage"]),
    ("access_core", ["server/access/access_policy.*", "server/access/redact.*"], ["domain"]),
    ("log_core", ["server/log/sequencer.*", "server/log/live_tail.*", "server/log/validation.*",
                  "server/log/filter.*", "server/log/checkpointer.*", "server/log/admission.*",
                  "server/log/cluster_role.*"],
     ["access_core", "domain"]),
    ("projections_core", ["server/projections/projector.*"], ["domain"]),
    ("ops", ["server/ops/*"], ["storage"]),
    ("rpc", ["server/rpc/*"], ["storage"]),
    ("access", ["server/access/*"], ["access_core", "ops", "rpc"]),
    ("service", ["server/service/*"], ["log_core", "access"]),
    ("log_service", ["server/log/*"], ["service"]),
    ("projection_service", ["server/projections/*"], ["projections_core", "service"]),
    ("admin", ["server/admin/*"], ["service", "projections_core"]),
    ("cluster", ["server/cluster/*"], ["rpc", "log_core", "service"]),
    ("dashboard", ["server/dashboard/*"], ["projection_service", "service"]),
    ("server", ["server/*"], ["log_service", "projection_service", "admin", "cluster", "dashboard"]),
    ("client", ["client/*"], ["domain"]),
]
NO_GRPC = {"storage", "domain", "access_core", "log_core", "projections_core", "ops"}
INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')


def layer_of(path):
    for name, patterns, _ in LAYERS:
        if any(fnmatch.fnmatchcase(path, p) and "/" not in path[len(p.rsplit("/", 1)[0]) + 1:]
               for p in patterns):
            return name
    return None


def reachable():
    deps = {name: set(d) for name, _, d in LAYERS}
    out = {}
    for name in deps:
        seen, todo = {name}, list(deps[name])
        while todo:
            d = todo.pop()
            if d not in seen:
                seen.add(d)
                todo.extend(deps[d])
        out[name] = seen
    return out


def main():
    root = sys.argv[1]
    allowed = reachable()
    errors = []
    for top in ("storage", "domain", "server", "client"):
        for dirpath, _, files in os.walk(os.path.join(root, top)):
            for f in sorted(files):
                if not f.endswith((".h", ".cc")):
                    continue
                rel = os.path.relpath(os.path.join(dirpath, f), root)
                mine = layer_of(rel)
                if mine is None:
                    errors.append(f"{rel}: in no layer (add it to cmake/check_layers.py)")
                    continue
                with open(os.path.join(root, rel), encoding="utf-8") as src:
                    for n, line in enumerate(src, 1):
                        m = INCLUDE.match(line)
                        if not m:
                            continue
                        target = m.group(2)
                        if mine in NO_GRPC and (target.startswith("grpc") or ".grpc.pb.h" in target):
                            errors.append(f"{rel}:{n}: layer {mine} has no gRPC; includes {target}")
                        # Our headers, however written: from the root ("server/x.h"
                        # or <server/x.h>) or beside the file ("x.h").
                        beside = os.path.relpath(os.path.join(os.path.dirname(rel), target))
                        if os.path.exists(os.path.join(root, target)):
                            pass
                        elif m.group(1) == '"' and os.path.exists(os.path.join(root, beside)):
                            target = beside
                        else:
                            continue
                        theirs = layer_of(target)
                        if theirs not in allowed[mine]:
                            errors.append(f"{rel}:{n}: layer {mine} may not include {target} "
                                          f"(layer {theirs})")
    for e in errors:
        print(e, file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
