"""Hostile REST clients against a real agent (tests/integ/t_hostile_rest.sh).

A local process without the API token tries to lock partner systems out of
the agent's REST API or to smuggle requests past it: slow clients holding
every connection, bodies too big to read, Expect: 100-continue for 900 MB, an
endless chunked body, two Content-Length headers, %00 in a path or query, a
recipient listed twice.  Each check asserts what the client got back and that
the agent still serves real requests.  Python 3 standard library only.
"""
import json
import os
import re
import socket
import sys
import threading
import time

PORT = int(os.environ["API_PORT"])
TOKEN = open(os.path.join(os.environ["NET"], "api.token")).read().strip()
MAXCONN = int(os.environ["MAXCONN"])
failures = 0


def check(cond, what):
    global failures
    if cond:
        print("ok   " + what)
    else:
        print("FAIL " + what)
        failures += 1


def conn(timeout=10):
    return socket.create_connection(("127.0.0.1", PORT), timeout=timeout)


def exchange(data, timeout=10, linger=0.0):
    """Send data, read until the server closes or times out; (status, body, seconds)."""
    t0 = time.monotonic()
    s = conn(timeout)
    try:
        s.sendall(data)
        if linger:
            time.sleep(linger)
    except OSError:
        pass
    buf = b""
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            buf += b
            if b"\r\n\r\n" in buf:
                head, _, rest = buf.partition(b"\r\n\r\n")
                m = re.search(rb"(?i)content-length: *(\d+)", head)
                if m and len(rest) >= int(m.group(1)) and not head.startswith(b"HTTP/1.1 100"):
                    break
    except OSError:
        pass
    s.close()
    m = re.match(rb"HTTP/1\.[01] (\d{3})", buf)
    body = buf.partition(b"\r\n\r\n")[2]
    return (int(m.group(1)) if m else None), body, time.monotonic() - t0


def is_json_error(body, code):
    try:
        return json.loads(body)["error"]["code"] == code
    except (ValueError, KeyError, TypeError):
        return False


