"""
fake_azure_identity.py - a local stand-in for Microsoft Entra ID and the
Azure managed identity endpoints (Python 3 stdlib only), for
tests/integration/test_azure_identity.py. One threaded HTTP server on
127.0.0.1, port 0:

  Entra ID    POST /TENANT/oauth2/v2.0/token, form-encoded client
              credentials grant: client_id, scope (must be
              https://storage.azure.com/.default), grant_type and either
              client_secret (must equal .client_secret) or client_assertion
              with client_assertion_type jwt-bearer (recorded; must equal
              .assertion when that is set). Errors as Entra ID writes them:
              {"error": ..., "error_description": "AADSTS...: ..."}
  IMDS        GET /metadata/identity/oauth2/token?api-version=2018-02-01
              &resource=...[&client_id=...], only with "Metadata: true"
  App Service GET /msi/token?api-version=2019-08-01&resource=..., only
              with X-IDENTITY-HEADER equal to .identity_header

Every token is a fresh JWT (unsigned: Azurite's --oauth basic checks only
issuer, audience and lifetime) for audience https://storage.azure.com,
issuer https://sts.windows.net/TENANT/, with oid and tid claims (a user
delegation key needs them), living .life seconds. .issued records each
(token, issued_at, expires_at, how); .seen each request's kind and what
it proved itself with, so that a test can check the secret or assertion
sent and that every refresh came before the previous token expired.

.fail_next (count) and .fail_always make the token endpoints answer
.fail_status with an error; .delay (seconds) slows them. Nothing here
contacts any other host.
"""

import base64
import http.server
import json
import time
import urllib.parse

from fakeserver import FakeServer

SCOPE = "https://storage.azure.com/.default"
RESOURCE = "https://storage.azure.com"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
OID = "9a3b5c7d-1e2f-4a6b-8c0d-123456789abc"


