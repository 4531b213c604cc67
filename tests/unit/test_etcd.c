/* tests/unit/test_etcd.c - the etcd client (daemon/etcd) against real etcd (etcd_harness.h):
 * reads and transactions, races on one key and on a counter, leases, watches in order, resumed
 * after etcd restarts, compaction, an unreachable endpoint, failover in a 3-member cluster.
 * Waits are bounded; no assertion on how long anything takes.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>
#include <event2/thread.h>

#include "etcd.h"
#include "etcd_harness.h"

#define WAIT_MS 15000

static struct etcd *client_of(const char *const *eps, size_t n, unsigned dial_ms)
{
	char err[256];
	struct etcd_cfg cfg = { .endpoints = eps, .nendpoints = n, .dial_timeout_ms = dial_ms,
		.request_timeout_ms = 5000 };
	struct etcd *c = etcd_create(&cfg, err, sizeof err);
	if (c == NULL)
		fail_msg("etcd_create: %s", err);
	return c;
}

static struct etcd *client(void)
{
	const char *ep = eh_one.m[0].url;
	return client_of(&ep, 1, 2000);
}

static void ok(int rc, const struct etcd_status *st)
{
	if (rc != 0)
		fail_msg("etcd call failed: %s: %s", etcd_err_name(st->err), st->msg);
}

static int64_t put(struct etcd *c, const char *key, const char *value)
{
	struct etcd_status st;
	int64_t rev = 0;
	ok(etcd_put(c, key, value, strlen(value), 0, &rev, &st), &st);
	return rev;
}

/* ---- reads and transactions ---- */

static void test_put_range(void **state)
{
	struct etcd *c = client();
	struct etcd_kvs r;
	struct etcd_status st;
	(void)state;
	int64_t r1 = put(c, "/t/kv/a", "one");
	put(c, "/t/kv/b", "two");
	put(c, "/t/kvx", "not under /t/kv/");
	int64_t r3 = put(c, "/t/kv/a", "three");
	assert_true(r3 > r1);
	ok(etcd_range(c, "/t/kv/", ETCD_PREFIX, 0, 0, &r, &st), &st);
	assert_int_equal(r.n, 2);
	assert_string_equal(r.kv[0].key, "/t/kv/a");
	assert_string_equal(r.kv[0].value, "three");
	assert_int_equal(r.kv[0].version, 2);
	assert_int_equal(r.kv[0].mod_rev, r3);
	assert_string_equal(r.kv[1].value, "two");
	assert_true(r.revision >= r3);
	etcd_kvs_free(&r);
	/* the same range as it was at r1 */
	ok(etcd_range(c, "/t/kv/", ETCD_PREFIX, r1, 0, &r, &st), &st);
	assert_int_equal(r.n, 1);
	assert_string_equal(r.kv[0].value, "one");
	etcd_kvs_free(&r);
	int64_t deleted = 0;
	ok(etcd_delete(c, "/t/kv/", ETCD_PREFIX, &deleted, NULL, &st), &st);
	assert_int_equal(deleted, 2);
	ok(etcd_range(c, "/t/kv", ETCD_PREFIX, 0, 0, &r, &st), &st);
	assert_int_equal(r.n, 1);                       /* /t/kvx stays */
	etcd_kvs_free(&r);
	etcd_destroy(c);
}

/* Create if absent: a compare on create_revision; the failure branch reads the current value. */
static int create_if_absent(struct etcd *c, const char *key, const char *value, char *holder,
	size_t hlen)
{
	struct etcd_cmp cmp = { .key = key, .target = ETCD_CREATE_REV, .op = ETCD_EQ, .num = 0 };
	struct etcd_op put = { .type = ETCD_OP_PUT, .key = key, .value = value,
		.vlen = strlen(value) };
	struct etcd_op get = { .type = ETCD_OP_RANGE, .key = key };
	struct etcd_txn_out out;
	struct etcd_status st;
	ok(etcd_txn(c, &cmp, 1, &put, 1, &get, 1, &out, &st), &st);
	int won = out.succeeded;
	assert_true(out.revision > 0);
	if (!won && holder != NULL) {
		assert_int_equal(out.nranges, 1);
		assert_int_equal(out.ranges[0].n, 1);
		snprintf(holder, hlen, "%s", out.ranges[0].kv[0].value);
	}
	etcd_txn_out_free(&out);
	return won;
}

