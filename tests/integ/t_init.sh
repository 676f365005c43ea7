# keten init (issue [5/7]): a network from nothing, in a fresh directory, run
# as the command prints it: keys in 0700 directories, the directory, the root
# and its approvals, configurations the daemons accept (as root: with the
# account they become); a message sent and received; the ledger verifies.
. "$(dirname "$0")/lib.sh"
net_create >/dev/null	# only for NET (a scratch directory) and cleanup
port=$(free_port)
d="$NET/trial"
as_user=""
[ "$(id -u)" = 0 ] && as_user="--user nobody" && chmod 755 "$NET"
# shellcheck disable=SC2086
"$KETEN" init --agencies politie,om --listen "tcp://127.0.0.1:$port" $as_user \
	--policy "$KETEN_ROOT/policy/stm.yaml" "$d" >"$NET/init.out" || die "keten init failed"
grep -q "^keten-broker --config broker.yaml &$" "$NET/init.out" || die "init prints no start: $(cat "$NET/init.out")"
[ "$(stat -c %a "$d/keys")" = 700 ] && [ "$(stat -c %a "$d/keys/politie.secret")" = 600 ] &&
	[ "$(stat -c %a "$d/officers")" = 700 ] || die "key modes wrong"
"$KETEN" init --agencies politie,om "$d" 2>"$NET/again.err" && die "init over an existing directory"
grep -q "init makes a new directory" "$NET/again.err" || die "init again: $(cat "$NET/again.err")"
# what init prints, run as printed (with this build's binaries)
(cd "$d" && exec "$KETEN_BIN/keten-broker" --config broker.yaml >>broker.log 2>&1) &
echo $! >"$NET/broker.pid"
for a in politie om; do
	(cd "$d" && exec "$KETEN_BIN/keten-agent" --config "$a.yaml" >>"$a.log" 2>&1) &
	echo $! >"$NET/$a.pid"
done
for a in politie om; do wait_for_file "$d/$a-data/api.sock" || die "$a did not start: $(cat "$d/$a.log")"; done
(cd "$d" && "$KETEN" send --config politie.yaml --to om --type CaseReferral --purpose prosecution \
	--body '{"reference":"TRIAL-1"}') >"$NET/id" || die "send failed: $(cat "$d/politie.log")"
for i in $(seq 100); do
	[ "$(cd "$d" && "$KETEN" inbox --config om.yaml | wc -l)" -ge 1 ] && break
	sleep 0.1
done
(cd "$d" && "$KETEN" inbox --config om.yaml) | grep -q "$(cat "$NET/id").*politie.*TRIAL-1" ||
	die "om did not receive the trial message"
"$KETEN" audit verify --data "$d/broker-data" --key "$d/keys/broker.public.yaml" --origin keten.local/ledger |
	grep -q "^ledger OK" || die "the trial ledger does not verify"
echo "# keten init: 2 agencies, root and approvals; started as printed${as_user:+ (as root, daemons as nobody)}; a message delivered; the ledger verifies"
