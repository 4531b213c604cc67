/* tests/unit/test_px_relay.c - the proxy core for real, in one process: a px_worker on an
 * event_base running in a second thread, listeners on 127.0.0.1:0 whose accept callbacks call
 * px_accept(), and a canned origin served by plain bufferevents on the same base that counts its
 * connections and records what reached it. The test thread is the client, with blocking sockets
 * (receive timeouts, plus alarm()), so nothing can hang. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/queue.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/thread.h>
#include <llhttp.h>

#include "log.h"
#include "proxy/px.h"
#include "upstream/ups.h"

#define BIG_SIZE (2 * 1024 * 1024)
#define SEEN_MAX (256 * 1024)

struct fixture;

/* One proxy listener: which route its connections get. */
struct lsn {
	struct fixture *f;
	struct evconnlistener *lev;
	struct px_route *route;
	int port;
	int small_bufs;             /* tiny kernel buffers on accepted sockets: back-pressure shows */
};

/* One connection accepted by the canned origin. */
struct oconn {
	TAILQ_ENTRY(oconn) link;
	struct fixture *f;
	struct bufferevent *bev;
	llhttp_t p;
	char url[128];
	size_t urllen;
	struct evbuffer *body;      /* the current request's body, decoded */
	size_t count;               /* /sink: body bytes and their sum, not kept */
	unsigned sum;
	struct event *wake;         /* /sink: reading resumes a moment after the head */
	struct event *later;        /* /delay: the response goes out a moment after the request */
	int close_after;            /* close once the response is written */
	int drop_next;              /* /drop-next: the next request gets no answer, only a close */
	int close_now;
};

struct fixture {
	struct event_base *base;
	struct px_worker *w;
	struct lsn main, dead, fast, small, ret, duo, limited, twin;    /* twin: main's origin */
	struct ups_reg *servers;    /* every route's origins, as a daemon's listener table has them */
	struct evconnlistener *origin_lev;
	char alog[64];              /* lst-limited's access log */
	TAILQ_HEAD(, oconn) oconns;
	pthread_t thread;
	atomic_int origin_conns;
	pthread_mutex_t lock;       /* seen, seen_len: the loop thread writes, the test reads */
	char *seen;                 /* every byte the origin received, NUL-terminated */
	size_t seen_len;
	int held[2];                /* bound, never listening: refused ports nobody else can take */
	size_t nheld;
};

/* ---- the canned origin (runs on the loop thread) ---- */

static void oconn_free(struct oconn *o)
{
	TAILQ_REMOVE(&o->f->oconns, o, link);
	bufferevent_free(o->bev);
	evbuffer_free(o->body);
	event_free(o->wake);
	event_free(o->later);
	free(o);
}

static int o_begin(llhttp_t *p)
{
	struct oconn *o = p->data;
	if (o->drop_next)           /* as if it had closed the idle connection a moment earlier */
		o->close_now = 1;
	o->urllen = 0;
	o->url[0] = '\0';
	o->count = 0;
	o->sum = 0;
	return evbuffer_drain(o->body, evbuffer_get_length(o->body));
}

static int o_url(llhttp_t *p, const char *at, size_t len)
{
	struct oconn *o = p->data;
	if (o->urllen + len >= sizeof o->url)
		return -1;
	memcpy(o->url + o->urllen, at, len);
	o->urllen += len;
	o->url[o->urllen] = '\0';
	return 0;
}

static int o_headers(llhttp_t *p)
{
	struct oconn *o = p->data;
	struct timeval tv = { .tv_usec = 300000 };
	if (strcmp(o->url, "/continue") == 0)
		evbuffer_add_printf(bufferevent_get_output(o->bev), "HTTP/1.1 100 Continue\r\n\r\n");
	if (strcmp(o->url, "/sink") == 0) {     /* a slow origin: the proxy must stop reading */
		bufferevent_disable(o->bev, EV_READ);
		evtimer_add(o->wake, &tv);
	}
	return 0;
}

static void origin_wake(evutil_socket_t fd, short what, void *arg)
{
	struct oconn *o = arg;
	(void)fd;
	(void)what;
	bufferevent_enable(o->bev, EV_READ);
}

