/* tests/unit/test_sm.c - the state machine (daemon/state/sm.c) over the real file store, a real
 * listener table with a worker, and real sockets on loopback: each rule refuses with the proxy
 * it is about, a refused or failed change leaves sockets, store and table as they were, and a
 * restart restores what was applied. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "cfg.h"
#include "listener.h"
#include "state/sm.h"
#include "store.h"
#include "worker.h"

struct fx {
	char dir[64];
	char err[512];
	struct cfg *cfg;
	struct st *store;
	struct wrk_pool *workers;
	struct lsn_table *t;
	struct sm *sm;
};

static unsigned next_id;

static int test_id(const char *prefix, char *out, size_t len)
{
	snprintf(out, len, "%s-t%07u", prefix, ++next_id);
	return 0;
}

/* A port nothing listens on now. */
static unsigned free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	close(fd);
	return ntohs(a.sin_port);
}

/* Whether another socket may listen on ip:port: the state machine's is gone. */
static int port_free_on(const char *ip, unsigned port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0), ok;
	assert_int_equal(inet_pton(AF_INET, ip, &a.sin_addr), 1);
	ok = bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 && listen(fd, 1) == 0;
	close(fd);
	return ok;
}

static int port_free(unsigned port)
{
	return port_free_on("127.0.0.1", port);
}

/* link-a binds 127.0.0.1, link-b and link-c (the group lg-g) 127.0.0.2 and 127.0.0.3. */
static const char *config =
	"node:\n  workers: 1\n  state_dir: state\n"
	"control:\n  listen: 127.0.0.1:0\n  auth: none\n  reserved_ports: [22]\n"
	"proxies:\n"
	"  - id: link-a\n    max_listeners: 2\n    origins: [127.0.0.1:1]\n"
	"  - id: link-b\n    bind: 127.0.0.2\n    origins: [127.0.0.1:1]\n"
	"  - id: link-c\n    bind: 127.0.0.3\n    origins: [127.0.0.1:1]\n"
	"  - id: link-off\n    status: CLOSED\n    origins: [127.0.0.1:1]\n"
	"groups:\n  - id: lg-g\n    proxies: [link-b, link-c]\n"
	"  - id: lg-off\n    proxies: [link-off]\n";

static void open_sm(struct fx *f)
{
	assert_non_null(f->store = st_open_journal(f->dir, 0, f->err, sizeof(f->err)));
	assert_non_null(f->t = lsn_table_new(f->workers));
	assert_non_null(f->sm = sm_new(f->store, f->t, f->cfg, test_id));
}

static void close_sm(struct fx *f)
{
	sm_free(f->sm);
	lsn_table_destroy(f->t);
	st_close(f->store);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/gaapd-sm-XXXXXX");
	if (f == NULL || mkdtemp(f->dir) == NULL ||
	    cfg_load_string(config, "t.yaml", f->dir, &f->cfg, f->err, sizeof(f->err)) != 0 ||
	    (f->workers = wrk_pool_start(1, f->err, sizeof(f->err))) == NULL)
		return -1;
	open_sm(f);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];
	wrk_pool_join(f->workers);
	close_sm(f);
	wrk_pool_destroy(f->workers);
	cfg_destroy(f->cfg);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	free(f);
	return system(cmd) == 0 ? 0 : -1;
}

static enum sm_err create(struct fx *f, const char *proxy, const char *group, unsigned port,
	struct sm_outcome *o)
{
	struct sm_change c = { .op = SM_CREATE_LISTENER, .rec = { .protocol = "HTTP", .port = port } };
	snprintf(c.rec.name, sizeof(c.rec.name), "n%u", port);
	snprintf(c.rec.proxy_id, sizeof(c.rec.proxy_id), "%s", proxy ? proxy : "");
	snprintf(c.rec.group_id, sizeof(c.rec.group_id), "%s", group ? group : "");
	sm_apply(f->sm, &c, o);
	return o->err;
}

