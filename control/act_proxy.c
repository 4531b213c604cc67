/* control/act_proxy.c - the proxy and proxy-group actions (spec 2.9): what the configuration
 * declares, so that clients can discover the ids they may use. Read-only; no lock is needed (the
 * configuration is immutable).
 * Only the fields gaapd can fill honestly are answered (SDK models make every field optional);
 * regions, bandwidth, billing and the like do not exist on a single node and are left out.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actions.h"
#include "cfg.h"
#include "creds.h"
#include "params.h"

#define PROXIES_LIMIT_MAX 100
#define PROXY_IDS_MAX 100
#define GROUPS_LIMIT_MAX 100
#define FILTERS_MAX 10
#define FILTER_VALUES_MAX 5

/* ---- Filters (shared) ---- */

/* The Filters names an action documents; the node knows a value for some of them only. */
static const char *const proxy_filters[] = {
	"ProjectId", "AccessRegion", "RealServerRegion", "GroupId", "IPAddressVersion", "PackageType",
	NULL,
};
static const char *const group_filters[] = { "RealServerRegion", "PackageType", NULL };

static int named(const char *const *names, const char *name)
{
	for (; *names != NULL; names++)
		if (strcmp(*names, name) == 0)
			return 1;
	return 0;
}

/* At most FILTERS_MAX filters of the documented names, each with 1 to FILTER_VALUES_MAX values. */
static enum ctl_err check_filters(struct ctl_call *call, const char *const *names)
{
	const json_t *filters = ctl_param_array(call, "Filters");
	size_t i;
	json_t *f;
	if (json_array_size(filters) > FILTERS_MAX)
		return ctl_fail(call, CTL_E_INVALID_PARAMETER_VALUE, "At most %d Filters.", FILTERS_MAX);
	json_array_foreach(filters, i, f) {
		const char *name = json_string_value(json_object_get(f, "Name"));
		size_t n = json_array_size(json_object_get(f, "Values"));
		if (!named(names, name))
			return ctl_fail(call, CTL_E_INVALID_PARAMETER_VALUE, "Filter `%s` is not "
				"supported here.", name);
		if (n < 1 || n > FILTER_VALUES_MAX)
			return ctl_fail(call, CTL_E_INVALID_PARAMETER_VALUE, "Filter `%s` needs 1 to %d "
				"Values.", name, FILTER_VALUES_MAX);
	}
	return CTL_E_OK;
}

static int listed(const json_t *ids, const char *id)
{
	size_t i;
	json_t *v;
	json_array_foreach(ids, i, v)
		if (strcmp(json_string_value(v), id) == 0)
			return 1;
	return 0;
}

/* A proxy's value for a filter, or NULL when a single node has no such thing (regions, package
 * types): such a filter matches no proxy, rather than pretending every one is in that region. */
static const char *proxy_attr(const struct cfg_proxy *p, const char *name)
{
	if (strcmp(name, "ProjectId") == 0)
		return "0";
	if (strcmp(name, "GroupId") == 0)
		return p->group_id;
	if (strcmp(name, "IPAddressVersion") == 0)
		return p->bind.sa.ss_family == AF_INET6 ? "IPv6" : "IPv4";
	return NULL;
}

/* Every filter holds (values of one filter are alternatives). */
static int filters_match(const struct cfg_proxy *p, const json_t *filters)
{
	size_t i;
	json_t *f;
	json_array_foreach(filters, i, f) {
		const char *v = p != NULL ? proxy_attr(p, json_string_value(json_object_get(f, "Name"))) : NULL;
		if (v == NULL || !listed(json_object_get(f, "Values"), v))
			return 0;
	}
	return 1;
}

/* ---- DescribeProxies ---- */

/* ProxyInfo (spec 2.9). IP is the address its listeners bind. */
static json_t *proxy_json(const struct cfg_proxy *p, json_int_t created)
{
	return json_pack("{s:s, s:s, s:s, s:I, s:i, s:s, s:s, s:s, s:[ss], s:i, s:s?, s:[], s:s}",
		"ProxyId", p->id, "InstanceId", p->id, "ProxyName", p->id, "CreateTime", created,
		"ProjectId", 0, "Status", p->status, "IP", p->bind.text, "Version", "3.0",
		"SupportProtocols", "HTTP", "HTTPS", "IsSupportTLSChoice", 1, "GroupId", p->group_id,
		"TagSet",
		"IPAddressVersion", p->bind.sa.ss_family == AF_INET6 ? "IPv6" : "IPv4");
}

