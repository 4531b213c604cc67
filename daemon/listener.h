/* daemon/listener.h - the listener table: the interface control/ sees of the data plane.
 * A struct lsn is one listener: its durable record, its listening socket and its px_route. The
 *   table owns each lsn; every worker serving it holds a slot (an evconnlistener on a dup of the
 *   socket) and a reference, so an lsn lives until the table and every worker have let go.
 * Threads: the table is read and changed under lsn_table_lock() (the control thread and start-up
 *   restore); workers never read the table, only their own slots, via their mailbox.
 * Decisions (limits, port uniqueness) are the caller's: take the lock, check, lsn_socket(), write
 *   the store, lsn_table_add(), unlock. Nothing here writes the store.
 */
#ifndef GAAPD_LISTENER_H
#define GAAPD_LISTENER_H

#include <stdatomic.h>
#include <stddef.h>

#include "cfg.h"
#include "store.h"

struct px_route;
struct wrk_pool;
struct lsn_slot;

/* ListenerStatus of the API (spec 2.1). */
enum lsn_status {
	LSN_RUNNING = 0,
	LSN_CREATING = 1,
	LSN_DESTROYING = 2,
};

struct lsn {
	struct st_listener rec;     /* the durable part, as in the store */
	enum lsn_status status;
	int fd;                     /* listening socket; -1 when it could not be bound on restore */
	char fault[128];            /* why it is not serving, "" when it is */
	struct px_route *route;     /* NULL when not serving */
	atomic_uint refs;
	struct lsn_slot *slots;     /* one per worker; slot i is touched by worker i only */
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
size_t lsn_table_count_proxy(const struct lsn_table *t, const char *proxy_id);
const struct lsn *lsn_table_get(const struct lsn_table *t, size_t i);   /* creation order */
const struct lsn *lsn_table_find(const struct lsn_table *t, const char *id);
/* A TCP-family listener (HTTP, HTTPS, TCP share the port space) of that proxy on port. */
const struct lsn *lsn_table_find_port(const struct lsn_table *t, const char *proxy_id, unsigned port);
/* Make room for one more listener, so that the lsn_table_add() after a store write cannot fail
 * for want of memory. 0 or -1. */
int lsn_table_reserve(struct lsn_table *t);
/* Insert l (ownership moves to the table) and start serving it on every worker. Call
 * lsn_table_reserve() first; then this does not fail. */
void lsn_table_add(struct lsn_table *t, struct lsn *l);

/* A listening socket for addr:port (non-blocking, close-on-exec, SO_REUSEADDR so a restart is not
 * refused by TIME_WAIT, never SO_REUSEPORT so another process cannot share it). Returns the fd, or
 * -errno (EADDRINUSE, EACCES, EMFILE, ...) so the API can say exactly why. */
int lsn_socket(const struct cfg_addr *addr, unsigned port);

/* A new listener for rec that forwards to proxy's origins with the http limits; it owns fd (-1 for
 * one that could not be bound, with fault set by the caller). NULL with errno set (ENOMEM, EMFILE:
 * each extra worker needs a dup of the socket); fd is then still the caller's. */
struct lsn *lsn_new(const struct lsn_table *t, const struct st_listener *rec, int fd,
	const struct cfg_proxy *proxy, const struct cfg_http *http);
/* Frees a listener that was never added to a table (closes fd, drops route). NULL-safe. */
void lsn_discard(struct lsn *l);

#endif
