# The formatter of man/mkman.sh (which see): text on stdin, roff on stdout.
# Run it with LC_ALL=C (bytes, not characters); UTF-8 becomes \[uXXXX].
#   -v mode=synopsis  the "usage:" lines of a --help, one per alternative
#   -v mode=options   the option lines of a --help ("  -n, --check  what it
#                     does"), one .TP item each
#   -v mode=commands  the "commands:" list of `keten --help`, as lines
#                     NAME <tab> escaped NAME <tab> escaped summary
#   -v mode=verbatim  a whole --help, as a no-fill block
#   -v mode=config -v section=S   each "| key | default | meaning |" table
#                     under the Markdown heading "## S", one .TP item a row

BEGIN {
	for (i = 128; i < 256; i++)
		byte[sprintf("%c", i)] = i
}

# s with every a replaced by b (no regular expressions, no & or \ rules)
function subst(s, a, b,    out, i) {
	out = ""
	while ((i = index(s, a)) > 0) {
		out = out substr(s, 1, i - 1) b
		s = substr(s, i + length(a))
	}
	return out s
}

# UTF-8 sequences as groff's \[uXXXX], so the page is ASCII for any device
function u8(s,    out, i, c, b, n, cp) {
	out = ""
	for (i = 1; i <= length(s); i++) {
		c = substr(s, i, 1)
		if (!(c in byte)) {
			out = out c
			continue
		}
		b = byte[c]
		if (b >= 240) { n = 3; cp = b - 240 }
		else if (b >= 224) { n = 2; cp = b - 224 }
		else if (b >= 192) { n = 1; cp = b - 192 }
		else { out = out "?"; continue }
		for (; n > 0 && substr(s, i + 1, 1) in byte; n--)
			cp = cp * 64 + byte[substr(s, ++i, 1)] - 128
		out = out sprintf("\\[u%04X]", cp)
	}
	return out
}

# text for roff: backslash, minus (an ASCII "-" in options), ASCII quotes
function esc(s) {
	s = subst(s, "\\", "\\e")
	s = subst(s, "-", "\\-")
	s = subst(s, "'", "\\(aq")
	s = subst(s, "`", "\\(ga")
	return u8(s)
}

