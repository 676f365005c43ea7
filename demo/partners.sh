#!/usr/bin/env bash
# The longer demo (make demo-partners), every
# partner of the programme exchanging on a real keten network on this
# machine, under the shipped policy policy/stm.yaml: a broker and one agent
# per agency of the directory (police, prosecution, labour inspectorate,
# marechaussee, two municipalities, the RIEC, CoMensha, a care provider).  A
# cleaning company that recruits abroad: the marechaussee's border signal to
# the municipality for care and to the police in full (not to the
# prosecution service), victim registrations to CoMensha, the case brought to
# the RIEC for joint analysis by the municipality, the police and the NLA and
# the RIEC's advice back to those three (companies and signals, no persons;
# not to the care provider, not for another region), a victim placed with a
# care provider, the referral to the prosecution service and its update
# closing the case.  It prints what each agency received and what was
# withheld from whom under which rule, and what was refused and why.  The
# network stays in DEMO_DIR (default build/demo-partners).
# tests/integ/t_partners.sh plays the same flows and checks every inbox.  All
# data is invented.
#
# The helpers say, note and the DEMO_DIR handling are copied from
# demo/demo.sh (not sourced: that would run its demo); the text helpers are
# demo/format.awk's.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
KETEN_BIN=${KETEN_BIN:-bin}
bin_shown=$KETEN_BIN			# as the reader typed it, for the hints at the end
DEMO_DIR=${DEMO_DIR:-build/demo-partners}
# shellcheck disable=SC2034  # read by lib.sh
NET_DATA_SUFFIX=			# data in DEMO_DIR/broker, DEMO_DIR/politie, ...
# shellcheck source=SCRIPTDIR/../tests/integ/lib.sh
. "$here/../tests/integ/lib.sh"
. "$here/common.sh"
trap - EXIT
trap '[ -z "${NET:-}" ] || net_stop 2>/dev/null || true' EXIT
# accepted like demo.sh's environment; this demo needs no test binary
KETEN_TESTBIN=${KETEN_TESTBIN:-build/tests}
M=$here/messages
REGION=(--attr region=amsterdam-amstelland)

FMT=$(cat "$here/format.awk")
# note NAME ID: the message ids, for the curious
note() { echo "$1 $2" >>"$NET/messages.txt"; }
fold() { awk "$FMT"'{ print wrap($0, 100, 4) }'; }
# withheld FILE: keten send's report ("ID: withheld from R: PATH: REASON",
# "ID: not sent to R: REASON") per recipient, then per reason
withheld() {
	[ -s "$1" ] || { echo "   nothing withheld"; return; }
	awk -F': ' "$FMT"'
		$2 ~ /^not sent to / { r = substr($2, 13); if (!(r in seen)) { rs[++nr] = r; seen[r] = 1 }
			notsent[r] = $3; next }
		$2 ~ /^withheld from / {
			r = substr($2, 15); why = $4; if (why == "not-granted") why = "not granted (no rule gives it)"
			if (!(r in seen)) { rs[++nr] = r; seen[r] = 1 }
			k = r SUBSEP why
			if (!(k in list)) { order[r, ++nk[r]] = why; list[k] = $3 } else list[k] = list[k] ", " $3 }
		END { for (i = 1; i <= nr; i++) { r = rs[i]
			if (r in notsent) { print "   not sent to " r ": " notsent[r]; continue }
			print "   withheld from " r ":"
			for (j = 1; j <= nk[r]; j++) print wrap("     " order[r, j] ": " compress(list[r SUBSEP order[r, j]]), 100, 4) } }' "$1"
}
# send NAME FROM TO TYPE PURPOSE FILE [OPTION...]: hand FILE to FROM's agent,
# print the message id and what was withheld; the id is in $ID and noted as NAME
send() {
	local name=$1 from=$2 to=$3 type=$4 purpose=$5 file=$6
	shift 6
	ID=$("$KETEN" send --config "$NET/$from.yaml" --to "$to" --type "$type" --purpose "$purpose" \
		--file "$file" "$@" 2>"$NET/withheld-$name.txt")
	note "$name" "$ID"
	echo "$from -> ${to//,/, }  $type for $purpose: accepted $ID"
	withheld "$NET/withheld-$name.txt"
}
# refused FROM TO TYPE PURPOSE FILE [OPTION...]: a send the agent refuses; its answer
refused() {
	local from=$1 to=$2 type=$3 purpose=$4 file=$5
	shift 5
	echo "$from -> ${to//,/, }  $type for $purpose: refused"
	if "$KETEN" send --quiet --config "$NET/$from.yaml" --to "$to" --type "$type" --purpose "$purpose" \
		--file "$file" "$@" >/dev/null 2>"$NET/refused.txt"; then
		echo "demo: the agent accepted what the policy should refuse" >&2
		exit 1
	fi
	sed 's/^keten send: not sent: /   /; s/; the refusal goes into the ledger as message .*/ (the refusal is in the ledger)/' \
		"$NET/refused.txt" | fold
}
# wait_for AGENCY=N...: each inbox holds N messages
wait_for() {
	local x
	for x; do wait_inbox "${x%=*}" "${x#*=}" 30 >/dev/null || die "not everything reached ${x%=*}"; done
}

