#!/usr/bin/python3
"""
test_blob_local.py - the blob contract on the built-in local store, plus
what only the local store can show: what is on disk after an abandoned
upload, and that no key reaches outside the store's directory.
"""

import os
import re
import signal
import socket
import sys
import tempfile
import threading
import traceback

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import stratus  # noqa: E402
import blob_conformance as conf  # noqa: E402

TOKEN = "local-test-token"
HEX32 = re.compile(r"^[0-9a-f]{32}$")


def local_config(root, name="loc", extra_store=None):
    stores = [stratus.store_conf(name, {"provider": "local",
                                        "path": os.path.join(root, name)})]
    if extra_store:
        stores.append(extra_store)
    return stratus.make_config(
        stores, [stratus.client_conf("t", TOKEN, ["blob:*:rw"])],
        allow_anonymous=False)


def store_files(store_dir):
    """{'tmp': [...], 'data': [...], 'other': [...]} under a store dir."""
    out = {"tmp": [], "data": [], "other": []}
    for dirpath, _, files in os.walk(store_dir):
        rel = os.path.relpath(dirpath, store_dir)
        for f in files:
            p = os.path.normpath(os.path.join(rel, f))
            if rel == "tmp":
                out["tmp"].append(p)
            elif rel.startswith("data"):
                out["data"].append(p)
            else:
                out["other"].append(p)
    return out


def put(d, key, body, **kw):
    return d.request("PUT", "/v1/blobs/loc/" + stratus.quote_key(key),
                     body=body, token=TOKEN, **kw)


def get(d, key, **kw):
    return d.request("GET", "/v1/blobs/loc/" + stratus.quote_key(key),
                     token=TOKEN, **kw)


def list_keys(d, prefix=""):
    r = d.request("GET", "/v1/blobs/loc?prefix=" + stratus.quote_arg(prefix),
                  token=TOKEN)
    return [i["key"] for i in r.json()["items"]]


def abort_upload(d, key, header_extra, first_piece, wait_tmp):
    """Starts an upload on a raw socket, sends part of the body, waits
    until the daemon has a temp file for it, and drops the connection."""
    s = d.sock()
    req = ("PUT /v1/blobs/loc/%s HTTP/1.1\r\nHost: %s:%d\r\n"
           "Authorization: Bearer %s\r\n%s\r\n" % (
               stratus.quote_key(key), d.host, d.port, TOKEN, header_extra))
    s.sendall(req.encode() + first_piece)
    started = stratus.wait_until(lambda: store_files(wait_tmp)["tmp"], 60)
    # Reset rather than close, as a crashing client would.
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                 b"\x01\x00\x00\x00\x00\x00\x00\x00")
    s.close()
    return bool(started)


def check_aborted(tap, d, store_dir):
    key = "abort/victim.txt"
    r = put(d, key, b"the previous version")
    tap.ok(r.status == 201, "abort: the first version is stored", repr(r))
    mark = d.log_mark()
    started = abort_upload(d, key, "Content-Length: 10485760\r\n",
                           b"N" * (1 << 20), store_dir)
    tap.ok(started, "abort: the upload had begun (a temp file existed)")
    rec = d.wait_log(lambda x: x.get("msg") == "request" and
                     x.get("method") == "PUT" and "terminated" in x,
                     timeout=60, since=mark)
    tap.ok(rec is not None, "abort: the daemon logged the abandoned request",
           stratus._tail(d.stderr_text(), 20))
    gone = stratus.wait_until(lambda: not store_files(store_dir)["tmp"], 60)
    tap.ok(gone, "abort: no temp file is left", repr(store_files(store_dir)))
    r = get(d, key)
    tap.ok(r.status == 200 and r.body == b"the previous version",
           "abort: the previous version is intact", repr(r))
    tap.ok(list_keys(d, "abort/") == [key], "abort: the listing shows only "
           "the key, once", repr(list_keys(d, "abort/")))

    # The same with a chunked body, of a key that did not exist.
    mark = d.log_mark()
    started = abort_upload(d, "abort/new.txt", "Transfer-Encoding: chunked\r\n",
                           b"100000\r\n" + b"C" * 0x100000 + b"\r\n"
                           b"100000\r\n" + b"D" * 1000, store_dir)
    tap.ok(started, "abort chunked: the upload had begun")
    d.wait_log(lambda x: x.get("msg") == "request" and "terminated" in x,
               timeout=60, since=mark)
    gone = stratus.wait_until(lambda: not store_files(store_dir)["tmp"], 60)
    tap.ok(gone, "abort chunked: no temp file is left",
           repr(store_files(store_dir)))
    r = get(d, "abort/new.txt")
    tap.ok(r.status == 404, "abort chunked: the new key is not visible",
           repr(r))
    files = store_files(store_dir)
    tap.ok(len(files["data"]) == len(list_keys(d)), "abort: one data file "
           "per object, no orphans", "%r vs %r" % (files, list_keys(d)))


