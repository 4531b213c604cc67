/* tests/unit/test_tls.c - the TLS data plane with real handshakes on loopback: tls_srv (SNI,
 * versions, mTLS, ALPN, resumption) and the transport (a px_worker proxying HTTPS to a plain
 * origin: keep-alive, pipelining, a 1 MiB response, a slow reader, garbage and silent
 * handshakes). Certificates come from the openssl CLI into a temp dir. */
#include <arpa/inet.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/thread.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "proxy/px.h"
#include "tls/tls.h"
#include "test_files.h"
#include "upstream/ups.h"

static char dir[64];

static char *slurp(const char *name)
{
	return tf_slurp(dir, name);
}

/* ca, cca (client CA), a.test and b.test signed by ca, client signed by cca. */
static void make_certs(void)
{
	snprintf(dir, sizeof dir, "/tmp/test_tls_%ld", (long)getpid());
	tf_sh("mkdir -p %s", dir);
	static const char *const cas[] = { "ca", "cca", "cca2" };
	for (size_t i = 0; i < 3; i++)
		tf_sh("cd %s && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
			"-keyout %s.key -out %s.pem -days 2 -subj /CN=%s 2>/dev/null", dir, cas[i], cas[i],
			cas[i]);
	static const char *const leaves[][3] = {
		{ "a", "ca", "DNS:a.test" }, { "b", "ca", "DNS:b.test" },
		{ "client", "cca", "DNS:client" }, { "client2", "cca2", "DNS:client2" },
	};
	for (size_t i = 0; i < 4; i++)
		tf_sh("cd %s && openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
			"-keyout %s.key -out %s.csr -subj '/O=Test, Inc./CN=%s' 2>/dev/null && "
			"printf 'subjectAltName=%s\\n' > %s.ext && openssl x509 -req -in %s.csr "
			"-CA %s.pem -CAkey %s.key -CAcreateserial -days 2 -extfile %s.ext -out %s.pem "
			"2>/dev/null", dir, leaves[i][0], leaves[i][0], leaves[i][0], leaves[i][2],
			leaves[i][0], leaves[i][0], leaves[i][1], leaves[i][1], leaves[i][0], leaves[i][0]);
}

/* --- a plain origin: one thread per connection, keep-alive, GET only --- */

static SSL_CTX *origin_ctx;        /* the TLS origin's: a.test's certificate */

struct oio {
	int fd;
	SSL *ssl;
};

static ssize_t o_read(struct oio *io, void *b, size_t n)
{
	return io->ssl != NULL ? SSL_read(io->ssl, b, (int)n) : read(io->fd, b, n);
}

static ssize_t o_write(struct oio *io, const void *b, size_t n)
{
	return io->ssl != NULL ? SSL_write(io->ssl, b, (int)n) : write(io->fd, b, n);
}

/* A WebSocket origin: 101, then every byte back until the client ends, then its own end. */
static void origin_ws(struct oio *io, const char *rest, size_t n)
{
	static const char sw[] = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
		"Connection: Upgrade\r\n\r\n";
	char buf[4096];
	ssize_t got;
	if (o_write(io, sw, sizeof sw - 1) != (ssize_t)sizeof sw - 1 ||
	    (n > 0 && o_write(io, rest, n) != (ssize_t)n))
		return;
	while ((got = o_read(io, buf, sizeof buf)) > 0)
		if (o_write(io, buf, (size_t)got) != got)
			return;
}

