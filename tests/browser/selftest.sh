#!/usr/bin/env bash
# Self-test of the browser harness (drive.mjs), without keten: serves a few
# tiny HTML pages with python3's http.server on a free loopback port, then
# checks that drive.mjs passes a correct, accessible page and fails a broken
# one for the right reasons (axe's image-alt, a console error, horizontal
# overflow, a failed check, an HTTP 404). A harness that cannot fail proves
# nothing, so the failing half matters as much as the passing one.
# Usage: tests/browser/selftest.sh   (runs install.sh first; needs no network
# once that has run). Prints "selftest: N passed, N failed" last.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
"$here/install.sh" || exit 1

tmp=$(mktemp -d)
srv=
cleanup() {
	if [ -n "$srv" ]; then kill "$srv" 2>/dev/null; wait "$srv" 2>/dev/null; fi
	rm -rf "$tmp"
}
trap cleanup EXIT
mkdir -p "$tmp/www" "$tmp/shots"

# data: favicon, so the browser asks the server for no /favicon.ico.
head='<meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,">'
cat >"$tmp/www/good.html" <<EOF
<!doctype html>
<html lang="en"><head>$head<title>Good</title>
<style>@media print { nav { display: none } }</style></head>
<body><nav><a id="next" href="/other.html?from=good">Other page</a></nav>
<main><h1>Timeline</h1>
<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" alt="dot" width="1" height="1">
<ol>
<li class="ev"><time datetime="2025-01-02T10:00:00Z">first event</time></li>
<li class="ev"><time datetime="2025-01-02T10:00:05Z">second event</time></li>
<li class="ev"><time datetime="2025-03-01T00:00:00Z">third event</time></li>
</ol>
<p id="status" data-state="ready">All 3 events shown</p>
</main></body></html>
EOF
cat >"$tmp/www/other.html" <<EOF
<!doctype html>
<html lang="en"><head>$head<title>Other</title></head>
<body><main><h1>Other</h1><p>Reached by a click.</p></main></body></html>
EOF
cat >"$tmp/www/bad.html" <<EOF
<!doctype html>
<html lang="en"><head>$head<title>Bad</title></head>
<body><main><h1>Bad</h1>
<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" width="1" height="1">
<div id="wide" style="width: 600px">too wide for a phone</div>
<time datetime="2025-02-01">later</time><time datetime="2025-01-01">earlier</time>
<script>console.error("selftest-bad-error: something broke");</script>
</main></body></html>
EOF

cd "$tmp/www" || exit 1
python3 -u -m http.server --bind 127.0.0.1 0 >"$tmp/server.log" 2>&1 &
srv=$!
port=
for _ in $(seq 100); do
	port=$(sed -n 's/.* port \([0-9][0-9]*\) .*/\1/p' "$tmp/server.log" | head -n 1)
	[ -n "$port" ] && break
	sleep 0.1
done
[ -n "$port" ] || { echo "selftest: http.server did not start"; cat "$tmp/server.log"; exit 1; }
cd "$here" || exit 1

base="http://127.0.0.1:$port"
cat >"$tmp/good.json" <<EOF
{"base": "$base", "token": "selftest-token", "shots": "$tmp/shots", "pages": [
 {"name": "good", "path": "/good.html", "print": true, "checks": [
  {"selector": "li.ev", "count": 3},
  {"selector": "li.ev", "minCount": 2},
  {"selector": "h1", "text": "Timeline"},
  {"selector": "li.ev", "allText": "event"},
  {"selector": "li.ev", "noneText": "error"},
  {"selector": "#status", "attr": "data-state", "equals": "ready"},
  {"order": "li.ev time", "attr": "datetime"},
  {"click": "#next", "thenPath": "/other.html?from=good"},
  {"selector": "h1", "text": "Timeline"}
 ]}]}
EOF
cat >"$tmp/bad.json" <<EOF
{"base": "$base", "shots": "$tmp/shots", "pages": [
 {"name": "bad", "path": "/bad.html", "checks": [
  {"selector": "img", "count": 2},
  {"order": "time", "attr": "datetime"}
 ]},
 {"name": "missing", "path": "/no-such-page.html", "checks": []}]}
EOF

pass=0 fail=0
ok() { pass=$((pass + 1)); }
no() { fail=$((fail + 1)); echo "selftest: FAIL: $*"; }
expect() { # expect FILE WHAT PATTERN: the output names PATTERN
	if grep -qE -- "$3" "$1"; then ok; else no "$2 (no line matching /$3/)"; fi
}

timeout 200 node "$here/drive.mjs" "$tmp/good.json" >"$tmp/good.out" 2>&1
rc=$?
if [ $rc = 0 ]; then ok; else no "good page: drive.mjs exited $rc, want 0"; fi
expect "$tmp/good.out" "good desktop ok" '^ok good desktop \(9 checks, axe clean, pdf\)$'
expect "$tmp/good.out" "good phone ok" '^ok good phone \(9 checks, axe clean\)$'
for f in good-desktop.png good-phone.png good-print.pdf; do
	if [ -s "$tmp/shots/$f" ]; then ok; else no "good page: $f missing or empty"; fi
done
[ $fail = 0 ] || sed 's/^/  | /' "$tmp/good.out"

f0=$fail
timeout 200 node "$here/drive.mjs" "$tmp/bad.json" >"$tmp/bad.out" 2>&1
rc=$?
if [ $rc = 1 ]; then ok; else no "bad page: drive.mjs exited $rc, want 1"; fi
expect "$tmp/bad.out" "bad page fails" '^FAIL bad desktop'
expect "$tmp/bad.out" "axe image-alt named" '^  - axe image-alt \((critical|serious)\): .*img'
expect "$tmp/bad.out" "console error named" '^  - console error: selftest-bad-error: something broke'
expect "$tmp/bad.out" "overflow named" '^  - horizontal overflow: .*div#wide'
expect "$tmp/bad.out" "count check fails" '^  - "img": 1 matches, expected 2'
expect "$tmp/bad.out" "order check fails" '^  - order "time" by datetime'
expect "$tmp/bad.out" "404 fails" '^  - HTTP 404 for /no-such-page.html'
expect "$tmp/bad.out" "closing line" '^drive: 0 passed, 4 failed$'
if grep -q 'horizontal overflow' <(grep -A20 '^FAIL bad desktop' "$tmp/bad.out" | sed '/^FAIL bad phone/,$d'); then
	no "overflow reported at desktop width"
else ok; fi
[ $fail = "$f0" ] || sed 's/^/  | /' "$tmp/bad.out"

echo "selftest: $pass passed, $fail failed"
[ $fail = 0 ]
