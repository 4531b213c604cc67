/* tests/unit/test_hc.c - the active health checker (daemon/health): hc_verdict()'s two modes on
 *   their own, then real probes from a real checker thread against tiny origins on 127.0.0.1
 *   (a thread each, blocking sockets): what they receive, what the verdicts become, targets
 *   shared and let go, and a stop with targets still referenced. Waits are bounded; no
 *   assertion depends on how fast the machine is. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/thread.h>

#include "health/hc.h"
#include "upstream/ups.h"

/* ---- hc_verdict ---- */

static struct hc_params consecutive_params(void)
{
	struct hc_params p;
	memset(&p, 0, sizeof p);
	p.delay_ms = 1000;
	p.timeout_ms = 1000;
	p.status_classes = 1u << 2;
	return p;
}

static struct hc_params window_params(unsigned threshold, unsigned window_ms, unsigned block_ms)
{
	struct hc_params p = consecutive_params();
	p.fail_threshold = threshold;
	p.fail_window_ms = window_ms;
	p.block_ms = block_ms;
	return p;
}

static struct hc_state fresh(void)
{
	struct hc_state s;
	memset(&s, 0, sizeof s);
	s.up = 1;
	return s;
}

static void test_falls_after_three_and_rises_after_two(void **state)
{
	struct hc_params p = consecutive_params();
	struct hc_state s = fresh();
	(void)state;
	assert_int_equal(HC_FALL, 3);
	assert_int_equal(HC_RISE, 2);
	assert_int_equal(hc_verdict(&s, &p, 0, 0, 1), 0);
	assert_int_equal(hc_verdict(&s, &p, 0, 0, 2), 0);
	assert_int_equal(s.up, 1);
	assert_int_equal(hc_verdict(&s, &p, 0, 0, 3), 1);
	assert_int_equal(s.up, 0);
	assert_int_equal(hc_verdict(&s, &p, 0, 0, 4), 0);       /* down stays down */
	assert_int_equal(hc_verdict(&s, &p, 1, 0, 5), 0);
	assert_int_equal(s.up, 0);
	assert_int_equal(hc_verdict(&s, &p, 1, 0, 6), 1);
	assert_int_equal(s.up, 1);
	assert_int_equal(hc_verdict(&s, &p, 1, 0, 7), 0);
}

/* Alternating results never make 3 failures or 2 successes in a row: the verdict stays what it
 * was, up or down. A good probe between failures starts the count over. */
static void test_flapping_changes_nothing(void **state)
{
	struct hc_params p = consecutive_params();
	struct hc_state s = fresh();
	(void)state;
	for (int i = 0; i < 20; i++)
		assert_int_equal(hc_verdict(&s, &p, i % 2, 0, i), 0);
	assert_int_equal(s.up, 1);
	hc_verdict(&s, &p, 0, 0, 20);
	hc_verdict(&s, &p, 0, 0, 21);
	hc_verdict(&s, &p, 1, 0, 22);                   /* two failures, then one good */
	hc_verdict(&s, &p, 0, 0, 23);
	hc_verdict(&s, &p, 0, 0, 24);
	assert_int_equal(s.up, 1);
	assert_int_equal(hc_verdict(&s, &p, 0, 0, 25), 1);
	for (int i = 0; i < 20; i++)
		assert_int_equal(hc_verdict(&s, &p, (i + 1) % 2, 0, 30 + i), 0);
	assert_int_equal(s.up, 0);
}

/* Without a threshold, real requests' failures are passive health's, not the check's. */
static void test_requests_do_not_count_without_a_threshold(void **state)
{
	struct hc_params p = consecutive_params();
	struct hc_state s = fresh();
	(void)state;
	for (int i = 0; i < 10; i++)
		assert_int_equal(hc_verdict(&s, &p, 0, 1, i), 0);
	assert_int_equal(s.up, 1);
	hc_verdict(&s, &p, 0, 0, 10);
	hc_verdict(&s, &p, 0, 0, 11);
	hc_verdict(&s, &p, 0, 1, 12);                   /* does not make it the third */
	assert_int_equal(s.up, 1);
}

static void test_threshold_counts_within_the_window_only(void **state)
{
	struct hc_params p = window_params(3, 1000, 5000);
	struct hc_state s = fresh();
	(void)state;
	assert_int_equal(hc_verdict(&s, &p, 0, 0, 0), 0);
	assert_int_equal(hc_verdict(&s, &p, 0, 0, 500), 0);
	/* the first has left the window (1000 ms old): two count, not three */
	assert_int_equal(hc_verdict(&s, &p, 0, 0, 1000), 0);
	assert_int_equal(s.up, 1);
	assert_int_equal(hc_verdict(&s, &p, 0, 0, 1400), 1);    /* 500, 1000, 1400 */
	assert_int_equal(s.up, 0);
	assert_int_equal(s.blocked_until, 6400);
}

