#!/usr/bin/python3
"""
test_queue_local.py - the queue contract on the built-in local store, and
what only the local store can show: nothing acknowledged is lost when the
daemon is killed (kill -9) in the middle of a send and receive storm, and
nothing is delivered twice within a visibility window.
"""

import os
import signal
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
    tap.done()


if __name__ == "__main__":
    main()
