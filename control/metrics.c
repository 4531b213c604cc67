/* control/metrics.c - see metrics.h. Families come in a fixed order, each with its HELP and TYPE
 * lines and all of its samples together, as the format requires. Every label set is bounded by
 * the configuration and the listener table, never by what clients send. */
#include "metrics.h"

#include <event2/buffer.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actions.h"
#include "api.h"
#include "cfg.h"
#include "health/hc.h"
#include "state/sm.h"

#define NO_ACTION "(invalid)"       /* the action label of calls that named none of ours */
#define NSTATUS 3                   /* enum lsn_status: RUNNING 0, CREATING 1, DESTROYING 2 */
#define DURATION "gaapd_http_request_duration_seconds"

static const char *const classes[LSN_STATUS_CLASSES] = { "1xx", "2xx", "3xx", "4xx", "5xx" };

/* The caller's evbuffer, remembering a failed append: rendering checks once, at the end. */
struct out {
	struct evbuffer *b;
	int failed;
};

/* A proxy or group and its listeners by status. */
struct owner {
	const char *id;
	uint64_t n[NSTATUS];
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (evbuffer_add_vprintf(o->b, fmt, ap) < 0)
		o->failed = 1;
	va_end(ap);
}

static void label(struct out *o, const char *v)
{
	while (*v != '\0') {
		size_t n = strcspn(v, "\\\"\n");
		if (n > 0 && evbuffer_add(o->b, v, n) != 0)
			o->failed = 1;
		v += n;
		if (*v == '\0')
			break;
		put(o, "\\%c", *v == '\n' ? 'n' : *v);
		v++;
	}
}

int ctl_metrics_label(struct evbuffer *out, const char *value)
{
	struct out o = { out, 0 };
	label(&o, value);
	return o.failed ? -1 : 0;
}