static void origin_later(evutil_socket_t fd, short what, void *arg)
{
	struct oconn *o = arg;
	(void)fd;
	(void)what;
	evbuffer_add_printf(bufferevent_get_output(o->bev),
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nlater");
}

static int o_body(llhttp_t *p, const char *at, size_t len)
{
	struct oconn *o = p->data;
	if (strcmp(o->url, "/sink") != 0)
		return evbuffer_add(o->body, at, len);
	for (size_t i = 0; i < len; i++)
		o->sum += (unsigned char)at[i];
	o->count += len;
	return 0;
}

static void respond_big(struct evbuffer *out)
{
	char *b = malloc(BIG_SIZE);
	assert_non_null(b);
	for (size_t i = 0; i < BIG_SIZE; i++)
		b[i] = (char)('a' + i % 26);
	evbuffer_add_printf(out, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", BIG_SIZE);
	evbuffer_add(out, b, BIG_SIZE);
	free(b);
}

static const struct {
	const char *url;
	const char *text;
	int close_after;
} canned[] = {
	{ "/cl", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Test: a\r\n\r\nhello", 0 },
	{ "/chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
		"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", 0 },
	{ "/close", "HTTP/1.1 200 OK\r\nX-Test: c\r\n\r\nbye-bye", 1 },
	{ "/204", "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n", 0 },
	{ "/304", "HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n", 0 },
	{ "/continue", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 0 },
	{ "/bad", "HTTP/1.1 200 OK\r\nContent-Length: nope\r\n\r\n", 0 },
	{ "/101", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: upgrade\r\n\r\n", 0 },
	{ "/truncate", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", 1 },
	{ "/slow", "", 0 },
	{ "/trailers", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n"
		"2\r\nhi\r\n0\r\nX-Sum: 42 \r\nSet-Cookie: no\r\n\r\n", 0 },
	{ "/drop-next", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 0 },
	{ "/te-gzip", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nabc", 1 },
	{ "/te-chunked-gzip", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"
		"3\r\nabc\r\n0\r\n\r\n", 0 },
	{ "/te-twice", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
		"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 0 },
	{ "/cl-te", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
		"0\r\n\r\n", 0 },
	{ "/dup-cl", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc", 0 },
	{ "/bare-lf", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\nabc", 0 },
	{ "/fold", "HTTP/1.1 200 OK\r\nX: a\r\n b\r\nContent-Length: 3\r\n\r\nabc", 0 },
	{ "/fold-colon", "HTTP/1.1 200 OK\r\nX:\r\n b\r\nContent-Length: 3\r\n\r\nabc", 0 },
	{ "/http2", "HTTP/2.0 200 OK\r\nContent-Length: 3\r\n\r\nabc", 0 },
	{ "/status99", "HTTP/1.1 099 Odd\r\nContent-Length: 0\r\n\r\n", 0 },
	{ "/bad-chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3x\r\nabc\r\n0\r\n\r\n", 0 },
	{ "/empty-name", "HTTP/1.1 200 OK\r\n: x\r\nContent-Length: 0\r\n\r\n", 0 },
	{ "/nul", "HTTP/1.1 200 OK\r\nX: a\001b\r\nContent-Length: 0\r\n\r\n", 0 },
};

static int o_done(llhttp_t *p)
{
	struct oconn *o = p->data;
	struct evbuffer *out = bufferevent_get_output(o->bev);
	size_t n = evbuffer_get_length(o->body);
	int head = p->method == HTTP_HEAD;
	if (o->close_now)
		return 0;
	if (strcmp(o->url, "/echo") == 0) {
		evbuffer_add_printf(out, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", n);
		evbuffer_add_buffer(out, o->body);
		return 0;
	}
	if (strcmp(o->url, "/sink") == 0) {
		char t[64];
		int k = snprintf(t, sizeof t, "%zu %u", o->count, o->sum);
		evbuffer_add_printf(out, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", k, t);
		return 0;
	}
	if (strcmp(o->url, "/delay") == 0) {
		struct timeval tv = { .tv_usec = 200000 };
		evtimer_add(o->later, &tv);
		return 0;
	}
	if (strcmp(o->url, "/big") == 0) {
		respond_big(out);
		return 0;
	}
	if (strcmp(o->url, "/hugehead") == 0) {     /* past the route's response head limit */
		evbuffer_add_printf(out, "HTTP/1.1 200 OK\r\nX: ");
		for (int i = 0; i < 5000; i++)
			evbuffer_add(out, "x", 1);
		evbuffer_add_printf(out, "\r\nContent-Length: 0\r\n\r\n");
		return 0;
	}
	for (size_t i = 0; i < sizeof canned / sizeof canned[0]; i++) {
		if (strcmp(o->url, canned[i].url) != 0)
			continue;
		/* HEAD: the same head, no body (only /cl is asked that way) */
		evbuffer_add(out, canned[i].text, strlen(canned[i].text) - (head ? 5 : 0));
		o->close_after = canned[i].close_after;
		o->drop_next = strcmp(o->url, "/drop-next") == 0;
		return 0;
	}
	evbuffer_add_printf(out, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
	return 0;
}

static const llhttp_settings_t origin_settings = {
	.on_message_begin = o_begin,
	.on_url = o_url,
	.on_headers_complete = o_headers,
	.on_body = o_body,
	.on_message_complete = o_done,
};

static void record(struct fixture *f, struct evbuffer *in)
{
	size_t n = evbuffer_get_length(in);
	pthread_mutex_lock(&f->lock);
	if (n > SEEN_MAX - 1 - f->seen_len)
		n = SEEN_MAX - 1 - f->seen_len;
	evbuffer_copyout(in, f->seen + f->seen_len, n);
	f->seen_len += n;
	f->seen[f->seen_len] = '\0';
	pthread_mutex_unlock(&f->lock);
}

static void origin_read(struct bufferevent *bev, void *arg)
{
	struct oconn *o = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t n = evbuffer_get_length(in);
	enum llhttp_errno err;
	record(o->f, in);
	err = llhttp_execute(&o->p, (const char *)evbuffer_pullup(in, -1), n);
	evbuffer_drain(in, n);
	if (o->close_now) {
		oconn_free(o);
		return;
	}
	if (err != HPE_OK) {
		fprintf(stderr, "origin: bad request: %s\n", llhttp_errno_name(err));
		oconn_free(o);
	}
}

static void origin_write(struct bufferevent *bev, void *arg)
{
	struct oconn *o = arg;
	(void)bev;
	if (o->close_after)
		oconn_free(o);
}

static void origin_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	(void)what;
	oconn_free(arg);
}

static void origin_accept(struct evconnlistener *lev, evutil_socket_t fd, struct sockaddr *sa,
	int salen, void *arg)
{
	struct fixture *f = arg;
	struct oconn *o = calloc(1, sizeof *o);
	int n = 65536;              /* so a paused origin pushes back on the proxy soon */
	(void)lev;
	(void)sa;
	(void)salen;
	assert_non_null(o);
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &n, sizeof n);
	o->f = f;
	o->body = evbuffer_new();
	o->wake = evtimer_new(f->base, origin_wake, o);
	o->later = evtimer_new(f->base, origin_later, o);
	o->bev = bufferevent_socket_new(f->base, fd, BEV_OPT_CLOSE_ON_FREE);
	llhttp_init(&o->p, HTTP_REQUEST, &origin_settings);
	o->p.data = o;
	bufferevent_setcb(o->bev, origin_read, origin_write, origin_event, o);
	bufferevent_enable(o->bev, EV_READ | EV_WRITE);
	TAILQ_INSERT_TAIL(&f->oconns, o, link);
	atomic_fetch_add(&f->origin_conns, 1);
}

/* ---- the proxy side ---- */

static void proxy_accept(struct evconnlistener *lev, evutil_socket_t fd, struct sockaddr *sa,
	int salen, void *arg)
{
	struct lsn *l = arg;
	int n = 65536;              /* small, yet not so small that delayed ACKs stall the flow */
	(void)lev;
	if (l->small_bufs) {
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &n, sizeof n);
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &n, sizeof n);
	}
	px_accept(l->f->w, fd, sa, (socklen_t)salen, l->route);
}

static struct evconnlistener *listen_on(struct fixture *f, evconnlistener_cb cb, void *arg,
	int *port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof sin;
	struct evconnlistener *lev = evconnlistener_new_bind(f->base, cb, arg,
		LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 64, (struct sockaddr *)&sin, sizeof sin);
	assert_non_null(lev);
	assert_int_equal(getsockname(evconnlistener_get_fd(lev), (struct sockaddr *)&sin, &len), 0);
	*port = ntohs(sin.sin_port);
	return lev;
}

static struct cfg_addr loopback(int port)
{
	struct cfg_addr a = { .len = sizeof(struct sockaddr_in) };
	struct sockaddr_in *sin = (struct sockaddr_in *)&a.sa;
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin->sin_port = htons((uint16_t)port);
	snprintf(a.text, sizeof a.text, "127.0.0.1:%d", port);
	return a;
}

/* A port nothing listens on: bound, then closed. */
/* A port that refuses connections for the whole run: bound and never listening. A port merely
 * closed again could be taken by another test's server running in parallel, which would then
 * answer for the "dead" origin. */
static int closed_port(struct fixture *f)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof sin;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof sin), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	assert_true(f->nheld < sizeof(f->held) / sizeof(f->held[0]));
	f->held[f->nheld++] = fd;
	return ntohs(sin.sin_port);
}

static void add_listener_n(struct fixture *f, struct lsn *l, const char *id,
	const int *origin_ports, size_t n, const struct cfg_http *http)
{
	struct cfg_addr a[4];
	struct cfg_proxy p = { .origins = a, .norigins = n, .scheduler = CFG_SCHED_RR };
	for (size_t i = 0; i < n; i++)
		a[i] = loopback(origin_ports[i]);
	l->f = f;
	l->route = px_route_create(id, &p, http, NULL, f->servers);
	assert_non_null(l->route);
	l->lev = listen_on(f, proxy_accept, l, &l->port);
}

static void add_listener(struct fixture *f, struct lsn *l, const char *id, int origin_port,
	const struct cfg_http *http)
{
	add_listener_n(f, l, id, &origin_port, 1, http);
}

static void *loop_main(void *arg)
{
	struct fixture *f = arg;
	event_base_dispatch(f->base);
	return NULL;
}

static int setup(void **state)
{
	const struct cfg_http normal = {
		.client_header_timeout_ms = 5000, .client_keepalive_timeout_ms = 5000,
		.origin_connect_timeout_ms = 2000, .origin_response_timeout_ms = 5000,
		.max_header_size = 4096, .drain_timeout_ms = 5000, .client_send_timeout_ms = 10000,
		.linger_timeout_ms = 1000, .origin_keepalive = 8, .origin_keepalive_timeout_ms = 5000,
		.origin_max_fails = 1, .origin_fail_timeout_ms = 200, .max_request_line = 1024,
		.max_headers = 20, .max_response_header_size = 4096, .max_body_size = 16 << 20,
	};
	const struct cfg_http fast = {
		.client_header_timeout_ms = 300, .client_keepalive_timeout_ms = 300,
		.origin_connect_timeout_ms = 300, .origin_response_timeout_ms = 300,
		.max_header_size = 4096, .drain_timeout_ms = 300, .client_send_timeout_ms = 300,
		.linger_timeout_ms = 300, .origin_keepalive = 8, .origin_keepalive_timeout_ms = 300,
		.origin_max_fails = 0, .max_body_size = 100,
	};
	struct fixture *f = calloc(1, sizeof *f);
	struct cfg_http limited = normal;
	int origin_port, duo[2];
	assert_non_null(f);
	assert_non_null(f->seen = calloc(1, SEEN_MAX));
	pthread_mutex_init(&f->lock, NULL);
	TAILQ_INIT(&f->oconns);
	assert_int_equal(evthread_use_pthreads(), 0);
	assert_non_null(f->base = event_base_new());
	assert_non_null(f->w = px_worker_new(f->base));
	assert_non_null(f->servers = ups_reg_new());
	f->origin_lev = listen_on(f, origin_accept, f, &origin_port);
	add_listener(f, &f->main, "lst-main", origin_port, &normal);
	add_listener(f, &f->dead, "lst-dead", closed_port(f), &normal);
	add_listener(f, &f->fast, "lst-fast", origin_port, &fast);
	add_listener(f, &f->small, "lst-small", origin_port, &normal);
	f->small.small_bufs = 1;
	add_listener(f, &f->ret, "lst-retire", origin_port, &normal);
	duo[0] = closed_port(f);
	duo[1] = origin_port;
	add_listener_n(f, &f->duo, "lst-duo", duo, 2, &normal);
	snprintf(f->alog, sizeof f->alog, "/tmp/test_px_relay_%ld.log", (long)getpid());
	limited.access_log = f->alog;
	limited.max_connections_per_listener = 1;
	add_listener(f, &f->limited, "lst-limited", origin_port, &limited);
	add_listener(f, &f->twin, "lst-twin", origin_port, &normal);
	f->fast.small_bufs = 1;
	assert_int_equal(pthread_create(&f->thread, NULL, loop_main, f), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	struct oconn *o;
	event_base_loopbreak(f->base);
	pthread_join(f->thread, NULL);
	px_worker_destroy(f->w);
	while ((o = TAILQ_FIRST(&f->oconns)) != NULL)
		oconn_free(o);
	/* a bufferevent freed with a deferred callback pending goes away when the loop runs it */
	event_base_loop(f->base, EVLOOP_NONBLOCK);
	evconnlistener_free(f->origin_lev);
	for (struct lsn *l = &f->main; l <= &f->twin; l++) {
		evconnlistener_free(l->lev);
		px_route_unref(l->route);
	}
	ups_reg_unref(f->servers);
	event_base_free(f->base);
	pthread_mutex_destroy(&f->lock);
	unlink(f->alog);
	for (size_t i = 0; i < f->nheld; i++)
		close(f->held[i]);
	free(f->seen);
	free(f);
	libevent_global_shutdown();
	return 0;
}

/* ---- the client (the test thread): blocking sockets, responses parsed with llhttp ---- */

struct resp {
	int status;
	char head[2048];            /* "name: value\n" per header */
	size_t hlen;
	char *body;
	size_t blen;
	int complete;
};

struct client {
	int fd;
	llhttp_t p;
	char buf[16384];            /* received, not yet parsed */
	size_t len;
	struct resp *r;
	int head;                   /* the request was HEAD */
};

static void resp_add(struct resp *r, const char *at, size_t len)
{
	if (r->hlen + len < sizeof r->head) {
		memcpy(r->head + r->hlen, at, len);
		r->hlen += len;
		r->head[r->hlen] = '\0';
	}
}

static int c_field(llhttp_t *p, const char *at, size_t len)
{
	resp_add(((struct client *)p->data)->r, at, len);
	return 0;
}

static int c_field_done(llhttp_t *p)
{
	resp_add(((struct client *)p->data)->r, ": ", 2);
	return 0;
}

static int c_value_done(llhttp_t *p)
{
	resp_add(((struct client *)p->data)->r, "\n", 1);
	return 0;
}

static int c_headers(llhttp_t *p)
{
	struct client *c = p->data;
	int s = p->status_code;
	c->r->status = s;
	return c->head || s < 200 || s == 204 || s == 304 ? 1 : 0;
}

static int c_body(llhttp_t *p, const char *at, size_t len)
{
	struct resp *r = ((struct client *)p->data)->r;
	char *b = realloc(r->body, r->blen + len + 1);
	assert_non_null(b);
	memcpy(b + r->blen, at, len);
	r->body = b;
	r->blen += len;
	b[r->blen] = '\0';
	return 0;
}

static int c_done(llhttp_t *p)
{
	((struct client *)p->data)->r->complete = 1;
	return HPE_PAUSED;
}

static const llhttp_settings_t client_settings = {
	.on_header_field = c_field,
	.on_header_field_complete = c_field_done,
	.on_header_value = c_field,
	.on_header_value_complete = c_value_done,
	.on_headers_complete = c_headers,
	.on_body = c_body,
	.on_message_complete = c_done,
};

static struct client *client_new(int port, int rcvbuf)
{
	struct client *c = calloc(1, sizeof *c);
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
		.sin_port = htons((uint16_t)port) };
	struct timeval tv = { .tv_sec = 10 };
	assert_non_null(c);
	c->fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(c->fd >= 0);
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	if (rcvbuf != 0)
		setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
	assert_int_equal(connect(c->fd, (struct sockaddr *)&sin, sizeof sin), 0);
	llhttp_init(&c->p, HTTP_RESPONSE, &client_settings);
	c->p.data = c;
	return c;
}

static void client_free(struct client *c)
{
	close(c->fd);
	free(c);
}

static void client_send(struct client *c, const char *s, size_t n)
{
	while (n > 0) {
		ssize_t k = send(c->fd, s, n, 0);
		assert_true(k > 0);
		s += k;
		n -= (size_t)k;
	}
}

static void client_say(struct client *c, const char *s)
{
	client_send(c, s, strlen(s));
}

/* Parses what is buffered; 1 when a response completed. */
static int client_parse(struct client *c)
{
	enum llhttp_errno err = llhttp_execute(&c->p, c->buf, c->len);
	size_t used = err == HPE_OK ? c->len : (size_t)(llhttp_get_error_pos(&c->p) - c->buf);
	memmove(c->buf, c->buf + used, c->len - used);
	c->len -= used;
	if (err == HPE_PAUSED) {
		llhttp_resume(&c->p);
		return 1;
	}
	return err == HPE_OK ? 0 : -1;
}

/* Reads one response (or up to EOF/error/timeout: then r->complete stays 0). */
static void client_read(struct client *c, struct resp *r, int head)
{
	memset(r, 0, sizeof *r);
	c->r = r;
	c->head = head;
	for (;;) {
		ssize_t n;
		if (c->len > 0 && client_parse(c) != 0)
			return;
		n = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len, 0);
		if (n <= 0) {
			if (n == 0)
				llhttp_finish(&c->p);   /* completes a body that ends at EOF */
			return;
		}
		c->len += (size_t)n;
	}
}

static void resp_free(struct resp *r)
{
	free(r->body);
	r->body = NULL;
}

/* The proxy closed the connection, with nothing more sent. */
static void expect_eof(struct client *c)
{
	char b[64];
	assert_int_equal(c->len, 0);
	assert_int_equal(recv(c->fd, b, sizeof b, 0), 0);
}

static void expect_response(struct client *c, int head, int status, const char *body)
{
	struct resp r;
	client_read(c, &r, head);
	assert_true(r.complete);
	assert_int_equal(r.status, status);
	if (body != NULL)
		assert_string_equal(r.body != NULL ? r.body : "", body);
	resp_free(&r);
}

static void expect_error(struct fixture *f, int port, const char *req, int status)
{
	struct client *c = client_new(port, 0);
	(void)f;
	client_say(c, req);
	expect_response(c, 0, status, NULL);
	expect_eof(c);
	client_free(c);
}

static size_t seen_len(struct fixture *f)
{
	size_t n;
	pthread_mutex_lock(&f->lock);
	n = f->seen_len;
	pthread_mutex_unlock(&f->lock);
	return n;
}

static int seen_has(struct fixture *f, const char *s)
{
	int yes;
	pthread_mutex_lock(&f->lock);
	yes = strstr(f->seen, s) != NULL;
	pthread_mutex_unlock(&f->lock);
	return yes;
}

/* ---- the tests ---- */

static void test_get_content_length_exact(void **state)
{
	struct fixture *f = *state;
	struct client *c = client_new(f->main.port, 0);
	const char *want = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Test: a\r\n\r\nhello";
	char got[128] = "";
	size_t n = 0;
	client_say(c, "GET /cl HTTP/1.1\r\nHost: t\r\nConnection: keep-alive, X-Hop\r\n"
		"X-Hop: 1\r\nX-Forwarded-For: 192.0.2.1\r\n\r\n");
	while (n < strlen(want)) {
		ssize_t k = recv(c->fd, got + n, strlen(want) - n, 0);
		assert_true(k > 0);
		n += (size_t)k;
	}
	assert_string_equal(got, want);
	assert_true(seen_has(f, "GET /cl HTTP/1.1\r\nHost: t\r\n"
		"X-Forwarded-For: 192.0.2.1, 127.0.0.1\r\nX-Real-IP: 127.0.0.1\r\n\r\n"));
	client_free(c);
}

static void test_post_bodies(void **state)
{
	struct fixture *f = *state;
	struct client *c = client_new(f->main.port, 0);
	client_say(c, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\nhello world");
	expect_response(c, 0, 200, "hello world");
	client_say(c, "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel");
	usleep(20000);              /* a nudge for a second read, not a timing assertion */
	client_say(c, "lo\r\n6;x=y\r\n world\r\n0\r\nX-Trailer: t\r\nContent-Length: 9\r\n"
		"Connection: x\r\n\r\n");        /* framing fields are no trailers to forward */
	expect_response(c, 0, 200, "hello world");
	assert_true(seen_has(f, "Transfer-Encoding: chunked\r\n\r\n"
		"5\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n"));  /* trailer kept */
	client_free(c);
}

static void test_chunked_response(void **state)
{
	struct fixture *f = *state;
	struct client *c = client_new(f->main.port, 0);
	struct resp r;
	client_say(c, "GET /chunked HTTP/1.1\r\nHost: t\r\n\r\n");
	client_read(c, &r, 0);
	assert_true(r.complete);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "hello world");
	assert_string_equal(r.head, "Transfer-Encoding: chunked\n");
	resp_free(&r);
	client_free(c);
}

static void test_response_trailers(void **state)
{
	struct fixture *f = *state;
	struct client *c = client_new(f->main.port, 0);
	struct resp r;
	client_say(c, "GET /trailers HTTP/1.1\r\nHost: t\r\n\r\n");
	client_read(c, &r, 0);
	assert_true(r.complete);
	assert_string_equal(r.body, "hi");
	assert_non_null(strstr(r.head, "X-Sum: 42\n"));     /* the client's parser adds trailers */
	assert_null(strstr(r.head, "Set-Cookie"));
	assert_null(strstr(r.head, "Trailer:"));            /* hop-by-hop */
	resp_free(&r);
	client_free(c);
}

static void test_keepalive_reuses_origin(void **state)
{
	struct fixture *f = *state;
	struct client *c = client_new(f->main.port, 0);
	int before = atomic_load(&f->origin_conns);
	client_say(c, "GET /cl HTTP/1.1\r\nHost: t\r\n\r\n");
	expect_response(c, 0, 200, "hello");
	client_say(c, "GET /cl HTTP/1.1\r\nHost: t\r\n\r\n");
	expect_response(c, 0, 200, "hello");
	assert_true(atomic_load(&f->origin_conns) <= before + 1);    /* pooled: maybe none new */
	client_free(c);
}

static void test_pipelined_in_order(void **state)
{
	struct fixture *f = *state;
	struct client *c = client_new(f->main.port, 0);
	int before = atomic_load(&f->origin_conns);
	client_say(c, "GET /cl HTTP/1.1\r\nHost: t\r\n\r\nGET /chunked HTTP/1.1\r\nHost: t\r\n\r\n"
		"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc"
		"GET /cl HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
	expect_response(c, 0, 200, "hello");
	expect_response(c, 0, 200, "hello world");
	expect_response(c, 0, 200, "abc");
	expect_response(c, 0, 200, "hello");
	expect_eof(c);
	assert_true(atomic_load(&f->origin_conns) <= before + 1);    /* pooled: maybe none new */
	client_free(c);
}

static void test_origin_down_502(void **state)
{
	struct fixture *f = *state;
	expect_error(f, f->dead.port, "GET / HTTP/1.1\r\nHost: t\r\n\r\n", 502);
}

static void test_smuggling_400_origin_untouched(void **state)
{
	struct fixture *f = *state;
	int conns = atomic_load(&f->origin_conns);
	size_t seen = seen_len(f);
	expect_error(f, f->main.port, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n"
		"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 400);
	expect_error(f, f->main.port, "GET / HTTP/1.1\r\nHost: t\r\nX: a\r\n b\r\n\r\n", 400);
	expect_error(f, f->main.port, "GET / HTTP/2.0\r\nHost: t\r\n\r\n", 400);
	expect_error(f, f->main.port, "GET / HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\n\r\n",
		400);   /* WebSocket without Connection: upgrade */
	expect_error(f, f->main.port, "CONNECT t:443 HTTP/1.1\r\nHost: t:443\r\n\r\n", 400);
	assert_int_equal(atomic_load(&f->origin_conns), conns);
	assert_int_equal(seen_len(f), seen);
}

static void test_header_too_large_431(void **state)
{
	struct fixture *f = *state;
	char req[6000];
	memset(req, 'a', sizeof req);
	memcpy(req, "GET / HTTP/1.1\r\nX: ", 19);
	memcpy(req + sizeof req - 5, "\r\n\r\n", 5);
	expect_error(f, f->main.port, req, 431);
}

static void test_bodiless_no_desync(void **state)
{
	struct fixture *f = *state;
	struct client *c = client_new(f->main.port, 0);
	int before = atomic_load(&f->origin_conns);
	struct resp r;
	client_say(c, "HEAD /cl HTTP/1.1\r\nHost: t\r\n\r\n");
	client_read(c, &r, 1);
	assert_true(r.complete);
	assert_int_equal(r.status, 200);
	assert_null(r.body);
	assert_non_null(strstr(r.head, "Content-Length: 5\n"));
	client_say(c, "GET /204 HTTP/1.1\r\nHost: t\r\n\r\nGET /304 HTTP/1.1\r\nHost: t\r\n\r\n"
		"GET /cl HTTP/1.1\r\nHost: t\r\n\r\n");
	expect_response(c, 0, 204, "");
	expect_response(c, 0, 304, "");
	expect_response(c, 0, 200, "hello");
	assert_true(atomic_load(&f->origin_conns) <= before + 1);    /* pooled: maybe none new */
	client_free(c);
}

static void test_read_until_close(void **state)
{
	struct fixture *f = *state;
	struct client *c = client_new(f->main.port, 0);
	struct resp r;
	client_say(c, "GET /close HTTP/1.1\r\nHost: t\r\n\r\n");
	client_read(c, &r, 0);
	assert_true(r.complete);
	assert_string_equal(r.body, "bye-bye");
	assert_non_null(strstr(r.head, "Transfer-Encoding: chunked\n"));    /* kept alive */
	resp_free(&r);
	client_say(c, "GET /cl HTTP/1.1\r\nHost: t\r\n\r\n");
	expect_response(c, 0, 200, "hello");
	client_free(c);
	c = client_new(f->main.port, 0);
	client_say(c, "GET /close HTTP/1.0\r\n\r\n");
	client_read(c, &r, 0);
	assert_true(r.complete);
	assert_string_equal(r.body, "bye-bye");
	assert_non_null(strstr(r.head, "Connection: close\n"));
	resp_free(&r);
	client_free(c);
}

static void test_origin_misbehaves(void **state)
{
	struct fixture *f = *state;
	struct client *c;
	struct resp r;
	expect_error(f, f->main.port, "GET /bad HTTP/1.1\r\nHost: t\r\n\r\n", 502);
	expect_error(f, f->main.port, "GET /101 HTTP/1.1\r\nHost: t\r\n\r\n", 502);
	c = client_new(f->main.port, 0);
	client_say(c, "GET /truncate HTTP/1.1\r\nHost: t\r\n\r\n");
	client_read(c, &r, 0);
	assert_false(r.complete);   /* the head and 3 of 10 bytes, then our close */
	assert_int_equal(r.status, 200);
	resp_free(&r);
	client_free(c);
}

static void test_timeouts(void **state)
{
	struct fixture *f = *state;
	struct client *c;
	expect_error(f, f->fast.port, "GET /slow HTTP/1.1\r\nHost: t\r\n\r\n", 504);
	expect_error(f, f->fast.port, "GET /cl HTTP/1.1\r\nHost", 408);
	expect_error(f, f->fast.port, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n"
		"abc", 408);      /* a body that stalls */
	c = client_new(f->fast.port, 0);
	client_say(c, "GET /cl HTTP/1.1\r\nHost: t\r\n\r\n");
	expect_response(c, 0, 200, "hello");
	expect_eof(c);              /* the keep-alive idle timeout: closed silently */
	client_free(c);
}

static void test_continue(void **state)
{
	struct fixture *f = *state;
	struct client *c = client_new(f->main.port, 0);
	client_say(c, "POST /continue HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n"
		"Content-Length: 2\r\n\r\n");
	expect_response(c, 0, 100, "");
	client_say(c, "hi");
	expect_response(c, 0, 200, "ok");
	client_free(c);
}

/* Both directions past every buffer on the way: the proxy must stop reading one side while the
 * other is full, and lose nothing. */
static void test_large_bodies_stream(void **state)
{
	struct fixture *f = *state;
	struct client *c = client_new(f->small.port, 65536);
	size_t up = 8 * 1024 * 1024;
	unsigned sum = 0;
	char *body = malloc(up), want[64];
	struct resp r;
	assert_non_null(body);
	client_say(c, "GET /big HTTP/1.1\r\nHost: t\r\n\r\n");
	usleep(100000);             /* let the proxy's output fill up first */
	client_read(c, &r, 0);
	assert_true(r.complete);
	assert_int_equal(r.blen, BIG_SIZE);
	for (size_t i = 0; i < r.blen; i++)
		if (r.body[i] != (char)('a' + i % 26))
			fail_msg("byte %zu differs", i);
	resp_free(&r);
	for (size_t i = 0; i < up; i++) {
		body[i] = (char)('A' + i % 23);
		sum += (unsigned char)body[i];
	}
	dprintf(c->fd, "POST /sink HTTP/1.1\r\nHost: t\r\nContent-Length: %zu\r\n\r\n", up);
	client_send(c, body, up);
	snprintf(want, sizeof want, "%zu %u", up, sum);
	expect_response(c, 0, 200, want);
	client_say(c, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nend");
	expect_response(c, 0, 200, "end");
	free(body);
	client_free(c);
}

static void retire_now(evutil_socket_t fd, short what, void *arg)
{
	struct fixture *f = arg;
	(void)fd;
	(void)what;
	px_worker_retire(f->w, f->ret.route, 1000);
}

/* Forgets what the origin saw (it keeps only the first SEEN_MAX bytes). */
static void seen_reset(struct fixture *f)
{
	pthread_mutex_lock(&f->lock);
	f->seen_len = 0;
	f->seen[0] = '\0';
	pthread_mutex_unlock(&f->lock);
}

static void wait_seen(struct fixture *f, const char *s)
{
	for (int i = 0; i < 500 && !seen_has(f, s); i++)
		usleep(10000);
	assert_true(seen_has(f, s));
}

/* A deleted listener: the idle connection closes at once, the exchange in flight finishes with
 * Connection: close (a pipelined request behind it is not served), and one whose origin never
 * answers is closed at the drain deadline, long before its 5 s response timeout. */
static void test_retire(void **state)
{
	struct fixture *f = *state;
	struct client *idle = client_new(f->ret.port, 0), *busy = client_new(f->ret.port, 0);
	struct client *stuck = client_new(f->ret.port, 0);
	struct resp r;
	seen_reset(f);
	client_say(idle, "GET /cl HTTP/1.1\r\nHost: t\r\n\r\n");
	expect_response(idle, 0, 200, "hello");
	client_say(busy, "GET /delay HTTP/1.1\r\nHost: t\r\n\r\n"
		"GET /cl HTTP/1.1\r\nHost: t\r\nX-Pipelined: 1\r\n\r\n");
	client_say(stuck, "GET /slow HTTP/1.1\r\nHost: t\r\n\r\n");
	wait_seen(f, "GET /delay ");
	wait_seen(f, "GET /slow ");
	assert_int_equal(event_base_once(f->base, -1, EV_TIMEOUT, retire_now, f,
		&(struct timeval){ 0, 0 }), 0);
	expect_eof(idle);
	client_read(busy, &r, 0);
	assert_true(r.complete);
	assert_string_equal(r.body, "later");
	assert_non_null(strstr(r.head, "Connection: close\n"));
	resp_free(&r);
	expect_eof(busy);
	client_read(stuck, &r, 0);
	assert_false(r.complete);
	assert_int_equal(r.status, 0);
	resp_free(&r);
	assert_false(seen_has(f, "X-Pipelined"));
	client_free(idle);
	client_free(busy);
	client_free(stuck);
}

/* Everything strict llhttp refuses and everything it lets through that gaapd refuses: 400 and
 * close, and not one byte for the origin (what was queued for it is dropped with it). */
static const char *const ambiguous[] = {
	"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
		"3\r\nabc\r\n0\r\n\r\n",
	"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"
		"3\r\nabc\r\n0\r\n\r\n",
	"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
	"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n",
	"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked"
		"\r\n\r\n0\r\n\r\n",
	"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n",
	"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding:\r\n\r\n",
	"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: identity\r\nContent-Length: 3\r\n\r\nabc",
	"POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
	"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
	"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
	"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3, 3\r\n\r\nabc",
	"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: +3\r\n\r\nabc",
	"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: -1\r\n\r\n",
	"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1 2\r\n\r\nabc",
	"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 0x3\r\n\r\nabc",
	"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length:\r\n\r\n",
	"GET / HTTP/1.1\nHost: t\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: t\nX: y\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: t\r\n\n",
	"GET / HTTP/1.1\r\nHost: t\r\nX: a\rb\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: t\r\nX: a\001b\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: t\r\nX: a\177b\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: t\r\nX: a\r\n b\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: t\r\nX:\r\n b\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: t\r\nX: \r\n\tb\r\n\r\n",
	"GET / HTTP/1.1\r\n Host: t\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: t\r\n: x\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: t\r\nX : y\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: t\r\nX(y): z\r\n\r\n",
	"GET / HTTP/1.1\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
	"GET / HTTP/2.0\r\nHost: t\r\n\r\n",
	"GET / HTTP/0.9\r\nHost: t\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: t\r\nConnection: upgrade\r\nUpgrade: websocket\r\n"
		"Content-Length: 0\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: t\r\nConnection: upgrade\r\nUpgrade: websocket\r\n"
		"Content-Length: 2\r\n\r\nab",
	"GET / HTTP/1.1\r\nHost: t\r\nConnection: upgrade\r\nUpgrade: websocket\r\n"
		"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
	"GET / HTTP/1.0\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n",
	"CONNECT t:443 HTTP/1.1\r\nHost: t:443\r\n\r\n",
	"GET /a\001 HTTP/1.1\r\nHost: t\r\n\r\n",
	"GET /a b HTTP/1.1\r\nHost: t\r\n\r\n",
	"get / HTTP/1.1\r\nHost: t\r\n\r\n",
	"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n\r\n",
	"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0x3\r\nabc\r\n0\r\n\r\n",
	"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3 \r\nabc\r\n0\r\n\r\n",
	"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
		"fffffffffffffffff1\r\nabc\r\n0\r\n\r\n",
	"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n\r\nabc\r\n0\r\n\r\n",
	"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n",
	"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n0\r\n\r\n",
	"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3;a\001\r\nabc\r\n0\r\n\r\n",
};

static void test_ambiguous_requests_400(void **state)
{
	static const char nul[] = "GET / HTTP/1.1\r\nHost: t\r\nX: a\0b\r\n\r\n";
	struct fixture *f = *state;
	size_t seen = seen_len(f);
	struct client *c;
	for (size_t i = 0; i < sizeof ambiguous / sizeof ambiguous[0]; i++) {
		print_message("ambiguous[%zu]\n", i);
		expect_error(f, f->main.port, ambiguous[i], 400);
	}
	c = client_new(f->main.port, 0);
	client_send(c, nul, sizeof nul - 1);
	expect_response(c, 0, 400, NULL);
	expect_eof(c);
	client_free(c);
	assert_int_equal(seen_len(f), seen);
	c = client_new(f->main.port, 0);     /* the origin side is none the worse */
	client_say(c, "GET /cl HTTP/1.1\r\nHost: t\r\n\r\n");
	expect_response(c, 0, 200, "hello");
	client_free(c);
}

static void test_limits(void **state)
{
	struct fixture *f = *state;
	char req[2048];
	size_t seen = seen_len(f);
	int n = snprintf(req, sizeof req, "GET /%01100d HTTP/1.1\r\nHost: t\r\n\r\n", 0);
	assert_true(n > 1100);
	expect_error(f, f->main.port, req, 414);
	n = snprintf(req, sizeof req, "GET / HTTP/1.1\r\nHost: t\r\n");
	for (int i = 0; i < 25; i++)
		n += snprintf(req + n, sizeof req - (size_t)n, "X-%d: v\r\n", i);
	snprintf(req + n, sizeof req - (size_t)n, "\r\n");
	expect_error(f, f->main.port, req, 431);
	expect_error(f, f->fast.port, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 101\r\n\r\n",
		413);
	assert_int_equal(seen_len(f), seen);
	expect_error(f, f->fast.port, "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked"
		"\r\n\r\n40\r\n" "0123456789012345678901234567890123456789012345678901234567890123"
		"\r\n40\r\n" "0123456789012345678901234567890123456789012345678901234567890123"
		"\r\n0\r\n\r\n", 413);
	n = snprintf(req, sizeof req, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n"
		"%0100d", 7);
	struct client *c = client_new(f->fast.port, 0);
	client_say(c, req);
	expect_response(c, 0, 200, req + n - 100);
	client_free(c);
}

static void test_204_has_no_length(void **state)
{
	struct fixture *f = *state;
	struct client *c = client_new(f->main.port, 0);
	struct resp r;
	client_say(c, "GET /204 HTTP/1.1\r\nHost: t\r\n\r\n");
	client_read(c, &r, 0);
	assert_true(r.complete);
	assert_int_equal(r.status, 204);
	assert_null(strstr(r.head, "Content-Length"));
	resp_free(&r);
	client_say(c, "GET /304 HTTP/1.1\r\nHost: t\r\n\r\n");
	client_read(c, &r, 0);
	assert_true(r.complete);
	assert_non_null(strstr(r.head, "Content-Length: 5\n"));     /* the representation's */
	resp_free(&r);
	client_free(c);
}

/* The same strictness towards origins: 502, and the origin connection is not reused. */
static void test_ambiguous_responses_502(void **state)
{
	static const char *const paths[] = { "/te-gzip", "/te-chunked-gzip", "/te-twice", "/cl-te",
		"/dup-cl", "/bare-lf", "/fold", "/fold-colon", "/http2", "/status99", "/empty-name",
		"/nul", "/hugehead" };
	struct fixture *f = *state;
	struct client *c;
	struct resp r;
	char req[128];
	for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
		print_message("%s\n", paths[i]);
		snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: t\r\n\r\n", paths[i]);
		expect_error(f, f->main.port, req, 502);
	}
	c = client_new(f->main.port, 0);     /* a head that passed, then a bad chunk: cut short */
	client_say(c, "GET /bad-chunk HTTP/1.1\r\nHost: t\r\n\r\n");
	client_read(c, &r, 0);
	assert_false(r.complete);
	resp_free(&r);
	client_free(c);
	c = client_new(f->main.port, 0);
	client_say(c, "GET /cl HTTP/1.1\r\nHost: t\r\n\r\n");
	expect_response(c, 0, 200, "hello");
	client_free(c);
}

/* GET /cl on a new client connection to port a, then on one to port b (left open, returned):
 * the second finds the connection the first left idle. */
static struct client *get_cl_twice(struct fixture *f, int a, int b)
{
	struct client *c = client_new(a, 0);
	int before;
	client_say(c, "GET /cl HTTP/1.1\r\nHost: t\r\n\r\n");
	expect_response(c, 0, 200, "hello");
	client_free(c);
	before = atomic_load(&f->origin_conns);
	c = client_new(b, 0);
	client_say(c, "GET /cl HTTP/1.1\r\nHost: t\r\n\r\n");
	expect_response(c, 0, 200, "hello");
	assert_int_equal(atomic_load(&f->origin_conns), before);
	return c;
}

/* Idle origin connections serve any client connection of the worker; one the origin closed
 * under us is retried once (idempotent, no body) or answered 502. */
static void test_pool_shared_and_stale(void **state)
{
	struct fixture *f = *state;
	struct client *c = get_cl_twice(f, f->main.port, f->main.port);
	int before = atomic_load(&f->origin_conns);
	client_say(c, "GET /drop-next HTTP/1.1\r\nHost: t\r\n\r\n");
	expect_response(c, 0, 200, "ok");
	client_say(c, "GET /cl HTTP/1.1\r\nHost: t\r\n\r\n");
	expect_response(c, 0, 200, "hello");        /* retried on a new connection */
	assert_int_equal(atomic_load(&f->origin_conns), before + 1);
	client_say(c, "GET /drop-next HTTP/1.1\r\nHost: t\r\n\r\n");
	expect_response(c, 0, 200, "ok");
	client_say(c, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc");
	expect_response(c, 0, 502, NULL);           /* not idempotent: never sent twice */
	expect_eof(c);
	client_free(c);
}

/* Pools are per shared server, not per route: a connection one listener's request left idle
 * serves another listener's (lst-twin: no traffic before) request to the same origin. */
static void test_pool_shared_across_listeners(void **state)
{
	struct fixture *f = *state;
	client_free(get_cl_twice(f, f->main.port, f->twin.port));
}

/* A refused origin: the request goes to the next one (it never reached the first); the first
 * is skipped for a while. With every origin down, 502. */
static void test_failover_and_all_down(void **state)
{
	struct fixture *f = *state;
	for (int i = 0; i < 4; i++) {
		struct client *c = client_new(f->duo.port, 0);
		client_say(c, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nhi");
		expect_response(c, 0, 200, "hi");
		client_free(c);
	}
	expect_error(f, f->dead.port, "GET / HTTP/1.1\r\nHost: t\r\n\r\n", 502);
	expect_error(f, f->dead.port, "GET / HTTP/1.1\r\nHost: t\r\n\r\n", 502);
}

static char *slurp(const char *path)
{
	static char buf[8192];
	FILE *fp = fopen(path, "r");
	size_t n;
	assert_non_null(fp);
	n = fread(buf, 1, sizeof buf - 1, fp);
	buf[n] = '\0';
	fclose(fp);
	return buf;
}

static void test_connection_limit_and_access_log(void **state)
{
	struct fixture *f = *state;
	struct client *a = client_new(f->limited.port, 0), *b;
	struct resp r;
	char *log;
	client_say(a, "GET /none?x=%22q%22 HTTP/1.1\r\nHost: t\r\n\r\n");
	expect_response(a, 0, 404, "");
	b = client_new(f->limited.port, 0);  /* one too many: 503 or closed at once */
	client_read(b, &r, 0);
	assert_true(r.complete ? r.status == 503 : r.status == 0);
	resp_free(&r);
	client_free(b);
	client_say(a, "GET / HTTP/1.1\r\nHost: t\r\nX: a\r\n b\r\n\r\n");
	expect_response(a, 0, 400, NULL);
	client_free(a);
	log = slurp(f->alog);
	assert_non_null(strstr(log, " listener=lst-limited client=127.0.0.1:"));
	assert_non_null(strstr(log, " method=GET target=\"/none?x=%22q%22\" status=404 bytes="));
	assert_non_null(strstr(log, " origin=127.0.0.1:"));
	assert_non_null(strstr(log, " method=GET target=\"/\" status=400 bytes="));
	assert_true(strncmp(log, "time=20", 7) == 0);
}

/* An error reply while the client is still uploading: the close must not reset the connection
 * before the client has read the reply. */
static void test_linger_keeps_the_reply(void **state)
{
	struct fixture *f = *state;
	struct client *c = client_new(f->fast.port, 0);
	size_t n = 192 * 1024;
	char *body = calloc(1, n);
	assert_non_null(body);
	client_say(c, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10000000\r\n\r\n");
	client_send(c, body, n);
	expect_response(c, 0, 413, NULL);
	free(body);
	client_free(c);
}

/* A client that stops reading is cut after the send timeout, whatever the response size. */
static void test_slow_reader_cut(void **state)
{
	struct fixture *f = *state;
	struct client *c = client_new(f->fast.port, 4096);
	struct resp r;
	client_say(c, "GET /big HTTP/1.1\r\nHost: t\r\n\r\n");
	sleep(2);                   /* well past the 300 ms send timeout */
	client_read(c, &r, 0);
	assert_false(r.complete);
	assert_true(r.blen < BIG_SIZE);
	resp_free(&r);
	client_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_get_content_length_exact),
		cmocka_unit_test(test_post_bodies),
		cmocka_unit_test(test_chunked_response),
		cmocka_unit_test(test_response_trailers),
		cmocka_unit_test(test_keepalive_reuses_origin),
		cmocka_unit_test(test_pipelined_in_order),
		cmocka_unit_test(test_origin_down_502),
		cmocka_unit_test(test_smuggling_400_origin_untouched),
		cmocka_unit_test(test_header_too_large_431),
		cmocka_unit_test(test_bodiless_no_desync),
		cmocka_unit_test(test_read_until_close),
		cmocka_unit_test(test_origin_misbehaves),
		cmocka_unit_test(test_timeouts),
		cmocka_unit_test(test_continue),
		cmocka_unit_test(test_large_bodies_stream),
		cmocka_unit_test(test_retire),
		cmocka_unit_test(test_ambiguous_requests_400),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_204_has_no_length),
		cmocka_unit_test(test_ambiguous_responses_502),
		cmocka_unit_test(test_pool_shared_and_stale),
		cmocka_unit_test(test_pool_shared_across_listeners),
		cmocka_unit_test(test_failover_and_all_down),
		cmocka_unit_test(test_connection_limit_and_access_log),
		cmocka_unit_test(test_linger_keeps_the_reply),
		cmocka_unit_test(test_slow_reader_cut),
	};
	signal(SIGPIPE, SIG_IGN);
	if (getenv("PX_TEST_DEBUG") != NULL)
		log_set_level(LOG_LEVEL_DEBUG);
	alarm(100);                 /* a hang fails the run instead of stalling it */
	return cmocka_run_group_tests(tests, setup, teardown);
}
