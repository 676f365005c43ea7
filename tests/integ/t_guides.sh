# The guides played as written (issue [5/7], "guides that cannot go stale"):
# every block after "<!-- guide NAME -->" in docs/*.md and README.md is run,
# in document order, in a fresh directory, by tests/integ/guide_run.py,
# which compares what each command prints with what the guide shows.  As
# root the guide runs as KETEN_USER (nobody), as a person would: not root.
#   operator         docs/operator.md: a network from nothing, a message sent
#                    and read, a key rotated, an agency revoked
#   privacy-officer  docs/privacy-officer.md: a rule added, tested, previewed
#                    in shadow over the demo's ledger and activated
#   console          docs/console.md: the console on the demo's network, asked
#                    through its JSON twins
. "$(dirname "$0")/lib.sh"
net_create >/dev/null	# only for NET (a scratch directory) and cleanup
cd "$KETEN_ROOT" || die "no repository root"

# guide NAME: play it in NET/NAME; extra setup in NET/NAME comes from the caller
play() {
	name=$1
	dir="$NET/$name"
	mkdir -p "$dir"
	python3 tests/integ/guide_run.py "$name" "$NET/$name.sh" docs/*.md README.md ||
		die "guide $name could not be read"
	run=""
	if [ "$(id -u)" = 0 ]; then
		chown -R "$KETEN_USER" "$dir"
		chmod 755 "$NET"
		run="setpriv --reuid=$(id -u "$KETEN_USER") --regid=$(id -g "$KETEN_USER") --clear-groups"
	fi
	# in a session of its own, so that what it leaves running can be stopped
	# shellcheck disable=SC2086
	(cd "$dir" && exec setsid $run env -i HOME="$dir" PATH="$KETEN_BIN:/usr/bin:/bin" \
		GUIDE_OUT="$dir" timeout 240 bash "$NET/$name.sh") 2>"$NET/$name.log" &
	pid=$!
	wait $pid
	rc=$?
	kill -TERM -- "-$pid" 2>/dev/null
	sleep 0.5
	kill -KILL -- "-$pid" 2>/dev/null
	[ $rc = 0 ] || die "guide $name (exit $rc): $(tail -n 30 "$NET/$name.log")"
}

play operator
echo "# $(tail -n 1 "$NET/operator.log")"

# the privacy officer works in a checkout after `make demo`: the demo's
# network in build/demo (played here afresh), the shipped policy in policy/
po="$NET/privacy-officer"
mkdir -p "$po/build"
ln -s "$KETEN_ROOT/policy" "$po/policy"
DEMO_DIR="$po/build/demo" KETEN_BIN="$KETEN_BIN" KETEN_TESTBIN="$KETEN_TESTBIN" ./demo/demo.sh \
	>"$NET/demo.log" 2>&1 || die "the demo failed: $(tail -n 20 "$NET/demo.log")"
play privacy-officer
echo "# $(tail -n 1 "$NET/privacy-officer.log") (over the demo's ledger)"

# the console guide, on a fresh run of the demo (the privacy officer changed the last one)
co="$NET/console"
mkdir -p "$co/build"
ln -s "$KETEN_ROOT/policy" "$co/policy"
DEMO_DIR="$co/build/demo" KETEN_BIN="$KETEN_BIN" KETEN_TESTBIN="$KETEN_TESTBIN" ./demo/demo.sh \
	>"$NET/demo-console.log" 2>&1 || die "the demo failed: $(tail -n 20 "$NET/demo-console.log")"
play console
echo "# $(tail -n 1 "$NET/console.log") (the console on the demo's network)"
