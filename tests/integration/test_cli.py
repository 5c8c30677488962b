#!/usr/bin/python3
"""
test_cli.py - the `stratus` command line (man 1 stratus), end to end.

One daemon serves a local blob store, an S3 store on s3rver, an Azure
store on Azurite, a local queue and a local table; the client runs as a
child process, as a person or a script would run it.

  blobs        one table of cases (cp both ways, stdin and stdout, store to
               store, folders with -r, ls, stat, cat, rm, presign, errors
               and their exit codes), run on each of the three stores,
               then copies between providers
  queues and   create, send (argument and stdin), recv, ack; put, get,
  tables       --if-match / --if-none-match (exit 4), ls, rm
  settings     --url, $STRATUS_URL, --unix, $STRATUS_UNIX_SOCKET, unix:
               URLs; --token-file, $STRATUS_TOKEN_FILE, $STRATUS_TOKEN;
               the token never printed; usage, denied and unavailable exit
               codes; a failed download leaves the old file
  progress     in a pseudo-terminal: the bar a person sees (percentage,
               rate, time left, the final line), and none when stderr is
               not a terminal
  streams      cp of 512 MiB each way and of 64 MiB from a pipe keeps
               the client's peak memory (VmHWM, sampled from /proc) within
               a few MiB of a 1 MiB copy; Ctrl-C in the middle of an
               upload from a slow pipe (SIGINT to the process group, as a
               terminal sends it), of an upload of a file and of a
               download leaves the previous blob or file

Each run of the client is also checked for sanitizer reports.
"""

import fcntl
import json
import os
import pty
import re
import select
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import termios
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, HERE)
import stratus  # noqa: E402
import emulators  # noqa: E402

TOKEN = "cli-test-token"
READER = "cli-reader-token"     # get and list on the local store only
TIMEOUT = 120

tap = stratus.TAP()
sanitizer_hits = []


def cli_path():
    p = os.environ.get("STRATUS_CLI")
    if p:
        return p
    return os.path.join(os.path.dirname(stratus.stratusd_path()), "stratus")


class Env:
    """The environment of the client runs: no STRATUS_* from outside."""
    base = {k: v for k, v in stratus.sanitizer_env().items()
            if not k.startswith("STRATUS_")}
    url = None
    token_file = None

    @classmethod
    def make(cls, extra=None, token=True):
        e = dict(cls.base)
        e["STRATUS_URL"] = cls.url
        if token:
            e["STRATUS_TOKEN_FILE"] = cls.token_file
        for k, v in (extra or {}).items():
            if v is None:
                e.pop(k, None)
            else:
                e[k] = v
        return e


class Run:
    def __init__(self, rc, out, err):
        self.rc, self.out, self.err = rc, out, err

    def text(self):
        return self.out.decode("utf-8", "replace")

    def lines(self):
        return [json.loads(x) for x in self.text().splitlines() if x.strip()]

    def __repr__(self):
        return "rc=%r stdout=%r stderr=%r" % (self.rc, self.out[:400],
                                                self.err[:600])


def note_sanitizer(args, err):
    text = err.decode("utf-8", "replace")
    marks = stratus.sanitizer_report(text)
    if marks:
        sanitizer_hits.append("%s: %s\n%s" % (args, marks,
                                              stratus.interesting_stderr(text)))


def cli(*args, stdin=None, env=None, token=True, cwd=None):
    """Runs `stratus ARGS`: a Run (rc, out, err). stdin: bytes or None."""
    argv = [cli_path()] + [str(a) for a in args]
    p = subprocess.run(argv, input=stdin if stdin is not None else b"",
                       capture_output=True, timeout=TIMEOUT, cwd=cwd,
                       env=Env.make(env, token))
    note_sanitizer(args, p.stderr)
    return Run(p.returncode, p.stdout, p.stderr)


def check(name, fn, *args):
    try:
        r = fn(*args)
    except Exception:
        return tap.ok(False, name, traceback.format_exc())
    if isinstance(r, tuple):
        return tap.ok(r[0], name, r[1])
    return tap.ok(r, name)


# ---------------------------------------------------------------- blobs

CONTENT = b"hello from the command line\n" * 3
BINARY = bytes(range(256)) * 1000 + b"tail"


class Ctx:
    """What one run of the blob table works with."""

    def __init__(self, store, work, features):
        self.s = store
        self.work = work
        self.features = features
        self.f = os.path.join(work, "in-" + store)
        os.makedirs(self.f, exist_ok=True)
        with open(os.path.join(self.f, "a.txt"), "wb") as f:
            f.write(CONTENT)
        with open(os.path.join(self.f, "bin.dat"), "wb") as f:
            f.write(BINARY)
        self.tree = os.path.join(self.f, "tree")
        # s3rver cannot copy from a key with a '+' (test_blob_s3.py).
        self.odd = "odd name +.txt" if "copy_reserved" in features else \
            "odd name.txt"
        self.files = (("one", b"1"), ("sub/two", b"22"),
                      ("sub/deep/three", b"333"), (self.odd, b"4"))
        for rel, data in self.files:
            p = os.path.join(self.tree, rel)
            os.makedirs(os.path.dirname(p), exist_ok=True)
            with open(p, "wb") as f:
                f.write(data)
        self.out = os.path.join(work, "out-" + store)
        os.makedirs(self.out, exist_ok=True)


