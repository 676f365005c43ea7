# Every partner of the programme exchanging, not only the demo's four: a
# broker and one agent per agency of the directory (politie, om, nla, kmar,
# gemeente-amsterdam, gemeente-rotterdam, riec-amsterdam, comensha,
# zorg-amstel) under the shipped policy policy/stm.yaml, playing the
# messages of demo/messages/ (all invented) as demo/partners.sh does:
#   1. KMar's border signal: to the municipality for care (suspect, car and
#      passports withheld) and not to CoMensha (no rule); to the police for
#      investigation in full (rule signal-kmar-to-police), not to the OM (no
#      rule: KMar's signals go to the police); a VictimRegistration per victim
#      to CoMensha (for victim-registration only).
#   2. the municipality, the police and the NLA bring the case to the RIEC for
#      joint analysis (companies and suspects, never victims or witnesses; its
#      own region only); the RIEC's advice (a CaseReferral naming the company
#      and the three signals, no persons) goes back to those three partners
#      (rule advice-riec-to-partners), not to the care provider (no rule) and
#      not for another region (condition-false).
#   3. the municipality places a victim with the care provider (CareNotice,
#      her residence document withheld) and tells the police (not where she
#      stays).
#   4. the police refer the case to the OM; the OM's CaseUpdate closes it
#      with KMar, the police and the NLA (in full) and the municipality (not
#      the outcome text).
# Then every agency's inbox must hold exactly the messages it should, each
# copy exactly what was sent minus what keten send said was withheld from
# that recipient (field paths and values), the sender must see each copy
# delivered, and named fields with their rules are checked: no identity
# document reaches the care provider, the municipality or CoMensha, no
# suspect the care provider or the municipality, no victim the RIEC, no
# person at all in the RIEC's advice.  The auditor's report of KMar's case
# names each copy's rule and the refusal at the source.  Last, demo/partners.sh
# plays the same flows on its own network and must print the same holdings.
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "$0")/lib.sh"
M=$KETEN_ROOT/demo/messages

