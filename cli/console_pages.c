/*
 * keten console: the pages (cli/console.h, docs/console.md).  Each builds
 * its JSON (the twin at PATH.json), then draws it: plain HTML, tables with
 * headers, inline SVG with a title and the same facts in text beside it,
 * meaning never carried by colour alone, one stylesheet from /style.css.
 */
#include <sodium.h>
#include <time.h>

#include "cli/console.h"
#include "common/envelope.h"
#include "common/util.h"
#include "ledger/ledgerjson.h"
#include "ledger/reader.h"

const char console_css[] =
    ":root{--ink:#1b1b1b;--muted:#4a4a4a;--line:#8a8a8a;--gain:#d8f0dc;--lose:#f9dcdc;"
    "--forbid:#7a1010;--link:#0b4f9c;--head:#eef1f5}\n"
    "*{box-sizing:border-box}\n"
    "body{font:16px/1.45 system-ui,sans-serif;color:var(--ink);background:#fff;margin:0}\n"
    "header,main,footer{padding:0 1rem;max-width:110rem;margin:0 auto}\n"
    "header nav{display:flex;flex-wrap:wrap;gap:.25rem 1rem;padding:.6rem 0;"
    "border-bottom:1px solid var(--line)}\n"
    "a{color:var(--link)}a:focus{outline:3px solid #f5b400;outline-offset:1px}\n"
    "h1{font-size:1.6rem;margin:1rem 0 .3rem}h2{font-size:1.25rem;margin:1.4rem 0 .4rem}"
    "h3{font-size:1.05rem;margin:1rem 0 .3rem}\n"
    ".meta{color:var(--muted);margin:.2rem 0}\n"
    ".scroll{overflow-x:auto;max-width:100%;position:relative}\nfigure{margin:.5rem 0}\n"
    "table{border-collapse:collapse;margin:.4rem 0}th,td{border:1px solid var(--line);"
    "padding:.3rem .45rem;vertical-align:top;text-align:left}\n"
    "thead th,tbody th{background:var(--head)}caption{text-align:left;font-weight:600}\n"
    "td ul,dd ul{margin:0;padding-left:1.1rem}\n"
    ".forbid{color:var(--forbid);font-weight:600}\n"
    ".gain{background:var(--gain)}.lose{background:var(--lose)}\n"
    ".none{color:var(--muted)}\n"
    ".selected-sum{font-weight:600;margin:.2rem 0}.selected-sum.yes{background:#fff0b3}"
    ".selected-sum.no{color:var(--muted)}\n"
    "code,.path{font-family:ui-monospace,monospace;font-size:.92em;overflow-wrap:anywhere}\n"
    "pre{overflow-x:auto;background:#f6f6f6;padding:.5rem;white-space:pre-wrap;"
    "overflow-wrap:anywhere}\n"
    "form.filters{display:flex;flex-wrap:wrap;gap:.5rem 1rem;align-items:end;margin:.6rem 0}\n"
    "form.filters label{display:flex;flex-direction:column;font-size:.9rem}\n"
    "input,select,button{font:inherit;padding:.2rem .3rem}\n"
    "ol.timeline{list-style:none;padding:0;margin:0;border-left:3px solid var(--line)}\n"
    "ol.timeline>li{margin:0 0 1rem;padding:.2rem 0 .2rem 1rem;position:relative}\n"
    "ol.timeline>li::before{content:'';position:absolute;left:-.55rem;top:.55rem;width:.8rem;"
    "height:.8rem;border-radius:50%;background:var(--ink)}\n"
    "dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem}"
    "dl.facts dt{font-weight:600}dl.facts dd{margin:0;overflow-wrap:anywhere}\n"
    ".ok{font-weight:600}.bad{font-weight:600;color:var(--forbid)}\n"
    "svg{max-width:100%;height:auto}svg text{font:12px system-ui,sans-serif;fill:var(--ink)}\n"
    ".sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}\n"
    "footer{margin-top:2rem;padding:.8rem 1rem;border-top:1px solid var(--line);"
    "color:var(--muted);overflow-wrap:anywhere}\n"
    "@media print{header nav,form.filters,footer a{display:none}a{color:inherit}"
    ".scroll{overflow:visible}}\n";

/* ---- HTML helpers ---- */

void
html_esc(struct buf *b, const char *s)
{
	if (s == NULL)
		return;
	for (; *s; s++) {
		switch (*s) {
		case '<': buf_add(b, "&lt;"); break;
		case '>': buf_add(b, "&gt;"); break;
		case '&': buf_add(b, "&amp;"); break;
		case '"': buf_add(b, "&quot;"); break;
		case '\'': buf_add(b, "&#39;"); break;
		default: buf_add(b, "%c", *s);
		}
	}
}

/* URL-encode s into b (a query value). */
static void
url_esc(struct buf *b, const char *s)
{
	for (; s && *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		    ch == '-' || ch == '_' || ch == '.' || ch == '~')
			buf_add(b, "%c", ch);
		else
			buf_add(b, "%%%02X", ch);
	}
}

static const char *
jstr(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));
	return s ? s : "";
}

/*
 * s escaped for HTML text or a quoted attribute, in one of a few static
 * buffers (pages are drawn by one thread; values here are short: ids,
 * times, kinds; a longer one is cut).  Every value from the ledger, a
 * policy or a child's JSON goes through this or html_esc.
 */
static const char *
ha(const char *s)
{
	static char ring[8][512];
	static unsigned next;
	char *out = ring[next++ % 8];
	size_t n = 0;

	for (; s != NULL && *s && n + 7 < sizeof(ring[0]); s++) {
		const char *r = *s == '<' ? "&lt;" : *s == '>' ? "&gt;" : *s == '&' ? "&amp;" :
		    *s == '"' ? "&quot;" : *s == '\'' ? "&#39;" : NULL;
		if (r != NULL) {
			memcpy(out + n, r, strlen(r));
			n += strlen(r);
		} else {
			out[n++] = *s;
		}
	}
	out[n] = '\0';
	return out;
}

static long long
jint(json_t *o, const char *k)
{
	return (long long)json_integer_value(json_object_get(o, k));
}

void
html_start(struct buf *b, const char *title, const char *twin)
{
	(void)twin;
	buf_add(b, "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
	    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
	    "<title>");
	html_esc(b, title);
	buf_add(b, " · keten console</title><link rel=\"stylesheet\" href=\"/style.css\"></head>"
	    "<body><header><nav aria-label=\"Pages\"><a href=\"/\">keten console</a>"
	    "<a href=\"/matrix\">Sharing matrix</a><a href=\"/change\">Policy change</a>"
	    "<a href=\"/cases\">Cases</a><a href=\"/health\">Ledger health</a></nav></header>"
	    "<main id=\"main\">\n<h1>");
	html_esc(b, title);
	buf_add(b, "</h1>\n");
}

void
html_end(struct buf *b, const char *twin)
{
	char t[64];
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	strftime(t, sizeof(t), "%Y-%m-%dT%H:%M:%SZ", &tm);
	buf_add(b, "</main><footer><p>Read-only. Drawn at %s from the files this console was "
	    "started with; it shows no case content (the ledger holds none).", t);
	if (twin != NULL) {
		buf_add(b, " The same as JSON: <a href=\"");
		html_esc(b, twin);
		buf_add(b, "\">");
		html_esc(b, twin);
		buf_add(b, "</a>.");
	}
	buf_add(b, "</p></footer></body></html>\n");
}

void
console_error(struct page *pg, unsigned status, const char *title, const char *what)
{
	pg->status = status;
	json_decref(pg->json);
	pg->json = json_pack("{s:s, s:s}", "error", title, "detail", what);
	free(pg->html.s);
	memset(&pg->html, 0, sizeof(pg->html));
	html_start(&pg->html, title, NULL);
	buf_add(&pg->html, "<p>");
	html_esc(&pg->html, what);
	buf_add(&pg->html, "</p>");
	html_end(&pg->html, NULL);
}

/* A page that needs a file the console was not given. */
static void
needs(struct page *pg, const char *title, const char *option)
{
	char what[256];

	snprintf(what, sizeof(what), "This page needs %s: start keten console with it "
	    "(keten console --help).", option);
	console_error(pg, 404, title, what);
}

static void
list_paths(struct buf *b, json_t *arr, const char *cls)
{
	size_t i;
	json_t *x;

	if (json_array_size(arr) == 0) {
		buf_add(b, "<span class=\"none\">none</span>");
		return;
	}
	buf_add(b, "<ul class=\"%s\">", cls);
	json_array_foreach(arr, i, x) {
		buf_add(b, "<li class=\"path\">");
		html_esc(b, json_string_value(x));
		buf_add(b, "</li>");
	}
	buf_add(b, "</ul>");
}

static void
join_strings(struct buf *b, json_t *arr, const char *sep)
{
	size_t i;
	json_t *x;

	json_array_foreach(arr, i, x) {
		if (i)
			buf_add(b, "%s", sep);
		html_esc(b, json_is_string(x) ? json_string_value(x) : "");
	}
}

/* ---- start page ---- */

void
console_index(const struct console *c, struct page *pg)
{
	struct buf *b = &pg->html;

	pg->json = json_pack("{s:s?, s:s?, s:s?, s:s?, s:s?, s:b, s:b}", "policy", c->policy,
	    "oldPolicy", c->old_policy, "root", c->root, "ledger", c->ledger, "key", c->key,
	    "networkKey", c->network_key != NULL, "readOnly", 1);
	json_t *pages = json_array();
	html_start(b, "keten console", "/index.json");
	buf_add(b, "<p class=\"meta\">A read-only view over the files it was started with.</p>"
	    "<h2>Pages</h2><ul>");
	if (c->policy) {
		buf_add(b, "<li><a href=\"/matrix\">Sharing matrix</a>: which agency may send which "
		    "fields to whom, for what purpose, under which legal basis (");
		html_esc(b, c->policy);
		buf_add(b, ")</li>");
		json_array_append_new(pages, json_string("/matrix"));
	}
	if (c->policy && c->old_policy) {
		buf_add(b, "<li><a href=\"/change\">Policy change</a>: ");
		html_esc(b, c->old_policy);
		buf_add(b, " against ");
		html_esc(b, c->policy);
		buf_add(b, "</li>");
		json_array_append_new(pages, json_string("/change"));
	}
	if (c->ledger) {
		buf_add(b, "<li><a href=\"/cases\">Cases</a>: each case in the ledger as a "
		    "timeline</li><li><a href=\"/health\">Ledger health</a>: verification, "
		    "witnesses, traffic (");
		html_esc(b, c->ledger);
		buf_add(b, ")</li>");
		json_array_append_new(pages, json_string("/cases"));
		json_array_append_new(pages, json_string("/health"));
	}
	buf_add(b, "</ul><p>Every page has a JSON twin: add <code>.json</code> to its path.</p>");
	json_object_set_new(pg->json, "pages", pages);
	html_end(b, "/index.json");
}

