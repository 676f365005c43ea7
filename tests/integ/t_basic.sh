# 1,000 messages from politie to om: all received exactly once, in order.
# Prints the end-to-end throughput with ack-after-fsync and the average
# number of commands per broker commit.
. "$(dirname "$0")/lib.sh"
net_create politie om nla
broker_start
agent_start politie
agent_start om
agent_start nla

N=1000
start=$(date +%s.%N)
seq -f '{"reference":"ref-%06g"}' 1 $N | "$KETEN" send --config "$NET/politie.yaml" --to om \
	--type CaseReferral --purpose prosecution --lines \
	>"$NET/sent.ids" || die "keten send failed"
[ "$(wc -l <"$NET/sent.ids")" -eq $N ] || die "agent accepted $(wc -l <"$NET/sent.ids") of $N"
accepted=$(date +%s.%N)
wait_inbox om $N 120 || die "not all messages arrived"
done_=$(date +%s.%N)
check_inbox om politie "$NET/sent.ids"
# payloads arrive unchanged and in order
"$KETEN" inbox --config "$NET/om.yaml" --all | cut -f6 >"$NET/payloads"
seq -f '{"reference":"ref-%06g"}' 1 $N | cmp -s - "$NET/payloads" || die "payloads differ"
# nobody else got anything
[ "$(inbox_count nla)" -eq 0 ] || die "nla received messages addressed to om"

# one message to two recipients
"$KETEN" send --config "$NET/nla.yaml" --to politie,om --type CaseSignal --purpose investigation \
	--body '{"reference":"to both","exploitationForms":["EXPLOITATION_FORM_LABOUR"]}' \
	>"$NET/both.id" || die "send to two failed"
wait_inbox politie 1 30 || die "politie did not receive"
check_inbox politie nla "$NET/both.id"
wait_inbox om $((N + 1)) 30 || die "om did not receive the second message"

# an agency the policy does not know gets nothing, and the caller hears why
if out=$("$KETEN" send --config "$NET/politie.yaml" --to nobody --type CaseReferral --purpose prosecution \
	--body '{"reference":"x"}' 2>&1); then die "send to an unknown agency succeeded"; fi
echo "$out" | grep -q 'lets no recipient have this message (nobody: not in the directory (version 1))' || die "unexpected: $out"

# the agent validates against the schema and names the JSON path
if out=$("$KETEN" send --config "$NET/politie.yaml" --to om --type CaseSignal --purpose investigation \
	--body '{"persons":[{"birthDate":"31-02-1990"}]}' 2>&1); then die "invalid message accepted"; fi
echo "$out" | grep -qF 'invalid keten.case.v1.CaseSignal: persons[0].birthDate: expected a date YYYY-MM-DD, got "31-02-1990"' ||
	die "unexpected error: $out"
if out=$("$KETEN" send --config "$NET/politie.yaml" --to om --type NoSuchType --purpose x --body '{}' 2>&1); then
	die "unknown type accepted"
fi
echo "$out" | grep -q 'unknown message type "NoSuchType"' || die "unexpected error: $out"

net_stop
stats=$(grep 'broker: stopping' "$NET/broker.log")
avg=$(echo "$stats" | sed 's/.*avg_batch=\([0-9.]*\).*/\1/')
rate=$(echo "$N / ($done_ - $start)" | bc -l)
acc=$(echo "$N / ($accepted - $start)" | bc -l)
printf '# %d CaseReferrals politie -> om: %.0f msg/s end to end (submit to recipient inbox, fsync at agent, broker and agent)\n' $N "$rate"
printf '# agent accepted (outbox fsync) at %.0f msg/s; broker: %s\n' "$acc" "${stats#*stopping: }"
printf '# average commands per broker commit: %s\n' "$avg"