def healthy(timeout=5):
    try:
        st, _, _ = exchange(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", timeout)
        return st == 200
    except OSError:
        return False


AUTH = b"Authorization: Bearer " + TOKEN.encode() + b"\r\n"


def slow_clients():
    """MAXCONN + 4 clients each send a header byte a second: they are cut at
    the header deadline, and a real request gets through within it."""
    stop = threading.Event()
    socks = []

    def trickle(s):
        line = b"GET /v1/inbox HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100
        for ch in line:
            if stop.is_set():
                return
            try:
                s.send(bytes([ch]))
            except OSError:
                return
            time.sleep(1)

    for _ in range(MAXCONN + 4):
        try:
            s = conn()
            socks.append(s)
            threading.Thread(target=trickle, args=(s,), daemon=True).start()
        except OSError:
            pass
    time.sleep(1.0)
    t0 = time.monotonic()
    refused_while_full = not healthy(timeout=2)
    served_at = None
    while time.monotonic() - t0 < 25:
        if healthy(timeout=2):
            served_at = time.monotonic() - t0
            break
        time.sleep(0.5)
    stop.set()
    cut = 0
    for s in socks:
        try:
            s.settimeout(0.1)
            if s.recv(1) == b"":
                cut += 1
        except socket.timeout:
            pass
        except OSError:
            cut += 1
        s.close()
    check(refused_while_full, "%d slow clients fill all %d connections: a real request is "
          "refused meanwhile" % (MAXCONN + 4, MAXCONN))
    check(served_at is not None and served_at < 15, "a real request is served %.1f s later, "
          "the slow clients cut at the header deadline" % (served_at or -1))
    check(cut >= MAXCONN, "%d of the slow clients' connections were closed by the agent" % cut)


def early_413():
    # a declared length of 10^12 bytes: answered at once, nothing read
    st, body, secs = exchange(b"POST /v1/messages HTTP/1.1\r\nHost: x\r\n" + AUTH +
                              b"Content-Length: 1000000000000\r\nContent-Type: application/json\r\n\r\n{")
    check(st == 413 and is_json_error(body, "too-large") and secs < 5,
          "Content-Length 10^12: %s in %.2f s, JSON too-large" % (st, secs))
    # Expect: 100-continue for 900 MB: 413, never "100 Continue"
    st, body, secs = exchange(b"POST /v1/messages HTTP/1.1\r\nHost: x\r\n" + AUTH +
                              b"Content-Length: 943718400\r\nExpect: 100-continue\r\n\r\n")
    check(st == 413 and is_json_error(body, "too-large"),
          "Expect: 100-continue for 900 MB: answered %s (JSON too-large), not 100 Continue" % st)
    # an endless chunked body: cut at api_max_body_bytes, the thread freed
    s = conn(10)
    s.sendall(b"POST /v1/messages HTTP/1.1\r\nHost: x\r\n" + AUTH +
              b"Transfer-Encoding: chunked\r\n\r\n")
    t0, sent, got = time.monotonic(), 0, b""
    chunk = b"1000\r\n" + b"x" * 4096 + b"\r\n"
    s.settimeout(0.05)
    while time.monotonic() - t0 < 10 and sent < 64 << 20:
        try:
            s.sendall(chunk)
            sent += 4096
        except OSError:
            break
        try:
            b = s.recv(65536)
            if not b:
                break
            got += b
            if b"\r\n\r\n" in got:
                break
        except socket.timeout:
            pass
        except OSError:
            break
    s.close()
    m = re.match(rb"HTTP/1\.[01] (\d{3})", got)
    check(time.monotonic() - t0 < 10 and sent < 16 << 20,
          "endless chunked body: stopped after %d KiB in %.2f s (%s)" %
          (sent >> 10, time.monotonic() - t0, m.group(1).decode() if m else "closed"))


def smuggling():
    st, body, _ = exchange(b"POST /v1/messages HTTP/1.1\r\nHost: x\r\n" + AUTH +
                           b"Content-Length: 5\r\nContent-Length: 50\r\n\r\n{}xyz")
    check(st == 400 and is_json_error(body, "invalid"), "two different Content-Length headers: %s %s" % (st, body[:90]))
    st, body, _ = exchange(b"POST /v1/messages HTTP/1.1\r\nHost: x\r\n" + AUTH +
                           b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
    check(st == 400 and is_json_error(body, "invalid"), "Content-Length beside Transfer-Encoding: %s %s" % (st, body[:90]))


def nul_bytes():
    st, body, _ = exchange(b"GET /v1/inbox%00/ack HTTP/1.1\r\nHost: x\r\n" + AUTH +
                           b"Connection: close\r\n\r\n")
    check(st == 400 and is_json_error(body, "invalid") and b"NUL" in body,
          "%%00 in a path: %s %s" % (st, body[:80]))
    st, body, _ = exchange(b"GET /v1/inbox?limit=5%00000 HTTP/1.1\r\nHost: x\r\n" + AUTH +
                           b"Connection: close\r\n\r\n")
    check(st == 400 and is_json_error(body, "invalid"), "%%00 in a query value: %s" % st)


def twice():
    msg = json.dumps({"type": "CaseReferral", "recipients": ["om", "om"],
                      "purpose": "prosecution", "message": {"reference": "TWICE-1"}}).encode()
    st, body, _ = exchange(b"POST /v1/messages HTTP/1.1\r\nHost: x\r\n" + AUTH +
                           b"Content-Type: application/json\r\nConnection: close\r\n"
                           b"Content-Length: %d\r\n\r\n" % len(msg) + msg)
    check(st == 422 and b"twice" in body, "recipients [om, om]: %s %s" % (st, body[:120]))


def main():
    early_413()
    smuggling()
    nul_bytes()
    twice()
    slow_clients()
    check(healthy(), "the agent serves after all of it")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
