#!/usr/bin/env bash
# Broker saturation and footprint, with the comparisons measured in the same
# run on the same machine, printed as one table (bench/RESULTS.md explains
# it).  Each throughput/latency figure is the median of ROUNDS rounds.
#
#  - keten: bench/broker_bench.c — pre-sealed, pre-signed ~1 KiB CaseSignals
#    from three CURVE clients (politie, kmar, nla) through keten-broker
#    (signature, policy, ledger, fsync'd group commit) to three acknowledging
#    sinks (gemeente-amsterdam, -rotterdam, -utrecht), 1, 100, 1000 in flight.
#  - raw libzmq: the same driver against a CURVE ROUTER that acknowledges and
#    forwards to three sinks, no disk (the ceiling).
#  - RabbitMQ (Debian's rabbitmq-server, started here on its own ports and
#    stopped by its pid): bench/rabbit_bench.c, three quorum queues,
#    persistent messages, publisher confirms, manual consumer acks.
#  - footprint: resident memory of an agent idle and after load, of the
#    broker idle and with 100 Hello'd agency connections; start-up times.
#  - the whole path through real agents: bench/message_path.sh and
#    bench/api_path.sh, run here and summarised.
# N (messages per round at 100 and 1000 in flight; a tenth at 1), ROUNDS,
# LEVELS; SKIP_RABBITMQ=1, SKIP_PATHS=1 leave those parts out.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
N=${N:-20000}
ROUNDS=${ROUNDS:-3}
PAGES_BEFORE="20.8 on 2026-12-04, these runs, before any change for it"
LEVELS=${LEVELS:-1,100,1000}
TB=$(cd "${KETEN_TESTBIN:-build/bench}" && pwd)
. "$here/../tests/integ/lib.sh"
trap - EXIT
RMQ_DIR="" RMQ_PID=""
cleanup() {
	[ -z "${NET:-}" ] || { net_stop; rm -rf "$NET"; }
	rmq_stop
	[ -z "${OUT:-}" ] || rm -rf "$OUT"
}
trap cleanup EXIT

OUT=$(mktemp -d /tmp/keten-bench-XXXXXX)
chmod 755 "$OUT"
res="$OUT/results"
: >"$res"
note() { printf '%s\t%s\n' "$1" "$2" >>"$res"; }
say() { echo "  [$(date +%T)] $*" >&2; }
load() { cut -d' ' -f1-3 /proc/loadavg; }

