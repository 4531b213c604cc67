/* tests/unit/test_px_l7.c - layer-7 routing (l7-and-https.md 9.2-9.4): px_l7 built from plain
 * input (refusals, lookups, the cell's swap and references), then real traffic through a
 * px_worker on loopback to origins that echo what they received: Host and path to the right
 * origin, gaapd's own 400/404/414/301/503, ForwardHost, custom headers, wrr proportions, a
 * swap that reaches the next request of an open keep-alive connection but not one in flight,
 * and the 404/301/503 that keep the connection (bodies read and dropped) and those that close. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
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

#include "health/hc.h"
#include "log.h"
#include "proxy/l7.h"
#include "proxy/route.h"
#include "proxy/stats.h"

/* ---- building ---- */

static struct px_l7 *build(const struct px_l7_in *in, struct ups_reg *reg, char *err)
{
	return px_l7_new(in, reg, NULL, err, 256);
}

static void test_refusals(void **state)
{
	struct ups_reg *reg = ups_reg_new();
	char err[256];
	const struct px_l7_domain_in d[] = { { "a.example", 0 } };
	struct px_l7_binding_in b = { "127.0.0.1", 80, 1, 0, NULL };
	struct px_l7_header_in h[2] = { { "X-A", "1" }, { "x-a", "2" } };
	struct px_l7_rule_in r = { .id = "rule-1", .path = "/", .bindings = &b, .nbindings = 1 };
	struct px_l7_in in = { d, 1, &r, 1 };
	struct px_l7 *l;
	(void)state;
	assert_non_null(l = build(&in, reg, err));
	px_l7_unref(l);
	/* no domains: NULL and "" (the caller sets the cell to NULL) */
	in.ndomains = 0;
	in.nrules = 0;
	assert_null(build(&in, reg, err));
	assert_string_equal(err, "");
	in.nrules = 1;
	assert_null(build(&in, reg, err));
	assert_string_not_equal(err, "");
	in.ndomains = 1;
	/* bad bindings */
	static const struct px_l7_binding_in bad[] = { { "1.2.3", 80, 1, 0, NULL },
		{ "1.2.3.4", 0, 1, 0, NULL }, { "1.2.3.4", 70000, 1, 0, NULL },
		{ "1.2.3.4", 80, 0, 0, NULL }, { "1.2.3.4", 80, 101, 0, NULL },
		{ "a b", 80, 1, 1, NULL }, { "", 80, 1, 1, NULL } };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		r.bindings = &bad[i];
		err[0] = '\0';
		assert_null(build(&in, reg, err));
		assert_non_null(strstr(err, "binding"));
	}
	r.bindings = &b;
	/* headers: duplicate names in any case, a bad name, a CR in a value */
	r.headers = h;
	r.nheaders = 2;
	assert_null(build(&in, reg, err));
	h[1].name = "X B";
	assert_null(build(&in, reg, err));
	h[1].name = "X-B";
	h[1].value = "a\r\nInjected: 1";
	assert_null(build(&in, reg, err));
	h[1].value = "$remote_addr";
	assert_non_null(l = build(&in, reg, err));
	px_l7_unref(l);
	/* ForwardHost and ForcedRedirect */
	r.forward_host = "a b";
	assert_null(build(&in, reg, err));
	r.forward_host = "origin.internal:8080";
	r.forced_redirect = "http://x.example";
	assert_null(build(&in, reg, err));
	r.forced_redirect = "https://www.qq.com/url";
	assert_non_null(l = build(&in, reg, err));
	px_l7_unref(l);
	/* a rule's domain out of range, a bad path, two rules on one (domain, path) */
	r.domain = 1;
	assert_null(build(&in, reg, err));
	r.domain = 0;
	r.path = "nope";
	assert_null(build(&in, reg, err));
	r.path = "/";
	struct px_l7_rule_in two[2] = { r, r };
	in.rules = two;
	in.nrules = 2;
	assert_null(build(&in, reg, err));
	assert_int_equal(ups_reg_count(reg), 0);   /* nothing built in part is left behind */
	ups_reg_unref(reg);
}

static const char *route_id(const struct px_l7 *l, const char *host, const char *path)
{
	const struct px_l7_rule *r;
	enum px_rt_result res = px_l7_route(l, host, host != NULL ? strlen(host) : 0, path,
		strlen(path), &r);
	switch (res) {
	case PX_RT_FOUND: return r->id;
	case PX_RT_NO_DOMAIN: return "no-domain";
	case PX_RT_NO_RULE: return "no-rule";
	case PX_RT_BAD_PATH: return "bad-path";
	default: return "too-long";
	}
}

