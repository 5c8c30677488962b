"""
fakeserver.py - the base of the tests' fake provider services: a threaded
HTTP server on 127.0.0.1 (port 0), serving from a thread of its own as
soon as start() is called, stopped with stop(). A client that goes away in
the middle (the daemon abandoning a slow fetch at shutdown) is expected
and not reported; any other handler error is.
"""

import http.server
import sys
import threading


class FakeServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, handler):
        super().__init__(("127.0.0.1", 0), handler)
        self.thread = None

    def start(self):
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], (BrokenPipeError,
                                               ConnectionResetError)):
            super().handle_error(request, client_address)

    def stop(self):
        self.shutdown()
        self.server_close()
