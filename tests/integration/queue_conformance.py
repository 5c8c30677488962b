"""
queue_conformance.py - the queue contract of API.md as a table of cases.

The same cases run unchanged on every provider through a *profile*, as
blob_conformance.py does for blobs (whose step machinery this reuses:
R, Fn, Err, Json, Pred, Ctx). Every case gets a queue store of its own,
mapped to a provider queue of its own, so cases never see each other's
messages.

    class Profile:
        name = "local"
        features = {"stale_receipt"}     # see FEATURES
        def setup(self, workdir): ...
        def teardown(self): ...
        def queue_settings(self, store, queue):  # {"provider": ..., ...}
        def config_extra(self): ...

    run(profile, tap)

Templates: ${Q} the case's queue store, ${P} a unique prefix, and what a
step saved.
"""

import os
import random
import re
import sys
import threading
import time
import traceback

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import stratus  # noqa: E402
from blob_conformance import (R, Fn, Err, Json, Pred, Fail, Ctx,  # noqa: E402
                              run_case)

FEATURES = {
    "stale_receipt": "a receipt made stale by a later receive is refused "
                     "with 412 (SQS and its emulator accept it silently)",
}
ALL_FEATURES = set(FEATURES)

TOKENS = {"rw": "queue-conf-all", "send": "queue-conf-send",
          "recv": "queue-conf-recv", "none": "queue-conf-none"}
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")

MSGS = "/v1/queues/${Q}/messages"


def send(body, expect=201, save=None, query=None, token="rw"):
    return R("POST", MSGS, expect, body=body, save=save, query=query,
             token=token)


def recv(query=(), expect=200, save=None, token="rw"):
    return R("GET", MSGS, expect, query=list(query), save=save, token=token)


def n_messages(n):
    return Json({"messages": lambda m: isinstance(m, list) and len(m) == n})


def msg_shape(m):
    return (isinstance(m.get("id"), str) and m["id"] and
            isinstance(m.get("receipt"), str) and
            re.match(r"^[A-Za-z0-9_.~-]+$", m["receipt"]) is not None and
            isinstance(m.get("dequeue_count"), int) and
            isinstance(m.get("enqueued_at"), str) and
            RFC3339.match(m["enqueued_at"]) is not None)


def one_message(body, count=1):
    def check(ctx, r):
        ms = r.json().get("messages")
        if not isinstance(ms, list) or len(ms) != 1:
            return "expected one message, got %r" % (ms,)
        m = ms[0]
        if not msg_shape(m):
            return "bad message shape %r" % m
        if m["body"] != ctx.sub(body):
            return "body %r, expected %r" % (m["body"][:80], ctx.sub(body)[:80])
        if m["dequeue_count"] != count:
            return "dequeue_count %r, expected %d" % (m["dequeue_count"], count)
        return True
    return Pred(check, "the message")


# ---------------------------------------------------------------- code cases

def check_same_id(ctx):
    m = ctx.vars["r"][0]
    if m["id"] != ctx.vars["id"]:
        raise Fail("received id %r, sent %r" % (m["id"], ctx.vars["id"]))
    ctx.vars["rec"] = m["receipt"]


def receive_all(ctx, want, max_per=32, rounds=20, visibility=30):
    """Receives until `want` messages came (or rounds ran out); returns
    them."""
    got = []
    for _ in range(rounds):
        r = ctx.request("GET", ctx.sub(MSGS) + "?max=%d&visibility=%d&wait=1"
                        % (max_per, visibility))
        if r.status != 200:
            raise Fail("receive: %r" % r)
        got += r.json()["messages"]
        if len(got) >= want:
            break
    return got


def fn_bodies_round_trip(bodies):
    def fn(ctx):
        for b in bodies:
            r = ctx.request("POST", ctx.sub(MSGS), body=b.encode("utf-8"))
            if r.status != 201:
                raise Fail("send %r: %r" % (b[:40], r))
        got = receive_all(ctx, len(bodies))
        if sorted(m["body"] for m in got) != sorted(bodies):
            raise Fail("bodies differ: sent %d, got %d: %r" % (
                len(bodies), len(got), [m["body"][:20] for m in got][:10]))
    return Fn(fn)


