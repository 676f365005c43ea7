#!/usr/bin/env bash
# make demo: the partners' car-wash case through a real keten network on this
# machine, under the shipped policy policy/stm.yaml.  The labour inspectorate
# signals labour exploitation to police, prosecution and the municipality; the
# municipality asks the police for information; the police refer the case to
# the prosecution service; an auditor reads and verifies the ledger.  The
# network is left in DEMO_DIR (default build/demo) for the reader to explore;
# tests/integ/t_demo.sh runs this script into a temporary directory and
# checks what each agency received.  All data is synthetic.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
KETEN_BIN=${KETEN_BIN:-bin}
bin_shown=$KETEN_BIN			# as the reader typed it, for the hints at the end
DEMO_DIR=${DEMO_DIR:-build/demo}
NET_DATA_SUFFIX=			# data in DEMO_DIR/broker, DEMO_DIR/politie, ...
. "$here/../tests/integ/lib.sh"
. "$here/common.sh"
trap - EXIT
trap 'net_stop 2>/dev/null || true' EXIT

AGENTS="politie om nla gemeente-amsterdam"
KETEN_TESTBIN=${KETEN_TESTBIN:-build/tests}
NLA_CASE=NLA-2026-0412			# each agency pseudonymises its own case reference
POLICE_CASE=PL-AVIM-2026-1188
MUNI_CASE=AMS-ZC-2026-0077

FMT=$(cat "$here/format.awk")
# withheld FILE: keten send's report ("ID: withheld from R: PATH: REASON"), per reason
withheld() {
	sed 's/^[^ ]* withheld from [^:]*: //' "$1" | awk -F': ' "$FMT"'
		{ r = $2; if (r == "not-granted") r = "not granted (no rule gives it for this purpose)"
		  if (!(r in list)) { order[++nr] = r; list[r] = $1 } else list[r] = list[r] ", " $1 }
		END { for (i = 1; i <= nr; i++) print wrap("   " order[i] ": " compress(list[order[i]]), 100, 4) }'
}
# note NAME ID: the message ids, for tests/integ/t_demo.sh and the curious
note() { echo "$1 $2" >>"$NET/messages.txt"; }
indent() { sed 's/^/   /'; }
# the message id keten send printed, or the refusal it printed
send() { "$KETEN" send --quiet "$@"; }

demo_dir_prepare

echo "keten demo: a labour-exploitation case at a car wash, played by real keten processes."
echo "Every name, number and key below is invented."
say "1. the network: a broker and four agencies, under policy/stm.yaml"
NET_DIR=$DEMO_DIR net_create
sed -i 's/^\(  - id: politie\)$/\1\n    name: Nationale Politie (AVIM)/;
        s/^\(  - id: om\)$/\1\n    name: Openbaar Ministerie/;
        s/^\(  - id: nla\)$/\1\n    name: Nederlandse Arbeidsinspectie/;
        s/^\(  - id: gemeente-amsterdam\)$/\1\n    name: Gemeente Amsterdam (zorgcoördinatie)/' \
	"$NET/directory.yaml"
approve_directory "$NET/directory.yaml"	# the names are part of what the board approves
# the key for case pseudonyms: agents and auditors hold it, the broker does not
printf 'network_key: "%s"\n' "$(head -c 32 /dev/urandom | base64)" >"$NET/keys/network.key"
chmod 600 "$NET/keys/network.key"
for a in $AGENTS; do echo "network_key: keys/network.key" >>"$NET/$a.yaml"; done
echo "keys (secret files mode 0600) in $DEMO_DIR/keys/, the agency directory $DEMO_DIR/directory.yaml"
echo "the network key for case pseudonyms: $DEMO_DIR/keys/network.key (agents and auditors, not the broker)"
# debug logging at the broker only: the witnesses' cosignatures are logged there
KETEN_VERBOSE=-v broker_start
for a in $AGENTS; do agent_start "$a"; done
echo "started: keten-broker ($(grep -h 'active policy' "$NET/broker.log" | sed 's/.*active //'))"
echo "         keten-agent for $(echo $AGENTS | sed 's/ /, /g'): ZeroMQ CURVE over ipc://"

say "2. the NLA inspects a car wash and signals labour exploitation (its case $NLA_CASE)"
echo "demo/messages/nla_signal.json: three workers (possible victims), the manager (suspect),"
echo "the company Glans & Co Wasstraat (KvK 99123456), a minibus, indicators, an observation"
sig_enf=$(send --config "$NET/nla.yaml" --to politie,om --type CaseSignal --purpose investigation \
	--case "$NLA_CASE" --file "$here/messages/nla_signal.json")
