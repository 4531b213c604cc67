/* daemon/upstream/group.c - server groups: built once (servers from the registry, the smooth wrr
 *   sequence unrolled), then picked from lock-free by any worker. */
#include "group.h"

#include <stdlib.h>

static unsigned gcd(unsigned a, unsigned b)
{
	while (b != 0) {
		unsigned t = a % b;
		a = b;
		b = t;
	}
	return a;
}

/* Smooth weighted round robin (nginx's), unrolled once into a sequence of member indexes that
 * an atomic cursor walks: each member appears weight/gcd times, spread out, never in bursts. */
static int build_sequence(struct ups_group *g)
{
	unsigned d = 0, total = 0;
	long *cur;
	for (size_t i = 0; i < g->n; i++)
		d = gcd(g->m[i].weight, d);
	for (size_t i = 0; i < g->n; i++)
		total += g->m[i].weight / d;
	if ((g->seq = calloc(total, sizeof *g->seq)) == NULL ||
	    (cur = calloc(g->n, sizeof *cur)) == NULL)
		return -1;
	for (unsigned s = 0; s < total; s++) {
		size_t best = 0;
		for (size_t i = 0; i < g->n; i++) {
			cur[i] += g->m[i].weight / d;
			if (cur[i] > cur[best])
				best = i;
		}
		cur[best] -= total;
		g->seq[s] = (uint16_t)best;
	}
	g->nseq = total;
	free(cur);
	return 0;
}

struct ups_group *ups_group_new(struct ups_reg *reg, enum cfg_sched sched,
	const struct cfg_addr *addrs, size_t n)
{
	struct ups_group *g = calloc(1, sizeof *g);
	if (g == NULL)
		return NULL;
	g->sched = sched;
	atomic_init(&g->next, 0);
	if (n != 0 && (g->m = calloc(n, sizeof *g->m)) == NULL)
		goto fail;
	for (g->n = 0; g->n < n; g->n++) {
		g->m[g->n].weight = addrs[g->n].weight != 0 ? addrs[g->n].weight : 1;
		if ((g->m[g->n].srv = ups_server_get(reg, &addrs[g->n])) == NULL)
			goto fail;
	}
	if (sched == CFG_SCHED_WRR && n != 0 && build_sequence(g) != 0)
		goto fail;
	return g;
fail:
	ups_group_destroy(g);
	return NULL;
}

void ups_group_destroy(struct ups_group *g)
{
	if (g == NULL)
		return;
	for (size_t i = 0; i < g->n; i++)
		ups_server_put(g->m[i].srv);
	free(g->seq);
	free(g->m);
	free(g);
}

static int usable(const struct ups_group *g, size_t i, int exclude, int64_t now)
{
	return (int)i != exclude && ups_server_up(g->m[i].srv, now) && hc_target_up(g->m[i].check);
}

/* rr and wrr: the next usable member in the (weighted) cycle. */
static int pick_cycle(struct ups_group *g, int exclude, int64_t now)
{
	size_t n = g->seq != NULL ? g->nseq : g->n;
	unsigned start = atomic_fetch_add_explicit(&g->next, 1, memory_order_relaxed);
	for (size_t k = 0; k < n; k++) {
		size_t pos = (start + k) % n;
		size_t i = g->seq != NULL ? g->seq[pos] : pos;
		if (usable(g, i, exclude, now))
			return (int)i;
	}
	return -1;
}

/* lc: the fewest exchanges in flight on the node per unit of weight; ties go round robin. */
static int pick_least(struct ups_group *g, int exclude, int64_t now)
{
	unsigned start = atomic_fetch_add_explicit(&g->next, 1, memory_order_relaxed);
	uint64_t best_active = 0, best_weight = 1;
	int best = -1;
	for (size_t k = 0; k < g->n; k++) {
		size_t i = (start + k) % g->n;
		uint64_t a = atomic_load_explicit(&g->m[i].srv->active, memory_order_relaxed);
		if (!usable(g, i, exclude, now))
			continue;
		if (best < 0 || a * best_weight < best_active * g->m[i].weight) {
			best = (int)i;
			best_active = a;
			best_weight = g->m[i].weight;
		}
	}
	return best;
}

/* No member but exclude is eligible: the one whose passive down period ends first (it failed
 * longest ago) is tried rather than none, whatever the checks say. Neither passive nor active
 * health takes away the last way out (l7-and-https.md 9.4.2). */
static int pick_least_recently_failed(const struct ups_group *g, int exclude)
{
	int64_t best_until = 0;
	int best = -1;
	for (size_t i = 0; i < g->n; i++) {
		int64_t until = atomic_load_explicit(&g->m[i].srv->down_until, memory_order_relaxed);
		if ((int)i == exclude)
			continue;
		if (best < 0 || until < best_until) {
			best = (int)i;
			best_until = until;
		}
	}
	return best;
}

int ups_group_pick(struct ups_group *g, int exclude)
{
	int64_t now = ups_now_ms();
	int i;
	if (g->n == 0)
		return -1;
	i = g->sched == CFG_SCHED_LC ? pick_least(g, exclude, now) : pick_cycle(g, exclude, now);
	return i >= 0 ? i : pick_least_recently_failed(g, exclude);
}
