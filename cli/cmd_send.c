/* keten send: hand one message, or one per input line, to the local agent. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "common/util.h"

#define SEND_WINDOW 256		/* requests in flight to the agent */
#define REPLY_TIMEOUT_MS 10000

static int
usage(FILE *f)
{
	fprintf(f, "usage: keten send [--config AGENT.yaml] --to ID[,ID...] --type TYPE\n"
	    "                  (--body TEXT | --file FILE | --lines)\n"
	    "  Hands a message to the local agent and prints its message id once the\n"
	    "  agent has it on disk.  --lines sends each line of standard input as one\n"
	    "  message (bulk hand-over) and prints one id per line, in order.\n");
	return f == stdout ? EXIT_OK : EXIT_USAGE;
}

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
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config = NULL, *type = NULL, *body = NULL, *file = NULL;
	char *to[64], *tolist = NULL;
	size_t nto = 0;
	bool lines = false;
	int ch, status = EXIT_OK;

	while ((ch = getopt_long(argc, argv, "c:t:T:b:f:lh", opts, NULL)) != -1) {
		switch (ch) {
		case 'c': config = optarg; break;
		case 't': tolist = optarg; break;
		case 'T': type = optarg; break;
		case 'b': body = optarg; break;
		case 'f': file = optarg; break;
		case 'l': lines = true; break;
		case 'h': return usage(stdout);
		default: return usage(stderr);
		}
	}
	if (tolist == NULL || type == NULL || optind != argc ||
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
