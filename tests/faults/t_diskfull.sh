# Disk full, beyond tests/integ/t_mapfull.sh (which fills a 2 MB map from one
# sender with the recipient online, and grows it): here two senders fill the
# broker's map while the recipient om is offline, so the map fills with
# queued copies.  Then, with the map still small: submissions are refused with
# the reason (both senders hear it), audit reads (stats, query, verify) go on,
# the broker is killed (-9) and restarted with the same map and still refuses
# with the reason, om comes back and receives every copy the broker had
# accepted (deliveries go on from a full map), and finally the map is grown:
# everything each sender accepted arrives exactly once, in order per sender
# (the rule of fault_check in lib.sh), and the ledger verifies.
# No random choices: the seed is printed only for the record.
. "$(dirname "$0")/lib.sh"
fault_seed
net_create
echo "map_size_mb: 2" >>"$NET/broker.yaml"
broker_start
agent_start politie
agent_start nla
N=${FAULT_DISKFULL_MESSAGES:-900}
M=$((N * 2 / 3))
pad=$(head -c 900 /dev/zero | tr '\0' 'x')
awk -v p="$pad" -v n="$N" -v s="$SEED" 'BEGIN { for (i = 1; i <= n; i++)
	printf "{\"reference\":\"DP%s-%04d\",\"summary\":\"%s\"}\n", s, i, p }' >"$NET/politie.input"
awk -v p="$pad" -v n="$M" -v s="$SEED" 'BEGIN { for (i = 1; i <= n; i++)
	printf "{\"reference\":\"DN%s-%04d\",\"exploitationForms\":[\"EXPLOITATION_FORM_LABOUR\"],\"observation\":\"%s\"}\n", s, i, p }' \
	>"$NET/nla.input"
fault_sender politie om CaseReferral prosecution "$NET/politie.input" "$NET/politie.sent" &
s1=$!
fault_sender nla om CaseSignal investigation "$NET/nla.input" "$NET/nla.sent" &
s2=$!
wait $s1
wait $s2
accepted=$(cat "$NET/politie.sent" "$NET/nla.sent" | grep -c '^A')
[ "$accepted" -eq $((N + M)) ] || die "the agents accepted $accepted of $((N + M))"	# their outboxes are not full

refusing() {	# prints the broker's refusals logged so far; succeeds once there are more than $1
	local n
	n=$(grep -c "storage: .* refusing new submissions (deliveries and audits go on)" "$NET/broker.log")
	echo "$n"
	[ "$n" -gt "$1" ]
}
heard() {	# both senders logged the broker's reason more than $1 times
	local a b
	a=$(grep -c "broker error 6: broker storage nearly full" "$NET/politie.log")
	b=$(grep -c "broker error 6: broker storage nearly full" "$NET/nla.log")
	echo "$a/$b"
	[ "$a" -gt "$1" ] && [ "$b" -gt "$1" ]
}
wait_until "the broker to reach its high-water mark" refusing 0 || die "the map never filled"
wait_until "both senders to hear the reason" heard 0 || die "a sender did not hear why"
acc_om() {
	"$KETEN" audit query --json --data "$NET/broker-data" --kind ACCEPTED --recipient om 2>/dev/null |
		grep -c KIND_ACCEPTED
}
full_at=$(acc_om)
[ "$full_at" -lt "$accepted" ] || die "the broker took all $accepted: the map did not fill"

# audit reads go on while the map is full (each is itself logged first)
"$KETEN" audit stats --data "$NET/broker-data" >"$NET/stats" 2>&1 || die "audit stats failed: $(cat "$NET/stats")"
grep -q "politie -> om" "$NET/stats" || die "audit stats: $(cat "$NET/stats")"
audit_verify >/dev/null 2>&1 || die "audit verify failed on a full map"

# kill -9 on a full map, restart with the same map: still refusing, with the reason
proc_kill broker
broker_start
wait_until "the restarted broker to refuse again" refusing 1 || die "the restarted broker did not refuse"
n_refused=$(grep -c "broker error 6: broker storage nearly full" "$NET/politie.log" "$NET/nla.log" |
	awk -F: '{ s += $2 } END { print s }')

# the recipient comes back: it receives every copy the broker had accepted
agent_start om
now_acc=$(acc_om)
got_all() {
	local n
	n=$(fault_inbox om "$NET/om.inbox") || { echo "?"; return 1; }
	echo "$n"
	[ "$n" -ge "$now_acc" ]
}
wait_until "om to receive what the broker accepted ($now_acc)" got_all || die "deliveries stopped on a full map"
while_full=$(fault_inbox om "$NET/om.inbox")
grep -q "storage: the map is nearly full" "$NET/broker.log" || die "no warning in the broker's log"
echo "# seed $SEED: map 2 MB full after $full_at of $accepted copies for om (om offline); senders told \"broker storage nearly full\" $n_refused times; audit stats and verify ran on the full map"
echo "# kill -9 and restart on the full map: refused again; om back: the broker had accepted $now_acc, om received $while_full before the map was grown"

# grow the map: everything continues, nothing lost
proc_stop broker
sed -i "s/^map_size_mb: 2$/map_size_mb: 64/" "$NET/broker.yaml"
broker_start
wait_until "politie's messages at om" accepted_missing om politie "$NET/politie.sent" ||
	die "politie's messages missing at om after the map was grown"
wait_until "nla's messages at om" accepted_missing om nla "$NET/nla.sent" ||
	die "nla's messages missing at om after the map was grown"
wait_until "the ledger's delivery entries for om" delivered_pending om || die "deliveries not in the ledger"
net_stop
[ -z "${STOP_FAILED:-}" ] || die "a process did not stop cleanly"
v=$(audit_verify 2>/dev/null | head -n 1)
f1=$(fault_check om politie "$NET/politie.sent") || die "politie -> om"
f2=$(fault_check om nla "$NET/nla.sent") || die "nla -> om"
echo "# after growing the map to 64 MB:"
echo "#   from politie: $f1"
echo "#   from nla: $f2"
echo "#   $v"