static void test_txn_compares(void **state)
{
	struct etcd *c = client();
	struct etcd_txn_out out;
	struct etcd_status st;
	char holder[64];
	(void)state;
	assert_true(create_if_absent(c, "/t/txn/k", "first", NULL, 0));
	assert_false(create_if_absent(c, "/t/txn/k", "second", holder, sizeof holder));
	assert_string_equal(holder, "first");
	/* value, version and mod_revision compares: each true, then each false */
	struct etcd_kvs r;
	ok(etcd_range(c, "/t/txn/k", ETCD_KEY, 0, 0, &r, &st), &st);
	int64_t mod = r.kv[0].mod_rev;
	etcd_kvs_free(&r);
	struct etcd_cmp cmp[] = {
		{ .key = "/t/txn/k", .target = ETCD_VALUE, .op = ETCD_EQ, .value = "first", .vlen = 5 },
		{ .key = "/t/txn/k", .target = ETCD_VERSION, .op = ETCD_EQ, .num = 1 },
		{ .key = "/t/txn/k", .target = ETCD_MOD_REV, .op = ETCD_EQ, .num = mod },
		{ .key = "/t/txn/k", .target = ETCD_CREATE_REV, .op = ETCD_GT, .num = 0 },
	};
	struct etcd_op upd = { .type = ETCD_OP_PUT, .key = "/t/txn/k", .value = "x", .vlen = 1 };
	ok(etcd_txn(c, cmp, 4, &upd, 1, NULL, 0, &out, &st), &st);
	assert_true(out.succeeded);
	etcd_txn_out_free(&out);
	for (size_t i = 0; i < 3; i++) {    /* now the value, version and mod_revision differ */
		ok(etcd_txn(c, &cmp[i], 1, &upd, 1, NULL, 0, &out, &st), &st);
		assert_false(out.succeeded);
		etcd_txn_out_free(&out);
	}
	/* a delete in a txn, and a bad argument is refused before anything is sent */
	struct etcd_op del = { .type = ETCD_OP_DELETE, .key = "/t/txn/", .match = ETCD_PREFIX };
	ok(etcd_txn(c, NULL, 0, &del, 1, NULL, 0, &out, &st), &st);
	assert_true(out.succeeded);
	etcd_txn_out_free(&out);
	struct etcd_op bad = { .type = ETCD_OP_PUT };
	assert_int_equal(etcd_txn(c, NULL, 0, &bad, 1, NULL, 0, &out, &st), -1);
	assert_int_equal(st.err, ETCD_E_INVAL);
	etcd_destroy(c);
}

/* ---- races: every thread its own client, all released at once ---- */

#define RACERS 8
struct racer {
	pthread_barrier_t *go;
	int idx, won, refused;
};

static void *race_one_key(void *arg)
{
	struct racer *r = arg;
	struct etcd *c = client();
	char me[32];
	snprintf(me, sizeof me, "racer-%d", r->idx);
	pthread_barrier_wait(r->go);
	r->won = create_if_absent(c, "/t/race/port-8080", me, NULL, 0);
	etcd_destroy(c);
	return NULL;
}

static void test_txn_race_one_wins(void **state)
{
	pthread_t t[RACERS];
	struct racer r[RACERS];
	pthread_barrier_t go;
	int wins = 0, winner = -1;
	(void)state;
	pthread_barrier_init(&go, NULL, RACERS);
	for (int i = 0; i < RACERS; i++) {
		r[i] = (struct racer){ .go = &go, .idx = i };
		pthread_create(&t[i], NULL, race_one_key, &r[i]);
	}
	for (int i = 0; i < RACERS; i++) {
		pthread_join(t[i], NULL);
		if (r[i].won) {
			wins++;
			winner = i;
		}
	}
	pthread_barrier_destroy(&go);
	assert_int_equal(wins, 1);
	struct etcd *c = client();
	struct etcd_kvs kv;
	struct etcd_status st;
	char want[32];
	snprintf(want, sizeof want, "racer-%d", winner);
	ok(etcd_range(c, "/t/race/port-8080", ETCD_KEY, 0, 0, &kv, &st), &st);
	assert_int_equal(kv.n, 1);
	assert_string_equal(kv.kv[0].value, want);
	etcd_kvs_free(&kv);
	etcd_destroy(c);
}

