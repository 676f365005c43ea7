/* keten inbox: list what the local agent has received. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "common/util.h"
#include "schemas/codec.h"

static int
usage(FILE *f)
{
	fprintf(f, "usage: keten inbox [--config AGENT.yaml] [--after SEQ] [--limit N] [--all]\n"
	    "  Prints one line per message, tab-separated:\n"
	    "    SEQ  MESSAGE-ID  SENDER  TYPE  RECEIVED-MS  MESSAGE\n"
	    "  MESSAGE is the case message as canonical JSON on one line.  --all pages\n"
	    "  through the whole inbox.\n");
	return f == stdout ? EXIT_OK : EXIT_USAGE;
}

static void
print_escaped(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint8_t ch = p[i];
		if (ch == '\t')
			fputs("\\t", stdout);
		else if (ch == '\n')
			fputs("\\n", stdout);
		else if (ch == '\\')
			fputs("\\\\", stdout);
		else if (ch < 0x20 || ch == 0x7f)
			printf("\\x%02x", ch);
		else
			putchar(ch);
	}
}

/* Canonical JSON for a known type; escaped bytes otherwise. */
static void
print_payload(const Keten__Wire__V1__Deliver *d)
{
	const struct codec_type *t = codec_type_find(d->header->message_type);
	ProtobufCMessage *m = t ? codec_unpack(t, d->copy->payload.data, d->copy->payload.len) : NULL;
	char *json = NULL;

	if (m != NULL && codec_to_json(t, m, &json) == 0) {
		fputs(json, stdout);
		free(json);
	} else {
		print_escaped(d->copy->payload.data, d->copy->payload.len);
	}
	codec_free(m);
}

static bool
parse_u64(const char *s, uint64_t *out)
{
	char *end;

	if (s[0] < '0' || s[0] > '9')
		return false;
	*out = strtoull(s, &end, 10);
	return *end == '\0';
}

int
cmd_inbox(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "after", required_argument, NULL, 'a' },
		{ "limit", required_argument, NULL, 'n' },
		{ "all", no_argument, NULL, 'A' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config = NULL;
	uint64_t after = 0, limit = 100;
	bool all = false;
	int ch, status = EXIT_OK;

	while ((ch = getopt_long(argc, argv, "c:a:n:Ah", opts, NULL)) != -1) {
		switch (ch) {
		case 'c': config = optarg; break;
		case 'a':
			if (!parse_u64(optarg, &after))
				return usage(stderr);
			break;
		case 'n':
			if (!parse_u64(optarg, &limit) || limit == 0 || limit > 1000)
				return usage(stderr);
			break;
		case 'A': all = true; break;
		case 'h': return usage(stdout);
		default: return usage(stderr);
		}
	}
	if (optind != argc)
		return usage(stderr);
	struct control *c = control_open(config);
	if (c == NULL)
		return EXIT_UNREACHABLE;
	if (all)
		limit = 1000;
	for (;;) {
		Keten__Local__V1__InboxList il = KETEN__LOCAL__V1__INBOX_LIST__INIT;
		Keten__Local__V1__LocalRequest req = KETEN__LOCAL__V1__LOCAL_REQUEST__INIT;
		Keten__Local__V1__LocalReply *r;
		il.after = after;
		il.limit = (uint32_t)limit;
		req.req_case = KETEN__LOCAL__V1__LOCAL_REQUEST__REQ_INBOX;
		req.inbox = &il;
		if (control_send(c, &req) != 0 || (r = control_recv(c, 10000)) == NULL) {
			status = EXIT_UNREACHABLE;
			break;
		}
		if (r->rep_case != KETEN__LOCAL__V1__LOCAL_REPLY__REP_INBOX) {
			fprintf(stderr, "keten inbox: %s\n",
			    r->rep_case == KETEN__LOCAL__V1__LOCAL_REPLY__REP_ERROR ?
			    r->error->reason : "unexpected reply");
			keten__local__v1__local_reply__free_unpacked(r, NULL);
			status = EXIT_FAIL;
			break;
		}
		size_t n = r->inbox->n_items;
		for (size_t i = 0; i < n; i++) {
			const Keten__Local__V1__InboxItem *it = r->inbox->items[i];
			const Keten__Wire__V1__Deliver *d = it->message;
			char id[KETEN_UUIDSTRLEN] = "-";
			if (d == NULL || d->header == NULL || d->copy == NULL)
				continue;
			if (d->header->message_id.len == KETEN_UUIDBYTES)
				uuid_format(id, d->header->message_id.data);
			printf("%llu\t%s\t%s\t%s\t%lld\t", (unsigned long long)it->seq, id,
			    d->header->sender, d->header->message_type, (long long)it->received_ms);
			print_payload(d);
			putchar('\n');
			after = it->seq;
		}
		keten__local__v1__local_reply__free_unpacked(r, NULL);
		if (!all || n < limit)
			break;
	}
	control_close(&c);
	return status;
}
