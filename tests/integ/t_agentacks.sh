# The sending agent's acknowledgements wait for company (agent/loop.c,
# docs/performance.md): a partner system that submits one message at a time
# over REST and waits for each acceptance gets it at once, and the agent
# commits its record of the broker's acknowledgement with the next
# submission instead of in a commit of its own.  Killed (-9) right after an
# acceptance it had not committed, the agent sends that message again, the
# broker says duplicate, and nothing reaches om twice or goes missing; an
# acknowledgement no submission follows is committed once the wait ends.
. "$(dirname "$0")/lib.sh"
port=$(free_port)
mport=$(free_port)
KETEN_HEARTBEAT_MS=5000 KETEN_BROKER_CONF="metrics_listen: 127.0.0.1:$mport" net_create politie om
api_enable politie "$port"
broker_start
agent_start politie
agent_start om

# sequential N TAG [PIDFILE|-]: N submissions one after another, each waited
# for until accepted (a partner system's loop); prints the message ids.  With
# PIDFILE, kill -9 that process the moment the last acceptance arrives; with
# -, submit without asking after the acceptance.
sequential() {
	"$KETEN_PYTHON" - "$port" "$NET/api.token" "$1" "$2" "${3:-}" <<'EOPY'
import http.client, json, os, signal, sys, time
port, token, n, tag = int(sys.argv[1]), open(sys.argv[2]).read().strip(), int(sys.argv[3]), sys.argv[4]
victim = int(open(sys.argv[5]).read()) if sys.argv[5] not in ("", "-") else 0
ask = sys.argv[5] != "-"
c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
h = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}
for i in range(n):
    body = {"type": "CaseReferral", "recipients": ["om"], "purpose": "prosecution",
            "message": {"reference": "%s-%d" % (tag, i)}}
    c.request("POST", "/v1/messages", json.dumps(body), h)
    r = c.getresponse()
    s = json.loads(r.read())
    if r.status != 202:
        sys.exit("POST %d: %d %r" % (i, r.status, s))
    if not ask:
        print(s["messageId"])
        continue
    c.request("GET", "/v1/messages/%s?wait=20" % s["messageId"], headers=h)
    r = c.getresponse()
    st = json.loads(r.read())
    if r.status != 200 or st.get("state") != "accepted":
        sys.exit("message %d: %d %r" % (i, r.status, st))
    if victim and i == n - 1:
        os.kill(victim, signal.SIGKILL)
    print(s["messageId"])
EOPY
}

# 1. one at a time: the acknowledgements share the next submission's commit
n=40
sequential $n seq >"$NET/seq.ids" || die "sequential submissions failed"
wait_inbox om $n 30 || die "om did not receive the $n messages"
proc_stop politie
line=$(grep 'agent politie: stopping' "$NET/politie.log" | tail -n 1)
shared=$(echo "$line" | sed -n 's/.*acknowledgements committed with the next batch=\([0-9]*\).*/\1/p')
[ -n "$shared" ] || die "politie's stop line does not count the shared commits: $line"
# the next POST comes within a millisecond or two of the acceptance, well
# inside the 5 ms wait; a quarter leaves room for a slow or sanitized build
[ "$shared" -ge $((n / 4)) ] ||
	die "only $shared of $n acknowledgements were committed with the next submission"
agent_start politie

# the broker's count of resent submissions it had accepted before
duplicates() {
	http_req GET "$mport" /metrics | tail -n +2 >"$NET/metrics"
	metric "$NET/metrics" 'keten_broker_submissions_total{result="duplicate"}'
}

# 2. killed right after an acceptance: its acknowledgement is not yet on
# disk; the agent resends, the broker says duplicate, om gets it once.  The
# kill must land inside the 5 ms wait: tried until it has (at most 8 times)
sent=0
before=$(duplicates)
for k in 1 2 3 4 5 6 7 8; do
	sequential 1 "kill$k" "$NET/politie.pid" >>"$NET/kill.ids" || die "submission kill$k failed"
	sent=$k
	proc_kill politie
	agent_start politie
	for _ in $(seq 1 50); do	# the resend comes once the session is up
		[ "$(duplicates)" != "$before" ] && break
		sleep 0.1
	done
	[ "$(duplicates)" != "$before" ] && break
done
resent=$(($(duplicates) - before))
[ "$resent" -ge 1 ] || die "no kill in $sent came before politie committed the acknowledgement"

# 3. an acknowledgement with no company is committed after the wait: killed
# 300 ms after the broker accepted (no status request follows, which would
# take it along), the agent has nothing to send again
accepted() {
	http_req GET "$mport" /metrics | tail -n +2 >"$NET/metrics"
	metric "$NET/metrics" 'keten_broker_submissions_total{result="accepted"}'
}
before=$(duplicates)
was=$(accepted)
sequential 1 alone - >>"$NET/kill.ids" || die "submission alone failed"
for _ in $(seq 1 100); do
	[ "$(accepted)" != "$was" ] && break
	sleep 0.05
done
[ "$(accepted)" != "$was" ] || die "the broker did not accept the lone submission"
sleep 0.3
proc_kill politie
agent_start politie
sleep 1.5	# a resend would come now
[ "$(duplicates)" = "$before" ] ||
	die "the lone acknowledgement was not committed: the broker saw $(($(duplicates) - before)) resent"
total=$((n + sent + 1))
wait_inbox om $total 30 || die "om holds $(inbox_count om) messages, expected $total"
for id in $(cat "$NET/kill.ids"); do
	for _ in $(seq 1 100); do
		st=$("$KETEN" status --config "$NET/politie.yaml" "$id" 2>&1 | head -n 1)
		case "$st" in *accepted*) break ;; esac
		sleep 0.1
	done
	case "$st" in *accepted*) ;; *) die "after the kill, $id is: $st" ;; esac
done
sleep 1	# a second copy would come now
[ "$(inbox_count om)" -eq $total ] || die "om holds $(inbox_count om) messages, expected $total"
net_stop
dups=$(grep 'agent om: stopping' "$NET/om.log" | tail -n 1 | sed 's/.*duplicates=\([0-9]*\).*/\1/')
[ "$dups" = 0 ] || die "om was sent $dups copies twice"
[ "$(ledger_count ACCEPTED)" -eq $total ] || die "the ledger holds $(ledger_count ACCEPTED) acceptances, not $total"
audit_verify >/dev/null
echo "# one at a time over REST: $shared of $n acknowledgements committed with the next submission; killed the moment an acceptance came ($sent tries): the broker answered $resent resent as duplicates, each accepted once, om holds each once; a lone acknowledgement was committed after the wait"
