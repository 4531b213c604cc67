/* daemon/state/l7.c - the layer-7 objects a node knows (l7.h).
 * Layout: every entry is found by id through an idmap; a listener's domains and a domain's rules
 * are doubly linked lists in creation order, so that adds and removes need no array to grow (an
 * add must not fail after the store took the change). Indexed access (l7_domain_at,
 * l7_rule_at) walks from a per-list cursor: a loop over i = 0..n-1 costs O(n) in all.
 * Counts (rules and bindings per listener, bindings per real server) are kept on each put and
 * remove, and the entries they need are taken from spares l7_reserve() made.
 */
#include "l7.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "health/hc.h"
#include "idmap.h"

#define L7_LKEY_MAX (ST_ID_MAX + L7_DOMAIN_MAX)

struct cursor {
	void *node;                 /* NULL: invalid */
	size_t i;
};

struct lsn_ent;
struct rule;

struct dom {
	struct l7_domain pub;       /* first: the public view is the entry */
	char lkey[L7_LKEY_MAX];     /* "listener\nkey": the by-name index's id */
	struct lsn_ent *lsn;
	struct dom *prev, *next;
	struct rule *first, *last;
	size_t nrules;
	struct cursor cur;
};

struct rule {
	struct l7_rule pub;
	struct dom *dom;
	struct rule *prev, *next;
};

struct lsn_ent {
	char id[ST_ID_MAX];
	struct dom *first, *last, *deflt;
	struct lsn_ent *prev, *next;        /* every listener with domains, for l7_set_free() */
	size_t ndomains, nrules, nbindings;
	struct cursor cur;
};

struct rs_count {
	char id[ST_ID_MAX];
	size_t n;
};

/* Entries allocated ahead, taken by the adds that must not fail. */
struct spares {
	void **items;
	size_t n;
};

struct l7_set {
	struct idmap doms, names, rules, lsns, counts;
	struct lsn_ent *lsn_first;
	struct spares sdom, srule, slsn, scount;
};

static const char *dom_id(const void *v) { return ((const struct dom *)v)->pub.id; }
static const char *dom_lkey(const void *v) { return ((const struct dom *)v)->lkey; }
static const char *rule_id(const void *v) { return ((const struct rule *)v)->pub.id; }
static const char *lsn_id(const void *v) { return ((const struct lsn_ent *)v)->id; }
static const char *count_id(const void *v) { return ((const struct rs_count *)v)->id; }

struct l7_set *l7_set_new(void)
{
	struct l7_set *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	s->doms = (struct idmap)IDMAP_INIT(dom_id);
	s->names = (struct idmap)IDMAP_INIT(dom_lkey);
	s->rules = (struct idmap)IDMAP_INIT(rule_id);
	s->lsns = (struct idmap)IDMAP_INIT(lsn_id);
	s->counts = (struct idmap)IDMAP_INIT(count_id);
	return s;
}

static void spares_free(struct spares *p)
{
	for (size_t i = 0; i < p->n; i++)
		free(p->items[i]);
	free(p->items);
}

static int spares_reserve(struct spares *p, size_t n, size_t size)
{
	void **items;
	if (n <= p->n)
		return 0;
	if ((items = realloc(p->items, n * sizeof(*items))) == NULL)
		return -1;
	p->items = items;
	for (; p->n < n; p->n++)
		if ((p->items[p->n] = malloc(size)) == NULL)
			return -1;
	return 0;
}

static void *spares_take(struct spares *p, size_t size)
{
	void *e = p->items[--p->n];
	memset(e, 0, size);
	return e;
}

static struct lsn_ent *lsn_of(const struct l7_set *s, const char *listener)
{
	return idmap_get(&s->lsns, listener);
}

size_t l7_domain_count(const struct l7_set *s, const char *listener)
{
	const struct lsn_ent *l = lsn_of(s, listener);
	return l != NULL ? l->ndomains : 0;
}

/* The i-th node of a list of n, from the cursor when it is at or before i, else from the nearer
 * end. next_off/prev_off: where a node keeps its links. */
