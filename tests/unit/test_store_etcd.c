/* tests/unit/test_store_etcd.c - the etcd back end of the state store (store.h) against real
 * etcd (etcd_harness.h): two stores ("nodes", each its own cache directory) on one etcd. One
 * node's change reaches the other's feed and not its own; writes of every shape; a drain never
 * undoes a newer own write; concurrent creates race for ports and for a proxy's listener limit
 * and exactly the right ones win; a delete frees its port and count; etcd stopped: ENOTCONN,
 * reads from the cache, also reopened; a node away during a compaction (reopened, or cut off by
 * a relay while running) resyncs and is fed only the differences; statuses across nodes, gone
 * with their listener or node; a txn's lost answer read back; a lost lease registered again.
 * Each test has a prefix of its own. Waits are bounded; no assertion on how long anything takes.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <sys/socket.h>

#include <cmocka.h>
#include <event2/thread.h>

#include "store.h"
#include "etcd.h"
#include "etcd_harness.h"

#define WAIT_MS 20000
#define PROXY "link-aaaaaaaa"

/* A node: its store, cache directory, and what its feed applied. */
struct node {
	struct st *s;
	char dir[64];
	char name[16];
	char prefix[32];
	char url[64];               /* "" : etcd itself */
	const char *proxy;
	unsigned max;
	pthread_mutex_t mu;
	char applied[64][80];       /* "put <id>" / "del <id>", in order */
	size_t napplied, batches;
};

static size_t places(void *arg, const char *proxy_id, const char *group_id,
	char (*proxies)[ST_ID_MAX], unsigned *max, size_t room)
{
	struct node *n = arg;
	(void)group_id;
	if (room == 0)
		return 0;
	snprintf(proxies[0], ST_ID_MAX, "%s", proxy_id);
	max[0] = n->max;
	return 1;
}

static int apply(void *arg, const struct st_op *ops, size_t n, char *err, size_t errlen)
{
	struct node *nd = arg;
	(void)err;
	(void)errlen;
	pthread_mutex_lock(&nd->mu);
	for (size_t i = 0; i < n && nd->napplied < 64; i++)
		snprintf(nd->applied[nd->napplied++], 80, "%s %s",
			ops[i].type == ST_PUT ? "put" : "del", ops[i].id);
	nd->batches++;
	pthread_mutex_unlock(&nd->mu);
	return 0;
}

static void open_node(struct node *n)
{
	char err[512];
	const char *ep = n->url[0] != '\0' ? n->url : eh_one.m[0].url;
	const char *proxies[1] = { n->proxy };
	struct st_etcd_opts o = { .endpoints = &ep, .nendpoints = 1, .dial_timeout_ms = 500,
		.prefix = n->prefix, .node = n->name, .node_proxies = proxies, .nnode_proxies = 1,
		.cache_dir = n->dir, .places = places, .places_arg = n };
	n->s = st_open_etcd(&o, err, sizeof err);
	if (n->s == NULL)
		fail_msg("st_open_etcd: %s", err);
}

static struct node *node_via(const char *prefix, const char *name, unsigned max,
	const char *url)
{
	struct node *n = calloc(1, sizeof(*n));
	assert_non_null(n);
	snprintf(n->dir, sizeof(n->dir), "/tmp/gaapd-stetcd-XXXXXX");
	assert_non_null(mkdtemp(n->dir));
	snprintf(n->name, sizeof(n->name), "%s", name);
	snprintf(n->url, sizeof(n->url), "%s", url);
	snprintf(n->prefix, sizeof(n->prefix), "%s", prefix);
	n->proxy = PROXY;
	n->max = max;
	pthread_mutex_init(&n->mu, NULL);
	open_node(n);
	return n;
}

static struct node *node_new(const char *prefix, const char *name, unsigned max)
{
	return node_via(prefix, name, max, "");
}

static void node_free(struct node *n)
{
	char cmd[128];
	st_close(n->s);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", n->dir);
	assert_int_equal(system(cmd), 0);
	pthread_mutex_destroy(&n->mu);
	free(n);
}

static void wait_ready(struct node *n, int want)
{
	long long end = eh_now_ms() + WAIT_MS;
	while (st_etcd_ready(n->s) != want && eh_now_ms() < end)
		eh_nap(20);
	assert_int_equal(st_etcd_ready(n->s), want);
}