demo_dir_prepare

echo "keten demo, every partner: a cleaning company that recruits abroad, played by real keten processes."
echo "Every name, number and key below is invented."
say "1. the network: a broker and the nine agencies of the directory, under policy/stm.yaml"
# shellcheck disable=SC2119  # net_create: the agencies of policy/stm.yaml
NET_DIR=$DEMO_DIR net_create
read -ra AGENTS <<<"$NET_AGENCIES"
# the display names of policy/directory.example.yaml; the board approves them with the rest
while read -r id name; do
	sed -i "s/^\(  - id: $id\)\$/\1\n    name: $name/" "$NET/directory.yaml"
done <<'EON'
politie Nationale Politie (AVIM)
om Openbaar Ministerie
nla Nederlandse Arbeidsinspectie
kmar Koninklijke Marechaussee
gemeente-amsterdam Gemeente Amsterdam (zorgcoördinatie)
gemeente-rotterdam Gemeente Rotterdam
riec-amsterdam RIEC Amsterdam-Amstelland
comensha CoMensha
zorg-amstel Zorgcentrum Amstel (fictief)
EON
approve_directory "$NET/directory.yaml"
# the key for case pseudonyms: agents and auditors hold it, the broker does not
printf 'network_key: "%s"\n' "$(head -c 32 /dev/urandom | base64)" >"$NET/keys/network.key"
chmod 600 "$NET/keys/network.key"
for a in "${AGENTS[@]}"; do echo "network_key: keys/network.key" >>"$NET/$a.yaml"; done
broker_start
for a in "${AGENTS[@]}"; do agent_start "$a"; done
echo "started: keten-broker ($(grep -h 'active policy' "$NET/broker.log" | sed 's/.*active //'))"
agents="${AGENTS[*]}"
echo "         keten-agent for ${agents// /, }" | fold
echo "keys in $DEMO_DIR/keys/, the agency directory $DEMO_DIR/directory.yaml"

say "2. the marechaussee's border check at Schiphol (its case KMAR-SPL-2026-0412)"
echo "demo/messages/kmar_border_signal.json: two women hired abroad as hotel cleaners (possible victims,"
echo "with passports), the man who holds their passports (suspect), the company, the car at Arrivals."
echo "To the municipality, for care; KMar's system also addresses CoMensha:"
send border-care kmar gemeente-amsterdam,comensha CaseSignal victim-care "$M/kmar_border_signal.json" \
	--case KMAR-SPL-2026-0412
