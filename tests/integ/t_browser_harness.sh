# The browser-test harness (tests/browser/drive.mjs) can fail: its self-test
# serves a correct page and a broken one (an image without alt text, a
# console error) and checks that the harness passes the first and names both
# faults of the second.  t_console relies on it.
. "$(dirname "$0")/lib.sh"
"$KETEN_ROOT/tests/browser/selftest.sh" >"${TMPDIR:-/tmp}/selftest.$$" 2>&1 ||
	{ tail -n 30 "${TMPDIR:-/tmp}/selftest.$$"; rm -f "${TMPDIR:-/tmp}/selftest.$$"; die "harness self-test failed"; }
echo "# $(tail -n 1 "${TMPDIR:-/tmp}/selftest.$$")"
rm -f "${TMPDIR:-/tmp}/selftest.$$"
