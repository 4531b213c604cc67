/* control/act_domain.c - the domain actions (l7-and-https.md §3, §4.6): CreateDomain,
 * ModifyDomain, DeleteDomain, and DescribeRules, which answers a listener's domains with their
 * rules. Syntax is checked here; what depends on the state (the listener and the domain exist,
 * names are unique, limits) is the state machine's (state/sm.h), whose refusals act_l7.c words.
 * Certificates belong to HTTPS listeners: on an HTTP listener only "default" (the listener's) is
 * accepted, as a no-op, because Terraform sends it on every ModifyDomain [tf].
 */
#include <stdio.h>
#include <string.h>

#include "act_l7.h"
#include "actions.h"
#include "log.h"
#include "params.h"
#include "state/certs.h"
#include "state/l7.h"
#include "state/sm.h"

#define CERT_DEFAULT "default"

/* The certificate parameters of CreateDomain / ModifyDomain on an HTTP listener: absent or
 * "default" (PolyClientCertificateIds: absent, [] or ["default"]). */
static enum ctl_err http_certificates(struct ctl_call *call)
{
	static const char *const single[] = { "CertificateId", "ClientCertificateId" };
	const json_t *poly = ctl_param_array(call, "PolyClientCertificateIds");
	for (size_t i = 0; i < sizeof(single) / sizeof(single[0]); i++) {
		const char *v = ctl_param_str(call, single[i]);
		if (v != NULL && strcmp(v, CERT_DEFAULT) != 0)
			return ctl_fail(call, CTL_E_INVALID_PARAMETER_VALUE, "%s(%s): an HTTP listener's "
				"domains have no certificates; only \"default\" is accepted.", single[i], v);
	}
	if (json_array_size(poly) > 1 || (json_array_size(poly) == 1 &&
	    strcmp(json_string_value(json_array_get(poly, 0)), CERT_DEFAULT) != 0))
		return ctl_fail(call, CTL_E_INVALID_PARAMETER_VALUE, "PolyClientCertificateIds: an "
			"HTTP listener's domains have no client certificates; only [\"default\"] is "
			"accepted.");
	return CTL_E_OK;
}

/* ClientCertificateId / PolyClientCertificateIds of the call as the domain's client CAs: NULL
 * when neither is given (keep), [] for "default" / ["default"] (the listener's), else the ids.
 * *e set on a refusal. */
static json_t *client_cas(struct ctl_call *call, enum ctl_err *e)
{
	const char *one = ctl_param_str(call, "ClientCertificateId");
	const json_t *poly = ctl_param_array(call, "PolyClientCertificateIds");
	json_t *v;
	size_t i;
	*e = CTL_E_OK;
	if (one != NULL && poly != NULL) {
		*e = ctl_fail(call, CTL_E_INVALID_PARAMETER_VALUE, "Give ClientCertificateId or "
			"PolyClientCertificateIds, not both.");
		return NULL;
	}
	if (one != NULL)
		return strcmp(one, CERT_DEFAULT) == 0 ? json_array() : json_pack("[s]", one);
	if (poly == NULL)
		return NULL;
	if (json_array_size(poly) == 1 &&
	    strcmp(json_string_value(json_array_get(poly, 0)), CERT_DEFAULT) == 0)
		return json_array();
	json_array_foreach(poly, i, v)
		if (strcmp(json_string_value(v), CERT_DEFAULT) == 0) {
			*e = ctl_fail(call, CTL_E_INVALID_PARAMETER_VALUE, "PolyClientCertificateIds: "
				"\"default\" stands alone.");
			return NULL;
		}
	return json_deep_copy(poly);
}

/* The certificate parameters on the listener rec into the domain's fields: an HTTP listener
 * takes only "default"; on an HTTPS one CertificateId "default" is null (the listener's), client
 * CAs as client_cas(); absent ones leave fields as they are. What they name is the state
 * machine's to check (sm_tls_check_domain). */
static enum ctl_err certificates(struct ctl_call *call, const struct st_listener *rec,
	json_t *fields)
{
	const char *cert = ctl_param_str(call, "CertificateId");
	enum ctl_err e;
	json_t *cas;
	if (strcmp(rec->protocol, "HTTPS") != 0)
		return http_certificates(call);
	cas = client_cas(call, &e);
	if (e != CTL_E_OK)
		return e;
	if ((cert != NULL && json_object_set_new(fields, "CertificateId",
	    strcmp(cert, CERT_DEFAULT) == 0 ? json_null() : json_string(cert)) != 0) ||
	    (cas != NULL && json_object_set_new(fields, "PolyClientCertificateIds", cas) != 0))
		return CTL_E_INTERNAL_ERROR;
	return CTL_E_OK;
}

