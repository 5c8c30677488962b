#!/usr/bin/python3
"""
test_blob_azure.py - the blob contract on the Azure Blob backend, against
Azurite, then what is particular to Azure:

  - Put Block / Put Block List for bodies over the threshold and of unknown
    length (seen from Azure's side: the committed blocks, none left
    uncommitted), a range across a block boundary, Content-MD5 on the
    block path, conditions on the commit;
  - an abandoned block upload: the previous version stays, nothing is
    committed;
  - a wrong account key: 403 forbidden with Azure's code (Azurite checks
    Shared Key signatures);
  - SAS URLs from POST /v1/presign used with plain HTTP against Azurite
    itself, with the headers the answer lists; what they refuse;
  - metadata as stored on Azure (C# identifier names, RFC 2047 values);
  - stores whose credentials are a SAS, or a connection string;
  - per-block retries through tests/lib/faultproxy.py;
  - configuration errors refused by --check-config.

Azurite runs on 127.0.0.1, port chosen by the system, in a temporary
directory, and is stopped by its PID. The containers are made by this test
with requests it signs itself (Python standard library), independently of
the daemon's signer.
"""

import base64
import copy
import datetime
import email.utils
import hashlib
import hmac
import json
import os
import random
import socket
import sys
import tempfile
import time
import traceback
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, HERE)
import stratus  # noqa: E402
import emulators  # noqa: E402
import blob_conformance as conf  # noqa: E402
from faultproxy import FaultProxy  # noqa: E402

TOKEN = "azure-test-token"
ACCOUNT = emulators.AZURE_ACCOUNT
ACCOUNT_KEY = emulators.AZURE_ACCOUNT_KEY
CONTAINERS = ["conf", "conf2", "small", "big"]
API_VERSION = "2021-12-02"
# Azure answers a wrong key with AuthenticationFailed; Azurite says
# AuthorizationFailure. Either is the provider's word for it.
AUTH_CODES = ("AuthenticationFailed", "AuthorizationFailure")


def write_secret(path, text):
    return emulators.write_secret(path, text + "\n")


# ---------------------------------------------------------------- Azurite