/* ---- sharing matrix ---- */

static json_t *
run_matrix(const struct console *c, const char *policy, const char *fields, char *err)
{
	const char *argv[16];
	size_t n = 0;
	int code;

	argv[n++] = "policy";
	argv[n++] = "matrix";
	argv[n++] = "--format";
	argv[n++] = "json";
	if (c->directory) {
		argv[n++] = "--directory";
		argv[n++] = c->directory;
	}
	if (fields && *fields) {
		argv[n++] = "--fields";
		argv[n++] = fields;
	}
	argv[n++] = policy;
	argv[n] = NULL;
	return console_run(c, argv, false, &code, err);
}

/* Does cell x pass the type and purpose filters? */
static bool
cell_wanted(json_t *x, const char *type, const char *purpose)
{
	return (type == NULL || !*type || strcmp(jstr(x, "type"), type) == 0) &&
	    (purpose == NULL || !*purpose || strcmp(jstr(x, "purpose"), purpose) == 0);
}

static void
select_options(struct buf *b, const char *name, const char *label, json_t *values,
    const char *chosen)
{
	size_t i;
	json_t *v;

	buf_add(b, "<label>%s<select name=\"%s\"><option value=\"\">all</option>", label, name);
	json_array_foreach(values, i, v) {
		buf_add(b, "<option%s>", chosen && strcmp(chosen, json_string_value(v)) == 0 ?
		    " selected" : "");
		html_esc(b, json_string_value(v));
		buf_add(b, "</option>");
	}
	buf_add(b, "</select></label>");
}

/* The matrix table of m (filtered); diff: per "from|to|type|purpose" gained/lost, or NULL. */
static void
matrix_table(struct buf *b, json_t *m, const char *type, const char *purpose, const char *fields,
    const char *caption, const char *id, json_t *diff)
{
	json_t *ag = json_object_get(m, "agencies"), *cells = json_object_get(m, "cells");
	size_t i, k, n = json_array_size(ag);
	json_t *a, *x;

	buf_add(b, "<div class=\"scroll\" role=\"region\" aria-label=\"");
	html_esc(b, caption);
	buf_add(b, "\" tabindex=\"0\"><table id=\"%s\" class=\"matrix\"><caption>", id);
	html_esc(b, caption);
	buf_add(b, "</caption><thead><tr><th scope=\"col\">from \\ to</th>");
	json_array_foreach(ag, i, a) {
		buf_add(b, "<th scope=\"col\" data-to=\"");
		html_esc(b, jstr(a, "id"));
		buf_add(b, "\">");
		html_esc(b, jstr(a, "id"));
		if (*jstr(a, "kind")) {
			buf_add(b, "<br><span class=\"meta\">");
			html_esc(b, jstr(a, "kind"));
			buf_add(b, "</span>");
		}
		buf_add(b, "</th>");
	}
	buf_add(b, "</tr></thead><tbody>");
	json_array_foreach(ag, i, a) {
		const char *from = jstr(a, "id");
		buf_add(b, "<tr data-from=\"");
		html_esc(b, from);
		buf_add(b, "\"><th scope=\"row\">");
		html_esc(b, from);
		buf_add(b, "</th>");
		for (k = 0; k < n; k++) {
			const char *to = jstr(json_array_get(ag, k), "id");
			struct buf items = { 0 }, forbids = { 0 };
			size_t nitems = 0, nsel = 0, j;
			json_t *forbid_seen = json_object();
			json_array_foreach(cells, j, x) {
				if (strcmp(jstr(x, "from"), from) || strcmp(jstr(x, "to"), to) ||
				    !cell_wanted(x, type, purpose))
					continue;
				json_t *sel = json_object_get(x, "selected");
				const char *mark = "";
				if (diff != NULL) {
					char key[512];
					snprintf(key, sizeof(key), "%s|%s|%s|%s", from, to, jstr(x, "type"),
					    jstr(x, "purpose"));
					json_t *dx = json_object_get(diff, key);
					mark = dx ? jstr(dx, "mark") : "";
				}
				buf_add(&items, "<li data-type=\"%s\" data-purpose=\"%s\"%s>",
				    ha(jstr(x, "type")), ha(jstr(x, "purpose")), *mark ? (strcmp(mark, "gain") == 0 ?
				    " class=\"gain\"" : strcmp(mark, "lose") == 0 ? " class=\"lose\"" :
				    " class=\"gain lose\"") : "");
				html_esc(&items, jstr(x, "type"));
				buf_add(&items, " · ");
				html_esc(&items, jstr(x, "purpose"));
				buf_add(&items, " · %lld field%s", jint(x, "fieldCount"),
				    jint(x, "fieldCount") == 1 ? "" : "s");
				if (*mark)
					buf_add(&items, " <strong>(%s)</strong>", strcmp(mark, "gain") == 0 ?
					    "gains fields" : strcmp(mark, "lose") == 0 ? "loses fields" :
					    "gains and loses fields");
				if (sel != NULL) {
					long long cnt = jint(sel, "count");
					nsel += (size_t)cnt;
					if (cnt)
						buf_add(&items, "; <strong class=\"selected\" data-count=\"%lld\">"
						    "%lld selected</strong>", cnt, cnt);
				}
				buf_add(&items, "</li>");
				nitems++;
				size_t q;
				json_t *f;
				json_array_foreach(json_object_get(x, "forbid"), q, f) {
					if (json_object_get(forbid_seen, jstr(f, "id")))
						continue;
					json_object_set_new(forbid_seen, jstr(f, "id"), json_true());
					buf_add(&forbids, "<li class=\"forbid\" data-rule=\"");
					html_esc(&forbids, jstr(f, "id"));
					buf_add(&forbids, "\">forbid ");
					html_esc(&forbids, jstr(f, "id"));
					buf_add(&forbids, "</li>");
				}
			}
			json_decref(forbid_seen);
			buf_add(b, "<td data-from=\"");
			html_esc(b, from);
			buf_add(b, "\" data-to=\"");
			html_esc(b, to);
			if (fields && *fields)
				buf_add(b, "\" data-selected=\"%zu", nsel);
			buf_add(b, "\">");
			if (nitems == 0 && forbids.len == 0) {
				buf_add(b, "<span class=\"none\">nothing may be sent</span>");
			} else {
				buf_add(b, "<a href=\"/matrix/cell?from=");
				url_esc(b, from);
				buf_add(b, "&amp;to=");
				url_esc(b, to);
				if (fields && *fields) {
					buf_add(b, "&amp;fields=");
					url_esc(b, fields);
				}
				buf_add(b, "\">%zu permitted<span class=\"sr\"> from %s to %s</span></a>",
				    nitems, ha(from), ha(to));
				if (fields && *fields)
					buf_add(b, "<p class=\"selected-sum %s\">%s</p>", nsel ? "yes" : "no",
					    nsel ? "▲ selected fields may go" : "no selected field goes");
				if (items.len)
					buf_add(b, "<ul>%s</ul>", items.s);
				if (forbids.len)
					buf_add(b, "<ul>%s</ul>", forbids.s);
			}
			buf_add(b, "</td>");
			free(items.s);
			free(forbids.s);
		}
		buf_add(b, "</tr>");
	}
	buf_add(b, "</tbody></table></div>");
}

void
console_matrix(const struct console *c, console_arg_fn arg, void *req, struct page *pg)
{
	const char *type = arg(req, "type"), *purpose = arg(req, "purpose");
	const char *fields = arg(req, "fields");
	char err[KETEN_ERRLEN] = "";
	struct buf *b = &pg->html;

	if (c->policy == NULL) {
		needs(pg, "Sharing matrix", "--policy POLICY.yaml");
		return;
	}
	json_t *m = run_matrix(c, c->policy, fields, err);
	if (m == NULL) {
		console_error(pg, fields && *fields ? 400 : 500, "Sharing matrix", err);
		return;
	}
	/* the twin: the matrix as `keten policy matrix --format json`, filtered */
	json_t *cells = json_array(), *x;
	size_t i;
	json_array_foreach(json_object_get(m, "cells"), i, x)
		if (cell_wanted(x, type, purpose))
			json_array_append(cells, x);
	pg->json = json_deep_copy(m);
	json_object_set_new(pg->json, "cells", cells);
	json_object_set_new(pg->json, "filters", json_pack("{s:s?, s:s?, s:s?}", "type", type,
	    "purpose", purpose, "fields", fields));

	json_t *pol = json_object_get(m, "policy");
	html_start(b, "Sharing matrix", "/matrix.json");
	buf_add(b, "<p class=\"meta\">Policy <strong>");
	html_esc(b, jstr(pol, "name"));
	buf_add(b, "</strong> version <strong>");
	html_esc(b, jstr(pol, "version"));
	buf_add(b, "</strong> (sha256 <code>%.16s…</code>, ", ha(jstr(pol, "sha256")));
	html_esc(b, jstr(pol, "file"));
	buf_add(b, "). Rows send, columns receive. Each cell lists the message types and "
	    "purposes the policy permits with the number of fields that may go, and the forbid "
	    "rules that apply there; open a cell for the fields, rules, legal bases and "
	    "conditions. Evaluated under: ");
	join_strings(b, json_object_get(m, "evaluatedUnder"), "; ");
	buf_add(b, ".</p><form class=\"filters\" method=\"get\" action=\"/matrix\">");
	select_options(b, "type", "Message type", json_object_get(m, "types"), type);
	select_options(b, "purpose", "Purpose", json_object_get(m, "purposes"), purpose);
	buf_add(b, "<label>Fields (a policy field pattern)<input name=\"fields\" value=\"");
	html_esc(b, fields ? fields : "");
	buf_add(b, "\" placeholder=\"persons[suspect].*\"></label><button type=\"submit\">Show"
	    "</button></form>");
	if (fields && *fields) {
		buf_add(b, "<p id=\"selection\">Where fields <code>");
		html_esc(b, fields);
		buf_add(b, "</code> may go: each cell says how many of them each permitted message "
		    "carries, and <q>no selected field goes</q> where none does.</p>");
	}
	matrix_table(b, m, type, purpose, fields, "Who may send what to whom", "matrix", NULL);
	html_end(b, "/matrix.json");
	json_decref(m);
}