def check_download_abort(tap, d):
    """A client that leaves in the middle of a large GET."""
    data = os.urandom(8 << 20)
    r = put(d, "dl/big", data)
    tap.ok(r.status == 201, "download abort: 8 MiB stored", repr(r))
    for i in range(3):
        s = d.sock()
        s.sendall(("GET /v1/blobs/loc/dl/big HTTP/1.1\r\nHost: x\r\n"
                   "Authorization: Bearer %s\r\n\r\n" % TOKEN).encode())
        got = s.recv(65536)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                     b"\x01\x00\x00\x00\x00\x00\x00\x00")
        s.close()
    r = get(d, "dl/big")
    tap.ok(r.status == 200 and r.body == data,
           "download abort: the daemon still serves the object", repr(r)[:300])
    tap.ok(got.startswith(b"HTTP/1.1 200"), "download abort: the GET had "
           "started", repr(got[:100]))


def snapshot(root):
    out = set()
    for dirpath, dirs, files in os.walk(root):
        for f in files + dirs:
            out.add(os.path.relpath(os.path.join(dirpath, f), root))
    return out


def check_containment(tap, d, root, store_dir):
    before = snapshot(root)
    attempts = [
        "..%2f..%2fescaped", "%2e%2e/%2e%2e/escaped", "..%2F..%2F..%2Ftmp%2Fescaped",
        "%2e%2e%2fescaped", "a/%2e%2e/%2e%2e/escaped",
    ]
    statuses = []
    for raw in attempts:
        r = d.request("PUT", "/v1/blobs/loc/" + raw, body=b"escape",
                      token=TOKEN)
        statuses.append(r.status)
    tap.ok(all(s == 400 for s in statuses), "containment: traversal keys are "
           "refused", repr(statuses))
    # Valid keys that look like paths are stored, as keys.
    weird = ["..\\..\\escaped", "...", "a/.../escaped", "/".join(["d"] * 200),
             "escaped/" * 100 + "x", "meta.db", "tmp/x", "data/00/x"]
    ok = True
    for k in weird:
        r = put(d, k, k.encode())
        g = get(d, k)
        ok = ok and r.status == 201 and g.body == k.encode()
    tap.ok(ok, "containment: path-like valid keys round-trip")
    after = snapshot(root)
    new = sorted(after - before)
    outside = [p for p in new if not (p + "/").startswith(
        os.path.relpath(store_dir, root) + "/")]
    tap.ok(not outside, "containment: nothing new outside the store's "
           "directory", repr(outside))
    rel = os.path.relpath(store_dir, root)
    bad = []
    for p in new:
        q = os.path.relpath(p, rel).split(os.sep)
        if q[0] in ("meta.db-wal", "meta.db-shm", "meta.db-journal"):
            continue
        if len(q) == 2 and q[0] == "tmp" and HEX32.match(q[1]):
            continue
        if len(q) == 3 and q[0] == "data" and HEX32.match(q[2]) and \
                q[1] == q[2][:2]:
            continue
        bad.append(p)
    tap.ok(not bad, "containment: keys never become file names", repr(bad))
    tap.ok(not os.path.exists(os.path.join(root, "escaped")) and
           not os.path.exists("/tmp/escaped"), "containment: no 'escaped' file")


def check_concurrent_overwrite(tap, d, store_dir):
    bodies = [bytes([65 + i]) * (300000 + i) for i in range(16)]
    errors = []

    def w(b):
        try:
            r = put(d, "race/one", b)
            if r.status != 201:
                errors.append(repr(r))
        except Exception:
            errors.append(traceback.format_exc())
    ts = [threading.Thread(target=w, args=(b,)) for b in bodies]
    for t in ts:
        t.start()
    for t in ts:
        t.join(120)
    r = get(d, "race/one")
    tap.ok(not errors and r.status == 200 and r.body in bodies,
           "concurrent overwrites: one whole version wins",
           "%r %d" % (errors[:3], r.status))
    files = store_files(store_dir)
    nkeys = len(list_keys(d))
    tap.ok(len(files["data"]) == nkeys and not files["tmp"],
           "concurrent overwrites: no orphan data or temp files",
           "%d data files, %d keys, tmp %r" % (len(files["data"]), nkeys,
                                                files["tmp"]))


