# A machine crash under the broker: every write not yet synced is lost.
#
# The broker runs under tests/crash/syncshim.c, which keeps beside its data
# directory a copy holding only what fsync/fdatasync (or an O_DSYNC write)
# made durable.  After a random number of syncs the shim's disk dies: the
# next sync never returns and the copy changes no more.  Acknowledgements
# already sent go on to the agents for a moment; then the broker is killed
# and started again on the copy, as a machine restarts on what its disk
# holds.  Then: every message politie's agent accepted arrives in om's
# inbox exactly once, the ledger holds each acceptance and delivery once and
# verifies, the receipts the broker had given for the last of them before
# the crash (its acknowledgements) are under checkpoints the recovered
# ledger still holds (same size, same root), and no agent saw the ledger
# roll back.
#
# The control: keten-broker-nosync is the broker with its second sync
# (broker/syncer.h) made a no-op, so it acknowledges batches whose meta page
# is not on disk.  The same crash must catch it losing acknowledged messages
# in one of a few rounds; if it did not, this test could not fail.
. "$(dirname "$0")/lib.sh"

SHIM=$(cd "$KETEN_TESTBIN" && pwd)/syncshim.so
NOSYNC=$(cd "$KETEN_TESTBIN" && pwd)/keten-broker-nosync
[ -f "$SHIM" ] && [ -x "$NOSYNC" ] || die "needs $SHIM and $NOSYNC (make $KETEN_TESTBIN/syncshim.so $KETEN_TESTBIN/keten-broker-nosync)"
if ldd "$KETEN_BIN/keten-broker" | grep -q libasan; then
	# an LD_PRELOAD shim ahead of the ASan runtime is refused by it; the
	# plain build runs this test (make test), the sanitizers run the rest
	echo "# skipped under AddressSanitizer: the shim must be preloaded ahead of its runtime"
	exit 0
fi

N=600
ROUNDS=${POWERLOSS_ROUNDS:-3}
CONTROL_ROUNDS=5

# start_shimmed BROKER [VAR=VALUE...]: the broker on NET/broker-data under the
# shim (the variables set it), its durable copy in NET/broker-shadow (made
# from the data now)
start_shimmed() {
	local broker=$1
	shift
	rm -rf "$NET/broker-shadow"
	cp -a "$NET/broker-data" "$NET/broker-shadow"
	rm -f "$NET/broker.sock"
	env LD_PRELOAD="$SHIM" KETEN_SYNCSHIM_DIR="$NET/broker-data" \
		KETEN_SYNCSHIM_OUT="$NET/broker-shadow" "$@" \
		"$broker" --config "$NET/broker.yaml" >>"$NET/broker.log" 2>&1 &
	echo $! >"$NET/broker.pid"
	wait_for_file "$NET/broker.sock" || die "the shimmed broker did not start"
}

# send_stream: politie sends N messages to om in chunks of 100, in the
# background ($!), the ids it had acknowledged in NET/sent.ids
send_stream() {
	(
		for b in $(seq 1 $((N / 100))); do
			seq -f "{\"reference\":\"power-$b-%03g\"}" 1 100 |
				"$KETEN" send --config "$NET/politie.yaml" --to om --type CaseReferral \
					--purpose prosecution --lines || exit 1
			sleep 0.2
		done
	) >"$NET/sent.ids" 2>"$NET/send.err" &
}

