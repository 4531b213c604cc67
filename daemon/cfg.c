/* daemon/cfg.c - see cfg.h.
 * The file is composed into a libyaml document first, then walked with {key, parse, offset, min,
 * max} tables. A table's keys are applied in table order, not file order, so a key may depend on
 * one listed before it (control.auth reads control.listen, groups read proxies) whatever order the
 * operator wrote them in. The first error stops the load.
 */
#include "cfg.h"
#include "log.h"
#include "tls/tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <yaml.h>

#define CFG_WORKERS_MAX 256
#define CFG_ID_SUFFIX_MAX 32     /* link-/lg- followed by 1..32 of [0-9a-z] */

/* One walk over one document; `path` is the dotted key of the node being read, for messages. */
struct ctx {
	yaml_document_t *doc;
	struct cfg *c;
	const char *file;
	const char *dir;
	char *err;
	size_t errlen;
	char path[256];
	size_t plen;
};

/* One key of a mapping: where its value goes (base + off) and the bounds it must respect. */
struct field {
	const char *key;
	int (*parse)(struct ctx *x, yaml_node_t *n, void *base, const struct field *f);
	size_t off;
	unsigned long long min, max;
	const void *aux;            /* a sub-table, a list of allowed words or an id prefix */
	int required;
};

static const char *const proxy_states[] = {
	"RUNNING", "CREATING", "DESTROYING", "OPENING", "CLOSING", "CLOSED", "ADJUSTING",
	"ISOLATING", "ISOLATED", "CLONING", "RECOVERING", "MOVING", NULL,
};
static const char *const group_states[] = {
	"RUNNING", "CREATING", "DESTROYING", "MOVING", "CLOSED", "CHANGING", NULL,
};

/* ---- messages and key paths ---- */

