#!/usr/bin/python3
"""Differential test of the Azure Storage signer against the Azure SDK.

Generates random requests (fixed seed, so a failure can be replayed):
GET/PUT/HEAD/DELETE on accounts, containers and blobs whose names hold any
UTF-8 and reserved characters, metadata headers with mixed-case names and
values with runs of spaces and tabs, x-ms-range, conditional headers,
Content-MD5, content types, Content-Length 0, and query parameters (comp,
blockid, restype, marker, prefix, ...) with repeats and empty values. Each
is signed by the SDK's own SharedKeyCredentialPolicy (on a hand-built
PipelineRequest, no network) and, through tests/sign/azure_driver, by
src/sign/azure_sign.c: blob paths, strings-to-sign and Authorization
values must be identical. Then blob SAS tokens against generate_blob_sas.

Where the SDK is given a request it would never build itself, the test
gives it the request in the form the service documents, and says so:
- a repeated query parameter: the SDK's HttpRequest.query keeps only the
  last value, while the service (and the Go and .NET SDKs) sort the values
  and join them with ','. The SDK is given that joined value.
- x-ms-* header names: the SDK tests the 'x-ms-' prefix case-sensitively
  (its own headers are lowercase), so generated names keep a lowercase
  prefix; the rest of the name is in any case.
- Range: the SDK looks up a header named 'byte_range', never 'Range', and
  always sends x-ms-range; so only x-ms-range is generated here (the unit
  test covers Range).

Run with /usr/bin/python3 (Debian's python3-azure). Environment:
STRATUS_BUILDDIR (the build tree, default _build-az), AZURE_DIFF_SEED,
AZURE_DIFF_COUNT.
"""
import base64
import calendar
import datetime
import os
import random
import subprocess
import sys
from urllib.parse import quote, unquote, urlsplit

from azure.core.pipeline import PipelineContext, PipelineRequest
from azure.core.pipeline.transport import HttpRequest
from azure.storage.blob import (BlobClient, BlobServiceClient, ContainerClient,
                                generate_blob_sas)
from azure.storage.blob._shared.authentication import SharedKeyCredentialPolicy
import azure.storage.blob._shared_access_signature as sdk_sas

SEED = int(os.environ.get("AZURE_DIFF_SEED", "20240101"))
COUNT = int(os.environ.get("AZURE_DIFF_COUNT", "6000"))
SAS_COUNT = max(COUNT // 10, 1)

# ---------------------------------------------------------------- the SDK


class _CapturingPolicy(SharedKeyCredentialPolicy):
    """The SDK policy, keeping the string-to-sign it signs."""

    def _add_authorization_header(self, request, string_to_sign):
        self.string_to_sign = string_to_sign
        super()._add_authorization_header(request, string_to_sign)


def sdk_path(account_url, container, blob):
    if container and blob:
        url = BlobClient(account_url, container, blob).url
    elif container:
        url = ContainerClient(account_url, container).url
    else:
        url = BlobServiceClient(account_url).url
    return urlsplit(url).path


def merged_query(pairs):
    """The pairs as the service reads them: one per name, repeated values
    sorted and joined with ','."""
    order, values = [], {}
    for name, value in pairs:
        if name not in values:
            order.append(name)
            values[name] = []
        values[name].append(value)
    return [(n, ",".join(sorted(values[n]))) for n in order]


def sdk_sign(req, path):
    url = "https://" + req["account"] + ".blob.core.windows.net" + path
    query = merged_query(req["query"])
    if query:
        url += "?" + "&".join(quote(n, safe="") + "=" + quote(v, safe="")
                              for n, v in query)
    policy = _CapturingPolicy(req["account"], req["key"])
    http = HttpRequest(req["method"], url, headers=dict(req["headers"]))
    policy.on_request(PipelineRequest(http, PipelineContext(None)))
    return policy.string_to_sign, http.headers["Authorization"]


_sas_sts = []
_sdk_sign_string = sdk_sas.sign_string


def _capture_sign_string(key, string_to_sign, *args, **kwargs):
    _sas_sts.append(string_to_sign)
    return _sdk_sign_string(key, string_to_sign, *args, **kwargs)


sdk_sas.sign_string = _capture_sign_string


def sdk_blob_sas(s):
    _sas_sts.clear()
    kw = {}
    for name in ("protocol", "cache_control", "content_disposition",
                 "content_encoding", "content_language", "content_type",
                 "encryption_scope"):
        if s[name] is not None:
            kw[name] = s[name]
    token = generate_blob_sas(
        s["account"], s["container"], s["blob"], account_key=s["key"],
        permission=s["sdk_permission"], expiry=s["expiry_dt"],
        start=s["start_dt"], policy_id=s["identifier"], ip=s["ip"], **kw)
    return _sas_sts[-1], token

# ---------------------------------------------------------------- generators


LOWER = "abcdefghijklmnopqrstuvwxyz"
ALNUM = LOWER + LOWER.upper() + "0123456789"
RESERVED = " !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
UNICODE = "éßøåçñ日本語中文한국어Ωπ€£¥\u00a0\u2028\u200b😀🚀\ufeff"
CONTROL = "".join(chr(c) for c in range(1, 32) if c not in (10, 13)) + "\x7f"
TCHAR_SYMBOLS = "!#$%&'*+-.^_`|~"
VERSIONS = ["2019-02-02", "2020-10-02", "2021-08-06", "2021-12-02"]
DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep",
          "Oct", "Nov", "Dec"]