def c_upload(c):
    r = cli("cp", os.path.join(c.f, "a.txt"), "%s/docs/a.txt" % c.s)
    g = cli("cat", "%s/docs/a.txt" % c.s)
    return (r.rc == 0 and r.out == b"" and g.rc == 0 and g.out == CONTENT,
            "%r %r" % (r, g))


def c_upload_json(c):
    r = cli("--json", "cp", os.path.join(c.f, "bin.dat"), "%s/docs/" % c.s)
    j = r.lines()
    types = [cli("--json", "stat", "%s/docs/%s" % (c.s, k)).lines()[0]
             .get("content_type") for k in ("a.txt", "bin.dat")]
    return (r.rc == 0 and len(j) == 1 and j[0]["key"] == "docs/bin.dat" and
            j[0]["size"] == len(BINARY) and j[0]["etag"].startswith('"') and
            types == ["text/plain; charset=utf-8",
                      "application/octet-stream"],
            "%r %r" % (r, types))


def c_stdin(c):
    r = cli("cp", "-", "%s/docs/stdin.bin" % c.s, stdin=BINARY)
    g = cli("cp", "%s/docs/stdin.bin" % c.s, "-")
    return r.rc == 0 and g.rc == 0 and g.out == BINARY, "%r %r" % (r, g)


def c_download(c):
    dst = os.path.join(c.out, "a-copy.txt")
    r = cli("cp", "%s/docs/a.txt" % c.s, dst)
    r2 = cli("cp", "%s/docs/bin.dat" % c.s, c.out)     # into a folder
    with open(dst, "rb") as f:
        a = f.read()
    with open(os.path.join(c.out, "bin.dat"), "rb") as f:
        b = f.read()
    left = [n for n in os.listdir(c.out) if ".stratus-" in n]
    return (r.rc == 0 and r2.rc == 0 and a == CONTENT and b == BINARY and
            not left, "%r %r %r" % (r, r2, left))


def c_metadata(c):
    r = cli("cp", "--content-type", "text/plain", "--meta", "owner=alice",
            "--meta", "Team=blue", os.path.join(c.f, "a.txt"),
            "%s/docs/meta.txt" % c.s)
    s = cli("--json", "stat", "%s/docs/meta.txt" % c.s)
    j = s.lines()[0] if s.rc == 0 else {}
    h = cli("stat", "%s/docs/meta.txt" % c.s)
    return (r.rc == 0 and j.get("size") == len(CONTENT) and
            j.get("content_type", "").startswith("text/plain") and
            j.get("metadata") == {"owner": "alice", "team": "blue"} and
            j.get("etag", "").startswith('"') and
            b"meta:          owner: alice" in h.out and
            b"size:          %d" % len(CONTENT) in h.out,
            "%r %r %r" % (r, s, h))


def c_ls(c):
    r = cli("ls", "%s/docs/" % c.s)
    top = cli("ls", c.s)
    j = cli("ls", "--json", "%s/docs/" % c.s)
    keys = [x.get("key") for x in j.lines()]
    return (r.rc == 0 and b"docs/a.txt" in r.out and
            re.search(rb"\b%d\s+\S+\s+docs/bin.dat" % len(BINARY), r.out) and
            re.search(rb"DIR\s+docs/", top.out) and
            keys == sorted(keys) and "docs/a.txt" in keys and
            all("size" in x and "etag" in x for x in j.lines()),
            "%r\n%r\n%r" % (r, top, j))


def c_ls_stores(c):
    r = cli("ls")
    j = cli("--json", "ls").lines()
    mine = [x for x in j if x.get("name") == c.s]
    return (r.rc == 0 and re.search(rb"^%s\s+blob\b" % c.s.encode(), r.out,
                                    re.M) and len(mine) == 1 and
            "put" in mine[0].get("rights", []), repr(r))


def c_copy_in_store(c):
    r = cli("cp", "%s/docs/a.txt" % c.s, "%s/copies/" % c.s)
    g = cli("cat", "%s/copies/a.txt" % c.s)
    return r.rc == 0 and g.out == CONTENT, "%r %r" % (r, g)


def c_missing(c):
    r = cli("cat", "%s/docs/nope.txt" % c.s)
    s = cli("stat", "%s/docs/nope.txt" % c.s)
    err = r.err.decode()
    return (r.rc == 2 and s.rc == 2 and r.out == b"" and
            "not_found" in err and "nope.txt" in err and
            re.search(r"request id [0-9a-f]{32}", err) and
            re.search(r"request id [0-9a-f]{32}", s.err.decode()),
            "%r %r" % (r, s))


def c_no_clobber(c):
    r = cli("cp", "-n", os.path.join(c.f, "bin.dat"), "%s/docs/a.txt" % c.s)
    g = cli("cat", "%s/docs/a.txt" % c.s)
    return (r.rc == 4 and b"precondition_failed" in r.err and
            g.out == CONTENT, "%r" % r)


