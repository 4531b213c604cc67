/* daemon/health/probe.c - one probe: the target's kept connection if it has one, else a new one
 *   (ups_connect()); the request written at once; the answer read whole (llhttp: the status line
 *   and headers, then the body by its framing, read and discarded up to HC_BODY_MAX); the status
 *   line within timeout_ms of the start. A connection the server lets live (HTTP/1.1 without
 *   `Connection: close`, or HTTP/1.0 with keep-alive) serves the next probe: connection-per-probe
 *   is most of a probe's cost (the kernel's TCP setup and teardown, bench/README.md). While idle it
 *   is watched: if the server closes it (or speaks out of turn), it is forgotten, and the next
 *   probe connects anew. A probe that fails on a kept connection before any byte of the answer is
 *   retried once on a new connection within the same deadline: the server may have closed it as
 *   the request left, which says nothing of its health (nginx's upstream keepalive does the same).
 */
#include "hc_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <llhttp.h>

#include "upstream/connect.h"

#define HC_BODY_MAX 65536           /* a longer body is not drained: the connection goes */

struct hc_probe {
	struct hc_target *t;
	struct ups_dial *dial;          /* the connect in flight, or NULL */
	struct bufferevent *bev;        /* connected: the request out, the answer in */
	struct event *deadline;         /* timeout_ms after the start: connect and status line */
	llhttp_t parser;
	int status;                     /* the final status, once its headers are complete */
	int reused;                     /* bev was kept from a previous probe (until a retry) */
	int answered;                   /* a byte of the answer came */
	int keep;                       /* the whole answer was read and bev may serve the next */
	uint64_t body;                  /* the body's bytes read so far */
	int64_t start_us, status_us;
};

static int64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* A 1xx is not the answer: the final status follows it. A HEAD's answer has no body whatever its
 * headers say; a body that lasts until the close, or longer than HC_BODY_MAX, is not read: the
 * status decides, and the connection goes (pausing here leaves keep 0). */
static int on_headers_complete(llhttp_t *p)
{
	struct hc_probe *pr = p->data;
	if (p->status_code < 200)
		return 0;
	pr->status = p->status_code;
	pr->status_us = now_us();
	if (strcmp(pr->t->p.method, "HEAD") == 0)
		return 1;
	if (llhttp_message_needs_eof(p) || p->content_length > HC_BODY_MAX)
		return HPE_PAUSED;
	return 0;
}

/* A chunked body past the bound: the status decides, the connection goes. */
static int on_body(llhttp_t *p, const char *at, size_t len)
{
	struct hc_probe *pr = p->data;
	(void)at;
	pr->body += len;
	return pr->body > HC_BODY_MAX ? HPE_PAUSED : 0;
}

static int on_message_complete(llhttp_t *p)
{
	struct hc_probe *pr = p->data;
	if (pr->status == 0)
		return 0;               /* a 1xx's end */
	pr->keep = llhttp_should_keep_alive(p);
	return HPE_PAUSED;
}

static const llhttp_settings_t settings = {
	.on_headers_complete = on_headers_complete,
	.on_body = on_body,
	.on_message_complete = on_message_complete,
};

/* Frees what the probe holds (its connection too, unless the probe has handed it on). */
static void probe_free(struct hc_probe *pr)
{
	pr->t->probe = NULL;
	ups_dial_cancel(pr->dial);
	if (pr->bev != NULL)
		bufferevent_free(pr->bev);
	if (pr->deadline != NULL)
		event_free(pr->deadline);
	free(pr);
}

/* The kept connection, idle: the server closed it, or said something nobody asked for. */
static void idle_read(struct bufferevent *bev, void *arg)
{
	struct hc_target *t = arg;
	(void)bev;
	bufferevent_free(t->conn);
	t->conn = NULL;
}

static void idle_event(struct bufferevent *bev, short what, void *arg)
{
	(void)what;
	idle_read(bev, arg);
}

/* Keeps the connection when the answer allows it, frees the rest, then tells the target (which
 * may start the next probe). */
static void finish(struct hc_probe *pr, int ok, const char *why)
{
	struct hc_target *t = pr->t;
	int64_t lat = pr->status != 0 ? pr->status_us - pr->start_us : -1;
	if (pr->keep && pr->bev != NULL && t->conn == NULL) {
		t->conn = pr->bev;
		pr->bev = NULL;
		bufferevent_setcb(t->conn, idle_read, NULL, idle_event, t);
	}
	probe_free(pr);
	hc_probe_done(t, ok, why, lat);
}

static void verdict(struct hc_probe *pr)
{
	char why[32];
	if (pr->t->p.status_classes & (1u << (pr->status / 100))) {
		finish(pr, 1, "");
		return;
	}
	snprintf(why, sizeof why, "status %d", pr->status);
	finish(pr, 0, why);
}

/* Feeds what came in to the parser, chunk by chunk, until the answer's end (or a pause: the status
 * is known and the rest does not matter). Bytes past the answer: the connection is not kept. */
