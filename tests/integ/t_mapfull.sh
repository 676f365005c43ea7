# Disk full: the broker's LMDB map is tiny.  When it is nearly full the
# broker refuses new submissions with a clear reason, deliveries and audits
# go on, nothing acknowledged is lost, and after a restart with a larger map
# everything continues: every accepted message arrives exactly once, in order.
. "$(dirname "$0")/lib.sh"
net_create
echo "map_size_mb: 2" >>"$NET/broker.yaml"
PORT=$(free_port)
echo "metrics_listen: 127.0.0.1:$PORT" >>"$NET/broker.yaml"
broker_start
agent_start politie
agent_start om

N=800
pad=$(head -c 900 /dev/zero | tr '\0' 'x')
awk -v p="$pad" -v n=$N 'BEGIN { for (i = 1; i <= n; i++) printf "{\"reference\":\"F-%04d\",\"summary\":\"%s\"}\n", i, p }' |
	"$KETEN" send --config "$NET/politie.yaml" --to om --type CaseReferral --purpose prosecution \
	--lines >"$NET/sent.ids" || die "the agent refused"
[ "$(wc -l <"$NET/sent.ids")" -eq $N ] || die "the agent accepted only $(wc -l <"$NET/sent.ids")"
for i in $(seq 100); do grep -q "storage: .* refusing new submissions" "$NET/broker.log" && break; sleep 0.2; done
grep -q "storage: .* refusing new submissions (deliveries and audits go on)" "$NET/broker.log" ||
	die "the broker never reached its high-water mark"
for i in $(seq 100); do grep -q "broker error 6: " "$NET/politie.log" && break; sleep 0.2; done
grep -q "broker error 6: broker storage nearly full" "$NET/politie.log" ||
	die "the sender did not hear why"
# the health check says so: 503, and the metrics count the refusals
h=$(http_req GET "$PORT" /healthz) || die "no health check"
[ "$(echo "$h" | head -n 1)" = 503 ] && echo "$h" | grep -q '"status":"refusing-submissions","storage":"nearly-full"' ||
	die "healthz while refusing: $h"
http_req GET "$PORT" /metrics >"$NET/m" || die "no metrics"
[ "$(metric "$NET/m" keten_broker_storage_refusing)" = 1 ] || die "storage_refusing not 1"
[ "$(metric "$NET/m" 'keten_broker_rejections_total{reason="storage"}')" -ge 1 ] || die "storage refusals not counted"
sleep 2
got=$(inbox_count om)
[ "$got" -gt 0 ] && [ "$got" -lt $N ] || die "om holds $got of $N while the map is full"
audit_verify >/dev/null	# audits go on
echo "# map full after $got of $N messages: submissions refused with the reason, deliveries and audit verify go on"

# grow the map: restart with a larger one, nothing lost
proc_stop broker
sed -i "s/^map_size_mb: 2$/map_size_mb: 64/" "$NET/broker.yaml"
broker_start
wait_inbox om $N 120 || die "not everything arrived after the map was grown"
[ "$(http_req GET "$PORT" /healthz | head -n 1)" = 200 ] || die "healthz not 200 after the map was grown"
check_inbox om politie "$NET/sent.ids"
for i in $(seq 100); do [ "$(ledger_count DELIVERED)" -ge $N ] && break; sleep 0.2; done
v=$(audit_verify)
echo "# after growing the map: all $N arrived exactly once, in order; $(echo "$v" | head -n 1)"
