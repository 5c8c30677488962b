#!/usr/bin/python3
"""
test_hardening.py - regressions for ways a client could take the daemon
down without sending anything large:

  connection limit   listen.max_connections reached, then freed: the
                     worker must accept again (it once stopped for good),
                     and a connection that waited for a slot is served as
                     soon as one is free
  framing            a request with both Content-Length and
                     Transfer-Encoding is refused with 400 before any
                     backend work and its connection closed; no descriptor
                     or temp file is left behind
  slow headers       a client that sends its headers a byte at a time is
                     disconnected after listen.header_timeout (the idle
                     timer restarts on every byte), also on a kept-alive
                     connection, so that such clients cannot hold every
                     slot; a slow request that completes in time is served
  abandoned upload   a client that goes away in the middle of a PUT is
                     noticed at once, also while its connection is parked
                     (a provider that takes nothing): the daemon's
                     descriptors come back to where they were
  strict HTTP        requests libmicrohttpd lets through although their
                     framing or headers are in doubt (two lengths, a
                     transfer coding other than chunked, a space before
                     the colon, a bare CR) get a JSON error, and the
                     connection is closed
  client limits      a client's rate and burst give 429 throttled with
                     Retry-After once its bucket is empty, and only to
                     that client; its max_uploads refuses one upload too
                     many (429) and lets the next in once one ends
"""

import json
import os
import select
import socket
import struct
import sys
import tempfile
import threading
import time
import traceback

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import stratus  # noqa: E402
from stratus import parse_raw_response  # noqa: E402
from tls import Listener  # noqa: E402

TOKEN = "hardening-token"
LIMIT = 4
# A bound for an answer that must come at once, never a timing assertion:
# the bug it guards against is an answer that never comes.
WAIT = 5.0
CYCLES = 5
BAD_REQUESTS = 50


def config(root, listen=None):
    store = stratus.store_conf("loc", {"provider": "local",
                                       "path": os.path.join(root, "loc")})
    return stratus.make_config(
        [store], [stratus.client_conf("t", TOKEN, ["blob:*:rw"])],
        listen=listen, allow_anonymous=False)


def guarded(tap, name, fn, *args):
    try:
        fn(*args)
    except Exception:
        tap.ok(False, name + " (raised)", traceback.format_exc())


def health(d, conn=None, timeout=WAIT):
    """GET /v1/health: (answered 200, what came or why nothing did)."""
    try:
        r = d.request("GET", "/v1/health", conn=conn, timeout=timeout)
    except (socket.timeout, OSError) as e:
        return False, "no answer within %.0f s: %r" % (timeout, e)
    return r.status == 200, repr(r)


def hold(d, n):
    """n keep-alive connections, each known to be accepted: each has had
    one request answered."""
    conns = []
    for _ in range(n):
        c = d.connection(timeout=WAIT)
        conns.append(c)
        good, why = health(d, conn=c)
        if not good:
            raise AssertionError("held connection %d: %s" % (len(conns), why))
    return conns


# ---------------------------------------------------------------- limit

def check_limit_freed(tap, d):
    """The repro: fill every slot, free them all, and ask again. The
    closes usually land in one run of the daemon, the one that had taken
    its listening socket out of its epoll set; repeat to make sure."""
    why = None
    for cycle in range(CYCLES):
        conns = hold(d, LIMIT)
        for c in conns:
            c.close()
        good, what = health(d)
        if not good:
            why = "cycle %d: %s" % (cycle + 1, what)
            break
    tap.ok(why is None, "connection limit: after %d connections "
           "opened and closed, a new one is served (%d cycles)" %
           (LIMIT, CYCLES), why)