class Azurite:
    """azurite-blob on 127.0.0.1, with direct signed access for checks."""

    def __init__(self, workdir, containers=()):
        self.dir = os.path.join(workdir, "azurite")
        os.makedirs(self.dir, exist_ok=True)
        argv = [os.path.join(emulators.NODE_BIN, "azurite-blob"),
                "--blobHost", "127.0.0.1", "--blobPort", "0",
                "--location", self.dir, "--silent", "--disableTelemetry"]
        self.p = emulators._Process(
            argv, self.dir, r"listens on http://127\.0\.0\.1:(\d+)")
        self.port = int(self.p.match.group(1))
        self.endpoint = "http://127.0.0.1:%d/%s" % (self.port, ACCOUNT)
        self.key_file = write_secret(os.path.join(self.dir, "account.key"),
                                     ACCOUNT_KEY)
        for c in containers:
            r = self.request("PUT", "/" + c, {"restype": "container"})
            if r.status not in (201, 409):
                raise emulators.EmulatorError("container %s: %r" % (c, r))

    def credentials_conf(self, name="emu", key_file=None):
        return ('%s = { provider = "azure"; account = "%s"; key_file = "%s"; };'
                % (name, ACCOUNT, key_file or self.key_file))

    def store(self, name, container, credentials="emu", endpoint=True):
        s = {"provider": "azure", "container": container,
             "credentials": credentials}
        if endpoint:
            s["endpoint"] = self.endpoint
        return stratus.store_conf(name, s)

    # -- Shared Key, written from the service's documentation

    def request(self, method, path, query=None, headers=None, body=b""):
        """A signed request; path is "/container[/blob]" (not encoded)."""
        query = dict(query or {})
        headers = dict(headers or {})
        upath = "/%s%s" % (ACCOUNT, urllib.parse.quote(path, safe="/~"))
        headers["x-ms-date"] = email.utils.formatdate(usegmt=True)
        headers["x-ms-version"] = API_VERSION
        length = str(len(body)) if body else ""
        std = ["Content-Encoding", "Content-Language", None, "Content-MD5",
               "Content-Type", "Date", "If-Modified-Since", "If-Match",
               "If-None-Match", "If-Unmodified-Since", "Range"]
        low = {k.lower(): v for k, v in headers.items()}
        sts = [method] + [length if h is None else low.get(h.lower(), "")
                          for h in std]
        sts += ["%s:%s" % (k, low[k]) for k in sorted(low)
                if k.startswith("x-ms-")]
        res = "/%s%s" % (ACCOUNT, upath)
        for k in sorted(query):
            res += "\n%s:%s" % (k.lower(), query[k])
        sig = base64.b64encode(hmac.new(
            base64.b64decode(ACCOUNT_KEY), ("\n".join(sts) + "\n" + res)
            .encode("utf-8"), hashlib.sha256).digest()).decode()
        headers["Authorization"] = "SharedKey %s:%s" % (ACCOUNT, sig)
        target = upath + ("?" + urllib.parse.urlencode(
            query, quote_via=urllib.parse.quote) if query else "")
        return stratus.http_request("127.0.0.1", self.port, method, target,
                                    headers, body if body else None)

    def container_sas(self, container, perms="rcwdl", hours=2):
        """A service SAS for a whole container (signed version 2021-12-02)."""
        expiry = (datetime.datetime.now(datetime.timezone.utc) +
                  datetime.timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")
        fields = [perms, "", expiry, "/blob/%s/%s" % (ACCOUNT, container),
                  "", "", "", API_VERSION, "c", "", "", "", "", "", "", ""]
        sig = base64.b64encode(hmac.new(
            base64.b64decode(ACCOUNT_KEY), "\n".join(fields).encode(),
            hashlib.sha256).digest()).decode()
        return urllib.parse.urlencode(
            [("sv", API_VERSION), ("sr", "c"), ("sp", perms), ("se", expiry),
             ("sig", sig)], quote_via=urllib.parse.quote)

    def block_list(self, container, blob):
        """(committed, uncommitted) lists of (name, size)."""
        r = self.request("GET", "/%s/%s" % (container, blob),
                         {"comp": "blocklist", "blocklisttype": "all"})
        if r.status != 200:
            raise AssertionError("Get Block List: %r" % r)
        import xml.etree.ElementTree as ET
        root = ET.fromstring(r.body)
        out = []
        for part in ("CommittedBlocks", "UncommittedBlocks"):
            el = root.find(part)
            out.append([(b.findtext("Name"), int(b.findtext("Size")))
                        for b in (el if el is not None else [])])
        return out[0], out[1]

    def stop(self):
        self.p.stop()


# ---------------------------------------------------------------- profile

class AzureProfile:
    """Stores on Azurite containers, Shared Key credentials."""
    name = "azure"
    # Azurite checks SAS signatures, permissions and expiry, but it judges
    # a request's required headers before its SAS: a GET URL used for a PUT
    # without x-ms-blob-type is 400 there, where the table wants 403. The
    # presign checks are done below, the Azure way, instead.
    features = conf.ALL_FEATURES - {"presign_verify"}

    def __init__(self):
        self.az = None

    def setup(self, workdir):
        self.az = Azurite(workdir, CONTAINERS)

    def teardown(self):
        if self.az is not None:
            self.az.stop()

    def store_settings(self, name):
        return {"provider": "azure", "container": name, "credentials": "emu",
                "endpoint": self.az.endpoint}

    def config_extra(self):
        return "credentials = { %s };" % self.az.credentials_conf()


def with_url_headers(run_step):
    """An application that follows the API: it sends the headers a presign
    answer lists ("headers") with the URL. (Azure's Put Blob needs
    x-ms-blob-type: BlockBlob, which no URL can carry.)"""
    def step(ctx, st):
        if isinstance(st, conf.U) and getattr(ctx, "url_headers", None):
            hdrs = list(st.headers.items()) if isinstance(st.headers, dict) \
                else list(st.headers or [])
            have = {k.lower() for k, _ in hdrs}
            hdrs += [(k, v) for k, v in ctx.url_headers.items()
                     if k.lower() not in have]
            st = copy.copy(st)
            st.headers = hdrs
        r = run_step(ctx, st)
        if isinstance(st, conf.R) and not isinstance(st, conf.U) and \
                st.path == "/v1/presign" and r is not None and r.status == 200:
            ctx.url_headers = r.json().get("headers") or {}
        return r
    return step


# ---------------------------------------------------------------- helpers

def azure_config(az, extra_stores=(), extra_creds=(), key_file=None):
    stores = [az.store("big", "big")] + list(extra_stores)
    creds = [az.credentials_conf(key_file=key_file)] + list(extra_creds)
    return stratus.make_config(
        stores, [stratus.client_conf("t", TOKEN, ["blob:*:rw"])],
        allow_anonymous=False,
        extra="credentials = { %s };" % " ".join(creds))


def path(store, key):
    return "/v1/blobs/%s/%s" % (store, stratus.quote_key(key))


def get_sha(d, store, key):
    r = d.request("GET", path(store, key), token=TOKEN)
    return r.status, hashlib.sha256(r.body).hexdigest(), len(r.body)


def guarded(tap, name, fn, *args):
    try:
        fn(*args)
    except Exception:
        tap.ok(False, name, traceback.format_exc())


# ---------------------------------------------------------------- blocks

def blocks_known_length(tap, d, az):
    data = random.Random(1).randbytes(40 * 1024 * 1024 + 12345)
    r = d.request("PUT", path("big", "bl/known"), body=data, token=TOKEN,
                  headers={"Content-Type": "video/mp4", "X-Meta-Kind": "big"})
    tap.ok(r.status == 201 and r.json().get("size") == len(data),
           "block upload of 40 MiB with Content-Length: 201", repr(r))
    st, sha, n = get_sha(d, "big", "bl/known")
    tap.ok(st == 200 and sha == hashlib.sha256(data).hexdigest(),
           "the 40 MiB blob reads back identical (%d bytes)" % n)
    committed, uncommitted = az.block_list("big", "bl/known")
    sizes = [s for _, s in committed]
    ids = {len(i) for i, _ in committed}
    tap.ok(sizes == [8 << 20] * 5 + [12345] and len(ids) == 1 and
           not uncommitted,
           "Azure holds 6 committed blocks (5 of 8 MiB), ids of one length, "
           "nothing uncommitted", repr((sizes, ids, len(uncommitted))))
    r = d.request("HEAD", path("big", "bl/known"), token=TOKEN)
    tap.ok(r.status == 200 and r.header("Content-Type") == "video/mp4" and
           r.header("X-Meta-kind") == "big",
           "the block blob has its type and metadata", repr(r))
    r = d.request("GET", path("big", "bl/known"), token=TOKEN,
                  headers={"Range": "bytes=8388600-8388620"})
    tap.ok(r.status == 206 and r.body == data[8388600:8388621] and
           r.header("Content-Range") == "bytes 8388600-8388620/%d" % len(data),
           "a range across a block boundary", repr(r)[:300])
    r = d.request("GET", path("big", "bl/known"), token=TOKEN,
                  headers={"Range": "bytes=-10"})
    tap.ok(r.status == 206 and r.body == data[-10:],
           "a suffix range of the block blob", repr(r)[:300])


def blocks_chunked(tap, d, az):
    body = stratus.Stream(20 * 1024 * 1024 + 7, seed=2)
    r = d.request("PUT", path("big", "bl/chunked"), body=iter(body),
                  token=TOKEN)
    tap.ok(r.status == 201 and r.json().get("size") == body.n,
           "chunked upload of unknown length (20 MiB): 201", repr(r))
    st, sha, n = get_sha(d, "big", "bl/chunked")
    tap.ok(st == 200 and sha == body.sha.hexdigest() and n == body.n,
           "the chunked upload reads back identical (%d bytes)" % n)
    committed, uncommitted = az.block_list("big", "bl/chunked")
    tap.ok(len(committed) == 3 and not uncommitted,
           "Azure holds it as 3 committed blocks", repr(committed))
    small = stratus.Stream(1000, seed=3)
    r = d.request("PUT", path("big", "bl/chunked-small"), body=iter(small),
                  token=TOKEN)
    st, sha, n = get_sha(d, "big", "bl/chunked-small")
    tap.ok(r.status == 201 and sha == small.sha.hexdigest(),
           "a small chunked upload (one block) reads back identical", repr(r))
    r = d.request("PUT", path("big", "bl/chunked-empty"), body=iter([]),
                  token=TOKEN)
    st, sha, n = get_sha(d, "big", "bl/chunked-empty")
    tap.ok(r.status == 201 and st == 200 and n == 0,
           "an empty chunked upload makes an empty blob (an empty list)",
           repr(r))


def blocks_md5_and_conditions(tap, d, az):
    data = random.Random(4).randbytes(3 * 1024 * 1024)
    good = base64.b64encode(hashlib.md5(data).digest()).decode()
    bad = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    r = d.request("PUT", path("big", "md/ok"), body=iter([data]), token=TOKEN,
                  headers={"Content-MD5": good})
    tap.ok(r.status == 201, "chunked upload with the right Content-MD5: 201",
           repr(r))
    r = az.request("HEAD", "/big/md/ok")
    tap.ok(r.header("Content-MD5") == good,
           "the block blob carries the body's MD5 on Azure", repr(r))
    r = d.request("PUT", path("big", "md/bad"), body=iter([data]),
                  token=TOKEN, headers={"Content-MD5": bad})
    r2 = d.request("GET", path("big", "md/bad"), token=TOKEN)
    tap.ok(r.status == 400 and r.error_code() == "bad_request" and
           r2.status == 404,
           "chunked upload with a wrong Content-MD5: 400, nothing committed",
           repr((r, r2)))
    big = random.Random(5).randbytes(17 * 1024 * 1024)
    r = d.request("PUT", path("big", "cond/one"), body=big, token=TOKEN,
                  headers={"If-None-Match": "*"})
    tap.ok(r.status == 201, "block upload with If-None-Match: * creates",
           repr(r))
    etag = r.header("ETag")
    r = d.request("PUT", path("big", "cond/one"), body=iter([b"x" * 100]),
                  token=TOKEN, headers={"If-None-Match": "*"})
    tap.ok(r.status == 412 and r.error_code() == "precondition_failed",
           "a second one is 412 (Put Block List condition)", repr(r))
    r = d.request("PUT", path("big", "cond/one"), body=iter([b"y" * 10]),
                  token=TOKEN, headers={"If-Match": '"0x0"'})
    tap.ok(r.status == 412, "block upload with a stale If-Match: 412",
           repr(r))
    r = d.request("PUT", path("big", "cond/one"), body=iter([b"z" * 10]),
                  token=TOKEN, headers={"If-Match": etag})
    r2 = d.request("GET", path("big", "cond/one"), token=TOKEN)
    tap.ok(r.status == 201 and r2.body == b"z" * 10,
           "block upload with the current If-Match replaces", repr(r))


def blocks_abandoned(tap, d, az):
    """The client leaves after 24 MiB of 64: the old version stays and is
    all Azure has committed; the blocks sent are left uncommitted (the
    service drops them after a week)."""
    key = "bl/abandoned"
    old = b"the old version"
    r = d.request("PUT", path("big", key), body=old, token=TOKEN)
    tap.ok(r.status == 201, "the old version is written")
    mark = d.log_mark()
    s = d.sock()
    s.sendall(("PUT %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
               "Content-Length: %d\r\n\r\n" % (path("big", key), TOKEN,
                                                64 << 20)).encode())
    piece = b"x" * (1 << 20)
    for _ in range(24):
        s.sendall(piece)
    # Wait until some blocks reached Azure, then reset, as a crash would.
    stratus.wait_until(lambda: az.block_list("big", key)[1], 60)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                 b"\x01\x00\x00\x00\x00\x00\x00\x00")
    s.close()
    d.wait_log(lambda x: x.get("msg") == "request" and
               x.get("method") == "PUT" and "terminated" in x,
               timeout=60, since=mark)
    st, sha, n = get_sha(d, "big", key)
    tap.ok(st == 200 and sha == hashlib.sha256(old).hexdigest(),
           "after the client left, the old version is intact", "%d %d" % (st, n))
    committed, uncommitted = az.block_list("big", key)
    tap.ok(not committed and uncommitted,
           "nothing was committed; the sent blocks stay uncommitted",
           repr((committed, len(uncommitted))))
    time.sleep(1)
    st, sha, n = get_sha(d, "big", key)
    tap.ok(st == 200 and sha == hashlib.sha256(old).hexdigest(),
           "and stays so once the daemon has let the upload go")


