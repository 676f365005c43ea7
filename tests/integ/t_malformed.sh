# Malformed frames from an authenticated peer get an error reply, and the
# broker keeps serving the other agents meanwhile.
. "$(dirname "$0")/lib.sh"
net_create politie om nla
broker_start
agent_start politie
agent_start om

seq -f 'before-%g' 1 100 | "$KETEN" send --config "$NET/politie.yaml" --to om --type test --lines \
	>"$NET/sent.ids" || die "send failed"
# nla's keys, used by a misbehaving raw client
"$KETEN_TESTBIN/rawpeer" --endpoint "ipc://$NET/broker.sock" --server-key "$BROKER_KEY" \
	--keys "$NET/keys/nla.secret" --max-bytes 1048576 || die "malformed-frame checks failed"
seq -f 'after-%g' 1 100 | "$KETEN" send --config "$NET/politie.yaml" --to om --type test --lines \
	>>"$NET/sent.ids" || die "send failed"
wait_inbox om 200 60 || die "messages lost around the bad frames"
check_inbox om politie "$NET/sent.ids"
kill -0 "$(cat "$NET/broker.pid")" || die "broker died"
echo "# 9 malformed-input checks answered with errors; 200 messages delivered around them"
