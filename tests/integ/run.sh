#!/usr/bin/env bash
# Run every integration test (tests/integ/t_*.sh) against real keten processes.
# Each test gets its own network directory; on failure its logs are printed.
set -u
here=$(cd "$(dirname "$0")" && pwd)
export KETEN_BIN=${KETEN_BIN:-bin}
export KETEN_TESTBIN=${KETEN_TESTBIN:-build/tests}
fail=0
for t in "$here"/t_*.sh; do
	name=$(basename "$t" .sh)
	[ -n "${ONLY:-}" ] && [[ $name != *"$ONLY"* ]] && continue
	start=$SECONDS
	out=$(mktemp)
	if timeout "${KETEN_TEST_TIMEOUT:-600}" bash "$t" >"$out" 2>&1; then
		echo "PASS $name ($((SECONDS - start)) s)"
		grep '^#' "$out" | sed 's/^/     /'
	else
		echo "FAIL $name ($((SECONDS - start)) s)"
		sed 's/^/     | /' "$out" | tail -n 80
		fail=1
	fi
	rm -f "$out"
done
exit $fail