#define LIMIT 5
#define TRIES 4         /* creates each racer attempts: RACERS * TRIES > LIMIT */

/* One create under the limit: read the counter, then a txn that holds only if the counter is
 * still what was read (mod_revision; create_revision 0 while absent): the counter and the item
 * in one revision. 1 created, 0 refused (the limit), -1 lost a race (read again). */
static int limited_create(struct etcd *c, const char *item)
{
	struct etcd_kvs r;
	struct etcd_status st;
	struct etcd_txn_out out;
	char next[24];
	ok(etcd_range(c, "/t/lim/count", ETCD_KEY, 0, 0, &r, &st), &st);
	long n = r.n == 1 ? strtol(r.kv[0].value, NULL, 10) : 0;
	struct etcd_cmp cmp = { .key = "/t/lim/count", .target = r.n == 1 ? ETCD_MOD_REV
		: ETCD_CREATE_REV, .op = ETCD_EQ, .num = r.n == 1 ? r.kv[0].mod_rev : 0 };
	etcd_kvs_free(&r);
	if (n >= LIMIT)
		return 0;
	snprintf(next, sizeof next, "%ld", n + 1);
	struct etcd_op ops[] = {
		{ .type = ETCD_OP_PUT, .key = "/t/lim/count", .value = next, .vlen = strlen(next) },
		{ .type = ETCD_OP_PUT, .key = item, .value = "x", .vlen = 1 },
	};
	ok(etcd_txn(c, &cmp, 1, ops, 2, NULL, 0, &out, &st), &st);
	int won = out.succeeded;
	etcd_txn_out_free(&out);
	return won ? 1 : -1;
}

static void *race_limit(void *arg)
{
	struct racer *r = arg;
	struct etcd *c = client();
	pthread_barrier_wait(r->go);
	for (int i = 0; i < TRIES; i++) {
		char item[64];
		int rc;
		snprintf(item, sizeof item, "/t/lim/items/%d-%d", r->idx, i);
		while ((rc = limited_create(c, item)) < 0)
			;
		r->won += rc == 1;
		r->refused += rc == 0;
	}
	etcd_destroy(c);
	return NULL;
}

static void test_txn_counter_limit(void **state)
{
	pthread_t t[RACERS];
	struct racer r[RACERS];
	pthread_barrier_t go;
	int wins = 0, refused = 0;
	(void)state;
	pthread_barrier_init(&go, NULL, RACERS);
	for (int i = 0; i < RACERS; i++) {
		r[i] = (struct racer){ .go = &go, .idx = i };
		pthread_create(&t[i], NULL, race_limit, &r[i]);
	}
	for (int i = 0; i < RACERS; i++) {
		pthread_join(t[i], NULL);
		wins += r[i].won;
		refused += r[i].refused;
	}
	pthread_barrier_destroy(&go);
	assert_int_equal(wins, LIMIT);
	assert_int_equal(refused, RACERS * TRIES - LIMIT);
	struct etcd *c = client();
	struct etcd_kvs kv;
	struct etcd_status st;
	ok(etcd_range(c, "/t/lim/items/", ETCD_PREFIX, 0, 0, &kv, &st), &st);
	assert_int_equal(kv.n, LIMIT);
	etcd_kvs_free(&kv);
	etcd_destroy(c);
}

/* ---- leases ---- */

static int exists(struct etcd *c, const char *key)
{
	struct etcd_kvs r;
	struct etcd_status st;
	ok(etcd_range(c, key, ETCD_KEY, 0, 0, &r, &st), &st);
	int n = (int)r.n;
	etcd_kvs_free(&r);
	return n;
}

