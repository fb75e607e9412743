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
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"gridctl {' '.join(args[:3])} as {principal}: {r.stderr.strip()}")
    return r.stdout


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


def split_clock(rows):
    """Takes out what a read derives from the clock rather than the log (an
    incident's overdue and minutes_overdue) and returns it apart: two reads a
    moment apart see the same rows, but minutes that may have grown between
    them. Maps key -> minutes overdue, None when not overdue."""
    minutes = {}
    for k, r in rows.items():
        b = r.get("value", {}).get("incident_board")
        if b is None:
            continue
        overdue = b.pop("overdue", False)
        m = int(b.pop("minutes_overdue", 0))
        minutes[k] = m if overdue else None
    return minutes


def clock_drift(first, then, elapsed_s):
    """The first key whose clock-derived reading in `then` (read elapsed_s
    seconds after `first`) could not follow from `first`: overdue-ness never
    goes back, and minutes grow by no more than the minutes that passed."""
    limit = int(elapsed_s // 60) + 1
    for k in sorted(set(first) | set(then)):
        a, b = first.get(k), then.get(k)
        if a is None and b is None:
            continue
        if b is None or (a is not None and not 0 <= b - a <= limit) or (a is None and b > limit):
            return k
    return None


# ------------------------------------------------------------ the browser

def spki_hash(cert):
    """The base64 SHA-256 of the certificate's public key: Chromium trusts
    exactly that key (--ignore-certificate-errors-spki-list), nothing else."""
    pub = subprocess.run(["openssl", "x509", "-in", cert, "-pubkey", "-noout"], check=True, capture_output=True).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "der"], input=pub, check=True,
                         capture_output=True).stdout
    import base64
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


def browser():
    o = webdriver.ChromeOptions()
    o.binary_location = CHROMIUM
    for a in ["--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,1000", "--lang=zh-CN",
              "--disable-background-networking", "--disable-component-update", "--no-first-run",
              "--disable-sync", "--disable-default-apps",
              "--ignore-certificate-errors-spki-list=" + spki_hash(os.path.join(AUTH, "tls.crt"))]:
        o.add_argument(a)
    o.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    from selenium.webdriver.chrome.service import Service
    return webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=o)


BASE = None


def wait_ready(d, timeout=60):
    WebDriverWait(d, timeout).until(lambda x: x.execute_script("return document.body.dataset.ready") == "1")


def sign_in_page(d, principal):
    d.get(BASE + "/")
    WebDriverWait(d, 30).until(lambda x: x.find_element(By.ID, "token").is_displayed())
    d.find_element(By.ID, "token").send_keys(TOKENS[principal])
    d.find_element(By.ID, "signin").click()
    wait_ready(d)


def shot(d, name):
    path = os.path.join(ARTIFACTS, name + ".png")
    d.save_screenshot(path)
    return path


def kpi(d, kid):
    """A KPI's number and where it came from, read in one step (the page may
    redraw between two WebDriver calls)."""
    return d.execute_script(
        "const e = document.querySelector(`[data-kpi=${arguments[0]}]`);"
        "return {text: e.textContent.trim(), position: e.dataset.position || '', key: e.dataset.key || '',"
        " projection: e.dataset.projection || ''};", kid)


def kpi_at_least(d, kid, position):
    """The KPI once it shows a number computed at `position` or later."""
    k = kpi(d, kid)
    return k if k["position"] and int(k["position"]) >= position and k["text"] not in ("…", "") else None


def feed_log(d):
    return d.execute_script("return window.gridlog.feedLog.slice()")


def console_errors(d):
    return [e for e in d.get_log("browser") if e["level"] == "SEVERE"]


def hosts_requested(d):
    out = set()
    for e in d.get_log("performance"):
        m = json.loads(e["message"])["message"]
        if m.get("method") == "Network.requestWillBeSent":
            u = urllib.parse.urlparse(m["params"]["request"]["url"])
            if u.scheme in ("http", "https", "ws", "wss"):
                out.add(u.hostname)
    return out


def wait_until(pred, timeout=60, step=0.2):
    """Polls a condition the page will reach (the signal is its state, not time)."""
    end = time.time() + timeout
    while time.time() < end:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()


