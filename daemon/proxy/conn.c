/* daemon/proxy/conn.c - the worker's client connections: accept, the request side of an exchange,
 *   timers, the keep-alive cycle, closing. The response side is origin.c. */
#include "conn.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "log.h"

static int on_message_begin(llhttp_t *p);
static int on_headers_complete(llhttp_t *p);
static int on_chunk_header(llhttp_t *p);
static int on_body(llhttp_t *p, const char *at, size_t len);
static int on_chunk_complete(llhttp_t *p);
static int on_message_complete(llhttp_t *p);

static const llhttp_settings_t request_settings = {
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

const struct timeval *px_ms(struct timeval *tv, unsigned ms)
{
	if (ms == 0)
		return NULL;
	tv->tv_sec = ms / 1000;
	tv->tv_usec = (suseconds_t)(ms % 1000) * 1000;
	return tv;
}

static void free_dead(struct px_conn *c)
{
	struct px_origin *o;
	while ((o = c->dead) != NULL) {
		c->dead = o->next_dead;
		px_origin_free(o);
	}
}

void px_conn_free(struct px_conn *c)
{
	TAILQ_REMOVE(&c->w->conns, c, link);
	c->w->nconns--;
	px_origin_retire(c);
	free_dead(c);
	event_free(c->timer);
	bufferevent_free(c->bev);
	px_msg_free(&c->req);
	px_route_unref(c->route);
	free(c);
}

void px_conn_retire(struct px_conn *c)
{
	c->retiring = 1;
	c->keep = 0;
	if (c->state == PX_IDLE)    /* between requests: nothing in flight to finish */
		px_conn_close(c, PX_CLOSE_RETIRED);
}

void px_conn_enter(struct px_conn *c)
{
	c->in_cb++;
}

void px_conn_leave(struct px_conn *c)
{
	if (--c->in_cb != 0)
		return;
	free_dead(c);
	if (c->closing && (c->broken || evbuffer_get_length(bufferevent_get_output(c->bev)) == 0))
		px_conn_free(c);
}

void px_conn_close(struct px_conn *c, enum px_close reason)
{
	int status = c->resp_started || c->broken ? 0 : px_close_status(reason);
	if (c->closing)
		return;
	c->closing = 1;
	c->reason = reason;
	if (status != 0 && px_close_reply(reason, bufferevent_get_output(c->bev)) != 0)
		status = 0;
	bufferevent_disable(c->bev, EV_READ);
	bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);  /* the write callback fires once drained */
	evtimer_del(c->timer);
	px_origin_retire(c);
	LOG_DEBUG("px", "conn=%" PRIu64 " listener=%s client=%s requests=%" PRIu64
		" close=\"%s\" status=%d", c->id, c->route->id, c->ip, c->nreq,
		px_close_text(reason), status);
}

int px_throttle(struct bufferevent *from, struct bufferevent *to)
{
	if (evbuffer_get_length(bufferevent_get_output(to)) < PX_MAX_PENDING)
		return 0;
	bufferevent_disable(from, EV_READ);
	bufferevent_setwatermark(to, EV_WRITE, PX_MAX_PENDING / 2, 0);
	return 1;
}

void px_conn_output_drained(struct px_conn *c)
{
	if (!c->origin_throttled)
		return;
	c->origin_throttled = 0;
	bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
	if (c->org != NULL)
		bufferevent_enable(c->org->bev, EV_READ);
}

void px_conn_input_resume(struct px_conn *c)
{
	if (!c->client_throttled)
		return;
	c->client_throttled = 0;
	if (c->org != NULL)
		bufferevent_setwatermark(c->org->bev, EV_WRITE, 0, 0);
	if (!c->closing && !c->eof)
		bufferevent_enable(c->bev, EV_READ);
}

/* While a request body streams in, a silent client is timed out like a slow head (inactivity);
 * otherwise only the send timeout runs: clients are silent while a response streams. Reads
 * stopped by back-pressure do not count (libevent times only enabled events). */
static void client_timeouts(struct px_conn *c, int reading_body)
{
	struct timeval rd, wr;
	bufferevent_set_timeouts(c->bev, reading_body ? px_ms(&rd,
		c->route->http.client_header_timeout_ms) : NULL, px_ms(&wr, PX_SEND_TIMEOUT_MS));
}

static void set_timer(struct px_conn *c, unsigned ms)
{
	struct timeval tv;
	if (px_ms(&tv, ms) != NULL)
		evtimer_add(c->timer, &tv);
	else
		evtimer_del(c->timer);
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct px_conn *c = arg;
	(void)fd;
	(void)what;
	px_conn_enter(c);
	px_conn_close(c, c->state == PX_HEAD ? PX_CLOSE_HEADER_TIMEOUT : PX_CLOSE_IDLE_TIMEOUT);
	px_conn_leave(c);
}

/* The request body's destination; NULL only once the exchange is being torn down. */
static struct evbuffer *origin_out(struct px_conn *c)
{
	return c->org != NULL ? bufferevent_get_output(c->org->bev) : NULL;
}

