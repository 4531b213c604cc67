/* daemon/state/sm_route.c - a listener's routing (px_l7, proxy/px.h) built from the layer-7 set
 *   as it will be once a change's store ops are applied: the domains in creation order with the
 *   default flag, each rule with its path, scheduler, ForwardHost, ForcedRedirect, custom headers
 *   and bindings resolved to their real servers' addresses, and the active health check of each
 *   rule with HealthCheck 1 (sm_int.h); what control reads of those checks (sm.h).
 * Cost: a build walks every domain and rule of the listener, so it reads no JSON but the
 *   change's own ops': each rule's fields were parsed once when it entered the set (l7.h's
 *   l7_route), each domain's name and default flag likewise, each real server's address (rs.h).
 */
#include "sm_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cfg.h"
#include "health/hc.h"
#include "l7.h"
#include "listener.h"
#include "log.h"
#include "proxy/px.h"
#include "rs.h"

/* The op of the change on the set's entry e (op_entry[i]: the entry ops[i] names, NULL: a new
 * object): its index, or -1. Pointers, not ids: the build asks this of every rule. */
static long overlay(const void *const *op_entry, size_t n, const void *e)
{
	for (size_t i = 0; i < n; i++)
		if (op_entry[i] == e)
			return (long)i;
	return -1;
}

/* What the build reads: no JSON but the change's own ops' (parsed once here). */
struct build {
	const struct st_op *ops;
	size_t n;
	const void **op_entry;              /* [n]: the set's entry ops[i] names (NULL: new) */
	const char **op_dom;                /* [n]: a new rule's DomainId (else NULL) */
	struct l7_route **op_route;         /* [n]: a rule put's route (else NULL) */
	struct l7_route **own;              /* routes parsed for this build, freed after it */
	size_t nown;
	const char **dom_ids;               /* [ndom] */
	struct px_l7_domain_in *dom;
	size_t ndom;
	const char **rule_ids;              /* [nrule] */
	const struct l7_route **routes;
	size_t *rule_dom;
	size_t nrule;
};

static void build_free(struct build *b)
{
	for (size_t i = 0; i < b->nown; i++)
		l7_route_free(b->own[i]);
	free(b->op_entry);
	free(b->op_dom);
	free(b->op_route);
	free(b->own);
	free(b->dom_ids);
	free(b->dom);
	free(b->rule_ids);
	free(b->routes);
	free(b->rule_dom);
}

/* A route parsed for this build only (b->own has room for every rule): NULL on ENOMEM. */
static const struct l7_route *parse(struct build *b, const json_t *fields)
{
	struct l7_route *r = l7_route_new(fields);
	if (r != NULL)
		b->own[b->nown++] = r;
	return r;
}

static int build_alloc(struct build *b, const struct sm *s, const char *lsn,
	const struct st_op *ops, size_t n)
{
	size_t nd = l7_domain_count(s->l7, lsn) + n + 1;
	size_t nr = l7_listener_rule_count(s->l7, lsn) + n + 1;
	*b = (struct build){ .ops = ops, .n = n };
	b->op_entry = calloc(n + 1, sizeof(*b->op_entry));
	b->op_dom = calloc(n + 1, sizeof(*b->op_dom));
	b->op_route = calloc(n + 1, sizeof(*b->op_route));
	b->own = calloc(nr, sizeof(*b->own));
	b->dom_ids = calloc(nd, sizeof(*b->dom_ids));
	b->dom = calloc(nd, sizeof(*b->dom));
	b->rule_ids = calloc(nr, sizeof(*b->rule_ids));
	b->routes = calloc(nr, sizeof(*b->routes));
	b->rule_dom = calloc(nr, sizeof(*b->rule_dom));
	if (b->op_entry == NULL || b->op_dom == NULL || b->op_route == NULL || b->own == NULL || b->dom_ids == NULL ||
	    b->dom == NULL || b->rule_ids == NULL || b->routes == NULL || b->rule_dom == NULL)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(ops[i].kind, L7_RULE_KIND) != 0) {
			b->op_entry[i] = l7_domain_by_id(s->l7, ops[i].id);
			continue;
		}
		b->op_entry[i] = l7_rule_find(s->l7, ops[i].id);
		if (ops[i].type != ST_PUT)
			continue;
		if ((b->op_route[i] = (struct l7_route *)parse(b, ops[i].fields)) == NULL)
			return -1;
		if (b->op_entry[i] == NULL)
			b->op_dom[i] = json_string_value(json_object_get(ops[i].fields, "DomainId"));
	}
	return 0;
}

static void dom_add(struct build *b, const char *id, const char *name, int is_default)
{
	b->dom_ids[b->ndom] = id;
	b->dom[b->ndom++] = (struct px_l7_domain_in){ .name = name, .is_default = is_default };
}

