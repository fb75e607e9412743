#!/usr/bin/python3
"""A department's live view of its town, as a department team would write it.

Subscribes to one of gridd's projections for an org-path prefix (its town)
with python3-grpcio: first a snapshot of every row, then each change as the
grid workers' reports arrive, without a gap or a duplicate. Prints one line
per row change.

    ./make_stubs.sh                  # once: generates ./gen from proto/
    ./department_subscriber.py --prefix 350583/101/ [--projection grid_sanitation]

Against a deployed gridd (TLS, and a bearer token or a client certificate
of a principal in its access policy), with the options gridctl takes:

    ./department_subscriber.py --server localhost:7443 --ca ca.crt --token "$GRIDD_TOKEN" ...
    ./department_subscriber.py --server localhost:7443 --ca ca.crt --cert me.crt --key me.key ...

Resuming is the projection's business: a restarted subscriber gets a fresh
snapshot, so it never needs to remember where it was.

Run it with /usr/bin/python3: Debian's python3-grpcio is installed for that
interpreter only.
"""
import argparse
import os
import sys

import grpc

here = os.path.dirname(os.path.abspath(__file__))


def read(path):
    with open(path, "rb") as f:
        return f.read()


def open_channel(args):
    """Plaintext on loopback (gridd's dev mode); else TLS with the caller's
    credentials: a bearer token sent with every call, or a client certificate."""
    if not args.ca:
        return grpc.insecure_channel(args.server)
    creds = grpc.ssl_channel_credentials(
        root_certificates=read(args.ca),
        private_key=read(args.key) if args.key else None,
        certificate_chain=read(args.cert) if args.cert else None)
    if args.token:
        creds = grpc.composite_channel_credentials(creds, grpc.access_token_call_credentials(args.token))
    return grpc.secure_channel(args.server, creds)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--server", default=os.environ.get("GRIDD_ADDR", "127.0.0.1:7443"))
    p.add_argument("--projection", default="grid_sanitation")
    p.add_argument("--prefix", default="", help="org-path prefix of the town, e.g. 350583/101/")
    p.add_argument("--stubs", default=os.path.join(here, "gen"), help="output of make_stubs.sh")
    p.add_argument("--changes", type=int, default=0,
                   help="stop after this many row changes (0: run until interrupted)")
    p.add_argument("--ca", help="CA certificate (PEM) that signed gridd's: use TLS")
    p.add_argument("--token", default=os.environ.get("GRIDD_TOKEN"),
                   help="bearer token (default: $GRIDD_TOKEN); needs --ca")
    p.add_argument("--cert", help="client certificate (PEM), for mutual TLS; needs --ca and --key")
    p.add_argument("--key", help="the client certificate's private key (PEM)")
    args = p.parse_args()
    if (args.token or args.cert) and not args.ca:
        p.error("--token and --cert need --ca: credentials are only sent over TLS")
    if bool(args.cert) != bool(args.key):
        p.error("--cert and --key go together")

    sys.path.insert(0, args.stubs)
    try:
        from grid.v1 import projection_pb2, projection_pb2_grpc
    except ImportError:
        sys.exit(f"department_subscriber: no generated modules in {args.stubs}; run ./make_stubs.sh")
    from google.protobuf import json_format

    channel = open_channel(args)
    stub = projection_pb2_grpc.ProjectionsStub(channel)
    request = projection_pb2.SubscribeProjectionRequest(name=args.projection, prefix=args.prefix)
    snapshot_rows = 0
    changes = 0
    try:
        for message in stub.SubscribeProjection(request):
            if message.snapshot:
                snapshot_rows += len(message.rows)
                if message.snapshot_complete:
                    print(f"snapshot: {snapshot_rows} rows of {args.projection} under "
                          f"'{args.prefix}' as of position {message.position}", flush=True)
                continue
            for row in message.rows:
                changes += 1
                if row.deleted:
                    print(f"{row.position} {row.key} deleted", flush=True)
                else:
                    value = json_format.MessageToDict(row.value, preserving_proto_field_name=True)
                    print(f"{row.position} {row.key} {value}", flush=True)
                if args.changes and changes >= args.changes:
                    return 0
    except grpc.RpcError as e:
        print(f"department_subscriber: {e.code().name}: {e.details()}", file=sys.stderr)
        if e.code() in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
            print("hint: the token or certificate must be a principal of gridd's access policy "
                  "that may read this projection there", file=sys.stderr)
        if e.code() == grpc.StatusCode.UNAVAILABLE:
            print(f"hint: is gridd running on {args.server}? (make run, or --server host:port)",
                  file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