def rand_text(rng, pools, lo, hi):
    """lo..hi characters drawn from weighted pools [(chars, weight)]."""
    chars, weights = zip(*pools)
    return "".join(rng.choice(rng.choices(chars, weights)[0])
                   for _ in range(rng.randint(lo, hi)))


def rand_http_date(rng):
    t = rng.randint(946684800, 4102444800)
    d = datetime.datetime.fromtimestamp(t, datetime.timezone.utc)
    return "%s, %02d %s %04d %02d:%02d:%02d GMT" % (
        DAYS[d.weekday()], d.day, MONTHS[d.month - 1], d.year, d.hour,
        d.minute, d.second)


def rand_key(rng):
    return base64.b64encode(bytes(rng.getrandbits(8)
                                  for _ in range(64))).decode()


def rand_account(rng):
    if rng.random() < 0.2:
        return "devstoreaccount1"
    return rand_text(rng, [(LOWER, 5), ("0123456789", 1)], 3, 24)


def rand_container(rng):
    return rng.choice(LOWER) + rand_text(
        rng, [(LOWER, 6), ("0123456789", 2), ("-", 1)], 2, 20) + rng.choice(LOWER)


def rand_blob(rng):
    kind = rng.random()
    if kind < 0.1:
        return rng.choice(["a", "a/b", "dir/sub/file.txt", "..", "a/../b",
                           "./x", "/lead", "trail/", "a//b", "~tilde",
                           "%41", "%", "a%2Fb", "plus+sign", "q?x=1#f",
                           "semi;colon", "sp ace", "é", "😀", "100%"])
    return rand_text(rng, [(ALNUM, 8), ("/", 2), (RESERVED, 4),
                           (UNICODE, 3), (CONTROL, 0.3)], 1, 40)


def rand_value(rng, lo=0, hi=24):
    return rand_text(rng, [(ALNUM, 8), (" ", 2), ("\t", 0.5),
                           (RESERVED, 3), (UNICODE, 1)], lo, hi)


def rand_case(rng, name):
    mode = rng.random()
    if mode < 0.4:
        return name
    if mode < 0.6:
        return name.upper()
    if mode < 0.8:
        return "-".join(p[:1].upper() + p[1:] for p in name.split("-"))
    return "".join(c.upper() if rng.random() < 0.5 else c for c in name)


