/* daemon/proxy/rtable.c - one listener's route table (rtable.h). */
#include "rtable.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A radix tree node, 24 bytes: the edge into it carries a label, label_len bytes at pool +
 * label (a copy of part of some rule's path); its children are nodes[child .. child + nchild),
 * sorted by their first label byte, which the pool repeats just before the first child's label
 * (kids()) so that the search for a child reads one short run of bytes. A domain's name, its
 * nodes' children runs and labels are one stretch of the pool, in the order a walk reads them
 * (build_trees()): a lookup reads a line or two of it, not the whole table's scattered strings. */
struct rt_node {
	void *target;               /* the rule's target: the walk has this line in cache already,
	                             * the rule array's would be one more miss per request */
	uint32_t label, child;
	int32_t rule;               /* the rule whose path ends here, or -1 */
	uint16_t label_len, nchild; /* a label is at most PX_RT_RULE_PATH_MAX bytes; children 256 */
};

/* The Host hash's slot: what a lookup needs before the walk without reading the domain array. */
struct rt_slot {
	uint32_t hash, domain;      /* domain: index + 1; 0 = empty */
	uint32_t root;              /* its tree (roots[domain - 1]) */
	uint32_t name;              /* its name's copy in the pool (NUL-terminated), beside
	                             * the tree's labels */
};

struct px_rt {
	struct px_rt_domain *domains;
	uint32_t *roots;            /* each domain's tree in nodes */
	size_t nd;
	const struct px_rt_domain *def;
	struct rt_slot *slots;      /* a power of two, at most half full */
	size_t mask;
	struct px_rt_rule *rules;   /* sorted by (domain, path): a domain's rules are one run */
	size_t nr;
	struct rt_node *nodes;
	size_t nnodes;
	char *pool;                 /* every name, id and path, one after another (locality) */
	size_t pool_used;
};

static unsigned char lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c | 0x20) : c;
}

/* A Host is hashed and compared as received, a word at a time, without a folded copy: the
 * hash, the probe and the comparison were a third of what a routed request cost beyond one
 * route (bench/profile g against gr), byte by byte. */

/* Eight bytes as one word: memcpy compiles to one unaligned load. */
static uint64_t load8(const char *s)
{
	uint64_t w;
	memcpy(&w, s, sizeof w);
	return w;
}

static uint64_t load4(const char *s)
{
	uint32_t w;
	memcpy(&w, s, sizeof w);
	return w;
}

/* The rest of a string of len bytes from i (i < len, len - i < 8) as one word, without reading
 * past its end: the last 8 bytes, overlapping those before (len >= 8), else two overlapping
 * halves, else byte by byte. The same for the same bytes: hash and comparison agree. */
static uint64_t load_tail(const char *s, size_t i, size_t len)
{
	uint64_t w = 0;
	if (len >= 8)
		return load8(s + len - 8);
	if (len - i >= 4)
		return load4(s + i) | load4(s + len - 4) << 32;
	for (size_t k = i; k < len; k++)
		w |= (uint64_t)(unsigned char)s[k] << (8 * (k - i));
	return w;
}

/* Every byte 'A'-'Z' of w lower-cased, the rest (bytes >= 0x80 too) unchanged. */
static uint64_t lower8(uint64_t w)
{
	const uint64_t ones = 0x0101010101010101u;
	uint64_t low7 = w & (0x7f * ones);
	uint64_t above_z = low7 + (0x7f - 'Z') * ones;     /* top bit: > 'Z' */
	uint64_t from_a = low7 + (0x80 - 'A') * ones;      /* top bit: >= 'A' */
	uint64_t upper = ~w & (from_a ^ above_z) & (0x80 * ones);
	return w | upper >> 2;
}

static uint64_t mix(uint64_t h, uint64_t w)
{
	return (h ^ w) * 0x9e3779b97f4a7c15u;
}

