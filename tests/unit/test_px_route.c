/* tests/unit/test_px_route.c - the schedulers (rr, smooth wrr, weighted lc) and passive health
 * on routes built from canned origins: pure choices, no sockets. Routes on one registry share
 * their servers' health and load (daemon/upstream/ups.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "proxy/route.h"

static const struct cfg_http http = { .origin_max_fails = 2, .origin_fail_timeout_ms = 60000 };

/* A route over origins 127.0.0.1:ports[i] with the given weights (0 = a weight cfg.c never
 * gives), its servers from reg (NULL: a registry of its own). */
static struct px_route *route_on(struct ups_reg *reg, enum cfg_sched sched, const unsigned *ports,
	const unsigned *weights, size_t n)
{
	struct cfg_addr a[8];
	struct cfg_proxy p = { .origins = a, .norigins = n, .scheduler = sched };
	struct px_route *r;
	memset(a, 0, sizeof a);
	for (size_t i = 0; i < n; i++) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&a[i].sa;
		sin->sin_family = AF_INET;
		sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		sin->sin_port = htons((uint16_t)ports[i]);
		a[i].len = sizeof *sin;
		a[i].weight = weights[i];
		snprintf(a[i].text, sizeof a[i].text, "127.0.0.1:%u", ports[i]);
	}
	assert_non_null(r = px_route_create("lst-t", &p, &http, NULL, reg));
	return r;
}

/* Origins 127.0.0.1:1.. on a registry of the route's own. */
static struct px_route *route(enum cfg_sched sched, const unsigned *weights, size_t n)
{
	const unsigned ports[] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	return route_on(NULL, sched, ports, weights, n);
}

/* The next n picks as letters: origin 0 = a. */
static void picks(struct px_route *r, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++) {
		int k = px_route_pick(r, -1);
		out[i] = k < 0 ? '-' : (char)('a' + k);
	}
	out[n] = '\0';
}

static void test_rr_ignores_weights(void **state)
{
	const unsigned w[] = { 5, 1, 1 };
	struct px_route *r = route(CFG_SCHED_RR, w, 3);
	char got[16];
	(void)state;
	picks(r, 7, got);
	assert_string_equal(got, "abcabca");
	px_route_unref(r);
}

static void test_wrr_is_smooth_and_reduced(void **state)
{
	const unsigned w[] = { 3, 1 }, w2[] = { 20, 40, 20 }, w0[] = { 0, 0 };
	struct px_route *r = route(CFG_SCHED_WRR, w, 2);
	char got[32];
	(void)state;
	picks(r, 8, got);
	assert_string_equal(got, "aabaaaba");   /* nginx's smooth order, never three in a row */
	px_route_unref(r);
	r = route(CFG_SCHED_WRR, w2, 3);
	assert_int_equal(r->group->nseq, 4);           /* 20:40:20 is 1:2:1 */
	picks(r, 8, got);
	assert_string_equal(got, "bacbbacb");
	px_route_unref(r);
	r = route(CFG_SCHED_WRR, w0, 2);        /* hand-built addresses weigh 1 */
	picks(r, 4, got);
	assert_string_equal(got, "abab");
	px_route_unref(r);
}

static void test_lc_weighs_exchanges_in_flight(void **state)
{
	const unsigned w[] = { 3, 1 };
	struct px_route *r = route(CFG_SCHED_LC, w, 2);
	(void)state;
	atomic_store(&px_route_server(r, 0)->active, 2);
	atomic_store(&px_route_server(r, 1)->active, 1);
	assert_int_equal(px_route_pick(r, -1), 0);      /* 2/3 < 1/1 */
	atomic_store(&px_route_server(r, 0)->active, 4);
	assert_int_equal(px_route_pick(r, -1), 1);      /* 4/3 > 1/1 */
	atomic_store(&px_route_server(r, 0)->active, 3);
	assert_int_equal(px_route_pick(r, -1), 0);      /* 3/3 = 1/1: either, never none */
	px_route_unref(r);
}

