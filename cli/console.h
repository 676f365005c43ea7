/*
 * keten console (docs/console.md): a local, read-only web server for one
 * person, over the files they already hold.  cli/cmd_console.c serves
 * (libmicrohttpd: options, access, routing, the JSON twins);
 * cli/console_pages.c draws the pages.
 *
 * Every page is one JSON document first (its twin at PATH.json), drawn as
 * server-rendered HTML with inline SVG: no script, no external asset.  The
 * facts come from the keten commands that already state them, run as
 * child processes of this binary with their --json output read back
 * (policy matrix, diff, shadow, approvals; audit report, verify, stats,
 * prove): one source for the command line and the console, a fresh
 * read-only snapshot of the ledger per page, and a failure in one page
 * that costs the server nothing.  Entries and the list of cases are read
 * here with ledger/reader.h.
 */
#ifndef KETEN_CLI_CONSOLE_H
#define KETEN_CLI_CONSOLE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cli/policy_common.h"

#define CONSOLE_CHILD_MAX_BYTES (64u << 20)	/* a child's JSON answer */
#define CONSOLE_CHILD_TIMEOUT_MS 60000
#define CONSOLE_CASES_MAX 2000			/* cases listed on /cases */

struct console {
	char exe[4096];		/* this binary, for the child commands */
	const char *policy, *old_policy, *directory, *root;	/* privacy officer */
	const char *ledger, *key, *network_key;			/* auditor */
	char url[128];		/* http://host:port */
};

/* What a page handler answers: a status, its JSON, its HTML (NULL: JSON only). */
struct page {
	unsigned status;
	json_t *json;
	struct buf html;
	char location[512];	/* a redirect's target (status 303) */
	const char *type;	/* html's content type when not HTML (NULL: HTML) */
};

/*
 * Run `keten ARGV...` (argv[0] is the subcommand) and parse what it prints
 * as JSON (one document, or JSON lines into an array when lines).  NULL on
 * failure, with what went wrong (its stderr, cut) in err.  *exit_code the
 * child's exit code.
 */
json_t *console_run(const struct console *c, const char *const *argv, bool lines, int *exit_code,
    char err[static KETEN_ERRLEN]);

/* The same, what it prints as text (malloc'd), or NULL. */
char *console_run_text(const struct console *c, const char *const *argv, int *exit_code,
    char err[static KETEN_ERRLEN]);

/* A query parameter of the request, or NULL. */
typedef const char *(*console_arg_fn)(void *req, const char *name);

/* The pages; each fills *pg (status 200 unless it says otherwise). */
void console_index(const struct console *c, struct page *pg);
void console_matrix(const struct console *c, console_arg_fn arg, void *req, struct page *pg);
void console_cell(const struct console *c, console_arg_fn arg, void *req, struct page *pg);
void console_change(const struct console *c, console_arg_fn arg, void *req, struct page *pg);
void console_cases(const struct console *c, console_arg_fn arg, void *req, struct page *pg);
void console_case(const struct console *c, const char *hex, struct page *pg);
void console_entry(const struct console *c, uint64_t seq, struct page *pg);
void console_health(const struct console *c, struct page *pg);
/* The self-contained inclusion proof of entry seq (keten audit prove), as text. */
void console_proof(const struct console *c, uint64_t seq, struct page *pg);
/* An error page: status and a sentence. */
void console_error(struct page *pg, unsigned status, const char *title, const char *what);

/* HTML helpers (cli/console_pages.c) */
void html_esc(struct buf *b, const char *s);
void html_start(struct buf *b, const char *title, const char *twin);
void html_end(struct buf *b, const char *twin);
extern const char console_css[];

#endif
