# Agents are witnesses: they cosign each newer checkpoint after checking it
# extends the one they saw; a broker whose ledger is rolled back (restored
# from an old copy) is caught by the first agent that talks to it.
. "$(dirname "$0")/lib.sh"
net_create
broker_start
agent_start politie
agent_start om

send() {
	seq -f "{\"reference\":\"W-$1-%g\"}" 1 5 | "$KETEN" send --config "$NET/politie.yaml" --to om \
		--type CaseReferral --purpose prosecution --lines >/dev/null || die "send failed"
}
cosigned_by() {	# cosigned_by AGENCY MIN_SIZE: AGENCY cosigned a checkpoint of size >= MIN_SIZE
	"$KETEN" audit verify --data "$NET/broker-data" --key "$NET/keys/broker.public.yaml" |
		sed -n "s/^cosignatures:.* $1=\([0-9]*\).*/\1/p" | awk -v m="$2" '{ if ($1 >= m) ok = 1 } END { exit !ok }'
}

send 1
wait_inbox om 5 30 || die "not delivered"
sleep 0.5
size1=$("$KETEN" audit verify --data "$NET/broker-data" --key "$NET/keys/broker.public.yaml" |
	sed -n 's/.*newest: size \([0-9]*\),.*/\1/p')
for i in $(seq 150); do cosigned_by om "$size1" && cosigned_by politie "$size1" && break; sleep 0.2; done
cosigned_by om "$size1" || die "om did not cosign checkpoint $size1"
cosigned_by politie "$size1" || die "politie did not cosign checkpoint $size1"
"$KETEN" audit verify --data "$NET/broker-data" --key "$NET/keys/broker.public.yaml" \
	--directory "$NET/directory.yaml" | grep -q "^cosignatures: .*(all verified)$" ||
	die "cosignatures do not verify"
echo "# politie and om cosigned checkpoint $size1; keten audit verify checked every cosignature"

# an operator keeps an old copy of the broker's data, traffic goes on, agents witness it
proc_stop broker
cp -a "$NET/broker-data" "$NET/broker-data.old"
broker_start
send 2
wait_inbox om 10 30 || die "not delivered after restart"
sleep 0.5
size2=$("$KETEN" audit verify --data "$NET/broker-data" --key "$NET/keys/broker.public.yaml" |
	sed -n 's/.*newest: size \([0-9]*\),.*/\1/p')
for i in $(seq 150); do cosigned_by om "$size2" && break; sleep 0.2; done
cosigned_by om "$size2" || die "om did not cosign checkpoint $size2"

# the broker comes back with the old copy: its history lost entries
proc_stop broker
rm -rf "$NET/broker-data"
mv "$NET/broker-data.old" "$NET/broker-data"
broker_start
for i in $(seq 300); do grep -q "LEDGER ROLLED BACK" "$NET/om.log" && break; sleep 0.1; done
# (om saw at least size2: each keten audit call since was logged as an entry too)
saw=$(sed -n 's/.*LEDGER ROLLED BACK: the broker shows [0-9]* entries, we saw \([0-9]*\).*/\1/p' "$NET/om.log" | head -n 1)
[ -n "$saw" ] && [ "$saw" -ge "$size2" ] || die "om did not catch the rollback (saw '$saw', size2 $size2)"
grep -q "agency om reports error 1: ROLLED BACK" "$NET/broker.log" || die "the rollback was not reported"
echo "# the broker restored from an old copy of its data was caught by om: $(grep -h -m1 'LEDGER ROLLED BACK' "$NET/om.log" | sed 's/.*LEDGER //')"
# the rolled-back broker's own log still verifies as a ledger: only witnesses can tell
"$KETEN" audit verify --data "$NET/broker-data" --key "$NET/keys/broker.public.yaml" >/dev/null ||
	die "the old copy should verify on its own"
