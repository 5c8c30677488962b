#!/usr/bin/python3
"""
test_rights.py - access rights by service (configuration.md, clients):

  blob rights      each right (get, list, put, delete, presign), the
                   shorthands and KIND / STORE "*" allow exactly the
                   requests that need them, and every other request is
                   403 forbidden naming a missing right; a copy needs get
                   on the source and put on the target; a presign needs
                   presign and the right of the method it signs
  absent stores    a token with no right on a store gets 404
                   no_such_store, worded as for a store that does not
                   exist, and /v1/stores does not list it; no token where
                   one is needed is 401
  /v1/stores       "rights" (expanded, in the documented order) and
                   "access" for blob, queue and table stores
  queue, table     each right lets its requests through the check and no
                   others (local stores)
  token_file       the token read from a file (next to the configuration,
                   by absolute name, in $CREDENTIALS_DIRECTORY), refused
                   when others may read it, re-read on SIGHUP
  token new        `stratusd token new NAME RULE...` prints a token and a
                   client entry that work once pasted into a configuration
"""

import hashlib
import json
import os
import re
import signal
import sys
import tempfile
import traceback

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import stratus  # noqa: E402
from stratus import client_conf, conf_str, conf_value, store_conf  # noqa: E402

ADMIN = "rights-admin-token"

# The rights of each kind, in the order /v1/stores lists them.
ORDER = {"blob": ["get", "list", "put", "delete", "presign"],
         "queue": ["send", "receive", "ack", "admin"],
         "table": ["get", "query", "put", "delete", "admin"]}
SHORT = {
    "blob": {"read": {"get", "list", "presign"},
             "write": {"put", "delete", "presign"}},
    "queue": {"read": {"receive", "ack"}, "write": {"send"}},
    "table": {"read": {"get", "query"}, "write": {"put", "delete"}},
}


def expand(kind, words):
    """The rights a RIGHTS list gives on a store of kind, as documented."""
    out = set()
    for w in words.split(","):
        if w == "*":
            out |= set(ORDER[kind])
        elif w in ("r", "read") or (w == "receive" and kind != "queue"):
            out |= SHORT[kind]["read"]
        elif w in ("w", "write") or (w == "send" and kind != "queue"):
            out |= SHORT[kind]["write"]
        elif w == "rw":
            out |= SHORT[kind]["read"] | SHORT[kind]["write"]
        elif w in ORDER[kind]:
            out.add(w)
    return out


def access(rights):
    reading = rights & {"get", "list", "query", "receive", "ack"}
    writing = rights & {"put", "delete", "send", "admin"}
    if reading and writing:
        return "read-write"
    return "write" if writing else "read"


# Blob tokens: name -> rules; all on store "b" unless they say otherwise.
BLOB_TOKENS = {
    "get": ["blob:b:get"],
    "list": ["blob:b:list"],
    "put": ["blob:b:put"],
    "delete": ["blob:b:delete"],
    "presign": ["blob:b:presign"],
    "presign+get": ["blob:b:presign,get"],
    "presign+put": ["blob:b:put,presign"],
    "get+put": ["blob:b:get", "blob:b:put"],
    "r": ["blob:b:r"],
    "read": ["blob:b:read"],
    "w": ["blob:b:w"],
    "write": ["blob:b:write"],
    "rw": ["blob:b:rw"],
    "all": ["blob:b:*"],
    "old receive": ["blob:b:receive"],
    "old send": ["blob:b:send"],
    "kind * get": ["*:b:get"],
    "store * list": ["blob:*:list", "queue:q:send"],
    "get,list,put,delete": ["blob:b:get,list,put,delete"],
}


def token_of(name):
    return "tok-" + re.sub(r"[^a-z0-9]+", "-", name)


def blob_rights(rules, store="b"):
    out = set()
    for rule in rules:
        kind, st, words = rule.split(":")
        if kind in ("blob", "*") and st in (store, "*"):
            out |= expand("blob", words)
    return out


