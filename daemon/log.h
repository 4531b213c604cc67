/* daemon/log.h - the event log: one line per event on stderr (or a file), syslog-prefixed.
 * Ownership: the log owns its output stream; log_open() points it at a file, log_close() back at
 *   stderr; a reopen keeps the descriptor number (dup2) so that no writer can hit a closed one.
 * Threads: any thread may log; lines are written with one write(2) each, so they never interleave.
 * The level is process-wide (it is what an operator sets once); messages below it cost one compare.
 */
#ifndef GAAPD_LOG_H
#define GAAPD_LOG_H

#include <stdarg.h>
#include <stddef.h>

enum log_level { LOG_LEVEL_ERR = 3, LOG_LEVEL_WARN = 4, LOG_LEVEL_INFO = 6, LOG_LEVEL_DEBUG = 7 };

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* "error", "warn", "info", "debug" -> level; -1 when unknown. */
int log_level_parse(const char *name);
/* Send lines to a file (appended) instead of stderr; NULL = stderr. 0 or -1 (errno set). */
int log_open(const char *path);
void log_close(void);

void log_write(enum log_level level, const char *module, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* The access log: one line per request, no prefix, on a descriptor its opener owns (each proxy
 * worker opens its own, so nothing is shared). spec is "stderr" or a file, appended to.
 * The fd, or -1 with errno set. */
int log_access_open(const char *spec);
void log_access_close(int fd);                  /* -1 and stderr are left alone */
/* Appends a newline and writes the line in one write(2), so lines never interleave. */
void log_access_write(int fd, char *line, size_t len, size_t size);

#define LOG_AT(lvl, mod, ...) \
	do { if ((int)(lvl) <= (int)log_get_level()) log_write((lvl), (mod), __VA_ARGS__); } while (0)
#define LOG_ERR(mod, ...)   LOG_AT(LOG_LEVEL_ERR, mod, __VA_ARGS__)
#define LOG_WARN(mod, ...)  LOG_AT(LOG_LEVEL_WARN, mod, __VA_ARGS__)
#define LOG_INFO(mod, ...)  LOG_AT(LOG_LEVEL_INFO, mod, __VA_ARGS__)
#define LOG_DEBUG(mod, ...) LOG_AT(LOG_LEVEL_DEBUG, mod, __VA_ARGS__)

#endif
