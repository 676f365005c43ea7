# An auditor's and a third party's questions, each one documented command
# (issue [4/7], docs/auditor.md): what became of every copy of a case, when
# it was delivered, under which rule and legal basis; is the ledger intact
# and witnessed; and a receipt and a cosigned checkpoint, exported, checked
# with the published formats alone by an independent verifier
# (c2sp_verify.py: Python's hashlib and OpenSSL's Ed25519, no keten code).
. "$(dirname "$0")/lib.sh"
net_create politie om
printf 'network_key: "%s"\n' "$(head -c 32 /dev/urandom | base64)" >"$NET/keys/network.key"
chmod 600 "$NET/keys/network.key"
echo "network_key: keys/network.key" >>"$NET/politie.yaml"
echo "network_key: keys/network.key" >>"$NET/om.yaml"
broker_start
agent_start politie
agent_start om
V="python3 $KETEN_ROOT/tests/integ/c2sp_verify.py"
id=$("$KETEN" send --config "$NET/politie.yaml" --to om --type CaseReferral --purpose prosecution \
	--case PL-AUD-7 --body '{"reference":"PL-AUD-7"}') || die "send failed"
seq -f '{"reference":"AUD-%g"}' 1 5 | "$KETEN" send --config "$NET/politie.yaml" --to om \
	--type CaseReferral --purpose prosecution --lines >/dev/null || die "send failed"
wait_inbox om 6 30 || die "not delivered"
# om answers with a case of its own: the two agencies' cases are linked in the ledger
ans=$("$KETEN" send --config "$NET/om.yaml" --to politie --type CaseReferral --purpose investigation \
	--case OM-AUD-1 --reply-to "$id" --body '{"reference":"OM-AUD-1"}') || die "om's answer failed"
wait_inbox politie 1 30 || die "om's answer not delivered"

# a message politie's own policy lets om not have: refused at the source, and on the record
"$KETEN" send --config "$NET/politie.yaml" --to om --type CaseSignal --purpose victim-care \
	--case PL-AUD-7 --body '{"reference":"PL-AUD-7-B"}' >/dev/null 2>"$NET/refused.err" &&
	die "a message the policy refuses was sent"
rid=$(sed -n 's/.*the refusal goes into the ledger as message \([0-9a-f-]\{36\}\).*/\1/p' "$NET/refused.err")
[ -n "$rid" ] || die "the sender is not told the refusal is logged: $(cat "$NET/refused.err")"
for i in $(seq 50); do
	[ "$("$KETEN" audit query --json --data "$NET/broker-data" --kind WITHHELD --message "$rid" 2>/dev/null | wc -l)" -ge 1 ] && break
	sleep 0.1
done
"$KETEN" audit query --json --data "$NET/broker-data" --kind WITHHELD --message "$rid" 2>/dev/null |
	grep -q '"sender":"politie","recipient":"om",.*"reasonCode":"[a-z-]*","reason":"refused at the source by politie' ||
	die "the refusal at the source is not in the ledger"
"$KETEN" status --config "$NET/politie.yaml" "$rid" | grep -q "refused at the source" ||
	die "keten status does not say the message was refused at the source: $("$KETEN" status --config "$NET/politie.yaml" "$rid")"

# the case: accepted under which rule and basis (with the citation), delivered when
for i in $(seq 50); do
	"$KETEN" audit report --data "$NET/broker-data" --case-ref PL-AUD-7 --case-sender politie \
		--network-key "$NET/keys/network.key" --policy "$NET/policy.yaml" >"$NET/report.txt" 2>/dev/null
	grep -q "delivered 20" "$NET/report.txt" && break
	sleep 0.1
done
grep -q "^  to om: accepted (#[0-9]*), delivered 20[-0-9]*T[0-9:.]*Z (#[0-9]*)" "$NET/report.txt" ||
	die "report: $(cat "$NET/report.txt")"
grep -q "^  to om: refused at the source by politie's policy (#[0-9]*, [a-z-]*" "$NET/report.txt" ||
	die "the report lacks the refusal at the source: $(cat "$NET/report.txt")"
grep -q "legal basis wpg-art-16 (Wet politiegegevens art. 16 lid 1 onder d (illustrative)); rule referral-police-to-om" \
	"$NET/report.txt" || die "report lacks the basis's citation: $(cat "$NET/report.txt")"
"$KETEN" audit report --json --data "$NET/broker-data" --case-ref PL-AUD-7 --case-sender politie \
	--network-key "$NET/keys/network.key" --policy "$NET/policy.yaml" 2>/dev/null | python3 -c '
import json, sys
r = json.load(sys.stdin)
c = r["messages"][0]["copies"][0]
assert c["recipient"] == "om" and c["state"] == "delivered", c
assert c["citation"].startswith("Wet politiegegevens art. 16"), c
assert c["stateTime"].endswith("Z") and c["rules"] == ["referral-police-to-om"], c' ||
	die "report --json wrong"
