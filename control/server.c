/* control/server.c - the control listener: HTTP/1.1 on llhttp, one request at a time per
 * connection, answered synchronously (api.c decides), keep-alive and pipelining in order.
 * Every answer is 200 + Content-Type: application/json exactly (spec 1.4); a request too large or
 * unparseable gets its JSON error and the connection closes.
 * What a client can hold is bounded (the API port faces the network): a connection is not read
 * while its unsent answers pass CTL_OUT_HIGH; a request's head and body each have a deadline; a
 * body is admitted from its head (its size, the caller's credentials) before it is buffered, and
 * all bodies being received share one budget; the connections are counted, and past the limit the
 * one idle the longest makes room; a listener out of descriptors pauses instead of spinning.
 */
#include "ctl.h"
#include "state/sm.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <llhttp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "cfg.h"
#include "log.h"
#include "metrics.h"

#define CTL_MAX_HEAD 65536          /* request line + headers */
#define CTL_MAX_HEADERS 100
#define CTL_IDLE_TIMEOUT_S 60
#define CTL_OUT_HIGH (64u << 10)    /* unsent answers past which a connection is not read ... */
#define CTL_OUT_LOW (32u << 10)     /* ... until they are down to this */
#define ACCEPT_RETRY_MS 500         /* after EMFILE/ENFILE/ENOMEM: let connections close first */
#define SHORTAGE_GAP_S 60           /* that long without a pause ends a descriptor shortage */

struct ctl_str {
	char *p;
	size_t len, cap;
};

struct ctl_conn {
	TAILQ_ENTRY(ctl_conn) link;
	struct ctl *ctl;
	struct bufferevent *bev;
	llhttp_t parser;
	struct ctl_req req;
	struct ctl_str url, field, value, body;
	size_t head_bytes;
	enum ctl_err reject;        /* set while parsing: answer this instead of dispatching */
	int closing;                /* answer written; close once it is flushed */
	int lingering;              /* answer flushed, write side shut: discarding what the client
	                             * still sends, so the answer is not lost to a reset */
	size_t discarded;
	int metrics_only;           /* accepted on control.metrics_listen: serves GET /metrics only */
	int in_request;             /* a request's first byte came, its last has not */
	int in_body;                /* ... and its head is complete */
	int stalled;                /* unsent answers over CTL_OUT_HIGH: not read until they drain */
	uint64_t idle_since;        /* ctl->ticks when it last finished a request (or was accepted) */
	struct event *deadline;     /* the end of the head, the body, or the lingering close */
	size_t allowance;           /* body bytes the request's head admits */
	size_t reserved;            /* this request's share of ctl->buffered */
	char *answer;               /* a refusal decided by the API (owned): refuse() sends it */
	char reject_msg[160];       /* the message of reject; "" = the default */
	TAILQ_ENTRY(ctl_conn) cork_link;
	int corked;                 /* its answers wait for the state to be durable (EV_WRITE off) */
};

struct ctl {
	const struct ctl_deps *deps;
	struct ctl_deps deps_copy;
	struct ctl_api *api;
	struct evconnlistener *lev;
	unsigned port;
	TAILQ_HEAD(, ctl_conn) conns;
	struct evconnlistener *metrics_lev;     /* control.metrics_listen; NULL: /metrics is here */
	uint64_t reloads_applied, reloads_refused;
	size_t nconns;
	size_t buffered;            /* request body bytes admitted on all connections */
	uint64_t ticks;             /* orders the connections' idle_since */
	struct event *accept_retry; /* re-enables accepting after a pause */
	unsigned pauses;            /* accept pauses (EMFILE...) in this shortage */
	struct timespec last_pause; /* CLOCK_MONOTONIC */
	/* Group commit: connections whose answers wait for the changes made so far to be durable,
	 * and the event that makes them so once this turn's readable calls are all decided. */
	TAILQ_HEAD(, ctl_conn) corked;
	struct event *sync;
};

static int str_add(struct ctl_str *s, const char *at, size_t len)
{
	if (s->len + len + 1 > s->cap) {
		size_t cap = s->cap ? s->cap : 256;
		while (cap < s->len + len + 1)
			cap *= 2;
		char *p = realloc(s->p, cap);
		if (p == NULL)
			return -1;
		s->p = p;
		s->cap = cap;
	}
	memcpy(s->p + s->len, at, len);
	s->len += len;
	s->p[s->len] = '\0';
	return 0;
}

/* Room for cap bytes at once: a body of known length is allocated at its size, not doubled to it. */
static int str_reserve(struct ctl_str *s, size_t cap)
{
	char *p;
	if (s->cap >= cap)
		return 0;
	if ((p = realloc(s->p, cap)) == NULL)
		return -1;
	s->p = p;
	s->cap = cap;
	return 0;
}

