#!/usr/bin/python3
"""
test_blob_s3.py - the blob contract on the S3 backend, against s3rver.

The same conformance table the local store passes (blob_conformance.py),
on stores mapped to s3rver buckets, then what is particular to S3:
multipart uploads (over the 16 MiB threshold, and of unknown length),
a client that leaves in the middle of a multipart upload, a wrong
secret, which s3rver refuses as a real S3 would (it checks SigV4), and an
endpoint given by host name.
"""

import hashlib
import os
import random
import socket
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, HERE)
import stratus  # noqa: E402
import emulators  # noqa: E402
import blob_conformance as conf  # noqa: E402

BUCKETS = ["conf", "conf2", "small", "big"]
TOKEN = "s3-test-token"


class S3Profile:
    """Stores on s3rver buckets, path style, static credentials."""
    name = "s3"
    # s3rver lacks every feature blob_conformance.FEATURES lists, even
    # presign_verify: it serves a presigned URL with a tampered signature.
    features = set()

    def __init__(self):
        self.s3 = None

    def setup(self, workdir):
        self.s3 = emulators.S3rver(workdir, BUCKETS)

    def teardown(self):
        if self.s3 is not None:
            self.s3.stop()

    def store_settings(self, name):
        return {"provider": "s3", "bucket": name, "region": "us-east-1",
                "credentials": "emu", "endpoint": self.s3.endpoint}

    def config_extra(self):
        return "credentials = { %s };" % self.s3.credentials_conf()


def s3_config(s3, secret_file=None, key_id=None, extra_store=None):
    stores = [stratus.store_conf("big", {
        "provider": "s3", "bucket": "big", "region": "us-east-1",
        "credentials": "emu", "endpoint": s3.endpoint})]
    if extra_store:
        stores.append(extra_store)
    return stratus.make_config(
        stores, [stratus.client_conf("t", TOKEN, ["blob:*:rw"])],
        allow_anonymous=False,
        extra="credentials = { %s };" % s3.credentials_conf(
            secret_file=secret_file, key_id=key_id))


def get_sha(d, key):
    r = d.request("GET", "/v1/blobs/big/" + stratus.quote_key(key),
                  token=TOKEN)
    return r.status, hashlib.sha256(r.body).hexdigest(), len(r.body)


def multipart_known_length(tap, d):
    data = random.Random(1).randbytes(40 * 1024 * 1024 + 12345)
    r = d.request("PUT", "/v1/blobs/big/mp/known", body=data, token=TOKEN)
    tap.ok(r.status == 201 and r.json().get("size") == len(data),
           "multipart upload of 40 MiB with Content-Length: 201", repr(r))
    st, sha, n = get_sha(d, "mp/known")
    tap.ok(st == 200 and sha == hashlib.sha256(data).hexdigest(),
           "the 40 MiB object reads back identical (%d bytes)" % n)
    r = d.request("GET", "/v1/blobs/big/mp/known", token=TOKEN,
                  headers={"Range": "bytes=16777210-16777229"})
    tap.ok(r.status == 206 and r.body == data[16777210:16777230],
           "a range across a part boundary of the multipart object")


def multipart_chunked(tap, d):
    body = stratus.Stream(20 * 1024 * 1024 + 7, seed=2)
    r = d.request("PUT", "/v1/blobs/big/mp/chunked", body=iter(body),
                  token=TOKEN)
    tap.ok(r.status == 201, "chunked upload of unknown length (20 MiB): 201",
           repr(r))
    st, sha, n = get_sha(d, "mp/chunked")
    tap.ok(st == 200 and sha == body.sha.hexdigest() and n == body.n,
           "the chunked upload reads back identical (%d bytes)" % n)
    small = stratus.Stream(1000, seed=3)
    r = d.request("PUT", "/v1/blobs/big/mp/chunked-small", body=iter(small),
                  token=TOKEN)
    st, sha, n = get_sha(d, "mp/chunked-small")
    tap.ok(r.status == 201 and sha == small.sha.hexdigest(),
           "a small chunked upload (one part) reads back identical")
    r = d.request("PUT", "/v1/blobs/big/mp/chunked-empty", body=iter([]),
                  token=TOKEN)
    st, sha, n = get_sha(d, "mp/chunked-empty")
    tap.ok(r.status == 201 and st == 200 and n == 0,
           "an empty chunked upload makes an empty object", repr(r))


def multipart_abandoned(tap, d):
    """The client leaves after 24 MiB of a 64 MiB upload: the old version
    stays, nothing new appears. (s3rver cannot abort multipart uploads,
    so the parts it stored stay on its disk; real S3 gets the abort.)"""
    key = "mp/abandoned"
    old = b"the old version"
    r = d.request("PUT", "/v1/blobs/big/" + key, body=old, token=TOKEN)
    tap.ok(r.status == 201, "the old version is written")
    s = d.sock()
    s.sendall(("PUT /v1/blobs/big/%s HTTP/1.1\r\nHost: x\r\n"
               "Authorization: Bearer %s\r\nContent-Length: %d\r\n\r\n" % (
                   key, TOKEN, 64 << 20)).encode())
    piece = b"x" * (1 << 20)
    for _ in range(24):
        s.sendall(piece)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                 b"\x01\x00\x00\x00\x00\x00\x00\x00")
    s.close()
    st, sha, n = get_sha(d, key)
    tap.ok(st == 200 and sha == hashlib.sha256(old).hexdigest(),
           "after the client left, the old version is intact", "%d %d" % (st, n))
    ok = stratus.wait_until(lambda: d.request(
        "GET", "/v1/blobs/big/" + key, token=TOKEN).body == old, 10)
    tap.ok(ok, "and stays so once the daemon has cleaned up")


