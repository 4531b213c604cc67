/* daemon/proxy/conn.h - one client connection and the exchange in flight on it (internal to
 *   daemon/proxy); the write helpers, timeouts and clocks both sides of an exchange use.
 * Ownership: a px_worker owns its px_conns (a TAILQ; worker.h). A px_conn owns its client
 *   bufferevent (the socket, its output and write timeout) and px_rd (its reads), its timer,
 *   its request parser and one reference to its route; during an exchange it owns one origin
 *   connection (c->org; origin.h), taken from the pool of that origin's address (pool.h) or
 *   newly connected, and gives it back to the pool at a clean message boundary. Origins retired
 *   during an exchange wait on the conn's dead list.
 * Lifetime: px_accept() creates a conn. px_conn_close() only marks it: every callback brackets
 *   its work with px_conn_enter()/px_conn_leave(), and the outermost leave frees what was marked
 *   (retired origins at once, the conn once its output is flushed - and, after an error reply,
 *   its unread input drained for a moment - or can no longer be).
 * Reading: through each side's px_rd (rd.h), never the bufferevent's own read event; what a
 *   callback consumed reopens a reader stopped at its high mark in px_conn_leave().
 * Writing: client and origin bufferevents keep EV_WRITE off while their output is empty; what a
 *   callback queues is written by the outermost px_conn_leave() (or when a response completes)
 *   through px_flush(), and only what the socket does not take is left to libevent - or, on a
 *   TLS socket, to the transport's own write event (tx.h): libevent never writes a TLS socket.
 * Tunnels: a 101 to a WebSocket upgrade turns the conn and its origin connection into a tunnel
 *   (PX_TUNNEL, tunnel.h) for the rest of their lives.
 * Threads: everything here runs on the owning worker's thread; only px_route and px_stats are
 *   shared (route.h, stats.h).
 */
#ifndef GAAPD_PX_CONN_H
#define GAAPD_PX_CONN_H

#include <sys/queue.h>

#include <netinet/in.h>
#include <stdint.h>

#include <event2/bufferevent.h>
#include <event2/event.h>

#include "close.h"
#include "msg.h"
#include "px.h"
#include "rd.h"

struct px_l7_rule;
struct px_origin;
struct px_worker;

/* Output queued towards one peer before we stop reading from the other. 256 KiB, not 64: with
 * 64 KiB the origin's reads and the client's writes took turns every 64 KiB, and each turn woke
 * the origin and the client again; measured on l. (TLS, 1 MiB responses), system time per MiB
 * 1,190 -> 710 us (bench/README.md, i15-l2). Idle connections hold none of it. */
#define PX_MAX_PENDING (256 * 1024)
/* The most a bufferevent writes per write event (libevent's default is 16 KiB): a full output
 * (PX_MAX_PENDING plus one read's worth) goes out in one writev. */
#define PX_MAX_WRITE (4 * PX_MAX_PENDING)
/* A head buffer grown past this is given back between requests: idle connections stay small. */
#define PX_HEAD_KEEP 4096
/* Bytes a lingering close reads and discards before giving up on the client. */
#define PX_LINGER_MAX (256 * 1024)
/* The most of a request body read and dropped after an answer of gaapd's own to keep the
 * connection (request.c): no more than a lingering close would read anyway. */
#define PX_DISCARD_MAX PX_LINGER_MAX

/* The write timeout a bufferevent was last given, in ms (0 = none): bufferevent_set_timeouts()
 * re-adds its events, so px_write_timeout() calls it only when it changes. (Read timeouts are
 * the px_rd's.) */
struct px_tmo {
	unsigned wr;
	unsigned set : 1;           /* 0: never given (libevent's default, none) */
};

enum px_state {
	PX_IDLE,                    /* between requests: the keep-alive (or first-request) timer */
	PX_HEAD,                    /* reading a request head: the header timer */
	PX_BODY,                    /* relaying the request body; the response may be flowing too */
	PX_WAIT,                    /* request complete, parser paused: the response is in flight */
	PX_FLUSH,                   /* response complete, waiting until the client has it all */
	PX_TUNNEL,                  /* after a 101 to a WebSocket upgrade: bytes both ways */
};

