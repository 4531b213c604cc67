/* daemon/etcd/http.c - one HTTP/1.1 exchange with the gateway: connect (dial timeout, failover to
 *   the next endpoint while no connection is made), POST a JSON body, parse the answer with
 *   llhttp: whole (unary) or line by line as it streams (watch).
 * Ownership: the client's list owns each exchange; it frees itself once done() returned, or when
 *   cancelled (at the end of the callback that cancelled it). Threads: the client's only.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "etcd_int.h"

static void xfer_free(struct etcd_xfer *x)
{
	if (x->prev != NULL)
		x->prev->next = x->next;
	else
		x->c->xfers = x->next;
	if (x->next != NULL)
		x->next->prev = x->prev;
	if (x->bev != NULL)
		bufferevent_free(x->bev);
	if (x->acc != NULL)
		evbuffer_free(x->acc);
	if (x->later != NULL)
		event_free(x->later);
	free(x->path);
	free(x->body);
	free(x);
}

/* Ends the exchange: done() once (unless cancelled), then the exchange is freed, now or when
 * the callback it runs in returns. */
static void finish(struct etcd_xfer *x, const struct etcd_status *st, json_t *body)
{
	if (x->finished)
		return;
	x->finished = true;
	if (x->bev != NULL)
		bufferevent_disable(x->bev, EV_READ | EV_WRITE);
	if (!x->cancelled && x->done != NULL) {
		x->in_cb++;
		x->done(x, st, body, x->arg);
		x->in_cb--;
	}
	if (x->in_cb == 0)
		xfer_free(x);
}

static void fail(struct etcd_xfer *x, enum etcd_err e, const char *msg)
{
	struct etcd_status st = { .err = e, .http = x->status };
	etcd_fmt(st.msg, sizeof st.msg, "%s", msg);
	finish(x, &st, NULL);
}

static void next_ep(struct etcd_xfer *x, const char *why);

/* A complete unary answer: JSON, an error answer when the status is not 200. */
static void answer(struct etcd_xfer *x)
{
	struct etcd_status st = { .err = ETCD_OK, .http = x->status };
	size_t n = evbuffer_get_length(x->acc);
	json_error_t je;
	json_t *j = json_loadb((const char *)evbuffer_pullup(x->acc, -1), n, 0, &je);
	if (j == NULL) {
		etcd_st_set(&st, ETCD_E_PROTOCOL, "etcd %s: http %d: answer is no JSON: %s",
			x->c->eps[x->ep].hostport, x->status, je.text);
	} else if (x->status != 200) {
		if (etcd_error_from(j, x->status, &st) != 0)
			etcd_st_set(&st, ETCD_E_SERVER, "etcd: http %d", x->status);
		/* grpc 14 (unavailable: "no leader" ...): a read may ask another member. */
		if (st.grpc == 14 && x->retry_sent && x->tried + 1 < x->c->neps) {
			json_decref(j);
			next_ep(x, st.msg);
			return;
		}
	}
	finish(x, &st, st.err == ETCD_OK ? j : NULL);
	json_decref(j);
}

/* A streamed answer: each complete line to line(); -1 stops the parser (a bad line, or the
 * exchange was cancelled from line()). */
static int stream_lines(struct etcd_xfer *x)
{
	struct evbuffer_ptr at;
	while (!x->cancelled && (at = evbuffer_search_eol(x->acc, NULL, NULL,
			EVBUFFER_EOL_LF)).pos >= 0) {
		size_t n = (size_t)at.pos;
		json_error_t je;
		json_t *j = n == 0 ? NULL
			: json_loadb((const char *)evbuffer_pullup(x->acc, (ev_ssize_t)n), n, 0, &je);
		evbuffer_drain(x->acc, n + 1);
		if (n == 0)
			continue;
		if (j == NULL) {
			etcd_fmt(x->why, sizeof x->why, "stream line is no JSON: %s", je.text);
			return -1;
		}
		x->line(x, j, x->arg);
		json_decref(j);
	}
	return x->cancelled ? -1 : 0;
}

static int on_headers(llhttp_t *p)
{
	struct etcd_xfer *x = p->data;
	x->status = p->status_code;
	return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t len)
{
	struct etcd_xfer *x = p->data;
	if (evbuffer_add(x->acc, at, len) != 0)
		return -1;
	return x->line != NULL && x->status == 200 ? stream_lines(x) : 0;
}

static int on_complete(llhttp_t *p)
{
	struct etcd_xfer *x = p->data;
	x->complete = true;
	return HPE_PAUSED;
}

static llhttp_settings_t parse_cbs;
static pthread_once_t parse_once = PTHREAD_ONCE_INIT;

