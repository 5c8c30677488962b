#!/usr/bin/python3
"""
test_daemon.py - stratusd as a process and an HTTP server: command line,
configuration checks, signals (reload, graceful stop), health, readiness,
stores, metrics, authentication, request ids, bad HTTP, header limits, the
Unix socket and idle timeouts.
"""

import contextlib
import json
import os
import re
import signal
import socket
import stat
import sys
import tempfile
import threading
import traceback

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import stratus  # noqa: E402
from stratus import (client_conf, make_config, store_conf,  # noqa: E402
                     parse_raw_response)

READER = "reader-token"
WRITER = "writer-token"
NEWTOK = "new-token-after-reload"


def local(root, name, **extra):
    return store_conf(name, {"provider": "local",
                             "path": os.path.join(root, "stores", name)},
                      extra=extra)


def main_config(root, reload=False, metrics_token=False, listen=None):
    stores = [local(root, "pub", allow_anonymous=True), local(root, "priv"),
              local(root, "other")]
    clients = [client_conf("writer", WRITER, ["blob:*:rw"])]
    if reload:
        stores.append(local(root, "newstore"))
        clients.append(client_conf("newcomer", NEWTOK, ["blob:newstore:rw"]))
    else:
        clients.append(client_conf("reader", READER, ["blob:priv:r"]))
    extra = "metrics = { require_token = true; };" if metrics_token else ""
    return make_config(stores, clients, listen=listen, allow_anonymous=False,
                       extra=extra)


def is_json_error(r, status, code=None):
    """A JSON error answer of this status (and code)."""
    if r.status != status:
        return False, "status %d, expected %d: %r" % (r.status, status, r)
    if not (r.header("Content-Type") or "").startswith("application/json"):
        return False, "Content-Type %r" % r.header("Content-Type")
    try:
        e = r.json()["error"]
    except Exception:
        return False, "not a JSON error: %r" % r
    if code is not None and e.get("code") != code:
        return False, "code %r, expected %r" % (e.get("code"), code)
    if e.get("request_id") != r.header("X-Request-Id") or not e.get("message"):
        return False, "request_id/message: %r" % r
    return True, None


# ---------------------------------------------------------------- CLI

def check_cli(tap):
    rc, out, err = stratus.run_stratusd(["--version"])
    tap.ok(rc == 0 and re.match(r"^stratusd \d+\.\d+(\.\d+)?\S*\n$", out),
           "--version prints the version, exit 0", "%r %r %r" % (rc, out, err))
    rc, out, err = stratus.run_stratusd(["-V"])
    tap.ok(rc == 0 and out.startswith("stratusd "), "-V is --version")
    rc, out, err = stratus.run_stratusd(["--help"])
    tap.ok(rc == 0 and "usage: stratusd" in out and "--config" in out and
           "--check-config" in out, "--help prints usage, exit 0",
           "%r %r" % (rc, out))
    rc, out, err = stratus.run_stratusd(["--no-such-option"])
    tap.ok(rc == 2 and "usage:" in err and out == "",
           "an unknown option: usage on stderr, exit 2", "%r %r %r" % (
               rc, out, err))
    rc, out, err = stratus.run_stratusd(["--config"])
    tap.ok(rc == 2, "--config without a file: exit 2", "%r %r" % (rc, err))
    rc, out, err = stratus.run_stratusd(["stray-argument"])
    tap.ok(rc == 2, "a stray argument: exit 2", "%r %r" % (rc, err))


# Bad configurations: text (with {dir}), the line the error must name, and
# what the reason must say.
BAD_CONFIGS = [
    ("syntax error",
     'listen = { address = "127.0.0.1"; port = 0; };\n'
     'allow_anonymous = true;\n'
     'stores = ( { name = "a"; kind = ; } );\n', 3, r"syntax"),
    ("unknown top-level setting",
     'listen = { address = "127.0.0.1"; port = 0; };\n'
     'bogus_setting = 1;\n', 2, r"bogus_setting"),
    ("port out of range",
     'listen = {\n  address = "127.0.0.1";\n  port = 70000;\n};\n', 3,
     r"port"),
    ("unknown listen setting",
     'listen = {\n  address = "127.0.0.1";\n  prot = 1;\n};\n', 3, r"prot"),
    ("connection memory under four times the header limit",
     'listen = {\n  address = "127.0.0.1";\n  max_header_size = 32768;\n'
     '  connection_memory = 65536;\n};\n', 4, r"at least four times"),
    ("wrong type",
     'listen = { port = 0; };\nallow_anonymous = "yes";\n', 2,
     r"allow_anonymous"),
    ("unknown provider",
     'listen = { port = 0; };\nstores = (\n'
     '  { name = "a"; kind = "blob"; provider = "local"; path = "{dir}/a"; },\n'
     '  { name = "b"; kind = "blob"; provider = "nimbus"; }\n);\n', 4,
     r"nimbus"),
    ("bad store name",
     'listen = { port = 0; };\nstores = (\n'
     '  { name = "Bad Name"; kind = "blob"; provider = "local"; path = "x"; }\n'
     ');\n', 3, r"name"),
    ("store defined twice",
     'listen = { port = 0; };\nstores = (\n'
     '  { name = "a"; kind = "blob"; provider = "local"; path = "{dir}/a"; },\n'
     '  { name = "a"; kind = "blob"; provider = "local"; path = "{dir}/b"; }\n'
     ');\n', 4, r"twice"),
    ("local store without a path",
     'listen = { port = 0; };\nstores = (\n'
     '  { name = "a"; kind = "blob"; provider = "local"; }\n);\n', 3, r"path"),
    ("local store with an unknown setting",
     'listen = { port = 0; };\nstores = (\n'
     '  { name = "a"; kind = "blob"; provider = "local"; path = "{dir}/a";\n'
     '    bucket = "b"; }\n);\n', 3, r"bucket"),
    ("bad kind",
     'listen = { port = 0; };\nstores = (\n'
     '  { name = "a"; kind = "bucket"; provider = "local"; path = "x"; }\n'
     ');\n', 3, r"kind"),
    ("client with a bad token_sha256",
     'listen = { port = 0; };\nclients = (\n'
     '  { name = "c"; token_sha256 = "abc"; allow = ( "blob:*:rw" ); }\n'
     ');\n', 3, r"token_sha256"),
    ("client with a bad allow rule",
     'listen = { port = 0; };\nclients = (\n'
     '  { name = "c";\n    token_sha256 = "%s";\n'
     '    allow = ( "blob:*:rw", "blob:x" ); }\n);\n' % ("a" * 64), 5,
     r"blob:x"),
    ("bad log level",
     'listen = { port = 0; };\nlog = {\n  level = "loud";\n};\n', 3,
     r"level"),
    # No store: an empty or truncated file would take every store offline.
    ("an empty file", '', 0, r"no stores are configured"),
    ("a file with no stores",
     'listen = { port = 0; };\nclients = (\n'
     '  { name = "c"; token_sha256 = "%s"; allow = ( "blob:*:rw" ); }\n'
     ');\n' % ("a" * 64), 0, r"no stores are configured"),
    ("an empty stores list",
     'listen = { port = 0; };\nstores = ( );\n', 2,
     r"no stores are configured"),
    # What starting would find: a store path that cannot be a directory.
    ("a local store path that is a file",
     'listen = { port = 0; };\nstores = (\n'
     '  { name = "a"; kind = "blob"; provider = "local";\n'
     '    path = "{dir}/bad.conf"; }\n);\n', 3, r"is not a directory"),
    ("a local store path under a file",
     'listen = { port = 0; };\nstores = (\n'
     '  { name = "a"; kind = "blob"; provider = "local";\n'
     '    path = "{dir}/bad.conf/sub"; }\n);\n', 3, r"cannot create"),
    ("a local queue path that is a file",
     'listen = { port = 0; };\nstores = (\n'
     '  { name = "q"; kind = "queue"; provider = "local";\n'
     '    path = "{dir}/bad.conf"; }\n);\n', 3, r"is not a directory"),
    ("a public_url that is not http(s)",
     'listen = {\n  port = 0;\n  public_url = "javascript:alert(1)";\n};\n'
     'stores = ( { name = "a"; kind = "blob"; provider = "local";'
     ' path = "{dir}/a"; } );\n', 3, r"public_url must be an http"),
]


