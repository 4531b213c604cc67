/* control/act_l7.c - see act_l7.h. */
#include "act_l7.h"

#include <stdio.h>
#include <string.h>

#include "actions.h"
#include "cfg.h"
#include "creds.h"
#include "listener.h"
#include "health/hc.h"
#include "params.h"
#include "state/l7.h"
#include "state/rs.h"

/* Layer-7 objects hang under HTTP and HTTPS listeners only. */
static int layer7(const char *protocol)
{
	return strcmp(protocol, "HTTP") == 0 || strcmp(protocol, "HTTPS") == 0;
}

enum ctl_err ctl_l7_listener(struct ctl_call *call, const char *id, enum ctl_err bad_protocol,
	struct st_listener *rec)
{
	const struct lsn *l;
	int found;
	lsn_table_lock(call->deps->listeners);
	if ((found = (l = lsn_table_find(call->deps->listeners, id)) != NULL))
		*rec = l->rec;
	lsn_table_unlock(call->deps->listeners);
	if (!found)
		return ctl_fail(call, CTL_E_RESOURCE_NOT_FOUND, "ListenerId(%s) Not Exist.", id);
	if (!layer7(rec->protocol))
		return ctl_fail(call, bad_protocol, "Listener %s is a %s listener; domains and rules "
			"exist on HTTP and HTTPS listeners only.", id, rec->protocol);
	if (!ctl_may_manage_listener(call, rec))
		return ctl_fail(call, CTL_E_UNAUTHORIZED_OPERATION, "SecretId %s may not manage "
			"listener %s.", call->cred->secret_id, id);
	return CTL_E_OK;
}

enum ctl_err ctl_l7_rule(struct ctl_call *call, const char *id, const char *listener,
	enum ctl_err not_found, const struct l7_rule **out, struct st_listener *rec)
{
	const struct l7_rule *r = l7_rule_find(sm_l7(call->deps->sm), id);
	enum ctl_err e;
	if (r == NULL || (listener != NULL && strcmp(listener, r->listener) != 0))
		return ctl_fail(call, not_found, "RuleId(%s) Not Exist.", id);
	if ((e = ctl_l7_listener(call, r->listener, CTL_E_INVALID_PARAMETER_VALUE, rec)) != CTL_E_OK)
		return e == CTL_E_RESOURCE_NOT_FOUND ?
			ctl_fail(call, not_found, "RuleId(%s) Not Exist.", id) : e;
	*out = r;
	return CTL_E_OK;
}

enum ctl_err ctl_l7_running(struct ctl_call *call, const struct st_listener *rec)
{
	const struct cfg_group *g = rec->group_id[0] ? cfg_find_group(call->deps->cfg,
		rec->group_id) : NULL;
	const struct cfg_proxy *p = rec->group_id[0] ? NULL : cfg_find_proxy(call->deps->cfg,
		rec->proxy_id);
	if (g != NULL && strcmp(g->status, "RUNNING") != 0)
		return ctl_fail(call, CTL_E_GROUP_STATUS_NOT_IN_RUNING, "Proxy group %s is %s, not "
			"RUNNING.", g->id, g->status);
	if (p != NULL && strcmp(p->status, "RUNNING") != 0)
		return ctl_fail(call, CTL_E_INSTANCE_STATUS_NOT_IN_RUNING, "Proxy %s is %s, not "
			"RUNNING.", p->id, p->status);
	return CTL_E_OK;
}

int ctl_l7_allowed(const struct st_listener *rec, void *arg)
{
	struct ctl_call *call = arg;
	if (ctl_may_manage_listener(call, rec))
		return 1;
	ctl_fail(call, CTL_E_UNAUTHORIZED_OPERATION, "SecretId %s may not manage listener %s.",
		call->cred->secret_id, rec->id);
	return 0;
}

/* The limits' refusals: which node setting was reached. */
static enum ctl_err limit_error(struct ctl_call *call, const struct sm_change *c,
	const struct sm_outcome *o)
{
	switch (o->err) {
	case SM_E_DOMAIN_LIMIT:
		return ctl_fail(call, CTL_E_LIMIT_EXCEEDED, "Listener %s already has its maximum of "
			"domains (node.max_domains_per_listener).", c->id);
	case SM_E_RULE_LIMIT:
		return ctl_fail(call, CTL_E_LIMIT_NUM_OF_RULES, "Listener %s already has its maximum "
			"of rules (node.max_rules_per_listener).", c->id);
	case SM_E_BIND_LIMIT:
		return ctl_fail(call, CTL_E_LIMIT_REAL_SERVER_NUM, "A rule binds at most "
			"node.max_bindings_per_rule real servers.");
	case SM_E_HEADER_LIMIT:
		return ctl_fail(call, CTL_E_LIMIT_EXCEEDED, "A rule has at most "
			"node.max_headers_per_rule custom headers.");
	default:
		return CTL_E_INTERNAL_ERROR;
	}
}

