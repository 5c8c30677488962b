#!/usr/bin/python3
"""faultproxy: a fault-injecting HTTP/1.1 reverse proxy for the stratus tests.

It sits between stratusd and a provider emulator (s3rver for S3, Azurite for
Azure) on 127.0.0.1 and, for a chosen share of the requests, answers like a
provider in trouble instead of forwarding them.  Python 3 standard library
only.

As a program:

    /usr/bin/python3 tests/lib/faultproxy.py --upstream 127.0.0.1:PORT \
        --port 0 --seed 7 --rate 0.3 \
        --faults 503,500,429,reset_before,reset_mid,stall,slow \
        --flavor s3|azure [--methods GET,PUT] [--path-regex RE] \
        [--stall-seconds 30] [--slow-chunk 512] [--slow-delay 0.02] \
        [--retry-after SECONDS] [--down-mode refuse|503] [--script KINDS]
        [--log]

  prints "listening PORT" on stdout once bound on 127.0.0.1 (--port 0 takes an
  ephemeral port) and serves until SIGTERM or SIGINT.  SIGUSR1 takes the
  "provider" down (see set_down, mode from --down-mode), SIGUSR2 brings it
  back.  With --log, every injected fault is one line on stderr:

    faultproxy: fault=503 seq=4 method=PUT target=/bucket/key

As a module:

    from faultproxy import FaultProxy
    p = FaultProxy("127.0.0.1:9000", seed=1, rate=0.3,
                   faults=["503", "reset_mid"], flavor="s3")
    port = p.start()          # bound port on 127.0.0.1
    p.set_rate(0.0)           # no more faults
    p.set_script(["reset_mid", "range_as_200"])   # the next two, in order
    p.set_down(True)          # refuse connections (mode="503": answer 503)
    p.set_down(False)
    p.counters()              # {"503": n, ..., "down": n, "requests": n}
    p.history()               # [(method, target, kind or None), ...]
    p.stop()

Faults (each chosen per request from a random.Random seeded with --seed, so
the sequence is repeatable given the same order of requests):

  503, 500, 429  an error answer in the provider's own form: S3 XML
                 <Error><Code>SlowDown|InternalError|SlowDown</Code>..., or
                 Azure XML <Error><Code>ServerBusy|InternalError|ServerBusy
                 </Code>... with an x-ms-error-code header; Retry-After on
                 503 and 429 with --retry-after.  The connection stays open.
  reset_before   the request is read, then the connection is reset (RST)
                 without an answer.
  reset_mid      the request is forwarded, the response is cut halfway
                 through its body (halfway through its head when it has no
                 body; halfway through the first chunk when chunked), then
                 the connection is reset (SO_LINGER 0).  The upstream may well
                 have carried out the request: the client has to retry.
  stall          the request is read, then nothing is sent for
                 --stall-seconds (or until stop()), then the connection is
                 closed without an answer.
  slow           the request is forwarded and the whole response is written
                 back in --slow-chunk byte pieces with --slow-delay seconds
                 between them.

Three more kinds are what a provider may answer to a resumed download (a
GET with Range and If-Match after a cut); they are never drawn unless named
in --faults or in a script:

  412            an error answer in the provider's form: PreconditionFailed
                 (S3) or ConditionNotMet (Azure), as when the object was
                 replaced since the first answer.
  range_as_200   the request is forwarded; a 206 answer comes back as
                 "200 OK" without its Content-Range (a server that ignored
                 the Range): its body is not the bytes that were asked for.
  range_misplaced
                 the request is forwarded; a 206 answer's Content-Range is
                 moved to start at another byte (0, or 1 when it was 0), the
                 body unchanged.

A script (set_script, or --script) gives the next eligible requests their
kinds in order, "-" meaning none, before the random draws take over again:
a test can say "cut this GET, then answer its resumption 200".

Faults that happen before forwarding (503, 500, 429, reset_before, stall, and
the answers of a down provider) first read and discard the request body,
answering "100 Continue" if the client asked for it, so that the client sees
a clean error and not a failed upload.  Nothing is ever forwarded for them.

Requests are forwarded byte for byte: the request head exactly as the client
sent it (Host and every other header unchanged, since signatures cover them),
bodies streamed with their own framing (Content-Length or chunked, with chunk
extensions and trailers), responses streamed back the same way; interim 1xx
answers (100 Continue) are relayed.  Connections are kept alive on both sides
when both HTTP ends allow it.  Bodies are never held whole in memory.
"""

