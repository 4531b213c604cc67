/* daemon/proxy/origin.c - the origin side of an exchange: choosing an origin, a pooled or new
 *   connection to it, failing over when a connect fails, the one retry of a stale pooled
 *   connection, response parsing and checks, head rebuild, body relay to the client, and the
 *   connection's return to the pool at a clean message boundary. */
#include "origin.h"

#include <errno.h>
#include <inttypes.h>
#include <unistd.h>
#include <sys/socket.h>
#include <event2/bufferevent.h>
#include <event2/util.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "close.h"
#include "conn.h"
#include "l7.h"
#include "log.h"
#include "msg.h"
#include "pool.h"
#include "rd.h"
#include "request.h"
#include "rewrite.h"
#include "route.h"
#include "stats.h"
#include "tls/tls.h"
#include "tunnel.h"
#include "tx.h"
#include "worker.h"

/* When the route does not say (routes built by hand in tests). */
#define PX_MAX_RESPONSE_HEAD (64 * 1024)

static int on_headers_complete(llhttp_t *p);
static int on_chunk_header(llhttp_t *p);
static int on_body(llhttp_t *p, const char *at, size_t len);
static int on_chunk_complete(llhttp_t *p);
static int on_message_complete(llhttp_t *p);
static void origin_read(void *arg);
static void origin_write_cb(struct bufferevent *bev, void *arg);
static void origin_event(short what, void *arg);
static void origin_event_cb(struct bufferevent *bev, short what, void *arg);

static const llhttp_settings_t response_settings = {
	.on_status = px_msg_on_target,
	.on_header_field = px_msg_on_field,
	.on_header_value = px_msg_on_value,
	.on_header_value_complete = px_msg_on_value_complete,
	.on_headers_complete = on_headers_complete,
	.on_chunk_header = on_chunk_header,
	.on_body = on_body,
	.on_chunk_complete = on_chunk_complete,
	.on_message_complete = on_message_complete,
};

/* The exchange's origins: its layer-7 rule's group, or the route's configured ones. Failover,
 * exclusion and passive health are the same for both. */
static struct ups_group *group_of(const struct px_conn *c)
{
	return c->rule != NULL ? c->rule->group : c->route->group;
}

static struct ups_server *server_of(const struct px_conn *c, int idx)
{
	return group_of(c)->m[idx].srv;
}

static struct evbuffer *client_out(struct px_origin *o)
{
	return bufferevent_get_output(o->c->bev);
}

static struct evbuffer *origin_out(struct px_conn *c)
{
	return bufferevent_get_output(c->org->bev);
}

static size_t head_max(const struct px_conn *c)
{
	unsigned m = c->route->http.max_response_header_size;
	return m != 0 ? m : PX_MAX_RESPONSE_HEAD;
}

/* Bodiless by rule, whatever the headers say (llhttp 8.1 would trust a Content-Length). */
static int on_headers_complete(llhttp_t *p)
{
	struct px_origin *o = p->data;
	int status = p->status_code;
	o->resp.got_head = 1;
	if (status == 101)          /* only to a WebSocket upgrade: checked, then a tunnel */
		return o->c->websocket ? HPE_PAUSED : -1;
	if (status < 200 || status == 204 || status == 304 || o->c->req_head)
		return 1;
	return HPE_PAUSED;          /* the head is rebuilt outside the parser, then we resume */
}

static int on_chunk_header(llhttp_t *p)
{
	struct px_origin *o = p->data;
	o->resp.chunk = p->content_length;
	if (o->frame != PX_FRAME_CHUNKED || p->content_length == 0)
		return 0;
	return px_chunk_size(p->content_length, client_out(o));
}

/* Only chunk data is copied here; other bodies are moved after execute returns. */
static int on_body(llhttp_t *p, const char *at, size_t len)
{
	struct px_origin *o = p->data;
	if (!o->in_chunked)
		return 0;
	return evbuffer_add(client_out(o), at, len) == 0 ? 0 : -1;
}

static int on_chunk_complete(llhttp_t *p)
{
	struct px_origin *o = p->data;
	if (o->frame != PX_FRAME_CHUNKED || o->resp.chunk == 0)
		return 0;
	return evbuffer_add(client_out(o), "\r\n", 2) == 0 ? 0 : -1;
}

