/* tests/unit/test_log.c - the event log's output stream: a reopen keeps the descriptor number. */
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reopen_keeps_the_descriptor_number),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
