#!/usr/bin/python3
"""
test_connections.py - how stores reach their provider: trusted
certificates (ca_file, ca_path), a proxy (proxy, no_proxy), and where
plain http:// may go (allow_http), per store and per credentials group.

s3rver serves plain HTTP on 127.0.0.1; a small TLS forwarder of this
file puts HTTPS in front of it with a certificate made here by openssl,
signed by a CA made here. A second forwarder shows a certificate for
another host name. A small HTTP proxy (CONNECT and absolute URLs) counts
what goes through it.

  trust     one row per store: which endpoint, which trust settings,
            whether a PUT and GET work; a store that does not trust the
            certificate gets a 5xx JSON error and stores nothing
  proxy     a store with proxy goes through it; with no_proxy naming the
            host it does not
  settings  --check-config on settings that must be refused, and on
            allow_http, which lets a store use a plain http:// endpoint
            that is not loopback (never contacted here)
"""

import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
import stratus  # noqa: E402
import emulators  # noqa: E402
from tls import Proxy, TlsForwarder, make_pki  # noqa: E402

TOKEN = "conn-test-token"
# A store's calls give up quickly: a refused certificate is not retried
# for long.
RETRY = ("retry = { max_attempts = 2; base_delay_ms = 5; max_delay_ms = 20; "
         "attempt_timeout_ms = 10000; };")


# ---------------------------------------------------------------- trust

def trust_rows(env):
    """(store name, settings beyond the S3 ones, works). env: the ports
    and files of this run."""
    https = "https://127.0.0.1:%d" % env["tls"]
    return [
        ("cafile", {"endpoint": https, "ca_file": env["ca"]}, True),
        ("byname", {"endpoint": "https://localhost:%d" % env["tls"],
                    "ca_file": env["ca"]}, True),
        ("capath", {"endpoint": https, "ca_path": env["cadir"]}, True),
        ("group", {"endpoint": https, "credentials": "trusting"}, True),
        ("untrusted", {"endpoint": https}, False),
        ("otherhost", {"endpoint": "https://127.0.0.1:%d" % env["other"],
                       "ca_file": env["ca"]}, False),
    ]


def s3_store(name, s3, extra):
    settings = {"provider": "s3", "bucket": "conn", "region": "us-east-1",
                "credentials": "emu", "endpoint": s3.endpoint}
    settings.update(extra)
    return stratus.store_conf(name, settings)


def config(s3, stores, env):
    creds = s3.credentials_conf("emu")
    trusting = s3.credentials_conf("trusting").replace(
        "};", 'ca_file = "%s"; };' % env["ca"])
    return stratus.make_config(
        stores, [stratus.client_conf("t", TOKEN, ["blob:*:rw"])],
        allow_anonymous=False,
        extra="credentials = { %s %s };\n%s" % (creds, trusting, RETRY))


def check_trust(tap, s3, env):
    rows = trust_rows(env)
    stores = [s3_store(n, s3, extra) for n, extra, _ in rows]
    stores.append(s3_store("plain", s3, {}))
    with stratus.Daemon(config(s3, stores, env), name="conn-trust") as d:
        for name, extra, works in rows:
            key = "/v1/blobs/%s/k-%s" % (name, name)
            body = ("through %s" % name).encode()
            r = d.request("PUT", key, body=body, token=TOKEN)
            if works:
                g = d.request("GET", key, token=TOKEN)
                tap.ok(r.status == 201 and g.status == 200 and g.body == body,
                       "trust: %s: PUT and GET over HTTPS" % name,
                       "%r %r" % (r, g))
                continue
            # Refused: a JSON error, and nothing in the bucket.
            seen = d.request("GET", "/v1/blobs/plain/k-%s" % name,
                             token=TOKEN)
            tap.ok(500 <= r.status < 600 and
                   r.headers.get("content-type", "").startswith(
                       "application/json") and seen.status == 404,
                   "trust: %s: refused (%d), nothing stored" %
                   (name, r.status), "%r %r" % (r, seen))
        d.stop_check(tap, "trust: the daemon exits cleanly")


# ---------------------------------------------------------------- proxy

