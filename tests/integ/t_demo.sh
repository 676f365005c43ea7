# make demo as a test: demo/demo.sh runs the partners' car-wash case into a
# temporary directory; then each agency's agent is started again and its inbox
# compared with what policy/stm.yaml lets it have, and the auditor's commands
# are run on the stopped ledger, as the demo tells a newcomer to.
. "$(dirname "$0")/lib.sh"
NET_DATA_SUFFIX=	# the demo's layout: NET/broker, NET/politie, ...
NET=$(mktemp -d /tmp/keten-XXXXXX)
# (the output goes next to the directory: the demo wants it empty)
DEMO_DIR=$NET KETEN_BIN=$KETEN_BIN bash "$KETEN_ROOT/demo/demo.sh" >"$NET.out" 2>&1 ||
	{ tail -n 40 "$NET.out"; rm -f "$NET.out"; die "the demo failed"; }
mv "$NET.out" "$NET/demo.out"
sed 's/\x1b\[[0-9;]*m//g' "$NET/demo.out" >"$NET/demo.txt"
for f in broker.pid politie.pid om.pid nla.pid gemeente-amsterdam.pid; do
	[ -e "$NET/$f" ] && die "the demo left a process running: $f"
done

id() {
	local v
	v=$(awk -v n="$1" '$1 == n { print $2 }' "$NET/messages.txt")
	[ -n "$v" ] || die "no message id \"$1\" in messages.txt"
	echo "$v"
}
# msg AGENCY NAME SENDER TYPE: the message as the agency's inbox holds it;
# dies unless it is there exactly once, from SENDER, of TYPE
msg() {
	local m n
	n=$(awk -F'\t' -v i="$(id "$2")" '$2 == i' "$NET/$1.inbox" | wc -l)
	[ "$n" -eq 1 ] || die "$1's inbox holds message $2 $n times"
	m=$(awk -F'\t' -v i="$(id "$2")" -v s="$3" -v t="keten.case.v1.$4" '$2 == i && $3 == s && $4 == t { print $6 }' \
		"$NET/$1.inbox")
	[ -n "$m" ] || die "$1's copy of $2 is not a $4 from $3: $(grep "$(id "$2")" "$NET/$1.inbox")"
	echo "$m"
}
has() { grep -qF -- "$3" <<<"$2" || die "$1 lacks $3: $2"; }
lacks() { grep -qF -- "$3" <<<"$2" && die "$1 holds $3, which the policy withholds: $2"; return 0; }

# what each agency received, from its own inbox (the agents started again)
for a in politie om nla gemeente-amsterdam; do
	agent_start "$a"
	"$KETEN" inbox --config "$NET/$a.yaml" --all >"$NET/$a.inbox" || die "keten inbox $a failed"
done
[ "$(wc -l <"$NET/politie.inbox")" -eq 3 ] || die "politie holds $(wc -l <"$NET/politie.inbox") messages, expected 3"
[ "$(wc -l <"$NET/om.inbox")" -eq 2 ] || die "om holds $(wc -l <"$NET/om.inbox") messages, expected 2"
[ "$(wc -l <"$NET/gemeente-amsterdam.inbox")" -eq 3 ] ||
	die "gemeente-amsterdam holds $(wc -l <"$NET/gemeente-amsterdam.inbox") messages, expected 3"
[ -s "$NET/nla.inbox" ] && die "nla received something: $(cat "$NET/nla.inbox")"

# 1. the signal: police and OM in full, the municipality the care fields only
for a in politie om; do
	m=$(msg "$a" signal-enforcement nla CaseSignal)
	for want in '"familyName":"Verzonnen"' PERSON_ROLE_SUSPECT '"kvkNumber":"99123456"' VX-123-Z \
		'"streetAddress":"Industrieweg 12"' '"observation":' '"givenName":"Andrei"'; do
		has "$a's signal" "$m" "$want"
	done
done
m=$(msg gemeente-amsterdam signal-municipality nla CaseSignal)
for want in '"givenName":"Andrei"' '"givenName":"Mihail"' '"givenName":"Ion"' \
	'"companies":[{"name":"Glans & Co Wasstraat (fictief)","kvkNumber":"99123456"}]' \
	'"location":{"municipality":"Amsterdam"}' INDICATOR_DEBT_TO_EMPLOYER; do
	has "the municipality's signal" "$m" "$want"