static void str_free(struct ctl_str *s)
{
	free(s->p);
	memset(s, 0, sizeof(*s));
}

static struct ctl_conn *conn_of(llhttp_t *p)
{
	return p->data;
}

static void arm(struct ctl_conn *c, unsigned ms)
{
	const struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
	evtimer_add(c->deadline, &tv);
}

/* n more bytes of c's body against control.max_buffered_bodies. Past the budget the newest request
 * is refused, not the ones already coming in; a request alone is always let in (max_request_size
 * bounds it). 0, or -1 with the refusal set. */
static int budget_take(struct ctl_conn *c, size_t n)
{
	struct ctl *ctl = c->ctl;
	size_t others = ctl->buffered - c->reserved;
	if (others > 0 && others + c->reserved + n > ctl->deps->cfg->control_max_buffered_bodies) {
		c->reject = CTL_E_SERVICE_UNAVAILABLE;
		snprintf(c->reject_msg, sizeof(c->reject_msg), "Too many request bodies are being "
			"received at once; try again later.");
		return -1;
	}
	ctl->buffered += n;
	c->reserved += n;
	return 0;
}

static void budget_release(struct ctl_conn *c)
{
	c->ctl->buffered -= c->reserved;
	c->reserved = 0;
}

/* The head's deadline runs from the request's first byte, whatever the idle timer does. */
static int on_message_begin(llhttp_t *p)
{
	struct ctl_conn *c = conn_of(p);
	c->in_request = 1;
	c->in_body = 0;
	arm(c, c->ctl->deps->cfg->control_header_timeout_ms);
	return HPE_OK;
}

/* Head bytes count against CTL_MAX_HEAD; past it the request is refused whole. */
static int head_add(llhttp_t *p, struct ctl_str *s, const char *at, size_t len)
{
	struct ctl_conn *c = conn_of(p);
	c->head_bytes += len;
	if (c->head_bytes > CTL_MAX_HEAD) {
		c->reject = CTL_E_REQUEST_SIZE_LIMIT_EXCEEDED;
		return HPE_USER;
	}
	return str_add(s, at, len) == 0 ? HPE_OK : HPE_USER;
}

static int on_url(llhttp_t *p, const char *at, size_t len)
{
	return head_add(p, &conn_of(p)->url, at, len);
}

static int on_field(llhttp_t *p, const char *at, size_t len)
{
	return head_add(p, &conn_of(p)->field, at, len);
}

/* A trailer field (after a chunked body) would be read as a header, where a proxy in front, done
 * with the head, may not look: refused, whatever its name; no SDK sends one. */
static int trailer(struct ctl_conn *c, const char *name)
{
	c->reject = CTL_E_INVALID_PARAMETER;
	snprintf(c->reject_msg, sizeof(c->reject_msg), "Trailer fields are not accepted (`%.64s`).",
		name);
	LOG_DEBUG("ctl", "refused: trailer %.64s", name);
	return HPE_USER;
}

/* The single place repeats are caught: a header the API or the framing reads, given twice, is
 * refused as soon as its second name is complete, before llhttp reads that value (for
 * Content-Length, before its own "Duplicate Content-Length"), so the message can name it. Two
 * Authorization headers are one that cannot be read: AuthFailure.InvalidAuthorization. */
static int on_field_complete(llhttp_t *p)
{
	struct ctl_conn *c = conn_of(p);
	const char *name = c->field.p != NULL ? c->field.p : "";
	if (c->in_body)
		return trailer(c, name);
	if (!ctl_req_header_single(name) || ctl_req_header(&c->req, name) == NULL)
		return HPE_OK;
	c->reject = strcasecmp(name, "Authorization") == 0 ? CTL_E_AUTH_INVALID_AUTHORIZATION :
		CTL_E_INVALID_PARAMETER;
	snprintf(c->reject_msg, sizeof(c->reject_msg), "Header `%.64s` is given more than once.",
		name);     /* a token: strict llhttp lets no other byte into a name */
	LOG_DEBUG("ctl", "refused: header %.64s repeated", name);
	return HPE_USER;
}

static int on_value(llhttp_t *p, const char *at, size_t len)
{
	return head_add(p, &conn_of(p)->value, at, len);
}

static int on_value_complete(llhttp_t *p)
{
	struct ctl_conn *c = conn_of(p);
	int rc = HPE_OK;
	if (c->req.nheaders >= CTL_MAX_HEADERS) {
		c->reject = CTL_E_REQUEST_SIZE_LIMIT_EXCEEDED;
		rc = HPE_USER;
	} else if (ctl_req_add_header(&c->req, c->field.p ? c->field.p : "", c->field.len,
	    c->value.p ? c->value.p : "", c->value.len) != 0) {
		rc = HPE_USER;
	}
	c->field.len = c->value.len = 0;
	return rc;
}

