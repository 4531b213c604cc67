/* daemon/proxy/head.h - message heads: collected from llhttp, rebuilt for the other side; feeding
 *   llhttp from an evbuffer; the close-reason table.
 * Ownership: a px_msg owns its head's and trailers' buffers (px_msg_free()). The collectors copy
 *   every span, so the input may be drained as soon as llhttp_execute() returns. The rebuild
 *   functions only append to the evbuffer they are given.
 * Lifetime: a px_msg is embedded in its connection; px_msg_next() readies it for the next message
 *   on the same connection (the parser itself carries on). Threads: the owning worker's; nothing
 *   here touches anything but its arguments.
 */
#ifndef GAAPD_PX_HEAD_H
#define GAAPD_PX_HEAD_H

#include <event2/buffer.h>
#include <llhttp.h>
#include <stddef.h>
#include <stdint.h>

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
	PX_CLOSE(RETIRED, "listener deleted", 0, NONE) \
	PX_CLOSE(DRAIN_TIMEOUT, "drain timeout", 0, NONE) \
	PX_CLOSE(TUNNEL_IDLE, "tunnel idle timeout", 0, NONE) \
	PX_CLOSE(BAD_REQUEST, "bad request", 400, NONE) \
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

struct px_hdr {
	size_t name, nlen;          /* offsets into px_head.buf */
	size_t value, vlen;
};

/* One head as received: the request target (or the response reason) and the header lines, in
 * order, with their bytes exactly as sent. */
struct px_head {
	char *buf;                  /* the target, then names and values, back to back */
	size_t len, cap;
	size_t tlen;                /* the target is buf[0, tlen) */
	struct px_hdr *hdrs;
	size_t nhdrs, hcap;
	size_t max;                 /* the limit on size */
	size_t max_lines;           /* the limit on header lines; 0 = none */
	size_t max_line;            /* the limit on a request line; 0 = none */
	size_t size;                /* span bytes plus 3 per line: never more than the raw head */
};

/* Each returns 0, or -1 when the head would exceed max or memory runs out; add_field -2 when a
 * new line would exceed max_lines. */
int px_head_add_target(struct px_head *h, const char *at, size_t len);
int px_head_add_field(struct px_head *h, const char *at, size_t len, int starts);
int px_head_add_value(struct px_head *h, const char *at, size_t len, int starts);
void px_head_clear(struct px_head *h);          /* keeps the memory for the next head */
void px_head_free(struct px_head *h);

/* The value of the first header called name (any case), or NULL; *vlen set when found. */
const char *px_head_get(const struct px_head *h, const char *name, size_t *vlen);
/* How many headers are called name (any case). */
size_t px_head_count(const struct px_head *h, const char *name);
/* Whether header i must not be forwarded: hop-by-hop by name or listed in a Connection header.
 * Upgrade and HTTP2-Settings are hop-by-hop too (an upgrade is between neighbours). */
int px_head_hop(const struct px_head *h, size_t i);
/* Whether an Upgrade header of h lists websocket (any case), the one protocol gaapd tunnels. */
int px_head_websocket(const struct px_head *h);

/* What a forwarded request carries besides the client's end-to-end headers. */
struct px_fwd {
	const char *method;
	const char *client_ip;
	int chunked;                /* the body goes out re-framed as chunked */
	int close;                  /* ask the origin to close after this exchange */
	int websocket;              /* ask the origin to upgrade to WebSocket (close is ignored) */
};
/* Appends the request head sent to an origin: the target byte for byte, HTTP/1.1, hop-by-hop
 * headers dropped (every Upgrade offer with them), X-Forwarded-For extended and X-Real-IP
 * replaced, then Upgrade: websocket and Connection: Upgrade for a WebSocket upgrade. 0 or -1
 * (ENOMEM). */
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

enum px_span { PX_SPAN_NONE, PX_SPAN_TARGET, PX_SPAN_FIELD, PX_SPAN_VALUE };