static void family(struct out *o, const char *name, const char *type, const char *help)
{
	put(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{k1="v1"} n, or name{k1="v1",k2="v2"} n when k2 is set. */
static void sample(struct out *o, const char *name, const char *k1, const char *v1,
	const char *k2, const char *v2, uint64_t n)
{
	put(o, "%s{%s=\"", name, k1);
	label(o, v1);
	if (k2 != NULL) {
		put(o, "\",%s=\"", k2);
		label(o, v2);
	}
	put(o, "\"} %" PRIu64 "\n", n);
}

/* The index of id among v[0, *n), added at the end when missing (v has room). */
static size_t owner_index(struct owner *v, size_t *n, const char *id)
{
	for (size_t i = 0; i < *n; i++)
		if (strcmp(v[i].id, id) == 0)
			return i;
	v[*n].id = id;
	return (*n)++;
}

/* Every configured proxy and group shows, with 0 where it has no listener: absent is not zero. */
static int listeners_family(struct out *o, const struct ctl_metrics_lsn *l, size_t n,
	const struct cfg *cfg)
{
	size_t np = cfg != NULL ? cfg->nproxies : 0, ng = cfg != NULL ? cfg->ngroups : 0, no = 0;
	struct owner *v = calloc(np + ng + n + 1, sizeof(*v));
	char status[16];
	if (v == NULL)
		return -1;
	for (size_t i = 0; i < np; i++)
		owner_index(v, &no, cfg->proxies[i].id);
	for (size_t i = 0; i < ng; i++)
		owner_index(v, &no, cfg->groups[i].id);
	for (size_t i = 0; i < n; i++) {
		size_t k = owner_index(v, &no, l[i].owner);
		if (l[i].status >= 0 && l[i].status < NSTATUS)
			v[k].n[l[i].status]++;
	}
	family(o, "gaapd_listeners", "gauge", "Listeners by the proxy (or proxy group) they were "
		"created on and ListenerStatus (0 running, 1 creating, 2 destroying).");
	for (size_t k = 0; k < no; k++)
		for (int s = 0; s < NSTATUS; s++) {
			snprintf(status, sizeof(status), "%d", s);
			sample(o, "gaapd_listeners", "proxy", v[k].id, "status", status, v[k].n[s]);
		}
	free(v);
	return 0;
}

/* A family with one sample per listener: the lsn_traffic field at offset. */
static void per_listener(struct out *o, const char *name, const char *type, const char *help,
	const struct ctl_metrics_lsn *l, size_t n, size_t offset)
{
	family(o, name, type, help);
	for (size_t i = 0; i < n; i++) {
		uint64_t v;
		memcpy(&v, (const char *)&l[i].t + offset, sizeof v);
		sample(o, name, "listener", l[i].id, NULL, NULL, v);
	}
}

#define TRAFFIC(field) offsetof(struct lsn_traffic, field)

static void counter_families(struct out *o, const struct ctl_metrics_lsn *l, size_t n)
{
	per_listener(o, "gaapd_connections_open", "gauge", "Client connections open, by listener.",
		l, n, TRAFFIC(conns_open));
	per_listener(o, "gaapd_connections_upgraded_total", "counter", "Client connections that a "
		"101 answer to a WebSocket upgrade turned into a tunnel, by listener.",
		l, n, TRAFFIC(upgraded));
	family(o, "gaapd_http_requests_total", "counter", "Requests answered, by listener and "
		"status class (a client that left before any answer is not counted).");
	for (size_t i = 0; i < n; i++)
		for (size_t c = 0; c < LSN_STATUS_CLASSES; c++)
			sample(o, "gaapd_http_requests_total", "listener", l[i].id, "class", classes[c],
				l[i].t.requests[c]);
	per_listener(o, "gaapd_http_bytes_received_total", "counter", "Bytes read from clients.",
		l, n, TRAFFIC(bytes_in));
	per_listener(o, "gaapd_http_bytes_sent_total", "counter", "Bytes sent to clients.",
		l, n, TRAFFIC(bytes_out));
	family(o, "gaapd_origin_errors_total", "counter", "Origin failures by listener and kind "
		"(connect failures that were failed over included).");
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < LSN_ORIGIN_ERROR_KINDS; k++)
			sample(o, "gaapd_origin_errors_total", "listener", l[i].id, "kind",
				lsn_origin_error_kind(k), l[i].t.origin_errors[k]);
	family(o, "gaapd_tls_handshakes_total", "counter", "Client TLS handshakes on HTTPS "
		"listeners by listener and outcome (ok, resumed, failed, timeout).");
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < LSN_TLS_OUTCOMES; k++)
			sample(o, "gaapd_tls_handshakes_total", "listener", l[i].id, "outcome",
				lsn_tls_outcome(k), l[i].t.tls_handshakes[k]);
}

/* A family with one sample per listener and origin, name{listener,proxy,origin}: the
 * lsn_origin_health field at offset. */
static void per_origin(struct out *o, const char *name, const char *help,
	const struct ctl_metrics_lsn *l, size_t n, size_t offset)
{
	family(o, name, "counter", help);
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < l[i].norigins; k++) {
			const struct lsn_origin_health *h = &l[i].origins[k];
			uint64_t v;
			memcpy(&v, (const char *)h + offset, sizeof v);
			put(o, "%s{listener=\"", name);
			label(o, l[i].id);
			put(o, "\",proxy=\"");
			label(o, h->proxy);
			put(o, "\",origin=\"");
			label(o, h->origin);
			put(o, "\"} %" PRIu64 "\n", v);
		}
}

/* Passive health is each listener's own (its routes'), so the origin lines are per listener. */
static void origin_families(struct out *o, const struct ctl_metrics_lsn *l, size_t n)
{
	per_origin(o, "gaapd_origin_ejections_total", "Origins marked down by passive health "
		"(origin_max_fails consecutive failures while up), by listener, proxy and origin.",
		l, n, offsetof(struct lsn_origin_health, ejections));
	per_origin(o, "gaapd_origin_recoveries_total", "Origins marked down that answered again, "
		"by listener, proxy and origin.", l, n, offsetof(struct lsn_origin_health, recoveries));
}