echo "nla -> politie, om          for investigation  accepted: $sig_enf"
"$KETEN" send --config "$NET/nla.yaml" --to gemeente-amsterdam --type CaseSignal --purpose victim-care \
	--case "$NLA_CASE" --file "$here/messages/nla_signal.json" >"$NET/id" 2>"$NET/withheld-signal.txt"
sig_muni=$(cat "$NET/id")
note signal-enforcement "$sig_enf"
note signal-municipality "$sig_muni"
echo "nla -> gemeente-amsterdam   for victim-care    accepted: $sig_muni"
rule=$("$KETEN" policy explain --policy "$NET/policy.yaml" --directory "$NET/directory.yaml" \
	--from nla --to gemeente-amsterdam --type CaseSignal --purpose victim-care \
	"$here/messages/nla_signal.json" | sed -n 's/^  rule \([^ ]*\) (line \([0-9]*\)).*/\1 (policy\/stm.yaml line \2)/p' | head -n 1)
echo "the municipality's copy holds only what rule $rule"
echo "grants for care; the NLA's agent withheld the rest and reported it to the NLA's system:"
withheld "$NET/withheld-signal.txt"

# what_arrived AGENCY MESSAGE-ID: one row of the table below, from the agency's real inbox
row() { printf '   %-19s %-8s %-9s %-9s %-10s %-9s %s\n' "$@"; }
what_arrived() {
	local m
	m=$("$KETEN" inbox --config "$NET/$1.yaml" --all | awk -F'\t' -v id="$2" '$2 == id { print $6 }')
	[ -n "$m" ] || { row "$1" "(nothing)"; return; }
	row "$1" "$(grep -o 'PERSON_ROLE_POSSIBLE_VICTIM' <<<"$m" | wc -l)" \
		"$(grep -o 'PERSON_ROLE_SUSPECT' <<<"$m" | wc -l)" \
		"$(grep -o '"kvkNumber":"[0-9]*"' <<<"$m" | head -n 1 | cut -d'"' -f4)" \
		"$(grep -q '"streetAddress"' <<<"$m" && echo yes || echo no)" \
		"$(grep -o '"licencePlate":"[^"]*"' <<<"$m" | cut -d'"' -f4 | grep . || echo -)" \
		"$(grep -q '"observation"' <<<"$m" && echo yes || echo no)"
}
wait_inbox politie 1 30 && wait_inbox om 1 30 && wait_inbox gemeente-amsterdam 1 30
echo "what arrived, read from each agency's inbox (keten inbox):"
row "" victims suspects company addresses vehicle observation
what_arrived politie "$sig_enf"
what_arrived om "$sig_enf"
what_arrived gemeente-amsterdam "$sig_muni"

say "3. the municipality asks the police about the workers; the police answer"
req=$(send --config "$NET/gemeente-amsterdam.yaml" --to politie --type InformationRequest \
	--purpose victim-care --case "$MUNI_CASE" --file "$here/messages/gemeente_request.json")
note request "$req"
echo "gemeente-amsterdam -> politie  InformationRequest (demo/messages/gemeente_request.json): $req"
wait_inbox politie 2 30
echo "the police's answer (demo/messages/politie_response.json), first sent as no reply: refused"
"$KETEN" send --config "$NET/politie.yaml" --to gemeente-amsterdam --type InformationResponse \
	--purpose victim-care --case "$POLICE_CASE" --file "$here/messages/politie_response.json" 2>&1 |
	sed 's/^keten send: //' | awk "$FMT"'{ print wrap("   " $0, 100, 4) }' || true
resp=$(send --config "$NET/politie.yaml" --to gemeente-amsterdam --type InformationResponse \
	--purpose victim-care --case "$POLICE_CASE" --reply-to "$req" --file "$here/messages/politie_response.json")
note response "$resp"
echo "then as the reply to the request (--reply-to $req): accepted, $resp"
wait_inbox gemeente-amsterdam 2 30
echo "gemeente-amsterdam's inbox now holds the signal and this answer"

say "4. the police refer the case to the prosecution service (its case $POLICE_CASE)"
echo "the police's case system first gets the KvK number wrong; the police's agent refuses it:"
"$KETEN" send --config "$NET/politie.yaml" --to om --type CaseReferral --purpose prosecution \
	--case "$POLICE_CASE" --body '{"reference":"PL-AVIM-2026-1188","companies":[{"name":"Glans & Co Wasstraat (fictief)","kvkNumber":"9912345"}]}' 2>&1 |
	sed 's/^keten send: /   /' || true
proc_stop om
ref=$(send --config "$NET/politie.yaml" --to om --type CaseReferral --purpose prosecution \
	--case "$POLICE_CASE" --reply-to "$sig_enf" --file "$here/messages/politie_referral.json")