# shellcheck disable=SC2119  # net_create: the agencies of policy/stm.yaml
net_create
read -ra all <<<"$NET_AGENCIES"
[ ${#all[@]} -eq 9 ] || die "the network has ${#all[@]} agencies, expected 9: $NET_AGENCIES"
# the key for case pseudonyms (keten send --case): agents and auditors hold it, the broker does not
(umask 077 && printf 'network_key: "%s"\n' "$(head -c 32 /dev/urandom | base64)" >"$NET/keys/network.key")
for a in $NET_AGENCIES; do echo "network_key: keys/network.key" >>"$NET/$a.yaml"; done
broker_start
for a in $NET_AGENCIES; do agent_start "$a"; done
: >"$NET/ids"

# send NAME FROM TO TYPE PURPOSE FILE [OPTION...]: FROM's system hands FILE to
# its agent, which must accept it.  The message id is recorded as NAME in
# NET/ids with its sender, type and recipients; the file sent is NET/NAME.sent,
# what keten send reported withheld (standard error) NET/NAME.withheld.
send() {
	local name=$1 from=$2 to=$3 type=$4 purpose=$5 id
	[ -e "$NET/$name.sent" ] || cp "$6" "$NET/$name.sent"
	shift 6
	id=$("$KETEN" send --config "$NET/$from.yaml" --to "$to" --type "$type" --purpose "$purpose" \
		--file "$NET/$name.sent" "$@" 2>"$NET/$name.withheld") ||
		die "$from's $name ($type to $to) was not accepted: $(cat "$NET/$name.withheld")"
	[[ $id =~ ^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$ ]] ||
		die "keten send printed \"$id\" for $name, not a message id"
	echo "$name $id $from $type $to" >>"$NET/ids"
}
# fill NAME FILE SED-SCRIPT: NET/NAME.sent is FILE with the placeholder
# message ids replaced by the sed script (ids known only at run time)
fill() {
	sed "$3" "$2" >"$NET/$1.sent"
	grep -q '00000000-0000-4000-8000-' "$NET/$1.sent" && die "a placeholder is left in $1: $(cat "$NET/$1.sent")"
	return 0
}
id_of() {
	local v
	v=$(awk -v n="$1" '$1 == n { print $2 }' "$NET/ids")
	[ -n "$v" ] || die "no message $1 was sent"
	echo "$v"
}
# refused NAME FROM TO TYPE PURPOSE FILE [OPTION...] EXPECTED: the agent must
# refuse the whole message (exit 1) with EXPECTED in its answer.
refused() {
	local name=$1 from=$2 to=$3 type=$4 purpose=$5 file=$6 want rc=0
	want=${*: -1}
	set -- "${@:7:$(($# - 7))}"
	"$KETEN" send --config "$NET/$from.yaml" --to "$to" --type "$type" --purpose "$purpose" \
		--file "$file" "$@" >"$NET/$name.out" 2>"$NET/$name.refused" || rc=$?
	[ $rc -eq 1 ] || die "$from's $name ($type to $to) was not refused (exit $rc): $(cat "$NET/$name.out" "$NET/$name.refused")"
	grep -qF -- "$want" "$NET/$name.refused" || die "$name refused otherwise than expected: $(cat "$NET/$name.refused")"
}
# expect AGENCY NAME...: the agency's inbox must hold each of these messages
expect() {
	local a=$1 n
	shift
	for n; do awk -v n="$n" '$1 == n { print $2, $3, $4 }' "$NET/ids" >>"$NET/$a.expected"; done
}
# withheld NAME RECIPIENT PATH REASON: keten send told the sender that PATH
# was withheld from RECIPIENT for REASON
withheld() {
	grep -qxF "$(id_of "$1"): withheld from $2: $3: $4" "$NET/$1.withheld" ||
		die "$1: not reported \"$3: $4\" withheld from $2; reported: $(grep -F "from $2:" "$NET/$1.withheld")"
}
# nothing_withheld NAME: keten send reported nothing withheld from anyone
nothing_withheld() {
	[ ! -s "$NET/$1.withheld" ] || die "$1 was sent in full, yet keten send reported: $(cat "$NET/$1.withheld")"
}
# wait_all: every inbox holds at least as many messages as expected so far
wait_all() {
	local a
	for a in $NET_AGENCIES; do
		touch "$NET/$a.expected"
		wait_inbox "$a" "$(wc -l <"$NET/$a.expected")" 30 || die "not everything reached $a"
	done
}

# ---- 1. KMar's border signal --------------------------------------------
send border-care kmar gemeente-amsterdam,comensha CaseSignal victim-care "$M/kmar_border_signal.json" \
	--case KMAR-SPL-2026-0412
expect gemeente-amsterdam border-care
grep -qxF "$(id_of border-care): not sent to comensha: no-rule" "$NET/border-care.withheld" ||
	die "the border signal was not refused to CoMensha: $(grep comensha "$NET/border-care.withheld")"
for p in number type issuing_country; do
	withheld border-care gemeente-amsterdam "persons[possible_victim].identity_document.$p" \
		"forbidden (rule no-identity-documents-to-care)"
done
for p in given_name family_name birth_date phone identity_document.number; do
	withheld border-care gemeente-amsterdam "persons[suspect].$p" "forbidden (rule no-suspects-to-care)"
done
withheld border-care gemeente-amsterdam vehicles.licence_plate "forbidden (rule no-suspects-to-care)"
withheld border-care gemeente-amsterdam observation not-granted
withheld border-care gemeente-amsterdam companies.kvk_number not-granted
withheld border-care gemeente-amsterdam location.street_address not-granted
grep -qF "withheld from gemeente-amsterdam: persons[possible_victim].given_name" "$NET/border-care.withheld" &&
	die "the victims' names were withheld from the municipality's care coordinator"

# to the police for investigation, every field (signal-kmar-to-police) ...
send border-signal kmar politie CaseSignal investigation "$M/kmar_border_signal.json" --case KMAR-SPL-2026-0412
nothing_withheld border-signal
expect politie border-signal
# ... and not straight to the prosecution: no rule
refused border-om kmar om CaseSignal investigation "$M/kmar_border_signal.json" \
	--case KMAR-SPL-2026-0412 "lets no recipient have this message (om: no-rule)"
for f in registration_comensha registration_comensha_2; do
	send "$f" kmar comensha VictimRegistration victim-registration "$M/$f.json" --case KMAR-SPL-2026-0412
	nothing_withheld "$f"
	expect comensha "$f"
done
refused registration-care kmar comensha VictimRegistration victim-care "$M/registration_comensha.json" \
	"lets no recipient have this message (comensha: purpose-not-granted"

# ---- 2. the case into the RIEC's joint analysis ---------------------------
R=(--attr region=amsterdam-amstelland)
send riec-gemeente gemeente-amsterdam riec-amsterdam CaseSignal joint-analysis "$M/riec_signal_gemeente.json" \
	"${R[@]}" --case AMS-HH-2026-0219
send riec-politie politie riec-amsterdam CaseSignal joint-analysis "$M/riec_signal_politie.json" \
	"${R[@]}" --case PL-AVIM-2026-1301
send riec-nla nla riec-amsterdam CaseSignal joint-analysis "$M/riec_signal_nla.json" "${R[@]}" --case NLA-2026-0533
expect riec-amsterdam riec-gemeente riec-politie riec-nla
for p in given_name family_name birth_year; do
	withheld riec-gemeente riec-amsterdam "persons[possible_victim].$p" not-granted
	withheld riec-nla riec-amsterdam "persons[possible_victim].$p" not-granted
done
withheld riec-politie riec-amsterdam "persons[possible_victim].identity_document.number" not-granted
withheld riec-nla riec-amsterdam "persons[witness].phone" not-granted
withheld riec-gemeente riec-amsterdam observation not-granted
withheld riec-nla riec-amsterdam location.street_address not-granted
grep -qF "withheld from riec-amsterdam: persons[suspect]." "$NET"/riec-*.withheld &&
	die "a suspect was withheld from the RIEC: $(grep -hF "persons[suspect]" "$NET"/riec-*.withheld)"
grep -qF "withheld from riec-amsterdam: vehicles." "$NET/riec-politie.withheld" && die "the car was withheld from the RIEC"
# the RIEC works for its own region only
refused riec-region politie riec-amsterdam CaseSignal joint-analysis "$M/riec_signal_politie.json" \
	--attr region=rotterdam-rijnmond "(riec-amsterdam: condition-false (rule signal-to-riec))"
# the RIEC's advice back to the three partners: companies and signals, no persons (advice-riec-to-partners)
sig_ids="s/00000000-0000-4000-8000-000000000001/$(id_of riec-gemeente)/;
	s/00000000-0000-4000-8000-000000000002/$(id_of riec-politie)/;
	s/00000000-0000-4000-8000-000000000003/$(id_of riec-nla)/"
fill riec-advice "$M/riec_advice.json" "$sig_ids"
grep -qF '"persons"' "$NET/riec-advice.sent" && die "the RIEC's advice names persons: $(cat "$NET/riec-advice.sent")"
send riec-advice riec-amsterdam politie,nla,gemeente-amsterdam CaseReferral joint-analysis \
	"$NET/riec-advice.sent" "${R[@]}" --case RIEC-AA-2026-0031
nothing_withheld riec-advice
# (had the RIEC named a person in its advice, no partner would get it: the rule grants none)
"$KETEN_PYTHON" -c 'import json, sys
a = json.load(open(sys.argv[1]))
a["persons"] = [{"personRef": "S1", "role": "PERSON_ROLE_SUSPECT", "givenName": "Radu", "familyName": "Fictivescu"}]
json.dump(a, open(sys.argv[2], "w"))' "$NET/riec-advice.sent" "$NET/riec-advice-person.json"
for a in politie nla gemeente-amsterdam; do
	"$KETEN" policy explain --from riec-amsterdam --to "$a" --type CaseReferral --purpose joint-analysis "${R[@]}" \
		--policy "$NET/policy.yaml" "$NET/riec-advice-person.json" >"$NET/riec-advice-person.$a" ||
		die "keten policy explain failed: $(cat "$NET/riec-advice-person.$a")"
	if ! grep -qF "PERMITTED: 8 of 12 fields" "$NET/riec-advice-person.$a" ||
		! grep -qE '^  - persons\.\* +not-granted' "$NET/riec-advice-person.$a"; then
		die "a person in the RIEC's advice would reach $a: $(cat "$NET/riec-advice-person.$a")"
	fi
done
expect politie riec-advice
expect nla riec-advice
expect gemeente-amsterdam riec-advice
# not to the care provider (no rule), and not about a case of another region
refused riec-advice-zorg riec-amsterdam zorg-amstel CaseReferral joint-analysis "$NET/riec-advice.sent" "${R[@]}" \
	"lets no recipient have this message (zorg-amstel: no-rule)"
refused riec-advice-region riec-amsterdam politie,nla,gemeente-amsterdam CaseReferral joint-analysis \
	"$NET/riec-advice.sent" --attr region=rotterdam-rijnmond \
	"(politie: condition-false (rule advice-riec-to-partners); nla: condition-false (rule advice-riec-to-partners); gemeente-amsterdam: condition-false (rule advice-riec-to-partners))"

# ---- 3. care ---------------------------------------------------------------
send care-notice gemeente-amsterdam zorg-amstel CareNotice victim-care "$M/care_notice.json" --case AMS-ZC-2026-0102
send care-police gemeente-amsterdam politie CareNotice investigation "$M/care_notice.json" --case AMS-ZC-2026-0102
expect zorg-amstel care-notice
expect politie care-police
for p in type number issuing_country; do
	withheld care-notice zorg-amstel "victim.identity_document.$p" "forbidden (rule no-identity-documents-to-care)"
done
[ "$(wc -l <"$NET/care-notice.withheld")" -eq 3 ] ||
	die "the care provider should miss only the residence document: $(cat "$NET/care-notice.withheld")"
for p in victim.address.street_address victim.phone care_organisation victim.identity_document.number; do
	withheld care-police politie "$p" not-granted
done

# ---- 4. referral and the update closing the case ---------------------------
send referral politie om CaseReferral prosecution "$M/referral_om.json" --case PL-AVIM-2026-1301
nothing_withheld referral
expect om referral
fill closing "$M/update_closing.json" "s/00000000-0000-4000-8000-000000000000/$(id_of referral)/"
send closing om politie,kmar,nla CaseUpdate investigation "$NET/closing.sent" --case OM-AMS-2026-0877
cp "$NET/closing.sent" "$NET/closing-care.sent"
send closing-care om gemeente-amsterdam CaseUpdate victim-care "$NET/closing-care.sent" --case OM-AMS-2026-0877
nothing_withheld closing
withheld closing-care gemeente-amsterdam outcome not-granted
withheld closing-care gemeente-amsterdam note not-granted
[ "$(wc -l <"$NET/closing-care.withheld")" -eq 2 ] || die "closing-care: $(cat "$NET/closing-care.withheld")"
expect politie closing
expect kmar closing
expect nla closing
expect gemeente-amsterdam closing-care
wait_all

# the network runs the shipped policy itself, unchanged
cmp -s "$NET/policy.yaml" "$KETEN_ROOT/policy/stm.yaml" || die "the network does not run policy/stm.yaml as shipped"
version=$(sed -n 's/^version: "\(.*\)"$/\1/p' "$NET/policy.yaml")
whole=$(cat "$NET"/*.refused | grep -c "not sent: policy")
notsent=$(cat "$NET"/*.withheld | grep -c ": not sent to ")
if [ "$(wc -l <"$NET/ids")" -ne 13 ] || [ "$whole" -ne 5 ] || [ "$notsent" -ne 1 ]; then
	die "$(wc -l <"$NET/ids") messages accepted, $whole refused whole, $notsent copies not sent; expected 13, 5 and 1"
fi
echo "# 13 messages accepted, $whole refused whole and $notsent copy not sent, as the shipped policy stm $version says"

# ---- every inbox -------------------------------------------------------------
for a in $NET_AGENCIES; do
	"$KETEN" inbox --config "$NET/$a.yaml" --all >"$NET/$a.inbox" || die "keten inbox $a failed"
	"$KETEN" inbox --config "$NET/$a.yaml" --all --json >"$NET/$a.jsonl" || die "keten inbox --json $a failed"
	awk -F'\t' '{ sub(/^keten\.case\.v1\./, "", $4); print $2, $3, $4 }' "$NET/$a.inbox" | sort >"$NET/$a.got"
	sort "$NET/$a.expected" >"$NET/$a.want"
	cmp -s "$NET/$a.got" "$NET/$a.want" || {
		echo "$a: expected (<) and held (>):" >&2
		diff "$NET/$a.want" "$NET/$a.got" >&2
		die "the inbox of $a does not hold exactly the messages it should, once each"
	}
done
# (the expectations above are built step by step; the totals, independently)
counts=$(for a in politie om nla kmar gemeente-amsterdam gemeente-rotterdam riec-amsterdam comensha zorg-amstel; do
	printf '%s=%s ' "$a" "$(wc -l <"$NET/$a.inbox")"
done)
[ "$counts" = "politie=4 om=1 nla=2 kmar=1 gemeente-amsterdam=3 gemeente-rotterdam=0 riec-amsterdam=3 comensha=2 zorg-amstel=1 " ] ||
	die "the inboxes hold $counts"
echo "# every inbox exactly as expected, each message once: ${counts% }"

# copy NAME AGENCY: the agency's copy of NAME is, field by field and value by
# value, the message sent minus exactly the fields keten send reported
# withheld from that agency; its manifest (fieldPaths) says the same.
copy() {
	local name=$1 a=$2 from type
	from=$(awk -v n="$name" '$1 == n { print $3 }' "$NET/ids")
	type=$(awk -v n="$name" '$1 == n { print $4 }' "$NET/ids")
	"$KETEN_PYTHON" - "$NET/$name.sent" "$NET/$name.withheld" "$a" "$(id_of "$name")" "$from" "$type" \
		"$NET/$a.jsonl" <<'EOPY' || die "$a's copy of $name is not what $from sent minus what it was told was withheld"
import json, re, sys
sent_file, withheld_file, rcpt, mid, sender, mtype, inbox_file = sys.argv[1:]

def snake(k):
    return re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), k)

def child(prefix, key, item=None):
    p = (prefix + "." if prefix else "") + snake(key)
    if snake(key) in ("persons", "about_persons") and isinstance(item, dict):
        p += "[" + item.get("role", "PERSON_ROLE_UNSPECIFIED")[len("PERSON_ROLE_"):].lower() + "]"
    return p

def prune(obj, prefix, keep):
    """obj with only the leaves whose keten field path keep() accepts; None if empty"""
    out = {}
    for k, v in obj.items():
        if isinstance(v, dict):
            r = prune(v, child(prefix, k), keep)
            if r is not None:
                out[k] = r
        elif isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
            items = [r for r in (prune(x, child(prefix, k, x), keep) for x in v) if r is not None]
            if items:
                out[k] = items
        elif keep(child(prefix, k)):
            out[k] = v
    return out or None

def paths(msg):
    s = set()
    prune(msg, "", lambda p: s.add(p) or True)
    return s

fail = []
sent = json.load(open(sent_file))
sent_paths = paths(sent)
withheld = set()
for line in open(withheld_file):
    m = re.match(r"^(\S+): withheld from ([^:]+): ([^: ]+): ", line)
    if m and m.group(1) == mid and m.group(2) == rcpt:
        withheld.add(m.group(3))
    elif line.startswith("%s: not sent to %s: " % (mid, rcpt)):
        fail.append("keten send said it was not sent to " + rcpt)
if withheld - sent_paths:
    fail.append("reported withheld, but not in the message: %s" % sorted(withheld - sent_paths))
want_paths = sent_paths - withheld
want = prune(sent, "", lambda p: p in want_paths) or {}
items = [json.loads(l) for l in open(inbox_file) if l.strip()]
mine = [i for i in items if i.get("messageId") == mid]
if len(mine) != 1:
    fail.append("held %d times" % len(mine))
else:
    got = mine[0]
    if got.get("sender") != sender or got.get("type") != mtype:
        fail.append("from %s of type %s, not from %s of type %s" % (got.get("sender"), got.get("type"), sender, mtype))
    manifest = set(got.get("fieldPaths", []))
    if manifest != want_paths:
        fail.append("manifest lacks %s, has more %s" % (sorted(want_paths - manifest), sorted(manifest - want_paths)))
    held = paths(got["message"])
    if held != want_paths:
        fail.append("fields lacking %s, more %s" % (sorted(want_paths - held), sorted(held - want_paths)))
    if got["message"] != want:
        fail.append("values differ:\n  want %s\n  held %s" % (json.dumps(want, sort_keys=True), json.dumps(got["message"], sort_keys=True)))
for f in fail:
    print("%s's copy of %s: %s" % (rcpt, mid, f), file=sys.stderr)
sys.exit(1 if fail else 0)
EOPY
}
n=0
while read -r name _ _ _ to; do
	for a in ${to//,/ }; do
		grep -qF "not sent to $a:" "$NET/$name.withheld" && continue
		copy "$name" "$a"
		n=$((n + 1))
	done
done <"$NET/ids"
[ $n -eq 17 ] || die "checked $n copies, expected 17"
echo "# each of the $n copies is what was sent minus exactly what keten send reported withheld from its recipient"

# the senders see every copy delivered, and to no one else
while read -r name id from _ to; do
	"$KETEN" status --config "$NET/$from.yaml" --json "$id" </dev/null >"$NET/$name.status" || die "keten status $name failed"
	got=$("$KETEN_PYTHON" -c 'import json, sys
s = json.load(open(sys.argv[1]))
print(s["state"], ",".join(sorted(r["recipient"] + ":" + r["state"] for r in s.get("recipients", []))))' \
		"$NET/$name.status")
	want="accepted $(for a in ${to//,/ }; do grep -qF "not sent to $a:" "$NET/$name.withheld" || echo "$a:delivered"; done |
		sort | paste -sd,)"
	[ "$got" = "$want" ] || die "$from's status of $name: $got, expected $want"
done <"$NET/ids"
echo "# every sender's status: each copy delivered to its recipients and no other"

# ---- what never reaches whom, in the inboxes themselves ------------------------
# holds AGENCY TEXT... / lacks AGENCY TEXT...: the agency's inbox contains / never contains TEXT
holds() {
	local a=$1 t
	shift
	for t; do grep -qF -- "$t" "$NET/$a.inbox" || die "$a's inbox lacks \"$t\""; done
}
lacks() {
	local a=$1 t
	shift
	for t; do
		grep -qF -- "$t" "$NET/$a.inbox" && die "$a's inbox holds \"$t\": $(grep -F -- "$t" "$NET/$a.inbox" | cut -f2-4)"
	done
	return 0
}
# passports of the victims (XT0000021, XT0000034) and the suspect (XT0000008), the residence document
docs=(XT0000021 XT0000034 XT0000008 W-TEST-000417 identityDocument IDENTITY_DOCUMENT_TYPE)
suspects=(PERSON_ROLE_SUSPECT Fictivescu Radu Bedacht 1984-02-11 1969-08-21 "+31 6 00000412" QQ-000-Q vehicles
	"Nepweg 3")
for a in zorg-amstel gemeente-amsterdam comensha; do lacks "$a" "${docs[@]}"; done
for a in zorg-amstel gemeente-amsterdam; do lacks "$a" "${suspects[@]}"; done
lacks comensha Probova Fiktadze Natalia Nino Testkade Aankomstpassage persons
holds comensha '"nationality":"MD"' '"nationality":"GE"' '"municipality":"Haarlemmermeer"'
holds gemeente-amsterdam '"givenName":"Natalia"' '"givenName":"Nino"' '"streetAddress":"Testkade 7"' \
	'"status":"CASE_STATUS_CLOSED"' '"closureReason":"CLOSURE_REASON_CONVICTION"' RIEC-AA-2026-0031
lacks gemeente-amsterdam "convicted of labour exploitation" "may claim compensation" "second-line border check"
holds zorg-amstel '"givenName":"Natalia"' '"phone":"+31 6 00000777"' '"streetAddress":"Veilige Haven 1"' \
	REFLECTION_PERIOD_OFFERED
echo "# no identity document reaches zorg-amstel, gemeente-amsterdam or comensha; no suspect or car zorg-amstel or gemeente-amsterdam"

# the RIEC: companies, suspects (with the passport) and the car; no victim, no witness
holds riec-amsterdam '"kvkNumber":"99345678"' '"kvkNumber":"99456789"' '"familyName":"Fictivescu"' \
	'"familyName":"Bedacht"' XT0000008 QQ-000-Q '"postcode":"1097 ZZ"'
lacks riec-amsterdam PERSON_ROLE_POSSIBLE_VICTIM PERSON_ROLE_WITNESS Probova Verzinova Getuige XT0000021 \
	'"observation"' Testkade
echo "# riec-amsterdam holds the companies, suspects and car of three signals, no victim or witness"

# the police: KMar's signal in full, where the victim is in care but not where she stays
holds politie XT0000021 XT0000034 XT0000008 QQ-000-Q '"placement":"CARE_PLACEMENT_CATEGORICAL_SHELTER"' \
	'"outcome":"Both suspects convicted'
lacks politie "Veilige Haven" 00000777 W-TEST-000417 "Zorgcentrum Amstel"
holds om '"familyName":"Bedacht"' XT0000008
for a in kmar nla; do holds "$a" '"outcome":"Both suspects convicted' '"note":"The victims may claim'; done
holds nla RIEC-AA-2026-0031 "$(id_of riec-nla)"
holds politie RIEC-AA-2026-0031 "$(id_of riec-politie)"
holds gemeente-amsterdam "$(id_of riec-gemeente)"
lacks zorg-amstel RIEC-AA-2026-0031
echo "# politie holds the border case in full and the care placement without the shelter's address; the update in full at kmar, nla, politie"
echo "# the RIEC's advice at politie, nla and gemeente-amsterdam, naming their three signals; not at zorg-amstel"

# ---- the ledger ---------------------------------------------------------------
net_stop
[ -z "${STOP_FAILED:-}" ] || die "a process did not stop cleanly"
v=$(audit_verify) || exit 1
echo "# $(echo "$v" | tail -n 1)"
# KMar's case as an auditor sees it: each copy's rule, what KMar's agent withheld or refused at the source
"$KETEN" audit report --data "$NET/broker-data" --case-ref KMAR-SPL-2026-0412 --case-sender kmar \
	--network-key "$NET/keys/network.key" --policy "$NET/policy.yaml" >"$NET/report.txt" 2>/dev/null ||
	die "keten audit report failed"
for x in "  to comensha: refused at the source by kmar's policy (#" "  to om: refused at the source by kmar's policy (#" \
	"rule signal-police-to-municipality-care" "rule registration-to-comensha" "rule signal-kmar-to-police" \
	"forbidden, rule no-identity-documents-to-care): persons[possible_victim].identity_document.type" \
	"fields received (8): reference, gender, birth_year, nationality, exploitation_forms, sector, registered_on, municipality"; do
	grep -qF -- "$x" "$NET/report.txt" || die "the audit report of KMar's case lacks \"$x\": $(cat "$NET/report.txt")"
done
[ "$(grep -cE "^20[^ ]*  [A-Za-z]+ from kmar  message " "$NET/report.txt")" -eq 5 ] ||
	die "the audit report of KMar's case does not list its 5 messages: $(grep "from kmar" "$NET/report.txt")"
echo "# the ledger: KMar's 5 messages of the case with their rules, the refusals and withheld fields at the source"

# ---- demo/partners.sh plays the same on its own network ----------------------------
KETEN_BIN=$KETEN_BIN KETEN_TESTBIN=${KETEN_TESTBIN:-build/tests} DEMO_DIR=$NET/demo \
	bash "$KETEN_ROOT/demo/partners.sh" >"$NET/demo.out" 2>&1 || { tail -n 30 "$NET/demo.out"; die "demo/partners.sh failed"; }
for f in "$NET"/demo/*.pid; do [ -e "$f" ] && die "demo/partners.sh left a process running: $f"; done
grep -l 'ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error:' "$NET"/demo/*.log &&
	die "sanitizer report in the logs of demo/partners.sh's network"
sed 's/\x1b\[[0-9;]*m//g' "$NET/demo.out" >"$NET/demo.txt"
# agency, messages, victims named, suspects named, identity documents, companies, vehicles
for row in "politie 4 2 1 3 1 1" "om 1 0 2 1 1 0" "nla 2 0 0 0 1 0" "kmar 1 0 0 0 0 0" \
	"gemeente-amsterdam 3 2 0 0 1 0" "gemeente-rotterdam 0 0 0 0 0 0" "riec-amsterdam 3 0 2 1 2 1" \
	"comensha 2 0 0 0 0 0" "zorg-amstel 1 1 0 0 0 0"; do
	# shellcheck disable=SC2086  # the row's words
	grep -qE "^   $(printf '%s +' $row | sed 's/ +$//')\$" "$NET/demo.txt" ||
		die "demo/partners.sh's table lacks \"$row\": $(grep -A10 'msgs victims' "$NET/demo.txt")"
done
grep -qF "forbidden (rule no-identity-documents-to-care): victim.identity_document.{type, number," "$NET/demo.txt" ||
	die "demo/partners.sh does not show the residence document withheld from the care provider"
echo "# demo/partners.sh: the same flows, its table of what each agency holds as above"
