/* daemon/state/sm.c - the node's state machine (sm.h). */
#include "sm.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "certs.h"
#include "cfg.h"
#include "l7.h"
#include "listener.h"
#include "log.h"
#include "rs.h"
#include "sm_int.h"

struct sm *sm_new(struct st *store, struct lsn_table *t, const struct cfg *cfg,
	int (*new_id)(const char *prefix, char *out, size_t len))
{
	struct sm *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	*s = (struct sm){ .store = store, .t = t, .cfg = cfg, .new_id = new_id };
	if ((s->rs = rs_set_new()) == NULL || (s->l7 = l7_set_new()) == NULL ||
	    (s->certs = cs_set_new()) == NULL) {
		sm_free(s);
		return NULL;
	}
	return s;
}

void sm_free(struct sm *s)
{
	if (s != NULL) {
		rs_set_free(s->rs);
		l7_set_free(s->l7);
		cs_set_free(s->certs);
	}
	free(s);
}

const struct rs_set *sm_real_servers(const struct sm *s)
{
	return s->rs;
}

const struct l7_set *sm_l7(const struct sm *s)
{
	return s->l7;
}

void sm_fail(struct sm_outcome *out, enum sm_err e, const struct cfg_proxy *p, int sys)
{
	out->err = e;
	out->proxy = p;
	out->sys = sys;
}

/* The proxies rec occupies its port on: its proxy, or its group's configured members (out has
 * room for every configured proxy). 0 when the configuration has none of them (why says so). */
static size_t rec_proxies(const struct cfg *cfg, const struct st_listener *rec,
	const struct cfg_proxy **out, const char **why)
{
	const struct cfg_group *grp = rec->group_id[0] ? cfg_find_group(cfg, rec->group_id) : NULL;
	size_t n = 0;
	if (rec->group_id[0] == '\0') {
		out[0] = cfg_find_proxy(cfg, rec->proxy_id);
		*why = "its proxy is not configured";
		return out[0] != NULL;
	}
	*why = grp == NULL ? "its group is not configured" : "its group has no proxies";
	for (size_t i = 0; grp != NULL && i < grp->nproxies; i++)
		if ((out[n] = cfg_find_proxy(cfg, grp->proxies[i])) != NULL)
			n++;
	return n;
}

static const struct cfg_proxy **proxies_array(const struct cfg *cfg)
{
	return calloc(cfg->nproxies + 1, sizeof(const struct cfg_proxy *));
}

static void written(struct sm *s, uint64_t seq)
{
	if (seq > s->written)
		s->written = seq;
	s->counts.changes++;
}

/* One change to the store, durable at the next sm_sync(). */
static int write_change(struct sm *s, const struct st_listener *puts, size_t nputs,
	const char *const *dels, size_t ndels, struct sm_outcome *out)
{
	uint64_t seq = 0;
	if (st_append_listeners(s->store, puts, nputs, dels, ndels, &seq, out->detail,
	    sizeof(out->detail)) != 0)
		return -1;
	written(s, seq);
	return 0;
}

int sm_write_ops(struct sm *s, const struct st_op *ops, size_t n, struct sm_outcome *out)
{
	uint64_t seq = 0;
	if (st_append(s->store, ops, n, &seq, out->detail, sizeof(out->detail)) != 0)
		return -1;
	written(s, seq);
	return 0;
}

void sm_counts(const struct sm *s, struct sm_counts *out)
{
	*out = s->counts;
}

int sm_unsynced(const struct sm *s)
{
	return s->written > s->synced;
}

int sm_sync(struct sm *s, char *err, size_t errlen)
{
	uint64_t upto = s->written;
	if (upto <= s->synced)
		return 0;
	if (st_sync(s->store, upto, err, errlen) != 0)
		return -1;
	s->synced = upto;
	s->counts.syncs++;
	return 0;
}

/* ---- restore ---- */

/* An HTTPS listener serves its own certificate from the start; its domains' come once they are
 * restored (sm_tls_restore_listeners()). */
static void restore_tls(struct sm *s, struct lsn *l)
{
	struct sm_outcome o = { .err = SM_OK };
	struct tls_srv *srv;
	if (sm_tls_build(s, &l->rec, NULL, 0, &srv, &o) != 0)
		LOG_ERR("state", "listener=%s: its TLS cannot be built (%s): it refuses connections",
			l->rec.id, o.detail);
	else if (srv != NULL)
		lsn_set_tls(l, srv);
}

