#!/usr/bin/python3
"""
test_azure_identity.py - Azure bearer-token sources on the credentials
service (configuration.md "Azure credentials", operations.md "Identity"),
end to end: a local fake of Microsoft Entra ID, IMDS and the App Service
identity endpoint (tests/lib/fake_azure_identity.py) gives the tokens;
Azurite's blob, queue and table services, over HTTPS with a certificate
of a CA made here (trusted by the daemon through the group's ca_file) and
--oauth basic, take them: each request's token must be one the fake
issued (issuer, audience) and unexpired when Azurite sees it.

  client_secret  /v1/ready 503 until the first (slow) fetch, then 200;
                 the authority over HTTPS; blob PUT, GET and list, a
                 queue send and receive, a table put and get; presigned
                 GET and PUT (a user delegation SAS, its key asked for
                 once and cached) fetched straight from Azurite; the
                 secret, scope and client id sent as Entra ID wants them;
                 no secret or token in the log or the metrics
  workload       the federated token file re-read at each refresh (the
                 assertion sent changes); the group's client_id wins over
                 AZURE_CLIENT_ID, the tenant comes from AZURE_TENANT_ID
  imds           rotation under traffic: 12 s tokens, blob, queue and
                 table traffic for 40 s with one failed refresh: no
                 request fails, each token was fetched before the last
                 one expired, Metadata header and client_id sent
  app service    IDENTITY_ENDPOINT + IDENTITY_HEADER: the header sent,
                 IMDS not asked
  unavailable    a wrong client secret: 503 credentials_unavailable with
                 Retry-After (requests and presigning), ready stays 503,
                 the log says invalid_client without the secret
  recovers       Entra ID failing, then answering: the group resolves
                 on a retry and requests go through
  plain http     an IMDS host on plain http:// that is not loopback is
                 refused (the log says so)
  settings       refusals by --check-config, one per row of BAD_GROUPS

No test contacts any other host: every daemon gets AZURE_AUTHORITY_HOST
and AZURE_POD_IDENTITY_AUTHORITY_HOST pointed at the fake, never
169.254.169.254.
"""

import http.client
import json
import os
import ssl
import subprocess
import sys
import threading
import time
import traceback
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import emulators  # noqa: E402
import stratus  # noqa: E402
from emulators import AZURE_ACCOUNT, write_secret  # noqa: E402
from fake_azure_identity import FakeAzureAD, SCOPE, TENANT  # noqa: E402
from stratus import conf_value, store_conf  # noqa: E402
from tls import TlsForwarder, make_pki  # noqa: E402

TOKEN = "azure-identity-test-token"
CONTAINER = "idc"
QUEUE = "idq"
TABLE = "idt"
CLIENT = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"

emulators.require("azurite-blob", "azurite-queue", "azurite-table")


class World:
    """Azurite's three services over HTTPS with bearer tokens, and the CA
    that signed their certificate."""

    def __init__(self, tmp):
        pki = os.path.join(tmp, "pki")
        os.mkdir(pki)
        make_pki(pki)
        self.pki = pki
        self.ca = os.path.join(pki, "ca.pem")
        cert = (os.path.join(pki, "good.pem"), os.path.join(pki, "good.key"))
        self.ctx = ssl.create_default_context(cafile=self.ca)
        self.svc = {}
        for name in ("blob", "queue", "table"):
            self.svc[name] = emulators.AzuriteService(tmp, name, oauth=cert)
        # The container, made with a token of a fake of our own.
        fake = FakeAzureAD()
        try:
            tok, _ = fake.mint("setup", record=False)
            r = self.request("PUT", self.svc["blob"].endpoint + "/" +
                             CONTAINER + "?restype=container",
                             {"Authorization": "Bearer " + tok})
            if r[0] not in (201, 409):
                raise RuntimeError("container: %r" % (r,))
        finally:
            fake.stop()

    def request(self, method, url, headers=None, body=None):
        """One HTTPS request to Azurite: (status, body). With an
        Authorization, the version and date it needs go along; a SAS URL
        is fetched as a browser would."""
        u = urllib.parse.urlsplit(url)
        c = http.client.HTTPSConnection(u.hostname, u.port, context=self.ctx,
                                        timeout=60)
        h = dict(headers or {})
        if "Authorization" in h:
            h["x-ms-version"] = "2021-12-02"
            h["x-ms-date"] = time.strftime("%a, %d %b %Y %H:%M:%S GMT",
                                           time.gmtime())
        try:
            c.request(method, u.path + ("?" + u.query if u.query else ""),
                      body=body, headers=h)
            r = c.getresponse()
            return r.status, r.read()
        finally:
            c.close()

    def stop(self):
        for s in self.svc.values():
            s.stop()


