/* daemon/proxy/l7.c - layer-7 routing (l7-and-https.md 9.2-9.4): a listener's domains and rules
 *   built into a route table (rtable.h) whose targets are rules with their server groups, the
 *   cell each listener's routes share, and the lookups the request path makes. */
#include "l7.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "uri.h"

#define L7_HEADER_NAME_MAX 100
#define L7_HEADER_VALUE_MAX 1024
#define L7_REMOTE_ADDR "$remote_addr"
#define L7_FORWARD_HOST_MAX 65535  /* far above any head limit; keeps the length in 32 bits */

/* One rule per cache line (l7.h): what a routed request reads first is one miss, not two. */
_Static_assert(sizeof(struct px_l7_rule) == 64, "struct px_l7_rule is one cache line");

/* Interning server groups during one build: rules with equal bindings get one group (l7.h).
 * The key is the bytes that make two groups behave alike: the scheduler, then per binding its
 * address text, address length (0: a DNS name), weight and check target (a pointer: equal
 * params on the same server are one target, hc.h). An open-addressing table of indexes into
 * the px_l7's groups, at most half full; it lives as long as the build. */
struct l7_groups {
	struct px_l7 *l;
	struct ups_reg *reg;
	uint32_t *slots;            /* group index + 1; 0 = empty */
	size_t mask;
	char **keys;                /* per group: its key, length first */
	unsigned char *buf;         /* the key being made */
	size_t cap;
};

static struct px_l7 *fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	if (errlen != 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return NULL;
}

/* RFC 9110 token characters: what a header name may hold. */
static int tchar(unsigned char ch)
{
	return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		(ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

static int header_ok(const struct px_l7_header_in *h)
{
	size_t n = h->name != NULL ? strlen(h->name) : 0;
	if (n == 0 || n > L7_HEADER_NAME_MAX || h->value == NULL ||
	    strlen(h->value) > L7_HEADER_VALUE_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!tchar((unsigned char)h->name[i]))
			return 0;
	for (const char *v = h->value; *v != '\0'; v++)
		if (!(*v == '\t' || (*v >= ' ' && *v <= '~')))
			return 0;
	return 1;
}

/* A DNS name as a binding may hold one: letters, digits, '-', '.', '_'; 1..253 bytes. */
static int name_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 253)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= 'A' && s[i] <= 'Z') || s[i] == '-' || s[i] == '.' || s[i] == '_'))
			return 0;
	return 1;
}

/* A binding as a server address. An IP literal gets its family and sockaddr; a DNS name none:
 * the registry tells such servers apart by their text, "name:port", which the resolver reads
 * (upstream/dns.h); until it has resolved the name, a connect to it fails at once. */
static int binding_addr(const struct px_l7_binding_in *b, struct cfg_addr *a)
{
	char host[64];
	memset(a, 0, sizeof *a);
	if (b->host == NULL || b->port == 0 || b->port > 65535 || b->weight == 0 ||
	    b->weight > CFG_WEIGHT_MAX)
		return -1;
	a->weight = b->weight;
	if (b->is_name) {
		if (!name_ok(b->host))
			return -1;
		/* the resolver reads the name back from the text (upstream/dns.h) */
		snprintf(a->text, sizeof a->text, "%s:%u", b->host, b->port);
		return 0;
	}
	size_t n = strlen(b->host);
	if (n >= 2 && b->host[0] == '[' && b->host[n - 1] == ']' && n - 2 < sizeof host) {
		memcpy(host, b->host + 1, n - 2);
		host[n - 2] = '\0';
	} else if (n < sizeof host) {
		memcpy(host, b->host, n + 1);
	} else {
		return -1;
	}
	struct sockaddr_in *v4 = (struct sockaddr_in *)&a->sa;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&a->sa;
	if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons((uint16_t)b->port);
		a->len = sizeof *v4;
		snprintf(a->text, sizeof a->text, "%s:%u", host, b->port);
	} else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons((uint16_t)b->port);
		a->len = sizeof *v6;
		snprintf(a->text, sizeof a->text, "[%s]:%u", host, b->port);
	} else {
		return -1;
	}
	return 0;
}

