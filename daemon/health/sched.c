/* daemon/health/sched.c - the checker's thread: its mailbox (targets to start or to free, posted
 *   from any thread), each target's probe schedule, and the verdicts the probes lead to.
 * One timer event per target: libevent keeps timers in a min-heap, so 10,000 targets cost
 *   10,000 small events and O(log n) per tick, which a wheel of our own would not beat by much.
 *   Each tick re-arms its timer first, so probes start every delay_ms from the previous start;
 *   one still running when the next is due is left alone (never two at once). */
#include "hc_int.h"

#include <stdio.h>
#include <string.h>

#include <event2/event.h>

#include "log.h"
#include "util.h"
#include "upstream/ups.h"

_Static_assert(HC_BUCKETS == sizeof ((struct hc_snap *)0)->latency / sizeof (uint64_t),
	"hc_snap.latency has a slot per bucket");


void hc_post(struct hc_checker *c, struct hc_target *t)
{
	if (!t->queued) {
		t->queued = 1;
		t->qnext = c->queue;
		c->queue = t;
	}
	event_active(c->mailbox, 0, 0);
}

static void publish(struct hc_target *t, const char *why)
{
	const struct hc_params *p = &t->p;
	const char *o = t->srv->addr.text;
	atomic_store_explicit(&t->pub.up, t->st.up, memory_order_relaxed);
	atomic_fetch_add_explicit(&t->transitions, 1, memory_order_relaxed);
	if (t->st.up)
		LOG_INFO("health", "origin=%s check=%s %s host=%s: up", o, p->method, p->path,
			p->host);
	else if (p->fail_threshold == 0)
		LOG_WARN("health", "origin=%s check=%s %s host=%s: down (%d failed probes: %s)", o,
			p->method, p->path, p->host, HC_FALL, why);
	else
		LOG_WARN("health", "origin=%s check=%s %s host=%s: down for %u ms (%u failures "
			"within %u ms: %s)", o, p->method, p->path, p->host, p->block_ms,
			p->fail_threshold, p->fail_window_ms, why);
}

static void count(atomic_uint_fast64_t *v, uint64_t n)
{
	atomic_fetch_add_explicit(v, n, memory_order_relaxed);
}

void hc_probe_done(struct hc_target *t, int ok, const char *why, int64_t latency_us)
{
	count(&t->probes, 1);
	if (!ok) {
		count(&t->probe_failures, 1);
		pthread_mutex_lock(&t->err_mu);
		snprintf(t->last_error, sizeof t->last_error, "%s", why);
		pthread_mutex_unlock(&t->err_mu);
	}
	if (latency_us >= 0) {
		count(&t->latency[util_latency_bucket(latency_us)], 1);
		count(&t->latency_sum_us, (uint64_t)latency_us);
	}
	if (hc_verdict(&t->st, &t->p, ok, 0, ups_now_ms()))
		publish(t, why);
	/* the checks decide when a server comes back, as HAProxy's do for `observe layer4`: a good
	 * probe of a server they hold up ends a passive ejection at once, rather than after
	 * origin_fail_timeout (up to 10 s with the defaults) */
	if (ok && t->st.up && ups_server_succeeded(t->srv))
		LOG_INFO("health", "origin=%s: back for requests (a good probe ended its passive "
			"ejection)", t->srv->addr.text);
}

/* hc_target_failed()'s count since the last tick, each as a failure now: a request's failure
 * reaches the verdict within one delay_ms, which a lock-free counter buys. */
static void fold_requests(struct hc_target *t)
{
	unsigned n = atomic_exchange_explicit(&t->req_fails, 0, memory_order_relaxed);
	int64_t now = ups_now_ms();
	int changed = 0;
	for (unsigned i = 0; i < n && i < HC_FAILS_MAX; i++)
		changed |= hc_verdict(&t->st, &t->p, 0, 1, now);
	if (changed)
		publish(t, "requests failed");
}

static void tick(evutil_socket_t fd, short what, void *arg)
{
	struct hc_target *t = arg;
	const struct timeval tv = { t->p.delay_ms / 1000, (t->p.delay_ms % 1000) * 1000 };
	(void)fd;
	(void)what;
	evtimer_add(t->timer, &tv);
	fold_requests(t);
	if (t->probe == NULL)
		hc_probe_start(t);
}

/* The first probe at a random point of [0, delay_ms): targets created together spread out. */
static void start(struct hc_checker *c, struct hc_target *t)
{
	unsigned ms;
	struct timeval tv;
	c->rng ^= c->rng << 13;
	c->rng ^= c->rng >> 7;
	c->rng ^= c->rng << 17;
	ms = (unsigned)(c->rng % t->p.delay_ms);
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	if ((t->timer = evtimer_new(c->base, tick, t)) == NULL || evtimer_add(t->timer, &tv) != 0)
		LOG_ERR("health", "origin=%s: no timer: not probed", t->srv->addr.text);
}

/* One queued target at a time, taken under mu: once unqueued, a put may queue it again (its
 * qnext then changes), so the list is never walked outside the lock. */
static struct hc_target *pop(struct hc_checker *c, int *dead, int *start_it, int *stopping)
{
	struct hc_target *t;
	pthread_mutex_lock(&c->mu);
	if ((t = c->queue) != NULL) {
		c->queue = t->qnext;
		t->queued = 0;
		*dead = t->dead;
		*start_it = t->want_start;
		t->want_start = 0;
	}
	*stopping = c->stopping;
	pthread_mutex_unlock(&c->mu);
	return t;
}

void hc_mailbox(evutil_socket_t fd, short what, void *arg)
{
	struct hc_checker *c = arg;
	struct hc_target *t;
	int dead, start_it, stopping;
	(void)fd;
	(void)what;
	while ((t = pop(c, &dead, &start_it, &stopping)) != NULL) {
		if (dead)
			hc_target_free(t);      /* unlinked, unreferenced: the checker's alone */
		else if (start_it)
			start(c, t);
	}
	if (stopping)
		event_base_loopbreak(c->base);
}

/* After the loop: targets still referenced stay (frozen: no events, no probe) until their last
 * put, which frees them on its own thread once stopped is set. */
static void leave(struct hc_checker *c)
{
	struct hc_target *t;
	pthread_mutex_lock(&c->mu);
	c->stopped = 1;
	while ((t = c->queue) != NULL) {
		c->queue = t->qnext;
		t->queued = t->want_start = 0;
		if (t->dead)
			hc_target_free(t);
	}
	for (size_t i = 0; i < HC_SLOTS; i++)
		for (t = c->slots[i]; t != NULL; t = t->next) {
			hc_probe_cancel(t);
			if (t->timer != NULL)
				event_free(t->timer);
			t->timer = NULL;
		}
	pthread_mutex_unlock(&c->mu);
	event_free(c->mailbox);
	c->mailbox = NULL;
	event_base_free(c->base);
	c->base = NULL;
}

void *hc_loop(void *arg)
{
	struct hc_checker *c = arg;
	event_base_loop(c->base, EVLOOP_NO_EXIT_ON_EMPTY);
	leave(c);
	return NULL;
}
