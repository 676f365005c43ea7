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
		awk -F'\t' '{ printf "   #%s from %-20s %-32s %s\n", $1, $3, $4, $6 }'
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
sleep 1
grep -h 'connected' "$NET/broker.log" | sed 's/^/   /'

say "3. NLA inspected a car wash and signals possible labour exploitation"
"$KETEN" send --config "$NET/nla.yaml" --to politie,gemeente-amsterdam \
	--type keten.case.v1.CaseSignal \
	--body '{"ref":"NLA-2026-0412","form":"LABOUR","sector":"car wash","company":{"name":"Glans & Co Wasstraat (fictief)","kvk":"99123456"},"workers":3,"indicators":["NO_ID_PAPERS","DEBT_TO_EMPLOYER","LIVES_AT_WORKPLACE"]}' |
	sed 's/^/   accepted, message id /'

say "4. the municipality asks the police for information"
"$KETEN" send --config "$NET/gemeente-amsterdam.yaml" --to politie \
	--type keten.case.v1.InformationRequest \
	--body '{"about":"possible victims at Glans & Co Wasstraat","categories":["CARE_NEEDS"],"replyBy":"2026-12-06"}' |
	sed 's/^/   accepted, message id /'

say "5. the police refer the case to the prosecution service, while om is offline and the broker crashes"
proc_stop om
"$KETEN" send --config "$NET/politie.yaml" --to om --type keten.case.v1.CaseReferral \
	--body '{"reason":"suspected labour exploitation","signals":["NLA-2026-0412"],"suspects":1}' |
	sed 's/^/   accepted, message id /'
sleep 0.5
proc_kill broker
echo "   broker killed with SIGKILL; the referral is on its disk"
broker_start
echo "   broker restarted"
agent_start om
wait_inbox om 1 30
wait_inbox politie 2 30
wait_inbox gemeente-amsterdam 1 30

say "6. what arrived"
for a in politie gemeente-amsterdam om nla; do show_inbox "$a"; done

say "7. stop everything"
net_stop
grep -h 'stopping' "$NET"/broker.log | sed 's/^/   /'
echo
echo "Logs and data are kept in $NET (remove with: rm -rf $NET)."
echo "The messages above are delivered exactly once, end to end over CURVE; the"
echo "policy filter, end-to-end encryption and audit ledger come in later issues."
