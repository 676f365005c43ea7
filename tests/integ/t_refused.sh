# An agent whose key is not in the directory is refused, and nothing is
# delivered to it; the refusal is logged with its public key.
. "$(dirname "$0")/lib.sh"
net_create politie om
mkdir -m 700 "$NET/impostor"
"$KETEN" keygen --agency om --out "$NET/impostor" >/dev/null
agent_config om "$NET/impostor/om.secret" | sed 's/^data_dir: .*/data_dir: impostor-data/' |
	config_write "$NET/impostor.yaml"
broker_start
agent_start politie
"$KETEN_BIN/keten-agent" --config "$NET/impostor.yaml" >>"$NET/impostor.log" 2>&1 &
echo $! >"$NET/impostor.pid"
wait_for_file "$NET/impostor-data/api.sock"

seq -f '{"reference":"for-om-%g"}' 1 20 | "$KETEN" send --config "$NET/politie.yaml" --to om \
	--type CaseReferral --purpose prosecution --lines \
	>"$NET/sent.ids" || die "send failed"
sleep 2
n=$("$KETEN" inbox --config "$NET/impostor.yaml" --all | wc -l)
[ "$n" -eq 0 ] || die "impostor received $n messages"
key=$(grep transport_key "$NET/impostor/om.public.yaml" | sed 's/.*"\(.*\)"/\1/')
grep -qF "key-refused: transport key $key" "$NET/broker.log" || die "refusal not logged with the key"
grep -q "session with the broker established" "$NET/impostor.log" && die "impostor got a session"
# in the ledger too, once a minute per key and address however often it retries
n=$("$KETEN" audit query --json --ledger "$NET/broker-data" --kind KEY_REFUSED 2>/dev/null | grep -cF -- "$key")
[ "$n" -eq 1 ] || die "$n KEY_REFUSED entries for the impostor's key in 2 s, expected 1"

# the raw protocol view: an unlisted key gets no answer at all
"$KETEN_TESTBIN/rawpeer" --endpoint "ipc://$NET/broker.sock" --server-key "$BROKER_KEY" \
	--keys "$NET/impostor/om.secret" --expect-refused || die "rawpeer check failed"

# the real om, with its listed key, gets everything
proc_stop impostor
agent_start om
wait_inbox om 20 30 || die "real om did not receive"
check_inbox om politie "$NET/sent.ids"
echo "# impostor refused and logged; 20 messages held for and delivered to the real om"