static void *list_at(struct cursor *c, void *first, void *last, size_t n, size_t i,
	size_t next_off, size_t prev_off)
{
	void *node;
	size_t k;
	if (i >= n)
		return NULL;
	if (c->node != NULL && c->i <= i) {
		node = c->node;
		k = c->i;
	} else if (i < n - i) {
		node = first;
		k = 0;
	} else {
		node = last;
		for (k = n - 1; k > i; k--)
			node = *(void **)((char *)node + prev_off);
		goto done;
	}
	for (; k < i; k++)
		node = *(void **)((char *)node + next_off);
done:
	c->node = node;
	c->i = i;
	return node;
}

const struct l7_domain *l7_domain_at(const struct l7_set *s, const char *listener, size_t i)
{
	struct lsn_ent *l = lsn_of(s, listener);
	struct dom *d = l == NULL ? NULL : list_at(&l->cur, l->first, l->last, l->ndomains, i,
		offsetof(struct dom, next), offsetof(struct dom, prev));
	return d != NULL ? &d->pub : NULL;
}

static void make_lkey(char *out, const char *listener, const char *key)
{
	snprintf(out, L7_LKEY_MAX, "%s\n%s", listener, key);
}

const struct l7_domain *l7_domain_find(const struct l7_set *s, const char *listener,
	const char *name)
{
	char key[L7_DOMAIN_MAX], lkey[L7_LKEY_MAX];
	struct dom *d;
	if (strlen(listener) >= ST_ID_MAX || l7_domain_key(name, key) != 0)
		return NULL;
	make_lkey(lkey, listener, key);
	d = idmap_get(&s->names, lkey);
	return d != NULL ? &d->pub : NULL;
}

const struct l7_domain *l7_domain_by_id(const struct l7_set *s, const char *id)
{
	struct dom *d = idmap_get(&s->doms, id);
	return d != NULL ? &d->pub : NULL;
}

const struct l7_domain *l7_default_domain(const struct l7_set *s, const char *listener)
{
	const struct lsn_ent *l = lsn_of(s, listener);
	return l != NULL && l->deflt != NULL ? &l->deflt->pub : NULL;
}

size_t l7_rule_count(const struct l7_set *s, const char *domain_id)
{
	const struct dom *d = idmap_get(&s->doms, domain_id);
	return d != NULL ? d->nrules : 0;
}

const struct l7_rule *l7_rule_at(const struct l7_set *s, const char *domain_id, size_t i)
{
	struct dom *d = idmap_get(&s->doms, domain_id);
	struct rule *r = d == NULL ? NULL : list_at(&d->cur, d->first, d->last, d->nrules, i,
		offsetof(struct rule, next), offsetof(struct rule, prev));
	return r != NULL ? &r->pub : NULL;
}

const struct l7_rule *l7_rule_find(const struct l7_set *s, const char *rule_id)
{
	struct rule *r = idmap_get(&s->rules, rule_id);
	return r != NULL ? &r->pub : NULL;
}

const struct l7_rule *l7_rule_first(const struct l7_set *s, const char *domain_id)
{
	const struct dom *d = idmap_get(&s->doms, domain_id);
	return d != NULL && d->first != NULL ? &d->first->pub : NULL;
}

const struct l7_rule *l7_rule_next(const struct l7_rule *r)
{
	const struct rule *x = (const struct rule *)r;     /* pub is its first member */
	return x->next != NULL ? &x->next->pub : NULL;
}

size_t l7_listener_rule_count(const struct l7_set *s, const char *listener)
{
	const struct lsn_ent *l = lsn_of(s, listener);
	return l != NULL ? l->nrules : 0;
}

size_t l7_rs_binding_count(const struct l7_set *s, const char *rs_id)
{
	const struct rs_count *c = idmap_get(&s->counts, rs_id);
	return c != NULL ? c->n : 0;
}

size_t l7_listener_binding_count(const struct l7_set *s, const char *listener)
{
	const struct lsn_ent *l = lsn_of(s, listener);
	return l != NULL ? l->nbindings : 0;
}

