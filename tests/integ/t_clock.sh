# Time: an agent whose clock is 10 minutes off has its messages refused with
# a reason that says so; a queued copy whose rule's retention ends before
# delivery is removed and logged as expired.
. "$(dirname "$0")/lib.sh"
net_create
broker_start
agent_start om
KETEN_TEST_CLOCK_OFFSET_MS=600000 agent_start politie

id=$("$KETEN" send --config "$NET/politie.yaml" --to om --type CaseReferral --purpose prosecution \
	--body '{"reference":"CLK-1"}') || die "the agent refused"
for i in $(seq 50); do
	st=$("$KETEN" status --config "$NET/politie.yaml" "$id" | head -n 1) && :
	case $st in *rejected*) break ;; esac
	sleep 0.1
done
echo "$st" | grep -q "rejected .*the clock of politie is 600 s ahead of the broker's (allowed: 300 s); fix the clock" ||
	die "not refused for its clock: $st"
grep -q "the clock of politie is 600 s ahead of ours" "$NET/broker.log" || die "the broker did not log it"
[ "$(inbox_count om)" -eq 0 ] || die "om received a message from a skewed clock"
[ "$(ledger_count REJECTED reasonCode=clock)" -eq 1 ] || die "the refusal is not in the ledger"
echo "# an agent 10 minutes ahead: $(echo "$st" | cut -d' ' -f2-)"

# retention: a signal for the municipality (kept 730 days) waits for an offline recipient
proc_stop politie
agent_start politie
"$KETEN" send --config "$NET/politie.yaml" --to gemeente-amsterdam --type CaseSignal --purpose victim-care \
	--body '{"reference":"RET-1","persons":[{"role":"PERSON_ROLE_POSSIBLE_VICTIM","givenName":"Eva"}]}' \
	>"$NET/ret.id" 2>/dev/null || die "send failed"
for i in $(seq 50); do [ "$(ledger_count ACCEPTED recipient=gemeente-amsterdam)" -eq 1 ] && break; sleep 0.1; done
[ "$(ledger_count ACCEPTED recipient=gemeente-amsterdam)" -eq 1 ] || die "not accepted"
# 731 days later the broker removes it, and logs that it expired undelivered
proc_stop broker
KETEN_TEST_CLOCK_OFFSET_MS=$((731 * 86400000)) broker_start
for i in $(seq 50); do [ "$(ledger_count EXPIRED recipient=gemeente-amsterdam)" -eq 1 ] && break; sleep 0.1; done
[ "$(ledger_count EXPIRED recipient=gemeente-amsterdam)" -eq 1 ] || die "no expired entry"
grep -q "a queued copy for gemeente-amsterdam expired undelivered" "$NET/broker.log" || die "not logged"
agent_start gemeente-amsterdam
sleep 2
[ "$(inbox_count gemeente-amsterdam)" -eq 0 ] || die "an expired copy was delivered"
audit_verify >/dev/null
echo "# a copy whose retention (730 days) ended undelivered was removed and logged as expired"
