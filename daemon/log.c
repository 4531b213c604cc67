/* daemon/log.c - see log.h. */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

#define LOG_TEXT_MAX 2048                       /* a formatted message; longer ones are cut */
#define LOG_LINE_MAX (LOG_TEXT_MAX * 4 + 64)    /* escaped (4 bytes per byte at most), prefixed */
#define LOG_SITES 256                           /* far more than there are LOG_ calls */

static atomic_int log_level = LOG_LEVEL_INFO;
static atomic_int log_fd = STDERR_FILENO;

static const char *const level_names[] = {
	[LOG_LEVEL_ERR] = "error", [LOG_LEVEL_WARN] = "warn",
	[LOG_LEVEL_INFO] = "info", [LOG_LEVEL_DEBUG] = "debug",
};

void log_set_level(enum log_level level)
{
	atomic_store(&log_level, (int)level);
}

enum log_level log_get_level(void)
{
	return (enum log_level)atomic_load_explicit(&log_level, memory_order_relaxed);
}

int log_level_parse(const char *name)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
		if (level_names[i] != NULL && strcmp(level_names[i], name) == 0)
			return (int)i;
	return -1;
}

/* Once the log is a file, its descriptor number never changes: a reopen points it at the new
 * file with dup2(), which is atomic for a thread writing at that moment. Closing the old number
 * instead would let an accepted client socket take it between a writer's load and its write(),
 * and log lines would go to a client. */
int log_open(const char *path)
{
	int cur = atomic_load(&log_fd);
	int fd = path != NULL ? open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640)
		: STDERR_FILENO;
	if (fd < 0)
		return -1;
	if (cur == STDERR_FILENO) {
		atomic_store(&log_fd, fd);
		return 0;
	}
	if (fd == cur)
		return 0;
	if (dup3(fd, cur, O_CLOEXEC) < 0) {
		int err = errno;
		if (fd != STDERR_FILENO)
			close(fd);
		errno = err;
		return -1;
	}
	if (fd != STDERR_FILENO)
		close(fd);
	return 0;
}

void log_close(void)
{
	(void)log_open(NULL);
}

/* ---- escaping ---- */

/* Valid code points written escaped: those that end a line for a Unicode-aware reader (Zl, Zp,
 * C1's NEL), reorder or hide text (Cf: bidi marks, embeddings, overrides and isolates; zero
 * widths; tags) or show as nothing (fillers, noncharacters). Every Cf of Unicode 15 is here; a
 * plain list rather than libunistring's tables, which would be one more library for a few ranges.
 * Spaces (Zs), private use and combining marks are kept: they neither break nor hide a line. */
static const struct { unsigned lo, hi; } hidden[] = {
	{ 0x0080, 0x009f },     /* Cc: C1 controls, U+0085 NEL among them */
	{ 0x00ad, 0x00ad },     /* Cf: soft hyphen */
	{ 0x034f, 0x034f },     /* combining grapheme joiner: default ignorable */
	{ 0x0600, 0x0605 },     /* Cf: Arabic number signs */
	{ 0x061c, 0x061c },     /* Cf: Arabic letter mark (bidi) */
	{ 0x06dd, 0x06dd },     /* Cf: Arabic end of ayah */
	{ 0x070f, 0x070f },     /* Cf: Syriac abbreviation mark */
	{ 0x0890, 0x0891 },     /* Cf: Arabic pound and piastre marks above */
	{ 0x08e2, 0x08e2 },     /* Cf: Arabic disputed end of ayah */
	{ 0x115f, 0x1160 },     /* Hangul choseong and jungseong fillers: invisible */
	{ 0x17b4, 0x17b5 },     /* Khmer inherent vowels: invisible */
	{ 0x180b, 0x180f },     /* Mongolian variation selectors, Cf vowel separator */
	{ 0x200b, 0x200f },     /* Cf: zero width space, (non-)joiner, LRM, RLM */
	{ 0x2028, 0x202e },     /* Zl, Zp; Cf: bidi embeddings and overrides (U+202E) */
	{ 0x2060, 0x206f },     /* Cf: word joiner, invisible operators, bidi isolates */
	{ 0x3164, 0x3164 },     /* Hangul filler */
	{ 0xfdd0, 0xfdef },     /* noncharacters */
	{ 0xfeff, 0xfeff },     /* Cf: byte order mark, zero width no-break space */
	{ 0xffa0, 0xffa0 },     /* halfwidth Hangul filler */
	{ 0xfff9, 0xfffb },     /* Cf: interlinear annotation */
	{ 0x110bd, 0x110bd },   /* Cf: Kaithi number sign */
	{ 0x110cd, 0x110cd },   /* Cf: Kaithi number sign above */
	{ 0x13430, 0x1343f },   /* Cf: Egyptian hieroglyph format controls */
	{ 0x1bca0, 0x1bca3 },   /* Cf: shorthand format controls */
	{ 0x1d173, 0x1d17a },   /* Cf: musical symbol format controls */
	{ 0xe0000, 0xe007f },   /* Cf: tags, invisible copies of ASCII */
};

