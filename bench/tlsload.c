/* bench/tlsload.c - the TLS load client of bench/run (workloads h-m): one thread, one epoll loop,
 *   OpenSSL, non-blocking; what wrk cannot be told (a full handshake on every connection, or a
 *   resumed one on purpose, and the cipher suite and group offered).
 *
 *   build/bench_tlsload conn  -p PORT [-c CONNS] [-d SECONDS] [-P PATH] [-s SNI] [-r]
 *   build/bench_tlsload keep  -p PORT [-c CONNS] [-d SECONDS] [-P PATH] [-s SNI]
 *   build/bench_tlsload idle  -p PORT -n COUNT [-s SNI]
 *   common: [--suites TLS_AES_128_GCM_SHA256] [--groups X25519] [--tls12-ciphers LIST]
 *   conn, keep: [-W SECONDS] a warm-up first, then "warm" on stdout and a wait for a line on
 *               stdin (bench/profile zeroes callgrind's counters there), then the measured run on
 *               the same connections
 *
 * conn: CONNS connections at a time, each a TCP connect, a TLS handshake, one GET with
 *   "Connection: close", the whole response, the server's close (its close_notify or FIN), our
 *   close_notify and close; then the next. Without -r every handshake is a full one: each
 *   connection has a new SSL and no session (the client's session cache is off). With -r each
 *   slot offers the session (TLS 1.3 ticket) of its previous connection: resumed handshakes; the
 *   first of each slot is full. Latency: connect() to the response's last byte (the handshake
 *   included, unlike wrk's).
 * keep: CONNS keep-alive connections, one GET at a time each, for SECONDS; latency from the
 *   request's first byte written to the response's last byte read (as wrk measures).
 * idle: COUNT connections (200 handshakes in flight at most), one GET /small each, kept open and
 *   silent; prints "ready OPEN FAILED", holds them until stdin closes, closes them.
 *
 * conn and keep print one line "BENCH {json}" with bench/wrk.lua's keys (requests, bytes,
 * errors by kind, p50/p99/max/mean in microseconds) plus handshakes, resumed, and the protocol,
 * suite and group of the last handshake, so that bench/run checks what was negotiated, and
 * client_cpu_us, this process's own CPU (user + system): whether the client was the limit.
 * The certificate is not verified (as wrk): the figure is the proxy's cost, and the same files
 * are served by every target. Responses: Content-Length or the end of the connection; status
 * other than 2xx counts in "status". A request without an answer in 10 s counts in "timeout".
 * Loopback only (127.0.0.1). Single-threaded: no locks; SIGPIPE ignored.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#define TIMEOUT_NS (10 * 1000000000LL)
#define IDLE_BATCH 200

enum mode { M_CONN, M_KEEP, M_IDLE };
enum st { S_CONNECT, S_HANDSHAKE, S_SEND, S_RECV, S_DRAIN, S_HELD };

struct conn {
	int fd;
	SSL *ssl;
	SSL_SESSION *sess;          /* -r: the previous connection's session, offered next */
	enum st st;
	uint32_t events;            /* what epoll waits for now */
	size_t sent;
	char head[4096];            /* the response head until its blank line */
	size_t head_len;
	int head_done, status;
	long long clen, got;        /* Content-Length (-1: until the close), body bytes read */
	long long t_start, t_req;   /* connect (conn) / request written first (keep), ns */
};

static struct {
	enum mode mode;
	int port, conns, seconds, resume, count, warm;
	const char *path, *sni, *suites, *groups, *ciphers12;
	SSL_CTX *ctx;
	int ep;
	char req[512];
	size_t req_len;
	long long end_ns;
	int stopping;
	/* figures */
	long long requests, bytes, handshakes, resumed;
	long long e_connect, e_read, e_write, e_status, e_timeout;
	uint32_t *lat;              /* microseconds per request */
	size_t nlat, caplat;
	char proto[32], suite[64], group[32];
	int held, failed, pending;
} g;

static long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void lat_add(long long ns)
{
	if (g.nlat == g.caplat) {
		g.caplat = g.caplat ? 2 * g.caplat : 65536;
		g.lat = realloc(g.lat, g.caplat * sizeof *g.lat);
		if (g.lat == NULL) {
			perror("realloc");
			exit(2);
		}
	}
	g.lat[g.nlat++] = (uint32_t)(ns / 1000);
}

