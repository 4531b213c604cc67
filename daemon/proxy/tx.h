/* daemon/proxy/tx.h - the transport under a proxied socket (internal to daemon/proxy): TLS.
 * Plain sockets have no transport object: px_rd reads and px_flush() writes them directly (one
 *   branch on px_rd.tls). A px_tls is the second implementation: SSL_read_ex into the input,
 *   SSL_write_ex from the output, over the same evbuffers, so conn.c, origin.c and tunnel.c keep
 *   their callbacks and never see clear text on a TLS socket.
 * The bufferevent keeps the fd, the output and the callbacks, but its own EV_WRITE is never
 *   enabled on a TLS socket (libevent would write clear text): the px_tls owns a write event for
 *   what the socket did not take, applies the bufferevent's write timeout to it (its public
 *   timeout_write) and reports errors and timeouts with bufferevent_trigger_event(), and writes
 *   drained with bufferevent_trigger(EV_WRITE) as libevent would.
 * Ownership: a px_rd owns its px_tls (px_rd_free() frees it: close_notify when clean, best
 *   effort, never blocking); the px_tls owns the SSL and a reference to its tls_srv.
 * Threads: the owning worker's.
 */
#ifndef GAAPD_PX_TX_H
#define GAAPD_PX_TX_H

#include <stdint.h>

#include <event2/event_struct.h>
#include <openssl/ssl.h>

struct bufferevent;
struct px_rd;
struct px_stats;
struct tls_srv;

struct px_tls {
	SSL *ssl;
	struct tls_srv *srv;        /* a reference (server side); NULL for a client side */
	struct px_rd *rd;
	struct bufferevent *bev;
	struct px_stats *stats;     /* handshake counters (server side; borrowed from the route) */
	struct event wev;           /* EV_WRITE: the rest of the output, or a handshake's */
	short end;                  /* BEV_EVENT_EOF/ERROR seen with data: reported next turn */
	unsigned hs_done : 1;
	unsigned failed : 1;        /* a fatal error: no close_notify */
	unsigned read_wants_write : 1;
	unsigned write_wants_read : 1;
	unsigned wev_added : 1;
	unsigned shut : 1;          /* close_notify sent */
	unsigned told : 1;          /* output after a failure reported to the event callback */
};

/* Server side on r's socket (px_rd_start() done) for bev, with srv's SSL: the handshake starts
 * at the first readiness, bounded by the handshake timeout (the read timeout until it is done),
 * counted in stats. Takes a reference to srv. 0, or -1 (ENOMEM: nothing attached). */
int px_tls_accept(struct px_rd *r, struct bufferevent *bev, struct tls_srv *srv,
	struct px_stats *stats);
/* Client side on r's socket (connecting; px_rd_start() done), with an SSL of the caller's
 * (ownership moves, also on failure): the handshake starts now, bounded by timeout_ms (the read
 * timeout until it is done); its end reaches bev's event callback as BEV_EVENT_CONNECTED, a
 * failure as BEV_EVENT_READING | ERROR (errno set), a timeout as READING | TIMEOUT. 0/-1. */
int px_tls_connect(struct px_rd *r, struct bufferevent *bev, SSL *ssl, unsigned timeout_ms);
void px_tls_free(struct px_tls *t);
/* px_rd's readiness on a TLS socket (what: EV_READ or EV_TIMEOUT). */
void px_tls_read(struct px_rd *r, short what);
/* px_flush() on a TLS socket: 0, or -1 after an error (reported to the event callback). */
int px_tls_flush(struct px_tls *t);
/* The write side ends: close_notify (best effort), then the TCP FIN. */
void px_tls_shut_wr(struct px_tls *t);

#endif
