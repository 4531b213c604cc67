/* tests/unit/test_metrics.c - the Prometheus text rendering (control/metrics.c) from canned
 * listener snapshots and API counts: escaping, cumulative histogram buckets, zero rows for
 * configured proxies, the bounded action label. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "cfg.h"
#include "metrics.h"

/* What was rendered into b, as a string the caller frees; b is emptied. */
static char *text_of(struct evbuffer *b)
{
	size_t n = evbuffer_get_length(b);
	char *s = malloc(n + 1);
	assert_non_null(s);
	assert_int_equal(evbuffer_remove(b, s, n), (int)n);
	s[n] = '\0';
	return s;
}

static struct ctl_metrics_lsn lsn(const char *id, const char *owner, int status)
{
	struct ctl_metrics_lsn l;
	memset(&l, 0, sizeof l);
	snprintf(l.id, sizeof l.id, "%s", id);
	snprintf(l.owner, sizeof l.owner, "%s", owner);
	l.status = status;
	return l;
}

static void test_label_values_are_escaped(void **state)
{
	struct evbuffer *b = evbuffer_new();
	char *s;
	(void)state;
	assert_int_equal(ctl_metrics_label(b, "a\\b\"c\nd"), 0);
	assert_int_equal(ctl_metrics_label(b, "|plain|"), 0);
	assert_int_equal(ctl_metrics_label(b, ""), 0);
	assert_int_equal(ctl_metrics_label(b, "\"\n\\"), 0);
	s = text_of(b);
	assert_string_equal(s, "a\\\\b\\\"c\\nd|plain|\\\"\\n\\\\");
	free(s);
	evbuffer_free(b);
}

static void test_histogram_buckets_are_cumulative(void **state)
{
	struct ctl_metrics_lsn l = lsn("listener-h", "link-a", 0);
	struct evbuffer *b = evbuffer_new();
	char *s;
	(void)state;
	l.t.latency[0] = 1;             /* <= 1 ms */
	l.t.latency[2] = 2;             /* <= 10 ms */
	l.t.latency[LSN_LATENCY_BUCKETS - 1] = 1;      /* over 10 s */
	l.t.latency_sum_us = 12021500;
	assert_int_equal(ctl_metrics_listeners(b, &l, 1, NULL), 0);
	s = text_of(b);
	assert_non_null(strstr(s, "# TYPE gaapd_http_request_duration_seconds histogram\n"
		"gaapd_http_request_duration_seconds_bucket{listener=\"listener-h\",le=\"0.001\"} 1\n"
		"gaapd_http_request_duration_seconds_bucket{listener=\"listener-h\",le=\"0.005\"} 1\n"
		"gaapd_http_request_duration_seconds_bucket{listener=\"listener-h\",le=\"0.01\"} 3\n"
		"gaapd_http_request_duration_seconds_bucket{listener=\"listener-h\",le=\"0.025\"} 3\n"));
	assert_non_null(strstr(s,
		"gaapd_http_request_duration_seconds_bucket{listener=\"listener-h\",le=\"10\"} 3\n"
		"gaapd_http_request_duration_seconds_bucket{listener=\"listener-h\",le=\"+Inf\"} 4\n"
		"gaapd_http_request_duration_seconds_sum{listener=\"listener-h\"} 12.021500\n"
		"gaapd_http_request_duration_seconds_count{listener=\"listener-h\"} 4\n"));
	free(s);
	evbuffer_free(b);
}

