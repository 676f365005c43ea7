# The policy in the message path, with real processes and policy/stm.yaml:
# - the sending agent withholds what a recipient may not have, says so, and
#   the withheld fields never reach the recipient;
# - an agent running a forged, more permissive policy has its envelope
#   rejected by the broker, with the reason in the sender's `keten status`;
# - InformationResponse only as a reply to a logged request;
# - TLP:RED stays within enforcement;
# - SIGHUP reloads the policy, and a broken file leaves the old one active;
# - shadow mode logs what a candidate policy would decide differently.
. "$(dirname "$0")/lib.sh"
net_create
# a more permissive variant: suspects to the municipality's care coordinator.  The
# broker evaluates it in shadow mode; later an agent tries to enforce it.
sed -e '/^  - forbid: no-suspects-to-care/,/^$/d' \
	-e '0,/persons\[possible_victim\]\.person_ref/s//persons.*/' "$NET/policy.yaml" >"$NET/forged.yaml"
cmp -s "$NET/policy.yaml" "$NET/forged.yaml" && die "sed did not change the policy"
echo "shadow_policy: forged.yaml" >>"$NET/broker.yaml"
broker_start
agent_start politie
agent_start gemeente-amsterdam

signal='{"reference":"PL-2026-0099","exploitationForms":["EXPLOITATION_FORM_SEXUAL"],"indicators":["INDICATOR_CONTROLLED_MOVEMENT"],"location":{"municipality":"Amsterdam"},"persons":[{"personRef":"V1","role":"PERSON_ROLE_POSSIBLE_VICTIM","givenName":"Ilona","familyName":"Voorbeeldova","birthYear":2001,"nationality":"HU","identityDocument":{"type":"IDENTITY_DOCUMENT_TYPE_PASSPORT","number":"XX9999999"}},{"personRef":"S1","role":"PERSON_ROLE_SUSPECT","givenName":"Dirk","familyName":"Verzonnen","phone":"+31 6 00009999"}],"vehicles":[{"licencePlate":"ZZ-999-Z"}]}'

# 1. filtered at the source, and told
id=$("$KETEN" send --config "$NET/politie.yaml" --to gemeente-amsterdam --type CaseSignal \
	--purpose victim-care --body "$signal" 2>"$NET/withheld") || die "send failed: $(cat "$NET/withheld")"
grep -q "withheld from gemeente-amsterdam: persons\[suspect\].given_name: forbidden (rule no-suspects-to-care)" \
	"$NET/withheld" || die "withheld report incomplete: $(cat "$NET/withheld")"
grep -q "withheld from gemeente-amsterdam: vehicles.licence_plate: forbidden (rule no-suspects-to-care)" \
	"$NET/withheld" || die "vehicle not reported withheld"
grep -q "withheld from gemeente-amsterdam: persons\[possible_victim\].identity_document.number: forbidden (rule no-identity-documents-to-care)" \
	"$NET/withheld" || die "identity document not reported withheld"
wait_inbox gemeente-amsterdam 1 30 || die "municipality received nothing"
got=$("$KETEN" inbox --config "$NET/gemeente-amsterdam.yaml" | cut -f6)
echo "$got" | grep -q '"givenName":"Ilona"' || die "the victim's name did not arrive: $got"
for secret in Dirk Verzonnen PERSON_ROLE_SUSPECT 00009999 ZZ-999-Z XX9999999; do
	echo "$got" | grep -q "$secret" && die "withheld data \"$secret\" reached the municipality: $got"
done
"$KETEN" status --config "$NET/politie.yaml" "$id" | grep -q "accepted" || die "status not accepted"
grep -q "shadow: policy 2026.11.1 would allow gemeente-amsterdam a different field set" "$NET/broker.log" ||
	die "shadow mode did not report the difference"
# naming every field that differs, not only how many
grep "shadow: policy 2026.11.1 would allow gemeente-amsterdam" "$NET/broker.log" | head -1 |
	grep -q "): .*+persons\[suspect\]\.given_name " ||
	die "the shadow line does not name the fields: $(grep 'shadow:' "$NET/broker.log" | head -1)"
