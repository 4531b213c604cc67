/* daemon/state/sm_fleet.c - the fleet's changes (sm.h: sm_apply_records): records another node
 *   wrote, handed over by the etcd back end's feed, made what this node serves.
 * Nothing is decided here (the writing node and the store's transaction did) and nothing is
 *   written to the store (the back end keeps its cache). What differs from the sets and the
 *   table is applied in the order that keeps references whole: certificates and real servers
 *   put first; listeners deleted (freeing their ports); listeners, domains, rules put; then the
 *   dels of rules, domains, real servers, certificates; then one routing (and TLS) build per
 *   listener touched. A put equal to
 *   what sm holds is skipped, so the feed may repeat itself (a resync) at no cost to connections.
 * Ownership: the ops are borrowed for the call; sets take their own references to fields.
 * Threads: the control thread; the table's lock is held for the whole change.
 */
#include "sm_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certs.h"
#include "cfg.h"
#include "l7.h"
#include "listener.h"
#include "log.h"
#include "proxy/px.h"
#include "rs.h"
#include "tls/tls.h"

#define MARK_ROUTING 1u             /* its domains, rules or bound real servers changed */
#define MARK_TLS 2u                 /* its domains, HTTPS members or certificates changed */

enum kind { K_CERT, K_RS, K_LISTENER, K_DOMAIN, K_RULE, K_COUNT };
static const char *const kind_names[K_COUNT] = { CS_KIND, RS_KIND, ST_LISTENER, L7_DOMAIN_KIND,
	L7_RULE_KIND };

struct mark {
	char id[ST_ID_MAX];
	unsigned what;
};

/* A rule taken out with its domain, to be hung on it again once the domain is back. */
struct saved {
	char id[ST_ID_MAX];
	json_t *fields;                 /* a reference of its own */
};

/* One sm_apply_records() call. */
struct fleet {
	struct sm *s;
	const struct st_op *ops;
	size_t n;
	const struct st_op **order;     /* [n]: one kind's puts, in creation order */
	struct mark *marks;             /* listeners to rebuild, with repeats (sorted at the end) */
	size_t nmarks, cap;
	const char **rs_changed, **certs_changed;   /* ids (the ops'), to find who uses them */
	size_t nrs, ncerts;
	int rs_all;                     /* a real server was replaced by another id */
	struct saved *saved;            /* rules of domains taken out to make room (put_domain) */
	size_t nsaved, savecap;
	size_t puts[K_COUNT], dels[K_COUNT], same;
	int nomem;
};

static int kind_of(const struct st_op *o)
{
	for (int k = 0; k < K_COUNT; k++)
		if (o->kind != NULL && strcmp(o->kind, kind_names[k]) == 0)
			return k;
	return -1;
}

static void mark(struct fleet *f, const char *lsn, unsigned what)
{
	if (lsn == NULL || strlen(lsn) >= ST_ID_MAX)
		return;
	if (f->nmarks == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 16;
		struct mark *m = realloc(f->marks, cap * sizeof(*m));
		if (m == NULL) {
			f->nomem = 1;
			return;
		}
		f->marks = m;
		f->cap = cap;
	}
	snprintf(f->marks[f->nmarks].id, ST_ID_MAX, "%s", lsn);
	f->marks[f->nmarks++].what = what;
}

/* ---- certificates and real servers ---- */

static void put_cert(struct fleet *f, const struct st_op *o)
{
	const struct cs_cert *c = cs_find(f->s->certs, o->id);
	if (c != NULL && json_equal(c->fields, o->fields)) {
		f->same++;
		return;
	}
	if (cs_reserve(f->s->certs) != 0) {
		f->nomem = 1;
		return;
	}
	cs_put(f->s->certs, o->id, o->fields);
	if (c != NULL)              /* a new one is used by nothing built yet */
		f->certs_changed[f->ncerts++] = o->id;
	f->puts[K_CERT]++;
}

/* A real server's address never changes through the API; a record that says otherwise (or
 * another id holding the address: a delete this node has not seen yet) is taken as the truth. */
