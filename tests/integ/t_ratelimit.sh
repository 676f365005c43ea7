# A partner system that submits faster than the broker's max_submissions_per_s
# is slowed down, not served out of order and not lost: the broker refuses the
# rest of the session (RATE_LIMITED), the agent pauses and resends in order.
. "$(dirname "$0")/lib.sh"
net_create
echo "max_submissions_per_s: 40" >>"$NET/broker.yaml"
broker_start
agent_start politie
agent_start om
N=240
seq -f '{"reference":"RL-%g"}' 1 $N | "$KETEN" send --config "$NET/politie.yaml" --to om \
	--type CaseReferral --purpose prosecution --lines >"$NET/sent.ids" || die "send failed"
wait_inbox om $N 120 || die "not all delivered: $(inbox_count om) of $N"
check_inbox om politie "$NET/sent.ids"
grep -q "politie goes over max_submissions_per_s (40 a second)" "$NET/broker.log" ||
	die "the broker did not limit politie"
grep -q "broker error 13: politie sends more than max_submissions_per_s" "$NET/politie.log" ||
	die "the agent was not told why"
[ "$("$KETEN" audit query --json --ledger "$NET/broker-data" --kind ACCEPTED --sender politie 2>/dev/null | wc -l)" -eq $N ] ||
	die "accepted entries differ from $N"
echo "# $N messages at max_submissions_per_s 40: limited, paused, all delivered once and in order"
