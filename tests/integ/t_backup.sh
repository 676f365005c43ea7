# The operator guide's backup and install, followed literally: a hot copy of
# the broker's data with mdb_copy while it runs verifies on its own; `make
# install` puts programs, library, header, units and guides where the guide
# says.
. "$(dirname "$0")/lib.sh"
command -v mdb_copy >/dev/null || die "mdb_copy missing (Debian lmdb-utils; make deps installs it)"
net_create
broker_start
agent_start politie
agent_start om
seq -f '{"reference":"BK-%g"}' 1 50 | "$KETEN" send --config "$NET/politie.yaml" --to om \
	--type CaseReferral --purpose prosecution --lines >/dev/null || die "send failed"
# copy while traffic flows
seq -f '{"reference":"BK2-%g"}' 1 200 | "$KETEN" send --config "$NET/politie.yaml" --to om \
	--type CaseReferral --purpose prosecution --lines >/dev/null &
sender=$!
sleep 0.2
# as docs/operator.md says: the target directory first
mkdir -m 700 "$NET/backup"
mdb_copy -c "$NET/broker-data" "$NET/backup" || die "mdb_copy failed"
wait $sender || die "send during the copy failed"
out=$("$KETEN" audit verify --ledger "$NET/backup" --key "$NET/keys/broker.public.yaml" 2>"$NET/v.err") ||
	die "the hot copy does not verify: $out"
echo "$out" | grep -q "^ledger OK" || die "unexpected: $out"
grep -q "this query is not logged" "$NET/v.err" || die "a copy no broker serves should say so"
echo "# hot copy with mdb_copy -c while 200 messages flowed: $(echo "$out" | head -n 1)"
wait_inbox om 250 60 || die "not all delivered"
net_stop

# make install into a staging root
root="$NET/root"
make -s --no-print-directory -C "$(dirname "$0")/../.." install DESTDIR="$root" PREFIX=/usr/local \
	BIN="$KETEN_BIN" BUILD="$(dirname "$KETEN_TESTBIN")" >/dev/null || die "make install failed"
for f in bin/keten bin/keten-broker bin/keten-agent lib/libketen-client.a include/keten_client.h \
	share/keten/deploy/keten-broker.service share/keten/deploy/keten-agent@.service \
	share/doc/keten/operator.md share/keten/policy/stm.yaml; do
	[ -e "$root/usr/local/$f" ] || die "make install did not install $f"
done
"$root/usr/local/bin/keten" --help >/dev/null || die "the installed keten does not run"
grep -q "^ExecStart=/usr/local/bin/keten-broker --config /etc/keten/broker.yaml$" \
	"$root/usr/local/share/keten/deploy/keten-broker.service" || die "broker unit"
echo "# make install: programs, libketen-client, header, systemd units, guides, policy"
