/* daemon/proxy/rewrite.h - the heads gaapd sends: a request head rebuilt for an origin, a
 *   response head rebuilt for a client, the chunked framing gaapd writes, and which headers are
 *   hop-by-hop (never forwarded). Where forwarding rules for headers belong.
 * Ownership: every function reads the px_head it is given and only appends to the evbuffer it is
 *   given. Threads: the owning worker's; nothing here touches anything but its arguments.
 */
#ifndef GAAPD_PX_REWRITE_H
#define GAAPD_PX_REWRITE_H

#include <event2/buffer.h>
#include <stddef.h>
#include <stdint.h>

#include "head.h"

/* Whether header i must not be forwarded: hop-by-hop by name or listed in a Connection header.
 * Upgrade and HTTP2-Settings are hop-by-hop too (an upgrade is between neighbours). */
int px_head_hop(const struct px_head *h, size_t i);
/* Whether an Upgrade header of h lists websocket (any case), the one protocol gaapd tunnels. */
int px_head_websocket(const struct px_head *h);

struct px_l7_header;

/* What a forwarded request carries besides the client's end-to-end headers. */
struct px_fwd {
	const char *method;
	const char *client_ip;
	int chunked;                /* the body goes out re-framed as chunked */
	int close;                  /* ask the origin to close after this exchange */
	int websocket;              /* ask the origin to upgrade to WebSocket (close is ignored) */
	/* Layer 7 (a rule's): the Host sent instead of the client's (NULL: the client's), and
	 * custom headers sent last, any client header (or gaapd's X-Real-IP) of their names
	 * dropped; a "$remote_addr" one carries client_ip. */
	const char *host;
	size_t host_len;
	const struct px_l7_header *headers;
	size_t nheaders;
	/* HTTPS (9.1.5): tls set drops any client X-Client-DN; client_dn (NULL: none) is the
	 * verified client certificate's subject, sent as X-Client-DN. */
	int tls;
	const char *client_dn;
};
/* Appends the request head sent to an origin: the target byte for byte, HTTP/1.1, hop-by-hop
 * headers dropped (every Upgrade offer with them), X-Forwarded-For extended and X-Real-IP
 * replaced, the rule's custom headers, then Upgrade: websocket and Connection: Upgrade for a
 * WebSocket upgrade. 0 or -1 (ENOMEM). */
int px_head_request(const struct px_head *h, const struct px_fwd *f, struct evbuffer *out);

/* How a response body travels to the client. */
enum px_frame {
	PX_FRAME_NONE,              /* no body: HEAD, 1xx, 204, 304 */
	PX_FRAME_LENGTH,            /* Content-Length, moved as is */
	PX_FRAME_CHUNKED,           /* chunked, with gaapd's own size lines */
	PX_FRAME_CLOSE,             /* raw bytes, the end is our close */
	PX_FRAME_TUNNEL,            /* a 101 to a WebSocket upgrade: Upgrade: websocket and
	                             * Connection: Upgrade, then bytes both ways, unframed */
};
/* Appends the response head sent to a client: HTTP/1.1, status and reason as received, hop-by-hop
 * headers dropped (and Content-Length for 1xx and 204), framing headers for frame, Connection:
 * connection unless NULL. 0 or -1. */
int px_head_response(const struct px_head *h, int status, enum px_frame frame,
	const char *connection, struct evbuffer *out);

/* Appends a chunk-size line for n bytes of chunk data ("%x\r\n", no printf). 0 or -1. */
int px_chunk_size(uint64_t n, struct evbuffer *out);

/* Appends the end of a chunked body: the last chunk, the trailer fields that may be forwarded
 * (not hop-by-hop, nor framing, routing, authentication or content metadata), the empty line.
 * 0 or -1. */
int px_last_chunk(const struct px_head *trailers, struct evbuffer *out);

#endif
