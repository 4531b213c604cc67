/* daemon/proxy/request.c - the request side of an exchange: parsing, the checks that keep
 *   anything ambiguous away from origins (400 and close), limits (413, 414, 431), the rebuilt
 *   head and the body relay to the origin, the keep-alive cycle. */
#include "request.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "close.h"
#include "conn.h"
#include "head.h"
#include "l7.h"
#include "log.h"
#include "msg.h"
#include "origin.h"
#include "rewrite.h"
#include "tls/tls.h"
#include "tx.h"
#include "route.h"
#include "uri.h"

static int on_message_begin(llhttp_t *p);
static int on_headers_complete(llhttp_t *p);
static int on_chunk_header(llhttp_t *p);
static int on_body(llhttp_t *p, const char *at, size_t len);
static int on_chunk_complete(llhttp_t *p);
static int on_message_complete(llhttp_t *p);

const llhttp_settings_t px_request_settings = {
	.on_message_begin = on_message_begin,
	.on_url = px_msg_on_target,
	.on_header_field = px_msg_on_field,
	.on_header_value = px_msg_on_value,
	.on_header_value_complete = px_msg_on_value_complete,
	.on_headers_complete = on_headers_complete,
	.on_chunk_header = on_chunk_header,
	.on_body = on_body,
	.on_chunk_complete = on_chunk_complete,
	.on_message_complete = on_message_complete,
};

/* The request body's destination; NULL only once the exchange is being torn down. */
static struct evbuffer *origin_out(struct px_conn *c)
{
	return c->org != NULL ? bufferevent_get_output(c->org->bev) : NULL;
}

static int on_message_begin(llhttp_t *p)
{
	struct px_conn *c = p->data;
	c->state = PX_HEAD;
	c->t_begin = px_mono_us();
	c->t_head = 0;
	c->sent_mark = c->sent;
	c->status = 0;
	c->origin = NULL;
	c->logged = 0;
	px_conn_timer(c, c->route->http.client_header_timeout_ms);
	return 0;
}

static int on_headers_complete(llhttp_t *p)
{
	struct px_conn *c = p->data;
	c->req.got_head = 1;
	return HPE_PAUSED;          /* the head is rebuilt outside the parser, then we resume */
}

static int on_chunk_header(llhttp_t *p)
{
	struct px_conn *c = p->data;
	struct evbuffer *out = origin_out(c);
	c->req.chunk = p->content_length;
	if (c->discard)
		return 0;
	if (out == NULL)
		return -1;
	if (p->content_length == 0)     /* the last chunk: on_message_complete ends the body */
		return 0;
	return px_chunk_size(p->content_length, out);
}

/* The most of a request body read and dropped after an answer of gaapd's own (answer_keeps()). */
static uint64_t discard_max(const struct px_conn *c)
{
	size_t max = c->route->http.max_body_size;
	return max != 0 && max < PX_DISCARD_MAX ? max : PX_DISCARD_MAX;
}

/* Content-Length bodies are moved (or dropped) after execute returns (their size was checked
 * with the head); only chunk data is counted and copied here. */
static int on_body(llhttp_t *p, const char *at, size_t len)
{
	struct px_conn *c = p->data;
	struct evbuffer *out = origin_out(c);
	uint64_t max = c->discard ? discard_max(c) : c->route->http.max_body_size;
	if (!c->req_chunked)
		return 0;
	c->body_bytes += len;
	if (max != 0 && c->body_bytes > max) {
		c->body_over = 1;
		return -1;
	}
	if (c->discard)
		return 0;
	return out != NULL && evbuffer_add(out, at, len) == 0 ? 0 : -1;
}

static int on_chunk_complete(llhttp_t *p)
{
	struct px_conn *c = p->data;
	struct evbuffer *out = origin_out(c);
	if (c->req.chunk == 0 || c->discard)
		return 0;
	return out != NULL && evbuffer_add(out, "\r\n", 2) == 0 ? 0 : -1;
}

static int on_message_complete(llhttp_t *p)
{
	struct px_conn *c = p->data;
	struct evbuffer *out = origin_out(c);
	c->req.done = 1;
	c->req.keep = llhttp_should_keep_alive(p);
	if (c->req_chunked && !c->discard &&
	    (out == NULL || px_last_chunk(&c->req.trailers, out) != 0))
		return -1;
	return HPE_PAUSED;          /* one request in flight: pipelined bytes wait */
}

