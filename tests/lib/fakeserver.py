"""
fakeserver.py - the base of the tests' fake provider services: a threaded
HTTP server on 127.0.0.1 (port 0), serving from a thread of its own as
soon as start() is called, stopped with stop(). A client that goes away in
the middle (the daemon abandoning a slow fetch at shutdown) is expected
and not reported; any other handler error is.

Failure knobs a handler consults through fault(): .delay (seconds slept
first), .fail_next (a count of answers to fail) and .fail_always.
"""

import http.server
import sys
import threading
import time


class FakeServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, handler):
        super().__init__(("127.0.0.1", 0), handler)
        self.thread = None
        self.lock = threading.Lock()
        self.fail_next = 0
        self.fail_always = False
        self.delay = 0.0

    def start(self):
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    def fault(self):
        """After .delay, True when this answer must fail (.fail_always,
        or one of the .fail_next still to come)."""
        if self.delay:
            time.sleep(self.delay)
        with self.lock:
            if self.fail_always:
                return True
            if self.fail_next > 0:
                self.fail_next -= 1
                return True
        return False

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], (BrokenPipeError,
                                               ConnectionResetError)):
            super().handle_error(request, client_address)

    def stop(self):
        self.shutdown()
        self.server_close()