/* The signature clock. Not time(): on Linux it reads the coarse clock, a tick behind, so a
 * request signed at the very start of a second could look a second younger than it is and pass
 * the five-minute window a second late. */
static time_t wall_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec;
}

/* A body larger than its head admits: refused before it is read. -1, for on_headers_complete. */
static int refuse_body(struct ctl_conn *c)
{
	c->reject = CTL_E_REQUEST_SIZE_LIMIT_EXCEEDED;  /* if the API has no answer (ENOMEM) */
	if (!c->metrics_only)
		c->answer = ctl_api_refuse_body(c->ctl->api, &c->req, wall_seconds());
	return -1;
}

/* Whether the body may be read, from the head alone: what the caller's credentials admit
 * (ctl_api_body_allowance()), and a length known in advance is taken from the budget at once. A
 * chunked body is checked as it comes. 0, or -1 with the refusal set. */
static int admit_body(struct ctl_conn *c, const llhttp_t *p)
{
	size_t most = c->ctl->deps->cfg->max_request_size;
	if (!(p->flags & F_CHUNKED) && !((p->flags & F_CONTENT_LENGTH) && p->content_length > 0))
		return 0;       /* no body */
	c->allowance = c->metrics_only ? (most < CTL_API_V1_MAX_BYTES ? most : CTL_API_V1_MAX_BYTES) :
		ctl_api_body_allowance(c->ctl->api, &c->req);
	if (!(p->flags & F_CONTENT_LENGTH))
		return 0;
	if (p->content_length > c->allowance)
		return refuse_body(c);
	return budget_take(c, (size_t)p->content_length);
}

static int on_headers_complete(llhttp_t *p)
{
	struct ctl_conn *c = conn_of(p);
	const char *method = llhttp_method_name((llhttp_method_t)p->method);
	snprintf(c->req.method, sizeof(c->req.method), "%s", method);
	ctl_req_set_target(&c->req, c->url.p ? c->url.p : strdup("/"));
	memset(&c->url, 0, sizeof(c->url));     /* the request owns it now */
	if ((p->flags & F_CONTENT_LENGTH) && p->content_length > c->ctl->deps->cfg->max_request_size) {
		c->reject = CTL_E_REQUEST_SIZE_LIMIT_EXCEEDED;
		return HPE_USER;    /* answer now: reading a body we refuse only costs us */
	}
	if (admit_body(c, p) != 0)
		return HPE_USER;
	const char *expect = ctl_req_header(&c->req, "Expect");
	if (expect != NULL && strcasecmp(expect, "100-continue") == 0)
		evbuffer_add_printf(bufferevent_get_output(c->bev), "HTTP/1.1 100 Continue\r\n\r\n");
	c->in_body = 1;
	arm(c, c->ctl->deps->cfg->control_body_timeout_ms);
	return HPE_OK;
}

static int on_body(llhttp_t *p, const char *at, size_t len)
{
	struct ctl_conn *c = conn_of(p);
	int known = (p->flags & F_CONTENT_LENGTH) != 0;
	if (c->body.len + len > c->ctl->deps->cfg->max_request_size) {
		c->reject = CTL_E_REQUEST_SIZE_LIMIT_EXCEEDED;
		return HPE_USER;
	}
	if (c->body.len + len > c->allowance) {
		refuse_body(c);
		return HPE_USER;
	}
	if (!known && budget_take(c, len) != 0)
		return HPE_USER;
	if (known && str_reserve(&c->body, c->reserved + 1) != 0)
		return HPE_USER;
	return str_add(&c->body, at, len) == 0 ? HPE_OK : HPE_USER;
}

/* The JSON answer (freed here), or a bare 500 when none could be made. A HEAD request gets the
 * head only: a body there would be read as the start of the next response. */
static void respond(struct ctl_conn *c, char *json, int keep_alive, int head)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	size_t len = json != NULL ? strlen(json) : 0;
	if (json == NULL) {
		evbuffer_add_printf(out, "HTTP/1.1 500 Internal Server Error\r\n"
			"Content-Length: 0\r\nConnection: close\r\n\r\n");
		c->closing = 1;
		return;
	}
	evbuffer_add_printf(out, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
		"Content-Length: %zu\r\n%s\r\n", len, keep_alive ? "" : "Connection: close\r\n");
	if (!head)
		evbuffer_add(out, json, len);
	free(json);
	if (!keep_alive)
		c->closing = 1;
}

static int is_metrics_path(const struct ctl_req *r)
{
	return r->path_len == strlen("/metrics") && memcmp(r->path, "/metrics", r->path_len) == 0;
}

/* Unsigned, by exception: GET /metrics on the control address, unless a metrics address is
 * bound; there, every request (which does not reach the API at all). */
