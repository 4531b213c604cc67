/* control/act_https.c - the HTTPS listener actions (l7-and-https.md §6, §7.7):
 * CreateHTTPSListener, DescribeHTTPSListeners, ModifyHTTPSListenerAttribute, SetTlsVersion. An
 * HTTPS listener is an HTTP listener with TLS members (st_https, in its own record); creating,
 * describing and the refusals are act_listener.c's, what its certificates name and what the TLS
 * library accepts the state machine's (sm_tls.c). An HTTP listener given to an HTTPS-only action
 * is "no HTTPS listener with that id" (§1.3).
 */
#include <stdio.h>
#include <string.h>

#include "act_l7.h"
#include "act_listener.h"
#include "actions.h"
#include "cfg.h"
#include "creds.h"
#include "listener.h"
#include "log.h"
#include "params.h"
#include "state/certs.h"
#include "state/sm.h"
#include "tls/tls.h"

/* ForwardProtocol, when given: HTTP or HTTPS. */
static enum ctl_err forward_check(struct ctl_call *call, const char *fwd)
{
	if (fwd == NULL || strcmp(fwd, "HTTP") == 0 || strcmp(fwd, "HTTPS") == 0)
		return CTL_E_OK;
	return ctl_fail(call, CTL_E_INVALID_PARAMETER_VALUE, "ForwardProtocol must be HTTP or HTTPS, "
		"not %s.", fwd);
}

/* ClientCertificateId / PolyClientCertificateIds: the ids (NULL when neither is given); both
 * together is InvalidParameter. */
static json_t *client_ids(struct ctl_call *call, enum ctl_err *e)
{
	const char *one = ctl_param_str(call, "ClientCertificateId");
	const json_t *poly = ctl_param_array(call, "PolyClientCertificateIds");
	*e = CTL_E_OK;
	if (one != NULL && poly != NULL) {
		*e = ctl_fail(call, CTL_E_INVALID_PARAMETER, "Give ClientCertificateId or "
			"PolyClientCertificateIds, not both.");
		return NULL;
	}
	if (json_array_size(poly) > ST_CLIENT_CAS_MAX) {
		*e = ctl_fail(call, CTL_E_INVALID_PARAMETER_VALUE, "At most %d client CA "
			"certificates.", ST_CLIENT_CAS_MAX);
		return NULL;
	}
	return one != NULL ? json_pack("[s]", one) : poly != NULL ? json_deep_copy(poly) : NULL;
}

/* ---- CreateHTTPSListener ---- */

/* The TLS members of the call into h, with the node's default versions and ciphers. */
static enum ctl_err https_members(struct ctl_call *call, struct st_https *h)
{
	const char *cert = ctl_param_str(call, "CertificateId");
	const char *fwd = ctl_param_str(call, "ForwardProtocol");
	uint64_t auth = 0;
	json_t *cas, *v;
	enum ctl_err e;
	size_t i;
	(void)ctl_param_uint(call, "AuthType", &auth);
	if (auth > 1)
		return ctl_fail(call, CTL_E_INVALID_PARAMETER_VALUE, "AuthType must be 0 or 1.");
	cas = client_ids(call, &e);
	if (e == CTL_E_OK && (e = forward_check(call, fwd)) == CTL_E_OK) {
		if (auth == 1 && json_array_size(cas) == 0)
			e = ctl_fail(call, CTL_E_MISSING_PARAMETER, "AuthType 1 needs "
				"ClientCertificateId or PolyClientCertificateIds.");
		else if (auth == 0 && json_array_size(cas) > 0)
			e = ctl_fail(call, CTL_E_INVALID_PARAMETER_VALUE, "Client CA certificates need "
				"AuthType 1.");
	}
	json_array_foreach(cas, i, v)
		if (e == CTL_E_OK && strlen(json_string_value(v)) >= ST_ID_MAX)
			e = ctl_fail(call, CTL_E_INVALID_CERTIFICATE_ID, "CertificateId(%.64s) Not "
				"Exist.", json_string_value(v));
		else if (e == CTL_E_OK)
			snprintf(h->cas[h->ncas++], ST_ID_MAX, "%s", json_string_value(v));
	json_decref(cas);
	if (e == CTL_E_OK && strlen(cert) >= ST_ID_MAX)
		e = ctl_fail(call, CTL_E_INVALID_CERTIFICATE_ID, "CertificateId(%.64s) Not Exist.",
			cert);
	if (e != CTL_E_OK)
		return e;
	snprintf(h->cert, sizeof(h->cert), "%s", cert);
	snprintf(h->forward, sizeof(h->forward), "%s", fwd);
	h->auth_type = (int)auth;
	h->versions = call->deps->cfg->tls.default_versions;
	h->ciphers = call->deps->cfg->tls.default_ciphers;
	return CTL_E_OK;
}