static void put_rs(struct fleet *f, const struct st_op *o)
{
	struct sm *s = f->s;
	const struct rs *r = rs_find(s->rs, o->id), *other;
	char key[RS_ADDR_MAX];
	if (r != NULL && json_equal(r->fields, o->fields)) {
		f->same++;
		return;
	}
	if (rs_addr_key(json_string_value(json_object_get(o->fields, "RealServerIP")), key) != 0) {
		LOG_ERR("state", "fleet: real server %s: no usable address; skipped", o->id);
		return;
	}
	if (rs_reserve(s->rs, 1) != 0) {       /* before anything is taken out */
		f->nomem = 1;
		return;
	}
	f->rs_changed[f->nrs++] = o->id;
	f->puts[K_RS]++;
	if (r != NULL && strcmp(r->key, key) == 0) {
		rs_set_fields(s->rs, o->id, o->fields);
		return;
	}
	rs_remove(s->rs, o->id);
	if ((other = rs_find_addr(s->rs, key)) != NULL) {
		char gone[ST_ID_MAX];
		snprintf(gone, sizeof(gone), "%s", other->id);
		LOG_WARN("state", "fleet: real server %s takes the address of %s", o->id, gone);
		f->rs_all = 1;          /* gone's bindings: rebuild every listener with bindings */
		rs_remove(s->rs, gone);
	}
	rs_add(s->rs, o->id, key, o->fields);
}

/* ---- listeners ---- */

static int same_https(const struct st_https *a, const struct st_https *b)
{
	if (strcmp(a->cert, b->cert) != 0 || strcmp(a->forward, b->forward) != 0 ||
	    a->auth_type != b->auth_type || a->ncas != b->ncas || a->versions != b->versions ||
	    a->ciphers != b->ciphers)
		return 0;
	for (size_t i = 0; i < a->ncas && i < ST_CLIENT_CAS_MAX; i++)
		if (strcmp(a->cas[i], b->cas[i]) != 0)
			return 0;
	return 1;
}

static int same_place(const struct st_listener *a, const struct st_listener *b)
{
	return strcmp(a->protocol, b->protocol) == 0 && strcmp(a->proxy_id, b->proxy_id) == 0 &&
		strcmp(a->group_id, b->group_id) == 0 && a->port == b->port;
}

static void add_listener(struct fleet *f, const struct st_listener *rec)
{
	const struct lsn *l;
	if (sm_open_listener(f->s, rec) != 0) {
		f->nomem = 1;
		return;
	}
	l = lsn_table_find(f->s->t, rec->id);
	LOG_INFO("state", "fleet: listener=%s added (port %u, %s)", rec->id, rec->port,
		l != NULL && l->status == LSN_RUNNING ? "serving" : "not serving here");
	f->puts[K_LISTENER]++;
}

/* Changed in place: a listener keeps its sockets and connections unless where it listens
 * changed (no API does that; a record saying so is served as it says). */
static void put_listener(struct fleet *f, const struct st_op *o)
{
	struct sm *s = f->s;
	struct st_listener rec;
	const struct lsn *l;
	memset(&rec, 0, sizeof(rec));
	if (st_listener_from(o->fields, &rec) != 0 || strcmp(rec.id, o->id) != 0) {
		LOG_ERR("state", "fleet: listener=%s: not a listener record; skipped", o->id);
		return;
	}
	if ((l = lsn_table_find(s->t, rec.id)) == NULL) {
		add_listener(f, &rec);
		return;
	}
	if (!same_place(&l->rec, &rec)) {
		const char *ids[1] = { rec.id };
		LOG_WARN("state", "fleet: listener=%s moved to port %u: rebound", rec.id, rec.port);
		(void)lsn_table_remove(s->t, ids, 1, s->cfg->http.drain_timeout_ms);
		add_listener(f, &rec);
		mark(f, rec.id, MARK_ROUTING | MARK_TLS);
		return;
	}
	if (strcmp(l->rec.name, rec.name) == 0 && same_https(&l->rec.https, &rec.https)) {
		f->same++;
		return;
	}
	if (strcmp(l->rec.name, rec.name) != 0) {
		(void)lsn_table_set_name(s->t, rec.id, rec.name);
		LOG_INFO("state", "fleet: listener=%s renamed", rec.id);
	}
	if (!same_https(&l->rec.https, &rec.https)) {
		(void)lsn_table_set_https(s->t, rec.id, &rec.https);
		mark(f, rec.id, MARK_TLS);
	}
	f->puts[K_LISTENER]++;
}