def check_limit_waiter(tap, d):
    """With every slot held, a new connection waits (backlog) or is
    refused; once one slot frees it is served."""
    conns = hold(d, LIMIT)
    s = None
    try:
        s = socket.create_connection((d.host, d.port), timeout=WAIT)
        s.sendall(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n"
                  b"Connection: close\r\n\r\n")
        s.settimeout(1.0)
        early = b""
        try:
            early = s.recv(65536)
            refused = early == b""
        except socket.timeout:
            refused = False
        except ConnectionResetError:
            refused = True
        tap.ok(not early, "connection limit: a connection "
               "beyond the limit is not served while every slot is held",
               repr(early[:200]))
        if refused:
            tap.skip("connection limit: the waiting connection is served "
                     "once a slot frees", "the daemon refused it instead")
            return
        conns.pop().close()
        s.settimeout(WAIT)
        buf = b""
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                buf += chunk
        except (socket.timeout, ConnectionResetError) as e:
            buf += ("<%r>" % e).encode()
        status, _, _ = parse_raw_response(buf)
        tap.ok(status == 200, "connection limit: the waiting connection is "
               "served once one of the %d closes" % LIMIT, repr(buf[:300]))
    finally:
        if s is not None:
            s.close()
        for c in conns:
            c.close()
    good, why = health(d)
    tap.ok(good, "connection limit: served afterwards too", why)


def check_limit(tap):
    """Each check on a daemon of its own: a worker that stopped accepting
    would fail every check after it."""
    listen = {"threads": 1, "max_connections": LIMIT, "idle_timeout": 600}
    for name, fn in [("limit freed", check_limit_freed),
                     ("limit waiter", check_limit_waiter)]:
        with tempfile.TemporaryDirectory(prefix="stratus-hard-") as root:
            d = stratus.Daemon(config(root, listen), name=name, tmpdir=root)
            try:
                guarded(tap, name, fn, tap, d)
                d.stop_check(tap)
            finally:
                d.cleanup()


# ---------------------------------------------------------------- framing

def exchange(d, data):
    """Sends data and reads one answer; when the answer says Connection:
    close, waits (a bound) for the daemon to close. (bytes, closed)."""
    s = socket.create_connection((d.host, d.port), timeout=WAIT * 6)
    out = b""
    closed = False
    try:
        s.sendall(data)
        while True:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                closed = True
                break
            if not chunk:
                closed = True
                break
            out += chunk
            if stratus._whole_response(out):
                _, hdrs, _ = parse_raw_response(out)
                if "close" not in hdrs.get("connection", "").lower():
                    break       # kept alive: no use waiting
                s.settimeout(WAIT)
    finally:
        s.close()
    return out, closed


