#!/usr/bin/python3
"""
test_table_azure.py - the table contract on Azure Table Storage, against
Azurite's table service (which checks Shared Key for Table signatures),
plus what only Azure shows: a wrong account key is refused (403), and a
connection string's TableEndpoint is used.
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
import table_conformance as conf  # noqa: E402

TOKEN = "table-azure-token"


class Profile:
    name = "azure"
    features = conf.ALL_FEATURES

    def __init__(self):
        self.az = None

    def setup(self, workdir):
        self.az = emulators.AzuriteService(workdir, "table")

    def teardown(self):
        if self.az is not None:
            self.az.stop()

    def table_settings(self, store, table):
        return {"provider": "azure", "table": table, "credentials": "emu",
                "endpoint": self.az.endpoint}

    def config_extra(self):
        return "credentials = { %s };" % self.az.credentials_conf()


def daemon(root, stores, creds):
    return stratus.Daemon(stratus.make_config(
        stores, [stratus.client_conf("t", TOKEN, ["table:*:*"])],
        allow_anonymous=False, extra="credentials = { %s };" % creds),
        name="table-azure", tmpdir=root)


def t(name, settings):
    return stratus.store_conf(name, settings, kind="table")


def check_wrong_key(tap, root, az):
    bad = write_secret(os.path.join(root, "bad.key"),
                       base64.b64encode(b"x" * 64).decode())
    d = daemon(root, [t("users", {"provider": "azure", "table": "wrongkey",
                                  "credentials": "bad",
                                  "endpoint": az.endpoint})],
               az.credentials_conf("bad", bad))
    try:
        r = d.request("PUT", "/v1/tables/users", token=TOKEN)
        tap.ok(r.status == 403 and r.error_code() == "forbidden",
               "azure: a wrong account key: 403 forbidden", repr(r))
        d.stop_check(tap, "azure wrong key: daemon exits 0")
    finally:
        d.cleanup()


def check_connection_string(tap, root, az):
    cs = write_secret(os.path.join(root, "cs"), (
        "DefaultEndpointsProtocol=http;AccountName=%s;AccountKey=%s;"
        "TableEndpoint=%s;" % (ACCOUNT, ACCOUNT_KEY, az.endpoint)))
    creds = ('cs = { provider = "azure"; connection_string_file = "%s"; };'
             % cs)
    d = daemon(root, [t("users", {"provider": "azure", "table": "fromcs",
                                  "credentials": "cs"})], creds)
    try:
        r1 = d.request("PUT", "/v1/tables/users", token=TOKEN)
        r2 = d.request("PUT", "/v1/tables/users/p/r", body=b'{"a":1}',
                       token=TOKEN)
        r3 = d.request("GET", "/v1/tables/users/p/r", token=TOKEN)
        tap.ok(r1.status == 201 and r2.status == 201 and r3.status == 200 and
               r3.json()["data"] == {"a": 1},
               "azure: the connection string's TableEndpoint is used",
               "%r %r %r" % (r1, r2, r3))
        d.stop_check(tap, "azure connection string: daemon exits 0")
    finally:
        d.cleanup()


def main():
    tap = stratus.TAP()
    emulators.require("azurite-table")
    conf.run(Profile(), tap)
    if os.environ.get("STRATUS_CONFORMANCE_ONLY"):
        tap.done()
    with tempfile.TemporaryDirectory(prefix="stratus-taz-") as root:
        az = None
        try:
            az = emulators.AzuriteService(root, "table")
            for fn in (check_wrong_key, check_connection_string):
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
