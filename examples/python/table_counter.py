#!/usr/bin/env python3
"""
table_counter.py - optimistic concurrency on a table entity: several
writers add to the same counter at once, none loses another's update.

Each writer reads the entity (and its ETag), changes it and writes it
back with If-Match: ETag. When another writer got there first, the
daemon answers 412 and changes nothing: the writer reads again and
retries. No locks, and the final count is exact.

    STRATUS_URL=http://127.0.0.1:8980 python3 table_counter.py [TABLE]
"""
import sys
import threading

from stratus_client import Client, StratusError

table = sys.argv[1] if len(sys.argv) > 1 else "users"
WRITERS, VISITS = 4, 10
PK, RK = "eu", "ann"

s = Client()
s.create_table(table)          # 201 the first time, 204 after
try:
    s.put_entity(table, PK, RK, {"name": "Ann", "visits": 0},
                 if_none_match="*")
except StratusError as e:
    if e.status != 412:        # 412: Ann is already there, keep her
        raise
start = s.get_entity(table, PK, RK)["data"].get("visits", 0)
print("visits before:", start)

retries = [0] * WRITERS


def writer(n):
    c = Client()               # one connection per thread
    for _ in range(VISITS):
        while True:
            e = c.get_entity(table, PK, RK)
            data = e["data"]
            data["visits"] = data.get("visits", 0) + 1
            try:
                c.put_entity(table, PK, RK, data, if_match=e["etag"])
                break
            except StratusError as err:
                if err.status != 412:
                    raise
                retries[n] += 1    # somebody else wrote first: again


threads = [threading.Thread(target=writer, args=(n,))
           for n in range(WRITERS)]
for t in threads:
    t.start()
for t in threads:
    t.join()

end = s.get_entity(table, PK, RK)["data"]["visits"]
print("%d writers added %d visits each, with %d retries on 412" %
      (WRITERS, VISITS, sum(retries)))
print("visits after:", end, "(exact)" if end == start + WRITERS * VISITS
      else "(LOST UPDATES)")
sys.exit(0 if end == start + WRITERS * VISITS else 1)