/* When a rule applies: "always", "always except: X", or "only with: X; Y" (all: the universe). */
static void
when_text(struct buf *b, json_t *when, json_t *all)
{
	size_t i, k, n = json_array_size(when);
	json_t *x, *y;

	if (n == 1 && strcmp(json_string_value(json_array_get(when, 0)), "always") == 0) {
		buf_add(b, "always");
		return;
	}
	if (2 * n <= json_array_size(all)) {
		buf_add(b, "only with: ");
		join_strings(b, when, "; ");
		return;
	}
	buf_add(b, "always except with: ");
	size_t shown = 0;
	json_array_foreach(all, i, x) {
		bool in = false;
		json_array_foreach(when, k, y)
			in = in || json_equal(x, y);
		if (in)
			continue;
		buf_add(b, "%s", shown++ ? "; " : "");
		html_esc(b, json_string_value(x));
	}
}

void
console_cell(const struct console *c, console_arg_fn arg, void *req, struct page *pg)
{
	const char *from = arg(req, "from"), *to = arg(req, "to"), *fields = arg(req, "fields");
	char err[KETEN_ERRLEN] = "";
	struct buf *b = &pg->html;

	if (c->policy == NULL) {
		needs(pg, "Sharing matrix", "--policy POLICY.yaml");
		return;
	}
	if (from == NULL || to == NULL) {
		console_error(pg, 400, "Sharing matrix", "a cell is named by ?from=AGENCY&to=AGENCY");
		return;
	}
	json_t *m = run_matrix(c, c->policy, fields, err);
	if (m == NULL) {
		console_error(pg, 500, "Sharing matrix", err);
		return;
	}
	json_t *cells = json_array(), *x, *all = json_object_get(m, "evaluatedUnder");
	size_t i;
	json_array_foreach(json_object_get(m, "cells"), i, x)
		if (strcmp(jstr(x, "from"), from) == 0 && strcmp(jstr(x, "to"), to) == 0)
			json_array_append(cells, x);
	/* "O": cells is drawn below; a URL that is not UTF-8 fails the pack */
	pg->json = json_pack("{s:s, s:s, s:O, s:O}", "from", from, "to", to, "policy",
	    json_object_get(m, "policy"), "cells", cells);
	if (pg->json == NULL) {
		json_decref(cells);
		json_decref(m);
		console_error(pg, 400, "Sharing matrix", "from and to must be agency ids");
		return;
	}
	json_decref(cells);	/* pg->json holds it */

	char title[300];
	snprintf(title, sizeof(title), "%s to %s", from, to);
	struct buf twin = { 0 };
	buf_add(&twin, "/matrix/cell.json?from=");
	url_esc(&twin, from);
	buf_add(&twin, "&to=");
	url_esc(&twin, to);
	html_start(b, title, twin.s);
	buf_add(b, "<p class=\"meta\">What policy ");
	html_esc(b, jstr(json_object_get(m, "policy"), "name"));
	buf_add(b, " version ");
	html_esc(b, jstr(json_object_get(m, "policy"), "version"));
	buf_add(b, " lets <strong>");
	html_esc(b, from);
	buf_add(b, "</strong> send to <strong>");
	html_esc(b, to);
	buf_add(b, "</strong>. <a href=\"/matrix\">Back to the matrix</a>.</p>");
	if (json_array_size(cells) == 0)
		buf_add(b, "<p id=\"nothing\">No permit rule lets this sender send anything to this "
		    "recipient: every message would be refused.</p>");
	json_array_foreach(cells, i, x) {
		size_t k;
		json_t *r;
		buf_add(b, "<section class=\"cell\" data-type=\"%s\" data-purpose=\"%s\"><h2>",
		    ha(jstr(x, "type")), ha(jstr(x, "purpose")));
		html_esc(b, jstr(x, "type"));
		buf_add(b, " for ");
		html_esc(b, jstr(x, "purpose"));
		buf_add(b, ": %lld field%s</h2>", jint(x, "fieldCount"),
		    jint(x, "fieldCount") == 1 ? "" : "s");
		json_t *sel = json_object_get(x, "selected");
		if (sel != NULL) {
			buf_add(b, "<p class=\"selected\" data-count=\"%lld\">Of <code>", jint(sel, "count"));
			html_esc(b, jstr(sel, "pattern"));
			buf_add(b, "</code>: ");
			list_paths(b, json_object_get(sel, "fields"), "sel");
			buf_add(b, "</p>");
		}
		buf_add(b, "<h3>Fields that may go</h3>");
		json_array_foreach(json_object_get(x, "fieldsWhen"), k, r) {
			buf_add(b, "<p>");
			when_text(b, json_object_get(r, "when"), all);
			buf_add(b, ":</p>");
			list_paths(b, json_object_get(r, "fields"), "granted");
		}
		buf_add(b, "<h3>Granted by</h3><div class=\"scroll\" role=\"region\" aria-label=\""
		    "Permit rules\" tabindex=\"0\"><table class=\"rules\"><thead><tr>"
		    "<th scope=\"col\">rule</th><th scope=\"col\">legal basis</th>"
		    "<th scope=\"col\">conditions</th><th scope=\"col\">fields</th></tr></thead><tbody>");
		json_array_foreach(json_object_get(x, "rules"), k, r) {
			buf_add(b, "<tr data-rule=\"");
			html_esc(b, jstr(r, "id"));
			buf_add(b, "\"><th scope=\"row\">");
			html_esc(b, jstr(r, "id"));
			buf_add(b, "<br><span class=\"meta\">line %lld</span></th><td>", jint(r, "line"));
			html_esc(b, *jstr(r, "basis") ? jstr(r, "basis") : "none named");
			if (*jstr(r, "citation")) {
				buf_add(b, "<br><cite>");
				html_esc(b, jstr(r, "citation"));
				buf_add(b, "</cite>");
			}
			buf_add(b, "</td><td><ul><li>when: ");
			when_text(b, json_object_get(r, "when"), all);
			buf_add(b, "</li>");
			json_t *rt = json_object_get(r, "replyTo"), *lim = json_object_get(r, "limit");
			if (rt)
				buf_add(b, "<li>only as a reply to a %s, within %lld days</li>",
				    ha(jstr(rt, "type")), jint(rt, "withinDays"));
			if (lim)
				buf_add(b, "<li>limit: %lld per %s</li>", jint(lim, "count"),
				    ha(jstr(lim, "per")));
			if (jint(r, "retentionDays"))
				buf_add(b, "<li>retention: %lld days</li>", jint(r, "retentionDays"));
			if (*jstr(r, "needsEveryField")) {
				buf_add(b, "<li>every field, because: ");
				html_esc(b, jstr(r, "needsEveryField"));
				buf_add(b, "</li>");
			}
			buf_add(b, "</ul></td><td>%lld</td></tr>", jint(r, "fieldCount"));
		}
		buf_add(b, "</tbody></table></div>");
		if (json_array_size(json_object_get(x, "forbid")) > 0) {
			buf_add(b, "<h3>Forbid rules that apply</h3><ul class=\"forbids\">");
			json_array_foreach(json_object_get(x, "forbid"), k, r) {
				buf_add(b, "<li class=\"forbid-rule\" data-rule=\"");
				html_esc(b, jstr(r, "id"));
				buf_add(b, "\"><span class=\"forbid\">forbid ");
				html_esc(b, jstr(r, "id"));
				buf_add(b, "</span> (line %lld), ", jint(r, "line"));
				when_text(b, json_object_get(r, "when"), all);
				if (json_is_true(json_object_get(r, "wholeMessage"))) {
					buf_add(b, ": refuses the whole message when ");
					join_strings(b, json_object_get(r, "wholeMessageWhen"), "; ");
				} else {
					buf_add(b, ": these never go: ");
					join_strings(b, json_object_get(r, "guards"), ", ");
					if (jint(r, "removedCount"))
						buf_add(b, " (it removes %lld field%s a permit grants)",
						    jint(r, "removedCount"), jint(r, "removedCount") == 1 ? "" : "s");
				}
				buf_add(b, "</li>");
			}
			buf_add(b, "</ul>");
		}
		buf_add(b, "</section>");
	}
	html_end(b, twin.s);
	free(twin.s);
	json_decref(m);
}

/* ---- policy change ---- */

