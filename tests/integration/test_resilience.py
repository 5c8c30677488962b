#!/usr/bin/python3
"""
test_resilience.py - the daemon keeps its promise that applications need
no retry loops, shown with faults injected on purpose.

tests/lib/faultproxy.py sits between stratusd and the emulator and, from a
fixed seed, answers 503/500/429 with the provider's own error bodies,
resets connections before or in the middle of a body, or stalls. Checked:

  - at a 30% fault rate, 500 mixed PUT/GET/LIST/DELETE operations all
    succeed for the application, every body verified by hash, and the
    listing at the end holds exactly the keys that should exist;
  - with the provider down, the store's circuit opens: 503 with
    Retry-After at once, and it closes again when the provider is back;
  - a download cut in the middle of its body is resumed from the first
    byte the application has not had, and a resumption the provider
    answers wrongly (a 200, a 206 from another byte, a 412) ends the body
    cut, never with other bytes spliced in;
  - a provider that stalls is cut off by the attempt timeout;
  - /metrics counts attempts, retries by reason and the breaker state.

Each provider (s3rver, Azurite) is a setup class, as in the conformance
suite.
"""

import hashlib
import http.client
import os
import random
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, HERE)
import stratus  # noqa: E402
import emulators  # noqa: E402
from faultproxy import FaultProxy  # noqa: E402

TOKEN = "resilience-token"
SEED = int(os.environ.get("STRATUS_FAULT_SEED", "5"))
OPS = int(os.environ.get("STRATUS_FAULT_OPS", "500"))
FAULTS = ["503", "500", "429", "reset_before", "reset_mid"]
# Generous attempts (0.3^10 leaves about one failure in 170,000 calls) and
# short waits, so that 500 operations take seconds, not minutes.
RETRY = ("retry = { max_attempts = 10; base_delay_ms = 5; max_delay_ms = 200; "
         "attempt_timeout_ms = 2000; breaker_failures = 6; "
         "breaker_open_ms = 1500; };")


class S3Setup:
    name = "s3"
    flavor = "s3"

    def __init__(self, work):
        self.emu = emulators.S3rver(work, ["faulty"])
        self.upstream = "127.0.0.1:%d" % self.emu.port

    def store(self, endpoint):
        return stratus.store_conf("f", {
            "provider": "s3", "bucket": "faulty", "region": "us-east-1",
            "credentials": "emu", "endpoint": endpoint,
            # 5 MiB parts, so that a 12 MiB object is a multipart upload
            "multipart_threshold": 6 << 20, "part_size": 5 << 20})

    def extra(self):
        return "credentials = { %s };" % self.emu.credentials_conf()

    def stop(self):
        self.emu.stop()


class AzureSetup:
    name = "azure"
    flavor = "azure"

    def __init__(self, work):
        import test_blob_azure as azure
        self.azure = azure
        self.emu = azure.Azurite(work, ["faulty"])
        self.upstream = "127.0.0.1:%d" % self.emu.port

    def store(self, endpoint):
        # Azurite takes the account as the first segment of the path.
        return stratus.store_conf("f", {
            "provider": "azure", "container": "faulty", "credentials": "emu",
            "endpoint": endpoint + "/" + self.azure.ACCOUNT,
            "multipart_threshold": 6 << 20, "part_size": 5 << 20})

    def extra(self):
        return "credentials = { %s };" % self.emu.credentials_conf()

    def stop(self):
        self.emu.stop()


def config(setup, endpoint):
    return stratus.make_config(
        [setup.store(endpoint)],
        [stratus.client_conf("t", TOKEN, ["blob:*:rw"])],
        allow_anonymous=False, extra=setup.extra() + "\n" + RETRY)


def path(key=""):
    return "/v1/blobs/f" + ("/" + stratus.quote_key(key) if key else "")


