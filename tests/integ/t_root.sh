# A new network root (docs/trust.md), with real processes: the broker reads
# its own copy of the root, so the agents learn the new one only over the
# wire.  Root 2 (kmar's privacy officer added) approved by the root keys of
# version 1 and of version 2 reaches every agent, which then counts kmar's
# approval of a policy; it survives an agent's restart.  Root 3, made by an
# attacker with keys of its own (its own threshold met, the old one not),
# pushed by a broker that skips the check, is refused by every agent.
. "$(dirname "$0")/lib.sh"
net_create politie nla om kmar
cp "$NET/root.yaml" "$NET/broker-root.yaml"
sed -i 's/^root: root.yaml/root: broker-root.yaml/' "$NET/broker.yaml"
broker_start
agent_start politie
agent_start nla

wait_log() {
	local i
	for i in $(seq 100); do grep -q -- "$2" "$1" && return 0; sleep 0.1; done
	return 1
}

# root 2: version 2, kmar's privacy officer added
"$KETEN" trust keygen --name fg-kmar --out "$NET/officers/fg-kmar.key" >/dev/null
{
	sed 's/^version: 1/version: 2/' "$NET/root.yaml"
	echo "  - { vkey: \"$("$KETEN" trust vkey "$NET/officers/fg-kmar.key")\", agency: kmar, roles: [policy] }"
} >"$NET/root-2.yaml"
for m in stuurgroep minjenv; do
	"$KETEN" trust approve --key "$NET/officers/board-$m.key" --root "$NET/root.yaml" root \
		"$NET/root-2.yaml" >/dev/null || die "approving root 2 failed"
done
"$KETEN" trust approvals --root "$NET/root.yaml" root "$NET/root-2.yaml" >"$NET/approvals.txt" ||
	die "root 2 not approved: $(cat "$NET/approvals.txt")"
cp "$NET/root-2.yaml" "$NET/broker-root.yaml"
cp "$NET/root-2.yaml.approvals" "$NET/broker-root.yaml.approvals"
kill -HUP "$(cat "$NET/broker.pid")"
wait_log "$NET/broker.log" "activated root test.keten.example version 2" || die "the broker did not activate root 2"
for a in politie nla; do
	wait_log "$NET/$a.log" "root test.keten.example version 2 activated from the broker" ||
		die "$a did not take root 2: $(grep -i root "$NET/$a.log")"
done
# an agent that starts later gets the chain on Hello
agent_start om
wait_log "$NET/om.log" "root test.keten.example version 2 activated from the broker" || die "om did not get root 2"

# a policy approved by the officers of politie and kmar: enough only under root 2
sed 's/^version: .*/version: "2026.12.1"/' "$NET/policy.yaml" >"$NET/policy.new"
cp "$NET/policy.new" "$NET/policy.yaml"
rm -f "$NET/policy.yaml.approvals"
for o in politie kmar; do
	"$KETEN" policy approve --key "$NET/officers/fg-$o.key" --root "$NET/root-2.yaml" "$NET/policy.yaml" \
		>/dev/null || die "approving the policy failed"
done
kill -HUP "$(cat "$NET/broker.pid")"
for a in politie nla om; do
	wait_log "$NET/$a.log" "policy stm version 2026.12.1 activated from the broker" ||
		die "$a did not count kmar's approval under root 2: $(grep 2026.12.1 "$NET/$a.log")"
done
proc_stop nla
agent_start nla
wait_log "$NET/nla.log" "root version 2, adopted before the restart, is newer than" ||
	die "nla went back to root 1 at restart"
echo "# root 2 (approved by the keys of root 1 and root 2) reached every agent over the wire, counted kmar's officer, and survived a restart"

# root 3 by an attacker: three keys of its own, its own threshold met, root 2's not
for k in x1 x2 x3; do "$KETEN" trust keygen --name "evil-$k" --out "$NET/officers/evil-$k.key" >/dev/null; done
{
	echo "network: test.keten.example"
	echo "version: 3"
	echo "thresholds: { policy: 1, directory: 1, recovery: 1, root: 1 }"
	echo "keys:"
	echo "  - { vkey: \"$("$KETEN" trust vkey "$NET/officers/evil-x1.key")\", agency: x1, roles: [policy, directory, root] }"
} >"$NET/root-3.yaml"
"$KETEN" trust approve --key "$NET/officers/evil-x1.key" --root "$NET/root-2.yaml" root "$NET/root-3.yaml" >/dev/null
cp "$NET/root-3.yaml" "$NET/broker-root.yaml"
cp "$NET/root-3.yaml.approvals" "$NET/broker-root.yaml.approvals"
kill -HUP "$(cat "$NET/broker.pid")"
wait_log "$NET/broker.log" "root reload refused, keeping version 2" || die "the broker took root 3"
proc_stop broker
# the attacker holds the broker's files: root 3 goes into its chain too
cp "$NET/root-3.yaml" "$NET/broker-data/root.3.yaml"
cp "$NET/root-3.yaml.approvals" "$NET/broker-data/root.3.yaml.approvals"
KETEN_BROKER_BIN=$KETEN_TESTBIN/keten-broker-evil broker_start
for a in politie nla om; do
	wait_log "$NET/$a.log" "ALARM root version 3 from the broker refused, keeping version 2" ||
		die "$a did not refuse the attacker's root: $(grep -i 'root' "$NET/$a.log" | tail -n 2)"
done
echo "# root 3 made by an attacker (its own keys, root 2's threshold not met): refused by the broker, and by every agent when a broker pushed it anyway"
