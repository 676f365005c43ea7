# Helpers for the fault suite (tests/faults/t_*.sh, docs/faults.md), on top
# of the integration tests' tests/integ/lib.sh: seeds, a soft time budget, a
# sender that survives the death of its agent and records what it knows, and
# the exactly-once check against the inboxes and the audit ledger.
#
# Environment: FAULT_SEED replays a run (the kill/stop schedule); FAULT_DEADLINE
# (epoch seconds, set by run.sh from FAULT_SECONDS) is the soft budget that
# tests consult to size themselves; FAULT_STALL_S (default 180) is how long a
# wait may see no progress at all before it counts as a hang.  Nothing here
# asserts on speed: waits end on progress stalling, not on a clock.
. "$(dirname "${BASH_SOURCE[0]}")/../integ/lib.sh"

# a loaded machine may take its time to start a process
KETEN_WAIT_FILE_S=${KETEN_WAIT_FILE_S:-60}
FAULT_STALL_S=${FAULT_STALL_S:-180}

# fault_seed: SEED from FAULT_SEED or fresh; $RANDOM is seeded with it.
fault_seed() {
	SEED=${FAULT_SEED:-$(($(date +%s%N) / 1000 % 1000000))}
	RANDOM=$SEED
}

# fault_left: seconds of the soft budget left (a large number when unset).
fault_left() {
	if [ -n "${FAULT_DEADLINE:-}" ]; then
		echo $((FAULT_DEADLINE - $(date +%s)))
	else
		echo 100000
	fi
}

# rand_s VAR LO HI: VAR = a random duration in seconds (for sleep), LO..HI
# ms.  Sets a variable rather than printing: a $(subshell) reseeds $RANDOM,
# and the schedule must follow from the seed alone.
rand_s() {
	local ms=$(($2 + RANDOM % ($3 - $2 + 1)))
	printf -v "$1" '%d.%03d' $((ms / 1000)) $((ms % 1000))
}

# wait_until DESCRIPTION CMD...: run CMD (it prints a number and succeeds when
# done) every second until it succeeds; fail only when the number it prints
# has not changed for FAULT_STALL_S seconds.
wait_until() {
	local what=$1 last="" v since=$SECONDS
	shift
	while :; do
		if v=$("$@"); then return 0; fi
		if [ "$v" != "$last" ]; then last=$v; since=$SECONDS; fi
		if [ $((SECONDS - since)) -ge "$FAULT_STALL_S" ]; then
			echo "no progress for ${FAULT_STALL_S} s waiting for $what (at $v)" >&2
			return 1
		fi
		sleep 1
	done
}