/* Head bytes are only counted (the collectors copied them); body bytes go to the origin. */
static int request_consumed(struct px_conn *c, struct evbuffer *in, size_t used)
{
	if (c->state == PX_IDLE || c->state == PX_HEAD) {
		c->req.head_bytes += used;
		evbuffer_drain(in, used);
		if (c->req.head_bytes <= c->route->http.max_header_size)
			return 0;
		px_conn_close(c, PX_CLOSE_HEADER_TOO_LARGE);
		return -1;
	}
	if (c->req_chunked || c->org == NULL) {
		evbuffer_drain(in, used);
	} else if (evbuffer_remove_buffer(in, origin_out(c), used) != (int)used) {
		px_conn_close(c, PX_CLOSE_NO_MEMORY);
		return -1;
	}
	if (c->org != NULL && px_throttle(&c->rd, c->org->bev))
		c->client_throttled = 1;
	return 0;
}

static void request_error(struct px_conn *c, enum llhttp_errno err)
{
	const struct px_msg *m = &c->req;
	const char *why = llhttp_get_error_reason(&c->req.p);
	LOG_DEBUG("px", "conn=%" PRIu64 " client=%s: bad request: %s%s: %s", c->id, c->ip,
		llhttp_errno_name(err), m->obs_fold ? " obs-fold" : "", why != NULL ? why : "");
	px_conn_close(c, c->body_over ? PX_CLOSE_BODY_TOO_LARGE : m->too_long ? PX_CLOSE_URI_TOO_LONG
		: m->too_large || m->too_many ? PX_CLOSE_HEADER_TOO_LARGE : PX_CLOSE_BAD_REQUEST);
}

/* WebSocket is the one protocol gaapd tunnels, and only from a bodiless HTTP/1.1 GET that says
 * Connection: upgrade (RFC 6455 4.1): anything else naming it is refused rather than guessed
 * at. Other Upgrade offers (h2c, ...) are dropped with the hop-by-hop headers and the request
 * is served as HTTP/1.1. CONNECT is for forward proxies. NULL when acceptable. */
static const char *upgrade_refused(const struct px_conn *c)
{
	const llhttp_t *p = &c->req.p;
	int body = (p->flags & F_CHUNKED) ||
		((p->flags & F_CONTENT_LENGTH) && p->content_length != 0);
	if (p->method == HTTP_CONNECT)
		return "CONNECT";
	if (c->websocket && (p->method != HTTP_GET || p->http_minor == 0 || body ||
	    !(p->flags & F_CONNECTION_UPGRADE)))
		return "websocket upgrade other than a bodiless HTTP/1.1 GET with Connection: upgrade";
	return NULL;
}

/* What even strict llhttp lets through (px_msg_check()), upgrades gaapd does not tunnel
 * (upgrade_refused()), and a Content-Length over the body limit (413 before the origin sees
 * anything). */
static int request_acceptable(struct px_conn *c)
{
	llhttp_t *p = &c->req.p;
	const char *why = px_msg_check(&c->req);
	size_t max = c->route->http.max_body_size;
	if (why == NULL)
		why = upgrade_refused(c);
	if (why != NULL) {
		LOG_DEBUG("px", "conn=%" PRIu64 " client=%s: bad request: %s", c->id, c->ip, why);
		px_conn_close(c, PX_CLOSE_BAD_REQUEST);
		return 0;
	}
	if (max != 0 && (p->flags & F_CONTENT_LENGTH) && p->content_length > max) {
		px_conn_close(c, PX_CLOSE_BODY_TOO_LARGE);
		return 0;
	}
	return 1;
}

/* RFC 9110 9.2.2, and no body: what a stale pooled connection may be retried with. */
static int replayable(const llhttp_t *p)
{
	int idem = p->method == HTTP_GET || p->method == HTTP_HEAD || p->method == HTTP_PUT ||
		p->method == HTTP_DELETE || p->method == HTTP_OPTIONS || p->method == HTTP_TRACE;
	return idem && !(p->flags & F_CHUNKED) &&
		!((p->flags & F_CONTENT_LENGTH) && p->content_length != 0);
}

/* mTLS: the verified client's subject, once per connection (a session resumed keeps it). */
static const char *client_dn(struct px_conn *c)
{
	char dn[1024];
	if (c->rd.tls == NULL || !tls_srv_mutual(c->rd.tls->srv))
		return NULL;
	if (c->client_dn == NULL && tls_peer_dn(c->rd.tls->ssl, dn, sizeof dn) == 0)
		c->client_dn = strdup(dn);
	return c->client_dn;
}