def mixed_operations(tap, d, name):
    """OPS random operations; the model says what each must answer."""
    rng = random.Random(SEED)
    model = {}                  # key -> sha256 of what is stored
    sizes = [0, 1, 100, 4096, 65536, 300000, 1 << 20]
    failures = []
    counts = {"PUT": 0, "GET": 0, "LIST": 0, "DELETE": 0}
    for i in range(OPS):
        op = rng.choices(["PUT", "GET", "LIST", "DELETE"], [4, 4, 1, 1])[0]
        key = "k%02d" % rng.randrange(40)
        counts[op] += 1
        if op == "PUT":
            size = rng.choice(sizes) if rng.random() > 0.01 else 12 << 20
            body = rng.randbytes(size)
            chunked = rng.random() < 0.2
            r = d.request("PUT", path(key), token=TOKEN,
                          body=iter([body[:size // 2], body[size // 2:]])
                          if chunked else body)
            if r.status == 201:
                model[key] = hashlib.sha256(body).hexdigest()
            else:
                failures.append("%d PUT %s (%d bytes): %r" % (i, key, size, r))
        elif op == "GET":
            r = d.request("GET", path(key), token=TOKEN)
            want = model.get(key)
            if want is None and r.status != 404:
                failures.append("%d GET %s: %r, expected 404" % (i, key, r))
            elif want is not None and (r.status != 200 or
                                       hashlib.sha256(r.body).hexdigest() != want):
                failures.append("%d GET %s: %d, %d bytes, hash %s" % (
                    i, key, r.status, len(r.body),
                    "differs" if r.status == 200 else "-"))
        elif op == "LIST":
            r = d.request("GET", path() + "?prefix=k", token=TOKEN)
            if r.status != 200 or sorted(x["key"] for x in r.json()["items"]) \
                    != sorted(model):
                failures.append("%d LIST: %r" % (i, r))
        else:
            r = d.request("DELETE", path(key), token=TOKEN)
            if r.status == 204:
                model.pop(key, None)
            else:
                failures.append("%d DELETE %s: %r" % (i, key, r))
    tap.ok(not failures, "%s: %d operations (%s) at a 30%% fault rate all "
           "succeed" % (name, OPS, ", ".join("%s %d" % kv for kv in
                                             sorted(counts.items()))),
           "\n".join(failures[:10]))
    return model


def final_state(tap, d, proxy, model, name):
    proxy.set_rate(0)
    r = d.request("GET", path() + "?prefix=k", token=TOKEN)
    keys = sorted(x["key"] for x in r.json()["items"]) if r.status == 200 else None
    tap.ok(keys == sorted(model), "%s: afterwards the store holds exactly the "
           "keys that were acknowledged, no partial object" % name,
           "listed %r, expected %r" % (keys, sorted(model)))
    bad = []
    for key, want in sorted(model.items()):
        r = d.request("GET", path(key), token=TOKEN)
        if r.status != 200 or hashlib.sha256(r.body).hexdigest() != want:
            bad.append(key)
    tap.ok(not bad, "%s: every acknowledged object reads back identical" % name,
           "differs: %r" % bad)


# A GET's faults in order (the first request, then its resumption), and
# whether the application must get the whole object or a cut prefix of it.
RESUME_CASES = [
    ("a download cut mid-body is resumed", ["reset_mid"], True),
    ("a resumption cut again is resumed again", ["reset_mid", "reset_mid"],
     True),
    ("a resumption answered 503 is retried", ["reset_mid", "503"], True),
    ("a resumption answered 200 (the Range ignored) ends the body cut",
     ["reset_mid", "range_as_200"], False),
    ("a resumption answered from another byte ends the body cut",
     ["reset_mid", "range_misplaced"], False),
    ("a resumption answered 412 (the object replaced) ends the body cut",
     ["reset_mid", "412"], False),
]


def get_what_comes(d, key):
    """GET as an application would: (status, request id, body bytes that
    arrived, whether the body was cut short)."""
    c = http.client.HTTPConnection(d.host, d.port, timeout=60)
    try:
        c.request("GET", path(key), headers={"Authorization":
                                             "Bearer " + TOKEN})
        r = c.getresponse()
        try:
            body, cut = r.read(), False
        except http.client.IncompleteRead as e:
            body, cut = e.partial, True
        return r.status, r.getheader("X-Request-Id"), body, cut
    finally:
        c.close()


def resumed_downloads(tap, d, proxy, name):
    proxy.set_rate(0)
    obj = random.Random(SEED).randbytes(1 << 20)
    r = d.request("PUT", path("resume"), token=TOKEN, body=obj)
    tap.ok(r.status == 201, "%s: an object to resume" % name, repr(r))
    for what, script, whole in RESUME_CASES:
        proxy.set_script(script)
        status, rid, body, cut = get_what_comes(d, "resume")
        rec = d.wait_log(lambda x: x.get("msg") == "request" and
                         x.get("request_id") == rid, 10)
        ended = (rec or {}).get("terminated")
        if whole:
            ok = status == 200 and not cut and body == obj and ended is None
        else:
            ok = (status == 200 and cut and len(body) < len(obj) and
                  body == obj[:len(body)] and ended == "error")
        ok = ok and proxy.script_left() == 0
        tap.ok(ok, "%s: %s" % (name, what), "status %d, %d of %d bytes, cut "
               "%s, %s, log %r" % (status, len(body), len(obj), cut,
                                   "a prefix" if body == obj[:len(body)]
                                   else "NOT A PREFIX", rec))
    proxy.set_script([])
    r = d.request("DELETE", path("resume"), token=TOKEN)
    tap.ok(r.status == 204, "%s: the object is deleted" % name, repr(r))


def metric(d, name, labels):
    r = d.request("GET", "/metrics", token=TOKEN)
    total = 0.0
    for line in r.body.decode().splitlines():
        if line.startswith(name + "{") and all(
                '%s="%s"' % kv in line for kv in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def faults_were_injected(tap, d, proxy, name):
    c = proxy.counters()
    injected = sum(v for k, v in c.items() if k in FAULTS)
    tap.ok(injected > 100, "%s: the proxy injected %d faults" % (name, injected),
           repr(c))
    retries = metric(d, "stratus_provider_retries_total", {"store": "f"})
    attempts = metric(d, "stratus_provider_attempts_total", {"store": "f"})
    refused = metric(d, "stratus_retry_budget_refusals_total", {"store": "f"})
    tap.ok(retries > 0 and attempts > retries,
           "%s: /metrics counts %d attempts, %d retries, %d refused by the "
           "retry budget" % (name, attempts, retries, refused))
    tap.ok(metric(d, "stratus_provider_retries_total",
                  {"store": "f", "reason": "throttled"}) > 0,
           "%s: retries are counted by reason (throttled)" % name)


def breaker(tap, d, proxy, name):
    proxy.set_rate(0)
    proxy.set_down(True, mode="refuse")
    statuses = []
    for _ in range(8):
        r = d.request("GET", path("k00"), token=TOKEN)
        statuses.append((r.status, r.header("Retry-After"),
                         r.json()["error"]["message"] if r.status >= 400 else ""))
    tap.ok(all(s == 503 and ra for s, ra, _ in statuses),
           "%s: provider down: every request is 503 with Retry-After" % name,
           repr(statuses))
    tap.ok(any("circuit is open" in m for _, _, m in statuses),
           "%s: the circuit opens and answers at once" % name, repr(statuses))
    tap.ok(metric(d, "stratus_breaker_state", {"store": "f", "state": "open"}) == 1,
           "%s: /metrics shows the breaker open" % name)
    proxy.set_down(False)
    back = stratus.wait_until(lambda: d.request(
        "GET", path() + "?prefix=k", token=TOKEN).status == 200, 30, 0.2)
    tap.ok(back, "%s: when the provider is back, the circuit closes" % name)
    tap.ok(metric(d, "stratus_breaker_state", {"store": "f", "state": "closed"}) == 1,
           "%s: /metrics shows the breaker closed again" % name)


def stall(tap, d, proxy, name):
    """A provider that accepts and says nothing: the attempt timeout
    (2 s here) cuts each attempt, and the call ends in an error rather
    than hanging (the wait bound below is generous, not a timing test)."""
    proxy.set_faults(["stall"])
    proxy.set_rate(1.0)
    t = time.monotonic()
    r = d.request("GET", path("k00"), token=TOKEN, timeout=300)
    tap.ok(r.status in (503, 504), "%s: a stalled provider gives %d, not a "
           "hang" % (name, r.status), repr(r))
    proxy.set_rate(0)
    proxy.set_faults(FAULTS)
    back = stratus.wait_until(lambda: d.request(
        "GET", path() + "?prefix=k", token=TOKEN).status == 200, 30, 0.2)
    tap.ok(back, "%s: and the store works again after it (%.0f s)" % (
        name, time.monotonic() - t))


def run(tap, setup_cls):
    with tempfile.TemporaryDirectory(prefix="resilience-") as work:
        setup = setup_cls(work)
        proxy = FaultProxy(setup.upstream, seed=SEED, rate=0.3, faults=FAULTS,
                           flavor=setup.flavor, stall_seconds=60)
        port = proxy.start()
        try:
            with stratus.Daemon(config(setup, "http://127.0.0.1:%d" % port),
                                name="resilience-" + setup.name) as d:
                model = mixed_operations(tap, d, setup.name)
                faults_were_injected(tap, d, proxy, setup.name)
                final_state(tap, d, proxy, model, setup.name)
                resumed_downloads(tap, d, proxy, setup.name)
                breaker(tap, d, proxy, setup.name)
                stall(tap, d, proxy, setup.name)
                d.stop_check(tap, "%s: the daemon exits 0, no sanitizer "
                             "report" % setup.name)
        finally:
            proxy.stop()
            setup.stop()


def main():
    emulators.require("s3rver", "azurite-blob")
    tap = stratus.TAP()
    for setup_cls in (S3Setup, AzureSetup):
        try:
            run(tap, setup_cls)
        except Exception:
            import traceback
            tap.ok(False, "%s: resilience run" % setup_cls.name,
                   traceback.format_exc())
    tap.done()


if __name__ == "__main__":
    main()
