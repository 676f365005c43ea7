/* Field formats of the case schemas: one table, generic checks. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "schemas/validate.h"

static const struct vrule rules[] = {
	{ "birth_date", V_PAST_DATE, 10 },
	{ "observed_on", V_PAST_DATE, 10 },
	{ "registered_on", V_PAST_DATE, 10 },
	{ "start_date", V_DATE, 10 },
	{ "reply_by", V_DATE, 10 },
	{ "kvk_number", V_KVK, 8 },
	{ "postcode", V_POSTCODE, 16 },
	{ "nationality", V_COUNTRY, 2 },
	{ "country", V_COUNTRY, 2 },
	{ "issuing_country", V_COUNTRY, 2 },
	{ "languages", V_LANGUAGE, 2 },
	{ "licence_plate", V_PLATE, 16 },
	{ "in_reply_to", V_UUID, 36 },
	{ "about_message", V_UUID, 36 },
	{ "referenced_signals", V_UUID, 36 },
	{ "phone", V_PHONE, 24 },
	{ "birth_year", V_BIRTH_YEAR, 0 },
	{ "observation", V_TEXT, 8000 },
	{ "question", V_TEXT, 8000 },
	{ "answer", V_TEXT, 8000 },
	{ "summary", V_TEXT, 8000 },
	{ "reason", V_TEXT, 2000 },
	{ "outcome", V_TEXT, 2000 },
	{ "note", V_TEXT, 2000 },
};

static const struct vrule default_rule = { "", V_TEXT, 200 };

/* ISO 3166-1 alpha-2, officially assigned codes. */
static const char countries[] =
    "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN "
    "BO BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ "
    "DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL "
    "GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM "
    "JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME "
    "MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP "
    "NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD "
    "SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO "
    "TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW";

const struct vrule *
validate_rule(const char *field)
{
	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++)
		if (strcmp(rules[i].field, field) == 0)
			return &rules[i];
	return &default_rule;
}

static bool
is_digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

static bool
leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int
this_year(void)
{
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	return tm.tm_year + 1900;
}

/* -1 invalid, else yyyymmdd as a number */
static long
parse_date(const char *s, size_t len)
{
	static const int mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	if (len != 10 || s[4] != '-' || s[7] != '-' || !is_digits(s, 4) ||
	    !is_digits(s + 5, 2) || !is_digits(s + 8, 2))
		return -1;
	int y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
	int m = (s[5] - '0') * 10 + (s[6] - '0');
	int d = (s[8] - '0') * 10 + (s[9] - '0');
	if (y < 1900 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1] + (m == 2 && leap(y)))
		return -1;
	return (long)y * 10000 + m * 100 + d;
}

static long
today(void)
{
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	return (long)(tm.tm_year + 1900) * 10000 + (tm.tm_mon + 1) * 100 + tm.tm_mday;
}

static bool
dutch_plate(const char *s, size_t len)
{
	/* Sidecodes: six letters/digits in three groups of 1-3, e.g. AB-123-C, 12-ABC-3. */
	size_t groups = 1, glen = 0, alnum = 0;

	if (len < 8 || len > 8)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (c == '-') {
			if (glen == 0)
				return false;
			groups++;
			glen = 0;
		} else if ((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
			glen++;
			alnum++;
			if (glen > 3)
				return false;
		} else {
			return false;
		}
	}
	return groups == 3 && glen > 0 && alnum == 6;
}

int
validate_string(const struct vrule *r, const char *s, size_t len, bool foreign, char *want,
    size_t wantlen)
{
	bool ok = true;
	const char *w = NULL;

	/* fixed formats: the format check says more than a length would */
	bool fixed = r->kind == V_DATE || r->kind == V_PAST_DATE || r->kind == V_KVK ||
	    r->kind == V_COUNTRY || r->kind == V_LANGUAGE || r->kind == V_UUID ||
	    (r->kind == V_POSTCODE && !foreign) || (r->kind == V_PLATE && !foreign);
	if (!fixed && len > r->max_len && r->max_len > 0) {
		snprintf(want, wantlen, "expected at most %zu bytes, got %zu", r->max_len, len);
		return -1;
	}
	switch (r->kind) {
	case V_TEXT:
		return 0;
	case V_DATE:
		ok = parse_date(s, len) >= 0;
		w = "a date YYYY-MM-DD";
		break;
	case V_PAST_DATE: {
		long d = parse_date(s, len);
		if (d >= 0 && d > today()) {
			snprintf(want, wantlen, "expected a date not in the future, got \"%.*s\"", (int)len, s);
			return -1;
		}
		ok = d >= 0;
		w = "a date YYYY-MM-DD";
		break;
	}
	case V_KVK:
		ok = len == 8 && is_digits(s, 8);
		w = "a KvK number of 8 digits";
		break;
	case V_POSTCODE:
		if (foreign)
			return 0;	/* length checked above against max_len */
		ok = len == 7 && is_digits(s, 4) && s[0] != '0' && s[4] == ' ' &&
		    s[5] >= 'A' && s[5] <= 'Z' && s[6] >= 'A' && s[6] <= 'Z';
		w = "a Dutch postcode \"1234 AB\"";
		break;
	case V_COUNTRY:
		ok = len == 2 && s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' && s[1] <= 'Z';
		if (ok) {
			ok = false;
			for (const char *c = countries; *c; c += c[2] ? 3 : 2)
				if (c[0] == s[0] && c[1] == s[1]) {
					ok = true;
					break;
				}
		}
		w = "an ISO 3166-1 alpha-2 country code such as \"NL\"";
		break;
	case V_LANGUAGE:
		ok = len == 2 && s[0] >= 'a' && s[0] <= 'z' && s[1] >= 'a' && s[1] <= 'z';
		w = "an ISO 639-1 language code such as \"nl\"";
		break;
	case V_PLATE:
		if (foreign)
			return 0;	/* length checked above against max_len */
		ok = dutch_plate(s, len);
		w = "a Dutch licence plate such as \"AB-123-C\"";
		break;
	case V_UUID: {
		static const char pat[] = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";
		ok = len == 36;
		for (size_t i = 0; ok && i < 36; i++) {
			char c = s[i];
			ok = pat[i] == '-' ? c == '-' : ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'));
		}
		w = "a message id (lower-case UUID)";
		break;
	}
	case V_PHONE: {
		size_t digits = 0;
		for (size_t i = 0; ok && i < len; i++) {
			if (s[i] >= '0' && s[i] <= '9')
				digits++;
			else if (!(s[i] == ' ' || (s[i] == '+' && i == 0)))
				ok = false;
		}
		ok = ok && digits >= 6 && digits <= 20;
		w = "a phone number such as \"+31 6 12345678\"";
		break;
	}
	case V_BIRTH_YEAR:
		return 0;
	}
	if (!ok) {
		snprintf(want, wantlen, "expected %s, got \"%.*s\"", w, (int)(len > 64 ? 64 : len), s);
		return -1;
	}
	return 0;
}

int
validate_int(const struct vrule *r, int64_t v, char *want, size_t wantlen)
{
	if (r->kind == V_BIRTH_YEAR && (v < 1900 || v > this_year())) {
		snprintf(want, wantlen, "expected a year between 1900 and %d, got %lld", this_year(),
		    (long long)v);
		return -1;
	}
	return 0;
}