def local(root, name, kind="blob", **extra):
    return store_conf(name, {"provider": "local",
                             "path": os.path.join(root, "stores", name)},
                      kind=kind, extra=extra)


def file_client(name, file, allow):
    return "{ name = %s; token_file = %s; allow = %s; }" % (
        conf_str(name), conf_str(file), conf_value(list(allow)))


def write_secret(path, text, mode=0o600):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


def is_error(r, status, code=None):
    if r.status != status:
        return False, "status %d, expected %d: %r" % (r.status, status, r)
    if code is not None and r.error_code() != code:
        return False, "code %r, expected %r: %r" % (r.error_code(), code, r)
    return True, None


def message(r):
    try:
        return r.json()["error"]["message"]
    except Exception:
        return ""


# ---------------------------------------------------------------- blobs

# (what, rights needed, request maker(d, token, n), success status)
def presign_body(store, key, method):
    return json.dumps({"store": store, "key": key, "method": method,
                       "expires_in": 60})


BLOB_OPS = [
    ("GET", {"get"}, lambda d, t, n: d.request(
        "GET", "/v1/blobs/b/k", token=t), 200),
    ("HEAD", {"get"}, lambda d, t, n: d.request(
        "HEAD", "/v1/blobs/b/k", token=t), 200),
    ("list", {"list"}, lambda d, t, n: d.request(
        "GET", "/v1/blobs/b?prefix=k", token=t), 200),
    ("list/", {"list"}, lambda d, t, n: d.request(
        "GET", "/v1/blobs/b/", token=t), 200),
    ("PUT", {"put"}, lambda d, t, n: d.request(
        "PUT", "/v1/blobs/b/put-%d" % n, body=b"p", token=t), 201),
    ("DELETE", {"delete"}, lambda d, t, n: d.request(
        "DELETE", "/v1/blobs/b/del-%d" % n, token=t), 204),
    ("presign GET", {"presign", "get"}, lambda d, t, n: d.request(
        "POST", "/v1/presign", body=presign_body("b", "k", "GET"),
        headers={"Content-Type": "application/json"}, token=t), 200),
    ("presign PUT", {"presign", "put"}, lambda d, t, n: d.request(
        "POST", "/v1/presign", body=presign_body("b", "pre-%d" % n, "PUT"),
        headers={"Content-Type": "application/json"}, token=t), 200),
    ("copy", {"get", "put"}, lambda d, t, n: d.request(
        "PUT", "/v1/blobs/b/copy-%d" % n, headers={"X-Copy-Source": "b/k"},
        token=t), 201),
]


def check_blob_rights(tap, d):
    n = 0
    for name, rules in BLOB_TOKENS.items():
        have = blob_rights(rules)
        tok = token_of(name)
        for what, needs, make, status in BLOB_OPS:
            n += 1
            # Something to delete, so that a denied DELETE shows it kept it.
            d.request("PUT", "/v1/blobs/b/del-%d" % n, body=b"d", token=ADMIN)
            r = make(d, tok, n)
            missing = needs - have
            if not missing:
                tap.ok(r.status == status, "%s token (%s): %s allowed, %d" %
                       (name, ",".join(sorted(have)), what, status), repr(r))
                continue
            if what == "HEAD":
                good, why = r.status == 403, repr(r)
            else:
                good, why = is_error(r, 403, "forbidden")
                named = [x for x in missing if "'%s' right" % x in message(r)]
                if good and not named:
                    good, why = False, "names no missing right %r: %r" % (
                        sorted(missing), message(r))
            tap.ok(good, "%s token: %s is 403, lacking %s" % (
                name, what, ",".join(sorted(missing))), why)
            if what in ("PUT", "copy"):
                key = "put-%d" % n if what == "PUT" else "copy-%d" % n
                r = d.request("GET", "/v1/blobs/b/" + key, token=ADMIN)
                tap.ok(r.status == 404, "%s token: the denied %s wrote "
                       "nothing" % (name, what), repr(r))
            if what == "DELETE":
                r = d.request("GET", "/v1/blobs/b/del-%d" % n, token=ADMIN)
                tap.ok(r.status == 200, "%s token: the denied DELETE kept "
                       "the blob" % name, repr(r))


