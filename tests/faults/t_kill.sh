# kill -9 of the broker, the sending agent and the receiving agents at random
# moments while nla sends FAULT_MESSAGES (default 10,000) CaseSignals to
# politie and om, for FAULT_ROUNDS rounds (default 3; fewer when the soft
# budget FAULT_DEADLINE runs out, never fewer than one), each with its own
# seed and a fresh network.  Then: every message id the CLI printed reaches
# both inboxes exactly once and in order, no message id arrives twice, a
# reference whose submission went unanswered (the agent died under the CLI)
# arrives at most once more per unanswered attempt (the rule is spelled out
# at fault_check in lib.sh), the ledger's ACCEPTED and DELIVERED entries are
# exactly the messages in the inboxes, and keten audit verify passes.
#
# Replay a round: FAULT_SEED=<its seed> FAULT_ROUNDS=1 ONLY=kill make faults.
# FAULT_KILL_MIN_MS/FAULT_KILL_MAX_MS (700/3000) bound the pause between kills.
# The seed fixes the schedule (when, what is killed, how long it stays
# down); the interleaving with the processes is the machine's.
. "$(dirname "$0")/lib.sh"
fault_seed
N=${FAULT_MESSAGES:-10000}
ROUNDS=${FAULT_ROUNDS:-3}
first=$SEED
targets=(broker nla om politie)
last_dur=0

for r in $(seq 1 "$ROUNDS"); do
	if [ "$r" -gt 1 ] && [ "$(fault_left)" -lt $((last_dur + last_dur / 4 + 10)) ]; then
		echo "# stopped after $((r - 1)) rounds: the time budget (FAULT_SECONDS) is spent"
		break
	fi
	seed=$((first + r - 1))
	RANDOM=$seed
	t0=$SECONDS
	net_create
	broker_start
	agent_start nla
	agent_start om
	agent_start politie
	seq -f "{\"reference\":\"K$seed-%05g\",\"exploitationForms\":[\"EXPLOITATION_FORM_LABOUR\"]}" 1 "$N" \
		>"$NET/input"
	fault_sender nla politie,om CaseSignal investigation "$NET/input" "$NET/sent.log" &
	sender=$!

	declare -A killed=([broker]=0 [nla]=0 [om]=0 [politie]=0)
	tail_kills=2	# and a few more while the queues drain
	while :; do
		rand_s pause "${FAULT_KILL_MIN_MS:-700}" "${FAULT_KILL_MAX_MS:-3000}"
		rand_s down 0 1000
		victim=${targets[RANDOM % 4]}
		sleep "$pause"
		if ! kill -0 $sender 2>/dev/null; then
			[ $tail_kills -gt 0 ] || break
			tail_kills=$((tail_kills - 1))
		fi
		proc_kill "$victim"
		killed[$victim]=$((killed[$victim] + 1))
		sleep "$down"
		fault_start "$victim" || die "round $r (seed $seed): $victim did not start again"
	done
	wait $sender
	for rc in om politie; do
		wait_until "every accepted message in $rc's inbox" accepted_missing $rc nla "$NET/sent.log" ||
			die "round $r (seed $seed): accepted messages missing at $rc"
	done
	for rc in om politie; do
		wait_until "the ledger's delivery entries for $rc" delivered_pending $rc ||
			die "round $r (seed $seed): deliveries to $rc not in the ledger"
	done
	net_stop
	[ -z "${STOP_FAILED:-}" ] || die "round $r (seed $seed): a process did not stop cleanly"
	v=$(audit_verify 2>/dev/null | head -n 1)
	f1=$(fault_check om nla "$NET/sent.log") || die "round $r (seed $seed): om"
	f2=$(fault_check politie nla "$NET/sent.log") || die "round $r (seed $seed): politie"
	last_dur=$((SECONDS - t0))
	echo "# round $r seed $seed: $N messages, kills: broker ${killed[broker]}, sender nla ${killed[nla]}, receivers om ${killed[om]} politie ${killed[politie]}; $last_dur s"
	echo "#   $f1"
	echo "#   $f2"
	echo "#   $v"
	rm -rf "$NET"
	unset killed
done
echo "# kill -9 suite: seeds $first..$seed; replay one with FAULT_SEED=<seed> FAULT_ROUNDS=1"
