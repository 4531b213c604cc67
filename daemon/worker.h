/* daemon/worker.h - worker threads: one event_base each, and a mailbox for cross-thread work.
 * Ownership: a wrk_pool owns its threads, their event_bases and each worker's px_worker (the proxy
 *   connections). Everything a worker owns is touched on its own thread only; other threads reach
 *   it through wrk_post(), which runs a function on that thread soon after.
 * Lifetime: wrk_pool_start() returns running threads. wrk_pool_join() stops and joins them and runs
 *   the mail still queued on the calling thread; from then on the caller may touch what the workers
 *   owned (their bases) to tear down things living on them. wrk_pool_destroy() joins if needed and
 *   frees everything (NULL-safe).
 * Threads: a worker's event_base has no locks (EVENT_BASE_FLAG_NOLOCK): only its own thread may
 *   touch it, and wrk_post() wakes it through an eventfd, not event_active(). The main base still
 *   needs evthread_use_pthreads() before the first event_base_new() (main does it).
 */
#ifndef GAAPD_WORKER_H
#define GAAPD_WORKER_H

#include <stddef.h>

struct event_base;
struct px_worker;
struct wrk;

struct wrk_pool {
	struct wrk **w;
	size_t n;
};

typedef void (*wrk_fn)(struct wrk *w, void *arg);

struct wrk_pool *wrk_pool_start(unsigned n, char *err, size_t errlen);
void wrk_pool_join(struct wrk_pool *p);
void wrk_pool_destroy(struct wrk_pool *p);

/* Run fn(w, arg) on w's thread. 0, or -1 when out of memory or the worker has stopped (fn does not
 * run then; the caller still owns arg). */
int wrk_post(struct wrk *w, wrk_fn fn, void *arg);

/* Client connections open on all workers, as each last reported it, and ask for a fresh report:
 * polled by the shutdown drain, so one poll's lag costs nothing. SIZE_MAX until every worker has
 * reported once. Any thread. */
size_t wrk_pool_conns(struct wrk_pool *p);

size_t wrk_index(const struct wrk *w);
struct event_base *wrk_base(struct wrk *w);
struct px_worker *wrk_px(struct wrk *w);

#endif
