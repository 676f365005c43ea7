#!/usr/bin/env python3
"""The agent's REST API against real keten processes (driven by t_api.sh).

    api_test.py queued   politie's agent runs, the broker does not yet
    api_test.py main     broker, politie, gemeente-amsterdam and kmar (clock
                         10 minutes ahead) run

Environment: NET (the network directory), API_PORT (politie; gemeente-
amsterdam +1, kmar +2), KETEN (the keten binary), KETEN_ROOT.  Python 3
standard library only.  Prints "# ..." summary lines; exits 1 on the first
failed check.
"""
import http.client
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.parse

NET = os.environ["NET"]
PORT = int(os.environ["API_PORT"])
KETEN = os.environ["KETEN"]
ROOT = os.environ["KETEN_ROOT"]
TOKEN = open(os.path.join(NET, "api.token")).read().strip()
STATE = os.path.join(NET, "api_test.state")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

# The routes agent/rest.c's route() serves: (method, path template).  Cross-
# checked against the source of rest.c and rest_api.c and schemas/openapi.yaml below.
ROUTES = [
    ("GET", "/healthz"),
    ("GET", "/metrics"),
    ("POST", "/v1/messages"),
    ("GET", "/v1/messages/{id}"),
    ("GET", "/v1/inbox"),
    ("GET", "/v1/outbox"),
    ("GET", "/v1/inbox/{id}"),
    ("POST", "/v1/inbox/{id}/ack"),
    ("GET", "/v1/policy/explain"),
    ("GET", "/v1/schemas"),
]
OPEN_ROUTES = {("GET", "/healthz")}

observed = set()        # (method, template, status) seen during the run


