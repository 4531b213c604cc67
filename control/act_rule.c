/* control/act_rule.c - the rule actions (l7-and-https.md §4.1-4.4, §4.7): CreateRule,
 * ModifyRuleAttribute, DeleteRule, DescribeRulesByRuleIds. A rule's options are checked and
 * normalised here (scheduler lower case, method upper case, defaults filled in); CreateRule starts
 * from the defaults and ModifyRuleAttribute from the rule as it is, so that both apply the given
 * parameters the same way and hand the state machine a complete rule.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "act_l7.h"
#include "actions.h"
#include "log.h"
#include "params.h"
#include "state/l7.h"
#include "state/sm.h"

#define PATH_MAX_CHARS 80
#define RULE_IDS_MAX 10             /* DescribeRulesByRuleIds */
#define DELAY_LOOP_MAX 300
#define CONNECT_TIMEOUT_MAX 60
#define FAILED_COUNT_INTER_MAX 3600
#define FAILED_THRESHOLD_MAX 10000
#define BLOCK_INTER_MAX 86400

static const struct ctl_param check_params_members[] = {
	{ "DelayLoop", CTL_P_UINT, 0 },
	{ "ConnectTimeout", CTL_P_UINT, 0 },
	{ "Path", CTL_P_STRING, 0 },
	{ "Method", CTL_P_STRING, 0 },
	{ "StatusCode", CTL_P_UINT_ARRAY, 0 },
	{ "Domain", CTL_P_STRING, 0 },
	{ "FailedCountInter", CTL_P_UINT, 0 },
	{ "FailedThreshold", CTL_P_UINT, 0 },
	{ "BlockInter", CTL_P_UINT, 0 },
};
static const struct ctl_object check_params[] = { { "CheckParams", check_params_members,
	sizeof(check_params_members) / sizeof(check_params_members[0]) } };
#define CHECK_PARAMS { "CheckParams", CTL_P_OBJECT, 0 }

/* ---- syntax ---- */

static int hex(int c)
{
	return isdigit(c) ? c - '0' : isxdigit(c) ? tolower(c) - 'a' + 10 : -1;
}

/* A rule or probe path: '/' then up to 79 more bytes, none a space, '?', '#' or control. A Path
 * that begins "%2F" is percent-decoded once first (the published example sends "%2Fimage"). */
static enum ctl_err path_syntax(struct ctl_call *call, const char *field, const char *given,
	int query, char out[PATH_MAX_CHARS + 1])
{
	size_t n = 0;
	int decode = !query && strncasecmp(given, "%2F", 3) == 0;
	for (const char *p = given; *p != '\0'; p++, n++) {
		int c = (unsigned char)*p;
		if (decode && c == '%') {
			if (hex(p[1]) < 0 || hex(p[2]) < 0)
				goto bad;
			c = hex(p[1]) * 16 + hex(p[2]);
			p += 2;
		}
		if (n >= PATH_MAX_CHARS || c < 0x20 || c == 0x7f || c == ' ' || c == '#' ||
		    (c == '?' && !query))
			goto bad;
		out[n] = (char)c;
	}
	out[n] = '\0';
	if (n > 0 && out[0] == '/')
		return CTL_E_OK;
bad:
	return ctl_fail(call, CTL_E_INVALID_PARAMETER_VALUE, "%s(%s) must start with '/' and have at "
		"most %d characters, without spaces, '#', %scontrol characters.", field, given,
		PATH_MAX_CHARS, query ? "" : "'?', ");
}

/* s is one of the words (ASCII case ignored): its canonical spelling, else NULL. */
static const char *one_of(const char *s, const char *const *words)
{
	for (; *words != NULL; words++)
		if (strcasecmp(s, *words) == 0)
			return *words;
	return NULL;
}

/* Set f's member name to the canonical spelling of the parameter's value among words. */
static enum ctl_err set_word(struct ctl_call *call, json_t *f, const char *name,
	const char *const *words)
{
	const char *v = ctl_param_str(call, name), *w;
	if (v == NULL)
		return CTL_E_OK;
	if ((w = one_of(v, words)) == NULL)
		return ctl_fail(call, CTL_E_INVALID_PARAMETER_VALUE, "%s(%s) is not one of the accepted "
			"values.", name, v);
	return json_object_set_new(f, name, json_string(w)) == 0 ? CTL_E_OK : CTL_E_INTERNAL_ERROR;
}