def base_env(fake, **extra):
    """The daemon's environment: nothing Azure of the caller's, every
    identity endpoint on the fake."""
    drop = ("AZURE_", "IDENTITY_", "IMDS_", "MSI_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env["AZURE_AUTHORITY_HOST"] = fake.url + "/"
    env["AZURE_POD_IDENTITY_AUTHORITY_HOST"] = fake.url
    env.update(extra)
    return {k: v for k, v in env.items() if v is not None}


def group_text(settings):
    return " ".join("%s = %s;" % (k, conf_value(v))
                    for k, v in settings.items())


def config(world, group):
    """Stores b (blob), q (queue) and t (table) on Azurite, all with the
    credentials group c = group (azure, the account, the CA)."""
    def ep(name):
        return world.svc[name].endpoint
    g = {"account": AZURE_ACCOUNT, "ca_file": world.ca}
    g.update(group)
    return stratus.make_config(
        stores=[store_conf("b", {"provider": "azure", "container": CONTAINER,
                                 "credentials": "c", "endpoint": ep("blob")}),
                store_conf("q", {"provider": "azure", "queue": QUEUE,
                                 "credentials": "c", "endpoint": ep("queue")},
                           kind="queue"),
                store_conf("t", {"provider": "azure", "table": TABLE,
                                 "credentials": "c", "endpoint": ep("table")},
                           kind="table")],
        clients=[stratus.client_conf("app", TOKEN, ["blob:*:*", "queue:*:*",
                                                  "table:*:*"])],
        extra="credentials = { c = { provider = \"azure\"; %s }; };"
        % group_text(g))


def start(world, fake, group, tmp, name, **env):
    return stratus.Daemon(config(world, group), name=name, tmpdir=tmp,
                          env=base_env(fake, **env))


# ---------------------------------------------------------------- operations

def blob_ops(d, key, data):
    return d.put_get("b", key, data, TOKEN)


def list_has(d, prefix, key):
    r = d.request("GET", "/v1/blobs/b?prefix=" + urllib.parse.quote(prefix),
                  token=TOKEN)
    if r.status != 200:
        return "list: %d %s" % (r.status, r.body[:300])
    keys = [i["key"] for i in r.json().get("items", [])]
    return None if key in keys else "list: %s not in %r" % (key, keys)


def make_queue_table(d):
    for path in ("/v1/queues/q", "/v1/tables/t"):
        r = d.request("PUT", path, token=TOKEN)
        if r.status not in (201, 204):
            return "create %s: %d %s" % (path, r.status, r.body[:300])
    return None


def queue_send(d, text):
    r = d.request("POST", "/v1/queues/q/messages", body=text.encode(),
                  token=TOKEN)
    return None if r.status == 201 else "send: %d %s" % (r.status,
                                                          r.body[:300])


def queue_roundtrip(d, text):
    why = queue_send(d, text)
    if why:
        return why
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        r = d.request("GET", "/v1/queues/q/messages?max=32&visibility=30",
                      token=TOKEN)
        if r.status != 200:
            return "receive: %d %s" % (r.status, r.body[:300])
        for m in r.json().get("messages", []):
            d.request("DELETE", "/v1/queues/q/messages/" +
                      urllib.parse.quote(m["receipt"], safe=""), token=TOKEN)
            if m["body"] == text:
                return None
    return "receive: %r never came" % text


def table_put_get(d, rk, value):
    body = json.dumps({"v": value}).encode()
    r = d.request("PUT", "/v1/tables/t/p/" + rk, body=body, token=TOKEN)
    if r.status not in (200, 201):
        return "table put: %d %s" % (r.status, r.body[:300])
    r = d.request("GET", "/v1/tables/t/p/" + rk, token=TOKEN)
    if r.status != 200 or r.json().get("data", {}).get("v") != value:
        return "table get: %d %s" % (r.status, r.body[:300])
    return None


def presign(d, key, method, expires=300):
    body = json.dumps({"store": "b", "key": key, "method": method,
                       "expires_in": expires}).encode()
    return d.request("POST", "/v1/presign", body=body, token=TOKEN,
                     headers={"Content-Type": "application/json"})


def presigned_get(world, d, key, data):
    r = presign(d, key, "GET")
    if r.status != 200:
        return "presign GET: %d %s" % (r.status, r.body[:300])
    url = r.json()["url"]
    if "skoid=" not in url or "sig=" not in url:
        return "presign GET: not a user delegation SAS: %s" % url
    status, got = world.request("GET", url)
    if status != 200 or got != data:
        return "presigned GET: %d %s" % (status, got[:300])
    return None


def presigned_put(world, d, key, data):
    r = presign(d, key, "PUT")
    if r.status != 200:
        return "presign PUT: %d %s" % (r.status, r.body[:300])
    a = r.json()
    status, got = world.request("PUT", a["url"], dict(a["headers"]), data)
    if status != 201:
        return "presigned PUT: %d %s" % (status, got[:300])
    r = d.request("GET", "/v1/blobs/b/" + key, token=TOKEN)
    return None if r.status == 200 and r.body == data else \
        "GET after presigned PUT: %d %s" % (r.status, r.body[:200])


def no_secrets(fake, text):
    leaked = [s for s in fake.secrets() if s and s in text]
    return not leaked, "secrets found: %r" % [x[:16] for x in leaked[:3]]


def metric(text, name, group="c"):
    for line in text.splitlines():
        if line.startswith('%s{credentials="%s"} ' % (name, group)):
            return float(line.split()[-1])
    return None


def refreshed_in_time(fake):
    """Each token after the first was fetched before the previous one
    expired."""
    t = fake.tokens()
    late = [(i, t[i]["at"] - t[i - 1]["exp"]) for i in range(1, len(t))
            if t[i]["at"] >= t[i - 1]["exp"]]
    return not late, "late refreshes (index, seconds late): %r" % late


# ---------------------------------------------------------------- cases

def case_client_secret(tap, tmp, world):
    fake = FakeAzureAD(life=3600)
    fake.delay = 2.0        # the first fetch is slow: ready must wait
    secret = write_secret(os.path.join(tmp, "client.secret"),
                          fake.client_secret + "\n")
    # Entra ID over HTTPS too, trusted through the same ca_file.
    fwd = TlsForwarder(os.path.join(world.pki, "good.pem"),
                       os.path.join(world.pki, "good.key"), fake.port)
    d = start(world, fake, {
        "source": "client_secret", "tenant_id": TENANT, "client_id": CLIENT,
        "client_secret_file": secret,
        "authority_host": "https://127.0.0.1:%d/" % fwd.port}, tmp,
        "client-secret")
    try:
        r = d.request("GET", "/v1/ready")
        tap.ok(r.status == 503 and r.json().get("status") ==
               "credentials_pending",
               "client_secret: /v1/ready is 503 until the first fetch",
               repr(r))
        tap.ok(d.wait_ready(), "client_secret: /v1/ready turns 200")
        fake.delay = 0.0
        why = blob_ops(d, "dir/one.txt", b"first") or \
            list_has(d, "dir/", "dir/one.txt")
        tap.ok(why is None, "client_secret: blob PUT, GET and list with a "
               "bearer token", why)
        why = make_queue_table(d) or queue_roundtrip(d, "hello bearer")
        tap.ok(why is None, "client_secret: a queue send and receive", why)
        why = table_put_get(d, "r1", 41)
        tap.ok(why is None, "client_secret: a table put and get", why)
        why = presigned_get(world, d, "dir/one.txt", b"first")
        tap.ok(why is None, "client_secret: a presigned GET (user "
               "delegation SAS) fetched from Azurite", why)
        why = presigned_put(world, d, "dir/two.txt", b"second")
        tap.ok(why is None, "client_secret: a presigned PUT stored through "
               "Azurite", why)
        seen = fake.seen_of("entra")
        f = seen[0]["form"] if seen else {}
        tap.ok(seen and f.get("client_secret") == fake.client_secret and
               f.get("client_id") == CLIENT and f.get("scope") == SCOPE and
               f.get("grant_type") == "client_credentials" and
               seen[0]["tenant"] == TENANT and
               all(s["form"].get("client_secret") for s in seen),
               "client_secret: the secret, client id, scope and tenant sent",
               repr([(s["tenant"], sorted(s["form"])) for s in seen]))
        tap.ok(len(fake.tokens()) == 1, "client_secret: one token for "
               "every store of the group", repr(len(fake.tokens())))
        m = d.request("GET", "/metrics").body.decode()
        exp = metric(m, "stratus_credentials_expiry_seconds")
        tap.ok(exp is not None and 3000 < exp <= 3600,
               "client_secret: seconds to expiry in the metrics", repr(exp))
        tap.check("client_secret: no secret or token in the log or metrics",
                  no_secrets, fake, d.stderr_text() + m)
    finally:
        d.stop_check(tap, "client_secret: exits 0, no sanitizer report")
        fwd.close()
        fake.stop()


def case_presign_key_cached(tap, tmp, world):
    """The user delegation key is asked for once, then reused."""
    fake = FakeAzureAD(life=3600)
    secret = write_secret(os.path.join(tmp, "client.secret"),
                          fake.client_secret)
    d = start(world, fake, {
        "source": "client_secret", "tenant_id": TENANT, "client_id": CLIENT,
        "client_secret_file": secret}, tmp, "udk-cache")
    try:
        tap.ok(d.wait_ready() and blob_ops(d, "k", b"cached") is None,
               "udk: ready, a blob written")
        urls = []
        for i in range(4):
            r = presign(d, "k", "GET", expires=60 + i)
            urls.append(r.json().get("url", "") if r.status == 200 else "")
        skts = {urllib.parse.parse_qs(urllib.parse.urlsplit(u).query)
                .get("skt", [""])[0] for u in urls}
        tap.ok(all(urls) and len(skts) == 1 and "" not in skts,
               "udk: four presigned URLs share one cached key", repr(skts))
        good = [world.request("GET", u)[0] for u in urls]
        tap.ok(good == [200] * 4, "udk: each URL works", repr(good))
        # Tampered: the signature must cover the key's fields.
        bad = urls[0].replace("sks=b", "sks=b&x=1").replace(
            "skv=", "skv=1")
        tap.ok(world.request("GET", bad)[0] == 403,
               "udk: a URL with a changed key field is refused")
    finally:
        d.stop_check(tap, "udk: exits 0, no sanitizer report")
        fake.stop()


def case_workload_identity(tap, tmp, world):
    fake = FakeAzureAD(life=8)
    tfile = os.path.join(tmp, "federated-token")
    with open(tfile, "w") as f:
        f.write("assertion-one\n")
    d = start(world, fake, {"source": "workload_identity",
                            "client_id": CLIENT}, tmp, "workload",
              AZURE_FEDERATED_TOKEN_FILE=tfile, AZURE_TENANT_ID=TENANT,
              AZURE_CLIENT_ID="11111111-2222-3333-4444-555555555555")
    try:
        tap.ok(d.wait_ready(), "workload: ready")
        tap.ok(blob_ops(d, "w", b"workload") is None,
               "workload: blob PUT and GET")
        with open(tfile + ".new", "w") as f:
            f.write("assertion-two\n")
        os.replace(tfile + ".new", tfile)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and "assertion-two" not in [
                s["form"].get("client_assertion")
                for s in fake.seen_of("entra")]:
            time.sleep(0.2)
        seen = fake.seen_of("entra")
        sent = [s["form"].get("client_assertion") for s in seen]
        tap.ok(sent[:1] == ["assertion-one"] and "assertion-two" in sent,
               "workload: the federated token file is re-read at a refresh",
               repr(sent))
        tap.ok(seen and all(
            s["form"].get("client_id") == CLIENT and s["tenant"] == TENANT and
            s["form"].get("client_assertion_type") ==
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" and
            "client_secret" not in s["form"] for s in seen),
            "workload: the group's client_id wins over AZURE_CLIENT_ID, "
            "the tenant from AZURE_TENANT_ID, a jwt-bearer assertion",
            repr([(s["tenant"], s["form"].get("client_id")) for s in seen]))
        tap.ok(blob_ops(d, "w", b"workload2") is None,
               "workload: requests go on with the new token")
        tap.check("workload: no assertion or token in the log",
                  no_secrets, fake, d.stderr_text())
    finally:
        d.stop_check(tap, "workload: exits 0, no sanitizer report")
        fake.stop()


def case_imds_rotation(tap, tmp, world):
    fake = FakeAzureAD(life=12)
    d = start(world, fake, {"source": "managed_identity",
                            "client_id": CLIENT}, tmp, "imds")
    try:
        tap.ok(d.wait_ready() and make_queue_table(d) is None,
               "imds: ready, queue and table made")
        failures, lock, stop = [], threading.Lock(), threading.Event()
        counts = [0]

        def traffic(tid):
            n = 0
            while not stop.is_set():
                n += 1
                why = blob_ops(d, "t%d/k%d" % (tid, n % 4),
                               b"x%d-%d" % (tid, n))
                if not why and n % 2 == 0:
                    why = queue_send(d, "m%d-%d" % (tid, n))
                if not why and n % 3 == 0:
                    why = table_put_get(d, "r%d" % tid, n)
                with lock:
                    counts[0] += 1
                    if why:
                        failures.append(why)
                time.sleep(0.05)

        threads = [threading.Thread(target=traffic, args=(i,))
                   for i in range(2)]
        for t in threads:
            t.start()
        time.sleep(15)
        fake.fail_next = 1      # one refresh fails on the way
        time.sleep(25)
        stop.set()
        for t in threads:
            t.join(60)
        tokens = fake.tokens()
        tap.ok(not failures and counts[0] > 50,
               "imds: no request failed across token rotations (%d rounds)"
               % counts[0], "\n".join(failures[:10]))
        tap.ok(len(tokens) >= 4, "imds: the token rotated (%d tokens)" %
               len(tokens))
        tap.check("imds: every refresh came before the last token expired",
                  refreshed_in_time, fake)
        seen = fake.seen_of("imds")
        tap.ok(seen and all(s["ok_header"] and s["query"].get("client_id") ==
                            CLIENT and s["query"].get("api-version") ==
                            "2018-02-01" for s in seen) and
               not fake.seen_of("entra") and not fake.seen_of("appservice"),
               "imds: Metadata: true, api-version and client_id sent",
               repr(seen[:2]))
        m = d.request("GET", "/metrics").body.decode()
        fails = metric(m, "stratus_credentials_refresh_failures_total")
        tap.ok(fails is not None and fails >= 1 and any(
            r.get("msg") == "credentials refresh failed"
            for r in d.records()),
            "imds: the failed refresh is counted and logged", repr(fails))
        tap.check("imds: no token in the log or metrics", no_secrets, fake,
                  d.stderr_text() + m)
    finally:
        d.stop_check(tap, "imds: exits 0, no sanitizer report")
        fake.stop()


def case_app_service(tap, tmp, world):
    fake = FakeAzureAD(life=600)
    d = start(world, fake, {"source": "managed_identity"}, tmp, "appsvc",
              IDENTITY_ENDPOINT=fake.url + "/msi/token",
              IDENTITY_HEADER=fake.identity_header)
    try:
        tap.ok(d.wait_ready() and blob_ops(d, "a", b"app") is None,
               "app service: ready, blob PUT and GET")
        seen = fake.seen_of("appservice")
        tap.ok(seen and all(s["ok_header"] and "client_id" not in s["query"]
                            for s in seen) and not fake.seen_of("imds"),
               "app service: X-IDENTITY-HEADER sent, IMDS not asked",
               repr(seen[:1]))
        tap.check("app service: the identity header is not logged",
                  no_secrets, fake, d.stderr_text())
    finally:
        d.stop_check(tap, "app service: exits 0, no sanitizer report")
        fake.stop()


def case_unavailable(tap, tmp, world):
    fake = FakeAzureAD(life=600)
    secret = write_secret(os.path.join(tmp, "wrong.secret"),
                          "not-" + fake.client_secret)
    d = start(world, fake, {
        "source": "client_secret", "tenant_id": TENANT, "client_id": CLIENT,
        "client_secret_file": secret}, tmp, "unavailable")
    try:
        rec = d.wait_log(lambda r: r.get("msg") == "credentials unavailable",
                         timeout=30)
        r = d.request("GET", "/v1/blobs/b/x", token=TOKEN)
        tap.ok(r.status == 503 and r.error_code() == "credentials_unavailable"
               and r.header("Retry-After") is not None,
               "unavailable: a blob GET is 503 credentials_unavailable with "
               "Retry-After", repr(r))
        r = d.request("POST", "/v1/queues/q/messages", body=b"x",
                      token=TOKEN)
        r2 = d.request("GET", "/v1/tables/t/p/r", token=TOKEN)
        tap.ok(r.status == 503 and r2.status == 503 and
               r.error_code() == r2.error_code() == "credentials_unavailable",
               "unavailable: queue and table requests too", repr((r, r2)))
        r = presign(d, "x", "GET")
        tap.ok(r.status == 503 and r.error_code() ==
               "credentials_unavailable",
               "unavailable: presigning too", repr(r))
        tap.ok(d.request("GET", "/v1/ready").status == 503,
               "unavailable: /v1/ready stays 503")
        tap.ok(rec is not None and "invalid_client" in rec.get("error", "")
               and "401" in rec.get("error", "") and
               rec.get("credentials") == "c" and
               rec.get("source") == "client_secret",
               "unavailable: the log says which group and why", repr(rec))
        text = d.stderr_text()
        tap.ok(fake.client_secret[4:] not in text and "not-" +
               fake.client_secret not in text,
               "unavailable: the secret sent is not in the log")
        m = d.request("GET", "/metrics").body.decode()
        tap.ok((metric(m, "stratus_credentials_refresh_failures_total") or 0)
               >= 1 and metric(m, "stratus_credentials_expiry_seconds") == 0,
               "unavailable: failures counted, nothing valid")
    finally:
        d.stop_check(tap, "unavailable: exits 0, no sanitizer report")
        fake.stop()


def case_recovers(tap, tmp, world):
    fake = FakeAzureAD(life=600)
    fake.fail_always = True
    fake.fail_status = 503
    d = start(world, fake, {"source": "managed_identity"}, tmp, "recovers")
    try:
        rec = d.wait_log(lambda r: r.get("msg") == "credentials unavailable",
                         timeout=30)
        tap.ok(rec is not None and "503" in rec.get("error", ""),
               "recovers: a failing IMDS is logged", repr(rec))
        fake.fail_always = False
        tap.ok(d.wait_ready(90) and blob_ops(d, "r", b"back") is None,
               "recovers: once IMDS answers, the group resolves on a retry")
    finally:
        d.stop_check(tap, "recovers: exits 0, no sanitizer report")
        fake.stop()


def case_plain_http(tap, tmp, world):
    fake = FakeAzureAD()
    d = start(world, fake, {"source": "managed_identity"}, tmp, "plain",
              AZURE_POD_IDENTITY_AUTHORITY_HOST="http://192.0.2.1")
    try:
        rec = d.wait_log(lambda r: r.get("msg") == "credentials unavailable",
                         timeout=30)
        tap.ok(rec is not None and "plain http:// is refused" in
               rec.get("error", ""), "plain http: an IMDS host that is not "
               "loopback is refused", repr(rec))
    finally:
        d.stop_check(tap, "plain http: exits 0, no sanitizer report")
        fake.stop()


# Settings refused by --check-config: (the group's settings after
# provider = "azure", what the error says). S is a good secret file, W one
# readable by others, K an account key file.
BAD_GROUPS = [
    ('account = "a1b2c"; source = 5;', "'source' must be a string"),
    ('account = "a1b2c"; source = "magic";', "source must be client_secret"),
    ('source = "managed_identity";', "need account"),
    ('account = "Bad_Name"; source = "managed_identity";', "need account"),
    ('account = "a1b2c"; source = "client_secret"; client_id = "c"; '
     'client_secret_file = "S";', "needs tenant_id, client_id and "
     "client_secret_file"),
    ('account = "a1b2c"; source = "client_secret"; tenant_id = "t"; '
     'client_id = "c";', "needs tenant_id, client_id and client_secret_file"),
    ('account = "a1b2c"; source = "client_secret"; tenant_id = "t"; '
     'client_id = "c"; client_secret_file = "missing.secret";',
     "cannot open secret file"),
    ('account = "a1b2c"; source = "client_secret"; tenant_id = "t"; '
     'client_id = "c"; client_secret_file = "W";', "accessible by group"),
    ('account = "a1b2c"; source = "client_secret"; tenant_id = "t"; '
     'client_id = "c"; client_secret_file = "S"; token_file = "f";',
     "token_file belongs to source"),
    ('account = "a1b2c"; source = "managed_identity"; '
     'client_secret_file = "S";', "client_secret_file belongs to source"),
    ('account = "a1b2c"; source = "managed_identity"; tenant_id = "t";',
     "do not apply"),
    ('account = "a1b2c"; source = "managed_identity"; '
     'authority_host = "https://login.example/";', "do not apply"),
    ('account = "a1b2c"; source = "workload_identity"; '
     'tenant_id = "bad/tenant";', "must be GUIDs or domain names"),
    ('account = "a1b2c"; source = "workload_identity"; client_id = 7;',
     "'client_id' must be a string"),
    ('account = "a1b2c"; source = "workload_identity"; '
     'authority_host = "ftp://login.example/";', "authority_host must be"),
    ('account = "a1b2c"; source = "workload_identity"; '
     'authority_host = "http://login.example/";', "plain http:// is refused"),
    ('account = "a1b2c"; source = "managed_identity"; key_file = "K";',
     "do not go with source"),
    ('account = "a1b2c"; key_file = "K"; tenant_id = "t";',
     "tenant_id needs source"),
    ('account = "a1b2c"; source = "managed_identity"; colour = "red";',
     "colour"),
]


def check_config(tmp, group):
    """stratusd --check-config of a blob store whose credentials group is
    provider = "azure" and the settings of group: (exit code, output)."""
    path = os.path.join(tmp, "check.conf")
    with open(path, "w") as f:
        f.write(stratus.make_config(
            stores=[store_conf("b", {"provider": "azure",
                                     "container": CONTAINER,
                                     "credentials": "c"})],
            extra="credentials = { c = { provider = \"azure\"; %s }; };"
            % group))
    p = subprocess.run([stratus.stratusd_path(), "--check-config",
                        "--config", path], capture_output=True,
                       env=stratus.sanitizer_env(base_env(FakeURL())),
                       timeout=60)
    return p.returncode, p.stdout.decode() + p.stderr.decode()


def case_settings(tap, tmp, world):
    good = write_secret(os.path.join(tmp, "S"), "a-secret\n")
    wide = write_secret(os.path.join(tmp, "W"), "a-secret\n", mode=0o644)
    os.chmod(wide, 0o644)
    key = write_secret(os.path.join(tmp, "K"),
                       emulators.AZURE_ACCOUNT_KEY + "\n")
    for group, want in BAD_GROUPS:
        text = group.replace('"S"', '"%s"' % good).replace(
            '"W"', '"%s"' % wide).replace('"K"', '"%s"' % key)
        rc, out = check_config(tmp, text)
        tap.ok(rc == 1 and want in out,
               "settings: %s refused (%s)" % (group, want), out)
    # And the good ones pass, without fetching anything.
    for group in ('account = "a1b2c"; source = "managed_identity";',
                  'account = "a1b2c"; source = "workload_identity";',
                  'account = "a1b2c"; source = "client_secret"; '
                  'tenant_id = "%s"; client_id = "%s"; '
                  'client_secret_file = "%s";' % (TENANT, CLIENT, good)):
        rc, out = check_config(tmp, group)
        tap.ok(rc == 0, "settings: %s accepted" % group, out)


class FakeURL:
    """Where base_env points the identity endpoints when nothing may be
    asked (--check-config): a loopback port nobody listens on."""
    url = "http://127.0.0.1:9"


def main():
    tap = stratus.TAP()
    cases = [case_settings, case_unavailable, case_plain_http,
             case_recovers, case_client_secret, case_presign_key_cached,
             case_app_service, case_workload_identity, case_imds_rotation]
    # A word on the command line runs only the cases that contain it.
    if len(sys.argv) > 1:
        cases = [c for c in cases if sys.argv[1] in c.__name__]
    with stratus.tempfile.TemporaryDirectory(prefix="azid-world-") as wtmp:
        world = World(wtmp)
        try:
            for case in cases:
                t0 = time.monotonic()
                with stratus.tempfile.TemporaryDirectory(
                        prefix="azid-") as tmp:
                    try:
                        case(tap, tmp, world)
                    except Exception:
                        tap.ok(False, case.__name__, traceback.format_exc())
                tap.diag("%s: %.1f s" % (case.__name__,
                                         time.monotonic() - t0))
        finally:
            world.stop()
    tap.done()


if __name__ == "__main__":
    main()
