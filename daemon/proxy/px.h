/* daemon/proxy/px.h - the llhttp proxy core: what the rest of gaapd sees of it.
 * A px_route is what one listener forwards to (its origins, limits, id for logs): immutable,
 *   refcounted (atomic), shared by every worker; each accepted connection holds a reference, so a
 *   deleted listener's route lives until its last connection closes.
 * A px_worker is the proxy state of one worker thread: its event_base (borrowed), the client
 *   connections it owns, its pools of idle keep-alive origin connections (per origin address,
 *   shared by every route of the worker) and its access log descriptor. Every px_worker function
 *   runs on that worker's thread only.
 * Lifetime: px_accept() hands a connected socket to the worker, which owns it from then on and
 *   closes it when the exchange ends; px_worker_destroy() closes whatever is still open.
 */
#ifndef GAAPD_PX_H
#define GAAPD_PX_H

#include <event2/util.h>
#include <stddef.h>
#include <sys/socket.h>

#include "../cfg.h"

struct event_base;
struct px_route;
struct px_worker;

/* Copies what it needs from origins and http; round robin. NULL on ENOMEM. One reference, the
 * caller's. */
struct px_route *px_route_new(const char *listener_id, const struct cfg_addr *origins,
	size_t norigins, const struct cfg_http *http);
/* The same for a proxy's listener, with the proxy's scheduler and origin weights. */
struct px_route *px_route_create(const char *listener_id, const struct cfg_proxy *p,
	const struct cfg_http *http);
struct px_route *px_route_ref(struct px_route *r);
void px_route_unref(struct px_route *r);        /* NULL-safe; frees on the last reference */

struct px_worker *px_worker_new(struct event_base *base);
void px_worker_destroy(struct px_worker *w);    /* NULL-safe; closes every connection */
/* Takes ownership of fd (closed on failure too) and a new reference to route. */
void px_accept(struct px_worker *w, evutil_socket_t fd, const struct sockaddr *peer,
	socklen_t peerlen, struct px_route *route);
size_t px_worker_conn_count(const struct px_worker *w);
/* The listener behind route r was deleted (its accepting has stopped): every connection of r on
 * this worker finishes the exchange in flight and closes instead of keeping alive; idle ones close
 * now; after timeout_ms whatever is left is closed. No request in flight is cut before then. */
void px_worker_retire(struct px_worker *w, struct px_route *r, unsigned timeout_ms);

#endif
