#!/usr/bin/env python3
"""A municipality's case system: waits for messages in its keten inbox,
stores each one (here: appends it to a JSON-lines file), prints it, and only
then acknowledges it.  If the program stops between storing and
acknowledging, the message is offered again on the next start: the case
system must accept a message it has already stored (it is keyed by
messageId), which makes the whole chain at-least-once and loss-free.

    case_system.py --url http://127.0.0.1:8471 --token-file api.token \
        --store cases.jsonl [--max N] [--idle SECONDS]
"""
import argparse
import json
import os
import sys
import time

from keten_client import KetenClient, KetenError


def stored_ids(path):
    ids = set()
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                ids.add(json.loads(line)["messageId"])
    return ids


def store(path, item):
    with open(path, "a") as f:
        f.write(json.dumps(item, sort_keys=True) + "\n")
        f.flush()
        os.fsync(f.fileno())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--url", required=True)
    ap.add_argument("--token-file", required=True)
    ap.add_argument("--store", required=True, help="JSON-lines file of received messages")
    ap.add_argument("--max", type=int, default=0, help="stop after N messages (0: never)")
    ap.add_argument("--idle", type=float, default=0, help="stop after this long without one")
    args = ap.parse_args()

    api = KetenClient(args.url, token_file=args.token_file)
    have = stored_ids(args.store)
    handled, last = 0, time.monotonic()

    def stop():
        return (args.max and handled >= args.max) or \
            (args.idle and time.monotonic() - last > args.idle)
    try:
        for item in api.inbox_items(wait=min(25, int(args.idle) or 25), stop=stop):
            if item["messageId"] not in have:       # offered again after a crash: skip storing
                store(args.store, item)
                have.add(item["messageId"])
            persons = [" ".join(filter(None, (p.get("givenName"), p.get("familyName"))))
                       for p in (item["message"] or {}).get("persons", [])]
            print("received %s from %s: %s %s (purpose %s) persons: %s" % (
                item["messageId"], item["sender"], item["type"],
                (item["message"] or {}).get("reference", "?"), item["purpose"],
                ", ".join(persons) or "-"))
            print("  fields received: %s" % ", ".join(item["fieldPaths"]))
            ack = api.ack(item["messageId"])
            print("  acknowledged%s" % (" (already)" if ack["already"] else ""))
            handled += 1
            last = time.monotonic()
            sys.stdout.flush()
            if args.max and handled >= args.max:
                break
    except KetenError as e:
        print("keten: %s" % e, file=sys.stderr)
        return 1
    print("%d message(s) handled" % handled)
    return 0


if __name__ == "__main__":
    sys.exit(main())