int px_send_head(struct px_conn *c)
{
	llhttp_t *p = &c->req.p;
	const struct px_l7_rule *r = c->rule;
	struct px_fwd f = { .tls = c->rd.tls != NULL, .client_dn = client_dn(c),
		.client_ip = c->ip, .chunked = c->req_chunked,
		.method = llhttp_method_name((llhttp_method_t)p->method),
		.close = c->route->http.origin_keepalive == 0, .websocket = c->websocket,
		.host = r != NULL ? r->forward_host : NULL,
		.host_len = r != NULL ? r->forward_host_len : 0,
		.headers = r != NULL ? r->headers : NULL, .nheaders = r != NULL ? r->nheaders : 0 };
	if (px_head_request(&c->req.head, &f, bufferevent_get_output(c->org->bev)) != 0) {
		px_conn_close(c, PX_CLOSE_NO_MEMORY);
		return -1;
	}
	return 0;
}

/* Whether the connection may outlive an answer of gaapd's own (404, 301, 503), as nginx's does
 * after `return` or a missing location: the client wants it kept (HTTP/1.1 without
 * "Connection: close", HTTP/1.0 with keep-alive; and not a deleted listener's, c->keep) and has
 * not half-closed; it sent nothing past the request before the answer, that is, no pipelined
 * request (as far as can be told at the head: a chunked body's end is known only when the
 * parser reaches it, and what follows it is then read as the next request, the framing being
 * certain); and whatever body follows can be read and dropped - as
 * ngx_http_discard_request_body() does, but bounded in bytes too: a Content-Length within
 * discard_max() (a chunked body is counted as it comes, on_body()), within linger_timeout in all
 * (nginx: lingering_time; 0, no lingering, reads no body) and the body read timeout between
 * reads. A body announced with "Expect: 100-continue" closes: the client may be holding it back
 * for a 100 that will not come, and what it sends next is then in doubt. */
static int answer_keeps(struct px_conn *c)
{
	const llhttp_t *p = &c->req.p;
	size_t in = evbuffer_get_length(bufferevent_get_input(c->bev));
	size_t len;
	if (!c->keep || c->eof)
		return 0;
	if (!c->req_body)
		return in == 0;
	if (c->route->http.linger_timeout_ms == 0 || px_head_get(&c->req.head, "expect", &len))
		return 0;
	if (c->req_chunked)
		return 1;
	return p->content_length <= discard_max(c) && in <= p->content_length;
}

/* An answer of gaapd's own that the close table does not write (close.h). Then either the close
 * (reason), or the request's body, if any, read and dropped until the message ends, when the
 * exchange is done and the connection waits for its next request (request_paused()).
 * 1 = kept, parser resumed; -1 = closing. */
static int request_answer(struct px_conn *c, int status, const char *loc, size_t len,
	enum px_close reason)
{
	int keep = answer_keeps(c);
	unsigned flags = (keep ? PX_REPLY_KEEP : 0) | (c->req_head ? PX_REPLY_HEAD : 0);
	if (px_reply(status, loc, len, flags, bufferevent_get_output(c->bev)) != 0) {
		px_conn_close(c, PX_CLOSE_NO_MEMORY);
		return -1;
	}
	px_conn_response_head(c, status);   /* what px_exchange_done() counts and logs */
	if (!keep) {
		px_conn_close(c, reason);
		return -1;
	}
	LOG_DEBUG("px", "conn=%" PRIu64 " req=%" PRIu64 " listener=%s client=%s: %d (%s), kept",
		c->id, c->nreq, c->route->id, c->ip, status, px_close_text(reason));
	c->discard = 1;
	c->state = PX_BODY;
	if (c->req_body) {
		px_client_timeouts(c, 1);
		px_conn_timer(c, c->route->http.linger_timeout_ms);
	}
	llhttp_resume(&c->req.p);
	return 1;
}

/* ForcedRedirect (9.3.4): a 301 to https. As request_answer(). */
static int request_redirect(struct px_conn *c, const char *host, size_t hlen, const char *path,
	size_t plen)
{
	char loc[PX_RT_PATH_MAX + 512];
	size_t len;
	if (px_l7_location(c->rule, host, hlen, path, plen, loc, sizeof loc, &len) == 0)
		return request_answer(c, 301, loc, len, PX_CLOSE_REDIRECT);
	px_conn_close(c, PX_CLOSE_PATH_TOO_LONG);
	return -1;
}