void
console_change(const struct console *c, console_arg_fn arg, void *req, struct page *pg)
{
	char err[KETEN_ERRLEN] = "";
	struct buf *b = &pg->html;
	int code;
	size_t i, k;
	json_t *x, *y;

	(void)arg;
	(void)req;
	if (c->policy == NULL || c->old_policy == NULL) {
		needs(pg, "Policy change", "--old-policy OLD.yaml and --policy NEW.yaml");
		return;
	}
	const char *dargv[16] = { "policy", "diff", "--format", "json" };
	size_t n = 4;
	if (c->directory) {
		dargv[n++] = "--directory";
		dargv[n++] = c->directory;
	}
	dargv[n++] = c->old_policy;
	dargv[n++] = c->policy;
	dargv[n] = NULL;
	json_t *diff = console_run(c, dargv, false, &code, err);
	json_t *m0 = diff ? run_matrix(c, c->old_policy, NULL, err) : NULL;
	json_t *m1 = m0 ? run_matrix(c, c->policy, NULL, err) : NULL;
	if (diff == NULL || m0 == NULL || m1 == NULL) {
		json_decref(diff);
		json_decref(m0);
		console_error(pg, 500, "Policy change", err);
		return;
	}
	json_t *approvals = NULL, *shadow = NULL;
	char aerr[KETEN_ERRLEN] = "", serr[KETEN_ERRLEN] = "";
	if (c->root) {
		const char *av[] = { "policy", "approvals", "--root", c->root, "--json", c->policy,
		    NULL };
		approvals = console_run(c, av, false, &code, aerr);
	}
	if (c->ledger) {
		const char *av[16] = { "policy", "shadow", "--format", "json", "--ledger", c->ledger };
		size_t an = 6;
		if (c->directory) {
			av[an++] = "--directory";
			av[an++] = c->directory;
		}
		av[an++] = c->policy;
		av[an] = NULL;
		shadow = console_run(c, av, false, &code, serr);
	}
	/* per cell of either matrix: what it gains or loses */
	json_t *marks = json_object(), *marks_old = json_object();	/* the old: what goes */
	json_array_foreach(json_object_get(diff, "sharing"), i, x) {
		char key[512];
		bool g = json_array_size(json_object_get(x, "gained")) > 0;
		bool l = json_array_size(json_object_get(x, "lost")) > 0;
		snprintf(key, sizeof(key), "%s|%s|%s|%s", jstr(x, "from"), jstr(x, "to"),
		    jstr(x, "type"), jstr(x, "purpose"));
		json_object_set_new(marks, key, json_pack("{s:s}", "mark", g && l ? "both" : g ?
		    "gain" : l ? "lose" : ""));
		if (l)
			json_object_set_new(marks_old, key, json_pack("{s:s}", "mark", "lose"));
	}
	pg->json = json_pack("{s:O, s:O?, s:O?, s:s?, s:s?}", "diff", diff, "approvals", approvals,
	    "shadow", shadow, "approvalsError", aerr[0] && !approvals ? aerr : NULL,
	    "shadowError", serr[0] && !shadow ? serr : NULL);

	json_t *o = json_object_get(diff, "old"), *nw = json_object_get(diff, "new");
	html_start(b, "Policy change", "/change.json");
	buf_add(b, "<p class=\"meta\">From <strong>");
	html_esc(b, jstr(o, "version"));
	buf_add(b, "</strong> (");
	html_esc(b, jstr(o, "file"));
	buf_add(b, ") to <strong>");
	html_esc(b, jstr(nw, "version"));
	buf_add(b, "</strong> (");
	html_esc(b, jstr(nw, "file"));
	buf_add(b, ").</p>");
	if (*jstr(diff, "versionWarning")) {
		buf_add(b, "<p class=\"bad\">Warning: ");
		html_esc(b, jstr(diff, "versionWarning"));
		buf_add(b, "</p>");
	}

	buf_add(b, "<h2>Approvals of the new version</h2><div id=\"approvals\">");
	if (approvals != NULL) {
		buf_add(b, "<p>Needed: privacy officers of %lld agencies. Approved by: <span "
		    "id=\"approved\">", jint(approvals, "threshold"));
		join_strings(b, json_object_get(approvals, "approved"), ", ");
		if (json_array_size(json_object_get(approvals, "approved")) == 0)
			buf_add(b, "nobody yet");
		buf_add(b, "</span>. Not yet: <span id=\"missing\">");
		join_strings(b, json_object_get(approvals, "missing"), ", ");
		if (json_array_size(json_object_get(approvals, "missing")) == 0)
			buf_add(b, "nobody");
		buf_add(b, "</span>.</p><p class=\"%s\">%s: ", json_is_true(json_object_get(approvals,
		    "activates")) ? "ok" : "bad", json_is_true(json_object_get(approvals,
		    "activates")) ? "Will be activated" : "Will not be activated");
		html_esc(b, jstr(approvals, "verdict"));
		buf_add(b, "</p>");
	} else {
		buf_add(b, "<p>");
		html_esc(b, c->root ? aerr : "Start the console with --root ROOT.yaml to see who "
		    "approved it.");
		buf_add(b, "</p>");
	}
	buf_add(b, "</div>");

	size_t nsh = json_array_size(json_object_get(diff, "sharing"));
	buf_add(b, "<h2>What each pair gains or loses</h2><p>%zu sender → recipient, type and "
	    "purpose combination%s change%s. <span class=\"gain\">+ gained</span> fields may "
	    "now go; <span class=\"lose\">− lost</span> fields no longer go.</p>", nsh,
	    nsh == 1 ? "" : "s", nsh == 1 ? "s" : "");
	if (nsh) {
		buf_add(b, "<div class=\"scroll\" role=\"region\" aria-label=\"Changes per pair\" "
		    "tabindex=\"0\"><table id=\"changes\"><thead><tr><th scope=\"col\">from → to</th>"
		    "<th scope=\"col\">type, purpose</th><th scope=\"col\">gained</th>"
		    "<th scope=\"col\">lost</th></tr></thead><tbody>");
		json_array_foreach(json_object_get(diff, "sharing"), i, x) {
			buf_add(b, "<tr data-from=\"%s\" data-to=\"%s\"><th scope=\"row\">", ha(jstr(x, "from")),
			    ha(jstr(x, "to")));
			html_esc(b, jstr(x, "from"));
			buf_add(b, " → ");
			html_esc(b, jstr(x, "to"));
			buf_add(b, "</th><td>");
			html_esc(b, jstr(x, "type"));
			buf_add(b, ", ");
			html_esc(b, jstr(x, "purpose"));
			for (int side = 0; side < 2; side++) {
				json_t *arr = json_object_get(x, side ? "lost" : "gained");
				buf_add(b, "<td class=\"%s\">", json_array_size(arr) ? (side ? "lose" :
				    "gain") : "");
				if (json_array_size(arr) == 0)
					buf_add(b, "<span class=\"none\">nothing</span>");
				json_array_foreach(arr, k, y) {
					buf_add(b, "<p>%s ", side ? "−" : "+");
					join_strings(b, json_object_get(y, "fields"), ", ");
					buf_add(b, " <span class=\"meta\">[");
					join_strings(b, json_object_get(y, "when"), "; ");
					buf_add(b, "]</span></p>");
				}
				buf_add(b, "</td>");
			}
			buf_add(b, "</tr>");
		}
		buf_add(b, "</tbody></table></div>");
	}
	size_t nr = json_array_size(json_object_get(diff, "rules"));
	buf_add(b, "<h2>Rules added, removed or changed</h2>");
	if (nr == 0)
		buf_add(b, "<p id=\"rules-changed\">None.</p>");
	else {
		buf_add(b, "<ul id=\"rules-changed\">");
		json_array_foreach(json_object_get(diff, "rules"), i, x) {
			buf_add(b, "<li data-rule=\"");
			html_esc(b, jstr(x, "id"));
			buf_add(b, "\"><strong>");
			html_esc(b, jstr(x, "change"));
			buf_add(b, "</strong> ");
			html_esc(b, jstr(x, "id"));
			buf_add(b, " (line %lld)", jint(x, "line"));
			if (json_array_size(json_object_get(x, "details"))) {
				buf_add(b, ": ");
				join_strings(b, json_object_get(x, "details"), "; ");
			}
			buf_add(b, "</li>");
		}
		buf_add(b, "</ul>");
	}

	buf_add(b, "<h2>Shadow preview over recorded traffic</h2><div id=\"shadow\">");
	if (shadow != NULL) {
		buf_add(b, "<p>The %lld decisions the ledger (", jint(shadow, "decisions"));
		html_esc(b, jstr(shadow, "ledger"));
		buf_add(b, ") recorded, replayed under the new version: %lld unchanged, %zu "
		    "change%s.</p>", jint(shadow, "unchanged"),
		    json_array_size(json_object_get(shadow, "changes")),
		    json_array_size(json_object_get(shadow, "changes")) == 1 ? "" : "s");
		if (json_array_size(json_object_get(shadow, "changes"))) {
			buf_add(b, "<div class=\"scroll\" role=\"region\" aria-label=\"Shadow preview\" "
			    "tabindex=\"0\"><table id=\"shadow-changes\"><thead><tr><th scope=\"col\">"
			    "from → to</th><th scope=\"col\">type, purpose</th><th scope=\"col\">"
			    "messages</th><th scope=\"col\">would be</th><th scope=\"col\">fields</th>"
			    "</tr></thead><tbody>");
			json_array_foreach(json_object_get(shadow, "changes"), i, x) {
				json_t *g = json_object_get(x, "gained"), *f = json_object_get(x, "fields");
				json_t *l = json_object_get(x, "lost");
				buf_add(b, "<tr><th scope=\"row\">");
				html_esc(b, jstr(x, "from"));
				buf_add(b, " → ");
				html_esc(b, jstr(x, "to"));
				buf_add(b, "</th><td>");
				html_esc(b, jstr(x, "type"));
				buf_add(b, ", ");
				html_esc(b, jstr(x, "purpose"));
				buf_add(b, "</td><td>%lld</td><td>", jint(x, "messages"));
				html_esc(b, jstr(x, "change"));
				if (*jstr(x, "rules")) {
					buf_add(b, " (rule ");
					html_esc(b, jstr(x, "rules"));
					buf_add(b, ")");
				}
				if (*jstr(x, "reason") || *jstr(x, "recordedReason")) {
					buf_add(b, ": ");
					html_esc(b, *jstr(x, "reason") ? jstr(x, "reason") :
					    jstr(x, "recordedReason"));
				}
				buf_add(b, "</td><td>");
				if (json_array_size(g) || json_array_size(f)) {
					buf_add(b, "<p class=\"gain\">+ ");
					join_strings(b, json_array_size(g) ? g : f, ", ");
					buf_add(b, "</p>");
				}
				if (json_array_size(l)) {
					buf_add(b, "<p class=\"lose\">− ");
					join_strings(b, l, ", ");
					buf_add(b, "</p>");
				}
				buf_add(b, "</td></tr>");
			}
			buf_add(b, "</tbody></table></div>");
		}
	} else {
		buf_add(b, "<p>");
		html_esc(b, c->ledger ? serr : "Start the console with --ledger BROKER_DATA_DIR to "
		    "replay recorded traffic under the new version.");
		buf_add(b, "</p>");
	}
	buf_add(b, "</div><h2>Side by side</h2><p>Cells of the new version that gain fields are "
	    "marked <q>gains fields</q>, those that lose fields <q>loses fields</q>.</p>");
	matrix_table(b, m0, NULL, NULL, NULL, "Old version", "matrix-old", marks_old);
	matrix_table(b, m1, NULL, NULL, NULL, "New version", "matrix-new", marks);
	html_end(b, "/change.json");
	json_decref(marks);
	json_decref(marks_old);
	json_decref(diff);
	json_decref(approvals);
	json_decref(shadow);
	json_decref(m0);
	json_decref(m1);
}

/* ---- the ledger: cases, a case, an entry, health ---- */

static const char *
kind_short(const char *k)
{
	return strncmp(k, "KIND_", 5) == 0 ? k + 5 : k;
}

struct case_row {
	char hex[65];
	int64_t first, last;
	uint64_t entries, messages;
	char senders[256];
};

/* Whether the list "a, b, c" holds item itself (not only as part of another: "a" in "nla"). */
static bool
list_has(const char *list, const char *item)
{
	size_t n = strlen(item);

	for (const char *p = list; (p = strstr(p, item)) != NULL; p += n)
		if ((p == list || (p >= list + 2 && p[-2] == ',' && p[-1] == ' ')) &&
		    (p[n] == '\0' || p[n] == ','))
			return true;
	return false;
}

struct cases_walk {
	struct case_row *rows;
	size_t n, cap;
	json_t *at;		/* pseudonym hex -> row index: one lookup per entry */
};