static void test_passive_health(void **state)
{
	const unsigned w[] = { 1, 1 };
	struct px_route *r = route(CFG_SCHED_RR, w, 2);
	struct px_origin_snap v[2];
	char got[16];
	(void)state;
	assert_int_equal(px_route_failed(r, 0), 0);     /* one of the two failures allowed */
	assert_int_equal(px_route_succeeded(r, 0), 0);  /* ... and forgiven: it was never out */
	assert_int_equal(px_route_failed(r, 0), 0);
	assert_int_equal(px_route_failed(r, 0), 1);     /* down for a minute */
	picks(r, 4, got);
	assert_string_equal(got, "bbbb");
	assert_int_equal(px_route_pick(r, 1), 0);       /* the other one excluded: the down one */
	assert_int_equal(px_route_failed(r, 1), 0);
	assert_int_equal(px_route_failed(r, 1), 1);
	picks(r, 2, got);
	assert_string_equal(got, "aa");                 /* all down: the one that failed first */
	assert_int_equal(px_route_pick(r, 0), 1);       /* ... then the other, never none */
	assert_int_equal(px_route_succeeded(r, 1), 1);  /* b answered: back at once */
	picks(r, 2, got);
	assert_string_equal(got, "bb");
	atomic_store(&px_route_server(r, 0)->down_until, px_now_ms() - 1);
	picks(r, 2, got);
	assert_true(strcmp(got, "ab") == 0 || strcmp(got, "ba") == 0);  /* a back after its time */
	assert_int_equal(px_stats_origins(px_route_stats(r), v, 2), 2);
	assert_int_equal(v[0].ejections, 1);            /* each origin counts its own */
	assert_int_equal(v[0].recoveries, 0);
	assert_int_equal(v[1].ejections, 1);
	assert_int_equal(v[1].recoveries, 1);
	px_route_unref(r);
}

static void test_single_origin_is_never_taken_out(void **state)
{
	const unsigned w[] = { 1 };
	struct px_route *r = route(CFG_SCHED_RR, w, 1);
	struct px_origin_snap v[1];
	char got[16];
	(void)state;
	for (int i = 0; i < 5; i++)
		assert_int_equal(px_route_failed(r, 0), 0);
	picks(r, 3, got);
	assert_string_equal(got, "aaa");
	assert_int_equal(px_route_pick(r, 0), -1);      /* failover: there is no other */
	assert_int_equal(px_stats_origins(px_route_stats(r), v, 1), 1);
	assert_int_equal(v[0].ejections, 0);
	px_route_unref(r);
}

static void test_lc_tries_the_least_recently_failed_when_all_are_down(void **state)
{
	const unsigned w[] = { 1, 1, 1 };
	struct px_route *r = route(CFG_SCHED_LC, w, 3);
	int64_t now = px_now_ms();
	(void)state;
	atomic_store(&px_route_server(r, 0)->down_until, now + 30000);
	atomic_store(&px_route_server(r, 1)->down_until, now + 10000);   /* failed longest ago */
	atomic_store(&px_route_server(r, 2)->down_until, now + 20000);
	assert_int_equal(px_route_pick(r, -1), 1);
	assert_int_equal(px_route_pick(r, 1), 2);
	px_route_unref(r);
}

static void test_no_origins(void **state)
{
	struct px_route *r = px_route_new("lst-none", NULL, 0, &http);
	(void)state;
	assert_non_null(r);
	assert_int_equal(px_route_pick(r, -1), -1);
	px_route_unref(r);
}

/* Two listeners' routes naming one server: a failure one of them saw takes it out for both, and
 * lc weighs the other's exchanges in flight too. */
static void test_routes_share_their_servers(void **state)
{
	const unsigned w[] = { 1, 1 }, pa[] = { 1, 2 }, pb[] = { 2, 3 };
	struct ups_reg *reg = ups_reg_new();
	struct px_route *a = route_on(reg, CFG_SCHED_RR, pa, w, 2);
	struct px_route *b = route_on(reg, CFG_SCHED_LC, pb, w, 2);
	char got[16];
	(void)state;
	assert_ptr_equal(px_route_server(a, 1), px_route_server(b, 0));     /* 127.0.0.1:2 */
	assert_int_equal(ups_reg_count(reg), 3);
	assert_int_equal(px_route_failed(a, 1), 0);
	assert_int_equal(px_route_failed(b, 0), 1);     /* the second failure, through the other */
	assert_int_equal(px_route_failed(a, 1), 0);     /* out already: one transition */
	picks(b, 3, got);
	assert_string_equal(got, "bbb");                /* b never saw :2 fail itself */
	assert_int_equal(px_route_succeeded(a, 1), 1);  /* back for both */
	ups_server_busy(px_route_server(a, 1));         /* an exchange of a's on :2 */
	picks(b, 2, got);
	assert_string_equal(got, "bb");                 /* lc: 0 in flight on :3, 1 on :2 */
	ups_server_idle(px_route_server(a, 1));
	px_route_unref(a);
	px_route_unref(b);
	assert_int_equal(ups_reg_count(reg), 0);        /* the last route let go */
	ups_reg_unref(reg);
}

