# Text helpers for demo/demo.sh (mawk-compatible): the program text is
# prepended to each awk program that uses them.

# compress("a, b.x, b.y, c") = "a, b.{x, y}, c": consecutive paths with the
# same parent grouped, so long field lists stay readable.
function compress(list,    n, i, p, par, leaf, out, cur, items, k) {
	n = split(list, p, /, /)
	out = ""; cur = ""; items = ""; k = 0
	for (i = 1; i <= n + 1; i++) {
		if (i > n) { par = "\001"; leaf = "" }
		else if (match(p[i], /\.[^.]*$/)) { par = substr(p[i], 1, RSTART - 1); leaf = substr(p[i], RSTART + 1) }
		else { par = ""; leaf = p[i] }
		if (par != cur || par == "") {
			if (k == 1) out = out (out == "" ? "" : ", ") (cur == "" ? "" : cur ".") items
			else if (k > 1) out = out (out == "" ? "" : ", ") cur ".{" items "}"
			cur = par; items = ""; k = 0
		}
		if (i <= n) { items = items (k ? ", " : "") leaf; k++ }
	}
	return out
}

# wrap(text, width, hang): text folded at spaces into lines of at most width
# characters; continuation lines indented by the text's own indent plus hang.
function wrap(text, width, hang,    ind, pad, n, w, i, line, out) {
	match(text, /^ */); ind = RLENGTH
	pad = sprintf("%" (ind + hang) "s", "")
	n = split(substr(text, ind + 1), w, / /)
	line = sprintf("%" ind "s", "") w[1]; out = ""
	for (i = 2; i <= n; i++) {
		if (length(line) + 1 + length(w[i]) > width) { out = out line "\n"; line = pad w[i] }
		else line = line " " w[i]
	}
	return out line
}
