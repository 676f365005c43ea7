/* One line per event on stderr: time, level, component, message. */
#ifndef KETEN_LOG_H
#define KETEN_LOG_H

#include <stdbool.h>
#include <stddef.h>

/* Set the component name (copied) and whether debug lines are printed. */
void log_init(const char *component, bool verbose);
/* Lines are still formatted but not written (fuzz targets: the daemons' code
 * logs as it runs, and libFuzzer's own lines must stay readable). */
void log_silence(bool on);

/*
 * A peer's string made safe for one log line: control characters, DEL and
 * backslashes as \xNN, cut after max bytes of input with "...", into buf
 * (buflen >= 4 * max + 4 holds any input); returns buf.  Strings from the
 * wire or a partner system go through this before they reach a log, so no
 * peer can write a line of its own into it.
 */
#define LOG_SAFE_LEN(max) (4 * (max) + 4)
const char *log_safe(const char *s, size_t max, char *buf, size_t buflen);

void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Log at level FATAL and exit(1). */
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
