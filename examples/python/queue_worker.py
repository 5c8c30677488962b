#!/usr/bin/env python3
"""
queue_worker.py - a queue worker loop with stratusd: receive, process,
acknowledge. Standard library only.

Each round receives up to 10 messages with a long poll (waiting up to
WAIT seconds for one), hidden from other workers for 60 seconds. A
message is acknowledged only once it is processed; if this worker dies
before that, the message comes back to some worker after 60 seconds.
Delivery is at least once: processing a message twice must be harmless.
A job that fails three times is set aside (acknowledged and reported)
instead of coming back forever.

A real worker polls forever; this one stops after an empty poll.

    STRATUS_URL=http://127.0.0.1:8980 python3 queue_worker.py [QUEUE [WAIT]]
"""
import sys

from stratus_client import Client, StratusError

queue = sys.argv[1] if len(sys.argv) > 1 else "jobs"
wait = int(sys.argv[2]) if len(sys.argv) > 2 else 5
s = Client()


def process(body):
    """The work: here, counting the words of the job. A job saying
    "fail" fails, to show what happens then."""
    if "fail" in body.split():
        raise ValueError("cannot do %r" % body)
    return len(body.split())


done = 0
while True:
    messages = s.receive(queue, max=10, visibility=60, wait=wait)
    if not messages:
        print("no message for %d s: %d done, stopping" % (wait, done))
        break
    for m in messages:
        try:
            words = process(m["body"])
        except ValueError as e:
            if m["dequeue_count"] < 3:
                # Give it back now (rather than in 60 s) for another try.
                s.extend(queue, m["receipt"], 0)
                print("failed: %s (delivery %d), retrying" %
                      (m["body"], m["dequeue_count"]))
                continue
            print("gave up: %s after %d deliveries: %s" %
                  (m["body"], m["dequeue_count"], e))
        else:
            print("done: %s -> %d words (delivery %d)" %
                  (m["body"], words, m["dequeue_count"]))
            done += 1
        try:
            s.ack(queue, m["receipt"])
        except StratusError as e:
            # 412: it was received again meanwhile (our 60 s ran out).
            print("ack of %r: %s" % (m["body"], e))
