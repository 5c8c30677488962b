"""
stratus.py - the black-box test harness for stratusd (Python 3 stdlib only).

  TAP        a tiny TAP producer for automake's TAP driver: ok(), skip(),
             diag(); the plan is printed at the end; the exit status is 1
             when any test failed.
  Daemon     starts `$STRATUSD --config FILE` on 127.0.0.1, port 0 (the
             daemon logs the port it bound), talks HTTP to it, and stops it
             with SIGTERM, reporting the exit status and any sanitizer
             report found on its stderr.
  config     helpers that write libconfig text (stores, clients).

Nothing here asserts timing: every wait has a generous upper bound and only
exists so that a hung daemon fails the test instead of hanging `make check`.
"""

import hashlib
import http.client
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

SANITIZER_MARKS = ("AddressSanitizer", "LeakSanitizer", "runtime error:")

# Generous bounds: sanitizer builds on 2 busy cores are slow.
START_TIMEOUT = float(os.environ.get("STRATUS_TEST_START_TIMEOUT", "60"))
STOP_TIMEOUT = float(os.environ.get("STRATUS_TEST_STOP_TIMEOUT", "60"))
IO_TIMEOUT = float(os.environ.get("STRATUS_TEST_IO_TIMEOUT", "120"))

TOP_SRCDIR = os.environ.get("STRATUS_SRCDIR") or os.path.abspath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


def stratusd_path():
    p = os.environ.get("STRATUSD")
    if p:
        return p
    return os.path.join(TOP_SRCDIR, "_build", "src", "stratusd")


def sanitizer_env(env=None):
    """The environment for a daemon: sanitizer options as tests/run sets
    them, unless the caller already chose."""
    e = dict(os.environ if env is None else env)
    e.setdefault("ASAN_OPTIONS",
                 "detect_leaks=1:abort_on_error=0:exitcode=23")
    e.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
    return e


def sanitizer_report(text):
    """The sanitizer marks found in a process's stderr (empty: clean)."""
    return [m for m in SANITIZER_MARKS if m in text]


# ---------------------------------------------------------------- TAP

class TAP:
    """A TAP stream on stdout. The plan is printed by done()."""

    def __init__(self, out=None):
        self.out = out or sys.stdout
        self.n = 0
        self.failed = 0
        self.lock = threading.Lock()
        self.planned = None

    @staticmethod
    def _clean(name):
        # '#' starts a directive in TAP; newlines would end the line.
        name = str(name).replace("\\", "\\\\").replace("#", "\\#")
        return " ".join(name.split())

    def plan(self, n):
        """An up-front plan (optional; done() prints one otherwise)."""
        self.planned = n
        self._print("1..%d" % n)

    def _print(self, line):
        with self.lock:
            self.out.write(line + "\n")
            self.out.flush()

    def diag(self, text):
        for line in str(text).splitlines() or [""]:
            self._print("# " + line)

    def ok(self, cond, name, diag=None):
        with self.lock:
            self.n += 1
            n = self.n
            if not cond:
                self.failed += 1
        self._print("%s %d - %s" % ("ok" if cond else "not ok", n,
                                    self._clean(name)))
        if not cond and diag:
            self.diag(diag)
        return bool(cond)

    def skip(self, name, why):
        with self.lock:
            self.n += 1
            n = self.n
        self._print("ok %d - %s # SKIP %s" % (n, self._clean(name),
                                              " ".join(str(why).split())))

    def bail_out(self, why):
        self._print("Bail out! " + " ".join(str(why).split()))
        sys.exit(1)

    def done(self):
        if self.planned is None:
            self._print("1..%d" % self.n)
        elif self.planned != self.n:
            self.diag("planned %d tests, ran %d" % (self.planned, self.n))
            self.failed += 1
        sys.exit(1 if self.failed else 0)

    def check(self, name, fn, *args, **kw):
        """Runs fn(*args) -> (cond, diag) or bool and reports it; an
        exception is a failure with its traceback as the diagnostic."""
        import traceback
        try:
            r = fn(*args, **kw)
        except Exception:
            return self.ok(False, name, traceback.format_exc())
        if isinstance(r, tuple):
            return self.ok(r[0], name, r[1])
        return self.ok(r, name)


