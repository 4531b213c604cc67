/* daemon/state/sm_tls.c - the state machine's certificates and HTTPS listeners (sm.h:
 *   SM_CREATE_CERT ... SM_SET_TLS), the checks of certificate references, and each HTTPS
 *   listener's tls_srv built from its records.
 * Order, as for every change: decide; build the listener's TLS as it will be (the TLS library
 *   may refuse what the API checked, e.g. at a lower security level: nothing is written then);
 *   write the store; change the sets and the table; hand the listener its TLS. All under the
 *   table's lock. Private keys go from the certificate set into tls_srv_new() and nowhere else:
 *   no log line here quotes a record's fields.
 */
#include "sm_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "certs.h"
#include "cfg.h"
#include "l7.h"
#include "listener.h"
#include "log.h"
#include "tls/tls.h"

__attribute__((format(printf, 3, 4)))
static void detail(struct sm_outcome *out, enum sm_err e, const char *fmt, ...)
{
	va_list ap;
	sm_fail(out, e, NULL, e == SM_E_NOMEM ? ENOMEM : 0);
	va_start(ap, fmt);
	vsnprintf(out->detail, sizeof(out->detail), fmt, ap);
	va_end(ap);
}

const struct cs_set *sm_certs(const struct sm *s)
{
	return s->certs;
}

/* ---- references ---- */

static int cert_of_type(struct sm *s, const char *id, int type, struct sm_outcome *out)
{
	const struct cs_cert *c = cs_find(s->certs, id);
	if (c != NULL && c->type == type)
		return 0;
	detail(out, SM_E_CERT_UNKNOWN, "%s", id);
	return -1;
}

int sm_tls_check_listener(struct sm *s, const struct st_https *h, struct sm_outcome *out)
{
	if (cert_of_type(s, h->cert, TLS_CERT_SERVER, out) != 0)
		return -1;
	if (h->auth_type == 0 && h->ncas > 0) {
		detail(out, SM_E_CERT_PARAM, "client CA certificates need AuthType 1");
		return -1;
	}
	if (h->auth_type == 1 && h->ncas == 0) {
		detail(out, SM_E_CERT_PARAM, "AuthType 1 needs client CA certificates");
		return -1;
	}
	for (size_t i = 0; i < h->ncas; i++)
		if (cert_of_type(s, h->cas[i], TLS_CERT_CLIENT_CA, out) != 0)
			return -1;
	return 0;
}

int sm_tls_check_domain(struct sm *s, const struct st_listener *rec, json_t *fields,
	struct sm_outcome *out)
{
	const char *cert = json_string_value(json_object_get(fields, "CertificateId"));
	const char *name = json_string_value(json_object_get(fields, "Domain"));
	json_t *cas = json_object_get(fields, "PolyClientCertificateIds"), *v;
	int https = strcmp(rec->protocol, "HTTPS") == 0;
	size_t i;
	if (!https && (cert != NULL || json_array_size(cas) > 0)) {
		detail(out, SM_E_CERT_PARAM, "an %s listener's domains have no certificates",
			rec->protocol);
		return -1;
	}
	if (cert != NULL && cert_of_type(s, cert, TLS_CERT_SERVER, out) != 0)
		return -1;
	if (cert != NULL && !tls_cert_covers(cs_find(s->certs, cert)->content, name)) {
		detail(out, SM_E_CERT_NO_MATCH, "%s does not cover %s", cert, name);
		return -1;
	}
	if (json_array_size(cas) > 0 && rec->https.auth_type != 1) {
		detail(out, SM_E_CERT_PARAM, "client CA certificates need a listener with AuthType "
			"1");
		return -1;
	}
	if (json_array_size(cas) > ST_CLIENT_CAS_MAX) {
		detail(out, SM_E_CERT_PARAM, "at most 10 client CA certificates");
		return -1;
	}
	json_array_foreach(cas, i, v)
		if (cert_of_type(s, json_string_value(v), TLS_CERT_CLIENT_CA, out) != 0)
			return -1;
	return 0;
}