def county_kpis_match(d, principal):
    """Each population KPI on screen equals gridctl's row at the position shown."""
    for kid, field in (("households", "households"), ("residents", "residents")):
        k = kpi(d, kid)
        if not k["position"]:
            check(f"{principal}: KPI {kid} names its position", False, str(k))
            continue
        rows = rows_by_key(projection_at(principal, "population", k["key"], int(k["position"])))
        row = rows.get(k["key"], {})
        body = row.get("value", {}).get("population", {})
        if field in row.get("suppressed", []) or f"population.{field}" in row.get("suppressed", []):
            want = {"<5", "—"}
        else:
            want = {str(body.get(field, "0"))}
        check(f"{principal}: KPI {kid} = gridctl projection get population --at {k['position']}",
              k["text"] in want, f"page {k['text']!r}, gridctl {want}")
    k = kpi(d, "devices_with_gaps")
    rows = rows_by_key(projection_at(principal, "device_gaps", k["key"], int(k["position"])))
    gaps = sum(1 for r in rows.values() if int(r.get("value", {}).get("device_gaps", {}).get("missing_count", 0)) > 0)
    check(f"{principal}: KPI devices_with_gaps = gridctl's at {k['position']}", k["text"] == str(gaps),
          f"page {k['text']!r}, gridctl {gaps}")
    k = kpi(d, "open_findings")
    rows = rows_by_key(projection_at(principal, "grid_sanitation", k["key"], int(k["position"])))
    findings = sum(int(r.get("value", {}).get("grid_sanitation", {}).get("open_finding_count", 0)) for r in rows.values())
    check(f"{principal}: KPI open_findings = gridctl's at {k['position']}", k["text"] == str(findings),
          f"page {k['text']!r}, gridctl {findings}")


GRID = "350583/101/201/g01"


def household(hid, kind, name, token):
    """A HouseholdCreated in GRID, appended by its grid worker; its position."""
    e = {"event_id": hid, "type": "HouseholdCreated", "org_path": GRID,
         "household_created": {"household_id": hid, "kind": kind, "org_path": GRID, "address_id": "a-" + hid,
                               "house_number": "99", "head": {"name": name, "person_token": token},
                               "source": "GRID_VISIT", "head_residence": "REGISTERED_RESIDENT"}}
    out = gridctl("worker-w-1", "append", "--stream", "household/" + hid, json.dumps(e, ensure_ascii=False),
                  "--output", "json")
    return int(json.loads(out.splitlines()[-1])["results"][0]["position"])