int sm_open_listener(struct sm *s, const struct st_listener *rec)
{
	const struct cfg_proxy **proxies = proxies_array(s->cfg);
	const char *why = "";
	size_t failed, n = proxies != NULL ? rec_proxies(s->cfg, rec, proxies, &why) : 0;
	struct lsn *l = proxies != NULL ?
		lsn_open(s->t, rec, proxies, n, &s->cfg->http, 0, &failed) : NULL;
	free(proxies);
	if (l != NULL && lsn_table_reserve(s->t, l) != 0) {
		lsn_discard(l);
		l = NULL;
	}
	if (l == NULL) {
		LOG_ERR("state", "listener=%s: cannot restore: %s", rec->id, strerror(ENOMEM));
		return -1;
	}
	if (n == 0)
		snprintf(l->fault, sizeof(l->fault), "%s", why);
	if (l->status != LSN_RUNNING)
		LOG_ERR("state", "listener=%s proxy=%s group=%s port=%u: not serving (status %d): %s",
			rec->id, rec->proxy_id[0] ? rec->proxy_id : "-", rec->group_id[0] ?
			rec->group_id : "-", rec->port, (int)l->status, l->fault);
	restore_tls(s, l);
	lsn_table_add(s->t, l);
	return 0;
}

static int restore_one(const struct st_listener *rec, void *arg)
{
	return sm_open_listener(arg, rec);
}

static int restore_rs(const char *kind, const char *id, json_t *fields, void *arg)
{
	struct sm *s = arg;
	char key[RS_ADDR_MAX];
	(void)kind;
	if (rs_addr_key(json_string_value(json_object_get(fields, "RealServerIP")), key) != 0 ||
	    rs_find_addr(s->rs, key) != NULL || rs_reserve(s->rs, 1) != 0) {
		LOG_ERR("state", "real server %s: cannot restore it", id);     /* the schema checked */
		return -1;
	}
	rs_add(s->rs, id, key, fields);
	return 0;
}

int sm_restore(struct sm *s, char *err, size_t errlen)
{
	int rc;
	err[0] = '\0';
	if (sm_tls_restore_certs(s, err, errlen) != 0)
		return -1;
	if (st_each(s->store, RS_KIND, restore_rs, s) != 0) {
		snprintf(err, errlen, "the real servers could not be restored");
		return -1;
	}
	lsn_table_lock(s->t);
	rc = st_load(s->store, restore_one, s, err, errlen);
	lsn_table_unlock(s->t);
	if (rc != 0 && err[0] == '\0')
		snprintf(err, errlen, "out of memory");
	if (rc != 0 || (rc = sm_l7_restore(s, err, errlen)) != 0)
		return rc;
	lsn_table_lock(s->t);
	if ((rc = sm_tls_restore_listeners(s)) != 0)
		snprintf(err, errlen, "the HTTPS listeners' TLS could not be built: out of memory");
	lsn_table_unlock(s->t);
	return rc;
}

/* ---- reload ---- */

int sm_reconfigure(struct sm *s, const struct cfg *next, void (*commit)(void *arg), void *arg,
	char *err, size_t errlen)
{
	int rc = -1;
	lsn_table_lock(s->t);
	if (lsn_table_check(s->t, next, err, errlen) == 0) {
		if (lsn_table_reconfigure(s->t, next) != 0) {
			snprintf(err, errlen, "out of memory building the new routes");
		} else {
			s->cfg = next;
			if (commit != NULL)
				commit(arg);
			rc = 0;
		}
	}
	lsn_table_unlock(s->t);
	return rc;
}

/* ---- create ---- */

/* Every proxy the listener occupies must be able to take it, before anything is bound. */
static int check_placement(struct sm *s, const struct cfg_proxy *const *proxies, size_t n,
	unsigned port, struct sm_outcome *out)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(proxies[i]->status, "RUNNING") != 0) {
			sm_fail(out, SM_E_PROXY_NOT_RUNNING, proxies[i], 0);
			return -1;
		}
	for (size_t i = 0; i < n; i++)
		if (lsn_table_find_port(s->t, proxies[i]->id, port) != NULL) {
			sm_fail(out, SM_E_DUPLICATED_PORT, proxies[i], 0);
			return -1;
		}
	for (size_t i = 0; i < n; i++)
		if (lsn_table_count_proxy(s->t, proxies[i]->id) >= proxies[i]->max_listeners) {
			sm_fail(out, SM_E_LISTENER_LIMIT, proxies[i], 0);
			return -1;
		}
	return 0;
}

