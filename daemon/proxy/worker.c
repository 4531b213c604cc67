/* daemon/proxy/worker.c - one worker's proxy state: its connections, its origin pools, its access
 *   log descriptor and the deadlines of deleted listeners' connections. */
#include "worker.h"

#include <stdlib.h>

#include "close.h"
#include "conn.h"
#include "log.h"
#include "pool.h"
#include "px.h"
#include "route.h"

struct px_worker *px_worker_new(struct event_base *base)
{
	struct px_worker *w = calloc(1, sizeof *w);
	if (w == NULL)
		return NULL;
	w->base = base;
	TAILQ_INIT(&w->conns);
	LIST_INIT(&w->retiring);
	LIST_INIT(&w->pools);
	w->alog_fd = -1;
	return w;
}

static void retire_free(struct px_retire *t)
{
	LIST_REMOVE(t, link);
	event_free(t->timer);
	px_route_unref(t->route);
	free(t);
}

void px_worker_destroy(struct px_worker *w)
{
	struct px_conn *c;
	if (w == NULL)
		return;
	while ((c = TAILQ_FIRST(&w->conns)) != NULL)
		px_conn_free(c);
	while (!LIST_EMPTY(&w->retiring))
		retire_free(LIST_FIRST(&w->retiring));
	px_pools_destroy(w);
	log_access_close(w->alog_fd);
	free(w->alog_path);
	free(w);
}

size_t px_worker_conn_count(const struct px_worker *w)
{
	return w->nconns;
}

/* Applies how(c) to every connection of r. Closing one frees only that one (in its leave), so
 * the next is fetched first. */
static void each_conn(struct px_worker *w, struct px_route *r, void (*how)(struct px_conn *))
{
	struct px_conn *c, *next;
	for (c = TAILQ_FIRST(&w->conns); c != NULL; c = next) {
		next = TAILQ_NEXT(c, link);
		if (c->route != r || c->closing)
			continue;
		px_conn_enter(c);
		how(c);
		px_conn_leave(c);
	}
}

static void drain_close(struct px_conn *c)
{
	px_conn_close(c, PX_CLOSE_DRAIN_TIMEOUT);
}

static void retire_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct px_retire *t = arg;
	(void)fd;
	(void)what;
	each_conn(t->w, t->route, drain_close);
	retire_free(t);
}

void px_worker_retire(struct px_worker *w, struct px_route *r, unsigned timeout_ms)
{
	struct px_retire *t = calloc(1, sizeof *t);
	struct timeval tv = { 0, 0 };
	each_conn(w, r, px_conn_retire);
	if (t == NULL || (t->timer = evtimer_new(w->base, retire_timer_cb, t)) == NULL) {
		LOG_WARN("px", "listener=%s: out of memory: draining connections closed now", r->id);
		free(t);
		each_conn(w, r, drain_close);
		return;
	}
	t->w = w;
	t->route = px_route_ref(r);
	LIST_INSERT_HEAD(&w->retiring, t, link);
	(void)px_ms(&tv, timeout_ms);   /* 0 leaves tv zero: close what is left at once */
	evtimer_add(t->timer, &tv);
}
