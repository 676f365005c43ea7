# Sample outputs in the guides stay true (issue [5/7], "guides that cannot
# go stale"): every block in docs/*.md and README.md marked
# "<!-- sample output, checked by tests/integ/t_guide_samples.sh -->" and
# starting with a line "    $ keten ..." is run from the repository root,
# and each shown output line (except "...") must be a line of what the
# command prints now.
. "$(dirname "$0")/lib.sh"
cd "$KETEN_ROOT" || die "no repository root"
n=0
for doc in docs/*.md README.md; do
	awk '
		/<!-- sample output, checked by tests\/integ\/t_guide_samples.sh -->/ { marked = NR; next }
		!cmd && /^    \$ keten / && NR - marked > 2 { next }
		cont { sub(/^ +/, ""); cmd = cmd " " $0; cont = sub(/ *\\$/, "", cmd); if (!cont) print "CMD " cmd; next }
		/^    \$ keten / { if (cmd != "") print "END"; cmd = substr($0, 7)
			cont = sub(/ *\\$/, "", cmd); if (!cont) print "CMD " cmd; next }
		cmd != "" && /^    / { print "OUT " substr($0, 5); next }
		cmd != "" && /^$/ { next }	# a blank line inside an indented block
		cmd != "" { print "END"; cmd = "" }
		END { if (cmd != "") print "END" }
	' "$doc" >"$NET/blocks"
	cmd=""
	while IFS= read -r line; do
		case $line in
		"CMD "*) cmd=${line#CMD }; : >"$NET/want" ;;
		"OUT "*) printf '%s\n' "${line#OUT }" >>"$NET/want" ;;
		END)
			# shellcheck disable=SC2086
			out=$(eval "\"$KETEN\" ${cmd#keten }" 2>&1)
			while IFS= read -r w; do
				case $w in *[!\ .]*) ;; *) continue ;; esac	# "..." however indented
				printf '%s\n' "$out" | grep -qxF "$w" ||
					die "$doc: \"\$ $cmd\" no longer prints: $w"
			done <"$NET/want"
			n=$((n + 1))
			cmd="" ;;
		esac
	done <"$NET/blocks"
done
[ "$n" -ge 1 ] || die "no sample output found in the guides"
echo "# $n sample outputs in the guides match what the commands print"
