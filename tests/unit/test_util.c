/* tests/unit/test_util.c - the UTF-8 validity every API string goes through, and whole writes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>
#include <unistd.h>

#include "util.h"

static size_t seq(const char *s)
{
	return util_utf8_seq((const unsigned char *)s);
}

static void test_valid_sequences_and_their_values(void **state)
{
	static const struct { const char *s; size_t len; unsigned v; } ok[] = {
		{ "a", 1, 'a' }, { "\x1f", 1, 0x1f }, { "\x7f", 1, 0x7f },
		{ "\xc2\x80", 2, 0x80 }, { "\xc2\x85", 2, 0x85 }, { "\xc2\xa0", 2, 0xa0 },
		{ "\xdf\xbf", 2, 0x7ff }, { "\xe0\xa0\x80", 3, 0x800 }, { "\xe2\x80\xa8", 3, 0x2028 },
		{ "\xe2\x80\xae", 3, 0x202e }, { "\xef\xbb\xbf", 3, 0xfeff }, { "\xed\x9f\xbf", 3, 0xd7ff },
		{ "\xf0\x90\x80\x80", 4, 0x10000 }, { "\xf4\x8f\xbf\xbf", 4, 0x10ffff },
		{ "\xe4\xb8\xad", 3, 0x4e2d },
	};
	(void)state;
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		assert_int_equal(seq(ok[i].s), ok[i].len);
		assert_int_equal(util_utf8_value((const unsigned char *)ok[i].s, ok[i].len), ok[i].v);
	}
}

static void test_invalid_sequences(void **state)
{
	static const char *const bad[] = {
		"\x80", "\x85", "\xbf",                 /* continuation bytes alone */
		"\xc0\x80", "\xc1\xbf",                 /* overlong two-byte forms */
		"\xe0\x9f\xbf", "\xf0\x8f\xbf\xbf",     /* overlong three- and four-byte forms */
		"\xed\xa0\x80", "\xed\xbf\xbf",         /* surrogates */
		"\xf4\x90\x80\x80", "\xf5\x80\x80\x80", "\xff", /* past U+10FFFF, never a lead */
		"\xe2\x80", "\xc2", "\xf0\x90\x80",     /* cut short by the end of the string */
		"\xe2\x28\xa1",                         /* a non-continuation inside */
	};
	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(seq(bad[i]), 0);
}

static void test_write_all_writes_everything(void **state)
{
	static char big[1 << 20];
	static char back[sizeof big];
	int fds[2];
	size_t got = 0;
	(void)state;
	for (size_t i = 0; i < sizeof big; i++)
		big[i] = (char)(i * 31);
	assert_int_equal(pipe(fds), 0);
	if (fork() == 0) {              /* the writer: the pipe takes 64 KiB at a time */
		close(fds[0]);
		_exit(util_write_all(fds[1], big, sizeof big) == 0 ? 0 : 1);
	}
	close(fds[1]);
	for (ssize_t n; (n = read(fds[0], back + got, sizeof back - got)) > 0;)
		got += (size_t)n;
	close(fds[0]);
	assert_int_equal(got, sizeof big);
	assert_memory_equal(back, big, sizeof big);
	assert_int_equal(util_write_all(-1, "x", 1), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_sequences_and_their_values),
		cmocka_unit_test(test_invalid_sequences),
		cmocka_unit_test(test_write_all_writes_everything),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