/* The hash of the lower-cased bytes. */
static uint32_t hash_name(const char *s, size_t len)
{
	uint64_t h = len;
	size_t i = 0;
	for (; i + 8 <= len; i += 8)
		h = mix(h, lower8(load8(s + i)));
	if (i < len)
		h = mix(h, lower8(load_tail(s, i, len)));
	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9u;
	return (uint32_t)(h ^ h >> 32);
}

/* Whether s (any case) is name (lower case), both len bytes. */
static int name_eq(const char *s, const char *name, size_t len)
{
	size_t i = 0;
	for (; i + 8 <= len; i += 8)
		if (lower8(load8(s + i)) != load8(name + i))
			return 0;
	return i == len || lower8(load_tail(s, i, len)) == load_tail(name, i, len);
}

/* The slot of the domain named s (any case), or NULL. */
static const struct rt_slot *find_slot(const struct px_rt *t, const char *s, size_t len)
{
	uint32_t h = hash_name(s, len);
	for (size_t i = h & t->mask; t->slots[i].domain != 0; i = (i + 1) & t->mask) {
		const char *name = t->pool + t->slots[i].name;
		if (t->slots[i].hash == h && name_eq(s, name, len) && name[len] == '\0')
			return &t->slots[i];
	}
	return NULL;
}

static const struct px_rt_domain *find(const struct px_rt *t, const char *s, size_t len)
{
	const struct rt_slot *x = find_slot(t, s, len);
	return x != NULL ? &t->domains[x->domain - 1] : NULL;
}

/* 9.2.1: the name a Host value stands for, without its port and one trailing dot. 0 when it can
 * match no domain: an IP-literal (domains cannot be one) or nothing left. */
static int host_name(const char *h, size_t len, size_t *name_len)
{
	const char *colon;
	if (len > 0 && h[0] == '[')
		return 0;
	if ((colon = memchr(h, ':', len)) != NULL)  /* a reg-name has no ':': the port follows */
		len = (size_t)(colon - h);
	if (len > 0 && h[len - 1] == '.')
		len--;
	*name_len = len;
	return len > 0;
}

/* The domain a Host value selects (px_rt_domain()) and its tree's root. */
static const struct px_rt_domain *select_domain(const struct px_rt *t, const char *host,
	size_t len, uint32_t *root)
{
	const struct rt_slot *x = NULL;
	size_t n;
	if (host != NULL && host_name(host, len, &n))
		x = find_slot(t, host, n);
	if (x != NULL) {
		*root = x->root;
		return &t->domains[x->domain - 1];
	}
	if (t->def != NULL)                 /* 9.2.3: no match or no Host */
		*root = t->roots[t->def - t->domains];
	return t->def;
}

const struct px_rt_domain *px_rt_domain(const struct px_rt *t, const char *host, size_t len)
{
	uint32_t root;
	return select_domain(t, host, len, &root);
}

static int hex(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = lower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Ends the segment out[seg..*o) at a '/' or at the end: "." goes, ".." takes the segment before
 * it too (-1 above the root), an empty one merges into the '/' before it. */
static int segment_end(char *out, size_t seg, size_t *o)
{
	size_t len = *o - seg;
	if (len == 1 && out[seg] == '.') {
		*o = seg;
	} else if (len == 2 && out[seg] == '.' && out[seg + 1] == '.') {
		if (seg == 1)
			return -1;
		for (*o = seg - 1; out[*o - 1] != '/'; (*o)--)
			;           /* back to just after the '/' that opens the previous segment */
	}
	return 0;
}

/* The path's byte at *i, an escape decoded (nginx: a decoded '/' or '.' counts as one; *i is
 * left on its last digit); -1 for a bad escape, one decoding to NUL, or a NUL. */
static int next_byte(const char *path, size_t len, size_t *i)
{
	unsigned char c = (unsigned char)path[*i];
	int hi, lo;
	if (c != '%')
		return c != '\0' ? c : -1;
	if (*i + 2 >= len || (hi = hex((unsigned char)path[*i + 1])) < 0 ||
	    (lo = hex((unsigned char)path[*i + 2])) < 0 || (hi | lo) == 0)
		return -1;
	*i += 2;
	return hi << 4 | lo;
}

/* Bytes that may make a path differ from its normalized form or end it ('.' only after a '/',
 * which is looked at then). */
static const unsigned char path_special[256] = {
	['\0'] = 1, ['%'] = 1, ['/'] = 1, ['?'] = 1,
};

/* The length of path up to '?' when it is already normal (no escape, NUL, "//", "/." in it:
 * nearly every request), else -1: one pass with one table look-up per byte, where the
 * normalization's own loop costs several times that. path[0] is '/'. */
static long plain_len(const char *path, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)path[i];
		if (!path_special[c])
			continue;
		if (c == '?')
			return (long)i;
		if (c != '/' || (i + 1 < len && (path[i + 1] == '/' || path[i + 1] == '.')))
			return -1;
	}
	return (long)len;
}

