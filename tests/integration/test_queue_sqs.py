#!/usr/bin/python3
"""
test_queue_sqs.py - the queue contract on Amazon SQS's JSON protocol,
against fauxqs (an SQS emulator from npm, bound to 127.0.0.1 by
tests/lib/fauxqs-start.mjs since its own CLI listens everywhere). fauxqs
does not check signatures: tests/sign/sigv4_diff.py holds the signer to
botocore. Plus what only SQS shows: bodies SQS refuses travel base64 with
a marking attribute and come back as sent, and the queue URL comes from
GetQueueUrl whatever the endpoint's host is.
"""

import os
import sys
import tempfile
import traceback

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import stratus  # noqa: E402
import emulators  # noqa: E402
import queue_conformance as conf  # noqa: E402

TOKEN = "queue-sqs-token"
REGION = "eu-west-1"


class Profile:
    name = "sqs"
    # SQS (and fauxqs) accept a stale receipt handle silently.
    features = conf.ALL_FEATURES - {"stale_receipt"}

    def __init__(self):
        self.fq = None

    def setup(self, workdir):
        self.fq = emulators.Fauxqs(workdir)

    def teardown(self):
        if self.fq is not None:
            self.fq.stop()

    def queue_settings(self, store, queue):
        return {"provider": "sqs", "queue": queue, "region": REGION,
                "endpoint": self.fq.endpoint, "credentials": "emu"}

    def config_extra(self):
        return "credentials = { %s };" % self.fq.credentials_conf()


def check_odd_bodies(tap, root, fq):
    d = stratus.Daemon(stratus.make_config(
        [stratus.store_conf("jobs", {"provider": "sqs", "queue": "odd",
                                     "region": REGION,
                                     "endpoint": fq.endpoint + "/",
                                     "credentials": "emu"}, kind="queue")],
        [stratus.client_conf("t", TOKEN, ["queue:*:*"])],
        allow_anonymous=False,
        extra="credentials = { %s };" % fq.credentials_conf()),
        name="queue-sqs", tmpdir=root)
    try:
        d.request("PUT", "/v1/queues/jobs", token=TOKEN)
        bodies = ["smile \U0001f600", "bell \u0007", "plain",
                  "nul \u0000 end", "del \u007f", "c1 \u0085\u009f",
                  "edges \ud7ff\ue000\ufffd", "nonchars \ufffe\uffff",
                  "cr lf tab \r\n\t", "max \U0010ffff"]
        for b in bodies:
            r = d.request("POST", "/v1/queues/jobs/messages",
                          body=b.encode(), token=TOKEN)
            if r.status != 201:
                tap.ok(False, "sqs: odd bodies are sent", repr(r))
                return
        got = []
        for _ in range(5):
            r = d.request("GET", "/v1/queues/jobs/messages?max=20&wait=1",
                          token=TOKEN)
            got += [m["body"] for m in r.json()["messages"]]
            if len(got) >= len(bodies):
                break
        tap.ok(sorted(got) == sorted(bodies), "sqs: characters SQS refuses "
               "travel base64 and come back as sent", repr(got))
        d.stop_check(tap, "sqs odd bodies: daemon exits 0")
    finally:
        d.cleanup()


class HostileSqs:
    """A fake SQS endpoint whose answers are garbage: nesting deep enough
    to exhaust a recursive parser, messages of the wrong shape, a huge
    error body. The daemon must answer errors and keep running."""

    def __init__(self):
        import http.server
        import threading
        outer = self
        self.receives = 0

        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status, body = outer.answer(self.headers.get("X-Amz-Target"))
                self.send_response(status)
                self.send_header("Content-Type", "application/x-amz-json-1.0")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.endpoint = "http://127.0.0.1:%d" % self.srv.server_port
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def answer(self, target):
        deep = b"[" * 3000000 + b"]" * 3000000
        if target == "AmazonSQS.GetQueueUrl":
            return 200, b'{"QueueUrl":"http://x/000000000000/q"}'
        if target == "AmazonSQS.SendMessage":
            return 200, deep
        if target == "AmazonSQS.ReceiveMessage":
            self.receives += 1
            return [(200, b'{"Messages":[1,"x",{"MessageId":5}]}'),
                    (200, b'{"Messages":{"a":1}}'),
                    (400, b'{"__type":' + deep + b'}'),
                    (200, b'\xff\xfe not json')][(self.receives - 1) % 4]
        return 500, deep

    def stop(self):
        self.srv.shutdown()
        self.srv.server_close()


def check_hostile(tap, root):
    h = HostileSqs()
    d = None
    try:
        d = stratus.Daemon(stratus.make_config(
            [stratus.store_conf("jobs", {"provider": "sqs", "queue": "q",
                                         "region": REGION,
                                         "endpoint": h.endpoint,
                                         "credentials": "emu"},
                                kind="queue")],
            [stratus.client_conf("t", TOKEN, ["queue:*:*"])],
            allow_anonymous=False,
            extra='credentials = { emu = { provider = "aws"; source = '
                  '"static"; access_key_id = "AKIDX"; '
                  'secret_access_key_file = "%s"; }; };' % secret_file(root)),
            name="queue-sqs-hostile", tmpdir=root)
        r = d.request("POST", "/v1/queues/jobs/messages", body=b"x",
                      token=TOKEN)
        statuses = [r.status]
        for _ in range(4):
            r = d.request("GET", "/v1/queues/jobs/messages?max=3",
                          token=TOKEN)
            statuses.append(r.status)
        health = d.request("GET", "/v1/health")
        tap.ok(all(s >= 400 for s in statuses) and health.status == 200,
               "sqs: garbage answers (deep nesting, wrong shapes, not "
               "JSON) are errors, and the daemon lives on", repr(statuses))
        d.stop_check(tap, "sqs hostile: daemon exits 0")
    finally:
        if d is not None:
            d.cleanup()
        h.stop()


def secret_file(root):
    path = os.path.join(root, "hostile-secret")
    with open(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
        f.write("hostile-secret")
    return path


def main():
    tap = stratus.TAP()
    emulators.require()
    if not os.path.isdir(os.path.join(emulators.TESTS_DIR, "node_modules",
                                      "fauxqs")):
        emulators.require("fauxqs")
    conf.run(Profile(), tap)
    if os.environ.get("STRATUS_CONFORMANCE_ONLY"):
        tap.done()
    with tempfile.TemporaryDirectory(prefix="stratus-sqs-") as root:
        fq = None
        try:
            fq = emulators.Fauxqs(root)
            check_odd_bodies(tap, root, fq)
            check_hostile(tap, root)
        except Exception:
            tap.ok(False, "sqs: extra checks", traceback.format_exc())
        finally:
            if fq is not None:
                fq.stop()
    tap.done()


if __name__ == "__main__":
    main()
