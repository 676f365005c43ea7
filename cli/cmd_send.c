/* keten send: hand one message, or one per input line, to the local agent. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "common/util.h"
#include "policy/policy.h"
#include "schemas/case_types.pb-c.h"

#define SEND_WINDOW 256		/* requests in flight to the agent */
#define REPLY_TIMEOUT_MS 10000

static int
usage(FILE *f)
{
	fprintf(f, "usage: keten send [--config AGENT.yaml] --to ID[,ID...] --type TYPE --purpose P\n"
	    "                  [--basis B] [--handling LABEL] [--attr form=LABOUR] [--attr minor=true]\n"
	    "                  [--attr region=R] [--reply-to MESSAGE-ID] [--case REFERENCE] [--quiet]\n"
	    "                  (--body JSON | --file FILE.json | --lines)\n"
	    "  Hands a case message (JSON, see keten schema show TYPE) to the local agent,\n"
	    "  which filters it per recipient by the policy, and prints its message id once\n"
	    "  the agent has it on disk.  What the policy withholds from whom, and why, is\n"
	    "  printed to standard error (--quiet: not).  --lines sends each line of\n"
	    "  standard input as one message and prints one id per line, in order.\n"
	    "  LABEL is a TLP 2.0 label: CLEAR, GREEN, AMBER (default), AMBER+STRICT, RED.\n"
	    "  --case gives your case reference; only its keyed pseudonym travels.\n");
	return f == stdout ? EXIT_OK : EXIT_USAGE;
}

static bool quiet;

/* Wait for one reply and print it; returns 0 when the agent accepted. */
static int
collect(struct control *c, int *status)
{
	Keten__Local__V1__LocalReply *r = control_recv(c, REPLY_TIMEOUT_MS);
	char id[KETEN_UUIDSTRLEN];

	if (r == NULL) {
		*status = EXIT_UNREACHABLE;
		return -1;
	}
	if (r->rep_case == KETEN__LOCAL__V1__LOCAL_REPLY__REP_SUBMITTED &&
	    r->submitted->message_id.len == KETEN_UUIDBYTES) {
		uuid_format(id, r->submitted->message_id.data);
		printf("%s\n", id);
		for (size_t i = 0; i < r->submitted->n_withheld && !quiet; i++) {
			const Keten__Local__V1__Withheld *w = r->submitted->withheld[i];
			if (w->path[0] == '\0')
				fprintf(stderr, "%s: not sent to %s: %s%s%s%s\n", id, w->recipient,
				    w->reason, w->rule[0] ? " (rule " : "", w->rule, w->rule[0] ? ")" : "");
			else
				fprintf(stderr, "%s: withheld from %s: %s: %s%s%s%s\n", id, w->recipient,
				    w->path, w->reason, w->rule[0] ? " (rule " : "", w->rule,
				    w->rule[0] ? ")" : "");
		}
	} else {
		fprintf(stderr, "keten send: %s\n",
		    r->rep_case == KETEN__LOCAL__V1__LOCAL_REPLY__REP_ERROR ? r->error->reason :
		    "unexpected reply from the agent");
		if (*status == EXIT_OK)
			*status = EXIT_FAIL;
	}
	keten__local__v1__local_reply__free_unpacked(r, NULL);
	return 0;
}

/* --attr form=LABOUR | minor=true | region=ID | urgency=IMMEDIATE */
static int
parse_attr(const char *kv, Keten__Envelope__V1__Attributes *a)
{
	const char *eq = strchr(kv, '=');
	const char *v = eq ? eq + 1 : "";
	size_t klen = eq ? (size_t)(eq - kv) : strlen(kv);
	char full[128];

	if (klen == 4 && strncmp(kv, "form", 4) == 0) {
		const ProtobufCEnumDescriptor *ed = &keten__case__v1__exploitation_form__descriptor;
		const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value_by_name(ed, v);
		snprintf(full, sizeof(full), "EXPLOITATION_FORM_%s", v);
		if (ev == NULL)
			ev = protobuf_c_enum_descriptor_get_value_by_name(ed, full);
		if (ev == NULL || ev->value == 0 || a->n_exploitation_forms == 8) {
			fprintf(stderr, "keten send: --attr form=%s: expected SEXUAL, LABOUR, CRIMINAL, "
			    "ORGAN_REMOVAL or OTHER\n", v);
			return -1;
		}
		a->exploitation_forms[a->n_exploitation_forms++] = ev->value;
	} else if (klen == 5 && strncmp(kv, "minor", 5) == 0) {
		if (strcmp(v, "true") != 0 && strcmp(v, "false") != 0) {
			fprintf(stderr, "keten send: --attr minor= takes true or false\n");
			return -1;
		}
		a->minor = strcmp(v, "true") == 0;
	} else if (klen == 6 && strncmp(kv, "region", 6) == 0 && *v) {
		a->region = (char *)v;
	} else if (klen == 7 && strncmp(kv, "urgency", 7) == 0) {
		const ProtobufCEnumDescriptor *ed = &keten__case__v1__urgency__descriptor;
		snprintf(full, sizeof(full), "URGENCY_%s", v);
		const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value_by_name(ed, full);
		if (ev == NULL) {
			fprintf(stderr, "keten send: --attr urgency=%s: expected ROUTINE, PRIORITY or "
			    "IMMEDIATE\n", v);
			return -1;
		}
		a->urgency = ev->value;
	} else {
		fprintf(stderr, "keten send: unknown attribute \"%s\" (form=, minor=, region=, "
		    "urgency=)\n", kv);
		return -1;
	}
	return 0;
}