static size_t count(struct fx *f)
{
	lsn_table_lock(f->t);
	size_t n = lsn_table_count(f->t);
	lsn_table_unlock(f->t);
	return n;
}

static int count_rec(const struct st_listener *rec, void *arg)
{
	(void)rec;
	++*(size_t *)arg;
	return 0;
}

static size_t stored(struct fx *f)
{
	size_t n = 0;
	assert_int_equal(st_load(f->store, count_rec, &n, f->err, sizeof(f->err)), 0);
	return n;
}

static void test_rules_refuse_with_the_proxy_they_are_about(void **state)
{
	struct fx *f = *state;
	struct sm_outcome o;
	unsigned p1 = free_port(), p2 = free_port(), p3 = free_port();
	assert_int_equal(create(f, "link-a", NULL, p1, &o), SM_OK);
	assert_string_equal(o.id, "listener-t0000001");
	assert_false(port_free(p1));                            /* bound at once */
	assert_int_equal(create(f, "link-a", NULL, p1, &o), SM_E_DUPLICATED_PORT);
	assert_string_equal(o.proxy->id, "link-a");
	assert_int_equal(create(f, "link-b", NULL, p1, &o), SM_OK);     /* another proxy, same port */
	assert_int_equal(create(f, NULL, "lg-g", p1, &o), SM_E_DUPLICATED_PORT);
	assert_string_equal(o.proxy->id, "link-b");             /* the member that has it */
	assert_int_equal(create(f, "link-a", NULL, p2, &o), SM_OK);
	assert_int_equal(create(f, "link-a", NULL, p3, &o), SM_E_LISTENER_LIMIT);
	assert_string_equal(o.proxy->id, "link-a");
	assert_true(port_free(p3));
	assert_int_equal(create(f, "link-off", NULL, p3, &o), SM_E_PROXY_NOT_RUNNING);
	assert_int_equal(create(f, NULL, "lg-off", p3, &o), SM_E_PROXY_NOT_RUNNING);
	assert_string_equal(o.proxy->id, "link-off");
	assert_int_equal(create(f, "link-b", NULL, 22, &o), SM_E_PORT_RESERVED);
	assert_int_equal(count(f), 3);
	assert_int_equal(stored(f), 3);
}

/* Another program holds the port on the group's second member: the first member's socket, bound
 * already, is closed again, and nothing is stored. */
static void test_a_failed_bind_leaves_nothing(void **state)
{
	struct fx *f = *state;
	struct sm_outcome o;
	unsigned port = free_port();
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(inet_pton(AF_INET, "127.0.0.3", &a.sin_addr), 1);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(fd, 1), 0);
	assert_int_equal(create(f, NULL, "lg-g", port, &o), SM_E_BIND);
	assert_int_equal(o.sys, EADDRINUSE);
	assert_string_equal(o.proxy->id, "link-c");
	assert_true(port_free_on("127.0.0.2", port));
	assert_int_equal(count(f), 0);
	assert_int_equal(stored(f), 0);
	close(fd);
	assert_true(port_free_on("127.0.0.2", port) && port_free_on("127.0.0.3", port));
}

/* The store's directory gone: the call fails, the socket it had bound is released. */
static void test_a_failed_store_write_releases_the_port(void **state)
{
	struct fx *f = *state;
	struct sm_outcome o;
	unsigned port = free_port();
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(create(f, "link-a", NULL, port, &o), SM_E_STORE);
	assert_int_equal(o.sys, ENOENT);
	assert_true(o.detail[0] != '\0');
	assert_true(port_free(port));
	assert_int_equal(count(f), 0);
}

static int deny(const struct st_listener *rec, void *arg)
{
	(void)rec;
	(void)arg;
	return 0;
}