def fn_many(n, max_per):
    def fn(ctx):
        for i in range(n):
            r = ctx.request("POST", ctx.sub(MSGS), body=("m%03d" % i).encode())
            if r.status != 201:
                raise Fail("send %d: %r" % (i, r))
        got = receive_all(ctx, n, max_per=max_per)
        ids = [m["id"] for m in got]
        if len(set(ids)) != len(ids):
            raise Fail("a message came twice within its visibility")
        if sorted(m["body"] for m in got) != ["m%03d" % i for i in range(n)]:
            raise Fail("got %d of %d messages" % (len(got), n))
        for m in got:
            r = ctx.request("DELETE", ctx.sub(MSGS) + "/" + m["receipt"])
            if r.status != 204:
                raise Fail("ack: %r" % r)
        r = ctx.request("GET", ctx.sub(MSGS) + "?max=32")
        if r.status != 200 or r.json()["messages"]:
            raise Fail("messages left after acking all: %r" % r)
    return Fn(fn)


def fn_long_poll_woken(ctx):
    """A receive waiting for a message gets one sent while it waits."""
    out = {}

    def waiter():
        out["r"] = ctx.request("GET", ctx.sub(MSGS) + "?wait=15&max=1",
                               timeout=60)
    t = threading.Thread(target=waiter)
    t.start()
    time.sleep(1.0)
    r = ctx.request("POST", ctx.sub(MSGS), body=b"wake up")
    if r.status != 201:
        raise Fail("send: %r" % r)
    t.join(60)
    r = out.get("r")
    if r is None or r.status != 200:
        raise Fail("the waiting receive: %r" % r)
    bodies = [m["body"] for m in r.json()["messages"]]
    if bodies != ["wake up"]:
        raise Fail("the waiting receive got %r" % bodies)


def fn_long_poll_empty(ctx):
    """A receive that waits on an empty queue answers with no message,
    and not before it has waited (at least most of the wait)."""
    t0 = time.monotonic()
    r = ctx.request("GET", ctx.sub(MSGS) + "?wait=2", timeout=60)
    waited = time.monotonic() - t0
    if r.status != 200 or r.json()["messages"] != []:
        raise Fail("empty long poll: %r" % r)
    if waited < 1.0:
        raise Fail("answered after %.2f s of a 2 s wait" % waited)


def fn_redelivery(stale_checked):
    def fn(ctx):
        r = ctx.request("POST", ctx.sub(MSGS), body=b"again")
        if r.status != 201:
            raise Fail("send: %r" % r)
        first = receive_all(ctx, 1, max_per=1, visibility=1)
        if len(first) != 1:
            raise Fail("no first delivery")
        r = ctx.request("GET", ctx.sub(MSGS) + "?max=1")
        if r.json()["messages"]:
            raise Fail("delivered twice within its visibility")
        time.sleep(2.5)
        second = receive_all(ctx, 1, max_per=1, visibility=30)
        if len(second) != 1 or second[0]["id"] != first[0]["id"]:
            raise Fail("not redelivered: %r" % second)
        if second[0]["dequeue_count"] < 2:
            raise Fail("dequeue_count %r after a redelivery" %
                       second[0]["dequeue_count"])
        if second[0]["receipt"] == first[0]["receipt"] and stale_checked:
            raise Fail("the receipt did not change")
        if stale_checked:
            r = ctx.request("DELETE", ctx.sub(MSGS) + "/" +
                            first[0]["receipt"])
            if r.status != 412 or r.error_code() != "precondition_failed":
                raise Fail("stale receipt: %r" % r)
        r = ctx.request("DELETE", ctx.sub(MSGS) + "/" + second[0]["receipt"])
        if r.status != 204:
            raise Fail("ack: %r" % r)
    return Fn(fn)


