# The broker's /healthz and /metrics on metrics_listen, with real processes:
# - a non-loopback address is refused at file:line:col unless metrics_public;
# - counters equal what was sent, accepted, rejected (per reason) and delivered;
#   the ledger size equals the ledger's; histograms are consistent and agree
#   with the broker's own statistics;
# - queue depth per recipient follows an offline recipient; connected agents
#   follow agents going away;
# - 404, 405, 413; a client that holds a connection open without sending does
#   not hold up the broker, and is cut off after the connection timeout.
. "$(dirname "$0")/lib.sh"
net_create
PORT=$(free_port)
line=$(($(wc -l <"$NET/broker.yaml") + 1))	# where the key lands
echo "metrics_listen: 0.0.0.0:$PORT" >>"$NET/broker.yaml"
if out=$("$KETEN_BIN/keten-broker" -n --config "$NET/broker.yaml" 2>&1); then die "0.0.0.0 accepted"; fi
echo "$out" | grep -q "broker.yaml:$line:17: \"metrics_listen\" 0.0.0.0:$PORT is not a loopback address" ||
	die "unexpected error: $out"
echo "metrics_public: true" >>"$NET/broker.yaml"
out=$("$KETEN_BIN/keten-broker" -n --config "$NET/broker.yaml" 2>&1) || die "metrics_public refused: $out"
sed -i '/^metrics_/d' "$NET/broker.yaml"
echo "metrics_listen: metrics.example:$PORT" >>"$NET/broker.yaml"
if out=$("$KETEN_BIN/keten-broker" -n --config "$NET/broker.yaml" 2>&1); then die "host name accepted"; fi
echo "$out" | grep -q "broker.yaml:$line:17: \"metrics_listen\" must be HOST:PORT with a numeric address" ||
	die "unexpected error: $out"
sed -i '/^metrics_/d' "$NET/broker.yaml"
echo "metrics_listen: 127.0.0.1:$PORT" >>"$NET/broker.yaml"

broker_start
agent_start politie
agent_start om
grep -q "serving /metrics and /healthz on http://127.0.0.1:$PORT" "$NET/broker.log" || die "not serving"

scrape() {	# scrape FILE
	http_req GET "$PORT" /metrics >"$1" || die "GET /metrics failed"
	[ "$(head -n 1 "$1")" = 200 ] || die "GET /metrics: $(head -n 3 "$1")"
}

# health, unknown paths, methods and bodies
h=$(http_req GET "$PORT" /healthz) || die "GET /healthz failed"
[ "$(echo "$h" | head -n 1)" = 200 ] || die "healthz: $h"
echo "$h" | grep -q '"status":"ok","storage":"ok","ledger_entries":[0-9]*,"connected_agents":' ||
	die "healthz body: $h"
[ "$(http_req GET "$PORT" /nothing | head -n 1)" = 404 ] || die "unknown path not 404"
[ "$(http_req POST "$PORT" /metrics x | head -n 1)" = 405 ] || die "POST not 405"
[ "$(http_req DELETE "$PORT" /healthz | head -n 1)" = 405 ] || die "DELETE not 405"
[ "$(http_req GET "$PORT" /metrics "$(head -c 100000 /dev/zero | tr '\0' x)" | head -n 1)" = 413 ] ||
	die "a request body was not refused"
[ "$(http_req HEAD "$PORT" /metrics | head -n 1)" = 200 ] || die "HEAD not 200"

# a client that connects, sends half a request line and then nothing
"$KETEN_PYTHON" - "$PORT" >"$NET/slow.out" 2>&1 <<'EOP' &
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET /metr")
s.settimeout(30)
start = time.time()
try:
    data = s.recv(4096)
except Exception as e:
    data = None
print("closed after %.0f s" % (time.time() - start) if not data else "answered: %r" % data[:80])
EOP
slow=$!
sleep 0.3

N=30
seq -f '{"reference":"M-%04g"}' 1 $N | "$KETEN" send --config "$NET/politie.yaml" --to om \
	--type CaseReferral --purpose prosecution --lines >"$NET/sent.ids" || die "send failed"
