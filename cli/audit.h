/*
 * keten audit's parts (private to cli/cmd_audit.c and cli/audit_*.c):
 * cmd_audit.c reads the options and runs a verb; audit_show.c prints
 * entries, the processing report of a case and the statistics, each in a
 * human form (ISO 8601 times in UTC) and as JSON (--json).
 */
#ifndef KETEN_CLI_AUDIT_H
#define KETEN_CLI_AUDIT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "ledger/reader.h"
#include "schemas/ledger.pb-c.h"

/* What query and report select. */
struct query {
	uint8_t msgid[16], pseudo[32];
	bool has_msg, has_case;
	const char *sender, *recipient, *rule, *type;
	int kind;		/* 0 = any */
	int64_t since, until;	/* 0 = open */
};

/* One entry on one line for a person: seq, time, kind, who, what, why. */
void audit_entry_line(FILE *f, const Keten__Ledger__V1__Entry *e);
/* One entry as JSON on one line (ledger_entry_json, with "time" in ISO 8601). */
void audit_entry_json_line(FILE *f, const Keten__Ledger__V1__Entry *e);
/* The entry's kind without "KIND_" ("ACCEPTED"). */
const char *audit_kind_name(int kind);

/* Whether e is one query q asks for (beyond the index it was found by). */
bool audit_matches(const struct query *q, const Keten__Ledger__V1__Entry *e);

/*
 * The processing report of q's case: per message, per copy, what became of
 * it (accepted with rule, purpose, legal basis and fields; delivered when;
 * refused by the broker or the recipient; expired), the legal bases'
 * citations from policy_file when given; with links, then every case linked
 * to it by a reply (another agency's case about the same matter), each
 * message once; the text form ends with the console's address of the case
 * (data: the ledger's directory, as given).  EXIT_* code.
 */
int audit_report(struct ledger_reader *r, const char *data, const struct query *q,
    const char *policy_file, bool links, bool json);

/* Accepted, rejected and delivered per rule, per sender -> recipient and per reason. */
int audit_stats(struct ledger_reader *r, bool json);

#endif