static int on_message_complete(llhttp_t *p)
{
	struct px_origin *o = p->data;
	o->resp.done = 1;
	o->resp.keep = llhttp_should_keep_alive(p);
	return HPE_PAUSED;          /* the origin connection's fate is decided at this boundary */
}

static void origin_failed(struct px_origin *o, enum px_close reason, const char *detail)
{
	struct px_conn *c = o->c;
	LOG_WARN("px", "conn=%" PRIu64 " listener=%s client=%s origin=%s: %s%s%s", c->id,
		c->route->id, c->ip, o->addr->text, px_close_text(reason),
		detail != NULL ? ": " : "", detail != NULL ? detail : "");
	px_conn_close(c, reason);
}

/* Passive health: a refused, failed or silent origin is skipped for a while by every route naming
 * its server, unless it is this route's only one (px_route_failed()); logged once per transition
 * of the server, by whichever listener caused it, not per request. The member's active check
 * counts it too (with a FailedThreshold, l7-and-https.md 9.4.2). */
static void health_failed(struct px_origin *o)
{
	struct px_conn *c = o->c;
	struct hc_target *check = group_of(c)->m[o->idx].check;
	if (check != NULL)
		hc_target_failed(check);
	if (px_route_group_failed(c->route, group_of(c), (size_t)o->idx))
		LOG_WARN("px", "listener=%s origin=%s: down for %u ms", c->route->id, o->addr->text,
			c->route->http.origin_fail_timeout_ms);
}

void px_origin_timeouts(struct px_origin *o, enum px_org_phase phase)
{
	const struct cfg_http *h = &o->c->route->http;
	px_rd_timeout(&o->rd, phase == PX_ORG_WAITING ? h->origin_response_timeout_ms : 0);
	px_write_timeout(o->w, o->bev, &o->tmo, h->origin_connect_timeout_ms);
}

static enum px_org_phase phase_of(const struct px_conn *c)
{
	return c->state == PX_WAIT || !c->req_body ? PX_ORG_WAITING : PX_ORG_SENDING;
}

/* How the body goes to this client: keep its framing, or chunk what ends at EOF. */
static enum px_frame response_frame(struct px_origin *o)
{
	struct px_conn *c = o->c;
	llhttp_t *p = &o->resp.p;
	if (c->req_head || p->status_code == 204 || p->status_code == 304)
		return PX_FRAME_NONE;
	if (p->flags & F_CHUNKED)
		return c->http10 ? PX_FRAME_CLOSE : PX_FRAME_CHUNKED;
	if (p->flags & F_CONTENT_LENGTH)
		return PX_FRAME_LENGTH;
	return c->http10 || !c->keep ? PX_FRAME_CLOSE : PX_FRAME_CHUNKED;
}

/* A 1xx goes to HTTP/1.1 clients as is; HTTP/1.0 ones never see it. */
static int informational_head(struct px_origin *o)
{
	struct px_conn *c = o->c;
	if (c->http10 || px_head_response(&o->resp.head, o->resp.p.status_code, PX_FRAME_NONE,
	    NULL, client_out(o)) == 0)
		return 0;
	px_conn_close(c, PX_CLOSE_NO_MEMORY);
	return -1;
}

/* A 101 to the WebSocket upgrade: it must switch to websocket (RFC 6455 4.1: Upgrade and
 * Connection: upgrade); the client gets the 101 with its end-to-end headers
 * (Sec-WebSocket-Accept, ...). */
static int switching_head(struct px_origin *o)
{
	struct px_conn *c = o->c;
	struct px_msg *m = &o->resp;
	if (!m->p.upgrade || !px_head_websocket(&m->head)) {
		origin_failed(o, PX_CLOSE_BAD_RESPONSE, "101 without a websocket upgrade");
		return -1;
	}
	if (px_head_response(&m->head, 101, PX_FRAME_TUNNEL, NULL, client_out(o)) != 0) {
		px_conn_close(c, PX_CLOSE_NO_MEMORY);
		return -1;
	}
	px_conn_response_head(c, 101);
	return 0;
}

