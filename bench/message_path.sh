#!/usr/bin/env bash
# Benchmark of keten's message path against raw libzmq CURVE measured in the
# same run on the same machine.  keten: N CaseReferrals of about SIZE bytes
# handed to agent politie (`keten send --lines`: JSON parse, validation,
# policy, filter, seal, sign), through the broker (signature, policy), into
# om's inbox (signature, open, checks), with an fsync'd commit at each of
# the three hops.  Baseline: DEALER/ROUTER
# CURVE echo over ipc:// with 100 in flight, no disk.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
N=${N:-10000}
SIZE=${SIZE:-1000}
. "$here/../tests/integ/lib.sh"
trap - EXIT
trap 'net_stop; rm -rf "$NET"' EXIT

net_create politie om
base=$("${KETEN_TESTBIN:-build/bench}/zmq_baseline" "ipc://$NET/baseline.sock" $N $SIZE 100 |
	awk '{ print $2 }')

broker_start
agent_start politie
agent_start om
payload=$(head -c $((SIZE - 40)) /dev/zero | tr '\0' 'x')
t0=$(date +%s.%N)
awk -v p="$payload" -v n=$N 'BEGIN { for (i = 1; i <= n; i++) printf "{\"reference\":\"B-%d\",\"summary\":\"%s\"}\n", i, p }' |
	"$KETEN" send --config "$NET/politie.yaml" --to om --type CaseReferral --purpose prosecution \
	--lines >/dev/null
t1=$(date +%s.%N)
wait_inbox om $N 600
t2=$(date +%s.%N)
net_stop
stats=$(grep 'broker: stopping' "$NET/broker.log")
avg=$(echo "$stats" | sed 's/.*avg_batch=\([0-9.]*\).*/\1/')
e2e=$(echo "$N / ($t2 - $t0)" | bc -l)
acc=$(echo "$N / ($t1 - $t0)" | bc -l)
printf 'messages               %d of %d bytes, politie -> broker -> om\n' $N $SIZE
printf 'raw libzmq CURVE echo  %8.0f msg/s (baseline, same run, no disk)\n' "$base"
printf 'keten accepted         %8.0f msg/s (agent outbox fsync)\n' "$acc"
printf 'keten end to end       %8.0f msg/s (%.1f%% of baseline; fsync at 3 hops)\n' "$e2e" \
	"$(echo "100 * $e2e / $base" | bc -l)"
printf 'broker commands/commit %8s\n' "$avg"
