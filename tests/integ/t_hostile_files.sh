# Hostile files where the broker reads its policy, directory and root at
# SIGHUP (issue [3/7] item 7): a FIFO (it hung the broker), a device, a
# symbolic link loop, a binary file, a file over the 4 MiB limit.  Each reload
# is refused with the file named, the broker keeps its active version and
# serves on, and `keten policy lint` answers at once as well.
. "$(dirname "$0")/lib.sh"
net_create politie om
broker_start
agent_start politie
agent_start om
cp "$NET/policy.yaml" "$NET/policy.good"
send_one() {
	"$KETEN" send --config "$NET/politie.yaml" --to om --type CaseReferral --purpose prosecution \
		--body "{\"reference\":\"HF-$1\"}" >/dev/null || die "send $1 failed"
}
n=0
for kind in fifo device loop binary huge; do
	rm -f "$NET/policy.yaml"
	case $kind in
	fifo) mkfifo "$NET/policy.yaml" ;;
	device) ln -s /dev/zero "$NET/policy.yaml" ;;
	loop) ln -s "$NET/policy.yaml" "$NET/policy.yaml" ;;
	binary) head -c 4096 /dev/urandom >"$NET/policy.yaml" ;;
	huge) head -c $((5 << 20)) /dev/zero | tr '\0' 'a' >"$NET/policy.yaml" ;;
	esac
	before=$(grep -c "policy reload refused" "$NET/broker.log")
	kill -HUP "$(cat "$NET/broker.pid")"
	for i in $(seq 50); do
		[ "$(grep -c "policy reload refused" "$NET/broker.log")" -gt "$before" ] && break
		sleep 0.1
	done
	[ "$(grep -c "policy reload refused" "$NET/broker.log")" -gt "$before" ] ||
		die "$kind: the reload was not refused (or the broker hangs)"
	grep "policy reload refused" "$NET/broker.log" | tail -1 | grep -q "policy.yaml" ||
		die "$kind: the refusal does not name the file"
	out=$(timeout 10 "$KETEN" policy lint --directory "$NET/directory.yaml" "$NET/policy.yaml" 2>&1)
	rc=$?
	[ $rc -eq 1 ] || [ $rc -eq 2 ] || die "$kind: lint exited $rc (124: it hung): $out"
	n=$((n + 1))
	send_one "$n"
	echo "# $kind: $(grep "policy reload refused" "$NET/broker.log" | tail -1 | sed 's/.*policy reload refused/reload refused/' | cut -c1-150)"
done
wait_inbox om $n 30 || die "not delivered around the refused reloads"
kill -0 "$(cat "$NET/broker.pid")" || die "the broker died"
rm -f "$NET/policy.yaml"
cp "$NET/policy.good" "$NET/policy.yaml"
echo "# 5 hostile policy files refused at SIGHUP and by lint; $n messages delivered meanwhile"