/* ---- CheckParams (§4.1) ---- */

static json_t *check_params_defaults(void)
{
	return json_pack("{s:i, s:i, s:s, s:s, s:[iiiii], s:s, s:i, s:i, s:i}", "DelayLoop", 5,
		"ConnectTimeout", 2, "Path", "/", "Method", "HEAD", "StatusCode", 100, 200, 300, 400,
		500, "Domain", "", "FailedCountInter", 0, "FailedThreshold", 0, "BlockInter", 0);
}

static enum ctl_err status_codes(struct ctl_call *call, const json_t *codes)
{
	size_t i;
	json_t *c;
	if (json_array_size(codes) == 0)
		return ctl_fail(call, CTL_E_INVALID_PARAMETER_VALUE, "CheckParams.StatusCode must name "
			"at least one status class.");
	json_array_foreach(codes, i, c) {
		json_int_t v = json_integer_value(c);
		if (v < 100 || v > 500 || v % 100 != 0)
			return ctl_fail(call, CTL_E_INVALID_PARAMETER_VALUE, "CheckParams.StatusCode.%zu "
				"(%lld) is not one of 100, 200, 300, 400, 500.", i, (long long)v);
	}
	return CTL_E_OK;
}

static enum ctl_err check_number(struct ctl_call *call, const json_t *cp, const char *name,
	json_int_t min, json_int_t max)
{
	json_int_t v = json_integer_value(json_object_get(cp, name));
	if (v >= min && v <= max)
		return CTL_E_OK;
	return ctl_fail(call, CTL_E_INVALID_PARAMETER_VALUE, "CheckParams.%s must be %lld to %lld, "
		"not %lld.", name, (long long)min, (long long)max, (long long)v);
}

/* The merged CheckParams cp, checked as a whole; Method to upper case. */
static enum ctl_err check_params_valid(struct ctl_call *call, json_t *cp)
{
	static const char *const methods[] = { "GET", "HEAD", NULL };
	const char *method = json_string_value(json_object_get(cp, "Method"));
	const char *domain = json_string_value(json_object_get(cp, "Domain"));
	char path[PATH_MAX_CHARS + 1];
	enum ctl_err e;
	json_int_t delay = json_integer_value(json_object_get(cp, "DelayLoop"));
	if ((e = check_number(call, cp, "DelayLoop", 1, DELAY_LOOP_MAX)) != CTL_E_OK ||
	    (e = check_number(call, cp, "ConnectTimeout", 1, delay < CONNECT_TIMEOUT_MAX ? delay :
	    CONNECT_TIMEOUT_MAX)) != CTL_E_OK ||
	    (e = check_number(call, cp, "FailedCountInter", 0, FAILED_COUNT_INTER_MAX)) != CTL_E_OK ||
	    (e = check_number(call, cp, "FailedThreshold", 0, FAILED_THRESHOLD_MAX)) != CTL_E_OK ||
	    (e = check_number(call, cp, "BlockInter", 0, BLOCK_INTER_MAX)) != CTL_E_OK ||
	    (e = path_syntax(call, "CheckParams.Path", json_string_value(json_object_get(cp, "Path")),
	    1, path)) != CTL_E_OK ||
	    (e = status_codes(call, json_object_get(cp, "StatusCode"))) != CTL_E_OK)
		return e;
	if (one_of(method, methods) == NULL)
		return ctl_fail(call, CTL_E_INVALID_PARAMETER_VALUE, "CheckParams.Method(%s) must be "
			"GET or HEAD.", method);
	if (domain[0] != '\0' && !ctl_l7_host_valid(domain, 0))
		return ctl_fail(call, CTL_E_INVALID_PARAMETER_VALUE, "CheckParams.Domain(%s) is not a "
			"host name.", domain);
	return json_object_set_new(cp, "Method", json_string(one_of(method, methods))) == 0 ?
		CTL_E_OK : CTL_E_INTERNAL_ERROR;
}

