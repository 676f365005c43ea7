# keten console (docs/console.md) as a privacy officer and an auditor use it,
# on a fresh run of the demo: headless Chromium (tests/browser/drive.mjs)
# loads every page at a desktop and a phone width, checks in the DOM the facts
# the demo created, follows links, and fails on console errors, overflow or
# any axe-core WCAG 2.1 A/AA violation; screenshots go to build/console-shots.
# Then, with curl: the JSON twins, an inclusion proof from the page checked
# by check-proof, the access rules (token, Host, methods), hostile URLs, and
# the files it was given left untouched.
. "$(dirname "$0")/lib.sh"
NET_DATA_SUFFIX=
NET=$(mktemp -d /tmp/keten-XXXXXX)
DEMO_DIR=$NET KETEN_BIN=$KETEN_BIN KETEN_TESTBIN=$KETEN_TESTBIN bash "$KETEN_ROOT/demo/demo.sh" \
	>"$NET.out" 2>&1 || { tail -n 30 "$NET.out"; rm -f "$NET.out"; die "the demo failed"; }
mv "$NET.out" "$NET/demo.out"
"$KETEN_ROOT/tests/browser/install.sh" || die "the browser test tools could not be installed"
SHOTS=$KETEN_ROOT/build/console-shots
mkdir -p "$SHOTS"

id() { awk -v n="$1" '$1 == n { print $2 }' "$NET/messages.txt"; }
SIG=$(id signal-enforcement) SIGM=$(id signal-municipality) REF=$(id referral)
[ -n "$SIG" ] && [ -n "$SIGM" ] && [ -n "$REF" ] || die "the demo's message ids are missing"

# the privacy officer's candidate: the active policy without the forbid rule
# no-identity-documents-to-care and with the urgency of the NLA's signals for
# care (docs/privacy-officer.md's change), a newer version, approved by one officer
cd "$NET" || die "no $NET"
sed -e '/^  - forbid: no-identity-documents-to-care/,/^$/d' -e 's/^version: .*/version: "2026.12.1"/' \
	policy.yaml >candidate.yaml
cat >>candidate.yaml <<'EOF'

  - permit: signal-nla-urgency-to-care
    from: nla
    to: municipalities
    type: CaseSignal
    purpose: victim-care
    basis: avg-6-1-c-arbo
    fields: [urgency]
EOF
"$KETEN" policy lint candidate.yaml >/dev/null 2>&1 || die "candidate: $("$KETEN" policy lint candidate.yaml 2>&1 | tail -n 3)"
"$KETEN" policy approve --key officers/fg-politie.key --root root.yaml candidate.yaml >/dev/null ||
	die "approve failed"