static int
cases_one(void *arg, uint64_t seq, const Keten__Ledger__V1__Entry *e)
{
	struct cases_walk *w = arg;
	char hex[65];
	size_t i;

	(void)seq;
	if (e == NULL || e->case_pseudonym.len != 32 ||
	    e->kind == KETEN__LEDGER__V1__KIND__KIND_AUDIT_QUERY)
		return 0;
	sodium_bin2hex(hex, sizeof(hex), e->case_pseudonym.data, 32);
	json_t *at = json_object_get(w->at, hex);
	i = at ? (size_t)json_integer_value(at) : w->n;
	if (i == w->n) {
		if (w->n == w->cap) {
			size_t cap = w->cap ? 2 * w->cap : 64;
			struct case_row *r = realloc(w->rows, cap * sizeof(*r));
			if (r == NULL)
				return 1;
			w->rows = r;
			w->cap = cap;
		}
		memset(&w->rows[i], 0, sizeof(w->rows[i]));
		memcpy(w->rows[i].hex, hex, sizeof(hex));
		w->rows[i].first = e->time_ms;
		w->n++;
		json_object_set_new(w->at, hex, json_integer((json_int_t)i));
	}
	struct case_row *r = &w->rows[i];
	r->entries++;
	r->last = e->time_ms;
	if (e->kind == KETEN__LEDGER__V1__KIND__KIND_ACCEPTED ||
	    e->kind == KETEN__LEDGER__V1__KIND__KIND_WITHHELD)
		r->messages++;
	if (e->sender && *e->sender && !list_has(r->senders, e->sender) &&
	    strlen(r->senders) + strlen(e->sender) + 3 < sizeof(r->senders))
		snprintf(r->senders + strlen(r->senders), sizeof(r->senders) - strlen(r->senders),
		    "%s%s", r->senders[0] ? ", " : "", e->sender);
	return 0;
}

static int
case_row_cmp(const void *a, const void *b)
{
	const struct case_row *x = a, *y = b;

	return x->last < y->last ? 1 : x->last > y->last ? -1 : strcmp(x->hex, y->hex);
}

static struct ledger_reader *
open_ledger(const struct console *c, struct page *pg, const char *title)
{
	struct ledger_reader *r = NULL;
	char err[KETEN_ERRLEN];

	if (c->ledger == NULL) {
		needs(pg, title, "--ledger BROKER_DATA_DIR");
		return NULL;
	}
	if (ledger_reader_open(c->ledger, &r, err) != 0) {
		console_error(pg, 500, title, err);
		return NULL;
	}
	return r;
}

void
console_cases(const struct console *c, console_arg_fn arg, void *req, struct page *pg)
{
	const char *ref = arg(req, "ref"), *sender = arg(req, "sender");
	struct buf *b = &pg->html;
	struct cases_walk w = { .at = NULL };

	if (ref && *ref && sender && *sender) {
		/* a case reference to its pseudonym, with the network key: never shown or kept */
		struct ydoc *doc = NULL;
		char err[KETEN_ERRLEN], hex[65];
		const char *b64 = NULL;
		uint8_t key[32], ps[32];
		if (c->network_key == NULL) {
			needs(pg, "Cases", "--network-key FILE (to find a case by its reference)");
			return;
		}
		if (ydoc_load(c->network_key, &doc, err) != 0 || ydoc_root(doc) == NULL ||
		    ydoc_get_str(doc, ydoc_root(doc), "network_key", true, &b64, err) != 0 ||
		    key_b64_decode(key, 32, b64) != 0) {
			ydoc_free(&doc);
			console_error(pg, 500, "Cases", "the network key file could not be read");
			return;
		}
		envelope_case_pseudonym(ps, key, sender, ref);
		sodium_memzero(key, sizeof(key));
		ydoc_free(&doc);
		sodium_bin2hex(hex, sizeof(hex), ps, 32);
		pg->status = 303;
		snprintf(pg->location, sizeof(pg->location), "/case/%s", hex);
		return;
	}
	struct ledger_reader *r = open_ledger(c, pg, "Cases");
	if (r == NULL)
		return;
	w.at = json_object();
	ledger_reader_walk(r, 0, cases_one, &w);
	json_decref(w.at);
	uint64_t size = ledger_reader_size(r);
	ledger_reader_free(&r);

	json_t *arr = json_array();
	html_start(b, "Cases", "/cases.json");
	buf_add(b, "<p class=\"meta\">The ledger holds no case reference, only each sending "
	    "agency's keyed pseudonym of it. %zu case pseudonym%s in %llu entries, newest "
	    "activity first.</p>", w.n, w.n == 1 ? "" : "s", (unsigned long long)size);
	if (c->network_key)
		buf_add(b, "<form class=\"filters\" method=\"get\" action=\"/cases\"><label>Case "
		    "reference<input name=\"ref\" autocomplete=\"off\"></label><label>Of agency"
		    "<input name=\"sender\" autocomplete=\"off\"></label><button type=\"submit\">"
		    "Find</button></form>");
	buf_add(b, "<div class=\"scroll\" role=\"region\" aria-label=\"Cases\" tabindex=\"0\">"
	    "<table id=\"cases\"><thead><tr><th scope=\"col\">case pseudonym</th>"
	    "<th scope=\"col\">senders</th><th scope=\"col\">copies</th><th scope=\"col\">"
	    "entries</th><th scope=\"col\">first</th><th scope=\"col\">last</th></tr></thead><tbody>");
	size_t shown = 0;
	/* newest activity first */
	if (w.n > 1)
		qsort(w.rows, w.n, sizeof(*w.rows), case_row_cmp);
	for (size_t i = 0; i < w.n && shown < CONSOLE_CASES_MAX; i++, shown++) {
		const struct case_row t = w.rows[i];
		char f[KETEN_TIMESTRLEN], l[KETEN_TIMESTRLEN];
		time_iso(t.first, f);
		time_iso(t.last, l);
		json_array_append_new(arr, json_pack("{s:s, s:s, s:I, s:I, s:s, s:s}", "case", t.hex,
		    "senders", t.senders, "copies", (json_int_t)t.messages, "entries",
		    (json_int_t)t.entries, "first", f, "last", l));
		buf_add(b, "<tr><th scope=\"row\"><a href=\"/case/%s\"><code>%.16s…</code></a></th>"
		    "<td>", t.hex, t.hex);
		html_esc(b, t.senders);
		buf_add(b, "</td><td>%llu</td><td>%llu</td><td><time datetime=\"%s\">%s</time></td>"
		    "<td><time datetime=\"%s\">%s</time></td></tr>", (unsigned long long)t.messages,
		    (unsigned long long)t.entries, f, f, l, l);
	}
	buf_add(b, "</tbody></table></div>");
	if (w.n > shown)
		buf_add(b, "<p>%zu more not listed.</p>", w.n - shown);
	html_end(b, "/cases.json");
	pg->json = json_pack("{s:I, s:o}", "entries", (json_int_t)size, "cases", arr);
	free(w.rows);
}

/* One timeline item: a message with its copies. */
static void
timeline_item(struct buf *b, json_t *m, const char *case_label, size_t n)
{
	size_t i, k;
	json_t *cp, *x;

	buf_add(b, "<li class=\"message\" id=\"m%zu\" data-message=\"%s\" data-type=\"%s\" "
	    "data-sender=\"%s\" data-time=\"%s\"><h3><time datetime=\"%s\">%s</time> · ", n,
	    ha(jstr(m, "messageId")), ha(jstr(m, "type")), ha(jstr(m, "sender")), ha(jstr(m, "time")),
	    ha(jstr(m, "time")), ha(jstr(m, "time")));
	html_esc(b, jstr(m, "type"));
	buf_add(b, " from ");
	html_esc(b, jstr(m, "sender"));
	buf_add(b, "</h3><p class=\"meta\">message <code>%s</code> · %s</p><ul class=\"copies\">",
	    ha(jstr(m, "messageId")), case_label);
	json_array_foreach(json_object_get(m, "copies"), i, cp) {
		const char *st = jstr(cp, "state");
		buf_add(b, "<li class=\"copy\" data-recipient=\"");
		html_esc(b, jstr(cp, "recipient"));
		buf_add(b, "\" data-state=\"");
		html_esc(b, st);
		buf_add(b, "\"><strong>");
		html_esc(b, jstr(m, "sender"));
		buf_add(b, " → ");
		html_esc(b, jstr(cp, "recipient"));
		buf_add(b, "</strong>: accepted <a class=\"entry\" href=\"/entry/%lld\">entry #%lld</a> "
		    "(<a class=\"proof\" href=\"/entry/%lld/proof\">inclusion proof</a>)",
		    jint(cp, "acceptedSeq"), jint(cp, "acceptedSeq"), jint(cp, "acceptedSeq"));
		if (strcmp(st, "accepted") != 0 && json_object_get(cp, "stateSeq")) {
			buf_add(b, ", <span class=\"state\">");
			html_esc(b, st);
			buf_add(b, "</span> <time class=\"%s\" datetime=\"%s\">%s</time> "
			    "<a class=\"entry\" href=\"/entry/%lld\">entry #%lld</a>",
			    strcmp(st, "delivered") == 0 ? "delivered" : "state", ha(jstr(cp, "stateTime")),
			    ha(jstr(cp, "stateTime")), jint(cp, "stateSeq"), jint(cp, "stateSeq"));
		} else {
			buf_add(b, ", <span class=\"state\">not yet delivered</span>");
		}
		buf_add(b, "<br>purpose ");
		html_esc(b, jstr(cp, "purpose"));
		buf_add(b, "; legal basis ");
		html_esc(b, jstr(cp, "legalBasis"));
		if (*jstr(cp, "citation")) {
			buf_add(b, " (<cite>");
			html_esc(b, jstr(cp, "citation"));
			buf_add(b, "</cite>)");
		}
		buf_add(b, "; rule ");
		join_strings(b, json_object_get(cp, "rules"), ", ");
		buf_add(b, "<details><summary>%zu fields received</summary>",
		    json_array_size(json_object_get(cp, "fields")));
		list_paths(b, json_object_get(cp, "fields"), "received");
		buf_add(b, "</details>");
		json_array_foreach(json_object_get(cp, "withheld"), k, x) {
			buf_add(b, "<p class=\"withheld\" data-reason=\"");
			html_esc(b, jstr(x, "reason"));
			buf_add(b, "\">Withheld at the source (");
			html_esc(b, jstr(x, "reason"));
			if (*jstr(x, "rule")) {
				buf_add(b, ", rule <span class=\"forbid\">");
				html_esc(b, jstr(x, "rule"));
				buf_add(b, "</span>");
			}
			buf_add(b, ", <a class=\"entry\" href=\"/entry/%lld\">entry #%lld</a>): ",
			    jint(x, "seq"), jint(x, "seq"));
			join_strings(b, json_object_get(x, "fields"), ", ");
			buf_add(b, "</p>");
		}
		buf_add(b, "</li>");
	}
	json_array_foreach(json_object_get(m, "refusedAtSource"), i, x) {
		buf_add(b, "<li class=\"copy refused\" data-recipient=\"");
		html_esc(b, jstr(x, "recipient"));
		buf_add(b, "\" data-state=\"refused\"><strong>");
		html_esc(b, jstr(m, "sender"));
		buf_add(b, " → ");
		html_esc(b, jstr(x, "recipient"));
		buf_add(b, "</strong>: <span class=\"bad\">refused at the source</span> (");
		html_esc(b, jstr(x, "reason"));
		if (*jstr(x, "rule")) {
			buf_add(b, ", rule ");
			html_esc(b, jstr(x, "rule"));
		}
		buf_add(b, ", <a class=\"entry\" href=\"/entry/%lld\">entry #%lld</a>)</li>",
		    jint(x, "seq"), jint(x, "seq"));
	}
	json_array_foreach(json_object_get(m, "refusals"), i, x) {
		buf_add(b, "<li class=\"copy refused\" data-state=\"refused\"><span class=\"bad\">"
		    "refused</span>: ");
		html_esc(b, *jstr(x, "reason") ? jstr(x, "reason") : jstr(x, "kind"));
		if (json_object_get(x, "seq"))
			buf_add(b, " (<a class=\"entry\" href=\"/entry/%lld\">entry #%lld</a>)",
			    jint(x, "seq"), jint(x, "seq"));
		buf_add(b, "</li>");
	}
	buf_add(b, "</ul></li>");
}