def wrong_credentials(tap, s3, workdir):
    """An access key the provider does not know: 403 with its code.
    (s3rver checks the key id of header-signed requests but not their
    signature, so a wrong secret cannot be shown here; real S3 answers
    SignatureDoesNotMatch, which maps to 403 the same way, and the signer
    itself is guarded by tests/sign/sigv4_diff.py.)"""
    with stratus.Daemon(s3_config(s3, key_id="NOSUCHKEY"),
                        name="s3-badid") as d:
        for method, path, body in (("GET", "/v1/blobs/big/mp/known", None),
                                   ("PUT", "/v1/blobs/big/x", b"x"),
                                   ("GET", "/v1/blobs/big?prefix=mp/", None)):
            r = d.request(method, path, body=body, token=TOKEN)
            tap.ok(r.status == 403 and r.error_code() == "forbidden" and
                   r.json()["error"].get("provider_code") ==
                   "InvalidAccessKeyId",
                   "an unknown key id: %s %s is 403 forbidden with "
                   "provider_code InvalidAccessKeyId" % (method, path), repr(r))
        r = d.request("HEAD", "/v1/blobs/big/mp/known", token=TOKEN)
        tap.ok(r.status == 403, "an unknown key id: 403 on HEAD", repr(r))
        d.stop_check(tap, "the wrong-id daemon exits cleanly")


def cross_provider_copy(tap, s3, workdir):
    """X-Copy-Source from a local store into S3: streamed by the daemon."""
    local = stratus.store_conf("loc", {"provider": "local",
                                       "path": os.path.join(workdir, "loc")})
    with stratus.Daemon(s3_config(s3, extra_store=local), name="s3-copy") as d:
        data = random.Random(5).randbytes(3 * 1024 * 1024 + 1)
        r = d.request("PUT", "/v1/blobs/loc/src", body=data, token=TOKEN,
                      headers={"Content-Type": "image/png", "X-Meta-Tag": "v1"})
        r = d.request("PUT", "/v1/blobs/big/copied", token=TOKEN,
                      headers={"X-Copy-Source": "loc/src"})
        tap.ok(r.status == 201 and r.json().get("size") == len(data),
               "copy from a local store into S3: 201", repr(r))
        r = d.request("GET", "/v1/blobs/big/copied", token=TOKEN)
        tap.ok(r.status == 200 and r.body == data and
               r.header("Content-Type") == "image/png",
               "the streamed copy is identical, with its type")
        r = d.request("PUT", "/v1/blobs/loc/back", token=TOKEN,
                      headers={"X-Copy-Source": "big/copied"})
        r2 = d.request("GET", "/v1/blobs/loc/back", token=TOKEN)
        tap.ok(r.status == 201 and r2.body == data,
               "and back from S3 into the local store", repr(r))
        d.stop_check(tap, "the copy daemon exits cleanly")


def endpoint_by_name(tap, s3, workdir):
    """An endpoint given by host name: each worker's engine resolves it
    and keeps the answer (DNS answers are not shared between workers).
    Several connections open at once, so that more than one worker
    serves them."""
    named = stratus.store_conf("named", {
        "provider": "s3", "bucket": "small", "region": "us-east-1",
        "credentials": "emu",
        "endpoint": s3.endpoint.replace("127.0.0.1", "localhost")})
    with stratus.Daemon(s3_config(s3, extra_store=named),
                        name="s3-named") as d:
        data = b"reached by name"
        r = d.request("PUT", "/v1/blobs/named/by-name", body=data,
                      token=TOKEN)
        tap.ok(r.status == 201, "PUT to an endpoint given as localhost: 201",
               repr(r))
        conns = [d.connection() for _ in range(6)]
        got = []
        for _ in range(3):
            for c in conns:
                r = d.request("GET", "/v1/blobs/named/by-name", token=TOKEN,
                              conn=c)
                got.append((r.status, r.body == data))
        for c in conns:
            c.close()
        tap.ok(got == [(200, True)] * len(got),
               "18 GETs over 6 connections at once read it back", repr(got))
        d.stop_check(tap, "the named-endpoint daemon exits cleanly")


def guarded(tap, name, fn, *args):
    """Runs a group of checks; an exception fails the group."""
    import traceback
    try:
        fn(*args)
    except Exception:
        tap.ok(False, name, traceback.format_exc())


def main():
    emulators.require("s3rver")
    tap = stratus.TAP()
    conf.run(S3Profile(), tap)
    with tempfile.TemporaryDirectory(prefix="s3-") as work:
        s3 = emulators.S3rver(work, BUCKETS)
        try:
            with stratus.Daemon(s3_config(s3), name="s3-extra") as d:
                for fn in (multipart_known_length, multipart_chunked,
                           multipart_abandoned):
                    guarded(tap, fn.__name__, fn, tap, d)
                d.stop_check(tap, "the S3 daemon exits 0, no sanitizer report")
            guarded(tap, "wrong credentials", wrong_credentials, tap, s3, work)
            guarded(tap, "cross-provider copy", cross_provider_copy, tap, s3, work)
            guarded(tap, "endpoint by name", endpoint_by_name, tap, s3, work)
        finally:
            s3.stop()
    tap.done()


if __name__ == "__main__":
    sys.exit(main())
