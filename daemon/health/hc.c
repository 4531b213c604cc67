/* daemon/health/hc.c - the checker's life (start, stop, its references) and its registry of
 *   targets keyed by (server, params), found or created by hc_target_get() on any thread; the
 *   checker's thread (sched.c) runs their probes. */
#include "hc_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "upstream/ups.h"

static void checker_unref(struct hc_checker *c)
{
	if (atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) != 1)
		return;
	ups_reg_unref(c->reg);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

static int checker_loop(struct hc_checker *c, char *err, size_t errlen)
{
	if ((c->base = event_base_new()) == NULL ||
	    (c->mailbox = event_new(c->base, -1, 0, hc_mailbox, c)) == NULL) {
		snprintf(err, errlen, "health: no event loop");
		return -1;
	}
	return 0;
}

struct hc_checker *hc_start(struct ups_reg *reg, char *err, size_t errlen)
{
	struct hc_checker *c = calloc(1, sizeof *c);
	int e;
	if (c == NULL) {
		snprintf(err, errlen, "health: out of memory");
		return NULL;
	}
	pthread_mutex_init(&c->mu, NULL);
	atomic_init(&c->refs, 1);
	c->reg = ups_reg_ref(reg);
	/* the jitter's seed: xorshift's state must never be 0 */
	c->rng = ((uint64_t)time(NULL) * 0x9e3779b97f4a7c15u ^ (uintptr_t)c) | 1;
	if (checker_loop(c, err, errlen) != 0)
		goto fail;
	if ((e = pthread_create(&c->thread, NULL, hc_loop, c)) != 0) {
		snprintf(err, errlen, "health: thread: %s", strerror(e));
		goto fail;
	}
	c->running = 1;
	return c;
fail:
	if (c->mailbox != NULL)
		event_free(c->mailbox);
	if (c->base != NULL)
		event_base_free(c->base);
	checker_unref(c);
	return NULL;
}

void hc_stop(struct hc_checker *c)
{
	if (c == NULL)
		return;
	if (c->running) {
		pthread_mutex_lock(&c->mu);
		c->stopping = 1;
		pthread_mutex_unlock(&c->mu);
		event_active(c->mailbox, 0, 0);     /* thread-safe (evthread_use_pthreads()) */
		pthread_join(c->thread, NULL);      /* it has freed its loop */
		c->running = 0;
	}
	checker_unref(c);
}

/* p with every string's tail zeroed, so that equal params are equal bytes (hash, compare); a zero
 * delay or timeout made usable; the threshold capped as hc_verdict() caps it. */
static void normalize(struct hc_params *n, const struct hc_params *p)
{
	memset(n, 0, sizeof *n);
	n->delay_ms = p->delay_ms < HC_DELAY_MIN_MS ? HC_DELAY_MIN_MS : p->delay_ms;
	n->timeout_ms = p->timeout_ms != 0 ? p->timeout_ms : n->delay_ms;
	memcpy(n->method, p->method, strnlen(p->method, sizeof n->method - 1));
	memcpy(n->path, p->path, strnlen(p->path, sizeof n->path - 1));
	memcpy(n->host, p->host, strnlen(p->host, sizeof n->host - 1));
	n->status_classes = p->status_classes;
	n->fail_threshold = p->fail_threshold > HC_FAILS_MAX ? HC_FAILS_MAX : p->fail_threshold;
	if (n->fail_threshold > 0) {    /* without one, window and block mean nothing: share */
		n->fail_window_ms = p->fail_window_ms;
		n->block_ms = p->block_ms;
	}
}

/* FNV-1a over the server's identity and the params' bytes. */
static size_t slot_of(const struct ups_server *s, const struct hc_params *p)
{
	const unsigned char *b = (const unsigned char *)p;
	uint64_t h = 0xcbf29ce484222325u ^ (uintptr_t)s;
	for (size_t i = 0; i < sizeof *p; i++)
		h = (h ^ b[i]) * 0x100000001b3u;
	return (size_t)(h % HC_SLOTS);
}

static struct hc_target *target_new(struct hc_checker *c, struct ups_server *s,
	const struct hc_params *p)
{
	struct hc_target *t = calloc(1, sizeof *t);
	if (t == NULL)
		return NULL;
	atomic_init(&t->pub.up, 1);             /* a new target starts up */
	atomic_init(&t->refs, 1);
	t->p = *p;
	t->srv = s;
	t->st.up = 1;
	pthread_mutex_init(&t->err_mu, NULL);
	atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
	t->c = c;
	return t;
}

/* The registry's lookup, or a new target registered and queued for its first probe; under mu.
 * Takes s's reference (kept by a new target, dropped when one exists). */
