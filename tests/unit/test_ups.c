/* tests/unit/test_ups.c - the registry of shared real servers (daemon/upstream/ups.c): one server
 * per address and port, node-wide passive health, the last reference frees, the registry outlives
 * its creator while servers live, gets and puts racing on two threads; server groups (group.c)
 * sharing servers. Real objects. (The schedulers' orders: test_px_route.c, through routes.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "upstream/group.h"
#include "upstream/ups.h"

static struct cfg_addr v4(const char *ip, unsigned port, const char *text)
{
	struct cfg_addr a;
	struct sockaddr_in *sin = (struct sockaddr_in *)&a.sa;
	memset(&a, 0, sizeof a);
	sin->sin_family = AF_INET;
	sin->sin_port = htons((uint16_t)port);
	assert_int_equal(inet_pton(AF_INET, ip, &sin->sin_addr), 1);
	a.len = sizeof *sin;
	a.weight = 7;
	snprintf(a.text, sizeof a.text, "%s", text);
	return a;
}

static struct cfg_addr v6(const char *ip, unsigned port)
{
	struct cfg_addr a;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&a.sa;
	memset(&a, 0, sizeof a);
	sin6->sin6_family = AF_INET6;
	sin6->sin6_port = htons((uint16_t)port);
	assert_int_equal(inet_pton(AF_INET6, ip, &sin6->sin6_addr), 1);
	a.len = sizeof *sin6;
	snprintf(a.text, sizeof a.text, "[%s]:%u", ip, port);
	return a;
}

/* The text and weight a route names it with do not matter; address, port and family do. */
static void test_one_server_per_address_and_port(void **state)
{
	struct ups_reg *g = ups_reg_new();
	struct cfg_addr a = v4("127.0.0.1", 80, "127.0.0.1:80"), b = v4("127.0.0.1", 80, "lo:80");
	struct cfg_addr c = v4("127.0.0.1", 81, "127.0.0.1:81"), d = v6("::1", 80);
	struct cfg_addr e = v4("127.0.0.2", 80, "127.0.0.2:80");
	struct ups_server *sa, *sb, *sc, *sd, *se;
	(void)state;
	assert_non_null(g);
	sa = ups_server_get(g, &a);
	sb = ups_server_get(g, &b);
	sc = ups_server_get(g, &c);
	sd = ups_server_get(g, &d);
	se = ups_server_get(g, &e);
	assert_ptr_equal(sa, sb);
	assert_true(sc != sa && sd != sa && se != sa && sd != sc);
	assert_string_equal(sa->addr.text, "127.0.0.1:80");     /* as first named */
	assert_int_equal(sa->addr.weight, 0);                   /* weights are a group's */
	assert_int_equal(ups_reg_count(g), 4);
	ups_server_put(sa);
	assert_int_equal(ups_reg_count(g), 4);                  /* sb is the same, still held */
	ups_server_put(sb);
	ups_server_put(sc);
	ups_server_put(sd);
	ups_server_put(se);
	ups_server_put(NULL);
	assert_int_equal(ups_reg_count(g), 0);
	ups_reg_unref(g);
}

/* Many servers: the table grows and still finds every one of them once. */
static void test_many_servers(void **state)
{
	struct ups_reg *g = ups_reg_new();
	struct ups_server *s[300];
	(void)state;
	for (unsigned i = 0; i < 300; i++) {
		struct cfg_addr a = v4("10.0.0.1", 1000 + i, "x");
		assert_non_null(s[i] = ups_server_get(g, &a));
	}
	for (unsigned i = 0; i < 300; i++) {
		struct cfg_addr a = v4("10.0.0.1", 1000 + i, "y");
		struct ups_server *again = ups_server_get(g, &a);
		assert_ptr_equal(again, s[i]);
		ups_server_put(again);
	}
	assert_int_equal(ups_reg_count(g), 300);
	for (unsigned i = 0; i < 300; i++)
		ups_server_put(s[i]);
	assert_int_equal(ups_reg_count(g), 0);
	ups_reg_unref(g);
}

static void test_health_transitions(void **state)
{
	struct ups_reg *g = ups_reg_new();
	struct cfg_addr a = v4("127.0.0.1", 80, "a");
	struct ups_server *s = ups_server_get(g, &a);
	(void)state;
	assert_true(ups_server_up(s, ups_now_ms()));
	assert_int_equal(ups_server_failed(s, 0, 1000), 0);     /* max_fails 0: never out */
	assert_int_equal(ups_server_succeeded(s), 0);
	assert_int_equal(ups_server_failed(s, 2, 60000), 0);
	assert_int_equal(ups_server_failed(s, 2, 60000), 1);    /* out for a minute */
	assert_false(ups_server_up(s, ups_now_ms()));
	assert_int_equal(ups_server_failed(s, 1, 60000), 0);    /* out already: no new transition */
	assert_true(ups_server_up(s, ups_now_ms() + 61000));
	assert_int_equal(ups_server_succeeded(s), 1);
	assert_int_equal(ups_server_succeeded(s), 0);
	assert_true(ups_server_up(s, ups_now_ms()));
	ups_server_put(s);
	ups_reg_unref(g);
}