__attribute__((format(printf, 3, 4)))
static int fail(struct ctx *x, const yaml_node_t *n, const char *fmt, ...)
{
	size_t line = n != NULL ? n->start_mark.line + 1 : 1;
	size_t col = n != NULL ? n->start_mark.column + 1 : 1;
	int len = snprintf(x->err, x->errlen, "%s:%zu:%zu: %s: ", x->file, line, col,
		x->plen > 0 ? x->path : "(root)");
	if (len >= 0 && (size_t)len < x->errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(x->err + len, x->errlen - (size_t)len, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* Descend into key `key` (or list index `key == NULL, i`); returns what path_pop() restores. */
static size_t path_push(struct ctx *x, const char *key, size_t i)
{
	size_t old = x->plen;
	size_t room = sizeof(x->path) - old;
	int n = key == NULL ? snprintf(x->path + old, room, "[%zu]", i)
		: snprintf(x->path + old, room, "%s%s", old > 0 ? "." : "", key);
	if (n > 0)
		x->plen = (size_t)n < room ? old + (size_t)n : sizeof(x->path) - 1;
	return old;
}

static void path_pop(struct ctx *x, size_t old)
{
	x->plen = old;
	x->path[old] = '\0';
}

/* ---- node helpers ---- */

static yaml_node_t *node_at(struct ctx *x, int i)
{
	return yaml_document_get_node(x->doc, i);
}

/* An empty value ("key:" with nothing after it) or an explicit null. */
static int is_null(const yaml_node_t *n)
{
	if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return 0;
	const char *s = (const char *)n->data.scalar.value;
	return s[0] == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0
		|| strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0;
}

static const char *kind(const yaml_node_t *n)
{
	return n->type == YAML_MAPPING_NODE ? "a mapping"
		: n->type == YAML_SEQUENCE_NODE ? "a list" : "a scalar";
}

/* The text of a scalar; refuses mappings, lists and embedded NULs. */
/* *out is set on every path: fail() returns -1, but out of line, so an optimising build cannot
 * see that callers never read *out after it. */
static int scalar(struct ctx *x, yaml_node_t *n, const char **out)
{
	*out = "";
	if (n->type != YAML_SCALAR_NODE)
		return fail(x, n, "expected a single value, found %s", kind(n));
	if (strlen((const char *)n->data.scalar.value) != n->data.scalar.length)
		return fail(x, n, "contains a NUL byte");
	*out = (const char *)n->data.scalar.value;
	return 0;
}

/* The value of `key` in mapping `map`, or NULL (absent, or map is null). */
static yaml_node_t *lookup(struct ctx *x, yaml_node_t *map, const char *key)
{
	if (map->type != YAML_MAPPING_NODE)
		return NULL;
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *k = node_at(x, p->key);
		if (k->type == YAML_SCALAR_NODE && strcmp((const char *)k->data.scalar.value, key) == 0)
			return node_at(x, p->value);
	}
	return NULL;
}

/* Items of a list; a null value is an empty list. */
static int items(struct ctx *x, yaml_node_t *n, yaml_node_item_t **first, size_t *count)
{
	*first = NULL;
	*count = 0;
	if (is_null(n))
		return 0;
	if (n->type != YAML_SEQUENCE_NODE)
		return fail(x, n, "expected a list, found %s", kind(n));
	*first = n->data.sequence.items.start;
	*count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
	return 0;
}

/* ---- tables ---- */

static const struct field *field_find(const struct field *tab, const char *key)
{
	for (; tab->key != NULL; tab++)
		if (strcmp(tab->key, key) == 0)
			return tab;
	return NULL;
}

/* Every key of the mapping is a known one, and appears once. */
static int check_keys(struct ctx *x, yaml_node_t *map, const struct field *tab)
{
	yaml_node_pair_t *first = map->data.mapping.pairs.start;
	for (yaml_node_pair_t *p = first; p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *k = node_at(x, p->key);
		if (k->type != YAML_SCALAR_NODE)
			return fail(x, k, "a key must be a single word, found %s", kind(k));
		const char *name = (const char *)k->data.scalar.value;
		size_t old = path_push(x, name, 0);
		if (field_find(tab, name) == NULL)
			return fail(x, k, "unknown key");
		for (yaml_node_pair_t *q = first; q < p; q++) {
			yaml_node_t *prev = node_at(x, q->key);
			if (prev->type == YAML_SCALAR_NODE
			    && strcmp((const char *)prev->data.scalar.value, name) == 0)
				return fail(x, k, "duplicate key (first at line %zu)",
					prev->start_mark.line + 1);
		}
		path_pop(x, old);
	}
	return 0;
}

/* Apply table `tab` to mapping `map` (null = empty), writing into `base`. */
static int apply(struct ctx *x, yaml_node_t *map, const struct field *tab, void *base)
{
	if (!is_null(map) && map->type != YAML_MAPPING_NODE)
		return fail(x, map, "expected a mapping, found %s", kind(map));
	if (map->type == YAML_MAPPING_NODE && check_keys(x, map, tab) != 0)
		return -1;
	for (const struct field *f = tab; f->key != NULL; f++) {
		yaml_node_t *v = lookup(x, map, f->key);
		size_t old = path_push(x, f->key, 0);
		int rc = 0;
		if (v != NULL)
			rc = f->parse(x, v, base, f);
		else if (f->required)
			rc = fail(x, map, "required key is missing");
		if (rc != 0)
			return -1;
		path_pop(x, old);
	}
	return 0;
}

static int p_section(struct ctx *x, yaml_node_t *n, void *base, const struct field *f)
{
	return apply(x, n, f->aux, base);
}

/* ---- numbers, words, paths ---- */

static int to_uint(struct ctx *x, yaml_node_t *n, const struct field *f, unsigned long long *out)
{
	const char *s;
	*out = 0;   /* as scalar()'s */
	if (scalar(x, n, &s) != 0)
		return -1;
	if (s[0] == '-')
		return fail(x, n, "must not be negative");
	if (s[0] == '\0' || strspn(s, "0123456789") != strlen(s))
		return fail(x, n, "expected a whole number, found \"%s\"", s);
	errno = 0;
	unsigned long long v = strtoull(s, NULL, 10);
	if (errno == ERANGE || v < f->min || v > f->max)
		return fail(x, n, "must be between %llu and %llu", f->min, f->max);
	*out = v;
	return 0;
}

static int p_uint(struct ctx *x, yaml_node_t *n, void *base, const struct field *f)
{
	unsigned long long v;
	if (to_uint(x, n, f, &v) != 0)
		return -1;
	*(unsigned *)((char *)base + f->off) = (unsigned)v;
	return 0;
}

static int p_size(struct ctx *x, yaml_node_t *n, void *base, const struct field *f)
{
	unsigned long long v;
	if (to_uint(x, n, f, &v) != 0)
		return -1;
	*(size_t *)((char *)base + f->off) = (size_t)v;
	return 0;
}

/* One of the NULL-terminated words in f->aux, copied into a char[24]. */
static int p_word(struct ctx *x, yaml_node_t *n, void *base, const struct field *f)
{
	const char *const *w = f->aux;
	const char *s;
	if (scalar(x, n, &s) != 0)
		return -1;
	char allowed[256] = "";
	size_t len = 0;
	for (; *w != NULL; w++) {
		if (strcmp(*w, s) == 0) {
			snprintf((char *)base + f->off, 24, "%s", s);
			return 0;
		}
		if (len < sizeof(allowed))
			len += (size_t)snprintf(allowed + len, sizeof(allowed) - len, "%s%s",
				len > 0 ? " " : "", *w);
	}
	return fail(x, n, "unknown value \"%s\" (allowed: %s)", s, allowed);
}

static int p_level(struct ctx *x, yaml_node_t *n, void *base, const struct field *f)
{
	const char *s;
	if (scalar(x, n, &s) != 0)
		return -1;
	int level = log_level_parse(s);
	if (level < 0)
		return fail(x, n, "unknown level \"%s\" (allowed: error, warn, info, debug)", s);
	*(int *)((char *)base + f->off) = level;
	return 0;
}

/* dir/rel, or rel when absolute. Returns NULL when out of memory. */
static char *path_join(const char *dir, const char *rel)
{
	if (rel[0] == '/')
		return strdup(rel);
	size_t dl = strlen(dir);
	const char *sep = dl > 0 && dir[dl - 1] == '/' ? "" : "/";
	size_t len = dl + strlen(sep) + strlen(rel) + 1;
	char *p = malloc(len);
	if (p != NULL)
		snprintf(p, len, "%s%s%s", dir, sep, rel);
	return p;
}

static int p_path(struct ctx *x, yaml_node_t *n, void *base, const struct field *f)
{
	char **dst = (char **)((char *)base + f->off);
	const char *s;
	if (scalar(x, n, &s) != 0)
		return -1;
	if (s[0] == '\0')
		return fail(x, n, "must not be empty");
	free(*dst);
	if ((*dst = path_join(x->dir, s)) == NULL)
		return fail(x, n, "out of memory");
	return 0;
}

/* f->aux is the prefix; what follows it is 1..32 of [0-9a-z] (the API's id shape). */
static int check_id(struct ctx *x, yaml_node_t *n, const char *s, const char *prefix)
{
	size_t pl = strlen(prefix);
	const char *rest = s + pl;
	size_t rl = strlen(s) >= pl ? strlen(rest) : 0;
	if (strncmp(s, prefix, pl) != 0 || rl == 0 || rl > CFG_ID_SUFFIX_MAX
	    || strspn(rest, "0123456789abcdefghijklmnopqrstuvwxyz") != rl)
		return fail(x, n, "\"%s\" is not an id of the form %sxxxxxxxx ([0-9a-z], 1 to %d)",
			s, prefix, CFG_ID_SUFFIX_MAX);
	return 0;
}

static int p_id(struct ctx *x, yaml_node_t *n, void *base, const struct field *f)
{
	const char *s;
	if (scalar(x, n, &s) != 0 || check_id(x, n, s, f->aux) != 0)
		return -1;
	snprintf((char *)base + f->off, CFG_ID_MAX, "%s", s);
	return 0;
}

/* ---- addresses ---- */

static void addr_format(struct cfg_addr *a, int with_port)
{
	char ip[INET6_ADDRSTRLEN];
	const struct sockaddr_in *v4 = (const struct sockaddr_in *)&a->sa;
	const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)&a->sa;
	if (a->sa.ss_family == AF_INET) {
		inet_ntop(AF_INET, &v4->sin_addr, ip, sizeof(ip));
		if (with_port)
			snprintf(a->text, sizeof(a->text), "%s:%u", ip, ntohs(v4->sin_port));
		else
			snprintf(a->text, sizeof(a->text), "%s", ip);
		return;
	}
	inet_ntop(AF_INET6, &v6->sin6_addr, ip, sizeof(ip));
	if (with_port)
		snprintf(a->text, sizeof(a->text), "[%s]:%u", ip, ntohs(v6->sin6_port));
	else
		snprintf(a->text, sizeof(a->text), "%s", ip);
}

/* An IP literal of the given family (AF_UNSPEC: either) -> a; 0 or -1. */
static int addr_ip(const char *host, int family, unsigned port, struct cfg_addr *a)
{
	struct sockaddr_in *v4 = (struct sockaddr_in *)&a->sa;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&a->sa;
	memset(a, 0, sizeof(*a));
	if (family != AF_INET6 && inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons((uint16_t)port);
		a->len = sizeof(*v4);
		return 0;
	}
	if (family != AF_INET && inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons((uint16_t)port);
		a->len = sizeof(*v6);
		return 0;
	}
	return -1;
}

/* A host name, resolved once now; the first address wins. */
static int addr_resolve(const char *host, const char *port, struct cfg_addr *a,
	char *why, size_t whylen)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
		.ai_flags = AI_NUMERICSERV };
	struct addrinfo *res = NULL;
	int rc = getaddrinfo(host, port, &hints, &res);
	if (rc != 0) {
		snprintf(why, whylen, "cannot resolve \"%s\": %s", host, gai_strerror(rc));
		return -1;
	}
	memset(a, 0, sizeof(*a));
	memcpy(&a->sa, res->ai_addr, res->ai_addrlen);
	a->len = (socklen_t)res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

/* "HOST:PORT" or "[V6]:PORT" -> host (in buf) and port text; *v6 = bracketed. */
static int split_hostport(const char *s, char *host, size_t hostlen, const char **port, int *v6,
	char *why, size_t whylen)
{
	const char *end = s, *colon;
	*v6 = s[0] == '[';
	if (*v6) {
		s++;
		end = strchr(s, ']');
		colon = end != NULL && end[1] == ':' ? end + 1 : NULL;
	} else {
		colon = strrchr(s, ':');
		end = colon;
		if (colon != NULL && memchr(s, ':', (size_t)(colon - s)) != NULL) {
			snprintf(why, whylen, "an IPv6 address needs brackets: [ADDRESS]:PORT");
			return -1;
		}
	}
	if (colon == NULL || end == s || (size_t)(end - s) >= hostlen) {
		snprintf(why, whylen, "expected ADDRESS:PORT or [IPv6]:PORT");
		return -1;
	}
	memcpy(host, s, (size_t)(end - s));
	host[end - s] = '\0';
	*port = colon + 1;
	return 0;
}