done
for secret in Verzonnen PERSON_ROLE_SUSPECT 00001234 1975-03-14 VX-123-Z minibus Industrieweg \
	'"observation"' URGENCY_PRIORITY; do
	lacks "the municipality's signal" "$m" "$secret"
done
grep -q "withheld from gemeente-amsterdam: persons\[suspect\].family_name: forbidden (rule no-suspects-to-care)" \
	"$NET/withheld-signal.txt" || die "the NLA was not told of the suspect withheld: $(cat "$NET/withheld-signal.txt")"
grep -q "withheld from gemeente-amsterdam: vehicles.licence_plate: forbidden (rule no-suspects-to-care)" \
	"$NET/withheld-signal.txt" || die "the NLA was not told of the vehicle withheld"
grep -q "forbidden (rule no-suspects-to-care): persons\[suspect\]\.{person_ref, role" "$NET/demo.txt" ||
	die "the demo does not show the withheld suspect and its rule"
grep -q "^   gemeente-amsterdam  3 *0 *99123456  no  *-  *no$" "$NET/demo.txt" ||
	die "the demo's table of what arrived: $(grep -A3 '^ *victims' "$NET/demo.txt")"
echo "# signal: politie and om got suspect, vehicle, addresses; gemeente-amsterdam the victims and the company's name and KvK only"

# 2. request and reply; the unsolicited response never arrived
m=$(msg politie request gemeente-amsterdam InformationRequest)
has "the request" "$m" AMS-ZC-2026-0077
m=$(msg gemeente-amsterdam response politie InformationResponse)
has "the reply" "$m" '"givenName":"Andrei"'
has "the reply" "$m" "want shelter"
n=$(awk -F'\t' '$4 == "keten.case.v1.InformationResponse"' "$NET/gemeente-amsterdam.inbox" | wc -l)
[ "$n" -eq 2 ] || die "gemeente-amsterdam holds $n InformationResponses, expected the 2 replies"
grep -q "reply-required (rule response-police-to-municipality)" "$NET/demo.txt" ||
	die "the unsolicited response was not refused with reply-required"
echo "# request delivered, its reply delivered, the unsolicited response refused (reply-required) and not delivered"

# 3. the referral across om offline and a broker crash; the suspect refused to the municipality
m=$(msg om referral politie CaseReferral)
has "the referral" "$m" PL-AVIM-2026-1188
has "the referral" "$m" '"familyName":"Verzonnen"'
# started, killed and restarted (step 4), then the compromised broker and the honest one again (step 5)
[ "$(grep -c 'listening on' "$NET/broker.log")" -eq 4 ] || die "the broker did not restart as the demo says"
[ "$(grep -c 'EVIL' "$NET/broker.log")" -ge 1 ] || die "the compromised broker did not run"
for a in politie om nla gemeente-amsterdam; do
	grep -q "policy stm version 2026.11.2 activated from the broker, approved by the partners" "$NET/$a.log" ||
		die "$a did not activate the approved policy"
	grep -q "ALARM policy update 2026.11.3 refused" "$NET/$a.log" || die "$a did not refuse the unapproved one"
	grep -q "2026.11.3 activated" "$NET/$a.log" && die "$a activated the unapproved policy"
done
grep -q "policy reload refused, keeping version 2026.11.1: .*policy.yaml: policy stm version 2026.11.2 is not approved" \
	"$NET/broker.log" || die "the honest broker did not refuse the unapproved version: $(grep "reload refused" "$NET/broker.log")"
echo "# policy change: refused by the broker until two privacy officers approved it; the compromised broker's wider policy refused by every agent"
grep -q 'companies\[0\].kvkNumber: expected a KvK number of 8 digits, got "9912345"' "$NET/demo.txt" ||
	die "no schema error with its JSON path"
msg politie request-manager gemeente-amsterdam InformationRequest >/dev/null
m=$(msg gemeente-amsterdam response-manager politie InformationResponse)
has "the answer about the manager" "$m" PL-R-0413
for secret in Verzonnen Kees 00001234 1975-03-14 PERSON_ROLE_SUSPECT; do
	lacks "the answer about the manager" "$m" "$secret"
