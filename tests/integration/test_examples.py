#!/usr/bin/python3
"""
test_examples.py - the programs of examples/ run against a real daemon.

Each example is one row of EXAMPLES: how to build it (if at all), what to
do before it runs, the command, what its output must show, and what must
be true afterwards through the API. Every row gets a daemon of its own,
configured like the bundled etc/stratus.conf (blob stores "scratch",
anonymous, and "shared", token only; queue "jobs"; table "users"), with a
token made by `stratusd token new` and given to the example in
STRATUS_TOKEN, the daemon's address in STRATUS_URL.

  curl/tour.sh               the README tour, step by step
  c/blobs_parallel           50 uploads, downloads, deletes at once (multi)
  c/queue_worker             receive, process, acknowledge until empty
  python/blobs.py            blobs from the standard library
  python/queue_worker.py     the worker loop, with a job that fails
  python/table_counter.py    4 writers, If-Match, retry on 412, exact sum
  qt/ (stratus-qt)           built with cmake, run under xvfb-run: sends a
                             message and uploads a file through the
                             window; the blob must be in the store and the
                             screenshot must not be blank; then it notes
                             the upload in a table (the Table class)

The C examples are built by `make check` (check_PROGRAMS), with the
sanitizers when the daemon has them. The Qt example needs cmake, Qt 6
(qt6-base-dev) and xvfb-run: without them its row is skipped, unless
STRATUS_REQUIRE_EMULATORS is set (tests/run installs them), then it fails.
"""

import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import stratus  # noqa: E402
from stratus import store_conf  # noqa: E402

SRC = stratus.TOP_SRCDIR
BUILD = os.environ.get("STRATUS_BUILDDIR") or os.path.join(SRC, "_build")
EXAMPLES_DIR = os.path.join(SRC, "examples")
RUN_TIMEOUT = 300       # a bound for a hang, not a timing assertion
BUILD_TIMEOUT = 900


# ---------------------------------------------------------------- daemon

def new_token():
    """(token, client entry) from `stratusd token new`, as a user would
    make them."""
    rc, out, err = stratus.run_stratusd(
        ["token", "new", "examples", "blob:*:rw", "queue:*:*", "table:*:*"])
    if rc != 0:
        raise RuntimeError("stratusd token new: %d %s" % (rc, err))
    token = out.splitlines()[0]
    entry = out[out.index("{ name"):].strip()
    return token, entry


def config(entry):
    def text(d):
        def path(p):
            return os.path.join(d.dir, p)
        return stratus.make_config(
            stores=[store_conf("scratch", {"provider": "local",
                                           "path": path("scratch")}),
                    store_conf("shared", {"provider": "local",
                                          "path": path("shared"),
                                          "allow_anonymous": False}),
                    store_conf("jobs", {"provider": "local",
                                        "path": path("queues")}, "queue"),
                    store_conf("users", {"provider": "local",
                                         "path": path("tables")}, "table")],
            clients=[entry], allow_anonymous=True)
    return text


# ---------------------------------------------------------------- checks

def send_jobs(*bodies):
    def setup(d, token, tmp):
        d.request("PUT", "/v1/queues/jobs", token=token)
        for b in bodies:
            r = d.request("POST", "/v1/queues/jobs/messages", body=b.encode(),
                          token=token)
            if r.status != 201:
                raise RuntimeError("send %r: %r" % (b, r))
    return setup


def queue_empty(d, token, tmp):
    r = d.request("GET", "/v1/queues/jobs/messages?max=32&visibility=1",
                  token=token)
    return r.status == 200 and r.json()["messages"] == [], \
        "left in the queue: %r" % r


def blobs_gone(prefix):
    def check(d, token, tmp):
        r = d.request("GET", "/v1/blobs/scratch?prefix=" + prefix,
                      token=token)
        return r.status == 200 and r.json()["items"] == [], \
            "left in the store: %r" % r
    return check