/* px_rt_normalize() of a path that needs it: out of line, so that the instructions every
 * request runs stay few cache lines (callgrind: the routing's code pushed the rest of the
 * request's out of the instruction cache). */
static enum px_rt_result __attribute__((noinline, cold)) normalize(const char *path, size_t len,
	char *buf, size_t size, size_t *out_len)
{
	const char *q;
	size_t o = 1, seg = 1;      /* buf[0, o) written; the segment in progress starts at seg */
	if ((q = len > 0 ? memchr(path, '?', len) : NULL) != NULL)
		len = (size_t)(q - path);
	if (len > size || size == 0)
		return PX_RT_TOO_LONG;  /* the output never outgrows the input (or "/" for "") */
	if (len > 0 && path[0] != '/')
		return PX_RT_BAD_PATH;
	buf[0] = '/';
	for (size_t i = 1; i < len; i++) {
		int c = next_byte(path, len, &i);
		if (c < 0)
			return PX_RT_BAD_PATH;
		if (c != '/') {
			buf[o++] = (char)c;
			continue;
		}
		if (segment_end(buf, seg, &o) != 0)
			return PX_RT_BAD_PATH;
		if (o > seg)
			buf[o++] = '/';     /* "//", "/./", "/x/../": the '/' before stays, alone */
		seg = o;
	}
	if (segment_end(buf, seg, &o) != 0)
		return PX_RT_BAD_PATH;
	*out_len = o;
	return PX_RT_FOUND;
}

enum px_rt_result px_rt_normalize(const char *path, size_t len, char *buf, size_t size,
	size_t *out_len)
{
	long plain = len > 0 && path[0] == '/' ? plain_len(path, len) : -1;
	if (plain <= 0 || (size_t)plain > size)
		return normalize(path, len, buf, size, out_len);
	memcpy(buf, path, (size_t)plain);
	*out_len = (size_t)plain;
	return PX_RT_FOUND;
}

/* The child of node nd whose label starts with c, or NULL. */
static const struct rt_node *child(const struct px_rt *t, const struct rt_node *nd,
	unsigned char c)
{
	const unsigned char *f;
	if (nd->nchild == 0)
		return NULL;
	f = (const unsigned char *)t->pool + t->nodes[nd->child].label - nd->nchild;
	if (nd->nchild <= 8) {      /* most nodes: a scan is fewer instructions and branches */
		for (size_t k = 0; k < nd->nchild && f[k] <= c; k++)
			if (f[k] == c)
				return &t->nodes[nd->child + k];
		return NULL;
	}
	size_t lo = 0, hi = nd->nchild;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (f[mid] < c)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < nd->nchild && f[lo] == c ? &t->nodes[nd->child + lo] : NULL;
}

/* Labels are a few bytes: a loop here, where memcmp() would be a call per node. */
static int label_eq(const char *p, const char *label, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != label[i])
			return 0;
	return 1;
}

/* The node of the longest rule in the tree at root whose path is a prefix of p, or NULL: one
 * walk down, O(len). */