# crash_round BROKER FREEZE_AFTER: one network, one crash; sets problems to
# what was lost or wrong (empty when all holds).  Leaves NET for the caller.
crash_round() {
	local broker=$1 freeze=$2 acked
	problems=""
	# small batches: the stream keeps frames waiting at every commit, so the
	# second sync overlaps the next batch (the path under test) all along
	KETEN_BROKER_CONF="batch_max: 8" net_create politie om
	broker_start
	agent_start politie
	agent_start om
	proc_stop broker
	start_shimmed "$broker" KETEN_SYNCSHIM_FREEZE_AFTER="$freeze"
	send_stream
	local sender=$!
	local i
	for i in $(seq 1 600); do
		grep -q 'syncshim: the disk died' "$NET/broker.log" && break
		sleep 0.05
	done
	grep -q 'syncshim: the disk died' "$NET/broker.log" ||
		die "the shim's disk never died (freeze after $freeze syncs): $(grep -c . "$NET/sent.ids") acknowledged"
	sleep 0.5	# what was sent before the crash reaches the agents
	acked=$(grep -c . "$NET/sent.ids" || true)
	# the broker's acknowledgements so far: they come in the order politie
	# sent, so they are a prefix of what its agent accepted; find its end (the
	# first message without a receipt) and keep the last 5 receipts before it
	mkdir -p "$NET/receipts"
	local lo=0 hi=$acked mid	# receipts for lines 1..lo; none from hi+1 on
	has_receipt() {
		"$KETEN" receipt export --config "$NET/politie.yaml" --dir "$NET/scratch" \
			"$(sed -n "${1}p" "$NET/sent.ids")" >/dev/null 2>&1
	}
	mkdir -p "$NET/scratch"
	while [ $lo -lt $hi ]; do
		mid=$(((lo + hi + 1) / 2))
		if has_receipt $mid; then lo=$mid; else hi=$((mid - 1)); fi
	done
	for i in $(seq $((lo > 5 ? lo - 4 : 1)) $lo); do
		"$KETEN" receipt export --config "$NET/politie.yaml" --dir "$NET/receipts" \
			"$(sed -n "${i}p" "$NET/sent.ids")" >/dev/null ||
			problems="$problems; no receipt for the acknowledged message on line $i"
	done
	proc_kill broker
	echo "# $(basename "$broker"): the disk died at sync $((freeze + 1)): $acked of $N accepted by politie's agent, $lo acknowledged by the broker; restarted on what was synced" >&2
	mv "$NET/broker-data" "$NET/broker-data.crashed"
	mv "$NET/broker-shadow" "$NET/broker-data"
	broker_start
	wait $sender || problems="$problems; keten send failed: $(tail -n 2 "$NET/send.err")"
	[ "$(grep -c . "$NET/sent.ids")" -eq $N ] ||
		problems="$problems; politie had $(grep -c . "$NET/sent.ids") of $N acknowledged"
	if ! wait_inbox om $N 20 2>/dev/null; then
		problems="$problems; om's inbox holds $(inbox_count om) of $N"
	fi
	local acc del inbox
	inbox=$(inbox_count om)
	for i in $(seq 50); do [ "$(ledger_count DELIVERED)" -ge "$inbox" ] && break; sleep 0.2; done
	net_stop
	acc=$(ledger_count ACCEPTED)
	del=$(ledger_count DELIVERED)
	[ "$acc" -eq $N ] || problems="$problems; the ledger holds $acc acceptances, not $N"
	[ "$del" -eq "$inbox" ] || problems="$problems; the ledger holds $del deliveries, om's inbox $inbox"
	"$KETEN" audit verify --data "$NET/broker-data" --key "$NET/keys/broker.public.yaml" >"$NET/verify.out" 2>&1 ||
		problems="$problems; audit verify: $(tail -n 1 "$NET/verify.out")"
	local f n=0 size root
	for f in "$NET"/receipts/*.proof; do
		[ -e "$f" ] || continue
		n=$((n + 1))
		"$KETEN" audit check-proof --key "$NET/keys/broker.public.yaml" "$f" >/dev/null 2>&1 ||
			problems="$problems; $(basename "$f") does not verify"
		# the checkpoint the receipt is under: its size and root in the recovered ledger
		size=$(grep -A2 '^keten.local/ledger$' "$f" | sed -n 2p)
		root=$(grep -A2 '^keten.local/ledger$' "$f" | sed -n 3p)
		"$KETEN" audit checkpoint --data "$NET/broker-data" --size "$size" 2>/dev/null |
			grep -qxF "$root" ||
			problems="$problems; receipt $(basename "$f"): checkpoint $size is not in the recovered ledger"
	done
	RECEIPTS_CHECKED=$((RECEIPTS_CHECKED + n))
	if grep -h 'LEDGER \|ALARM\|DOES NOT VERIFY' "$NET"/politie.log "$NET"/om.log >"$NET/alarms" 2>/dev/null; then
		problems="$problems; agents: $(head -n 1 "$NET/alarms")"
	fi
	echo "# $acc acceptances, $del deliveries; $n receipts from before the crash checked" >&2
	problems=${problems#; }
}

RECEIPTS_CHECKED=0
for r in $(seq 1 "$ROUNDS"); do
	freeze=$((20 + RANDOM % 130))
	crash_round "$KETEN_BIN/keten-broker" "$freeze"
	[ -z "$problems" ] || die "round $r (freeze after $freeze syncs): $problems"
	rm -rf "$NET"
	NET=""
done
[ $RECEIPTS_CHECKED -gt 0 ] || die "no round had a receipt from before its crash to check"
echo "# keten-broker: $ROUNDS machine crashes at random syncs, nothing acknowledged was lost ($RECEIPTS_CHECKED receipts from before the crashes checked)"

caught=""
for r in $(seq 1 $CONTROL_ROUNDS); do
	freeze=$((15 + RANDOM % 75))	# it syncs once per commit, not twice
	crash_round "$NOSYNC" "$freeze"
	rm -rf "$NET"
	NET=""
	if [ -n "$problems" ]; then
		caught="round $r: $problems"
		break
	fi
done
[ -n "$caught" ] || die "the control broker (second sync removed) lost nothing in $CONTROL_ROUNDS crashes: this test cannot tell"
echo "# control, keten-broker-nosync: caught in $caught"

# A disk that fails the second sync (EIO to the syncer's thread): nothing of
# that batch is acknowledged, nothing more is committed, the broker says why
# and stops with status 1;
# started again on the same disk (well now), every message arrives once.
KETEN_BROKER_CONF="batch_max: 8" net_create politie om
broker_start
agent_start politie
agent_start om
proc_stop broker
fail_after=$((5 + RANDOM % 20))
start_shimmed "$KETEN_BIN/keten-broker" KETEN_SYNCSHIM_FAIL_THREAD=keten-sync \
	KETEN_SYNCSHIM_FAIL_AFTER=$fail_after
bpid=$(cat "$NET/broker.pid")
send_stream
sender=$!
for i in $(seq 1 300); do kill -0 "$bpid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$bpid" 2>/dev/null && die "the broker went on after its sync failed (after $fail_after syncs)"
rc=0
wait "$bpid" || rc=$?
rm -f "$NET/broker.pid"
[ $rc -eq 1 ] || die "the broker exited with status $rc after its sync failed, not 1"
grep -q 'cannot sync the ledger after a commit: Input/output error; acknowledging nothing of it' \
	"$NET/broker.log" || die "the broker did not say its sync failed: $(tail -n 3 "$NET/broker.log")"
grep -q 'syncshim: a sync after the failed one' "$NET/broker.log" &&
	die "the broker committed again after its sync failed"
acked=$(grep -c . "$NET/sent.ids" || true)
broker_start
wait $sender || die "keten send failed: $(tail -n 2 "$NET/send.err")"
wait_inbox om $N 60 || die "messages lost after the failed sync"
check_inbox om politie "$NET/sent.ids"
for i in $(seq 100); do [ "$(ledger_count DELIVERED 2>/dev/null)" -ge $N ] && break; sleep 0.2; done
net_stop
[ "$(ledger_count ACCEPTED 2>/dev/null)" -eq $N ] || die "the ledger holds $(ledger_count ACCEPTED 2>/dev/null) acceptances after the failed sync, not $N"
audit_verify >/dev/null
echo "# a failing second sync (from sync $((fail_after + 1)) of its thread, $acked of $N accepted by politie's agent): the broker stopped with status 1 and said why; restarted, all $N arrived once"