def _b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class FakeAzureAD(FakeServer):

    def __init__(self, life=3600):
        super().__init__(_Handler)
        self.port = self.server_address[1]
        self.url = "http://127.0.0.1:%d" % self.port
        self.life = life
        self.client_secret = "s3cr3t-client-value-" + str(time.time_ns())
        self.assertion = None       # None: any federated token is taken
        self.identity_header = "idhdr-" + str(time.time_ns())
        self.fail_status = 500
        self.n = 0
        self.issued = []            # dicts: token, at, exp, how
        self.seen = []              # dicts: kind, path, form/query, headers
        self.start()

    def mint(self, how, tenant=TENANT, life=None, record=True):
        """A token as Entra ID would give one, recorded unless said."""
        now = int(time.time())
        exp = now + (self.life if life is None else life)
        with self.lock:
            self.n += 1
            n = self.n
        claims = {"aud": RESOURCE, "iss": "https://sts.windows.net/%s/" %
                  tenant, "iat": now - 1, "nbf": now - 1, "exp": exp,
                  "oid": OID, "tid": tenant, "appid": "stratus-test",
                  "sub": OID, "ver": "1.0", "uti": "token-%d" % n}
        token = ".".join([
            _b64url(json.dumps({"alg": "RS256", "typ": "JWT"}).encode()),
            _b64url(json.dumps(claims).encode()),
            _b64url(("signature-%d" % n).encode())])
        if record:
            with self.lock:
                self.issued.append({"token": token, "at": time.time(),
                                    "exp": exp, "how": how})
        return token, exp


    def record(self, entry):
        with self.lock:
            self.seen.append(entry)

    def seen_of(self, kind):
        with self.lock:
            return [s for s in self.seen if s["kind"] == kind]

    def tokens(self):
        with self.lock:
            return list(self.issued)

    def secrets(self):
        """Everything that must never show in a log or the metrics."""
        with self.lock:
            out = [t["token"] for t in self.issued]
            out += [t["token"].split(".")[2] for t in self.issued]
            assertions = [s.get("form", {}).get("client_assertion")
                          for s in self.seen]
        out += [a for a in assertions if a]
        out += [self.client_secret, self.identity_header]
        if self.assertion:
            out.append(self.assertion)
        return out


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def _send(self, status, obj):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _error(self, status, code, desc):
        self._send(status, {"error": code, "error_description": desc,
                            "error_codes": [1], "trace_id": "t",
                            "correlation_id": "c"})

    def do_POST(self):
        s = self.server
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n).decode() if n else ""
        u = urllib.parse.urlsplit(self.path)
        parts = u.path.strip("/").split("/")
        form = dict(urllib.parse.parse_qsl(body, keep_blank_values=True))
        entry = {"kind": "entra", "path": u.path, "form": form,
                 "ctype": self.headers.get("Content-Type", ""),
                 "at": time.time()}
        if len(parts) != 4 or parts[1:] != ["oauth2", "v2.0", "token"]:
            return self._error(404, "not_found", "no such endpoint")
        entry["tenant"] = parts[0]
        s.record(entry)
        if not entry["ctype"].startswith("application/x-www-form-urlencoded"):
            return self._error(400, "invalid_request", "AADSTS900144: "
                               "the request body must be a form")
        if form.get("grant_type") != "client_credentials" or \
                form.get("scope") != SCOPE or not form.get("client_id"):
            return self._error(400, "invalid_request", "AADSTS900144: "
                               "grant_type, scope or client_id wrong")
        if s.fault():
            return self._error(s.fail_status, "temporarily_unavailable",
                               "AADSTS50196: the server is busy")
        if "client_assertion" in form:
            if form.get("client_assertion_type") != ASSERTION_TYPE:
                return self._error(400, "invalid_request",
                                   "AADSTS50027: bad assertion type")
            if s.assertion is not None and \
                    form["client_assertion"] != s.assertion:
                return self._error(401, "invalid_client", "AADSTS700211: "
                                   "no matching federated identity record")
            how = "assertion"
        elif "client_secret" in form:
            if form["client_secret"] != s.client_secret:
                return self._error(401, "invalid_client", "AADSTS7000215: "
                                   "Invalid client secret provided.")
            how = "secret"
        else:
            return self._error(400, "invalid_request", "AADSTS7000216: "
                               "client_assertion or client_secret needed")
        token, exp = s.mint(how, tenant=parts[0])
        self._send(200, {"token_type": "Bearer", "expires_in": s.life,
                         "ext_expires_in": s.life, "access_token": token})

    def do_GET(self):
        s = self.server
        u = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(u.query, keep_blank_values=True))
        if u.path == "/metadata/identity/oauth2/token":
            kind, version = "imds", "2018-02-01"
            ok = self.headers.get("Metadata") == "true"
        elif u.path == "/msi/token":
            kind, version = "appservice", "2019-08-01"
            ok = self.headers.get("X-IDENTITY-HEADER") == s.identity_header
        else:
            return self._error(404, "not_found", "no such endpoint")
        s.record({"kind": kind, "path": u.path, "query": q,
                  "ok_header": ok, "at": time.time()})
        if not ok:
            return self._error(400 if kind == "imds" else 401,
                               "invalid_request", "Required metadata header "
                               "not specified" if kind == "imds" else
                               "bad X-IDENTITY-HEADER")
        if q.get("api-version") != version or \
                q.get("resource", "").rstrip("/") != RESOURCE:
            return self._error(400, "invalid_request", "bad api-version or "
                               "resource")
        if s.fault():
            return self._error(s.fail_status, "unknown", "Failed to "
                               "retrieve a token")
        token, exp = s.mint(kind)
        now = int(time.time())
        ans = {"access_token": token, "token_type": "Bearer",
               "resource": q["resource"], "expires_on": str(exp),
               "not_before": str(now)}
        if kind == "imds":
            ans["expires_in"] = str(exp - now)
            ans["refresh_token"] = ""
            ans["client_id"] = q.get("client_id", "system-assigned")
        else:
            ans["client_id"] = q.get("client_id", "system-assigned")
        self._send(200, ans)