def c_tree(c):
    up = cli("cp", "-r", c.tree, "%s/tree" % c.s)
    ls = cli("--json", "ls", "-r", "%s/tree/" % c.s)
    keys = [x["key"] for x in ls.lines()]
    down = cli("cp", "-r", "%s/tree" % c.s, os.path.join(c.out, "tree"))
    same = True
    for rel, data in c.files:
        with open(os.path.join(c.out, "tree", rel), "rb") as f:
            same = same and f.read() == data
    want = sorted("tree/" + k for k, _ in c.files)
    return (up.rc == 0 and down.rc == 0 and sorted(keys) == want and same,
            "%r %r %r" % (up, keys, down))


def c_tree_copy(c):
    r = cli("cp", "-r", "%s/tree/" % c.s, "%s/tree2" % c.s)
    g = cli("cat", "%s/tree2/sub/deep/three" % c.s)
    o = cli("cat", "%s/tree2/%s" % (c.s, c.odd))
    return (r.rc == 0 and g.out == b"333" and o.out == b"4",
            "%r %r %r" % (r, g, o))


def c_rm(c):
    r = cli("rm", "%s/docs/meta.txt" % c.s)
    s = cli("stat", "%s/docs/meta.txt" % c.s)
    rr = cli("rm", "-r", "%s/tree" % c.s)
    ls = cli("ls", "-r", "%s/tree/" % c.s)
    other = cli("ls", "-r", "%s/tree2/" % c.s)
    return (r.rc == 0 and s.rc == 2 and rr.rc == 0 and ls.rc == 0 and
            ls.out == b"" and b"tree2/one" in other.out,
            "%r %r %r %r" % (r, s, rr, ls))


def c_presign(c):
    r = cli("presign", "-e", "300", "%s/docs/a.txt" % c.s)
    url = r.text().strip()
    g = stratus.url_request(url) if url.startswith("http://") else None
    j = cli("--json", "presign", "-m", "PUT", "%s/docs/put.txt" % c.s)
    pj = j.lines()[0] if j.rc == 0 else {}
    hdrs = dict(pj.get("headers", {}))
    hdrs["Content-Length"] = "3"
    p = stratus.url_request(pj.get("url", "http://x/"), "PUT", hdrs, b"abc") \
        if j.rc == 0 else None
    back = cli("cat", "%s/docs/put.txt" % c.s)
    return (r.rc == 0 and g is not None and g.status == 200 and
            g.body == CONTENT and pj.get("method") == "PUT" and
            p is not None and p.status in (200, 201) and back.out == b"abc",
            "%r %r %r %r %r" % (r, g, j, p, back))


def c_bad_key(c):
    r = cli("cp", os.path.join(c.f, "a.txt"), "%s/a//b" % c.s)
    return r.rc == 1 and b"invalid_key" in r.err, repr(r)


BLOB_CASES = [
    ("cp FILE STORE/KEY uploads, cat reads it back", c_upload, None),
    ("cp --json FILE STORE/DIR/ names the key after the file; the type "
     "is guessed from the extension", c_upload_json, None),
    ("cp - STORE/KEY reads stdin, cp STORE/KEY - writes stdout", c_stdin,
     None),
    ("cp STORE/KEY FILE and into a folder, no temporary file left",
     c_download, None),
    ("cp --content-type --meta, stat and stat --json show them", c_metadata,
     None),
    ("ls STORE/PREFIX/, ls STORE (folders), ls --json in key order", c_ls,
     None),
    ("ls lists the stores with kind and rights", c_ls_stores, None),
    ("cp STORE/KEY STORE/DIR/ copies inside the store", c_copy_in_store, None),
    ("cat and stat of a missing blob: exit 2, message and request id",
     c_missing, None),
    ("cp -n onto an existing blob: exit 4, the blob unchanged", c_no_clobber,
     "conditional_put"),
    ("cp -r FOLDER STORE/PREFIX and back into a folder", c_tree, None),
    ("cp -r STORE/PREFIX/ STORE/PREFIX2 copies every key", c_tree_copy, None),
    ("rm STORE/KEY, rm -r STORE/PREFIX", c_rm, None),
    ("presign: a GET URL and a PUT URL that work without a token", c_presign,
     "presign"),
    ("a key the daemon refuses: exit 1 with invalid_key", c_bad_key, None),
]


def blob_table(store, work, features):
    c = Ctx(store, work, features)
    for name, fn, needs in BLOB_CASES:
        full = "%s: %s" % (store, name)
        if needs and needs not in features:
            tap.skip(full, "the emulator lacks %s (see test_blob_s3.py)" %
                     needs)
            continue
        check(full, fn, c)


def cross_provider(stores):
    """A blob copied from each store to each other one, by the daemon."""
    for a in stores:
        for b in stores:
            if a == b:
                continue
            r = cli("cp", "%s/docs/stdin.bin" % a, "%s/from-%s/x.bin" % (b, a))
            g = cli("cp", "%s/from-%s/x.bin" % (b, a), "-")
            tap.ok(r.rc == 0 and g.out == BINARY,
                   "cp %s/KEY %s/KEY: copied between providers" % (a, b),
                   "%r %r" % (r, g))