static int
msg_time_cmp(const void *a, const void *b)
{
	json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;

	return strcmp(jstr(x, "time"), jstr(y, "time"));
}

/* The swimlanes: one lane per agency, an arrow per copy, in timeline order. */
static void
lanes_svg(struct buf *b, json_t **msgs, size_t n)
{
	const char *lanes[32];
	size_t nl = 0, ncopies = 0;

	for (size_t i = 0; i < n; i++) {
		const char *who[33];
		size_t nw = 0, k;
		json_t *cp;
		who[nw++] = jstr(msgs[i], "sender");
		json_array_foreach(json_object_get(msgs[i], "copies"), k, cp)
			if (nw < 33)
				who[nw++] = jstr(cp, "recipient");
		ncopies += json_array_size(json_object_get(msgs[i], "copies"));
		for (size_t w = 0; w < nw; w++) {
			size_t l;
			for (l = 0; l < nl && strcmp(lanes[l], who[w]) != 0; l++)
				;
			if (l == nl && nl < 32)
				lanes[nl++] = who[w];
		}
	}
	if (nl == 0)
		return;
	int lw = 150, step = 46, top = 24, height = top + (int)ncopies * step + 10;
	int width = lw * (int)nl + 20;
	buf_add(b, "<figure><svg id=\"lanes\" role=\"img\" aria-labelledby=\"lanes-title\" "
	    "viewBox=\"0 0 %d %d\" width=\"%d\"><title id=\"lanes-title\">Each copy as an arrow "
	    "from sender to recipient, in time order, one column per agency</title>", width, height,
	    width);
	buf_add(b, "<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" "
	    "markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\"><path d=\"M0 0L10 "
	    "5L0 10z\" fill=\"#1b1b1b\"/></marker></defs>");
	for (size_t l = 0; l < nl; l++) {
		int x = 10 + lw * (int)l + lw / 2;
		buf_add(b, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#8a8a8a\"/>"
		    "<text x=\"%d\" y=\"14\" text-anchor=\"middle\">", x, top, x, height, x);
		html_esc(b, lanes[l]);
		buf_add(b, "</text>");
	}
	int y = top + step / 2, no = 0;
	for (size_t i = 0; i < n; i++) {
		size_t k;
		json_t *cp;
		no++;
		json_array_foreach(json_object_get(msgs[i], "copies"), k, cp) {
			size_t s, r;
			for (s = 0; s < nl && strcmp(lanes[s], jstr(msgs[i], "sender")); s++)
				;
			for (r = 0; r < nl && strcmp(lanes[r], jstr(cp, "recipient")); r++)
				;
			int x1 = 10 + lw * (int)s + lw / 2, x2 = 10 + lw * (int)r + lw / 2;
			bool delivered = strcmp(jstr(cp, "state"), "delivered") == 0;
			buf_add(b, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#1b1b1b\" "
			    "stroke-width=\"2\"%s marker-end=\"url(#arrow)\"/><text x=\"%d\" y=\"%d\" "
			    "text-anchor=\"middle\">%d. ", x1, y, x2 + (x2 > x1 ? -4 : 4), y,
			    delivered ? "" : " stroke-dasharray=\"5 4\"", (x1 + x2) / 2, y - 6, no);
			html_esc(b, jstr(msgs[i], "type"));
			buf_add(b, "%s</text>", delivered ? "" : " (not delivered)");
			y += step;
		}
	}
	buf_add(b, "</svg><figcaption>Numbers follow the timeline below; a dashed arrow is a copy "
	    "not delivered.</figcaption></figure>");
}

void
console_case(const struct console *c, const char *hex, struct page *pg)
{
	char err[KETEN_ERRLEN] = "";
	struct buf *b = &pg->html;
	int code;
	size_t i, k;
	json_t *x;

	if (c->ledger == NULL) {
		needs(pg, "Case timeline", "--ledger BROKER_DATA_DIR");
		return;
	}
	if (strlen(hex) != 64 || strspn(hex, "0123456789abcdef") != 64) {
		console_error(pg, 404, "Case timeline", "a case is named by its pseudonym: 64 "
		    "lowercase hex digits (the Cases page lists them)");
		return;
	}
	const char *av[16] = { "audit", "report", "--ledger", c->ledger, "--case", hex, "--json" };
	size_t n = 7;
	if (c->policy) {
		av[n++] = "--policy";
		av[n++] = c->policy;
	}
	av[n] = NULL;
	json_t *rep = console_run(c, av, false, &code, err);
	if (rep == NULL) {
		console_error(pg, 500, "Case timeline", err);
		return;
	}

	/* every message of the case and of the cases linked to it, in time order */
	size_t nm = 0, cap = 0;
	json_t *parts = json_array();
	json_array_append(parts, rep);
	json_array_foreach(json_object_get(rep, "linkedCases"), i, x)
		json_array_append(parts, x);
	json_t *part;
	json_array_foreach(parts, i, part)
		cap += json_array_size(json_object_get(part, "messages"));
	/* bounded by what the report may answer (CONSOLE_CHILD_MAX_BYTES) */
	json_t **msgs = malloc((cap ? cap : 1) * sizeof(*msgs));
	const char **labels = malloc((cap ? cap : 1) * sizeof(*labels));
	if (msgs == NULL || labels == NULL) {
		free(msgs);
		free(labels);
		json_decref(parts);
		json_decref(rep);
		console_error(pg, 500, "Case timeline", "out of memory");
		return;
	}
	json_array_foreach(parts, i, part) {
		json_array_foreach(json_object_get(part, "messages"), k, x) {
			if (nm == cap)
				break;
			json_object_set_new(x, "_part", json_integer((json_int_t)i));
			msgs[nm] = x;
			labels[nm++] = i == 0 ? "this case" : "a linked case";
		}
	}
	qsort(msgs, nm, sizeof(*msgs), msg_time_cmp);
	/* the twin: the timeline, one item per copy in time order, and the report
	 * (keten audit report --json) it is drawn from */
	json_t *tl = json_array();
	for (i = 0; i < nm; i++) {
		labels[i] = jint(msgs[i], "_part") == 0 ? "this case" : "a linked case";
		json_t *cp;
		json_array_foreach(json_object_get(msgs[i], "copies"), k, cp)
			json_array_append_new(tl, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:O?, "
			    "s:O?, s:O?, s:O?, s:O?, s:O?}", "time", jstr(msgs[i], "time"), "case",
			    labels[i], "messageId", jstr(msgs[i], "messageId"), "type",
			    jstr(msgs[i], "type"), "sender", jstr(msgs[i], "sender"), "recipient",
			    jstr(cp, "recipient"), "state", jstr(cp, "state"), "stateTime",
			    json_object_get(cp, "stateTime"), "acceptedSeq",
			    json_object_get(cp, "acceptedSeq"), "stateSeq", json_object_get(cp, "stateSeq"),
			    "rules", json_object_get(cp, "rules"), "legalBasis",
			    json_object_get(cp, "legalBasis"), "purpose", json_object_get(cp, "purpose")));
		json_array_foreach(json_object_get(msgs[i], "refusedAtSource"), k, cp)
			json_array_append_new(tl, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:O?, "
			    "s:O?}", "time", jstr(msgs[i], "time"), "case", labels[i], "messageId",
			    jstr(msgs[i], "messageId"), "type", jstr(msgs[i], "type"), "sender",
			    jstr(msgs[i], "sender"), "recipient", jstr(cp, "recipient"), "state",
			    "refused-at-source", "seq", json_object_get(cp, "seq"), "reason",
			    json_object_get(cp, "reason")));
	}

	html_start(b, "Case timeline", NULL);
	buf_add(b, "<p class=\"meta\">Case pseudonym <code id=\"case\">%s</code> and %zu case%s "
	    "linked to it (another agency's case, linked when a message of one answers a message "
	    "of the other): %zu message%s, %lld ledger entries. Times are UTC.</p>", hex,
	    json_array_size(json_object_get(rep, "linkedCases")),
	    json_array_size(json_object_get(rep, "linkedCases")) == 1 ? "" : "s", nm,
	    nm == 1 ? "" : "s", jint(rep, "entries"));
	lanes_svg(b, msgs, nm);
	buf_add(b, "<ol class=\"timeline\" id=\"timeline\">");
	for (i = 0; i < nm; i++)
		timeline_item(b, msgs[i], labels[i], i + 1);
	buf_add(b, "</ol>");
	json_array_foreach(parts, i, part) {
		json_array_foreach(json_object_get(part, "messages"), k, x)
			json_object_del(x, "_part");
	}
	pg->json = json_pack("{s:s, s:o, s:o}", "case", hex, "timeline", tl, "report", rep);
	if (json_array_size(json_object_get(rep, "other")))
		buf_add(b, "<p>%zu other entries name this case (without a message).</p>",
		    json_array_size(json_object_get(rep, "other")));
	buf_add(b, "<p>%lld auditors' queries of this case are logged in the ledger.</p>",
	    jint(rep, "auditQueries"));
	char twin[128];
	snprintf(twin, sizeof(twin), "/case/%s.json", hex);
	html_end(b, twin);
	json_decref(parts);
	free(msgs);
	free(labels);
}

struct one_entry {
	json_t *j;
	uint64_t want;		/* the entry asked for; a walk starts at the next one after a gap */
};

static int
entry_one(void *arg, uint64_t seq, const Keten__Ledger__V1__Entry *e)
{
	struct one_entry *o = arg;

	if (e != NULL && seq == o->want) {
		o->j = ledger_entry_json(e);
		json_object_set_new(o->j, "seq", json_integer((json_int_t)seq));
	}
	return 1;
}