static void want(struct conn *c, uint32_t ev)
{
	if (c->events == ev)
		return;
	struct epoll_event e = { .events = ev, .data.ptr = c };
	epoll_ctl(g.ep, c->events ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, c->fd, &e);
	c->events = ev;
}

static void conn_close(struct conn *c)
{
	if (c->ssl != NULL) {
		if (c->st == S_DRAIN)
			SSL_shutdown(c->ssl);   /* a clean close keeps the session resumable */
		if (g.resume && c->st == S_DRAIN) {
			SSL_SESSION_free(c->sess);
			c->sess = SSL_get1_session(c->ssl);
		}
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->events = 0;
}

/* A new connection on slot c: a non-blocking connect; 0, or -1 counted as a connect error. */
static int conn_open(struct conn *c)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)g.port),
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;
	if (c->fd >= 0)
		setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (c->fd < 0 || (connect(c->fd, (struct sockaddr *)&a, sizeof a) != 0 &&
			errno != EINPROGRESS)) {
		if (c->fd >= 0)
			close(c->fd);
		c->fd = -1;
		g.e_connect++;
		return -1;
	}
	c->ssl = SSL_new(g.ctx);
	SSL_set_fd(c->ssl, c->fd);
	SSL_set_tlsext_host_name(c->ssl, g.sni);
	if (g.resume && c->sess != NULL)
		SSL_set_session(c->ssl, c->sess);
	c->st = S_CONNECT;
	c->t_start = now_ns();
	c->events = 0;
	want(c, EPOLLOUT);
	return 0;
}

static void record_handshake(struct conn *c)
{
	g.handshakes++;
	if (SSL_session_reused(c->ssl))
		g.resumed++;
	snprintf(g.proto, sizeof g.proto, "%s", SSL_get_version(c->ssl));
	snprintf(g.suite, sizeof g.suite, "%s", SSL_get_cipher_name(c->ssl));
	int nid = SSL_get_negotiated_group(c->ssl);
	const char *gn = nid > 0 ? SSL_group_to_name(c->ssl, nid) : NULL;
	snprintf(g.group, sizeof g.group, "%s", gn ? gn : "?");
}

static void request_begin(struct conn *c)
{
	c->st = S_SEND;
	c->sent = 0;
	c->head_len = 0;
	c->head_done = 0;
	c->status = 0;
	c->clen = -1;
	c->got = 0;
	c->t_req = now_ns();
}

/* The response head complete in c->head: its status and Content-Length. */
static void head_parse(struct conn *c)
{
	c->head[c->head_len] = '\0';
	c->status = atoi(c->head + 9);
	for (char *l = strstr(c->head, "\r\n"); l != NULL; l = strstr(l + 2, "\r\n")) {
		if (strncasecmp(l + 2, "content-length:", 15) == 0)
			c->clen = atoll(l + 17);
	}
}

/* Bytes of a response: the head first (into c->head), then the body (counted). */
static void response_feed(struct conn *c, const char *buf, size_t n)
{
	g.bytes += (long long)n;
	if (!c->head_done) {
		size_t room = sizeof c->head - 1 - c->head_len;
		size_t take = n < room ? n : room;
		memcpy(c->head + c->head_len, buf, take);
		c->head_len += take;
		c->head[c->head_len] = '\0';
		char *end = strstr(c->head, "\r\n\r\n");
		if (end == NULL)
			return;
		size_t hl = (size_t)(end + 4 - c->head);
		size_t body = c->head_len - hl;
		c->head_len = hl;
		c->head_done = 1;
		head_parse(c);
		c->got = (long long)body + (long long)(n - take);
		return;
	}
	c->got += (long long)n;
}

static int response_done(const struct conn *c)
{
	return c->head_done && c->clen >= 0 && c->got >= c->clen;
}

static void response_end(struct conn *c)
{
	long long t = now_ns();
	g.requests++;
	if (c->status < 200 || c->status > 299)
		g.e_status++;
	if (g.mode != M_IDLE)
		lat_add(t - (g.mode == M_CONN ? c->t_start : c->t_req));
}