static int parse_port(const char *s, unsigned minport, unsigned *port, char *why, size_t whylen)
{
	size_t len = strlen(s);
	unsigned long v = len > 0 && len <= 5 && strspn(s, "0123456789") == len
		? strtoul(s, NULL, 10) : 70000;
	if (v < minport || v > 65535) {
		snprintf(why, whylen, "port must be a number from %u to 65535", minport);
		return -1;
	}
	*port = (unsigned)v;
	return 0;
}

/* "IP:PORT", "[IPv6]:PORT" or, with `names`, "HOSTNAME:PORT"; why says what is wrong. */
static int addr_parse(const char *s, int names, unsigned minport, struct cfg_addr *a,
	char *why, size_t whylen)
{
	char host[256];
	const char *port;
	unsigned pn;
	int v6;
	if (split_hostport(s, host, sizeof(host), &port, &v6, why, whylen) != 0
	    || parse_port(port, minport, &pn, why, whylen) != 0)
		return -1;
	if (addr_ip(host, v6 ? AF_INET6 : AF_UNSPEC, pn, a) == 0) {
		addr_format(a, 1);
		return 0;
	}
	if (v6 || !names) {
		snprintf(why, whylen, "\"%s\" is not an IP%s address", host, v6 ? "v6" : "");
		return -1;
	}
	if (addr_resolve(host, port, a, why, whylen) != 0)
		return -1;
	addr_format(a, 1);
	return 0;
}

static int addr_node(struct ctx *x, yaml_node_t *n, int names, unsigned minport,
	struct cfg_addr *a)
{
	char why[300];
	const char *s;
	if (scalar(x, n, &s) != 0)
		return -1;
	if (addr_parse(s, names, minport, a, why, sizeof(why)) != 0)
		return fail(x, n, "%s", why);
	return 0;
}

/* The control address: IP literal, port 0 (any free port) allowed. */
static int p_listen(struct ctx *x, yaml_node_t *n, void *base, const struct field *f)
{
	return addr_node(x, n, 0, 0, (struct cfg_addr *)((char *)base + f->off));
}

/* An IP without a port: the listeners bring their own. */
static int p_bind(struct ctx *x, yaml_node_t *n, void *base, const struct field *f)
{
	struct cfg_addr *a = (struct cfg_addr *)((char *)base + f->off);
	const char *s;
	if (scalar(x, n, &s) != 0)
		return -1;
	if (addr_ip(s, AF_UNSPEC, 0, a) != 0)
		return fail(x, n, "\"%s\" is not an IP address (no port here)", s);
	addr_format(a, 0);
	return 0;
}

static int is_loopback(const struct cfg_addr *a)
{
	const struct sockaddr_in *v4 = (const struct sockaddr_in *)&a->sa;
	const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)&a->sa;
	if (a->sa.ss_family == AF_INET)
		return (ntohl(v4->sin_addr.s_addr) >> 24) == 127;
	return a->sa.ss_family == AF_INET6 && (IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr)
		|| (IN6_IS_ADDR_V4MAPPED(&v6->sin6_addr) && v6->sin6_addr.s6_addr[12] == 127));
}

/* "none" hands the API to whoever can connect, so only local processes may. */
static int p_auth(struct ctx *x, yaml_node_t *n, void *base, const struct field *f)
{
	enum cfg_auth *dst = (enum cfg_auth *)((char *)base + f->off);
	const char *s;
	if (scalar(x, n, &s) != 0)
		return -1;
	if (strcmp(s, "signature") == 0) {
		*dst = CFG_AUTH_SIGNATURE;
		return 0;
	}
	if (strcmp(s, "none") != 0)
		return fail(x, n, "unknown value \"%s\" (allowed: signature, none)", s);
	if (!is_loopback(&x->c->control_listen))
		return fail(x, n, "\"none\" is allowed only when control.listen is a loopback "
			"address (127.0.0.0/8, ::1), not %s", x->c->control_listen.text);
	*dst = CFG_AUTH_NONE;
	return 0;
}

/* ---- lists ---- */

static int p_ports(struct ctx *x, yaml_node_t *n, void *base, const struct field *f)
{
	struct cfg *c = base;
	yaml_node_item_t *it;
	size_t count;
	if (items(x, n, &it, &count) != 0)
		return -1;
	if (count > 0 && (c->reserved_ports = calloc(count, sizeof(*c->reserved_ports))) == NULL)
		return fail(x, n, "out of memory");
	for (size_t i = 0; i < count; i++) {
		unsigned long long v;
		size_t old = path_push(x, NULL, i);
		if (to_uint(x, node_at(x, it[i]), f, &v) != 0)
			return -1;
		path_pop(x, old);
		c->reserved_ports[c->nreserved_ports++] = (uint16_t)v;
	}
	return 0;
}

/* control.rate_limits: a mapping of action name to requests/second. */
static int p_rates(struct ctx *x, yaml_node_t *n, void *base, const struct field *f)
{
	struct cfg *c = base;
	if (is_null(n))
		return 0;
	if (n->type != YAML_MAPPING_NODE)
		return fail(x, n, "expected a mapping of action: requests per second, found %s", kind(n));
	size_t count = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
	if (count > 0 && (c->rate_limits = calloc(count, sizeof(*c->rate_limits))) == NULL)
		return fail(x, n, "out of memory");
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
		yaml_node_t *k = node_at(x, p->key);
		struct cfg_rate *r = &c->rate_limits[c->nrate_limits];
		unsigned long long v;
		const char *name;
		if (scalar(x, k, &name) != 0)
			return -1;
		size_t old = path_push(x, name, 0);
		if (name[0] < 'A' || name[0] > 'Z' || strlen(name) >= sizeof(r->action) ||
		    strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789") != strlen(name))
			return fail(x, k, "not an action name");
		for (size_t i = 0; i < c->nrate_limits; i++)
			if (strcmp(c->rate_limits[i].action, name) == 0)
				return fail(x, k, "duplicate action");
		if (to_uint(x, node_at(x, p->value), f, &v) != 0)
			return -1;
		path_pop(x, old);
		snprintf(r->action, sizeof(r->action), "%s", name);
		r->rate = (unsigned)v;
		c->nrate_limits++;
	}
	return 0;
}

/* "weight=N" after an origin's address; the only option so far. */
static int origin_option(struct ctx *x, yaml_node_t *n, const char *opt, struct cfg_addr *a)
{
	const char *v = strncmp(opt, "weight=", 7) == 0 ? opt + 7 : NULL;
	size_t len = v != NULL ? strlen(v) : 0;
	unsigned long w = len > 0 && len <= 3 && strspn(v, "0123456789") == len
		? strtoul(v, NULL, 10) : 0;
	if (v == NULL)
		return fail(x, n, "unknown origin option \"%s\" (allowed: weight=N)", opt);
	if (w < 1 || w > CFG_WEIGHT_MAX)
		return fail(x, n, "weight must be a number from 1 to %d", CFG_WEIGHT_MAX);
	a->weight = (unsigned)w;
	return 0;
}

