"""
fake_aws_identity.py - a local stand-in for the AWS identity services and
a verifying S3 endpoint (Python 3 stdlib only), for tests/integration/
test_identity.py. One threaded HTTP server on 127.0.0.1, port 0:

  IMDSv2      PUT /latest/api/token (needs X-aws-ec2-metadata-token-ttl-
              seconds), GET /latest/meta-data/iam/security-credentials/
              and .../ROLE (need X-aws-ec2-metadata-token of a token it
              gave); JSON credentials as EC2 gives them
  container   GET /ecs/creds (needs Authorization equal to
              .container_token when that is set); JSON as ECS gives it
  process     GET /process/creds: JSON as a credential_process prints it
              (the test's command fetches it)
  STS         POST / with Action=AssumeRoleWithWebIdentity (the
              WebIdentityToken is recorded) or Action=AssumeRole (the
              request's SigV4 signature, service "sts", must verify with
              a key this server issued and that is live now); XML answers
              of the 2011-06-15 query API
  SQS, DynamoDB  POST with X-Amz-Target (GetQueueUrl, SendMessage;
              GetItem answers no item), verified like S3 below
  S3          PUT/GET/HEAD /BUCKET/KEY, every request's SigV4 signature
              (header or presigned query) verified against a key this
              server issued that is live at that moment, with its session
              token sent and signed; a request that fails the check is
              answered 403 and counted in .rejected

Every issue of credentials makes a new key id, secret and token that live
.life seconds: the keys rotate as fast as the daemon refreshes them.
.fail_next (count) and .fail_always make the credential endpoints answer
500; .delay (seconds) slows them. Nothing here contacts any other host.
"""

import calendar
import datetime
import hashlib
import hmac
import http.server
import json
import time
import urllib.parse

from fakeserver import FakeServer


