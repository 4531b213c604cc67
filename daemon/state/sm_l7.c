/* daemon/state/sm_l7.c - the state machine's layer-7 changes (sm.h: SM_CREATE_DOMAIN ...
 *   SM_SET_HEADERS) and the set's restore; the routing they hand listeners is sm_route.c's.
 * Every change follows one order: decide on the set as it is; make room in the set; build the
 *   listener's routing as it will be (a change's store ops overlaid on the set: ENOMEM refuses
 *   cleanly); write the ops as one store change; only then change the set, and hand the
 *   listener its new routing. All under the table's lock, so that the listener checked is the
 *   one changed.
 */
#include "sm_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cfg.h"
#include "l7.h"
#include "listener.h"
#include "log.h"
#include "proxy/px.h"
#include "rs.h"
#include "tls/tls.h"

#define OPS_SMALL 3                 /* a change's ops, but for DeleteDomain's rules */

/* A change in the making: its listener and its store ops. ops[0..nroute) are what the routing
 * must see on top of the set, and what the set applies; the rest are implied by them
 * (DeleteDomain's rule deletions, whose ids are the set's and go with the domain). */
struct chg {
	const struct lsn *l;
	struct st_op *ops;
	size_t n, nroute;
	struct st_op small[OPS_SMALL];
};

static void detail(struct sm_outcome *out, enum sm_err e, const char *what)
{
	sm_fail(out, e, NULL, 0);
	snprintf(out->detail, sizeof(out->detail), "%s", what);
}

static void put_op(struct chg *ch, const char *kind, const char *id, json_t *fields)
{
	ch->ops[ch->n++] = (struct st_op){ ST_PUT, kind, id, fields };
}

static void chg_free(struct chg *ch)
{
	for (size_t i = 0; i < ch->n; i++)
		json_decref(ch->ops[i].fields);
	if (ch->ops != ch->small)
		free(ch->ops);
}

/* ---- one change, whole or nothing ---- */

static int reserve(struct sm *s, const struct chg *ch)
{
	size_t doms = 0, rules = 0, binds = 0;
	for (size_t i = 0; i < ch->n; i++) {
		if (ch->ops[i].type != ST_PUT)
			continue;
		if (strcmp(ch->ops[i].kind, L7_DOMAIN_KIND) == 0) {
			doms++;
		} else {
			rules++;
			binds += json_array_size(json_object_get(ch->ops[i].fields, "RealServerSet"));
		}
	}
	return l7_reserve(s->l7, doms, rules) == 0 && l7_reserve_bindings(s->l7, binds) == 0 ?
		0 : -1;
}

static void set_apply(struct l7_set *set, const struct st_op *o)
{
	int dom = strcmp(o->kind, L7_DOMAIN_KIND) == 0;
	if (o->type == ST_PUT && dom)
		l7_put_domain(set, o->id, o->fields);
	else if (o->type == ST_PUT)
		l7_put_rule(set, o->id, o->fields);
	else if (dom)
		l7_remove_domain(set, o->id);
	else
		l7_remove_rule(set, o->id);
}

/* An HTTPS listener's TLS changes with its domains (SNI names, their certificates). */
static int touches_tls(const struct chg *ch)
{
	if (strcmp(ch->l->rec.protocol, "HTTPS") != 0)
		return 0;
	for (size_t i = 0; i < ch->nroute; i++)
		if (strcmp(ch->ops[i].kind, L7_DOMAIN_KIND) == 0)
			return 1;
	return 0;
}

