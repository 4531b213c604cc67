/* daemon/state/sm_int.h - the state machine's insides, shared by its files (sm.c: listeners, real
 *   servers, restore, sync; sm_l7.c: domains, rules, bindings, headers; sm_route.c: the routing
 *   built from them; sm_fleet.c: records other nodes wrote, sm_apply_records()). Not for other
 *   modules.
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
	struct cs_set *certs;       /* the certificates, as the store has them */
	uint64_t written;           /* the store's sequence of the last change written */
	uint64_t synced;            /* ... and of the last one made durable */
	struct sm_counts counts;
	struct hc_checker *checks;  /* borrowed (sm_set_checker()); NULL: no active checks */
};

/* out says e (about proxy p, with errno sys). */
void sm_fail(struct sm_outcome *out, enum sm_err e, const struct cfg_proxy *p, int sys);
/* One change to the store, durable at the next sm_sync(): 0, or -1 with errno and out->detail. */
int sm_write_ops(struct sm *s, const struct st_op *ops, size_t n, struct sm_outcome *out);

/* Under the lock: rec into the table as sm_restore() does (bound where it can be, else
 * LSN_CREATING with its fault, logged; an HTTPS one with its own certificate's TLS). 0, or -1
 * (ENOMEM, logged). sm_fleet.c's too. */
int sm_open_listener(struct sm *s, const struct st_listener *rec);

/* sm_route.c. The listener's routing once ops[0..n) are applied to the layer-7 set: 0 (*l7 NULL:
 * no domains), or -1 with err ("out of memory", or what px_l7_new() refused). */
struct px_l7;
int sm_build_routing(struct sm *s, const char *lsn, const struct st_op *ops, size_t n,
	struct px_l7 **l7, char *err, size_t errlen);

/* sm_l7.c. The layer-7 ops (SM_CREATE_DOMAIN ... SM_SET_HEADERS), whole or nothing; they take
 * the table's lock. */
void sm_l7_apply(struct sm *s, const struct sm_change *c, struct sm_outcome *out);
/* A listener's domains and rules: how many; their deletions into ops (room for that many),
 * returning how many. For DeleteListeners' one change. */
size_t sm_l7_listener_objects(const struct sm *s, const char *listener);
size_t sm_l7_listener_dels(const struct sm *s, const char *listener, struct st_op *ops);
/* After the real servers and the listeners: the domains, then the rules (one whose listener or
 * domain is gone is logged and skipped), then each listener's routing. 0, or -1 with err
 * (ENOMEM). Takes the table's lock. */
int sm_l7_restore(struct sm *s, char *err, size_t errlen);

/* sm_tls.c. Certificates and HTTPS listeners (SM_CREATE_CERT ... SM_SET_TLS), whole or
 * nothing; they take the table's lock. */
void sm_tls_apply(struct sm *s, const struct sm_change *c, struct sm_outcome *out);
/* An HTTPS listener's own certificates name certificates of the right types, its client CAs fit
 * its AuthType: 0, or -1 with out filled. */
int sm_tls_check_listener(struct sm *s, const struct st_https *h, struct sm_outcome *out);
/* A domain's certificate fields (its record as it will be) on listener rec: 0, or -1 with out
 * filled. */
int sm_tls_check_domain(struct sm *s, const struct st_listener *rec, json_t *fields,
	struct sm_outcome *out);
/* The TLS of listener rec once the domain ops among ops[0..n) are applied to the set: 0 with *srv
 * (NULL for a listener that is not HTTPS), or -1 with out filled (SM_E_TLS, SM_E_NOMEM).
 * Under the table's lock (the ticket ring). */
struct tls_srv;
int sm_tls_build(struct sm *s, const struct st_listener *rec, const struct st_op *ops, size_t n,
	struct tls_srv **srv, struct sm_outcome *out);
/* The certificates from the store (before the listeners): 0, or -1 with err. */
int sm_tls_restore_certs(struct sm *s, char *err, size_t errlen);
/* Every HTTPS listener's TLS from the sets (after the domains): one that cannot be built is
 * logged and refuses connections. 0, or -1 on ENOMEM. Under the table's lock. */
int sm_tls_restore_listeners(struct sm *s);

#endif