static void test_listener_counters(void **state)
{
	struct ctl_metrics_lsn l[2] = { lsn("listener-1", "link-a", 0), lsn("listener-2", "lg-g", 1) };
	struct evbuffer *b = evbuffer_new();
	char *s;
	(void)state;
	l[0].t.requests[1] = 3;
	l[0].t.requests[4] = 1;
	l[0].t.bytes_in = 138;
	l[0].t.bytes_out = 18446744073709551615u;       /* the whole uint64_t range prints */
	l[0].t.conns_open = 2;
	l[1].t.upgraded = 5;
	l[1].t.origin_errors[0] = 7;
	l[1].t.tls_handshakes[1] = 4;
	l[1].t.tls_handshakes[3] = 2;
	assert_int_equal(ctl_metrics_listeners(b, l, 2, NULL), 0);
	s = text_of(b);
	assert_non_null(strstr(s, "gaapd_listeners{proxy=\"link-a\",status=\"0\"} 1\n"
		"gaapd_listeners{proxy=\"link-a\",status=\"1\"} 0\n"
		"gaapd_listeners{proxy=\"link-a\",status=\"2\"} 0\n"
		"gaapd_listeners{proxy=\"lg-g\",status=\"0\"} 0\n"
		"gaapd_listeners{proxy=\"lg-g\",status=\"1\"} 1\n"));
	assert_non_null(strstr(s, "gaapd_connections_open{listener=\"listener-1\"} 2\n"
		"gaapd_connections_open{listener=\"listener-2\"} 0\n"));
	assert_non_null(strstr(s, "# TYPE gaapd_connections_upgraded_total counter\n"
		"gaapd_connections_upgraded_total{listener=\"listener-1\"} 0\n"
		"gaapd_connections_upgraded_total{listener=\"listener-2\"} 5\n"));
	assert_non_null(strstr(s, "gaapd_http_requests_total{listener=\"listener-1\",class=\"2xx\"} 3\n"));
	assert_non_null(strstr(s, "gaapd_http_requests_total{listener=\"listener-1\",class=\"5xx\"} 1\n"));
	assert_non_null(strstr(s, "gaapd_http_bytes_received_total{listener=\"listener-1\"} 138\n"));
	assert_non_null(strstr(s, "gaapd_http_bytes_sent_total{listener=\"listener-1\"} "
		"18446744073709551615\n"));
	assert_non_null(strstr(s, "gaapd_origin_errors_total{listener=\"listener-2\",kind=\"connect\"} 7\n"
		"gaapd_origin_errors_total{listener=\"listener-2\",kind=\"connect_timeout\"} 0\n"));
	assert_non_null(strstr(s, "# TYPE gaapd_tls_handshakes_total counter\n"));
	assert_non_null(strstr(s,
		"gaapd_tls_handshakes_total{listener=\"listener-2\",outcome=\"ok\"} 0\n"
		"gaapd_tls_handshakes_total{listener=\"listener-2\",outcome=\"resumed\"} 4\n"
		"gaapd_tls_handshakes_total{listener=\"listener-2\",outcome=\"failed\"} 0\n"
		"gaapd_tls_handshakes_total{listener=\"listener-2\",outcome=\"timeout\"} 2\n"));
	assert_non_null(strstr(s, "# HELP gaapd_http_requests_total "));
	assert_non_null(strstr(s, "# TYPE gaapd_http_requests_total counter\n"));
	assert_non_null(strstr(s, "# TYPE gaapd_connections_open gauge\n"));
	free(s);
	evbuffer_free(b);
}

/* Passive health per listener, proxy and origin; a listener without origin lines has none. */
static void test_origin_health_families(void **state)
{
	struct ctl_metrics_lsn l[2] = { lsn("listener-1", "lg-g", 0), lsn("listener-2", "link-c", 0) };
	struct lsn_origin_health h[2] = {
		{ .proxy = "link-a", .origin = "127.0.0.1:8080", .ejections = 3, .recoveries = 2 },
		{ .proxy = "link-b", .origin = "[::1]:80", .ejections = 0, .recoveries = 0 },
	};
	struct evbuffer *b = evbuffer_new();
	char *s;
	(void)state;
	l[0].origins = h;
	l[0].norigins = 2;
	assert_int_equal(ctl_metrics_listeners(b, l, 2, NULL), 0);
	s = text_of(b);
	assert_non_null(strstr(s, "# TYPE gaapd_origin_ejections_total counter\n"
		"gaapd_origin_ejections_total{listener=\"listener-1\",proxy=\"link-a\","
		"origin=\"127.0.0.1:8080\"} 3\n"
		"gaapd_origin_ejections_total{listener=\"listener-1\",proxy=\"link-b\","
		"origin=\"[::1]:80\"} 0\n# HELP gaapd_origin_recoveries_total "));
	assert_non_null(strstr(s, "# TYPE gaapd_origin_recoveries_total counter\n"
		"gaapd_origin_recoveries_total{listener=\"listener-1\",proxy=\"link-a\","
		"origin=\"127.0.0.1:8080\"} 2\n"));
	assert_null(strstr(s, "origin_ejections_total{listener=\"listener-2\""));
	free(s);
	evbuffer_free(b);
}

/* Configured proxies and groups show with 0 listeners; owners in the table show even when the
 * configuration no longer has them. */
static void test_configured_owners_show_zero(void **state)
{
	struct cfg *c = NULL;
	struct ctl_metrics_lsn l = lsn("listener-x", "link-gone", 0);
	struct evbuffer *b = evbuffer_new();
	char err[256] = "", *s;
	(void)state;
	assert_int_equal(cfg_load_string("proxies:\n  - id: link-a\n    origins: [127.0.0.1:1]\n"
		"  - id: link-b\n    origins: [127.0.0.1:1]\ngroups:\n  - id: lg-g\n    proxies: [link-b]\n",
		"t.yaml", "/tmp", &c, err, sizeof err), 0);
	assert_int_equal(ctl_metrics_listeners(b, &l, 1, c), 0);
	s = text_of(b);
	assert_non_null(strstr(s, "gaapd_listeners{proxy=\"link-a\",status=\"0\"} 0\n"));
	assert_non_null(strstr(s, "gaapd_listeners{proxy=\"link-b\",status=\"0\"} 0\n"));
	assert_non_null(strstr(s, "gaapd_listeners{proxy=\"lg-g\",status=\"0\"} 0\n"));
	assert_non_null(strstr(s, "gaapd_listeners{proxy=\"link-gone\",status=\"0\"} 1\n"));
	free(s);
	cfg_destroy(c);
	evbuffer_free(b);
}

