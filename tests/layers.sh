#!/bin/sh
# The layering of keten's libraries (Makefile, "The layers"): each may use
# only the layers below it.  Checked two ways, so that neither an include nor
# a call slips through:
#   1. every #include "dir/..." in a layer's sources names its own layer or a
#      lower one (the generated protobuf headers, build/schemas/*.pb-c.h, are
#      the lowest layer, proto);
#   2. no symbol a layer's archive leaves undefined is defined by a higher
#      layer's archive.
# Usage: tests/layers.sh BUILD_DIR   (run by `make unit`)
set -eu
build=${1:-build}
fail=0

rank() {	# the rank of a layer, or of a product directory above them all
	case $1 in
	proto) echo 0 ;; common) echo 1 ;; schemas) echo 2 ;;
	policy|ledger) echo 3 ;;	# siblings: neither uses the other
	*) echo 9 ;;
	esac
}

for layer in common schemas policy ledger; do
	[ -d "$layer" ] || continue
	mine=$(rank $layer)
	for f in "$layer"/*.c "$layer"/*.h; do
		[ -e "$f" ] || continue
		grep -n '^#include "[a-z]*/' "$f" | while IFS= read -r line; do
			inc=$(printf '%s\n' "$line" | sed 's/^[0-9]*:#include "\([^"]*\)".*/\1/')
			dir=${inc%%/*}
			case $inc in schemas/*.pb-c.h) dir=proto ;; esac
			[ "$dir" = "$layer" ] && continue
			r=$(rank "$dir")
			if [ "$r" -ge "$mine" ]; then
				echo "layers: $f:${line%%:*}: $layer includes \"$inc\" ($dir is not below $layer)"
				echo x >>"$build/layers.fail"
			fi
		done
	done
done

defined() { nm -g --defined-only "$build/libketen-$1.a" 2>/dev/null | awk 'NF == 3 { print $3 }' | sort -u; }
undefined() { nm -g --undefined-only "$build/libketen-$1.a" 2>/dev/null | awk '{ print $NF }' | sort -u; }

for low in proto common schemas policy ledger; do
	[ -f "$build/libketen-$low.a" ] || continue
	undefined $low >"$build/layers.u"
	for high in common schemas policy ledger; do
		[ "$high" = "$low" ] && continue
		[ "$(rank $high)" -ge "$(rank $low)" ] || continue
		defined $high >"$build/layers.d"
		comm -12 "$build/layers.u" "$build/layers.d" | while IFS= read -r sym; do
			echo "layers: libketen-$low.a uses $sym, defined in libketen-$high.a (a higher layer)"
			echo x >>"$build/layers.fail"
		done
	done
done
rm -f "$build/layers.u" "$build/layers.d"
if [ -e "$build/layers.fail" ]; then
	rm -f "$build/layers.fail"
	exit 1
fi
echo "layers: proto < common < schemas < policy, ledger: no include or call goes up"
