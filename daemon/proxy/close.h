/* daemon/proxy/close.h - why a client connection ended: the close-reason table, and the error
 *   response a reason sends.
 * Ownership: the table is static and immutable; px_close_reply() only appends to the evbuffer it
 *   is given. Threads: any.
 */
#ifndef GAAPD_PX_CLOSE_H
#define GAAPD_PX_CLOSE_H

#include <event2/buffer.h>

#include "px.h"

/* Why a client connection ended: name, text for logs, status sent (0 = close silently), and the
 * kind of origin failure it counts as in the listener's stats (px.h; NONE: not an origin's fault).
 * A status goes out only while no byte of the response has reached the client. */
#define PX_CLOSE_REASONS \
	PX_CLOSE(DONE, "done", 0, NONE) \
	PX_CLOSE(CLIENT_CLOSED, "client closed", 0, NONE) \
	PX_CLOSE(CLIENT_ERROR, "client error", 0, NONE) \
	PX_CLOSE(IDLE_TIMEOUT, "keepalive timeout", 0, NONE) \
	PX_CLOSE(SEND_TIMEOUT, "send timeout", 0, NONE) \
	PX_CLOSE(SHUTDOWN, "shutdown", 0, NONE) \
	PX_CLOSE(TLS_HANDSHAKE, "TLS handshake failed or timed out", 0, NONE) \
	PX_CLOSE(RETIRED, "listener deleted", 0, NONE) \
	PX_CLOSE(DRAIN_TIMEOUT, "drain timeout", 0, NONE) \
	PX_CLOSE(TUNNEL_IDLE, "tunnel idle timeout", 0, NONE) \
	PX_CLOSE(BAD_REQUEST, "bad request", 400, NONE) \
	PX_CLOSE(BAD_PATH, "bad path", 400, NONE)   /* layer 7: 9.3.1 */ \
	PX_CLOSE(PATH_TOO_LONG, "path too long to route", 414, NONE) \
	/* Answers request.c writes (px_reply()), then closes only when the connection cannot be
	 * kept (answer_keeps()): no domain or rule, 404 (layer 7: 9.2.4, 9.3.3); a rule without
	 * real servers, 503 (9.4.1; not an origin failure: there is no origin); ForcedRedirect's
	 * 301 (9.3.4). */ \
	PX_CLOSE(NO_ROUTE, "no domain or rule", 0, NONE) \
	PX_CLOSE(NO_BINDING, "rule without real servers", 0, NONE) \
	PX_CLOSE(REDIRECT, "redirected to https", 0, NONE) \
	PX_CLOSE(MISDIRECTED, "host verifies other client CAs", 0, NONE) /* 421, 9.1.4 */ \
	PX_CLOSE(HEADER_TIMEOUT, "header timeout", 408, NONE) \
	PX_CLOSE(BODY_TIMEOUT, "request body timeout", 408, NONE) \
	PX_CLOSE(BODY_TOO_LARGE, "request body too large", 413, NONE) \
	PX_CLOSE(URI_TOO_LONG, "request line too long", 414, NONE) \
	PX_CLOSE(HEADER_TOO_LARGE, "request header too large", 431, NONE) \
	PX_CLOSE(NO_MEMORY, "out of memory", 500, NONE) \
	PX_CLOSE(NO_ORIGIN, "no origin available", 502, UNAVAILABLE) \
	PX_CLOSE(ORIGIN_CONNECT, "origin connect failed", 502, CONNECT) \
	PX_CLOSE(ORIGIN_CLOSED, "origin closed", 502, CLOSED) \
	PX_CLOSE(ORIGIN_STALE, "pooled origin connection closed", 502, STALE) \
	PX_CLOSE(BAD_RESPONSE, "bad origin response", 502, MALFORMED) \
	PX_CLOSE(ORIGIN_CONNECT_TIMEOUT, "origin connect timeout", 504, CONNECT_TIMEOUT) \
	PX_CLOSE(ORIGIN_TIMEOUT, "origin timeout", 504, TIMEOUT)

enum px_close {
#define PX_CLOSE(name, text, status, oerr) PX_CLOSE_##name,
	PX_CLOSE_REASONS
#undef PX_CLOSE
	PX_CLOSE_COUNT
};

const char *px_close_text(enum px_close r);
int px_close_status(enum px_close r);
enum px_oerr px_close_oerr(enum px_close r);    /* PX_OERR_NONE for a reason that is not one */
/* Appends a complete error response for r (Content-Length, Connection: close). 0 or -1. */
int px_close_reply(enum px_close r, struct evbuffer *out);
/* px_reply() flags: Connection: keep-alive instead of close; the answer to a HEAD (its head
 * only: the Content-Length of the body a GET would get, RFC 9110 9.3.2). */
#define PX_REPLY_KEEP 1u
#define PX_REPLY_HEAD 2u
/* The same for any status gaapd answers itself, with a Location header unless NULL. */
int px_reply(int status, const char *location, size_t location_len, unsigned flags,
	struct evbuffer *out);

#endif