static void test_lookups_and_names(void **state)
{
	struct ups_reg *reg = ups_reg_new();
	char err[256], loc[256];
	size_t len;
	const struct px_l7_domain_in d[] = { { "a.example", 0 }, { "dflt.example", 1 } };
	const struct px_l7_binding_in b[] = { { "127.0.0.1", 81, 1, 0, NULL }, { "::1", 82, 2, 0, NULL },
		{ "origin.example", 8080, 1, 1, NULL } };
	const struct px_l7_rule_in r[] = {
		{ .id = "root", .domain = 0, .path = "/", .bindings = b, .nbindings = 1 },
		{ .id = "api", .domain = 0, .path = "/api", .bindings = b + 1, .nbindings = 2,
		  .sched = CFG_SCHED_WRR },
		{ .id = "api/", .domain = 0, .path = "/api/", .forced_redirect = "https:" },
		{ .id = "dflt", .domain = 1, .path = "/x", .forced_redirect = "https://w.example:8443/u" },
	};
	struct px_l7_in in = { d, 2, r, 4 };
	struct px_l7 *l = build(&in, reg, err);
	const struct px_l7_rule *rule;
	(void)state;
	assert_non_null(l);
	assert_string_equal(route_id(l, "a.example", "/api"), "api");
	assert_string_equal(route_id(l, "A.Example.:80", "/apix"), "api");
	assert_string_equal(route_id(l, "a.example", "/a%70i/v1"), "api/");
	assert_string_equal(route_id(l, "a.example", "/API"), "root");
	assert_string_equal(route_id(l, "a.example", "/api?x=1"), "api");
	assert_string_equal(route_id(l, "a.example", "*"), "root");        /* OPTIONS * */
	assert_string_equal(route_id(l, "zzz.example", "/x/1"), "dflt");
	assert_string_equal(route_id(l, NULL, "/x"), "dflt");
	assert_string_equal(route_id(l, "zzz.example", "/"), "no-rule");
	assert_string_equal(route_id(l, "a.example", "/%zz"), "bad-path");
	assert_string_equal(route_id(l, "a.example", "/../x"), "bad-path");
	/* the api rule's group: ::1 and a DNS name, shared through the registry */
	assert_int_equal(px_l7_route(l, "a.example", 9, "/api", 4, &rule), PX_RT_FOUND);
	assert_int_equal(rule->group->n, 2);
	assert_string_equal(rule->group->m[0].srv->addr.text, "[::1]:82");
	assert_string_equal(rule->group->m[1].srv->addr.text, "origin.example:8080");
	assert_int_equal(rule->group->m[1].srv->addr.len, 0);  /* no address: a failed connect */
	assert_int_equal(ups_reg_count(reg), 3);
	/* 301 Locations (9.3.4) */
	assert_int_equal(px_l7_route(l, "a.example", 9, "/api/", 5, &rule), PX_RT_FOUND);
	assert_true(rule->redirect);
	assert_int_equal(px_l7_location(rule, "a.example:8080", 14, "/api/?q=1", 9, loc,
		sizeof loc, &len), 0);
	assert_string_equal((loc[len] = '\0', loc), "https://a.example/api/?q=1");
	assert_int_equal(px_l7_location(rule, "[::1]:80", 8, "?q", 2, loc, sizeof loc, &len), 0);
	assert_string_equal((loc[len] = '\0', loc), "https://[::1]/?q");
	assert_int_equal(px_l7_route(l, NULL, 0, "/x", 2, &rule), PX_RT_FOUND);
	assert_int_equal(px_l7_location(rule, NULL, 0, "/x/y", 4, loc, sizeof loc, &len), 0);
	assert_string_equal((loc[len] = '\0', loc), "https://w.example:8443/x/y");
	assert_int_equal(px_l7_location(rule, NULL, 0, "/x/y", 4, loc, 10, &len), -1);
	px_l7_unref(l);
	assert_int_equal(ups_reg_count(reg), 0);
	ups_reg_unref(reg);
}

static void test_cell_swap_and_refs(void **state)
{
	struct ups_reg *reg = ups_reg_new();
	char err[256];
	const struct px_l7_domain_in d[] = { { "a.example", 0 } };
	const struct px_l7_rule_in r = { .id = "r", .path = "/" };
	const struct px_l7_in in = { d, 1, &r, 1 };
	struct px_l7 *a = build(&in, reg, err), *b = build(&in, reg, err), *got;
	struct px_l7_cell *c = px_l7_cell_new();
	(void)state;
	assert_non_null(c);
	assert_null(px_l7_cell_get(c));             /* a new cell: configured origins */
	px_l7_cell_set(c, px_l7_ref(a));
	got = px_l7_cell_get(c);
	assert_ptr_equal(got, a);
	assert_int_equal(atomic_load(&a->refs), 3); /* ours, the cell's, the request's */
	px_l7_cell_set(c, px_l7_ref(b));            /* the request keeps a */
	assert_int_equal(atomic_load(&a->refs), 2);
	px_l7_unref(got);
	assert_int_equal(atomic_load(&a->refs), 1);
	assert_ptr_equal(got = px_l7_cell_get(c), b);
	px_l7_unref(got);
	assert_ptr_equal(px_l7_cell_ref(c), c);     /* a second route of the listener */
	px_l7_cell_unref(c);
	px_l7_cell_set(c, NULL);
	assert_int_equal(atomic_load(&b->refs), 1);
	assert_null(px_l7_cell_get(c));
	px_l7_cell_set(c, px_l7_ref(b));
	px_l7_cell_unref(c);                        /* the last reference lets go of b too */
	assert_int_equal(atomic_load(&b->refs), 1);
	px_l7_unref(a);
	px_l7_unref(b);
	ups_reg_unref(reg);
}

/* ---- traffic: a px_worker and echoing origins on one loop thread, clients on the test's ---- */

#define NORIGINS 4              /* 0: the route's configured origin; 1..3: rule bindings */

struct oconn {
	struct bufferevent *bev;
	struct event *later;
	int id;
	char *body;                 /* a delayed answer */
};

struct fixture {
	struct event_base *base;
	struct px_worker *w;
	struct ups_reg *servers;
	struct px_route *route;
	struct px_l7_cell *cell;
	struct evconnlistener *proxy, *origin[NORIGINS];
	int proxy_port, origin_port[NORIGINS], ids[NORIGINS];
	pthread_t thread;
};

static void answer(struct oconn *o, const char *body)
{
	evbuffer_add_printf(bufferevent_get_output(o->bev), "HTTP/1.1 200 OK\r\n"
		"Content-Length: %zu\r\n\r\n%s", strlen(body), body);
}

static void answer_later(evutil_socket_t fd, short what, void *arg)
{
	struct oconn *o = arg;
	(void)fd;
	(void)what;
	answer(o, o->body);
	free(o->body);
	o->body = NULL;
}

static void oconn_free(struct oconn *o)
{
	bufferevent_free(o->bev);
	event_free(o->later);
	free(o->body);
	free(o);
}

/* Each request head (bodiless) is answered with "origin=<id>\n" and the head as received; a
 * request for /slow 300 ms later. */