def browser_checks():
    global BASE
    BASE = f"https://localhost:{DASH_PORT}"
    names = set()
    # Every name in the county, as the auditor (C4) sees them: none may reach
    # a count-only leader.
    roster = json.loads(gridctl("county-auditor", "projection", "get", "household_roster", "--prefix", "350583",
                                "--output", "json"))
    for r in roster.get("rows", []):
        for m in r.get("value", {}).get("household_roster", {}).get("members", []):
            if m.get("name"):
                names.add(m["name"])
    check("the county has names to leak", len(names) > 10, str(len(names)))

    d = browser()
    try:
        # ---- a bad token: refused on the page too
        d.get(BASE + "/")
        WebDriverWait(d, 30).until(lambda x: x.find_element(By.ID, "token").is_displayed())
        d.find_element(By.ID, "token").send_keys("not-a-token")
        d.find_element(By.ID, "signin").click()
        WebDriverWait(d, 30).until(lambda x: x.find_element(By.ID, "signin-error").text.strip() != "")
        check("a bad token: the page says so", d.find_element(By.ID, "signin-error").text.strip() != "")
        shot(d, "01-bad-token")
        # Chromium logs the refused request (401) as a console error: the
        # only one expected.
        errs = [e for e in console_errors(d) if "401" not in e["message"]]
        check("no console errors on the sign-in page", not errs, str(errs))

        # The county's grid office puts worker w-1 on a grid, and w-1 registers
        # a collective household there: one, a count a leader gets as "<5".
        gridctl("county-grid-office", "append", "--stream", "org/350583",
                json.dumps({"event_id": "e2e-o1", "type": "WorkerAssigned", "org_path": GRID,
                            "worker_assigned": {"worker_id": "w-1", "org_path": GRID,
                                                "from": "2026-11-01T00:00:00Z"}}))
        household("e2e-c1", "COLLECTIVE", "养老院", "pt-e2e-c1")

        # ---- the county leader (C0): counts only
        sign_in_page(d, "county-leader")
        shot(d, "02-leader-overview")
        county_kpis_match(d, "county-leader")
        d.execute_script("location.hash = '#tab=civil&p=350583'")
        wait_ready(d)
        shot(d, "03-leader-civil")
        page = d.find_element(By.TAG_NAME, "body").text
        check("the count-only leader sees <5 for a withheld small count", "<5" in page)
        payload = json.dumps(feed_log(d), ensure_ascii=False) + d.page_source
        leaked = [n for n in names if n in payload]
        check("no name reaches the count-only leader (feed or page)", not leaked, str(leaked[:5]))
        check("no console errors (leader)", not console_errors(d), str(console_errors(d)))
        d.find_element(By.ID, "logout").click()
        WebDriverWait(d, 30).until(lambda x: x.find_element(By.ID, "token").is_displayed())

        # ---- a village cadre: its village only (in Chinese)
        sign_in_page(d, "cadre-101-201")
        if d.execute_script("return document.documentElement.lang") != "zh-CN":
            d.find_element(By.ID, "lang").click()
            wait_ready(d)
        check("the page speaks Chinese", "总览" in d.find_element(By.ID, "tabs").text,
              d.find_element(By.ID, "tabs").text)
        shot(d, "04-cadre-overview")
        for tab in ("forms", "incidents", "assessment"):
            d.execute_script(f"location.hash = '#tab={tab}&p=350583/101/201'")
            wait_ready(d)
        shot(d, "05-cadre-assessment")
        outside = []
        for data in feed_log(d):
            m = json.loads(data)
            for r in m.get("rows", []):
                body = next(iter(r.get("value", {}).values()), {})
                org = body.get("org_path") or body.get("applicant_org") or r["key"].split("#")[0]
                if not (org == "" or org.startswith("350583/101/201")):
                    outside.append(r["key"])
        check("the cadre's feed holds nothing outside its village", not outside, str(outside[:5]))
        check("no console errors (cadre)", not console_errors(d), str(console_errors(d)))
        d.find_element(By.ID, "logout").click()
        WebDriverWait(d, 30).until(lambda x: x.find_element(By.ID, "token").is_displayed())

        # ---- the auditor: a live append, a restart, a policy reload
        sign_in_page(d, "county-auditor")
        d.execute_script("location.hash = '#tab=overview&p=350583'")
        wait_ready(d)
        shot(d, "06-auditor-overview")
        county_kpis_match(d, "county-auditor")
        before = kpi(d, "households")
        pos = household("e2e-h1", "FAMILY", "测试户主", "pt-e2e-h1")
        after = wait_until(lambda: kpi_at_least(d, "households", pos))
        ok = after and int(after["text"]) == int(before["text"]) + 1
        check("an append shows up live: households + 1 at its position", ok, f"{before} -> {after}")
        if not ok:
            with open(os.path.join(ARTIFACTS, "feedlog.json"), "w") as f:
                json.dump(feed_log(d), f, ensure_ascii=False, indent=1)
        shot(d, "07-auditor-after-append")

        # A restart: the page reconnects and resumes, with no duplicate.
        # (The log is read, and so emptied, before: what it holds after is
        # from the restart.)
        errs = [e for e in console_errors(d) if "401" not in e["message"]]
        check("no console errors before the restart (auditor)", not errs, str(errs))
        stop_gridd(procs[-1])
        start_gridd(f"--config={CONFIG}", f"--dashboard_listen=127.0.0.1:{DASH_PORT}", name="gridd2")
        pos2 = household("e2e-h2", "FAMILY", "测试户主二", "pt-e2e-h2")
        again = wait_until(lambda: kpi_at_least(d, "households", pos2), timeout=90)
        check("after a gridd restart the page reconnects and the next append shows",
              again and int(again["text"]) == int(after["text"]) + 1, f"{after} -> {again}")
        check("no duplicate after the reconnect", d.execute_script("return window.gridlog.duplicates") == 0)
        # While gridd was down, Chromium logs each reconnect it refused (how
        # many depends on how long the restart took): those and nothing else.
        errs = [e for e in console_errors(d)
                if not ("/api/feed?" in e["message"] and "ERR_CONNECTION_REFUSED" in e["message"])]
        check("the restart logged only refused reconnects", not errs, str(errs))
        shot(d, "08-auditor-after-restart")

        # The auditor's "as of": every panel at an earlier position.
        d.find_element(By.ID, "asof").send_keys(str(pos - 1))
        d.find_element(By.ID, "asof-apply").click()
        # Done when the page is ready again and the figure names that position.
        past = wait_until(lambda: (lambda k: k if k["position"] == str(pos - 1) and k["text"] != "…" and
                                   d.execute_script("return document.body.dataset.ready") == "1" else None)(
            kpi(d, "households")))
        check("as of an earlier position: the KPI is the view at that position",
              past and past["text"] == before["text"], f"{past} vs {before}")
        shot(d, "09-auditor-as-of")
        d.find_element(By.ID, "live").click()
        wait_until(lambda: kpi_at_least(d, "households", pos2))
        wait_ready(d)

        # A policy reload that removes the auditor ends the live feed.
        text = open(POLICY).read()
        cut = re.sub(r'\{"principal": "county-auditor"[^}]*\}', "", text)
        cut = re.sub(r",(\s*\])", r"\1", cut)
        check("the auditor is cut from the policy", cut != text)
        open(POLICY, "w").write(cut)
        procs[-1].send_signal(signal.SIGHUP)
        ended = wait_until(lambda: any('"PERMISSION_DENIED"' in x for x in feed_log(d)), timeout=60)
        check("a policy reload ends the live feed (PERMISSION_DENIED)", ended)
        banner = wait_until(lambda: d.find_element(By.ID, "banner").text.strip(), timeout=30)
        check("and the page says so", bool(banner), banner)
        shot(d, "10-auditor-revoked")
        open(POLICY, "w").write(text)
        procs[-1].send_signal(signal.SIGHUP)

        errs = [e for e in console_errors(d) if "401" not in e["message"] and "403" not in e["message"]]
        check("no console errors (auditor)", not errs, str(errs))
        hosts = hosts_requested(d)
        check("no request leaves 127.0.0.1", hosts <= {"localhost", "127.0.0.1"}, str(hosts))
    finally:
        d.quit()


