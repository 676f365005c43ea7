#!/usr/bin/env python3
"""A police system sends a signal about a possible victim to a municipality's
care coordinator and shows what the policy kept from the municipality.

    send_signal.py --url http://127.0.0.1:8470 --token-file api.token \
        [--to gemeente-amsterdam] [--case PL-2026-0042] [--wait]

The data are synthetic.
"""
import argparse
import sys

from keten_client import KetenClient, KetenError


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--url", required=True)
    ap.add_argument("--token-file", required=True)
    ap.add_argument("--to", default="gemeente-amsterdam")
    ap.add_argument("--case", help="your case reference (needs network_key at the agent)")
    ap.add_argument("--wait", action="store_true", help="wait until the broker has answered")
    args = ap.parse_args()

    api = KetenClient(args.url, token_file=args.token_file)
    signal = {
        "reference": "PL-SIG-0001",
        "observedOn": "2026-11-20",
        "exploitationForms": ["EXPLOITATION_FORM_LABOUR"],
        "observation": "Workers sleep in the back of a car wash.",
        "persons": [
            {"role": "PERSON_ROLE_POSSIBLE_VICTIM", "givenName": "Ana", "familyName": "Voorbeeld",
             "birthDate": "1998-03-14", "nationality": "RO"},
            {"role": "PERSON_ROLE_SUSPECT", "givenName": "Piet", "familyName": "Verzonnen"},
        ],
    }
    header = {"caseReference": args.case} if args.case else {}
    try:
        sent = api.submit("CaseSignal", [args.to], "victim-care", signal, **header)
    except KetenError as e:
        print("not sent: %s" % e, file=sys.stderr)
        return 1
    print("sent %s to %s" % (sent["messageId"], ", ".join(sent["recipients"])))
    for w in sent["withheld"]:
        print("withheld from %s: %s (%s, rule %s)" % (w["recipient"], w["path"] or "everything",
              w["reason"], w["rule"] or "-"))
    if args.wait:
        st = api.wait_status(sent["messageId"])
        print("state: %s%s" % (st["state"], ": " + st["reason"] if st.get("reason") else ""))
        if st["state"] != "accepted":
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