def open_fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def smuggle_request(i):
    """A PUT framed both ways. The Content-Length disagrees with the chunks
    in odd requests (the upload that leaked) and agrees in even ones."""
    body = b"hello"
    length = len(body) + (100 if i % 2 else 0)
    return (b"PUT /v1/blobs/loc/both-%d HTTP/1.1\r\n" % i +
            b"Host: x\r\n" +
            b"Authorization: Bearer " + TOKEN.encode() + b"\r\n" +
            b"Content-Length: %d\r\n" % length +
            b"Transfer-Encoding: chunked\r\n\r\n" +
            b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n")


def check_framing(tap, d, root):
    r = d.request("PUT", "/v1/blobs/loc/warm", body=b"warm", token=TOKEN)
    tap.ok(r.status == 201, "framing: a plain PUT works", repr(r))
    time.sleep(0.2)     # let the warm-up connection's close be processed
    before = open_fds(d.pid)
    bad = []
    for i in range(BAD_REQUESTS):
        buf, closed = exchange(d, smuggle_request(i))
        status, hdrs, body = parse_raw_response(buf)
        try:
            code = json.loads(body.decode())["error"]["code"]
        except Exception:
            code = None
        if status != 400 or code != "bad_request" or not closed or \
                "close" not in hdrs.get("connection", "").lower():
            bad.append((i, status, code, closed, buf[:300]))
    tap.ok(not bad, "framing: Content-Length with Transfer-Encoding gets "
           "400 bad_request, Connection: close, and is closed (%d requests)"
           % BAD_REQUESTS, "%d bad, first: %r" % (len(bad), bad[:1]))
    # The daemon may not have closed the last connection yet: a bound.
    stratus.wait_until(lambda: open_fds(d.pid) <= before + 2, timeout=10)
    after = open_fds(d.pid)
    tap.ok(after <= before + 2, "framing: no descriptor leaked (%d before, "
           "%d after)" % (before, after),
           "\n".join(sorted(os.readlink("/proc/%d/fd/%s" % (d.pid, f))
                            for f in os.listdir("/proc/%d/fd" % d.pid)
                            if os.path.exists("/proc/%d/fd/%s" % (d.pid, f))))
           [-3000:])
    tmp = os.listdir(os.path.join(root, "loc", "tmp"))
    tap.ok(not tmp, "framing: the store's tmp directory is empty", repr(tmp))
    stored = [i for i in range(2) if d.request(
        "GET", "/v1/blobs/loc/both-%d" % i, token=TOKEN).status != 404]
    tap.ok(not stored, "framing: nothing was stored", repr(stored))
    r = d.request("PUT", "/v1/blobs/loc/after", body=b"after", token=TOKEN)
    tap.ok(r.status == 201, "framing: a plain PUT still works", repr(r))


def check_framing_daemon(tap):
    with tempfile.TemporaryDirectory(prefix="stratus-hard-") as root:
        d = stratus.Daemon(config(root), name="framing", tmpdir=root)
        try:
            guarded(tap, "framing", check_framing, tap, d, root)
            d.stop_check(tap)
        finally:
            d.cleanup()


# ---------------------------------------------------------------- slow headers

HEADER_TIMEOUT = 2
DRIBBLE_EVERY = 0.5
# Bounds for a hang, with room for a loaded 2-core machine under ASan:
# a dribbler must be dropped well before this, and a request that is
# merely slow is given far less than the timeout.
DROPPED_WITHIN = HEADER_TIMEOUT + 10
LONG_HEADERS = (b"GET /v1/health HTTP/1.1\r\nHost: x\r\n" +
                b"X-Pad: " + b"p" * 200 + b"\r\n\r\n")


def dribble(socks, data, during=None):
    """Sends data one byte every DRIBBLE_EVERY seconds on each socket until
    the daemon closes it or DROPPED_WITHIN passes. during() runs once,
    after the first second. Returns the seconds each socket lasted (None:
    still open) and what during returned."""
    start = time.monotonic()
    lasted = [None] * len(socks)
    done = None
    i = 0
    while time.monotonic() - start < DROPPED_WITHIN and None in lasted:
        for k, s in enumerate(socks):
            if lasted[k] is None and i < len(data):
                try:
                    s.send(data[i:i + 1])
                except OSError:
                    lasted[k] = time.monotonic() - start
        i += 1
        end = time.monotonic() + DRIBBLE_EVERY
        while time.monotonic() < end:
            open_ = [s for k, s in enumerate(socks) if lasted[k] is None]
            if not open_:
                break
            readable, _, _ = select.select(open_, [], [],
                                           max(0, end - time.monotonic()))
            for s in readable:
                try:
                    got = s.recv(4096)
                except OSError:
                    got = b""
                if not got:
                    lasted[socks.index(s)] = time.monotonic() - start
        if during is not None and done is None and \
                time.monotonic() - start >= 1.0:
            done = during()
    return lasted, done


def check_dribbler(tap, d):
    s = socket.create_connection((d.host, d.port), timeout=WAIT)
    try:
        lasted, served = dribble([s], LONG_HEADERS, lambda: health(d))
    finally:
        s.close()
    tap.ok(lasted[0] is not None, "slow headers: a client sending a header "
           "byte every %.1f s is disconnected (header_timeout = %d s, "
           "bound %d s)" % (DRIBBLE_EVERY, HEADER_TIMEOUT, DROPPED_WITHIN),
           "lasted %r" % lasted)
    tap.ok(served is not None and served[0], "slow headers: others are "
           "served meanwhile", repr(served))


def check_dribbler_kept_alive(tap, d):
    """A connection that was served once, then dribbles its next request
    (the request line at once, the headers a byte at a time)."""
    c = d.connection(timeout=WAIT)
    try:
        good, why = health(d, conn=c)
        tap.ok(good, "slow headers: a first request on a kept-alive "
               "connection", why)
        c.sock.sendall(b"GET /v1/health HTTP/1.1\r\n")
        lasted, _ = dribble([c.sock], LONG_HEADERS[25:])
    finally:
        c.close()
    tap.ok(lasted[0] is not None, "slow headers: the next request of a "
           "kept-alive connection is held to header_timeout too",
           "lasted %r" % lasted)


def check_slow_complete(tap, d):
    """Slow but within the limit: sent in three pieces over about a
    second, which restart no timer of ours."""
    s = socket.create_connection((d.host, d.port), timeout=WAIT * 2)
    try:
        req = LONG_HEADERS.replace(b"Host: x\r\n",
                                   b"Host: x\r\nConnection: close\r\n")
        third = len(req) // 3
        for piece in (req[:third], req[third:2 * third], req[2 * third:]):
            s.sendall(piece)
            time.sleep(0.4)
        buf = b""
        while True:
            try:
                chunk = s.recv(65536)
            except (socket.timeout, ConnectionResetError):
                break
            if not chunk:
                break
            buf += chunk
    finally:
        s.close()
    status, _, _ = parse_raw_response(buf)
    tap.ok(status == 200, "slow headers: a slow request complete within "
           "header_timeout is served", repr(buf[:200]))


def check_dribblers_at_limit(tap, d):
    """As many dribblers as max_connections: once they are dropped, a
    well-formed request gets through (it used to wait for ever)."""
    socks = [socket.create_connection((d.host, d.port), timeout=WAIT)
             for _ in range(LIMIT)]
    try:
        for s in socks:
            s.send(LONG_HEADERS[:1])
        time.sleep(0.3)     # let the daemon accept them all
        good, why = health(d, timeout=DROPPED_WITHIN)
        lasted, _ = dribble(socks, LONG_HEADERS[1:])
    finally:
        for s in socks:
            s.close()
    tap.ok(good, "slow headers: with %d dribblers holding every slot, a "
           "new request is served within %d s" % (LIMIT, DROPPED_WITHIN),
           why)
    tap.ok(None not in lasted, "slow headers: every dribbler is "
           "disconnected", "lasted %r" % lasted)


def check_slow_headers(tap):
    listen = {"threads": 1, "max_connections": LIMIT, "idle_timeout": 600,
              "header_timeout": HEADER_TIMEOUT}
    for name, fn in [("dribbler", check_dribbler),
                     ("dribbler kept alive", check_dribbler_kept_alive),
                     ("slow complete", check_slow_complete),
                     ("dribblers at limit", check_dribblers_at_limit)]:
        with tempfile.TemporaryDirectory(prefix="stratus-hard-") as root:
            d = stratus.Daemon(config(root, listen), name=name, tmpdir=root)
            try:
                guarded(tap, name, fn, tap, d)
                good, why = health(d)
                tap.ok(good, "slow headers (%s): served afterwards" % name,
                       why)
                d.stop_check(tap)
            finally:
                d.cleanup()


# ---------------------------------------------------------------- strict HTTP

def put_head(key, *headers):
    return (b"PUT /v1/blobs/loc/%s HTTP/1.1\r\nHost: x\r\n" % key.encode() +
            b"Authorization: Bearer " + TOKEN.encode() + b"\r\n" +
            b"".join(h + b"\r\n" for h in headers) + b"\r\n")


CHUNKED_HI = b"2\r\nhi\r\n0\r\n\r\n"

# (name, raw request, status, code or None for a success, key it must
# not have stored or None)
STRICT_CASES = [
    ("space before the colon",
     b"GET /v1/health HTTP/1.1\r\nHost: x\r\nFoo : v\r\n\r\n",
     400, "bad_request", None),
    ("tab before the colon",
     put_head("s1", b"Foo\t: v", b"Content-Length: 2") + b"hi",
     400, "bad_request", "s1"),
    ("space inside a header name",
     b"GET /v1/health HTTP/1.1\r\nHost: x\r\nFo o: v\r\n\r\n",
     400, "bad_request", None),
    ("bare CR in a header value",
     b"GET /v1/health HTTP/1.1\r\nHost: x\r\nFoo: a\rb\r\n\r\n",
     400, "bad_request", None),
    ("two different Content-Length values",
     put_head("s2", b"Content-Length: 2", b"Content-Length: 3") + b"hi",
     400, "bad_request", "s2"),
    ("Transfer-Encoding: gzip",
     put_head("s3", b"Transfer-Encoding: gzip") + b"hi",
     501, "not_implemented", "s3"),
    ("Transfer-Encoding: gzip, chunked",
     put_head("s4", b"Transfer-Encoding: gzip, chunked") + CHUNKED_HI,
     501, "not_implemented", "s4"),
    ("Transfer-Encoding: chunked twice",
     put_head("s5", b"Transfer-Encoding: chunked",
              b"Transfer-Encoding: chunked") + CHUNKED_HI,
     501, "not_implemented", "s5"),
    ("Transfer-Encoding: identity on a GET",
     b"GET /v1/health HTTP/1.1\r\nHost: x\r\n"
     b"Transfer-Encoding: identity\r\n\r\n",
     501, "not_implemented", None),
    # what stays allowed
    ("two equal Content-Length values",
     put_head("ok1", b"Content-Length: 2", b"Content-Length: 2") + b"hi",
     201, None, None),
    ("Transfer-Encoding: Chunked (names are case-insensitive)",
     put_head("ok2", b"Transfer-Encoding: Chunked") + CHUNKED_HI,
     201, None, None),
]


def check_strict(tap, d):
    for name, data, want, code, key in STRICT_CASES:
        buf, closed = exchange(d, data)
        status, hdrs, body = parse_raw_response(buf)
        try:
            got = json.loads(body.decode())
        except Exception:
            got = None
        if code is None:
            tap.ok(status == want, "strict HTTP: %s: %d" % (name, want),
                   repr(buf[:300]))
            continue
        got_code = got.get("error", {}).get("code") if \
            isinstance(got, dict) else None
        tap.ok(status == want and got_code == code and
               hdrs.get("x-request-id") and closed,
               "strict HTTP: %s: %d %s with X-Request-Id, and the "
               "connection is closed" % (name, want, code),
               "closed=%r %r" % (closed, buf[:300]))
        if key is not None:
            r = d.request("HEAD", "/v1/blobs/loc/" + key, token=TOKEN)
            tap.ok(r.status == 404, "strict HTTP: %s: nothing stored" % name,
                   repr(r))
    good, why = health(d)
    tap.ok(good, "strict HTTP: served afterwards", why)


def check_strict_daemon(tap):
    with tempfile.TemporaryDirectory(prefix="stratus-hard-") as root:
        d = stratus.Daemon(config(root), name="strict", tmpdir=root)
        try:
            guarded(tap, "strict HTTP", check_strict, tap, d)
            d.stop_check(tap)
        finally:
            d.cleanup()


# ---------------------------------------------------------------- abandoned upload

class StuckProvider(Listener):
    """An "S3 endpoint" on 127.0.0.1 that accepts connections and never
    reads from them nor answers: an upload to it fills its buffers and
    the daemon parks the client's connection."""

    def __init__(self):
        self.held = []
        super().__init__()

    def serve(self, c):
        self.held.append(c)

    def close(self):
        super().close()
        for c in self.held:
            c.close()


def abandon_config(root, provider):
    secret = os.path.join(root, "secret")
    with open(os.open(secret, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
        f.write("s" * 40)
    stores = [
        stratus.store_conf("loc", {"provider": "local",
                                   "path": os.path.join(root, "loc")}),
        stratus.store_conf("stuck", {
            "provider": "s3", "bucket": "stuck", "region": "us-east-1",
            "credentials": "stuck",
            "endpoint": "http://127.0.0.1:%d" % provider.port})]
    return stratus.make_config(
        stores, [stratus.client_conf("t", TOKEN, ["blob:*:rw"])],
        listen={"threads": 1}, allow_anonymous=False,
        extra='credentials = { stuck = { provider = "aws"; '
              'source = "static"; access_key_id = "AKIDSTUCK"; '
              'secret_access_key_file = "%s"; }; };' % secret)


# (name, store, Content-Length, close with a reset). The upload to the
# stuck provider parks: the client's close only reaches the daemon as a
# reset there, since a FIN waits behind the bytes the daemon has not read
# (docs/operations.md says so).
ABANDON_CASES = [
    ("local store, the connection is read", "loc", 8 << 20, False),
    ("stuck provider, the connection is parked", "stuck", 64 << 20, True),
]
# How soon the descriptors must be back: the bug kept them until the
# provider's attempt timed out, or for ever.
ABANDON_WITHIN = 8


def send_until_blocked(s, total):
    """Sends up to total - 1 bytes of body; stops when the daemon stops
    taking them (parked) for a second. Returns what was sent."""
    s.settimeout(1.0)
    piece = b"u" * 65536
    sent = 0
    try:
        while sent < total - 1:
            sent += s.send(piece[:total - 1 - sent])
    except socket.timeout:
        pass
    return sent


def check_abandon(tap, d, root):
    good, why = health(d)
    tap.ok(good, "abandoned upload: the daemon answers", why)
    time.sleep(0.3)
    before = open_fds(d.pid)
    for name, store, total, reset in ABANDON_CASES:
        s = socket.create_connection((d.host, d.port), timeout=WAIT)
        try:
            s.sendall(b"PUT /v1/blobs/%s/gone HTTP/1.1\r\nHost: x\r\n"
                      b"Authorization: Bearer %s\r\n"
                      b"Content-Length: %d\r\n\r\n" %
                      (store.encode(), TOKEN.encode(), total))
            sent = send_until_blocked(s, total)
            time.sleep(0.5)
            during = open_fds(d.pid)
            if reset:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                             struct.pack("ii", 1, 0))
        finally:
            s.close()
        start = time.monotonic()
        back = stratus.wait_until(lambda: open_fds(d.pid) <= before,
                                  timeout=ABANDON_WITHIN)
        took = time.monotonic() - start
        tap.ok(back, "abandoned upload (%s): the daemon's descriptors are "
               "back to %d within %d s after the client left" %
               (name, before, ABANDON_WITHIN),
               "sent %d of %d; %d during, %d after %.1f s" %
               (sent, total, during, open_fds(d.pid), took))
    tmp = os.listdir(os.path.join(root, "loc", "tmp"))
    tap.ok(not tmp, "abandoned upload: the local store's tmp directory is "
           "empty", repr(tmp))
    r = d.request("PUT", "/v1/blobs/loc/after", body=b"after", token=TOKEN)
    tap.ok(r.status == 201, "abandoned upload: a PUT still works", repr(r))


def check_abandon_daemon(tap):
    provider = StuckProvider()
    try:
        with tempfile.TemporaryDirectory(prefix="stratus-hard-") as root:
            d = stratus.Daemon(abandon_config(root, provider),
                               name="abandon", tmpdir=root)
            try:
                guarded(tap, "abandoned upload", check_abandon, tap, d, root)
                d.stop_check(tap)
            finally:
                d.cleanup()
    finally:
        provider.close()


# ---------------------------------------------------------------- client limits

LIMITED = "limited-token"
# A token every 2 s, three at once: four requests in a row find the
# bucket empty unless the machine takes over 2 s for them.
LIMITS = {"rate": 0.5, "burst": 3}


def limits_config(root):
    store = stratus.store_conf("loc", {"provider": "local",
                                       "path": os.path.join(root, "loc")})
    limited = stratus.client_conf("lim", LIMITED, ["blob:*:rw"])
    extra = " ".join("%s = %s;" % (k, v) for k, v in LIMITS.items())
    limited = limited[:-1] + " " + extra + " }"
    uploads = stratus.client_conf("up", "uploads-token", ["blob:*:rw"])
    uploads = uploads[:-1] + " max_uploads = 1; }"
    return stratus.make_config(
        [store], [stratus.client_conf("t", TOKEN, ["blob:*:rw"]), limited,
                  uploads], allow_anonymous=False)


def throttled(r):
    try:
        code = json.loads(r.body).get("error", {}).get("code")
    except ValueError:
        code = None
    wait = r.headers.get("retry-after", "")
    return r.status == 429 and code == "throttled" and wait.isdigit() and \
        int(wait) >= 1


def check_rate(tap, d):
    got = [d.request("GET", "/v1/blobs/loc/", token=LIMITED)
           for _ in range(LIMITS["burst"] + 1)]
    tap.ok([r.status for r in got[:-1]] == [200] * LIMITS["burst"] and
           throttled(got[-1]),
           "client limits: a burst of %d passes, the next is 429 throttled "
           "with Retry-After" % LIMITS["burst"],
           repr([(r.status, r.headers.get("retry-after"), r.body[:120])
                 for r in got]))
    r = d.request("GET", "/v1/blobs/loc/", token=TOKEN)
    tap.ok(r.status == 200, "client limits: another client is not "
           "throttled", repr(r))
    time.sleep(int(got[-1].headers.get("retry-after", "2")) + 0.2)
    r = d.request("GET", "/v1/blobs/loc/", token=LIMITED)
    tap.ok(r.status == 200, "client limits: after Retry-After the client "
           "is served again", repr(r))


def check_uploads(tap, d):
    s = socket.create_connection((d.host, d.port), timeout=WAIT)
    s.sendall(b"PUT /v1/blobs/loc/slow HTTP/1.1\r\nHost: x\r\n"
              b"Authorization: Bearer uploads-token\r\n"
              b"Content-Length: 100000\r\n\r\n" + b"x" * 1000)
    time.sleep(0.3)
    r = d.request("PUT", "/v1/blobs/loc/second", body=b"2",
                  token="uploads-token")
    g = d.request("GET", "/v1/blobs/loc/", token="uploads-token")
    tap.ok(throttled(r) and g.status == 200,
           "client limits: max_uploads = 1 refuses a second upload (429), "
           "not a GET", "%r %r" % (r, g))
    s.sendall(b"x" * 99000)
    status = parse_raw_response(stratus.read_head(s))[0]
    r = d.request("PUT", "/v1/blobs/loc/third", body=b"3",
                  token="uploads-token")
    tap.ok(status == 201 and r.status == 201,
           "client limits: once the upload ends, the next is let in",
           "%r %r" % (status, r))


def check_limits_daemon(tap):
    with tempfile.TemporaryDirectory(prefix="stratus-hard-") as root:
        d = stratus.Daemon(limits_config(root), name="limits", tmpdir=root)
        try:
            guarded(tap, "client limits (rate)", check_rate, tap, d)
            guarded(tap, "client limits (uploads)", check_uploads, tap, d)
            d.stop_check(tap)
        finally:
            d.cleanup()


def main():
    tap = stratus.TAP()
    guarded(tap, "connection limit", check_limit, tap)
    guarded(tap, "framing", check_framing_daemon, tap)
    guarded(tap, "slow headers", check_slow_headers, tap)
    guarded(tap, "strict HTTP", check_strict_daemon, tap)
    guarded(tap, "abandoned upload", check_abandon_daemon, tap)
    guarded(tap, "client limits", check_limits_daemon, tap)
    tap.done()


if __name__ == "__main__":
    main()