static int response_head(struct px_origin *o)
{
	struct px_conn *c = o->c;
	struct px_msg *m = &o->resp;
	const char *why = px_msg_check(m), *conn_hdr;
	if (why != NULL) {
		origin_failed(o, PX_CLOSE_BAD_RESPONSE, why);
		return -1;
	}
	if (px_route_group_succeeded(c->route, group_of(c), (size_t)o->idx))
		LOG_WARN("px", "listener=%s origin=%s: answering again, back in service",
			c->route->id, o->addr->text);
	o->head_sent = 1;
	if (m->p.status_code == 101)
		return switching_head(o);
	if (m->p.status_code < 200)
		return informational_head(o);
	o->frame = response_frame(o);
	o->in_chunked = (m->p.flags & F_CHUNKED) != 0;
	if (o->frame == PX_FRAME_CLOSE || c->state != PX_WAIT)
		c->keep = 0;
	conn_hdr = !c->keep ? "close" : c->http10 ? "keep-alive" : NULL;
	if (px_head_response(&m->head, m->p.status_code, o->frame, conn_hdr, client_out(o)) != 0) {
		px_conn_close(c, PX_CLOSE_NO_MEMORY);
		return -1;
	}
	px_conn_response_head(c, m->p.status_code);
	LOG_DEBUG("px", "conn=%" PRIu64 " req=%" PRIu64 " origin=%s status=%d frame=%d keep=%u",
		c->id, c->nreq, o->addr->text, m->p.status_code, (int)o->frame, c->keep);
	return 0;
}

/* c->org leaves the exchange: no longer counted, no longer throttling either side. */
static struct px_origin *detach(struct px_conn *c)
{
	struct px_origin *o = c->org;
	c->org = NULL;
	if (o->busy)
		ups_server_idle(o->srv);
	o->busy = 0;
	o->c = NULL;
	if (c->origin_throttled) {
		c->origin_throttled = 0;
		bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
	}
	px_conn_input_resume(c);    /* nothing to wait for on that side any more */
	return o;
}

/* Keep the connection only at a clean boundary: the request all sent, the response all read,
 * nothing more from the origin, and the origin willing. */
static void release(struct px_conn *c)
{
	struct px_origin *o = c->org;
	if (c->state != PX_WAIT || !o->resp.keep ||
	    evbuffer_get_length(bufferevent_get_input(o->bev)) != 0 ||
	    evbuffer_get_length(bufferevent_get_output(o->bev)) != 0) {
		px_origin_retire(c);
		return;
	}
	llhttp_resume(&o->resp.p);
	detach(c);
	if (px_pool_put(o, &c->route->http) != 0) {
		px_origin_quiet(o);
		o->next_dead = c->dead;
		c->dead = o;
	}
}

/* The final response is parsed. */
static void response_done(struct px_origin *o)
{
	struct px_conn *c = o->c;
	if (o->frame == PX_FRAME_CHUNKED && px_last_chunk(&o->resp.trailers, client_out(o)) != 0) {
		px_conn_close(c, PX_CLOSE_NO_MEMORY);
		return;
	}
	release(c);
	px_conn_response_done(c);
}

/* The parser paused at a head or at a message end. 1 = parser resumed. */
static int response_paused(struct px_origin *o)
{
	struct px_msg *m = &o->resp;
	if (!o->head_sent && response_head(o) != 0)
		return 0;
	if (m->p.status_code == 101) {  /* the parser stops here: what follows is the tunnel's */
		px_tunnel_start(o->c);
		return 0;
	}
	if (!m->done) {
		llhttp_resume(&m->p);
		return 1;
	}
	if (m->p.status_code < 200) {   /* complete by itself: the final response follows */
		px_msg_next(m);
		o->head_sent = 0;
		llhttp_resume(&m->p);
		return 1;
	}
	response_done(o);
	return 0;
}

static int move_body(struct px_origin *o, struct evbuffer *in, size_t used)
{
	struct evbuffer *out = client_out(o);
	int chunk = o->frame == PX_FRAME_CHUNKED;   /* a body ending at EOF, chunked for the client */
	if (used == 0)
		return 0;
	if (chunk && px_chunk_size(used, out) != 0)
		return -1;
	if (evbuffer_remove_buffer(in, out, used) != (int)used)
		return -1;
	return chunk && evbuffer_add(out, "\r\n", 2) != 0 ? -1 : 0;
}