static void test_rename_scope_and_rights(void **state)
{
	struct fx *f = *state;
	struct sm_outcome o;
	char a[ST_ID_MAX], g[ST_ID_MAX];
	assert_int_equal(create(f, "link-a", NULL, free_port(), &o), SM_OK);
	snprintf(a, sizeof(a), "%s", o.id);
	assert_int_equal(create(f, NULL, "lg-g", free_port(), &o), SM_OK);
	snprintf(g, sizeof(g), "%s", o.id);
	struct sm_change c = { .op = SM_RENAME_LISTENER, .id = a, .name = "renamed" };
	c.scope_proxy = "link-b";
	sm_apply(f->sm, &c, &o);
	assert_int_equal(o.err, SM_E_NOT_FOUND);                /* another proxy's */
	c.scope_proxy = NULL;
	c.allowed = deny;
	sm_apply(f->sm, &c, &o);
	assert_int_equal(o.err, SM_E_FORBIDDEN);
	c.allowed = NULL;
	c.id = g;
	sm_apply(f->sm, &c, &o);
	assert_int_equal(o.err, SM_E_GROUP_LISTENER);
	assert_string_equal(o.detail, "lg-g");
	c.id = a;
	sm_apply(f->sm, &c, &o);
	assert_int_equal(o.err, SM_OK);
	lsn_table_lock(f->t);
	assert_string_equal(lsn_table_find(f->t, a)->rec.name, "renamed");
	lsn_table_unlock(f->t);
}

/* Deletion in a scope, then a restart over the same directory restores what is left. */
static void test_delete_in_scope_then_restore(void **state)
{
	struct fx *f = *state;
	struct sm_outcome o;
	char a[ST_ID_MAX], b[ST_ID_MAX];
	unsigned pa = free_port(), pb = free_port();
	unsigned char verdicts[3];
	assert_int_equal(create(f, "link-a", NULL, pa, &o), SM_OK);
	snprintf(a, sizeof(a), "%s", o.id);
	assert_int_equal(create(f, "link-b", NULL, pb, &o), SM_OK);
	snprintf(b, sizeof(b), "%s", o.id);
	assert_true(sm_unsynced(f->sm));                    /* written, durable at the sync */
	assert_int_equal(sm_sync(f->sm, f->err, sizeof(f->err)), 0);
	assert_false(sm_unsynced(f->sm));
	const char *ids[3] = { a, b, "listener-nosuch" };
	struct sm_change c = { .op = SM_DELETE_LISTENERS, .ids = ids, .nids = 3,
		.scope_proxy = "link-a" };
	struct sm_outcome d = { .verdicts = verdicts };
	sm_apply(f->sm, &c, &d);
	assert_int_equal(d.err, SM_OK);
	assert_int_equal(verdicts[0], SM_DELETED);
	assert_int_equal(verdicts[1], SM_NOT_IN_SCOPE);
	assert_int_equal(verdicts[2], SM_NOT_IN_SCOPE);
	assert_true(port_free(pa));
	assert_int_equal(sm_sync(f->sm, f->err, sizeof(f->err)), 0);
	close_sm(f);                                            /* a restart */
	assert_true(port_free_on("127.0.0.2", pb));
	open_sm(f);
	assert_int_equal(sm_restore(f->sm, f->err, sizeof(f->err)), 0);
	assert_int_equal(count(f), 1);
	lsn_table_lock(f->t);
	assert_non_null(lsn_table_find(f->t, b));
	assert_int_equal(lsn_table_find(f->t, b)->status, LSN_RUNNING);
	lsn_table_unlock(f->t);
	assert_false(port_free_on("127.0.0.2", pb));
}

/* A free port none of used[0, n) is: free on 127.0.0.1 says nothing of link-b's 127.0.0.2. */
static unsigned port_not_in(const unsigned *used, size_t n)
{
	for (;;) {
		unsigned p = free_port();
		size_t k = 0;
		while (k < n && used[k] != p)
			k++;
		if (k == n)
			return p;
	}
}

