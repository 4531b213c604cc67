/* daemon/proxy/stats.h - a listener's counters as the workers add to them (internal to
 *   daemon/proxy; px.h has what the rest of gaapd reads).
 * Ownership: a px_stats is refcounted (px.h) and owns its list of px_origin_stats, which only
 *   grows and is freed with it; routes and workers hold references or borrow.
 * Threads: any. Every counter is a relaxed atomic; an origin's node is published with a CAS.
 */
#ifndef GAAPD_PX_STATS_H
#define GAAPD_PX_STATS_H

#include <stdatomic.h>
#include <stdint.h>

#include "close.h"
#include "px.h"

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
	_Atomic uint64_t tls[PX_TLS_OUTCOMES];
	_Atomic(struct px_origin_stats *) origins;     /* newest first, prepended with a CAS */
};

/* What the workers add. An exchange with a final status (100-599) counts in its class and
 * the latency histogram; others (the client left before any answer) count in neither. */
void px_stats_exchange(struct px_stats *s, int status, int64_t us);
void px_stats_bytes(struct px_stats *s, uint64_t in, uint64_t out);
/* Counts reason's origin failure kind, if it has one (the close-reason table). */
void px_stats_origin_error(struct px_stats *s, enum px_close reason);
void px_stats_upgraded(struct px_stats *s);
void px_stats_tls(struct px_stats *s, enum px_tls_outcome k);
/* The health counters of proxy's origin (cfg_addr.text) in s, added on first use; NULL on ENOMEM.
 * Borrowed: they live as long as s. For route builds, not the request path. Any thread. */
struct px_origin_stats *px_stats_origin(struct px_stats *s, const char *proxy, const char *origin);

#endif