def check_proxy(tap, s3, env):
    proxy = Proxy()
    url = "http://127.0.0.1:%d" % proxy.port
    stores = [
        s3_store("proxied", s3, {"proxy": url}),
        s3_store("bypass", s3, {"proxy": url, "no_proxy": "127.0.0.1"}),
        s3_store("tunnel", s3, {"endpoint": "https://127.0.0.1:%d" %
                                env["tls"], "ca_file": env["ca"],
                                "proxy": url}),
    ]
    try:
        with stratus.Daemon(config(s3, stores, env), name="conn-proxy") as d:
            for name, through in (("proxied", True), ("bypass", False),
                                  ("tunnel", True)):
                before = proxy.count
                r = d.request("PUT", "/v1/blobs/%s/p-%s" % (name, name),
                              body=b"p", token=TOKEN)
                g = d.request("GET", "/v1/blobs/%s/p-%s" % (name, name),
                              token=TOKEN)
                used = proxy.count > before
                tap.ok(r.status == 201 and g.body == b"p" and
                       used == through,
                       "proxy: %s %s the proxy" %
                       (name, "goes through" if through else "bypasses"),
                       "%r %r, proxy asked %d times" %
                       (r, g, proxy.count - before))
            d.stop_check(tap, "proxy: the daemon exits cleanly")
    finally:
        proxy.close()


# ---------------------------------------------------------------- settings

# (what, settings of the store, settings of its credentials group,
#  what --check-config must say: None for accepted)
SETTINGS = [
    ("plain http to another host", {"endpoint": "http://10.0.0.1:9"}, {},
     "plain http:// is refused for 10.0.0.1"),
    ("allow_http on the store", {"endpoint": "http://10.0.0.1:9",
                                 "allow_http": True}, {}, None),
    ("allow_http on the group", {"endpoint": "http://10.0.0.1:9"},
     {"allow_http": True}, None),
    ("plain http by another name", {"endpoint": "http://files.example:9"},
     {}, "plain http:// is refused for files.example"),
    ("proxy not http", {"proxy": "ftp://127.0.0.1:21"}, {},
     "proxy must be an http:// or https:// URL"),
    ("proxy without a host", {"proxy": "http://"}, {},
     "proxy must be an http:// or https:// URL"),
    ("ca_file missing", {"ca_file": "/nonexistent/ca.pem"}, {},
     "ca_file '/nonexistent/ca.pem' is not a readable file"),
    ("ca_path not a directory", {"ca_path": "/etc/hostname"}, {},
     "ca_path '/etc/hostname' is not a readable directory"),
    ("ca_file of the group missing", {}, {"ca_file": "/nonexistent/g.pem"},
     "ca_file '/nonexistent/g.pem' is not a readable file"),
    ("ca_file not a string", {"ca_file": 5}, {}, "'ca_file' must be a string"),
    ("allow_http not a bool", {"allow_http": "yes"}, {},
     "'allow_http' must be true or false"),
]


def group_conf(s3, extra):
    text = s3.credentials_conf("emu")
    more = " ".join("%s = %s;" % (k, stratus.conf_value(v))
                    for k, v in extra.items())
    return text.replace("};", more + " };")


def check_settings(tap, s3, work):
    for what, store, group, want in SETTINGS:
        text = stratus.make_config(
            [s3_store("s", s3, store)], allow_anonymous=True,
            extra="credentials = { %s };" % group_conf(s3, group))
        path = os.path.join(work, "check.conf")
        with open(path, "w") as f:
            f.write(text)
        p = subprocess.run([stratus.stratusd_path(), "--check-config",
                            "--config", path], capture_output=True,
                           env=stratus.sanitizer_env(), timeout=60)
        out = p.stdout.decode() + p.stderr.decode()
        if want is None:
            ok = p.returncode == 0
        else:
            ok = p.returncode == 1 and want in out
        tap.ok(ok and not stratus.sanitizer_report(out),
               "settings: %s: %s" % (what, "accepted" if want is None
                                     else "refused (%s)" % want), out)


def main():
    emulators.require("s3rver")
    tap = stratus.TAP()
    with tempfile.TemporaryDirectory(prefix="conn-") as work:
        pki = os.path.join(work, "pki")
        os.mkdir(pki)
        cadir = make_pki(pki)
        s3 = emulators.S3rver(work, ["conn"])
        fwd = TlsForwarder(os.path.join(pki, "good.pem"),
                           os.path.join(pki, "good.key"), s3.port)
        other = TlsForwarder(os.path.join(pki, "other.pem"),
                             os.path.join(pki, "other.key"), s3.port)
        env = {"tls": fwd.port, "other": other.port, "cadir": cadir,
               "ca": os.path.join(pki, "ca.pem")}
        try:
            for name, fn, args in (("trust", check_trust, (s3, env)),
                                   ("proxy", check_proxy, (s3, env)),
                                   ("settings", check_settings, (s3, work))):
                try:
                    fn(tap, *args)
                except Exception as e:  # noqa: BLE001 - reported as a failure
                    tap.ok(False, "%s: ran to the end" % name, repr(e))
        finally:
            fwd.close()
            other.close()
            s3.stop()
    tap.done()


if __name__ == "__main__":
    sys.exit(main())