static int metrics_wanted(const struct ctl_conn *c)
{
	return c->metrics_only || (c->ctl->metrics_lev == NULL && is_metrics_path(&c->req) &&
		strcmp(c->req.method, "GET") == 0);
}

/* A plain-text answer of the metrics endpoint: it speaks no API, so no JSON envelope. body is
 * moved out. */
static void text_respond(struct ctl_conn *c, const char *status, const char *type,
	struct evbuffer *body, int keep_alive, int head)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	evbuffer_add_printf(out, "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s\r\n",
		status, type, evbuffer_get_length(body), keep_alive ? "" : "Connection: close\r\n");
	if (!head)
		evbuffer_add_buffer(out, body);
	if (!keep_alive)
		c->closing = 1;
}

static void metrics_respond(struct ctl_conn *c, int keep_alive, int head)
{
	static const char missing[] = "404 Not Found: metrics are at /metrics\n";
	struct ctl *ctl = c->ctl;
	const struct ctl_metrics_src src = { .cfg = ctl->deps->cfg, .listeners = ctl->deps->listeners,
		.api = ctl->api, .start_time = ctl->deps->started, .reloads_applied = ctl->reloads_applied,
		.reloads_refused = ctl->reloads_refused, .sm = ctl->deps->sm,
		.fleet = ctl->deps->fleet };
	int found = is_metrics_path(&c->req) && (strcmp(c->req.method, "GET") == 0 || head), rc = -1;
	struct evbuffer *body = evbuffer_new();
	if (body != NULL)
		rc = found ? ctl_metrics_render(body, &src) : evbuffer_add(body, missing,
			sizeof(missing) - 1);
	if (rc != 0)
		respond(c, NULL, 0, 0);         /* a bare 500 */
	else if (found)
		text_respond(c, "200 OK", CTL_METRICS_CONTENT_TYPE, body, keep_alive, head);
	else
		text_respond(c, "404 Not Found", "text/plain; charset=utf-8", body, keep_alive, head);
	if (body != NULL)
		evbuffer_free(body);
}

/* Answers are made as requests complete; a client that sends without reading would grow its
 * unsent answers without end, so past CTL_OUT_HIGH the parser pauses and the connection is not
 * read (the kernel's buffers then hold the client back) until the write callback sees them drain. */
/* Group commit. A call that changed the state has its change written, not yet durable; its answer,
 * and every answer decided after it (they may show the change), are held with the socket's
 * writes off until sync_cb() has made the changes durable. sync_cb() runs once the calls that
 * were readable in this turn of the loop are all decided (it is activated at their priority, so
 * it queues behind them): callers that arrive together share one fdatasync. */
static void cork_until_durable(struct ctl_conn *c)
{
	struct ctl *ctl = c->ctl;
	if (ctl->deps->sm == NULL || !sm_unsynced(ctl->deps->sm) || c->corked)
		return;
	bufferevent_disable(c->bev, EV_WRITE);
	c->corked = 1;
	TAILQ_INSERT_TAIL(&ctl->corked, c, cork_link);
	if (!event_pending(ctl->sync, EV_TIMEOUT, NULL))
		event_active(ctl->sync, EV_TIMEOUT, 0);
}

static void make_durable(struct ctl *ctl)
{
	char err[256];
	if (ctl->deps->sm == NULL || sm_sync(ctl->deps->sm, err, sizeof(err)) == 0)
		return;
	/* The node serves changes that may not be on disk, and can write none after them: answering
	 * would confirm what a restart may not have. Stop unanswered; the restart serves the disk. */
	LOG_ERR("api", "state store: %s; stopping, the calls waiting for it unanswered", err);
	_exit(EXIT_FAILURE);
}

static void sync_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ctl *ctl = arg;
	struct ctl_conn *c;
	(void)fd;
	(void)what;
	make_durable(ctl);
	while ((c = TAILQ_FIRST(&ctl->corked)) != NULL) {
		TAILQ_REMOVE(&ctl->corked, c, cork_link);
		c->corked = 0;
		bufferevent_enable(c->bev, EV_WRITE);
	}
}