def check_config_checks(tap):
    with tempfile.TemporaryDirectory(prefix="stratus-cfg-") as d:
        path = os.path.join(d, "good.conf")
        with open(path, "w") as f:
            f.write(main_config(d))
        rc, out, err = stratus.run_stratusd(["--check-config", "--config",
                                             path])
        tap.ok(rc == 0 and "configuration OK (3 stores, 2 clients)" in out,
               "--check-config on a good file: exit 0, says OK",
               "%r %r %r" % (rc, out, err))
        tap.ok(not os.path.exists(os.path.join(d, "stores")),
               "--check-config creates no store directories")
        tap.ok(not stratus.sanitizer_report(err), "--check-config: no "
               "sanitizer report", err)
        rc, out, err = stratus.run_stratusd(["-t", "-c", path])
        tap.ok(rc == 0, "-t -c work as --check-config --config")

        for name, text, line, reason in BAD_CONFIGS:
            p = os.path.join(d, "bad.conf")
            with open(p, "w") as f:
                f.write(text.replace("{dir}", d))
            rc, out, err = stratus.run_stratusd(["--check-config", "--config",
                                                 p])
            first = err.splitlines()[0] if err else ""
            m = re.match(r"^(.+?):(\d+): (.+)$", first)
            good = (rc != 0 and m is not None and m.group(1) == p and
                    int(m.group(2)) == line and
                    re.search(reason, m.group(3)) is not None and
                    not stratus.sanitizer_report(err))
            tap.ok(good, "--check-config, %s: exit non-zero with "
                   "FILE:%d: reason" % (name, line),
                   "exit %r, stderr %r" % (rc, err))

        p = os.path.join(d, "missing.conf")
        rc, out, err = stratus.run_stratusd(["--check-config", "--config", p])
        tap.ok(rc != 0 and err.startswith(p + ":"), "--check-config on a "
               "missing file: exit non-zero, names the file", "%r %r" % (
                   rc, err))

        # A secret file others can read is refused.
        key = os.path.join(d, "presign.key")
        with open(key, "w") as f:
            f.write("0123456789abcdef0123456789abcdef\n")
        os.chmod(key, 0o644)
        p = os.path.join(d, "secret.conf")
        with open(p, "w") as f:
            f.write('listen = { port = 0; };\npresign_key_file = "presign.key";\n'
                    'stores = ( { name = "a"; kind = "blob"; provider = '
                    '"local"; path = "a"; } );\n')
        rc, out, err = stratus.run_stratusd(["--check-config", "--config", p])
        tap.ok(rc != 0 and err.startswith(p + ":2:") and "chmod" in err,
               "a presign_key_file readable by others is refused, FILE:2",
               "%r %r" % (rc, err))
        os.chmod(key, 0o600)
        rc, out, err = stratus.run_stratusd(["--check-config", "--config", p])
        tap.ok(rc == 0, "the same file with mode 0600 is accepted",
               "%r %r" % (rc, err))


def check_start_failures(tap):
    with tempfile.TemporaryDirectory(prefix="stratus-fail-") as d:
        # A port that is taken.
        busy = socket.socket()
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        p = os.path.join(d, "busy.conf")
        with open(p, "w") as f:
            f.write(make_config([local(d, "a")], listen={"port": port}))
        try:
            rc, out, err = stratus.run_stratusd(["--config", p])
        finally:
            busy.close()
        tap.ok(rc not in (0, None) and "cannot listen" in err and
               not stratus.sanitizer_report(err),
               "a port in use: exit non-zero, says why, no sanitizer report",
               "%r %s" % (rc, stratus.interesting_stderr(err)))
        # An empty file at start: no store would be served.
        p = os.path.join(d, "empty.conf")
        with open(p, "w") as f:
            pass
        rc, out, err = stratus.run_stratusd(["--config", p])
        tap.ok(rc not in (0, None) and (p + ":0: no stores are configured")
               in err and not stratus.sanitizer_report(err),
               "an empty configuration at start: exit non-zero, says why",
               "%r %s" % (rc, stratus.interesting_stderr(err)))
        # A bad configuration at start.
        p = os.path.join(d, "bad.conf")
        with open(p, "w") as f:
            f.write('listen = { port = 0; };\nnonsense = true;\n')
        rc, out, err = stratus.run_stratusd(["--config", p])
        tap.ok(rc not in (0, None) and (p + ":2:") in err and
               not stratus.sanitizer_report(err),
               "a bad configuration at start: exit non-zero with FILE:LINE",
               "%r %r" % (rc, err))
        # A store directory that cannot be made.
        p = os.path.join(d, "nodir.conf")
        with open(p, "w") as f:
            f.write('listen = { port = 0; };\nstores = (\n  { name = "a"; '
                    'kind = "blob"; provider = "local"; path = "/dev/null/x"; }'
                    '\n);\n')
        rc, out, err = stratus.run_stratusd(["--config", p])
        tap.ok(rc not in (0, None) and (p + ":3:") in err and
               not stratus.sanitizer_report(err),
               "a store directory that cannot be made: exit non-zero with "
               "FILE:LINE", "%r %r" % (rc, stratus.interesting_stderr(err)))


