/* daemon/proxy/msg.h - one direction of one connection: its llhttp parser, the head collectors,
 *   feeding the parser from an evbuffer, and the strictness checks of a complete head.
 * Ownership: a px_msg owns its head's and trailers' buffers (px_msg_free()). The collectors copy
 *   every span, so the input may be drained as soon as llhttp_execute() returns.
 * Lifetime: a px_msg is embedded in its connection; px_msg_next() readies it for the next message
 *   on the same connection (the parser itself carries on). Threads: the owning worker's; nothing
 *   here touches anything but its arguments.
 */
#ifndef GAAPD_PX_MSG_H
#define GAAPD_PX_MSG_H

#include <event2/buffer.h>
#include <llhttp.h>
#include <stddef.h>
#include <stdint.h>

#include "head.h"

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
	const char *host;           /* a request's Host value in head.buf as px_msg_check() found
	                             * it (the layer-7 routing reads it again), or NULL */
	size_t host_len;
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

#endif