# ---------------------------------------------------------------- queues, tables

def queue_cases():
    r = cli("queue", "create", "jobs")
    r2 = cli("--json", "queue", "create", "jobs")
    tap.ok(r.rc == 0 and b"created" in r.out and r2.rc == 0 and
           r2.lines()[0]["created"] == "existed",
           "queue create: created, then already there", "%r %r" % (r, r2))
    a = cli("queue", "send", "jobs", "resize photo 17")
    b = cli("--json", "queue", "send", "jobs", stdin="from stdin ✓".encode())
    tap.ok(a.rc == 0 and re.match(rb"^\S+\n$", a.out) and b.rc == 0 and
           "id" in b.lines()[0],
           "queue send: a message from the argument and from stdin",
           "%r %r" % (a, b))
    got = cli("--json", "queue", "recv", "-n", "10", "-v", "60", "-w", "5",
              "jobs")
    msgs = got.lines() if got.rc == 0 else []
    tap.ok(sorted(m["body"] for m in msgs) ==
           ["from stdin ✓", "resize photo 17"] and
           all(m["dequeue_count"] == 1 and m["receipt"] for m in msgs),
           "queue recv --json: both messages, one JSON object each", repr(got))
    ack = cli("queue", "ack", "jobs", *[m["receipt"] for m in msgs])
    again = cli("queue", "ack", "jobs", msgs[0]["receipt"] if msgs else "x")
    tap.ok(ack.rc == 0 and again.rc == 2 and b"request id" in again.err,
           "queue ack: 0, then an unknown receipt is exit 2",
           "%r %r" % (ack, again))
    cli("queue", "send", "jobs", "second")
    h = cli("queue", "recv", "-w", "5", "jobs")
    tap.ok(h.rc == 0 and re.search(rb"^receipt \S+  id \S+  delivery 1  "
                                   rb"enqueued \S+Z\nsecond\n", h.out),
           "queue recv: a header line and the body for a person", repr(h))
    e = cli("queue", "send", "jobs", stdin=b"")
    n = cli("queue", "send", "nosuchqueue", "x")
    tap.ok(e.rc == 1 and b"bad_request" in e.err and n.rc == 2,
           "queue send: an empty message is exit 1, no such queue exit 2",
           "%r %r" % (e, n))


def table_cases():
    r = cli("table", "create", "users")
    tap.ok(r.rc == 0, "table create", repr(r))
    p = cli("table", "put", "users", "eu", "ann",
            '{"name":"Ann","age":41,"admin":true}')
    etag = p.text().strip()
    g = cli("table", "get", "users", "eu", "ann")
    gj = cli("--json", "table", "get", "users", "eu", "ann")
    tap.ok(p.rc == 0 and etag.startswith('"') and g.rc == 0 and
           json.loads(g.out) == {"name": "Ann", "age": 41, "admin": True} and
           gj.lines()[0]["etag"] == etag,
           "table put prints the ETag; get prints the data (--json: all)",
           "%r %r %r" % (p, g, gj))
    u = cli("table", "put", "--if-match", etag, "users", "eu", "ann",
            '{"name":"Ann","age":42}')
    stale = cli("table", "put", "--if-match", etag, "users", "eu", "ann",
                '{"age":43}')
    ins = cli("table", "put", "--if-none-match", "users", "eu", "ann", "-",
              stdin=b'{"x":1}')
    tap.ok(u.rc == 0 and stale.rc == 4 and ins.rc == 4 and
           b"precondition_failed" in stale.err,
           "table put --if-match: 0, then stale: exit 4; --if-none-match on "
           "an existing row: exit 4", "%r %r %r" % (u, stale, ins))
    cli("table", "put", "users", "eu", "bob", "-", stdin=b'{"name":"Bob"}')
    ls = cli("table", "ls", "users", "eu")
    lj = cli("--json", "table", "ls", "-p", "b", "users", "eu")
    tap.ok(ls.rc == 0 and ls.out.startswith(b"ann\t{") and b"\nbob\t" in
           ls.out and [x["rk"] for x in lj.lines()] == ["bob"],
           "table ls: the partition in row-key order; -p filters",
           "%r %r" % (ls, lj))
    d = cli("table", "rm", "users", "eu", "bob")
    gone = cli("table", "get", "users", "eu", "bob")
    bad = cli("table", "put", "users", "eu", "x", "[1]")
    tap.ok(d.rc == 0 and gone.rc == 2 and bad.rc == 1 and
           b"invalid_json" in bad.err,
           "table rm; get of a missing row exit 2; a non-object exit 1",
           "%r %r %r" % (d, gone, bad))


# ---------------------------------------------------------------- settings

