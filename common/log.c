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
	char when[32], line[2048];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	vsnprintf(line, sizeof(line), fmt, ap);
	if (silent)
		return;
	/* One write per line so lines of concurrent processes do not interleave. */
	fprintf(stderr, "%s.%03ldZ %s %s: %s\n", when, ts.tv_nsec / 1000000, level,
	    component, line);
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