int l7_reserve(struct l7_set *s, size_t domains, size_t rules)
{
	if (spares_reserve(&s->sdom, domains, sizeof(struct dom)) != 0 ||
	    spares_reserve(&s->slsn, domains, sizeof(struct lsn_ent)) != 0 ||
	    spares_reserve(&s->srule, rules, sizeof(struct rule)) != 0)
		return -1;
	return idmap_reserve(&s->doms, domains) == 0 && idmap_reserve(&s->names, domains) == 0 &&
		idmap_reserve(&s->lsns, domains) == 0 && idmap_reserve(&s->rules, rules) == 0 ? 0 : -1;
}

int l7_reserve_bindings(struct l7_set *s, size_t bindings)
{
	if (spares_reserve(&s->scount, bindings, sizeof(struct rs_count)) != 0)
		return -1;
	return idmap_reserve(&s->counts, bindings);
}

/* ---- bindings' counts ---- */

static size_t count_bindings(struct l7_set *s, json_t *fields, int sign)
{
	json_t *set = json_object_get(fields, "RealServerSet"), *b;
	size_t i, n = json_array_size(set);
	json_array_foreach(set, i, b) {
		const char *id = json_string_value(json_object_get(b, "RealServerId"));
		struct rs_count *c;
		if (id == NULL || strlen(id) >= ST_ID_MAX)
			continue;
		if ((c = idmap_get(&s->counts, id)) == NULL) {
			if (sign < 0 || s->scount.n == 0)
				continue;       /* not reserved: a caller's error; counts stay low */
			c = spares_take(&s->scount, sizeof(*c));
			snprintf(c->id, sizeof(c->id), "%s", id);
			idmap_put(&s->counts, c);
		}
		if (sign > 0) {
			c->n++;
		} else if (--c->n == 0) {
			idmap_del(&s->counts, id);
			free(c);
		}
	}
	return n;
}

/* ---- domains ---- */

static struct lsn_ent *lsn_get_or_add(struct l7_set *s, const char *listener)
{
	struct lsn_ent *l = lsn_of(s, listener);
	if (l != NULL || s->slsn.n == 0)
		return l;
	l = spares_take(&s->slsn, sizeof(*l));
	snprintf(l->id, sizeof(l->id), "%s", listener);
	idmap_put(&s->lsns, l);
	l->next = s->lsn_first;
	if (l->next != NULL)
		l->next->prev = l;
	s->lsn_first = l;
	return l;
}

static void set_default(struct dom *d, json_t *fields)
{
	d->pub.is_default = json_is_true(json_object_get(fields, "IsDefaultServer"));
	if (d->pub.is_default)
		d->lsn->deflt = d;
	else if (d->lsn->deflt == d)
		d->lsn->deflt = NULL;
}

void l7_put_domain(struct l7_set *s, const char *id, json_t *fields)
{
	const char *listener = json_string_value(json_object_get(fields, "ListenerId"));
	const char *name = json_string_value(json_object_get(fields, "Domain"));
	struct dom *d = idmap_get(&s->doms, id);
	char key[L7_DOMAIN_MAX];
	struct lsn_ent *l;
	if (listener == NULL || name == NULL || strlen(listener) >= ST_ID_MAX ||
	    strlen(id) >= ST_ID_MAX || l7_domain_key(name, key) != 0)
		return;                 /* the schema refuses these: cannot happen */
	if (d != NULL) {            /* a change: its name may have changed, not its listener */
		idmap_del(&s->names, d->lkey);
		snprintf(d->pub.key, sizeof(d->pub.key), "%s", key);
		make_lkey(d->lkey, d->lsn->id, key);
		idmap_put(&s->names, d);
		json_decref(d->pub.fields);
		d->pub.fields = json_incref(fields);
		d->pub.name = name;
		set_default(d, fields);
		return;
	}
	if (s->sdom.n == 0 || (l = lsn_get_or_add(s, listener)) == NULL)
		return;                 /* not reserved */
	d = spares_take(&s->sdom, sizeof(*d));
	snprintf(d->pub.id, sizeof(d->pub.id), "%s", id);
	snprintf(d->pub.listener, sizeof(d->pub.listener), "%s", listener);
	snprintf(d->pub.key, sizeof(d->pub.key), "%s", key);
	make_lkey(d->lkey, listener, key);
	d->pub.fields = json_incref(fields);
	d->pub.name = name;
	d->lsn = l;
	d->prev = l->last;
	if (l->last != NULL)
		l->last->next = d;
	else
		l->first = d;
	l->last = d;
	l->ndomains++;
	idmap_put(&s->doms, d);
	idmap_put(&s->names, d);
	set_default(d, fields);
}

