#!/usr/bin/python3
"""
test_queue_azure.py - the queue contract on Azure Queue Storage, against
Azurite's queue service (which checks Shared Key signatures), plus what
only Azure shows: a wrong account key is refused (403), a connection
string's QueueEndpoint is used, and message_encoding = "none" carries raw
text both ways (a producer and a consumer that do not base64).
"""

import base64
import os
import sys
import tempfile
import traceback

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import stratus  # noqa: E402
import emulators  # noqa: E402
from emulators import AZURE_ACCOUNT as ACCOUNT, AZURE_ACCOUNT_KEY as ACCOUNT_KEY, write_secret  # noqa: E402,E501
import queue_conformance as conf  # noqa: E402

TOKEN = "queue-azure-token"


class Profile:
    name = "azure"
    features = conf.ALL_FEATURES

    def __init__(self):
        self.az = None

    def setup(self, workdir):
        self.az = emulators.AzuriteService(workdir, "queue")

    def teardown(self):
        if self.az is not None:
            self.az.stop()

    def queue_settings(self, store, queue):
        return {"provider": "azure", "queue": queue, "credentials": "emu",
                "endpoint": self.az.endpoint}

    def config_extra(self):
        return "credentials = { %s };" % self.az.credentials_conf()


def daemon(root, az, stores, creds):
    return stratus.Daemon(stratus.make_config(
        stores, [stratus.client_conf("t", TOKEN, ["queue:*:*"])],
        allow_anonymous=False, extra="credentials = { %s };" % creds),
        name="queue-azure", tmpdir=root)


def q(name, settings):
    return stratus.store_conf(name, settings, kind="queue")


def check_wrong_key(tap, root, az):
    bad = write_secret(os.path.join(root, "bad.key"),
                       base64.b64encode(b"x" * 64).decode())
    d = daemon(root, az, [q("jobs", {"provider": "azure", "queue": "wrongkey",
                                     "credentials": "bad",
                                     "endpoint": az.endpoint})],
               az.credentials_conf("bad", bad))
    try:
        r = d.request("PUT", "/v1/queues/jobs", token=TOKEN)
        tap.ok(r.status == 403 and r.error_code() == "forbidden",
               "azure: a wrong account key: 403 forbidden", repr(r))
        d.stop_check(tap, "azure wrong key: daemon exits 0")
    finally:
        d.cleanup()


def check_connection_string(tap, root, az):
    cs = write_secret(os.path.join(root, "cs"), (
        "DefaultEndpointsProtocol=http;AccountName=%s;AccountKey=%s;"
        "QueueEndpoint=%s;" % (ACCOUNT, ACCOUNT_KEY, az.endpoint)))
    creds = ('cs = { provider = "azure"; connection_string_file = "%s"; };'
             % cs)
    d = daemon(root, az, [q("jobs", {"provider": "azure", "queue": "fromcs",
                                     "credentials": "cs"})], creds)
    try:
        r1 = d.request("PUT", "/v1/queues/jobs", token=TOKEN)
        r2 = d.request("POST", "/v1/queues/jobs/messages", body=b"via cs",
                       token=TOKEN)
        r3 = d.request("GET", "/v1/queues/jobs/messages", token=TOKEN)
        tap.ok(r1.status == 201 and r2.status == 201 and r3.status == 200 and
               [m["body"] for m in r3.json()["messages"]] == ["via cs"],
               "azure: the connection string's QueueEndpoint is used",
               "%r %r %r" % (r1, r2, r3))
        d.stop_check(tap, "azure connection string: daemon exits 0")
    finally:
        d.cleanup()


def check_raw_text(tap, root, az):
    d = daemon(root, az, [
        q("raw", {"provider": "azure", "queue": "rawtext", "credentials": "emu",
                  "endpoint": az.endpoint, "message_encoding": "none"}),
        q("b64", {"provider": "azure", "queue": "rawtext", "credentials": "emu",
                  "endpoint": az.endpoint})], az.credentials_conf())
    try:
        d.request("PUT", "/v1/queues/raw", token=TOKEN)
        r = d.request("POST", "/v1/queues/raw/messages",
                      body="plain <text> & caf\u00e9".encode(), token=TOKEN)
        tap.ok(r.status == 201, "azure none: a raw text message is sent",
               repr(r))
        # Read through a base64 store of the same queue: the text is not
        # base64, so it is handed over as it is.
        r = d.request("GET", "/v1/queues/b64/messages", token=TOKEN)
        got = [m["body"] for m in r.json().get("messages", [])] \
            if r.status == 200 else r
        tap.ok(got == ["plain <text> & caf\u00e9"], "azure: raw text from "
               "another producer is received as it is", repr(got))
        r = d.request("POST", "/v1/queues/raw/messages", body=b"bell \x07",
                      token=TOKEN)
        tap.ok(r.status == 400, "azure none: text XML cannot carry is "
               "refused (400)", repr(r))
        d.stop_check(tap, "azure raw text: daemon exits 0")
    finally:
        d.cleanup()


def main():
    tap = stratus.TAP()
    emulators.require("azurite-queue")
    conf.run(Profile(), tap)
    if os.environ.get("STRATUS_CONFORMANCE_ONLY"):
        tap.done()
    with tempfile.TemporaryDirectory(prefix="stratus-qaz-") as root:
        az = None
        try:
            az = emulators.AzuriteService(root, "queue")
            for fn in (check_wrong_key, check_connection_string,
                       check_raw_text):
                sub = os.path.join(root, fn.__name__)
                os.makedirs(sub)
                try:
                    fn(tap, sub, az)
                except Exception:
                    tap.ok(False, "azure: %s" % fn.__name__,
                           traceback.format_exc())
        finally:
            if az is not None:
                az.stop()
    tap.done()


if __name__ == "__main__":
    main()
