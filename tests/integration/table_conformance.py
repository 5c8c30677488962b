"""
table_conformance.py - the table contract of API.md as a table of cases.

The same cases run unchanged on every provider through a *profile*, as
blob_conformance.py does for blobs (whose step machinery this reuses).
Every case gets a table store of its own, mapped to a provider table of
its own.

    class Profile:
        name = "local"
        features = set()
        def setup(self, workdir): ...
        def teardown(self): ...
        def table_settings(self, store, table):  # {"provider": ..., ...}
        def config_extra(self): ...

    run(profile, tap)

Templates: ${T} the case's table store, and what a step saved.
"""

import json
import os
import re
import sys
import threading
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import stratus  # noqa: E402
from blob_conformance import (R, Fn, Err, Json, Hdr, Pred, Fail,  # noqa
                              Ctx)
from queue_conformance import Suite, run_suite  # noqa: E402

FEATURES = {}
ALL_FEATURES = set(FEATURES)

TOKENS = {"rw": "table-conf-all", "get": "table-conf-get",
          "none": "table-conf-none"}

ETAG = re.compile(r'^"[A-Za-z0-9_.~-]+"$')


def q(s):
    return urllib.parse.quote(s, safe="")


def ent(pk, rk):
    return "/v1/tables/${T}/%s/%s" % (q(pk), q(rk))


def put(pk, rk, data, expect=201, headers=None, save=None, token="rw"):
    body = data if isinstance(data, (bytes, str)) else json.dumps(data)
    return R("PUT", ent(pk, rk), expect, body=body, headers=headers,
             save=save, token=token)


def get(pk, rk, expect=200, save=None, token="rw"):
    return R("GET", ent(pk, rk), expect, save=save, token=token)


def written(pk, rk):
    return Json({"pk": pk, "rk": rk,
                 "etag": lambda e: isinstance(e, str) and bool(ETAG.match(e))})


def same_types(a, b):
    if set(a) != set(b):
        return False
    return all(type(a[k]) is type(b[k]) and a[k] == b[k] for k in a)


ETAG_HEADER = Pred(lambda ctx, r: r.header("ETag") == r.json().get("etag") or
                   "ETag %r, body etag %r" % (r.header("ETag"),
                                              r.json().get("etag")),
                   "the ETag header is the body's etag")


def data_is(want):
    return Json({"data": lambda d: same_types(d, want)})


# ---------------------------------------------------------------- code cases

def etags_differ(a, b):
    def fn(ctx):
        if ctx.vars[a] == ctx.vars[b]:
            raise Fail("a write kept the ETag %s" % ctx.vars[a])
    return fn


TYPES = {"s": "text", "u": "caf\u00e9 \U0001f600", "empty": "", "i": 42,
         "neg": -7, "zero": 0, "big": 2 ** 53, "nbig": -(2 ** 53),
         "d": 0.1, "whole": 2.0, "huge": 1e125, "tiny": 1.5e-100,
         "negd": -3.25, "t": True, "f": False}
RESERVED = {"Timestamp": "mine", "PartitionKey": "p", "RowKey": "r",
            "pk": "x", "rk": "y", "etag": "z", "odata": 1, "ETag": True}


def fn_round_trip(data):
    def fn(ctx):
        path = ctx.sub(ent("types", "row"))
        r = ctx.request("PUT", path, body=json.dumps(data).encode())
        if r.status != 201:
            raise Fail("put: %r" % r)
        r = ctx.request("GET", path)
        if r.status != 200:
            raise Fail("get: %r" % r)
        got = r.json().get("data")
        for k, v in data.items():
            if k not in got:
                raise Fail("property %s missing: %r" % (k, got))
            if type(got[k]) is not type(v) or got[k] != v:
                raise Fail("property %s: %r (%s), sent %r (%s)" % (
                    k, got[k], type(got[k]).__name__, v, type(v).__name__))
        if set(got) != set(data):
            raise Fail("extra properties: %r" % sorted(set(got) - set(data)))
    return Fn(fn)


ROWS = ["B", "a", "ab", "abc", "b", "\u00e9", "\U0001f600", "z z", "0"]


def by_bytes(keys):
    return sorted(keys, key=lambda k: k.encode("utf-8"))