/* The buckets are stored apart; Prometheus wants them cumulative, +Inf equal to the count. */
static void histogram(struct out *o, const struct ctl_metrics_lsn *l)
{
	uint64_t total = 0;
	for (size_t b = 0; b < LSN_LATENCY_BUCKETS; b++) {
		total += l->t.latency[b];
		sample(o, DURATION "_bucket", "listener", l->id, "le", lsn_latency_le(b), total);
	}
	put(o, DURATION "_sum{listener=\"");
	label(o, l->id);
	put(o, "\"} %.6f\n", (double)l->t.latency_sum_us / 1e6);
	sample(o, DURATION "_count", "listener", l->id, NULL, NULL, total);
}

int ctl_metrics_listeners(struct evbuffer *out, const struct ctl_metrics_lsn *l, size_t n,
	const struct cfg *cfg)
{
	struct out o = { out, 0 };
	if (listeners_family(&o, l, n, cfg) != 0)
		return -1;
	counter_families(&o, l, n);
	origin_families(&o, l, n);
	family(&o, DURATION, "histogram", "Time from a request's first byte to its response's "
		"last, by listener.");
	for (size_t i = 0; i < n; i++)
		histogram(&o, &l[i]);
	return o.failed ? -1 : 0;
}

int ctl_metrics_api(struct evbuffer *out, const struct ctl_api *api)
{
	struct out o = { out, 0 };
	family(&o, "gaapd_api_calls_total", "counter", "API calls answered, by action and code (OK, "
		"or the error code); action \"" NO_ACTION "\": none of this endpoint's.");
	for (size_t row = 0; row <= ctl_action_count(); row++) {
		const struct ctl_action *a = ctl_action_at(row);
		for (int e = 0; e < CTL_E__COUNT; e++) {
			uint64_t n = ctl_api_calls(api, row, (enum ctl_err)e);
			if (n != 0)
				sample(&o, "gaapd_api_calls_total", "action", a != NULL ? a->name : NO_ACTION,
					"code", e == CTL_E_OK ? "OK" : ctl_err_code((enum ctl_err)e), n);
		}
	}
	return o.failed ? -1 : 0;
}

static int copy_listener(struct ctl_metrics_lsn *m, const struct lsn *l)
{
	struct lsn_origin_health *h;
	snprintf(m->id, sizeof(m->id), "%s", l->rec.id);
	snprintf(m->owner, sizeof(m->owner), "%s", l->rec.group_id[0] != '\0' ? l->rec.group_id :
		l->rec.proxy_id);
	m->status = (int)l->status;
	lsn_traffic(l, &m->t);
	if (lsn_origin_health(l, &h, &m->norigins) != 0)
		return -1;
	m->origins = h;
	return 0;
}

static void snapshot_free(struct ctl_metrics_lsn *v, size_t n)
{
	for (size_t i = 0; v != NULL && i < n; i++)
		free((void *)v[i].origins);
	free(v);
}

/* The listeners, copied under the lock so that rendering does not hold it. NULL on ENOMEM. */
static struct ctl_metrics_lsn *snapshot(struct lsn_table *t, size_t *n)
{
	struct ctl_metrics_lsn *v;
	lsn_table_lock(t);
	*n = lsn_table_count(t);
	if ((v = calloc(*n + 1, sizeof(*v))) != NULL)
		for (size_t i = 0; i < *n; i++)
			if (copy_listener(&v[i], lsn_table_get(t, i)) != 0) {
				snapshot_free(v, i);
				v = NULL;
				break;
			}
	lsn_table_unlock(t);
	return v;
}

/* A changing call's answer waits for a sync; calls that arrive together share one, so the ratio
 * of the two counters is the group commit's batch size. */
static void state_families(struct out *o, const struct sm *sm)
{
	struct sm_counts c;
	sm_counts(sm, &c);
	family(o, "gaapd_state_changes_total", "counter", "Changes written to the state store.");
	put(o, "gaapd_state_changes_total %" PRIu64 "\n", c.changes);
	family(o, "gaapd_state_syncs_total", "counter", "Syncs (fdatasync) that made changes "
		"durable; one covers every change answered with it.");
	put(o, "gaapd_state_syncs_total %" PRIu64 "\n", c.syncs);
}