/* f's CheckParams with the given members merged in. The probe's Domain cannot be changed by
 * ModifyRuleAttribute [doc]: a value sent there is ignored. A CreateRule that sets only DelayLoop
 * below the default ConnectTimeout gets a ConnectTimeout of DelayLoop. */
static enum ctl_err merge_check_params(struct ctl_call *call, json_t *f, int create)
{
	const json_t *given = ctl_param_object(call, "CheckParams");
	json_t *cp = json_object_get(f, "CheckParams"), *v;
	const char *key;
	if (given == NULL)
		return CTL_E_OK;
	json_object_foreach((json_t *)given, key, v)
		if ((create || strcmp(key, "Domain") != 0) && json_object_set(cp, key, v) != 0)
			return CTL_E_INTERNAL_ERROR;
	if (create && json_object_get(given, "ConnectTimeout") == NULL &&
	    json_integer_value(json_object_get(cp, "DelayLoop")) <
	    json_integer_value(json_object_get(cp, "ConnectTimeout")))
		json_object_set(cp, "ConnectTimeout", json_object_get(cp, "DelayLoop"));
	return check_params_valid(call, cp);
}

/* ---- the options both CreateRule and ModifyRuleAttribute set ---- */

static enum ctl_err set_path(struct ctl_call *call, json_t *f)
{
	const char *given = ctl_param_str(call, "Path");
	char path[PATH_MAX_CHARS + 1];
	enum ctl_err e;
	if (given == NULL)
		return CTL_E_OK;
	if ((e = path_syntax(call, "Path", given, 0, path)) != CTL_E_OK)
		return e;
	return json_object_set_new(f, "Path", json_string(path)) == 0 ? CTL_E_OK :
		CTL_E_INTERNAL_ERROR;
}

/* ForwardHost: absent keeps; "" or "default" is the client's Host; else a host[:port]. */
static enum ctl_err set_forward_host(struct ctl_call *call, json_t *f)
{
	const char *v = ctl_param_str(call, "ForwardHost");
	if (v == NULL)
		return CTL_E_OK;
	if (v[0] == '\0' || strcasecmp(v, "default") == 0)
		v = "default";
	else if (!ctl_l7_host_valid(v, 1))
		return ctl_fail(call, CTL_E_INVALID_PARAMETER_VALUE, "ForwardHost(%s) must be "
			"\"default\" or a host name, optionally with a port.", v);
	return json_object_set_new(f, "ForwardHost", json_string(v)) == 0 ? CTL_E_OK :
		CTL_E_INTERNAL_ERROR;
}

/* The switch ("" keeps it) and the name ("" clears it); ON needs a name, given or kept. */
static enum ctl_err set_sni(struct ctl_call *call, json_t *f)
{
	static const char *const sw[] = { "ON", "OFF", NULL };
	const char *s = ctl_param_str(call, "ServerNameIndicationSwitch");
	const char *name = ctl_param_str(call, "ServerNameIndication");
	enum ctl_err e;
	if (s != NULL && s[0] != '\0' &&
	    (e = set_word(call, f, "ServerNameIndicationSwitch", sw)) != CTL_E_OK)
		return e;
	if (name != NULL && name[0] != '\0' && !ctl_l7_host_valid(name, 0))
		return ctl_fail(call, CTL_E_INVALID_PARAMETER_VALUE, "ServerNameIndication(%s) is not "
			"a host name.", name);
	if (name != NULL && json_object_set_new(f, "ServerNameIndication", json_string(name)) != 0)
		return CTL_E_INTERNAL_ERROR;
	if (strcmp(json_string_value(json_object_get(f, "ServerNameIndicationSwitch")), "ON") == 0 &&
	    json_string_length(json_object_get(f, "ServerNameIndication")) == 0)
		return ctl_fail(call, CTL_E_MISSING_PARAMETER, "ServerNameIndication is required when "
			"ServerNameIndicationSwitch is ON.");
	return CTL_E_OK;
}