static void origin_read(struct bufferevent *bev, void *arg)
{
	struct oconn *o = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct evbuffer_ptr end;
	while ((end = evbuffer_search(in, "\r\n\r\n", 4, NULL)).pos >= 0) {
		size_t n = (size_t)end.pos + 4;
		char *body = malloc(n + 32);
		int k = snprintf(body, 32, "origin=%d\n", o->id);
		evbuffer_remove(in, body + k, n);
		body[k + n] = '\0';
		if (strstr(body, " /slow ") != NULL) {
			struct timeval tv = { 0, 300000 };
			o->body = body;
			event_add(o->later, &tv);
			continue;
		}
		answer(o, body);
		free(body);
	}
}

static void origin_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		oconn_free(arg);
}

static void origin_accept(struct evconnlistener *lev, evutil_socket_t fd, struct sockaddr *sa,
	int salen, void *arg)
{
	struct oconn *o = calloc(1, sizeof *o);
	(void)sa;
	(void)salen;
	o->id = *(int *)arg;
	o->bev = bufferevent_socket_new(evconnlistener_get_base(lev), fd, BEV_OPT_CLOSE_ON_FREE);
	o->later = evtimer_new(evconnlistener_get_base(lev), answer_later, o);
	bufferevent_setcb(o->bev, origin_read, NULL, origin_event, o);
	bufferevent_enable(o->bev, EV_READ | EV_WRITE);
}

static void proxy_accept(struct evconnlistener *lev, evutil_socket_t fd, struct sockaddr *sa,
	int salen, void *arg)
{
	struct fixture *f = arg;
	(void)lev;
	px_accept(f->w, fd, sa, (socklen_t)salen, f->route);
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

static void *loop_main(void *arg)
{
	struct fixture *f = arg;
	event_base_dispatch(f->base);
	return NULL;
}

static int setup(void **state)
{
	const struct cfg_http http = {
		.client_header_timeout_ms = 5000, .client_keepalive_timeout_ms = 5000,
		.origin_connect_timeout_ms = 2000, .origin_response_timeout_ms = 5000,
		.max_header_size = 16384, .drain_timeout_ms = 5000, .client_send_timeout_ms = 10000,
		.linger_timeout_ms = 200, .origin_keepalive = 8, .origin_keepalive_timeout_ms = 5000,
		.origin_max_fails = 1, .origin_fail_timeout_ms = 200, .max_request_line = 16384,
		.max_headers = 50, .max_response_header_size = 4096, .max_body_size = 1 << 20,
	};
	struct fixture *f = calloc(1, sizeof *f);
	struct cfg_addr a = { .len = sizeof(struct sockaddr_in) };
	struct sockaddr_in *sin = (struct sockaddr_in *)&a.sa;
	struct cfg_proxy p = { .id = "link-l7", .origins = &a, .norigins = 1 };
	assert_non_null(f);
	assert_int_equal(evthread_use_pthreads(), 0);
	assert_non_null(f->base = event_base_new());
	assert_non_null(f->w = px_worker_new(f->base));
	assert_non_null(f->servers = ups_reg_new());
	assert_non_null(f->cell = px_l7_cell_new());
	for (int i = 0; i < NORIGINS; i++) {
		f->ids[i] = i;
		f->origin[i] = listen_on(f, origin_accept, &f->ids[i], &f->origin_port[i]);
	}
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin->sin_port = htons((uint16_t)f->origin_port[0]);
	snprintf(a.text, sizeof a.text, "127.0.0.1:%d", f->origin_port[0]);
	assert_non_null(f->route = px_route_create("lst-l7", &p, &http, NULL, f->servers));
	px_route_set_l7(f->route, f->cell);
	f->proxy = listen_on(f, proxy_accept, f, &f->proxy_port);
	assert_int_equal(pthread_create(&f->thread, NULL, loop_main, f), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	event_base_loopbreak(f->base);
	pthread_join(f->thread, NULL);
	px_worker_destroy(f->w);
	event_base_loop(f->base, EVLOOP_NONBLOCK);
	evconnlistener_free(f->proxy);
	for (int i = 0; i < NORIGINS; i++)
		evconnlistener_free(f->origin[i]);
	px_route_unref(f->route);
	px_l7_cell_unref(f->cell);
	ups_reg_unref(f->servers);
	event_base_free(f->base);
	free(f);
	libevent_global_shutdown();
	return 0;
}

/* The test's routing: domain a.example (rules below) and, when with_default, dflt.example. */
static struct px_l7 *routing(struct fixture *f, int with_default, int root_origin)
{
	static char hosts[NORIGINS][16];
	struct px_l7_binding_in b[NORIGINS], wrr[2];
	const struct px_l7_domain_in d[] = { { "a.example", 0 }, { "dflt.example", 1 } };
	const struct px_l7_header_in h[] = { { "X-Custom", "v1" }, { "X-Client", "$remote_addr" },
		{ "X-Lit", "x$remote_addr" } };
	char err[256];
	struct px_l7 *l;
	for (int i = 0; i < NORIGINS; i++) {
		snprintf(hosts[i], sizeof hosts[i], "127.0.0.1");
		b[i] = (struct px_l7_binding_in){ hosts[i], (unsigned)f->origin_port[i], 1, 0, NULL };
	}
	wrr[0] = b[1];
	wrr[0].weight = 3;
	wrr[1] = b[2];
	const struct px_l7_rule_in r[] = {
		{ .id = "root", .domain = 0, .path = "/", .bindings = &b[root_origin],
		  .nbindings = 1 },
		{ .id = "api", .domain = 0, .path = "/api", .bindings = &b[2], .nbindings = 1 },
		{ .id = "api/", .domain = 0, .path = "/api/", .bindings = &b[3], .nbindings = 1,
		  .forward_host = "fwd.internal", .headers = h, .nheaders = 3 },
		{ .id = "redir", .domain = 0, .path = "/redir", .bindings = &b[1], .nbindings = 1,
		  .forced_redirect = "https:" },
		{ .id = "red2", .domain = 0, .path = "/red2", .forced_redirect = "https://w.example/u" },
		{ .id = "nobind", .domain = 0, .path = "/nobind" },
		{ .id = "wrr", .domain = 0, .path = "/wrr", .bindings = wrr, .nbindings = 2,
		  .sched = CFG_SCHED_WRR },
		{ .id = "dflt", .domain = 1, .path = "/", .bindings = &b[3], .nbindings = 1 },
	};
	struct px_l7_in in = { d, with_default ? 2 : 1, r, with_default ? 8 : 7 };
	assert_non_null(l = px_l7_new(&in, f->servers, NULL, err, sizeof err));
	return l;
}

/* ---- the client: blocking sockets ---- */

struct resp {
	int status;
	char head[4096];
	char body[16384];
};

static int client_new(struct fixture *f)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
		.sin_port = htons((uint16_t)f->proxy_port) };
	struct timeval tv = { 5, 0 };
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof sin), 0);
	return fd;
}