/* Random ids: a clash is rare, and a retry settles it. */
static int new_listener_id(const struct sm *s, char *out, size_t len)
{
	for (int tries = 0; tries < SM_NEW_ID_TRIES; tries++)
		if (s->new_id("listener", out, len) == 0 && lsn_table_find(s->t, out) == NULL)
			return 0;
	return -1;
}

/* A failed store write of a create. A fleet's store refuses what another node took since this
 * node decided (store.h): its port (EADDRINUSE) or the proxy's last place (EUSERS) is the
 * refusal the API gives, about the proxy the store names. Anything else (EAGAIN: a stale view;
 * ENOTCONN) is the store's failure, errno kept for control to word. */
static void store_refused(struct sm *s, const struct cfg_proxy *first, int sys,
	struct sm_outcome *out)
{
	struct st_conflict cf;
	const struct cfg_proxy *p;
	if ((sys != EADDRINUSE && sys != EUSERS) || st_conflict(s->store, &cf) != 0) {
		sm_fail(out, SM_E_STORE, NULL, sys);
		return;
	}
	p = cfg_find_proxy(s->cfg, cf.proxy);
	sm_fail(out, sys == EADDRINUSE ? SM_E_DUPLICATED_PORT : SM_E_LISTENER_LIMIT,
		p != NULL ? p : first, 0);
}

/* Under the lock: bind every socket, store, serve. */
static void create_locked(struct sm *s, const struct cfg_proxy *const *proxies, size_t n,
	struct st_listener *rec, struct sm_outcome *out)
{
	struct lsn *l;
	size_t failed;
	struct tls_srv *srv = NULL;
	if (check_placement(s, proxies, n, rec->port, out) != 0)
		return;
	if (strcmp(rec->protocol, "HTTPS") == 0 && sm_tls_check_listener(s, &rec->https, out) != 0)
		return;
	if (new_listener_id(s, rec->id, sizeof(rec->id)) != 0) {
		sm_fail(out, SM_E_NOMEM, NULL, ENOMEM);
		return;
	}
	rec->create_time = (int64_t)time(NULL);
	if ((l = lsn_open(s->t, rec, proxies, n, &s->cfg->http, 1, &failed)) == NULL) {
		sm_fail(out, SM_E_BIND, proxies[failed < n ? failed : 0], errno);
		return;
	}
	if (lsn_table_reserve(s->t, l) != 0) {
		lsn_discard(l);
		sm_fail(out, SM_E_NOMEM, NULL, ENOMEM);
		return;
	}
	if (sm_tls_build(s, rec, NULL, 0, &srv, out) != 0) {
		LOG_ERR("state", "listener=%s: TLS: %s; create refused", rec->id, out->detail);
		lsn_discard(l);
		return;
	}
	if (srv != NULL)
		lsn_set_tls(l, srv);    /* before it serves: never a moment in plain text */
	if (write_change(s, rec, 1, NULL, 0, out) != 0) {
		store_refused(s, proxies[0], errno, out);
		if (out->err == SM_E_STORE)
			LOG_ERR("state", "listener=%s: %s; create rolled back", rec->id, out->detail);
		else            /* another node won the port or the place: expected under load */
			LOG_INFO("state", "listener=%s proxy=%s port=%u: another node took it first; "
				"create rolled back", rec->id, out->proxy->id, rec->port);
		lsn_discard(l);         /* closes the sockets: the port is free again */
		return;
	}
	lsn_table_add(s->t, l);
	snprintf(out->id, sizeof(out->id), "%s", rec->id);
}

static void create(struct sm *s, const struct sm_change *c, struct sm_outcome *out)
{
	struct st_listener rec = c->rec;
	const struct cfg_proxy **proxies;
	const char *why;
	size_t n;
	if (cfg_port_reserved(s->cfg, rec.port)) {
		sm_fail(out, SM_E_PORT_RESERVED, NULL, 0);
		return;
	}
	if ((proxies = proxies_array(s->cfg)) == NULL) {
		sm_fail(out, SM_E_NOMEM, NULL, ENOMEM);
		return;
	}
	if ((n = rec_proxies(s->cfg, &rec, proxies, &why)) == 0) {
		sm_fail(out, SM_E_GROUP_EMPTY, NULL, 0);
	} else {
		lsn_table_lock(s->t);
		create_locked(s, proxies, n, &rec, out);
		lsn_table_unlock(s->t);
	}
	free(proxies);
}

