# The audit ledger with real processes: every decision logged (accepted per
# copy, rejected with its reason, delivered), no content and no case
# reference in it, `keten audit verify` passes while the broker runs, and a
# ledger altered on disk is caught.
. "$(dirname "$0")/lib.sh"
net_create
printf 'network_key: "%s"\n' "$(head -c 32 /dev/urandom | base64)" >"$NET/keys/network.key"
chmod 600 "$NET/keys/network.key"
echo "network_key: keys/network.key" >>"$NET/politie.yaml"
broker_start
agent_start politie
agent_start om
agent_start gemeente-amsterdam

awk 'BEGIN { for (i = 1; i <= 20; i++) printf "{\"reference\":\"L-%d\",\"summary\":\"secret summary %d\"}\n", i, i }' |
	"$KETEN" send --config "$NET/politie.yaml" --to om --type CaseReferral --purpose prosecution \
	--case "PL-CASE-4711" --lines >"$NET/sent.ids" || die "send failed"
# a rejection: a municipality may not answer the police through keten
"$KETEN" send --config "$NET/politie.yaml" --to gemeente-amsterdam --type CaseSignal --purpose victim-care \
	--body '{"reference":"L-21","persons":[{"role":"PERSON_ROLE_POSSIBLE_VICTIM","givenName":"Eva"}]}' \
	>/dev/null 2>&1 || die "signal not sent"
wait_inbox om 20 30 || die "not delivered"
wait_inbox gemeente-amsterdam 1 30 || die "not delivered to the municipality"
sleep 0.5

# the sender holds a receipt for each copy: entry, signed checkpoint, inclusion proof
id1=$(head -n 1 "$NET/sent.ids")
st=$("$KETEN" status --config "$NET/politie.yaml" "$id1") || die "status failed"
echo "$st" | grep -q "receipt: ledger entry #[0-9]* (to om) in checkpoint [0-9]* of keten.local/ledger: inclusion verified" ||
	die "no verified receipt: $st"
grep -q "DOES NOT VERIFY" "$NET/politie.log" && die "a receipt failed to verify"

# verify while the broker runs
v=$(audit_verify)
[ "$(ledger_count ACCEPTED recipient=om)" -eq 20 ] || die "accepted entries for om: $(ledger_count ACCEPTED recipient=om)"
[ "$(ledger_count DELIVERED)" -eq 21 ] || die "delivered entries: $(ledger_count DELIVERED)"
[ "$(ledger_count POLICY_ACTIVATED)" -ge 1 ] || die "no policy activation entry"
"$KETEN" audit log --json --data "$NET/broker-data" | grep '"recipient":"gemeente-amsterdam"' |
	grep -q '"ruleIds":\["signal-police-to-municipality-care"\]' || die "rule ids not logged"
"$KETEN" audit log --json --data "$NET/broker-data" | grep -q '"casePseudonym":"[0-9a-f]\{64\}"' ||
	die "no case pseudonym logged"
"$KETEN" audit log --json --data "$NET/broker-data" | grep -q 'PL-CASE-4711\|secret summary\|Eva' &&
	die "the ledger holds a case reference or content"
# queries through the indexes: by case (the auditor computes the pseudonym), message, rule.
# The broker writes all indexes but the message id's in bulk once submissions
# pause (ledger_index_catchup); until then a query scans the newest entries.
# Wait until it has (meta indexed_upto = ledger_size) to count what is read.
meta() { mdb_dump -p -s meta "$NET/broker-data" 2>/dev/null | awk -v k=" $1" '$0 == k { getline; print; exit }'; }
for i in $(seq 100); do
	[ -n "$(meta ledger_size)" ] && [ "$(meta indexed_upto)" = "$(meta ledger_size)" ] && break
	sleep 0.1
done
[ "$(meta indexed_upto)" = "$(meta ledger_size)" ] ||
	die "the broker did not index the ledger: indexed_upto $(meta indexed_upto), ledger_size $(meta ledger_size)"
n=$("$KETEN" audit query --json --data "$NET/broker-data" --case-ref PL-CASE-4711 --case-sender politie \
	--network-key "$NET/keys/network.key" 2>"$NET/q.err" | wc -l)
