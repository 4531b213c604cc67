/* tests/unit/test_log.c - the event log: a reopen keeps the descriptor number; every message is
 * escaped (log_escape()); identical lines and floods from one call site are counted, not
 * written. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

#define BIG (1 << 20)

/* The descriptor whose file is path, or -1: what a writer that loaded it would write to. */
static int fd_of(const char *path)
{
	char link[64], target[PATH_MAX];
	for (int fd = 3; fd < 1024; fd++) {
		ssize_t n;
		snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
		if ((n = readlink(link, target, sizeof target - 1)) < 0)
			continue;
		target[n] = '\0';
		if (strcmp(target, path) == 0)
			return fd;
	}
	return -1;
}

static char *slurp(const char *path)
{
	static char buf[4096];
	FILE *f = fopen(path, "r");
	size_t n = f != NULL ? fread(buf, 1, sizeof buf - 1, f) : 0;
	if (f != NULL)
		fclose(f);
	buf[n] = '\0';
	return buf;
}

/* A worker thread may have loaded the log's descriptor just before a reopen and write() just
 * after it: that number must still be the log (now the new file), never closed and free for an
 * accepted client socket to take. */
static void test_reopen_keeps_the_descriptor_number(void **state)
{
	char dir[] = "/tmp/gaapd-test-log-XXXXXX", a[128], b[128], rotated[128];
	int fd;
	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(a, sizeof a, "%s/events.log", dir);
	snprintf(rotated, sizeof rotated, "%s/events.log.1", dir);
	snprintf(b, sizeof b, "%s/events.log", dir);
	assert_int_equal(log_open(a), 0);
	fd = fd_of(a);
	assert_true(fd >= 0);
	LOG_WARN("test", "before rotation");
	assert_int_equal(rename(a, rotated), 0);            /* what logrotate does */
	assert_int_equal(log_open(b), 0);
	assert_int_equal(fd_of(b), fd);                     /* the same number, the new file */
	assert_int_equal(fd_of(rotated), -1);               /* the old file is no longer held */
	LOG_WARN("test", "after rotation");
	assert_non_null(strstr(slurp(b), "after rotation"));
	assert_null(strstr(slurp(b), "before rotation"));
	assert_non_null(strstr(slurp(rotated), "before rotation"));
	log_close();
	assert_int_equal(log_open(b), 0);                   /* back from stderr: the same again */
	assert_int_equal(fd_of(b), fd);
	log_close();
	unlink(b);
	unlink(rotated);
	rmdir(dir);
}


/* The whole of path (up to BIG bytes), NUL-terminated; the caller frees it. */
static char *slurp_all(const char *path)
{
	char *buf = malloc(BIG + 1);
	FILE *f = fopen(path, "r");
	size_t n = f != NULL && buf != NULL ? fread(buf, 1, BIG, f) : 0;
	if (f != NULL)
		fclose(f);
	assert_non_null(buf);
	buf[n] = '\0';
	return buf;
}

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;
	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
		n++;
	return n;
}

/* The sum of N over the "last message repeated N times" lines of text. */
static unsigned long repeated_total(const char *text)
{
	static const char key[] = "last message repeated ";
	unsigned long sum = 0;
	for (const char *p = text; (p = strstr(p, key)) != NULL; p += sizeof key - 1)
		sum += strtoul(p + sizeof key - 1, NULL, 10);
	return sum;
}

/* A fresh log file per test (the log is process-wide): its path in path. */
static void log_to_temp(char *path, size_t size)
{
	static int n;
	snprintf(path, size, "/tmp/gaapd-test-log-%d-%d.log", (int)getpid(), n++);
	unlink(path);
	assert_int_equal(log_open(path), 0);
}

static void done(const char *path, char *text)
{
	log_close();
	unlink(path);
	free(text);
}

static void assert_escaped(const char *in, size_t len, int quote, const char *want)
{
	char out[256];
	size_t n = log_escape(out, sizeof out, in, len, quote);
	assert_string_equal(out, want);
	assert_int_equal(n, strlen(want));
}

/* What a Unicode-aware reader (less, an editor, a browser, a log UI) would split a line at,
 * reorder or not show, and every byte that is not UTF-8. */
