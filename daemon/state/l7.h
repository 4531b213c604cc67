/* daemon/state/l7.h - the layer-7 objects a node knows (spec l7-and-https.md §3-5): each
 *   listener's domains (exact names, at most one default) and each domain's rules (a path, a
 *   scheduler, forwarding options, the bound real servers and the custom headers). This is the
 *   in-memory set; the state machine (sm.c) keeps it and the store's "domain" and "rule" records
 *   in step, and builds each listener's routing (px_l7, daemon/proxy/px.h) from it.
 * Records (the store's fields, what Describe reads; the schemas live in l7.c, st_check() calls
 *   them):
 *   domain  id: an internal, stable "dom-xxxxxxxx" (never shown: the API names a domain by its
 *           listener and name, and a rename must not rewrite its rules).
 *           {ListenerId, Domain (as sent), IsDefaultServer (bool), CertificateId (string|null),
 *            ClientCertificateId (string|null), PolyClientCertificateIds ([string]), CreateTime}
 *   rule    id: the API's RuleId, "rule-xxxxxxxx".
 *           {RuleId, ListenerId, DomainId, Path, RealServerType ("IP"|"DOMAIN"), Scheduler
 *            ("rr"|"wrr"|"lc"|"lrtt"), HealthCheck (0|1), CheckParams (object, every member of
 *            §4.1), ForwardProtocol ("default"|"HTTP"|"HTTPS"), ForwardHost ("default" or a
 *            host), ServerNameIndicationSwitch ("ON"|"OFF"), ServerNameIndication (string),
 *            ForcedRedirect (string|null), RealServerSet ([{RealServerId, RealServerPort,
 *            RealServerWeight}], binding order), Headers ([{HeaderName, HeaderValue}]),
 *            CreateTime}
 *   A rule's binding names its real server by id only: the address is the real server's (rs.h).
 * Ownership: the set owns its entries and one reference to each entry's fields. An entry's
 *   address is stable while it is in the set; fields are replaced, never changed in place.
 * Threads: the control thread only.
 */
#ifndef GAAPD_STATE_L7_H
#define GAAPD_STATE_L7_H

#include <jansson.h>
#include <stddef.h>

#include "cfg.h"
#include "store.h"

#define L7_DOMAIN_KIND "domain"
#define L7_RULE_KIND "rule"
#define L7_DOMAIN_MAX 81            /* 3..80 characters, and the NUL */

struct l7_domain {
	char id[ST_ID_MAX];             /* dom-xxxxxxxx */
	char listener[ST_ID_MAX];
	char key[L7_DOMAIN_MAX];        /* the name compared: lower case */
	json_t *fields;
	const char *name;               /* Domain as sent (in fields) */
	int is_default;                 /* IsDefaultServer */
};

/* What a listener's routing (sm_route.c) needs of a rule, parsed from its fields once, when the
 * rule is put (a rebuild walks every rule of the listener: reading the JSON each time made
 * provisioning quadratic in jansson). Strings point into the fields parsed, so a route lives no
 * longer than they do; one allocation (l7_route_new()). */
struct hc_params;
enum l7_forward {
	L7_FWD_LISTENER,                /* "default": the listener's (HTTP for an HTTP listener) */
	L7_FWD_HTTP,
	L7_FWD_HTTPS,
};
struct l7_binding {
	const char *rs;                 /* RealServerId; its address is the real server's (rs.h) */
	unsigned port, weight;
};
struct l7_header {
	const char *name, *value;
};
struct l7_route {
	const char *path;
	enum cfg_sched sched;           /* Scheduler; lrtt as CFG_SCHED_LC (least connections
	                                 * stands in, §9) */
	const char *forward_host;       /* NULL: the client's Host ("default" or empty) */
	enum l7_forward forward;        /* ForwardProtocol */
	const char *forced_redirect;    /* NULL: off (null or empty) */
	const struct hc_params *check;  /* HealthCheck 1: CheckParams normalized (defaults, ranges,
	                                 * seconds to ms), host "" when CheckParams.Domain is empty
	                                 * (the rule's domain's name then); NULL: HealthCheck 0 */
	const struct l7_binding *bindings;      /* RealServerSet, in binding order */
	size_t nbindings;
	const struct l7_header *headers;
	size_t nheaders;
};

