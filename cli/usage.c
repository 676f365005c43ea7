/*
 * One command's part of a group's usage text (keten GROUP VERB --help), cut
 * from the group's whole usage: one text to keep, so the two cannot differ.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

static size_t
indent(const char *line)
{
	return strspn(line, " ");
}

/* Does `s` start with word `w` followed by a space or its end? */
static bool
starts_word(const char *s, const char *w)
{
	size_t n = strlen(w);

	return strncmp(s, w, n) == 0 && (s[n] == ' ' || s[n] == '\0');
}

/*
 * An item of the usage text is a line naming a command ("usage: keten audit
 * verify ...", "       keten audit log ...", or "  verify   what it does")
 * with the lines below it that are indented deeper and start no other
 * item.  Print the items of `verb`, the first usage line prefixed "usage: ",
 * then "  (keten GROUP --help: every command; SEE)".  When the text has no
 * item for verb, the whole usage.
 */
int
cli_usage_verb(const char *group, int (*usage)(FILE *), const char *verb, const char *see)
{
	char *text = NULL, *save = NULL, prefix[64];
	size_t len = 0, item_indent = 0;
	FILE *m = open_memstream(&text, &len);
	bool in = false, any = false, usage_done = false;

	if (m == NULL)
		return usage(stdout);
	usage(m);
	fclose(m);
	/* group NULL: commands of their own that share one usage text (inbox, ack) */
	snprintf(prefix, sizeof(prefix), "keten %s%s", group ? group : "", group ? " " : "");
	for (char *line = strtok_r(text, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		const char *body = line;
		if (strncmp(body, "usage: ", 7) == 0)
			body += 7;
		body += indent(body);
		size_t ind = (size_t)(body - line);
		bool is_usage = strncmp(body, prefix, strlen(prefix)) == 0;
		bool starts = false, other = false;
		if (is_usage) {
			starts = starts_word(body + strlen(prefix), verb);
			other = !starts;
		} else if (ind == 2 && group != NULL) {
			starts = starts_word(body, verb);
			other = !starts;
		}
		if (starts) {
			in = true;
			item_indent = ind;
		} else if (other || !in || (ind <= item_indent && !(group == NULL && ind == 2))) {
			/* (without a group, lines at 2 describe the usage line above) */
			in = false;
		}
		if (!in)
			continue;
		if (is_usage && !usage_done) {
			printf("usage: %s\n", body);
			usage_done = true;
		} else if (is_usage) {
			printf("       %s\n", body);
		} else if (!usage_done && starts) {
			/* a group whose usage lists "  VERB ARGS   what it does" */
			printf("usage: keten %s %s\n", group ? group : "", body);
			usage_done = true;
		} else {
			printf("%s\n", line);
		}
		any = true;
	}
	free(text);
	if (!any)
		return usage(stdout);
	if (group != NULL)
		printf("  (keten %s --help: every command; %s)\n", group, see);
	else
		printf("  (%s)\n", see);
	return EXIT_OK;
}

/* Does argv[from..] ask for help (--help or -h, before a "--")? */
bool
cli_wants_help(int argc, char **argv, int from)
{
	for (int i = from; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			return false;
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return true;
	}
	return false;
}
