/* control/actions.c - the table of actions, and the rules the action families share (actions.h). */
#include "actions.h"

#include <errno.h>
#include <string.h>

#include "cfg.h"
#include "creds.h"
#include "params.h"
#include "store.h"

#define PAGE_DEFAULT 20

static const struct ctl_action actions[] = {
	{ "CreateHTTPListener", ctl_act_create_http_listener },
	{ "DescribeHTTPListeners", ctl_act_describe_http_listeners },
	{ "ModifyHTTPListenerAttribute", ctl_act_modify_http_listener_attribute },
	{ "DeleteListeners", ctl_act_delete_listeners },
	{ "DescribeProxies", ctl_act_describe_proxies },
	{ "DescribeProxyGroupList", ctl_act_describe_proxy_group_list },
	{ "AddRealServers", ctl_act_add_real_servers },
	{ "DescribeRealServers", ctl_act_describe_real_servers },
	{ "RemoveRealServers", ctl_act_remove_real_servers },
	{ "ModifyRealServerName", ctl_act_modify_real_server_name },
	{ "DescribeRealServersStatus", ctl_act_describe_real_servers_status },
	{ "CreateDomain", ctl_act_create_domain },
	{ "ModifyDomain", ctl_act_modify_domain },
	{ "DeleteDomain", ctl_act_delete_domain },
	{ "DescribeRules", ctl_act_describe_rules },
	{ "CreateRule", ctl_act_create_rule },
	{ "ModifyRuleAttribute", ctl_act_modify_rule_attribute },
	{ "DeleteRule", ctl_act_delete_rule },
	{ "DescribeRulesByRuleIds", ctl_act_describe_rules_by_rule_ids },
	{ "BindRuleRealServers", ctl_act_bind_rule_real_servers },
	{ "DescribeRuleRealServers", ctl_act_describe_rule_real_servers },
	{ "CreateCustomHeader", ctl_act_create_custom_header },
	{ "DescribeCustomHeader", ctl_act_describe_custom_header },
	{ "CreateHTTPSListener", ctl_act_create_https_listener },
	{ "DescribeHTTPSListeners", ctl_act_describe_https_listeners },
	{ "ModifyHTTPSListenerAttribute", ctl_act_modify_https_listener_attribute },
	{ "SetTlsVersion", ctl_act_set_tls_version },
	{ "CreateCertificate", ctl_act_create_certificate },
	{ "DescribeCertificates", ctl_act_describe_certificates },
	{ "DescribeCertificateDetail", ctl_act_describe_certificate_detail },
	{ "ModifyCertificate", ctl_act_modify_certificate },
	{ "ModifyCertificateAttributes", ctl_act_modify_certificate_attributes },
	{ "DeleteCertificate", ctl_act_delete_certificate },
};

const struct ctl_action *ctl_action_find(const char *name)
{
	for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++)
		if (strcmp(actions[i].name, name) == 0)
			return &actions[i];
	return NULL;
}

size_t ctl_action_count(void)
{
	return sizeof(actions) / sizeof(actions[0]);
}

const struct ctl_action *ctl_action_at(size_t i)
{
	return i < ctl_action_count() ? &actions[i] : NULL;
}

size_t ctl_action_index(const struct ctl_action *a)
{
	return (size_t)(a - actions);
}

int ctl_may_manage_proxy(const struct ctl_call *call, const char *proxy_id)
{
	return call->cred == NULL || ctl_cred_allows(call->cred, proxy_id);
}

int ctl_may_manage_group(const struct ctl_call *call, const char *group_id)
{
	const struct cfg_group *g = cfg_find_group(call->deps->cfg, group_id);
	if (call->cred == NULL || ctl_cred_allows(call->cred, group_id))
		return 1;
	if (g == NULL || g->nproxies == 0)
		return 0;
	for (size_t i = 0; i < g->nproxies; i++)
		if (!ctl_cred_allows(call->cred, g->proxies[i]))
			return 0;
	return 1;
}

int ctl_may_manage_listener(const struct ctl_call *call, const struct st_listener *rec)
{
	return rec->group_id[0] ? ctl_may_manage_group(call, rec->group_id) :
		ctl_may_manage_proxy(call, rec->proxy_id);
}

enum ctl_err ctl_page(struct ctl_call *call, size_t max, size_t *offset, size_t *limit)
{
	uint64_t off = 0, lim = PAGE_DEFAULT;
	(void)ctl_param_uint(call, "Offset", &off);
	(void)ctl_param_uint(call, "Limit", &lim);
	if (lim < 1 || lim > max)
		return ctl_fail(call, CTL_E_INVALID_PARAMETER_VALUE, "Limit must be 1 to %zu, not %llu.",
			max, (unsigned long long)lim);
	*offset = off > SIZE_MAX ? SIZE_MAX : (size_t)off;
	*limit = (size_t)lim;
	return CTL_E_OK;
}

/* The store failing for want of its disk or directory (or, in a fleet, of etcd) means this node
 * cannot take changes now; anything else is unexpected. Either way nothing was changed. */
enum ctl_err ctl_store_error(struct ctl_call *call, int e)
{
	switch (e) {
	case ENOENT:
	case ENOTDIR:
	case ENOSPC:
	case EDQUOT:
	case EROFS:
	case EIO:
	case EACCES:
	case EPERM:
	case ENOTCONN:      /* the etcd back end: etcd unreachable, or not caught up yet */
		return ctl_fail(call, CTL_E_INSTANCE_STATUS_NOT_IN_RUNING, "The state store is "
			"unavailable (%s); nothing was changed.", strerror(e));
	case EMFILE:
	case ENFILE:
	case ENOMEM:
		return ctl_fail(call, CTL_E_FAILED_OPERATION, "The state store cannot be written (%s); "
			"nothing was changed.", strerror(e));
	case EAGAIN:        /* the etcd back end: another node changed the record meanwhile */
		return ctl_fail(call, CTL_E_FAILED_OPERATION, "Another node of the fleet changed "
			"this resource meanwhile; nothing was changed, try again.");
	default:
		return ctl_fail(call, CTL_E_INTERNAL_ERROR, "The state store failed (%s); nothing "
			"was changed.", strerror(e));
	}
}
