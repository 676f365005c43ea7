# The broker's host in the attacker's hands (issue "No trust in the hub",
# docs/trust.md, docs/security.md): an evil broker (tests/adversary/evil.c:
# keten-broker with its approval checks wrapped away) holds every broker key
# and file and uses only keten's own tools.  Each attack must be refused by
# the agents, with nothing sent that the approved policy does not allow:
#   1. politie's keys replaced by the attacker's (`keten directory rotate`)
#      and an agent run as politie on them: it cannot read nla's signal;
#   2. a wider policy (the forbid rule deleted, suspects granted to the
#      municipality): the suspect never reaches the municipality;
#   3. a policy approved by one officer only, and one approved by board
#      members who have no policy role: refused;
#   4. rolling back to an older, once approved policy: refused, also after
#      an agent restart.
# Without the agents' checks (agent/agent.c policy_approved,
# handle_directory_update) every one of these would be adopted.
. "$(dirname "$0")/lib.sh"
net_create politie nla om gemeente-amsterdam
KETEN_BROKER_BIN=$KETEN_TESTBIN/keten-broker-evil broker_start
for a in politie nla gemeente-amsterdam; do agent_start "$a"; done
grep -q "EVIL" "$NET/broker.log" || die "the broker is not the evil one"

# wait_log FILE PATTERN: up to 10 s
wait_log() {
	local i
	for i in $(seq 100); do grep -q -- "$2" "$1" && return 0; sleep 0.1; done
	return 1
}
hup() { kill -HUP "$(cat "$NET/broker.pid")"; }
signal='{"reference":"NLA-EVIL-1","exploitationForms":["EXPLOITATION_FORM_LABOUR"]}'

# 1. the attacker rotates politie's entry to keys it made
mkdir -m 700 "$NET/attacker"
"$KETEN" keygen --agency politie --out "$NET/attacker" >/dev/null
"$KETEN" directory rotate --file "$NET/directory.yaml" --public "$NET/attacker/politie.public.yaml" \
	--overlap-days 0 >/dev/null || die "rotate failed"
hup
wait_log "$NET/broker.log" "EVIL: directory version 2" || die "the evil broker did not take v2"
for a in nla gemeente-amsterdam; do
	wait_log "$NET/$a.log" "ALARM directory version 2 from the broker refused" ||
		die "$a did not refuse the attacker's directory: $(grep -i directory "$NET/$a.log")"
done
grep -q "directory version 2 activated" "$NET/nla.log" && die "nla adopted the attacker's directory"
grep "ALARM directory version 2" "$NET/nla.log" | grep -q "directory version 2 is not approved" ||
	die "the refusal does not say why: $(grep ALARM "$NET/nla.log")"
# the attacker's agent as politie (the evil broker admits its key) gets nla's signal...
proc_stop politie
agent_config politie attacker/politie.secret | sed 's/^data_dir: .*/data_dir: evil-data/' |
	config_write "$NET/evil.yaml"
"$KETEN_BIN/keten-agent" --config "$NET/evil.yaml" >>"$NET/evil.log" 2>&1 &
echo $! >"$NET/evil.pid"
wait_for_file "$NET/evil-data/api.sock" || die "the attacker's agent did not start"
sid=$("$KETEN" send --config "$NET/nla.yaml" --to politie --type CaseSignal --purpose investigation \
	--body "$signal") || die "nla could not send"
# ... sealed to the real politie's key, which nla still holds: it cannot open it
wait_log "$NET/evil.log" "refused" || die "the attacker's agent did not even get the copy"
# and nla is told so: refused, not delivered (the refusing agent acknowledges too)
for i in $(seq 50); do
	st=$("$KETEN" status --config "$NET/nla.yaml" "$sid" 2>&1) || true
	echo "$st" | grep -q "refused" && break
	sleep 0.1