# ---------------------------------------------------------------- auth, SAS

def wrong_key(tap, az, work):
    bad = write_secret(os.path.join(work, "wrong.key"), base64.b64encode(
        b"\x01" * 64).decode())
    with stratus.Daemon(azure_config(az, key_file=bad),
                        name="az-badkey") as d:
        for method, p, body in (("GET", path("big", "bl/known"), None),
                                ("PUT", path("big", "x"), b"x"),
                                ("PUT", path("big", "xc"), iter([b"x"])),
                                ("DELETE", path("big", "x"), None),
                                ("GET", "/v1/blobs/big?prefix=bl/", None)):
            r = d.request(method, p, body=body, token=TOKEN)
            code = r.json()["error"].get("provider_code") \
                if r.status >= 400 else None
            tap.ok(r.status == 403 and r.error_code() == "forbidden" and
                   code in AUTH_CODES,
                   "a wrong account key: %s %s is 403 forbidden with the "
                   "provider's code" % (method, p.split("?")[0]), repr(r))
        r = d.request("HEAD", path("big", "bl/known"), token=TOKEN)
        tap.ok(r.status == 403, "a wrong account key: 403 on HEAD", repr(r))
        d.stop_check(tap, "the wrong-key daemon exits cleanly")


def presign(d, key, method, expires=300):
    r = d.request("POST", "/v1/presign", token=TOKEN, body=(
        '{"store":"big","key":%s,"method":"%s","expires_in":%d}' % (
            json.dumps(key), method, expires)).encode())
    if r.status != 200:
        raise AssertionError("presign: %r" % r)
    return r.json()


