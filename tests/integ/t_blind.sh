# The broker is blind: a message whose content holds a unique marker travels
# through a real broker and agents; the marker (and its base64 and hex forms)
# appears nowhere in the broker's data directory or log.  A recipient the
# policy excludes from a field holds no trace of it either.
. "$(dirname "$0")/lib.sh"
net_create
# the network key for case pseudonyms: agents and auditors have it, the broker not
printf 'network_key: "%s"\n' "$(head -c 32 /dev/urandom | base64)" >"$NET/keys/network.key"
chmod 600 "$NET/keys/network.key"
echo "network_key: keys/network.key" >>"$NET/politie.yaml"
broker_start
agent_start politie
agent_start om
agent_start gemeente-amsterdam

marker="MARKER$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
m64=$(printf '%s' "$marker" | base64)
mhex=$(printf '%s' "$marker" | od -An -tx1 | tr -d ' \n')
# a base64 or hex rendering of the marker may start at any byte offset; the
# inner part of the encoding is the same whatever the alignment, so search a
# middle slice of each
m64mid=${m64:4:16}
mhexmid=${mhex:8:24}

# to om in full, for prosecution: the marker in the summary
"$KETEN" send --config "$NET/politie.yaml" --to om --type CaseReferral --purpose prosecution \
	--case "$marker" --body "{\"reference\":\"PL-BLIND-1\",\"summary\":\"$marker\"}" >/dev/null ||
	die "send to om failed"
# without the network key a case reference cannot be pseudonymised, so it is refused
if out=$("$KETEN" send --config "$NET/om.yaml" --to politie --type CaseReferral --purpose investigation \
	--case X --body '{"reference":"OM-1"}' 2>&1); then die "case reference sent without a network key"; fi
echo "$out" | grep -q "needs the network key" || die "unexpected: $out"
# to the municipality for care: the marker only in the suspect's name and the observation,
# which the policy keeps from it
"$KETEN" send --config "$NET/politie.yaml" --to gemeente-amsterdam --type CaseSignal --purpose victim-care \
	--body "{\"reference\":\"PL-BLIND-2\",\"observation\":\"$marker\",\"persons\":[{\"role\":\"PERSON_ROLE_POSSIBLE_VICTIM\",\"givenName\":\"Eva\"},{\"role\":\"PERSON_ROLE_SUSPECT\",\"givenName\":\"$marker\"}]}" \
	>/dev/null 2>&1 || die "send to the municipality failed"
wait_inbox om 1 30 || die "om received nothing"
wait_inbox gemeente-amsterdam 1 30 || die "the municipality received nothing"
"$KETEN" inbox --config "$NET/om.yaml" | grep -q "$marker" || die "om cannot read the content it may have"
net_stop

found() {	# found DIR-OR-FILE...: is the marker in any form anywhere in these?
	grep -rqaF -e "$marker" -e "$m64mid" -e "$mhexmid" "$@" 2>/dev/null
}
found "$NET/broker-data" "$NET/broker.log" && die "the broker's data or log holds the content"
found "$NET/gemeente-amsterdam-data" "$NET/gemeente-amsterdam.log" &&
	die "the municipality holds data the policy withheld from it"
# the test can fail: the sender's outbox and om's inbox do hold it
found "$NET/om-data" || die "marker search is broken: om's inbox should hold it"
echo "# marker $marker (also as base64 and hex) absent from the broker's data and log and from the excluded recipient; present at om"