def fn_visibility_change(ctx):
    r = ctx.request("POST", ctx.sub(MSGS), body=b"hide and seek")
    if r.status != 201:
        raise Fail("send: %r" % r)
    got = receive_all(ctx, 1, max_per=1, visibility=300)
    if len(got) != 1:
        raise Fail("no message")
    r = ctx.request("PATCH", ctx.sub(MSGS) + "/" + got[0]["receipt"] +
                    "?visibility=0")
    if r.status != 200 or not isinstance(r.json().get("receipt"), str):
        raise Fail("PATCH visibility=0: %r" % r)
    again = receive_all(ctx, 1, max_per=1, visibility=300)
    if len(again) != 1 or again[0]["id"] != got[0]["id"]:
        raise Fail("not visible again after visibility=0: %r" % again)
    r = ctx.request("PATCH", ctx.sub(MSGS) + "/" + again[0]["receipt"] +
                    "?visibility=600")
    if r.status != 200:
        raise Fail("PATCH visibility=600: %r" % r)
    r = ctx.request("DELETE", ctx.sub(MSGS) + "/" + r.json()["receipt"])
    if r.status != 204:
        raise Fail("ack with the new receipt: %r" % r)


def fn_delay(ctx):
    r = ctx.request("POST", ctx.sub(MSGS) + "?delay=3", body=b"later")
    if r.status != 201:
        raise Fail("send: %r" % r)
    r = ctx.request("GET", ctx.sub(MSGS) + "?max=1")
    if r.status != 200 or r.json()["messages"]:
        raise Fail("a delayed message was visible at once: %r" % r)
    time.sleep(3.5)
    got = receive_all(ctx, 1, max_per=1)
    if [m["body"] for m in got] != ["later"]:
        raise Fail("the delayed message did not come: %r" % got)


def fn_stores_lists_queue(ctx):
    r = ctx.request("GET", "/v1/stores")
    for s in r.json()["stores"]:
        if s["name"] == ctx.vars["Q"]:
            if s["kind"] != "queue":
                raise Fail("kind %r" % s["kind"])
            return
    raise Fail("store %s not listed: %r" % (ctx.vars["Q"], r.body[:300]))


# ---------------------------------------------------------------- cases

class Case:
    def __init__(self, name, steps, requires=(), create=True):
        self.name = name
        self.steps = steps
        self.requires = set(requires)
        self.create = create


CREATE = R("PUT", "/v1/queues/${Q}", [201])