static void unlink_rule(struct l7_set *s, struct rule *r)
{
	struct dom *d = r->dom;
	size_t n = count_bindings(s, r->pub.fields, -1);
	d->lsn->nbindings -= n;
	d->lsn->nrules--;
	if (r->prev != NULL)
		r->prev->next = r->next;
	else
		d->first = r->next;
	if (r->next != NULL)
		r->next->prev = r->prev;
	else
		d->last = r->prev;
	d->nrules--;
	d->cur.node = NULL;
}

void l7_remove_rule(struct l7_set *s, const char *id)
{
	struct rule *r = idmap_get(&s->rules, id);
	if (r == NULL)
		return;
	unlink_rule(s, r);
	idmap_del(&s->rules, id);
	l7_route_free((struct l7_route *)r->pub.route);
	json_decref(r->pub.fields);
	free(r);
}

void l7_remove_domain(struct l7_set *s, const char *id)
{
	struct dom *d = idmap_get(&s->doms, id);
	struct lsn_ent *l;
	if (d == NULL)
		return;
	while (d->first != NULL)
		l7_remove_rule(s, d->first->pub.id);
	l = d->lsn;
	if (d->prev != NULL)
		d->prev->next = d->next;
	else
		l->first = d->next;
	if (d->next != NULL)
		d->next->prev = d->prev;
	else
		l->last = d->prev;
	l->ndomains--;
	l->cur.node = NULL;
	if (l->deflt == d)
		l->deflt = NULL;
	idmap_del(&s->doms, d->pub.id);
	idmap_del(&s->names, d->lkey);
	json_decref(d->pub.fields);
	free(d);
	if (l->ndomains == 0) {
		idmap_del(&s->lsns, l->id);
		if (l->prev != NULL)
			l->prev->next = l->next;
		else
			s->lsn_first = l->next;
		if (l->next != NULL)
			l->next->prev = l->prev;
		free(l);
	}
}

void l7_remove_listener(struct l7_set *s, const char *listener)
{
	struct lsn_ent *l = lsn_of(s, listener);
	while (l != NULL && l->first != NULL) {
		int last = l->ndomains == 1;
		l7_remove_domain(s, l->first->pub.id);
		if (last)
			break;      /* l was freed with its last domain */
	}
}

/* ---- rules ---- */

/* The entry's fields and their route (NULL on ENOMEM: the routing parses fields then). */
static void rule_fields(struct rule *r, json_t *fields)
{
	l7_route_free((struct l7_route *)r->pub.route);
	json_decref(r->pub.fields);
	r->pub.fields = json_incref(fields);
	r->pub.route = l7_route_new(fields);
}

void l7_put_rule(struct l7_set *s, const char *id, json_t *fields)
{
	const char *dom_id = json_string_value(json_object_get(fields, "DomainId"));
	struct dom *d = dom_id != NULL ? idmap_get(&s->doms, dom_id) : NULL;
	struct rule *r = idmap_get(&s->rules, id);
	if (d == NULL || strlen(id) >= ST_ID_MAX)
		return;                 /* its domain is gone: nothing to hang it on */
	if (r != NULL && r->dom != d) {         /* moved (no API does this): relink */
		unlink_rule(s, r);
		r->dom = NULL;
	} else if (r != NULL) {
		d->lsn->nbindings -= count_bindings(s, r->pub.fields, -1);
		d->lsn->nbindings += count_bindings(s, fields, +1);
		rule_fields(r, fields);
		return;
	}
	if (r == NULL) {
		if (s->srule.n == 0)
			return;             /* not reserved */
		r = spares_take(&s->srule, sizeof(*r));
		snprintf(r->pub.id, sizeof(r->pub.id), "%s", id);
		idmap_put(&s->rules, r);
	}
	rule_fields(r, fields);
	snprintf(r->pub.listener, sizeof(r->pub.listener), "%s", d->pub.listener);
	snprintf(r->pub.domain, sizeof(r->pub.domain), "%s", d->pub.id);
	r->dom = d;
	r->next = NULL;
	r->prev = d->last;
	if (d->last != NULL)
		d->last->next = r;
	else
		d->first = r;
	d->last = r;
	d->nrules++;
	d->cur.node = NULL;
	d->lsn->nrules++;
	d->lsn->nbindings += count_bindings(s, fields, +1);
}