def port_free(port):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def settings_cases(d, work):
    good = Env.url
    closed = "http://127.0.0.1:9"      # discard port: nothing listens
    r = cli("--url", good, "ls", "loc", env={"STRATUS_URL": closed})
    tap.ok(r.rc == 0, "--url beats $STRATUS_URL", repr(r))
    r = cli("ls", "loc", env={"STRATUS_URL": closed})
    tap.ok(r.rc == 5 and b"127.0.0.1:9" not in r.out,
           "an unreachable daemon: exit 5", repr(r))
    name = "no URL at all means 127.0.0.1:8980"
    if port_free(8980):
        r = cli("ls", "loc", env={"STRATUS_URL": None})
        tap.ok(r.rc == 5 and b"8980" in r.err, name + " (nothing there: "
               "exit 5)", repr(r))
    else:
        tap.skip(name, "something listens on 127.0.0.1:8980 here")
    sock = d.unix_path
    for how, args, env in (
            ("--unix", ["--unix", sock], {"STRATUS_URL": closed}),
            ("$STRATUS_UNIX_SOCKET", [], {"STRATUS_UNIX_SOCKET": sock,
                                          "STRATUS_URL": None}),
            ("a unix: URL", ["--url", "unix:" + sock], {}),
            ("$STRATUS_URL=unix:PATH", [], {"STRATUS_URL": "unix:" + sock})):
        r = cli(*(args + ["cat", "loc/docs/a.txt"]), env=env)
        tap.ok(r.rc == 0 and r.out == CONTENT,
               "the Unix socket through %s" % how, repr(r))

    tf = os.path.join(work, "token")
    with open(tf, "w") as f:
        f.write(TOKEN + "\n")
    for how, args, env in (
            ("--token-file", ["--token-file", tf], {"STRATUS_TOKEN_FILE": None}),
            ("$STRATUS_TOKEN_FILE", [], {"STRATUS_TOKEN_FILE": tf}),
            ("$STRATUS_TOKEN", [], {"STRATUS_TOKEN_FILE": None,
                                    "STRATUS_TOKEN": TOKEN}),
            ("--token-file before $STRATUS_TOKEN", ["--token-file", tf],
             {"STRATUS_TOKEN": "wrong"})):
        r = cli(*(args + ["cat", "loc/docs/a.txt"]), env=env)
        tap.ok(r.rc == 0 and r.out == CONTENT, "the token from %s" % how,
               repr(r))

    secret = "not-a-known-token-5d1e"
    r = cli("-q", "cp", "-", "loc/x", stdin=b"x",
            env={"STRATUS_TOKEN_FILE": None, "STRATUS_TOKEN": secret})
    tap.ok(r.rc == 3 and b"unauthorized" in r.err and
           secret.encode() not in r.out + r.err,
           "an unknown token: exit 3, and the token is not printed", repr(r))
    r = cli("cat", "loc/docs/a.txt", token=False)
    tap.ok(r.rc == 3, "no token where one is needed: exit 3", repr(r))
    r = cli("cp", "-", "loc/ro", stdin=b"x",
            env={"STRATUS_TOKEN_FILE": None, "STRATUS_TOKEN": READER})
    tap.ok(r.rc == 3 and b"forbidden" in r.err and b"'put'" in r.err,
           "a token without the put right: exit 3 naming the right", repr(r))
    r = cli("ls", "s3", env={"STRATUS_TOKEN_FILE": None,
                              "STRATUS_TOKEN": READER})
    tap.ok(r.rc == 2 and b"no_such_store" in r.err,
           "a store the token has no right on: exit 2", repr(r))

    for args, why in ((["nosuch"], "an unknown command"),
                      ([], "no command"),
                      (["ls", "--bogus"], "an unknown option"),
                      (["cp", "only-one"], "cp with one operand"),
                      (["queue", "recv", "-n", "99", "jobs"],
                       "queue recv -n out of range"),
                      (["cp", "/etc/hostname", "/tmp/x"], "cp with no store"),
                      (["--url", "ftp://x", "ls"], "a URL that is not http")):
        r = cli(*args)
        tap.ok(r.rc == 1 and r.err and r.out == b"",
               "usage: %s is exit 1 with a message" % why, repr(r))
    r = cli("--help")
    tap.ok(r.rc == 0 and b"usage: stratus" in r.out and b"exit status" in r.out,
           "--help prints the usage on stdout", repr(r))

    r = cli("cp", "nosuch/a.txt", os.path.join(work, "x"))
    tap.ok(r.rc == 2 and b"no blob store 'nosuch'" in r.err,
           "cp from a store that does not exist: exit 2, naming it", repr(r))

    # A reader that stops early: no message, a failure status.
    p = subprocess.Popen([cli_path(), "cat", "loc/docs/bin.dat"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env=Env.make())
    head = p.stdout.read(10)
    p.stdout.close()
    err = p.stderr.read()
    p.wait(TIMEOUT)
    note_sanitizer(["cat", "| head"], err)
    tap.ok(head == BINARY[:10] and p.returncode == 6 and err == b"",
           "cat into a pipe closed early: exit 6, no message",
           "rc=%r err=%r" % (p.returncode, err))

    # A local folder named like a store makes a bare name ambiguous.
    os.makedirs(os.path.join(work, "loc"), exist_ok=True)
    r = cli("cp", "loc/docs/a.txt", "out.txt", cwd=work)
    r2 = cli("cp", "stratus://loc/docs/a.txt", "./out.txt", cwd=work)
    tap.ok(r.rc == 1 and b"stratus://" in r.err and r2.rc == 0 and
           open(os.path.join(work, "out.txt"), "rb").read() == CONTENT,
           "a name both a store and a local folder is refused; stratus:// "
           "and ./ tell them apart", "%r %r" % (r, r2))

    # A failed download leaves the old file and no temporary file.
    old = os.path.join(work, "keep.txt")
    with open(old, "wb") as f:
        f.write(b"previous")
    r = cli("cp", "loc/docs/missing", old)
    left = [n for n in os.listdir(work) if ".stratus-" in n]
    tap.ok(r.rc == 2 and open(old, "rb").read() == b"previous" and not left,
           "a failed download leaves the target as it was", "%r %r" %
           (r, left))


# ---------------------------------------------------------------- progress

def pty_run(args, env=None):
    """Runs the client with stderr on a pseudo-terminal (stdout to a pipe):
    (rc, what the terminal showed, stdout)."""
    master, slave = pty.openpty()
    # An 80-column terminal, as a person's default.
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    argv = [cli_path()] + [str(a) for a in args]
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=slave, env=Env.make(env))
    os.close(slave)
    seen = b""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        rl, _, _ = select.select([master], [], [], 0.5)
        if rl:
            try:
                chunk = os.read(master, 65536)
            except OSError:         # EIO: the child closed the terminal
                break
            if not chunk:
                break
            seen += chunk
        elif p.poll() is not None:
            break
    out = p.stdout.read()
    p.wait(TIMEOUT)
    os.close(master)
    note_sanitizer(args, seen)
    return p.returncode, seen.decode("utf-8", "replace"), out