echo "# suspect, vehicle and document data withheld at the source and reported; shadow mode saw the difference"

# 1b. SIGHUP re-reads shadow_policy: a new candidate replaces the old one
sed -i 's/^version: .*/version: "2026.11.9"/' "$NET/forged.yaml"
kill -HUP "$(cat "$NET/broker.pid")"
for i in $(seq 50); do grep -q "shadow policy stm version 2026.11.9" "$NET/broker.log" && break; sleep 0.1; done
grep -q "shadow policy stm version 2026.11.9" "$NET/broker.log" || die "SIGHUP did not re-read shadow_policy"
"$KETEN" send --config "$NET/politie.yaml" --to gemeente-amsterdam --type CaseSignal \
	--purpose victim-care --body "$signal" >/dev/null 2>&1 || die "second send failed"
wait_inbox gemeente-amsterdam 2 30 || die "the second signal did not arrive"
grep -q "shadow: policy 2026.11.9 would allow gemeente-amsterdam" "$NET/broker.log" ||
	die "the reloaded shadow policy was not used"
echo "# SIGHUP re-read shadow_policy (2026.11.9) and used it for the next message"

# 2. a forged, more permissive policy at the sending agent: the broker says no
proc_stop politie
# (pinned: this agent ignores the broker's policy updates, as no real agent should)
sed -i 's/^policy: .*/policy: forged.yaml/' "$NET/politie.yaml"
echo "policy_updates: false" >>"$NET/politie.yaml"
agent_start politie
forged=$("$KETEN" send --config "$NET/politie.yaml" --to gemeente-amsterdam --type CaseSignal \
	--purpose victim-care --body "$signal" 2>/dev/null) || die "forged send not accepted by the agent"
for i in $(seq 50); do
	st=$("$KETEN" status --config "$NET/politie.yaml" "$forged") && : 
	case $st in *rejected*) break ;; esac
	sleep 0.1
done
echo "$st" | grep -q "rejected [0-9TZ:-]*: policy 2026.11.1: field persons\[suspect\]\.[a-z_]* may not go to gemeente-amsterdam: forbidden (rule no-suspects-to-care)" ||
	die "forged envelope not rejected with its reason: $st"
sleep 0.5
[ "$(inbox_count gemeente-amsterdam)" -eq 2 ] || die "the forged envelope reached the municipality"
proc_stop politie
sed -i -e 's/^policy: .*/policy: policy.yaml/' -e '/^policy_updates:/d' "$NET/politie.yaml"
agent_start politie
echo "# forged envelope rejected by the broker: $(echo "$st" | cut -d' ' -f2-)"

# 3. a response only as the answer to a logged request
req=$("$KETEN" send --config "$NET/gemeente-amsterdam.yaml" --to politie --type InformationRequest \
	--purpose victim-care --body '{"reference":"AMS-77","question":"Is Ilona V. known to you?","categories":["INFORMATION_CATEGORY_CARE_NEEDS"]}') ||
	die "request not sent"
wait_inbox politie 1 30 || die "request did not arrive"
if out=$("$KETEN" send --config "$NET/politie.yaml" --to gemeente-amsterdam --type InformationResponse \
	--purpose victim-care --body '{"reference":"PL-R-1","answer":"Yes."}' 2>&1); then
	die "unsolicited response accepted: $out"
fi
echo "$out" | grep -q "gemeente-amsterdam: reply-required (rule response-police-to-municipality)" ||
	die "unexpected: $out"
resp=$("$KETEN" send --config "$NET/politie.yaml" --to gemeente-amsterdam --type InformationResponse \
	--purpose victim-care --reply-to "$req" \
	--body "{\"reference\":\"PL-R-1\",\"inReplyTo\":\"$req\",\"answer\":\"Yes, she is in contact with our team.\"}") ||
	die "the reply was not accepted"