# a wrong --case-sender: told, not a silent nothing
"$KETEN" audit report --data "$NET/broker-data" --case-ref PL-AUD-7 --case-sender om \
	--network-key "$NET/keys/network.key" 2>&1 >/dev/null | grep -q "case-sender must be the agency whose reference it is" ||
	die "an empty report does not say why"
# the whole chain of the real case across agencies, from either end; --no-links: one case
grep -q "^linked case [0-9a-f]\{16\}\.\.\. (another agency's case" "$NET/report.txt" ||
	die "the police's report does not follow the link to om's case: $(cat "$NET/report.txt")"
grep -q "CaseReferral from om  message $ans" "$NET/report.txt" || die "om's answer is not in the police's report"
"$KETEN" audit report --data "$NET/broker-data" --case-ref OM-AUD-1 --case-sender om \
	--network-key "$NET/keys/network.key" >"$NET/report-om.txt" 2>/dev/null || die "om's report failed"
grep -q "CaseReferral from politie  message $id" "$NET/report-om.txt" ||
	die "om's report does not reach the police's case: $(cat "$NET/report-om.txt")"
"$KETEN" audit report --no-links --data "$NET/broker-data" --case-ref OM-AUD-1 --case-sender om \
	--network-key "$NET/keys/network.key" >"$NET/report-om1.txt" 2>/dev/null || die "report --no-links failed"
grep -q "^1 linked case not followed (--no-links)" "$NET/report-om1.txt" && ! grep -q "CaseReferral from politie" "$NET/report-om1.txt" ||
	die "--no-links: $(cat "$NET/report-om1.txt")"
echo "# report: the copy to om accepted under referral-police-to-om and wpg-art-16 with its citation, delivered at a time; --json the same; om's answer links its case to the police's, followed from either end (--no-links: not)"

# one-line answers to wrong input
"$KETEN" audit prove --data "$NET/broker-data" --seq 500 >/dev/null 2>"$NET/err" && die "prove beyond the ledger succeeded"
[ "$(wc -l <"$NET/err")" -eq 1 ] && grep -q "the ledger has [0-9]* entries: --seq must be below --size" "$NET/err" ||
	die "prove beyond the ledger: $(cat "$NET/err")"
"$KETEN" audit verify --data "$NET/broker-data" --key "$NET/nonexistent.yaml" >/dev/null 2>"$NET/err" && die "verify with no key"
[ "$(wc -l <"$NET/err")" -eq 1 ] && grep -q "nonexistent.yaml" "$NET/err" || die "missing key file: $(cat "$NET/err")"
"$KETEN" audit stats --json --data "$NET/broker-data" 2>/dev/null | python3 -c 'import json, sys; json.load(sys.stdin)' ||
	die "stats --json is not JSON"
echo "# wrong input answered in one line; stats --json is JSON"

# witnessed: the agents cosign; verify checks every cosignature
size=$("$KETEN" audit verify --data "$NET/broker-data" --key "$NET/keys/broker.public.yaml" 2>/dev/null |
	sed -n 's/.*newest: size \([0-9]*\),.*/\1/p')
for i in $(seq 150); do
	"$KETEN" audit checkpoint --data "$NET/broker-data" >"$NET/cp.note" 2>/dev/null
	n=$(head -2 "$NET/cp.note" | tail -1)
	[ "$n" -ge "$size" ] && [ "$(grep -c '^— \(politie\|om\) ' "$NET/cp.note")" -eq 2 ] && break
	sleep 0.2
done
[ "$(grep -c '^— \(politie\|om\) ' "$NET/cp.note")" -eq 2 ] || die "no checkpoint cosigned by both: $(cat "$NET/cp.note")"
"$KETEN" audit verify --data "$NET/broker-data" --key "$NET/keys/broker.public.yaml" \
	--directory "$NET/directory.yaml" 2>/dev/null | grep -q "(all verified)$" || die "cosignatures do not verify"
"$KETEN" audit verify --json --data "$NET/broker-data" --key "$NET/keys/broker.public.yaml" \
	--directory "$NET/directory.yaml" 2>/dev/null | python3 -c '
import json, sys
v = json.load(sys.stdin)
assert v["ok"] and v["cosignaturesVerified"] and v["verdict"].startswith("ledger OK"), v
assert set(v["newestCosignedSize"]) == {"politie", "om"}, v' || die "verify --json wrong"