def rand_query(rng, method):
    pairs = []
    pool = {
        "comp": ["block", "blocklist", "list", "metadata", "properties",
                 "snapshot", "lease", "tags", "appendblock", "page", ""],
        "restype": ["container", "service", "account"],
        "blockid": None, "marker": None, "prefix": None, "delimiter": None,
        "maxresults": None, "include": ["metadata", "snapshots", "deleted",
                                        "uncommittedblobs", "tags"],
        "timeout": None, "snapshot": None, "versionid": None,
        "blocklisttype": ["committed", "uncommitted", "all"], "where": None,
    }
    for _ in range(rng.choice([0, 0, 1, 2, 3, 4, 6])):
        r = rng.random()
        if r < 0.75:
            name = rng.choice(sorted(pool))
        else:
            name = rand_text(rng, [(LOWER, 8), ("0123456789-_.~", 1)], 1, 12)
        choices = pool.get(name)
        v = rng.random()
        if name == "blockid":
            value = base64.b64encode(bytes(rng.getrandbits(8) for _ in
                                           range(rng.choice([3, 8, 16, 48])))).decode()
        elif name in ("maxresults", "timeout"):
            value = str(rng.randint(0, 5000))
        elif name == "snapshot":
            value = "2024-0%d-01T00:00:00.%07dZ" % (rng.randint(1, 9), rng.randint(0, 9999999))
        elif choices is not None and v < 0.8:
            value = rng.choice(choices)
        elif v < 0.9:
            value = ""
        else:
            value = rand_value(rng, 1, 20)
        pairs.append((name, value))
        if rng.random() < 0.15:		# the same name again
            pairs.append((name, rng.choice(["", rand_value(rng, 1, 8),
                                            "metadata", "snapshots", value])))
    return pairs


STANDARD = [
    ("content-encoding", lambda r: r.choice(["gzip", "deflate", "br", "identity", ""])),
    ("content-language", lambda r: r.choice(["en-US", "fr", "de-CH, en", ""])),
    ("content-length", lambda r: r.choice(["0", "0", str(r.randint(1, 10**10)), "00", ""])),
    ("content-md5", lambda r: base64.b64encode(bytes(r.getrandbits(8) for _ in range(16))).decode()),
    ("content-type", lambda r: r.choice([
        "application/octet-stream", "text/plain; charset=utf-8",
        "image/png", "application/json", "multipart/mixed; boundary=b_1",
        "text/plain;  charset=\"utf-8\"", ""])),
    ("date", rand_http_date),
    ("if-modified-since", rand_http_date),
    ("if-match", lambda r: r.choice(["*", "\"0x8D%013X\"" % r.getrandbits(52),
                                     "\"0x1\", \"0x2\"", "W/\"weak\""])),
    ("if-none-match", lambda r: r.choice(["*", "\"0x8D%013X\"" % r.getrandbits(52)])),
    ("if-unmodified-since", rand_http_date),
]

XMS = [
    ("x-ms-range", lambda r: "bytes=%d-%d" % (lambda a: (a, a + r.randint(0, 10**7)))(r.randint(0, 10**9))),
    ("x-ms-blob-type", lambda r: r.choice(["BlockBlob", "PageBlob", "AppendBlob"])),
    ("x-ms-lease-id", lambda r: "%08x-%04x-%04x-%04x-%012x" % (
        r.getrandbits(32), r.getrandbits(16), r.getrandbits(16),
        r.getrandbits(16), r.getrandbits(48))),
    ("x-ms-client-request-id", lambda r: rand_value(r, 0, 36)),
    ("x-ms-blob-content-type", lambda r: r.choice(["text/html", "", "a/b; c=d"])),
    ("x-ms-blob-content-md5", lambda r: base64.b64encode(bytes(r.getrandbits(8) for _ in range(16))).decode()),
    ("x-ms-delete-snapshots", lambda r: r.choice(["include", "only"])),
    ("x-ms-access-tier", lambda r: r.choice(["Hot", "Cool", "Archive"])),
    ("x-ms-copy-source", lambda r: "https://src.blob.core.windows.net/c/" + quote(rand_blob(r), safe="~/")),
    ("x-ms-if-tags", lambda r: "\"tag\" = 'v'"),
    ("x-ms-range-get-content-md5", lambda r: "true"),
    ("x-ms-encryption-scope", lambda r: rand_container(r)),
    ("x-ms-tags", lambda r: "a=b&c=%20d"),
]


