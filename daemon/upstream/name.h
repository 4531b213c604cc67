/* daemon/upstream/name.h - the part of a real server named by a DNS name that ups.c and the
 *   resolver (dns.c) share; internal to daemon/upstream.
 * Ownership: a server owns its ups_name (made with it, freed with it).
 * Threads: addrs, n and next are written by the resolver's thread and read by connects on any
 *   thread, under lock; due and pending are the resolver's (read and set through
 *   ups_reg_names_due(), under the registry's lock); the counters are atomics.
 */
#ifndef GAAPD_UPS_NAME_H
#define GAAPD_UPS_NAME_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/socket.h>

#include "dns.h"

struct ups_name {
	pthread_mutex_t lock;
	char host[256];
	unsigned port;
	struct sockaddr_storage addrs[UPS_NAME_ADDRS];
	socklen_t lens[UPS_NAME_ADDRS];
	size_t n;
	unsigned next;
	int64_t due;                        /* ups_now_ms() of the next resolution; 0 = at once */
	int pending;                        /* a resolution is in flight */
	struct ups_server *list_next, **list_prev;  /* the registry's names; under its lock */
	atomic_uint_fast64_t resolutions, failures;
};

/* The names due at now (not in flight), at most max, each marked in flight and with a reference
 * for the caller (who ends the flight with ups_name_done()). Takes the registry's lock. */
size_t ups_reg_names_due(struct ups_reg *g, int64_t now, struct ups_server **out, size_t max);
/* A resolution of s ended: its addresses (n = 0: none; keep = 1: a transient failure, the
 * addresses stay) and when to resolve it next; then lets go of the caller's reference. */
void ups_name_done(struct ups_server *s, const struct sockaddr_storage *addrs,
	const socklen_t *lens, size_t n, int keep, int64_t due);

#endif