echo "To the police, for investigation: every person, passport, the company and the car (rule"
echo "signal-kmar-to-police):"
send border-signal kmar politie CaseSignal investigation "$M/kmar_border_signal.json" --case KMAR-SPL-2026-0412
echo "Not straight to the prosecution service: KMar's signals go to the police."
refused kmar om CaseSignal investigation "$M/kmar_border_signal.json" --case KMAR-SPL-2026-0412
echo "KMar registers each woman with CoMensha, the national registration of possible victims"
echo "(demo/messages/registration_comensha.json, registration_comensha_2.json: no names, no documents):"
send registration-1 kmar comensha VictimRegistration victim-registration "$M/registration_comensha.json" \
	--case KMAR-SPL-2026-0412
send registration-2 kmar comensha VictimRegistration victim-registration "$M/registration_comensha_2.json" \
	--case KMAR-SPL-2026-0412

say "3. three partners bring the company to the RIEC for joint analysis (region amsterdam-amstelland)"
echo "the municipality: fourteen people registered at one house of the company's director"
send riec-gemeente gemeente-amsterdam riec-amsterdam CaseSignal joint-analysis "$M/riec_signal_gemeente.json" \
	"${REGION[@]}" --case AMS-HH-2026-0219
sig_gemeente=$ID
echo "the police: the escort, known from an earlier case, and the car"
send riec-politie politie riec-amsterdam CaseSignal joint-analysis "$M/riec_signal_politie.json" \
	"${REGION[@]}" --case PL-AVIM-2026-1301
sig_politie=$ID
echo "the labour inspectorate: an inspection at a hotel the company cleans for"
send riec-nla nla riec-amsterdam CaseSignal joint-analysis "$M/riec_signal_nla.json" "${REGION[@]}" \
	--case NLA-2026-0533
sig_nla=$ID
echo "The RIEC's advice back to the three partners (demo/messages/riec_advice.json, a CaseReferral"
echo "naming the company and the three signals, no persons; rule advice-riec-to-partners):"
sed "s/00000000-0000-4000-8000-000000000001/$sig_gemeente/; s/00000000-0000-4000-8000-000000000002/$sig_politie/;
	s/00000000-0000-4000-8000-000000000003/$sig_nla/" "$M/riec_advice.json" >"$NET/riec_advice.json"
send riec-advice riec-amsterdam politie,nla,gemeente-amsterdam CaseReferral joint-analysis \
	"$NET/riec_advice.json" "${REGION[@]}" --case RIEC-AA-2026-0031
echo "Not to the care provider, and not about a case of another region:"
refused riec-amsterdam zorg-amstel CaseReferral joint-analysis "$NET/riec_advice.json" "${REGION[@]}"
refused riec-amsterdam politie,nla,gemeente-amsterdam CaseReferral joint-analysis "$NET/riec_advice.json" \
	--attr region=rotterdam-rijnmond

say "4. care: the municipality places Natalia with a care provider"
echo "demo/messages/care_notice.json: her phone, the shelter's address, her residence document"
send care-notice gemeente-amsterdam zorg-amstel CareNotice victim-care "$M/care_notice.json" \
	--case AMS-ZC-2026-0102
echo "and tells the police she is in care (the same notice, for investigation):"
send care-police gemeente-amsterdam politie CareNotice investigation "$M/care_notice.json" \
	--case AMS-ZC-2026-0102

say "5. the police refer the case to the prosecution service; its update closes the case"
send referral politie om CaseReferral prosecution "$M/referral_om.json" --case PL-AVIM-2026-1301
referral=$ID
echo "demo/messages/update_closing.json, about the referral: closed, with a conviction"
sed "s/00000000-0000-4000-8000-000000000000/$referral/" "$M/update_closing.json" >"$NET/update_closing.json"
send closing om politie,kmar,nla CaseUpdate investigation "$NET/update_closing.json" --case OM-AMS-2026-0877
send closing-care om gemeente-amsterdam CaseUpdate victim-care "$NET/update_closing.json" --case OM-AMS-2026-0877
wait_for politie=4 om=1 nla=2 kmar=1 gemeente-amsterdam=3 riec-amsterdam=3 comensha=2 zorg-amstel=1