def check_presigned_use(tap, d):
    r = d.request("POST", "/v1/presign", body=presign_body("b", "k", "GET"),
                  headers={"Content-Type": "application/json"},
                  token=token_of("presign+get"))
    url = r.json().get("url") if r.status == 200 else None
    tap.ok(url is not None, "presign+get token: a GET URL", repr(r))
    if url:
        r = stratus.url_request(url)
        tap.ok(r.status == 200 and r.body == b"kkk", "the URL of a "
               "presign,get token reads the blob without a token", repr(r))
    r = d.request("POST", "/v1/presign", body=presign_body("b", "k", "PUT"),
                  headers={"Content-Type": "application/json"},
                  token=token_of("presign+get"))
    ok, why = is_error(r, 403, "forbidden")
    tap.ok(ok and "'put' right" in message(r), "presign+get token: a PUT "
           "URL is 403 naming put", why or message(r))
    r = d.request("POST", "/v1/presign", body=presign_body("b", "k", "GET"),
                  headers={"Content-Type": "application/json"},
                  token=token_of("get+put"))
    ok, why = is_error(r, 403, "forbidden")
    tap.ok(ok and "'presign' right" in message(r), "get+put token: a "
           "presign is 403 naming presign", why or message(r))


def check_copy_rights(tap, d):
    cases = [
        # (token, source, status, code, the right named)
        ("copy-put-b-list-c", "c/k", 403, "forbidden", "'get' right"),
        ("copy-put-b-get-c", "c/k", 201, None, None),
        ("copy-put-b", "c/k", 404, "no_such_store", None),
        (token_of("rw"), "c/k", 404, "no_such_store", None),
        (token_of("put"), "b/k", 403, "forbidden", "'get' right"),
        (token_of("get"), "b/k", 403, "forbidden", "'put' right"),
        (token_of("get+put"), "b/k", 201, None, None),
        (token_of("rw"), "nosuch/k", 404, "no_such_store", None),
    ]
    for i, (tok, src, status, code, named) in enumerate(cases):
        r = d.request("PUT", "/v1/blobs/b/copied-%d" % i, token=tok,
                      headers={"X-Copy-Source": src})
        ok, why = is_error(r, status, code)
        if ok and named and named not in message(r):
            ok, why = False, message(r)
        tap.ok(ok, "copy from %s with %s: %d%s" % (
            src, tok, status, " " + code if code else ""), why)
    r = d.request("GET", "/v1/blobs/b/copied-1", token=ADMIN)
    tap.ok(r.status == 200 and r.body == b"ccc", "a copy with get on the "
           "source and put on the target is made", repr(r))