/* Good probes in between do not forgive failures in the window (a count, not a run). */
static void test_threshold_ignores_good_probes_between(void **state)
{
	struct hc_params p = window_params(3, 10000, 1000);
	struct hc_state s = fresh();
	(void)state;
	hc_verdict(&s, &p, 0, 0, 0);
	hc_verdict(&s, &p, 1, 0, 1);
	hc_verdict(&s, &p, 0, 0, 2);
	hc_verdict(&s, &p, 1, 0, 3);
	assert_int_equal(hc_verdict(&s, &p, 0, 0, 4), 1);
	assert_int_equal(s.up, 0);
}

static void test_block_holds_then_first_good_probe_is_up(void **state)
{
	struct hc_params p = window_params(2, 10000, 3000);
	struct hc_state s = fresh();
	(void)state;
	hc_verdict(&s, &p, 0, 0, 100);
	assert_int_equal(hc_verdict(&s, &p, 0, 0, 200), 1);
	for (int64_t t = 300; t < 3200; t += 100)  /* blocked until 3200: probes are ignored */
		assert_int_equal(hc_verdict(&s, &p, 1, 0, t), 0);
	assert_int_equal(s.up, 0);
	assert_int_equal(hc_verdict(&s, &p, 0, 0, 3200), 0);    /* still failing after the block */
	assert_int_equal(s.up, 0);
	assert_int_equal(hc_verdict(&s, &p, 1, 0, 3300), 1);    /* the first good one */
	assert_int_equal(s.up, 1);
	/* a fresh window: one failure is not two */
	assert_int_equal(hc_verdict(&s, &p, 0, 0, 3400), 0);
	assert_int_equal(s.up, 1);
}

static void test_requests_count_with_a_threshold(void **state)
{
	struct hc_params p = window_params(3, 1000, 2000);
	struct hc_state s = fresh();
	(void)state;
	hc_verdict(&s, &p, 0, 1, 10);
	hc_verdict(&s, &p, 0, 0, 20);
	assert_int_equal(hc_verdict(&s, &p, 0, 1, 30), 1);
	assert_int_equal(s.up, 0);
	assert_int_equal(hc_verdict(&s, &p, 1, 0, 2030), 1);
}

/* A threshold past HC_FAILS_MAX counts as HC_FAILS_MAX (the ring holds no more). */
static void test_threshold_is_capped(void **state)
{
	struct hc_params p = window_params(1000, 1000000, 1000);
	struct hc_state s = fresh();
	int changed = 0;
	(void)state;
	for (int i = 0; i < HC_FAILS_MAX; i++)
		changed = hc_verdict(&s, &p, 0, 0, i);
	assert_int_equal(changed, 1);
	assert_int_equal(s.up, 0);
}

/* ---- real probes ---- */

enum mode {
	ANSWER_200,             /* 200 with a 2-byte body, the connection kept */
	ANSWER_503,             /* 503, kept */
	SILENT,                 /* never a word: a probe must time out */
	CLOSE_EACH,             /* 200, then the server closes (no Connection header) */
	HTTP10,                 /* HTTP/1.0 200 without keep-alive, left open: the client closes */
	DROP_SECOND,            /* the first request of a connection answered, the next dropped */
	IDLE_CLOSE,             /* 200, then the server closes the idle connection 10 ms later */
	BODY_CL,                /* 200 with a 5,000-byte body (Content-Length) */
	BODY_CHUNKED,           /* 200 with a chunked body in two writes, and a trailer */
	BODY_HUGE,              /* 200 with a chunked body past the probe's bound (70,000 bytes) */
};

struct conn {
	int fd;
	size_t len;             /* in buf */
	int served;             /* requests answered on it */
	int held;               /* SILENT: nothing more is answered */
	int64_t close_at;       /* IDLE_CLOSE: ms, or 0 */
	char buf[1024];
};

#define CONNS 64

/* A tiny origin: one thread polling 127.0.0.1's listening socket and its connections (each may
 * carry several requests), answering each request's head by mode, counting requests and
 * connections. */
