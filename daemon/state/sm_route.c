/* daemon/state/sm_route.c - a listener's routing (px_l7, proxy/px.h) built from the layer-7 set
 *   as it will be once a change's store ops are applied: the domains in creation order with the
 *   default flag, each rule with its path, scheduler, ForwardHost, ForcedRedirect, custom headers
 *   and bindings resolved to their real servers' addresses, and the active health check of each
 *   rule with HealthCheck 1 (sm_int.h); what control reads of those checks (sm.h).
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

static const struct st_op *overlay(const struct st_op *ops, size_t n, const char *kind,
	const char *id)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(ops[i].kind, kind) == 0 && strcmp(ops[i].id, id) == 0)
			return &ops[i];
	return NULL;
}

/* An object as the change leaves it: NULL when deleted. */
static json_t *fields_after(const struct st_op *ops, size_t n, const char *kind, const char *id,
	json_t *now)
{
	const struct st_op *o = overlay(ops, n, kind, id);
	return o == NULL ? now : o->type == ST_PUT ? o->fields : NULL;
}

struct objs {
	const char **ids;
	json_t **fields;
	size_t *domain;             /* rules: the index of their domain */
	size_t n;
};

static int objs_alloc(struct objs *o, size_t cap)
{
	o->n = 0;
	o->ids = calloc(cap + 1, sizeof(*o->ids));
	o->fields = calloc(cap + 1, sizeof(*o->fields));
	o->domain = calloc(cap + 1, sizeof(*o->domain));
	return o->ids != NULL && o->fields != NULL && o->domain != NULL ? 0 : -1;
}

static void objs_free(struct objs *o)
{
	free(o->ids);
	free(o->fields);
	free(o->domain);
}

static void objs_add(struct objs *o, const char *id, json_t *fields, size_t domain)
{
	o->ids[o->n] = id;
	o->fields[o->n] = fields;
	o->domain[o->n++] = domain;
}

/* The listener's domains after the change, in creation order (new ones last). */
static int domains_after(const struct sm *s, const char *lsn, const struct st_op *ops,
	size_t n, struct objs *d)
{
	size_t count = l7_domain_count(s->l7, lsn);
	if (objs_alloc(d, count + n) != 0)
		return -1;
	for (size_t i = 0; i < count; i++) {
		const struct l7_domain *x = l7_domain_at(s->l7, lsn, i);
		json_t *f = fields_after(ops, n, L7_DOMAIN_KIND, x->id, x->fields);
		if (f != NULL)
			objs_add(d, x->id, f, 0);
	}
	for (size_t i = 0; i < n; i++)
		if (ops[i].type == ST_PUT && strcmp(ops[i].kind, L7_DOMAIN_KIND) == 0 &&
		    l7_domain_by_id(s->l7, ops[i].id) == NULL)
			objs_add(d, ops[i].id, ops[i].fields, 0);
	return 0;
}

/* Their rules after the change, domain by domain, each in creation order (new ones last). */
static int rules_after(const struct sm *s, const char *lsn, const struct st_op *ops, size_t n,
	const struct objs *d, struct objs *r)
{
	if (objs_alloc(r, l7_listener_rule_count(s->l7, lsn) + n) != 0)
		return -1;
	for (size_t k = 0; k < d->n; k++) {
		size_t count = l7_rule_count(s->l7, d->ids[k]);
		for (size_t i = 0; i < count; i++) {
			const struct l7_rule *x = l7_rule_at(s->l7, d->ids[k], i);
			json_t *f = fields_after(ops, n, L7_RULE_KIND, x->id, x->fields);
			if (f != NULL)
				objs_add(r, x->id, f, k);
		}
		for (size_t i = 0; i < n; i++)
			if (ops[i].type == ST_PUT && strcmp(ops[i].kind, L7_RULE_KIND) == 0 &&
			    l7_rule_find(s->l7, ops[i].id) == NULL && strcmp(d->ids[k],
			    json_string_value(json_object_get(ops[i].fields, "DomainId"))) == 0)
				objs_add(r, ops[i].id, ops[i].fields, k);
	}
	return 0;
}

static enum cfg_sched sched_of(const char *name)
{
	if (name != NULL && strcmp(name, "wrr") == 0)
		return CFG_SCHED_WRR;
	if (name != NULL && (strcmp(name, "lc") == 0 || strcmp(name, "lrtt") == 0))
		return CFG_SCHED_LC;           /* lrtt: least connections stands in (§9) */
	return CFG_SCHED_RR;
}

static unsigned cp_uint(const json_t *cp, const char *name, unsigned def, unsigned min,
	unsigned max)
{
	json_t *v = json_object_get(cp, name);
	json_int_t n = json_is_integer(v) ? json_integer_value(v) : (json_int_t)def;
	return n < (json_int_t)min ? min : n > (json_int_t)max ? max : (unsigned)n;
}

/* A rule's CheckParams (§4.1) as the checker takes them: defaults for what is missing, ranges
 * enforced (the API checked them; a damaged store must not make a probe loop spin), seconds to
 * ms, StatusCode's classes to bits, the Host the rule's domain when Domain is empty (so a
 * ModifyDomain rename, which rebuilds the routing, moves the probes to the new name). */
static void check_params(const json_t *f, const char *domain, struct hc_params *p)
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
	snprintf(p->host, sizeof(p->host), "%s", host != NULL && host[0] != '\0' ? host :
		domain != NULL ? domain : "");
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

/* Rule fields into in; its bindings and headers go to b and h (room for them); check: its
 * check's params when HealthCheck is 1 (NULL otherwise), every binding's. */
