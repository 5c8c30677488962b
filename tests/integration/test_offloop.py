#!/usr/bin/python3
"""
test_offloop.py - blocking disk work never runs on an event loop.

A daemon with one worker thread serves a local blob store whose every
commit is made slow (STRATUS_TEST_SLOW_COMMIT_MS, a test-only knob that
sleeps before the flush, as a slow disk would). While a PUT, a DELETE or
a copy waits for its commit, a GET and a health check on the same worker
are answered: they finish before the slow request does. The test compares
the order in which answers come, not durations.
"""

import os
import sys
import tempfile
import threading
import time
import traceback

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import stratus  # noqa: E402

SLOW_MS = 3000


def config(root):
    return stratus.make_config(
        [stratus.store_conf("loc", {"provider": "local",
                                    "path": os.path.join(root, "loc")})],
        listen={"threads": 1}, allow_anonymous=True)


def slow_then_fast(tap, d, name, slow):
    """Starts slow() in a thread, then asks for a GET and a health check;
    both must be answered while slow() is still waiting."""
    done = {}

    def run():
        done["r"] = slow()
        done["t"] = time.monotonic()
    t = threading.Thread(target=run)
    t.start()
    time.sleep(0.3)		# the slow request is in its commit
    g = d.request("GET", "/v1/blobs/loc/small")
    h = d.request("GET", "/v1/health")
    answered = time.monotonic()
    t.join(60)
    r = done.get("r")
    tap.ok(g.status == 200 and h.status == 200 and "t" in done and
           answered < done["t"] and r is not None and r.status < 300,
           "%s: a GET and a health check on the same worker are answered "
           "while it commits" % name,
           "get %r health %r slow %r" % (g, h, r))


def main():
    tap = stratus.TAP()
    with tempfile.TemporaryDirectory(prefix="stratus-offloop-") as root:
        env = dict(os.environ)
        env["STRATUS_TEST_SLOW_COMMIT_MS"] = str(SLOW_MS)
        try:
            d = stratus.Daemon(config(root), name="offloop", tmpdir=root,
                               env=env)
        except Exception:
            tap.ok(False, "daemon starts", traceback.format_exc())
            tap.done()
        try:
            r = d.request("PUT", "/v1/blobs/loc/small", body=b"x" * 100,
                          timeout=60)
            tap.ok(r.status == 201, "a first PUT (slow) works", repr(r))
            slow_then_fast(tap, d, "PUT", lambda: d.request(
                "PUT", "/v1/blobs/loc/big", body=b"y" * 100000, timeout=60))
            slow_then_fast(tap, d, "copy", lambda: d.request(
                "PUT", "/v1/blobs/loc/copy", headers={
                    "X-Copy-Source": "loc/big"}, timeout=60))
            slow_then_fast(tap, d, "DELETE", lambda: d.request(
                "DELETE", "/v1/blobs/loc/copy", timeout=60))
            r = d.request("GET", "/v1/blobs/loc/big")
            tap.ok(r.status == 200 and r.body == b"y" * 100000,
                   "what was committed off the loop reads back", repr(r))
            d.stop_check(tap, "daemon exits 0, no sanitizer report")
        finally:
            d.cleanup()
    tap.done()


if __name__ == "__main__":
    main()
