"""
blob_conformance.py - the blob contract of API.md as a table of cases.

Each case is a name and a list of steps (HTTP requests with expectations,
in the spirit of curl's test cases). The same table runs against any
*profile*: an object that knows how to set a provider up (start an
emulator, make buckets), which provider settings a store of that provider
needs, and how to tear it down. Nothing here knows which provider it talks
to; a case that needs a capability some emulators lack says so in
`requires`, and a profile lists the capabilities it has.

    class Profile:
        name = "local"
        features = {"presign_verify"}     # see FEATURES
        def setup(self, workdir): ...     # start emulators, make buckets
        def teardown(self): ...
        def store_settings(self, name):   # {"provider": ..., ...}
        def config_extra(self): ...       # e.g. a credentials = {...}; block

    run(profile, tap)                     # one TAP test per case

Steps:
    R(method, path, headers=, body=, token=, expect=[...], save={...})
        path: K("key") for a key (templated, then percent-encoded), a raw
        relative path ("a%2Fb", appended to /v1/blobs/STORE/ as is) or an
        absolute path ("/v1/...").
    U(method, "${url}", ...)  a plain request to an absolute URL, no token
    Raw(b"...", expect=)      raw bytes on a socket
    Fn(callable)              code for what a table cannot say

Templates: ${S} the store, ${S2} a second store of the same provider,
${SMALL} a store with max_object_size = 1000, ${P} the case's own key
prefix (unique per run and case), and anything a step saved.

Every response is also checked for what every answer must have: an
X-Request-Id, and for errors a JSON body {"error":{"code","message",
"request_id"}} with Content-Type application/json.
"""

import base64
import hashlib
import json
import os
import random
import re
import sys
import threading
import time
import traceback
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import stratus  # noqa: E402

FEATURES = {
    "presign_verify": "presigned URLs are checked (signature, method, key, "
                      "expiry) by whoever serves them",
    # What real S3 and Azure do and s3rver 3.7 does not (each case that
    # needs one still runs on the local store and on Azurite):
    "suffix_range": "Range: bytes=-N gives the last N bytes (s3rver serves "
                    "bytes 0-N)",
    "conditional_put": "If-None-Match: * and If-Match on writes are enforced "
                       "by the store (s3rver ignores both)",
    "byte_order_listing": "listings come in byte order of the whole key "
                          "(s3rver sorts 'b/1' before 'b-')",
    "long_keys": "keys of 1024 bytes (s3rver keeps each key as a file name "
                 "and dies on names over 255 bytes)",
    "copy_reserved_chars": "a copy source key with reserved characters such "
                           "as '+' (s3rver decodes x-amz-copy-source with "
                           "decodeURI, which leaves %2B as it is)",
}
ALL_FEATURES = set(FEATURES)

TOKENS = {"rw": "conformance-rw-token", "ro": "conformance-ro-token"}


class Fail(Exception):
    pass


# ---------------------------------------------------------------- steps

class K:
    """A key, templated then percent-encoded into the path."""

    def __init__(self, key):
        self.key = key


class R:
    def __init__(self, method, path, expect=(), headers=None, body=None,
                 token="rw", save=None, query=None):
        self.method = method
        self.path = path
        self.expect = expect if isinstance(expect, (list, tuple)) else [expect]
        self.headers = headers
        self.body = body
        self.token = token
        self.save = save or {}
        self.query = query

    def describe(self, ctx):
        return "%s %s" % (self.method, build_path(ctx, self))


class U(R):
    """An absolute URL (a presigned one), fetched without a token."""

    def __init__(self, method, url, expect=(), headers=None, body=None,
                 mangle=None, save=None):
        R.__init__(self, method, url, expect, headers, body, None, save)
        self.mangle = mangle

    def describe(self, ctx):
        return "%s %s" % (self.method, self.url(ctx))

    def url(self, ctx):
        u = ctx.sub(self.path)
        return self.mangle(u) if self.mangle else u


class Raw:
    def __init__(self, data, expect=()):
        self.data = data
        self.expect = expect if isinstance(expect, (list, tuple)) else [expect]
        self.save = {}

    def describe(self, ctx):
        return "raw %r" % ctx.sub(self.data)[:80]


class Fn:
    def __init__(self, fn, what=None):
        self.fn = fn
        self.what = what or getattr(fn, "__name__", "code")

    def describe(self, ctx):
        return self.what


class Chunks:
    """A body sent with Transfer-Encoding: chunked, in these pieces."""

    def __init__(self, pieces):
        self.pieces = pieces

    def __call__(self):
        return iter(list(self.pieces))


# ---------------------------------------------------------------- checks

def _show(v, n=200):
    r = repr(v)
    return r if len(r) <= n else r[:n] + "..."


class Status:
    def __init__(self, lo, hi=None):
        self.lo, self.hi = lo, hi if hi is not None else lo

    def __call__(self, ctx, r):
        if not self.lo <= r.status <= self.hi:
            raise Fail("status %d, expected %s" % (
                r.status, self.lo if self.lo == self.hi else
                "%d-%d" % (self.lo, self.hi)))


class Err:
    """An error answer: this status and error code."""

    def __init__(self, status, code=None):
        self.status, self.code = status, code

    def __call__(self, ctx, r):
        if r.status != self.status:
            raise Fail("status %d, expected %d %s" % (r.status, self.status,
                                                      self.code or ""))
        if self.code is not None and r.error_code() != self.code:
            raise Fail("error code %r, expected %r" % (r.error_code(),
                                                       self.code))


class Hdr:
    """A header: equal to value (templated), matching a regex, absent
    (value=ABSENT) or present (value=PRESENT)."""

    def __init__(self, name, value=None, regex=None):
        self.name, self.value, self.regex = name, value, regex

    def __call__(self, ctx, r):
        got = r.header(self.name)
        if self.value is ABSENT:
            if got is not None:
                raise Fail("header %s: %r, expected none" % (self.name, got))
            return
        if got is None:
            raise Fail("header %s missing" % self.name)
        if self.regex is not None and not re.search(self.regex, got):
            raise Fail("header %s: %r does not match %r" % (self.name, got,
                                                             self.regex))
        if self.value not in (None, PRESENT) and got != ctx.sub(self.value):
            raise Fail("header %s: %r, expected %r" % (self.name, got,
                                                       ctx.sub(self.value)))


ABSENT = object()
PRESENT = object()


class Body:
    def __init__(self, data):
        self.data = data

    def __call__(self, ctx, r):
        want = ctx.sub(self.data)
        if isinstance(want, str):
            want = want.encode("utf-8")
        if r.body != want:
            raise Fail("body %s (%d bytes), expected %s (%d bytes)" % (
                _show(r.body), len(r.body), _show(want), len(want)))


class Json:
    """The JSON body contains these members (values templated; a callable
    value is a predicate)."""

    def __init__(self, subset):
        self.subset = subset

    def __call__(self, ctx, r):
        try:
            doc = r.json()
        except Exception:
            raise Fail("body is not JSON: %s" % _show(r.body))
        _json_match(ctx, doc, self.subset, "")


def _json_match(ctx, doc, want, where):
    if callable(want):
        if not want(doc):
            raise Fail("%s: %s fails the check" % (where or "body", _show(doc)))
        return
    if isinstance(want, dict):
        if not isinstance(doc, dict):
            raise Fail("%s: %s is not an object" % (where or "body", _show(doc)))
        for k, v in want.items():
            if k not in doc:
                raise Fail("%s: no member %r in %s" % (where or "body", k,
                                                        _show(doc)))
            _json_match(ctx, doc[k], v, where + "." + k)
        return
    if isinstance(want, list):
        if not isinstance(doc, list) or len(doc) != len(want):
            raise Fail("%s: %s, expected %d entries" % (where or "body",
                                                        _show(doc), len(want)))
        for i, (d, w) in enumerate(zip(doc, want)):
            _json_match(ctx, d, w, "%s[%d]" % (where, i))
        return
    want = ctx.sub(want)
    if doc != want:
        raise Fail("%s: %s, expected %s" % (where or "body", _show(doc),
                                            _show(want)))


class Meta:
    """Exactly these X-Meta-* headers, with lowercased names as sent."""

    def __init__(self, meta):
        self.meta = meta

    def __call__(self, ctx, r):
        got = {}
        for k, v in r.header_list:
            if k.lower().startswith("x-meta-"):
                got[k[7:]] = v.encode("latin-1").decode("utf-8", "replace")
        if got != self.meta:
            raise Fail("metadata %r, expected %r" % (got, self.meta))


class Listing:
    """A listing: item keys and prefixes exactly (templated), and whether a
    next_cursor is given."""

    def __init__(self, keys=None, prefixes=None, more=None):
        self.keys, self.prefixes, self.more = keys, prefixes, more

    def __call__(self, ctx, r):
        try:
            doc = r.json()
        except Exception:
            raise Fail("listing is not JSON: %s" % _show(r.body))
        for m in ("items", "prefixes", "next_cursor"):
            if m not in doc:
                raise Fail("listing has no %r: %s" % (m, _show(doc)))
        keys = [i.get("key") for i in doc["items"]]
        for i in doc["items"]:
            check_item(i)
        if self.keys is not None:
            want = [ctx.sub(k) for k in self.keys]
            if keys != want:
                raise Fail("listed keys %r, expected %r" % (keys, want))
        if self.prefixes is not None:
            want = [ctx.sub(k) for k in self.prefixes]
            if doc["prefixes"] != want:
                raise Fail("listed prefixes %r, expected %r" % (
                    doc["prefixes"], want))
        if self.more is not None:
            nc = doc["next_cursor"]
            if self.more and not (isinstance(nc, str) and nc):
                raise Fail("next_cursor %r, expected a cursor" % (nc,))
            if not self.more and nc is not None:
                raise Fail("next_cursor %r, expected null" % (nc,))