/* ForcedRedirect (9.3.4): "https:" (the request's Host) or an https:// URL (its host[:port]). */
static int redirect_parse(const char *v, struct px_l7_rule *r)
{
	struct px_target t;
	size_t n = strlen(v);
	r->redirect = 1;
	if (strcasecmp(v, "https:") == 0 || strcasecmp(v, "https://") == 0)
		return 0;
	if (n < 8 || strncasecmp(v, "https://", 8) != 0 || px_target_parse(v, n, &t) != 1)
		return -1;
	if ((r->redirect_host = strndup(t.authority, t.authority_len)) == NULL)
		return -2;
	return 0;
}

static void rule_free(struct px_l7_rule *r)
{
	for (size_t i = 0; i < r->nheaders; i++) {
		free(r->headers[i].name);
		free(r->headers[i].value);
	}
	free(r->headers);
	free(r->redirect_host);
	free(r->forward_host);
	free(r->domain);
	free(r->id);
}

/* A group of the px_l7's and the check references it holds (group.h: its builder's). */
static void group_free(struct ups_group *g)
{
	for (size_t i = 0; g != NULL && i < g->n; i++)
		hc_target_put(g->m[i].check);
	ups_group_destroy(g);
}

/* FNV-1a over the key. */
static uint32_t key_hash(const unsigned char *k, size_t n)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < n; i++)
		h = (h ^ k[i]) * 16777619u;
	return h;
}

static int key_put(struct l7_groups *b, size_t *len, const void *p, size_t n)
{
	if (*len + n > b->cap) {
		size_t cap = (*len + n) * 2;
		unsigned char *x = realloc(b->buf, cap);
		if (x == NULL)
			return -1;
		b->buf = x;
		b->cap = cap;
	}
	memcpy(b->buf + *len, p, n);
	*len += n;
	return 0;
}

/* The group key of sched over addrs and their checks into b->buf; its length, 0 on ENOMEM. */
static size_t key_make(struct l7_groups *b, enum cfg_sched sched, const struct cfg_addr *addrs,
	struct hc_target *const *checks, size_t n)
{
	size_t len = 0;
	unsigned s = (unsigned)sched;
	if (key_put(b, &len, &len, sizeof len) != 0 || key_put(b, &len, &s, sizeof s) != 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		uint32_t x[2] = { (uint32_t)addrs[i].len, addrs[i].weight };
		if (key_put(b, &len, addrs[i].text, strlen(addrs[i].text) + 1) != 0 ||
		    key_put(b, &len, x, sizeof x) != 0 ||
		    key_put(b, &len, &checks[i], sizeof checks[i]) != 0)
			return 0;
	}
	memcpy(b->buf, &len, sizeof len);
	return len;
}

/* The build's group with this key, else a new one over addrs with checks (*made: their
 * references passed to it), else NULL on ENOMEM. */
static struct ups_group *group_intern(struct l7_groups *b, size_t len, enum cfg_sched sched,
	const struct cfg_addr *addrs, struct hc_target **checks, size_t n, int *made)
{
	struct px_l7 *l = b->l;
	size_t i = key_hash(b->buf, len) & b->mask;
	struct ups_group *g;
	for (; b->slots[i] != 0; i = (i + 1) & b->mask) {
		const char *k = b->keys[b->slots[i] - 1];
		size_t klen;
		memcpy(&klen, k, sizeof klen);
		if (klen == len && memcmp(k, b->buf, len) == 0)
			return l->groups[b->slots[i] - 1];
	}
	if ((b->keys[l->ngroups] = malloc(len)) == NULL)
		return NULL;
	memcpy(b->keys[l->ngroups], b->buf, len);
	if ((g = ups_group_new(b->reg, sched, addrs, n)) == NULL)
		return NULL;            /* its key is freed with the others */
	for (size_t k = 0; k < n; k++)
		g->m[k].check = checks[k];
	*made = 1;
	l->groups[l->ngroups++] = g;
	b->slots[i] = (uint32_t)l->ngroups;
	return g;
}

/* The rule's group over its bindings (addrs): each binding's check target found, then the
 * build's group with equal bindings, or a new one. 0 or -2. */