static void commit(struct sm *s, struct chg *ch, struct sm_outcome *out)
{
	const char *lsn = ch->l->rec.id;
	struct px_l7 *l7;
	struct tls_srv *srv = NULL;
	int tls = touches_tls(ch);
	char err[200];
	if (reserve(s, ch) != 0) {
		sm_fail(out, SM_E_NOMEM, NULL, ENOMEM);
		return;
	}
	if (tls && sm_tls_build(s, &ch->l->rec, ch->ops, ch->nroute, &srv, out) != 0) {
		LOG_ERR("state", "listener=%s: TLS: %s; change refused", lsn, out->detail);
		return;
	}
	if (sm_build_routing(s, lsn, ch->ops, ch->nroute, &l7, err, sizeof(err)) != 0) {
		int nomem = strcmp(err, "out of memory") == 0;
		sm_fail(out, nomem ? SM_E_NOMEM : SM_E_STORE, NULL, nomem ? ENOMEM : EINVAL);
		snprintf(out->detail, sizeof(out->detail), "routing: %s", err);
		LOG_ERR("state", "listener=%s: %s; change refused", lsn, out->detail);
		tls_srv_unref(srv);
		return;
	}
	if (sm_write_ops(s, ch->ops, ch->n, out) != 0) {
		sm_fail(out, SM_E_STORE, NULL, errno);
		LOG_ERR("state", "listener=%s: %s; layer-7 change not done", lsn, out->detail);
		px_l7_unref(l7);
		tls_srv_unref(srv);
		return;
	}
	for (size_t i = 0; i < ch->nroute; i++)  /* the rest is implied (and names freed ids) */
		set_apply(s->l7, &ch->ops[i]);
	(void)lsn_table_set_l7(s->t, lsn, l7);      /* found under the same lock: cannot fail */
	if (tls)
		(void)lsn_table_set_tls(s->t, lsn, srv);
}

/* ---- the checks every change makes ---- */

static const struct lsn *target(struct sm *s, const struct sm_change *c, const char *id,
	struct sm_outcome *out)
{
	const struct lsn *l = lsn_table_find(s->t, id);
	if (l == NULL)
		detail(out, SM_E_NOT_FOUND, id);
	else if (c->allowed != NULL && !c->allowed(&l->rec, c->allowed_arg))
		sm_fail(out, SM_E_FORBIDDEN, NULL, 0);
	else if (l->status == LSN_DESTROYING)
		sm_fail(out, SM_E_DESTROYING, NULL, 0);
	else
		return l;
	return NULL;
}

static const struct l7_domain *domain_of(struct sm *s, const char *lsn, const char *name,
	struct sm_outcome *out)
{
	const struct l7_domain *d = name != NULL ? l7_domain_find(s->l7, lsn, name) : NULL;
	if (d == NULL)
		detail(out, SM_E_NO_DOMAIN, name != NULL ? name : "");
	return d;
}

/* The rule, under the listener when lsn is given. */
static const struct l7_rule *rule_of(struct sm *s, const char *lsn, const char *id,
	struct sm_outcome *out)
{
	const struct l7_rule *r = id != NULL ? l7_rule_find(s->l7, id) : NULL;
	if (r == NULL || (lsn != NULL && strcmp(r->listener, lsn) != 0)) {
		detail(out, SM_E_NO_RULE, id != NULL ? id : "");
		return NULL;
	}
	return r;
}

static size_t rule_bindings(const struct l7_rule *r)
{
	return json_array_size(json_object_get(r->fields, "RealServerSet"));
}

static int new_object_id(struct sm *s, const char *prefix, char *out)
{
	for (int tries = 0; tries < SM_NEW_ID_TRIES; tries++)
		if (s->new_id(prefix, out, ST_ID_MAX) == 0 && l7_domain_by_id(s->l7, out) == NULL &&
		    l7_rule_find(s->l7, out) == NULL)
			return 0;
	return -1;
}

/* A copy of fields with k1 (and k2, when not NULL) set: v1 and v2 are new references, taken
 * whatever happens. NULL on ENOMEM. */