struct origin {
	int fd;
	struct cfg_addr addr;
	pthread_t thread;
	pthread_mutex_t mu;
	enum mode mode;                 /* (mu) */
	int requests, conns;            /* (mu) requests read, connections accepted */
	char first[512];                /* (mu) the first request's head, as received */
	struct conn c[CONNS];           /* the origin's thread */
	int nc;
	atomic_int stop;
};

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void put(int fd, const char *s, size_t n)
{
	(void)!send(fd, s, n, MSG_NOSIGNAL);
}

static void answer_body(int fd, enum mode m)
{
	static char big[70000 + 64];
	int n;
	if (m == BODY_CL) {
		n = snprintf(big, sizeof big, "HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n");
		memset(big + n, 'x', 5000);
		put(fd, big, (size_t)n + 5000);
	} else if (m == BODY_CHUNKED) {
		static const char a[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
			"5\r\nhello\r\n6\r\n wor", b[] = "ld\r\n0\r\nX-Trailer: 1\r\n\r\n";
		put(fd, a, sizeof a - 1);
		usleep(2000);           /* the answer in two reads, most likely */
		put(fd, b, sizeof b - 1);
	} else {
		n = snprintf(big, sizeof big, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
			"11170\r\n");
		memset(big + n, 'x', 70000);
		n += 70000;
		n += snprintf(big + n, sizeof big - (size_t)n, "\r\n0\r\n\r\n");
		put(fd, big, (size_t)n);
	}
}

/* One request's head on c: answered by mode. 0: c stays, -1: the server closes it. */
static int serve(struct origin *o, struct conn *c, const char *head)
{
	static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
	static const char ok10[] = "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok";
	static const char bad[] = "HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n";
	enum mode m;
	pthread_mutex_lock(&o->mu);
	if (o->requests++ == 0)
		snprintf(o->first, sizeof o->first, "%s", head);
	m = o->mode;
	pthread_mutex_unlock(&o->mu);
	if (c->held || m == SILENT) {
		c->held = 1;
		return 0;
	}
	if (m == DROP_SECOND && c->served > 0)
		return -1;
	c->served++;
	if (m == ANSWER_503)
		put(c->fd, bad, sizeof bad - 1);
	else if (m == HTTP10)
		put(c->fd, ok10, sizeof ok10 - 1);
	else if (m >= BODY_CL)
		answer_body(c->fd, m);
	else
		put(c->fd, ok, sizeof ok - 1);
	if (m == IDLE_CLOSE)
		c->close_at = now_ms() + 10;
	return m == CLOSE_EACH ? -1 : 0;
}

static void drop(struct origin *o, int i)
{
	close(o->c[i].fd);
	o->c[i] = o->c[--o->nc];
}

/* What came on connection i: every complete head in it served. */
static void conn_read(struct origin *o, int i)
{
	struct conn *c = &o->c[i];
	ssize_t r = read(c->fd, c->buf + c->len, sizeof c->buf - 1 - c->len);
	char *end;
	if (r <= 0) {
		drop(o, i);
		return;
	}
	c->len += (size_t)r;
	c->buf[c->len] = 0;
	while ((end = strstr(c->buf, "\r\n\r\n")) != NULL) {
		size_t n = (size_t)(end + 4 - c->buf);
		char head[512];
		snprintf(head, sizeof head, "%.*s", (int)n, c->buf);
		memmove(c->buf, c->buf + n, c->len - n + 1);
		c->len -= n;
		if (serve(o, c, head) != 0) {
			drop(o, i);
			return;
		}
	}
	if (c->len == sizeof c->buf - 1)
		drop(o, i);             /* no head fits */
}

static void accept_one(struct origin *o)
{
	int fd = accept(o->fd, NULL, NULL);
	if (fd < 0)
		return;
	if (o->nc == CONNS) {
		close(fd);
		return;
	}
	memset(&o->c[o->nc], 0, sizeof o->c[o->nc]);
	o->c[o->nc++].fd = fd;
	pthread_mutex_lock(&o->mu);
	o->conns++;
	pthread_mutex_unlock(&o->mu);
}

static void *origin_main(void *arg)
{
	struct origin *o = arg;
	while (!o->stop) {
		struct pollfd pfd[CONNS + 1];
		int n = o->nc;
		pfd[0] = (struct pollfd){ o->fd, POLLIN, 0 };
		for (int i = 0; i < n; i++)
			pfd[i + 1] = (struct pollfd){ o->c[i].fd, POLLIN, 0 };
		if (poll(pfd, (nfds_t)n + 1, 5) < 0)
			continue;
		/* downwards: a drop moves the last connection into i, already seen */
		for (int i = n - 1; i >= 0; i--)
			if (pfd[i + 1].revents != 0)
				conn_read(o, i);
			else if (o->c[i].close_at != 0 && now_ms() >= o->c[i].close_at)
				drop(o, i);
		if (pfd[0].revents & POLLIN)
			accept_one(o);
	}
	return NULL;
}

static void origin_start(struct origin *o, enum mode m)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)&o->addr.sa;
	socklen_t len = sizeof *sin;
	memset(o, 0, sizeof *o);
	pthread_mutex_init(&o->mu, NULL);
	o->mode = m;
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	o->fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(o->fd >= 0);
	assert_int_equal(bind(o->fd, (struct sockaddr *)sin, sizeof *sin), 0);
	assert_int_equal(listen(o->fd, 16), 0);
	assert_int_equal(getsockname(o->fd, (struct sockaddr *)sin, &len), 0);
	o->addr.len = len;
	snprintf(o->addr.text, sizeof o->addr.text, "127.0.0.1:%u", ntohs(sin->sin_port));
	assert_int_equal(pthread_create(&o->thread, NULL, origin_main, o), 0);
}

