# kill -9 of the broker in the middle of a stream of 1,000 messages, restart;
# kill -9 of the receiving agent in the middle, restart: every message the
# sending agent accepted arrives exactly once, in order.
. "$(dirname "$0")/lib.sh"
net_create politie om
broker_start
agent_start politie
agent_start om

N=1000
# A slow trickle so the kills land mid-stream: 10 batches of 100.
(
	for b in $(seq 0 9); do
		seq -f "{\"reference\":\"crash-$b-%03g\"}" 1 100 |
			"$KETEN" send --config "$NET/politie.yaml" --to om --type CaseReferral \
				--purpose prosecution --lines || exit 1
		sleep 0.3
	done
) >"$NET/sent.ids" &
sender=$!

sleep 0.8
proc_kill broker
echo "# broker killed (-9) after $(inbox_count om) of $N were in om's inbox"
sleep 0.5
broker_start
sleep 0.8
proc_kill om
echo "# om killed (-9) with $(wc -l <"$NET/sent.ids") accepted by politie"
sleep 0.3
agent_start om
sleep 0.5
proc_kill broker
sleep 0.2
broker_start

wait $sender || die "keten send failed"
[ "$(wc -l <"$NET/sent.ids")" -eq $N ] || die "politie accepted only $(wc -l <"$NET/sent.ids")"
wait_inbox om $N 120 || die "messages lost after the crashes"
check_inbox om politie "$NET/sent.ids"
# the ledger holds every acceptance and delivery exactly once, and verifies
# (the last acknowledgements may still be on their way: wait for them)
for i in $(seq 100); do [ "$(ledger_count DELIVERED)" -ge $N ] && break; sleep 0.2; done
net_stop
v=$(audit_verify)
[ "$(ledger_count ACCEPTED)" -eq $N ] || die "ledger: $(ledger_count ACCEPTED) accepted entries, expected $N"
[ "$(ledger_count DELIVERED)" -eq $N ] || die "ledger: $(ledger_count DELIVERED) delivered entries, expected $N"
echo "# $v"
dups=$(grep -h 'agent om: stopping' "$NET/om.log" | sed 's/.*duplicates=\([0-9]*\).*/\1/')
echo "# all $N accepted messages arrived exactly once, in order; redeliveries filtered by om: ${dups:-0}"