note referral "$ref"
echo "om's agent is stopped; politie -> om  CaseReferral (demo/messages/politie_referral.json): $ref"
echo "(--reply-to the NLA's signal: the ledger links the police's case to the NLA's)"
sleep 0.5
proc_kill broker
echo "keten-broker killed (SIGKILL) and restarted; om's agent started again"
KETEN_VERBOSE=-v broker_start
agent_start om
wait_inbox om 2 30
echo "om's inbox holds the referral $("$KETEN" inbox --config "$NET/om.yaml" --all |
	awk -F'\t' -v id="$ref" '$2 == id { n++ } END { print (n == 1 ? "once" : n + 0 " times") }')"

echo
echo "the municipality asks the police who the manager, the suspect, is (demo/messages/gemeente_request_manager.json)"
req2=$(send --config "$NET/gemeente-amsterdam.yaml" --to politie --type InformationRequest \
	--purpose victim-care --case "$MUNI_CASE" --file "$here/messages/gemeente_request_manager.json")
note request-manager "$req2"
wait_inbox politie 3 30
echo "the police's system replies with his name, birth date and phone; the police's agent withholds them:"
"$KETEN" send --config "$NET/politie.yaml" --to gemeente-amsterdam --type InformationResponse \
	--purpose victim-care --case "$POLICE_CASE" --reply-to "$req2" \
	--file "$here/messages/politie_response_manager.json" >"$NET/id" 2>"$NET/withheld-manager.txt"
resp2=$(cat "$NET/id")
rm -f "$NET/id"
note response-manager "$resp2"
withheld "$NET/withheld-manager.txt"
wait_inbox gemeente-amsterdam 3 30
echo "what the municipality received (keten inbox):"
"$KETEN" inbox --config "$NET/gemeente-amsterdam.yaml" --all |
	awk -F'\t' -v id="$resp2" "$FMT"'$2 == id { gsub(/,"/, ", \"", $6); print wrap("   " $6, 100, 1) }'

say "5. the sharing rules change: approved by the partners' privacy officers, not by the broker"
# (docs/trust.md) every agent was given the network root: who approves what
echo "the network root ($DEMO_DIR/root.yaml): policies need privacy officers of 2 agencies"
sed 's/^version: .*/version: "2026.11.2"/' "$NET/policy.yaml" >"$NET/policy.new"
cp "$NET/policy.yaml" "$NET/policy.approved"
cp "$NET/policy.yaml.approvals" "$NET/policy.approved.approvals"
cp "$NET/policy.new" "$NET/policy.yaml"
hup_broker() { kill -HUP "$(cat "$NET/broker.pid")"; }
# wait_log FILE PATTERN: up to 10 s
wait_log() { for _ in $(seq 100); do grep -q -- "$2" "$1" && return 0; sleep 0.1; done; return 1; }
hup_broker
wait_log "$NET/broker.log" "policy reload refused, keeping version 2026.11.1" || die "not refused"
echo "version 2026.11.2 installed at the broker without approvals: the broker refuses it"
grep -h "policy reload refused, keeping version 2026.11.1" "$NET/broker.log" | tail -n 1 |
	sed 's/.*refused, keeping/   refused, keeping/; s#'"$NET/"'##' | awk "$FMT"'{ print wrap($0, 100, 4) }'
for o in politie nla; do
	echo "\$ keten policy approve --key officers/fg-$o.key --root root.yaml policy.yaml   (the officer of $o)"
	"$KETEN" policy approve --key "$NET/officers/fg-$o.key" --root "$NET/root.yaml" "$NET/policy.yaml" |
		sed 's#'"$NET/"'##g; s/^/   /'
done
hup_broker
for a in $AGENTS; do
	wait_log "$NET/$a.log" "version 2026.11.2 activated from the broker, approved by the partners" ||
		die "$a did not activate 2026.11.2"
done
echo "with both approvals the broker activated it, and each agent checked the approvals itself:"
grep -h "2026.11.2 activated from the broker" "$NET/nla.log" | sed 's/^[^ ]* INFO /   /'

echo
echo "an attacker who holds the broker's host deletes the forbid rule no-suspects-to-care and"
echo "runs a broker that skips the approval check (tests/adversary/evil.c):"
sed -e '/^  - forbid: no-suspects-to-care/,/^$/d' -e 's/^version: .*/version: "2026.11.3"/' \
	"$NET/policy.new" >"$NET/policy.yaml"
proc_stop broker
KETEN_BROKER_BIN=$KETEN_TESTBIN/keten-broker-evil broker_start
for a in $AGENTS; do
	wait_log "$NET/$a.log" "ALARM policy update 2026.11.3 refused" || die "$a adopted the attacker's policy"
done
echo "every agent refused it (each logs an ALARM and counts it in /metrics):"
for a in $AGENTS; do
	grep -h "ALARM policy update 2026.11.3" "$NET/$a.log" | tail -n 1 | sed 's/^[^ ]* WARN agent /   /' |
		awk "$FMT"'{ print wrap($0, 100, 4) }'
