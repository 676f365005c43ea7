/*
 * Ledger entries (schemas/ledger.proto) as JSON for auditors: the form of
 * `keten audit query --json` and the Logboek Dataverwerkingen style record
 * of `keten audit export --format logboek`.
 */
#ifndef KETEN_LEDGERJSON_H
#define KETEN_LEDGERJSON_H

#include <jansson.h>

#include "schemas/ledger.pb-c.h"

/* A new JSON object for e (json_decref it); e is only read. */
json_t *ledger_entry_json(const Keten__Ledger__V1__Entry *e);
/* The Logboek record of e; acc: the ACCEPTED entry of the copy e is about, or NULL. */
json_t *ledger_entry_logboek_json(const Keten__Ledger__V1__Entry *e,
    const Keten__Ledger__V1__Entry *acc);

#endif