static void *origin_conn(void *arg)
{
	struct oio io = { (int)(intptr_t)arg & 0xffff, NULL };
	int fd = io.fd;
	char buf[8192];
	if ((intptr_t)arg >> 16) {
		io.ssl = SSL_new(origin_ctx);
		SSL_set_fd(io.ssl, fd);
		if (SSL_accept(io.ssl) != 1)
			goto out;
	}
	size_t have = 0;
	for (;;) {
		char *end;
		ssize_t n;
		while ((end = memmem(buf, have, "\r\n\r\n", 4)) == NULL) {
			if (have == sizeof buf || (n = o_read(&io, buf + have, sizeof buf - have)) <= 0)
				goto out;
			have += (size_t)n;
		}
		size_t hlen = (size_t)(end - buf) + 4, blen = memmem(buf, hlen, "/big", 4) ? 1 << 20 : 0;
		char head[512], *dn = memmem(buf, hlen, "X-Client-DN: ", 13);
		char echo[300] = "none";
		if (dn != NULL) {
			char *eol = memmem(dn, hlen - (size_t)(dn - buf), "\r\n", 2);
			snprintf(echo, sizeof echo, "%.*s", (int)(eol - dn - 13), dn + 13);
		}
		if (memmem(buf, hlen, "GET /ws ", 8) != NULL) {
			origin_ws(&io, buf + hlen, have - hlen);
			goto out;
		}
		char *cl = memmem(buf, hlen, "Content-Length: ", 16);
		if (cl != NULL) {               /* a body: its length and a checksum come back */
			size_t want = strtoul(cl + 16, NULL, 10), got = have - hlen, sum = 0;
			for (size_t k = hlen; k < have; k++)
				sum += (unsigned char)buf[k];
			while (got < want) {
				n = o_read(&io, buf, sizeof buf < want - got ? sizeof buf : want - got);
				if (n <= 0)
					goto out;
				for (ssize_t k = 0; k < n; k++)
					sum += (unsigned char)buf[k];
				got += (size_t)n;
			}
			snprintf(echo, sizeof echo, "%zu/%zu", got, sum);
			have = hlen;                /* the body is consumed */
		}
		if (blen == 0)
			blen = strlen(echo);
		int hn = snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n",
			blen);
		if (o_write(&io, head, (size_t)hn) != hn)
			goto out;
		if (blen == strlen(echo)) {
			if (o_write(&io, echo, blen) != (ssize_t)blen)
				goto out;
		} else {
			char *big = malloc(blen);
			memset(big, 'x', blen);
			for (size_t off = 0; off < blen;) {
				n = o_write(&io, big + off, blen - off);
				if (n <= 0)
					break;
				off += (size_t)n;
			}
			free(big);
		}
		memmove(buf, buf + hlen, have - hlen);
		have -= hlen;
	}
out:
	SSL_free(io.ssl);
	ERR_clear_error();
	close(fd);
	return NULL;
}

/* arg: the listening fd, | 1 << 16 for a TLS origin. */
static void *origin_main(void *arg)
{
	int lfd = (int)(intptr_t)arg & 0xffff, fd;
	intptr_t tls = (intptr_t)arg & ~(intptr_t)0xffff;
	pthread_t t;
	while ((fd = accept(lfd, NULL, NULL)) >= 0) {
		pthread_create(&t, NULL, origin_conn, (void *)((intptr_t)fd | tls));
		pthread_detach(t);
	}
	return NULL;
}

static int listen_any(int *port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof sin;
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof sin), 0);
	assert_int_equal(listen(fd, 64), 0);
	getsockname(fd, (struct sockaddr *)&sin, &len);
	*port = ntohs(sin.sin_port);
	return fd;
}

/* --- the proxy under test --- */

struct fixture {
	struct event_base *base;
	struct px_worker *w;
	struct ups_reg *servers;
	struct px_route *route;
	struct tls_cell *cell;
	struct tls_tickets *tickets;
	struct evconnlistener *lev;
	pthread_t thread;
	int port, origin_port, origin_fd;
	/* ForwardProtocol HTTPS to the TLS origin: verified against ca (good), against cca (bad) */
	struct px_route *good, *bad;
	struct tls_cell *fcell;
	struct tls_client *good_client, *bad_client;
	struct evconnlistener *good_lev, *bad_lev;
	int good_port, bad_port, tls_origin_port, tls_origin_fd;
	int target;                 /* the port clients connect to */
	char *pem[16];
};
static struct fixture fx;

enum { CA, CCA, CCA2, A, AK, B, BK, CL, CLK, CL2, CL2K };

static void proxy_accept(struct evconnlistener *lev, evutil_socket_t fd, struct sockaddr *sa,
	int salen, void *arg)
{
	(void)lev;
	px_accept(fx.w, fd, sa, (socklen_t)salen, arg);
}

static void *loop_main(void *arg)
{
	(void)arg;
	event_base_dispatch(fx.base);
	return NULL;
}