static int is_hidden(unsigned v)
{
	if ((v & 0xfffe) == 0xfffe)     /* U+FFFE, U+FFFF and their kin in every plane */
		return 1;
	for (size_t i = 0; i < sizeof hidden / sizeof hidden[0] && v >= hidden[i].lo; i++)
		if (v <= hidden[i].hi)
			return 1;
	return 0;
}

/* util_utf8_seq() on at most left bytes: it reads up to 4, so a short tail is copied out first
 * (NUL-padded: a sequence cut by the end is invalid, 0). */
static size_t seq_at(const unsigned char *p, size_t left)
{
	unsigned char tail[5] = { 0 };
	if (left < 4) {
		memcpy(tail, p, left);
		p = tail;
	}
	return util_utf8_seq(p);
}

/* The text for the character at p in esc (NUL-terminated), or "" to copy it; *used = its bytes. */
static void escape_one(const unsigned char *p, size_t left, int quote, char esc[16], size_t *used)
{
	size_t k = seq_at(p, left);
	esc[0] = '\0';
	*used = k > 0 ? k : 1;
	if (k == 0 || (k == 1 && (p[0] < 0x20 || p[0] == 0x7f)))
		snprintf(esc, 16, "\\x%02x", p[0]);
	else if (k == 1 && (p[0] == '\\' || (quote && p[0] == '"')))
		snprintf(esc, 16, "\\%c", p[0]);
	else if (k > 1 && is_hidden(util_utf8_value(p, k)))
		snprintf(esc, 16, "\\u{%04x}", util_utf8_value(p, k));
}

size_t log_escape(char *out, size_t size, const char *s, size_t len, int quote)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = 0, i = 0, used, wl;
	char esc[16];
	if (size == 0)
		return 0;
	while (i < len) {
		escape_one(p + i, len - i, quote, esc, &used);
		wl = esc[0] != '\0' ? strlen(esc) : used;
		if (n + wl >= size)
			break;
		memcpy(out + n, esc[0] != '\0' ? esc : (const char *)p + i, wl);
		n += wl;
		i += used;
	}
	out[n] = '\0';
	return n;
}

/* ---- flood control (see log.h) ---- */

struct site {
	const char *fmt;        /* the key; NULL = a free slot */
	const char *module;
	int level;
	int64_t start;          /* its window, monotonic ms */
	unsigned lines;         /* written in this window */
	uint64_t suppressed;    /* not written in this window */
};

/* Process-wide like the level and the descriptor; everything under mu. */
static struct {
	pthread_mutex_t mu;
	unsigned burst, interval_ms;
	struct site sites[LOG_SITES];
	struct site other;      /* every site past LOG_SITES, together */
	char last[LOG_LINE_MAX];        /* the last line written, newline included */
	size_t last_len, last_prefix;   /* "<4>warn px: " of it */
	uint64_t repeats;               /* identical lines since, not written */
	int64_t repeat_start;
} fl = {
	.mu = PTHREAD_MUTEX_INITIALIZER,
	.burst = LOG_BURST_DEFAULT, .interval_ms = LOG_INTERVAL_DEFAULT,
};

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void emit(const char *line, size_t len)
{
	ssize_t w = write(atomic_load(&log_fd), line, len);
	(void)w;                                /* nowhere left to report a failed log write */
}

