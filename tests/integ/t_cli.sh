# The CLI in the ecosystem's habits (issue [5/7]): --version on every
# program (the one version in common/version.h), --help on every command and
# subcommand printing usage on stdout with exit 0, one-line reasons for
# wrong input.
. "$(dirname "$0")/lib.sh"
v=$(sed -n 's/^#define KETEN_VERSION "\(.*\)"$/\1/p' "$KETEN_ROOT/common/version.h")
[ -n "$v" ] || die "no version in common/version.h"
for p in keten keten-broker keten-agent; do
	out=$("$KETEN_BIN/$p" --version) || die "$p --version failed"
	[ "$out" = "$p $v" ] || die "$p --version: $out"
done
n=0
for c in "init" "keygen" "directory show" "directory add" "directory rotate" "directory revoke" \
	"directory approve" "directory approvals" "send" "inbox" "status" "ack" "receipt export" "outbox" "queue" \
	"schema list" "schema show" "schema paths" "schema validate" \
	"audit verify" "audit log" "audit query" "audit report" "audit stats" "audit prove" \
	"audit check-proof" "audit checkpoint" "audit vkey" "audit export" \
	"policy lint" "policy explain" "policy test" "policy diff" "policy approve" "policy approvals" \
	"trust keygen" "trust vkey" "trust show" "trust approve" "trust approvals"; do
	# shellcheck disable=SC2086
	out=$("$KETEN" $c --help 2>&1) || die "keten $c --help exited $?"
	echo "$out" | grep -q "usage" || die "keten $c --help prints no usage: $out"
	# a subcommand's --help is its own usage line, not its whole group's
	case $c in
	*" "*)
		echo "$out" | grep -q "^usage: keten $c\( \|\$\)" ||
			die "keten $c --help does not start with its usage: $out"
		others=$(echo "$out" | grep -c "^ *\(usage: \)\?keten ${c% *} ") || :
		[ "$others" -le 2 ] || die "keten $c --help lists its group: $out" ;;
	esac
	n=$((n + 1))
done
"$KETEN" --help | grep -q "^  audit " || die "keten --help lists no audit"
# a subcommand's --help is that subcommand's usage, not its whole group's
out=$("$KETEN" audit verify --help)
echo "$out" | grep -q "^usage: keten audit verify " && ! echo "$out" | grep -q "audit report" &&
	[ "$(echo "$out" | wc -l)" -lt 10 ] || die "keten audit verify --help: $out"
# wrong input: one line saying what is wrong
"$KETEN" audit frobnicate --data x 2>"$NET/err" && die "an unknown audit command succeeded"
[ "$(wc -l <"$NET/err")" -eq 1 ] || die "unknown audit command: $(cat "$NET/err")"
echo "# --version on the 3 programs ($v); --help on $n commands and subcommands; one-line errors"