import argparse
import collections
import fcntl
import random
import re
import select
import signal
import socket
import struct
import sys
import termios
import threading
import time
import uuid
from email.utils import formatdate
from xml.sax.saxutils import escape as _xml_escape

ALL_FAULTS = ("503", "500", "429", "reset_before", "reset_mid", "stall", "slow")
RANGE_FAULTS = ("range_as_200", "range_misplaced")
KNOWN_FAULTS = ALL_FAULTS + ("412",) + RANGE_FAULTS
ERROR_FAULTS = ("503", "500", "429", "412")

IO_CHUNK = 256 * 1024
MAX_HEAD = 256 * 1024
IO_TIMEOUT = 600.0

_REASONS = {
    100: "Continue", 200: "OK", 400: "Bad Request", 412: "Precondition Failed",
    429: "Too Many Requests",
    500: "Internal Server Error", 502: "Bad Gateway",
    503: "Service Unavailable",
}

# (code, message) per flavor and status; "down" is what a down provider says.
_S3_ERRORS = {
    503: ("SlowDown", "Please reduce your request rate."),
    500: ("InternalError", "We encountered an internal error. Please try again."),
    429: ("SlowDown", "Please reduce your request rate."),
    412: ("PreconditionFailed", "At least one of the pre-conditions you "
          "specified did not hold"),
    "down": ("ServiceUnavailable", "Service is unable to handle request."),
}
_AZURE_ERRORS = {
    503: ("ServerBusy", "The server is currently unable to receive requests. "
          "Please retry your request."),
    500: ("InternalError", "The server encountered an internal error. "
          "Please retry the request."),
    429: ("ServerBusy", "Operations per second is over the account limit."),
    412: ("ConditionNotMet", "The condition specified using HTTP conditional "
          "header(s) is not met."),
    "down": ("ServerBusy", "The server is currently unable to receive requests. "
             "Please retry your request."),
}


class ProtocolError(Exception):
    pass


class _Cut(Exception):
    """The response was cut on purpose (reset_mid)."""


class _Stopped(Exception):
    """The proxy is stopping."""


class _UpstreamWriteError(Exception):
    """Sending the request body upstream failed."""


class _Reader:
    """A buffered reader over a socket that never reads past what it needs
    more than one recv() worth, and that exposes its buffer."""

    __slots__ = ("sock", "buf")

    def __init__(self, sock):
        self.sock = sock
        self.buf = bytearray()

    def _fill(self):
        data = self.sock.recv(IO_CHUNK)
        if not data:
            return False
        self.buf += data
        return True

    def readline(self, limit=65536):
        start = 0
        while True:
            i = self.buf.find(b"\n", start)
            if i >= 0:
                line = bytes(self.buf[:i + 1])
                del self.buf[:i + 1]
                return line
            if len(self.buf) > limit:
                raise ProtocolError("line too long")
            start = len(self.buf)
            if not self._fill():
                line = bytes(self.buf)
                self.buf.clear()
                return line

    def read(self, n):
        if self.buf:
            data = bytes(self.buf[:n])
            del self.buf[:n]
            return data
        return self.sock.recv(min(n, IO_CHUNK))


class _Head:
    """A parsed request or response head, with its raw bytes."""

    __slots__ = ("first", "raw", "headers", "method", "target", "version",
                 "status")

    def __init__(self, first, raw, headers):
        self.first = first
        self.raw = raw
        self.headers = headers
        self.method = self.target = self.version = None
        self.status = None

    def get(self, name):
        return self.headers.get(name, [])

    def tokens(self, name):
        return [t.strip().lower() for v in self.get(name) for t in v.split(",")
                if t.strip()]