def _iso(t):
    return datetime.datetime.fromtimestamp(
        int(t), datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _sha(b):
    return hashlib.sha256(b).hexdigest()


def _hmac(key, msg):
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def _enc(s):
    return urllib.parse.quote(s, safe="-_.~")


class Key:
    def __init__(self, n, tag, life):
        self.id = "AKIAFAKE%s%06d" % (tag.upper()[:4], n)
        self.secret = "secret-%s-%d-%s" % (tag, n, _sha(str(time.time()).encode())[:16])
        self.token = "token-%s-%d" % (tag, n)
        self.tag = tag
        self.expires = time.time() + life


class FakeAWS(FakeServer):

    def __init__(self, life=60, role="test-role"):
        super().__init__(_Handler)
        self.port = self.server_address[1]
        self.url = "http://127.0.0.1:%d" % self.port
        self.life = life
        self.role = role
        self.keys = {}              # id -> Key
        self.n = 0
        self.imds_tokens = set()
        self.container_token = None
        self.calls = []             # (service, detail)
        self.web_tokens = []        # WebIdentityToken values seen
        self.assume = []            # AssumeRole forms (dict), verified
        self.objects = {}
        self.verified = 0           # S3 requests whose signature held
        self.rejected = []          # reasons
        self.used = {}              # key id -> count of S3 requests
        self.start()

    def issue(self, tag):
        with self.lock:
            self.n += 1
            k = Key(self.n, tag, self.life)
            self.keys[k.id] = k
            return k

    def set_static(self, key_id, secret):
        """A key that never expires (source "static"); a second call
        changes its secret (a rotation)."""
        k = Key(0, "static", 10 ** 9)
        k.id, k.secret, k.token = key_id, secret, None
        with self.lock:
            self.keys[key_id] = k

    def live_key(self, key_id):
        with self.lock:
            k = self.keys.get(key_id)
        if k is None:
            return None, "unknown key id %s" % key_id
        if time.time() >= k.expires:
            return None, "key %s expired %.1f s ago" % (
                key_id, time.time() - k.expires)
        return k, None

    def secrets(self):
        with self.lock:
            return [k.secret for k in self.keys.values()] + \
                [k.token for k in self.keys.values()]

    def s3_keys_used(self):
        with self.lock:
            return dict(self.used)


def verify_sigv4(server, method, raw_path, headers, body, service):
    """(key, None) when the request is signed by a live key, else
    (None, reason)."""
    path, _, rawq = raw_path.partition("?")
    pairs = urllib.parse.parse_qsl(rawq, keep_blank_values=True)
    q = dict(pairs)
    presigned = "X-Amz-Signature" in q
    if presigned:
        cred = q.get("X-Amz-Credential", "")
        signed = q.get("X-Amz-SignedHeaders", "")
        sig = q.get("X-Amz-Signature", "")
        amzdate = q.get("X-Amz-Date", "")
        token = q.get("X-Amz-Security-Token")
        payload = "UNSIGNED-PAYLOAD"
        try:
            if time.time() > calendar.timegm(time.strptime(
                    amzdate, "%Y%m%dT%H%M%SZ")) + \
                    int(q.get("X-Amz-Expires", "0")):
                return None, "presigned URL expired"
        except ValueError:
            return None, "bad X-Amz-Date"
    else:
        auth = headers.get("Authorization", "")
        if not auth.startswith("AWS4-HMAC-SHA256 "):
            return None, "no SigV4 Authorization"
        parts = dict(p.strip().split("=", 1) for p in
                     auth[len("AWS4-HMAC-SHA256 "):].split(","))
        cred, signed, sig = (parts.get("Credential", ""),
                             parts.get("SignedHeaders", ""),
                             parts.get("Signature", ""))
        amzdate = headers.get("X-Amz-Date", "")
        token = headers.get("X-Amz-Security-Token")
        payload = headers.get("x-amz-content-sha256") or _sha(body)
        if token is not None and "x-amz-security-token" not in \
                signed.split(";"):
            return None, "the session token is not signed"
    fields = cred.split("/")
    if len(fields) != 5:
        return None, "bad credential scope"
    key_id, date, region, svc, _ = fields
    if svc != service:
        return None, "scope names service %s" % svc
    key, why = server.live_key(key_id)
    if key is None:
        return None, why
    if token != key.token:
        return None, "session token missing or not the key's"
    canon_q = "&".join(
        "%s=%s" % (_enc(k), _enc(v)) for k, v in
        sorted(pairs) if not (presigned and k == "X-Amz-Signature"))
    canon_h = ""
    for name in signed.split(";"):
        v = headers.get(name, "")
        canon_h += "%s:%s\n" % (name, " ".join(str(v).split()))
    canonical = "\n".join([method, path, canon_q, canon_h, signed, payload])
    scope = "/".join(fields[1:])
    sts = "\n".join(["AWS4-HMAC-SHA256", amzdate, scope,
                     _sha(canonical.encode())])
    k = _hmac(("AWS4" + key.secret).encode(), date)
    k = _hmac(k, region)
    k = _hmac(k, svc)
    k = _hmac(k, "aws4_request")
    want = hmac.new(k, sts.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(want, sig):
        return None, "signature does not match for %s" % key_id
    return key, None


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def _body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = b""
            while True:
                n = int(self.rfile.readline().split(b";")[0], 16)
                if n == 0:
                    self.rfile.readline()
                    return out
                out += self.rfile.read(n)
                self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _send(self, status, body=b"", ctype="text/plain", extra=()):
        if isinstance(body, str):
            body = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _creds_json(self, key):
        return json.dumps({
            "Code": "Success", "Type": "AWS-HMAC",
            "LastUpdated": _iso(time.time()),
            "AccessKeyId": key.id, "SecretAccessKey": key.secret,
            "Token": key.token, "Expiration": _iso(key.expires)})

    def _dispatch(self):
        s = self.server
        body = self._body()
        path = self.path.split("?")[0]
        if path == "/latest/api/token" and self.command == "PUT":
            if not self.headers.get("X-aws-ec2-metadata-token-ttl-seconds"):
                return self._send(400, "ttl header missing")
            tok = "imds-token-%d" % time.monotonic_ns()
            with s.lock:
                s.imds_tokens.add(tok)
                s.calls.append(("imds", "token"))
            return self._send(200, tok)
        if path.startswith("/latest/meta-data/iam/security-credentials/"):
            with s.lock:
                ok = self.headers.get("X-aws-ec2-metadata-token") in \
                    s.imds_tokens
            if not ok:
                return self._send(401, "no or unknown IMDSv2 token")
            role = path[len("/latest/meta-data/iam/security-credentials/"):]
            if role == "":
                return self._send(200, s.role)
            if role != s.role:
                return self._send(404, "no such role")
            if s.fault():
                return self._send(500, "fault")
            with s.lock:
                s.calls.append(("imds", "creds"))
            return self._send(200, self._creds_json(s.issue("imds")),
                              "application/json")
        if path == "/process/creds":
            # What a credential_process command prints (it fetches this).
            if s.fault():
                return self._send(500, "fault")
            key = s.issue("proc")
            with s.lock:
                s.calls.append(("process", "creds"))
            return self._send(200, json.dumps({
                "Version": 1, "AccessKeyId": key.id,
                "SecretAccessKey": key.secret, "SessionToken": key.token,
                "Expiration": _iso(key.expires)}), "application/json")
        if path == "/ecs/creds":
            if s.container_token is not None and \
                    self.headers.get("Authorization") != s.container_token:
                return self._send(403, "bad Authorization")
            if s.fault():
                return self._send(500, "fault")
            with s.lock:
                s.calls.append(("container", "creds"))
            return self._send(200, self._creds_json(s.issue("ecs")),
                              "application/json")
        if self.command == "POST" and self.headers.get("X-Amz-Target"):
            return self._json_service(body)
        if path == "/" and self.command == "POST":
            return self._sts(body)
        return self._s3(body)

    def _sts_xml(self, action, key):
        return ("<%sResponse xmlns=\"https://sts.amazonaws.com/doc/"
                "2011-06-15/\"><%sResult><Credentials>"
                "<AccessKeyId>%s</AccessKeyId>"
                "<SecretAccessKey>%s</SecretAccessKey>"
                "<SessionToken>%s</SessionToken>"
                "<Expiration>%s</Expiration></Credentials>"
                "<AssumedRoleUser><Arn>arn:aws:sts::1:assumed-role/r/s</Arn>"
                "<AssumedRoleId>AROA:s</AssumedRoleId></AssumedRoleUser>"
                "</%sResult><ResponseMetadata><RequestId>1</RequestId>"
                "</ResponseMetadata></%sResponse>") % (
                    action, action, key.id, key.secret, key.token,
                    _iso(key.expires), action, action)

    def _sts_error(self, status, code):
        return self._send(status, (
            "<ErrorResponse><Error><Type>Sender</Type><Code>%s</Code>"
            "<Message>no</Message></Error><RequestId>1</RequestId>"
            "</ErrorResponse>") % code, "text/xml")

    def _sts(self, body):
        s = self.server
        form = dict(urllib.parse.parse_qsl(body.decode(),
                                           keep_blank_values=True))
        action = form.get("Action")
        if form.get("Version") != "2011-06-15":
            return self._sts_error(400, "InvalidAction")
        if s.fault():
            return self._sts_error(500, "InternalFailure")
        if action == "AssumeRoleWithWebIdentity":
            if not form.get("RoleArn") or not form.get("RoleSessionName") \
                    or not form.get("WebIdentityToken"):
                return self._sts_error(400, "MissingParameter")
            with s.lock:
                s.web_tokens.append(form["WebIdentityToken"])
                s.calls.append(("sts", action))
            return self._send(200, self._sts_xml(action, s.issue("web")),
                              "text/xml")
        if action == "AssumeRole":
            hdrs = {k.lower(): v for k, v in self.headers.items()}
            key, why = verify_sigv4(s, "POST", self.path,
                                    _Headers(hdrs), body, "sts")
            if key is None:
                with s.lock:
                    s.rejected.append("sts: " + why)
                return self._sts_error(403, "SignatureDoesNotMatch")
            form["_signed_by"] = key.tag
            with s.lock:
                s.assume.append(form)
                s.calls.append(("sts", action))
            return self._send(200, self._sts_xml(action, s.issue("role")),
                              "text/xml")
        return self._sts_error(400, "InvalidAction")

    def _json_service(self, body):
        s = self.server
        target = self.headers.get("X-Amz-Target")
        service = "sqs" if target.startswith("AmazonSQS.") else "dynamodb"
        hdrs = {k.lower(): v for k, v in self.headers.items()}
        key, why = verify_sigv4(s, "POST", self.path, _Headers(hdrs), body,
                                service)
        if key is None:
            with s.lock:
                s.rejected.append("%s %s: %s" % (service, target, why))
            return self._send(400, json.dumps({
                "__type": "com.amazon.coral.service#InvalidSignatureException",
                "message": why}), "application/x-amz-json-1.0")
        with s.lock:
            s.verified += 1
            s.used[key.id] = s.used.get(key.id, 0) + 1
            s.calls.append((service, target))
        op = target.split(".")[-1]
        answer = {"GetQueueUrl": {"QueueUrl": s.url + "/123456789012/q"},
                  "SendMessage": {"MessageId": "m-1",
                                  "MD5OfMessageBody": "x"},
                  "GetItem": {}}.get(op, {})
        return self._send(200, json.dumps(answer),
                          "application/x-amz-json-1.0")

    def _s3(self, body):
        s = self.server
        hdrs = {k.lower(): v for k, v in self.headers.items()}
        key, why = verify_sigv4(s, self.command, self.path, _Headers(hdrs),
                                body, "s3")
        if key is None:
            with s.lock:
                s.rejected.append("s3 %s %s: %s" % (self.command,
                                                    self.path[:60], why))
            return self._send(403, "<Error><Code>AccessDenied</Code>"
                              "<Message>%s</Message></Error>" % why,
                              "application/xml")
        with s.lock:
            s.verified += 1
            s.used[key.id] = s.used.get(key.id, 0) + 1
        path = self.path.split("?")[0]
        if self.command == "PUT":
            with s.lock:
                s.objects[path] = body
            return self._send(200, b"", extra=[
                ("ETag", '"%s"' % hashlib.md5(body).hexdigest())])
        if self.command in ("GET", "HEAD"):
            with s.lock:
                data = s.objects.get(path)
            if data is None:
                return self._send(404, "<Error><Code>NoSuchKey</Code>"
                                  "</Error>", "application/xml")
            return self._send(200, data, "application/octet-stream", [
                ("ETag", '"%s"' % hashlib.md5(data).hexdigest()),
                ("Last-Modified", "Mon, 23 Nov 2026 10:00:00 GMT")])
        if self.command == "DELETE":
            with s.lock:
                s.objects.pop(path, None)
            return self._send(204)
        return self._send(405)

    def do_GET(self):
        self._dispatch()

    do_PUT = do_POST = do_HEAD = do_DELETE = do_GET


class _Headers(dict):
    """Lower-cased header names; get() by any case."""

    def get(self, name, default=None):
        return dict.get(self, name.lower(), default)
