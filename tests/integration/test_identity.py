#!/usr/bin/python3
"""
test_identity.py - AWS credential sources on the credentials service
(configuration.md "credentials", operations.md "Identity"), against a
local fake of IMDSv2, the ECS container endpoint and STS that also plays
a verifying S3 (tests/lib/fake_aws_identity.py): every S3 request's
SigV4 signature must hold for a key the fake issued and that is live at
that moment, with its session token signed.

  imds          /v1/ready 503 until the first (slow) fetch, then 200;
                continuous PUT, GET and presigned GET across several key
                rotations (16 s keys) with one failed refresh on the way:
                zero failed requests, every S3 request verified; metrics
                per group; no secret in the log or the metrics
  container     Authorization from AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE,
                role_arn + external_id on top: STS AssumeRole signed with
                the container's key, S3 sees only the role's keys
  web_identity  the token file re-read at each refresh
  unavailable   a source that always fails and nothing cached: requests
                get 503 credentials_unavailable with Retry-After, ready
                stays 503, the log says why, failures are counted
  static        a reload re-reads the secret file (the group is shared)
  profile       credential_process of a profile in AWS_CONFIG_FILE
  plain http    refused to a host that is not loopback or a metadata
                address
  chain         no env, no shared files, IMDS disabled: the container
                endpoint is used; nothing set up: unavailable
  stop          SIGTERM while a fetch hangs: the fetch is abandoned
  settings      wrong types and unknown sources refused by --check-config

No test contacts 169.254.169.254 or 169.254.170.2: AWS_EC2_METADATA_
DISABLED=true everywhere but the imds case, whose endpoint is the fake.
"""

import json
import os
import signal
import subprocess
import sys
import threading
import time
import traceback
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import stratus  # noqa: E402
from fake_aws_identity import FakeAWS  # noqa: E402
from stratus import conf_str, store_conf  # noqa: E402
from tls import TlsForwarder, make_pki  # noqa: E402

TOKEN = "identity-test-token"