/* The listener's TLS: a.test's certificate, b.test a domain with its own; AuthType auth. */
static struct tls_srv *srv_make_fwd(int auth, unsigned versions, int b_own_cas, int fwd)
{
	struct tls_pem_pair a = { fx.pem[A], fx.pem[AK] }, b = { fx.pem[B], fx.pem[BK] };
	const char *cas[] = { fx.pem[CCA] }, *cas2[] = { fx.pem[CCA2] };
	struct tls_srv_domain_in d[] = {
		{ .name = "B.test", .cert = &b, .client_cas = b_own_cas ? cas2 : NULL,
		  .nclient_cas = b_own_cas ? 1 : 0 },
		{ .name = "a.test" },
	};
	struct tls_srv_in in = { .listener_id = "lst-tls", .cert = a, .auth_type = auth,
		.client_cas = auth ? cas : NULL, .nclient_cas = auth ? 1 : 0, .versions = versions,
		.ciphers = TLS_CIPHERS_STRICT, .domains = d, .ndomains = 2,
		.handshake_timeout_ms = 400, .tickets = fx.tickets, .forward_https = fwd };
	char err[256] = "";
	struct tls_srv *s = tls_srv_new(&in, err, sizeof err);
	if (s == NULL)
		fail_msg("tls_srv_new: %s", err);
	return s;
}

static struct tls_srv *srv_make(int auth, unsigned versions, int b_own_cas)
{
	return srv_make_fwd(auth, versions, b_own_cas, 0);
}

static struct evconnlistener *listen_proxy(struct px_route *r, int *port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof sin;
	struct evconnlistener *lev = evconnlistener_new_bind(fx.base, proxy_accept, r,
		LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 64, (struct sockaddr *)&sin, sizeof sin);
	assert_non_null(lev);
	getsockname(evconnlistener_get_fd(lev), (struct sockaddr *)&sin, &len);
	*port = ntohs(sin.sin_port);
	return lev;
}