static enum ctl_err domain_syntax(struct ctl_call *call, const char *field, const char *name)
{
	char key[L7_DOMAIN_MAX];
	if (l7_domain_key(name, key) == 0)
		return CTL_E_OK;
	return ctl_fail(call, CTL_E_INVALID_PARAMETER_VALUE, "%s(%s) must be an exact host name: 3 to "
		"80 characters of letters, digits, '.' and '-' (no wildcards, ports or trailing dot).",
		field, name);
}

/* ---- CreateDomain ---- */

enum ctl_err ctl_act_create_domain(struct ctl_call *call)
{
	static const struct ctl_param schema[] = {
		{ "ListenerId", CTL_P_STRING, 1 },
		{ "Domain", CTL_P_STRING, 1 },
		{ "CertificateId", CTL_P_STRING, 0 },
		{ "ClientCertificateId", CTL_P_STRING, 0 },
		{ "PolyClientCertificateIds", CTL_P_STRING_ARRAY, 0 },
		{ "Http3Supported", CTL_P_UINT, 0 },
		{ "IsDefaultServer", CTL_P_BOOL, 0 },
	};
	struct st_listener rec;
	struct sm_outcome o;
	uint64_t http3 = 0;
	int is_default = 0;
	json_t *fields;
	enum ctl_err e = ctl_params_check(call, schema, sizeof(schema) / sizeof(schema[0]));
	if (e != CTL_E_OK)
		return e;
	const char *id = ctl_param_str(call, "ListenerId"), *name = ctl_param_str(call, "Domain");
	(void)ctl_param_uint(call, "Http3Supported", &http3);
	(void)ctl_param_bool(call, "IsDefaultServer", &is_default);
	if ((e = domain_syntax(call, "Domain", name)) != CTL_E_OK)
		return e;
	if (http3 != 0)
		return ctl_fail(call, CTL_E_INVALID_PARAMETER_VALUE, "Http3Supported must be 0: this "
			"node does not serve HTTP/3.");
	if (ctl_param_str(call, "ClientCertificateId") != NULL &&
	    ctl_param_array(call, "PolyClientCertificateIds") != NULL)
		return ctl_fail(call, CTL_E_INVALID_PARAMETER_VALUE, "Give ClientCertificateId or "
			"PolyClientCertificateIds, not both.");
	if ((e = ctl_l7_listener(call, id, CTL_E_INVALID_LISTENER_PROTOCOL, &rec)) != CTL_E_OK ||
	    (e = ctl_l7_running(call, &rec)) != CTL_E_OK)
		return e;
	fields = json_pack("{s:s, s:b, s:n, s:n, s:[]}", "Domain", name, "IsDefaultServer",
		is_default, "CertificateId", "ClientCertificateId", "PolyClientCertificateIds");
	if (fields == NULL)
		return CTL_E_INTERNAL_ERROR;
	if ((e = certificates(call, &rec, fields)) != CTL_E_OK) {
		json_decref(fields);
		return e;
	}
	struct sm_change c = { .op = SM_CREATE_DOMAIN, .id = id, .name = name, .fields = fields,
		.allowed = ctl_l7_allowed, .allowed_arg = call };
	sm_apply(call->deps->sm, &c, &o);
	json_decref(fields);
	if ((e = ctl_l7_sm_error(call, &c, &o)) == CTL_E_OK)
		LOG_INFO("api", "listener=%s domain=%s default=%d: created", id, name, is_default);
	return e;
}

/* ---- ModifyDomain ---- */

/* The domain's new fields: its current ones with the name and the default flag the call gives. */
static json_t *modified_domain(struct ctl_call *call, const struct l7_domain *d, const char *name)
{
	json_t *f = json_deep_copy(d->fields);
	int is_default;
	if (f == NULL || json_object_set_new(f, "Domain", json_string(name)) != 0 ||
	    (ctl_param_bool(call, "IsDefaultServer", &is_default) == 0 &&
	    json_object_set_new(f, "IsDefaultServer", json_boolean(is_default)) != 0)) {
		json_decref(f);
		return NULL;
	}
	return f;
}