/* "https:", or an https URL with a host[:port] and maybe a path (not used, §9.3). */
static int https_target(const char *v)
{
	char host[300];
	size_t n;
	if (strcasecmp(v, "https:") == 0)
		return 1;
	if (strncasecmp(v, "https://", 8) != 0)
		return 0;
	v += 8;
	n = strcspn(v, "/");
	if (n == 0 || n >= sizeof(host))
		return 0;
	memcpy(host, v, n);
	host[n] = '\0';
	for (v += n; *v != '\0'; v++)
		if (*v <= ' ' || *v == 0x7f)
			return 0;
	return ctl_l7_host_valid(host, 1);
}

/* ForcedRedirect: "" turns it off (null); HTTP listeners only; an https target. */
static enum ctl_err set_redirect(struct ctl_call *call, json_t *f, const struct st_listener *rec)
{
	const char *v = ctl_param_str(call, "ForcedRedirect");
	if (v == NULL)
		return CTL_E_OK;
	if (v[0] == '\0')
		return json_object_set_new(f, "ForcedRedirect", json_null()) == 0 ? CTL_E_OK :
			CTL_E_INTERNAL_ERROR;
	if (strcmp(rec->protocol, "HTTP") != 0)
		return ctl_fail(call, CTL_E_INVALID_PARAMETER_VALUE, "ForcedRedirect applies to HTTP "
			"listeners only; %s is %s.", rec->id, rec->protocol);
	if (!https_target(v))
		return ctl_fail(call, CTL_E_INVALID_PARAMETER_VALUE, "ForcedRedirect(%s) must be "
			"\"https:\" or an https:// URL.", v);
	return json_object_set_new(f, "ForcedRedirect", json_string(v)) == 0 ? CTL_E_OK :
		CTL_E_INTERNAL_ERROR;
}

/* Every given option onto f (the defaults, or the rule as it is). */
static enum ctl_err rule_options(struct ctl_call *call, json_t *f, const struct st_listener *rec,
	int create)
{
	static const char *const schedulers[] = { "rr", "wrr", "lc", "lrtt", NULL };
	static const char *const protocols[] = { "default", "HTTP", "HTTPS", NULL };
	static const char *const types[] = { "IP", "DOMAIN", NULL };
	uint64_t hc;
	enum ctl_err e;
	if (ctl_param_uint(call, "HealthCheck", &hc) == 0) {
		if (hc > 1)
			return ctl_fail(call, CTL_E_INVALID_PARAMETER_VALUE, "HealthCheck must be 0 or "
				"1.");
		if (json_object_set_new(f, "HealthCheck", json_integer((json_int_t)hc)) != 0)
			return CTL_E_INTERNAL_ERROR;
	}
	if ((e = set_path(call, f)) != CTL_E_OK ||
	    (create && (e = set_word(call, f, "RealServerType", types)) != CTL_E_OK) ||
	    (e = set_word(call, f, "Scheduler", schedulers)) != CTL_E_OK ||
	    (e = merge_check_params(call, f, create)) != CTL_E_OK ||
	    (e = set_word(call, f, "ForwardProtocol", protocols)) != CTL_E_OK ||
	    (e = set_forward_host(call, f)) != CTL_E_OK ||
	    (e = set_sni(call, f)) != CTL_E_OK)
		return e;
	return set_redirect(call, f, rec);
}

/* ---- CreateRule ---- */

static json_t *rule_defaults(void)
{
	return json_pack("{s:s, s:s, s:s, s:i, s:o, s:s, s:s, s:s, s:s, s:n}", "Path", "/",
		"RealServerType", "IP", "Scheduler", "rr", "HealthCheck", 0,
		"CheckParams", check_params_defaults(), "ForwardProtocol", "default",
		"ForwardHost", "default", "ServerNameIndicationSwitch", "OFF",
		"ServerNameIndication", "", "ForcedRedirect");
}