/* ---- a rule's route ---- */

static unsigned cp_uint(const json_t *cp, const char *name, unsigned def, unsigned min,
	unsigned max)
{
	json_t *v = json_object_get(cp, name);
	json_int_t n = json_is_integer(v) ? json_integer_value(v) : (json_int_t)def;
	return n < (json_int_t)min ? min : n > (json_int_t)max ? max : (unsigned)n;
}

/* A rule's CheckParams (§4.1) as the checker takes them: defaults for what is missing, ranges
 * enforced (the API checked them; a damaged store must not make a probe loop spin), seconds to
 * ms, StatusCode's classes to bits. Host "" when Domain is empty: the routing puts the rule's
 * domain's name there at each build (so a ModifyDomain rename moves the probes to it). */
static void check_params(const json_t *f, struct hc_params *p)
{
	const json_t *cp = json_object_get(f, "CheckParams"), *x;
	const char *method = json_string_value(json_object_get(cp, "Method"));
	const char *path = json_string_value(json_object_get(cp, "Path"));
	const char *host = json_string_value(json_object_get(cp, "Domain"));
	size_t i;
	memset(p, 0, sizeof(*p));
	p->delay_ms = cp_uint(cp, "DelayLoop", 5, 1, 300) * 1000;
	p->timeout_ms = cp_uint(cp, "ConnectTimeout", 2, 1, 60) * 1000;
	if (p->timeout_ms > p->delay_ms)
		p->timeout_ms = p->delay_ms;
	snprintf(p->method, sizeof(p->method), "%s",
		method != NULL && strcasecmp(method, "GET") == 0 ? "GET" : "HEAD");
	snprintf(p->path, sizeof(p->path), "%s", path != NULL && path[0] == '/' ? path : "/");
	snprintf(p->host, sizeof(p->host), "%s", host != NULL ? host : "");
	json_array_foreach(json_object_get(cp, "StatusCode"), i, x) {
		json_int_t c = json_integer_value(x) / 100;
		if (c >= 1 && c <= 5)
			p->status_classes |= 1u << c;
	}
	if (p->status_classes == 0)
		p->status_classes = 0x3e;       /* 1xx..5xx: any answer */
	p->fail_threshold = cp_uint(cp, "FailedThreshold", 0, 0, HC_FAILS_MAX);
	if (p->fail_threshold == 0)
		return;
	p->fail_window_ms = cp_uint(cp, "FailedCountInter", 60, 0, 86400) * 1000;
	p->block_ms = cp_uint(cp, "BlockInter", 600, 0, 86400) * 1000;
	if (p->fail_window_ms == 0)
		p->fail_window_ms = 60000;      /* §9.4.2's defaults */
	if (p->block_ms == 0)
		p->block_ms = 600000;
}

static enum cfg_sched sched_of(const char *name)
{
	if (name != NULL && strcmp(name, "wrr") == 0)
		return CFG_SCHED_WRR;
	if (name != NULL && (strcmp(name, "lc") == 0 || strcmp(name, "lrtt") == 0))
		return CFG_SCHED_LC;           /* lrtt: least connections stands in (§9) */
	return CFG_SCHED_RR;
}