RFC3339 = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$"
HTTP_DATE = r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|" \
            r"Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d GMT$"
QUOTED = r'^"[^"]+"$'


def same_instant(http_date, rfc3339):
    import email.utils
    import datetime
    a = email.utils.parsedate_to_datetime(http_date)
    b = datetime.datetime.strptime(rfc3339[:19], "%Y-%m-%dT%H:%M:%S")
    return a.replace(tzinfo=None) == b


def check_item(i):
    if not isinstance(i, dict):
        raise Fail("listing item %r is not an object" % (i,))
    if not isinstance(i.get("key"), str):
        raise Fail("listing item without a key: %r" % (i,))
    if not isinstance(i.get("size"), int) or i["size"] < 0:
        raise Fail("listing item size %r" % (i,))
    if not isinstance(i.get("etag"), str) or not re.match(QUOTED, i["etag"]):
        raise Fail("listing item etag %r" % (i,))
    if not isinstance(i.get("last_modified"), str) or \
            not re.match(RFC3339, i["last_modified"]):
        raise Fail("listing item last_modified %r" % (i,))


class Differs:
    """A saved variable differs from a value extracted now."""

    def __init__(self, var, how):
        self.var, self.how = var, how

    def __call__(self, ctx, r):
        now = extract(r, self.how)
        if now == ctx.vars.get(self.var):
            raise Fail("%s is still %r" % (self.how, now))


class Pred:
    """Any other check: fn(ctx, resp) -> True or a message."""

    def __init__(self, fn, what):
        self.fn, self.what = fn, what

    def __call__(self, ctx, r):
        v = self.fn(ctx, r)
        if v is not True:
            raise Fail("%s: %s" % (self.what, v))


def extract(r, how):
    kind, _, name = how.partition(":")
    if kind == "json":
        v = r.json()
        for part in name.split("."):
            v = v[part]
        return v
    if kind == "hdr":
        return r.header(name)
    raise ValueError(how)


# The things every answer must have.
def common_checks(method, r):
    rid = r.header("X-Request-Id")
    if not rid:
        raise Fail("no X-Request-Id")
    if r.status >= 400 and method != "HEAD":
        ct = r.header("Content-Type") or ""
        if not ct.startswith("application/json"):
            raise Fail("error with Content-Type %r" % ct)
        try:
            e = r.json()["error"]
        except Exception:
            raise Fail("error body is not {\"error\":{...}}: %s" % _show(r.body))
        for m in ("code", "message", "request_id"):
            if not isinstance(e.get(m), str) or not e.get(m):
                raise Fail("error without %r: %s" % (m, _show(r.body)))
        if e["request_id"] != rid:
            raise Fail("error request_id %r, X-Request-Id %r" % (
                e["request_id"], rid))


# ---------------------------------------------------------------- context

class Ctx:
    def __init__(self, daemon, stores, prefix, profile):
        self.daemon = daemon
        self.profile = profile
        self.vars = dict(stores)
        self.vars["P"] = prefix
        self.vars["fill1024"] = "f" * (1024 - len(prefix.encode()))
        self.vars["fill1025"] = "f" * (1025 - len(prefix.encode()))

    def sub(self, v):
        if isinstance(v, str):
            return re.sub(r"\$\{(\w+)\}", lambda m: str(self.vars[m.group(1)]),
                          v)
        if isinstance(v, bytes):
            return re.sub(rb"\$\{(\w+)\}",
                          lambda m: str(self.vars[m.group(1).decode()]).encode(),
                          v)
        return v

    def request(self, method, path, **kw):
        tok = kw.pop("token", "rw")
        return self.daemon.request(method, path,
                                   token=TOKENS[tok] if tok else None, **kw)

    def blob_path(self, key, store="S"):
        return "/v1/blobs/%s/%s" % (self.vars[store], stratus.quote_key(key))


def build_path(ctx, step):
    p = step.path
    if isinstance(p, K):
        path = "/v1/blobs/%s/%s" % (ctx.vars["S"],
                                    stratus.quote_key(ctx.sub(p.key)))
    else:
        p = ctx.sub(p)
        path = p if p.startswith("/") else "/v1/blobs/%s/%s" % (ctx.vars["S"], p)
    if step.query:
        path += "?" + "&".join(
            "%s=%s" % (k, stratus.quote_arg(ctx.sub(v)))
            for k, v in step.query)
    return path


def run_step(ctx, step):
    if isinstance(step, Fn):
        step.fn(ctx)
        return None
    if isinstance(step, Raw):
        data = ctx.sub(step.data)
        out, _ = ctx.daemon.raw(data.replace(b"HOST", ("%s:%d" % (
            ctx.daemon.host, ctx.daemon.port)).encode()))
        status, hdrs, body = stratus.parse_raw_response(out)
        if status is None:
            raise Fail("no HTTP response: %r" % out[:200])
        r = stratus.Response(status, "", list(hdrs.items()), body)
        method = data.split(b" ", 1)[0].decode("latin-1")
    else:
        headers = []
        for k, v in (step.headers.items() if isinstance(step.headers, dict)
                     else step.headers or []):
            headers.append((k, ctx.sub(v)))
        body = ctx.sub(step.body) if isinstance(step.body, (str, bytes)) \
            else step.body
        if isinstance(body, str):
            body = body.encode("utf-8")
        if isinstance(step, U):
            r = stratus.url_request(step.url(ctx), step.method, headers, body)
        else:
            r = ctx.request(step.method, build_path(ctx, step),
                            headers=headers, body=body, token=step.token)
        method = step.method
    ctx.last = r
    if not isinstance(step, U) or step.url(ctx).startswith(
            "http://%s:%d/" % (ctx.daemon.host, ctx.daemon.port)):
        common_checks(method, r)
    for chk in step.expect:
        if isinstance(chk, int):
            chk = Status(chk)
        chk(ctx, r)
    for var, how in step.save.items():
        ctx.vars[var] = extract(r, how)
    return r


class Case:
    def __init__(self, name, steps, requires=()):
        self.name = name
        self.steps = steps
        self.requires = set(requires)


# ---------------------------------------------------------------- helpers
# for the cases that need code

def md5_b64(data):
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def random_bytes(n, seed):
    return random.Random(seed).randbytes(n)


def flip_signature(url):
    """The same URL with the last hex digit of its signature changed."""
    u = urllib.parse.urlsplit(url)
    q = urllib.parse.parse_qsl(u.query, keep_blank_values=True)
    # The longest value is the signature on every provider (SigV4's
    # X-Amz-Signature, Azure's sig, the daemon's own).
    i = max(range(len(q)), key=lambda j: len(q[j][1]))
    k, v = q[i]
    last = v[-1]
    repl = "0" if last != "0" else "1"
    if not re.match(r"[0-9a-fA-F]", last):
        repl = "A" if last != "A" else "B"
    q[i] = (k, v[:-1] + repl)
    return urllib.parse.urlunsplit(u._replace(
        query=urllib.parse.urlencode(q, quote_via=urllib.parse.quote)))


def later_expiry(url):
    """The same URL claiming a later expiry (SigV4 X-Amz-Expires, Azure
    SAS se, the daemon's X-Stratus-Expires): the first digit of its value
    raised."""
    u = urllib.parse.urlsplit(url)
    q = urllib.parse.parse_qsl(u.query, keep_blank_values=True)
    for i, (k, v) in enumerate(q):
        if re.search(r"expires$", k, re.I) or k == "se":
            j = next(n for n, ch in enumerate(v) if ch.isdigit())
            v = v[:j] + str(min(int(v[j]) + 1, 9)) + v[j + 1:]
            q[i] = (k, v)
            return urllib.parse.urlunsplit(u._replace(
                query=urllib.parse.urlencode(q, quote_via=urllib.parse.quote)))
    raise Fail("no expiry parameter in %r" % url)


def other_key_url(url):
    """The same presigned URL pointed at another key."""
    u = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(u._replace(path=u.path + "-other"))


def fn_big_object(size, chunked):
    def big(ctx):
        data = random_bytes(size, seed=size + chunked)
        want = hashlib.sha256(data).hexdigest()
        key = ctx.sub("${P}big.bin")
        path = ctx.blob_path(key)
        if chunked:
            step = 1 << 20

            def pieces():
                # uneven pieces, to not line up with any buffer
                off, n = 0, 0
                while off < len(data):
                    ln = step - 4097 * (n % 5)
                    yield data[off:off + ln]
                    off += ln
                    n += 1
            body = pieces
        else:
            body = data
        r = ctx.request("PUT", path, body=body)
        common_checks("PUT", r)
        if r.status != 201 or r.json().get("size") != size:
            raise Fail("PUT of %d bytes: %r" % (size, r))
        data = None  # free it before the download
        # Stream the GET and hash it.
        conn = ctx.daemon.connection()
        try:
            conn.putrequest("GET", path, skip_accept_encoding=True)
            conn.putheader("Authorization", "Bearer " + TOKENS["rw"])
            conn.endheaders()
            resp = conn.getresponse()
            h = hashlib.sha256()
            n = 0
            while True:
                piece = resp.read(1 << 20)
                if not piece:
                    break
                h.update(piece)
                n += len(piece)
            if resp.status != 200:
                raise Fail("GET: status %d" % resp.status)
            if resp.getheader("Content-Length") != str(size):
                raise Fail("GET Content-Length %r" %
                           resp.getheader("Content-Length"))
        finally:
            conn.close()
        if n != size or h.hexdigest() != want:
            raise Fail("GET gave %d bytes, sha256 %s; sent %d, %s" % (
                n, h.hexdigest(), size, want))
        r = ctx.request("HEAD", path)
        if r.status != 200 or r.header("Content-Length") != str(size):
            raise Fail("HEAD: %r" % r)
        if "suffix_range" not in ctx.profile.features:
            return
        tail = random_bytes(size, seed=size + chunked)[-100000:]
        r = ctx.request("GET", path, headers={"Range": "bytes=-100000"})
        if r.status != 206 or r.body != tail or \
                r.header("Content-Range") != "bytes %d-%d/%d" % (
                    size - 100000, size - 1, size):
            raise Fail("suffix range of the big object: %d %r %d bytes" % (
                r.status, r.header("Content-Range"), len(r.body)))
        r = ctx.request("DELETE", path)
        if r.status != 204:
            raise Fail("DELETE: %r" % r)
    return big