/* ---- rename ---- */

static int in_scope(const struct st_listener *r, const struct sm_change *c)
{
	if (c->scope_group != NULL)
		return strcmp(r->group_id, c->scope_group) == 0;
	if (c->scope_proxy != NULL)
		return r->group_id[0] == '\0' && strcmp(r->proxy_id, c->scope_proxy) == 0;
	return 1;
}

static void rename_locked(struct sm *s, const struct sm_change *c, struct sm_outcome *out)
{
	const struct lsn *l = lsn_table_find(s->t, c->id);
	struct st_listener rec;
	if (l == NULL || (c->scope_proxy != NULL && strcmp(l->rec.proxy_id, c->scope_proxy) != 0))
		sm_fail(out, SM_E_NOT_FOUND, NULL, 0);
	else if (l->rec.group_id[0] != '\0')
		sm_fail(out, SM_E_GROUP_LISTENER, NULL, 0);    /* detail: the group, for the answer */
	else if (c->allowed != NULL && !c->allowed(&l->rec, c->allowed_arg))
		sm_fail(out, SM_E_FORBIDDEN, NULL, 0);
	else if (l->status == LSN_DESTROYING)
		sm_fail(out, SM_E_DESTROYING, NULL, 0);
	if (out->err == SM_E_GROUP_LISTENER)
		snprintf(out->detail, sizeof(out->detail), "%s", l->rec.group_id);
	if (out->err != SM_OK)
		return;
	rec = l->rec;
	snprintf(rec.name, sizeof(rec.name), "%s", c->name);
	if (write_change(s, &rec, 1, NULL, 0, out) != 0) {
		sm_fail(out, SM_E_STORE, NULL, errno);
		LOG_ERR("state", "listener=%s: %s; rename not done", c->id, out->detail);
		return;
	}
	(void)lsn_table_set_name(s->t, c->id, c->name);     /* found above, under the same lock */
}

/* ---- delete ---- */

/* The listeners of c in the scope into dels; with force 0, none may have bindings (out says
 * which has). How many, or -1. */
static long in_scope_dels(struct sm *s, const struct sm_change *c, const char **dels,
	struct sm_outcome *out)
{
	size_t ndels = 0;
	for (size_t i = 0; i < c->nids; i++) {
		const struct lsn *l = lsn_table_find(s->t, c->ids[i]);
		out->verdicts[i] = SM_NOT_IN_SCOPE;
		if (l == NULL || !in_scope(&l->rec, c))
			continue;
		if (!c->force && l7_listener_binding_count(s->l7, c->ids[i]) > 0) {
			sm_fail(out, SM_E_RS_BOUND, NULL, 0);
			snprintf(out->detail, sizeof(out->detail), "%s", c->ids[i]);
			return -1;
		}
		dels[ndels++] = c->ids[i];
	}
	return (long)ndels;
}

/* The deletions of one change: each listener, its domains and its rules. */
static struct st_op *delete_ops(struct sm *s, const char *const *dels, size_t ndels,
	size_t *n)
{
	size_t total = ndels;
	struct st_op *ops;
	for (size_t i = 0; i < ndels; i++)
		total += sm_l7_listener_objects(s, dels[i]);
	if ((ops = calloc(total + 1, sizeof(*ops))) == NULL)
		return NULL;
	*n = 0;
	for (size_t i = 0; i < ndels; i++) {
		ops[(*n)++] = (struct st_op){ ST_DEL, ST_LISTENER, dels[i], NULL };
		*n += sm_l7_listener_dels(s, dels[i], ops + *n);
	}
	return ops;
}

/* Under the lock: one store change for every listener in the scope with its layer-7 objects,
 * then the workers let go. */
