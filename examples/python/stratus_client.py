"""
stratus_client.py - the little a Python program needs to talk to stratusd,
with the standard library only (http.client, json).

    from stratus_client import Client
    s = Client()                      # STRATUS_URL, STRATUS_TOKEN
    s.put_blob("scratch", "a.txt", b"hello")
    s.get_blob("scratch", "a.txt")    # b"hello"

Every call returns the decoded answer; an error answer of the daemon
raises StratusError, which carries its HTTP status, its stable `code`
("not_found", "precondition_failed", ...) and the request id.

One Client holds one keep-alive connection: give each thread its own.
"""

import http.client
import json
import os
import urllib.parse


class StratusError(Exception):
    def __init__(self, status, code, message, request_id):
        super().__init__("%d %s: %s (request %s)" % (status, code, message,
                                                     request_id))
        self.status, self.code, self.request_id = status, code, request_id


def quote(s):
    """A key, partition key or row key as a URL path: percent-encode every
    byte but the unreserved ones and '/'."""
    return urllib.parse.quote(s, safe="/~")


class Client:
    def __init__(self, url=None, token=None, timeout=60):
        url = url or os.environ.get("STRATUS_URL", "http://127.0.0.1:8980")
        self.token = token or os.environ.get("STRATUS_TOKEN")
        u = urllib.parse.urlsplit(url)
        self.host, self.port = u.hostname, u.port or 80
        self.timeout = timeout      # over the longest long poll (20 s)
        self.conn = None

    def request(self, method, path, body=None, headers=None):
        """One request; returns (status, headers, body bytes). Answers of
        400 and more raise StratusError."""
        hdrs = dict(headers or {})
        if self.token:
            hdrs["Authorization"] = "Bearer " + self.token
        if isinstance(body, str):
            body = body.encode("utf-8")
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port,
                                                       timeout=self.timeout)
            try:
                self.conn.request(method, path, body=body, headers=hdrs)
                r = self.conn.getresponse()
                data = r.read()
                break
            except (ConnectionError, http.client.RemoteDisconnected):
                # The daemon closed an idle keep-alive connection: open
                # a new one, once. Not for a POST (a send), which the
                # daemon may have taken: sending twice is the caller's
                # choice.
                self.conn.close()
                self.conn = None
                if attempt == 2 or method == "POST":
                    raise
        if r.status >= 400:
            try:
                e = json.loads(data)["error"]
            except (ValueError, KeyError, TypeError):
                e = {"code": "?", "message": data[:200].decode("latin-1")}
            raise StratusError(r.status, e.get("code"), e.get("message"),
                               e.get("request_id", r.getheader("X-Request-Id")))
        return r.status, r, data

    def json(self, method, path, body=None, headers=None):
        status, r, data = self.request(method, path, body, headers)
        return json.loads(data) if data else None

    # -- blobs

    def put_blob(self, store, key, data, content_type=None, meta=None,
                 headers=None):
        h = dict(headers or {})
        if content_type:
            h["Content-Type"] = content_type
        for name, value in (meta or {}).items():
            h["X-Meta-" + name] = value
        return self.json("PUT", "/v1/blobs/%s/%s" % (store, quote(key)),
                         data, h)

    def get_blob(self, store, key, headers=None):
        return self.request("GET", "/v1/blobs/%s/%s" % (store, quote(key)),
                            headers=headers)[2]

    def head_blob(self, store, key):
        """The headers of a blob (size, type, ETag, X-Meta-*)."""
        return self.request("HEAD", "/v1/blobs/%s/%s" % (store, quote(key)))[1]

    def delete_blob(self, store, key):
        self.request("DELETE", "/v1/blobs/%s/%s" % (store, quote(key)))

    def list_blobs(self, store, prefix="", delimiter=None):
        """Every item and prefix of a listing, following the cursor."""
        items, prefixes, cursor = [], [], None
        while True:
            q = {"prefix": prefix}
            if delimiter:
                q["delimiter"] = delimiter
            if cursor:
                q["cursor"] = cursor
            page = self.json("GET", "/v1/blobs/%s?%s" %
                             (store, urllib.parse.urlencode(q)))
            items += page["items"]
            prefixes += page["prefixes"]
            cursor = page["next_cursor"]
            if cursor is None:
                return items, prefixes

    def presign(self, store, key, method="GET", expires_in=300):
        return self.json("POST", "/v1/presign", json.dumps(
            {"store": store, "key": key, "method": method,
             "expires_in": expires_in}))

    # -- queues

    def create_queue(self, queue):
        self.request("PUT", "/v1/queues/%s" % queue)

    def send(self, queue, body, delay=0):
        return self.json("POST", "/v1/queues/%s/messages?delay=%d" %
                         (queue, delay), body)["id"]

    def receive(self, queue, max=1, visibility=30, wait=0):
        return self.json("GET", "/v1/queues/%s/messages?max=%d&visibility=%d"
                         "&wait=%d" % (queue, max, visibility, wait))["messages"]

    def ack(self, queue, receipt):
        self.request("DELETE", "/v1/queues/%s/messages/%s" % (queue, receipt))

    def extend(self, queue, receipt, visibility):
        """Hide a message longer (0: give it back now): a new receipt."""
        return self.json("PATCH", "/v1/queues/%s/messages/%s?visibility=%d" %
                         (queue, receipt, visibility))["receipt"]

    # -- tables

    def create_table(self, table):
        self.request("PUT", "/v1/tables/%s" % table)

    def get_entity(self, table, pk, rk):
        """{"pk", "rk", "etag", "data"}"""
        return self.json("GET", "/v1/tables/%s/%s/%s" %
                         (table, quote(pk), quote(rk)))

    def put_entity(self, table, pk, rk, data, if_match=None,
                   if_none_match=None):
        """Returns the new ETag. if_match: only replace that version;
        if_none_match="*": only insert. Else StratusError 412."""
        h = {"Content-Type": "application/json"}
        if if_match:
            h["If-Match"] = if_match
        if if_none_match:
            h["If-None-Match"] = if_none_match
        return self.json("PUT", "/v1/tables/%s/%s/%s" %
                         (table, quote(pk), quote(rk)), json.dumps(data),
                         h)["etag"]

    def list_partition(self, table, pk, prefix=""):
        items, cursor = [], None
        while True:
            q = {"prefix": prefix}
            if cursor:
                q["cursor"] = cursor
            page = self.json("GET", "/v1/tables/%s/%s?%s" % (
                table, quote(pk), urllib.parse.urlencode(q)))
            items += page["items"]
            cursor = page["next_cursor"]
            if cursor is None:
                return items