/* The listener's domains after the change, in creation order (new ones last). */
static void domains_after(const struct sm *s, const char *lsn, struct build *b)
{
	size_t count = l7_domain_count(s->l7, lsn);
	for (size_t i = 0; i < count; i++) {
		const struct l7_domain *x = l7_domain_at(s->l7, lsn, i);
		long k = overlay(b->op_entry, b->n, x);
		if (k < 0)
			dom_add(b, x->id, x->name, x->is_default);
		else if (b->ops[k].type == ST_PUT)
			dom_add(b, x->id, json_string_value(json_object_get(b->ops[k].fields,
				"Domain")), json_is_true(json_object_get(b->ops[k].fields,
				"IsDefaultServer")));
	}
	for (size_t i = 0; i < b->n; i++)
		if (b->ops[i].type == ST_PUT && strcmp(b->ops[i].kind, L7_DOMAIN_KIND) == 0 &&
		    l7_domain_by_id(s->l7, b->ops[i].id) == NULL)
			dom_add(b, b->ops[i].id, json_string_value(json_object_get(b->ops[i].fields,
				"Domain")), json_is_true(json_object_get(b->ops[i].fields,
				"IsDefaultServer")));
}

static void rule_add(struct build *b, const char *id, const struct l7_route *r, size_t dom)
{
	b->rule_ids[b->nrule] = id;
	b->routes[b->nrule] = r;
	b->rule_dom[b->nrule++] = dom;
}

/* Their rules after the change, domain by domain, each in creation order (new ones last). */
static int rules_after(const struct sm *s, struct build *b)
{
	for (size_t k = 0; k < b->ndom; k++) {
		const struct l7_rule *x = l7_rule_first(s->l7, b->dom_ids[k]);
		for (; x != NULL; x = l7_rule_next(x)) {
			long o = overlay(b->op_entry, b->n, x);
			const struct l7_route *r = o >= 0 ? b->op_route[o] : x->route != NULL ?
				x->route : parse(b, x->fields);
			if (o >= 0 && b->ops[o].type != ST_PUT)
				continue;               /* deleted */
			if (r == NULL)
				return -1;
			rule_add(b, x->id, r, k);
		}
		for (size_t i = 0; i < b->n; i++)
			if (b->op_dom[i] != NULL && strcmp(b->op_dom[i], b->dom_ids[k]) == 0)
				rule_add(b, b->ops[i].id, b->op_route[i], k);
	}
	return 0;
}

/* A rule's route into in; its bindings resolved to their real servers' addresses into bs, its
 * headers into hs (room for them); each binding with check (NULL: none). */
static void rule_in(const struct sm *s, const char *id, const struct l7_route *r, size_t domain,
	struct px_l7_rule_in *in, struct px_l7_binding_in *bs, struct px_l7_header_in *hs,
	const struct hc_params *check)
{
	*in = (struct px_l7_rule_in){ .id = id, .domain = domain, .path = r->path,
		.sched = r->sched, .forward_host = r->forward_host,
		.forward_protocol = r->forward == L7_FWD_HTTPS ? PX_FWD_HTTPS :
			r->forward == L7_FWD_HTTP ? PX_FWD_HTTP : PX_FWD_LISTENER,
		.forced_redirect = r->forced_redirect, .bindings = bs, .headers = hs,
		.nheaders = r->nheaders };
	for (size_t i = 0; i < r->nheaders; i++)
		hs[i] = (struct px_l7_header_in){ r->headers[i].name, r->headers[i].value };
	for (size_t i = 0; i < r->nbindings; i++) {
		const struct rs *x = r->bindings[i].rs != NULL ? rs_find(s->rs, r->bindings[i].rs) :
			NULL;
		if (x == NULL || x->addr == NULL) {     /* RemoveRealServers refuses a bound one */
			LOG_ERR("state", "rule=%s: a binding names no real server; left out", id);
			continue;
		}
		bs[in->nbindings++] = (struct px_l7_binding_in){ .host = x->addr,
			.is_name = !x->is_ip, .port = r->bindings[i].port,
			.weight = r->bindings[i].weight, .check = check };
	}
}