wait_inbox om $N 60 || die "the broker did not deliver while a client held a connection"
scrape "$NET/m1"
echo "# $N messages delivered and /metrics answered while a silent client held a connection"

# rejections with known reasons: rawpeer (nla's keys) sends one unknown
# recipient, one altered signature, one foreign sender and one forged manifest
"$KETEN_TESTBIN/rawpeer" --endpoint "ipc://$NET/broker.sock" --server-key "$BROKER_KEY" \
	--keys "$NET/keys/nla.secret" --forge-to gemeente-amsterdam --directory "$NET/directory.yaml" \
	>"$NET/rawpeer.out" || die "rawpeer failed: $(cat "$NET/rawpeer.out")"

# an offline recipient: its queue grows
proc_stop om
for i in $(seq 50); do
	scrape "$NET/m2"
	[ "$(metric "$NET/m2" keten_broker_connected_agents)" = 1 ] && break
	sleep 0.2
done
[ "$(metric "$NET/m2" keten_broker_connected_agents)" = 1 ] ||
	die "connected agents: $(metric "$NET/m2" keten_broker_connected_agents), expected 1 (politie)"
seq -f '{"reference":"Q-%04g"}' 1 3 | "$KETEN" send --config "$NET/politie.yaml" --to om \
	--type CaseReferral --purpose prosecution --lines >>"$NET/sent.ids" || die "send failed"
for i in $(seq 100); do
	scrape "$NET/m2"
	[ "$(metric "$NET/m2" 'keten_broker_submissions_total{result="accepted"}')" = $((N + 3)) ] && break
	sleep 0.1
done
[ "$(metric "$NET/m2" 'keten_broker_queue_depth{recipient="om"}')" = 3 ] ||
	die "queue depth of om: $(metric "$NET/m2" 'keten_broker_queue_depth{recipient="om"}'), expected 3"
[ "$(metric "$NET/m2" 'keten_broker_queue_depth{recipient="politie"}')" = 0 ] || die "politie's queue"
h=$(http_req GET "$PORT" /healthz)
echo "$h" | grep -q '"queued":3,' || die "healthz does not count the queue: $h"
echo "# om offline: queue_depth{recipient=\"om\"} 3, connected_agents 1"

agent_start om
wait_inbox om $((N + 3)) 60 || die "the queued messages did not arrive"
check_inbox om politie "$NET/sent.ids"
for i in $(seq 100); do
	scrape "$NET/m3"
	[ "$(metric "$NET/m3" keten_broker_deliveries_total)" = $((N + 3)) ] && break
	sleep 0.1
done
m=$NET/m3
[ "$(metric "$m" 'keten_broker_queue_depth{recipient="om"}')" = 0 ] || die "om's queue did not drain"
[ "$(metric "$m" 'keten_broker_submissions_total{result="accepted"}')" = $((N + 3)) ] ||
	die "accepted: $(metric "$m" 'keten_broker_submissions_total{result="accepted"}'), sent $((N + 3))"
[ "$(metric "$m" keten_broker_deliveries_total)" = $((N + 3)) ] ||
	die "deliveries: $(metric "$m" keten_broker_deliveries_total)"