def sas_urls(tap, d, az):
    key = "sas/ü file+?.txt"
    d.request("PUT", path("big", key), body=b"shared", token=TOKEN)
    p = presign(d, key, "GET")
    u = urllib.parse.urlsplit(p["url"])
    q = dict(urllib.parse.parse_qsl(u.query))
    tap.ok(u.port == az.port and q.get("sp") == "r" and q.get("sr") == "b" and
           "sig" in q and "se" in q and p["headers"] == {},
           "a GET presign is a read-only blob SAS URL of Azure itself",
           repr(p))
    r = stratus.url_request(p["url"])
    tap.ok(r.status == 200 and r.body == b"shared",
           "the SAS URL, fetched with plain HTTP: 200 and the bytes", repr(r))
    r = stratus.url_request(p["url"], "HEAD")
    tap.ok(r.status == 200 and r.header("Content-Length") == "6",
           "HEAD with the SAS URL: 200", repr(r))
    r = stratus.url_request(conf.flip_signature(p["url"]))
    tap.ok(r.status == 403, "a tampered signature: 403", repr(r))
    r = stratus.url_request(conf.other_key_url(p["url"]))
    tap.ok(r.status == 403, "the SAS pointed at another blob: 403", repr(r))
    r = stratus.url_request(p["url"], "PUT", body=b"overwrite",
                            headers={"x-ms-blob-type": "BlockBlob"})
    r2 = d.request("GET", path("big", key), token=TOKEN)
    tap.ok(r.status == 403 and r2.body == b"shared",
           "the GET URL used to PUT: 403, blob unchanged", repr(r))
    r = stratus.url_request(p["url"], "DELETE")
    tap.ok(r.status == 403, "the GET URL used to DELETE: 403", repr(r))

    p = presign(d, "sas/up.bin", "PUT")
    q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(p["url"]).query))
    tap.ok(q.get("sp") == "cw" and p["headers"] == {
        "x-ms-blob-type": "BlockBlob"},
           "a PUT presign is a create/write SAS, and names the header "
           "Put Blob needs", repr(p))
    r = stratus.url_request(p["url"], "PUT", body=b"uploaded via SAS",
                            headers=p["headers"])
    r2 = d.request("GET", path("big", "sas/up.bin"), token=TOKEN)
    tap.ok(r.status == 201 and r2.body == b"uploaded via SAS",
           "PUT with the SAS URL and the listed headers: 201, readable "
           "through the daemon", repr((r, r2)))
    r = stratus.url_request(p["url"], "GET")
    tap.ok(r.status == 403, "the PUT URL does not read: 403", repr(r))

    p = presign(d, key, "GET", expires=1)
    deadline = time.monotonic() + 30
    while True:
        r = stratus.url_request(p["url"])
        if r.status != 200 or time.monotonic() > deadline:
            break
        time.sleep(0.25)
    tap.ok(r.status == 403, "an expired SAS URL: 403", repr(r))


