/* daemon/state/sm.h - the node's state machine: the one path by which what the node serves
 *   changes. An API call, the restore at start, a reload and the fleet's watch
 *   (sm_apply_records) all go through it. It owns the rules between records (a listener's port
 *   is unique on each proxy it occupies, a proxy holds at most max_listeners, its proxies must be
 *   RUNNING; in a fleet the store's transaction enforces them across nodes) and the order
 *   that can be undone: sockets, then the store (durable before sm_apply() returns), then the
 *   workers. A refused or failed change leaves sockets, store and workers as they were.
 * Who asks is the caller's business: control/ resolves the caller's target and permissions,
 *   builds a change, and words the answer from the outcome.
 * Ownership: sm borrows the store, the listener table, the configuration and the health checker
 *   (sm_set_checker) it is given; it owns the real server set (rs.h) and the layer-7 set (l7.h)
 *   it keeps in step with the store, and hands each listener the routing it builds from them
 *   (lsn_table_set_l7).
 * Threads: one caller at a time (the control thread); sm takes the table's lock itself.
 */
#ifndef GAAPD_STATE_SM_H
#define GAAPD_STATE_SM_H

#include <stddef.h>

#include <jansson.h>
#include <stdint.h>

#include "store.h"

struct cfg;
struct cfg_proxy;
struct hc_checker;
struct hc_snap;
struct l7_set;
struct lsn_table;
struct rs_set;
struct sm;

enum sm_op {
	SM_CREATE_LISTENER,         /* rec: all but id and create_time, which sm gives it; an HTTPS
	                             * one with rec.https complete (the caller put cfg tls's
	                             * defaults in versions and ciphers) */
	SM_RENAME_LISTENER,         /* id, name */
	SM_DELETE_LISTENERS,        /* ids, within the scope; force. Their domains and rules go in
	                             * the same change */
	SM_ADD_REAL_SERVERS,        /* ids: the addresses (trimmed); name, project, tags */
	SM_REMOVE_REAL_SERVERS,     /* ids; none may be bound to a rule (SM_E_RS_BOUND) */
	SM_RENAME_REAL_SERVER,      /* id, name */
	/* Layer 7 (l7.h). Each names its listener by id (CREATE/MODIFY/DELETE_DOMAIN, CREATE/MODIFY/
	 * DELETE_RULE) or reaches it through rule (BIND_RULE, SET_HEADERS); allowed() is asked with
	 * that listener's record. fields: checked by the caller for types, ranges and syntax; sm
	 * checks what depends on the state (existence, uniqueness, limits, the listener's status). */
	SM_CREATE_DOMAIN,           /* id; fields: Domain, IsDefaultServer and the certificate
	                             * members (sm adds ListenerId, CreateTime) */
	SM_MODIFY_DOMAIN,           /* id; name: the old domain; fields: the domain's complete new
	                             * fields (the caller merged what the call keeps) */
	SM_DELETE_DOMAIN,           /* id; name: the domain; force */
	SM_CREATE_RULE,             /* id; name: the domain; fields: the rule without RuleId,
	                             * ListenerId, DomainId, RealServerSet, Headers, CreateTime;
	                             * out.id: the new RuleId */
	SM_MODIFY_RULE,             /* id; rule; fields: the rule's complete new fields */
	SM_DELETE_RULE,             /* id; rule; force */
	SM_BIND_RULE,               /* rule; fields: the new RealServerSet, [{RealServerId,
	                             * RealServerIP, RealServerPort, RealServerWeight}] */
	SM_SET_HEADERS,             /* rule; fields: the new Headers, [{HeaderName, HeaderValue}] */
	/* Certificates (state/certs.h) and HTTPS listeners (§6, §7). A domain's certificates are
	 * its fields CertificateId (null: the listener's) and PolyClientCertificateIds ([]: the
	 * listener's), changed by SM_CREATE_DOMAIN / SM_MODIFY_DOMAIN (ModifyCertificate is a
	 * SM_MODIFY_DOMAIN keeping the name); sm checks them against the set and the listener.
	 * Every change to what an HTTPS listener presents builds its tls_srv before the store write
	 * (a refusal refuses the change: SM_E_TLS) and hands it to the listener after. */
	SM_CREATE_CERT,             /* fields: the record but CertificateId and CreateTime (the
	                             * caller checked it with tls_cert_check()); out.id: the id */
	SM_RENAME_CERT,             /* id; name: the new alias */
	SM_DELETE_CERT,             /* id; refused while in use (SM_E_CERT_IN_USE) */
	SM_MODIFY_HTTPS_LISTENER,   /* id; scope_proxy (NULL: any); allowed; name: the new name
	                             * (NULL: kept); fields: {ForwardProtocol, CertificateId,
	                             * ClientCertificateIds ([string])}, each absent: kept */
	SM_SET_TLS,                 /* id; allowed; tls_versions, tls_ciphers */
};