/* Layer 7 (9.2-9.4): with a px_l7 in the route's cell, the request goes by one of its rules
 * (c->rule; the px_l7 is the exchange's until the next request) or gets gaapd's own answer.
 * Host: the absolute-form authority, else the Host header (the head checks validated both).
 * 0 = forward (c->rule NULL: the configured origins); else answered: as request_answer(). */
static int request_route(struct px_conn *c)
{
	const struct px_head *h = &c->req.head;
	const char *host, *path = h->buf;
	size_t hlen = 0, plen = h->tlen;
	struct px_target t;
	enum px_rt_result res;
	px_l7_unref(c->l7);
	c->l7 = c->route->l7 != NULL ? px_l7_cell_get(c->route->l7) : NULL;
	c->rule = NULL;
	if (c->l7 == NULL)
		return 0;
	host = c->req.host;         /* px_msg_check() found it: no second search */
	hlen = c->req.host_len;
	if ((h->tlen == 0 || h->buf[0] != '/') && px_target_parse(h->buf, h->tlen, &t) == 1) {
		host = t.authority;     /* absolute-form: the only kind that does not start '/' */
		hlen = t.authority_len;
		path = t.path;
		plen = t.path_len;
	}
	if (host != NULL && hlen == 0)
		host = NULL;            /* "Host:" empty: as none */
	res = plen == 0 || path[0] == '?' ? px_l7_route(c->l7, host, hlen, "/", 1, &c->rule)
		: px_l7_route(c->l7, host, hlen, path, plen, &c->rule);
	if (res != PX_RT_FOUND) {
		LOG_DEBUG("px", "conn=%" PRIu64 " listener=%s client=%s: no route (%d)", c->id,
			c->route->id, c->ip, (int)res);
		if (res != PX_RT_BAD_PATH && res != PX_RT_TOO_LONG)
			return request_answer(c, 404, NULL, 0, PX_CLOSE_NO_ROUTE);
		px_conn_close(c, res == PX_RT_BAD_PATH ? PX_CLOSE_BAD_PATH : PX_CLOSE_PATH_TOO_LONG);
		return -1;
	}
	if (c->rule->redirect)
		return request_redirect(c, host, hlen, path, plen);
	if (c->rule->group->n == 0)
		return request_answer(c, 503, NULL, 0, PX_CLOSE_NO_BINDING);
	return 0;
}

/* The request's Host without port and trailing dot (9.2.1) into *len; NULL when none. */
static const char *request_host(const struct px_head *h, size_t *len)
{
	struct px_target t;
	const char *host;
	if (px_target_parse(h->buf, h->tlen, &t) == 1) {
		host = t.authority;
		*len = t.authority_len;
	} else if ((host = px_head_get(h, "host", len)) == NULL) {
		return NULL;
	}
	if (*len > 0 && host[0] != '[') {          /* an IPv6 literal matches no domain anyway */
		const char *colon = memchr(host, ':', *len);
		if (colon != NULL)
			*len = (size_t)(colon - host);
	}
	if (*len > 0 && host[*len - 1] == '.')
		(*len)--;
	return host;
}

/* mTLS (9.1.4): a Host whose domain verifies clients against other CAs than the handshake did
 * gets 421, or a client could handshake under a lax domain and address a strict one. */
static int request_misdirected(struct px_conn *c)
{
	const struct px_tls *t = c->rd.tls;
	const char *host;
	size_t len = 0;
	if (t == NULL || !tls_srv_mutual(t->srv))
		return 0;
	host = request_host(&c->req.head, &len);
	if (tls_srv_host_caset(t->srv, host != NULL ? host : "", host != NULL ? len : 0) ==
	    tls_srv_caset(t->ssl))
		return 0;
	return request_answer(c, 421, NULL, 0, PX_CLOSE_MISDIRECTED);
}