done
proc_stop broker
cp "$NET/policy.new" "$NET/policy.yaml"
"$KETEN" policy approve --key "$NET/officers/fg-politie.key" --root "$NET/root.yaml" "$NET/policy.yaml" >/dev/null
"$KETEN" policy approve --key "$NET/officers/fg-nla.key" --root "$NET/root.yaml" "$NET/policy.yaml" >/dev/null
KETEN_VERBOSE=-v broker_start
echo "the honest broker is back, with the approved version 2026.11.2"

say "6. the auditor: the processing report of the case, and the ledger verified"
# wait until every agent, a witness of the ledger, has cosigned a checkpoint
# that holds all of the above (they do so every few heartbeats): the last
# reply's receipt names the checkpoint of its entry, its delivery is the next
for _ in $(seq 50); do
	ckpt=$("$KETEN" status --config "$NET/politie.yaml" "$resp2" | sed -n 's/.* in checkpoint \([0-9]*\) .*/\1/p')
	[ -n "$ckpt" ] && break
	sleep 0.1
done
for _ in $(seq 150); do
	n=0
	for a in $AGENTS; do
		got=$(sed -n "s/.* checkpoint \([0-9]*\) cosigned by $a\$/\1/p" "$NET/broker.log" | sort -n | tail -n 1)
		[ "${got:-0}" -gt "${ckpt:-0}" ] && n=$((n + 1))
	done
	[ "$n" -eq 4 ] && break
	sleep 0.2
done
echo "The ledger holds no case reference, only a keyed pseudonym per sending agency; the auditor"
echo "computes it from the reference and the network key.  The report is itself logged in the ledger."
report() {
	echo "\$ keten audit report --ledger $DEMO_DIR/broker --case-ref $1 --case-sender $2 --network-key ... --policy policy.yaml"
	"$KETEN" audit report --ledger "$NET/broker" --case-ref "$1" --case-sender "$2" \
		--network-key "$NET/keys/network.key" --policy "$NET/policy.yaml" | grep -v '^$' |
		awk "$FMT"'/^  fields received/ && match($0, /: /) { $0 = substr($0, 1, RSTART + 1) compress(substr($0, RSTART + 2)) }
			{ print wrap("   " $0, 100, 4) }'
}
report "$NLA_CASE" nla
report "$POLICE_CASE" politie
echo "\$ keten audit verify --ledger $DEMO_DIR/broker --key keys/broker.public.yaml --directory directory.yaml"
"$KETEN" audit verify --ledger "$NET/broker" --key "$NET/keys/broker.public.yaml" \
	--directory "$NET/directory.yaml" | awk "$FMT"'{ print wrap("   " $0, 100, 4) }'
echo "Each agency's agent is a witness: it checked that the ledger only grew and cosigned the broker's"
echo "checkpoint; the newest entries (the auditor's own queries) are cosigned in the next rounds."

say "7. stop everything"
demo_stop
echo "The network stays in $DEMO_DIR: broker/ (ledger and queue), one directory per agency"
echo "(politie/ om/ nla/ gemeente-amsterdam/: outbox and inbox), *.yaml, *.log, keys/, messages.txt."
echo "Try next (no broker runs, so these queries are read-only and not logged):"
k="$bin_shown/keten"
cat <<EOF
   $k audit report --ledger $DEMO_DIR/broker --case-ref $NLA_CASE --case-sender nla --policy $DEMO_DIR/policy.yaml \\
       --network-key $DEMO_DIR/keys/network.key
   $k audit query --ledger $DEMO_DIR/broker --recipient gemeente-amsterdam
   $k audit verify --ledger $DEMO_DIR/broker --key $DEMO_DIR/keys/broker.public.yaml \\
       --directory $DEMO_DIR/directory.yaml
   $k audit log --ledger $DEMO_DIR/broker
   $k policy explain --from nla --to gemeente-amsterdam --type CaseSignal --purpose victim-care \\
       demo/messages/nla_signal.json
   $bin_shown/keten-agent --config $DEMO_DIR/om.yaml &    # then: $k inbox --config $DEMO_DIR/om.yaml
The console (read-only: the sharing matrix, the case as a timeline, the ledger's health; docs/console.md):
   $k console --policy $DEMO_DIR/policy.yaml --directory $DEMO_DIR/directory.yaml --ledger $DEMO_DIR/broker \\
       --key $DEMO_DIR/keys/broker.public.yaml --network-key $DEMO_DIR/keys/network.key
   then open http://127.0.0.1:7470/ in a browser (xdg-open http://127.0.0.1:7470/); the car-wash case:
   http://127.0.0.1:7470/cases?ref=$NLA_CASE&sender=nla
EOF