# ---------------------------------------------------------------- admin

def check_admin(tap, d):
    r = d.request("GET", "/v1/health")
    tap.ok(r.status == 200 and r.json() == {"status": "ok"} and
           r.header("Content-Type", "").startswith("application/json"),
           "/v1/health: 200 {\"status\":\"ok\"} without a token", repr(r))
    r = d.request("GET", "/v1/health", token="not-a-token")
    tap.ok(r.status == 200, "/v1/health needs no valid token", repr(r))
    r = d.request("HEAD", "/v1/health")
    tap.ok(r.status == 200 and r.body == b"", "HEAD /v1/health: 200, no body",
           repr(r))
    r = d.request("GET", "/v1/ready")
    tap.ok(r.status == 200 and r.json().get("status") == "ready",
           "/v1/ready: 200 once configured", repr(r))
    r = d.request("POST", "/v1/health", body=b"")
    tap.check("POST /v1/health: 405 with Allow: GET, HEAD", lambda: (
        is_json_error(r, 405, "method_not_allowed")[0] and
        r.header("Allow") == "GET, HEAD", repr(r)))
    for path in ("/", "/v1", "/v1/nothing", "/v2/blobs/pub/x", "/metricsx",
                 "/v1/healthz"):
        r = d.request("GET", path)
        tap.ok(*is_json_error(r, 404, "not_found"),
               "GET %s: 404 not_found" % path)
    for path in ("/v1/queues/jobs/messages", "/v1/tables/t/pk/rk"):
        r = d.request("GET", path, token=WRITER)
        tap.ok(*is_json_error(r, 404, "no_such_store"),
               "GET %s: 404 no_such_store (none configured)" % path)


def stores_of(r):
    return sorted((s["name"], s["kind"], s["provider"], s["access"])
                  for s in r.json()["stores"])


def check_stores(tap, d):
    r = d.request("GET", "/v1/stores")
    tap.ok(r.status == 200 and stores_of(r) == [
        ("pub", "blob", "local", "read-write")],
        "/v1/stores, anonymous: only the store open to anonymous", repr(r))
    r = d.request("GET", "/v1/stores", token=WRITER)
    tap.ok(r.status == 200 and [s[0] for s in stores_of(r)] ==
           ["other", "priv", "pub"] and
           all(s[3] == "read-write" for s in stores_of(r)),
           "/v1/stores, a blob:*:rw token: every store", repr(r))
    r = d.request("GET", "/v1/stores", token=READER)
    tap.ok(r.status == 200 and stores_of(r) == [
        ("priv", "blob", "local", "read")],
        "/v1/stores, a blob:priv:r token: priv, read", repr(r))
    r = d.request("GET", "/v1/stores", token="unknown-token")
    ok, why = is_json_error(r, 401, "unauthorized")
    tap.ok(ok and r.header("WWW-Authenticate", "").startswith("Bearer"),
           "/v1/stores, an unknown token: 401 with WWW-Authenticate", why)
    body = r.body.decode("utf-8", "replace")
    tap.ok("priv" not in body and "other" not in body,
           "a 401 does not name the hidden stores", body)


PROM_LINE = re.compile(
    r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*",?)*\})?'
    r' [-+]?(\d+(\.\d+)?([eE][-+]?\d+)?|NaN|\+Inf|-Inf)$')


def metric_value(text, name, labels):
    want = "%s{%s} " % (name, ",".join('%s="%s"' % kv for kv in labels))
    for line in text.splitlines():
        if line.startswith(want):
            return float(line[len(want):])
    return 0.0


def check_metrics(tap, d):
    r = d.request("GET", "/metrics")
    tap.ok(r.status == 200 and (r.header("Content-Type") or "").startswith(
        "text/plain") and "version=0.0.4" in r.header("Content-Type", ""),
        "/metrics: 200, Prometheus text format", repr(r)[:300])
    text = r.body.decode("utf-8")
    bad = [ln for ln in text.splitlines()
           if ln and not ln.startswith("# HELP ") and
           not ln.startswith("# TYPE ") and not PROM_LINE.match(ln)]
    tap.ok(not bad and text.endswith("\n"), "/metrics: every line is valid "
           "exposition format", repr(bad[:5]))
    types = re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M)
    tap.ok(("stratus_http_requests_total", "counter") in types and
           ("stratus_http_request_duration_seconds", "histogram") in types,
           "/metrics: a request counter and a latency histogram", repr(types))
    # Histograms: cumulative buckets ending in +Inf == _count.
    good = True
    for route in set(re.findall(r'_bucket\{route="([^"]+)"', text)):
        vals = [float(v) for v in re.findall(
            r'^stratus_http_request_duration_seconds_bucket\{route="%s",'
            r'le="[^"]+"\} (\S+)$' % re.escape(route), text, re.M)]
        count = metric_value(text, "stratus_http_request_duration_seconds_count",
                             [("route", route)])
        good = good and vals == sorted(vals) and vals and vals[-1] == count
    tap.ok(good, "/metrics: histogram buckets are cumulative and end at the "
           "count")
    labels = [("route", "health"), ("method", "GET"), ("status", "200")]
    before = metric_value(text, "stratus_http_requests_total", labels)
    for _ in range(3):
        d.request("GET", "/v1/health")

    # A request is counted when the server is done with it, which may be a
    # moment after the client has read the answer.
    def counted():
        text = d.request("GET", "/metrics").body.decode()
        return metric_value(text, "stratus_http_requests_total", labels)
    after = stratus.wait_until(lambda: counted() >= before + 3 and
                               counted(), 30)
    tap.ok(after and after >= before + 3, "/metrics counts requests by "
           "route, method and status", "%r -> %r" % (before, counted()))
    def in_flight():
        text = d.request("GET", "/metrics").body.decode()
        m = re.search(r"^stratus_http_requests_in_flight (\S+)$", text, re.M)
        return float(m.group(1)) if m else None
    tap.ok(stratus.wait_until(lambda: in_flight() == 1, 30),
           "/metrics: in flight is 1 (the scrape itself) when idle",
           repr(in_flight()))
    r = d.request("GET", "/metrics", token="unknown-token")
    tap.ok(r.status == 401, "/metrics with an unknown token: 401", repr(r))


# ---------------------------------------------------------------- auth

