/* daemon/listener.h - the listener table: the interface control/ sees of the data plane.
 * A struct lsn is one listener: its durable record, its listening sockets (one for a proxy's
 *   listener; one per distinct bind address of the member proxies for a group's) and a px_route per
 *   socket. The table owns each lsn; every worker serving it holds a slot per socket (an accept
 *   event on a dup of the socket, one connection per readiness) and a reference, so an lsn lives
 *   until the table and every worker have let go.
 * Threads: the table is read and changed under lsn_table_lock() (the control thread and start-up
 *   restore); workers never read the table, only their own slots, via their mailbox.
 * Routes: each slot holds its worker's own reference to the route new connections take; a reload
 *   (lsn_table_reconfigure()) builds new routes and each worker switches its slots through its
 *   mailbox, keeping a replaced route while connections still use it. A listener's px_stats is
 *   shared by all the routes it ever has.
 * Decisions (limits, port uniqueness) are the caller's: take the lock, check, lsn_open(), write
 *   the store, lsn_table_add() (or lsn_table_remove()), unlock. Nothing here writes the store.
 */
#ifndef GAAPD_LISTENER_H
#define GAAPD_LISTENER_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "cfg.h"
#include "store.h"

struct px_l7;
struct px_l7_cell;
struct tls_cell;
struct px_route;
struct px_stats;
struct ups_reg;
struct wrk_pool;
struct lsn_slot;

/* ListenerStatus of the API (spec 2.1). A restored listener that could not bind every socket
 * stays LSN_CREATING (with fault set and logged): it exists, is durable and can be deleted, but it
 * is not (fully) serving, and clients that poll for 0 (Terraform) must not take it as ready.
 * LSN_DESTROYING: deleted from the store, but a worker could not be told to stop it (no memory). */
enum lsn_status {
	LSN_RUNNING = 0,
	LSN_CREATING = 1,
	LSN_DESTROYING = 2,
};

/* One listening socket of a listener: on proxy_id's bind address, forwarding to its origins. */
struct lsn_sock {
	char proxy_id[CFG_ID_MAX];
	char bind[CFG_ADDR_TEXT_MAX];   /* the address it is bound on, as cfg_addr.text */
	int bound;                  /* 0: could not be bound on restore (no slots serve it) */
	struct px_route *route;     /* NULL when not bound */
};

struct lsn {
	struct st_listener rec;     /* the durable part, as in the store */
	enum lsn_status status;
	char fault[160];            /* why it is not serving, "" when it is */
	char (*members)[CFG_ID_MAX];    /* the proxies it occupies a port on (limits, uniqueness) */
	size_t nmembers;
	struct lsn_sock *socks;
	size_t nsocks;
	atomic_uint refs;
	struct px_stats *stats;     /* its traffic counters: every route it ever has counts into them */
	struct px_l7_cell *l7;      /* its layer-7 routing, shared by every route it ever has */
	struct tls_cell *tls;       /* its TLS (HTTPS: rec.protocol), shared by every route */
	struct lsn_slot *slots;     /* nsocks * workers; slot i is touched by worker i % workers only */
	size_t nslots;
};

struct lsn_table;

struct lsn_table *lsn_table_new(struct wrk_pool *workers);
/* Frees every listener. The workers must be joined already (wrk_pool_join): this frees their
 * slots from the calling thread. NULL-safe. */
void lsn_table_destroy(struct lsn_table *t);

void lsn_table_lock(struct lsn_table *t);
void lsn_table_unlock(struct lsn_table *t);

/* Under the lock: */
size_t lsn_table_count(const struct lsn_table *t);
/* Listeners occupying a port on that proxy (its own and its group's): its limit counts these. */
size_t lsn_table_count_proxy(const struct lsn_table *t, const char *proxy_id);
const struct lsn *lsn_table_get(const struct lsn_table *t, size_t i);   /* creation order */
const struct lsn *lsn_table_find(const struct lsn_table *t, const char *id);
/* A TCP-family listener (HTTP, HTTPS, TCP share the port space) on that proxy and port. */
const struct lsn *lsn_table_find_port(const struct lsn_table *t, const char *proxy_id, unsigned port);
/* Make room for l (lsn_open()'s, not yet added), so that the lsn_table_add() after a store write
 * cannot fail for want of memory. 0 or -1. */
