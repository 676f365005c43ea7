# Shared helpers for integration tests and the demo: build a small keten
# network (keys, directory, configs) in a fresh directory and start, stop and
# kill its processes.  Every network lives under its own mktemp directory (or
# NET_DIR, see net_create) and speaks ipc:// inside it, so concurrent runs
# cannot clash.
#
# Needs: KETEN_BIN (directory with keten, keten-broker, keten-agent).

KETEN_BIN=${KETEN_BIN:-bin}
KETEN_BIN=$(cd "$KETEN_BIN" && pwd)
KETEN=$KETEN_BIN/keten

KETEN_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# The agencies policy/stm.yaml names: every network's directory lists them.
STM_AGENCIES="politie om nla kmar gemeente-amsterdam gemeente-rotterdam riec-amsterdam comensha zorg-amstel"

agency_kind() {
	case $1 in
	politie*) echo police ;;
	om*) echo prosecution ;;
	nla*) echo labour-inspectorate ;;
	kmar*) echo military-police ;;
	gemeente-*) echo municipality ;;
	riec-*) echo riec ;;
	comensha*) echo registration-centre ;;
	*) echo care ;;
	esac
}

# net_create [AGENCY...] : sets NET (the directory), writes keys, directory.yaml,
# broker.yaml and an agent configuration per agency (NET/AGENCY.yaml) for the
# agencies of policy/stm.yaml plus any named.  The policy is
# ${KETEN_POLICY:-policy/stm.yaml}.  The directory is a fresh one under /tmp
# unless NET_DIR names one (created if missing; keep it short, see below).
# The data directories are NET/broker-data and NET/AGENCY-data; NET_DATA_SUFFIX
# replaces "-data" (the demo sets it empty: NET/broker, NET/politie).
NET_DATA_SUFFIX=${NET_DATA_SUFFIX--data}
if [ "$(id -u)" = 0 ]; then KETEN_USER=${KETEN_USER:-nobody}; else KETEN_USER=${KETEN_USER:-}; fi
net_create() {
	# ipc:// paths must stay short (108 bytes), hence /tmp and a short name.
	if [ -n "${NET_DIR:-}" ]; then
		mkdir -p "$NET_DIR"
		NET=$(cd "$NET_DIR" && pwd)
	else
		NET=$(mktemp -d /tmp/keten-XXXXXX)
	fi
	mkdir -m 700 "$NET/keys"
	"$KETEN" keygen --agency broker --out "$NET/keys" >/dev/null
	{
		echo "# agency directory of this test network (synthetic keys)"
		echo "version: 1"
		echo "agencies:"
	} >"$NET/directory.yaml"
	local a all=$STM_AGENCIES
	for a in "$@"; do
		case " $all " in *" $a "*) ;; *) all="$all $a" ;; esac
	done
	NET_AGENCIES=$all
	for a in $all; do
		"$KETEN" keygen --agency "$a" --out "$NET/keys" >/dev/null
		sed -n '1p' "$NET/keys/$a.public.yaml" >>"$NET/directory.yaml"
		echo "    kind: $(agency_kind "$a")" >>"$NET/directory.yaml"
		sed -n '2,$p' "$NET/keys/$a.public.yaml" >>"$NET/directory.yaml"
	done
	cp "${KETEN_POLICY:-$KETEN_ROOT/policy/stm.yaml}" "$NET/policy.yaml"
	root_ceremony
	approve_directory "$NET/directory.yaml"
	approve_policy "$NET/policy.yaml"
	config_write "$NET/broker.yaml" <<EOC
