/* control/act_bind.c - what hangs on a rule (l7-and-https.md §4.8, §4.9, §5): its bindings
 * (BindRuleRealServers, DescribeRuleRealServers) and its custom headers (CreateCustomHeader,
 * DescribeCustomHeader). Both writes replace the rule's whole set, absent meaning empty (the Go
 * SDK drops empty lists); the syntax of each entry is checked here, the real servers' existence,
 * addresses and kinds and the limits by the state machine, which applies the set whole or not at
 * all.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "act_l7.h"
#include "actions.h"
#include "log.h"
#include "params.h"
#include "state/l7.h"
#include "state/rs.h"
#include "state/sm.h"

#define WEIGHT_DEFAULT 1
#define WEIGHT_MAX 100
#define DESCRIBE_LIMIT_MAX 1000
#define HEADER_NAME_MAX 100
#define HEADER_VALUE_MAX 1024

/* ---- BindRuleRealServers ---- */

/* The same real server twice on one port is one binding given twice. */
static int same_binding(const json_t *set, size_t before, const char *id, json_int_t port)
{
	for (size_t i = 0; i < before; i++) {
		const json_t *b = json_array_get(set, i);
		if (strcmp(json_string_value(json_object_get(b, "RealServerId")), id) == 0 &&
		    json_integer_value(json_object_get(b, "RealServerPort")) == port)
			return 1;
	}
	return 0;
}

/* Entry i of RealServerBindSet, checked and normalised (the weight defaults to 1), into *out. */
static enum ctl_err binding(struct ctl_call *call, const json_t *given, size_t i, json_t **out)
{
	const json_t *b = json_array_get(given, i);
	const char *id = json_string_value(json_object_get(b, "RealServerId"));
	const char *role = json_string_value(json_object_get(b, "RealServerFailoverRole"));
	json_int_t port = json_integer_value(json_object_get(b, "RealServerPort"));
	json_t *w = json_object_get(b, "RealServerWeight");
	json_int_t weight = w != NULL ? json_integer_value(w) : WEIGHT_DEFAULT;
	if (port < 1 || port > 65535)
		return ctl_fail(call, CTL_E_INVALID_PARAMETER_VALUE, "RealServerBindSet.%zu."
			"RealServerPort must be 1 to 65535, not %lld.", i, (long long)port);
	if (weight < 1 || weight > WEIGHT_MAX)
		return ctl_fail(call, CTL_E_INVALID_PARAMETER_VALUE, "RealServerBindSet.%zu."
			"RealServerWeight must be 1 to %d, not %lld.", i, WEIGHT_MAX, (long long)weight);
	if (role != NULL && role[0] != '\0')
		return ctl_fail(call, CTL_E_INVALID_PARAMETER_VALUE, "RealServerBindSet.%zu."
			"RealServerFailoverRole must be \"\": origin failover is not supported.", i);
	if (same_binding(given, i, id, port))
		return ctl_fail(call, CTL_E_INVALID_PARAMETER_VALUE, "RealServerId(%s) is bound to "
			"port %lld twice.", id, (long long)port);
	*out = json_pack("{s:s, s:O, s:I, s:I}", "RealServerId", id, "RealServerIP",
		json_object_get(b, "RealServerIP"), "RealServerPort", port, "RealServerWeight", weight);
	return *out != NULL ? CTL_E_OK : CTL_E_INTERNAL_ERROR;
}

enum ctl_err ctl_act_bind_rule_real_servers(struct ctl_call *call)
{
	static const struct ctl_param members[] = {
		{ "RealServerId", CTL_P_STRING, 1 },
		{ "RealServerPort", CTL_P_UINT, 1 },
		{ "RealServerIP", CTL_P_STRING, 1 },
		{ "RealServerWeight", CTL_P_UINT, 0 },
		{ "RealServerFailoverRole", CTL_P_STRING, 0 },
	};
	static const struct ctl_param schema[] = {
		{ "RuleId", CTL_P_STRING, 1 },
		{ "RealServerBindSet", CTL_P_OBJECT_ARRAY, 0 },
	};
	static const struct ctl_object objs[] = { { "RealServerBindSet", members,
		sizeof(members) / sizeof(members[0]) } };
	const struct l7_rule *r;
	struct st_listener rec;
	struct sm_outcome o;
	json_t *set = json_array(), *b = NULL;
	enum ctl_err e = set == NULL ? CTL_E_INTERNAL_ERROR :
		ctl_params_check_objects(call, schema, 2, objs, 1);
	const char *rule = ctl_param_str(call, "RuleId");
	const json_t *given = ctl_param_array(call, "RealServerBindSet");
	if (e == CTL_E_OK && (e = ctl_l7_rule(call, rule, NULL, CTL_E_RESOURCE_NOT_FOUND, &r,
	    &rec)) == CTL_E_OK)
		e = ctl_l7_running(call, &rec);
	for (size_t i = 0; e == CTL_E_OK && i < json_array_size(given); i++)
		if ((e = binding(call, given, i, &b)) == CTL_E_OK && json_array_append_new(set, b) != 0)
			e = CTL_E_INTERNAL_ERROR;
	if (e == CTL_E_OK) {
		struct sm_change c = { .op = SM_BIND_RULE, .id = rec.id, .rule = rule, .fields = set,
			.allowed = ctl_l7_allowed, .allowed_arg = call };
		sm_apply(call->deps->sm, &c, &o);
		if ((e = ctl_l7_sm_error(call, &c, &o)) == CTL_E_OK)
			LOG_INFO("api", "rule=%s: %zu real servers bound", rule, json_array_size(set));
	}
	json_decref(set);
	return e;
}