/* ---- domains and rules ---- */

/* Domain id's rules, kept before the domain is taken out: a domain that comes back in this
 * change (moved, or a name swapped with another while this node was away) keeps them. */
static void save_rules(struct fleet *f, const char *id)
{
	for (const struct l7_rule *r = l7_rule_first(f->s->l7, id); r != NULL; r = l7_rule_next(r)) {
		if (f->nsaved == f->savecap) {
			size_t cap = f->savecap ? f->savecap * 2 : 8;
			struct saved *m = realloc(f->saved, cap * sizeof(*m));
			if (m == NULL) {
				f->nomem = 1;
				return;
			}
			f->saved = m;
			f->savecap = cap;
		}
		snprintf(f->saved[f->nsaved].id, ST_ID_MAX, "%s", r->id);
		f->saved[f->nsaved++].fields = json_incref(r->fields);
	}
}

/* Takes domain id out (its rules saved), marking its listener. */
static void take_out(struct fleet *f, const char *id)
{
	const struct l7_domain *d = l7_domain_by_id(f->s->l7, id);
	char gone[ST_ID_MAX];
	if (d == NULL)
		return;
	snprintf(gone, sizeof(gone), "%s", id);     /* id may be d's own, freed below */
	mark(f, d->listener, MARK_ROUTING | MARK_TLS);
	save_rules(f, gone);
	l7_remove_domain(f->s->l7, gone);
}

static void put_domain(struct fleet *f, const struct st_op *o)
{
	struct sm *s = f->s;
	const char *lsn = json_string_value(json_object_get(o->fields, "ListenerId"));
	const char *name = json_string_value(json_object_get(o->fields, "Domain"));
	const struct l7_domain *d = l7_domain_by_id(s->l7, o->id), *other;
	if (d != NULL && json_equal(d->fields, o->fields)) {
		f->same++;
		return;
	}
	if (lsn == NULL || name == NULL || lsn_table_find(s->t, lsn) == NULL) {
		LOG_ERR("state", "fleet: domain %s of listener=%s: no such listener; skipped", o->id,
			lsn != NULL ? lsn : "-");
		return;
	}
	if (d != NULL && strcmp(d->listener, lsn) != 0)    /* moved: no API does it */
		take_out(f, o->id);
	/* The name's holder was deleted or renamed where this one got it (its own op is later in
	 * this change, or in one this node missed). */
	other = l7_domain_find(s->l7, lsn, name);
	if (other != NULL && strcmp(other->id, o->id) != 0)
		take_out(f, other->id);
	if (f->nomem || l7_reserve(s->l7, 1, 0) != 0) {
		f->nomem = 1;
		return;
	}
	l7_put_domain(s->l7, o->id, o->fields);
	mark(f, lsn, MARK_ROUTING | MARK_TLS);
	f->puts[K_DOMAIN]++;
}

/* The saved rules whose domain is back (the change's own rule puts come after). */
static void put_saved(struct fleet *f)
{
	for (size_t i = 0; i < f->nsaved && !f->nomem; i++) {
		const char *dom = json_string_value(json_object_get(f->saved[i].fields, "DomainId"));
		const struct l7_domain *d = dom != NULL ? l7_domain_by_id(f->s->l7, dom) : NULL;
		if (d == NULL || l7_rule_find(f->s->l7, f->saved[i].id) != NULL)
			continue;
		if (l7_reserve(f->s->l7, 0, 1) != 0 || l7_reserve_bindings(f->s->l7,
		    json_array_size(json_object_get(f->saved[i].fields, "RealServerSet"))) != 0) {
			f->nomem = 1;
			return;
		}
		l7_put_rule(f->s->l7, f->saved[i].id, f->saved[i].fields);
		mark(f, d->listener, MARK_ROUTING);
	}
}

