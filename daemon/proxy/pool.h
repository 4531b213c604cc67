/* daemon/proxy/pool.h - a worker's idle keep-alive origin connections, one pool per shared real
 *   server (daemon/upstream/ups.h: one per address and port, whichever routes name it).
 * Ownership: a pool owns its idle px_origins and a reference to its server (so the server, and
 *   the address its connections were made to, outlive every route that named it);
 *   px_pool_take() hands a connection to the caller, px_pool_put() takes one back. The worker
 *   owns its pools (worker.h).
 * Lifetime: a pool exists while it holds an idle connection; px_pools_destroy() at worker
 *   teardown. Threads: the owning worker's.
 */
#ifndef GAAPD_PX_POOL_H
#define GAAPD_PX_POOL_H

#include <sys/queue.h>

#include "px.h"

struct px_origin;
struct px_worker;
struct ups_server;

/* The idle keep-alive connections to one server on one worker. */
struct px_pool {
	LIST_ENTRY(px_pool) link;
	struct px_worker *w;
	struct ups_server *srv;     /* a reference; the key, with: */
	int tls;                    /* HTTPS connections (never handed to a plain request) */
	TAILQ_HEAD(, px_origin) idle;   /* most recently used first */
	unsigned n;
};

/* tls_name NULL: a plain connection; else a TLS one verified by client for that name ("" none). */
/* An idle connection to srv, live as far as a peek can tell, out of w's pool (its callbacks
 * cleared, the caller sets them); NULL when there is none. replay: the request can go again on
 * a new connection should this one turn out stale, so one pooled a moment ago is not peeked at. */
struct tls_client;
struct px_origin *px_pool_take(struct px_worker *w, const struct ups_server *srv,
	const struct tls_client *client, const char *tls_name, int replay);
/* Keeps o (served, at a clean message boundary, detached from its conn) idle in its worker's
 * pool for h->origin_keepalive_timeout_ms. 0, or -1 when the pool is full (o is the caller's). */
int px_pool_put(struct px_origin *o, const struct cfg_http *h);
/* Frees every pool of w and the idle connections in them. */
void px_pools_destroy(struct px_worker *w);

#endif
