#!/usr/bin/python3
"""Self-test of tests/lib/faultproxy.py, in TAP.

Starts a small standard-library HTTP/1.1 server on 127.0.0.1:0 as the
upstream, puts a FaultProxy on 127.0.0.1:0 in front of it, and checks that
the proxy passes requests through byte for byte at rate 0, that each fault
kind behaves as documented at rate 1, that a seed gives a repeatable fault
sequence, and that set_down works.  Timing checks are only generous upper
bounds against hangs.
"""

import hashlib
import http.client
import http.server
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
LIB = os.path.join(os.path.dirname(HERE), "lib")
sys.path.insert(0, LIB)
import faultproxy  # noqa: E402
from faultproxy import FaultProxy  # noqa: E402

MiB = 1024 * 1024
BIG = os.urandom(20 * MiB)
SMALL = b"hello, stratus\n" * 100


# ------------------------------------------------------------- upstream

class Upstream:
    def __init__(self):
        self.store = {"small": SMALL, "onemib": os.urandom(MiB)}
        self.lock = threading.Lock()
        self.hits = []
        up = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _hit(self):
                with up.lock:
                    up.hits.append((self.command, self.path))

            def _body(self):
                te = self.headers.get("Transfer-Encoding", "")
                h = hashlib.sha256()
                parts = []
                if "chunked" in te.lower():
                    while True:
                        line = self.rfile.readline()
                        size = int(line.split(b";")[0].strip(), 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass
                            break
                        data = self.rfile.read(size)
                        parts.append(data)
                        self.rfile.readline()
                else:
                    n = int(self.headers.get("Content-Length", "0"))
                    while n > 0:
                        data = self.rfile.read(min(n, 1 << 20))
                        if not data:
                            break
                        parts.append(data)
                        n -= len(data)
                body = b"".join(parts)
                h.update(body)
                return body

            def _send(self, status, body, ctype="application/octet-stream",
                      chunked=False, head=False, extra=()):
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                for k, v in extra:
                    self.send_header(k, v)
                if chunked:
                    self.send_header("Transfer-Encoding", "chunked")
                else:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if head:
                    return
                if chunked:
                    for i in range(0, len(body), 65536):
                        piece = body[i:i + 65536]
                        self.wfile.write(b"%x\r\n" % len(piece) + piece + b"\r\n")
                    self.wfile.write(b"0\r\nX-Trailer: yes\r\n\r\n")
                else:
                    self.wfile.write(body)

            def do_PUT(self):
                self._hit()
                body = self._body()
                name = self.path.split("?")[0].rsplit("/", 1)[-1]
                with up.lock:
                    up.store[name] = body
                out = json.dumps({"len": len(body),
                                  "sha256": hashlib.sha256(body).hexdigest()})
                self._send(200, out.encode(), "application/json")

            def _get(self, head):
                self._hit()
                path, _, query = self.path.partition("?")
                if path == "/headers":
                    text = "".join("%s: %s\n" % kv for kv in self.headers.items())
                    self._send(200, text.encode(), "text/plain", head=head)
                    return
                if path == "/close-after":
                    self._send(200, b"bye", "text/plain", head=head)
                    self.close_connection = True   # silently, no header
                    return
                name = path.rsplit("/", 1)[-1]
                with up.lock:
                    body = up.store.get(name)
                if body is None:
                    self._send(404, b"no such object", "text/plain", head=head)
                    return
                rng = self.headers.get("Range", "")
                if rng.startswith("bytes=") and not head:
                    first, _, last = rng[6:].partition("-")
                    first, last = int(first), int(last)
                    self._send(206, body[first:last + 1], extra=[(
                        "Content-Range", "bytes %d-%d/%d" % (first, last,
                                                             len(body)))])
                    return
                self._send(200, body, chunked="chunked=1" in query, head=head)

            def do_GET(self):
                self._get(False)

            def do_HEAD(self):
                self._get(True)

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True
            allow_reuse_address = True

            def handle_error(self, request, client_address):
                pass        # the proxy resets connections on purpose

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def nhits(self):
        with self.lock:
            return len(self.hits)


UP = Upstream()


# ------------------------------------------------------------- helpers

class Proxy:
    def __init__(self, **kw):
        kw.setdefault("seed", 1)
        kw.setdefault("rate", 0.0)
        kw.setdefault("faults", faultproxy.ALL_FAULTS)
        kw.setdefault("flavor", "s3")
        self.p = FaultProxy("127.0.0.1:%d" % UP.port, **kw)

    def __enter__(self):
        self.port = self.p.start()
        return self.p, self.port

    def __exit__(self, *exc):
        self.p.stop()


def conn(port, timeout=30):
    return http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)