/* ---- a listener's TLS ---- */

/* What the build reads, kept alive for the call. */
struct build {
	struct tls_srv_domain_in *doms;
	struct tls_pem_pair *pairs;         /* one per domain */
	const char **pems;                  /* the client CAs of the listener, then each domain's */
	size_t ndoms, npems;
	size_t nlsn_cas;                    /* pems[0..nlsn_cas): the listener's */
};

static const char *cert_pem(struct sm *s, const char *id)
{
	const struct cs_cert *c = cs_find(s->certs, id);
	return c != NULL ? c->content : NULL;
}

/* Domain fields f into b's next entry (its strings borrowed from f and the set). */
static void add_domain(struct sm *s, struct build *b, json_t *f)
{
	struct tls_srv_domain_in *d = &b->doms[b->ndoms];
	const struct cs_cert *c = cs_find(s->certs,
		json_string_value(json_object_get(f, "CertificateId")));
	json_t *cas = json_object_get(f, "PolyClientCertificateIds"), *v;
	size_t i;
	*d = (struct tls_srv_domain_in){ .name = json_string_value(json_object_get(f, "Domain")) };
	if (c != NULL) {
		b->pairs[b->ndoms] = (struct tls_pem_pair){ c->content, c->key };
		d->cert = &b->pairs[b->ndoms];
	}
	if (json_array_size(cas) > 0) {
		d->client_cas = &b->pems[b->npems];
		json_array_foreach(cas, i, v) {
			const char *pem = cert_pem(s, json_string_value(v));
			if (pem != NULL && d->nclient_cas < ST_CLIENT_CAS_MAX) {
				b->pems[b->npems++] = pem;
				d->nclient_cas++;
			}
		}
	}
	b->ndoms++;
}

/* The op among ops about domain id (NULL: none). */
static const struct st_op *op_of(const struct st_op *ops, size_t n, const char *id)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(ops[i].kind, L7_DOMAIN_KIND) == 0 && strcmp(ops[i].id, id) == 0)
			return &ops[i];
	return NULL;
}

/* The listener's domains as they will be, into b. 0, or -1 on ENOMEM. */
static int collect(struct sm *s, const struct st_listener *rec, const struct st_op *ops,
	size_t n, struct build *b)
{
	size_t nd = l7_domain_count(s->l7, rec->id), max = nd + n;
	b->doms = calloc(max + 1, sizeof(*b->doms));
	b->pairs = calloc(max + 1, sizeof(*b->pairs));
	b->pems = calloc((max + 1) * ST_CLIENT_CAS_MAX + rec->https.ncas + 1, sizeof(*b->pems));
	if (b->doms == NULL || b->pairs == NULL || b->pems == NULL)
		return -1;
	for (size_t i = 0; i < rec->https.ncas; i++)
		if ((b->pems[b->npems] = cert_pem(s, rec->https.cas[i])) != NULL)
			b->npems++;
	b->nlsn_cas = b->npems;
	for (size_t i = 0; i < nd; i++) {
		const struct l7_domain *d = l7_domain_at(s->l7, rec->id, i);
		const struct st_op *o = op_of(ops, n, d->id);
		if (o == NULL)
			add_domain(s, b, d->fields);
		else if (o->type == ST_PUT)
			add_domain(s, b, o->fields);
	}
	for (size_t i = 0; i < n; i++)
		if (ops[i].type == ST_PUT && strcmp(ops[i].kind, L7_DOMAIN_KIND) == 0 &&
		    l7_domain_by_id(s->l7, ops[i].id) == NULL)
			add_domain(s, b, ops[i].fields);
	return 0;
}