try:
    # ------------------------------------------------------------ a county's history
    # Simulated in dev mode (the simulator appends every kind of event), then
    # served as a county would: TLS, tokens, the sample policy.
    p = start_gridd()
    simulated = time.monotonic()  # before the positions the parity reads are at
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
            # gridctl reads as of position's time (when the simulator appended
            # it), the live page as of now: what each derived from the clock is
            # checked as a clock reading, the rest for equality.
            got_clock, want_clock = split_clock(got), split_clock(want)
            diff = next((k for k in sorted(set(got) | set(want)) if got.get(k) != want.get(k)), None)
            check(f"{principal}: {name} on the page equals gridctl projection get --at {feed.positions[i]}",
                  got == want, f"first difference at {diff}: {got.get(diff)} vs {want.get(diff)}")
            drift = clock_drift(want_clock, got_clock, time.monotonic() - simulated)
            check(f"{principal}: {name}'s overdue minutes on the page follow gridctl's as of the position",
                  drift is None, f"at {drift}: {want_clock.get(drift)} then {got_clock.get(drift)}")
        feed.close()

    # ------------------------------------------------------------ metrics
    import urllib.request
    metrics = urllib.request.urlopen(f"http://127.0.0.1:{METRICS_PORT}/metrics", timeout=30).read().decode()
    sessions = re.search(r"^gridlog_dashboard_sessions (\S+)$", metrics, re.M)
    check("/metrics counts the dashboard's sessions", sessions and float(sessions.group(1)) >= len(PRINCIPALS) - 1,
          sessions.group(0) if sessions else "none")
    check("/metrics has the dashboard's pages and feeds",
          re.search(r"^gridlog_dashboard_pages ", metrics, re.M) and re.search(r"^gridlog_dashboard_feeds ", metrics, re.M))

    # ------------------------------------------------------------ HTTP hardening
    status, headers, _ = https("GET", "/")
    csp = headers.get("content-security-policy", "")
    check("the page has a strict CSP", "script-src 'self'" in csp and "unsafe" not in csp, csp)
    check("no CORS", "access-control-allow-origin" not in headers)
    status, _, _ = https("GET", "/", host="attacker.example")
    check("another host name is refused (DNS rebinding)", status == 403, str(status))

    browser_checks()
    print(f"dashboard_e2e: {passed} passed, {failed} failed")
finally:
    for p in procs:
        if p.poll() is None:
            p.kill()
    if failed == 0:
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        print(f"kept {tmp}", file=sys.stderr)
sys.exit(1 if failed else 0)