static void put_rule(struct fleet *f, const struct st_op *o)
{
	struct sm *s = f->s;
	const char *dom = json_string_value(json_object_get(o->fields, "DomainId"));
	const struct l7_rule *r = l7_rule_find(s->l7, o->id);
	const struct l7_domain *d = dom != NULL ? l7_domain_by_id(s->l7, dom) : NULL;
	size_t binds = json_array_size(json_object_get(o->fields, "RealServerSet"));
	if (r != NULL && json_equal(r->fields, o->fields)) {
		f->same++;
		return;
	}
	if (d == NULL) {
		LOG_ERR("state", "fleet: rule=%s: its domain %s is unknown here; skipped", o->id,
			dom != NULL ? dom : "-");
		return;
	}
	if (l7_reserve(s->l7, 0, 1) != 0 || l7_reserve_bindings(s->l7, binds) != 0) {
		f->nomem = 1;
		return;
	}
	if (r != NULL && strcmp(r->listener, d->listener) != 0)
		mark(f, r->listener, MARK_ROUTING);
	l7_put_rule(s->l7, o->id, o->fields);
	mark(f, d->listener, MARK_ROUTING);
	f->puts[K_RULE]++;
}

/* ---- dels ---- */

static void del_l7(struct fleet *f, const struct st_op *o, int k)
{
	struct sm *s = f->s;
	if (k == K_RULE) {
		const struct l7_rule *r = l7_rule_find(s->l7, o->id);
		if (r == NULL)
			return;
		mark(f, r->listener, MARK_ROUTING);
		l7_remove_rule(s->l7, o->id);
	} else {
		const struct l7_domain *d = l7_domain_by_id(s->l7, o->id);
		if (d == NULL)
			return;
		mark(f, d->listener, MARK_ROUTING | MARK_TLS);
		l7_remove_domain(s->l7, o->id);
	}
	f->dels[k]++;
}

/* Every listener del of the change at once: the workers let go of them together. */
static void del_listeners(struct fleet *f)
{
	struct sm *s = f->s;
	const char **ids = calloc(f->n + 1, sizeof(*ids));
	size_t n = 0;
	if (ids == NULL) {
		f->nomem = 1;
		return;
	}
	for (size_t i = 0; i < f->n; i++) {
		const struct st_op *o = &f->ops[i];
		if (o->type != ST_DEL || o->id == NULL || kind_of(o) != K_LISTENER ||
		    lsn_table_find(s->t, o->id) == NULL)
			continue;
		l7_remove_listener(s->l7, o->id);
		ids[n++] = o->id;
		LOG_INFO("state", "fleet: listener=%s removed", o->id);
	}
	if (n > 0)
		(void)lsn_table_remove(s->t, ids, n, s->cfg->http.drain_timeout_ms);
	f->dels[K_LISTENER] += n;
	free(ids);
}

static void del_other(struct fleet *f, const struct st_op *o, int k)
{
	struct sm *s = f->s;
	if (k == K_RS && rs_find(s->rs, o->id) != NULL) {
		f->rs_changed[f->nrs++] = o->id;
		rs_remove(s->rs, o->id);
		f->dels[k]++;
	} else if (k == K_CERT && cs_find(s->certs, o->id) != NULL) {
		f->certs_changed[f->ncerts++] = o->id;
		cs_remove(s->certs, o->id);
		f->dels[k]++;
	}
}

/* ---- who uses what changed ---- */

static int listed(const char *const *ids, size_t n, const char *id)
{
	for (size_t i = 0; id != NULL && i < n; i++)
		if (strcmp(ids[i], id) == 0)
			return 1;
	return 0;
}

/* Some rule of the listener binds a real server in f->rs_changed. */
static int binds_changed(struct fleet *f, const char *lsn)
{
	size_t nd = l7_domain_count(f->s->l7, lsn);
	if (f->rs_all)
		return l7_listener_binding_count(f->s->l7, lsn) > 0;
	for (size_t i = 0; i < nd; i++) {
		const struct l7_domain *d = l7_domain_at(f->s->l7, lsn, i);
		for (const struct l7_rule *r = l7_rule_first(f->s->l7, d->id); r != NULL;
		    r = l7_rule_next(r)) {
			json_t *b;
			size_t k;
			json_array_foreach(json_object_get(r->fields, "RealServerSet"), k, b)
				if (listed(f->rs_changed, f->nrs, json_string_value(
				    json_object_get(b, "RealServerId"))))
					return 1;
		}
	}
	return 0;
}