static int wait_gone(struct etcd *c, const char *key)
{
	long long deadline = eh_now_ms() + WAIT_MS;
	while (exists(c, key) && eh_now_ms() < deadline)
		eh_nap(100);
	return !exists(c, key);
}

static void on_lost(void *arg, int64_t id)
{
	(void)id;
	__atomic_store_n((int *)arg, 1, __ATOMIC_SEQ_CST);
}

static void test_lease(void **state)
{
	struct etcd *c = client();
	struct etcd_status st;
	int64_t id, ttl;
	int lost = 0;
	(void)state;
	ok(etcd_lease_grant(c, 1, &id, &ttl, &st), &st);
	assert_true(ttl >= 1);
	ok(etcd_put(c, "/t/lease/node-a", "up", 2, id, NULL, &st), &st);
	/* kept alive past twice its ttl, the key stays */
	struct etcd_keep *k = etcd_keep(c, id, ttl, on_lost, &lost);
	assert_non_null(k);
	eh_nap((int)(ttl * 2000 + 500));
	assert_int_equal(exists(c, "/t/lease/node-a"), 1);
	assert_int_equal(__atomic_load_n(&lost, __ATOMIC_SEQ_CST), 0);
	/* no longer kept: the lease expires and takes its key */
	etcd_keep_stop(k);
	assert_true(wait_gone(c, "/t/lease/node-a"));
	/* a keepalive of a lease etcd no longer has says so */
	k = etcd_keep(c, id, ttl, on_lost, &lost);
	long long deadline = eh_now_ms() + WAIT_MS;
	while (!__atomic_load_n(&lost, __ATOMIC_SEQ_CST) && eh_now_ms() < deadline)
		eh_nap(20);
	assert_int_equal(__atomic_load_n(&lost, __ATOMIC_SEQ_CST), 1);
	etcd_keep_stop(k);
	/* revoked: its key goes at once */
	ok(etcd_lease_grant(c, 30, &id, &ttl, &st), &st);
	ok(etcd_put(c, "/t/lease/node-b", "up", 2, id, NULL, &st), &st);
	ok(etcd_lease_revoke(c, id, &st), &st);
	assert_int_equal(exists(c, "/t/lease/node-b"), 0);
	assert_int_equal(etcd_lease_revoke(c, id, &st), -1);
	assert_int_equal(st.err, ETCD_E_SERVER);
	assert_non_null(strstr(st.msg, "lease not found"));
	etcd_destroy(c);
}

/* ---- watches: what one delivers, recorded under a lock ---- */

#define REC_MAX 64
struct rec {
	pthread_mutex_t mu;
	int ups, downs, compacted;
	int64_t compact_rev, up_rev;
	size_t n;
	struct {
		char key[64], value[32];
		bool del;
		int64_t rev;
	} ev[REC_MAX];
};

static void on_watch(void *arg, const struct etcd_wmsg *m)
{
	struct rec *r = arg;
	pthread_mutex_lock(&r->mu);
	if (m->kind == ETCD_W_UP) {
		r->ups++;
		r->up_rev = m->rev;
	}
	r->downs += m->kind == ETCD_W_DOWN;
	if (m->kind == ETCD_W_COMPACTED) {
		r->compacted++;
		r->compact_rev = m->rev;
	}
	for (size_t i = 0; i < m->n && r->n < REC_MAX; i++, r->n++) {
		snprintf(r->ev[r->n].key, sizeof r->ev[r->n].key, "%s", m->ev[i].kv.key);
		snprintf(r->ev[r->n].value, sizeof r->ev[r->n].value, "%s", m->ev[i].kv.value);
		r->ev[r->n].del = m->ev[i].del;
		r->ev[r->n].rev = m->ev[i].kv.mod_rev;
	}
	pthread_mutex_unlock(&r->mu);
}