/* One direction of one connection: its parser and the message being read. */
struct px_msg {
	llhttp_t p;                 /* first member: the collectors find their px_msg from it */
	struct px_head head;
	struct px_head trailers;    /* the fields after a chunked body */
	const char *exec_at;        /* the bytes of the llhttp_execute() call running now */
	const char *exec_end;
	size_t head_bytes;          /* raw bytes consumed before the head completed */
	uint64_t chunk;             /* size of the chunk being read */
	enum px_span span;          /* which collector ran last */
	unsigned value_at_end : 1;  /* the last value span ended where its execute call's bytes did */
	unsigned got_head : 1;      /* on_headers_complete ran: later header spans are trailers */
	unsigned done : 1;          /* on_message_complete ran */
	unsigned keep : 1;          /* llhttp_should_keep_alive() at the last of those */
	unsigned char scan_prev;    /* the head byte before the ones being scanned */
	unsigned bare_lf : 1;       /* the head has an LF without its CR (strict llhttp takes one) */
	unsigned obs_fold : 1;      /* why a collector failed, or the scan found a folded line */
	unsigned too_large : 1;
	unsigned too_long : 1;      /* the request line exceeds head.max_line */
	unsigned too_many : 1;      /* more header lines than head.max_lines */
};

/* The head collectors, for the on_url/on_status, on_header_field, on_header_value and
 * on_header_value_complete slots of a settings table whose parsers are px_msg.p. */
int px_msg_on_target(llhttp_t *p, const char *at, size_t len);
int px_msg_on_field(llhttp_t *p, const char *at, size_t len);
int px_msg_on_value(llhttp_t *p, const char *at, size_t len);
int px_msg_on_value_complete(llhttp_t *p);

/* data is the parser's user pointer; max limits the head (px_head.max). */
void px_msg_init(struct px_msg *m, llhttp_type_t type, const llhttp_settings_t *s, size_t max,
	void *data);
void px_msg_next(struct px_msg *m);
void px_msg_free(struct px_msg *m);

/* Feeds buffered bytes to m's parser without copying; *used = bytes consumed, up to a pause or
 * an error. Empty input runs the parser once (completes a bodiless message after a pause).
 * The settings must pause at the end of a head (or of a bodiless message): the bytes of a head
 * are scanned for bare LFs and folded lines up to the first pause after it began. */
enum llhttp_errno px_feed(struct px_msg *m, struct evbuffer *in, size_t *used);

/* A complete head's framing, as far as even strict llhttp lets it through: NULL when it is
 * acceptable, else why not (for logs). Requests: exactly one Host in HTTP/1.1, at most one in
 * 1.0, a valid one (px_host_valid()), an origin-form, "*" or http(s) absolute-form target, no
 * Transfer-Encoding in 1.0. Both: HTTP/1.x, no bare LF or obs-fold, no empty field name,
 * Transfer-Encoding at most once and exactly "chunked" (OWS around it allowed), a status from
 * 100 to 599. Call it at the pause after the head, before the body is parsed: an acceptable
 * chunked head is marked F_CHUNKED in m's parser, which llhttp 8.1 misses when a tab follows
 * "chunked", so that llhttp frames the body as the check and the rebuilt head do. */
const char *px_msg_check(struct px_msg *m);
/* Whether a Host value is `uri-host [ ":" port ]` (RFC 9112 3.2, RFC 3986 3.2.2): a reg-name
 * (unreserved, sub-delims, percent-encoded), IPv4address or IP-literal in brackets, then at most
 * one colon and a port of 1 to 5 digits up to 65535. Empty is valid (a target without an
 * authority). No space, '@', '/', second colon outside brackets or empty port. */
int px_host_valid(const char *v, size_t len);

/* An absolute-form request target split (RFC 9112 3.2.2): authority and the rest (path and
 * query; empty when the target has neither path nor query). Spans point into the target. */
struct px_target {
	const char *authority, *path;
	size_t authority_len, path_len;
};
/* 1: s is "http://" or "https://" (any case), a valid uri-host [":" port] without userinfo, then
 * the rest; 0: origin-form or "*" (t untouched); -1: anything else (another scheme, userinfo,
 * a bad authority). */
int px_target_parse(const char *s, size_t len, struct px_target *t);

#endif
