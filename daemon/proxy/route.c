/* daemon/proxy/route.c - what one listener forwards to: origins, scheduler, passive health.
 *   The configuration part is immutable; what the workers learn (connections in flight,
 *   failures, down deadlines) lives in the shared servers' atomics (ups.h), so any thread may
 *   pick and report, and every listener naming a server learns from the others. */
#include "route.h"

#include <stdlib.h>
#include <string.h>

#include "stats.h"

int64_t px_now_ms(void)
{
	return ups_now_ms();
}

static unsigned gcd(unsigned a, unsigned b)
{
	while (b != 0) {
		unsigned t = a % b;
		a = b;
		b = t;
	}
	return a;
}

/* Smooth weighted round robin (nginx's), unrolled once into a sequence of origin indexes that
 * an atomic cursor walks: each origin appears weight/gcd times, spread out, never in bursts. */
static int build_sequence(struct px_route *r)
{
	unsigned g = 0, total = 0;
	long *cur;
	for (size_t i = 0; i < r->nups; i++)
		g = gcd(r->ups[i].weight, g);
	for (size_t i = 0; i < r->nups; i++)
		total += r->ups[i].weight / g;
	if ((r->seq = calloc(total, sizeof *r->seq)) == NULL ||
	    (cur = calloc(r->nups, sizeof *cur)) == NULL)
		return -1;
	for (unsigned s = 0; s < total; s++) {
		size_t best = 0;
		for (size_t i = 0; i < r->nups; i++) {
			cur[i] += r->ups[i].weight / g;
			if (cur[i] > cur[best])
				best = i;
		}
		cur[best] -= total;
		r->seq[s] = (uint16_t)best;
	}
	r->nseq = total;
	free(cur);
	return 0;
}

/* Each origin's server comes from the registry (shared with every route naming it); its health
 * counters are the listener's (stats), shared with the listener's other routes. */
static int fill_upstreams(struct px_route *r, struct ups_reg *reg, const char *proxy_id,
	const struct cfg_addr *origins, size_t n)
{
	if (n == 0)
		return 0;
	if ((r->ups = calloc(n, sizeof *r->ups)) == NULL)
		return -1;
	r->nups = n;
	for (size_t i = 0; i < n; i++) {
		r->ups[i].addr = origins[i];
		if (r->ups[i].addr.weight == 0)     /* addresses built outside cfg.c */
			r->ups[i].addr.weight = 1;
		r->ups[i].weight = r->ups[i].addr.weight;
		if ((r->ups[i].srv = ups_server_get(reg, &origins[i])) == NULL ||
		    (r->ups[i].health = px_stats_origin(r->stats, proxy_id, origins[i].text)) == NULL)
			return -1;
	}
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
	atomic_init(&r->next, 0);
	r->sched = sched;
	r->http = *http;
	r->http.access_log = NULL;  /* ours below: the configuration may go before the route */
	r->stats = stats != NULL ? px_stats_ref(stats) : px_stats_new();
	if (r->stats == NULL || (r->id = strdup(listener_id != NULL ? listener_id : "")) == NULL ||
	    (http->access_log != NULL && (r->http.access_log = strdup(http->access_log)) == NULL) ||
	    fill_upstreams(r, reg, proxy_id, origins, norigins) != 0 ||
	    (sched == CFG_SCHED_WRR && norigins != 0 && build_sequence(r) != 0)) {
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
	for (size_t i = 0; i < r->nups; i++)
		ups_server_put(r->ups[i].srv);     /* NULL when the build failed half-way */
	free(r->seq);
	free(r->ups);
	free(r->http.access_log);
	free(r->id);
	free(r);
}

static int usable(struct px_route *r, size_t i, int exclude, int64_t now)
{
	return (int)i != exclude && ups_server_up(r->ups[i].srv, now);
}

/* rr and wrr: the next usable origin in the (weighted) cycle. */
static int pick_cycle(struct px_route *r, int exclude, int64_t now)
{
	size_t n = r->seq != NULL ? r->nseq : r->nups;
	unsigned start = atomic_fetch_add_explicit(&r->next, 1, memory_order_relaxed);
	for (size_t k = 0; k < n; k++) {
		size_t pos = (start + k) % n;
		size_t i = r->seq != NULL ? r->seq[pos] : pos;
		if (usable(r, i, exclude, now))
			return (int)i;
	}
	return -1;
}

/* lc: the fewest exchanges in flight per unit of weight; ties go round robin. */
static int pick_least(struct px_route *r, int exclude, int64_t now)
{
	unsigned start = atomic_fetch_add_explicit(&r->next, 1, memory_order_relaxed);
	uint64_t best_active = 0, best_weight = 1;
	int best = -1;
	for (size_t k = 0; k < r->nups; k++) {
		size_t i = (start + k) % r->nups;
		uint64_t a = atomic_load_explicit(&r->ups[i].srv->active, memory_order_relaxed);
		if (!usable(r, i, exclude, now))
			continue;
		if (best < 0 || a * best_weight < best_active * r->ups[i].weight) {
			best = (int)i;
			best_active = a;
			best_weight = r->ups[i].weight;
		}
	}
	return best;
}

/* Every origin but exclude is down: the one whose down period ends first (it failed longest
 * ago) is tried rather than none. Passive health never takes away the last way out. */
static int pick_least_recently_failed(struct px_route *r, int exclude)
{
	int64_t best_until = 0;
	int best = -1;
	for (size_t i = 0; i < r->nups; i++) {
		int64_t until = atomic_load_explicit(&r->ups[i].srv->down_until, memory_order_relaxed);
		if ((int)i == exclude)
			continue;
		if (best < 0 || until < best_until) {
			best = (int)i;
			best_until = until;
		}
	}
	return best;
}

int px_route_pick(struct px_route *r, int exclude)
{
	int64_t now = px_now_ms();
	int i;
	if (r->nups == 0)
		return -1;
	i = r->sched == CFG_SCHED_LC ? pick_least(r, exclude, now) : pick_cycle(r, exclude, now);
	return i >= 0 ? i : pick_least_recently_failed(r, exclude);
}

int px_route_failed(struct px_route *r, size_t i)
{
	/* A route's only origin is never taken out by it (as nginx): skipping it spares none of its
	 * requests. Others' verdicts still count: px_route_pick() keeps it as the last way out. */
	if (r->nups < 2 || !ups_server_failed(r->ups[i].srv, r->http.origin_max_fails,
	    r->http.origin_fail_timeout_ms))
		return 0;
	atomic_fetch_add_explicit(&r->ups[i].health->ejections, 1, memory_order_relaxed);
	return 1;
}

int px_route_succeeded(struct px_route *r, size_t i)
{
	if (!ups_server_succeeded(r->ups[i].srv))
		return 0;
	atomic_fetch_add_explicit(&r->ups[i].health->recoveries, 1, memory_order_relaxed);
	return 1;
}
