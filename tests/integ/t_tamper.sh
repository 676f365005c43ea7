# An insider with disk access changes the stopped broker's ledger: flips a
# byte in an entry, deletes one, swaps two, truncates the tail.  Each time
# `keten audit verify` fails and names what is wrong.
. "$(dirname "$0")/lib.sh"
net_create
broker_start
agent_start politie
agent_start om
seq -f '{"reference":"T-%g"}' 1 10 | "$KETEN" send --config "$NET/politie.yaml" --to om \
	--type CaseReferral --purpose prosecution --lines >/dev/null || die "send failed"
wait_inbox om 10 30 || die "not delivered"
for i in $(seq 100); do [ "$(ledger_count DELIVERED)" -ge 10 ] && break; sleep 0.1; done
net_stop
audit_verify >/dev/null
cp -a "$NET/broker-data" "$NET/pristine"

tamper() {	# tamper WHAT ARGS... EXPECTED-TEXT
	local expect=${*: -1} out
	rm -rf "$NET/broker-data" && cp -a "$NET/pristine" "$NET/broker-data"
	"$KETEN_TESTBIN/ledgertamper" "$NET/broker-data" "${@:1:$#-1}" || die "ledgertamper $* failed"
	if out=$("$KETEN" audit verify --data "$NET/broker-data" --key "$NET/keys/broker.public.yaml"); then
		die "verify passed after: $*"
	fi
	echo "$out" | grep -q "$expect" || die "after $1: expected \"$expect\", got: $out"
	echo "# $1: $out"
}
tamper flip 7 "entry 7 is not what was logged"
tamper delete 5 "FAIL entry 5: missing (entry 6 follows entry 4)"
n=$("$KETEN" audit verify --data "$NET/pristine" --key "$NET/keys/broker.public.yaml" | grep -o '[0-9]* entries' | head -1 | cut -d' ' -f1)
tamper delete $((n - 1)) "entry $((n - 1)) was removed"
tamper foreign 0 "a record with a 3-byte key, which is no entry number, lies where entry 0 should be"
tamper swap 3 4 "FAIL entry 3: not a ledger entry, or its seq is wrong"
tamper truncate 20 "entries 20 to $((n - 1)) were removed"