wait_inbox gemeente-amsterdam 3 30 || die "the reply did not arrive"
# naming a logged message that is not a request from the recipient (here
# politie's own response) does not make a reply: the ledger has no such request
if out=$("$KETEN" send --config "$NET/politie.yaml" --to gemeente-amsterdam --type InformationResponse \
	--purpose victim-care --reply-to "$resp" \
	--body "{\"reference\":\"PL-R-2\",\"inReplyTo\":\"$resp\",\"answer\":\"No.\"}" 2>&1); then
	die "a reply to a response was accepted: $out"
fi
echo "$out" | grep -q "reply-required" || die "unexpected: $out"
echo "# unsolicited response refused (reply-required), so was one naming a response; the reply to request $req delivered"

# 4. TLP:RED stays within enforcement
if out=$("$KETEN" send --config "$NET/politie.yaml" --to gemeente-amsterdam --type CaseSignal \
	--purpose victim-care --handling RED --body "$signal" 2>&1); then die "RED went to a municipality"; fi
echo "$out" | grep -q "gemeente-amsterdam: forbidden (rule no-red-outside-enforcement)" || die "unexpected: $out"

# 5. SIGHUP: a broken policy is refused and the old one stays; a good one is activated
cp "$NET/policy.yaml" "$NET/policy.good"
echo "  - permit: broken" >>"$NET/policy.yaml"
kill -HUP "$(cat "$NET/broker.pid")"
for i in $(seq 50); do grep -q "policy reload refused" "$NET/broker.log" && break; sleep 0.1; done
grep -q "policy reload refused, keeping version 2026.11.1: .*policy.yaml:[0-9]*:[0-9]*: " "$NET/broker.log" ||
	die "broken policy not refused with its position"
sed 's/^version: .*/version: "2026.11.2"/' "$NET/policy.good" >"$NET/policy.yaml"
approve_policy "$NET/policy.yaml" || die "approving 2026.11.2 failed"
kill -HUP "$(cat "$NET/broker.pid")"
for i in $(seq 50); do grep -q "activated policy stm version 2026.11.2" "$NET/broker.log" && break; sleep 0.1; done
grep -q "activated policy stm version 2026.11.2" "$NET/broker.log" || die "new policy not activated"
for i in $(seq 50); do grep -q "policy stm version 2026.11.2 activated from the broker" "$NET/politie.log" && break; sleep 0.1; done
grep -q "policy stm version 2026.11.2 activated from the broker" "$NET/politie.log" ||
	die "the agent did not take the broker's new policy"
# the broker still serves, now under 2026.11.2 (the agent still holds 2026.11.1: same rules)
"$KETEN" send --config "$NET/politie.yaml" --to gemeente-amsterdam --type CaseSignal \
	--purpose victim-care --body "$signal" >/dev/null 2>&1 || die "send after reload failed"
wait_inbox gemeente-amsterdam 4 30 || die "nothing delivered after the reload"
echo "# SIGHUP: broken policy refused with file:line:col, new version activated and sent to the agents"

# 6. a message waiting in the outbox under the old policy is refiltered under the new one
proc_stop broker
id=$("$KETEN" send --config "$NET/politie.yaml" --to gemeente-amsterdam --type CaseSignal \
	--purpose victim-care --body "$signal" 2>/dev/null) || die "send while the broker is down failed"
# the new policy no longer gives the municipality the victim's nationality
sed -e 's/^version: .*/version: "2026.11.3"/' -e '0,/      - persons\[possible_victim\]\.nationality/{//d}' \
	"$NET/policy.good" >"$NET/policy.yaml"
approve_policy "$NET/policy.yaml" || die "approving the new version failed"
broker_start
wait_inbox gemeente-amsterdam 5 30 || die "the queued message did not arrive"
grep -q "message $id refiltered under policy 2026.11.3" "$NET/politie.log" || die "not refiltered"
"$KETEN" inbox --config "$NET/gemeente-amsterdam.yaml" --after 4 | grep -q '"givenName":"Ilona"' ||
	die "refiltered message incomplete"
