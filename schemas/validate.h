/*
 * Field formats of the case schemas, declared once in one table
 * (schemas/validate.c) keyed by proto field name: the same name means the
 * same thing in every message (kvk_number, postcode, birth_date, ...).
 * Used by the codec; not a public API of its own.
 */
#ifndef KETEN_SCHEMAS_VALIDATE_H
#define KETEN_SCHEMAS_VALIDATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum vkind {
	V_TEXT,			/* any UTF-8 text up to max_len bytes */
	V_DATE,			/* YYYY-MM-DD, a real calendar date */
	V_PAST_DATE,		/* a date, not in the future */
	V_KVK,			/* 8 digits */
	V_POSTCODE,		/* Dutch "1234 AB" unless the sibling country is not NL */
	V_COUNTRY,		/* ISO 3166-1 alpha-2 */
	V_LANGUAGE,		/* ISO 639-1, two lower-case letters */
	V_PLATE,		/* Dutch licence plate unless the sibling country is not NL */
	V_UUID,			/* 8-4-4-4-12 hex */
	V_PHONE,		/* optional +, digits and spaces, 6..20 */
	V_BIRTH_YEAR,		/* 1900..this year */
};

struct vrule {
	const char *field;	/* proto field name */
	enum vkind kind;
	size_t max_len;		/* for strings */
};

/* The rule for a field name; a default V_TEXT rule (200 bytes) otherwise. */
const struct vrule *validate_rule(const char *field);

/*
 * Check a string value.  `foreign` is true when the sibling "country" field
 * names a country other than NL (postcode and plate are then free form).
 * On failure writes what was expected into `want` and returns -1.
 */
int validate_string(const struct vrule *r, const char *s, size_t len, bool foreign,
    char *want, size_t wantlen);
/* Check an integer value (V_BIRTH_YEAR); same contract. */
int validate_int(const struct vrule *r, int64_t v, char *want, size_t wantlen);

#endif
