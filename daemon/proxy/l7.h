/* daemon/proxy/l7.h - layer-7 routing's internals (px.h has what the rest of gaapd sees): the
 *   built px_l7 (a route table whose rule targets are px_l7_rules), the per-listener cell, and
 *   what the request path asks of them (l7-and-https.md 9.2-9.4).
 * Ownership: a px_l7 owns its px_rt, its rules and everything in them (ids, ForwardHost, the
 *   redirect host, the custom headers), and its server groups, which its rules borrow: rules
 *   whose bindings are equal (scheduler; address, port and weight in order; the same check
 *   targets) share one group, as nginx's locations proxying to one upstream{} share its
 *   round robin - its cursor and members, and the cache lines a request reads. A group's
 *   servers are references into the node's registry (ups.h) and its members' checks are
 *   references into the node's health checker (health/hc.h), taken and put once per group.
 *   A px_l7_cell owns one reference to the px_l7 it holds.
 *   An exchange routed by a px_l7 holds its own reference (px_conn.l7) until the exchange ends,
 *   so the rule, its group and the group's servers outlive every origin connection serving it.
 * Threads: a px_l7 is immutable once built (group cursors and server state are atomics):
 *   any number of workers read it at once. The cell's pointer is guarded by a spinlock held
 *   for a load and a reference count increment, never across anything else.
 */
#ifndef GAAPD_PX_L7_H
#define GAAPD_PX_L7_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "px.h"
#include "rtable.h"
#include "upstream/group.h"

/* A custom header (5.1): sent after gaapd's own header handling; a client header of the same
 * name is not forwarded. remote_addr: the value was exactly "$remote_addr", sent as the
 * client's IP address. */
struct px_l7_header {
	char *name, *value;
	size_t nlen, vlen;
	int remote_addr;
};

/* A rule as the request path uses it: the px_rt's target. One cache line, aligned: what every
 * routed request reads (group, redirect; ForwardHost and headers when it forwards) comes first,
 * what only logs and 301s read after it. */
struct px_l7_rule {
	_Alignas(64) struct ups_group *group;   /* its bindings (n == 0: 503), the px_l7's (above);
	                             * member i's check: binding i's */
	char *forward_host;         /* NULL: the client's Host */
	struct px_l7_header *headers;
	size_t nheaders;
	uint32_t forward_host_len;  /* at most L7_FORWARD_HOST_MAX (l7.c) */
	uint16_t redirect;          /* ForcedRedirect on: 301 to https (9.3.4) */
	uint16_t forward;           /* enum px_fwd_proto: ForwardProtocol */
	char *id;                   /* RuleId, for logs */
	char *domain;               /* its domain's name: a 301's host when the request has none */
	char *redirect_host;        /* the value's host[:port]; NULL: the request's Host, no port */
};

struct px_l7 {
	atomic_uint refs;
	struct px_rt *rt;
	struct px_l7_rule *rules;   /* 64-byte aligned, in rules_mem */
	size_t nrules;
	void *rules_mem;
	struct ups_group **groups;  /* distinct, each shared by the rules with its bindings */
	size_t ngroups;
};

struct px_l7_cell {
	atomic_uint refs;
	atomic_flag lock;           /* guards l7: a load and a reference, nothing more */
	struct px_l7 *l7;
};

/* The answer to one request's routing (9.2-9.3): PX_RT_FOUND with *rule (whose redirect flag
 * may still make it a 301), or why not. host NULL: no Host. target: the request-target as
 * received (origin-form, absolute-form's path already split off by the caller, or "*"). "*"
 * (OPTIONS *) routes as "/" would: by Host to the domain's "/" rule if it has one. */
enum px_rt_result px_l7_route(const struct px_l7 *l, const char *host, size_t host_len,
	const char *path, size_t path_len, const struct px_l7_rule **rule);

/* The Location of a 301 (9.3.4) into out: "https://" host target. host: the rule's
 * redirect host, else the request's Host (host/host_len) without its port (host NULL: the
 * rule's domain); target: the
 * original request-target in origin-form. 0, or -1 when it does not fit in size. */
int px_l7_location(const struct px_l7_rule *r, const char *host, size_t host_len,
	const char *target, size_t target_len, char *out, size_t size, size_t *len);

#endif