static void test_escape_line_breaks_invisible_and_bad_bytes(void **state)
{
	static const struct { const char *in, *want; } t[] = {
		{ "a\xc2\x85z", "a\\u{0085}z" },                /* NEL */
		{ "a\xe2\x80\xa8z", "a\\u{2028}z" },            /* LINE SEPARATOR */
		{ "a\xe2\x80\xa9z", "a\\u{2029}z" },            /* PARAGRAPH SEPARATOR */
		{ "a\xe2\x80\xaez", "a\\u{202e}z" },            /* RIGHT-TO-LEFT OVERRIDE */
		{ "a\xe2\x81\xa6z", "a\\u{2066}z" },            /* LEFT-TO-RIGHT ISOLATE */
		{ "a\xe2\x80\x8bz", "a\\u{200b}z" },            /* ZERO WIDTH SPACE */
		{ "a\xe2\x80\x8fz", "a\\u{200f}z" },            /* RLM */
		{ "a\xef\xbb\xbfz", "a\\u{feff}z" },            /* BOM */
		{ "a\xd8\x9cz", "a\\u{061c}z" },                /* ARABIC LETTER MARK */
		{ "a\xf3\xa0\x81\x81z", "a\\u{e0041}z" },       /* TAG LATIN CAPITAL LETTER A */
		{ "a\xef\xbf\xbfz", "a\\u{ffff}z" },            /* a noncharacter */
		{ "a\x85z", "a\\x85z" },                        /* raw 0x85: not UTF-8 */
		{ "\xc0\xaf", "\\xc0\\xaf" },                   /* overlong '/' */
		{ "\xe0\x80\xaf", "\\xe0\\x80\\xaf" },          /* overlong, three bytes */
		{ "\xed\xa0\x80", "\\xed\\xa0\\x80" },          /* a surrogate */
		{ "\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80" }, /* past U+10FFFF */
		{ "\xff\xfe", "\\xff\\xfe" },
		{ "ab\xe2\x80", "ab\\xe2\\x80" },               /* cut at the end */
		{ "\n\r\t\x1b\x7f", "\\x0a\\x0d\\x09\\x1b\\x7f" },
		{ "a\\x41", "a\\\\x41" },                       /* the backslash itself */
		{ "say \"hi\"", "say \"hi\"" },                 /* quotes are kept unless asked */
	};
	(void)state;
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
		assert_escaped(t[i].in, strlen(t[i].in), 0, t[i].want);
	assert_escaped("a\0b", 3, 0, "a\\x00b");
	assert_escaped("say \"hi\"", 8, 1, "say \\\"hi\\\"");
}

static void test_escape_keeps_printable_text(void **state)
{
	static const char *const kept[] = {
		"caf\xc3\xa9", "\xe7\x9b\x91\xe5\x90\xac", "listener-1 \xf0\x9f\x98\x80",
		"a\xc2\xa0z", "\xd7\xa9\xd7\x9c\xd7\x95\xd7\x9d", "~!@#$%^&*()_+{}|:<>?`-=[];',./",
	};
	(void)state;
	for (size_t i = 0; i < sizeof kept / sizeof kept[0]; i++)
		assert_escaped(kept[i], strlen(kept[i]), 0, kept[i]);
}

/* A full buffer ends before the escape that does not fit, never inside it. */
static void test_escape_never_cuts_an_escape(void **state)
{
	char out[8];
	(void)state;
	assert_int_equal(log_escape(out, sizeof out, "ab\xe2\x80\xa8", 5, 0), 2);
	assert_string_equal(out, "ab");
	assert_int_equal(log_escape(out, sizeof out, "abcd\x85", 5, 0), 4);
	assert_string_equal(out, "abcd");
	assert_int_equal(log_escape(out, 0, "a", 1, 0), 0);
}

/* Every field of every message, whatever the call site passes. */
static void test_log_lines_are_escaped(void **state)
{
	char path[128], *text;
	(void)state;
	log_to_temp(path, sizeof path);
	LOG_WARN("test", "name=%s path=%s", "a\xe2\x80\xa8" "b\xe2\x80\xae" "c\x85", "/x\ny\\z");
	LOG_WARN("test", "name=%s", "\xe7\x9b\x91\xe5\x90\xac");
	text = slurp_all(path);
	assert_string_equal(text, "<4>warn test: name=a\\u{2028}b\\u{202e}c\\x85 path=/x\\x0ay\\\\z\n"
		"<4>warn test: name=\xe7\x9b\x91\xe5\x90\xac\n");
	done(path, text);
}

/* 10,000 identical warnings: the first written, the rest counted; another line writes the
 * count first. */
