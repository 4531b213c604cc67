/* tests/unit/test_rs.c - the real server set (daemon/state/rs.c): what an address is and how
 * two compare, and the set's indexes through adds and removes (daemon/idmap.c underneath). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "state/rs.h"

static void test_addresses_and_their_keys(void **state)
{
	static const char *const same[][2] = {
		{ "10.0.0.1", "10.0.0.1" }, { "::1", "::1" }, { "0:0::1", "::1" },
		{ "2001:DB8::0:1", "2001:db8::1" }, { "Origin.Example.COM", "origin.example.com" },
		{ "a-b.c1", "a-b.c1" }, { "localhost", "localhost" },
	};
	static const char *const bad[] = {
		"", "-a", "a-", "a..b", ".a", "a.", "a_b", "a b", "[::1]", "10.0.0.1:80", "::1%eth0",
		"é.example",
	};
	char key[RS_ADDR_MAX], long_label[80], long_name[300];
	(void)state;
	for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++) {
		assert_int_equal(rs_addr_key(same[i][0], key), 0);
		assert_string_equal(key, same[i][1]);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (rs_addr_key(bad[i], key) == 0)
			fail_msg("accepted: \"%s\"", bad[i]);
	memset(long_label, 'a', 64);
	strcpy(long_label + 64, ".example");
	assert_int_equal(rs_addr_key(long_label, key), -1);            /* a label of 64 */
	assert_int_equal(rs_addr_key(long_label + 1, key), 0);         /* of 63: fine */
	for (size_t i = 0; i < 254; i += 2)
		memcpy(long_name + i, "a.", 2);
	long_name[253] = '\0';                                        /* 253 characters */
	assert_int_equal(rs_addr_key(long_name, key), 0);
	long_name[253] = 'a';
	long_name[254] = '\0';
	assert_int_equal(rs_addr_key(long_name, key), -1);             /* 254 */
}

/* 300 adds, every other one removed, 100 more: each found by id and by key, in creation order. */
static void test_the_set_through_adds_and_removes(void **state)
{
	struct rs_set *s = rs_set_new();
	json_t *fields = json_object();
	char id[32], key[RS_ADDR_MAX];
	(void)state;
	for (int i = 0; i < 300; i++) {
		snprintf(id, sizeof(id), "rs-%08d", i);
		snprintf(key, sizeof(key), "10.0.%d.%d", i / 256, i % 256);
		assert_int_equal(rs_reserve(s, 1), 0);
		rs_add(s, id, key, fields);
	}
	for (int i = 0; i < 300; i += 2) {
		snprintf(id, sizeof(id), "rs-%08d", i);
		rs_remove(s, id);
	}
	rs_remove(s, "rs-nosuch00");
	assert_int_equal(rs_reserve(s, 100), 0);
	for (int i = 300; i < 400; i++) {
		snprintf(id, sizeof(id), "rs-%08d", i);
		snprintf(key, sizeof(key), "h%d.example", i);
		rs_add(s, id, key, fields);
	}
	assert_int_equal(rs_count(s), 250);
	for (int i = 0; i < 400; i++) {
		const struct rs *r;
		snprintf(id, sizeof(id), "rs-%08d", i);
		r = rs_find(s, id);
		assert_true((r != NULL) == (i % 2 == 1 || i >= 300));
		if (r != NULL)
			assert_ptr_equal(rs_find_addr(s, r->key), r);
	}
	assert_string_equal(rs_at(s, 0)->id, "rs-00000001");
	assert_string_equal(rs_at(s, 149)->id, "rs-00000299");
	assert_string_equal(rs_at(s, 150)->id, "rs-00000300");
	assert_null(rs_find_addr(s, "10.0.0.0"));
	rs_set_free(s);
	json_decref(fields);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_addresses_and_their_keys),
		cmocka_unit_test(test_the_set_through_adds_and_removes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
