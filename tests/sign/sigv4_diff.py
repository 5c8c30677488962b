#!/usr/bin/python3
"""Differential test of the SigV4 signer against botocore.

Generates random requests (fixed seed, so a failure can be replayed):
methods, S3 keys with any UTF-8 and reserved characters, query strings
with repeated, empty and valueless parameters, header values with runs of
spaces and tabs, session tokens, signed and unsigned payloads, other
services, presigned URLs, and a run of requests that share a few
secrets, days and regions (for the signer's cache of signing keys).
Each goes to botocore and, through tests/sign/sigv4_driver, to
src/sign/sigv4.c; every Authorization header and every presigned query
string must be identical.

No local S3 emulator checks SigV4 signatures, so this test is what guards
the signer. Run with /usr/bin/python3 (Debian's python3-botocore).
Environment: STRATUS_BUILDDIR (the build tree), SIGV4_DIFF_SEED,
SIGV4_DIFF_COUNT.
"""
import datetime
import json
import os
import random
import subprocess
import sys
from urllib.parse import quote, urlsplit

from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth, SigV4Auth
import botocore.auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.utils import percent_encode

SEED = int(os.environ.get("SIGV4_DIFF_SEED", "20261126"))
COUNT = int(os.environ.get("SIGV4_DIFF_COUNT", "12000"))
PRESIGN_COUNT = max(COUNT // 5, 1)

# ---------------------------------------------------------------- the clock

class _PinnedClock:
    """Stands in for the datetime module inside botocore.auth."""
    now = datetime.datetime(2026, 11, 26)

    class datetime:  # noqa: N801 - mimics the module's attribute
        @staticmethod
        def utcnow():
            return _PinnedClock.now

        strptime = datetime.datetime.strptime


botocore.auth.datetime = _PinnedClock

# ---------------------------------------------------------------- generators

RESERVED = " !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
UNICODE = "éßøåçñ日本語中文한국어Ωπ€£¥\u00a0\u2028\u200b😀🚀"
CONTROL = "".join(chr(c) for c in range(1, 32)) + "\x7f"


def rand_text(rng, alphabet_weights, lo, hi):
    n = rng.randint(lo, hi)
    pools, weights = zip(*alphabet_weights)
    out = []
    for _ in range(n):
        pool = rng.choices(pools, weights)[0]
        out.append(rng.choice(pool))
    return "".join(out)


ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def rand_key(rng):
    k = rand_text(rng, [(ALNUM, 10), (RESERVED, 5), ("/", 2), (UNICODE, 3),
                        (CONTROL, 1)], 1, 60)
    return k


def rand_query(rng):
    names = ["uploads", "uploadId", "partNumber", "list-type", "prefix",
             "delimiter", "max-keys", "continuation-token", "versionId",
             "x-id", "a", "A", "a-b", "a_b", "a.b", "a~b", "b"]
    params = []
    for _ in range(rng.randint(0, 6)):
        if rng.random() < 0.7:
            name = rng.choice(names)
        else:
            name = rand_text(rng, [(ALNUM, 6), (RESERVED, 3), (UNICODE, 1)], 1, 12)
        r = rng.random()
        if r < 0.15:
            value = None
        elif r < 0.3:
            value = ""
        else:
            value = rand_text(rng, [(ALNUM, 8), (RESERVED, 3), (UNICODE, 2)], 0, 30)
        params.append((name, value))
        if params and rng.random() < 0.2:
            params.append((name, rng.choice([None, "", "x", "0", "~"])))
    return params


def rand_value(rng):
    core = rand_text(rng, [(ALNUM, 10), (" ", 3), ("\t", 1),
                           ("!#$%&'()*+,-./:;<=>?@[]^_`{|}~\"", 3),
                           ("éß日€", 1)], 0, 40)
    pad = lambda: rng.choice(["", " ", "  ", "\t", " \t "])
    return pad() + core + pad()


HEADER_NAMES = ["Content-Type", "Content-MD5", "Range", "If-Match",
                "If-None-Match", "Cache-Control", "Content-Disposition",
                "Content-Encoding", "x-amz-copy-source", "x-amz-acl",
                "x-amz-storage-class", "Expect", "User-Agent",
                "X-Amzn-Trace-Id", "Content-Length", "X-Custom"]


def rand_headers(rng):
    headers = []
    seen = set()
    for _ in range(rng.randint(0, 7)):
        if rng.random() < 0.3:
            name = "x-amz-meta-" + rand_text(rng, [("abcdefghijklmnopqrstuvwxyz0123456789-_", 1)], 1, 12)
        else:
            name = rng.choice(HEADER_NAMES)
        name = "".join(c.upper() if rng.random() < 0.3 else c for c in name)
        if name.lower() in seen:
            continue
        seen.add(name.lower())
        headers.append((name, rand_value(rng)))
    return headers


def rand_request(rng):
    service = "s3" if rng.random() < 0.85 else rng.choice(["sqs", "dynamodb", "execute-api"])
    req = {
        "method": rng.choice(["GET", "PUT", "HEAD", "DELETE", "POST"]),
        "host": rng.choice(["127.0.0.1:4568", "localhost:9000",
                            "bucket.s3.eu-west-1.amazonaws.com",
                            "s3.us-east-1.amazonaws.com", "[::1]:8080"]),
        "bucket": "",
        "key": "",
        "region": rng.choice(["us-east-1", "eu-west-1", "ap-southeast-2", "us-gov-west-1"]),
        "service": service,
        "key_id": "AKIA" + rand_text(rng, [("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 1)], 16, 16),
        "secret": rand_text(rng, [(ALNUM + "+/", 1)], 40, 40),
        "token": None if rng.random() < 0.6 else rand_text(rng, [(ALNUM + "+/=", 1)], 20, 300),
        "now": rng.randint(946684800, 2114380800),
        "query": rand_query(rng),
        "headers": rand_headers(rng),
        "body": None,
    }
    if service == "s3":
        req["bucket"] = rng.choice(["", "bucket", "my-bucket.v2", "b0"])
        if rng.random() < 0.95:
            req["key"] = rand_key(rng)
        if rng.random() < 0.4:
            req["body"] = rand_text(rng, [(ALNUM + " \n{}\"", 1)], 0, 200)
    else:
        # Other services sign the body and never use a path.
        req["body"] = rand_text(rng, [(ALNUM + " {}\":,", 1)], 0, 200)
        if service in ("sqs", "dynamodb") and rng.random() < 0.5:
            # The JSON protocol, as src/providers/aws sends it: POST /
            # with the operation in X-Amz-Target.
            op = rng.choice(["AmazonSQS.SendMessage",
                             "AmazonSQS.ReceiveMessage",
                             "DynamoDB_20120810.PutItem",
                             "DynamoDB_20120810.Query"])
            req.update({"method": "POST", "query": [], "headers": [
                ("Content-Type", "application/x-amz-json-1.0"),
                ("X-Amz-Target", op)],
                "body": '{"QueueUrl":"http://sqs.%s.localhost:4566/0/q",'
                        '"MessageBody":"%s"}' % (
                            req["region"], rand_text(rng, [(ALNUM, 1)], 0,
                                                     40))})
    return req


def rand_cached(rng):
    """A request whose credentials, day, region and service come from small
    pools, so that in a row of them the signer's per-thread cache of
    signing keys is hit, missed and evicted in every order."""
    req = rand_request(rng)
    req.update({"secret": rng.choice(CACHE_SECRETS),
                "now": rng.choice(CACHE_DAYS) + rng.randint(0, 86399),
                "region": rng.choice(["us-east-1", "eu-west-1"])})
    if rng.random() < 0.3:
        req.update({"service": "sqs", "bucket": "", "key": "",
                    "body": req["body"] or ""})
    return req


CACHE_SECRETS = ["wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                 "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEZ", "x"]
CACHE_DAYS = [1369353600, 1369353600 + 86400]


def rand_presign(rng):
    req = rand_request(rng)
    req.update({"service": "s3", "method": rng.choice(["GET", "PUT"]),
                "query": [], "headers": [], "body": None,
                "bucket": rng.choice(["bucket", "b-1"]), "key": rand_key(rng),
                "expires": rng.randint(1, 604800)})
    return req

JSON_OPS = {
    "sqs": ["AmazonSQS.CreateQueue", "AmazonSQS.GetQueueUrl",
            "AmazonSQS.DeleteQueue", "AmazonSQS.SendMessage",
            "AmazonSQS.ReceiveMessage", "AmazonSQS.DeleteMessage",
            "AmazonSQS.ChangeMessageVisibility"],
    "dynamodb": ["DynamoDB_20120810.CreateTable",
                 "DynamoDB_20120810.DescribeTable",
                 "DynamoDB_20120810.DeleteTable",
                 "DynamoDB_20120810.PutItem", "DynamoDB_20120810.GetItem",
                 "DynamoDB_20120810.DeleteItem", "DynamoDB_20120810.Query"],
}


def rand_json_body(rng, service, region):
    """A body as src/providers/aws/{sqs,dynamodb}.c write them: compact
    JSON, UTF-8 unescaped, control characters escaped."""
    text = rand_text(rng, [(ALNUM, 10), (RESERVED, 3), (UNICODE, 3),
                           (CONTROL, 1)], 0, 80)
    if service == "sqs":
        doc = {"QueueUrl": "http://sqs.%s.localhost:4566/000000000000/q" %
               region, "MessageBody": text,
               "DelaySeconds": rng.randint(0, 900)}
    else:
        doc = {"TableName": "users", "Item": {
            "pk": {"S": text or "p"}, "rk": {"S": "r"},
            "_v": {"S": "%032x" % rng.getrandbits(128)},
            "n": {"N": str(rng.randint(-2 ** 53, 2 ** 53))}},
            "ConditionExpression": "#v = :v"}
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"))


def rand_json_request(rng):
    """An SQS or DynamoDB JSON-protocol request, signed through
    aws_sign_json_req (src/providers/aws/common.c): POST /, Content-Type
    and X-Amz-Target, the body hashed, with and without a session token."""
    service = rng.choice(["sqs", "dynamodb"])
    region = rng.choice(["us-east-1", "eu-west-1", "ap-southeast-2"])
    return {
        "method": "POST",
        "host": rng.choice(["%s.%s.amazonaws.com" % (service, region),
                            "127.0.0.1:4566", "localhost:8000",
                            "[::1]:9324"]),
        "bucket": "", "key": "", "region": region, "service": service,
        "key_id": "AKIA" + rand_text(rng, [("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 1)], 16, 16),
        "secret": rand_text(rng, [(ALNUM + "+/", 1)], 40, 40),
        "token": None if rng.random() < 0.5 else rand_text(rng, [(ALNUM + "+/=", 1)], 20, 400),
        "now": rng.randint(946684800, 2114380800),
        "query": [],
        "headers": [("Content-Type", "application/x-amz-json-1.0"),
                    ("X-Amz-Target", rng.choice(JSON_OPS[service]))],
        "body": rand_json_body(rng, service, region),
    }


# ---------------------------------------------------------------- botocore


def url_of(req, query):
    path = "/" + req["bucket"] + ("/" if req["bucket"] else "")
    path += percent_encode(req["key"], safe="/~")
    url = "http://" + req["host"] + path
    if query:
        parts = []
        for name, value in query:
            p = quote(name, safe="-_.~")
            if value is not None:
                p += "=" + quote(value, safe="-_.~")
            parts.append(p)
        url += "?" + "&".join(parts)
    return url


def botocore_sign(req):
    _PinnedClock.now = datetime.datetime.utcfromtimestamp(req["now"])
    creds = Credentials(req["key_id"], req["secret"], req["token"])
    request = AWSRequest(method=req["method"], url=url_of(req, req["query"]),
                         headers=dict(req["headers"]),
                         data=(req["body"] or "").encode())
    if req["service"] == "s3":
        request.context["client_config"] = Config(
            s3={"payload_signing_enabled": req["body"] is not None})
        signer = S3SigV4Auth(creds, "s3", req["region"])
    else:
        signer = SigV4Auth(creds, req["service"], req["region"])
    signer.add_auth(request)
    return request.headers["Authorization"], signer.canonical_request(request)


def botocore_json(req):
    """Authorization and the headers SigV4Auth adds, for a JSON request."""
    _PinnedClock.now = datetime.datetime.utcfromtimestamp(req["now"])
    creds = Credentials(req["key_id"], req["secret"], req["token"])
    request = AWSRequest(method="POST", url="http://" + req["host"] + "/",
                         headers=dict(req["headers"]),
                         data=req["body"].encode())
    SigV4Auth(creds, req["service"], req["region"]).add_auth(request)
    sent = {n.lower() for n, _ in req["headers"]}
    added = {n.lower(): v for n, v in request.headers.items()
             if n.lower() not in sent}
    return added


def botocore_presign(req):
    _PinnedClock.now = datetime.datetime.utcfromtimestamp(req["now"])
    creds = Credentials(req["key_id"], req["secret"], req["token"])
    request = AWSRequest(method=req["method"], url=url_of(req, []))
    S3SigV4QueryAuth(creds, "s3", req["region"], expires=req["expires"]).add_auth(request)
    return urlsplit(request.url).query

# ---------------------------------------------------------------- the driver


def hx(s):
    if s is None:
        return "!"
    if s == "":
        return "="
    return s.encode().hex()


def driver_line(mode, req):
    f = [mode, req["method"], req["host"], req["bucket"], req["key"],
         req["region"], req["service"], req["key_id"], req["secret"],
         req["token"], str(req["now"]), req["body"], str(req.get("expires", 0)),
         str(len(req["query"]))]
    for name, value in req["query"]:
        f += [name, value]
    f.append(str(len(req["headers"])))
    for name, value in req["headers"]:
        f += [name, value]
    return " ".join(hx(x) for x in f)


def run_driver(lines):
    build = os.environ.get("STRATUS_BUILDDIR") or os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..", "_build")
    driver = os.path.join(build, "tests", "sign", "sigv4_driver")
    out = subprocess.run([driver], input="\n".join(lines) + "\n",
                         capture_output=True, text=True, check=True).stdout
    answers = []
    for line in out.splitlines():
        a, _, c = line.partition(" ")
        if c.count(" ") == 1:   # mode json: a third field
            c, _, added = c.partition(" ")
            text = bytes.fromhex(added).decode("utf-8", "replace") \
                if added not in ("error", "-", "") else ""
            heads = {}
            for hl in text.splitlines():
                n, _, v = hl.partition(": ")
                heads[n.lower()] = v
            answers.append(heads)
            continue
        dec = lambda h: bytes.fromhex(h).decode("utf-8", "replace") if h not in ("error", "-") else h
        answers.append((dec(a), dec(c)))
    return answers

# ---------------------------------------------------------------- main


def main():
    rng = random.Random(SEED)
    signs = [rand_request(rng) for _ in range(COUNT)]
    # Its own generator, so that the requests above stay what they were.
    cached_rng = random.Random(SEED + 1)
    signs += [rand_cached(cached_rng) for _ in range(max(COUNT // 6, 1))]
    presigns = [rand_presign(rng) for _ in range(PRESIGN_COUNT)]
    json_rng = random.Random(SEED + 2)
    jsons = [rand_json_request(json_rng) for _ in range(max(COUNT // 4, 1))]
    lines = [driver_line("sign", r) for r in signs]
    lines += [driver_line("presign", r) for r in presigns]
    lines += [driver_line("json", r) for r in jsons]
    answers = run_driver(lines)

    print("1..4")
    ok_all = True
    if len(answers) != len(lines):
        print(f"not ok 1 - the driver answered {len(answers)} of {len(lines)} requests")
        return 1
    print(f"ok 1 - the driver answered all {len(lines)} requests")

    bad = []
    for req, (auth, canon) in zip(signs, answers[:len(signs)]):
        want, want_canon = botocore_sign(req)
        if auth != want:
            bad.append((req, want, auth, want_canon, canon))
    tag = "ok" if not bad else "not ok"
    print(f"{tag} 2 - Authorization identical to botocore on {len(signs) - len(bad)}"
          f" of {len(signs)} requests (seed {SEED})")
    for req, want, got, wc, gc in bad[:3]:
        print(f"# request: {req!r}\n# botocore: {want}\n# stratus:  {got}")
        print("# botocore canonical:\n" + "\n".join("#   " + l for l in wc.split("\n")))
        print("# stratus canonical:\n" + "\n".join("#   " + l for l in gc.split("\n")))
    ok_all &= not bad

    bad = []
    for req, (query, _) in zip(presigns, answers[len(signs):]):
        want = botocore_presign(req)
        if query != want:
            bad.append((req, want, query))
    tag = "ok" if not bad else "not ok"
    print(f"{tag} 3 - presigned query identical to botocore on "
          f"{len(presigns) - len(bad)} of {len(presigns)} URLs")
    for req, want, got in bad[:3]:
        print(f"# request: {req!r}\n# botocore: {want}\n# stratus:  {got}")
    ok_all &= not bad

    bad = []
    first = len(signs) + len(presigns)
    for req, got in zip(jsons, answers[first:]):
        want = botocore_json(req)
        if got != want:
            bad.append((req, want, got))
    tag = "ok" if not bad else "not ok"
    print(f"{tag} 4 - SQS and DynamoDB JSON-protocol requests (aws_sign_json):"
          f" added headers identical to botocore on {len(jsons) - len(bad)}"
          f" of {len(jsons)} ({sum(1 for r in jsons if r['token'])} with a"
          f" session token)")
    for req, want, got in bad[:3]:
        print(f"# request: {req!r}\n# botocore: {want!r}\n# stratus:  {got!r}")
    ok_all &= not bad
    return 0 if ok_all else 1


if __name__ == "__main__":
    sys.exit(main())