sends=$(metric "$m" keten_broker_delivery_sends_total)
[ "$sends" -ge $((N + 3)) ] || die "delivery sends: $sends"
# rawpeer's refusals: one each, but 11 malformed headers, manifests and decisions
# (a handling label of 99 and of -1, created_ms 0, -1 and INT64_MIN, a nil and
# a v4 id, a 300 KB purpose, a 100 KB pseudonym, a path 20,000 times, a source
# refusal naming no field of its type) and one created at INT64_MAX (clock)
for r in unknown-recipient:1 signature:1 not-allowed:1 malformed:11 clock:1; do
	[ "$(metric "$m" "keten_broker_rejections_total{reason=\"${r%:*}\"}")" = "${r#*:}" ] ||
		die "rejections for ${r%:*}: $(metric "$m" "keten_broker_rejections_total{reason=\"${r%:*}\"}")"
done
p=$(metric "$m" 'keten_broker_rejections_total{reason="policy"}')
pc=$(metric "$m" 'keten_broker_rejections_total{reason="policy-changed"}')
[ $((p + pc)) = 1 ] || die "policy rejections: $p + $pc"
total=$(grep '^keten_broker_rejections_total{' "$m" | awk '{ s += $2 } END { print s }')
[ "$total" = "$(metric "$m" 'keten_broker_submissions_total{result="rejected"}')" ] ||
	die "rejected ($(metric "$m" 'keten_broker_submissions_total{result="rejected"}')) is not the sum of the reasons ($total)"
[ "$total" = 16 ] || die "rejections: $total, expected 16"
# every rejection the ledger holds is counted (storage and no-session are not logged)
[ "$(ledger_count REJECTED)" = 16 ] || die "the ledger holds $(ledger_count REJECTED) rejections"
echo "# counters: $((N + 3)) accepted, $((N + 3)) delivered ($sends sends), rejected 16 (unknown-recipient, signature, not-allowed, 11 malformed, clock, policy)"

# histograms: cumulative buckets, +Inf = count, one observation of each per commit
for hname in keten_broker_commit_seconds keten_broker_batch_size; do
	awk -v n="${hname}_bucket" 'index($1, n "{") == 1 { if ($2 < prev) bad = 1; prev = $2; last = $2 }
		END { exit bad }' "$m" || die "$hname buckets are not cumulative"
	[ "$(metric "$m" "${hname}_bucket{le=\"+Inf\"}")" = "$(metric "$m" "${hname}_count")" ] ||
		die "$hname: +Inf bucket differs from _count"
done
commits=$(metric "$m" keten_broker_commit_seconds_count)
[ "$commits" = "$(metric "$m" keten_broker_batch_size_count)" ] || die "commit and batch counts differ"
[ "$commits" -gt 0 ] || die "no commits observed"
cmds=$(metric "$m" keten_broker_batch_size_sum)
# each accepted submission, rejection and delivery acknowledgement is a command of some batch
[ "$cmds" -ge $((2 * (N + 3) + 4)) ] || die "batch_size_sum $cmds is less than the commands sent"

# the ledger's size: `keten audit log` logs itself first, hence one more
scrape "$NET/m5"
entries=$(metric "$NET/m5" keten_broker_ledger_entries_total)
lines=$("$KETEN" audit log --json --data "$NET/broker-data" | wc -l)
[ $((entries + 1)) = "$lines" ] || die "ledger_entries_total $entries, the ledger holds $lines (with this query)"

# the silent client was cut off by the connection timeout
wait $slow
grep -q "^closed after" "$NET/slow.out" || die "silent client: $(cat "$NET/slow.out")"
echo "# silent client: $(cat "$NET/slow.out")"

# with the agents gone the counts stand still: they equal the broker's own statistics
proc_stop politie
proc_stop om
sleep 0.5
scrape "$NET/m4"
proc_stop broker
stats=$(grep 'broker: stopping' "$NET/broker.log")
c=$(echo "$stats" | sed 's/.*commits=\([0-9]*\).*/\1/')
k=$(echo "$stats" | sed 's/.* commands=\([0-9]*\).*/\1/')
[ "$c" = "$(metric "$NET/m4" keten_broker_commit_seconds_count)" ] ||
	die "commits: broker says $c, metrics $(metric "$NET/m4" keten_broker_commit_seconds_count)"
[ "$k" = "$(metric "$NET/m4" keten_broker_batch_size_sum)" ] ||
	die "commands: broker says $k, metrics $(metric "$NET/m4" keten_broker_batch_size_sum)"
# LMDB pages written: at least one per commit (its meta page), as the broker counted
pw=$(echo "$stats" | sed 's/.*pages_written=\([0-9]*\).*/\1/')
[ "$pw" = "$(metric "$NET/m4" keten_broker_lmdb_pages_written_total)" ] ||
	die "pages written: broker says $pw, metrics $(metric "$NET/m4" keten_broker_lmdb_pages_written_total)"
# (the kernel counts block output: nothing on a file system in memory)
[ "$(stat -f -c %T "$NET")" = tmpfs ] || [ "$pw" -ge "$c" ] || die "$pw LMDB pages written by $c commits"
echo "# histograms: $c commits of $k commands, as the broker counted; ledger_entries_total $entries; $pw LMDB pages written"
