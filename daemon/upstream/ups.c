/* daemon/upstream/ups.c - the registry of shared real servers (a chained hash table under one
 *   mutex, touched when routes are built or freed) and their lock-free health and load. */
#include "ups.h"

#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define UPS_BUCKETS_MIN 64

struct ups_reg {
	atomic_uint refs;           /* the creator's, and one per live server */
	pthread_mutex_t lock;       /* the buckets, their chains, and a server's refs leaving 1 */
	struct ups_server **buckets;
	size_t nbuckets;            /* a power of two */
	size_t n;
};

struct ups_reg *ups_reg_new(void)
{
	struct ups_reg *g = calloc(1, sizeof *g);
	if (g == NULL || (g->buckets = calloc(UPS_BUCKETS_MIN, sizeof *g->buckets)) == NULL) {
		free(g);
		return NULL;
	}
	atomic_init(&g->refs, 1);
	pthread_mutex_init(&g->lock, NULL);
	g->nbuckets = UPS_BUCKETS_MIN;
	return g;
}

struct ups_reg *ups_reg_ref(struct ups_reg *g)
{
	atomic_fetch_add_explicit(&g->refs, 1, memory_order_relaxed);
	return g;
}

void ups_reg_unref(struct ups_reg *g)
{
	/* acq_rel: the last owner sees every other owner's use of the table finished */
	if (g == NULL || atomic_fetch_sub_explicit(&g->refs, 1, memory_order_acq_rel) != 1)
		return;
	pthread_mutex_destroy(&g->lock);
	free(g->buckets);
	free(g);
}

size_t ups_reg_count(struct ups_reg *g)
{
	size_t n;
	pthread_mutex_lock(&g->lock);
	n = g->n;
	pthread_mutex_unlock(&g->lock);
	return n;
}

/* Zero-filled, so keys compare and hash as bytes. */
static void key_of(const struct cfg_addr *a, struct ups_key *k)
{
	memset(k, 0, sizeof *k);
	k->family = a->sa.ss_family;
	if (a->sa.ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)&a->sa;
		k->port = ntohs(sin->sin_port);
		memcpy(k->addr, &sin->sin_addr, sizeof sin->sin_addr);
	} else if (a->sa.ss_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&a->sa;
		k->port = ntohs(sin6->sin6_port);
		k->scope = sin6->sin6_scope_id;
		memcpy(k->addr, &sin6->sin6_addr, sizeof sin6->sin6_addr);
	}
}

/* Addresses without an IP family (built by hand, as tests do) are told apart by their text. */
static int is_ip(const struct ups_key *k)
{
	return k->family == AF_INET || k->family == AF_INET6;
}

static int same(const struct ups_server *s, const struct ups_key *k, const struct cfg_addr *a)
{
	return memcmp(&s->key, k, sizeof *k) == 0 && (is_ip(k) || strcmp(s->addr.text, a->text) == 0);
}

static uint64_t fnv(uint64_t h, const void *v, size_t n)
{
	const unsigned char *p = v;
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 1099511628211ULL;
	return h;
}

/* FNV-1a: a handful of servers per bucket at most, and no input chosen by a client. */
static size_t key_hash(const struct ups_key *k, const struct cfg_addr *a)
{
	uint64_t h = fnv(1469598103934665603ULL, k, sizeof *k);
	return (size_t)(is_ip(k) ? h : fnv(h, a->text, strlen(a->text)));
}

/* Twice the buckets once there are more servers than buckets; on ENOMEM the chains just grow. */
static void grow(struct ups_reg *g)
{
	size_t n = g->nbuckets * 2;
	struct ups_server **b = calloc(n, sizeof *b), *s, *next;
	if (b == NULL)
		return;
	for (size_t i = 0; i < g->nbuckets; i++)
		for (s = g->buckets[i]; s != NULL; s = next) {
			next = s->next;
			size_t h = key_hash(&s->key, &s->addr) & (n - 1);
			s->next = b[h];
			b[h] = s;
		}
	free(g->buckets);
	g->buckets = b;
	g->nbuckets = n;
}