static int group_build(struct l7_groups *b, struct px_l7_rule *r, const struct px_l7_rule_in *in,
	const struct cfg_addr *addrs, struct hc_checker *hc)
{
	struct hc_target **checks = NULL;
	size_t n = in->nbindings, len;
	int made = 0, ok = 1;
	if (n != 0 && (checks = calloc(n, sizeof *checks)) == NULL)
		return -2;
	for (size_t i = 0; ok && i < n; i++)
		if (hc != NULL && in->bindings[i].check != NULL &&
		    (checks[i] = hc_target_get(hc, &addrs[i], in->bindings[i].check)) == NULL)
			ok = 0;
	if (ok && (len = key_make(b, in->sched, addrs, checks, n)) != 0)
		r->group = group_intern(b, len, in->sched, addrs, checks, n, &made);
	for (size_t i = 0; !made && i < n; i++)
		hc_target_put(checks[i]);   /* a group found holds references of its own */
	free(checks);
	return r->group != NULL ? 0 : -2;
}

static int headers_build(struct px_l7_rule *r, const struct px_l7_rule_in *in)
{
	if (in->nheaders != 0 && (r->headers = calloc(in->nheaders, sizeof *r->headers)) == NULL)
		return -2;
	for (; r->nheaders < in->nheaders; r->nheaders++) {
		const struct px_l7_header_in *h = &in->headers[r->nheaders];
		struct px_l7_header *x = &r->headers[r->nheaders];
		if (!header_ok(h))
			return -1;
		for (size_t k = 0; k < r->nheaders; k++)
			if (strcasecmp(r->headers[k].name, h->name) == 0)
				return -1;
		if ((x->name = strdup(h->name)) == NULL || (x->value = strdup(h->value)) == NULL)
			return -2;
		x->nlen = strlen(x->name);
		x->vlen = strlen(x->value);
		x->remote_addr = strcmp(x->value, L7_REMOTE_ADDR) == 0;
	}
	return 0;
}

/* One rule; -1 invalid (what in err), -2 out of memory. */
static int rule_build(struct px_l7_rule *r, const struct px_l7_rule_in *in, const char *domain,
	struct l7_groups *groups, struct hc_checker *checks, char *err, size_t errlen)
{
	struct cfg_addr *addrs = NULL;
	int rc = -2;
	if ((r->id = strdup(in->id != NULL ? in->id : "")) == NULL ||
	    (r->domain = strdup(domain != NULL ? domain : "")) == NULL)
		return -2;
	if ((unsigned)in->sched > CFG_SCHED_LC || (unsigned)in->forward_protocol > PX_FWD_HTTPS) {
		fail(err, errlen, "rule %s: bad scheduler or forward protocol", r->id);
		return -1;
	}
	r->forward = (uint16_t)in->forward_protocol;
	if (in->forward_host != NULL) {
		size_t n = strlen(in->forward_host);
		if (n == 0 || n > L7_FORWARD_HOST_MAX || !px_host_valid(in->forward_host, n)) {
			fail(err, errlen, "rule %s: bad forward host", r->id);
			return -1;
		}
		if ((r->forward_host = strdup(in->forward_host)) == NULL)
			return -2;
		r->forward_host_len = (uint32_t)n;
	}
	if (in->forced_redirect != NULL && (rc = redirect_parse(in->forced_redirect, r)) != 0) {
		if (rc == -1)
			fail(err, errlen, "rule %s: bad forced redirect", r->id);
		return rc;
	}
	if ((rc = headers_build(r, in)) != 0) {
		if (rc == -1)
			fail(err, errlen, "rule %s: bad or duplicate custom header", r->id);
		return rc;
	}
	if (in->nbindings != 0 && (addrs = calloc(in->nbindings, sizeof *addrs)) == NULL)
		return -2;
	rc = 0;
	for (size_t i = 0; i < in->nbindings && rc == 0; i++)
		if (binding_addr(&in->bindings[i], &addrs[i]) != 0) {
			fail(err, errlen, "rule %s: bad binding %s:%u", r->id,
				in->bindings[i].host != NULL ? in->bindings[i].host : "",
				in->bindings[i].port);
			rc = -1;
		}
	if (rc == 0)
		rc = group_build(groups, r, in, addrs, checks);
	free(addrs);
	return rc;
}

/* The interning table for up to n groups, and room in l for n rules and n groups. -1 on ENOMEM
 * (what was made is freed by groups_done() and px_l7_unref()). */