def base_env(tmp, **extra):
    """The daemon's environment: no AWS_* of the caller's, HOME empty,
    IMDS disabled unless said otherwise."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["HOME"] = tmp
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    env.update(extra)
    return {k: v for k, v in env.items() if v is not None}


def config(fake, group):
    """An S3 store `s`, an SQS store `q` and a DynamoDB store `t` on the
    fake, all with credentials group `c` = group."""
    common = {"region": "us-east-1", "endpoint": fake.url,
              "credentials": "c"}
    settings = dict(common, provider="s3", bucket="bkt", path_style=True)
    creds = " ".join("%s = %s;" % (k, conf_str(v)) for k, v in group.items())
    return stratus.make_config(
        stores=[store_conf("s", settings),
                store_conf("q", dict(common, provider="sqs", queue="q"),
                           kind="queue"),
                store_conf("t", dict(common, provider="dynamodb",
                                     table="tbl"), kind="table")],
        clients=[stratus.client_conf("app", TOKEN, ["blob:*:*", "queue:*:*",
                                                  "table:*:*"])],
        extra="credentials = { c = { provider = \"aws\"; %s }; };" % creds)


def start(fake, group, tmp, env, name):
    return stratus.Daemon(config(fake, group), name=name, tmpdir=tmp,
                          env=base_env(tmp, **env))


def put_get(d, key, data):
    return d.put_get("s", key, data, TOKEN)


def presigned_get(d, key, data):
    body = json.dumps({"store": "s", "key": key, "method": "GET",
                       "expires_in": 60})
    r = d.request("POST", "/v1/presign", body=body.encode(), token=TOKEN,
                  headers={"Content-Type": "application/json"})
    if r.status != 200:
        return "presign: %d %s" % (r.status, r.body[:200])
    u = urllib.parse.urlsplit(r.json()["url"])
    r = stratus.http_request(u.hostname, u.port, "GET",
                             u.path + "?" + u.query)
    if r.status != 200 or r.body != data:
        return "presigned GET: %d %s" % (r.status, r.body[:200])
    return None


def no_secrets(fake, text):
    leaked = [s for s in fake.secrets() if s in text]
    return not leaked, "secrets found: %r" % leaked[:3]


def metric(text, name, group="c"):
    for line in text.splitlines():
        if line.startswith('%s{credentials="%s"} ' % (name, group)):
            return float(line.split()[-1])
    return None


def case_imds(tap, tmp):
    fake = FakeAWS(life=16)
    fake.delay = 2.0        # the first fetch is slow: ready must wait
    d = start(fake, {"source": "imds"}, tmp,
              {"AWS_EC2_METADATA_DISABLED": None,
               "AWS_EC2_METADATA_SERVICE_ENDPOINT": fake.url + "/"}, "imds")
    try:
        r = d.request("GET", "/v1/ready")
        tap.ok(r.status == 503 and r.json().get("status") ==
               "credentials_pending",
               "imds: /v1/ready is 503 until the first fetch", repr(r))
        tap.ok(d.wait_ready(), "imds: /v1/ready turns 200 once resolved")
        fake.delay = 0.0
        failures, lock, stop = [], threading.Lock(), threading.Event()

        def traffic(tid):
            n = 0
            while not stop.is_set():
                n += 1
                key, data = "t%d/k%d" % (tid, n % 5), b"x%d-%d" % (tid, n)
                why = put_get(d, key, data) or (
                    presigned_get(d, key, data) if n % 3 == 0 else None)
                if why:
                    with lock:
                        failures.append(why)
                time.sleep(0.05)

        threads = [threading.Thread(target=traffic, args=(i,))
                   for i in range(2)]
        for t in threads:
            t.start()
        # One refresh fails on the way: retried while the cached keys
        # stay valid.
        time.sleep(10)
        fake.fail_next = 1
        time.sleep(26)
        stop.set()
        for t in threads:
            t.join(60)
        used = fake.s3_keys_used()
        tap.ok(not failures, "imds: no request failed across rotations",
               "\n".join(failures[:10]))
        tap.ok(not fake.rejected and fake.verified > 50,
               "imds: every S3 request verified (%d) with a live key" %
               fake.verified, "\n".join(fake.rejected[:10]))
        tap.ok(len(used) >= 3, "imds: the keys rotated (%d keys used)" %
               len(used), repr(used))
        m = d.request("GET", "/metrics").body.decode()
        exp = metric(m, "stratus_credentials_expiry_seconds")
        fails = metric(m, "stratus_credentials_refresh_failures_total")
        tap.ok(exp is not None and 0 < exp <= 16 and fails is not None and
               fails >= 1, "imds: metrics give seconds to expiry and "
               "refresh failures", "expiry %r failures %r" % (exp, fails))
        tap.ok(any(r.get("msg") == "credentials refresh failed"
                   for r in d.records()),
               "imds: the failed refresh is logged as a warning")
        tap.check("imds: no secret or session token in the log or metrics",
                  no_secrets, fake, d.stderr_text() + m)
    finally:
        d.stop_check(tap, "imds: exits 0, no sanitizer report")
        fake.stop()


def case_container_role(tap, tmp):
    fake = FakeAWS(life=120)
    fake.container_token = "Bearer container-secret-token"
    tfile = os.path.join(tmp, "ecs-token")
    with open(tfile, "w") as f:
        f.write(fake.container_token + "\n")
    d = start(fake, {"source": "container",
                     "role_arn": "arn:aws:iam::123456789012:role/app",
                     "external_id": "ext-42", "session_name": "stratus-test"},
              tmp, {"AWS_CONTAINER_CREDENTIALS_FULL_URI":
                    fake.url + "/ecs/creds",
                    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": tfile,
                    "AWS_ENDPOINT_URL_STS": fake.url}, "container")
    try:
        tap.ok(d.wait_ready(), "container+role: ready")
        why = put_get(d, "a", b"one") or presigned_get(d, "a", b"one")
        tap.ok(why is None, "container+role: PUT, GET, presigned GET", why)
        a = fake.assume[0] if fake.assume else {}
        tap.ok(a.get("_signed_by") == "ecs" and a.get("RoleArn") ==
               "arn:aws:iam::123456789012:role/app" and
               a.get("ExternalId") == "ext-42" and
               a.get("RoleSessionName") == "stratus-test",
               "container+role: AssumeRole signed with the container's key, "
               "with role_arn, external_id, session_name", repr(a))
        r = d.request("POST", "/v1/queues/q/messages", body=b"hello",
                      token=TOKEN)
        tap.ok(r.status == 201, "container+role: an SQS send, signed with "
               "the session token", repr(r))
        r = d.request("GET", "/v1/tables/t/p/r", token=TOKEN)
        tap.ok(r.status == 404 and ("dynamodb", "DynamoDB_20120810.GetItem")
               in fake.calls, "container+role: a DynamoDB read, signed with "
               "the session token", repr(r))
        used = fake.s3_keys_used()
        tap.ok(used and all("ROLE" in k for k in used) and
               not fake.rejected,
               "container+role: S3, SQS and DynamoDB saw only the assumed "
               "role's keys, every request verified",
               repr(used) + repr(fake.rejected))
    finally:
        d.stop_check(tap, "container: exits 0, no sanitizer report")
        fake.stop()


def case_web_identity(tap, tmp):
    fake = FakeAWS(life=8)
    tfile = os.path.join(tmp, "web-token")
    with open(tfile, "w") as f:
        f.write("jwt-one\n")
    d = start(fake, {"source": "web_identity"}, tmp,
              {"AWS_WEB_IDENTITY_TOKEN_FILE": tfile,
               "AWS_ROLE_ARN": "arn:aws:iam::123456789012:role/web",
               "AWS_ROLE_SESSION_NAME": "sess",
               "AWS_ENDPOINT_URL_STS": fake.url}, "web")
    try:
        tap.ok(d.wait_ready(), "web_identity: ready")
        tap.ok(put_get(d, "w", b"web") is None, "web_identity: PUT, GET")
        with open(tfile + ".new", "w") as f:
            f.write("jwt-two\n")
        os.replace(tfile + ".new", tfile)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and "jwt-two" not in \
                fake.web_tokens:
            time.sleep(0.2)
        tap.ok(fake.web_tokens[:1] == ["jwt-one"] and
               "jwt-two" in fake.web_tokens,
               "web_identity: the token file is re-read at a refresh",
               repr(fake.web_tokens))
        tap.ok(put_get(d, "w", b"web2") is None and not fake.rejected,
               "web_identity: requests go on with the new keys",
               repr(fake.rejected))
    finally:
        d.stop_check(tap, "web_identity: exits 0, no sanitizer report")
        fake.stop()


def case_unavailable(tap, tmp):
    fake = FakeAWS(life=60)
    fake.fail_always = True
    d = start(fake, {"source": "container"}, tmp,
              {"AWS_CONTAINER_CREDENTIALS_FULL_URI": fake.url + "/ecs/creds"},
              "unavailable")
    try:
        d.wait_log(lambda r: r.get("msg") == "credentials unavailable",
                   timeout=30)
        r = d.request("GET", "/v1/blobs/s/x", token=TOKEN)
        tap.ok(r.status == 503 and r.error_code() == "credentials_unavailable"
               and r.header("Retry-After") is not None,
               "unavailable: 503 credentials_unavailable with Retry-After",
               repr(r))
        r2 = d.request("POST", "/v1/presign", token=TOKEN, body=json.dumps(
            {"store": "s", "key": "x", "method": "GET",
             "expires_in": 60}).encode(),
            headers={"Content-Type": "application/json"})
        tap.ok(r2.status == 503 and r2.error_code() ==
               "credentials_unavailable",
               "unavailable: a presign is 503 credentials_unavailable too",
               repr(r2))
        tap.ok(d.request("GET", "/v1/ready").status == 503,
               "unavailable: /v1/ready stays 503")
        rec = [x for x in d.records()
               if x.get("msg") == "credentials unavailable"]
        tap.ok(rec and "500" in rec[0].get("error", "") and
               rec[0].get("credentials") == "c",
               "unavailable: the log says which group and why", repr(rec[:1]))
        m = d.request("GET", "/metrics").body.decode()
        f = metric(m, "stratus_credentials_refresh_failures_total")
        tap.ok(f is not None and f >= 1 and
               metric(m, "stratus_credentials_expiry_seconds") == 0,
               "unavailable: failures counted, nothing valid", m[-400:])
        tap.ok(fake.verified == 0 and not fake.rejected,
               "unavailable: the provider was not called")
    finally:
        d.stop_check(tap, "unavailable: exits 0, no sanitizer report")
        fake.stop()


def case_chain(tap, tmp):
    fake = FakeAWS(life=120)
    d = start(fake, {"source": "chain"}, tmp,
              {"AWS_CONTAINER_CREDENTIALS_FULL_URI": fake.url + "/ecs/creds"},
              "chain")
    try:
        tap.ok(d.wait_ready() and put_get(d, "c", b"chain") is None,
               "chain: no env or files, IMDS disabled: the container "
               "endpoint gives the keys")
        used = fake.s3_keys_used()
        tap.ok(used and all("ECS" in k for k in used), "chain: container "
               "keys used", repr(used))
    finally:
        d.stop_check(tap, "chain: exits 0, no sanitizer report")
    d = start(fake, {"source": "chain"}, tmp, {}, "chain-none")
    try:
        d.wait_log(lambda r: r.get("msg") == "credentials unavailable",
                   timeout=30)
        r = d.request("GET", "/v1/blobs/s/x", token=TOKEN)
        rec = [x for x in d.records()
               if x.get("msg") == "credentials unavailable"]
        tap.ok(r.status == 503 and rec and "imds: disabled" in
               rec[0].get("error", ""),
               "chain: nothing set up is unavailable, each step said",
               repr(rec[:1]))
    finally:
        d.stop_check(tap, "chain-none: exits 0, no sanitizer report")
        fake.stop()


def case_profile_process(tap, tmp):
    fake = FakeAWS(life=120)
    conf = os.path.join(tmp, "aws-config")
    with open(conf, "w") as f:
        f.write("[profile app]\nregion = us-east-1\n"
                "credential_process = %s -c \"import urllib.request; "
                "print(urllib.request.urlopen('%s/process/creds')"
                ".read().decode())\"\n" % (sys.executable, fake.url))
    d = start(fake, {"source": "profile", "profile": "app"}, tmp,
              {"AWS_CONFIG_FILE": conf}, "process")
    try:
        tap.ok(d.wait_ready() and put_get(d, "p", b"proc") is None,
               "profile: credential_process gives the keys")
        used = fake.s3_keys_used()
        tap.ok(used and all("PROC" in k for k in used) and
               not fake.rejected, "profile: the command's keys and session "
               "token were used", repr(used) + repr(fake.rejected))
    finally:
        d.stop_check(tap, "process: exits 0, no sanitizer report")
        fake.stop()


def case_stop_while_fetching(tap, tmp):
    fake = FakeAWS(life=120)
    fake.delay = 40.0       # the container endpoint hangs
    d = start(fake, {"source": "container"}, tmp,
              {"AWS_CONTAINER_CREDENTIALS_FULL_URI": fake.url + "/ecs/creds"},
              "stop-fetch")
    try:
        time.sleep(1)
        t0 = time.monotonic()
        r = d.stop(timeout=30)
        took = time.monotonic() - t0
        # The fetch's own timeout is 10 s: stopping must not wait for it.
        tap.ok(r["rc"] == 0 and not r["killed"] and not r["sanitizer"] and
               took < 8, "stop: SIGTERM while a fetch hangs abandons it and "
               "exits 0", repr({"rc": r["rc"], "killed": r["killed"],
                                "sanitizer": r["sanitizer"], "took": took}))
    finally:
        d.kill()
        fake.stop()


def case_static_reload(tap, tmp):
    fake = FakeAWS()
    fake.set_static("AKIASTATIC", "first-secret")
    secret = os.path.join(tmp, "aws.secret")

    def write_secret(text):
        with open(secret + ".new", "w") as f:
            f.write(text + "\n")
        os.chmod(secret + ".new", 0o600)
        os.replace(secret + ".new", secret)

    write_secret("first-secret")
    d = start(fake, {"source": "static", "access_key_id": "AKIASTATIC",
                     "secret_access_key_file": secret}, tmp, {}, "static")
    try:
        tap.ok(put_get(d, "s1", b"one") is None, "static: PUT, GET")
        fake.set_static("AKIASTATIC", "second-secret")
        write_secret("second-secret")
        mark = d.log_mark()
        d.send_signal(signal.SIGHUP)
        rec = d.wait_log(lambda r: r.get("msg") in ("reloaded",
                                                    "reload failed"),
                         timeout=30, since=mark)
        why = put_get(d, "s2", b"two")
        tap.ok(rec is not None and rec.get("msg") == "reloaded" and
               why is None, "static: a reload re-reads the secret file of "
               "a shared credentials group", "%r %s" % (rec, why))
    finally:
        d.stop_check(tap, "static: exits 0, no sanitizer report")
        fake.stop()


PLAIN_HTTP = [
    # (URI, what the log must say): refused before any connection.
    ("http://192.0.2.1/creds", "plain http:// is refused"),
    ("http://127.0.0.1.example.invalid/creds", "plain http:// is refused"),
    ("http://127.0.0.1@192.0.2.1/creds", "user information"),
    ("ftp://127.0.0.1/creds", "must be an http(s):// URL"),
]


def case_sts_tls(tap, tmp):
    """STS over HTTPS with a certificate of a CA made here: trusted
    through the group's ca_file, refused without it."""
    fake = FakeAWS(life=120)
    pki = os.path.join(tmp, "pki")
    os.mkdir(pki)
    make_pki(pki)
    fwd = TlsForwarder(os.path.join(pki, "good.pem"),
                       os.path.join(pki, "good.key"), fake.port)
    tfile = os.path.join(tmp, "web-token")
    with open(tfile, "w") as f:
        f.write("jwt-tls\n")
    env = {"AWS_WEB_IDENTITY_TOKEN_FILE": tfile,
           "AWS_ROLE_ARN": "arn:aws:iam::123456789012:role/web",
           "AWS_ENDPOINT_URL_STS": "https://127.0.0.1:%d" % fwd.port}
    try:
        for trusted in (True, False):
            group = {"source": "web_identity"}
            if trusted:
                group["ca_file"] = os.path.join(pki, "ca.pem")
            name = "sts-tls-%s" % ("trusted" if trusted else "untrusted")
            d = start(fake, group, tmp, env, name)
            try:
                if trusted:
                    tap.ok(d.wait_ready() and put_get(d, "t", b"tls") is None,
                           "sts over https: the group's ca_file is trusted")
                else:
                    rec = d.wait_log(lambda r: r.get("msg") ==
                                     "credentials unavailable", timeout=30)
                    tap.ok(rec is not None and "certificate" in rec.get(
                        "error", "") and d.request(
                        "GET", "/v1/ready").status == 503,
                        "sts over https: without ca_file the certificate "
                        "is refused", repr(rec))
            finally:
                d.stop_check(tap, "%s: exits 0, no sanitizer report" % name)
    finally:
        fwd.close()
        fake.stop()


