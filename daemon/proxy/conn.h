/* daemon/proxy/conn.h - one client connection, the exchange in flight on it, the origin
 *   connection serving it and the worker's pools of idle origin connections (internal to
 *   daemon/proxy).
 * Ownership: a px_worker owns its px_conns (a TAILQ) and its pools. A px_conn owns its client
 *   bufferevent (the socket, its output and write timeout) and px_rd (its reads), its timer,
 *   its request parser and one reference to its route; during an exchange it owns one origin
 *   connection (c->org), taken from the pool of that origin's address or newly
 *   connected, and gives it back to the pool at a clean message boundary. A pool owns its idle
 *   origins. Origins retired during an exchange wait on the conn's dead list.
 * Lifetime: px_accept() creates a conn. px_conn_close() only marks it: every callback brackets
 *   its work with px_conn_enter()/px_conn_leave(), and the outermost leave frees what was marked
 *   (retired origins at once, the conn once its output is flushed - and, after an error reply,
 *   its unread input drained for a moment - or can no longer be). A retired origin has no
 *   callbacks left, so every origin callback runs for c->org or for a pooled origin. A pool
 *   exists while it holds an idle connection.
 * Reading: through each side's px_rd (rd.h), never the bufferevent's own read event; what a
 *   callback consumed reopens a reader stopped at its high mark in px_conn_leave().
 * Writing: client and origin bufferevents keep EV_WRITE off while their output is empty; what a
 *   callback queues is written by the outermost px_conn_leave() (or when a response completes)
 *   through px_flush(), and only what the socket does not take is left to libevent.
 * Tunnels: a 101 to a WebSocket upgrade turns the conn and its origin connection into a tunnel
 *   (PX_TUNNEL, tunnel.c) for the rest of their lives: the parsers stop, both sides' callbacks
 *   become the tunnel's, and the origin connection is never pooled.
 * Threads: everything here runs on the owning worker's thread; only px_route and px_stats are
 *   shared (a route's configuration is immutable; what workers learn about origins, and every
 *   counter, is atomic).
 */
#ifndef GAAPD_PX_CONN_H
#define GAAPD_PX_CONN_H

#include <sys/queue.h>

#include <netinet/in.h>
#include <stdatomic.h>
#include <stdint.h>

#include <event2/bufferevent.h>
#include <event2/event.h>

#include "close.h"
#include "msg.h"
#include "px.h"
#include "rd.h"
#include "rewrite.h"

/* Output queued towards one peer before we stop reading from the other. */
#define PX_MAX_PENDING (64 * 1024)
/* The most a bufferevent writes per write event (libevent's default is 16 KiB): a full output
 * (PX_MAX_PENDING plus one read's worth) goes out in one writev. */
#define PX_MAX_WRITE (4 * PX_MAX_PENDING)
/* A head buffer grown past this is given back between requests: idle connections stay small. */
#define PX_HEAD_KEEP 4096
/* Bytes a lingering close reads and discards before giving up on the client. */
#define PX_LINGER_MAX (256 * 1024)

/* The write timeout a bufferevent was last given, in ms (0 = none): bufferevent_set_timeouts()
 * re-adds its events, so px_write_timeout() calls it only when it changes. (Read timeouts are
 * the px_rd's.) */
struct px_tmo {
	unsigned wr;
	unsigned set : 1;           /* 0: never given (libevent's default, none) */
};

/* One origin's passive-health transitions on one listener. Found or added by each route built
 * for the listener (px_stats_origin()) and never removed while the stats live, so a reload that
 * keeps an origin keeps counting on the same line. */
struct px_origin_stats {
	struct px_origin_stats *next;   /* set before the node is published, never changed after */
	char proxy[CFG_ID_MAX];         /* whose origins list has it ("" for routes built by hand) */
	char origin[sizeof ((struct cfg_addr *)0)->text];
	_Atomic uint64_t ejections;     /* marked down while it was up */
	_Atomic uint64_t recoveries;    /* answered again while marked down */
};

/* One origin of a route and what the workers learn about it. */
struct px_upstream {
	struct cfg_addr addr;
	unsigned weight;            /* 1..CFG_WEIGHT_MAX */
	atomic_uint active;         /* exchanges in flight (lc) */
	atomic_uint fails;          /* consecutive failures */
	_Atomic int64_t down_until; /* px_now_ms(): skipped until then */
	struct px_origin_stats *health;     /* its counters in the route's stats */
};

/* See px.h. Relaxed atomics: every counter stands alone, and a scrape needs no ordered cut. All
 * zero bytes are zero counters (calloc). */
