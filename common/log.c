/* Logging: one line per event, "2026-11-29T13:02:22.123Z INFO broker: ...". */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"

static char component[32] = "keten";
static bool debug_on, silent;

void
log_init(const char *name, bool verbose)
{
	snprintf(component, sizeof(component), "%s", name);
	debug_on = verbose;
}

void
log_silence(bool on)
{
	silent = on;
}

static void vlog(const char *level, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

static void
vlog(const char *level, const char *fmt, va_list ap)
{
	struct timespec ts;
	struct tm tm;
	char when[32], line[2048], safe[4 * sizeof(line)];
	size_t o = 0;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	vsnprintf(line, sizeof(line), fmt, ap);
	if (silent)
		return;
	/* one event, one line, whatever a caller passed on from a peer: control
	 * characters escaped here too (log_safe also escapes backslashes, so a
	 * peer cannot write an escape that looks like ours) */
	for (const unsigned char *c = (const unsigned char *)line; *c != '\0'; c++) {
		if (*c < 0x20 || *c == 0x7f)
			o += (size_t)snprintf(safe + o, sizeof(safe) - o, "\\x%02x", *c);
		else
			safe[o++] = (char)*c;
	}
	safe[o] = '\0';
	/* One write per line so lines of concurrent processes do not interleave. */
	fprintf(stderr, "%s.%03ldZ %s %s: %s\n", when, ts.tv_nsec / 1000000, level,
	    component, safe);
}

void
log_debug(const char *fmt, ...)
{
	va_list ap;

	if (!debug_on)
		return;
	va_start(ap, fmt);
	vlog("DEBUG", fmt, ap);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog("INFO", fmt, ap);
	va_end(ap);
}

void
log_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog("WARN", fmt, ap);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog("FATAL", fmt, ap);
	va_end(ap);
	exit(1);
}

const char *
log_safe(const char *s, size_t max, char *buf, size_t buflen)
{
	size_t o = 0, i;

	if (buflen == 0)
		return "";
	for (i = 0; s != NULL && s[i] != '\0' && i < max && o + 5 < buflen; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7f || c == '\\')
			o += (size_t)snprintf(buf + o, buflen - o, "\\x%02x", c);
		else
			buf[o++] = (char)c;
	}
	if (s != NULL && s[i] != '\0' && o + 4 <= buflen) {
		memcpy(buf + o, "...", 3);
		o += 3;
	}
	buf[o < buflen ? o : buflen - 1] = '\0';
	return buf;
}
