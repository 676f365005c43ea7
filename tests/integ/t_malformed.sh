# Malformed frames from an authenticated peer get an error reply, and the
# broker keeps serving the other agents meanwhile.
. "$(dirname "$0")/lib.sh"
net_create politie om nla
broker_start
agent_start politie
agent_start om

seq -f '{"reference":"before-%g"}' 1 100 | "$KETEN" send --config "$NET/politie.yaml" --to om \
	--type CaseReferral --purpose prosecution --lines \
	>"$NET/sent.ids" || die "send failed"
# nla's keys, used by a misbehaving raw client
"$KETEN_TESTBIN/rawpeer" --endpoint "ipc://$NET/broker.sock" --server-key "$BROKER_KEY" \
	--keys "$NET/keys/nla.secret" --max-bytes 1048576 --invalid-to om \
	--forge-to gemeente-amsterdam --directory "$NET/directory.yaml" >"$NET/rawpeer.out" ||
	die "malformed-frame checks failed: $(cat "$NET/rawpeer.out")"
cat "$NET/rawpeer.out"
seq -f '{"reference":"after-%g"}' 1 100 | "$KETEN" send --config "$NET/politie.yaml" --to om \
	--type CaseReferral --purpose prosecution --lines \
	>>"$NET/sent.ids" || die "send failed"
wait_inbox om 200 60 || die "messages lost around the bad frames"
check_inbox om politie "$NET/sent.ids"
kill -0 "$(cat "$NET/broker.pid")" || die "broker died"
# a peer's words cannot write a line of their own into the broker's log
grep -q '^2026-12-04T00:00:00.000Z INFO broker: checkpoint 999' "$NET/broker.log" &&
	die "a forged line reached the broker's log"
grep -q 'agency nla reports error 1: x\\x0a2026-12-04T00:00:00.000Z INFO broker: checkpoint 999 cosigned by om' \
	"$NET/broker.log" || die "the forged reason was not logged escaped: $(grep 'reports error 1: x' "$NET/broker.log")"
echo "# a reason with a newline and a fake log line was logged on one line, escaped"
# a refusal at the source sent twice is in the ledger once
rid=$(sed -n 's/^ *source refusal id \([0-9a-f-]*\)$/\1/p' "$NET/rawpeer.out" 2>/dev/null)
[ -n "$rid" ] || die "rawpeer did not send a source refusal"
n=$("$KETEN" audit query --json --ledger "$NET/broker-data" --kind WITHHELD --message "$rid" 2>/dev/null | wc -l)
[ "$n" -eq 1 ] || die "the source refusal sent twice is in the ledger $n times"
# what the ledger keeps of refused headers is bounded (a 300 KB purpose, a 100 KB pseudonym)
longest=$("$KETEN" audit log --json --ledger "$NET/broker-data" 2>/dev/null | awk '{ if (length($0) > m) m = length($0) } END { print m }')
[ "$longest" -le 4096 ] || die "a ledger entry of $longest bytes after the oversized headers"
# the replayed submission is in the ledger once
n=$("$KETEN" audit query --json --ledger "$NET/broker-data" --kind ACCEPTED --sender nla 2>/dev/null | wc -l)
[ "$n" -eq 1 ] || die "nla's one accepted submission is in the ledger $n times"
[ "$(inbox_count om)" -eq 200 ] || die "om stored something besides the 200 valid messages"
# the recipient refused the content the broker could not judge, and said so
grep -q 'agent om: delivery .* from nla refused: payload is not a valid protobuf keten.case.v1.CaseSignal' \
	"$NET/om.log" || die "om did not refuse the invalid delivery"
grep -q 'broker: agency om reports error 1: delivery .* refused by the recipient' "$NET/broker.log" ||
	die "the refusal did not reach the broker"
echo "# every malformed-input check (extreme times and ids, a 20,000-path manifest, each broker-only command, a broken signature, a forged manifest) answered with its error; 200 messages delivered around them"