static const char *or(const char *detail, const char *fallback)
{
	return detail[0] != '\0' || fallback == NULL ? detail : fallback;
}

enum ctl_err ctl_l7_sm_error(struct ctl_call *call, const struct sm_change *c,
	const struct sm_outcome *o)
{
	switch (o->err) {
	case SM_OK:
		return CTL_E_OK;
	case SM_E_NOT_FOUND:
		return ctl_fail(call, CTL_E_RESOURCE_NOT_FOUND, "ListenerId(%s) Not Exist.",
			or(o->detail, c->id));
	case SM_E_NO_DOMAIN:
		return ctl_fail(call, CTL_E_RESOURCE_NOT_FOUND, "Domain(%s) Not Exist.",
			or(o->detail, c->name));
	case SM_E_NO_RULE:
		return ctl_fail(call, CTL_E_RESOURCE_NOT_FOUND, "RuleId(%s) Not Exist.",
			or(o->detail, c->rule));
	case SM_E_DOMAIN_EXISTS:
		return ctl_fail(call, CTL_E_DOMAIN_ALREADY_EXISTED, "Domain(%s) already exists on "
			"listener %s.", o->detail, c->id);
	case SM_E_RULE_EXISTS:
		return ctl_fail(call, CTL_E_RULE_ALREADY_EXISTED, "The domain already has a rule with "
			"Path %s.", o->detail);
	case SM_E_DOMAIN_LIMIT:
	case SM_E_RULE_LIMIT:
	case SM_E_BIND_LIMIT:
	case SM_E_HEADER_LIMIT:
		return limit_error(call, c, o);
	case SM_E_RS_UNKNOWN:
		return ctl_fail(call, CTL_E_RS_NOT_BELONG, "RealServerId(%s) Not Exist.", o->detail);
	case SM_E_RS_MISMATCH:
		return ctl_fail(call, CTL_E_INVALID_PARAMETER_VALUE, "%s", o->detail);
	case SM_E_RS_BOUND:
		return ctl_fail(call, CTL_E_RS_ALREADY_BOUND, "%s(%s) has real servers bound; unbind "
			"them first, or delete with Force 1.", c->op == SM_DELETE_DOMAIN ? "Domain" :
			"RuleId", or(o->detail, c->op == SM_DELETE_DOMAIN ? c->name : c->rule));
	case SM_E_DESTROYING:
		return ctl_fail(call, CTL_E_LISTENER_STATUS_ERROR, "Listener %s is being deleted.",
			or(o->detail, c->id));
	case SM_E_PROXY_NOT_RUNNING:
		return ctl_fail(call, CTL_E_INSTANCE_STATUS_NOT_IN_RUNING, "Proxy %s is %s, not "
			"RUNNING.", o->proxy ? o->proxy->id : "-", o->proxy ? o->proxy->status : "-");
	case SM_E_FORBIDDEN:
		return CTL_E_UNAUTHORIZED_OPERATION;     /* ctl_l7_allowed() worded it */
	case SM_E_STORE:
		return ctl_store_error(call, o->sys);
	case SM_E_CERT_UNKNOWN:
		return ctl_fail(call, CTL_E_INVALID_PARAMETER_VALUE, "CertificateId(%s) names no "
			"certificate of the type needed (server: 2, client CA: 1).", o->detail);
	case SM_E_CERT_NO_MATCH:
		return ctl_fail(call, CTL_E_CERTIFICATE_NOT_MATCH_DOMAIN, "The certificate's names "
			"do not cover the domain: %s.", o->detail);
	case SM_E_CERT_PARAM:
		return ctl_fail(call, CTL_E_INVALID_PARAMETER_VALUE, "%s.", o->detail);
	case SM_E_TLS:
		return ctl_fail(call, CTL_E_FAILED_OPERATION, "The TLS library refused the listener's "
			"TLS with this change: %s. Nothing was changed.", o->detail);
	default:
		return CTL_E_INTERNAL_ERROR;
	}
}

enum ctl_err ctl_l7_force(struct ctl_call *call, int *force)
{
	uint64_t f = 0;
	(void)ctl_param_uint(call, "Force", &f);
	if (f > 1)
		return ctl_fail(call, CTL_E_INVALID_PARAMETER_VALUE, "Force must be 0 or 1.");
	*force = (int)f;
	return CTL_E_OK;
}

