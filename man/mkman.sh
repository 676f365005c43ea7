#!/bin/sh
# man/mkman.sh PAGE BIN [DOC] > OUT: the manual page PAGE (keten.1,
# keten-broker.8, keten-agent.8, keten.yaml.5) from man/PAGE.in, whose lines
#   @synopsis PROG     become the usage lines of `BIN/PROG --help`
#   @options PROG      its option lines ("  -n, --check  what it does")
#   @commands          for each command `BIN/keten --help` lists, a
#                      subsection with its summary and its whole --help
#   @config HEADING    the "| key | default | meaning |" tables under the
#                      heading "## HEADING" of DOC (docs/operator.md)
# and @VERSION@ the version `BIN/keten --version` prints.  Everything else
# in the .in file is written there and nowhere else: the usage text lives
# in the programs, the configuration keys in docs/operator.md.  man/man.mk
# runs this at build time; tests/integ/t_man.sh checks the result.
set -eu
[ $# -ge 2 ] || { echo "usage: man/mkman.sh PAGE BIN [DOC] > OUT" >&2; exit 2; }
page=$1 bin=$2
here=$(dirname "$0")
doc=${3:-$here/../docs/operator.md}
export LC_ALL=C

die() { echo "mkman.sh: $page: $*" >&2; exit 1; }
fmt() { awk -v mode="$1" -v section="${2:-}" -f "$here/mkman.awk"; }
# help PROG [COMMAND]: the program's --help, which must succeed and say something
help() {
	if ! out=$("$bin/$1" ${2:+"$2"} --help </dev/null) || [ -z "$out" ]; then
		die "$bin/$* --help failed"
	fi
	printf '%s\n' "$out"
}

version=$("$bin/keten" --version </dev/null) || die "$bin/keten --version failed"
version=${version#keten }
[ -r "$here/$page.in" ] || die "no $here/$page.in"
while IFS= read -r l; do
	case $l in
	'@synopsis '*) help "${l#@synopsis }" | fmt synopsis ;;
	'@options '*) help "${l#@options }" | fmt options ;;
	'@config '*) fmt config "${l#@config }" <"$doc" ;;
	@commands)
		help keten | fmt commands | while IFS='	' read -r c name summary; do
			printf '.SS "keten %s"\n%s\n' "$name" "$summary"
			help keten "$c" | fmt verbatim
		done ;;
	@*) die "unknown directive $l" ;;
	*@VERSION@*) printf '%s%s%s\n' "${l%%@VERSION@*}" "$version" "${l#*@VERSION@}" ;;
	*) printf '%s\n' "$l" ;;
	esac
done <"$here/$page.in"
