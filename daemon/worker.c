/* daemon/worker.c - see worker.h. */
#include "worker.h"

#include <errno.h>
#include <event2/event.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/queue.h>
#include <unistd.h>

#include "log.h"
#include "proxy/px.h"
#include "util.h"

struct wrk_mail {
	STAILQ_ENTRY(wrk_mail) link;
	wrk_fn fn;
	void *arg;
};

struct wrk {
	size_t index;
	pthread_t thread;
	int started;
	struct event_base *base;
	struct px_worker *px;
	int mail_fd;                    /* eventfd: wrk_post() wakes the loop through it */
	struct event *mail_ev;          /* reads mail_fd on the worker's base */
	pthread_mutex_t mail_lock;      /* guards mail and closed */
	STAILQ_HEAD(, wrk_mail) mail;
	int closed;
	atomic_size_t conns_seen;       /* the worker's connection count, as it last reported it */
};

/* The worker's base has no locks (EVENT_BASE_FLAG_NOLOCK: every event operation on it would
 * take a mutex otherwise), so no other thread may touch it: wrk_post() wakes the loop by
 * writing the eventfd, which only the poster of the first letter into an empty queue does.
 * The counter is cleared before the queue is taken, so a letter queued after that take finds
 * the queue empty and writes again. */
static void run_mail(evutil_socket_t fd, short what, void *arg)
{
	struct wrk *w = arg;
	STAILQ_HEAD(, wrk_mail) todo = STAILQ_HEAD_INITIALIZER(todo);
	eventfd_t n;
	(void)fd;
	(void)what;
	(void)!eventfd_read(w->mail_fd, &n);   /* EAGAIN when joined and empty: nothing to clear */
	pthread_mutex_lock(&w->mail_lock);
	STAILQ_CONCAT(&todo, &w->mail);
	pthread_mutex_unlock(&w->mail_lock);
	while (!STAILQ_EMPTY(&todo)) {
		struct wrk_mail *m = STAILQ_FIRST(&todo);
		STAILQ_REMOVE_HEAD(&todo, link);
		m->fn(w, m->arg);
		free(m);
	}
}

int wrk_post(struct wrk *w, wrk_fn fn, void *arg)
{
	struct wrk_mail *m = malloc(sizeof(*m));
	int wake;
	if (m == NULL)
		return -1;
	m->fn = fn;
	m->arg = arg;
	pthread_mutex_lock(&w->mail_lock);
	if (w->closed) {
		pthread_mutex_unlock(&w->mail_lock);
		free(m);
		return -1;
	}
	wake = STAILQ_EMPTY(&w->mail);
	STAILQ_INSERT_TAIL(&w->mail, m, link);
	/* under the lock: run_mail() cannot take the queue between the insert and the wake-up */
	if (wake && eventfd_write(w->mail_fd, 1) != 0)
		LOG_ERR("wrk", "worker=%zu: cannot wake: %s", w->index, strerror(errno));
	pthread_mutex_unlock(&w->mail_lock);
	return 0;
}

static void *thread_main(void *arg)
{
	struct wrk *w = arg;
	LOG_DEBUG("wrk", "worker=%zu started", w->index);
	/* EVLOOP_NO_EXIT_ON_EMPTY: a worker with no listeners yet must keep waiting for mail. */
	event_base_loop(w->base, EVLOOP_NO_EXIT_ON_EMPTY);
	LOG_DEBUG("wrk", "worker=%zu stopped", w->index);
	return NULL;
}

static void wrk_destroy(struct wrk *w)
{
	if (w == NULL)
		return;
	px_worker_destroy(w->px);
	/* Bufferevents freed with a deferred callback pending are released by the loop: run it once. */
	if (w->base != NULL)
		event_base_loop(w->base, EVLOOP_NONBLOCK);
	if (w->mail_ev != NULL)
		event_free(w->mail_ev);
	if (w->base != NULL)
		event_base_free(w->base);
	if (w->mail_fd >= 0)
		close(w->mail_fd);
	pthread_mutex_destroy(&w->mail_lock);
	free(w);
}

