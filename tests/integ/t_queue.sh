# keten queue (issue [5/7]): what waits in the broker's queue, for whom, since
# when and why, read from the broker's data directory while it runs: copies
# for an agency whose agent is offline, then for one revoked; none once taken.
. "$(dirname "$0")/lib.sh"
net_create
broker_start
agent_start politie
agent_start om
proc_stop om
for n in 1 2; do
	"$KETEN" send --config "$NET/politie.yaml" --to om --type CaseReferral --purpose prosecution \
		--body "{\"reference\":\"PL-Q-$n\"}" >>"$NET/ids" || die "send $n failed"
done
for id in $(cat "$NET/ids"); do
	"$KETEN" status --config "$NET/politie.yaml" --wait 10 "$id" | head -n 1 | grep -q accepted ||
		die "$id not accepted"
done
q() { "$KETEN" queue --data "$NET/broker-data" "$@"; }
q >"$NET/q.out" || die "keten queue failed"
grep -Eq "^om +2  20[0-9-]+T[0-9:.]+Z +[0-9]+ s +om's agent has not taken them yet: offline, or not acknowledged" \
	"$NET/q.out" || die "keten queue: $(cat "$NET/q.out")"
q --all >"$NET/qall.out" || die "keten queue --all failed"
for id in $(cat "$NET/ids"); do
	grep -q "^  om .* $id  from politie  CaseReferral  purpose prosecution  accepted " "$NET/qall.out" ||
		die "copy $id not listed: $(cat "$NET/qall.out")"
done
q --json --recipient om | python3 -c '
import json, sys
d = json.load(sys.stdin)
r = d["recipients"]
assert len(r) == 1 and r[0]["recipient"] == "om" and r[0]["waiting"] == 2, d
assert r[0]["oldestMs"] > 0 and "offline" in r[0]["why"], d' || die "keten queue --json: $(q --json)"
[ "$(q --recipient politie)" = "nothing waits for politie in the broker's queue" ] ||
	die "politie: $(q --recipient politie)"
# revoked: held until retention ends, and the queue says so
"$KETEN" directory revoke --file "$NET/directory.yaml" om >/dev/null || die "revoke failed"
approve_directory "$NET/directory.yaml" || die "approving the revocation failed"
kill -HUP "$(cat "$NET/broker.pid")"
for i in $(seq 50); do q | grep -q "revoked" && break; sleep 0.1; done
q | grep -q "^om .*om is revoked in the directory (version 2): held until their retention ends" ||
	die "revoked: $(q)"
echo "# keten queue: 2 copies waiting for om (offline), listed with --all and --json; then held for om revoked"