static int on_message_complete(llhttp_t *p)
{
	struct ctl_conn *c = conn_of(p);
	evtimer_del(c->deadline);
	c->in_request = c->in_body = 0;
	c->req.body = c->body.p;
	c->req.body_len = c->body.len;
	if (c->req.body == NULL && str_add(&c->body, "", 0) == 0)
		c->req.body = c->body.p;
	memset(&c->body, 0, sizeof(c->body));  /* the request owns it now */
	/* After CONNECT or an Upgrade the peer would speak another protocol: answer, then close
	 * (llhttp stops there with HPE_PAUSED_UPGRADE anyway). */
	if (metrics_wanted(c)) {
		metrics_respond(c, llhttp_should_keep_alive(p) && !p->upgrade, p->method == HTTP_HEAD);
	} else {
		if (c->ctl->deps_copy.catch_up != NULL)
			c->ctl->deps_copy.catch_up(c->ctl->deps_copy.catch_up_arg);
		respond(c, ctl_api_handle(c->ctl->api, &c->req, wall_seconds()),
			llhttp_should_keep_alive(p) && !p->upgrade, p->method == HTTP_HEAD);
	}
	cork_until_durable(c);
	ctl_req_reset(&c->req);
	budget_release(c);
	c->head_bytes = 0;
	c->idle_since = ++c->ctl->ticks;
	c->stalled = !c->closing && evbuffer_get_length(bufferevent_get_output(c->bev)) >= CTL_OUT_HIGH;
	return c->closing || c->stalled ? HPE_PAUSED : HPE_OK;
}

static const llhttp_settings_t settings = {
	.on_message_begin = on_message_begin,
	.on_url = on_url,
	.on_header_field = on_field,
	.on_header_field_complete = on_field_complete,
	.on_header_value = on_value,
	.on_header_value_complete = on_value_complete,
	.on_headers_complete = on_headers_complete,
	.on_body = on_body,
	.on_message_complete = on_message_complete,
};

static void conn_free(struct ctl_conn *c)
{
	if (c->corked)
		TAILQ_REMOVE(&c->ctl->corked, c, cork_link);
	TAILQ_REMOVE(&c->ctl->conns, c, link);
	c->ctl->nconns--;
	budget_release(c);
	if (c->deadline != NULL)
		event_free(c->deadline);
	free(c->answer);
	bufferevent_free(c->bev);
	ctl_req_reset(&c->req);
	str_free(&c->url);
	str_free(&c->field);
	str_free(&c->value);
	str_free(&c->body);
	free(c);
}

/* llhttp's reason when the request's framing is ambiguous (Content-Length with Transfer-Encoding,
 * a bad length or coding: what request smuggling relies on), else NULL. Its reasons are its own
 * constant text, never client bytes. */
static const char *framing_error(struct ctl_conn *c, enum llhttp_errno err)
{
	if (err != HPE_UNEXPECTED_CONTENT_LENGTH && err != HPE_INVALID_CONTENT_LENGTH &&
	    err != HPE_INVALID_TRANSFER_ENCODING)
		return NULL;
	return llhttp_get_error_reason(&c->parser);
}

/* A request we cannot parse or will not read gets its JSON error (the API's, when it decided),
 * then the connection closes. */
static void refuse(struct ctl_conn *c, enum llhttp_errno err)
{
	enum ctl_err e = c->reject != CTL_E_OK ? c->reject : CTL_E_INVALID_PARAMETER;
	enum ctl_lang lang = CTL_LANG_EN_US;
	const char *why = framing_error(c, err);
	char msg[160];
	evtimer_del(c->deadline);
	if (c->answer != NULL) {
		respond(c, c->answer, 0, 0);
		c->answer = NULL;
		return;
	}
	/* The headers read so far may name the caller's language; a bad one is not worth an error. */
	if (ctl_lang_parse(ctl_req_header(&c->req, "X-TC-Language"), &lang) != 0)
		lang = CTL_LANG_EN_US;
	if (c->reject_msg[0] != '\0')
		snprintf(msg, sizeof(msg), "%s", c->reject_msg);
	else if (e == CTL_E_REQUEST_SIZE_LIMIT_EXCEEDED)
		snprintf(msg, sizeof(msg), "The request exceeds the size limit of this endpoint.");
	else
		snprintf(msg, sizeof(msg), "Malformed HTTP request%s%s.", why != NULL ? ": " : "",
			why != NULL ? why : "");
	if (e == CTL_E_INVALID_PARAMETER && err != HPE_OK)
		LOG_DEBUG("ctl", "bad request: %s: %s", llhttp_errno_name(err),
			llhttp_get_error_reason(&c->parser) ? llhttp_get_error_reason(&c->parser) : "");
	if (!c->metrics_only)
		ctl_api_count_refused(c->ctl->api, e);
	respond(c, ctl_api_error_body(e, msg, lang), 0, 0);
}

#define LINGER_TIMEOUT_S 2               /* the client's silence that ends a lingering close */
#define LINGER_MAX_MS 5000               /* its whole length, however the client trickles */
#define LINGER_MAX_BYTES (16u << 20)     /* what we discard at most before closing anyway */

/* Closing a socket with unread input makes the kernel send a reset, which can destroy the answer
 * before the client reads it (a refused oversized body, say). So: shut our write side once the
 * answer is out, then read and discard until the client closes, goes quiet, or sends too much. */