struct px_stats {
	atomic_uint refs;
	atomic_uint conns;          /* client connections open, on every route and worker */
	_Atomic uint64_t upgraded;  /* client connections a 101 turned into a tunnel */
	_Atomic uint64_t requests[PX_STATUS_CLASSES];
	_Atomic uint64_t bytes_in, bytes_out;
	_Atomic uint64_t origin_errors[PX_OERR_COUNT];
	_Atomic uint64_t latency[PX_LATENCY_BUCKETS];
	_Atomic uint64_t latency_sum_us;
	_Atomic(struct px_origin_stats *) origins;     /* newest first, prepended with a CAS */
};

struct px_route {
	atomic_uint refs;
	atomic_uint next;           /* the scheduler's cursor */
	struct px_stats *stats;     /* a reference: its listener's counters and connection count */
	char *id;                   /* the listener's id, for logs */
	enum cfg_sched sched;
	struct px_upstream *ups;
	size_t nups;
	uint16_t *seq;              /* wrr: origin indexes in smooth weighted order */
	size_t nseq;
	struct cfg_http http;       /* access_log is the route's own copy */
};

/* stats.c: what the workers add. An exchange with a final status (100-599) counts in its class and
 * the latency histogram; others (the client left before any answer) count in neither. */
void px_stats_exchange(struct px_stats *s, int status, int64_t us);
void px_stats_bytes(struct px_stats *s, uint64_t in, uint64_t out);
/* Counts reason's origin failure kind, if it has one (the close-reason table). */
void px_stats_origin_error(struct px_stats *s, enum px_close reason);
void px_stats_upgraded(struct px_stats *s);
/* The health counters of proxy's origin (cfg_addr.text) in s, added on first use; NULL on ENOMEM.
 * Borrowed: they live as long as s. For route builds, not the request path. Any thread. */
struct px_origin_stats *px_stats_origin(struct px_stats *s, const char *proxy, const char *origin);

/* Milliseconds on a monotonic clock (coarse: for deadlines, not for measuring). */
int64_t px_now_ms(void);
/* The origin for the next exchange: its index, skipping origins that are down and exclude
 * (-1 = none); when every other origin is down, the one that failed longest ago (passive health
 * never leaves a request without a try). -1 only when there is no origin but exclude. Any
 * thread. */
int px_route_pick(struct px_route *r, int exclude);
/* Passive health. failed: 1 when this failure took the origin out for origin_fail_timeout
 * (never the only origin of a route). succeeded: 1 when it brought a taken-out origin back.
 * Each 1 is counted in the origin's px_origin_stats. */
int px_route_failed(struct px_route *r, size_t i);
int px_route_succeeded(struct px_route *r, size_t i);

/* A deleted listener's route on one worker: its connections' deadline (px_worker_retire()). */
struct px_retire {
	LIST_ENTRY(px_retire) link;
	struct px_worker *w;
	struct px_route *route;     /* a reference: the pointer identifies the conns to close */
	struct event *timer;
};

/* The idle keep-alive connections to one origin address on one worker. */
struct px_pool {
	LIST_ENTRY(px_pool) link;
	struct px_worker *w;
	struct cfg_addr addr;
	TAILQ_HEAD(, px_origin) idle;   /* most recently used first */
	unsigned n;
};

/* Durations a worker keeps the common timeout of (px_timeout()); more are looked up each time. */
#define PX_TIMEOUTS 16

struct px_worker {
	struct event_base *base;
	/* The common timeouts asked of base so far, by duration in ms: libevent finds one with a
	 * linear search under the base's lock, and a worker waits only its routes' few durations. */
	struct {
		unsigned ms;
		const struct timeval *tv;   /* owned by base */
	} timeouts[PX_TIMEOUTS];
	size_t ntimeouts;
	TAILQ_HEAD(px_conn_list, px_conn) conns;
	LIST_HEAD(, px_retire) retiring;
	LIST_HEAD(, px_pool) pools;
	size_t nconns;
	uint64_t next_id;
	int64_t refused_logged;     /* px_now_ms() of the last "connection refused" warning */
	int alog_fd;                /* access log: -1 = not open */
	char *alog_path;            /* what alog_fd was opened for */
};

enum px_state {
	PX_IDLE,                    /* between requests: the keep-alive (or first-request) timer */
	PX_HEAD,                    /* reading a request head: the header timer */
	PX_BODY,                    /* relaying the request body; the response may be flowing too */
	PX_WAIT,                    /* request complete, parser paused: the response is in flight */
	PX_FLUSH,                   /* response complete, waiting until the client has it all */
	PX_TUNNEL,                  /* after a 101 to a WebSocket upgrade: bytes both ways */
};

