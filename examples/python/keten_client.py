"""A small client for the keten agent's REST API (docs/integration.md).

Python 3 standard library only (urllib).  Every method returns the decoded
JSON answer or raises KetenError with the HTTP status and the API's error
code and message.

    api = KetenClient("http://127.0.0.1:8470", token_file="/etc/keten/api.token")
    sent = api.submit("CaseSignal", ["gemeente-amsterdam"], "victim-care", {...})
    for item in api.inbox_items():        # long poll, forever
        store(item)                       # in your own system first ...
        api.ack(item["messageId"])        # ... then acknowledge
"""
import json
import time
import urllib.error
import urllib.parse
import urllib.request


class KetenError(Exception):
    """An error answer: status (HTTP), code (e.g. "policy"), message."""

    def __init__(self, status, code, message):
        super().__init__("%s (HTTP %d): %s" % (code, status, message))
        self.status = status
        self.code = code
        self.message = message


class KetenClient:
    def __init__(self, url, token=None, token_file=None, timeout=60):
        if token is None:
            with open(token_file) as f:
                token = f.read().strip()
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def _call(self, method, path, query=None, body=None, timeout=None):
        url = self.url + path
        if query:
            url += "?" + urllib.parse.urlencode({k: v for k, v in query.items() if v is not None})
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(url, data=data, method=method)
        req.add_header("Authorization", "Bearer " + self.token)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=timeout or self.timeout) as r:
                text = r.read().decode()
                ctype = r.headers.get("Content-Type", "")
        except urllib.error.HTTPError as e:
            text = e.read().decode(errors="replace")
            try:
                err = json.loads(text)["error"]
                raise KetenError(e.code, err["code"], err["message"]) from None
            except (ValueError, KeyError, TypeError):
                raise KetenError(e.code, "http", text.strip() or e.reason) from None
        return json.loads(text) if ctype.startswith("application/json") else text

    # --- sending ------------------------------------------------------------

    def submit(self, mtype, recipients, purpose, message, **header):
        """Hand a case message to the agent.  header: legalBasis, caseReference,
        handling, attributes, inReplyTo.  Returns {"messageId", "recipients",
        "withheld": [{"recipient", "path", "reason", "rule"}]}: stored, and it
        will be delivered."""
        body = {"type": mtype, "recipients": list(recipients), "purpose": purpose,
                "message": message}
        body.update(header)
        return self._call("POST", "/v1/messages", body=body)

    def status(self, message_id):
        """{"messageId", "state": queued|accepted|rejected, "reason"?, "receipts"}."""
        return self._call("GET", "/v1/messages/" + message_id)

    def wait_status(self, message_id, seconds=30):
        """Poll until the broker has answered (accepted or rejected)."""
        deadline = time.monotonic() + seconds
        while True:
            st = self.status(message_id)
            if st["state"] != "queued" or time.monotonic() > deadline:
                return st
            time.sleep(0.2)

    def explain(self, recipient, mtype, purpose, legal_basis=None):
        return self._call("GET", "/v1/policy/explain", {"recipient": recipient, "type": mtype,
                          "purpose": purpose, "legalBasis": legal_basis})

    def schemas(self, mtype=None):
        return self._call("GET", "/v1/schemas", {"type": mtype})["types"]

    # --- receiving ----------------------------------------------------------

    def inbox(self, after=0, limit=100, wait=0, all=False):
        """One page: {"items": [...], "next": SEQ}.  wait (0-30 s) long-polls."""
        return self._call("GET", "/v1/inbox", {"after": after, "limit": limit, "wait": wait,
                          "all": "true" if all else None}, timeout=self.timeout + wait)

    def inbox_items(self, wait=25, stop=None):
        """Yield unacknowledged messages as they arrive, oldest first, forever
        (or until stop() is true).  Acknowledge each one after storing it: what
        is not acknowledged is offered again after a restart (at least once)."""
        after = 0
        while stop is None or not stop():
            page = self.inbox(after=after, wait=wait)
            for item in page["items"]:
                yield item
            after = page["next"]

    def get(self, message_id):
        return self._call("GET", "/v1/inbox/" + message_id)

    def ack(self, message_id):
        """{"messageId", "ackedMs", "already"}; acknowledging twice is harmless."""
        return self._call("POST", "/v1/inbox/%s/ack" % message_id)

    # --- operations ---------------------------------------------------------

    def health(self):
        return self._call("GET", "/healthz")

    def metrics(self):
        """The Prometheus text, as {"name{labels}": value}."""
        out = {}
        for line in self._call("GET", "/metrics").splitlines():
            if line and not line.startswith("#"):
                k, v = line.rsplit(" ", 1)
                out[k] = float(v)
        return out