static int on_message_begin(llhttp_t *p)
{
	struct px_conn *c = p->data;
	c->state = PX_HEAD;
	set_timer(c, c->route->http.client_header_timeout_ms);
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
	if (out == NULL)
		return -1;
	if (p->content_length == 0)     /* the last chunk: on_message_complete ends the body */
		return 0;
	return evbuffer_add_printf(out, "%" PRIx64 "\r\n", p->content_length) < 0 ? -1 : 0;
}

/* Content-Length bodies are moved after execute returns; only chunk data is copied here. */
static int on_body(llhttp_t *p, const char *at, size_t len)
{
	struct px_conn *c = p->data;
	struct evbuffer *out = origin_out(c);
	if (!c->req_chunked)
		return 0;
	return out != NULL && evbuffer_add(out, at, len) == 0 ? 0 : -1;
}

static int on_chunk_complete(llhttp_t *p)
{
	struct px_conn *c = p->data;
	struct evbuffer *out = origin_out(c);
	if (c->req.chunk == 0)
		return 0;
	return out != NULL && evbuffer_add(out, "\r\n", 2) == 0 ? 0 : -1;
}

static int on_message_complete(llhttp_t *p)
{
	struct px_conn *c = p->data;
	struct evbuffer *out = origin_out(c);
	c->req.done = 1;
	c->req.keep = llhttp_should_keep_alive(p);
	if (c->req_chunked && (out == NULL || evbuffer_add(out, "0\r\n\r\n", 5) != 0))
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
	if (c->org != NULL && px_throttle(c->bev, c->org->bev))
		c->client_throttled = 1;
	return 0;
}

static void request_error(struct px_conn *c, enum llhttp_errno err)
{
	const char *why = llhttp_get_error_reason(&c->req.p);
	LOG_DEBUG("px", "conn=%" PRIu64 " client=%s: bad request: %s%s: %s", c->id, c->ip,
		llhttp_errno_name(err), c->req.obs_fold ? " obs-fold" : "", why != NULL ? why : "");
	px_conn_close(c, c->req.too_large ? PX_CLOSE_HEADER_TOO_LARGE : PX_CLOSE_BAD_REQUEST);
}

/* What even strict llhttp lets through: other major versions, upgrades and CONNECT. */
static int request_acceptable(struct px_conn *c)
{
	llhttp_t *p = &c->req.p;
	if (p->http_major == 1 && !p->upgrade && p->method != HTTP_CONNECT)
		return 1;
	LOG_DEBUG("px", "conn=%" PRIu64 " client=%s: bad request: version=%u.%u upgrade=%u "
		"method=%s", c->id, c->ip, p->http_major, p->http_minor, p->upgrade,
		llhttp_method_name((llhttp_method_t)p->method));
	px_conn_close(c, PX_CLOSE_BAD_REQUEST);
	return 0;
}

/* Headers complete: rebuild the head into an origin's output. 1 = parser resumed. */
static int request_head(struct px_conn *c)
{
	llhttp_t *p = &c->req.p;
	struct px_fwd f = { .client_ip = c->ip };
	if (!request_acceptable(c))
		return 0;
	evtimer_del(c->timer);      /* the client may now be silent as long as the exchange runs */
	c->nreq++;
	c->http10 = p->http_minor == 0;
	c->req_head = p->method == HTTP_HEAD;
	c->req_chunked = (p->flags & F_CHUNKED) != 0;
	c->req.keep = llhttp_should_keep_alive(p);
	c->keep = c->req.keep && !c->retiring;
	if (px_origin_get(c) != 0)
		return 0;
	f.method = llhttp_method_name((llhttp_method_t)p->method);
	f.chunked = c->req_chunked;
	f.close = !c->req.keep;
	if (px_head_request(&c->req.head, &f, origin_out(c)) != 0) {
		px_conn_close(c, PX_CLOSE_NO_MEMORY);
		return 0;
	}
	c->state = PX_BODY;
	px_origin_timeouts(c->org, PX_ORG_SENDING);
	client_timeouts(c, 1);
	LOG_DEBUG("px", "conn=%" PRIu64 " req=%" PRIu64 " listener=%s client=%s origin=%s "
		"method=%s target=%.*s", c->id, c->nreq, c->route->id, c->ip, c->org->addr->text,
		f.method, (int)c->req.head.tlen, c->req.head.buf);
	llhttp_resume(p);
	return 1;
}

/* The parser paused: at the end of a head, or of a message. 1 = parser resumed. */
static int request_paused(struct px_conn *c)
{
	if (c->state == PX_HEAD)
		return request_head(c);
	c->state = PX_WAIT;
	client_timeouts(c, 0);
	if (c->org != NULL)
		px_origin_timeouts(c->org, PX_ORG_WAITING);
	return 0;
}

/* Parses what the client sent, as far as the current exchange allows. resumed: the parser was
 * just resumed and must run even on empty input (a bodiless message completes that way). */