def check_restart(tap, root):
    cfg = local_config(root)
    d = stratus.Daemon(cfg, name="local-restart", tmpdir=root)
    try:
        r = put(d, "keep/é ✓", b"persisted", headers={
            "X-Meta-k": "v", "Content-Type": "text/plain"})
        tap.ok(r.status == 201, "restart: stored", repr(r))
        etag = r.header("ETag")
        d.stop_check(tap, "restart: first daemon exits cleanly")
        d.start()
        r = get(d, "keep/é ✓")
        tap.ok(r.status == 200 and r.body == b"persisted" and
               r.header("ETag") == etag and r.header("X-Meta-k") == "v" and
               r.header("Content-Type") == "text/plain",
               "restart: the object, its ETag, type and metadata persist",
               repr(r))
        d.stop_check(tap, "restart: second daemon exits cleanly")
    finally:
        d.cleanup()


def begin_upload(d, key, length, first_piece, store_dir):
    """Starts a PUT of length bytes on a raw socket and sends first_piece;
    returns the socket once the daemon has a temp file for it (or None)."""
    s = d.sock()
    s.sendall(("PUT /v1/blobs/loc/%s HTTP/1.1\r\nHost: %s:%d\r\n"
               "Authorization: Bearer %s\r\nContent-Length: %d\r\n\r\n" % (
                   stratus.quote_key(key), d.host, d.port, TOKEN,
                   length)).encode() + first_piece)
    if stratus.wait_until(lambda: store_files(store_dir)["tmp"], 60):
        return s
    s.close()
    return None


def drop(path, data=b"stray"):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


# Files a crash can leave, and ones put there by hand: none is an object.
STRAYS = [
    "tmp/0123456789abcdef0123456789abcdef",   # an upload that never ended
    "data/ab/abababababababababababababababab",  # renamed, never committed
    "data/ab/not-an-id",
    "data/cd/abababababababababababababababab",  # an id in the wrong bucket
    "data/stray-at-the-top",
]


