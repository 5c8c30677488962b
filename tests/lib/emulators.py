"""
emulators.py - provider emulators for the tests, started and stopped here.

Each runs on 127.0.0.1 on a port the system picks, in a temporary
directory, and is stopped by its PID (never by name). They come from npm
(tests/package.json, installed into tests/node_modules by tests/run).

    with S3rver(workdir, buckets=["a", "b"]) as s3:
        s3.endpoint            # "http://127.0.0.1:PORT"
        s3.credentials_conf()  # a credentials = {...}; block for stratusd
"""

import os
import re
import signal
import subprocess
import threading
import time

TESTS_DIR = os.path.normpath(os.path.join(os.path.dirname(
    os.path.abspath(__file__)), ".."))
NODE_BIN = os.environ.get("STRATUS_NODE_BIN") or os.path.join(
    TESTS_DIR, "node_modules", ".bin")
START_TIMEOUT = 120


def require(*names):
    """Stops a test file that needs npm emulators when they are not
    installed: a TAP skip of the whole file, so that `make distcheck` (whose
    tree has no node_modules) can run. tests/run installs them and sets
    STRATUS_REQUIRE_EMULATORS, so there their absence is a failure."""
    missing = [n for n in names
               if not os.access(os.path.join(NODE_BIN, n), os.X_OK)]
    if not missing:
        return
    if os.environ.get("STRATUS_REQUIRE_EMULATORS"):
        print("1..1\nnot ok 1 - emulators installed: missing %s in %s" % (
            ", ".join(missing), NODE_BIN))
        raise SystemExit(1)
    print("1..0 # SKIP npm emulators not installed (%s); tests/run installs "
          "them" % ", ".join(missing))
    raise SystemExit(0)


class EmulatorError(Exception):
    pass


class _Process:
    """A child whose output is read in the background until a line tells
    the port it listens on."""

    def __init__(self, argv, cwd, ready_regex, env=None):
        self.lines = []
        self.cond = threading.Condition()
        self.proc = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.DEVNULL,
                                     env=env,
                                     stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT)
        threading.Thread(target=self._read, daemon=True).start()
        deadline = time.monotonic() + START_TIMEOUT
        rx = re.compile(ready_regex)
        with self.cond:
            while True:
                for line in self.lines:
                    m = rx.search(line)
                    if m:
                        self.match = m
                        return
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise EmulatorError("%s did not start:\n%s" % (
                        argv[0], "\n".join(self.lines[-40:])))
                self.cond.wait(0.2)

    def _read(self):
        for raw in self.proc.stdout:
            with self.cond:
                self.lines.append(raw.decode("utf-8", "replace").rstrip())
                del self.lines[:-2000]
                self.cond.notify_all()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class S3rver:
    """s3rver 3.7: S3 semantics on disk. It checks SigV4 signatures of
    requests and presigned URLs; it has no AbortMultipartUpload."""

    KEY_ID = "S3RVER"
    SECRET = "S3RVER"

    def __init__(self, workdir, buckets=()):
        self.dir = os.path.join(workdir, "s3rver")
        os.makedirs(os.path.join(self.dir, "data"), exist_ok=True)
        argv = [os.path.join(NODE_BIN, "s3rver"), "-a", "127.0.0.1", "-p", "0",
                "-d", os.path.join(self.dir, "data")]
        for b in buckets:
            argv += ["--configure-bucket", b]
        # s3rver makes listing continuation tokens with DES, which
        # OpenSSL 3 only offers through its legacy provider.
        env = dict(os.environ)
        env["NODE_OPTIONS"] = (env.get("NODE_OPTIONS", "") +
                               " --openssl-legacy-provider").strip()
        self.p = _Process(argv, self.dir, r"listening on 127\.0\.0\.1:(\d+)",
                          env=env)
        self.port = int(self.p.match.group(1))
        self.endpoint = "http://127.0.0.1:%d" % self.port
        self.secret_file = os.path.join(self.dir, "secret")
        with open(os.open(self.secret_file, os.O_WRONLY | os.O_CREAT, 0o600),
                  "w") as f:
            f.write(self.SECRET)

    def credentials_conf(self, name="emu", secret_file=None, key_id=None):
        return ('%s = { provider = "aws"; source = "static"; '
                'access_key_id = "%s"; secret_access_key_file = "%s"; };' % (
                    name, key_id or self.KEY_ID,
                    secret_file or self.secret_file))

    def stop(self):
        self.p.stop()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