enum ctl_err ctl_act_modify_domain(struct ctl_call *call)
{
	static const struct ctl_param schema[] = {
		{ "ListenerId", CTL_P_STRING, 1 },
		{ "OldDomain", CTL_P_STRING, 1 },
		{ "NewDomain", CTL_P_STRING, 1 },
		{ "CertificateId", CTL_P_STRING, 0 },
		{ "ClientCertificateId", CTL_P_STRING, 0 },
		{ "PolyClientCertificateIds", CTL_P_STRING_ARRAY, 0 },
		{ "IsDefaultServer", CTL_P_BOOL, 0 },
	};
	struct st_listener rec;
	struct sm_outcome o;
	const struct l7_domain *d;
	json_t *fields;
	enum ctl_err e = ctl_params_check(call, schema, sizeof(schema) / sizeof(schema[0]));
	if (e != CTL_E_OK)
		return e;
	const char *id = ctl_param_str(call, "ListenerId"), *old = ctl_param_str(call, "OldDomain");
	const char *name = ctl_param_str(call, "NewDomain");
	if ((e = domain_syntax(call, "NewDomain", name)) != CTL_E_OK ||
	    (e = ctl_l7_listener(call, id, CTL_E_INVALID_LISTENER_PROTOCOL, &rec)) != CTL_E_OK ||
	    (e = ctl_l7_running(call, &rec)) != CTL_E_OK)
		return e;
	if ((d = l7_domain_find(sm_l7(call->deps->sm), id, old)) == NULL)
		return ctl_fail(call, CTL_E_RESOURCE_NOT_FOUND, "Domain(%s) Not Exist.", old);
	if ((fields = modified_domain(call, d, name)) == NULL)
		return CTL_E_INTERNAL_ERROR;
	if ((e = certificates(call, &rec, fields)) != CTL_E_OK) {
		json_decref(fields);
		return e;
	}
	struct sm_change c = { .op = SM_MODIFY_DOMAIN, .id = id, .name = old, .fields = fields,
		.allowed = ctl_l7_allowed, .allowed_arg = call };
	sm_apply(call->deps->sm, &c, &o);
	if ((e = ctl_l7_sm_error(call, &c, &o)) == CTL_E_OK)
		LOG_INFO("api", "listener=%s domain=%s: now %s default=%d", id, old, name,
			json_is_true(json_object_get(fields, "IsDefaultServer")));
	json_decref(fields);
	return e;
}

/* ---- DeleteDomain ---- */

enum ctl_err ctl_act_delete_domain(struct ctl_call *call)
{
	static const struct ctl_param schema[] = {
		{ "ListenerId", CTL_P_STRING, 1 },
		{ "Domain", CTL_P_STRING, 1 },
		{ "Force", CTL_P_UINT, 1 },
	};
	struct st_listener rec;
	struct sm_outcome o;
	int force;
	enum ctl_err e = ctl_params_check(call, schema, sizeof(schema) / sizeof(schema[0]));
	if (e != CTL_E_OK || (e = ctl_l7_force(call, &force)) != CTL_E_OK)
		return e;
	const char *id = ctl_param_str(call, "ListenerId"), *name = ctl_param_str(call, "Domain");
	if ((e = ctl_l7_listener(call, id, CTL_E_INVALID_LISTENER_PROTOCOL, &rec)) != CTL_E_OK ||
	    (e = ctl_l7_running(call, &rec)) != CTL_E_OK)
		return e;
	struct sm_change c = { .op = SM_DELETE_DOMAIN, .id = id, .name = name, .force = force,
		.allowed = ctl_l7_allowed, .allowed_arg = call };
	sm_apply(call->deps->sm, &c, &o);
	if ((e = ctl_l7_sm_error(call, &c, &o)) == CTL_E_OK)
		LOG_INFO("api", "listener=%s domain=%s force=%d: deleted", id, name, force);
	return e;
}

/* ---- DescribeRules ---- */

static json_t *rule_set_json(struct sm *sm, const struct l7_domain *d)
{
	const struct l7_set *l7 = sm_l7(sm);
	json_t *set = json_array();
	for (size_t i = 0; set != NULL && i < l7_rule_count(l7, d->id); i++)
		if (json_array_append_new(set, ctl_l7_rule_json(sm, l7_rule_at(l7, d->id, i))) != 0) {
			json_decref(set);
			set = NULL;
		}
	return set;
}

static json_t *alias_of(const struct cs_set *certs, const char *id)
{
	const struct cs_cert *c = id != NULL ? cs_find(certs, id) : NULL;
	json_t *a = c != NULL ? json_object_get(c->fields, "CertificateAlias") : NULL;
	return a != NULL ? json_incref(a) : json_null();
}

/* The certificate members of an HTTPS listener's domain (§4.5): "default" for the listener's
 * (with the alias of the listener's), else the domain's own. */