static void linger(struct ctl_conn *c)
{
	const struct timeval quiet = { LINGER_TIMEOUT_S, 0 };
	c->lingering = 1;
	evbuffer_drain(bufferevent_get_input(c->bev), evbuffer_get_length(bufferevent_get_input(c->bev)));
	shutdown(bufferevent_getfd(c->bev), SHUT_WR);
	bufferevent_set_timeouts(c->bev, &quiet, NULL);
	bufferevent_enable(c->bev, EV_READ);
	arm(c, LINGER_MAX_MS);
}

/* After an answer that ends the connection: nothing more is parsed; linger once it is sent. */
static void end_after_answer(struct ctl_conn *c)
{
	bufferevent_disable(c->bev, EV_READ);
	bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
		linger(c);
}

static void discard(struct ctl_conn *c, struct evbuffer *in)
{
	c->discarded += evbuffer_get_length(in);
	evbuffer_drain(in, evbuffer_get_length(in));
	if (c->discarded > LINGER_MAX_BYTES)
		conn_free(c);
}

/* Parse what has arrived, answering each request as it completes, until the input is used up, the
 * connection is closing, or it stalls on its unsent answers (see on_message_complete()). */
static void pump(struct ctl_conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	while (!c->closing && !c->stalled && evbuffer_get_length(in) > 0) {
		size_t len = evbuffer_get_contiguous_space(in);
		const char *data = (const char *)evbuffer_pullup(in, (ev_ssize_t)len);
		enum llhttp_errno err = llhttp_execute(&c->parser, data, len);
		size_t used = err == HPE_OK ? len : (size_t)(llhttp_get_error_pos(&c->parser) - data);
		evbuffer_drain(in, used);   /* a pause stops right after the message it completed */
		if (err == HPE_PAUSED && c->stalled)
			llhttp_resume(&c->parser);
		else if (err != HPE_OK && err != HPE_PAUSED)
			refuse(c, err);     /* HPE_PAUSED alone: closing, what follows is not read */
	}
	if (c->closing) {
		end_after_answer(c);
	} else if (c->stalled) {
		bufferevent_disable(c->bev, EV_READ);
		bufferevent_setwatermark(c->bev, EV_WRITE, CTL_OUT_LOW, 0);
	}
}

static void read_cb(struct bufferevent *bev, void *arg)
{
	struct ctl_conn *c = arg;
	if (c->lingering) {
		discard(c, bufferevent_get_input(bev));
		return;
	}
	pump(c);
}

/* Runs once the output is down to the write low-water mark: CTL_OUT_LOW while stalled, else 0. */
static void write_cb(struct bufferevent *bev, void *arg)
{
	struct ctl_conn *c = arg;
	if (c->stalled) {
		c->stalled = 0;
		bufferevent_setwatermark(bev, EV_WRITE, 0, 0);
		bufferevent_enable(bev, EV_READ);
		pump(c);    /* requests that came before the stall: no read event will announce them */
		return;
	}
	if (c->closing && !c->lingering && evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		linger(c);
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct ctl_conn *c = arg;
	if (what & BEV_EVENT_EOF && !c->closing && llhttp_finish(&c->parser) != HPE_OK &&
	    c->head_bytes > 0)
		LOG_DEBUG("ctl", "client closed mid-request");
	/* A client that half-closes after its requests still gets their answers. */
	if (what == (BEV_EVENT_READING | BEV_EVENT_EOF) && !c->lingering &&
	    evbuffer_get_length(bufferevent_get_output(bev)) > 0) {
		c->closing = 1;
		c->stalled = 0;
		evtimer_del(c->deadline);   /* a request it began is abandoned, not late */
		end_after_answer(c);
		return;
	}
	conn_free(c);
}

/* The head or the body did not arrive in time (or a lingering close ran out): the request is
 * refused and the connection closes, however steadily the client trickles bytes. */
static void deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ctl_conn *c = arg;
	const struct cfg *cfg = c->ctl->deps->cfg;
	(void)fd;
	(void)what;
	if (c->lingering || c->closing) {
		conn_free(c);
		return;
	}
	c->reject = CTL_E_INVALID_PARAMETER;
	snprintf(c->reject_msg, sizeof(c->reject_msg), "The request %s did not arrive in full within "
		"%u ms.", c->in_body ? "body" : "head", c->in_body ? cfg->control_body_timeout_ms :
		cfg->control_header_timeout_ms);
	LOG_DEBUG("ctl", "request %s timed out", c->in_body ? "body" : "head");
	refuse(c, HPE_OK);
	end_after_answer(c);
}

static int is_idle(const struct ctl_conn *c)
{
	return !c->in_request && !c->stalled && !c->closing &&
		evbuffer_get_length(bufferevent_get_output(c->bev)) == 0;
}

/* The connection to close so that a new caller gets in: one lingering after its answer, else the
 * one idle the longest. NULL when every connection is busy with a request. */