# a third party: the broker's vkey, the cosigned checkpoint, the witnesses' keys
vkey=$("$KETEN" audit vkey --key "$NET/keys/broker.public.yaml") || die "vkey failed"
echo "$vkey" | grep -q '^keten.local/ledger+[0-9a-f]\{8\}+A[Q-Za-f][A-Za-z0-9+/]\{42\}$' || die "vkey: $vkey"
wkey() { awk -v a="$1" '$0 ~ "id: "a"$" { on = 1 } on && /signing_key/ { gsub(/.*: "|"/, ""); print; exit }' "$NET/directory.yaml"; }
$V checkpoint "$vkey" "$NET/cp.note" "politie=$(wkey politie)" "om=$(wkey om)" >"$NET/v.out" ||
	die "the independent verifier refuses the cosigned checkpoint: $(cat "$NET/v.out")"
cps=$(head -2 "$NET/cp.note" | tail -1)

# an agency's receipt, exported, checked by keten and by the independent verifier
mkdir "$NET/receipts"
f=$("$KETEN" receipt export --config "$NET/politie.yaml" --dir "$NET/receipts" "$id") || die "receipt export failed"
[ -f "$f" ] || die "no receipt file: $f"
"$KETEN" audit check-proof --key "$NET/keys/broker.public.yaml" "$f" | grep -q "^proof OK" ||
	die "check-proof refuses the receipt"
$V proof "$vkey" "$f" >"$NET/v.out" || die "the independent verifier refuses the receipt: $(cat "$NET/v.out")"
# upgraded: the receipt's checkpoint is extended by the cosigned one
rs=$(sed -n 's/^inclusion [0-9]* \([0-9]*\)$/\1/p' "$f")
"$KETEN" audit prove --data "$NET/broker-data" --consistency "$rs,$cps" >"$NET/up.proof" 2>/dev/null ||
	die "no consistency proof $rs,$cps"
$V proof "$vkey" "$NET/up.proof" >"$NET/v.out" || die "the independent verifier refuses the upgrade: $(cat "$NET/v.out")"
"$KETEN" audit check-proof --key "$NET/keys/broker.public.yaml" "$NET/up.proof" | grep -q "^proof OK" ||
	die "check-proof refuses the consistency proof"
# one changed byte, and junk appended: both verifiers refuse
sed 's/^inclusion \([0-9]*\) /inclusion 1\1 /' "$f" >"$NET/bad.proof"
$V proof "$vkey" "$NET/bad.proof" >/dev/null 2>&1 && die "the independent verifier took a changed proof"
"$KETEN" audit check-proof --key "$NET/keys/broker.public.yaml" "$NET/bad.proof" >/dev/null && die "check-proof took a changed proof"
{ cat "$f"; echo junk; } >"$NET/junk.proof"
"$KETEN" audit check-proof --key "$NET/keys/broker.public.yaml" "$NET/junk.proof" >/dev/null && die "check-proof took junk"
echo "# receipt of $id exported, checked by check-proof and the independent verifier, upgraded to checkpoint $cps cosigned by politie and om; a changed byte or junk refused"

# a refusal made while the broker is away reaches the ledger later, exactly once
proc_stop broker
"$KETEN" send --config "$NET/politie.yaml" --to om --type CaseSignal --purpose victim-care \
	--body '{"reference":"PL-AUD-OFF"}' >/dev/null 2>"$NET/refused2.err" && die "sent"
rid2=$(sed -n 's/.*the refusal goes into the ledger as message \([0-9a-f-]\{36\}\).*/\1/p' "$NET/refused2.err")
[ -n "$rid2" ] || die "no refusal id while the broker is away: $(cat "$NET/refused2.err")"
# what waits, and why: the refusal, for a broker that is not there (once the
# agent has noticed: three heartbeats of silence)
for i in $(seq 60); do
	"$KETEN" outbox --config "$NET/politie.yaml" >"$NET/outbox.txt" || die "keten outbox failed"
	grep -q "no session with the broker" "$NET/outbox.txt" && break
	sleep 0.1
done
grep -q "^1 waiting; no session with the broker" "$NET/outbox.txt" &&
	grep -q "  refusal .*CaseSignal  -> om  victim-care  $rid2$" "$NET/outbox.txt" ||
	die "keten outbox: $(cat "$NET/outbox.txt")"
proc_stop politie
agent_start politie
broker_start
for i in $(seq 100); do
	[ "$("$KETEN" audit query --json --data "$NET/broker-data" --kind WITHHELD --message "$rid2" 2>/dev/null | wc -l)" -ge 1 ] && break
	sleep 0.1
done
sleep 1
n=$("$KETEN" audit query --json --data "$NET/broker-data" --kind WITHHELD --message "$rid2" 2>/dev/null | wc -l)
[ "$n" -eq 1 ] || die "the refusal made offline is in the ledger $n times"
echo "# refusals at the source in the ledger (one made while the broker was away, after an agent restart, exactly once); keten status says so"