/* Churn through the table's indexes (ids, ports per proxy, counts), growing and with removals:
 * every listener is found by id and by port, the count is exact, a freed port is free. */
static void test_indexes_follow_creates_and_deletes(void **state)
{
	struct fx *f = *state;
	struct sm_outcome o;
	char ids[50][ST_ID_MAX];
	unsigned ports[50];
	unsigned char verdicts[25];
	const char *dels[25];
	for (int i = 0; i < 50; i++) {
		ports[i] = port_not_in(ports, (size_t)i);
		assert_int_equal(create(f, "link-b", NULL, ports[i], &o), SM_OK);
		snprintf(ids[i], sizeof(ids[i]), "%s", o.id);
	}
	assert_int_equal(create(f, "link-b", NULL, port_not_in(ports, 50), &o),
		SM_E_LISTENER_LIMIT);
	for (int i = 0; i < 25; i++)
		dels[i] = ids[2 * i];                           /* every other one */
	struct sm_change c = { .op = SM_DELETE_LISTENERS, .ids = dels, .nids = 25 };
	struct sm_outcome d = { .verdicts = verdicts };
	sm_apply(f->sm, &c, &d);
	assert_int_equal(d.err, SM_OK);
	lsn_table_lock(f->t);
	assert_int_equal(lsn_table_count_proxy(f->t, "link-b"), 25);
	for (int i = 0; i < 50; i++) {
		const struct lsn *l = lsn_table_find(f->t, ids[i]);
		assert_true((l != NULL) == (i % 2 == 1));
		assert_ptr_equal(lsn_table_find_port(f->t, "link-b", ports[i]), l);
		assert_null(lsn_table_find_port(f->t, "link-c", ports[i]));
	}
	lsn_table_unlock(f->t);
	assert_int_equal(create(f, "link-b", NULL, ports[0], &o), SM_OK);     /* freed: usable */
	assert_int_equal(create(f, "link-b", NULL, ports[1], &o), SM_E_DUPLICATED_PORT);
	assert_int_equal(count(f), 26);
}

static void note_commit(void *arg)
{
	++*(int *)arg;
}

/* A reload that would strand a listener is refused whole; one that keeps them all is applied,
 * and the caller's commit runs with it. */
static void test_reconfigure_refuses_what_would_strand_a_listener(void **state)
{
	struct fx *f = *state;
	struct sm_outcome o;
	struct cfg *next = NULL;
	int committed = 0;
	assert_int_equal(create(f, "link-c", NULL, free_port(), &o), SM_OK);
	assert_int_equal(cfg_load_string("node:\n  workers: 1\n  state_dir: state\n"
		"control:\n  listen: 127.0.0.1:0\n  auth: none\n"
		"proxies:\n  - id: link-a\n    origins: [127.0.0.1:2]\n", "t.yaml", f->dir, &next,
		f->err, sizeof(f->err)), 0);
	assert_int_equal(sm_reconfigure(f->sm, next, note_commit, &committed, f->err,
		sizeof(f->err)), -1);
	assert_int_equal(committed, 0);
	assert_non_null(strstr(f->err, "link-c"));
	cfg_destroy(next);
	assert_int_equal(cfg_load_string(config, "t.yaml", f->dir, &next, f->err,
		sizeof(f->err)), 0);
	assert_int_equal(sm_reconfigure(f->sm, next, note_commit, &committed, f->err,
		sizeof(f->err)), 0);
	assert_int_equal(committed, 1);
	cfg_destroy(f->cfg);            /* the state machine decides with next from now on */
	f->cfg = next;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_rules_refuse_with_the_proxy_they_are_about, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_a_failed_bind_leaves_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_failed_store_write_releases_the_port, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_rename_scope_and_rights, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delete_in_scope_then_restore, setup, teardown),
		cmocka_unit_test_setup_teardown(test_indexes_follow_creates_and_deletes, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_reconfigure_refuses_what_would_strand_a_listener,
			setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