int sm_tls_build(struct sm *s, const struct st_listener *rec, const struct st_op *ops, size_t n,
	struct tls_srv **srv, struct sm_outcome *out)
{
	const struct cs_cert *c = cs_find(s->certs, rec->https.cert);
	struct build b = { 0 };
	struct tls_srv_in in;
	char err[200] = "";
	int rc = -1;
	*srv = NULL;
	if (strcmp(rec->protocol, "HTTPS") != 0)
		return 0;
	if (c == NULL) {
		detail(out, SM_E_TLS, "its certificate %s is gone", rec->https.cert);
		return -1;
	}
	if (collect(s, rec, ops, n, &b) != 0) {
		detail(out, SM_E_NOMEM, "out of memory");
		goto out;
	}
	in = (struct tls_srv_in){ .listener_id = rec->id, .cert = { c->content, c->key },
		.auth_type = rec->https.auth_type, .client_cas = b.pems,
		.nclient_cas = b.nlsn_cas, .versions = rec->https.versions,
		.ciphers = (enum tls_ciphers)rec->https.ciphers, .domains = b.doms,
		.ndomains = b.ndoms, .handshake_timeout_ms = s->cfg->tls.handshake_timeout_ms,
		.forward_https = strcmp(rec->https.forward, "HTTPS") == 0,
		.tickets = lsn_table_tickets(s->t) };
	if ((*srv = tls_srv_new(&in, err, sizeof(err))) == NULL) {
		detail(out, SM_E_TLS, "%s", err[0] ? err : "refused");
		goto out;
	}
	rc = 0;
out:
	free(b.doms);
	free(b.pairs);
	free(b.pems);
	return rc;
}

/* ---- certificates ---- */

static int new_cert_id(struct sm *s, char *out)
{
	for (int tries = 0; tries < SM_NEW_ID_TRIES; tries++)
		if (s->new_id("cert", out, ST_ID_MAX) == 0 && cs_find(s->certs, out) == NULL)
			return 0;
	return -1;
}

/* f as the record of id, into the store and then the set. */
static void put_cert(struct sm *s, const char *id, json_t *f, struct sm_outcome *out)
{
	struct st_op op = { ST_PUT, CS_KIND, id, f };
	if (cs_reserve(s->certs) != 0) {
		sm_fail(out, SM_E_NOMEM, NULL, ENOMEM);
	} else if (sm_write_ops(s, &op, 1, out) != 0) {
		sm_fail(out, SM_E_STORE, NULL, errno);
		LOG_ERR("state", "certificate=%s: %s; not written", id, out->detail);
	} else {
		cs_put(s->certs, id, f);
	}
}

static void create_cert(struct sm *s, const struct sm_change *c, struct sm_outcome *out)
{
	char id[ST_ID_MAX];
	json_t *f = json_is_object(c->fields) ? json_deep_copy(c->fields) : NULL;
	if (f == NULL || new_cert_id(s, id) != 0 ||
	    json_object_set_new(f, "CertificateId", json_string(id)) != 0 ||
	    json_object_set_new(f, "CreateTime", json_integer((json_int_t)time(NULL))) != 0)
		sm_fail(out, SM_E_NOMEM, NULL, ENOMEM);
	else
		put_cert(s, id, f, out);
	if (out->err == SM_OK)
		snprintf(out->id, sizeof(out->id), "%s", id);
	json_decref(f);
}

static void rename_cert(struct sm *s, const struct sm_change *c, struct sm_outcome *out)
{
	const struct cs_cert *cert = cs_find(s->certs, c->id);
	json_t *f;
	if (cert == NULL) {
		detail(out, SM_E_NOT_FOUND, "%s", c->id);
		return;
	}
	f = json_deep_copy(cert->fields);
	if (f == NULL || json_object_set_new(f, "CertificateAlias", json_string(c->name)) != 0)
		sm_fail(out, SM_E_NOMEM, NULL, ENOMEM);
	else
		put_cert(s, c->id, f, out);
	json_decref(f);
}

static int domain_uses(json_t *f, const char *id)
{
	const char *cert = json_string_value(json_object_get(f, "CertificateId"));
	json_t *v;
	size_t i;
	if (cert != NULL && strcmp(cert, id) == 0)
		return 1;
	json_array_foreach(json_object_get(f, "PolyClientCertificateIds"), i, v)
		if (json_is_string(v) && strcmp(json_string_value(v), id) == 0)
			return 1;
	return 0;
}

