/* daemon/health/probe.c - one probe: a connection of its own (ups_connect()), the request written
 *   at once, the answer read up to its headers (llhttp, paused there), all within timeout_ms of
 *   the start; the body is never read and the connection is closed. */
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

struct hc_probe {
	struct hc_target *t;
	struct ups_dial *dial;          /* the connect in flight, or NULL */
	struct bufferevent *bev;        /* connected: the request out, the answer in */
	struct event *deadline;         /* timeout_ms after the start: connect and status line */
	llhttp_t parser;
	int status;                     /* the final status, once its headers are complete */
	int64_t start_us;
};

static int64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* A 1xx is not the answer: the final status follows it. */
static int on_headers_complete(llhttp_t *p)
{
	struct hc_probe *pr = p->data;
	if (p->status_code < 200)
		return 0;
	pr->status = p->status_code;
	return HPE_PAUSED;
}

static const llhttp_settings_t settings = { .on_headers_complete = on_headers_complete };

/* Frees everything the probe holds, then tells the target (which may start the next one). */
static void finish(struct hc_probe *pr, int ok, const char *why)
{
	struct hc_target *t = pr->t;
	int64_t lat = pr->status != 0 ? now_us() - pr->start_us : -1;
	hc_probe_cancel(t);
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

/* Feeds what came in to the parser, chunk by chunk, until the headers are complete. */
static void on_read(struct bufferevent *bev, void *arg)
{
	struct hc_probe *pr = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	char why[64];
	while (evbuffer_get_length(in) > 0) {
		struct evbuffer_iovec v;
		enum llhttp_errno e;
		evbuffer_peek(in, -1, NULL, &v, 1);
		e = llhttp_execute(&pr->parser, v.iov_base, v.iov_len);
		if (e == HPE_PAUSED && pr->status != 0) {
			verdict(pr);
			return;
		}
		if (e != HPE_OK) {
			snprintf(why, sizeof why, "bad response: %s", llhttp_errno_name(e));
			finish(pr, 0, why);
			return;
		}
		evbuffer_drain(in, v.iov_len);
	}
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	struct hc_probe *pr = arg;
	char why[64];
	(void)bev;
	if (what & BEV_EVENT_EOF)
		snprintf(why, sizeof why, "closed before the status line");
	else
		snprintf(why, sizeof why, "%s: %s", what & BEV_EVENT_READING ? "read" : "write",
			strerror(EVUTIL_SOCKET_ERROR()));
	finish(pr, 0, why);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	finish(arg, 0, "timeout");
}

/* hc.h's request: Connection: close, since a probe's connection serves one request. */
static int send_request(struct hc_probe *pr)
{
	const struct hc_params *p = &pr->t->p;
	return evbuffer_add_printf(bufferevent_get_output(pr->bev),
		"%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n"
		"User-Agent: gaapd-health\r\n\r\n",
		p->method, p->path, p->host) < 0 ? -1 : 0;
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
	pr->bev = bev;
	bufferevent_setcb(bev, on_read, NULL, on_event, pr);
	/* connect.h promises reading enabled, but a socket bufferevent starts with EV_WRITE only */
	if (send_request(pr) != 0 || bufferevent_enable(bev, EV_READ | EV_WRITE) != 0)
		finish(pr, 0, "out of memory");
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

void hc_probe_start(struct hc_target *t)
{
	const struct timeval tv = { t->p.timeout_ms / 1000, (t->p.timeout_ms % 1000) * 1000 };
	struct event_base *base = t->c->base;
	struct hc_probe *pr = calloc(1, sizeof *pr);
	if (pr == NULL) {
		hc_probe_done(t, 0, "out of memory", -1);
		return;
	}
	pr->t = t;
	pr->start_us = now_us();
	llhttp_init(&pr->parser, HTTP_RESPONSE, &settings);
	pr->parser.data = pr;
	t->probe = pr;
	pr->deadline = evtimer_new(base, on_deadline, pr);
	if (pr->deadline == NULL || evtimer_add(pr->deadline, &tv) != 0) {
		finish(pr, 0, "out of memory");
		return;
	}
	/* the connect's own limit too: its socket goes as soon as the connect times out */
	if ((pr->dial = ups_connect(base, t->srv, t->p.timeout_ms, on_dial, pr)) == NULL)
		not_started(pr, errno);
}

void hc_probe_cancel(struct hc_target *t)
{
	struct hc_probe *pr = t->probe;
	if (pr == NULL)
		return;
	t->probe = NULL;
	ups_dial_cancel(pr->dial);
	if (pr->bev != NULL)
		bufferevent_free(pr->bev);
	if (pr->deadline != NULL)
		event_free(pr->deadline);
	free(pr);
}
