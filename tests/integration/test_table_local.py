#!/usr/bin/python3
"""
test_table_local.py - the table contract on the built-in local store, and
that a write answered 201 or 200 survives kill -9 of the daemon.
"""

import json
import os
import sys
import tempfile
import threading
import time
import traceback

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import stratus  # noqa: E402
import table_conformance as conf  # noqa: E402

TOKEN = "table-local-token"


def config(root):
    return stratus.make_config(
        [stratus.store_conf("users", {"provider": "local",
                                      "path": os.path.join(root, "users")},
                            kind="table")],
        [stratus.client_conf("t", TOKEN, ["table:*:*"])],
        allow_anonymous=False)


def check_crash(tap, root):
    acked, lock, stop = {}, threading.Lock(), threading.Event()
    d = stratus.Daemon(config(root), name="table-crash", tmpdir=root)
    try:
        r = d.request("PUT", "/v1/tables/users", token=TOKEN)
        tap.ok(r.status == 201, "crash: table created", repr(r))

        def writer(i):
            k = 0
            while not stop.is_set():
                path = "/v1/tables/users/p%d/r%05d" % (i, k)
                try:
                    r = d.request("PUT", path, token=TOKEN, timeout=10,
                                  body=json.dumps({"k": k}).encode())
                except Exception:
                    return
                if r.status == 201:
                    with lock:
                        acked[path] = k
                k += 1
        ts = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
        for t in ts:
            t.start()
        time.sleep(1.5)
        d.kill()
        stop.set()
        for t in ts:
            t.join(30)
    finally:
        d.cleanup()
    d = stratus.Daemon(config(root), name="table-crash-2", tmpdir=root)
    try:
        missing = []
        for path, k in sorted(acked.items()):
            r = d.request("GET", path, token=TOKEN)
            if r.status != 200 or r.json()["data"] != {"k": k}:
                missing.append(path)
        tap.ok(len(acked) > 0 and not missing, "crash: no acknowledged write "
               "lost after kill -9 (%d writes)" % len(acked),
               "missing: %r" % missing[:10])
        d.stop_check(tap, "crash: daemon exits 0, no sanitizer report")
    finally:
        d.cleanup()


def main():
    tap = stratus.TAP()
    conf.run(conf.LocalProfile(), tap)
    if os.environ.get("STRATUS_CONFORMANCE_ONLY"):
        tap.done()
    with tempfile.TemporaryDirectory(prefix="stratus-tcrash-") as root:
        try:
            check_crash(tap, root)
        except Exception:
            tap.ok(False, "crash", traceback.format_exc())
    tap.done()


if __name__ == "__main__":
    main()