static json_t *with(json_t *fields, const char *k1, json_t *v1, const char *k2, json_t *v2)
{
	json_t *f = json_is_object(fields) ? json_deep_copy(fields) : json_object();
	int ok = f != NULL && v1 != NULL && (k2 == NULL || v2 != NULL);
	ok = ok && json_object_set(f, k1, v1) == 0 && (k2 == NULL || json_object_set(f, k2, v2) == 0);
	json_decref(v1);
	json_decref(v2);
	if (!ok) {
		json_decref(f);
		return NULL;
	}
	return f;
}

/* ---- domains ---- */

/* When f makes its domain the default: the previous default, cleared, into ch. */
static int clear_default(struct sm *s, struct chg *ch, const char *lsn, const char *self,
	json_t *f)
{
	const struct l7_domain *old = l7_default_domain(s->l7, lsn);
	json_t *cleared;
	if (!json_is_true(json_object_get(f, "IsDefaultServer")) || old == NULL ||
	    strcmp(old->id, self) == 0)
		return 0;
	if ((cleared = with(old->fields, "IsDefaultServer", json_false(), NULL, NULL)) == NULL)
		return -1;
	put_op(ch, L7_DOMAIN_KIND, old->id, cleared);
	return 0;
}

static void create_domain(struct sm *s, const struct sm_change *c, struct chg *ch,
	struct sm_outcome *out, char *id)
{
	const char *name = json_string_value(json_object_get(c->fields, "Domain"));
	json_t *f;
	if (name != NULL && l7_domain_find(s->l7, c->id, name) != NULL) {
		detail(out, SM_E_DOMAIN_EXISTS, name);
		return;
	}
	if (l7_domain_count(s->l7, c->id) >= s->cfg->max_domains_per_listener) {
		sm_fail(out, SM_E_DOMAIN_LIMIT, NULL, 0);
		return;
	}
	f = with(c->fields, "ListenerId", json_string(c->id), "CreateTime",
		json_integer((json_int_t)time(NULL)));
	if (f != NULL && json_object_get(f, "IsDefaultServer") == NULL &&
	    json_object_set_new(f, "IsDefaultServer", json_false()) != 0) {
		json_decref(f);
		f = NULL;
	}
	if (f == NULL || new_object_id(s, "dom", id) != 0) {
		json_decref(f);
		sm_fail(out, SM_E_NOMEM, NULL, ENOMEM);
		return;
	}
	put_op(ch, L7_DOMAIN_KIND, id, f);
	if (sm_tls_check_domain(s, &ch->l->rec, f, out) != 0)
		return;
	if (clear_default(s, ch, c->id, id, f) != 0)
		sm_fail(out, SM_E_NOMEM, NULL, ENOMEM);
}

static void modify_domain(struct sm *s, const struct sm_change *c, struct chg *ch,
	struct sm_outcome *out)
{
	const struct l7_domain *d = domain_of(s, c->id, c->name, out), *other;
	const char *name = json_string_value(json_object_get(c->fields, "Domain"));
	json_t *f;
	if (d == NULL)
		return;
	other = name != NULL ? l7_domain_find(s->l7, c->id, name) : NULL;
	if (other != NULL && other != d) {
		detail(out, SM_E_DOMAIN_EXISTS, name);
		return;
	}
	f = with(c->fields, "ListenerId", json_string(c->id), "CreateTime",
		json_deep_copy(json_object_get(d->fields, "CreateTime")));
	if (f != NULL && json_object_get(f, "IsDefaultServer") == NULL &&
	    json_object_set(f, "IsDefaultServer", json_object_get(d->fields, "IsDefaultServer"))) {
		json_decref(f);
		f = NULL;
	}
	if (f == NULL) {
		sm_fail(out, SM_E_NOMEM, NULL, ENOMEM);
		return;
	}
	put_op(ch, L7_DOMAIN_KIND, d->id, f);
	if (sm_tls_check_domain(s, &ch->l->rec, f, out) != 0)
		return;
	if (clear_default(s, ch, c->id, d->id, f) != 0)
		sm_fail(out, SM_E_NOMEM, NULL, ENOMEM);
}

