#!/usr/bin/env bash
# The agent's REST API under load (bench/api_bench.c), with a broker and the
# agents on this machine:
#  - politie's API on a loopback port; 1 and 8 HTTP clients submit to om and
#    wait for the broker's acceptance;
#  - the whole path: 8 clients submit CaseSignals to three municipalities
#    (REST -> politie's agent -> broker -> three agents -> their inboxes),
#    latency POST -> stored in each inbox, throughput to all three.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
N=${N:-2000}
CLIENTS=${CLIENTS:-8}
. "$here/../tests/integ/lib.sh"
trap - EXIT
trap 'net_stop; rm -rf "$NET"' EXIT

MUNIS="gemeente-amsterdam gemeente-rotterdam gemeente-utrecht"
net_create politie om $MUNIS
port=$((20000 + $$ % 20000))
head -c 32 /dev/urandom | base64 >"$NET/api.token"
chmod 600 "$NET/api.token"
printf 'api_listen: 127.0.0.1:%d\napi_token: api.token\n' $port >>"$NET/politie.yaml"
broker_start
for a in politie om $MUNIS; do agent_start "$a"; done
TB=${KETEN_TESTBIN:-build/bench}
"$TB/api_bench" "http://127.0.0.1:$port" "$NET/api.token" om $N $CLIENTS
wait_inbox om $((N + N / 4)) 120 || echo "  (not all delivered to om in time)"
inboxes=$(for a in $MUNIS; do printf 'unix:%s/%s%s/api.sock,' "$NET" "$a" "$NET_DATA_SUFFIX"; done)
"$TB/api_bench" --path "http://127.0.0.1:$port" "$NET/api.token" "$(echo $MUNIS | tr ' ' ,)" \
	$N $CLIENTS "${inboxes%,}" || echo "  (the whole path did not complete)"
net_stop
printf '  broker commands/commit %s\n' "$(grep 'broker: stopping' "$NET/broker.log" | sed 's/.*avg_batch=\([0-9.]*\).*/\1/')"