def fn_parallel(nclients, size):
    def parallel(ctx):
        errors = []

        def client(i):
            try:
                data = random_bytes(size + i, seed=1000 + i)
                path = ctx.blob_path(ctx.sub("${P}par/%02d" % i))
                for rnd in range(2):
                    r = ctx.request("PUT", path, body=data,
                                    headers={"X-Meta-client": str(i)})
                    if r.status != 201 or r.json().get("size") != len(data):
                        errors.append("client %d PUT: %r" % (i, r))
                        return
                    r = ctx.request("GET", path)
                    if r.status != 200 or r.body != data or \
                            r.header("X-Meta-client") != str(i):
                        errors.append("client %d GET: status %d, %d bytes, "
                                      "same: %s" % (i, r.status, len(r.body),
                                                    r.body == data))
                        return
                    data = data[::-1]
            except Exception:
                errors.append("client %d: %s" % (i, traceback.format_exc()))

        threads = [threading.Thread(target=client, args=(i,))
                   for i in range(nclients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(stratus.IO_TIMEOUT * 2)
            if t.is_alive():
                errors.append("a client hung")
        if errors:
            raise Fail("\n".join(errors[:8]))
        r = ctx.request("GET", "/v1/blobs/%s?prefix=%s" % (
            ctx.vars["S"], stratus.quote_arg(ctx.sub("${P}par/"))))
        keys = [i["key"] for i in r.json()["items"]]
        want = [ctx.sub("${P}par/%02d" % i) for i in range(nclients)]
        if keys != want:
            raise Fail("listing after the parallel puts: %r" % keys)
    return parallel


def list_all(ctx, prefix, limit, delimiter=None, max_pages=10000):
    """Follows next_cursor to the end: (items, prefixes, pages)."""
    items, prefixes, pages = [], [], 0
    cursor = None
    while True:
        q = [("prefix", prefix), ("limit", str(limit))]
        if delimiter:
            q.append(("delimiter", delimiter))
        if cursor is not None:
            q.append(("cursor", cursor))
        path = "/v1/blobs/%s?%s" % (ctx.vars["S"], "&".join(
            "%s=%s" % (k, stratus.quote_arg(v)) for k, v in q))
        r = ctx.request("GET", path)
        common_checks("GET", r)
        if r.status != 200:
            raise Fail("page %d: %r" % (pages, r))
        doc = r.json()
        pages += 1
        if len(doc["items"]) + len(doc["prefixes"]) > limit:
            raise Fail("page %d has %d entries, limit %d" % (
                pages, len(doc["items"]) + len(doc["prefixes"]), limit))
        for i in doc["items"]:
            check_item(i)
        items += [i["key"] for i in doc["items"]]
        prefixes += doc["prefixes"]
        cursor = doc["next_cursor"]
        if cursor is None:
            return items, prefixes, pages
        if not isinstance(cursor, str) or not cursor:
            raise Fail("next_cursor %r" % (cursor,))
        if pages > max_pages:
            raise Fail("more than %d pages: the cursor does not advance" %
                       max_pages)


def byte_order(keys):
    return sorted(keys, key=lambda k: k.encode("utf-8"))


def fn_pagination(nkeys):
    def pagination(ctx):
        P = ctx.sub("${P}")
        flat = ["%sk%04d" % (P, i) for i in range(nkeys)]
        nested = ["%sd%02d/%s" % (P, i % 7, n) for i, n in
                  enumerate(["x", "y", "z/deep", "ü", "A"] * 3)]
        odd = [P + k for k in ("e\u0301", "\u00e9", "Z", "~", "k", "k0",
                               "d00", "d00.", "d000/x", "/lead", "d01")]
        keys = flat + sorted(set(nested)) + odd
        for k in keys:
            r = ctx.request("PUT", ctx.blob_path(k), body=k.encode())
            if r.status != 201:
                raise Fail("PUT %r: %r" % (k, r))
        want = byte_order(keys)
        for limit in (1, 7, 100, 1000):
            items, prefixes, pages = list_all(ctx, P, limit)
            if items != want or prefixes:
                raise Fail("limit %d: %d keys in %d pages; first wrong "
                           "place: %r" % (limit, len(items), pages,
                                          _first_diff(items, want)))
        # With a delimiter, keys and "folders" interleave in byte order.
        wi, wp = [], []
        for k in want:
            rest = k[len(P):]
            if "/" in rest:
                p = P + rest.split("/", 1)[0] + "/"
                if p not in wp:
                    wp.append(p)
            else:
                wi.append(k)
        for limit in (1, 3, 1000):
            items, prefixes, pages = list_all(ctx, P, limit, "/")
            if items != wi or prefixes != wp:
                raise Fail("delimiter, limit %d: items %s; prefixes %r" % (
                    limit, _first_diff(items, wi), prefixes))
    return pagination


def fn_default_limit(ctx):
    """Without limit, a page holds 1000 entries."""
    P = ctx.sub("${P}")
    keys = ["%sn%04d" % (P, i) for i in range(1001)]
    errors = []

    def writer(part):
        for k in part:
            try:
                r = ctx.request("PUT", ctx.blob_path(k), body=b"-")
                if r.status != 201:
                    errors.append("PUT %s: %r" % (k, r))
            except Exception as e:
                errors.append("PUT %s: %r" % (k, e))
    ts = [threading.Thread(target=writer, args=(keys[i::8],))
          for i in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(stratus.IO_TIMEOUT * 4)
    if errors:
        raise Fail("\n".join(errors[:5]))
    r = ctx.request("GET", "/v1/blobs/%s?prefix=%s" % (
        ctx.vars["S"], stratus.quote_arg(P)))
    doc = r.json()
    got = [i["key"] for i in doc["items"]]
    if r.status != 200 or got != keys[:1000] or not doc["next_cursor"]:
        raise Fail("first page: %d items, next_cursor %r" % (
            len(got), doc.get("next_cursor")))
    r = ctx.request("GET", "/v1/blobs/%s?prefix=%s&cursor=%s" % (
        ctx.vars["S"], stratus.quote_arg(P),
        stratus.quote_arg(doc["next_cursor"])))
    doc = r.json()
    if [i["key"] for i in doc["items"]] != keys[1000:] or \
            doc["next_cursor"] is not None:
        raise Fail("second page: %r" % r)


def _first_diff(got, want):
    for i, (a, b) in enumerate(zip(got, want)):
        if a != b:
            return "at %d: %r, expected %r" % (i, a, b)
    if len(got) != len(want):
        return "%d entries, expected %d" % (len(got), len(want))
    return "none"


def fn_race(conditional):
    """16 clients write one key at once under a condition that only one
    of them can meet: exactly one 201, the others 412, and the object is
    the winner's, whole."""
    def race(ctx):
        path = ctx.blob_path(ctx.sub("${P}race"))
        headers = {"If-None-Match": "*"}
        if conditional == "if-match":
            r = ctx.request("PUT", path, body=b"base")
            if r.status != 201:
                raise Fail("PUT base: %r" % r)
            headers = {"If-Match": r.header("ETag")}
        results = {}

        def w(i):
            try:
                r = ctx.request("PUT", path, body=b"writer %02d " % i * 5000,
                                headers=headers)
                results[i] = r.status
            except Exception as e:
                results[i] = repr(e)
        ts = [threading.Thread(target=w, args=(i,)) for i in range(16)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(stratus.IO_TIMEOUT)
        won = [i for i, st in results.items() if st == 201]
        lost = [i for i, st in results.items() if st == 412]
        if len(won) != 1 or len(lost) != 15:
            raise Fail("statuses %r" % sorted(results.items()))
        r = ctx.request("GET", path)
        if r.status != 200 or r.body != b"writer %02d " % won[0] * 5000:
            raise Fail("the object is not the winner's: %r" % r)
    return race


def _raw_response(sock):
    """Reads one response head (and a Content-Length body) from a socket."""
    buf = b""
    while True:
        status, hdrs, body = stratus.parse_raw_response(buf)
        if status is not None and status == 100:
            return status, hdrs, b"", buf
        if status is not None and len(body) >= int(
                hdrs.get("content-length", "0")):
            return status, hdrs, body, buf
        piece = sock.recv(65536)
        if not piece:
            return status, hdrs, body, buf
        buf += piece


def fn_expect_continue(ctx):
    """Expect: 100-continue, as curl sends for large bodies: a 100 before
    the body and 201 after it; a doomed upload is answered 412 either at
    once or after the body."""
    d = ctx.daemon
    body = b"e" * 300000
    tries = [("${P}exp", "", 201)]
    if "conditional_put" in ctx.profile.features:
        tries.append(("${P}exp", "If-None-Match: *\r\n", 412))
    for key, extra, want in tries:
        s = d.sock()
        try:
            s.sendall(("PUT %s HTTP/1.1\r\nHost: %s:%d\r\n"
                       "Authorization: Bearer %s\r\nContent-Length: %d\r\n"
                       "Expect: 100-continue\r\n%s\r\n" % (
                           ctx.blob_path(ctx.sub(key)), d.host, d.port,
                           TOKENS["rw"], len(body), extra)).encode())
            status, hdrs, rbody, raw = _raw_response(s)
            if status == 100:
                s.sendall(body)
                status, hdrs, rbody, raw = _raw_response(s)
            if status != want:
                raise Fail("Expect: 100-continue%s: %r" % (
                    " with If-None-Match" if extra else "", raw[:300]))
        finally:
            s.close()
    r = ctx.request("GET", ctx.blob_path(ctx.sub("${P}exp")))
    if r.status != 200 or r.body != body:
        raise Fail("GET after Expect: 100-continue: %r" % r)


def fn_wait_expired(ctx):
    """Polls a presigned URL made to expire in 1 s until it is refused;
    the bound is only there to end the test if it never is."""
    deadline = time.monotonic() + 30
    while True:
        r = stratus.url_request(ctx.vars["url"])
        if r.status == 403:
            return
        if r.status != 200 or time.monotonic() > deadline:
            raise Fail("expired URL: %r" % r)
        time.sleep(0.25)


def fn_odd_keys(keys):
    def odd(ctx):
        P = ctx.sub("${P}")
        full = [P + k for k in keys]
        for k in full:
            body = k.encode("utf-8")
            r = ctx.request("PUT", ctx.blob_path(k), body=body)
            common_checks("PUT", r)
            if r.status != 201 or r.json().get("key") != k:
                raise Fail("PUT %r: %r" % (k, r))
            r = ctx.request("GET", ctx.blob_path(k))
            if r.status != 200 or r.body != body:
                raise Fail("GET %r: %r" % (k, r))
        items, prefixes, _ = list_all(ctx, P, 1000)
        if items != byte_order(full):
            raise Fail("listed %r\nexpected %r" % (items, byte_order(full)))
        for k in full:
            items, _, _ = list_all(ctx, k, 1000)
            want = byte_order([x for x in full if x.startswith(k)])
            if items != want:
                raise Fail("prefix %r listed %r, expected %r" % (k, items, want))
        for k in full:
            r = ctx.request("DELETE", ctx.blob_path(k))
            if r.status != 204:
                raise Fail("DELETE %r: %r" % (k, r))
        items, _, _ = list_all(ctx, P, 1000)
        if items:
            raise Fail("left after deleting: %r" % items)
    return odd


# ---------------------------------------------------------------- cases

DATA20 = b"0123456789abcdefghij"
BIN = bytes(range(256)) * 64

ODD_KEYS = [
    "sp ace", "two  spaces ", "plus+sign", "per%cent", "lit%2541", "tilde~",
    "ünïcødé ✓", "quest?ion", "hash#tag", "amp&eq=semi;", "comma,colon:at@",
    "brackets[]{}", "quote'\"", "back\\slash", "..\\..\\win", "emoji 😀",
    "dots...", ".hidden", "a/.b/..c/...", "x/y/z", "<angle>", "caret^`|",
    "漢字/かな", "עברית", "e\u0301", "\u00e9", "$dollar!*()", "UPPER", "lower",
    "-dash", "_under", "0digit", "%00literal", "end.", "nbsp\u00a0x",
]

INVALID_KEYS = [
    ("a//b", "empty segment"), ("a/", "trailing slash"),
    ("./a", "dot segment"), ("a/./b", "inner dot segment"),
    ("a/..", "dot-dot segment"), ("..", "dot-dot"), (".", "dot"),
    ("%2Fa", "leading slash, encoded"), ("a%2F%2Fb", "empty segment, encoded"),
    ("a%2F", "trailing slash, encoded"),
    ("%01", "control character"), ("a%0Ab", "newline"), ("a%0Db", "CR"),
    ("a%09b", "tab"), ("a%7F", "DEL"), ("a%00b", "NUL"),
    ("a%C2%85", "C1 control NEL"), ("%FF", "invalid UTF-8 %FF"),
    ("a%C3", "truncated UTF-8"), ("%C0%AF", "overlong UTF-8"),
    ("%ED%A0%80", "UTF-16 surrogate"), ("%F4%90%80%80", "beyond U+10FFFF"),
    ("a%", "bad percent escape at the end"), ("a%G0", "bad percent escape"),
    ("a%2", "short percent escape"),
    ("a" * 1025, "1025 bytes"), ("%61" * 1025, "1025 bytes, encoded"),
    ("%C3%A9" * 513, "1026 bytes of UTF-8"),
]

TRAVERSAL = [
    "%2e%2e/%2e%2e/etc/passwd", "..%2f..%2fescape", "%2e%2e%2f%2e%2e%2fx",
    "a/%2e%2e/%2e%2e/%2e%2e/b", "%2e", "%2E%2E", "../../etc/passwd",
    "a/../../../x", "x/%2e%2e%2F..%2Fy",
]


def _cases():
    c = []
    add = c.append

    # -- put, get, head, delete
    add(Case("put, get, head, delete", [
        R("PUT", K("${P}a.txt"), body=b"hello world", expect=[
            201, Json({"store": "${S}", "key": "${P}a.txt", "size": 11,
                       "etag": lambda v: isinstance(v, str) and
                       re.match(QUOTED, v)}),
            Hdr("ETag", regex=QUOTED),
            Pred(lambda ctx, r: r.header("ETag") == r.json()["etag"] or
                 "ETag header differs from the body's etag", "ETag")],
          save={"etag": "hdr:ETag"}),
        R("GET", K("${P}a.txt"), expect=[
            200, Body(b"hello world"), Hdr("ETag", "${etag}"),
            Hdr("Content-Length", "11"),
            Hdr("Content-Type", "application/octet-stream"),
            Hdr("Accept-Ranges", "bytes"), Hdr("Last-Modified", regex=HTTP_DATE),
            Hdr("Content-Range", ABSENT)]),
        R("HEAD", K("${P}a.txt"), expect=[
            200, Body(b""), Hdr("ETag", "${etag}"), Hdr("Content-Length", "11"),
            Hdr("Content-Type", "application/octet-stream"),
            Hdr("Accept-Ranges", "bytes"), Hdr("Last-Modified", regex=HTTP_DATE)]),
        R("DELETE", K("${P}a.txt"), expect=[204, Body(b"")]),
        R("GET", K("${P}a.txt"), expect=Err(404, "not_found")),
        R("HEAD", K("${P}a.txt"), expect=[404, Body(b"")]),
    ]))
    add(Case("a missing key: 404 not_found naming the store", [
        R("GET", K("${P}never"), expect=[Err(404, "not_found"),
                                         Json({"error": {"store": "${S}"}})]),
    ]))
    add(Case("delete is idempotent", [
        R("DELETE", K("${P}gone"), expect=[204, Body(b"")]),
        R("PUT", K("${P}gone"), body=b"x", expect=201),
        R("DELETE", K("${P}gone"), expect=204),
        R("DELETE", K("${P}gone"), expect=204),
        R("GET", K("${P}gone"), expect=Err(404, "not_found")),
    ]))
    add(Case("DELETE If-Match: only the named version is deleted", [
        R("DELETE", K("${P}cd"), headers={"If-Match": '"nope"'},
          expect=Err(412, "precondition_failed")),
        R("PUT", K("${P}cd"), body=b"v1", expect=201, save={"e": "hdr:ETag"}),
        R("DELETE", K("${P}cd"), headers={"If-Match": '"stale"'},
          expect=Err(412, "precondition_failed")),
        R("GET", K("${P}cd"), expect=[200, Body(b"v1")]),
        R("DELETE", K("${P}cd"), headers={"If-Match": "${e}"}, expect=204),
        R("GET", K("${P}cd"), expect=Err(404, "not_found")),
    ]))
    add(Case("overwrite replaces the bytes and the ETag", [
        R("PUT", K("${P}o"), body=b"version one", expect=201,
          save={"e1": "json:etag"}),
        R("PUT", K("${P}o"), body=b"v2", expect=[201, Differs("e1", "json:etag")],
          save={"e2": "json:etag"}),
        R("GET", K("${P}o"), expect=[200, Body(b"v2"), Hdr("ETag", "${e2}"),
                                     Hdr("Content-Length", "2")]),
    ]))
    add(Case("an empty object", [
        R("PUT", K("${P}empty"), body=b"", expect=[201, Json({"size": 0})]),
        R("GET", K("${P}empty"), expect=[200, Body(b""),
                                         Hdr("Content-Length", "0")]),
        R("HEAD", K("${P}empty"), expect=[200, Hdr("Content-Length", "0")]),
        R("GET", K("${P}empty"), headers={"Range": "bytes=0-0"}, expect=[
            Err(416, "range_not_satisfiable"), Hdr("Content-Range", "bytes */0")]),
    ]))
    add(Case("every byte value round-trips", [
        R("PUT", K("${P}bin"), body=BIN, expect=[201, Json({"size": len(BIN)})]),
        R("GET", K("${P}bin"), expect=[200, Body(BIN)]),
    ]))
    add(Case("a PUT with neither Content-Length nor chunked: 411", [
        Raw(b"PUT /v1/blobs/${S}/${P}nolen HTTP/1.1\r\nHost: HOST\r\n"
            b"Authorization: Bearer " + TOKENS["rw"].encode() +
            b"\r\nConnection: close\r\n\r\n",
            expect=Err(411, "length_required")),
    ]))

    # -- content type
    add(Case("Content-Type defaults to application/octet-stream", [
        R("PUT", K("${P}ct0"), body=b"x", expect=201),
        R("GET", K("${P}ct0"), expect=Hdr("Content-Type",
                                          "application/octet-stream")),
    ]))
    add(Case("Content-Type is stored and returned", [
        R("PUT", K("${P}ct1"), body=b"{}", headers={
            "Content-Type": "application/json; charset=utf-8"}, expect=201),
        R("GET", K("${P}ct1"), expect=Hdr("Content-Type",
                                          "application/json; charset=utf-8")),
        R("HEAD", K("${P}ct1"), expect=Hdr("Content-Type",
                                           "application/json; charset=utf-8")),
        R("PUT", K("${P}ct1"), body=b"x", headers={"Content-Type": "text/plain"},
          expect=201),
        R("GET", K("${P}ct1"), expect=Hdr("Content-Type", "text/plain")),
    ]))

    # -- metadata
    add(Case("X-Meta-* round-trips, names lowercased", [
        R("PUT", K("${P}m"), body=b"x", headers=[
            ("X-Meta-Owner", "alice"), ("X-Meta-Project-ID", "42"),
            ("x-meta-snake_case", "a value, with: punctuation")], expect=201),
        R("GET", K("${P}m"), expect=[200, Meta({
            "owner": "alice", "project-id": "42",
            "snake_case": "a value, with: punctuation"})]),
        R("HEAD", K("${P}m"), expect=[200, Meta({
            "owner": "alice", "project-id": "42",
            "snake_case": "a value, with: punctuation"})]),
    ]))
    add(Case("X-Meta-* values in UTF-8 round-trip", [
        R("PUT", K("${P}mu"), body=b"x", headers=[
            ("X-Meta-city", "Zürich ✓".encode("utf-8"))], expect=201),
        R("GET", K("${P}mu"), expect=Meta({"city": "Zürich ✓"})),
    ]))
    add(Case("an overwrite without X-Meta-* drops the old metadata", [
        R("PUT", K("${P}m2"), body=b"x", headers={"X-Meta-a": "1"}, expect=201),
        R("PUT", K("${P}m2"), body=b"y", expect=201),
        R("GET", K("${P}m2"), expect=[200, Body(b"y"), Meta({})]),
    ]))
    add(Case("a 64-character metadata name is fine", [
        R("PUT", K("${P}m3"), body=b"x", headers={"X-Meta-" + "n" * 64: "v"},
          expect=201),
        R("GET", K("${P}m3"), expect=Meta({"n" * 64: "v"})),
    ]))
    add(Case("metadata of about 1 KiB in 16 names is fine", [
        R("PUT", K("${P}m4"), body=b"x", expect=201, headers=[
            ("X-Meta-k%02d" % i, "v" * 60) for i in range(16)]),
        R("GET", K("${P}m4"), expect=Meta({"k%02d" % i: "v" * 60
                                           for i in range(16)})),
    ]))
    for hdr, why in [("X-Meta-a.b", "a dot"), ("X-Meta-a$b", "a dollar"),
                     ("X-Meta-" + "n" * 65, "65 characters"),
                     ("X-Meta-", "empty")]:
        add(Case("bad metadata name (%s): 400 and nothing written" % why, [
            R("PUT", K("${P}bad"), body=b"x", headers=[(hdr, "v")],
              expect=Err(400, "bad_request")),
            R("GET", K("${P}bad"), expect=Err(404, "not_found")),
        ]))
    add(Case("the same metadata name twice: 400", [
        R("PUT", K("${P}dup"), body=b"x", headers=[
            ("X-Meta-a", "1"), ("X-Meta-A", "2")],
          expect=Err(400, "bad_request")),
    ]))
    add(Case("metadata over 2 KiB in one value: 400, old version kept", [
        R("PUT", K("${P}big"), body=b"old", expect=201),
        R("PUT", K("${P}big"), body=b"new", headers={"X-Meta-big": "v" * 3000},
          expect=Err(400, "bad_request")),
        R("GET", K("${P}big"), expect=[200, Body(b"old")]),
    ]))
    add(Case("metadata over 2 KiB in many names: 400", [
        R("PUT", K("${P}many"), body=b"x", headers=[
            ("X-Meta-m%02d" % i, "v" * 60) for i in range(40)],
          expect=Err(400, "bad_request")),
        R("GET", K("${P}many"), expect=Err(404, "not_found")),
    ]))
    add(Case("a metadata value with a control character: 400", [
        R("PUT", K("${P}ctl"), body=b"x", headers={"X-Meta-a": b"x\x01y"},
          expect=Err(400, "bad_request")),
    ]))
    # An empty value could not be returned (a header without a value is
    # dropped on the way), so it is refused, on every provider alike.
    for value, what in [("", "an empty metadata value"),
                        ("   ", "a metadata value of only spaces")]:
        add(Case("%s: 400, old version kept" % what, [
            R("PUT", K("${P}em"), body=b"old", headers={"X-Meta-a": "1"},
              expect=201),
            R("PUT", K("${P}em"), body=b"new", headers=[
                ("X-Meta-b", "2"), ("X-Meta-empty", value)],
              expect=Err(400, "bad_request")),
            R("GET", K("${P}em"), expect=[200, Body(b"old"),
                                          Meta({"a": "1"})]),
        ]))

    # -- ranges
    rng = [R("PUT", K("${P}r"), body=DATA20, expect=201)]
    for spec, first, last in [("0-4", 0, 4), ("5-", 5, 19), ("-3", 17, 19),
                              ("15-100", 15, 19), ("19-19", 19, 19),
                              ("-100", 0, 19), ("0-0", 0, 0)]:
        rng.append(R("GET", K("${P}r"), headers={"Range": "bytes=" + spec},
                     expect=[206, Body(DATA20[first:last + 1]),
                             Hdr("Content-Range", "bytes %d-%d/20" % (first, last)),
                             Hdr("Content-Length", str(last - first + 1))]))
    add(Case("Range: a-b, a-, -n, clipped", rng, requires={"suffix_range"}))
    add(Case("Range past the end: 416 with Content-Range bytes */SIZE", [
        R("PUT", K("${P}r"), body=DATA20, expect=201),
    ] + [R("GET", K("${P}r"), headers={"Range": "bytes=" + spec}, expect=[
        Err(416, "range_not_satisfiable"), Hdr("Content-Range", "bytes */20")])
        for spec in ("20-", "20-30", "100-200", "-0")]))
    add(Case("malformed Range: 400 invalid_range_header", [
        R("PUT", K("${P}r"), body=DATA20, expect=201),
    ] + [R("GET", K("${P}r"), headers={"Range": spec},
           expect=Err(400, "invalid_range_header"))
         for spec in ("bytes=abc", "bytes=5-2", "items=0-1", "bytes=",
                      "bytes=-", "bytes=1-2-3", "0-4", "bytes=x-1",
                      "bytes=99999999999999999999999-")]))

    # -- conditional GET
    add(Case("If-None-Match on GET and HEAD: 304", [
        R("PUT", K("${P}c"), body=b"cond", expect=201, save={"etag": "hdr:ETag"}),
        R("GET", K("${P}c"), headers={"If-None-Match": "${etag}"},
          expect=[304, Body(b""), Hdr("ETag", "${etag}")]),
        R("HEAD", K("${P}c"), headers={"If-None-Match": "${etag}"}, expect=304),
        R("GET", K("${P}c"), headers={"If-None-Match": '"x", ${etag}'},
          expect=304),
        R("GET", K("${P}c"), headers={"If-None-Match": "*"}, expect=304),
        R("GET", K("${P}c"), headers={"If-None-Match": '"something-else"'},
          expect=[200, Body(b"cond")]),
    ]))
    add(Case("If-Match on GET: 200 when it matches, 412 when not", [
        R("PUT", K("${P}c"), body=b"cond", expect=201, save={"etag": "hdr:ETag"}),
        R("GET", K("${P}c"), headers={"If-Match": "${etag}"},
          expect=[200, Body(b"cond")]),
        R("GET", K("${P}c"), headers={"If-Match": '"nope"'},
          expect=Err(412, "precondition_failed")),
        R("HEAD", K("${P}c"), headers={"If-Match": '"nope"'}, expect=412),
    ]))

    # -- conditional PUT
    add(Case("PUT If-None-Match: * creates only", [
        R("PUT", K("${P}once"), body=b"first", headers={"If-None-Match": "*"},
          expect=201),
        R("PUT", K("${P}once"), body=b"second", headers={"If-None-Match": "*"},
          expect=Err(412, "precondition_failed")),
        R("GET", K("${P}once"), expect=[200, Body(b"first")]),
    ], requires={"conditional_put"}))
    add(Case("PUT If-Match: the current ETag replaces, a stale one is 412", [
        R("PUT", K("${P}cas"), body=b"one", expect=201, save={"e1": "hdr:ETag"}),
        R("PUT", K("${P}cas"), body=b"two", headers={"If-Match": "${e1}"},
          expect=201, save={"e2": "hdr:ETag"}),
        R("PUT", K("${P}cas"), body=b"three", headers={"If-Match": "${e1}"},
          expect=Err(412, "precondition_failed")),
        R("GET", K("${P}cas"), expect=[200, Body(b"two"), Hdr("ETag", "${e2}")]),
    ], requires={"conditional_put"}))
    add(Case("PUT If-Match on a missing key: 412, nothing created", [
        R("PUT", K("${P}nokey"), body=b"x", headers={"If-Match": '"abc"'},
          expect=Err(412, "precondition_failed")),
        R("GET", K("${P}nokey"), expect=Err(404, "not_found")),
    ], requires={"conditional_put"}))

    # -- Content-MD5
    add(Case("Content-MD5 that matches: 201", [
        R("PUT", K("${P}md5"), body=b"digest me",
          headers={"Content-MD5": md5_b64(b"digest me")}, expect=201),
        R("GET", K("${P}md5"), expect=[200, Body(b"digest me")]),
    ]))
    add(Case("Content-MD5 that does not match: 400, old version kept", [
        R("PUT", K("${P}md5"), body=b"old", expect=201, save={"e": "hdr:ETag"}),
        R("PUT", K("${P}md5"), body=b"digest me",
          headers={"Content-MD5": md5_b64(b"something else")},
          expect=Err(400, "bad_request")),
        R("GET", K("${P}md5"), expect=[200, Body(b"old"), Hdr("ETag", "${e}")]),
        R("PUT", K("${P}md5new"), body=b"digest me",
          headers={"Content-MD5": md5_b64(b"something else")},
          expect=Err(400, "bad_request")),
        R("GET", K("${P}md5new"), expect=Err(404, "not_found")),
    ]))
    add(Case("malformed Content-MD5: 400", [
        R("PUT", K("${P}md5"), body=b"x", headers={"Content-MD5": "not base64!"},
          expect=Err(400, "bad_request")),
        R("PUT", K("${P}md5"), body=b"x", headers={"Content-MD5": "AAAA"},
          expect=Err(400, "bad_request")),
    ]))

    # -- listing
    lst = ["a", "b/1", "b/2", "b/c/3", "c", "B", "é", "z", "b-", "b0", "b"]
    order = byte_order(lst)
    setup = [R("PUT", K("${P}" + k), body=k.encode(), expect=201) for k in lst]
    add(Case("listing by prefix, in byte order", setup + [
        R("GET", "/v1/blobs/${S}", query=[("prefix", "${P}")], expect=[
            200, Hdr("Content-Type", regex="^application/json"),
            Listing(["${P}" + k for k in order], [], more=False)]),
        R("GET", "/v1/blobs/${S}/", query=[("prefix", "${P}")], expect=[
            200, Listing(["${P}" + k for k in order], [], more=False)]),
        R("GET", "/v1/blobs/${S}", query=[("prefix", "${P}b/")], expect=[
            200, Listing(["${P}b/1", "${P}b/2", "${P}b/c/3"], [], more=False)]),
        R("GET", "/v1/blobs/${S}", query=[("prefix", "${P}nothing")],
          expect=[200, Listing([], [], more=False)]),
        R("HEAD", "/v1/blobs/${S}", query=[("prefix", "${P}")], expect=200),
    ], requires={"byte_order_listing"}))
    add(Case("listing with a delimiter", setup + [
        R("GET", "/v1/blobs/${S}", query=[("prefix", "${P}"), ("delimiter", "/")],
          expect=[200, Listing(["${P}" + k for k in order if "/" not in k],
                               ["${P}b/"], more=False)]),
        R("GET", "/v1/blobs/${S}/", query=[("prefix", "${P}b/"),
                                           ("delimiter", "/")],
          expect=[200, Listing(["${P}b/1", "${P}b/2"], ["${P}b/c/"],
                               more=False)]),
        R("GET", "/v1/blobs/${S}", query=[("prefix", "${P}b"),
                                          ("delimiter", "/")],
          expect=[200, Listing(["${P}b", "${P}b-", "${P}b0"], ["${P}b/"],
                               more=False)]),
        R("GET", "/v1/blobs/${S}", query=[("prefix", "${P}"), ("delimiter", "-")],
          expect=[200, Listing(["${P}" + k for k in order if "-" not in k],
                               ["${P}b-"], more=False)]),
    ], requires={"byte_order_listing"}))
    add(Case("listing items: the objects' size, ETag and time", [
        R("PUT", K("${P}sized"), body=b"12345", expect=201,
          save={"e": "json:etag"}),
        R("HEAD", K("${P}sized"), expect=200, save={"lm": "hdr:Last-Modified"}),
        R("GET", "/v1/blobs/${S}", query=[("prefix", "${P}")], expect=[
            200, Json({"items": [{"key": "${P}sized", "size": 5,
                                  "etag": "${e}"}]}),
            Pred(lambda ctx, r: same_instant(
                ctx.vars["lm"], r.json()["items"][0]["last_modified"]) or
                "Last-Modified %r vs last_modified %r" % (
                    ctx.vars["lm"], r.json()["items"][0]["last_modified"]),
                "times")]),
    ]))
    add(Case("listing with limit 1 and 2 gives a cursor", setup[:4] + [
        R("GET", "/v1/blobs/${S}", query=[("prefix", "${P}"), ("limit", "1")],
          expect=[200, Listing(["${P}a"], [], more=True)],
          save={"cur": "json:next_cursor"}),
        R("GET", "/v1/blobs/${S}", query=[("prefix", "${P}"), ("limit", "2"),
                                          ("cursor", "${cur}")],
          expect=[200, Listing(["${P}b/1", "${P}b/2"], [], more=True)],
          save={"cur": "json:next_cursor"}),
        R("GET", "/v1/blobs/${S}", query=[("prefix", "${P}"), ("limit", "2"),
                                          ("cursor", "${cur}")],
          expect=[200, Listing(["${P}b/c/3"], [], more=False)]),
        R("GET", "/v1/blobs/${S}", query=[("prefix", "${P}"),
                                          ("limit", "1000")],
          expect=[200, Listing(more=False)]),
    ]))
    for lim in ("0", "1001", "abc", "-1", "1.5", "", "10x",
                "99999999999999999999999"):
        add(Case("listing limit=%s: 400" % (lim or "(empty)"), [
            R("GET", "/v1/blobs/${S}?limit=" + lim,
              expect=Err(400, "bad_request")),
        ]))
    add(Case("a listing cursor that was never given: 400", [
        R("GET", "/v1/blobs/${S}", query=[("cursor", "!!not a cursor!!")],
          expect=Err(400)),
    ]))
    add(Case("a listing prefix that is not UTF-8: 400", [
        R("GET", "/v1/blobs/${S}?prefix=%FF", expect=Err(400)),
    ]))
    add(Case("a listing page holds 1000 entries by default",
             [Fn(fn_default_limit, "1001 keys")]))
    add(Case("pagination over 240 keys, with and without a delimiter, every key exactly once",
             [Fn(fn_pagination(220), "pagination")],
             requires={"byte_order_listing"}))

    # -- odd keys
    add(Case("odd keys round-trip and list exactly", [
        Fn(fn_odd_keys(ODD_KEYS), "odd keys")]))
    add(Case("a 1024-byte key is fine", [
        R("PUT", K("${P}${fill1024}"), body=b"long", expect=[
            201, Json({"key": "${P}${fill1024}"})]),
        R("GET", K("${P}${fill1024}"), expect=[200, Body(b"long")]),
        R("GET", "/v1/blobs/${S}", query=[("prefix", "${P}")],
          expect=Listing(["${P}${fill1024}"])),
        R("PUT", K("${P}${fill1025}"), body=b"x", expect=Err(400, "invalid_key")),
    ], requires={"long_keys"}))
    add(Case("one key, spelled with or without percent-encoding", [
        R("PUT", "${P}%61b%63", body=b"abc", expect=[201,
                                                     Json({"key": "${P}abc"})]),
        R("GET", K("${P}abc"), expect=[200, Body(b"abc")]),
        R("PUT", "${P}x%2Fy", body=b"slash", expect=[201,
                                                     Json({"key": "${P}x/y"})]),
        R("GET", K("${P}x/y"), expect=[200, Body(b"slash")]),
        R("PUT", "${P}%c3%a9t%C3%A9", body=b"ete", expect=[
            201, Json({"key": "${P}été"})]),
        R("GET", K("${P}été"), expect=[200, Body(b"ete")]),
        R("GET", "/v1/blobs/${S}", query=[("prefix", "${P}")],
          expect=Listing(["${P}abc", "${P}x/y", "${P}été"])),
    ]))
    add(Case("'+' in a key is a plus, not a space", [
        R("PUT", "${P}a+b", body=b"plus", expect=[201, Json({"key": "${P}a+b"})]),
        R("GET", K("${P}a b"), expect=Err(404, "not_found")),
        R("GET", K("${P}a+b"), expect=[200, Body(b"plus")]),
    ]))
    add(Case("'?' and '#' inside keys (percent-encoded)", [
        R("PUT", K("${P}what?x=1#frag"), body=b"q", expect=[
            201, Json({"key": "${P}what?x=1#frag"})]),
        R("GET", "${P}what%3Fx=1%23frag", expect=[200, Body(b"q")]),
        R("GET", "/v1/blobs/${S}", query=[("prefix", "${P}what?")],
          expect=Listing(["${P}what?x=1#frag"])),
    ]))

    # -- invalid keys
    for raw, why in INVALID_KEYS:
        add(Case("invalid key (%s): 400 invalid_key" % why, [
            R("PUT", raw, body=b"x", expect=Err(400, "invalid_key")),
            R("GET", raw, expect=Err(400, "invalid_key")),
            R("DELETE", raw, expect=Err(400, "invalid_key")),
        ]))
    add(Case("invalid key (leading slash): 400 invalid_key", [
        R("PUT", "/v1/blobs/${S}//a", body=b"x", expect=Err(400, "invalid_key")),
        R("GET", "/v1/blobs/${S}//a", expect=Err(400, "invalid_key")),
    ]))
    for raw in TRAVERSAL:
        add(Case("path traversal %s: 400 invalid_key" % raw, [
            R("PUT", raw, body=b"x", expect=Err(400, "invalid_key")),
            R("GET", raw, expect=Err(400, "invalid_key")),
        ]))
    add(Case("path traversal in the store part: 404 no_such_store", [
        R("GET", "/v1/blobs/../../etc/passwd", expect=Err(404, "no_such_store")),
        R("GET", "/v1/blobs/%2e%2e/x", expect=Err(404, "no_such_store")),
        R("PUT", "/v1/blobs/${S}%2F..%2Fx/y", body=b"x",
          expect=Err(404, "no_such_store")),
    ]))

    # -- stores, methods, auth
    add(Case("unknown store: 404 no_such_store", [
        R("GET", "/v1/blobs/nosuchstore/k", expect=Err(404, "no_such_store")),
        R("PUT", "/v1/blobs/nosuchstore/k", body=b"x",
          expect=Err(404, "no_such_store")),
        R("DELETE", "/v1/blobs/nosuchstore/k", expect=Err(404, "no_such_store")),
        R("GET", "/v1/blobs/nosuchstore", expect=Err(404, "no_such_store")),
        R("GET", "/v1/blobs/NotAStoreName/k", expect=Err(404, "no_such_store")),
        R("GET", "/v1/blobs/%00/k", expect=Err(404, "no_such_store")),
    ]))
    for method, path, allow in [
            ("POST", "${P}k", ["GET", "HEAD", "PUT", "DELETE"]),
            ("PATCH", "${P}k", ["GET", "HEAD", "PUT", "DELETE"]),
            ("OPTIONS", "${P}k", ["GET", "HEAD", "PUT", "DELETE"]),
            ("PUT", "/v1/blobs/${S}", ["GET", "HEAD"]),
            ("DELETE", "/v1/blobs/${S}/", ["GET", "HEAD"]),
            ("POST", "/v1/blobs/${S}", ["GET", "HEAD"])]:
        add(Case("%s %s: 405 with Allow" % (
                method, path.replace("${P}", "KEY").replace("${S}", "STORE")), [
            R(method, path, body=b"x" if method in ("POST", "PATCH") else None,
              expect=[Err(405, "method_not_allowed"), Pred(
                  lambda ctx, r, allow=allow: sorted(
                      m.strip() for m in (r.header("Allow") or "").split(","))
                  == sorted(allow) or "Allow: %r" % r.header("Allow"),
                  "Allow")]),
        ]))
    add(Case("no token: 401 with WWW-Authenticate: Bearer", [
        R("GET", K("${P}k"), token=None, expect=[
            Err(401, "unauthorized"), Hdr("WWW-Authenticate", regex="^Bearer")]),
        R("PUT", K("${P}k"), token=None, body=b"x", expect=[
            Err(401, "unauthorized"), Hdr("WWW-Authenticate", regex="^Bearer")]),
        R("GET", "/v1/blobs/${S}", token=None, expect=Err(401, "unauthorized")),
        R("GET", K("${P}k"), token=None, headers={
            "Authorization": "Bearer not-a-known-token"},
          expect=[Err(401, "unauthorized"),
                  Hdr("WWW-Authenticate", regex="^Bearer")]),
    ]))
    add(Case("a read-only token: reads, and 403 on writes", [
        R("PUT", K("${P}k"), body=b"x", expect=201),
        R("GET", K("${P}k"), token="ro", expect=[200, Body(b"x")]),
        R("HEAD", K("${P}k"), token="ro", expect=200),
        R("GET", "/v1/blobs/${S}", token="ro", query=[("prefix", "${P}")],
          expect=[200, Listing(["${P}k"])]),
        R("PUT", K("${P}k"), token="ro", body=b"y", expect=Err(403, "forbidden")),
        R("DELETE", K("${P}k"), token="ro", expect=Err(403, "forbidden")),
        R("GET", K("${P}k"), expect=[200, Body(b"x")]),
        # No right at all on a store: it is absent for this token.
        R("GET", "/v1/blobs/${S2}/x", token="ro",
          expect=Err(404, "no_such_store")),
    ]))

    # -- size limits
    add(Case("over a store's max_object_size: 413", [
        R("PUT", "/v1/blobs/${SMALL}/${P}fits", body=b"x" * 1000, expect=201),
        R("PUT", "/v1/blobs/${SMALL}/${P}big", body=b"x" * 1001,
          expect=Err(413, "payload_too_large")),
        R("PUT", "/v1/blobs/${SMALL}/${P}bigc",
          body=Chunks([b"x" * 600, b"y" * 600]),
          expect=Err(413, "payload_too_large")),
        R("GET", "/v1/blobs/${SMALL}/${P}bigc", expect=Err(404, "not_found")),
        R("PUT", "/v1/blobs/${SMALL}/${P}fits", body=Chunks([b"z" * 1001]),
          expect=Err(413, "payload_too_large")),
        R("GET", "/v1/blobs/${SMALL}/${P}fits", expect=[200, Body(b"x" * 1000)]),
        R("PUT", K("${P}src"), body=b"s" * 1500, expect=201),
        R("PUT", "/v1/blobs/${SMALL}/${P}copy", headers={
            "X-Copy-Source": "${S}/${P}src"}, expect=Err(413, "payload_too_large")),
        R("GET", "/v1/blobs/${SMALL}/${P}copy", expect=Err(404, "not_found")),
    ]))

    # -- big, chunked, parallel
    add(Case("a 64 MiB object, sha256 compared",
             [Fn(fn_big_object(64 << 20, False), "64 MiB PUT and GET")]))
    add(Case("a 24 MiB chunked upload of unknown length",
             [Fn(fn_big_object(24 << 20, True), "24 MiB chunked PUT and GET")]))
    add(Case("chunked upload (Transfer-Encoding: chunked)", [
        R("PUT", K("${P}ch"), body=Chunks([b"hello ", b"chunked", b" world"]),
          headers={"Content-Type": "text/plain"},
          expect=[201, Json({"size": 19})]),
        R("GET", K("${P}ch"), expect=[200, Body(b"hello chunked world"),
                                      Hdr("Content-Type", "text/plain")]),
        R("PUT", K("${P}ch0"), body=Chunks([]), expect=[201, Json({"size": 0})]),
        R("GET", K("${P}ch0"), expect=[200, Body(b"")]),
    ]))
    add(Case("concurrent PUT If-None-Match: *, one wins",
             [Fn(fn_race("if-none-match"), "create race")],
             requires={"conditional_put"}))
    add(Case("concurrent PUT If-Match with one ETag, one wins",
             [Fn(fn_race("if-match"), "compare-and-swap race")],
             requires={"conditional_put"}))
    add(Case("Expect: 100-continue", [Fn(fn_expect_continue, "expect")]))
    add(Case("32 parallel clients, distinct objects",
             [Fn(fn_parallel(32, 200000), "32 clients")]))

    # -- copy
    add(Case("copy within a store: bytes, type and metadata", [
        R("PUT", K("${P}src"), body=b"copy me", headers={
            "Content-Type": "text/x-copy", "X-Meta-Origin": "src"}, expect=201),
        R("PUT", K("${P}dst"), headers={"X-Copy-Source": "${S}/${P}src"},
          expect=[201, Json({"store": "${S}", "key": "${P}dst", "size": 7}),
                  Hdr("ETag", regex=QUOTED)]),
        R("GET", K("${P}dst"), expect=[200, Body(b"copy me"),
                                       Hdr("Content-Type", "text/x-copy"),
                                       Meta({"origin": "src"})]),
        R("GET", K("${P}src"), expect=[200, Body(b"copy me")]),
        R("PUT", K("${P}src"), body=b"changed", expect=201),
        R("GET", K("${P}dst"), expect=[200, Body(b"copy me")]),
    ]))
    add(Case("copy to another store of the same provider", [
        R("PUT", K("${P}src"), body=b"across", expect=201),
        R("PUT", "/v1/blobs/${S2}/${P}dst", headers={
            "X-Copy-Source": "${S}/${P}src"}, expect=[
            201, Json({"store": "${S2}", "key": "${P}dst", "size": 6})]),
        R("GET", "/v1/blobs/${S2}/${P}dst", expect=[200, Body(b"across")]),
    ]))
    add(Case("copy of a percent-encoded source key", [
        R("PUT", K("${P}sp ace+ü"), body=b"odd", expect=201),
        R("PUT", K("${P}dst"), headers={
            "X-Copy-Source": "${S}/${P}sp%20ace%2B%C3%BC"}, expect=201),
        R("GET", K("${P}dst"), expect=[200, Body(b"odd")]),
    ], requires={"copy_reserved_chars"}))
    add(Case("copy source with a leading slash", [
        R("PUT", K("${P}src"), body=b"lead", expect=201),
        R("PUT", K("${P}dst"), headers={"X-Copy-Source": "/${S}/${P}src"},
          expect=201),
        R("GET", K("${P}dst"), expect=[200, Body(b"lead")]),
    ]))
    add(Case("copy onto itself keeps the object", [
        R("PUT", K("${P}self"), body=b"me", expect=201),
        R("PUT", K("${P}self"), headers={"X-Copy-Source": "${S}/${P}self"},
          expect=201),
        R("GET", K("${P}self"), expect=[200, Body(b"me")]),
    ]))
    add(Case("copy errors: missing source, bad source, conditions", [
        R("PUT", K("${P}dst"), headers={"X-Copy-Source": "${S}/${P}missing"},
          expect=Err(404, "not_found")),
        R("GET", K("${P}dst"), expect=Err(404, "not_found")),
        R("PUT", K("${P}dst"), headers={"X-Copy-Source": "nosuchstore/x"},
          expect=Err(404, "no_such_store")),
        R("PUT", K("${P}dst"), headers={"X-Copy-Source": "no-slash"},
          expect=Err(400, "bad_request")),
        R("PUT", K("${P}dst"), headers={"X-Copy-Source": "${S}/a//b"},
          expect=Err(400, "invalid_key")),
        R("PUT", K("${P}dst"), headers={"X-Copy-Source": "${S}/"},
          expect=Err(400, "invalid_key")),
        R("PUT", K("${P}dst"), headers={"X-Copy-Source": "${S}/%FF"},
          expect=Err(400, "invalid_key")),
        R("PUT", K("${P}dst"), headers={"X-Copy-Source": "x" * 100 + "/k"},
          expect=Err(400)),
        R("PUT", K("${P}src"), body=b"s", expect=201),
        R("PUT", K("${P}dst"), body=b"d", expect=201),
        R("PUT", K("${P}dst"), headers={"X-Copy-Source": "${S}/${P}src",
                                        "If-None-Match": "*"},
          expect=Err(412, "precondition_failed")),
        R("GET", K("${P}dst"), expect=[200, Body(b"d")]),
        R("PUT", K("${P}dst"), token="ro", headers={
            "X-Copy-Source": "${S}/${P}src"}, expect=Err(403, "forbidden")),
    ]))

    # -- presign
    def presign(method, key, expires=300, token="rw", expect=None):
        body = '{"store":"${S}","key":%s,"method":"%s","expires_in":%d}' % (
            json.dumps(key), method, expires)
        return R("POST", "/v1/presign", body=body, token=token, headers={
            "Content-Type": "application/json"}, expect=expect or [
            200, Json({"url": lambda v: isinstance(v, str) and
                       v.startswith("http"), "method": method,
                       "expires_at": lambda v: isinstance(v, str) and
                       re.match(RFC3339, v),
                       "headers": lambda v: isinstance(v, dict)})],
            save={} if expect else {"url": "json:url"})

    add(Case("presigned GET: fetched with plain HTTP, no token", [
        R("PUT", K("${P}p.txt"), body=b"presigned", expect=201),
        presign("GET", "${P}p.txt"),
        U("GET", "${url}", expect=[200, Body(b"presigned")]),
        U("HEAD", "${url}", expect=[200, Hdr("Content-Length", "9")]),
    ]))
    add(Case("presigned GET of an odd key", [
        R("PUT", K("${P}odd key+ü?#%"), body=b"odd", expect=201),
        presign("GET", "${P}odd key+ü?#%"),
        U("GET", "${url}", expect=[200, Body(b"odd")]),
    ]))
    add(Case("presigned PUT: upload with plain HTTP, then read", [
        presign("PUT", "${P}up.bin"),
        U("PUT", "${url}", body=b"uploaded via URL", expect=Status(200, 299)),
        R("GET", K("${P}up.bin"), expect=[200, Body(b"uploaded via URL")]),
    ]))
    add(Case("presigned GET with a tampered signature: 403", [
        R("PUT", K("${P}p.txt"), body=b"presigned", expect=201),
        presign("GET", "${P}p.txt"),
        U("GET", "${url}", mangle=flip_signature, expect=403),
        U("GET", "${url}", mangle=other_key_url, expect=403),
        U("GET", "${url}", mangle=later_expiry, expect=403),
    ], requires={"presign_verify"}))
    add(Case("a presigned GET URL does not allow PUT or DELETE", [
        R("PUT", K("${P}p.txt"), body=b"presigned", expect=201),
        presign("GET", "${P}p.txt"),
        U("PUT", "${url}", body=b"overwrite", expect=403),
        U("DELETE", "${url}", expect=Status(403, 405)),
        R("GET", K("${P}p.txt"), expect=[200, Body(b"presigned")]),
    ], requires={"presign_verify"}))
    add(Case("an expired presigned URL: 403", [
        R("PUT", K("${P}p.txt"), body=b"presigned", expect=201),
        presign("GET", "${P}p.txt", expires=1),
        Fn(fn_wait_expired, "wait for the URL to expire"),
    ], requires={"presign_verify"}))
    add(Case("presign request errors", [
        R("POST", "/v1/presign", body=b"{not json",
          expect=Err(400, "invalid_json")),
        R("POST", "/v1/presign", body=b"[1,2]", expect=Err(400, "invalid_json")),
        R("POST", "/v1/presign", body=b"", expect=Err(400, "invalid_json")),
        R("POST", "/v1/presign", body=b'{"store":"${S}","method":"GET"}',
          expect=Err(400, "bad_request")),
        presign("DELETE", "${P}k", expect=Err(400, "bad_request")),
        presign("GET", "${P}k", expires=0, expect=Err(400, "bad_request")),
        presign("GET", "${P}k", expires=604801, expect=Err(400, "bad_request")),
        R("POST", "/v1/presign", body=b'{"store":"${S}","key":"k",'
          b'"method":"GET","expires_in":"300"}', expect=Err(400, "bad_request")),
        R("POST", "/v1/presign", body=b'{"store":"nosuchstore","key":"k",'
          b'"method":"GET"}', expect=Err(404, "no_such_store")),
        presign("GET", "a\u0000b", expect=Err(400)),
        R("POST", "/v1/presign", body=b'{"store":"${S}\\u0000x","key":"k",'
          b'"method":"GET"}', expect=Err(400)),
        R("POST", "/v1/presign", body=b'{"store":"${S}","key":"k",'
          b'"method":"GET"}\x00trailing', expect=Err(400)),
        presign("GET", "a//b", expect=Err(400, "invalid_key")),
        presign("GET", "../x", expect=Err(400, "invalid_key")),
        presign("PUT", "${P}k", token="ro", expect=Err(403, "forbidden")),
        presign("GET", "${P}k", token=None, expect=Err(401, "unauthorized")),
        R("POST", "/v1/presign", body=b"{" + b" " * 20000 + b"}",
          expect=Err(413, "payload_too_large")),
        R("GET", "/v1/presign", expect=Err(405, "method_not_allowed")),
    ]))
    add(Case("a read-only token may presign GET", [
        R("PUT", K("${P}p.txt"), body=b"ro", expect=201),
        presign("GET", "${P}p.txt", token="ro"),
        U("GET", "${url}", expect=[200, Body(b"ro")]),
    ]))
    return c


CASES = _cases()


# ---------------------------------------------------------------- runner

def config_for(profile, stores):
    settings = {}
    extra = {"SMALL": {"max_object_size": 1000}}
    groups = []
    for var, name in stores.items():
        settings = profile.store_settings(name)
        groups.append(stratus.store_conf(name, settings, extra=extra.get(var)))
    clients = [
        stratus.client_conf("conformance-rw", TOKENS["rw"], ["blob:*:rw"]),
        stratus.client_conf("conformance-ro", TOKENS["ro"],
                            ["blob:%s:r" % stores["S"]]),
    ]
    return stratus.make_config(groups, clients, allow_anonymous=False,
                               extra=profile.config_extra())


def run(profile, tap, only=None):
    """Runs every case on the profile, one TAP test each, plus one for the
    daemon's clean exit. only: a regex on case names (also from
    $STRATUS_CONFORMANCE_ONLY)."""
    only = only or os.environ.get("STRATUS_CONFORMANCE_ONLY")
    run_id = "%08x" % random.getrandbits(32)
    stores = {"S": "conf", "S2": "conf2", "SMALL": "small"}
    import tempfile
    work = tempfile.TemporaryDirectory(prefix="conformance-%s-" % profile.name)
    try:
        try:
            profile.setup(work.name)
        except Exception:
            tap.ok(False, "%s: profile setup" % profile.name,
                   traceback.format_exc())
            return
        try:
            d = stratus.Daemon(config_for(profile, stores),
                               name="conformance-" + profile.name,
                               tmpdir=os.path.join(work.name))
        except Exception:
            tap.ok(False, "%s: daemon starts" % profile.name,
                   traceback.format_exc())
            profile.teardown()
            return
        try:
            for idx, case in enumerate(CASES):
                name = "%s: %s" % (profile.name, case.name)
                if only and not re.search(only, case.name):
                    continue
                missing = case.requires - set(profile.features)
                if missing:
                    tap.skip(name, "the %s profile lacks %s" % (
                        profile.name, ", ".join(sorted(missing))))
                    continue
                ctx = Ctx(d, stores, "t%s/%03d-" % (run_id, idx), profile)
                run_case(tap, name, ctx, case)
                if not d.alive():
                    tap.ok(False, "%s: daemon still running after %s" % (
                        profile.name, case.name),
                        stratus.interesting_stderr(d.stderr_text()))
                    break
        finally:
            d.stop_check(tap, "%s: daemon exits 0 on SIGTERM, no sanitizer "
                         "report" % profile.name)
            profile.teardown()
    finally:
        work.cleanup()


def run_case(tap, name, ctx, case):
    for i, step in enumerate(case.steps):
        try:
            run_step(ctx, step)
        except Fail as e:
            last = getattr(ctx, "last", None)
            tap.ok(False, name, "step %d (%s): %s%s" % (
                i + 1, step.describe(ctx), e,
                "\nresponse: %r" % last if last is not None and
                not isinstance(step, Fn) else ""))
            return False
        except Exception:
            tap.ok(False, name, "step %d (%s): %s" % (
                i + 1, step.describe(ctx), traceback.format_exc()))
            return False
    return tap.ok(True, name)


class LocalProfile:
    """The built-in local store: a directory per store."""
    name = "local"
    features = ALL_FEATURES

    def __init__(self, fsync=None):
        self.fsync = fsync
        self.root = None

    def setup(self, workdir):
        self.root = os.path.join(workdir, "stores")
        os.makedirs(self.root, exist_ok=True)

    def teardown(self):
        pass

    def store_settings(self, name):
        s = {"provider": "local", "path": os.path.join(self.root, name)}
        if self.fsync is not None:
            s["fsync"] = self.fsync
        return s

    def config_extra(self):
        return ""