def metadata_on_azure(tap, d, az):
    r = d.request("PUT", path("big", "meta/m"), body=b"m", token=TOKEN,
                  headers=[("X-Meta-Owner", "alice"), ("X-Meta-Project-ID", "42"),
                           ("X-Meta-stx_odd", "x"),
                           ("X-Meta-city", "Zürich ✓".encode()),
                           ("X-Meta-q", "=?UTF-8?B?eA==?=")])
    tap.ok(r.status == 201, "PUT with metadata Azure cannot take as is",
           repr(r))
    r = az.request("HEAD", "/big/meta/m")
    got = {k.lower()[10:]: v for k, v in r.header_list
           if k.lower().startswith("x-ms-meta-")}
    tap.ok(got.get("owner") == "alice" and got.get("stx_project_hid") == "42"
           and got.get("stx_stx__odd") == "x" and
           got.get("city", "").startswith("=?UTF-8?B?") and
           all(k.replace("_", "a").isalnum() for k in got),
           "on Azure: identifier names, plain ASCII values", repr(got))
    r = d.request("GET", path("big", "meta/m"), token=TOKEN)
    tap.ok(conf_meta(r) == {"owner": "alice", "project-id": "42",
                            "stx_odd": "x", "city": "Zürich ✓",
                            "q": "=?UTF-8?B?eA==?="},
           "through the daemon: every name and value as given", repr(r))
    # A blob written by another Azure client, with a mixed-case name.
    r = az.request("PUT", "/big/meta/other", headers={
        "x-ms-blob-type": "BlockBlob", "x-ms-meta-ProjectName": "apollo"},
        body=b"o")
    r = d.request("HEAD", path("big", "meta/other"), token=TOKEN)
    tap.ok(r.header("X-Meta-projectname") == "apollo",
           "metadata of other Azure clients reads back lowercased", repr(r))