/* "ADDRESS:PORT" optionally followed by blanks and "weight=N". */
static int origin_node(struct ctx *x, yaml_node_t *n, struct cfg_addr *a)
{
	char addr[300], why[300];
	const char *s, *opt;
	size_t alen;
	if (scalar(x, n, &s) != 0)
		return -1;
	alen = strcspn(s, " \t");
	opt = s + alen + strspn(s + alen, " \t");
	if (alen >= sizeof(addr))
		return fail(x, n, "origin address too long");
	memcpy(addr, s, alen);
	addr[alen] = '\0';
	if (addr_parse(addr, 1, 1, a, why, sizeof(why)) != 0)
		return fail(x, n, "%s", why);
	a->weight = 1;
	return opt[0] != '\0' ? origin_option(x, n, opt, a) : 0;
}

static int p_origins(struct ctx *x, yaml_node_t *n, void *base, const struct field *f)
{
	struct cfg_proxy *p = base;
	yaml_node_item_t *it;
	size_t count;
	(void)f;
	if (items(x, n, &it, &count) != 0)
		return -1;
	if (count == 0)
		return fail(x, n, "must list at least one origin");
	if (count > CFG_ORIGINS_MAX)
		return fail(x, n, "at most %d origins", CFG_ORIGINS_MAX);
	if ((p->origins = calloc(count, sizeof(*p->origins))) == NULL)
		return fail(x, n, "out of memory");
	for (size_t i = 0; i < count; i++) {
		size_t old = path_push(x, NULL, i);
		if (origin_node(x, node_at(x, it[i]), &p->origins[i]) != 0)
			return -1;
		path_pop(x, old);
		p->norigins++;
	}
	return 0;
}

static int p_sched(struct ctx *x, yaml_node_t *n, void *base, const struct field *f)
{
	static const char *const names[] = { [CFG_SCHED_RR] = "rr", [CFG_SCHED_WRR] = "wrr",
		[CFG_SCHED_LC] = "lc" };
	const char *s;
	if (scalar(x, n, &s) != 0)
		return -1;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(s, names[i]) == 0) {
			*(enum cfg_sched *)((char *)base + f->off) = (enum cfg_sched)i;
			return 0;
		}
	return fail(x, n, "unknown value \"%s\" (allowed: rr, wrr, lc)", s);
}

/* node.log_file: "stderr" (kept as NULL) or a file, relative to the config file's directory. */
static int p_log_file(struct ctx *x, yaml_node_t *n, void *base, const struct field *f)
{
	char **dst = (char **)((char *)base + f->off);
	const char *s;
	if (scalar(x, n, &s) != 0)
		return -1;
	free(*dst);
	*dst = NULL;
	if (s[0] == '\0')
		return fail(x, n, "must not be empty (stderr or a file)");
	if (strcmp(s, "stderr") == 0)
		return 0;
	return (*dst = path_join(x->dir, s)) == NULL ? fail(x, n, "out of memory") : 0;
}

/* http.access_log: "off" (NULL), "stderr", or a file, relative to the config file's directory. */
static int p_access_log(struct ctx *x, yaml_node_t *n, void *base, const struct field *f)
{
	char **dst = (char **)((char *)base + f->off);
	const char *s;
	if (scalar(x, n, &s) != 0)
		return -1;
	free(*dst);
	*dst = NULL;
	if (strcmp(s, "off") == 0)
		return 0;
	if (strcmp(s, "stderr") == 0)
		*dst = strdup(s);
	else if (s[0] != '\0')
		*dst = path_join(x->dir, s);
	else
		return fail(x, n, "must not be empty (off, stderr or a file)");
	return *dst == NULL ? fail(x, n, "out of memory") : 0;
}

#define PX_OFF(m) offsetof(struct cfg_proxy, m)
static const struct field proxy_fields[] = {
	/* key             parse      offset                min max     aux           required */
	{ "id",            p_id,      PX_OFF(id),            0, 0,      "link-",      1 },
	{ "status",        p_word,    PX_OFF(status),        0, 0,      proxy_states, 0 },
	{ "bind",          p_bind,    PX_OFF(bind),          0, 0,      NULL,         0 },
	{ "max_listeners", p_uint,    PX_OFF(max_listeners), 1, 100000, NULL,         0 },
	{ "origins",       p_origins, 0,                     0, 0,      NULL,         1 },
	{ "scheduler",     p_sched,   PX_OFF(scheduler),     0, 0,      NULL,         0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 },
};

static void proxy_defaults(struct cfg_proxy *p)
{
	snprintf(p->status, sizeof(p->status), "RUNNING");
	(void)addr_ip("127.0.0.1", AF_INET, 0, &p->bind);
	addr_format(&p->bind, 0);
	p->max_listeners = 50;
}

/* Item i of a list of structs whose id is at ids (one every stride bytes) is read; its id must
 * not repeat an earlier one. kind and list name them in messages ("proxy", "proxies"). */
static int id_unique(struct ctx *x, yaml_node_t *item, const char *kind, const char *list,
	const char *ids, size_t stride, size_t i)
{
	const char *id = ids + i * stride;
	for (size_t j = 0; j < i; j++)
		if (strcmp(ids + j * stride, id) == 0) {
			size_t old = path_push(x, "id", 0);
			(void)fail(x, lookup(x, item, "id"), "duplicate %s id %s (also %s[%zu])",
				kind, id, list, j);
			path_pop(x, old);
			return -1;
		}
	return 0;
}

static int p_proxies(struct ctx *x, yaml_node_t *n, void *base, const struct field *f)
{
	struct cfg *c = base;
	yaml_node_item_t *it;
	size_t count;
	(void)f;
	if (items(x, n, &it, &count) != 0)
		return -1;
	/* Allocated once at full size: groups keep pointers into it. */
	if (count > 0 && (c->proxies = calloc(count, sizeof(*c->proxies))) == NULL)
		return fail(x, n, "out of memory");
	c->nproxies = count;
	for (size_t i = 0; i < count; i++) {
		yaml_node_t *item = node_at(x, it[i]);
		size_t old = path_push(x, NULL, i);
		proxy_defaults(&c->proxies[i]);
		if (apply(x, item, proxy_fields, &c->proxies[i]) != 0 || id_unique(x, item, "proxy", "proxies",
		    c->proxies[0].id, sizeof(*c->proxies), i) != 0)
			return -1;
		path_pop(x, old);
	}
	return 0;
}

static struct cfg_proxy *proxy_by_id(struct cfg *c, const char *id)
{
	for (size_t i = 0; i < c->nproxies; i++)
		if (strcmp(c->proxies[i].id, id) == 0)
			return &c->proxies[i];
	return NULL;
}

/* Proxies of a group: each exists and belongs to no other group. Groups come after proxies. */
static int p_members(struct ctx *x, yaml_node_t *n, void *base, const struct field *f)
{
	struct cfg_group *g = base;
	yaml_node_item_t *it;
	size_t count;
	(void)f;
	if (items(x, n, &it, &count) != 0)
		return -1;
	if (count > 0 && (g->proxies = calloc(count, sizeof(*g->proxies))) == NULL)
		return fail(x, n, "out of memory");
	for (size_t i = 0; i < count; i++) {
		yaml_node_t *m = node_at(x, it[i]);
		size_t old = path_push(x, NULL, i);
		const char *s;
		if (scalar(x, m, &s) != 0 || check_id(x, m, s, "link-") != 0)
			return -1;
		struct cfg_proxy *p = proxy_by_id(x->c, s);
		if (p == NULL)
			return fail(x, m, "no proxy %s in proxies", s);
		if (p->group_id == g->id)
			return fail(x, m, "%s is listed twice", s);
		if (p->group_id != NULL)
			return fail(x, m, "%s is already in group %s", s, p->group_id);
		p->group_id = g->id;
		path_pop(x, old);
		snprintf(g->proxies[g->nproxies++], CFG_ID_MAX, "%s", s);
	}
	return 0;
}