static void delete_locked(struct sm *s, const struct sm_change *c, struct sm_outcome *out)
{
	const char **dels = calloc(c->nids + 1, sizeof(*dels));
	struct st_op *ops = NULL;
	long ndels = -1;
	size_t nops = 0;
	if (dels == NULL || (ndels = in_scope_dels(s, c, dels, out)) < 0)
		goto out;
	if ((ops = delete_ops(s, dels, (size_t)ndels, &nops)) == NULL)
		goto out;
	if (ndels > 0 && sm_write_ops(s, ops, nops, out) != 0) {
		sm_fail(out, SM_E_STORE, NULL, errno);
		LOG_ERR("state", "delete of %ld listeners: %s; nothing deleted", ndels, out->detail);
		goto out;
	}
	for (long i = 0; i < ndels; i++)
		l7_remove_listener(s->l7, dels[i]);
	(void)lsn_table_remove(s->t, dels, (size_t)ndels, s->cfg->http.drain_timeout_ms);
	for (size_t i = 0; i < c->nids; i++)
		for (long k = 0; k < ndels; k++)
			if (dels[k] == c->ids[i])
				out->verdicts[i] = lsn_table_find(s->t, c->ids[i]) != NULL ?
					SM_STILL_STOPPING : SM_DELETED;
out:
	if (out->err == SM_OK && (dels == NULL || ops == NULL))
		sm_fail(out, SM_E_NOMEM, NULL, ENOMEM);
	free(ops);
	free(dels);
}

/* ---- real servers ---- */

/* Every address is an IP literal or a host name, registered neither already nor twice here, and
 * the node's limit holds; keys[i] is address i's comparison key. 0 or -1 (out says why). */
static int check_addresses(struct sm *s, const struct sm_change *c, char (*keys)[RS_ADDR_MAX],
	struct sm_outcome *out)
{
	for (size_t i = 0; i < c->nids; i++) {
		int twice = 0;
		if (rs_addr_key(c->ids[i], keys[i]) != 0) {
			sm_fail(out, SM_E_BAD_ADDRESS, NULL, 0);
			snprintf(out->detail, sizeof(out->detail), "%s", c->ids[i]);
			return -1;
		}
		for (size_t k = 0; k < i; k++)
			twice |= strcmp(keys[k], keys[i]) == 0;
		if (twice || rs_find_addr(s->rs, keys[i]) != NULL) {
			sm_fail(out, SM_E_DUPLICATE_RS, NULL, 0);
			snprintf(out->detail, sizeof(out->detail), "%s", c->ids[i]);
			return -1;
		}
	}
	if (rs_count(s->rs) + c->nids > s->cfg->max_real_servers) {
		sm_fail(out, SM_E_RS_LIMIT, NULL, 0);
		return -1;
	}
	return 0;
}

/* A new real server id: random, and neither known nor given to another address of this call. */
static int new_rs_id(struct sm *s, char (*given)[ST_ID_MAX], size_t ngiven, char *out)
{
	for (int tries = 0; tries < SM_NEW_ID_TRIES; tries++) {
		int taken = s->new_id("rs", out, ST_ID_MAX) != 0 || rs_find(s->rs, out) != NULL;
		for (size_t k = 0; k < ngiven && !taken; k++)
			taken = strcmp(given[k], out) == 0;
		if (!taken)
			return 0;
	}
	return -1;
}

/* One put per address, each under a new id (out->new_ids). 0, or -1 on ENOMEM. */
static int real_server_puts(struct sm *s, const struct sm_change *c, struct st_op *ops,
	struct sm_outcome *out)
{
	for (size_t i = 0; i < c->nids; i++) {
		json_t *f;
		if (new_rs_id(s, out->new_ids, i, out->new_ids[i]) != 0 ||
		    (f = rs_fields(out->new_ids[i], c->ids[i], c->name, c->project, c->tags)) == NULL)
			return -1;
		ops[i] = (struct st_op){ ST_PUT, RS_KIND, out->new_ids[i], f };
	}
	return 0;
}

static void add_real_servers(struct sm *s, const struct sm_change *c, struct sm_outcome *out)
{
	size_t n = c->nids;
	char (*keys)[RS_ADDR_MAX] = calloc(n + 1, sizeof(*keys));
	struct st_op *ops = calloc(n + 1, sizeof(*ops));
	if (keys == NULL || ops == NULL) {
		sm_fail(out, SM_E_NOMEM, NULL, ENOMEM);
	} else if (check_addresses(s, c, keys, out) == 0) {
		if (real_server_puts(s, c, ops, out) != 0 || rs_reserve(s->rs, n) != 0) {
			sm_fail(out, SM_E_NOMEM, NULL, ENOMEM);
		} else if (sm_write_ops(s, ops, n, out) != 0) {
			sm_fail(out, SM_E_STORE, NULL, errno);
			LOG_ERR("state", "adding %zu real servers: %s; none added", n, out->detail);
		} else {
			for (size_t i = 0; i < n; i++)
				rs_add(s->rs, out->new_ids[i], keys[i], ops[i].fields);
		}
	}
	for (size_t i = 0; ops != NULL && i < n; i++)
		json_decref(ops[i].fields);
	free(ops);
	free(keys);
}

