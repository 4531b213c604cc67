/* control/act_realserver.c - the real server actions (l7-and-https.md §2): AddRealServers,
 * DescribeRealServers, RemoveRealServers, ModifyRealServerName, DescribeRealServersStatus.
 * Real servers are account-level objects: any valid key may manage them (§1.3). Changes go to
 * the state machine (state/sm.h) whole or not at all; Describe reads its set.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "actions.h"
#include "cfg.h"
#include "listener.h"
#include "log.h"
#include "params.h"
#include "state/l7.h"
#include "state/rs.h"
#include "state/sm.h"

#define ADDRESSES_MAX 100           /* per AddRealServers call */
#define IDS_MAX 100                 /* per RemoveRealServers / DescribeRealServersStatus call */
#define DESCRIBE_LIMIT_MAX 50       /* Terraform pages with 50 */
#define TAG_FILTERS_MAX 5

/* The state machine's refusals in the words of §2. */
static enum ctl_err rs_error(struct ctl_call *call, const struct sm_outcome *o)
{
	switch (o->err) {
	case SM_OK:
		return CTL_E_OK;
	case SM_E_BAD_ADDRESS:
		return ctl_fail(call, CTL_E_INVALID_PARAMETER_VALUE, "RealServerIP(%s) is neither an "
			"IP address nor a host name.", o->detail);
	case SM_E_DUPLICATE_RS:
		return ctl_fail(call, CTL_E_DUPLICATE_RS, "RealServerIP(%s) is already registered on "
			"this node, or given twice.", o->detail);
	case SM_E_RS_LIMIT:
		return ctl_fail(call, CTL_E_LIMIT_EXCEEDED, "This node keeps at most %u real servers "
			"(node.max_real_servers).", call->deps->cfg->max_real_servers);
	case SM_E_NOT_FOUND:
		return ctl_fail(call, CTL_E_RESOURCE_NOT_FOUND, "RealServerId(%s) Not Exist.",
			o->detail);
	case SM_E_RS_BOUND:
		return ctl_fail(call, CTL_E_RS_ALREADY_BOUND, "RealServerId(%s) is bound to a rule; "
			"unbind it first.", o->detail);
	case SM_E_STORE:
		return ctl_store_error(call, o->sys);
	default:
		return CTL_E_INTERNAL_ERROR;
	}
}

/* ---- AddRealServers ---- */

/* At most RS_TAGS_MAX tags, each key non-empty and given once. */
static enum ctl_err check_tags(struct ctl_call *call, const json_t *tags)
{
	size_t i, k;
	json_t *t, *u;
	if (json_array_size(tags) > RS_TAGS_MAX)
		return ctl_fail(call, CTL_E_TAG_QUOTA, "TagSet has %zu tags; at most %d.",
			json_array_size(tags), RS_TAGS_MAX);
	json_array_foreach(tags, i, t) {
		const char *key = json_string_value(json_object_get(t, "TagKey"));
		if (key[0] == '\0')
			return ctl_fail(call, CTL_E_INVALID_TAGS, "TagSet.%zu.TagKey is empty.", i);
		json_array_foreach(tags, k, u)
			if (k < i && strcmp(json_string_value(json_object_get(u, "TagKey")), key) == 0)
				return ctl_fail(call, CTL_E_INVALID_TAGS, "TagKey `%s` is given twice.",
					key);
	}
	return CTL_E_OK;
}

/* s without the white space around it, in buf (an official example ends an address in "\n"). */
static const char *trimmed(const char *s, char *buf, size_t size)
{
	size_t len;
	while (isspace((unsigned char)*s))
		s++;
	len = strlen(s);
	while (len > 0 && isspace((unsigned char)s[len - 1]))
		len--;
	snprintf(buf, size, "%.*s", (int)(len < size ? len : size - 1), s);
	return len < size ? buf : "";   /* too long: not an address, the check says so */
}

static enum ctl_err add_answer(struct ctl_call *call, const char *const *addrs, size_t n,
	char (*ids)[ST_ID_MAX])
{
	json_t *set = json_array();
	for (size_t i = 0; set != NULL && i < n; i++)
		if (json_array_append_new(set, json_pack("{s:s, s:s}", "RealServerId", ids[i],
		    "RealServerIP", addrs[i])) != 0) {
			json_decref(set);
			set = NULL;
		}
	return set != NULL && json_object_set_new(call->result, "RealServerSet", set) == 0 ?
		CTL_E_OK : CTL_E_INTERNAL_ERROR;
}