static const struct field group_fields[] = {
	/* key       parse      offset                              min max aux           required */
	{ "id",      p_id,      offsetof(struct cfg_group, id),     0,  0,  "lg-",        1 },
	{ "status",  p_word,    offsetof(struct cfg_group, status), 0,  0,  group_states, 0 },
	{ "proxies", p_members, 0,                                  0,  0,  NULL,         0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 },
};

static int p_groups(struct ctx *x, yaml_node_t *n, void *base, const struct field *f)
{
	struct cfg *c = base;
	yaml_node_item_t *it;
	size_t count;
	(void)f;
	if (items(x, n, &it, &count) != 0)
		return -1;
	/* Allocated once at full size: proxies' group_id points into it. */
	if (count > 0 && (c->groups = calloc(count, sizeof(*c->groups))) == NULL)
		return fail(x, n, "out of memory");
	c->ngroups = count;
	for (size_t i = 0; i < count; i++) {
		yaml_node_t *item = node_at(x, it[i]);
		size_t old = path_push(x, NULL, i);
		snprintf(c->groups[i].status, sizeof(c->groups[i].status), "RUNNING");
		if (apply(x, item, group_fields, &c->groups[i]) != 0 || id_unique(x, item, "group", "groups",
		    c->groups[0].id, sizeof(*c->groups), i) != 0)
			return -1;
		path_pop(x, old);
	}
	return 0;
}

/* ---- node.name and store: (issue 16) ---- */

#define CFG_OFF(m) offsetof(struct cfg, m)

#define CFG_NODE_NAME_MAX 63    /* a DNS label: it becomes part of etcd keys (P/node/<name>) */

static int node_name_ok(const char *s)
{
	size_t len = strlen(s);
	return len >= 1 && len <= CFG_NODE_NAME_MAX && s[0] != '.'
		&& strspn(s, "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ._-") == len;
}

static int p_node_name(struct ctx *x, yaml_node_t *n, void *base, const struct field *f)
{
	char **dst = (char **)((char *)base + f->off);
	const char *s;
	if (scalar(x, n, &s) != 0)
		return -1;
	if (!node_name_ok(s))
		return fail(x, n, "\"%s\" is not a node name (1 to %d of [A-Za-z0-9._-], not "
			"starting with a dot)", s, CFG_NODE_NAME_MAX);
	free(*dst);
	if ((*dst = strdup(s)) == NULL)
		return fail(x, n, "out of memory");
	return 0;
}

static int p_backend(struct ctx *x, yaml_node_t *n, void *base, const struct field *f)
{
	const char *s;
	(void)base;
	(void)f;
	if (scalar(x, n, &s) != 0)
		return -1;
	if (strcmp(s, "file") == 0)
		x->c->store.backend = CFG_STORE_FILE;
	else if (strcmp(s, "etcd") == 0)
		x->c->store.backend = CFG_STORE_ETCD;
	else
		return fail(x, n, "unknown value \"%s\" (allowed: file etcd)", s);
	return 0;
}

/* http://host:port or https://host:port (host an IP literal, [IPv6] or a name), nothing after. */
static int endpoint_check(const char *s, char *why, size_t whylen)
{
	char host[256];
	const char *rest, *port;
	unsigned pn;
	int v6;
	if (strncmp(s, "http://", 7) == 0)
		rest = s + 7;
	else if (strncmp(s, "https://", 8) == 0)
		rest = s + 8;
	else {
		snprintf(why, whylen, "\"%s\" must start with http:// or https://", s);
		return -1;
	}
	if (strchr(rest, '/') != NULL) {
		snprintf(why, whylen, "\"%s\": only scheme, host and port (no path)", s);
		return -1;
	}
	if (split_hostport(rest, host, sizeof(host), &port, &v6, why, whylen) != 0
	    || parse_port(port, 1, &pn, why, whylen) != 0)
		return -1;
	return 0;
}

static int p_endpoints(struct ctx *x, yaml_node_t *n, void *base, const struct field *f)
{
	struct cfg_store *st = &x->c->store;
	yaml_node_item_t *it;
	size_t count;
	char why[300];
	(void)base;
	(void)f;
	if (items(x, n, &it, &count) != 0)
		return -1;
	if (count < 1 || count > CFG_ETCD_ENDPOINTS_MAX)
		return fail(x, n, "must list 1 to %d endpoints", CFG_ETCD_ENDPOINTS_MAX);
	if ((st->etcd_endpoints = calloc(count, sizeof(*st->etcd_endpoints))) == NULL)
		return fail(x, n, "out of memory");
	for (size_t i = 0; i < count; i++) {
		yaml_node_t *e = node_at(x, it[i]);
		size_t old = path_push(x, NULL, i);
		const char *s;
		if (scalar(x, e, &s) != 0)
			return -1;
		if (endpoint_check(s, why, sizeof(why)) != 0)
			return fail(x, e, "%s", why);
		if ((st->etcd_endpoints[i] = strdup(s)) == NULL)
			return fail(x, e, "out of memory");
		st->netcd_endpoints = i + 1;
		path_pop(x, old);
	}
	return 0;
}

/* Starts with /, no trailing /, printable without spaces: every key is prefix + "/...". */
static int p_prefix(struct ctx *x, yaml_node_t *n, void *base, const struct field *f)
{
	char **dst = (char **)((char *)base + f->off);
	const char *s;
	size_t len;
	if (scalar(x, n, &s) != 0)
		return -1;
	len = strlen(s);
	if (len < 2 || s[0] != '/' || s[len - 1] == '/' || len > 128)
		return fail(x, n, "\"%s\" must start with / and not end with / (2 to 128 bytes)", s);
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f)
			return fail(x, n, "\"%s\": printable ASCII without spaces only", s);
	free(*dst);
	if ((*dst = strdup(s)) == NULL)
		return fail(x, n, "out of memory");
	return 0;
}

static const struct field etcd_tls_fields[] = {
	{ "ca",   p_path, CFG_OFF(store.etcd_tls_ca),   0, 0, NULL, 0 },
	{ "cert", p_path, CFG_OFF(store.etcd_tls_cert), 0, 0, NULL, 0 },
	{ "key",  p_path, CFG_OFF(store.etcd_tls_key),  0, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 },
};

static const struct field etcd_fields[] = {
	/* key           parse        offset                             min max    aux  required */
	{ "endpoints",    p_endpoints, 0,                                 0,  0,     NULL, 0 },
	{ "prefix",       p_prefix,    CFG_OFF(store.etcd_prefix),        0,  0,     NULL, 0 },
	{ "dial_timeout", p_uint,      CFG_OFF(store.etcd_dial_timeout_ms), 1, 60000, NULL, 0 },
	{ "tls",          p_section,   0,                                 0,  0, etcd_tls_fields, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 },
};

static const struct field store_fields[] = {
	{ "backend", p_backend, 0, 0, 0, NULL,        0 },
	{ "etcd",    p_section, 0, 0, 0, etcd_fields, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 },
};

/* The etcd client speaks plain HTTP only: TLS settings are kept (the contract has them) but a
 * store that would need them is refused rather than silently sent in clear. */