static size_t domain_bindings(const struct sm *s, const struct l7_domain *d)
{
	size_t n = 0, count = l7_rule_count(s->l7, d->id);
	for (size_t i = 0; i < count; i++)
		n += rule_bindings(l7_rule_at(s->l7, d->id, i));
	return n;
}

static void delete_domain(struct sm *s, const struct sm_change *c, struct chg *ch,
	struct sm_outcome *out)
{
	const struct l7_domain *d = domain_of(s, c->id, c->name, out);
	size_t nrules;
	if (d == NULL)
		return;
	if (!c->force && domain_bindings(s, d) > 0) {
		detail(out, SM_E_RS_BOUND, json_string_value(json_object_get(d->fields, "Domain")));
		return;
	}
	nrules = l7_rule_count(s->l7, d->id);
	if (nrules + 1 > OPS_SMALL && (ch->ops = calloc(nrules + 1, sizeof(*ch->ops))) == NULL) {
		ch->ops = ch->small;
		sm_fail(out, SM_E_NOMEM, NULL, ENOMEM);
		return;
	}
	ch->ops[ch->n++] = (struct st_op){ ST_DEL, L7_DOMAIN_KIND, d->id, NULL };
	ch->nroute = 1;             /* its rules go with it */
	for (size_t i = 0; i < nrules; i++)
		ch->ops[ch->n++] = (struct st_op){ ST_DEL, L7_RULE_KIND,
			l7_rule_at(s->l7, d->id, i)->id, NULL };
}

/* ---- rules ---- */

/* Another rule of domain d with path. */
static const struct l7_rule *path_taken(const struct sm *s, const char *d, const char *path,
	const char *self)
{
	size_t count = l7_rule_count(s->l7, d);
	for (size_t i = 0; path != NULL && i < count; i++) {
		const struct l7_rule *r = l7_rule_at(s->l7, d, i);
		const char *p = json_string_value(json_object_get(r->fields, "Path"));
		if (p != NULL && strcmp(p, path) == 0 && (self == NULL || strcmp(r->id, self) != 0))
			return r;
	}
	return NULL;
}

static void create_rule(struct sm *s, const struct sm_change *c, struct chg *ch,
	struct sm_outcome *out, char *id)
{
	const struct l7_domain *d = domain_of(s, c->id, c->name, out);
	const char *path = json_string_value(json_object_get(c->fields, "Path"));
	json_t *f;
	if (d == NULL)
		return;
	if (path_taken(s, d->id, path, NULL) != NULL) {
		detail(out, SM_E_RULE_EXISTS, path);
		return;
	}
	if (l7_listener_rule_count(s->l7, c->id) >= s->cfg->max_rules_per_listener) {
		sm_fail(out, SM_E_RULE_LIMIT, NULL, 0);
		return;
	}
	if (new_object_id(s, "rule", id) != 0 || (f = with(c->fields, "ListenerId",
	    json_string(c->id), "DomainId", json_string(d->id))) == NULL) {
		sm_fail(out, SM_E_NOMEM, NULL, ENOMEM);
		return;
	}
	put_op(ch, L7_RULE_KIND, id, f);
	if (json_object_set_new(f, "RuleId", json_string(id)) != 0 ||
	    json_object_set_new(f, "RealServerSet", json_array()) != 0 ||
	    json_object_set_new(f, "Headers", json_array()) != 0 ||
	    json_object_set_new(f, "CreateTime", json_integer((json_int_t)time(NULL))) != 0)
		sm_fail(out, SM_E_NOMEM, NULL, ENOMEM);
	else
		snprintf(out->id, sizeof(out->id), "%s", id);
}