enum ctl_err ctl_act_add_real_servers(struct ctl_call *call)
{
	static const struct ctl_param schema[] = {
		{ "ProjectId", CTL_P_UINT, 1 },
		{ "RealServerIP", CTL_P_STRING_ARRAY, 1 },
		{ "RealServerName", CTL_P_STRING, 1 },
		{ "TagSet", CTL_P_TAGS, 0 },
	};
	char (*bufs)[RS_ADDR_MAX] = calloc(ADDRESSES_MAX, sizeof(*bufs));
	const char *addrs[ADDRESSES_MAX];
	char ids[ADDRESSES_MAX][ST_ID_MAX], err[160];
	const json_t *given, *tags;
	json_t *v, *none = json_array();
	uint64_t project;
	size_t i, n;
	struct sm_outcome o = { .new_ids = ids };
	enum ctl_err e = bufs == NULL || none == NULL ? CTL_E_INTERNAL_ERROR :
		ctl_params_check(call, schema, sizeof(schema) / sizeof(schema[0]));
	if (e != CTL_E_OK)
		goto out;
	given = ctl_param_array(call, "RealServerIP");
	tags = ctl_param_array(call, "TagSet");
	if ((n = json_array_size(given)) < 1 || n > ADDRESSES_MAX) {
		e = ctl_fail(call, CTL_E_INVALID_PARAMETER_VALUE, "RealServerIP must name 1 to %d "
			"addresses.", ADDRESSES_MAX);
		goto out;
	}
	if (ctl_name_check("RealServerName", ctl_param_str(call, "RealServerName"), err,
	    sizeof(err)) != 0) {
		e = ctl_fail(call, CTL_E_INVALID_PARAMETER_VALUE, "%s", err);
		goto out;
	}
	if ((e = check_tags(call, tags)) != CTL_E_OK)
		goto out;
	json_array_foreach(given, i, v)
		addrs[i] = trimmed(json_string_value(v), bufs[i], sizeof(bufs[i]));
	(void)ctl_param_uint(call, "ProjectId", &project);
	struct sm_change c = { .op = SM_ADD_REAL_SERVERS, .ids = addrs, .nids = n,
		.name = ctl_param_str(call, "RealServerName"), .project = (int64_t)project,
		.tags = tags != NULL ? (json_t *)tags : none };
	sm_apply(call->deps->sm, &c, &o);
	if ((e = rs_error(call, &o)) == CTL_E_OK) {
		for (i = 0; i < n; i++)
			LOG_INFO("api", "real server %s address=%s: added", ids[i], addrs[i]);
		e = add_answer(call, addrs, n, ids);
	}
out:
	json_decref(none);
	free(bufs);
	return e;
}

/* ---- DescribeRealServers ---- */

struct rs_filter {
	int64_t project;            /* -1: every project */
	const char *search;         /* a case-insensitive part of the address */
	const json_t *tags;         /* any of them */
	const json_t *filters;      /* each: Name's value is one of Values */
};

static int has_tag(const json_t *fields, const json_t *want)
{
	size_t i;
	json_t *t;
	json_array_foreach(json_object_get(fields, "TagSet"), i, t)
		if (json_equal(t, (json_t *)want))
			return 1;
	return 0;
}

static int any_tag(const json_t *fields, const json_t *tags)
{
	size_t i;
	json_t *want;
	if (json_array_size(tags) == 0)
		return 1;
	json_array_foreach(tags, i, want)
		if (has_tag(fields, want))
			return 1;
	return 0;
}

static int filters_hold(const json_t *fields, const json_t *filters)
{
	size_t i, k;
	json_t *f, *v;
	json_array_foreach(filters, i, f) {
		const char *have = json_string_value(json_object_get(fields,
			json_string_value(json_object_get(f, "Name"))));
		int hit = 0;
		json_array_foreach(json_object_get(f, "Values"), k, v)
			hit |= have != NULL && strcmp(have, json_string_value(v)) == 0;
		if (!hit)
			return 0;
	}
	return 1;
}

static int rs_matches(const struct rs *r, const struct rs_filter *f)
{
	const json_t *x = r->fields;
	return (f->project < 0 || json_integer_value(json_object_get(x, "ProjectId")) == f->project) &&
		(f->search == NULL || strcasestr(json_string_value(json_object_get(x, "RealServerIP")),
		f->search) != NULL) && any_tag(x, f->tags) && filters_hold(x, f->filters);
}

/* ProjectId -1 or >= 0; at most TAG_FILTERS_MAX tags; Filters on RealServerName and
 * RealServerIP only. */
