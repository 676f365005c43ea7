/* keten status: what became of a message this agency sent. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "common/util.h"

int
cmd_status(int argc, char **argv)
{
	const char *config = NULL, *idtext = NULL;
	uint8_t id[KETEN_UUIDBYTES];
	int status = EXIT_OK;

	for (int i = 1; i < argc; i++) {
		if ((strcmp(argv[i], "--config") == 0 || strcmp(argv[i], "-c") == 0) && i + 1 < argc)
			config = argv[++i];
		else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			printf("usage: keten status [--config AGENT.yaml] MESSAGE-ID\n"
			    "  Prints the state of a message this agency sent: queued (in the agent's\n"
			    "  outbox), accepted (the broker has it on disk), rejected (with the\n"
			    "  broker's reason) or unknown.  Exit 0, or 1 for rejected and unknown.\n");
			return EXIT_OK;
		} else if (idtext == NULL && argv[i][0] != '-')
			idtext = argv[i];
		else {
			fprintf(stderr, "keten status: unexpected argument \"%s\"\n", argv[i]);
			return EXIT_USAGE;
		}
	}
	if (idtext == NULL || uuid_parse(id, idtext) != 0) {
		fprintf(stderr, "usage: keten status [--config AGENT.yaml] MESSAGE-ID\n");
		return EXIT_USAGE;
	}
	struct control *c = control_open(config);
	if (c == NULL)
		return EXIT_UNREACHABLE;
	Keten__Local__V1__StatusQuery q = KETEN__LOCAL__V1__STATUS_QUERY__INIT;
	Keten__Local__V1__LocalRequest req = KETEN__LOCAL__V1__LOCAL_REQUEST__INIT;
	Keten__Local__V1__LocalReply *r;
	q.message_id = (ProtobufCBinaryData){ KETEN_UUIDBYTES, id };
	req.req_case = KETEN__LOCAL__V1__LOCAL_REQUEST__REQ_STATUS;
	req.status = &q;
	if (control_send(c, &req) != 0 || (r = control_recv(c, 10000)) == NULL) {
		control_close(&c);
		return EXIT_UNREACHABLE;
	}
	if (r->rep_case == KETEN__LOCAL__V1__LOCAL_REPLY__REP_STATUS) {
		const Keten__Local__V1__StatusReply *s = r->status;
		printf("%s %s", idtext, s->state);
		if (s->time_ms) {
			char when[32];
			time_t t = (time_t)(s->time_ms / 1000);
			struct tm tm;
			gmtime_r(&t, &tm);
			strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
			printf(" %s", when);
		}
		if (s->reason[0])
			printf(": %s", s->reason);
		printf("\n");
		for (size_t i = 0; i < s->n_receipts; i++)
			printf("  receipt: %s\n", s->receipts[i]);
		if (strcmp(s->state, "rejected") == 0 || strcmp(s->state, "unknown") == 0)
			status = EXIT_FAIL;
	} else {
		fprintf(stderr, "keten status: %s\n", r->rep_case == KETEN__LOCAL__V1__LOCAL_REPLY__REP_ERROR ?
		    r->error->reason : "unexpected reply");
		status = EXIT_FAIL;
	}
	keten__local__v1__local_reply__free_unpacked(r, NULL);
	control_close(&c);
	return status;
}