static void client_send(int fd, const char *req)
{
	size_t n = strlen(req);
	assert_int_equal(write(fd, req, n), (ssize_t)n);
}

/* One response's head (r->head, r->status). */
static void client_read_head(int fd, struct resp *r)
{
	size_t got = 0;
	char *end = NULL;
	memset(r, 0, sizeof *r);
	while (end == NULL) {
		ssize_t n = read(fd, r->head + got, 1);   /* byte-wise: never past the head */
		assert_int_equal(n, 1);
		got++;
		assert_true(got < sizeof r->head);
		end = got >= 4 && memcmp(r->head + got - 4, "\r\n\r\n", 4) == 0 ? r->head : NULL;
	}
	r->status = atoi(r->head + 9);
}

/* One response: head, then Content-Length bytes of body. */
static void client_read(int fd, struct resp *r)
{
	size_t got, want;
	char *cl;
	client_read_head(fd, r);
	assert_non_null(cl = strstr(r->head, "Content-Length: "));
	want = strtoul(cl + 16, NULL, 10);
	assert_true(want < sizeof r->body);
	for (got = 0; got < want;) {
		ssize_t n = read(fd, r->body + got, want - got);
		assert_true(n > 0);
		got += (size_t)n;
	}
}

/* One request on a connection of its own. */
static void get(struct fixture *f, const char *req, struct resp *r)
{
	int fd = client_new(f);
	client_send(fd, req);
	client_read(fd, r);
	close(fd);
}

/* The origin that answered "GET <path>" with Host: host (-1: gaapd answered). */
static int origin_of(struct fixture *f, const char *host, const char *path, int want_status)
{
	static struct resp r;
	char req[20000];
	snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", path, host);
	get(f, req, &r);
	assert_int_equal(r.status, want_status);
	return strncmp(r.body, "origin=", 7) == 0 ? atoi(r.body + 7) : -1;
}