/* The listener or one of its domains names a certificate in f->certs_changed. */
static int uses_changed_cert(struct fleet *f, const struct lsn *l)
{
	const struct st_https *h = &l->rec.https;
	size_t nd = l7_domain_count(f->s->l7, l->rec.id);
	int used = listed(f->certs_changed, f->ncerts, h->cert);
	for (size_t i = 0; i < h->ncas && !used; i++)
		used = listed(f->certs_changed, f->ncerts, h->cas[i]);
	for (size_t i = 0; i < nd && !used; i++) {
		json_t *fl = l7_domain_at(f->s->l7, l->rec.id, i)->fields, *v;
		size_t k;
		used = listed(f->certs_changed, f->ncerts,
			json_string_value(json_object_get(fl, "CertificateId")));
		json_array_foreach(json_object_get(fl, "PolyClientCertificateIds"), k, v)
			used |= listed(f->certs_changed, f->ncerts, json_string_value(v));
	}
	return used;
}

static void mark_users(struct fleet *f)
{
	size_t n = lsn_table_count(f->s->t), bound = 0;
	/* Only real servers some rule binds matter (a burst of AddRealServers walks nothing). */
	for (size_t i = 0; i < f->nrs; i++)
		if (l7_rs_binding_count(f->s->l7, f->rs_changed[i]) > 0)
			f->rs_changed[bound++] = f->rs_changed[i];
	f->nrs = bound;
	if (f->nrs == 0 && f->ncerts == 0 && !f->rs_all)
		return;
	for (size_t i = 0; i < n; i++) {
		const struct lsn *l = lsn_table_get(f->s->t, i);
		if ((f->nrs > 0 || f->rs_all) && binds_changed(f, l->rec.id))
			mark(f, l->rec.id, MARK_ROUTING);
		if (f->ncerts > 0 && strcmp(l->rec.protocol, "HTTPS") == 0 &&
		    uses_changed_cert(f, l))
			mark(f, l->rec.id, MARK_TLS);
	}
}

/* ---- rebuilds ---- */

static int by_id(const void *a, const void *b)
{
	return strcmp(((const struct mark *)a)->id, ((const struct mark *)b)->id);
}

static void rebuild(struct fleet *f, const char *id, unsigned what)
{
	struct sm *s = f->s;
	const struct lsn *l = lsn_table_find(s->t, id);
	char err[200];
	if (l == NULL || l->status == LSN_DESTROYING)
		return;                 /* deleted in this change */
	if (what & MARK_ROUTING) {
		struct px_l7 *l7;
		if (sm_build_routing(s, id, NULL, 0, &l7, err, sizeof(err)) == 0)
			(void)lsn_table_set_l7(s->t, id, l7);
		else if (strcmp(err, "out of memory") == 0)
			f->nomem = 1;
		else
			LOG_ERR("state", "fleet: listener=%s: layer-7 routing: %s", id, err);
	}
	if ((what & MARK_TLS) && strcmp(l->rec.protocol, "HTTPS") == 0) {
		struct sm_outcome o = { .err = SM_OK };
		struct tls_srv *srv;
		/* As at restore: a TLS that cannot be built refuses connections, never plain text. */
		if (sm_tls_build(s, &l->rec, NULL, 0, &srv, &o) != 0) {
			LOG_ERR("state", "fleet: listener=%s: its TLS cannot be built (%s): it refuses "
				"connections", id, o.detail);
			f->nomem |= o.err == SM_E_NOMEM;
		}
		(void)lsn_table_set_tls(s->t, id, srv);
	}
}

static void rebuild_marked(struct fleet *f)
{
	size_t i = 0;
	if (f->nmarks > 1)
		qsort(f->marks, f->nmarks, sizeof(*f->marks), by_id);
	while (i < f->nmarks) {
		size_t k = i;
		unsigned what = 0;
		for (; k < f->nmarks && strcmp(f->marks[k].id, f->marks[i].id) == 0; k++)
			what |= f->marks[k].what;
		rebuild(f, f->marks[i].id, what);
		i = k;
	}
}