def case_plain_http(tap, tmp):
    fake = FakeAWS(life=120)
    for i, (uri, want) in enumerate(PLAIN_HTTP):
        d = start(fake, {"source": "container"}, tmp,
                  {"AWS_CONTAINER_CREDENTIALS_FULL_URI": uri},
                  "plain-http-%d" % i)
        try:
            rec = d.wait_log(lambda r: r.get("msg") ==
                             "credentials unavailable", timeout=30)
            tap.ok(rec is not None and want in rec.get("error", ""),
                   "plain http: %s refused (%s)" % (uri, want), repr(rec))
        finally:
            d.stop_check(tap, "plain-http %d: exits 0, no sanitizer report"
                         % i)
    fake.stop()


BAD_GROUPS = [
    ("source = 5;", "'source' must be a string"),
    ("source = \"magic\";", "source must be"),
    ("source = \"imds\"; role_arn = true;", "'role_arn' must be a string"),
    ("source = \"imds\"; external_id = \"x\";", "need role_arn"),
    ("source = \"imds\"; role_arn = \"nope\";", "role_arn must be an ARN"),
    ("source = \"imds\"; access_key_id = \"AKIA\";", "belong to source"),
    ("source = \"imds\"; colour = \"red\";", "colour"),
]


def case_settings(tap, tmp):
    for group, want in BAD_GROUPS:
        path = os.path.join(tmp, "bad.conf")
        with open(path, "w") as f:
            f.write(stratus.make_config(
                stores=[store_conf("s", {
                    "provider": "s3", "bucket": "bkt", "region": "us-east-1",
                    "credentials": "c"})],
                extra="credentials = { c = { provider = \"aws\"; %s }; };"
                % group))
        p = subprocess.run([stratus.stratusd_path(), "--check-config",
                            "--config", path], capture_output=True,
                           env=stratus.sanitizer_env(base_env(tmp)),
                           timeout=60)
        out = p.stdout.decode() + p.stderr.decode()
        tap.ok(p.returncode == 1 and want in out,
               "settings: %s refused (%s)" % (group, want), out)


def main():
    tap = stratus.TAP()
    cases = [case_settings, case_unavailable, case_stop_while_fetching,
             case_static_reload, case_plain_http, case_chain,
             case_profile_process, case_container_role, case_web_identity,
             case_imds, case_sts_tls]
    # A word on the command line runs only the cases that contain it.
    if len(sys.argv) > 1:
        cases = [c for c in cases if sys.argv[1] in c.__name__]
    for case in cases:
        t0 = time.monotonic()
        with stratus.tempfile.TemporaryDirectory(prefix="identity-") as tmp:
            try:
                case(tap, tmp)
            except Exception:
                tap.ok(False, case.__name__, traceback.format_exc())
        tap.diag("%s: %.1f s" % (case.__name__, time.monotonic() - t0))
    tap.done()


if __name__ == "__main__":
    main()