/* What a rule keeps whatever a change says: its identity, type, bindings, headers, time. */
static int keep_members(json_t *f, const struct l7_rule *r)
{
	static const char *const kept[] = { "RuleId", "ListenerId", "DomainId", "RealServerType",
		"RealServerSet", "Headers", "CreateTime", NULL };
	for (const char *const *k = kept; *k != NULL; k++)
		if (json_object_set(f, *k, json_object_get(r->fields, *k)) != 0)
			return -1;
	return 0;
}

static void modify_rule(struct sm *s, const struct sm_change *c, struct chg *ch,
	struct sm_outcome *out)
{
	const struct l7_rule *r = rule_of(s, c->id, c->rule, out);
	const char *path = json_string_value(json_object_get(c->fields, "Path"));
	json_t *f;
	if (r == NULL)
		return;
	if (path_taken(s, r->domain, path, r->id) != NULL) {
		detail(out, SM_E_RULE_EXISTS, path);
		return;
	}
	if ((f = json_is_object(c->fields) ? json_deep_copy(c->fields) : NULL) == NULL ||
	    keep_members(f, r) != 0) {
		json_decref(f);
		sm_fail(out, SM_E_NOMEM, NULL, ENOMEM);
		return;
	}
	put_op(ch, L7_RULE_KIND, r->id, f);
}

static void delete_rule(struct sm *s, const struct sm_change *c, struct chg *ch,
	struct sm_outcome *out)
{
	const struct l7_rule *r = rule_of(s, c->id, c->rule, out);
	if (r == NULL)
		return;
	if (!c->force && rule_bindings(r) > 0) {
		detail(out, SM_E_RS_BOUND, r->id);
		return;
	}
	ch->ops[ch->n++] = (struct st_op){ ST_DEL, L7_RULE_KIND, r->id, NULL };
}

/* ---- bindings and headers ---- */

/* Binding b fits the rule r of type type; its stored form into set. 0, or -1 (out says why). */
static int binding(struct sm *s, json_t *b, const char *type, json_t *set,
	struct sm_outcome *out)
{
	const char *id = json_string_value(json_object_get(b, "RealServerId"));
	const char *ip = json_string_value(json_object_get(b, "RealServerIP"));
	const struct rs *r = id != NULL ? rs_find(s->rs, id) : NULL;
	char key[RS_ADDR_MAX];
	if (r == NULL) {
		detail(out, SM_E_RS_UNKNOWN, id != NULL ? id : "");
		return -1;
	}
	if (ip == NULL || rs_addr_key(ip, key) != 0 || strcmp(key, r->key) != 0) {
		sm_fail(out, SM_E_RS_MISMATCH, NULL, 0);
		snprintf(out->detail, sizeof(out->detail), "RealServerIP %.80s is not %s's address",
			ip != NULL ? ip : "", id);
		return -1;
	}
	if (rs_is_ip(r->key) != (strcmp(type, "IP") == 0)) {
		sm_fail(out, SM_E_RS_MISMATCH, NULL, 0);
		snprintf(out->detail, sizeof(out->detail), "%s is not of the rule's type %s", id,
			type);
		return -1;
	}
	if (json_array_append_new(set, json_pack("{s:s, s:O, s:O}", "RealServerId", id,
	    "RealServerPort", json_object_get(b, "RealServerPort"), "RealServerWeight",
	    json_object_get(b, "RealServerWeight"))) != 0) {
		sm_fail(out, SM_E_NOMEM, NULL, ENOMEM);
		return -1;
	}
	return 0;
}

static void bind_rule(struct sm *s, const struct sm_change *c, const struct l7_rule *r,
	struct chg *ch, struct sm_outcome *out)
{
	const char *type = json_string_value(json_object_get(r->fields, "RealServerType"));
	json_t *set = json_array(), *b, *f;
	size_t i;
	if (set == NULL) {
		sm_fail(out, SM_E_NOMEM, NULL, ENOMEM);
		return;
	}
	json_array_foreach(c->fields, i, b)
		if (binding(s, b, type != NULL ? type : "", set, out) != 0)
			break;
	if (out->err == SM_OK && json_array_size(set) > s->cfg->max_bindings_per_rule)
		sm_fail(out, SM_E_BIND_LIMIT, NULL, 0);
	if (out->err == SM_OK) {
		if ((f = with(r->fields, "RealServerSet", json_incref(set), NULL, NULL)) == NULL)
			sm_fail(out, SM_E_NOMEM, NULL, ENOMEM);
		else
			put_op(ch, L7_RULE_KIND, r->id, f);
	}
	json_decref(set);
}