enum ctl_err ctl_act_create_https_listener(struct ctl_call *call)
{
	static const struct ctl_param schema[] = {
		{ "ListenerName", CTL_P_STRING, 1 },
		{ "Port", CTL_P_UINT, 1 },
		{ "CertificateId", CTL_P_STRING, 1 },
		{ "ForwardProtocol", CTL_P_STRING, 1 },
		{ "ProxyId", CTL_P_STRING, 0 },
		{ "GroupId", CTL_P_STRING, 0 },
		{ "AuthType", CTL_P_UINT, 0 },
		{ "ClientCertificateId", CTL_P_STRING, 0 },
		{ "PolyClientCertificateIds", CTL_P_STRING_ARRAY, 0 },
		{ "Http3Supported", CTL_P_INT, 0 },
	};
	struct sm_change c = { .op = SM_CREATE_LISTENER, .rec = { .protocol = "HTTPS" } };
	int64_t http3 = 0;
	enum ctl_err e = ctl_params_check(call, schema, sizeof(schema) / sizeof(schema[0]));
	if (e != CTL_E_OK)
		return e;
	(void)ctl_param_int(call, "Http3Supported", &http3);
	if (http3 == 1)
		return ctl_fail(call, CTL_E_UNSUPPORTED_OPERATION, "Http3Supported 1: this node does "
			"not serve HTTP/3.");
	if (http3 != 0)
		return ctl_fail(call, CTL_E_INVALID_PARAMETER_VALUE, "Http3Supported must be 0.");
	if ((e = https_members(call, &c.rec.https)) != CTL_E_OK)
		return e;
	return ctl_listener_create(call, &c);
}

/* ---- DescribeHTTPSListeners ---- */

static json_t *alias_of(const struct cs_set *certs, const char *id)
{
	const struct cs_cert *c = cs_find(certs, id);
	json_t *a = c != NULL ? json_object_get(c->fields, "CertificateAlias") : NULL;
	return a != NULL ? json_incref(a) : json_string("");
}

/* [{CertificateId, CertificateAlias}] of the listener's client CAs (never empty: AuthType 1). */
static json_t *alias_info(const struct cs_set *certs, const struct st_https *h)
{
	json_t *list = json_array();
	for (size_t i = 0; list != NULL && i < h->ncas; i++)
		if (json_array_append_new(list, json_pack("{s:s, s:o}", "CertificateId", h->cas[i],
		    "CertificateAlias", alias_of(certs, h->cas[i]))) != 0) {
			json_decref(list);
			return NULL;
		}
	return list;
}

static json_t *versions_json(unsigned v)
{
	const char *names[4];
	size_t n = tls_version_names(v, names);
	json_t *list = json_array();
	for (size_t i = 0; list != NULL && i < n; i++)
		if (json_array_append_new(list, json_string(names[i])) != 0) {
			json_decref(list);
			return NULL;
		}
	return list;
}

/* The HTTPSListener of §6.2. */
static json_t *https_json(const struct lsn *l, void *arg)
{
	const struct ctl_deps *deps = arg;
	const struct cs_set *certs = sm_certs(deps->sm);
	const struct st_listener *r = &l->rec;
	const struct st_https *h = &r->https;
	int mutual = h->auth_type == 1 && h->ncas > 0;
	return json_pack("{s:s, s:s, s:I, s:s, s:I, s:s, s:o, s:s, s:I, s:i, s:s?, s:o, s:o, s:i, "
		"s:s?, s:s?, s:o, s:s}", "ListenerId", r->id, "ListenerName", r->name,
		"Port", (json_int_t)r->port, "Protocol", r->protocol,
		"ListenerStatus", (json_int_t)ctl_listener_status(deps, l), "CertificateId", h->cert,
		"CertificateAlias", alias_of(certs, h->cert), "ForwardProtocol", h->forward,
		"CreateTime", (json_int_t)r->create_time, "AuthType", h->auth_type,
		"ClientCertificateId", mutual ? h->cas[0] : NULL,
		"ClientCertificateAlias", mutual ? alias_of(certs, h->cas[0]) : json_null(),
		"PolyClientCertificateAliasInfo", mutual ? alias_info(certs, h) : json_null(),
		"Http3Supported", 0, "ProxyId", r->proxy_id[0] ? r->proxy_id : NULL,
		"GroupId", r->group_id[0] ? r->group_id : NULL,
		"TLSSupportVersion", versions_json(h->versions),
		"TLSCiphers", tls_ciphers_name((enum tls_ciphers)h->ciphers));
}

