"""
emulators.py - provider emulators for the tests, started and stopped here.

Each runs on 127.0.0.1 on a port the system picks, in a temporary
directory, and is stopped by its PID (never by name). They come from npm
(tests/package.json, installed into tests/node_modules by tests/run).

    with S3rver(workdir, buckets=["a", "b"]) as s3:
        s3.endpoint            # "http://127.0.0.1:PORT"
        s3.credentials_conf()  # a credentials = {...}; block for stratusd

S3rver (S3), Fauxqs (SQS), Dynalite (DynamoDB), and AzuriteService for
each of Azurite's services, over HTTPS with bearer tokens when asked
(the blob tests' own, which also signs requests directly, is
test_blob_azure.Azurite).
"""

import os
import re
import signal
import socket
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


# Azurite's account and key, the emulator's published ones.
AZURE_ACCOUNT = "devstoreaccount1"
AZURE_ACCOUNT_KEY = ("Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2U"
                     "VErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==")


def write_secret(path, text, mode=0o600):
    """A secret file as the daemon accepts it (not readable by others)."""
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode),
              "w") as f:
        f.write(text)
    return path


def _free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _start(make_argv, cwd, ready_regex, env=None):
    """Starts make_argv(port): with port 0 when the emulator tells the
    port it got (ready_regex's group 1 is the port), else on a free port
    picked here, and on another if that one was taken meanwhile.
    (process, port)."""
    if "(\\d+)" in ready_regex:
        p = _Process(make_argv(0), cwd, ready_regex, env)
        return p, int(p.match.group(1))
    for attempt in range(5):
        port = _free_port()
        try:
            return _Process(make_argv(port), cwd, ready_regex, env), port
        except EmulatorError:
            if attempt == 4:
                raise


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


class _Emulator:
    """What every emulator here has: a directory, a process, a stop."""

    def _dir(self, workdir, name):
        self.dir = os.path.join(workdir, name)
        os.makedirs(self.dir, exist_ok=True)

    def stop(self):
        self.p.stop()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


class _AwsEmulator(_Emulator):
    """An AWS emulator that takes any key: static credentials for it."""

    KEY_ID = "AKIDEMULATOR"

    def _secret(self, text):
        self.secret_file = write_secret(os.path.join(self.dir, "secret"), text)

    def credentials_conf(self, name="emu"):
        return ('%s = { provider = "aws"; source = "static"; '
                'access_key_id = "%s"; secret_access_key_file = "%s"; };'
                % (name, self.KEY_ID, self.secret_file))


class Fauxqs(_AwsEmulator):
    """fauxqs (SQS) on 127.0.0.1, bound there by fauxqs-start.mjs (its own
    CLI listens everywhere). It does not check signatures."""

    KEY_ID = "AKIDFAUXQS"

    def __init__(self, workdir):
        self._dir(workdir, "fauxqs")
        script = os.path.join(TESTS_DIR, "lib", "fauxqs-start.mjs")
        self.p, self.port = _start(
            lambda port: ["node", script], self.dir,
            r"fauxqs listening on http://127\.0\.0\.1:(\d+)")
        self.endpoint = "http://127.0.0.1:%d" % self.port
        self._secret("fauxqs-secret")


class Dynalite(_AwsEmulator):
    """dynalite (DynamoDB) on 127.0.0.1, in memory. It does not check
    signatures, and cannot report a port of the system's choosing."""

    KEY_ID = "AKIDDYNALITE"

    def __init__(self, workdir):
        self._dir(workdir, "dynalite")
        self.p, self.port = _start(
            lambda port: [os.path.join(NODE_BIN, "dynalite"), "--host",
                          "127.0.0.1", "--port", str(port), "--createTableMs",
                          "50", "--deleteTableMs", "50"],
            self.dir, r"listening at: http://127\.0\.0\.1:\d+")
        self.endpoint = "http://127.0.0.1:%d" % self.port
        self._secret("dynalite-secret")


class AzuriteService(_Emulator):
    """azurite-blob, azurite-queue or azurite-table on 127.0.0.1, in a
    directory of its own; each checks Shared Key signatures. With
    oauth=(cert, key) it serves HTTPS with that certificate and takes
    bearer tokens too (--oauth basic: issuer, audience and lifetime are
    checked, not the signature). azurite-table does not say which port
    it got for port 0."""

    READY = {
        "blob": r"listens on https?://127\.0\.0\.1:(\d+)",
        "queue": r"listens on https?://127\.0\.0\.1:(\d+)",
        "table": r"started on 127\.0\.0\.1:\d+",
    }

    def __init__(self, workdir, service, oauth=None):
        self._dir(workdir, "azurite-" + service)
        extra = []
        if oauth is not None:
            extra = ["--cert", oauth[0], "--key", oauth[1], "--oauth",
                     "basic"]
        self.p, self.port = _start(
            lambda port: [os.path.join(NODE_BIN, "azurite-" + service),
                          "--%sHost" % service, "127.0.0.1",
                          "--%sPort" % service, str(port), "--location",
                          self.dir, "--silent", "--disableTelemetry"] + extra,
            self.dir, self.READY[service])
        self.endpoint = "%s://127.0.0.1:%d/%s" % (
            "https" if oauth else "http", self.port, AZURE_ACCOUNT)
        self.key_file = write_secret(os.path.join(self.dir, "account.key"),
                                     AZURE_ACCOUNT_KEY + "\n")

    def credentials_conf(self, name="emu", key_file=None):
        return ('%s = { provider = "azure"; account = "%s"; key_file = "%s"; };'
                % (name, AZURE_ACCOUNT, key_file or self.key_file))
