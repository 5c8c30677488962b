#!/usr/bin/python3
"""
test_queue_local.py - the queue contract on the built-in local store, and
what only the local store can show: nothing acknowledged is lost when the
daemon is killed (kill -9) in the middle of a send and receive storm, and
nothing is delivered twice within a visibility window.
"""

import os
import selectors
import sys
import tempfile
import threading
import time
import traceback

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import stratus  # noqa: E402
import queue_conformance as conf  # noqa: E402

TOKEN = "queue-local-token"


def config(root):
    return stratus.make_config(
        [stratus.store_conf("jobs", {"provider": "local",
                                     "path": os.path.join(root, "jobs")},
                            kind="queue")],
        [stratus.client_conf("t", TOKEN, ["queue:*:*"])],
        allow_anonymous=False)


def storm(d, acked, stop, n_senders=4):
    """Senders record every id the daemon acknowledged (201)."""
    lock = threading.Lock()

    def sender(i):
        k = 0
        while not stop.is_set():
            body = ("s%d-%d" % (i, k)).encode()
            try:
                r = d.request("POST", "/v1/queues/jobs/messages", body=body,
                              token=TOKEN, timeout=10)
            except Exception:
                return		# the daemon is gone
            if r.status == 201:
                with lock:
                    acked.add(body.decode())
            k += 1
    ts = [threading.Thread(target=sender, args=(i,)) for i in range(n_senders)]
    for t in ts:
        t.start()
    return ts


def check_crash(tap, root):
    """kill -9 during a storm of sends: every send that was answered 201
    is there after a restart, once."""
    acked, stop = set(), threading.Event()
    d = stratus.Daemon(config(root), name="queue-crash", tmpdir=root)
    try:
        r = d.request("PUT", "/v1/queues/jobs", token=TOKEN)
        tap.ok(r.status == 201, "crash: queue created", repr(r))
        ts = storm(d, acked, stop)
        time.sleep(1.5)
        d.kill()		# SIGKILL, no clean shutdown
        stop.set()
        for t in ts:
            t.join(30)
    finally:
        d.cleanup()
    d = stratus.Daemon(config(root), name="queue-crash-2", tmpdir=root)
    try:
        got, ids = [], set()
        while True:
            r = d.request("GET", "/v1/queues/jobs/messages?max=32&"
                          "visibility=300", token=TOKEN)
            if r.status != 200:
                tap.ok(False, "crash: receive after restart", repr(r))
                return
            ms = r.json()["messages"]
            if not ms:
                break
            for m in ms:
                got.append(m["body"])
                ids.add(m["id"])
        lost = acked - set(got)
        tap.ok(len(acked) > 0 and not lost, "crash: no acknowledged send "
               "lost after kill -9 (%d acknowledged, %d found)" % (
                   len(acked), len(got)),
               "lost: %r" % sorted(lost)[:10])
        tap.ok(len(ids) == len(got), "crash: nothing received twice in one "
               "visibility window")
        d.stop_check(tap, "crash: daemon exits 0, no sanitizer report")
    finally:
        d.cleanup()


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        parts = f.read().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")


def read_answers(socks, wanted, limit=10.0, grace=1.0):
    """What the sockets answer, read with one poll over all of them until
    wanted is seen (an answer may come in several pieces), then for grace
    seconds more, to catch a second receiver woken by mistake."""
    sel = selectors.DefaultSelector()
    for s in socks:
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
    data = {}
    deadline = time.monotonic() + limit
    try:
        while time.monotonic() < deadline:
            for key, _ in sel.select(timeout=0.1):
                try:
                    chunk = key.fileobj.recv(65536)
                except OSError:
                    chunk = b""
                if not chunk:
                    sel.unregister(key.fileobj)
                    continue
                data[key.fileobj] = data.get(key.fileobj, b"") + chunk
            if any(wanted in d for d in data.values()):
                deadline = min(deadline, time.monotonic() + grace)
    finally:
        sel.close()
    return list(data.values())


def check_idle_waiters(tap, root, n=500):
    """n receivers in long polls cost (nearly) no CPU while nothing
    happens, and a send wakes exactly one of them."""
    d = stratus.Daemon(config(root), name="queue-waiters", tmpdir=root)
    socks = []
    try:
        d.request("PUT", "/v1/queues/jobs", token=TOKEN)
        req = ("GET /v1/queues/jobs/messages?wait=15 HTTP/1.1\r\n"
               "Host: x\r\nAuthorization: Bearer %s\r\n\r\n" % TOKEN)
        for _ in range(n):
            s = d.sock(timeout=30)
            s.sendall(req.encode())
            socks.append(s)
        time.sleep(1.0)			# all parked now
        before = cpu_seconds(d.pid)
        time.sleep(2.0)
        used = cpu_seconds(d.pid) - before
        tap.ok(used < 0.2, "waiters: %d long polls, idle for 2 s, cost %.2f s "
               "of CPU" % (n, used))
        r = d.request("POST", "/v1/queues/jobs/messages", body=b"one",
                      token=TOKEN)
        answered = read_answers(socks, b'"body":"one"')
        got = [a for a in answered if b'"body":"one"' in a]
        tap.ok(r.status == 201 and len(got) == 1, "waiters: a send wakes "
               "exactly one of %d waiting receivers" % n,
               "%d answers: %r" % (len(answered), answered[:2]))
    finally:
        for s in socks:
            s.close()
        d.stop_check(tap, "waiters: daemon exits 0, no sanitizer report")
        d.cleanup()


def main():
    tap = stratus.TAP()
    conf.run(conf.LocalProfile(), tap)
    if os.environ.get("STRATUS_CONFORMANCE_ONLY"):
        tap.done()
    with tempfile.TemporaryDirectory(prefix="stratus-qcrash-") as root:
        try:
            check_crash(tap, root)
        except Exception:
            tap.ok(False, "crash", traceback.format_exc())
    with tempfile.TemporaryDirectory(prefix="stratus-qwait-") as root:
        try:
            check_idle_waiters(tap, root)
        except Exception:
            tap.ok(False, "waiters", traceback.format_exc())
    tap.done()


if __name__ == "__main__":
    main()