enum ctl_err ctl_act_describe_https_listeners(struct ctl_call *call)
{
	static const struct ctl_param schema[] = {
		{ "ProxyId", CTL_P_STRING, 0 },
		{ "GroupId", CTL_P_STRING, 0 },
		{ "ListenerId", CTL_P_STRING, 0 },
		{ "ListenerName", CTL_P_STRING, 0 },
		{ "Port", CTL_P_UINT, 0 },
		{ "Offset", CTL_P_UINT, 0 },
		{ "Limit", CTL_P_UINT, 0 },
		{ "SearchValue", CTL_P_STRING, 0 },
		{ "Http3Supported", CTL_P_INT, 0 },
	};
	int64_t http3 = 0;
	enum ctl_err e = ctl_params_check(call, schema, sizeof(schema) / sizeof(schema[0]));
	if (e != CTL_E_OK)
		return e;
	(void)ctl_param_int(call, "Http3Supported", &http3);
	/* no listener serves HTTP/3: asking for those matches none (§6.2) */
	return ctl_listener_describe(call, "HTTPS", http3 == 1, https_json,
		(void *)call->deps);
}

/* ---- ModifyHTTPSListenerAttribute ---- */

/* The members the call changes, for SM_MODIFY_HTTPS_LISTENER. */
static json_t *modify_fields(struct ctl_call *call, enum ctl_err *e)
{
	const char *fwd = ctl_param_str(call, "ForwardProtocol");
	const char *cert = ctl_param_str(call, "CertificateId");
	json_t *f = json_object(), *cas = client_ids(call, e);
	if (*e == CTL_E_OK)
		*e = forward_check(call, fwd);
	if (*e == CTL_E_OK && (f == NULL ||
	    (fwd != NULL && json_object_set_new(f, "ForwardProtocol", json_string(fwd)) != 0) ||
	    (cert != NULL && json_object_set_new(f, "CertificateId", json_string(cert)) != 0) ||
	    (cas != NULL && json_object_set(f, "ClientCertificateIds", cas) != 0)))
		*e = CTL_E_INTERNAL_ERROR;
	json_decref(cas);
	if (*e != CTL_E_OK) {
		json_decref(f);
		return NULL;
	}
	return f;
}

static enum ctl_err modify_error(struct ctl_call *call, const struct sm_change *c,
	const struct sm_outcome *o)
{
	switch (o->err) {
	case SM_E_CERT_UNKNOWN:         /* the action's list has no InvalidCertificateId */
		return ctl_fail(call, CTL_E_INVALID_PARAMETER_VALUE, "CertificateId(%s) names no "
			"certificate of the type needed (server: 2, client CA: 1).", o->detail);
	case SM_E_GROUP_LISTENER:
		return ctl_fail(call, CTL_E_FAILED_OPERATION, "Listener %s belongs to proxy group "
			"%s: not supported for groups.", c->id, o->detail);
	default:
		return ctl_listener_sm_error(call, c, o);
	}
}

enum ctl_err ctl_act_modify_https_listener_attribute(struct ctl_call *call)
{
	static const struct ctl_param schema[] = {
		{ "ListenerId", CTL_P_STRING, 1 },
		{ "ProxyId", CTL_P_STRING, 0 },
		{ "ListenerName", CTL_P_STRING, 0 },
		{ "ForwardProtocol", CTL_P_STRING, 0 },
		{ "CertificateId", CTL_P_STRING, 0 },
		{ "ClientCertificateId", CTL_P_STRING, 0 },
		{ "PolyClientCertificateIds", CTL_P_STRING_ARRAY, 0 },
	};
	const struct cfg_proxy *p = NULL;
	struct st_listener rec;
	struct sm_outcome o;
	char err[160];
	json_t *f;
	enum ctl_err e = ctl_params_check(call, schema, sizeof(schema) / sizeof(schema[0]));
	if (e != CTL_E_OK)
		return e;
	const char *id = ctl_param_str(call, "ListenerId"), *name = ctl_param_str(call, "ListenerName");
	const char *proxy = ctl_param_str(call, "ProxyId");
	if (name != NULL && ctl_listener_name_check(name, err, sizeof(err)) != 0)
		return ctl_fail(call, CTL_E_INVALID_PARAMETER_VALUE, "%s", err);
	if (proxy != NULL && (e = ctl_listener_resolve_proxy(call, proxy, &p)) != CTL_E_OK)
		return e;
	if ((e = ctl_l7_listener(call, id, CTL_E_RESOURCE_NOT_FOUND, &rec)) != CTL_E_OK)
		return e;
	if (strcmp(rec.protocol, "HTTPS") != 0)
		return ctl_fail(call, CTL_E_RESOURCE_NOT_FOUND, "ListenerId(%s) Not Exist.", id);
	if (rec.group_id[0] == '\0' && (e = ctl_l7_running(call, &rec)) != CTL_E_OK)
		return e;
	if ((f = modify_fields(call, &e)) == NULL)
		return e;
	struct sm_change c = { .op = SM_MODIFY_HTTPS_LISTENER, .id = id, .name = name,
		.fields = f, .scope_proxy = p != NULL ? p->id : NULL, .allowed = ctl_l7_allowed,
		.allowed_arg = call };
	sm_apply(call->deps->sm, &c, &o);
	json_decref(f);
	if (o.err != SM_OK)
		return modify_error(call, &c, &o);
	LOG_INFO("api", "listener=%s: HTTPS attributes changed", id);
	return CTL_E_OK;
}

