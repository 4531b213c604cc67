/* daemon/store.c - the state store's dispatch to its back end, the kinds' schemas, and the
 * listener kind's encoding (store.h). */
#include "store.h"
#include "state/l7.h"
#include "state/certs.h"
#include "state/rs.h"
#include "tls/tls.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int st_write(struct st *s, const struct st_op *ops, size_t n, char *err, size_t errlen)
{
	return s->ops->write(s, ops, n, NULL, err, errlen);
}

int st_append(struct st *s, const struct st_op *ops, size_t n, uint64_t *seq, char *err,
	size_t errlen)
{
	if (s->ops->sync == NULL) {     /* a back end whose writes are durable at once */
		*seq = 0;
		return s->ops->write(s, ops, n, NULL, err, errlen);
	}
	return s->ops->write(s, ops, n, seq, err, errlen);
}

int st_sync(struct st *s, uint64_t seq, char *err, size_t errlen)
{
	return s->ops->sync != NULL && seq != 0 ? s->ops->sync(s, seq, err, errlen) : 0;
}

int st_each(struct st *s, const char *kind, st_each_fn fn, void *arg)
{
	return s->ops->each(s, kind, fn, arg);
}

int st_conflict(struct st *s, struct st_conflict *out)
{
	return s->ops->conflict != NULL ? s->ops->conflict(s, out) : -1;
}

void st_close(struct st *s)
{
	if (s != NULL)
		s->ops->close(s);
}

/* ---- the listener kind ---- */

/* The HTTPS members into j. 0, or -1 on ENOMEM. */
static int https_json(json_t *j, const struct st_https *h)
{
	const char *names[4];
	size_t nv = tls_version_names(h->versions, names);
	json_t *cas = json_array(), *vers = json_array();
	int ok = cas != NULL && vers != NULL;
	for (size_t i = 0; ok && i < h->ncas; i++)
		ok = json_array_append_new(cas, json_string(h->cas[i])) == 0;
	for (size_t i = 0; ok && i < nv; i++)
		ok = json_array_append_new(vers, json_string(names[i])) == 0;
	ok = ok && tls_ciphers_name((enum tls_ciphers)h->ciphers)[0] != '\0';
	ok = ok && json_object_set_new(j, "CertificateId", json_string(h->cert)) == 0 &&
		json_object_set_new(j, "ForwardProtocol", json_string(h->forward)) == 0 &&
		json_object_set_new(j, "AuthType", json_integer(h->auth_type)) == 0 &&
		json_object_set(j, "ClientCertificateIds", cas) == 0 &&
		json_object_set(j, "TLSSupportVersion", vers) == 0 &&
		json_object_set_new(j, "TLSCiphers", json_string(tls_ciphers_name(
		(enum tls_ciphers)h->ciphers))) == 0;
	json_decref(cas);
	json_decref(vers);
	return ok ? 0 : -1;
}

json_t *st_listener_json(const struct st_listener *r)
{
	json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I}",
		"ListenerId", r->id, "ListenerName", r->name, "Protocol", r->protocol,
		"ProxyId", r->proxy_id, "GroupId", r->group_id,
		"Port", (json_int_t)r->port, "CreateTime", (json_int_t)r->create_time);
	if (j != NULL && strcmp(r->protocol, "HTTPS") == 0 && https_json(j, &r->https) != 0) {
		json_decref(j);
		return NULL;
	}
	return j;
}

static int copy_field(char *dst, size_t size, const char *src)
{
	size_t len = strlen(src);
	if (len >= size)
		return -1;
	memcpy(dst, src, len + 1);
	return 0;
}

/* An HTTPS listener's members from j: 0, or -1 when one is missing or out of range. */
static int https_from(json_t *j, struct st_https *h)
{
	const char *cert, *fwd, *ciphers;
	json_int_t auth;
	json_t *cas, *vers, *v;
	enum tls_ciphers c;
	size_t i;
	if (json_unpack(j, "{s:s, s:s, s:I, s:o, s:o, s:s}", "CertificateId", &cert,
	    "ForwardProtocol", &fwd, "AuthType", &auth, "ClientCertificateIds", &cas,
	    "TLSSupportVersion", &vers, "TLSCiphers", &ciphers) != 0 ||
	    (strcmp(fwd, "HTTP") != 0 && strcmp(fwd, "HTTPS") != 0) || auth < 0 || auth > 1 ||
	    !json_is_array(cas) || json_array_size(cas) > ST_CLIENT_CAS_MAX ||
	    (json_array_size(cas) > 0) != (auth == 1) || !json_is_array(vers) ||
	    tls_ciphers_parse(ciphers, &c) != 0 || copy_field(h->cert, sizeof(h->cert), cert) != 0)
		return -1;
	snprintf(h->forward, sizeof(h->forward), "%s", fwd);
	h->auth_type = (int)auth;
	h->ciphers = (int)c;
	json_array_foreach(cas, i, v)
		if (!json_is_string(v) || copy_field(h->cas[h->ncas++], ST_ID_MAX,
		    json_string_value(v)) != 0)
			return -1;
	json_array_foreach(vers, i, v) {
		unsigned bit = json_is_string(v) ? tls_version_bit(json_string_value(v)) : 0;
		if (bit == 0)
			return -1;
		h->versions |= bit;
	}
	return h->versions != 0 ? 0 : -1;
}

