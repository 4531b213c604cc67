/* daemon/log.h - the event log: one line per event on stderr (or a file), syslog-prefixed.
 * Ownership: the log owns its output stream; log_open() points it at a file, log_close() back at
 *   stderr; a reopen keeps the descriptor number (dup2) so that no writer can hit a closed one.
 * Threads: any thread may log; lines are written with one write(2) each, so they never interleave.
 * The level is process-wide (it is what an operator sets once); messages below it cost one compare.
 * Escaping: every message is passed through log_escape() once formatted, so no logged field (a
 *   name, a path, a header from the wire) can break a line, hide or reverse text in the log.
 * Flood control of warnings, errors and debug lines (process-wide, one mutex, held for the write
 *   too so that order is kept). Info lines are the audit trail (a listener created, a reload
 *   applied: each is one operator's or caller's act, and the API's rate limits bound them) and
 *   are always written:
 *   - a line identical to the one written last (level, module and text) is counted, not written;
 *     "last message repeated N times" follows when another line comes, or from log_flush() once
 *     the first repeat counted is LOG_REPEAT_MS old: a steady identical flood costs a line a
 *     second;
 *   - each call site (its format string, which must be a literal) may write log_set_rate()'s
 *     burst lines per interval; past it lines are counted, and "N more lines like this one
 *     suppressed" is written when the site's next window opens (at its next line or log_flush()).
 *     A site's first line always passes: one-off errors are never lost.
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

/* module and fmt must outlive the process (literals): fmt keys the call site's rate limit. */
void log_write(enum log_level level, const char *module, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* The one escaper of logged text: s[0..len) into out (always NUL-terminated, never cut inside an
 * escape), the length written returned. Reversible; everything else is copied as is:
 *   \\            a backslash; \" a double quote, when quote is set (a field between quotes)
 *   \xHH          one byte: C0 controls, DEL, and each byte that is not valid UTF-8 (RFC 3629:
 *                 overlong forms, surrogates, past U+10FFFF, cut sequences)
 *   \u{HHHH}      a valid code point that breaks lines or is invisible: C1 controls, U+2028/9,
 *                 Unicode format characters (Cf: bidi marks and overrides, zero widths, BOM,
 *                 tags...), fillers, noncharacters (log.c lists them).
 * Printable text, "é" or "监听" among it, is kept. At most 4 bytes of out per byte of s. */
size_t log_escape(char *out, size_t size, const char *s, size_t len, int quote);

#define LOG_BURST_DEFAULT 100           /* lines per call site per interval */
#define LOG_INTERVAL_DEFAULT 10000      /* ms */
#define LOG_REPEAT_MS 1000              /* an identical run is reported at least this often */
/* burst lines per call site per interval_ms; burst 0 = no per-site limit. */
void log_set_rate(unsigned burst, unsigned interval_ms);
/* Writes the counts that are due (all of them when all is set: at exit). Call it every tick. */
void log_flush(int all);

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
