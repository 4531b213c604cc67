/* control/act_cert.c - the certificate actions (l7-and-https.md §7.1-7.6): CreateCertificate,
 * DescribeCertificates, DescribeCertificateDetail, ModifyCertificate (a domain's certificates),
 * ModifyCertificateAttributes, DeleteCertificate.
 * Certificates are account-level objects: any valid key may create, describe, rename and delete
 * them (§1.3); using one on a listener needs the listener's rights (act_https.c, act_domain.c).
 * Content and key arrive URL-encoded or as raw PEM (§7.1); tls_cert_check() (tls/tls.h) decides
 * what is acceptable. A private key goes into the state machine's change and nowhere else: no
 * answer carries it (DescribeCertificateDetail's CertificateKey is always null) and no log line or
 * message quotes it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "act_l7.h"
#include "actions.h"
#include "log.h"
#include "params.h"
#include "state/certs.h"
#include "state/l7.h"
#include "state/sm.h"
#include "tls/tls.h"

#define CERT_LIMIT_MAX 100

/* ---- CreateCertificate ---- */

static int hex(int c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 :
		c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Form encoding writes a space as '+': in the PEM armor lines ("-----BEGIN+CERTIFICATE-----")
 * it can only be that (base64 and hashes elsewhere use '+' as itself). */
static void armor_spaces(char *s)
{
	for (char *p = strstr(s, "-----"); p != NULL; p = strstr(p, "-----")) {
		char *end = strstr(p + 5, "-----");
		if (end == NULL)
			return;
		if (strncmp(p + 5, "BEGIN", 5) == 0 || strncmp(p + 5, "END", 3) == 0)
			for (char *q = p + 5; q < end; q++)
				if (*q == '+')
					*q = ' ';
		p = end + 5;
	}
}

/* v as §7.1 takes it: raw PEM (first non-blank characters "-----BEGIN ") as is, anything else
 * percent-decoded once (only %XX: '+' stays but in armor lines, base64 and hashes use it). A new
 * string, or NULL for a bad escape, a NUL byte or ENOMEM (*nomem says which). */
static char *decoded(const char *v, int *nomem)
{
	const char *p = v + strspn(v, " \t\r\n");
	size_t n = strlen(v), k = 0;
	char *out = malloc(n + 1);
	*nomem = out == NULL;
	if (out == NULL || strncmp(p, "-----BEGIN ", 11) == 0) {
		if (out != NULL)
			memcpy(out, v, n + 1);
		return out;
	}
	for (size_t i = 0; i < n; i++) {
		int hi, lo;
		if (v[i] != '%') {
			out[k++] = v[i];
			continue;
		}
		if (i + 2 >= n || (hi = hex(v[i + 1])) < 0 || (lo = hex(v[i + 2])) < 0 ||
		    (hi == 0 && lo == 0)) {
			free(out);
			return NULL;
		}
		out[k++] = (char)(hi << 4 | lo);
		i += 2;
	}
	out[k] = '\0';
	armor_spaces(out);
	return out;
}

static size_t utf8_chars(const char *s)
{
	size_t n = 0;
	for (; *s != '\0'; s++)
		n += ((unsigned char)*s & 0xC0) != 0x80;
	return n;
}

static enum ctl_err alias_check(struct ctl_call *call, const char *alias)
{
	if (alias == NULL || utf8_chars(alias) <= CS_ALIAS_MAX)
		return CTL_E_OK;
	return ctl_fail(call, CTL_E_INVALID_PARAMETER_VALUE, "CertificateAlias has at most %d "
		"characters.", CS_ALIAS_MAX);
}

static enum ctl_err check_error(struct ctl_call *call, enum tls_cert_err e, const char *why)
{
	switch (e) {
	case TLS_CERT_OK:
		return CTL_E_OK;
	case TLS_CERT_E_CONTENT:
		return ctl_fail(call, CTL_E_INVALID_CERTIFICATE_CONTENT, "CertificateContent: %s.", why);
	case TLS_CERT_E_KEY:
		return ctl_fail(call, CTL_E_INVALID_CERTIFICATE_KEY, "CertificateKey: %s.", why);
	case TLS_CERT_E_MISMATCH:
		return ctl_fail(call, CTL_E_CERTIFICATE_CONTENT_NOT_MATCH_KEY, "%s.", why);
	case TLS_CERT_E_PARAM:
		return ctl_fail(call, CTL_E_INVALID_PARAMETER_VALUE, "%s.", why);
	case TLS_CERT_E_NOMEM:
		break;
	}
	return CTL_E_INTERNAL_ERROR;
}

static json_t *str_or_null(const char *s)
{
	return s != NULL && s[0] != '\0' ? json_string(s) : json_null();
}

/* The record for the state machine (state/certs.h), but its id and time. */
static json_t *cert_fields(int64_t type, const char *alias, const char *content, const char *key,
	const struct tls_cert_info *info)
{
	return json_pack("{s:I, s:s, s:s, s:o, s:I, s:I, s:o, s:o}", "CertificateType",
		(json_int_t)type, "CertificateAlias", alias != NULL ? alias : "",
		"CertificateContent", content, "CertificateKey", key != NULL ? json_string(key) :
		json_null(), "BeginTime", (json_int_t)info->begin, "EndTime", (json_int_t)info->end,
		"SubjectCN", str_or_null(info->x509 ? info->subject_cn : NULL),
		"IssuerCN", str_or_null(info->x509 ? info->issuer_cn : NULL));
}

static enum ctl_err create_checked(struct ctl_call *call, int64_t type, const char *content,
	const char *key)
{
	const char *alias = ctl_param_str(call, "CertificateAlias");
	struct tls_cert_info info;
	struct sm_outcome o;
	char why[200];
	json_t *f;
	enum ctl_err e;
	if (type < 0 || type > 4)
		return ctl_fail(call, CTL_E_INVALID_PARAMETER_VALUE, "CertificateType must be 0 to 4.");
	if ((e = check_error(call, tls_cert_check((int)type, content, key, &info, why,
	    sizeof(why)), why)) != CTL_E_OK)
		return e;
	if ((f = cert_fields(type, alias, content, key, &info)) == NULL)
		return CTL_E_INTERNAL_ERROR;
	struct sm_change c = { .op = SM_CREATE_CERT, .fields = f };
	sm_apply(call->deps->sm, &c, &o);
	json_decref(f);
	if (o.err != SM_OK)
		return o.err == SM_E_STORE ? ctl_store_error(call, o.sys) : CTL_E_INTERNAL_ERROR;
	LOG_INFO("api", "certificate=%s type=%lld: created", o.id, (long long)type);
	return json_object_set_new(call->result, "CertificateId", json_string(o.id)) == 0 ?
		CTL_E_OK : CTL_E_INTERNAL_ERROR;
}

enum ctl_err ctl_act_create_certificate(struct ctl_call *call)
{
	static const struct ctl_param schema[] = {
		{ "CertificateType", CTL_P_INT, 1 },
		{ "CertificateContent", CTL_P_STRING, 1 },
		{ "CertificateAlias", CTL_P_STRING, 0 },
		{ "CertificateKey", CTL_P_STRING, 0 },
	};
	char *content = NULL, *key = NULL;
	int64_t type;
	int nomem = 0;
	enum ctl_err e = ctl_params_check(call, schema, sizeof(schema) / sizeof(schema[0]));
	if (e != CTL_E_OK || (e = alias_check(call, ctl_param_str(call, "CertificateAlias"))) !=
	    CTL_E_OK)
		return e;
	(void)ctl_param_int(call, "CertificateType", &type);
	const char *k = ctl_param_str(call, "CertificateKey");
	if ((content = decoded(ctl_param_str(call, "CertificateContent"), &nomem)) == NULL)
		e = nomem ? CTL_E_INTERNAL_ERROR : ctl_fail(call, CTL_E_INVALID_CERTIFICATE_CONTENT,
			"CertificateContent: a bad %%-escape (it is taken URL-encoded unless it "
			"starts with -----BEGIN).");
	else if (k != NULL && (key = decoded(k, &nomem)) == NULL)
		e = nomem ? CTL_E_INTERNAL_ERROR : ctl_fail(call, CTL_E_INVALID_CERTIFICATE_KEY,
			"CertificateKey: a bad %%-escape (it is taken URL-encoded unless it starts "
			"with -----BEGIN).");
	else
		e = create_checked(call, type, content, key);
	if (key != NULL) {
		memset(key, 0, strlen(key));    /* no copy of a key lingers in freed memory */
		free(key);
	}
	free(content);
	return e;
}

/* ---- DescribeCertificates, DescribeCertificateDetail ---- */

/* Describe's members of a record; detail adds content and a null key. */
static json_t *cert_json(const struct cs_cert *c, int detail)
{
	json_t *f = c->fields, *j;
	int x509 = c->type != TLS_CERT_BASIC_AUTH;
	j = json_pack("{s:s, s:i, s:O, s:O, s:o, s:o, s:O, s:O}", "CertificateId", c->id,
		"CertificateType", c->type, "CertificateAlias", json_object_get(f, "CertificateAlias"),
		"CreateTime", json_object_get(f, "CreateTime"),
		"BeginTime", x509 ? json_deep_copy(json_object_get(f, "BeginTime")) : json_null(),
		"EndTime", x509 ? json_deep_copy(json_object_get(f, "EndTime")) : json_null(),
		"IssuerCN", json_object_get(f, "IssuerCN"), "SubjectCN", json_object_get(f, "SubjectCN"));
	if (j != NULL && (detail ? json_object_set(j, "CertificateContent",
	    json_object_get(f, "CertificateContent")) != 0 || json_object_set_new(j,
	    "CertificateKey", json_null()) != 0 : json_object_set(j, "CertificateName",
	    json_object_get(f, "CertificateAlias")) != 0)) {
		json_decref(j);
		return NULL;
	}
	return j;
}

enum ctl_err ctl_act_describe_certificates(struct ctl_call *call)
{
	static const struct ctl_param schema[] = {
		{ "CertificateType", CTL_P_INT, 0 },
		{ "Offset", CTL_P_UINT, 0 },
		{ "Limit", CTL_P_UINT, 0 },
	};
	const struct cs_set *set = sm_certs(call->deps->sm);
	int64_t type = -1;
	size_t offset, limit, total = 0;
	json_t *list;
	enum ctl_err e = ctl_params_check(call, schema, sizeof(schema) / sizeof(schema[0]));
	if (e != CTL_E_OK || (e = ctl_page(call, CERT_LIMIT_MAX, &offset, &limit)) != CTL_E_OK)
		return e;
	(void)ctl_param_int(call, "CertificateType", &type);
	if (type < -1 || type > 4)
		return ctl_fail(call, CTL_E_INVALID_PARAMETER_VALUE, "CertificateType must be -1 "
			"(all) or 0 to 4.");
	if ((list = json_array()) == NULL)
		return CTL_E_INTERNAL_ERROR;
	for (size_t i = 0; i < cs_count(set); i++) {
		const struct cs_cert *c = cs_at(set, i);
		if (type != -1 && c->type != type)
			continue;
		if (total >= offset && total - offset < limit &&
		    json_array_append_new(list, cert_json(c, 0)) != 0) {
			json_decref(list);
			return CTL_E_INTERNAL_ERROR;
		}
		total++;
	}
	return json_object_set_new(call->result, "TotalCount", json_integer((json_int_t)total)) ==
		0 && json_object_set_new(call->result, "CertificateSet", list) == 0 ? CTL_E_OK :
		CTL_E_INTERNAL_ERROR;
}

enum ctl_err ctl_act_describe_certificate_detail(struct ctl_call *call)
{
	static const struct ctl_param schema[] = { { "CertificateId", CTL_P_STRING, 1 } };
	const struct cs_cert *c;
	enum ctl_err e = ctl_params_check(call, schema, 1);
	if (e != CTL_E_OK)
		return e;
	/* Terraform compares this message byte for byte (§7.3) */
	if ((c = cs_find(sm_certs(call->deps->sm), ctl_param_str(call, "CertificateId"))) == NULL)
		return ctl_fail(call, CTL_E_RESOURCE_NOT_FOUND, "CertificateId not found");
	return json_object_set_new(call->result, "CertificateDetail", cert_json(c, 1)) == 0 ?
		CTL_E_OK : CTL_E_INTERNAL_ERROR;
}

/* ---- ModifyCertificateAttributes, DeleteCertificate ---- */

enum ctl_err ctl_act_modify_certificate_attributes(struct ctl_call *call)
{
	static const struct ctl_param schema[] = {
		{ "CertificateId", CTL_P_STRING, 1 },
		{ "CertificateAlias", CTL_P_STRING, 0 },
	};
	const char *id, *alias;
	struct sm_outcome o;
	enum ctl_err e = ctl_params_check(call, schema, sizeof(schema) / sizeof(schema[0]));
	if (e != CTL_E_OK || (e = alias_check(call, ctl_param_str(call, "CertificateAlias"))) !=
	    CTL_E_OK)
		return e;
	id = ctl_param_str(call, "CertificateId");
	alias = ctl_param_str(call, "CertificateAlias");
	if (cs_find(sm_certs(call->deps->sm), id) == NULL)
		return ctl_fail(call, CTL_E_RESOURCE_NOT_FOUND, "CertificateId(%s) Not Exist.", id);
	if (alias == NULL)
		return CTL_E_OK;                /* nothing to change */
	struct sm_change c = { .op = SM_RENAME_CERT, .id = id, .name = alias };
	sm_apply(call->deps->sm, &c, &o);
	if (o.err == SM_E_NOT_FOUND)
		return ctl_fail(call, CTL_E_RESOURCE_NOT_FOUND, "CertificateId(%s) Not Exist.", id);
	if (o.err != SM_OK)
		return o.err == SM_E_STORE ? ctl_store_error(call, o.sys) : CTL_E_INTERNAL_ERROR;
	LOG_INFO("api", "certificate=%s: alias changed", id);
	return CTL_E_OK;
}

enum ctl_err ctl_act_delete_certificate(struct ctl_call *call)
{
	static const struct ctl_param schema[] = { { "CertificateId", CTL_P_STRING, 1 } };
	struct sm_outcome o;
	enum ctl_err e = ctl_params_check(call, schema, 1);
	if (e != CTL_E_OK)
		return e;
	const char *id = ctl_param_str(call, "CertificateId");
	struct sm_change c = { .op = SM_DELETE_CERT, .id = id };
	sm_apply(call->deps->sm, &c, &o);
	switch (o.err) {
	case SM_OK:
		LOG_INFO("api", "certificate=%s: deleted", id);
		return CTL_E_OK;
	case SM_E_NOT_FOUND:
		return ctl_fail(call, CTL_E_RESOURCE_NOT_FOUND, "CertificateId(%s) Not Exist.", id);
	case SM_E_CERT_IN_USE:
		return ctl_fail(call, CTL_E_CERTIFICATE_IS_USING, "Certificate %s is in use by %s.",
			id, o.detail);
	case SM_E_STORE:
		return ctl_store_error(call, o.sys);
	default:
		return CTL_E_INTERNAL_ERROR;
	}
}

/* ---- ModifyCertificate: a domain's certificates (§7.4) ---- */

/* The domain's fields with the call's certificates: CertificateId (required) and the client CA
 * parameters (absent: kept). NULL with *e on a refusal. */
static json_t *with_certificates(struct ctl_call *call, const struct st_listener *rec,
	const struct l7_domain *d, enum ctl_err *e)
{
	const char *cert = ctl_param_str(call, "CertificateId");
	const char *one = ctl_param_str(call, "ClientCertificateId");
	const json_t *poly = ctl_param_array(call, "PolyClientCertificateIds");
	json_t *f = json_deep_copy(d->fields), *cas = NULL, *v;
	size_t i;
	*e = CTL_E_OK;
	if (one != NULL && poly != NULL)
		*e = ctl_fail(call, CTL_E_INVALID_PARAMETER_VALUE, "Give ClientCertificateId or "
			"PolyClientCertificateIds, not both.");
	else if (one != NULL)
		cas = strcmp(one, "default") == 0 ? json_array() : json_pack("[s]", one);
	else if (poly != NULL && json_array_size(poly) == 1 &&
	    strcmp(json_string_value(json_array_get(poly, 0)), "default") == 0)
		cas = json_array();
	else if (poly != NULL)
		cas = json_deep_copy(poly);
	json_array_foreach(cas, i, v)
		if (*e == CTL_E_OK && strcmp(json_string_value(v), "default") == 0)
			*e = ctl_fail(call, CTL_E_INVALID_PARAMETER_VALUE, "PolyClientCertificateIds: "
				"\"default\" stands alone.");
	if (*e == CTL_E_OK && strcmp(rec->protocol, "HTTPS") != 0 && (strcmp(cert, "default") != 0
	    || json_array_size(cas) > 0))
		*e = ctl_fail(call, CTL_E_INVALID_PARAMETER_VALUE, "Listener %s is an HTTP listener: "
			"its domains take only \"default\" certificates.", rec->id);
	if (*e == CTL_E_OK && (f == NULL || json_object_set_new(f, "CertificateId",
	    strcmp(cert, "default") == 0 ? json_null() : json_string(cert)) != 0 ||
	    (cas != NULL && json_object_set(f, "PolyClientCertificateIds", cas) != 0)))
		*e = CTL_E_INTERNAL_ERROR;
	json_decref(cas);
	if (*e != CTL_E_OK) {
		json_decref(f);
		return NULL;
	}
	return f;
}

enum ctl_err ctl_act_modify_certificate(struct ctl_call *call)
{
	static const struct ctl_param schema[] = {
		{ "ListenerId", CTL_P_STRING, 1 },
		{ "Domain", CTL_P_STRING, 1 },
		{ "CertificateId", CTL_P_STRING, 1 },
		{ "ClientCertificateId", CTL_P_STRING, 0 },
		{ "PolyClientCertificateIds", CTL_P_STRING_ARRAY, 0 },
	};
	struct st_listener rec;
	const struct l7_domain *d;
	struct sm_outcome o;
	json_t *f;
	enum ctl_err e = ctl_params_check(call, schema, sizeof(schema) / sizeof(schema[0]));
	if (e != CTL_E_OK)
		return e;
	const char *id = ctl_param_str(call, "ListenerId"), *name = ctl_param_str(call, "Domain");
	if ((e = ctl_l7_listener(call, id, CTL_E_INVALID_PARAMETER_VALUE, &rec)) != CTL_E_OK ||
	    (e = ctl_l7_running(call, &rec)) != CTL_E_OK)
		return e;
	if ((d = l7_domain_find(sm_l7(call->deps->sm), id, name)) == NULL)
		return ctl_fail(call, CTL_E_RESOURCE_NOT_FOUND, "Domain(%s) Not Exist.", name);
	if ((f = with_certificates(call, &rec, d, &e)) == NULL)
		return e;
	struct sm_change c = { .op = SM_MODIFY_DOMAIN, .id = id, .name = name, .fields = f,
		.allowed = ctl_l7_allowed, .allowed_arg = call };
	sm_apply(call->deps->sm, &c, &o);
	json_decref(f);
	if ((e = ctl_l7_sm_error(call, &c, &o)) == CTL_E_OK)
		LOG_INFO("api", "listener=%s domain=%s: certificates changed", id, name);
	return e;
}