def progress_cases(work):
    big = os.path.join(work, "progress.bin")
    with open(big, "wb") as f:
        f.write(os.urandom(1 << 20) * 48)
    rc, shown, _ = pty_run(["cp", big, "loc/progress.bin"])
    # What a person sees: the redraws (\r) of one line, then a final line.
    states = [s.strip() for s in re.split(r"[\r\n]", shown) if s.strip()]
    final = states[-1] if states else ""
    tap.ok(rc == 0 and re.search(
        r"^progress\.bin  \[=+\] 100%  48\.0 MiB  [\d.]+ [KMG]?i?B/s  "
        r"in \d\d:\d\d$", final) and shown.endswith("\n"),
        "upload on a terminal: the final line (100%, size, rate, time)",
        repr(shown[-600:]))
    redraw = re.compile(
        r"^progress\.bin  \[[=> ]+\] +(\d+)%  [\d.]+( [KMG]?i?B)?/48\.0 MiB  "
        r"[\d.]+ [KMG]?i?B/s  (\d\d:\d\d|--:--) left$")
    mid = [redraw.match(s) for s in states[:-1]]
    pcts = [int(m.group(1)) for m in mid if m]
    tap.ok(len(mid) >= 1 and all(mid) and pcts == sorted(pcts) and
           all(len(s) < 80 for s in re.split(r"[\r\n]", shown)),
           "upload on a terminal: each redraw shows the name, percent, bytes, "
           "rate and time left, on one 80-column line (%d redraws, %s%%)" % (
               len(mid), pcts), repr(states[:8]))
    dst = os.path.join(work, "progress.back")
    rc, shown, _ = pty_run(["cp", "loc/progress.bin", dst])
    tap.ok(rc == 0 and re.search(r"progress\.bin  \[=+\] 100%  48\.0 MiB  "
                                 r"[\d.]+ [KMG]?i?B/s  in \d\d:\d\d *\r?\n$",
                                 shown) and
           os.path.getsize(dst) == 48 << 20,
           "download on a terminal: the same final line", repr(shown[-400:]))
    rc, shown, _ = pty_run(["-q", "cp", big, "loc/progress2.bin"])
    small = os.path.join(work, "small.txt")
    with open(small, "wb") as f:
        f.write(b"tiny")
    rc2, shown2, _ = pty_run(["cp", small, "loc/small.txt"])
    tap.ok(rc == 0 and shown == "" and rc2 == 0 and shown2 == "",
           "no bar with -q, nor for a small file", repr(shown + shown2))
    r = cli("cp", big, "loc/progress3.bin")
    tap.ok(r.rc == 0 and r.err == b"",
           "no bar when stderr is not a terminal", repr(r))


# ---------------------------------------------------------------- streams

def io_count(pid, field):
    """A counter of /proc/PID/io (rchar: bytes read, wchar: written)."""
    try:
        with open("/proc/%d/io" % pid) as f:
            for line in f:
                k, v = line.split(":")
                if k == field:
                    return int(v)
    except OSError:
        pass
    return -1