# ---------------------------------------------------------------- config

def sha256_hex(s):
    return hashlib.sha256(s.encode() if isinstance(s, str) else s).hexdigest()


def conf_str(s):
    """A libconfig string literal."""
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def store_conf(name, settings, kind="blob", extra=None):
    """One store group: settings is a dict (provider, path, ...) whose
    values are str, bool or int."""
    parts = ["name = %s;" % conf_str(name), "kind = %s;" % conf_str(kind)]
    for k, v in list(settings.items()) + list((extra or {}).items()):
        parts.append("%s = %s;" % (k, conf_value(v)))
    return "{ " + " ".join(parts) + " }"


def conf_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, (list, tuple)):
        return "( " + ", ".join(conf_value(x) for x in v) + " )"
    return conf_str(str(v))


def client_conf(name, token, allow):
    return "{ name = %s; token_sha256 = %s; allow = %s; }" % (
        conf_str(name), conf_str(sha256_hex(token)), conf_value(list(allow)))


def make_config(stores=(), clients=(), listen=None, allow_anonymous=None,
                extra=""):
    """A whole configuration. stores and clients are lists of groups made
    by store_conf / client_conf; listen a dict of extra listen settings."""
    lis = {"address": "127.0.0.1", "port": 0}
    lis.update(listen or {})
    out = ["listen = { %s };" % " ".join(
        "%s = %s;" % (k, conf_value(v)) for k, v in lis.items())]
    if allow_anonymous is not None:
        out.append("allow_anonymous = %s;" % conf_value(allow_anonymous))
    if stores:
        out.append("stores = (\n  " + ",\n  ".join(stores) + "\n);")
    if clients:
        out.append("clients = (\n  " + ",\n  ".join(clients) + "\n);")
    if extra:
        out.append(extra)
    return "\n".join(out) + "\n"


class Stream:
    """A body of n pseudo-random bytes made on the fly, hashed as sent:
    iterate it as a request body (chunked), then read .sha."""

    def __init__(self, n, seed, piece=256 * 1024):
        self.n, self.rng, self.piece = n, random.Random(seed), piece
        self.sha = hashlib.sha256()

    def __iter__(self):
        left = self.n
        while left > 0:
            b = self.rng.randbytes(min(self.piece, left))
            self.sha.update(b)
            left -= len(b)
            yield b


# ---------------------------------------------------------------- HTTP

class Response:
    def __init__(self, status, reason, header_list, body):
        self.status = status
        self.reason = reason
        self.header_list = header_list       # [(name, value)] as sent
        self.headers = {}
        for k, v in header_list:
            lk = k.lower()
            self.headers[lk] = (self.headers[lk] + ", " + v
                                if lk in self.headers else v)
        self.body = body
        self._json = None

    def header(self, name, default=None):
        return self.headers.get(name.lower(), default)

    def json(self):
        if self._json is None:
            self._json = json.loads(self.body.decode("utf-8"))
        return self._json

    def error_code(self):
        try:
            return self.json()["error"]["code"]
        except Exception:
            return None

    def __repr__(self):
        b = self.body[:300]
        return "<%d %s %r %r%s>" % (self.status, self.reason, self.header_list,
                                    b, "..." if len(self.body) > 300 else "")


def _read_response(conn, method):
    r = conn.getresponse()
    body = r.read()
    return Response(r.status, r.reason, list(r.getheaders()), body)