/* The server dies: its port refuses, its connections close. */
static void origin_stop(struct origin *o)
{
	o->stop = 1;
	pthread_join(o->thread, NULL);
	close(o->fd);
	while (o->nc > 0)
		drop(o, 0);
	pthread_mutex_destroy(&o->mu);
}

static int origin_requests(struct origin *o)
{
	int n;
	pthread_mutex_lock(&o->mu);
	n = o->requests;
	pthread_mutex_unlock(&o->mu);
	return n;
}

static int origin_conns(struct origin *o)
{
	int n;
	pthread_mutex_lock(&o->mu);
	n = o->conns;
	pthread_mutex_unlock(&o->mu);
	return n;
}

static void origin_mode(struct origin *o, enum mode m)
{
	pthread_mutex_lock(&o->mu);
	o->mode = m;
	pthread_mutex_unlock(&o->mu);
}

/* An address nothing listens on: a port bound, never listened on, then closed. */
static struct cfg_addr refused(void)
{
	struct cfg_addr a;
	struct sockaddr_in *sin = (struct sockaddr_in *)&a.sa;
	socklen_t len = sizeof *sin;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&a, 0, sizeof a);
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)sin, sizeof *sin), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)sin, &len), 0);
	a.len = len;
	snprintf(a.text, sizeof a.text, "127.0.0.1:%u", ntohs(sin->sin_port));
	close(fd);
	return a;
}

static struct hc_params probe_params(void)
{
	struct hc_params p;
	memset(&p, 0, sizeof p);
	p.delay_ms = 50;
	p.timeout_ms = 200;
	snprintf(p.method, sizeof p.method, "GET");
	snprintf(p.path, sizeof p.path, "/health?x=1");
	snprintf(p.host, sizeof p.host, "check.example");
	p.status_classes = 1u << 2 | 1u << 3;
	return p;
}

/* Waits (bounded: 10 s) until t's verdict is up. */
static void wait_verdict(const struct hc_target *t, int up)
{
	for (int i = 0; i < 1000 && hc_target_up(t) != up; i++)
		usleep(10000);
	assert_int_equal(hc_target_up(t), up);
}

/* Waits (bounded: 10 s) until t has finished n probes. */
static void wait_probes(const struct hc_target *t, uint64_t n)
{
	struct hc_snap s;
	for (int i = 0; i < 1000; i++) {
		hc_target_read(t, &s);
		if (s.probes >= n)
			return;
		usleep(10000);
	}
	fail_msg("%llu probes, not %llu", (unsigned long long)s.probes, (unsigned long long)n);
}

struct fixture {
	struct ups_reg *reg;
	struct hc_checker *c;
};

static int setup(void **state)
{
	static struct fixture f;
	char err[128];
	f.reg = ups_reg_new();
	f.c = hc_start(f.reg, err, sizeof err);
	*state = &f;
	return f.reg != NULL && f.c != NULL ? 0 : -1;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	hc_stop(f->c);
	assert_int_equal(ups_reg_count(f->reg), 0);     /* every target let its server go */
	ups_reg_unref(f->reg);
	return 0;
}