static int p_store(struct ctx *x, yaml_node_t *n, void *base, const struct field *f)
{
	struct cfg_store *st = &x->c->store;
	if (apply(x, n, store_fields, base) != 0)
		return -1;
	(void)f;
	if (st->backend != CFG_STORE_ETCD)
		return 0;
	if (st->netcd_endpoints == 0)
		return fail(x, n, "store.etcd.endpoints: required with backend etcd");
	int tls = st->etcd_tls_ca != NULL || st->etcd_tls_cert != NULL || st->etcd_tls_key != NULL;
	for (size_t i = 0; i < st->netcd_endpoints; i++)
		tls |= strncmp(st->etcd_endpoints[i], "https://", 8) == 0;
	if (tls)
		return fail(x, n, "store.etcd.tls: not supported yet (use http:// endpoints)");
	return 0;
}

/* ---- the document ---- */

static const struct field node_fields[] = {
	/* key         parse    offset              min max              aux   required */
	{ "name",      p_node_name, CFG_OFF(node_name), 0, 0,            NULL, 0 },
	{ "workers",   p_uint,  CFG_OFF(workers),   0,  CFG_WORKERS_MAX, NULL, 0 },
	{ "state_dir", p_path,  CFG_OFF(state_dir), 0,  0,               NULL, 0 },
	{ "state_compact_bytes", p_size, CFG_OFF(state_compact_bytes), 1024, 1U << 30, NULL, 0 },
	{ "log_level", p_level, CFG_OFF(log_level), 0,  0,               NULL, 0 },
	{ "log_file",  p_log_file, CFG_OFF(log_file), 0, 0,              NULL, 0 },
	{ "log_rate_burst", p_uint, CFG_OFF(log_rate_burst), 0, 1000000, NULL, 0 },
	{ "log_rate_interval", p_uint, CFG_OFF(log_rate_interval_ms), 1, 3600000, NULL, 0 },
	{ "max_real_servers", p_uint, CFG_OFF(max_real_servers), 1, 1000000, NULL, 0 },
	{ "resolver_valid", p_uint, CFG_OFF(resolver_valid_ms), 1000, 86400000, NULL, 0 },
	{ "resolver_timeout", p_uint, CFG_OFF(resolver_timeout_ms), 100, 60000, NULL, 0 },
	{ "max_domains_per_listener", p_uint, CFG_OFF(max_domains_per_listener), 1, 10000, NULL, 0 },
	{ "max_rules_per_listener", p_uint, CFG_OFF(max_rules_per_listener), 1, 100000, NULL, 0 },
	{ "max_bindings_per_rule", p_uint, CFG_OFF(max_bindings_per_rule), 1, 10000, NULL, 0 },
	{ "max_headers_per_rule", p_uint, CFG_OFF(max_headers_per_rule), 1, 1000, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 },
};

#define MS_MAX 86400000U        /* a day */

/* listen precedes auth: auth none depends on it. */
static const struct field control_fields[] = {
	/* key                parse     offset                     min   max        aux   required */
	{ "listen",           p_listen, CFG_OFF(control_listen),   0,    0,         NULL, 0 },
	{ "metrics_listen",   p_listen, CFG_OFF(metrics_listen),   0,    0,         NULL, 0 },
	{ "auth",             p_auth,   CFG_OFF(auth),             0,    0,         NULL, 0 },
	{ "credentials_file", p_path,   CFG_OFF(credentials_file), 0,    0,         NULL, 0 },
	{ "rate_limit",       p_uint,   CFG_OFF(rate_limit),       1,    1000000,   NULL, 0 },
	{ "rate_limits",      p_rates,  0,                         1,    1000000,   NULL, 0 },
	{ "max_request_size", p_size,   CFG_OFF(max_request_size), 1024, 1U << 30,  NULL, 0 },
	{ "reserved_ports",   p_ports,  0,                         1,    65535,     NULL, 0 },
	{ "header_timeout",   p_uint,   CFG_OFF(control_header_timeout_ms), 1, MS_MAX, NULL, 0 },
	{ "body_timeout",     p_uint,   CFG_OFF(control_body_timeout_ms),   1, MS_MAX, NULL, 0 },
	{ "max_connections",  p_uint,   CFG_OFF(control_max_connections),   1, 1000000, NULL, 0 },
	{ "max_buffered_bodies", p_size, CFG_OFF(control_max_buffered_bodies), 1024, 1ULL << 40, NULL, 0 },
	{ "v1_replay_limit",  p_uint,   CFG_OFF(v1_replay_limit),  1,    1U << 20,  NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 },
};

static const struct field http_fields[] = {
	/* key                        parse   offset                                   min   max       aux   required */
	{ "client_header_timeout",    p_uint, CFG_OFF(http.client_header_timeout_ms),    1,    MS_MAX,   NULL, 0 },
	{ "client_keepalive_timeout", p_uint, CFG_OFF(http.client_keepalive_timeout_ms), 1,    MS_MAX,   NULL, 0 },
	{ "origin_connect_timeout",   p_uint, CFG_OFF(http.origin_connect_timeout_ms),   1,    MS_MAX,   NULL, 0 },
	{ "origin_response_timeout",  p_uint, CFG_OFF(http.origin_response_timeout_ms),  1,    MS_MAX,   NULL, 0 },
	{ "max_header_size",          p_uint, CFG_OFF(http.max_header_size),             1024, 1U << 20, NULL, 0 },
	{ "drain_timeout",            p_uint, CFG_OFF(http.drain_timeout_ms),            1,    MS_MAX,   NULL, 0 },
	{ "client_send_timeout",      p_uint, CFG_OFF(http.client_send_timeout_ms),      1,    MS_MAX,   NULL, 0 },
	{ "linger_timeout",           p_uint, CFG_OFF(http.linger_timeout_ms),           0,    MS_MAX,   NULL, 0 },
	{ "tunnel_idle_timeout",      p_uint, CFG_OFF(http.tunnel_idle_timeout_ms),      1,    MS_MAX,   NULL, 0 },
	{ "origin_keepalive",         p_uint, CFG_OFF(http.origin_keepalive),            0,    100000,   NULL, 0 },
	{ "origin_keepalive_timeout", p_uint, CFG_OFF(http.origin_keepalive_timeout_ms), 1,    MS_MAX,   NULL, 0 },
	{ "origin_max_fails",         p_uint, CFG_OFF(http.origin_max_fails),            0,    1000,     NULL, 0 },
	{ "origin_fail_timeout",      p_uint, CFG_OFF(http.origin_fail_timeout_ms),      1,    MS_MAX,   NULL, 0 },
	{ "max_request_line",         p_uint, CFG_OFF(http.max_request_line),            64,   1U << 20, NULL, 0 },
	{ "max_headers",              p_uint, CFG_OFF(http.max_headers),                 1,    10000,    NULL, 0 },
	{ "max_response_header_size", p_uint, CFG_OFF(http.max_response_header_size),    1024, 1U << 24, NULL, 0 },
	{ "max_body_size",            p_size, CFG_OFF(http.max_body_size),               0,    1ULL << 50, NULL, 0 },
	{ "max_connections_per_listener", p_uint, CFG_OFF(http.max_connections_per_listener), 0, 10000000, NULL, 0 },
	{ "max_connections_per_worker",   p_uint, CFG_OFF(http.max_connections_per_worker),   0, 10000000, NULL, 0 },
	{ "access_log",               p_access_log, CFG_OFF(http.access_log),            0,    0,        NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 },
};