def http_request(host, port, method, path, headers=None, body=None,
                 timeout=IO_TIMEOUT, conn=None):
    """One request. headers: dict or list of (name, value) (values may be
    bytes). body: None, bytes, or an iterable of bytes (sent chunked), or a
    callable returning one. With conn, the request goes over that
    (keep-alive) connection and the connection stays open."""
    own = conn is None
    if own:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        if callable(body):
            body = body()
        hdrs = list(headers.items()) if isinstance(headers, dict) else \
            list(headers or [])
        names = {k.lower() for k, _ in hdrs}
        chunked = body is not None and not isinstance(body, (bytes, bytearray,
                                                             str))
        conn.putrequest(method, path, skip_accept_encoding=True,
                        skip_host="host" in names)
        for k, v in hdrs:
            conn.putheader(k, v)
        if chunked and "transfer-encoding" not in names:
            conn.putheader("Transfer-Encoding", "chunked")
        elif body is not None and not chunked and "content-length" not in names:
            conn.putheader("Content-Length", str(len(body)))
        elif body is None and method in ("PUT", "POST", "PATCH") and \
                "content-length" not in names and \
                "transfer-encoding" not in names:
            conn.putheader("Content-Length", "0")
        conn.endheaders()
        if chunked:
            for piece in body:
                if piece:
                    conn.send(b"%x\r\n" % len(piece) + bytes(piece) + b"\r\n")
            conn.send(b"0\r\n\r\n")
        elif body is not None:
            conn.send(body.encode() if isinstance(body, str) else body)
        return _read_response(conn, method)
    finally:
        if own:
            conn.close()


def url_request(url, method="GET", headers=None, body=None,
                timeout=IO_TIMEOUT):
    """A plain HTTP request to an absolute http:// URL (no token)."""
    u = urllib.parse.urlsplit(url)
    if u.scheme != "http":
        raise ValueError("only http:// URLs: %r" % url)
    path = u.path or "/"
    if u.query:
        path += "?" + u.query
    return http_request(u.hostname, u.port or 80, method, path, headers,
                        body, timeout)


def raw_exchange(address, data, timeout=IO_TIMEOUT, shutdown_write=False,
                 unix=False):
    """Sends raw bytes and reads until the peer closes or `timeout` passes
    without data. Returns (bytes received, closed_by_peer)."""
    fam = socket.AF_UNIX if unix else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(address)
        if data:
            s.sendall(data)
        if shutdown_write:
            s.shutdown(socket.SHUT_WR)
        out = b""
        closed = False
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
            # One whole response is enough when it says how long it is.
            m = _whole_response(out)
            if m:
                break
        return out, closed
    finally:
        s.close()


def _whole_response(buf):
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return False
    head = buf[:end].decode("latin-1")
    m = re.search(r"(?im)^content-length:\s*(\d+)\s*$", head)
    if m:
        return len(buf) >= end + 4 + int(m.group(1))
    return False


def read_head(s, timeout=60):
    """Reads from socket s until a response's head is complete, the peer
    closes, or timeout seconds pass without a byte; closes s. What was
    read (parse it with parse_raw_response)."""
    s.settimeout(timeout)
    out = b""
    try:
        while b"\r\n\r\n" not in out:
            piece = s.recv(65536)
            if not piece:
                break
            out += piece
    except socket.timeout:
        pass
    s.close()
    return out