/* Headers complete: rebuild the head into an origin's output. 1 = parser resumed. */
static int request_head(struct px_conn *c)
{
	llhttp_t *p = &c->req.p;
	int routed;
	c->websocket = px_head_websocket(&c->req.head);
	if (!request_acceptable(c))
		return 0;
	/* Parsed to its end as an HTTP/1.1 message whatever it offered: llhttp would stop there
	 * for good (HPE_PAUSED_UPGRADE), and a WebSocket request the origin does not switch for
	 * leaves the connection HTTP. Only a 101 makes a tunnel (origin.c). */
	p->upgrade = 0;
	evtimer_del(&c->timer);    /* the client may now be silent as long as the exchange runs */
	c->nreq++;
	c->http10 = p->http_minor == 0;
	c->req_head = p->method == HTTP_HEAD;
	c->req_chunked = (p->flags & F_CHUNKED) != 0;
	c->req_body = c->req_chunked || ((p->flags & F_CONTENT_LENGTH) && p->content_length != 0);
	c->req_replay = replayable(p);
	c->req.keep = llhttp_should_keep_alive(p);
	c->keep = c->req.keep && !c->retiring;
	c->body_bytes = 0;
	if ((routed = request_misdirected(c)) != 0 || (routed = request_route(c)) != 0)
		return routed > 0;      /* answered: kept (its body, if any, is dropped) or closing */
	if (px_origin_get(c) != 0 || px_send_head(c) != 0)
		return 0;
	c->state = PX_BODY;
	if (c->req_body)    /* a bodiless request is all in: the client's timeouts stay as they are */
		px_client_timeouts(c, 1);
	LOG_DEBUG("px", "conn=%" PRIu64 " req=%" PRIu64 " listener=%s client=%s origin=%s "
		"method=%s target=%.*s reused=%u", c->id, c->nreq, c->route->id, c->ip,
		c->org->addr->text, llhttp_method_name((llhttp_method_t)p->method),
		(int)c->req.head.tlen, c->req.head.buf, c->org->reused);
	llhttp_resume(p);
	return 1;
}

static int next_request(struct px_conn *c);

/* The request gaapd answered itself is all read: px_conn_response_done() without calling
 * px_next_request() from inside px_request_pump(): requests that follow in the input (after a
 * chunked body, answer_keeps()) are read by the same loop, not one call deeper each. */
static int request_discarded(struct px_conn *c)
{
	evtimer_del(&c->timer);
	px_exchange_done(c);
	c->state = PX_FLUSH;
	if (!c->broken && px_flush(c->bev, &c->rd) != 0)
		c->broken = 1;
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) != 0)
		return 0;               /* client_write_cb() starts the next request */
	return next_request(c);
}

/* The parser paused: at the end of a head, or of a message. 1 = parser resumed. */
static int request_paused(struct px_conn *c)
{
	if (c->state == PX_HEAD)
		return request_head(c);
	c->state = PX_WAIT;
	px_client_timeouts(c, 0);
	if (c->org != NULL)
		px_origin_timeouts(c->org, PX_ORG_WAITING);
	if (c->discard)
		return request_discarded(c);
	return 0;
}

void px_request_pump(struct px_conn *c, int resumed)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	while (!c->closing && c->state != PX_WAIT && c->state != PX_FLUSH) {
		size_t used;
		enum llhttp_errno err;
		if (evbuffer_get_length(in) == 0 && !resumed)
			return;
		err = px_feed(&c->req, in, &used);
		if (request_consumed(c, in, used) != 0 || err == HPE_OK)
			return;
		if (err != HPE_PAUSED) {
			request_error(c, err);
			return;
		}
		resumed = request_paused(c);
		if (!resumed)
			return;
	}
}

/* A big head's buffers go back between requests: an idle connection stays small. */
static void shrink_head(struct px_msg *m)
{
	if (m->head.cap > PX_HEAD_KEEP || m->head.hcap > PX_HEAD_KEEP / sizeof(struct px_hdr))
		px_head_free(&m->head);
	px_head_free(&m->trailers);     /* rare: never kept */
}

/* Readies c for its next request, the parser resumed; 0 when c closes instead. */
static int next_request(struct px_conn *c)
{
	if (!c->keep) {
		px_conn_close(c, PX_CLOSE_DONE);
		return 0;
	}
	if (c->org == NULL) {       /* the next request takes the routing current then */
		px_l7_unref(c->l7);
		c->l7 = NULL;
		c->rule = NULL;
		c->origin = NULL;       /* pointed into one of its servers */
	}
	px_msg_next(&c->req);
	shrink_head(&c->req);
	c->req_chunked = c->req_head = c->resp_started = c->body_over = c->discard = 0;
	c->state = PX_IDLE;
	px_conn_timer(c, c->route->http.client_keepalive_timeout_ms);
	llhttp_resume(&c->req.p);
	return 1;
}

void px_next_request(struct px_conn *c)
{
	if (!next_request(c))
		return;
	px_request_pump(c, 1);
	if (c->eof && !c->closing && c->state != PX_WAIT && c->state != PX_FLUSH)
		px_conn_close(c, PX_CLOSE_CLIENT_CLOSED);
}