def check_auth(tap, d):
    cases = [
        # (what, method, path, token, headers, body, status, code)
        ("no token on a private store", "GET", "/v1/blobs/priv/x", None, {},
         None, 401, "unauthorized"),
        ("no token, PUT", "PUT", "/v1/blobs/priv/x", None, {}, b"x", 401,
         "unauthorized"),
        ("no token, listing", "GET", "/v1/blobs/priv", None, {}, None, 401,
         "unauthorized"),
        ("an unknown token", "GET", "/v1/blobs/priv/x", "nope", {}, None, 401,
         "unauthorized"),
        ("an unknown token on an anonymous store", "GET", "/v1/blobs/pub/x",
         "nope", {}, None, 401, "unauthorized"),
        ("a Basic credential", "GET", "/v1/blobs/priv/x", None,
         {"Authorization": "Basic dXNlcjpwYXNz"}, None, 401, "unauthorized"),
        ("an empty bearer token", "GET", "/v1/blobs/priv/x", None,
         {"Authorization": "Bearer "}, None, 401, "unauthorized"),
        ("a read token writing", "PUT", "/v1/blobs/priv/x", READER, {}, b"x",
         403, "forbidden"),
        ("a read token deleting", "DELETE", "/v1/blobs/priv/x", READER, {},
         None, 403, "forbidden"),
        # A token with no right on a store sees it as absent (API.md).
        ("a token on a store it has no rule for", "GET", "/v1/blobs/other/x",
         READER, {}, None, 404, "no_such_store"),
        ("a known token without a rule for an anonymous store", "GET",
         "/v1/blobs/pub/x", READER, {}, None, 404, "no_such_store"),
        ("a read token reading a missing blob", "GET", "/v1/blobs/priv/x",
         READER, {}, None, 404, "not_found"),
        ("an unknown store, anonymous where anonymous is off", "GET",
         "/v1/blobs/nosuch/x", None, {}, None, 401, "unauthorized"),
        ("an unknown store, with a token", "GET", "/v1/blobs/nosuch/x",
         WRITER, {}, None, 404, "no_such_store"),
        ("the scheme is case-insensitive", "GET", "/v1/blobs/priv/x", None,
         {"Authorization": "bearer " + WRITER}, None, 404, "not_found"),
    ]
    for what, method, path, tok, hdrs, body, status, code in cases:
        r = d.request(method, path, headers=hdrs, body=body, token=tok)
        ok, why = is_json_error(r, status, code)
        if ok and status == 401:
            ok = (r.header("WWW-Authenticate") or "").startswith("Bearer")
            why = "WWW-Authenticate: %r" % r.header("WWW-Authenticate")
        tap.ok(ok, "auth: %s: %d %s" % (what, status, code), why)

    r = d.request("PUT", "/v1/blobs/pub/anon.txt", body=b"anonymous")
    tap.ok(r.status == 201, "auth: anonymous PUT on an allow_anonymous store",
           repr(r))
    r = d.request("GET", "/v1/blobs/pub/anon.txt")
    tap.ok(r.status == 200 and r.body == b"anonymous",
           "auth: anonymous GET on an allow_anonymous store", repr(r))
    r = d.request("GET", "/v1/blobs/pub")
    tap.ok(r.status == 200, "auth: anonymous listing on an allow_anonymous "
           "store", repr(r))
    r = d.request("PUT", "/v1/blobs/priv/w", body=b"w", token=WRITER)
    r2 = d.request("GET", "/v1/blobs/priv/w", token=READER)
    tap.ok(r.status == 201 and r2.status == 200 and r2.body == b"w",
           "auth: a writer writes, a reader reads", "%r %r" % (r, r2))


def check_request_ids(tap, d):
    for given in ("abc-123_x.y:z", "A" * 64, "0"):
        r = d.request("GET", "/v1/health", headers={"X-Request-Id": given})
        tap.ok(r.header("X-Request-Id") == given,
               "X-Request-Id %r is echoed" % given[:20], repr(r))
    r = d.request("GET", "/v1/blobs/priv/nothing", token=WRITER,
                  headers={"X-Request-Id": "trace-42"})
    tap.ok(r.header("X-Request-Id") == "trace-42" and
           r.json()["error"]["request_id"] == "trace-42",
           "an echoed X-Request-Id is the error's request_id", repr(r))
    ids = set()
    for given in ("A" * 65, "has space", "<script>", "a/b", "", "\u00e9t\u00e9",
                  "semi;colon"):
        hv = given.encode("utf-8")
        r = d.request("GET", "/v1/health", headers=[("X-Request-Id", hv)])
        got = r.header("X-Request-Id") or ""
        ids.add(got)
        tap.ok(got != given and re.match(r"^[A-Za-z0-9._:-]{1,64}$", got),
               "X-Request-Id %r is replaced by a generated one" % given[:20],
               repr(r))
    for _ in range(3):
        ids.add(d.request("GET", "/v1/health").header("X-Request-Id"))
    tap.ok(len(ids) == 10, "generated request ids are distinct", repr(ids))
    rec = d.wait_log(lambda x: x.get("request_id") == "trace-42", timeout=30)
    tap.ok(rec is not None and rec.get("status") == 404,
           "the log line carries the request id", repr(rec))


# ---------------------------------------------------------------- raw HTTP

def check_malformed(tap, d):
    hostport = ("%s:%d" % (d.host, d.port)).encode()
    cases = [
        ("garbage request line", b"GARBAGE\r\n\r\n", None),
        ("binary junk", b"\x01\x02\xff\xfe junk\r\n\r\n", None),
        ("a binary method", b"\xff\xfe /v1/health HTTP/1.1\r\nHost: x\r\n\r\n",
         None),
        ("a space in the URL", b"GET /v1/he alth HTTP/1.1\r\nHost: x\r\n\r\n",
         None),
        ("a request line without a version", b"GET /v1/health\r\n\r\n", None),
        ("HTTP/9.9", b"GET /v1/health HTTP/9.9\r\nHost: x\r\n\r\n", 505),
        ("HTTP/1.1 without Host", b"GET /v1/health HTTP/1.1\r\n\r\n", 400),
        ("a header line without a colon",
         b"GET /v1/health HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n", 400),
        ("a bad Content-Length",
         b"PUT /v1/blobs/pub/cl HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n"
         b"\r\nxyz", 400),
        ("a negative Content-Length",
         b"PUT /v1/blobs/pub/cl HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n"
         b"\r\nxyz", 400),
        ("a bad chunk size",
         b"PUT /v1/blobs/pub/chunk HTTP/1.1\r\nHost: x\r\n"
         b"Transfer-Encoding: chunked\r\n\r\nZZZ\r\nabc\r\n0\r\n\r\n", 400),
        ("an unsupported Transfer-Encoding",
         b"PUT /v1/blobs/pub/te HTTP/1.1\r\nHost: x\r\n"
         b"Transfer-Encoding: gzip\r\n\r\nabc", None),
        ("a request line of 100 KB",
         b"GET /v1/blobs/pub/" + b"a" * 100000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
         None),
    ]
    for what, data, want in cases:
        out, closed = d.raw(data.replace(b"HOSTPORT", hostport), timeout=30)
        status, hdrs, body = parse_raw_response(out)
        if want is not None:
            good = status == want
        else:
            good = (status is not None and 400 <= status < 600) or \
                (status is None and closed and out == b"")
        tap.ok(good and d.alive(), "malformed HTTP, %s: %s" % (
            what, want or "an error or a closed connection"),
            "status %r, closed %r: %r" % (status, closed, out[:300]))
    r = d.request("GET", "/v1/blobs/pub/chunk")
    tap.ok(r.status == 404, "a broken chunked upload leaves nothing", repr(r))
    for key in ("cl", "te"):
        r = d.request("GET", "/v1/blobs/pub/" + key)
        tap.ok(r.status == 404, "a refused upload (%s) leaves nothing" % key,
               repr(r))
    r = d.request("GET", "/v1/health")
    tap.ok(r.status == 200, "the daemon answers after malformed requests")


