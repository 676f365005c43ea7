#!/usr/bin/env bash
# Rebuild the fuzz seed corpora from tests/data: one type byte (the index in
# `keten schema list`) followed by the JSON document (corpus/json) or its
# protobuf encoding (corpus/pb), and the seeds tests/fuzz/gen_seeds.c makes.
# Run after adding messages or changing a signed format; commit the result.
set -euo pipefail
cd "$(dirname "$0")/../.."
K=${KETEN:-bin/keten}
mkdir -p tests/fuzz/corpus/json tests/fuzz/corpus/pb
types=$("$K" schema list | awk '{ print $1 }')
for f in tests/data/messages/*.json tests/data/bad/*.json; do
	[ -e "$f" ] || continue
	base=$(basename "$f" .json)
	if [ -e "${f%.json}.type" ]; then short=$(cat "${f%.json}.type"); else short=$(echo "$base" | cut -d_ -f1); fi
	idx=$(echo "$types" | awk -v s="$short" 'BEGIN { IGNORECASE = 1 } { n = $1; sub(/.*\./, "", n); if (tolower(n) == tolower(s)) { print NR - 1; exit } }')
	[ -n "$idx" ] || idx=0
	byte=$(printf '\\%03o' "$idx")
	{ printf "$byte"; cat "$f"; } >"tests/fuzz/corpus/json/$base"
	full=$(echo "$types" | sed -n "$((idx + 1))p")
	if "$K" schema encode "$full" "$f" >/tmp/keten-pb.$$ 2>/dev/null; then
		{ printf "$byte"; cat /tmp/keten-pb.$$; } >"tests/fuzz/corpus/pb/$base"
	fi
	rm -f /tmp/keten-pb.$$
done
echo "corpus: $(ls tests/fuzz/corpus/json | wc -l) json, $(ls tests/fuzz/corpus/pb | wc -l) pb"

# the seeds that need valid signatures and sealing, with the fixed fuzz keys
# (tests/fuzz/fuzzkeys.h): checkpoint, envelope, ledger, proof, wire
make --no-print-directory build/tests/gen_seeds
build/tests/gen_seeds