def _read_head(rd, request):
    first = rd.readline()
    if request:
        while first in (b"\r\n", b"\n"):       # RFC 9112 2.2: tolerate CRLFs
            first = rd.readline()
    if not first:
        return None
    if not first.endswith(b"\n"):
        raise ProtocolError("end of stream inside a head")
    lines = [first]
    total = len(first)
    while True:
        line = rd.readline()
        if not line.endswith(b"\n"):
            raise ProtocolError("end of stream inside a head")
        lines.append(line)
        total += len(line)
        if total > MAX_HEAD:
            raise ProtocolError("head too large")
        if line in (b"\r\n", b"\n"):
            break
    headers = {}
    for line in lines[1:-1]:
        name, sep, value = line.partition(b":")
        if not sep:
            continue
        key = name.strip().lower().decode("latin-1")
        headers.setdefault(key, []).append(value.strip().decode("latin-1"))
    head = _Head(first, b"".join(lines), headers)
    parts = first.decode("latin-1").strip().split(" ", 2)
    if request:
        if len(parts) != 3 or not parts[2].startswith("HTTP/"):
            raise ProtocolError("bad request line")
        head.method, head.target, head.version = parts
    else:
        if len(parts) < 2 or not parts[0].startswith("HTTP/"):
            raise ProtocolError("bad status line")
        head.version = parts[0]
        try:
            head.status = int(parts[1])
        except ValueError:
            raise ProtocolError("bad status line")
    return head


def _framing(head):
    """("chunked", None), ("length", n), ("close", None) or None."""
    te = head.tokens("transfer-encoding")
    if te:
        return ("chunked", None) if te[-1] == "chunked" else ("close", None)
    cl = head.get("content-length")
    if cl:
        values = {v.strip() for v in ",".join(cl).split(",")}
        if len(values) != 1:
            raise ProtocolError("conflicting Content-Length")
        try:
            n = int(values.pop())
        except ValueError:
            raise ProtocolError("bad Content-Length")
        if n < 0:
            raise ProtocolError("bad Content-Length")
        return ("length", n)
    return None


def _copy_length(rd, n, write):
    while n > 0:
        data = rd.read(min(n, IO_CHUNK))
        if not data:
            raise ProtocolError("end of stream inside a body")
        write(data)
        n -= len(data)