def check_header_limits(tap, d):
    r = d.request("GET", "/v1/health", headers={"X-Big": "b" * 20000})
    ok, why = is_json_error(r, 431)
    tap.ok(ok, "headers over max_header_size (16 KiB): 431 JSON error", why)
    r = d.request("GET", "/v1/health", headers=[
        ("X-Many-%03d" % i, "v" * 100) for i in range(200)])
    ok, why = is_json_error(r, 431)
    tap.ok(ok, "many headers over max_header_size: 431 JSON error", why)
    r = d.request("GET", "/v1/health", headers=short_headers(1200))
    tap.ok(r.status == 200, "1200 short headers within max_header_size are "
           "served at the default connection memory", repr(r))
    out, closed = d.raw(b"GET /v1/health HTTP/1.1\r\nHost: x\r\nX-Huge: " +
                        b"h" * 300000 + b"\r\n\r\n", timeout=30)
    status, _, _ = parse_raw_response(out)
    tap.ok(status == 431 or (status is None and closed),
           "a 300 KB header: 431 or closed", repr(out[:200]))
    r = d.request("GET", "/v1/health", headers={"X-Fine": "f" * 8000})
    tap.ok(r.status == 200, "8 KB of headers are fine", repr(r))
    r = d.request("PUT", "/v1/blobs/pub/big-hdr", body=b"x" * 100000,
                  headers={"X-Big": "b" * 20000})
    tap.ok(r.status == 431 and d.request("GET", "/v1/blobs/pub/big-hdr")
           .status == 404, "a PUT with oversized headers: 431, nothing written",
           repr(r))
    tap.ok(d.alive() and d.request("GET", "/v1/health").status == 200,
           "the daemon answers after oversized headers")


def check_keepalive(tap, d):
    conn = d.connection()
    try:
        port = conn.sock.getsockname()[1]
        seq = [("PUT", "/v1/blobs/pub/ka", b"keep", 201),
               ("GET", "/v1/blobs/pub/ka", None, 200),
               ("HEAD", "/v1/blobs/pub/ka", None, 200),
               ("GET", "/v1/blobs/pub?prefix=ka", None, 200),
               ("GET", "/v1/blobs/pub/missing", None, 404),
               ("PUT", "/v1/blobs/pub/ka", b"again", 201),
               ("DELETE", "/v1/blobs/pub/ka", None, 204),
               ("GET", "/v1/health", None, 200)]
        got = []
        for method, path, body, want in seq:
            r = d.request(method, path, body=body, conn=conn)
            got.append(r.status)
        same = conn.sock is not None and conn.sock.getsockname()[1] == port
        tap.ok(got == [s[3] for s in seq] and same,
               "keep-alive: one connection carries PUT, GET, HEAD, listing, "
               "404, DELETE", "%r, same connection %r" % (got, same))
    finally:
        conn.close()


# ---------------------------------------------------------------- reload

RELOAD_ENDS = ("reloaded", "reload failed")


def sighup(d, msgs=RELOAD_ENDS):
    """Sends d SIGHUP and waits for the first log record after it whose
    msg is one of msgs: returns it, or None."""
    mark = d.log_mark()
    d.send_signal(signal.SIGHUP)
    return d.wait_log(lambda x: x.get("msg") in msgs, timeout=60, since=mark)