[ "$n" -eq 20 ] || die "query by case found $n entries, expected 20"
# 21 read: the query's own AUDIT_QUERY entry names the case too, and is not listed
grep -q "^20 entries (21 read through the index)" "$NET/q.err" || die "case query not proportional: $(cat "$NET/q.err")"
n=$("$KETEN" audit query --json --data "$NET/broker-data" --message "$id1" 2>"$NET/q.err" | wc -l)
[ "$n" -eq 2 ] || die "query by message found $n entries, expected 2 (accepted, delivered)"
grep -q "^2 entries (2 read through the index)" "$NET/q.err" || die "message query: $(cat "$NET/q.err")"
n=$("$KETEN" audit query --json --data "$NET/broker-data" --rule signal-police-to-municipality-care 2>/dev/null | wc -l)
[ "$n" -eq 1 ] || die "query by rule found $n entries"
n=$("$KETEN" audit query --json --data "$NET/broker-data" --recipient om --since 2020-01-01T00:00:00Z 2>/dev/null | wc -l)
[ "$n" -eq 40 ] || die "query by recipient found $n entries, expected 40"
n=$("$KETEN" audit query --json --data "$NET/broker-data" --recipient om --kind DELIVERED 2>/dev/null | wc -l)
[ "$n" -eq 20 ] || die "query by recipient and kind found $n entries, expected 20"
n=$("$KETEN" audit query --json --data "$NET/broker-data" --sender politie --type CaseSignal 2>/dev/null | wc -l)
[ "$n" -eq 1 ] || die "query by sender and type found $n entries, expected 1"
"$KETEN" audit stats --data "$NET/broker-data" >"$NET/stats.txt" 2>/dev/null
grep -q "^  politie -> om  *20  *0  *20  *0$" "$NET/stats.txt" || die "stats: $(cat "$NET/stats.txt")"
grep -q "^  referral-police-to-om  *20  *0  *20  *0$" "$NET/stats.txt" || die "stats per rule wrong"
grep -q "^  DELIVERED  *21$" "$NET/stats.txt" || die "stats per kind wrong: $(cat "$NET/stats.txt")"
"$KETEN" audit stats --json --data "$NET/broker-data" 2>/dev/null | python3 -c '
import json, sys
s = json.load(sys.stdin)
p = [x for x in s["pairs"] if x["key"] == "politie -> om"][0]
assert (p["accepted"], p["rejected"], p["delivered"]) == (20, 0, 20), p
assert s["kinds"]["ACCEPTED"] == 21, s["kinds"]' || die "stats --json wrong"
echo "# queries by case pseudonym, message id, rule, recipient, kind and type read only their answer; stats per pair and rule"

# the processing overview of one case, for the auditor
"$KETEN" audit report --data "$NET/broker-data" --case-ref PL-CASE-4711 --case-sender politie \
	--network-key "$NET/keys/network.key" >"$NET/report.txt" || die "report failed"
grep -q "^20 ledger entries for this case" "$NET/report.txt" || die "report: $(tail -n 3 "$NET/report.txt")"
grep -q "CaseReferral from politie" "$NET/report.txt" || die "report lacks the exchanges"
grep -q "^  to om: accepted (#[0-9]*), delivered 20" "$NET/report.txt" || die "report lacks the deliveries"
grep -q "purpose prosecution; legal basis wpg-art-16; rule referral-police-to-om" "$NET/report.txt" ||
	die "report lacks purpose, basis or rule"
grep -q "fields received (2): reference, summary" "$NET/report.txt" || die "report lacks the fields"
grep -q "^2 auditors' queries of this case logged" "$NET/report.txt" || die "report: $(tail -n 1 "$NET/report.txt")"

# the auditors' own queries are in the ledger, before they ran: who (the spool
# file's owner), what (options, the case reference withheld), the case pseudonym
me=$(id -un)
"$KETEN" audit query --json --ledger "$NET/broker-data" --kind AUDIT_QUERY >"$NET/aq.jsonl" 2>/dev/null ||
	die "query of audit queries failed"
nq=$(wc -l <"$NET/aq.jsonl")
[ "$nq" -ge 11 ] || die "only $nq audit queries logged"
grep -q "\"actor\":\"auditor:$me\".*\"casePseudonym\":\"[0-9a-f]\{64\}\".*\"reasonCode\":\"report\".*--case-ref (withheld)" \
	"$NET/aq.jsonl" || die "the report's audit entry: $(grep report "$NET/aq.jsonl")"