rmq_stop() {
	[ -n "$RMQ_DIR" ] || return 0
	local p
	p=$(cat "$RMQ_DIR/rabbit.pid" 2>/dev/null || true)
	if [ -n "$p" ]; then kill -TERM "$p" 2>/dev/null || true; fi
	[ -z "$RMQ_PID" ] || { kill -TERM "$RMQ_PID" 2>/dev/null || true; wait "$RMQ_PID" 2>/dev/null || true; }
	for _ in $(seq 1 50); do [ -n "$p" ] && kill -0 "$p" 2>/dev/null && sleep 0.1; done
	[ -z "$p" ] || kill -KILL "$p" 2>/dev/null || true
	# the epmd this node started, on its own port
	ERL_EPMD_PORT=$RMQ_EPMD epmd -kill >/dev/null 2>&1 || true
	rm -rf "$RMQ_DIR"
	RMQ_DIR="" RMQ_PID=""
}
rmq_start() {
	command -v /usr/lib/rabbitmq/bin/rabbitmq-server >/dev/null ||
		{ echo "rabbitmq-server is not installed (make bench-deps)"; return 1; }
	[ -x "$TB/rabbit_bench" ] || { echo "build/bench/rabbit_bench not built (librabbitmq-dev)"; return 1; }
	api_ports 3 >/dev/null || { echo "no free ports"; return 1; }
	RMQ_PORT=$API_PORT RMQ_EPMD=$((API_PORT + 2))
	RMQ_DIR=$(mktemp -d /tmp/keten-rmq-XXXXXX)
	mkdir "$RMQ_DIR/log" "$RMQ_DIR/mnesia"
	echo '[].' >"$RMQ_DIR/enabled_plugins"
	echo 'loopback_users = none' >"$RMQ_DIR/rabbitmq.conf"
	local t0
	t0=$(date +%s.%N)
	HOME=$RMQ_DIR RABBITMQ_NODENAME=keten-bench-$$@localhost RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 \
		RABBITMQ_NODE_PORT=$RMQ_PORT RABBITMQ_DIST_PORT=$((RMQ_PORT + 1)) ERL_EPMD_PORT=$RMQ_EPMD \
		ERL_EPMD_ADDRESS=127.0.0.1 RABBITMQ_MNESIA_BASE=$RMQ_DIR/mnesia RABBITMQ_LOG_BASE=$RMQ_DIR/log \
		RABBITMQ_ENABLED_PLUGINS_FILE=$RMQ_DIR/enabled_plugins RABBITMQ_CONFIG_FILE=$RMQ_DIR/rabbitmq \
		RABBITMQ_CONF_ENV_FILE=$RMQ_DIR/rabbitmq-env.conf RABBITMQ_PID_FILE=$RMQ_DIR/rabbit.pid \
		setsid /usr/lib/rabbitmq/bin/rabbitmq-server >"$RMQ_DIR/out.log" 2>&1 &
	RMQ_PID=$!
	local i
	for i in $(seq 1 1200); do
		grep -q 'Server startup complete' "$RMQ_DIR"/log/*.log 2>/dev/null && break
		kill -0 "$RMQ_PID" 2>/dev/null || break
		sleep 0.1
	done
	if ! grep -q 'Server startup complete' "$RMQ_DIR"/log/*.log 2>/dev/null; then
		echo "did not start within 120 s: $(tail -n 3 "$RMQ_DIR/out.log" "$RMQ_DIR"/log/*.log 2>/dev/null | tr '\n' ' ' | cut -c1-400)"
		return 1
	fi
	note rabbitmq_start_s "$(echo "$(date +%s.%N) - $t0" | bc -l)"
}
# --- the machine ------------------------------------------------------------
note cpu "$(nproc) x $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n 1)"
note load_start "$(load)"
# fdatasync of 4 KiB on the file system the networks live on: what one
# durable commit costs right now (other work on the machine changes it)
fsync_ms=$(python3 - "$OUT" <<'EOPY'
import os, sys, time
p = os.path.join(sys.argv[1], "fsync.tmp")
fd = os.open(p, os.O_WRONLY | os.O_CREAT, 0o600)
t = []
for i in range(200):
    os.write(fd, b"x" * 4096)
    a = time.perf_counter(); os.fdatasync(fd); t.append(time.perf_counter() - a)
os.close(fd); os.unlink(p); t.sort()
print("%.2f %.2f" % (1e3 * t[len(t) // 2], 1e3 * t[int(len(t) * .99)]))
EOPY
)
note fsync "$fsync_ms"

# rss PID: "total anon" resident KiB; hwm PID: peak resident KiB
rss() { awk '/^VmRSS/ { t = $2 } /^RssAnon/ { a = $2 } END { print t, a }' "/proc/$1/status"; }
hwm() { awk '/^VmHWM/ { print $2 }' "/proc/$1/status"; }
# parts PID: where the resident KiB are (/proc/PID/smaps): the program and its
# shared libraries (file pages, mostly shared with other processes, and the
# anonymous pages of their relocations and data), the heap, other anonymous
# memory (thread stacks, thread malloc arenas, mmap'd blocks), LMDB's map;
# then the proportional set size and the number of threads
parts() {
	awk '/^[0-9a-f]+-[0-9a-f]+ / {
			k = "anon"
			if ($6 ~ /\.mdb$/) k = "mdb"; else if ($6 ~ /^\//) k = "lib"; else if ($6 == "[heap]") k = "heap"
			next
		}
		/^Rss:/ { r[k] += $2 }
		/^Anonymous:/ && k == "lib" { la += $2 }
		END { printf "%d %d %d %d %d", r["lib"], la, r["heap"], r["anon"], r["mdb"] }' "/proc/$1/smaps"
	awk '/^Pss:/ { printf " %d", $2 }' "/proc/$1/smaps_rollup"
	awk '/^Threads:/ { printf " %d\n", $2 }' "/proc/$1/status"
}
# since FILE PATTERN T0: seconds from T0 to the first log line matching PATTERN (waits 30 s)
since() {
	local i line
	for i in $(seq 1 300); do
		line=$(grep -m1 "$2" "$1" 2>/dev/null || true)
		[ -z "$line" ] || break
		sleep 0.1
	done
	[ -n "$line" ] || { echo "?"; return; }
	echo "$(date -d "${line%% *}" +%s.%N) - $3" | bc -l
}

# --- raw libzmq ceiling -------------------------------------------------------
say "raw libzmq CURVE ROUTER (ceiling): $LEVELS in flight, $ROUNDS rounds"
"$TB/broker_bench" zmq "$OUT" "$N" "$LEVELS" "$ROUNDS" >>"$OUT/raw.out" 2>"$OUT/raw.err" ||
	{ cat "$OUT/raw.err" >&2; exit 1; }
cat "$OUT/raw.out" >>"$res"

# --- keten ------------------------------------------------------------------
bench_agencies=$(for i in $(seq -w 1 100); do printf 'bench-%s ' "$i"; done)
say "network: the stm agencies, gemeente-utrecht and 100 bench agencies"
net_create gemeente-utrecht $bench_agencies
t0=$(date +%s.%N)
broker_start
note broker_start_s "$(since "$NET/broker.log" 'broker: listening on' "$t0")"
sleep 1
note broker_rss_idle "$(rss "$(cat "$NET/broker.pid")")"
# 100 agencies Hello'd and held
coproc CONN { "$TB/broker_bench" connect "ipc://$NET/broker.sock" "$BROKER_KEY" "$NET/keys" \
	"$(echo $bench_agencies | tr ' ' ',')"; }
read -r -t 120 line <&"${CONN[0]}" || line="timed out"
if [ "$line" = "connected 100" ]; then
	sleep 1
	note broker_rss_100 "$(rss "$(cat "$NET/broker.pid")")"
else
	note broker_rss_100 "? ($line)"
fi
eval "exec ${CONN[1]}>&-"
wait "$CONN_PID" 2>/dev/null || true

say "keten-broker: $LEVELS in flight, $ROUNDS rounds"
"$TB/broker_bench" keten "ipc://$NET/broker.sock" "$BROKER_KEY" "$NET/keys" "$NET/directory.yaml" \
	politie,kmar,nla gemeente-amsterdam,gemeente-rotterdam,gemeente-utrecht "$N" "$LEVELS" "$ROUNDS" \
	>"$OUT/keten.out" 2>"$OUT/keten.err" || { cat "$OUT/keten.err" >&2; tail -n 20 "$NET/broker.log" >&2; exit 1; }
cat "$OUT/keten.out" >>"$res"
note broker_rss_after "$(rss "$(cat "$NET/broker.pid")")"

# agents: start-up, idle, after 5,000 messages politie -> om
say "agents: start-up, idle and loaded resident memory"
for a in politie om; do
	t0=$(date +%s.%N)
	agent_start "$a"
	note "agent_start_s_$a" "$(since "$NET/$a.log" 'session with the broker' "$t0")"
done
sleep 2
note agent_rss_idle "$(rss "$(cat "$NET/politie.pid")")"
note agent_rss_idle_parts "$(parts "$(cat "$NET/politie.pid")")"
awk 'BEGIN { for (i = 1; i <= 5000; i++) printf "{\"reference\":\"F-%d\",\"summary\":\"%0960d\"}\n", i, 0 }' |
	"$KETEN" send --config "$NET/politie.yaml" --to om --type CaseReferral --purpose prosecution \
	--lines >/dev/null
wait_inbox om 5000 300 || true
note agent_rss_load "$(rss "$(cat "$NET/politie.pid")") $(hwm "$(cat "$NET/politie.pid")")"
note agent_rss_load_om "$(rss "$(cat "$NET/om.pid")") $(hwm "$(cat "$NET/om.pid")")"
net_stop
note broker_stats "$(grep 'broker: stopping' "$NET/broker.log" | tail -n 1 | sed 's/.*stopping: //')"
rm -rf "$NET"
NET=""

# --- RabbitMQ -----------------------------------------------------------------
if [ -n "${SKIP_RABBITMQ:-}" ]; then
	note rabbitmq_missing "skipped (SKIP_RABBITMQ)"
elif rmq_start >"$OUT/rmq.why"; then
	say "RabbitMQ $(dpkg-query -W -f='${Version}' rabbitmq-server 2>/dev/null), quorum queues: $LEVELS in flight, $ROUNDS rounds"
	if "$TB/rabbit_bench" "$RMQ_PORT" "$N" "$LEVELS" "$ROUNDS" >"$OUT/rmq.out" 2>"$OUT/rmq.err"; then
		cat "$OUT/rmq.out" >>"$res"
		note rabbitmq_rss "$(rss "$(cat "$RMQ_DIR/rabbit.pid")")"
	else
		note rabbitmq_missing "rabbit_bench failed: $(tail -n 2 "$OUT/rmq.err" | tr '\n' ' ')"
	fi
	note rabbitmq_version "$(dpkg-query -W -f='${Version}' rabbitmq-server 2>/dev/null)"
	rmq_stop
else
	note rabbitmq_missing "$(cat "$OUT/rmq.why")"
	rmq_stop
fi
note load_end "$(load)"

# --- the whole path through real agents (existing benchmarks) ------------------
if [ -z "${SKIP_PATHS:-}" ]; then
	say "message path through real agents (bench/message_path.sh)"
	KETEN_TESTBIN=$TB "$here/message_path.sh" >"$OUT/message_path.out" 2>&1 || true
	say "REST API (bench/api_path.sh)"
	KETEN_TESTBIN=$TB "$here/api_path.sh" >"$OUT/api_path.out" 2>&1 || true
fi

# --- the table ------------------------------------------------------------------
get() { awk -F'\t' -v k="$1" '$1 == k { print $2 }' "$res" | tail -n 1; }
r() { awk -v s="$1" -v w="$2" -v f="$3" '$1 == "RESULT" && $2 == s && $3 == w { print $f }' "$res"; }
mib() { [ -n "$1" ] && echo "$1" | awk '{ printf "%.1f MiB", $1 / 1024; if (NF > 1) printf " (anon %.1f)", $2 / 1024 }'; }
echo
echo "keten broker saturation, $(date -u +%Y-%m-%d), $(get cpu); load $(get load_start) -> $(get load_end)"
echo "fdatasync 4 KiB now: p50 $(get fsync | cut -d' ' -f1) ms, p99 $(get fsync | cut -d' ' -f2) ms; medians of $ROUNDS rounds; N=$N (N/10 at 1 in flight)"
printf '%-36s %10s %10s %10s %10s %10s %10s\n' "" "1: msg/s" "p50 ms" "p99 ms" "100: msg/s" "p50 ms" "p99 ms"
for s in keten raw-libzmq rabbitmq; do
	label=$s
	case $s in
	keten) label="keten-broker (verify,policy,fsync)" ;;
	raw-libzmq) label="raw libzmq CURVE (no disk)" ;;
	rabbitmq) label="RabbitMQ quorum, confirms, acks" ;;
	esac
	[ -n "$(r $s 1 4)" ] || { printf '%-36s %s\n' "$label" "not measured: $(get rabbitmq_missing)"; continue; }
	printf '%-36s %10s %10s %10s %10s %10s %10s\n' "$label" "$(r $s 1 4)" "$(r $s 1 5)" "$(r $s 1 6)" \
		"$(r $s 100 4)" "$(r $s 100 5)" "$(r $s 100 6)"
done
printf '%-36s %10s %10s %10s\n' "" "1000: msg/s" "p50 ms" "p99 ms"
for s in keten raw-libzmq rabbitmq; do
	[ -n "$(r $s 1000 4)" ] || continue
	printf '%-36s %10s %10s %10s\n' "$s" "$(r $s 1000 4)" "$(r $s 1000 5)" "$(r $s 1000 6)"
done
echo
echo "footprint"
printf '  %-44s %s\n' "agent RSS idle (session up)" "$(mib "$(get agent_rss_idle)")"
get agent_rss_idle_parts | awk '{
	printf "  %-44s libraries %.1f MiB (anon %.1f), heap %.1f, other anon %.1f, LMDB map %.1f;",
		"  of which", $1 / 1024, $2 / 1024, $3 / 1024, $4 / 1024, $5 / 1024
	printf " PSS %.1f MiB; %d threads\n", $6 / 1024, $7 }'
printf '  %-44s %s, peak %s\n' "agent RSS after 5,000 messages (politie)" "$(mib "$(get agent_rss_load | cut -d' ' -f1-2)")" "$(mib "$(get agent_rss_load | cut -d' ' -f3)")"
printf '  %-44s %s, peak %s\n' "agent RSS after 5,000 messages (om, inbox)" "$(mib "$(get agent_rss_load_om | cut -d' ' -f1-2)")" "$(mib "$(get agent_rss_load_om | cut -d' ' -f3)")"
printf '  %-44s %s\n' "broker RSS idle" "$(mib "$(get broker_rss_idle)")"
printf '  %-44s %s\n' "broker RSS, 100 agencies connected" "$(mib "$(get broker_rss_100)")"
printf '  %-44s %s\n' "broker RSS after the saturation runs" "$(mib "$(get broker_rss_after)")"
[ -z "$(get rabbitmq_rss)" ] || printf '  %-44s %s\n' "RabbitMQ RSS after its runs" "$(mib "$(get rabbitmq_rss)")"
printf '  %-44s %.3f s\n' "broker start-up (to \"listening\")" "$(get broker_start_s)"
printf '  %-44s %.3f s\n' "agent start-up (to \"session\"), politie" "$(get agent_start_s_politie)"
printf '  %-44s %.3f s\n' "agent start-up (to \"session\"), om" "$(get agent_start_s_om)"
[ -z "$(get rabbitmq_start_s)" ] || printf '  %-44s %.3f s\n' "RabbitMQ start-up (to \"startup complete\")" "$(get rabbitmq_start_s)"
echo "  broker: $(get broker_stats | sed 's/ duplicates.*//')"
echo "  broker time: $(get broker_stats | sed -n 's/.*seconds in /seconds in /p')"
# LMDB pages the broker's commits wrote per accepted message (keten_broker_lmdb_pages_written_total
# in /metrics), over the saturation runs and the agents' 5,000; the value before this figure
# existed, measured the same way on 2026-12-04: PAGES_BEFORE below
pages=$(get broker_stats | sed -n 's/.*(\([0-9.]*\) per submission).*/\1/p')
echo "  LMDB pages written per message       ${pages:-?} (before: ${PAGES_BEFORE})"
if [ -z "${SKIP_PATHS:-}" ]; then
	echo
	echo "whole path through real agents (bench/message_path.sh, bench/api_path.sh)"
	sed 's/^/  /' "$OUT/message_path.out"
	sed 's/^  //; s/^/  /' "$OUT/api_path.out"
fi
echo
k1=$(r keten 100 4) k2=$(r keten 1000 4) z1=$(r raw-libzmq 100 4) z2=$(r raw-libzmq 1000 4)
q1=$(r rabbitmq 100 4) q2=$(r rabbitmq 1000 4)
best() { echo "$1 $2" | awk '{ print ($1 > $2 ? $1 : $2) }'; }
kb=$(best "$k1" "$k2")
if [ -n "$q1" ]; then
	printf 'keten/RabbitMQ throughput: %.2f\n' "$(echo "$kb / $(best "$q1" "$q2")" | bc -l)"
else
	echo "keten/RabbitMQ throughput: n/a ($(get rabbitmq_missing))"
fi
printf 'keten/raw-libzmq throughput: %.2f\n' "$(echo "$kb / $(best "$z1" "$z2")" | bc -l)"
printf 'keten latency, 1 in flight: p50 %s ms, p99 %s ms\n' "$(r keten 1 5)" "$(r keten 1 6)"
printf 'keten latency, 100 in flight: p50 %s ms, p99 %s ms\n' "$(r keten 100 5)" "$(r keten 100 6)"
[ -z "$(r keten 1000 5)" ] ||
	printf 'keten latency, 1000 in flight: p50 %s ms, p99 %s ms\n' "$(r keten 1000 5)" "$(r keten 1000 6)"
