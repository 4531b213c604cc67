/* daemon/upstream/dns.h - resolving the real servers named by DNS names (RealServerType DOMAIN,
 *   l7-and-https.md §2, §9.4): asynchronously, on a thread and an event loop of its own (evdns,
 *   /etc/resolv.conf and /etc/hosts), so that no worker ever waits on a resolver. A name is
 *   resolved as soon as a route names it, then again every valid_ms (nginx's `resolver valid=`:
 *   libevent's getaddrinfo does not expose record TTLs, so the interval is the operator's); a
 *   failed resolution is retried every retry_ms. Until it resolves, and after the name is gone
 *   (NXDOMAIN), its server has no address: connects to it fail at once as a failed origin
 *   (ups_server_sockaddr), never a hang. A transient failure (timeout, SERVFAIL) keeps the
 *   addresses last resolved.
 * Ownership: ups_dns_start() returns a resolver the caller stops with ups_dns_stop(); it holds a
 *   reference to the registry, and one to each server while its name is being resolved.
 * Threads: start and stop from one thread (main); the resolver's own thread does the rest. The
 *   process must have called evthread_use_pthreads().
 */
#ifndef GAAPD_UPS_DNS_H
#define GAAPD_UPS_DNS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "ups.h"

#define UPS_NAME_ADDRS 16           /* addresses kept per name (round robin over them) */

struct ups_dns_opts {
	unsigned valid_ms;          /* re-resolve a resolved name after this (node.resolver_valid) */
	unsigned retry_ms;          /* ... a name that failed to resolve after this */
	unsigned timeout_ms;        /* one DNS query's timeout (node.resolver_timeout) */
	unsigned attempts;          /* queries per resolution before it fails */
};

/* What a name's resolution has done, as read at one moment (tests, logs). */
struct ups_name_snap {
	size_t naddrs;              /* addresses now */
	uint64_t resolutions;       /* resolutions finished, either way */
	uint64_t failures;          /* ... that found no address */
};

struct ups_dns;

/* A resolver for the names of reg's servers, now and to come. NULL with err. */
struct ups_dns *ups_dns_start(struct ups_reg *reg, const struct ups_dns_opts *o, char *err,
	size_t errlen);
/* Stops resolving (queries in flight are cancelled) and joins the thread. NULL-safe. Servers
 * keep the addresses they had. */
void ups_dns_stop(struct ups_dns *d);

/* s's resolution so far (s must be a name's server). */
void ups_name_read(struct ups_server *s, struct ups_name_snap *out);

#endif
