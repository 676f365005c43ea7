# Frozen processes: while nla sends FAULT_FREEZE_MESSAGES (default 4,000)
# CaseSignals to politie and om, the broker, the receiving agent om and the
# sending agent nla are each stopped with SIGSTOP for longer than three
# heartbeats (heartbeat_ms 500: a peer silent for 1.5 s is dropped), then
# continued with SIGCONT, in a seeded order with seeded durations.  The same
# processes (same pids, no restart) find each other again on their own, and
# nothing is lost or duplicated (the rule of fault_check in lib.sh).
# Replay: FAULT_SEED=<seed> ONLY=freeze make faults.
. "$(dirname "$0")/lib.sh"
fault_seed
N=${FAULT_FREEZE_MESSAGES:-4000}
net_create
broker_start
agent_start nla
agent_start om
agent_start politie
seq -f "{\"reference\":\"Z$SEED-%05g\",\"exploitationForms\":[\"EXPLOITATION_FORM_LABOUR\"]}" 1 "$N" \
	>"$NET/input"
fault_sender nla politie,om CaseSignal investigation "$NET/input" "$NET/sent.log" &
sender=$!

sessions() {	# sessions the agent has begun with the broker so far
	grep -c "session with the broker" "$NET/$1.log"
}
# sessions_after AGENCY N: prints the count; succeeds once it exceeds N
sessions_after() {
	local n
	n=$(sessions "$1")
	echo "$n"
	[ "$n" -gt "$2" ]
}

# a seeded order of the three victims, and a seeded freeze for each
victims=(broker om nla)
for i in 2 1; do
	j=$((RANDOM % (i + 1)))
	t=${victims[$i]}; victims[$i]=${victims[$j]}; victims[$j]=$t
done
report=""
for v in "${victims[@]}"; do
	rand_s pause 300 1500
	rand_s frozen 2000 5000
	sleep "$pause"
	pid=$(cat "$NET/$v.pid")
	if [ "$v" = broker ]; then watch="nla om politie"; else watch=$v; fi
	declare -A before=()
	for a in $watch; do before[$a]=$(sessions "$a"); done
	kill -STOP "$pid"
	sleep "$frozen"
	kill -CONT "$pid"
	for a in $watch; do
		wait_until "$a to begin a new session after $v was frozen" sessions_after "$a" "${before[$a]}" ||
			die "$a did not find the broker again after $v was frozen for $frozen s"
	done
	kill -0 "$pid" 2>/dev/null || die "$v died after SIGCONT"
	report="$report $v ${frozen}s"
	unset before
done
wait $sender
for rc in om politie; do
	wait_until "every accepted message in $rc's inbox" accepted_missing $rc nla "$NET/sent.log" ||
		die "accepted messages missing at $rc"
done
for rc in om politie; do
	wait_until "the ledger's delivery entries for $rc" delivered_pending $rc ||
		die "deliveries to $rc not in the ledger"
done
# nothing was restarted: one start in each log, every process still there
[ "$(grep -c 'broker: listening on' "$NET/broker.log")" -eq 1 ] || die "the broker was restarted"
for p in broker nla om politie; do
	kill -0 "$(cat "$NET/$p.pid")" 2>/dev/null || die "$p is gone"
	[ $p = broker ] || [ "$(grep -c 'started; broker' "$NET/$p.log")" -eq 1 ] || die "$p was restarted"
done
net_stop
[ -z "${STOP_FAILED:-}" ] || die "a process did not stop cleanly"
v=$(audit_verify 2>/dev/null | head -n 1)
f1=$(fault_check om nla "$NET/sent.log") || die "om"
f2=$(fault_check politie nla "$NET/sent.log") || die "politie"
filtered=$(sed -n 's/.*agent om: stopping.*duplicates=\([0-9]*\).*/\1/p' "$NET/om.log")
bdups=$(sed -n 's/.*broker: stopping.*submits=[0-9]* duplicates=\([0-9]*\).*/\1/p' "$NET/broker.log")
echo "# seed $SEED: $N messages; frozen (SIGSTOP, heartbeat 500 ms):$report; every process reconnected on its own"
echo "#   $f1"
echo "#   $f2"
echo "#   sessions begun: nla $(sessions nla), om $(sessions om), politie $(sessions politie); resent submissions filtered by the broker: ${bdups:-0}, redeliveries filtered by om: ${filtered:-0}"
echo "#   $v"