struct px_origin {
	TAILQ_ENTRY(px_origin) link;    /* in its pool, while idle */
	struct px_origin *next_dead;
	struct px_worker *w;
	struct px_conn *c;          /* the conn it serves; NULL while pooled */
	struct px_pool *pool;       /* while pooled */
	struct bufferevent *bev;
	struct px_tmo tmo;          /* bev's write timeout */
	struct px_rd rd;            /* reads bev's socket into its input; started once connected */
	const struct cfg_addr *addr;    /* in c's route while serving, in the pool while idle */
	int idx;                    /* its origin in c->route while serving */
	struct px_msg resp;
	enum px_frame frame;        /* how the current response body goes to the client */
	unsigned connected : 1;
	unsigned reused : 1;        /* came from a pool: it may have been closed meanwhile */
	unsigned got_bytes : 1;     /* the origin sent something during this exchange */
	unsigned busy : 1;          /* counted in its upstream's active */
	unsigned head_sent : 1;     /* the current response head went to the client */
	unsigned in_chunked : 1;    /* the origin sends the body chunked (callbacks copy it) */
	unsigned eof : 1;           /* tunnel: the origin has ended what it sends */
	unsigned shut : 1;          /* tunnel: its write side is shut (the client ended) */
	int64_t pooled_us;          /* px_now_us() when it last went into the pool */
};

struct px_conn {
	TAILQ_ENTRY(px_conn) link;
	struct px_worker *w;
	struct px_route *route;
	uint64_t id;
	uint64_t nreq;              /* requests seen, for logs */
	struct bufferevent *bev;
	struct px_tmo tmo;          /* bev's write timeout */
	struct px_rd rd;            /* reads bev's socket; rd.bytes: read from the client, ever */
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
 * conn.c); 0, or -1 after a write error (reported to the event callback). */
int px_flush(struct bufferevent *bev);
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
/* The access log line of c's current exchange, ended at end (px_mono_us()), if the route has an
 * access log. */
void px_access_log(struct px_conn *c, int64_t end);

/* request.c: the parser's settings, and parsing what the client sent as far as the current
 * exchange allows (resumed: the parser was just resumed and must run even on empty input). */
extern const llhttp_settings_t px_request_settings;
void px_request_pump(struct px_conn *c, int resumed);
/* The rebuilt request head into c->org's output: for the exchange, and again for its one retry
 * on a new connection (c->req.head lasts as long as the exchange). 0, or -1 with c closed. */
int px_send_head(struct px_conn *c);
/* The response has been written: the next request, if the connection lives on. */
void px_next_request(struct px_conn *c);
/* Deadlines: the header or keep-alive timer (0 = none), and the socket timeouts (read: a body
 * that stalls, only while reading_body; write: a client that takes nothing). */
void px_conn_timer(struct px_conn *c, unsigned ms);
void px_client_timeouts(struct px_conn *c, int reading_body);

/* tunnel.c. The origin answered c's WebSocket upgrade with 101, whose head is in the client's
 * output and whose parser stopped right after it: from now on c and c->org relay bytes both
 * ways (first what each side sent after its head), until both have ended (each end's EOF shuts
 * the other's write side once what came before is written), an error, or tunnel_idle_timeout
 * without a byte moving. */
void px_tunnel_start(struct px_conn *c);
/* c->timer of a tunnel fired: closes an idle tunnel, or waits for the rest of the timeout. */
void px_tunnel_timer(struct px_conn *c);
/* The origin's EOF reached the response side after the tunnel began (it came with the 101). */
void px_tunnel_origin_eof(struct px_conn *c);

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
/* An idle connection to a, live as far as a peek can tell, out of w's pool (its callbacks
 * cleared, the caller sets them); NULL when there is none. replay: the request can go again on
 * a new connection should this one turn out stale, so one pooled a moment ago is not peeked at. */
struct px_origin *px_pool_take(struct px_worker *w, const struct cfg_addr *a, int replay);
/* Keeps o (served, at a clean message boundary, detached from its conn) idle in its worker's
 * pool for h->origin_keepalive_timeout_ms. 0, or -1 when the pool is full (o is the caller's). */
int px_pool_put(struct px_origin *o, const struct cfg_http *h);
/* Frees every pool of w and the idle connections in them. */
void px_pools_destroy(struct px_worker *w);

#endif