listen: ipc://$NET/broker.sock
data_dir: broker$NET_DATA_SUFFIX
keys: keys/broker.secret
directory: directory.yaml
policy: policy.yaml
root: root.yaml
heartbeat_ms: ${KETEN_HEARTBEAT_MS:-500}
redeliver_ms: 3000
EOC
	# KETEN_BROKER_CONF: more broker settings, one "key: value" per line (benches' A/B runs)
	[ -z "${KETEN_BROKER_CONF:-}" ] || printf '%s\n' "$KETEN_BROKER_CONF" >>"$NET/broker.yaml"
	# as root the daemons must become an unprivileged account (docs/security.md):
	# they run as KETEN_USER (default nobody) in a network directory it may write
	if [ -n "$KETEN_USER" ]; then
		chmod 1777 "$NET"
		echo "user: $KETEN_USER" >>"$NET/broker.yaml"
		if ! setpriv --reuid="$(id -u "$KETEN_USER")" --regid="$(id -g "$KETEN_USER")" \
			--clear-groups test -w "$NET" 2>/dev/null; then
			echo "keten runs its daemons as $KETEN_USER when started as root, and $KETEN_USER" \
				"cannot reach $NET (a parent directory is closed to it)." >&2
			echo "Run as a normal user, or put the network where other accounts can enter," \
				"e.g. DEMO_DIR=/tmp/keten-demo make demo." >&2
			return 1
		fi
	fi
	BROKER_KEY=$(grep transport_key "$NET/keys/broker.public.yaml" | sed 's/.*"\(.*\)"/\1/')
	BROKER_SIGNING_KEY=$(grep signing_key "$NET/keys/broker.public.yaml" | sed 's/.*"\(.*\)"/\1/')
	for a in $all; do
		agent_config "$a" | config_write "$NET/$a.yaml"
	done
}

# root_ceremony: the network root of trust (docs/trust.md) in NET/root.yaml,
# with approver keys in NET/officers: the privacy officers of politie, nla
# and om approve policies (2 agencies needed), three board members
# directory changes (2; recovery 3) and new roots (2).
ROOT_OFFICERS="politie nla om"
ROOT_BOARD="stuurgroep minjenv nctv"
root_ceremony() {
	local o
	mkdir -m 700 "$NET/officers"
	{
		echo "# the network root of this test network (synthetic keys)"
		echo "network: test.keten.example"
		echo "version: 1"
		echo "thresholds: { policy: 2, directory: 2, recovery: 3, root: 2 }"
		echo "keys:"
		for o in $ROOT_OFFICERS; do
			"$KETEN" trust keygen --name "fg-$o" --out "$NET/officers/fg-$o.key" >/dev/null
			echo "  - { vkey: \"$("$KETEN" trust vkey "$NET/officers/fg-$o.key")\", agency: $o, roles: [policy] }"
		done
		for o in $ROOT_BOARD; do
			"$KETEN" trust keygen --name "board-$o" --out "$NET/officers/board-$o.key" >/dev/null
			echo "  - { vkey: \"$("$KETEN" trust vkey "$NET/officers/board-$o.key")\", agency: $o, roles: [directory, root] }"
		done
	} >"$NET/root.yaml"
}

# approve_policy FILE [OFFICER...]: approvals of FILE by the privacy officers
# of the agencies named (default politie and nla) in FILE.approvals.
approve_policy() {
	local f=$1 o
	shift
	for o in ${*:-politie nla}; do
		"$KETEN" policy approve --key "$NET/officers/fg-$o.key" --root "$NET/root.yaml" "$f" \
			>/dev/null || return 1
	done
}

# approve_directory FILE [MEMBER...]: approvals of FILE by board members
# (default stuurgroep and minjenv); approve_directory_as FILE KEYFILE: by an
# agency's own key (its key rotation).
approve_directory() {
	local f=$1 o
	shift
	for o in ${*:-stuurgroep minjenv}; do
		"$KETEN" directory approve --key "$NET/officers/board-$o.key" --root "$NET/root.yaml" "$f" \
			>/dev/null || return 1
	done
}
approve_directory_as() {
	"$KETEN" directory approve --key "$2" --root "$NET/root.yaml" "$1" >/dev/null
}

# config_write FILE: stdin to the configuration file FILE, mode 0640.  The
# daemons and the keten CLI refuse a configuration file others can read, write
# or execute, or its group can write (docs/security.md).  Only configuration
# files: as root the daemons read them before they become KETEN_USER, but the
# policy and the directory, reloaded on SIGHUP, must stay readable to it.
config_write() {
	(umask 027 && cat >"$1") && chmod 0640 "$1"
}

