# The C client library's example program (examples/c/client_example.c) over
# the agent's TCP API with its bearer token, and the keten CLI's --json
# output and ack, both on real processes.
. "$(dirname "$0")/lib.sh"
net_create
head -c 32 /dev/urandom | base64 >"$NET/api.token"
chmod 600 "$NET/api.token"
for try in 1 2 3 4 5; do
	port=$((21000 + (RANDOM % 20000)))
	(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || break	# free
done
printf 'api_listen: 127.0.0.1:%d\napi_token: api.token\n' "$port" >>"$NET/politie.yaml"
printf 'api_listen: 127.0.0.1:%d\napi_token: api.token\n' "$((port + 1))" >>"$NET/om.yaml"
broker_start
agent_start politie
agent_start om
EX="$KETEN_BIN/keten-client-example"

# send over TCP: the id, what was withheld, and the broker's acceptance
printf '{"reference":"EX-1","summary":"referral from a C system"}\n' >"$NET/ref.json"
out=$("$EX" "http://127.0.0.1:$port" "$NET/api.token" send CaseReferral om prosecution "$NET/ref.json" \
	2>"$NET/ex.err") || die "example send failed: $out $(cat "$NET/ex.err")"
echo "$out" | grep -q "^submitted [0-9a-f-]\{36\}$" || die "no id: $out"
echo "$out" | grep -q "^state accepted$" || die "not accepted: $out"
id=$(echo "$out" | sed -n 's/^submitted //p')
# a wrong token is refused
printf 'not-the-token-not-the-token-not-the-token\n' >"$NET/bad.token"
"$EX" "http://127.0.0.1:$port" "$NET/bad.token" send CaseReferral om prosecution "$NET/ref.json" \
	>/dev/null 2>"$NET/bad.err" && die "a wrong token was accepted"
grep -q "not accepted (401)" "$NET/bad.err" || die "wrong token: $(cat "$NET/bad.err")"
# receive at om over its Unix socket: prints, acknowledges
out=$("$EX" "unix:$NET/om-data/api.sock" - receive 1) || die "example receive failed: $out"
[ "$out" = "received CaseReferral from politie: $id" ] || die "receive: $out"
# the sender sees the copy delivered, from the broker's ledger
st=$("$KETEN" status --config "$NET/politie.yaml" "$id") || die "status failed"
echo "$st" | grep -q "^  to om: delivered 20[0-9-]*T" || die "no delivery in the status: $st"
j=$("$KETEN" status --config "$NET/politie.yaml" --json "$id")
echo "$j" | grep -q '"recipients":\[{"recipient":"om","state":"delivered","timeMs":[0-9]*}\]' ||
	die "status --json: $j"
echo "# keten-client-example: sent over TCP with the token (accepted), received and acked over the Unix socket"

# the CLI: --json, ack, --new
j=$("$KETEN" inbox --config "$NET/om.yaml" --all --json) || die "inbox --json failed"
echo "$j" | grep -q "\"messageId\":\"$id\".*\"ackedMs\":[0-9]" || die "inbox --json: $j"
[ -z "$("$KETEN" inbox --config "$NET/om.yaml" --new)" ] || die "an acknowledged message is new"
id2=$("$KETEN" send --config "$NET/politie.yaml" --to om --type CaseReferral --purpose prosecution \
	--body '{"reference":"EX-2"}') || die "send failed"
"$KETEN" inbox --config "$NET/om.yaml" --new --wait 10 | grep -q "^[0-9]*	$id2	politie	" ||
	die "inbox --new --wait did not show the new message"
"$KETEN" ack --config "$NET/om.yaml" "$id2" | grep -qx "$id2 acknowledged" || die "ack"
"$KETEN" ack --config "$NET/om.yaml" --json "$id2" | grep -q '"already":true' || die "second ack"
s=$("$KETEN" status --config "$NET/politie.yaml" --wait 10 --json "$id2") || die "status --json"
echo "$s" | grep -q "\"state\":\"accepted\"" || die "status --json: $s"
j=$("$KETEN" send --config "$NET/politie.yaml" --to om --type CaseReferral --purpose prosecution \
	--json --body '{"reference":"EX-3","bogus":1}' 2>/dev/null) && die "an invalid message was sent"
echo "$j" | grep -q '"error":{"code":"invalid"' || die "send --json error: $j"
proc_stop om
id4=$("$KETEN" send --config "$NET/politie.yaml" --to om --type CaseReferral --purpose prosecution \
	--body '{"reference":"EX-4"}') || die "send failed"
"$KETEN" status --config "$NET/politie.yaml" --wait 10 "$id4" | grep -q "^  to om: accepted " ||
	die "an undelivered copy: $("$KETEN" status --config "$NET/politie.yaml" "$id4")"
echo "# keten inbox/send/status/ack --json print the API's answers; ack twice says so; status per recipient: delivered, accepted"
