/* control/act_l7.h - what the layer-7 action families (act_domain.c, act_rule.c, act_bind.c) share
 * (l7-and-https.md §1, §3-5): finding the listener or rule a call names with the caller's right to
 * it, the state machine's refusals in the API's words, the syntax rules for names, and the answer
 * structures (RuleInfo, BindRealServer). Threads: the control thread (as every action).
 */
#ifndef GAAPD_CTL_ACT_L7_H
#define GAAPD_CTL_ACT_L7_H

#include <jansson.h>

#include "api.h"
#include "state/sm.h"
#include "store.h"

struct l7_rule;
struct rs_set;

/* The listener called id, read under the table lock into *rec: ResourceNotFound when there is
 * none, bad_protocol for a listener that is not HTTP or HTTPS (InvalidListenerProtocol or
 * InvalidParameterValue, per action), UnauthorizedOperation when the key may not manage it. */
enum ctl_err ctl_l7_listener(struct ctl_call *call, const char *id, enum ctl_err bad_protocol,
	struct st_listener *rec);
/* The rule called id with its listener's rights as above; not_found is the code for an unknown
 * rule (ResourceNotFound, or InvalidParameterValue where the action's list has no such code). A
 * listener given (listener != NULL) must be the rule's, else it is not found. *rec: the rule's
 * listener. */
enum ctl_err ctl_l7_rule(struct ctl_call *call, const char *id, const char *listener,
	enum ctl_err not_found, const struct l7_rule **out, struct st_listener *rec);
/* Before a write under the listener rec: its group (GroupStatusNotInRuning) or its proxy
 * (InstanceStatusNotInRuning) must be RUNNING (§1.3); reads need no particular state. */
enum ctl_err ctl_l7_running(struct ctl_call *call, const struct st_listener *rec);
/* sm_change.allowed for the layer-7 ops: the key may manage the listener (the refusal worded). */
int ctl_l7_allowed(const struct st_listener *rec, void *call);
/* The state machine's refusal of c in the words of §3-5 (CTL_E_OK for SM_OK). */
enum ctl_err ctl_l7_sm_error(struct ctl_call *call, const struct sm_change *c,
	const struct sm_outcome *o);

/* Force of a deletion: 0 or 1, else InvalidParameterValue. */
enum ctl_err ctl_l7_force(struct ctl_call *call, int *force);
/* A host name (1-253, labels of [A-Za-z0-9-]) or an IP literal, for ForwardHost, SNI and the
 * health check's Domain: 1 when valid. with_port: a ":port" (1-65535) may follow. */
int ctl_l7_host_valid(const char *s, int with_port);

/* One rule as RuleInfo (§4.5), a new reference or NULL (ENOMEM); BindStatus from its checks. */
json_t *ctl_l7_rule_json(struct sm *sm, const struct l7_rule *r);
/* A rule's bindings as []BindRealServer, a new reference or NULL, RealServerStatus 1 where the
 * rule's active check says down (sm_binding_health()); *abnormal: how many. */
json_t *ctl_l7_bindings_json(struct sm *sm, const struct l7_rule *r, size_t *abnormal);

#endif