enum ctl_err ctl_act_create_rule(struct ctl_call *call)
{
	static const struct ctl_param schema[] = {
		{ "ListenerId", CTL_P_STRING, 1 },
		{ "Domain", CTL_P_STRING, 1 },
		{ "Path", CTL_P_STRING, 1 },
		{ "RealServerType", CTL_P_STRING, 1 },
		{ "Scheduler", CTL_P_STRING, 1 },
		{ "HealthCheck", CTL_P_UINT, 1 },
		CHECK_PARAMS,
		{ "ForwardProtocol", CTL_P_STRING, 0 },
		{ "ForwardHost", CTL_P_STRING, 0 },
		{ "ServerNameIndicationSwitch", CTL_P_STRING, 0 },
		{ "ServerNameIndication", CTL_P_STRING, 0 },
		{ "ForcedRedirect", CTL_P_STRING, 0 },
	};
	struct st_listener rec;
	struct sm_outcome o;
	json_t *f = NULL;
	enum ctl_err e = ctl_params_check_objects(call, schema, sizeof(schema) / sizeof(schema[0]),
		check_params, 1);
	const char *id = ctl_param_str(call, "ListenerId"), *domain = ctl_param_str(call, "Domain");
	if (e != CTL_E_OK ||
	    (e = ctl_l7_listener(call, id, CTL_E_INVALID_PARAMETER_VALUE, &rec)) != CTL_E_OK ||
	    (e = ctl_l7_running(call, &rec)) != CTL_E_OK)
		return e;
	if ((f = rule_defaults()) == NULL)
		return CTL_E_INTERNAL_ERROR;
	if ((e = rule_options(call, f, &rec, 1)) == CTL_E_OK) {
		struct sm_change c = { .op = SM_CREATE_RULE, .id = id, .name = domain, .fields = f,
			.allowed = ctl_l7_allowed, .allowed_arg = call };
		sm_apply(call->deps->sm, &c, &o);
		if ((e = ctl_l7_sm_error(call, &c, &o)) == CTL_E_OK) {
			LOG_INFO("api", "rule=%s listener=%s domain=%s path=%s: created", o.id, id,
				domain, json_string_value(json_object_get(f, "Path")));
			if (json_object_set_new(call->result, "RuleId", json_string(o.id)) != 0)
				e = CTL_E_INTERNAL_ERROR;
		}
	}
	json_decref(f);
	return e;
}

/* ---- ModifyRuleAttribute ---- */

enum ctl_err ctl_act_modify_rule_attribute(struct ctl_call *call)
{
	static const struct ctl_param schema[] = {
		{ "ListenerId", CTL_P_STRING, 1 },
		{ "RuleId", CTL_P_STRING, 1 },
		{ "Scheduler", CTL_P_STRING, 0 },
		{ "HealthCheck", CTL_P_UINT, 0 },
		CHECK_PARAMS,
		{ "Path", CTL_P_STRING, 0 },
		{ "ForwardProtocol", CTL_P_STRING, 0 },
		{ "ForwardHost", CTL_P_STRING, 0 },
		{ "ServerNameIndicationSwitch", CTL_P_STRING, 0 },
		{ "ServerNameIndication", CTL_P_STRING, 0 },
		{ "ForcedRedirect", CTL_P_STRING, 0 },
	};
	const struct l7_rule *r;
	struct st_listener rec;
	struct sm_outcome o;
	json_t *f;
	enum ctl_err e = ctl_params_check_objects(call, schema, sizeof(schema) / sizeof(schema[0]),
		check_params, 1);
	const char *id = ctl_param_str(call, "ListenerId"), *rule = ctl_param_str(call, "RuleId");
	if (e != CTL_E_OK ||
	    (e = ctl_l7_rule(call, rule, id, CTL_E_RESOURCE_NOT_FOUND, &r, &rec)) != CTL_E_OK ||
	    (e = ctl_l7_running(call, &rec)) != CTL_E_OK)
		return e;
	if ((f = json_deep_copy(r->fields)) == NULL)
		return CTL_E_INTERNAL_ERROR;
	if ((e = rule_options(call, f, &rec, 0)) == CTL_E_OK) {
		struct sm_change c = { .op = SM_MODIFY_RULE, .id = id, .rule = rule, .fields = f,
			.allowed = ctl_l7_allowed, .allowed_arg = call };
		sm_apply(call->deps->sm, &c, &o);
		if ((e = ctl_l7_sm_error(call, &c, &o)) == CTL_E_OK)
			LOG_INFO("api", "rule=%s listener=%s: modified", rule, id);
	}
	json_decref(f);
	return e;
}