/* tls.default_versions: a non-empty list of TLSSupportVersion names (§7.7), duplicates ignored. */
static int p_versions(struct ctx *x, yaml_node_t *n, void *base, const struct field *f)
{
	yaml_node_item_t *it;
	size_t count;
	unsigned v = 0;
	if (items(x, n, &it, &count) != 0)
		return -1;
	if (count == 0)
		return fail(x, n, "must name at least one version");
	for (size_t i = 0; i < count; i++) {
		yaml_node_t *e = node_at(x, it[i]);
		size_t old = path_push(x, NULL, i);
		const char *s;
		unsigned bit;
		if (scalar(x, e, &s) != 0)
			return -1;
		if ((bit = tls_version_bit(s)) == 0)
			return fail(x, e, "unknown version \"%s\" (allowed: TLSv1, TLSv1.1, TLSv1.2, "
				"TLSv1.3)", s);
		v |= bit;
		path_pop(x, old);
	}
	*(unsigned *)((char *)base + f->off) = v;
	return 0;
}

static int p_ciphers(struct ctx *x, yaml_node_t *n, void *base, const struct field *f)
{
	enum tls_ciphers c;
	const char *s;
	if (scalar(x, n, &s) != 0)
		return -1;
	if (tls_ciphers_parse(s, &c) != 0)
		return fail(x, n, "unknown value \"%s\" (allowed: GAAP_TLS_CIPHERS_STRICT, "
			"GAAP_TLS_CIPHERS_GENERAL, GAAP_TLS_CIPHERS_WIDE)", s);
	*(int *)((char *)base + f->off) = (int)c;
	return 0;
}

/* tls.origin_ca: a PEM file with at least one certificate, read now so that a typo is an error
 * at load, not a 502 on the first HTTPS request. */
static int p_ca_file(struct ctx *x, yaml_node_t *n, void *base, const struct field *f)
{
	char **dst = (char **)((char *)base + f->off);
	FILE *fp;
	X509 *crt;
	if (p_path(x, n, base, f) != 0)
		return -1;
	if ((fp = fopen(*dst, "r")) == NULL)
		return fail(x, n, "%s: %s", *dst, strerror(errno));
	crt = PEM_read_X509(fp, NULL, NULL, NULL);
	fclose(fp);
	ERR_clear_error();
	if (crt == NULL)
		return fail(x, n, "%s: no PEM certificate in it", *dst);
	X509_free(crt);
	return 0;
}

static const struct field tls_fields[] = {
	/* key                parse       offset                         min  max     aux   required */
	{ "default_versions", p_versions, CFG_OFF(tls.default_versions), 0,   0,      NULL, 0 },
	{ "default_ciphers",  p_ciphers,  CFG_OFF(tls.default_ciphers),  0,   0,      NULL, 0 },
	{ "handshake_timeout", p_uint,    CFG_OFF(tls.handshake_timeout_ms), 1, MS_MAX, NULL, 0 },
	{ "session_timeout",  p_uint,     CFG_OFF(tls.session_timeout_s), 1,  86400,  NULL, 0 },
	{ "ticket_rotate",    p_uint,     CFG_OFF(tls.ticket_rotate_s),   60, 604800, NULL, 0 },
	{ "origin_ca",        p_ca_file,  CFG_OFF(tls.origin_ca),         0,  0,      NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 },
};

/* proxies precede groups: groups name proxies. */
static const struct field root_fields[] = {
	{ "node",    p_section, 0, 0, 0, node_fields,    0 },
	{ "control", p_section, 0, 0, 0, control_fields, 0 },
	{ "http",    p_section, 0, 0, 0, http_fields,    0 },
	{ "tls",     p_section, 0, 0, 0, tls_fields,     0 },
	{ "proxies", p_proxies, 0, 0, 0, NULL,           0 },
	{ "groups",  p_groups,  0, 0, 0, NULL,           0 },
	{ "store",   p_store,   0, 0, 0, NULL,           0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 },
};

static struct cfg *cfg_new(const char *path)
{
	struct cfg *c = calloc(1, sizeof(*c));
	char why[64];
	if (c == NULL || (c->path = strdup(path)) == NULL) {
		cfg_destroy(c);
		return NULL;
	}
	c->log_level = LOG_LEVEL_INFO;
	c->log_rate_burst = LOG_BURST_DEFAULT;
	c->log_rate_interval_ms = LOG_INTERVAL_DEFAULT;
	c->max_real_servers = 10000;
	c->resolver_valid_ms = 30000;
	c->resolver_timeout_ms = 2000;
	c->max_domains_per_listener = 100;
	c->max_rules_per_listener = 1000;
	c->max_bindings_per_rule = 100;
	c->max_headers_per_rule = 20;
	(void)addr_parse("127.0.0.1:9680", 0, 0, &c->control_listen, why, sizeof(why));
	c->auth = CFG_AUTH_SIGNATURE;
	c->rate_limit = 20;
	c->max_request_size = 1048576;
	c->control_header_timeout_ms = 10000;
	c->control_body_timeout_ms = 30000;
	c->control_max_connections = 256;
	c->control_max_buffered_bodies = 16u << 20;
	c->v1_replay_limit = 16384;
	c->http.client_header_timeout_ms = 60000;
	c->http.client_keepalive_timeout_ms = 75000;
	c->http.origin_connect_timeout_ms = 5000;
	c->http.origin_response_timeout_ms = 60000;
	c->http.max_header_size = 32768;
	c->http.drain_timeout_ms = 30000;
	c->http.client_send_timeout_ms = 60000;
	c->http.linger_timeout_ms = 2000;
	c->http.tunnel_idle_timeout_ms = 60000;
	c->http.origin_keepalive = 32;
	c->http.origin_keepalive_timeout_ms = 4000;
	c->http.origin_max_fails = 1;
	c->http.origin_fail_timeout_ms = 10000;
	c->http.max_request_line = 8192;
	c->http.max_headers = 100;
	c->http.max_response_header_size = 65536;
	c->http.max_connections_per_worker = 100000;
	c->tls.default_versions = TLS_V12 | TLS_V13;
	c->tls.default_ciphers = TLS_CIPHERS_STRICT;
	c->tls.handshake_timeout_ms = 10000;
	c->tls.session_timeout_s = 300;
	c->tls.ticket_rotate_s = 3600;
	c->store.etcd_dial_timeout_ms = 2000;
	if ((c->store.etcd_prefix = strdup("/gaapd")) == NULL) {
		cfg_destroy(c);
		return NULL;
	}
	return c;
}

/* Defaults that depend on other values, and workers = 0 resolved to the CPU count. */
static int finish(struct ctx *x)
{
	struct cfg *c = x->c;
	if (c->state_dir == NULL && (c->state_dir = path_join(x->dir, "../var/lib/gaapd")) == NULL)
		return fail(x, NULL, "out of memory");
	if (c->credentials_file == NULL
	    && (c->credentials_file = path_join(c->state_dir, "credentials")) == NULL)
		return fail(x, NULL, "out of memory");
	if (c->node_name == NULL) {
		char host[256] = "";
		if (gethostname(host, sizeof(host) - 1) != 0 || host[0] == '\0')
			snprintf(host, sizeof(host), "localhost");
		if ((c->node_name = strdup(host)) == NULL)
			return fail(x, NULL, "out of memory");
		if (c->store.backend == CFG_STORE_ETCD && !node_name_ok(host))
			return fail(x, NULL, "node.name: the host name \"%s\" is not a node name; "
				"set node.name", host);
	}
	if (c->workers == 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		c->workers = n < 1 ? 1 : n > CFG_WORKERS_MAX ? CFG_WORKERS_MAX : (unsigned)n;
	}
	return 0;
}