def rand_headers(rng):
    headers, seen = [], set()

    def add(name, value):
        if name.lower() not in seen:
            seen.add(name.lower())
            headers.append((name, value))

    add("x-ms-date", rand_http_date(rng))
    add("x-ms-version", rng.choice(VERSIONS))
    for name, gen in STANDARD:
        if rng.random() < 0.25:
            add(rand_case(rng, name), gen(rng))
    for name, gen in XMS:
        if rng.random() < 0.15:
            add("x-ms-" + rand_case(rng, name[5:]), gen(rng))
    for _ in range(rng.choice([0, 0, 1, 2, 3, 5])):
        meta = rng.choice(LOWER + LOWER.upper() + "_") + rand_text(
            rng, [(ALNUM, 6), ("_", 1)], 0, 12)
        add("x-ms-meta-" + meta, rng.choice([
            "", rand_value(rng), "  lead", "trail  ", "a    b", "x\ty",
            "\t tab-led", "quoted \"  spaced  \" text"]))
    if rng.random() < 0.1:	# names using every token symbol
        add("x-ms-" + rand_text(rng, [(LOWER, 4), (TCHAR_SYMBOLS, 2),
                                      ("0123456789", 1)], 1, 8), rand_value(rng))
    for name in ("User-Agent", "Accept", "Connection", "x-other", "Authorization-X"):
        if rng.random() < 0.1:
            add(name, rand_value(rng))
    rng.shuffle(headers)
    return headers


def rand_request(rng):
    container = rand_container(rng) if rng.random() < 0.9 else None
    blob = rand_blob(rng) if container and rng.random() < 0.85 else None
    account = rand_account(rng)
    prefix = "/" + account if rng.random() < 0.15 else ""
    return {
        "key": rand_key(rng), "account": account, "prefix": prefix,
        "method": rng.choice(["GET", "PUT", "HEAD", "DELETE", "GET", "PUT"]),
        "container": container, "blob": blob,
        "query": rand_query(rng, None), "headers": rand_headers(rng),
    }


SAS_TEXT = [(ALNUM, 8), (" ", 1), (RESERVED, 3), (UNICODE, 1)]


def rand_sas(rng):
    perms = "".join(p for p in "racwdxytmei" if rng.random() < 0.3) or \
        rng.choice(["r", "w", "cw", "rw"])
    shuffled = list(perms)
    rng.shuffle(shuffled)
    start = rng.randint(946684800, 4102444800) if rng.random() < 0.5 else None
    expiry = (start or 946684800) + rng.randint(1, 10 ** 8)
    identifier = rand_text(rng, [(ALNUM, 1), ("-", 0.1)], 1, 64) \
        if rng.random() < 0.1 else None
    if identifier and rng.random() < 0.5:
        perms, shuffled, expiry = "", [], None
    pick = lambda p, gen: gen() if rng.random() < p else None  # noqa: E731
    dt = lambda t: None if t is None else datetime.datetime.fromtimestamp(  # noqa: E731
        t, datetime.timezone.utc).replace(tzinfo=None)
    return {
        "key": rand_key(rng), "account": rand_account(rng),
        "container": rand_container(rng), "blob": rand_blob(rng),
        "sdk_permission": perms or None, "permission": "".join(shuffled),
        "start": start, "expiry": expiry,
        "start_dt": dt(start), "expiry_dt": dt(expiry),
        "protocol": rng.choice([None, None, "https", "https,http"]),
        "ip": rng.choice([None, None, "168.1.5.65",
                          "10.%d.0.1-10.%d.0.255" % (rng.randint(0, 255), rng.randint(0, 255))]),
        "identifier": identifier,
        "encryption_scope": pick(0.1, lambda: rand_container(rng)),
        "cache_control": pick(0.2, lambda: rng.choice(["no-cache", "max-age=3600, public"])),
        "content_disposition": pick(0.2, lambda: 'attachment; filename="%s"' % rand_text(rng, SAS_TEXT, 1, 20)),
        "content_encoding": pick(0.1, lambda: rng.choice(["gzip", "identity"])),
        "content_language": pick(0.1, lambda: rng.choice(["en-US", "fr"])),
        "content_type": pick(0.2, lambda: rand_text(rng, SAS_TEXT, 1, 30)),
    }

