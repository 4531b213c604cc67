/* daemon/upstream/connect.h - opening a connection to a real server without a client connection
 *   (what health checks need; the proxy's exchanges connect in daemon/proxy/origin.c, where a
 *   client's request waits on it).
 * Ownership: a ups_dial is the connect in flight: it owns its bufferevent until the callback,
 *   which receives the connected bufferevent (BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS,
 *   no callbacks, no timeouts, reading and writing enabled) and owns it from then on. The dial
 *   frees itself after its callback; ups_dial_cancel() frees it before (no callback then).
 * Threads: the base's loop thread, for everything: ups_connect(), the callback, the cancel.
 */
#ifndef GAAPD_UPS_CONNECT_H
#define GAAPD_UPS_CONNECT_H

#include "ups.h"

struct bufferevent;
struct event_base;
struct ups_dial;

/* Called exactly once per dial, from base's loop, never from within ups_connect(): bev connected
 * (the callee's), or bev NULL and err: ETIMEDOUT, or the socket's error (ECONNREFUSED...). */
typedef void (*ups_dial_cb)(struct bufferevent *bev, int err, void *arg);

/* Starts connecting to s's address (ups_server_sockaddr(): a name's next resolved address; read
 * during the call only: s may go meanwhile), giving up after timeout_ms (0 = the socket's own
 * limits). NULL when it could not start (errno set: EHOSTUNREACH for a name without an address;
 * cb is not called). */
struct ups_dial *ups_connect(struct event_base *base, struct ups_server *s,
	unsigned timeout_ms, ups_dial_cb cb, void *arg);
/* Gives up a dial whose callback has not run: it closes its socket and never calls back. */
void ups_dial_cancel(struct ups_dial *d);      /* NULL-safe */

#endif