grep -q '"reasonCode":"query","reason":"keten audit query --json --ledger [^"]* --kind AUDIT_QUERY"' "$NET/aq.jsonl" ||
	die "the query did not log itself first: $(tail -n 1 "$NET/aq.jsonl")"
"$KETEN" audit log --json --data "$NET/broker-data" | grep -q 'PL-CASE-4711' && die "a case reference reached the ledger"
[ -z "$(ls "$NET/broker-data/audit-spool")" ] || die "records left in the spool: $(ls "$NET/broker-data/audit-spool")"
# a record that is not one is logged as malformed, with its owner, and removed
printf 'keten-audit-query/v1\nid zz\n' >"$NET/broker-data/audit-spool/.t"
mv "$NET/broker-data/audit-spool/.t" "$NET/broker-data/audit-spool/0123456789abcdef0123456789abcdef.q"
for _ in $(seq 50); do [ -e "$NET/broker-data/audit-spool/0123456789abcdef0123456789abcdef.q" ] || break; sleep 0.1; done
"$KETEN" audit query --json --data "$NET/broker-data" --kind AUDIT_QUERY 2>/dev/null |
	grep -q "\"actor\":\"auditor:$me\".*\"reasonCode\":\"malformed\",\"reason\":\"line 2: bad value for \\\\\"id\\\\\"\"" ||
	die "malformed record not logged: $(tail -n 2 "$NET/aq.jsonl")"
echo "# $nq audit queries logged with their auditor before they ran; a malformed record logged and removed"

# the Logboek Dataverwerkingen export: one record per entry, pseudonymous subject, no content
"$KETEN" audit export --data "$NET/broker-data" --format logboek >"$NET/logboek.jsonl" || die "export failed"
# (+1: the log call's own AUDIT_QUERY entry, written before it reads)
[ "$(($(wc -l <"$NET/logboek.jsonl") + 1))" -eq "$("$KETEN" audit log --json --data "$NET/broker-data" | wc -l)" ] ||
	die "export and ledger differ in size"
grep -q '"trace_id":"[0-9a-f]\{32\}".*"name":"ACCEPTED".*"dpl.core.processing_activity_id":"prosecution","dpl.core.data_subject_id":"[0-9a-f]\{64\}"' \
	"$NET/logboek.jsonl" || die "logboek records incomplete: $(head -c 400 "$NET/logboek.jsonl")"
grep -q 'PL-CASE-4711\|secret summary' "$NET/logboek.jsonl" && die "the export holds content or a case reference"
# complete per record: rule, type and fields; a delivery names its data subject and purpose too
python3 - "$NET/logboek.jsonl" <<'EOPY' || die "logboek records lack fields"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
acc = [r for r in recs if r["name"] == "ACCEPTED"]
dlv = [r for r in recs if r["name"] == "DELIVERED"]
assert acc and dlv
for r in acc + dlv:
    a = r["attributes"]
    for k in ("keten.rule_ids", "keten.message_type", "keten.field_paths", "keten.legal_basis",
              "dpl.core.processing_activity_id", "keten.sender", "keten.recipient"):
        assert k in a, (k, r)
assert all(len(r["attributes"].get("dpl.core.data_subject_id", "")) == 64 for r in dlv
           if r["trace_id"] in {x["trace_id"] for x in acc if "dpl.core.data_subject_id" in x["attributes"]})
EOPY

# a forged manifest is logged as a rejection with its reason
"$KETEN_TESTBIN/rawpeer" --endpoint "ipc://$NET/broker.sock" --server-key "$BROKER_KEY" \
	--keys "$NET/keys/nla.secret" --forge-to gemeente-amsterdam --directory "$NET/directory.yaml" \
	>/dev/null || die "rawpeer failed"
[ "$(ledger_count REJECTED reasonCode=policy-changed)" -ge 1 ] || [ "$(ledger_count REJECTED reasonCode=policy)" -ge 1 ] ||
	die "policy rejection not logged"
v=$(audit_verify)
echo "# $v"