/* One block: the route, its bindings, its headers, then its check's params. */
struct l7_route *l7_route_new(const json_t *fields)
{
	const char *host = json_string_value(json_object_get(fields, "ForwardHost"));
	const char *redirect = json_string_value(json_object_get(fields, "ForcedRedirect"));
	const char *fwd = json_string_value(json_object_get(fields, "ForwardProtocol"));
	json_t *set = json_object_get(fields, "RealServerSet"), *hs, *x;
	size_t nb = json_array_size(set), nh, i;
	int on = json_integer_value(json_object_get(fields, "HealthCheck")) == 1;
	struct l7_binding *b;
	struct l7_header *h;
	struct l7_route *r;
	hs = json_object_get(fields, "Headers");
	nh = json_array_size(hs);
	r = malloc(sizeof(*r) + nb * sizeof(*b) + nh * sizeof(*h) +
		(on ? sizeof(struct hc_params) : 0));
	if (r == NULL)
		return NULL;
	b = (struct l7_binding *)(r + 1);
	h = (struct l7_header *)(b + nb);
	*r = (struct l7_route){ .bindings = b, .nbindings = nb, .headers = h, .nheaders = nh,
		.path = json_string_value(json_object_get(fields, "Path")),
		.sched = sched_of(json_string_value(json_object_get(fields, "Scheduler"))),
		.forward_host = host == NULL || host[0] == '\0' || strcmp(host, "default") == 0 ?
			NULL : host,
		.forced_redirect = redirect == NULL || redirect[0] == '\0' ? NULL : redirect,
		.forward = fwd == NULL ? L7_FWD_LISTENER : strcmp(fwd, "HTTPS") == 0 ? L7_FWD_HTTPS :
			strcmp(fwd, "HTTP") == 0 ? L7_FWD_HTTP : L7_FWD_LISTENER };
	json_array_foreach(set, i, x)
		b[i] = (struct l7_binding){
			.rs = json_string_value(json_object_get(x, "RealServerId")),
			.port = (unsigned)json_integer_value(json_object_get(x, "RealServerPort")),
			.weight = (unsigned)json_integer_value(json_object_get(x, "RealServerWeight")) };
	json_array_foreach(hs, i, x)
		h[i] = (struct l7_header){
			.name = json_string_value(json_object_get(x, "HeaderName")),
			.value = json_string_value(json_object_get(x, "HeaderValue")) };
	if (on) {
		struct hc_params *p = (struct hc_params *)(h + nh);
		check_params(fields, p);
		r->check = p;
	}
	return r;
}

void l7_route_free(struct l7_route *r)
{
	free(r);
}

void l7_set_free(struct l7_set *s)
{
	if (s == NULL)
		return;
	while (s->lsn_first != NULL)
		l7_remove_listener(s, s->lsn_first->id);
	idmap_free(&s->doms);
	idmap_free(&s->names);
	idmap_free(&s->rules);
	idmap_free(&s->lsns);
	idmap_free(&s->counts);
	spares_free(&s->sdom);
	spares_free(&s->srule);
	spares_free(&s->slsn);
	spares_free(&s->scount);
	free(s);
}

/* ---- names and schemas ---- */

int l7_domain_key(const char *name, char key[L7_DOMAIN_MAX])
{
	size_t len = strlen(name), label = 0;
	if (len < 3 || len > L7_DOMAIN_MAX - 1)
		return -1;
	for (size_t i = 0; i <= len; i++) {
		if (i == len || name[i] == '.') {
			if (label == 0 || name[i - 1] == '-' || name[i - label] == '-')
				return -1;
			label = 0;
		} else if (isalnum((unsigned char)name[i]) || name[i] == '-') {
			label++;
		} else {
			return -1;
		}
	}
	for (size_t i = 0; i <= len; i++)
		key[i] = (char)tolower((unsigned char)name[i]);
	return 0;
}

static int str_or_null(json_t *o, const char *member)
{
	json_t *v = json_object_get(o, member);
	return v == NULL || json_is_string(v) || json_is_null(v);
}

static int strings(json_t *a)
{
	size_t i;
	json_t *v;
	if (!json_is_array(a))
		return 0;
	json_array_foreach(a, i, v)
		if (!json_is_string(v))
			return 0;
	return 1;
}