static enum ctl_err describe_filter(struct ctl_call *call, struct rs_filter *f)
{
	size_t i;
	json_t *x;
	(void)ctl_param_int(call, "ProjectId", &f->project);
	f->search = ctl_param_str(call, "SearchValue");
	f->tags = ctl_param_array(call, "TagSet");
	f->filters = ctl_param_array(call, "Filters");
	if (f->project < -1)
		return ctl_fail(call, CTL_E_INVALID_PARAMETER_VALUE, "ProjectId must be -1 (every "
			"project) or a project id, not %lld.", (long long)f->project);
	if (json_array_size(f->tags) > TAG_FILTERS_MAX)
		return ctl_fail(call, CTL_E_INVALID_PARAMETER_VALUE, "TagSet may name at most %d tags.",
			TAG_FILTERS_MAX);
	json_array_foreach(f->filters, i, x) {
		const char *name = json_string_value(json_object_get(x, "Name"));
		if (strcmp(name, "RealServerName") != 0 && strcmp(name, "RealServerIP") != 0)
			return ctl_fail(call, CTL_E_INVALID_PARAMETER_VALUE, "Filters.%zu.Name `%s` is "
				"not one of RealServerName, RealServerIP.", i, name);
	}
	return CTL_E_OK;
}

enum ctl_err ctl_act_describe_real_servers(struct ctl_call *call)
{
	static const struct ctl_param schema[] = {
		{ "ProjectId", CTL_P_INT, 1 },
		{ "SearchValue", CTL_P_STRING, 0 },
		{ "Offset", CTL_P_UINT, 0 },
		{ "Limit", CTL_P_UINT, 0 },
		{ "TagSet", CTL_P_TAGS, 0 },
		{ "Filters", CTL_P_FILTERS, 0 },
	};
	const struct rs_set *set = sm_real_servers(call->deps->sm);
	struct rs_filter f;
	size_t offset, limit, total = 0;
	json_t *page = json_array();
	enum ctl_err e = page == NULL ? CTL_E_INTERNAL_ERROR :
		ctl_params_check(call, schema, sizeof(schema) / sizeof(schema[0]));
	if (e == CTL_E_OK && (e = describe_filter(call, &f)) == CTL_E_OK &&
	    (e = ctl_page(call, DESCRIBE_LIMIT_MAX, &offset, &limit)) == CTL_E_OK) {
		for (size_t i = 0; i < rs_count(set) && e == CTL_E_OK; i++) {
			const struct rs *r = rs_at(set, i);
			if (!rs_matches(r, &f))
				continue;
			if (total >= offset && total - offset < limit &&
			    json_array_append(page, r->fields) != 0)
				e = CTL_E_INTERNAL_ERROR;
			total++;
		}
		if (e == CTL_E_OK && (json_object_set_new(call->result, "TotalCount",
		    json_integer((json_int_t)total)) != 0 ||
		    json_object_set(call->result, "RealServerSet", page) != 0))
			e = CTL_E_INTERNAL_ERROR;
	}
	json_decref(page);
	return e;
}

/* ---- RemoveRealServers, DescribeRealServersStatus: 1 to IDS_MAX ids ---- */

/* The ids without repeats, into ids[]; n their count. */
static enum ctl_err real_server_ids(struct ctl_call *call, const char **ids, size_t *n)
{
	const json_t *given = ctl_param_array(call, "RealServerIds");
	size_t i, k;
	json_t *v;
	if (json_array_size(given) < 1 || json_array_size(given) > IDS_MAX)
		return ctl_fail(call, CTL_E_INVALID_PARAMETER_VALUE, "RealServerIds must name 1 to %d "
			"real servers.", IDS_MAX);
	*n = 0;
	json_array_foreach(given, i, v) {
		for (k = 0; k < *n && strcmp(ids[k], json_string_value(v)) != 0; k++)
			;
		if (k == *n)
			ids[(*n)++] = json_string_value(v);
	}
	return CTL_E_OK;
}

enum ctl_err ctl_act_remove_real_servers(struct ctl_call *call)
{
	static const struct ctl_param schema[] = { { "RealServerIds", CTL_P_STRING_ARRAY, 1 } };
	const char *ids[IDS_MAX];
	size_t n = 0;
	struct sm_outcome o;
	enum ctl_err e = ctl_params_check(call, schema, 1);
	if (e != CTL_E_OK || (e = real_server_ids(call, ids, &n)) != CTL_E_OK)
		return e;
	struct sm_change c = { .op = SM_REMOVE_REAL_SERVERS, .ids = ids, .nids = n };
	sm_apply(call->deps->sm, &c, &o);
	if ((e = rs_error(call, &o)) == CTL_E_OK)
		for (size_t i = 0; i < n; i++)
			LOG_INFO("api", "real server %s: removed", ids[i]);
	return e;
}