static void set_headers(struct sm *s, const struct sm_change *c, const struct l7_rule *r,
	struct chg *ch, struct sm_outcome *out)
{
	json_t *list = json_array(), *h, *f;
	size_t i;
	if (json_array_size(c->fields) > s->cfg->max_headers_per_rule) {
		json_decref(list);
		sm_fail(out, SM_E_HEADER_LIMIT, NULL, 0);
		return;
	}
	json_array_foreach(c->fields, i, h)
		if (list == NULL || json_array_append_new(list, json_pack("{s:O, s:O}", "HeaderName",
		    json_object_get(h, "HeaderName"), "HeaderValue",
		    json_object_get(h, "HeaderValue"))) != 0)
			break;
	if (list == NULL || json_array_size(list) != json_array_size(c->fields) ||
	    (f = with(r->fields, "Headers", json_incref(list), NULL, NULL)) == NULL)
		sm_fail(out, SM_E_NOMEM, NULL, ENOMEM);
	else
		put_op(ch, L7_RULE_KIND, r->id, f);
	json_decref(list);
}

/* ---- dispatch ---- */

/* BIND_RULE and SET_HEADERS reach their listener through the rule. */
static void by_rule(struct sm *s, const struct sm_change *c, struct chg *ch,
	struct sm_outcome *out)
{
	const struct l7_rule *r = rule_of(s, NULL, c->rule, out);
	if (r == NULL || (ch->l = target(s, c, r->listener, out)) == NULL)
		return;
	if (c->op == SM_BIND_RULE)
		bind_rule(s, c, r, ch, out);
	else
		set_headers(s, c, r, ch, out);
}

static void by_listener(struct sm *s, const struct sm_change *c, struct chg *ch,
	struct sm_outcome *out, char *id)
{
	if ((ch->l = target(s, c, c->id != NULL ? c->id : "", out)) == NULL)
		return;
	switch (c->op) {
	case SM_CREATE_DOMAIN: create_domain(s, c, ch, out, id); break;
	case SM_MODIFY_DOMAIN: modify_domain(s, c, ch, out); break;
	case SM_DELETE_DOMAIN: delete_domain(s, c, ch, out); break;
	case SM_CREATE_RULE: create_rule(s, c, ch, out, id); break;
	case SM_MODIFY_RULE: modify_rule(s, c, ch, out); break;
	case SM_DELETE_RULE: delete_rule(s, c, ch, out); break;
	default: break;
	}
}

void sm_l7_apply(struct sm *s, const struct sm_change *c, struct sm_outcome *out)
{
	struct chg ch = { 0 };
	char id[ST_ID_MAX] = "";
	ch.ops = ch.small;
	lsn_table_lock(s->t);
	if (c->op == SM_BIND_RULE || c->op == SM_SET_HEADERS)
		by_rule(s, c, &ch, out);
	else
		by_listener(s, c, &ch, out, id);
	if (ch.nroute == 0)
		ch.nroute = ch.n;
	if (out->err == SM_OK)
		commit(s, &ch, out);
	if (out->err != SM_OK)
		out->id[0] = '\0';
	lsn_table_unlock(s->t);
	chg_free(&ch);
}

/* ---- listeners going, and the restore ---- */

size_t sm_l7_listener_objects(const struct sm *s, const char *lsn)
{
	size_t n = l7_domain_count(s->l7, lsn);
	return n + l7_listener_rule_count(s->l7, lsn);
}