"$KETEN" inbox --config "$NET/gemeente-amsterdam.yaml" --after 4 | grep -q '"nationality":"HU"' &&
	die "the field the new policy withholds arrived"
echo "# a message queued under 2026.11.2 was refiltered under 2026.11.3 on reconnect and delivered"

# 7. a volume limit, counted by the broker in the same transaction as the queue
sed -e 's/^version: .*/version: "2026.11.4"/' -e 's/limit: { count: 200, per: week }/limit: { count: 2, per: week }/' \
	"$NET/policy.good" >"$NET/policy.yaml"
approve_policy "$NET/policy.yaml" || die "approving the new version failed"
grep -q "count: 2, per: week" "$NET/policy.yaml" || die "limit not edited"
kill -HUP "$(cat "$NET/broker.pid")"
for i in $(seq 50); do grep -q "policy stm version 2026.11.4 activated from the broker" "$NET/gemeente-amsterdam.log" && break; sleep 0.1; done
# one request already counted this week (section 3); two more: the second is over the limit
for n in 2 3; do
	rid=$("$KETEN" send --config "$NET/gemeente-amsterdam.yaml" --to politie --type InformationRequest \
		--purpose victim-care --body "{\"reference\":\"AMS-LIMIT-$n\"}") || die "request $n not accepted by the agent"
	for i in $(seq 50); do
		st=$("$KETEN" status --config "$NET/gemeente-amsterdam.yaml" "$rid") && :
		case $st in *accepted* | *rejected*) break ;; esac
		sleep 0.1
	done
	echo "$n: $(echo "$st" | head -n 1)" >>"$NET/limit.log"
done
sed -n 1p "$NET/limit.log" | grep -q "accepted" || die "request 2 refused: $(cat "$NET/limit.log")"
sed -n 2p "$NET/limit.log" | grep -q "rejected .*limit-reached (rule request-municipality-to-police)" ||
	die "request 3 not refused by the limit: $(cat "$NET/limit.log")"
echo "# limit 2 per week: the third request of the week rejected by the broker (limit-reached)"

# a privacy officer who changes the policy but forgets the version is told so
python3 - "$NET/policy.yaml" "$NET/same-version.yaml" <<'EOPY'
import sys
s = open(sys.argv[1]).read()
i = s.index("  - permit: referral-police-to-om")
j = s.index("fields:", i)
open(sys.argv[2], "w").write(s[:j] + "fields: [reference]" + s[s.index("\n", j):])
EOPY
"$KETEN" policy diff --directory "$NET/directory.yaml" "$NET/policy.yaml" "$NET/same-version.yaml" \
	>/dev/null 2>"$NET/diff.err" || die "diff failed"
grep -q "warning: the policy changed but its version did not: raise \`version:\`" "$NET/diff.err" ||
	die "no warning for an unchanged version: $(cat "$NET/diff.err")"
"$KETEN" policy diff --directory "$NET/directory.yaml" "$NET/policy.yaml" "$NET/policy.yaml" \
	>/dev/null 2>"$NET/diff.err" || die "diff failed"
[ ! -s "$NET/diff.err" ] || die "a warning for an identical policy: $(cat "$NET/diff.err")"
echo "# policy diff warns when the content changed and the version did not"

# keten policy shadow: candidates replayed over this test's recorded traffic
# (copies sent with their manifests, fields withheld and a response refused
# at the source, each with the header attributes the ledger kept)
sh() { "$KETEN" policy shadow --directory "$NET/directory.yaml" --ledger "$NET/broker-data" "$@"; }
sh "$NET/policy.good" >"$NET/shadow.same" || die "shadow failed: $(cat "$NET/shadow.same")"
# the one difference: the signal queued in section 6 went under 2026.11.3, which
# withheld the nationality that 2026.11.1 grants; the response that named a
# response, not a request, stays refused (reply_to is checked in the ledger)
[ "$(grep -c " would " "$NET/shadow.same")" = 1 ] &&
	grep -A2 "^politie -> gemeente-amsterdam  CaseSignal  purpose victim-care" "$NET/shadow.same" |
	grep -qx "    newly shared: persons\[possible_victim\].nationality" ||
	die "shadow under 2026.11.1: $(cat "$NET/shadow.same")"