/* ---- DeleteRule ---- */

enum ctl_err ctl_act_delete_rule(struct ctl_call *call)
{
	static const struct ctl_param schema[] = {
		{ "ListenerId", CTL_P_STRING, 1 },
		{ "RuleId", CTL_P_STRING, 1 },
		{ "Force", CTL_P_UINT, 1 },
	};
	const struct l7_rule *r;
	struct st_listener rec;
	struct sm_outcome o;
	int force;
	enum ctl_err e = ctl_params_check(call, schema, sizeof(schema) / sizeof(schema[0]));
	const char *id = ctl_param_str(call, "ListenerId"), *rule = ctl_param_str(call, "RuleId");
	if (e != CTL_E_OK || (e = ctl_l7_force(call, &force)) != CTL_E_OK ||
	    (e = ctl_l7_rule(call, rule, id, CTL_E_RESOURCE_NOT_FOUND, &r, &rec)) != CTL_E_OK ||
	    (e = ctl_l7_running(call, &rec)) != CTL_E_OK)
		return e;
	struct sm_change c = { .op = SM_DELETE_RULE, .id = id, .rule = rule, .force = force,
		.allowed = ctl_l7_allowed, .allowed_arg = call };
	sm_apply(call->deps->sm, &c, &o);
	if ((e = ctl_l7_sm_error(call, &c, &o)) == CTL_E_OK)
		LOG_INFO("api", "rule=%s listener=%s force=%d: deleted", rule, id, force);
	return e;
}

/* ---- DescribeRulesByRuleIds ---- */

/* Ids that name no rule are left out; a rule of a listener the key may not manage refuses the
 * call. RuleIds absent is RuleIds [] (GET/form cannot say []): both name too few rules. */
enum ctl_err ctl_act_describe_rules_by_rule_ids(struct ctl_call *call)
{
	static const struct ctl_param schema[] = { { "RuleIds", CTL_P_STRING_ARRAY, 0 } };
	const char *seen[RULE_IDS_MAX];
	size_t n = 0, i, k;
	struct st_listener rec;
	json_t *v, *set;
	enum ctl_err e = ctl_params_check(call, schema, 1);
	const json_t *ids = ctl_param_array(call, "RuleIds");
	if (e != CTL_E_OK)
		return e;
	if (json_array_size(ids) < 1 || json_array_size(ids) > RULE_IDS_MAX)
		return ctl_fail(call, CTL_E_INVALID_PARAMETER_VALUE, "RuleIds must name 1 to %d rules.",
			RULE_IDS_MAX);
	if ((set = json_array()) == NULL)
		return CTL_E_INTERNAL_ERROR;
	json_array_foreach(ids, i, v) {
		const struct l7_rule *r = l7_rule_find(sm_l7(call->deps->sm), json_string_value(v));
		for (k = 0; k < n && strcmp(seen[k], json_string_value(v)) != 0; k++)
			;
		if (k < n || r == NULL)
			continue;
		seen[n++] = json_string_value(v);
		if ((e = ctl_l7_listener(call, r->listener, CTL_E_INVALID_PARAMETER_VALUE, &rec)) !=
		    CTL_E_OK)
			break;
		if (json_array_append_new(set, ctl_l7_rule_json(call->deps->sm, r)) != 0)
			e = CTL_E_INTERNAL_ERROR;
	}
	if (e == CTL_E_OK && json_object_set_new(call->result, "TotalCount",
	    json_integer((json_int_t)json_array_size(set))) == 0 &&
	    json_object_set(call->result, "RuleSet", set) == 0) {
		json_decref(set);
		return CTL_E_OK;
	}
	json_decref(set);
	return e != CTL_E_OK ? e : CTL_E_INTERNAL_ERROR;
}