static void parse_init(void)
{
	llhttp_settings_init(&parse_cbs);
	parse_cbs.on_headers_complete = on_headers;
	parse_cbs.on_body = on_body;
	parse_cbs.on_message_complete = on_complete;
}

static void read_cb(struct bufferevent *bev, void *arg);
static void event_cb(struct bufferevent *bev, short what, void *arg);
static void dial_failed(evutil_socket_t fd, short what, void *arg);

/* Connect to endpoint x->ep; failures come to event_cb (or next_ep() right away). */
static void dial(struct etcd_xfer *x)
{
	struct etcd *c = x->c;
	struct timeval dial = { c->dial_ms / 1000, (c->dial_ms % 1000) * 1000 };
	x->connected = x->complete = false;
	x->status = 0;
	evbuffer_drain(x->acc, evbuffer_get_length(x->acc));
	llhttp_init(&x->parser, HTTP_RESPONSE, &parse_cbs);
	x->parser.data = x;
	x->bev = bufferevent_socket_new(c->base, -1, BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (x->bev == NULL) {
		fail(x, ETCD_E_NOMEM, "etcd: no memory for a connection");
		return;
	}
	bufferevent_setcb(x->bev, read_cb, NULL, event_cb, x);
	/* The write timeout while connecting is the dial timeout; no read timeout yet. */
	bufferevent_set_timeouts(x->bev, NULL, &dial);
	if (bufferevent_socket_connect(x->bev, (struct sockaddr *)&c->eps[x->ep].addr,
			(int)c->eps[x->ep].addrlen) != 0) {
		/* Not from here: the caller of etcd_xfer_start() must get x before done() runs. */
		etcd_fmt(x->why, sizeof x->why, "%s", strerror(errno));
		event_active(x->later, EV_TIMEOUT, 0);
	}
}

static void dial_failed(evutil_socket_t fd, short what, void *arg)
{
	struct etcd_xfer *x = arg;
	char why[sizeof x->why];
	(void)fd;
	(void)what;
	memcpy(why, x->why, sizeof why);
	next_ep(x, why);
}

/* This endpoint failed before an answer: try the next one not tried yet, or give up. */
static void next_ep(struct etcd_xfer *x, const char *why)
{
	struct etcd *c = x->c;
	etcd_fmt(x->why, sizeof x->why, "%s: %s", c->eps[x->ep].hostport, why);
	bufferevent_free(x->bev);
	x->bev = NULL;
	if (++x->tried >= c->neps) {
		char msg[256];
		etcd_fmt(msg, sizeof msg, "etcd unreachable (%zu endpoint%s tried), last: %s",
			c->neps, c->neps == 1 ? "" : "s", x->why);
		fail(x, ETCD_E_UNREACHABLE, msg);
		return;
	}
	x->ep = (x->ep + 1) % c->neps;
	dial(x);
}

static void send_request(struct etcd_xfer *x)
{
	struct etcd *c = x->c;
	struct timeval req = { c->req_ms / 1000, (c->req_ms % 1000) * 1000 };
	x->connected = true;
	c->cur = x->ep;
	/* Hasleader (gRPC metadata "hasleader" through the gateway): a member cut off from its
	 * cluster's leader refuses at once ("no leader"), and ends a watch, instead of answering
	 * from, or staying silently on, a stale view. */
	/* A watch is silent while nothing changes: only unary calls have a read timeout. */
	bufferevent_set_timeouts(x->bev, x->line != NULL ? NULL : &req, &req);
	evbuffer_add_printf(bufferevent_get_output(x->bev),
		"POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
		"Grpc-Metadata-Hasleader: true\r\n"
		"Content-Length: %zu\r\nConnection: close\r\n\r\n", x->path,
		c->eps[x->ep].hostport, x->blen);
	evbuffer_add(bufferevent_get_output(x->bev), x->body, x->blen);
	x->sent = true;
	bufferevent_enable(x->bev, EV_READ | EV_WRITE);
}

/* The connection broke (or timed out) once connected. */
static void broken(struct etcd_xfer *x, bool timeout, const char *why)
{
	char msg[256];
	if (x->retry_sent && x->line == NULL && x->tried + 1 < x->c->neps) {
		next_ep(x, why);
		return;
	}
	etcd_fmt(msg, sizeof msg, "etcd %s: %s%s", x->c->eps[x->ep].hostport, why,
		!x->retry_sent ? " (the write's outcome is unknown)" : "");
	fail(x, timeout ? ETCD_E_TIMEOUT : x->retry_sent ? ETCD_E_UNREACHABLE : ETCD_E_LOST, msg);
}

/* The message is complete (or the stream ended): the answer, or the end of the stream. */
static void complete(struct etcd_xfer *x)
{
	if (x->line == NULL || x->status != 200) {
		answer(x);
		return;
	}
	struct etcd_status st = { .err = ETCD_OK, .http = x->status };
	etcd_fmt(st.msg, sizeof st.msg, "etcd %s: the stream ended", x->c->eps[x->ep].hostport);
	finish(x, &st, NULL);
}

/* Feed what arrived to llhttp, without copying. */
static enum llhttp_errno feed(struct etcd_xfer *x, struct evbuffer *in)
{
	enum llhttp_errno err = HPE_OK;
	while (evbuffer_get_length(in) > 0 && err == HPE_OK && !x->complete) {
		struct evbuffer_iovec v;
		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
			break;
		err = llhttp_execute(&x->parser, v.iov_base, v.iov_len);
		size_t used = err == HPE_OK ? v.iov_len
			: (size_t)(llhttp_get_error_pos(&x->parser) - (const char *)v.iov_base);
		evbuffer_drain(in, used);
	}
	return err;
}

static void read_cb(struct bufferevent *bev, void *arg)
{
	struct etcd_xfer *x = arg;
	x->in_cb++;
	enum llhttp_errno err = feed(x, bufferevent_get_input(bev));
	x->in_cb--;
	if (x->cancelled || x->finished) {
		if (x->in_cb == 0)
			xfer_free(x);
	} else if (x->complete) {
		complete(x);
	} else if (err != HPE_OK) {
		char msg[256];
		etcd_fmt(msg, sizeof msg, "etcd %s: bad answer: %s", x->c->eps[x->ep].hostport,
			x->why[0] != '\0' ? x->why : llhttp_errno_name(err));
		fail(x, ETCD_E_PROTOCOL, msg);
	}
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct etcd_xfer *x = arg;
	char why[128];
	if (what & BEV_EVENT_CONNECTED) {
		send_request(x);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT)
		etcd_fmt(why, sizeof why, "%s timed out", x->connected ? "the answer" : "connect");
	else if (what & BEV_EVENT_EOF)
		etcd_fmt(why, sizeof why, "connection closed before the answer ended");
	else
		etcd_fmt(why, sizeof why, "%s", evutil_socket_error_to_string(
			EVUTIL_SOCKET_ERROR() != 0 ? EVUTIL_SOCKET_ERROR() : ECONNRESET));
	if (x->connected && (what & BEV_EVENT_EOF)) {
		/* What came with the close; a body that ends at the close ends here. */
		x->in_cb++;
		if (feed(x, bufferevent_get_input(bev)) == HPE_OK && !x->complete && !x->cancelled)
			llhttp_finish(&x->parser);
		x->in_cb--;
		if (x->cancelled || x->finished) {
			if (x->in_cb == 0)
				xfer_free(x);
			return;
		}
		if (x->complete) {
			complete(x);
			return;
		}
	}
	if (!x->connected)
		next_ep(x, why);
	else
		broken(x, (what & BEV_EVENT_TIMEOUT) != 0, why);
}

struct etcd_xfer *etcd_xfer_start(struct etcd *c, char *path, char *body, bool retry_sent,
	etcd_xfer_done done, etcd_xfer_line line, void *arg)
{
	struct etcd_xfer *x = calloc(1, sizeof *x);
	pthread_once(&parse_once, parse_init);
	if (x == NULL || (x->acc = evbuffer_new()) == NULL
			|| (x->later = event_new(c->base, -1, 0, dial_failed, x)) == NULL) {
		if (x != NULL && x->acc != NULL)
			evbuffer_free(x->acc);
		free(x);
		free(path);
		free(body);
		return NULL;
	}
	x->c = c;
	x->path = path;
	x->body = body;
	x->blen = strlen(body);
	x->retry_sent = retry_sent;
	x->done = done;
	x->line = line;
	x->arg = arg;
	x->ep = c->cur;
	x->next = c->xfers;
	if (c->xfers != NULL)
		c->xfers->prev = x;
	c->xfers = x;
	dial(x);
	return x;
}

void etcd_avoid(struct etcd *c, size_t ep)
{
	if (c->cur == ep)
		c->cur = (ep + 1) % c->neps;
}

void etcd_xfer_cancel(struct etcd_xfer *x)
{
	if (x == NULL || x->cancelled)
		return;
	x->cancelled = true;
	if (x->bev != NULL)
		bufferevent_disable(x->bev, EV_READ | EV_WRITE);
	if (x->in_cb == 0)
		xfer_free(x);
}