/* A TLS client's output is written before throttling is decided, not after (px_conn_leave()):
 * the socket usually takes the whole read at once, and a throttle decided first would stop the
 * origin's reads and start them again in the same turn, an epoll_ctl() each, twice per
 * PX_MAX_PENDING (l., when it was 64 KiB: 32 per MiB). Plain clients keep libevent's write path. */
static void flush_tls(struct px_conn *c)
{
	if (c->rd.tls == NULL || c->broken || c->lingering ||
	    evbuffer_get_length(bufferevent_get_output(c->bev)) < PX_MAX_PENDING)
		return;
	if (px_flush(c->bev, &c->rd) != 0)
		c->broken = 1;          /* its event callback (deferred) closes c */
}

static int response_consumed(struct px_origin *o, struct evbuffer *in, size_t used)
{
	struct px_conn *c = o->c;
	if (!o->head_sent) {
		o->resp.head_bytes += used;
		evbuffer_drain(in, used);
		if (o->resp.head_bytes <= head_max(c))
			return 0;
		origin_failed(o, PX_CLOSE_BAD_RESPONSE, "head too large");
		return -1;
	}
	if (o->in_chunked) {
		evbuffer_drain(in, used);       /* the callbacks copied the data */
	} else if (move_body(o, in, used) != 0) {
		px_conn_close(c, PX_CLOSE_NO_MEMORY);
		return -1;
	}
	flush_tls(c);
	if (px_throttle(&o->rd, c->bev))
		c->origin_throttled = 1;
	return 0;
}

static void response_error(struct px_origin *o, enum llhttp_errno err)
{
	const char *why = llhttp_get_error_reason(&o->resp.p);
	char detail[160];
	if (o->resp.too_large) {
		origin_failed(o, PX_CLOSE_BAD_RESPONSE, "head too large");
		return;
	}
	snprintf(detail, sizeof detail, "%s: %s%s", llhttp_errno_name(err),
		o->resp.obs_fold ? "obs-fold " : "", why != NULL ? why : "");
	origin_failed(o, PX_CLOSE_BAD_RESPONSE, detail);
}

/* Parses what the origin sent, as far as the current exchange allows. */
static void response_pump(struct px_origin *o)
{
	struct px_conn *c = o->c;
	struct evbuffer *in = bufferevent_get_input(o->bev);
	int resumed = 0;
	while (c->org == o && !c->closing) {
		size_t used;
		enum llhttp_errno err;
		if (evbuffer_get_length(in) == 0 && !resumed)
			return;
		err = px_feed(&o->resp, in, &used);
		if (response_consumed(o, in, used) != 0 || err == HPE_OK)
			return;
		if (err != HPE_PAUSED) {
			response_error(o, err);
			return;
		}
		resumed = response_paused(o);
		if (!resumed)
			return;
	}
}

static struct px_origin *origin_new(struct px_conn *c)
{
	struct px_origin *o = calloc(1, sizeof *o);
	if (o == NULL)
		return NULL;
	o->bev = bufferevent_socket_new(c->w->base, -1, BEV_OPT_CLOSE_ON_FREE |
		BEV_OPT_DEFER_CALLBACKS);
	if (o->bev == NULL) {
		free(o);
		return NULL;
	}
	o->w = c->w;
	px_msg_init(&o->resp, HTTP_RESPONSE, &response_settings, head_max(c), o);
	px_rd_init(&o->rd, bufferevent_get_input(o->bev), PX_MAX_PENDING);
	bufferevent_disable(o->bev, EV_WRITE);     /* enabled only while px_flush() has a rest */
	bufferevent_set_max_single_write(o->bev, PX_MAX_WRITE);
	return o;
}