/* Wait until *field (read under the lock) reaches want; its last value. */
static long wait_for(struct rec *r, const void *field, size_t size, long want)
{
	long long deadline = eh_now_ms() + WAIT_MS;
	long v;
	for (;;) {
		pthread_mutex_lock(&r->mu);
		v = size == sizeof(int) ? *(const int *)field : (long)*(const size_t *)field;
		pthread_mutex_unlock(&r->mu);
		if (v >= want || eh_now_ms() > deadline)
			return v;
		eh_nap(10);
	}
}
#define WAIT(r, f, want) wait_for((r), &(r)->f, sizeof (r)->f, (want))

struct writer {
	const char *key;
	int64_t revs[5];
};

static void *other_writer(void *arg)
{
	struct writer *w = arg;
	struct etcd *c = client();
	for (int i = 0; i < 5; i++) {
		char v[16];
		snprintf(v, sizeof v, "o%d", i);
		w->revs[i] = put(c, w->key, v);
	}
	etcd_destroy(c);
	return NULL;
}

static void test_watch_order(void **state)
{
	struct etcd *c = client();
	struct rec *r = calloc(1, sizeof *r);
	struct writer w = { .key = "/t/w/other" };
	struct etcd_status st;
	struct etcd_txn_out out;
	pthread_t t;
	int64_t mine[6];
	(void)state;
	pthread_mutex_init(&r->mu, NULL);
	struct etcd_watch *wa = etcd_watch(c, "/t/w/", 0, on_watch, r);
	assert_non_null(wa);
	assert_int_equal(WAIT(r, ups, 1), 1);
	pthread_create(&t, NULL, other_writer, &w);
	for (int i = 0; i < 4; i++) {
		char v[16];
		snprintf(v, sizeof v, "m%d", i);
		mine[i] = put(c, "/t/w/mine", v);
	}
	struct etcd_op two[] = {        /* two events at one revision */
		{ .type = ETCD_OP_PUT, .key = "/t/w/pair/1", .value = "p", .vlen = 1 },
		{ .type = ETCD_OP_PUT, .key = "/t/w/pair/2", .value = "q", .vlen = 1 },
	};
	ok(etcd_txn(c, NULL, 0, two, 2, NULL, 0, &out, &st), &st);
	mine[4] = out.revision;
	etcd_txn_out_free(&out);
	ok(etcd_delete(c, "/t/w/mine", ETCD_KEY, NULL, &mine[5], &st), &st);
	put(c, "/t/wx", "outside the prefix");
	pthread_join(t, NULL);
	assert_int_equal(WAIT(r, n, 12), 12);
	eh_nap(100);                               /* nothing more comes */
	pthread_mutex_lock(&r->mu);
	assert_int_equal(r->n, 12);
	size_t o = 0, m = 0;
	for (size_t i = 0; i < r->n; i++) {
		if (i > 0)
			assert_true(r->ev[i].rev >= r->ev[i - 1].rev);
		assert_true(r->ev[i].rev > r->up_rev);
		if (strcmp(r->ev[i].key, "/t/w/other") == 0) {
			assert_int_equal(r->ev[i].rev, w.revs[o++]);
		} else if (strcmp(r->ev[i].key, "/t/w/mine") == 0) {
			assert_int_equal(r->ev[i].rev, mine[m]);
			assert_int_equal(r->ev[i].del, m == 5);
			m += m == 3 ? 2 : 1;            /* mine[4] is the pair's revision */
		} else {
			assert_int_equal(r->ev[i].rev, mine[4]);
		}
	}
	assert_int_equal(o, 5);
	assert_int_equal(m, 6);
	pthread_mutex_unlock(&r->mu);
	etcd_watch_stop(wa);
	pthread_mutex_destroy(&r->mu);
	free(r);
	etcd_destroy(c);
}

/* The etcd process goes away and comes back on the same data: the watch says DOWN, then UP,
 * and delivers what was written after, each revision once. */