static int syntax_error(const yaml_parser_t *p, const char *file, char *err, size_t errlen)
{
	const char *what = p->problem != NULL ? p->problem
		: p->error == YAML_MEMORY_ERROR ? "out of memory" : "cannot read";
	if (p->error == YAML_READER_ERROR)     /* bad encoding: libyaml knows the byte, not the line */
		snprintf(err, errlen, "%s: yaml: %s at byte %zu", file, what, p->problem_offset);
	else if (p->context != NULL)
		snprintf(err, errlen, "%s:%zu:%zu: yaml: %s (%s at line %zu)", file,
			p->problem_mark.line + 1, p->problem_mark.column + 1, what, p->context,
			p->context_mark.line + 1);
	else
		snprintf(err, errlen, "%s:%zu:%zu: yaml: %s", file,
			p->problem_mark.line + 1, p->problem_mark.column + 1, what);
	return -1;
}

/* One document per file: a second one would be silently ignored otherwise. */
static int single_document(yaml_parser_t *p, struct ctx *x)
{
	yaml_document_t next;
	if (!yaml_parser_load(p, &next))
		return syntax_error(p, x->file, x->err, x->errlen);
	yaml_node_t *root = yaml_document_get_root_node(&next);
	int rc = root == NULL ? 0 : fail(x, root, "a second document; a file holds one");
	yaml_document_delete(&next);
	return rc;
}

/* Parse the whole input of p as the file `file` in `dir`. */
static int load(yaml_parser_t *p, const char *file, const char *dir,
	struct cfg **out, char *err, size_t errlen)
{
	yaml_document_t doc;
	struct ctx x = { .doc = &doc, .file = file, .dir = dir, .err = err, .errlen = errlen };
	int rc = -1;
	if ((x.c = cfg_new(file)) == NULL) {
		snprintf(err, errlen, "%s: out of memory", file);
		return -1;
	}
	if (!yaml_parser_load(p, &doc)) {
		syntax_error(p, file, err, errlen);
		goto out;
	}
	yaml_node_t *root = yaml_document_get_root_node(&doc);
	if (root != NULL && (single_document(p, &x) != 0 || apply(&x, root, root_fields, x.c) != 0))
		goto delete;
	if (finish(&x) != 0)
		goto delete;
	*out = x.c;             /* ownership moves to the caller */
	x.c = NULL;
	rc = 0;
delete:
	yaml_document_delete(&doc);
out:
	cfg_destroy(x.c);
	return rc;
}

/* The directory part of path ("." when none). */
static char *dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	if (slash == NULL)
		return strdup(".");
	return strndup(path, slash == path ? 1 : (size_t)(slash - path));
}

int cfg_load_file(const char *path, struct cfg **out, char *err, size_t errlen)
{
	yaml_parser_t parser;
	char *dir = NULL;
	FILE *fp = NULL;
	int rc = -1;
	if ((fp = fopen(path, "rb")) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if ((dir = dir_of(path)) == NULL || !yaml_parser_initialize(&parser)) {
		snprintf(err, errlen, "%s: out of memory", path);
		goto out;
	}
	yaml_parser_set_input_file(&parser, fp);
	rc = load(&parser, path, dir, out, err, errlen);
	yaml_parser_delete(&parser);
out:
	free(dir);
	fclose(fp);
	return rc;
}

int cfg_load_string(const char *text, const char *name, const char *dir,
	struct cfg **out, char *err, size_t errlen)
{
	yaml_parser_t parser;
	char *path = path_join(dir != NULL ? dir : ".", name);
	int rc = -1;
	if (path == NULL || !yaml_parser_initialize(&parser)) {
		snprintf(err, errlen, "%s: out of memory", name);
		goto out;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, strlen(text));
	rc = load(&parser, path, dir != NULL ? dir : ".", out, err, errlen);
	yaml_parser_delete(&parser);
out:
	free(path);
	return rc;
}

void cfg_destroy(struct cfg *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < c->nproxies; i++)
		free(c->proxies[i].origins);
	for (size_t i = 0; i < c->ngroups; i++)
		free(c->groups[i].proxies);
	free(c->proxies);
	free(c->groups);
	free(c->reserved_ports);
	free(c->rate_limits);
	free(c->http.access_log);
	free(c->tls.origin_ca);
	free(c->log_file);
	free(c->credentials_file);
	free(c->state_dir);
	free(c->node_name);
	for (size_t i = 0; i < c->store.netcd_endpoints; i++)
		free(c->store.etcd_endpoints[i]);
	free(c->store.etcd_endpoints);
	free(c->store.etcd_prefix);
	free(c->store.etcd_tls_ca);
	free(c->store.etcd_tls_cert);
	free(c->store.etcd_tls_key);
	free(c->path);
	free(c);
}

const struct cfg_proxy *cfg_find_proxy(const struct cfg *c, const char *id)
{
	for (size_t i = 0; i < c->nproxies; i++)
		if (strcmp(c->proxies[i].id, id) == 0)
			return &c->proxies[i];
	return NULL;
}

const struct cfg_group *cfg_find_group(const struct cfg *c, const char *id)
{
	for (size_t i = 0; i < c->ngroups; i++)
		if (strcmp(c->groups[i].id, id) == 0)
			return &c->groups[i];
	return NULL;
}

static int str_differs(const char *a, const char *b)
{
	return (a == NULL) != (b == NULL) || (a != NULL && strcmp(a, b) != 0);
}

const char *cfg_store_differs(const struct cfg *a, const struct cfg *b)
{
	const struct cfg_store *x = &a->store, *y = &b->store;
	if (str_differs(a->node_name, b->node_name))
		return "node.name";
	if (x->backend != y->backend)
		return "store.backend";
	if (x->backend != CFG_STORE_ETCD)     /* an etcd section the file store does not read */
		return NULL;
	if (x->netcd_endpoints != y->netcd_endpoints)
		return "store.etcd.endpoints";
	for (size_t i = 0; i < x->netcd_endpoints; i++)
		if (strcmp(x->etcd_endpoints[i], y->etcd_endpoints[i]) != 0)
			return "store.etcd.endpoints";
	if (str_differs(x->etcd_prefix, y->etcd_prefix))
		return "store.etcd.prefix";
	if (x->etcd_dial_timeout_ms != y->etcd_dial_timeout_ms)
		return "store.etcd.dial_timeout";
	if (str_differs(x->etcd_tls_ca, y->etcd_tls_ca)
	    || str_differs(x->etcd_tls_cert, y->etcd_tls_cert) || str_differs(x->etcd_tls_key, y->etcd_tls_key))
		return "store.etcd.tls";
	return NULL;
}

int cfg_port_reserved(const struct cfg *c, unsigned port)
{
	const struct sockaddr_in *v4 = (const struct sockaddr_in *)&c->control_listen.sa;
	const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)&c->control_listen.sa;
	unsigned ctl = ntohs(c->control_listen.sa.ss_family == AF_INET6 ? v6->sin6_port : v4->sin_port);
	if (ctl != 0 && port == ctl)
		return 1;
	for (size_t i = 0; i < c->nreserved_ports; i++)
		if (c->reserved_ports[i] == port)
			return 1;
	return 0;
}

unsigned cfg_rate_limit(const struct cfg *c, const char *action)
{
	for (size_t i = 0; i < c->nrate_limits; i++)
		if (strcmp(c->rate_limits[i].action, action) == 0)
			return c->rate_limits[i].rate;
	return c->rate_limit;
}
