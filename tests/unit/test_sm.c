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
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <cmocka.h>
#include <event2/thread.h>

#include "cfg.h"
#include "health/hc.h"
#include "listener.h"
#include "proxy/l7.h"
#include "proxy/px.h"
#include "state/certs.h"
#include "state/l7.h"
#include "state/rs.h"
#include "tls/tls.h"
#include "state/sm.h"
#include "store.h"
#include "worker.h"
#include "test_files.h"

struct fx {
	char dir[64];
	char err[512];
	struct cfg *cfg;
	struct st *store;
	struct wrk_pool *workers;
	struct lsn_table *t;
	struct sm *sm;
	struct fx *src;             /* the fleet tests: another node whose records this one applies */
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
	"node:\n  workers: 1\n  state_dir: state\n  max_domains_per_listener: 3\n"
	"  max_rules_per_listener: 3\n  max_bindings_per_rule: 2\n  max_headers_per_rule: 2\n"
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

/* A restart: the workers stop first (lsn_table_destroy() frees their slots, which a worker may
 * still be starting), then everything comes back over the same directory. */
static void stop_sm(struct fx *f)
{
	wrk_pool_join(f->workers);
	close_sm(f);
	wrk_pool_destroy(f->workers);
	assert_non_null(f->workers = wrk_pool_start(1, f->err, sizeof(f->err)));
}

static void restart_sm(struct fx *f)
{
	stop_sm(f);
	open_sm(f);
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
	if (f->src != NULL && teardown((void **)&f->src) != 0)
		return -1;
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
/* Every accepted socket inherits the listening socket's TCP_NODELAY: a response relayed in
 * pieces never waits for the client's delayed ACK. */
static void test_listening_sockets_disable_nagle(void **state)
{
	struct cfg_addr a;
	struct sockaddr_in *sin = (struct sockaddr_in *)&a.sa;
	int fd, on = 0;
	socklen_t len = sizeof(on);
	(void)state;
	memset(&a, 0, sizeof(a));
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.len = sizeof(*sin);
	fd = lsn_socket(&a, 0);
	assert_true(fd >= 0);
	assert_int_equal(getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, &len), 0);
	assert_int_equal(on, 1);
	close(fd);
}

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
	stop_sm(f);                                             /* a restart */
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

/* ---- layer 7 ---- */

static enum sm_err apply(struct fx *f, struct sm_change *c, struct sm_outcome *o)
{
	memset(o, 0, sizeof(*o));
	sm_apply(f->sm, c, o);
	return o->err;
}

static void listener(struct fx *f, char *id)
{
	struct sm_outcome o;
	assert_int_equal(create(f, "link-a", NULL, free_port(), &o), SM_OK);
	snprintf(id, ST_ID_MAX, "%s", o.id);
}

static void real_server(struct fx *f, const char *addr, char *id)
{
	char ids[1][ST_ID_MAX];
	const char *addrs[1] = { addr };
	json_t *tags = json_array();
	struct sm_change c = { .op = SM_ADD_REAL_SERVERS, .ids = addrs, .nids = 1, .name = "n",
		.tags = tags };
	struct sm_outcome o = { .new_ids = ids };
	sm_apply(f->sm, &c, &o);
	assert_int_equal(o.err, SM_OK);
	snprintf(id, ST_ID_MAX, "%s", ids[0]);
	json_decref(tags);
}

static enum sm_err domain_op(struct fx *f, enum sm_op op, const char *lsn, const char *old,
	const char *name, int deflt, int force)
{
	json_t *fields = json_pack("{s:s, s:b, s:n}", "Domain", name != NULL ? name : "",
		"IsDefaultServer", deflt, "CertificateId");
	struct sm_change c = { .op = op, .id = lsn, .name = old, .fields = fields, .force = force };
	struct sm_outcome o;
	enum sm_err e = apply(f, &c, &o);
	json_decref(fields);
	return e;
}

static json_t *rule_fields(const char *path, const char *type)
{
	return json_pack("{s:s, s:s, s:s, s:i, s:{}, s:s, s:s, s:s, s:s, s:n}", "Path", path,
		"RealServerType", type, "Scheduler", "lrtt", "HealthCheck", 0, "CheckParams",
		"ForwardProtocol", "default", "ForwardHost", "default",
		"ServerNameIndicationSwitch", "OFF", "ServerNameIndication", "", "ForcedRedirect");
}

/* CreateRule; its id into id (when SM_OK). */
static enum sm_err new_rule(struct fx *f, const char *lsn, const char *dom, const char *path,
	const char *type, char *id)
{
	json_t *fields = rule_fields(path, type);
	struct sm_change c = { .op = SM_CREATE_RULE, .id = lsn, .name = dom, .fields = fields };
	struct sm_outcome o;
	enum sm_err e = apply(f, &c, &o);
	if (e == SM_OK && id != NULL)
		snprintf(id, ST_ID_MAX, "%s", o.id);
	json_decref(fields);
	return e;
}

static enum sm_err bind_rule(struct fx *f, const char *rule, json_t *set)
{
	struct sm_change c = { .op = SM_BIND_RULE, .rule = rule, .fields = set };
	struct sm_outcome o;
	enum sm_err e = apply(f, &c, &o);
	json_decref(set);
	return e;
}

static json_t *binding(const char *rs, const char *ip, int port)
{
	return json_pack("{s:s, s:s, s:i, s:i}", "RealServerId", rs, "RealServerIP", ip,
		"RealServerPort", port, "RealServerWeight", 10);
}

static int count_kind(const char *kind, const char *id, json_t *fields, void *arg)
{
	(void)kind;
	(void)id;
	(void)fields;
	++*(size_t *)arg;
	return 0;
}

static size_t stored_kind(struct fx *f, const char *kind)
{
	size_t n = 0;
	assert_int_equal(st_each(f->store, kind, count_kind, &n), 0);
	return n;
}

/* Whether the listener routes by layer 7 now (its cell holds a px_l7). */
static int routes_l7(struct fx *f, const char *lsn)
{
	struct px_l7 *l7;
	lsn_table_lock(f->t);
	l7 = px_l7_cell_get(lsn_table_find(f->t, lsn)->l7);
	lsn_table_unlock(f->t);
	px_l7_unref(l7);
	return l7 != NULL;
}

static const char *default_name(struct fx *f, const char *lsn)
{
	const struct l7_domain *d = l7_default_domain(sm_l7(f->sm), lsn);
	return d != NULL ? json_string_value(json_object_get(d->fields, "Domain")) : NULL;
}

static void test_domains_unique_limited_and_one_default(void **state)
{
	struct fx *f = *state;
	char a[ST_ID_MAX];
	listener(f, a);
	assert_false(routes_l7(f, a));
	assert_int_equal(domain_op(f, SM_CREATE_DOMAIN, "listener-x", NULL, "a.example", 0, 0),
		SM_E_NOT_FOUND);
	assert_int_equal(domain_op(f, SM_CREATE_DOMAIN, a, NULL, "A.example", 1, 0), SM_OK);
	assert_true(routes_l7(f, a));
	assert_int_equal(domain_op(f, SM_CREATE_DOMAIN, a, NULL, "a.EXAMPLE", 0, 0),
		SM_E_DOMAIN_EXISTS);
	assert_string_equal(default_name(f, a), "A.example");
	assert_int_equal(domain_op(f, SM_CREATE_DOMAIN, a, NULL, "b.example", 1, 0), SM_OK);
	assert_string_equal(default_name(f, a), "b.example");      /* moved, in the same change */
	assert_false(json_is_true(json_object_get(l7_domain_find(sm_l7(f->sm), a, "a.example")
		->fields, "IsDefaultServer")));
	assert_int_equal(domain_op(f, SM_CREATE_DOMAIN, a, NULL, "c.example", 0, 0), SM_OK);
	assert_int_equal(domain_op(f, SM_CREATE_DOMAIN, a, NULL, "d.example", 0, 0),
		SM_E_DOMAIN_LIMIT);
	assert_int_equal(stored_kind(f, L7_DOMAIN_KIND), 3);
	/* ModifyDomain: the default flag back, and a rename onto another's name refused. */
	assert_int_equal(domain_op(f, SM_MODIFY_DOMAIN, a, "A.EXAMPLE", "a.example", 1, 0), SM_OK);
	assert_string_equal(default_name(f, a), "a.example");
	assert_int_equal(domain_op(f, SM_MODIFY_DOMAIN, a, "a.example", "C.example", 1, 0),
		SM_E_DOMAIN_EXISTS);
	assert_int_equal(domain_op(f, SM_MODIFY_DOMAIN, a, "z.example", "y.example", 0, 0),
		SM_E_NO_DOMAIN);
	assert_int_equal(domain_op(f, SM_MODIFY_DOMAIN, a, "b.example", "b.example", 0, 0), SM_OK);
	assert_string_equal(default_name(f, a), "a.example");
	assert_int_equal(domain_op(f, SM_DELETE_DOMAIN, a, "a.example", NULL, 0, 0), SM_OK);
	assert_null(default_name(f, a));
	assert_int_equal(domain_op(f, SM_DELETE_DOMAIN, a, "b.example", NULL, 0, 0), SM_OK);
	assert_int_equal(domain_op(f, SM_DELETE_DOMAIN, a, "c.example", NULL, 0, 0), SM_OK);
	assert_false(routes_l7(f, a));                          /* no domains: configured origins */
	assert_int_equal(stored_kind(f, L7_DOMAIN_KIND), 0);
}

/* allowed() with the listener's record, and a listener being deleted. */
static int nobody(const struct st_listener *rec, void *arg)
{
	(void)rec;
	(void)arg;
	return 0;
}

static void test_rename_keeps_rules_and_rules_are_checked(void **state)
{
	struct fx *f = *state;
	char a[ST_ID_MAX], r1[ST_ID_MAX], r2[ST_ID_MAX];
	listener(f, a);
	json_t *fields = json_pack("{s:s}", "Domain", "x.example");
	struct sm_change c = { .op = SM_CREATE_DOMAIN, .id = a, .fields = fields,
		.allowed = nobody };
	struct sm_outcome o;
	assert_int_equal(apply(f, &c, &o), SM_E_FORBIDDEN);
	json_decref(fields);
	assert_int_equal(domain_op(f, SM_CREATE_DOMAIN, a, NULL, "one.example", 0, 0), SM_OK);
	assert_int_equal(domain_op(f, SM_CREATE_DOMAIN, a, NULL, "two.example", 0, 0), SM_OK);
	assert_int_equal(new_rule(f, a, "nosuch.example", "/", "IP", NULL), SM_E_NO_DOMAIN);
	assert_int_equal(new_rule(f, a, "ONE.example", "/", "IP", r1), SM_OK);
	assert_int_equal(new_rule(f, a, "one.example", "/", "IP", NULL), SM_E_RULE_EXISTS);
	assert_int_equal(new_rule(f, a, "two.example", "/", "IP", r2), SM_OK);  /* other domain */
	assert_int_equal(new_rule(f, a, "two.example", "/b", "DOMAIN", NULL), SM_OK);
	assert_int_equal(new_rule(f, a, "one.example", "/c", "IP", NULL), SM_E_RULE_LIMIT);
	assert_int_equal(stored_kind(f, L7_RULE_KIND), 3);
	assert_int_equal(domain_op(f, SM_MODIFY_DOMAIN, a, "one.example", "uno.example", 0, 0),
		SM_OK);
	const struct l7_domain *d = l7_domain_find(sm_l7(f->sm), a, "uno.example");
	assert_non_null(d);
	assert_int_equal(l7_rule_count(sm_l7(f->sm), d->id), 1);
	assert_string_equal(l7_rule_at(sm_l7(f->sm), d->id, 0)->id, r1);
	/* ModifyRule: a path taken by another rule of the domain is refused; its own is fine. */
	json_t *mod = rule_fields("/b", "IP");
	struct sm_change m = { .op = SM_MODIFY_RULE, .id = a, .rule = r2, .fields = mod };
	assert_int_equal(apply(f, &m, &o), SM_E_RULE_EXISTS);
	json_object_set_new(mod, "Path", json_string("/"));
	json_object_set_new(mod, "Scheduler", json_string("wrr"));
	json_object_set_new(mod, "RealServerType", json_string("DOMAIN"));     /* ignored */
	assert_int_equal(apply(f, &m, &o), SM_OK);
	const struct l7_rule *r = l7_rule_find(sm_l7(f->sm), r2);
	assert_string_equal(json_string_value(json_object_get(r->fields, "Scheduler")), "wrr");
	assert_string_equal(json_string_value(json_object_get(r->fields, "RealServerType")), "IP");
	m.id = "listener-other";
	assert_int_equal(apply(f, &m, &o), SM_E_NOT_FOUND);
	m.id = a;
	m.rule = "rule-nosuch";
	assert_int_equal(apply(f, &m, &o), SM_E_NO_RULE);
	json_decref(mod);
}

static void test_bindings_all_or_nothing(void **state)
{
	struct fx *f = *state;
	char a[ST_ID_MAX], rip[ST_ID_MAX], rname[ST_ID_MAX], ip1[ST_ID_MAX], ip2[ST_ID_MAX];
	char name[ST_ID_MAX];
	listener(f, a);
	real_server(f, "10.0.0.1", ip1);
	real_server(f, "::1", ip2);
	real_server(f, "Origin.Example", name);
	assert_int_equal(domain_op(f, SM_CREATE_DOMAIN, a, NULL, "one.example", 0, 0), SM_OK);
	assert_int_equal(new_rule(f, a, "one.example", "/", "IP", rip), SM_OK);
	assert_int_equal(new_rule(f, a, "one.example", "/n", "DOMAIN", rname), SM_OK);
	assert_int_equal(bind_rule(f, rip, json_pack("[o, o]", binding(ip1, "10.0.0.1", 80),
		binding("rs-nosuch", "10.0.0.9", 80))), SM_E_RS_UNKNOWN);
	assert_int_equal(bind_rule(f, rip, json_pack("[o]", binding(ip1, "10.0.0.2", 80))),
		SM_E_RS_MISMATCH);
	assert_int_equal(bind_rule(f, rip, json_pack("[o]", binding(name, "origin.example", 80))),
		SM_E_RS_MISMATCH);                                      /* a name on an IP rule */
	assert_int_equal(bind_rule(f, rip, json_pack("[o, o, o]", binding(ip1, "10.0.0.1", 80),
		binding(ip1, "10.0.0.1", 81), binding(ip2, "::1", 80))), SM_E_BIND_LIMIT);
	assert_int_equal(bind_rule(f, "rule-nosuch", json_array()), SM_E_NO_RULE);
	assert_int_equal(l7_rs_binding_count(sm_l7(f->sm), ip1), 0);
	assert_int_equal(bind_rule(f, rip, json_pack("[o, o]", binding(ip1, "10.0.0.1", 80),
		binding(ip2, "0:0::1", 80))), SM_OK);           /* the address compared by value */
	assert_int_equal(bind_rule(f, rname, json_pack("[o]", binding(name, "ORIGIN.example", 80))),
		SM_OK);
	json_t *set = json_object_get(l7_rule_find(sm_l7(f->sm), rip)->fields, "RealServerSet");
	assert_int_equal(json_array_size(set), 2);
	assert_null(json_object_get(json_array_get(set, 0), "RealServerIP"));  /* by id only */
	assert_int_equal(l7_listener_binding_count(sm_l7(f->sm), a), 3);
	/* Headers: over the limit refused, then set. */
	json_t *h = json_pack("[{s:s, s:s}, {s:s, s:s}, {s:s, s:s}]", "HeaderName", "X-A",
		"HeaderValue", "1", "HeaderName", "X-B", "HeaderValue", "2", "HeaderName", "X-C",
		"HeaderValue", "$remote_addr");
	struct sm_change c = { .op = SM_SET_HEADERS, .rule = rip, .fields = h };
	struct sm_outcome o;
	assert_int_equal(apply(f, &c, &o), SM_E_HEADER_LIMIT);
	json_array_remove(h, 0);
	assert_int_equal(apply(f, &c, &o), SM_OK);
	assert_int_equal(json_array_size(json_object_get(l7_rule_find(sm_l7(f->sm), rip)->fields,
		"Headers")), 2);
	json_decref(h);
	/* A bound real server stays; unbinding frees it. */
	const char *ids[1] = { ip1 };
	struct sm_change rm = { .op = SM_REMOVE_REAL_SERVERS, .ids = ids, .nids = 1 };
	assert_int_equal(apply(f, &rm, &o), SM_E_RS_BOUND);
	assert_string_equal(o.detail, ip1);
	assert_int_equal(bind_rule(f, rip, json_array()), SM_OK);
	assert_int_equal(apply(f, &rm, &o), SM_OK);
	assert_true(routes_l7(f, a));
}

static void test_deletes_and_force(void **state)
{
	struct fx *f = *state;
	char a[ST_ID_MAX], b[ST_ID_MAX], rs[ST_ID_MAX], r1[ST_ID_MAX], r2[ST_ID_MAX];
	struct sm_outcome o;
	listener(f, a);
	listener(f, b);
	real_server(f, "10.0.0.1", rs);
	assert_int_equal(domain_op(f, SM_CREATE_DOMAIN, a, NULL, "one.example", 0, 0), SM_OK);
	assert_int_equal(domain_op(f, SM_CREATE_DOMAIN, a, NULL, "two.example", 0, 0), SM_OK);
	assert_int_equal(domain_op(f, SM_CREATE_DOMAIN, b, NULL, "one.example", 0, 0), SM_OK);
	assert_int_equal(new_rule(f, a, "one.example", "/", "IP", r1), SM_OK);
	assert_int_equal(new_rule(f, a, "one.example", "/x", "IP", NULL), SM_OK);
	assert_int_equal(new_rule(f, a, "two.example", "/", "IP", r2), SM_OK);
	assert_int_equal(new_rule(f, b, "one.example", "/", "IP", NULL), SM_OK);
	assert_int_equal(bind_rule(f, r1, json_pack("[o]", binding(rs, "10.0.0.1", 80))), SM_OK);
	assert_int_equal(bind_rule(f, r2, json_pack("[o]", binding(rs, "10.0.0.1", 80))), SM_OK);
	/* DeleteRule and DeleteDomain refuse bindings without force. */
	struct sm_change dr = { .op = SM_DELETE_RULE, .id = a, .rule = r2 };
	assert_int_equal(apply(f, &dr, &o), SM_E_RS_BOUND);
	dr.force = 1;
	assert_int_equal(apply(f, &dr, &o), SM_OK);
	assert_int_equal(domain_op(f, SM_DELETE_DOMAIN, a, "one.example", NULL, 0, 0),
		SM_E_RS_BOUND);
	assert_int_equal(stored_kind(f, L7_RULE_KIND), 3);
	/* DeleteListeners: force 0 refuses naming the listener, and deletes none. */
	const char *ids[2] = { b, a };
	unsigned char verdicts[2];
	struct sm_change dl = { .op = SM_DELETE_LISTENERS, .ids = ids, .nids = 2 };
	struct sm_outcome d = { .verdicts = verdicts };
	sm_apply(f->sm, &dl, &d);
	assert_int_equal(d.err, SM_E_RS_BOUND);
	assert_string_equal(d.detail, a);
	assert_int_equal(count(f), 2);
	assert_int_equal(stored_kind(f, L7_DOMAIN_KIND), 3);
	dl.force = 1;
	sm_apply(f->sm, &dl, &d);
	assert_int_equal(d.err, SM_OK);
	assert_int_equal(stored_kind(f, L7_DOMAIN_KIND), 0);
	assert_int_equal(stored_kind(f, L7_RULE_KIND), 0);
	assert_int_equal(l7_domain_count(sm_l7(f->sm), a), 0);
	assert_int_equal(l7_rs_binding_count(sm_l7(f->sm), rs), 0);
	assert_null(l7_rule_find(sm_l7(f->sm), r1));
}

/* The listener's rule for host and path in its routing now, or NULL; *l7 keeps it alive. */
static const struct px_l7_rule *routed(struct fx *f, const char *lsn, const char *host,
	const char *path, struct px_l7 **l7)
{
	const struct px_l7_rule *r = NULL;
	lsn_table_lock(f->t);
	*l7 = px_l7_cell_get(lsn_table_find(f->t, lsn)->l7);
	lsn_table_unlock(f->t);
	assert_non_null(*l7);
	if (px_l7_route(*l7, host, strlen(host), path, strlen(path), &r) != PX_RT_FOUND)
		return NULL;
	return r;
}

/* A rule's routing input is parsed once, when it enters the set (l7.h's l7_route): each change
 * to the rule gives a routing built from the new fields, not the old parse. */
static void test_routing_follows_each_rule_change(void **state)
{
	struct fx *f = *state;
	char a[ST_ID_MAX], rid[ST_ID_MAX], ip1[ST_ID_MAX], ip2[ST_ID_MAX];
	const struct px_l7_rule *r;
	struct px_l7 *l7;
	struct hc_snap snap;
	struct sm_outcome o;
	struct hc_checker *checks = hc_start(lsn_table_servers(f->t), f->err, sizeof(f->err));
	assert_non_null(checks);
	sm_set_checker(f->sm, checks);
	listener(f, a);
	real_server(f, "127.0.0.1", ip1);
	real_server(f, "::1", ip2);
	assert_int_equal(domain_op(f, SM_CREATE_DOMAIN, a, NULL, "one.example", 0, 0), SM_OK);
	assert_int_equal(new_rule(f, a, "one.example", "/", "IP", rid), SM_OK);
	assert_non_null(r = routed(f, a, "one.example", "/x", &l7));
	assert_int_equal(r->group->n, 0);
	assert_int_equal(r->group->sched, CFG_SCHED_LC);            /* lrtt */
	assert_null(r->forward_host);
	assert_false(r->redirect);
	px_l7_unref(l7);
	/* ModifyRuleAttribute: path, scheduler, ForwardHost, ForcedRedirect, the health check. */
	json_t *mod = rule_fields("/p", "IP");
	json_object_update_new(mod, json_pack("{s:s, s:s, s:s, s:i, s:{s:s, s:s}}", "Scheduler",
		"wrr", "ForwardHost", "up.example", "ForcedRedirect", "https:", "HealthCheck", 1,
		"CheckParams", "Path", "/hc", "Domain", ""));
	struct sm_change m = { .op = SM_MODIFY_RULE, .id = a, .rule = rid, .fields = mod };
	assert_int_equal(apply(f, &m, &o), SM_OK);
	assert_null(routed(f, a, "one.example", "/x", &l7));
	px_l7_unref(l7);
	assert_non_null(r = routed(f, a, "one.example", "/p/x", &l7));
	assert_int_equal(r->group->sched, CFG_SCHED_WRR);
	assert_string_equal(r->forward_host, "up.example");
	assert_true(r->redirect);
	px_l7_unref(l7);
	/* BindRuleRealServers: the addresses are the real servers', each binding checked. */
	assert_int_equal(bind_rule(f, rid, json_pack("[o, o]", binding(ip1, "127.0.0.1", 1),
		binding(ip2, "::1", 2))), SM_OK);
	assert_non_null(r = routed(f, a, "one.example", "/p", &l7));
	assert_int_equal(r->group->n, 2);
	assert_string_equal(r->group->m[0].srv->addr.text, "127.0.0.1:1");
	assert_string_equal(r->group->m[1].srv->addr.text, "[::1]:2");
	assert_int_equal(r->group->m[1].weight, 10);
	assert_non_null(r->group->m[0].check);
	px_l7_unref(l7);
	assert_int_equal(sm_binding_health(f->sm, rid, 1, &snap), 0);
	assert_string_equal(snap.params.path, "/hc");
	assert_string_equal(snap.params.host, "one.example");      /* CheckParams.Domain "" */
	assert_int_equal(domain_op(f, SM_MODIFY_DOMAIN, a, "one.example", "uno.example", 0, 0),
		SM_OK);
	assert_int_equal(sm_binding_health(f->sm, rid, 1, &snap), 0);
	assert_string_equal(snap.params.host, "uno.example");      /* the rename's, at the build */
	/* CreateCustomHeader (SetHeaders). */
	json_t *h = json_pack("[{s:s, s:s}, {s:s, s:s}]", "HeaderName", "X-A", "HeaderValue", "1",
		"HeaderName", "X-B", "HeaderValue", "$remote_addr");
	struct sm_change c = { .op = SM_SET_HEADERS, .rule = rid, .fields = h };
	assert_int_equal(apply(f, &c, &o), SM_OK);
	json_decref(h);
	assert_non_null(r = routed(f, a, "uno.example", "/p", &l7));
	assert_int_equal(r->nheaders, 2);
	assert_string_equal(r->headers[0].name, "X-A");
	assert_string_equal(r->headers[0].value, "1");
	assert_true(r->headers[1].remote_addr);
	assert_int_equal(r->group->n, 2);                           /* the bindings kept */
	px_l7_unref(l7);
	/* Rebound to one, then the check off: the routing has neither the old set nor a check. */
	assert_int_equal(bind_rule(f, rid, json_pack("[o]", binding(ip2, "::1", 3))), SM_OK);
	json_object_set_new(mod, "HealthCheck", json_integer(0));
	assert_int_equal(apply(f, &m, &o), SM_OK);
	json_decref(mod);
	assert_non_null(r = routed(f, a, "uno.example", "/p", &l7));
	assert_int_equal(r->group->n, 1);
	assert_string_equal(r->group->m[0].srv->addr.text, "[::1]:3");
	assert_null(r->group->m[0].check);
	assert_int_equal(r->nheaders, 2);
	px_l7_unref(l7);
	assert_int_equal(sm_binding_health(f->sm, rid, 0, &snap), -1);
	hc_stop(checks);            /* the routings' targets stay readable until freed */
}

/* Walks the set: "listener domain(default) rule path bindings headers" lines. */
static void dump(struct fx *f, const char *lsn, char *out, size_t len)
{
	const struct l7_set *s = sm_l7(f->sm);
	size_t used = 0;
	out[0] = '\0';
	for (size_t i = 0; i < l7_domain_count(s, lsn); i++) {
		const struct l7_domain *d = l7_domain_at(s, lsn, i);
		char *j = json_dumps(d->fields, JSON_SORT_KEYS | JSON_COMPACT);
		used += (size_t)snprintf(out + used, len - used, "%s %s\n", d->id, j);
		free(j);
		for (size_t k = 0; k < l7_rule_count(s, d->id); k++) {
			j = json_dumps(l7_rule_at(s, d->id, k)->fields, JSON_SORT_KEYS | JSON_COMPACT);
			used += (size_t)snprintf(out + used, len - used, "  %s\n", j);
			free(j);
		}
	}
	assert_true(used < len);
}

static void test_restore_gives_the_same_set(void **state)
{
	struct fx *f = *state;
	char a[ST_ID_MAX], rs[ST_ID_MAX], r1[ST_ID_MAX], before[8192], after[8192];
	listener(f, a);
	real_server(f, "origin.example", rs);
	assert_int_equal(domain_op(f, SM_CREATE_DOMAIN, a, NULL, "two.example", 0, 0), SM_OK);
	assert_int_equal(domain_op(f, SM_CREATE_DOMAIN, a, NULL, "One.example", 1, 0), SM_OK);
	assert_int_equal(new_rule(f, a, "one.example", "/", "DOMAIN", r1), SM_OK);
	assert_int_equal(new_rule(f, a, "one.example", "/z", "DOMAIN", NULL), SM_OK);
	assert_int_equal(new_rule(f, a, "two.example", "/", "IP", NULL), SM_OK);
	assert_int_equal(bind_rule(f, r1, json_pack("[o]", binding(rs, "origin.example", 8080))), SM_OK);
	dump(f, a, before, sizeof(before));
	assert_int_equal(sm_sync(f->sm, f->err, sizeof(f->err)), 0);
	restart_sm(f);
	assert_int_equal(sm_restore(f->sm, f->err, sizeof(f->err)), 0);
	dump(f, a, after, sizeof(after));
	assert_string_equal(before, after);
	assert_string_equal(default_name(f, a), "One.example");
	assert_int_equal(l7_rs_binding_count(sm_l7(f->sm), rs), 1);
	assert_true(routes_l7(f, a));
	/* The restored set takes changes as before. */
	assert_int_equal(domain_op(f, SM_CREATE_DOMAIN, a, NULL, "ONE.example", 0, 0),
		SM_E_DOMAIN_EXISTS);
	assert_int_equal(domain_op(f, SM_DELETE_DOMAIN, a, "one.example", NULL, 0, 1), SM_OK);
	assert_int_equal(sm_sync(f->sm, f->err, sizeof(f->err)), 0);
	/* Records whose listener or domain is gone are skipped at the restore, not fatal. */
	json_t *orphan = json_pack("{s:s, s:s, s:b, s:i}", "ListenerId", "listener-gone",
		"Domain", "x.example", "IsDefaultServer", 0, "CreateTime", 1);
	json_t *stray = rule_fields("/", "IP");
	json_object_update_new(stray, json_pack("{s:s, s:s, s:s, s:[], s:[], s:i}", "RuleId",
		"rule-stray", "ListenerId", a, "DomainId", "dom-gone", "RealServerSet", "Headers",
		"CreateTime", 1));
	struct st_op ops[2] = { { ST_PUT, L7_DOMAIN_KIND, "dom-orphan", orphan },
		{ ST_PUT, L7_RULE_KIND, "rule-stray", stray } };
	assert_int_equal(st_write(f->store, ops, 2, f->err, sizeof(f->err)), 0);
	json_decref(orphan);
	json_decref(stray);
	restart_sm(f);
	assert_int_equal(sm_restore(f->sm, f->err, sizeof(f->err)), 0);
	assert_int_equal(l7_domain_count(sm_l7(f->sm), a), 1);
	assert_int_equal(l7_listener_rule_count(sm_l7(f->sm), a), 1);
	assert_int_equal(l7_rs_binding_count(sm_l7(f->sm), rs), 0);
}


/* ---- certificates and HTTPS listeners ---- */

/* PEM text of f->dir/name (the caller frees). */
static char *slurp(struct fx *f, const char *name)
{
	return tf_slurp(f->dir, name);
}

/* www (www.example), other (other.example), ca: EC P-256, made by the openssl CLI. */
static void make_certs(struct fx *f)
{
	char cmd[1024];
	static const char *const names[] = { "www", "other", "ca" };
	for (size_t i = 0; i < 3; i++) {
		snprintf(cmd, sizeof(cmd), "cd %s && openssl req -x509 -newkey ec -pkeyopt "
			"ec_paramgen_curve:P-256 -nodes -keyout %s.key -out %s.pem -days 2 -subj /CN=%s "
			"-addext subjectAltName=DNS:%s.example 2>/dev/null", f->dir, names[i], names[i],
			names[i], names[i]);
		assert_int_equal(system(cmd), 0);
	}
}

/* SM_CREATE_CERT of type with content and key as they are (sm does not parse them). */
static enum sm_err cert_raw(struct fx *f, int type, const char *content, const char *key,
	char *id)
{
	json_t *fields = json_pack("{s:i, s:s, s:s, s:o, s:i, s:i, s:n, s:n}", "CertificateType",
		type, "CertificateAlias", "", "CertificateContent", content, "CertificateKey",
		key != NULL ? json_string(key) : json_null(), "BeginTime", 0, "EndTime", 0,
		"SubjectCN", "IssuerCN");
	struct sm_change c = { .op = SM_CREATE_CERT, .fields = fields };
	struct sm_outcome o;
	enum sm_err e = apply(f, &c, &o);
	if (e == SM_OK)
		snprintf(id, ST_ID_MAX, "%s", o.id);
	json_decref(fields);
	return e;
}

static void cert(struct fx *f, int type, const char *name, char *id)
{
	char file[64], *content, *key = NULL;
	snprintf(file, sizeof(file), "%s.pem", name);
	content = slurp(f, file);
	if (type == TLS_CERT_SERVER) {
		snprintf(file, sizeof(file), "%s.key", name);
		key = slurp(f, file);
	}
	assert_int_equal(cert_raw(f, type, content, key, id), SM_OK);
	free(content);
	free(key);
}

static enum sm_err https(struct fx *f, const char *cert_id, const char *ca, unsigned port,
	struct sm_outcome *o)
{
	struct sm_change c = { .op = SM_CREATE_LISTENER, .rec = { .protocol = "HTTPS",
		.port = port, .proxy_id = "link-a", .name = "tls" } };
	snprintf(c.rec.https.cert, ST_ID_MAX, "%s", cert_id);
	snprintf(c.rec.https.forward, sizeof(c.rec.https.forward), "HTTP");
	c.rec.https.versions = TLS_V12 | TLS_V13;
	if (ca != NULL) {
		c.rec.https.auth_type = 1;
		snprintf(c.rec.https.cas[c.rec.https.ncas++], ST_ID_MAX, "%s", ca);
	}
	return apply(f, &c, o);
}

/* The tls_srv listener id's new handshakes use now (a reference, the caller's; NULL: none). */
static struct tls_srv *serving(struct fx *f, const char *id)
{
	struct tls_srv *s;
	lsn_table_lock(f->t);
	s = tls_cell_get(lsn_table_find(f->t, id)->tls);
	lsn_table_unlock(f->t);
	return s;
}

static enum sm_err domain_cert(struct fx *f, enum sm_op op, const char *lsn, const char *name,
	const char *cert_id)
{
	json_t *fields = json_pack("{s:s, s:b, s:s?, s:n, s:[]}", "Domain", name, "IsDefaultServer",
		0, "CertificateId", cert_id, "ClientCertificateId", "PolyClientCertificateIds");
	struct sm_change c = { .op = op, .id = lsn, .name = name, .fields = fields };
	struct sm_outcome o;
	enum sm_err e = apply(f, &c, &o);
	json_decref(fields);
	return e;
}

static void test_https_listeners_refuse_what_their_certificates_cannot_do(void **state)
{
	struct fx *f = *state;
	char www[ST_ID_MAX], other[ST_ID_MAX], ca[ST_ID_MAX], junk[ST_ID_MAX], a[ST_ID_MAX];
	unsigned port = free_port();
	struct sm_outcome o;
	make_certs(f);
	cert(f, TLS_CERT_SERVER, "www", www);
	cert(f, TLS_CERT_SERVER, "other", other);
	cert(f, TLS_CERT_CLIENT_CA, "ca", ca);
	assert_int_equal(cert_raw(f, TLS_CERT_SERVER, "junk", "junk", junk), SM_OK);
	assert_int_equal(cs_count(sm_certs(f->sm)), 4);
	/* refusals leave no socket and no record */
	assert_int_equal(https(f, "cert-nosuch", NULL, port, &o), SM_E_CERT_UNKNOWN);
	assert_int_equal(https(f, ca, NULL, port, &o), SM_E_CERT_UNKNOWN);
	assert_int_equal(https(f, www, www, port, &o), SM_E_CERT_UNKNOWN);
	assert_int_equal(https(f, junk, NULL, port, &o), SM_E_TLS);
	assert_true(o.detail[0] != '\0');
	assert_true(port_free(port));
	assert_int_equal(count(f), 0);
	assert_int_equal(stored(f), 0);
	assert_int_equal(https(f, www, NULL, port, &o), SM_OK);
	snprintf(a, sizeof(a), "%s", o.id);
	struct tls_srv *first = serving(f, a);
	assert_non_null(first);
	/* domains: a certificate must cover its name; SNI changes are a new tls_srv */
	assert_int_equal(domain_cert(f, SM_CREATE_DOMAIN, a, "www.other.example", other),
		SM_E_CERT_NO_MATCH);
	assert_int_equal(domain_cert(f, SM_CREATE_DOMAIN, a, "other.example", ca), SM_E_CERT_UNKNOWN);
	assert_int_equal(domain_cert(f, SM_CREATE_DOMAIN, a, "other.example", other), SM_OK);
	struct tls_srv *second = serving(f, a);
	assert_ptr_not_equal(first, second);
	tls_srv_unref(first);
	tls_srv_unref(second);
	/* in use: refused, naming the user */
	struct sm_change del = { .op = SM_DELETE_CERT, .id = www };
	assert_int_equal(apply(f, &del, &o), SM_E_CERT_IN_USE);
	assert_non_null(strstr(o.detail, a));
	del.id = other;
	assert_int_equal(apply(f, &del, &o), SM_E_CERT_IN_USE);
	assert_non_null(strstr(o.detail, "other.example"));
	del.id = junk;
	assert_int_equal(apply(f, &del, &o), SM_OK);
	del.id = junk;
	assert_int_equal(apply(f, &del, &o), SM_E_NOT_FOUND);
	assert_int_equal(cs_count(sm_certs(f->sm)), 3);
}

static void test_https_changes_and_restore(void **state)
{
	struct fx *f = *state;
	char www[ST_ID_MAX], other[ST_ID_MAX], ca[ST_ID_MAX], a[ST_ID_MAX], h[ST_ID_MAX];
	struct sm_outcome o;
	make_certs(f);
	cert(f, TLS_CERT_SERVER, "www", www);
	cert(f, TLS_CERT_SERVER, "other", other);
	cert(f, TLS_CERT_CLIENT_CA, "ca", ca);
	assert_int_equal(https(f, www, ca, free_port(), &o), SM_OK);
	snprintf(a, sizeof(a), "%s", o.id);
	listener(f, h);
	/* SET_TLS and MODIFY_HTTPS_LISTENER on an HTTP listener: not HTTPS */
	struct sm_change tlsv = { .op = SM_SET_TLS, .id = h, .tls_versions = TLS_V13,
		.tls_ciphers = TLS_CIPHERS_WIDE };
	assert_int_equal(apply(f, &tlsv, &o), SM_E_NOT_HTTPS);
	tlsv.id = a;
	assert_int_equal(apply(f, &tlsv, &o), SM_OK);
	json_t *mod = json_pack("{s:s, s:s, s:[]}", "CertificateId", other, "ForwardProtocol",
		"HTTPS", "ClientCertificateIds");
	struct sm_change m = { .op = SM_MODIFY_HTTPS_LISTENER, .id = a, .name = "renamed",
		.fields = mod };
	assert_int_equal(apply(f, &m, &o), SM_E_CERT_PARAM);      /* AuthType 1 without CAs */
	json_object_set_new(mod, "ClientCertificateIds", json_pack("[s]", ca));
	assert_int_equal(apply(f, &m, &o), SM_OK);
	json_decref(mod);
	struct sm_change rn = { .op = SM_RENAME_CERT, .id = other, .name = "alias" };
	assert_int_equal(apply(f, &rn, &o), SM_OK);
	assert_int_equal(sm_sync(f->sm, f->err, sizeof(f->err)), 0);
	restart_sm(f);
	assert_int_equal(sm_restore(f->sm, f->err, sizeof(f->err)), 0);
	lsn_table_lock(f->t);
	const struct lsn *l = lsn_table_find(f->t, a);
	assert_non_null(l);
	assert_string_equal(l->rec.name, "renamed");
	assert_string_equal(l->rec.https.cert, other);
	assert_string_equal(l->rec.https.forward, "HTTPS");
	assert_int_equal(l->rec.https.auth_type, 1);
	assert_int_equal(l->rec.https.ncas, 1);
	assert_int_equal(l->rec.https.versions, TLS_V13);
	assert_int_equal(l->rec.https.ciphers, TLS_CIPHERS_WIDE);
	lsn_table_unlock(f->t);
	struct tls_srv *s = serving(f, a);
	assert_non_null(s);
	assert_true(tls_srv_forward_https(s));         /* ForwardProtocol reaches the data plane */
	assert_true(tls_srv_mutual(s));
	tls_srv_unref(s);
	assert_null(serving(f, h));
	assert_string_equal(json_string_value(json_object_get(cs_find(sm_certs(f->sm), other)->fields,
		"CertificateAlias")), "alias");
	assert_int_equal(cs_count(sm_certs(f->sm)), 3);
}

/* ---- the fleet: records another node wrote (sm_apply_records) ---- */

/* The other node: the same proxy ids on other addresses (so both bind the same ports here), and
 * link-x, which this node does not have. */
static const char *src_config =
	"node:\n  workers: 1\n  state_dir: state\n"
	"control:\n  listen: 127.0.0.1:0\n  auth: none\n"
	"proxies:\n"
	"  - id: link-a\n    bind: 127.0.0.5\n    max_listeners: 10\n    origins: [127.0.0.1:1]\n"
	"  - id: link-b\n    bind: 127.0.0.6\n    origins: [127.0.0.1:1]\n"
	"  - id: link-c\n    bind: 127.0.0.7\n    origins: [127.0.0.1:1]\n"
	"  - id: link-x\n    bind: 127.0.0.8\n    origins: [127.0.0.1:1]\n"
	"groups:\n  - id: lg-g\n    proxies: [link-b, link-c]\n";

static int setup_fleet(void **state)
{
	struct fx *f, *src = calloc(1, sizeof(*src));
	if (src == NULL || setup(state) != 0)
		return -1;
	f = *state;
	f->src = src;
	snprintf(src->dir, sizeof(src->dir), "/tmp/gaapd-smsrc-XXXXXX");
	if (mkdtemp(src->dir) == NULL || cfg_load_string(src_config, "s.yaml", src->dir,
	    &src->cfg, src->err, sizeof(src->err)) != 0 ||
	    (src->workers = wrk_pool_start(1, src->err, sizeof(src->err))) == NULL)
		return -1;
	open_sm(src);
	return 0;
}

static int snap_one(const char *kind, const char *id, json_t *fields, void *arg)
{
	char key[160];
	snprintf(key, sizeof(key), "%s/%s", kind, id);
	return json_object_set_new(arg, key, json_pack("{s:s, s:s, s:O}", "kind", kind, "id", id,
		"fields", fields));
}

/* Every record of the store: {"kind/id": {kind, id, fields}}. */
static json_t *snapshot(struct fx *f)
{
	json_t *o = json_object();
	assert_int_equal(sm_sync(f->sm, f->err, sizeof(f->err)), 0);
	assert_int_equal(st_each(f->store, NULL, snap_one, o), 0);
	return o;
}

static const char *member(json_t *v, const char *name)
{
	return json_string_value(json_object_get(v, name));
}

/* A deterministic shuffle (seed 0: as built). */
static void scramble(struct st_op *ops, size_t n, unsigned seed)
{
	for (size_t i = n; seed != 0 && i > 1; i--) {
		struct st_op t;
		size_t k;
		seed = seed * 1103515245u + 12345u;
		k = (seed >> 8) % i;
		t = ops[i - 1];
		ops[i - 1] = ops[k];
		ops[k] = t;
	}
}

/* As the feed would: what differs from before to after as one change to f (puts of every
 * record of after, equal ones too: sm must skip them; dels of what after lacks), in an order
 * of seed. How many ops. */
static size_t feed(struct fx *f, json_t *before, json_t *after, unsigned seed)
{
	size_t n = 0;
	struct st_op *ops = calloc(json_object_size(before) + json_object_size(after) + 1,
		sizeof(*ops));
	const char *key;
	json_t *v;
	assert_non_null(ops);
	json_object_foreach(after, key, v)
		ops[n++] = (struct st_op){ ST_PUT, member(v, "kind"), member(v, "id"),
			json_object_get(v, "fields") };
	json_object_foreach(before, key, v)
		if (json_object_get(after, key) == NULL)
			ops[n++] = (struct st_op){ ST_DEL, member(v, "kind"), member(v, "id"), NULL };
	scramble(ops, n, seed);
	assert_int_equal(sm_apply_records(f->sm, ops, n, f->err, sizeof(f->err)), 0);
	free(ops);
	return n;
}

/* The source's changes since seen, applied to f; what f has seen now. */
static json_t *catch_up(struct fx *f, json_t *seen, unsigned seed)
{
	json_t *now = snapshot(f->src);
	feed(f, seen, now, seed);
	json_decref(seen);
	return now;
}

static const struct lsn *lsn_now(struct fx *f, const char *id)
{
	const struct lsn *l;
	lsn_table_lock(f->t);
	l = lsn_table_find(f->t, id);
	lsn_table_unlock(f->t);
	return l;
}

static int connect_to(const char *ip, unsigned port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(inet_pton(AF_INET, ip, &a.sin_addr), 1);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Neither closed nor reset by the listener's side. */
static int still_open(int fd)
{
	char c;
	return recv(fd, &c, 1, MSG_DONTWAIT) < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

static void test_fleet_listener_put_again_rename_del(void **state)
{
	struct fx *f = *state;
	struct sm_outcome o;
	unsigned port = free_port();
	char a[ST_ID_MAX];
	json_t *seen = json_object();
	assert_int_equal(create(f->src, "link-a", NULL, port, &o), SM_OK);
	snprintf(a, sizeof(a), "%s", o.id);
	seen = catch_up(f, seen, 0);
	const struct lsn *l = lsn_now(f, a);
	assert_non_null(l);
	assert_int_equal(l->status, LSN_RUNNING);
	assert_int_equal(l->rec.port, port);
	assert_false(port_free(port));
	int fd = connect_to("127.0.0.1", port);            /* served here, on this node's address */
	assert_true(fd >= 0);
	assert_int_equal(stored(f), 0);                     /* nothing written: the cache is the
	                                                     * back end's */
	/* The same records again: nothing changes, the connection stays. */
	feed(f, seen, seen, 3);
	assert_ptr_equal(lsn_now(f, a), l);
	assert_int_equal(count(f), 1);
	assert_true(still_open(fd));
	/* A rename: in place. */
	struct sm_change rn = { .op = SM_RENAME_LISTENER, .id = a, .name = "renamed" };
	assert_int_equal(apply(f->src, &rn, &o), SM_OK);
	seen = catch_up(f, seen, 0);
	assert_ptr_equal(lsn_now(f, a), l);
	assert_string_equal(l->rec.name, "renamed");
	assert_true(still_open(fd));
	/* Deleted there: gone here, the port free again. */
	const char *ids[1] = { a };
	unsigned char verdicts[1];
	struct sm_change del = { .op = SM_DELETE_LISTENERS, .ids = ids, .nids = 1 };
	struct sm_outcome d = { .verdicts = verdicts };
	sm_apply(f->src->sm, &del, &d);
	assert_int_equal(d.err, SM_OK);
	seen = catch_up(f, seen, 0);
	assert_null(lsn_now(f, a));
	assert_true(connect_to("127.0.0.1", port) < 0);        /* nothing listens (the client's
	                                                         * connection keeps the port) */
	/* A del of what is not here: nothing. */
	struct st_op gone = { ST_DEL, ST_LISTENER, a, NULL };
	assert_int_equal(sm_apply_records(f->sm, &gone, 1, f->err, sizeof(f->err)), 0);
	close(fd);
	json_decref(seen);
}

/* One batch holding what happened while this node was away (a resync): a port deleted and taken
 * again, two domains that swapped names. */
static void test_fleet_resync_batch(void **state)
{
	struct fx *f = *state, *src = f->src;
	struct sm_outcome o;
	unsigned port = free_port();
	char a[ST_ID_MAX], b[ST_ID_MAX], c[ST_ID_MAX], here[8192], there[8192];
	json_t *seen = json_object();
	assert_int_equal(create(src, "link-a", NULL, port, &o), SM_OK);
	snprintf(a, sizeof(a), "%s", o.id);
	listener(src, c);
	assert_int_equal(domain_op(src, SM_CREATE_DOMAIN, c, NULL, "one.example", 0, 0), SM_OK);
	assert_int_equal(domain_op(src, SM_CREATE_DOMAIN, c, NULL, "two.example", 0, 0), SM_OK);
	assert_int_equal(new_rule(src, c, "one.example", "/", "IP", NULL), SM_OK);
	assert_int_equal(new_rule(src, c, "two.example", "/", "IP", NULL), SM_OK);
	assert_int_equal(new_rule(src, c, "two.example", "/x", "IP", NULL), SM_OK);
	seen = catch_up(f, seen, 0);
	const char *ids[1] = { a };
	unsigned char verdicts[1];
	struct sm_change del = { .op = SM_DELETE_LISTENERS, .ids = ids, .nids = 1 };
	struct sm_outcome d = { .verdicts = verdicts };
	sm_apply(src->sm, &del, &d);
	assert_int_equal(d.err, SM_OK);
	assert_int_equal(create(src, "link-a", NULL, port, &o), SM_OK);
	snprintf(b, sizeof(b), "%s", o.id);
	assert_int_equal(domain_op(src, SM_MODIFY_DOMAIN, c, "one.example", "tmp.example", 0, 0),
		SM_OK);
	assert_int_equal(domain_op(src, SM_MODIFY_DOMAIN, c, "two.example", "one.example", 0, 0),
		SM_OK);
	assert_int_equal(domain_op(src, SM_MODIFY_DOMAIN, c, "tmp.example", "two.example", 0, 0),
		SM_OK);
	seen = catch_up(f, seen, 0);
	assert_null(lsn_now(f, a));
	assert_non_null(lsn_now(f, b));
	assert_int_equal(lsn_now(f, b)->status, LSN_RUNNING);
	int fd = connect_to("127.0.0.1", port);
	assert_true(fd >= 0);
	close(fd);
	dump(src, c, there, sizeof(there));
	dump(f, c, here, sizeof(here));
	assert_string_equal(here, there);
	assert_int_equal(l7_listener_rule_count(sm_l7(f->sm), c), 3);
	json_decref(seen);
}

/* Records as another node's feed hands them, made by hand: an address registered again under
 * a new id (the old one's del in the same batch, after it), then an unknown kind and dels of
 * unknown ids, which change nothing. */
static void test_fleet_real_server_readded(void **state)
{
	struct fx *f = *state;
	json_t *tags = json_array();
	json_t *one = rs_fields("rs-one", "10.0.0.1", "a", 0, tags);
	json_t *two = rs_fields("rs-two", "10.0.0.1", "b", 0, tags);
	struct st_op first = { ST_PUT, RS_KIND, "rs-one", one };
	struct st_op batch[4] = { { ST_PUT, RS_KIND, "rs-two", two },
		{ ST_DEL, RS_KIND, "rs-one", NULL }, { ST_PUT, "nosuchkind", "x-1", one },
		{ ST_DEL, L7_RULE_KIND, "rule-nosuch", NULL } };
	assert_int_equal(sm_apply_records(f->sm, &first, 1, f->err, sizeof(f->err)), 0);
	assert_non_null(rs_find(sm_real_servers(f->sm), "rs-one"));
	assert_int_equal(sm_apply_records(f->sm, batch, 4, f->err, sizeof(f->err)), 0);
	assert_null(rs_find(sm_real_servers(f->sm), "rs-one"));
	assert_non_null(rs_find(sm_real_servers(f->sm), "rs-two"));
	assert_int_equal(rs_count(sm_real_servers(f->sm)), 1);
	assert_int_equal(sm_apply_records(f->sm, batch, 4, f->err, sizeof(f->err)), 0);
	assert_int_equal(rs_count(sm_real_servers(f->sm)), 1);
	assert_int_equal(sm_apply_records(f->sm, NULL, 0, f->err, sizeof(f->err)), 0);
	json_decref(one);
	json_decref(two);
	json_decref(tags);
}

/* A group's listener: bound here on each member's address. */
static void test_fleet_group_listener(void **state)
{
	struct fx *f = *state;
	struct sm_outcome o;
	unsigned port = free_port();
	char g[ST_ID_MAX];
	json_t *seen = json_object();
	int fd;
	assert_int_equal(create(f->src, NULL, "lg-g", port, &o), SM_OK);
	snprintf(g, sizeof(g), "%s", o.id);
	seen = catch_up(f, seen, 0);
	const struct lsn *l = lsn_now(f, g);
	assert_non_null(l);
	assert_int_equal(l->status, LSN_RUNNING);
	assert_int_equal(l->nsocks, 2);
	assert_true((fd = connect_to("127.0.0.2", port)) >= 0);
	close(fd);
	assert_true((fd = connect_to("127.0.0.3", port)) >= 0);
	close(fd);
	lsn_table_lock(f->t);
	assert_int_equal(lsn_table_count_proxy(f->t, "link-c"), 1);
	lsn_table_unlock(f->t);
	json_decref(seen);
}

/* A listener this node cannot serve is added anyway, not serving, with its fault. */
static void test_fleet_listener_not_bindable_here(void **state)
{
	struct fx *f = *state;
	struct sm_outcome o;
	unsigned port = free_port(), px = free_port();
	char a[ST_ID_MAX], x[ST_ID_MAX];
	json_t *seen = json_object();
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 1), 0);
	assert_int_equal(create(f->src, "link-a", NULL, port, &o), SM_OK);
	snprintf(a, sizeof(a), "%s", o.id);
	assert_int_equal(create(f->src, "link-x", NULL, px, &o), SM_OK);
	snprintf(x, sizeof(x), "%s", o.id);
	seen = catch_up(f, seen, 5);
	const struct lsn *l = lsn_now(f, a);
	assert_non_null(l);
	assert_int_equal(l->status, LSN_CREATING);
	assert_true(l->fault[0] != '\0');
	l = lsn_now(f, x);
	assert_non_null(l);
	assert_int_equal(l->status, LSN_CREATING);
	assert_non_null(strstr(l->fault, "not configured"));
	/* Both can be deleted as any other. */
	const char *ids[2] = { a, x };
	unsigned char verdicts[2];
	struct sm_change del = { .op = SM_DELETE_LISTENERS, .ids = ids, .nids = 2 };
	struct sm_outcome d = { .verdicts = verdicts };
	sm_apply(f->src->sm, &del, &d);
	assert_int_equal(d.err, SM_OK);
	seen = catch_up(f, seen, 0);
	assert_int_equal(count(f), 0);
	close(fd);
	json_decref(seen);
}

static struct px_l7 *routing_now(struct fx *f, const char *lsn)
{
	struct px_l7 *l7;
	lsn_table_lock(f->t);
	l7 = px_l7_cell_get(lsn_table_find(f->t, lsn)->l7);
	lsn_table_unlock(f->t);
	px_l7_unref(l7);            /* the listener keeps it: compared by address only */
	return l7;
}

static json_t *layer7_changes(struct fx *f, json_t *seen, const char *a, const char *ip,
	const char *r1, const char *r2, const struct px_l7 *built);

/* Real servers, domains, rules, bindings and headers in scrambled order give the routing and
 * the set the writing node has; the same batch again rebuilds nothing. */
static void test_fleet_layer7_in_any_order(void **state)
{
	struct fx *f = *state, *src = f->src;
	char a[ST_ID_MAX], ip[ST_ID_MAX], name[ST_ID_MAX], r1[ST_ID_MAX], r2[ST_ID_MAX];
	char here[8192], there[8192];
	struct sm_outcome o;
	json_t *seen = json_object();
	listener(src, a);
	real_server(src, "127.0.0.9", ip);
	real_server(src, "origin.example", name);
	assert_int_equal(domain_op(src, SM_CREATE_DOMAIN, a, NULL, "one.example", 1, 0), SM_OK);
	assert_int_equal(domain_op(src, SM_CREATE_DOMAIN, a, NULL, "two.example", 0, 0), SM_OK);
	assert_int_equal(new_rule(src, a, "one.example", "/", "IP", r1), SM_OK);
	assert_int_equal(new_rule(src, a, "two.example", "/n", "DOMAIN", r2), SM_OK);
	assert_int_equal(bind_rule(src, r1, json_pack("[o]", binding(ip, "127.0.0.9", 80))), SM_OK);
	assert_int_equal(bind_rule(src, r2, json_pack("[o]", binding(name, "origin.example", 81))),
		SM_OK);
	json_t *h = json_pack("[{s:s, s:s}]", "HeaderName", "X-A", "HeaderValue", "1");
	struct sm_change c = { .op = SM_SET_HEADERS, .rule = r1, .fields = h };
	assert_int_equal(apply(src, &c, &o), SM_OK);
	json_decref(h);
	seen = catch_up(f, seen, 7);
	dump(src, a, there, sizeof(there));
	dump(f, a, here, sizeof(here));
	assert_string_equal(here, there);
	assert_string_equal(default_name(f, a), "one.example");
	assert_int_equal(rs_count(sm_real_servers(f->sm)), 2);
	assert_int_equal(l7_rs_binding_count(sm_l7(f->sm), ip), 1);
	struct px_l7 *l7;
	assert_non_null(routed(f, a, "one.example", "/", &l7));
	px_l7_unref(l7);
	assert_non_null(routed(f, a, "two.example", "/n", &l7));
	px_l7_unref(l7);
	/* Idempotent: the whole batch again, another order, rebuilds nothing. */
	struct px_l7 *built = routing_now(f, a);
	feed(f, seen, seen, 11);
	assert_ptr_equal(routing_now(f, a), built);
	dump(f, a, here, sizeof(here));
	assert_string_equal(here, there);
	json_decref(layer7_changes(f, seen, a, ip, r1, r2, built));
}

/* The changes after test_fleet_layer7_in_any_order()'s: what f has seen then. */
static json_t *layer7_changes(struct fx *f, json_t *seen, const char *a, const char *ip,
	const char *r1, const char *r2, const struct px_l7 *built)
{
	struct fx *src = f->src;
	char here[8192], there[8192];
	struct sm_outcome o;
	/* A real server renamed: the routing of the listeners binding it is rebuilt. */
	struct sm_change rn = { .op = SM_RENAME_REAL_SERVER, .id = ip, .name = "new" };
	assert_int_equal(apply(src, &rn, &o), SM_OK);
	seen = catch_up(f, seen, 0);
	assert_ptr_not_equal(routing_now(f, a), built);
	assert_string_equal(member(rs_find(sm_real_servers(f->sm), ip)->fields, "RealServerName"),
		"new");
	/* A domain deleted with its rules, a binding dropped, its real server removed. */
	assert_int_equal(domain_op(src, SM_DELETE_DOMAIN, a, "two.example", NULL, 0, 1), SM_OK);
	assert_int_equal(bind_rule(src, r1, json_array()), SM_OK);
	const char *ids[1] = { ip };
	struct sm_change rm = { .op = SM_REMOVE_REAL_SERVERS, .ids = ids, .nids = 1 };
	assert_int_equal(apply(src, &rm, &o), SM_OK);
	seen = catch_up(f, seen, 13);
	dump(src, a, there, sizeof(there));
	dump(f, a, here, sizeof(here));
	assert_string_equal(here, there);
	assert_null(rs_find(sm_real_servers(f->sm), ip));
	assert_null(l7_rule_find(sm_l7(f->sm), r2));
	assert_int_equal(l7_domain_count(sm_l7(f->sm), a), 1);
	return seen;
}

/* A listener deleted with its domains and rules: its dels in any order. */
static void test_fleet_listener_dels_in_any_order(void **state)
{
	struct fx *f = *state, *src = f->src;
	for (unsigned seed = 1; seed <= 4; seed++) {
		char a[ST_ID_MAX], b[ST_ID_MAX], r[ST_ID_MAX];
		json_t *seen = json_object();
		listener(src, a);
		listener(src, b);
		assert_int_equal(domain_op(src, SM_CREATE_DOMAIN, a, NULL, "one.example", 0, 0),
			SM_OK);
		assert_int_equal(domain_op(src, SM_CREATE_DOMAIN, b, NULL, "one.example", 0, 0),
			SM_OK);
		assert_int_equal(new_rule(src, a, "one.example", "/", "IP", r), SM_OK);
		assert_int_equal(new_rule(src, a, "one.example", "/x", "IP", NULL), SM_OK);
		assert_int_equal(new_rule(src, b, "one.example", "/", "IP", NULL), SM_OK);
		seen = catch_up(f, seen, seed);
		assert_int_equal(l7_listener_rule_count(sm_l7(f->sm), a), 2);
		assert_true(routes_l7(f, a));
		const char *ids[1] = { a };
		unsigned char verdicts[1];
		struct sm_change del = { .op = SM_DELETE_LISTENERS, .ids = ids, .nids = 1,
			.force = 1 };
		struct sm_outcome d = { .verdicts = verdicts };
		sm_apply(src->sm, &del, &d);
		assert_int_equal(d.err, SM_OK);
		seen = catch_up(f, seen, seed * 17);
		assert_null(lsn_now(f, a));
		assert_int_equal(l7_domain_count(sm_l7(f->sm), a), 0);
		assert_null(l7_rule_find(sm_l7(f->sm), r));
		assert_int_equal(l7_listener_rule_count(sm_l7(f->sm), b), 1);    /* b untouched */
		assert_true(routes_l7(f, b));
		ids[0] = b;
		sm_apply(src->sm, &del, &d);
		assert_int_equal(d.err, SM_OK);
		seen = catch_up(f, seen, seed * 31);
		assert_int_equal(count(f), 0);
		json_decref(seen);
	}
}

/* Certificates and an HTTPS listener: served with TLS here; a TLS change reaches it in place. */
static void test_fleet_https(void **state)
{
	struct fx *f = *state, *src = f->src;
	char www[ST_ID_MAX], other[ST_ID_MAX], a[ST_ID_MAX];
	struct sm_outcome o;
	json_t *seen = json_object();
	make_certs(src);
	cert(src, TLS_CERT_SERVER, "www", www);
	cert(src, TLS_CERT_SERVER, "other", other);
	assert_int_equal(https(src, www, NULL, free_port(), &o), SM_OK);
	snprintf(a, sizeof(a), "%s", o.id);
	assert_int_equal(domain_cert(src, SM_CREATE_DOMAIN, a, "other.example", other), SM_OK);
	seen = catch_up(f, seen, 9);
	const struct lsn *l = lsn_now(f, a);
	assert_non_null(l);
	assert_int_equal(l->status, LSN_RUNNING);
	assert_string_equal(l->rec.protocol, "HTTPS");
	assert_int_equal(cs_count(sm_certs(f->sm)), 2);
	struct tls_srv *first = serving(f, a);
	assert_non_null(first);
	tls_srv_unref(first);
	feed(f, seen, seen, 2);                                 /* the same: the same TLS */
	struct tls_srv *same = serving(f, a);
	assert_ptr_equal(same, first);
	tls_srv_unref(same);
	struct sm_change tlsv = { .op = SM_SET_TLS, .id = a, .tls_versions = TLS_V13,
		.tls_ciphers = TLS_CIPHERS_WIDE };
	assert_int_equal(apply(src, &tlsv, &o), SM_OK);
	seen = catch_up(f, seen, 0);
	assert_ptr_equal(lsn_now(f, a), l);                     /* in place, never rebound */
	assert_int_equal(l->rec.https.versions, TLS_V13);
	struct tls_srv *second = serving(f, a);
	assert_non_null(second);
	assert_ptr_not_equal(second, first);
	tls_srv_unref(second);
	struct sm_change rn = { .op = SM_RENAME_CERT, .id = other, .name = "alias" };
	assert_int_equal(apply(src, &rn, &o), SM_OK);
	seen = catch_up(f, seen, 0);
	assert_string_equal(member(cs_find(sm_certs(f->sm), other)->fields, "CertificateAlias"),
		"alias");
	struct tls_srv *third = serving(f, a);
	assert_non_null(third);
	tls_srv_unref(third);
	json_decref(seen);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_rules_refuse_with_the_proxy_they_are_about, setup,
			teardown),
		cmocka_unit_test(test_listening_sockets_disable_nagle),
		cmocka_unit_test_setup_teardown(test_a_failed_bind_leaves_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_failed_store_write_releases_the_port, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_rename_scope_and_rights, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delete_in_scope_then_restore, setup, teardown),
		cmocka_unit_test_setup_teardown(test_indexes_follow_creates_and_deletes, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_reconfigure_refuses_what_would_strand_a_listener,
			setup, teardown),
		cmocka_unit_test_setup_teardown(test_domains_unique_limited_and_one_default, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_rename_keeps_rules_and_rules_are_checked, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_bindings_all_or_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deletes_and_force, setup, teardown),
		cmocka_unit_test_setup_teardown(test_routing_follows_each_rule_change, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_restore_gives_the_same_set, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_https_listeners_refuse_what_their_certificates_cannot_do, setup, teardown),
		cmocka_unit_test_setup_teardown(test_https_changes_and_restore, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fleet_listener_put_again_rename_del, setup_fleet,
			teardown),
		cmocka_unit_test_setup_teardown(test_fleet_listener_not_bindable_here, setup_fleet,
			teardown),
		cmocka_unit_test_setup_teardown(test_fleet_group_listener, setup_fleet, teardown),
		cmocka_unit_test_setup_teardown(test_fleet_resync_batch, setup_fleet, teardown),
		cmocka_unit_test_setup_teardown(test_fleet_real_server_readded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fleet_layer7_in_any_order, setup_fleet, teardown),
		cmocka_unit_test_setup_teardown(test_fleet_listener_dels_in_any_order, setup_fleet,
			teardown),
		cmocka_unit_test_setup_teardown(test_fleet_https, setup_fleet, teardown),
	};
	/* the health checker is stopped from this thread (hc_stop(): event_active on its loop) */
	if (evthread_use_pthreads() != 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
