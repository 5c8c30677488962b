"""
tls.py - TLS and proxy pieces for the tests, all on 127.0.0.1 ports of
their own:

  make_pki(dir)      a CA made with openssl, and server certificates
                     signed by it (good.pem: 127.0.0.1 and localhost;
                     other.pem: other.example only), plus a hashed CA
                     directory
  TlsForwarder       HTTPS in front of a plain HTTP server
  Proxy              an HTTP proxy (CONNECT and absolute URLs) that
                     counts what it was asked
"""

import os
import shutil
import socket
import ssl
import subprocess
import threading


# ---------------------------------------------------------------- pki

def openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def make_pki(d):
    """ca.pem, and two server certificates signed by it: good.pem for
    127.0.0.1 and localhost, other.pem for other.example only."""
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", "/CN=stratus test CA", "-keyout", "ca.key",
            "-out", "ca.pem", cwd=d)
    for name, san in (("good", "IP:127.0.0.1,DNS:localhost"),
                      ("other", "DNS:other.example")):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj",
                "/CN=%s" % name, "-keyout", name + ".key",
                "-out", name + ".csr", cwd=d)
        with open(os.path.join(d, name + ".ext"), "w") as f:
            f.write("subjectAltName=%s\n" % san)
        openssl("x509", "-req", "-in", name + ".csr", "-CA", "ca.pem",
                "-CAkey", "ca.key", "-CAcreateserial", "-days", "2",
                "-extfile", name + ".ext", "-out", name + ".pem", cwd=d)
    # A CA directory as OpenSSL looks one up: HASH.0 names the CA.
    cadir = os.path.join(d, "cadir")
    os.mkdir(cadir)
    h = subprocess.run(["openssl", "x509", "-hash", "-noout", "-in",
                        os.path.join(d, "ca.pem")], capture_output=True,
                       check=True).stdout.decode().strip()
    shutil.copy(os.path.join(d, "ca.pem"), os.path.join(cadir, h + ".0"))
    return cadir


# ---------------------------------------------------------------- relays

def pump(a, b):
    try:
        while True:
            data = a.recv(65536)
            if not data:
                break
            b.sendall(data)
    except OSError:
        pass
    for s in (a, b):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def join(a, b):
    threading.Thread(target=pump, args=(a, b), daemon=True).start()
    threading.Thread(target=pump, args=(b, a), daemon=True).start()


class Listener:
    """A thread accepting on 127.0.0.1, an ephemeral port."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(c,),
                             daemon=True).start()

    def close(self):
        self.sock.close()


class TlsForwarder(Listener):
    """HTTPS on its port, forwarded as plain bytes to 127.0.0.1:target."""

    def __init__(self, cert, key, target):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert, key)
        self.target = target
        super().__init__()

    def serve(self, c):
        try:
            t = self.ctx.wrap_socket(c, server_side=True)
            up = socket.create_connection(("127.0.0.1", self.target))
        except (OSError, ssl.SSLError):
            c.close()
            return
        join(t, up)


class Proxy(Listener):
    """An HTTP proxy: CONNECT host:port tunnels, and absolute-URL requests
    forwarded on a connection of their own. Counts what it was asked."""

    def __init__(self):
        self.count = 0
        self.lock = threading.Lock()
        super().__init__()

    def serve(self, c):
        head = b""
        while b"\r\n\r\n" not in head:
            piece = c.recv(65536)
            if not piece:
                c.close()
                return
            head += piece
        line = head.split(b"\r\n", 1)[0].decode("latin-1").split()
        with self.lock:
            self.count += 1
        if line[0] == "CONNECT":
            host, port = line[1].rsplit(":", 1)
            up = socket.create_connection((host, int(port)))
            c.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            rest = head.split(b"\r\n\r\n", 1)[1]
            if rest:
                up.sendall(rest)
            join(c, up)
            return
        # "METHOD http://host:port/path HTTP/1.1": send on with the path.
        url = line[1]
        hostport, _, path = url.split("://", 1)[1].partition("/")
        host, _, port = hostport.partition(":")
        up = socket.create_connection((host, int(port or 80)))
        first, rest = head.split(b"\r\n", 1)
        up.sendall(("%s /%s %s\r\n" % (line[0], path, line[2])).encode() +
                   rest)
        join(c, up)