/* ProxyIds (or the older InstanceIds), at most PROXY_IDS_MAX and not with Filters; NULL when
 * neither is given. */
static enum ctl_err proxy_ids(struct ctl_call *call, const json_t **ids)
{
	const json_t *a = ctl_param_array(call, "ProxyIds"), *b = ctl_param_array(call, "InstanceIds");
	if (a != NULL && b != NULL)
		return ctl_fail(call, CTL_E_INVALID_PARAMETER, "Specify either `ProxyIds` or "
			"`InstanceIds`, not both.");
	*ids = a != NULL ? a : b;
	if (*ids != NULL && ctl_param_array(call, "Filters") != NULL)
		return ctl_fail(call, CTL_E_INVALID_PARAMETER, "`%s` cannot be used with `Filters`.",
			a != NULL ? "ProxyIds" : "InstanceIds");
	if (json_array_size(*ids) > PROXY_IDS_MAX)
		return ctl_fail(call, CTL_E_INVALID_PARAMETER_VALUE, "At most %d proxy ids may be "
			"given.", PROXY_IDS_MAX);
	return check_filters(call, proxy_filters);
}

/* What one DescribeProxies call selects by. */
struct proxy_query {
	const json_t *ids;          /* NULL: any id */
	const json_t *filters;      /* NULL: none */
	int independent;            /* -1 any, 1 ungrouped only, 0 grouped only */
};

/* Whether the answer lists p: the ids asked for (each one the key may manage), or every proxy
 * the key may manage, that passes the filters. */
static enum ctl_err proxy_selected(struct ctl_call *call, const struct cfg_proxy *p,
	const struct proxy_query *q, int *yes)
{
	*yes = 0;
	if (q->ids != NULL && !listed(q->ids, p->id))
		return CTL_E_OK;
	if (!ctl_may_manage_proxy(call, p->id)) {
		if (q->ids != NULL)
			return ctl_fail(call, CTL_E_UNAUTHORIZED_OPERATION, "SecretId %s may not manage "
				"proxy %s.", call->cred->secret_id, p->id);
		return CTL_E_OK;
	}
	*yes = (q->independent < 0 || q->independent == (p->group_id == NULL)) &&
		filters_match(p, q->filters);
	return CTL_E_OK;
}

static enum ctl_err describe_proxies(struct ctl_call *call, const struct proxy_query *q,
	size_t offset, size_t limit, json_t *set)
{
	const struct cfg *cfg = call->deps->cfg;
	json_int_t created = (json_int_t)call->deps->started;   /* configured since the start */
	size_t total = 0;
	int yes;
	for (size_t i = 0; i < cfg->nproxies; i++) {
		enum ctl_err e = proxy_selected(call, &cfg->proxies[i], q, &yes);
		if (e != CTL_E_OK)
			return e;
		if (yes && total >= offset && total - offset < limit &&
		    json_array_append_new(set, proxy_json(&cfg->proxies[i], created)) != 0)
			return CTL_E_INTERNAL_ERROR;
		total += yes;
	}
	/* ProxySet is the current name, InstanceSet the old one: both, as Tencent answers. */
	return json_object_set_new(call->result, "TotalCount", json_integer((json_int_t)total)) == 0 &&
		json_object_set(call->result, "ProxySet", set) == 0 &&
		json_object_set(call->result, "InstanceSet", set) == 0 ? CTL_E_OK : CTL_E_INTERNAL_ERROR;
}

