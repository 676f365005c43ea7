# docs/trust.md as its readers run it: every ```sh block of the guide, in
# order, in a fresh directory, with only the keten command on the PATH.
# A guide is done when its commands run as written.
. "$(dirname "$0")/lib.sh"
dir=$(mktemp -d /tmp/keten-guide-XXXXXX)
awk '/^```sh$/ { on = 1; next } /^```$/ { on = 0; next } on' "$KETEN_ROOT/docs/trust.md" >"$dir/guide.sh"
[ "$(grep -c . "$dir/guide.sh")" -gt 20 ] || die "no commands found in docs/trust.md"
(cd "$dir" && PATH="$(cd "$KETEN_BIN" && pwd):$PATH" KETEN_ROOT=$KETEN_ROOT bash -e guide.sh) \
	>"$dir/out.txt" 2>&1 || { tail -n 30 "$dir/out.txt"; die "docs/trust.md: a command failed"; }
# what the guide promises its readers see
grep -q "thresholds (distinct agencies): policy 2, directory 2, recovery 3, root 2" "$dir/out.txt" ||
	die "trust show did not show the thresholds"
grep -q "policy stm version 2026.12.1 needs approvals of 2 agencies, has 1 (approved: politie; not yet: nla and om)" \
	"$dir/out.txt" || die "one approval was not reported as one"
grep -q "enough approvals: the broker and every agent will activate it" "$dir/out.txt" ||
	die "no approval reached its threshold"
grep -q "two are not enough" "$dir/out.txt" || die "the recovery threshold was not needed"
grep -q "a change of nla's keys not signed by nla's own signing key needs approvals of 3" "$dir/out.txt" ||
	die "the recovery refusal does not say why"
[ "$(grep -c "enough approvals: the broker and every agent will activate it" "$dir/out.txt")" -eq 4 ] ||
	die "expected 4 approved files (policy, directory, rotation, recovery)"
grep -q "enough approvals: a valid successor of root.yaml; the broker and every agent will take it" "$dir/out.txt" ||
	die "the new root was not approved"
grep -q "signed by agencies' own keys (each for its own key change): politie" "$dir/out.txt" ||
	die "politie's own approval of its rotation not shown"
rm -rf "$dir"
echo "# docs/trust.md ran as written: root ceremony, policy approvals, directory members, own-key rotation, recovery, a new root"