int
cmd_send(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "to", required_argument, NULL, 't' },
		{ "type", required_argument, NULL, 'T' },
		{ "body", required_argument, NULL, 'b' },
		{ "file", required_argument, NULL, 'f' },
		{ "lines", no_argument, NULL, 'l' },
		{ "purpose", required_argument, NULL, 'p' },
		{ "basis", required_argument, NULL, 'B' },
		{ "handling", required_argument, NULL, 'H' },
		{ "attr", required_argument, NULL, 'A' },
		{ "reply-to", required_argument, NULL, 'R' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "case", required_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config = NULL, *type = NULL, *body = NULL, *file = NULL;
	char *to[64], *tolist = NULL;
	size_t nto = 0;
	bool lines = false;
	int ch, status = EXIT_OK;
	const char *purpose = NULL, *basis = NULL, *caseref = NULL;
	Keten__Envelope__V1__Attributes attrs = KETEN__ENVELOPE__V1__ATTRIBUTES__INIT;
	Keten__Case__V1__ExploitationForm forms[8];
	int handling = 0;
	uint8_t reply_to[KETEN_UUIDBYTES];
	bool has_reply_to = false;

	attrs.exploitation_forms = forms;
	while ((ch = getopt_long(argc, argv, "c:t:T:b:f:lhp:B:H:A:R:qC:", opts, NULL)) != -1) {
		switch (ch) {
		case 'c': config = optarg; break;
		case 't': tolist = optarg; break;
		case 'T': type = optarg; break;
		case 'b': body = optarg; break;
		case 'f': file = optarg; break;
		case 'l': lines = true; break;
		case 'p': purpose = optarg; break;
		case 'B': basis = optarg; break;
		case 'q': quiet = true; break;
		case 'C': caseref = optarg; break;
		case 'H':
			if ((handling = policy_handling_parse(optarg)) < 0) {
				fprintf(stderr, "keten send: unknown handling label \"%s\" (CLEAR, GREEN, "
				    "AMBER, AMBER+STRICT, RED)\n", optarg);
				return EXIT_USAGE;
			}
			break;
		case 'R':
			if (uuid_parse(reply_to, optarg) != 0) {
				fprintf(stderr, "keten send: --reply-to needs a message id\n");
				return EXIT_USAGE;
			}
			has_reply_to = true;
			break;
		case 'A':
			if (parse_attr(optarg, &attrs) != 0)
				return EXIT_USAGE;
			break;
		case 'h': return usage(stdout);
		default: return usage(stderr);
		}
	}
	if (tolist == NULL || type == NULL || purpose == NULL || optind != argc ||
	    (body != NULL) + (file != NULL) + lines != 1)
		return usage(stderr);
	for (char *save = NULL, *t = strtok_r(tolist, ",", &save); t != NULL;
	    t = strtok_r(NULL, ",", &save)) {
		if (nto == 64) {
			fprintf(stderr, "keten send: at most 64 recipients\n");
			return EXIT_USAGE;
		}
		to[nto++] = t;
	}

	char *data = NULL;
	size_t len = 0;
	if (file != NULL) {
		FILE *f = fopen(file, "rb");
		if (f == NULL) {
			perror(file);
			return EXIT_FAIL;
		}
		char buf[65536];
		size_t r;
		while ((r = fread(buf, 1, sizeof(buf), f)) > 0) {
			char *nd = realloc(data, len + r);
			if (nd == NULL) {
				fclose(f);
				free(data);
				return EXIT_FAIL;
			}
			data = nd;
			memcpy(data + len, buf, r);
			len += r;
		}
		fclose(f);
	}

	struct control *c = control_open(config);
	if (c == NULL) {
		free(data);
		return EXIT_UNREACHABLE;
	}
	Keten__Local__V1__LocalSubmit ls = KETEN__LOCAL__V1__LOCAL_SUBMIT__INIT;
	Keten__Local__V1__LocalRequest req = KETEN__LOCAL__V1__LOCAL_REQUEST__INIT;
	ls.n_recipients = nto;
	ls.recipients = to;
	ls.message_type = (char *)type;
	ls.purpose = (char *)purpose;
	ls.legal_basis = basis ? (char *)basis : (char *)"";
	ls.attributes = &attrs;
	ls.handling = handling;
	if (caseref != NULL)
		ls.case_reference = (char *)caseref;
	if (has_reply_to)
		ls.in_reply_to = (ProtobufCBinaryData){ KETEN_UUIDBYTES, reply_to };
	req.req_case = KETEN__LOCAL__V1__LOCAL_REQUEST__REQ_SUBMIT;
	req.submit = &ls;

	if (!lines) {
		ls.payload = body ? (ProtobufCBinaryData){ strlen(body), (uint8_t *)body } :
		    (ProtobufCBinaryData){ len, (uint8_t *)data };
		if (control_send(c, &req) != 0)
			status = EXIT_UNREACHABLE;
		else
			collect(c, &status);
	} else {
		char *line = NULL;
		size_t cap = 0, inflight = 0;
		ssize_t n;
		while (status != EXIT_UNREACHABLE && (n = getline(&line, &cap, stdin)) >= 0) {
			if (n > 0 && line[n - 1] == '\n')
				line[--n] = '\0';
			ls.payload = (ProtobufCBinaryData){ (size_t)n, (uint8_t *)line };
			if (control_send(c, &req) != 0) {
				status = EXIT_UNREACHABLE;
				break;
			}
			if (++inflight >= SEND_WINDOW && collect(c, &status) == 0)
				inflight--;
		}
		while (inflight > 0 && collect(c, &status) == 0)
			inflight--;
		free(line);
	}
	control_close(&c);
	free(data);
	return status;
}