done
echo "$st" | grep -q "refused" || die "nla's status does not say refused: $st"
echo "$st" | grep -q "delivered" && die "nla's status says delivered: $st"
n=$("$KETEN" inbox --config "$NET/evil.yaml" --all 2>/dev/null | wc -l)
[ "$n" -eq 0 ] || die "the attacker read nla's signal: $n messages in its inbox"
proc_stop evil
echo "# 1. politie's keys replaced at the broker: refused by nla and the municipality (ALARM); the attacker's politie could not open nla's signal"

# 2. a wider policy: the forbid rule gone, every person's data to the municipality
sed -e '/^  - forbid: no-suspects-to-care/,/^$/d' \
	-e '0,/persons\[possible_victim\]\.person_ref/s//persons.*/' \
	-e 's/^version: .*/version: "2026.12.9"/' "$NET/policy.yaml" >"$NET/wider.yaml"
cmp -s "$NET/policy.yaml" "$NET/wider.yaml" && die "sed did not widen the policy"
cp "$NET/policy.yaml" "$NET/policy.approved"
cp "$NET/policy.yaml.approvals" "$NET/policy.approved.approvals"
cp "$NET/wider.yaml" "$NET/policy.yaml"
hup
wait_log "$NET/broker.log" "EVIL: policy stm version 2026.12.9" || die "the evil broker did not take it"
for a in nla gemeente-amsterdam; do
	wait_log "$NET/$a.log" "ALARM policy update 2026.12.9 refused" ||
		die "$a did not refuse the wider policy: $(grep -i policy "$NET/$a.log" | tail -n 3)"
done
grep -q "version 2026.12.9 activated" "$NET/nla.log" "$NET/gemeente-amsterdam.log" &&
	die "an agent adopted the wider policy"
"$KETEN" send --config "$NET/nla.yaml" --to gemeente-amsterdam --type CaseSignal \
	--purpose victim-care --file "$KETEN_ROOT/demo/messages/nla_signal.json" >/dev/null \
	2>"$NET/withheld.txt" || die "nla could not send: $(cat "$NET/withheld.txt")"
wait_inbox gemeente-amsterdam 1 30 || die "nothing reached the municipality"
"$KETEN" inbox --config "$NET/gemeente-amsterdam.yaml" --all >"$NET/muni.inbox"
grep -q "Testescu" "$NET/muni.inbox" || die "the possible victim's data did not arrive"
grep -q "Verzonnen\|00001234\|1975-03-14" "$NET/muni.inbox" &&
	die "the suspect's data reached the municipality"
grep -q "persons\[suspect\]" "$NET/withheld.txt" || die "nla did not report the suspect withheld"
echo "# 2. a wider policy pushed by the broker: refused by every agent (ALARM); the suspect was withheld at nla and never reached the municipality"

# 3. approvals too few, or by the wrong role
sed 's/^version: .*/version: "2026.12.10"/' "$NET/policy.approved" >"$NET/policy.yaml"
rm -f "$NET/policy.yaml.approvals"
approve_policy "$NET/policy.yaml" politie
hup
wait_log "$NET/nla.log" "ALARM policy update 2026.12.10 refused.*has 1 (approved: politie; not yet: nla and om)" ||
	die "one approval was enough: $(grep 2026.12.10 "$NET/nla.log")"
sed 's/^version: .*/version: "2026.12.11"/' "$NET/policy.approved" >"$NET/policy.yaml"
rm -f "$NET/policy.yaml.approvals"
for m in stuurgroep minjenv; do
	"$KETEN" trust approve --key "$NET/officers/board-$m.key" --root "$NET/root.yaml" policy \
		"$NET/policy.yaml" >/dev/null || die "board approval failed"
done
hup
wait_log "$NET/nla.log" "ALARM policy update 2026.12.11 refused.*has 0" ||
	die "board members approved a policy: $(grep 2026.12.11 "$NET/nla.log")"
echo "# 3. a policy approved by one officer, and one approved by two board members (no policy role): refused"