static struct ctl_conn *victim(struct ctl *ctl)
{
	struct ctl_conn *c, *best = NULL;
	TAILQ_FOREACH(c, &ctl->conns, link) {
		if (c->lingering)
			return c;
		if (is_idle(c) && (best == NULL || c->idle_since < best->idle_since))
			best = c;
	}
	return best;
}

/* Over control.max_connections: 1 when no connection could make room (the new one is then told
 * so and closed), else 0. */
static int make_room(struct ctl *ctl)
{
	struct ctl_conn *v;
	if (ctl->nconns < ctl->deps->cfg->control_max_connections)
		return 0;
	if ((v = victim(ctl)) == NULL)
		return 1;
	LOG_DEBUG("ctl", "connections=%zu: closing the one idle longest for a new caller", ctl->nconns);
	conn_free(v);
	return 0;
}

/* A connection for fd (owned from here on: closed on failure), reading; NULL on ENOMEM. */
static struct ctl_conn *conn_new(struct ctl *ctl, struct evconnlistener *lev, evutil_socket_t fd,
	const struct sockaddr *sa, int salen)
{
	struct event_base *base = evconnlistener_get_base(lev);
	struct ctl_conn *c = calloc(1, sizeof(*c));
	const struct timeval idle = { CTL_IDLE_TIMEOUT_S, 0 };
	if (c == NULL || (c->deadline = evtimer_new(base, deadline_cb, c)) == NULL ||
	    (c->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE)) == NULL) {
		evutil_closesocket(fd);
		if (c != NULL && c->deadline != NULL)
			event_free(c->deadline);
		free(c);
		return NULL;
	}
	c->ctl = ctl;
	c->metrics_only = lev == ctl->metrics_lev;
	memcpy(&c->req.peer, sa, (size_t)salen < sizeof(c->req.peer) ? (size_t)salen : sizeof(c->req.peer));
	llhttp_init(&c->parser, HTTP_REQUEST, &settings);
	c->parser.data = c;
	TAILQ_INSERT_TAIL(&ctl->conns, c, link);
	ctl->nconns++;
	c->idle_since = ++ctl->ticks;
	bufferevent_setcb(c->bev, read_cb, write_cb, event_cb, c);
	bufferevent_set_timeouts(c->bev, &idle, &idle);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	return c;
}

static void accept_cb(struct evconnlistener *lev, evutil_socket_t fd, struct sockaddr *sa,
	int salen, void *arg)
{
	struct ctl *ctl = arg;
	int full = make_room(ctl);
	struct ctl_conn *c = conn_new(ctl, lev, fd, sa, salen);
	if (c != NULL && full) {
		c->reject = CTL_E_SERVICE_UNAVAILABLE;
		snprintf(c->reject_msg, sizeof(c->reject_msg), "Every control connection is busy with "
			"a request; try again later.");
		refuse(c, HPE_OK);
		end_after_answer(c);
	}
}

/* EMFILE, ENFILE, ENOMEM...: the backlog stays readable, so accepting again at once would spin.
 * Pause, as the data-plane listeners do. No connection is closed to make room: Linux reports
 * EMFILE before it looks at the backlog, so the accept after the one that took the last
 * descriptor fails too, and the idle connection would be the caller just accepted. (Idle clients
 * cannot take the descriptors: control.max_connections stops them first.) A shortage lasts until
 * a minute passes without a pause; its 1st, 2nd, 4th, 8th... pause is logged, with the count: a
 * long one writes a few lines, not two a second. */
static void accept_error_cb(struct evconnlistener *lev, void *arg)
{
	struct ctl *ctl = arg;
	int err = EVUTIL_SOCKET_ERROR();
	const struct timeval pause = { 0, ACCEPT_RETRY_MS * 1000 };
	struct timespec now;
	if (err == EPROTO || err == EPERM) {    /* that one caller's failure, already consumed */
		LOG_DEBUG("ctl", "accept: %s", evutil_socket_error_to_string(err));
		return;
	}
	evconnlistener_disable(lev);
	evtimer_add(ctl->accept_retry, &pause);
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (now.tv_sec - ctl->last_pause.tv_sec > SHORTAGE_GAP_S)
		ctl->pauses = 0;
	ctl->last_pause = now;
	ctl->pauses++;
	if ((ctl->pauses & (ctl->pauses - 1)) == 0)
		LOG_WARN("ctl", "accept: %s; pausing %d ms (pause %u of this shortage, connections=%zu)",
			evutil_socket_error_to_string(err), ACCEPT_RETRY_MS, ctl->pauses, ctl->nconns);
}

static void accept_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ctl *ctl = arg;
	(void)fd;
	(void)what;
	evconnlistener_enable(ctl->lev);
	if (ctl->metrics_lev != NULL)
		evconnlistener_enable(ctl->metrics_lev);
}