static struct hc_target *find_or_add(struct hc_checker *c, struct ups_server *s,
	const struct hc_params *p)
{
	size_t i = slot_of(s, p);
	struct hc_target *t;
	for (t = c->slots[i]; t != NULL; t = t->next)
		if (t->srv == s && memcmp(&t->p, p, sizeof *p) == 0) {
			atomic_fetch_add_explicit(&t->refs, 1, memory_order_relaxed);
			ups_server_put(s);          /* not the last: t holds one */
			return t;
		}
	if ((t = target_new(c, s, p)) == NULL) {
		ups_server_put(s);
		return NULL;
	}
	t->next = c->slots[i];
	c->slots[i] = t;
	t->want_start = 1;
	hc_post(c, t);
	return t;
}

struct hc_target *hc_target_get(struct hc_checker *c, const struct cfg_addr *a,
	const struct hc_params *p)
{
	struct hc_params n;
	struct ups_server *s;
	struct hc_target *t = NULL;
	if (c == NULL)
		return NULL;
	normalize(&n, p);
	if ((s = ups_server_get(c->reg, a)) == NULL)
		return NULL;
	pthread_mutex_lock(&c->mu);
	if (!c->stopping)
		t = find_or_add(c, s, &n);
	else
		ups_server_put(s);          /* too late: no checker, no check */
	pthread_mutex_unlock(&c->mu);
	return t;
}

struct hc_target *hc_target_ref(struct hc_target *t)
{
	if (t != NULL)
		atomic_fetch_add_explicit(&t->refs, 1, memory_order_relaxed);
	return t;
}

static void unlink_target(struct hc_checker *c, struct hc_target *t)
{
	struct hc_target **pp = &c->slots[slot_of(t->srv, &t->p)];
	while (*pp != t)
		pp = &(*pp)->next;
	*pp = t->next;
}

/* Lock-free unless it may be the last: then under mu, so that no get can revive t meanwhile. The
 * last put leaves t to the checker's thread (a probe of t may be running there), or frees it here
 * once that thread is gone. */
void hc_target_put(struct hc_target *t)
{
	struct hc_checker *c;
	unsigned n;
	int now = 0;
	if (t == NULL)
		return;
	n = atomic_load_explicit(&t->refs, memory_order_relaxed);
	while (n > 1)
		if (atomic_compare_exchange_weak_explicit(&t->refs, &n, n - 1,
		    memory_order_release, memory_order_relaxed))
			return;
	c = t->c;
	pthread_mutex_lock(&c->mu);
	if (atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel) == 1) {
		unlink_target(c, t);
		t->dead = 1;
		if (c->stopped)
			now = !t->queued;       /* a queued one goes with the thread's leftovers */
		else
			hc_post(c, t);
	}
	pthread_mutex_unlock(&c->mu);
	if (now)
		hc_target_free(t);
}

void hc_target_failed(struct hc_target *t)
{
	if (t != NULL && t->p.fail_threshold > 0)
		atomic_fetch_add_explicit(&t->req_fails, 1, memory_order_relaxed);
}

static uint64_t get(const atomic_uint_fast64_t *v)
{
	return atomic_load_explicit(v, memory_order_relaxed);
}

void hc_target_read(const struct hc_target *t, struct hc_snap *out)
{
	memset(out, 0, sizeof *out);
	out->up = hc_target_up(t);
	if (t == NULL)
		return;
	out->probes = get(&t->probes);
	out->probe_failures = get(&t->probe_failures);
	out->transitions = get(&t->transitions);
	out->latency_sum_us = get(&t->latency_sum_us);
	for (size_t i = 0; i < HC_BUCKETS; i++)
		out->latency[i] = get(&t->latency[i]);
	snprintf(out->origin, sizeof out->origin, "%s", t->srv->addr.text);
	out->params = t->p;
	pthread_mutex_lock((pthread_mutex_t *)&t->err_mu);
	memcpy(out->last_error, t->last_error, sizeof out->last_error);
	pthread_mutex_unlock((pthread_mutex_t *)&t->err_mu);
}

void hc_each(struct hc_checker *c, void (*fn)(const struct hc_target *t, void *arg), void *arg)
{
	if (c == NULL)
		return;
	pthread_mutex_lock(&c->mu);
	for (size_t i = 0; i < HC_SLOTS; i++)
		for (const struct hc_target *t = c->slots[i]; t != NULL; t = t->next)
			fn(t, arg);
	pthread_mutex_unlock(&c->mu);
}

void hc_target_free(struct hc_target *t)
{
	struct hc_checker *c = t->c;
	hc_probe_cancel(t);
	if (t->timer != NULL)
		event_free(t->timer);
	ups_server_put(t->srv);
	pthread_mutex_destroy(&t->err_mu);
	free(t);
	checker_unref(c);
}