# 4. a newer approved policy, then the old one again
sed 's/^version: .*/version: "2026.12.12"/' "$NET/policy.approved" >"$NET/policy.yaml"
rm -f "$NET/policy.yaml.approvals"
approve_policy "$NET/policy.yaml" politie om
hup
wait_log "$NET/nla.log" "policy stm version 2026.12.12 activated from the broker, approved by the partners" ||
	die "an approved policy was not adopted: $(grep 2026.12.12 "$NET/nla.log")"
cp "$NET/policy.approved" "$NET/policy.yaml"
cp "$NET/policy.approved.approvals" "$NET/policy.yaml.approvals"
hup
wait_log "$NET/nla.log" "ALARM policy update 2026.11.1 refused: older than ours (2026.12.12): a rollback" ||
	die "the rollback was not refused: $(grep 2026.11.1 "$NET/nla.log")"
proc_stop nla
agent_start nla
wait_log "$NET/nla.log" "policy version 2026.12.12, adopted before the restart, .*kept" ||
	die "nla forgot the adopted policy at restart"
sleep 1
[ "$(grep -c "ALARM policy update 2026.11.1 refused" "$NET/nla.log")" -ge 2 ] ||
	die "after the restart the rollback was not refused again"
echo "# 4. an older approved policy after a newer one: refused as a rollback, also after nla restarted"

# 5. the sender's view in every envelope: om is kept on the old policy (here
# pinned; a broker withholding the update does the same) and sees that nla
# works from a newer one; nobody saw a split view in anything above
agent_config om | sed 's/^data_dir: .*/data_dir: om-pinned/' | config_write "$NET/om.yaml"
echo "policy_updates: false" >>"$NET/om.yaml"
agent_start om
"$KETEN" send --config "$NET/nla.yaml" --to om --type CaseSignal --purpose investigation \
	--body "$signal" >/dev/null || die "nla could not send to om"
wait_inbox om 1 30 || die "nothing reached om"
wait_log "$NET/om.log" "nla works from policy stm 2026.12.12, we from stm 2026.11.1" ||
	die "om did not see that nla works from a newer policy: $(grep -i 'works from' "$NET/om.log")"
grep -q "SPLIT VIEW" "$NET"/*.log && die "a split view reported where there was none: $(grep -h 'SPLIT VIEW' "$NET"/*.log)"
echo "# 5. each envelope carries the sender's view: om, kept on an older policy, saw that nla works from a newer one; no false split view"

# 6. key transparency: a broker that distributes an approved policy without
# logging its activation (no receipt: the evil broker with KETEN_EVIL_UNLOGGED)
# is refused: agents adopt only what the ledger proves activated
proc_stop broker
sed 's/^version: .*/version: "2026.12.13"/' "$NET/policy.approved" >"$NET/policy.yaml"
rm -f "$NET/policy.yaml.approvals"
approve_policy "$NET/policy.yaml" politie om
KETEN_EVIL_UNLOGGED=1 KETEN_BROKER_BIN=$KETEN_TESTBIN/keten-broker-evil broker_start
wait_log "$NET/nla.log" "ALARM policy update 2026.12.13 refused: no proof that its activation is in the ledger" ||
	die "a policy without proof of its activation was not refused: $(grep 2026.12.13 "$NET/nla.log")"
grep -q "2026.12.13 activated" "$NET/nla.log" && die "nla adopted a policy whose activation is not in the ledger"
# the same broker with its ledger's proofs: adopted
proc_stop broker
KETEN_BROKER_BIN=$KETEN_TESTBIN/keten-broker-evil broker_start
wait_log "$NET/nla.log" "policy stm version 2026.12.13 activated from the broker, approved by the partners" ||
	die "the approved, logged policy was not adopted: $(grep 2026.12.13 "$NET/nla.log")"
echo "# 6. an approved policy whose activation the broker did not prove in its ledger: refused; with the proof: adopted"