/* o starts serving c's exchange with origin idx. */
static void attach(struct px_conn *c, struct px_origin *o, int idx)
{
	o->c = c;
	o->idx = idx;
	o->srv = server_of(c, idx);
	o->addr = &o->srv->addr;
	o->busy = 1;
	ups_server_busy(o->srv);
	o->got_bytes = o->head_sent = o->in_chunked = 0;
	o->frame = PX_FRAME_NONE;
	px_msg_next(&o->resp);
	o->resp.head.max = head_max(c);
	c->org = o;
	c->origin = o->addr;
	bufferevent_setcb(o->bev, NULL, origin_write_cb, origin_event_cb, o);
	px_rd_setcb(&o->rd, origin_read, origin_event, o);
	px_origin_timeouts(o, phase_of(c));     /* before connect: the write timeout bounds it */
	px_rd_enable(&o->rd);   /* reads once connected; writes: px_flush() (connecting: libevent) */
}

/* ForwardProtocol: the rule's, else the listener's (HTTPS listeners only). */
static int origin_https(const struct px_conn *c)
{
	enum px_fwd_proto f = c->rule != NULL ? c->rule->forward : PX_FWD_LISTENER;
	if (f == PX_FWD_LISTENER)
		return c->rd.tls != NULL && tls_srv_forward_https(c->rd.tls->srv);
	return f == PX_FWD_HTTPS;
}

/* The name sent as Host (the rule's, else the client's), without its port: SNI and what the
 * certificate is verified for. NULL when there is none. */
static const char *host_sent(const struct px_conn *c, size_t *len)
{
	const char *h;
	if (c->rule != NULL && c->rule->forward_host != NULL) {
		h = c->rule->forward_host;
		*len = c->rule->forward_host_len;
	} else if ((h = px_head_get(&c->req.head, "host", len)) == NULL) {
		return NULL;
	}
	if (*len > 0 && h[0] != '[') {
		const char *colon = memchr(h, ':', *len);
		if (colon != NULL)
			*len = (size_t)(colon - h);
	}
	return h;
}

/* host_sent() as a string in buf[256] ("" when none or too long): what a pooled TLS connection
 * must have been verified for to serve this request. */
static const char *tls_name(const struct px_conn *c, char *buf)
{
	size_t len = 0;
	const char *h = host_sent(c, &len);
	if (h == NULL || len >= 256)
		len = 0;
	memcpy(buf, h != NULL ? h : "", len);
	buf[len] = '\0';
	return buf;
}

/* A TLS origin: a non-blocking connect of our own (libevent's would write the queued request
 * in clear text once connected), then the handshake; its end reaches origin_event() as
 * BEV_EVENT_CONNECTED, a failure as a connect failure (failed over, then 502). */
