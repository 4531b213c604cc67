/* daemon/proxy/route.h - what one listener forwards to: its server group, its http limits and its
 *   counters (internal to daemon/proxy; px.h has the constructors the rest of gaapd uses).
 * Ownership: a px_route is refcounted (px.h); it owns its server group (daemon/upstream/group.h:
 *   the origins in configured order, with weights and the scheduler), its copy of the http
 *   settings and one reference to its px_stats.
 * Threads: any. A route is immutable; what workers learn about its origins (in flight, failures,
 *   down deadlines) lives in the node's shared servers (ups.h), its scheduler cursor in its group.
 */
#ifndef GAAPD_PX_ROUTE_H
#define GAAPD_PX_ROUTE_H

#include <stddef.h>
#include <stdint.h>

#include "px.h"
#include "upstream/group.h"

struct px_origin_stats;
struct tls_cell;
struct tls_client;

struct px_route {
	atomic_uint refs;
	struct px_stats *stats;     /* a reference: its listener's counters and connection count */
	char *id;                   /* the listener's id, for logs */
	char *proxy;                /* whose origins: health lines of layer-7 members name it too */
	struct px_l7_cell *l7;      /* a reference: its listener's layer-7 routing; NULL: none */
	struct tls_cell *tls;       /* a reference: its HTTPS listener's TLS; NULL: plain TCP */
	struct tls_client *origin_tls;  /* a reference: HTTPS towards real servers; NULL: none */
	struct ups_group *group;    /* its origins; px_route_pick() indexes its members */
	struct px_origin_stats **health;    /* per member: its counters in the route's stats */
	struct cfg_http http;       /* access_log is the route's own copy */
};

/* Milliseconds on a monotonic clock (coarse: for deadlines, not for measuring). */
int64_t px_now_ms(void);
/* The origin for the next exchange: ups_group_pick() on the route's group (-1 = none). */
int px_route_pick(struct px_route *r, int exclude);
/* Origin i's shared server (its address: addr) and how many origins the route has. */
static inline struct ups_server *px_route_server(const struct px_route *r, int i)
{
	return r->group->m[i].srv;
}

static inline size_t px_route_norigins(const struct px_route *r)
{
	return r->group->n;
}

/* Passive health, on the origin's shared server: what one route learns, every route using that
 * server acts on. failed: 1 when this failure took the server out for origin_fail_timeout; a
 * route's only origin is never taken out by it (it would spare none of its requests), yet a server
 * that another route took out is still its last way out (px_route_pick()). succeeded: 1 when it
 * brought a taken-out server back. Each 1 is counted in this route's px_origin_stats for the
 * origin: the transitions this listener's requests caused. */
int px_route_failed(struct px_route *r, size_t i);
int px_route_succeeded(struct px_route *r, size_t i);
/* The same for member i of another group the route's requests use (a layer-7 rule's): the
 * route's limits, and the transitions counted on the route's stats under its proxy and the
 * server's address text (found on a transition only, not per request). */
int px_route_group_failed(struct px_route *r, struct ups_group *g, size_t i);
int px_route_group_succeeded(struct px_route *r, struct ups_group *g, size_t i);

#endif