/* control.max_connections is meant to stay well under the descriptor limit, which the data plane
 * and the store need too. */
static void check_nofile(const struct cfg *cfg)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    cfg->control_max_connections > rl.rlim_cur / 4)
		LOG_WARN("ctl", "control.max_connections=%u is over a quarter of the descriptor limit "
			"(%llu): raise LimitNOFILE or lower it", cfg->control_max_connections,
			(unsigned long long)rl.rlim_cur);
}

static unsigned bound_port(evutil_socket_t fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
		return 0;
	return ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port :
		((struct sockaddr_in *)&ss)->sin_port);
}

/* control.metrics_listen: its own socket, served by the same connection code. */
/* As on the data plane's sockets: with Nagle, a small answer written while an earlier one is
 * unacknowledged waits for the client's delayed ACK (up to 40 ms). TCP_NODELAY on the listening
 * socket is inherited by every accepted one. */
static void no_delay(struct evconnlistener *lev)
{
	int one = 1;
	(void)setsockopt(evconnlistener_get_fd(lev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static int metrics_listen(struct event_base *base, struct ctl *c, char *err, size_t errlen)
{
	const struct cfg_addr *a = &c->deps->cfg->metrics_listen;
	c->metrics_lev = evconnlistener_new_bind(base, accept_cb, c, LEV_OPT_CLOSE_ON_FREE |
		LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC, 64, (const struct sockaddr *)&a->sa, (int)a->len);
	if (c->metrics_lev == NULL) {
		snprintf(err, errlen, "control.metrics_listen %s: %s", a->text, strerror(errno));
		return -1;
	}
	evconnlistener_set_error_cb(c->metrics_lev, accept_error_cb);
	no_delay(c->metrics_lev);
	LOG_INFO("ctl", "metrics listen=%s port=%u", a->text,
		bound_port(evconnlistener_get_fd(c->metrics_lev)));
	return 0;
}

void ctl_count_reload(struct ctl *c, int applied)
{
	if (applied)
		c->reloads_applied++;
	else
		c->reloads_refused++;
}

struct ctl *ctl_start(struct event_base *base, const struct ctl_deps *deps, char *err, size_t errlen)
{
	const struct cfg_addr *a = &deps->cfg->control_listen;
	struct ctl *c = calloc(1, sizeof(*c));
	if (c == NULL) {
		snprintf(err, errlen, "control: out of memory");
		return NULL;
	}
	c->deps_copy = *deps;
	c->deps = &c->deps_copy;
	TAILQ_INIT(&c->conns);
	TAILQ_INIT(&c->corked);
	if ((c->api = ctl_api_new(c->deps)) == NULL ||
	    (c->accept_retry = evtimer_new(base, accept_retry_cb, c)) == NULL ||
	    (c->sync = event_new(base, -1, 0, sync_cb, c)) == NULL) {
		snprintf(err, errlen, "control: out of memory");
		goto fail;
	}
	c->lev = evconnlistener_new_bind(base, accept_cb, c, LEV_OPT_CLOSE_ON_FREE |
		LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC, 512, (const struct sockaddr *)&a->sa, (int)a->len);
	if (c->lev == NULL) {
		snprintf(err, errlen, "control.listen %s: %s", a->text, strerror(errno));
		goto fail;
	}
	evconnlistener_set_error_cb(c->lev, accept_error_cb);
	no_delay(c->lev);
	c->port = bound_port(evconnlistener_get_fd(c->lev));
	if (deps->cfg->metrics_listen.len != 0 && metrics_listen(base, c, err, errlen) != 0)
		goto fail;
	check_nofile(deps->cfg);
	return c;
fail:
	ctl_stop(c);
	return NULL;
}

void ctl_stop(struct ctl *c)
{
	if (c == NULL)
		return;
	if (c->lev != NULL)
		evconnlistener_free(c->lev);
	if (c->metrics_lev != NULL)
		evconnlistener_free(c->metrics_lev);
	if (c->sync != NULL && !TAILQ_EMPTY(&c->corked))
		make_durable(c);        /* their answers are lost with the connections; not the changes */
	while (!TAILQ_EMPTY(&c->conns))
		conn_free(TAILQ_FIRST(&c->conns));
	if (c->accept_retry != NULL)
		event_free(c->accept_retry);
	if (c->sync != NULL)
		event_free(c->sync);
	ctl_api_destroy(c->api);
	free(c);
}

unsigned ctl_port(const struct ctl *c)
{
	return c->port;
}

void ctl_reconfigure(struct ctl *c, const struct cfg *cfg, const struct ctl_creds *creds)
{
	c->deps_copy.cfg = cfg;
	c->deps_copy.creds = creds;
	ctl_api_reconfigure(c->api);
}
