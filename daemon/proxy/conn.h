/* daemon/proxy/conn.h - one client connection, the exchange in flight on it and the origin
 *   connection serving it (internal to daemon/proxy).
 * Ownership: a px_worker owns its px_conns (a TAILQ). A px_conn owns its client bufferevent, its
 *   timer, its request parser, one reference to its route and at most one live origin connection,
 *   which it keeps across requests while both sides allow keep-alive; retired origins wait on its
 *   dead list. An origin's addr points into the conn's route, which outlives it.
 * Lifetime: px_accept() creates a conn. px_conn_close() only marks it: every callback brackets
 *   its work with px_conn_enter()/px_conn_leave(), and the outermost leave frees what was marked
 *   (retired origins at once, the conn once its output is flushed or can no longer be). A retired
 *   origin has no callbacks left, so every origin callback runs for c->org.
 * Threads: everything here runs on the owning worker's thread; only px_route is shared (its
 *   contents are immutable, its counters atomic).
 */
#ifndef GAAPD_PX_CONN_H
#define GAAPD_PX_CONN_H

#include <sys/queue.h>

#include <netinet/in.h>
#include <stdatomic.h>
#include <stdint.h>

#include <event2/bufferevent.h>
#include <event2/event.h>

#include "head.h"
#include "px.h"

/* Output queued towards one peer before we stop reading from the other. */
#define PX_MAX_PENDING (64 * 1024)
/* How long a peer may refuse to take bytes we have for it; cfg_http has no key for it yet. */
#define PX_SEND_TIMEOUT_MS 60000

struct px_route {
	atomic_uint refs;
	atomic_uint next;           /* round-robin cursor */
	char *id;                   /* the listener's id, for logs */
	struct cfg_addr *origins;
	size_t norigins;
	struct cfg_http http;
};

/* The next origin in round-robin order, NULL when the route has none. Any thread. */
const struct cfg_addr *px_route_pick(struct px_route *r);

/* A deleted listener's route on one worker: its connections' deadline (px_worker_retire()). */
struct px_retire {
	LIST_ENTRY(px_retire) link;
	struct px_worker *w;
	struct px_route *route;     /* a reference: the pointer identifies the conns to close */
	struct event *timer;
};

struct px_worker {
	struct event_base *base;
	TAILQ_HEAD(px_conn_list, px_conn) conns;
	LIST_HEAD(, px_retire) retiring;
	size_t nconns;
	uint64_t next_id;
};

enum px_state {
	PX_IDLE,                    /* between requests: the keep-alive (or first-request) timer */
	PX_HEAD,                    /* reading a request head: the header timer */
	PX_BODY,                    /* relaying the request body; the response may be flowing too */
	PX_WAIT,                    /* request complete, parser paused: the response is in flight */
	PX_FLUSH,                   /* response complete, waiting until the client has it all */
};

struct px_origin {
	struct px_conn *c;          /* the conn it serves */
	struct px_origin *next_dead;
	struct bufferevent *bev;
	const struct cfg_addr *addr;
	struct px_msg resp;
	enum px_frame frame;        /* how the current response body goes to the client */
	unsigned connected : 1;
	unsigned idle : 1;          /* kept alive between exchanges, nothing expected */
	unsigned head_sent : 1;     /* the current response head went to the client */
	unsigned in_chunked : 1;    /* the origin sends the body chunked (callbacks copy it) */
};

struct px_conn {
	TAILQ_ENTRY(px_conn) link;
	struct px_worker *w;
	struct px_route *route;
	uint64_t id;
	uint64_t nreq;              /* requests seen, for logs */
	struct bufferevent *bev;
	struct event *timer;        /* header deadline or keep-alive idle, by state */
	char ip[INET6_ADDRSTRLEN];
	struct px_msg req;
	struct px_origin *org;      /* serving (or kept for) this client; NULL when none */
	struct px_origin *dead;     /* retired origins, freed by px_conn_leave() */
	enum px_state state;
	enum px_close reason;
	unsigned in_cb;             /* callback nesting: only the outermost frees */
	unsigned closing : 1;
	unsigned broken : 1;        /* the client socket failed: nothing more can be flushed */
	unsigned eof : 1;           /* the client half-closed: finish what it sent, then close */
	unsigned req_chunked : 1;   /* the request body is re-framed as chunked */
	unsigned req_head : 1;      /* HEAD: the response has no body whatever it says */
	unsigned keep : 1;          /* the client connection outlives this exchange */
	unsigned retiring : 1;      /* its listener was deleted: no exchange after the current one */
	unsigned http10 : 1;        /* the request was HTTP/1.0: no chunked, no 1xx for it */
	unsigned resp_started : 1;  /* a final response head reached the client output */
	unsigned client_throttled : 1;  /* client reads stopped: the origin's output is full */
	unsigned origin_throttled : 1;  /* origin reads stopped: the client's output is full */
};

/* Frees c and everything it owns; not from inside one of c's callbacks (px_conn_leave() decides
 * when), except at worker teardown. */
void px_conn_free(struct px_conn *c);
/* c's listener was deleted: an idle c closes now, a busy one after its current exchange. */
void px_conn_retire(struct px_conn *c);
void px_conn_enter(struct px_conn *c);
void px_conn_leave(struct px_conn *c);             /* may free c */
/* Marks c closed for reason (logged); a status reply goes out first when one still can. */
void px_conn_close(struct px_conn *c, enum px_close reason);
/* The final response is complete in the client's output: next request once it is written. */
void px_conn_response_done(struct px_conn *c);
/* After moving bytes into to's output: stop reading from from while to is full. 1 = stopped. */
int px_throttle(struct bufferevent *from, struct bufferevent *to);
/* The client's output has room again: origin reads may resume. */
void px_conn_output_drained(struct px_conn *c);
/* The origin's output has room again (or the origin is gone): client reads may resume. */
void px_conn_input_resume(struct px_conn *c);
/* ms as a timeval in *tv; NULL (no timeout) for 0. */
const struct timeval *px_ms(struct timeval *tv, unsigned ms);

/* Makes c->org ready for a new request: the kept origin, or a new connection (round robin).
 * 0, or -1 with c closed. */
int px_origin_get(struct px_conn *c);
/* Which timeouts an origin connection runs: while the request is sent, only the write timeout
 * (= connect timeout: no progress); once it is all in, the response timeout on reads too; none
 * while idle. A long upload is not a silent origin. */
enum px_org_phase { PX_ORG_SENDING, PX_ORG_WAITING, PX_ORG_IDLE };
void px_origin_timeouts(struct px_origin *o, enum px_org_phase phase);
/* Retires c->org: it moves to the dead list and reads stop; NULL-safe. */
void px_origin_retire(struct px_conn *c);
void px_origin_free(struct px_origin *o);          /* NULL-safe; frees the bufferevent too */

#endif