static void rule_in(const struct sm *s, const char *id, json_t *f, size_t domain,
	struct px_l7_rule_in *in, struct px_l7_binding_in *b, struct px_l7_header_in *h,
	const struct hc_params *check)
{
	const char *host = json_string_value(json_object_get(f, "ForwardHost"));
	const char *redirect = json_string_value(json_object_get(f, "ForcedRedirect"));
	json_t *set = json_object_get(f, "RealServerSet"), *x;
	size_t i;
	*in = (struct px_l7_rule_in){ .id = id, .domain = domain, .bindings = b, .headers = h,
		.path = json_string_value(json_object_get(f, "Path")),
		.sched = sched_of(json_string_value(json_object_get(f, "Scheduler"))),
		.forward_host = host == NULL || host[0] == '\0' || strcmp(host, "default") == 0 ?
			NULL : host,
		.forced_redirect = redirect == NULL || redirect[0] == '\0' ? NULL : redirect };
	json_array_foreach(set, i, x) {
		const struct rs *r = rs_find(s->rs,
			json_string_value(json_object_get(x, "RealServerId")));
		const char *addr = r != NULL ?
			json_string_value(json_object_get(r->fields, "RealServerIP")) : NULL;
		if (addr == NULL) {     /* RemoveRealServers refuses a bound one: a damaged store */
			LOG_ERR("state", "rule=%s: a binding names no real server; left out", id);
			continue;
		}
		b[in->nbindings++] = (struct px_l7_binding_in){ .host = addr, .is_name = !rs_is_ip(addr),
			.port = (unsigned)json_integer_value(json_object_get(x, "RealServerPort")),
			.weight = (unsigned)json_integer_value(json_object_get(x, "RealServerWeight")),
			.check = check };
	}
	json_array_foreach(json_object_get(f, "Headers"), i, x)
		h[in->nheaders++] = (struct px_l7_header_in){
			.name = json_string_value(json_object_get(x, "HeaderName")),
			.value = json_string_value(json_object_get(x, "HeaderValue")) };
}

/* px_l7_new() over the domains d and rules r. */
static struct px_l7 *build_in(struct sm *s, const struct objs *d, const struct objs *r,
	char *err, size_t errlen)
{
	struct px_l7_domain_in *dom = calloc(d->n + 1, sizeof(*dom));
	struct px_l7_rule_in *rin = calloc(r->n + 1, sizeof(*rin));
	struct px_l7_binding_in *b = NULL;
	struct px_l7_header_in *h = NULL;
	struct hc_params *cp = calloc(r->n + 1, sizeof(*cp));
	struct px_l7 *l7 = NULL;
	size_t nb = 0, nh = 0;
	for (size_t i = 0; i < r->n; i++) {
		nb += json_array_size(json_object_get(r->fields[i], "RealServerSet"));
		nh += json_array_size(json_object_get(r->fields[i], "Headers"));
	}
	if (dom == NULL || rin == NULL || cp == NULL || (b = calloc(nb + 1, sizeof(*b))) == NULL ||
	    (h = calloc(nh + 1, sizeof(*h))) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < d->n; i++)
		dom[i] = (struct px_l7_domain_in){
			.name = json_string_value(json_object_get(d->fields[i], "Domain")),
			.is_default = json_is_true(json_object_get(d->fields[i], "IsDefaultServer")) };
	nb = nh = 0;
	for (size_t i = 0; i < r->n; i++) {
		int on = json_integer_value(json_object_get(r->fields[i], "HealthCheck")) == 1;
		if (on)
			check_params(r->fields[i], dom[r->domain[i]].name, &cp[i]);
		rule_in(s, r->ids[i], r->fields[i], r->domain[i], &rin[i], b + nb, h + nh,
			on ? &cp[i] : NULL);
		nb += rin[i].nbindings;
		nh += rin[i].nheaders;
	}
	l7 = px_l7_new(&(struct px_l7_in){ dom, d->n, rin, r->n }, lsn_table_servers(s->t),
		s->checks, err, errlen);
out:
	free(cp);
	free(dom);
	free(rin);
	free(b);
	free(h);
	return l7;
}

int sm_build_routing(struct sm *s, const char *lsn, const struct st_op *ops, size_t n,
	struct px_l7 **l7, char *err, size_t errlen)
{
	struct objs d = { 0 }, r = { 0 };
	int rc = -1;
	*l7 = NULL;
	err[0] = '\0';
	if (domains_after(s, lsn, ops, n, &d) != 0 || rules_after(s, lsn, ops, n, &d, &r) != 0)
		snprintf(err, errlen, "out of memory");
	else if ((*l7 = build_in(s, &d, &r, err, errlen)) != NULL || err[0] == '\0')
		rc = 0;
	objs_free(&d);
	objs_free(&r);
	return rc;
}


/* ---- what control reads of the checks ---- */

void sm_set_checker(struct sm *s, struct hc_checker *c)
{
	s->checks = c;
}

/* The index a stored binding has in the routing: bindings naming no real server were left out
 * (rule_in()). -1 when it is one of those, or there is no such binding. */
static long routing_index(const struct sm *s, const json_t *set, size_t binding)
{
	long k = 0;
	for (size_t i = 0; i <= binding && i < json_array_size(set); i++) {
		const struct rs *r = rs_find(s->rs, json_string_value(json_object_get(
			json_array_get(set, i), "RealServerId")));
		if (r == NULL || json_string_value(json_object_get(r->fields, "RealServerIP")) == NULL)
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
	const struct hc_target *t;
	struct px_l7 *px;
	long k;
	if (r == NULL || json_integer_value(json_object_get(r->fields, "HealthCheck")) != 1 ||
	    (k = routing_index(s, json_object_get(r->fields, "RealServerSet"), binding)) < 0 ||
	    (px = routing_of(s, r->listener)) == NULL)
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