void
console_entry(const struct console *c, uint64_t seq, struct page *pg)
{
	struct buf *b = &pg->html;
	struct one_entry o = { NULL, seq };
	struct ledger_reader *r = open_ledger(c, pg, "Ledger entry");
	char title[64], twin[64];
	const char *key;
	json_t *v;

	if (r == NULL)
		return;
	if (seq < ledger_reader_size(r))
		ledger_reader_walk(r, seq, entry_one, &o);
	ledger_reader_free(&r);
	if (o.j == NULL) {
		console_error(pg, 404, "Ledger entry", "the ledger has no such entry");
		return;
	}
	pg->json = o.j;
	snprintf(title, sizeof(title), "Ledger entry #%llu", (unsigned long long)seq);
	snprintf(twin, sizeof(twin), "/entry/%llu.json", (unsigned long long)seq);
	html_start(b, title, twin);
	buf_add(b, "<p class=\"meta\">As the ledger holds it (no case content: the broker never "
	    "has any). Its <a class=\"proof\" href=\"/entry/%llu/proof\">inclusion proof</a> "
	    "is checked by <code>keten audit check-proof --key BROKER_PUBLIC FILE</code> with "
	    "nothing else.</p><dl class=\"facts\" id=\"entry\">", (unsigned long long)seq);
	json_object_foreach(o.j, key, v) {
		buf_add(b, "<dt>");
		html_esc(b, key);
		buf_add(b, "</dt><dd data-key=\"");
		html_esc(b, key);
		buf_add(b, "\">");
		if (json_is_string(v)) {
			html_esc(b, strcmp(key, "kind") == 0 ? kind_short(json_string_value(v)) :
			    json_string_value(v));
		} else {
			char *t = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
			html_esc(b, t);
			free(t);
		}
		buf_add(b, "</dd>");
	}
	buf_add(b, "</dl>");
	html_end(b, twin);
}

void
console_proof(const struct console *c, uint64_t seq, struct page *pg)
{
	char err[KETEN_ERRLEN] = "", num[32];
	int code;

	if (c->ledger == NULL) {
		needs(pg, "Inclusion proof", "--ledger BROKER_DATA_DIR");
		return;
	}
	snprintf(num, sizeof(num), "%llu", (unsigned long long)seq);
	const char *av[] = { "audit", "prove", "--ledger", c->ledger, "--seq", num, NULL };
	char *text = console_run_text(c, av, &code, err);
	if (text == NULL || code != 0) {
		free(text);
		console_error(pg, 404, "Inclusion proof", err);
		return;
	}
	/* text/plain: what check-proof reads; the JSON twin carries it as a string */
	pg->json = json_pack("{s:I, s:s}", "seq", (json_int_t)seq, "proof", text);
	buf_add(&pg->html, "%s", text);
	pg->status = 200;
	free(text);
	pg->type = "text/plain; charset=utf-8";
}

/* ---- health ---- */

struct traffic {
	json_t *days;		/* "YYYY-MM-DD" -> {kind: n} */
	int64_t *times;		/* per seq */
	uint64_t n, cap;
	json_t *violations, *policies;
};

static int
traffic_one(void *arg, uint64_t seq, const Keten__Ledger__V1__Entry *e)
{
	struct traffic *t = arg;
	char day[16], iso[KETEN_TIMESTRLEN];

	if (seq != t->n)
		return 1;	/* entries out of order (a damaged copy): audit verify says which */
	if (seq >= t->cap) {
		uint64_t cap = t->cap ? 2 * t->cap : 1024;
		int64_t *nt = realloc(t->times, cap * sizeof(*nt));
		if (nt == NULL)
			return 1;
		t->times = nt;
		t->cap = cap;
	}
	t->times[seq] = e ? e->time_ms : 0;
	t->n = seq + 1;
	if (e == NULL)
		return 0;
	time_iso(e->time_ms, iso);
	snprintf(day, sizeof(day), "%.10s", iso);
	json_t *d = json_object_get(t->days, day);
	if (d == NULL) {
		d = json_object();
		json_object_set_new(t->days, day, d);
	}
	const char *k = kind_short(protobuf_c_enum_descriptor_get_value(
	    &keten__ledger__v1__kind__descriptor, e->kind) ?
	    protobuf_c_enum_descriptor_get_value(&keten__ledger__v1__kind__descriptor,
	    e->kind)->name : "UNKNOWN");
	json_object_set_new(d, k, json_integer(json_integer_value(json_object_get(d, k)) + 1));
	/* the newest 50 refusals and 200 changes: an old flood hides no new one */
	if (e->kind == KETEN__LEDGER__V1__KIND__KIND_VIOLATION_REPORTED &&
	    (json_array_size(t->violations) < 50 || json_array_remove(t->violations, 0) == 0))
		json_array_append_new(t->violations, json_pack("{s:I, s:s, s:s, s:s}", "seq",
		    (json_int_t)seq, "time", iso, "actor", e->actor ? e->actor : "", "reason",
		    e->reason ? e->reason : ""));
	if ((e->kind == KETEN__LEDGER__V1__KIND__KIND_POLICY_ACTIVATED ||
	    e->kind == KETEN__LEDGER__V1__KIND__KIND_ROOT_CHANGED ||
	    e->kind == KETEN__LEDGER__V1__KIND__KIND_DIRECTORY_CHANGED) &&
	    (json_array_size(t->policies) < 200 || json_array_remove(t->policies, 0) == 0))
		json_array_append_new(t->policies, json_pack("{s:I, s:s, s:s, s:s}", "seq",
		    (json_int_t)seq, "time", iso, "kind", k, "reason", e->reason ? e->reason : ""));
	return 0;
}

/* Stacked bars of entries per day and kind, with the same numbers as a table. */
static void
traffic_svg(struct buf *b, json_t *days)
{
	static const char *const kinds[] = { "ACCEPTED", "DELIVERED", "WITHHELD", "REJECTED",
	    "VIOLATION_REPORTED", "AUDIT_QUERY", "OTHER" };
	static const char *const fill[] = { "#2f6db5", "#5aa05a", "#c98a1b", "#b53a3a",
	    "#6b2f8f", "#666666", "#b0b0b0" };
	static const char *const pattern[] = { "", "", "", "", "", "", "" };
	const char *day;
	json_t *d;
	long long max = 1;
	size_t nd = json_object_size(days), i = 0;

	(void)pattern;
	json_object_foreach(days, day, d) {
		long long sum = 0;
		const char *k;
		json_t *v;
		json_object_foreach(d, k, v)
			sum += json_integer_value(v);
		if (sum > max)
			max = sum;
	}
	int bw = 36, gap = 14, h = 160, left = 50;
	int width = left + (int)nd * (bw + gap) + 20;
	if (width < left + 4 * 150 + 20)
		width = left + 4 * 150 + 20;	/* room for the legend */
	buf_add(b, "<figure><svg id=\"traffic\" role=\"img\" aria-labelledby=\"traffic-title\" "
	    "viewBox=\"0 0 %d %d\" width=\"%d\"><title id=\"traffic-title\">Ledger entries per "
	    "day, stacked by kind (the table below has the numbers)</title>", width, h + 50, width);
	buf_add(b, "<line x1=\"%d\" y1=\"10\" x2=\"%d\" y2=\"%d\" stroke=\"#8a8a8a\"/><text x=\"%d\" "
	    "y=\"16\" text-anchor=\"end\">%lld</text><text x=\"%d\" y=\"%d\" text-anchor=\"end\">0"
	    "</text>", left - 4, left - 4, h + 10, left - 8, max, left - 8, h + 10);
	json_object_foreach(days, day, d) {
		int x = left + (int)i * (bw + gap), y = h + 10;
		for (size_t k = 0; k < 7; k++) {
			long long v = 0;
			if (k < 6) {
				v = json_integer_value(json_object_get(d, kinds[k]));
			} else {
				const char *kk;
				json_t *vv;
				json_object_foreach(d, kk, vv) {
					bool known = false;
					for (size_t q = 0; q < 6; q++)
						known = known || strcmp(kk, kinds[q]) == 0;
					if (!known)
						v += json_integer_value(vv);
				}
			}
			if (v == 0)
				continue;
			int bh = (int)(v * h / max);
			if (bh < 1)
				bh = 1;
			y -= bh;
			buf_add(b, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"%s\">"
			    "<title>%s %s: %lld</title></rect>", x, y, bw, bh, fill[k], day, kinds[k], v);
		}
		buf_add(b, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">%.5s</text>", x + bw / 2,
		    h + 26, day + 5);
		i++;
	}
	/* legend: colour and name side by side */
	for (size_t k = 0; k < 7; k++)
		buf_add(b, "<rect x=\"%d\" y=\"%d\" width=\"10\" height=\"10\" fill=\"%s\"/>"
		    "<text x=\"%d\" y=\"%d\">%s</text>", left + (int)(k % 4) * 150, h + 34 +
		    (int)(k / 4) * 14, fill[k], left + 14 + (int)(k % 4) * 150, h + 43 +
		    (int)(k / 4) * 14, kinds[k]);
	buf_add(b, "</svg></figure>");
	(void)fill;
}

/* Horizontal bars: refusals and withheld fields per rule, from audit stats. */
static void
refusals_svg(struct buf *b, json_t *rules)
{
	size_t i, n = 0;
	json_t *r;
	long long max = 1;

	json_array_foreach(rules, i, r) {
		long long v = jint(r, "rejected") + jint(r, "withheld");
		if (v > 0)
			n++;
		if (v > max)
			max = v;
	}
	if (n == 0) {
		buf_add(b, "<p id=\"refusals\">No refusal and nothing withheld by any rule.</p>");
		return;
	}
	int row = 22, left = 250, w = 300, height = (int)n * row + 10;
	buf_add(b, "<figure><svg id=\"refusals\" role=\"img\" aria-labelledby=\"refusals-title\" "
	    "viewBox=\"0 0 %d %d\" width=\"%d\"><title id=\"refusals-title\">Refusals and withheld "
	    "fields per rule</title>", left + w + 60, height, left + w + 60);
	int y = 4;
	json_array_foreach(rules, i, r) {
		long long v = jint(r, "rejected") + jint(r, "withheld");
		if (v == 0)
			continue;
		int bw = (int)(v * w / max);
		buf_add(b, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">", left - 6, y + 14);
		html_esc(b, jstr(r, "key"));
		buf_add(b, "</text><rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"16\" fill=\"#b53a3a\"/>"
		    "<text x=\"%d\" y=\"%d\">%lld</text>", left, y, bw < 1 ? 1 : bw, left + bw + 6,
		    y + 14, v);
		y += row;
	}
	buf_add(b, "</svg></figure>");
}

