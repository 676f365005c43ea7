# -n checks the configuration and exits; both daemons refuse a secret key
# file that group or others can read, naming the file; errors name file:line.
. "$(dirname "$0")/lib.sh"
net_create politie om
out=$("$KETEN_BIN/keten-broker" -n --config "$NET/broker.yaml") || die "broker -n failed: $out"
echo "$out" | grep -q "configuration OK" || die "broker -n said: $out"
out=$("$KETEN_BIN/keten-agent" -n --config "$NET/politie.yaml") || die "agent -n failed: $out"

chmod 640 "$NET/keys/politie.secret"
if out=$("$KETEN_BIN/keten-agent" -n --config "$NET/politie.yaml" 2>&1); then die "agent accepted a 0640 key"; fi
echo "$out" | grep -q "keys/politie.secret: secret file is accessible by group or others (mode 0640)" ||
	die "agent error does not name the key file: $out"
chmod 604 "$NET/keys/broker.secret"
if out=$("$KETEN_BIN/keten-broker" -n --config "$NET/broker.yaml" 2>&1); then die "broker accepted a 0604 key"; fi
echo "$out" | grep -q "keys/broker.secret: secret file is accessible" || die "broker error: $out"
chmod 600 "$NET/keys/politie.secret" "$NET/keys/broker.secret"

echo "listen_on: tcp://127.0.0.1:1" >>"$NET/broker.yaml"
if out=$("$KETEN_BIN/keten-broker" -n --config "$NET/broker.yaml" 2>&1); then die "unknown key accepted"; fi
echo "$out" | grep -q 'broker.yaml:8:1: unknown key "listen_on"' || die "broker error: $out"

# keys of another agency
sed -i 's#keys/om.secret#keys/politie.secret#' "$NET/om.yaml"
if out=$("$KETEN_BIN/keten-agent" -n --config "$NET/om.yaml" 2>&1); then die "wrong keys accepted"; fi
echo "$out" | grep -q 'keys belong to "politie"' || die "agent error: $out"

# one daemon per data directory
sed -i '$d' "$NET/broker.yaml"
broker_start
if out=$(timeout 5 "$KETEN_BIN/keten-broker" --config "$NET/broker.yaml" 2>&1); then die "second broker started"; fi
echo "$out" | grep -q "another process is using this data directory" || die "second broker: $out"

# keten send reports an agent that is not running
if out=$("$KETEN" send --config "$NET/politie.yaml" --to om --type t --purpose p --body x 2>&1); then
	die "send without an agent succeeded"
fi
echo "# -n, key permissions, unknown keys, foreign keys and double start all refused with clear errors"