/* The state lives while someone holds the server (a route, or a pool's ref); after the last put
 * a get starts afresh. */
static void test_last_put_frees_the_state(void **state)
{
	struct ups_reg *g = ups_reg_new();
	struct cfg_addr a = v4("127.0.0.1", 80, "a");
	struct ups_server *s = ups_server_get(g, &a), *t;
	(void)state;
	assert_int_equal(ups_server_failed(s, 1, 60000), 1);
	ups_server_busy(s);
	t = ups_server_get(g, &a);                  /* a reload's new route */
	ups_server_put(s);                          /* the old one goes */
	assert_false(ups_server_up(t, ups_now_ms()));
	assert_int_equal(atomic_load(&t->active), 1);
	ups_server_idle(t);
	ups_server_put(t);
	assert_int_equal(ups_reg_count(g), 0);
	t = ups_server_get(g, &a);
	assert_true(ups_server_up(t, ups_now_ms()));
	assert_int_equal(atomic_load(&t->active), 0);
	ups_reg_unref(g);                           /* the creator goes first: t keeps the registry */
	ups_server_ref(t);                          /* a worker's pool, outliving the routes: */
	ups_server_put(t);
	ups_server_busy(t);
	ups_server_idle(t);
	ups_server_put(t);                          /* frees both (ASan) */
}

struct churn {
	struct ups_reg *g;
	unsigned port;
};

/* Routes built on the control thread while a worker drops a replaced route's last reference. */
static void *churn(void *arg)
{
	const struct churn *c = arg;
	for (unsigned i = 0; i < 20000; i++) {
		struct cfg_addr a = v4("127.0.0.1", c->port + i % 3, "c");
		struct ups_server *s = ups_server_get(c->g, &a);
		if (s == NULL)
			return arg;
		ups_server_put(ups_server_ref(s));     /* a worker's pool: lock-free */
		ups_server_failed(s, 1, 10);
		ups_server_succeeded(s);
		ups_server_put(s);
	}
	return NULL;
}

static void test_gets_and_puts_race(void **state)
{
	struct ups_reg *g = ups_reg_new();
	struct churn c = { g, 5000 };
	pthread_t th[2];
	void *rc[2];
	(void)state;
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&th[i], NULL, churn, &c), 0);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(pthread_join(th[i], &rc[i]), 0);
		assert_null(rc[i]);
	}
	assert_int_equal(ups_reg_count(g), 0);
	ups_reg_unref(g);
}

/* Two groups naming one server: one server object, lc weighs the other group's exchanges. */
static void test_groups_share_servers(void **state)
{
	struct ups_reg *reg = ups_reg_new();
	struct cfg_addr a[3] = { v4("127.0.0.1", 1, "a"), v4("127.0.0.1", 2, "b"),
		v4("127.0.0.1", 3, "c") };
	struct ups_group *lc, *rr;
	(void)state;
	a[1].weight = 0;                            /* built by hand: weighs 1 */
	lc = ups_group_new(reg, CFG_SCHED_LC, a, 2);
	rr = ups_group_new(reg, CFG_SCHED_RR, a + 1, 2);
	assert_non_null(lc);
	assert_non_null(rr);
	assert_ptr_equal(lc->m[1].srv, rr->m[0].srv);
	assert_int_equal(lc->m[0].weight, 7);
	assert_int_equal(lc->m[1].weight, 1);
	assert_int_equal(ups_reg_count(reg), 3);
	ups_server_busy(rr->m[0].srv);              /* one exchange on :2, through rr */
	ups_server_busy(lc->m[0].srv);
	ups_server_busy(lc->m[0].srv);              /* two on :1: 2/7 < 1/1 */
	assert_int_equal(ups_group_pick(lc, -1), 0);
	for (int i = 0; i < 6; i++)
		ups_server_busy(lc->m[0].srv);      /* eight on :1: 8/7 > 1/1 */
	assert_int_equal(ups_group_pick(lc, -1), 1);
	assert_int_equal(ups_group_pick(lc, 1), 0); /* exclude: the other, however loaded */
	ups_group_destroy(lc);
	assert_int_equal(ups_reg_count(reg), 2);    /* :2 still named by rr */
	ups_group_destroy(rr);
	ups_group_destroy(NULL);
	assert_int_equal(ups_reg_count(reg), 0);
	ups_reg_unref(reg);
}

static void test_a_group_without_members(void **state)
{
	struct ups_reg *reg = ups_reg_new();
	struct ups_group *g = ups_group_new(reg, CFG_SCHED_WRR, NULL, 0);
	(void)state;
	assert_non_null(g);
	assert_int_equal(ups_group_pick(g, -1), -1);
	ups_group_destroy(g);
	ups_reg_unref(reg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_server_per_address_and_port),
		cmocka_unit_test(test_many_servers),
		cmocka_unit_test(test_health_transitions),
		cmocka_unit_test(test_last_put_frees_the_state),
		cmocka_unit_test(test_gets_and_puts_race),
		cmocka_unit_test(test_groups_share_servers),
		cmocka_unit_test(test_a_group_without_members),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
