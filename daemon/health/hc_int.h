/* daemon/health/hc_int.h - what hc.c (the checker: registry, mailbox, schedule) and probe.c (one
 *   probe) share; nothing outside daemon/health/ includes it.
 * Ownership: the checker is refcounted (hc_start()'s caller and each target hold one), so that a
 *   target's last put after hc_stop() still finds its registry lock. A target is in the registry
 *   list from its get until its last put; its events and its probe are the checker thread's.
 * Threads: members marked (checker) are touched on the checker's thread only (or, once the thread
 *   has been joined, by whoever frees); (mu) under the checker's mutex; the rest are atomics, or
 *   immutable after creation.
 */
#ifndef GAAPD_HEALTH_HC_INT_H
#define GAAPD_HEALTH_HC_INT_H

#include <pthread.h>

#include <event2/util.h>

#include "hc.h"

#define HC_BUCKETS UTIL_LATENCY_BUCKETS     /* util.h: 1 ms .. 10 s, +Inf */
#define HC_SLOTS 4096               /* the registry's hash buckets: ~2 targets each at 10,000 */
#define HC_DELAY_MIN_MS 10          /* a DelayLoop of 0 would spin the checker */

struct bufferevent;
struct event;
struct event_base;
struct hc_probe;
struct ups_server;

struct hc_checker {
	pthread_mutex_t mu;             /* the registry, the mailbox, stopping */
	atomic_uint refs;
	struct ups_reg *reg;            /* a reference */
	struct event_base *base;        /* (checker) */
	struct event *mailbox;          /* activated from any thread: work is queued */
	pthread_t thread;
	int running;                    /* the thread was started and not joined yet */
	int stopping, stopped;          /* (mu): hc_stop() asked / the thread is gone */
	struct hc_target *slots[HC_SLOTS];      /* (mu) the registry: every live target */
	struct hc_target *queue;        /* (mu) targets with a start or a kill to do */
	uint64_t rng;                   /* (checker) the jitter's xorshift state */
};

struct hc_target {
	struct hc_target_pub pub;       /* first: hc_target_up() reads it through the pointer */
	atomic_uint refs;
	struct hc_checker *c;           /* a reference */
	struct hc_target *next;         /* (mu) the registry list */
	struct hc_target *qnext;        /* (mu) the mailbox queue */
	int queued, want_start, dead;   /* (mu) */
	struct hc_params p;             /* immutable; normalized (zero past each string) */
	struct ups_server *srv;         /* a reference; the key with p */
	struct event *timer;            /* (checker) the next probe */
	struct hc_probe *probe;         /* (checker) the one in flight, or NULL */
	struct bufferevent *conn;       /* (checker) the kept connection, idle between probes */
	struct hc_state st;             /* (checker) */
	atomic_uint req_fails;          /* hc_target_failed() since the last tick */
	/* what hc_target_read() reports: written by the checker, read anywhere */
	atomic_uint_fast64_t probes, probe_failures, transitions, latency_sum_us;
	atomic_uint_fast64_t latency[HC_BUCKETS];
	pthread_mutex_t err_mu;         /* last_error: a string cannot be one atomic */
	char last_error[64];
};

/* sched.c: the checker thread's body (arg: the checker); it frees the loop's events on exit. */
void *hc_loop(void *arg);
/* The mailbox event's callback (arg: the checker): queued starts and ends, and hc_stop(). */
void hc_mailbox(evutil_socket_t fd, short what, void *arg);
/* Queues t's start (want_start) or its end (dead) for the checker's thread; under c->mu. */
void hc_post(struct hc_checker *c, struct hc_target *t);
/* hc.c: frees t and what it holds (its events must be gone, or freed here on the checker's
 * thread or once it is joined); drops t's checker reference. */
void hc_target_free(struct hc_target *t);

/* Starts t's probe on the checker's loop (t->probe set), on t->conn if there is one (taken from
 * it: the probe gives it back if the server lets it live); its result comes to hc_probe_done(). */
void hc_probe_start(struct hc_target *t);
/* Gives up t's probe in flight, if any, without a result (its dial, socket and timer go), and
 * closes t's kept connection. */
void hc_probe_cancel(struct hc_target *t);
/* A probe's end (hc.c): ok, and why not (a short text), latency_us < 0 without a status line. */
void hc_probe_done(struct hc_target *t, int ok, const char *why, int64_t latency_us);

#endif