/* Drain n until it has applied at least want ops (bounded). */
static void wait_applied(struct node *n, size_t want)
{
	long long end = eh_now_ms() + WAIT_MS;
	size_t got = 0;
	while (eh_now_ms() < end) {
		st_etcd_drain(n->s, apply, n);
		pthread_mutex_lock(&n->mu);
		got = n->napplied;
		pthread_mutex_unlock(&n->mu);
		if (got >= want)
			break;
		eh_nap(20);
	}
	assert_true(got >= want);
}

/* Drain n until its last applied op is op (bounded). */
static void wait_op(struct node *n, const char *op)
{
	long long end = eh_now_ms() + WAIT_MS;
	bool got = false;
	while (!got && eh_now_ms() < end) {
		st_etcd_drain(n->s, apply, n);
		pthread_mutex_lock(&n->mu);
		got = n->napplied > 0 && strcmp(n->applied[n->napplied - 1], op) == 0;
		pthread_mutex_unlock(&n->mu);
		if (!got)
			eh_nap(20);
	}
	assert_true(got);
}

static struct st_listener lrec(const char *id, unsigned port)
{
	struct st_listener r = { .protocol = "HTTP", .proxy_id = PROXY, .port = port,
		.create_time = 1795833763 };
	snprintf(r.id, sizeof(r.id), "%s", id);
	snprintf(r.name, sizeof(r.name), "name-%u", port);
	return r;
}

static int create(struct node *n, const char *id, unsigned port)
{
	char err[512];
	struct st_listener r = lrec(id, port);
	return st_put(n->s, &r, err, sizeof err);
}

static int count_each(const char *kind, const char *id, json_t *fields, void *arg)
{
	(void)kind;
	(void)id;
	(void)fields;
	(*(size_t *)arg)++;
	return 0;
}

static size_t cached(struct node *n)
{
	size_t c = 0;
	st_each(n->s, ST_LISTENER, count_each, &c);
	return c;
}

/* ---- a relay the test can cut: one node's way to etcd (loopback TCP, a thread) ---- */

#define RELAY_PAIRS 32

struct relay {
	unsigned port, target;
	int lfd;
	int pair[RELAY_PAIRS][2];   /* client, etcd; -1 when free */
	int swallow[RELAY_PAIRS];   /* 1: etcd's answer dropped; 2: the request dropped */
	int arm;                    /* the next txn request's connection gets swallow = arm */
	pthread_t t;
	pthread_mutex_t mu;
	bool cut, quit;
};