/* A route whose only origin another route took out still tries it (its last way out), never
 * takes it out itself, and its answer brings it back for the other route too. */
static void test_a_sole_origin_taken_out_elsewhere_is_still_tried(void **state)
{
	const unsigned w[] = { 1, 1 }, pa[] = { 1, 2 }, pb[] = { 2 };
	struct ups_reg *reg = ups_reg_new();
	struct px_route *a = route_on(reg, CFG_SCHED_RR, pa, w, 2);
	struct px_route *b = route_on(reg, CFG_SCHED_RR, pb, w, 1);
	char got[16];
	(void)state;
	assert_int_equal(px_route_failed(a, 1), 0);
	assert_int_equal(px_route_failed(a, 1), 1);
	picks(b, 2, got);
	assert_string_equal(got, "aa");
	assert_int_equal(px_route_failed(b, 0), 0);
	assert_int_equal(px_route_succeeded(b, 0), 1);
	picks(a, 2, got);
	assert_true(strcmp(got, "ab") == 0 || strcmp(got, "ba") == 0);
	px_route_unref(a);
	px_route_unref(b);
	ups_reg_unref(reg);
}

/* A reload builds the new route before the old one goes: a server it keeps keeps what was learnt
 * (down, in flight); once no route names a server, it is freed and starts over. */
static void test_a_reload_keeps_what_was_learnt(void **state)
{
	const unsigned w[] = { 1, 1 }, pold[] = { 1, 2 }, pnew[] = { 2, 3 };
	struct ups_reg *reg = ups_reg_new();
	struct px_route *old = route_on(reg, CFG_SCHED_LC, pold, w, 2), *new;
	struct ups_server *kept = px_route_server(old, 1);
	char got[16];
	(void)state;
	assert_int_equal(px_route_failed(old, 1), 0);
	assert_int_equal(px_route_failed(old, 1), 1);
	ups_server_busy(kept);                          /* an exchange still draining on old */
	new = route_on(reg, CFG_SCHED_LC, pnew, w, 2);
	px_route_unref(old);                            /* :1 goes, :2 stays */
	assert_int_equal(ups_reg_count(reg), 2);
	assert_ptr_equal(px_route_server(new, 0), kept);
	assert_int_equal(atomic_load(&kept->active), 1);
	picks(new, 3, got);
	assert_string_equal(got, "bbb");                /* :2 still down */
	ups_server_idle(kept);
	px_route_unref(new);
	assert_int_equal(ups_reg_count(reg), 0);
	new = route_on(reg, CFG_SCHED_RR, pnew, w, 2);  /* nothing named :2 meanwhile: fresh */
	assert_true(ups_server_up(px_route_server(new, 0), px_now_ms()));
	ups_reg_unref(reg);                             /* the routes' servers keep it */
	picks(new, 2, got);
	assert_string_equal(got, "ab");
	px_route_unref(new);                            /* frees the registry (ASan) */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rr_ignores_weights),
		cmocka_unit_test(test_wrr_is_smooth_and_reduced),
		cmocka_unit_test(test_lc_weighs_exchanges_in_flight),
		cmocka_unit_test(test_passive_health),
		cmocka_unit_test(test_single_origin_is_never_taken_out),
		cmocka_unit_test(test_lc_tries_the_least_recently_failed_when_all_are_down),
		cmocka_unit_test(test_no_origins),
		cmocka_unit_test(test_routes_share_their_servers),
		cmocka_unit_test(test_a_sole_origin_taken_out_elsewhere_is_still_tried),
		cmocka_unit_test(test_a_reload_keeps_what_was_learnt),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