size_t sm_l7_listener_dels(const struct sm *s, const char *lsn, struct st_op *ops)
{
	size_t n = 0, nd = l7_domain_count(s->l7, lsn);
	for (size_t i = 0; i < nd; i++) {
		const struct l7_domain *d = l7_domain_at(s->l7, lsn, i);
		size_t nr = l7_rule_count(s->l7, d->id);
		for (size_t k = 0; k < nr; k++)
			ops[n++] = (struct st_op){ ST_DEL, L7_RULE_KIND,
				l7_rule_at(s->l7, d->id, k)->id, NULL };
		ops[n++] = (struct st_op){ ST_DEL, L7_DOMAIN_KIND, d->id, NULL };
	}
	return n;
}

static int restore_domain(const char *kind, const char *id, json_t *fields, void *arg)
{
	struct sm *s = arg;
	const char *lsn = json_string_value(json_object_get(fields, "ListenerId"));
	const char *name = json_string_value(json_object_get(fields, "Domain"));
	(void)kind;
	if (lsn_table_find(s->t, lsn) == NULL || l7_domain_find(s->l7, lsn, name) != NULL) {
		LOG_ERR("state", "domain %s (%s) of listener=%s: %s; skipped", id, name, lsn,
			lsn_table_find(s->t, lsn) == NULL ? "no such listener" : "a duplicate name");
		return 0;
	}
	if (l7_reserve(s->l7, 1, 0) != 0)
		return -1;
	l7_put_domain(s->l7, id, fields);
	return 0;
}

static int restore_rule(const char *kind, const char *id, json_t *fields, void *arg)
{
	struct sm *s = arg;
	const char *dom = json_string_value(json_object_get(fields, "DomainId"));
	const char *lsn = json_string_value(json_object_get(fields, "ListenerId"));
	const struct l7_domain *d = l7_domain_by_id(s->l7, dom);
	(void)kind;
	if (d == NULL || strcmp(d->listener, lsn) != 0) {
		LOG_ERR("state", "rule=%s of listener=%s: its domain %s is gone; skipped", id, lsn,
			dom);
		return 0;
	}
	if (l7_reserve(s->l7, 0, 1) != 0 || l7_reserve_bindings(s->l7,
	    json_array_size(json_object_get(fields, "RealServerSet"))) != 0)
		return -1;
	l7_put_rule(s->l7, id, fields);
	return 0;
}

/* Each listener's routing from the set; a routing refused (not for memory) is logged and the
 * listener serves its configured origins. */
static int restore_routing(struct sm *s)
{
	size_t n = lsn_table_count(s->t);
	for (size_t i = 0; i < n; i++) {
		const char *lsn = lsn_table_get(s->t, i)->rec.id;
		struct px_l7 *l7;
		char err[200];
		if (l7_domain_count(s->l7, lsn) == 0)
			continue;
		if (sm_build_routing(s, lsn, NULL, 0, &l7, err, sizeof(err)) != 0) {
			LOG_ERR("state", "listener=%s: layer-7 routing: %s", lsn, err);
			if (strcmp(err, "out of memory") == 0)
				return -1;
			continue;
		}
		(void)lsn_table_set_l7(s->t, lsn, l7);
	}
	return 0;
}

int sm_l7_restore(struct sm *s, char *err, size_t errlen)
{
	int rc = -1;
	lsn_table_lock(s->t);
	if (st_each(s->store, L7_DOMAIN_KIND, restore_domain, s) != 0 ||
	    st_each(s->store, L7_RULE_KIND, restore_rule, s) != 0)
		snprintf(err, errlen, "the domains and rules could not be restored: out of memory");
	else if (restore_routing(s) != 0)
		snprintf(err, errlen, "the layer-7 routing could not be built: out of memory");
	else
		rc = 0;
	lsn_table_unlock(s->t);
	return rc;
}