static const struct rt_node *longest(const struct px_rt *t, uint32_t root, const char *p,
	size_t len)
{
	const struct rt_node *nd = &t->nodes[root];
	const struct rt_node *best = nd->rule >= 0 ? nd : NULL;
	size_t pos = 0;
	while (pos < len && (nd = child(t, nd, (unsigned char)p[pos])) != NULL) {
		if (nd->label_len > len - pos ||
		    !label_eq(p + pos, t->pool + nd->label, nd->label_len))
			break;
		pos += nd->label_len;
		if (nd->rule >= 0)
			best = nd;
	}
	return best;
}

enum px_rt_result px_rt_lookup(const struct px_rt *t, const char *host, size_t host_len,
	const char *path, size_t path_len, char *buf, size_t size, struct px_rt_match *m)
{
	enum px_rt_result res;
	const struct rt_node *nd;
	uint32_t root = 0;
	m->domain = NULL;
	m->rule = NULL;
	m->target = NULL;
	m->path_len = 0;
	if ((res = px_rt_normalize(path, path_len, buf, size, &m->path_len)) != PX_RT_FOUND)
		return res;
	if ((m->domain = select_domain(t, host, host_len, &root)) == NULL)
		return PX_RT_NO_DOMAIN;
	nd = longest(t, root, buf, m->path_len);
	if (nd == NULL)
		return PX_RT_NO_RULE;
	m->rule = &t->rules[nd->rule];
	m->target = nd->target;
	return PX_RT_FOUND;
}

/* Building. */

/* Room for every string of the input (what is invalid is refused before it is copied), and for
 * the copies the trees read: per domain its name and then its tree's labels, in node order, so
 * that a lookup finds the Host's name and the labels of its walk on a line or two
 * (build_trees()); the labels of a tree are at most as many bytes as its rules' paths. */
static size_t pool_size(const struct px_rt_domain_in *d, size_t nd, const struct px_rt_rule_in *r,
	size_t nr)
{
	size_t n = 0;
	for (size_t i = 0; i < nd; i++)
		n += d[i].name != NULL ? 2 * (strlen(d[i].name) + 1) + 1 : 0;  /* + root's run */
	for (size_t i = 0; i < nr; i++)
		n += (r[i].path != NULL ? 2 * (strlen(r[i].path) + 1) + 2 : 0) +   /* + 2 runs */
			(r[i].id != NULL ? strlen(r[i].id) + 1 : 1);
	return n;
}

/* s copied into the pool, which pool_size() made big enough. */
static char *copy(struct px_rt *t, const char *s)
{
	size_t len = strlen(s) + 1;
	char *p = memcpy(t->pool + t->pool_used, s, len);
	t->pool_used += len;
	return p;
}

/* n bytes of s copied into the pool (labels: no NUL, they have lengths); their offset. */
static uint32_t copy_n(struct px_rt *t, const char *s, size_t n)
{
	memcpy(t->pool + t->pool_used, s, n);
	t->pool_used += n;
	return (uint32_t)(t->pool_used - n);
}

/* Domain syntax (spec 3): exact names, so no '*', '_', port or trailing dot. */
static int name_valid(const char *s)
{
	size_t i = 0;
	for (; s[i] != '\0'; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '.' || s[i] == '-'))
			return 0;
	return i > 0 && s[i - 1] != '.';
}