int st_listener_from(json_t *j, struct st_listener *r)
{
	const char *id, *name, *proto, *proxy, *group;
	json_int_t port, ctime;
	memset(r, 0, sizeof(*r));
	if (json_unpack(j, "{s:s, s:s, s:s, s:s, s:s, s:I, s:I}", "ListenerId", &id,
	    "ListenerName", &name, "Protocol", &proto, "ProxyId", &proxy, "GroupId", &group,
	    "Port", &port, "CreateTime", &ctime) != 0)
		return -1;
	if (port < 1 || port > 65535 || copy_field(r->id, sizeof(r->id), id) != 0 ||
	    copy_field(r->name, sizeof(r->name), name) != 0 ||
	    copy_field(r->protocol, sizeof(r->protocol), proto) != 0 ||
	    copy_field(r->proxy_id, sizeof(r->proxy_id), proxy) != 0 ||
	    copy_field(r->group_id, sizeof(r->group_id), group) != 0)
		return -1;
	if (strcmp(r->protocol, "HTTPS") == 0 && https_from(j, &r->https) != 0)
		return -1;
	r->port = (unsigned)port;
	r->create_time = (int64_t)ctime;
	return 0;
}

static int check_listener(const char *id, json_t *fields, char *err, size_t errlen)
{
	struct st_listener r;
	if (st_listener_from(fields, &r) == 0 && strcmp(r.id, id) == 0)
		return 0;
	snprintf(err, errlen, "listener %.80s: fields missing or out of range", id);
	return -1;
}

/* Adding a kind is an entry here (and its encoding beside it). */
static const struct {
	const char *kind;
	int (*check)(const char *id, json_t *fields, char *err, size_t errlen);
} schemas[] = {
	{ ST_LISTENER, check_listener },
	{ RS_KIND, rs_check },
	{ L7_DOMAIN_KIND, l7_domain_check },
	{ L7_RULE_KIND, l7_rule_check },
	{ CS_KIND, cs_check },
};

int st_check(const char *kind, const char *id, json_t *fields, char *err, size_t errlen)
{
	for (size_t i = 0; i < sizeof(schemas) / sizeof(schemas[0]); i++)
		if (strcmp(schemas[i].kind, kind) == 0)
			return schemas[i].check(id, fields, err, errlen);
	return 0;
}

/* ---- listener shorthands ---- */

/* dels, then puts, as one change; seq as st_ops.write. */
static int listener_change(struct st *s, const struct st_listener *puts, size_t nputs,
	const char *const *dels, size_t ndels, uint64_t *seq, char *err, size_t errlen)
{
	size_t n = ndels + nputs;
	struct st_op *ops = calloc(n + 1, sizeof(*ops));
	int rc = -1, e = ENOMEM;
	if (ops == NULL)
		goto out;
	for (size_t i = 0; i < ndels; i++)
		ops[i] = (struct st_op){ .type = ST_DEL, .kind = ST_LISTENER, .id = dels[i] };
	for (size_t i = 0; i < nputs; i++) {
		ops[ndels + i] = (struct st_op){ .type = ST_PUT, .kind = ST_LISTENER, .id = puts[i].id,
			.fields = st_listener_json(&puts[i]) };
		if (ops[ndels + i].fields == NULL)
			goto out;
	}
	rc = seq != NULL ? st_append(s, ops, n, seq, err, errlen) : st_write(s, ops, n, err, errlen);
	e = errno;
out:
	if (rc != 0 && e == ENOMEM)
		snprintf(err, errlen, "state: out of memory");
	for (size_t i = 0; ops != NULL && i < n; i++)
		json_decref(ops[i].fields);
	free(ops);
	errno = e;
	return rc;
}

int st_put(struct st *s, const struct st_listener *rec, char *err, size_t errlen)
{
	return listener_change(s, rec, 1, NULL, 0, NULL, err, errlen);
}

int st_del(struct st *s, const char *id, char *err, size_t errlen)
{
	return listener_change(s, NULL, 0, &id, 1, NULL, err, errlen);
}

int st_apply(struct st *s, const struct st_listener *puts, size_t nputs,
	const char *const *dels, size_t ndels, char *err, size_t errlen)
{
	return listener_change(s, puts, nputs, dels, ndels, NULL, err, errlen);
}

int st_append_listeners(struct st *s, const struct st_listener *puts, size_t nputs,
	const char *const *dels, size_t ndels, uint64_t *seq, char *err, size_t errlen)
{
	return listener_change(s, puts, nputs, dels, ndels, seq, err, errlen);
}

struct load_ctx {
	int (*fn)(const struct st_listener *rec, void *arg);
	void *arg;
};

static int load_one(const char *kind, const char *id, json_t *fields, void *arg)
{
	struct load_ctx *c = arg;
	struct st_listener r;
	(void)kind;
	(void)id;
	if (st_listener_from(fields, &r) != 0)
		return -1;              /* the back end checked it on reading: cannot happen */
	return c->fn(&r, c->arg) != 0 ? -1 : 0;
}

int st_load(struct st *s, int (*fn)(const struct st_listener *rec, void *arg), void *arg,
	char *err, size_t errlen)
{
	struct load_ctx c = { .fn = fn, .arg = arg };
	(void)err;                  /* fn says why it stopped (restore logs it) */
	(void)errlen;
	return st_each(s, ST_LISTENER, load_one, &c) == 0 ? 0 : -1;
}