static void on_read(struct bufferevent *bev, void *arg)
{
	struct hc_probe *pr = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	char why[64];
	while (evbuffer_get_length(in) > 0) {
		struct evbuffer_iovec v;
		enum llhttp_errno e;
		pr->answered = 1;
		evbuffer_peek(in, -1, NULL, &v, 1);
		e = llhttp_execute(&pr->parser, v.iov_base, v.iov_len);
		if (e == HPE_OK) {
			evbuffer_drain(in, v.iov_len);
			continue;
		}
		if (e == HPE_PAUSED && pr->keep)
			pr->keep = llhttp_get_error_pos(&pr->parser) - (const char *)v.iov_base ==
				(ptrdiff_t)evbuffer_get_length(in);
		else
			pr->keep = 0;
		if (pr->keep)           /* the answer, all of it: the next starts clean */
			evbuffer_drain(in, evbuffer_get_length(in));
		if (pr->status != 0) {
			verdict(pr);
			return;
		}
		snprintf(why, sizeof why, "bad response: %s", llhttp_errno_name(e));
		finish(pr, 0, why);
		return;
	}
}

static void dial(struct hc_probe *pr);

/* The connection failed or closed. After the status line, the status decides (the connection
 * goes); on a kept connection before any answer, once: a new connection. */
static void on_event(struct bufferevent *bev, short what, void *arg)
{
	struct hc_probe *pr = arg;
	char why[64];
	if (pr->status != 0) {
		pr->keep = 0;
		verdict(pr);
		return;
	}
	if (pr->reused && !pr->answered) {
		pr->reused = 0;
		pr->bev = NULL;
		bufferevent_free(bev);
		dial(pr);
		return;
	}
	if (what & BEV_EVENT_EOF)
		snprintf(why, sizeof why, "closed before the status line");
	else
		snprintf(why, sizeof why, "%s: %s", what & BEV_EVENT_READING ? "read" : "write",
			strerror(EVUTIL_SOCKET_ERROR()));
	finish(pr, 0, why);
}

/* The status line is late: a failure. It came but the body has not ended: the status decides, and
 * the connection, in the middle of an answer, goes. */
static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct hc_probe *pr = arg;
	(void)fd;
	(void)what;
	if (pr->status != 0)
		verdict(pr);
	else
		finish(pr, 0, "timeout");
}

/* hc.h's request: Connection: keep-alive, so that the next probe may use the same connection. */
static int send_request(struct hc_probe *pr)
{
	const struct hc_params *p = &pr->t->p;
	return evbuffer_add_printf(bufferevent_get_output(pr->bev),
		"%s %s HTTP/1.1\r\nHost: %s\r\nConnection: keep-alive\r\n"
		"User-Agent: gaapd-health\r\n\r\n",
		p->method, p->path, p->host) < 0 ? -1 : 0;
}

/* The probe's connection, new or kept: the request out, the answer in. */
static void use(struct hc_probe *pr, struct bufferevent *bev)
{
	pr->bev = bev;
	bufferevent_setcb(bev, on_read, NULL, on_event, pr);
	/* connect.h promises reading enabled, but a socket bufferevent starts with EV_WRITE only */
	if (send_request(pr) != 0 || bufferevent_enable(bev, EV_READ | EV_WRITE) != 0)
		finish(pr, 0, "out of memory");
}

static void on_dial(struct bufferevent *bev, int err, void *arg)
{
	struct hc_probe *pr = arg;
	char why[64];
	pr->dial = NULL;            /* it has freed itself */
	if (bev == NULL) {
		if (err == ETIMEDOUT)
			snprintf(why, sizeof why, "timeout");
		else
			snprintf(why, sizeof why, "connect: %s", strerror(err));
		finish(pr, 0, why);
		return;
	}
	use(pr, bev);
}

/* Why a dial could not start: a name without an address is the common case. */
static void not_started(struct hc_probe *pr, int err)
{
	char why[64];
	if (err == EHOSTUNREACH)
		snprintf(why, sizeof why, "does not resolve");
	else
		snprintf(why, sizeof why, "connect: %s", strerror(err));
	finish(pr, 0, why);
}

/* A new connection, given what is left of timeout_ms (a retry comes after some of it): the
 * connect's own limit too, so that its socket goes as soon as the connect times out. */
static void dial(struct hc_probe *pr)
{
	struct hc_target *t = pr->t;
	int64_t left = (int64_t)t->p.timeout_ms * 1000 - (now_us() - pr->start_us);
	unsigned ms = left < 1000 ? 1 : (unsigned)(left / 1000);
	if ((pr->dial = ups_connect(t->c->base, t->srv, ms, on_dial, pr)) == NULL)
		not_started(pr, errno);
}

void hc_probe_start(struct hc_target *t)
{
	const struct timeval tv = { t->p.timeout_ms / 1000, (t->p.timeout_ms % 1000) * 1000 };
	struct hc_probe *pr = calloc(1, sizeof *pr);
	struct bufferevent *kept = t->conn;
	if (pr == NULL) {
		hc_probe_done(t, 0, "out of memory", -1);
		return;
	}
	pr->t = t;
	pr->start_us = now_us();
	llhttp_init(&pr->parser, HTTP_RESPONSE, &settings);
	pr->parser.data = pr;
	t->probe = pr;
	pr->deadline = evtimer_new(t->c->base, on_deadline, pr);
	if (pr->deadline == NULL || evtimer_add(pr->deadline, &tv) != 0) {
		finish(pr, 0, "out of memory");
		return;
	}
	if (kept == NULL) {
		dial(pr);
		return;
	}
	t->conn = NULL;
	pr->reused = 1;
	use(pr, kept);
}

void hc_probe_cancel(struct hc_target *t)
{
	if (t->conn != NULL) {
		bufferevent_free(t->conn);
		t->conn = NULL;
	}
	if (t->probe != NULL)
		probe_free(t->probe);
}