def parse_raw_response(buf):
    """(status, {lower header: value}, body) of the first response in buf,
    or (None, {}, b"") when there is none."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return None, {}, b""
    lines = buf[:end].decode("latin-1").split("\r\n")
    m = re.match(r"HTTP/1\.[01] (\d{3})", lines[0])
    if not m:
        return None, {}, b""
    hdrs = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            hdrs[k.strip().lower()] = v.strip()
    body = buf[end + 4:]
    if "content-length" in hdrs:
        body = body[:int(hdrs["content-length"])]
    return int(m.group(1)), hdrs, body


# ---------------------------------------------------------------- daemon

class DaemonError(Exception):
    pass


class Daemon:
    """A stratusd under test.

    config: the configuration text, or a callable(daemon) -> text that may
    use daemon.dir (a fresh temporary directory). The text should listen on
    127.0.0.1 port 0 (make_config does); the bound port is read from the
    daemon's "listening" log line.
    """

    def __init__(self, config, name="stratus", args=(), env=None,
                 start=True, tmpdir=None):
        self._tmp = None
        if tmpdir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix=name + "-")
            tmpdir = self._tmp.name
        self.dir = tmpdir
        self.name = name
        self.config_path = os.path.join(self.dir, "stratus.conf")
        self.args = list(args)
        self.env = sanitizer_env(env)
        self.proc = None
        self.host = "127.0.0.1"
        self.port = None
        self.unix_path = None
        self.lines = []             # stderr, one entry per line
        self.cond = threading.Condition()
        self.reader = None
        self.write_config(config)
        if start:
            self.start()

    # -- configuration

    def write_config(self, config):
        text = config(self) if callable(config) else config
        tmp = self.config_path + ".new"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, self.config_path)
        return text

    # -- process

    def start(self):
        if self.proc is not None:
            raise DaemonError("already started")
        with self.cond:
            self.lines = []
        self.proc = subprocess.Popen(
            [stratusd_path(), "--config", self.config_path] + self.args,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, env=self.env, cwd=self.dir)
        self.reader = threading.Thread(target=self._read_stderr, daemon=True)
        self.reader.start()
        rec = self.wait_log(lambda r: r.get("msg") == "ready",
                            timeout=START_TIMEOUT)
        if rec is None:
            err = self.stderr_text()
            self.kill()
            raise DaemonError("stratusd did not become ready; stderr:\n" + err)
        for r in self.records():
            if r.get("msg") == "listening" and "port" in r:
                self.port = int(r["port"])
                self.host = r.get("address", "127.0.0.1")
            if r.get("msg") == "listening" and "unix" in r:
                self.unix_path = r["unix"]
        if self.port is None:
            err = self.stderr_text()
            self.kill()
            raise DaemonError("no listening port in the log:\n" + err)

    def _read_stderr(self):
        for raw in self.proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            with self.cond:
                self.lines.append(line)
                self.cond.notify_all()
        with self.cond:
            self.cond.notify_all()

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stderr_text(self):
        with self.cond:
            return "\n".join(self.lines)

    def records(self, start=0):
        """The JSON log records so far (lines that are not JSON skipped)."""
        with self.cond:
            lines = list(self.lines[start:])
        out = []
        for line in lines:
            try:
                r = json.loads(line)
            except ValueError:
                continue
            if isinstance(r, dict):
                out.append(r)
        return out

    def log_mark(self):
        """A position in the log, for wait_log(since=...)."""
        with self.cond:
            return len(self.lines)

    def wait_log(self, pred, timeout=START_TIMEOUT, since=0):
        """Waits for a log record satisfying pred; returns it or None."""
        deadline = time.monotonic() + timeout
        seen = since
        with self.cond:
            while True:
                while seen < len(self.lines):
                    line = self.lines[seen]
                    seen += 1
                    try:
                        r = json.loads(line)
                    except ValueError:
                        continue
                    if isinstance(r, dict) and pred(r):
                        return r
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and
                                 (self.reader is None or
                                  not self.reader.is_alive())):
                    return None
                self.cond.wait(min(left, 0.5))

    def send_signal(self, sig):
        if self.alive():
            os.kill(self.proc.pid, sig)

    def kill(self):
        if self.alive():
            os.kill(self.proc.pid, signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait()
            if self.reader:
                self.reader.join(10)

    def stop(self, sig=signal.SIGTERM, timeout=STOP_TIMEOUT):
        """Sends sig to the daemon's PID and waits for it. Returns a dict:
        rc (None: had to be killed), sanitizer (marks found), stderr."""
        if self.proc is None:
            return {"rc": None, "sanitizer": [], "stderr": "", "killed": False}
        killed = False
        if self.alive():
            os.kill(self.proc.pid, sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                killed = True
                self.kill()
        rc = self.proc.returncode
        if self.reader:
            self.reader.join(30)
        text = self.stderr_text()
        self.proc = None
        return {"rc": None if killed else rc, "killed": killed,
                "sanitizer": sanitizer_report(text), "stderr": text}

    def stop_check(self, tap, name=None, sig=signal.SIGTERM, check_log=True):
        """Stops the daemon and reports a TAP test: a clean exit 0 with no
        sanitizer report."""
        name = name or "%s: exits 0 on SIGTERM, no sanitizer report" % self.name
        r = self.stop(sig)
        good = r["rc"] == 0 and not r["sanitizer"]
        diag = None
        if not good:
            diag = "exit status %r%s; sanitizer: %s\n%s" % (
                r["rc"], " (killed after timeout)" if r["killed"] else "",
                r["sanitizer"], interesting_stderr(r["stderr"]))
        tap.ok(good, name, diag)
        if check_log and not r["sanitizer"]:
            bad = bad_log_lines(r["stderr"])
            tap.ok(not bad, "%s: every log line is one JSON object" %
                   self.name, "\n".join(repr(x) for x in bad[:10]))
        return r

    def cleanup(self):
        if self.alive():
            self.kill()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.cleanup()

    # -- HTTP

    def request(self, method, path, headers=None, body=None, token=None,
                conn=None, timeout=IO_TIMEOUT):
        """One HTTP request: returns a Response (status, headers, body).
        token adds Authorization: Bearer TOKEN."""
        hdrs = list(headers.items()) if isinstance(headers, dict) else \
            list(headers or [])
        if token is not None:
            hdrs.append(("Authorization", "Bearer " + token))
        return http_request(self.host, self.port, method, path, hdrs, body,
                            timeout, conn)

    def connection(self, timeout=IO_TIMEOUT):
        """A keep-alive connection for request(conn=...)."""
        c = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        c.connect()
        return c

    def raw(self, data, timeout=30, shutdown_write=False):
        """Raw bytes in, raw bytes out (for malformed HTTP)."""
        return raw_exchange((self.host, self.port), data, timeout,
                            shutdown_write)

    def sock(self, timeout=IO_TIMEOUT):
        s = socket.create_connection((self.host, self.port), timeout=timeout)
        return s

    def wait_ready(self, timeout=60):
        """True once /v1/ready answers 200 (credentials resolved), False
        if it does not within timeout seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.request("GET", "/v1/ready").status == 200:
                return True
            time.sleep(0.2)
        return False

    def put_get(self, store, key, data, token=None):
        """PUT then GET of a blob: None when both worked and the bytes
        came back, else what went wrong."""
        path = "/v1/blobs/%s/%s" % (store, key)
        r = self.request("PUT", path, body=data, token=token)
        if r.status not in (200, 201):
            return "PUT %s: %d %s" % (key, r.status, r.body[:300])
        r = self.request("GET", path, token=token)
        if r.status != 200 or r.body != data:
            return "GET %s: %d %s" % (key, r.status, r.body[:300])
        return None

    @property
    def base_url(self):
        return "http://%s:%d" % (self.host, self.port)