/* ---- SetTlsVersion ---- */

static enum ctl_err tls_params(struct ctl_call *call, unsigned *versions, int *ciphers)
{
	const json_t *list = ctl_param_array(call, "TLSSupportVersion");
	const char *name = ctl_param_str(call, "TLSCiphers");
	enum tls_ciphers c;
	json_t *v;
	size_t i;
	*versions = 0;
	json_array_foreach(list, i, v) {
		unsigned bit = tls_version_bit(json_string_value(v));
		if (bit == 0)
			return ctl_fail(call, CTL_E_INVALID_PARAMETER_VALUE, "TLSSupportVersion: %.40s "
				"is none of TLSv1, TLSv1.1, TLSv1.2, TLSv1.3.", json_string_value(v));
		*versions |= bit;
	}
	if (*versions == 0)
		return ctl_fail(call, CTL_E_INVALID_PARAMETER_VALUE, "TLSSupportVersion must name at "
			"least one version.");
	if (tls_ciphers_parse(name, &c) != 0)
		return ctl_fail(call, CTL_E_INVALID_PARAMETER_VALUE, "TLSCiphers must be "
			"GAAP_TLS_CIPHERS_STRICT, GAAP_TLS_CIPHERS_GENERAL or GAAP_TLS_CIPHERS_WIDE.");
	*ciphers = (int)c;
	return CTL_E_OK;
}

/* The HTTPS listener called id, read under the lock into rec; the published list has no
 * ResourceNotFound (§7.7). */
static enum ctl_err https_listener(struct ctl_call *call, const char *id, struct st_listener *rec)
{
	const struct lsn *l;
	int found;
	lsn_table_lock(call->deps->listeners);
	l = lsn_table_find(call->deps->listeners, id);
	if ((found = l != NULL && strcmp(l->rec.protocol, "HTTPS") == 0))
		*rec = l->rec;
	lsn_table_unlock(call->deps->listeners);
	return found ? CTL_E_OK : ctl_fail(call, CTL_E_INVALID_PARAMETER_VALUE,
		"ListenerId(%s) Not Exist.", id);
}

enum ctl_err ctl_act_set_tls_version(struct ctl_call *call)
{
	static const struct ctl_param schema[] = {
		{ "ListenerId", CTL_P_STRING, 1 },
		{ "TLSSupportVersion", CTL_P_STRING_ARRAY, 1 },
		{ "TLSCiphers", CTL_P_STRING, 1 },
	};
	struct st_listener rec;
	struct sm_outcome o;
	unsigned versions;
	int ciphers = 0;
	enum ctl_err e = ctl_params_check(call, schema, sizeof(schema) / sizeof(schema[0]));
	if (e != CTL_E_OK || (e = tls_params(call, &versions, &ciphers)) != CTL_E_OK)
		return e;
	const char *id = ctl_param_str(call, "ListenerId");
	if ((e = https_listener(call, id, &rec)) != CTL_E_OK)
		return e;
	if (!ctl_may_manage_listener(call, &rec))
		return ctl_fail(call, CTL_E_UNAUTHORIZED_OPERATION, "SecretId %s may not manage "
			"listener %s.", call->cred->secret_id, id);
	if ((e = ctl_l7_running(call, &rec)) != CTL_E_OK)
		return e == CTL_E_GROUP_STATUS_NOT_IN_RUNING ? ctl_fail(call,
			CTL_E_INSTANCE_STATUS_NOT_IN_RUNING, "The listener's proxy group is not "
			"RUNNING.") : e;
	struct sm_change c = { .op = SM_SET_TLS, .id = id, .tls_versions = versions,
		.tls_ciphers = ciphers, .allowed = ctl_l7_allowed, .allowed_arg = call };
	sm_apply(call->deps->sm, &c, &o);
	if (o.err == SM_E_NOT_FOUND || o.err == SM_E_NOT_HTTPS)
		return ctl_fail(call, CTL_E_INVALID_PARAMETER_VALUE, "ListenerId(%s) Not Exist.", id);
	if (o.err != SM_OK)
		return ctl_listener_sm_error(call, &c, &o);
	LOG_INFO("api", "listener=%s: TLS versions 0x%x ciphers %s", id, versions,
		tls_ciphers_name((enum tls_ciphers)ciphers));
	return CTL_E_OK;
}