static int add_domain(struct px_rt *t, const struct px_rt_domain_in *in, char *err, size_t errlen)
{
	struct px_rt_domain *d = &t->domains[t->nd];
	size_t i, len;
	uint32_t h;
	char *name;
	if (in->name == NULL || !name_valid(in->name)) {
		snprintf(err, errlen, "domain %zu: not an exact host name: %s", t->nd,
			in->name != NULL ? in->name : "(null)");
		return -1;
	}
	len = strlen(in->name);
	if (find(t, in->name, len) != NULL) {
		snprintf(err, errlen, "domain %s: twice (names are case-insensitive)", in->name);
		return -1;
	}
	if (in->is_default && t->def != NULL) {
		snprintf(err, errlen, "domain %s: a second default (%s is one)", in->name,
			t->def->name);
		return -1;
	}
	name = copy(t, in->name);
	for (i = 0; i < len; i++)
		name[i] = (char)lower((unsigned char)name[i]);
	*d = (struct px_rt_domain){ name, len, in->is_default != 0 };
	h = hash_name(name, len);
	for (i = h & t->mask; t->slots[i].domain != 0; i = (i + 1) & t->mask)
		;
	t->slots[i] = (struct rt_slot){ h, (uint32_t)++t->nd, 0, (uint32_t)(name - t->pool) };
	if (d->is_default)
		t->def = d;
	return 0;
}

static int add_domains(struct px_rt *t, const struct px_rt_domain_in *d, size_t nd,
	char *err, size_t errlen)
{
	size_t cap = 8;
	while (cap < 2 * nd)
		cap *= 2;
	t->domains = calloc(nd + 1, sizeof(*t->domains));
	t->roots = calloc(nd + 1, sizeof(*t->roots));
	t->slots = calloc(cap, sizeof(*t->slots));
	t->mask = cap - 1;
	if (t->domains == NULL || t->roots == NULL || t->slots == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < nd; i++)
		if (add_domain(t, &d[i], err, errlen) != 0)
			return -1;
	return 0;
}

static int rule_valid(const struct px_rt *t, const struct px_rt_rule_in *in, size_t i,
	char *err, size_t errlen)
{
	if (in->domain >= t->nd)
		snprintf(err, errlen, "rule %zu: no domain %zu", i, in->domain);
	else if (in->path == NULL || in->path[0] != '/')
		snprintf(err, errlen, "rule %zu: path must start with '/'", i);
	else if (strlen(in->path) > PX_RT_RULE_PATH_MAX)
		snprintf(err, errlen, "rule %zu: path over %d bytes", i, PX_RT_RULE_PATH_MAX);
	else
		return 0;
	return -1;
}

static int cmp_rule(const void *a, const void *b)
{
	const struct px_rt_rule *x = a, *y = b;
	if (x->domain != y->domain)
		return x->domain < y->domain ? -1 : 1;
	return strcmp(x->path, y->path);    /* byte order: a prefix sorts before what extends it */
}

