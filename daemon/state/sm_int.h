/* daemon/state/sm_int.h - the state machine's insides, shared by its files (sm.c: listeners, real
 *   servers, restore, sync; sm_l7.c: domains, rules, bindings, headers). Not for other modules.
 * Threads: as sm.h (the control thread).
 */
#ifndef GAAPD_STATE_SM_INT_H
#define GAAPD_STATE_SM_INT_H

#include <stdint.h>

#include "sm.h"

#define SM_NEW_ID_TRIES 16

struct sm {
	struct st *store;
	struct lsn_table *t;
	const struct cfg *cfg;
	int (*new_id)(const char *prefix, char *out, size_t len);
	struct rs_set *rs;          /* the real servers, as the store has them */
	struct l7_set *l7;          /* the domains and rules, as the store has them */
	uint64_t written;           /* the store's sequence of the last change written */
	uint64_t synced;            /* ... and of the last one made durable */
	struct sm_counts counts;
};

/* out says e (about proxy p, with errno sys). */
void sm_fail(struct sm_outcome *out, enum sm_err e, const struct cfg_proxy *p, int sys);
/* One change to the store, durable at the next sm_sync(): 0, or -1 with errno and out->detail. */
int sm_write_ops(struct sm *s, const struct st_op *ops, size_t n, struct sm_outcome *out);

#endif
