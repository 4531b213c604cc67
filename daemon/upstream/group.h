/* daemon/upstream/group.h - a server group: an ordered list of (shared server, weight) and the
 *   scheduler that picks among them (rr, smooth wrr, weighted lc), with passive health's rule
 *   that a pick never comes back empty while the group has a server. What a listener's route
 *   forwards to, and what a layer-7 rule does (one group for all of a px_l7's rules with equal
 *   bindings, proxy/l7.h).
 * Ownership: a group owns its member list, its wrr sequence and one reference to each member's
 *   server (ups.h); a member's active check (health/hc.h) is borrowed: the creator sets it right
 *   after ups_group_new(), before the group is shared, and holds its reference for the group's
 *   life (proxy/l7.c). The creator owns the group (ups_group_new() / destroy()).
 * Threads: any. The members are immutable once built; the cursor is an atomic and the servers'
 *   state is theirs (atomics): picking is lock-free. Building takes the registry's lock.
 */
#ifndef GAAPD_UPS_GROUP_H
#define GAAPD_UPS_GROUP_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "health/hc.h"
#include "ups.h"

struct ups_member {
	struct ups_server *srv;     /* a reference */
	unsigned weight;            /* 1..CFG_WEIGHT_MAX */
	struct hc_target *check;    /* its active check (health/hc.h; NULL: none), borrowed: whoever
	                             * built the group holds the reference (daemon/proxy/l7.c), so
	                             * upstream needs only hc.h's inline hc_target_up() */
};

struct ups_group {
	enum cfg_sched sched;
	atomic_uint next;           /* the scheduler's cursor */
	struct ups_member *m;
	size_t n;
	uint16_t *seq;              /* wrr: member indexes in smooth weighted order */
	size_t nseq;
};

/* A group over addrs[0, n) in that order, each with its weight (0, as in addresses built outside
 * cfg.c, counts as 1), its servers found or created in reg. NULL on ENOMEM. n may be 0. */
struct ups_group *ups_group_new(struct ups_reg *reg, enum cfg_sched sched,
	const struct cfg_addr *addrs, size_t n);
void ups_group_destroy(struct ups_group *g);    /* NULL-safe; lets go of its servers */
/* The member for the next exchange: its index, skipping exclude (-1 = none) and members that are
 * not eligible: eligible = its server is up for passive health AND its active check says up
 * (hc_target_up(); HAProxy's observe layer4 + check). When no other member is eligible, the one
 * whose server failed longest ago (health never leaves a request without a try). -1 only when
 * there is no member but exclude. Any thread. */
int ups_group_pick(struct ups_group *g, int exclude);

#endif
