# -n checks the configuration and exits; both daemons refuse a secret key
# file that group or others can read, naming the file, and a configuration
# file others can read or its group can write (so does the keten CLI); errors
# name file:line.
. "$(dirname "$0")/lib.sh"
net_create politie om
out=$("$KETEN_BIN/keten-broker" -n --config "$NET/broker.yaml") || die "broker -n failed: $out"
echo "$out" | grep -q "configuration OK" || die "broker -n said: $out"
out=$("$KETEN_BIN/keten-agent" -n --config "$NET/politie.yaml") || die "agent -n failed: $out"

chmod 640 "$NET/keys/politie.secret"
if out=$("$KETEN_BIN/keten-agent" -n --config "$NET/politie.yaml" 2>&1); then die "agent accepted a 0640 key"; fi
echo "$out" | grep -q "keys/politie.secret: secret file is accessible by group or others (mode 0640)" ||
	die "agent error does not name the key file: $out"
chmod 604 "$NET/keys/broker.secret"
if out=$("$KETEN_BIN/keten-broker" -n --config "$NET/broker.yaml" 2>&1); then die "broker accepted a 0604 key"; fi
echo "$out" | grep -q "keys/broker.secret: secret file is accessible" || die "broker error: $out"
chmod 600 "$NET/keys/politie.secret" "$NET/keys/broker.secret"

# configuration files: net_create writes them 0640; others' access or group write is refused
[ "$(stat -c %a "$NET/broker.yaml") $(stat -c %a "$NET/politie.yaml")" = "640 640" ] ||
	die "net_create wrote configuration files of mode $(stat -c %a "$NET/broker.yaml")"
chmod 644 "$NET/broker.yaml"
if out=$("$KETEN_BIN/keten-broker" -n --config "$NET/broker.yaml" 2>&1); then die "broker accepted a 0644 configuration"; fi
echo "$out" | grep -qF "$NET/broker.yaml: configuration file is readable by others (mode 0644): it tells any account on this host where the keys and data are and which endpoints and token files the daemon trusts; run: chmod o-rwx,g-w $NET/broker.yaml" ||
	die "broker error on a 0644 configuration: $out"
chmod 660 "$NET/politie.yaml"
if out=$("$KETEN_BIN/keten-agent" -n --config "$NET/politie.yaml" 2>&1); then die "agent accepted a 0660 configuration"; fi
echo "$out" | grep -qF "politie.yaml: configuration file is writable by its group (mode 0660): another account could change" ||
	die "agent error on a 0660 configuration: $out"
chmod 604 "$NET/politie.yaml"
if out=$("$KETEN" inbox --config "$NET/politie.yaml" 2>&1); then die "keten accepted a 0604 configuration"; fi
echo "$out" | grep -qF "keten: $NET/politie.yaml: configuration file is readable by others (mode 0604)" ||
	die "keten error on a 0604 configuration: $out"
chmod 640 "$NET/broker.yaml" "$NET/politie.yaml"
out=$("$KETEN_BIN/keten-agent" -n --config "$NET/politie.yaml") || die "agent refused a 0640 configuration: $out"

line=$(($(wc -l <"$NET/broker.yaml") + 1))
echo "listen_on: tcp://127.0.0.1:1" >>"$NET/broker.yaml"
if out=$("$KETEN_BIN/keten-broker" -n --config "$NET/broker.yaml" 2>&1); then die "unknown key accepted"; fi
echo "$out" | grep -q "broker.yaml:$line:1: unknown key \"listen_on\"" || die "broker error: $out"

# keys of another agency
sed -i 's#keys/om.secret#keys/politie.secret#' "$NET/om.yaml"
if out=$("$KETEN_BIN/keten-agent" -n --config "$NET/om.yaml" 2>&1); then die "wrong keys accepted"; fi
echo "$out" | grep -q 'keys belong to "politie"' || die "agent error: $out"