def escaped_names(tap, d, az):
    """Azure turns '\\' into '/' in blob names: keys are stored escaped
    ('[' as "[[", '\\' as "[]"), so that "a\\b" and "a/b" stay two blobs
    and listings stay in byte order."""
    keys = ["esc/a\\b", "esc/a/b", "esc/a[b", "esc/a[[b]", "esc/a]b",
            "esc/a\\", "esc/aZ", "esc/a^"]
    for k in keys:
        r = d.request("PUT", path("big", k), body=k.encode(), token=TOKEN)
        if r.status != 201:
            tap.ok(False, "PUT %r" % k, repr(r))
            return
    got = [d.request("GET", path("big", k), token=TOKEN).body for k in keys]
    tap.ok(got == [k.encode() for k in keys],
           "keys with '\\', '/', '[' and ']' are distinct blobs", repr(got))
    r = d.request("GET", "/v1/blobs/big?prefix=esc/", token=TOKEN)
    listed = [i["key"] for i in r.json()["items"]]
    tap.ok(listed == sorted(keys, key=lambda k: k.encode()),
           "they list in byte order", repr(listed))
    r = d.request("GET", "/v1/blobs/big?prefix=" + stratus.quote_arg(
        "esc/a[") + "&delimiter=" + stratus.quote_arg("["), token=TOKEN)
    tap.ok(r.status == 200 and [i["key"] for i in r.json()["items"]] ==
           ["esc/a[b"] and r.json()["prefixes"] == ["esc/a[["],
           "a prefix and a delimiter holding '['", repr(r))
    r = d.request("GET", "/v1/blobs/big?prefix=esc/&delimiter=%5C",
                  token=TOKEN)
    tap.ok(r.status == 400 and r.error_code() == "bad_request",
           "a delimiter holding '\\' is refused on Azure", repr(r))
    r = az.request("GET", "/big", {"restype": "container", "comp": "list",
                                   "prefix": "esc/"})
    names = re_names(r.body)
    tap.ok("esc/a[]b" in names and "esc/a[[[[b]" in names and
           "esc/a/b" in names and not any("\\" in n for n in names),
           "on Azure the names are escaped", repr(names))
    p = presign(d, "esc/a\\b", "GET")
    r = stratus.url_request(p["url"])
    tap.ok(r.status == 200 and r.body == b"esc/a\\b",
           "a SAS URL of a key with '\\'", repr(r))
    r = d.request("PUT", path("big", "esc/copy"), token=TOKEN,
                  headers={"X-Copy-Source": "big/esc/a%5Cb"})
    r2 = d.request("GET", path("big", "esc/copy"), token=TOKEN)
    tap.ok(r.status == 201 and r2.body == b"esc/a\\b",
           "a copy from a key with '\\'", repr((r, r2)))


def re_names(xml):
    import xml.etree.ElementTree as ET
    return [n.text for n in ET.fromstring(xml).iter("Name")]


def conf_meta(r):
    return {k[7:].lower(): v.encode("latin-1").decode("utf-8", "replace")
            for k, v in r.header_list if k.lower().startswith("x-meta-")}


