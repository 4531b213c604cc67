/* daemon/proxy/rd.h - the read side of a proxied socket (internal to daemon/proxy).
 * Why not the bufferevent's own reads: libevent 2.1's evbuffer_read() asks the kernel how much
 *   is waiting (ioctl FIONREAD) before every read - a system call per read, two per proxied
 *   request - and reads at most 4 KiB per event. A px_rd reads straight into the bufferevent's
 *   input: one recv() of up to PX_RD_FIRST bytes per readiness (into a scratch buffer, copied:
 *   small messages get small chains) and, only when that filled, one readv() of up to PX_RD_MORE
 *   straight into the input (a body streams at up to 256 KiB per event). The bufferevent keeps the
 *   write side (output, write timeout, connect); its own read event is never enabled.
 * TLS: with a transport (tls, tx.h) each readiness goes to px_tls_read() instead: the same
 *   semantics over SSL_read_ex (decrypted bytes waiting in the SSL re-arm the event themselves).
 * Ownership: embedded in the px_conn or px_origin whose socket it reads; the socket belongs to
 *   the bufferevent (BEV_OPT_CLOSE_ON_FREE), the event to the px_rd (px_rd_free() before the
 *   bufferevent goes). Callbacks run straight from the event loop, never nested in another
 *   callback of the same object.
 * Semantics kept from bufferevents: reading stops at the input's high mark and resumes once the
 *   input is below it again (px_rd_room(), which the owner calls after it consumed input); the
 *   timeout counts inactivity while reading is enabled and restarts at every read; EOF, an error
 *   and a timeout disable reading and reach the event callback as BEV_EVENT_READING | EOF, ERROR
 *   (errno kept) or TIMEOUT.
 */
#ifndef GAAPD_PX_RD_H
#define GAAPD_PX_RD_H

#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>
#include <event2/event_struct.h>    /* only to embed a struct event: one allocation fewer */

struct evbuffer;
struct px_worker;
struct px_tls;

/* The first read of a readiness: a request or a small response fits. */
#define PX_RD_FIRST 4096
/* What one more read takes when the first filled (a body in flight): up to PX_MAX_PENDING in
 * one readiness, with the first read. */
#define PX_RD_MORE (252 * 1024)

typedef void px_rd_read_fn(void *arg);
typedef void px_rd_event_fn(short what, void *arg);

struct px_rd {
	struct event ev;            /* EV_READ | EV_PERSIST; assigned by px_rd_start() */
	struct px_worker *w;        /* whose loop ev is in (and whose common timeouts it uses) */
	struct px_tls *tls;         /* the TLS transport (tx.h), owned; NULL: a plain socket */
	struct evbuffer *in;        /* the bufferevent's input (its end is frozen outside reads) */
	px_rd_read_fn *on_read;     /* bytes were added */
	px_rd_event_fn *on_event;
	void *arg;
	uint64_t bytes;             /* read, ever */
	size_t high;                /* reads stop while the input holds this much; 0 = no bound */
	unsigned timeout_ms;        /* 0 = none */
	unsigned started : 1;       /* ev is assigned: the socket is open */
	unsigned enabled : 1;       /* the owner wants to read */
	unsigned full : 1;          /* stopped at the high mark */
	unsigned added : 1;         /* ev is pending in the loop */
};

/* Binds r to in (reads bounded by high); not reading, no socket yet. */
void px_rd_init(struct px_rd *r, struct evbuffer *in, size_t high);
/* The socket is open (accepted, or connected): reading may begin, in w's loop. 0, or -1. */
int px_rd_start(struct px_rd *r, struct px_worker *w, evutil_socket_t fd);
void px_rd_free(struct px_rd *r);
void px_rd_setcb(struct px_rd *r, px_rd_read_fn *on_read, px_rd_event_fn *on_event, void *arg);
void px_rd_enable(struct px_rd *r);
void px_rd_disable(struct px_rd *r);
/* The inactivity timeout, applied at once when reading (no system call). */
void px_rd_timeout(struct px_rd *r, unsigned ms);
/* The owner consumed input: reads resume if they stopped at the high mark. */
void px_rd_room(struct px_rd *r);
/* For the transport (tx.c): ev pending exactly while wanted; reading ends (reported once: the
 * callback may free r's owner); the input at its high mark. */
void px_rd_sync(struct px_rd *r);
void px_rd_end(struct px_rd *r, short what, int err);
int px_rd_is_full(const struct px_rd *r);

#endif