def check_absent(tap, d):
    """No right at all on a store: the store is absent, in the same words
    as a store that does not exist."""
    reqs = [
        ("GET", "/v1/blobs/%s/k", None),
        ("HEAD", "/v1/blobs/%s/k", None),
        ("GET", "/v1/blobs/%s", None),
        ("PUT", "/v1/blobs/%s/x", b"x"),
        ("DELETE", "/v1/blobs/%s/k", None),
    ]
    for name in ("get", "rw", "all", "presign"):
        tok = token_of(name)
        for method, path, body in reqs:
            r = d.request(method, path % "c", body=body, token=tok)
            r2 = d.request(method, path % "nosuch", body=body, token=tok)
            if method == "HEAD":
                ok, why = r.status == 404, repr(r)
            else:
                ok, why = is_error(r, 404, "no_such_store")
                if ok and message(r) != message(r2).replace("nosuch", "c"):
                    ok, why = False, "%r vs %r" % (message(r), message(r2))
            tap.ok(ok, "%s token on a store it has no right on: %s %s is "
                   "404 no_such_store, as for no store" % (
                       name, method, path % "c"), why)
        r = d.request("POST", "/v1/presign", body=presign_body("c", "k", "GET"),
                      headers={"Content-Type": "application/json"}, token=tok)
        tap.ok(*is_error(r, 404, "no_such_store"),
               "%s token: presign on a store it has no right on: 404" % name)
        r = d.request("GET", "/v1/stores", token=tok)
        names = [s["name"] for s in r.json()["stores"]] if r.status == 200 \
            else None
        tap.ok(names == ["b"], "%s token: /v1/stores lists b only" % name,
               repr(r))
    # A token with rights on queues only: the blob store is absent.
    r = d.request("GET", "/v1/blobs/b/k", token=token_of("only queue send"))
    tap.ok(*is_error(r, 404, "no_such_store"), "a token with queue rights "
           "only: a blob store is absent")
    # A name on KIND "*" gives nothing on the kinds that lack it.
    r = d.request("GET", "/v1/tables/t/p", token=token_of("kinds * list"))
    tap.ok(*is_error(r, 404, "no_such_store"), "*:*:list gives no table "
           "right: a table is absent")
    r = d.request("GET", "/v1/blobs/b", token=token_of("kinds * query"))
    tap.ok(*is_error(r, 404, "no_such_store"), "*:*:query gives no blob "
           "right: a blob store is absent")
    d.request("PUT", "/v1/tables/t", token=ADMIN)
    r = d.request("GET", "/v1/tables/t/p", token=token_of("kinds * query"))
    tap.ok(r.status == 200, "*:*:query queries a table", repr(r))
    # A blob store is not a queue: its name on a queue route is absent.
    r = d.request("POST", "/v1/queues/b/messages", body=b"m", token=ADMIN)
    tap.ok(*is_error(r, 404, "no_such_store"), "a blob store's name on a "
           "queue route: 404 no_such_store")


def check_anonymous(tap, d):
    for method, path, body in [("GET", "/v1/blobs/b/k", None),
                               ("GET", "/v1/blobs/b", None),
                               ("PUT", "/v1/blobs/b/anon", b"a"),
                               ("DELETE", "/v1/blobs/b/k", None),
                               ("GET", "/v1/blobs/c/k", None),
                               ("POST", "/v1/queues/q/messages", b"m")]:
        r = d.request(method, path, body=body)
        ok, why = is_error(r, 401, "unauthorized")
        tap.ok(ok and r.header("WWW-Authenticate", "").startswith("Bearer"),
               "no token on a private store: %s %s is 401" % (method, path),
               why)
        r = d.request(method, path, body=body, token="not-a-token")
        tap.ok(*is_error(r, 401, "unauthorized"), "an unknown token: %s %s "
               "is 401" % (method, path))
    # Anonymous where allowed: every right of the kind.
    for what, make, status in [
            ("PUT", lambda: d.request("PUT", "/v1/blobs/pub/a", body=b"a"), 201),
            ("GET", lambda: d.request("GET", "/v1/blobs/pub/a"), 200),
            ("list", lambda: d.request("GET", "/v1/blobs/pub"), 200),
            ("presign", lambda: d.request(
                "POST", "/v1/presign", body=presign_body("pub", "a", "GET"),
                headers={"Content-Type": "application/json"}), 200),
            ("DELETE", lambda: d.request("DELETE", "/v1/blobs/pub/a"), 204)]:
        r = make()
        tap.ok(r.status == status, "anonymous on an anonymous store: %s "
               "%d" % (what, status), repr(r))
    r = d.request("PUT", "/v1/blobs/pub/from-c",
                  headers={"X-Copy-Source": "c/k"})
    tap.ok(*is_error(r, 401, "unauthorized"), "anonymous copy from a "
           "private store: 401")
    r = d.request("GET", "/v1/stores")
    st = r.json().get("stores") if r.status == 200 else None
    tap.ok(st == [{"name": "pub", "kind": "blob", "provider": "local",
                   "access": "read-write", "rights": ORDER["blob"]}],
           "/v1/stores, anonymous: pub with every blob right", repr(r))


# ---------------------------------------------------------------- /v1/stores