/* The fleet's store: whether this node can change anything (connected), how far its view is
 * (revision), and how contended its writes are (retries, conflicts). */
int ctl_metrics_store_etcd(struct evbuffer *out, const struct st_etcd_counts *c)
{
	struct out o = { out, 0 };
	family(&o, "gaapd_store_etcd_connected", "gauge", "1 while the etcd store is connected and "
		"caught up (changes can be made), else 0.");
	put(&o, "gaapd_store_etcd_connected %d\n", c->connected ? 1 : 0);
	family(&o, "gaapd_store_etcd_revision", "gauge", "The last etcd revision the feed delivered.");
	put(&o, "gaapd_store_etcd_revision %" PRId64 "\n", c->revision);
	family(&o, "gaapd_store_etcd_txns_total", "counter", "Writes (etcd transactions) made.");
	put(&o, "gaapd_store_etcd_txns_total %" PRIu64 "\n", c->txns);
	family(&o, "gaapd_store_etcd_txn_retries_total", "counter", "Transactions retried after a "
		"counter compare lost to another node's change.");
	put(&o, "gaapd_store_etcd_txn_retries_total %" PRIu64 "\n", c->txn_retries);
	family(&o, "gaapd_store_etcd_conflicts_total", "counter", "Writes refused because another "
		"node took the port or the proxy's last listener (DuplicatedPort, LimitExceeded).");
	put(&o, "gaapd_store_etcd_conflicts_total %" PRIu64 "\n", c->conflicts);
	family(&o, "gaapd_store_etcd_batches_applied_total", "counter", "Batches of other nodes' "
		"changes applied from the watch.");
	put(&o, "gaapd_store_etcd_batches_applied_total %" PRIu64 "\n", c->batches_applied);
	family(&o, "gaapd_store_etcd_resyncs_total", "counter", "Full resyncs (start, compaction).");
	put(&o, "gaapd_store_etcd_resyncs_total %" PRIu64 "\n", c->resyncs);
	family(&o, "gaapd_store_etcd_live_nodes", "gauge", "Nodes registered in the fleet (under "
		"a live lease).");
	put(&o, "gaapd_store_etcd_live_nodes %zu\n", c->live_nodes);
	return o.failed ? -1 : 0;
}

/* ---- active health checks (health/hc.h), per target: {origin, check} ---- */

#define HEALTH_DURATION "gaapd_health_probe_duration_seconds"

struct health_line {
	struct hc_snap s;
	char check[16 + HC_PATH_MAX + HC_HOST_MAX];
};

struct health {
	struct health_line *v;
	size_t n, cap;
	int failed;
};

/* Under the checker's lock: copied, rendered after. */
static void health_add(const struct hc_snap *snap, const char *check, void *arg)
{
	struct health *h = arg;
	if (h->n == h->cap) {
		size_t cap = h->cap != 0 ? h->cap * 2 : 32;
		struct health_line *v = realloc(h->v, cap * sizeof(*v));
		if (v == NULL) {
			h->failed = 1;
			return;
		}
		h->v = v;
		h->cap = cap;
	}
	h->v[h->n].s = *snap;
	snprintf(h->v[h->n++].check, sizeof(h->v->check), "%s", check);
}

/* name{origin="..",check=".."[,extra]} for line l; the caller puts the value. */
static void health_labels(struct out *o, const char *name, const struct health_line *l,
	const char *extra)
{
	put(o, "%s{origin=\"", name);
	label(o, l->s.origin);
	put(o, "\",check=\"");
	label(o, l->check);
	put(o, "\"%s}", extra != NULL ? extra : "");
}