/* Why a change was refused or failed; SM_OK when it is done and durable. */
enum sm_err {
	SM_OK,
	SM_E_PORT_RESERVED,         /* the port is the node's own (control, metrics ...) */
	SM_E_GROUP_EMPTY,           /* the group has no configured proxy to listen on */
	SM_E_PROXY_NOT_RUNNING,     /* out.proxy */
	SM_E_DUPLICATED_PORT,       /* out.proxy already has a listener on the port */
	SM_E_LISTENER_LIMIT,        /* out.proxy has max_listeners */
	SM_E_BIND,                  /* out.proxy's socket: out.sys */
	SM_E_STORE,                 /* out.sys; out.detail for the log */
	SM_E_NOT_FOUND,             /* no such listener in the scope */
	SM_E_FORBIDDEN,             /* the change's allowed() said no */
	SM_E_GROUP_LISTENER,        /* a group's listener cannot be renamed; out.detail: the group */
	SM_E_DESTROYING,            /* the listener is being deleted */
	SM_E_NOMEM,
	SM_E_BAD_ADDRESS,           /* out.detail: an address that is no IP literal or host name */
	SM_E_DUPLICATE_RS,          /* out.detail: an address registered already, or twice here */
	SM_E_RS_LIMIT,              /* node.max_real_servers would be passed */
	SM_E_RS_BOUND,              /* out.detail: a real server still bound to a rule; or (force 0)
	                             * the listener, domain or rule that still has bindings */
	SM_E_NO_DOMAIN,             /* out.detail: the domain is not on the listener */
	SM_E_DOMAIN_EXISTS,         /* out.detail: the listener has that name already (any case) */
	SM_E_DOMAIN_LIMIT,          /* node.max_domains_per_listener */
	SM_E_NO_RULE,               /* out.detail: no such rule (under the listener, if named) */
	SM_E_RULE_EXISTS,           /* out.detail: the domain has a rule with that path already */
	SM_E_RULE_LIMIT,            /* node.max_rules_per_listener */
	SM_E_RS_UNKNOWN,            /* out.detail: a RealServerId that names no real server */
	SM_E_RS_MISMATCH,           /* out.detail: why a binding does not fit its real server (the IP
	                             * is not its address, its kind is not the rule's type) */
	SM_E_BIND_LIMIT,            /* node.max_bindings_per_rule */
	SM_E_HEADER_LIMIT,          /* node.max_headers_per_rule */
	SM_E_CERT_UNKNOWN,          /* out.detail: a certificate id naming none of the type needed */
	SM_E_CERT_NO_MATCH,         /* out.detail: the domain a server certificate does not cover */
	SM_E_CERT_PARAM,            /* out.detail, words for the caller: certificates where they
	                             * cannot be (client CAs with AuthType 0, any on an HTTP
	                             * listener), AuthType 1 without client CAs, too many */
	SM_E_CERT_IN_USE,           /* out.detail: who uses it ("listener listener-x", "domain
	                             * a.example.com of listener listener-x") */
	SM_E_NOT_HTTPS,             /* the listener is not HTTPS (SM_MODIFY_HTTPS_LISTENER, SET_TLS) */
	SM_E_TLS,                   /* the TLS library refused the listener's TLS: out.detail */
};

/* What a deletion did to each id asked for (out.verdicts[i] for ids[i]). */
enum sm_verdict {
	SM_NOT_IN_SCOPE,            /* unknown, or another proxy's or group's */
	SM_DELETED,
	SM_STILL_STOPPING,          /* gone from the store; a retry finishes stopping it */
};

struct sm_change {
	enum sm_op op;
	struct st_listener rec;             /* CREATE */
	const char *id, *name;              /* RENAME */
	const char *const *ids;             /* DELETE: without repeats */
	size_t nids;
	/* RENAME and DELETE: the proxy or group the listeners must belong to (both NULL: any; a
	 * proxy scope means its own listeners, not its group's). */
	const char *scope_proxy, *scope_group;
	/* RENAME: may the caller touch this listener? NULL: yes. */
	int (*allowed)(const struct st_listener *rec, void *arg);
	void *allowed_arg;
	const char *rule;                   /* MODIFY/DELETE_RULE, BIND_RULE, SET_HEADERS: RuleId */
	json_t *fields;                     /* layer 7: see the ops (borrowed) */
	int force;                          /* DELETE_LISTENERS, DELETE_DOMAIN, DELETE_RULE: 1 deletes
	                                     * bindings too; 0 refuses (SM_E_RS_BOUND) */
	int64_t project;                    /* ADD_REAL_SERVERS: ProjectId */
	json_t *tags;                       /* ADD_REAL_SERVERS: TagSet, checked (borrowed) */
	unsigned tls_versions;              /* SET_TLS: TLS_V* bits, not 0 */
	int tls_ciphers;                    /* SET_TLS: enum tls_ciphers */
};

struct sm_outcome {
	enum sm_err err;
	int sys;                            /* errno of SM_E_BIND and SM_E_STORE */
	const struct cfg_proxy *proxy;      /* the proxy a refusal is about */
	char detail[256];                   /* the store's words, for the log (or see above) */
	char id[ST_ID_MAX];                 /* CREATE: the new listener's id (CREATE_CERT: the
	                                     * certificate's, CREATE_RULE: the rule's) */
	unsigned char *verdicts;            /* DELETE: nids of them, the caller's array */
	char (*new_ids)[ST_ID_MAX];         /* ADD_REAL_SERVERS: nids of them, the caller's */
};