def check_reload(tap, d, root):
    conn = d.connection()
    try:
        port = conn.sock.getsockname()[1]
        r1 = d.request("GET", "/v1/health", conn=conn)
        r2 = d.request("GET", "/v1/blobs/newstore/x", token=WRITER, conn=conn)
        tap.ok(r1.status == 200 and r2.status == 404 and
               r2.error_code() == "no_such_store",
               "reload: before, newstore does not exist", repr(r2))
        r = d.request("PUT", "/v1/blobs/priv/kept", body=b"kept", token=WRITER)
        pre = d.request("POST", "/v1/presign", token=WRITER, body=json.dumps(
            {"store": "priv", "key": "kept", "method": "GET",
             "expires_in": 600}))
        url = pre.json().get("url") if pre.status == 200 else None

        # An upload in flight while the configuration changes.
        s = d.sock()
        s.sendall(("PUT /v1/blobs/priv/inflight HTTP/1.1\r\nHost: x\r\n"
                   "Authorization: Bearer %s\r\nContent-Length: 200000\r\n"
                   "\r\n" % WRITER).encode() + b"a" * 100000)
        tmpdir = os.path.join(root, "stores", "priv", "tmp")
        stratus.wait_until(lambda: os.listdir(tmpdir), 60)

        d.write_config(main_config(root, reload=True, metrics_token=True))
        rec = sighup(d)
        tap.ok(rec is not None and rec["msg"] == "reloaded",
               "reload: SIGHUP with a good file logs 'reloaded'", repr(rec))

        s.sendall(b"b" * 100000)
        out = stratus.read_head(s)
        status, _, _ = parse_raw_response(out)
        r = d.request("GET", "/v1/blobs/priv/inflight", token=WRITER)
        tap.ok(status == 201 and r.body == b"a" * 100000 + b"b" * 100000,
               "reload: an upload in flight finishes on its configuration",
               "%r %r" % (out[:200], r))

        r = d.request("GET", "/v1/blobs/newstore/x", token=WRITER, conn=conn)
        same = conn.sock is not None and conn.sock.getsockname()[1] == port
        tap.ok(r.status == 404 and r.error_code() == "not_found" and same,
               "reload: the new store answers on the open keep-alive "
               "connection", "%r same=%r" % (r, same))
        r = d.request("PUT", "/v1/blobs/newstore/n", body=b"n", token=NEWTOK)
        tap.ok(r.status == 201, "reload: a new token works", repr(r))
        r = d.request("GET", "/v1/blobs/priv/kept", token=READER, conn=conn)
        tap.ok(r.status == 401, "reload: a removed token is refused", repr(r))
        r = d.request("GET", "/v1/blobs/priv/kept", token=WRITER, conn=conn)
        tap.ok(r.status == 200 and r.body == b"kept",
               "reload: objects stay in stores kept across the reload", repr(r))
        r = d.request("GET", "/metrics", conn=conn)
        tap.ok(r.status == 401, "reload: metrics.require_token now applies",
               repr(r))
        r = d.request("GET", "/metrics", token=WRITER, conn=conn)
        tap.ok(r.status == 200, "reload: metrics with a token", repr(r))
        if url:
            r = stratus.url_request(url)
            tap.ok(r.status == 200 and r.body == b"kept",
                   "reload: a presigned URL made before stays valid", repr(r))
        else:
            tap.ok(False, "reload: presign before the reload", repr(pre))

        # Bad files: logged, the running configuration kept.
        for what, text, why in [
                ("a syntax error", "listen = { port = 0 \nstores = (;\n",
                 "syntax"),
                ("an unknown provider", make_config([store_conf(
                    "x", {"provider": "nimbus"})]), "nimbus"),
                ("headers larger than the started memory takes",
                 main_config(root, reload=True,
                             listen={"max_header_size": 65536}),
                 "max_header_size"),
                # A truncated file must not take every store offline.
                ("an empty file", "", "no stores are configured"),
                ("a file with clients but no stores", make_config(
                    [], [client_conf("newcomer", NEWTOK,
                                     ["blob:newstore:rw"])]),
                 "no stores are configured"),
                ("a missing file", None, "cannot read")]:
            if text is None:
                os.unlink(d.config_path)
            else:
                d.write_config(text)
            rec = sighup(d)
            tap.ok(rec is not None and rec["msg"] == "reload failed" and
                   d.config_path in rec.get("error", "") and
                   why in rec.get("error", ""),
                   "reload: %s is logged with the file name and why" % what,
                   repr(rec))
            r = d.request("GET", "/v1/blobs/newstore/n", token=NEWTOK,
                          conn=conn)
            tap.ok(r.status == 200 and r.body == b"n" and d.alive(),
                   "reload: after %s the old configuration stays" % what,
                   repr(r))
        same = conn.sock is not None and conn.sock.getsockname()[1] == port
        tap.ok(same, "reload: the keep-alive connection survived every reload")

        # Restart-only settings: the rest is taken, they are named.
        d.write_config(main_config(root, reload=True,
                                   listen={"idle_timeout": 5,
                                           "max_header_size": 32768}))
        rec = sighup(d, ("needs a restart",))
        tap.ok(rec is not None and rec.get("settings") ==
               "listen.idle_timeout", "reload: a restart-only setting "
               "changed is named in a warning", repr(rec))
        r = d.request("GET", "/v1/health", headers={"X-Big": "b" * 30000})
        tap.ok(r.status == 200, "reload: a larger max_header_size the "
               "started memory takes applies", repr(r))
        d.write_config(main_config(root, reload=True))
    finally:
        conn.close()


def check_reload_under_load(tap, d, root):
    """Reloads while clients keep working: nothing they do fails, and the
    sanitizers (at exit) see no use of a released configuration."""
    stop = threading.Event()
    errors, done = [], [0]

    def client(i):
        n = 0
        while not stop.is_set():
            key = "/v1/blobs/pub/load/%d/%d" % (i, n % 5)
            body = b"%d:%d " % (i, n) * 50
            try:
                r = d.request("PUT", key, body=body)
                g = d.request("GET", key)
                lst = d.request("GET", "/v1/blobs/pub?prefix=load/%d/" % i)
                if r.status != 201 or g.status != 200 or g.body != body or \
                        lst.status != 200:
                    errors.append("%d %d %d" % (r.status, g.status,
                                                lst.status))
            except Exception as e:
                errors.append(repr(e))
            n += 1
            done[0] += 1
    ts = [threading.Thread(target=client, args=(i,)) for i in range(6)]
    for t in ts:
        t.start()
    reloaded = 0
    try:
        for k in range(10):
            d.write_config(main_config(root, reload=k % 2 == 0))
            rec = sighup(d)
            if rec is not None and rec["msg"] == "reloaded":
                reloaded += 1
            # let the clients do some work on each configuration
            base = done[0]
            stratus.wait_until(lambda: done[0] >= base + 6 or errors, 60)
    finally:
        stop.set()
        for t in ts:
            t.join(120)
    tap.ok(reloaded == 10, "reload under load: 10 reloads", reloaded)
    tap.ok(not errors and done[0] >= 60, "reload under load: every request "
           "of the clients succeeded", "%d requests; %r" % (done[0],
                                                          errors[:5]))
    tap.ok(d.alive() and d.request("GET", "/v1/health").status == 200,
           "reload under load: the daemon still answers")


# ---------------------------------------------------------------- others

def one_store_daemon(root, store, name, listen):
    """A daemon with one local store open to anonymous clients and the
    given listen settings."""
    return stratus.Daemon(make_config([local(root, store,
                                             allow_anonymous=True)],
                                      listen=listen), name=name, tmpdir=root)


@contextlib.contextmanager
def stopped_after(tap, d, what):
    """Runs the block with daemon d, then stops it (checking its exit and
    log) and removes its files."""
    try:
        yield d
    finally:
        d.stop_check(tap, "%s: daemon exits cleanly" % what)
        d.cleanup()


def check_quiet_reloads(tap, d, what):
    """Two reloads of an unchanged file: each one 'reloaded', and no
    'needs a restart' warning."""
    mark = d.log_mark()
    for _ in range(2):
        sighup(d)
    d.request("GET", "/v1/health")     # the warning would be logged by now
    msgs = [r.get("msg") for r in d.records(mark)]
    tap.ok(msgs.count("reloaded") == 2 and "needs a restart" not in msgs,
           "%s: an unchanged file reloads without a warning" % what,
           repr(msgs))