static void test_identical_lines_are_counted(void **state)
{
	char path[128], *text;
	(void)state;
	log_set_rate(LOG_BURST_DEFAULT, LOG_INTERVAL_DEFAULT);
	log_to_temp(path, sizeof path);
	for (int i = 0; i < 10000; i++)
		LOG_WARN("test", "the same warning");
	LOG_WARN("test", "another");
	text = slurp_all(path);
	assert_int_equal(count(text, "the same warning"), 1);
	assert_int_equal(repeated_total(text), 9999);
	assert_true(count(text, "\n") <= 4);    /* a count at most each second, and "another" */
	assert_non_null(strstr(text, "<4>warn test: last message repeated "));
	assert_non_null(strstr(text, " times\n<4>warn test: another\n"));
	done(path, text);
}

/* Info lines record what was done (a reload, a listener created): none is counted away, and a
 * warning run before one is reported first. */
static void test_info_lines_are_never_suppressed(void **state)
{
	char path[128], *text;
	(void)state;
	log_set_rate(2, LOG_INTERVAL_DEFAULT);
	log_to_temp(path, sizeof path);
	LOG_WARN("test", "a warning");
	LOG_WARN("test", "a warning");
	for (int i = 0; i < 50; i++)
		LOG_INFO("test", "reload applied");
	text = slurp_all(path);
	assert_int_equal(count(text, "<6>info test: reload applied\n"), 50);
	assert_non_null(strstr(text, "<4>warn test: a warning\n<4>warn test: last message repeated "
		"1 times\n<6>info test: reload applied\n"));
	log_set_rate(LOG_BURST_DEFAULT, LOG_INTERVAL_DEFAULT);
	done(path, text);
}

/* A count not followed by another line is written by log_flush(). */
static void test_flush_writes_a_pending_count(void **state)
{
	char path[128], *text;
	(void)state;
	log_to_temp(path, sizeof path);
	LOG_ERR("test", "cannot do it");
	LOG_ERR("test", "cannot do it");
	LOG_ERR("test", "cannot do it");
	log_flush(0);                           /* not due yet */
	text = slurp_all(path);
	assert_string_equal(text, "<3>error test: cannot do it\n");
	free(text);
	log_flush(1);
	text = slurp_all(path);
	assert_string_equal(text, "<3>error test: cannot do it\n"
		"<3>error test: last message repeated 2 times\n");
	done(path, text);
}

/* Lines that differ by a byte each (a connection number) from one call site: burst lines per
 * interval, then one count; a one-off line from another site still passes. */
static void test_a_call_site_past_its_burst_is_counted(void **state)
{
	char path[128], *text;
	(void)state;
	log_set_rate(10, 200);
	log_to_temp(path, sizeof path);
	for (int i = 0; i < 10000; i++)
		LOG_WARN("test", "conn=%d: bad", i);
	LOG_ERR("test", "a one-off error");
	text = slurp_all(path);
	assert_int_equal(count(text, ": bad\n"), 10);
	assert_non_null(strstr(text, "conn=9: bad\n<3>error test: a one-off error\n"));
	free(text);
	usleep(250 * 1000);
	log_flush(0);                           /* the window is over: its count */
	LOG_WARN("test", "conn=%d: bad", 10001);
	text = slurp_all(path);
	assert_non_null(strstr(text, "<4>warn test: 9990 more lines like this one suppressed in "));
	assert_non_null(strstr(text, " ms: conn=%d: bad\n<4>warn test: conn=10001: bad\n"));
	assert_int_equal(count(text, "\n"), 13);
	log_set_rate(0, 200);                   /* no limit */
	for (int i = 0; i < 100; i++)
		LOG_WARN("test", "conn=%d: bad", i);
	done(path, text);
	log_set_rate(LOG_BURST_DEFAULT, LOG_INTERVAL_DEFAULT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reopen_keeps_the_descriptor_number),
		cmocka_unit_test(test_escape_line_breaks_invisible_and_bad_bytes),
		cmocka_unit_test(test_escape_keeps_printable_text),
		cmocka_unit_test(test_escape_never_cuts_an_escape),
		cmocka_unit_test(test_log_lines_are_escaped),
		cmocka_unit_test(test_identical_lines_are_counted),
		cmocka_unit_test(test_info_lines_are_never_suppressed),
		cmocka_unit_test(test_flush_writes_a_pending_count),
		cmocka_unit_test(test_a_call_site_past_its_burst_is_counted),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