int ctl_l7_host_valid(const char *s, int with_port)
{
	char host[RS_ADDR_MAX], key[RS_ADDR_MAX];
	const char *colon = strchr(s, ':');
	uint64_t port;
	size_t len = strlen(s);
	if (with_port && colon != NULL && strchr(colon + 1, ':') == NULL) {
		if (ctl_parse_uint(colon + 1, &port) != 0 || port < 1 || port > 65535)
			return 0;
		len = (size_t)(colon - s);
	}
	if (len == 0 || len >= sizeof(host))
		return 0;
	memcpy(host, s, len);
	host[len] = '\0';
	return rs_addr_key(host, key) == 0;
}

/* RealServerStatus (§4.5: 0 normal, 1 abnormal): what the binding's active check says, through
 * its listener's routing; 0 whenever the rule has HealthCheck 0 (no check). DownIPList stays []
 * for DOMAIN servers too: a name's target is one check (hc.h), not one per resolved address. */
static int binding_abnormal(struct sm *sm, const struct l7_rule *r, size_t i)
{
	struct hc_snap snap;
	return sm_binding_health(sm, r->id, i, &snap) == 0 && !snap.up;
}

static json_t *binding_json(const struct rs_set *servers, const json_t *b, int abnormal)
{
	const char *id = json_string_value(json_object_get(b, "RealServerId"));
	const struct rs *r = id != NULL ? rs_find(servers, id) : NULL;
	const char *ip = r != NULL ? json_string_value(json_object_get(r->fields, "RealServerIP")) : "";
	return json_pack("{s:s?, s:s, s:O, s:O, s:i, s:[], s:s}", "RealServerId", id,
		"RealServerIP", ip != NULL ? ip : "",
		"RealServerPort", json_object_get(b, "RealServerPort"),
		"RealServerWeight", json_object_get(b, "RealServerWeight"),
		"RealServerStatus", abnormal, "DownIPList", "RealServerFailoverRole", "");
}

json_t *ctl_l7_bindings_json(struct sm *sm, const struct l7_rule *r, size_t *abnormal)
{
	json_t *set = json_array(), *b;
	size_t i;
	*abnormal = 0;
	json_array_foreach(json_object_get(r->fields, "RealServerSet"), i, b) {
		int down = binding_abnormal(sm, r, i);
		*abnormal += (size_t)down;
		if (set != NULL &&
		    json_array_append_new(set, binding_json(sm_real_servers(sm), b, down)) != 0) {
			json_decref(set);
			set = NULL;
		}
	}
	return set;
}

/* CheckParams with every member; an empty Domain is the rule's domain (it follows renames). */
static json_t *check_params_json(const json_t *fields, const char *domain)
{
	json_t *cp = json_deep_copy(json_object_get(fields, "CheckParams"));
	const char *d = json_string_value(json_object_get(cp, "Domain"));
	if (cp != NULL && (d == NULL || d[0] == '\0') &&
	    json_object_set_new(cp, "Domain", json_string(domain)) != 0) {
		json_decref(cp);
		cp = NULL;
	}
	return cp;
}

json_t *ctl_l7_rule_json(struct sm *sm, const struct l7_rule *r)
{
	size_t abnormal;
	json_t *set = ctl_l7_bindings_json(sm, r, &abnormal);
	const struct l7_domain *d = l7_domain_by_id(sm_l7(sm), r->domain);
	const char *domain = d != NULL ? json_string_value(json_object_get(d->fields, "Domain")) : "";
	const json_t *f = r->fields;
	json_t *redirect = json_object_get(f, "ForcedRedirect");
	const char *sni = json_string_value(json_object_get(f, "ServerNameIndication"));
	if (json_is_string(redirect) && json_string_length(redirect) == 0)
		redirect = NULL;
	/* BindStatus 1 normal, 0 abnormal: a binding's check says down (§4.5, the opposite of
	 * RealServerStatus) */
	return json_pack("{s:s, s:s, s:s, s:O, s:O, s:O, s:O, s:i, s:o?, s:o?, s:i, s:O, s:O, "
		"s:s, s:O?, s:O}",
		"RuleId", r->id, "ListenerId", r->listener, "Domain", domain != NULL ? domain : "",
		"Path", json_object_get(f, "Path"),
		"RealServerType", json_object_get(f, "RealServerType"),
		"Scheduler", json_object_get(f, "Scheduler"),
		"HealthCheck", json_object_get(f, "HealthCheck"),
		"RuleStatus", 0, "CheckParams", check_params_json(f, domain != NULL ? domain : ""),
		"RealServerSet", set, "BindStatus", abnormal != 0 ? 0 : 1,
		"ForwardHost", json_object_get(f, "ForwardHost"),
		"ServerNameIndicationSwitch", json_object_get(f, "ServerNameIndicationSwitch"),
		"ServerNameIndication", sni != NULL ? sni : "", "ForcedRedirect", redirect,
		"ForwardProtocol", json_object_get(f, "ForwardProtocol"));
}
