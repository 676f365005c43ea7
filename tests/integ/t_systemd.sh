# The systemd units as docs/operator.md installs them (issue [5/7]): the
# commands of its "Install and run" block run as written (without sudo,
# under a scratch root NET/root for /etc/keten, /var/lib/keten, /run/keten,
# /usr/local and /etc/systemd), then each unit is started as systemd would
# start it: its User= and Group=, its UMask=, its StateDirectory= (chowned
# to the unit's user at every start, as systemd does) and RuntimeDirectory=,
# its ExecStartPre= and ExecStart=.  Checked: systemd-analyze verify has
# nothing to say about the units; the daemons start as their accounts with
# the keys the steps gave them; the partner system's account reaches its
# agent's socket and reads the API token through the agent's group, another
# account does neither; an auditor in keten-audit verifies the ledger, also
# after the broker restarted (a StateDirectory= would have taken it back).
# Not emulated: ProtectSystem=, ReadWritePaths= and the other confinement
# (systemd-analyze checks their syntax).  Needs root (it makes the units'
# accounts, and removes those it made); skipped otherwise.
. "$(dirname "$0")/lib.sh"
net_create >/dev/null
if [ "$(id -u)" != 0 ] || ! command -v useradd >/dev/null || ! command -v systemd-analyze >/dev/null; then
	echo "# skipped: needs root, useradd and systemd-analyze (Debian package systemd)"
	exit 0
