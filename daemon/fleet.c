/* daemon/fleet.c - the state store the configuration names (store.backend), opened and fed for
 *   the composition root (gaapd.h): the journal in node.state_dir, or the etcd back end with
 *   state_dir as its local cache. With etcd this is where the fleet meets the node: the back
 *   end's feed thread wakes the main loop (an event on g->base, made active from that thread;
 *   evthread_use_pthreads() is on), and the main loop drains the batches into sm
 *   (sm_apply_records), then reports this node's status of each listener a batch put, and of
 *   every listener after the restore (st_etcd_report: the back end writes only changes).
 * Ownership: g->store, g->feed and g->store_opts are made here and freed by
 *   gaapd_store_close(). Threads: the main thread, but for wake(), which only activates g->feed.
 */
#include "gaapd.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "listener.h"
#include "log.h"
#include "state/sm.h"
#include "store.h"

/* Its own status of listener id, as this node serves it: bound ("") or its fault. Under the
 * table's lock (the caller's). */
static void report_locked(struct gaapd *g, const struct lsn *l)
{
	st_etcd_report(g->store, l->rec.id, l->fault[0] != '\0' ? l->fault : NULL);
}

void gaapd_store_report_all(struct gaapd *g)
{
	if (g->cfg->store.backend != CFG_STORE_ETCD || g->store == NULL)
		return;
	lsn_table_lock(g->listeners);
	for (size_t i = 0; i < lsn_table_count(g->listeners); i++)
		report_locked(g, lsn_table_get(g->listeners, i));
	lsn_table_unlock(g->listeners);
}

void gaapd_store_report(struct gaapd *g, const char *listener)
{
	if (g->cfg->store.backend != CFG_STORE_ETCD || g->store == NULL)
		return;
	lsn_table_lock(g->listeners);
	const struct lsn *l = lsn_table_find(g->listeners, listener);
	if (l != NULL)
		report_locked(g, l);
	lsn_table_unlock(g->listeners);
}

/* One batch of other nodes' changes, already in the cache: what this node serves follows it. */
static int apply(void *arg, const struct st_op *ops, size_t n, char *err, size_t errlen)
{
	struct gaapd *g = arg;
	int rc = sm_apply_records(g->sm, ops, n, err, errlen);
	lsn_table_lock(g->listeners);
	for (size_t i = 0; i < n; i++) {
		const struct lsn *l;
		if (ops[i].type == ST_PUT && strcmp(ops[i].kind, ST_LISTENER) == 0
		    && (l = lsn_table_find(g->listeners, ops[i].id)) != NULL)
			report_locked(g, l);
	}
	lsn_table_unlock(g->listeners);
	return rc;
}

static void on_feed(evutil_socket_t fd, short what, void *arg)
{
	struct gaapd *g = arg;
	(void)fd;
	(void)what;
	size_t n = st_etcd_drain(g->store, apply, g);
	if (n > 0)
		LOG_DEBUG("store", "fleet batches applied=%zu", n);
}

/* On the back end's thread: only the event is touched (libevent's locks make that safe). */
static void wake(void *arg)
{
	struct gaapd *g = arg;
	event_active(g->feed, 0, 0);
}

/* The proxies a listener occupies, from the configuration of the moment: its proxy, or its
 * group's configured members. Called on the writing thread, the main one, which is also the one
 * that swaps g->cfg on reload. */
static size_t places(void *arg, const char *proxy_id, const char *group_id,
	char (*proxies)[ST_ID_MAX], unsigned *max_listeners, size_t room)
{
	const struct gaapd *g = arg;
	const struct cfg *c = g->cfg;
	const struct cfg_proxy *p;
	size_t n = 0;
	if (group_id != NULL && group_id[0] != '\0') {
		const struct cfg_group *gr = cfg_find_group(c, group_id);
		for (size_t i = 0; gr != NULL && i < gr->nproxies && n < room; i++) {
			if ((p = cfg_find_proxy(c, gr->proxies[i])) == NULL)
				continue;
			snprintf(proxies[n], ST_ID_MAX, "%s", p->id);
			max_listeners[n++] = p->max_listeners;
		}
		return n;
	}
	if (proxy_id == NULL || room == 0 || (p = cfg_find_proxy(c, proxy_id)) == NULL)
		return 0;
	snprintf(proxies[0], ST_ID_MAX, "%s", p->id);
	max_listeners[0] = p->max_listeners;
	return 1;
}