def list_partition(ctx, pk, limit=None, prefix=None, pages=100):
    got, cursor = [], None
    for _ in range(pages):
        args = []
        if limit:
            args.append("limit=%d" % limit)
        if prefix is not None:
            args.append("prefix=" + q(prefix))
        if cursor:
            args.append("cursor=" + q(cursor))
        r = ctx.request("GET", ctx.sub("/v1/tables/${T}/") + q(pk) +
                        ("?" + "&".join(args) if args else ""))
        if r.status != 200:
            raise Fail("query: %r" % r)
        doc = r.json()
        for it in doc["items"]:
            if it.get("pk") != pk or not ETAG.match(it.get("etag", "")) or \
                    not isinstance(it.get("data"), dict):
                raise Fail("bad item %r" % it)
        got += [it["rk"] for it in doc["items"]]
        cursor = doc["next_cursor"]
        if cursor is None:
            return got
        if limit and len(doc["items"]) > limit:
            raise Fail("%d items for limit %d" % (len(doc["items"]), limit))
    raise Fail("the listing never ended")


def fn_query(ctx):
    for rk in ROWS:
        r = ctx.request("PUT", ctx.sub(ent("part", rk)),
                        body=json.dumps({"rk_was": rk}).encode())
        if r.status != 201:
            raise Fail("put %r: %r" % (rk, r))
    r = ctx.request("PUT", ctx.sub(ent("other", "a")), body=b"{}")
    if r.status != 201:
        raise Fail("put other: %r" % r)
    want = by_bytes(ROWS)
    for limit in (None, 1, 2, 4, 1000):
        got = list_partition(ctx, "part", limit=limit)
        if got != want:
            raise Fail("limit %s: %r, expected %r" % (limit, got, want))
    got = list_partition(ctx, "part", prefix="a")
    if got != ["a", "ab", "abc"]:
        raise Fail("prefix a: %r" % got)
    got = list_partition(ctx, "part", prefix="ab", limit=1)
    if got != ["ab", "abc"]:
        raise Fail("prefix ab, limit 1: %r" % got)
    if list_partition(ctx, "part", prefix="nothing") != []:
        raise Fail("prefix nothing")
    if list_partition(ctx, "empty-partition") != []:
        raise Fail("an empty partition lists something")


def fn_race(writers=6, rounds=8):
    """Writers read the same version, then all write with If-Match: each
    round exactly one wins and the others get 412."""
    def fn(ctx):
        path = ctx.sub(ent("race", "row"))
        r = ctx.request("PUT", path, body=b'{"n":0}')
        if r.status != 201:
            raise Fail("put: %r" % r)
        for rnd in range(rounds):
            etag = ctx.request("GET", path).header("ETag")
            results = [None] * writers
            barrier = threading.Barrier(writers)

            def write(i):
                barrier.wait()
                results[i] = ctx.request("PUT", path, headers={
                    "If-Match": etag},
                    body=json.dumps({"n": rnd + 1, "w": i}).encode()).status
            ts = [threading.Thread(target=write, args=(i,))
                  for i in range(writers)]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
            if sorted(results) != [200] + [412] * (writers - 1):
                raise Fail("round %d: %r" % (rnd, results))
            doc = ctx.request("GET", path).json()
            if doc["data"]["n"] != rnd + 1:
                raise Fail("round %d: n = %r" % (rnd, doc["data"]["n"]))
    return Fn(fn)


def fn_stores_lists_table(ctx):
    r = ctx.request("GET", "/v1/stores")
    for s in r.json()["stores"]:
        if s["name"] == ctx.vars["T"]:
            if s["kind"] != "table":
                raise Fail("kind %r" % s["kind"])
            return
    raise Fail("store %s not listed" % ctx.vars["T"])


def big_entity(nbytes):
    return json.dumps({"a": "x" * nbytes})


# ---------------------------------------------------------------- cases

class Case:
    def __init__(self, name, steps, requires=(), create=True):
        self.name = name
        self.steps = steps
        self.requires = set(requires)
        self.create = create