static int connect_tls(struct px_origin *o, const struct sockaddr_storage *sa, socklen_t len)
{
	struct px_conn *c = o->c;
	char ip[INET6_ADDRSTRLEN] = "";
	const char *name;
	size_t nlen = 0;
	SSL *ssl;
	int one = 1, fd;
	if (c->route->origin_tls == NULL) {
		errno = EPROTONOSUPPORT;
		return -1;
	}
	if ((fd = socket(sa->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	if ((connect(fd, (const struct sockaddr *)sa, len) != 0 && errno != EINPROGRESS) ||
	    bufferevent_setfd(o->bev, fd) != 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	evutil_inet_ntop(sa->ss_family, sa->ss_family == AF_INET6 ?
		(const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr :
		(const void *)&((const struct sockaddr_in *)sa)->sin_addr, ip, sizeof ip);
	name = host_sent(c, &nlen);
	if (name != NULL && nlen > 0 && nlen < 256 && (o->tls_name = strndup(name, nlen)) == NULL) {
		errno = ENOMEM;
		return -1;
	}
	o->tls_client = tls_client_ref(c->route->origin_tls);
	if ((ssl = tls_client_ssl(c->route->origin_tls, name, nlen, ip)) == NULL ||
	    px_rd_start(&o->rd, o->w, fd) != 0 ||
	    px_tls_connect(&o->rd, o->bev, ssl, c->route->http.origin_connect_timeout_ms) != 0) {
		errno = ENOMEM;
		return -1;
	}
	return 0;
}

static int origin_connect(struct px_conn *c, int idx)
{
	struct px_origin *o = origin_new(c);
	struct sockaddr_storage sa;
	socklen_t len;
	int one = 1;
	if (o == NULL) {
		px_conn_close(c, PX_CLOSE_NO_MEMORY);
		return -1;
	}
	attach(c, o, idx);
	if (ups_server_sockaddr(o->srv, &sa, &len) != 0) {
		health_failed(o);
		origin_failed(o, PX_CLOSE_ORIGIN_CONNECT, "its name resolves to no address");
		return -1;
	}
	if (origin_https(c)) {
		if (connect_tls(o, &sa, len) != 0) {
			health_failed(o);
			origin_failed(o, PX_CLOSE_ORIGIN_CONNECT, strerror(errno));
			return -1;
		}
		return 0;
	}
	if (bufferevent_socket_connect(o->bev, (const struct sockaddr *)&sa, (int)len) != 0) {
		health_failed(o);
		origin_failed(o, PX_CLOSE_ORIGIN_CONNECT,
			evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
		return -1;
	}
	/* a request body relayed in pieces must not wait for the origin's delayed ACK; the
	 * connection is pooled, so this is one call per origin connection, not per request */
	(void)setsockopt(bufferevent_getfd(o->bev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return 0;
}

/* The scheduler's choice (never exclude), pooled when the pool has one. */
static int origin_choose(struct px_conn *c, int exclude)
{
	int idx = ups_group_pick(group_of(c), exclude);
	struct px_origin *o;
	char name[256];
	if (idx < 0) {
		LOG_WARN("px", "conn=%" PRIu64 " listener=%s client=%s: no origin available",
			c->id, c->route->id, c->ip);
		px_conn_close(c, PX_CLOSE_NO_ORIGIN);
		return -1;
	}
	if ((o = px_pool_take(c->w, server_of(c, idx), c->route->origin_tls,
	    origin_https(c) ? tls_name(c, name) : NULL, c->req_replay)) == NULL)
		return origin_connect(c, idx);
	attach(c, o, idx);
	o->reused = 1;
	return 0;
}

int px_origin_get(struct px_conn *c)
{
	px_origin_retire(c);
	c->attempts = 1;
	c->retried = 0;
	return origin_choose(c, -1);
}

/* A connect failed, so nothing of the request reached that origin: what is queued for it moves
 * to another one, whatever the method. 0 = handled (failed over, or c closed), -1 = no other. */
static int failover(struct px_origin *o, const char *why)
{
	struct px_conn *c = o->c;
	struct evbuffer *pending = bufferevent_get_output(o->bev);
	int idx;
	if (c->attempts >= group_of(c)->n || (idx = ups_group_pick(group_of(c), o->idx)) < 0)
		return -1;
	c->attempts++;
	LOG_WARN("px", "conn=%" PRIu64 " listener=%s origin=%s: %s; trying origin=%s", c->id,
		c->route->id, o->addr->text, why, server_of(c, idx)->addr.text);
	px_origin_retire(c);        /* o waits on the dead list: pending stays valid */
	if (origin_connect(c, idx) != 0)
		return 0;
	if (evbuffer_add_buffer(origin_out(c), pending) != 0) {
		px_conn_close(c, PX_CLOSE_NO_MEMORY);
		return 0;
	}
	if (px_throttle(&c->rd, c->org->bev))
		c->client_throttled = 1;
	return 0;
}

/* A pooled connection the origin had closed: an idempotent bodiless request goes once more on a
 * new connection (its head rebuilt); anything else gets 502. */
static void stale(struct px_origin *o, const char *why)
{
	struct px_conn *c = o->c;
	int idx = o->idx;
	if (c->retried || !c->req_replay) {
		origin_failed(o, PX_CLOSE_ORIGIN_STALE, why);
		return;
	}
	LOG_DEBUG("px", "conn=%" PRIu64 " origin=%s: pooled connection closed (%s): retrying",
		c->id, o->addr->text, why);
	c->retried = 1;
	px_origin_retire(c);
	if (origin_connect(c, idx) == 0)
		(void)px_send_head(c);
}

/* A connect that fails over still counts as that origin's failure (px_conn_close() counts the
 * ones the client sees). */
static void connect_failed(struct px_origin *o, enum px_close reason, const char *why)
{
	struct px_stats *stats = o->c->route->stats;
	health_failed(o);
	if (failover(o, why) != 0)
		origin_failed(o, reason, why);
	else
		px_stats_origin_error(stats, reason);
}

/* EOF ends a body that has no length; anywhere else it is a failure. */
static void origin_eof(struct px_origin *o)
{
	struct px_conn *c = o->c;
	if (evbuffer_get_length(bufferevent_get_input(o->bev)) != 0)
		o->got_bytes = 1;       /* its read callback has not run yet */
	response_pump(o);           /* what arrived with the EOF comes first */
	if (c->org != o || c->closing)
		return;
	if (c->state == PX_TUNNEL) {
		px_tunnel_origin_eof(c);
		return;
	}
	if (o->reused && !o->got_bytes) {
		stale(o, "end of file");
		return;
	}
	llhttp_finish(&o->resp.p);  /* runs on_message_complete for a body ending here */
	if (o->resp.done && o->head_sent)
		response_done(o);
	else
		origin_failed(o, PX_CLOSE_ORIGIN_CLOSED, c->resp_started ? "mid-response" : NULL);
}

static void origin_timeout(struct px_origin *o, short what)
{
	const char *dir = what & BEV_EVENT_READING ? "reading" : "writing";
	if (!o->connected) {
		connect_failed(o, PX_CLOSE_ORIGIN_CONNECT_TIMEOUT, "connect timeout");
		return;
	}
	health_failed(o);
	origin_failed(o, PX_CLOSE_ORIGIN_TIMEOUT, dir);
}

static void origin_error(struct px_origin *o, int err)
{
	const char *why = evutil_socket_error_to_string(err);
	if (!o->connected)
		connect_failed(o, PX_CLOSE_ORIGIN_CONNECT, why);
	else if (o->reused && !o->got_bytes)
		stale(o, why);
	else
		origin_failed(o, PX_CLOSE_ORIGIN_CLOSED, why);
}

static void origin_read(void *arg)
{
	struct px_origin *o = arg;
	struct px_conn *c = o->c;
	px_conn_enter(c);
	o->got_bytes = 1;
	response_pump(o);
	px_conn_leave(c);
}

static void origin_write_cb(struct bufferevent *bev, void *arg)
{
	struct px_origin *o = arg;
	struct px_conn *c = o->c;
	px_conn_enter(c);
	px_write_idle(bev);
	px_conn_input_resume(c);
	px_conn_leave(c);
}

/* Connected: reading begins. */
static void origin_connected(struct px_origin *o)
{
	o->connected = 1;
	if (o->rd.tls != NULL) {    /* reading since the connect; the handshake's bound ends */
		px_origin_timeouts(o, phase_of(o->c));
		return;
	}
	if (px_rd_start(&o->rd, o->w, bufferevent_getfd(o->bev)) != 0)
		px_conn_close(o->c, PX_CLOSE_NO_MEMORY);
}

/* From the reader (BEV_EVENT_READING) or the bufferevent (connect, writing). */
static void origin_event(short what, void *arg)
{
	struct px_origin *o = arg;
	struct px_conn *c = o->c;
	int err = EVUTIL_SOCKET_ERROR();
	px_conn_enter(c);
	if (what & BEV_EVENT_CONNECTED)
		origin_connected(o);
	else if (what & BEV_EVENT_EOF)
		origin_eof(o);
	else if (what & BEV_EVENT_TIMEOUT)
		origin_timeout(o, what);
	else
		origin_error(o, err);
	px_conn_leave(c);
}

static void origin_event_cb(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	origin_event(what, arg);
}

void px_origin_quiet(struct px_origin *o)
{
	bufferevent_setcb(o->bev, NULL, NULL, NULL, NULL);
	bufferevent_disable(o->bev, EV_READ | EV_WRITE);
	px_rd_setcb(&o->rd, NULL, NULL, NULL);
	px_rd_disable(&o->rd);
}

void px_origin_retire(struct px_conn *c)
{
	struct px_origin *o = c->org;
	if (o == NULL)
		return;
	detach(c);
	px_origin_quiet(o);
	o->next_dead = c->dead;
	c->dead = o;
}

void px_origin_free(struct px_origin *o)
{
	if (o == NULL)
		return;
	px_rd_free(&o->rd);
	bufferevent_free(o->bev);
	free(o->tls_name);
	tls_client_unref(o->tls_client);
	px_msg_free(&o->resp);
	free(o);
}