/* Does rule fields bind the real server? */
static int binds(const json_t *fields, const char *rs_id)
{
	size_t i;
	json_t *b;
	json_array_foreach(json_object_get(fields, "RealServerSet"), i, b)
		if (strcmp(json_string_value(json_object_get(b, "RealServerId")), rs_id) == 0)
			return 1;
	return 0;
}

/* The listener of the first rule (in creation order of listeners, domains and rules) that binds
 * the real server, into *rec; 0, or -1 when the server is bound nowhere. */
static int bound_under(struct ctl_call *call, const char *rs_id, struct st_listener *rec)
{
	const struct l7_set *l7 = sm_l7(call->deps->sm);
	struct lsn_table *t = call->deps->listeners;
	int found = 0;
	if (l7_rs_binding_count(l7, rs_id) == 0)
		return -1;
	lsn_table_lock(t);
	for (size_t i = 0; i < lsn_table_count(t) && !found; i++) {
		const struct lsn *l = lsn_table_get(t, i);
		for (size_t d = 0; d < l7_domain_count(l7, l->rec.id) && !found; d++) {
			const struct l7_domain *dom = l7_domain_at(l7, l->rec.id, d);
			for (size_t r = 0; r < l7_rule_count(l7, dom->id) && !found; r++)
				found = binds(l7_rule_at(l7, dom->id, r)->fields, rs_id);
			if (found)
				*rec = l->rec;
		}
	}
	lsn_table_unlock(t);
	return found ? 0 : -1;
}

/* BindStatus 1 when a rule binds the server, with the proxy (or group) of that rule's listener. */
static json_t *status_json(struct ctl_call *call, const char *rs_id)
{
	struct st_listener rec;
	int bound = bound_under(call, rs_id, &rec) == 0;
	return json_pack("{s:s, s:i, s:s, s:s}", "RealServerId", rs_id, "BindStatus", bound,
		"ProxyId", bound ? rec.proxy_id : "", "GroupId", bound ? rec.group_id : "");
}

enum ctl_err ctl_act_describe_real_servers_status(struct ctl_call *call)
{
	static const struct ctl_param schema[] = { { "RealServerIds", CTL_P_STRING_ARRAY, 1 } };
	const struct rs_set *set = sm_real_servers(call->deps->sm);
	const char *ids[IDS_MAX];
	size_t n = 0;
	json_t *out;
	enum ctl_err e = ctl_params_check(call, schema, 1);
	if (e != CTL_E_OK || (e = real_server_ids(call, ids, &n)) != CTL_E_OK)
		return e;
	for (size_t i = 0; i < n; i++)
		if (rs_find(set, ids[i]) == NULL)
			return ctl_fail(call, CTL_E_RESOURCE_NOT_FOUND, "RealServerId(%s) Not Exist.",
				ids[i]);
	if ((out = json_array()) == NULL)
		return CTL_E_INTERNAL_ERROR;
	for (size_t i = 0; i < n; i++)
		json_array_append_new(out, status_json(call, ids[i]));
	if (json_array_size(out) != n ||
	    json_object_set_new(call->result, "TotalCount", json_integer((json_int_t)n)) != 0 ||
	    json_object_set_new(call->result, "RealServerStatusSet", out) != 0)
		return CTL_E_INTERNAL_ERROR;
	return CTL_E_OK;
}

/* ---- ModifyRealServerName ---- */

enum ctl_err ctl_act_modify_real_server_name(struct ctl_call *call)
{
	static const struct ctl_param schema[] = {
		{ "RealServerId", CTL_P_STRING, 1 },
		{ "RealServerName", CTL_P_STRING, 1 },
	};
	char err[160];
	struct sm_outcome o;
	enum ctl_err e = ctl_params_check(call, schema, sizeof(schema) / sizeof(schema[0]));
	if (e != CTL_E_OK)
		return e;
	struct sm_change c = { .op = SM_RENAME_REAL_SERVER, .id = ctl_param_str(call, "RealServerId"),
		.name = ctl_param_str(call, "RealServerName") };
	if (ctl_name_check("RealServerName", c.name, err, sizeof(err)) != 0)
		return ctl_fail(call, CTL_E_INVALID_PARAMETER_VALUE, "%s", err);
	sm_apply(call->deps->sm, &c, &o);
	if (o.err == SM_E_NOT_FOUND)    /* the action's published list has no ResourceNotFound */
		return ctl_fail(call, CTL_E_INVALID_PARAMETER_VALUE, "RealServerId(%s) Not Exist.",
			c.id);
	if ((e = rs_error(call, &o)) == CTL_E_OK)
		LOG_INFO("api", "real server %s name=%s: renamed", c.id, c.name);
	return e;
}