def bad_log_lines(text):
    """The stderr lines that are not one JSON object with ts, level, msg."""
    bad = []
    for line in text.splitlines():
        try:
            r = json.loads(line)
        except ValueError:
            bad.append(line)
            continue
        if not isinstance(r, dict) or list(r)[:3] != ["ts", "level", "msg"]:
            bad.append(line)
    return bad


def interesting_stderr(text, n=120):
    """A sanitizer report when there is one (from its first line), else
    the last lines of the log."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if any(m in line for m in SANITIZER_MARKS) or line.startswith("====="):
            return "\n".join(lines[i:i + n])
    return "\n".join(lines[-30:])


def _tail(text, n):
    lines = text.splitlines()
    return "\n".join(lines[-n:])


def run_stratusd(args, timeout=STOP_TIMEOUT, env=None):
    """Runs stratusd to completion (for --version, --check-config...).
    Returns (rc, stdout, stderr)."""
    p = subprocess.run([stratusd_path()] + list(args), stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=timeout,
                       env=sanitizer_env(env))
    return (p.returncode, p.stdout.decode("utf-8", "replace"),
            p.stderr.decode("utf-8", "replace"))


def quote_key(key):
    """A key as a URL path: every byte that is not unreserved or '/' is
    percent-encoded (so '+', '%', '?', '#', ' ' and non-ASCII are)."""
    if isinstance(key, str):
        key = key.encode("utf-8")
    return urllib.parse.quote(key, safe="/~")


def quote_arg(v):
    if isinstance(v, str):
        v = v.encode("utf-8")
    return urllib.parse.quote(v, safe="~")


def wait_until(pred, timeout=60, interval=0.05):
    """Polls pred() until it is true or timeout passes: returns its last
    value. Only a bound for a hang, never a timing assertion."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(interval)