STORE_TOKENS = {
    "kinds * r": ["*:*:r"],
    "kinds * all": ["*:*:*"],
    "kinds * get": ["*:*:get"],
    "kinds * admin": ["*:*:admin"],
    "kinds * send": ["*:*:send"],
    "kinds * list": ["*:*:list"],
    "kinds * query": ["*:*:query"],
    "only queue send": ["queue:q:send"],
    "only table query": ["table:t:query"],
}
KINDS = {"b": "blob", "c": "blob", "pub": "blob", "q": "queue", "t": "table"}


def rights_on(rules, store):
    kind = KINDS[store]
    out = set()
    for rule in rules:
        k, st, words = rule.split(":")
        if k in (kind, "*") and st in (store, "*"):
            out |= expand(kind, words)
    return out


def check_stores(tap, d):
    every = dict(BLOB_TOKENS)
    every.update(STORE_TOKENS)
    for name, rules in every.items():
        want = []
        for store in ("b", "c", "pub", "q", "t"):
            have = rights_on(rules, store)
            if have:
                want.append({"name": store, "kind": KINDS[store],
                             "provider": "local", "access": access(have),
                             "rights": [x for x in ORDER[KINDS[store]]
                                        if x in have]})
        r = d.request("GET", "/v1/stores", token=token_of(name))
        got = r.json().get("stores") if r.status == 200 else None
        if got is not None:
            got = sorted(got, key=lambda s: s["name"])
        tap.ok(got == want, "/v1/stores, %s token (%s): rights and access" % (
            name, " ".join(rules)), "got %r\nwant %r" % (got, want))


# ---------------------------------------------------------------- queue, table

QUEUE_OPS = [
    ("create", "admin", "PUT", "/v1/queues/q", None),
    ("send", "send", "POST", "/v1/queues/q/messages", b"m"),
    ("receive", "receive", "GET", "/v1/queues/q/messages?max=1&visibility=1",
     None),
    ("change visibility", "receive", "PATCH",
     "/v1/queues/q/messages/not-a-receipt?visibility=0", None),
    ("ack", "ack", "DELETE", "/v1/queues/q/messages/not-a-receipt", None),
    ("delete", "admin", "DELETE", "/v1/queues/q", None),
]
TABLE_OPS = [
    ("create", "admin", "PUT", "/v1/tables/t", None),
    ("put", "put", "PUT", "/v1/tables/t/p/r", b'{"a": 1}'),
    ("get", "get", "GET", "/v1/tables/t/p/r", None),
    ("query", "query", "GET", "/v1/tables/t/p", None),
    ("delete entity", "delete", "DELETE", "/v1/tables/t/p/gone", None),
    ("delete", "admin", "DELETE", "/v1/tables/t", None),
]
SERVICE_TOKENS = {
    "queue": {"send": ["queue:q:send"], "receive": ["queue:q:receive"],
              "ack": ["queue:q:ack"], "admin": ["queue:q:admin"],
              "r": ["queue:q:r"], "w": ["queue:*:w"], "rw": ["queue:q:rw"],
              "all": ["queue:q:*"], "kinds * admin": ["*:q:admin"]},
    "table": {"get": ["table:t:get"], "query": ["table:t:query"],
              "put": ["table:t:put"], "delete": ["table:t:delete"],
              "admin": ["table:t:admin"], "r": ["table:t:r"],
              "w": ["table:*:w"], "rw": ["table:t:rw"], "all": ["table:t:*"],
              "old receive": ["table:t:receive"],
              "kinds * get": ["*:*:get"]},
}


def service_token(kind, name):
    return token_of("%s %s" % (kind, name))