# one daemon per data directory
sed -i '$d' "$NET/broker.yaml"
broker_start
if out=$(timeout 5 "$KETEN_BIN/keten-broker" --config "$NET/broker.yaml" 2>&1); then die "second broker started"; fi
echo "$out" | grep -q "another process is using this data directory" || die "second broker: $out"

# keten send reports an agent that is not running
if out=$("$KETEN" send --config "$NET/politie.yaml" --to om --type t --purpose p --body x 2>&1); then
	die "send without an agent succeeded"
fi
echo "# -n, key and configuration permissions, unknown keys, foreign keys and double start all refused with clear errors"

# hardening (docs/security.md): as root, a daemon without "user" refuses to start; with
# it, it runs as that account, under the seccomp filter
if [ "$(id -u)" = 0 ]; then
	net_stop
	grep -v '^user:' "$NET/broker.yaml" | config_write "$NET/broker-root.yaml"
	if out=$("$KETEN_BIN/keten-broker" --config "$NET/broker-root.yaml" 2>&1); then
		die "the broker ran as root"
	fi
	echo "$out" | grep -q 'started as root without "user"' || die "root broker: $out"
	# -n says so too, rather than "configuration OK" before a start that fails
	if out=$("$KETEN_BIN/keten-broker" --config "$NET/broker-root.yaml" -n 2>&1); then
		die "-n passed a configuration the start refuses: $out"
	fi
	echo "$out" | grep -q 'started as root without "user"' || die "root broker -n: $out"
	# and a data directory the account cannot create
	sed -e "s|^data_dir: .*|data_dir: $NET/locked/broker-data|" "$NET/broker.yaml" |
		config_write "$NET/broker-locked.yaml"
	mkdir -m 0700 "$NET/locked"
	if out=$("$KETEN_BIN/keten-broker" --config "$NET/broker-locked.yaml" -n 2>&1); then
		die "-n passed a data directory $KETEN_USER cannot create: $out"
	fi
	echo "$out" | grep -q "data_dir $NET/locked/broker-data does not exist and $KETEN_USER (uid [0-9]*) cannot create it in $NET/locked" ||
		die "-n on a locked data directory: $out"
	broker_start
	agent_start politie
	for p in broker politie; do
		pid=$(cat "$NET/$p.pid")
		uid=$(awk '/^Uid:/ { print $2 }' "/proc/$pid/status")
		[ "$uid" = "$(id -u "$KETEN_USER")" ] || die "$p runs as uid $uid, not $KETEN_USER"
		# only the account's primary group, and no group database asked beyond the files
		# (initgroups would load e.g. libnss_systemd into the daemon)
		groups=$(awk '/^Groups:/ { $1 = ""; print }' "/proc/$pid/status" | xargs)
		[ "$groups" = "$(id -g "$KETEN_USER")" ] || die "$p has groups '$groups'"
		! grep -q 'libnss_' "/proc/$pid/maps" || die "$p loaded an NSS module: $(grep -o '[^/]*libnss_[^ ]*' "/proc/$pid/maps" | sort -u)"
		# the filter, on every thread (ZeroMQ, libmicrohttpd); sanitizer builds say they run
		# without it (docs/security.md)
		grep -q "seccomp: not installed in this sanitizer build" "$NET/$p.log" && continue
		grep -q "seccomp: system call filter installed" "$NET/$p.log" || die "$p: no seccomp line"
		[ "$(awk '/^Seccomp:/ { print $2 }' "/proc/$pid/status")" = 2 ] || die "$p has no seccomp filter"
		for t in /proc/"$pid"/task/*; do
			[ "$(awk '/^Seccomp:/ { print $2 }' "$t/status")" = 2 ] || die "$p thread $t unfiltered"
		done
	done
	[ "$(stat -c %U "$NET/broker-data/data.mdb")" = "$KETEN_USER" ] || die "the ledger is not the account's"
	echo "# as root: refused without user; with user: $KETEN_USER (uid $uid, groups $groups only), seccomp filter on every thread"
fi