def interrupt(client, field, at, group=None):
    """Waits until the client has moved `at` bytes (never a timing
    assumption: progress is read from /proc), then sends SIGINT to it, or
    to its whole process group as a terminal's Ctrl-C does. Returns
    whether it was still running then, and (rc, stderr)."""
    stratus.wait_until(lambda: client.poll() is not None or
                       io_count(client.pid, field) >= at, TIMEOUT)
    running = client.poll() is None
    if group:
        os.killpg(group, signal.SIGINT)
    else:
        client.send_signal(signal.SIGINT)
    out, err = client.communicate(timeout=TIMEOUT)
    note_sanitizer(["interrupted"], err)
    return running, client.returncode, err


def ctrl_c_pipe(work):
    """`slow | stratus cp - loc/KEY` in a process group of its own, with
    SIGINT to the whole group: the writer dies too, so the client sees the
    end of its input together with the signal, and must abort rather than
    finish the upload with what it has."""
    key = "loc/interrupted.bin"
    cli("cp", "-", key, stdin=b"the old version")
    slow = ("import sys, time\n"
            "for i in range(600):\n"
            "    sys.stdout.buffer.write(b'z' * 65536)\n"
            "    sys.stdout.flush()\n"
            "    time.sleep(0.05)\n")
    writer = subprocess.Popen([sys.executable, "-c", slow],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              preexec_fn=os.setpgrp)
    client = subprocess.Popen([cli_path(), "cp", "-", key],
                              stdin=writer.stdout, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, env=Env.make(),
                              preexec_fn=lambda: os.setpgid(0, writer.pid))
    writer.stdout.close()
    running, rc, err = interrupt(client, "rchar", 1 << 20, group=writer.pid)
    writer.wait(TIMEOUT)
    g = cli("cat", key)
    return (running and rc == 130 and b"interrupted" in err and
            g.out == b"the old version",
            "running=%r rc=%r err=%r now=%r" % (running, rc, err, g.out[:40]))


def ctrl_c_file(work):
    """cp of a 512 MiB file (sent with its length), SIGINT after 16 MiB."""
    key = "loc/interrupted-file.bin"
    cli("cp", "-", key, stdin=b"the old version")
    client = subprocess.Popen([cli_path(), "cp", os.path.join(work, "mem-big"),
                               key], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, env=Env.make())
    running, rc, err = interrupt(client, "rchar", 16 << 20)
    g = cli("cat", key)
    return (running and rc == 130 and g.out == b"the old version",
            "running=%r rc=%r err=%r now=%r" % (running, rc, err, g.out[:40]))


def ctrl_c_download(work):
    """cp of a 512 MiB blob into a file that exists, SIGINT after 16 MiB:
    the file keeps its old content, no temporary file is left."""
    dst = os.path.join(work, "dl", "target.bin")
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    with open(dst, "wb") as f:
        f.write(b"previous")
    client = subprocess.Popen([cli_path(), "cp", "loc/mem-big", dst],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              env=Env.make())
    running, rc, err = interrupt(client, "wchar", 16 << 20)
    left = os.listdir(os.path.dirname(dst))
    with open(dst, "rb") as f:
        now = f.read(100)
    return (running and rc == 130 and now == b"previous" and
            left == ["target.bin"],
            "running=%r rc=%r err=%r now=%r left=%r" % (running, rc, err, now,
                                                        left))


CTRL_C_CASES = [
    ("Ctrl-C during an upload from a pipe whose writer stops with it: "
     "exit 130, the old version stays", ctrl_c_pipe),
    ("Ctrl-C during an upload of a file: exit 130, the old version stays",
     ctrl_c_file),
    ("Ctrl-C during a download: exit 130, the old file stays, no temporary "
     "file", ctrl_c_download),
]


def ctrl_c_cases(work):
    for name, fn in CTRL_C_CASES:
        check(name, fn, work)
    cli("rm", "loc/mem-big")


def peak(args, stdin_size=None):
    """Runs the client, sampling VmHWM (its peak resident memory) from
    /proc until it exits: (rc, peak in KiB)."""
    p = subprocess.Popen([cli_path()] + list(args),
                         stdin=subprocess.PIPE if stdin_size else
                         subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, env=Env.make())
    hwm = 0

    def sample():
        nonlocal hwm
        try:
            with open("/proc/%d/status" % p.pid) as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        hwm = max(hwm, int(line.split()[1]))
        except OSError:
            pass

    if stdin_size:
        piece = b"p" * (1 << 20)
        for _ in range(stdin_size >> 20):
            p.stdin.write(piece)
            sample()
        p.stdin.close()
    while p.poll() is None:
        sample()
        time.sleep(0.02)
    err = p.stderr.read()
    note_sanitizer(args, err)
    return p.returncode, hwm, err