def png_colors(path):
    """(width, height, number of distinct colors) of an 8-bit RGB or RGBA
    PNG, decoded here with zlib (no imaging library needed)."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat, hdr = 8, b"", None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            hdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    w, h, depth, ctype, _, _, interlace = hdr
    if depth != 8 or ctype not in (2, 6) or interlace:
        raise ValueError("unexpected PNG form %r" % (hdr,))
    bpp = 3 if ctype == 2 else 4
    raw = zlib.decompress(idat)
    stride = w * bpp
    prev = bytearray(stride)
    colors = set()
    for y in range(h):
        off = y * (stride + 1)
        ftype, line = raw[off], bytearray(raw[off + 1:off + 1 + stride])
        for i in range(stride):         # undo the row filter
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if ftype == 1:
                line[i] = (line[i] + a) & 255
            elif ftype == 2:
                line[i] = (line[i] + b) & 255
            elif ftype == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif ftype == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pr = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pr) & 255
        colors.update(bytes(line[i:i + 3]) for i in range(0, stride, bpp))
        prev = line
    return w, h, len(colors)


QT_FILE = "holiday-photo.jpg"
QT_SIZE = 3 * 1024 * 1024 + 17


def qt_file(d, token, tmp):
    with open(os.path.join(tmp, QT_FILE), "wb") as f:
        f.write(os.urandom(QT_SIZE))


def qt_blob_arrived(d, token, tmp):
    with open(os.path.join(tmp, QT_FILE), "rb") as f:
        want = f.read()
    r = d.request("GET", "/v1/blobs/scratch/" + QT_FILE, token=token)
    return r.status == 200 and r.body == want, \
        "%d, %d bytes of %d" % (r.status, len(r.body), len(want))


def qt_table_entry(d, token, tmp):
    r = d.request("GET", "/v1/tables/users/uploads/" + QT_FILE, token=token)
    return r.status == 200 and r.json()["data"] == \
        {"file": QT_FILE, "bytes": QT_SIZE}, repr(r)


def qt_screenshot(d, token, tmp):
    w, h, n = png_colors(os.path.join(tmp, "window.png"))
    # A blank or black picture has one or two colors; a window with text
    # (anti-aliased), frames and a progress bar has dozens.
    return w >= 400 and h >= 200 and n >= 32, \
        "%dx%d pixels, %d colors" % (w, h, n)


def qt_missing():
    """Why the Qt example cannot be built here, or None."""
    for tool in ("cmake", "xvfb-run", "pkg-config"):
        if shutil.which(tool) is None:
            return "no %s" % tool
    if subprocess.run(["pkg-config", "--exists", "Qt6Widgets", "Qt6Network"]
                      ).returncode != 0:
        return "no Qt 6 (qt6-base-dev)"
    return None


QT_BUILD = os.path.join(BUILD, "examples", "qt-build")
# One translation unit (a unity build): a third of the compile time.
QT_BUILD_STEPS = [
    ["cmake", "-S", os.path.join(EXAMPLES_DIR, "qt"), "-B", QT_BUILD,
     "-DCMAKE_UNITY_BUILD=ON"],
    ["cmake", "--build", QT_BUILD],
]


# ---------------------------------------------------------------- the table

def c_program(name):
    return os.path.join(BUILD, "examples", "c", name)


def py_script(name):
    return ["/usr/bin/python3", os.path.join(EXAMPLES_DIR, "python", name)]


# name, build steps, unavailable (why or None), setup, argv, regexes the
# output must match (re.M), checks afterwards.
EXAMPLES = [
    dict(name="curl/tour.sh",
         run=["bash", os.path.join(EXAMPLES_DIR, "curl", "tour.sh")],
         expect=[r'^\{"status":"ok"\}$',
                 r'^\{"store":"scratch","key":"docs/os-release.txt",'
                 r'"etag":"\\"[^"]+\\"","size":\d+\}$',
                 r"^X-Meta-owner: alice",
                 r'"key":"odd name \+ ✓\.txt"',
                 r'"prefixes":\["docs/"\]',
                 r'"code":"precondition_failed"',
                 r"copy\.txt\n204$",
                 r"^200 \d+ bytes$",                      # presigned GET
                 r'"code":"no_such_store"',
                 r'^\{"store":"shared","key":"a.txt"',
                 r'"body":"resize photo 17","dequeue_count":1',
                 r"messages/[A-Za-z0-9_.-]+\n204$",       # ack
                 r'"data":\{"name":"Ann","age":41,"admin":true\}',
                 r"-d '\{\"name\":\"Ann\",\"age\":42\}' .*\n200$",
                 r"-d '\{\"age\":43\}' .*\n412$",
                 r"/eu/bob\n201$",
                 r'"rk":"ann".*"age":42',
                 r"^stratus_http_requests_total\{"]),
    dict(name="c/blobs_parallel",
         run=[c_program("blobs_parallel"), "scratch", "50"],
         expect=[r"^uploaded 50 blobs \(\d+ bytes\) to scratch/parallel/, "
                 r"at most 16 at a time: 0 failed$",
                 r"^downloaded 50 blobs: 0 failed, 50 identical",
                 r"^deleted 50 blobs: 0 failed$"],
         after=[("nothing left under parallel/", blobs_gone("parallel/"))]),
    dict(name="c/queue_worker",
         setup=send_jobs("resize photo 1", "resize photo 2",
                         "send mail to bob"),
         run=[c_program("queue_worker"), "jobs", "1"],
         expect=[r"^done: resize photo 1 -> RESIZE PHOTO 1 \(delivery 1\)$",
                 r"^done: send mail to bob -> SEND MAIL TO BOB",
                 r"^no message for 1 s: 3 done, stopping$"],
         after=[("every job acknowledged", queue_empty)]),
    dict(name="python/blobs.py",
         run=py_script("blobs.py"),
         expect=[r"^under py/notes/: \['py/notes/monday.txt', "
                 r"'py/notes/tuesday.txt'\]$",
                 r"^folders in py/: \['py/notes/', 'py/photos/'\]$",
                 r"^range 0-2: b'buy'$",
                 r"^head: 9 bytes, text/plain, author ann$",
                 r"^create-only on an existing key: 412 precondition_failed$",
                 r"^copy: b'\(not really a cat\)\\n'$",
                 r"^presigned GET, no token: 200 b'call Bob\\n'$",
                 r"^after delete: 404 not_found$"],
         after=[("nothing left under py/", blobs_gone("py/"))]),
    dict(name="python/queue_worker.py",
         setup=send_jobs("resize photo 1", "fail this job",
                         "send mail to bob"),
         run=py_script("queue_worker.py") + ["jobs", "1"],
         expect=[r"^done: resize photo 1 -> 3 words \(delivery 1\)$",
                 r"^failed: fail this job \(delivery 1\), retrying$",
                 r"^failed: fail this job \(delivery 2\), retrying$",
                 r"^gave up: fail this job after 3 deliveries",
                 r"^no message for 1 s: 2 done, stopping$"],
         after=[("every job acknowledged", queue_empty)]),
    dict(name="python/table_counter.py",
         run=py_script("table_counter.py"),
         expect=[r"^visits before: 0$",
                 r"^4 writers added 10 visits each, with \d+ retries on 412$",
                 r"^visits after: 40 \(exact\)$"]),
    dict(name="qt (stratus-qt)",
         unavailable=qt_missing,
         build=QT_BUILD_STEPS,
         setup=qt_file,
         program=os.path.join(QT_BUILD, "stratus-qt"),
         run=["xvfb-run", "-a", "-s", "-screen 0 1280x1024x24",
              os.path.join(QT_BUILD, "stratus-qt"),
              "--self-test", QT_FILE, "--send", "resize " + QT_FILE,
              "--screenshot", "window.png"],
         expect=[r'^sent "resize holiday-photo.jpg" with the Send button$',
                 r"^the queue shows 1 message\(s\)$",
                 r"^uploaded holiday-photo.jpg through the window: "
                 r"progress bar at 100%$",
                 r"^the store lists 1 blob\(s\), holiday-photo.jpg among them$",
                 r"^screenshot: window.png \(\d+x\d+\)$",
                 r'^table users, uploads/holiday-photo.jpg: '
                 r'\{"bytes":%d,"file":"holiday-photo.jpg"\}$' % QT_SIZE],
         after=[("the file is in the store, byte for byte", qt_blob_arrived),
                ("the upload is noted in the table (the Table class)",
                 qt_table_entry),
                ("the screenshot is not blank", qt_screenshot)]),
]


# ---------------------------------------------------------------- driver

def run_example(tap, ex, token, entry):
    name = ex["name"]
    why = ex.get("unavailable", lambda: None)()
    if why:
        if os.environ.get("STRATUS_REQUIRE_EMULATORS"):
            tap.ok(False, "%s: can be built here" % name, why)
        else:
            tap.skip("%s: every case" % name, why)
        return
    for argv in ex.get("build", []):
        p = subprocess.run(argv, capture_output=True, timeout=BUILD_TIMEOUT)
        if not tap.ok(p.returncode == 0, "%s: %s" % (name, " ".join(argv[:2])),
                      (p.stdout + p.stderr).decode("utf-8", "replace")[-3000:]):
            return
    prog = ex.get("program", ex["run"][0])
    if os.path.isabs(prog) and not os.path.exists(prog):
        tap.ok(False, "%s: %s is built" % (name, prog),
               "build it first (make check builds the C examples)")
        return

    with tempfile.TemporaryDirectory(prefix="example-") as tmp, \
            stratus.Daemon(config(entry), name="example") as d:
        if "setup" in ex:
            ex["setup"](d, token, tmp)
        env = stratus.sanitizer_env()
        env.update(STRATUS_URL=d.base_url, STRATUS_TOKEN=token)
        p = subprocess.run(ex["run"], cwd=tmp, env=env, capture_output=True,
                           timeout=RUN_TIMEOUT)
        out = p.stdout.decode("utf-8", "replace")
        err = p.stderr.decode("utf-8", "replace")
        tap.ok(p.returncode == 0, "%s: exits 0" % name,
               "exit %d\nstdout:\n%s\nstderr:\n%s" % (p.returncode, out, err))
        tap.ok(not stratus.sanitizer_report(err),
               "%s: no sanitizer report" % name, err[-3000:])
        for rx in ex["expect"]:
            tap.ok(re.search(rx, out, re.M), "%s prints /%s/" % (name, rx),
                   "stdout:\n" + out)
        for what, check in ex.get("after", []):
            tap.check("%s: %s" % (name, what), check, d, token, tmp)
        d.stop_check(tap, "%s: the daemon exits 0, no sanitizer report" % name,
                     check_log=False)


def main():
    tap = stratus.TAP()
    token, entry = new_token()
    for ex in EXAMPLES:
        try:
            run_example(tap, ex, token, entry)
        except Exception:
            import traceback
            tap.ok(False, "%s: runs" % ex["name"], traceback.format_exc())
    tap.done()


if __name__ == "__main__":
    main()
