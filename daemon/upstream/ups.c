/* daemon/upstream/ups.c - the registry of shared real servers (a chained hash table under one
 *   mutex, touched when routes are built or freed) and their lock-free health and load. */
#include "ups.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "name.h"

#define UPS_BUCKETS_MIN 64

struct ups_reg {
	atomic_uint refs;           /* the creator's, and one per live server */
	pthread_mutex_t lock;       /* the buckets, their chains, and a server's refs leaving 1 */
	struct ups_server **buckets;
	size_t nbuckets;            /* a power of two */
	size_t n;
	struct ups_server *names;   /* servers named by DNS names (name.h's list) */
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

/* "name:port" -> the name's resolution state, or NULL (ENOMEM, or no port). */
static struct ups_name *name_new(const char *text)
{
	const char *colon = strrchr(text, ':');
	struct ups_name *n;
	unsigned long port;
	char *end;
	if (colon == NULL || colon == text || (size_t)(colon - text) >= sizeof(n->host))
		return NULL;
	port = strtoul(colon + 1, &end, 10);
	if (*end != '\0' || port == 0 || port > 65535 || (n = calloc(1, sizeof *n)) == NULL)
		return NULL;
	snprintf(n->host, sizeof n->host, "%.*s", (int)(colon - text), text);
	n->port = (unsigned)port;
	pthread_mutex_init(&n->lock, NULL);
	atomic_init(&n->resolutions, 0);
	atomic_init(&n->failures, 0);
	return n;
}

static void name_link(struct ups_reg *g, struct ups_server *s)
{
	s->name->list_next = g->names;
	s->name->list_prev = &g->names;
	if (g->names != NULL)
		g->names->name->list_prev = &s->name->list_next;
	g->names = s;
}

static void name_unlink(struct ups_server *s)
{
	*s->name->list_prev = s->name->list_next;
	if (s->name->list_next != NULL)
		s->name->list_next->name->list_prev = s->name->list_prev;
}

static void server_free(struct ups_server *s)
{
	if (s->name != NULL) {
		pthread_mutex_destroy(&s->name->lock);
		free(s->name);
	}
	free(s);
}

static struct ups_server *server_new(struct ups_reg *g, const struct cfg_addr *a,
	const struct ups_key *k)
{
	struct ups_server *s = calloc(1, sizeof *s);
	if (s == NULL)
		return NULL;
	if (!is_ip(k) && (s->name = name_new(a->text)) == NULL) {
		free(s);
		return NULL;
	}
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
		if (s->name != NULL)
			name_link(g, s);
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
	if (s->name != NULL)
		name_unlink(s);
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
	server_free(s);
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

int ups_server_sockaddr(struct ups_server *s, struct sockaddr_storage *out, socklen_t *len)
{
	struct ups_name *n = s->name;
	int rc = 0;
	if (n == NULL) {
		*out = s->addr.sa;
		*len = s->addr.len;
		return 0;
	}
	pthread_mutex_lock(&n->lock);
	if (n->n == 0) {
		rc = -1;
	} else {
		size_t i = n->next++ % n->n;
		*out = n->addrs[i];
		*len = n->lens[i];
	}
	pthread_mutex_unlock(&n->lock);
	if (rc != 0)
		errno = EHOSTUNREACH;
	return rc;
}

size_t ups_reg_names_due(struct ups_reg *g, int64_t now, struct ups_server **out, size_t max)
{
	size_t k = 0;
	pthread_mutex_lock(&g->lock);
	for (struct ups_server *s = g->names; s != NULL && k < max; s = s->name->list_next)
		if (!s->name->pending && s->name->due <= now) {
			s->name->pending = 1;
			/* under the lock a listed server has a reference: it cannot be on its way out */
			out[k++] = ups_server_ref(s);
		}
	pthread_mutex_unlock(&g->lock);
	return k;
}

void ups_name_done(struct ups_server *s, const struct sockaddr_storage *addrs,
	const socklen_t *lens, size_t n, int keep, int64_t due)
{
	struct ups_name *nm = s->name;
	pthread_mutex_lock(&nm->lock);
	if (!keep) {
		for (size_t i = 0; i < n && i < UPS_NAME_ADDRS; i++) {
			nm->addrs[i] = addrs[i];
			nm->lens[i] = lens[i];
		}
		nm->n = n < UPS_NAME_ADDRS ? n : UPS_NAME_ADDRS;
	}
	pthread_mutex_unlock(&nm->lock);
	atomic_fetch_add(&nm->resolutions, 1);
	if (n == 0)
		atomic_fetch_add(&nm->failures, 1);
	pthread_mutex_lock(&s->reg->lock);
	nm->due = due;
	nm->pending = 0;
	pthread_mutex_unlock(&s->reg->lock);
	ups_server_put(s);
}
