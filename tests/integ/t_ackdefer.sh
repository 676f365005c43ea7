# Delivery acknowledgements that wait for company (the broker's ack_defer_ms,
# docs/operator.md), here 1 s: with nothing else coming they are logged as
# DELIVERED when the wait ends; a broker asked to stop commits those that
# wait, so after its restart no copy is sent again.
. "$(dirname "$0")/lib.sh"
# heartbeats are frames that end the wait too: make them rare here.  What
# is committed is read from the broker's metrics (an auditor's query is
# logged in a commit of its own, which would take the waiting acks along).
port=$(free_port)
KETEN_HEARTBEAT_MS=5000 KETEN_BROKER_CONF="ack_defer_ms: 1000
metrics_listen: 127.0.0.1:$port" net_create politie om
broker_start
agent_start politie
agent_start om

committed() {	# copies logged as delivered, committed
	http_req GET "$port" /metrics | tail -n +2 >"$NET/metrics"
	metric "$NET/metrics" keten_broker_deliveries_total
}

send() {
	"$KETEN" send --config "$NET/politie.yaml" --to om --type CaseReferral --purpose prosecution \
		--body "{\"reference\":\"ack-$1\"}" >>"$NET/sent.ids" || die "send $1 failed"
}

# 1. the wait ends: DELIVERED is written about a second after the copy arrived
send 1
wait_inbox om 1 30 || die "om did not receive"
t0=$(date +%s.%N)
early=$(committed)
t1=$(date +%s.%N)
if [ "$(echo "$t1 - $t0 < 0.5" | bc)" = 1 ]; then	# the ack came at most ~0.3 s before t0
	[ "$early" = 0 ] || die "DELIVERED committed at once ($early), not after the wait"
	waited="not logged at once"
else
	waited="(too slow here to see the wait)"
fi
for _ in $(seq 1 100); do
	[ "$(committed)" = 1 ] && break
	sleep 0.05
done
[ "$(committed)" = 1 ] || die "DELIVERED not committed after the wait"
[ "$(ledger_count DELIVERED)" -eq 1 ] || die "the ledger holds $(ledger_count DELIVERED) DELIVERED"

# 2. a stopping broker commits the acknowledgements that wait
flushed=""
for k in 2 3 4; do
	send "$k"
	wait_inbox om "$k" 30 || die "om did not receive message $k"
	sleep 0.3	# om's DeliverAck reaches the broker, which holds it (1 s)
	before=$(grep -c 'that waited (delivery acknowledgements' "$NET/broker.log" || true)
	proc_stop broker
	after=$(grep -c 'that waited (delivery acknowledgements' "$NET/broker.log" || true)
	[ "$(ledger_count DELIVERED)" -eq "$k" ] && [ "$after" -gt "$before" ] && { flushed=$k; break; }
	# the acknowledgement had not come before the stop: redelivered; try again
	broker_start
	for _ in $(seq 1 100); do
		[ "$(ledger_count DELIVERED)" -eq "$k" ] && break
		sleep 0.05
	done
done
[ -n "$flushed" ] || die "no stop committed a waiting acknowledgement in three tries"
broker_start
sleep 1.5	# a redelivery would come now
[ "$(inbox_count om)" -eq "$flushed" ] || die "om holds $(inbox_count om) messages, expected $flushed"
net_stop
dups=$(grep 'agent om: stopping' "$NET/om.log" | tail -n 1 | sed 's/.*duplicates=\([0-9]*\).*/\1/')
[ "$dups" = 0 ] || [ "$flushed" != 2 ] || die "om was sent $dups copies again after the restart"
audit_verify >/dev/null
echo "# ack_defer_ms 1000: DELIVERED $waited, written after the wait; the stop committed the waiting acknowledgement (try $((flushed - 1))), nothing sent again"