done
for f in given_name family_name birth_date phone; do
	grep -q "withheld from gemeente-amsterdam: persons\[suspect\].$f: forbidden (rule no-suspects-to-care)" \
		"$NET/withheld-manager.txt" || die "suspect's $f not refused by no-suspects-to-care: $(cat "$NET/withheld-manager.txt")"
done
echo "# referral delivered once to om after a broker SIGKILL; the suspect's data refused to the municipality (no-suspects-to-care)"

# 4. the auditor, on the stopped ledger, with the commands the demo prints
for a in politie om nla gemeente-amsterdam; do proc_stop "$a"; done
"$KETEN" audit report --ledger "$NET/broker" --case-ref NLA-2026-0412 --case-sender nla \
	--network-key "$NET/keys/network.key" --policy "$NET/policy.yaml" >"$NET/report-nla.txt" \
	2>"$NET/report.err" || die "report failed"
grep -q "no broker serves .*: this query is not logged" "$NET/report.err" || die "no notice: $(cat "$NET/report.err")"
grep -q "^[0-9]* ledger entries for this case" "$NET/report-nla.txt" || die "report: $(cat "$NET/report-nla.txt")"
# what nla's own agent withheld, and why, is on the record too
grep -q "^    withheld at the source by nla's policy (#[0-9]*, forbidden, rule no-suspects-to-care): .*persons\[suspect\].family_name" \
	"$NET/report-nla.txt" || die "the report lacks what nla withheld from the municipality: $(cat "$NET/report-nla.txt")"
for x in "CaseSignal from nla  message $(id signal-enforcement)" \
	"CaseSignal from nla  message $(id signal-municipality)" \
	"  to politie: accepted (#" "  to om: accepted (#" "  to gemeente-amsterdam: accepted (#" \
	"purpose victim-care; legal basis avg-6-1-c-arbo (AVG art. 6(1)(c) with Arbeidsomstandighedenwet art. 24 and Waadi (illustrative)); rule signal-nla-to-municipality-care" \
	"purpose investigation; legal basis avg-6-1-c-arbo (AVG art. 6(1)(c)"; do
	grep -qF "$x" "$NET/report-nla.txt" || die "the report lacks \"$x\": $(cat "$NET/report-nla.txt")"
done
# the fields each recipient received, as the ledger has them
fields() { awk -v r="$1" '/^  to / { on = index($0, "  to " r ":") == 1 } on && /fields received/' "$NET/report-nla.txt"; }
# each copy delivered, with the time
for r in politie om gemeente-amsterdam; do
	grep -q "^  to $r: accepted (#[0-9]*), delivered 20[0-9-]*T[0-9:.]*Z (#[0-9]*)" "$NET/report-nla.txt" ||
		die "the report does not say when $r's copy was delivered: $(cat "$NET/report-nla.txt")"
done
fields politie | grep -q "persons\[suspect\].family_name" || die "the ledger lacks politie's suspect fields"
fields gemeente-amsterdam | grep -q "persons\[possible_victim\].given_name, .*companies.kvk_number" ||
	die "the ledger lacks the municipality's fields: $(fields gemeente-amsterdam)"
fields gemeente-amsterdam | grep -q "suspect\|vehicles\|observation" && die "the ledger says the municipality got more"
"$KETEN" audit report --ledger "$NET/broker" --case-ref PL-AVIM-2026-1188 --case-sender politie \
	--network-key "$NET/keys/network.key" >"$NET/report-politie.txt" 2>/dev/null || die "report failed"
for x in "CaseReferral from politie  message $(id referral)" "rule referral-police-to-om" \
	"InformationResponse from politie  message $(id response)" \
	"InformationResponse from politie  message $(id response-manager)" "  to om: accepted" \
	"  to gemeente-amsterdam: accepted" "  to gemeente-amsterdam: refused at the source by politie's policy (#" \
	"fields received (3): reference, answered_categories, answer"; do
	grep -qF "$x" "$NET/report-politie.txt" || die "the report lacks \"$x\": $(cat "$NET/report-politie.txt")"