/* What st_open_etcd() is given, copied out of the cfg: a reload frees the cfg it came from, and
 * the back end may keep the pointers. One block, freed by gaapd_store_close(). */
struct fleet_opts {
	struct st_etcd_opts o;
	const char **endpoints;
	const char **proxies;
	char (*ids)[CFG_ID_MAX];
	char *strings[3];           /* prefix, node, cache_dir */
};

static void fleet_opts_free(struct fleet_opts *f)
{
	if (f == NULL)
		return;
	for (size_t i = 0; f->endpoints != NULL && i < f->o.nendpoints; i++)
		free((char *)f->endpoints[i]);
	free(f->endpoints);
	free(f->proxies);
	free(f->ids);
	for (size_t i = 0; i < 3; i++)
		free(f->strings[i]);
	free(f);
}

static struct fleet_opts *fleet_opts_new(const struct cfg *c)
{
	struct fleet_opts *f = calloc(1, sizeof(*f));
	size_t np = c->nproxies, ne = c->store.netcd_endpoints;
	if (f == NULL || (f->endpoints = calloc(ne, sizeof(*f->endpoints))) == NULL ||
	    (f->proxies = calloc(np + 1, sizeof(*f->proxies))) == NULL ||
	    (f->ids = calloc(np + 1, sizeof(*f->ids))) == NULL ||
	    (f->strings[0] = strdup(c->store.etcd_prefix)) == NULL ||
	    (f->strings[1] = strdup(c->node_name)) == NULL ||
	    (f->strings[2] = strdup(c->state_dir)) == NULL) {
		fleet_opts_free(f);
		return NULL;
	}
	for (f->o.nendpoints = 0; f->o.nendpoints < ne; f->o.nendpoints++)
		if ((f->endpoints[f->o.nendpoints] = strdup(c->store.etcd_endpoints[f->o.nendpoints]))
		    == NULL) {
			fleet_opts_free(f);
			return NULL;
		}
	for (size_t i = 0; i < np; i++) {
		snprintf(f->ids[i], CFG_ID_MAX, "%s", c->proxies[i].id);
		f->proxies[i] = f->ids[i];
	}
	f->o.endpoints = f->endpoints;
	f->o.dial_timeout_ms = c->store.etcd_dial_timeout_ms;
	f->o.prefix = f->strings[0];
	f->o.node = f->strings[1];
	f->o.node_proxies = f->proxies;
	f->o.nnode_proxies = np;
	f->o.cache_dir = f->strings[2];
	f->o.compact_min = c->state_compact_bytes;
	return f;
}

static int open_etcd(struct gaapd *g, char *err, size_t errlen)
{
	const struct cfg *c = g->cfg;
	struct fleet_opts *f;
	if ((g->feed = event_new(g->base, -1, 0, on_feed, g)) == NULL ||
	    (f = fleet_opts_new(c)) == NULL) {
		snprintf(err, errlen, "store: out of memory");
		return -1;
	}
	g->store_opts = f;
	f->o.places = places;
	f->o.places_arg = g;
	f->o.wake = wake;
	f->o.wake_arg = g;
	if ((g->store = st_open_etcd(&f->o, err, errlen)) == NULL)
		return -1;
	LOG_INFO("store", "etcd store: node=%s prefix=%s endpoints=%zu (first %s) cache=%s",
		c->node_name, c->store.etcd_prefix, c->store.netcd_endpoints,
		c->store.etcd_endpoints[0], c->state_dir);
	return 0;
}

int gaapd_store_open(struct gaapd *g, char *err, size_t errlen)
{
	if (g->cfg->store.backend == CFG_STORE_ETCD)
		return open_etcd(g, err, errlen);
	g->store = st_open_journal(g->cfg->state_dir, g->cfg->state_compact_bytes, err, errlen);
	return g->store != NULL ? 0 : -1;
}

/* The back end's thread is gone once st_close() returns: only then is the event it wakes freed,
 * and the options it was given. */
void gaapd_store_close(struct gaapd *g)
{
	st_close(g->store);
	g->store = NULL;
	if (g->feed != NULL)
		event_free(g->feed);
	g->feed = NULL;
	fleet_opts_free(g->store_opts);
	g->store_opts = NULL;
}
