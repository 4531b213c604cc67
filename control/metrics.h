/* control/metrics.h - GET /metrics: the Prometheus text exposition format 0.0.4 of the listeners'
 *   traffic and their origins' passive health (listener.h), the API's calls by action and code,
 *   reloads, the start time and, with the etcd store, its connection and transactions.
 * Ownership: the renderers only append to the caller's evbuffer and read what they are given.
 * Threads: the control thread. The listener table is copied out under lsn_table_lock() and
 *   rendered after the unlock; the traffic counters are atomics the workers keep adding to, so a
 *   scrape is no consistent cut across them (Prometheus does not need one).
 */
#ifndef GAAPD_CTL_METRICS_H
#define GAAPD_CTL_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "listener.h"
#include "store.h"

#define CTL_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

struct cfg;
struct ctl;
struct ctl_api;
struct evbuffer;
struct sm;

/* What a scrape reads; all borrowed. */
struct ctl_metrics_src {
	const struct cfg *cfg;          /* proxies and groups: listener counts of 0 are shown too */
	struct lsn_table *listeners;
	const struct ctl_api *api;
	int64_t start_time;             /* Unix seconds */
	uint64_t reloads_applied, reloads_refused;
	struct sm *sm;                  /* the state changes and their group commits, the health
	                                 * checks' targets; NULL: none */
	struct st *fleet;               /* the etcd store (gaapd_store_etcd_*); NULL: file store */
};

/* The whole exposition, appended to out. 0, or -1 when out of memory. */
int ctl_metrics_render(struct evbuffer *out, const struct ctl_metrics_src *src);


/* The parts, for tests. */

/* One listener as a scrape saw it. */
struct ctl_metrics_lsn {
	char id[ST_ID_MAX];
	char owner[ST_ID_MAX];          /* the proxy it was created on, or its group */
	int status;                     /* enum lsn_status: the API's ListenerStatus */
	struct lsn_traffic t;
	const struct lsn_origin_health *origins;    /* norigins of them (a scrape owns its copy) */
	size_t norigins;
};

/* gaapd_listeners (by owner: cfg's proxies and groups, then any other owner in l) and every
 * per-listener family. cfg may be NULL. 0 or -1 (ENOMEM). */
int ctl_metrics_listeners(struct evbuffer *out, const struct ctl_metrics_lsn *l, size_t n,
	const struct cfg *cfg);
/* gaapd_api_calls_total, the combinations with calls only. 0 or -1. */
int ctl_metrics_api(struct evbuffer *out, const struct ctl_api *api);
/* gaapd_store_etcd_*: the fleet's store as st_etcd_counts() saw it. 0 or -1 (ENOMEM). */
int ctl_metrics_store_etcd(struct evbuffer *out, const struct st_etcd_counts *c);
/* value as a label value: \, " and newline escaped. 0 or -1. */
int ctl_metrics_label(struct evbuffer *out, const char *value);

#endif
