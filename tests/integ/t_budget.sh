# Peers cannot grow the ledger at will (issue [3/7], docs/security.md "Bounds"):
# 200 connections with fresh keys (keys cost nothing) and an agency's 30 error
# reports of 400 KB each leave a budget's worth of entries, the rest counted in
# one "over-budget" entry a period; each kept reason is cut to 1 KB.
. "$(dirname "$0")/lib.sh"
net_create politie om nla
cat >>"$NET/broker.yaml" <<EOC
budget_period_s: 2
budget_refusals: 5
budget_reports: 5
EOC
broker_start
agent_start politie
agent_start om
peer() {
	"$KETEN_TESTBIN/rawpeer" --endpoint "ipc://$NET/broker.sock" --server-key "$BROKER_KEY" \
		--keys "$NET/keys/nla.secret" "$@"
}
peer --fresh-keys 200 || die "fresh-key connections failed"
peer --flood-reports 30 || die "report flood failed"
sleep 3	# a period passes: the counts go into the ledger
seq -f '{"reference":"after-%g"}' 1 10 | "$KETEN" send --config "$NET/politie.yaml" --to om \
	--type CaseReferral --purpose prosecution --lines >"$NET/sent.ids" || die "send failed"
wait_inbox om 10 30 || die "not delivered after the floods"
kill -0 "$(cat "$NET/broker.pid")" || die "broker died"

q() { "$KETEN" audit query --json --ledger "$NET/broker-data" "$@" 2>/dev/null; }
refusals=$(q --kind KEY_REFUSED | wc -l)
over=$(q --kind KEY_REFUSED | grep -c '"over-budget"')
# at most 5 a period, one over-budget entry a period; the floods lasted < 3 periods
[ "$refusals" -ge 3 ] && [ "$refusals" -le 18 ] || die "$refusals KEY_REFUSED entries for 200 fresh keys"
[ "$over" -ge 1 ] || die "the refusals over the budget were not counted in the ledger"
counted=$(q --kind KEY_REFUSED | grep -o '"reason":"[0-9]* more connections refused' | grep -o '[0-9]*' |
	awk '{s += $1} END {print s + 0}')
[ "$counted" -ge 100 ] || die "only $counted refusals counted over the budget"
reports=$(q --kind VIOLATION_REPORTED | wc -l)
[ "$reports" -ge 2 ] && [ "$reports" -le 12 ] || die "$reports VIOLATION_REPORTED entries for 30 reports"
q --kind VIOLATION_REPORTED | grep -q '"reason":"[0-9]* more reports from agency nla not recorded one by one' ||
	die "the reports over the budget were not counted"
longest=$(q --kind VIOLATION_REPORTED | awk '{ if (length($0) > m) m = length($0) } END { print m }')
[ "$longest" -le 2048 ] || die "a report entry of $longest bytes: the reason was not cut"
audit_verify
echo "# 200 fresh keys -> $refusals KEY_REFUSED entries ($counted counted over budget); 30 reports of 400 KB -> $reports entries of at most $longest bytes; delivery unharmed"