def _copy_chunked(rd, write, on_first=None):
    while True:
        line = rd.readline(8192)
        if not line.endswith(b"\n"):
            raise ProtocolError("end of stream inside a chunked body")
        try:
            size = int(line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise ProtocolError("bad chunk size")
        if size < 0:
            raise ProtocolError("bad chunk size")
        if on_first is not None:
            on_first(size, len(line))
            on_first = None
        write(line)
        if size == 0:
            while True:                        # trailers, then the blank line
                t = rd.readline(8192)
                if not t.endswith(b"\n"):
                    raise ProtocolError("end of stream inside trailers")
                write(t)
                if t in (b"\r\n", b"\n"):
                    return
        _copy_length(rd, size, write)
        crlf = rd.readline(16)
        if crlf not in (b"\r\n", b"\n"):
            raise ProtocolError("missing CRLF after chunk")
        write(crlf)


def _copy_until_close(rd, write, on_first=None):
    while True:
        data = rd.read(IO_CHUNK)
        if not data:
            return
        if on_first is not None:
            on_first(len(data), 0)
            on_first = None
        write(data)


def _copy_body(rd, framing, write, on_first=None):
    kind, n = framing
    if kind == "length":
        if on_first is not None:
            on_first(n, 0)
        _copy_length(rd, n, write)
    elif kind == "chunked":
        _copy_chunked(rd, write, on_first)
    elif kind == "close":
        _copy_until_close(rd, write, on_first)


_CONTENT_RANGE = re.compile(rb"^content-range:\s*bytes (\d+)-(\d+)/(\S+)\s*$",
                            re.I)


def _misrange(raw, kind):
    """A 206 head answered wrongly: as "200 OK" without Content-Range
    (range_as_200), or with its range moved to another first byte
    (range_misplaced).  The body that follows is left as it is."""
    lines = raw.split(b"\r\n")
    out = []
    for i, line in enumerate(lines):
        m = _CONTENT_RANGE.match(line) if i > 0 else None
        if i == 0 and kind == "range_as_200":
            line = line.split(b" ", 1)[0] + b" 200 OK"
        elif m and kind == "range_as_200":
            continue
        elif m:
            first, last = int(m.group(1)), int(m.group(2))
            to = 1 if first == 0 else 0
            line = b"Content-Range: bytes %d-%d/%s" % (
                to, to + last - first, m.group(3))
        out.append(line)
    return b"\r\n".join(out)


def _discard(_data):
    pass


def _set_nodelay(sock):
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except OSError:
        pass


def _unsent(sock):
    """Bytes written to sock that the peer has not acknowledged yet."""
    try:
        buf = fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0\0\0\0")
        return struct.unpack("i", buf)[0]
    except (OSError, ValueError):
        return 0


class _Out:
    """Writes a response to the client, slowly (slow) or cut after `limit`
    bytes in all (reset_mid)."""

    def __init__(self, proxy, sock, slow):
        self.proxy = proxy
        self.sock = sock
        self.slow = slow
        self.written = 0
        self.limit = None
        self._sent_any = False

    def write(self, data):
        if self.limit is not None and self.written + len(data) > self.limit:
            part = data[:max(0, self.limit - self.written)]
            self._send(part)
            self.written += len(part)
            raise _Cut()
        self._send(data)
        self.written += len(data)

    def _send(self, data):
        if not data:
            return
        if not self.slow:
            self.sock.sendall(data)
            return
        p = self.proxy
        mv = memoryview(data)
        for i in range(0, len(mv), p.slow_chunk):
            if self._sent_any and p._stop.wait(p.slow_delay):
                raise _Stopped()
            self.sock.sendall(mv[i:i + p.slow_chunk])
            self._sent_any = True


class _Conn:
    """One client connection and the upstream connection it uses."""

    def __init__(self, proxy, csock):
        self.proxy = proxy
        self.csock = csock
        self.crd = _Reader(csock)
        self.usock = None
        self.urd = None
        self.killed = False

    def connect_upstream(self):
        s = socket.create_connection(self.proxy.upstream, timeout=10)
        s.settimeout(IO_TIMEOUT)
        _set_nodelay(s)
        self.usock = s
        self.urd = _Reader(s)
        self.proxy._track(s, True)

    def close_upstream(self):
        if self.usock is not None:
            self.proxy._track(self.usock, False)
            try:
                self.usock.close()
            except OSError:
                pass
        self.usock = None
        self.urd = None

    def upstream_stale(self):
        """A kept-alive upstream connection that is readable between two
        requests has been closed (or says something unasked): drop it."""
        if self.urd.buf:
            return True
        try:
            r, _, _ = select.select([self.usock], [], [], 0)
        except (OSError, ValueError):
            return True
        return bool(r)


class FaultProxy:
    """The fault-injecting proxy.  See the module documentation."""

    def __init__(self, upstream, seed=0, rate=0.0, faults=ALL_FAULTS,
                 flavor="s3", *, methods=None, path_regex=None,
                 stall_seconds=30.0, slow_chunk=512, slow_delay=0.02,
                 retry_after=None, log=False, log_stream=None,
                 host="127.0.0.1", port=0):
        if isinstance(upstream, str):
            h, _, p = upstream.rpartition(":")
            upstream = (h or "127.0.0.1", int(p))
        self.upstream = (upstream[0], int(upstream[1]))
        if flavor not in ("s3", "azure"):
            raise ValueError("flavor must be s3 or azure")
        self.flavor = flavor
        self.host = host
        self.port = int(port)
        self.stall_seconds = float(stall_seconds)
        self.slow_chunk = max(1, int(slow_chunk))
        self.slow_delay = float(slow_delay)
        self.retry_after = retry_after
        self.log = bool(log)
        self.log_stream = log_stream if log_stream is not None else sys.stderr
        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        self._rate = 0.0
        self._faults = ()
        self._script = collections.deque()
        self.set_rate(rate)
        self.set_faults(faults)
        self._methods = None
        if methods:
            if isinstance(methods, str):
                methods = methods.split(",")
            self._methods = {m.strip().upper() for m in methods if m.strip()}
        self._path_re = re.compile(path_regex) if path_regex else None
        self._counts = dict.fromkeys(KNOWN_FAULTS + ("down", "requests"), 0)
        self._history = collections.deque(maxlen=100000)
        self._seq = 0
        self._down = None            # None, "refuse" or "503"
        self._stop = threading.Event()
        self._lsock = None
        self._accept_thread = None
        self._threads = set()
        self._socks = set()          # every open socket, for stop()
        self._clients = set()        # client _Conn objects, for set_down()

    # ------------------------------------------------------------ control

    def set_rate(self, rate):
        rate = float(rate)
        if not 0.0 <= rate <= 1.0:
            raise ValueError("rate must be within [0, 1]")
        with self._lock:
            self._rate = rate

    @staticmethod
    def _kinds(faults, allow_none=False):
        if isinstance(faults, str):
            faults = faults.split(",")
        faults = tuple(f.strip() for f in faults if f.strip())
        for f in faults:
            if f not in KNOWN_FAULTS and not (allow_none and f == "-"):
                raise ValueError("unknown fault %r (known: %s)"
                                 % (f, ",".join(KNOWN_FAULTS)))
        return faults

    def set_faults(self, faults):
        faults = self._kinds(faults)
        with self._lock:
            self._faults = faults

    def set_script(self, kinds):
        """The next len(kinds) eligible requests get these kinds, in order
        ("-" for none), whatever the rate; then the draws go on."""
        kinds = self._kinds(kinds, allow_none=True)
        with self._lock:
            self._script = collections.deque(kinds)

    def script_left(self):
        with self._lock:
            return len(self._script)

    def set_down(self, down, mode="refuse"):
        """Take the provider down or bring it back.  mode "refuse": the
        listening socket is closed (connections are refused) and open client
        connections are reset; mode "503": every request is answered 503 in
        the provider's form.  set_down(False) listens again on the same port."""
        if mode not in ("refuse", "503"):
            raise ValueError("mode must be refuse or 503")
        with self._lock:
            if down:
                self._down = mode
                if mode == "refuse":
                    self._close_listener()
                    for c in list(self._clients):
                        self._kill(c)
            else:
                self._down = None
                if (self._lsock is None and self._accept_thread is not None
                        and not self._stop.is_set()):
                    self._lsock = self._listen(self.port)

    def counters(self):
        """Faults injected so far by kind, "down" answers, and "requests"
        (every request head read)."""
        with self._lock:
            return dict(self._counts)

    def history(self):
        """[(method, target, kind or None)] in the order requests were read."""
        with self._lock:
            return list(self._history)

    def reset_counters(self):
        with self._lock:
            for k in self._counts:
                self._counts[k] = 0
            self._history.clear()

    # ---------------------------------------------------------- lifecycle

    def _listen(self, port):
        ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind((self.host, port))
        ls.listen(128)
        ls.setblocking(False)
        return ls

    def _close_listener(self):
        """Stop listening now (lock held).  shutdown() first: the accept
        thread may be in select() on it, which would keep the socket
        listening, and completing handshakes, until select() returns."""
        ls, self._lsock = self._lsock, None
        if ls is None:
            return
        try:
            ls.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            ls.close()
        except OSError:
            pass

    def start(self):
        """Bind, start serving in background threads; return the port."""
        ls = self._listen(self.port)
        self.port = ls.getsockname()[1]
        self._lsock = ls
        t = threading.Thread(target=self._accept_loop, name="faultproxy-accept",
                             daemon=True)
        self._accept_thread = t
        t.start()
        return self.port

    def stop(self, timeout=5.0):
        """Stop serving: close every connection, end stalls, join threads."""
        self._stop.set()
        with self._lock:
            self._close_listener()
            socks = list(self._socks)
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        deadline = time.monotonic() + timeout
        if self._accept_thread is not None:
            self._accept_thread.join(max(0.0, deadline - time.monotonic()))
        for t in list(self._threads):
            t.join(max(0.0, deadline - time.monotonic()))

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def _track(self, sock, add):
        with self._lock:
            if add:
                self._socks.add(sock)
            else:
                self._socks.discard(sock)

    def _kill(self, c):
        """Reset a client connection from another thread (lock held)."""
        c.killed = True
        for s in (c.csock, c.usock):
            if s is None:
                continue
            try:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                             struct.pack("ii", 1, 0))
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _accept_loop(self):
        while not self._stop.is_set():
            with self._lock:
                ls = self._lsock
            if ls is None:
                self._stop.wait(0.02)
                continue
            try:
                r, _, _ = select.select([ls], [], [], 0.1)
                if not r:
                    continue
                cs, _ = ls.accept()
            except (OSError, ValueError):
                continue
            cs.setblocking(True)
            cs.settimeout(IO_TIMEOUT)
            _set_nodelay(cs)
            with self._lock:
                if self._down == "refuse" or self._stop.is_set():
                    refuse = True
                else:
                    refuse = False
            if refuse:
                self._rst(cs, drain=False)
                continue
            t = threading.Thread(target=self._serve, args=(cs,),
                                 name="faultproxy-conn", daemon=True)
            with self._lock:
                self._threads.add(t)
            t.start()

    # ------------------------------------------------------------ serving

    def _rst(self, sock, drain=True):
        """Close sock with a RST; first let the peer receive what was sent."""
        if drain:
            deadline = time.monotonic() + 2.0
            while _unsent(sock) > 0 and time.monotonic() < deadline:
                if self._stop.wait(0.005):
                    break
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                            struct.pack("ii", 1, 0))
        except OSError:
            pass
        try:
            sock.close()
        except OSError:
            pass

    def _serve(self, csock):
        c = _Conn(self, csock)
        self._track(csock, True)
        with self._lock:
            self._clients.add(c)
        how = "close"                 # close, rst (reset), done (already)
        try:
            while not self._stop.is_set() and not c.killed:
                req = _read_head(c.crd, request=True)
                if req is None:
                    break
                how = self._handle(c, req)
                if how != "keep":
                    break
                how = "close"
        except _Cut:
            how = "rst_drain"
        except (_Stopped, _UpstreamWriteError, OSError, ProtocolError,
                ValueError):
            how = "rst"
        finally:
            with self._lock:
                self._clients.discard(c)
                self._threads.discard(threading.current_thread())
            c.close_upstream()
            self._track(csock, False)
            if how == "rst_drain":
                self._rst(csock, drain=True)
            elif how == "rst" or c.killed:
                self._rst(csock, drain=False)
            elif how != "done":
                try:
                    csock.close()
                except OSError:
                    pass

    def _decide(self, req):
        with self._lock:
            self._counts["requests"] += 1
            seq = self._seq
            self._seq += 1
            kind = None
            eligible = ((self._faults or self._script)
                        and (self._methods is None
                             or req.method.upper() in self._methods)
                        and (self._path_re is None
                             or self._path_re.search(req.target)))
            if eligible and self._script:
                kind = self._script.popleft()
                if kind == "-":
                    kind = None
            elif eligible and self._faults:
                # Always draw both numbers, so that the kinds do not depend
                # on the rate and a run is repeatable from the seed.
                r = self._rng.random()
                k = self._faults[self._rng.randrange(len(self._faults))]
                if r < self._rate:
                    kind = k
            if kind is not None:
                self._counts[kind] += 1
            self._history.append((req.method, req.target, kind))
        if kind is not None:
            self._log_line("fault=%s seq=%d method=%s target=%s"
                           % (kind, seq, req.method, req.target))
        return kind

    def _log_line(self, text):
        if not self.log:
            return
        with self._lock:
            try:
                self.log_stream.write("faultproxy: %s\n" % text)
                self.log_stream.flush()
            except (OSError, ValueError):
                pass

    @staticmethod
    def _req_info(req):
        fr = _framing(req)
        if fr is None:
            fr = ("length", 0)
        elif fr[0] == "close":
            raise ProtocolError("request with an unknown transfer coding")
        expect = "100-continue" in req.tokens("expect")
        close = "close" in req.tokens("connection") or req.version == "HTTP/1.0"
        return fr, expect, close

    def _handle(self, c, req):
        """Serve one request; return "keep", "close", "rst" or "done"."""
        fr, expect, close = self._req_info(req)
        with self._lock:
            down = self._down
        if down is not None:
            with self._lock:
                self._counts["down"] += 1
                self._counts["requests"] += 1
                self._history.append((req.method, req.target, "down"))
            self._log_line("fault=down method=%s target=%s"
                           % (req.method, req.target))
            if down == "refuse":
                self._consume(c, fr, expect)
                return "rst"
            self._consume(c, fr, expect)
            self._send_error(c, req, "down", close)
            return "close" if close else "keep"
        kind = self._decide(req)
        if kind in ERROR_FAULTS:
            self._consume(c, fr, expect)
            self._send_error(c, req, int(kind), close)
            return "close" if close else "keep"
        if kind == "reset_before":
            self._consume(c, fr, expect)
            return "rst"
        if kind == "stall":
            self._consume(c, fr, expect)
            self._stop.wait(self.stall_seconds)
            return "close"
        return self._forward(c, req, fr, expect, close, kind)

    def _consume(self, c, fr, expect):
        """Read and discard a request body, asking for it if need be."""
        if fr == ("length", 0):
            return
        if expect:
            c.csock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        _copy_body(c.crd, fr, _discard)

    def _error_body(self, req, status, key):
        table = _S3_ERRORS if self.flavor == "s3" else _AZURE_ERRORS
        code, message = table[key]
        rid = uuid.uuid4()
        headers = [("Content-Type", "application/xml"),
                   ("Date", formatdate(usegmt=True))]
        if self.flavor == "s3":
            path = req.target.split("?", 1)[0]
            body = ('<?xml version="1.0" encoding="UTF-8"?>\n'
                    "<Error><Code>%s</Code><Message>%s</Message>"
                    "<Resource>%s</Resource><RequestId>%s</RequestId>"
                    "<HostId>%s</HostId></Error>"
                    % (code, _xml_escape(message), _xml_escape(path),
                       rid.hex[:16].upper(), rid.hex))
            headers += [("x-amz-request-id", rid.hex[:16].upper()),
                        ("x-amz-id-2", rid.hex), ("Server", "AmazonS3")]
        else:
            now = time.strftime("%Y-%m-%dT%H:%M:%S.0000000Z", time.gmtime())
            body = ('<?xml version="1.0" encoding="utf-8"?>'
                    "<Error><Code>%s</Code><Message>%s\nRequestId:%s\n"
                    "Time:%s</Message></Error>"
                    % (code, _xml_escape(message), rid, now))
            version = (req.get("x-ms-version") or ["2021-08-06"])[0]
            headers += [("x-ms-error-code", code), ("x-ms-request-id", str(rid)),
                        ("x-ms-version", version),
                        ("Server", "Windows-Azure-Blob/1.0 Microsoft-HTTPAPI/2.0")]
        if self.retry_after is not None and status in (503, 429):
            headers.append(("Retry-After", str(self.retry_after)))
        return body.encode("utf-8"), headers

    def _send_error(self, c, req, key, close):
        status = 503 if key == "down" else key
        body, headers = self._error_body(req, status, key)
        headers.append(("Content-Length", str(len(body))))
        if close:
            headers.append(("Connection", "close"))
        head = "HTTP/1.1 %d %s\r\n" % (status, _REASONS[status])
        head += "".join("%s: %s\r\n" % h for h in headers) + "\r\n"
        data = head.encode("latin-1")
        if req.method.upper() != "HEAD":
            data += body
        c.csock.sendall(data)

    def _send_plain(self, c, status, text):
        body = text.encode("utf-8")
        c.csock.sendall(("HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\n"
                         "Content-Length: %d\r\nConnection: close\r\n\r\n"
                         % (status, _REASONS[status], len(body))).encode()
                        + body)

    def _wait_either(self, c):
        """After forwarding a head with Expect: 100-continue, wait for the
        upstream's answer or the client's body, whichever comes first."""
        while True:
            if c.urd.buf:
                return "upstream"
            if c.crd.buf:
                return "client"
            r, _, _ = select.select([c.usock, c.csock], [], [], 0.25)
            if c.usock in r:
                return "upstream"
            if c.csock in r:
                return "client"
            if self._stop.is_set() or c.killed:
                raise _Stopped()

    def _forward(self, c, req, fr, expect, close, kind):
        has_body = fr != ("length", 0)
        early = None                   # a final answer before the whole body
        body_done = not has_body

        def to_upstream(data):
            try:
                c.usock.sendall(data)
            except OSError as e:
                raise _UpstreamWriteError(e)

        attempt = 0
        while True:
            attempt += 1
            reused = c.usock is not None
            if reused and c.upstream_stale():
                c.close_upstream()
                reused = False
            if c.usock is None:
                try:
                    c.connect_upstream()
                except OSError as e:
                    self._consume(c, fr, expect)
                    self._send_plain(c, 502, "faultproxy: upstream %s:%d: %s\n"
                                     % (self.upstream + (e,)))
                    return "close"
            relayed = False
            try:
                c.usock.sendall(req.raw)
                if has_body and expect:
                    if self._wait_either(c) == "upstream":
                        h = _read_head(c.urd, request=False)
                        if h is None:
                            raise ConnectionResetError("upstream closed")
                        if 100 <= h.status < 200 and h.status != 101:
                            relayed = True
                            c.csock.sendall(h.raw)
                        else:
                            early = h
                if has_body and early is None:
                    try:
                        _copy_body(c.crd, fr, to_upstream)
                        body_done = True
                    except _UpstreamWriteError:
                        # The upstream stopped reading: it may have answered.
                        early = _read_head(c.urd, request=False)
                        if early is None:
                            raise ConnectionResetError("upstream closed")
                resp = early
                while True:
                    if resp is None:
                        resp = _read_head(c.urd, request=False)
                        if resp is None:
                            raise ConnectionResetError("upstream closed")
                    if 100 <= resp.status < 200 and resp.status != 101:
                        relayed = True
                        c.csock.sendall(resp.raw)
                        resp = None
                        continue
                    break
            except (OSError, ProtocolError, _UpstreamWriteError):
                c.close_upstream()
                # A kept-alive upstream connection that closed under a
                # request without a body: try once more on a fresh one.
                if reused and attempt == 1 and not has_body and not relayed:
                    continue
                raise
            break
        if not body_done:
            close = True               # the client's body may or may not come
        return self._relay(c, req, resp, kind, close)

    def _relay(self, c, req, resp, kind, close):
        if req.method.upper() == "HEAD" or resp.status in (204, 304) \
                or 100 <= resp.status < 200:
            fr = ("length", 0)
        else:
            fr = _framing(resp) or ("close", None)
        out = _Out(self, c.csock, slow=(kind == "slow"))
        on_first = None
        head = resp.raw
        if kind in RANGE_FAULTS and resp.status == 206:
            head = _misrange(head, kind)
        if kind == "reset_mid":
            if fr == ("length", 0):
                out.limit = len(head) // 2
            else:
                def on_first(size, prefix):
                    out.limit = out.written + prefix + size // 2
        out.write(head)
        _copy_body(c.urd, fr, out.write, on_first)
        resp_close = ("close" in resp.tokens("connection")
                      or (resp.version == "HTTP/1.0"
                          and "keep-alive" not in resp.tokens("connection"))
                      or fr[0] == "close" or resp.status == 101)
        if resp_close or close:
            c.close_upstream()
            return "close"
        return "keep"