/* Every id names a real server bound to no rule; then one change removes them all. */
static void remove_real_servers(struct sm *s, const struct sm_change *c, struct sm_outcome *out)
{
	struct st_op *ops = calloc(c->nids + 1, sizeof(*ops));
	if (ops == NULL) {
		sm_fail(out, SM_E_NOMEM, NULL, ENOMEM);
		return;
	}
	for (size_t i = 0; i < c->nids && out->err == SM_OK; i++) {
		if (rs_find(s->rs, c->ids[i]) == NULL) {
			sm_fail(out, SM_E_NOT_FOUND, NULL, 0);
			snprintf(out->detail, sizeof(out->detail), "%s", c->ids[i]);
		} else if (l7_rs_binding_count(s->l7, c->ids[i]) > 0) {
			sm_fail(out, SM_E_RS_BOUND, NULL, 0);
			snprintf(out->detail, sizeof(out->detail), "%s", c->ids[i]);
		}
		ops[i] = (struct st_op){ ST_DEL, RS_KIND, c->ids[i], NULL };
	}
	if (out->err == SM_OK && sm_write_ops(s, ops, c->nids, out) != 0) {
		sm_fail(out, SM_E_STORE, NULL, errno);
		LOG_ERR("state", "removing %zu real servers: %s; none removed", c->nids, out->detail);
	}
	for (size_t i = 0; out->err == SM_OK && i < c->nids; i++)
		rs_remove(s->rs, c->ids[i]);
	free(ops);
}

static void rename_real_server(struct sm *s, const struct sm_change *c, struct sm_outcome *out)
{
	const struct rs *r = rs_find(s->rs, c->id);
	json_t *f = r != NULL ? json_deep_copy(r->fields) : NULL;
	if (r == NULL) {
		sm_fail(out, SM_E_NOT_FOUND, NULL, 0);
		snprintf(out->detail, sizeof(out->detail), "%s", c->id);
		return;
	}
	if (f == NULL || json_object_set_new(f, "RealServerName", json_string(c->name)) != 0) {
		sm_fail(out, SM_E_NOMEM, NULL, ENOMEM);
	} else {
		struct st_op op = { ST_PUT, RS_KIND, c->id, f };
		if (sm_write_ops(s, &op, 1, out) != 0)
			sm_fail(out, SM_E_STORE, NULL, errno);
		else
			rs_set_fields(s->rs, c->id, f);
	}
	json_decref(f);
}

void sm_apply(struct sm *s, const struct sm_change *c, struct sm_outcome *out)
{
	memset(out->id, 0, sizeof(out->id));
	out->detail[0] = '\0';
	sm_fail(out, SM_OK, NULL, 0);
	switch (c->op) {
	case SM_CREATE_LISTENER:
		create(s, c, out);
		return;
	case SM_RENAME_LISTENER:
		lsn_table_lock(s->t);
		rename_locked(s, c, out);
		lsn_table_unlock(s->t);
		return;
	case SM_DELETE_LISTENERS:
		lsn_table_lock(s->t);
		delete_locked(s, c, out);
		lsn_table_unlock(s->t);
		return;
	case SM_ADD_REAL_SERVERS:
		add_real_servers(s, c, out);
		return;
	case SM_REMOVE_REAL_SERVERS:
		remove_real_servers(s, c, out);
		return;
	case SM_RENAME_REAL_SERVER:
		rename_real_server(s, c, out);
		return;
	case SM_CREATE_DOMAIN:
	case SM_MODIFY_DOMAIN:
	case SM_DELETE_DOMAIN:
	case SM_CREATE_RULE:
	case SM_MODIFY_RULE:
	case SM_DELETE_RULE:
	case SM_BIND_RULE:
	case SM_SET_HEADERS:
		sm_l7_apply(s, c, out);
		return;
	case SM_CREATE_CERT:
	case SM_RENAME_CERT:
	case SM_DELETE_CERT:
	case SM_MODIFY_HTTPS_LISTENER:
	case SM_SET_TLS:
		sm_tls_apply(s, c, out);
		return;
	}
}