/* ---- DescribeRuleRealServers ---- */

static int is_ip(const char *addr)
{
	unsigned char buf[16];
	return inet_pton(AF_INET, addr, buf) == 1 || inet_pton(AF_INET6, addr, buf) == 1;
}

/* The page of real servers the rule could bind (its RealServerType's kind, bound or not). */
static enum ctl_err bindable(struct ctl_call *call, const struct l7_rule *r, json_t *page,
	size_t *total)
{
	const struct rs_set *servers = sm_real_servers(call->deps->sm);
	int want_ip = strcmp(json_string_value(json_object_get(r->fields, "RealServerType")),
		"IP") == 0;
	size_t offset, limit;
	enum ctl_err e = ctl_page(call, DESCRIBE_LIMIT_MAX, &offset, &limit);
	*total = 0;
	for (size_t i = 0; e == CTL_E_OK && i < rs_count(servers); i++) {
		const json_t *f = rs_at(servers, i)->fields;
		if (is_ip(json_string_value(json_object_get(f, "RealServerIP"))) != want_ip)
			continue;
		if (*total >= offset && *total - offset < limit &&
		    json_array_append_new(page, json_pack("{s:O, s:O, s:O, s:O, s:i}", "RealServerIP",
		    json_object_get(f, "RealServerIP"), "RealServerId", json_object_get(f,
		    "RealServerId"), "RealServerName", json_object_get(f, "RealServerName"),
		    "ProjectId", json_object_get(f, "ProjectId"), "InBanBlacklist", 0)) != 0)
			e = CTL_E_INTERNAL_ERROR;
		(*total)++;
	}
	return e;
}

enum ctl_err ctl_act_describe_rule_real_servers(struct ctl_call *call)
{
	static const struct ctl_param schema[] = {
		{ "RuleId", CTL_P_STRING, 1 },
		{ "Offset", CTL_P_UINT, 0 },
		{ "Limit", CTL_P_UINT, 0 },
	};
	const struct l7_rule *r;
	struct st_listener rec;
	size_t total;
	json_t *page = json_array(), *bound = NULL;
	enum ctl_err e = page == NULL ? CTL_E_INTERNAL_ERROR :
		ctl_params_check(call, schema, sizeof(schema) / sizeof(schema[0]));
	if (e == CTL_E_OK)
		e = ctl_l7_rule(call, ctl_param_str(call, "RuleId"), NULL, CTL_E_RESOURCE_NOT_FOUND, &r,
			&rec);
	if (e == CTL_E_OK && (e = bindable(call, r, page, &total)) == CTL_E_OK) {
		size_t abnormal;
		bound = ctl_l7_bindings_json(call->deps->sm, r, &abnormal);
		if (bound == NULL || json_object_set_new(call->result, "TotalCount",
		    json_integer((json_int_t)total)) != 0 ||
		    json_object_set(call->result, "RealServerSet", page) != 0 ||
		    json_object_set_new(call->result, "BindRealServerTotalCount",
		    json_integer((json_int_t)json_array_size(bound))) != 0 ||
		    json_object_set(call->result, "BindRealServerSet", bound) != 0)
			e = CTL_E_INTERNAL_ERROR;
	}
	json_decref(bound);
	json_decref(page);
	return e;
}

/* ---- CreateCustomHeader ---- */

/* Names the node sets or that frame the message: a rule may not set them (§5.1). */
static int blacklisted(const char *name)
{
	static const char *const names[] = { "Host", "Content-Length", "Transfer-Encoding",
		"Connection", "Keep-Alive", "Proxy-Connection", "TE", "Trailer", "Upgrade", "Expect",
		"X-Forwarded-For" };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcasecmp(name, names[i]) == 0)
			return 1;
	return 0;
}

/* An HTTP token (RFC 9110 tchar), 1 to 100 characters: '_' is one (the example's X-REAL_IP). */
static int header_name_valid(const char *s)
{
	size_t n = strlen(s);
	if (n < 1 || n > HEADER_NAME_MAX)
		return 0;
	for (; *s != '\0'; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		    strchr("!#$%&'*+-.^_`|~", *s) != NULL))
			return 0;
	return 1;
}