static void test_watch_resume(void **state)
{
	struct etcd *c = client();
	struct rec *r = calloc(1, sizeof *r);
	int64_t revs[4];
	(void)state;
	pthread_mutex_init(&r->mu, NULL);
	struct etcd_watch *wa = etcd_watch(c, "/t/resume/", 0, on_watch, r);
	assert_int_equal(WAIT(r, ups, 1), 1);
	revs[0] = put(c, "/t/resume/k", "before");
	assert_int_equal(WAIT(r, n, 1), 1);
	eh_stop_member(&eh_one, 0);
	assert_int_equal(WAIT(r, downs, 1), 1);
	assert_int_equal(eh_start_member(&eh_one, 0), 0);
	for (int i = 1; i < 4; i++) {
		char v[24];
		snprintf(v, sizeof v, "after%d", i);
		revs[i] = put(c, "/t/resume/k", v);
	}
	assert_int_equal(WAIT(r, n, 4), 4);
	assert_true(WAIT(r, ups, 2) >= 2);
	eh_nap(100);
	pthread_mutex_lock(&r->mu);
	assert_int_equal(r->n, 4);
	for (size_t i = 0; i < 4; i++)
		assert_int_equal(r->ev[i].rev, revs[i]);
	assert_string_equal(r->ev[3].value, "after3");
	pthread_mutex_unlock(&r->mu);
	etcd_watch_stop(wa);
	pthread_mutex_destroy(&r->mu);
	free(r);
	etcd_destroy(c);
}

/* History before a compaction is gone: a watch from there is told so, and so is a read. */
static void test_compaction(void **state)
{
	struct etcd *c = client();
	struct rec *r = calloc(1, sizeof *r);
	struct etcd_status st;
	struct etcd_kvs kv;
	(void)state;
	pthread_mutex_init(&r->mu, NULL);
	int64_t old = put(c, "/t/compact/k", "1");
	put(c, "/t/compact/k", "2");
	int64_t last = put(c, "/t/compact/k", "3");
	ok(etcd_compact(c, last, &st), &st);
	struct etcd_watch *wa = etcd_watch(c, "/t/compact/", old, on_watch, r);
	assert_int_equal(WAIT(r, compacted, 1), 1);
	pthread_mutex_lock(&r->mu);
	assert_int_equal(r->compact_rev, last);
	assert_int_equal(r->n, 0);
	pthread_mutex_unlock(&r->mu);
	etcd_watch_stop(wa);
	assert_int_equal(etcd_range(c, "/t/compact/", ETCD_PREFIX, old, 0, &kv, &st), -1);
	assert_int_equal(st.err, ETCD_E_COMPACTED);
	assert_int_equal(st.grpc, 11);
	/* the resync: a read at R, a watch from R + 1 */
	ok(etcd_range(c, "/t/compact/", ETCD_PREFIX, 0, 0, &kv, &st), &st);
	assert_string_equal(kv.kv[0].value, "3");
	memset(r, 0, offsetof(struct rec, ev));
	pthread_mutex_init(&r->mu, NULL);
	wa = etcd_watch(c, "/t/compact/", kv.revision + 1, on_watch, r);
	etcd_kvs_free(&kv);
	int64_t next = put(c, "/t/compact/k", "4");
	assert_int_equal(WAIT(r, n, 1), 1);
	pthread_mutex_lock(&r->mu);
	assert_int_equal(r->ev[0].rev, next);
	assert_int_equal(r->compacted, 0);
	pthread_mutex_unlock(&r->mu);
	etcd_watch_stop(wa);
	pthread_mutex_destroy(&r->mu);
	free(r);
	etcd_destroy(c);
}

/* A port that refuses, and a listener that never completes a handshake (its accept queue is
 * full, so the kernel drops the SYNs): both unreachable, the second after the dial timeout. */
