#!/usr/bin/python3
"""
test_table_dynamodb.py - the table contract on DynamoDB's JSON protocol,
against dynalite (a DynamoDB emulator from npm) on 127.0.0.1. dynalite
does not check signatures: tests/sign/sigv4_diff.py holds the signer to
botocore. Plus what only DynamoDB shows: a double out of its range is
refused (400 invalid_entity), and a whole double keeps its type although
DynamoDB writes it back as an integer.
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
import table_conformance as conf  # noqa: E402

TOKEN = "table-ddb-token"
REGION = "eu-west-1"


class Profile:
    name = "dynamodb"
    features = conf.ALL_FEATURES

    def __init__(self):
        self.db = None

    def setup(self, workdir):
        self.db = emulators.Dynalite(workdir)

    def teardown(self):
        if self.db is not None:
            self.db.stop()

    def table_settings(self, store, table):
        return {"provider": "dynamodb", "table": table, "region": REGION,
                "endpoint": self.db.endpoint, "credentials": "emu"}

    def config_extra(self):
        return "credentials = { %s };" % self.db.credentials_conf()


def check_ranges(tap, root, db):
    d = stratus.Daemon(stratus.make_config(
        [stratus.store_conf("users", {"provider": "dynamodb",
                                      "table": "ranges", "region": REGION,
                                      "endpoint": db.endpoint,
                                      "credentials": "emu"}, kind="table")],
        [stratus.client_conf("t", TOKEN, ["table:*:*"])],
        allow_anonymous=False,
        extra="credentials = { %s };" % db.credentials_conf()),
        name="table-ddb", tmpdir=root)
    try:
        d.request("PUT", "/v1/tables/users", token=TOKEN)
        r = d.request("PUT", "/v1/tables/users/p/big", body=b'{"a":1e200}',
                      token=TOKEN)
        tap.ok(r.status == 400 and r.error_code() == "invalid_entity",
               "dynamodb: a double out of DynamoDB's range: 400 "
               "invalid_entity", repr(r))
        r = d.request("PUT", "/v1/tables/users/p/whole",
                      body=b'{"d":2.0,"i":2}', token=TOKEN)
        g = d.request("GET", "/v1/tables/users/p/whole", token=TOKEN)
        data = g.json().get("data", {}) if g.status == 200 else {}
        tap.ok(r.status == 201 and type(data.get("d")) is float and
               type(data.get("i")) is int, "dynamodb: 2.0 stays a double, "
               "2 an integer", repr(g))
        # JSON under the API's 400 KiB, but an item over DynamoDB's 400 KB
        # once its long row key and the daemon's _v are counted.
        rk = "k" * 250
        body = ('{"a":"%s"}' % ("x" * (400 * 1024 - 40))).encode()
        r = d.request("PUT", "/v1/tables/users/p/" + rk, body=body,
                      token=TOKEN)
        tap.ok(r.status == 413 and r.error_code() == "payload_too_large",
               "dynamodb: an item over DynamoDB's own size limit: 413",
               repr(r))
        check_cursor_ranges(tap, d)
        d.stop_check(tap, "dynamodb ranges: daemon exits 0")
    finally:
        d.cleanup()


def listing(d, prefix, cursor=None, limit=None):
    q = "?prefix=" + prefix
    if cursor:
        q += "&cursor=" + cursor
    if limit:
        q += "&limit=%d" % limit
    r = d.request("GET", "/v1/tables/users/cp" + q, token=TOKEN)
    if r.status != 200:
        return r, None, None
    doc = r.json()
    return r, [it["rk"] for it in doc["items"]], doc["next_cursor"]


def check_cursor_ranges(tap, d):
    """DynamoDB refuses an ExclusiveStartKey outside the begins_with
    range: a cursor handed out for one prefix and used with another
    still answers (the listing from the start, or an empty end)."""
    for rk in ("a1", "a2", "b1", "b2"):
        d.request("PUT", "/v1/tables/users/cp/" + rk, body=b'{"x":1}',
                  token=TOKEN)
    r, rows, cur = listing(d, "a", limit=1)
    tap.ok(rows == ["a1"] and cur is not None,
           "dynamodb: a page of one row gives a cursor", repr(r))
    r, rows, more = listing(d, "a", cursor=cur)
    tap.ok(rows == ["a2"], "dynamodb: the cursor goes on within its prefix",
           repr(r))
    r, rows, more = listing(d, "b", cursor=cur)
    tap.ok(rows == ["b1", "b2"] and more is None,
           "dynamodb: a cursor before another prefix's range: its listing "
           "from the start", repr(r))
    r, rows, more = listing(d, "0", cursor=cur)
    tap.ok(rows == [] and more is None,
           "dynamodb: a cursor after another prefix's range: the listing "
           "is over", repr(r))


def main():
    tap = stratus.TAP()
    emulators.require("dynalite")
    conf.run(Profile(), tap)
    if os.environ.get("STRATUS_CONFORMANCE_ONLY"):
        tap.done()
    with tempfile.TemporaryDirectory(prefix="stratus-ddb-") as root:
        db = None
        try:
            db = emulators.Dynalite(root)
            check_ranges(tap, root, db)
        except Exception:
            tap.ok(False, "dynamodb: extra checks", traceback.format_exc())
        finally:
            if db is not None:
                db.stop()
    tap.done()


if __name__ == "__main__":
    main()