static int https_members(struct sm *sm, const struct st_listener *rec, json_t *f, json_t *j)
{
	const struct cs_set *certs = sm_certs(sm);
	const char *cert = json_string_value(json_object_get(f, "CertificateId"));
	json_t *own = json_object_get(f, "PolyClientCertificateIds"), *info = json_array(), *v;
	int mutual = rec->https.auth_type == 1, ok = info != NULL;
	size_t i;
	ok = ok && json_object_set_new(j, "CertificateId", json_string(cert ? cert : "default")) ==
		0 && json_object_set_new(j, "CertificateAlias", alias_of(certs, cert ? cert :
		rec->https.cert)) == 0;
	if (ok && mutual && json_array_size(own) == 0)
		ok = json_array_append_new(info, json_pack("{s:s, s:o}", "CertificateId", "default",
			"CertificateAlias", alias_of(certs, rec->https.cas[0]))) == 0;
	json_array_foreach(own, i, v)
		if (ok && mutual)
			ok = json_array_append_new(info, json_pack("{s:O, s:o}", "CertificateId", v,
				"CertificateAlias", alias_of(certs, json_string_value(v)))) == 0;
	if (ok && mutual) {
		json_t *first = json_array_get(info, 0);
		ok = json_object_set(j, "ClientCertificateId", json_object_get(first,
			"CertificateId")) == 0 && json_object_set(j, "ClientCertificateAlias",
			json_object_get(first, "CertificateAlias")) == 0;
	}
	ok = ok && json_object_set(j, "PolyClientCertificateAliasInfo", info) == 0;
	json_decref(info);
	return ok ? 0 : -1;
}

/* DomainRuleSet (§4.5) of a domain: certificates on an HTTPS listener only, no advanced
 * authentication, no per-domain TLS settings (§10). */
static json_t *domain_json(struct sm *sm, const struct st_listener *rec, const struct l7_domain *d)
{
	json_t *f = d->fields, *rules = rule_set_json(sm, d), *j;
	if (rules == NULL)
		return NULL;
	j = json_pack("{s:O, s:o, s:n, s:n, s:n, s:n, s:n, s:i, s:n, s:n, s:i, s:n, s:n, s:i, "
		"s:n, s:n, s:[], s:[], s:i, s:s, s:i, s:b, s:s, s:[]}",
		"Domain", json_object_get(f, "Domain"), "RuleSet", rules,
		"CertificateId", "CertificateAlias", "ClientCertificateId", "ClientCertificateAlias",
		"BasicAuthConfId", "BasicAuth", 0, "BasicAuthConfAlias",
		"RealServerCertificateId", "RealServerAuth", 0, "RealServerCertificateAlias",
		"GaapCertificateId", "GaapAuth", 0, "GaapCertificateAlias",
		"RealServerCertificateDomain", "PolyClientCertificateAliasInfo",
		"PolyRealServerCertificateAliasInfo", "DomainStatus", 0, "BanStatus", "RECOVER",
		"Http3Supported", 0, "IsDefaultServer", json_is_true(json_object_get(f, "IsDefaultServer")),
		"TLSCiphers", "", "TLSSupportVersion");
	if (j != NULL && strcmp(rec->protocol, "HTTPS") == 0 && https_members(sm, rec, f, j) != 0) {
		json_decref(j);
		return NULL;
	}
	return j;
}

enum ctl_err ctl_act_describe_rules(struct ctl_call *call)
{
	static const struct ctl_param schema[] = { { "ListenerId", CTL_P_STRING, 1 } };
	const struct l7_set *l7 = sm_l7(call->deps->sm);
	struct st_listener rec;
	json_t *set;
	size_t n;
	enum ctl_err e = ctl_params_check(call, schema, 1);
	if (e != CTL_E_OK)
		return e;
	const char *id = ctl_param_str(call, "ListenerId");
	if ((e = ctl_l7_listener(call, id, CTL_E_INVALID_PARAMETER_VALUE, &rec)) != CTL_E_OK)
		return e;
	if ((set = json_array()) == NULL)
		return CTL_E_INTERNAL_ERROR;
	n = l7_domain_count(l7, id);
	for (size_t i = 0; i < n; i++)
		if (json_array_append_new(set, domain_json(call->deps->sm, &rec,
		    l7_domain_at(l7, id, i))) != 0)
			break;
	/* TotalCount counts domains, not rules (§11.3) */
	if (json_array_size(set) != n) {
		json_decref(set);
		return CTL_E_INTERNAL_ERROR;
	}
	return json_object_set_new(call->result, "TotalCount", json_integer((json_int_t)n)) == 0 &&
		json_object_set_new(call->result, "DomainRuleSet", set) == 0 ?
		CTL_E_OK : CTL_E_INTERNAL_ERROR;
}