static struct ups_server *server_new(struct ups_reg *g, const struct cfg_addr *a,
	const struct ups_key *k)
{
	struct ups_server *s = calloc(1, sizeof *s);
	if (s == NULL)
		return NULL;
	s->reg = ups_reg_ref(g);
	s->key = *k;
	s->addr = *a;
	s->addr.weight = 0;
	atomic_init(&s->refs, 0);
	atomic_init(&s->active, 0);
	atomic_init(&s->fails, 0);
	atomic_init(&s->down_until, 0);
	return s;
}

struct ups_server *ups_server_get(struct ups_reg *g, const struct cfg_addr *a)
{
	struct ups_key k;
	struct ups_server *s;
	size_t h;
	key_of(a, &k);
	h = key_hash(&k, a);
	pthread_mutex_lock(&g->lock);
	for (s = g->buckets[h & (g->nbuckets - 1)]; s != NULL; s = s->next)
		if (same(s, &k, a))
			break;
	if (s == NULL && (s = server_new(g, a, &k)) != NULL) {
		s->next = g->buckets[h & (g->nbuckets - 1)];
		g->buckets[h & (g->nbuckets - 1)] = s;
		if (++g->n > g->nbuckets)
			grow(g);
	}
	if (s != NULL)
		atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
	pthread_mutex_unlock(&g->lock);
	return s;
}

struct ups_server *ups_server_ref(struct ups_server *s)
{
	atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
	return s;
}

static void unlink_server(struct ups_reg *g, struct ups_server *s)
{
	struct ups_server **p = &g->buckets[key_hash(&s->key, &s->addr) & (g->nbuckets - 1)];
	while (*p != s)
		p = &(*p)->next;
	*p = s->next;
	g->n--;
}

/* Above 1 a reference goes with a CAS, no lock: it cannot be the last, and a get (under the
 * lock) only ever adds. From 1 the lock decides: a get that found the server first keeps it. */
void ups_server_put(struct ups_server *s)
{
	struct ups_reg *g;
	unsigned n;
	int last;
	if (s == NULL)
		return;
	n = atomic_load_explicit(&s->refs, memory_order_relaxed);
	while (n > 1)
		if (atomic_compare_exchange_weak_explicit(&s->refs, &n, n - 1, memory_order_release,
		    memory_order_relaxed))
			return;
	g = s->reg;
	pthread_mutex_lock(&g->lock);
	/* acq_rel: the freeing thread sees every other holder's use of the server finished */
	if ((last = atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) == 1))
		unlink_server(g, s);
	pthread_mutex_unlock(&g->lock);
	if (!last)
		return;
	free(s);
	ups_reg_unref(g);           /* may free the registry: after its lock is released */
}

int64_t ups_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int ups_server_up(const struct ups_server *s, int64_t now)
{
	return atomic_load_explicit(&s->down_until, memory_order_relaxed) <= now;
}

int ups_server_failed(struct ups_server *s, unsigned max_fails, unsigned timeout_ms)
{
	int64_t now;
	if (max_fails == 0 ||
	    atomic_fetch_add_explicit(&s->fails, 1, memory_order_relaxed) + 1 < max_fails)
		return 0;
	now = ups_now_ms();
	atomic_store_explicit(&s->fails, 0, memory_order_relaxed);
	/* already out: tried as a route's last way out, or failed on another worker or route */
	return atomic_exchange_explicit(&s->down_until, now + timeout_ms, memory_order_relaxed) <= now;
}

int ups_server_succeeded(struct ups_server *s)
{
	/* loads first: a healthy server's cache line stays shared between workers */
	if (atomic_load_explicit(&s->fails, memory_order_relaxed) != 0)
		atomic_store_explicit(&s->fails, 0, memory_order_relaxed);
	return atomic_load_explicit(&s->down_until, memory_order_relaxed) != 0 &&
		atomic_exchange_explicit(&s->down_until, 0, memory_order_relaxed) != 0;
}

void ups_server_busy(struct ups_server *s)
{
	atomic_fetch_add_explicit(&s->active, 1, memory_order_relaxed);
}

void ups_server_idle(struct ups_server *s)
{
	atomic_fetch_sub_explicit(&s->active, 1, memory_order_relaxed);
}