/* Required: ListenerId, Domain, IsDefaultServer, CreateTime. The certificate members are
 * optional (absent = the listener's), typed when present. */
int l7_domain_check(const char *id, json_t *fields, char *err, size_t errlen)
{
	const char *listener, *name;
	int deflt;
	json_int_t ctime;
	json_t *poly = json_object_get(fields, "PolyClientCertificateIds");
	char key[L7_DOMAIN_MAX];
	if (strncmp(id, "dom-", 4) == 0 && strlen(id) < ST_ID_MAX &&
	    json_unpack(fields, "{s:s, s:s, s:b, s:I}", "ListenerId", &listener, "Domain", &name,
	    "IsDefaultServer", &deflt, "CreateTime", &ctime) == 0 &&
	    strlen(listener) < ST_ID_MAX && l7_domain_key(name, key) == 0 &&
	    str_or_null(fields, "CertificateId") && str_or_null(fields, "ClientCertificateId") &&
	    (poly == NULL || strings(poly)))
		return 0;
	snprintf(err, errlen, "domain %.80s: fields missing or malformed", id);
	return -1;
}

static int one_of(const char *v, const char *const *set)
{
	for (; *set != NULL; set++)
		if (strcmp(v, *set) == 0)
			return 1;
	return 0;
}

static int bindings_valid(json_t *set)
{
	size_t i;
	json_t *b;
	if (!json_is_array(set))
		return 0;
	json_array_foreach(set, i, b) {
		const char *rs;
		json_int_t port, weight;
		if (json_unpack(b, "{s:s, s:I, s:I}", "RealServerId", &rs, "RealServerPort", &port,
		    "RealServerWeight", &weight) != 0 || strlen(rs) >= ST_ID_MAX || port < 1 ||
		    port > 65535 || weight < 1 || weight > 100)
			return 0;
	}
	return 1;
}

static int headers_valid(json_t *set)
{
	size_t i;
	json_t *h;
	if (!json_is_array(set))
		return 0;
	json_array_foreach(set, i, h)
		if (!json_is_string(json_object_get(h, "HeaderName")) ||
		    !json_is_string(json_object_get(h, "HeaderValue")))
			return 0;
	return 1;
}

int l7_rule_check(const char *id, json_t *fields, char *err, size_t errlen)
{
	static const char *const types[] = { "IP", "DOMAIN", NULL };
	static const char *const scheds[] = { "rr", "wrr", "lc", "lrtt", NULL };
	static const char *const protos[] = { "default", "HTTP", "HTTPS", NULL };
	static const char *const sw[] = { "ON", "OFF", NULL };
	const char *rid, *listener, *dom, *path, *type, *sched, *proto, *host, *sni_sw, *sni;
	json_int_t hc, ctime;
	json_t *params, *set, *headers;
	if (json_unpack(fields, "{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:o, s:s, s:s, s:s, s:s, "
	    "s:o, s:o, s:I}", "RuleId", &rid, "ListenerId", &listener, "DomainId", &dom,
	    "Path", &path, "RealServerType", &type, "Scheduler", &sched, "HealthCheck", &hc,
	    "CheckParams", &params, "ForwardProtocol", &proto, "ForwardHost", &host,
	    "ServerNameIndicationSwitch", &sni_sw, "ServerNameIndication", &sni,
	    "RealServerSet", &set, "Headers", &headers, "CreateTime", &ctime) == 0 &&
	    strcmp(rid, id) == 0 && strlen(id) < ST_ID_MAX && strlen(listener) < ST_ID_MAX &&
	    strlen(dom) < ST_ID_MAX && path[0] == '/' && one_of(type, types) &&
	    one_of(sched, scheds) && (hc == 0 || hc == 1) && json_is_object(params) &&
	    one_of(proto, protos) && one_of(sni_sw, sw) && str_or_null(fields, "ForcedRedirect") &&
	    json_object_get(fields, "ForcedRedirect") != NULL && bindings_valid(set) &&
	    headers_valid(headers))
		return 0;
	(void)host;
	(void)sni;
	snprintf(err, errlen, "rule %.80s: fields missing or malformed", id);
	return -1;
}