# a text line that cannot be taken for a request
function line(s) {
	return s ~ /^[.']/ ? "\\&" s : s
}

function trim(s) {
	sub(/^[ \t]+/, "", s)
	sub(/[ \t]+$/, "", s)
	return s
}

# one word of a usage: options bold, placeholders (capitals, <x>) italic,
# literal words bold; brackets, parentheses, commas, "|" and "..." roman
function word(w,    k) {
	if (w == "")
		return ""
	if (w ~ /^-/) {
		if ((k = index(w, "=")) > 0)
			return "\\fB" esc(substr(w, 1, k)) "\\fI" esc(substr(w, k + 1)) "\\fR"
		return "\\fB" esc(w) "\\fR"
	}
	if (w ~ /^<.*>$/)
		return "\\fI" esc(substr(w, 2, length(w) - 2)) "\\fR"
	return (w ~ /[A-Z]/ ? "\\fI" : "\\fB") esc(w) "\\fR"
}

function token(t,    pre, post, n, alt, i, r) {
	pre = post = ""
	while (t ~ /^[[(]/) {
		pre = pre substr(t, 1, 1)
		t = substr(t, 2)
	}
	while (t ~ /([])|,]|\.\.\.)$/) {
		n = t ~ /\.\.\.$/ ? 3 : 1
		post = substr(t, length(t) - n + 1) post
		t = substr(t, 1, length(t) - n)
	}
	if (pre == "[" && post == "]" && t ~ /^[a-z]+$/)
		return "[\\fI" t "\\fR]"	# [options]: a placeholder
	n = split(t, alt, "|")
	r = ""
	for (i = 1; i <= n; i++)
		r = r (i > 1 ? "|" : "") word(alt[i])
	return pre r post
}

function usage(s,    n, w, i, r) {
	n = split(s, w, " ")
	r = ""
	for (i = 1; i <= n; i++)
		r = r (i > 1 ? " " : "") token(w[i])
	return r
}

# synopsis: "usage: PROG ..." and the lines after it indented 4 or more,
# each that starts with PROG another alternative, the others continuations
mode == "synopsis" && !done {
	if (!n && sub(/^usage: +/, "")) {
		prog = $1
		alt[n = 1] = $0
	} else if (n && /^    / && $0 !~ /^ *-/) {
		if ($1 == prog)
			alt[++n] = trim($0)
		else
			alt[n] = alt[n] " " trim($0)
	} else if (n)
		done = 1
}

# options: "  -x, --long ARG   what it does", continued on lines indented deeper
mode == "options" {
	if (/^ +-/) {
		opt[++n] = trim($0)
		what[n] = ""
		col = match($0, /-/) + 2
		if (match($0, /[^ ]  +[^ ]/)) {
			opt[n] = trim(substr($0, 1, RSTART))
			what[n] = trim(substr($0, RSTART + 1))
			col = RSTART + RLENGTH - 1
		}
	} else if (n && /^ +[^ ]/ && match($0, /[^ ]/) >= col)
		what[n] = trim(what[n] " " trim($0))
}

# commands: "  NAME   summary" after "commands:", until a blank line
mode == "commands" {
	if (/^commands:/)
		on = 1
	else if (on && /^$/)
		on = 0
	else if (on && /^  [a-z]/) {
		cmd[++n] = $1
		sum[n] = trim(substr($0, length($1) + 3))
	} else if (on && n && /^   /)
		sum[n] = sum[n] " " trim($0)
}

mode == "verbatim" {
	if (!started++)
		print ".PP\n.nf"
	print $0 == "" ? ".sp" : line(esc($0))
}

# config: Markdown tables; a cell's inline code and bold become bold, a
# link its text
function md(s,    t) {
	while (match(s, /`[^`]*`/))
		s = substr(s, 1, RSTART - 1) "\001" substr(s, RSTART + 1, RLENGTH - 2) "\002" \
		    substr(s, RSTART + RLENGTH)
	while (match(s, /\*\*[^*]*\*\*/))
		s = substr(s, 1, RSTART - 1) "\001" substr(s, RSTART + 2, RLENGTH - 4) "\002" \
		    substr(s, RSTART + RLENGTH)
	while (match(s, /\[[^]]*\]\([^)]*\)/)) {
		t = substr(s, RSTART + 1)
		s = substr(s, 1, RSTART - 1) substr(t, 1, index(t, "]") - 1) substr(s, RSTART + RLENGTH)
	}
	return subst(subst(esc(s), "\001", "\\fB"), "\002", "\\fR")
}

mode == "config" {
	if (/^## /)
		in_section = trim(substr($0, 4)) == section
	if (table && !/^\|/)
		table = 0
	if (table == 2) {	# | key | default | meaning |, "\|" a "|" in a cell
		row = subst($0, "\\|", "\003")
		sub(/^\| */, "", row)
		sub(/ *\| *$/, "", row)
		split(row, cell, / *\| */)
		for (i = 1; i <= 3; i++)
			cell[i] = md(subst(cell[i], "\003", "|"))
		print ".TP"
		print line(cell[1] " (" (cell[2] ~ /^required/ ? "" : "default: ") cell[2] ")")
		if (cell[3] != "")
			print line(cell[3])
	}
	if (table == 1)
		table = 2	# the |---| line
	if (in_section && /^\| *key *\| *default *\| *meaning *\| *$/)
		table = found = 1
}

END {
	if (mode == "synopsis") {
		for (i = 1; i <= n; i++)
			print (i > 1 ? ".br\n" : "") usage(alt[i])
	} else if (mode == "options") {
		for (i = 1; i <= n; i++) {
			gsub(/, */, ",", opt[i])
			k = split(opt[i], o, ",")
			r = ""
			for (j = 1; j <= k; j++)
				r = r (j > 1 ? ", " : "") usage(o[j])
			print ".TP\n" line(r) "\n" line(esc(what[i]))
		}
	} else if (mode == "commands") {
		for (i = 1; i <= n; i++)
			print cmd[i] "\t" esc(cmd[i]) "\t" line(esc(sum[i]))
	} else if (mode == "verbatim") {
		print ".fi"
	}
	if (mode == "synopsis" && !n || mode == "options" && !n || mode == "commands" && !n ||
	    mode == "verbatim" && !started || mode == "config" && !found) {
		print "mkman.awk: found no " mode (section ? " under \"## " section "\"" : "") > "/dev/stderr"
		exit 1
	}
}