/* 1 when a listener or a domain uses certificate id (out names it), else 0. */
static int in_use(struct sm *s, const char *id, struct sm_outcome *out)
{
	size_t n = lsn_table_count(s->t);
	for (size_t i = 0; i < n; i++) {
		const struct lsn *l = lsn_table_get(s->t, i);
		const struct st_https *h = &l->rec.https;
		size_t nd = l7_domain_count(s->l7, l->rec.id);
		int used = strcmp(h->cert, id) == 0;
		for (size_t k = 0; k < h->ncas; k++)
			used |= strcmp(h->cas[k], id) == 0;
		if (used) {
			detail(out, SM_E_CERT_IN_USE, "listener %s", l->rec.id);
			return 1;
		}
		for (size_t k = 0; k < nd; k++) {
			const struct l7_domain *d = l7_domain_at(s->l7, l->rec.id, k);
			if (domain_uses(d->fields, id)) {
				detail(out, SM_E_CERT_IN_USE, "domain %s of listener %s", d->name,
					l->rec.id);
				return 1;
			}
		}
	}
	return 0;
}

static void delete_cert(struct sm *s, const struct sm_change *c, struct sm_outcome *out)
{
	struct st_op op = { ST_DEL, CS_KIND, c->id, NULL };
	if (cs_find(s->certs, c->id) == NULL) {
		detail(out, SM_E_NOT_FOUND, "%s", c->id);
	} else if (!in_use(s, c->id, out)) {
		if (sm_write_ops(s, &op, 1, out) != 0) {
			sm_fail(out, SM_E_STORE, NULL, errno);
			LOG_ERR("state", "certificate=%s: %s; not deleted", c->id, out->detail);
		} else {
			cs_remove(s->certs, c->id);
		}
	}
}

/* ---- HTTPS listeners ---- */

static const struct lsn *https_target(struct sm *s, const struct sm_change *c,
	struct sm_outcome *out)
{
	const struct lsn *l = lsn_table_find(s->t, c->id);
	if (l == NULL || (c->scope_proxy != NULL && strcmp(l->rec.proxy_id, c->scope_proxy) != 0))
		detail(out, SM_E_NOT_FOUND, "%s", c->id);
	else if (strcmp(l->rec.protocol, "HTTPS") != 0)
		detail(out, SM_E_NOT_HTTPS, "%s", c->id);
	else if (c->allowed != NULL && !c->allowed(&l->rec, c->allowed_arg))
		sm_fail(out, SM_E_FORBIDDEN, NULL, 0);
	else if (l->status == LSN_DESTROYING)
		sm_fail(out, SM_E_DESTROYING, NULL, 0);
	else if (c->op == SM_MODIFY_HTTPS_LISTENER && l->rec.group_id[0] != '\0')
		detail(out, SM_E_GROUP_LISTENER, "%s", l->rec.group_id);
	else
		return l;
	return NULL;
}

/* c's members into rec (the checks of what they name are sm_tls_check_listener()'s). */
static int modified(const struct sm_change *c, struct st_listener *rec, struct sm_outcome *out)
{
	json_t *cas = json_object_get(c->fields, "ClientCertificateIds"), *v;
	const char *fwd = json_string_value(json_object_get(c->fields, "ForwardProtocol"));
	const char *cert = json_string_value(json_object_get(c->fields, "CertificateId"));
	size_t i;
	if (c->op == SM_SET_TLS) {
		rec->https.versions = c->tls_versions;
		rec->https.ciphers = c->tls_ciphers;
		return 0;
	}
	if (c->name != NULL)
		snprintf(rec->name, sizeof(rec->name), "%s", c->name);
	if (fwd != NULL)
		snprintf(rec->https.forward, sizeof(rec->https.forward), "%s", fwd);
	if (cert != NULL && strlen(cert) >= ST_ID_MAX)
		detail(out, SM_E_CERT_UNKNOWN, "%.60s", cert);
	else if (cert != NULL)
		snprintf(rec->https.cert, sizeof(rec->https.cert), "%s", cert);
	if (out->err == SM_OK && json_array_size(cas) > ST_CLIENT_CAS_MAX)
		detail(out, SM_E_CERT_PARAM, "at most 10 client CA certificates");
	if (out->err != SM_OK || cas == NULL)
		return out->err == SM_OK ? 0 : -1;
	rec->https.ncas = 0;
	json_array_foreach(cas, i, v) {
		const char *id = json_string_value(v);
		if (id == NULL || strlen(id) >= ST_ID_MAX) {
			detail(out, SM_E_CERT_UNKNOWN, "%.60s", id != NULL ? id : "");
			return -1;
		}
		snprintf(rec->https.cas[rec->https.ncas++], ST_ID_MAX, "%s", id);
	}
	return 0;
}