# ---------------------------------------------------------------- the driver


def esc(s):
    return (s.replace("\\", "\\\\").replace("\t", "\\t")
            .replace("\n", "\\n").replace("\r", "\\r"))


def unesc(s):
    out, i = [], 0
    while i < len(s):
        c = s[i]
        if c == "\\" and i + 1 < len(s):
            i += 1
            c = {"t": "\t", "n": "\n", "r": "\r"}.get(s[i], s[i])
        out.append(c)
        i += 1
    return "".join(out)


def sk_line(req):
    f = ["SK", req["key"], req["method"], req["account"], req["prefix"],
         req["container"] or "", req["blob"] or "", str(len(req["query"]))]
    for pair in req["query"]:
        f += pair
    f.append(str(len(req["headers"])))
    for pair in req["headers"]:
        f += pair
    return "\t".join(esc(x) for x in f)


def sas_line(s):
    opt = lambda v: "" if v is None else str(v)  # noqa: E731
    f = ["SAS", s["key"], s["account"], s["container"], s["blob"],
         s["permission"], str(s["start"] or 0), str(s["expiry"] or 0)]
    f += [opt(s[n]) for n in ("protocol", "ip", "identifier")]
    f.append("")	# version: the default, which is the SDK's
    f += [opt(s[n]) for n in ("encryption_scope", "cache_control",
                              "content_disposition", "content_encoding",
                              "content_language", "content_type")]
    return "\t".join(esc(x) for x in f)


def run_driver(lines):
    build = os.environ.get("STRATUS_BUILDDIR") or os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..", "_build-az")
    driver = os.path.join(build, "tests", "sign", "azure_driver")
    out = subprocess.run([driver], input="\n".join(lines) + "\n",
                         capture_output=True, text=True, check=True,
                         encoding="utf-8", errors="replace").stdout
    # split("\n"), not splitlines(): names may hold U+2028, U+0085, ...
    return [[unesc(x) for x in line.split("\t")]
            for line in out.split("\n")[:-1]]