static void test_routes_by_host_and_path(void **state)
{
	struct fixture *f = *state;
	struct px_stats_snap before, after;
	char longpath[9000];
	px_stats_read(px_route_stats(f->route), &before);
	assert_int_equal(origin_of(f, "a.example", "/", 200), 0);     /* no px_l7: as before */
	px_l7_cell_set(f->cell, routing(f, 1, 1));
	assert_int_equal(origin_of(f, "a.example", "/x", 200), 1);
	assert_int_equal(origin_of(f, "a.example", "/api", 200), 2);
	assert_int_equal(origin_of(f, "a.example", "/apix", 200), 2);  /* plain prefix */
	assert_int_equal(origin_of(f, "a.example", "/api.json", 200), 2);
	assert_int_equal(origin_of(f, "a.example", "/api?x=1", 200), 2);
	assert_int_equal(origin_of(f, "a.example", "/api/", 200), 3);
	assert_int_equal(origin_of(f, "a.example", "/a%70i/v1", 200), 3);
	assert_int_equal(origin_of(f, "a.example", "/API", 200), 1);   /* case-sensitive */
	assert_int_equal(origin_of(f, "A.EXAMPLE:8080", "/api", 200), 2);
	assert_int_equal(origin_of(f, "other.example", "/api", 200), 3);   /* the default domain */
	assert_int_equal(origin_of(f, "a.example", "/%zz", 400), -1);
	assert_int_equal(origin_of(f, "a.example", "/../x", 400), -1);
	memset(longpath, 'a', sizeof longpath - 1);
	longpath[0] = '/';
	longpath[sizeof longpath - 1] = '\0';
	assert_int_equal(origin_of(f, "a.example", longpath, 414), -1);
	assert_int_equal(origin_of(f, "a.example", "/nobind/x", 503), -1);
	/* absolute-form: its authority is the Host */
	static struct resp r;
	get(f, "GET http://a.example/api HTTP/1.1\r\nHost: other.example\r\n\r\n", &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(atoi(r.body + 7), 2);
	/* without a default domain: 404 */
	px_l7_cell_set(f->cell, routing(f, 0, 1));
	assert_int_equal(origin_of(f, "other.example", "/", 404), -1);
	assert_int_equal(origin_of(f, "a.example", "/", 200), 1);
	/* HTTP/1.0 without Host, no default: 404 */
	get(f, "GET / HTTP/1.0\r\n\r\n", &r);
	assert_int_equal(r.status, 404);
	px_l7_cell_set(f->cell, NULL);
	assert_int_equal(origin_of(f, "other.example", "/", 200), 0);  /* configured again */
	px_stats_read(px_route_stats(f->route), &after);
	assert_int_equal(after.requests[3] - before.requests[3], 5);   /* 400 400 414 404 404 */
	assert_int_equal(after.requests[4] - before.requests[4], 1);   /* 503 */
}

static void test_redirects(void **state)
{
	struct fixture *f = *state;
	static struct resp r;
	px_l7_cell_set(f->cell, routing(f, 1, 1));
	get(f, "GET /redir/p?q=1 HTTP/1.1\r\nHost: a.example:8080\r\n\r\n", &r);
	assert_int_equal(r.status, 301);
	assert_non_null(strstr(r.head, "\r\nLocation: https://a.example/redir/p?q=1\r\n"));
	get(f, "GET /red2/p HTTP/1.1\r\nHost: a.example\r\n\r\n", &r);
	assert_int_equal(r.status, 301);
	assert_non_null(strstr(r.head, "\r\nLocation: https://w.example/red2/p\r\n"));
	px_l7_cell_set(f->cell, NULL);
}

static void test_forward_host_and_custom_headers(void **state)
{
	struct fixture *f = *state;
	static struct resp r;
	px_l7_cell_set(f->cell, routing(f, 1, 1));
	get(f, "GET /api/v1 HTTP/1.1\r\nHost: a.example\r\nX-Custom: evil\r\nx-client: 6.6.6.6\r\n"
		"X-Other: kept\r\n\r\n", &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(atoi(r.body + 7), 3);
	assert_non_null(strstr(r.body, "\r\nHost: fwd.internal\r\n"));
	assert_null(strstr(r.body, "a.example"));
	assert_null(strstr(r.body, "evil"));
	assert_null(strstr(r.body, "6.6.6.6"));
	assert_non_null(strstr(r.body, "\r\nX-Other: kept\r\n"));
	assert_non_null(strstr(r.body, "\r\nX-Custom: v1\r\n"));
	assert_non_null(strstr(r.body, "\r\nX-Client: 127.0.0.1\r\n"));
	assert_non_null(strstr(r.body, "\r\nX-Lit: x$remote_addr\r\n"));
	assert_non_null(strstr(r.body, "\r\nX-Real-IP: 127.0.0.1\r\n"));
	/* custom headers come after gaapd's own */
	assert_true(strstr(r.body, "X-Custom: v1") > strstr(r.body, "X-Forwarded-For"));
	/* another rule: the client's Host, no custom headers */
	get(f, "GET /api HTTP/1.1\r\nHost: a.example\r\nX-Custom: mine\r\n\r\n", &r);
	assert_non_null(strstr(r.body, "\r\nHost: a.example\r\n"));
	assert_non_null(strstr(r.body, "\r\nX-Custom: mine\r\n"));
	px_l7_cell_set(f->cell, NULL);
}

static void test_wrr_proportions(void **state)
{
	struct fixture *f = *state;
	int fd, n[NORIGINS] = { 0 };
	static struct resp r;
	px_l7_cell_set(f->cell, routing(f, 1, 1));
	fd = client_new(f);
	for (int i = 0; i < 400; i++) {
		client_send(fd, "GET /wrr HTTP/1.1\r\nHost: a.example\r\n\r\n");
		client_read(fd, &r);
		assert_int_equal(r.status, 200);
		n[atoi(r.body + 7)]++;
	}
	close(fd);
	assert_int_equal(n[1], 300);
	assert_int_equal(n[2], 100);
	px_l7_cell_set(f->cell, NULL);
}

static void test_swap_on_keepalive(void **state)
{
	struct fixture *f = *state;
	struct px_l7 *a = routing(f, 1, 1), *b = routing(f, 1, 2);
	static struct resp r;
	int fd;
	px_l7_cell_set(f->cell, px_l7_ref(a));
	fd = client_new(f);
	client_send(fd, "GET /x HTTP/1.1\r\nHost: a.example\r\n\r\n");
	client_read(fd, &r);
	assert_int_equal(atoi(r.body + 7), 1);
	/* in flight when the swap comes: it finishes on a */
	client_send(fd, "GET /slow HTTP/1.1\r\nHost: a.example\r\n\r\n");
	usleep(100000);
	px_l7_cell_set(f->cell, px_l7_ref(b));
	assert_true(atomic_load(&a->refs) >= 2);    /* ours and the exchange's */
	client_read(fd, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(atoi(r.body + 7), 1);
	/* the next request on the same connection takes b */
	client_send(fd, "GET /x HTTP/1.1\r\nHost: a.example\r\n\r\n");
	client_read(fd, &r);
	assert_int_equal(atoi(r.body + 7), 2);
	assert_int_equal(atomic_load(&a->refs), 1); /* the connection let go of a */
	close(fd);
	px_l7_cell_set(f->cell, NULL);
	px_l7_unref(a);
	px_l7_unref(b);
}

/* ---- gaapd's own answers keep the connection when they can ---- */

static int kept(const struct resp *r)
{
	return strstr(r->head, "\r\nConnection: keep-alive\r\n") != NULL;
}

static int closed(const struct resp *r)
{
	return strstr(r->head, "\r\nConnection: close\r\n") != NULL;
}

/* The server ended the connection: EOF (or a reset) where another response would be. */
static void assert_eof(int fd)
{
	char b;
	assert_true(read(fd, &b, 1) <= 0);
}

/* An answer, then what must follow on the same connection: the origin of /x (1). */
static void then_origin(int fd)
{
	static struct resp r;
	client_send(fd, "GET /x HTTP/1.1\r\nHost: a.example\r\n\r\n");
	client_read(fd, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(atoi(r.body + 7), 1);
}

static void test_answers_keep_alive(void **state)
{
	struct fixture *f = *state;
	struct px_stats_snap before, after;
	static struct resp r;
	int fd;
	px_l7_cell_set(f->cell, routing(f, 0, 1));  /* other.example: 404 */
	px_stats_read(px_route_stats(f->route), &before);
	fd = client_new(f);
	client_send(fd, "GET / HTTP/1.1\r\nHost: other.example\r\n\r\n");
	client_read(fd, &r);
	assert_int_equal(r.status, 404);
	assert_true(kept(&r));
	assert_non_null(strstr(r.head, "\r\nContent-Length: 14\r\n"));
	assert_string_equal(r.body, "404 Not Found\n");
	client_send(fd, "GET /redir/p HTTP/1.1\r\nHost: a.example\r\n\r\n");
	client_read(fd, &r);
	assert_int_equal(r.status, 301);
	assert_true(kept(&r));
	assert_non_null(strstr(r.head, "\r\nLocation: https://a.example/redir/p\r\n"));
	client_send(fd, "GET /nobind HTTP/1.1\r\nHost: a.example\r\n\r\n");
	client_read(fd, &r);
	assert_int_equal(r.status, 503);
	assert_true(kept(&r));
	then_origin(fd);
	/* HEAD: the head only, Content-Length as a GET's */
	client_send(fd, "HEAD / HTTP/1.1\r\nHost: other.example\r\n\r\n");
	client_read_head(fd, &r);
	assert_int_equal(r.status, 404);
	assert_true(kept(&r));
	assert_non_null(strstr(r.head, "\r\nContent-Length: 14\r\n"));
	then_origin(fd);
	/* HTTP/1.0 asking for keep-alive */
	client_send(fd, "GET / HTTP/1.0\r\nHost: other.example\r\nConnection: keep-alive\r\n\r\n");
	client_read(fd, &r);
	assert_int_equal(r.status, 404);
	assert_true(kept(&r));
	then_origin(fd);
	close(fd);
	px_stats_read(px_route_stats(f->route), &after);
	assert_int_equal(after.requests[3] - before.requests[3], 3);   /* 404 404 404 */
	assert_int_equal(after.requests[2] - before.requests[2], 1);   /* 301 */
	assert_int_equal(after.requests[4] - before.requests[4], 1);   /* 503 */
	assert_int_equal(after.requests[1] - before.requests[1], 3);   /* 200 200 200 */
	px_l7_cell_set(f->cell, NULL);
}

static void test_answers_drop_bodies(void **state)
{
	struct fixture *f = *state;
	static struct resp r;
	static char big[20000];
	int fd;
	px_l7_cell_set(f->cell, routing(f, 0, 1));
	fd = client_new(f);
	/* a small body, with the head */
	client_send(fd, "POST /u HTTP/1.1\r\nHost: other.example\r\nContent-Length: 5\r\n\r\nhello");
	client_read(fd, &r);
	assert_int_equal(r.status, 404);
	assert_true(kept(&r));
	then_origin(fd);
	/* a body that comes after the answer, in pieces */
	client_send(fd, "PUT /nobind HTTP/1.1\r\nHost: a.example\r\nContent-Length: 40000\r\n\r\n");
	client_read(fd, &r);
	assert_int_equal(r.status, 503);
	assert_true(kept(&r));
	memset(big, 'b', sizeof big - 1);
	client_send(fd, big);
	usleep(20000);
	client_send(fd, big);
	client_send(fd, "bb");
	then_origin(fd);
	/* chunked, with a trailer */
	client_send(fd, "POST /redir HTTP/1.1\r\nHost: a.example\r\nTransfer-Encoding: chunked\r\n\r\n"
		"5\r\nhello\r\n3\r\nabc\r\n0\r\nX-T: 1\r\n\r\n");
	client_read(fd, &r);
	assert_int_equal(r.status, 301);
	assert_true(kept(&r));
	then_origin(fd);
	/* chunked, in pieces after the answer */
	client_send(fd, "POST / HTTP/1.1\r\nHost: other.example\r\nTransfer-Encoding: chunked\r\n\r\n");
	client_read(fd, &r);
	assert_int_equal(r.status, 404);
	assert_true(kept(&r));
	client_send(fd, "4e1f\r\n");
	client_send(fd, big);
	client_send(fd, "\r\n0\r\n\r\n");
	then_origin(fd);
	/* what follows a chunked body in the same read is the next request: read in turn */
	client_send(fd, "POST / HTTP/1.1\r\nHost: other.example\r\nTransfer-Encoding: chunked\r\n\r\n"
		"1\r\na\r\n0\r\n\r\nPOST /nobind HTTP/1.1\r\nHost: a.example\r\n"
		"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
	client_read(fd, &r);
	assert_int_equal(r.status, 404);
	assert_true(kept(&r));
	client_read(fd, &r);
	assert_int_equal(r.status, 503);
	assert_true(kept(&r));
	then_origin(fd);
	close(fd);
	px_l7_cell_set(f->cell, NULL);
}

/* Chunks of 16 KiB until n bytes of data or the connection ends. */
static void send_chunks(int fd, size_t n)
{
	static char chunk[16384 + 16];
	int k = snprintf(chunk, sizeof chunk, "4000\r\n");
	memset(chunk + k, 'c', 16384);
	memcpy(chunk + k + 16384, "\r\n", 2);
	for (size_t sent = 0; sent < n; sent += 16384)
		if (send(fd, chunk, (size_t)k + 16384 + 2, MSG_NOSIGNAL) <= 0)
			return;
}

static void test_answers_that_close(void **state)
{
	struct fixture *f = *state;
	static struct resp r;
	int fd;
	px_l7_cell_set(f->cell, routing(f, 0, 1));
	/* a Content-Length above the discard limit (256 KiB) */
	fd = client_new(f);
	client_send(fd, "POST / HTTP/1.1\r\nHost: other.example\r\nContent-Length: 300000\r\n\r\n");
	client_read(fd, &r);
	assert_int_equal(r.status, 404);
	assert_true(closed(&r));
	assert_eof(fd);
	close(fd);
	/* a chunked body that grows past it: the answer said keep-alive, the connection ends */
	fd = client_new(f);
	client_send(fd, "POST / HTTP/1.1\r\nHost: other.example\r\nTransfer-Encoding: chunked\r\n\r\n");
	client_read(fd, &r);
	assert_int_equal(r.status, 404);
	assert_true(kept(&r));
	send_chunks(fd, 300000);
	assert_eof(fd);
	close(fd);
	/* Connection: close; HTTP/1.0; Expect: 100-continue with a body; pipelined */
	static const char *const reqs[] = {
		"GET / HTTP/1.1\r\nHost: other.example\r\nConnection: close\r\n\r\n",
		"GET / HTTP/1.0\r\nHost: other.example\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: other.example\r\nContent-Length: 3\r\n"
			"Expect: 100-continue\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: other.example\r\n\r\nGET /x HTTP/1.1\r\nHost: a.example\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: other.example\r\nContent-Length: 3\r\n\r\nabcGET /x",
	};
	for (size_t i = 0; i < sizeof reqs / sizeof reqs[0]; i++) {
		fd = client_new(f);
		client_send(fd, reqs[i]);
		client_read(fd, &r);
		assert_int_equal(r.status, 404);
		assert_true(closed(&r));
		assert_eof(fd);
		close(fd);
	}
	/* 400 and 414 close as before */
	fd = client_new(f);
	client_send(fd, "GET /../x HTTP/1.1\r\nHost: a.example\r\n\r\n");
	client_read(fd, &r);
	assert_int_equal(r.status, 400);
	assert_true(closed(&r));
	assert_eof(fd);
	close(fd);
	px_l7_cell_set(f->cell, NULL);
}

/* Each binding with a check holds a target of the checker; a rebuild with the same params finds
 * the same targets (their state and probes go on), changed params get new ones, and two rules
 * binding one server with equal params share one. */
static void test_checks_found_again(void **state)
{
	struct ups_reg *reg = ups_reg_new();
	struct hc_checker *c;
	struct hc_params p1 = { .delay_ms = 60000, .timeout_ms = 1000, .method = "HEAD",
		.path = "/health", .host = "a.example", .status_classes = 0x3e };
	struct hc_params p2 = p1;
	const struct px_l7_domain_in d[] = { { "a.example", 0 } };
	struct px_l7_binding_in b[] = { { "127.0.0.1", 1, 1, 0, &p1 }, { "127.0.0.1", 2, 1, 0, NULL } };
	const struct px_l7_rule_in r[] = {
		{ .id = "one", .path = "/", .bindings = b, .nbindings = 2 },
		{ .id = "two", .path = "/two", .bindings = b, .nbindings = 1 } };
	struct px_l7_in in = { d, 1, r, 2 };
	struct px_l7 *l1, *l2, *l3;
	char err[256];
	const struct hc_target *t;
	(void)state;
	assert_int_equal(evthread_use_pthreads(), 0);
	assert_non_null(c = hc_start(reg, err, sizeof err));
	assert_non_null(l1 = px_l7_new(&in, reg, c, err, sizeof err));
	assert_non_null(t = px_l7_binding_check(l1, "one", 0));
	assert_true(hc_target_up(t));               /* a new target starts up */
	assert_ptr_equal(px_l7_binding_check(l1, "two", 0), t);
	assert_null(px_l7_binding_check(l1, "one", 1));
	assert_null(px_l7_binding_check(l1, "one", 2));
	assert_null(px_l7_binding_check(l1, "none", 0));
	assert_non_null(l2 = px_l7_new(&in, reg, c, err, sizeof err));
	assert_ptr_equal(px_l7_binding_check(l2, "one", 0), t);
	snprintf(p2.path, sizeof p2.path, "/other");
	b[0].check = &p2;
	assert_non_null(l3 = px_l7_new(&in, reg, c, err, sizeof err));
	assert_ptr_not_equal(px_l7_binding_check(l3, "one", 0), t);
	/* no checker: no targets */
	px_l7_unref(l1);
	assert_non_null(l1 = px_l7_new(&in, reg, NULL, err, sizeof err));
	assert_null(px_l7_binding_check(l1, "one", 0));
	px_l7_unref(l1);
	px_l7_unref(l2);
	px_l7_unref(l3);
	hc_stop(c);
	ups_reg_unref(reg);
}

/* test_groups_shared()'s rules that share a group: the same class. */
static int group_class(const char *id)
{
	static const char *const classes[][3] = { { "a1", "a2", "b1" }, { "none", "none2" },
		{ "c1", "c1b" }, { "heavy" }, { "back" }, { "rr" }, { "c2" } };
	for (size_t i = 0; i < sizeof classes / sizeof classes[0]; i++)
		for (size_t k = 0; k < 3; k++)
			if (classes[i][k] != NULL && strcmp(classes[i][k], id) == 0)
				return (int)i;
	fail_msg("rule %s", id);
	return -1;
}

/* Rules with equal bindings (scheduler, servers, ports and weights in order, checks) share one
 * group, as nginx's locations proxying to one upstream{}: one cursor across their picks. Other
 * weights, order, scheduler or check params make groups of their own. A rebuild without one of
 * the sharing rules (a deletion) leaves the other's group whole, its check target alive. */
static void test_groups_shared(void **state)
{
	struct ups_reg *reg = ups_reg_new();
	struct hc_checker *c;
	struct hc_params p1 = { .delay_ms = 60000, .timeout_ms = 1000, .method = "HEAD",
		.path = "/health", .host = "a.example", .status_classes = 0x3e };
	struct hc_params p2 = p1;
	const struct px_l7_domain_in d[] = { { "a.example", 0 }, { "b.example", 0 } };
	const struct px_l7_binding_in b1[] = { { "127.0.0.1", 81, 1, 0, NULL },
		{ "127.0.0.1", 82, 2, 0, NULL } };
	const struct px_l7_binding_in b2[] = { { "127.0.0.1", 81, 1, 0, NULL },
		{ "127.0.0.1", 82, 2, 0, NULL } };
	const struct px_l7_binding_in heavy[] = { { "127.0.0.1", 81, 1, 0, NULL },
		{ "127.0.0.1", 82, 3, 0, NULL } };
	const struct px_l7_binding_in back[] = { { "127.0.0.1", 82, 2, 0, NULL },
		{ "127.0.0.1", 81, 1, 0, NULL } };
	const struct px_l7_binding_in c1[] = { { "127.0.0.1", 81, 1, 0, &p1 } };
	const struct px_l7_binding_in c2[] = { { "127.0.0.1", 81, 1, 0, &p2 } };
	const struct px_l7_rule_in r[] = {
		{ .id = "a1", .domain = 0, .path = "/", .bindings = b1, .nbindings = 2,
		  .sched = CFG_SCHED_WRR },
		{ .id = "a2", .domain = 0, .path = "/x", .bindings = b2, .nbindings = 2,
		  .sched = CFG_SCHED_WRR, .forced_redirect = "https:" },
		{ .id = "b1", .domain = 1, .path = "/", .bindings = b2, .nbindings = 2,
		  .sched = CFG_SCHED_WRR, .forward_host = "x.internal" },
		{ .id = "heavy", .domain = 1, .path = "/h", .bindings = heavy, .nbindings = 2,
		  .sched = CFG_SCHED_WRR },
		{ .id = "back", .domain = 1, .path = "/k", .bindings = back, .nbindings = 2,
		  .sched = CFG_SCHED_WRR },
		{ .id = "rr", .domain = 1, .path = "/r", .bindings = b1, .nbindings = 2 },
		{ .id = "none", .domain = 1, .path = "/n" },
		{ .id = "none2", .domain = 1, .path = "/n2" },
		{ .id = "c1", .domain = 0, .path = "/c1", .bindings = c1, .nbindings = 1 },
		{ .id = "c1b", .domain = 1, .path = "/c1", .bindings = c1, .nbindings = 1 },
		{ .id = "c2", .domain = 0, .path = "/c2", .bindings = c2, .nbindings = 1 },
	};
	struct px_l7_rule_in rest[sizeof r / sizeof r[0]];
	struct px_l7_in in = { d, 2, r, sizeof r / sizeof r[0] };
	struct px_l7 *l, *l2;
	const struct px_l7_rule *x[3];
	const struct hc_target *t;
	unsigned count[2] = { 0, 0 };
	char err[256];
	(void)state;
	assert_int_equal(evthread_use_pthreads(), 0);
	assert_non_null(c = hc_start(reg, err, sizeof err));
	snprintf(p2.path, sizeof p2.path, "/other");
	assert_non_null(l = px_l7_new(&in, reg, c, err, sizeof err));
	/* a1 a2 b1 | heavy | back | rr | none none2 | c1 c1b | c2 */
	assert_int_equal(l->ngroups, 7);
	assert_int_equal(px_l7_route(l, "a.example", 9, "/", 1, &x[0]), PX_RT_FOUND);
	assert_int_equal(px_l7_route(l, "a.example", 9, "/x", 2, &x[1]), PX_RT_FOUND);
	assert_int_equal(px_l7_route(l, "b.example", 9, "/", 1, &x[2]), PX_RT_FOUND);
	assert_string_equal(x[2]->id, "b1");
	assert_ptr_equal(x[0]->group, x[1]->group);
	assert_ptr_equal(x[0]->group, x[2]->group);
	assert_true(x[1]->redirect && !x[0]->redirect);    /* the rules stay their own */
	assert_string_equal(x[2]->forward_host, "x.internal");
	/* one smooth wrr sequence (1:2) walked across the three rules' picks */
	for (int i = 0; i < 6; i++)
		count[ups_group_pick(x[i % 3]->group, -1)]++;
	assert_int_equal(count[0], 2);
	assert_int_equal(count[1], 4);
	/* every other pair of rules: a group each */
	for (size_t i = 0; i < l->nrules; i++)
		for (size_t k = 0; k < l->nrules; k++)
			assert_int_equal(l->rules[i].group == l->rules[k].group,
				group_class(l->rules[i].id) == group_class(l->rules[k].id));
	assert_non_null(t = px_l7_binding_check(l, "c1", 0));
	assert_ptr_equal(px_l7_binding_check(l, "c1b", 0), t);
	assert_ptr_not_equal(px_l7_binding_check(l, "c2", 0), t);
	/* a1 and c1 deleted: the rebuild's a2 and c1b have whole groups, the target lives on */
	in.rules = rest;
	in.nrules = 0;
	for (size_t i = 0; i < sizeof r / sizeof r[0]; i++)
		if (strcmp(r[i].id, "a1") != 0 && strcmp(r[i].id, "c1") != 0)
			rest[in.nrules++] = r[i];
	assert_non_null(l2 = px_l7_new(&in, reg, c, err, sizeof err));
	px_l7_unref(l);
	assert_int_equal(l2->ngroups, 7);
	assert_int_equal(px_l7_route(l2, "a.example", 9, "/x", 2, &x[1]), PX_RT_FOUND);
	assert_int_equal(x[1]->group->n, 2);
	assert_string_equal(x[1]->group->m[1].srv->addr.text, "127.0.0.1:82");
	assert_true(ups_group_pick(x[1]->group, -1) >= 0);
	assert_ptr_equal(px_l7_binding_check(l2, "c1b", 0), t);
	assert_true(hc_target_up(t));
	assert_int_equal(ups_reg_count(reg), 2);
	px_l7_unref(l2);
	hc_stop(c);                 /* the targets' last puts go to its thread */
	assert_int_equal(ups_reg_count(reg), 0);
	ups_reg_unref(reg);
}

int main(void)
{
	const struct CMUnitTest unit[] = {
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_lookups_and_names),
		cmocka_unit_test(test_cell_swap_and_refs),
		cmocka_unit_test(test_checks_found_again),
		cmocka_unit_test(test_groups_shared),
	};
	const struct CMUnitTest traffic[] = {
		cmocka_unit_test(test_routes_by_host_and_path),
		cmocka_unit_test(test_redirects),
		cmocka_unit_test(test_forward_host_and_custom_headers),
		cmocka_unit_test(test_wrr_proportions),
		cmocka_unit_test(test_swap_on_keepalive),
		cmocka_unit_test(test_answers_keep_alive),
		cmocka_unit_test(test_answers_drop_bodies),
		cmocka_unit_test(test_answers_that_close),
	};
	int failed;
	if (getenv("PX_DEBUG") != NULL)
		log_set_level(LOG_LEVEL_DEBUG);
	failed = cmocka_run_group_tests_name("px_l7", unit, NULL, NULL);
	return failed + cmocka_run_group_tests_name("px_l7 traffic", traffic, setup, teardown);
}
