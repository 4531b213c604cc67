/* daemon/proxy/px.h - the llhttp proxy core: what the rest of gaapd sees of it.
 * A px_route is what one listener forwards to (its origins, limits, id for logs): immutable,
 *   refcounted (atomic), shared by every worker; each accepted connection holds a reference, so a
 *   deleted listener's route lives until its last connection closes. What is learnt about its
 *   origins is not the route's: it lives in the node's shared servers (daemon/upstream/ups.h).
 * A px_stats is one listener's traffic counters: refcounted (atomic) and shared by every route the
 *   listener ever has, so a reload that replaces its routes, and connections still draining on a
 *   replaced or deleted listener's routes, all count towards the one listener. Workers add with
 *   relaxed atomics; any thread may read.
 * A px_worker is the proxy state of one worker thread: its event_base (borrowed), the client
 *   connections it owns, its pools of idle keep-alive origin connections (per shared server,
 *   ups.h: shared by every route of the worker that names it), its access log descriptor and the common timeouts it
 *   asked of its base (which owns them: the worker goes before the base). Every px_worker
 *   function runs on that worker's thread only.
 * Lifetime: px_accept() hands a connected socket to the worker, which owns it from then on and
 *   closes it when the exchange ends; px_worker_destroy() closes whatever is still open.
 */
#ifndef GAAPD_PX_H
#define GAAPD_PX_H

#include <event2/util.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "../cfg.h"

struct event_base;
struct hc_checker;
struct hc_params;
struct hc_target;
struct px_l7_cell;
struct px_route;
struct px_stats;
struct px_worker;
struct ups_reg;

/* Origin failures by kind: label and what counts. The close-reason table (close.h) maps reasons to
 * kinds; a connect that failed over to another origin counts too (the client never saw it). */
#define PX_ORIGIN_ERRORS \
	PX_OERR(CONNECT, "connect")                 /* refused, unreachable, reset on connect */ \
	PX_OERR(CONNECT_TIMEOUT, "connect_timeout") \
	PX_OERR(TIMEOUT, "timeout")                 /* no response within the response timeout */ \
	PX_OERR(CLOSED, "closed")                   /* closed or reset before the response ended */ \
	PX_OERR(STALE, "stale")                     /* a pooled connection was closed: no replay */ \
	PX_OERR(MALFORMED, "malformed")             /* the response failed parsing or checks */ \
	PX_OERR(UNAVAILABLE, "unavailable")         /* every origin was down */

enum px_oerr {
#define PX_OERR(name, label) PX_OERR_##name,
	PX_ORIGIN_ERRORS
#undef PX_OERR
	PX_OERR_COUNT,
	PX_OERR_NONE = PX_OERR_COUNT
};

#define PX_STATUS_CLASSES 5     /* 1xx .. 5xx */
/* A client's TLS handshake on an HTTPS listener ended: */
enum px_tls_outcome {
	PX_TLS_OK,                  /* a full handshake */
	PX_TLS_RESUMED,             /* an abbreviated one (a session ticket) */
	PX_TLS_FAILED,              /* refused, garbage, an alert (mTLS) */
	PX_TLS_TIMEOUT,             /* not done within tls.handshake_timeout */
	PX_TLS_OUTCOMES
};
const char *px_tls_outcome_label(enum px_tls_outcome k);   /* "ok", "resumed", "failed", ... */
#define PX_LATENCY_BUCKETS 13   /* 1 ms .. 10 s (px_latency_le()), and +Inf */

/* A listener's counters as read at one moment (each on its own: they are not a consistent cut). */
struct px_stats_snap {
	uint64_t conns;                         /* client connections open now */
	uint64_t upgraded;                      /* connections that became WebSocket tunnels */
	uint64_t requests[PX_STATUS_CLASSES];   /* answered exchanges by status class */
	uint64_t bytes_in, bytes_out;           /* from clients, to clients */
	uint64_t origin_errors[PX_OERR_COUNT];
	/* Request head begun -> response complete, of the exchanges in requests: per bucket, not
	 * cumulative (the last is +Inf), so their total is the count. */
	uint64_t latency[PX_LATENCY_BUCKETS];
	uint64_t latency_sum_us;
	uint64_t tls[PX_TLS_OUTCOMES];          /* HTTPS handshakes by outcome (enum px_tls_outcome) */
};