struct l7_rule {
	char id[ST_ID_MAX];             /* rule-xxxxxxxx */
	char listener[ST_ID_MAX];
	char domain[ST_ID_MAX];         /* its domain's id */
	json_t *fields;
	const struct l7_route *route;   /* of fields; NULL when the put ran out of memory (the
	                                 * routing then parses fields itself) */
};

/* fields' route (any fields l7_rule_check() accepts): NULL on ENOMEM. l7_route_free: NULL-safe. */
struct l7_route *l7_route_new(const json_t *fields);
void l7_route_free(struct l7_route *r);

struct l7_set;

struct l7_set *l7_set_new(void);
void l7_set_free(struct l7_set *s);     /* NULL-safe */

/* Lookups; every list is in creation order, and every cost is O(1) or O(the answer). */
size_t l7_domain_count(const struct l7_set *s, const char *listener);
const struct l7_domain *l7_domain_at(const struct l7_set *s, const char *listener, size_t i);
/* By name, any case. */
const struct l7_domain *l7_domain_find(const struct l7_set *s, const char *listener,
	const char *name);
const struct l7_domain *l7_domain_by_id(const struct l7_set *s, const char *id);
const struct l7_domain *l7_default_domain(const struct l7_set *s, const char *listener);
size_t l7_rule_count(const struct l7_set *s, const char *domain_id);
const struct l7_rule *l7_rule_at(const struct l7_set *s, const char *domain_id, size_t i);
const struct l7_rule *l7_rule_find(const struct l7_set *s, const char *rule_id);
/* A domain's rules in creation order without a lookup per step (a routing build walks them all):
 * the first (NULL: none), and the one after r in its domain (NULL: the last). */
const struct l7_rule *l7_rule_first(const struct l7_set *s, const char *domain_id);
const struct l7_rule *l7_rule_next(const struct l7_rule *r);
/* Rules of every domain of the listener (node.max_rules_per_listener counts these). */
size_t l7_listener_rule_count(const struct l7_set *s, const char *listener);
/* How many bindings of any rule name the real server (RemoveRealServers refuses while > 0;
 * DescribeRealServersStatus's BindStatus). */
size_t l7_rs_binding_count(const struct l7_set *s, const char *rs_id);
/* Bindings of every rule of the listener's domains (DeleteListeners with Force 0). */
size_t l7_listener_binding_count(const struct l7_set *s, const char *listener);

/* Changes, after the store took them: room first (l7_reserve), so that the adds cannot fail.
 * An add takes a new reference to fields; a put replaces an entry's fields (and for a domain its
 * key, name and default flag, for a rule its route and its bindings' counts). Removing a domain removes its rules; removing a
 * listener's objects removes all its domains and rules. Missing ids are ignored; so is a put
 * that was not reserved, or a rule whose DomainId names no domain. l7_reserve: room for that
 * many domain and rule puts (new or changed); l7_reserve_bindings: for that many bindings in
 * the RealServerSets of the rule puts to come (their real servers' counts). 0 or -1 (ENOMEM;
 * what was reserved stays reserved). */
int l7_reserve(struct l7_set *s, size_t domains, size_t rules);
int l7_reserve_bindings(struct l7_set *s, size_t bindings);
void l7_put_domain(struct l7_set *s, const char *id, json_t *fields);
void l7_put_rule(struct l7_set *s, const char *id, json_t *fields);
void l7_remove_domain(struct l7_set *s, const char *id);
void l7_remove_rule(struct l7_set *s, const char *id);
void l7_remove_listener(struct l7_set *s, const char *listener);

/* A domain name as CreateDomain takes it: 3..80 of [A-Za-z0-9.-], no leading or trailing '.'
 * or '-' in a label, no empty label; its lower-case key. 0, or -1. */
int l7_domain_key(const char *name, char key[L7_DOMAIN_MAX]);

/* The store's schemas for the two kinds: 0, or -1 with err. */
int l7_domain_check(const char *id, json_t *fields, char *err, size_t errlen);
int l7_rule_check(const char *id, json_t *fields, char *err, size_t errlen);

#endif
