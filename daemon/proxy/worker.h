/* daemon/proxy/worker.h - the proxy state of one worker thread (internal to daemon/proxy; px.h
 *   has the functions the rest of gaapd calls).
 * Ownership: a px_worker owns its px_conns (a TAILQ), its pools of idle origin connections
 *   (pool.h), its retiring routes' deadlines and its access log descriptor; it borrows its
 *   event_base, which owns the common timeouts (conn.c's px_timeout() asks for them).
 * Lifetime: px_worker_new() to px_worker_destroy() (px.h), before the base goes.
 *   Threads: the worker's own, only.
 */
#ifndef GAAPD_PX_WORKER_H
#define GAAPD_PX_WORKER_H

#include <sys/queue.h>

#include <stddef.h>
#include <stdint.h>

struct event;
struct event_base;
struct px_conn;
struct px_pool;
struct px_route;
struct timeval;

/* A deleted listener's route on one worker: its connections' deadline (px_worker_retire()). */
struct px_retire {
	LIST_ENTRY(px_retire) link;
	struct px_worker *w;
	struct px_route *route;     /* a reference: the pointer identifies the conns to close */
	struct event *timer;
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

#endif