/* Passive health on one origin of a listener, as read at one moment. */
struct px_origin_snap {
	const char *proxy;          /* whose origins list has it; borrowed from the stats, like: */
	const char *origin;         /* as configured: 127.0.0.1:8080 */
	uint64_t ejections;         /* marked down while it was up */
	uint64_t recoveries;        /* answered again while marked down */
};

struct px_stats *px_stats_new(void);            /* NULL on ENOMEM; one reference, the caller's */
struct px_stats *px_stats_ref(struct px_stats *s);
void px_stats_unref(struct px_stats *s);        /* NULL-safe; frees on the last reference */
void px_stats_read(const struct px_stats *s, struct px_stats_snap *out);
/* Every origin of every route the stats have counted for (each proxy's origin once), in the
 * order they were first configured, into out[0, max). Returns how many there are: more than max
 * means nothing was written (call again with room for them). */
size_t px_stats_origins(const struct px_stats *s, struct px_origin_snap *out, size_t max);
const char *px_oerr_label(enum px_oerr k);      /* "connect", ...; "" out of range */
/* Bucket i's upper bound as Prometheus writes it: "0.001" (seconds) ... "10", "+Inf". */
const char *px_latency_le(size_t i);

/* Copies what it needs from origins and http; round robin; counts into a stats of its own. NULL on
 * ENOMEM. One reference, the caller's. */
struct px_route *px_route_new(const char *listener_id, const struct cfg_addr *origins,
	size_t norigins, const struct cfg_http *http);
/* The same for a proxy's listener, with the proxy's scheduler and origin weights, counting into
 * stats (the route takes a reference of its own; NULL = a stats of its own). Its origins are
 * servers of the registry servers (ups.h: health and lc load shared with every route naming them;
 * NULL = a registry of its own). Takes the registry's lock: a route build, not the request path. */
struct px_route *px_route_create(const char *listener_id, const struct cfg_proxy *p,
	const struct cfg_http *http, struct px_stats *stats, struct ups_reg *servers);
/* The route's requests route by cell (l7 below) from now on: a reference is taken. Only before
 * the route is shared (handed to a worker): a route is immutable once it serves. NULL: none. */
void px_route_set_l7(struct px_route *r, struct px_l7_cell *cell);
/* The route's connections are HTTPS: each handshakes with what cell holds at its accept (a
 * reference to the cell is taken; a cell holding NULL closes new connections rather than serve
 * them in plain text). Only before the route is shared, like px_route_set_l7. NULL: plain. */
struct tls_cell;
void px_route_set_tls(struct px_route *r, struct tls_cell *cell);
/* The client side the route's HTTPS requests to real servers use (ForwardProtocol HTTPS): a
 * reference is taken. Only before the route is shared. NULL: such requests get 502. */
struct tls_client;
void px_route_set_origin_tls(struct px_route *r, struct tls_client *client);
struct px_route *px_route_ref(struct px_route *r);
void px_route_unref(struct px_route *r);        /* NULL-safe; frees on the last reference */
struct px_stats *px_route_stats(const struct px_route *r);     /* borrowed: the route's reference */
/* References held now: 1 means only the caller's, so no connection uses the route any more. */
unsigned px_route_refs(struct px_route *r);

/* --- Layer-7 routing (l7-and-https.md §9): what a listener with domains forwards by. ---
 * A px_l7 is one listener's routing: its route table (rtable.h: Host -> domain, path -> rule)
 * and per rule its server group (bound real servers with ports, weights and active checks, the
 * rule's scheduler; one group for all rules with equal bindings; servers shared node-wide
 * through the registry, ups.h, checks through the checker, health/hc.h), ForwardHost,
 * ForcedRedirect and custom headers. Immutable and refcounted (atomic). A listener's px_l7_cell holds the one
 * its requests use now: every route of the listener (one per socket, and those a reload
 * replaced) shares the cell, so a swap reaches open keep-alive connections at their next request
 * head, and a request keeps the px_l7 it started with (a reference) until its exchange ends.
 * A listener whose cell holds NULL (no domains at all) forwards to its route's configured
 * origins, as before (9.2.5). Built from plain input, which the state machine makes from its
 * records (state/l7.h); nothing here knows the store or the API. */
struct px_l7;
struct px_l7_cell;

/* A binding: a real server's address (an IP literal, or a DNS name: is_name) and port, with its
 * weight 1..CFG_WEIGHT_MAX, and its rule's active health check (health/hc.h; NULL: off). */