struct px_conn {
	TAILQ_ENTRY(px_conn) link;
	struct px_worker *w;
	struct px_route *route;
	/* Layer 7: the routing the current exchange started with (a reference, let go when the
	 * next request begins or the conn goes) and its rule, whose group the exchange's origins
	 * come from; NULL: the route's configured origins. */
	struct px_l7 *l7;
	const struct px_l7_rule *rule;
	uint64_t id;
	uint64_t nreq;              /* requests seen, for logs */
	struct bufferevent *bev;
	struct px_tmo tmo;          /* bev's write timeout */
	struct px_rd rd;            /* reads bev's socket; rd.bytes: read from the client, ever */
	char *client_dn;            /* mTLS: the verified subject (X-Client-DN), found at the first
	                             * request; NULL before, or without one */
	struct event timer;         /* header deadline, keep-alive idle or lingering, by state */
	char ip[INET6_ADDRSTRLEN];
	unsigned port;
	struct px_msg req;
	struct px_origin *org;      /* serving this client's exchange; NULL when none */
	struct px_origin *dead;     /* retired origins, freed by px_conn_leave() */
	unsigned attempts;          /* origins tried for this exchange */
	uint64_t body_bytes;        /* of a chunked request body, against max_body_size */
	size_t linger_bytes;        /* discarded while lingering */
	/* for the access log */
	int64_t t_begin, t_head;    /* px_mono_us(): request head begun, response head sent */
	uint64_t sent;              /* bytes added to the client output, ever */
	struct evbuffer_cb_entry *sent_cb;  /* counts them; removed before the conn goes */
	uint64_t sent_mark;         /* sent when the exchange began */
	uint64_t sent_counted, received_counted;    /* what the stats have of sent and rd.bytes */
	int64_t tunnel_seen;        /* px_now_ms() when the tunnel last moved bytes */
	int status;                 /* of the response to the current exchange; 0 = none yet */
	const struct cfg_addr *origin;  /* the last origin tried for the current exchange */
	enum px_state state;
	enum px_close reason;
	unsigned in_cb;             /* callback nesting: only the outermost frees */
	unsigned closing : 1;
	unsigned broken : 1;        /* the client socket failed: nothing more can be flushed */
	unsigned eof : 1;           /* the client half-closed: finish what it sent, then close */
	unsigned lingering : 1;     /* closed, output flushed, discarding input until the timer */
	unsigned linger_done : 1;   /* the lingering is over: free */
	unsigned logged : 1;        /* the current exchange is counted and has its access log line */
	unsigned retried : 1;       /* the exchange was resent once on a fresh origin connection */
	unsigned linger_wanted : 1; /* closed while the client may still be sending */
	unsigned body_over : 1;     /* a chunked request body passed max_body_size */
	unsigned req_chunked : 1;   /* the request body is re-framed as chunked */
	unsigned req_body : 1;      /* the request has a body (chunked or a length above 0) */
	unsigned req_head : 1;      /* HEAD: the response has no body whatever it says */
	unsigned req_replay : 1;    /* idempotent and bodiless: a stale pooled connection is retried */
	unsigned discard : 1;       /* gaapd answered itself and keeps the connection: the request
	                             * body, if any, is read and dropped (request.c) */
	unsigned keep : 1;          /* the client connection outlives this exchange */
	unsigned retiring : 1;      /* its listener was deleted: no exchange after the current one */
	unsigned http10 : 1;        /* the request was HTTP/1.0: no chunked, no 1xx for it */
	unsigned resp_started : 1;  /* a final response head reached the client output */
	unsigned client_throttled : 1;  /* client reads stopped: the origin's output is full */
	unsigned origin_throttled : 1;  /* origin reads stopped: the client's output is full */
	unsigned websocket : 1;     /* the request asks for a WebSocket upgrade */
	unsigned shut : 1;          /* tunnel: the client's write side is shut (the origin ended) */
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
/* A final response head went to the client with this status. */
void px_conn_response_head(struct px_conn *c, int status);
/* After moving bytes into to's output: stop reading from from while to is full. 1 = stopped. */
int px_throttle(struct px_rd *from, struct bufferevent *to);
/* Writes bev's output now, as far as the socket takes it, leaving the rest to libevent (see
 * conn.c), or over r's TLS transport when it has one (tx.h); 0, or -1 after a write error
 * (reported to the event callback). */
int px_flush(struct bufferevent *bev, struct px_rd *r);
/* The write side ends (a FIN; over TLS a close_notify first). */
void px_shut_wr(struct bufferevent *bev, struct px_rd *r);
/* In a write callback: the output is written, write interest goes off until px_flush(). */
void px_write_idle(struct bufferevent *bev);
/* The client's output has room again: origin reads may resume. */
void px_conn_output_drained(struct px_conn *c);
/* The origin's output has room again (or the origin is gone): client reads may resume. */
void px_conn_input_resume(struct px_conn *c);
/* Gives bev, of w's base, the write timeout wr_ms (0 = none) unless t says it has it. */
void px_write_timeout(struct px_worker *w, struct bufferevent *bev, struct px_tmo *t,
	unsigned wr_ms);
/* ms as a timeval in *tv; NULL (no timeout) for 0. */
const struct timeval *px_ms(struct timeval *tv, unsigned ms);
/* ms as a timeout for events of w's base (NULL for 0): libevent's common timeout for that
 * duration, kept in a queue per duration. Every connection of a route waits the same few
 * durations, so an add or delete is a queue operation instead of a heap one: with 10,000 idle
 * keep-alive connections the heap is 14 levels deep and each level a cache miss, three times a
 * request. The plain timeval in *tv when the base has no room for another duration (256). */
const struct timeval *px_timeout(struct px_worker *w, struct timeval *tv, unsigned ms);
/* The worker's cached loop time, microseconds: wall clock, for time stamps. */
int64_t px_now_us(struct px_worker *w);
/* Microseconds on a precise monotonic clock, for durations (the loop's cached time is coarse:
 * milliseconds, too coarse for a latency histogram that starts at 1 ms). */
int64_t px_mono_us(void);
/* c's current exchange is over (answered, or closed): counted in the stats and logged, once. A
 * tunnel's exchange is logged when the tunnel closes; its 101 was counted when it began. */
void px_exchange_done(struct px_conn *c);
/* Deadlines: the header or keep-alive timer (0 = none), and the socket timeouts (read: a body
 * that stalls, only while reading_body; write: a client that takes nothing). */
void px_conn_timer(struct px_conn *c, unsigned ms);
void px_client_timeouts(struct px_conn *c, int reading_body);

#endif