# agent_config AGENCY [KEYFILE]: an agent configuration on stdout (save it with
# config_write).
agent_config() {
	cat <<EOC
agency: $1
broker: ipc://$NET/broker.sock
broker_key: "$BROKER_KEY"
broker_signing_key: "$BROKER_SIGNING_KEY"
keys: ${2:-keys/$1.secret}
data_dir: $1$NET_DATA_SUFFIX
policy: ${3:-policy.yaml}
directory: directory.yaml
root: root.yaml
heartbeat_ms: ${KETEN_HEARTBEAT_MS:-500}
resend_ms: 3000
EOC
	[ -z "$KETEN_USER" ] || echo "user: $KETEN_USER"
}

# broker_start / agent_start AGENCY: start in the background, log to NET/*.log,
# pid in NET/*.pid.  Waits until the process is up.  KETEN_BROKER_BIN runs
# another broker binary (the adversary tests' evil broker).
broker_start() {
	rm -f "$NET/broker.sock"	# left by a killed broker: wait for the new one's
	"${KETEN_BROKER_BIN:-$KETEN_BIN/keten-broker}" --config "$NET/broker.yaml" ${KETEN_VERBOSE:-} \
		>>"$NET/broker.log" 2>&1 &
	echo $! >"$NET/broker.pid"
	wait_for_file "$NET/broker.sock" || { cat "$NET/broker.log"; return 1; }
}

agent_start() {
	rm -f "$NET/$1$NET_DATA_SUFFIX/api.sock"	# left by a killed agent
	"${KETEN_AGENT_BIN:-$KETEN_BIN/keten-agent}" --config "$NET/$1.yaml" ${KETEN_VERBOSE:-} \
		>>"$NET/$1.log" 2>&1 &
	echo $! >"$NET/$1.pid"
	wait_for_file "$NET/$1$NET_DATA_SUFFIX/api.sock" || { cat "$NET/$1.log"; return 1; }
}

# wait_for_file PATH: up to KETEN_WAIT_FILE_S seconds (default 5).
wait_for_file() {
	local i
	for i in $(seq 1 $((${KETEN_WAIT_FILE_S:-5} * 20))); do
		[ -e "$1" ] && return 0
		sleep 0.05
	done
	echo "timed out waiting for $1" >&2
	return 1
}

# proc_stop NAME: SIGTERM and wait; proc_kill NAME: SIGKILL.
proc_stop() {
	local pid rc=0
	pid=$(cat "$NET/$1.pid" 2>/dev/null) || return 0
	kill -TERM "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || rc=$?
	rm -f "$NET/$1.pid"
	# a clean stop exits 0; anything else (a crash, a sanitizer report) is a failure
	if [ $rc -ne 0 ]; then
		echo "$1 exited with status $rc on SIGTERM" >&2
		STOP_FAILED=1
	fi
}

proc_kill() {
	local pid
	pid=$(cat "$NET/$1.pid" 2>/dev/null) || return 0
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	rm -f "$NET/$1.pid"
}

