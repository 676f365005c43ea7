# The directory as the operator changes it, with real processes: keten
# directory rotate/revoke, SIGHUP, the broker's signed directory reaching the
# agents, rotation with overlap, revocation cutting an agency off, and an
# older directory refused.
. "$(dirname "$0")/lib.sh"
net_create
broker_start
agent_start politie
agent_start om

ref='{"reference":"PL-DIR-1"}'
"$KETEN" send --config "$NET/politie.yaml" --to om --type CaseReferral --purpose prosecution \
	--body "$ref" >/dev/null || die "first send failed"
wait_inbox om 1 30 || die "nothing delivered before the rotation"

# 0. a rotation to the keys politie already has is refused, saying what to do
cp "$NET/directory.yaml" "$NET/directory.before"
"$KETEN" directory rotate --file "$NET/directory.yaml" --public "$NET/keys/politie.public.yaml" \
	2>"$NET/rot.err" && die "rotation to the current keys accepted"
grep -q "holds politie's current keys, not new ones: make new keys first (keten keygen" "$NET/rot.err" ||
	die "rotation to the current keys: $(cat "$NET/rot.err")"
cmp -s "$NET/directory.yaml" "$NET/directory.before" || die "a refused rotation changed the directory"
"$KETEN" keygen --agency politie --out "$NET/keys" >/dev/null 2>"$NET/kg.err" && die "keygen overwrote a key"
grep -q "for a key rotation, make the new keys in another directory" "$NET/kg.err" ||
	die "keygen over a key does not say how to rotate: $(cat "$NET/kg.err")"
# 1. politie rotates its keys; the old ones stay valid for the overlap
mkdir -m 700 "$NET/newkeys"
"$KETEN" keygen --agency politie --out "$NET/newkeys" >/dev/null
"$KETEN" directory rotate --file "$NET/directory.yaml" --public "$NET/newkeys/politie.public.yaml" \
	--overlap-days 7 >/dev/null || die "rotate failed"
grep -q "^version: 2" "$NET/directory.yaml" || die "version not raised"
[ -f "$NET/directory.yaml.v1" ] || die "previous directory not kept"
# politie's own key change: approved by politie's current (old) key alone
approve_directory_as "$NET/directory.yaml" "$NET/keys/politie.secret" || die "approve failed"
kill -HUP "$(cat "$NET/broker.pid")"
for i in $(seq 50); do grep -q "directory version 2 activated from the broker" "$NET/om.log" && break; sleep 0.1; done
grep -q "activated directory version 2" "$NET/broker.log" || die "broker did not activate v2"
grep -q "directory version 2 activated from the broker" "$NET/om.log" || die "om did not receive v2"
# politie still runs on its old keys: admitted and verified as `previous`
"$KETEN" send --config "$NET/politie.yaml" --to om --type CaseReferral --purpose prosecution \
	--body '{"reference":"PL-DIR-2"}' >/dev/null || die "send with the old keys failed"
wait_inbox om 2 30 || die "old keys not honoured during the overlap"
# and as a witness: its cosignatures with the old key are taken (two witness rounds)
for i in $(seq 40); do
	grep -q "cosignature of politie for checkpoint .* does not verify" "$NET/broker.log" && break
	sleep 0.1
done
grep -q "cosignature of politie for checkpoint .* does not verify" "$NET/broker.log" &&
	die "the old key's cosignature refused during the overlap: $(grep 'cosignature of politie' "$NET/broker.log" | head -n 1)"
# and on its new keys, keeping the old ones to open what was sealed to them
proc_stop politie
sed -i "s#^keys: .*#keys: newkeys/politie.secret\nprevious_keys: keys/politie.secret#" "$NET/politie.yaml"
agent_start politie
"$KETEN" send --config "$NET/politie.yaml" --to om --type CaseReferral --purpose prosecution \
	--body '{"reference":"PL-DIR-3"}' >/dev/null || die "send with the new keys failed"
