"""
providers.py - queue and table requests through stratusd against the same
requests sent straight to the provider, on the emulators the tests use
(fauxqs for SQS, dynalite for DynamoDB). Printed as rates and ratios;
nothing is asserted. Run by bench/providers.

    providers.py STRATUSD SECONDS THREADS

Both sides are driven the same way: THREADS Python threads, each with a
keep-alive connection, for SECONDS per scenario. Direct SQS requests are
JSON-protocol requests signed with botocore's SigV4Auth (Debian's botocore
describes SQS with the query protocol, which fauxqs does not speak);
direct DynamoDB requests go through botocore's own DynamoDB client. So the
ratio says what the daemon costs a client written in the same language.
"""

import http.client
import json
import os
import sys
import tempfile
import threading
import time

TOP = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(
    __file__)), ".."))
sys.path.insert(0, os.path.join(TOP, "tests", "lib"))
sys.path.insert(0, os.path.join(TOP, "tests", "integration"))
import stratus  # noqa: E402
from emulators import Dynalite, Fauxqs  # noqa: E402

import botocore.session  # noqa: E402
from botocore.auth import SigV4Auth  # noqa: E402
from botocore.awsrequest import AWSRequest  # noqa: E402
from botocore.credentials import Credentials  # noqa: E402

REGION = "eu-west-1"
TOKEN = "bench-providers"


def run_threads(n, seconds, make_worker):
    """Runs n workers for seconds; returns operations per second."""
    counts = [0] * n
    stop = time.monotonic() + seconds

    def loop(i):
        op = make_worker(i)
        while time.monotonic() < stop:
            op()
            counts[i] += 1
    ts = [threading.Thread(target=loop, args=(i,)) for i in range(n)]
    t0 = time.monotonic()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return sum(counts) / (time.monotonic() - t0)


class Daemon:
    def __init__(self, d):
        self.d = d

    def worker(self, method, path_fn, body=None, ok=(200, 201, 204)):
        def make(i):
            conn = http.client.HTTPConnection("127.0.0.1", self.d.port)

            def op():
                conn.request(method, path_fn(i), body=body,
                             headers={"Authorization": "Bearer " + TOKEN})
                r = conn.getresponse()
                r.read()
                if r.status not in ok:
                    raise SystemExit("stratusd: %s %d" % (path_fn(i),
                                                          r.status))
            return op
        return make


def sqs_direct(fq, queue_url):
    creds = Credentials("AKIDFAUXQS", "fauxqs-secret")

    def make(i):
        conn = http.client.HTTPConnection("127.0.0.1", fq.port)

        def op():
            body = json.dumps({"QueueUrl": queue_url,
                               "MessageBody": "m"}).encode()
            req = AWSRequest(method="POST", url=fq.endpoint + "/", data=body,
                             headers={"Content-Type":
                                      "application/x-amz-json-1.0",
                                      "X-Amz-Target":
                                      "AmazonSQS.SendMessage"})
            SigV4Auth(creds, "sqs", REGION).add_auth(req)
            conn.request("POST", "/", body=body, headers=dict(req.headers))
            r = conn.getresponse()
            r.read()
            if r.status != 200:
                raise SystemExit("fauxqs: %d" % r.status)
        return op
    return make


def ddb_client(db):
    return botocore.session.get_session().create_client(
        "dynamodb", region_name=REGION, endpoint_url=db.endpoint,
        aws_access_key_id="AKIDDYNALITE",
        aws_secret_access_key="dynalite-secret")


def main():
    stratusd, seconds, threads = sys.argv[1], int(sys.argv[2]), \
        int(sys.argv[3])
    os.environ["STRATUSD"] = stratusd
    work = tempfile.mkdtemp(prefix="stratus-bench-providers-")
    fq, db = Fauxqs(work), Dynalite(work)
    conf = stratus.make_config(
        [stratus.store_conf("q", {"provider": "sqs", "queue": "benchq",
                                  "region": REGION, "endpoint": fq.endpoint,
                                  "credentials": "fq"}, kind="queue"),
         stratus.store_conf("t", {"provider": "dynamodb", "table": "bencht",
                                  "region": REGION, "endpoint": db.endpoint,
                                  "credentials": "db"}, kind="table")],
        [stratus.client_conf("b", TOKEN, ["*:*:*"])],
        listen={"threads": 1}, allow_anonymous=False,
        extra="log = { requests = false; };\ncredentials = { %s %s };" % (
            fq.credentials_conf("fq"), db.credentials_conf("db")))
    d = stratus.Daemon(conf, name="bench-providers", tmpdir=work)
    rows = []
    try:
        d.request("PUT", "/v1/queues/q", token=TOKEN)
        d.request("PUT", "/v1/tables/t", token=TOKEN)
        for i in range(threads):
            d.request("PUT", "/v1/tables/t/p/r%d" % i, token=TOKEN,
                      body=b'{"n":1,"s":"value"}')
        client = ddb_client(db)
        queue_url = "http://sqs.%s.localhost:%d/000000000000/benchq" % (
            REGION, fq.port)
        dm = Daemon(d)
        via = run_threads(threads, seconds, dm.worker(
            "POST", lambda i: "/v1/queues/q/messages", b"m"))
        direct = run_threads(threads, seconds, sqs_direct(fq, queue_url))
        rows.append(("SQS send", via, direct))
        via = run_threads(threads, seconds, dm.worker(
            "GET", lambda i: "/v1/tables/t/p/r%d" % i))
        direct = run_threads(threads, seconds, lambda i: lambda: (
            client.get_item(TableName="bencht", ConsistentRead=True,
                            Key={"pk": {"S": "p"}, "rk": {"S": "r%d" % i}})))
        rows.append(("DynamoDB get", via, direct))
        via = run_threads(threads, seconds, dm.worker(
            "PUT", lambda i: "/v1/tables/t/w/r%d" % i, b'{"n":2}'))
        direct = run_threads(threads, seconds, lambda i: lambda: (
            client.put_item(TableName="bencht", Item={
                "pk": {"S": "w2"}, "rk": {"S": "r%d" % i},
                "n": {"N": "2"}})))
        rows.append(("DynamoDB put", via, direct))
    finally:
        d.stop()
        fq.stop()
        db.stop()
    print("\n%d client threads, %d s each; the daemon with one worker "
          "thread" % (threads, seconds))
    print("%-14s %14s %14s %8s" % ("scenario", "via stratusd/s", "direct/s",
                                   "ratio"))
    for name, via, direct in rows:
        print("%-14s %14.0f %14.0f %7.2fx" % (name, via, direct,
                                                via / direct))


if __name__ == "__main__":
    main()