# Requests the signer must refuse (field lists as in sk_line / sas_line).
GOOD_KEY = base64.b64encode(bytes(range(64))).decode()
DATE_H = ["x-ms-date", "Mon, 01 Jan 2024 00:00:00 GMT"]
INVALID = [
    ("key not base64", ["SK", "not base64!", "GET", "a", "", "c", "b", "0", "1"] + DATE_H),
    ("key without padding", ["SK", GOOD_KEY.rstrip("="), "GET", "a", "", "c", "b", "0", "1"] + DATE_H),
    ("key with a newline", ["SK", GOOD_KEY[:40] + "\n" + GOOD_KEY[40:], "GET", "a", "", "c", "b", "0", "1"] + DATE_H),
    ("empty key", ["SK", "", "GET", "a", "", "c", "b", "0", "1"] + DATE_H),
    ("header value with CRLF", ["SK", GOOD_KEY, "GET", "a", "", "c", "b", "0", "2"] + DATE_H + ["x-ms-meta-a", "1\r\nx-ms-meta-b: 2"]),
    ("header name with a space", ["SK", GOOD_KEY, "GET", "a", "", "c", "b", "0", "2"] + DATE_H + ["x ms", "1"]),
    ("header name with non-token byte", ["SK", GOOD_KEY, "GET", "a", "", "c", "b", "0", "2"] + DATE_H + ["x-ms-é", "1"]),
    ("duplicate header in other case", ["SK", GOOD_KEY, "GET", "a", "", "c", "b", "0", "2"] + DATE_H + ["X-MS-DATE", "x"]),
    ("query value with a newline", ["SK", GOOD_KEY, "GET", "a", "", "c", "b", "1", "comp", "a\nb", "1"] + DATE_H),
    ("empty query name", ["SK", GOOD_KEY, "GET", "a", "", "c", "b", "1", "", "v", "1"] + DATE_H),
    ("method with a space", ["SK", GOOD_KEY, "G T", "a", "", "c", "b", "0", "1"] + DATE_H),
    ("account with a slash", ["SK", GOOD_KEY, "GET", "a/b", "", "c", "b", "0", "1"] + DATE_H),
    ("SAS unknown permission", ["SAS", GOOD_KEY, "a", "c", "b", "rz", "0", "1900000000"] + [""] * 10),
    ("SAS repeated permission", ["SAS", GOOD_KEY, "a", "c", "b", "rr", "0", "1900000000"] + [""] * 10),
    ("SAS no expiry", ["SAS", GOOD_KEY, "a", "c", "b", "r", "0", "0"] + [""] * 10),
    ("SAS protocol http", ["SAS", GOOD_KEY, "a", "c", "b", "r", "0", "1900000000", "http"] + [""] * 9),
    ("SAS old version", ["SAS", GOOD_KEY, "a", "c", "b", "r", "0", "1900000000", "", "", "", "2019-02-02"] + [""] * 6),
    ("SAS empty blob", ["SAS", GOOD_KEY, "a", "c", "", "r", "0", "1900000000"] + [""] * 10),
    ("SAS bad key", ["SAS", "@@@@", "a", "c", "b", "r", "0", "1900000000"] + [""] * 10),
]

# ---------------------------------------------------------------- main


def show(label, text):
    print("# %s:" % label)
    if not isinstance(text, str):
        print("#   " + repr(text))
        return
    for line in text.split("\n"):
        print("#   " + repr(line)[1:-1])


def coverage(reqs):
    """What the generated requests hold, so that a change of generator
    that stops covering a feature shows."""
    def has(req, pred):
        return any(pred(n.lower(), v) for n, v in req["headers"])
    feats = {
        "metadata": lambda r: has(r, lambda n, v: n.startswith("x-ms-meta-")),
        "x-ms-range": lambda r: has(r, lambda n, v: n == "x-ms-range"),
        "Content-Length 0": lambda r: has(r, lambda n, v: n == "content-length" and v == "0"),
        "conditional": lambda r: has(r, lambda n, v: n.startswith("if-")),
        "Content-MD5": lambda r: has(r, lambda n, v: n == "content-md5"),
        "empty query value": lambda r: any(v == "" for _, v in r["query"]),
        "non-ASCII blob name": lambda r: any(ord(c) > 127 for c in r["blob"] or ""),
        "account path prefix": lambda r: bool(r["prefix"]),
    }
    return ", ".join("%s %d" % (k, sum(1 for r in reqs if f(r)))
                     for k, f in feats.items())


def report(num, bad, total, what):
    print("%s %d - %s: %d of %d identical" % ("ok" if not bad else "not ok",
                                              num, what, total - len(bad), total))
    for case in bad[:3]:
        for label, text in case:
            show(label, text)
    return not bad