# proofs for third parties: checked with nothing but the proof and the broker's key
seqn=$(echo "$st" | sed -n 's/.*ledger entry #\([0-9]*\) .*/\1/p' | head -n 1)
cp1=$(echo "$st" | sed -n 's/.* in checkpoint \([0-9]*\) .*/\1/p' | head -n 1)
"$KETEN" audit prove --data "$NET/broker-data" --seq "$seqn" >"$NET/incl.proof" || die "prove failed"
"$KETEN" audit check-proof --key "$NET/keys/broker.public.yaml" "$NET/incl.proof" | grep -q "^proof OK: entry $seqn is in" ||
	die "inclusion proof did not check: $(cat "$NET/incl.proof" | head -5)"
"$KETEN" audit prove --data "$NET/broker-data" --consistency "$cp1,$(sed -n 's/^inclusion [0-9]* //p' "$NET/incl.proof")" \
	>"$NET/cons.proof" || die "consistency prove failed"
"$KETEN" audit check-proof --key "$NET/keys/broker.public.yaml" "$NET/cons.proof" | grep -q "^proof OK: the signed checkpoint" ||
	die "consistency proof did not check"
# any changed byte makes them fail
sed 's/^entry \(.\)\(.\)/entry \2\1/' "$NET/incl.proof" >"$NET/bad1.proof"
sed '3,$s/^\(proof [0-9a-f]\{10\}\)[0-9a-f]/\1f/' "$NET/cons.proof" >"$NET/bad2.proof"
cmp -s "$NET/incl.proof" "$NET/bad1.proof" && die "tampering did not change the proof"
"$KETEN" audit check-proof --key "$NET/keys/broker.public.yaml" "$NET/bad1.proof" >/dev/null && die "a changed entry passed"
if ! cmp -s "$NET/cons.proof" "$NET/bad2.proof"; then
	"$KETEN" audit check-proof --key "$NET/keys/broker.public.yaml" "$NET/bad2.proof" >/dev/null &&
		die "a changed consistency proof passed"
fi
echo "# inclusion and consistency proofs pass keten audit check-proof and fail when changed"

# the indexes are derived data: lost, queries find nothing; rebuilt from the
# entries by keten-broker --reindex, they find everything again
net_stop
q_om() { "$KETEN" audit query --json --data "$NET/broker-data" --recipient om --since 2020-01-01T00:00:00Z 2>/dev/null | wc -l; }
q_msg() { "$KETEN" audit query --json --data "$NET/broker-data" --message "$id1" 2>/dev/null | wc -l; }
n_om=$(q_om)
[ "$n_om" -ge 40 ] && [ "$(q_msg)" -eq 2 ] || die "before: $n_om entries for om, $(q_msg) of message 1"
"$KETEN_TESTBIN/ledgertamper" "$NET/broker-data" drop-index 0 || die "ledgertamper drop-index failed"
[ "$(q_om)" -eq 0 ] && [ "$(q_msg)" -eq 0 ] || die "queries still found entries without indexes"
"$KETEN_BIN/keten-broker" --config "$NET/broker.yaml" --reindex >"$NET/reindex.out" 2>&1 ||
	die "reindex failed: $(cat "$NET/reindex.out")"
grep -q "indexes rebuilt from its [0-9]* entries" "$NET/reindex.out" || die "reindex said: $(cat "$NET/reindex.out")"
[ "$(q_om)" -eq "$n_om" ] || die "after --reindex the recipient query found $(q_om) entries, expected $n_om"
[ "$(q_msg)" -eq 2 ] || die "after --reindex the message query found $(q_msg) entries, expected 2"
"$KETEN" audit verify --data "$NET/broker-data" --key "$NET/keys/broker.public.yaml" >/dev/null ||
	die "verify failed after --reindex"
echo "# indexes lost and rebuilt by keten-broker --reindex: $(cat "$NET/reindex.out")"

# alter one logged byte on disk: verify must catch it
before=$("$KETEN" audit verify --data "$NET/broker-data" --key "$NET/keys/broker.public.yaml") || die "verify failed before tampering"
perl -0777 -pi -e "s/prosecution/prosecutioN/g" "$NET/broker-data/data.mdb"
if out=$("$KETEN" audit verify --data "$NET/broker-data" --key "$NET/keys/broker.public.yaml"); then
	die "an altered ledger verified: $out"
fi
echo "$out" | grep -q "FAIL checkpoint .* the ledger was altered" || die "unexpected: $out"
echo "# one altered byte on disk: $out"
