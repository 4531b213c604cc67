/* daemon/upstream/ups.h - the node's real servers: one shared object per (address, port), with
 *   what the workers learn about it (passive health, exchanges in flight), whichever listener's
 *   route sent the traffic. A failure seen through one listener spares every other listener's
 *   requests; lc weighs every exchange the node has in flight on a server.
 * Ownership: a ups_reg (the registry) is refcounted: its creator holds one reference and every
 *   live server another, so it stays while a server may still have to leave it. A ups_server is
 *   refcounted by whoever names it (a route's group): ups_server_get() finds or creates it with a
 *   reference for the caller, ups_server_put() lets go, the last put frees it and its state. A
 *   reload builds its new routes before the old ones go, so a server it keeps keeps its state.
 * Threads: get takes the registry's one mutex (route builds: the control thread, under the
 *   listener table's lock), and so does the put of what may be the last reference (when a
 *   replaced route's last connection closes on a worker, or a worker's idle pool for a server
 *   nobody else names goes); ref and every other put are one atomic. The request path touches
 *   the server's atomics only (relaxed: each stands alone, none publishes other memory).
 */
#ifndef GAAPD_UPS_H
#define GAAPD_UPS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "../cfg.h"

struct ups_reg;
struct ups_name;

/* What identifies a server: family, address, port (and an IPv6 scope); never how it was written
 * (except an address without an IP family, built by hand: its text then tells it apart). */
struct ups_key {
	uint32_t family, port, scope;
	unsigned char addr[16];
};

struct ups_server {
	struct ups_server *next;    /* its registry bucket; under the registry's lock */
	struct ups_reg *reg;
	atomic_uint refs;           /* taken by get under the registry's lock, or by ref; see put */
	struct ups_key key;
	struct cfg_addr addr;       /* as first named (text for logs); weight 0: weights are a group's */
	atomic_uint active;         /* exchanges in flight on the node (lc) */
	atomic_uint fails;          /* consecutive failures, from any route */
	_Atomic int64_t down_until; /* ups_now_ms(): skipped until then; 0 = up */
	struct ups_name *name;      /* a DNS name's resolution (dns.h); NULL for an IP address */
};

/* NULL on ENOMEM; one reference, the caller's. */
struct ups_reg *ups_reg_new(void);
struct ups_reg *ups_reg_ref(struct ups_reg *g);
void ups_reg_unref(struct ups_reg *g);      /* NULL-safe; freed once no server is left either */
size_t ups_reg_count(struct ups_reg *g);    /* servers alive now (tests, metrics) */

/* The server at a's address and port, created on first use (state zero, up); a new reference for
 * the caller. NULL on ENOMEM. Takes the registry's lock: not for the request path.
 * An address without an IP family is a DNS name: a.text is "name:port", and the server has no
 * address until a resolver (dns.h) attached to the registry has resolved the name. */
struct ups_server *ups_server_get(struct ups_reg *g, const struct cfg_addr *a);
/* One more reference to s, whose caller holds one already (a worker's pool, from its route's):
 * lock-free. */
struct ups_server *ups_server_ref(struct ups_server *s);
/* Lets go of one reference; the last frees the server. NULL-safe; any thread; lock-free unless
 * it may be the last. */
void ups_server_put(struct ups_server *s);

/* Where to connect to s now: its address, or for a DNS name the next of the addresses it last
 * resolved to (round robin). 0, or -1 with errno EHOSTUNREACH: a name that resolves to nothing
 * (yet, or any more). Any thread; lock-free for an IP address, a short lock for a name. */
int ups_server_sockaddr(struct ups_server *s, struct sockaddr_storage *out, socklen_t *len);

/* Milliseconds on a monotonic clock (coarse: for deadlines, not for measuring). */
int64_t ups_now_ms(void);
/* Passive health, node-wide. up: not taken out at now. failed: one more consecutive failure;
 * returns 1 when it takes the server out for timeout_ms (max_fails reached; 0 = never), 0 when it
 * does not or it was out already (another route or worker saw it first). succeeded: forgives the
 * failures; 1 when it brought a taken-out server back. Any thread, lock-free. */
int ups_server_up(const struct ups_server *s, int64_t now);
int ups_server_failed(struct ups_server *s, unsigned max_fails, unsigned timeout_ms);
int ups_server_succeeded(struct ups_server *s);
/* An exchange starts or ends on s (what lc weighs). */
void ups_server_busy(struct ups_server *s);
void ups_server_idle(struct ups_server *s);

#endif