# without no-suspects-to-care: the suspects' fields withheld from the municipality would go
sh "$NET/forged.yaml" >"$NET/shadow.forged" || die "shadow failed"
grep -A3 "^politie -> gemeente-amsterdam  CaseSignal  purpose victim-care" "$NET/shadow.forged" |
	grep -q "newly shared: .*persons\[suspect\]" || die "shadow missed the suspects: $(cat "$NET/shadow.forged")"
# without the reply_to condition: the two responses refused at the source in section 3 would go
python3 - "$NET/policy.good" "$NET/noreply.yaml" <<'EOPY'
import sys
s = open(sys.argv[1]).read()
i = s.index("  - permit: response-police-to-municipality\n")
j = s.index("    reply_to:", i)
open(sys.argv[2], "w").write(s[:j] + s[s.index("\n", j) + 1:])
EOPY
sh --format json "$NET/noreply.yaml" >"$NET/shadow.json" || die "shadow --format json failed"
python3 - "$NET/shadow.json" <<'EOPY' || die "shadow JSON: $(cat "$NET/shadow.json")"
import json, sys
d = json.load(open(sys.argv[1]))
c = [x for x in d["changes"] if x["change"] == "permitted"]
assert len(c) == 1, c
assert (c[0]["from"], c[0]["to"], c[0]["type"]) == ("politie", "gemeente-amsterdam", "InformationResponse"), c
assert c[0]["recordedReason"] == "reply-required" and c[0]["messages"] == 2, c  # both responses refused in section 3
assert "response-police-to-municipality" in c[0]["rules"] and "answer" in c[0]["fields"], c
assert d["decisions"] > d["unchanged"] >= 5 and d["withoutAttributes"] == 0, d
EOPY
echo "# policy shadow over the ledger: under 2026.11.1 only the field 2026.11.3 withheld differs; a dropped forbid shares the suspects; a dropped reply_to permits the two responses refused at the source"

# a rule that grants a person's fields but not the role (signal-police-to-nla):
# the role goes with them, at the sending agent and at the broker alike; the
# broker used to refuse the whole message ("persons[possible_victim].role may
# not go to nla")
agent_start nla
labour='{"reference":"PL-2026-0123","exploitationForms":["EXPLOITATION_FORM_LABOUR"],"persons":[{"personRef":"V7","role":"PERSON_ROLE_POSSIBLE_VICTIM","givenName":"Marta","nationality":"PL"}]}'
lid=$("$KETEN" send --config "$NET/politie.yaml" --to nla --type CaseSignal --purpose labour-inspection \
	--attr form=LABOUR --body "$labour" 2>"$NET/labour.err") || die "labour signal refused: $(cat "$NET/labour.err")"
st=$("$KETEN" status --config "$NET/politie.yaml" --wait 10 "$lid") || die "labour signal: $st"
echo "$st" | head -n 1 | grep -q accepted || die "labour signal not accepted: $st"
wait_inbox nla 1 30 || die "the labour signal did not reach the inspectorate"
got=$("$KETEN" inbox --config "$NET/nla.yaml" | cut -f6)
echo "$got" | grep -q '"role":"PERSON_ROLE_POSSIBLE_VICTIM","nationality":"PL"' || die "nla got: $got"
echo "$got" | grep -q "Marta" && die "the victim's name reached the inspectorate: $got"
grep -q "persons\[possible_victim\].given_name" "$NET/labour.err" || die "the name not reported withheld"
echo "# a person's role travels with the fields a rule grants: the police's labour signal reached the inspectorate"