def main(argv=None):
    ap = argparse.ArgumentParser(
        description="Fault-injecting HTTP/1.1 reverse proxy for the stratus "
                    "tests.  Prints 'listening PORT' once bound on 127.0.0.1.")
    ap.add_argument("--upstream", required=True, help="HOST:PORT to forward to")
    ap.add_argument("--port", type=int, default=0,
                    help="port to listen on, 0 for an ephemeral one")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--rate", type=float, default=0.0,
                    help="share of the eligible requests that get a fault")
    ap.add_argument("--faults", default=",".join(ALL_FAULTS),
                    help="comma-separated kinds among " + ",".join(KNOWN_FAULTS)
                    + " (default: the first seven)")
    ap.add_argument("--script", default=None,
                    help="comma-separated kinds ('-' for none) for the first "
                         "eligible requests, in order")
    ap.add_argument("--flavor", choices=("s3", "azure"), default="s3")
    ap.add_argument("--methods", default=None,
                    help="only requests with these methods (comma-separated) "
                         "may get a fault")
    ap.add_argument("--path-regex", default=None,
                    help="only requests whose target matches may get a fault")
    ap.add_argument("--stall-seconds", type=float, default=30.0)
    ap.add_argument("--slow-chunk", type=int, default=512)
    ap.add_argument("--slow-delay", type=float, default=0.02)
    ap.add_argument("--retry-after", default=None,
                    help="Retry-After value on 503 and 429 answers")
    ap.add_argument("--down-mode", choices=("refuse", "503"), default="refuse",
                    help="what SIGUSR1 does (SIGUSR2 undoes it)")
    ap.add_argument("--log", action="store_true",
                    help="one line per injected fault on stderr")
    a = ap.parse_args(argv)
    try:
        p = FaultProxy(a.upstream, a.seed, a.rate, a.faults, a.flavor,
                       methods=a.methods, path_regex=a.path_regex,
                       stall_seconds=a.stall_seconds, slow_chunk=a.slow_chunk,
                       slow_delay=a.slow_delay, retry_after=a.retry_after,
                       log=a.log, port=a.port)
        if a.script:
            p.set_script(a.script)
    except (ValueError, re.error) as e:
        ap.error(str(e))
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    signal.signal(signal.SIGUSR1, lambda *_: p.set_down(True, a.down_mode))
    signal.signal(signal.SIGUSR2, lambda *_: p.set_down(False))
    port = p.start()
    sys.stdout.write("listening %d\n" % port)
    sys.stdout.flush()
    while not done.wait(0.5):
        pass
    p.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