static void test_odd_ids_are_escaped_in_samples(void **state)
{
	struct ctl_metrics_lsn l = lsn("lis\"ten\\er\n", "li\"nk", 0);
	struct evbuffer *b = evbuffer_new();
	char *s;
	(void)state;
	assert_int_equal(ctl_metrics_listeners(b, &l, 1, NULL), 0);
	s = text_of(b);
	assert_non_null(strstr(s, "gaapd_listeners{proxy=\"li\\\"nk\",status=\"0\"} 1\n"));
	assert_non_null(strstr(s, "gaapd_connections_open{listener=\"lis\\\"ten\\\\er\\n\"} 0\n"));
	assert_non_null(strstr(s, "_sum{listener=\"lis\\\"ten\\\\er\\n\"} 0.000000\n"));
	free(s);
	evbuffer_free(b);
}

/* Only combinations with calls show (in table order); calls that named no action of ours share
 * one label value. */
static void test_api_calls(void **state)
{
	struct ctl_deps deps;
	struct ctl_api *a;
	struct evbuffer *b = evbuffer_new();
	char *s;
	(void)state;
	memset(&deps, 0, sizeof deps);
	assert_non_null(a = ctl_api_new(&deps));
	ctl_api_count_refused(a, CTL_E_REQUEST_SIZE_LIMIT_EXCEEDED);
	ctl_api_count_refused(a, CTL_E_REQUEST_SIZE_LIMIT_EXCEEDED);
	ctl_api_count_refused(a, CTL_E_INVALID_PARAMETER);
	assert_int_equal(ctl_metrics_api(b, a), 0);
	s = text_of(b);
	assert_string_equal(strstr(s, "# TYPE"), "# TYPE gaapd_api_calls_total counter\n"
		"gaapd_api_calls_total{action=\"(invalid)\",code=\"RequestSizeLimitExceeded\"} 2\n"
		"gaapd_api_calls_total{action=\"(invalid)\",code=\"InvalidParameter\"} 1\n");
	free(s);
	ctl_api_destroy(a);
	evbuffer_free(b);
}

static void test_store_etcd_families(void **state)
{
	const struct st_etcd_counts c = { .txns = 7, .txn_retries = 2, .conflicts = 3,
		.batches_applied = 11, .resyncs = 1, .revision = 4242, .connected = 1,
		.live_nodes = 3 };
	struct evbuffer *b = evbuffer_new();
	(void)state;
	assert_int_equal(ctl_metrics_store_etcd(b, &c), 0);
	char *s = text_of(b);
	assert_non_null(strstr(s, "# TYPE gaapd_store_etcd_connected gauge\n"
		"gaapd_store_etcd_connected 1\n"));
	assert_non_null(strstr(s, "# TYPE gaapd_store_etcd_revision gauge\n"
		"gaapd_store_etcd_revision 4242\n"));
	assert_non_null(strstr(s, "# TYPE gaapd_store_etcd_txns_total counter\n"
		"gaapd_store_etcd_txns_total 7\n"));
	assert_non_null(strstr(s, "gaapd_store_etcd_txn_retries_total 2\n"));
	assert_non_null(strstr(s, "gaapd_store_etcd_conflicts_total 3\n"));
	assert_non_null(strstr(s, "gaapd_store_etcd_batches_applied_total 11\n"));
	assert_non_null(strstr(s, "gaapd_store_etcd_resyncs_total 1\n"));
	assert_non_null(strstr(s, "# TYPE gaapd_store_etcd_live_nodes gauge\n"
		"gaapd_store_etcd_live_nodes 3\n"));
	free(s);
	evbuffer_free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_label_values_are_escaped),
		cmocka_unit_test(test_histogram_buckets_are_cumulative),
		cmocka_unit_test(test_listener_counters),
		cmocka_unit_test(test_origin_health_families),
		cmocka_unit_test(test_configured_owners_show_zero),
		cmocka_unit_test(test_odd_ids_are_escaped_in_samples),
		cmocka_unit_test(test_api_calls),
		cmocka_unit_test(test_store_etcd_families),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