int lsn_table_reserve(struct lsn_table *t, const struct lsn *l);
/* Insert l (ownership moves to the table) and start serving it on every worker. Call
 * lsn_table_reserve() first; then this does not fail. */
void lsn_table_add(struct lsn_table *t, struct lsn *l);
/* Rename listener id (the store is the caller's). 0, or -1 when there is no such listener. */
int lsn_table_set_name(struct lsn_table *t, const char *id, const char *name);
/* Replace listener id's HTTPS members of its record, likewise (what its connections present is
 * lsn_table_set_tls()'s). */
int lsn_table_set_https(struct lsn_table *t, const char *id, const struct st_https *https);
/* Take the listeners ids out of the table and stop them: every worker frees its accepting slots on
 * its own thread and retires the listener's connections (px_worker_retire: the exchange in flight
 * finishes, then they close, within drain_ms). Returns once every worker has let go of the sockets,
 * so their ports can be bound again at once. Unknown ids are skipped. A listener a worker cannot be
 * told about (no memory) stays in the table as LSN_DESTROYING until shutdown. Returns how many
 * listeners left the table. Workers never take the table lock, so waiting under it is safe. */
size_t lsn_table_remove(struct lsn_table *t, const char *const *ids, size_t n, unsigned drain_ms);

/* Layer 7 (px.h's px_l7): the routing listener id's requests use from their next request head
 * on, on every socket and connection, open or new (a request in flight keeps what it started
 * with). Ownership of l7 moves to the listener (NULL: its proxies' configured origins again); a
 * reload keeps it. 0, or -1 when there is no such listener (l7 is let go). Under the lock. */
int lsn_table_set_l7(struct lsn_table *t, const char *id, struct px_l7 *l7);
/* TLS (tls/tls.h): the tls_srv new handshakes on listener id use from now on; open connections
 * keep theirs. Ownership of srv moves to the listener (NULL: none; an HTTPS listener without one
 * refuses connections rather than serve them in plain text). Set it before lsn_table_add() for
 * an HTTPS listener. 0, or -1 when there is no such listener (srv is let go). Under the lock;
 * for a listener not yet added, lsn_set_tls(). */
struct tls_srv;
int lsn_table_set_tls(struct lsn_table *t, const char *id, struct tls_srv *srv);
void lsn_set_tls(struct lsn *l, struct tls_srv *srv);
/* The node's session ticket keys (tls_srv_in.tickets: every tls_srv built for a listener names
 * them, so resumption survives a certificate swap). Borrowed; made with the defaults of cfg tls,
 * tls_tickets_set() applies the configured periods. */
struct tls_tickets;
struct tls_tickets *lsn_table_tickets(struct lsn_table *t);
/* HTTPS towards real servers (ForwardProtocol HTTPS) verifies them against ca_file (cfg
 * tls.origin_ca; NULL: no verification) on routes built from now on (lsn_open(), a reload's
 * lsn_table_reconfigure() applies the new cfg's itself). 0, or -1 with err (the file is
 * refused; nothing changed). Under the lock, or before the workers serve. */
int lsn_table_set_origin_ca(struct lsn_table *t, const char *ca_file, char *err, size_t errlen);
/* The registry of real servers every route names (px_l7_new() builds into it). Borrowed. */
struct ups_reg *lsn_table_servers(struct lsn_table *t);

/* Reload: 0 when configuration c can serve every listener as it is bound now (each proxy and
 * group it occupies still exists, with the same bind address and members); -1 with the reason
 * in err otherwise. Under the lock. */
int lsn_table_check(const struct lsn_table *t, const struct cfg *c, char *err, size_t errlen);
/* Reload: every listener forwards new connections with c's origins, scheduler and limits; open
 * connections finish on what they had. Call lsn_table_check() first. 0, or -1 (ENOMEM) with
 * nothing changed. Under the lock. */
int lsn_table_reconfigure(struct lsn_table *t, const struct cfg *c);
/* Shutdown: every worker stops accepting on every listener and retires its connections (they
 * finish the exchange in flight within drain_ms). The table and the store keep the listeners. */
