# examples/python against real processes: the police system's sender submits
# a signal and prints what the policy withheld; the municipality's case
# system long-polls its inbox, stores, prints and acknowledges what arrives.
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || die "python3 is needed"
net_create
api_ports 2 || die "no free ports"
printf 'network_key: "%s"\n' "$(head -c 32 /dev/urandom | base64)" >"$NET/keys/network.key"
chmod 600 "$NET/keys/network.key"
echo "network_key: keys/network.key" >>"$NET/politie.yaml"
api_enable politie "$API_PORT"
api_enable gemeente-amsterdam $((API_PORT + 1))
broker_start
agent_start politie
agent_start gemeente-amsterdam
ex=$KETEN_ROOT/examples/python
P=http://127.0.0.1:$API_PORT
G=http://127.0.0.1:$((API_PORT + 1))
for url in $P $G; do
	for _ in $(seq 50); do curl -fs "$url/healthz" | grep -q connected && break; sleep 0.1; done
done

# the case system waits for two messages (long poll), in the background
python3 "$ex/case_system.py" --url "$G" --token-file "$NET/api.token" --store "$NET/cases.jsonl" \
	--max 2 --idle 30 >"$NET/case_system.out" 2>&1 &
cs=$!

python3 "$ex/send_signal.py" --url "$P" --token-file "$NET/api.token" --case PL-2026-0042 --wait \
	>"$NET/send1.out" 2>&1 || die "send_signal failed: $(cat "$NET/send1.out")"
grep -q "^sent [0-9a-f-]\{36\} to gemeente-amsterdam$" "$NET/send1.out" || die "no id: $(cat "$NET/send1.out")"
grep -qF "withheld from gemeente-amsterdam: persons[suspect].given_name (forbidden, rule no-suspects-to-care)" \
	"$NET/send1.out" || die "suspect not reported withheld: $(cat "$NET/send1.out")"
grep -qF "withheld from gemeente-amsterdam: persons[possible_victim].birth_date (condition-false, rule signal-police-to-municipality-care-minor)" \
	"$NET/send1.out" || die "birth date not reported withheld"
grep -q "^state: accepted$" "$NET/send1.out" || die "not accepted: $(cat "$NET/send1.out")"
id1=$(sed -n 's/^sent \([0-9a-f-]*\) .*/\1/p' "$NET/send1.out")
id2=$(python3 "$ex/send_signal.py" --url "$P" --token-file "$NET/api.token" | sed -n 's/^sent \([0-9a-f-]*\) .*/\1/p')
[ -n "$id2" ] || die "second signal not sent"
# refused by policy: the client raises KetenError with status and code
python3 "$ex/send_signal.py" --url "$P" --token-file "$NET/api.token" --to om >"$NET/send3.out" 2>&1 &&
	die "a signal for victim care to the prosecutor was sent"
grep -q "^not sent: policy (HTTP 403): not sent: policy 2026.11.1 lets no recipient" "$NET/send3.out" ||
	die "refusal not reported: $(cat "$NET/send3.out")"

wait $cs || die "case_system failed: $(cat "$NET/case_system.out")"
out=$NET/case_system.out
for id in $id1 $id2; do
	grep -q "^received $id from politie: CaseSignal PL-SIG-0001 (purpose victim-care) persons: Ana Voorbeeld$" "$out" ||
		die "$id not printed: $(cat "$out")"
done
[ "$(grep -c "^  acknowledged$" "$out")" -eq 2 ] || die "not acknowledged twice: $(cat "$out")"
grep -q "^2 message(s) handled$" "$out" || die "count: $(tail -n 1 "$out")"
grep -q "Piet\|Verzonnen\|1998-03-14" "$out" "$NET/cases.jsonl" && die "withheld data reached the case system"
[ "$(wc -l <"$NET/cases.jsonl")" -eq 2 ] || die "stored $(wc -l <"$NET/cases.jsonl") messages"
grep -q "\"casePseudonym\": \"[0-9a-f]\{64\}\"" "$NET/cases.jsonl" || die "no case pseudonym stored"

# acknowledged at the agent: nothing left to offer, depth 0; a rerun handles nothing
left=$(cd "$ex" && python3 -c "
from keten_client import KetenClient
api = KetenClient('$G', token_file='$NET/api.token')
print(len(api.inbox()['items']), len(api.inbox(all=True)['items']),
      int(api.metrics()['keten_agent_inbox_depth']))") || die "client failed"
[ "$left" = "0 2 0" ] || die "unacked, all, depth: $left"
python3 "$ex/case_system.py" --url "$G" --token-file "$NET/api.token" --store "$NET/cases.jsonl" \
	--idle 1 >"$NET/rerun.out" 2>&1 || die "rerun failed: $(cat "$NET/rerun.out")"
grep -q "^0 message(s) handled$" "$NET/rerun.out" || die "rerun: $(cat "$NET/rerun.out")"
echo "# send_signal.py: id, withheld fields with reason and rule, accepted; a policy refusal reported"
echo "# case_system.py: 2 signals long-polled, stored, printed without withheld data, acknowledged; rerun finds none"
