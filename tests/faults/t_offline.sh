# A recipient offline for the whole run, then back: om's agent is not
# running while politie sends FAULT_OFFLINE_MESSAGES (default 3,000)
# CaseReferrals and nla two thirds as many CaseSignals to it, more than the
# broker's delivery window (1,000 in flight per recipient).  The broker
# queues every copy (its ledger shows each accepted, none delivered); when om
# starts, everything arrives exactly once and in order per sender (the rule of
# fault_check in lib.sh).  No random choices: the seed is printed only for
# the record.
. "$(dirname "$0")/lib.sh"
fault_seed
N=${FAULT_OFFLINE_MESSAGES:-3000}
M=$((N * 2 / 3))
net_create
broker_start
agent_start politie
agent_start nla
seq -f "{\"reference\":\"OP$SEED-%05g\"}" 1 "$N" >"$NET/politie.input"
seq -f "{\"reference\":\"ON$SEED-%05g\",\"exploitationForms\":[\"EXPLOITATION_FORM_LABOUR\"]}" 1 "$M" \
	>"$NET/nla.input"
fault_sender politie om CaseReferral prosecution "$NET/politie.input" "$NET/politie.sent" &
s1=$!
fault_sender nla om CaseSignal investigation "$NET/nla.input" "$NET/nla.sent" &
s2=$!
wait $s1
wait $s2
accepted=$(cat "$NET/politie.sent" "$NET/nla.sent" | grep -c '^A')

# every copy queued at the broker before om comes back
queued() {
	local n
	n=$("$KETEN" audit query --json --data "$NET/broker-data" --kind ACCEPTED --recipient om 2>/dev/null |
		grep -c KIND_ACCEPTED)
	echo "$n"
	[ "$n" -ge "$accepted" ]
}
wait_until "the broker to accept every copy for om" queued || die "the broker did not accept everything"
d=$("$KETEN" audit query --json --data "$NET/broker-data" --kind DELIVERED --recipient om 2>/dev/null |
	grep -c KIND_DELIVERED)
[ "$d" -eq 0 ] || die "$d deliveries to om logged while om was offline"

t0=$SECONDS
agent_start om
wait_until "politie's messages at om" accepted_missing om politie "$NET/politie.sent" ||
	die "politie's messages missing at om"
wait_until "nla's messages at om" accepted_missing om nla "$NET/nla.sent" ||
	die "nla's messages missing at om"
wait_until "the ledger's delivery entries for om" delivered_pending om ||
	die "deliveries to om not in the ledger"
drain=$((SECONDS - t0))
net_stop
[ -z "${STOP_FAILED:-}" ] || die "a process did not stop cleanly"
v=$(audit_verify 2>/dev/null | head -n 1)
f1=$(fault_check om politie "$NET/politie.sent") || die "politie -> om"
f2=$(fault_check om nla "$NET/nla.sent") || die "nla -> om"
echo "# om offline while politie sent $N and nla $M ($accepted accepted, all queued at the broker, none delivered); back: all delivered in ${drain} s"
echo "#   from politie: $f1"
echo "#   from nla: $f2"
echo "#   $v"