say "6. what each agency holds, read from its own inbox (keten inbox --json)"
for a in "${AGENTS[@]}"; do "$KETEN" inbox --config "$NET/$a.yaml" --all --json >"$NET/$a.inbox.jsonl"; done
{ "$KETEN_PYTHON" - "$NET" "${AGENTS[@]}" <<'EOPY'
import json, sys
net, agencies = sys.argv[1], sys.argv[2:]

def persons(m):
    for k in ("persons", "aboutPersons"):
        yield from m.get(k, [])
    if "victim" in m:
        yield dict(m["victim"], role="PERSON_ROLE_POSSIBLE_VICTIM")

def count(obj, key):
    if isinstance(obj, dict):
        return (key in obj) + sum(count(v, key) for v in obj.values())
    if isinstance(obj, list):
        return sum(count(v, key) for v in obj)
    return 0

print("   %-19s %-4s %-14s %-14s %-10s %-9s %s" % ("", "msgs", "victims named", "suspects named",
      "id papers", "companies", "vehicles"))
lists = []
for a in agencies:
    items = [json.loads(l) for l in open("%s/%s.inbox.jsonl" % (net, a)) if l.strip()]
    victims, suspects, kvk = set(), set(), set()
    docs = vehicles = 0
    for it in items:
        m = it["message"]
        for p in persons(m):
            name = p.get("familyName")
            if name and p.get("role") == "PERSON_ROLE_POSSIBLE_VICTIM":
                victims.add(name)
            if name and p.get("role") == "PERSON_ROLE_SUSPECT":
                suspects.add(name)
        docs += count(m, "identityDocument")
        vehicles += len(m.get("vehicles", []))
        for c in m.get("companies", []) + m.get("aboutCompanies", []):
            kvk.add(c.get("kvkNumber", c.get("name")))
    print("   %-19s %-4d %-14d %-14d %-10d %-9d %d" % (a, len(items), len(victims), len(suspects), docs,
          len(kvk), vehicles))
    lists.append("   %s: %s" % (a, ", ".join("%s from %s" % (it["type"], it["sender"]) for it in items) or "nothing"))
print("(distinct victims and suspects by name, identity documents and vehicles over all copies)")
print("\n".join(lists))
EOPY
} | fold
echo "No identity document reached the care provider, the municipality or CoMensha; no suspect or"
echo "car the care provider or the municipality; no victim or witness the RIEC, and its advice names no"
echo "one; CoMensha holds two registrations without names."

say "7. the auditor: the ledger verified, with the nine agencies' cosignatures"
sleep 2		# the witnesses cosign every few heartbeats
echo "\$ keten audit verify --ledger $DEMO_DIR/broker --key keys/broker.public.yaml --directory directory.yaml"
"$KETEN" audit verify --ledger "$NET/broker" --key "$NET/keys/broker.public.yaml" \
	--directory "$NET/directory.yaml" 2>/dev/null | sed 's/^/   /' | fold
echo "what CoMensha received, by rule and legal basis, as the ledger has it:"
"$KETEN" audit query --ledger "$NET/broker" --recipient comensha 2>/dev/null | sed 's/^/   /' | fold

say "8. stop everything"
demo_stop
echo "The network stays in $DEMO_DIR: broker/ (ledger and queue), one directory per agency,"
echo "*.yaml, *.log, keys/, messages.txt (the message ids), withheld-*.txt (what keten send reported)."
echo "Try next (no broker runs, so these queries are read-only and not logged):"
k="$bin_shown/keten"
cat <<EOF
   $k audit report --ledger $DEMO_DIR/broker --case-ref KMAR-SPL-2026-0412 --case-sender kmar \\
       --policy $DEMO_DIR/policy.yaml --network-key $DEMO_DIR/keys/network.key
   $k audit query --ledger $DEMO_DIR/broker --recipient riec-amsterdam
   $k policy explain --from riec-amsterdam --to gemeente-amsterdam --type CaseReferral --purpose joint-analysis \\
       --attr region=amsterdam-amstelland --policy $DEMO_DIR/policy.yaml demo/messages/riec_advice.json
EOF