static void health_histogram(struct out *o, const struct health_line *l)
{
	uint64_t total = 0;
	char le[32];
	for (size_t b = 0; b < LSN_LATENCY_BUCKETS; b++) {
		total += l->s.latency[b];
		snprintf(le, sizeof(le), ",le=\"%s\"", lsn_latency_le(b));
		health_labels(o, HEALTH_DURATION "_bucket", l, le);
		put(o, " %" PRIu64 "\n", total);
	}
	health_labels(o, HEALTH_DURATION "_sum", l, NULL);
	put(o, " %.6f\n", (double)l->s.latency_sum_us / 1e6);
	health_labels(o, HEALTH_DURATION "_count", l, NULL);
	put(o, " %" PRIu64 "\n", total);
}

/* One line per target the checker probes now: shared by every rule binding that server with
 * the same CheckParams, so the labels are the server and the check, not a rule. */
static int health_families(struct out *o, struct sm *sm)
{
	struct health h = { 0 };
	sm_health_each(sm, health_add, &h);
	if (h.failed) {
		free(h.v);
		return -1;
	}
	family(o, "gaapd_health_up", "gauge", "Active health check verdict by origin and check "
		"(1 up, 0 down).");
	for (size_t i = 0; i < h.n; i++) {
		health_labels(o, "gaapd_health_up", &h.v[i], NULL);
		put(o, " %d\n", h.v[i].s.up ? 1 : 0);
	}
	family(o, "gaapd_health_probes_total", "counter", "Health check probes finished, by origin, "
		"check and result.");
	for (size_t i = 0; i < h.n; i++) {
		health_labels(o, "gaapd_health_probes_total", &h.v[i], ",result=\"ok\"");
		put(o, " %" PRIu64 "\n", h.v[i].s.probes - h.v[i].s.probe_failures);
		health_labels(o, "gaapd_health_probes_total", &h.v[i], ",result=\"failed\"");
		put(o, " %" PRIu64 "\n", h.v[i].s.probe_failures);
	}
	family(o, "gaapd_health_transitions_total", "counter", "Health check verdict changes (up to "
		"down and back), by origin and check.");
	for (size_t i = 0; i < h.n; i++) {
		health_labels(o, "gaapd_health_transitions_total", &h.v[i], NULL);
		put(o, " %" PRIu64 "\n", h.v[i].s.transitions);
	}
	family(o, HEALTH_DURATION, "histogram", "Time from a probe's connect to the answer's status "
		"line, of probes that got one, by origin and check.");
	for (size_t i = 0; i < h.n; i++)
		health_histogram(o, &h.v[i]);
	free(h.v);
	return 0;
}

int ctl_metrics_render(struct evbuffer *out, const struct ctl_metrics_src *src)
{
	struct out o = { out, 0 };
	size_t n = 0;
	struct ctl_metrics_lsn *l = snapshot(src->listeners, &n);
	if (l == NULL)
		return -1;
	family(&o, "gaapd_start_time_seconds", "gauge", "Unix time the control endpoint started.");
	put(&o, "gaapd_start_time_seconds %" PRId64 "\n", src->start_time);
	if (ctl_metrics_listeners(out, l, n, src->cfg) != 0 || ctl_metrics_api(out, src->api) != 0)
		o.failed = 1;
	family(&o, "gaapd_config_reloads_total", "counter", "Configuration reloads (SIGHUP), by "
		"result.");
	put(&o, "gaapd_config_reloads_total{result=\"applied\"} %" PRIu64 "\n", src->reloads_applied);
	put(&o, "gaapd_config_reloads_total{result=\"refused\"} %" PRIu64 "\n", src->reloads_refused);
	if (src->sm != NULL)
		state_families(&o, src->sm);
	if (src->sm != NULL && health_families(&o, src->sm) != 0)
		o.failed = 1;
	if (src->fleet != NULL) {
		struct st_etcd_counts c;
		st_etcd_counts(src->fleet, &c);
		if (ctl_metrics_store_etcd(out, &c) != 0)
			o.failed = 1;
	}
	snapshot_free(l, n);
	return o.failed ? -1 : 0;
}