def check_service_rights(tap, d, kind, ops):
    store = "q" if kind == "queue" else "t"
    for name, rules in SERVICE_TOKENS[kind].items():
        have = rights_on(rules, store)
        tok = service_token(kind, name)
        # The queue or table is there for each token's requests.
        d.request("PUT", ops[0][3], token=ADMIN)
        for what, need, method, path, body in ops:
            hdrs = {"Content-Type": "application/json"} if body and \
                kind == "table" else {}
            r = d.request(method, path, body=body, headers=hdrs, token=tok)
            if need in have:
                ok = r.status not in (401, 403) and \
                    r.error_code() != "no_such_store" and r.status < 500
                tap.ok(ok, "%s %s token: %s passes the rights check" % (
                    kind, name, what), repr(r))
            else:
                ok, why = is_error(r, 403, "forbidden")
                if ok and "'%s' right" % need not in message(r):
                    ok, why = False, message(r)
                tap.ok(ok, "%s %s token: %s is 403 naming %s" % (
                    kind, name, what, need), why)
        # A token with rights on another store only sees this one absent.
        r = d.request(ops[1][2], ops[1][3], body=ops[1][4],
                      token=token_of("rw"))
        tap.ok(*is_error(r, 404, "no_such_store"), "%s: a token with blob "
               "rights only: 404 no_such_store" % kind)
    d.request("PUT", ops[0][3], token=ADMIN)


# ---------------------------------------------------------------- token_file

def check_token_files(tap, d, root, tokens):
    for what, tok in tokens.items():
        r = d.request("GET", "/v1/blobs/b/k", token=tok)
        tap.ok(r.status == 200 and r.body == b"kkk", "token_file (%s): the "
               "token in the file works" % what, repr(r))
    # Rotation: a new token in the file, then SIGHUP.
    write_secret(os.path.join(root, "relative.token"), "rotated-token\n")
    mark = d.log_mark()
    d.send_signal(signal.SIGHUP)
    rec = d.wait_log(lambda x: x.get("msg") in ("reloaded", "reload failed"),
                     timeout=60, since=mark)
    tap.ok(rec is not None and rec.get("msg") == "reloaded", "token_file: "
           "reloaded after the file changed", repr(rec))
    r = d.request("GET", "/v1/blobs/b/k", token="rotated-token")
    tap.ok(r.status == 200, "token_file: the new token works after SIGHUP",
           repr(r))
    r = d.request("GET", "/v1/blobs/b/k", token=tokens["relative"])
    tap.ok(r.status == 401, "token_file: the old token is refused after "
           "SIGHUP", repr(r))
    # A reload with a file others may read fails and keeps the old tokens.
    os.chmod(os.path.join(root, "relative.token"), 0o644)
    mark = d.log_mark()
    d.send_signal(signal.SIGHUP)
    rec = d.wait_log(lambda x: x.get("msg") in ("reloaded", "reload failed"),
                     timeout=60, since=mark)
    tap.ok(rec is not None and rec.get("msg") == "reload failed" and
           "group or others" in rec.get("error", ""), "token_file: a reload "
           "with a group-readable token file fails, says why", repr(rec))
    r = d.request("GET", "/v1/blobs/b/k", token="rotated-token")
    tap.ok(r.status == 200, "token_file: the tokens before the failed "
           "reload still work", repr(r))
    os.chmod(os.path.join(root, "relative.token"), 0o600)


def check_token_file_config(tap):
    with tempfile.TemporaryDirectory(prefix="stratus-tokfile-") as d:
        tok = os.path.join(d, "t.token")
        cases = [
            ("a token file others may read", 0o644,
             '  { name = "c";\n    token_file = "t.token"; allow = ( ); }\n',
             4, r"token_file: .*group or others"),
            ("a token file that is not there", 0o600,
             '  { name = "c";\n    token_file = "none.token"; allow = ( ); }\n',
             4, r"token_file: cannot open"),
            ("both token_sha256 and token_file", 0o600,
             '  { name = "c"; token_file = "t.token";\n    token_sha256 = '
             '"%s"; allow = ( ); }\n' % ("a" * 64), 3, r"exactly one of"),
            ("neither token_sha256 nor token_file", 0o600,
             '  { name = "c"; allow = ( ); }\n', 3, r"exactly one of"),
        ]
        for what, mode, client, line, reason in cases:
            write_secret(tok, "file-token\n", mode)
            p = os.path.join(d, "c.conf")
            with open(p, "w") as f:
                f.write('listen = { port = 0; };\nclients = (\n' + client +
                        ');\n')
            rc, out, err = stratus.run_stratusd(["--check-config", "-c", p])
            m = re.match(r"^(.+?):(\d+): (.+)$", err.splitlines()[0]
                         if err else "")
            tap.ok(rc == 1 and m is not None and m.group(1) == p and
                   int(m.group(2)) == line and re.search(reason, m.group(3))
                   and "file-token" not in err, "--check-config, %s: "
                   "FILE:%d: reason, exit 1" % (what, line),
                   "%r %r" % (rc, err))