def memory_cases(work):
    small = os.path.join(work, "mem-small")
    with open(small, "wb") as f:
        f.write(b"s" * (1 << 20))
    big = os.path.join(work, "mem-big")
    with open(big, "wb") as f:
        f.truncate(512 << 20)             # sparse: no disk, no page cache
    rc0, base, e0 = peak(["cp", small, "loc/mem-small"])
    rc1, up, e1 = peak(["cp", big, "loc/mem-big"])
    rc2, down, e2 = peak(["cp", "loc/mem-big", "/dev/null"])
    rc3, piped, e3 = peak(["cp", "-", "loc/mem-pipe"], stdin_size=64 << 20)
    st = cli("--json", "stat", "loc/mem-big")
    st2 = cli("--json", "stat", "loc/mem-pipe")
    size = st.lines()[0]["size"] if st.rc == 0 else None
    size2 = st2.lines()[0]["size"] if st2.rc == 0 else None
    limit = 4 << 10   # KiB: 4 MiB over the peak of a 1 MiB copy
    tap.diag("client VmHWM: 1 MiB copy %d KiB; 512 MiB up %d KiB, down %d "
             "KiB; 64 MiB from a pipe %d KiB" % (base, up, down, piped))
    tap.ok(rc0 == 0 and rc1 == 0 and size == 512 << 20 and
           up - base < limit,
           "cp of a 512 MiB file up: peak memory within 4 MiB of a 1 MiB "
           "copy (%d vs %d KiB)" % (up, base), "%r %r %r" % (e0, e1, st))
    tap.ok(rc2 == 0 and down - base < limit,
           "cp of 512 MiB down: peak memory within 4 MiB of a 1 MiB copy "
           "(%d KiB)" % down, repr(e2))
    tap.ok(rc3 == 0 and size2 == 64 << 20 and piped - base < limit,
           "cp of 64 MiB from a pipe (chunked): peak memory within 4 MiB "
           "(%d KiB)" % piped, "%r %r" % (e3, st2))


# ---------------------------------------------------------------- main

def have(name):
    if os.access(os.path.join(emulators.NODE_BIN, name), os.X_OK):
        return True
    if os.environ.get("STRATUS_REQUIRE_EMULATORS"):
        tap.ok(False, "emulator %s installed in %s" % (name,
                                                       emulators.NODE_BIN))
    return False


def main():
    if not os.access(cli_path(), os.X_OK):
        print("1..0 # SKIP no client at %s" % cli_path())
        return 0
    with tempfile.TemporaryDirectory(prefix="cli-") as work:
        s3 = az = None
        stores = [stratus.store_conf("loc", {"provider": "local",
                                             "path": os.path.join(work, "loc")}),
                  stratus.store_conf("jobs", {"provider": "local",
                                              "path": os.path.join(work, "q")},
                                     kind="queue"),
                  stratus.store_conf("users", {"provider": "local",
                                               "path": os.path.join(work, "t")},
                                     kind="table")]
        creds = []
        blob_stores = [("loc", {"conditional_put", "presign",
                                "copy_reserved"})]
        try:
            if have("s3rver"):
                s3 = emulators.S3rver(work, ["clis3"])
                stores.append(stratus.store_conf("s3", {
                    "provider": "s3", "bucket": "clis3",
                    "region": "us-east-1", "credentials": "s3emu",
                    "endpoint": s3.endpoint}))
                creds.append(s3.credentials_conf("s3emu"))
                # s3rver ignores conditional writes (test_blob_s3.py).
                blob_stores.append(("s3", {"presign"}))
            else:
                tap.skip("blobs on s3rver", "s3rver not installed")
            if have("azurite-blob"):
                from test_blob_azure import Azurite
                az = Azurite(work, ["cliaz"])
                stores.append(az.store("az", "cliaz", credentials="azemu"))
                creds.append(az.credentials_conf("azemu"))
                blob_stores.append(("az", {"conditional_put", "presign",
                                            "copy_reserved"}))
            else:
                tap.skip("blobs on Azurite", "azurite not installed")
            sock = os.path.join(work, "api.sock")
            config = stratus.make_config(
                stores,
                [stratus.client_conf("cli", TOKEN, ["blob:*:*", "queue:*:*",
                                                     "table:*:*"]),
                 stratus.client_conf("reader", READER, ["blob:loc:get,list"])],
                listen={"unix": sock}, allow_anonymous=False,
                extra=("credentials = { %s };" % " ".join(creds))
                if creds else "")
            with stratus.Daemon(config, name="cli") as d:
                Env.url = d.base_url
                Env.token_file = os.path.join(work, "token-env")
                with open(Env.token_file, "w") as f:
                    f.write(TOKEN + "\n")
                for store, features in blob_stores:
                    blob_table(store, os.path.join(work, "b"), features)
                cross_provider([s for s, _ in blob_stores])
                for name, fn, args in (
                        ("queues", queue_cases, ()),
                        ("tables", table_cases, ()),
                        ("settings", settings_cases, (d, work)),
                        ("progress", progress_cases, (work,)),
                        ("memory", memory_cases, (work,)),
                        ("ctrl-c", ctrl_c_cases, (work,))):
                    try:
                        fn(*args)
                    except Exception:
                        tap.ok(False, name, traceback.format_exc())
                tap.ok(not sanitizer_hits,
                       "no sanitizer report from any run of the client",
                       "\n\n".join(sanitizer_hits[:3]))
                d.stop_check(tap, "the daemon exits 0, no sanitizer report")
        finally:
            if s3:
                s3.stop()
            if az:
                az.stop()
    tap.done()


if __name__ == "__main__":
    sys.exit(main())