def main():
    rng = random.Random(SEED)
    reqs = [rand_request(rng) for _ in range(COUNT)]
    sases = [rand_sas(rng) for _ in range(SAS_COUNT)]
    lines = [sk_line(r) for r in reqs] + [sas_line(s) for s in sases]
    lines += ["\t".join(esc(x) for x in f) for _, f in INVALID]
    answers = run_driver(lines)

    print("1..8")
    print("# seed %d, %d requests, %d SAS tokens" % (SEED, COUNT, SAS_COUNT))
    print("# requests with: " + coverage(reqs))
    if len(answers) != len(lines):
        print("not ok 1 - the driver answered %d of %d lines" % (len(answers), len(lines)))
        return 1
    refused = [i for i, a in enumerate(answers[:len(reqs) + len(sases)]) if a[0] != "OK"]
    print("%s 1 - the driver signed all %d requests and SAS tokens" % (
        "ok" if not refused else "not ok", len(reqs) + len(sases)))
    for i in refused[:3]:
        show("refused", lines[i])
    ok = not refused

    bad_path, bad_sts, bad_auth, bad_rep = [], [], [], []
    repeated = 0
    for req, ans in zip(reqs, answers):
        if ans[0] != "OK":
            continue
        _, path, query, sts, auth = ans
        base = ("http://127.0.0.1:10000" if req["prefix"] else
                "https://" + req["account"] + ".blob.core.windows.net") + req["prefix"]
        want_path = sdk_path(base, req["container"], req["blob"])
        decoded = [tuple(unquote(x, errors="strict") for x in p.partition("=")[::2])
                   for p in query.split("&")] if query else []
        if path != want_path or decoded != [tuple(p) for p in req["query"]]:
            bad_path.append([("container", req["container"]), ("blob", req["blob"]),
                             ("sdk path", want_path), ("stratus path", path),
                             ("query pairs", req["query"]), ("stratus query", query)])
        want_sts, want_auth = sdk_sign(req, want_path)
        case = [("request", req), ("sdk string-to-sign", want_sts),
                ("stratus string-to-sign", sts), ("sdk", want_auth),
                ("stratus", auth)]
        if sts != want_sts:
            bad_sts.append(case)
        if auth != want_auth:
            bad_auth.append(case)
        names = [n for n, _ in req["query"]]
        if len(set(names)) != len(names):
            repeated += 1
            if sts != want_sts or auth != want_auth:
                bad_rep.append(case)

    ok &= report(2, bad_path, len(reqs), "blob URL paths vs the SDK's clients "
                 "(query strings decode back to the pairs)")
    ok &= report(3, bad_sts, len(reqs), "Shared Key strings-to-sign vs SharedKeyCredentialPolicy")
    ok &= report(4, bad_auth, len(reqs), "Shared Key Authorization vs SharedKeyCredentialPolicy")
    ok &= report(5, bad_rep, repeated, "requests with a repeated query parameter "
                 "(the SDK given the values joined, as the service reads them)")

    bad_sas_sts, bad_token = [], []
    for s, ans in zip(sases, answers[len(reqs):]):
        if ans[0] != "OK":
            continue
        _, token, sts = ans
        want_sts, want_token = sdk_blob_sas(s)
        case = [("sas", {k: v for k, v in s.items() if not k.endswith("_dt")}),
                ("sdk string-to-sign", want_sts), ("stratus string-to-sign", sts),
                ("sdk", want_token), ("stratus", token)]
        if sts != want_sts:
            bad_sas_sts.append(case)
        if token != want_token:
            bad_token.append(case)
    ok &= report(6, bad_sas_sts, len(sases), "SAS strings-to-sign vs generate_blob_sas")
    ok &= report(7, bad_token, len(sases), "SAS query strings vs generate_blob_sas")

    accepted = [(what, ans) for (what, _), ans in
                zip(INVALID, answers[len(reqs) + len(sases):]) if ans != ["ERR"]]
    print("%s 8 - invalid inputs refused: %d of %d" % (
        "ok" if not accepted else "not ok", len(INVALID) - len(accepted), len(INVALID)))
    for what, ans in accepted[:3]:
        show("accepted " + what, ans)
    ok &= not accepted
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
