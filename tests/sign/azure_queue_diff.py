#!/usr/bin/python3
"""Differential test of Shared Key on Azure Queue requests against the
Azure SDK's queue package (azure-storage-queue, its own
SharedKeyCredentialPolicy): the requests src/providers/azure/queue.c
makes (create and delete a queue, put, get, delete and update messages),
with random queue names, message ids, pop receipts full of '+', '/' and
'=', and the query parameters those calls carry. Signed by the SDK on a
hand-built PipelineRequest (no network) and by src/sign/azure_sign.c
through tests/sign/azure_driver (its SK mode, the queue as the container
and messages/ID as the blob): strings-to-sign and Authorization must be
identical.

Run with /usr/bin/python3 (Debian's python3-azure). Environment:
STRATUS_BUILDDIR, AZURE_DIFF_SEED, AZURE_DIFF_COUNT.
"""
import base64
import os
import random
import sys
import uuid
from urllib.parse import quote

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from azure.core.pipeline import PipelineContext, PipelineRequest  # noqa
from azure.core.pipeline.transport import HttpRequest  # noqa: E402
from azure.storage.queue._shared.authentication import (  # noqa: E402
    SharedKeyCredentialPolicy)
from azure_diff import sk_line, run_driver  # noqa: E402

SEED = int(os.environ.get("AZURE_DIFF_SEED", "20240101"))
COUNT = int(os.environ.get("AZURE_DIFF_COUNT", "2000"))


class Capturing(SharedKeyCredentialPolicy):
    def _add_authorization_header(self, request, string_to_sign):
        self.sts = string_to_sign
        super()._add_authorization_header(request, string_to_sign)


def rand_request(rng):
    queue = "".join(rng.choice("abcdefghij0123-") for _ in
                    range(rng.randint(3, 20))).strip("-") or "q0q"
    account = "".join(rng.choice("abcdefghij0123") for _ in
                      range(rng.randint(3, 12)))
    msg = str(uuid.UUID(int=rng.getrandbits(128)))
    pop = base64.b64encode(rng.randbytes(rng.randint(4, 16))).decode()
    op = rng.choice(["create", "delete", "put", "get", "ack", "update"])
    method, blob, query = {
        "create": ("PUT", None, []),
        "delete": ("DELETE", None, []),
        "put": ("POST", "messages", [("messagettl", "-1"), (
            "visibilitytimeout", str(rng.randint(0, 900)))]),
        "get": ("GET", "messages", [("numofmessages", str(rng.randint(1, 32))),
                                    ("visibilitytimeout",
                                     str(rng.randint(1, 43200)))]),
        "ack": ("DELETE", "messages/" + msg, [("popreceipt", pop)]),
        "update": ("PUT", "messages/" + msg, [
            ("popreceipt", pop),
            ("visibilitytimeout", str(rng.randint(0, 43200)))]),
    }[op]
    headers = [("x-ms-date", "Sat, 05 Dec 2026 %02d:%02d:%02d GMT" % (
        rng.randint(0, 23), rng.randint(0, 59), rng.randint(0, 59))),
        ("x-ms-version", "2021-12-02")]
    if rng.random() < 0.5:
        headers.append(("x-ms-client-request-id", "%032x" %
                        rng.getrandbits(128)))
    if op == "put":
        headers.append(("Content-Type", "application/xml"))
        headers.append(("Content-Length", str(rng.randint(60, 66000))))
    prefix = "/" + account if rng.random() < 0.3 else ""
    return {"key": base64.b64encode(rng.randbytes(64)).decode(),
            "account": account, "prefix": prefix, "method": method,
            "container": queue, "blob": blob, "query": query,
            "headers": headers}


def sdk_sign(req, path):
    url = "https://%s.queue.core.windows.net%s" % (req["account"], path)
    if req["query"]:
        url += "?" + "&".join("%s=%s" % (k, quote(v, safe=""))
                              for k, v in req["query"])
    http = HttpRequest(req["method"], url, headers=dict(req["headers"]))
    pol = Capturing(req["account"], req["key"])
    pol.on_request(PipelineRequest(http, PipelineContext(None)))
    return pol.sts, http.headers["Authorization"]


def main():
    rng = random.Random(SEED)
    reqs = [rand_request(rng) for _ in range(COUNT)]
    answers = run_driver([sk_line(r) for r in reqs])
    print("1..2")
    ok = len(answers) == len(reqs) and all(a[0] == "OK" for a in answers)
    print("%s 1 - the driver signed all %d queue requests" % (
        "ok" if ok else "not ok", len(reqs)))
    bad = 0
    for req, ans in zip(reqs, answers):
        if ans[0] != "OK":
            bad += 1
            continue
        path = ans[1]
        sts, auth = sdk_sign(req, path)
        if ans[3] != sts or ans[4] != auth:
            bad += 1
            if bad <= 3:
                print("# differs for %s %s\n# sdk:  %r\n# ours: %r" % (
                    req["method"], path, sts, ans[3]))
    print("%s 2 - Shared Key on queue requests agrees with "
          "azure-storage-queue on %d requests (%d differ)" % (
              "ok" if bad == 0 else "not ok", len(reqs), bad))
    sys.exit(0 if ok and bad == 0 else 1)


if __name__ == "__main__":
    main()
