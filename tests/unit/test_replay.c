/* tests/unit/test_replay.c - the v1 replay tables (control/replay.h): duplicates, one table per
 * SecretId (a full key blocks only itself), refusal when full with the time it clears, expiry
 * making room, the clock stepping back, and reloads keeping or dropping a key's table.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "creds.h"
#include "replay.h"

#define SKEW 300
#define NOW 1700000000
#define A 0                         /* indexes in the credentials below */
#define B 1

static struct ctl_creds *creds(const char *text)
{
	struct ctl_creds *c = NULL;
	char err[256];
	assert_int_equal(ctl_creds_parse(text, "credentials", &c, err, sizeof(err)), 0);
	return c;
}

static const char two_keys[] = "[a]\nsecret_id = AKIDA\nsecret_key = ka\n"
	"[b]\nsecret_id = AKIDB\nsecret_key = kb\n";

struct fixture {
	struct ctl_replay *r;
	struct ctl_creds *c;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	assert_non_null(f->r = ctl_replay_new(SKEW));
	f->c = creds(two_keys);
	assert_int_equal(ctl_replay_sync(f->r, f->c), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	ctl_replay_destroy(f->r);
	ctl_creds_destroy(f->c);
	free(f);
	return 0;
}

static enum ctl_replay_verdict check(struct fixture *f, size_t key, uint64_t sig, int64_t ts,
	int64_t now, size_t limit)
{
	return ctl_replay_check(f->r, key, sig, ts, now, limit, NULL);
}

static void duplicates_are_detected_by_signature_and_timestamp(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(check(f, A, 7, NOW, NOW, 100), CTL_REPLAY_NEW);
	assert_int_equal(check(f, A, 7, NOW, NOW + 10, 100), CTL_REPLAY_SEEN);
	assert_int_equal(check(f, A, 7, NOW - 1, NOW, 100), CTL_REPLAY_NEW);
	assert_int_equal(check(f, A, 8, NOW, NOW, 100), CTL_REPLAY_NEW);
	/* the same request under another key is another key's business */
	assert_int_equal(check(f, B, 7, NOW, NOW, 100), CTL_REPLAY_NEW);
	assert_int_equal(ctl_replay_count(f->r, A), 3);
	assert_int_equal(ctl_replay_count(f->r, B), 1);
	/* outside the window it could not be remembered long enough: refused */
	assert_int_equal(check(f, A, 9, NOW - SKEW - 1, NOW, 100), CTL_REPLAY_SEEN);
	assert_int_equal(check(f, A, 9, NOW + SKEW + 1, NOW, 100), CTL_REPLAY_SEEN);
}

/* A floods with requests stamped 5 minutes ahead, as far as it can: only A is refused. */
static void a_full_key_is_refused_and_blocks_no_other(void **state)
{
	struct fixture *f = *state;
	int64_t wait = 0;
	for (uint64_t i = 0; i < 1000; i++)
		assert_int_equal(check(f, A, i, NOW + SKEW, NOW, 1000), CTL_REPLAY_NEW);
	assert_int_equal(ctl_replay_check(f->r, A, 5000, NOW, NOW, 1000, &wait), CTL_REPLAY_FULL);
	assert_int_equal(wait, 2 * SKEW + 1);
	assert_int_equal(ctl_replay_check(f->r, A, 5000, NOW, NOW + 100, 1000, &wait),
		CTL_REPLAY_FULL);
	assert_int_equal(wait, 2 * SKEW + 1 - 100);
	assert_int_equal(check(f, A, 3, NOW + SKEW, NOW, 1000), CTL_REPLAY_SEEN);  /* still a replay */
	assert_int_equal(ctl_replay_count(f->r, A), 1000);
	for (uint64_t i = 0; i < 1000; i++)
		assert_int_equal(check(f, B, i, NOW - SKEW + i % 600, NOW, 1000), CTL_REPLAY_NEW);
	assert_int_equal(check(f, B, 1, NOW - SKEW + 1, NOW, 1000), CTL_REPLAY_SEEN);
	/* a smaller limit (a reload) refuses new ones without forgetting any */
	assert_int_equal(check(f, B, 99999, NOW, NOW, 10), CTL_REPLAY_FULL);
	assert_int_equal(ctl_replay_count(f->r, B), 1000);
}

static void expiry_frees_room_one_second_at_a_time(void **state)
{
	struct fixture *f = *state;
	int64_t wait = 0;
	for (uint64_t i = 0; i < 10; i++)     /* two per second, from NOW - 5 to NOW - 1 */
		assert_int_equal(check(f, A, i, NOW - 5 + (int64_t)i / 2, NOW, 10), CTL_REPLAY_NEW);
	assert_int_equal(ctl_replay_check(f->r, A, 100, NOW, NOW, 10, &wait), CTL_REPLAY_FULL);
	assert_int_equal(wait, SKEW - 4);   /* NOW - 5 is refused from NOW + 296 */
	assert_int_equal(check(f, A, 100, NOW, NOW + SKEW - 5, 10), CTL_REPLAY_FULL);
	assert_int_equal(check(f, A, 100, NOW, NOW + SKEW - 4, 10), CTL_REPLAY_NEW);
	assert_int_equal(ctl_replay_count(f->r, A), 9);
	assert_int_equal(check(f, A, 101, NOW, NOW + SKEW - 4, 10), CTL_REPLAY_NEW);
	assert_int_equal(check(f, A, 102, NOW, NOW + SKEW - 4, 10), CTL_REPLAY_FULL);
	/* a long silence: everything expires at once, in one turn of the wheel */
	assert_int_equal(check(f, A, 5, NOW + 100000, NOW + 100000, 10), CTL_REPLAY_NEW);
	assert_int_equal(ctl_replay_count(f->r, A), 1);
}

/* Many entries through many seconds: the table grows, entries expire in order, duplicates found. */
static void a_steady_stream_stays_bounded(void **state)
{
	struct fixture *f = *state;
	uint64_t sig = 0;
	for (int64_t now = NOW; now < NOW + 2000; now++) {
		for (int i = 0; i < 20; i++, sig++)
			assert_int_equal(check(f, A, sig, now - i * 7, now, 6020), CTL_REPLAY_NEW);
		assert_int_equal(check(f, A, sig - 20, now, now, 6020), CTL_REPLAY_SEEN);
	}
	/* each second adds 20 entries that live SKEW + 1 - 7i seconds */
	assert_in_range(ctl_replay_count(f->r, A), 4000, 6020);
}

/* A clock stepped back keeps every entry until its own expiry, and finds them again. */
static void the_clock_stepping_back_forgets_nothing_early(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(check(f, A, 1, NOW + 200, NOW + 200, 100), CTL_REPLAY_NEW);
	assert_int_equal(check(f, A, 2, NOW - 400, NOW - 600, 100), CTL_REPLAY_NEW);
	/* sweeping NOW - 599 .. NOW - 100 passes 1's slot a turn early (NOW + 501 - 1024) */
	assert_int_equal(check(f, A, 1, NOW + 200, NOW - 100, 100), CTL_REPLAY_SEEN);
	assert_int_equal(check(f, A, 2, NOW - 400, NOW - 100, 100), CTL_REPLAY_SEEN);
	assert_int_equal(ctl_replay_count(f->r, A), 2);
	assert_int_equal(check(f, A, 3, NOW, NOW, 100), CTL_REPLAY_NEW);  /* 2 expired at NOW - 99 */
	assert_int_equal(ctl_replay_count(f->r, A), 2);
	assert_int_equal(check(f, A, 1, NOW + 200, NOW + 500, 100), CTL_REPLAY_SEEN);
	assert_int_equal(check(f, A, 4, NOW + 501, NOW + 501, 100), CTL_REPLAY_NEW);
	assert_int_equal(ctl_replay_count(f->r, A), 1);    /* 1 and 3 expired */
}

/* SIGHUP re-reads the credentials: kept keys keep their table under their new index, removed
 * keys' tables go (a key added back starts empty). */
static void a_reload_keeps_remaining_keys_and_drops_removed_ones(void **state)
{
	struct fixture *f = *state;
	struct ctl_creds *next = creds("[n]\nsecret_id = AKIDNEW\nsecret_key = kn\n"
		"[b]\nsecret_id = AKIDB\nsecret_key = kb\n");
	assert_int_equal(check(f, A, 1, NOW, NOW, 100), CTL_REPLAY_NEW);
	assert_int_equal(check(f, B, 2, NOW, NOW, 100), CTL_REPLAY_NEW);
	assert_int_equal(ctl_replay_sync(f->r, next), 0);
	ctl_creds_destroy(f->c);
	f->c = next;
	assert_int_equal(ctl_replay_count(f->r, 0), 0);    /* AKIDNEW */
	assert_int_equal(ctl_replay_count(f->r, 1), 1);    /* AKIDB, now second */
	assert_int_equal(check(f, 1, 2, NOW, NOW, 100), CTL_REPLAY_SEEN);
	assert_int_equal(check(f, 0, 2, NOW, NOW, 100), CTL_REPLAY_NEW);
	assert_int_equal(check(f, 2, 2, NOW, NOW, 100), CTL_REPLAY_NOMEM);  /* no such key */
	assert_int_equal(ctl_replay_sync(f->r, NULL), 0);  /* auth: none */
	assert_int_equal(check(f, 0, 3, NOW, NOW, 100), CTL_REPLAY_NOMEM);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(duplicates_are_detected_by_signature_and_timestamp,
			setup, teardown),
		cmocka_unit_test_setup_teardown(a_full_key_is_refused_and_blocks_no_other, setup, teardown),
		cmocka_unit_test_setup_teardown(expiry_frees_room_one_second_at_a_time, setup, teardown),
		cmocka_unit_test_setup_teardown(a_steady_stream_stays_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(the_clock_stepping_back_forgets_nothing_early,
			setup, teardown),
		cmocka_unit_test_setup_teardown(a_reload_keeps_remaining_keys_and_drops_removed_ones,
			setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