fi
T="$NET/root"
chmod 755 "$NET"
mkdir -p "$T/usr/local/bin" "$T/usr/local/share/keten/deploy" "$T/etc/systemd/system" "$T/run"
made_accounts=""
# shellcheck disable=SC2317  # called by the trap
cleanup_accounts() {
	for a in $made_accounts; do
		case $a in
		group:*) groupdel "${a#group:}" 2>/dev/null ;;
		*) userdel "$a" 2>/dev/null; groupdel "$a" 2>/dev/null ;;
		esac
	done
}
# the daemons stopped before their accounts go (userdel refuses a user's running process)
stop_units() {
	for f in "$NET"/*.unitpid; do
		[ -e "$f" ] || continue
		pid=$(cat "$f")
		kill "$pid" 2>/dev/null
		for i in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$pid" 2>/dev/null
		rm -f "$f"
	done
}
trap 'rc=$?; stop_units; cleanup_accounts; (exit $rc); test_cleanup' EXIT

# ---- the steps as written, mapped under T ---------------------------------
awk '
	/<!-- install steps, run by tests\/integ\/t_systemd.sh -->/ { on = 1; next }
	on && /^    / { line = substr($0, 5)
		if (cont != "") { sub(/^ +/, "", line); line = cont " " line }
		if (line ~ /\\$/) { sub(/ *\\$/, "", line); cont = line; next }
		cont = ""; print line; next }
	on && /^$/ { next }
	on { exit }
' "$KETEN_ROOT/docs/operator.md" >"$NET/steps"
[ "$(wc -l <"$NET/steps")" -ge 20 ] || die "the install steps were not found: $(cat "$NET/steps")"
port=$(free_port)
map() {
	sed -e "s|/etc/systemd|$T/etc/systemd|g" -e "s|/etc/keten|$T/etc/keten|g" \
	    -e "s|/var/lib/keten|$T/var/lib/keten|g" -e "s|/run/keten|$T/run/keten|g" \
	    -e "s|/usr/local|$T/usr/local|g" -e "s|127.0.0.1:7400|127.0.0.1:$port|g"
}
n=0
while IFS= read -r step; do
	case $step in "#"*) continue ;; esac
	cmd=${step%%#*}			# a comment after the command
	cmd=$(printf '%s\n' "$cmd" | sed -e 's/ *$//' -e 's/sudo //g' | map)
	case $cmd in
	make | "make install") ;;	# built by make integ; installed below
	"systemctl "*) ;;		# emulated below
	"useradd "* | "groupadd "*)
		acct=${cmd##* }
		if getent passwd "$acct" >/dev/null || getent group "$acct" >/dev/null; then
			continue	# there already: used as it is, not removed
		fi
		eval "$cmd" || die "step failed: $step"
		case $cmd in groupadd*) made_accounts="$made_accounts group:$acct" ;;
		*) made_accounts="$made_accounts $acct" ;; esac ;;
	*)
		(cd "$NET" && PATH="$KETEN_BIN:$PATH" && eval "$cmd") >>"$NET/steps.log" 2>&1 ||
			die "step failed: $step: $(tail -n 5 "$NET/steps.log")" ;;
	esac
	case $cmd in "make install")
		cp "$KETEN_BIN"/keten "$KETEN_BIN"/keten-broker "$KETEN_BIN"/keten-agent "$T/usr/local/bin/"
		cp "$KETEN_ROOT"/deploy/*.service "$T/usr/local/share/keten/deploy/" ;;
	esac
	n=$((n + 1))
done <"$NET/steps"
[ -f "$T/etc/systemd/system/keten-broker.service" ] || die "the steps installed no unit"

# ---- systemd-analyze verify, with this host's systemd units beside ours ----
mkdir -p "$T/usr/lib/systemd" "$T/usr/bin"
cp -a /usr/lib/systemd/system "$T/usr/lib/systemd/"
cp /usr/bin/kill "$T/usr/bin/"
ln -sfn usr/bin "$T/bin"
# shellcheck disable=SC2211
verify=$(systemd-analyze --root="$T" verify keten-broker.service keten-agent@politie.service 2>&1)
[ -z "$verify" ] || die "systemd-analyze verify: $verify"

# ---- a unit started as systemd starts it -----------------------------------
unit_key() { sed -n "s/^$2=//p" "$1" | head -n 1; }
unit_start() {	# UNIT [INSTANCE]
	f="$T/etc/systemd/system/$1"
	inst=${2:-}
	val() { unit_key "$f" "$1" | sed "s/%i/$inst/g"; }
	user=$(val User)
	group=$(val Group)
	umask_=$(val UMask)
	sd=$(val StateDirectory)
	if [ -n "$sd" ]; then	# systemd: made if missing, then the tree chowned to the unit
		mkdir -p "$T/var/lib/$sd"
		chmod "$(val StateDirectoryMode)" "$T/var/lib/$sd"
		chown -R "$user:$group" "$T/var/lib/$sd"
	fi
	rd=$(val RuntimeDirectory)
	if [ -n "$rd" ]; then	# systemd: made afresh at every start
		rm -rf "${T:?}/run/$rd"
		mkdir -p "$T/run/$rd"
		chmod "$(val RuntimeDirectoryMode)" "$T/run/$rd"
		chown "$user:$group" "$T/run/$rd"
	fi
	as="setpriv --reuid=$user --regid=$group --init-groups"
	pre=$(val ExecStartPre | map)
	start=$(val ExecStart | map)
	# shellcheck disable=SC2086
	$as sh -c "umask $umask_; exec $pre" >>"$NET/$1$inst.log" 2>&1 ||
		die "$1 $inst: ExecStartPre failed: $(tail -n 3 "$NET/$1$inst.log")"
	# shellcheck disable=SC2086
	$as sh -c "umask $umask_; exec $start" >>"$NET/$1$inst.log" 2>&1 &
	echo $! >"$NET/$1$inst.unitpid"
}
unit_stop() {
	pid=$(cat "$NET/$1$2.unitpid")
	kill "$pid" 2>/dev/null
	for i in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	rm -f "$NET/$1$2.unitpid"
}

unit_start keten-broker.service
unit_start keten-agent@.service politie
unit_start keten-agent@.service om
wait_for_file "$T/run/keten/politie/api.sock" || die "politie's socket: $(cat "$NET/keten-agent@.servicepolitie.log")"
wait_for_file "$T/var/lib/keten/om/api.sock" || die "om's agent: $(cat "$NET/keten-agent@.serviceom.log")"
for p in keten-broker.service:keten keten-agent@.servicepolitie:keten-politie \
	keten-agent@.serviceom:keten-om; do
	pid=$(cat "$NET/${p%%:*}.unitpid")
	[ "$(ps -o user= -p "$pid")" = "${p#*:}" ] || die "${p%%:*} does not run as ${p#*:}"
done

# the partner system's account: the socket and the token, through the group
as_cms="setpriv --reuid=cms-politie --regid=cms-politie --init-groups"
id=$($as_cms "$KETEN" send --config "$T/etc/keten/politie.yaml" --to om --type CaseReferral \
	--purpose prosecution --case PL-2026-7001 --body '{"reference":"PL-2026-7001"}' 2>"$NET/cms.err") ||
	die "the partner system cannot send: $(cat "$NET/cms.err")"
$as_cms "$KETEN" status --config "$T/etc/keten/politie.yaml" --wait 10 "$id" | head -n 1 | grep -q accepted ||
	die "not accepted"
token=$($as_cms cat "$T/etc/keten/politie.token") || die "the partner system cannot read the token"
code=$($as_cms curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" \
	"http://127.0.0.1:8480/v1/messages/$id") || die "curl failed"
[ "$code" = 200 ] || die "the REST API with the token answered $code"
# another account reaches neither
setpriv --reuid=nobody --regid=nogroup --clear-groups "$KETEN" inbox \
	--config "$T/etc/keten/politie.yaml" >/dev/null 2>&1 && die "nobody used politie's agent"
setpriv --reuid=nobody --regid=nogroup --clear-groups cat "$T/etc/keten/politie.token" >/dev/null 2>&1 &&
	die "nobody read the token"
for i in $(seq 100); do
	[ "$("$KETEN" inbox --config "$T/etc/keten/om.yaml" | wc -l)" -ge 1 ] && break
	sleep 0.1
done
"$KETEN" inbox --config "$T/etc/keten/om.yaml" | grep -q "$id" || die "om did not receive it"

# an auditor, as "Auditors' access" says, before and after a restart
auditor=keten-t-alice
getent passwd "$auditor" >/dev/null || { useradd --system --groups keten-audit "$auditor" &&
	made_accounts="$auditor $made_accounts"; }
(cd "$T/var/lib/keten/broker" && chgrp keten-audit . data.mdb lock.mdb audit-spool &&
	chmod 0750 . && chmod 0640 data.mdb && chmod 0660 lock.mdb && chmod 1730 audit-spool) ||
	die "the auditors' group could not be set"
audit() {
	setpriv --reuid="$auditor" --regid="$auditor" --init-groups "$KETEN" audit verify \
		--data "$T/var/lib/keten/broker" --key "$T/etc/keten/broker.public.yaml" 2>&1
}
audit | grep -q "^ledger OK" || die "the auditor cannot verify: $(audit)"
unit_stop keten-broker.service
unit_start keten-broker.service
sleep 0.5
audit | grep -q "^ledger OK" || die "after a restart the auditor cannot verify: $(audit)"
[ "$(stat -c %G "$T/var/lib/keten/broker/data.mdb")" = keten-audit ] || die "the ledger left the auditors' group"
# and the partner system after its agent restarted (a new runtime directory)
unit_stop keten-agent@.service politie
unit_start keten-agent@.service politie
wait_for_file "$T/run/keten/politie/api.sock" || die "politie did not restart"
$as_cms "$KETEN" inbox --config "$T/etc/keten/politie.yaml" >/dev/null ||
	die "after a restart the partner system cannot reach its agent"
echo "# $n install steps of docs/operator.md as written; systemd-analyze verify silent; broker, politie and om as keten, keten-politie, keten-om; the partner system through the group (socket and token), nobody else; the auditor verifies before and after a restart"