static int relay_listen(unsigned port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one_ = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one_, sizeof one_);
	if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 16) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int relay_dial(unsigned port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void relay_drop(struct relay *r, size_t i)
{
	close(r->pair[i][0]);
	close(r->pair[i][1]);
	r->pair[i][0] = r->pair[i][1] = -1;
	r->swallow[i] = 0;
}

static void relay_accept(struct relay *r)
{
	int c = accept4(r->lfd, NULL, NULL, SOCK_CLOEXEC), u;
	if (c < 0)
		return;
	if ((u = relay_dial(r->target)) < 0) {
		close(c);
		return;
	}
	for (size_t i = 0; i < RELAY_PAIRS; i++)
		if (r->pair[i][0] < 0) {
			r->pair[i][0] = c;
			r->pair[i][1] = u;
			return;
		}
	close(c);
	close(u);
}

/* One readable side of pair i: its bytes to the other side (blocking: small on loopback). */
static void relay_pump(struct relay *r, size_t i, int from)
{
	char buf[16384];
	ssize_t n = read(r->pair[i][from], buf, sizeof buf);
	pthread_mutex_lock(&r->mu);
	if (from == 0 && n > 0 && r->arm != 0 && memmem(buf, (size_t)n, "/v3/kv/txn", 10)) {
		r->swallow[i] = r->arm;
		r->arm = 0;
	}
	int sw = r->swallow[i];
	pthread_mutex_unlock(&r->mu);
	/* a connection broken after the request went out: the client cannot know the outcome */
	if (n <= 0 || (sw == 1 && from == 1) || (sw == 2 && from == 0) ||
	    write(r->pair[i][!from], buf, (size_t)n) != n) {
		relay_drop(r, i);
	}
}

/* Cut: every connection closed and the port refusing; uncut: listening again. */
static void relay_state(struct relay *r)
{
	pthread_mutex_lock(&r->mu);
	bool cut = r->cut;
	pthread_mutex_unlock(&r->mu);
	if (cut && r->lfd >= 0) {
		close(r->lfd);
		r->lfd = -1;
		for (size_t i = 0; i < RELAY_PAIRS; i++)
			if (r->pair[i][0] >= 0)
				relay_drop(r, i);
	} else if (!cut && r->lfd < 0) {
		r->lfd = relay_listen(r->port);
	}
}

static void *relay_run(void *arg)
{
	struct relay *r = arg;
	for (;;) {
		struct pollfd p[1 + 2 * RELAY_PAIRS];
		size_t np = 0;
		pthread_mutex_lock(&r->mu);
		bool quit = r->quit;
		pthread_mutex_unlock(&r->mu);
		if (quit)
			break;
		relay_state(r);
		p[np++] = (struct pollfd){ .fd = r->lfd, .events = POLLIN };
		for (size_t i = 0; i < RELAY_PAIRS; i++)
			for (int k = 0; k < 2; k++)
				p[np++] = (struct pollfd){ .fd = r->pair[i][k], .events = POLLIN };
		if (poll(p, np, 50) <= 0)
			continue;
		if (p[0].revents & POLLIN)
			relay_accept(r);
		for (size_t i = 0; i < RELAY_PAIRS; i++)
			for (int k = 0; k < 2; k++)
				if (r->pair[i][0] >= 0 &&
				    (p[1 + 2 * i + k].revents & (POLLIN | POLLHUP)))
					relay_pump(r, i, k);
	}
	if (r->lfd >= 0)
		close(r->lfd);
	for (size_t i = 0; i < RELAY_PAIRS; i++)
		if (r->pair[i][0] >= 0)
			relay_drop(r, i);
	return NULL;
}

static struct relay *relay_start(unsigned target)
{
	struct relay *r = calloc(1, sizeof(*r));
	assert_non_null(r);
	r->target = target;
	r->port = eh_free_port();
	memset(r->pair, -1, sizeof r->pair);
	pthread_mutex_init(&r->mu, NULL);
	assert_true((r->lfd = relay_listen(r->port)) >= 0);
	assert_int_equal(pthread_create(&r->t, NULL, relay_run, r), 0);
	return r;
}

static void relay_cut(struct relay *r, bool cut)
{
	pthread_mutex_lock(&r->mu);
	r->cut = cut;
	pthread_mutex_unlock(&r->mu);
}

static void relay_stop(struct relay *r)
{
	pthread_mutex_lock(&r->mu);
	r->quit = true;
	pthread_mutex_unlock(&r->mu);
	pthread_join(r->t, NULL);
	pthread_mutex_destroy(&r->mu);
	free(r);
}

/* ---- the feed ---- */

static void test_feed_other_not_own(void **state)
{
	(void)state;
	struct node *a = node_new("/t/feed", "a", 100), *b = node_new("/t/feed", "b", 100);
	wait_ready(a, 1);
	wait_ready(b, 1);
	assert_int_equal(create(a, "listener-a0000001", 8001), 0);
	wait_applied(b, 1);
	assert_string_equal(b->applied[0], "put listener-a0000001");
	assert_int_equal(cached(b), 1);
	/* B's change reaches A after A's own event (same watch, revision order): A gets B's only */
	assert_int_equal(create(b, "listener-b0000001", 8002), 0);
	wait_applied(a, 1);
	assert_int_equal(a->napplied, 1);
	assert_string_equal(a->applied[0], "put listener-b0000001");
	assert_int_equal(cached(a), 2);
	/* a delete, both ways */
	char err[256];
	assert_int_equal(st_del(a->s, "listener-b0000001", err, sizeof err), 0);
	wait_applied(b, 2);
	assert_string_equal(b->applied[1], "del listener-b0000001");
	assert_int_equal(cached(b), 1);
	struct st_etcd_counts c;
	st_etcd_counts(a->s, &c);
	assert_int_equal(c.txns, 2);
	assert_int_equal(c.connected, 1);
	node_free(a);
	node_free(b);
}

static int name_each(const char *kind, const char *id, json_t *fields, void *arg)
{
	(void)kind;
	(void)id;
	snprintf(arg, 64, "%s", json_string_value(json_object_get(fields, "ListenerName")));
	return 0;
}

/* A's own write supersedes another node's older change still waiting to be drained: the
 * drain never takes A's cache (nor sm) back to the older state. */
static void test_drain_superseded(void **state)
{
	(void)state;
	struct node *a = node_new("/t/super", "a", 100), *b = node_new("/t/super", "b", 100);
	struct st_etcd_counts ca, cb;
	char err[256], name[64] = "";
	wait_ready(a, 1);
	wait_ready(b, 1);
	assert_int_equal(create(a, "listener-u0000001", 8601), 0);
	wait_applied(b, 1);
	struct st_listener r = lrec("listener-u0000001", 8601);
	snprintf(r.name, sizeof r.name, "by-b");
	assert_int_equal(st_put(b->s, &r, err, sizeof err), 0);
	st_etcd_counts(b->s, &cb);
	long long end = eh_now_ms() + WAIT_MS;
	do {                        /* A's view (not its cache: nothing drained) has B's rename */
		st_etcd_counts(a->s, &ca);
		if (ca.revision < cb.revision)
			eh_nap(20);
	} while (ca.revision < cb.revision && eh_now_ms() < end);
	assert_true(ca.revision >= cb.revision);
	snprintf(r.name, sizeof r.name, "by-a");
	assert_int_equal(st_put(a->s, &r, err, sizeof err), 0);
	st_etcd_drain(a->s, apply, a);
	assert_int_equal(a->napplied, 0);
	st_each(a->s, ST_LISTENER, name_each, name);
	assert_string_equal(name, "by-a");
	wait_applied(b, 2);
	assert_string_equal(b->applied[1], "put listener-u0000001");
	name[0] = '\0';
	st_each(b->s, ST_LISTENER, name_each, name);
	assert_string_equal(name, "by-a");
	node_free(a);
	node_free(b);
}

/* ---- races ---- */

struct racer {
	struct node *n;
	char id[ST_ID_MAX];
	unsigned port;
	int rc, e;
	struct st_conflict cf;
	int has_cf;
};

static void *race(void *arg)
{
	struct racer *r = arg;
	r->rc = create(r->n, r->id, r->port);
	r->e = errno;
	/* the conflict of this store's last write; other threads' writes may follow, so only a
	 * proxy's name is checked */
	r->has_cf = r->rc != 0 && st_conflict(r->n->s, &r->cf) == 0;
	return NULL;
}

/* n creates from threads, odd ones on a; ports distinct modulo ports (0: all distinct).
 * *okc: how many succeeded, oka of them on a; *errc: failed with want_e. */
static void run_race(struct node *a, struct node *b, size_t n, unsigned ports, size_t *okc,
	size_t *oka, size_t *errc, int want_e)
{
	struct racer *r = calloc(n, sizeof(*r));
	pthread_t *t = calloc(n, sizeof(*t));
	for (size_t i = 0; i < n; i++) {
		r[i].n = i % 2 ? a : b;
		snprintf(r[i].id, sizeof(r[i].id), "listener-%08zu", i);
		r[i].port = 20000 + (unsigned)(ports != 0 ? i % ports : i);
		assert_int_equal(pthread_create(&t[i], NULL, race, &r[i]), 0);
	}
	*okc = *oka = *errc = 0;
	for (size_t i = 0; i < n; i++) {
		pthread_join(t[i], NULL);
		if (r[i].rc == 0) {
			(*okc)++;
			*oka += r[i].n == a;
			continue;
		}
		if (r[i].e != want_e)
			fail_msg("%s: errno %d, not %d", r[i].id, r[i].e, want_e);
		(*errc)++;
	}
	free(r);
	free(t);
}

static long long etcd_count(const char *key)
{
	char err[256];
	const char *ep = eh_one.m[0].url;
	struct etcd_cfg cfg = { .endpoints = &ep, .nendpoints = 1 };
	struct etcd *c = etcd_create(&cfg, err, sizeof err);
	struct etcd_kvs k;
	struct etcd_status st;
	long long v = -1;
	assert_non_null(c);
	if (etcd_range(c, key, ETCD_KEY, 0, 0, &k, &st) == 0) {
		v = k.n > 0 ? strtoll(k.kv[0].value, NULL, 10) : 0;
		etcd_kvs_free(&k);
	}
	etcd_destroy(c);
	return v;
}

static int key_exists(const char *key)
{
	char err[256];
	const char *ep = eh_one.m[0].url;
	struct etcd_cfg cfg = { .endpoints = &ep, .nendpoints = 1 };
	struct etcd *c = etcd_create(&cfg, err, sizeof err);
	struct etcd_kvs k;
	struct etcd_status st;
	int n = -1;
	assert_non_null(c);
	if (etcd_range(c, key, ETCD_KEY, 0, 0, &k, &st) == 0) {
		n = k.n > 0;
		etcd_kvs_free(&k);
	}
	etcd_destroy(c);
	return n;
}

static void test_race_ports(void **state)
{
	(void)state;
	struct node *a = node_new("/t/ports", "a", 1000), *b = node_new("/t/ports", "b", 1000);
	size_t okc, oka, errc;
	wait_ready(a, 1);
	wait_ready(b, 1);
	run_race(a, b, 200, 100, &okc, &oka, &errc, EADDRINUSE);
	assert_int_equal(okc, 100);
	assert_int_equal(errc, 100);
	assert_int_equal(etcd_count("/t/ports/count/" PROXY), 100);
	struct st_etcd_counts ca, cb;
	st_etcd_counts(a->s, &ca);
	st_etcd_counts(b->s, &cb);
	assert_int_equal(ca.txns + cb.txns, 100);
	assert_int_equal(ca.conflicts + cb.conflicts, 100);
	node_free(a);
	node_free(b);
}

static void test_race_limit(void **state)
{
	(void)state;
	struct node *a = node_new("/t/limit", "a", 50), *b = node_new("/t/limit", "b", 50);
	struct st_conflict cf;
	size_t okc, oka, errc;
	char err[256], id[ST_ID_MAX];
	wait_ready(a, 1);
	wait_ready(b, 1);
	run_race(a, b, 100, 0, &okc, &oka, &errc, EUSERS);
	assert_int_equal(okc, 50);
	assert_int_equal(errc, 50);
	assert_int_equal(etcd_count("/t/limit/count/" PROXY), 50);
	assert_int_equal(create(a, "listener-x0000001", 30000), -1);
	assert_int_equal(errno, EUSERS);
	assert_int_equal(st_conflict(a->s, &cf), 0);
	assert_string_equal(cf.proxy, PROXY);
	/* a delete frees its port and one place; the port is taken again */
	wait_applied(a, okc - oka); /* A's view has B's listeners (deletes need the record) */
	for (unsigned i = 0; i < 100; i++) {
		snprintf(id, sizeof id, "listener-%08u", i);
		if (st_del(a->s, id, err, sizeof err) != 0)
			fail_msg("del %s: %s", id, err);
	}
	assert_int_equal(etcd_count("/t/limit/count/" PROXY), 0);
	assert_int_equal(create(b, "listener-y0000001", 20001), 0);
	assert_int_equal(etcd_count("/t/limit/count/" PROXY), 1);
	node_free(a);
	node_free(b);
}

/* Writes of other shapes: a schema refusal, a rename (no port claimed again), one record twice
 * in a change (the last wins), a missing id's delete, a kind that is not a listener. */
static void test_write_shapes(void **state)
{
	(void)state;
	struct node *a = node_new("/t/shapes", "a", 100), *b = node_new("/t/shapes", "b", 100);
	char err[256];
	wait_ready(a, 1);
	wait_ready(b, 1);
	json_t *bad = json_pack("{s:s}", "ListenerId", "listener-bad00001");
	struct st_op op = { ST_PUT, ST_LISTENER, "listener-bad00001", bad };
	assert_int_equal(st_write(a->s, &op, 1, err, sizeof err), -1);
	assert_int_equal(errno, EINVAL);
	json_decref(bad);
	assert_int_equal(create(a, "listener-w0000001", 8501), 0);
	struct st_listener r = lrec("listener-w0000001", 8501);
	snprintf(r.name, sizeof r.name, "renamed");
	assert_int_equal(st_put(a->s, &r, err, sizeof err), 0);
	assert_int_equal(etcd_count("/t/shapes/count/" PROXY), 1);
	const char *del = "listener-w0000001";
	assert_int_equal(st_apply(a->s, &r, 1, &del, 1, err, sizeof err), 0);
	assert_int_equal(etcd_count("/t/shapes/count/" PROXY), 1);
	assert_int_equal(st_del(a->s, "listener-none0001", err, sizeof err), 0);
	json_t *note = json_pack("{s:s}", "Text", "hello");
	struct st_op nop = { ST_PUT, "note", "note-1", note };
	assert_int_equal(st_write(a->s, &nop, 1, err, sizeof err), 0);
	json_decref(note);
	/* B is fed the listener's latest state (older ones its drain finds superseded) and the
	 * note, last */
	wait_op(b, "put note-1");
	assert_string_equal(b->applied[b->napplied - 2], "put listener-w0000001");
	struct st_etcd_counts c;
	st_etcd_counts(a->s, &c);
	assert_int_equal(c.txns, 4);
	node_free(a);
	node_free(b);
}

/* ---- etcd down, restarts, reopening ---- */

static void test_etcd_down(void **state)
{
	(void)state;
	struct node *a = node_new("/t/down", "a", 100);
	char err[256];
	wait_ready(a, 1);
	assert_int_equal(create(a, "listener-d0000001", 8101), 0);
	eh_stop_member(&eh_one, 0);
	assert_int_equal(create(a, "listener-d0000002", 8102), -1);
	assert_int_equal(errno, ENOTCONN);
	wait_ready(a, 0);
	assert_int_equal(st_del(a->s, "listener-d0000001", err, sizeof err), -1);
	assert_int_equal(errno, ENOTCONN);
	assert_int_equal(cached(a), 1);
	/* reopened on its cache with etcd down: everything there, changes refused */
	st_close(a->s);
	open_node(a);
	assert_int_equal(cached(a), 1);
	assert_int_equal(st_etcd_ready(a->s), 0);
	assert_int_equal(create(a, "listener-d0000002", 8102), -1);
	assert_int_equal(errno, ENOTCONN);
	assert_int_equal(eh_start_member(&eh_one, 0), 0);
	wait_ready(a, 1);
	assert_int_equal(create(a, "listener-d0000002", 8102), 0);
	assert_int_equal(cached(a), 2);
	node_free(a);
}

/* B away while A changes things and etcd compacts its history: B reopened on its cache is fed
 * the differences only (one del, one put, not the listener that stayed). */
static void test_resync_differences(void **state)
{
	(void)state;
	struct node *a = node_new("/t/resync", "a", 100), *b = node_new("/t/resync", "b", 100);
	char err[256];
	struct etcd_status st;
	wait_ready(a, 1);
	wait_ready(b, 1);
	assert_int_equal(create(a, "listener-r0000001", 8201), 0);
	assert_int_equal(create(a, "listener-r0000002", 8202), 0);
	wait_applied(b, 2);
	st_close(b->s);
	b->s = NULL;
	assert_int_equal(st_del(a->s, "listener-r0000001", err, sizeof err), 0);
	assert_int_equal(create(a, "listener-r0000003", 8203), 0);
	struct st_etcd_counts c;
	st_etcd_counts(a->s, &c);
	{
		const char *ep = eh_one.m[0].url;
		struct etcd_cfg cfg = { .endpoints = &ep, .nendpoints = 1 };
		struct etcd *e = etcd_create(&cfg, err, sizeof err);
		assert_non_null(e);
		assert_int_equal(etcd_compact(e, c.revision, &st), 0);
		etcd_destroy(e);
	}
	b->napplied = 0;
	open_node(b);
	wait_ready(b, 1);
	wait_applied(b, 2);
	assert_int_equal(b->napplied, 2);
	assert_string_equal(b->applied[0], "del listener-r0000001");
	assert_string_equal(b->applied[1], "put listener-r0000003");
	assert_int_equal(cached(b), 2);
	/* and B writes again from its resynced view: the port of the deleted one is free */
	assert_int_equal(create(b, "listener-r0000004", 8201), 0);
	node_free(a);
	node_free(b);
}

/* B cut off from etcd (its watch down) while A changes things and etcd compacts: B's watch,
 * resuming, is told its revision is gone; B resyncs and is fed only the differences. */
static void test_compaction_live(void **state)
{
	(void)state;
	struct relay *r = relay_start(eh_one.m[0].client_port);
	char url[64], err[256];
	struct etcd_status st;
	struct st_etcd_counts c;
	snprintf(url, sizeof url, "http://127.0.0.1:%u", r->port);
	struct node *a = node_new("/t/live", "a", 100), *b = node_via("/t/live", "b", 100, url);
	wait_ready(a, 1);
	wait_ready(b, 1);
	assert_int_equal(create(a, "listener-l0000001", 8401), 0);
	assert_int_equal(create(a, "listener-l0000002", 8402), 0);
	wait_applied(b, 2);
	relay_cut(r, true);
	wait_ready(b, 0);
	assert_int_equal(create(b, "listener-l0000009", 8409), -1);
	assert_int_equal(errno, ENOTCONN);
	assert_int_equal(st_del(a->s, "listener-l0000001", err, sizeof err), 0);
	assert_int_equal(create(a, "listener-l0000003", 8403), 0);
	st_etcd_counts(a->s, &c);
	{
		const char *ep = eh_one.m[0].url;
		struct etcd_cfg cfg = { .endpoints = &ep, .nendpoints = 1 };
		struct etcd *e = etcd_create(&cfg, err, sizeof err);
		assert_non_null(e);
		assert_int_equal(etcd_compact(e, c.revision, &st), 0);
		etcd_destroy(e);
	}
	st_etcd_counts(b->s, &c);
	uint64_t resyncs = c.resyncs;
	relay_cut(r, false);
	wait_ready(b, 1);
	wait_applied(b, 4);
	st_etcd_counts(b->s, &c);
	assert_true(c.resyncs > resyncs);
	assert_int_equal(b->napplied, 4);
	assert_string_equal(b->applied[2], "del listener-l0000001");
	assert_string_equal(b->applied[3], "put listener-l0000003");
	assert_int_equal(cached(b), 2);
	node_free(a);
	node_free(b);
	relay_stop(r);
}

/* ---- statuses across nodes ---- */

static void wait_status(struct node *n, const char *listener, int want, const char *why_has)
{
	char why[256] = "";
	long long end = eh_now_ms() + WAIT_MS;
	int got = -1;
	while (eh_now_ms() < end) {
		got = st_etcd_listener_status(n->s, listener, PROXY, why, sizeof why);
		if (got == want && (why_has == NULL || strstr(why, why_has) != NULL))
			break;
		eh_nap(20);
	}
	if (got != want || (why_has != NULL && strstr(why, why_has) == NULL))
		fail_msg("status %d (%s), want %d (%s)", got, why, want, why_has ? why_has : "");
}

static void wait_nodes(struct node *n, size_t want)
{
	struct st_etcd_counts c = { 0 };
	long long end = eh_now_ms() + WAIT_MS;
	while (eh_now_ms() < end) {
		st_etcd_counts(n->s, &c);
		if (c.live_nodes == want)
			break;
		eh_nap(20);
	}
	assert_int_equal(c.live_nodes, want);
}

static void test_status(void **state)
{
	(void)state;
	struct node *a = node_new("/t/status", "a", 100), *b = node_new("/t/status", "b", 100);
	wait_ready(a, 1);
	wait_ready(b, 1);
	wait_nodes(a, 2);
	assert_int_equal(create(a, "listener-s0000001", 8301), 0);
	wait_status(a, "listener-s0000001", 1, "not reported yet");
	st_etcd_report(a->s, "listener-s0000001", NULL);
	st_etcd_report(b->s, "listener-s0000001", "port 8301 in use");
	wait_status(a, "listener-s0000001", 1, "node b: port 8301 in use");
	st_etcd_report(b->s, "listener-s0000001", "");
	wait_status(a, "listener-s0000001", 0, NULL);
	wait_status(b, "listener-s0000001", 0, NULL);
	/* a node that is gone counts no more: b reports a failure, then leaves */
	st_etcd_report(b->s, "listener-s0000001", "bind failed");
	wait_status(a, "listener-s0000001", 1, "bind failed");
	st_close(b->s);
	b->s = NULL;
	wait_nodes(a, 1);
	wait_status(a, "listener-s0000001", 0, NULL);
	/* another proxy's node does not count */
	assert_int_equal(st_etcd_listener_status(a->s, "listener-s0000001", "link-other", NULL,
		0), 0);
	/* the listener deleted: the node's status key goes too */
	char err[256];
	assert_int_equal(st_del(a->s, "listener-s0000001", err, sizeof err), 0);
	long long end = eh_now_ms() + WAIT_MS;
	long long left = 1;
	while (left != 0 && eh_now_ms() < end) {
		left = key_exists("/t/status/status/listener-s0000001/a");
		if (left != 0)
			eh_nap(20);
	}
	assert_int_equal(left, 0);
	node_free(a);
	node_free(b);
}

/* A txn whose answer is lost (the connection breaks after the request went out): B reads its
 * keys back. Applied: success, and its own watch event is still skipped; not applied: sent
 * again. */
static void test_lost_answer(void **state)
{
	(void)state;
	struct relay *r = relay_start(eh_one.m[0].client_port);
	char url[64];
	snprintf(url, sizeof url, "http://127.0.0.1:%u", r->port);
	struct node *a = node_new("/t/lost", "a", 100), *b = node_via("/t/lost", "b", 100, url);
	wait_ready(a, 1);
	wait_ready(b, 1);
	pthread_mutex_lock(&r->mu);
	r->arm = 1;
	pthread_mutex_unlock(&r->mu);
	assert_int_equal(create(b, "listener-o0000001", 8701), 0);
	pthread_mutex_lock(&r->mu);
	assert_int_equal(r->arm, 0);
	r->arm = 2;
	pthread_mutex_unlock(&r->mu);
	assert_int_equal(create(b, "listener-o0000002", 8702), 0);
	pthread_mutex_lock(&r->mu);
	assert_int_equal(r->arm, 0);        /* both were swallowed */
	pthread_mutex_unlock(&r->mu);
	struct st_etcd_counts c;
	st_etcd_counts(b->s, &c);
	assert_int_equal(c.txns, 2);
	assert_int_equal(c.txn_retries, 1);     /* the one never made, sent again */
	wait_applied(a, 2);
	assert_int_equal(etcd_count("/t/lost/count/" PROXY), 2);
	/* B's feed: an own change of A's after them, and none of B's own */
	assert_int_equal(create(a, "listener-o0000003", 8703), 0);
	wait_applied(b, 1);
	assert_int_equal(b->napplied, 1);
	assert_string_equal(b->applied[0], "put listener-o0000003");
	node_free(a);
	node_free(b);
	relay_stop(r);
}

/* etcd forgets the node's lease (revoked from outside): the node registers again and puts its
 * statuses back. */
static void test_lease_lost(void **state)
{
	(void)state;
	struct node *a = node_new("/t/lease", "a", 100);
	char err[256];
	struct etcd_status st;
	struct etcd_kvs k;
	wait_ready(a, 1);
	wait_nodes(a, 1);
	assert_int_equal(create(a, "listener-e0000001", 8801), 0);
	st_etcd_report(a->s, "listener-e0000001", "not yet");
	wait_status(a, "listener-e0000001", 1, "node a: not yet");
	const char *ep = eh_one.m[0].url;
	struct etcd_cfg cfg = { .endpoints = &ep, .nendpoints = 1 };
	struct etcd *e = etcd_create(&cfg, err, sizeof err);
	assert_non_null(e);
	assert_int_equal(etcd_range(e, "/t/lease/node/a", ETCD_KEY, 0, 0, &k, &st), 0);
	assert_int_equal(k.n, 1);
	int64_t lease = k.kv[0].lease;
	etcd_kvs_free(&k);
	assert_int_equal(etcd_lease_revoke(e, lease, &st), 0);
	long long end = eh_now_ms() + WAIT_MS;
	int64_t now = lease;
	while (now == lease && eh_now_ms() < end) {
		eh_nap(50);
		if (etcd_range(e, "/t/lease/status/listener-e0000001/a", ETCD_KEY, 0, 0, &k,
		    &st) == 0) {
			now = k.n > 0 ? k.kv[0].lease : lease;
			etcd_kvs_free(&k);
		}
	}
	assert_true(now != lease);      /* the status is back, under a new lease */
	wait_nodes(a, 1);
	wait_status(a, "listener-e0000001", 1, "node a: not yet");
	etcd_destroy(e);
	node_free(a);
}

int main(void)
{
	evthread_use_pthreads();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_feed_other_not_own),
		cmocka_unit_test(test_write_shapes),
		cmocka_unit_test(test_drain_superseded),
		cmocka_unit_test(test_race_ports),
		cmocka_unit_test(test_race_limit),
		cmocka_unit_test(test_etcd_down),
		cmocka_unit_test(test_resync_differences),
		cmocka_unit_test(test_compaction_live),
		cmocka_unit_test(test_status),
		cmocka_unit_test(test_lost_answer),
		cmocka_unit_test(test_lease_lost),
	};
	return cmocka_run_group_tests(tests, eh_setup_one, eh_teardown_one);
}