/* ---- the change ---- */

/* Creation order where the ops came in any order: Describe lists in the order the sets hold. */
static int by_creation(const void *a, const void *b)
{
	const struct st_op *x = *(const struct st_op *const *)a, *y = *(const struct st_op *const *)b;
	json_int_t tx = json_integer_value(json_object_get(x->fields, "CreateTime"));
	json_int_t ty = json_integer_value(json_object_get(y->fields, "CreateTime"));
	if (tx != ty)
		return tx < ty ? -1 : 1;
	return strcmp(x->id, y->id);
}

static void puts_of(struct fleet *f, int kind, void (*put)(struct fleet *, const struct st_op *))
{
	size_t n = 0;
	for (size_t i = 0; i < f->n; i++)
		if (f->ops[i].type == ST_PUT && json_is_object(f->ops[i].fields) &&
		    f->ops[i].id != NULL && kind_of(&f->ops[i]) == kind)
			f->order[n++] = &f->ops[i];
	if (n > 1)
		qsort(f->order, n, sizeof(*f->order), by_creation);
	for (size_t i = 0; i < n && !f->nomem; i++)
		put(f, f->order[i]);
}

static void dels_of(struct fleet *f, int kind)
{
	for (size_t i = 0; i < f->n && !f->nomem; i++) {
		if (f->ops[i].type != ST_DEL || f->ops[i].id == NULL || kind_of(&f->ops[i]) != kind)
			continue;
		if (kind == K_RULE || kind == K_DOMAIN)
			del_l7(f, &f->ops[i], kind);
		else
			del_other(f, &f->ops[i], kind);
	}
}

static void log_counts(const struct fleet *f)
{
	static const char *const words[K_COUNT] = { "certificates", "real servers", "listeners",
		"domains", "rules" };
	for (int k = 0; k < K_COUNT; k++)
		if (f->puts[k] > 0 || f->dels[k] > 0)
			LOG_INFO("state", "fleet: %s: %zu put, %zu deleted", words[k], f->puts[k],
				f->dels[k]);
}

static void apply_locked(struct fleet *f)
{
	puts_of(f, K_CERT, put_cert);
	puts_of(f, K_RS, put_rs);
	/* Listeners go before listeners come: a port deleted and taken again while this node was
	 * away (one resync batch) is free for the new one. Their domains and rules go with them;
	 * the change's dels of those are no-ops then. */
	del_listeners(f);
	puts_of(f, K_LISTENER, put_listener);
	puts_of(f, K_DOMAIN, put_domain);
	put_saved(f);
	puts_of(f, K_RULE, put_rule);
	dels_of(f, K_RULE);
	dels_of(f, K_DOMAIN);
	dels_of(f, K_RS);
	dels_of(f, K_CERT);
	mark_users(f);
	rebuild_marked(f);      /* also after ENOMEM: what was applied is served whole */
}

int sm_apply_records(struct sm *s, const struct st_op *ops, size_t n, char *err, size_t errlen)
{
	struct fleet f = { .s = s, .ops = ops, .n = n };
	/* Each op notes at most one real server or certificate. */
	f.rs_changed = calloc(n + 1, sizeof(*f.rs_changed));
	f.certs_changed = calloc(n + 1, sizeof(*f.certs_changed));
	f.order = calloc(n + 1, sizeof(*f.order));
	if (f.rs_changed != NULL && f.certs_changed != NULL && f.order != NULL) {
		lsn_table_lock(s->t);
		apply_locked(&f);
		lsn_table_unlock(s->t);
	} else {
		f.nomem = 1;
	}
	log_counts(&f);
	free(f.marks);
	free(f.rs_changed);
	free(f.certs_changed);
	free(f.order);
	for (size_t i = 0; i < f.nsaved; i++)
		json_decref(f.saved[i].fields);
	free(f.saved);
	if (f.nomem) {
		snprintf(err, errlen, "applying %zu records: %s", n, strerror(ENOMEM));
		return -1;
	}
	if (errlen > 0)
		err[0] = '\0';
	return 0;
}