/* px_l7_new() over b's domains and rules. */
static struct px_l7 *build_in(struct sm *s, struct build *b, char *err, size_t errlen)
{
	struct px_l7_rule_in *rin = calloc(b->nrule + 1, sizeof(*rin));
	struct px_l7_binding_in *bs = NULL;
	struct px_l7_header_in *hs = NULL;
	struct hc_params *cp = NULL;
	struct px_l7 *l7 = NULL;
	size_t nb = 0, nh = 0, nc = 0;
	for (size_t i = 0; i < b->nrule; i++) {
		nb += b->routes[i]->nbindings;
		nh += b->routes[i]->nheaders;
		nc += b->routes[i]->check != NULL;
	}
	if (rin == NULL || (bs = calloc(nb + 1, sizeof(*bs))) == NULL ||
	    (hs = calloc(nh + 1, sizeof(*hs))) == NULL ||
	    (cp = calloc(nc + 1, sizeof(*cp))) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	nb = nh = nc = 0;
	for (size_t i = 0; i < b->nrule; i++) {
		const struct l7_route *r = b->routes[i];
		const struct hc_params *check = NULL;
		if (r->check != NULL) {     /* the host, when CheckParams has none: the domain's */
			const char *name = b->dom[b->rule_dom[i]].name;
			cp[nc] = *r->check;
			if (cp[nc].host[0] == '\0')
				snprintf(cp[nc].host, sizeof(cp[nc].host), "%s", name != NULL ? name : "");
			check = &cp[nc++];
		}
		rule_in(s, b->rule_ids[i], r, b->rule_dom[i], &rin[i], bs + nb, hs + nh, check);
		nb += rin[i].nbindings;
		nh += rin[i].nheaders;
	}
	l7 = px_l7_new(&(struct px_l7_in){ b->dom, b->ndom, rin, b->nrule },
		lsn_table_servers(s->t), s->checks, err, errlen);
out:
	free(cp);
	free(rin);
	free(bs);
	free(hs);
	return l7;
}

int sm_build_routing(struct sm *s, const char *lsn, const struct st_op *ops, size_t n,
	struct px_l7 **l7, char *err, size_t errlen)
{
	struct build b;
	int rc = -1;
	*l7 = NULL;
	err[0] = '\0';
	if (build_alloc(&b, s, lsn, ops, n) != 0) {
		snprintf(err, errlen, "out of memory");
	} else {
		domains_after(s, lsn, &b);
		if (rules_after(s, &b) != 0)
			snprintf(err, errlen, "out of memory");
		else if ((*l7 = build_in(s, &b, err, errlen)) != NULL || err[0] == '\0')
			rc = 0;
	}
	build_free(&b);
	return rc;
}


/* ---- what control reads of the checks ---- */

void sm_set_checker(struct sm *s, struct hc_checker *c)
{
	s->checks = c;
}

/* The index a stored binding has in the routing: bindings naming no real server were left out
 * (rule_in()). -1 when it is one of those, or there is no such binding. */
static long routing_index(const struct sm *s, const struct l7_route *r, size_t binding)
{
	long k = 0;
	for (size_t i = 0; i <= binding && i < r->nbindings; i++) {
		const struct rs *x = r->bindings[i].rs != NULL ? rs_find(s->rs, r->bindings[i].rs) :
			NULL;
		if (x == NULL || x->addr == NULL)
			continue;
		if (i == binding)
			return k;
		k++;
	}
	return -1;
}

/* The listener's routing now, with a reference (NULL: none). */
static struct px_l7 *routing_of(struct sm *s, const char *lsn)
{
	const struct lsn *l;
	struct px_l7 *px = NULL;
	lsn_table_lock(s->t);
	if ((l = lsn_table_find(s->t, lsn)) != NULL && l->l7 != NULL)
		px = px_l7_cell_get(l->l7);
	lsn_table_unlock(s->t);
	return px;
}

int sm_binding_health(struct sm *s, const char *rule_id, size_t binding, struct hc_snap *out)
{
	const struct l7_rule *r = l7_rule_find(s->l7, rule_id);
	struct l7_route *own = r != NULL && r->route == NULL ? l7_route_new(r->fields) : NULL;
	const struct l7_route *route = own != NULL ? own : r != NULL ? r->route : NULL;
	const struct hc_target *t;
	struct px_l7 *px;
	long k = route != NULL && route->check != NULL ? routing_index(s, route, binding) : -1;
	l7_route_free(own);
	if (k < 0 || (px = routing_of(s, r->listener)) == NULL)
		return -1;
	/* px holds a reference to its targets: t stays valid until the unref */
	if ((t = px_l7_binding_check(px, rule_id, (size_t)k)) != NULL)
		hc_target_read(t, out);
	px_l7_unref(px);
	return t != NULL ? 0 : -1;
}

struct health_each {
	void (*fn)(const struct hc_snap *snap, const char *check, void *arg);
	void *arg;
};

static void health_one(const struct hc_target *t, void *arg)
{
	struct health_each *e = arg;
	struct hc_snap snap;
	char check[16 + HC_PATH_MAX + HC_HOST_MAX];
	hc_target_read(t, &snap);
	snprintf(check, sizeof(check), "%s %s %s", snap.params.method, snap.params.path,
		snap.params.host);
	e->fn(&snap, check, e->arg);
}

void sm_health_each(struct sm *s, void (*fn)(const struct hc_snap *snap, const char *check,
	void *arg), void *arg)
{
	struct health_each e = { fn, arg };
	hc_each(s->checks, health_one, &e);
}