static void test_unreachable(void **state)
{
	struct etcd_status st;
	struct etcd_kvs kv;
	char refused[64], silent[64];
	int fill[8], nfill = 0;
	(void)state;
	snprintf(refused, sizeof refused, "http://127.0.0.1:%u", eh_free_port());
	const char *ep1 = refused;
	struct etcd *c = client_of(&ep1, 1, 300);
	assert_int_equal(etcd_range(c, "/t/", ETCD_PREFIX, 0, 0, &kv, &st), -1);
	assert_int_equal(st.err, ETCD_E_UNREACHABLE);
	assert_non_null(strstr(st.msg, "refused"));
	assert_int_equal(etcd_put(c, "/t/x", "y", 1, 0, NULL, &st), -1);
	assert_int_equal(st.err, ETCD_E_UNREACHABLE);
	etcd_destroy(c);

	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof a;
	int lfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&a, sizeof a), 0);
	assert_int_equal(listen(lfd, 0), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&a, &len), 0);
	for (; nfill < 3; nfill++) {    /* fill the accept queue; never accepted */
		fill[nfill] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		connect(fill[nfill], (struct sockaddr *)&a, sizeof a);
	}
	eh_nap(100);
	snprintf(silent, sizeof silent, "http://127.0.0.1:%u", ntohs(a.sin_port));
	const char *ep2 = silent;
	c = client_of(&ep2, 1, 300);
	long long t0 = eh_now_ms();
	assert_int_equal(etcd_range(c, "/t/", ETCD_PREFIX, 0, 0, &kv, &st), -1);
	assert_int_equal(st.err, ETCD_E_UNREACHABLE);
	assert_non_null(strstr(st.msg, "connect timed out"));
	assert_true(eh_now_ms() - t0 < WAIT_MS);   /* bounded, not a measurement */
	etcd_destroy(c);

	/* the dead endpoints first, then a live one: the call goes through */
	const char *three[] = { refused, silent, eh_one.m[0].url };
	c = client_of(three, 3, 300);
	ok(etcd_range(c, "/t/", ETCD_PREFIX, 0, 1, &kv, &st), &st);
	etcd_kvs_free(&kv);
	etcd_destroy(c);
	for (int i = 0; i < nfill; i++)
		close(fill[i]);
	close(lfd);
}

/* A member that accepts but never answers (stopped with SIGSTOP): the call times out, and a
 * write says its outcome is unknown. */
static void test_request_timeout(void **state)
{
	const char *ep = eh_one.m[0].url;
	char err[256];
	struct etcd_cfg cfg = { .endpoints = &ep, .nendpoints = 1, .dial_timeout_ms = 1000,
		.request_timeout_ms = 300 };
	struct etcd *c = etcd_create(&cfg, err, sizeof err);
	struct etcd_status st;
	struct etcd_kvs kv;
	(void)state;
	assert_non_null(c);
	assert_int_equal(kill(eh_one.m[0].pid, SIGSTOP), 0);
	int rp = etcd_put(c, "/t/timeout", "x", 1, 0, NULL, &st);
	struct etcd_status pst = st;
	int rr = etcd_range(c, "/t/", ETCD_PREFIX, 0, 0, &kv, &st);
	assert_int_equal(kill(eh_one.m[0].pid, SIGCONT), 0);
	assert_int_equal(rp, -1);
	assert_int_equal(pst.err, ETCD_E_TIMEOUT);
	assert_non_null(strstr(pst.msg, "outcome is unknown"));
	assert_int_equal(rr, -1);
	assert_int_equal(st.err, ETCD_E_TIMEOUT);
	ok(etcd_range(c, "/t/", ETCD_PREFIX, 0, 1, &kv, &st), &st);     /* back once it runs */
	etcd_kvs_free(&kv);
	etcd_destroy(c);
}

/* Bad configuration is refused with a reason. */
static void test_bad_endpoint(void **state)
{
	char err[256];
	const char *eps[] = { "https://127.0.0.1:2379" };
	struct etcd_cfg cfg = { .endpoints = eps, .nendpoints = 1 };
	(void)state;
	assert_null(etcd_create(&cfg, err, sizeof err));
	assert_non_null(strstr(err, "TLS"));
	eps[0] = "127.0.0.1:2379";
	assert_null(etcd_create(&cfg, err, sizeof err));
	assert_non_null(strstr(err, "http://host:port"));
	cfg.nendpoints = 0;
	assert_null(etcd_create(&cfg, err, sizeof err));
}

/* Two members of three left: a watch on a (its only endpoint), then b stops. a has no leader
 * now; the watch says DOWN rather than stay silently on a stale member, and is UP again with
 * the events that follow once b is back. */