def check_unix_socket(tap):
    with tempfile.TemporaryDirectory(prefix="stratus-unix-") as root:
        for mode, want in ((None, 0o660), (0o600, 0o600)):
            sock = os.path.join(root, "api.sock")
            listen = {"unix": sock}
            if mode is not None:
                listen["unix_mode"] = mode
            d = one_store_daemon(root, "u", "unix", listen)
            with stopped_after(tap, d, "unix socket"):
                st = os.stat(sock)
                tap.ok(stat.S_ISSOCK(st.st_mode) and
                       stat.S_IMODE(st.st_mode) == want,
                       "unix socket: mode %o" % want,
                       "mode %o" % stat.S_IMODE(st.st_mode))
                out, _ = stratus.raw_exchange(
                    sock, b"PUT /v1/blobs/u/k HTTP/1.1\r\nHost: localhost\r\n"
                    b"Content-Length: 3\r\nConnection: close\r\n\r\nabc",
                    unix=True)
                status, _, _ = parse_raw_response(out)
                out2, _ = stratus.raw_exchange(
                    sock, b"GET /v1/blobs/u/k HTTP/1.1\r\nHost: localhost\r\n"
                    b"Connection: close\r\n\r\n", unix=True)
                st2, hdrs, body = parse_raw_response(out2)
                tap.ok(status == 201 and st2 == 200 and body == b"abc" and
                       hdrs.get("x-request-id"),
                       "unix socket: PUT and GET over it", repr(out2[:200]))
                r = d.request("GET", "/v1/blobs/u/k")
                tap.ok(r.status == 200 and r.body == b"abc",
                       "unix socket: TCP serves the same stores", repr(r))
                check_quiet_reloads(tap, d, "unix socket")
            tap.ok(not os.path.exists(sock),
                   "unix socket: the socket file is removed at exit")
        # A non-socket file at the path is not removed.
        path = os.path.join(root, "not-a-socket")
        with open(path, "w") as f:
            f.write("precious")
        p = os.path.join(root, "clash.conf")
        with open(p, "w") as f:
            f.write(make_config([local(root, "a")], listen={"unix": path}))
        rc, out, err = stratus.run_stratusd(["--config", p])
        tap.ok(rc != 0 and open(path).read() == "precious" and
               not stratus.sanitizer_report(err),
               "unix socket: a regular file in the way is an error, kept",
               "%r %s" % (rc, stratus.interesting_stderr(err)))


def check_idle_timeout(tap):
    with tempfile.TemporaryDirectory(prefix="stratus-idle-") as root:
        d = one_store_daemon(root, "i", "idle", {"idle_timeout": 1})
        with stopped_after(tap, d, "idle timeout"):
            def closed_by_peer(s, limit=60):
                s.settimeout(limit)
                try:
                    while True:
                        b = s.recv(4096)
                        if not b:
                            return True
                except (socket.timeout, TimeoutError):
                    return False
                except ConnectionResetError:
                    return True
            s = d.sock()
            tap.ok(closed_by_peer(s), "idle timeout: a silent client is "
                   "disconnected")
            s.close()
            s = d.sock()
            s.sendall(b"GET /v1/health HTTP/1.1\r\nHost: x\r\nX-Partial: ")
            tap.ok(closed_by_peer(s), "idle timeout: a client stalled in "
                   "its headers is disconnected")
            s.close()
            s = d.sock()
            s.sendall(b"\x00\x00\r\n\x00junk")
            tap.ok(closed_by_peer(s), "idle timeout: a client sending NUL "
                   "bytes is disconnected")
            s.close()
            s = d.sock()
            s.sendall(b"PUT /v1/blobs/i/stall HTTP/1.1\r\nHost: x\r\n"
                      b"Content-Length: 100\r\n\r\nonly part")
            tap.ok(closed_by_peer(s), "idle timeout: a client stalled in its "
                   "body is disconnected")
            s.close()
            r = d.request("GET", "/v1/blobs/i/stall")
            tap.ok(r.status == 404, "idle timeout: the stalled upload left "
                   "nothing", repr(r))
            tmp = os.path.join(root, "stores", "i", "tmp")
            tap.ok(stratus.wait_until(lambda: not os.listdir(tmp), 60),
                   "idle timeout: no temp file left", repr(os.listdir(tmp)))
            conn = d.connection()
            r = d.request("GET", "/v1/health", conn=conn)
            tap.ok(r.status == 200 and closed_by_peer(conn.sock),
                   "idle timeout: an idle keep-alive connection is closed")
            conn.close()
            tap.ok(d.request("GET", "/v1/health").status == 200,
                   "idle timeout: new connections are served")


def check_memory_logged(tap, d, want, what):
    rec = d.wait_log(lambda x: x.get("msg") == "http server")
    tap.ok(rec is not None and rec.get("connection_memory") == want,
           "%s: connection memory %d logged at start" % (what, want),
           repr(rec))


def short_headers(n, size=10):
    """n header lines of size bytes each ("X0001: v\\r\\n" for 10)."""
    return [("X%04d" % i, "v" * (size - 9)) for i in range(n)]


def check_connection_memory(tap):
    """The smallest connection memory still takes headers up to
    max_header_size, and bodies larger than itself, on kept connections;
    the setting reaches the HTTP library."""
    with tempfile.TemporaryDirectory(prefix="stratus-mem-") as root:
        d = one_store_daemon(root, "m", "memory",
                             {"connection_memory": 32768,
                              "max_header_size": 8192})
        with stopped_after(tap, d, "connection memory"):
            check_memory_logged(tap, d, 32768, "32 KiB connection memory")
            body = os.urandom(3 * 1024 * 1024 + 17)
            conn = d.connection()
            r = d.request("PUT", "/v1/blobs/m/big", body=body, conn=conn)
            tap.ok(r.status == 201, "32 KiB connection memory: a 3 MiB PUT",
                   repr(r))
            r = d.request("GET", "/v1/blobs/m/big", conn=conn)
            tap.ok(r.status == 200 and r.body == body, "32 KiB connection "
                   "memory: the same bytes back on the same connection",
                   "status %r, %d bytes" % (r.status, len(r.body)))
            r = d.request("GET", "/v1/health", conn=conn,
                          headers={"X-Big": "b" * 8000})
            tap.ok(r.status == 200, "32 KiB connection memory: 8000 bytes "
                   "of headers (the limit is 8 KiB)", repr(r))
            r = d.request("GET", "/v1/health", conn=conn,
                          headers=short_headers(200, size=34))
            tap.ok(r.status == 200, "32 KiB connection memory: 200 headers "
                   "of 34 bytes, under the limit", repr(r))
            conn.close()
            r = d.request("GET", "/v1/health", headers={"X-Big": "b" * 8192})
            ok, why = is_json_error(r, 431)
            tap.ok(ok, "32 KiB connection memory: headers over the limit "
                   "get the 431 JSON error", why)
            # 600 lines of 10 bytes need about 44 KiB in libmicrohttpd (64
            # bytes each besides their own), which answers 431 itself; at
            # the default memory the same request is served (see
            # check_header_limits).
            r = d.request("GET", "/v1/health", headers=short_headers(600))
            tap.ok(r.status == 431, "32 KiB connection memory: the HTTP "
                   "library holds no more than that", repr(r))
            r = d.request("GET", "/v1/health")
            tap.ok(r.status == 200, "32 KiB connection memory: served after "
                   "that", repr(r))