/* The request is hc.h's, byte for byte (keep-alive asked for), and a 200 keeps the target up. */
static void test_probe_sends_the_params_and_200_is_up(void **state)
{
	struct fixture *f = *state;
	struct hc_params p = probe_params();
	struct origin o;
	struct hc_target *t;
	struct hc_snap s;
	origin_start(&o, ANSWER_200);
	t = hc_target_get(f->c, &o.addr, &p);
	assert_non_null(t);
	assert_int_equal(hc_target_up(t), 1);           /* a new target starts up */
	wait_probes(t, 3);
	hc_target_read(t, &s);
	assert_int_equal(s.up, 1);
	assert_int_equal(s.probe_failures, 0);
	assert_int_equal(s.transitions, 0);
	assert_string_equal(s.origin, o.addr.text);
	assert_string_equal(s.last_error, "");
	uint64_t n = 0;
	for (int i = 0; i < 13; i++)
		n += s.latency[i];
	assert_true(n >= 3);
	pthread_mutex_lock(&o.mu);
	assert_string_equal(o.first, "GET /health?x=1 HTTP/1.1\r\nHost: check.example\r\n"
		"Connection: keep-alive\r\nUser-Agent: gaapd-health\r\n\r\n");
	pthread_mutex_unlock(&o.mu);
	hc_target_put(t);
	origin_stop(&o);
}

/* A server that passive health took out (a request's failure, for a minute) is back for requests
 * at the next good probe: the checks decide when it returns. */
static void test_a_good_probe_ends_a_passive_ejection(void **state)
{
	struct fixture *f = *state;
	struct hc_params p = probe_params();
	struct origin o;
	struct hc_target *t;
	struct ups_server *srv;
	uint64_t seen;
	struct hc_snap s;
	origin_start(&o, ANSWER_200);
	t = hc_target_get(f->c, &o.addr, &p);
	srv = ups_server_get(f->reg, &o.addr);          /* the same shared server */
	assert_non_null(t);
	assert_non_null(srv);
	assert_int_equal(ups_server_failed(srv, 1, 60000), 1);
	assert_int_equal(ups_server_up(srv, ups_now_ms()), 0);
	hc_target_read(t, &s);
	seen = s.probes;
	wait_probes(t, seen + 1);
	assert_int_equal(ups_server_up(srv, ups_now_ms()), 1);
	ups_server_put(srv);
	hc_target_put(t);
	origin_stop(&o);
}

static void test_bad_status_is_down_after_three_then_up_after_two(void **state)
{
	struct fixture *f = *state;
	struct hc_params p = probe_params();
	struct origin o;
	struct hc_target *t;
	struct hc_snap s;
	p.status_classes = 1u << 2;                     /* 200 only: 503 and 3xx are failures */
	origin_start(&o, ANSWER_503);
	t = hc_target_get(f->c, &o.addr, &p);
	wait_verdict(t, 0);
	hc_target_read(t, &s);
	assert_true(s.probe_failures >= HC_FALL);
	assert_int_equal(s.transitions, 1);
	assert_string_equal(s.last_error, "status 503");
	origin_mode(&o, ANSWER_200);                    /* it comes back */
	wait_verdict(t, 1);
	hc_target_read(t, &s);
	assert_int_equal(s.transitions, 2);
	hc_target_put(t);
	origin_stop(&o);
}

static void test_silent_server_times_out(void **state)
{
	struct fixture *f = *state;
	struct hc_params p = probe_params();
	struct origin o;
	struct hc_target *t;
	struct hc_snap s;
	p.timeout_ms = 100;
	origin_start(&o, SILENT);
	t = hc_target_get(f->c, &o.addr, &p);
	wait_verdict(t, 0);
	hc_target_read(t, &s);
	assert_string_equal(s.last_error, "timeout");
	assert_true(origin_requests(&o) >= 1);          /* it was connected, and asked */
	hc_target_put(t);
	origin_stop(&o);
}

/* A probe lasting longer than delay_ms is not doubled: one connection at a time, each held for
 * timeout_ms (which a deadline never cuts short), so at most one per timeout_ms since the start. */
static void test_slow_probe_is_not_doubled(void **state)
{
	struct fixture *f = *state;
	struct hc_params p = probe_params();
	struct origin o;
	struct hc_target *t;
	int64_t start;
	int n;
	p.timeout_ms = 300;
	origin_start(&o, SILENT);
	start = now_ms();
	t = hc_target_get(f->c, &o.addr, &p);
	usleep(1000000);
	n = origin_requests(&o);
	assert_true(n >= 1);
	assert_true(n <= (now_ms() - start) / 300 + 1);
	hc_target_put(t);
	origin_stop(&o);
}