class Fail(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Fail(what)


def template(path):
    p = path.split("?", 1)[0]
    for prefix in ("/v1/messages/", "/v1/inbox/"):
        if p.startswith(prefix):
            rest = p[len(prefix):]
            tail = "/ack" if rest.endswith("/ack") and prefix == "/v1/inbox/" else ""
            return prefix + "{id}" + tail
    return p


class Reply:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body
        try:
            self.json = json.loads(body) if body else None
        except ValueError:
            self.json = None

    def err(self):
        e = (self.json or {}).get("error") if isinstance(self.json, dict) else None
        return (e.get("code"), e.get("message")) if isinstance(e, dict) else (None, None)

    def __repr__(self):
        return "HTTP %d %s" % (self.status, self.body[:300])


class Agent:
    """One agent's API; counts what this test did through it."""

    def __init__(self, name, port):
        self.name = name
        self.port = port
        self.submitted = []         # message ids answered 202
        self.withheld = 0           # withheld entries in those answers
        self.refused_at_source = 0  # answered 403 "policy": the refusal is logged at the broker

    def request(self, method, path, body=None, token=True, headers=None, timeout=60, conn=None):
        h = dict(headers or {})
        if token is True:
            h["Authorization"] = "Bearer " + TOKEN
        elif token:
            h["Authorization"] = token
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
        if body is not None:
            h.setdefault("Content-Type", "application/json")
        c = conn or http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            c.request(method, path, body=body, headers=h)
            r = c.getresponse()
            rep = Reply(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
        finally:
            if conn is None:
                c.close()
        observed.add((method, template(path), rep.status))
        if method == "POST" and path == "/v1/messages" and rep.status == 202:
            self.submitted.append(rep.json["messageId"])
            self.withheld += len(rep.json["withheld"])
        if method == "POST" and path == "/v1/messages" and rep.status == 403 and \
                "the refusal goes into the ledger" in rep.body.decode(errors="replace"):
            self.refused_at_source += 1
        if method == "POST" and path == "/v1/messages" and rep.json and \
                isinstance(rep.json, dict) and isinstance(rep.json.get("results"), list):
            self.refused_at_source += sum(1 for x in rep.json["results"] if x.get("status") == 403
                                          and "the refusal goes into the ledger" in
                                          json.dumps(x.get("error", {})))
        return rep

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body, **kw)

    def ok(self, method, path, body=None, status=200, **kw):
        r = self.request(method, path, body, **kw)
        check(r.status == status, "%s %s %s: expected %d, got %r" % (self.name, method, path,
              status, r))
        return r.json

    def metrics(self):
        r = self.get("/metrics")
        check(r.status == 200 and r.headers.get("content-type", "").startswith("text/plain"),
              "metrics: %r" % r)
        m = {}
        for line in r.body.decode().splitlines():
            if line and not line.startswith("#"):
                k, v = line.rsplit(" ", 1)
                m[k] = float(v)
        return m

    def inbox_all(self, unacked=False, limit=37):
        """The whole inbox, paged with after/limit."""
        items, after = [], 0
        while True:
            q = "/v1/inbox?after=%d&limit=%d%s" % (after, limit, "" if unacked else "&all=true")
            page = self.ok("GET", q)
            items += page["items"]
            check(len(page["items"]) <= limit, "limit %d not kept: %d items" % (limit,
                  len(page["items"])))
            if not page["items"]:
                check(page["next"] == after, "empty page's next %r != after %d" % (page["next"], after))
                return items
            check(page["next"] == page["items"][-1]["seq"], "next is not the last seq")
            after = page["next"]


def wait_for(what, fn, seconds=30, step=0.1):
    deadline = time.monotonic() + seconds
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > deadline:
            raise Fail("timed out waiting for " + what)
        time.sleep(step)


POLITIE = Agent("politie", PORT)
GEMEENTE = Agent("gemeente-amsterdam", PORT + 1)
KMAR = Agent("kmar", PORT + 2)


def signal(ref, victim="Eva", suspect="Dirk", **extra):
    body = {
        "type": "CaseSignal",
        "recipients": ["gemeente-amsterdam"],
        "purpose": "victim-care",
        "message": {
            "reference": ref,
            "persons": [
                {"role": "PERSON_ROLE_POSSIBLE_VICTIM", "givenName": victim,
                 "birthDate": "1990-04-01"},
                {"role": "PERSON_ROLE_SUSPECT", "givenName": suspect},
            ],
        },
    }
    body.update(extra)
    return body


def wait_up(agent, broker=True):
    def up():
        try:
            r = agent.get("/healthz", token=None, timeout=2)
        except OSError:
            return False
        return r.status == 200 and (not broker or r.json.get("broker") == "connected") and r.json
    return wait_for("%s's API" % agent.name, up, 15)


# --------------------------------------------------------------------------

def phase_queued():
    """Broker down: a submission is stored (202) and stays queued."""
    h = wait_up(POLITIE, broker=False)
    check(h == {"status": "ok", "broker": "disconnected"}, "healthz without broker: %r" % h)
    s = POLITIE.ok("POST", "/v1/messages", {"type": "CaseReferral", "recipients": ["om"],
                   "purpose": "prosecution", "message": {"reference": "Q-1"}}, status=202)
    check(UUID.match(s["messageId"]) and s["recipients"] == ["om"] and s["withheld"] == [],
          "queued submit answer: %r" % s)
    time.sleep(0.3)
    st = POLITIE.ok("GET", "/v1/messages/" + s["messageId"])
    check(st["state"] == "queued" and st["receipts"] == [] and "timeMs" not in st,
          "not queued while the broker is down: %r" % st)
    ob = POLITIE.ok("GET", "/v1/outbox")
    check(ob["depth"] == 1 and ob["items"][0]["messageId"] == s["messageId"] and
          ob["items"][0]["kind"] == "submission" and ob["items"][0]["recipients"] == ["om"] and
          ob["items"][0]["created"].endswith("Z") and "no session" in ob["waitingFor"],
          "outbox while the broker is down: %r" % ob)
    check(POLITIE.get("/v1/outbox?limit=0").status == 400, "outbox limit=0 accepted")
    with open(STATE, "w") as f:
        json.dump({"queued": s["messageId"], "observed": sorted(observed)}, f)
    print("# broker down: POST /v1/messages 202, GET /v1/messages/{id} queued, GET /v1/outbox says "
          "what waits and why, /healthz broker disconnected")


def explain_cli(recipient, mtype, purpose):
    out = subprocess.run([KETEN, "policy", "explain", "--format", "json", "--policy",
                          os.path.join(NET, "policy.yaml"), "--directory",
                          os.path.join(NET, "directory.yaml"), "--from", "politie", "--to",
                          recipient, "--type", mtype, "--purpose", purpose],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def check_submit_and_status(state):
    queued = state["queued"]
    st = wait_for("the queued message to be accepted", lambda: (lambda s: s["state"] ==
                  "accepted" and s)(POLITIE.ok("GET", "/v1/messages/" + queued)))
    check(st["messageId"] == queued and isinstance(st["timeMs"], int) and len(st["receipts"]) == 1
          and "inclusion verified" in st["receipts"][0], "accepted status: %r" % st)
    POLITIE.submitted.append(queued)

    # withheld fields per recipient, the same as `keten policy explain` says
    s = POLITIE.ok("POST", "/v1/messages", signal("API-1", caseReference="AMS-CASE-1"), status=202)
    check(s["recipients"] == ["gemeente-amsterdam"], "recipients: %r" % s)
    wh = {(w["recipient"], w["path"]): (w["reason"], w["rule"]) for w in s["withheld"]}
    check(wh.get(("gemeente-amsterdam", "persons[suspect].given_name")) ==
          ("forbidden", "no-suspects-to-care"), "suspect's name not withheld: %r" % s["withheld"])
    check(wh.get(("gemeente-amsterdam", "persons[possible_victim].birth_date")) ==
          ("condition-false", "signal-police-to-municipality-care-minor"),
          "victim's birth date not withheld: %r" % s["withheld"])
    cli = {f["path"]: f for f in explain_cli("gemeente-amsterdam", "CaseSignal", "victim-care")["fields"]}
    for (_, path), (reason, _) in wh.items():
        check(path in cli and not cli[path]["granted"] and cli[path]["reason"] == reason,
              "API withheld %s (%s), keten policy explain says %r" % (path, reason, cli.get(path)))
    sig = s["messageId"]
    st = wait_for("signal accepted", lambda: (lambda x: x["state"] != "queued" and x)(
        POLITIE.ok("GET", "/v1/messages/" + sig)))
    check(st["state"] == "accepted", "signal: %r" % st)

    # a rejection with its reason: kmar's clock is 10 minutes ahead
    k = KMAR.ok("POST", "/v1/messages", {"type": "CaseReferral", "recipients": ["om"],
                "purpose": "prosecution", "message": {"reference": "K-1"}}, status=202)
    st = wait_for("kmar's message rejected", lambda: (lambda x: x["state"] == "rejected" and x)(
        KMAR.ok("GET", "/v1/messages/" + k["messageId"])))
    check("clock of kmar is 600 s ahead" in st.get("reason", ""), "rejection reason: %r" % st)

    for bad in ("00000000-0000-0000-0000-000000000000", "not-a-uuid",
                sig + "/extra", sig.upper()[:-1]):
        r = POLITIE.get("/v1/messages/" + bad)
        check(r.status == 404 and r.err()[0] == "not-found", "status of %s: %r" % (bad, r))
    print("# POST /v1/messages 202 with withheld fields as keten policy explain says; "
          "GET /v1/messages/{id} queued -> accepted (receipt verified), rejected (%s), 404 unknown"
          % st["reason"][:60])
    return sig


def check_inbox(sig):
    item = wait_for("the signal in the municipality's inbox", lambda: (lambda r: r.status == 200
                    and r.json)(GEMEENTE.get("/v1/inbox/" + sig)))
    check(item["sender"] == "politie" and item["type"] == "CaseSignal" and item["purpose"] ==
          "victim-care" and item["ackedMs"] is None and item["handling"] ==
          "HANDLING_LABEL_TLP_AMBER" and re.match(r"^[0-9a-f]{64}$", item.get("casePseudonym", "")),
          "inbox item: %r" % item)
    text = json.dumps(item["message"])
    check("Eva" in text and "Dirk" not in text and "1990" not in text, "content: %s" % text)
    check("persons[suspect].given_name" not in item["fieldPaths"] and
          "persons[possible_victim].given_name" in item["fieldPaths"], "manifest: %r" % item["fieldPaths"])
    lst = GEMEENTE.ok("GET", "/v1/inbox")
    check([i["messageId"] for i in lst["items"]] == [sig] and lst["next"] == item["seq"],
          "default listing: %r" % lst)

    # long poll that times out empty
    n = item["seq"]
    t0 = time.monotonic()
    r = GEMEENTE.ok("GET", "/v1/inbox?after=%d&wait=2" % n)
    dt = time.monotonic() - t0
    check(r == {"items": [], "next": n} and 1.9 <= dt < 6, "empty long poll: %r after %.2f s" % (r, dt))

    # long poll that returns when a message arrives
    got = {}

    def poll():
        t = time.monotonic()
        got["r"] = GEMEENTE.ok("GET", "/v1/inbox?after=%d&wait=20" % n)
        got["dt"] = time.monotonic() - t
    th = threading.Thread(target=poll)
    th.start()
    time.sleep(0.8)
    s2 = POLITIE.ok("POST", "/v1/messages", signal("API-2", victim="Fleur"), status=202)["messageId"]
    th.join(30)
    check("r" in got, "the long poll did not return")
    ids = [i["messageId"] for i in got["r"]["items"]]
    check(ids == [s2] and 0.7 <= got["dt"] < 10, "long poll: %r after %.2f s" % (ids, got["dt"]))

    for q in ("wait=31", "limit=0", "limit=1001", "after=-1", "limit=abc", "after=1x"):
        r = GEMEENTE.get("/v1/inbox?" + q)
        check(r.status == 400 and r.err()[0] == "invalid", "inbox?%s: %r" % (q, r))

    # acknowledge: gone from the default listing, there with all=true; twice says already
    a1 = GEMEENTE.ok("POST", "/v1/inbox/%s/ack" % sig)
    check(a1["messageId"] == sig and a1["already"] is False and isinstance(a1["ackedMs"], int),
          "ack: %r" % a1)
    a2 = GEMEENTE.ok("POST", "/v1/inbox/%s/ack" % sig)
    check(a2["already"] is True and a2["ackedMs"] == a1["ackedMs"], "second ack: %r" % a2)
    dflt = [i["messageId"] for i in GEMEENTE.ok("GET", "/v1/inbox")["items"]]
    check(sig not in dflt and s2 in dflt, "after ack, default listing: %r" % dflt)
    full = {i["messageId"]: i for i in GEMEENTE.ok("GET", "/v1/inbox?all=true")["items"]}
    check(sig in full and full[sig]["ackedMs"] == a1["ackedMs"] and full[s2]["ackedMs"] is None,
          "all=true listing: %r" % list(full))
    check(GEMEENTE.ok("GET", "/v1/inbox/" + sig)["ackedMs"] == a1["ackedMs"], "item's ackedMs")
    GEMEENTE.ok("POST", "/v1/inbox/%s/ack" % s2)
    for path in ("/v1/inbox/00000000-0000-0000-0000-000000000000",
                 "/v1/inbox/00000000-0000-0000-0000-000000000000/ack", "/v1/inbox/xyz",
                 "/v1/inbox/%s/nak" % sig):
        r = GEMEENTE.request("POST" if path.endswith("ack") else "GET", path)
        check(r.status == 404 and r.err()[0] == "not-found", "%s: %r" % (path, r))
    print("# GET /v1/inbox, /v1/inbox/{id}: content without the withheld fields; long poll "
          "empty after %.1f s, woken by an arrival after %.1f s; ack, ack again (already), "
          "all=true; 400 for bad after/limit/wait" % (dt, got["dt"]))


def check_explain_schemas():
    q = "/v1/policy/explain?recipient=gemeente-amsterdam&type=CaseSignal&purpose=victim-care"
    e = POLITIE.ok("GET", q)
    cli = explain_cli("gemeente-amsterdam", "CaseSignal", "victim-care")
    granted = [f["path"] for f in cli["fields"] if f["granted"]]
    check(e["permitted"] is True and e["rules"] == ["signal-police-to-municipality-care"] and
          e["policyVersion"] == cli["version"], "explain: %r" % {k: e[k] for k in e if k != "withheld"})
    check(e["allowed"] == granted, "explain allowed %r, keten policy explain %r" % (e["allowed"], granted))
    wh = {w["path"]: (w["reason"], w["rule"]) for w in e["withheld"]}
    check(wh.get("persons[suspect].given_name") == ("forbidden", "no-suspects-to-care"),
          "explain withheld: %r" % (wh.get("persons[suspect].given_name"),))
    check(len(e["allowed"]) + len(e["withheld"]) == len(cli["fields"]), "explain field count")
    n = POLITIE.ok("GET", "/v1/policy/explain?recipient=om&type=CaseSignal&purpose=victim-care")
    check(n["permitted"] is False and n["reason"] and n["allowed"] == [], "not permitted: %r" % n)
    r = POLITIE.get("/v1/policy/explain?recipient=om&type=CaseSignal")
    check(r.status == 400 and "purpose" in r.err()[1], "explain without purpose: %r" % r)
    r = POLITIE.get("/v1/policy/explain?recipient=om&type=NoSuchType&purpose=x")
    check(r.status == 422 and "unknown message type" in r.err()[1], "explain bad type: %r" % r)

    types = POLITIE.ok("GET", "/v1/schemas")["types"]
    names = {t["name"]: t for t in types}
    cli_paths = subprocess.run([KETEN, "schema", "paths", "CaseSignal"], check=True,
                               capture_output=True, text=True).stdout.split()
    check("CaseSignal" in names and names["CaseSignal"]["fullName"] == "keten.case.v1.CaseSignal"
          and names["CaseSignal"]["paths"] == cli_paths, "schemas: CaseSignal paths differ from "
          "keten schema paths")
    one = POLITIE.ok("GET", "/v1/schemas?type=keten.case.v1.CaseReferral")["types"]
    check(len(one) == 1 and one[0]["name"] == "CaseReferral", "schemas?type=: %r" % one)
    r = POLITIE.get("/v1/schemas?type=Nope")
    check(r.status == 404 and r.err()[0] == "not-found", "schemas?type=Nope: %r" % r)
    print("# GET /v1/policy/explain matches keten policy explain (%d allowed, %d withheld); "
          "GET /v1/schemas (%d types) matches keten schema paths" % (len(e["allowed"]),
                                                                    len(e["withheld"]), len(types)))


def route_probes(sig_sent, sig_received):
    """Each route with a real id (politie sent sig_sent; the municipality holds sig_received)."""
    return [
        (POLITIE, "GET", "/healthz"), (POLITIE, "GET", "/metrics"),
        (POLITIE, "POST", "/v1/messages"), (POLITIE, "GET", "/v1/messages/" + sig_sent),
        (GEMEENTE, "GET", "/v1/inbox"), (GEMEENTE, "GET", "/v1/inbox/" + sig_received),
        (GEMEENTE, "POST", "/v1/inbox/%s/ack" % sig_received),
        (POLITIE, "GET", "/v1/policy/explain?recipient=om&type=CaseReferral&purpose=prosecution"),
        (POLITIE, "GET", "/v1/schemas"),
    ]


def check_errors(sig):
    # authentication on every route but /healthz
    bad_tokens = [None, "Bearer " + TOKEN[:-1] + ("A" if TOKEN[-1] != "A" else "B"),
                  "Bearer " + TOKEN + "x", "Bearer", "bearer " + TOKEN, "Basic " + TOKEN, TOKEN]
    n = 0
    for agent, method, path in route_probes(sig, sig):
        body = signal("AUTH") if method == "POST" and path == "/v1/messages" else None
        for t in bad_tokens:
            r = agent.request(method, path, body, token=t)
            if (method, template(path)) in OPEN_ROUTES:
                check(r.status == 200, "%s %s without token: %r" % (method, path, r))
                break
            check(r.status == 401 and r.err()[0] == "unauthorized" and
                  r.headers.get("www-authenticate", "").startswith("Bearer"),
                  "%s %s with token %r: %r" % (method, path, (t or "")[:12], r))
            n += 1

    cases = [
        ('{"type":', 400, "malformed-json", "line 1"),
        ("[1,2]", 400, "invalid", "expected a JSON object"),
        ("", 400, "malformed-json", ""),
        (dict(signal("E"), colour="red"), 400, "invalid", "$.colour: unknown member"),
        ({k: v for k, v in signal("E").items() if k != "type"}, 422, "invalid", "$.type"),
        (dict(signal("E"), recipients=[]), 422, "invalid", "$.recipients"),
        (dict(signal("E"), recipients=[7]), 422, "invalid", "$.recipients[]"),
        (dict(signal("E"), purpose=3), 422, "invalid", "$.purpose"),
        (dict(signal("E"), handling="PURPLE"), 422, "invalid", "$.handling"),
        (dict(signal("E"), inReplyTo="nope"), 422, "invalid", "$.inReplyTo"),
        (dict(signal("E"), attributes={"urgency": "SOON"}), 422, "invalid", "$.attributes.urgency"),
        (dict(signal("E"), attributes={"exploitationForms": ["FUN"]}), 422, "invalid",
         "$.attributes.exploitationForms[]"),
        (dict(signal("E"), attributes={"colour": 1}), 422, "invalid", "$.attributes"),
        (dict(signal("E"), message=[1]), 422, "invalid", "$.message"),
        (dict(signal("E"), message={"reference": "E", "bogus": 1}), 422, "invalid", "bogus"),
        (dict(signal("E"), type="NoSuchType"), 422, "invalid", "NoSuchType"),
        (dict(signal("E"), recipients=["Not An Agency"]), 422, "invalid", "Not An Agency"),
        (dict(signal("E"), purpose="prosecution"), 403, "policy", "purpose-not-granted"),
    ]
    for body, status, code, text in cases:
        r = POLITIE.post("/v1/messages", body)
        check(r.status == status and r.err()[0] == code and text in (r.err()[1] or ""),
              "POST %.60s: expected %d %s naming %r, got %r" % (body, status, code, text, r))
    r = GEMEENTE.post("/v1/messages", {"type": "CaseSignal", "recipients": ["politie"],
                      "purpose": "investigation", "caseReference": "X-1",
                      "message": {"reference": "G-1"}})
    check(r.status == 422 and "network key" in r.err()[1], "case reference without network key: %r" % r)
    good = POLITIE.ok("POST", "/v1/messages", dict(signal("E-OK"), handling="AMBER+STRICT",
                      attributes={"urgency": "PRIORITY", "exploitationForms": ["LABOUR"]}), status=202)
    it = wait_for("the AMBER+STRICT signal", lambda: (lambda r: r.status == 200 and r.json)(
        GEMEENTE.get("/v1/inbox/" + good["messageId"])))
    check(it["handling"] == "HANDLING_LABEL_TLP_AMBER_STRICT", "handling: %r" % it["handling"])
    GEMEENTE.ok("POST", "/v1/inbox/%s/ack" % good["messageId"])

    for path in ("/", "/v1", "/v1/nope", "/v2/messages", "/v1/messages/", "/healthz/x",
                 "/v1/inbox/", "/metrics/"):
        r = POLITIE.get(path)
        check(r.status == 404 and r.err()[0] == "not-found", "GET %s: %r" % (path, r))
    # every route with every other method: 405 and Allow
    nm = 0
    for agent, method, path in route_probes(sig, sig):
        for other in ("GET", "POST", "PUT", "DELETE", "PATCH"):
            if other == method:
                continue
            r = agent.request(other, path, "{}" if other != "GET" else None)
            check(r.status == 405 and r.headers.get("allow") == method and
                  r.err()[0] == "method-not-allowed", "%s %s: %r allow=%r" % (other, path, r,
                                                                            r.headers.get("allow")))
            nm += 1
    print("# 401 for %d (route, bad token) pairs, /healthz open; %d malformed or invalid "
          "submissions 400/403/422 naming the problem; 404 for unknown paths; 405 with Allow "
          "for %d (route, method) pairs" % (n, len(cases) + 1, nm))


def raw(port, data, read=True, timeout=10):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(data)
    except OSError:
        pass
    if not read:
        return s
    buf = b""
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            buf += b
    except OSError:
        pass
    s.close()
    return buf


def check_limits():
    # 413: politie's api_max_body_bytes is 4096
    big = dict(signal("BIG"), message={"reference": "B" * 5000})
    r = POLITIE.post("/v1/messages", big)
    check(r.status == 413 and r.err()[0] == "too-large", "oversized body: %r" % r)
    r = POLITIE.post("/v1/messages", "x" * 3000000)
    check(r.status == 413, "3 MB body: %r" % r)
    fits = POLITIE.post("/v1/messages", dict(signal("FITS"), message={"reference": "FITS", "observation": "F" * 3000}))
    check(fits.status == 202, "a body under the limit: %r" % fits)

    # a 64 KiB header: an error status or a closed connection; the server serves on
    out = raw(PORT, b"GET /v1/inbox HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
              TOKEN.encode() + b"\r\nX-Big: " + b"a" * 65536 + b"\r\n\r\n")
    m = re.match(rb"HTTP/1\.[01] (\d{3})", out)
    check(out == b"" or (m and int(m.group(1)) >= 400), "64 KiB header answered: %r" % out[:100])
    hdr_status = m.group(1).decode() if m else "closed"
    out = raw(PORT, b"GET /v1/inbox HTTP/1.1\r\nHost: x\r\n" +
              b"".join(b"X-H%d: v\r\n" % i for i in range(5000)) + b"\r\n")
    check(out == b"" or re.match(rb"HTTP/1\.[01] (4|5)\d\d", out), "5000 headers: %r" % out[:100])
    check(POLITIE.get("/healthz", token=None).status == 200, "not serving after big headers")

    # slow clients hold their own connections only
    slow = [raw(PORT, b"GET /v1/inbox HTTP/1.1\r\nHost: x\r\nAuthoriz", read=False),
            raw(PORT, b"POST /v1/messages HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                TOKEN.encode() + b"\r\nContent-Length: 1000\r\n\r\n{\"type\":", read=False),
            raw(PORT, b"", read=False)]
    time.sleep(0.3)
    worst, t0 = 0.0, time.monotonic()
    for i in range(20):
        t = time.monotonic()
        r = POLITIE.get("/v1/schemas?type=CaseSignal" if i % 2 else "/healthz", timeout=5)
        check(r.status == 200, "request beside slow clients: %r" % r)
        worst = max(worst, time.monotonic() - t)
    s = POLITIE.ok("POST", "/v1/messages", signal("BESIDE-SLOW"), status=202, timeout=5)
    total = time.monotonic() - t0
    check(worst < 1.0 and total < 5.0, "slow clients stalled others: worst %.2f s, total %.2f s"
          % (worst, total))
    for x in slow:
        x.close()
    print("# 413 for bodies over api_max_body_bytes (4096); 64 KiB header: %s, served on; "
          "3 slow clients held: 21 other requests took at most %.3f s (%.2f s in all)"
          % (hdr_status, worst, total))
    return s["messageId"]


def check_concurrent(clients=8, each=50):
    ids, errors = [[] for _ in range(clients)], []

    def run(k):
        c = http.client.HTTPConnection("127.0.0.1", PORT, timeout=60)     # kept alive
        try:
            for i in range(each):
                r = POLITIE.request("POST", "/v1/messages", signal("C-%d-%d" % (k, i),
                                    victim="V%d" % k), conn=c)
                if r.status != 202:
                    errors.append(r)
                    return
                ids[k].append(r.json["messageId"])
        except Exception as e:      # noqa: BLE001 (reported below)
            errors.append(e)
        finally:
            c.close()
    t0 = time.monotonic()
    th = [threading.Thread(target=run, args=(k,)) for k in range(clients)]
    for t in th:
        t.start()
    for t in th:
        t.join(120)
    dt = time.monotonic() - t0
    check(not errors, "concurrent submissions failed: %r" % errors[:3])
    sent = [x for lst in ids for x in lst]
    check(len(sent) == clients * each and len(set(sent)) == len(sent),
          "%d ids, %d distinct" % (len(sent), len(set(sent))))
    want = set(POLITIE.submitted) - {None}
    mine = lambda items: [i["messageId"] for i in items if i["sender"] == "politie"]  # noqa: E731
    items = wait_for("%d messages in the municipality's inbox" % len(sent), lambda: (lambda it: len(
        mine(it)) >= len(want & set(sent)) and set(sent) <= set(mine(it)) and it)(
        GEMEENTE.inbox_all()), 90, 0.5)
    got = mine(items)
    dups = len(got) - len(set(got))
    check(dups == 0, "%d messages arrived more than once" % dups)
    to_gemeente = {x for x in POLITIE.submitted if x} - {json.load(open(STATE))["queued"]}
    check(set(got) == to_gemeente, "inbox has %d from politie, politie sent %d: missing %r, extra %r"
          % (len(set(got)), len(to_gemeente), list(to_gemeente - set(got))[:3],
             list(set(got) - to_gemeente)[:3]))
    # per client, the inbox order is the submission order
    seq = {i["messageId"]: i["seq"] for i in items}
    for lst in ids:
        check([seq[x] for x in lst] == sorted(seq[x] for x in lst), "a client's order changed")
    cli = subprocess.run([KETEN, "inbox", "--config", os.path.join(NET, "gemeente-amsterdam.yaml"),
                          "--all"], check=True, capture_output=True, text=True).stdout.splitlines()
    check(len(cli) == len(items), "keten inbox lists %d, the API %d" % (len(cli), len(items)))
    print("# %d clients x %d submissions in %.1f s (%.0f/s): each id once in the recipient's "
          "inbox (paged, limit 37), in order per client; keten inbox agrees (%d)"
          % (clients, each, dt, len(sent) / dt, len(cli)))
    return items


def check_metrics(items):
    def settled():
        m = POLITIE.metrics()
        return m["keten_agent_outbox_depth"] == 0 and m["keten_agent_broker_connected"] == 1 and m
    m = wait_for("politie's outbox to empty, with a session", settled, 60)
    n = len([x for x in POLITIE.submitted if x])
    want = {
        "keten_agent_submitted_total": n,
        "keten_agent_accepted_total": n,
        # the 403s (the policy let no recipient have them) are logged at the broker, once each
        "keten_agent_source_refusals_total": POLITIE.refused_at_source,
        "keten_agent_withheld_fields_total": POLITIE.withheld,
        "keten_agent_broker_connected": 1,
        "keten_agent_received_total": 0,
        'keten_agent_rejected_total{reason="clock"}': 0,
    }
    for k, v in want.items():
        check(m.get(k) == v, "politie %s = %r, expected %r" % (k, m.get(k), v))
    # (a round trip is timed only when its submission was not resent)
    rtt = m["keten_agent_broker_roundtrip_seconds_count"]
    check(0 < rtt <= n + POLITIE.refused_at_source and
          m['keten_agent_broker_roundtrip_seconds_bucket{le="+Inf"}'] == rtt,
          "round trips timed: %r of %d" % (rtt, n + POLITIE.refused_at_source))
    km = KMAR.metrics()
    check(km['keten_agent_rejected_total{reason="clock"}'] == 1 and
          km["keten_agent_accepted_total"] == 0 and km["keten_agent_submitted_total"] == 1,
          "kmar metrics: %r" % {k: v for k, v in km.items() if "reject" in k or "total" in k})
    gm = GEMEENTE.metrics()
    unacked = len(GEMEENTE.inbox_all(unacked=True))
    check(gm["keten_agent_received_total"] == len(items) and
          gm["keten_agent_inbox_depth"] == unacked and unacked == len(items) - 3,
          "gemeente received %r (inbox %d), depth %r (unacked %d)" % (
              gm["keten_agent_received_total"], len(items), gm["keten_agent_inbox_depth"], unacked))
    # api_errors counts what the agent's loop refused, not the HTTP layer's answers
    e0 = POLITIE.metrics()["keten_agent_api_errors_total"]
    POLITIE.get("/metrics", token=None)
    POLITIE.post("/v1/messages", "{")
    POLITIE.get("/v1/nope")
    e1 = POLITIE.metrics()["keten_agent_api_errors_total"]
    POLITIE.post("/v1/messages", dict(signal("E"), message={"bogus": 1}))
    e2 = POLITIE.metrics()["keten_agent_api_errors_total"]
    check(e1 == e0 and e2 == e0 + 1, "api_errors %r -> %r -> %r" % (e0, e1, e2))
    print("# /metrics: politie submitted=accepted=%d, withheld fields %d, round trips %d; kmar "
          "rejected{clock}=1; gemeente received %d, inbox depth %d; api_errors counts the "
          "agent's refusals" % (n, POLITIE.withheld, rtt, len(items), unacked))


# --- schemas/openapi.yaml against rest.c and the server --------------------

METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


def parse_openapi(text):
    """paths: {(METHOD, path): {responses, security, query}}; and Submit's properties."""
    ops, in_paths, path, op, section, pname = {}, False, None, None, None, None
    lines = text.splitlines()
    for line in lines:
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        ind = len(line) - len(line.lstrip(" "))
        key = line.strip()
        if ind == 0:
            in_paths = key == "paths:"
            continue
        if not in_paths:
            continue
        if ind == 2:
            path, op = key.rstrip(":").strip("'\""), None
        elif ind == 4 and key.rstrip(":") in METHODS:
            op = {"responses": set(), "security": None, "query": set()}
            ops[(key.rstrip(":").upper(), path)] = op
        elif op is None:
            continue
        elif ind == 6:
            section = key.split(":", 1)[0]
            if section == "security":
                op["security"] = key.split(":", 1)[1].strip()
        elif ind == 8 and section == "responses":
            m = re.match(r"^'?(\d{3})'?:", key)
            if m:
                op["responses"].add(int(m.group(1)))
        elif section == "parameters" and ind == 8 and key.startswith("- name:"):
            pname = key.split(":", 1)[1].strip()
        elif section == "parameters" and ind == 10 and key == "in: query":
            op["query"].add(pname)
    props, state = [], 0
    for line in lines:
        ind = len(line) - len(line.lstrip(" "))
        if state == 0 and line == "    Submit:":
            state = 1
        elif state == 1 and line == "      properties:":
            state = 2
        elif state == 2 and line.strip():
            if ind <= 6:
                break
            if ind == 8:
                props.append(line.strip().rstrip(":"))
    return ops, props


def rest_c_routes(src):
    body = src[src.index("\nroute("):src.index("\non_request(")]
    exact = set(re.findall(r'strcmp\(url, "([^"]+)"\)', body))
    prefixes = set(re.findall(r'strncmp\(url, "([^"]+)", \d+\)', body))
    prefixes |= set(re.findall(r'path_id\(url, "([^"]+)"', body))
    tails = set(re.findall(r'strcmp\(tail, "([^"]+)"\)', body))
    methods = sorted(re.findall(r'method_not_allowed\(c, "([A-Z]+)"\)', body))
    query = set(re.findall(r'MHD_GET_ARGUMENT_KIND, "([A-Za-z]+)"', src))
    query |= set(re.findall(r'arg_u64\(c, "([A-Za-z]+)"', src))
    known = re.search(r"known\[\] = \{([^}]*)\}", src).group(1)
    members = re.findall(r'"([A-Za-z]+)"', known)
    return exact, prefixes, tails, methods, query, members


def check_openapi(sig_sent, sig_received, observed_before):
    text = open(os.path.join(ROOT, "schemas/openapi.yaml")).read()
    ops, props = parse_openapi(text)
    check(len(ops) >= 1, "no operations parsed from schemas/openapi.yaml")
    # the server (routes) and the endpoints (fields, parameters) are two files
    src = "".join(open(os.path.join(ROOT, f)).read() for f in ("agent/rest.c", "agent/rest_api.c"))
    exact, prefixes, tails, methods, query, members = rest_c_routes(src)

    # the test's route list is rest.c's
    want_exact = {p for _, p in ROUTES if "{" not in p}
    check(exact == want_exact, "rest.c routes %r, test knows %r" % (sorted(exact), sorted(want_exact)))
    want_prefixes = {p.split("{")[0] for _, p in ROUTES if "{" in p}
    check(prefixes == want_prefixes, "rest.c prefixes %r, test %r" % (prefixes, want_prefixes))
    want_tails = {p.split("}")[1] for _, p in ROUTES if "}" in p and p.split("}")[1]}
    check(tails == want_tails, "rest.c tails %r, test %r" % (tails, want_tails))
    check(methods == sorted(m for m, _ in ROUTES), "rest.c methods %r, test %r" % (methods,
          sorted(m for m, _ in ROUTES)))

    # every route the server answers is documented, and every documented one is served
    for r in ROUTES:
        check(r in ops, "%s %s is served but not in schemas/openapi.yaml" % r)
    probe = {(m, template(p)): (a, m, p) for a, m, p in route_probes(sig_sent, sig_received)}
    examples = {("POST", "/v1/messages"): signal("OPENAPI")}
    served = 0
    for (m, p), op in sorted(ops.items()):
        agent, method, path = probe.get((m, p), (POLITIE, m, p.replace("{id}", sig_sent)))
        r = agent.request(method, path, examples.get((m, p)))
        code, msg = r.err()
        check(r.status not in (404, 405) or (r.status == 404 and not re.match(
              r"^(no route|expected)", msg or "")), "%s %s in the document: the server answers %r"
              % (m, p, r))
        check(200 <= r.status < 300 or (m, p) not in probe, "%s %s: %r" % (m, p, r))
        # security: none only where the document says security: []
        r = agent.request(method, path, examples.get((m, p)), token=None)
        if op["security"] == "[]":
            check((m, p) in OPEN_ROUTES and r.status != 401, "%s %s open in the document, "
                  "server says %r" % (m, p, r))
        else:
            check(r.status == 401 and (m, p) not in OPEN_ROUTES, "%s %s needs the bearer token "
                  "by the document; without it the server says %r" % (m, p, r))
        served += 1

    # query parameters and submit members: the document's are the ones rest.c reads
    doc_query = set().union(*(op["query"] for op in ops.values()))
    check(doc_query == query, "query parameters: document %r, rest.c %r" % (sorted(doc_query),
          sorted(query)))
    check(sorted(props) == sorted(members), "Submit members: document %r, rest.c %r" % (
          sorted(props), sorted(members)))

    # every status the test saw on a documented operation is documented there
    seen = observed | {tuple(x) for x in observed_before}
    missing = sorted({(m, p, s) for m, p, s in seen if (m, p) in ops and s not in ops[(m, p)]["responses"]})
    check(not missing, "statuses seen but not documented: %r" % missing)
    nstat = len({(m, p, s) for m, p, s in seen if (m, p) in ops})
    print("# schemas/openapi.yaml: %d operations, each served and secured as documented; the %d "
          "routes of rest.c's route() all documented; query parameters and submit members as "
          "rest.c reads them; %d (operation, status) pairs seen, all documented"
          % (served, len(ROUTES), nstat))


def phase_main():
    state = json.load(open(STATE))
    for a in (POLITIE, GEMEENTE, KMAR):
        wait_up(a)
    sig = check_submit_and_status(state)
    check_inbox(sig)
    check_explain_schemas()
    check_errors(sig)
    check_limits()
    items = check_concurrent()
    check_metrics(items)
    check_openapi(sig, sig, state["observed"])


def main():
    try:
        {"queued": phase_queued, "main": phase_main}[sys.argv[1]]()
    except Fail as e:
        print("FAILED: %s" % e, file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