/* Copies of the rules, sorted by (domain, path); a pair met twice is refused. */
static int add_rules(struct px_rt *t, const struct px_rt_rule_in *r, size_t nr,
	char *err, size_t errlen)
{
	if ((t->rules = calloc(nr + 1, sizeof(*t->rules))) == NULL) {   /* + 1: never calloc(0) */
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (; t->nr < nr; t->nr++) {
		struct px_rt_rule *x = &t->rules[t->nr];
		const struct px_rt_rule_in *in = &r[t->nr];
		if (rule_valid(t, in, t->nr, err, errlen) != 0)
			return -1;
		x->domain = &t->domains[in->domain];
		x->target = in->target;
		x->path_len = strlen(in->path);
		x->path = copy(t, in->path);
		x->id = copy(t, in->id != NULL ? in->id : "");
	}
	qsort(t->rules, nr, sizeof(*t->rules), cmp_rule);
	for (size_t i = 1; i < nr; i++)
		if (cmp_rule(&t->rules[i - 1], &t->rules[i]) == 0) {
			snprintf(err, errlen, "rules %s and %s: both %s on %s", t->rules[i - 1].id,
				t->rules[i].id, t->rules[i].path, t->rules[i].domain->name);
			return -1;
		}
	return 0;
}

/* Rules [a, hi) share their first d + 1 bytes up to the returned index. */
static size_t group_end(const struct px_rt *t, size_t a, size_t hi, size_t d)
{
	size_t e = a + 1;
	while (e < hi && t->rules[e].path[d] == t->rules[a].path[d])
		e++;
	return e;
}

/* Fills node n, which stands for the first d bytes of rules [lo, hi) (sorted: the rule that
 * ends there, if any, comes first). Each child takes a run of rules with the same next byte, its
 * label reaching to their common prefix (that of the run's first and last, being sorted). */
static void build_node(struct px_rt *t, uint32_t n, size_t lo, size_t hi, size_t d)
{
	struct rt_node *nd = &t->nodes[n];
	uint32_t c;
	size_t run;
	nd->rule = -1;
	if (lo < hi && t->rules[lo].path_len == d) {
		nd->target = t->rules[lo].target;
		nd->rule = (int32_t)lo++;
	}
	nd->child = (uint32_t)t->nnodes;
	for (size_t a = lo; a < hi; a = group_end(t, a, hi, d))
		nd->nchild++;
	t->nnodes += nd->nchild;
	c = nd->child;
	run = t->pool_used;         /* the children's first bytes, just before the first's label */
	t->pool_used += nd->nchild;
	for (size_t a = lo, e; a < hi; a = e, c++) {
		const char *p = t->rules[a].path, *last;
		size_t len = d + 1;
		e = group_end(t, a, hi, d);
		last = t->rules[e - 1].path;
		while (p[len] != '\0' && p[len] == last[len])
			len++;
		t->nodes[c].label = copy_n(t, p + d, len - d);   /* depth first: a walk's order */
		t->nodes[c].label_len = (uint16_t)(len - d);
		t->pool[run + (c - nd->child)] = p[d];
		build_node(t, c, a, e, len);
	}
}

/* One tree per domain; a tree over k rules has at most 2k nodes besides its root (a node
 * without a rule branches, so there are fewer of them than rules). */
static int build_trees(struct px_rt *t, char *err, size_t errlen)
{
	size_t cap = t->nd + 2 * t->nr + 1, lo = 0;
	t->nodes = calloc(cap, sizeof(*t->nodes));
	if (t->nodes == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < t->nd; i++) {
		size_t hi = lo;
		while (hi < t->nr && t->rules[hi].domain == &t->domains[i])
			hi++;
		t->roots[i] = (uint32_t)t->nnodes++;
		t->domains[i].name = copy(t, t->domains[i].name);  /* beside its tree */
		build_node(t, t->roots[i], lo, hi, 0);
		lo = hi;
	}
	for (size_t k = 0; k <= t->mask; k++)
		if (t->slots[k].domain != 0) {
			t->slots[k].root = t->roots[t->slots[k].domain - 1];
			const char *name = t->domains[t->slots[k].domain - 1].name;
			t->slots[k].name = (uint32_t)(name - t->pool);
		}
	return 0;
}

struct px_rt *px_rt_create(const struct px_rt_domain_in *d, size_t nd,
	const struct px_rt_rule_in *r, size_t nr, char *err, size_t errlen)
{
	struct px_rt *t = calloc(1, sizeof(*t));
	size_t pool;
	if (t == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (nd >= UINT32_MAX / 4 || nr >= INT32_MAX / 4) {
		snprintf(err, errlen, "too many domains or rules");
		goto fail;
	}
	if ((pool = pool_size(d, nd, r, nr) + 1) > UINT32_MAX) {   /* offsets are 32 bits */
		snprintf(err, errlen, "too many domains or rules");
		goto fail;
	}
	if ((t->pool = malloc(pool)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (add_domains(t, d, nd, err, errlen) != 0 || add_rules(t, r, nr, err, errlen) != 0 ||
	    build_trees(t, err, errlen) != 0)
		goto fail;
	return t;
fail:
	px_rt_destroy(t);
	return NULL;
}

void px_rt_destroy(struct px_rt *t)
{
	if (t == NULL)
		return;
	free(t->pool);
	free(t->domains);
	free(t->roots);
	free(t->slots);
	free(t->rules);
	free(t->nodes);
	free(t);
}