/* Filters, Independent (1 only ungrouped proxies, 0 only grouped), ProxyIds / InstanceIds. */
enum ctl_err ctl_act_describe_proxies(struct ctl_call *call)
{
	static const struct ctl_param schema[] = {
		{ "ProxyIds", CTL_P_STRING_ARRAY, 0 },
		{ "InstanceIds", CTL_P_STRING_ARRAY, 0 },
		{ "Offset", CTL_P_UINT, 0 },
		{ "Limit", CTL_P_UINT, 0 },
		{ "Filters", CTL_P_FILTERS, 0 },
		{ "Independent", CTL_P_UINT, 0 },
	};
	struct proxy_query q = { .independent = -1 };
	uint64_t independent;
	size_t offset, limit;
	enum ctl_err e = ctl_params_check(call, schema, sizeof(schema) / sizeof(schema[0]));
	if (e != CTL_E_OK || (e = proxy_ids(call, &q.ids)) != CTL_E_OK ||
	    (e = ctl_page(call, PROXIES_LIMIT_MAX, &offset, &limit)) != CTL_E_OK)
		return e;
	if (ctl_param_uint(call, "Independent", &independent) == 0 && independent > 1)
		return ctl_fail(call, CTL_E_INVALID_PARAMETER_VALUE, "Independent must be 0 or 1.");
	if (ctl_param_uint(call, "Independent", &independent) == 0)
		q.independent = (int)independent;
	q.filters = ctl_param_array(call, "Filters");
	json_t *set = json_array();
	e = set == NULL ? CTL_E_INTERNAL_ERROR : describe_proxies(call, &q, offset, limit, set);
	json_decref(set);
	return e;
}

/* ---- DescribeProxyGroupList ---- */

/* ProxyGroupInfo: Status is the list form (RUNNING, ...); every group is in project 0. */
static json_t *group_json(const struct cfg_group *g, json_int_t created)
{
	return json_pack("{s:s, s:s, s:i, s:s, s:[], s:s, s:I}", "GroupId", g->id, "GroupName", g->id,
		"ProjectId", 0, "Status", g->status, "TagSet", "Version", "3.0", "CreateTime", created);
}

static enum ctl_err describe_groups(struct ctl_call *call, int64_t project, size_t offset,
	size_t limit, json_t *list)
{
	const struct cfg *cfg = call->deps->cfg;
	const json_t *filters = ctl_param_array(call, "Filters");
	json_int_t created = (json_int_t)call->deps->started;   /* configured since the start */
	size_t total = 0;
	for (size_t i = 0; i < cfg->ngroups && (project == -1 || project == 0); i++) {
		if (!ctl_may_manage_group(call, cfg->groups[i].id) || !filters_match(NULL, filters))
			continue;
		if (total >= offset && total - offset < limit &&
		    json_array_append_new(list, group_json(&cfg->groups[i], created)) != 0)
			return CTL_E_INTERNAL_ERROR;
		total++;
	}
	return json_object_set_new(call->result, "TotalCount", json_integer((json_int_t)total)) == 0 &&
		json_object_set(call->result, "ProxyGroupList", list) == 0 ? CTL_E_OK :
		CTL_E_INTERNAL_ERROR;
}

/* Offset, Limit and ProjectId are all required here, and typed int64 (the API model says so):
 * a negative Offset or Limit is a bad value, not a bad type. ProjectId: -1 = every project, 0 =
 * the default one (where all of this node's groups are). Filters name regions and package types,
 * which a single node does not have: they match no group. */
enum ctl_err ctl_act_describe_proxy_group_list(struct ctl_call *call)
{
	static const struct ctl_param schema[] = {
		{ "Offset", CTL_P_INT, 1 },
		{ "Limit", CTL_P_INT, 1 },
		{ "ProjectId", CTL_P_INT, 1 },
		{ "Filters", CTL_P_FILTERS, 0 },
	};
	int64_t project, off, lim;
	size_t offset, limit;
	enum ctl_err e = ctl_params_check(call, schema, sizeof(schema) / sizeof(schema[0]));
	if (e != CTL_E_OK || (e = check_filters(call, group_filters)) != CTL_E_OK)
		return e;
	(void)ctl_param_int(call, "ProjectId", &project);
	(void)ctl_param_int(call, "Offset", &off);
	(void)ctl_param_int(call, "Limit", &lim);
	if (project < -1)
		return ctl_fail(call, CTL_E_INVALID_PARAMETER_VALUE, "ProjectId must be -1 or above.");
	if (off < 0 || lim < 0)
		return ctl_fail(call, CTL_E_INVALID_PARAMETER_VALUE, "%s must not be negative.",
			off < 0 ? "Offset" : "Limit");
	if ((e = ctl_page(call, GROUPS_LIMIT_MAX, &offset, &limit)) != CTL_E_OK)
		return e;
	json_t *list = json_array();
	e = list == NULL ? CTL_E_INTERNAL_ERROR : describe_groups(call, project, offset, limit, list);
	json_decref(list);
	return e;
}
