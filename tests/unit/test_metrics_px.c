/* tests/unit/test_metrics_px.c - the data plane's counters (daemon/proxy/stats.c): one px_stats
 * shared by every route of a listener, status classes, histogram bucket edges, origin error kinds
 * from the close-reason table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "proxy/close.h"
#include "proxy/route.h"
#include "proxy/stats.h"

static const struct cfg_http http = { .origin_max_fails = 2 };

static struct px_route *route(struct px_stats *s)
{
	struct cfg_proxy p;
	struct px_route *r;
	memset(&p, 0, sizeof p);
	assert_non_null(r = px_route_create("listener-t", &p, &http, s, NULL));
	return r;
}

static struct px_stats_snap read_stats(const struct px_stats *s)
{
	struct px_stats_snap snap;
	memset(&snap, 0xff, sizeof snap);       /* every field must be written */
	px_stats_read(s, &snap);
	return snap;
}

/* A reload's new route and the old one still draining count into the listener's one stats,
 * which outlives whoever lets go first. */
static void test_routes_share_the_listeners_stats(void **state)
{
	struct px_stats *s = px_stats_new();
	struct px_route *old, *new;
	struct px_stats_snap snap;
	(void)state;
	assert_non_null(s);
	old = route(s);
	new = route(s);
	assert_ptr_equal(px_route_stats(old), s);
	assert_ptr_equal(px_route_stats(new), s);
	px_stats_unref(s);                      /* the listener goes: its routes keep the stats */
	px_stats_exchange(px_route_stats(old), 200, 500);
	px_stats_exchange(px_route_stats(new), 503, 2000000);
	px_stats_bytes(px_route_stats(new), 100, 0);
	px_stats_bytes(px_route_stats(old), 0, 2000);
	px_stats_upgraded(px_route_stats(old));
	px_route_unref(old);
	snap = read_stats(px_route_stats(new));
	assert_int_equal(snap.requests[1], 1);
	assert_int_equal(snap.requests[4], 1);
	assert_int_equal(snap.latency_sum_us, 2000500);
	assert_int_equal(snap.bytes_in, 100);
	assert_int_equal(snap.bytes_out, 2000);
	assert_int_equal(snap.conns, 0);
	assert_int_equal(snap.upgraded, 1);
	px_route_unref(new);                    /* the last reference: frees the stats (ASan) */
}

/* Buckets hold what is at most their bound (Prometheus' le), stored apart, not cumulative. */
static void test_latency_bucket_edges(void **state)
{
	static const struct { int64_t us; size_t bucket; } cases[] = {
		{ 0, 0 }, { 1000, 0 }, { 1001, 1 }, { 5000, 1 }, { 9999, 2 }, { 999999, 8 },
		{ 1000000, 8 }, { 10000000, 11 }, { 10000001, 12 }, { INT64_MAX / 2, 12 }, { -5, 0 },
	};
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct px_stats *s = px_stats_new();
		struct px_stats_snap snap;
		px_stats_exchange(s, 204, cases[i].us);
		snap = read_stats(s);
		for (size_t b = 0; b < PX_LATENCY_BUCKETS; b++)
			assert_int_equal(snap.latency[b], b == cases[i].bucket);
		px_stats_unref(s);
	}
	assert_string_equal(px_latency_le(0), "0.001");
	assert_string_equal(px_latency_le(PX_LATENCY_BUCKETS - 2), "10");
	assert_string_equal(px_latency_le(PX_LATENCY_BUCKETS - 1), "+Inf");
}

/* Only a final status counts: 1xx..5xx; nothing for an exchange nobody answered. */
static void test_status_classes(void **state)
{
	static const int statuses[] = { 100, 199, 200, 302, 404, 499, 500, 599, 0, 99, 600, -1 };
	static const uint64_t want[PX_STATUS_CLASSES] = { 2, 1, 1, 2, 2 };
	struct px_stats *s = px_stats_new();
	struct px_stats_snap snap;
	uint64_t total = 0;
	(void)state;
	for (size_t i = 0; i < sizeof statuses / sizeof statuses[0]; i++)
		px_stats_exchange(s, statuses[i], 10);
	snap = read_stats(s);
	for (size_t c = 0; c < PX_STATUS_CLASSES; c++)
		assert_int_equal(snap.requests[c], want[c]);
	for (size_t b = 0; b < PX_LATENCY_BUCKETS; b++)
		total += snap.latency[b];
	assert_int_equal(total, 8);
	px_stats_unref(s);
}