def other_credentials(tap, az, work):
    """Stores whose credentials are a container SAS, or a connection
    string; a server-side copy between them (one account)."""
    sas_file = write_secret(os.path.join(work, "big.sas"),
                            "?" + az.container_sas("big"))
    cs_file = write_secret(os.path.join(work, "conn.txt"), (
        "DefaultEndpointsProtocol=http;AccountName=%s;AccountKey=%s;"
        "BlobEndpoint=%s;QueueEndpoint=http://127.0.0.1:1/%s;" % (
            ACCOUNT, ACCOUNT_KEY, az.endpoint, ACCOUNT)))
    creds = ['sas = { provider = "azure"; account = "%s"; sas_file = "%s"; '
             'endpoint = "%s"; };' % (ACCOUNT, sas_file, az.endpoint),
             'cs = { provider = "azure"; connection_string_file = "%s"; };'
             % cs_file]
    stores = [az.store("bysas", "big", "sas", endpoint=False),
              az.store("bycs", "conf2", "cs", endpoint=False)]
    with stratus.Daemon(azure_config(az, stores, creds), name="az-creds") as d:
        r = d.request("PUT", path("bysas", "cred/x"), body=b"with a SAS",
                      token=TOKEN)
        r2 = d.request("GET", path("bysas", "cred/x"), token=TOKEN)
        tap.ok(r.status == 201 and r2.body == b"with a SAS",
               "a SAS-only store writes and reads", repr((r, r2)))
        body = stratus.Stream(18 * 1024 * 1024, seed=9)
        r = d.request("PUT", path("bysas", "cred/big"), body=iter(body),
                      token=TOKEN)
        st, sha, n = get_sha(d, "bysas", "cred/big")
        tap.ok(r.status == 201 and sha == body.sha.hexdigest(),
               "a SAS-only store takes a block upload", repr(r))
        r = d.request("GET", "/v1/blobs/bysas?prefix=cred/", token=TOKEN)
        tap.ok(r.status == 200 and [i["key"] for i in r.json()["items"]] ==
               ["cred/big", "cred/x"], "a SAS-only store lists", repr(r))
        r = d.request("PUT", path("bycs", "cred/copied"), token=TOKEN,
                      headers={"X-Copy-Source": "bysas/cred/x"})
        r2 = d.request("GET", path("bycs", "cred/copied"), token=TOKEN)
        tap.ok(r.status == 201 and r2.body == b"with a SAS",
               "copy from a SAS store to a connection-string store of the "
               "same account (server side)", repr((r, r2)))
        r = d.request("PUT", path("bysas", "cred/copied"), token=TOKEN,
                      headers={"X-Copy-Source": "big/cred/x"})
        tap.ok(r.status == 201, "copy into a SAS store (source authorised "
               "for the service)", repr(r))
        r = d.request("POST", "/v1/presign", token=TOKEN, body=(
            b'{"store":"bysas","key":"cred/x","method":"GET"}'))
        tap.ok(r.status == 400 and "SAS" in r.json()["error"]["message"],
               "a SAS-only store cannot presign: 400", repr(r))
        r = d.request("DELETE", path("bysas", "cred/x"), token=TOKEN)
        r2 = d.request("GET", path("bysas", "cred/x"), token=TOKEN)
        tap.ok(r.status == 204 and r2.status == 404,
               "a SAS-only store deletes", repr((r, r2)))
        d.stop_check(tap, "the credentials daemon exits cleanly")


def faults(tap, az, work):
    """Put Block, Put Block List, Get Blob and List Blobs through a proxy
    that fails a third of them: each is retried on its own."""
    proxy = FaultProxy("127.0.0.1:%d" % az.port, seed=4, rate=0.33,
                       faults=["503", "500", "reset_before", "reset_mid"],
                       flavor="azure")
    port = proxy.start()
    try:
        ep = "http://127.0.0.1:%d/%s" % (port, ACCOUNT)
        store = stratus.store_conf("flaky", {
            "provider": "azure", "container": "big", "credentials": "emu",
            "endpoint": ep})
        cfg = stratus.make_config(
            [store], [stratus.client_conf("t", TOKEN, ["blob:*:rw"])],
            allow_anonymous=False, extra="credentials = { %s };\nretry = { "
            "max_attempts = 10; base_delay_ms = 5; max_delay_ms = 50; };"
            % az.credentials_conf())
        with stratus.Daemon(cfg, name="az-faults") as d:
            body = stratus.Stream(40 * 1024 * 1024, seed=11)
            r = d.request("PUT", path("flaky", "f/big"), body=iter(body),
                          token=TOKEN)
            tap.ok(r.status == 201, "a 40 MiB block upload through faults: "
                   "201", repr(r))
            st, sha, n = get_sha(d, "flaky", "f/big")
            ok = st == 200 and sha == body.sha.hexdigest()
            if not ok:	# a GET cut in the middle is not retried: once more
                st, sha, n = get_sha(d, "flaky", "f/big")
            tap.ok(st == 200 and sha == body.sha.hexdigest(),
                   "it reads back identical")
            data = b"small %d" % random.Random(2).getrandbits(64)
            r = d.request("PUT", path("flaky", "f/small"), body=data,
                          token=TOKEN, headers={"If-None-Match": "*"})
            tap.ok(r.status == 201, "a small conditional PUT through faults "
                   "(a held body, sent again): 201", repr(r))
            r = d.request("GET", "/v1/blobs/flaky?prefix=f/", token=TOKEN)
            tap.ok(r.status == 200 and [i["key"] for i in r.json()["items"]]
                   == ["f/big", "f/small"], "the listing, once each",
                   repr(r))
            c = proxy.counters()
            tap.ok(sum(v for k, v in c.items() if k != "requests") > 0,
                   "faults were injected", repr(c))
            d.stop_check(tap, "the faults daemon exits cleanly")
    finally:
        proxy.stop()