void
console_health(const struct console *c, struct page *pg)
{
	struct buf *b = &pg->html;
	struct traffic t = { .days = json_object(), .violations = json_array(),
	    .policies = json_array() };
	char err[KETEN_ERRLEN] = "", verr[KETEN_ERRLEN] = "";
	int code;
	size_t i;
	json_t *x;

	struct ledger_reader *r = open_ledger(c, pg, "Ledger health");
	if (r == NULL) {
		json_decref(t.days);
		json_decref(t.violations);
		json_decref(t.policies);
		return;
	}
	ledger_reader_walk(r, 0, traffic_one, &t);
	uint64_t size = ledger_reader_size(r);
	ledger_reader_free(&r);

	json_t *verify = NULL;
	if (c->key) {
		const char *av[16] = { "audit", "verify", "--ledger", c->ledger, "--key", c->key,
		    "--json" };
		size_t n = 7;
		if (c->directory) {
			av[n++] = "--directory";
			av[n++] = c->directory;
		}
		av[n] = NULL;
		verify = console_run(c, av, false, &code, verr);
	}
	const char *sav[] = { "audit", "stats", "--ledger", c->ledger, "--json", NULL };
	json_t *stats = console_run(c, sav, false, &code, err);
	const char *cav[] = { "audit", "checkpoint", "--ledger", c->ledger, NULL };
	char *ckpt = console_run_text(c, cav, &code, err);

	int64_t now = now_ms(), newest = t.n ? t.times[t.n - 1] : 0;
	char iso[KETEN_TIMESTRLEN];
	json_t *wit = json_array();
	json_t *cos = verify ? json_object_get(verify, "newestCosignedSize") : NULL;
	const char *who;
	json_object_foreach(cos, who, x) {
		uint64_t s = (uint64_t)json_integer_value(x);
		int64_t at = s > 0 && s <= t.n ? t.times[s - 1] : 0;
		time_iso(at, iso);
		json_array_append_new(wit, json_pack("{s:s, s:I, s:I, s:s, s:I}", "witness", who,
		    "newestCosignedSize", (json_int_t)s, "behind", (json_int_t)(size - s),
		    "newestCosignedEntryTime", iso, "ageSeconds", (json_int_t)(at ? (now - at) / 1000 :
		    -1)));
	}
	json_t *alarms = json_array();
	if (verify && !json_is_true(json_object_get(verify, "ok")))
		json_array_append_new(alarms, json_pack("{s:s, s:s}", "kind", "verification",
		    "what", jstr(verify, "verdict")));
	json_array_foreach(wit, i, x)
		if (jint(x, "behind") > 0 && newest - (jint(x, "ageSeconds") >= 0 ?
		    now - jint(x, "ageSeconds") * 1000 : 0) > 10 * 60 * 1000)
			json_array_append_new(alarms, json_pack("{s:s, s:s, s:I}", "kind",
			    "witness-behind", "witness", jstr(x, "witness"), "behind",
			    (json_int_t)jint(x, "behind")));
	/* an agent that refuses a policy update reports it as a violation too */
	json_array_foreach(t.violations, i, x)
		json_array_append_new(alarms, json_pack("{s:s, s:O}", "kind",
		    strncmp(jstr(x, "reason"), "policy update", 13) == 0 ? "policy-refused" :
		    "delivery-refused", "entry", x));
	time_iso(newest, iso);
	/* every value by a reference of its own (O): the page below still draws
	 * them, and a json_pack that failed would have freed what it stole */
	pg->json = json_pack("{s:I, s:s, s:O?, s:s?, s:O, s:O, s:O, s:O?, s:s?, s:O, s:O}",
	    "size", (json_int_t)size, "newestEntryTime", iso, "verification", verify,
	    "verificationError", verify ? NULL : c->key ? verr : "not verified: give --key",
	    "witnesses", wit, "alarms", alarms, "entriesPerDay", t.days, "stats", stats,
	    "newestCheckpoint", ckpt, "changes", t.policies, "violations", t.violations);

	html_start(b, "Ledger health", "/health.json");
	buf_add(b, "<dl class=\"facts\" id=\"ledger\"><dt>ledger</dt><dd data-key=\"ledger\">");
	html_esc(b, c->ledger);
	buf_add(b, "</dd><dt>entries</dt><dd data-key=\"size\">%llu</dd><dt>newest entry</dt>"
	    "<dd data-key=\"newest\"><time datetime=\"%s\">%s</time></dd><dt>verification</dt>",
	    (unsigned long long)size, iso, iso);
	if (verify) {
		bool ok = json_is_true(json_object_get(verify, "ok"));
		buf_add(b, "<dd data-key=\"verdict\" id=\"verdict\" data-ok=\"%s\" class=\"%s\">%s: ",
		    ok ? "true" : "false", ok ? "ok" : "bad", ok ? "✓ verified" : "✗ FAILED");
		html_esc(b, jstr(verify, "verdict"));
		buf_add(b, "</dd>");
	} else {
		buf_add(b, "<dd data-key=\"verdict\" id=\"verdict\" data-ok=\"unknown\">");
		html_esc(b, c->key ? verr : "not verified: start the console with --key "
		    "BROKER_PUBLIC");
		buf_add(b, "</dd>");
	}
	buf_add(b, "</dl><h2>Newest checkpoint</h2><pre id=\"checkpoint\">");
	html_esc(b, ckpt && *ckpt ? ckpt : "none cosigned yet");
	buf_add(b, "</pre>");

	buf_add(b, "<h2>Witnesses</h2><p>Each agency's agent checks that the ledger only grows "
	    "and cosigns the broker's checkpoints. A witness far behind may have refused a "
	    "checkpoint (a split view or a rollback): its own log says why.</p>");
	if (json_array_size(wit) == 0) {
		buf_add(b, "<p id=\"witnesses\">%s</p>", verify ? "No cosignature yet." :
		    "Cosignatures are read with the verification (--key).");
	} else {
		buf_add(b, "<div class=\"scroll\" role=\"region\" aria-label=\"Witnesses\" "
		    "tabindex=\"0\"><table id=\"witnesses\"><thead><tr><th scope=\"col\">witness</th>"
		    "<th scope=\"col\">newest cosigned size</th><th scope=\"col\">entries behind</th>"
		    "<th scope=\"col\">age of that entry</th></tr></thead><tbody>");
		json_array_foreach(wit, i, x) {
			buf_add(b, "<tr data-witness=\"");
			html_esc(b, jstr(x, "witness"));
			buf_add(b, "\"><th scope=\"row\">");
			html_esc(b, jstr(x, "witness"));
			buf_add(b, "</th><td>%lld</td><td>%lld</td><td>%lld s</td></tr>",
			    jint(x, "newestCosignedSize"), jint(x, "behind"), jint(x, "ageSeconds"));
		}
		buf_add(b, "</tbody></table></div>");
	}

	buf_add(b, "<h2>Alarms</h2>");
	if (json_array_size(alarms) == 0) {
		buf_add(b, "<p id=\"alarms\" data-count=\"0\">None: %s.</p>", verify ?
		    "the ledger verifies, every witness keeps up and no recipient reported a violation" :
		    "no recipient reported a violation (verification not run)");
	} else {
		buf_add(b, "<ul id=\"alarms\" data-count=\"%zu\">", json_array_size(alarms));
		json_array_foreach(alarms, i, x) {
			buf_add(b, "<li class=\"bad\" data-kind=\"%s\">", ha(jstr(x, "kind")));
			html_esc(b, jstr(x, "kind"));
			buf_add(b, ": ");
			if (json_object_get(x, "entry")) {
				json_t *e = json_object_get(x, "entry");
				html_esc(b, jstr(e, "actor"));
				buf_add(b, strcmp(jstr(x, "kind"), "policy-refused") == 0 ?
				    " refused a policy the broker sent: " : " refused a delivery: ");
				html_esc(b, jstr(e, "reason"));
				buf_add(b, " (<a class=\"entry\" href=\"/entry/%lld\">entry #%lld</a>)",
				    jint(e, "seq"), jint(e, "seq"));
			} else if (*jstr(x, "witness")) {
				html_esc(b, jstr(x, "witness"));
				buf_add(b, " is %lld entries behind for more than 10 minutes",
				    jint(x, "behind"));
			} else {
				html_esc(b, jstr(x, "what"));
			}
			buf_add(b, "</li>");
		}
		buf_add(b, "</ul>");
	}
	buf_add(b, "<h2>Policy, directory and root changes</h2><ul id=\"changes\">");
	json_array_foreach(t.policies, i, x) {
		buf_add(b, "<li><time datetime=\"%s\">%s</time> ", ha(jstr(x, "time")), ha(jstr(x, "time")));
		html_esc(b, jstr(x, "kind"));
		buf_add(b, ": ");
		html_esc(b, jstr(x, "reason"));
		buf_add(b, " (<a class=\"entry\" href=\"/entry/%lld\">entry #%lld</a>)</li>",
		    jint(x, "seq"), jint(x, "seq"));
	}
	buf_add(b, "</ul><h2>Traffic</h2>");
	traffic_svg(b, t.days);
	buf_add(b, "<div class=\"scroll\" role=\"region\" aria-label=\"Entries per day\" "
	    "tabindex=\"0\"><table id=\"per-day\"><caption>Entries per day and kind</caption>"
	    "<thead><tr><th scope=\"col\">day</th><th scope=\"col\">entries by kind</th></tr>"
	    "</thead><tbody>");
	const char *day;
	json_object_foreach(t.days, day, x) {
		const char *k;
		json_t *v;
		buf_add(b, "<tr><th scope=\"row\">%s</th><td>", day);
		size_t q = 0;
		json_object_foreach(x, k, v)
			buf_add(b, "%s%s %lld", q++ ? ", " : "", k, (long long)json_integer_value(v));
		buf_add(b, "</td></tr>");
	}
	buf_add(b, "</tbody></table></div><h3>Refusals and withheld fields per rule</h3>");
	refusals_svg(b, stats ? json_object_get(stats, "rules") : NULL);
	if (stats) {
		buf_add(b, "<div class=\"scroll\" role=\"region\" aria-label=\"Per rule\" "
		    "tabindex=\"0\"><table id=\"per-rule\"><thead><tr><th scope=\"col\">rule</th>"
		    "<th scope=\"col\">accepted</th><th scope=\"col\">rejected</th><th scope=\"col\">"
		    "delivered</th><th scope=\"col\">withheld</th></tr></thead><tbody>");
		json_array_foreach(json_object_get(stats, "rules"), i, x) {
			buf_add(b, "<tr><th scope=\"row\">");
			html_esc(b, jstr(x, "key"));
			buf_add(b, "</th><td>%lld</td><td>%lld</td><td>%lld</td><td>%lld</td></tr>",
			    jint(x, "accepted"), jint(x, "rejected"), jint(x, "delivered"),
			    jint(x, "withheld"));
		}
		buf_add(b, "</tbody></table></div>");
	}
	html_end(b, "/health.json");
	json_decref(verify);
	json_decref(stats);
	json_decref(t.days);	/* the twin holds its own references */
	json_decref(wit);
	json_decref(alarms);
	json_decref(t.policies);
	json_decref(t.violations);
	free(ckpt);
	free(t.times);
}