def _cases():
    return [
        Case("create, again 204, delete, again 204", [
            R("PUT", "/v1/tables/${T}", [201]),
            R("PUT", "/v1/tables/${T}", [204]),
            R("DELETE", "/v1/tables/${T}", [204]),
            R("DELETE", "/v1/tables/${T}", [204]),
        ], create=False),
        Case("put to a table not created: 404", [
            put("p", "r", {"a": 1}, Err(404, "not_found")),
        ], create=False),
        Case("put, get, replace, get", [
            put("p1", "r1", {"name": "ann", "n": 1},
                [201, written("p1", "r1"), ETAG_HEADER],
                save={"e1": "json:etag"}),
            get("p1", "r1", [200, Json({"pk": "p1", "rk": "r1",
                                        "etag": "${e1}"}),
                             Hdr("ETag", "${e1}"),
                             data_is({"name": "ann", "n": 1})]),
            put("p1", "r1", {"name": "bob"}, [200, written("p1", "r1")],
                save={"e2": "json:etag"}),
            Fn(etags_differ("e1", "e2")),
            get("p1", "r1", [200, data_is({"name": "bob"}),
                             Hdr("ETag", "${e2}")]),
            get("p1", "nope", Err(404, "not_found")),
        ]),
        Case("values keep their type", [fn_round_trip(TYPES)]),
        Case("names the providers reserve round-trip",
             [fn_round_trip(RESERVED)]),
        Case("an empty entity", [
            put("p", "empty", {}, 201),
            get("p", "empty", [200, data_is({})]),
        ]),
        Case("insert only: If-None-Match: *", [
            put("p", "r", {"v": 1}, 201, headers={"If-None-Match": "*"}),
            put("p", "r", {"v": 2}, Err(412, "precondition_failed"),
                headers={"If-None-Match": "*"}),
            get("p", "r", [200, data_is({"v": 1})]),
            put("p", "r", {"v": 3}, Err(400, "bad_request"),
                headers={"If-None-Match": "\"abc\""}),
        ]),
        Case("replace only that version: If-Match", [
            put("p", "r", {"v": 1}, 201, save={"e1": "json:etag"}),
            put("p", "r", {"v": 2}, 200, save={"e2": "json:etag"},
                headers={"If-Match": "${e1}"}),
            put("p", "r", {"v": 3}, Err(412, "precondition_failed"),
                headers={"If-Match": "${e1}"}),
            get("p", "r", [200, data_is({"v": 2})]),
            put("p", "r", {"v": 4}, Err(412, "precondition_failed"),
                headers={"If-Match": "\"not-an-etag\""}),
            put("p", "r", {"v": 5}, 200, headers={"If-Match": "*"}),
            put("p", "missing", {"v": 1}, Err(412, "precondition_failed"),
                headers={"If-Match": "*"}),
            put("p", "missing", {"v": 1}, Err(412, "precondition_failed"),
                headers={"If-Match": "${e2}"}),
            get("p", "missing", Err(404, "not_found")),
        ]),
        Case("delete, conditional delete", [
            R("DELETE", ent("p", "gone"), [204]),
            R("DELETE", ent("p", "gone"), Err(412, "precondition_failed"),
              headers={"If-Match": "*"}),
            put("p", "r", {"v": 1}, 201, save={"e1": "json:etag"}),
            put("p", "r", {"v": 2}, 200, save={"e2": "json:etag"}),
            R("DELETE", ent("p", "r"), Err(412, "precondition_failed"),
              headers={"If-Match": "${e1}"}),
            get("p", "r", 200),
            R("DELETE", ent("p", "r"), [204], headers={"If-Match": "${e2}"}),
            get("p", "r", Err(404, "not_found")),
        ]),
        Case("bodies that are not an object: invalid_json", [
            put("p", "r", b"[1,2]", Err(400, "invalid_json")),
            put("p", "r", b"\"text\"", Err(400, "invalid_json")),
            put("p", "r", b"", Err(400, "invalid_json")),
            put("p", "r", b"{\"a\":", Err(400, "invalid_json")),
            put("p", "r", b"{\"a\":\"\\u0000\"}", Err(400, "invalid_json")),
        ]),
        Case("entities the API refuses: invalid_entity", [
            put("p", "r", {"a": {"b": 1}}, Err(400, "invalid_entity")),
            put("p", "r", {"a": [1]}, Err(400, "invalid_entity")),
            put("p", "r", {"a": None}, Err(400, "invalid_entity")),
            put("p", "r", {"_a": 1}, Err(400, "invalid_entity")),
            put("p", "r", {"a-b": 1}, Err(400, "invalid_entity")),
            put("p", "r", {"1a": 1}, Err(400, "invalid_entity")),
            put("p", "r", {"a" * 256: 1}, Err(400, "invalid_entity")),
            put("p", "r", {"a": 2 ** 53 + 1}, Err(400, "invalid_entity")),
            put("p", "r", {"a": -(2 ** 53) - 1}, Err(400, "invalid_entity")),
            put("p", "r", b"{\"a\":1e400}", Err(400, "invalid_entity")),
            put("p", "r", b"{\"a\":1,\"a\":2}", Err(400, "invalid_entity")),
            get("p", "r", Err(404, "not_found")),
        ]),
        Case("too large: 413", [
            put("p", "r", {"a%d" % i: i for i in range(251)},
                Err(413, "payload_too_large")),
            put("p", "r", big_entity(400 * 1024), Err(413,
                                                      "payload_too_large")),
            put("p", "r", {"a%d" % i: i for i in range(250)}, 201),
        ]),
        Case("keys: invalid_key", [
            R("PUT", "/v1/tables/${T}/a%2Fb/r", Err(400, "invalid_key"),
              body=b"{}"),
            R("PUT", "/v1/tables/${T}/p/a%23b", Err(400, "invalid_key"),
              body=b"{}"),
            R("PUT", "/v1/tables/${T}/p/a%3Fb", Err(400, "invalid_key"),
              body=b"{}"),
            R("PUT", "/v1/tables/${T}/p/a%5Cb", Err(400, "invalid_key"),
              body=b"{}"),
            R("PUT", "/v1/tables/${T}/p/a%01b", Err(400, "invalid_key"),
              body=b"{}"),
            R("PUT", "/v1/tables/${T}/p/%FF", Err(400, "invalid_key"),
              body=b"{}"),
            R("GET", "/v1/tables/${T}/p/" + "k" * 256,
              Err(400, "invalid_key")),
            R("GET", "/v1/tables/${T}/p/", Err(400, "invalid_key")),
            put("p\u00e9 \U0001f600", "k" * 255, {"ok": True}, 201),
            get("p\u00e9 \U0001f600", "k" * 255, 200),
        ]),
        Case("one partition in row-key order, paged", [Fn(fn_query)]),
        Case("query limits", [
            R("GET", "/v1/tables/${T}/p?limit=0", Err(400, "bad_request")),
            R("GET", "/v1/tables/${T}/p?limit=1001", Err(400, "bad_request")),
            R("GET", "/v1/tables/${T}/p?cursor=garbage",
              Err(400, "bad_request")),
            R("GET", "/v1/tables/${T}/p?limit=1000",
              [200, Json({"items": [], "next_cursor": None})]),
        ]),
        Case("concurrent writers: one wins each round", [fn_race()]),
        Case("rights: get only, none", [
            put("p", "r", {"a": 1}, 201),
            get("p", "r", 200, token="get"),
            put("p", "r", {"a": 2}, Err(403, "forbidden"), token="get"),
            R("GET", "/v1/tables/${T}/p", Err(403, "forbidden"),
              token="get"),
            R("DELETE", ent("p", "r"), Err(403, "forbidden"), token="get"),
            R("PUT", "/v1/tables/${T}", Err(403, "forbidden"), token="get"),
            get("p", "r", Err(404, "no_such_store"), token="none"),
        ]),
        Case("wrong methods: 405", [
            R("POST", "/v1/tables/${T}", Err(405, "method_not_allowed")),
            R("PUT", "/v1/tables/${T}/p", Err(405, "method_not_allowed"),
              body=b"{}"),
            R("POST", ent("p", "r"), Err(405, "method_not_allowed")),
        ]),
        Case("deleted table: put is 404", [
            R("DELETE", "/v1/tables/${T}", [204]),
            put("p", "r", {"a": 1}, Err(404, "not_found")),
        ]),
        Case("listed in /v1/stores as a table", [Fn(fn_stores_lists_table)]),
    ]


