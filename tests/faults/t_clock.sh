# An agent whose clock is 10 minutes off.  tests/integ/t_clock.sh sends one
# message from an agent 10 minutes ahead and checks the reason, the broker's
# log and the ledger (and retention expiry).  Here, in the middle of traffic:
# nla's clock is 10 minutes behind, then right, then 10 minutes ahead, then
# right (restarts with KETEN_TEST_CLOCK_OFFSET_MS, the test hook of
# common/util.c now_ms); each time it sends FAULT_CLOCK_MESSAGES (default 40) CaseSignals to
# om and politie while politie, whose clock is right, sends CaseReferrals to
# om.  Every message from the wrong clock is rejected with a reason that says
# so ("the clock of nla is 600 s behind the broker's ... fix the clock", as
# `keten status` shows it), logged as REJECTED reason clock in the ledger and
# delivered to nobody; politie's traffic is not disturbed; with the clock
# right, nla's messages arrive exactly once.  No random choices.
. "$(dirname "$0")/lib.sh"
fault_seed
K=${FAULT_CLOCK_MESSAGES:-40}
net_create
broker_start
agent_start om
agent_start politie
seq -f "{\"reference\":\"CP$SEED-%04g\"}" 1 $((3 * K)) >"$NET/politie.input"
fault_sender politie om CaseReferral prosecution "$NET/politie.input" "$NET/politie.sent" 10 &
honest=$!

# rejected_all LOG: prints how many of LOG's accepted ids are not rejected yet
rejected_all() {
	local id n=0
	while read -r id; do
		"$KETEN" status --config "$NET/nla.yaml" "$id" >"$NET/st" 2>&1
		grep -q " rejected" "$NET/st" || n=$((n + 1))
	done < <(awk -F'\t' '$1 == "A" { print $3 }' "$1")
	echo "$n"
	[ $n -eq 0 ]
}

for phase in behind ahead; do
	if [ $phase = behind ]; then off=-600000; else off=600000; fi
	KETEN_TEST_CLOCK_OFFSET_MS=$off agent_start nla
	seq -f "{\"reference\":\"C${phase}$SEED-%04g\",\"exploitationForms\":[\"EXPLOITATION_FORM_LABOUR\"]}" 1 "$K" \
		>"$NET/$phase.input"
	fault_sender nla politie,om CaseSignal investigation "$NET/$phase.input" "$NET/$phase.sent" 10
	acc=$(grep -c '^A' "$NET/$phase.sent")
	[ "$acc" -eq "$K" ] || die "nla's agent took only $acc of $K (it cannot know its clock is off)"
	wait_until "nla's $phase messages to be rejected" rejected_all "$NET/$phase.sent" ||
		die "messages from a clock $phase were not rejected"
	# every one with the reason, naming the direction
	bad=0
	for id in $(awk -F'\t' '$1 == "A" { print $3 }' "$NET/$phase.sent"); do
		st=$("$KETEN" status --config "$NET/nla.yaml" "$id")
		# 600 s, give or take the time the agent's word took to reach the broker
		echo "$st" | grep -Eq "rejected .*: the clock of nla is (5[89][0-9]|6[01][0-9]) s $phase (of )?the broker's \(allowed: 300 s\); fix the clock" ||
			bad=$((bad + 1))
	done
	[ $bad -eq 0 ] || die "$bad messages from a clock $phase without the reason; e.g. $st"
	grep -Eq "the clock of nla is (5[89][0-9]|6[01][0-9]) s $phase (of )?ours" "$NET/broker.log" || die "the broker did not log the clock $phase"
	echo "# clock 10 min $phase: $K of $K rejected: $(echo "$st" | sed 's/^[^ ]* rejected [^ ]*: //')"
	proc_stop nla

	# the clock right again: nla's messages go through
	agent_start nla
	seq -f "{\"reference\":\"Cright$phase$SEED-%04g\",\"exploitationForms\":[\"EXPLOITATION_FORM_LABOUR\"]}" 1 "$K" \
		>"$NET/right.input"
	fault_sender nla politie,om CaseSignal investigation "$NET/right.input" "$NET/right.$phase" 10
	cat "$NET/right.$phase" >>"$NET/right.sent"
	for rc in om politie; do
		wait_until "nla's messages at $rc" accepted_missing $rc nla "$NET/right.sent" ||
			die "nla's messages missing at $rc with the clock right"
	done
	n=$(grep -c "the clock of nla is right again" "$NET/broker.log")
	[ "$n" -ge 1 ] || die "the broker did not notice the clock is right again"
	proc_stop nla
done
agent_start nla
wait $honest
wait_until "politie's messages at om" accepted_missing om politie "$NET/politie.sent" || die "politie's messages missing at om"
for rc in om politie; do
	wait_until "the ledger's delivery entries for $rc" delivered_pending $rc || die "deliveries to $rc not in the ledger"
done
[ "$(grep -c "the clock of nla is right again" "$NET/broker.log")" -eq 2 ] ||
	die "the broker did not notice twice that the clock is right again"
net_stop
[ -z "${STOP_FAILED:-}" ] || die "a process did not stop cleanly"
# nothing from the wrong clock arrived or was accepted; each was rejected in the ledger
for phase in behind ahead; do
	for id in $(awk -F'\t' '$1 == "A" { print $3 }' "$NET/$phase.sent"); do
		grep -qF "$id" "$NET/om.inbox" "$NET/politie.inbox" && die "$id from a clock $phase arrived"
	done
done
rej=$("$KETEN" audit query --json --data "$NET/broker-data" --kind REJECTED --sender nla 2>/dev/null |
	grep '"reasonCode":"clock"' | sed -n 's/.*"messageId":"\([^"]*\)".*/\1/p' | sort -u | wc -l)
[ "$rej" -eq $((2 * K)) ] || die "the ledger holds $rej rejected messages for the clock, expected $((2 * K))"
v=$(audit_verify 2>/dev/null | head -n 1)
f1=$(fault_check om nla "$NET/right.sent") || die "nla -> om"
f2=$(fault_check politie nla "$NET/right.sent") || die "nla -> politie"
f3=$(fault_check om politie "$NET/politie.sent") || die "politie -> om"
echo "# ledger: $rej messages of nla REJECTED reason clock; with the clock right (after each phase):"
echo "#   $f1"
echo "#   $f2"
echo "# politie's traffic meanwhile: $f3"
echo "#   $v"