/* One thread touches the base: no locks in it (see run_mail()). */
static struct event_base *base_new(void)
{
	struct event_config *cfg = event_config_new();
	struct event_base *b = NULL;
	if (cfg == NULL)
		return NULL;
	if (event_config_set_flag(cfg, EVENT_BASE_FLAG_NOLOCK) == 0)
		b = event_base_new_with_config(cfg);
	event_config_free(cfg);
	return b;
}

static struct wrk *wrk_new(size_t index)
{
	struct wrk *w = calloc(1, sizeof(*w));
	if (w == NULL)
		return NULL;
	w->index = index;
	atomic_init(&w->conns_seen, SIZE_MAX);  /* not reported yet */
	pthread_mutex_init(&w->mail_lock, NULL);
	STAILQ_INIT(&w->mail);
	w->mail_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w->mail_fd < 0 || (w->base = base_new()) == NULL ||
	    (w->mail_ev = event_new(w->base, w->mail_fd, EV_READ | EV_PERSIST, run_mail,
	    w)) == NULL || event_add(w->mail_ev, NULL) != 0 ||
	    (w->px = px_worker_new(w->base)) == NULL) {
		wrk_destroy(w);
		return NULL;
	}
	return w;
}

struct wrk_pool *wrk_pool_start(unsigned n, char *err, size_t errlen)
{
	struct wrk_pool *p = calloc(1, sizeof(*p));
	sigset_t old;
	if (p == NULL || (p->w = calloc(n, sizeof(*p->w))) == NULL) {
		snprintf(err, errlen, "workers: out of memory");
		free(p);
		return NULL;
	}
	util_block_process_signals(&old);   /* workers never take process signals */
	for (p->n = 0; p->n < n; p->n++) {
		struct wrk *w = wrk_new(p->n);
		if (w == NULL) {
			snprintf(err, errlen, "worker %zu: cannot create its event loop", p->n);
			goto fail;
		}
		p->w[p->n] = w;
		int rc = pthread_create(&w->thread, NULL, thread_main, w);
		if (rc != 0) {
			snprintf(err, errlen, "worker %zu: pthread_create: %s", p->n, strerror(rc));
			p->n++;
			goto fail;
		}
		w->started = 1;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return p;
fail:
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	wrk_pool_destroy(p);
	return NULL;
}

static void stop_loop(struct wrk *w, void *arg)
{
	(void)arg;
	event_base_loopbreak(w->base);
}

void wrk_pool_join(struct wrk_pool *p)
{
	if (p == NULL)
		return;
	for (size_t i = 0; i < p->n; i++)
		if (p->w[i] != NULL && p->w[i]->started && wrk_post(p->w[i], stop_loop, NULL) != 0)
			LOG_ERR("wrk", "worker=%zu: cannot post stop", i);
	for (size_t i = 0; i < p->n; i++) {
		struct wrk *w = p->w[i];
		if (w == NULL)
			continue;
		if (w->started)
			pthread_join(w->thread, NULL);
		w->started = 0;
		pthread_mutex_lock(&w->mail_lock);
		w->closed = 1;
		pthread_mutex_unlock(&w->mail_lock);
		run_mail(-1, 0, w);     /* mail posted after the break still owns memory */
	}
}

void wrk_pool_destroy(struct wrk_pool *p)
{
	if (p == NULL)
		return;
	wrk_pool_join(p);
	for (size_t i = 0; i < p->n; i++)
		wrk_destroy(p->w[i]);
	free(p->w);
	free(p);
}

static void report_conns(struct wrk *w, void *arg)
{
	(void)arg;
	atomic_store(&w->conns_seen, px_worker_conn_count(w->px));
}

size_t wrk_pool_conns(struct wrk_pool *p)
{
	size_t n = 0;
	for (size_t i = 0; i < p->n; i++) {
		size_t seen = atomic_load(&p->w[i]->conns_seen);
		n = seen == SIZE_MAX || n == SIZE_MAX ? SIZE_MAX : n + seen;
		if (wrk_post(p->w[i], report_conns, NULL) != 0)
			LOG_WARN("wrk", "worker=%zu: cannot ask for its connection count", i);
	}
	return n;
}

size_t wrk_index(const struct wrk *w)
{
	return w->index;
}

struct event_base *wrk_base(struct wrk *w)
{
	return w->base;
}

struct px_worker *wrk_px(struct wrk *w)
{
	return w->px;
}