def config_errors(tap, az, work):
    readable = os.path.join(work, "readable.key")
    with open(readable, "w") as f:
        f.write(ACCOUNT_KEY)
    os.chmod(readable, 0o644)
    notb64 = write_secret(os.path.join(work, "notb64.key"), "not base64!")
    cases = [
        ("unknown store setting", {"bucket": "x"}, None, "unknown setting"),
        ("bad container name", {"container": "Bad_Name"}, None, "container"),
        ("no credentials", {"credentials": None}, None, "credentials"),
        ("unknown credentials", {"credentials": "nope"}, None, "nope"),
        ("group-readable key file", {}, 'emu = { provider = "azure"; '
         'account = "%s"; key_file = "%s"; };' % (ACCOUNT, readable),
         "group or others"),
        ("key that is not base64", {}, 'emu = { provider = "azure"; '
         'account = "%s"; key_file = "%s"; };' % (ACCOUNT, notb64), "base64"),
        ("key_file and sas_file", {}, 'emu = { provider = "azure"; '
         'account = "%s"; key_file = "%s"; sas_file = "%s"; };' % (
             ACCOUNT, az.key_file, az.key_file), "exactly one"),
        ("unknown credentials setting", {}, 'emu = { provider = "azure"; '
         'account = "%s"; key_file = "%s"; region = "x"; };' % (
             ACCOUNT, az.key_file), "unknown setting"),
        ("bad endpoint", {"endpoint": "ftp://x"}, None, "endpoint"),
    ]
    for i, (what, change, cred, want) in enumerate(cases):
        s = {"provider": "azure", "container": "big", "credentials": "emu",
             "endpoint": az.endpoint}
        for k, v in change.items():
            if v is None:
                s.pop(k)
            else:
                s[k] = v
        text = stratus.make_config(
            [stratus.store_conf("bad", s)], allow_anonymous=True,
            extra="credentials = { %s };" % (cred or az.credentials_conf()))
        p = os.path.join(work, "bad%d.conf" % i)
        with open(p, "w") as f:
            f.write(text)
        rc, out, err = stratus.run_stratusd(["--config", p, "--check-config"])
        tap.ok(rc != 0 and want in err and "bad" in err,
               "--check-config refuses: %s" % what, "rc %r: %s" % (rc, err))
    p = os.path.join(work, "good.conf")
    with open(p, "w") as f:
        f.write(azure_config(az))
    rc, out, err = stratus.run_stratusd(["--config", p, "--check-config"])
    tap.ok(rc == 0, "--check-config accepts a good Azure store", err)


# ---------------------------------------------------------------- main

def main():
    emulators.require("azurite-blob")
    tap = stratus.TAP()
    conf.run_step = with_url_headers(conf.run_step)
    conf.run(AzureProfile(), tap)
    if os.environ.get("STRATUS_CONFORMANCE_ONLY"):
        tap.done()
    with tempfile.TemporaryDirectory(prefix="azure-") as work:
        try:
            az = Azurite(work, CONTAINERS)
        except Exception:
            tap.ok(False, "Azurite starts", traceback.format_exc())
            tap.done()
        try:
            with stratus.Daemon(azure_config(az), name="az-extra") as d:
                for fn in (blocks_known_length, blocks_chunked,
                           blocks_md5_and_conditions, blocks_abandoned,
                           sas_urls, metadata_on_azure, escaped_names):
                    guarded(tap, fn.__name__, fn, tap, d, az)
                d.stop_check(tap, "the Azure daemon exits 0, no sanitizer "
                             "report")
            for fn in (wrong_key, other_credentials, faults, config_errors):
                guarded(tap, fn.__name__, fn, tap, az, work)
        finally:
            az.stop()
    tap.done()


if __name__ == "__main__":
    sys.exit(main())