# ---------------------------------------------------------------- token new

def parse_token_new(out):
    """(token, the client entry) from `stratusd token new` output."""
    lines = out.splitlines()
    entry = "\n".join(x for x in lines[1:] if x and not x.startswith("#"))
    return lines[0] if lines else "", entry


def check_token_new_cli(tap):
    rc, out, err = stratus.run_stratusd(["token", "new", "webapp",
                                         "blob:photos:get,list",
                                         "queue:*:send"])
    tok, entry = parse_token_new(out)
    digest = hashlib.sha256(tok.encode()).hexdigest()
    tap.ok(rc == 0 and re.fullmatch(r"[A-Za-z0-9_-]{43}", tok) is not None,
           "token new: exit 0, the first line is the token (32 random "
           "bytes, base64url)", "%r %r %r" % (rc, out, err))
    tap.ok(entry == '{ name = "webapp";\n  token_sha256 = "%s";\n  allow = '
           '( "blob:photos:get,list", "queue:*:send" ); }' % digest,
           "token new: the client entry holds the token's SHA-256 and the "
           "rules", entry)
    tap.ok(out.count(tok) == 1 and not stratus.sanitizer_report(err),
           "token new: the token is printed once", out)
    rc2, out2, _ = stratus.run_stratusd(["token", "new", "webapp"])
    tok2, entry2 = parse_token_new(out2)
    tap.ok(rc2 == 0 and tok2 != tok and "allow = ( ); }" in entry2,
           "token new without rules: another token, an empty allow list",
           out2)
    for what, args, reason in [
            ("a right the kind does not have", ["app", "blob:b:admin"],
             "'admin' is not a right of blob stores"),
            ("an unknown kind", ["app", "bucket:b:get"], "unknown kind"),
            ("no RIGHTS", ["app", "blob:b"], "KIND:STORE:RIGHTS"),
            ("a bad store name", ["app", "blob:B:get"], "not a store name"),
            ("a name with a quote", ['a"b'], "client name"),
            ("an empty name", [""], "client name"),
            ("no name", [], "usage"),
    ]:
        rc, out, err = stratus.run_stratusd(["token", "new"] + args)
        tap.ok(rc == 2 and out == "" and reason in err, "token new, %s: "
               "exit 2, nothing on stdout, says why" % what,
               "%r %r %r" % (rc, out, err))
    rc, out, err = stratus.run_stratusd(["token", "old", "app"])
    tap.ok(rc == 2 and "usage" in err, "token with another verb: exit 2",
           "%r %r" % (rc, err))
    rc, out, err = stratus.run_stratusd(["--help"])
    tap.ok(rc == 0 and "token new" in out, "--help mentions token new", out)


# ---------------------------------------------------------------- main

def config(root, extra_clients, creds=False):
    stores = [local(root, "b"), local(root, "c"),
              local(root, "pub", allow_anonymous=True),
              local(root, "q", kind="queue"), local(root, "t", kind="table")]
    clients = [client_conf("admin", ADMIN, ["*:*:*"])]
    for name, rules in list(BLOB_TOKENS.items()) + \
            list(STORE_TOKENS.items()):
        clients.append(client_conf(name, token_of(name), rules))
    for kind, toks in SERVICE_TOKENS.items():
        for name, rules in toks.items():
            clients.append(client_conf(kind + " " + name,
                                       service_token(kind, name), rules))
    clients += [
        client_conf("copy1", "copy-put-b-list-c", ["blob:b:put",
                                                   "blob:c:list"]),
        client_conf("copy2", "copy-put-b-get-c", ["blob:b:put",
                                                  "blob:c:get"]),
        client_conf("copy3", "copy-put-b", ["blob:b:put"]),
    ]
    clients += extra_clients
    return stratus.make_config(stores, clients, allow_anonymous=False)