BIG = "\u00e9" * (48 * 1024 // 2)          # exactly 48 KiB of UTF-8
ODD_BODIES = ["plain", "caf\u00e9", "\u65e5\u672c\u8a9e", "\U0001f600 smile",
              "tab\there\nnew line", "<xml>&amp;</xml>", "\"quoted\"",
              "\u0001\u001f controls", "\ufffe\uffff nonchars", "%2F%00",
              " spaces  ", BIG]


def _cases():
    return [
        Case("create, again 204, delete, again 204", [
            R("PUT", "/v1/queues/${Q}", [201]),
            R("PUT", "/v1/queues/${Q}", [204]),
            R("DELETE", "/v1/queues/${Q}", [204]),
            R("DELETE", "/v1/queues/${Q}", [204]),
        ], create=False),
        Case("send to a queue not created: 404", [
            send("x", Err(404, "not_found")),
        ], create=False),
        Case("send, receive, ack", [
            send("hello", [201, Json({"id": lambda v: isinstance(v, str)
                                      and v})], save={"id": "json:id"}),
            recv([("max", "1")], [200, one_message("hello")],
                 save={"r": "json:messages"}),
            Fn(check_same_id),
            R("DELETE", MSGS + "/${rec}", [204]),
            recv([("max", "10")], [200, n_messages(0)]),
        ]),
        Case("bodies round-trip (UTF-8, 48 KiB)", [
            fn_bodies_round_trip(ODD_BODIES),
        ]),
        Case("send limits", [
            send("", Err(400, "bad_request")),
            send("\u00e9" * (24 * 1024) + "x", Err(413, "payload_too_large")),
            R("POST", MSGS, Err(400, "bad_request"), body=b"\xff\xfe bad"),
            R("POST", MSGS, Err(400, "bad_request"), body=b"\xc3"),
            send("x", Err(400, "bad_request"), query=[("delay", "901")]),
            send("x", Err(400, "bad_request"), query=[("delay", "-1")]),
            send("x", Err(400, "bad_request"), query=[("delay", "1.5")]),
            send("x", 201, query=[("delay", "0")]),
        ]),
        Case("receive limits", [
            recv([("max", "0")], Err(400, "bad_request")),
            recv([("max", "33")], Err(400, "bad_request")),
            recv([("visibility", "0")], Err(400, "bad_request")),
            recv([("visibility", "43201")], Err(400, "bad_request")),
            recv([("wait", "21")], Err(400, "bad_request")),
            recv([("wait", "x")], Err(400, "bad_request")),
            recv([("max", "32"), ("visibility", "43200"), ("wait", "0")],
                 [200, n_messages(0)]),
        ]),
        Case("receipts: malformed or unknown is 404", [
            R("DELETE", MSGS + "/garbage", Err(404, "not_found")),
            R("DELETE", MSGS + "/aGVsbG8.AAAAAAAA", Err(404, "not_found")),
            R("PATCH", MSGS + "/garbage?visibility=5", Err(404, "not_found")),
            R("PATCH", MSGS + "/garbage", Err(400, "bad_request")),
            R("PATCH", MSGS + "/garbage?visibility=43201",
              Err(400, "bad_request")),
        ]),
        Case("a message not acked comes back with a higher count",
             [fn_redelivery(False)]),
        Case("a stale receipt is refused", [fn_redelivery(True)],
             requires=["stale_receipt"]),
        Case("change visibility", [Fn(fn_visibility_change)]),
        Case("delay", [Fn(fn_delay)]),
        Case("max takes several provider calls", [fn_many(25, 32)]),
        Case("long poll woken by a send", [Fn(fn_long_poll_woken)]),
        Case("long poll on an empty queue", [Fn(fn_long_poll_empty)]),
        Case("rights: send only, receive only, none", [
            send("r1", 201, token="send"),
            recv([], Err(403, "forbidden"), token="send"),
            R("PUT", "/v1/queues/${Q}", Err(403, "forbidden"), token="send"),
            send("r2", Err(403, "forbidden"), token="recv"),
            recv([("max", "1")], 200, token="recv"),
            send("r3", Err(404, "no_such_store"), token="none"),
            recv([], Err(404, "no_such_store"), token="none"),
        ]),
        Case("wrong methods: 405 with Allow", [
            R("POST", "/v1/queues/${Q}", Err(405, "method_not_allowed")),
            R("PUT", MSGS, Err(405, "method_not_allowed")),
            R("GET", MSGS + "/abc", Err(405, "method_not_allowed")),
            R("GET", "/v1/queues/${Q}/other", Err(404, "not_found")),
        ]),
        Case("deleted queue: send is 404", [
            R("DELETE", "/v1/queues/${Q}", [204]),
            send("gone", Err(404, "not_found")),
        ]),
        Case("listed in /v1/stores as a queue", [Fn(fn_stores_lists_queue)]),
    ]


CASES = _cases()


# ---------------------------------------------------------------- runner

def config_for(profile, run_id):
    groups, names = [], []
    for idx in range(len(CASES)):
        store = "q%02d" % idx
        queue = "cq%s-%02d" % (run_id, idx)
        names.append(store)
        groups.append(stratus.store_conf(store, profile.queue_settings(
            store, queue), kind="queue"))
    first = names[0] if names else "q00"
    clients = [
        stratus.client_conf("all", TOKENS["rw"], ["queue:*:*"]),
        stratus.client_conf("send", TOKENS["send"], ["queue:*:send"]),
        stratus.client_conf("recv", TOKENS["recv"], ["queue:*:receive,ack"]),
        stratus.client_conf("none", TOKENS["none"], ["blob:%s:get" % first]),
    ]
    return stratus.make_config(groups, clients, allow_anonymous=False,
                               extra=profile.config_extra())


class QCtx(Ctx):
    def request(self, method, path, **kw):
        tok = kw.pop("token", "rw")
        return self.daemon.request(method, path,
                                   token=TOKENS[tok] if tok else None, **kw)


class Suite:
    """What differs between the service suites that share run_suite."""

    def __init__(self, kind, var, prefix, cases, config, ctx, parallel):
        self.kind = kind		# "queue", "table": in test names
        self.var = var			# the case's store: ${Q}, ${T}
        self.prefix = prefix		# "/v1/queues/": PUT creates
        self.cases = cases
        self.config = config		# config(profile, run_id) -> text
        self.ctx = ctx			# the Ctx class (its tokens)
        self.parallel = parallel	# cases run side by side


def run_suite(suite, profile, tap, only=None):
    """Runs every case of suite on profile, each on a store of its own
    (made by the case unless it says create=False), and reports them in
    order, one TAP test each, plus the daemon's clean exit."""
    import tempfile
    only = only or os.environ.get("STRATUS_CONFORMANCE_ONLY")
    run_id = "%06x" % random.getrandbits(24)
    work = tempfile.TemporaryDirectory(prefix="%s-conf-%s-" % (
        suite.kind, profile.name))
    try:
        try:
            profile.setup(work.name)
        except Exception:
            tap.ok(False, "%s: profile setup" % profile.name,
                   traceback.format_exc())
            return
        try:
            d = stratus.Daemon(suite.config(profile, run_id),
                               name="%s-conf-%s" % (suite.kind, profile.name),
                               tmpdir=work.name)
        except Exception:
            tap.ok(False, "%s: daemon starts" % profile.name,
                   traceback.format_exc())
            profile.teardown()
            return
        try:
            run_cases(suite, profile, tap, d, run_id, only)
        finally:
            d.stop_check(tap, "%s: %s daemon exits 0 on SIGTERM, no "
                         "sanitizer report" % (profile.name, suite.kind))
            profile.teardown()
    finally:
        work.cleanup()


def run_cases(suite, profile, tap, d, run_id, only):
    results = {}

    def one(idx, case):
        name = "%s: %s: %s" % (profile.name, suite.kind, case.name)
        store = "%s%02d" % (suite.var.lower(), idx)
        ctx = suite.ctx(d, {suite.var: store}, "p%s%02d" % (run_id, idx),
                        profile)
        sub = _Collect()
        if case.create:
            r = ctx.request("PUT", suite.prefix + store)
            if r.status not in (201, 204):
                sub.ok(False, name, "create the case's %s: %r" % (
                    suite.kind, r))
                results[idx] = sub
                return
        run_case(sub, name, ctx, case)
        results[idx] = sub
    threads = []
    for idx, case in enumerate(suite.cases):
        if only and not re.search(only, case.name):
            continue
        missing = case.requires - set(profile.features)
        if missing:
            results[idx] = _Collect(skip=("%s: %s: %s" % (
                profile.name, suite.kind, case.name), "the %s profile "
                "lacks %s" % (profile.name, ", ".join(sorted(missing)))))
            continue
        t = threading.Thread(target=one, args=(idx, case))
        t.start()
        threads.append(t)
        if len(threads) >= suite.parallel:
            threads.pop(0).join()
    for t in threads:
        t.join()
    for idx in sorted(results):
        results[idx].replay(tap)
    if not d.alive():
        tap.ok(False, "%s: daemon still running after the %s cases" % (
            profile.name, suite.kind),
            stratus.interesting_stderr(d.stderr_text()))


def run(profile, tap, only=None):
    # Cases that wait run side by side: each has its own queue.
    run_suite(Suite("queue", "Q", "/v1/queues/", CASES, config_for, QCtx, 6),
              profile, tap, only)


class _Collect:
    """A TAP stand-in that keeps results, so that cases run in threads
    are reported in order."""

    def __init__(self, skip=None):
        self.items = []
        if skip:
            self.items.append(("skip",) + skip)

    def ok(self, cond, name, diag=None):
        self.items.append(("ok", cond, name, diag))
        return cond

    def replay(self, tap):
        for it in self.items:
            if it[0] == "skip":
                tap.skip(it[1], it[2])
            else:
                tap.ok(it[1], it[2], it[3])


class LocalProfile:
    """The built-in local store: a directory per queue store."""
    name = "local"
    features = ALL_FEATURES

    def __init__(self):
        self.root = None

    def setup(self, workdir):
        self.root = os.path.join(workdir, "queues")
        os.makedirs(self.root, exist_ok=True)

    def teardown(self):
        pass

    def queue_settings(self, store, queue):
        return {"provider": "local", "path": os.path.join(self.root, store)}

    def config_extra(self):
        return ""