static void report_repeats(void)
{
	char line[LOG_LINE_MAX];
	int n;
	if (fl.repeats == 0)
		return;
	n = snprintf(line, sizeof line, "%.*slast message repeated %" PRIu64 " times\n",
		(int)fl.last_prefix, fl.last, fl.repeats);
	emit(line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
	fl.repeats = 0;
}

/* The site's count, closing its window: the next line from it opens a new one. */
static void report_site(struct site *s, int64_t now)
{
	char line[LOG_TEXT_MAX * 4 + 256];
	int n;
	if (s->suppressed > 0) {
		n = snprintf(line, sizeof line, "<%d>%s %s: %" PRIu64 " more lines like this one "
			"suppressed in %" PRId64 " ms: ", s->level, level_names[s->level], s->module,
			s->suppressed, now - s->start);
		n += (int)log_escape(line + n, sizeof line - (size_t)n - 1, s->fmt, strlen(s->fmt), 0);
		line[n++] = '\n';
		emit(line, (size_t)n);
	}
	s->suppressed = 0;
	s->lines = 0;
	s->start = now;
}

static struct site *site_of(const char *fmt)
{
	uintptr_t h = (uintptr_t)fmt;
	size_t i = (size_t)((h ^ h >> 17) * 0x9e3779b97f4a7c15ULL >> 32) % LOG_SITES;
	for (size_t probe = 0; probe < LOG_SITES; probe++, i = (i + 1) % LOG_SITES) {
		if (fl.sites[i].fmt == fmt)
			return &fl.sites[i];
		if (fl.sites[i].fmt == NULL) {
			fl.sites[i].fmt = fmt;
			return &fl.sites[i];
		}
	}
	fl.other.fmt = fmt;     /* named in its report: the last one seen */
	return &fl.other;
}

/* Whether the call site of fmt may write a line now. */
static int site_admits(int level, const char *module, const char *fmt, int64_t now)
{
	struct site *s;
	if (fl.burst == 0)
		return 1;
	s = site_of(fmt);
	if (s->lines == 0 || now - s->start >= (int64_t)fl.interval_ms)
		report_site(s, now);
	s->level = level;
	s->module = module;
	if (s->lines < fl.burst) {
		s->lines++;
		return 1;
	}
	s->suppressed++;
	return 0;
}

/* Writes line (prefix bytes of it the "<4>warn px: "), or counts it. Under fl.mu. */
static void flood_write(int level, const char *module, const char *fmt, const char *line,
	size_t len, size_t prefix, int64_t now)
{
	if (level == LOG_LEVEL_INFO) {      /* the audit trail: what was done is never counted away */
		report_repeats();
		emit(line, len);
		fl.last_len = 0;
		return;
	}
	if (len == fl.last_len && memcmp(line, fl.last, len) == 0) {
		if (fl.repeats++ == 0)
			fl.repeat_start = now;
		else if (now - fl.repeat_start >= LOG_REPEAT_MS)
			report_repeats();
		return;
	}
	report_repeats();
	if (!site_admits(level, module, fmt, now))
		return;
	emit(line, len);
	memcpy(fl.last, line, len);
	fl.last_len = len;
	fl.last_prefix = prefix;
}

void log_set_rate(unsigned burst, unsigned interval_ms)
{
	pthread_mutex_lock(&fl.mu);
	fl.burst = burst;
	fl.interval_ms = interval_ms;
	pthread_mutex_unlock(&fl.mu);
}

void log_flush(int all)
{
	int64_t now = now_ms();
	pthread_mutex_lock(&fl.mu);
	if (fl.repeats > 0 && (all || now - fl.repeat_start >= LOG_REPEAT_MS))
		report_repeats();
	for (size_t i = 0; i <= LOG_SITES; i++) {
		struct site *s = i < LOG_SITES ? &fl.sites[i] : &fl.other;
		if (s->suppressed > 0 && (all || now - s->start >= (int64_t)fl.interval_ms))
			report_site(s, now);
	}
	pthread_mutex_unlock(&fl.mu);
}

void log_write(enum log_level level, const char *module, const char *fmt, ...)
{
	char text[LOG_TEXT_MAX], line[LOG_LINE_MAX];
	int saved = errno, n, prefix;
	size_t len;
	va_list ap;
	va_start(ap, fmt);
	n = vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	n = n < 0 ? 0 : n < (int)sizeof text ? n : (int)sizeof text - 1;      /* cut */
	prefix = snprintf(line, sizeof line, "<%d>%s %s: ", (int)level, level_names[level], module);
	len = (size_t)prefix + log_escape(line + prefix, sizeof line - (size_t)prefix - 1, text,
		(size_t)n, 0);
	line[len++] = '\n';
	pthread_mutex_lock(&fl.mu);         /* the time too: windows see it in order */
	flood_write((int)level, module, fmt, line, len, (size_t)prefix, now_ms());
	pthread_mutex_unlock(&fl.mu);
	errno = saved;
}

int log_access_open(const char *spec)
{
	if (strcmp(spec, "stderr") == 0)
		return STDERR_FILENO;
	return open(spec, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
}

void log_access_close(int fd)
{
	if (fd >= 0 && fd != STDERR_FILENO)
		close(fd);
}

void log_access_write(int fd, char *line, size_t len, size_t size)
{
	int saved = errno;
	if (size == 0)
		return;
	if (len >= size)
		len = size - 1;         /* truncated: keep the newline */
	line[len++] = '\n';
	ssize_t w = write(fd, line, len);
	(void)w;                    /* nowhere left to report a failed log write */
	errno = saved;
}