def guarded(tap, name, fn, *args):
    try:
        fn(*args)
    except Exception:
        tap.ok(False, name + " (raised)", traceback.format_exc())


def main():
    tap = stratus.TAP()
    guarded(tap, "token new", check_token_new_cli, tap)
    guarded(tap, "token_file configuration", check_token_file_config, tap)

    with tempfile.TemporaryDirectory(prefix="stratus-rights-") as root:
        creds = os.path.join(root, "creds")
        os.mkdir(creds, 0o700)
        write_secret(os.path.join(root, "relative.token"), "relative-token\n")
        write_secret(os.path.join(root, "abs.token"), "absolute-token")
        write_secret(os.path.join(creds, "cred.token"), "credentials-token\n")
        # The same name next to the configuration: the credentials
        # directory is looked in first.
        write_secret(os.path.join(root, "cred.token"), "shadowed-token\n")
        rc, out, err = stratus.run_stratusd(["token", "new", "pasted",
                                             "blob:b:get,list"])
        pasted, entry = parse_token_new(out)
        tokens = {"relative": "relative-token",
                  "absolute": "absolute-token",
                  "CREDENTIALS_DIRECTORY": "credentials-token"}
        extra = [file_client("f1", "relative.token", ["blob:b:get"]),
                 file_client("f2", os.path.join(root, "abs.token"),
                             ["blob:b:get"]),
                 file_client("f3", "cred.token", ["blob:b:get"]),
                 entry]
        env = dict(os.environ, CREDENTIALS_DIRECTORY=creds)
        try:
            d = stratus.Daemon(config(root, extra), name="rights", env=env,
                               tmpdir=root)
        except Exception:
            tap.ok(False, "daemon starts", traceback.format_exc())
            tap.done()
        try:
            r = d.request("PUT", "/v1/blobs/b/k", body=b"kkk", token=ADMIN)
            r2 = d.request("PUT", "/v1/blobs/c/k", body=b"ccc", token=ADMIN)
            tap.ok(r.status == 201 and r2.status == 201, "set up: b/k, c/k",
                   "%r %r" % (r, r2))
            r = d.request("GET", "/v1/blobs/b/k", token=pasted)
            r2 = d.request("GET", "/v1/blobs/b", token=pasted)
            r3 = d.request("PUT", "/v1/blobs/b/x", body=b"x", token=pasted)
            tap.ok(rc == 0 and r.status == 200 and r2.status == 200 and
                   r3.status == 403, "token new: the printed token and "
                   "entry, pasted into the configuration, read and list, "
                   "and may not write", "%r %r %r %r" % (rc, r, r2, r3))
            r = d.request("GET", "/v1/blobs/b/k", token="shadowed-token")
            tap.ok(r.status == 401, "token_file: $CREDENTIALS_DIRECTORY is "
                   "looked in before the configuration's directory", repr(r))
            for name, fn, args in [
                    ("blob rights", check_blob_rights, (tap, d)),
                    ("presigned use", check_presigned_use, (tap, d)),
                    ("copy rights", check_copy_rights, (tap, d)),
                    ("absent stores", check_absent, (tap, d)),
                    ("anonymous", check_anonymous, (tap, d)),
                    ("stores", check_stores, (tap, d)),
                    ("queue rights", check_service_rights,
                     (tap, d, "queue", QUEUE_OPS)),
                    ("table rights", check_service_rights,
                     (tap, d, "table", TABLE_OPS)),
                    ("token files", check_token_files,
                     (tap, d, root, tokens))]:
                guarded(tap, name, fn, *args)
                if not d.alive():
                    tap.ok(False, "daemon still running after " + name,
                           stratus.interesting_stderr(d.stderr_text()))
                    break
            d.stop_check(tap)
        finally:
            d.cleanup()
    tap.done()


if __name__ == "__main__":
    main()