/* After an error or the end of a connection: the next one on this slot, unless stopping. */
static void conn_next(struct conn *c)
{
	conn_close(c);
	if (g.mode == M_IDLE) {
		g.failed++;
		g.pending--;
		return;
	}
	if (!g.stopping)
		conn_open(c);
}

/* SSL said no progress: wait for what it wants; -1 on a real error (counted as kind). */
static int ssl_wait(struct conn *c, int rc, long long *kind)
{
	switch (SSL_get_error(c->ssl, rc)) {
	case SSL_ERROR_WANT_READ:
		want(c, EPOLLIN);
		return 0;
	case SSL_ERROR_WANT_WRITE:
		want(c, EPOLLOUT);
		return 0;
	default:
		ERR_clear_error();
		(*kind)++;
		return -1;
	}
}

static void conn_step(struct conn *c);

/* Reads what TLS has; the response's end moves the connection on. */
static void recv_step(struct conn *c)
{
	static char buf[64 * 1024];
	for (;;) {
		size_t n = 0;
		int rc = SSL_read_ex(c->ssl, buf, sizeof buf, &n);
		if (rc != 1) {
			int e = SSL_get_error(c->ssl, rc);
			if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
				want(c, e == SSL_ERROR_WANT_READ ? EPOLLIN : EPOLLOUT);
				return;
			}
			ERR_clear_error();
			if (c->st == S_RECV && c->head_done && c->clen < 0) {
				response_end(c);        /* a body delimited by the close */
				c->st = S_DRAIN;
			} else if (c->st == S_RECV) {
				g.e_read++;
			} else if (c->st == S_HELD) {
				g.held--;
				g.failed++;
				conn_close(c);
				return;
			}
			conn_next(c);
			return;
		}
		if (c->st != S_RECV)
			continue;               /* after the response (conn) or while held: dropped */
		response_feed(c, buf, n);
		if (!response_done(c))
			continue;
		response_end(c);
		if (g.mode == M_CONN) {
			c->st = S_DRAIN;        /* until the server's close */
		} else if (g.mode == M_IDLE) {
			c->st = S_HELD;
			g.held++;
			g.pending--;
		} else {
			request_begin(c);
			conn_step(c);
			return;
		}
	}
}

static void conn_step(struct conn *c)
{
	int rc, err = 0;
	socklen_t len = sizeof err;
	size_t w = 0;
	switch (c->st) {
	case S_CONNECT:
		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
			g.e_connect++;
			conn_next(c);
			return;
		}
		c->st = S_HANDSHAKE;
		/* fall through */
	case S_HANDSHAKE:
		rc = SSL_connect(c->ssl);
		if (rc != 1) {
			if (ssl_wait(c, rc, &g.e_connect) != 0)
				conn_next(c);
			return;
		}
		record_handshake(c);
		request_begin(c);
		/* fall through */
	case S_SEND:
		rc = SSL_write_ex(c->ssl, g.req + c->sent, g.req_len - c->sent, &w);
		if (rc != 1) {
			if (ssl_wait(c, rc, &g.e_write) != 0)
				conn_next(c);
			return;
		}
		c->sent += w;
		if (c->sent < g.req_len) {
			want(c, EPOLLOUT);
			return;
		}
		c->st = S_RECV;
		want(c, EPOLLIN);
		/* fall through */
	default:
		recv_step(c);
	}
}

/* Requests unanswered for 10 s count as timeouts; their slots start again. */
static void timeouts(struct conn *cs, int n, long long t)
{
	for (int i = 0; i < n; i++) {
		struct conn *c = &cs[i];
		if (c->fd < 0 || c->st == S_HELD)
			continue;
		long long since = c->st >= S_SEND && g.mode == M_KEEP ? c->t_req : c->t_start;
		if (t - since > TIMEOUT_NS) {
			g.e_timeout++;
			if (g.mode == M_IDLE)
				g.failed--;     /* conn_next counts it failed; it is a timeout */
			conn_next(c);
			if (g.mode == M_IDLE)
				g.failed++;
		}
	}
}