wait_inbox om 3 30 || die "new keys not honoured"
grep -q "refused" "$NET/om.log" && die "om refused something: $(grep refused "$NET/om.log")"
echo "# rotation: old and new keys of politie both worked during the overlap; v2 reached the agents"

# 2. revoking om cuts it off at once
"$KETEN" directory revoke --file "$NET/directory.yaml" om >/dev/null || die "revoke failed"
approve_directory "$NET/directory.yaml" || die "approve failed"
kill -HUP "$(cat "$NET/broker.pid")"
for i in $(seq 50); do grep -q "agency om is revoked: its session is cut off" "$NET/broker.log" && break; sleep 0.1; done
grep -q "agency om is revoked: its session is cut off" "$NET/broker.log" || die "om's session not cut off"
for i in $(seq 50); do grep -q "directory version 3 activated" "$NET/politie.log" && break; sleep 0.1; done
if out=$("$KETEN" send --config "$NET/politie.yaml" --to om --type CaseReferral --purpose prosecution \
	--body '{"reference":"PL-DIR-4"}' 2>&1); then die "sent to a revoked agency: $out"; fi
echo "$out" | grep -q "om: revoked in the directory (version 3)" || die "unexpected: $out"
# om is told once, plainly, and backs off instead of asking again and again
for i in $(seq 50); do grep -q "the broker refuses agency om" "$NET/om.log" && break; sleep 0.1; done
sleep 2
n=$(grep -c "the broker refuses agency om: agency om is revoked" "$NET/om.log")
[ "$n" -ge 1 ] && [ "$n" -le 2 ] || die "om logged the refusal $n times: $(grep WARN "$NET/om.log" | tail -5)"
grep -q "broker error 7" "$NET/om.log" && die "om logs raw broker errors: $(grep -c "broker error 7" "$NET/om.log")"
proc_stop om
"$KETEN_BIN/keten-agent" --config "$NET/om.yaml" >>"$NET/om.log" 2>&1 &
echo $! >"$NET/om.pid"
for i in $(seq 50); do grep -q "key-refused: .* of agency om is revoked" "$NET/broker.log" && break; sleep 0.1; done
grep -q "key-refused: .* of agency om is revoked" "$NET/broker.log" || die "revoked key admitted"
[ "$(inbox_count om)" -eq 3 ] || die "om received something after its revocation"
echo "# revocation: om cut off, refused at reconnect, nothing sealed to it any more"

# 3. an older directory is refused, and the broker keeps serving
cp "$NET/directory.yaml.v1" "$NET/directory.yaml"
kill -HUP "$(cat "$NET/broker.pid")"
for i in $(seq 50); do grep -q "directory reload refused: version 1 is older than the active 3" "$NET/broker.log" && break; sleep 0.1; done
grep -q "directory reload refused: version 1 is older than the active 3" "$NET/broker.log" ||
	die "older directory not refused"
echo "# an older directory file is refused on reload"

# a directory from nothing: add makes it (version 1), the next add raises it
"$KETEN" keygen --agency politie --out "$NET/fresh" >/dev/null && "$KETEN" keygen --agency om --out "$NET/fresh" >/dev/null ||
	die "keygen failed"
"$KETEN" directory add --file "$NET/fresh/directory.yaml" --public "$NET/fresh/politie.public.yaml" \
	--kind police >"$NET/fresh.out" || die "add to a new directory failed: $(cat "$NET/fresh.out")"
grep -q "version 1 written, a new directory" "$NET/fresh.out" || die "add: $(cat "$NET/fresh.out")"
"$KETEN" directory add --file "$NET/fresh/directory.yaml" --public "$NET/fresh/om.public.yaml" \
	--kind prosecution >/dev/null || die "second add failed"
"$KETEN" directory show --file "$NET/fresh/directory.yaml" | head -n 1 | grep -q "^version 2, 2 agencies" ||
	die "show: $("$KETEN" directory show --file "$NET/fresh/directory.yaml")"
echo "# keten directory add makes a new directory from nothing"
