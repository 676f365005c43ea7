/* One line per event on stderr: time, level, component, message. */
#ifndef KETEN_LOG_H
#define KETEN_LOG_H

#include <stdbool.h>

/* Set the component name (copied) and whether debug lines are printed. */
void log_init(const char *component, bool verbose);
/* Lines are still formatted but not written (fuzz targets: the daemons' code
 * logs as it runs, and libFuzzer's own lines must stay readable). */
void log_silence(bool on);

void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Log at level FATAL and exit(1). */
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