static void loop_once(struct conn *cs, int n, int wait_ms)
{
	struct epoll_event ev[256];
	int k = epoll_wait(g.ep, ev, 256, wait_ms);
	for (int i = 0; i < k; i++)
		conn_step(ev[i].data.ptr);
	static long long last;
	long long t = now_ns();
	if (t - last > 100000000LL) {
		timeouts(cs, n, t);
		last = t;
	}
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

static uint32_t pct(double p)
{
	if (g.nlat == 0)
		return 0;
	size_t i = (size_t)(p / 100.0 * (double)(g.nlat - 1) + 0.5);
	return g.lat[i];
}

static void report(long long dur_ns)
{
	double mean = 0;
	for (size_t i = 0; i < g.nlat; i++)
		mean += g.lat[i];
	mean = g.nlat ? mean / (double)g.nlat : 0;
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	long long cpu_us = (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000LL +
		ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
	qsort(g.lat, g.nlat, sizeof *g.lat, cmp_u32);
	printf("BENCH {\"duration_us\": %lld, \"requests\": %lld, \"bytes\": %lld, "
		"\"connect\": %lld, \"read\": %lld, \"write\": %lld, \"status\": %lld, "
		"\"timeout\": %lld, \"p50_us\": %u, \"p99_us\": %u, \"max_us\": %u, "
		"\"mean_us\": %.1f, \"handshakes\": %lld, \"resumed\": %lld, \"proto\": \"%s\", "
		"\"suite\": \"%s\", \"group\": \"%s\", \"client_cpu_us\": %lld}\n",
		dur_ns / 1000, g.requests, g.bytes, g.e_connect, g.e_read, g.e_write, g.e_status,
		g.e_timeout, pct(50), pct(99), g.nlat ? g.lat[g.nlat - 1] : 0, mean, g.handshakes,
		g.resumed, g.proto, g.suite, g.group, cpu_us);
	fflush(stdout);
}

/* Everything a run holds, so that sanitizer builds exit clean. */
static void conns_free(struct conn *cs, int n)
{
	for (int i = 0; i < n; i++) {
		conn_close(&cs[i]);
		SSL_SESSION_free(cs[i].sess);
	}
	free(cs);
}

/* -W: the warm-up's figures forgotten once the caller says go (a line on stdin). */
static void warm_up(struct conn *cs)
{
	long long end = now_ns() + g.warm * 1000000000LL;
	while (now_ns() < end)
		loop_once(cs, g.conns, 10);
	printf("warm\n");
	fflush(stdout);
	char b[64];
	if (read(0, b, sizeof b) < 0)
		perror("stdin");
	g.requests = g.bytes = g.handshakes = g.resumed = 0;
	g.e_connect = g.e_read = g.e_write = g.e_status = g.e_timeout = 0;
	g.nlat = 0;
}

/* conn and keep: g.conns slots for g.seconds. */
static int run_load(void)
{
	struct conn *cs = calloc((size_t)g.conns, sizeof *cs);
	if (cs == NULL)
		return 2;
	for (int i = 0; i < g.conns; i++) {
		cs[i].fd = -1;
		conn_open(&cs[i]);
	}
	if (g.warm > 0)
		warm_up(cs);
	long long t0 = now_ns();
	g.end_ns = t0 + g.seconds * 1000000000LL;
	while (now_ns() < g.end_ns)
		loop_once(cs, g.conns, 10);
	long long dur = now_ns() - t0;
	g.stopping = 1;
	report(dur);
	conns_free(cs, g.conns);
	free(g.lat);
	return 0;
}

/* idle: g.count connections held until stdin closes. */
static int run_idle(void)
{
	struct conn *cs = calloc((size_t)g.count, sizeof *cs);
	if (cs == NULL)
		return 2;
	long long deadline = now_ns() + 90 * 1000000000LL;
	int next = 0;
	while (g.held + g.failed < g.count && now_ns() < deadline) {
		while (next < g.count && g.pending < IDLE_BATCH) {
			cs[next].fd = -1;
			g.pending++;
			if (conn_open(&cs[next++]) != 0) {
				g.pending--;
				g.failed++;
			}
		}
		loop_once(cs, next, 10);
	}
	printf("ready %d %d\n", g.held, g.count - g.held);
	fflush(stdout);
	char b[256];
	while (read(0, b, sizeof b) > 0)
		;
	g.stopping = 1;
	conns_free(cs, next);
	return 0;
}

static SSL_CTX *ctx_new(void)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	if (ctx == NULL)
		return NULL;
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	/* no client cache: a session is offered only where -r sets it */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	if (SSL_CTX_set_ciphersuites(ctx, g.suites) != 1 ||
			SSL_CTX_set1_groups_list(ctx, g.groups) != 1 ||
			SSL_CTX_set_cipher_list(ctx, g.ciphers12) != 1) {
		fprintf(stderr, "bench_tlsload: suites %s, groups %s or ciphers %s refused\n",
			g.suites, g.groups, g.ciphers12);
		SSL_CTX_free(ctx);
		return NULL;
	}
	static const unsigned char alpn[] = "\x08http/1.1";
	SSL_CTX_set_alpn_protos(ctx, alpn, sizeof alpn - 1);
	return ctx;
}

static int usage(void)
{
	fprintf(stderr, "usage: bench_tlsload conn|keep -p PORT [-c CONNS] [-d SECONDS] [-P PATH] "
		"[-s SNI] [-r]\n       bench_tlsload idle -p PORT -n COUNT [-s SNI]\n"
		"       common: [--suites LIST] [--groups LIST] [--tls12-ciphers LIST]\n");
	return 2;
}

static int parse(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "suites", required_argument, NULL, 'S' },
		{ "groups", required_argument, NULL, 'G' },
		{ "tls12-ciphers", required_argument, NULL, 'T' },
		{ 0, 0, 0, 0 },
	};
	if (argc < 2)
		return -1;
	if (strcmp(argv[1], "conn") == 0)
		g.mode = M_CONN;
	else if (strcmp(argv[1], "keep") == 0)
		g.mode = M_KEEP;
	else if (strcmp(argv[1], "idle") == 0)
		g.mode = M_IDLE;
	else
		return -1;
	g.conns = 64;
	g.seconds = 5;
	g.path = "/small";
	g.sni = "bench.test";
	g.suites = "TLS_AES_128_GCM_SHA256";
	g.groups = "X25519";
	g.ciphers12 = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256";
	int o;
	optind = 2;
	while ((o = getopt_long(argc, argv, "p:c:d:P:s:rn:W:", lo, NULL)) != -1) {
		switch (o) {
		case 'p': g.port = atoi(optarg); break;
		case 'c': g.conns = atoi(optarg); break;
		case 'd': g.seconds = atoi(optarg); break;
		case 'P': g.path = optarg; break;
		case 's': g.sni = optarg; break;
		case 'r': g.resume = 1; break;
		case 'n': g.count = atoi(optarg); break;
		case 'W': g.warm = atoi(optarg); break;
		case 'S': g.suites = optarg; break;
		case 'G': g.groups = optarg; break;
		case 'T': g.ciphers12 = optarg; break;
		default: return -1;
		}
	}
	if (g.port <= 0 || g.conns <= 0 || g.seconds <= 0 || (g.mode == M_IDLE && g.count <= 0))
		return -1;
	return 0;
}

int main(int argc, char **argv)
{
	if (parse(argc, argv) != 0)
		return usage();
	signal(SIGPIPE, SIG_IGN);
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	const char *path = g.mode == M_IDLE ? "/small" : g.path;
	int n = snprintf(g.req, sizeof g.req, "GET %s HTTP/1.1\r\nHost: %s\r\n%s\r\n", path, g.sni,
		g.mode == M_CONN ? "Connection: close\r\n" : "");
	if (n <= 0 || (size_t)n >= sizeof g.req)
		return usage();
	g.req_len = (size_t)n;
	g.ctx = ctx_new();
	g.ep = epoll_create1(EPOLL_CLOEXEC);
	if (g.ctx == NULL || g.ep < 0)
		return 2;
	int rc = g.mode == M_IDLE ? run_idle() : run_load();
	SSL_CTX_free(g.ctx);
	close(g.ep);
	return rc;
}