static void test_refused_port_is_down(void **state)
{
	struct fixture *f = *state;
	struct hc_params p = probe_params();
	struct cfg_addr a = refused();
	struct hc_target *t = hc_target_get(f->c, &a, &p);
	struct hc_snap s;
	wait_verdict(t, 0);
	hc_target_read(t, &s);
	assert_string_equal(s.last_error, "connect: Connection refused");
	assert_int_equal(s.latency_sum_us, 0);          /* no status line, no latency */
	hc_target_put(t);
}

/* A DNS name nobody has resolved (no resolver here): every probe fails at once. */
static void test_name_without_address_is_down(void **state)
{
	struct fixture *f = *state;
	struct hc_params p = probe_params();
	struct cfg_addr a;
	struct hc_target *t;
	struct hc_snap s;
	memset(&a, 0, sizeof a);
	snprintf(a.text, sizeof a.text, "origin.invalid:80");
	t = hc_target_get(f->c, &a, &p);
	assert_non_null(t);
	wait_verdict(t, 0);
	hc_target_read(t, &s);
	assert_string_equal(s.last_error, "does not resolve");
	assert_string_equal(s.origin, "origin.invalid:80");
	hc_target_put(t);
}

/* Requests' failures reach the verdict through the lock-free counter at the next tick. */
static void test_request_failures_take_it_down_with_a_threshold(void **state)
{
	struct fixture *f = *state;
	struct hc_params p = probe_params();
	struct origin o;
	struct hc_target *t;
	p.fail_threshold = 3;
	p.fail_window_ms = 60000;
	p.block_ms = 300;
	origin_start(&o, ANSWER_200);
	t = hc_target_get(f->c, &o.addr, &p);
	wait_probes(t, 1);
	for (int i = 0; i < 3; i++)
		hc_target_failed(t);
	wait_verdict(t, 0);
	wait_verdict(t, 1);                             /* the block ends; a good probe */
	hc_target_put(t);
	origin_stop(&o);
}

static void count_target(const struct hc_target *t, void *arg)
{
	struct hc_snap s;
	hc_target_read(t, &s);          /* allowed under hc_each's lock */
	++*(int *)arg;
}

/* Equal params on one server are one target: one probe per interval, however many hold it.
 * (At most one request per delay_ms since the first, and one more for the jitter: an upper
 * bound a slow machine can only stay under.) */
static void test_equal_params_share_one_target(void **state)
{
	struct fixture *f = *state;
	struct hc_params p = probe_params(), q = probe_params();
	struct origin o;
	struct hc_target *t, *u, *v;
	int64_t start;
	int n;
	p.delay_ms = q.delay_ms = 100;
	memset(q.path + strlen(q.path) + 1, 'x', 8);    /* bytes past the string do not count */
	q.block_ms = 600000;                            /* meaningless without a threshold */
	origin_start(&o, ANSWER_200);
	start = now_ms();
	t = hc_target_get(f->c, &o.addr, &p);
	u = hc_target_get(f->c, &o.addr, &q);
	assert_ptr_equal(t, u);
	q.status_classes = 1u << 2;
	v = hc_target_get(f->c, &o.addr, &q);           /* other params: a target of its own */
	assert_ptr_not_equal(t, v);
	n = 0;
	hc_each(f->c, count_target, &n);
	assert_int_equal(n, 2);
	hc_target_put(v);
	usleep(1000000);
	n = origin_requests(&o);
	assert_true(n >= 1);
	assert_true(n <= (now_ms() - start) / 100 + 2);
	hc_target_put(t);
	assert_int_equal(hc_target_up(u), 1);           /* u's reference keeps it */
	hc_target_put(u);
	origin_stop(&o);
}

/* The last put ends the probes: the server hears nothing more. */
static void test_last_put_stops_the_probes(void **state)
{
	struct fixture *f = *state;
	struct hc_params p = probe_params();
	struct origin o;
	struct hc_target *t;
	int n;
	origin_start(&o, ANSWER_200);
	t = hc_target_get(f->c, &o.addr, &p);
	wait_probes(t, 2);
	hc_target_put(t);
	usleep(300000);         /* the checker's mailbox runs; a probe in flight ends */
	n = origin_requests(&o);
	usleep(500000);                                 /* ten intervals */
	assert_int_equal(origin_requests(&o), n);
	origin_stop(&o);
}

/* ---- kept connections ---- */

/* Runs t against o until n probes have finished; the snapshot then. */
static void probe_until(struct hc_target *t, uint64_t n, struct hc_snap *s)
{
	wait_probes(t, n);
	hc_target_read(t, s);
}

