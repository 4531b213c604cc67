/* daemon/proxy/pool.c - per worker, per shared server: idle keep-alive origin connections,
 *   most recently used first, closed when the origin closes them, sends anything or stays idle
 *   too long. */
#include "pool.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>

#include "conn.h"
#include "log.h"
#include "origin.h"
#include "rd.h"
#include "tx.h"
#include "upstream/ups.h"
#include "worker.h"

/* A connection pooled less than this ago is taken without the peek for a replayable request:
 * under load the one just released serves the next request, and an origin closes idle
 * connections after seconds, not within a loop turn; should it have, the request goes once
 * more on a new connection (origin.c, stale()). */
#define PX_POOL_FRESH_US 2000

/* The pool's reference keeps its server alive: a pointer names one server while pooled. */
static struct px_pool *pool_find(struct px_worker *w, const struct ups_server *srv, int tls)
{
	struct px_pool *p;
	LIST_FOREACH(p, &w->pools, link)
		if (p->srv == srv && p->tls == tls)
			return p;
	return NULL;
}

/* Takes o out of its pool; the pool goes when it holds nothing. */
static void pool_remove(struct px_origin *o)
{
	struct px_pool *p = o->pool;
	TAILQ_REMOVE(&p->idle, o, link);
	o->pool = NULL;
	if (--p->n == 0) {
		LIST_REMOVE(p, link);
		ups_server_put(p->srv);     /* no lock unless no route names it any more */
		free(p);
	}
}

/* Whatever happens to an idle connection ends it: EOF, error, idle timeout, or bytes nobody
 * asked for (the connection is out of step). Freed inside its own callback: nothing else
 * refers to a pooled origin, and libevent holds the bufferevent until the callback returns. */
static void idle_end(struct px_origin *o)
{
	pool_remove(o);
	px_origin_free(o);
}

static void idle_read(void *arg)
{
	idle_end(arg);
}

static void idle_event(short what, void *arg)
{
	(void)what;
	idle_end(arg);
}

/* The origin may have closed it a moment ago without our loop having seen it yet. */
static int alive(struct px_origin *o, int replay)
{
	char b;
	ssize_t n;
	int64_t age;
	if (evbuffer_get_length(bufferevent_get_input(o->bev)) != 0 ||
	    (o->rd.tls != NULL && SSL_has_pending(o->rd.tls->ssl)))
		return 0;
	age = px_now_us(o->w) - o->pooled_us;
	if (replay && age >= 0 && age < PX_POOL_FRESH_US)
		return 1;
	n = recv(bufferevent_getfd(o->bev), &b, 1, MSG_PEEK | MSG_DONTWAIT);
	return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

/* The first idle connection of p verified by client for name (TLS; "" none), or NULL. */
static struct px_origin *first_for(struct px_pool *p, const struct tls_client *client,
	const char *name)
{
	struct px_origin *o;
	if (!p->tls)
		return TAILQ_FIRST(&p->idle);
	TAILQ_FOREACH(o, &p->idle, link)
		if (o->tls_client == client &&
		    strcmp(o->tls_name != NULL ? o->tls_name : "", name) == 0)
			return o;
	return NULL;
}

struct px_origin *px_pool_take(struct px_worker *w, const struct ups_server *srv,
	const struct tls_client *client, const char *tls_name, int replay)
{
	struct px_pool *p;
	struct px_origin *o;
	while ((p = pool_find(w, srv, tls_name != NULL)) != NULL &&
	    (o = first_for(p, client, tls_name)) != NULL) {
		pool_remove(o);
		px_rd_setcb(&o->rd, NULL, NULL, NULL);
		if (alive(o, replay))
			return o;
		px_origin_free(o);
	}
	return NULL;
}

/* srv: held by the caller (the route o served), so taking a reference needs no lock. */
static struct px_pool *pool_get(struct px_worker *w, struct ups_server *srv, int tls)
{
	struct px_pool *p = pool_find(w, srv, tls);
	if (p != NULL || (p = calloc(1, sizeof *p)) == NULL)
		return p;
	p->w = w;
	p->srv = ups_server_ref(srv);
	p->tls = tls;
	TAILQ_INIT(&p->idle);
	LIST_INSERT_HEAD(&w->pools, p, link);
	return p;
}

int px_pool_put(struct px_origin *o, const struct cfg_http *h)
{
	struct px_pool *p = pool_find(o->w, o->srv, o->rd.tls != NULL);
	if (h->origin_keepalive == 0 || (p != NULL && p->n >= h->origin_keepalive) ||
	    (p = pool_get(o->w, o->srv, o->rd.tls != NULL)) == NULL)
		return -1;
	TAILQ_INSERT_HEAD(&p->idle, o, link);
	p->n++;
	o->pool = p;
	o->srv = p->srv;            /* the route it served may go before the pool does: */
	o->addr = &p->srv->addr;    /* these are the pool's now */
	o->pooled_us = px_now_us(o->w);
	bufferevent_setcb(o->bev, NULL, NULL, NULL, NULL);  /* its output is empty: no writes */
	bufferevent_setwatermark(o->bev, EV_WRITE, 0, 0);
	bufferevent_disable(o->bev, EV_WRITE);     /* no system call; and no write timeout runs */
	px_rd_setcb(&o->rd, idle_read, idle_event, o);
	px_rd_timeout(&o->rd, h->origin_keepalive_timeout_ms);
	px_rd_enable(&o->rd);       /* already reading when it served: no system call */
	return 0;
}

void px_pools_destroy(struct px_worker *w)
{
	struct px_pool *p;
	while ((p = LIST_FIRST(&w->pools)) != NULL)
		idle_end(TAILQ_FIRST(&p->idle));
}