static int groups_init(struct l7_groups *b, struct px_l7 *l, struct ups_reg *reg, size_t n)
{
	size_t size = 2;
	while (size < 2 * n)
		size *= 2;
	b->l = l;
	b->reg = reg;
	b->mask = size - 1;
	if ((b->slots = calloc(size, sizeof *b->slots)) == NULL || n == 0)
		return b->slots != NULL ? 0 : -1;
	if ((b->keys = calloc(n, sizeof *b->keys)) == NULL ||
	    (l->groups = calloc(n, sizeof *l->groups)) == NULL ||
	    (l->rules_mem = calloc(n + 1, sizeof *l->rules)) == NULL)
		return -1;
	/* aligned by hand: glibc's aligned_alloc() left the heap fragmented over rebuilds */
	uintptr_t a = _Alignof(struct px_l7_rule);
	l->rules = (struct px_l7_rule *)(((uintptr_t)l->rules_mem + a - 1) & ~(a - 1));
	return 0;
}

static void groups_done(struct l7_groups *b, size_t n)
{
	for (size_t i = 0; b->keys != NULL && i < n; i++)
		free(b->keys[i]);
	free(b->keys);
	free(b->slots);
	free(b->buf);
}

static struct px_l7 *l7_build(const struct px_l7_in *in, struct ups_reg *reg,
	struct hc_checker *checks, char *err, size_t errlen)
{
	struct px_l7 *l = calloc(1, sizeof *l);
	struct px_rt_domain_in *d = calloc(in->ndomains, sizeof *d);
	struct px_rt_rule_in *r = in->nrules != 0 ? calloc(in->nrules, sizeof *r) : NULL;
	struct l7_groups groups = { 0 };
	int rc = 0;
	if (l == NULL || d == NULL || (in->nrules != 0 && r == NULL) ||
	    groups_init(&groups, l, reg, in->nrules) != 0)
		rc = -2;
	if (l != NULL)
		atomic_init(&l->refs, 1);
	for (size_t i = 0; rc == 0 && i < in->ndomains; i++) {
		d[i].name = in->domains[i].name;
		d[i].is_default = in->domains[i].is_default;
	}
	while (rc == 0 && l->nrules < in->nrules) {
		const struct px_l7_rule_in *x = &in->rules[l->nrules];
		if (x->domain >= in->ndomains) {
			fail(err, errlen, "rule %s: no such domain", x->id != NULL ? x->id : "");
			rc = -1;
			break;
		}
		r[l->nrules] = (struct px_rt_rule_in){ .id = x->id, .domain = x->domain,
			.path = x->path, .target = &l->rules[l->nrules] };
		/* counted before it is built: one built in part is freed with the others */
		rc = rule_build(&l->rules[l->nrules++], x, in->domains[x->domain].name, &groups,
			checks, err, errlen);
	}
	groups_done(&groups, in->nrules);
	if (rc == 0 && (l->rt = px_rt_create(d, in->ndomains, r, in->nrules, err, errlen)) == NULL)
		rc = -1;                /* px_rt_create said why */
	free(d);
	free(r);
	if (rc == 0)
		return l;
	if (rc == -2)
		fail(err, errlen, "out of memory");
	px_l7_unref(l);
	return NULL;
}

struct px_l7 *px_l7_new(const struct px_l7_in *in, struct ups_reg *servers,
	struct hc_checker *checks, char *err, size_t errlen)
{
	if (errlen != 0)
		err[0] = '\0';
	if (in->ndomains == 0)
		return in->nrules == 0 ? NULL : fail(err, errlen, "rules without domains");
	if (servers == NULL)
		return fail(err, errlen, "no server registry");
	return l7_build(in, servers, checks, err, errlen);
}

const struct hc_target *px_l7_binding_check(const struct px_l7 *l, const char *rule_id,
	size_t binding)
{
	for (size_t i = 0; l != NULL && i < l->nrules; i++)
		if (strcmp(l->rules[i].id, rule_id) == 0)
			return binding < l->rules[i].group->n ? l->rules[i].group->m[binding].check :
				NULL;
	return NULL;
}

struct px_l7 *px_l7_ref(struct px_l7 *l)
{
	atomic_fetch_add_explicit(&l->refs, 1, memory_order_relaxed);
	return l;
}