struct px_l7_binding_in {
	const char *host;
	unsigned port;
	unsigned weight;
	int is_name;
	const struct hc_params *check;
};
struct px_l7_header_in {
	const char *name, *value;   /* value "$remote_addr": the client's IP address per request */
};
/* A rule's ForwardProtocol (§8): its listener's (an HTTPS listener's tls_srv_in.forward_https;
 * HTTP for an HTTP listener), or its own. */
enum px_fwd_proto {
	PX_FWD_LISTENER = 0,
	PX_FWD_HTTP,
	PX_FWD_HTTPS,
};
struct px_l7_rule_in {
	const char *id;             /* RuleId, for logs */
	enum px_fwd_proto forward_protocol;
	size_t domain;              /* index into the domains */
	const char *path;
	enum cfg_sched sched;       /* lrtt is given as CFG_SCHED_LC */
	const char *forward_host;   /* NULL: the client's Host unchanged */
	const char *forced_redirect;    /* NULL: off; else "https:" or an https:// URL (9.3.4) */
	const struct px_l7_binding_in *bindings;    /* none: 503 (9.4.1) */
	size_t nbindings;
	const struct px_l7_header_in *headers;
	size_t nheaders;
};
struct px_l7_domain_in {
	const char *name;
	int is_default;
};
struct px_l7_in {
	const struct px_l7_domain_in *domains;
	size_t ndomains;
	const struct px_l7_rule_in *rules;
	size_t nrules;
};

/* The routing for in (copied: in may go after the call), its servers found or created in
 * servers, the active check of each binding that has one found or created in checks (NULL: no
 * checker, no checks: every server eligible as far as checks go); NULL with err (invalid input,
 * or "out of memory"). in with no domains is valid and gives NULL with err "" : the caller then
 * sets the cell to NULL. Takes the registry's and the checker's locks: the control thread, not
 * the request path. One reference, the caller's; the routing holds a reference to each target
 * until it is freed (a target whose params are unchanged is found again by the next build, so
 * a rebuild keeps its state and probes). */
struct px_l7 *px_l7_new(const struct px_l7_in *in, struct ups_reg *servers,
	struct hc_checker *checks, char *err, size_t errlen);
struct px_l7 *px_l7_ref(struct px_l7 *l);
void px_l7_unref(struct px_l7 *l);          /* NULL-safe; frees on the last reference */
/* The active check of rule_id's binding-th binding (in the order given to px_l7_new()), borrowed
 * from l: NULL when there is no such rule or binding, or it has no check. */
const struct hc_target *px_l7_binding_check(const struct px_l7 *l, const char *rule_id,
	size_t binding);

/* NULL on ENOMEM; one reference, the caller's; holds NULL (configured origins). */
struct px_l7_cell *px_l7_cell_new(void);
struct px_l7_cell *px_l7_cell_ref(struct px_l7_cell *c);
void px_l7_cell_unref(struct px_l7_cell *c);    /* NULL-safe */
/* From the next request head on, the listener routes by l7 (ownership of the caller's reference
 * moves to the cell; NULL: configured origins); the one it held is let go (requests still using
 * it keep their own references). Any thread; a short lock shared with px_l7_cell_get(). */
void px_l7_cell_set(struct px_l7_cell *c, struct px_l7 *l7);
/* The routing now, with a new reference for the caller (NULL: configured origins). Any thread. */
struct px_l7 *px_l7_cell_get(struct px_l7_cell *c);

struct px_worker *px_worker_new(struct event_base *base);
void px_worker_destroy(struct px_worker *w);    /* NULL-safe; closes every connection */
/* Takes ownership of fd, an accepted non-blocking socket (closed on failure too), and a new
 * reference to route. */
void px_accept(struct px_worker *w, evutil_socket_t fd, const struct sockaddr *peer,
	socklen_t peerlen, struct px_route *route);
size_t px_worker_conn_count(const struct px_worker *w);
/* Close the worker's access log; the next line opens the file anew (SIGUSR1, logrotate). */
void px_worker_reopen_log(struct px_worker *w);
/* The listener behind route r was deleted (its accepting has stopped): every connection of r on
 * this worker finishes the exchange in flight and closes instead of keeping alive; idle ones close
 * now; after timeout_ms whatever is left is closed. No request in flight is cut before then. */
void px_worker_retire(struct px_worker *w, struct px_route *r, unsigned timeout_ms);

#endif
