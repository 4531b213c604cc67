/* control/act_listener.h - what act_listener.c (HTTP listeners, DeleteListeners) shares with
 * act_https.c (HTTPS listeners, l7-and-https.md §6): creating a listener from a call, Describe's
 * filters and paging, and the state machine's refusals in the API's words.
 * Threads: the control thread (as every action).
 */
#ifndef GAAPD_CTL_ACT_LISTENER_H
#define GAAPD_CTL_ACT_LISTENER_H

#include <jansson.h>

#include "api.h"
#include "state/sm.h"

struct cfg_proxy;
struct lsn;

/* After ctl_params_check(): ListenerName, Port and ProxyId / GroupId of the call into c->rec (its
 * protocol, and for HTTPS its https members, the caller's), the change applied, ListenerId
 * answered. */
enum ctl_err ctl_listener_create(struct ctl_call *call, struct sm_change *c);

/* One listener of a Describe's ListenerSet: a new reference, or NULL (ENOMEM). Under the
 * table's lock. */
typedef json_t *(*ctl_listener_json_fn)(const struct lsn *l, void *arg);
/* After ctl_params_check(): the listeners of protocol that the call's filters (ProxyId, GroupId,
 * ListenerId, ListenerName, Port, SearchValue, Offset, Limit) select, each as json() makes it,
 * into TotalCount and ListenerSet. none: a filter of the caller's matches nothing (TotalCount
 * 0). */
enum ctl_err ctl_listener_describe(struct ctl_call *call, const char *protocol, int none,
	ctl_listener_json_fn json, void *arg);

/* ListenerStatus of l (under the table's lock): with a fleet's store (deps->fleet), 1 while a
 * live node serving one of the proxies l occupies has not reported it bound (st_etcd_listener_
 * status), else, as with the file store, this node's own status (listener.h). */
int ctl_listener_status(const struct ctl_deps *d, const struct lsn *l);

/* The state machine's refusal of a listener change (create, modify, TLS) in the API's words. */
enum ctl_err ctl_listener_sm_error(struct ctl_call *call, const struct sm_change *c,
	const struct sm_outcome *o);
/* A ProxyId value the call's key may manage (ResourceNotFound, NotSupportProxyGroup ...). */
enum ctl_err ctl_listener_resolve_proxy(struct ctl_call *call, const char *id,
	const struct cfg_proxy **out);

#endif
