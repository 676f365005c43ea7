# What demo/demo.sh and demo/partners.sh share (sourced after tests/integ/lib.sh):
# the section heading, and DEMO_DIR made ready.

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

# demo_dir_prepare: a previous demo's DEMO_DIR is replaced (unless one of its
# processes still runs); any other non-empty directory is left alone (exit 2).
demo_dir_prepare() {
	local f
	if [ -d "$DEMO_DIR" ] && [ -n "$(ls -A "$DEMO_DIR")" ]; then
		[ -e "$DEMO_DIR/.keten-demo" ] || {
			echo "demo: $DEMO_DIR exists and is not a keten demo network; choose another DEMO_DIR" >&2
			exit 2
		}
		for f in "$DEMO_DIR"/*.pid; do
			[ -e "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null && {
				echo "demo: a process of the previous demo still runs ($f); stop it first" >&2
				exit 2
			}
		done
		rm -rf "$DEMO_DIR"
	fi
	mkdir -p "$DEMO_DIR"
	# ipc:// socket paths are limited to 107 bytes
	[ "$(cd "$DEMO_DIR" && pwd | wc -c)" -le 70 ] || {
		echo "demo: the path of $DEMO_DIR is too long for ipc:// sockets; set DEMO_DIR to a shorter one" >&2
		exit 2
	}
	touch "$DEMO_DIR/.keten-demo"
}

# demo_stop: every process stopped (a failure to stop cleanly fails the
# demo); the sockets removed, the network left for the reader
demo_stop() {
	net_stop
	[ -z "${STOP_FAILED:-}" ] || { echo "a process did not stop cleanly; see $DEMO_DIR/*.log" >&2; exit 1; }
	rm -f "$NET"/*.sock "$NET"/*/api.sock
}
