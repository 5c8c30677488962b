"""
bench.py - the benchmark behind bench/run and bench/rss (Python 3 stdlib).

bench/run installs the tools, builds an optimised stratusd and then runs
`/usr/bin/python3 bench/bench.py run ...`; bench/rss runs `... rss SIZE`.

Everything runs on 127.0.0.1, in a temporary directory on tmpfs, with
ports the kernel hands out; every process started here is stopped by its
PID. Three ways to one backend:

  direct        nginx with `dav_methods PUT DELETE` serving /bucket/KEY from
                tmpfs: a fast, dumb object store (it ignores signatures)
  nginx-proxy   nginx as a streaming reverse proxy in front of it
                (proxy_request_buffering off, proxy_buffering off,
                keep-alive upstream connections)
  stratusd      an S3 store (path style, endpoint = the backend nginx)

and, for the local store: stratusd-local (provider = "local" on tmpfs)
against nginx-local (the same nginx serving that store's own data files).

For small GETs two more paths, bare relays built from bench/relay.c with
stratusd's design (a thread per CPU, each an epoll loop with its own
libmicrohttpd daemon, connections parked while the upstream answers) and
none of its work (no routing, signing, logging, metrics or streaming):

  relay         libcurl fetches (a multi handle per thread): the floor of
                the libraries stratusd is built on
  relay-128k    relay with stratusd's memory per connection (128 KiB,
                which libmicrohttpd zeroes for every request; libmicrohttpd's
                default, which relay uses, is 32 KiB)
  relay-raw     a few lines of HTTP/1.1 client instead of libcurl: what an
                own client for provider exchanges would be worth

The backend also plays just enough of S3 multipart upload for the daemon's
default multipart path: CreateMultipartUpload and Complete answer canned
XML and part bodies are read and dropped (nothing is assembled).

Each figure is measured `reps` times with the paths interleaved; the table
shows the median and [min-max]. Ratios are computed per repetition (paired
runs, same moment of a noisy machine) and then summarised the same way.
"""

import argparse
import datetime
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
CLK = os.sysconf("SC_CLK_TCK")
KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30
# libmicrohttpd's memory per connection: its default, and stratusd's
# (CONNECTION_MEMORY in src/daemon/config.c)
MHD_POOL, STRATUS_POOL = 32 * KiB, 128 * KiB

TARGETS = {
    "big_ratio": 1.0,       # 1 GiB GET/PUT throughput, stratusd / nginx-proxy
    "big_cpu_ratio": 1.2,   # CPU s per GiB, stratusd / nginx-proxy, at most
    "small_ratio": 0.7,     # 1 KiB GET req/s at 64 connections
    "added_p90_ms": 0.2,    # at 1000 req/s, over direct
    "rate_cores": 0.1,      # stratusd CPU at 1000 req/s
    "rate_rss_mib": 16,     # stratusd peak RSS at 1000 req/s
    "conc_rss_mib": 64,     # 8 x 1 GiB at once
}


def tree_state():
    """The commit the daemon was built from, and whether src/ differed."""
    try:
        head = subprocess.run(["git", "-C", TOP, "rev-parse", "--short",
                               "HEAD"], capture_output=True, text=True,
                              timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", TOP, "status", "--porcelain",
                                "--", "src", "include"], capture_output=True,
                               text=True, timeout=10).stdout.splitlines()
    except (OSError, subprocess.SubprocessError):
        return "unknown tree"
    if not head:
        return "unknown tree"
    return "commit %s%s" % (head, " + uncommitted changes to %d files under "
                            "src/ and include/" % len(dirty) if dirty else "")