/* A server that keeps connections sees every probe on the first one. */
static void test_keepalive_server_sees_probes_on_one_connection(void **state)
{
	struct fixture *f = *state;
	struct hc_params p = probe_params();
	struct origin o;
	struct hc_target *t;
	struct hc_snap s;
	origin_start(&o, ANSWER_200);
	t = hc_target_get(f->c, &o.addr, &p);
	probe_until(t, 6, &s);
	assert_int_equal(s.probe_failures, 0);
	assert_true(origin_requests(&o) >= 6);
	assert_int_equal(origin_conns(&o), 1);
	hc_target_put(t);
	origin_stop(&o);
}

/* Servers that do not keep the connection: probes connect anew and nothing fails. */
static void expect_new_connections(struct fixture *f, enum mode m)
{
	struct hc_params p = probe_params();
	struct origin o;
	struct hc_target *t;
	struct hc_snap s;
	origin_start(&o, m);
	t = hc_target_get(f->c, &o.addr, &p);
	probe_until(t, 5, &s);
	assert_int_equal(s.up, 1);
	assert_int_equal(s.probe_failures, 0);
	assert_string_equal(s.last_error, "");
	assert_true(origin_conns(&o) >= 3);
	hc_target_put(t);
	origin_stop(&o);
}

/* The server closes after each answer (without saying so): the idle connection's end is seen. */
static void test_server_closing_after_each_answer_stays_up(void **state)
{
	expect_new_connections(*state, CLOSE_EACH);
}

/* HTTP/1.0 without keep-alive: the checker closes, whatever the server does. */
static void test_http10_answer_is_not_kept(void **state)
{
	struct fixture *f = *state;
	struct hc_params p = probe_params();
	struct origin o;
	struct hc_target *t;
	struct hc_snap s;
	origin_start(&o, HTTP10);
	t = hc_target_get(f->c, &o.addr, &p);
	probe_until(t, 4, &s);
	assert_int_equal(s.probe_failures, 0);
	assert_true(origin_requests(&o) >= 4);
	assert_true(origin_conns(&o) >= origin_requests(&o) - 1);   /* - 1: read in between */
	hc_target_put(t);
	origin_stop(&o);
}

/* The server closes the kept connection as the next request comes (an idle timeout's race): the
 * probe is retried on a new connection and does not fail. */
static void test_kept_connection_closed_on_request_is_retried(void **state)
{
	expect_new_connections(*state, DROP_SECOND);
}

/* The server closes the kept connection while idle: forgotten, the next probe connects anew. */
static void test_kept_connection_closed_while_idle_stays_up(void **state)
{
	expect_new_connections(*state, IDLE_CLOSE);
}

/* A GET's body, by Content-Length or chunked (in two reads, with a trailer), read to its end:
 * the connection serves the next probes. */
static void expect_one_connection(struct fixture *f, enum mode m)
{
	struct hc_params p = probe_params();
	struct origin o;
	struct hc_target *t;
	struct hc_snap s;
	origin_start(&o, m);
	t = hc_target_get(f->c, &o.addr, &p);
	probe_until(t, 4, &s);
	assert_int_equal(s.up, 1);
	assert_int_equal(s.probe_failures, 0);
	assert_int_equal(origin_conns(&o), 1);
	hc_target_put(t);
	origin_stop(&o);
}

static void test_content_length_body_is_read(void **state)
{
	expect_one_connection(*state, BODY_CL);
}

static void test_chunked_body_is_read(void **state)
{
	expect_one_connection(*state, BODY_CHUNKED);
}

/* A body past the bound is not drained: the status decides, the connection goes. */
static void test_huge_body_is_not_drained(void **state)
{
	expect_new_connections(*state, BODY_HUGE);
}

/* The server dies with a connection kept: the connection's end is no failure, the refused
 * connects are, and three of them take the target down. */
static void test_dead_server_with_kept_connection_goes_down(void **state)
{
	struct fixture *f = *state;
	struct hc_params p = probe_params();
	struct origin o;
	struct hc_target *t;
	struct hc_snap s;
	uint64_t probes;
	origin_start(&o, ANSWER_200);
	t = hc_target_get(f->c, &o.addr, &p);
	probe_until(t, 3, &s);
	assert_int_equal(s.probe_failures, 0);
	assert_int_equal(origin_conns(&o), 1);
	probes = s.probes;
	origin_stop(&o);
	wait_verdict(t, 0);
	hc_target_read(t, &s);
	assert_int_equal(s.transitions, 1);
	assert_true(s.probe_failures >= HC_FALL);
	assert_true(s.probes - probes >= s.probe_failures);     /* one failure per probe at most */
	assert_string_equal(s.last_error, "connect: Connection refused");
	hc_target_put(t);
}