static void lost_leader(struct eh_cluster *cl, struct etcd *writer, size_t a, size_t b)
{
	const char *ep = cl->m[a].url;
	struct etcd *c = client_of(&ep, 1, 500);
	struct rec *r = calloc(1, sizeof *r);
	pthread_mutex_init(&r->mu, NULL);
	struct etcd_watch *wa = etcd_watch(c, "/t/quorum/", 0, on_watch, r);
	assert_int_equal(WAIT(r, ups, 1), 1);
	eh_stop_member(cl, b);
	assert_int_equal(WAIT(r, downs, 1), 1);
	assert_int_equal(eh_start_member(cl, b), 0);
	assert_int_equal(WAIT(r, ups, 2), 2);
	int64_t rev = put(writer, "/t/quorum/k", "back");
	assert_int_equal(WAIT(r, n, 1), 1);
	pthread_mutex_lock(&r->mu);
	assert_int_equal(r->ev[0].rev, rev);
	pthread_mutex_unlock(&r->mu);
	etcd_watch_stop(wa);
	pthread_mutex_destroy(&r->mu);
	free(r);
	etcd_destroy(c);
}

/* Three members; the client's first endpoint is a follower. Stop it: calls and a watch go on
 * through the others. */
static void test_cluster_failover(void **state)
{
	struct eh_cluster cl;
	struct etcd_member mem;
	struct etcd_status st;
	size_t follower = 0;
	(void)state;
	assert_int_equal(eh_start(&cl, 3), 0);
	for (size_t i = 0; i < 3; i++) {        /* which member is a follower */
		const char *ep = cl.m[i].url;
		struct etcd *c1 = client_of(&ep, 1, 1000);
		ok(etcd_status_of(c1, &mem, &st), &st);
		etcd_destroy(c1);
		if (mem.member_id != mem.leader_id) {
			follower = i;
			break;
		}
	}
	const char *eps[3] = { cl.m[follower].url, cl.m[(follower + 1) % 3].url,
		cl.m[(follower + 2) % 3].url };
	struct etcd *c = client_of(eps, 3, 500);
	struct rec *r = calloc(1, sizeof *r);
	pthread_mutex_init(&r->mu, NULL);
	struct etcd_watch *wa = etcd_watch(c, "/t/fleet/", 0, on_watch, r);
	assert_int_equal(WAIT(r, ups, 1), 1);
	put(c, "/t/fleet/a", "1");
	ok(etcd_status_of(c, &mem, &st), &st);
	int64_t first_member = (int64_t)mem.member_id;
	eh_stop_member(&cl, follower);
	int64_t rev = put(c, "/t/fleet/b", "2");
	ok(etcd_status_of(c, &mem, &st), &st);
	assert_true((int64_t)mem.member_id != first_member);    /* another member answered */
	assert_int_equal(WAIT(r, n, 2), 2);
	pthread_mutex_lock(&r->mu);
	assert_string_equal(r->ev[1].key, "/t/fleet/b");
	assert_int_equal(r->ev[1].rev, rev);
	pthread_mutex_unlock(&r->mu);
	etcd_watch_stop(wa);
	pthread_mutex_destroy(&r->mu);
	free(r);
	lost_leader(&cl, c, (follower + 1) % 3, (follower + 2) % 3);
	etcd_destroy(c);
	eh_stop(&cl);
}

int main(void)
{
	evthread_use_pthreads();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_endpoint),
		cmocka_unit_test(test_put_range),
		cmocka_unit_test(test_txn_compares),
		cmocka_unit_test(test_txn_race_one_wins),
		cmocka_unit_test(test_txn_counter_limit),
		cmocka_unit_test(test_lease),
		cmocka_unit_test(test_watch_order),
		cmocka_unit_test(test_watch_resume),
		cmocka_unit_test(test_compaction),
		cmocka_unit_test(test_unreachable),
		cmocka_unit_test(test_request_timeout),
		cmocka_unit_test(test_cluster_failover),
	};
	return cmocka_run_group_tests(tests, eh_setup_one, eh_teardown_one);
}
