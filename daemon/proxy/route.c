/* daemon/proxy/route.c - what one listener forwards to: a server group (daemon/upstream/), the
 *   listener's http limits and counters, and passive health's per-route rule. The route is
 *   immutable; what the workers learn lives in the shared servers' atomics (ups.h), so any thread
 *   may pick and report, and every listener naming a server learns from the others. */
#include "route.h"
#include "tls/tls.h"

#include <stdlib.h>
#include <string.h>

#include "stats.h"

int64_t px_now_ms(void)
{
	return ups_now_ms();
}

/* Each origin's health counters are the listener's (stats), shared with its other routes. */
static int fill_health(struct px_route *r, const char *proxy_id, const struct cfg_addr *origins,
	size_t n)
{
	if (n != 0 && (r->health = calloc(n, sizeof *r->health)) == NULL)
		return -1;
	for (size_t i = 0; i < n; i++)
		if ((r->health[i] = px_stats_origin(r->stats, proxy_id, origins[i].text)) == NULL)
			return -1;
	return 0;
}

/* reg NULL: a registry of the route's own (its servers then shared with no other route). */
static struct px_route *route_build(const char *listener_id, const char *proxy_id,
	const struct cfg_addr *origins, size_t norigins, enum cfg_sched sched,
	const struct cfg_http *http, struct px_stats *stats, struct ups_reg *reg)
{
	struct px_route *r = calloc(1, sizeof *r);
	if (r == NULL || (reg = reg != NULL ? ups_reg_ref(reg) : ups_reg_new()) == NULL) {
		free(r);
		return NULL;
	}
	atomic_init(&r->refs, 1);
	r->http = *http;
	r->http.access_log = NULL;  /* ours below: the configuration may go before the route */
	r->stats = stats != NULL ? px_stats_ref(stats) : px_stats_new();
	if (r->stats == NULL || (r->id = strdup(listener_id != NULL ? listener_id : "")) == NULL ||
	    (r->proxy = strdup(proxy_id)) == NULL ||
	    (http->access_log != NULL && (r->http.access_log = strdup(http->access_log)) == NULL) ||
	    (r->group = ups_group_new(reg, sched, origins, norigins)) == NULL ||
	    fill_health(r, proxy_id, origins, norigins) != 0) {
		px_route_unref(r);
		r = NULL;
	}
	ups_reg_unref(reg);         /* the servers hold it now */
	return r;
}

struct px_route *px_route_new(const char *listener_id, const struct cfg_addr *origins,
	size_t norigins, const struct cfg_http *http)
{
	return route_build(listener_id, "", origins, norigins, CFG_SCHED_RR, http, NULL, NULL);
}

struct px_route *px_route_create(const char *listener_id, const struct cfg_proxy *p,
	const struct cfg_http *http, struct px_stats *stats, struct ups_reg *servers)
{
	return route_build(listener_id, p->id, p->origins, p->norigins, p->scheduler, http, stats,
		servers);
}

struct px_stats *px_route_stats(const struct px_route *r)
{
	return r->stats;
}

void px_route_set_l7(struct px_route *r, struct px_l7_cell *cell)
{
	px_l7_cell_unref(r->l7);
	r->l7 = cell != NULL ? px_l7_cell_ref(cell) : NULL;
}

void px_route_set_tls(struct px_route *r, struct tls_cell *cell)
{
	tls_cell_unref(r->tls);
	r->tls = cell != NULL ? tls_cell_ref(cell) : NULL;
}

void px_route_set_origin_tls(struct px_route *r, struct tls_client *client)
{
	tls_client_unref(r->origin_tls);
	r->origin_tls = client != NULL ? tls_client_ref(client) : NULL;
}

struct px_route *px_route_ref(struct px_route *r)
{
	atomic_fetch_add_explicit(&r->refs, 1, memory_order_relaxed);
	return r;
}

unsigned px_route_refs(struct px_route *r)
{
	return atomic_load(&r->refs);
}

void px_route_unref(struct px_route *r)
{
	/* acq_rel: the last owner must see every other owner's reads finished before freeing */
	if (r == NULL || atomic_fetch_sub_explicit(&r->refs, 1, memory_order_acq_rel) != 1)
		return;
	px_stats_unref(r->stats);
	px_l7_cell_unref(r->l7);
	tls_cell_unref(r->tls);
	tls_client_unref(r->origin_tls);
	ups_group_destroy(r->group);
	free(r->health);
	free(r->http.access_log);
	free(r->proxy);
	free(r->id);
	free(r);
}

int px_route_pick(struct px_route *r, int exclude)
{
	return ups_group_pick(r->group, exclude);
}

int px_route_failed(struct px_route *r, size_t i)
{
	/* A route's only origin is never taken out by it (as nginx): skipping it spares none of its
	 * requests. Others' verdicts still count: px_route_pick() keeps it as the last way out. */
	if (r->group->n < 2 || !ups_server_failed(r->group->m[i].srv, r->http.origin_max_fails,
	    r->http.origin_fail_timeout_ms))
		return 0;
	atomic_fetch_add_explicit(&r->health[i]->ejections, 1, memory_order_relaxed);
	return 1;
}

int px_route_succeeded(struct px_route *r, size_t i)
{
	if (!ups_server_succeeded(r->group->m[i].srv))
		return 0;
	atomic_fetch_add_explicit(&r->health[i]->recoveries, 1, memory_order_relaxed);
	return 1;
}

/* A transition of a member outside the route's own group: counted under the route's proxy and
 * the server's text, looked up now (transitions are rare; requests never pay for it). */
static void count_transition(struct px_route *r, const struct ups_server *srv, int ejection)
{
	struct px_origin_stats *h = px_stats_origin(r->stats, r->proxy, srv->addr.text);
	if (h != NULL)
		atomic_fetch_add_explicit(ejection ? &h->ejections : &h->recoveries, 1,
			memory_order_relaxed);
}

int px_route_group_failed(struct px_route *r, struct ups_group *g, size_t i)
{
	if (g == r->group)
		return px_route_failed(r, i);
	if (g->n < 2 || !ups_server_failed(g->m[i].srv, r->http.origin_max_fails,
	    r->http.origin_fail_timeout_ms))
		return 0;
	count_transition(r, g->m[i].srv, 1);
	return 1;
}

int px_route_group_succeeded(struct px_route *r, struct ups_group *g, size_t i)
{
	if (g == r->group)
		return px_route_succeeded(r, i);
	if (!ups_server_succeeded(g->m[i].srv))
		return 0;
	count_transition(r, g->m[i].srv, 0);
	return 1;
}