/* MODIFY_HTTPS_LISTENER and SET_TLS, under the lock. */
static void modify_https(struct sm *s, const struct sm_change *c, struct sm_outcome *out)
{
	const struct lsn *l = https_target(s, c, out);
	struct st_listener rec;
	struct tls_srv *srv = NULL;
	struct st_op op = { ST_PUT, ST_LISTENER, c->id, NULL };
	if (l == NULL)
		return;
	rec = l->rec;
	if (modified(c, &rec, out) != 0 || sm_tls_check_listener(s, &rec.https, out) != 0 ||
	    sm_tls_build(s, &rec, NULL, 0, &srv, out) != 0)
		return;
	if ((op.fields = st_listener_json(&rec)) == NULL) {
		sm_fail(out, SM_E_NOMEM, NULL, ENOMEM);
	} else if (sm_write_ops(s, &op, 1, out) != 0) {
		sm_fail(out, SM_E_STORE, NULL, errno);
		LOG_ERR("state", "listener=%s: %s; TLS change not done", c->id, out->detail);
	} else {
		(void)lsn_table_set_name(s->t, c->id, rec.name);
		(void)lsn_table_set_https(s->t, c->id, &rec.https);
		(void)lsn_table_set_tls(s->t, c->id, srv);
		srv = NULL;
	}
	json_decref(op.fields);
	tls_srv_unref(srv);
}

void sm_tls_apply(struct sm *s, const struct sm_change *c, struct sm_outcome *out)
{
	lsn_table_lock(s->t);
	switch (c->op) {
	case SM_CREATE_CERT: create_cert(s, c, out); break;
	case SM_RENAME_CERT: rename_cert(s, c, out); break;
	case SM_DELETE_CERT: delete_cert(s, c, out); break;
	case SM_MODIFY_HTTPS_LISTENER:
	case SM_SET_TLS: modify_https(s, c, out); break;
	default: break;
	}
	lsn_table_unlock(s->t);
}

/* ---- restore ---- */

static int restore_cert(const char *kind, const char *id, json_t *fields, void *arg)
{
	struct sm *s = arg;
	(void)kind;
	if (cs_reserve(s->certs) != 0)
		return -1;
	cs_put(s->certs, id, fields);
	return 0;
}

int sm_tls_restore_certs(struct sm *s, char *err, size_t errlen)
{
	if (st_each(s->store, CS_KIND, restore_cert, s) == 0)
		return 0;
	snprintf(err, errlen, "the certificates could not be restored: out of memory");
	return -1;
}

int sm_tls_restore_listeners(struct sm *s)
{
	size_t n = lsn_table_count(s->t);
	for (size_t i = 0; i < n; i++) {
		const struct lsn *l = lsn_table_get(s->t, i);
		struct sm_outcome o = { .err = SM_OK };
		struct tls_srv *srv;
		if (strcmp(l->rec.protocol, "HTTPS") != 0)
			continue;
		if (sm_tls_build(s, &l->rec, NULL, 0, &srv, &o) != 0) {
			LOG_ERR("state", "listener=%s: its TLS cannot be built (%s): it refuses "
				"connections", l->rec.id, o.detail);
			if (o.err == SM_E_NOMEM)
				return -1;
		}
		(void)lsn_table_set_tls(s->t, l->rec.id, srv);
	}
	return 0;
}