def log(msg):
    print("[bench %s] %s" % (time.strftime("%H:%M:%S"), msg), file=sys.stderr,
          flush=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, proc, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("process %d exited with %s" % (proc.pid,
                                                             proc.returncode))
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("nothing listens on port %d" % port)


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def spread(xs, fmt="%.2f"):
    """'median [min-max]' of a list."""
    if not xs:
        return "n/a"
    if len(xs) == 1:
        return fmt % xs[0]
    return (fmt + " [" + fmt + "-" + fmt + "]") % (med(xs), min(xs), max(xs))


# ---------------------------------------------------------------- processes

def proc_children(pid):
    kids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
        except OSError:
            continue
        fields = st[st.rindex(")") + 2:].split()
        if int(fields[1]) == pid:
            kids.append(int(d))
    return kids


def proc_cpu(pid):
    """utime + stime of a process (all its threads), in seconds."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            st = f.read()
    except OSError:
        return 0.0
    fields = st[st.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLK


def proc_status(pid, field):
    """A kB field of /proc/PID/status (VmHWM, VmRSS), in bytes."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def proc_ctxsw(pid):
    """Context switches (voluntary and not) of every thread of a process."""
    n = 0
    try:
        tasks = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return 0
    for t in tasks:
        try:
            with open("/proc/%d/task/%s/status" % (pid, t)) as f:
                for line in f:
                    if "ctxt_switches" in line:
                        n += int(line.split()[1])
        except OSError:
            pass
    return n


def own(v, path, kind):
    """A path's figures of the process that serves it (kind "cpu",
    "cores" or "cs"): stratusd, nginx-proxy or a relay; [] for the
    others."""
    who = ("st" if path.startswith("stratusd") else
           "px" if path == "nginx-proxy" else
           "rl" if path.startswith("relay") else None)
    return v.get("%s_%s" % (kind, who), []) if who else []


def closed_upstream(port):
    """The TIME_WAIT sockets towards 127.0.0.1:port: connections to the
    backend that their client (the proxy) closed."""
    out = subprocess.run(["ss", "-Htan", "state", "time-wait", "dst",
                          "127.0.0.1:%d" % port], capture_output=True,
                         text=True).stdout
    return set(" ".join(ln.split()[-2:]) for ln in out.splitlines())


def stop_process(p):
    """SIGTERM to a process started here, by its PID; SIGKILL after 20 s."""
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


class Daemon:
    """A process started here, stopped by its PID. For nginx the figures
    add up the master and its workers (the peak RSS is then the sum of
    each process's peak, an upper bound)."""

    def __init__(self, name, argv, port, env=None, logfile=None, cwd=None,
                 timeout=15):
        self.name = name
        self.port = port
        self.logfile = logfile
        out = open(logfile, "ab") if logfile else subprocess.DEVNULL
        self.p = subprocess.Popen(argv, env=env, cwd=cwd,
                                  stdin=subprocess.DEVNULL,
                                  stdout=out, stderr=out)
        if logfile:
            out.close()
        try:
            wait_port(port, self.p, timeout)
        except Exception:
            stop_process(self.p)    # not left running when it never came up
            raise
        time.sleep(0.1)
        self.pids = [self.p.pid] + proc_children(self.p.pid)

    def cpu(self):
        return sum(proc_cpu(p) for p in self.pids)

    def hwm(self):
        return sum(proc_status(p, "VmHWM") for p in self.pids)

    def rss(self):
        return sum(proc_status(p, "VmRSS") for p in self.pids)

    def ctxsw(self):
        return sum(proc_ctxsw(p) for p in self.pids)

    def stop(self):
        stop_process(self.p)


# ---------------------------------------------------------------- configs

BACKEND_CONF = r"""
user root;
worker_processes auto;
pid %(dir)s/backend.pid;
error_log %(dir)s/backend-error.log warn;
daemon off;
events { worker_connections 4096; }
http {
    access_log off;
    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_requests 1000000;
    keepalive_timeout 300s;
    client_body_temp_path %(dir)s/store/.tmp;
    client_max_body_size 0;
    client_body_buffer_size 1m;
    server {
        listen 127.0.0.1:%(port)d reuseport;
        root %(dir)s/store;
        location /bucket/ {
            dav_methods PUT DELETE;
            create_full_put_path on;
            # Just enough S3 multipart upload for the daemon's default
            # path: canned answers, part bodies read and dropped.
            if ($args ~ "^uploads=?$") {
                return 200 '<?xml version="1.0" encoding="UTF-8"?><InitiateMultipartUploadResult><Bucket>bucket</Bucket><Key>k</Key><UploadId>bench-upload</UploadId></InitiateMultipartUploadResult>';
            }
            if ($arg_partnumber) {
                add_header ETag '"bench-part"' always;
                return 200;
            }
            if ($request_method = POST) {
                return 200 '<?xml version="1.0" encoding="UTF-8"?><CompleteMultipartUploadResult><Bucket>bucket</Bucket><Key>k</Key><ETag>"bench-multipart"</ETag></CompleteMultipartUploadResult>';
            }
            if ($arg_uploadid) {
                return 204;
            }
        }
        # The local store's own data files, for nginx-local.
        location /locfiles/ {
            alias %(dir)s/local/data/;
        }
    }
}
"""

PROXY_CONF = r"""
user root;
worker_processes auto;
pid %(dir)s/proxy.pid;
error_log %(dir)s/proxy-error.log warn;
daemon off;
events { worker_connections 4096; }
http {
    access_log %(dir)s/proxy-access.log;
    sendfile on;
    tcp_nodelay on;
    keepalive_requests 1000000;
    keepalive_timeout 300s;
    client_max_body_size 0;
    client_body_buffer_size 128k;
    upstream backend {
        server 127.0.0.1:%(backend)d;
        keepalive 128;
    }
    server {
        listen 127.0.0.1:%(port)d reuseport;
        location / {
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_request_buffering off;
            proxy_buffering off;
            proxy_buffer_size 128k;
            proxy_buffers 8 128k;
            proxy_busy_buffers_size 256k;
        }
    }
}
"""

STRATUS_CONF = r"""
listen = { address = "127.0.0.1"; port = %(port)d; %(listen_extra)s};
allow_anonymous = true;
log = { level = "info"; requests = true; };
credentials = {
    bench = { provider = "aws"; source = "static"; access_key_id = "AKIDBENCH";
              secret_access_key_file = "%(dir)s/aws.secret"; };
%(extra_creds)s
};
stores = (
    # one streamed PutObject up to 1.5 GiB
    { name = "nx"; kind = "blob"; provider = "s3"; bucket = "bucket";
      region = "us-east-1"; credentials = "bench";
      endpoint = "http://127.0.0.1:%(backend)d"; multipart_threshold = %(threshold)dL; },
    # the default multipart settings (16 MiB threshold, 8 MiB parts)
    { name = "mp"; kind = "blob"; provider = "s3"; bucket = "bucket";
      region = "us-east-1"; credentials = "bench";
      endpoint = "http://127.0.0.1:%(backend)d"; },
    { name = "loc"; kind = "blob"; provider = "local"; path = "%(dir)s/local"; }
%(extra_stores)s
);
"""

PUT_LUA = r"""
wrk.method = "PUT"
wrk.body = string.rep("x", %(size)d)
wrk.headers["Content-Type"] = "application/octet-stream"
"""


class Bench:
    def __init__(self, args):
        self.args = args
        self.stratusd = args.stratusd
        self.backend_dir = args.backend_dir
        self.loadgen = args.loadgen
        self.relay_bin = args.relay
        base = "/dev/shm" if os.path.isdir("/dev/shm") else None
        self.dir = tempfile.mkdtemp(prefix="stratus-bench.", dir=base)
        os.makedirs(os.path.join(self.dir, "store", "bucket"))
        os.makedirs(os.path.join(self.dir, "store", ".tmp"))
        with open(os.open(os.path.join(self.dir, "aws.secret"),
                          os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
            f.write("bench-secret-key\n")
        self.backend = None
        self.proxy = None
        self.st = None
        self.st_small = None    # memory mode: at 32 KiB connection memory
        self.relays = {}        # path -> Daemon
        self.results = {}
        self.raw = {}

    # -- processes

    def start_backend(self):
        port = free_port()
        conf = os.path.join(self.dir, "backend.conf")
        with open(conf, "w") as f:
            f.write(BACKEND_CONF % {"dir": self.dir, "port": port})
        self.backend = Daemon("backend", ["nginx", "-c", conf, "-p", self.dir],
                              port)

    def start_proxy(self):
        if self.proxy:
            self.proxy.stop()
        port = free_port()
        conf = os.path.join(self.dir, "proxy.conf")
        with open(conf, "w") as f:
            f.write(PROXY_CONF % {"dir": self.dir, "port": port,
                                  "backend": self.backend.port})
        self.proxy = Daemon("nginx-proxy", ["nginx", "-c", conf, "-p",
                                            self.dir], port)

    def start_relays(self):
        for path, mode, pool in (("relay", "epoll", MHD_POOL),
                                 ("relay-128k", "epoll", STRATUS_POOL),
                                 ("relay-raw", "raw", MHD_POOL)):
            if path in self.relays:
                self.relays[path].stop()
            port = free_port()
            self.relays[path] = Daemon(path, [
                self.relay_bin, mode, str(port),
                "http://127.0.0.1:%d" % self.backend.port,
                str(os.cpu_count() or 1), str(pool)], port)

    def start_stratusd(self, threshold=1536 * MiB, extra_creds="",
                       extra_stores="", wrap=None):
        if self.st:
            self.st.stop()
        self.st = self.stratusd_daemon("stratus", threshold=threshold,
                                       extra_creds=extra_creds,
                                       extra_stores=extra_stores, wrap=wrap)

    def stratusd_daemon(self, name, listen_extra="", threshold=1536 * MiB,
                        extra_creds="", extra_stores="", wrap=None):
        """A stratusd with STRATUS_CONF in NAME.conf, logging to NAMEd.log."""
        port = free_port()
        conf = os.path.join(self.dir, name + ".conf")
        with open(conf, "w") as f:
            f.write(STRATUS_CONF % {"dir": self.dir, "port": port,
                                    "backend": self.backend.port,
                                    "threshold": threshold,
                                    "listen_extra": listen_extra,
                                    "extra_creds": extra_creds,
                                    "extra_stores": extra_stores})
        env = dict(os.environ)
        env["STRATUS_BACKEND_DIR"] = self.backend_dir
        argv = [self.stratusd, "--config", conf]
        if wrap:
            # A tool such as valgrind runs the program itself, not
            # libtool's wrapper script around it.
            build = os.path.dirname(os.path.dirname(self.stratusd))
            argv = wrap + [os.path.join(os.path.dirname(self.stratusd),
                                        ".libs", "stratusd"), "--config", conf]
            env["LD_LIBRARY_PATH"] = os.path.join(build, ".libs")
        return Daemon(name + "d", argv, port, env=env,
                      logfile=os.path.join(self.dir, name + "d.log"),
                      timeout=60 if wrap else 15)

    def fresh(self):
        """A new nginx-proxy and stratusd, so that peak RSS is this
        scenario's."""
        self.start_proxy()
        self.start_stratusd()

    def stop_all(self):
        for d in [self.st, self.st_small] + list(self.relays.values()) + [
                self.proxy, self.backend]:
            if d:
                d.stop()

    # -- paths

    def url(self, path, key):
        if path == "direct":
            return self.backend.port, "/bucket/" + key
        if path == "nginx-proxy":
            return self.proxy.port, "/bucket/" + key
        if path in self.relays:
            return self.relays[path].port, "/bucket/" + key
        if path == "stratusd":
            return self.st.port, "/v1/blobs/nx/" + key
        if path == "stratusd-32k":
            return self.st_small.port, "/v1/blobs/nx/" + key
        if path == "stratusd-mp":
            return self.st.port, "/v1/blobs/mp/" + key
        if path == "stratusd-local":
            return self.st.port, "/v1/blobs/loc/" + key
        if path == "nginx-local":
            return self.backend.port, "/locfiles/" + self.local_file(key)
        raise ValueError(path)

    def local_file(self, key):
        """The data file of a local-store object, relative to data/: the
        one file of the object's size (each size is used once)."""
        size = self.local_sizes[key]
        root = os.path.join(self.dir, "local", "data")
        for sub in os.listdir(root):
            for name in os.listdir(os.path.join(root, sub)):
                if os.path.getsize(os.path.join(root, sub, name)) == size:
                    return sub + "/" + name
        raise RuntimeError("no local data file of %d bytes" % size)

    def cpu_of(self):
        cpu = {"stratusd": self.st.cpu(), "nginx-proxy": self.proxy.cpu()}
        for path, d in self.relays.items():
            cpu[path] = d.cpu()
        return cpu

    # -- tools

    def curl(self, path, key, method="GET", src=None, size=None):
        port, upath = self.url(path, key)
        cmd = ["curl", "-sS", "-o", "/dev/null", "-w",
               "%{http_code} %{time_total} %{size_download} %{size_upload}",
               "http://127.0.0.1:%d%s" % (port, upath)]
        if method == "PUT":
            cmd[1:1] = ["-T", src]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        code, secs, down, up = out.stdout.split()
        moved = int(float(down)) if method == "GET" else int(float(up))
        if not code.startswith("2") or (size and moved != size):
            raise RuntimeError("%s %s via %s: %s, %s bytes; %s" % (
                method, key, path, code, moved, out.stderr.strip()))
        return float(secs)

    def wrk(self, path, key, seconds, conns=64, method="GET"):
        port, upath = self.url(path, key)
        cmd = ["wrk", "-t2", "-c%d" % conns, "-d%ds" % seconds, "--latency",
               "--timeout", "5s"]
        if method == "PUT":
            cmd += ["-s", self.put_lua]
        cmd.append("http://127.0.0.1:%d%s" % (port, upath))
        out = subprocess.run(cmd, capture_output=True, text=True,
                             timeout=seconds + 60).stdout
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
        bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
        errs = re.search(r"Socket errors: (.*)", out)
        if bad or errs:
            log("wrk %s %s: %s%s" % (path, upath, bad.group(0) if bad else "",
                                     errs.group(0) if errs else ""))

        def lat(p):
            m = re.search(r"^\s+%s%%\s+([\d.]+)(us|ms|s)\s*$" % p, out, re.M)
            v = float(m.group(1))
            return v / 1000 if m.group(2) == "us" else (
                v * 1000 if m.group(2) == "s" else v)
        return {"rps": rps, "p50": lat(50), "p90": lat(90), "p99": lat(99),
                "errors": int(bad.group(1)) if bad else 0}

    def rate(self, path, key, seconds, rate=1000):
        port, upath = self.url(path, key)
        cmd = [self.loadgen, "-p", str(port), "-u", upath, "-r", str(rate),
               "-d", str(seconds), "-c", "8", "-w", "1"]
        out = subprocess.run(cmd, capture_output=True, text=True,
                             timeout=seconds + 60)
        r = json.loads(out.stdout)
        if r["errors"]:
            log("loadgen %s: %d errors" % (path, r["errors"]))
        return r

    # -- data

    def make_file(self, path, size):
        block = os.urandom(64 * MiB)
        with open(path, "wb") as f:
            left = size
            while left > 0:
                n = min(left, len(block))
                f.write(block[:n])
                left -= n

    def setup_data(self):
        a = self.args
        self.src = os.path.join(self.dir, "src.bin")
        self.make_file(self.src, a.big)
        shutil.copyfile(self.src, os.path.join(self.dir, "store", "bucket",
                                               "big"))
        small = os.path.join(self.dir, "store", "bucket", "small")
        self.make_file(small, KiB)
        self.put_lua = os.path.join(self.dir, "put.lua")
        with open(self.put_lua, "w") as f:
            f.write(PUT_LUA % {"size": KiB})
        # the local store's objects: one size each, to find their files
        self.local_sizes = {"big": a.big + 1, "small": KiB + 1}
        for key, size in self.local_sizes.items():
            p = os.path.join(self.dir, "tmp-" + key)
            self.make_file(p, size)
            self.curl("stratusd-local", key, "PUT", p, size)
            os.unlink(p)

    # ------------------------------------------------------------ scenarios

    def order(self, paths, rep):
        """Paths rotated by repetition, so no path is always first."""
        k = rep % len(paths)
        return paths[k:] + paths[:k]

    def scenario_big(self, method):
        a = self.args
        name = "%s 1GiB" % method
        if method == "GET":
            paths = ["direct", "nginx-proxy", "stratusd", "nginx-local",
                     "stratusd-local"]
        else:
            paths = ["direct", "nginx-proxy", "stratusd", "stratusd-local"]
        log("%s x %d: %s" % (name, a.reps_big, ", ".join(paths)))
        self.fresh()
        res = {p: {"mbs": [], "cpu_st": [], "cpu_px": [], "cs_st": [],
                   "cs_px": []} for p in paths}
        for rep in range(a.reps_big):
            for path in self.order(paths, rep):
                key = "big" if method == "GET" else "put-" + path
                size = a.big + 1 if path.endswith("local") else a.big
                src = self.src
                if method == "PUT" and path == "stratusd-local":
                    key = "big"      # overwrite: one file of that size
                    src = os.path.join(self.dir, "src-local.bin")
                    if not os.path.exists(src):
                        self.make_file(src, size)
                c0 = self.cpu_of()
                s0 = (self.st.ctxsw(), self.proxy.ctxsw())
                secs = self.curl(path, key, method, src, size)
                c1 = self.cpu_of()
                s1 = (self.st.ctxsw(), self.proxy.ctxsw())
                res[path]["cs_st"].append((s1[0] - s0[0]) / (size / GiB))
                res[path]["cs_px"].append((s1[1] - s0[1]) / (size / GiB))
                res[path]["mbs"].append(size / secs / MiB)
                res[path]["cpu_st"].append(c1["stratusd"] - c0["stratusd"])
                res[path]["cpu_px"].append(c1["nginx-proxy"] -
                                           c0["nginx-proxy"])
                if method == "PUT" and not path.endswith("local"):
                    try:
                        os.unlink(os.path.join(self.dir, "store", "bucket",
                                               key))
                    except FileNotFoundError:
                        pass
        res["hwm"] = {"stratusd": self.st.hwm(), "nginx-proxy": self.proxy.hwm()}
        res["size"] = a.big
        self.raw[name] = res

    def scenario_small(self, method):
        a = self.args
        name = "%s 1KiB x64" % method
        if method == "GET":
            paths = ["direct", "nginx-proxy", "relay", "relay-128k",
                     "relay-raw",
                     "stratusd", "nginx-local", "stratusd-local"]
            self.start_relays()
        else:
            paths = ["direct", "nginx-proxy", "stratusd", "stratusd-local"]
        reps = a.reps_small if method == "GET" else max(1, a.reps_small - 2)
        log("%s x %d, %d s each: %s" % (name, reps, a.wrk_secs,
                                        ", ".join(paths)))
        self.fresh()
        res = {p: {"rps": [], "p50": [], "p90": [], "p99": [], "cpu_st": [],
                   "cpu_px": [], "cpu_rl": [], "reqs": [], "closed": [],
                   "errors": []}
               for p in paths}
        for path in paths:          # warm up connections and caches
            if path in self.relays:     # and check that the relays answer
                self.curl(path, "small", size=KiB)
            self.wrk(path, "small" if method == "GET" else "sput-" + path, 1,
                     method=method)
        for rep in range(reps):
            for path in self.order(paths, rep):
                key = "small" if method == "GET" else "sput-" + path
                tw0 = closed_upstream(self.backend.port)
                c0 = self.cpu_of()
                r = self.wrk(path, key, a.wrk_secs, method=method)
                c1 = self.cpu_of()
                tw1 = closed_upstream(self.backend.port)
                res[path]["closed"].append(len(tw1 - tw0))
                for k in ("rps", "p50", "p90", "p99"):
                    res[path][k].append(r[k])
                res[path]["reqs"].append(r["rps"] * a.wrk_secs)
                res[path]["errors"].append(r["errors"])
                res[path]["cpu_st"].append(c1["stratusd"] - c0["stratusd"])
                res[path]["cpu_px"].append(c1["nginx-proxy"] -
                                           c0["nginx-proxy"])
                if path in self.relays:
                    res[path]["cpu_rl"].append(c1[path] - c0[path])
        res["hwm"] = {"stratusd": self.st.hwm(), "nginx-proxy": self.proxy.hwm()}
        self.raw[name] = res

    def scenario_rate(self):
        name = "GET 1KiB at 1000/s"
        res = {}
        # The S3 paths, then the local ones with a fresh daemon, so that
        # each peak RSS is that of its own store.
        for paths in (["direct", "nginx-proxy", "relay", "relay-128k",
                       "relay-raw",
                       "stratusd"],
                      ["nginx-local", "stratusd-local"]):
            self.rate_group(name, paths, res)
            res["hwm" if "stratusd" in paths else "hwm_local"] = {
                "stratusd": self.st.hwm(), "nginx-proxy": self.proxy.hwm()}
        self.raw[name] = res

    def rate_group(self, name, paths, res):
        a = self.args
        log("%s x %d, %d s each: %s" % (name, a.reps_rate, a.rate_secs,
                                        ", ".join(paths)))
        self.fresh()
        if "relay" in paths:
            self.start_relays()
        res.update({p: {"p50": [], "p90": [], "p99": [], "cores_st": [],
                        "cores_px": [], "cores_rl": [], "cs_st": [],
                        "cs_px": [], "cs_rl": []}
                    for p in paths})
        for rep in range(a.reps_rate):
            for path in self.order(paths, rep):
                c0 = self.cpu_of()
                s0 = (self.st.ctxsw(), self.proxy.ctxsw(),
                      self.relays[path].ctxsw() if path in self.relays else 0)
                t0 = time.monotonic()
                r = self.rate(path, "small", a.rate_secs, a.rate)
                wall = time.monotonic() - t0
                c1 = self.cpu_of()
                s1 = (self.st.ctxsw(), self.proxy.ctxsw(),
                      self.relays[path].ctxsw() if path in self.relays else 0)
                sent = a.rate * (a.rate_secs + 1)     # with the warm-up
                res[path]["cs_st"].append((s1[0] - s0[0]) / sent)
                res[path]["cs_px"].append((s1[1] - s0[1]) / sent)
                res[path]["cs_rl"].append((s1[2] - s0[2]) / sent)
                for k in ("p50", "p90", "p99"):
                    res[path][k].append(r[k + "_us"] / 1000)
                res[path]["cores_st"].append((c1["stratusd"] -
                                              c0["stratusd"]) / wall)
                res[path]["cores_px"].append((c1["nginx-proxy"] -
                                              c0["nginx-proxy"]) / wall)
                if path in self.relays:
                    res[path]["cores_rl"].append((c1[path] - c0[path]) /
                                                 wall)

    def concurrent(self, path, method, n, size):
        procs = []
        t0 = time.monotonic()
        peak = {"stratusd": 0, "nginx-proxy": 0}
        for i in range(n):
            port, upath = self.url(path, "big" if method == "GET" else
                                   "conc-%d" % i)
            cmd = ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}",
                   "http://127.0.0.1:%d%s" % (port, upath)]
            if method == "PUT":
                cmd[1:1] = ["-T", self.src]
            procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE,
                                          stderr=subprocess.PIPE, text=True))
        while any(p.poll() is None for p in procs):
            peak["stratusd"] = max(peak["stratusd"], self.st.rss())
            peak["nginx-proxy"] = max(peak["nginx-proxy"], self.proxy.rss())
            time.sleep(0.05)
        wall = time.monotonic() - t0
        for p in procs:
            out, err = p.communicate()
            if not out.startswith("2"):
                raise RuntimeError("concurrent %s via %s: %s %s" % (
                    method, path, out, err.strip()))
        if method == "PUT":
            for i in range(n):
                try:
                    os.unlink(os.path.join(self.dir, "store", "bucket",
                                           "conc-%d" % i))
                except FileNotFoundError:
                    pass
        return n * size / wall / MiB

    def scenario_concurrent(self):
        a = self.args
        name = "8 x 1GiB at once"
        n = 8
        need = n * a.big + 3 * GiB
        free = shutil.disk_usage(self.dir).free
        size = a.big
        if free < need:
            log("only %.1f GiB free on %s: concurrent PUTs need %.1f GiB" % (
                free / GiB, self.dir, need / GiB))
        log("%s: PUT and GET via direct, nginx-proxy, stratusd; PUT with "
            "default multipart" % name)
        res = {}
        for path, method in (("direct", "PUT"), ("direct", "GET"),
                             ("nginx-proxy", "PUT"), ("nginx-proxy", "GET"),
                             ("stratusd", "PUT"), ("stratusd", "GET"),
                             ("stratusd-mp", "PUT")):
            if method == "PUT" and free < need:
                continue
            self.fresh()
            c0 = self.cpu_of()
            mbs = self.concurrent(path, method, n, size)
            c1 = self.cpu_of()
            res["%s %s" % (path, method)] = {
                "mbs": mbs,
                "hwm_st": self.st.hwm(), "hwm_px": self.proxy.hwm(),
                "cpu_st": c1["stratusd"] - c0["stratusd"],
                "cpu_px": c1["nginx-proxy"] - c0["nginx-proxy"]}
        res["size"] = size
        res["n"] = n
        self.raw[name] = res

    def profile(self):
        """perf record on stratusd during the small-GET load and a 1 GiB
        GET and PUT; reports written next to the results."""
        out = self.args.out
        for what, run in (
                ("get1k", lambda: self.wrk("stratusd", "small",
                                           self.args.wrk_secs)),
                ("rate1000", lambda: self.rate("stratusd", "small",
                                               self.args.rate_secs)),
                ("get1g", lambda: self.curl("stratusd", "big", "GET",
                                            size=self.args.big)),
                ("put1g", lambda: self.curl("stratusd", "put-prof", "PUT",
                                            self.src, self.args.big))):
            self.fresh()
            data = os.path.join(self.dir, "perf-%s.data" % what)
            log("profiling stratusd: %s" % what)
            rec = subprocess.Popen(
                ["perf", "record", "-q", "-F", "999", "--call-graph",
                 "dwarf,16384", "-p", str(self.st.p.pid), "-o", data],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1)
            run()
            rec.send_signal(signal.SIGINT)
            rec.wait(60)
            self.write_profile(data, what, os.path.join(
                out, "perf-%s.txt" % what))
            os.unlink(data)
        try:
            os.unlink(os.path.join(self.dir, "store", "bucket", "put-prof"))
        except FileNotFoundError:
            pass
        self.profile_against_relay()

    def flat_profile(self, path, pid):
        """CPU microseconds per small GET through `path` (served by process
        `pid`), by shared object and by symbol, from perf samples."""
        hz = 2999
        data = os.path.join(self.dir, "perf-flat.data")
        self.wrk(path, "small", 1)
        rec = subprocess.Popen(["perf", "record", "-q", "-F", str(hz), "-p",
                                str(pid), "-o", data],
                               stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
        try:
            time.sleep(0.5)
            r = self.wrk(path, "small", self.args.wrk_secs)
        finally:
            rec.send_signal(signal.SIGINT)
            rec.wait(60)
        reqs = r["rps"] * self.args.wrk_secs
        cost = {}
        for key in ("dso", "dso,sym"):
            out = subprocess.run(
                ["perf", "report", "-i", data, "--stdio", "--no-children",
                 "--sort", key, "-F", "sample," + key],
                capture_output=True, text=True).stdout
            cost[key] = {}
            for ln in out.splitlines():
                m = re.match(r"\s*(\d+)\s+(.*\S)\s*$", ln)
                if m and not ln.startswith("#"):
                    # Column widths differ from one report to the other.
                    name = " ".join(m.group(2).split())
                    cost[key][name] = int(m.group(1)) / hz / reqs * 1e6
        os.unlink(data)
        return r["rps"], cost

    def profile_against_relay(self):
        """Where stratusd's CPU per small GET goes beyond the relay's:
        both profiled under the same wrk load, side by side."""
        self.fresh()
        self.start_relays()
        log("profiling stratusd against the relay: get1k")
        st_rps, st = self.flat_profile("stratusd", self.st.p.pid)
        rl_rps, rl = self.flat_profile("relay", self.relays["relay"].p.pid)
        L = ["perf record -F 2999 on stratusd, then on bench/relay, each "
             "under wrk (64 connections, 1 KiB GETs)",
             "CPU microseconds per request; stratusd %.0f req/s, relay "
             "%.0f req/s" % (st_rps, rl_rps), ""]
        for key, title, limit in (("dso", "by shared object", 0.05),
                                  ("dso,sym", "by symbol, largest "
                                   "differences", 0.25)):
            rows = sorted(set(st[key]) | set(rl[key]),
                          key=lambda k: rl[key].get(k, 0) -
                          st[key].get(k, 0))
            L.append("-- %s --" % title)
            L.append("%9s %9s %9s  %s" % ("stratusd", "relay", "more",
                                          "where"))
            for k in rows:
                a, b = st[key].get(k, 0), rl[key].get(k, 0)
                if a - b >= limit or (key == "dso" and max(a, b) >= limit):
                    L.append("%9.1f %9.1f %+9.1f  %s" % (a, b, a - b, k))
            if key == "dso":
                L.append("%9.1f %9.1f %+9.1f  total" % (
                    sum(st[key].values()), sum(rl[key].values()),
                    sum(st[key].values()) - sum(rl[key].values())))
            L.append("")
        with open(os.path.join(self.args.out, "perf-get1k-relay.txt"),
                  "w") as f:
            f.write("\n".join(L))

    @staticmethod
    def write_profile(data, what, path):
        """The top of a perf profile: self time by symbol, then inclusive
        time of the daemon's and its libraries' functions."""
        def report(extra):
            return subprocess.run(
                ["perf", "report", "-i", data, "--stdio", "-g", "none"] +
                extra, capture_output=True, text=True).stdout.splitlines()
        rows = [ln for ln in report(["--no-children", "--sort", "dso,sym",
                                     "--percent-limit", "0.7"])
                if ln.strip() and not ln.startswith("#")]
        inc = [ln for ln in report(["--children", "--sort", "sym",
                                    "--percent-limit", "2"])
               if ln.strip() and not ln.startswith("#") and "[k]" not in ln
               and not re.search(r"\] 0x[0-9a-f]+\s*$", ln)]
        with open(path, "w") as f:
            f.write("perf record -F 999 --call-graph dwarf on stratusd: %s\n"
                    "\n-- self time (overhead, object, symbol) --\n" % what)
            f.write("\n".join(rows[:30]) + "\n")
            f.write("\n-- inclusive time, user space (children, self, "
                    "symbol) --\n")
            f.write("\n".join(inc[:45]) + "\n")

    # ------------------------------------------------------------ report

    def report(self):
        a = self.args
        L = []
        R = self.raw
        verdicts = []

        def ratio(xs, ys):
            return [x / y for x, y in zip(xs, ys) if y]

        L.append("stratus benchmark, %s" % datetime.datetime.now().strftime(
            "%Y-%m-%d %H:%M"))
        L.append("command: %s" % a.command)
        L.append("machine: %d CPUs, %s; load average before: %s" % (
            os.cpu_count(), os.uname().release, a.loadavg))
        L.append("stratusd: %s" % tree_state())
        L.append("repeats: 1 GiB x%d, 1 KiB wrk x%d (%d s, 64 conns), "
                 "1000 req/s x%d (%d s); figures are median [min-max]" % (
                     a.reps_big, a.reps_small, a.wrk_secs, a.reps_rate,
                     a.rate_secs))
        L.append("")

        for method in ("GET", "PUT"):
            name = "%s 1GiB" % method
            if name not in R:
                continue
            r = R[name]
            gib = r["size"] / GiB
            L.append("== %s (%s MiB, curl, one at a time) ==" % (
                name, r["size"] // MiB))
            L.append("%-15s %-24s %-22s %s" % (
                "path", "MiB/s", "proxy CPU s/GiB", "proxy context switches/GiB"))
            for path, v in r.items():
                if path in ("hwm", "size"):
                    continue
                cpu, cs = own(v, path, "cpu"), own(v, path, "cs")
                L.append("%-15s %-24s %-22s %s" % (
                    path, spread(v["mbs"], "%.0f"),
                    spread([c / gib for c in cpu]) if cpu else "",
                    spread(cs, "%.0f") if cs else ""))
            st, px, d = r["stratusd"], r["nginx-proxy"], r["direct"]
            tr = ratio(st["mbs"], px["mbs"])
            cr = ratio(st["cpu_st"], px["cpu_px"])
            L.append("ratio stratusd / nginx-proxy throughput: %s" % spread(tr))
            L.append("ratio stratusd / nginx-proxy CPU per GiB: %s" % spread(cr))
            L.append("ratio nginx-proxy / direct throughput:   %s" %
                     spread(ratio(px["mbs"], d["mbs"])))
            L.append("ratio stratusd / direct throughput:      %s" %
                     spread(ratio(st["mbs"], d["mbs"])))
            base = "nginx-local" if method == "GET" else "direct"
            L.append("local store: stratusd-local / %s throughput: %s" % (
                base, spread(ratio(r["stratusd-local"]["mbs"],
                                   r[base]["mbs"]))))
            L.append("peak RSS in this scenario: stratusd %.1f MiB, "
                     "nginx-proxy %.1f MiB (master + workers)" % (
                         r["hwm"]["stratusd"] / MiB,
                         r["hwm"]["nginx-proxy"] / MiB))
            L.append("")
            verdicts.append(("1 GiB %s throughput >= %.1fx nginx-proxy" % (
                method, TARGETS["big_ratio"]), med(tr),
                med(tr) >= TARGETS["big_ratio"], "%.2fx" % med(tr)))
            verdicts.append(("1 GiB %s CPU/GiB <= %.1fx nginx-proxy" % (
                method, TARGETS["big_cpu_ratio"]), med(cr),
                med(cr) <= TARGETS["big_cpu_ratio"], "%.2fx" % med(cr)))

        for method in ("GET", "PUT"):
            name = "%s 1KiB x64" % method
            if name not in R:
                continue
            r = R[name]
            L.append("== %s 1 KiB, wrk, 64 connections ==" % method)
            L.append("%-15s %-26s %-22s %-22s %-22s %-16s %s" % (
                "path", "req/s", "p50 ms", "p90 ms", "p99 ms", "CPU us/req",
                "upstream conns closed/1k req"))
            per_req = {}
            for path, v in r.items():
                if path == "hwm":
                    continue
                cpu = [c / n * 1e6 for c, n in zip(own(v, path, "cpu"),
                                                    v["reqs"])]
                per_req[path] = cpu
                closed = [c * 1000 / n for c, n in zip(v["closed"], v["reqs"])]
                L.append("%-15s %-26s %-22s %-22s %-22s %-16s %s" % (
                    path, spread(v["rps"], "%.0f"), spread(v["p50"]),
                    spread(v["p90"]), spread(v["p99"]),
                    spread(cpu, "%.0f") if cpu else "",
                    spread(closed, "%.1f") if path in (
                        "stratusd", "nginx-proxy") else ""))
            bad = ["%s %d" % (p, sum(v["errors"])) for p, v in r.items()
                   if p != "hwm" and sum(v.get("errors", [])) > 0]
            if bad:
                L.append("ANSWERS OTHER THAN 2xx/3xx (these figures are "
                         "not comparable): " + ", ".join(bad))
            st, px, d = r["stratusd"], r["nginx-proxy"], r["direct"]
            rr = ratio(st["rps"], px["rps"])
            L.append("ratio stratusd / nginx-proxy req/s: %s" % spread(rr))
            L.append("ratio nginx-proxy / direct req/s:   %s" %
                     spread(ratio(px["rps"], d["rps"])))
            if "relay" in r:
                rl, raw = r["relay"], r["relay-raw"]
                L.append("ratio relay / nginx-proxy req/s:    %s  (the floor "
                         "of libmicrohttpd + libcurl)" %
                         spread(ratio(rl["rps"], px["rps"])))
                L.append("ratio relay-128k / nginx-proxy req/s: %s  (the "
                         "same with stratusd's connection memory)" %
                         spread(ratio(r["relay-128k"]["rps"], px["rps"])))
                L.append("ratio relay-raw / nginx-proxy req/s: %s  "
                         "(libmicrohttpd + an own HTTP/1.1 client)" %
                         spread(ratio(raw["rps"], px["rps"])))
                L.append("ratio stratusd / relay req/s:       %s" %
                         spread(ratio(st["rps"], rl["rps"])))
                L.append("ratio stratusd / relay-128k req/s:  %s" %
                         spread(ratio(st["rps"], r["relay-128k"]["rps"])))
                L.append("stratusd's own CPU per request over the relay's: "
                         "%s us" % spread([x - y for x, y in zip(
                             per_req["stratusd"], per_req["relay"])], "%.0f"))
                L.append("stratusd's own CPU per request over relay-128k's: "
                         "%s us" % spread([x - y for x, y in zip(
                             per_req["stratusd"], per_req["relay-128k"])],
                             "%.0f"))
            base = "nginx-local" if method == "GET" else "direct"
            L.append("local store: stratusd-local / %s req/s: %s" % (
                base, spread(ratio(r["stratusd-local"]["rps"],
                                   r[base]["rps"]))))
            L.append("peak RSS in this scenario: stratusd %.1f MiB, "
                     "nginx-proxy %.1f MiB" % (r["hwm"]["stratusd"] / MiB,
                                               r["hwm"]["nginx-proxy"] / MiB))
            L.append("")
            if method == "GET":
                verdicts.append(("1 KiB GET req/s at 64 conns >= %.1fx "
                                 "nginx-proxy" % TARGETS["small_ratio"],
                                 med(rr), med(rr) >= TARGETS["small_ratio"],
                                 "%.2fx" % med(rr)))

        name = "GET 1KiB at 1000/s"
        if name in R:
            r = R[name]
            L.append("== GET 1 KiB at a fixed 1000 req/s (bench/loadgen, "
                     "8 conns, latency from the scheduled send) ==")
            L.append("%-15s %-22s %-22s %-22s %-22s %-22s %s" % (
                "path", "p50 ms", "p90 ms", "p99 ms", "added p90 ms",
                "CPU cores", "context switches/req"))
            d = r["direct"]
            dn = r["nginx-local"]
            for path, v in r.items():
                if path.startswith("hwm"):
                    continue
                basis = dn if path == "stratusd-local" else d
                added = [x - y for x, y in zip(v["p90"], basis["p90"])]
                cores = own(v, path, "cores")
                cs = own(v, path, "cs")
                L.append("%-15s %-22s %-22s %-22s %-22s %-22s %s" % (
                    path, spread(v["p50"], "%.3f"), spread(v["p90"], "%.3f"),
                    spread(v["p99"], "%.3f"),
                    spread(added, "%.3f") if path not in (
                        "direct", "nginx-local") else "",
                    spread(cores, "%.3f") if cores else "",
                    spread(cs, "%.1f") if cs else ""))
            st = r["stratusd"]
            added = [x - y for x, y in zip(st["p90"], d["p90"])]
            added_px = [x - y for x, y in zip(r["nginx-proxy"]["p90"],
                                              d["p90"])]
            L.append("added p90 over direct: stratusd %s ms, nginx-proxy "
                     "%s ms" % (spread(added, "%.3f"),
                                spread(added_px, "%.3f")))
            for path in ("relay", "relay-128k", "relay-raw"):
                if path in r:
                    L.append("%s: added p90 %s ms, %s cores" % (
                        path, spread([x - y for x, y in zip(
                            r[path]["p90"], d["p90"])], "%.3f"),
                        spread(r[path]["cores_rl"], "%.3f")))
            hwm = r["hwm"]["stratusd"] / MiB
            L.append("peak RSS: stratusd %.1f MiB (S3 store), nginx-proxy "
                     "%.1f MiB; stratusd %.1f MiB serving the local store" % (
                         hwm, r["hwm"]["nginx-proxy"] / MiB,
                         r["hwm_local"]["stratusd"] / MiB))
            L.append("")
            verdicts.append(("added p90 at 1000 req/s < %.1f ms" %
                             TARGETS["added_p90_ms"], med(added),
                             med(added) < TARGETS["added_p90_ms"],
                             "%.3f ms" % med(added)))
            cores = med(st["cores_st"])
            verdicts.append(("CPU at 1000 req/s < %.1f core" %
                             TARGETS["rate_cores"], cores,
                             cores < TARGETS["rate_cores"],
                             "%.3f cores" % cores))
            verdicts.append(("RSS at 1000 req/s < %d MiB" %
                             TARGETS["rate_rss_mib"], hwm,
                             hwm < TARGETS["rate_rss_mib"], "%.1f MiB" % hwm))

        name = "8 x 1GiB at once"
        if name in R:
            r = R[name]
            L.append("== %d clients at once, %d MiB each (curl) ==" % (
                r["n"], r["size"] // MiB))
            L.append("%-22s %-14s %-18s %-18s %-16s %-16s" % (
                "path", "total MiB/s", "stratusd peak", "nginx-proxy peak",
                "stratusd CPU s", "proxy CPU s"))
            for k, v in r.items():
                if k in ("size", "n"):
                    continue
                st = k.startswith("stratusd")
                px = k.startswith("nginx-proxy")
                L.append("%-22s %-14.0f %-18s %-18s %-16s %-16s" % (
                    k, v["mbs"], "%.1f MiB" % (v["hwm_st"] / MiB) if st else "",
                    "%.1f MiB" % (v["hwm_px"] / MiB) if px else "",
                    "%.2f" % v["cpu_st"] if st else "",
                    "%.2f" % v["cpu_px"] if px else ""))
            L.append("(stratusd-mp: the store with the default multipart "
                     "settings; the backend drops part bodies)")
            L.append("")
            for k in ("stratusd PUT", "stratusd GET", "stratusd-mp PUT"):
                if k in r:
                    h = r[k]["hwm_st"] / MiB
                    verdicts.append(("%d x %d MiB %s: RSS < %d MiB" % (
                        r["n"], r["size"] // MiB, k,
                        TARGETS["conc_rss_mib"]), h,
                        h < TARGETS["conc_rss_mib"], "%.1f MiB" % h))

        L.append("== targets of issue #6 ==")
        for what, _, ok, shown in verdicts:
            L.append("%-4s %-48s measured %s" % ("MET" if ok else "MISS",
                                                 what, shown))
        self.verdicts = verdicts
        return "\n".join(L) + "\n"

    def chart(self, base):
        """A PNG next to the table: the ratios against their targets, the
        cost at 1000 req/s, and peak RSS against the bars."""
        R = self.raw
        rows = []      # label, median, min, max, target

        def ratio(xs, ys):
            return [x / y for x, y in zip(xs, ys) if y]

        def add(label, xs, target):
            if xs:
                rows.append((label, med(xs), min(xs), max(xs), target))
        for m in ("GET", "PUT"):
            r = R.get("%s 1GiB" % m)
            if r:
                add("%s 1GiB\\nMiB/s" % m, ratio(r["stratusd"]["mbs"],
                                                 r["nginx-proxy"]["mbs"]), 1.0)
                add("%s 1GiB\\nCPU/GiB" % m, ratio(
                    r["stratusd"]["cpu_st"], r["nginx-proxy"]["cpu_px"]), 1.2)
        r = R.get("GET 1KiB x64")
        if r:
            add("GET 1KiB\\nreq/s", ratio(r["stratusd"]["rps"],
                                           r["nginx-proxy"]["rps"]), 0.7)
        r = R.get("PUT 1KiB x64")
        if r:
            add("PUT 1KiB\\nreq/s", ratio(r["stratusd"]["rps"],
                                           r["nginx-proxy"]["rps"]),
                float("nan"))
        cost = []      # label, stratusd, nginx-proxy, target
        r = R.get("GET 1KiB at 1000/s")
        if r:
            d = r["direct"]["p90"]
            cost.append(("added p90 (ms)",
                         med([x - y for x, y in zip(r["stratusd"]["p90"], d)]),
                         med([x - y for x, y in zip(r["nginx-proxy"]["p90"],
                                                    d)]), 0.2))
            cost.append(("CPU (cores)", med(r["stratusd"]["cores_st"]),
                         med(r["nginx-proxy"]["cores_px"]), 0.1))
        rss = []       # label, stratusd, nginx-proxy, bar
        for label, sc, bar in (("1000 req/s", "GET 1KiB at 1000/s", 16),
                               ("GET 1GiB", "GET 1GiB", float("nan")),
                               ("PUT 1GiB", "PUT 1GiB", float("nan"))):
            r = R.get(sc)
            if r:
                rss.append((label, r["hwm"]["stratusd"] / MiB,
                            r["hwm"]["nginx-proxy"] / MiB, bar))
        r = R.get("8 x 1GiB at once")
        if r:
            for k, lab in (("PUT", "8x PUT"), ("GET", "8x GET")):
                if "stratusd " + k in r:
                    rss.append((lab, r["stratusd " + k]["hwm_st"] / MiB,
                                r["nginx-proxy " + k]["hwm_px"] / MiB, 64))
            if "stratusd-mp PUT" in r:
                rss.append(("8x PUT\\nmultipart",
                            r["stratusd-mp PUT"]["hwm_st"] / MiB,
                            float("nan"), 64))

        def num(x, fmt="%.4f"):
            return "NaN" if x != x else fmt % x
        dat1, dat2, dat3 = (base + "-ratios.dat", base + "-cost.dat",
                            base + "-rss.dat")
        with open(dat1, "w") as f:
            for i, (lab, m, lo, hi, t) in enumerate(rows):
                f.write('%d "%s" %s %s %s %s\n' % (i, lab, num(m), num(lo),
                                                   num(hi), num(t)))
        with open(dat2, "w") as f:
            for i, (lab, st, px, t) in enumerate(cost):
                f.write('%d "%s" %s %s %s\n' % (i, lab, num(st), num(px),
                                                num(t)))
        with open(dat3, "w") as f:
            for i, (lab, st, px, bar) in enumerate(rss):
                f.write('%d "%s" %s %s %s\n' % (i, lab, num(st), num(px),
                                                num(bar)))
        gp = base + ".gp"
        with open(gp, "w") as f:
            f.write(r"""
set terminal pngcairo size 1500,540 font "sans,10"
set output "%(png)s"
set multiplot layout 1,3 title "stratusd against nginx-proxy, %(when)s (bench/run%(quick)s)"
set style fill solid 0.6 border -1
set grid ytics
set key top left opaque
set offsets 0, 0, graph 0.22, 0
set bmargin 4
set yrange [0:*]
set title "stratusd / nginx-proxy: median, min-max (red: target)"
set xrange [-0.6:%(nr)d-0.4]
set xtics font "sans,8"
plot "%(d1)s" using 1:3:4:5:(0.5):xtic(2) with boxerrorbars lc rgb "#4c78a8" title "ratio", \
     "%(d1)s" using 1:6 with points pt 7 ps 1.6 lc rgb "#d62728" title "target"
set title "GET 1 KiB at 1000 req/s: cost of each proxy (red: target)"
set xrange [-0.6:%(nc)d-0.4]
plot "%(d2)s" using ($1-0.18):3:(0.35) with boxes lc rgb "#4c78a8" title "stratusd", \
     "%(d2)s" using ($1+0.18):4:(0.35):xtic(2) with boxes lc rgb "#f58518" title "nginx-proxy", \
     "%(d2)s" using 1:5 with points pt 7 ps 1.6 lc rgb "#d62728" title "target"
set title "peak RSS, MiB (red: bar of the target)"
set xrange [-0.6:%(nm)d-0.4]
plot "%(d3)s" using ($1-0.18):3:(0.35) with boxes lc rgb "#4c78a8" title "stratusd", \
     "%(d3)s" using ($1+0.18):4:(0.35):xtic(2) with boxes lc rgb "#f58518" title "nginx-proxy (sum of processes)", \
     "%(d3)s" using 1:5 with points pt 9 ps 1.6 lc rgb "#d62728" title "bar"
unset multiplot
""" % {"png": base + ".png", "d1": dat1, "d2": dat2, "d3": dat3,
                "nr": max(1, len(rows)), "nc": max(1, len(cost)),
                "nm": max(1, len(rss)), "when": time.strftime("%Y-%m-%d %H:%M"),
                "quick": " --quick" if self.args.quick else ""})
        r = subprocess.run(["gnuplot", gp], capture_output=True, text=True)
        if r.returncode != 0:
            log("gnuplot: %s" % r.stderr.strip())


# ---------------------------------------------------------------- rss mode

def stream_put(port, path, size, block=MiB):
    """PUT of `size` generated bytes with a Content-Length: nothing of it
    is stored on this side."""
    data = (bytes(range(256)) * (block // 256 + 1))[:block]
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(("PUT %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Length: %d"
               "\r\nContent-Type: application/octet-stream\r\n\r\n" % (
                   path, port, size)).encode())
    left = size
    view = memoryview(data)
    while left > 0:
        n = min(left, block)
        s.sendall(view[:n])
        left -= n
    resp = b""
    while b"\r\n\r\n" not in resp:
        chunk = s.recv(65536)
        if not chunk:
            break
        resp += chunk
    s.close()
    return resp.split(b"\r\n", 1)[0].decode()


AZ_ACCOUNT = "devstoreaccount1"
AZ_KEY = ("Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/"
          "K1SZFPTOtr/KBHBeksoGMGw==")     # Azurite's published dev key
AZURITE = os.path.join(TOP, "tests", "node_modules", ".bin", "azurite-blob")


class Azurite:
    """azurite-blob (from tests/node_modules, which tests/run installs) on
    127.0.0.1, keeping its blobs under dir; stopped by its PID."""

    def __init__(self, dir):
        import base64
        import email.utils
        import hashlib
        import hmac
        os.makedirs(dir, exist_ok=True)
        self.p = subprocess.Popen(
            [AZURITE, "--blobHost", "127.0.0.1", "--blobPort", "0",
             "--location", dir, "--silent", "--disableTelemetry"],
            cwd=dir, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 120
        self.port = None
        while time.monotonic() < deadline:
            line = self.p.stdout.readline()
            if not line:
                break
            m = re.search(r"listens on http://127\.0\.0\.1:(\d+)", line)
            if m:
                self.port = int(m.group(1))
                break
        if self.port is None:
            self.stop()
            raise RuntimeError("azurite-blob did not start")
        threading.Thread(target=self.p.stdout.read, daemon=True).start()
        self.key_file = os.path.join(dir, "account.key")
        with open(os.open(self.key_file, os.O_WRONLY | os.O_CREAT, 0o600),
                  "w") as f:
            f.write(AZ_KEY + "\n")
        # Create the container "bench" with one Shared Key request.
        date = email.utils.formatdate(usegmt=True)
        sts = "\n".join(["PUT"] + [""] * 11 + [
            "x-ms-date:%s" % date, "x-ms-version:2021-12-02",
            "/%s/%s/bench" % (AZ_ACCOUNT, AZ_ACCOUNT), "restype:container"])
        sig = base64.b64encode(hmac.new(base64.b64decode(AZ_KEY),
                                        sts.encode(), hashlib.sha256)
                               .digest()).decode()
        s = socket.create_connection(("127.0.0.1", self.port))
        s.sendall(("PUT /%s/bench?restype=container HTTP/1.1\r\n"
                   "Host: 127.0.0.1:%d\r\nx-ms-date: %s\r\n"
                   "x-ms-version: 2021-12-02\r\nContent-Length: 0\r\n"
                   "Authorization: SharedKey %s:%s\r\nConnection: close"
                   "\r\n\r\n" % (AZ_ACCOUNT, self.port, date, AZ_ACCOUNT,
                                   sig)).encode())
        status = s.recv(4096).split(b"\r\n", 1)[0].decode()
        s.close()
        if " 201 " not in status and " 409 " not in status:
            self.stop()
            raise RuntimeError("azurite: create container: %s" % status)

    def creds(self):
        return ('az = { provider = "azure"; account = "%s"; key_file = "%s"; };'
                % (AZ_ACCOUNT, self.key_file))

    def store(self):
        return (', { name = "az"; kind = "blob"; provider = "azure"; '
                'container = "bench"; credentials = "az"; '
                'endpoint = "http://127.0.0.1:%d/%s"; }' % (self.port,
                                                           AZ_ACCOUNT))

    def stop(self):
        stop_process(self.p)


def rss_mode(args):
    """Streams one large object through stratusd up and down, with a fresh
    daemon for each transfer, and reports its peak RSS against 64 MiB."""
    size = args.size
    b = Bench(args)
    rows = []
    az = None
    notes = []
    try:
        b.start_backend()
        # The object to download: a sparse file, so nothing is held.
        big = os.path.join(b.dir, "store", "bucket", "rss-big")
        with open(big, "wb") as f:
            f.truncate(size)
        b.local_sizes = {}
        if not args.no_azure:
            azdir = tempfile.mkdtemp(prefix="stratus-bench-azurite.",
                                     dir="/var/tmp")
            free = shutil.disk_usage(azdir).free
            if not os.access(AZURITE, os.X_OK):
                notes.append("Azure skipped: no %s (bash tests/run installs "
                             "the npm emulators)" % os.path.relpath(AZURITE,
                                                                    TOP))
            elif free < size + 2 * GiB:
                notes.append("Azure skipped: Azurite keeps the blob on disk "
                             "and %s has %.1f GiB free" % (azdir, free / GiB))
            else:
                az = Azurite(azdir)

        def one(label, store, run):
            b.start_proxy()
            b.start_stratusd(threshold=size + MiB if store == "nx" else
                             16 * MiB,
                             extra_creds=az.creds() if az else "",
                             extra_stores=az.store() if az else "")
            peak = [0]
            done = threading.Event()

            def sample():
                while not done.is_set():
                    peak[0] = max(peak[0], b.st.rss())
                    time.sleep(0.05)
            t = threading.Thread(target=sample)
            t.start()
            t0 = time.monotonic()
            c0 = b.st.cpu()
            status = str(run())
            wall = time.monotonic() - t0
            cpu = b.st.cpu() - c0
            done.set()
            t.join()
            hwm = b.st.hwm()
            m = re.search(r"\b([1-5]\d\d)\b", status)
            status = m.group(1) if m else status[:12]
            rows.append((label, status, size / wall / MiB, cpu, hwm))
            log("%s: %s, %.0f MiB/s, peak RSS %.1f MiB" % (
                label, status, size / wall / MiB, hwm / MiB))

        def curl_get(store, key):
            return subprocess.run(
                ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}",
                 "http://127.0.0.1:%d/v1/blobs/%s/%s" % (b.st.port, store,
                                                         key)],
                capture_output=True, text=True).stdout

        def curl_chunked(store, key):
            return subprocess.run(
                "head -c %d /dev/zero | curl -sS -o /dev/null -w "
                "'%%{http_code}' -T - http://127.0.0.1:%d/v1/blobs/%s/%s" % (
                    size, b.st.port, store, key),
                shell=True, capture_output=True, text=True).stdout

        one("S3 GET", "mp", lambda: curl_get("mp", "rss-big"))
        one("S3 PUT, multipart (Content-Length)", "mp",
            lambda: stream_put(b.st.port, "/v1/blobs/mp/rss-up", size))
        one("S3 PUT, multipart (chunked)", "mp",
            lambda: curl_chunked("mp", "rss-up"))
        # one streamed PutObject, when the backend's tmpfs can hold it
        free = shutil.disk_usage(b.dir).free
        if size <= 5 * GiB and free > size + 2 * GiB:
            one("S3 PUT, one streamed PutObject", "nx",
                lambda: stream_put(b.st.port, "/v1/blobs/nx/rss-single", size))
            os.unlink(os.path.join(b.dir, "store", "bucket", "rss-single"))
        else:
            notes.append("single PutObject skipped: %s has %.1f GiB free" % (
                b.dir, free / GiB))
        if az:
            one("Azure PUT, blocks (Content-Length)", "az",
                lambda: stream_put(b.st.port, "/v1/blobs/az/rss-up", size))
            one("Azure GET", "az", lambda: curl_get("az", "rss-up"))
            one("Azure PUT, blocks (chunked)", "az",
                lambda: curl_chunked("az", "rss-up"))
    finally:
        b.stop_all()
        if az:
            az.stop()
            shutil.rmtree(azdir, ignore_errors=True)
        shutil.rmtree(b.dir, ignore_errors=True)
    L = ["stratusd peak RSS (VmHWM, fresh daemon per transfer) streaming one "
         "object of %d MiB (%.2f GiB), generated and dropped, never stored "
         "whole on this side; bar: %d MiB" % (size // MiB, size / GiB,
                                              TARGETS["conc_rss_mib"]),
         "command: %s" % args.command,
         "stratusd: %s; load average before: %s" % (tree_state(),
                                                     args.loadavg),
         "%-38s %-7s %-8s %-8s %-12s %s" % ("transfer", "status", "MiB/s",
                                           "CPU s", "peak RSS", "bar")]
    failed = False
    for label, status, mbs, cpu, hwm in rows:
        ok = hwm < TARGETS["conc_rss_mib"] * MiB and status.startswith("2")
        failed |= not status.startswith("2")
        L.append("%-38s %-7s %-8.0f %-8.2f %-12s %s" % (
            label, status, mbs, cpu, "%.1f MiB" % (hwm / MiB),
            "MET" if ok else "MISS"))
    L += notes
    text = "\n".join(L) + "\n"
    print(text)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "rss.txt"), "w") as f:
        f.write(text)
    # A measurement, not a test: only a failed transfer is an error.
    return 1 if failed else 0


# ---------------------------------------------------------------- main

def parse_size(s):
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([KMGT]?)(i?B)?", s.strip(), re.I)
    if not m:
        raise argparse.ArgumentTypeError("bad size %r" % s)
    mult = {"": 1, "K": KiB, "M": MiB, "G": GiB, "T": 1 << 40}[
        m.group(2).upper()]
    return int(float(m.group(1)) * mult)

# ---------------------------------------------------------------- cost mode

COST_REQUESTS = 2000
COST_CONNS = 8


def keepalive_gets(port, path, n, conns=COST_CONNS):
    """n GETs of path over conns keep-alive connections; fails on any
    answer but 200."""
    import http.client
    errors = []

    def run(count):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        try:
            for _ in range(count):
                c.request("GET", path)
                r = c.getresponse()
                r.read()
                if r.status != 200:
                    errors.append(r.status)
                    return
        except (OSError, http.client.HTTPException) as e:
            errors.append(repr(e))
        finally:
            c.close()
    ts = [threading.Thread(target=run, args=(n // conns,))
          for _ in range(conns)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if errors:
        raise RuntimeError("GET %s answered %s" % (path, errors[0]))
    return n // conns * conns


def strace_counts(path):
    """{syscall: calls} from an strace -c summary."""
    counts = {}
    with open(path) as f:
        for line in f:
            m = re.match(r"\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(\w+)$",
                         line)
            if m and m.group(2) != "total":
                counts[m.group(2)] = int(m.group(1))
    return counts


def wait_traced(pid, timeout=30):
    """Until every thread of pid has a tracer."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        tids = os.listdir("/proc/%d/task" % pid)
        if all(proc_status_field(pid, t, "TracerPid") not in ("", "0")
               for t in tids):
            return
        time.sleep(0.05)
    raise RuntimeError("strace did not attach to %d" % pid)


def proc_status_field(pid, tid, name):
    try:
        with open("/proc/%d/task/%s/status" % (pid, tid)) as f:
            for line in f:
                if line.startswith(name + ":"):
                    return line.split()[1]
    except OSError:
        pass
    return ""


def callgrind_calls(path, names):
    """{name: calls} to the functions named, summed over every call site
    of a callgrind dump but their calls to one another (realloc of NULL
    calls malloc). Names are compressed: "cfn=(7) malloc" names id 7 once,
    later lines say only "cfn=(7)"."""
    ids, counts = {}, dict.fromkeys(names, 0)
    caller = callee = None
    with open(path) as f:
        for line in f:
            m = re.match(r"(c?fn)=\((\d+)\)(?: (.*))?$", line.rstrip("\n"))
            if m:
                if m.group(3):
                    ids[m.group(2)] = m.group(3)
                if m.group(1) == "fn":
                    caller, callee = ids.get(m.group(2)), None
                else:
                    callee = ids.get(m.group(2))
                continue
            if (line.startswith("calls=") and callee in counts and
                    caller not in counts):
                counts[callee] += int(line[6:].split()[0])
    return counts


def callgrind_dump(pid, path, timeout=60):
    """Asks callgrind for a dump and waits until the file is whole."""
    subprocess.run(["callgrind_control", "-d", str(pid)],
                   stdout=subprocess.DEVNULL, check=True, timeout=timeout)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(path) as f:
                if "\ntotals:" in f.read():	# its last line
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError("no callgrind dump %s" % path)


def cost_mode(args):
    """Instructions (callgrind) and system calls (strace) per keep-alive
    1 KiB GET through the S3 store: figures that do not depend on how busy
    the machine is, to compare two builds."""
    b = Bench(args)
    os.makedirs(args.out, exist_ok=True)
    path = "/v1/blobs/nx/k1k"
    lines = []
    try:
        b.start_backend()
        with open(os.path.join(b.dir, "store", "bucket", "k1k"), "wb") as f:
            f.write(os.urandom(1024))

        # System calls: strace attached to a normal daemon, once it has
        # seized every thread (attaching is not instant).
        b.start_stratusd()
        keepalive_gets(b.st.port, path, 400)
        summary = os.path.join(b.dir, "strace.txt")
        tracer = subprocess.Popen(["strace", "-c", "-f", "-o", summary,
                                   "-p", str(b.st.p.pid)],
                                  stderr=subprocess.DEVNULL)
        wait_traced(b.st.p.pid)
        n = keepalive_gets(b.st.port, path, COST_REQUESTS)
        tracer.send_signal(signal.SIGINT)
        tracer.wait(timeout=30)
        counts = strace_counts(summary)
        b.st.stop()
        total = sum(counts.values())
        lines.append("system calls per request (strace -c -f, %d GETs over "
                     "%d connections): %.1f" % (n, COST_CONNS, total / n))
        for name, c in sorted(counts.items(), key=lambda kv: -kv[1]):
            if c / n >= 0.05:
                lines.append("  %-14s %5.2f" % (name, c / n))
        lines.append("new provider connections (connect) per request: %.3f; "
                     "threads started (clone): %d" % (
                         counts.get("connect", 0) / n, counts.get("clone", 0)))

        # Instructions: callgrind. A dump writes the counts since the last
        # one and zeroes them; the measured requests are exactly those
        # between two dumps (valgrind takes commands when it gets to them,
        # so each dump is waited for before going on).
        out = os.path.join(b.dir, "callgrind.out")
        b.start_stratusd(wrap=["valgrind", "--tool=callgrind",
                               "--callgrind-out-file=" + out])
        keepalive_gets(b.st.port, path, 400)
        callgrind_dump(b.st.p.pid, out + ".1")
        n = keepalive_gets(b.st.port, path, COST_REQUESTS)
        callgrind_dump(b.st.p.pid, out + ".2")
        b.st.stop()
        ann = subprocess.run(["callgrind_annotate", "--inclusive=yes",
                              out + ".2"],
                             capture_output=True, text=True).stdout
        total = 0
        m = re.search(r"^\s*([\d,]+) \S*\s*PROGRAM TOTALS", ann, re.M)
        if m:
            total = int(m.group(1).replace(",", ""))
        kept = os.path.join(args.out, "callgrind-get1k.out")
        shutil.copyfile(out + ".2", kept)	# for callgrind_annotate
        # free() is left out: most of its calls are curl's free(NULL).
        allocs = callgrind_calls(kept, ("malloc", "calloc", "realloc"))
        lines.append("")
        lines.append("instructions per request (callgrind, %d GETs): %d" % (
            n, total // n))
        lines.append("heap allocations per request: %.0f (%s)" % (
            sum(allocs.values()) / n, ", ".join(
                "%s %.1f" % (k, v / n) for k, v in allocs.items())))
        lines.append("largest inclusive costs, instructions per request:")
        seen = set(["worker_main", "run_round", "start_thread", "clone",
                    "clone3"])
        shown = 0
        for line in ann.splitlines():
            m = re.match(r"^\s*([\d,]+) \([\d. %]+\)\s+(\S+)", line)
            if not m or "PROGRAM TOTALS" in line:
                continue
            # One function can be listed under two spellings of its
            # file's path; anonymous addresses say nothing.
            name = m.group(2).split(":")[-1]
            if name.startswith("0x") or name in seen:
                continue
            seen.add(name)
            lines.append("  %9d  %s" % (int(m.group(1).replace(",", "")) // n,
                                        name))
            shown += 1
            if shown == 30:
                break
    finally:
        b.stop_all()
        shutil.rmtree(b.dir, ignore_errors=True)
    text = "\n".join(["stratus cost per request, %s" %
                      datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
                      "command: %s" % args.command,
                      "stratusd: %s" % tree_state(), ""] + lines)
    print(text)
    with open(os.path.join(args.out, "cost.txt"), "w") as f:
        f.write(text + "\n")
    log("wrote %s" % os.path.join(args.out, "cost.txt"))
    return 0


# ---------------------------------------------------------------- memory mode

MEMORY_SMALL = 32 * KiB        # the smallest listen.connection_memory
# ... which takes headers up to a quarter of it (listen.max_header_size)
MEMORY_SMALL_CONF = "max_header_size = %d; connection_memory = %d; " % (
    MEMORY_SMALL // 4, MEMORY_SMALL)
MEMORY_REPS = 5
MEMORY_CONNS = 800             # under the default max_connections, 1024


def read_answer(s):
    """Reads one HTTP answer with a Content-Length from socket s; raises
    RuntimeError unless it is a whole 200."""
    got = b""
    while b"\r\n\r\n" not in got:
        chunk = s.recv(65536)
        if not chunk:
            raise RuntimeError("connection closed before its answer")
        got += chunk
    head, body = got.split(b"\r\n\r\n", 1)
    status = head.split(b"\r\n")[0]
    if not status.startswith(b"HTTP/1.1 200 "):
        raise RuntimeError("answered %r" % status)
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        chunk = s.recv(65536)
        if not chunk:
            raise RuntimeError("connection closed in the body")
        body += chunk


def held_connections_rss(d, upath, n):
    """d's RSS growth while n connections each have made one GET and
    stay open (keep-alive), in bytes. One GET on a connection closed
    first, so that what the first request sets up is not counted."""
    req = ("GET %s HTTP/1.1\r\nHost: bench\r\n\r\n" % upath).encode()
    with socket.create_connection(("127.0.0.1", d.port), timeout=10) as s:
        s.sendall(req)
        read_answer(s)
    time.sleep(0.2)
    before = d.rss()
    socks = []
    try:
        for _ in range(n):
            s = socket.create_connection(("127.0.0.1", d.port), timeout=10)
            socks.append(s)
            s.sendall(req)
        for s in socks:
            read_answer(s)
        time.sleep(0.5)
        return d.rss() - before
    finally:
        for s in socks:
            s.close()


def held_text(result):
    grown, why = result
    return "%.1f MiB" % (grown / MiB) if why is None else "failed: " + why


def held_rss_fresh(b, name, listen_extra, upath):
    """held_connections_rss on a new stratusd, so that what the earlier
    phases left in its heap is not counted: (bytes, None) or (None, why)."""
    d = b.stratusd_daemon(name, listen_extra=listen_extra)
    try:
        return held_connections_rss(d, upath, MEMORY_CONNS), None
    except (OSError, RuntimeError) as e:
        return None, str(e)
    finally:
        d.stop()


def memory_mode(args):
    """listen.connection_memory, both ways: stratusd at its default against
    a second stratusd at 32 KiB, on one nginx backend, taking turns. Each
    repetition runs 1 KiB GETs over 64 connections (wrk) and PUTs an
    object of args.size (curl) through both; last, a new daemon of each
    kind holds MEMORY_CONNS connections open after one GET on each, and
    its RSS growth is reported."""
    b = Bench(args)
    os.makedirs(args.out, exist_ok=True)
    paths = ["stratusd", "stratusd-32k"]
    res = {p: {"rps": [], "get_us": [], "put_mibs": [], "put_cpu": []}
           for p in paths}
    held = {}
    try:
        b.start_backend()
        b.make_file(os.path.join(b.dir, "store", "bucket", "small"), KiB)
        src = os.path.join(b.dir, "src.bin")
        b.make_file(src, args.size)
        b.start_stratusd()
        b.st_small = b.stratusd_daemon("small",
                                       listen_extra=MEMORY_SMALL_CONF)
        daemon = {"stratusd": b.st, "stratusd-32k": b.st_small}
        for path in paths:
            b.wrk(path, "small", 1)     # warm up connections and caches
        log("memory: %d x (GET 1 KiB x64 %d s, PUT %d MiB): %s" % (
            MEMORY_REPS, args.wrk_secs, args.size // MiB, ", ".join(paths)))
        for rep in range(MEMORY_REPS):
            for path in b.order(paths, rep):
                d = daemon[path]
                c0 = d.cpu()
                r = b.wrk(path, "small", args.wrk_secs)
                c1 = d.cpu()
                res[path]["rps"].append(r["rps"])
                res[path]["get_us"].append((c1 - c0) * 1e6 /
                                           (r["rps"] * args.wrk_secs))
                secs = b.curl(path, "put-" + path, "PUT", src, args.size)
                c2 = d.cpu()
                res[path]["put_mibs"].append(args.size / MiB / secs)
                res[path]["put_cpu"].append((c2 - c1) * GiB / args.size)
        upath = b.url("stratusd", "small")[1]
        held["stratusd"] = held_rss_fresh(b, "held", "", upath)
        held["stratusd-32k"] = held_rss_fresh(b, "held-small",
                                              MEMORY_SMALL_CONF, upath)
    finally:
        b.stop_all()
        shutil.rmtree(b.dir, ignore_errors=True)

    def ratio(k):
        return [x / y for x, y in zip(res["stratusd-32k"][k],
                                      res["stratusd"][k])]
    L = ["stratus connection memory, %s" %
         datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
         "command: %s" % args.command,
         "machine: %d CPUs; load average before: %s" % (os.cpu_count(),
                                                        args.loadavg),
         "stratusd: %s" % tree_state(),
         "stratusd: the default listen.connection_memory (128 KiB); "
         "stratusd-32k: %s" % MEMORY_SMALL_CONF.strip(),
         "%d repetitions; figures are median [min-max]" % MEMORY_REPS, "",
         "%-14s %-24s %-18s %-22s %s" % ("path", "GET 1 KiB x64 req/s",
                                        "CPU us/GET", "PUT %d MiB MiB/s" % (
                                            args.size // MiB),
                                        "CPU s/GiB PUT")]
    for path in paths:
        v = res[path]
        L.append("%-14s %-24s %-18s %-22s %s" % (
            path, spread(v["rps"], "%.0f"), spread(v["get_us"], "%.0f"),
            spread(v["put_mibs"], "%.0f"), spread(v["put_cpu"])))
    L += ["",
          "ratio stratusd-32k / stratusd, GET req/s:   %s" % spread(
              ratio("rps")),
          "ratio stratusd-32k / stratusd, PUT MiB/s:   %s" % spread(
              ratio("put_mibs")),
          "ratio stratusd-32k / stratusd, PUT CPU/GiB: %s" % spread(
              ratio("put_cpu")), "",
          "RSS growth of a new daemon while %d connections stay open "
          "after one GET each: stratusd %s, stratusd-32k %s" % (
              MEMORY_CONNS, held_text(held["stratusd"]),
              held_text(held["stratusd-32k"]))]
    text = "\n".join(L)
    print(text)
    with open(os.path.join(args.out, "memory.txt"), "w") as f:
        f.write(text + "\n")
    log("wrote %s" % os.path.join(args.out, "memory.txt"))
    return 0


def main():
    ap = argparse.ArgumentParser(prog="bench")
    ap.add_argument("mode", choices=["run", "rss", "cost", "memory"])
    ap.add_argument("size", nargs="?", type=parse_size,
                    help="rss: the object (5GiB); memory: the PUT (256MiB)")
    ap.add_argument("--stratusd", required=True)
    ap.add_argument("--backend-dir", required=True)
    ap.add_argument("--loadgen", required=True)
    ap.add_argument("--relay", help="bench/relay.c, built (run mode)")
    ap.add_argument("--out", default=os.path.join(HERE, "out"))
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--no-azure", action="store_true",
                    help="rss: leave out the Azure store (Azurite)")
    ap.add_argument("--only", default="",
                    help="comma list of: big,small,rate,conc")
    ap.add_argument("--command", default="bench/run")
    args = ap.parse_intermixed_args()
    if args.mode == "run" and not args.relay:
        ap.error("run needs --relay (bench/run builds bench/relay.c)")
    args.rate = 1000
    args.loadavg = open("/proc/loadavg").read().split()[0:3]
    args.loadavg = " ".join(args.loadavg)
    if args.mode == "rss":
        args.size = args.size or 5 * GiB
        return rss_mode(args)
    if args.mode == "cost":
        return cost_mode(args)
    if args.mode == "memory":
        args.size = args.size or 256 * MiB
        args.wrk_secs = 4
        return memory_mode(args)
    if args.quick:
        args.big, args.reps_big = 256 * MiB, 3
        args.reps_small, args.wrk_secs = 3, 2
        args.reps_rate, args.rate_secs = 2, 3
    else:
        args.big, args.reps_big = GiB, 7
        args.reps_small, args.wrk_secs = 5, 4
        args.reps_rate, args.rate_secs = 3, 8
    os.makedirs(args.out, exist_ok=True)
    only = set(filter(None, args.only.split(","))) or {"big", "small",
                                                       "rate", "conc"}
    b = Bench(args)
    t0 = time.monotonic()
    try:
        b.start_backend()
        b.fresh()
        log("workdir %s; backend :%d, nginx-proxy :%d, stratusd :%d" % (
            b.dir, b.backend.port, b.proxy.port, b.st.port))
        b.setup_data()
        if "big" in only:
            b.scenario_big("GET")
            b.scenario_big("PUT")
        if "small" in only:
            b.scenario_small("GET")
            b.scenario_small("PUT")
        if "rate" in only:
            b.scenario_rate()
        if "conc" in only:
            b.scenario_concurrent()
        if args.profile:
            b.profile()
    finally:
        b.stop_all()
        logtail = os.path.join(b.dir, "stratusd.log")
        if os.path.exists(logtail):
            with open(logtail, "rb") as f:
                warn = [ln for ln in f.read().decode(errors="replace")
                        .splitlines() if '"level":"warn"' in ln or
                        '"level":"error"' in ln]
            if warn:
                log("stratusd logged %d warnings/errors, e.g. %s" % (
                    len(warn), warn[0][:300]))
        shutil.rmtree(b.dir, ignore_errors=True)
    stem = "results-quick" if args.quick else "results"
    text = b.report()
    text += "\n(total bench time %.0f s)\n" % (time.monotonic() - t0)
    print(text)
    base = os.path.join(args.out, stem)
    with open(base + ".txt", "w") as f:
        f.write(text)
    with open(base + ".json", "w") as f:
        json.dump({"args": {k: v for k, v in vars(args).items()},
                   "raw": b.raw}, f, indent=1)
    b.chart(base)
    log("wrote %s.txt, %s.json, %s.png" % (base, base, base))
    return 0


if __name__ == "__main__":
    sys.exit(main())