/* hc_stop() with targets referenced and probes in flight: they stay readable, frozen, and their
 * last puts free them (ASan: nothing leaks, nothing is used after free). */
static void test_stop_with_targets_alive(void **state)
{
	struct ups_reg *reg = ups_reg_new();
	struct hc_params p = probe_params();
	struct origin o, q;
	struct hc_target *t, *u, *w;
	struct hc_checker *c;
	struct hc_snap s;
	char err[128];
	(void)state;
	c = hc_start(reg, err, sizeof err);
	assert_non_null(c);
	origin_start(&o, ANSWER_200);
	origin_start(&q, SILENT);
	p.timeout_ms = 5000;                            /* q's probe is in flight at the stop */
	t = hc_target_get(c, &o.addr, &p);
	u = hc_target_get(c, &q.addr, &p);
	w = hc_target_get(c, &o.addr, &p);
	wait_probes(t, 1);
	for (int i = 0; i < 500 && origin_requests(&q) == 0; i++)
		usleep(10000);
	hc_target_put(w);
	hc_stop(c);
	hc_target_read(t, &s);
	assert_int_equal(s.up, 1);
	hc_target_read(u, &s);
	assert_int_equal(s.up, 1);
	assert_int_equal(s.probes, 0);
	hc_target_put(t);
	hc_target_put(u);
	assert_int_equal(ups_reg_count(reg), 0);
	ups_reg_unref(reg);
	origin_stop(&o);
	origin_stop(&q);
}

/* No checker (unit tests of routes): no target, and NULL reads up. */
static void test_no_checker(void **state)
{
	struct hc_params p = probe_params();
	struct cfg_addr a = refused();
	struct hc_snap s;
	(void)state;
	assert_null(hc_target_get(NULL, &a, &p));
	assert_int_equal(hc_target_up(NULL), 1);
	hc_target_failed(NULL);
	hc_target_put(NULL);
	hc_target_read(NULL, &s);
	assert_int_equal(s.up, 1);
	hc_stop(NULL);
}

int main(void)
{
	const struct CMUnitTest verdicts[] = {
		cmocka_unit_test(test_falls_after_three_and_rises_after_two),
		cmocka_unit_test(test_flapping_changes_nothing),
		cmocka_unit_test(test_requests_do_not_count_without_a_threshold),
		cmocka_unit_test(test_threshold_counts_within_the_window_only),
		cmocka_unit_test(test_threshold_ignores_good_probes_between),
		cmocka_unit_test(test_block_holds_then_first_good_probe_is_up),
		cmocka_unit_test(test_requests_count_with_a_threshold),
		cmocka_unit_test(test_threshold_is_capped),
		cmocka_unit_test(test_no_checker),
		cmocka_unit_test(test_stop_with_targets_alive),
	};
	const struct CMUnitTest probes[] = {
		cmocka_unit_test(test_probe_sends_the_params_and_200_is_up),
		cmocka_unit_test(test_a_good_probe_ends_a_passive_ejection),
		cmocka_unit_test(test_bad_status_is_down_after_three_then_up_after_two),
		cmocka_unit_test(test_silent_server_times_out),
		cmocka_unit_test(test_slow_probe_is_not_doubled),
		cmocka_unit_test(test_refused_port_is_down),
		cmocka_unit_test(test_name_without_address_is_down),
		cmocka_unit_test(test_request_failures_take_it_down_with_a_threshold),
		cmocka_unit_test(test_equal_params_share_one_target),
		cmocka_unit_test(test_last_put_stops_the_probes),
		cmocka_unit_test(test_keepalive_server_sees_probes_on_one_connection),
		cmocka_unit_test(test_server_closing_after_each_answer_stays_up),
		cmocka_unit_test(test_http10_answer_is_not_kept),
		cmocka_unit_test(test_kept_connection_closed_on_request_is_retried),
		cmocka_unit_test(test_kept_connection_closed_while_idle_stays_up),
		cmocka_unit_test(test_content_length_body_is_read),
		cmocka_unit_test(test_chunked_body_is_read),
		cmocka_unit_test(test_huge_body_is_not_drained),
		cmocka_unit_test(test_dead_server_with_kept_connection_goes_down),
	};
	if (evthread_use_pthreads() != 0)
		return 1;
	return cmocka_run_group_tests(verdicts, NULL, NULL) |
		cmocka_run_group_tests(probes, setup, teardown);
}
