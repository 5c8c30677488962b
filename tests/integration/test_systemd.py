#!/usr/bin/python3
"""
test_systemd.py - stratusd and systemd, without systemd as PID 1.

  units       systemd-analyze verify on the service (with this build's
              paths) and socket units: no error, no warning; the offline
              security score is at most 2.0 ("OK") and is the one
              docs/operations.md shows; TimeoutStopSec leaves room for the
              daemon's 10 s grace period.
  activation  systemd-socket-activate hands the daemon a TCP and a Unix
              listening socket (LISTEN_FDS=2): both are served.
  notify      a Python datagram socket as NOTIFY_SOCKET: READY=1 at start,
              WATCHDOG=1 pings while WATCHDOG_USEC is set, RELOADING=1
              (with MONOTONIC_USEC) then READY=1 on SIGHUP, STOPPING=1 on
              SIGTERM.
  drain       under socket activation, SIGTERM during an upload: a client
              that completes it gets 201 and the object is kept; a client
              that stalls is cut once the grace period is over, nothing is
              stored, no temporary file is left, and the daemon exits 0
              within the unit's TimeoutStopSec.
  journal     with JOURNAL_STREAM naming stderr, each line starts with its
              syslog priority (<3> error, <4> warn, <6> info); with any
              other JOURNAL_STREAM the lines are plain JSON.

systemd-analyze and systemd-socket-activate come with Debian's systemd
package (scripts/install-deps --tests installs it): without them these
tests fail, they are not skipped.
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import stratus  # noqa: E402
from stratus import make_config, store_conf, parse_raw_response  # noqa: E402

SRCDIR = stratus.TOP_SRCDIR
BUILDDIR = os.environ.get("STRATUS_BUILDDIR") or os.path.dirname(
    os.path.dirname(stratus.stratusd_path()))
GRACE_SECONDS = 10              # main.c
MAX_EXPOSURE = 2.0


def local(root, name):
    return store_conf(name, {"provider": "local", "allow_anonymous": True,
                             "path": os.path.join(root, "stores", name)})


def tool(name):
    return shutil.which(name) or next(
        (p for p in ("/usr/bin/" + name, "/bin/" + name) if os.access(p, os.X_OK)),
        None)


def unit_text(name):
    with open(os.path.join(SRCDIR, "systemd", name)) as f:
        return f.read()


def unit_value(text, key):
    m = re.search(r"^%s=(.*)$" % re.escape(key), text, re.M)
    return m.group(1).strip() if m else None


def seconds(v):
    m = re.fullmatch(r"(\d+)(s|min)?", v or "")
    if not m:
        return None
    return int(m.group(1)) * (60 if m.group(2) == "min" else 1)


# ---------------------------------------------------------------- units

def write_units(root):
    """The units as `make install` makes them, but naming this build's
    daemon and the source tree's configuration, so that verify finds
    every command; and the man pages of Documentation= in a MANPATH."""
    text = unit_text("stratusd.service.in")
    text = text.replace("@sbindir@", os.path.dirname(stratus.stratusd_path()))
    text = text.replace("@sysconfdir@", os.path.join(SRCDIR, "etc"))
    service = os.path.join(root, "stratusd.service")
    with open(service, "w") as f:
        f.write(text)
    sock = os.path.join(root, "stratusd.socket")
    shutil.copy(os.path.join(SRCDIR, "systemd", "stratusd.socket"), sock)
    for page, sect in (("stratusd.8", "8"), ("stratus.conf.5", "5")):
        d = os.path.join(root, "man", "man" + sect)
        os.makedirs(d, exist_ok=True)
        os.symlink(os.path.join(SRCDIR, "man", page), os.path.join(d, page))
    return service, sock


def check_units(tap):
    analyze = tool("systemd-analyze")
    if not tap.ok(analyze is not None, "systemd-analyze is installed",
                  "install Debian's systemd (scripts/install-deps --tests)"):
        return
    with tempfile.TemporaryDirectory(prefix="stratus-units-") as root:
        service, sock = write_units(root)
        env = dict(os.environ, MANPATH=os.path.join(root, "man"),
                   SYSTEMD_LOG_COLOR="0", SYSTEMD_PAGER="")
        p = subprocess.run([analyze, "verify", service, sock], env=env,
                           capture_output=True, text=True, timeout=120)
        out = (p.stdout + p.stderr).strip()
        tap.ok(p.returncode == 0 and out == "",
               "systemd-analyze verify: the service and socket units have "
               "no error and no warning (commands and man pages found)",
               "exit %d:\n%s" % (p.returncode, out))
        p = subprocess.run([analyze, "security", "--offline=true", service],
                           env=env, capture_output=True, text=True,
                           timeout=120)
        m = re.search(r"Overall exposure level for stratusd\.service: "
                      r"([0-9.]+) (\w+)", p.stdout)
        score = float(m.group(1)) if m else None
        tap.ok(m is not None and score <= MAX_EXPOSURE and m.group(2) == "OK",
               "systemd-analyze security --offline=true: exposure at most "
               "%.1f, OK" % MAX_EXPOSURE,
               "%s\n%s" % (m and m.group(0), p.stdout[-2000:] + p.stderr))
        with open(os.path.join(SRCDIR, "docs", "operations.md")) as f:
            doc = f.read()
        tap.ok(m is not None and
               ("exposure level for stratusd.service: %s OK" % m.group(1))
               in doc, "docs/operations.md shows the score the unit gets",
               m and m.group(0))
    text = unit_text("stratusd.service.in")
    stop = seconds(unit_value(text, "TimeoutStopSec"))
    tap.ok(stop is not None and stop >= GRACE_SECONDS + 3,
           "TimeoutStopSec leaves room for the %d s grace period" %
           GRACE_SECONDS, repr(stop))
    tap.ok(unit_value(text, "Type") == "notify" and
           unit_value(text, "WatchdogSec") is not None,
           "the service is Type=notify with a watchdog")


# ---------------------------------------------------------------- processes

class Notify:
    """A fake NOTIFY_SOCKET: a datagram socket whose messages are kept."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.settimeout(0.2)
        self.messages = []
        self.cond = threading.Condition()
        self.running = True
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        while self.running:
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                continue
            except OSError:
                break
            with self.cond:
                self.messages.append(data.decode("utf-8", "replace"))
                self.cond.notify_all()

    def wait(self, pred, since=0, timeout=60):
        """The index of the first message from `since` that pred accepts."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for i in range(since, len(self.messages)):
                    if pred(self.messages[i]):
                        return i
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)

    def count(self, text, since=0):
        with self.cond:
            return sum(1 for m in self.messages[since:] if m == text)

    def close(self):
        self.running = False
        self.thread.join(5)
        self.sock.close()


class Proc:
    """A daemon started by a command of ours (systemd-socket-activate, or
    stratusd itself with stderr on a pipe we chose); stderr lines kept."""

    def __init__(self, argv, env, stderr_fd=None):
        self.lines = []
        self.cond = threading.Condition()
        if stderr_fd is None:
            self.proc = subprocess.Popen(argv, env=env,
                                         stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL,
                                         stderr=subprocess.PIPE)
            src = self.proc.stderr
        else:
            r, w = stderr_fd
            self.proc = subprocess.Popen(argv, env=env,
                                         stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=w)
            os.close(w)
            src = os.fdopen(r, "rb")
        self.thread = threading.Thread(target=self._read, args=(src,),
                                       daemon=True)
        self.thread.start()

    def _read(self, src):
        for raw in src:
            with self.cond:
                self.lines.append(raw.decode("utf-8", "replace").rstrip("\n"))
                self.cond.notify_all()
        with self.cond:
            self.cond.notify_all()

    def wait_line(self, pred, timeout=stratus.START_TIMEOUT, since=0):
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for i in range(since, len(self.lines)):
                    if pred(self.lines[i]):
                        return i
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None and \
                        not self.thread.is_alive():
                    return None
                self.cond.wait(min(left, 0.5))

    def text(self):
        with self.cond:
            return "\n".join(self.lines)

    def stop(self, sig=signal.SIGTERM, timeout=stratus.STOP_TIMEOUT):
        """Signals the daemon; returns (exit status or None, seconds)."""
        start = time.monotonic()
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None, time.monotonic() - start
        took = time.monotonic() - start
        self.thread.join(30)
        return self.proc.returncode, took

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def record(line):
    try:
        r = json.loads(line)
    except ValueError:
        return {}
    return r if isinstance(r, dict) else {}


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def activated(root, cfg_text, notify=None):
    """stratusd under systemd-socket-activate on a TCP port and a Unix
    socket. The daemon starts with the first connection; returns
    (proc, port, unix path)."""
    act = tool("systemd-socket-activate")
    port = free_port()
    unix = os.path.join(root, "api.sock")
    cfg = os.path.join(root, "stratus.conf")
    with open(cfg, "w") as f:
        f.write(cfg_text)
    env = stratus.sanitizer_env()
    # systemd-socket-activate passes on only what -E names.
    names = ["PATH", "ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS",
             "STRATUS_BACKEND_DIR", "LD_LIBRARY_PATH"]
    if notify is not None:
        env["NOTIFY_SOCKET"] = notify
        names.append("NOTIFY_SOCKET")
    argv = [act, "-l", "127.0.0.1:%d" % port, "-l", unix]
    for n in names:
        if n in env:
            argv += ["-E", n]
    argv += [stratus.stratusd_path(), "--config", cfg]
    p = Proc(argv, env)
    return p, port, unix


def http_get(address, path, unix=False):
    out, _ = stratus.raw_exchange(
        address, ("GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                  % path).encode(), timeout=stratus.IO_TIMEOUT, unix=unix)
    status, _, body = parse_raw_response(out)
    return status, body


def wait_for_socket(port, unix):
    """systemd-socket-activate listens before it runs the daemon."""
    def up():
        try:
            socket.create_connection(("127.0.0.1", port), 1).close()
            return os.path.exists(unix)
        except OSError:
            return False
    return stratus.wait_until(up, 60)


def check_activation(tap):
    act = tool("systemd-socket-activate")
    if not tap.ok(act is not None, "systemd-socket-activate is installed",
                  "install Debian's systemd (scripts/install-deps --tests)"):
        return
    with tempfile.TemporaryDirectory(prefix="stratus-act-") as root:
        cfg = make_config([local(root, "a")],
                          listen={"address": "127.0.0.1", "port": 1})
        p, port, unix = activated(root, cfg)
        try:
            tap.ok(wait_for_socket(port, unix), "activation: "
                   "systemd-socket-activate listens on TCP and Unix")
            status, body = http_get(("127.0.0.1", port), "/v1/health")
            tap.ok(status == 200, "activation: the first TCP connection "
                   "starts the daemon and is answered", repr((status, body)))
            status, body = http_get(unix, "/v1/ready", unix=True)
            tap.ok(status == 200, "activation: the Unix socket is served",
                   repr((status, body)))
            n = sum(1 for line in p.lines
                    if record(line).get("msg") == "listening")
            sd = sum(1 for line in p.lines
                     if record(line).get("systemd") == "socket activation")
            tap.ok(n == 2 and sd == 2, "activation: both sockets come from "
                   "systemd, listen.port (1) is not opened", p.text()[-2000:])
            out, _ = stratus.raw_exchange(
                unix, b"PUT /v1/blobs/a/k HTTP/1.1\r\nHost: x\r\n"
                b"Content-Length: 5\r\nConnection: close\r\n\r\nhello",
                unix=True)
            status, _, _ = parse_raw_response(out)
            got = http_get(("127.0.0.1", port), "/v1/blobs/a/k")
            tap.ok(status == 201 and got == (200, b"hello"),
                   "activation: a blob put over Unix is read over TCP",
                   repr((out[:200], got)))
            rc, _ = p.stop()
            text = p.text()
            tap.ok(rc == 0 and not stratus.sanitizer_report(text),
                   "activation: exit 0 on SIGTERM, no sanitizer report",
                   "%r %s" % (rc, stratus.interesting_stderr(text)))
            tap.ok(os.path.exists(unix), "activation: the Unix socket file "
                   "is systemd's: the daemon leaves it")
        finally:
            p.kill()


# ---------------------------------------------------------------- notify

def check_notify(tap):
    with tempfile.TemporaryDirectory(prefix="stratus-notify-") as root:
        n = Notify(os.path.join(root, "notify"))
        env = dict(os.environ, NOTIFY_SOCKET=n.path, WATCHDOG_USEC="2000000")
        cfg = make_config([local(root, "a")])
        d = stratus.Daemon(cfg, name="notify", env=env, tmpdir=root)
        try:
            ready = n.wait(lambda m: m == "READY=1")
            tap.ok(ready is not None, "notify: READY=1 once listening",
                   repr(n.messages))
            first = n.wait(lambda m: m == "WATCHDOG=1")
            # 2 s watchdog: the daemon pings every 0.5 s; ask for a few.
            got = stratus.wait_until(lambda: n.count("WATCHDOG=1") >= 4, 60)
            tap.ok(first is not None and got, "notify: WATCHDOG=1 pings "
                   "while WATCHDOG_USEC is set", repr(n.messages[-10:]))
            # A worker busy with requests keeps the pings going.
            for _ in range(20):
                d.request("GET", "/v1/health")
            mark = len(n.messages)
            d.send_signal(signal.SIGHUP)
            rel = n.wait(lambda m: m.startswith("RELOADING=1"), since=mark)
            after = n.wait(lambda m: m == "READY=1",
                           since=rel + 1 if rel is not None else mark)
            msg = n.messages[rel] if rel is not None else ""
            tap.ok(rel is not None and after is not None and
                   re.fullmatch(r"RELOADING=1\nMONOTONIC_USEC=\d+", msg),
                   "notify: SIGHUP says RELOADING=1 with MONOTONIC_USEC, "
                   "then READY=1", repr(n.messages[mark:]))
            since = len(n.messages)
            got = stratus.wait_until(
                lambda: n.count("WATCHDOG=1", since) >= 2, 60)
            tap.ok(got, "notify: the pings go on after a reload",
                   repr(n.messages[since:]))
            mark = len(n.messages)
            r = d.stop()
            stop = n.wait(lambda m: m == "STOPPING=1", since=mark, timeout=5)
            tap.ok(stop is not None and r["rc"] == 0 and not r["sanitizer"],
                   "notify: STOPPING=1 on SIGTERM, exit 0, no sanitizer "
                   "report", "%r %r %s" % (n.messages[mark:], r["rc"],
                                           stratus.interesting_stderr(
                                               r["stderr"])))
            # Without WATCHDOG_USEC, no pings at all.
            d.env = dict(os.environ, NOTIFY_SOCKET=n.path)
            d.env.pop("WATCHDOG_USEC", None)
            d.env = stratus.sanitizer_env(d.env)
            mark = len(n.messages)
            d.start()
            n.wait(lambda m: m == "READY=1", since=mark)
            d.request("GET", "/v1/health")
            r = d.stop()
            tap.ok(n.count("WATCHDOG=1", mark) == 0 and r["rc"] == 0,
                   "notify: no watchdog pings without WATCHDOG_USEC",
                   repr(n.messages[mark:]))
        finally:
            d.cleanup()
            n.close()


# ---------------------------------------------------------------- drain

def check_drain(tap):
    stop_sec = seconds(unit_value(unit_text("stratusd.service.in"),
                                  "TimeoutStopSec"))
    with tempfile.TemporaryDirectory(prefix="stratus-drain-") as root:
        n = Notify(os.path.join(root, "notify"))
        cfg = make_config([local(root, "g")])
        tmp = os.path.join(root, "stores", "g", "tmp")
        p, port, unix = activated(root, cfg, notify=n.path)
        try:
            wait_for_socket(port, unix)
            tap.ok(http_get(("127.0.0.1", port), "/v1/ready")[0] == 200,
                   "drain: socket-activated daemon answers")
            s = socket.create_connection(("127.0.0.1", port),
                                         timeout=stratus.IO_TIMEOUT)
            s.sendall(b"PUT /v1/blobs/g/done HTTP/1.1\r\nHost: x\r\n"
                      b"Content-Length: 200000\r\n\r\n" + b"1" * 100000)
            started = stratus.wait_until(lambda: os.listdir(tmp), 60)
            mark = len(n.messages)
            p.proc.send_signal(signal.SIGTERM)
            stopping = n.wait(lambda m: m == "STOPPING=1", since=mark)
            tap.ok(started and stopping is not None, "drain: STOPPING=1 "
                   "while an upload is in flight", repr(n.messages))
            s.sendall(b"2" * 100000)
            out = stratus.read_head(s)
            tap.ok(parse_raw_response(out)[0] == 201,
                   "drain: the upload in flight at SIGTERM finishes",
                   repr(out[:300]))
            rc, _ = p.stop()
            text = p.text()
            tap.ok(rc == 0 and not stratus.sanitizer_report(text),
                   "drain: exit 0 after it, no sanitizer report",
                   "%r %s" % (rc, stratus.interesting_stderr(text)))

            # A stalled upload: cut after the grace period, inside the
            # unit's stop timeout (systemd would SIGKILL after it).
            os.unlink(unix)
            p, port, unix = activated(root, cfg, notify=n.path)
            wait_for_socket(port, unix)
            got = http_get(("127.0.0.1", port), "/v1/blobs/g/done")
            tap.ok(got == (200, b"1" * 100000 + b"2" * 100000),
                   "drain: the finished upload was kept", repr(got)[:200])
            s = socket.create_connection(("127.0.0.1", port),
                                         timeout=stratus.IO_TIMEOUT)
            s.sendall(b"PUT /v1/blobs/g/never HTTP/1.1\r\nHost: x\r\n"
                      b"Content-Length: 200000\r\n\r\n" + b"n" * 1000)
            started = stratus.wait_until(lambda: os.listdir(tmp), 60)
            rc, took = p.stop(timeout=stop_sec + 60)
            s.settimeout(30)
            try:
                out = s.recv(65536)
            except OSError as e:
                out = repr(e).encode()
            s.close()
            text = p.text()
            tap.ok(started and rc == 0 and not stratus.sanitizer_report(text)
                   and "stopping with requests in flight" in text,
                   "drain: a stalled upload is cut after the grace period, "
                   "exit 0, no sanitizer report",
                   "%r %s" % (rc, stratus.interesting_stderr(text)))
            tap.ok(stop_sec is not None and took < stop_sec,
                   "drain: the daemon is gone within TimeoutStopSec=%s" %
                   stop_sec, "took %.1f s" % took)
            tap.ok(parse_raw_response(out)[0] is None,
                   "drain: the stalled client gets no success answer",
                   repr(out[:200]))
            tap.ok(not os.listdir(tmp), "drain: no temporary file left",
                   repr(os.listdir(tmp)))
            os.unlink(unix)
            p, port, unix = activated(root, cfg)
            wait_for_socket(port, unix)
            got = http_get(("127.0.0.1", port), "/v1/blobs/g/never")
            tap.ok(got[0] == 404, "drain: nothing stored for the stalled "
                   "upload", repr(got)[:200])
            rc, _ = p.stop()
            tap.ok(rc == 0, "drain: last daemon exits 0", repr(rc))
        finally:
            p.kill()
            n.close()


# ---------------------------------------------------------------- journal

def journal_run(root, cfg_path, journal_stream):
    """stratusd with stderr on a pipe; JOURNAL_STREAM names that pipe
    (journal_stream True) or something else (a string)."""
    r, w = os.pipe()
    st = os.fstat(w)
    env = stratus.sanitizer_env()
    env["JOURNAL_STREAM"] = ("%d:%d" % (st.st_dev, st.st_ino)
                             if journal_stream is True else journal_stream)
    return Proc([stratus.stratusd_path(), "--config", cfg_path], env,
                stderr_fd=(r, w))


def check_journal(tap):
    with tempfile.TemporaryDirectory(prefix="stratus-journal-") as root:
        cfg_path = os.path.join(root, "stratus.conf")
        good = make_config([local(root, "a")])
        with open(cfg_path, "w") as f:
            f.write(good)
        p = journal_run(root, cfg_path, True)
        try:
            i = p.wait_line(lambda x: '"msg":"ready"' in x)
            # A reload that changes a restart-only setting warns; a broken
            # file is an error.
            with open(cfg_path, "w") as f:
                f.write(make_config([local(root, "a")],
                                    listen={"threads": 3}))
            p.proc.send_signal(signal.SIGHUP)
            j = p.wait_line(lambda x: '"msg":"needs a restart"' in x)
            with open(cfg_path, "w") as f:
                f.write("listen = {\n")
            p.proc.send_signal(signal.SIGHUP)
            k = p.wait_line(lambda x: '"msg":"reload failed"' in x)
            rc, _ = p.stop()
            lines = [x for x in p.lines if x]
            want = {"info": "<6>", "warn": "<4>", "error": "<3>",
                    "debug": "<7>"}
            bad = []
            for x in lines:
                m = re.match(r"<(\d)>(\{.*\})$", x)
                rec = record(m.group(2)) if m else {}
                if not m or want.get(rec.get("level")) != x[:3]:
                    bad.append(x)
            tap.ok(i is not None and j is not None and k is not None and
                   rc == 0 and lines and not bad,
                   "journal: every line is <priority> then one JSON object, "
                   "<6> info, <4> warn, <3> error",
                   "%r %r %r rc %r\n%s" % (i, j, k, rc, "\n".join(
                       (bad or lines)[:10])))
        finally:
            p.kill()
        with open(cfg_path, "w") as f:
            f.write(good)
        for other in ("1:1", "junk", ""):
            p = journal_run(root, cfg_path, other)
            try:
                i = p.wait_line(lambda x: '"msg":"ready"' in x)
                rc, _ = p.stop()
            finally:
                p.kill()
            bad = stratus.bad_log_lines("\n".join(p.lines))
            tap.ok(i is not None and rc == 0 and not bad,
                   "journal: JOURNAL_STREAM=%r (not our stderr): plain JSON "
                   "lines" % other, "\n".join(bad[:5]))


def main():
    tap = stratus.TAP()
    for name, fn in (("units", check_units), ("activation", check_activation),
                     ("notify", check_notify), ("drain", check_drain),
                     ("journal", check_journal)):
        try:
            fn(tap)
        except Exception:
            import traceback
            tap.ok(False, "%s: no exception" % name, traceback.format_exc())
    tap.done()


if __name__ == "__main__":
    main()