/* 0 to 1024 visible ASCII characters, spaces and tabs. */
static int header_value_valid(const char *s)
{
	if (strlen(s) > HEADER_VALUE_MAX)
		return 0;
	for (; *s != '\0'; s++)
		if (!((*s >= 0x20 && *s < 0x7f) || *s == '\t'))
			return 0;
	return 1;
}

static enum ctl_err header(struct ctl_call *call, const json_t *given, size_t i)
{
	const json_t *h = json_array_get(given, i);
	const char *name = json_string_value(json_object_get(h, "HeaderName"));
	const char *value = json_string_value(json_object_get(h, "HeaderValue"));
	if (!header_name_valid(name))
		return ctl_fail(call, CTL_E_INVALID_PARAMETER_VALUE, "Headers.%zu.HeaderName(%s) must "
			"be 1 to %d characters of an HTTP token.", i, name, HEADER_NAME_MAX);
	if (blacklisted(name))
		return ctl_fail(call, CTL_E_HIT_BLACKLIST, "Headers.%zu.HeaderName(%s) cannot be set "
			"by a rule.", i, name);
	if (!header_value_valid(value))
		return ctl_fail(call, CTL_E_INVALID_PARAMETER_VALUE, "Headers.%zu.HeaderValue must be "
			"0 to %d visible ASCII characters, spaces or tabs.", i, HEADER_VALUE_MAX);
	for (size_t k = 0; k < i; k++)
		if (strcasecmp(json_string_value(json_object_get(json_array_get(given, k),
		    "HeaderName")), name) == 0)
			return ctl_fail(call, CTL_E_INVALID_PARAMETER_VALUE, "HeaderName(%s) is given "
				"twice (names compare in any case).", name);
	return CTL_E_OK;
}

enum ctl_err ctl_act_create_custom_header(struct ctl_call *call)
{
	static const struct ctl_param members[] = {
		{ "HeaderName", CTL_P_STRING, 1 },
		{ "HeaderValue", CTL_P_STRING, 1 },
	};
	static const struct ctl_param schema[] = {
		{ "RuleId", CTL_P_STRING, 1 },
		{ "Headers", CTL_P_OBJECT_ARRAY, 0 },
	};
	static const struct ctl_object objs[] = { { "Headers", members,
		sizeof(members) / sizeof(members[0]) } };
	const struct l7_rule *r;
	struct st_listener rec;
	struct sm_outcome o;
	json_t *none = json_array();
	enum ctl_err e = none == NULL ? CTL_E_INTERNAL_ERROR :
		ctl_params_check_objects(call, schema, 2, objs, 1);
	const char *rule = ctl_param_str(call, "RuleId");
	const json_t *given = ctl_param_array(call, "Headers");
	if (e == CTL_E_OK && (e = ctl_l7_rule(call, rule, NULL, CTL_E_RESOURCE_NOT_FOUND, &r,
	    &rec)) == CTL_E_OK)
		e = ctl_l7_running(call, &rec);
	for (size_t i = 0; e == CTL_E_OK && i < json_array_size(given); i++)
		e = header(call, given, i);
	if (e == CTL_E_OK) {
		struct sm_change c = { .op = SM_SET_HEADERS, .id = rec.id, .rule = rule,
			.fields = given != NULL ? (json_t *)given : none,
			.allowed = ctl_l7_allowed, .allowed_arg = call };
		sm_apply(call->deps->sm, &c, &o);
		if ((e = ctl_l7_sm_error(call, &c, &o)) == CTL_E_OK)
			LOG_INFO("api", "rule=%s: %zu custom headers set", rule, json_array_size(c.fields));
	}
	json_decref(none);
	return e;
}

/* ---- DescribeCustomHeader ---- */

enum ctl_err ctl_act_describe_custom_header(struct ctl_call *call)
{
	static const struct ctl_param schema[] = { { "RuleId", CTL_P_STRING, 1 } };
	const struct l7_rule *r;
	struct st_listener rec;
	json_t *headers;
	enum ctl_err e = ctl_params_check(call, schema, 1);
	const char *rule = ctl_param_str(call, "RuleId");
	/* the published list has no ResourceNotFound */
	if (e != CTL_E_OK || (e = ctl_l7_rule(call, rule, NULL, CTL_E_INVALID_PARAMETER_VALUE, &r,
	    &rec)) != CTL_E_OK)
		return e;
	headers = json_object_get(r->fields, "Headers");
	headers = json_is_array(headers) ? json_deep_copy(headers) : json_array();
	return headers != NULL && json_object_set_new(call->result, "RuleId", json_string(rule)) == 0
		&& json_object_set_new(call->result, "Headers", headers) == 0 ?
		CTL_E_OK : CTL_E_INTERNAL_ERROR;
}