/* Two listeners forwarding over TLS to a TLS origin, one verifying it right, one wrong. */
static void setup_origin_tls(const struct cfg_http *http)
{
	char err[256] = "", path[128];
	struct cfg_addr o = { .len = sizeof(struct sockaddr_in) };
	struct cfg_proxy p = { .origins = &o, .norigins = 1, .scheduler = CFG_SCHED_RR };
	pthread_t t;
	assert_non_null(origin_ctx = SSL_CTX_new(TLS_server_method()));
	snprintf(path, sizeof path, "%s/a.pem", dir);
	assert_int_equal(SSL_CTX_use_certificate_file(origin_ctx, path, SSL_FILETYPE_PEM), 1);
	snprintf(path, sizeof path, "%s/a.key", dir);
	assert_int_equal(SSL_CTX_use_PrivateKey_file(origin_ctx, path, SSL_FILETYPE_PEM), 1);
	fx.tls_origin_fd = listen_any(&fx.tls_origin_port);
	pthread_create(&t, NULL, origin_main, (void *)((intptr_t)fx.tls_origin_fd | 1 << 16));
	pthread_detach(t);
	*(struct sockaddr_in *)&o.sa = (struct sockaddr_in){ .sin_family = AF_INET,
		.sin_port = htons(fx.tls_origin_port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	snprintf(o.text, sizeof o.text, "127.0.0.1:%d", fx.tls_origin_port);
	snprintf(path, sizeof path, "%s/ca.pem", dir);
	assert_non_null(fx.good_client = tls_client_new(path, err, sizeof err));
	snprintf(path, sizeof path, "%s/cca.pem", dir);
	assert_non_null(fx.bad_client = tls_client_new(path, err, sizeof err));
	assert_null(tls_client_new("/nonexistent.pem", err, sizeof err));
	assert_non_null(strstr(err, "/nonexistent.pem"));
	assert_non_null(fx.fcell = tls_cell_new());
	tls_cell_set(fx.fcell, srv_make_fwd(0, TLS_V12 | TLS_V13, 0, 1));
	assert_non_null(fx.good = px_route_create("lst-good", &p, http, NULL, fx.servers));
	assert_non_null(fx.bad = px_route_create("lst-bad", &p, http, NULL, fx.servers));
	px_route_set_tls(fx.good, fx.fcell);
	px_route_set_tls(fx.bad, fx.fcell);
	px_route_set_origin_tls(fx.good, fx.good_client);
	px_route_set_origin_tls(fx.bad, fx.bad_client);
	fx.good_lev = listen_proxy(fx.good, &fx.good_port);
	fx.bad_lev = listen_proxy(fx.bad, &fx.bad_port);
}

static int setup(void **state)
{
	static const char *const names[] = { "ca.pem", "cca.pem", "cca2.pem", "a.pem", "a.key",
		"b.pem", "b.key", "client.pem", "client.key", "client2.pem", "client2.key" };
	const struct cfg_http http = {
		.client_header_timeout_ms = 5000, .client_keepalive_timeout_ms = 5000,
		.origin_connect_timeout_ms = 2000, .origin_response_timeout_ms = 5000,
		.max_header_size = 4096, .drain_timeout_ms = 5000, .client_send_timeout_ms = 10000,
		.linger_timeout_ms = 1000, .origin_keepalive = 8, .origin_keepalive_timeout_ms = 5000,
		.origin_max_fails = 1, .origin_fail_timeout_ms = 200, .max_request_line = 1024,
		.max_headers = 20, .max_response_header_size = 4096, .max_body_size = 16 << 20,
	};
	struct cfg_addr o = { .len = sizeof(struct sockaddr_in) };
	struct cfg_proxy p = { .origins = &o, .norigins = 1, .scheduler = CFG_SCHED_RR };
	pthread_t t;
	(void)state;
	signal(SIGPIPE, SIG_IGN);
	make_certs();
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		fx.pem[i] = slurp(names[i]);
	fx.origin_fd = listen_any(&fx.origin_port);
	pthread_create(&t, NULL, origin_main, (void *)(intptr_t)fx.origin_fd);
	pthread_detach(t);
	struct sockaddr_in *os = (struct sockaddr_in *)&o.sa;
	*os = (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons(fx.origin_port),
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	snprintf(o.text, sizeof o.text, "127.0.0.1:%d", fx.origin_port);
	assert_int_equal(evthread_use_pthreads(), 0);
	assert_non_null(fx.base = event_base_new());
	assert_non_null(fx.w = px_worker_new(fx.base));
	assert_non_null(fx.servers = ups_reg_new());
	assert_non_null(fx.tickets = tls_tickets_new(3600, 300));
	assert_non_null(fx.cell = tls_cell_new());
	assert_non_null(fx.route = px_route_create("lst-tls", &p, &http, NULL, fx.servers));
	px_route_set_tls(fx.route, fx.cell);
	fx.lev = listen_proxy(fx.route, &fx.port);
	fx.target = fx.port;
	setup_origin_tls(&http);
	tls_cell_set(fx.cell, srv_make(0, TLS_V12 | TLS_V13, 0));
	assert_int_equal(pthread_create(&fx.thread, NULL, loop_main, NULL), 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	event_base_loopbreak(fx.base);
	pthread_join(fx.thread, NULL);
	evconnlistener_free(fx.lev);
	evconnlistener_free(fx.good_lev);
	evconnlistener_free(fx.bad_lev);
	px_worker_destroy(fx.w);
	px_route_unref(fx.route);
	px_route_unref(fx.good);
	px_route_unref(fx.bad);
	tls_cell_unref(fx.fcell);
	tls_client_unref(fx.good_client);
	tls_client_unref(fx.bad_client);
	SSL_CTX_free(origin_ctx);
	shutdown(fx.tls_origin_fd, SHUT_RDWR);
	tls_cell_unref(fx.cell);
	tls_tickets_unref(fx.tickets);
	ups_reg_unref(fx.servers);
	event_base_free(fx.base);
	for (size_t i = 0; i < 16; i++)
		free(fx.pem[i]);
	shutdown(fx.origin_fd, SHUT_RDWR);
	tf_sh("rm -rf %s", dir);
	return 0;
}

/* --- a blocking client --- */

static int tcp_connect(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(fx.target),
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct timeval tv = { .tv_sec = 10 };
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof sin), 0);
	return fd;
}

struct cli {
	SSL_CTX *ctx;
	SSL *ssl;
	int fd;
};

/* A handshake as sni with versions [lo, hi], presenting cert/key when given: 1 ok, 0 refused. */
static int cli_open(struct cli *c, const char *sni, int lo, int hi, int cert, SSL_SESSION *sess)
{
	X509_STORE *st;
	BIO *b = BIO_new_mem_buf(fx.pem[CA], -1);
	X509 *ca = PEM_read_bio_X509(b, NULL, NULL, NULL);
	BIO_free(b);
	assert_non_null(c->ctx = SSL_CTX_new(TLS_client_method()));
	st = SSL_CTX_get_cert_store(c->ctx);
	X509_STORE_add_cert(st, ca);
	X509_free(ca);
	SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_min_proto_version(c->ctx, lo);
	SSL_CTX_set_max_proto_version(c->ctx, hi);
	if (lo < TLS1_2_VERSION)
		SSL_CTX_set_cipher_list(c->ctx, "DEFAULT:@SECLEVEL=0");
	SSL_CTX_set_alpn_protos(c->ctx, (const unsigned char *)"\x02h2\x08http/1.1", 12);
	if (cert >= 0) {
		char name[128];
		snprintf(name, sizeof name, "%s/%s.pem", dir, cert == 0 ? "client" : "client2");
		assert_int_equal(SSL_CTX_use_certificate_file(c->ctx, name, SSL_FILETYPE_PEM), 1);
		snprintf(name, sizeof name, "%s/%s.key", dir, cert == 0 ? "client" : "client2");
		assert_int_equal(SSL_CTX_use_PrivateKey_file(c->ctx, name, SSL_FILETYPE_PEM), 1);
	}
	c->fd = tcp_connect();
	assert_non_null(c->ssl = SSL_new(c->ctx));
	SSL_set_fd(c->ssl, c->fd);
	if (sni != NULL) {
		SSL_set_tlsext_host_name(c->ssl, sni);
		if (strncmp(sni, "other", 5) != 0)
			SSL_set1_host(c->ssl, sni);
	}
	if (sess != NULL)
		SSL_set_session(c->ssl, sess);
	if (SSL_connect(c->ssl) != 1) {
		ERR_clear_error();
		return 0;
	}
	return 1;
}

static void cli_close(struct cli *c)
{
	if (SSL_is_init_finished(c->ssl))
		SSL_shutdown(c->ssl);   /* else the client marks its session not resumable */
	ERR_clear_error();
	SSL_free(c->ssl);
	SSL_CTX_free(c->ctx);
	close(c->fd);
}

static void cli_send(struct cli *c, const char *s)
{
	assert_int_equal(SSL_write(c->ssl, s, (int)strlen(s)), (int)strlen(s));
}

static int last_status;

/* One response: its body (the caller's) and length; NULL when the connection ended first. A
 * slow reader sleeps between reads. TLS 1.3 mTLS alerts come with the first read. */
static char *cli_response(struct cli *c, size_t *blen, int slow)
{
	char head[4096];
	size_t have = 0, cl;
	char *end, *body;
	while ((end = memmem(head, have, "\r\n\r\n", 4)) == NULL) {
		int n = SSL_read(c->ssl, head + have, 1);  /* byte by byte: no over-read */
		if (n <= 0)
			return NULL;
		have += (size_t)n;
	}
	head[have] = '\0';
	last_status = atoi(head + 9);
	if (last_status != 200)
		return NULL;
	assert_non_null(end = strstr(head, "Content-Length: "));
	cl = strtoul(end + 16, NULL, 10);
	assert_non_null(body = calloc(1, cl + 1));
	for (size_t got = 0; got < cl;) {
		int n = SSL_read(c->ssl, body + got, (int)(cl - got < 65536 ? cl - got : 65536));
		assert_true(n > 0);
		got += (size_t)n;
		if (slow)
			usleep(2000);
	}
	*blen = cl;
	return body;
}

static struct px_stats_snap stats_now(void)
{
	struct px_stats_snap s;
	px_stats_read(px_route_stats(fx.route), &s);
	return s;
}

/* Counters move on the worker's thread: a bounded wait for outcome k to reach n. */
static void wait_count(enum px_tls_outcome k, uint64_t n)
{
	for (int i = 0; i < 500 && stats_now().tls[k] < n; i++)
		usleep(10000);
	assert_true(stats_now().tls[k] >= n);
}

static X509_NAME *peer_subject(struct cli *c)
{
	return X509_get_subject_name(SSL_get0_peer_certificate(c->ssl));
}

static int peer_is(struct cli *c, const char *cn)
{
	char buf[64] = "";
	X509_NAME_get_text_by_NID(peer_subject(c), NID_commonName, buf, sizeof buf);
	return strcmp(buf, cn) == 0;
}

static void test_sni_and_keepalive(void **state)
{
	struct cli c;
	size_t n;
	char *body;
	const unsigned char *alpn;
	unsigned alen;
	(void)state;
	assert_true(cli_open(&c, "b.TEST", TLS1_2_VERSION, TLS1_3_VERSION, -1, NULL));
	assert_true(peer_is(&c, "b"));
	SSL_get0_alpn_selected(c.ssl, &alpn, &alen);
	assert_int_equal(alen, 8);
	assert_memory_equal(alpn, "http/1.1", 8);
	cli_send(&c, "GET / HTTP/1.1\r\nHost: b.test\r\n\r\n");
	assert_non_null(body = cli_response(&c, &n, 0));
	assert_string_equal(body, "none");
	free(body);
	/* pipelined, in one write: both answered in order */
	cli_send(&c, "GET /1 HTTP/1.1\r\nHost: b.test\r\n\r\nGET /big HTTP/1.1\r\nHost: b\r\n\r\n");
	assert_non_null(body = cli_response(&c, &n, 0));
	free(body);
	assert_non_null(body = cli_response(&c, &n, 0));
	assert_int_equal(n, 1 << 20);
	assert_int_equal(body[n - 1], 'x');
	free(body);
	cli_close(&c);
	/* no SNI, and an unknown name: the listener's */
	assert_true(cli_open(&c, NULL, TLS1_2_VERSION, TLS1_3_VERSION, -1, NULL));
	assert_true(peer_is(&c, "a"));
	cli_close(&c);
	assert_true(cli_open(&c, "other.test", TLS1_2_VERSION, TLS1_2_VERSION, -1, NULL));
	assert_true(peer_is(&c, "a"));
	cli_close(&c);
}

static void test_big_slow_reader(void **state)
{
	struct cli c;
	size_t n;
	char *body;
	(void)state;
	assert_true(cli_open(&c, "a.test", TLS1_3_VERSION, TLS1_3_VERSION, -1, NULL));
	for (int i = 0; i < 2; i++) {
		cli_send(&c, "GET /big HTTP/1.1\r\nHost: a.test\r\n\r\n");
		assert_non_null(body = cli_response(&c, &n, 1));
		assert_int_equal(n, 1 << 20);
		for (size_t k = 0; k < n; k++)
			if (body[k] != 'x')
				fail_msg("byte %zu", k);
		free(body);
	}
	cli_close(&c);
}

static void test_versions_refused(void **state)
{
	struct cli c;
	uint64_t failed = stats_now().tls[PX_TLS_FAILED];
	(void)state;
	assert_false(cli_open(&c, "a.test", TLS1_VERSION, TLS1_1_VERSION, -1, NULL));
	cli_close(&c);
	wait_count(PX_TLS_FAILED, failed + 1);
	/* enabled: TLS 1.1 works (at the listener's own SECLEVEL 0) */
	tls_cell_set(fx.cell, srv_make(0, TLS_V11 | TLS_V12, 0));
	assert_true(cli_open(&c, "a.test", TLS1_1_VERSION, TLS1_1_VERSION, -1, NULL));
	assert_int_equal(SSL_version(c.ssl), TLS1_1_VERSION);
	cli_close(&c);
	tls_cell_set(fx.cell, srv_make(0, TLS_V12 | TLS_V13, 0));
}

static void test_garbage_and_silence(void **state)
{
	char buf[64];
	uint64_t failed = stats_now().tls[PX_TLS_FAILED];
	uint64_t timeouts = stats_now().tls[PX_TLS_TIMEOUT];
	(void)state;
	int fd = tcp_connect();
	assert_int_equal(write(fd, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27), 27);
	ssize_t n = read(fd, buf, sizeof buf);  /* an alert at most, never an HTTP answer */
	assert_true(n <= 0 || memcmp(buf, "HTTP", 4) != 0);
	close(fd);
	wait_count(PX_TLS_FAILED, failed + 1);
	fd = tcp_connect();                     /* says nothing: closed after the timeout */
	assert_int_equal(read(fd, buf, sizeof buf), 0);
	close(fd);
	wait_count(PX_TLS_TIMEOUT, timeouts + 1);
	/* others are served meanwhile and after */
	struct cli c;
	assert_true(cli_open(&c, "a.test", TLS1_2_VERSION, TLS1_3_VERSION, -1, NULL));
	cli_close(&c);
}

static void resume_at(int v)
{
	struct cli c;
	size_t n;
	char *body;
	uint64_t resumed = stats_now().tls[PX_TLS_RESUMED];
	assert_true(cli_open(&c, "a.test", v, v, -1, NULL));
	size_t n0;
	char *b0;
	cli_send(&c, "GET / HTTP/1.1\r\nHost: a.test\r\n\r\n");   /* TLS 1.3 tickets come after */
	assert_non_null(b0 = cli_response(&c, &n0, 0));
	free(b0);
	SSL_SESSION *s = SSL_get1_session(c.ssl);
	cli_close(&c);
	/* a certificate swap in between: the node's ticket keys still resume */
	tls_cell_set(fx.cell, srv_make(0, TLS_V12 | TLS_V13, 0));
	assert_true(cli_open(&c, "a.test", v, v, -1, s));
	assert_true(SSL_session_reused(c.ssl));
	cli_send(&c, "GET / HTTP/1.1\r\nHost: a.test\r\n\r\n");
	assert_non_null(body = cli_response(&c, &n, 0));
	free(body);
	cli_close(&c);
	SSL_SESSION_free(s);
	wait_count(PX_TLS_RESUMED, resumed + 1);
}

static void test_resumption(void **state)
{
	(void)state;
	resume_at(TLS1_2_VERSION);
	resume_at(TLS1_3_VERSION);
}

static void test_mtls(void **state)
{
	struct cli c;
	size_t n;
	char *body;
	(void)state;
	tls_cell_set(fx.cell, srv_make(1, TLS_V12 | TLS_V13, 1));
	/* no certificate: refused (TLS 1.2: in the handshake) */
	assert_false(cli_open(&c, "a.test", TLS1_2_VERSION, TLS1_2_VERSION, -1, NULL));
	cli_close(&c);
	/* a certificate of the other CA: refused */
	assert_false(cli_open(&c, "a.test", TLS1_2_VERSION, TLS1_2_VERSION, 1, NULL));
	cli_close(&c);
	/* accepted, and the origin sees the subject */
	assert_true(cli_open(&c, "a.test", TLS1_2_VERSION, TLS1_3_VERSION, 0, NULL));
	cli_send(&c, "GET / HTTP/1.1\r\nHost: a.test\r\nX-Client-DN: forged\r\n\r\n");
	assert_non_null(body = cli_response(&c, &n, 0));
	assert_string_equal(body, "CN=client,O=Test\\, Inc.");
	free(body);
	/* a Host whose domain has other CAs: 421, and the connection stays */
	cli_send(&c, "GET / HTTP/1.1\r\nHost: b.test:443\r\n\r\n");
	assert_null(cli_response(&c, &n, 0));
	assert_int_equal(last_status, 421);
	cli_close(&c);
	assert_true(cli_open(&c, "a.test", TLS1_2_VERSION, TLS1_3_VERSION, 0, NULL));
	cli_send(&c, "GET / HTTP/1.1\r\nHost: unknown.test\r\n\r\n");
	assert_non_null(body = cli_response(&c, &n, 0));
	free(body);
	cli_close(&c);
	/* b.test verifies against its own CA */
	assert_true(cli_open(&c, "b.test", TLS1_2_VERSION, TLS1_3_VERSION, 1, NULL));
	cli_close(&c);
	assert_false(cli_open(&c, "b.test", TLS1_2_VERSION, TLS1_2_VERSION, 0, NULL));
	cli_close(&c);
	tls_cell_set(fx.cell, srv_make(0, TLS_V12 | TLS_V13, 0));
}

static void test_no_tls_closes(void **state)
{
	char buf[8];
	(void)state;
	tls_cell_set(fx.cell, NULL);
	int fd = tcp_connect();
	assert_int_equal(write(fd, "GET / HTTP/1.1\r\n\r\n", 18), 18);
	assert_true(read(fd, buf, sizeof buf) <= 0);
	close(fd);
	tls_cell_set(fx.cell, srv_make(0, TLS_V12 | TLS_V13, 0));
}

/* Upgrades c to a WebSocket tunnel, echoes through it, ends it from the client's side. */
static void websocket(struct cli *c)
{
	char head[256], buf[64];
	size_t have = 0, n;
	cli_send(c, "GET /ws HTTP/1.1\r\nHost: a.test\r\nUpgrade: websocket\r\n"
		"Connection: Upgrade\r\n\r\n");
	while (memmem(head, have, "\r\n\r\n", 4) == NULL) {
		assert_int_equal(SSL_read(c->ssl, head + have, 1), 1);
		have++;
	}
	assert_memory_equal(head, "HTTP/1.1 101", 12);
	for (int i = 0; i < 3; i++) {
		cli_send(c, "ping-pong");
		for (have = 0; have < 9; have += n)
			assert_true((n = (size_t)SSL_read(c->ssl, buf + have, (int)(9 - have))) > 0);
		assert_memory_equal(buf, "ping-pong", 9);
	}
	SSL_shutdown(c->ssl);       /* the client ends: the origin ends too, and so does the tunnel */
	assert_true(SSL_read(c->ssl, buf, sizeof buf) <= 0);
}

/* A request body over TLS (256 KiB, with Content-Length), then a WebSocket tunnel over TLS both
 * ways, ended by the client. */
static void test_body_and_websocket(void **state)
{
	struct cli c;
	size_t n, sum = 0, blen = 256 * 1024;
	char *body, *big = malloc(blen), want[64], head[256];
	(void)state;
	for (size_t k = 0; k < blen; k++) {
		big[k] = (char)('a' + k % 26);
		sum += (unsigned char)big[k];
	}
	assert_true(cli_open(&c, "a.test", TLS1_2_VERSION, TLS1_3_VERSION, -1, NULL));
	snprintf(head, sizeof head, "POST /up HTTP/1.1\r\nHost: a.test\r\nContent-Length: %zu\r\n"
		"\r\n", blen);
	cli_send(&c, head);
	for (size_t off = 0; off < blen; off += 16384)
		assert_int_equal(SSL_write(c.ssl, big + off, 16384), 16384);
	assert_non_null(body = cli_response(&c, &n, 0));
	snprintf(want, sizeof want, "%zu/%zu", blen, sum);
	assert_string_equal(body, want);
	free(body);
	free(big);
	websocket(&c);
	cli_close(&c);
}

static void test_origin_tls(void **state)
{
	struct cli c;
	size_t n;
	char *body;
	(void)state;
	fx.target = fx.good_port;
	assert_true(cli_open(&c, "a.test", TLS1_2_VERSION, TLS1_3_VERSION, -1, NULL));
	for (int i = 0; i < 3; i++) {       /* the pooled TLS connection serves the next ones */
		cli_send(&c, "GET /big HTTP/1.1\r\nHost: a.test\r\n\r\n");
		assert_non_null(body = cli_response(&c, &n, 0));
		assert_int_equal(n, 1 << 20);
		free(body);
	}
	cli_send(&c, "GET / HTTP/1.1\r\nHost: a.test:443\r\n\r\n");
	assert_non_null(body = cli_response(&c, &n, 0));
	assert_string_equal(body, "none");
	free(body);
	websocket(&c);              /* TLS on both sides of the tunnel */
	cli_close(&c);
	/* a name the origin's certificate does not cover, and a CA that did not sign it: 502 */
	assert_true(cli_open(&c, "a.test", TLS1_2_VERSION, TLS1_3_VERSION, -1, NULL));
	cli_send(&c, "GET / HTTP/1.1\r\nHost: c.test\r\n\r\n");
	assert_null(cli_response(&c, &n, 0));
	assert_int_equal(last_status, 502);
	cli_close(&c);
	fx.target = fx.bad_port;
	assert_true(cli_open(&c, "a.test", TLS1_2_VERSION, TLS1_3_VERSION, -1, NULL));
	cli_send(&c, "GET / HTTP/1.1\r\nHost: a.test\r\n\r\n");
	assert_null(cli_response(&c, &n, 0));
	assert_int_equal(last_status, 502);
	cli_close(&c);
	fx.target = fx.port;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sni_and_keepalive),
		cmocka_unit_test(test_big_slow_reader),
		cmocka_unit_test(test_versions_refused),
		cmocka_unit_test(test_garbage_and_silence),
		cmocka_unit_test(test_resumption),
		cmocka_unit_test(test_mtls),
		cmocka_unit_test(test_no_tls_closes),
		cmocka_unit_test(test_body_and_websocket),
		cmocka_unit_test(test_origin_tls),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