static void request_pump(struct px_conn *c, int resumed)
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

/* The response has been written: the next request, if the connection lives on. */
static void next_request(struct px_conn *c)
{
	if (!c->keep) {
		px_conn_close(c, PX_CLOSE_DONE);
		return;
	}
	px_msg_next(&c->req);
	c->req_chunked = c->req_head = c->resp_started = 0;
	c->state = PX_IDLE;
	set_timer(c, c->route->http.client_keepalive_timeout_ms);
	llhttp_resume(&c->req.p);
	request_pump(c, 1);
	if (c->eof && !c->closing && c->state != PX_WAIT && c->state != PX_FLUSH)
		px_conn_close(c, PX_CLOSE_CLIENT_CLOSED);
}

void px_conn_response_done(struct px_conn *c)
{
	if (c->state != PX_WAIT) {  /* answered early: the rest of the request has nowhere to go */
		px_conn_close(c, PX_CLOSE_DONE);
		return;
	}
	c->state = PX_FLUSH;
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
		next_request(c);
}

static void client_read_cb(struct bufferevent *bev, void *arg)
{
	struct px_conn *c = arg;
	(void)bev;
	px_conn_enter(c);
	request_pump(c, 0);
	px_conn_leave(c);
}

static void client_write_cb(struct bufferevent *bev, void *arg)
{
	struct px_conn *c = arg;
	px_conn_enter(c);
	px_conn_output_drained(c);
	if (c->state == PX_FLUSH && !c->closing &&
	    evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		next_request(c);
	px_conn_leave(c);       /* frees a closing conn once this drained its output */
}

/* A half-closed client still gets the answers to what it sent before. */
static void client_eof(struct px_conn *c)
{
	c->eof = 1;
	request_pump(c, 0);
	if (c->state != PX_WAIT && c->state != PX_FLUSH)
		px_conn_close(c, PX_CLOSE_CLIENT_CLOSED);
}

static void client_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct px_conn *c = arg;
	(void)bev;
	px_conn_enter(c);
	if (what & BEV_EVENT_EOF) {
		client_eof(c);
	} else if ((what & BEV_EVENT_TIMEOUT) && (what & BEV_EVENT_READING)) {
		px_conn_close(c, PX_CLOSE_BODY_TIMEOUT);
	} else {
		c->broken = 1;
		px_conn_close(c, what & BEV_EVENT_TIMEOUT ? PX_CLOSE_SEND_TIMEOUT
			: PX_CLOSE_CLIENT_ERROR);
	}
	px_conn_leave(c);
}

static void peer_text(const struct sockaddr *sa, socklen_t len, char *buf, size_t size)
{
	const void *a = NULL;
	if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in))
		a = &((const struct sockaddr_in *)(const void *)sa)->sin_addr;
	else if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6))
		a = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
	if (a == NULL || inet_ntop(sa->sa_family, a, buf, (socklen_t)size) == NULL)
		snprintf(buf, size, "unknown");
}

/* Everything px_accept() needs from the outside world; on failure nothing is left behind
 * but c itself and fd, which the caller frees. */
static int conn_setup(struct px_conn *c, struct px_worker *w, evutil_socket_t fd)
{
	if (evutil_make_socket_nonblocking(fd) != 0 ||
	    (c->timer = evtimer_new(w->base, timer_cb, c)) == NULL)
		return -1;
	c->bev = bufferevent_socket_new(w->base, fd, BEV_OPT_CLOSE_ON_FREE |
		BEV_OPT_DEFER_CALLBACKS);
	if (c->bev == NULL) {
		event_free(c->timer);
		return -1;
	}
	bufferevent_setcb(c->bev, client_read_cb, client_write_cb, client_event_cb, c);
	bufferevent_setwatermark(c->bev, EV_READ, 0, PX_MAX_PENDING);  /* bounds pipelined input */
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	return 0;
}

void px_accept(struct px_worker *w, evutil_socket_t fd, const struct sockaddr *peer,
	socklen_t peerlen, struct px_route *route)
{
	struct px_conn *c = calloc(1, sizeof *c);
	if (c == NULL || conn_setup(c, w, fd) != 0) {
		LOG_WARN("px", "listener=%s: accept failed: out of memory", route->id);
		evutil_closesocket(fd);
		free(c);
		return;
	}
	c->w = w;
	c->route = px_route_ref(route);
	client_timeouts(c, 0);
	c->id = ++w->next_id;
	peer_text(peer, peerlen, c->ip, sizeof c->ip);
	px_msg_init(&c->req, HTTP_REQUEST, &request_settings, route->http.max_header_size, c);
	c->state = PX_IDLE;
	set_timer(c, route->http.client_header_timeout_ms);   /* the first request is due now */
	TAILQ_INSERT_TAIL(&w->conns, c, link);
	w->nconns++;
	LOG_DEBUG("px", "conn=%" PRIu64 " listener=%s client=%s: accepted", c->id, route->id, c->ip);
}