# fault_sender AGENCY TO TYPE PURPOSE INPUT LOG [CHUNK]: submit INPUT's lines
# (case messages as JSON, each with a unique "reference") in order through
# `keten send --lines --json`, CHUNK lines (default 100) per call, while the
# agent may be killed, frozen or restarted under it.  Writes LOG, one line
# per submission attempt:
#   A <TAB> REFERENCE <TAB> MESSAGE-ID   the CLI printed the id: accepted
#   U <TAB> REFERENCE                    no id came back (connection lost,
#                                        timeout, 5xx): may or may not be stored
#   R <TAB> REFERENCE <TAB> ANSWER       refused (4xx: invalid, no rule): not
#                                        stored, not sent again
# A line without an id is sent again, in order, until one comes back.
fault_sender() {
	local agency=$1 to=$2 type=$3 purpose=$4 input=$5 log=$6 chunk=${7:-100}
	local total pos=1 tmp=$log.chunk out=$log.out rc
	total=$(wc -l <"$input")
	: >"$log"
	: >"$tmp.retry"
	while [ $pos -le "$total" ] || [ -s "$tmp.retry" ]; do
		if [ -s "$tmp.retry" ]; then
			mv "$tmp.retry" "$tmp"
		else
			sed -n "${pos},$((pos + chunk - 1))p" "$input" >"$tmp"
			pos=$((pos + chunk))
		fi
		: >"$tmp.retry"
		rc=0
		"$KETEN" send --config "$NET/$agency.yaml" --to "$to" --type "$type" \
			--purpose "$purpose" --quiet --lines --json <"$tmp" >"$out" 2>>"$log.err" || rc=$?
		# the k-th answer is the k-th line's; lines past the answers got none:
		# refused when the CLI says so (exit 1, 2: a whole batch refused),
		# else unanswered (exit 3: the agent did not answer)
		awk -v ans="$out" -v retry="$tmp.retry" -v lg="$log" -v rc=$rc '
			{ ref = $0; sub(/.*"reference":"/, "", ref); sub(/".*/, "", ref)
			  id = ""
			  if ((getline a < ans) > 0 && a ~ /"status":202/ && match(a, /"messageId":"[^"]*"/))
				id = substr(a, RSTART + 13, RLENGTH - 14)
			  if (id != "") print "A\t" ref "\t" id >> lg
			  else if (a ~ /"status":4[0-9][0-9]/) print "R\t" ref "\t" a >> lg
			  else if (a == "" && (rc == 1 || rc == 2)) print "R\t" ref "\tbatch refused" >> lg
			  else { print "U\t" ref >> lg; print $0 >> retry }
			  a = "" }' "$tmp"
		[ -s "$tmp.retry" ] && sleep 0.3	# the agent is away: give it time
	done
	rm -f "$tmp" "$tmp.retry" "$out"
}

# fault_inbox AGENCY FILE: the agency's whole inbox into FILE; prints its size.
fault_inbox() {
	"$KETEN" inbox --config "$NET/$1.yaml" --all >"$2.tmp" 2>/dev/null || return 1
	mv "$2.tmp" "$2"
	wc -l <"$2"
}

# accepted_missing RECIPIENT SENDER LOG: prints how many ids accepted in LOG
# are not yet in RECIPIENT's inbox from SENDER; succeeds when none are.
accepted_missing() {
	local f="$NET/$1.inbox" n
	fault_inbox "$1" "$f" >/dev/null || { echo "?"; return 1; }
	n=$(awk -F'\t' -v s="$2" 'FNR == NR { if ($1 == "A") want[$3] = 1; next }
		$3 == s { delete want[$2] } END { n = 0; for (i in want) n++; print n }' "$3" "$f")
	echo "$n"
	[ "$n" -eq 0 ]
}

# delivered_pending RECIPIENT: prints how many inbox messages the ledger does
# not yet show as delivered (their acknowledgements may be on the way).
delivered_pending() {
	local inbox d
	inbox=$(fault_inbox "$1" "$NET/$1.inbox") || { echo "?"; return 1; }
	d=$("$KETEN" audit query --json --data "$NET/broker$NET_DATA_SUFFIX" --kind DELIVERED \
		--recipient "$1" 2>/dev/null | grep -c KIND_DELIVERED)
	echo $((inbox - d))
	[ "$d" -ge "$inbox" ]
}

# fault_check RECIPIENT SENDER LOG: the exactly-once rule, against the
# recipient's inbox as last saved in NET/RECIPIENT.inbox (by fault_inbox,
# accepted_missing or delivered_pending: the CLI needs the agent running)
# and the broker's ledger.  Call it with everything delivered.
#
# The rule.  Every message id the CLI printed (A) reaches the recipient
# exactly once, and the printed ids arrive in the order they were printed.
# A submission without an answer (U) may have been stored by the agent before
# it died: it is sent again, so its reference may arrive once more than it
# was accepted, never more than once per unanswered attempt; such a message
# has an id nobody printed.  So per reference: accepted <= arrived <=
# accepted + unanswered, and no message id arrives twice.  Every message in
# the inbox must have an ACCEPTED and a DELIVERED entry in the ledger, and
# the ledger may hold no acceptance for this pair that did not arrive.
# Prints the figures; fails (saying why on stderr) on a violation.
fault_check() {
	local rcpt=$1 sender=$2 log=$3 d="$NET/broker$NET_DATA_SUFFIX" f="$NET/$1.inbox" fig
	[ -s "$f" ] || { echo "no saved inbox of $rcpt" >&2; return 1; }
	"$KETEN" audit query --json --data "$d" --kind ACCEPTED --sender "$sender" --recipient "$rcpt" \
		2>/dev/null | sed -n 's/.*"messageId":"\([^"]*\)".*/\1/p' >"$f.acc"
	"$KETEN" audit query --json --data "$d" --kind DELIVERED --recipient "$rcpt" \
		2>/dev/null | sed -n 's/.*"messageId":"\([^"]*\)".*/\1/p' >"$f.del"
	fig=$(awk -F'\t' -v s="$sender" -v acc="$f.acc" -v del="$f.del" -v r="$rcpt" '
		FILENAME == ARGV[1] {
			if ($1 == "A") { printed[$3] = $2; order[++na] = $3; a[$2]++ }
			else if ($1 == "R") { nr++; if (nr <= 3) bad = bad "\n  " $2 " refused: " $3 }
			else { u[$2]++; nu++ }
			refs[$2] = 1
			next
		}
		$3 != s { next }
		{
			id = $2; ref = $6; sub(/.*"reference":"/, "", ref); sub(/".*/, "", ref)
			if (seen[id]++) { dup++; bad = bad "\n  message " id " (" ref ") arrived twice"; next }
			got[ref]++; n++; inbox[id] = 1; pos[id] = n
			if (id in printed) {
				if (printed[id] != ref) bad = bad "\n  " id ": sent as " printed[id] ", arrived as " ref
			} else extra++
		}
		END {
			while ((getline x < acc) > 0) { if (lacc[x]++) { bad = bad "\n  ledger: " x " accepted twice" }; nacc++ }
			while ((getline x < del) > 0) { if (ldel[x]++) { bad = bad "\n  ledger: " x " delivered twice" }; ndel++ }
			for (i = 1; i <= na; i++) {
				id = order[i]
				if (!(id in inbox)) { lost++; if (lost <= 5) bad = bad "\n  accepted " id " (" printed[id] ") never arrived"; continue }
				if (pos[id] < last) { disorder++; if (disorder <= 5) bad = bad "\n  " id " (" printed[id] ") arrived out of order" }
				last = pos[id]
			}
			for (ref in got)
				if (got[ref] < a[ref] || got[ref] > a[ref] + u[ref]) {
					refbad++
					if (refbad <= 5) bad = bad sprintf("\n  reference %s arrived %d times (accepted %d, unanswered %d)", ref, got[ref], a[ref], u[ref])
				}
			for (id in inbox) {
				if (!(id in lacc)) { bad = bad "\n  " id " arrived but the ledger has no acceptance"; break }
			}
			for (id in inbox) {
				if (!(id in ldel)) { bad = bad "\n  " id " arrived but the ledger has no delivery"; break }
			}
			for (x in lacc) if (!(x in inbox)) { nolanded++ }
			if (nolanded) bad = bad "\n  ledger: " nolanded " accepted for " r " never arrived"
			nrefs = 0; for (x in refs) nrefs++
			printf "%s: references %d, accepted %d, unanswered %d, arrived %d (of which unanswered-but-stored %d), duplicates %d, lost %d, out of order %d; ledger: accepted " s "->" r " %d, delivered to " r " (from anyone) %d\n", \
				r, nrefs, na, nu, n, extra, dup + 0, lost + 0, disorder + 0, nacc, ndel
			if (bad != "") { print "VIOLATION" bad; exit 1 }
		}' "$log" "$f") || { echo "$fig" >&2; echo "exactly-once rule broken for $rcpt" >&2; return 1; }
	echo "$fig"
}

# fault_start NAME: start the broker or agent NAME again.
fault_start() {
	if [ "$1" = broker ]; then broker_start; else agent_start "$1"; fi
}