/* Every close reason that answers 502/504 is an origin failure with a kind; none other is. */
static void test_origin_error_kinds(void **state)
{
	struct px_stats *s = px_stats_new();
	struct px_stats_snap snap;
	uint64_t total = 0;
	size_t origin_reasons = 0;
	(void)state;
	for (int r = 0; r < PX_CLOSE_COUNT; r++) {
		int origin = px_close_status((enum px_close)r) >= 502;
		assert_int_equal(px_close_oerr((enum px_close)r) != PX_OERR_NONE, origin);
		origin_reasons += (size_t)origin;
		px_stats_origin_error(s, (enum px_close)r);
	}
	snap = read_stats(s);
	for (size_t k = 0; k < PX_OERR_COUNT; k++) {
		assert_int_equal(snap.origin_errors[k], 1);     /* each kind has one reason */
		assert_true(strlen(px_oerr_label((enum px_oerr)k)) > 0);
		for (size_t j = 0; j < k; j++)
			assert_string_not_equal(px_oerr_label((enum px_oerr)k), px_oerr_label((enum px_oerr)j));
		total += snap.origin_errors[k];
	}
	assert_int_equal(total, origin_reasons);
	assert_int_equal(px_close_oerr(PX_CLOSE_ORIGIN_TIMEOUT), PX_OERR_TIMEOUT);
	assert_int_equal(px_close_oerr(PX_CLOSE_BAD_RESPONSE), PX_OERR_MALFORMED);
	assert_string_equal(px_oerr_label(PX_OERR_NONE), "");
	px_stats_unref(s);
}

static struct px_route *route_of(struct px_stats *s, struct ups_reg *servers, const char *proxy,
	struct cfg_addr *a, size_t n)
{
	struct cfg_proxy p;
	struct px_route *r;
	memset(&p, 0, sizeof p);
	snprintf(p.id, sizeof p.id, "%s", proxy);
	p.origins = a;
	p.norigins = n;
	assert_non_null(r = px_route_create("listener-t", &p, &http, s, servers));
	return r;
}

/* Ejections and recoveries are the listener's, per proxy and origin: a reload's new route counts
 * on the old route's lines, an origin it drops keeps its line, new ones come after, in the order
 * first configured. The servers are the node's (one registry): a transition is counted once, on
 * the line of the route whose request caused it. */
static void test_origin_health_lines_outlive_routes(void **state)
{
	struct ups_reg *reg = ups_reg_new();
	struct px_stats *s = px_stats_new();
	struct cfg_addr a[3];
	struct px_origin_snap v[5];
	struct px_route *old, *new, *other;
	(void)state;
	memset(a, 0, sizeof a);
	snprintf(a[0].text, sizeof a[0].text, "10.0.0.1:80");
	snprintf(a[1].text, sizeof a[1].text, "10.0.0.2:80");
	snprintf(a[2].text, sizeof a[2].text, "10.0.0.3:80");
	assert_int_equal(px_stats_origins(s, NULL, 0), 0);
	old = route_of(s, reg, "link-a", a, 2);
	new = route_of(s, reg, "link-a", a + 1, 2);     /* a reload: .1 gone, .3 new */
	other = route_of(s, reg, "link-b", a, 2);       /* a group's other proxy, the same origins */
	assert_int_equal(px_route_failed(old, 1), 0);
	assert_int_equal(px_route_failed(old, 1), 1);   /* 10.0.0.2 down, for every route */
	assert_int_equal(px_route_succeeded(new, 0), 1);        /* the new route's answer: back */
	assert_int_equal(px_route_succeeded(old, 1), 0);        /* for the old route too */
	assert_int_equal(px_route_failed(other, 0), 0);
	assert_int_equal(px_route_failed(other, 0), 1);
	assert_int_equal(px_stats_origins(s, v, 4), 5);         /* too small: nothing written */
	assert_int_equal(px_stats_origins(s, v, 5), 5);
	assert_string_equal(v[0].proxy, "link-a");
	assert_string_equal(v[0].origin, "10.0.0.1:80");
	assert_string_equal(v[1].origin, "10.0.0.2:80");
	assert_int_equal(v[1].ejections, 1);
	assert_int_equal(v[1].recoveries, 1);
	assert_string_equal(v[2].origin, "10.0.0.3:80");
	assert_string_equal(v[3].proxy, "link-b");
	assert_string_equal(v[3].origin, "10.0.0.1:80");
	assert_int_equal(v[3].ejections, 1);
	assert_string_equal(v[4].origin, "10.0.0.2:80");
	assert_int_equal(v[0].ejections + v[0].recoveries + v[3].recoveries + v[4].ejections, 0);
	px_route_unref(old);
	px_route_unref(new);
	px_route_unref(other);
	px_stats_unref(s);
	ups_reg_unref(reg);
}

/* A route made without a listener's stats counts into one of its own. */
static void test_a_route_alone_has_its_own_stats(void **state)
{
	struct px_route *a = px_route_new("listener-a", NULL, 0, &http), *b = route(NULL);
	(void)state;
	assert_non_null(a);
	assert_non_null(px_route_stats(a));
	assert_ptr_not_equal(px_route_stats(a), px_route_stats(b));
	px_route_unref(a);
	px_route_unref(b);
	px_stats_unref(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_routes_share_the_listeners_stats),
		cmocka_unit_test(test_latency_bucket_edges),
		cmocka_unit_test(test_status_classes),
		cmocka_unit_test(test_origin_error_kinds),
		cmocka_unit_test(test_a_route_alone_has_its_own_stats),
		cmocka_unit_test(test_origin_health_lines_outlive_routes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
