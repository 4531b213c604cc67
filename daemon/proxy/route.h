/* daemon/proxy/route.h - what one listener forwards to: its origins, the scheduler's choice and
 *   passive health (internal to daemon/proxy; px.h has the constructors the rest of gaapd uses).
 * Ownership: a px_route is refcounted (px.h); it owns its upstreams, its scheduler sequence, its
 *   copy of the http settings, one reference to its px_stats and one to each of its origins'
 *   shared servers (daemon/upstream/ups.h).
 * Threads: any. A route's configuration is immutable; what workers learn about its origins
 *   (active, fails, down_until) lives in the shared servers' atomics, node-wide; its scheduler
 *   cursor is an atomic of its own.
 */
#ifndef GAAPD_PX_ROUTE_H
#define GAAPD_PX_ROUTE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "px.h"
#include "upstream/ups.h"

struct px_origin_stats;

/* One origin of a route: as the route names it, and the server the whole node shares for it. */
struct px_upstream {
	struct cfg_addr addr;
	unsigned weight;            /* 1..CFG_WEIGHT_MAX */
	struct ups_server *srv;     /* a reference: health and exchanges in flight, node-wide */
	struct px_origin_stats *health;     /* the transitions this listener's requests caused */
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

/* Milliseconds on a monotonic clock (coarse: for deadlines, not for measuring). */
int64_t px_now_ms(void);
/* The origin for the next exchange: its index, skipping origins that are down and exclude
 * (-1 = none); when every other origin is down, the one that failed longest ago (passive health
 * never leaves a request without a try). -1 only when there is no origin but exclude. Any
 * thread. */
int px_route_pick(struct px_route *r, int exclude);
/* Passive health, on the origin's shared server: what one route learns, every route using that
 * server acts on. failed: 1 when this failure took the server out for origin_fail_timeout; a
 * route's only origin is never taken out by it (it would spare none of its requests), yet a server
 * that another route took out is still its last way out (px_route_pick()). succeeded: 1 when it
 * brought a taken-out server back. Each 1 is counted in this route's px_origin_stats for the
 * origin: the transitions this listener's requests caused. */
int px_route_failed(struct px_route *r, size_t i);
int px_route_succeeded(struct px_route *r, size_t i);

#endif