net_stop() {
	local f
	for f in "$NET"/*.pid; do
		[ -e "$f" ] || continue
		proc_stop "$(basename "$f" .pid)"
	done
}

# inbox_count AGENCY: number of messages in the agency's inbox.
inbox_count() {
	"$KETEN" inbox --config "$NET/$1.yaml" --all | wc -l
}

# wait_inbox AGENCY N [SECONDS]: wait until the inbox holds at least N messages.
wait_inbox() {
	local deadline=$((SECONDS + ${3:-60})) n=0
	while [ $SECONDS -lt $deadline ]; do
		n=$(inbox_count "$1" 2>/dev/null || echo 0)
		[ "$n" -ge "$2" ] && return 0
		sleep 0.2
	done
	echo "inbox of $1 holds $n messages, expected $2" >&2
	return 1
}

# Test scaffolding: fail with a message; on exit stop everything, print the
# logs when the test failed, remove the network directory when it passed.
die() {
	echo "FAILED: $*" >&2
	exit 1
}

test_cleanup() {
	local rc=$?
	[ -n "${NET:-}" ] || return
	net_stop
	[ -n "${STOP_FAILED:-}" ] && rc=1
	if grep -l 'ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error:' "$NET"/*.log 2>/dev/null; then
		echo "sanitizer report in the logs above" >&2
		rc=1
	fi
	if [ $rc -ne 0 ]; then
		for f in "$NET"/*.log; do
			[ -e "$f" ] || continue
			echo "--- $f"
			tail -n 40 "$f"
		done
	else
		rm -rf "$NET"
	fi
	exit $rc
}
trap test_cleanup EXIT

# check_inbox AGENCY SENDER EXPECTED_IDS_FILE: the agency's inbox holds each
# id of the file exactly once, nothing else from SENDER, and SENDER's messages
# appear in the order of the file.
check_inbox() {
	local got="$NET/$1.inbox"
	"$KETEN" inbox --config "$NET/$1.yaml" --all >"$got" || die "keten inbox failed"
	awk -F'\t' -v s="$2" '$3 == s { print $2 }' "$got" >"$got.ids"
	local dups
	dups=$(sort "$got.ids" | uniq -d | wc -l)
	[ "$dups" -eq 0 ] || die "$1 received $dups messages more than once"
	cmp -s "$got.ids" "$3" || {
		echo "expected $(wc -l <"$3") ids, got $(wc -l <"$got.ids")" >&2
		diff "$3" "$got.ids" | head -n 10 >&2
		die "inbox of $1 does not match what $2 had accepted (exactly once, in order)"
	}
}

# audit_verify: keten audit verify on the broker's data; dies unless it holds.
audit_verify() {
	local out
	out=$("$KETEN" audit verify --data "$NET/broker$NET_DATA_SUFFIX" --key "$NET/keys/broker.public.yaml") ||
		die "audit verify failed: $out"
	echo "$out"
}

# ledger_count KIND [FIELD=VALUE]: entries of a kind in the broker's ledger.
ledger_count() {
	"$KETEN" audit log --json --data "$NET/broker$NET_DATA_SUFFIX" | grep "\"kind\":\"KIND_$1\"" |
		{ if [ -n "${2:-}" ]; then grep -F "\"${2%%=*}\":\"${2#*=}\""; else cat; fi; } | wc -l
}

# api_ports [N]: set API_PORT to the first of N (default 4) consecutive
# loopback TCP ports that are free now, starting from a point derived from
# this shell's pid so that concurrent runs pick different ones.
api_ports() {
	local n=${1:-4} try base
	for try in $(seq 0 49); do
		base=$((20000 + ($$ * 7 + try * 211) % 30000))
		if python3 - "$base" "$n" <<'EOPY'
import socket, sys
base, n = int(sys.argv[1]), int(sys.argv[2])
for port in range(base, base + n):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        sys.exit(1)
    finally:
        s.close()
EOPY
		then
			API_PORT=$base
			return 0
		fi
	done
	echo "no $n free ports found" >&2
	return 1
}

# api_enable AGENCY PORT [KEY: VALUE...]: give the agency's agent the REST API
# on 127.0.0.1:PORT with the bearer token in NET/api.token (made on first use,
# mode 0600), plus any further configuration lines.
api_enable() {
	local a=$1 port=$2
	shift 2
	if [ ! -e "$NET/api.token" ]; then
		(umask 077 && head -c 32 /dev/urandom | base64 >"$NET/api.token")
	fi
	{
		echo "api_listen: 127.0.0.1:$port"
		echo "api_token: api.token"
		for line in "$@"; do echo "$line"; done
	} >>"$NET/$a.yaml"
}

# The HTTP helpers use python3 (curl may be missing); the system's starts
# fastest (a pyenv shim on PATH costs a second per call).
KETEN_PYTHON=${KETEN_PYTHON:-$(command -v /usr/bin/python3 || command -v python3)}

# free_port: a TCP port on 127.0.0.1 nothing listens on (the kernel's pick).
free_port() {
	"$KETEN_PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# http_req METHOD PORT PATH [BODY]: an HTTP request to 127.0.0.1:PORT; prints
# the status code on the first line, then the body.  Fails when nothing answers.
http_req() {
	"$KETEN_PYTHON" - "$@" <<'EOP'
import http.client, sys
method, port, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
body = sys.argv[4] if len(sys.argv) > 4 else None
c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
c.request(method, path, body=body)
r = c.getresponse()
print(r.status)
sys.stdout.write(r.read().decode())
EOP
}

# metric FILE NAME{LABELS}: the value of one series in a saved /metrics answer.
metric() {
	awk -v n="$2" '$1 == n { print $2; found = 1 } END { if (!found) print "missing" }' "$1"
}
