#!/usr/bin/env bash
# Run the fault suite (tests/faults/t_*.sh; docs/faults.md) against real
# keten processes.  FAULT_SECONDS (default 330) is the soft budget of the
# whole suite: t_kill.sh runs last and plays as many rounds as fit (at least
# one).  FAULT_TEST_TIMEOUT (default 900 s) is the hard bound per test, for
# hangs only.  FAULT_SEED replays a run; ONLY=NAME runs one test.
set -u
here=$(cd "$(dirname "$0")" && pwd)
export KETEN_BIN=${KETEN_BIN:-bin}
export KETEN_TESTBIN=${KETEN_TESTBIN:-build/tests}
FAULT_SECONDS=${FAULT_SECONDS:-330}
FAULT_DEADLINE=$(($(date +%s) + FAULT_SECONDS))
export FAULT_DEADLINE
fail=0
suite_start=$SECONDS
# t_kill sizes itself to the budget that is left: last
tests=$(ls "$here"/t_*.sh | grep -v '/t_kill\.sh$'; ls "$here"/t_kill.sh 2>/dev/null)
for t in $tests; do
	name=$(basename "$t" .sh)
	[ -n "${ONLY:-}" ] && [[ $name != *"$ONLY"* ]] && continue
	start=$SECONDS
	out=$(mktemp)
	if timeout "${FAULT_TEST_TIMEOUT:-900}" bash "$t" >"$out" 2>&1; then
		echo "PASS $name ($((SECONDS - start)) s)"
		grep '^#' "$out" | sed 's/^/     /'
	else
		echo "FAIL $name ($((SECONDS - start)) s)"
		sed 's/^/     | /' "$out" | tail -n 120
		fail=1
	fi
	rm -f "$out"
done
echo "fault suite: $((SECONDS - suite_start)) s (budget FAULT_SECONDS=$FAULT_SECONDS)"
exit $fail
