"""
services.py - the measurement behind bench/services (Python 3 stdlib).

    services.py STRATUSD SVCLOAD SECONDS CONNS OUT.json

One stratusd with a local queue store "q" and a local table store "t" in
a temporary directory on disk (not tmpfs: the point is durable writes,
with group commit). Scenarios, each SECONDS long with CONNS connections
of bench/svcload.c:

  send      POST a message                         target >= 5,000/s
  recvack   receive one message and acknowledge it target >= 5,000/s
  mixed     an emptied queue, an eighth of the connections sending and
            the rest receiving with a long poll: the send-to-receive
            latency of messages that do not wait in a backlog
  get       GET an entity (100 rows)               target >= 5,000/s
  cput      GET then PUT with If-Match, a row per connection
                                                   target >= 2,000/s

The daemon's CPU is read from /proc before and after each scenario, its
RSS after (VmRSS) and at the end (VmHWM). Nothing is asserted.
"""

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        parts = f.read().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")


def status_kib(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def call(port, method, path, body=None, headers=None):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path),
                                 data=body, method=method,
                                 headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def wait_ready(port, proc):
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("stratusd exited")
        try:
            if call(port, "GET", "/v1/health") == 200:
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("stratusd did not start")


def load(svcload, port, scenario, name, seconds, conns):
    out = subprocess.run([svcload, "-p", str(port), "-s", scenario, "-n",
                          name, "-d", str(seconds), "-c", str(conns)],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def measure(pid, fn):
    c0, t0 = cpu_seconds(pid), time.monotonic()
    res = fn()
    c1, t1 = cpu_seconds(pid), time.monotonic()
    if isinstance(res, list):
        res = {"parts": res}
    res["cpu_cores"] = (c1 - c0) / (t1 - t0)
    res["rss_mib"] = status_kib(pid, "VmRSS") / 1024
    return res


def mixed(svcload, port, seconds, conns):
    """Few senders, many receivers waiting (long poll) on an empty queue:
    each message is taken as soon as it is sent, so the send-to-receive
    time is the daemon's, not a backlog's."""
    call(port, "DELETE", "/v1/queues/q")
    call(port, "PUT", "/v1/queues/q")
    senders = max(1, conns // 8)
    procs = [subprocess.Popen([svcload, "-p", str(port), "-s", s, "-n", "q",
                               "-d", str(seconds), "-c", str(n)],
                              stdout=subprocess.PIPE, text=True)
             for s, n in (("send", senders), ("recvack", conns - senders))]
    return [json.loads(p.communicate()[0]) for p in procs]


def main():
    stratusd, svcload, seconds, conns, out = sys.argv[1:6]
    seconds, conns = int(seconds), int(conns)
    work = tempfile.mkdtemp(prefix="stratus-bench-services-",
                            dir="/var/tmp")
    port = free_port()
    conf = os.path.join(work, "stratus.conf")
    with open(conf, "w") as f:
        f.write('listen = { address = "127.0.0.1"; port = %d; };\n'
                'allow_anonymous = true;\n'
                'log = { requests = false; };\n'
                'stores = (\n'
                ' { name = "q"; kind = "queue"; provider = "local"; '
                'path = "%s/q"; },\n'
                ' { name = "t"; kind = "table"; provider = "local"; '
                'path = "%s/t"; }\n);\n' % (port, work, work))
    proc = subprocess.Popen([stratusd, "-c", conf],
                            stdout=subprocess.DEVNULL,
                            stderr=open(os.path.join(work, "log"), "w"))
    results = {}
    try:
        wait_ready(port, proc)
        call(port, "PUT", "/v1/queues/q")
        call(port, "PUT", "/v1/tables/t")
        for i in range(100):
            call(port, "PUT", "/v1/tables/t/p/r%d" % i,
                 json.dumps({"i": i, "s": "value %d" % i}).encode())
        pid = proc.pid
        for name, fn in [
                ("send", lambda: load(svcload, port, "send", "q", seconds,
                                      conns)),
                ("recvack", lambda: load(svcload, port, "recvack", "q",
                                         seconds, conns)),
                ("mixed", lambda: mixed(svcload, port, seconds, conns)),
                ("get", lambda: load(svcload, port, "get", "t", seconds,
                                     conns)),
                ("cput", lambda: load(svcload, port, "cput", "t", seconds,
                                      conns))]:
            results[name] = measure(pid, fn)
            print("%-8s %s" % (name, json.dumps(results[name])), flush=True)
        results["hwm_mib"] = status_kib(pid, "VmHWM") / 1024
    finally:
        proc.terminate()
        proc.wait(30)
    report(results, seconds, conns)
    with open(out, "w") as f:
        json.dump(results, f, indent=1)


def report(r, seconds, conns):
    targets = {"send": 5000, "recvack": 5000, "get": 5000, "cput": 2000}
    print("\nlocal store, %d connections, %d s each, durable (fsync on)" % (
        conns, seconds))
    print("%-9s %10s %10s %10s %7s %8s  %s" % (
        "scenario", "ops/s", "p50 ms", "p99 ms", "cores", "RSS MiB", "target"))
    for name in ("send", "recvack", "get", "cput"):
        x = r[name]
        t = targets[name]
        print("%-9s %10.0f %10.2f %10.2f %7.2f %8.1f  >= %d: %s" % (
            name, x["rate"], x["p50_us"] / 1000, x["p99_us"] / 1000,
            x["cpu_cores"], x["rss_mib"], t,
            "MET" if x["rate"] >= t else "MISS"))
    s, q = r["mixed"]["parts"]
    print("mixed     send %.0f/s + receive+ack %.0f/s; send->receive "
          "p50 %.2f ms p99 %.2f ms; %.2f cores" % (
              s["rate"], q["rate"], q["e2e_p50_us"] / 1000,
              q["e2e_p99_us"] / 1000, r["mixed"]["cpu_cores"]))
    print("peak RSS %.1f MiB" % r["hwm_mib"])


if __name__ == "__main__":
    main()