def request(port_or_conn, method, path, body=None, headers=None):
    c = port_or_conn if isinstance(port_or_conn, http.client.HTTPConnection) \
        else conn(port_or_conn)
    c.request(method, path, body=body, headers=headers or {})
    r = c.getresponse()
    data = r.read()
    return r, data


def raw_exchange(port, data, timeout=30, then=None):
    """Send raw bytes, read until EOF or error; return (bytes, error)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    got = bytearray()
    err = None
    try:
        s.sendall(data)
        if then is not None:
            then(s)
        while True:
            d = s.recv(65536)
            if not d:
                break
            got += d
    except OSError as e:
        err = e
    finally:
        s.close()
    return bytes(got), err


def split_head(data):
    head, sep, body = data.partition(b"\r\n\r\n")
    assert sep, "no complete head in %r" % data[:200]
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    hdrs = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    return status, hdrs, body


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def wait_for(pred, timeout=10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.01)
    return pred()


# ------------------------------------------------------------- tests

TESTS = []


def test(fn):
    TESTS.append(fn)
    return fn


@test
def rate0_headers_pass_unchanged():
    with Proxy() as (p, port):
        req = (b"GET /headers HTTP/1.1\r\nHost: bucket.example.test:4567\r\n"
               b"X-Odd-Case: A b\r\nx-amz-date: 20240101T000000Z\r\n"
               b"Connection: close\r\n\r\n")
        data, err = raw_exchange(port, req)
        status, _, body = split_head(data)
        check(status == 200, "status %d" % status)
        text = body.decode()
        check("Host: bucket.example.test:4567\n" in text, "host: %r" % text)
        check("X-Odd-Case: A b\n" in text, "odd header: %r" % text)
        check("x-amz-date: 20240101T000000Z\n" in text, "amz header: %r" % text)


@test
def rate0_put_get_20mib_byte_for_byte():
    with Proxy() as (p, port):
        c = conn(port)
        r, data = request(c, "PUT", "/obj/big", body=BIG)
        check(r.status == 200, "PUT status %d" % r.status)
        info = json.loads(data)
        check(info["len"] == len(BIG), "upstream got %d bytes" % info["len"])
        check(info["sha256"] == hashlib.sha256(BIG).hexdigest(), "sha differs")
        r, data = request(c, "GET", "/obj/big")
        check(r.status == 200 and data == BIG, "GET differs (%d bytes)" % len(data))
        c.close()


@test
def rate0_chunked_upload_and_chunked_response_20mib():
    with Proxy() as (p, port):
        c = conn(port)

        def gen():
            for i in range(0, len(BIG), 777777):
                yield BIG[i:i + 777777]
        c.request("PUT", "/obj/bigchunked", body=gen(), encode_chunked=True)
        r = c.getresponse()
        info = json.loads(r.read())
        check(r.status == 200, "PUT status %d" % r.status)
        check(info["sha256"] == hashlib.sha256(BIG).hexdigest(), "sha differs")
        r, data = request(c, "GET", "/obj/bigchunked?chunked=1")
        check(r.getheader("Transfer-Encoding") == "chunked", "not chunked")
        check(data == BIG, "chunked GET differs (%d bytes)" % len(data))
        c.close()


@test
def rate0_keepalive_head_and_expect_continue():
    with Proxy() as (p, port):
        c = conn(port)
        r, _ = request(c, "GET", "/obj/small")
        sock = c.sock
        for _ in range(5):
            r, data = request(c, "GET", "/obj/small")
            check(r.status == 200 and data == SMALL, "GET failed")
        r, data = request(c, "HEAD", "/obj/small")
        check(r.status == 200 and data == b"", "HEAD failed")
        check(r.getheader("Content-Length") == str(len(SMALL)), "HEAD length")
        r, data = request(c, "GET", "/obj/small")
        check(data == SMALL, "GET after HEAD failed")
        check(c.sock is sock, "client connection was not kept alive")
        c.close()

        body = os.urandom(300000)

        def send_body(s):
            got = s.recv(100)
            check(got.startswith(b"HTTP/1.1 100"), "no 100 Continue: %r" % got)
            s.sendall(body)
        head = (b"PUT /obj/expect HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body))
        data, err = raw_exchange(port, head, then=send_body)
        status, _, rbody = split_head(data)
        check(status == 200, "status %d" % status)
        check(json.loads(rbody)["sha256"] == hashlib.sha256(body).hexdigest(),
              "sha differs")


@test
def rate0_stale_upstream_connection_is_replaced():
    with Proxy() as (p, port):
        c = conn(port)
        for _ in range(3):
            r, data = request(c, "GET", "/close-after")
            check(r.status == 200 and data == b"bye", "close-after failed")
            r, data = request(c, "GET", "/obj/small")
            check(r.status == 200 and data == SMALL, "GET after upstream close")
        c.close()


def error_fault(flavor, kind, code):
    def t():
        with Proxy(rate=1.0, faults=[kind], flavor=flavor) as (p, port):
            before = UP.nhits()
            c = conn(port)
            r, data = request(c, "PUT", "/bucket/key?x=1", body=os.urandom(MiB))
            check(r.status == int(kind), "status %d" % r.status)
            check(r.getheader("Content-Type") == "application/xml", "type")
            check(b"<Error><Code>%s</Code>" % code.encode() in data, data[:200])
            if flavor == "azure":
                check(r.getheader("x-ms-error-code") == code, "x-ms-error-code")
                check(r.getheader("x-ms-request-id"), "x-ms-request-id")
            else:
                check(b"<Resource>/bucket/key</Resource>" in data, data)
                check(r.getheader("x-amz-request-id"), "x-amz-request-id")
            check(r.getheader("Retry-After") is None, "unasked Retry-After")
            sock = c.sock
            r, data = request(c, "GET", "/obj/small")     # same connection
            check(r.status == int(kind), "second status %d" % r.status)
            check(c.sock is sock, "connection not kept alive after the error")
            check(UP.nhits() == before, "upstream was reached")
            check(p.counters()[kind] == 2, "counters %r" % p.counters())
            c.close()
    t.__name__ = "fault_%s_%s_%s" % (kind, flavor, code)
    return t


for _flavor, _kind, _code in (("s3", "503", "SlowDown"),
                              ("s3", "500", "InternalError"),
                              ("s3", "429", "SlowDown"),
                              ("azure", "503", "ServerBusy"),
                              ("azure", "500", "InternalError"),
                              ("azure", "429", "ServerBusy"),
                              ("s3", "412", "PreconditionFailed"),
                              ("azure", "412", "ConditionNotMet")):
    test(error_fault(_flavor, _kind, _code))


@test
def fault_error_retry_after_head_and_expect():
    with Proxy(rate=1.0, faults=["503"], retry_after=3) as (p, port):
        c = conn(port)
        r, data = request(c, "HEAD", "/obj/small")
        check(r.status == 503 and data == b"", "HEAD %d %r" % (r.status, data))
        check(r.getheader("Retry-After") == "3", "no Retry-After")
        r, data = request(c, "GET", "/obj/small")
        check(r.status == 503 and b"SlowDown" in data, "GET after HEAD")
        c.close()
        body = os.urandom(100000)

        def send_body(s):
            got = s.recv(100)
            check(got.startswith(b"HTTP/1.1 100"), "no 100 Continue: %r" % got)
            s.sendall(body)
        head = (b"PUT /b/k HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body))
        data, err = raw_exchange(port, head, then=send_body)
        check(err is None, "error %r" % err)
        status, hdrs, _ = split_head(data)
        check(status == 503, "status %d" % status)


@test
def fault_reset_before():
    with Proxy(rate=1.0, faults=["reset_before"]) as (p, port):
        before = UP.nhits()
        head = (b"PUT /b/k HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
                % len(SMALL)) + SMALL
        data, err = raw_exchange(port, head)
        check(data == b"", "got an answer %r" % data[:100])
        check(isinstance(err, ConnectionResetError), "error %r" % err)
        # chunked request body too
        head = (b"PUT /b/k HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                b"\r\n5\r\nhello\r\n0\r\n\r\n")
        data, err = raw_exchange(port, head)
        check(data == b"" and isinstance(err, ConnectionResetError),
              "chunked: %r %r" % (data, err))
        check(UP.nhits() == before, "upstream was reached")
        check(p.counters()["reset_before"] == 2, "counters %r" % p.counters())


@test
def script_gives_kinds_in_order():
    with Proxy(rate=0.0, faults=["500"]) as (p, port):
        p.set_script(["-", "503", "-"])
        c = conn(port)
        got = [request(c, "GET", "/obj/small")[0].status for _ in range(4)]
        check(got == [200, 503, 200, 200], "statuses %r" % got)
        check(p.script_left() == 0, "script not used up")
        check([k for _, _, k in p.history()] == [None, "503", None, None],
              "history %r" % p.history())
        c.close()
    try:
        FaultProxy("127.0.0.1:1").set_script(["nope"])
        check(False, "an unknown kind was taken")
    except ValueError:
        pass


def range_fault(kind, want_status, want_range):
    def t():
        with Proxy(rate=0.0) as (p, port):
            p.set_script([kind, kind])
            c = conn(port)
            r, data = request(c, "GET", "/obj/small",
                              headers={"Range": "bytes=10-19"})
            check(r.status == want_status, "status %d" % r.status)
            check(r.getheader("Content-Range") == want_range,
                  "Content-Range %r" % r.getheader("Content-Range"))
            check(data == SMALL[10:20], "body %r" % data)
            # An answer that is not a 206 is left alone.
            r, data = request(c, "GET", "/obj/small")
            check(r.status == 200 and data == SMALL, "whole GET %d" % r.status)
            check(p.counters()[kind] == 2, "counters %r" % p.counters())
            c.close()
    t.__name__ = "fault_" + kind
    return t


test(range_fault("range_as_200", 200, None))
test(range_fault("range_misplaced", 206, "bytes 0-9/%d" % len(SMALL)))


def reset_mid_get(path, expect_len):
    def t():
        with Proxy(rate=1.0, faults=["reset_mid"]) as (p, port):
            data, err = raw_exchange(
                port, b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path.encode())
            status, hdrs, body = split_head(data)
            check(status == 200, "status %d" % status)
            check(isinstance(err, ConnectionResetError), "error %r" % err)
            check(0 < len(body) < expect_len, "got %d body bytes" % len(body))
            print("# %s: %d of %d body bytes before the reset"
                  % (path, len(body), expect_len))
    t.__name__ = "fault_reset_mid_get_" + ("chunked" if "chunked" in path
                                           else "length")
    return t


test(reset_mid_get("/obj/onemib", MiB + 0))
test(reset_mid_get("/obj/onemib?chunked=1", MiB + 100))


@test
def fault_reset_mid_put_reaches_upstream():
    with Proxy(rate=1.0, faults=["reset_mid"]) as (p, port):
        before = UP.nhits()
        body = os.urandom(200000)
        try:
            r, data = request(port, "PUT", "/obj/resetput", body=body)
            raise AssertionError("got an answer %d %r" % (r.status, data))
        except (ConnectionResetError, http.client.HTTPException):
            pass
        check(UP.nhits() == before + 1, "upstream not reached")
        with UP.lock:
            check(UP.store.get("resetput") == body, "upstream has another body")


@test
def fault_stall_then_close():
    with Proxy(rate=1.0, faults=["stall"], stall_seconds=1.0) as (p, port):
        s = socket.create_connection(("127.0.0.1", port), timeout=30)
        s.sendall(b"PUT /b/k HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
        s.settimeout(0.2)
        try:
            got = s.recv(100)
            raise AssertionError("answered during the stall: %r" % got)
        except socket.timeout:
            pass
        s.settimeout(30)
        t0 = time.monotonic()
        got = s.recv(100)
        check(got == b"", "answered after the stall: %r" % got)
        check(time.monotonic() - t0 < 20, "stall too long")
        s.close()
        check(p.counters()["stall"] == 1, "counters %r" % p.counters())


@test
def fault_stall_ends_on_stop():
    pr = Proxy(rate=1.0, faults=["stall"], stall_seconds=300)
    p, port = pr.__enter__()
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    s.sendall(b"GET /obj/small HTTP/1.1\r\nHost: x\r\n\r\n")
    check(wait_for(lambda: p.counters()["stall"] == 1), "no stall")
    t0 = time.monotonic()
    p.stop()
    check(time.monotonic() - t0 < 10, "stop() took too long")
    try:
        got = s.recv(100)
        check(got == b"", "answered: %r" % got)
    except ConnectionResetError:
        pass
    s.close()


@test
def fault_slow_intact():
    with Proxy(rate=1.0, faults=["slow"], slow_chunk=1000,
               slow_delay=0.001) as (p, port):
        c = conn(port)
        r, data = request(c, "GET", "/obj/small")
        check(r.status == 200 and data == SMALL, "small differs")
        r, data = request(c, "GET", "/obj/onemib?chunked=1")
        with UP.lock:
            want = UP.store["onemib"]
        check(r.status == 200 and data == want, "chunked differs")
        r, data = request(c, "PUT", "/obj/slowput", body=SMALL)
        check(r.status == 200 and json.loads(data)["len"] == len(SMALL), "PUT")
        check(p.counters()["slow"] == 3, "counters %r" % p.counters())
        c.close()


def run_sequence(seed, n=60):
    outcomes = []
    with Proxy(seed=seed, rate=0.5,
               faults=["503", "500", "429", "reset_before", "reset_mid"]) as (p, port):
        for i in range(n):
            try:
                r, data = request(port, "GET", "/obj/small")
                outcomes.append(r.status if data == SMALL or r.status != 200
                                else "short")
            except (OSError, http.client.HTTPException) as e:
                outcomes.append(type(e).__name__)
        kinds = [k for (_, _, k) in p.history()]
    return kinds, outcomes


@test
def same_seed_same_sequence():
    k1, o1 = run_sequence(42)
    k2, o2 = run_sequence(42)
    k3, o3 = run_sequence(43)
    check(k1 == k2, "kinds differ for the same seed")
    check(o1 == o2, "outcomes differ for the same seed")
    check(k1 != k3, "another seed gave the same sequence")
    faulted = sum(1 for k in k1 if k)
    check(10 <= faulted <= 50, "%d faults of 60 at rate 0.5" % faulted)
    check(len(set(k1)) == 6, "not every kind drawn: %r" % set(k1))


@test
def set_down_refuse_and_back():
    with Proxy() as (p, port):
        c = conn(port)
        r, data = request(c, "GET", "/obj/small")
        check(r.status == 200, "before")
        p.set_down(True)
        try:
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
            raise AssertionError("connection accepted while down")
        except ConnectionRefusedError:
            pass
        try:
            r, data = request(c, "GET", "/obj/small")
            raise AssertionError("kept-alive connection still served")
        except (OSError, http.client.HTTPException):
            pass
        c.close()
        p.set_down(False)
        r, data = request(port, "GET", "/obj/small")
        check(r.status == 200 and data == SMALL, "after")


@test
def set_down_503_mode():
    for flavor, code in (("s3", "ServiceUnavailable"), ("azure", "ServerBusy")):
        with Proxy(flavor=flavor) as (p, port):
            before = UP.nhits()
            p.set_down(True, mode="503")
            c = conn(port)
            r, data = request(c, "PUT", "/b/k", body=os.urandom(MiB))
            check(r.status == 503 and code.encode() in data,
                  "%s: %d %r" % (flavor, r.status, data[:200]))
            r, data = request(c, "GET", "/obj/small")
            check(r.status == 503, "second %d" % r.status)
            check(UP.nhits() == before, "upstream reached")
            check(p.counters()["down"] == 2, "counters %r" % p.counters())
            p.set_down(False)
            r, data = request(c, "GET", "/obj/small")
            check(r.status == 200 and data == SMALL, "after")
            c.close()


@test
def set_rate_and_filters():
    with Proxy(rate=1.0, faults=["500"]) as (p, port):
        r, _ = request(port, "GET", "/obj/small")
        check(r.status == 500, "rate 1: %d" % r.status)
        p.set_rate(0.0)
        r, data = request(port, "GET", "/obj/small")
        check(r.status == 200 and data == SMALL, "rate 0: %d" % r.status)
    with Proxy(rate=1.0, faults=["503"], methods=["PUT"]) as (p, port):
        r, _ = request(port, "GET", "/obj/small")
        check(r.status == 200, "GET faulted with methods=PUT")
        r, _ = request(port, "PUT", "/obj/m", body=b"x")
        check(r.status == 503, "PUT not faulted with methods=PUT")
    with Proxy(rate=1.0, faults=["503"], path_regex=r"^/obj/sm") as (p, port):
        r, _ = request(port, "GET", "/obj/onemib")
        check(r.status == 200, "non-matching path faulted")
        r, _ = request(port, "GET", "/obj/small")
        check(r.status == 503, "matching path not faulted")
        check(p.counters()["503"] == 1 and p.counters()["requests"] == 2,
              "counters %r" % p.counters())


@test
def upstream_unreachable_gives_502():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    dead = s.getsockname()[1]
    s.close()
    p = FaultProxy("127.0.0.1:%d" % dead, 1, 0.0, ["503"], "s3")
    port = p.start()
    try:
        r, _ = request(port, "PUT", "/b/k", body=b"abc")
        check(r.status == 502, "status %d" % r.status)
    finally:
        p.stop()


@test
def program_cli_log_and_sigterm():
    cmd = ["/usr/bin/python3", os.path.join(LIB, "faultproxy.py"),
           "--upstream", "127.0.0.1:%d" % UP.port, "--port", "0",
           "--seed", "3", "--rate", "1", "--faults", "500", "--flavor", "azure",
           "--log"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        line = proc.stdout.readline().decode()
        check(line.startswith("listening "), "first line %r" % line)
        port = int(line.split()[1])
        r, data = request(port, "GET", "/obj/small")
        check(r.status == 500 and r.getheader("x-ms-error-code") == "InternalError",
              "status %d" % r.status)
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=15)
        check(rc == 0, "exit status %d" % rc)
        err = proc.stderr.read().decode()
        lines = [l for l in err.splitlines() if l.startswith("faultproxy: ")]
        check(len(lines) == 1 and "fault=500" in lines[0]
              and "target=/obj/small" in lines[0], "log %r" % err)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def main():
    def bail():
        sys.stdout.write("Bail out! self-test timed out\n")
        sys.stdout.flush()
        os._exit(1)
    watchdog = threading.Timer(600, bail)
    watchdog.daemon = True
    watchdog.start()
    print("1..%d" % len(TESTS), flush=True)
    failed = 0
    for i, fn in enumerate(TESTS, 1):
        try:
            fn()
            print("ok %d - %s" % (i, fn.__name__), flush=True)
        except Exception:
            failed += 1
            print("not ok %d - %s" % (i, fn.__name__))
            for line in traceback.format_exc().splitlines():
                print("# " + line)
            sys.stdout.flush()
    watchdog.cancel()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