def check_crash_sweep(tap, root):
    """kill -9 in the middle of an upload leaves its temp file; the next
    start removes it and every data/ file the index does not name, and
    keeps every object. Reloads and --check-config sweep nothing, nor does
    a second daemon given the same directory."""
    store_dir = os.path.join(root, "loc")
    d = stratus.Daemon(local_config(root), name="local-sweep", tmpdir=root)
    kept = {"sweep/small": b"small object",
            "sweep/large": os.urandom(3 << 20),
            "sweep/replaced": b"second version"}
    try:
        put(d, "sweep/replaced", b"first version")
        for k, v in kept.items():
            r = put(d, k, v)
            tap.ok(r.status == 201, "sweep: %s stored" % k, repr(r))
        etags = {k: get(d, k).header("ETag") for k in kept}

        # kill -9 in the middle of a large streamed upload
        s = begin_upload(d, "sweep/unfinished", 64 << 20, b"U" * (4 << 20),
                         store_dir)
        tap.ok(s is not None, "sweep: the upload had begun (a temp file)")
        d.stop(signal.SIGKILL)
        if s is not None:
            s.close()
        left = store_files(store_dir)["tmp"]
        tap.ok(len(left) == 1, "sweep: after kill -9 the partial upload's "
               "temp file is left", repr(left))
        for rel in STRAYS:
            drop(os.path.join(store_dir, rel))

        # --check-config opens nothing, so it removes nothing
        rc, out, err = stratus.run_stratusd(["--check-config", "--config",
                                             d.config_path])
        there = [rel for rel in STRAYS
                 if os.path.exists(os.path.join(store_dir, rel))]
        tmp = sorted(store_files(store_dir)["tmp"])
        tap.ok(rc == 0 and there == STRAYS and tmp == sorted(left +
                                                            [STRAYS[0]]),
               "sweep: --check-config removes nothing", "%r %r %r %r" % (
                   rc, err, there, tmp))

        d.start()
        files = store_files(store_dir)
        tap.ok(files["tmp"] == [], "sweep: at start, tmp/ is emptied",
               repr(files))
        there = [rel for rel in STRAYS
                 if os.path.exists(os.path.join(store_dir, rel))]
        tap.ok(there == [], "sweep: at start, data/ files no row names are "
               "removed", repr(there))
        tap.ok(len(files["data"]) == len(kept), "sweep: one data file per "
               "object is left", repr(files))
        for k, v in kept.items():
            r = get(d, k)
            tap.ok(r.status == 200 and r.body == v and
                   r.header("ETag") == etags[k],
                   "sweep: %s reads back intact" % k, repr(r))
        tap.ok(get(d, "sweep/unfinished").status == 404,
               "sweep: the unfinished upload is not an object")
        rec = [x for x in d.records() if "orphan" in x.get("msg", "")]
        tap.ok(len(rec) == 1 and "removed 2 unfinished" in rec[0]["msg"] and
               "and 4 orphan" in rec[0]["msg"],
               "sweep: what was removed is logged", repr(rec))

        # A reload while an upload runs: its temp file and a committed
        # object in the making must survive; nothing is swept.
        body = os.urandom(2 << 20)
        s = begin_upload(d, "sweep/during-reload", len(body),
                         body[:1 << 20], store_dir)
        tap.ok(s is not None, "sweep: an upload runs during the reload")
        drop(os.path.join(store_dir, STRAYS[1]))
        mark = d.log_mark()
        d.send_signal(signal.SIGHUP)
        rec = d.wait_log(lambda x: x.get("msg") in ("reloaded",
                                                    "reload failed"),
                         timeout=60, since=mark)
        tap.ok(rec is not None and rec["msg"] == "reloaded" and
               len(store_files(store_dir)["tmp"]) == 1 and
               os.path.exists(os.path.join(store_dir, STRAYS[1])),
               "sweep: a reload removes nothing (the running upload's temp "
               "file stays)", "%r %r" % (rec, store_files(store_dir)))

        # A second daemon given the same directory does not sweep either.
        other = os.path.join(root, "second")
        os.makedirs(other, exist_ok=True)
        d2 = stratus.Daemon(local_config(root), name="local-second",
                            tmpdir=other)
        try:
            warned = d2.wait_log(lambda x: "another process holds" in
                                 x.get("msg", ""), timeout=10)
            tap.ok(warned is not None and
                   len(store_files(store_dir)["tmp"]) == 1 and
                   os.path.exists(os.path.join(store_dir, STRAYS[1])),
                   "sweep: a second daemon on the directory removes nothing "
                   "and says why", "%r %r" % (warned, store_files(store_dir)))
        finally:
            d2.stop()
            d2.cleanup()

        if s is not None:
            s.sendall(body[1 << 20:])
            out = stratus.read_head(s)
            status, _, _ = stratus.parse_raw_response(out + b"\r\n\r\n")
            r = get(d, "sweep/during-reload")
            tap.ok(status == 201 and r.status == 200 and r.body == body,
                   "sweep: the upload that ran across the reload is stored",
                   "%r %r" % (out[:200], r))
        d.stop_check(tap, "sweep: daemon exits cleanly")

        # A lost index names nothing: data/ is then left alone.
        before = sorted(store_files(store_dir)["data"])
        for f in os.listdir(store_dir):
            if f.startswith("meta.db"):
                os.unlink(os.path.join(store_dir, f))
        d.start()
        tap.ok(sorted(store_files(store_dir)["data"]) == before and before,
               "sweep: with a new index (meta.db lost), no data/ file is "
               "removed", "%r %r" % (before, store_files(store_dir)))
        d.stop_check(tap, "sweep: daemon on a new index exits cleanly")
    finally:
        d.cleanup()


def main():
    tap = stratus.TAP()
    # The contract, data-driven.
    conf.run(conf.LocalProfile(), tap)
    if os.environ.get("STRATUS_CONFORMANCE_ONLY"):
        tap.done()

    # Local-only checks on a daemon of their own.
    with tempfile.TemporaryDirectory(prefix="stratus-local-") as root:
        store_dir = os.path.join(root, "loc")
        try:
            d = stratus.Daemon(local_config(root), name="local", tmpdir=root)
        except Exception:
            tap.ok(False, "local: daemon starts", traceback.format_exc())
            tap.done()
        try:
            for fn, args in [(check_aborted, (tap, d, store_dir)),
                             (check_download_abort, (tap, d)),
                             (check_containment, (tap, d, root, store_dir)),
                             (check_concurrent_overwrite, (tap, d, store_dir))]:
                try:
                    fn(*args)
                except Exception:
                    tap.ok(False, "local: %s" % fn.__name__,
                           traceback.format_exc())
            d.stop_check(tap, "local: daemon exits 0, no sanitizer report")
        finally:
            d.cleanup()
    with tempfile.TemporaryDirectory(prefix="stratus-restart-") as root:
        try:
            check_restart(tap, root)
        except Exception:
            tap.ok(False, "restart", traceback.format_exc())
    with tempfile.TemporaryDirectory(prefix="stratus-sweep-") as root:
        try:
            check_crash_sweep(tap, root)
        except Exception:
            tap.ok(False, "sweep", traceback.format_exc())
    tap.done()


if __name__ == "__main__":
    main()