/* A state machine over store and t, deciding with cfg; new_id() makes a new object's id in the
 * API's format (prefix "listener", "rs": listener-xxxxxxxx), 0 or -1. NULL on ENOMEM. */
struct sm *sm_new(struct st *store, struct lsn_table *t, const struct cfg *cfg,
	int (*new_id)(const char *prefix, char *out, size_t len));

/* The real servers and the layer-7 objects, for Describe (read on the caller's thread, between
 * changes). */
const struct rs_set *sm_real_servers(const struct sm *s);
const struct l7_set *sm_l7(const struct sm *s);
struct cs_set;
const struct cs_set *sm_certs(const struct sm *s);
void sm_free(struct sm *s);         /* NULL-safe; frees nothing it borrows */

/* The active health checker (health/hc.h, borrowed; it must outlive every routing sm builds,
 * or be stopped first: hc_stop() leaves targets readable) that routings take their checks from.
 * Before sm_restore(); without one (NULL, as in unit tests) rules with HealthCheck 1 build no
 * checks and every binding shows normal. */
void sm_set_checker(struct sm *s, struct hc_checker *c);

/* The health of rule_id's binding-th binding (its index in the rule's RealServerSet) as its
 * listener's current routing sees it: 0 with out filled; -1 when the rule has HealthCheck 0, the
 * binding or rule is unknown, or the listener has no routing (all: shown normal). Takes the
 * table's lock. */
int sm_binding_health(struct sm *s, const char *rule_id, size_t binding, struct hc_snap *out);
/* For /metrics: fn once per live check target (hc_each()) with what it has seen and its check
 * as text ("HEAD /health example.com"). fn runs under the checker's lock (hc_each()): it must not
 * call into the checker or sm. */
void sm_health_each(struct sm *s, void (*fn)(const struct hc_snap *snap, const char *check,
	void *arg), void *arg);

/* Start: every stored listener into the table. One that cannot be bound any more is restored
 * anyway, not serving (LSN_CREATING, its fault logged and shown by Describe): dropping a
 * confirmed listener silently would be worse. 0, or -1 with err (the store could not be read,
 * or ENOMEM). */
int sm_restore(struct sm *s, char *err, size_t errlen);

/* Reload: decide with next from now on if it can serve every listener as bound now (each proxy
 * and group it occupies still exists, same bind address and members): 0. Otherwise -1 with err,
 * and nothing changed. ctl_reconfigure() and the swap of the old cfg are the caller's; commit()
 * runs under the table lock once the listeners have switched, so that no call is decided with
 * one configuration and served with the other. */
int sm_reconfigure(struct sm *s, const struct cfg *next,
	void (*commit)(void *arg), void *arg, char *err, size_t errlen);

/* Applies c whole or not at all. out->err says which; SM_OK means serving, and written to the
 * store, but durable only once sm_sync() has returned 0 (sm_unsynced() says whether it must be
 * called): the caller answers after that. */
void sm_apply(struct sm *s, const struct sm_change *c, struct sm_outcome *out);

/* Group commit. Changes applied since the last sm_sync() are written but maybe not durable;
 * sm_sync() makes all of them durable at once (one fdatasync for every change applied before it:
 * callers that batch their answers share it). 0, or -1 with err: then changes that the node
 * serves may not be on disk, and nothing after them can be made durable; the caller must answer
 * none of them and stop (the restart serves what is on disk). */
int sm_unsynced(const struct sm *s);
int sm_sync(struct sm *s, char *err, size_t errlen);

/* The fleet (issue 16; store.h, the etcd back end's feed): make what this node serves match
 * records another node wrote. ops[0..n) are one change: puts of whole records and dels, of any
 * kind, in any order (a rule may come before its domain, a listener's dels after its rules').
 * Nothing is checked against policy (the writing node and the store's transaction did), and
 * nothing is written to the store (the back end keeps its cache). Only what differs from what
 * sm has is touched: a put equal to what sm has changes nothing, a listener whose record is
 * unchanged keeps its sockets and connections (a changed name or TLS members are updated in
 * place, never rebound), a routing or TLS is rebuilt only for a listener whose domains, rules,
 * bindings, real servers or certificates changed. A listener this node cannot bind (its port
 * taken here, its proxy not configured here) is added anyway, not serving (LSN_CREATING with its
 * fault, as sm_restore() does), and logged. Applying the same change twice is the same as once.
 * 0, or -1 with err (ENOMEM): what was applied stays, the rest is left. */
int sm_apply_records(struct sm *s, const struct st_op *ops, size_t n, char *err, size_t errlen);

/* What the state machine has done since start, for /metrics. */
struct sm_counts {
	uint64_t changes;           /* changes written to the store */
	uint64_t syncs;             /* sm_sync() calls that made changes durable (group commits) */
};
void sm_counts(const struct sm *s, struct sm_counts *out);

#endif
