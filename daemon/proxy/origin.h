/* daemon/proxy/origin.h - the origin connection serving a client's exchange: connecting (or
 *   taking one from the pool), its timeouts, reading and relaying the response.
 * Ownership: a px_origin owns its bufferevent (socket, output, write timeout), its px_rd and its
 *   response parser. During an exchange its conn owns it (c->org); between exchanges its pool
 *   does (pool.h). Origins retired during an exchange wait on the conn's dead list.
 * Lifetime: a retired origin has no callbacks left, so every origin callback runs for c->org or
 *   for a pooled origin; the conn's outermost px_conn_leave() frees the retired ones.
 *   Threads: the owning worker's.
 */
#ifndef GAAPD_PX_ORIGIN_H
#define GAAPD_PX_ORIGIN_H

#include <sys/queue.h>

#include <stdint.h>

#include "conn.h"
#include "msg.h"
#include "rd.h"
#include "rewrite.h"

struct tls_client;

struct px_origin {
	TAILQ_ENTRY(px_origin) link;    /* in its pool, while idle */
	struct px_origin *next_dead;
	struct px_worker *w;
	struct px_conn *c;          /* the conn it serves; NULL while pooled */
	struct px_pool *pool;       /* while pooled */
	struct bufferevent *bev;
	struct px_tmo tmo;          /* bev's write timeout */
	struct px_rd rd;            /* reads bev's socket into its input; started once connected */
	struct ups_server *srv;     /* its server: c's route's while serving, the pool's while idle */
	const struct cfg_addr *addr;    /* srv's */
	int idx;                    /* its origin in c->route while serving */
	struct px_msg resp;
	enum px_frame frame;        /* how the current response body goes to the client */
	unsigned connected : 1;
	unsigned reused : 1;        /* came from a pool: it may have been closed meanwhile */
	unsigned got_bytes : 1;     /* the origin sent something during this exchange */
	unsigned busy : 1;          /* counted in its server's active */
	unsigned head_sent : 1;     /* the current response head went to the client */
	unsigned in_chunked : 1;    /* the origin sends the body chunked (callbacks copy it) */
	unsigned eof : 1;           /* tunnel: the origin has ended what it sends */
	unsigned shut : 1;          /* tunnel: its write side is shut (the client ended) */
	int64_t pooled_us;          /* px_now_us() when it last went into the pool */
	char *tls_name;             /* TLS: the name it was verified for (SNI); NULL: none */
	struct tls_client *tls_client;  /* TLS: a reference to the context that verified it */
};

/* Makes c->org ready for a new request: a pooled connection to the scheduler's choice, or a new
 * one. 0, or -1 with c closed (502 at once when every origin is down). */
int px_origin_get(struct px_conn *c);
/* Which timeouts an origin connection runs: while the request is sent, only the write timeout
 * (= connect timeout: no progress); once it is all in (at once for a bodiless request), the
 * response timeout on reads too. A long upload is not a silent origin. */
enum px_org_phase { PX_ORG_SENDING, PX_ORG_WAITING };
void px_origin_timeouts(struct px_origin *o, enum px_org_phase phase);
/* o gets no more callbacks: reads and writes stop. */
void px_origin_quiet(struct px_origin *o);
/* Retires c->org: it moves to the dead list and reads stop; NULL-safe. */
void px_origin_retire(struct px_conn *c);
void px_origin_free(struct px_origin *o);          /* NULL-safe; frees the bufferevent too */

#endif