# what the consoles are given: the ledger (its lock file aside: readers take
# a slot there), policies, approvals, root, directory, keys
sums() {
	(cd "$NET" && find broker keys politie om nla gemeente-amsterdam -type f ! -name lock.mdb \
		-print0 | sort -z | xargs -0 sha256sum && sha256sum ./*.yaml ./*.approvals)
}
sums >"$NET/../$(basename "$NET").before"

# start NAME ARGS...: a console on a free port; sets URL_NAME
start() {
	local name=$1 url=""
	shift
	"$KETEN" console --listen 127.0.0.1:0 "$@" >"$NET/console-$name.out" 2>"$NET/console-$name.log" &
	echo $! >"$NET/console-$name.pid"
	for _ in $(seq 100); do
		url=$(sed -n 's|^keten console: \(http://[^/]*\)/.*|\1|p' "$NET/console-$name.out")
		[ -n "$url" ] && break
		sleep 0.1
	done
	[ -n "$url" ] || die "console $name did not start: $(cat "$NET/console-$name.log")"
	eval "URL_$name=$url"
}
stop_consoles() {
	for f in "$NET"/console-*.pid; do
		[ -e "$f" ] || continue
		kill "$(cat "$f")" 2>/dev/null
		wait "$(cat "$f")" 2>/dev/null	# its sanitizer report, if any, is in console-NAME.log
		rm -f "$f"
	done
}
trap 'rc=$?; stop_consoles; (exit $rc); test_cleanup' EXIT

start auditor --policy policy.yaml --directory directory.yaml --ledger broker \
	--key keys/broker.public.yaml --network-key keys/network.key
start officer --policy candidate.yaml --old-policy policy.yaml --root root.yaml \
	--directory directory.yaml --ledger broker
A=$URL_auditor P=$URL_officer

# facts to look for, from the ledger itself
size=$(curl -sf "$A/health.json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["size"])') ||
	die "health.json"
case_url=$(curl -s -o /dev/null -w '%{redirect_url}' "$A/cases?ref=NLA-2026-0412&sender=nla")
case ${case_url} in "$A"/case/*) ;; *) die "the case form did not lead to a case: $case_url" ;; esac
case_path=${case_url#"$A"}
curl -sf "$case_url.json" >"$NET/case.json" || die "case twin"
ref_seq=$(python3 - "$NET/case.json" "$SIG" "$SIGM" "$REF" <<'EOF'
import json, sys
tl = json.load(open(sys.argv[1]))["timeline"]
ids = [e["messageId"] for e in tl]
sig, sigm, ref = sys.argv[2:5]
# the car-wash case from the NLA's signal to the prosecution's referral, in order, delivered
first = lambda m: ids.index(m)
assert first(sig) < first(sigm) < first(ref), ids
for e in tl:
    if e["messageId"] in (sig, sigm, ref):
        assert e["state"] == "delivered" and e["stateTime"].endswith("Z"), e
times = [e["time"] for e in tl]
assert times == sorted(times), times
print([e for e in tl if e["messageId"] == ref][0]["acceptedSeq"])
EOF
) || die "the case's timeline (JSON twin) is wrong: $(head -c 600 "$NET/case.json")"

cat >"$NET/spec-auditor.json" <<EOF
{"base": "$A", "shots": "$SHOTS", "pages": [
 {"name": "index", "path": "/", "checks": [
   {"selector": "main li a[href='/matrix']", "count": 1},
   {"selector": "main li a[href='/health']", "count": 1}]},
 {"name": "matrix", "path": "/matrix", "print": true, "checks": [
   {"selector": "td[data-from='nla'][data-to='gemeente-amsterdam'] li.forbid[data-rule='no-suspects-to-care']", "count": 1},
   {"selector": "td[data-from='nla'][data-to='gemeente-amsterdam'] li[data-type='CaseSignal'][data-purpose='victim-care']", "text": "fields"},
   {"selector": "td[data-from='nla'][data-to='zorg-amstel']", "text": "nothing may be sent"},
   {"selector": "td[data-from='gemeente-amsterdam'][data-to='zorg-amstel'] li[data-type='CareNotice']", "count": 1},
   {"click": "td[data-from='nla'][data-to='gemeente-amsterdam'] a", "thenPath": "/matrix/cell?from=nla&to=gemeente-amsterdam"}]},
 {"name": "matrix-suspects", "path": "/matrix?fields=persons%5Bsuspect%5D.*", "checks": [
   {"selector": "#selection", "text": "persons[suspect].*"},
   {"selector": "td[data-to^='gemeente-']", "minCount": 9},
   {"selector": "td[data-to^='gemeente-']:not([data-selected='0'])", "count": 0},
   {"selector": "td[data-to='zorg-amstel']:not([data-selected='0'])", "count": 0},
   {"selector": "td[data-from='nla'][data-to^='gemeente-'] .selected-sum", "allText": "no selected field goes"},
   {"selector": "td[data-from='nla'][data-to='politie'][data-selected='0']", "count": 0},
   {"selector": "td[data-from='nla'][data-to='politie'] .selected-sum", "text": "selected fields may go"}]},
 {"name": "cell", "path": "/matrix/cell?from=nla&to=gemeente-amsterdam", "checks": [
   {"selector": "li.forbid-rule[data-rule='no-suspects-to-care']", "text": "persons[suspect].*"},
   {"selector": "tr[data-rule='signal-nla-to-municipality-care']", "text": "AVG art. 6(1)(c)"},
   {"selector": "tr[data-rule='signal-nla-to-municipality-care']", "text": "retention: 730 days"},
   {"selector": "section.cell[data-type='CaseSignal'] ul.granted li", "noneText": "persons[suspect]"}]},
 {"name": "cases", "path": "/cases", "checks": [
   {"selector": "#cases tbody tr", "minCount": 3},
   {"click": "#cases tbody a", "thenPath": "/case/"}]},
 {"name": "case", "path": "$case_path", "checks": [
   {"selector": "#timeline > li.message", "count": 8},
   {"order": "#timeline > li.message", "attr": "data-time"},
   {"selector": "#timeline > li:nth-child(1)", "attr": "data-message", "equals": "$SIG"},
   {"selector": "#timeline > li:nth-child(2)", "attr": "data-message", "equals": "$SIGM"},
   {"selector": "#timeline > li:nth-child(n+3)[data-message='$REF']", "count": 1},
   {"selector": "li.message[data-message='$SIG'] li.copy[data-state='delivered'] time.delivered", "count": 2},
   {"selector": "li.message[data-message='$REF'] li.copy[data-recipient='om'][data-state='delivered'] time.delivered", "count": 1},
   {"selector": "li.message[data-message='$REF'] li.copy", "text": "wpg-art-16"},
   {"selector": "li.message[data-message='$SIGM'] p.withheld[data-reason='forbidden']", "text": "no-suspects-to-care"},
   {"selector": "li.copy[data-state='refused']", "text": "refused at the source"},
   {"selector": "svg#lanes line[marker-end]", "count": 8},
   {"click": "li.message[data-message='$REF'] a.entry", "thenPath": "/entry/$ref_seq"},
   {"click": "li.message[data-message='$REF'] a.proof", "thenPath": "/entry/$ref_seq/proof"}]},
 {"name": "entry", "path": "/entry/$ref_seq", "checks": [
   {"selector": "#entry dd[data-key='kind']", "text": "ACCEPTED"},
   {"selector": "#entry dd[data-key='recipient']", "text": "om"},
   {"selector": "#entry dd[data-key='sender']", "text": "politie"}]},
 {"name": "health", "path": "/health", "checks": [
   {"selector": "#verdict", "attr": "data-ok", "equals": "true"},
   {"selector": "#verdict", "text": "verified"},
   {"selector": "#ledger dd[data-key='size']", "text": "$size"},
   {"selector": "#witnesses tbody tr", "count": 4},
   {"selector": "#alarms li[data-kind='policy-refused']", "count": 4},
   {"selector": "#alarms li[data-kind='policy-refused']", "allText": "2026.11.3"},
   {"selector": "svg#traffic rect", "minCount": 3},
   {"selector": "#per-rule", "text": "no-suspects-to-care"}]}
]}
EOF
cat >"$NET/spec-officer.json" <<EOF
{"base": "$P", "shots": "$SHOTS", "pages": [
 {"name": "change", "path": "/change", "checks": [
   {"selector": "#approved", "text": "politie"},
   {"selector": "#missing", "text": "nla"},
   {"selector": "#approvals .bad", "text": "Will not be activated"},
   {"selector": "#changes tr[data-from='nla'][data-to='gemeente-amsterdam'] td.gain", "text": "identity_document"},
   {"selector": "#rules-changed li[data-rule='no-identity-documents-to-care']", "text": "removed"},
   {"selector": "#matrix-new li.gain", "minCount": 1},
   {"selector": "#matrix-old li.gain", "count": 0},
   {"selector": "#shadow", "text": "decisions"},
   {"selector": "#shadow-changes tbody tr", "count": 1},
   {"selector": "#shadow-changes tbody tr", "text": "nla → gemeente-amsterdam"},
   {"selector": "#shadow-changes tbody tr td p.gain", "text": "urgency"}]}
]}
EOF
cd "$KETEN_ROOT" || die "no repository root"
for who in auditor officer; do
	timeout 300 node tests/browser/drive.mjs "$NET/spec-$who.json" >"$NET/drive-$who.txt" 2>&1 ||
		die "the browser found problems ($who): $(grep -v '^ok' "$NET/drive-$who.txt" | head -n 40)"
	echo "# $who: $(tail -n 1 "$NET/drive-$who.txt")"
done

# --- the same with curl: twins, proof, access, hostile input ---
for p in /index.json /matrix.json /cases.json /health.json "$case_path.json" "/entry/$ref_seq.json"; do
	curl -sf "$A$p" | python3 -c 'import json,sys; json.load(sys.stdin)' || die "$p is not JSON"
done
curl -sf "$P/change.json" | python3 -c '
import json, sys
c = json.load(sys.stdin)
assert c["approvals"]["approved"] == ["politie"] and not c["approvals"]["activates"], c["approvals"]
assert any(r["id"] == "no-identity-documents-to-care" and r["change"] == "removed" for r in c["diff"]["rules"])
' || die "change.json"
curl -sf "$A/entry/$ref_seq/proof" >"$NET/proof.txt" || die "no proof"
"$KETEN" audit check-proof --key "$NET/keys/broker.public.yaml" "$NET/proof.txt" >/dev/null ||
	die "the console's inclusion proof does not check: $(cat "$NET/proof.txt")"
code() { curl -s -o "$NET/body" -w '%{http_code}' "$@"; }
[ "$(code -X POST "$A/matrix")" = 405 ] || die "POST was not refused"
[ "$(code -X DELETE "$A/health")" = 405 ] || die "DELETE was not refused"
[ "$(code -H 'Host: evil.example' "$A/health")" = 421 ] || die "a foreign Host was served"
[ "$(code "$A/matrix?fields=%3Cscript%3Ealert(1)%3C/script%3E")" = 400 ] || die "a bad field pattern was not 400"
grep -q '<script>' "$NET/body" && die "a field pattern reached the page unescaped"
grep -q '&lt;script&gt;' "$NET/body" || die "the bad pattern is not named: $(cat "$NET/body")"
for p in /case/zz /case/../../etc/passwd /entry/99999999 /entry/x/proof /nothing "/matrix/cell?from=nla"; do
	c=$(code "$A$p")
	case $c in 400 | 404) ;; *) die "$p answered $c" ;; esac
done
curl -s "$A/health" | grep -q 'Content-Security-Policy' && die "CSP is a header, not in the page"
curl -sI "$A/health" | grep -qi "^Content-Security-Policy: default-src 'none'" || die "no CSP header"

# a console beyond loopback needs a token
"$KETEN" console --listen 0.0.0.0:0 --ledger "$NET/broker" >/dev/null 2>"$NET/notoken.err" &&
	die "a console on 0.0.0.0 started without a token"
grep -q "token-file" "$NET/notoken.err" || die "no word on the token: $(cat "$NET/notoken.err")"
head -c 24 /dev/urandom | base64 | tr '+/' '-_' >"$NET/console.token"
chmod 600 "$NET/console.token"
cd "$NET" || die "no $NET"
start open --listen 0.0.0.0:0 --token-file console.token --ledger broker
T=$URL_open
cd "$KETEN_ROOT" || die "no repository root"
tok=$(cat "$NET/console.token")
[ "$(code "$T/health.json")" = 401 ] || die "served without a token"
[ "$(code -H "Authorization: Bearer wrong-token-wrong-token" "$T/health.json")" = 401 ] ||
	die "served with a wrong token"
[ "$(code -H "Authorization: Bearer $tok" "$T/health.json")" = 200 ] || die "refused the token"
hdr=$(curl -s -D - -o /dev/null "$T/?token=$tok")
grep -q '^HTTP/1.1 303' <<<"$hdr" || die "?token= did not redirect: $hdr"
grep -qi '^Location: /\s*$' <<<"$hdr" || die "the token stayed in the address: $hdr"
ck=$(sed -n 's/^[Ss]et-[Cc]ookie: \([^;]*\);.*HttpOnly.*/\1/p' <<<"$hdr")
[ -n "$ck" ] || die "no HttpOnly cookie: $hdr"
[ "$(code -H "Cookie: $ck" "$T/cases")" = 200 ] || die "the cookie was not taken"
# the redirect that takes the token out stays on this site
hdr=$(curl -s -D - -o /dev/null --path-as-is "$T//evil.example/x?token=$tok")
grep -qi '^Location: /\s*$' <<<"$hdr" || die "?token= on //evil.example sent the browser away: $hdr"
# HEAD: the headers of the page, its length, no body
hdr=$(curl -s -I -H "Authorization: Bearer $tok" "$T/health.json")
len=$(sed -n 's/^[Cc]ontent-[Ll]ength: *\([0-9]*\).*/\1/p' <<<"$hdr")
[ "${len:-0}" -gt 100 ] || die "HEAD /health.json gave Content-Length ${len:-none}: $hdr"
# a token file others may read, or a token a URL would have to escape, is refused
cp "$NET/console.token" "$NET/open.token"
chmod 644 "$NET/open.token"
"$KETEN" console --listen 0.0.0.0:0 --token-file "$NET/open.token" --ledger "$NET/broker" \
	>/dev/null 2>"$NET/open.err" && die "a token file others may read was taken"
grep -q "open.token" "$NET/open.err" || die "no word on the open token file: $(cat "$NET/open.err")"
printf 'a token with spaces & more\n' >"$NET/odd.token"
chmod 600 "$NET/odd.token"
"$KETEN" console --listen 0.0.0.0:0 --token-file "$NET/odd.token" --ledger "$NET/broker" \
	>/dev/null 2>"$NET/odd.err" && die "a token that needs escaping in a URL was taken"
grep -q "letters, digits" "$NET/odd.err" || die "no word on the odd token: $(cat "$NET/odd.err")"
# another loopback address: the Host it prints is the Host it serves
start lo2 --listen 127.0.0.2:0 --ledger "$NET/broker"
[ "$(code "$URL_lo2/health.json")" = 200 ] || die "--listen 127.0.0.2 refused its own Host: $(tr -d "\n" <"$NET/body" | head -c 400)"

stop_consoles
sums >"$NET/../$(basename "$NET").after"
diff "$NET/../$(basename "$NET").before" "$NET/../$(basename "$NET").after" >/dev/null ||
	die "the console changed files it was given: $(diff "$NET/../$(basename "$NET").before" \
		"$NET/../$(basename "$NET").after" | head)"
rm -f "$NET/../$(basename "$NET").before" "$NET/../$(basename "$NET").after"
echo "# screenshots in build/console-shots/"