void px_l7_unref(struct px_l7 *l)
{
	/* acq_rel: the last owner must see every other owner's reads finished before freeing */
	if (l == NULL || atomic_fetch_sub_explicit(&l->refs, 1, memory_order_acq_rel) != 1)
		return;
	px_rt_destroy(l->rt);
	for (size_t i = 0; i < l->nrules; i++)
		rule_free(&l->rules[i]);
	for (size_t i = 0; i < l->ngroups; i++)
		group_free(l->groups[i]);   /* after the rules that borrowed them */
	free(l->groups);
	free(l->rules_mem);
	free(l);
}

struct px_l7_cell *px_l7_cell_new(void)
{
	struct px_l7_cell *c = calloc(1, sizeof *c);
	if (c == NULL)
		return NULL;
	atomic_init(&c->refs, 1);
	atomic_flag_clear(&c->lock);
	return c;
}

struct px_l7_cell *px_l7_cell_ref(struct px_l7_cell *c)
{
	atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
	return c;
}

void px_l7_cell_unref(struct px_l7_cell *c)
{
	if (c == NULL || atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) != 1)
		return;
	px_l7_unref(c->l7);
	free(c);
}

static void cell_lock(struct px_l7_cell *c)
{
	while (atomic_flag_test_and_set_explicit(&c->lock, memory_order_acquire))
		;
}

static void cell_unlock(struct px_l7_cell *c)
{
	atomic_flag_clear_explicit(&c->lock, memory_order_release);
}

void px_l7_cell_set(struct px_l7_cell *c, struct px_l7 *l7)
{
	struct px_l7 *old;
	cell_lock(c);
	old = c->l7;
	c->l7 = l7;
	cell_unlock(c);
	px_l7_unref(old);           /* outside the lock: it may free a whole table */
}

struct px_l7 *px_l7_cell_get(struct px_l7_cell *c)
{
	struct px_l7 *l;
	cell_lock(c);
	l = c->l7 != NULL ? px_l7_ref(c->l7) : NULL;
	cell_unlock(c);
	return l;
}

enum px_rt_result px_l7_route(const struct px_l7 *l, const char *host, size_t host_len,
	const char *path, size_t path_len, const struct px_l7_rule **rule)
{
	char buf[PX_RT_PATH_MAX];
	struct px_rt_match m;
	enum px_rt_result res;
	if (path_len == 1 && path[0] == '*')
		path = "/";             /* OPTIONS *: the domain's "/" rule (README) */
	res = px_rt_lookup(l->rt, host, host_len, path, path_len, buf, sizeof buf, &m);
	*rule = res == PX_RT_FOUND ? m.target : NULL;
	return res;
}

/* The Host without its port: "a.example:8080" -> "a.example", "[::1]:80" -> "[::1]". */
static size_t host_only(const char *h, size_t len)
{
	size_t i = len;
	if (len != 0 && h[0] == '[') {
		const char *e = memchr(h, ']', len);
		return e != NULL ? (size_t)(e - h) + 1 : len;
	}
	while (i > 0 && h[i - 1] >= '0' && h[i - 1] <= '9')
		i--;
	return i > 0 && h[i - 1] == ':' ? i - 1 : len;
}

int px_l7_location(const struct px_l7_rule *r, const char *host, size_t host_len,
	const char *target, size_t target_len, char *out, size_t size, size_t *len)
{
	const char *h = r->redirect_host != NULL ? r->redirect_host : host;
	size_t hlen = r->redirect_host != NULL ? strlen(r->redirect_host)
		: host != NULL ? host_only(host, host_len) : strlen(r->domain);
	if (r->redirect_host == NULL && host == NULL)
		h = r->domain;          /* no Host (HTTP/1.0): the domain it reached */
	/* absolute-form without a path ("http://a", "http://a?q") or "*": the path is "/" */
	size_t slash = target_len == 0 || target[0] != '/' ? 1 : 0;
	if (target_len != 0 && target[0] != '/' && target[0] != '?')
		target_len = 0;
	if (8 + hlen + slash + target_len > size)
		return -1;
	memcpy(out, "https://", 8);
	memcpy(out + 8, h, hlen);
	memcpy(out + 8 + hlen, "/", slash);
	memcpy(out + 8 + hlen + slash, target, target_len);
	*len = 8 + hlen + slash + target_len;
	return 0;
}