def check_header_room(tap):
    """A larger max_header_size raises the default connection memory to
    four times itself, room for its headers in libmicrohttpd."""
    with tempfile.TemporaryDirectory(prefix="stratus-room-") as root:
        d = one_store_daemon(root, "h", "room", {"max_header_size": 65536})
        with stopped_after(tap, d, "header room"):
            check_memory_logged(tap, d, 262144, "max_header_size 65536")
            # 52,800 bytes in 2400 lines need about 206 KiB: more than
            # twice max_header_size would give.
            r = d.request("GET", "/v1/health",
                          headers=short_headers(2400, size=22))
            tap.ok(r.status == 200, "max_header_size 65536: 2400 header "
                   "lines of 22 bytes are served", repr(r))


def check_graceful_stop(tap):
    with tempfile.TemporaryDirectory(prefix="stratus-stop-") as root:
        cfg = make_config([local(root, "g", allow_anonymous=True)])
        d = stratus.Daemon(cfg, name="stop", tmpdir=root)
        try:
            keep = d.connection()
            d.request("GET", "/v1/ready", conn=keep)
            s = d.sock()
            s.sendall(b"PUT /v1/blobs/g/late HTTP/1.1\r\nHost: x\r\n"
                      b"Content-Length: 200000\r\n\r\n" + b"1" * 100000)
            tmp = os.path.join(root, "stores", "g", "tmp")
            started = stratus.wait_until(lambda: os.listdir(tmp), 60)
            mark = d.log_mark()
            d.send_signal(signal.SIGTERM)
            rec = d.wait_log(lambda x: x.get("msg") == "stopping", timeout=60,
                             since=mark)
            tap.ok(started and rec is not None and rec.get("signal") ==
                   "SIGTERM", "SIGTERM: logged 'stopping'", repr(rec))
            r = d.request("GET", "/v1/ready", conn=keep)
            keep.close()
            tap.ok(r.status == 503 and r.json().get("status") == "stopping",
                   "SIGTERM: /v1/ready answers 503 while stopping", repr(r))
            # A new connection now is not served (refused, closed, or left
            # unanswered until the daemon is gone).
            late = {}

            def newcomer():
                try:
                    late["r"] = d.raw(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n"
                                      b"\r\n", timeout=90)
                except OSError as e:
                    late["r"] = (b"", repr(e))
            t = threading.Thread(target=newcomer)
            t.start()
            s.sendall(b"2" * 100000)
            out = stratus.read_head(s)
            status, _, _ = parse_raw_response(out)
            tap.ok(status == 201, "SIGTERM: the upload in flight finishes",
                   repr(out[:300]))
            r = d.stop()
            tap.ok(r["rc"] == 0 and not r["sanitizer"] and
                   '"msg":"stopped"' in r["stderr"],
                   "SIGTERM: exit 0 after the request, no sanitizer report",
                   "%r %s" % (r["rc"], stratus.interesting_stderr(r["stderr"])))
            t.join(120)
            status, _, _ = parse_raw_response(late.get("r", (b"",))[0])
            tap.ok(not t.is_alive() and status is None,
                   "SIGTERM: a new connection is not served", repr(late))
            d.start()
            r = d.request("GET", "/v1/blobs/g/late")
            tap.ok(r.status == 200 and r.body == b"1" * 100000 + b"2" * 100000,
                   "SIGTERM: the finished upload is stored", repr(r)[:200])
            d.stop_check(tap, "SIGINT: exit 0, no sanitizer report",
                         sig=signal.SIGINT)

            # A client that never finishes its upload does not keep the
            # daemon from stopping once the grace period is over.
            d.start()
            s = d.sock()
            s.sendall(b"PUT /v1/blobs/g/never HTTP/1.1\r\nHost: x\r\n"
                      b"Content-Length: 200000\r\n\r\n" + b"n" * 1000)
            started = stratus.wait_until(lambda: os.listdir(tmp), 60)
            r = d.stop(timeout=90)
            s.close()
            tap.ok(started and r["rc"] == 0 and not r["sanitizer"] and
                   "stopping with requests in flight" in r["stderr"],
                   "SIGTERM with a stalled upload: exit 0 after the grace "
                   "period, no sanitizer report", "%r %s" % (
                       r["rc"], stratus.interesting_stderr(r["stderr"])))
            tap.ok(not os.listdir(tmp), "SIGTERM with a stalled upload: no "
                   "temp file left", repr(os.listdir(tmp)))
            d.start()
            r = d.request("GET", "/v1/blobs/g/never")
            tap.ok(r.status == 404, "SIGTERM with a stalled upload: nothing "
                   "stored", repr(r))
            d.stop_check(tap, "stop: last daemon exits cleanly")
        finally:
            d.cleanup()


def guarded(tap, name, fn, *args):
    try:
        fn(*args)
    except Exception:
        tap.ok(False, name, traceback.format_exc())


def main():
    tap = stratus.TAP()
    guarded(tap, "command line", check_cli, tap)
    guarded(tap, "configuration checks", check_config_checks, tap)
    guarded(tap, "start failures", check_start_failures, tap)

    with tempfile.TemporaryDirectory(prefix="stratus-daemon-") as root:
        try:
            d = stratus.Daemon(main_config(root), name="daemon", tmpdir=root)
        except Exception:
            tap.ok(False, "daemon starts", traceback.format_exc())
            tap.done()
        try:
            for name, fn, args in [
                    ("admin", check_admin, (tap, d)),
                    ("stores", check_stores, (tap, d)),
                    ("metrics", check_metrics, (tap, d)),
                    ("auth", check_auth, (tap, d)),
                    ("request ids", check_request_ids, (tap, d)),
                    ("malformed", check_malformed, (tap, d)),
                    ("header limits", check_header_limits, (tap, d)),
                    ("keep-alive", check_keepalive, (tap, d)),
                    ("reload", check_reload, (tap, d, root)),
                    ("reload under load", check_reload_under_load,
                     (tap, d, root))]:
                guarded(tap, name, fn, *args)
                if not d.alive():
                    tap.ok(False, "daemon still running after " + name,
                           stratus.interesting_stderr(d.stderr_text()))
                    break
            d.stop_check(tap, "daemon exits 0 on SIGTERM, no sanitizer report")
        finally:
            d.cleanup()

    guarded(tap, "unix socket", check_unix_socket, tap)
    guarded(tap, "idle timeout", check_idle_timeout, tap)
    guarded(tap, "connection memory", check_connection_memory, tap)
    guarded(tap, "header room", check_header_room, tap)
    guarded(tap, "graceful stop", check_graceful_stop, tap)
    tap.done()


if __name__ == "__main__":
    main()