CASES = _cases()


# ---------------------------------------------------------------- runner

def config_for(profile, run_id):
    groups = []
    for idx in range(len(CASES)):
        store = "t%02d" % idx
        table = "ct%s%02d" % (run_id, idx)
        groups.append(stratus.store_conf(store, profile.table_settings(
            store, table), kind="table"))
    clients = [
        stratus.client_conf("all", TOKENS["rw"], ["table:*:*"]),
        stratus.client_conf("get", TOKENS["get"], ["table:*:get"]),
        stratus.client_conf("none", TOKENS["none"], ["blob:t00:get"]),
    ]
    return stratus.make_config(groups, clients, allow_anonymous=False,
                               extra=profile.config_extra())


class TCtx(Ctx):
    def request(self, method, path, **kw):
        tok = kw.pop("token", "rw")
        return self.daemon.request(method, path,
                                   token=TOKENS[tok] if tok else None, **kw)


def run(profile, tap, only=None):
    run_suite(Suite("table", "T", "/v1/tables/", CASES, config_for, TCtx, 4),
              profile, tap, only)


class LocalProfile:
    """The built-in local store: a directory per table store."""
    name = "local"
    features = ALL_FEATURES

    def __init__(self):
        self.root = None

    def setup(self, workdir):
        self.root = os.path.join(workdir, "tables")
        os.makedirs(self.root, exist_ok=True)

    def teardown(self):
        pass

    def table_settings(self, store, table):
        return {"provider": "local", "path": os.path.join(self.root, store)}

    def config_extra(self):
        return ""
