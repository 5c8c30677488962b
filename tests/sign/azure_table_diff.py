#!/usr/bin/python3
"""Differential test of Shared Key for Table against the Azure SDK.

Random Table service requests (fixed seed): methods, entity paths with
partition and row keys of any UTF-8 and quotes (percent-encoded as sent),
/Tables and /Tables('t'), optional Content-Type and Content-MD5, query
parameters with and without comp. Each is signed by azure-data-tables'
own SharedKeyCredentialPolicy (a hand-built PipelineRequest, no network)
and by src/sign/azure_sign.c through tests/sign/azure_driver: the
strings-to-sign and Authorization values must be identical.

Run with /usr/bin/python3 (Debian's python3-azure). Environment:
STRATUS_BUILDDIR (the build tree), AZURE_DIFF_SEED, AZURE_DIFF_COUNT.
"""
import base64
import os
import random
import sys
from urllib.parse import quote

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from azure.core.pipeline import PipelineContext, PipelineRequest  # noqa
from azure.core.pipeline.transport import HttpRequest  # noqa: E402
from azure.core.credentials import AzureNamedKeyCredential  # noqa: E402
from azure.data.tables._authentication import (  # noqa: E402
    SharedKeyCredentialPolicy)
from azure_diff import esc, run_driver  # noqa: E402

SEED = int(os.environ.get("AZURE_DIFF_SEED", "20240101"))
COUNT = int(os.environ.get("AZURE_DIFF_COUNT", "2000"))


class Capturing(SharedKeyCredentialPolicy):
    def _add_authorization_header(self, request, string_to_sign):
        self.sts = string_to_sign
        super()._add_authorization_header(request, string_to_sign)


def key_text(rng):
    pool = "abcXYZ019 -_.~'()*!$&+,;=:@%\u00e9\u4e2d\U0001f600"
    return "".join(rng.choice(pool) for _ in range(rng.randint(1, 12)))


def rand_request(rng):
    account = "".join(rng.choice("abcdefghij0123") for _ in
                      range(rng.randint(3, 12)))
    table = "t" + "".join(rng.choice("abcXYZ09") for _ in range(5))
    kind = rng.random()
    if kind < 0.2:
        path = "/Tables"
    elif kind < 0.3:
        path = "/Tables('%s')" % table
    elif kind < 0.5:
        path = "/%s()" % table
    else:
        pk = key_text(rng).replace("'", "''")
        rk = key_text(rng).replace("'", "''")
        path = "/%s(PartitionKey='%s',RowKey='%s')" % (
            table, quote(pk, safe="-._~"), quote(rk, safe="-._~"))
    if rng.random() < 0.3:
        path = "/" + account + path		# Azurite's path style
    query = []
    if rng.random() < 0.3:
        query.append(("comp", rng.choice(["acl", "properties", "stats"])))
    if rng.random() < 0.3:
        query.append(("$top", str(rng.randint(1, 1000))))
    headers = [("x-ms-date", "Sat, 05 Dec 2026 %02d:%02d:%02d GMT" % (
        rng.randint(0, 23), rng.randint(0, 59), rng.randint(0, 59))),
        ("x-ms-version", "2021-12-02")]
    if rng.random() < 0.6:
        headers.append(("Content-Type", rng.choice([
            "application/json", "application/json;odata=nometadata"])))
    if rng.random() < 0.2:
        headers.append(("Content-MD5", base64.b64encode(
            rng.randbytes(16)).decode()))
    if rng.random() < 0.5:
        headers.append(("Accept", "application/json;odata=minimalmetadata"))
    return {"key": base64.b64encode(rng.randbytes(64)).decode(),
            "account": account, "method": rng.choice(
                ["GET", "PUT", "POST", "DELETE", "MERGE"]),
            "path": path, "query": query, "headers": headers}


def sdk_sign(req):
    url = "https://%s.table.core.windows.net%s" % (req["account"],
                                                  req["path"])
    if req["query"]:
        url += "?" + "&".join("%s=%s" % (k, quote(v, safe=""))
                              for k, v in req["query"])
    http = HttpRequest(req["method"], url, headers=dict(req["headers"]))
    pol = Capturing(AzureNamedKeyCredential(req["account"], req["key"]))
    pol.on_request(PipelineRequest(http, PipelineContext(None)))
    return pol.sts, http.headers["Authorization"]


def line(req):
    f = ["TSK", req["key"], req["method"], req["account"], req["path"],
         str(len(req["query"]))]
    for k, v in req["query"]:
        f += [k, v]
    f.append(str(len(req["headers"])))
    for k, v in req["headers"]:
        f += [k, v]
    return "\t".join(esc(x) for x in f)


def main():
    rng = random.Random(SEED)
    reqs = [rand_request(rng) for _ in range(COUNT)]
    answers = run_driver([line(r) for r in reqs])
    print("1..2")
    ok = len(answers) == len(reqs) and all(a[0] == "OK" for a in answers)
    print("%s 1 - the driver signed all %d table requests" % (
        "ok" if ok else "not ok", len(reqs)))
    bad = 0
    for req, ans in zip(reqs, answers):
        sts, auth = sdk_sign(req)
        if ans[0] != "OK" or ans[1] != sts or ans[2] != auth:
            bad += 1
            if bad <= 3:
                print("# differs for %r\n# sdk:  %r\n# ours: %r" % (
                    req["path"], sts, ans[1:2]))
    print("%s 2 - Shared Key for Table agrees with azure-data-tables on "
          "%d requests (%d differ)" % ("ok" if bad == 0 else "not ok",
                                       len(reqs), bad))
    sys.exit(0 if ok and bad == 0 else 1)


if __name__ == "__main__":
    main()
