#!/usr/bin/env bash
# make demo: a small keten network on this machine.  Keys for a broker and
# four agencies, the agency directory, a broker and four agents, realistic
# (invented) case messages sent and shown arriving, a crash survived, then
# everything stopped.  All data is synthetic.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
KETEN_BIN=${KETEN_BIN:-bin}
. "$here/../tests/integ/lib.sh"
trap - EXIT
trap 'net_stop 2>/dev/null || true' EXIT

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
show_inbox() {
	printf -- '-- inbox of %s:\n' "$1"
	"$KETEN" inbox --config "$NET/$1.yaml" --all |
		awk -F'\t' '{ m = $6; if (length(m) > 150) m = substr(m, 1, 147) "..."
			printf "   #%s from %-19s %-33s\n      %s\n", $1, $3, $4, m }'
}

say "1. keys and directory"
net_create politie om nla gemeente-amsterdam
# give the agencies their display names
sed -i 's/^\(  - id: politie\)$/\1\n    name: Nationale Politie (AVIM)/;
        s/^\(  - id: om\)$/\1\n    name: Openbaar Ministerie/;
        s/^\(  - id: nla\)$/\1\n    name: Nederlandse Arbeidsinspectie/;
        s/^\(  - id: gemeente-amsterdam\)$/\1\n    name: Gemeente Amsterdam (zorgcoördinatie)/' \
	"$NET/directory.yaml"
echo "network directory: $NET"
echo "secret keys (mode 0600):"; ls -l "$NET/keys" | awk '/secret/ { print "   " $1, $NF }'
echo "directory.yaml:"; sed -n '1,12p' "$NET/directory.yaml" | sed 's/^/   /'; echo "   ..."

say "2. start the broker and four agents (ZeroMQ CURVE over ipc://)"
"$KETEN_BIN/keten-broker" -n --config "$NET/broker.yaml" | sed 's/^/   /'
broker_start
for a in politie om nla gemeente-amsterdam; do agent_start "$a"; done
echo "   policy: $(grep -h 'active policy' "$NET/broker.log" | sed 's/.*active //')"
sleep 1
grep -h 'connected' "$NET/broker.log" | sed 's/^/   /'

say "3. NLA inspected a car wash and signals possible labour exploitation"
echo "   demo/messages/nla_signal.json: 3 workers (one a minor), the manager, the company, a minibus"
echo "   -> politie and om, for investigation (rule signal-nla-to-enforcement: everything):"
"$KETEN" send --config "$NET/nla.yaml" --to politie,om --type CaseSignal --purpose investigation \
	--file "$here/messages/nla_signal.json" | sed 's/^/   accepted, message id /'
echo "   -> gemeente-amsterdam, for victim care (a minor is among them: child rule signal-nla-to-municipality-care-minor):"
"$KETEN" send --config "$NET/nla.yaml" --to gemeente-amsterdam --type CaseSignal --purpose victim-care \
	--file "$here/messages/nla_signal.json" 2>"$NET/withheld" | sed 's/^/   accepted, message id /'
echo "   withheld from the municipality, as the agent reported to the NLA's system:"
sed 's/^[^ ]* withheld from [^:]*: //' "$NET/withheld" | awk -F': ' '
	{ split($1, p, "."); group = p[1] (index($1, ".") ? ".*" : ""); key = group ": " $2 }
	!(key in n) { order[++k] = key }
	{ n[key]++ }
	END { for (i = 1; i <= k; i++) printf "     %s (%d field%s)\n", order[i], n[order[i]], (n[order[i]] > 1 ? "s" : "") }'

say "4. the municipality asks the police for information, and the police answer"
req=$("$KETEN" send --config "$NET/gemeente-amsterdam.yaml" --to politie \
	--type InformationRequest --purpose victim-care --file "$here/messages/gemeente_request.json")
echo "   request $req"
wait_inbox politie 2 30
echo "   an answer that is not a reply to a logged request is refused by the police's own agent:"
"$KETEN" send --config "$NET/politie.yaml" --to gemeente-amsterdam --type InformationResponse \
	--purpose victim-care --body '{"reference":"PL-R-0412","answer":"Unsolicited."}' 2>&1 |
	sed 's/^/   /' || true
echo "   the reply to request $req is accepted:"
"$KETEN" send --config "$NET/politie.yaml" --to gemeente-amsterdam --type InformationResponse \
	--purpose victim-care --reply-to "$req" \
	--body "{\"reference\":\"PL-R-0412\",\"inReplyTo\":\"$req\",\"answeredCategories\":[\"INFORMATION_CATEGORY_CARE_NEEDS\"],\"answer\":\"Two of the workers are in contact with our team and want shelter; the third is a minor and was placed by youth care.\"}" |
	sed 's/^/   accepted, message id /'

say "5. the police refer the case to the prosecution service, while om is offline and the broker crashes"
proc_stop om
"$KETEN" send --config "$NET/politie.yaml" --to om --type CaseReferral --purpose prosecution \
	--file "$here/messages/politie_referral.json" | sed 's/^/   accepted, message id /'
sleep 0.5
proc_kill broker
echo "   broker killed with SIGKILL; the referral is on its disk"
broker_start
echo "   broker restarted"
agent_start om
wait_inbox om 2 30
wait_inbox gemeente-amsterdam 2 30

say "6. a message that does not match its schema is refused at the agent, with the JSON path"
"$KETEN" send --config "$NET/politie.yaml" --to om --type CaseReferral --purpose prosecution \
	--body '{"companies":[{"name":"Voorbeeld BV","kvkNumber":"1234"}]}' 2>&1 | sed 's/^/   /' || true

say "7. what arrived"
for a in politie gemeente-amsterdam om nla; do show_inbox "$a"; done

say "8. what the police's agent holds as proof, and what the auditor sees"
ref_id=$("$KETEN" inbox --config "$NET/om.yaml" --all | awk -F'\t' '$3 == "politie" { print $2; exit }')
"$KETEN" status --config "$NET/politie.yaml" "$ref_id" | sed 's/^/   /'
"$KETEN" audit verify --data "$NET/broker-data" --key "$NET/keys/broker.public.yaml" | sed 's/^/   /'
echo "   the ledger's entries for the referral (no content, no case reference):"
"$KETEN" audit log --data "$NET/broker-data" | grep "$ref_id" | cut -c1-230 | sed 's/^/   /'

say "9. stop everything"
net_stop
grep -h 'stopping' "$NET"/broker.log | sed 's/^/   /'
echo
echo "Logs and data are kept in $NET (remove with: rm -rf $NET)."
echo "Every message above was filtered by the policy at the sender's agent, sealed for"
echo "each recipient and signed, judged by the broker on its header and field manifests"
echo "without being readable there, and checked and opened by the recipient's agent:"
echo "exactly once, over CURVE, and every decision is in the broker's signed,"
echo "Merkle-verified audit ledger."
