/* daemon/proxy/rtable.h - one listener's route table: Host -> domain (spec l7-and-https.md
 *   9.2), path -> rule (9.3). Built once from plain input, then read-only: lookups take no lock,
 *   allocate nothing and cost O(Host length + path length), whatever the numbers of domains and
 *   rules (issue 13: 1,000 domains x 10 rules within 5 % of one route).
 * Structures: domains sit in an open-addressing hash of their lower-cased names (hashed and
 *   compared 8 bytes at a time, linear probing, at most half full; a slot holds what the walk
 *   needs, the tree's root and the name); each domain's rules form a radix tree (a byte trie
 *   whose edges carry whole labels, children sorted by first byte in one contiguous run), so the
 *   longest prefix is found in one walk down the path, and all domains' trees share one node
 *   array. A domain's name, its children runs and labels lie together in one string pool.
 * Ownership: a px_rt owns copies of every name, id and path it was built from; a rule's target
 *   is the caller's (borrowed, returned as given, never dereferenced). Whoever publishes a table
 *   to workers keeps it alive while a request may still use it (the route snapshot's refcount).
 * Threads: px_rt_create() and px_rt_destroy() on one thread; lookups on any number at once.
 *   A listener with no domains at all (9.2.5) is the caller's case: it keeps its configured
 *   origins and needs no table.
 */
#ifndef GAAPD_PX_RTABLE_H
#define GAAPD_PX_RTABLE_H

#include <stddef.h>

/* The longest rule path the table accepts (CreateRule allows 80); bounds the build's recursion. */
#define PX_RT_RULE_PATH_MAX 1024
/* A normalization buffer of this size takes any path a request head can carry (cfg.h's
 * max_header_size default); a longer path is PX_RT_TOO_LONG. */
#define PX_RT_PATH_MAX 8192

/* Build input. A domain name is an exact host name ([A-Za-z0-9.-], no trailing dot), unique per
 * listener in any case; at most one domain is the default. */
struct px_rt_domain_in {
	const char *name;
	int is_default;
};
/* A rule: its domain as an index into the domain array, a path starting with '/' (bytes as
 * stored: not decoded, matched case-sensitively), (domain, path) unique. */
struct px_rt_rule_in {
	const char *id;
	size_t domain;
	const char *path;
	void *target;               /* the caller's, e.g. the rule's server group */
};

/* What a lookup returns: read-only, valid as long as the table. */
struct px_rt_domain {
	const char *name;           /* lower-cased */
	size_t name_len;
	int is_default;
};
struct px_rt_rule {
	const char *id, *path;
	size_t path_len;
	void *target;
	const struct px_rt_domain *domain;
};

enum px_rt_result {
	PX_RT_FOUND,                /* m->rule is the rule (9.3.2) */
	PX_RT_NO_DOMAIN,            /* 404: no domain matches and no default (9.2.4) */
	PX_RT_NO_RULE,              /* 404: the domain has no rule for the path (9.3.3) */
	PX_RT_BAD_PATH,             /* 400: bad escape, %00, ".." above the root, no '/' (9.3.1) */
	PX_RT_TOO_LONG,             /* 414: the path (up to '?') is longer than the buffer */
};

struct px_rt_match {
	const struct px_rt_domain *domain;  /* PX_RT_FOUND and PX_RT_NO_RULE only */
	const struct px_rt_rule *rule;      /* PX_RT_FOUND only */
	void *target;                       /* PX_RT_FOUND only: rule->target, without reading
	                                     * *rule (its line is not in cache yet) */
	size_t path_len;                    /* the normalized path's bytes in the caller's buffer */
};

struct px_rt;

/* A table over nd domains and nr rules (either may be 0), or NULL with the reason in err
 * (invalid input as above, or "out of memory"). Cost O(nd + nr * path length + nr log nr). */
struct px_rt *px_rt_create(const struct px_rt_domain_in *d, size_t nd,
	const struct px_rt_rule_in *r, size_t nr, char *err, size_t errlen);
void px_rt_destroy(struct px_rt *t);    /* NULL-safe */

/* Routes one request. host/host_len: the absolute-form authority or the Host header as
 * received (port and one trailing dot ignored, any case); host NULL = no Host (HTTP/1.0).
 * path/path_len: the request-target from its first '/' (origin-form, or an absolute-form
 * target's path; empty means "/"); the query from '?' is ignored. Anything else (the "*" of
 * OPTIONS *) is PX_RT_BAD_PATH: a caller that serves it answers it before routing. The
 * normalized path goes to buf (size bytes, PX_RT_PATH_MAX advised; never longer than the
 * input). The path is checked before the Host, as nginx parses the request line before it
 * chooses a server: a bad path is 400 on any Host. */
enum px_rt_result px_rt_lookup(const struct px_rt *t, const char *host, size_t host_len,
	const char *path, size_t path_len, char *buf, size_t size, struct px_rt_match *m);

/* 9.3.1's normalization alone, as nginx does for `location`: the path up to '?', escapes
 * decoded (a decoded '/' or '.' counts as one, as in nginx; a decoded '?' is a plain byte),
 * "." and ".." segments resolved, runs of '/' merged. PX_RT_FOUND with *out_len, or
 * PX_RT_BAD_PATH / PX_RT_TOO_LONG. */
enum px_rt_result px_rt_normalize(const char *path, size_t len, char *buf, size_t size,
	size_t *out_len);

/* The domain a Host value selects (9.2.1-3), or NULL (9.2.4). Same host conventions as above. */
const struct px_rt_domain *px_rt_domain(const struct px_rt *t, const char *host, size_t len);

#endif