void lsn_table_stop_all(struct lsn_table *t, unsigned drain_ms);

/* A listening socket for addr:port (non-blocking, close-on-exec, SO_REUSEADDR so a restart is not
 * refused by TIME_WAIT, never SO_REUSEPORT so another process cannot share it). Returns the fd, or
 * -errno (EADDRINUSE, EACCES, EMFILE, ...) so the API can say exactly why. */
int lsn_socket(const struct cfg_addr *addr, unsigned port);

/* A new listener for rec occupying rec->port on every proxy in proxies (one proxy, or a group's
 * members): one socket per distinct bind address (proxies sharing an address share the socket
 * and the first one's origins), each forwarding with the http limits.
 * strict (API creates): any failure frees everything and returns NULL with errno set (EADDRINUSE,
 *   EACCES, EMFILE, ENOMEM, ...) and *failed = the index of the proxy whose socket failed (n when
 *   the failure was not a bind).
 * not strict (restore): a socket that cannot be bound is left unbound, with fault and
 *   LSN_CREATING set; NULL only for ENOMEM. n == 0 (proxy or group gone) is allowed then. */
struct lsn *lsn_open(const struct lsn_table *t, const struct st_listener *rec,
	const struct cfg_proxy *const *proxies, size_t n, const struct cfg_http *http, int strict,
	size_t *failed);
/* Frees a listener that was never added to a table (closes its sockets, drops routes). NULL-safe. */
void lsn_discard(struct lsn *l);

/* --- Traffic statistics: what control/metrics.c reads of the data plane (px.h stays hidden). --- */

#define LSN_STATUS_CLASSES 5        /* 1xx .. 5xx */
#define LSN_ORIGIN_ERROR_KINDS 7    /* lsn_origin_error_kind() */
#define LSN_LATENCY_BUCKETS 13      /* lsn_latency_le(): 1 ms .. 10 s, then +Inf */
#define LSN_TLS_OUTCOMES 4          /* lsn_tls_outcome(): ok, resumed, failed, timeout */

/* A listener's counters since it was created, over every route it has had; each read on its own. */
struct lsn_traffic {
	uint64_t conns_open;                    /* client connections open now */
	uint64_t upgraded;                      /* connections that became WebSocket tunnels */
	uint64_t requests[LSN_STATUS_CLASSES];  /* answered requests by status class */
	uint64_t bytes_in, bytes_out;           /* from clients, to clients */
	uint64_t origin_errors[LSN_ORIGIN_ERROR_KINDS];
	/* Request head begun -> response complete: per bucket, not cumulative; the total is the count. */
	uint64_t latency[LSN_LATENCY_BUCKETS];
	uint64_t latency_sum_us;
	uint64_t tls_handshakes[LSN_TLS_OUTCOMES];  /* HTTPS: by lsn_tls_outcome() */
};

/* One origin of a listener as passive health saw it, counted since the listener was created
 * over every route it has had: an origin a reload removed keeps its counts (and its line). */
struct lsn_origin_health {
	char proxy[CFG_ID_MAX];     /* the proxy whose origins list has it */
	char origin[CFG_ADDR_TEXT_MAX]; /* as configured (cfg_addr.text): 127.0.0.1:8080 */
	uint64_t ejections;         /* marked down while it was up */
	uint64_t recoveries;        /* answered again while marked down */
};

/* Under the lock (l stays in the table meanwhile). */
void lsn_traffic(const struct lsn *l, struct lsn_traffic *out);
/* Every origin l has had, in the order first configured: a new array of *n in *out, the
 * caller's to free. 0, or -1 (ENOMEM) with *out NULL and *n 0. Under the lock. */
int lsn_origin_health(const struct lsn *l, struct lsn_origin_health **out, size_t *n);
/* Label values: origin_errors[k]'s kind ("connect", "timeout", ...), latency[i]'s upper bound in
 * seconds ("0.001" ... "10", "+Inf"). */
const char *lsn_origin_error_kind(size_t k);
const char *lsn_latency_le(size_t i);
const char *lsn_tls_outcome(size_t k);

#endif