done
"$KETEN" audit log --json --ledger "$NET/broker" 2>/dev/null | grep -q 'NLA-2026-0412\|PL-AVIM-2026-1188\|Verzonnen' &&
	die "the ledger holds a case reference or content"
[ "$(ledger_count AUDIT_QUERY reasonCode=report 2>/dev/null)" -eq 2 ] ||
	die "the demo's two reports are not logged as audit queries"
echo "# audit report of both cases: each exchange with its rule, basis and fields; the demo's own reports logged"

v=$("$KETEN" audit verify --ledger "$NET/broker" --key "$NET/keys/broker.public.yaml" \
	--directory "$NET/directory.yaml" 2>/dev/null) || die "verify failed: $v"
last=$(awk -v m="InformationResponse from politie  message $(id response-manager)" \
	'index($0, m) { on = 1; next } on && /^  to gemeente-amsterdam: accepted/ {
		sub(/.*accepted \(#/, ""); sub(/\).*/, ""); print; exit }' "$NET/report-politie.txt")
[ -n "$last" ] || die "no ledger entry of the last exchange"
for a in politie om nla gemeente-amsterdam; do
	size=$(echo "$v" | sed -n "s/.* $a=\([0-9]*\).*/\1/p")
	[ -n "$size" ] && [ "$size" -gt "$last" ] ||
		die "witness $a has not cosigned the last exchange (entry $last): $v"
done
echo "$v" | grep -q "(all verified)$" || die "cosignatures not all verified: $v"
grep -qF "cosignatures: " "$NET/demo.txt" || die "the demo does not show the cosignatures"
echo "# verify: $(echo "$v" | tail -n 1)"

# the commands the demo tells the reader to try work on the stopped network
sed -n '/^Try next/,/^The console/p' "$NET/demo.txt" | sed '1d;$d' |
	sed -e :a -e '/\\$/N; s/\\\n *//; ta' | grep -v 'keten-agent' >"$NET/next.sh"
[ "$(grep -c "audit" "$NET/next.sh")" -ge 3 ] || die "the demo prints no audit commands: $(cat "$NET/next.sh")"
while read -r line; do
	(cd "$KETEN_ROOT" && bash -c "$line" >/dev/null 2>"$NET/next.err") ||
		die "the demo's hint failed: $line: $(cat "$NET/next.err")"
done <"$NET/next.sh"
echo "# the $(wc -l <"$NET/next.sh") commands the demo suggests run on the stopped network"

# the console the demo ends with: started as printed, the car-wash case at the address printed
sed -n '/^The console/,$p' "$NET/demo.txt" | sed 1d | sed -e :a -e '/\\$/N; s/\\\n *//; ta' >"$NET/console.txt"
cmd=$(grep ' console ' "$NET/console.txt" | head -n 1)
url=$(grep -o 'http://127.0.0.1:7470/cases?[^ ]*' "$NET/console.txt" | head -n 1)
[ -n "$cmd" ] && [ -n "$url" ] || die "the demo does not end with the console: $(cat "$NET/console.txt")"
(cd "$KETEN_ROOT" && exec bash -c "exec $cmd" >"$NET/console.out" 2>"$NET/console.log") &
cpid=$!
for _ in $(seq 50); do grep -q '^keten console: http' "$NET/console.out" && break; sleep 0.1; done
page=$(curl -sL "$url")
kill $cpid
wait $cpid 2>/dev/null
grep -q 'id="timeline"' <<<"$page" || die "the console the demo prints shows no case at $url: ${page:0:300}"
grep -q 'CaseReferral' <<<"$page" || die "the car-wash case page lacks the referral"
echo "# the console as the demo prints it: the car-wash case at $url"

# a directory that is not a demo network is never replaced
if DEMO_DIR=$NET/keys KETEN_BIN=$KETEN_BIN bash "$KETEN_ROOT/demo/demo.sh" >"$NET/refuse.out" 2>&1; then
	die "the demo replaced a directory that is not its own"
fi
grep -q "is not a keten demo network" "$NET/refuse.out" || die "unexpected: $(cat "$NET/refuse.out")"
[ -e "$NET/keys/broker.secret" ] || die "the demo removed files it did not own"
