#!/usr/bin/env python3
"""
blobs.py - blobs with stratusd from Python, standard library only.

Puts a few blobs with a content type and metadata, lists them by prefix
and by "folder", reads one whole, in part and its headers, refuses to
overwrite with If-None-Match, copies one on the server, hands out a
presigned URL and fetches it without a token, and deletes what it made.

    STRATUS_URL=http://127.0.0.1:8980 python3 blobs.py [STORE]

STRATUS_TOKEN, when set, is sent as a bearer token.
"""
import sys
import urllib.request

from stratus_client import Client, StratusError

store = sys.argv[1] if len(sys.argv) > 1 else "scratch"
s = Client()

# Put: the body is the bytes; Content-Type and X-Meta-* are kept with it.
for name, text in [("notes/monday.txt", "buy milk\n"),
                   ("notes/tuesday.txt", "call Bob\n"),
                   ("photos/cat.txt", "(not really a cat)\n")]:
    r = s.put_blob(store, "py/" + name, text.encode(), "text/plain",
                   {"author": "ann"})
    print("put %-22s size %d" % (r["key"], r["size"]))

# List: every key under a prefix, or one level of "folders".
items, _ = s.list_blobs(store, prefix="py/notes/")
print("under py/notes/:", [i["key"] for i in items])
_, folders = s.list_blobs(store, prefix="py/", delimiter="/")
print("folders in py/:", folders)

# Get the whole blob, its first three bytes, and only its headers.
print("get:", s.get_blob(store, "py/notes/monday.txt"))
print("range 0-2:", s.get_blob(store, "py/notes/monday.txt",
                               {"Range": "bytes=0-2"}))
h = s.head_blob(store, "py/notes/monday.txt")
print("head: %s bytes, %s, author %s" % (
    h.getheader("Content-Length"), h.getheader("Content-Type"),
    h.getheader("X-Meta-author")))

# Create only if absent: a second writer gets 412 instead of overwriting.
try:
    s.put_blob(store, "py/notes/monday.txt", b"overwritten?",
               headers={"If-None-Match": "*"})
except StratusError as e:
    print("create-only on an existing key:", e.status, e.code)

# Copy on the server side (no bytes go through this program).
s.put_blob(store, "py/copy.txt", b"",
           headers={"X-Copy-Source": store + "/py/photos/cat.txt"})
print("copy:", s.get_blob(store, "py/copy.txt"))

# A presigned URL works without a token until it expires: give it to a
# browser or another program.
url = s.presign(store, "py/notes/tuesday.txt", "GET", 300)["url"]
with urllib.request.urlopen(url) as r:
    print("presigned GET, no token:", r.status, r.read())

# Delete (deleting a missing key is fine too), and check it is gone.
for it in s.list_blobs(store, prefix="py/")[0]:
    s.delete_blob(store, it["key"])
try:
    s.get_blob(store, "py/copy.txt")
except StratusError as e:
    print("after delete:", e.status, e.code)
